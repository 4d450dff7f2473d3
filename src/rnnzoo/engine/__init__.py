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

The driver (`Recurrent._run_cell`) asks `runner(cell)` for a runner and calls it as

    xs = runner.project(cell, x)                                      # = cell.project(x)
    ys, final_state = runner.run(cell, xs, state, valid, rec_mask)

with xs (L, N, ...), state the initial state tuple, valid None or an (L, N) bool
mask of real steps (padded steps keep the state and output zeros, the loop's rule) and rec_mask the
driver's recurrent-dropout masks (or None). A cell class may also provide this itself as a method
`run_sequence(xs, state, valid, rec_mask)` (xs from its own project); the driver prefers it. The
per-step loop stays the reference: tests/test_engine.py checks every engine against it and
gradchecks every backward. Matrix products go through rnnzoo.engine.linalg (oneDNN or torch.mm).

Backward is once-differentiable: double backward (gradient penalties) needs engine="loop".
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import torch

DTYPES = (torch.float32, torch.float64)


def _table():
    """{cell class: (runner, reason or None)}, built on first use (the cells import the driver)."""
    global _TABLE
    if _TABLE is None:
        from ..cells.ctrnn import CTRNNCell
        from ..cells.elman import ElmanCell
        from ..cells.fully_recurrent import FullyRecurrentCell
        from ..cells.gru import GRUCell
        from ..cells.jordan import JordanCell
        from ..cells.lstm import LSTMCell
        from ..cells.rmlp import RMLPCell
        from ..cells.second_order import SecondOrderCell
        from . import ctrnn, elman, fully_recurrent, gru, jordan, lstm, rmlp, second_order
        _TABLE = {LSTMCell: lstm, GRUCell: gru, ElmanCell: elman, JordanCell: jordan, CTRNNCell: ctrnn,
                  RMLPCell: rmlp, SecondOrderCell: second_order, FullyRecurrentCell: fully_recurrent}
    return _TABLE


_TABLE = None


class Runner(NamedTuple):
    """project(cell, x) -> xs, the same values as cell.project(x) (the engines' own run its products
    on oneDNN where that pays); run(cell, xs, state, valid, rec_mask) -> (ys, final state tuple)."""
    project: Callable
    run: Callable


def runner(cell) -> Runner | None:
    """The sequence runner for `cell`, or None when no engine covers it (see `ineligible_reason`)."""
    if ineligible_reason(cell) is not None:
        return None
    own = getattr(cell, "run_sequence", None)
    if own is not None:
        return Runner(lambda cell, x, **kw: cell.project(x, **kw), lambda cell, *args: own(*args))
    module = _table()[type(cell)]
    return Runner(module.project, module.run)


def trains_faster(cell) -> bool:
    """Whether this cell's engine trains (forward + backward, CPU) faster than torch's fused kernel
    for the same cell, so that fused="auto" picks it for training: the engine module's measured
    TRAINS_FASTER (Elman: 1.0-1.8x nn.RNN at 2 threads; benchmarks/cells.py)."""
    module = _table().get(type(cell))
    return bool(getattr(module, "TRAINS_FASTER", False)) and getattr(cell, "run_sequence", None) is None


def native_reason(cell, like: torch.Tensor | None = None) -> str | None:
    """Why the engine will not run `cell` on the compiled kernels (rnnzoo.engine.native) for tensors
    like `like` (None: any float32 CPU tensor), or None when it will."""
    from . import native
    module = _table().get(type(cell))
    if getattr(cell, "run_sequence", None) is not None or not getattr(module, "NATIVE", False):
        names = sorted(c.__name__ for c, m in _table().items() if getattr(m, "NATIVE", False))
        return f"no compiled kernels for {type(cell).__name__} (they cover {', '.join(names)})"
    reason = native.unavailable_reason()
    if reason is None and like is not None and native.kernels(like) is None:
        reason = f"the compiled kernels run float32 or float64 on the CPU, got {like.dtype} on {like.device.type}"
    return reason


def native_beats_fused(cell) -> bool:
    """Whether the compiled kernels beat torch's fused kernel for this cell in every call (measured,
    benchmarks/cells.py): Elman (batch-1 inference 3.3x nn.RNN; training already prefers the engine),
    and LSTM with proj_size, which torch runs outside oneDNN (0.25-0.33x of nn.LSTM at batch 1,
    where the compiled engine is 1.7-2.5x)."""
    module = _table().get(type(cell))
    return bool(getattr(module, "native_beats_fused", lambda c: False)(cell)) and native_reason(cell) is None


def ineligible_reason(cell, dtype=None, step_inputs=(), device_type=None) -> str | None:
    """Why no engine can run `cell` (for input of `dtype` on `device_type` with per-step inputs named
    in `step_inputs`), or None when one can."""
    takes = ()  # the per-step inputs the engine handles (e.g. CTRNN's dt)
    if getattr(cell, "run_sequence", None) is None:
        module = _table().get(type(cell))  # the exact class: a subclass may change the equations
        if module is None:
            return (f"no sequence engine for {type(cell).__name__} (engines: "
                    f"{', '.join(sorted(c.__name__ for c in _table()))})")
        reason = module.cell_reason(cell)
        if reason:
            return reason
        takes = getattr(module, "STEP_INPUTS", ())
    if set(step_inputs) - set(takes):
        return f"per-step inputs {sorted(set(step_inputs) - set(takes))} are not supported by the engine"
    if dtype is not None and dtype not in DTYPES:
        return f"the engine runs float32 or float64, got {dtype}"
    if device_type is not None and torch.is_autocast_enabled(device_type):
        return "autocast is active (the engine computes in the input's dtype)"
    if _functorch_active():
        return "a torch.func transform (grad, vmap, jacrev, ...) is active"
    return None


def _functorch_active() -> bool:
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active()) if active is not None else False


# --- helpers shared by the engines -------------------------------------------------------------

def first_order(backward):
    """Decorate a Function's backward that is not itself differentiable. torch's once_differentiable
    only guards where the incoming gradients require grad; here create_graph=True always raises, so
    a double backward (e.g. a gradient penalty) cannot silently miss this function's second-order
    terms."""
    @functools.wraps(backward)
    def wrapper(ctx, *grads):
        if torch.is_grad_enabled():
            raise RuntimeError("the sequence engine's backward is not differentiable (create_graph=True / "
                               "double backward); build the layer with engine='loop' for that")
        return backward(ctx, *grads)
    return wrapper


def full_steps(valid) -> int:
    """Steps at the start where every sequence is real (valid from right-padded lengths)."""
    if valid is None:
        return -1  # sentinel: no step is ever masked
    return int(valid.all(dim=1).long().sum())


def first_full(valid, L: int) -> int:
    """The first step that may hold a padded row: L when nothing is padded."""
    return L if valid is None else full_steps(valid)


def step_masks(valid, dtype):
    """(per-step (N, 1) bool masks, per-step (N, 1) float 'padded' masks), or (None, None)."""
    if valid is None:
        return None, None
    v = valid.unsqueeze(-1)
    return v.unbind(0), (~v).to(dtype).unbind(0)


def needs_grad(*tensors) -> bool:
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def masked_output(ys, valid):
    """The output the loop gives: zeros at padded steps."""
    return ys if valid is None else torch.where(valid.unsqueeze(-1), ys, 0)


def masked_grad(grad, valid):
    """The gradient of a masked output: padded steps pass nothing back. Contiguous: an expanded
    gradient (of y.sum(), say) would otherwise be copied by oneDNN at every step."""
    return grad.contiguous() if valid is None else torch.where(valid.unsqueeze(-1), grad, 0)


def state_grad(WT, dx, dy_prev, mask, dh, pad):
    """The gradient reaching the previous state, a new tensor: mask ⊙ (dx W) (WT: rnnzoo.engine.linalg
    Right of W^T) + dy_prev (the output gradient of the step before; None at t = 0), plus dh where the
    step was padded (pad: that step's 'padded' mask from `step_masks`, or None when no row is padded),
    since a padded step held the state and passes its gradient through."""
    if mask is None:
        g = WT.add(dy_prev, dx) if dy_prev is not None else WT(dx)
    else:
        g = WT(dx).mul_(mask)
        if dy_prev is not None:
            g.add_(dy_prev)
    if pad is not None:
        g.addcmul_(dh, pad)
    return g


def with_prev(first, rest):
    """(L, N, F) [first, rest[0], ..., rest[L-2]]: each step's previous state, one copy."""
    return torch.cat([first.unsqueeze(0), rest[:-1]], dim=0)


def step_rows(buf, L, lo=None, hi=None, k=None):
    """Per-step views of buf[..., lo:hi] (optionally split into (k, H)): all L when buf holds every
    step, or the same single view L times when it is a one-step scratch buffer."""
    v = buf if lo is None else buf[..., lo:hi]
    if k is not None:
        v = v.unflatten(-1, (k, -1))
    return v.unbind(0) if v.shape[0] == L else [v[0]] * L


def flat(t):
    return t.reshape(-1, t.shape[-1])


TANH_BY_SIGMOID = 1024  # numbers from which tanh = 2 σ(2 v) - 1 pays (measured: 37 vs 9 us at 64 x 256)


def tanh_into(t, out, minus_one, scratch=False):
    """out = tanh(t), as 2 σ(2 t) - 1 for large t: torch.sigmoid is several times faster than
    torch.tanh there (measured on an AVX-512 CPU; agrees to 2e-7). scratch=True lets it overwrite t."""
    if t.numel() < TANH_BY_SIGMOID:
        return torch.tanh(t, out=out)
    torch.sigmoid(t.mul_(2) if scratch else torch.mul(t, 2), out=out)
    return torch.add(minus_one, out, alpha=2, out=out)


def activate(name: str, t, out, minus_one):
    """out = activation `name` (rnnzoo.cells.base.ACTIVATIONS) of t, a scratch tensor; returns out."""
    if name == "tanh":
        return tanh_into(t, out, minus_one, scratch=True)
    if name == "sigmoid":
        return torch.sigmoid(t, out=out)
    if name == "relu":
        return torch.clamp_min(t, 0, out=out)  # torch.relu has no out=
    return out.copy_(t)  # identity


def activation_grad(name: str, y):
    """act'(pre-activation) written in terms of the activation's output y = act(pre)."""
    if name == "tanh":
        return torch.addcmul(torch.ones_like(y), y, y, value=-1)
    if name == "sigmoid":
        return torch.addcmul(y, y, y, value=-1)
    if name == "relu":
        return (y > 0).to(y.dtype)  # torch's relu backward: 0 at 0
    return torch.ones_like(y)


ACTIVATIONS = ("tanh", "sigmoid", "relu", "identity")
