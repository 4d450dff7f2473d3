"""Sequence engine for LSTMCell: every option (peephole, coupled, layer_norm, proj_size) and
recurrent-dropout masks. Equations: rnnzoo.cells.lstm.LSTMCell. The gate buffer A keeps the cell's
gate order (i, f, g, o), or (f, g, o) when coupled: k = G - 2 sigmoid gates, then g, then o.

One sigmoid for all gates: tanh(v) = 2 σ(2 v) - 1, so the engine works with the g block of every
pre-activation doubled (`gate_scale`: the projection, W_hh and ln_h's affine carry the factor 2, as
autograd ops on the parameters, so their gradients come out right), takes σ of the whole gate row
in one op and turns the g block into tanh with one more. tanh(c) is computed the same way for rows
of 1024 numbers or more (`tanh_into`), where torch.tanh is several times slower than torch.sigmoid.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from . import lstm_backward, native
from .common import (
    first_full,
    first_order,
    flat,
    masked_grad,
    masked_output,
    needs_grad,
    step_masks,
    step_rows,
    tanh_into,
    with_prev,
)
from .interface import Engine
from .linalg import Right, gram, gram_layout, gram_on_onednn, linear
from .lstm_backward import backward_steps, xhat_dot

_ln = torch.native_layer_norm


def native_beats_fused(cell):
    """With proj_size: torch runs LSTM with projections outside oneDNN (batch-1 inference 0.26-0.33x of
    nn.LSTM, where the compiled engine is 1.7-2.5x; benchmarks/cells.py --inference)."""
    return bool(cell.proj_size)


def cell_reason(cell):
    if cell.layer_norm:
        for name in ("ln_x", "ln_h", "ln_c"):
            ln = getattr(cell, name)
            if type(ln) is not nn.LayerNorm or ln.weight is None or ln.bias is None:
                return f"the engine needs {name} to be an affine nn.LayerNorm"
    return None


def gate_scale(cell, like):
    """(G*H,) ones with 2 on the g block."""
    H, k = cell.hidden_size, cell.gates - 2
    s = torch.ones(cell.gates * H, dtype=like.dtype, device=like.device)
    s[k * H:(k + 1) * H] = 2
    return s


def project(cell, x):
    """cell.project(x) with the g block doubled (the runner's layout)."""
    s = gate_scale(cell, cell.weight_ih)
    if cell.layer_norm:
        ln = cell.ln_x
        return F.layer_norm(linear(x, cell.weight_ih), ln.normalized_shape, ln.weight * s,
                            (ln.bias + cell.bias) * s, ln.eps)  # the cell's bias folded into LN's
    return linear(x, cell.weight_ih * s[:, None], cell.bias * s)


def _forward(xp, h0, c0, W, Wr, peep, lnh, lnc, mask, valid, coupled, eps, keep):
    """Run the sequence (g block doubled in xp, and in W or else ln_h's affine). keep=True stores every step's gates for
    backward, else one step's scratch. Returns Y, C, A, T, the final c and, with layer_norm and keep,
    the per-step lists of the mean and rstd of LN_h and LN_c (backward recomputes LN_h's input W_hh h
    a chunk of steps at a time rather than keep all of it)."""
    L, N, GH = xp.shape
    H, P = c0.shape[-1], h0.shape[-1]
    k = GH // H - 2
    new = xp.new_empty
    steps = L if keep else 1
    Y, A, T = new((L, N, P)), new((steps, N, GH)), new((steps, N, H))
    C = new((L, N, H)) if keep else new((2, N, H))
    Ys, Ts, xps, As = Y.unbind(0), step_rows(T, L), xp.unbind(0), step_rows(A, L)
    ln_saved = ([], [], [], []) if keep and lnh is not None else None
    Cs = C.unbind(0) if keep else [C[t & 1] for t in range(L)]
    Gg, Oo = step_rows(A, L, k * H, (k + 1) * H), step_rows(A, L, (k + 1) * H)
    Fs, Is = step_rows(A, L, (k - 1) * H, k * H), (None if coupled else step_rows(A, L, 0, H))
    if peep is not None:
        p_k, p_o, Sg = peep[2 - k:2], peep[2], step_rows(A, L, 0, (k + 1) * H)
    Wm, Wrm = Right(W, N), (Right(Wr, N) if Wr is not None else None)
    hr_buf = new((N, P)) if mask is not None else None
    m1 = xp.new_full((), -1.0)
    full, (vm, _) = first_full(valid, L), step_masks(valid, xp.dtype)
    mul, add, sigmoid, where = torch.mul, torch.add, torch.sigmoid, torch.where
    h, c = h0, c0
    hr = h if mask is None else mul(h, mask, out=hr_buf)
    for t in range(L):
        if lnh is None:
            pre = Wm.add(xps[t], hr)  # (N, GH) gate pre-activations
        else:
            r = Wm(hr)
            pre, mean, rstd = _ln(r, (GH,), lnh[0], lnh[1], eps[0])
            pre.add_(xps[t])
            if ln_saved is not None:
                ln_saved[0].append(mean), ln_saved[1].append(rstd)
        if peep is None:
            sigmoid(pre, out=As[t])
        else:
            pre[:, :k * H].unflatten(1, (k, H)).addcmul_(p_k, c.unsqueeze(1))
            sigmoid(pre[:, :(k + 1) * H], out=Sg[t])
        g = add(m1, Gg[t], alpha=2, out=Gg[t])  # tanh(g_pre) = 2 σ(2 g_pre) - 1
        cn = Cs[t]
        if coupled:
            torch.lerp(g, c, Fs[t], out=cn)  # f c + (1 - f) g
        else:
            mul(Fs[t], c, out=cn).addcmul_(Is[t], g)
        if t >= full:
            where(vm[t], cn, c, out=cn)
        o = Oo[t]
        if peep is not None:
            o = sigmoid(pre[:, (k + 1) * H:].addcmul_(p_o, cn), out=o)
        if lnc is None:
            tc = tanh_into(cn, Ts[t], m1)
        else:
            cln, mean, rstd = _ln(cn, (H,), lnc[0], lnc[1], eps[1])
            tc = tanh_into(cln, Ts[t], m1, scratch=True)
            if ln_saved is not None:
                ln_saved[2].append(mean), ln_saved[3].append(rstd)
        hn = Ys[t]
        if Wr is None:
            mul(o, tc, out=hn)
        else:
            hn.copy_(Wrm(o * tc))
        if t >= full:
            where(vm[t], hn, h, out=hn)
        h, c = hn, cn
        hr = h if mask is None else mul(h, mask, out=hr_buf)
    return Y, C, A, T, Cs[L - 1], ln_saved


def _sequence(xp, h0, c0, W, Wr, peep, lnh, lnc, mask, valid, coupled, eps, keep):
    """`_forward` on the compiled kernels (rnnzoo.engine.native) when they are built and apply, else
    in Python; the LayerNorm statistics come back as (L, N, 1) tensors (None without layer_norm)."""
    kernels = native.kernels(xp)
    if kernels is None:
        Y, C, A, T, cT, ln_saved = _forward(xp, h0, c0, W, Wr, peep, lnh, lnc, mask, valid, coupled, eps, keep)
        stats = [None] * 4 if ln_saved is None else [torch.stack(v) if v else None for v in ln_saved]
        return (Y, C, A, T, cT, *stats)
    lnh, lnc = lnh or (None, None), lnc or (None, None)
    if mask is not None:
        mask = mask.expand(h0.shape)
    N = xp.shape[1]
    return kernels.lstm_forward(**native.contiguous(
        xp=xp, h0=h0, c0=c0, W_hh=W, W_hr=Wr, peephole=peep, ln_h_weight=lnh[0], ln_h_bias=lnh[1],
        ln_c_weight=lnc[0], ln_c_bias=lnc[1], mask=mask, valid=valid, coupled=coupled, eps_h=eps[0], eps_c=eps[1],
        keep=keep, W_hh_packed=Right(W, N).packed,  # oneDNN's packed weights when it pays
        W_hr_packed=Right(Wr, N).packed if Wr is not None else None))


def _native_backward(kernels, ctx, dY, dhT, dcT):
    """`backward_steps` on the compiled kernels, same results; it reads each step's previous c and h_rec
    from C, Y and the initial state instead of copies, and sums LN_c's and the peepholes' weight gradients in
    the loop: (dG, dh_0, dc_0, dW_hh (with layer_norm), ln_h weight grad, (ln_c weight grad, ln_c bias grad),
    DH, peephole weight grad)."""
    h0, c0, W, Wr, peep, lnh_w, lnc_w, mask, valid, Y, C, A, T, MH, SH, MC, SC = ctx.saved_tensors
    L, N, GH = A.shape
    ln = {}
    if lnh_w is not None:  # LN_h's input W_hh h_rec, recomputed a chunk of steps at a time
        chunk = max(1, min(L, lstm_backward.CHUNK_NUMBERS // (N * GH)))
        ln = dict(ln_h_weight=lnh_w, mean_h=MH, rstd_h=SH, W_hh=W, W_hh_packed=Right(W, chunk * N).packed,
                  chunk=chunk, ln_c_weight=lnc_w, mean_c=MC, rstd_c=SC)
    proj = Wr is not None
    dG, dh, dc, DH, dW, dlnh_w, dlnc_w, dlnc_b, dpeep = kernels.lstm_backward(**native.contiguous(
        dY=dY, dh_T=dhT, dc_T=dcT, h0=h0, c0=c0, Y=Y, A=A, T=T, C=C, peephole=peep, coupled=ctx.coupled,
        mask=None if mask is None else mask.expand(h0.shape), valid=valid,
        W_hh_t=W.t(), W_hh_t_packed=Right(W.t(), N).packed,  # oneDNN's packed weights when it pays
        W_hr_t=Wr.t() if proj else None, W_hr_t_packed=Right(Wr.t(), N).packed if proj else None,
        dG_transposed=lnh_w is None and gram_on_onednn(A, Y.shape[-1]),  # dG in gram_layout's layout
        **ln))
    return dG, dh, dc, dW, dlnh_w, (dlnc_w, dlnc_b), DH, dpeep


class LSTMSequence(torch.autograd.Function):
    """(xp, h0, c0, W_hh, W_hr, peephole, ln_h w/b, ln_c w/b, mask, valid, coupled, eps) ->
    (y (L, N, P), h_T, c_T), with the g block doubled in xp and in W_hh (ln_h w/b with layer_norm).
    Tensors that an option leaves out are None."""

    @staticmethod
    def forward(ctx, xp, h0, c0, W, Wr, peep, lnh_w, lnh_b, lnc_w, lnc_b, mask, valid, coupled, eps):
        lnh = None if lnh_w is None else (lnh_w, lnh_b)
        lnc = None if lnc_w is None else (lnc_w, lnc_b)
        Y, C, A, T, _, MH, SH, MC, SC = _sequence(xp, h0, c0, W, Wr, peep, lnh, lnc, mask, valid, coupled, eps,
                                                  True)
        ctx.save_for_backward(h0, c0, W, Wr, peep, lnh_w, lnc_w, mask, valid, Y, C, A, T, MH, SH, MC, SC)
        ctx.coupled, ctx.eps = coupled, eps
        return masked_output(Y, valid), Y[-1].clone(), C[-1].clone()

    @staticmethod
    @first_order
    def backward(ctx, dy, dhT, dcT):
        h0, c0, _, Wr, peep, lnh_w, lnc_w, mask, valid, Y, C, A, T, _, _, MC, SC = ctx.saved_tensors
        GH = A.shape[-1]
        H, P = C.shape[-1], Y.shape[-1]
        k = GH // H - 2
        blk = lambda j: slice(j * H, (j + 1) * H)
        kernels = native.kernels(A)
        # each step's previous c and h_rec as (L, N, *) copies: where the Python loop or a weight gradient
        # below needs them (the compiled loop reads them in place)
        cprev = with_prev(c0, C) if kernels is None else None
        hprev = None
        if kernels is None or lnh_w is None:
            hprev = with_prev(h0, Y)
            if mask is not None:
                hprev.mul_(mask)
        if kernels is None:
            dG, dh, dc, dW, dlnh_w, dlnc, DHs = backward_steps(ctx, masked_grad(dy, valid), dhT, dcT, cprev, hprev)
            if lnc_w is not None:  # dlnc is LN_c's output gradients (L, N, H)
                dlnc = xhat_dot(dlnc, C, MC, SC), dlnc.sum((0, 1))
            dpeep = None
            if peep is not None:  # every weight gradient as one reduction over all L * N rows
                dp_i = (dG[..., :H] * cprev).sum((0, 1)) if not ctx.coupled else torch.zeros_like(peep[0])
                dp_f = (dG[..., blk(k - 1)] * cprev).sum((0, 1))
                dpeep = torch.stack([dp_i, dp_f, (dG[..., blk(k + 1)] * C).sum((0, 1))])
            del cprev
        else:
            dG, dh, dc, dW, dlnh_w, dlnc, DHs, dpeep = _native_backward(kernels, ctx, masked_grad(dy, valid), dhT,
                                                                       dcT)
        # every weight gradient as one matmul / reduction over all L * N rows
        dWr = dlnh_b = None
        dlnc_w, dlnc_b = dlnc if lnc_w is not None else (None, None)
        if lnh_w is not None:
            dlnh_b = dG.sum((0, 1))
        if Wr is not None:
            DH = DHs if isinstance(DHs, torch.Tensor) else torch.stack(DHs)
            dWr = gram(flat(masked_grad(DH, valid)), flat(A[..., blk(k + 1)] * T))
        if lnh_w is None:  # dG^T once, for dW_hh here and for dW_ih in the projection's backward
            dG = gram_layout(dG, P)
            dW = gram(flat(dG), flat(hprev))
        return (dG, dh, dc, dW, dWr, dpeep, dlnh_w, dlnh_b, dlnc_w, dlnc_b, None, None, None, None)


def run(cell, xs, state, valid, rec_mask):
    """xs from `project` (g block doubled)."""
    h0, c0 = state
    mask = None if rec_mask is None else rec_mask[0]
    s = gate_scale(cell, cell.weight_hh)
    # with layer_norm the factor 2 goes into ln_h's affine: LN of W_hh h must see the plain product
    W = cell.weight_hh if cell.layer_norm else cell.weight_hh * s[:, None]
    Wr = cell.weight_hr if cell.proj_size else None
    peep = cell.peephole_weight if cell.peephole else None
    ln = (cell.ln_h.weight * s, cell.ln_h.bias * s, cell.ln_c.weight, cell.ln_c.bias) if cell.layer_norm \
        else (None,) * 4
    eps = (cell.ln_h.eps, cell.ln_c.eps) if cell.layer_norm else (0.0, 0.0)
    args = (xs, h0, c0, W, Wr, peep, *ln)
    if needs_grad(*args):
        y, h, c = LSTMSequence.apply(*args, mask, valid, cell.coupled, eps)
        return y, (h, c)
    lnh, lnc = (None, None) if not cell.layer_norm else (ln[:2], ln[2:])
    Y, _, _, _, cT, *_ = _sequence(xs, h0, c0, W, Wr, peep, lnh, lnc, mask, valid, cell.coupled, eps, False)
    return masked_output(Y, valid), (Y[-1], cT)


# native_gain: training speed-up of the compiled loops over this engine in Python at hidden 16 and 256,
# batch 32 (benchmarks/cells.py --sizes 32,20,16,16 32,100,64,256 --filter lstm; peephole, coupled, layer_norm)
ENGINE = Engine("rnnzoo.engine.lstm", project, run, cell_reason=cell_reason, native=True,
                native_kernels=lambda cell: ("lstm_forward", "lstm_backward"),
                native_beats_fused=native_beats_fused,
                native_gain=((16, 1.9), (256, 1.15)))
