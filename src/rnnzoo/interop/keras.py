"""Conversions from Keras LSTM / GRU / SimpleRNN layers, or their weight arrays, to rnnzoo layers.

Keras stores kernels transposed (columns are gate blocks of `units` u each); ours stack gates as row
blocks. Mapping (W = kernel (H_in, G*u), U = recurrent_kernel (u, G*u), b = bias):

    Keras layer   gate columns   ours (rows)    our parameters
    LSTM          i, f, c, o     i, f, g, o     weight_ih = W.T, weight_hh = U.T, bias = b (4u,)
    GRU           z, r, h        r, z, n        blocks reordered (1, 0, 2); see the GRU biases below
    SimpleRNN     -              -              weight_ih = W.T, weight_hh = U.T, bias = b (u,)

GRU biases: reset_after=True (Keras default) has b (2, 3u), row 0 the input bias and row 1 the
recurrent one: bias = [b0_r + b1_r, b0_z + b1_z, b0_h], bias_hn = b1_h. reset_after=False has b (3u,)
and gives a cell with reset_after=False. Without a bias (use_bias=False) all biases are zero.

Only the Keras defaults are convertible: activation tanh (SimpleRNN: tanh or relu) and
recurrent_activation sigmoid. The layer returned is batch_first=True, one layer, one direction, like
the Keras layer; Keras' dropout and recurrent_dropout (training-time only) are not carried over.
Keras itself is never imported: a layer is read through get_weights() and its attributes.
"""

from __future__ import annotations

import numpy as np
import torch

# registry name -> (Keras class name, gate blocks G, our row block k = Keras column block ORDER[k])
_KERAS = {"lstm": ("LSTM", 4, (0, 1, 2, 3)), "gru": ("GRU", 3, (1, 0, 2)), "elman": ("SimpleRNN", 1, (0,))}
_ACTIVATIONS = {"lstm": ("tanh",), "gru": ("tanh",), "elman": ("tanh", "relu")}


def _shape(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + (",)" if len(shape) == 1 else ")")


def _name(fn) -> str:
    """An activation's name: Keras activations are plain functions named tanh, sigmoid, ..."""
    return fn if isinstance(fn, str) else getattr(fn, "__name__", repr(fn))


def _reorder(a: np.ndarray, order, axis: int = -1) -> np.ndarray:
    """Permute the gate blocks of `a` along `axis` (our block k = Keras block order[k])."""
    blocks = np.split(a, len(order), axis=axis)
    return np.concatenate([blocks[k] for k in order], axis=axis)


def _read_layer(kind: str, layer):
    """Arrays and settings of a Keras layer, checked against what rnnzoo can represent."""
    class_name = _KERAS[kind][0]
    if not any(c.__name__ == class_name for c in type(layer).__mro__):
        raise TypeError(f"expected a Keras {class_name} layer (or its weight arrays), "
                        f"got {type(layer).__module__}.{type(layer).__name__}")
    if getattr(layer, "go_backwards", False):
        raise ValueError("go_backwards=True is not convertible: an rnnzoo layer reads forwards "
                         "(reverse the input yourself, or use bidirectional=True)")
    activation = _name(layer.activation)
    if activation not in _ACTIVATIONS[kind]:
        raise ValueError(f"activation {activation!r} is not convertible: {class_name} needs "
                         f"activation {' or '.join(map(repr, _ACTIVATIONS[kind]))}")
    if kind != "elman":
        recurrent = _name(layer.recurrent_activation)
        if recurrent != "sigmoid":
            raise ValueError(f"recurrent_activation {recurrent!r} is not convertible: "
                             f"{class_name} needs recurrent_activation 'sigmoid'")
    weights = list(layer.get_weights())
    if not weights:
        raise ValueError(f"the Keras {class_name} layer has no weights yet: build it (call it on an "
                         "input) before converting")
    expected = 3 if layer.use_bias else 2
    if len(weights) != expected:
        raise ValueError(f"the Keras {class_name} layer has {len(weights)} weight arrays, expected "
                         f"{expected} (kernel, recurrent_kernel{', bias' if layer.use_bias else ''})")
    reset_after = bool(getattr(layer, "reset_after", True))
    return weights, int(layer.units), activation, reset_after


def _check(name: str, array: np.ndarray, expected: tuple) -> None:
    """ValueError naming the array when its shape is not `expected` (None matches any size)."""
    if array.ndim != len(expected) or any(e is not None and e != g for e, g in zip(expected, array.shape)):
        shown = tuple("H_in" if e is None else e for e in expected)
        raise ValueError(f"{name} must have shape ({', '.join(map(str, shown))}"
                         f"{',' if len(shown) == 1 else ''}), got {_shape(array.shape)}")


def from_keras(cls, layer_or_weights):
    """Build `cls` (rnnzoo.LSTM, GRU or Elman) from a Keras LSTM / GRU / SimpleRNN.

    layer_or_weights: a built Keras layer, or its arrays (kernel, recurrent_kernel, bias) as from
    `layer.get_weights()` (two arrays when use_bias=False). With arrays the activations are taken to
    be Keras' defaults, units is recurrent_kernel.shape[0], and a GRU's reset_after follows the bias
    shape: (2, 3u) True, (3u,) False; with no bias Keras' default reset_after=True is assumed (pass
    the layer, or a zero (3u,) bias, for reset_after=False). Mapping: see the module docstring.
    """
    kind = cls._cell
    if kind not in _KERAS:
        raise TypeError(f"{cls.__name__}.from_keras: no Keras counterpart for cell {kind!r}")
    class_name, G, order = _KERAS[kind]
    activation, reset_after, units = "tanh", None, None
    if isinstance(layer_or_weights, (tuple, list)):
        weights = list(layer_or_weights)
        if len(weights) not in (2, 3):
            raise ValueError(f"expected the Keras {class_name} arrays (kernel, recurrent_kernel, bias) "
                             f"or (kernel, recurrent_kernel), got {len(weights)} arrays")
    elif hasattr(layer_or_weights, "get_weights"):
        weights, units, activation, reset_after = _read_layer(kind, layer_or_weights)
    else:
        raise TypeError(f"{cls.__name__}.from_keras expects a Keras {class_name} layer or a tuple of its "
                        f"arrays, got {type(layer_or_weights).__name__}")

    weights = [np.asarray(w) for w in weights]
    kernel, recurrent = weights[0], weights[1]
    bias = weights[2] if len(weights) == 3 else None
    if units is None:
        if recurrent.ndim != 2:
            raise ValueError(f"recurrent_kernel must have shape (units, {G} * units), "
                             f"got {_shape(recurrent.shape)}")
        units = recurrent.shape[0]
    u = units
    _check("kernel", kernel, (None, G * u))
    _check("recurrent_kernel", recurrent, (u, G * u))
    if kind == "gru" and reset_after is None:  # arrays: the bias shape says which GRU it is
        reset_after = bias is None or bias.ndim == 2
    if bias is not None:
        _check("bias", bias, (2, G * u) if kind == "gru" and reset_after else (G * u,))
    if bias is None:
        bias = np.zeros((2, G * u) if kind == "gru" and reset_after else (G * u,), kernel.dtype)

    params = {"weight_ih": _reorder(kernel, order).T, "weight_hh": _reorder(recurrent, order).T}
    if kind == "gru" and reset_after:
        b_in, b_rec = _reorder(bias[0], order), _reorder(bias[1], order)  # now r, z, n
        params["bias"] = np.concatenate([b_in[: 2 * u] + b_rec[: 2 * u], b_in[2 * u:]])
        params["bias_hn"] = b_rec[2 * u:]
    else:
        params["bias"] = _reorder(bias, order)

    options = {"activation": activation} if kind == "elman" else {}
    if kind == "gru":
        options["reset_after"] = reset_after
    dtype = torch.float64 if kernel.dtype == np.float64 else torch.float32
    layer = cls(kernel.shape[0], u, batch_first=True, **options).to(dtype)
    state = {f"cells.0.{k}": torch.from_numpy(np.ascontiguousarray(v)).to(dtype) for k, v in params.items()}
    layer.load_state_dict(state)
    return layer
