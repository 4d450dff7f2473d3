"""`SequenceModel`: an input layer, any registered recurrent layer, and a head.

The model of addition, sentiment and charlm: one prediction per step or one per sequence. Built from
a plain dict (the "model" part of config.json), so a run directory rebuilds it from JSON alone and
loads the weights from safetensors.
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_bool, check_finite, check_size
from ..driver import Recurrent


class SequenceModel(nn.Module):
    """Embedding or features -> Recurrent -> Linear head, per step or per sequence.

    Args (all JSON-able; see `config()`):
        cell: registry name; cell_options: its options (e.g. {"peephole": True})
        input_size: features per step, or vocab_size for token input (then embed_dim is used)
        vocab_size, embed_dim: token input through nn.Embedding (padding id 0 when pad=True)
        hidden_size, num_layers, bidirectional, merge, dropout, recurrent_dropout: the layer's
        output_size: the head's outputs (1 for binary targets, the vocabulary for a language model)
        pool: "none" (a prediction per step), "last" (the last real step; a bidirectional layer's
            backward half is read at step 0, where it has seen the whole sequence, so it needs
            merge="concat"), "mean" or "max" (over real steps)
        io_dropout: dropout on the input (after the embedding) and on the recurrent output before the head
    """

    def __init__(self, cell: str, hidden_size: int, output_size: int, input_size: int = 0,
                 vocab_size: int = 0, embed_dim: int = 0, num_layers: int = 1,
                 bidirectional: bool = False, merge: str = "concat", dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, pool: str = "none", io_dropout: float = 0.0,
                 pad: bool = False, cell_options: dict | None = None):
        super().__init__()
        if pool not in ("none", "last", "mean", "max"):
            raise ValueError(f"pool must be none, last, mean or max, got {pool!r}")
        check_size(output_size, "output_size")
        if check_size(vocab_size, "vocab_size", minimum=0):
            check_size(embed_dim, "embed_dim")
        # a dropout of 1 would train on zeros: [0, 1), as the layer's own dropouts
        if not 0 <= check_finite(io_dropout, "io_dropout") < 1:
            raise ValueError(f"io_dropout must be a float in [0, 1), got {io_dropout!r}")
        pad = check_bool(pad, "pad")
        if cell_options is not None and not isinstance(cell_options, dict):
            raise TypeError(f"cell_options must be a dict of the cell's options, got {type(cell_options).__name__}")
        if pool == "last" and bidirectional and merge != "concat":
            # merged, the backward output at step 0 cannot be told from the forward one at the last step
            raise ValueError(f"pool='last' of a bidirectional layer needs merge='concat' (with merge={merge!r} "
                             "the backward direction would be read where it has seen one step); "
                             "use merge='concat', or pool='mean' or 'max'")
        self._config = dict(cell=cell, hidden_size=hidden_size, output_size=output_size,
                            input_size=input_size, vocab_size=vocab_size, embed_dim=embed_dim,
                            num_layers=num_layers, bidirectional=bidirectional, merge=merge,
                            dropout=dropout, recurrent_dropout=recurrent_dropout, pool=pool,
                            io_dropout=io_dropout, pad=pad, cell_options=dict(cell_options or {}))
        self.pool = pool
        if vocab_size:
            self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0 if pad else None)
            input_size = embed_dim
        self.drop = nn.Dropout(io_dropout)
        self.rnn = Recurrent(cell, input_size, hidden_size, num_layers=num_layers,
                             bidirectional=bidirectional, merge=merge, dropout=dropout,
                             recurrent_dropout=recurrent_dropout, batch_first=True,
                             **(cell_options or {}))
        self.head = nn.Linear(self.rnn.output_size, output_size)

    def config(self) -> dict:
        """The constructor's arguments, JSON-able: `SequenceModel(**m.config())` rebuilds `m`."""
        return dict(self._config)

    def forward(self, x, lengths=None, state=None):
        """x: (N, L) token ids or (N, L, input_size) -> (logits, final state).

        logits: (N, L, output_size) with pool="none", else (N, output_size).
        """
        if hasattr(self, "embed"):
            x = self.embed(x)
        y, state = self.rnn(self.drop(x), state=state, lengths=lengths)  # (N, L, F)
        return self.head(self.drop(self._pool(y, lengths))), state

    def _pool(self, y, lengths):
        if self.pool == "none":
            return y
        N, L = y.shape[:2]
        if lengths is None:
            lengths = torch.full((N,), L, device=y.device)
        lengths = torch.as_tensor(lengths, device=y.device)
        if self.pool == "last":
            last = y[torch.arange(N, device=y.device), lengths - 1]
            if self.rnn.bidirectional and self.rnn.merge == "concat":
                half = y.shape[-1] // 2  # the backward direction ends at step 0
                last = torch.cat([last[:, :half], y[:, 0, half:]], dim=-1)
            return last
        valid = (torch.arange(L, device=y.device)[None, :] < lengths[:, None]).unsqueeze(-1)
        if self.pool == "mean":
            return (y * valid).sum(1) / lengths[:, None].to(y.dtype)
        return y.masked_fill(~valid, float("-inf")).max(1).values
