"""Long short-term memory (Hochreiter & Schmidhuber 1997) and its classic variants."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_bool, check_finite, check_size
from ..driver import NamedRecurrent
from ..engine import lstm as engine
from ..interop import keras as _keras
from ..interop import torch as _torch
from ..registry import Entry, register
from .base import Cell, dropped, init_blocks_


class LSTMCell(Cell):
    r"""LSTM cell, registry name `lstm`. One step; `rnnzoo.Recurrent` runs sequences.

    Equations (gate order = row-block order of weight_ih, weight_hh, bias):
        i  = σ(W_ii x + W_hi h + p_i ⊙ c + b_i)          p_i ⊙ c only with peephole
        f  = σ(W_if x + W_hf h + p_f ⊙ c + b_f)          p_f ⊙ c only with peephole
        g  = tanh(W_ig x + W_hg h + b_g)
        c' = f ⊙ c + i ⊙ g                              coupled: c' = f ⊙ c + (1 - f) ⊙ g
        o  = σ(W_io x + W_ho h + p_o ⊙ c' + b_o)         p_o ⊙ c' only with peephole
        h' = o ⊙ tanh(c')                               proj_size: h' = W_hr (o ⊙ tanh(c'))
    layer_norm (Ba et al. 2016) normalises the two gate pre-activations and the cell before tanh:
        (i, f, g, o) = LN_x(W_i x) + LN_h(W_h h) + b,   h' = o ⊙ tanh(LN_c(c'))
    Gate order: i, f, g, o (torch: the same; Keras: i, f, c, o with kernels transposed). The coupled
    cell (Greff et al. 2017, "CIFG") has no input gate: its order is f, g, o.

    Shapes: N batch, H_in input_size, H hidden_size, P proj_size (P = H when 0), G = 4 (3 coupled)
        x (N, H_in); state (h, c), h (N, P), c (N, H); output h' (N, P)
        weight_ih (G*H, H_in); weight_hh (G*H, P); bias (G*H,); weight_hr (P, H) with proj_size;
        peephole (3, H) rows p_i, p_f, p_o (coupled: p_f, p_o used); ln_x, ln_h, ln_c: LayerNorm
    Init: weight_ih Glorot-uniform, weight_hh orthogonal per gate, bias 0 except the forget gate's
    `forget_bias` (default 1.0; Jozefowicz et al. 2015), peephole 0, weight_hr Glorot-uniform.
    Differs from nn.LSTMCell: one bias (torch's b_ih + b_hh), peephole/coupled/layer_norm options.
    Fused: nn.LSTM's kernel when peephole, coupled and layer_norm are off (proj_size allowed).

    Args:
        input_size, hidden_size: features of x and of the cell c.
        peephole: diagonal peephole connections from c (Gers & Schmidhuber 2000).
        coupled: couple input and forget gates (i = 1 - f).
        layer_norm: layer-normalised LSTM (Ba et al. 2016).
        proj_size: project h to this size (Sak et al. 2014), as torch's nn.LSTM; 0 for none.
        forget_bias: initial value of the forget gate bias.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Recurrent("lstm", 3, 5, peephole=True, batch_first=True)
        >>> y, (h, c) = rnn(torch.zeros(2, 7, 3))
        >>> y.shape, h.shape
        (torch.Size([2, 7, 5]), torch.Size([1, 2, 5]))
    """

    state_names = ("h", "c")

    def __init__(self, input_size: int, hidden_size: int, *, peephole: bool = False,
                 coupled: bool = False, layer_norm: bool = False, proj_size: int = 0,
                 forget_bias: float = 1.0):
        super().__init__(input_size, hidden_size)
        proj_size = check_size(proj_size, "proj_size", minimum=0)
        if proj_size >= hidden_size:
            raise ValueError(f"proj_size must be smaller than hidden_size={hidden_size}, got {proj_size}")
        self.peephole, self.coupled = check_bool(peephole, "peephole"), check_bool(coupled, "coupled")
        self.layer_norm = check_bool(layer_norm, "layer_norm")
        self.proj_size, self.forget_bias = proj_size, check_finite(forget_bias, "forget_bias")
        self.output_size = proj_size or hidden_size
        H, P = hidden_size, self.output_size
        self.gates = 3 if self.coupled else 4
        self.weight_ih = nn.Parameter(torch.empty(self.gates * H, input_size))
        self.weight_hh = nn.Parameter(torch.empty(self.gates * H, P))
        self.bias = nn.Parameter(torch.zeros(self.gates * H))
        init_blocks_(self.weight_ih, self.gates, recurrent=False)
        init_blocks_(self.weight_hh, self.gates, recurrent=True)
        with torch.no_grad():  # the forget gate is block 1 (i, f, g, o), or block 0 when coupled
            self.bias[(0 if self.coupled else H):(H if self.coupled else 2 * H)] = self.forget_bias
        if self.peephole:
            self.peephole_weight = nn.Parameter(torch.zeros(3, H))
        if self.layer_norm:
            self.ln_x = nn.LayerNorm(self.gates * H)
            self.ln_h = nn.LayerNorm(self.gates * H)
            self.ln_c = nn.LayerNorm(H)
        if proj_size:
            self.weight_hr = nn.Parameter(torch.empty(P, H))
            init_blocks_(self.weight_hr, 1, recurrent=False)

    def state_shapes(self, x):
        return ((self.output_size,), (self.hidden_size,))

    def project(self, x):
        if self.layer_norm:
            return self.ln_x(F.linear(x, self.weight_ih)) + self.bias  # (L, N, G*H)
        return F.linear(x, self.weight_ih, self.bias)

    def step(self, xp, state, rec_mask=None):
        h, c = state
        rec = dropped(state, rec_mask) @ self.weight_hh.T  # (N, G*H)
        gates = xp + (self.ln_h(rec) if self.layer_norm else rec)
        if self.coupled:
            f, g, o = gates.chunk(3, dim=-1)
        else:
            i, f, g, o = gates.chunk(4, dim=-1)
        if self.peephole:
            p_i, p_f, p_o = self.peephole_weight
            f = f + p_f * c
            if not self.coupled:
                i = i + p_i * c
        f, g = torch.sigmoid(f), torch.tanh(g)
        c = f * c + ((1 - f) if self.coupled else torch.sigmoid(i)) * g
        if self.peephole:
            o = o + p_o * c
        h = torch.sigmoid(o) * torch.tanh(self.ln_c(c) if self.layer_norm else c)
        if self.proj_size:
            h = h @ self.weight_hr.T
        return h, (h, c)

    # --- fused kernel -------------------------------------------------------------------------
    @property
    def fused_kind(self):
        return None if (self.peephole or self.coupled or self.layer_norm) else "lstm"

    def fused_reason(self):
        used = [name for name in ("peephole", "coupled", "layer_norm") if getattr(self, name)]
        return f"nn.LSTM's kernel has no {' / '.join(used)} option"

    def fused_weights(self):
        weights = [self.weight_ih, self.weight_hh, self.bias, torch.zeros_like(self.bias)]
        return weights + ([self.weight_hr] if self.proj_size else [])

    def extra_repr(self):
        options = [f"{self.input_size}, {self.hidden_size}"]
        options += [name for name in ("peephole", "coupled", "layer_norm") if getattr(self, name)]
        if self.proj_size:
            options.append(f"proj_size={self.proj_size}")
        return ", ".join(options)


class LSTM(NamedRecurrent):
    """LSTM: `Recurrent("lstm", ...)`, a drop-in replacement for torch.nn.LSTM.

    Options: peephole, coupled, layer_norm, proj_size, forget_bias. Equations: `rnnzoo.cells.LSTMCell`.
    `LSTM.from_torch(nn_lstm)` / `layer.to_torch()` convert from and to nn.LSTM (batch_first kept);
    `LSTM.from_keras(layer_or_arrays)` takes a Keras LSTM or its (kernel, recurrent_kernel, bias).

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.LSTM(10, 20, num_layers=2)
        >>> y, (h, c) = rnn(torch.randn(5, 3, 10))
        >>> y.shape, c.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    _cell = "lstm"
    from_torch = classmethod(_torch.from_torch)
    to_torch = _torch.to_torch
    from_keras = classmethod(_keras.from_keras)


register(Entry(
    "lstm", LSTMCell, "Long short-term memory (peephole, coupled, layer_norm, proj_size options)",
    "c' = f c + i g; h' = o tanh(c')",
    "Hochreiter & Schmidhuber 1997; Gers & Schmidhuber 2000; Greff et al. 2017; Ba et al. 2016",
    layer=LSTM,
    variants={"default": {}, "peephole": {"peephole": True}, "coupled": {"coupled": True},
              "layer_norm": {"layer_norm": True}, "proj_size": {"proj_size": 2},
              "peephole+coupled": {"peephole": True, "coupled": True}},
    torch_counterpart="lstm",
    engine=engine.ENGINE))
