"""Sequence engine for CTRNNCell with Euler steps (any activation), per-step dt and recurrent dropout.
Equations: rnnzoo.cells.ctrnn.CTRNNCell. With c_t = dt_t / τ and r = act(h) (masked by dropout):

    h_t = h_{t-1} + c_t ⊙ (W r_{t-1} + u_t - h_{t-1}),    y_t = act(h_t),    u = V x + b

Padded steps get c_t = 0, which holds the state exactly. Backward, with g_t = dL/dh_t and
z_t = c_t ⊙ g_t (the gradient of u_t):

    g_{t-1} = act'(h_{t-1}) ⊙ (dy_{t-1} + mask ⊙ W^T z_t) + g_t - z_t
    dW = Σ_t z_t r_{t-1}^T,   d log τ = -Σ_t g_t ⊙ (h_t - h_{t-1}),   d dt_t = Σ_h g_t ⊙ (h_t - h_{t-1}) / dt_t

(h_t - h_{t-1} = c_t ⊙ (pre-activation - h_{t-1}): the factor that c multiplies, times c.)
"""

from __future__ import annotations

import torch

from . import (
    ACTIVATIONS,
    activate,
    activation_grad,
    first_order,
    flat,
    masked_grad,
    masked_output,
    native,
    needs_grad,
    tanh_into,
    with_prev,
)
from .linalg import Right, gram, gram_layout, linear

STEP_INPUTS = ("dt",)
NATIVE = True  # rnnzoo.engine.native has this engine's forward


def cell_reason(cell):
    if cell.method != "euler":
        return f"the engine integrates Euler steps; method={cell.method!r} runs the per-step loop"
    if cell.activation not in ACTIVATIONS:
        return f"the engine has no activation {cell.activation!r}"
    return None


def project(cell, x, dt=None):
    return linear(x, cell.weight_ih, cell.bias), cell.step_sizes(x, dt)  # = cell.project(x, dt)


def _act(name, h, out, m1):
    """out = act(h), leaving h as it is."""
    return tanh_into(h, out, m1) if name == "tanh" else activate(name, h, out, m1)


def _rates(dt, log_tau, valid):
    """c = dt / τ for every step (L, N, H); 0 at padded steps, which then hold the state."""
    C = dt * torch.exp(-log_tau)
    return C if valid is None else torch.where(valid.unsqueeze(-1), C, 0)


def _forward(u, C, h0, W, mask, act):
    L, N, H = u.shape
    kernels = native.kernels(u)
    if kernels is not None:
        mask = None if mask is None else mask.expand(N, H)
        Hh, Y = kernels.ctrnn_forward(*native.contiguous(u, C.expand(L, N, H), h0, W, mask), ACTIVATIONS.index(act),
                                      Right(W, N).packed)
        return Hh, Y
    Hh, Y = u.new_empty((L, N, H)), u.new_empty((L, N, H))
    Hs, Ys, us, Cs, Wm = Hh.unbind(0), Y.unbind(0), u.unbind(0), C.unbind(0), Right(W, N)
    m1 = u.new_full((), -1.0)
    h, r = h0, _act(act, h0, u.new_empty((N, H)), m1)
    r_buf = u.new_empty((N, H)) if mask is not None else None
    for t in range(L):
        rr = r if mask is None else torch.mul(r, mask, out=r_buf)
        step = Wm.add(us[t], rr).sub_(h).mul_(Cs[t])  # c (W r + u - h)
        h = torch.add(h, step, out=Hs[t])
        r = _act(act, h, Ys[t], m1)
    return Hh, Y


class CTRNNSequence(torch.autograd.Function):
    """(u, dt (L, N, 1), h0, W_hh, log_tau, mask, valid, activation) -> (y (L, N, H), h_T)."""

    @staticmethod
    def forward(ctx, u, dt, h0, W, log_tau, mask, valid, act):
        C = _rates(dt, log_tau, valid)
        Hh, Y = _forward(u, C, h0, W, mask, act)
        ctx.save_for_backward(dt, h0, W, log_tau, mask, valid, Hh, Y)
        ctx.act = act
        return masked_output(Y, valid), Hh[-1].clone()

    @staticmethod
    @first_order
    def backward(ctx, dy, dhT):
        dt, h0, W, log_tau, mask, valid, Hh, Y = ctx.saved_tensors
        L, N, H = Y.shape
        act = ctx.act
        C = _rates(dt, log_tau, valid)
        K = activation_grad(act, Y)
        G = masked_grad(dy, valid).mul(K)  # g_t starts as act'(h_t) dy_t; the loop adds the rest
        G[L - 1].add_(dhT)
        Z = torch.empty_like(G)
        Gs, Zs, Ks, Cs = G.unbind(0), Z.unbind(0), K.unbind(0), C.unbind(0)
        WT = Right(W.t(), N)
        r0 = _act(act, h0, torch.empty_like(h0), h0.new_full((), -1.0))
        K0 = activation_grad(act, r0)
        for t in range(L - 1, -1, -1):
            g = Gs[t]
            z = torch.mul(g, Cs[t], out=Zs[t])
            back = WT(z)  # W^T z, the gradient reaching r_{t-1}
            if mask is not None:
                back.mul_(mask)
            if t:
                Gs[t - 1].addcmul_(back, Ks[t - 1]).add_(g).sub_(z)
            else:
                dh0 = back.mul_(K0).add_(g).sub_(z)
        rprev = with_prev(r0, Y)
        if mask is not None:
            rprev.mul_(mask)
        dH = Hh - with_prev(h0, Hh)  # h_t - h_{t-1}: 0 at padded steps
        GdH = G.mul_(dH)  # G is not needed any more
        d_log_tau = GdH.sum((0, 1)).neg_() if ctx.needs_input_grad[4] else None
        d_dt = GdH.sum(2, keepdim=True).div_(dt) if ctx.needs_input_grad[1] else None
        Zg = gram_layout(Z, H)  # one transposed copy for both W_hh's gradient and W_ih's
        return Zg, d_dt, dh0, gram(flat(Zg), flat(rprev)), d_log_tau, None, None, None


def run(cell, xs, state, valid, rec_mask):
    u, dt = xs
    h0 = state[0]
    mask = None if rec_mask is None else rec_mask[0]
    if needs_grad(u, dt, h0, cell.weight_hh, cell.log_tau):
        y, h = CTRNNSequence.apply(u, dt, h0, cell.weight_hh, cell.log_tau, mask, valid, cell.activation)
        return y, (h,)
    Hh, Y = _forward(u, _rates(dt, cell.log_tau, valid), h0, cell.weight_hh, mask, cell.activation)
    return masked_output(Y, valid), (Hh[-1],)
