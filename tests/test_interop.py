"""Conversions between rnnzoo layers and torch.nn.LSTM / GRU / RNN and Keras LSTM / GRU / SimpleRNN."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

import rnnzoo

# Keras 3.15 on NumPy 2 warns about its own __array__ signature; nothing this file can change.
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
TOL = dict(atol=1e-5, rtol=1e-5)
OURS = {"lstm": rnnzoo.LSTM, "gru": rnnzoo.GRU, "rnn_tanh": rnnzoo.Elman, "rnn_relu": rnnzoo.Elman}


# --- torch ------------------------------------------------------------------------------------
def _torch_cases():
    """Random sizes per kind over num_layers 1-3, bidirectional and batch_first on/off."""
    rng, cases = random.Random(0), []
    layouts = [(1, False, False, True), (2, True, True, True), (3, False, True, True),
               (2, True, False, False)]  # (num_layers, bidirectional, batch_first, bias)
    for kind in OURS:
        for i, (layers, bi, bf, bias) in enumerate(layouts):
            hidden = rng.randint(3, 7)
            cfg = dict(input_size=rng.randint(1, 6), hidden_size=hidden, num_layers=layers,
                       bidirectional=bi, batch_first=bf, bias=bias)
            if kind == "lstm" and i >= 2:
                cfg["proj_size"] = rng.randint(1, hidden - 1)
            cases.append(pytest.param(kind, cfg, id=f"{kind}-{layers}l-bi{int(bi)}-bf{int(bf)}-bias{int(bias)}"
                                      + (f"-proj{cfg['proj_size']}" if "proj_size" in cfg else "")))
    return cases


def _make_torch(kind, cfg, **extra):
    cfg = {**cfg, **extra}
    if kind == "lstm":
        return nn.LSTM(**cfg)
    if kind == "gru":
        return nn.GRU(**cfg)
    return nn.RNN(nonlinearity=kind[4:], **cfg)


def _input(m, N=4, L=6, generator=None):
    shape = (N, L, m.input_size) if m.batch_first else (L, N, m.input_size)
    return torch.randn(shape, generator=generator)


def _random_state(m, N=4):
    D = 2 if m.bidirectional else 1
    h = torch.randn(m.num_layers * D, N, m.proj_size or m.hidden_size)
    if isinstance(m, nn.LSTM):
        return h, torch.randn(m.num_layers * D, N, m.hidden_size)
    return h


def _assert_states_close(got, want, **tol):
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, **tol)


@pytest.mark.parametrize("kind, cfg", _torch_cases())
def test_from_torch_matches_torch_outputs_and_final_states_fused_and_generic_loop(kind, cfg):
    torch.manual_seed(1)
    m = _make_torch(kind, cfg).eval()
    layer = OURS[kind].from_torch(m).eval()
    assert layer.fused_eligible()  # so fused="auto" below really runs torch's kernel
    x, state = _input(m), _random_state(m)
    lengths = torch.tensor([6, 2, 5, 1])
    packed = pack_padded_sequence(x, lengths, batch_first=m.batch_first, enforce_sorted=False)
    with torch.no_grad():
        want, want_state = m(x, state)
        want_packed, want_packed_state = m(packed, state)
        for fused in ("auto", False):
            layer.fused = fused
            out, out_state = layer(x, state)
            torch.testing.assert_close(out, want, **TOL)
            _assert_states_close(out_state, want_state, **TOL)
            out_p, out_p_state = layer(packed, state)
            assert isinstance(out_p, PackedSequence)
            assert torch.equal(out_p.batch_sizes, want_packed.batch_sizes)
            assert torch.equal(out_p.unsorted_indices, want_packed.unsorted_indices)
            torch.testing.assert_close(out_p.data, want_packed.data, **TOL)
            _assert_states_close(out_p_state, want_packed_state, **TOL)


def test_from_torch_keeps_settings_dtype_and_training_mode():
    m = nn.RNN(3, 5, num_layers=2, nonlinearity="relu", dropout=0.25, batch_first=True,
               bidirectional=True, dtype=torch.float64)
    layer = rnnzoo.Elman.from_torch(m)
    assert (layer.input_size, layer.hidden_size, layer.num_layers) == (3, 5, 2)
    assert layer.bidirectional and layer.batch_first and layer.dropout == 0.25 and layer.training
    assert layer.cells[0].activation == "relu" and layer.cells[0].weight_ih.dtype == torch.float64
    lstm = rnnzoo.LSTM.from_torch(nn.LSTM(4, 6, proj_size=2).eval())
    assert lstm.cells[0].proj_size == 2 and not lstm.training and not lstm.batch_first


def test_from_torch_bias_is_sum_of_torch_biases_gru_n_block_kept_apart():
    torch.manual_seed(2)
    m, H = nn.GRU(3, 4), 4
    cell = rnnzoo.GRU.from_torch(m).cells[0]
    b_ih, b_hh = m.bias_ih_l0.detach(), m.bias_hh_l0.detach()
    assert torch.equal(cell.bias[: 2 * H], b_ih[: 2 * H] + b_hh[: 2 * H])
    assert torch.equal(cell.bias[2 * H:], b_ih[2 * H:]) and torch.equal(cell.bias_hn, b_hh[2 * H:])
    no_bias = rnnzoo.LSTM.from_torch(nn.LSTM(3, 4, bias=False))
    assert not no_bias.cells[0].bias.any()


def _randomised(layer, seed):
    """`layer` with every parameter random (biases included) and one bias entry set to -0.0."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=g))
        layer.cells[0].bias[0] = -0.0
    return layer


ROUND_TRIP_LAYERS = {
    "lstm": lambda: rnnzoo.LSTM(3, 5),
    "lstm-2l-bi-proj": lambda: rnnzoo.LSTM(4, 6, num_layers=2, bidirectional=True, proj_size=3,
                                           batch_first=True, dropout=0.1),
    "gru-3l-bi": lambda: rnnzoo.GRU(2, 4, num_layers=3, bidirectional=True),
    "elman-tanh-2l": lambda: rnnzoo.Elman(5, 3, num_layers=2, batch_first=True),
    "elman-relu-bi": lambda: rnnzoo.Elman(3, 4, bidirectional=True, activation="relu"),
}


def _bits(t):
    return t.detach().contiguous().view(torch.int32)


@pytest.mark.parametrize("name", ROUND_TRIP_LAYERS)
def test_ours_to_torch_to_ours_is_bit_identical(name):
    ours = _randomised(ROUND_TRIP_LAYERS[name](), seed=3)
    back = type(ours).from_torch(ours.to_torch())
    assert back.extra_repr() == ours.extra_repr()  # sizes, layers, direction, dropout, options
    a, b = ours.state_dict(), back.state_dict()
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(_bits(a[key]), _bits(b[key])), key  # -0.0 stays -0.0


@pytest.mark.parametrize("kind, cfg", [c for i, c in enumerate(_torch_cases()) if i % 2 == 1])
def test_torch_to_ours_to_torch_keeps_weights_bias_sums_and_outputs(kind, cfg):
    """Weights come back identical; biases come back as b_ih' = fl(b_ih + b_hh), b_hh' = 0 (GRU n
    block unchanged), so only the sums b_ih + b_hh are preserved, exactly; outputs agree to 1e-6."""
    torch.manual_seed(4)
    m = _make_torch(kind, cfg).eval()
    m2 = OURS[kind].from_torch(m).to_torch()
    assert type(m2) is type(m) and m2.bias and not m2.training
    for attr in ("input_size", "hidden_size", "num_layers", "bidirectional", "batch_first",
                 "dropout", "proj_size", "mode"):
        assert getattr(m2, attr) == getattr(m, attr), attr
    if kind.startswith("rnn"):
        assert m2.nonlinearity == m.nonlinearity
    p, p2 = dict(m.named_parameters()), dict(m2.named_parameters())
    for name, w in p.items():
        if name.startswith("weight"):
            assert torch.equal(p2[name], w), name
    for name in (n for n in p2 if n.startswith("bias_ih")):
        hh = name.replace("bias_ih", "bias_hh")
        want = p[name] + p[hh] if name in p else torch.zeros_like(p2[name])
        assert torch.equal(p2[name] + p2[hh], want), name
    x = _input(m)
    with torch.no_grad():
        (y, s), (y2, s2) = m(x), m2(x)
    torch.testing.assert_close(y2, y, atol=1e-6, rtol=1e-6)
    _assert_states_close(s2, s, atol=1e-6, rtol=1e-6)


# --- Keras: an independent NumPy reference of the Keras equations, on Keras-layout arrays ---------
def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def keras_lstm_reference(x, kernel, recurrent, bias):
    """x (N, L, in); kernel (in, 4u), recurrent (u, 4u), bias (4u,), gate columns i, f, c, o."""
    u = recurrent.shape[0]
    h, c, ys = np.zeros((x.shape[0], u)), np.zeros((x.shape[0], u)), []
    for t in range(x.shape[1]):
        i, f, g, o = np.split(x[:, t] @ kernel + h @ recurrent + bias, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        ys.append(h)
    return np.stack(ys, 1), (h, c)


def keras_gru_reference(x, kernel, recurrent, bias):
    """Gate columns z, r, h. bias (2, 3u): reset_after=True (input row, recurrent row); (3u,): False."""
    u, reset_after = recurrent.shape[0], bias.ndim == 2
    b_in, b_rec = (bias[0], bias[1]) if reset_after else (bias, None)
    h, ys = np.zeros((x.shape[0], u)), []
    for t in range(x.shape[1]):
        x_z, x_r, x_h = np.split(x[:, t] @ kernel + b_in, 3, axis=1)
        if reset_after:
            r_z, r_r, r_h = np.split(h @ recurrent + b_rec, 3, axis=1)
            z, r = _sigmoid(x_z + r_z), _sigmoid(x_r + r_r)
            hh = np.tanh(x_h + r * r_h)
        else:
            inner = h @ recurrent[:, : 2 * u]
            z, r = _sigmoid(x_z + inner[:, :u]), _sigmoid(x_r + inner[:, u:])
            hh = np.tanh(x_h + (r * h) @ recurrent[:, 2 * u:])
        h = z * h + (1 - z) * hh
        ys.append(h)
    return np.stack(ys, 1), h


def keras_simple_rnn_reference(x, kernel, recurrent, bias, activation=np.tanh):
    h, ys = np.zeros((x.shape[0], recurrent.shape[0])), []
    for t in range(x.shape[1]):
        h = activation(x[:, t] @ kernel + bias + h @ recurrent)
        ys.append(h)
    return np.stack(ys, 1), h


KERAS_ARRAY_CASES = {  # name: (our class, reference, gates G, bias shape as a function of u)
    "lstm": (rnnzoo.LSTM, keras_lstm_reference, 4, lambda u: (4 * u,)),
    "gru-reset_after": (rnnzoo.GRU, keras_gru_reference, 3, lambda u: (2, 3 * u)),
    "gru-reset_before": (rnnzoo.GRU, keras_gru_reference, 3, lambda u: (3 * u,)),
    "simple_rnn": (rnnzoo.Elman, keras_simple_rnn_reference, 1, lambda u: (u,)),
}


# Two arrays (use_bias=False) cannot tell the GRU modes apart: Keras' default reset_after=True is taken.
@pytest.mark.parametrize("name, use_bias", [(n, b) for n in KERAS_ARRAY_CASES for b in (True, False)
                                            if b or n != "gru-reset_before"])
def test_from_keras_arrays_matches_numpy_reference_of_keras_equations(name, use_bias):
    cls, reference, G, bias_shape = KERAS_ARRAY_CASES[name]
    rng = np.random.default_rng(5)
    n_in, u = 3, 5
    kernel = rng.normal(0, 0.5, (n_in, G * u)).astype(np.float32)
    recurrent = rng.normal(0, 0.5, (u, G * u)).astype(np.float32)
    bias = rng.normal(0, 0.5, bias_shape(u)).astype(np.float32)
    arrays = (kernel, recurrent, bias) if use_bias else [kernel, recurrent]
    x = rng.normal(size=(4, 7, n_in)).astype(np.float32)
    want, want_state = reference(x.astype(np.float64), kernel, recurrent,
                                 bias if use_bias else np.zeros(bias_shape(u)))
    layer = cls.from_keras(arrays)
    assert layer.batch_first and layer.hidden_size == u and layer.input_size == n_in
    if cls is rnnzoo.GRU:
        assert layer.cells[0].reset_after == (name == "gru-reset_after" or not use_bias)
    with torch.no_grad():
        out, state = layer(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), want, **TOL)
    want_state = want_state if isinstance(want_state, tuple) else (want_state,)
    state = state if isinstance(state, tuple) else (state,)
    for s, w in zip(state, want_state):
        np.testing.assert_allclose(s[0].numpy(), w, **TOL)


@pytest.fixture(scope="module")
def keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    return pytest.importorskip("keras")


KERAS_LAYERS = {  # name: (our class, Keras class name, keyword arguments)
    "lstm": (rnnzoo.LSTM, "LSTM", {}),
    "gru-reset_after": (rnnzoo.GRU, "GRU", {"reset_after": True}),
    "gru-reset_before": (rnnzoo.GRU, "GRU", {"reset_after": False}),
    "gru-reset_before-no_bias": (rnnzoo.GRU, "GRU", {"reset_after": False, "use_bias": False}),
    "simple_rnn-tanh": (rnnzoo.Elman, "SimpleRNN", {}),
    "simple_rnn-relu": (rnnzoo.Elman, "SimpleRNN", {"activation": "relu"}),
}


@pytest.mark.parametrize("name", KERAS_LAYERS)
def test_from_keras_layer_matches_keras_outputs_and_final_states(keras, name):
    cls, class_name, kwargs = KERAS_LAYERS[name]
    rng = np.random.default_rng(6)
    x = rng.normal(size=(3, 6, 4)).astype(np.float32)
    k_layer = getattr(keras.layers, class_name)(5, return_sequences=True, return_state=True, **kwargs)
    k_layer(x)  # build
    k_layer.set_weights([rng.normal(0, 0.4, w.shape).astype(np.float32) for w in k_layer.get_weights()])
    want, *want_states = [keras.ops.convert_to_numpy(v) for v in k_layer(x)]
    layer = cls.from_keras(k_layer)
    with torch.no_grad():
        out, state = layer(torch.from_numpy(x))
    np.testing.assert_allclose(out.numpy(), want, **TOL)
    state = state if isinstance(state, tuple) else (state,)
    assert len(state) == len(want_states)
    for s, w in zip(state, want_states):
        np.testing.assert_allclose(s[0].numpy(), w, **TOL)


# --- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, module, match", [
    (rnnzoo.LSTM, nn.GRU(2, 3), r"torch\.nn\.LSTM, got .*GRU"),
    (rnnzoo.GRU, nn.LSTM(2, 3), r"torch\.nn\.GRU, got .*LSTM"),
    (rnnzoo.Elman, nn.GRU(2, 3), r"torch\.nn\.RNN, got .*GRU"),
    (rnnzoo.LSTM, nn.LSTMCell(2, 3), r"torch\.nn\.LSTM, got .*LSTMCell"),
])
def test_from_torch_wrong_module_type_raises_type_error_naming_both(cls, module, match):
    with pytest.raises(TypeError, match=match):
        cls.from_torch(module)


@pytest.mark.parametrize("make, match", [
    (lambda: rnnzoo.LSTM(2, 3, peephole=True), "peephole"),
    (lambda: rnnzoo.LSTM(2, 3, coupled=True), "coupled"),
    (lambda: rnnzoo.LSTM(2, 3, layer_norm=True), "layer_norm"),
    (lambda: rnnzoo.GRU(2, 3, reset_after=False), "reset_after=False"),
    (lambda: rnnzoo.GRU(2, 3, bidirectional=True, merge="sum"), "merge='sum'"),
    (lambda: rnnzoo.Elman(2, 3, recurrent_dropout=0.2), "recurrent_dropout=0.2"),
], ids=["peephole", "coupled", "layer_norm", "reset_before", "merge", "recurrent_dropout"])
def test_to_torch_unrepresentable_option_raises_value_error_naming_it(make, match):
    with pytest.raises(ValueError, match=match):
        make().to_torch()


@pytest.mark.parametrize("cls, arrays, match", [
    (rnnzoo.LSTM, [(3, 15), (4, 16), (16,)], r"kernel must have shape \(H_in, 16\), got \(3, 15\)"),
    (rnnzoo.LSTM, [(3, 16), (4, 12), (16,)], r"recurrent_kernel must have shape \(4, 16\), got \(4, 12\)"),
    (rnnzoo.LSTM, [(3, 16), (4, 16), (12,)], r"bias must have shape \(16,\), got \(12,\)"),
    (rnnzoo.GRU, [(3, 12), (4, 12), (3, 12)], r"bias must have shape \(2, 12\), got \(3, 12\)"),
    (rnnzoo.GRU, [(3, 12), (4, 12), (11,)], r"bias must have shape \(12,\), got \(11,\)"),
    (rnnzoo.Elman, [(3, 4), (4, 5), (4,)], r"recurrent_kernel must have shape \(4, 4\), got \(4, 5\)"),
    (rnnzoo.Elman, [(3, 4)], r"got 1 arrays"),
])
def test_from_keras_wrong_array_shapes_raise_value_error_naming_the_array(cls, arrays, match):
    with pytest.raises(ValueError, match=match):
        cls.from_keras([np.zeros(shape, np.float32) for shape in arrays])


def test_from_keras_rejects_objects_that_are_neither_arrays_nor_a_layer():
    with pytest.raises(TypeError, match="Keras LSTM layer"):
        rnnzoo.LSTM.from_keras({"kernel": np.zeros((3, 16))})


def test_from_keras_duck_typed_layer_unsupported_activation_needs_no_keras():
    fake = type("SimpleRNN", (), {"units": 2, "activation": staticmethod(np.sin), "use_bias": True,
                                  "go_backwards": False, "get_weights": lambda self: []})()
    with pytest.raises(ValueError, match="activation 'sin' is not convertible"):
        rnnzoo.Elman.from_keras(fake)


@pytest.mark.parametrize("cls, class_name, kwargs, error, match", [
    (rnnzoo.LSTM, "LSTM", {"activation": "relu"}, ValueError, "activation 'relu'"),
    (rnnzoo.LSTM, "LSTM", {"recurrent_activation": "hard_sigmoid"}, ValueError,
     "recurrent_activation 'hard_sigmoid'"),
    (rnnzoo.GRU, "GRU", {"activation": "sigmoid"}, ValueError, "activation 'sigmoid'"),
    (rnnzoo.Elman, "SimpleRNN", {"activation": "sigmoid"}, ValueError, "activation 'sigmoid'"),
    (rnnzoo.GRU, "GRU", {"go_backwards": True}, ValueError, "go_backwards"),
    (rnnzoo.LSTM, "GRU", {}, TypeError, "expected a Keras LSTM layer"),
], ids=["lstm-activation", "lstm-recurrent_activation", "gru-activation", "simple_rnn-activation",
        "go_backwards", "wrong-layer-type"])
def test_from_keras_unconvertible_layer_raises_naming_the_setting(keras, cls, class_name, kwargs,
                                                                    error, match):
    k_layer = getattr(keras.layers, class_name)(3, **kwargs)
    k_layer(np.zeros((1, 2, 4), np.float32))
    with pytest.raises(error, match=match):
        cls.from_keras(k_layer)


def test_from_keras_unbuilt_layer_raises_asking_to_build_it(keras):
    with pytest.raises(ValueError, match="build it"):
        rnnzoo.GRU.from_keras(keras.layers.GRU(3))
