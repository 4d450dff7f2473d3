"""Sequence engine for the minimal gated cells (minGRU, minLSTM; Feng et al. 2024): one scan.

Their gates read x_t only, so a step is a linear recurrence in h with coefficients known for every step
before the first one runs:

    h_t = a_t ⊙ h_{t-1} + b_t,    a_t = 1 - w_t,  b_t = w_t ⊙ h̃_t,  w_t, h̃_t from x_t alone

(`cell.mix(xp)` gives w and h̃, `cell.log_mix(xp)` gives log a and log b). Two ways to run it:

    log     Heinsen's (2023) log-space scan: with a*_t = Σ_{s≤t} log a_s,
                h_t = exp(a*_t + logcumsumexp_{s≤t}(log b_s - a*_s)) + exp(a*_t) ⊙ h_0
            two cumulative sums over time: the parallel form (on a GPU torch's cumsum and logcumsumexp
            are parallel scans), run in chunks of LOG_CHUNK steps for float32 accuracy. Plain autograd
            differentiates it. The initial state enters outside the logarithms, so it may have any sign.
    linear  the same recurrence as one fused multiply-add per step (torch.addcmul into the output
            buffer), the gates computed for blocks of steps that stay in cache, and a hand-written
            backward that is itself a linear scan running backwards:
                g_t = dL/dy_t + a_{t+1} ⊙ g_{t+1},   dL/dw_t = g_t ⊙ (h̃_t - h_{t-1}),   dL/dh̃_t = g_t ⊙ w_t
            exact (no logarithms), and on a CPU 10-30x faster than `log`: torch's CPU cumsum and
            logcumsumexp run sequentially over time themselves, at 15-25x the cost of a multiply-add per
            element (benchmarks/scan.py measures both). Where the compiled kernels are built
            (rnnzoo.engine.native), kernels/scan.cpp runs it: one pass forward, one backward, the gates
            recomputed in registers (NativeLinearScan); otherwise LinearScan in Python.

The cell's `scan` option picks one: "auto" takes `linear` on the CPU and `log` elsewhere. Padded steps
(valid False) have a = 1 and b = 0, so the state is kept through them, and their output is zero, the
per-step loop's rule. The per-step loop (`cell.step`) stays the reference; tests/test_minimal.py checks
both scans against it, gradients included.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import native
from .common import first_order
from .interface import Engine

# Steps per block of the linear scan: the block's gates (BLOCK * N * H floats) should stay in the
# second-level cache while the step loop reads them: 2**17 floats is 512 KiB in float32 (2**16 to 2**20
# measured within 20% of each other at (32, 2048, 64, 256), 2**16-2**17 the fastest).
BLOCK_ELEMENTS = 2 ** 17
METHODS = ("auto", "linear", "log")
LOG_CHUNK = 128  # steps per chunk of the log-space scan (see log_scan)


def method_for(cell, device_type: str) -> str:
    """The scan a call runs: the cell's `scan` option, "auto" resolved by device."""
    if cell.scan != "auto":
        return cell.scan
    return "linear" if device_type == "cpu" else "log"


def project(cell, x):
    return cell.project(x)


def run(cell, xs, state, valid=None, rec_mask=None):
    """(outputs (L, N, H), (h_T,)) for projected xs (L, N, K) from state (h_0,). rec_mask is always None
    for these cells: nothing multiplies h inside a step, so recurrent dropout has no input to drop."""
    h0 = state[0]
    if method_for(cell, xs.device.type) == "log":
        ys = log_scan(*cell.log_mix(xs), h0, valid)
    elif native_kernels(cell) and (kernels := native.kernels(xs)) is not None:
        ys = NativeLinearScan.apply(xs, h0, valid, cell.native_kind, kernels)
    else:
        ys = LinearScan.apply(xs, h0, valid, cell)
    # zeros at padded steps, by a float mask: a boolean torch.where costs 20-40x a multiply on the CPU
    out = ys if valid is None else ys * valid.unsqueeze(-1).to(ys.dtype)
    return out, (ys[-1],)


def log_scan(log_a, log_b, h0, valid=None, chunk: int | None = None):
    """Heinsen's log-space scan of h_t = a_t h_{t-1} + b_t (a, b > 0 given as logarithms), all (L, N, H);
    h0 (N, H) of any sign. Padded steps (valid (L, N) False) take a = 1, b = 0. Returns every h_t.

    The scan runs in chunks of `chunk` steps (LOG_CHUNK), each from the last state of the one before: within
    a chunk a*_t is a sum of at most `chunk` terms, so exp(a*_t + logcumsumexp(...)) never cancels two large
    logarithms; over the whole of a long sequence it would (float32 relative error 6e-4 at L = 4096, against
    2.5e-5 chunked by 128; tests/test_minimal.py)."""
    chunk = LOG_CHUNK if chunk is None else chunk
    if valid is not None:
        keep = valid.unsqueeze(-1)
        log_a = torch.where(keep, log_a, 0.0)
        # a finite floor rather than -inf: exp gives exactly 0 and logcumsumexp's backward stays finite
        log_b = torch.where(keep, log_b, torch.finfo(log_b.dtype).min / 4)
    out, h = [], h0
    for lo in range(0, log_a.shape[0], chunk):
        a_star = log_a[lo:lo + chunk].cumsum(0)
        out.append(torch.exp(a_star + torch.logcumsumexp(log_b[lo:lo + chunk] - a_star, 0)) + torch.exp(a_star) * h)
        h = out[-1][-1]
    return torch.cat(out)


class LinearScan(torch.autograd.Function):
    """(xp (L, N, K), h0 (N, H), valid, cell) -> every state h_t (L, N, H), padded steps included (they
    keep the state). The gates of each block (w and h̃, from `cell.mix`) are kept for backward when one will
    follow (w, h̃ and 1 - w: 3 (L, N, H) tensors; nn.GRU keeps 4 and more), and differentiated by the cell's own
    `mix_backward`, so no autograd graph is built here."""

    @staticmethod
    def forward(ctx, xp, h0, valid, cell):
        L, N = xp.shape[:2]
        ys = xp.new_empty((L, N, h0.shape[-1]))
        block = max(1, BLOCK_ELEMENTS // max(1, ys[0].numel()))
        keep = None if valid is None else valid.unsqueeze(-1).to(xp.dtype)
        h, gates = h0, []
        for lo in range(0, L, block):
            hi = min(L, lo + block)
            w, cand = cell.mix(xp[lo:hi])
            if keep is not None:
                w = w * keep[lo:hi]  # w = 0 at a padded step: the state passes unchanged
            # h_t = a_t h_{t-1} + b_t, one addcmul a step (2.5x faster than lerp's three-operand kernel)
            a, b = torch.rsub(w, 1), w * cand
            for t, (a_t, b_t) in enumerate(zip(a.unbind(0), b.unbind(0)), lo):
                h = torch.addcmul(b_t, a_t, h, out=ys[t])
            if any(ctx.needs_input_grad[:2]):
                gates.append((w, cand, a))
        ctx.cell, ctx.block, ctx.gates = cell, block, gates
        ctx.save_for_backward(xp, h0, keep, ys)
        return ys

    @staticmethod
    @first_order
    def backward(ctx, grad_ys):
        xp, h0, keep, ys = ctx.saved_tensors
        cell, block, L = ctx.cell, ctx.block, xp.shape[0]
        # no masking here: the outputs' padded steps were zeroed outside (in `run`), and the final
        # state, ys[-1], passes its gradient in through padded rows too
        # (any strides: the gradient of y.sum() is one expanded value, read row by row as it is)
        grad_xp = torch.empty_like(xp) if ctx.needs_input_grad[0] else None
        # g_t = dL/dy_t + (1 - w_{t+1}) g_{t+1}: one fused multiply-add per step, the step after carried
        a_next, g_next = torch.zeros_like(h0), torch.zeros_like(h0)
        for lo, (w, cand, a) in reversed(list(zip(range(0, L, block), ctx.gates))):
            hi = min(L, lo + block)
            g = torch.empty_like(w)  # g_t = dL/dh_t, all of it: from y_t and from h_{t+1}
            a_rows, gy_rows, g_rows = a.unbind(0), grad_ys[lo:hi].unbind(0), g.unbind(0)
            for t in range(hi - lo - 1, -1, -1):
                g_next = torch.addcmul(gy_rows[t], a_next, g_next, out=g_rows[t])
                a_next = a_rows[t]
            if grad_xp is not None:
                # dL/dw_t = g_t (h̃_t - h_{t-1}), dL/dh̃_t = g_t w_t
                step = torch.empty_like(cand)
                torch.sub(cand[0], h0 if lo == 0 else ys[lo - 1], out=step[0])
                torch.sub(cand[1:], ys[lo:hi - 1], out=step[1:])
                step *= g
                if keep is not None:
                    step *= keep[lo:hi]  # w was masked: a padded step passes nothing to its gates
                cell.mix_backward(xp[lo:hi], w, cand, step, g * w, out=grad_xp[lo:hi])
        return grad_xp, a_next * g_next, None, None  # dL/dh_0 = (1 - w_0) g_0


class NativeLinearScan(torch.autograd.Function):
    """LinearScan on the compiled kernels (kernels/scan.cpp): forward and backward one pass each, the gates
    recomputed in registers rather than stored. (xp, h0, valid, kind, kernels) -> every state h_t."""

    @staticmethod
    def forward(ctx, xp, h0, valid, kind, kernels):
        ys = kernels.scan_forward(**native.contiguous(xp=xp, h0=h0, valid=valid, kind=kind))
        ctx.kind, ctx.kernels = kind, kernels
        ctx.save_for_backward(xp, h0, valid, ys)
        return ys

    @staticmethod
    @first_order
    def backward(ctx, grad_ys):
        xp, h0, valid, ys = ctx.saved_tensors
        grad_xp, grad_h0 = ctx.kernels.scan_backward(**native.contiguous(
            dY=grad_ys, xp=xp, h0=h0, Y=ys, valid=valid, kind=ctx.kind))
        return grad_xp, grad_h0, None, None, None


def g(v):
    """Feng et al.'s positive activation of the candidate: v + 1/2 for v >= 0, σ(v) below (continuous,
    with slope 1/4 at 0 from the left and 1 from the right); positive, so log space can take it."""
    return torch.relu(v) + torch.sigmoid(v.clamp(max=0))  # = the two branches, without a boolean mask


def g_backward(v, cand, grad, out=None):
    """dL/dv from dL/dh̃ = grad for h̃ = g(v): g'(v) = 1 for v > 0 and h̃ (1 - h̃) below (h̃ = σ(v) there).
    Branch-free: boolean masks (torch.where) cost 20-40x a multiply on the CPU (torch 2.13)."""
    below = grad * torch.addcmul(cand, cand, cand, value=-1)  # grad σ'(v), right for v < 0
    # + (grad - that) where v > 0
    return torch.add(below, torch.ops.aten.threshold_backward(grad - below, v, 0.0), out=out)


def log_g(v):
    """log g(v), computed without forming g: log(v + 1/2) for v >= 0, -softplus(-v) = log σ(v) below."""
    return torch.where(v >= 0, torch.log(F.relu(v) + 0.5), -F.softplus(-v))


def native_kernels(cell):
    """The compiled scan runs the linear method only: scan="log" stays Heinsen's scan in torch."""
    return () if cell.scan == "log" else ("scan_forward", "scan_backward")


# native: kernels/scan.cpp runs the linear scan (forward and backward) where the compiled kernels are built.
# native_gain: training speed-up of those kernels over this engine in Python, mingru at (32, 4096, 64, 256), 2
# threads (benchmarks/scan.py: 238 against 418 ms a step; 1.2x at L = 512), quoted by `rnnzoo train`'s hint.
ENGINE = Engine("rnnzoo.engine.scan", project, run, native=True,
                native_kernels=native_kernels, native_gain=((256, 1.7),))
