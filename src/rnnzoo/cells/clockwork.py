"""Clockwork RNN (Koutnik, Greff, Gomez & Schmidhuber 2014): modules of hidden units, each on its own clock."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_size
from ..driver import NamedRecurrent
from ..registry import Entry, register
from .base import Cell, dropped, get_activation, init_blocks_


def step_count(t: torch.Tensor) -> torch.Tensor:
    """The step counter held in a state element t (N, 1) as the integer it stands for.

    The counter rides in the state so that the driver's masking carries it over padded steps (and a
    later call continues it); it is a float because every state element has x's dtype. Rounding makes
    it immune to float noise, and it is detached: no gradient flows through a count (its derivative is
    0 almost everywhere, and gradcheck's numerical one is too).
    """
    return torch.round(t.detach())


def next_count(k: torch.Tensor, cycle: int) -> torch.Tensor:
    """The counter after step k: (k + 1) mod cycle, with cycle the least common multiple of the
    periods, so it stays small and exact in any float dtype while keeping every clock's phase."""
    return torch.remainder(k + 1, cycle)


def check_periods(periods, argument: str = "periods") -> tuple[int, ...]:
    """periods as a tuple of ints >= 1, strictly increasing, or a TypeError/ValueError naming `argument`."""
    if not isinstance(periods, (tuple, list)) or not periods:
        raise TypeError(f"{argument} must be a non-empty tuple of ints, got {type(periods).__name__} {periods!r}")
    periods = tuple(check_size(p, f"{argument}[{i}]") for i, p in enumerate(periods))
    if any(a >= b for a, b in zip(periods, periods[1:])):
        raise ValueError(f"{argument} must be strictly increasing (fastest module first), got {periods}")
    return periods


class ClockworkCell(Cell):
    r"""Clockwork RNN cell, registry name `clockwork`. One step; `rnnzoo.Recurrent` runs sequences.

    The H hidden units are split into g modules, fastest first, with periods T_1 < T_2 < ... < T_g.
    At step t (counted from 0 in each sequence) module i is due when t mod T_i = 0:
        due_i = [t mod T_i = 0]
        h'_i  = act(W_ih,i x + Σ_{j >= i} W_hh,ij h_j + b_i)   if due_i
        h'_i  = h_i   (exactly, bitwise)                        otherwise
        t'    = (t + 1) mod lcm(T_1, ..., T_g)
    W_hh is block upper-triangular: module i hears itself and the slower modules j > i (T_j >= T_i),
    never the faster ones. The layer's weight_hh is the full (H, H) matrix; the step uses
    weight_hh ⊙ mask (the buffer `mask`, 1 on and above the diagonal blocks), so the entries below the
    blocks get no gradient; they start at 0 and stay 0 under any optimiser.

    The counter t is the state's second element, so the driver's one mask rule applies to it: at a
    padded step (beyond `lengths`) the state, counter included, carries over and the output is 0, so a
    padded batch gives each sequence what it gives alone, and a state passed back in continues every
    clock where it stopped. The backward cell of a bidirectional layer counts from its own start (the
    sequence's last real step). It is kept modulo the least common multiple of the periods (every
    clock's phase is all that matters), rounded and detached when read; a user-made state must hold
    integers there (zeros: start of a sequence).

    Shapes: N batch, H_in input_size, H hidden_size, g modules
        x (N, H_in); state (h, t), h (N, H), t (N, 1); output h' (N, H)
        weight_ih (H, H_in); weight_hh (H, H); bias (H,)
        buffers (not saved: they follow from the options): period (H,) the period of each unit's
            module; mask (H, H) the allowed recurrent connections
    Module sizes: H // g units each, the first H mod g (fastest) modules one more.
    Init: weight_ih Glorot-uniform; weight_hh orthogonal, then zeroed below the diagonal blocks (its
    eigenvalues are those of the diagonal blocks, each a contraction); bias 0. Fused: none.
    Recurrent dropout masks h where it enters W_hh.

    Args:
        input_size: features of x.
        hidden_size: features of h, split into the modules.
        periods: the modules' periods, strictly increasing, e.g. (1, 2, 4, 8) (one module each).
        modules: the number g of modules with exponential periods 1, 2, 4, ..., 2^(g-1), when
            `periods` is not given (default 4, or hidden_size if smaller).
        activation: one of tanh, relu, sigmoid, identity (default tanh).

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Clockwork(3, 8, periods=(1, 2, 4, 8), batch_first=True)
        >>> y, (h, t) = rnn(torch.zeros(2, 7, 3), lengths=torch.tensor([7, 5]))
        >>> y.shape, h.shape, t.flatten().tolist()   # steps counted per sequence, modulo lcm = 8
        (torch.Size([2, 7, 8]), torch.Size([1, 2, 8]), [7.0, 5.0])
    """

    state_names = ("h", "t")

    def __init__(self, input_size: int, hidden_size: int, *, periods: tuple | None = None,
                 modules: int | None = None, activation: str = "tanh"):
        super().__init__(input_size, hidden_size)
        if periods is None:
            modules = min(4, hidden_size) if modules is None else check_size(modules, "modules")
            periods = tuple(2 ** i for i in range(modules))
        else:
            periods = check_periods(periods)
            if modules is not None and check_size(modules, "modules") != len(periods):
                raise ValueError(f"modules ({modules}) must be len(periods) ({len(periods)}) when both are given")
        if len(periods) > hidden_size:
            raise ValueError(f"{len(periods)} modules need hidden_size >= {len(periods)} (a unit each at least), "
                             f"got hidden_size={hidden_size}")
        self.periods, self.activation = periods, activation
        self.act = get_activation(activation, "activation")
        self.cycle = math.lcm(*periods)
        g = len(periods)
        self.module_sizes = tuple(hidden_size // g + (i < hidden_size % g) for i in range(g))
        module = torch.repeat_interleave(torch.arange(g), torch.tensor(self.module_sizes))  # (H,) module of each unit
        self.register_buffer("period", torch.tensor(periods, dtype=torch.float32)[module], persistent=False)
        # unit i hears unit j when j's module is i's or a slower one
        self.register_buffer("mask", (module[None, :] >= module[:, None]).float(), persistent=False)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        init_blocks_(self.weight_ih, 1, recurrent=False)
        init_blocks_(self.weight_hh, 1, recurrent=True)
        with torch.no_grad():
            self.weight_hh.mul_(self.mask)

    def state_shapes(self, x):
        return ((self.hidden_size,), (1,))

    def recurrent_weight(self) -> torch.Tensor:
        """The W_hh the step uses: weight_hh with the connections from faster modules removed."""
        return self.weight_hh * self.mask

    def project(self, x):
        return F.linear(x, self.weight_ih, self.bias)  # (L, N, H)

    def step(self, xp, state, rec_mask=None):
        h, t = state  # (N, H), (N, 1)
        k = step_count(t)
        due = torch.remainder(k, self.period) == 0  # (N, H): the units whose module updates now
        new = self.act(xp + dropped(state, rec_mask) @ self.recurrent_weight().T)
        h = torch.where(due, new, h)
        return h, (h, next_count(k, self.cycle))

    def fused_reason(self):
        return "the clockwork cell has no fused torch kernel (its modules update on their own clocks)"

    def extra_repr(self):
        return (f"{self.input_size}, {self.hidden_size}, periods={self.periods}, "
                f"module_sizes={self.module_sizes}, activation={self.activation!r}")


class Clockwork(NamedRecurrent):
    """Clockwork RNN: `Recurrent("clockwork", ...)`; modules of units updated every T_i steps.

    Options: periods, modules, activation. Equations: `rnnzoo.cells.ClockworkCell`. The state is
    (h, t): t (num_layers * D, N, 1) counts each sequence's steps, so a state passed back in continues
    every module's clock.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Clockwork(10, 20, modules=3, batch_first=True)
        >>> y, (h, t) = rnn(torch.randn(3, 5, 10))
        >>> y.shape, h.shape, t.shape
        (torch.Size([3, 5, 20]), torch.Size([1, 3, 20]), torch.Size([1, 3, 1]))
    """

    _cell = "clockwork"


register(Entry(
    "clockwork", ClockworkCell, "Clockwork RNN: modules of units updated every T_i steps, slow to fast",
    "h'_i = act(W_i x + Σ_{T_j >= T_i} U_ij h_j + b_i) if t mod T_i = 0, else h_i",
    "Koutnik et al. 2014, A clockwork RNN", layer=Clockwork,
    variants={"default": {}, "periods": {"periods": (1, 2, 5)}}, torch_counterpart="rnn"))
