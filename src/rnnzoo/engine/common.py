"""Helpers shared by the sequence engines: masks of padded steps, the state gradient, activations
written into preallocated buffers, and the first-order guard of their backward passes. The dispatch
(which engine runs a cell) is in rnnzoo.engine; the engine interface in rnnzoo.engine.interface."""

from __future__ import annotations

import functools

import torch

DTYPES = (torch.float32, torch.float64)


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
