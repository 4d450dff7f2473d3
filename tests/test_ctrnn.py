"""CTRNN: the ODE step (Euler, RK4) against the equation and its exact solution, per-step dt, bad
input, time constants, learning."""

import math
import time

import pytest
import torch

import rnnzoo
from rnnzoo.cells.ctrnn import CTRNNCell

F64 = torch.float64


def randomise_(cell):
    with torch.no_grad():
        cell.weight_ih.normal_(0, 0.5)
        cell.weight_hh.normal_(0, 0.5)
        cell.bias.normal_(0, 0.5)
        cell.log_tau.copy_(torch.rand_like(cell.log_tau) * 2 - 1)  # tau in (1/e, e), per unit


def rhs(h, x, W, V, b, tau, act=torch.tanh):
    """dh/dt of Beer's CTRNN, tau dh/dt = -h + W act(h) + V x + b, written out."""
    return (-h + act(h) @ W.T + x @ V.T + b) / tau


def euler(h, x, dt, W, V, b, tau, act=torch.tanh):
    return h + dt * rhs(h, x, W, V, b, tau, act)


def rk4(h, x, dt, W, V, b, tau, act=torch.tanh):
    k1 = rhs(h, x, W, V, b, tau, act)
    k2 = rhs(h + dt / 2 * k1, x, W, V, b, tau, act)
    k3 = rhs(h + dt / 2 * k2, x, W, V, b, tau, act)
    k4 = rhs(h + dt * k3, x, W, V, b, tau, act)
    return h + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)


def weights(cell):
    return cell.weight_hh, cell.weight_ih, cell.bias, cell.log_tau.exp()


@pytest.mark.parametrize("method, integrate", [("euler", euler), ("rk4", rk4)])
@pytest.mark.parametrize("activation, act", [("tanh", torch.tanh), ("sigmoid", torch.sigmoid)])
def test_one_step_matches_ode_step_written_out_float64(method, integrate, activation, act):
    cell = CTRNNCell(3, 4, method=method, activation=activation).double()
    randomise_(cell)
    x = torch.randn(1, 5, 3, dtype=F64)
    h = torch.randn(5, 4, dtype=F64)
    dt = torch.rand(1, 5, dtype=F64) + 0.05  # a different step size per sample
    y, (h_new,) = cell.step(tuple(v[0] for v in cell.project(x, dt=dt)), (h,))
    want = integrate(h, x[0], dt[0, :, None], *weights(cell), act=act)
    torch.testing.assert_close(h_new, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y, act(want), rtol=1e-12, atol=1e-12)  # output: the firing rate


def _relax(method, dt, T=1.0, tau=0.7):
    """W = 0: h relaxes to u = V x + b; run to time T from h0 with steps of dt; return max error."""
    torch.manual_seed(0)  # the same weights, x and h0 for every dt
    layer = rnnzoo.CTRNN(3, 4, method=method, dt=dt, tau=tau).double()
    cell = layer.cells[0]
    with torch.no_grad():
        cell.weight_hh.zero_()
        cell.bias.normal_()
    steps = round(T / dt)
    x = torch.randn(1, 2, 3, dtype=F64).expand(steps, 2, 3)  # x constant in time
    h0 = torch.randn(1, 2, 4, dtype=F64)
    _, h = layer(x, h0)
    u = x[0] @ cell.weight_ih.T + cell.bias
    tau = cell.log_tau.exp()  # float64 but rounded through float32 at construction: use it as is
    exact = u + (h0[0] - u) * torch.exp(-T / tau)
    return (h[0] - exact).abs().max().item()


def test_euler_and_rk4_approach_exact_exponential_relaxation_rk4_far_closer():
    e_euler, e_rk4 = _relax("euler", 0.01), _relax("rk4", 0.01)
    assert e_euler < 1e-2
    assert e_rk4 < 1e-9
    assert e_rk4 < 1e-5 * e_euler


def test_halving_dt_halves_euler_error_and_divides_rk4_error_by_sixteen():
    euler_ratio = _relax("euler", 0.1) / _relax("euler", 0.05)
    rk4_ratio = _relax("rk4", 0.1) / _relax("rk4", 0.05)
    assert 1.8 < euler_ratio < 2.2  # first order
    assert 12 < rk4_ratio < 22  # fourth order (16 in the limit dt -> 0)


@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_per_step_dt_tensor_equals_running_the_steps_one_by_one_with_those_dt(method):
    layer = rnnzoo.CTRNN(3, 4, num_layers=2, method=method, batch_first=True).double()
    for cell in layer.cells:
        randomise_(cell)
    N, L = 3, 5
    x = torch.randn(N, L, 3, dtype=F64)
    dt = torch.rand(N, L, dtype=F64) * 2 + 0.05
    y, h = layer(x, dt=dt)
    for n in range(N):
        state = None
        for t in range(L):
            for cell in layer.cells:
                cell.dt = float(dt[n, t])  # the constant-dt option, one step at a time
            y_t, state = layer(x[n:n + 1, t:t + 1], state)
            torch.testing.assert_close(y_t[0, 0], y[n, t], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(state[:, 0], h[:, n], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("engine", ["loop", "auto"])
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_bidirectional_backward_direction_is_a_forward_ctrnn_on_the_reversed_steps_and_dt(method, engine):
    """Each direction of a padded bidirectional layer equals a one-direction CTRNN with its weights run on
    that sequence alone: forward on (x, dt), backward on (x, dt) reversed within the sequence's length,
    its output reversed back. A backward direction that read dt unreversed (or reversed over the padded
    length) would pair each observation with another one's time step."""
    layer = rnnzoo.CTRNN(3, 4, bidirectional=True, method=method, batch_first=True, engine=engine).double()
    for cell in layer.cells:
        randomise_(cell)
    one_way = [rnnzoo.CTRNN(3, 4, method=method, batch_first=True, engine="loop").double() for _ in range(2)]
    for d in range(2):
        one_way[d].cells[0].load_state_dict(layer.cells[d].state_dict())
    lengths = [5, 2, 4]
    x = torch.randn(3, 5, 3, dtype=F64)
    dt = torch.rand(3, 5, dtype=F64) * 2 + 0.05  # a different time step at every observation
    for n, length in enumerate(lengths):
        x[n, length:], dt[n, length:] = 9.0, 7.0  # padding: any value, never read
    with torch.no_grad():
        y, h = layer(x, dt=dt, lengths=torch.tensor(lengths))
        for n, length in enumerate(lengths):
            forward, h_fwd = one_way[0](x[n:n + 1, :length], dt=dt[n:n + 1, :length])
            backward, h_bwd = one_way[1](x[n:n + 1, :length].flip(1), dt=dt[n:n + 1, :length].flip(1))
            torch.testing.assert_close(y[n, :length, :4], forward[0], rtol=0, atol=1e-12)
            torch.testing.assert_close(y[n, :length, 4:], backward[0].flip(0), rtol=0, atol=1e-12)
            torch.testing.assert_close(h[:, n], torch.cat([h_fwd[:, 0], h_bwd[:, 0]]), rtol=0, atol=1e-12)
            assert not y[n, length:].any()


def test_dt_layouts_agree_batch_first_time_major_and_trailing_unit_dim():
    layer = rnnzoo.CTRNN(3, 4).double()
    x, dt = torch.randn(5, 2, 3, dtype=F64), torch.rand(5, 2, dtype=F64) + 0.1
    y = layer(x, dt=dt)[0]
    torch.testing.assert_close(layer(x, dt=dt[..., None])[0], y)
    layer.batch_first = True
    torch.testing.assert_close(layer(x.transpose(0, 1), dt=dt.T)[0], y.transpose(0, 1))
    layer.batch_first = False
    torch.testing.assert_close(layer(x, dt=torch.ones(5, 2, dtype=F64))[0], layer(x)[0])


# --- dt = 0 and padded dt, on the three paths that run a CTRNN -------------------------------------

PATHS = ["loop", "engine", "native"]


def on_path(path, method, monkeypatch, request):
    """A float64 CTRNN (random weights, tau per unit) whose training calls with dt take `path`: the per-step
    loop, the engine in Python (RNNZOO_NATIVE=0) or the engine on the compiled kernels."""
    if path == "native":
        request.getfixturevalue("native_kernels")
        monkeypatch.delenv("RNNZOO_NATIVE", raising=False)
    else:
        monkeypatch.setenv("RNNZOO_NATIVE", "0")
    torch.manual_seed(0)
    layer = rnnzoo.CTRNN(3, 4, method=method, batch_first=True, engine="loop" if path == "loop" else "auto").double()
    randomise_(layer.cells[0])
    assert layer.path(F64, backward=True, step_inputs=("dt",), padded=True) == path
    return layer


def run_with_grads(layer, x, dt, lengths=None):
    """(y, h, dL/dx, dL/ddt, dL/dparameters) for L = sum(sin(y)) + sum(h)."""
    x, dt = x.clone().requires_grad_(), dt.clone().requires_grad_()
    layer.zero_grad()
    y, h = layer(x, dt=dt, lengths=lengths)
    (y.sin().sum() + h.sum()).backward()
    return y.detach(), h.detach(), x.grad, dt.grad, [p.grad.clone() for p in layer.parameters()]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_dt_zero_is_a_gap_of_no_time_the_state_stays_exactly_as_it_was(method, path, monkeypatch, request):
    """Two observations at the same time: dt = 0 changes nothing, bit for bit, in the middle of a sequence
    (the output repeats) and at its end (the final state is the one a step before)."""
    layer = on_path(path, method, monkeypatch, request)
    x = torch.randn(3, 6, 3, dtype=F64)
    dt = torch.rand(3, 6, dtype=F64) + 0.1
    dt[:, 3] = 0.0
    dt[1, 5] = 0.0
    with torch.no_grad():
        y, h = layer(x, dt=dt)
        _, h_before = layer(x[:, :5], dt=dt[:, :5])
    assert torch.equal(y[:, 3], y[:, 2])
    assert torch.equal(h[0, 1], h_before[0, 1])
    assert not torch.equal(h[0, 0], h_before[0, 0])  # a step of time did move the others


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_padded_dt_is_ignored_any_finite_value_gives_the_same_outputs_and_gradients(method, path, monkeypatch,
                                                                                     request):
    """The dt of a step beyond `lengths` may be 0, negative or huge: outputs, final state and every
    gradient are those of padding with 1, and dt's own gradient there is 0."""
    layer = on_path(path, method, monkeypatch, request)
    lengths = torch.tensor([6, 4, 2])
    x = torch.randn(3, 6, 3, dtype=F64)
    dt = torch.rand(3, 6, dtype=F64) + 0.1
    pad = torch.arange(6)[None, :] >= lengths[:, None]
    ones = run_with_grads(layer, x, dt.masked_fill(pad, 1.0), lengths)
    odd = dt.clone()
    odd[1, 4:] = torch.tensor([0.0, -5.0])
    odd[2, 2:] = torch.tensor([1e30, -1e30, 0.0, -0.5])
    got = run_with_grads(layer, x, odd, lengths)
    for a, b in zip(ones[:4], got[:4]):
        assert torch.equal(a, b)
    for a, b in zip(ones[4], got[4]):
        assert torch.equal(a, b)
    assert not got[3][pad].any()


@pytest.mark.parametrize("path", ["engine", "native"])
@pytest.mark.parametrize("method", ["euler", "rk4"])
def test_gradients_at_dt_zero_steps_are_the_loops_on_the_engine_and_compiled_kernels(method, path, monkeypatch,
                                                                                      request):
    """At dt = 0, h_t - h_{t-1} = 0 no longer carries the slope that dt's gradient needs (the engine divided
    it by dt: 0 / 0). Every gradient, dt's included, must be the per-step loop's (autograd of the step)."""
    lengths = torch.tensor([6, 6, 4])
    x = torch.randn(3, 6, 3, dtype=F64)
    dt = torch.rand(3, 6, dtype=F64) + 0.1
    dt[0, 2] = dt[1, 0] = dt[2, 3] = 0.0  # the first step, a middle one and the last real one
    want = run_with_grads(on_path("loop", method, monkeypatch, request), x, dt, lengths)
    got = run_with_grads(on_path(path, method, monkeypatch, request), x, dt, lengths)
    for a, b in zip([*want[:4], *want[4]], [*got[:4], *got[4]]):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    assert want[3][0, 2] != 0  # dt's gradient at a zero step is real, not a 0 standing in for it


def test_tau_is_per_unit_positive_learnable_and_frozen_without_learn_tau():
    layer = rnnzoo.CTRNN(3, 4, tau=2.5)
    cell = layer.cells[0]
    torch.testing.assert_close(cell.log_tau.exp(), torch.full((4,), 2.5))
    layer(torch.randn(6, 2, 3))[0].sum().backward()
    assert cell.log_tau.grad is not None and cell.log_tau.grad.abs().sum() > 0
    frozen = rnnzoo.CTRNN(3, 4, tau=2.5, learn_tau=False).cells[0]
    assert "log_tau" not in dict(frozen.named_parameters())
    assert "log_tau" in dict(frozen.named_buffers())


@pytest.mark.parametrize("dt, error", [(0.0, ValueError), (-0.5, ValueError), (float("nan"), ValueError),
                                       (float("inf"), ValueError), ("1", TypeError), (True, TypeError),
                                       (None, TypeError), (torch.tensor(1.0), TypeError)])
def test_bad_constructor_dt_raises_naming_dt(dt, error):
    with pytest.raises(error, match="dt"):
        rnnzoo.CTRNN(3, 4, dt=dt)


@pytest.mark.parametrize("value", [0.0, -1.0, float("nan")])
def test_bad_constructor_tau_raises_naming_tau(value):
    with pytest.raises(ValueError, match="tau"):
        rnnzoo.CTRNN(3, 4, tau=value)


@pytest.mark.parametrize("bad", ["negative", "nan", "nan_padded", "inf", "shape", "int", "list"])
def test_bad_per_call_dt_raises_naming_dt(bad):
    layer = rnnzoo.CTRNN(3, 4, batch_first=True)
    x, dt = torch.randn(2, 5, 3), torch.rand(2, 5) + 0.1
    error = ValueError
    if bad == "negative":
        dt[0, 2] = -0.1
    elif bad == "nan_padded":
        dt[1, 4] = float("nan")  # a padded step's dt is ignored, but it must still be a number
    elif bad in ("nan", "inf"):
        dt[0, 0] = float(bad)
    elif bad == "shape":
        dt = dt.T  # (L, N) given where batch_first wants (N, L)
    elif bad == "int":
        dt, error = torch.ones(2, 5, dtype=torch.long), TypeError
    else:
        dt, error = [[1.0] * 5] * 2, TypeError
    with pytest.raises(error, match="dt"):
        layer(x, dt=dt, lengths=torch.tensor([5, 4]))


def test_project_rejects_negative_nonfinite_or_misshapen_dt_when_called_directly():
    cell = CTRNNCell(3, 4)
    x = torch.randn(5, 2, 3)
    cell.project(x, dt=torch.zeros(5, 2))  # dt = 0: a gap of no time, valid
    for bad in (-1e-3, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="dt"):
            cell.project(x, dt=torch.full((5, 2), bad))
    with pytest.raises(ValueError, match="dt"):
        cell.project(x, dt=torch.ones(5, 2, 4))


@pytest.mark.parametrize("option, value, error", [
    ("method", "rk45", ValueError), ("method", "Euler", ValueError), ("method", None, ValueError),
    ("activation", "swish", ValueError), ("activation", None, TypeError)])
def test_unknown_method_or_activation_raises_naming_it(option, value, error):
    with pytest.raises(error, match=option):
        rnnzoo.CTRNN(3, 4, **{option: value})


def test_learns_irregularly_sampled_smooth_series_loss_at_least_halves_within_seconds(one_thread):
    """Observe sin(t + phase) at irregular times, predict cos(t + phase): needs dt and memory."""
    torch.manual_seed(0)
    N, L, H = 64, 20, 16
    dt = torch.rand(N, L) * 0.4 + 0.1
    t = dt.cumsum(1) + torch.rand(N, 1) * 2 * math.pi
    x, target = torch.sin(t)[..., None], torch.cos(t)[..., None]
    rnn = rnnzoo.CTRNN(1, H, batch_first=True, tau=0.5)
    readout = torch.nn.Linear(H, 1)
    opt = torch.optim.Adam([*rnn.parameters(), *readout.parameters()], lr=0.02)

    def loss_fn():
        return torch.nn.functional.mse_loss(readout(rnn(x, dt=dt)[0])[:, 3:], target[:, 3:])

    first, start = loss_fn().item(), time.perf_counter()
    for _ in range(80):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
    final = loss_fn().item()
    assert final < 0.5 * first, (first, final)
    assert time.perf_counter() - start < 20  # ~1 s on one idle core; generous for a shared machine
