"""How one call of a recurrent layer runs: the one place that decides between the four paths.

    fused   torch's own kernel (rnnzoo.fused): plain LSTM, GRU and Elman, where it is the fastest
    native  the cell's sequence engine on the compiled kernels (rnnzoo.engine.native)
    engine  the cell's sequence engine in Python (rnnzoo.engine: one autograd Function a sequence)
    loop    the per-step loop over `cell.step`, the reference every other path is tested against

`Recurrent.forward` runs what `plan` says and `Recurrent.path` reports it, so the two cannot
disagree. The inputs to the decision are the layer's `fused` and `engine` settings, what its cells
declare (their fused kernel, their registry entry's `Engine`), and the call: dtype, device, whether a
backward pass will follow, whether the batch is padded, per-step inputs. The measured preferences
(`Engine.trains_faster`, `Engine.native_beats_fused`) are the only places where speed enters.

While torch.compile (or torch.jit.trace) traces a call, the native and engine paths are out (their
in-place loops, oneDNN handles and C++ kernels cannot be traced): a call takes fused or loop, and both
trace into one graph, so `torch.compile(layer, fullgraph=True)` works. A plain LSTM that will be
backpropagated takes the loop then too: torch's AOT autograd cannot trace the backward of its CPU kernel
(oneDNN's mkldnn_rnn_layer; torch 2.13).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from . import engine as engines
from .checks import tracing
from .engine.interface import Engine

PATHS = ("fused", "native", "engine", "loop")


class Plan(NamedTuple):
    """path: one of PATHS; engine: the sequence engine the native and engine paths run (None for
    fused and loop); reason: why this path, in words (shown by `Recurrent.explain`)."""
    path: str
    engine: Engine | None
    reason: str


def plan(layer, dtype=torch.float32, device_type: str = "cpu", backward: bool = False,
         padded: bool = False, step_inputs=(), like: torch.Tensor | None = None) -> Plan:
    """The path a call of `layer` takes for input of `dtype` on `device_type`.

    backward: whether autograd records the call for a backward pass; padded: whether it has lengths
    (or came as a PackedSequence); step_inputs: names of the per-step inputs it passes (e.g. "dt");
    like: the input itself when known (the compiled kernels' eligibility reads its dtype and device).
    Raises ValueError where the layer insists (fused=True, engine="fast" or "native") on a path this
    call cannot take.
    """
    fused_reason = layer.fused_ineligible_reason(dtype=dtype)
    if (fused_reason is None and backward and device_type == "cpu" and tracing()
            and layer.cells[0].fused_kind == "lstm" and torch.backends.mkldnn.enabled):
        fused_reason = "torch.compile cannot trace the backward of torch's CPU LSTM kernel (oneDNN)"
    if layer.fused is True and fused_reason:
        raise ValueError(f"fused=True, but this call cannot use torch's fused kernel: {fused_reason}")
    engine_reason = ("engine='loop'" if layer.engine == "loop" else
                     _first(engines.ineligible_reason(c, dtype, step_inputs, device_type) for c in layer.cells))

    if layer.fused is not False and layer.engine != "native" and not step_inputs and fused_reason is None:
        if layer.fused is True:
            return Plan("fused", None, "fused=True")
        # fused="auto": torch's kernel, except where the engine was measured to beat it on the CPU
        if device_type != "cpu" or engine_reason is not None:
            return Plan("fused", None, "torch's fused kernel computes this cell")
        if all(engines.native_beats_fused(c) for c in layer.cells):
            why = "the compiled kernels beat torch's kernel for this cell"
        elif backward and padded:
            why = ("a padded batch trains on the engine: torch's packed CPU backward is quadratic "
                   "in the length")
        elif backward and all(engines.trains_faster(c) for c in layer.cells):
            why = "this cell trains faster on the engine than on torch's kernel"
        else:
            return Plan("fused", None, "torch's fused kernel computes this cell")
    else:
        why = ("fused=False" if layer.fused is False else "engine='native'" if layer.engine == "native"
               else f"per-step inputs {sorted(step_inputs)}" if step_inputs else fused_reason)

    if engine_reason is not None:
        if layer.engine in ("fast", "native"):
            raise ValueError(f"engine={layer.engine!r}, but this call cannot use the sequence engine: "
                             f"{engine_reason}")
        return Plan("loop", None, f"{why}; no engine: {engine_reason}")
    like = torch.empty(0, dtype=dtype, device=device_type) if like is None else like
    native_reason = _first(engines.native_reason(c, like) for c in layer.cells)
    if native_reason is not None and layer.engine == "native":
        raise ValueError(f"engine='native', but this call cannot use the sequence engine: {native_reason}")
    engine = engines.engine_of(layer.cells[0])
    if native_reason is None:
        return Plan("native", engine, f"{why}; {engine.name} on the compiled kernels")
    return Plan("engine", engine, f"{why}; {engine.name} in Python ({native_reason})")


def _first(reasons):
    return next((r for r in reasons if r is not None), None)


def native_hint(layer, padded: bool = False) -> str | None:
    """One line for `rnnzoo train` when the compiled kernels would train `layer` faster and are not
    built: the command and the engine's measured gain (`Engine.native_gain`) nearest the layer's hidden
    size; None when they are built, turned off (RNNZOO_NATIVE=0), or would not run this layer."""
    from .engine import native
    if native.disabled() or native.load() is not None:
        return None
    chosen = plan(layer, backward=True, padded=padded)
    engine = chosen.engine
    if chosen.path != "engine" or not engine.native or not engine.native_gain \
            or not all(engine.native_kernels(c) for c in layer.cells):
        return None
    size, gain = min(engine.native_gain, key=lambda g: abs(math.log(g[0] / layer.hidden_size)))
    if gain < 1.2:  # a notice for 10-20% would be noise
        return None
    return (f"note: the compiled kernels are not built: `rnnzoo native build` (once, about 40 s; needs a C++ "
            f"compiler and ninja) would train this {layer.cells[0].__class__.__name__} layer about {gain:.1f}x "
            f"faster (measured at hidden size {size}, batch 32)")
