"""Sequence engine for ElmanCell (tanh or relu), with recurrent-dropout masks.
Equations: rnnzoo.cells.elman.ElmanCell, h' = act(xp + W_hh h_rec).
"""

from __future__ import annotations

import torch

from . import native
from .common import (
    ACTIVATIONS,
    activate,
    activation_grad,
    first_full,
    first_order,
    flat,
    masked_grad,
    masked_output,
    needs_grad,
    state_grad,
    step_masks,
    with_prev,
)
from .interface import Engine
from .linalg import Right, gram, gram_layout, linear


def native_beats_fused(cell):
    """On the compiled kernels inference beats nn.RNN's kernel too (batch 1, L = 1000, H = 128, 2 threads:
    1.46 vs 4.86 ms; forward at (64, 100, 128, 256): 6.2 vs 14.3 ms; benchmarks/cells.py)."""
    return True


def project(cell, x):
    return linear(x, cell.weight_ih, cell.bias)  # = cell.project(x)


def _forward(xp, h0, W, mask, valid, act):
    L, N, H = xp.shape
    kernels = native.kernels(xp)
    if kernels is not None:
        mask = None if mask is None else mask.expand(N, H)
        return kernels.elman_forward(**native.contiguous(xp=xp, h0=h0, W_hh=W, mask=mask, valid=valid,
                                                         act=ACTIVATIONS.index(act), W_hh_packed=Right(W, N).packed))
    Y = xp.new_empty((L, N, H))
    Ys, xps, Wm = Y.unbind(0), xp.unbind(0), Right(W, N)
    hr_buf = xp.new_empty((N, H)) if mask is not None else None
    m1 = xp.new_full((), -1.0)
    full, (vm, _) = first_full(valid, L), step_masks(valid, xp.dtype)
    h = h0
    hr = h if mask is None else torch.mul(h, mask, out=hr_buf)
    for t in range(L):
        hn = activate(act, Wm.add(xps[t], hr), Ys[t], m1)
        if t >= full:
            torch.where(vm[t], hn, h, out=hn)
        h = hn
        hr = h if mask is None else torch.mul(h, mask, out=hr_buf)
    return Y


class ElmanSequence(torch.autograd.Function):
    """(xp, h0, W_hh, mask, valid, activation) -> (y (L, N, H), h_T)."""

    @staticmethod
    def forward(ctx, xp, h0, W, mask, valid, act):
        Y = _forward(xp, h0, W, mask, valid, act)
        ctx.save_for_backward(h0, W, mask, valid, Y)
        ctx.act = act
        return masked_output(Y, valid), Y[-1].clone()

    @staticmethod
    @first_order
    def backward(ctx, dy, dhT):
        h0, W, mask, valid, Y = ctx.saved_tensors
        L, N, H = Y.shape
        dY = masked_grad(dy, valid)
        K = activation_grad(ctx.act, Y)
        if valid is not None:
            K = torch.where(valid.unsqueeze(-1), K, 0)
        dX = Y.new_empty((L, N, H))
        dXs, dYs, Ks = dX.unbind(0), dY.unbind(0), K.unbind(0)
        full, (_, inv) = first_full(valid, L), step_masks(valid, Y.dtype)
        WT = Right(W.t(), N)
        dh = dYs[L - 1] + dhT
        for t in range(L - 1, -1, -1):
            dx = torch.mul(dh, Ks[t], out=dXs[t])
            dh = state_grad(WT, dx, dYs[t - 1] if t else None, mask, dh, inv[t] if t >= full else None)
        hprev = with_prev(h0, Y)
        if mask is not None:
            hprev.mul_(mask)
        dX = gram_layout(dX, H)  # one transposed copy for both weight gradients (W_hh here, W_ih later)
        return dX, dh, gram(flat(dX), flat(hprev)), None, None, None


def run(cell, xs, state, valid, rec_mask):
    h0 = state[0]
    mask = None if rec_mask is None else rec_mask[0]
    if needs_grad(xs, h0, cell.weight_hh):
        y, h = ElmanSequence.apply(xs, h0, cell.weight_hh, mask, valid, cell.activation)
        return y, (h,)
    Y = _forward(xs, h0, cell.weight_hh, mask, valid, cell.activation)
    return masked_output(Y, valid), (Y[-1],)


# trains_faster: training (forward + backward) on the engine beats torch's fused nn.RNN on CPU at both
# benchmark sizes and thread counts (2 threads, three runs: 1.04-1.54x at (64, 100, 128, 256), 1.58-1.80x
# at (32, 500, 32, 64); the kernel 0.82-1.06x): fused="auto" trains here; inference stays on the kernel.
# native: rnnzoo.engine.native has this engine's forward loop.
# native_gain: training speed-up of the compiled loops over this engine in Python at hidden 16 and 256,
# batch 32 (benchmarks/cells.py --sizes 32,20,16,16 32,100,64,256 --filter elman)
ENGINE = Engine("rnnzoo.engine.elman", project, run, native=True,
                native_kernels=lambda cell: ("elman_forward", None), trains_faster=True,
                native_beats_fused=native_beats_fused, native_gain=((16, 1.12), (256, 1.12)))
