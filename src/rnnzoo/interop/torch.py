"""Conversions between rnnzoo's LSTM / GRU / Elman and torch.nn.LSTM / GRU / RNN.

Parameter mapping, for layer l (0-based) and direction d (0 forward, 1 backward), cell index
i = l * D + d, torch suffix s = "" (d = 0) or "_reverse" (d = 1). Gate blocks are stacked row-wise
in the same order on both sides: LSTM i, f, g, o; GRU r, z, n; RNN one block.

    ours: layer.cells[i].<name>    torch: module.<name>                     note
    weight_ih (G*H, H_in)           weight_ih_l{l}{s}                         copied as is
    weight_hh (G*H, H or P)         weight_hh_l{l}{s}                         copied as is
    weight_hr (P, H)                weight_hr_l{l}{s}                         LSTM with proj_size only
    bias      (G*H,)                bias_ih_l{l}{s} + bias_hh_l{l}{s}         GRU n block: bias_ih only
    bias_hn   (H,)                  bias_hh_l{l}{s}[2H:]                      GRU only

Our cells keep one bias per gate, so `from_torch` sums torch's two (a torch module with bias=False
gives zeros) and `to_torch` splits it as bias_ih = bias, bias_hh = 0 (GRU: bias_hh = [0, 0, bias_hn]).
Hence ours -> torch -> ours is bit-identical, while torch -> ours -> torch keeps every weight and the
sum bias_ih + bias_hh only up to the float rounding of that sum (outputs agree to ~1e-7 in float32).
"""

from __future__ import annotations

import torch
from torch import nn

# registry name -> (torch class, gate blocks G); the one table both directions read.
_TORCH = {"lstm": (nn.LSTM, 4), "gru": (nn.GRU, 3), "elman": (nn.RNN, 1)}
_WEIGHTS = ("weight_ih", "weight_hh")  # copied verbatim (plus weight_hr for LSTM with proj_size)


def _suffix(layer_index: int, direction: int) -> str:
    return f"_l{layer_index}" + ("_reverse" if direction else "")


def _cell_keys(num_layers: int, D: int):
    """(our state_dict prefix, torch name suffix) for every cell, in torch's order."""
    return [(f"cells.{l * D + d}.", _suffix(l, d)) for l in range(num_layers) for d in range(D)]


def _merge_bias(kind: str, H: int, b_ih: torch.Tensor, b_hh: torch.Tensor) -> dict:
    """torch's (bias_ih, bias_hh) -> our {"bias": ..., "bias_hn": ...}.

    Adds only where bias_hh is nonzero, so that x + 0 never turns -0.0 into +0.0 (exact round trip).
    """
    summed = torch.where(b_hh == 0, b_ih, b_ih + b_hh)
    if kind != "gru":
        return {"bias": summed}
    return {"bias": torch.cat([summed[: 2 * H], b_ih[2 * H:]]), "bias_hn": b_hh[2 * H:].clone()}


def _split_bias(kind: str, H: int, params: dict) -> tuple[torch.Tensor, torch.Tensor]:
    """Our {"bias", "bias_hn"} -> torch's (bias_ih, bias_hh)."""
    bias = params["bias"]
    if kind != "gru":
        return bias.clone(), torch.zeros_like(bias)
    return bias.clone(), torch.cat([torch.zeros_like(bias[: 2 * H]), params["bias_hn"]])


def from_torch(cls, module):
    """Build `cls` (rnnzoo.LSTM, GRU or Elman) with the weights and settings of a torch module.

    Keeps input_size, hidden_size, num_layers, bidirectional, batch_first, dropout, proj_size (LSTM),
    nonlinearity (RNN -> activation), dtype, device and training mode. Biases: see the module docstring.
    """
    kind = cls._cell
    if kind not in _TORCH:
        raise TypeError(f"{cls.__name__}.from_torch: no torch counterpart for cell {kind!r}")
    torch_cls, _ = _TORCH[kind]
    if not isinstance(module, torch_cls):
        raise TypeError(f"{cls.__name__}.from_torch expects a torch.nn.{torch_cls.__name__}, "
                        f"got {type(module).__module__}.{type(module).__name__}")
    options = {}  # only options off their default, so the layer reads as if written by hand
    if kind == "lstm" and module.proj_size:
        options["proj_size"] = module.proj_size
    elif kind == "elman" and module.nonlinearity != "tanh":
        options["activation"] = module.nonlinearity
    layer = cls(module.input_size, module.hidden_size, num_layers=module.num_layers,
                bidirectional=module.bidirectional, dropout=float(module.dropout),
                batch_first=module.batch_first, **options)
    first = next(module.parameters())
    layer.to(device=first.device, dtype=first.dtype)
    layer.train(module.training)

    src, H, D = module.state_dict(), module.hidden_size, 2 if module.bidirectional else 1
    ours = {}
    for prefix, s in _cell_keys(module.num_layers, D):
        names = _WEIGHTS + (("weight_hr",) if kind == "lstm" and module.proj_size else ())
        for name in names:
            ours[prefix + name] = src[name + s]
        b_ih = src.get("bias_ih" + s, torch.zeros_like(src["weight_ih" + s][:, 0]))
        b_hh = src.get("bias_hh" + s, torch.zeros_like(b_ih))
        ours.update({prefix + k: v for k, v in _merge_bias(kind, H, b_ih, b_hh).items()})
    layer.load_state_dict(ours)
    return layer


def _unrepresentable(layer) -> list[str]:
    """The options of `layer` that torch's module has no counterpart for."""
    problems = []
    if layer.cell_name not in _TORCH:
        problems.append(f"cell {layer.cell_name!r} (torch has lstm, gru and elman/rnn only)")
        return problems
    cell = layer.cells[0]
    for option in ("peephole", "coupled", "layer_norm"):
        if getattr(cell, option, False):
            problems.append(f"{option}=True (nn.LSTM has no {option} option)")
    if layer.cell_name == "gru" and not cell.reset_after:
        problems.append("reset_after=False (nn.GRU applies the reset gate after the matmul)")
    if layer.merge != "concat":
        problems.append(f"merge={layer.merge!r} (torch concatenates the two directions)")
    if layer.recurrent_dropout > 0:
        problems.append(f"recurrent_dropout={layer.recurrent_dropout} (torch has no recurrent dropout)")
    return problems


def to_torch(layer):
    """Return the torch.nn.LSTM / GRU / RNN that computes what `layer` computes.

    Keeps sizes, num_layers, bidirectional, batch_first, dropout, proj_size, activation (as
    nonlinearity), dtype, device and training mode; biases are split as in the module docstring.
    Raises ValueError naming each option torch cannot represent (peephole, coupled, layer_norm,
    GRU reset_after=False, merge other than "concat", recurrent_dropout > 0).
    """
    problems = _unrepresentable(layer)
    if problems:
        raise ValueError(f"to_torch: torch cannot represent this {type(layer).__name__}: "
                         + "; ".join(problems))
    kind = layer.cell_name
    torch_cls, _ = _TORCH[kind]
    cell0 = layer.cells[0]
    first = cell0.weight_ih
    options = {"device": first.device, "dtype": first.dtype}
    if kind == "lstm":
        options["proj_size"] = cell0.proj_size
    elif kind == "elman":
        options["nonlinearity"] = cell0.activation
    module = torch_cls(layer.input_size, layer.hidden_size, num_layers=layer.num_layers, bias=True,
                       batch_first=layer.batch_first, dropout=layer.dropout,
                       bidirectional=layer.bidirectional, **options)
    module.train(layer.training)

    src, H = layer.state_dict(), layer.hidden_size
    theirs = {}
    for prefix, s in _cell_keys(layer.num_layers, layer.num_directions):
        for name in _WEIGHTS + (("weight_hr",) if kind == "lstm" and cell0.proj_size else ()):
            theirs[name + s] = src[prefix + name]
        params = {k: src[prefix + k] for k in ("bias", "bias_hn") if prefix + k in src}
        theirs["bias_ih" + s], theirs["bias_hh" + s] = _split_bias(kind, H, params)
    module.load_state_dict(theirs)
    return module
