"""Sequence engines: whole-sequence forward and hand-written backward for the common cells.

`Recurrent`'s generic path runs `cell.step` once per time step under autograd: every step builds a
dozen autograd nodes, and backward computes the recurrent weight gradient as one small matmul per
step. An engine runs the same equations over the whole sequence inside one torch.autograd.Function:

  forward   one loop over t writing the gates and states into preallocated (L, N, ...) buffers with
            in-place and out= ops (no graph, a few kernels per step);
  backward  one loop t = L-1 .. 0 computing only the gate gradients (state-independent factors such
            as σ'(·) are computed for all steps at once before the loop), then every weight gradient
            as ONE large matmul or reduction over all L * N rows; the input projection's gradient
            is returned as dxp and flows through `cell.project`'s own autograd.

Each engine module declares itself as one `rnnzoo.engine.interface.Engine` (its project and run
functions, what it covers, whether the compiled kernels run its loops), and the cell's registry entry
names it (`Entry.engine`). This package is the dispatch: `engine_of(cell)` finds a cell's engine through
the registry, by the cell's exact class, and the functions below say whether it can run a call;
`rnnzoo.plan` combines them with torch's fused kernels into the one decision of how a call runs. A cell
class may also bring its own `run_sequence(xs, state, valid, rec_mask)` (xs from its own project); the
dispatch prefers it. The per-step loop stays the reference: tests/test_engine.py checks every engine
against it and gradchecks every backward. Matrix products go through rnnzoo.engine.linalg (oneDNN or
torch.mm); helpers shared by the engines are in rnnzoo.engine.common.

Backward is once-differentiable: double backward (gradient penalties) needs engine="loop".
"""

from __future__ import annotations

import torch

from .. import registry
from ..checks import tracing
from .common import DTYPES
from .interface import Engine

__all__ = ["Engine", "engine_of", "runner", "ineligible_reason", "native_reason", "trains_faster",
           "native_beats_fused"]


def engine_of(cell) -> Engine | None:
    """The engine that runs `cell`: its own `run_sequence` if it has one, else the one its registry
    entry declares for its exact class (a subclass may change the equations), else None."""
    own = getattr(cell, "run_sequence", None)
    if own is not None:
        return Engine(f"{type(cell).__name__}.run_sequence", lambda cell, x, **kw: cell.project(x, **kw),
                      lambda cell, *args: cell.run_sequence(*args))
    entry = registry.entry_of(type(cell))
    return None if entry is None else entry.engine


def runner(cell) -> Engine | None:
    """The engine for `cell` when it can run it (see `ineligible_reason`): call
    `.project(cell, x, **step_inputs)` then `.run(cell, xs, state, valid, rec_mask)`."""
    return engine_of(cell) if ineligible_reason(cell) is None else None


def _covered(native_only: bool = False) -> str:
    names = {e.cell.__name__ for e in registry.entries()
             if e.engine is not None and (e.engine.native or not native_only)}
    return ", ".join(sorted(names))


def trains_faster(cell) -> bool:
    """Whether this cell's engine trains (forward + backward, CPU) faster than torch's fused kernel
    for the same cell, so that fused="auto" picks it for training: the engine's measured
    `trains_faster` (Elman: 1.0-1.8x nn.RNN at 2 threads; benchmarks/cells.py)."""
    engine = engine_of(cell)
    return engine is not None and engine.trains_faster


def native_reason(cell, like: torch.Tensor | None = None) -> str | None:
    """Why the engine will not run `cell` on the compiled kernels (rnnzoo.engine.native) for tensors
    like `like` (None: any float32 CPU tensor), or None when it will."""
    from . import native
    engine = engine_of(cell)
    if engine is None or not engine.native:
        return f"no compiled kernels for {type(cell).__name__} (they cover {_covered(native_only=True)})"
    if not engine.native_kernels(cell):
        return f"no compiled kernels for {type(cell).__name__} with these options ({cell.extra_repr()})"
    reason = native.unavailable_reason()
    if reason is None and like is not None and native.kernels(like) is None:
        reason = f"the compiled kernels run float32 or float64 on the CPU, got {like.dtype} on {like.device.type}"
    return reason


def native_beats_fused(cell) -> bool:
    """Whether the compiled kernels beat torch's fused kernel for this cell in every call (the engine's
    measured `native_beats_fused`: Elman, and LSTM with proj_size, which torch runs outside oneDNN)
    and they are built here."""
    engine = engine_of(cell)
    return engine is not None and bool(engine.native_beats_fused(cell)) and native_reason(cell) is None


def ineligible_reason(cell, dtype=None, step_inputs=(), device_type=None) -> str | None:
    """Why no engine can run `cell` (for input of `dtype` on `device_type` with per-step inputs named
    in `step_inputs`), or None when one can."""
    engine = engine_of(cell)
    if engine is None:
        return f"no sequence engine for {type(cell).__name__} (engines: {_covered()})"
    reason = engine.cell_reason(cell)
    if reason:
        return reason
    if set(step_inputs) - set(engine.step_inputs):
        return f"per-step inputs {sorted(set(step_inputs) - set(engine.step_inputs))} are not supported by the engine"
    if dtype is not None and dtype not in DTYPES:
        return f"the engine runs float32 or float64, got {dtype}"
    if tracing():  # its in-place loops, oneDNN handles and compiled kernels are opaque to a trace
        return "torch.compile or torch.jit.trace is tracing the call (the engine cannot be traced)"
    if device_type is not None and torch.is_autocast_enabled(device_type):
        return "autocast is active (the engine computes in the input's dtype)"
    if _functorch_active():
        return "a torch.func transform (grad, vmap, jacrev, ...) is active"
    return None


def _functorch_active() -> bool:
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active()) if active is not None else False
