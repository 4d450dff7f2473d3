"""`Recurrent`: the one driver that runs any cell over sequences.

It owns everything that is not the cell's equations: the time loop, masking of right-padded steps,
PackedSequence in and out, initial and final state in torch's layout, direction, stacking, dropout
between layers, variational recurrent dropout, bidirectional merge modes and the choice of torch's
fused kernels. Cells (rnnzoo.cells) compute one step.
"""

from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from . import engine as sequence_engine
from . import fused as fused_kernels
from . import registry
from .cells.base import Cell
from .checks import check_bool, check_input, check_lengths, check_state, check_step_inputs
from .plan import Plan, plan

MERGE_MODES = ("concat", "sum", "mul", "ave")
ENGINES = ("auto", "fast", "native", "loop")


class Recurrent(nn.Module):
    r"""A recurrent layer: any registered cell, stacked and optionally bidirectional.

    Runs `cell` over every step of x. With `num_layers` > 1 each layer reads the previous layer's
    output; with `bidirectional` a second cell per layer reads the sequence backwards and the two
    outputs are merged (`merge`). Padded steps (beyond `lengths`) neither change the state nor leak
    into the output, which is zero there; the final state is the one at each sequence's last real step,
    so right-padded input gives what torch gives for packed sequences.

    Args:
        cell: a registry name (see `rnnzoo.available()`) or a `rnnzoo.cells.Cell` subclass.
        input_size: features of x (H_in).
        hidden_size: features of the cell state (H).
        num_layers: stacked layers.
        bidirectional: add a backward cell per layer.
        merge: how the two directions combine: "concat" (torch, default), "sum", "mul" or "ave"
            (Keras' Bidirectional merge_mode).
        dropout: dropout on each layer's output except the last, as torch's `dropout`.
        recurrent_dropout: variational dropout on the recurrent input, one mask per sequence (Gal &
            Ghahramani 2016); active in training mode only.
        batch_first: x and output are (N, L, ...) instead of (L, N, ...). State is always
            (num_layers * D, N, ...), as in torch.
        fused: "auto" runs torch's fused kernel when `fused_eligible()` holds and the generic loop
            otherwise; True insists on the kernel (an error when it cannot apply); False never uses it.
        engine: how the generic (non-fused) path runs. "auto" runs the cell's sequence engine (the
            `Engine` its registry entry declares, rnnzoo.engine: the whole sequence in one autograd
            Function with a hand-written backward) when `engine_ineligible_reason()` is None and the
            per-step loop otherwise; "fast" insists on the engine (an error when it cannot apply);
            "loop" always runs the per-step loop, the reference. The engine's backward is first-order
            only: create_graph=True (double backward, gradient penalties) needs engine="loop". Engines
            whose entry says `native` run their loops in compiled C++ (rnnzoo.engine.native) when that
            has been built on this machine (`rnnzoo native build`) and in Python otherwise; "native"
            insists on the compiled kernels, builds them on first use (a C++ compiler and about 40 s)
            and never takes torch's fused kernel. `rnnzoo models` lists which cells have which.
        **cell_options: options of the cell, e.g. peephole=True for "lstm" (see the cell's docstring).

    Call: `output, state = layer(x, state=None, lengths=None, **step_inputs)`
        x: (L, N, H_in), or (N, L, H_in) with batch_first, or (L, H_in) unbatched, or a PackedSequence
            (then output is packed too). Convolutional cells take (C, H, W) per step instead of H_in.
        state: the final state of an earlier call, or None for zeros.
        lengths: (N,) ints in [1, L]: real steps of each right-padded sequence.
        step_inputs: extra per-step tensors a cell declares in `step_inputs`, laid out like x's first
            two dimensions (e.g. dt for the continuous-time cell); their padded steps are ignored (any
            finite value: the cell sees 0 there).

    Shapes: N batch, L length, D = 2 if bidirectional else 1, H_out the cell's output size
        output (L, N, D * H_out), or (L, N, H_out) when merged by sum, mul or ave
        state: one tensor (num_layers * D, N, H) for single-state cells (elman, gru, jordan); a tuple
            for several, e.g. (h, c) for lstm: h (num_layers * D, N, H_out), c (num_layers * D, N, H)

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Recurrent("lstm", 10, 20, num_layers=2, bidirectional=True, batch_first=True)
        >>> y, (h, c) = rnn(torch.randn(3, 5, 10), lengths=torch.tensor([5, 2, 4]))
        >>> y.shape, h.shape
        (torch.Size([3, 5, 40]), torch.Size([4, 3, 20]))
    """

    def __init__(self, cell, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, merge: str = "concat", dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, batch_first: bool = False, fused="auto",
                 engine: str = "auto", **cell_options):
        super().__init__()
        cell_cls = self._cell_class(cell)
        self._check_options(cell_cls, cell_options)
        if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
            raise ValueError(f"num_layers must be an int >= 1, got {num_layers!r}")
        if merge not in MERGE_MODES:
            raise ValueError(f"merge must be one of {', '.join(MERGE_MODES)}, got {merge!r}")
        bidirectional = check_bool(bidirectional, "bidirectional")
        batch_first = check_bool(batch_first, "batch_first")
        for name, p in (("dropout", dropout), ("recurrent_dropout", recurrent_dropout)):
            if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
                raise ValueError(f"{name} must be a float in [0, 1), got {p!r}")
        if recurrent_dropout > 0 and not cell_cls.recurrent_inputs:
            raise ValueError(f"recurrent_dropout must be 0 for cell {cell_cls.__name__}, got {recurrent_dropout!r}: "
                             f"its step multiplies no weight by the state (its gates read x only), so there is "
                             f"no recurrent input to drop; use dropout (between layers) instead")
        if fused not in ("auto", True, False):
            raise ValueError(f"fused must be 'auto', True or False, got {fused!r}")
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(map(repr, ENGINES))}, got {engine!r}")
        self.engine = engine
        self.cell_name = getattr(cell_cls, "registry_name", cell_cls.__name__)
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bidirectional, self.merge, self.batch_first = bool(bidirectional), merge, bool(batch_first)
        self.dropout, self.recurrent_dropout, self.fused = float(dropout), float(recurrent_dropout), fused
        self.cell_options = dict(cell_options)
        self.num_directions = 2 if self.bidirectional else 1
        cells, layer_input = [], input_size
        for _ in range(num_layers):
            for _ in range(self.num_directions):
                cells.append(cell_cls(layer_input, hidden_size, **cell_options))
            out = cells[-1].output_size
            layer_input = out * self.num_directions if merge == "concat" else out
        self.cells = nn.ModuleList(cells)  # index l * D + d, torch's state order
        self.output_size = layer_input
        if fused is True and not self.fused_eligible(training=False):
            raise ValueError(f"fused=True, but this layer cannot run on torch's fused kernel: "
                             f"{self.fused_ineligible_reason(training=False)}")
        if engine in ("fast", "native") and self.engine_ineligible_reason() is not None:
            raise ValueError(f"engine={engine!r}, but this layer has no sequence engine: "
                             f"{self.engine_ineligible_reason()}")
        if engine == "native":
            self._check_native(fused)

    # --- construction helpers -------------------------------------------------------------------
    def _check_native(self, fused):
        """engine="native": the compiled kernels cover these cells; build them now (or raise)."""
        if fused is True:
            raise ValueError("fused=True and engine='native' ask for two different kernels; pick one")
        covered = [sequence_engine.native_reason(cell) for cell in self.cells]
        if any(r is not None and r.startswith("no compiled kernels") for r in covered):
            raise ValueError(f"engine='native', but this layer cannot use the compiled kernels: "
                             f"{next(r for r in covered if r is not None)}")
        try:
            from .engine import native
            native.build()
        except RuntimeError as e:
            raise ValueError(f"engine='native', but the compiled kernels are unavailable: {e}") from e
        reason = self.native_ineligible_reason()
        if reason is not None:
            raise ValueError(f"engine='native', but this layer cannot use the compiled kernels: {reason}")

    @staticmethod
    def _cell_class(cell):
        if isinstance(cell, type) and issubclass(cell, Cell):
            return cell
        if isinstance(cell, type):
            raise TypeError(f"cell must be a registry name or a Cell subclass, got class {cell.__name__}")
        return registry.get(cell).cell

    @staticmethod
    def _check_options(cell_cls, options):
        params = inspect.signature(cell_cls.__init__).parameters
        known = [n for n, p in params.items() if p.kind is p.KEYWORD_ONLY]
        for name in options:
            if name not in known:
                raise TypeError(f"unknown option {name!r} for cell {cell_cls.__name__}; "
                                f"its options are: {', '.join(known) or 'none'}")

    # --- fused-kernel eligibility -------------------------------------------------------------
    def fused_ineligible_reason(self, training: bool | None = None, dtype=None) -> str | None:
        """Why torch's fused kernel cannot run this layer, or None when it can.

        Conditions: every cell has a fused kernel (`Cell.fused_kind`: lstm without peephole, coupled
        or layer_norm; gru with reset_after; elman), recurrent dropout is off or the layer is in eval
        mode, and x is float32 or float64 (or on a GPU).
        """
        training = self.training if training is None else training
        kinds = {cell.fused_kind for cell in self.cells}
        if None in kinds:
            return self.cells[0].fused_reason()
        if self.recurrent_dropout > 0 and training:
            return "recurrent_dropout is active (training mode); the fused kernels have no such mask"
        if dtype is not None and dtype not in (torch.float32, torch.float64):
            return f"the CPU kernels take float32 or float64 input, got {dtype}"
        return None

    def fused_eligible(self, training: bool | None = None, dtype=None) -> bool:
        return self.fused_ineligible_reason(training, dtype) is None

    # --- sequence-engine eligibility ----------------------------------------------------------
    def engine_ineligible_reason(self, dtype=None, step_inputs=()) -> str | None:
        """Why the generic path cannot run on a sequence engine (rnnzoo.engine), or None when it can.

        Conditions: the cell's exact class has an engine on its registry entry (`Entry.engine`; `rnnzoo
        models` lists them) or the cell defines `run_sequence`; the engine takes the cell's options
        (`Engine.cell_reason`) and the per-step inputs (ctrnn's dt); x is float32 or float64. A call
        also falls back to the loop under autocast, inside torch.func transforms and while torch.compile
        or torch.jit.trace traces it (rnnzoo.plan).
        """
        for cell in self.cells:
            reason = sequence_engine.ineligible_reason(cell, dtype, step_inputs)
            if reason is not None:
                return reason
        return None

    def native_ineligible_reason(self, like: torch.Tensor | None = None) -> str | None:
        """Why the engine will not run this layer on the compiled kernels (rnnzoo.engine.native) for
        input like `like`, or None when it will: every cell's engine must have them (`Engine.native`),
        they must be built and loadable, RNNZOO_NATIVE=0 unset, the input float32 or float64 on the CPU."""
        for cell in self.cells:
            reason = sequence_engine.native_reason(cell, like)
            if reason is not None:
                return reason
        return None

    def plan(self, dtype=torch.float32, backward: bool | None = None, device_type: str = "cpu",
             step_inputs=(), padded: bool = False) -> Plan:
        """How a call runs (rnnzoo.plan): Plan(path, engine, reason). Arguments as for `path`."""
        backward = self.training if backward is None else backward
        return plan(self, dtype, device_type, backward, padded, step_inputs)

    def path(self, dtype=torch.float32, backward: bool | None = None, device_type: str = "cpu",
             step_inputs=(), padded: bool = False) -> str:
        """Which path a call takes: "fused" (torch's kernel), "native" (rnnzoo.engine on its compiled
        kernels), "engine" (rnnzoo.engine in Python) or "loop"; `plan(...).reason` says why.

        backward: whether the call records autograd for a backward pass (default: the layer's
        training mode); padded: whether it has lengths (or a PackedSequence). With fused="auto",
        training runs on the engine where it beats torch's kernel (rnnzoo.plan).
        """
        return self.plan(dtype, backward, device_type, step_inputs, padded).path

    # --- forward ------------------------------------------------------------------------------
    def forward(self, x, state=None, lengths=None, **step_inputs):
        cell0 = self.cells[0]
        unknown = set(step_inputs) - set(cell0.step_inputs)
        if unknown:
            raise TypeError(f"unknown keyword argument(s) {sorted(unknown)}; cell {type(cell0).__name__} "
                            f"takes per-step inputs: {list(cell0.step_inputs) or 'none'}")
        packed = isinstance(x, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("lengths must be None when x is a PackedSequence (it carries its own)")
            if step_inputs:
                raise ValueError(f"per-step inputs {sorted(step_inputs)} need a padded tensor x, "
                                 "not a PackedSequence")
            seq, (x, lengths) = x, pad_packed_sequence(x)  # time-major, in the original batch order
            check_input(x, cell0, batch_first=False)
            unbatched = False
        else:
            x, unbatched = check_input(x, cell0, self.batch_first)  # now time-major and batched
        _check_dtype(x, cell0)
        L, N = x.shape[:2]
        lengths = check_lengths(lengths, N, L, x.device)
        step_inputs = check_step_inputs(step_inputs, x, self.batch_first, unbatched)
        if lengths is not None and step_inputs:
            # a padded step's per-step input is ignored, as its x is: 0 there (for ctrnn's dt, no time
            # passes), so the cell's checks see only real steps and its gradient is 0 at padded ones
            pad = torch.arange(L, device=x.device)[:, None] >= lengths[None, :]  # (L, N)
            step_inputs = {k: v.masked_fill(pad.view(L, N, *([1] * (v.dim() - 2))), 0)
                           for k, v in step_inputs.items()}
        states = self._split_state(state, x, unbatched)

        backward = torch.is_grad_enabled() and (x.requires_grad or any(p.requires_grad for p in self.parameters()))
        how = plan(self, x.dtype, x.device.type, backward, lengths is not None, step_inputs, like=x)
        if how.path == "fused":
            source = seq if packed else (x if lengths is None else
                                         pack_padded_sequence(x, lengths.cpu(), enforce_sorted=False))
            out, finals = fused_kernels.run(self, source, states)
            if not packed and lengths is not None:
                out = pad_packed_sequence(out, total_length=L)[0]
        else:
            out, finals = self._run_stack(x, states, lengths, step_inputs, how.engine)
            if packed:
                out = _repack(out, lengths, seq)

        if unbatched:
            out = out.squeeze(1)
        elif not packed and self.batch_first:
            out = out.transpose(0, 1)
        return out, self._join_state(finals, unbatched)

    def _run_stack(self, x, states, lengths, step_inputs, engine):
        finals, D = [None] * len(self.cells), self.num_directions
        for layer in range(self.num_layers):
            outputs = []
            for d in range(D):
                i = layer * D + d
                extra = step_inputs  # every layer sees the same per-step inputs (e.g. dt)
                if d == 0:
                    y, finals[i] = self._run_cell(self.cells[i], x, states[i], lengths, extra, engine)
                else:
                    extra = {k: _reverse(v, lengths) for k, v in extra.items()}
                    y, finals[i] = self._run_cell(self.cells[i], _reverse(x, lengths), states[i], lengths, extra,
                                                   engine)
                    y = _reverse(y, lengths)
                outputs.append(y)
            x = self._merge(outputs)
            if layer < self.num_layers - 1 and self.dropout > 0:
                x = F.dropout(x, self.dropout, self.training)
        return x, finals

    def _run_cell(self, cell, x, state, lengths, step_inputs, run):
        """The time loop for one cell over time-major x (L, N, ...): the sequence engine `run` when
        the plan gives one, else the per-step loop below (the reference)."""
        xs = cell.project(x, **step_inputs) if run is None else run.project(cell, x, **step_inputs)
        rec_mask = None
        if self.recurrent_dropout > 0 and self.training:
            keep = 1.0 - self.recurrent_dropout
            rec_mask = tuple(
                torch.bernoulli(torch.full_like(s, keep)) / keep if j in cell.recurrent_inputs else None
                for j, s in enumerate(state))
        L = x.shape[0]
        # Steps before the shortest sequence ends need no mask; later ones keep padded rows as they were.
        full = L if lengths is None else int(lengths.min())
        valid = None if lengths is None else torch.arange(L, device=x.device)[:, None] < lengths[None, :]
        if run is not None:
            return run.run(cell, xs, state, valid, rec_mask)
        # unbind once: indexing xs[t] inside the loop would make backward allocate a full-size
        # gradient of xs at every step (quadratic in L)
        xs = list(zip(*(v.unbind(0) for v in xs))) if isinstance(xs, tuple) else xs.unbind(0)
        ys = []
        for t in range(L):
            y, new = cell.step(xs[t], state, rec_mask)
            if t >= full:
                m = valid[t].view(-1, *([1] * (y.dim() - 1)))
                new = tuple(torch.where(m, n, s) for n, s in zip(new, state))
                y = torch.where(m, y, torch.zeros((), dtype=y.dtype, device=y.device))
            state = new
            ys.append(y)
        return torch.stack(ys), state

    def _merge(self, outputs):
        if len(outputs) == 1:
            return outputs[0]
        fwd, bwd = outputs
        if self.merge == "concat":
            return torch.cat([fwd, bwd], dim=2)  # the feature dim of time-major (L, N, F, ...)
        if self.merge == "sum":
            return fwd + bwd
        if self.merge == "mul":
            return fwd * bwd
        return (fwd + bwd) / 2

    # --- state in torch's layout ----------------------------------------------------------------
    def _split_state(self, state, x, unbatched):
        """User state (num_layers * D, N, ...) per element -> one tuple per cell; zeros for None."""
        if state is None:
            return [cell.init_state(x) for cell in self.cells]
        elements = check_state(state, self, x, unbatched)
        return [tuple(e[i] for e in elements) for i in range(len(self.cells))]

    def _join_state(self, finals, unbatched):
        elements = tuple(torch.stack([f[j] for f in finals]) for j in range(len(finals[0])))
        if unbatched:
            elements = tuple(e.squeeze(1) for e in elements)
        return elements[0] if len(elements) == 1 else elements

    def extra_repr(self):
        parts = [repr(self.cell_name), str(self.input_size), str(self.hidden_size)]
        for name, default in (("num_layers", 1), ("bidirectional", False), ("merge", "concat"),
                              ("dropout", 0.0), ("recurrent_dropout", 0.0), ("batch_first", False),
                              ("fused", "auto"), ("engine", "auto")):
            value = getattr(self, name)
            if value != default:
                parts.append(f"{name}={value!r}")
        parts += [f"{k}={v!r}" for k, v in self.cell_options.items()]
        return ", ".join(parts)


class NamedRecurrent(Recurrent):
    """Recurrent with the cell fixed by the subclass (`_cell`), taking Recurrent's other arguments."""

    _cell = ""

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, merge="concat",
                 dropout=0.0, recurrent_dropout=0.0, batch_first=False, fused="auto", engine="auto",
                 **cell_options):
        super().__init__(self._cell, input_size, hidden_size, num_layers, bidirectional, merge,
                         dropout, recurrent_dropout, batch_first, fused, engine, **cell_options)


def _check_dtype(x, cell):
    """x's dtype must be the cell's parameters' (as torch's layers insist), except under autocast,
    which casts for itself: a TypeError naming both before a kernel fails in its own words (one
    parameter looked at, about 2 us)."""
    weight = next(cell.parameters(), None)
    if (weight is not None and weight.dtype != x.dtype and weight.is_floating_point()
            and not torch.is_autocast_enabled(x.device.type)):
        raise TypeError(f"input dtype ({x.dtype}) does not match the layer's parameter dtype ({weight.dtype}); "
                        f"convert the input, x.to({weight.dtype}), or the layer, layer.to({x.dtype})")


def _reverse(x, lengths):
    """Reverse each sequence of time-major x (L, N, ...) within its length; padding stays put."""
    if lengths is None:
        return x.flip(0)
    L, N = x.shape[:2]
    t = torch.arange(L, device=x.device)[:, None]
    index = torch.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # (L, N)
    index = index.view(L, N, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(0, index)


def _repack(out, lengths, like: PackedSequence) -> PackedSequence:
    """Pack time-major `out` with the same batch order as the PackedSequence `like`."""
    order = like.sorted_indices
    if order is None:
        data = pack_padded_sequence(out, lengths.cpu(), enforce_sorted=True).data
    else:
        data = pack_padded_sequence(out[:, order], lengths[order].cpu(), enforce_sorted=True).data
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)
