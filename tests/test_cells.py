"""One step of each classic cell against the published equations, written out here independently. The
layers run the per-step loop over `cell.step` (fused=False, engine="loop"), where the equations are: the
fused kernels and the sequence engines are tested against that loop (tests/test_driver.py,
tests/test_engine.py, tests/test_native.py)."""

import pytest
import torch

import rnnzoo

sig, tanh = torch.sigmoid, torch.tanh


def one_step(layer, x, state):
    """Run the layer for one step (L = 1) from `state` (per-sample tensors, no layer/dir dim), on the
    per-step loop over the cell's `step`."""
    layer.fused, layer.engine = False, "loop"
    assert layer.path(x.dtype, backward=True) == "loop"
    state = tuple(s[None] for s in state)
    y, final = layer(x[None], state=state[0] if len(state) == 1 else state)
    final = final if isinstance(final, tuple) else (final,)
    return y[0], tuple(s[0] for s in final)


def randomise(layer):
    with torch.no_grad():
        for p in layer.parameters():
            p.normal_(0, 0.5)
    return layer


@pytest.fixture
def data():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(5, 3, dtype=torch.float64, generator=g)
    h = torch.randn(5, 4, dtype=torch.float64, generator=g)
    c = torch.randn(5, 4, dtype=torch.float64, generator=g)
    return x, h, c


@pytest.mark.parametrize("act", ["tanh", "relu"])
def test_elman_step_is_act_of_wx_plus_uh_plus_b(data, act):
    x, h, _ = data
    layer = randomise(rnnzoo.Elman(3, 4, activation=act).double())
    cell = layer.cells[0]
    f = torch.tanh if act == "tanh" else torch.relu
    expected = f(x @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias)
    y, (h1,) = one_step(layer, x, (h,))
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(h1, expected)


def test_jordan_context_is_previous_output(data):
    x, _, _ = data
    layer = randomise(rnnzoo.Jordan(3, 6, output_size=2, output_activation="sigmoid").double())
    cell = layer.cells[0]
    y_prev = torch.rand(5, 2, dtype=torch.float64)
    hidden = tanh(x @ cell.weight_ih.T + y_prev @ cell.weight_hy.T + cell.bias)
    expected = sig(hidden @ cell.weight_yh.T + cell.bias_y)
    y, (state,) = one_step(layer, x, (y_prev,))
    torch.testing.assert_close(y, expected)
    torch.testing.assert_close(state, expected)


def _lstm_reference(x, h, c, W, U, b, peephole=None, coupled=False, ln=None, W_hr=None):
    """The LSTM equations of the LSTMCell docstring, gate by gate."""
    H = c.shape[1]
    z_x, z_h = x @ W.T, h @ U.T
    if ln is not None:  # Ba et al. 2016: normalise each pre-activation vector, then gain and bias
        def norm(v, ln_module):
            mu, var = v.mean(-1, keepdim=True), v.var(-1, unbiased=False, keepdim=True)
            return (v - mu) / torch.sqrt(var + ln_module.eps) * ln_module.weight + ln_module.bias
        z_x, z_h = norm(z_x, ln[0]), norm(z_h, ln[1])
    z = z_x + z_h + b
    blocks = [z[:, k * H:(k + 1) * H] for k in range(z.shape[1] // H)]
    p_i, p_f, p_o = peephole if peephole is not None else (0, 0, 0)
    if coupled:
        f_pre, g_pre, o_pre = blocks
        f = sig(f_pre + p_f * c)
        i = 1 - f
    else:
        i_pre, f_pre, g_pre, o_pre = blocks
        i, f = sig(i_pre + p_i * c), sig(f_pre + p_f * c)
    c_new = f * c + i * tanh(g_pre)
    o = sig(o_pre + p_o * c_new)
    c_out = c_new
    if ln is not None:
        mu, var = c_new.mean(-1, keepdim=True), c_new.var(-1, unbiased=False, keepdim=True)
        c_out = (c_new - mu) / torch.sqrt(var + ln[2].eps) * ln[2].weight + ln[2].bias
    h_new = o * tanh(c_out)
    if W_hr is not None:
        h_new = h_new @ W_hr.T
    return h_new, c_new


@pytest.mark.parametrize("options", [{}, {"peephole": True}, {"coupled": True}, {"layer_norm": True},
                                     {"proj_size": 2}, {"peephole": True, "coupled": True}],
                         ids=lambda o: "+".join(o) or "plain")
def test_lstm_step_matches_the_published_equations(data, options):
    x, h, c = data
    layer = randomise(rnnzoo.LSTM(3, 4, fused=False, **options).double())
    cell = layer.cells[0]
    if options.get("proj_size"):
        h = h[:, :2]
    expected = _lstm_reference(
        x, h, c, cell.weight_ih, cell.weight_hh, cell.bias,
        peephole=cell.peephole_weight if options.get("peephole") else None,
        coupled=options.get("coupled", False),
        ln=(cell.ln_x, cell.ln_h, cell.ln_c) if options.get("layer_norm") else None,
        W_hr=getattr(cell, "weight_hr", None))
    y, (h1, c1) = one_step(layer, x, (h, c))
    torch.testing.assert_close(h1, expected[0])
    torch.testing.assert_close(c1, expected[1])
    torch.testing.assert_close(y, expected[0])


def test_lstm_forget_bias_initialises_the_forget_gate_only():
    cell = rnnzoo.LSTM(3, 4, forget_bias=2.5).cells[0]
    torch.testing.assert_close(cell.bias[4:8], torch.full((4,), 2.5))
    assert torch.all(cell.bias[:4] == 0) and torch.all(cell.bias[8:] == 0)
    coupled = rnnzoo.LSTM(3, 4, coupled=True).cells[0]  # gate order f, g, o
    torch.testing.assert_close(coupled.bias[:4], torch.ones(4))


def test_recurrent_weights_start_orthogonal_per_gate():
    cell = rnnzoo.LSTM(3, 6).cells[0]
    for block in cell.weight_hh.detach().chunk(4):
        torch.testing.assert_close(block @ block.T, torch.eye(6), atol=1e-5, rtol=0)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gru_step_matches_cho_and_torch_forms(data, reset_after):
    x, h, _ = data
    layer = randomise(rnnzoo.GRU(3, 4, reset_after=reset_after, fused=False).double())
    cell = layer.cells[0]
    W, U, b = cell.weight_ih, cell.weight_hh, cell.bias
    Wr, Wz, Wn = W[:4], W[4:8], W[8:]
    Ur, Uz, Un = U[:4], U[4:8], U[8:]
    r = sig(x @ Wr.T + h @ Ur.T + b[:4])
    z = sig(x @ Wz.T + h @ Uz.T + b[4:8])
    if reset_after:
        n = tanh(x @ Wn.T + b[8:] + r * (h @ Un.T + cell.bias_hn))
    else:
        n = tanh(x @ Wn.T + (r * h) @ Un.T + b[8:])
    expected = (1 - z) * n + z * h
    y, (h1,) = one_step(layer, x, (h,))
    torch.testing.assert_close(h1, expected)
    torch.testing.assert_close(y, expected)


def test_cell_options_are_discoverable_from_the_registry():
    options = rnnzoo.registry.get("lstm").options()
    assert options == {"peephole": False, "coupled": False, "layer_norm": False, "proj_size": 0,
                       "forget_bias": 1.0}
    assert rnnzoo.registry.get("gru").options() == {"reset_after": True}


@pytest.mark.parametrize("kwargs,match", [
    ({"proj_size": 4}, "proj_size must be smaller"),
    ({"proj_size": -1}, "proj_size must be >= 0"),
    ({"proj_size": 1.5}, "proj_size must be an int"),
])
def test_lstm_bad_options_name_the_argument(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        rnnzoo.LSTM(3, 4, **kwargs)


@pytest.mark.parametrize("layer,kwargs,match", [
    (rnnzoo.Elman, {"activation": "sigmoid"}, "activation must be 'tanh' or 'relu'"),
    (rnnzoo.Jordan, {"output_activation": "softsign"}, "output_activation must be one of"),
    (rnnzoo.Jordan, {"output_size": 0}, "output_size must be >= 1"),
    (rnnzoo.GRU, {"hidden_size": 0}, "hidden_size must be >= 1"),
    (rnnzoo.LSTM, {"input_size": "3"}, "input_size must be an int"),
])
def test_bad_cell_arguments_name_the_argument(layer, kwargs, match):
    args = {"input_size": 3, "hidden_size": 4, **kwargs}
    with pytest.raises((ValueError, TypeError), match=match):
        layer(**args)


@pytest.mark.parametrize("layer,option", [
    (rnnzoo.LSTM, "peephole"), (rnnzoo.LSTM, "coupled"), (rnnzoo.LSTM, "layer_norm"),
    (rnnzoo.GRU, "reset_after"), (rnnzoo.CTRNN, "learn_tau"), (rnnzoo.ConvLSTM2d, "peephole"),
])
@pytest.mark.parametrize("value", ["False", 0, None])
def test_boolean_cell_options_take_bools_only(layer, option, value):
    # bool("False") is True: a truthy string would turn the option on
    with pytest.raises(TypeError, match=rf"{option} must be a bool \(True or False\), got"):
        layer(3, 4, **{option: value})


@pytest.mark.parametrize("layer", [rnnzoo.LSTM, rnnzoo.ConvLSTM2d])
@pytest.mark.parametrize("value,error", [(float("nan"), ValueError), (float("inf"), ValueError), ("1", TypeError)])
def test_forget_bias_must_be_a_finite_number(layer, value, error):
    with pytest.raises(error, match="forget_bias must be a"):
        layer(3, 4, forget_bias=value)


@pytest.mark.parametrize("name,option", [(e.name, o) for e in rnnzoo.registry.entries() for o in e.options()
                                         if o.endswith("activation")])
@pytest.mark.parametrize("value", [[4], {"a": 1}, 1])
def test_an_activation_that_is_no_string_is_refused_naming_it(name, option, value):
    # found by benchmarks/fuzz.py: a list or dict failed the look-up as "unhashable type: 'list'"
    with pytest.raises((TypeError, ValueError), match=rf"^{option} must be"):
        rnnzoo.Recurrent(name, 3, 4, **{option: value})
