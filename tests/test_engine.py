"""The sequence engines (rnnzoo.engine): gradcheck of every hand-written backward with every option,
parity with the per-step loop, masks and recurrent dropout, engine selection, fallback and errors."""

import pytest
import torch
from conftest import (
    as_tuple,
    engine_cases,
    gradcheck_engine_function,
    gradcheck_padded_layer,
    randomise,
    rec_dropout,
)
from torch.func import functional_call

import rnnzoo
from rnnzoo import engine
from rnnzoo.engine import common, linalg, lstm_backward
from rnnzoo.engine.lstm import gate_scale

CASES = engine_cases()  # every registered entry with an engine, ENGINE_OPTIONS' sets and its variants
IDS = [f"{name}:{label}" for name, label, _ in CASES]


@pytest.fixture(autouse=True)
def _python_engine(monkeypatch):
    """These tests are of the engines in Python; tests/test_native.py runs the same checks on the
    compiled kernels (rnnzoo.engine.native), which would otherwise be used wherever they are built."""
    monkeypatch.setenv("RNNZOO_NATIVE", "0")


# --- gradcheck of each autograd Function (float64), every option ---------------------------------

@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("dropout", [False, True], ids=["no_mask", "rec_mask"])
@pytest.mark.parametrize("name,label,options", CASES, ids=IDS)
def test_gradcheck_float64_of_the_sequence_function(name, label, options, padded, dropout, monkeypatch):
    monkeypatch.setattr(lstm_backward, "CHUNK_NUMBERS", 1)  # backward in chunks of one step
    monkeypatch.setattr(common, "TANH_BY_SIGMOID", 0)  # tanh as 2 σ(2 v) - 1 at every size
    cell = randomise(rnnzoo.Recurrent(name, 3, 3, **options).cells[0].double())
    assert gradcheck_engine_function(cell, padded, dropout)


@pytest.mark.parametrize("name,label,options", CASES, ids=IDS)
def test_gradcheck_through_recurrent_bidirectional_padded_with_recurrent_dropout(name, label, options):
    layer = rnnzoo.Recurrent(name, 3, 3, num_layers=2, bidirectional=True, recurrent_dropout=rec_dropout(name, 0.3),
                             fused=False, engine="fast", **options).double()
    assert gradcheck_padded_layer(randomise(layer))


# --- parity with the per-step loop (float32) --------------------------------------------------

@pytest.fixture(params=["mkl", "onednn"])
def products(request, monkeypatch):
    """Run the engines' matrix products on torch.mm (and tanh on torch.tanh), or the fast paths at
    every size: oneDNN products and tanh as 2 σ(2 v) - 1."""
    if request.param == "mkl":
        monkeypatch.setattr(linalg, "use_onednn", False)
        monkeypatch.setattr(common, "TANH_BY_SIGMOID", 1 << 62)
    else:
        if not linalg.available():
            pytest.skip("oneDNN products are not available in this torch build")
        monkeypatch.setattr(linalg, "STEP_MACS", 0)
        monkeypatch.setattr(linalg, "GRAM_SIZE", 0)
        monkeypatch.setattr(common, "TANH_BY_SIGMOID", 0)
    return request.param


def _outputs_and_grads(layer, x, lengths, seed=3):
    torch.manual_seed(seed)
    y, state = layer(x, lengths=lengths)
    weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed))
    loss = (y * weights).sum() + sum((s * s).sum() for s in as_tuple(state))
    grads = torch.autograd.grad(loss, [x, *layer.parameters()])
    return (y, *as_tuple(state)), grads


@pytest.mark.parametrize("training", [False, True], ids=["eval", "train+recurrent_dropout"])
@pytest.mark.parametrize("name,label,options", CASES, ids=IDS)
def test_engine_matches_the_step_loop_in_float32(name, label, options, training, products, monkeypatch):
    monkeypatch.setattr(lstm_backward, "CHUNK_NUMBERS", 7 * 4 * 64)  # LSTM backward in chunks of 7 steps
    torch.manual_seed(0)
    if options.get("proj_size"):
        options = {**options, "proj_size": 6}
    layer = rnnzoo.Recurrent(name, 5, 16, bidirectional=True, recurrent_dropout=rec_dropout(name, 0.25),
                             fused=False, **options).train(training)
    randomise(layer, scale=0.3)
    x = torch.randn(30, 4, 5, requires_grad=True)
    lengths = torch.tensor([30, 17, 1, 29])
    layer.engine = "loop"
    ref, ref_grads = _outputs_and_grads(layer, x, lengths)
    layer.engine = "fast"
    out, grads = _outputs_and_grads(layer, x, lengths)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for a, b in zip(grads, ref_grads):  # sums over all steps: float32 rounding grows with L * N
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert torch.all(out[0][lengths[2]:, 2] == 0), "padded steps must output zeros"


@pytest.mark.parametrize("name,label,options", CASES, ids=IDS)
def test_inference_path_equals_training_path(name, label, options):
    layer = randomise(rnnzoo.Recurrent(name, 3, 8, engine="fast", fused=False, **options), 0.3)
    x = torch.randn(7, 2, 3)
    y, state = layer(x, lengths=[7, 4])
    with torch.inference_mode():
        y_inf, state_inf = layer(x, lengths=[7, 4])
    torch.testing.assert_close(y_inf, y.detach(), atol=0, rtol=0)
    for a, b in zip(as_tuple(state_inf), as_tuple(state)):
        torch.testing.assert_close(a, b.detach(), atol=0, rtol=0)


@pytest.mark.parametrize("name,label,options", CASES, ids=IDS)
def test_engine_projection_equals_the_cells_own(name, label, options, products):
    cell = randomise(rnnzoo.Recurrent(name, 5, 16, **options).cells[0], 0.3)
    x = torch.randn(9, 4, 5)
    expected = cell.project(x)
    if name == "ctrnn":  # (u, dt)
        expected, got = torch.cat(expected, -1), torch.cat(engine.runner(cell).project(cell, x), -1)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
        return
    if name == "lstm":  # the LSTM engine's layout doubles the g block (one sigmoid for every gate)
        expected = expected * gate_scale(cell, expected)
    torch.testing.assert_close(engine.runner(cell).project(cell, x), expected, atol=1e-5, rtol=1e-5)


def test_onednn_linear_gradients_match_torch(monkeypatch):
    if not linalg.available():
        pytest.skip("oneDNN products are not available in this torch build")
    monkeypatch.setattr(linalg, "STEP_MACS", 0)
    monkeypatch.setattr(linalg, "GRAM_SIZE", 0)
    x = torch.randn(6, 5, 7, requires_grad=True)
    W, b = torch.randn(9, 7, requires_grad=True), torch.randn(9, requires_grad=True)
    dy = torch.randn(6, 5, 9)
    got = torch.autograd.grad((linalg.linear(x, W, b) * dy).sum(), (x, W, b))
    want = torch.autograd.grad((torch.nn.functional.linear(x, W, b) * dy).sum(), (x, W, b))
    for a, b_ in zip(got, want):
        torch.testing.assert_close(a, b_, atol=1e-5, rtol=1e-5)


# --- recurrent dropout --------------------------------------------------------------------------

def test_engine_keeps_one_recurrent_dropout_mask_per_sequence():
    """As the loop's test: W_hh = I and no input, so a unit dropped once stays dropped."""
    layer = rnnzoo.Elman(1, 64, recurrent_dropout=0.5, engine="fast", fused=False).train()
    with torch.no_grad():
        cell = layer.cells[0]
        cell.weight_ih.zero_()
        cell.weight_hh.copy_(torch.eye(64))
        cell.bias.zero_()
    y, _ = layer(torch.zeros(4, 1, 1), state=torch.ones(1, 1, 64))
    dead = y[0, 0] == 0
    assert 5 < int(dead.sum()) < 59
    for t in range(1, 4):
        assert torch.equal(y[t, 0] == 0, dead)


@pytest.mark.parametrize("name", ["lstm", "gru", "elman", "jordan", "ctrnn", "rmlp"])
def test_recurrent_dropout_is_applied_in_training_only(name):
    layer = rnnzoo.Recurrent(name, 3, 8, recurrent_dropout=0.5, engine="fast", fused=False)
    x = torch.randn(6, 2, 3)
    layer.eval()
    y_eval = layer(x)[0]
    layer.train()
    assert not torch.allclose(layer(x)[0], y_eval)
    plain = rnnzoo.Recurrent(name, 3, 8, engine="fast", fused=False)
    plain.load_state_dict(layer.state_dict())
    torch.testing.assert_close(plain(x)[0], y_eval)


# --- selection, fallback and errors -------------------------------------------------------------

def _count_calls(monkeypatch, module):
    calls = []
    real = module.ENGINE.run
    monkeypatch.setattr(module.ENGINE, "run", lambda *a: calls.append(1) or real(*a))
    return calls


def test_auto_uses_the_engine_on_the_generic_path_only(monkeypatch):
    from rnnzoo.engine import lstm
    calls = _count_calls(monkeypatch, lstm)
    x = torch.randn(4, 2, 3)
    rnnzoo.LSTM(3, 4)(x)  # torch's fused kernel: no engine
    assert calls == []
    rnnzoo.LSTM(3, 4, peephole=True)(x)
    rnnzoo.LSTM(3, 4, fused=False, bidirectional=True, num_layers=2)(x)
    assert len(calls) == 1 + 4
    rnnzoo.LSTM(3, 4, peephole=True, engine="loop")(x)
    assert len(calls) == 5


def test_auto_trains_elman_on_the_engine_and_infers_on_torchs_kernel(monkeypatch):
    from rnnzoo.engine import elman
    calls = _count_calls(monkeypatch, elman)
    layer = rnnzoo.Elman(3, 4, num_layers=2)
    x = torch.randn(6, 2, 3)
    assert layer.path(backward=True) == "engine" and layer.path(backward=False) == "fused"
    y_train = layer(x)[0]  # parameters require grad: a backward may come
    assert len(calls) == 2
    with torch.no_grad():
        y_infer = layer(x)[0]
    assert len(calls) == 2  # inference: torch's kernel
    torch.testing.assert_close(y_train.detach(), y_infer, atol=1e-5, rtol=1e-5)
    layer.fused = True  # insisting on the kernel keeps it
    assert layer.path(backward=True) == "fused"
    layer(x)
    layer.fused, layer.engine = "auto", "loop"
    assert layer.path(backward=True) == "fused"
    layer(x)
    assert len(calls) == 2
    assert rnnzoo.LSTM(3, 4).path(backward=True) == "fused"  # torch's LSTM and GRU kernels train as fast
    assert rnnzoo.GRU(3, 4).path(backward=True) == "fused"
    assert rnnzoo.GRU(3, 4).path(backward=True, padded=True) == "engine"


def test_auto_trains_padded_batches_on_the_engine(monkeypatch):
    """torch's packed CPU backward is quadratic in L; a padded batch with lengths trains on the engine."""
    from rnnzoo.engine import lstm
    calls = _count_calls(monkeypatch, lstm)
    layer = rnnzoo.LSTM(3, 4, bidirectional=True, batch_first=True)
    assert layer.path(backward=True, padded=True) == "engine" and layer.path(backward=True) == "fused"
    x, lengths = torch.randn(2, 7, 3), torch.tensor([7, 3])
    y, (h, c) = layer(x, lengths=lengths)
    assert len(calls) == 2  # one per direction
    layer(x)  # no padding: torch's kernel
    packed = torch.nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True)
    yp = layer(packed)[0]
    assert len(calls) == 4
    with torch.no_grad():
        y_kernel, (h_kernel, _) = layer(x, lengths=lengths)
    assert len(calls) == 4
    torch.testing.assert_close(y.detach(), y_kernel, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(h.detach(), h_kernel, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.nn.utils.rnn.pad_packed_sequence(yp, batch_first=True)[0].detach(), y_kernel,
                               atol=1e-5, rtol=1e-5)


def test_ineligible_cells_fall_back_to_the_loop():
    layer = rnnzoo.Recurrent("cascaded", 3, 4)
    assert "no sequence engine for CascadedCell" in layer.engine_ineligible_reason()
    assert layer.plan(torch.float32).engine is None and layer.path() == "loop"
    y, _ = layer(torch.randn(5, 2, 3))
    assert y.shape == (5, 2, 4)

    class MyLSTMCell(rnnzoo.cells.LSTMCell):  # a subclass may change the equations: no engine
        def step(self, xp, state, rec_mask=None):
            h, c = super().step(xp, state, rec_mask)[1]
            return 2 * h, (2 * h, c)

    mine = rnnzoo.Recurrent(MyLSTMCell, 3, 4)
    assert mine.engine_ineligible_reason() is not None
    x = torch.randn(5, 2, 3)
    y_auto = mine(x)[0]
    mine.engine = "loop"
    torch.testing.assert_close(y_auto, mine(x)[0])


def test_other_dtypes_fall_back_to_the_loop_and_forcing_them_is_an_error():
    layer = rnnzoo.LSTM(3, 4, peephole=True)
    x = torch.randn(5, 2, 3, dtype=torch.bfloat16)
    layer = layer.to(torch.bfloat16)
    y = layer(x)[0]
    layer.engine = "loop"
    torch.testing.assert_close(y, layer(x)[0], atol=0, rtol=0)
    layer.engine = "fast"
    with pytest.raises(ValueError, match=r"engine='fast', but this call cannot use the sequence engine: "
                                         r"the engine runs float32 or float64, got torch.bfloat16"):
        layer(x)


def test_autocast_falls_back_to_the_loop():
    layer = rnnzoo.LSTM(3, 4, peephole=True)
    x = torch.randn(5, 2, 3)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert layer.plan(x.dtype, backward=False, device_type="cpu").engine is None
        y = layer(x)[0]
    assert y.shape == (5, 2, 4) and torch.isfinite(y).all()


def test_torch_func_transforms_fall_back_to_the_loop():
    layer = rnnzoo.LSTM(3, 4, peephole=True)
    x = torch.randn(5, 2, 3)
    params = dict(layer.named_parameters())

    def loss(p):
        return functional_call(layer, p, (x,))[0].square().sum()

    grads = torch.func.grad(loss)(params)
    expected = torch.autograd.grad(loss(params), list(params.values()))
    for g, e in zip(grads.values(), expected):
        torch.testing.assert_close(g, e, atol=1e-5, rtol=1e-5)


def test_forcing_the_engine_on_a_cell_without_one_is_a_clear_error():
    with pytest.raises(ValueError, match=r"engine='fast', but this layer has no sequence engine: "
                                         r"no sequence engine for CascadedCell"):
        rnnzoo.Recurrent("cascaded", 3, 4, engine="fast")
    with pytest.raises(ValueError, match=r"engine must be one of 'auto', 'fast', 'native', 'loop', got 'turbo'"):
        rnnzoo.LSTM(3, 4, engine="turbo")
    layer = rnnzoo.Recurrent("cascaded", 3, 4)
    layer.engine = "fast"  # set after construction: the call says why
    with pytest.raises(ValueError, match=r"engine='fast', but this call cannot use the sequence engine"):
        layer(torch.randn(2, 1, 3))


def test_only_the_per_step_inputs_an_engine_takes_are_accepted():
    cell = rnnzoo.Recurrent("ctrnn", 3, 4).cells[0]
    assert "per-step inputs ['dt']" in engine.ineligible_reason(rnnzoo.LSTM(3, 4).cells[0],
                                                               step_inputs={"dt": None})
    assert engine.ineligible_reason(cell, step_inputs={"dt": None}) is None
    assert "per-step inputs ['w']" in engine.ineligible_reason(cell, step_inputs={"dt": None, "w": None})


@pytest.mark.parametrize("bidirectional", [False, True])
def test_ctrnn_engine_with_per_step_dt_matches_the_loop_and_gradchecks(bidirectional):
    layer = randomise(rnnzoo.CTRNN(3, 5, bidirectional=bidirectional, batch_first=True), 0.4).double()
    x = torch.randn(3, 6, 3, dtype=torch.float64, requires_grad=True)
    dt = (torch.rand(3, 6, dtype=torch.float64) + 0.2).requires_grad_()
    lengths = torch.tensor([6, 2, 5])
    outs = {}
    for name in ("loop", "fast"):
        layer.engine = name
        y, h = layer(x, lengths=lengths, dt=dt)
        outs[name] = (y, h, *torch.autograd.grad((y * y).sum() + h.sum(), (x, dt, *layer.parameters())))
    for a, b in zip(outs["fast"], outs["loop"]):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-10)
    names = [n for n, _ in layer.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_() for _, p in layer.named_parameters())

    def f(x, dt, *ps):
        y, h = functional_call(layer, dict(zip(names, ps)), (x,), {"lengths": lengths, "dt": dt})
        return y, h

    assert torch.autograd.gradcheck(f, (x, dt, *params), eps=1e-6, atol=1e-6, rtol=1e-4)


def test_a_cell_may_bring_its_own_run_sequence():
    seen = []

    class Recorded(rnnzoo.cells.ElmanCell):
        def run_sequence(self, xs, state, valid, rec_mask):
            seen.append(xs.shape)
            ys = torch.stack([torch.tanh(v) for v in xs])
            return ys, (ys[-1],)

    layer = rnnzoo.Recurrent(Recorded, 3, 4, engine="fast", fused=False)
    y, _ = layer(torch.randn(5, 2, 3))
    assert seen == [(5, 2, 4)] and y.shape == (5, 2, 4)


def test_double_backward_needs_the_loop():
    layer = rnnzoo.LSTM(3, 4, peephole=True).double()
    x = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="not differentiable.*engine=.loop."):
        torch.autograd.grad(layer(x)[0].sum(), x, create_graph=True)
    layer.engine = "loop"
    (g,) = torch.autograd.grad(layer(x)[0].sum(), x, create_graph=True)
    g.sum().backward()
    assert x.grad is not None


def test_extra_repr_names_a_non_default_engine():
    assert "engine='loop'" in repr(rnnzoo.GRU(3, 4, engine="loop"))
    assert "engine" not in repr(rnnzoo.GRU(3, 4))
