"""The minimal gated cells of "Were RNNs all we needed?" (Feng et al. 2024): minGRU and minLSTM.

Their gates read x_t only, never h_{t-1}, so the step is linear in h and a whole sequence is one scan
(rnnzoo.engine.scan) instead of a time loop; `step` runs one step with state in and out, for generation
and as the reference the scan is tested against.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_bool
from ..driver import NamedRecurrent
from ..engine import scan as engine
from ..registry import Entry, register
from .base import Cell, init_blocks_


class _MinimalCell(Cell):
    """Shared parts: `blocks` stacked input projections, no recurrent weights, the `scan` option."""

    recurrent_inputs = ()  # nothing multiplies h inside the step: recurrent dropout has no input here
    blocks = 2
    native_kind = 0  # the compiled scan's code for this cell's gates (engine/kernels/scan.cpp)

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, scan: str = "auto"):
        super().__init__(input_size, hidden_size)
        if scan not in engine.METHODS:
            raise ValueError(f"scan must be one of {', '.join(map(repr, engine.METHODS))}, got {scan!r}")
        self.scan = scan
        self.weight_ih = nn.Parameter(torch.empty(self.blocks * hidden_size, input_size))
        self.bias = nn.Parameter(torch.zeros(self.blocks * hidden_size)) if check_bool(bias, "bias") else None
        init_blocks_(self.weight_ih, self.blocks, recurrent=False)

    def project(self, x):
        return F.linear(x, self.weight_ih, self.bias)  # (L, N, blocks * H)

    def mix(self, xp):
        """(w, h̃) of every step of xp: h' = (1 - w) h + w h̃."""
        raise NotImplementedError

    def mix_backward(self, xp, w, cand, grad_w, grad_cand, out):
        """Write dL/dxp into `out` from dL/dw and dL/dh̃ (the linear scan's hand-written backward)."""
        raise NotImplementedError

    def log_mix(self, xp):
        """(log(1 - w), log(w h̃)) of every step of xp, computed in log space (for the log scan)."""
        raise NotImplementedError

    def step(self, xp, state, rec_mask=None):
        w, cand = self.mix(xp)
        h = torch.lerp(state[0], cand, w)  # (1 - w) h + w h̃
        return h, (h,)

    def fused_reason(self):
        return f"{type(self).__name__} has no fused torch kernel; its sequences run as one scan (rnnzoo.engine.scan)"

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}, scan={self.scan!r}"


class MinGRUCell(_MinimalCell):
    r"""minGRU cell (Feng et al. 2024), registry name `mingru`. One step; `rnnzoo.Recurrent` runs
    sequences as one scan.

    Equations (block order of weight_ih and bias: z, h):
        z  = σ(W_z x + b_z)
        h̃  = g(W_h x + b_h),    g(v) = v + 1/2 (v >= 0), σ(v) (v < 0)
        h' = (1 - z) ⊙ h + z ⊙ h̃
    The GRU without its reset gate and without h in the gates; g keeps h̃ (and, from a non-negative
    initial state, h) positive, which the log-space scan needs (the paper's log-space form).

    Shapes: N batch, H_in input_size, H hidden_size
        x (N, H_in); state (h,), h (N, H); output h' (N, H)
        weight_ih (2H, H_in); bias (2H,)
    Init: weight_ih Glorot-uniform per block, bias 0.

    Args:
        input_size, hidden_size: features of x and h.
        bias: learn b_z and b_h.
        scan: how a sequence runs (rnnzoo.engine.scan): "linear" (an exact multiply-add per step with
            the gates computed for blocks of steps), "log" (Heinsen's log-space parallel scan) or
            "auto" (linear on the CPU, log on other devices).

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.MinGRU(3, 5, batch_first=True)
        >>> y, h = rnn(torch.randn(2, 7, 3))
        >>> y.shape, h.shape
        (torch.Size([2, 7, 5]), torch.Size([1, 2, 5]))
    """

    def mix(self, xp):
        k, v = xp.chunk(2, dim=-1)
        return torch.sigmoid(k), engine.g(v)

    def mix_backward(self, xp, w, cand, grad_w, grad_cand, out):
        out_k, out_v = out.chunk(2, dim=-1)
        torch.mul(grad_w, torch.addcmul(w, w, w, value=-1), out=out_k)  # σ'(k) = w (1 - w)
        engine.g_backward(xp.chunk(2, dim=-1)[1], cand, grad_cand, out=out_v)

    def log_mix(self, xp):
        k, v = xp.chunk(2, dim=-1)
        return -F.softplus(k), -F.softplus(-k) + engine.log_g(v)  # log(1 - σ(k)), log σ(k) + log g(v)


class MinLSTMCell(_MinimalCell):
    r"""minLSTM cell (Feng et al. 2024), registry name `minlstm`. One step; `rnnzoo.Recurrent` runs
    sequences as one scan.

    Equations (block order of weight_ih and bias: f, i, h):
        f  = σ(W_f x + b_f),  i = σ(W_i x + b_i)
        f' = f / (f + i),     i' = i / (f + i)          (normalised: the state's scale does not drift)
        h̃  = g(W_h x + b_h),  g(v) = v + 1/2 (v >= 0), σ(v) (v < 0)
        h' = f' ⊙ h + i' ⊙ h̃
    No cell state and no output gate: h is the cell. The step and the linear scan divide, i / (f + i), with
    a floor where both gates underflow; the log scan takes log i' = -softplus(softplus(-k_i) - softplus(-k_f))
    (k the pre-activations), the same value without dividing small numbers.

    Shapes: N batch, H_in input_size, H hidden_size
        x (N, H_in); state (h,), h (N, H); output h' (N, H)
        weight_ih (3H, H_in); bias (3H,)
    Init: weight_ih Glorot-uniform per block, bias 0.

    Args:
        input_size, hidden_size: features of x and h.
        bias: learn b_f, b_i and b_h.
        scan: "auto", "linear" or "log", as for `MinGRUCell`.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.MinLSTM(3, 5)
        >>> y, h = rnn(torch.randn(7, 2, 3))
        >>> y.shape, h.shape
        (torch.Size([7, 2, 5]), torch.Size([1, 2, 5]))
    """

    blocks = 3
    native_kind = 1

    def mix(self, xp):
        k_f, k_i, v = xp.chunk(3, dim=-1)
        f, i = torch.sigmoid(k_f), torch.sigmoid(k_i)
        # i / (f + i); the floor only matters where both gates underflow (pre-activations below about
        # -87 in float32), and keeps the state there instead of dividing 0 by 0
        return i / (f + i).clamp(min=torch.finfo(i.dtype).tiny), engine.g(v)

    def mix_backward(self, xp, w, cand, grad_w, grad_cand, out):
        k_f, k_i, v = xp.chunk(3, dim=-1)
        out_f, out_i, out_v = out.chunk(3, dim=-1)
        # with S = f + i: dw/dk_i = w (1 - w) (1 - i), dw/dk_f = -w (1 - w) (1 - f)
        q = grad_w * torch.addcmul(w, w, w, value=-1)
        torch.mul(q, torch.sigmoid(-k_i), out=out_i)
        torch.mul(q, torch.sigmoid(-k_f), out=out_f).neg_()
        engine.g_backward(v, cand, grad_cand, out=out_v)

    @staticmethod
    def _gap(k_f, k_i):
        return F.softplus(-k_f) - F.softplus(-k_i)  # log i - log f: i' = σ(gap), f' = σ(-gap)

    def log_mix(self, xp):
        k_f, k_i, v = xp.chunk(3, dim=-1)
        gap = self._gap(k_f, k_i)
        return -F.softplus(gap), -F.softplus(-gap) + engine.log_g(v)


class MinGRU(NamedRecurrent):
    """minGRU layer: `Recurrent("mingru", ...)`; sequences run as one scan. Equations: `rnnzoo.cells.MinGRUCell`.

    Example:
        >>> import torch, rnnzoo
        >>> y, h = rnnzoo.MinGRU(4, 8, num_layers=2)(torch.randn(6, 3, 4))
        >>> y.shape, h.shape
        (torch.Size([6, 3, 8]), torch.Size([2, 3, 8]))
    """

    _cell = "mingru"


class MinLSTM(NamedRecurrent):
    """minLSTM layer: `Recurrent("minlstm", ...)`; sequences run as one scan. Equations: `rnnzoo.cells.MinLSTMCell`.

    Example:
        >>> import torch, rnnzoo
        >>> y, h = rnnzoo.MinLSTM(4, 8, bidirectional=True)(torch.randn(6, 3, 4))
        >>> y.shape, h.shape
        (torch.Size([6, 3, 16]), torch.Size([2, 3, 8]))
    """

    _cell = "minlstm"


register(Entry(
    "mingru", MinGRUCell, "minGRU: a GRU whose gates read x only; sequences run as one scan",
    "h' = (1 - z) h + z g(W_h x), z = σ(W_z x)", "Feng et al. 2024, Were RNNs all we needed?", layer=MinGRU,
    variants={"default": {}, "log_scan": {"scan": "log"}}, torch_counterpart="gru", engine=engine.ENGINE))
register(Entry(
    "minlstm", MinLSTMCell, "minLSTM: normalised forget and input gates that read x only; one scan",
    "h' = f' h + i' g(W_h x), f' + i' = 1", "Feng et al. 2024, Were RNNs all we needed?", layer=MinLSTM,
    variants={"default": {}, "log_scan": {"scan": "log"}}, torch_counterpart="lstm", engine=engine.ENGINE))
