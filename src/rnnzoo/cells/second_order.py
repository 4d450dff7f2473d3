"""Second-order recurrent network (Giles et al. 1992): weights act on products of state and input."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_size
from ..driver import NamedRecurrent
from ..engine import second_order as engine
from ..registry import Entry, register
from .base import Cell, dropped, get_activation


class SecondOrderCell(Cell):
    r"""Second-order cell, registry name `second_order`. One step; `rnnzoo.Recurrent` runs sequences.

    Equations (Giles et al. 1992, "Learning and extracting finite state automata with second-order
    recurrent neural networks"):
        h'_i = act(Σ_jk W_ijk h_j x_k + b_i)
    i.e. each input x selects a transition matrix M(x)_ij = Σ_k W_ijk x_k, and h' = act(M(x) h + b).
    act = sigmoid (the paper's, default) or tanh. With `rank` = R, W is a rank-R CP factorisation
        W_ijk = Σ_r A_ir B_jr C_kr,    so    h' = act(A ((B^T h) ⊙ (C^T x)) + b)
    and `project` computes C^T x for all steps in one matmul.

    Shapes: N batch, H_in input_size, H hidden_size, R rank
        x (N, H_in); state (h,), h (N, H); output h' (N, H)
        full: weight (H, H, H_in) = W_ijk (i: unit out, j: unit in, k: input); bias (H,)
        rank R: weight_a (H, R) = A, weight_b (H, R) = B, weight_c (H_in, R) = C; bias (H,)
    Init: variance 1 / fan-in, so that the pre-activation keeps the scale of h times x: W uniform with
    variance 1 / (H H_in) (the H H_in products h_j x_k feed each unit); A, B, C uniform with variance
    1 / R, 1 / H, 1 / H_in. bias U(-1, 1): with zero state and zero bias the tanh cell would stay at
    h = 0 for ever (h = 0 is a fixed point of M(x) h), so the bias starts the state off zero.
    Fused: none; sequence engine (rnnzoo.engine.second_order) for both forms: the full weight keeps only
    the states for backward instead of every step's h ⊗ x; rank R keeps B^T h of each step.
    Purely multiplicative: h has no path to h' that bypasses x. With the zero start state (the
    default of every rnnzoo layer) h_1 = act(b) ignores x_1, so pass Giles et al.'s start state,
    state[..., 0] = 1, to use it. M(-x) = -M(x), so zero-mean real-valued inputs flip what the
    state carries at random; the model suits one-hot symbols (as in the paper) or inputs with a
    constant component.

    Args:
        input_size: features of x (H_in).
        hidden_size: features of h (H).
        rank: None (full W) or R in [1, H * min(H, H_in)]. Every H × H × H_in tensor has CP rank at most
            min(H·H, H·H_in, H·H_in) = H·min(H, H_in), so a larger R adds parameters and no
            expressiveness and is a ValueError.
        activation: "sigmoid" or "tanh".

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Recurrent("second_order", 3, 5, rank=4, batch_first=True)
        >>> y, h = rnn(torch.zeros(2, 7, 3))
        >>> y.shape, h.shape
        (torch.Size([2, 7, 5]), torch.Size([1, 2, 5]))
    """

    def __init__(self, input_size: int, hidden_size: int, *, rank: int | None = None,
                 activation: str = "sigmoid"):
        super().__init__(input_size, hidden_size)
        H, K = hidden_size, input_size
        if rank is not None:
            rank = check_size(rank, "rank")
            if rank > H * min(H, K):
                raise ValueError(f"rank must be <= hidden_size * min(hidden_size, input_size) = "
                                 f"{H * min(H, K)}, the largest CP rank of an {H} x {H} x {K} tensor, "
                                 f"got {rank}")
        if activation not in ("sigmoid", "tanh"):
            raise ValueError(f"activation must be 'sigmoid' or 'tanh', got {activation!r}")
        self.rank, self.activation, self.act = rank, activation, get_activation(activation)
        if rank is None:
            self.weight = nn.Parameter(_uniform(torch.empty(H, H, K), H * K))
        else:
            self.weight_a = nn.Parameter(_uniform(torch.empty(H, rank), rank))
            self.weight_b = nn.Parameter(_uniform(torch.empty(H, rank), H))
            self.weight_c = nn.Parameter(_uniform(torch.empty(K, rank), K))
        self.bias = nn.Parameter(torch.empty(H).uniform_(-1.0, 1.0))

    def full_weight(self) -> torch.Tensor:
        """W (H, H, H_in), built from A, B, C when the cell is low-rank."""
        if self.rank is None:
            return self.weight
        return torch.einsum("ir,jr,kr->ijk", self.weight_a, self.weight_b, self.weight_c)

    def project(self, x):
        if self.rank is not None:
            return x @ self.weight_c  # (L, N, R): C^T x for all steps in one matmul
        # Full W: each step is one matmul of the outer products h ⊗ x_t, (N, H·H_in), with W viewed
        # as (H, H·H_in). Precomputing M(x_t) = W x_t for all steps here, an (L, N, H, H) tensor, and a
        # batched mat-vec per step was 2-20x slower on CPU (forward and backward, H 32-128) and
        # costs L·N·H·H memory, so project() leaves x as it is.
        return x

    def step(self, xp, state, rec_mask=None):
        h = dropped(state, rec_mask)  # (N, H)
        if self.rank is not None:
            s = F.linear((h @ self.weight_b) * xp, self.weight_a, self.bias)
        else:
            outer = (h.unsqueeze(2) * xp.unsqueeze(1)).flatten(1)  # (N, H * H_in), index j * H_in + k
            s = F.linear(outer, self.weight.view(self.hidden_size, -1), self.bias)
        h = self.act(s)
        return h, (h,)

    def fused_reason(self):
        return "the second-order cell has no fused torch kernel (its weights multiply h by x)"

    def extra_repr(self):
        rank = "" if self.rank is None else f", rank={self.rank}"
        return f"{self.input_size}, {self.hidden_size}{rank}, activation={self.activation!r}"


def _uniform(tensor: torch.Tensor, fan_in: int) -> torch.Tensor:
    """Uniform with variance 1 / fan_in (LeCun)."""
    bound = math.sqrt(3.0 / fan_in)
    return tensor.uniform_(-bound, bound)


class SecondOrder(NamedRecurrent):
    """Second-order RNN (Giles et al. 1992): `Recurrent("second_order", ...)`.

    Options: rank (low-rank CP factorisation of W), activation ("sigmoid" or "tanh").
    Equations: `rnnzoo.cells.second_order.SecondOrderCell`.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.SecondOrder(2, 10, activation="tanh", batch_first=True)
        >>> y, h = rnn(torch.randn(3, 5, 2))
        >>> y.shape, h.shape
        (torch.Size([3, 5, 10]), torch.Size([1, 3, 10]))
    """

    _cell = "second_order"


register(Entry(
    "second_order", SecondOrderCell, "Second-order RNN, h' = act(W (h ⊗ x) + b) (rank, activation)",
    "h'_i = act(Σ_jk W_ijk h_j x_k + b_i)",
    "Giles et al. 1992, Learning and extracting finite state automata with second-order RNNs",
    layer=SecondOrder,
    variants={"default": {}, "tanh": {"activation": "tanh"}, "rank": {"rank": 2}},
    torch_counterpart="rnn",
    engine=engine.ENGINE))
