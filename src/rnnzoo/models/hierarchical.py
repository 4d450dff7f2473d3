"""Hierarchical RNN (El Hihi & Bengio 1996): stacked recurrent layers, each updated at its own rate.

    SlowCell         any registered vector cell, updated every `rate` steps and held in between; a
                     Cell, so `rnnzoo.Recurrent` runs it with its masking, lengths and state handling
    HierarchicalRNN  a stack of one Recurrent(SlowCell) per layer, layer k at rate r_k
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence

from ..cells.base import Cell
from ..cells.clockwork import next_count, step_count
from ..checks import check_bool, check_finite, check_size
from ..driver import Recurrent

OUTPUTS = ("top", "all")


class SlowCell(Cell):
    r"""A registered vector cell that updates every `rate` steps and holds its state and output in between.

    With the inner cell's step (y_new, s_new) = cell(x, s), at step t (counted from 0 in each sequence):
        due = [t mod rate = 0]
        s'  = s_new if due else s        every element of the inner state, held bitwise
        y'  = y_new if due else y        the output is held too (for ctrnn it is act(h), not h)
        t'  = (t + 1) mod rate
    so the state is (*s, y, t). At a step that is not due the inner cell's input is ignored. As in the
    clockwork cell (rnnzoo.cells.clockwork), the counter t is a state element, so the driver carries it
    over padded steps with the rest: a padded batch gives each sequence what it gives alone, and a state
    passed back in continues the clock. With rate 1 every step is due and the cell is its inner cell.

    Shapes: N batch, H_in input_size, H hidden_size, H_out the inner cell's output size
        x (N, H_in); state (*s, y, t), s as the inner cell's, y (N, H_out), t (N, 1); output y' (N, H_out)
        parameters: the inner cell's, under `inner.`
    Fused: none; sequence engine: none (the per-step loop runs it).

    Args:
        input_size, hidden_size: as for the inner cell.
        inner: the inner cell: a registry name of a vector cell, or a Cell subclass (default "elman").
        rate: update every `rate` steps, an int >= 1 (default 1).
        options: the inner cell's options, e.g. {"peephole": True} (default none).

    Example:
        >>> import torch, rnnzoo
        >>> from rnnzoo.models.hierarchical import SlowCell
        >>> rnn = rnnzoo.Recurrent(SlowCell, 3, 5, inner="gru", rate=3)
        >>> y, (h, y_held, t) = rnn(torch.randn(7, 2, 3))
        >>> bool((y[1] == y[0]).all() and (y[2] == y[0]).all()), t.flatten().tolist()  # 7 mod 3 = 1
        (True, [1.0, 1.0])
    """

    def __init__(self, input_size: int, hidden_size: int, *, inner="elman", rate: int = 1,
                 options: dict | None = None):
        super().__init__(input_size, hidden_size)
        self.rate = check_size(rate, "rate")
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"options must be a dict of the inner cell's options, got {type(options).__name__}")
        inner_cls = Recurrent._cell_class(inner)
        if inner_cls.input_dims != 1:
            raise ValueError(f"inner must be a vector cell (x of shape (N, H_in) per step), "
                             f"got {inner_cls.__name__} with {inner_cls.input_dims}-D steps")
        Recurrent._check_options(inner_cls, options or {})
        self.inner = inner_cls(input_size, hidden_size, **(options or {}))
        self.output_size = self.inner.output_size
        # the inner cell's state first, so its recurrent_inputs index the same elements here
        self.state_names = (*self.inner.state_names, "y", "t")
        self.recurrent_inputs = self.inner.recurrent_inputs
        self.step_inputs = self.inner.step_inputs

    def state_shapes(self, x):
        return (*self.inner.state_shapes(x), (self.output_size,), (1,))

    def feature_shape(self):
        return self.inner.feature_shape()

    def project(self, x, **step_inputs):
        return self.inner.project(x, **step_inputs)

    def step(self, xp, state, rec_mask=None):
        n = len(self.inner.state_names)
        held, y_held, t = state[:n], state[n], state[n + 1]
        k = step_count(t)
        due = torch.remainder(k, self.rate) == 0  # (N, 1)
        y, new = self.inner.step(xp, held, None if rec_mask is None else rec_mask[:n])
        new = tuple(torch.where(due.view(-1, *[1] * (s.dim() - 1)), s, old) for s, old in zip(new, held))
        y = torch.where(due, y, y_held)
        return y, (*new, y, next_count(k, self.rate))

    def fused_reason(self):
        return "the slow cell has no fused torch kernel (it holds its state between update steps)"

    def extra_repr(self):
        return f"rate={self.rate}"


class HierarchicalRNN(nn.Module):
    r"""Hierarchical RNN (El Hihi & Bengio 1996): stacked layers, layer k updated every r_k steps.

    Layer k is `Recurrent(SlowCell, ..., inner=cell, rate=r_k)`: it reads the output of layer k - 1
    (x for the first), updates at the steps t with t mod r_k = 0 and holds its state and its output
    in between (see `SlowCell`), so slow layers keep a coarse, long-lived summary of the fast ones.
    Rates are in steps of x, not relative to the layer below. With every rate 1 it is the plain
    stacked `Recurrent(cell, ..., num_layers)`.

    Args (all JSON-able; see `config()`):
        cell: registry name of a vector cell (every layer), or a Cell subclass.
        input_size: features of x.
        hidden_sizes: one hidden size per layer; or instead
        hidden_size, num_layers: the same size for num_layers layers (num_layers defaults to len(rates)).
        rates: update period of each layer, ints >= 1 (default 1, 2, 4, ..., 2^(num_layers - 1)).
        output: "top" (default) the top layer's output, or "all" every layer's, concatenated on features.
        dropout: dropout on each layer's output where the next layer reads it (not on the output).
        batch_first: x and output are (N, L, ...) (default True), else (L, N, ...).
        cell_options: options of the cell, e.g. {"peephole": True}.

    Call: `output, state = model(x, state=None, lengths=None, **step_inputs)`, as `rnnzoo.Recurrent`:
        x: (N, L, H_in) with batch_first, (L, N, H_in) without, (L, H_in) unbatched, or a PackedSequence.
        state: a previous call's final state (continues every layer's state and clock), or None.
        lengths: (N,) real steps of each right-padded sequence; padded steps output 0 and change no state.
        step_inputs: per-step inputs of the cell (ctrnn's dt), given to every layer as they are.

    Shapes: N batch, L length, H_k hidden_sizes[k], O_k layer k's output size (H_k for most cells)
        output (N, L, O_top) for "top", (N, L, O_1 + ... + O_K) for "all"
        state: a tuple with one entry per layer, that layer's Recurrent state: a tuple (*s, y, t) of the
            cell's state s (each (1, N, ...)), the held output y (1, N, O_k) and the step counter
            t (1, N, 1), which counts modulo r_k

    Example:
        >>> import torch
        >>> from rnnzoo.models.hierarchical import HierarchicalRNN
        >>> model = HierarchicalRNN("lstm", 3, hidden_size=8, num_layers=3, output="all")
        >>> y, state = model(torch.randn(2, 10, 3), lengths=torch.tensor([10, 6]))
        >>> y.shape, model.rates, len(state)
        (torch.Size([2, 10, 24]), (1, 2, 4), 3)
        >>> [tuple(s.shape) for s in state[2]]   # layer 3's (h, c, y, t)
        [(1, 2, 8), (1, 2, 8), (1, 2, 8), (1, 2, 1)]
    """

    def __init__(self, cell, input_size: int, hidden_sizes=None, *, hidden_size: int | None = None,
                 num_layers: int | None = None, rates=None, output: str = "top", dropout: float = 0.0,
                 batch_first: bool = True, cell_options: dict | None = None):
        super().__init__()
        check_size(input_size, "input_size")
        if rates is not None:
            rates = _ints(rates, "rates")
        if (hidden_sizes is None) == (hidden_size is None):
            raise ValueError("give either hidden_sizes (one per layer) or hidden_size (with num_layers or rates)")
        if hidden_sizes is not None:
            if num_layers is not None:
                raise ValueError("num_layers goes with hidden_size; hidden_sizes already gives one size per layer")
            hidden_sizes = _ints(hidden_sizes, "hidden_sizes")
        else:
            check_size(hidden_size, "hidden_size")
            if num_layers is None and rates is None:
                raise ValueError("with hidden_size, give num_layers or rates (how many layers)")
            num_layers = len(rates) if num_layers is None else check_size(num_layers, "num_layers")
            hidden_sizes = (hidden_size,) * num_layers
        if rates is None:
            rates = tuple(2 ** k for k in range(len(hidden_sizes)))
        if len(rates) != len(hidden_sizes):
            raise ValueError(f"rates must give one rate per layer ({len(hidden_sizes)}), got {len(rates)}: {rates}")
        if output not in OUTPUTS:
            raise ValueError(f"output must be one of {', '.join(map(repr, OUTPUTS))}, got {output!r}")
        if not 0 <= check_finite(dropout, "dropout") < 1:
            raise ValueError(f"dropout must be a float in [0, 1), got {dropout!r}")
        if cell_options is not None and not isinstance(cell_options, dict):
            raise TypeError(f"cell_options must be a dict of the cell's options, got {type(cell_options).__name__}")
        self._config = dict(cell=cell, input_size=input_size, hidden_sizes=list(hidden_sizes), rates=list(rates),
                            output=output, dropout=dropout, batch_first=check_bool(batch_first, "batch_first"),
                            cell_options=dict(cell_options or {}))
        self.hidden_sizes, self.rates, self.output, self.dropout = hidden_sizes, rates, output, float(dropout)
        self.batch_first = batch_first
        layers, size = [], input_size
        for hidden, rate in zip(hidden_sizes, rates):
            layers.append(Recurrent(SlowCell, size, hidden, batch_first=batch_first, inner=cell, rate=rate,
                                    options=dict(cell_options or {})))
            size = layers[-1].output_size
        self.layers = nn.ModuleList(layers)
        self.output_size = size if output == "top" else sum(layer.output_size for layer in layers)

    def config(self) -> dict:
        """The keyword arguments that rebuild this model (JSON-able when `cell` is a name)."""
        return dict(self._config)

    def forward(self, x, state=None, lengths=None, **step_inputs):
        if state is not None and (not isinstance(state, (tuple, list)) or len(state) != len(self.layers)):
            got = f"{len(state)} entries" if isinstance(state, (tuple, list)) else type(state).__name__
            raise ValueError(f"state must be a tuple with one entry per layer ({len(self.layers)}), "
                             f"as a previous call returns it, got {got}")
        states = [None] * len(self.layers) if state is None else state
        outputs, finals = [], []
        for k, layer in enumerate(self.layers):
            y, final = layer(x, state=states[k], lengths=lengths, **step_inputs)
            outputs.append(y)
            finals.append(final)
            x = y
            if self.dropout > 0 and k < len(self.layers) - 1:
                x = _map(y, lambda v: F.dropout(v, self.dropout, self.training))
        if self.output == "top":
            return outputs[-1], tuple(finals)
        if isinstance(outputs[0], PackedSequence):
            return outputs[0]._replace(data=torch.cat([o.data for o in outputs], dim=-1)), tuple(finals)
        return torch.cat(outputs, dim=-1), tuple(finals)

    def extra_repr(self):
        return f"rates={self.rates}, output={self.output!r}"


def _ints(values, argument: str) -> tuple[int, ...]:
    if not isinstance(values, (tuple, list)) or not values:
        raise TypeError(f"{argument} must be a non-empty tuple of ints, got {type(values).__name__} {values!r}")
    return tuple(check_size(v, f"{argument}[{i}]") for i, v in enumerate(values))


def _map(y, fn):
    """fn applied to a tensor, or to a PackedSequence's data."""
    return y._replace(data=fn(y.data)) if isinstance(y, PackedSequence) else fn(y)
