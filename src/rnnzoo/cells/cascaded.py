"""Pollack's sequential cascaded network (Pollack 1991): the state computes the weights of the step."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..driver import NamedRecurrent
from ..registry import Entry, register
from .base import Cell, dropped, get_activation


class CascadedCell(Cell):
    r"""Sequential cascaded cell, registry name `cascaded`. One step; `rnnzoo.Recurrent` runs sequences.

    A context network maps the previous state to the weights of a function network, which maps the
    current input (plus a constant bias input 1) to the next state (Pollack 1991, "The induction of
    dynamical recognizers"):
        W_t = reshape(W_c z + b_c)   to (H, H_in + 1)      context network
        z'  = act(W_t [x; 1])                             function network
    i.e. z'_i = act(sum_jk Wc_ijk z_j x~_k + sum_k bc_ik x~_k) with x~ = [x; 1]: a second-order
    (multiplicative) network whose state-input products all pass through one weight tensor.

    Computation: each step is one matmul z W_c^T (N, H) x (H, H*K) -> W_t (N, H, K), shared weights so
    a real GEMM, then one batched matvec torch.bmm(W_t, x~). The alternative reorganisation (contract
    x~ with W_c for all steps in `project`, leaving a per-sample (H, H) matvec per step) moves no flops
    out of the loop but stores L*N*H*(H+1) values instead of L*N*H*K, and its per-sample matvecs do
    not reuse weights: on CPU it measured 1.2-4x slower forward and 1.2-8x slower forward+backward
    (H_in 1-32, H 8-128), about even only when H_in >> H. So `project` only appends the input 1 to x.

    Shapes: N batch, H_in input_size, H hidden_size, K = H_in + 1
        x (N, H_in); state (z,), z (N, H); output z' (N, H)
        weight_context (H*K, H): weight_context.view(H, K, H)[i, k, j] = Wc_ijk (i: state unit out,
            k: input unit, the bias input last, j: state unit in); bias_context (H*K,), .view(H, K)
    Init: weight_context U(-1/sqrt(H), 1/sqrt(H)) (nn.Linear's init of the context net, fan-in H);
    bias_context U(-1/sqrt(K), 1/sqrt(K)) (nn.Linear's init of the function net, fan-in K), nonzero
    so that the first step, from z = 0, already depends on x. Fused: none.
    Differs from Pollack 1991: the initial state is zero (or the given `state`), not a learned vector;
    the output is the whole state (Pollack reads acceptance off one unit: add a readout).

    Args:
        input_size: features of x.
        hidden_size: features of the state z.
        activation: "sigmoid" (Pollack's, default) or "tanh".

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.Recurrent("cascaded", 1, 4, batch_first=True)
        >>> y, z = rnn(torch.zeros(2, 7, 1))
        >>> y.shape, z.shape
        (torch.Size([2, 7, 4]), torch.Size([1, 2, 4]))
    """

    def __init__(self, input_size: int, hidden_size: int, *, activation: str = "sigmoid"):
        super().__init__(input_size, hidden_size)
        if activation not in ("sigmoid", "tanh"):
            raise ValueError(f"activation must be 'sigmoid' or 'tanh', got {activation!r}")
        self.activation = activation
        self.act = get_activation(activation)
        H, K = hidden_size, input_size + 1
        self.weight_context = nn.Parameter(torch.empty(H * K, H))
        self.bias_context = nn.Parameter(torch.empty(H * K))
        with torch.no_grad():
            self.weight_context.uniform_(-1 / math.sqrt(H), 1 / math.sqrt(H))
            self.bias_context.uniform_(-1 / math.sqrt(K), 1 / math.sqrt(K))

    def project(self, x):
        return torch.cat([x, x.new_ones(*x.shape[:-1], 1)], dim=-1)  # x~ = [x; 1], (L, N, K)

    def step(self, xp, state, rec_mask=None):
        n, K = xp.shape
        w = F.linear(dropped(state, rec_mask), self.weight_context, self.bias_context)  # (N, H*K)
        z = self.act(torch.bmm(w.view(n, self.hidden_size, K), xp.unsqueeze(-1)).squeeze(-1))
        return z, (z,)

    def fused_reason(self):
        return "the sequential cascaded cell has no fused torch kernel (its weights depend on the state)"

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}"


class SequentialCascaded(NamedRecurrent):
    """Sequential cascaded network (Pollack 1991): `Recurrent("cascaded", ...)`.

    Options: activation ("sigmoid", default, or "tanh"). Equations: `rnnzoo.cells.CascadedCell`.

    Example:
        >>> import torch, rnnzoo
        >>> rnn = rnnzoo.SequentialCascaded(1, 4, batch_first=True)
        >>> bits = torch.randint(0, 2, (8, 10, 1)).float()
        >>> y, z = rnn(bits)
        >>> y.shape, z.shape
        (torch.Size([8, 10, 4]), torch.Size([1, 8, 4]))
    """

    _cell = "cascaded"


register(Entry(
    "cascaded", CascadedCell, "Pollack's sequential cascaded network: the state sets the step's weights",
    "W = reshape(W_c z + b_c); z' = act(W [x; 1])",
    "Pollack 1991, The induction of dynamical recognizers", layer=SequentialCascaded,
    variants={"default": {}, "tanh": {"activation": "tanh"}}, torch_counterpart="rnn"))
