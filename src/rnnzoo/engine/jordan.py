"""Sequence engine for JordanCell (any activations), with recurrent-dropout masks.
Equations: rnnzoo.cells.jordan.JordanCell, h = act_h(xp + W_hy y_rec), y' = act_y(W_yh h + b_y).
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


def cell_reason(cell):
    for name in (cell.activation, cell.output_activation):
        if name not in ACTIVATIONS:
            return f"the engine has no activation {name!r}"
    return None


def project(cell, x):
    return linear(x, cell.weight_ih, cell.bias)  # = cell.project(x)


def _forward(xp, y0, W_hy, W_yh, b_y, mask, valid, acts, keep):
    L, N, H = xp.shape
    O = y0.shape[-1]
    kernels = native.kernels(xp)
    if kernels is not None:
        mask = None if mask is None else mask.expand(N, O)
        Y, Hh = kernels.jordan_forward(**native.contiguous(
            xp=xp, y0=y0, W_hy=W_hy, W_yh=W_yh, b_y=b_y, mask=mask, valid=valid, act_h=ACTIVATIONS.index(acts[0]),
            act_y=ACTIVATIONS.index(acts[1]), keep=keep, W_hy_packed=Right(W_hy, N).packed,
            W_yh_packed=Right(W_yh, N).packed))
        return Y, Hh
    Y, Hh = xp.new_empty((L, N, O)), xp.new_empty((L if keep else 1, N, H))
    Ys, xps, Why, Wyh = Y.unbind(0), xp.unbind(0), Right(W_hy, N), Right(W_yh, N, b_y)
    Hs = Hh.unbind(0) if keep else [Hh[0]] * L
    yr_buf = xp.new_empty((N, O)) if mask is not None else None
    m1 = xp.new_full((), -1.0)
    full, (vm, _) = first_full(valid, L), step_masks(valid, xp.dtype)
    y = y0
    yr = y if mask is None else torch.mul(y, mask, out=yr_buf)
    for t in range(L):
        h = activate(acts[0], Why.add(xps[t], yr), Hs[t], m1)
        yn = activate(acts[1], Wyh(h), Ys[t], m1)
        if t >= full:
            torch.where(vm[t], yn, y, out=yn)
        y = yn
        yr = y if mask is None else torch.mul(y, mask, out=yr_buf)
    return Y, Hh


def _backward_steps(dY, dyT, Ky, Kh, WhyT, WyhT, mask, valid):
    """The loop t = L-1 .. 0: (dX (L, N, H), dP (L, N, O), dy_0), the gradients of xp + W_hy y_rec and of
    W_yh h + b_y at every step and the one reaching y_0 (Ky is zero on padded steps)."""
    L, N, O = dY.shape
    dX, dP = dY.new_empty((L, N, Kh.shape[-1])), dY.new_empty((L, N, O))
    dXs, dPs, dYs, Kys, Khs = (v.unbind(0) for v in (dX, dP, dY, Ky, Kh))
    full, (_, inv) = first_full(valid, L), step_masks(valid, dY.dtype)
    d = dYs[L - 1] + dyT
    for t in range(L - 1, -1, -1):
        dp = torch.mul(d, Kys[t], out=dPs[t])  # the gradient of W_yh h + b_y
        dx = torch.mul(WyhT(dp), Khs[t], out=dXs[t])
        d = state_grad(WhyT, dx, dYs[t - 1] if t else None, mask, d, inv[t] if t >= full else None)
    return dX, dP, d


class JordanSequence(torch.autograd.Function):
    """(xp, y0, W_hy, W_yh, b_y, mask, valid, (act_h, act_y)) -> (y (L, N, O), y_T)."""

    @staticmethod
    def forward(ctx, xp, y0, W_hy, W_yh, b_y, mask, valid, acts):
        Y, Hh = _forward(xp, y0, W_hy, W_yh, b_y, mask, valid, acts, True)
        ctx.save_for_backward(y0, W_hy, W_yh, mask, valid, Y, Hh)
        ctx.acts = acts
        return masked_output(Y, valid), Y[-1].clone()

    @staticmethod
    @first_order
    def backward(ctx, dy, dyT):
        y0, W_hy, W_yh, mask, valid, Y, Hh = ctx.saved_tensors
        N, O = Y.shape[1:]
        dY = masked_grad(dy, valid)
        WhyT, WyhT = Right(W_hy.t(), N), Right(W_yh.t(), N)
        kernels = native.kernels(Y)
        if kernels is not None:  # the activations' derivatives computed in its loop
            m = None if mask is None else mask.expand(N, O)
            dX, dP, d = kernels.jordan_backward(**native.contiguous(
                dY=dY, dy_T=dyT, Y=Y, Hh=Hh, W_yh_t=W_yh.t(), W_hy_t=W_hy.t(), mask=m, valid=valid,
                act_h=ACTIVATIONS.index(ctx.acts[0]), act_y=ACTIVATIONS.index(ctx.acts[1]),
                W_yh_t_packed=WyhT.packed, W_hy_t_packed=WhyT.packed))
        else:
            Ky, Kh = activation_grad(ctx.acts[1], Y), activation_grad(ctx.acts[0], Hh)
            if valid is not None:
                Ky = torch.where(valid.unsqueeze(-1), Ky, 0)
            dX, dP, d = _backward_steps(dY, dyT, Ky, Kh, WhyT, WyhT, mask, valid)
        yprev = with_prev(y0, Y)
        if mask is not None:
            yprev.mul_(mask)
        dX = gram_layout(dX, O)  # one transposed copy for both W_hy's gradient and W_ih's
        dW_hy, dW_yh = gram(flat(dX), flat(yprev)), gram(flat(dP), flat(Hh))
        return dX, d, dW_hy, dW_yh, dP.sum((0, 1)), None, None, None


def run(cell, xs, state, valid, rec_mask):
    y0 = state[0]
    mask = None if rec_mask is None else rec_mask[0]
    acts = (cell.activation, cell.output_activation)
    weights = (cell.weight_hy, cell.weight_yh, cell.bias_y)
    if needs_grad(xs, y0, *weights):
        y, yT = JordanSequence.apply(xs, y0, *weights, mask, valid, acts)
        return y, (yT,)
    Y = _forward(xs, y0, *weights, mask, valid, acts, False)[0]
    return masked_output(Y, valid), (Y[-1],)


# native_gain: training speed-up of the compiled loops over this engine in Python at hidden 16 and 256,
# batch 32 (benchmarks/cells.py --sizes 32,20,16,16 32,100,64,256 --filter jordan)
ENGINE = Engine("rnnzoo.engine.jordan", project, run, cell_reason=cell_reason, native=True,
                native_kernels=lambda cell: ("jordan_forward", "jordan_backward"),
                native_gain=((16, 1.55), (256, 1.3)))
