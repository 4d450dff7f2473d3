"""Backward of the LSTM engine (rnnzoo.engine.lstm): the step-independent factors of the gate
gradients and the loop t = L-1 .. 0, worked through in chunks of steps so that no temporary spans
the whole sequence."""

from __future__ import annotations

import torch

from .common import first_full, flat, step_masks, step_rows
from .linalg import Right, gram

_ln_backward = torch.ops.aten.native_layer_norm_backward.default
_INPUT_ONLY = [True, False, False]  # native_layer_norm_backward: the input's gradient only

CHUNK_NUMBERS = 1 << 20  # backward works through time in chunks of about this many gate numbers


def xhat_dot(d, X, M, S):
    """Σ_{t,n} d ⊙ x̂ with x̂ = (X - M) S, LayerNorm's normalised input: the weight's gradient."""
    return (d * (X - M).mul_(S)).sum((0, 1))


def _factors(A, T, cprev, valid, peep, coupled, layer_norm_c):
    """The factors of the gate gradients that do not depend on the recurrence, for all steps at once:
    dgates[c-driven gates] = dc K[..., :(G-1)H], dgates[o] = du K[..., o], dc += du Kc (+ du Kop),
    dc_prev = dc Fm. Padded steps: K = Kc = 0, Fm = 1 (the held state passes its gradient on)."""
    H = T.shape[-1]
    k = A.shape[-1] // H - 2
    blk = lambda j: slice(j * H, (j + 1) * H)
    f, g, o = A[..., blk(k - 1)], A[..., blk(k)], A[..., blk(k + 1)]
    one = A.new_ones(())
    K = torch.addcmul(A, A, A, value=-1)  # σ' = s - s², right for the sigmoid gates
    K[..., blk(k + 1)].mul_(T)
    K[..., blk(k - 1)].mul_(cprev - g if coupled else cprev)
    if not coupled:
        K[..., blk(0)].mul_(g)
    # g: tanh'(g_pre) = 1 - g², halved for the doubled pre-activation; times i (1 - f coupled)
    torch.addcmul(one, g, g, value=-1, out=K[..., blk(k)]).mul_(1 - f if coupled else A[..., blk(0)])
    K[..., blk(k)].mul_(0.5)
    Kc = torch.addcmul(one, T, T, value=-1).mul_(o)
    Fm, Kop = f, None  # with layer_norm, Kc feeds LN_c's backward: the o peephole's path is separate
    if peep is not None:  # the peepholes' paths into dc, folded into Kc (or Kop) and Fm
        if layer_norm_c:
            Kop = K[..., blk(k + 1)] * peep[2]
        else:
            Kc.addcmul_(K[..., blk(k + 1)], peep[2])
        Fm = torch.addcmul(f, K[..., blk(k - 1)], peep[1])
        if not coupled:
            Fm.addcmul_(K[..., blk(0)], peep[0])
    if valid is not None:
        pad = ~valid.unsqueeze(-1)
        K.masked_fill_(pad, 0)
        Kc.masked_fill_(pad, 0)
        Fm = Fm.masked_fill(pad, 1)
        if Kop is not None:
            Kop.masked_fill_(pad, 0)
    return K, Kc, Fm, Kop


def backward_steps(ctx, dY, dhT, dcT, cprev, hprev):
    """The loop t = L-1 .. 0: the gate gradients dG, dh_0, dc_0, LN_c's output gradients dCN and
    proj_size's state gradients DHs; with layer_norm also dW_hh and ln_h's weight gradient. It runs
    a chunk of steps at a time: the factors (`_factors`) and, with layer_norm, LN_h's input
    W_hh h_prev (one matmul) are computed per chunk instead of for the whole sequence at once."""
    _, _, W, Wr, peep, lnh_w, lnc_w, mask, valid, _, C, A, T, MH, SH, MC, SC = ctx.saved_tensors
    L, N, GH = A.shape
    H = C.shape[-1]
    k = GH // H - 2
    chunk = max(1, min(L, CHUNK_NUMBERS // (N * GH)))
    new = A.new_empty
    dG, dCN, DHs, dW, dlnh_w = new((L, N, GH)), None, None, None, None
    if lnc_w is not None:
        dCN = new((L, N, H))
        dCNs, Cs, mcs, rcs = dCN.unbind(0), C.unbind(0), MC.unbind(0), SC.unbind(0)
    if lnh_w is not None:
        mhs, rhs, dW, dlnh_w, Wc = MH.unbind(0), SH.unbind(0), 0, 0, Right(W, chunk * N)
    if Wr is not None:
        DHs = [None] * L  # each step's dh, for proj_size's dW_hr
    dGs, dYs = dG.unbind(0), dY.unbind(0)
    dGo, dG1 = step_rows(dG, L, (k + 1) * H), step_rows(dG, L, 0, (k + 1) * H, k=k + 1)
    full, (_, inv) = first_full(valid, L), step_masks(valid, A.dtype)
    WT, WrT = Right(W.t(), N), (Right(Wr.t(), N) if Wr is not None else None)
    mul = torch.mul
    dh = dYs[L - 1] + dhT
    dc = dcT.clone(memory_format=torch.contiguous_format)
    dc1 = dc.unsqueeze(1)  # a view: follows dc's in-place updates
    for t0 in range((L - 1) // chunk * chunk, -1, -chunk):
        t1 = min(L, t0 + chunk)
        part = slice(t0, t1)
        K, Kc, Fm, Kop = _factors(A[part], T[part], cprev[part], None if valid is None else valid[part],
                                  peep, ctx.coupled, lnc_w is not None)
        Ko, K1 = step_rows(K, t1 - t0, (k + 1) * H), step_rows(K, t1 - t0, 0, (k + 1) * H, k=k + 1)
        Kcs, Fms, Kops = Kc.unbind(0), Fm.unbind(0), (Kop.unbind(0) if Kop is not None else None)
        if lnh_w is not None:  # this chunk's LN_h inputs
            Rc = Wc(flat(hprev[part])).view(t1 - t0, N, GH)
            Rcs, dRc = Rc.unbind(0), [None] * (t1 - t0)
        for t in range(t1 - 1, t0 - 1, -1):
            j = t - t0
            if Wr is None:
                du = dh
            else:
                DHs[t] = dh
                du = WrT(dh)
            mul(du, Ko[j], out=dGo[t])
            if lnc_w is None:
                dc.addcmul_(du, Kcs[j])
            else:
                mul(du, Kcs[j], out=dCNs[t])
                dc.add_(_ln_backward(dCNs[t], Cs[t], (H,), mcs[t], rcs[t], lnc_w, None, _INPUT_ONLY)[0])
                if Kop is not None:
                    dc.addcmul_(du, Kops[j])
            mul(dc1, K1[j], out=dG1[t])
            dc.mul_(Fms[j])
            drec = dGs[t]
            if lnh_w is not None:
                drec = dRc[j] = _ln_backward(drec, Rcs[j], (GH,), mhs[t], rhs[t], lnh_w, None, _INPUT_ONLY)[0]
            if mask is None:
                dh_new = WT.add(dYs[t - 1], drec) if t else WT(drec)
            else:
                dh_new = WT(drec).mul_(mask)
                if t:
                    dh_new.add_(dYs[t - 1])
            if t >= full:
                dh_new.addcmul_(dh, inv[t])  # a padded step held the state: its gradient passes through
            dh = dh_new
        if lnh_w is not None:  # the chunk's share of dW_hh and of ln_h's weight gradient
            dW = dW + gram(flat(torch.stack(dRc)), flat(hprev[part]))
            dlnh_w = dlnh_w + xhat_dot(dG[part], Rc, MH[part], SH[part])
    return dG, dh, dc, dW, dlnh_w, dCN, DHs
