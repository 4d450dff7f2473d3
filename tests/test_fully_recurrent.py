"""Williams & Zipser's fully recurrent network: its equation, its options, and that it learns."""

import math
import time

import pytest
import torch

import rnnzoo
from rnnzoo.cells.fully_recurrent import FullyRecurrentCell


def williams_zipser_step(w_hh, w_ih, b, y_prev, x, m, p, f):
    """s_k(t) = Σ_l w_kl y_l(t-1) + Σ_i w_ki x_i(t) + b_k (input terms for k < m), y = f(s)."""
    N, n = y_prev.shape
    y = torch.empty_like(y_prev)
    for b_ in range(N):
        for k in range(n):
            s = b[k].clone()
            for l in range(n):
                s = s + w_hh[k, l] * y_prev[b_, l]
            if k < m:
                for i in range(x.shape[1]):
                    s = s + w_ih[k, i] * x[b_, i]
            y[b_, k] = f(s)
    return y[:, n - p:], y


def sigmoid(s):
    return 1 / (1 + math.exp(-s))


@pytest.mark.parametrize("activation,f", [("tanh", math.tanh), ("sigmoid", sigmoid)])
@pytest.mark.parametrize("m,p", [(None, None), (2, 3), (1, 1)])
def test_one_step_matches_the_published_equation_float64(activation, f, m, p):
    cell = FullyRecurrentCell(3, 5, input_units=m, output_units=p, activation=activation).double()
    with torch.no_grad():
        cell.bias.normal_()
    x, y_prev = torch.randn(2, 3, dtype=torch.float64), torch.randn(2, 5, dtype=torch.float64)
    m, p = m or 5, p or 5

    def f_t(s):
        return torch.tensor(f(float(s)), dtype=torch.float64)

    w_hh, w_ih, b = (t.detach() for t in (cell.weight_hh, cell.weight_ih, cell.bias))
    want_out, want_y = williams_zipser_step(w_hh, w_ih, b, y_prev, x, m, p, f_t)
    out, (y,) = cell.step(cell.project(x[None])[0], (y_prev,))
    torch.testing.assert_close(y, want_y, atol=1e-12, rtol=0)
    torch.testing.assert_close(out, want_out, atol=1e-12, rtol=0)
    assert cell.weight_ih.shape == (m, 3) and cell.output_size == p


def test_units_without_input_do_not_see_the_current_input():
    cell = FullyRecurrentCell(3, 6, input_units=2).double()
    y_prev = torch.randn(4, 6, dtype=torch.float64)
    x1, x2 = torch.randn(2, 1, 4, 3, dtype=torch.float64)
    _, (a,) = cell.step(cell.project(x1)[0], (y_prev,))
    _, (b,) = cell.step(cell.project(x2)[0], (y_prev,))
    torch.testing.assert_close(a[:, 2:], b[:, 2:], atol=0, rtol=0)
    assert not torch.allclose(a[:, :2], b[:, :2])


def test_all_units_in_and_out_with_tanh_is_an_elman_network():
    fr, elman = rnnzoo.FullyRecurrent(3, 4), rnnzoo.Elman(3, 4)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias"):
            getattr(fr.cells[0], name).normal_()
            getattr(elman.cells[0], name).copy_(getattr(fr.cells[0], name))
    x = torch.randn(6, 2, 3)
    y_fr, h_fr = fr(x)
    y_el, h_el = elman(x)
    torch.testing.assert_close(y_fr, y_el)
    torch.testing.assert_close(h_fr, h_el)


def test_output_is_the_last_units_and_the_state_is_all_of_them():
    layer = rnnzoo.FullyRecurrent(3, 7, num_layers=2, bidirectional=True, input_units=2, output_units=3)
    y, state = layer(torch.randn(5, 2, 3))
    assert y.shape == (5, 2, 6) and state.shape == (4, 2, 7)
    assert layer.cells[2].input_size == 6  # the next layer reads both directions' output units
    torch.testing.assert_close(y[-1, :, :3], state[2, :, 4:])  # forward output = its last 3 units
    assert "input_units=2, output_units=3, activation='tanh'" in repr(layer.cells[0])


@pytest.mark.parametrize("argument", ["input_units", "output_units"])
def test_units_out_of_range_raise_errors_naming_the_argument(argument):
    for bad in (0, -1, 5):
        with pytest.raises(ValueError, match=argument):
            rnnzoo.FullyRecurrent(3, 4, **{argument: bad})
    for bad in (2.0, True, "2"):
        with pytest.raises(TypeError, match=argument):
            rnnzoo.FullyRecurrent(3, 4, **{argument: bad})
    rnnzoo.FullyRecurrent(3, 4, **{argument: 4})  # all units is allowed


def test_unknown_activation_is_a_value_error_naming_it():
    for bad in ("relu", "softmax"):
        with pytest.raises(ValueError, match="activation"):
            rnnzoo.FullyRecurrent(3, 4, activation=bad)


def test_learns_a_two_step_delayed_copy_halving_the_loss_in_seconds():
    """x_t ~ N(0, 1) enters 2 of 8 units; a readout of 2 other units must give x_{t-2}."""
    torch.manual_seed(0)
    layer = rnnzoo.FullyRecurrent(1, 8, input_units=2, output_units=2, batch_first=True)
    readout = torch.nn.Linear(2, 1)
    params = list(layer.parameters()) + list(readout.parameters())
    opt = torch.optim.Adam(params, lr=0.03)
    x = torch.randn(32, 12, 1)
    target = torch.zeros_like(x)
    target[:, 2:] = x[:, :-2]

    def loss_fn():
        return torch.nn.functional.mse_loss(readout(layer(x)[0]), target)

    first = loss_fn().item()
    start, loss = time.perf_counter(), first
    for _ in range(400):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        if loss.item() < first / 2 or time.perf_counter() - start > 20:
            break
    assert loss.item() < first / 2, (first, loss.item())
