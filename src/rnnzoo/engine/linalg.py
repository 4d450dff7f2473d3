"""Matrix products for the engines: oneDNN where it is faster, torch.mm otherwise.

On CPU, torch.mm / F.linear in float32 call MKL's sgemm, while torch's fused nn.LSTM / nn.GRU /
nn.RNN kernels run on oneDNN. Where MKL does not use the CPU's widest vector unit (measured here on
an AVX-512 AMD EPYC: MKL 95 GFLOP/s, oneDNN 215 GFLOP/s for a (64, 256) x (256, 1024) product on one
thread), that alone makes the fused kernels twice as fast as any loop of torch.mm. This module
reaches oneDNN through the ops torch itself ships for CPU inference (torch.ops.mkldnn:
_reorder_linear_weight packs a weight once, _linear_pointwise multiplies dense tensors by it). They
are internal to torch, so every use is guarded: float32 on CPU only, a probe against torch.mm on
first use, torch.mm whenever the ops are missing or the probe fails, and `use_onednn = False` turns
them off (tests run both ways). oneDNN's fixed cost per call (~12 us) loses to MKL on small products,
hence the size thresholds, set by measurement (benchmarks in the engine's report).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .common import first_order

use_onednn = True  # set False to run every product on torch.mm (MKL)
STEP_MACS = 1 << 21  # per-step products x (rows, K) @ W^T (M, K): oneDNN from rows * K * M MACs
GRAM_SIZE = 1 << 17  # weight gradients A^T B over all L * N rows: oneDNN from an (M, K) result this size

_probed = None


def _ops():
    mk = torch.ops.mkldnn
    return mk._reorder_linear_weight.default, mk._linear_pointwise.default, mk._linear_pointwise.binary


def available() -> bool:
    """oneDNN products work here (probed once against torch.mm)."""
    global _probed
    if _probed is None:
        try:
            pack, lin, lin_add = _ops()
            g = torch.Generator().manual_seed(0)
            x, w, b = (torch.randn(s, generator=g) for s in ((5, 7), (3, 7), (5, 3)))
            _probed = bool(torch.backends.mkldnn.is_available()
                           and torch.allclose(lin(x, pack(w), None, "none", [], ""), x @ w.t(), atol=1e-5)
                           and torch.allclose(lin_add(x, b, pack(w), None, "add"), b + x @ w.t(), atol=1e-5))
        except Exception:  # noqa: BLE001  missing op, build without mkldnn, changed signature
            _probed = False
    return _probed


def onednn_for(t: torch.Tensor) -> bool:
    return use_onednn and t.dtype == torch.float32 and t.device.type == "cpu" and available()


class Right:
    """x @ W^T (+ bias) for many x (rows, K) against one weight W (M, K), packed once for oneDNN when
    the product is large enough to gain from it."""

    __slots__ = ("Wt", "bias", "lin", "lin_add", "packed")

    def __init__(self, W: torch.Tensor, rows: int, bias: torch.Tensor | None = None):
        self.Wt, self.bias, self.packed = W.t(), bias, None
        if onednn_for(W) and rows * W.shape[0] * W.shape[1] >= STEP_MACS:
            pack, self.lin, self.lin_add = _ops()
            self.packed = pack(W.detach())

    def __call__(self, x):
        if self.packed is None:
            return torch.mm(x, self.Wt) if self.bias is None else torch.addmm(self.bias, x, self.Wt)
        return self.lin(x, self.packed, self.bias, "none", [], "")

    def add(self, base, x):
        """base + x @ W^T, a new tensor (no bias)."""
        if self.packed is None:
            return torch.addmm(base, x, self.Wt)
        return self.lin_add(x, base, self.packed, None, "add")


def gram_on_onednn(a, cols: int) -> bool:
    """gram(a, b) with b of `cols` columns runs on oneDNN (and takes a in `gram_layout`)."""
    return onednn_for(a) and a.shape[-1] * cols >= GRAM_SIZE


def gram(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """a^T b for a (R, M), b (R, K) with many rows R: a weight gradient summed over all steps.
    oneDNN copies a^T unless a is already the transpose of a contiguous matrix (`gram_layout`)."""
    if gram_on_onednn(a, b.shape[1]):
        pack, lin, _ = _ops()
        return lin(a.t(), pack(b.t()), None, "none", [], "")
    return a.t().mm(b)


def gram_layout(t: torch.Tensor, cols: int) -> torch.Tensor:
    """t (L, N, M) laid out for gram(t, b) with b of `cols` columns: on oneDNN, the transpose of a
    contiguous (M, L * N) matrix (one copy, which then serves every gram of t: the recurrent weight's
    and the input projection's); else t itself."""
    if not gram_on_onednn(t, cols):
        return t
    L, N, M = t.shape
    return t.reshape(L * N, M).t().contiguous().t().view(L, N, M)


class Linear(torch.autograd.Function):
    """F.linear(x, W, b) with its products on oneDNN: the engines' input projection."""

    @staticmethod
    def forward(ctx, x, W, b):
        x2 = x.reshape(-1, x.shape[-1])
        ctx.save_for_backward(x2, W)
        ctx.has_bias = b is not None
        y = Right(W, x2.shape[0])(x2)
        if b is not None:
            y.add_(b)
        return y.view(*x.shape[:-1], W.shape[0])

    @staticmethod
    @first_order
    def backward(ctx, dy):
        x2, W = ctx.saved_tensors
        dy2 = dy.reshape(-1, dy.shape[-1])
        dx = dW = db = None
        if ctx.needs_input_grad[0]:
            dx = Right(W.t(), dy2.shape[0])(dy2).view(*dy.shape[:-1], W.shape[1])
        if ctx.needs_input_grad[1]:
            dW = gram(dy2, x2)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            db = dy2.sum(0)
        return dx, dW, db


def linear(x, W, b=None):
    """F.linear on oneDNN when it pays (float32 CPU, large), else F.linear itself."""
    if onednn_for(x) and x.numel() // x.shape[-1] * W.numel() >= STEP_MACS:
        return Linear.apply(x, W, b)
    return F.linear(x, W, b)
