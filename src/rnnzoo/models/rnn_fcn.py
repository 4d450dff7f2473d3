"""`RNNFCN`: the LSTM-FCN / GRU-FCN time-series classifier (Karim et al. 2018) for padded batches.

A fully convolutional branch (Conv1d -> batch norm -> ReLU blocks, then global average pooling) beside
a recurrent branch (any registered vector cell, pooled over each series' real steps), concatenated into
one linear head. Both branches honour `lengths`, so a right-padded batch of unequal series gives, in
eval mode, exactly what each series gives alone. Built from a JSON-able dict, like every model in
rnnzoo.models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .. import registry
from ..checks import _shape, check_batch_steps, check_finite, check_lengths, check_size
from ..driver import Recurrent

POOLS = ("last", "mean", "max")


class MaskedBatchNorm1d(nn.Module):
    r"""BatchNorm1d over the real steps of a right-padded batch (N, C, L).

    Equations (per channel; R = the real steps of the batch, |R| of them):
        training: μ = 1/|R| Σ_R a,  σ² = 1/|R| Σ_R (a - μ)²   (padded steps left out)
                  running_mean ← (1 - momentum) running_mean + momentum μ
                  running_var  ← (1 - momentum) running_var  + momentum σ² |R| / (|R| - 1)
        eval:     μ, σ² = running_mean, running_var
        y = γ (a - μ) / √(σ² + ε) + β at real steps, 0 at padded ones

    With no mask (valid=None) it is nn.BatchNorm1d(C, eps, momentum) on (N, C, L); the parameter and
    buffer names are BatchNorm1d's (weight, bias, running_mean, running_var, num_batches_tracked).

    Shapes: x (N, C, L); valid (N, L) bool, True at real steps, or None (all real); output (N, C, L).

    Example:
        >>> import torch
        >>> from rnnzoo.models.rnn_fcn import MaskedBatchNorm1d
        >>> norm = MaskedBatchNorm1d(2)
        >>> x = torch.tensor([[[1., 3., 99.], [0., 2., 99.]]])  # the third step is padding
        >>> norm(x, torch.tensor([[True, True, False]])).detach()  # statistics of the real steps only
        tensor([[[-1.0000,  1.0000,  0.0000],
                 [-1.0000,  1.0000,  0.0000]]])
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x, valid=None):
        mask = None if valid is None else valid[:, None, :].to(x.dtype)  # (N, 1, L)
        if self.training:
            count = x.shape[0] * x.shape[2] if valid is None else int(valid.sum())
            if count < 2:
                raise ValueError(f"batch norm in training mode needs more than one real step per channel, "
                                 f"got {count} (x of shape {_shape(x.shape)}); train on longer series or "
                                 "larger batches, or call .eval()")
            if mask is None:
                mean, var = x.mean((0, 2)), x.var((0, 2), unbiased=False)
            else:
                mean = (x * mask).sum((0, 2)) / count
                var = ((x - mean[:, None]) * mask).pow(2).sum((0, 2)) / count
            with torch.no_grad():
                m = self.momentum
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (count / (count - 1)), alpha=m)
                self.num_batches_tracked.add_(1)
        else:
            mean, var = self.running_mean, self.running_var
        y = (x - mean[:, None]) * torch.rsqrt(var[:, None] + self.eps) * self.weight[:, None] + self.bias[:, None]
        return y if mask is None else y * mask

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class RNNFCN(nn.Module):
    r"""LSTM-FCN / GRU-FCN (Karim et al. 2018): a recurrent branch and a fully convolutional branch side by
    side, concatenated into a linear head; one prediction per series.

    Equations (one series x_1..x_T, T its length; K = len(filters) convolutional blocks):
        recurrent branch
            y_1..y_T, s = Recurrent(x_1..x_T)             padding never enters the recurrence
            r = y_T                                       pool="last" (bidirectional: [y_T^fwd ; y_1^bwd],
                                                          each direction at its own last step)
            r = 1/T Σ_{t≤T} y_t  |  max_{t≤T} y_t         pool="mean" | "max"
            r = dropout(r, rnn_dropout)                   Karim et al. use 0.8
        convolutional branch, h^0 = x (channels first), every h^k taken as 0 beyond step T
            a^k = W_k * h^{k-1} + b_k                     Conv1d: filters[k-1] channels, kernel kernels[k-1],
                                                          stride 1, 'same' length (padding="same": zeros
                                                          beyond both ends; for even kernels one more
                                                          on the right)
            h^k_t = ReLU(γ_k (a^k_t - μ_k) / √(σ²_k + ε) + β_k),  t ≤ T
            μ_k, σ²_k                                     training: mean and biased variance over the
                                                          batch's real steps (MaskedBatchNorm1d);
                                                          eval: the running estimates
            c = 1/T Σ_{t≤T} h^K_t                         global average pooling over real steps
        head
            logits = W_o [r ; c] + b_o

    Args (all JSON-able; `config()` returns them, so `RNNFCN(**m.config())` rebuilds `m`):
        cell: a registered vector cell (`rnnzoo.available()`), e.g. "lstm" or "gru"
        input_size: D, features per step; hidden_size: H of the cell; output_size: C, the classes
        num_layers, bidirectional, merge, dropout, recurrent_dropout: the recurrent layer's (Recurrent)
        rnn_dropout: dropout on the pooled recurrent output, in [0, 1)
        filters, kernels: channels and kernel size of each convolutional block (equal lengths, ints >= 1)
        pool: "last", "mean" or "max", as SequenceModel pools; "last" of a bidirectional layer needs
            merge="concat"
        cell_options: the cell's options, e.g. {"peephole": True} for lstm

    Shapes: N batch, L padded length, D input_size, R = Recurrent.output_size (D_dir * H with
    merge="concat"), F = filters[-1], C output_size
        x            (N, L, D) float, right-padded (padded values are ignored)
        lengths      (N,) ints in [1, L], or None (every series has L steps)
        state        Recurrent's initial state, or None for zeros
        logits       (N, C)
        state (out)  Recurrent's final state, at each series' last real step
        inside: r (N, R), h^k (N, filters[k-1], L), c (N, F), [r ; c] (N, R + F)

    Differs from the paper: the recurrent branch reads the series over time (Karim et al.'s "dimension
    shuffle", one step of L features, would make padding part of the input), and both branches and the
    batch statistics see real steps only, so padding changes nothing in eval mode.

    Example:
        >>> import torch
        >>> from rnnzoo.models import RNNFCN
        >>> model = RNNFCN("lstm", input_size=2, hidden_size=8, output_size=3, filters=(16, 32, 16)).eval()
        >>> x, lengths = torch.randn(4, 20, 2), torch.tensor([20, 12, 17, 5])
        >>> logits, (h, c) = model(x, lengths)
        >>> logits.shape, h.shape
        (torch.Size([4, 3]), torch.Size([1, 4, 8]))
        >>> alone, _ = model(x[3:, :5])  # the last series on its own
        >>> torch.allclose(alone, logits[3:], atol=1e-6)
        True
    """

    def __init__(self, cell: str, input_size: int, hidden_size: int, output_size: int, *, num_layers: int = 1,
                 bidirectional: bool = False, merge: str = "concat", dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, rnn_dropout: float = 0.8, filters=(128, 256, 128),
                 kernels=(8, 5, 3), pool: str = "last", cell_options: dict | None = None):
        super().__init__()
        if registry.get(cell).spatial:  # get() names `cell` for a non-str or an unknown name
            raise ValueError(f"cell must be a vector cell; {cell!r} is convolutional (its steps are images)")
        check_size(input_size, "input_size")
        check_size(hidden_size, "hidden_size")
        check_size(output_size, "output_size")
        if not 0 <= check_finite(rnn_dropout, "rnn_dropout") < 1:
            raise ValueError(f"rnn_dropout must be a float in [0, 1), got {rnn_dropout!r}")
        filters, kernels = _sizes(filters, "filters"), _sizes(kernels, "kernels")
        if len(filters) != len(kernels):
            raise ValueError(f"filters and kernels must have one entry per convolutional block, the same number, "
                             f"got {len(filters)} filters {filters} and {len(kernels)} kernels {kernels}")
        if pool not in POOLS:
            raise ValueError(f"pool must be last, mean or max, got {pool!r}")
        if pool == "last" and bidirectional and merge != "concat":
            # merged, the backward output at step 0 cannot be told from the forward one at the last step
            raise ValueError(f"pool='last' of a bidirectional layer needs merge='concat' (with merge={merge!r} "
                             "the backward direction would be read where it has seen one step); "
                             "use merge='concat', or pool='mean' or 'max'")
        if cell_options is not None and not isinstance(cell_options, dict):
            raise TypeError(f"cell_options must be a dict of the cell's options, got {type(cell_options).__name__}")
        self._config = dict(cell=cell, input_size=input_size, hidden_size=hidden_size, output_size=output_size,
                            num_layers=num_layers, bidirectional=bidirectional, merge=merge, dropout=dropout,
                            recurrent_dropout=recurrent_dropout, rnn_dropout=rnn_dropout, filters=filters,
                            kernels=kernels, pool=pool, cell_options=dict(cell_options or {}))
        self.input_size, self.pool, self.kernels = input_size, pool, tuple(kernels)
        self.rnn = Recurrent(cell, input_size, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                             merge=merge, dropout=dropout, recurrent_dropout=recurrent_dropout, batch_first=True,
                             **(cell_options or {}))
        self.rnn_drop = nn.Dropout(rnn_dropout)
        channels = [input_size, *filters]
        # no padding in the Conv1d itself: forward pads as padding="same" does, without the warning (and
        # the extra copy) torch makes for even kernels
        self.convs = nn.ModuleList(nn.Conv1d(a, b, k) for a, b, k in zip(channels, filters, kernels))
        self.norms = nn.ModuleList(MaskedBatchNorm1d(f) for f in filters)
        self.head = nn.Linear(self.rnn.output_size + filters[-1], output_size)

    def config(self) -> dict:
        """The constructor's arguments, JSON-able: `RNNFCN(**m.config())` rebuilds `m`."""
        c = self._config
        return {**c, "filters": list(c["filters"]), "kernels": list(c["kernels"]),
                "cell_options": dict(c["cell_options"])}

    def forward(self, x, lengths=None, state=None):
        """x (N, L, D), lengths (N,) or None -> (logits (N, C), the Recurrent's final state)."""
        lengths = self._check(x, lengths)
        y, state = self.rnn(x, state=state, lengths=lengths)  # checks dtype, NaN and inf; (N, L, R)
        r = self.rnn_drop(self._pool(y, lengths))  # (N, R)
        c = self._convolve(x, lengths)  # (N, F)
        return self.head(torch.cat([r, c], dim=-1)), state

    def _pool(self, y, lengths):
        """The recurrent output pooled over real steps (y is 0 at padded ones), as SequenceModel pools."""
        N, L = y.shape[:2]
        if self.pool == "last":
            last = y[:, -1] if lengths is None else y[torch.arange(N, device=y.device), lengths - 1]
            if self.rnn.bidirectional:  # merge="concat" (checked): the backward direction ends at step 0
                half = y.shape[-1] // 2
                last = torch.cat([last[:, :half], y[:, 0, half:]], dim=-1)
            return last
        if lengths is None:
            return y.mean(1) if self.pool == "mean" else y.max(1).values
        valid = (torch.arange(L, device=y.device)[None, :] < lengths[:, None]).unsqueeze(-1)  # (N, L, 1)
        if self.pool == "mean":
            return (y * valid).sum(1) / lengths[:, None].to(y.dtype)
        return y.masked_fill(~valid, float("-inf")).max(1).values

    def _convolve(self, x, lengths):
        """The convolutional branch: every block's input and output 0 beyond each series' length, so the
        'same' padding of a series alone and the padding of the batch are the same zeros."""
        N, L = x.shape[:2]
        valid = None if lengths is None else torch.arange(L, device=x.device)[None, :] < lengths[:, None]  # (N, L)
        mask = None if valid is None else valid[:, None, :].to(x.dtype)  # (N, 1, L)
        h = x.transpose(1, 2)  # (N, D, L)
        if mask is not None:
            h = h * mask
        for conv, norm, k in zip(self.convs, self.norms, self.kernels):
            left = (k - 1) // 2  # as torch's padding="same": the odd zero goes on the right
            h = F.relu(norm(conv(F.pad(h, (left, k - 1 - left))), valid))  # (N, channels, L), 0 at padded steps
        if lengths is None:
            return h.mean(2)
        return h.sum(2) / lengths[:, None].to(h.dtype)

    def _check(self, x, lengths):
        """lengths as int64 (N,) or None, after checking x's shape (its dtype and values: Recurrent)."""
        want = f"(N, L, input_size={self.input_size})"
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor {want}, got {type(x).__name__}")
        if x.dim() != 3:
            raise ValueError(f"x must be 3-D {want}, got {x.dim()}-D with shape {_shape(x.shape)}")
        N, L = check_batch_steps(x, self.input_size, "series")
        return check_lengths(lengths, N, L, x.device)

    def extra_repr(self):
        return f"pool={self.pool!r}"


def _sizes(value, argument: str) -> list[int]:
    """A non-empty list or tuple of ints >= 1, as a list (JSON's form), or an error naming `argument`."""
    if not isinstance(value, (list, tuple)):
        raise TypeError(f"{argument} must be a list or tuple of ints, one per convolutional block, "
                        f"got {type(value).__name__} {value!r}")
    if not value:
        raise ValueError(f"{argument} must have at least one entry (one per convolutional block), got {value!r}")
    return [check_size(v, f"{argument}[{i}]") for i, v in enumerate(value)]
