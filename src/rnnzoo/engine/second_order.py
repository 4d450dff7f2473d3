"""Sequence engine for SecondOrderCell, full weight or rank R (sigmoid or tanh), recurrent-dropout masks.
Equations: rnnzoo.cells.second_order.SecondOrderCell, h' = act(W (h_rec ⊗ x) + b) with W viewed as
(H, H * H_in) and (h ⊗ x) flattened j * H_in + k. Backward, with dz_t = act'(·) ⊙ g_t:

    g_{t-1} = dy_{t-1} + mask ⊙ Σ_k D_t[:, :, k] x_t[k],    dx_t = Σ_j h_rec[j] D_t[:, j, :],    D_t = dz_t W
    dW = Σ_t dz_t^T (h_rec ⊗ x_t),    db = Σ_t dz_t

The per-step loop keeps every step's outer product h ⊗ x for backward, N * H * H_in numbers a step (8 MB
at N = 64, H = 256, H_in = 128: 0.8 GB over 100 steps); here forward keeps the states alone and dW is
built a few steps at a time (`CHUNK_NUMBERS` of outer products at once), one matmul per chunk.

The rank-R cell, W = Σ_r a_r ∘ b_r ∘ c_r, is h' = act(A (p ⊙ u) + b) with p = B^T h_rec and u = C^T x
(the cell's project, all steps at once). Forward keeps p_t (L, N, R); backward, with dz_t as above:

    dq_t = dz_t A,    g_{t-1} = dy_{t-1} + mask ⊙ (dq_t ⊙ u_t) B^T,    du_t = dq_t ⊙ p_t
    dA = Σ_t dz_t^T (p_t ⊙ u_t),    dB = Σ_t h_rec^T (dq_t ⊙ u_t),    db = Σ_t dz_t
"""

from __future__ import annotations

import torch

from .common import (
    activation_grad,
    first_full,
    first_order,
    flat,
    masked_grad,
    masked_output,
    needs_grad,
    step_masks,
    with_prev,
)
from .interface import Engine

CHUNK_NUMBERS = 1 << 22  # outer products rebuilt for dW at once: 16 MB in float32


def project(cell, x):
    return cell.project(x)  # full W: x itself (the products need h, so each step does them); rank R: C^T x


def _outer(hr, x):
    """(..., H) ⊗ (..., K) -> (..., H * K), index j * K + k."""
    return (hr.unsqueeze(-1) * x.unsqueeze(-2)).flatten(-2)


def _forward(x, h0, W, b, mask, valid, act):
    L, N, _ = x.shape
    H = h0.shape[1]
    Wf = W.reshape(H, -1)
    Y = x.new_empty((L, N, H))
    f = torch.tanh if act == "tanh" else torch.sigmoid  # torch's own (the products cost the time here)
    full, (vm, _) = first_full(valid, L), step_masks(valid, x.dtype)
    h = h0
    for t in range(L):
        hr = h if mask is None else h * mask
        hn = f(torch.addmm(b, _outer(hr, x[t]), Wf.t()), out=Y[t])
        if t >= full:
            torch.where(vm[t], hn, h, out=hn)
        h = hn
    return Y


class SecondOrderSequence(torch.autograd.Function):
    """(x, h0, W (H, H, H_in), b, mask, valid, activation) -> (y (L, N, H), h_T)."""

    @staticmethod
    def forward(ctx, x, h0, W, b, mask, valid, act):
        Y = _forward(x, h0, W, b, mask, valid, act)
        ctx.save_for_backward(x, h0, W, mask, valid, Y)
        ctx.act = act
        return masked_output(Y, valid), Y[-1].clone()

    @staticmethod
    @first_order
    def backward(ctx, dy, dhT):
        x, h0, W, mask, valid, Y = ctx.saved_tensors
        L, N, K = x.shape
        H = Y.shape[-1]
        Wf = W.reshape(H, H * K)
        dY = masked_grad(dy, valid)
        Kd = activation_grad(ctx.act, Y)
        if valid is not None:
            Kd = torch.where(valid.unsqueeze(-1), Kd, 0)
        HR = with_prev(h0, Y)
        if mask is not None:
            HR.mul_(mask)
        dZ, dX = torch.empty_like(Y), torch.empty_like(x)
        full, (_, inv) = first_full(valid, L), step_masks(valid, Y.dtype)
        dh = dY[L - 1] + dhT
        for t in range(L - 1, -1, -1):
            dz = torch.mul(dh, Kd[t], out=dZ[t])
            D = (dz @ Wf).view(N, H, K)
            torch.matmul(HR[t].unsqueeze(1), D, out=dX[t].unsqueeze(1))  # Σ_j h_rec[j] D[:, j, :]
            back = torch.matmul(D, x[t].unsqueeze(2)).squeeze(2)  # Σ_k D[:, :, k] x[k]
            if mask is not None:
                back.mul_(mask)
            if t >= full:  # a padded step passed the state on untouched
                back.addcmul_(dh, inv[t])
            dh = back if t == 0 else back.add_(dY[t - 1])
        dW = torch.zeros_like(Wf)
        steps = max(1, CHUNK_NUMBERS // (N * H * K))
        for a in range(0, L, steps):  # dW = Σ_t dz_t^T (h_rec ⊗ x_t), a chunk of steps a product
            b_ = min(L, a + steps)
            dW.addmm_(dZ[a:b_].reshape(-1, H).t(), _outer(HR[a:b_], x[a:b_]).reshape(-1, H * K))
        return dX, dh, dW.view_as(W), dZ.sum((0, 1)), None, None, None


def _forward_rank(u, h0, A, B, b, mask, valid, act):
    """-> Y (L, N, H) and P (L, N, R), p_t = B^T h_rec of each step."""
    L, N, R = u.shape
    Y, P = u.new_empty((L, N, h0.shape[1])), torch.empty_like(u)
    f = torch.tanh if act == "tanh" else torch.sigmoid
    full, (vm, _) = first_full(valid, L), step_masks(valid, u.dtype)
    # per-step views and buffers made once: at batch 1 the ops' own overhead is the cost
    Ys, Ps, us, AT, q = Y.unbind(0), P.unbind(0), u.unbind(0), A.t(), u.new_empty((N, R))
    h = h0
    for t in range(L):
        hr = h if mask is None else h * mask
        torch.mul(torch.mm(hr, B, out=Ps[t]), us[t], out=q)
        hn = f(torch.addmm(b, q, AT, out=Ys[t]), out=Ys[t])
        if t >= full:
            torch.where(vm[t], hn, h, out=hn)
        h = hn
    return Y, P


class RankSequence(torch.autograd.Function):
    """(u = C^T x (L, N, R), h0, A (H, R), B (H, R), b, mask, valid, activation) -> (y (L, N, H), h_T)."""

    @staticmethod
    def forward(ctx, u, h0, A, B, b, mask, valid, act):
        Y, P = _forward_rank(u, h0, A, B, b, mask, valid, act)
        ctx.save_for_backward(u, h0, A, B, mask, valid, Y, P)
        ctx.act = act
        return masked_output(Y, valid), Y[-1].clone()

    @staticmethod
    @first_order
    def backward(ctx, dy, dhT):
        u, h0, A, B, mask, valid, Y, P = ctx.saved_tensors
        L = Y.shape[0]
        dY = masked_grad(dy, valid)
        Kd = activation_grad(ctx.act, Y)
        if valid is not None:
            Kd = torch.where(valid.unsqueeze(-1), Kd, 0)
        dZ, dQ, dP = torch.empty_like(Y), torch.empty_like(u), torch.empty_like(u)
        full, (_, inv) = first_full(valid, L), step_masks(valid, Y.dtype)
        BT = B.t()
        dh = dY[L - 1] + dhT
        for t in range(L - 1, -1, -1):
            dz = torch.mul(dh, Kd[t], out=dZ[t])
            back = torch.mul(torch.mm(dz, A, out=dQ[t]), u[t], out=dP[t]) @ BT  # dp_t = dq_t ⊙ u_t; dp_t B^T
            if mask is not None:
                back.mul_(mask)
            if t >= full:  # a padded step passed the state on untouched
                back.addcmul_(dh, inv[t])
            dh = back if t == 0 else back.add_(dY[t - 1])
        HR = with_prev(h0, Y)
        if mask is not None:
            HR.mul_(mask)
        dA = flat(dZ).t() @ flat(P * u)
        dB = flat(HR).t() @ flat(dP)
        return dQ * P, dh, dA, dB, dZ.sum((0, 1)), None, None, None


def run(cell, xs, state, valid, rec_mask):
    h0 = state[0]
    mask = None if rec_mask is None else rec_mask[0]
    if cell.rank is None:
        weights, function, forward = (cell.weight, cell.bias), SecondOrderSequence, _forward
    else:
        weights, function = (cell.weight_a, cell.weight_b, cell.bias), RankSequence
        forward = lambda *args: _forward_rank(*args)[0]  # noqa: E731  (Y; P is for backward)
    if needs_grad(xs, h0, *weights):
        y, h = function.apply(xs, h0, *weights, mask, valid, cell.activation)
        return y, (h,)
    Y = forward(xs, h0, *weights, mask, valid, cell.activation)
    return masked_output(Y, valid), (Y[-1],)


ENGINE = Engine("rnnzoo.engine.second_order", project, run)
