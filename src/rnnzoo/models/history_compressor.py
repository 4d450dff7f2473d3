"""`HistoryCompressor`: Schmidhuber's neural history compressor, a stack of recurrent predictors in which
each level sees only what the level below failed to predict.

J. Schmidhuber, "Learning complex, extended sequences using the principle of history compression",
Neural Computation 4(2):234-242, 1992. A sequence can be rebuilt from its first symbol and the
(time, symbol) pairs a predictor got wrong, so the predictable steps can be left out: the level above
runs on a much shorter sequence, where a long time lag of the input is a short one. Each level runs
through `rnnzoo.Recurrent` on its own (compacted, right-padded) sequence. Built from a JSON-able dict,
like every model in rnnzoo.models.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .. import registry
from ..checks import _shape, check_finite, check_lengths, check_size
from ..driver import Recurrent


@dataclass
class HistoryResult:
    """What `HistoryCompressor.forward` returns. Lists hold one entry per level, level 0 first; T_k is
    the padded length of level k's sequence (T_0 = L); padded entries are 0 (gaps 1, masks False)."""

    symbols: list      # (N, T_k) long: the symbols level k read (x itself at level 0)
    times: list        # (N, T_k) long: the step of x each of them came from
    gaps: list         # (N, T_k) long: steps of x since the previous symbol that reached level k
    lengths: list      # (N,) long: each sequence's T_k (level 0: lengths, or L)
    logits: list       # (N, T_k, V): level k's prediction of its next symbol
    outputs: list      # (N, T_k, H): level k's recurrent output
    surprise: list     # (N, T_k) bool, the levels below the top: the steps that went up
    state_pred: list   # (N, T_k, H): level k's prediction of level k+1's output, levels that have one
    class_logits: torch.Tensor | None      # (N, num_classes): the head on the top level's last output
    distilled_logits: torch.Tensor | None  # (N, num_classes): the head on the prediction of it (collapse)
    losses: dict       # "predict", "state", "distill": lists of scalars; "distill_head": scalar or None

    @property
    def fraction_up(self) -> list[float]:
        """For each level above 0: the fraction of the batch's real steps of x that reached it."""
        total = float(self.lengths[0].sum())
        return [float(n.sum()) / total for n in self.lengths[1:]]


class HistoryCompressor(nn.Module):
    r"""Neural history compressor over discrete symbols: level 0 (the automatizer) reads every symbol
    and predicts the next; only the symbols it failed to predict go up, with their time gaps, to level
    1 (the chunker), whose unpredicted symbols go up to level 2, and so on.

    Equations (level k = 0..K-1 reads s^k_1..s^k_{T_k} with time stamps τ^k_j; s^0 = x, τ^0_j = j - 1):
        u^k_j = e_k(s^k_j)                     k = 0; e_k one-hot (embed_dim=0) or an nn.Embedding
        u^k_j = [e_k(s^k_j); log Δ^k_j]        k ≥ 1; Δ^k_j = τ^k_j - τ^k_{j-1}, Δ^k_1 = τ^k_1 + 1
        y^k = RNN_k(u^k)                       the level's registered cell, through Recurrent
        p^k_j = softmax(W_k y^k_j + b_k)       its prediction of s^k_{j+1}
        up^k_1 = True                          the first step has no prediction: it always goes up
        up^k_j = argmax p^k_{j-1} ≠ s^k_j      surprise="argmax" (the paper's "prediction wrong")
        up^k_j = p^k_{j-1}[s^k_j] < θ          surprise=θ, a float in (0, 1]
        (s^{k+1}, τ^{k+1}) = (s^k, τ^k) at the steps with up^k, in order (the paper's (t_s, x(t_s)))
        ŝ^k_j = V_k y^k_j + c_k                level k's prediction of level k+1's current output
                                               y^{k+1}_{i(j)}, i(j) = Σ_{j' ≤ j} up^k_{j'}
        z = head(y^{K-1}_{T_{K-1}})            class logits (num_classes > 0) from the top's last output
        z̃ = head(ŝ^{K-2}_{T_{K-2}})            the same read from the level below's prediction of it
    Losses (`result.losses`; each a mean over real steps, sg = no gradient):
        predict_k = CE(p^k_j, s^k_{j+1})                       j < T_k
        state_k = |ŝ^k_j - sg(y^{k+1}_{i(j)})|² / H            the automatizer learns the chunker's state
        distill_k = KL(sg(p^{k+1}_{i(j)}) ‖ p^k_j)            at the steps j with up^k_{j+1}, where the
                                                               level above predicted s^k_{j+1}
        distill_head = KL(sg(softmax z) ‖ softmax z̃)
    `loss()` weighs and sums them, with CE(z, target) for a classification target.

    Training: the surprise mask is a hard selection, not differentiable (as in the paper); no gradient
    crosses levels, so each level learns from its own losses on what reached it, and the head's loss
    trains the top level. Joint training (every step `model.loss(model(x, lengths), target)`) works: at
    first the automatizer predicts badly and most steps go up, then fewer as it learns. Staged
    training, as in the paper, weighs the levels: `loss(r, predict=(1, 0), state=0, classify=0)` until
    the automatizer is good, then the default weights. To collapse the chunker into the automatizer:
    train with state > 0 (the default; distill > 0 adds the chunker's predictions) until the automatizer
    predicts the chunker's state well enough that distilled_logits agree with class_logits, then call
    `collapse()`, which drops the top level; the head then reads ŝ of the new top level.

    Differs from the paper: levels run one after the other on whole sequences (the paper runs them
    online, step by step); the automatizer does not read the chunker's state (the paper's 2-net system
    does not either: it only predicts it); the chunker predicts the next symbol that reaches it, not
    its time; a symbol is the unit of surprise (not each element of the input vector).

    Args (all JSON-able; `config()` returns them, so `HistoryCompressor(**m.config())` rebuilds `m`):
        cell: a registered vector cell for every level (`rnnzoo.available()`)
        vocab_size: V, symbols 0..V-1 (keyword-only, required)
        hidden_size: H of every level; levels: K ≥ 2 (≥ 1 once collapsed)
        embed_dim: 0 for one-hot input, else each level embeds its symbols in this many features
        surprise: "argmax" or θ in (0, 1] (see the equations)
        num_classes: classes of the head (0: no head)
        collapsed: the top level was dropped by `collapse()`; the head reads its prediction
        cell_options: the cell's options, e.g. {"peephole": True} for lstm

    Shapes: N batch, L padded length, T_k level k's padded length (T_0 = L), V vocab_size, H the cell's
    output size, C num_classes
        x (N, L) integer symbols in [0, V), right-padded (padding ignored); lengths (N,) in [1, L] or None
        masks (optional): one (N, T_k) bool per level below the top, used instead of the computed
            surprise masks (True at step 1 of each sequence); for tests and oracle training
        forward -> HistoryResult (see it); loss -> a scalar

    Example:
        >>> import torch
        >>> from rnnzoo.models.history_compressor import HistoryCompressor
        >>> model = HistoryCompressor("gru", vocab_size=5, hidden_size=8, num_classes=3)
        >>> r = model(torch.randint(0, 5, (2, 9)), lengths=torch.tensor([9, 6]))
        >>> r.logits[0].shape, r.surprise[0].shape, r.class_logits.shape
        (torch.Size([2, 9, 5]), torch.Size([2, 9]), torch.Size([2, 3]))
        >>> bool(r.surprise[0][:, 0].all())  # the first step always goes up
        True
        >>> model.loss(r, target=torch.tensor([0, 2])).shape
        torch.Size([])
    """

    def __init__(self, cell: str = "lstm", *, vocab_size: int, hidden_size: int = 32, levels: int = 2,
                 embed_dim: int = 0, surprise="argmax", num_classes: int = 0, collapsed: bool = False,
                 cell_options: dict | None = None):
        super().__init__()
        if registry.get(cell).spatial:  # get() names `cell` for a non-str or an unknown name
            raise ValueError(f"cell must be a vector cell; {cell!r} is convolutional (its steps are images)")
        check_size(vocab_size, "vocab_size")
        check_size(hidden_size, "hidden_size")
        if not isinstance(collapsed, bool):
            raise TypeError(f"collapsed must be a bool, got {type(collapsed).__name__} {collapsed!r}")
        check_size(levels, "levels", minimum=1 if collapsed else 2)
        check_size(embed_dim, "embed_dim", minimum=0)
        check_size(num_classes, "num_classes", minimum=0)
        if surprise != "argmax" and not (isinstance(surprise, (int, float)) and not isinstance(surprise, bool)
                                         and 0 < check_finite(surprise, "surprise") <= 1):
            raise ValueError(f"surprise must be 'argmax' or a probability threshold in (0, 1], got {surprise!r}")
        if cell_options is not None and not isinstance(cell_options, dict):
            raise TypeError(f"cell_options must be a dict of the cell's options, got {type(cell_options).__name__}")
        self._config = dict(cell=cell, vocab_size=vocab_size, hidden_size=hidden_size, levels=levels,
                            embed_dim=embed_dim, surprise=surprise, num_classes=num_classes, collapsed=collapsed,
                            cell_options=dict(cell_options or {}))
        self.vocab_size, self.levels, self.surprise, self.collapsed = vocab_size, levels, surprise, collapsed
        feat = embed_dim or vocab_size
        # level 0 reads symbols only (its steps are one apart); the levels above also read log Δ
        self.rnn = nn.ModuleList(Recurrent(cell, feat + (k > 0), hidden_size, batch_first=True,
                                           **(cell_options or {})) for k in range(levels))
        H = self.rnn[0].output_size
        self.embed = nn.ModuleList(nn.Embedding(vocab_size, embed_dim) for _ in range(levels * bool(embed_dim)))
        self.predict = nn.ModuleList(nn.Linear(H, vocab_size) for _ in range(levels))
        # each level predicts the output of the level above; a collapsed top predicts the dropped one's
        self.to_state = nn.ModuleList(nn.Linear(H, H) for _ in range(levels if collapsed else levels - 1))
        self.head = nn.Linear(H, num_classes) if num_classes else None

    def config(self) -> dict:
        """The constructor's arguments, JSON-able: `HistoryCompressor(**m.config())` rebuilds `m`."""
        return {**self._config, "cell_options": dict(self._config["cell_options"])}

    def collapse(self) -> HistoryCompressor:
        """Drop the top level, in place (the paper's collapse of the chunker into the automatizer): the
        head then reads the new top level's prediction ŝ of the dropped level's output. Train with
        state > 0 first (the default), so that ŝ is worth reading. Returns the model; config() records
        the change."""
        if self.collapsed:
            raise ValueError("collapse() drops the top level once; this model is already collapsed "
                             "(its top level's prediction has no level left to predict)")
        del self.rnn[-1], self.predict[-1]
        if len(self.embed):
            del self.embed[-1]
        self.levels, self.collapsed = self.levels - 1, True
        self._config.update(levels=self.levels, collapsed=True)
        return self

    # --- the computation ----------------------------------------------------------------------------
    def forward(self, x, lengths=None, masks=None) -> HistoryResult:
        """x (N, L) symbols -> HistoryResult: each level's sequence, predictions, surprise mask, losses."""
        x, lengths = self._check(x, lengths)
        N, L = x.shape
        dtype = self.predict[0].weight.dtype
        steps = torch.arange(L, device=x.device).expand(N, L)
        if lengths is not None:
            steps = steps.masked_fill(steps >= lengths[:, None], 0)
        seq = dict(symbols=[x], times=[steps], gaps=[torch.ones_like(x)],
                   lengths=[torch.full((N,), L, device=x.device) if lengths is None else lengths])
        logits, outputs, surprise = [], [], []
        for k in range(self.levels):
            s, n = seq["symbols"][k], seq["lengths"][k]
            valid = torch.arange(s.shape[1], device=x.device)[None, :] < n[:, None]  # (N, T_k)
            u = self.embed[k](s) if len(self.embed) else F.one_hot(s, self.vocab_size).to(dtype)
            if k > 0:
                u = torch.cat([u, seq["gaps"][k].to(dtype).log().unsqueeze(-1)], dim=-1)
            y, _ = self.rnn[k](u, lengths=None if k == 0 and lengths is None else n)  # (N, T_k, H)
            outputs.append(y)
            logits.append(self.predict[k](y))
            if k == self.levels - 1:
                break
            up = self._surprise(logits[k], s, valid) if masks is None else self._given_mask(masks, k, valid)
            surprise.append(up)
            (s_up, t_up), n_up = _compact(up, s, seq["times"][k])
            gaps = t_up - torch.cat([t_up.new_full((N, 1), -1), t_up[:, :-1]], dim=1)
            keep = torch.arange(s_up.shape[1], device=x.device)[None, :] < n_up[:, None]
            for key, value in (("symbols", s_up), ("times", t_up), ("lengths", n_up),
                               ("gaps", torch.where(keep, gaps, torch.ones_like(gaps)))):
                seq[key].append(value)
        state_pred = [self.to_state[k](outputs[k]) for k in range(len(self.to_state))]
        result = HistoryResult(**seq, logits=logits, outputs=outputs, surprise=surprise, state_pred=state_pred,
                               class_logits=None, distilled_logits=None, losses={})
        if self.head is not None:
            top = self.levels - 1
            read = state_pred[top] if self.collapsed else outputs[top]
            result.class_logits = self.head(_last(read, seq["lengths"][top]))
            if not self.collapsed:
                result.distilled_logits = self.head(_last(state_pred[top - 1], seq["lengths"][top - 1]))
        result.losses = self._losses(result)
        return result

    def _surprise(self, logits, s, valid):
        """up^k: the first step, and each step whose symbol the previous step's prediction missed."""
        with torch.no_grad():
            previous, actual = logits[:, :-1], s[:, 1:]
            if self.surprise == "argmax":
                missed = previous.argmax(-1) != actual
            else:
                missed = previous.softmax(-1).gather(-1, actual.unsqueeze(-1)).squeeze(-1) < self.surprise
            return torch.cat([torch.ones_like(valid[:, :1]), missed], dim=1) & valid

    def _losses(self, r: HistoryResult) -> dict:
        predict, state, distill = [], [], []
        for k in range(self.levels):
            valid = torch.arange(r.symbols[k].shape[1], device=r.symbols[k].device)[None, :] < r.lengths[k][:, None]
            pairs = valid[:, 1:]  # steps j with a next symbol j+1 to predict
            ce = F.cross_entropy(r.logits[k][:, :-1].transpose(1, 2), r.symbols[k][:, 1:], reduction="none")
            predict.append(_mean(ce, pairs))
            if k + 1 < self.levels:
                i = (r.surprise[k].long().cumsum(1) - 1).clamp(min=0)  # (N, T_k): the level above's step
                above = r.outputs[k + 1].detach().gather(1, i.unsqueeze(-1).expand(-1, -1, r.outputs[k + 1].shape[-1]))
                state.append(_mean((r.state_pred[k] - above).pow(2).mean(-1), valid))
                p_above = r.logits[k + 1].detach().gather(1, i.unsqueeze(-1).expand(-1, -1, self.vocab_size))
                kl = F.kl_div(r.logits[k][:, :-1].log_softmax(-1), p_above[:, :-1].log_softmax(-1),
                              log_target=True, reduction="none").sum(-1)
                distill.append(_mean(kl, pairs & r.surprise[k][:, 1:]))
        head = None
        if r.distilled_logits is not None:
            head = F.kl_div(r.distilled_logits.log_softmax(-1), r.class_logits.detach().log_softmax(-1),
                            log_target=True, reduction="batchmean")
        return dict(predict=predict, state=state, distill=distill, distill_head=head)

    def loss(self, result: HistoryResult, target=None, *, predict=1.0, state=1.0, distill=0.0,
             classify=1.0) -> torch.Tensor:
        """Σ_k predict_k·predict_k + state·Σ state_k + distill·(Σ distill_k + distill_head)
        + classify·CE(class_logits, target). predict: one weight, or one per level (staged training)."""
        weights = list(predict) if isinstance(predict, (list, tuple)) else [predict] * self.levels
        if len(weights) != self.levels:
            raise ValueError(f"predict must be one weight or {self.levels} (one per level), got {len(weights)}")
        for name, w in [*((f"predict[{k}]", w) for k, w in enumerate(weights)), ("state", state),
                        ("distill", distill), ("classify", classify)]:
            if check_finite(w, name) < 0:
                raise ValueError(f"{name} must be a weight >= 0, got {w!r}")
        losses = result.losses
        total = sum(w * v for w, v in zip(weights, losses["predict"]))
        total = total + state * sum(losses["state"]) + distill * sum(losses["distill"])
        if losses["distill_head"] is not None:
            total = total + distill * losses["distill_head"]
        if target is not None:
            if self.head is None or result.class_logits is None:
                raise ValueError("target needs a classification head: build the model with num_classes > 0")
            N, C = result.class_logits.shape
            if not isinstance(target, torch.Tensor) or target.is_floating_point() or target.dtype == torch.bool:
                raise TypeError(f"target must be an integer tensor ({N},) of classes in [0, {C}), got "
                                f"{type(target).__name__} {getattr(target, 'dtype', '')}")
            if tuple(target.shape) != (N,) or int(target.min()) < 0 or int(target.max()) >= C:
                raise ValueError(f"target must have shape ({N},) and classes in [0, {C}), got shape "
                                 f"{_shape(target.shape)} with values {int(target.min())}..{int(target.max())}")
            total = total + classify * F.cross_entropy(result.class_logits, target.to(result.class_logits.device))
        return total

    # --- checks -------------------------------------------------------------------------------------
    def _check(self, x, lengths):
        want = f"(N, L) with symbols in [0, vocab_size={self.vocab_size})"
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"x must be a torch.Tensor {want}, got {type(x).__name__}")
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"x must be an integer tensor {want}, got dtype {x.dtype}")
        if x.dim() != 2 or 0 in x.shape:
            raise ValueError(f"x must be 2-D {want} with N >= 1 and L >= 1, got shape {_shape(x.shape)}")
        lengths = check_lengths(lengths, x.shape[0], x.shape[1], x.device)
        x = x.long()
        if lengths is not None:  # padding may hold anything: 0 from here on
            x = x.masked_fill(torch.arange(x.shape[1], device=x.device)[None, :] >= lengths[:, None], 0)
        lo, hi = int(x.min()), int(x.max())
        if lo < 0 or hi >= self.vocab_size:
            raise ValueError(f"x must hold symbols in [0, vocab_size={self.vocab_size}) at its real steps, "
                             f"got values from {lo} to {hi}")
        return x, lengths

    def _given_mask(self, masks, k, valid):
        if not isinstance(masks, (list, tuple)) or len(masks) != self.levels - 1:
            got = f"{len(masks)} of them" if isinstance(masks, (list, tuple)) else type(masks).__name__
            raise ValueError(f"masks must be a list of {self.levels - 1} bool tensors (one per level below the "
                             f"top), got {got}")
        m = masks[k]
        if not isinstance(m, torch.Tensor) or m.dtype != torch.bool or tuple(m.shape) != tuple(valid.shape):
            raise ValueError(f"masks[{k}] must be a bool tensor of level {k}'s shape {_shape(valid.shape)}, got "
                             f"{getattr(m, 'dtype', type(m).__name__)} {_shape(getattr(m, 'shape', ()))}")
        if not bool(m[:, 0].all()):
            raise ValueError(f"masks[{k}] must be True at step 0 of every sequence (the first step always goes up)")
        return m.to(valid.device) & valid


def _compact(mask, *values):
    """The entries of each row where mask (N, T) is True, in order, left-aligned and 0-padded:
    (values (N, T'), counts (N,)) with T' the largest count. One stable sort, no loop over rows."""
    counts = mask.sum(1)
    order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices[:, :int(counts.max())]
    keep = torch.arange(order.shape[1], device=mask.device)[None, :] < counts[:, None]
    return [v.gather(1, order).masked_fill(~keep, 0) for v in values], counts


def _last(y, lengths):
    """y (N, T, F) at each sequence's last real step: (N, F)."""
    return y[torch.arange(y.shape[0], device=y.device), lengths - 1]


def _mean(values, mask):
    """Mean of values (N, T) over the True entries of mask; 0 (with a gradient path) where there are none."""
    return (values * mask).sum() / max(int(mask.sum()), 1)

