r"""`Seq2Seq`: an encoder-decoder over token sequences, with attention, reversed input and beam search.

The encoder reads the source sentence into states; the decoder writes the target one token at a
time, starting from the encoder's final state (through a bridge when the encoder is bidirectional).
Reversing the source (Sutskever et al. 2014) puts the first source words next to the first target
words; attention (Bahdanau et al. 2015; Luong et al. 2015) lets every target step look at every
source position, so the sentence no longer has to fit through one state.

Equations, decoder step t (s: source positions, \bar h_s: encoder outputs, h_t: decoder output):

    h_t       = cell([e(y_{t-1}); \tilde h_{t-1}], h_{t-1})     (\tilde h_{t-1} only with input_feeding)
    score     = h_t^T \bar h_s                  "dot"      (\bar h_s projected to H if sizes differ)
                h_t^T W_a \bar h_s              "general"
                v^T tanh(W_1 h_t + W_2 \bar h_s) "bahdanau" (additive)
    a_t       = softmax over the real source positions (padded ones get exactly 0)
    c_t       = \sum_s a_{t,s} \bar h_s
    \tilde h_t = tanh(W_c [c_t; h_t])            (attention "none": \tilde h_t = h_t)
    p(y_t)    = softmax(W_s \tilde h_t + b)     (W_s = the target embedding with tie_embeddings)

The additive score is computed from the decoder's current output, as in Luong's "concat" form, so
that without input feeding the decoder runs over the whole target in one call (torch's fused
kernels or rnnzoo's engines) and attention follows for all steps at once; with input feeding it
steps one token at a time. Decoding (greedy, beam search) steps one token at a time, batched over
sentences.

Token ids: 0 is padding (never attended, never predicted in training), `bos_id` starts every target,
`eos_id` ends it. Shapes (N sentences, S source length, T target length, V target vocabulary):

    src (N, S) int64, right-padded with 0     src_lengths (N,) in [1, S]
    tgt_in (N, T): bos_id, y_1 ... y_{T-1}    features (N, T, F)   logits (N, T, V)
    attention (N, T, S), rows summing to 1    decode: a list of N token lists (no bos/eos)

Example:
    >>> import torch
    >>> from rnnzoo.models import Seq2Seq
    >>> m = Seq2Seq(source_vocab=20, target_vocab=30, hidden_size=16, embed_dim=8)
    >>> src, lengths = torch.tensor([[5, 6, 7], [8, 9, 0]]), torch.tensor([3, 2])
    >>> logits, attention = m(src, lengths, torch.tensor([[2, 11], [2, 12]]))
    >>> logits.shape, attention.shape
    (torch.Size([2, 2, 30]), torch.Size([2, 2, 3]))
    >>> float(attention[1, :, 2].abs().max())  # the padded source position gets no attention
    0.0
    >>> tokens, _ = m.decode(src, lengths, beam=3)
    >>> len(tokens)
    2
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_bool, check_finite, check_size
from ..driver import Recurrent

ATTENTION = ("none", "dot", "general", "bahdanau")
SOFTMAX = ("full", "adaptive")
PAD = 0
ADAPTIVE_HEAD, ADAPTIVE_TAIL = 2000, 8000  # the adaptive softmax's clusters: ids below 2000, below 8000, the rest


def adaptive_cutoffs(vocab: int) -> list[int]:
    """Cluster bounds of the adaptive softmax (Grave et al. 2017) for a vocabulary of `vocab` ids."""
    return [c for c in (ADAPTIVE_HEAD, ADAPTIVE_TAIL) if c < vocab - 1]


def reverse_padded(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first `lengths[i]` entries reversed; the padding after them stays where it is.

    >>> reverse_padded(torch.tensor([[1, 2, 3], [4, 5, 0]]), torch.tensor([3, 2])).tolist()
    [[3, 2, 1], [5, 4, 0]]
    """
    N, S = x.shape[:2]
    pos = torch.arange(S, device=x.device)[None, :].expand(N, S)
    lengths = lengths.to(x.device)[:, None]
    index = torch.where(pos < lengths, lengths - 1 - pos, pos)
    return x.gather(1, index.view(N, S, *([1] * (x.dim() - 2))).expand_as(x))


def _state_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _like(elements: tuple, template):
    return elements if isinstance(template, tuple) else elements[0]


class Seq2Seq(nn.Module):
    """Encoder-decoder over token ids: any registered cell, attention, beam search.

    Args (all JSON-able; `config()` returns them and `Seq2Seq(**config)` rebuilds the model):
        source_vocab, target_vocab: vocabulary sizes (id 0 is padding in both)
        cell: registry name of the encoder's and decoder's cell (GRU by default); cell_options: its options
        embed_dim, hidden_size, num_layers: sizes; the decoder has as many layers as the encoder
        bidirectional: a bidirectional encoder; a bridge (linear + tanh per layer and state element)
            maps its two final states to the decoder's initial state. Unidirectional: the state is copied.
        attention: "none", "dot", "general" (Luong et al. 2015) or "bahdanau" (additive)
        input_feeding: feed the previous attentional vector into the decoder (Luong); steps the decoder
        reverse_source: read each source sentence backwards (its real tokens; padding stays at the end)
        dropout: between stacked layers; recurrent_dropout: variational, on the recurrent input (as
            `rnnzoo.Recurrent`); io_dropout: on the embeddings and on the attentional vector
        tie_embeddings: the output layer shares the target embedding's weights (through a projection
            to embed_dim when the attentional vector is of another size)
        softmax: "full", or "adaptive" (Grave et al. 2017; torch's AdaptiveLogSoftmaxWithLoss): frequent
            words in a head cluster, rarer ones in smaller clusters, so a step's cost no longer grows with
            the whole vocabulary; needs ids ranked by frequency and over 2,000 target words
        bos_id, eos_id: target ids that start and end a sentence
    """

    def __init__(self, source_vocab: int, target_vocab: int, cell: str = "gru", embed_dim: int = 256,
                 hidden_size: int = 256, num_layers: int = 1, bidirectional: bool = True,
                 attention: str = "general", input_feeding: bool = False, reverse_source: bool = False,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, io_dropout: float = 0.0,
                 tie_embeddings: bool = False, softmax: str = "full", bos_id: int = 2, eos_id: int = 3,
                 cell_options: dict | None = None):
        super().__init__()
        for name, value in (("source_vocab", source_vocab), ("target_vocab", target_vocab)):
            check_size(value, name, minimum=2)
        check_size(embed_dim, "embed_dim")
        check_size(hidden_size, "hidden_size")
        check_size(num_layers, "num_layers")
        if attention not in ATTENTION:
            raise ValueError(f"attention must be one of {', '.join(ATTENTION)}, got {attention!r}")
        bidirectional, input_feeding = check_bool(bidirectional, "bidirectional"), check_bool(input_feeding,
                                                                                              "input_feeding")
        reverse_source, tie_embeddings = check_bool(reverse_source, "reverse_source"), check_bool(
            tie_embeddings, "tie_embeddings")
        if softmax not in SOFTMAX:
            raise ValueError(f"softmax must be one of {', '.join(SOFTMAX)}, got {softmax!r}")
        if softmax == "adaptive" and tie_embeddings:
            raise ValueError("tie_embeddings shares the embedding with a full output layer; the adaptive softmax "
                             "has its own clusters: use softmax='full' to tie, or tie_embeddings=False")
        if softmax == "adaptive" and not adaptive_cutoffs(target_vocab):
            raise ValueError(f"softmax='adaptive' needs a target_vocab over {ADAPTIVE_HEAD + 1} words (its head "
                             f"cluster), got {target_vocab}; use softmax='full'")
        if input_feeding and attention == "none":
            raise ValueError("input_feeding feeds the attentional vector back; it needs an attention other than 'none'")
        # a dropout of 1 would train on zeros: [0, 1), as the layer's own dropouts (which check theirs)
        if not 0 <= check_finite(io_dropout, "io_dropout") < 1:
            raise ValueError(f"io_dropout must be a float in [0, 1), got {io_dropout!r}")
        for name, value in (("bos_id", bos_id), ("eos_id", eos_id)):
            if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < target_vocab:
                raise ValueError(f"{name} must be an id in [1, target_vocab={target_vocab}), got {value!r}")
        if cell_options is not None and not isinstance(cell_options, dict):
            raise TypeError(f"cell_options must be a dict of the cell's options, got {type(cell_options).__name__}")
        self._config = dict(source_vocab=source_vocab, target_vocab=target_vocab, cell=cell, embed_dim=embed_dim,
                            hidden_size=hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                            attention=attention, input_feeding=input_feeding, reverse_source=reverse_source,
                            dropout=dropout, recurrent_dropout=recurrent_dropout, io_dropout=io_dropout,
                            tie_embeddings=tie_embeddings, softmax=softmax, bos_id=bos_id, eos_id=eos_id,
                            cell_options=dict(cell_options or {}))
        self.attention, self.input_feeding, self.reverse_source = attention, input_feeding, reverse_source
        self.bos_id, self.eos_id = bos_id, eos_id
        options = dict(cell_options or {})
        self.source_embed = nn.Embedding(source_vocab, embed_dim, padding_idx=PAD)
        self.target_embed = nn.Embedding(target_vocab, embed_dim, padding_idx=PAD)
        self.drop = nn.Dropout(io_dropout)
        layers = dict(num_layers=num_layers, dropout=dropout, recurrent_dropout=recurrent_dropout, batch_first=True)
        self.encoder = Recurrent(cell, embed_dim, hidden_size, bidirectional=bidirectional, **layers, **options)
        H = self.encoder.cells[0].output_size
        feed = H if input_feeding else 0
        self.decoder = Recurrent(cell, embed_dim + feed, hidden_size, **layers, **options)
        memory = self.encoder.output_size  # D * H
        if bidirectional:  # one bridge per state element, shared by the layers: (D * S_j) -> S_j
            sizes = [s.shape[-1] for s in self.decoder.cells[0].init_state(torch.zeros(1, embed_dim + feed))]
            self.bridge = nn.ModuleList(nn.Linear(2 * s, s) for s in sizes)
        if attention == "dot" and memory != H:
            self.keys = nn.Linear(memory, H, bias=False)
        elif attention == "general":
            self.keys = nn.Linear(memory, H, bias=False)  # W_a applied to the memory once per sentence
        elif attention == "bahdanau":
            self.keys = nn.Linear(memory, H, bias=False)     # W_2
            self.query = nn.Linear(H, H)                    # W_1
            self.score_v = nn.Linear(H, 1, bias=False)      # v
        if attention != "none":
            self.combine = nn.Linear(memory + H, H, bias=False)  # W_c
        self.feature_size = H
        if softmax == "adaptive":  # ids must rank words by falling frequency (as SentenceVocab's do)
            self.adaptive = nn.AdaptiveLogSoftmaxWithLoss(H, target_vocab, adaptive_cutoffs(target_vocab),
                                                          div_value=4.0)
        elif tie_embeddings:
            self.to_embed = nn.Linear(H, embed_dim, bias=False) if H != embed_dim else nn.Identity()
            self.out_bias = nn.Parameter(torch.zeros(target_vocab))
        else:
            self.out = nn.Linear(H, target_vocab)

    def config(self) -> dict:
        """The constructor's arguments, JSON-able: `Seq2Seq(**m.config())` rebuilds `m`."""
        return dict(self._config, cell_options=dict(self._config["cell_options"]))

    # --- encoder ------------------------------------------------------------------------------
    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor):
        """(memory (N, S, D*H), keys (N, S, H) or None, source mask (N, S) True at real tokens, decoder
        initial state)."""
        src, src_lengths = self._check_source(src, src_lengths)
        if self.reverse_source:
            src = reverse_padded(src, src_lengths)
        memory, state = self.encoder(self.drop(self.source_embed(src)), lengths=src_lengths)
        mask = torch.arange(src.shape[1], device=src.device)[None, :] < src_lengths[:, None]
        keys = self.keys(memory) if hasattr(self, "keys") else None
        return memory, keys, mask, self._bridge(state)

    def _bridge(self, state):
        if not hasattr(self, "bridge"):
            return state
        elements = []
        for element, layer in zip(_state_tuple(state), self.bridge):
            L2, N, S = element.shape  # (num_layers * 2, N, S): forward and backward per layer
            both = element.view(L2 // 2, 2, N, S).permute(0, 2, 1, 3).reshape(L2 // 2, N, 2 * S)
            elements.append(torch.tanh(layer(both)))
        return _like(tuple(elements), state)

    # --- attention ----------------------------------------------------------------------------
    def attend(self, h: torch.Tensor, memory, keys, mask):
        """h (N, T, H) decoder outputs -> (attentional vectors (N, T, H), weights (N, T, S))."""
        if self.attention == "none":
            return h, None
        if self.attention == "bahdanau":
            q = self.query(h)  # (N, T, H)
            scores = self.score_v(torch.tanh(q[:, :, None, :] + keys[:, None, :, :])).squeeze(-1)  # (N, T, S)
        else:
            scores = h @ (memory if keys is None else keys).transpose(1, 2)  # (N, T, S)
        # padded positions: -inf before the softmax, so their weight is exactly 0
        weights = scores.masked_fill(~mask[:, None, :], float("-inf")).softmax(-1)
        context = weights @ memory  # (N, T, D*H)
        return torch.tanh(self.combine(torch.cat([context, h], dim=-1))), weights

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Attentional vectors (..., H) -> logits (..., V): the output layer alone, so that a loss can
        apply it to the real target positions only. With the adaptive softmax, these are log-probabilities."""
        features = self.drop(features)
        if hasattr(self, "adaptive"):
            return self.adaptive.log_prob(features.reshape(-1, features.shape[-1])).view(*features.shape[:-1], -1)
        if hasattr(self, "out"):
            return self.out(features)
        return F.linear(self.to_embed(features), self.target_embed.weight, self.out_bias)

    def loss(self, features: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (nats) of `targets` (M,) given attentional vectors (M, H). The adaptive softmax
        computes the target's cluster only, which is what makes it fast."""
        if hasattr(self, "adaptive"):
            return self.adaptive(self.drop(features), targets).loss
        return F.cross_entropy(self.logits(features), targets)

    def predict(self, features: torch.Tensor) -> torch.Tensor:
        """The likeliest target id for each attentional vector (M, H) -> (M,)."""
        if hasattr(self, "adaptive"):
            return self.adaptive.predict(self.drop(features))
        return self.logits(features).argmax(-1)

    # --- teacher forcing ----------------------------------------------------------------------
    def features(self, src, src_lengths, tgt_in, tgt_lengths=None):
        """Teacher-forced attentional vectors (N, T, H) and attention (N, T, S) or None."""
        memory, keys, mask, state = self.encode(src, src_lengths)
        if tgt_in.dim() != 2 or tgt_in.shape[0] != src.shape[0] or tgt_in.shape[1] < 1:
            raise ValueError(f"tgt_in must be (N={src.shape[0]}, T >= 1) target ids, got shape {tuple(tgt_in.shape)}")
        emb = self.drop(self.target_embed(tgt_in))  # (N, T, E)
        if not self.input_feeding:
            # the whole target in one call (fused kernels or the engines); attention for all steps after it
            h, _ = self.decoder(emb, state=state, lengths=tgt_lengths)
            return self.attend(h, memory, keys, mask)
        feed = emb.new_zeros(emb.shape[0], self.feature_size)
        outs, weights = [], []
        for t in range(emb.shape[1]):
            h, state = self.decoder(torch.cat([emb[:, t], feed], -1)[:, None], state=state)
            feed, w = self.attend(h, memory, keys, mask)
            outs.append(feed)
            weights.append(w)
            feed = feed[:, 0]
        return torch.cat(outs, 1), torch.cat(weights, 1)

    def forward(self, src, src_lengths, tgt_in, tgt_lengths=None):
        """Teacher forcing: (logits (N, T, V), attention (N, T, S) or None)."""
        features, attention = self.features(src, src_lengths, tgt_in, tgt_lengths)
        return self.logits(features), attention

    # --- decoding -----------------------------------------------------------------------------
    def max_lengths(self, src_lengths, ratio: float = 1.5, extra: int = 5) -> torch.Tensor:
        """The longest output for each source: ceil(ratio * source length) + extra tokens (eos included)."""
        return torch.ceil(src_lengths.double() * ratio).long() + extra

    def _step(self, y_prev, state, feed, memory, keys, mask):
        """One decoder step for every row: (log-probabilities (R, V), state, feed, attention (R, S))."""
        x = self.target_embed(y_prev)  # (R, E)
        if self.input_feeding:
            x = torch.cat([x, feed], -1)
        h, state = self.decoder(x[:, None], state=state)
        att, w = self.attend(h, memory, keys, mask)
        logp = self.logits(att[:, 0])
        logp = logp if hasattr(self, "adaptive") else logp.log_softmax(-1)
        logp[:, PAD] = float("-inf")  # padding is never an output
        return logp, state, att[:, 0], None if w is None else w[:, 0]

    @torch.no_grad()
    def greedy(self, src, src_lengths, ratio: float = 1.5, extra: int = 5):
        """Translate a batch by taking the likeliest token at every step: (tokens, attention) as `decode`."""
        memory, keys, mask, state = self.encode(src, src_lengths)
        N = mask.shape[0]
        limit = self.max_lengths(src_lengths.to(mask.device), ratio, extra)
        feed = memory.new_zeros(N, self.feature_size)
        y = torch.full((N,), self.bos_id, dtype=torch.long, device=mask.device)
        out = [[] for _ in range(N)]
        weights = [[] for _ in range(N)]
        done = [False] * N
        for t in range(int(limit.max())):
            logp, state, feed, w = self._step(y, state, feed, memory, keys, mask)
            y = logp.argmax(-1)
            y = torch.where(t + 1 >= limit, torch.full_like(y, self.eos_id), y)  # at the limit: end
            for n, token in enumerate(y.tolist()):
                if done[n]:
                    continue
                if w is not None:
                    weights[n].append(w[n].cpu())
                if token == self.eos_id:
                    done[n] = True
                else:
                    out[n].append(token)
            if all(done):
                break
        attention = [torch.stack(w) if w else None for w in weights]
        return out, attention

    @torch.no_grad()
    def decode(self, src, src_lengths, beam: int = 1, length_penalty: float = 1.0, ratio: float = 1.5,
               extra: int = 5):
        """Translate a batch: (tokens, attention). Beam search with `beam` hypotheses per sentence,
        batched over sentences; beam=1 keeps one hypothesis, which is greedy decoding (`greedy`).

        tokens: N lists of target ids without bos and eos. attention: N tensors (len(tokens)+1, S_i) of the
        chosen hypothesis (its eos step included), or Nones without attention. Hypotheses are ranked during
        the search by their summed log-probability; the finished one returned is the best by that sum divided
        by length ** length_penalty (0: no normalisation). No output is longer than `max_lengths(...)`.
        """
        if isinstance(beam, bool) or not isinstance(beam, int) or beam < 1:
            raise ValueError(f"beam must be an int >= 1, got {beam!r}")
        if not (isinstance(length_penalty, (int, float)) and math.isfinite(length_penalty) and length_penalty >= 0):
            raise ValueError(f"length_penalty must be a finite number >= 0, got {length_penalty!r}")
        memory, keys, mask, state = self.encode(src, src_lengths)
        N, S = mask.shape
        k, V = beam, self.target_embed.num_embeddings
        limit = self.max_lengths(src_lengths.to(mask.device), ratio, extra).repeat_interleave(k)  # (N*k,)
        expand = torch.arange(N, device=mask.device).repeat_interleave(k)
        memory, mask = memory[expand], mask[expand]
        keys = None if keys is None else keys[expand]
        state = _like(tuple(s[:, expand] for s in _state_tuple(state)), state)
        feed = memory.new_zeros(N * k, self.feature_size)
        scores = memory.new_full((N, k), float("-inf"))
        scores[:, 0] = 0  # one live hypothesis per sentence at the start
        tokens = torch.full((N * k, 0), PAD, dtype=torch.long, device=mask.device)
        history = memory.new_zeros(N * k, 0, S)
        finished = torch.zeros(N * k, dtype=torch.bool, device=mask.device)
        y = torch.full((N * k,), self.bos_id, dtype=torch.long, device=mask.device)
        for t in range(int(limit.max())):
            logp, state, feed, w = self._step(y, state, feed, memory, keys, mask)
            # at its length limit a hypothesis must end; a finished one stays as it is, at no cost
            at_limit = (t + 1 >= limit) & ~finished
            logp[at_limit] = torch.where(torch.arange(V, device=logp.device) == self.eos_id, 0.0,
                                         float("-inf")).to(logp.dtype)
            logp[finished] = float("-inf")
            logp[finished, PAD] = 0.0
            candidates = (scores.view(N * k, 1) + logp).view(N, k * V)
            scores, index = candidates.topk(k, dim=1)  # (N, k): best first
            parent = (index // V + torch.arange(N, device=index.device)[:, None] * k).view(-1)
            y = (index % V).view(-1)
            state = _like(tuple(s[:, parent] for s in _state_tuple(state)), state)
            feed, finished = feed[parent], finished[parent]
            tokens = torch.cat([tokens[parent], y[:, None]], 1)
            if w is not None:
                history = torch.cat([history[parent], w[parent][:, None]], 1)
            finished = finished | (y == self.eos_id)
            if bool(finished.all()):
                break
        lengths = ((tokens != PAD) & (tokens != self.eos_id)).sum(1) + 1  # with eos
        normalised = (scores.view(-1) / lengths.to(scores.dtype) ** length_penalty).view(N, k)
        best = normalised.argmax(1) + torch.arange(N, device=normalised.device) * k
        out_tokens, out_attention = [], []
        for row in best.tolist():
            ids = [i for i in tokens[row].tolist() if i not in (PAD,)]
            ids = ids[:ids.index(self.eos_id)] if self.eos_id in ids else ids
            out_tokens.append(ids)
            out_attention.append(history[row, :len(ids) + 1].cpu() if self.attention != "none" else None)
        return out_tokens, out_attention

    # --- checks -------------------------------------------------------------------------------
    def _check_source(self, src, src_lengths):
        if not isinstance(src, torch.Tensor) or src.dim() != 2 or src.dtype != torch.long:
            shape = tuple(src.shape) if isinstance(src, torch.Tensor) else type(src).__name__
            raise ValueError(f"src must be an int64 tensor (N, S) of source ids, got {shape}"
                             + (f" {src.dtype}" if isinstance(src, torch.Tensor) else ""))
        N, S = src.shape
        if N == 0 or S == 0:
            raise ValueError(f"src must hold at least one sentence of at least one token, got shape {(N, S)}")
        src_lengths = torch.as_tensor(src_lengths, device=src.device)
        if src_lengths.shape != (N,) or src_lengths.is_floating_point():
            raise ValueError(f"src_lengths must be (N={N},) integers, got shape {tuple(src_lengths.shape)} "
                             f"{src_lengths.dtype}")
        if int(src_lengths.min()) < 1 or int(src_lengths.max()) > S:
            raise ValueError(f"src_lengths must be in [1, {S}] (an empty sentence has nothing to translate), "
                             f"got {src_lengths.tolist()}")
        if int(src.min()) < 0 or int(src.max()) >= self.source_embed.num_embeddings:
            raise ValueError(f"src ids must be in [0, source_vocab={self.source_embed.num_embeddings})")
        return src, src_lengths.long()
