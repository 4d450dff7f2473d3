"""Sequence engine for GRUCell, both reset modes, with recurrent-dropout masks. Equations:
rnnzoo.cells.gru.GRUCell (gate order r, z, n; h' = n + z (h - n) = lerp(n, h, z)).
"""

from __future__ import annotations

import torch

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
from .linalg import Right, gram, gram_layout, linear

# Not the default for unpadded training (trains_faster stays False): the engine beats nn.GRU at one
# thread (1.5x at (64, 100, 128, 256)) and at (32, 500, 32, 64) (1.5-1.75x), but not at two threads at
# the larger size (0.72-1.01x against the kernel's 0.97-1.17x in three runs of benchmarks/cells.py),
# and its training peak is 1.35x nn.LSTM's against the kernel's 0.72x.


def project(cell, x):
    return linear(x, cell.weight_ih, cell.bias)  # = cell.project(x)


def _forward(xp, h0, W, b_hn, mask, valid, keep):
    """reset_after when b_hn is given (the cell's bias_hn), else the reset gate before the matmul.
    Returns Y (L, N, H) states, RZ (L, N, 2H) gates, Nn (L, N, H) candidates and X (L, N, H): the n
    block of W_h h + b_hn with reset_after, r * h_rec without."""
    L, N, H3 = xp.shape
    H = H3 // 3
    new, S = xp.new_empty, (L if keep else 1)
    Y, RZ, Nn = new((L, N, H)), new((S, N, 2 * H)), new((S, N, H))
    Ys, RZs, Ns = Y.unbind(0), step_rows(RZ, L), step_rows(Nn, L)
    rs, zs = step_rows(RZ[..., :H], L), step_rows(RZ[..., H:], L)
    xrz, xn = xp[..., :2 * H].unbind(0), xp[..., 2 * H:].unbind(0)
    after = b_hn is not None
    if after:
        Wm = Right(W, N, torch.cat([b_hn.new_zeros(2 * H), b_hn]))
    else:
        Wrz, Wn = Right(W[:2 * H], N), Right(W[2 * H:], N)
        RH = new((S, N, H))
        RHs = step_rows(RH, L)
    saved = []
    hr_buf = new((N, H)) if mask is not None else None
    m1 = xp.new_full((), -1.0)
    full, (vm, _) = first_full(valid, L), step_masks(valid, xp.dtype)
    mul, where = torch.mul, torch.where
    h = h0
    hr = h if mask is None else mul(h, mask, out=hr_buf)
    for t in range(L):
        if after:
            hx = Wm(hr)  # W_h h + (0, 0, b_hn)
            if keep:
                saved.append(hx[:, 2 * H:])
            torch.sigmoid(hx[:, :2 * H].add_(xrz[t]), out=RZs[t])
            tanh_into(torch.addcmul(xn[t], rs[t], hx[:, 2 * H:]), Ns[t], m1, scratch=True)
        else:
            torch.sigmoid(Wrz.add(xrz[t], hr), out=RZs[t])
            tanh_into(Wn.add(xn[t], mul(rs[t], hr, out=RHs[t])), Ns[t], m1, scratch=True)
        hn = Ys[t]
        torch.lerp(Ns[t], h, zs[t], out=hn)
        if t >= full:
            where(vm[t], hn, h, out=hn)
        h = hn
        hr = h if mask is None else mul(h, mask, out=hr_buf)
    X = (torch.stack(saved) if keep else None) if after else RH
    return Y, RZ, Nn, X


class GRUSequence(torch.autograd.Function):
    """(xp, h0, W_hh, bias_hn or None, mask, valid) -> (y (L, N, H), h_T)."""

    @staticmethod
    def forward(ctx, xp, h0, W, b_hn, mask, valid):
        Y, RZ, Nn, X = _forward(xp, h0, W, b_hn, mask, valid, True)
        ctx.save_for_backward(h0, W, mask, valid, Y, RZ, Nn, X)
        ctx.after = b_hn is not None
        return masked_output(Y, valid), Y[-1].clone()

    @staticmethod
    @first_order
    def backward(ctx, dy, dhT):
        h0, W, mask, valid, Y, RZ, Nn, X = ctx.saved_tensors
        after = ctx.after
        L, N, H = Y.shape
        new = Y.new_empty
        dY = masked_grad(dy, valid)
        hprev = with_prev(h0, Y)
        hrprev = hprev if mask is None else hprev * mask
        r, z = RZ[..., :H], RZ[..., H:]
        dsig = lambda s: torch.addcmul(s, s, s, value=-1)
        # step-independent factors: dn_pre = dh Kn, dz_pre = dh Kz, dr_pre = (dn_pre times the n
        # block of W_h h + b_hn, or the gradient of r * h_rec) Kr; dh_prev gets dh Zm directly
        Kn = torch.addcmul(torch.ones_like(Nn), Nn, Nn, value=-1).mul_(1 - z)
        Kz = (hprev - Nn).mul_(dsig(z))
        Kr = (X if after else hrprev) * dsig(r)
        Zm = z  # where(valid, z, 1) below: a padded step held the state, its gradient passes through
        if valid is not None:
            v3 = valid.unsqueeze(-1)
            Kn, Kz, Kr, Zm = (torch.where(v3, Kn, 0), torch.where(v3, Kz, 0), torch.where(v3, Kr, 0),
                              torch.where(v3, z, 1))
        # reset_after: dD, the gradient of W_h h + b_hn, differs from xp's only in the n block, which
        # goes to its own (L, N, H) buffer; dD then becomes xp's gradient in place (no second 3H buffer)
        dD = new((L, N, 3 * H))
        dXn_all = new((L, N, H)) if after else dD[..., 2 * H:]
        dYs = dY.unbind(0)
        dXn, dDr, dDz, dDn = (v.unbind(0) for v in (dXn_all, dD[..., :H], dD[..., H:2 * H], dD[..., 2 * H:]))
        dDs, dDrz = dD.unbind(0), dD[..., :2 * H].unbind(0)
        Kns, Kzs, Krs, Zms, rs = Kn.unbind(0), Kz.unbind(0), Kr.unbind(0), Zm.unbind(0), r.unbind(0)
        if after:
            WT = Right(W.t(), N)
        else:
            WrzT, WnT = Right(W[:2 * H].t(), N), Right(W[2 * H:].t(), N)
        mul, addcmul = torch.mul, torch.addcmul
        dh = dYs[L - 1] + dhT
        for t in range(L - 1, -1, -1):
            dn = mul(dh, Kns[t], out=dXn[t])
            mul(dh, Kzs[t], out=dDz[t])
            base = addcmul(dYs[t - 1], dh, Zms[t]) if t else mul(dh, Zms[t])
            if after:
                mul(dn, Krs[t], out=dDr[t])
                mul(dn, rs[t], out=dDn[t])
                dh = WT.add(base, dDs[t]) if mask is None else base.addcmul_(WT(dDs[t]), mask)
            else:
                drh = WnT(dn)  # the gradient of r * h_rec
                mul(drh, Krs[t], out=dDr[t])
                if mask is None:
                    dh = WrzT.add(base.addcmul_(drh, rs[t]), dDrz[t])
                else:
                    dh = base.addcmul_(WrzT(dDrz[t]).addcmul_(drh, rs[t]), mask)
        del Kn, Kz, Kr, Zm, Kns, Kzs, Krs, Zms  # free before the copies below: the peak is here
        if after:
            dW, db_hn = gram(flat(dD), flat(hrprev)), dD[..., 2 * H:].sum((0, 1))
            dD[..., 2 * H:] = dXn_all  # now xp's gradient
            dX = gram_layout(dD, H)  # for W_ih's gradient, in the projection's backward
        else:
            dX = gram_layout(dD, H)  # one transposed copy for the grams of W_hh and of W_ih
            dW = torch.cat([gram(flat(dX[..., :2 * H]), flat(hrprev)), gram(flat(dX[..., 2 * H:]), flat(X))])
            db_hn = None
        return dX, dh, dW, db_hn, None, None


def run(cell, xs, state, valid, rec_mask):
    h0 = state[0]
    mask = None if rec_mask is None else rec_mask[0]
    b_hn = cell.bias_hn if cell.reset_after else None
    if needs_grad(xs, h0, cell.weight_hh, b_hn):
        y, h = GRUSequence.apply(xs, h0, cell.weight_hh, b_hn, mask, valid)
        return y, (h,)
    Y = _forward(xs, h0, cell.weight_hh, b_hn, mask, valid, False)[0]
    return masked_output(Y, valid), (Y[-1],)


ENGINE = Engine("rnnzoo.engine.gru", project, run)
