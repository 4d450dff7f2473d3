"""Sequence engine for CTRNNCell, Euler or RK4 steps (any activation), per-step dt and recurrent dropout.
Equations: rnnzoo.cells.ctrnn.CTRNNCell. With c_t = dt_t / τ and r = act(h) (masked by dropout):

    h_t = h_{t-1} + c_t ⊙ (W r_{t-1} + u_t - h_{t-1}),    y_t = act(h_t),    u = V x + b

Padded steps get c_t = 0, which holds the state exactly, as does dt_t = 0 (a gap of no time) at a real
step. Backward, with g_t = dL/dh_t and z_t = c_t ⊙ g_t (the gradient of u_t):

    g_{t-1} = act'(h_{t-1}) ⊙ (dy_{t-1} + mask ⊙ W^T z_t) + g_t - z_t
    dW = Σ_t z_t r_{t-1}^T,   d log τ = -Σ_t g_t ⊙ (h_t - h_{t-1}),   d dt_t = Σ_h g_t ⊙ (h_t - h_{t-1}) / dt_t

(h_t - h_{t-1} = c_t ⊙ (pre-activation - h_{t-1}): the factor that c multiplies, times c. Where dt_t = 0
that factor is recomputed, d dt_t = Σ_h g_t ⊙ (W r_{t-1} + u_t - h_{t-1}) / τ, from u, kept for it.)

RK4, with f(v) = W (act(v) ⊙ m) + u_t - v (the cell's f times τ) and a = c_t:

    k1 = f(h),  k2 = f(h + a/2 k1),  k3 = f(h + a/2 k2),  k4 = f(h + a k3),  h_t = h + a/6 (k1 + 2 k2 + 2 k3 + k4)

Forward keeps the stages' k1..k4 (K) and act(v) of stages 2-4 (S; stage 1's is y_{t-1}). Backward per
step, with J(v)^T d = act'(v) ⊙ m ⊙ (W^T d) - d and g = dL/dh_t:

    dk4 = a/6 g,          dv4 = J(v4)^T dk4
    dk3 = a/3 g + a dv4,  dv3 = J(v3)^T dk3
    dk2 = a/3 g + a/2 dv3, dv2 = J(v2)^T dk2
    dk1 = a/6 g + a/2 dv2, dv1 = J(h)^T dk1
    g_{t-1} += g + dv1 + dv2 + dv3 + dv4,   du_t = Σ dk_i,   dW = Σ_t Σ_i dk_i (act(v_i) ⊙ m)^T
    da = g ⊙ (k1 + 2 k2 + 2 k3 + k4) / 6 + k3 ⊙ dv4 + k2 ⊙ dv3 / 2 + k1 ⊙ dv2 / 2

and a = dt / τ passes da on to log τ and dt as in Euler.
"""

from __future__ import annotations

import torch

from . import native
from .common import (
    ACTIVATIONS,
    activate,
    activation_grad,
    first_order,
    flat,
    masked_grad,
    masked_output,
    needs_grad,
    tanh_into,
    with_prev,
)
from .interface import Engine
from .linalg import Right, gram, gram_layout, linear


def cell_reason(cell):
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
        Hh, Y = kernels.ctrnn_forward(**native.contiguous(u=u, c=C.expand(L, N, H), h0=h0, W_hh=W, mask=mask,
                                                          act=ACTIVATIONS.index(act), W_hh_packed=Right(W, N).packed))
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


def _forward_rk4(u, C, h0, W, mask, act):
    """RK4 steps: h_T, Y = act(h) (L, N, H) and the stages, S (3, L, N, H) = act(v2..v4), K (4, L, N, H) =
    k1..k4 (stage-major: each stage's rows are one matrix for the weight gradient). Backward needs no h."""
    L, N, H = u.shape
    kernels = native.kernels(u)
    if kernels is not None:
        mask = None if mask is None else mask.expand(N, H)
        return tuple(kernels.ctrnn_rk4_forward(**native.contiguous(
            u=u, c=C.expand(L, N, H), h0=h0, W_hh=W, mask=mask, act=ACTIVATIONS.index(act),
            W_hh_packed=Right(W, N).packed)))
    hs, Y = u.new_empty((2, N, H)), u.new_empty((L, N, H))  # h: two buffers taking turns
    S, K = u.new_empty((3, L, N, H)), u.new_empty((4, L, N, H))
    Wm, m1 = Right(W, N), u.new_full((), -1.0)
    v, acc = u.new_empty((N, H)), u.new_empty((N, H))
    r_buf = u.new_empty((N, H)) if mask is not None else None
    h, s = h0, _act(act, h0, u.new_empty((N, H)), m1)
    for t in range(L):
        c, ut = C[t], u[t]

        def f(s_i, v_i, i):  # k_i = W (act(v_i) ⊙ m) + u - v_i, into K[i, t]
            r = s_i if mask is None else torch.mul(s_i, mask, out=r_buf)
            return torch.sub(Wm.add(ut, r), v_i, out=K[i, t])

        k = f(s, h, 0)
        for i, half in enumerate((0.5, 0.5, 1.0)):  # v_{i+2} = h + a/2 k1, h + a/2 k2, h + a k3
            torch.addcmul(h, c, k, value=half, out=v)
            k = f(_act(act, v, S[i, t], m1), v, i + 1)
        torch.add(K[1, t], K[2, t], out=acc).mul_(2).add_(K[0, t]).add_(K[3, t])
        h = torch.addcmul(h, c, acc, value=1 / 6, out=hs[t % 2])
        s = _act(act, h, Y[t], m1)
    return h, Y, S, K


def _backward_rk4(G, C, Y, S, K, s0, W, mask, act):
    """The backward loop (module docstring): dK (4, L, N, H), da (L, N, H) and dh_0; G (L, N, H) holds
    act'(h_t) dy_t (+ dh_T at the end) and is overwritten."""
    L, N, H = G.shape
    kernels = native.kernels(G)
    if kernels is not None:
        m = None if mask is None else mask.expand(N, H)
        return kernels.ctrnn_rk4_backward(**native.contiguous(
            G=G, c=C.expand(L, N, H), Y=Y, S=S, K=K, s0=s0, W_hh_t=W.t(), mask=m, act=ACTIVATIONS.index(act),
            W_hh_t_packed=Right(W.t(), N).packed))
    dK, dA = torch.empty_like(K), torch.empty_like(G)
    WT = Right(W.t(), N)
    for t in range(L - 1, -1, -1):
        g, a, k, dk = G[t], C[t], K[:, t], dK[:, t]
        kd = [activation_grad(act, Y[t - 1] if t else s0)] + [activation_grad(act, S[i, t]) for i in range(3)]
        if mask is not None:
            kd = [d.mul_(mask) for d in kd]
        dv = [None] * 4
        torch.mul(g, a, out=dk[3]).mul_(1 / 6)
        for i, (g_w, dv_w) in ((2, (1 / 3, 1.0)), (1, (1 / 3, 0.5)), (0, (1 / 6, 0.5))):
            dv[i + 1] = WT(dk[i + 1]).mul_(kd[i + 1]).sub_(dk[i + 1])  # J(v)^T dk
            torch.mul(g, a, out=dk[i]).mul_(g_w).addcmul_(a, dv[i + 1], value=dv_w)
        dv[0] = WT(dk[0]).mul_(kd[0]).sub_(dk[0])
        da = dA[t]
        torch.add(k[1], k[2], out=da).mul_(2).add_(k[0]).add_(k[3]).mul_(g).mul_(1 / 6)
        da.addcmul_(k[2], dv[3]).addcmul_(k[1], dv[2], value=0.5).addcmul_(k[0], dv[1], value=0.5)
        back = dv[0].add_(dv[1]).add_(dv[2]).add_(dv[3]).add_(g)
        if t:
            G[t - 1].add_(back)
        else:
            dh0 = back
    return dK, dA, dh0


class CTRNNRK4Sequence(torch.autograd.Function):
    """(u, dt (L, N, 1), h0, W_hh, log_tau, mask, valid, activation) -> (y (L, N, H), h_T), RK4 steps."""

    @staticmethod
    def forward(ctx, u, dt, h0, W, log_tau, mask, valid, act):
        C = _rates(dt, log_tau, valid)
        hT, Y, S, K = _forward_rk4(u, C, h0, W, mask, act)
        ctx.save_for_backward(dt, h0, W, log_tau, mask, valid, Y, S, K)
        ctx.act = act
        return masked_output(Y, valid), hT.clone()

    @staticmethod
    @first_order
    def backward(ctx, dy, dhT):
        dt, h0, W, log_tau, mask, valid, Y, S, K = ctx.saved_tensors
        act = ctx.act
        C = _rates(dt, log_tau, valid)
        G = masked_grad(dy, valid).mul(activation_grad(act, Y))  # act'(h_t) dy_t; the loop adds the rest
        G[-1].add_(dhT)
        s0 = _act(act, h0, torch.empty_like(h0), h0.new_full((), -1.0))
        dK, dA, dh0 = _backward_rk4(G, C, Y, S, K, s0, W, mask, act)
        del G
        d_dt = None
        if ctx.needs_input_grad[1]:  # da ⊙ ∂a/∂dt = da / τ, written so that dt = 0 divides by nothing
            d_dt = dA.mul(torch.exp(-log_tau)).sum(2, keepdim=True)
            if valid is not None:  # a padded step's a is 0 whatever its dt
                d_dt.masked_fill_(~valid.unsqueeze(2), 0)
        dA.mul_(C)  # da ⊙ a: a = dt exp(-log τ)
        d_log_tau = dA.sum((0, 1)).neg_() if ctx.needs_input_grad[4] else None
        dW = None
        for i, r in enumerate([with_prev(s0, Y), *S.unbind(0)]):  # dW = Σ_i dk_i (act(v_i) ⊙ m)^T
            r = r if mask is None else r.mul_(mask) if i == 0 else r * mask
            dW_i = gram(flat(dK[i]), flat(r))
            dW = dW_i if dW is None else dW.add_(dW_i)
        return dK.sum(0), d_dt, dh0, dW, d_log_tau, None, None, None


class CTRNNSequence(torch.autograd.Function):
    """(u, dt (L, N, 1), h0, W_hh, log_tau, mask, valid, activation) -> (y (L, N, H), h_T)."""

    @staticmethod
    def forward(ctx, u, dt, h0, W, log_tau, mask, valid, act):
        C = _rates(dt, log_tau, valid)
        Hh, Y = _forward(u, C, h0, W, mask, act)
        # u only for dt's gradient at steps of dt = 0, where h_t - h_{t-1} no longer holds the slope
        ctx.save_for_backward(dt, h0, W, log_tau, mask, valid, Hh, Y, u if ctx.needs_input_grad[1] else None)
        ctx.act = act
        return masked_output(Y, valid), Hh[-1].clone()

    @staticmethod
    @first_order
    def backward(ctx, dy, dhT):
        dt, h0, W, log_tau, mask, valid, Hh, Y, u = ctx.saved_tensors
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
        h_prev = with_prev(h0, Hh)
        d_dt = None
        if ctx.needs_input_grad[1]:  # Σ_h g ⊙ (h_t - h_{t-1}) / dt, and where dt = 0, Σ_h g ⊙ f(h_{t-1})
            zero = (dt == 0).squeeze(2) if valid is None else (dt == 0).squeeze(2) & valid
            at = zero.nonzero(as_tuple=True)  # the real steps of no time: (t, n) pairs, usually none
            slope = (rprev[at] @ W.t() + u[at] - h_prev[at]) * torch.exp(-log_tau)  # f(h) = dh/dt there
            d_dt_zero = (G[at] * slope).sum(1, keepdim=True)
        dH = Hh - h_prev  # h_t - h_{t-1}: 0 at padded steps
        GdH = G.mul_(dH)  # G is not needed any more
        d_log_tau = GdH.sum((0, 1)).neg_() if ctx.needs_input_grad[4] else None
        if ctx.needs_input_grad[1]:
            d_dt = GdH.sum(2, keepdim=True).div_(torch.where(dt == 0, 1, dt))
            d_dt[at] = d_dt_zero
        Zg = gram_layout(Z, H)  # one transposed copy for both W_hh's gradient and W_ih's
        return Zg, d_dt, dh0, gram(flat(Zg), flat(rprev)), d_log_tau, None, None, None


def run(cell, xs, state, valid, rec_mask):
    u, dt = xs
    h0 = state[0]
    mask = None if rec_mask is None else rec_mask[0]
    rk4 = cell.method == "rk4"
    if needs_grad(u, dt, h0, cell.weight_hh, cell.log_tau):
        sequence = CTRNNRK4Sequence if rk4 else CTRNNSequence
        y, h = sequence.apply(u, dt, h0, cell.weight_hh, cell.log_tau, mask, valid, cell.activation)
        return y, (h,)
    C = _rates(dt, cell.log_tau, valid)
    if rk4:
        hT, Y = _forward_rk4(u, C, h0, cell.weight_hh, mask, cell.activation)[:2]
    else:
        Hh, Y = _forward(u, C, h0, cell.weight_hh, mask, cell.activation)
        hT = Hh[-1]
    return masked_output(Y, valid), (hT,)


def native_kernels(cell):
    """rnnzoo.engine.native has the forward loop of both methods and RK4's backward loop."""
    return ("ctrnn_rk4_forward", "ctrnn_rk4_backward") if cell.method == "rk4" else ("ctrnn_forward", None)


# native_gain: training speed-up of the compiled loops over this engine in Python at hidden 16 and 256,
# batch 32 (benchmarks/cells.py --sizes 32,20,16,16 32,100,64,256 --filter ctrnn; rk4: 3.5x and 1.3x)
ENGINE = Engine("rnnzoo.engine.ctrnn", project, run, cell_reason=cell_reason, step_inputs=("dt",),
                native=True, native_kernels=native_kernels,
                native_gain=((16, 1.1), (256, 1.03)))
