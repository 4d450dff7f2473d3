"""The time loops of `ESN` (driven and closed-loop runs), kept apart from its API.

The loops iterate s with x = alpha s + beta and s' = g(k z) (see `form`), in column layout: a state
is (N,) for one sequence (matrix-vector products) or (N, B) for B sequences.
"""

from __future__ import annotations

import torch

from .._loops import single_thread
from ..engine import native
from .init import to_csr


def _affine(c, W, x):
    return torch.addmv(c, W, x) if x.dim() == 1 else torch.addmm(c, W, x)


def form(esn):
    """(g, k, alpha, beta): the loops iterate s, with x = alpha s + beta, as s' = g(k z) for the
    pre-activation z. tanh(z) = 2 sigmoid(2 z) - 1, so tanh units run as one sigmoid per step:
    torch's float64 tanh costs several times its sigmoid, and folding k, alpha, beta into the
    matrices adds no op to the loop."""
    if esn.activation == "tanh":
        return torch.sigmoid, 2.0, 2.0, -1.0
    return esn._f, 1.0, 1.0, 0.0


def matrices(esn):
    """Per layer (k alpha W_l as CSR when sparse, row sums W_l 1), cached while weight_hh is unchanged."""
    key = (esn.weight_hh.data_ptr(), esn.weight_hh._version, esn.weight_hh.dtype, esn.sparse,
           esn.activation)
    if getattr(esn, "_mats_key", None) != key:
        _, k, alpha, _ = form(esn)
        scaled = [W * (k * alpha) for W in esn.weight_hh]
        esn._mats_cache = [(to_csr(M) if esn.sparse else M, W.sum(1)) for M, W in zip(scaled, esn.weight_hh)]
        esn._mats_key = key
    return esn._mats_cache


def native_reason(esn, like: torch.Tensor | None = None) -> str | None:
    """Why the loops will not run on the compiled kernels (rnnzoo.engine.native), or None when they will:
    they take a sparse reservoir (CSR) of sigmoid-form units (tanh or sigmoid), float32 or float64; the
    closed loop also needs one layer and one sequence (`closed`). Otherwise the torch loops below run."""
    if not esn.sparse:
        return "sparse=False: the kernels take the reservoir as CSR"
    if form(esn)[0] is not torch.sigmoid:
        return f"activation={esn.activation!r}: the kernels run tanh or sigmoid units"
    return native.unavailable_reason() or (
        None if native.kernels(esn.weight_hh if like is None else like) is not None else
        f"dtype {esn.dtype}: the kernels take float32 or float64")


def _csr(M):
    """The reservoir M as the kernels take it."""
    return dict(crow=M.crow_indices(), col=M.col_indices(), values=M.values())


def states(esn, M, d: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """x = alpha s + beta of every step of `loop`, on the compiled kernels when `native_reason` allows."""
    _, _, alpha, beta = form(esn)
    if native_reason(esn, d) is None:
        return native.kernels(d).esn_driven(**native.contiguous(
            drive=d.view(*d.shape[:2], -1), **_csr(M), s0=s, leak_rate=esn.leak_rate, alpha=alpha, beta=beta)
        ).view(d.shape)
    return loop(esn, M, d, s).mul_(alpha).add_(beta)


def loop(esn, M, d: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """s(n) = (1 - a) s(n-1) + a g(M s(n-1) + d(n)) in column layout: d (L, N[, B]); see `form`."""
    out = torch.empty_like(d)
    a, g = esn.leak_rate, form(esn)[0]
    for t in range(d.shape[0]):
        if a == 1.0 and g is torch.sigmoid:
            s = torch.sigmoid(_affine(d[t], M, s), out=out[t])
        else:
            new = g(_affine(d[t], M, s))
            s = out[t].copy_(new if a == 1.0 else torch.lerp(s, new, a))
    return out


def columns(rows: torch.Tensor) -> torch.Tensor:
    """(L, B, N) -> column layout (L, N, B), or (L, N) when B = 1."""
    return rows[:, 0].contiguous() if rows.shape[1] == 1 else rows.permute(0, 2, 1).contiguous()


def rows_of(cols: torch.Tensor, B: int) -> torch.Tensor:
    return cols.unsqueeze(1) if B == 1 else cols.permute(0, 2, 1)


def driven(esn, u, teacher, state, noise: float):
    """States (L, B, num_layers * N) and final state of a run driven by u and (feedback) teacher."""
    B = u.shape[1]
    _, k, alpha, beta = form(esn)
    mats, v, layers = matrices(esn), u, []
    for l in range(esn.num_layers):
        Win = esn.weight_ih if l == 0 else esn.weight_ih_deep[l - 1]
        M, r = mats[l]
        L, F = v.shape[0], v.shape[2]
        # k (W_in v + b + beta W 1 [+ W_fb y(n-1)] [+ nu]), built in place: (L * B, N)
        drive = torch.addmm(k * (esn.bias[l] + beta * r), v.reshape(L * B, F), k * Win.T)
        if l == 0 and esn.feedback:
            drive.addmm_(torch.cat([state.y[None], teacher[:-1]]).reshape(L * B, -1), k * esn.weight_fb.T)
        if noise:
            nu = torch.rand(drive.shape, generator=esn._noise_gen, dtype=drive.dtype)
            drive.add_(nu.mul_(2 * k * noise).sub_(k * noise))
        s0 = ((state.x[l][0] if B == 1 else state.x[l].T) - beta) / alpha
        with single_thread():
            S = loop(esn, M, columns(drive.view(L, B, -1)), s0)
        v = rows_of(S.mul_(alpha).add_(beta), B)
        layers.append(v)
    X = layers[0] if len(layers) == 1 else torch.cat(layers, -1)
    x_final = torch.stack([s[-1] for s in layers])
    return X, type(state)(x_final, teacher[-1] if teacher is not None else esn._readout(u[-1:], X[-1:])[0])


def closed(esn, steps: int, u, state):
    """Closed loop for `steps` steps: outputs (steps, B, O) and the final state. u (steps, B, I) or None.

    Runs in the s variables of `_form`: every matrix and bias below has k, alpha, beta folded in."""
    B, N, L = state.y.shape[0], esn.reservoir_size, esn.num_layers
    g, k, alpha, beta = form(esn)
    mats, one = matrices(esn), B == 1
    col = (lambda t: t[0]) if one else (lambda t: t.T)
    ss, y = [(col(x) - beta) / alpha for x in state.x], col(state.y).clone()
    Wout = esn.weight_out
    I = esn.input_size if esn.readout_input else 0
    W_u, W_x = Wout[:, 1:1 + I], [Wout[:, 1 + I + l * N:1 + I + (l + 1) * N] for l in range(L)]
    b_out = Wout[:, 0] + beta * sum(W.sum(1) for W in W_x)
    b_out = b_out if one else b_out[:, None]
    W_x = [alpha * W for W in W_x]
    base = (u @ esn.weight_ih.T if u is not None else 0) + esn.bias[0].expand(steps, B, N)
    base = columns((base + beta * mats[0][1]) * k)
    W_y = k * (esn.weight_fb if esn.feedback else esn.weight_ih)  # y feeds back, or is the next input
    W_deep = [k * alpha * W for W in esn.weight_ih_deep]
    b_deep = [k * (esn.bias[l] + beta * (esn.weight_ih_deep[l - 1].sum(1) + mats[l][1])) for l in range(1, L)]
    b_deep = [b if one else b[:, None] for b in b_deep]
    a = esn.leak_rate
    if one and L == 1 and native_reason(esn, base) is None:
        W_u_, u_ = (W_u, u[:, 0] if u is not None else None) if I else (None, None)
        ys, s = native.kernels(base).esn_closed(**native.contiguous(
            base=base.view(steps, N, 1), **_csr(mats[0][0]), W_y=W_y, W_x=W_x[0], b=b_out, W_u=W_u_, u=u_, s0=ss[0],
            y0=y, leak_rate=a))
        return ys[:, None, :], type(state)((s * alpha + beta)[None, None], ys[-1:].clone())
    ys = torch.empty(steps, *y.shape, dtype=esn.dtype)
    with single_thread():
        for t in range(steps):
            v = col(u[t]) if u is not None else y
            c = _affine(base[t], W_y, y)
            for l in range(L):
                if l:
                    c = _affine(b_deep[l - 1], W_deep[l - 1], ss[l - 1])
                new = g(_affine(c, mats[l][0], ss[l]))
                ss[l] = new if a == 1.0 else torch.lerp(ss[l], new, a)
            y = b_out + W_u @ v if I else b_out
            for l in range(L - 1):
                y = _affine(y, W_x[l], ss[l])
            y = (torch.addmv if one else torch.addmm)(y, W_x[-1], ss[-1], out=ys[t])
    xs = [s * alpha + beta for s in ss]
    if one:
        return ys[:, None, :], type(state)(torch.stack([x[None] for x in xs]), y[None])
    return ys.permute(0, 2, 1), type(state)(torch.stack([x.T for x in xs]), y.T)
