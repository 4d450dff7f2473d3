"""The cell protocol: what one recurrent time step must provide to the driver.

A cell computes one step and nothing else. `rnnzoo.Recurrent` owns the time loop, masking of padded
steps, initial and final state, direction, stacking and both kinds of dropout, so a new architecture
only writes its equations.

The driver calls, for a time-major input x of shape (L, N, *features):

    xs = cell.project(x, **step_inputs)   # work that does not depend on the state, all steps at once
    state = cell.init_state(x)            # tuple of zero tensors, each (N, ...)
    for t in range(L):
        y, state = cell.step(xs[t], state, rec_mask)

`xs` is a tensor or a tuple of tensors with L as their first dimension; the driver takes step t of each.
`rec_mask` is None, or a tuple aligned with `state` holding a variational recurrent-dropout mask (or
None) for each state element the cell feeds into its recurrent matmul (see `recurrent_inputs`).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..checks import check_size

ACTIVATIONS = {
    "tanh": torch.tanh,
    "relu": torch.relu,
    "sigmoid": torch.sigmoid,
    "identity": lambda v: v,
}


def get_activation(name: str, argument: str = "activation"):
    """Return the activation function called `name`, or raise a TypeError/ValueError naming `argument`."""
    if not isinstance(name, str):  # a list or dict would fail the look-up as "unhashable type"
        raise TypeError(f"{argument} must be a str, one of {sorted(ACTIVATIONS)}, got {type(name).__name__} {name!r}")
    if name not in ACTIVATIONS:
        raise ValueError(f"{argument} must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def dropped(state: tuple, rec_mask, i: int = 0) -> torch.Tensor:
    """state[i] as the recurrent matmul should see it: multiplied by its dropout mask, if any."""
    if rec_mask is None or rec_mask[i] is None:
        return state[i]
    return state[i] * rec_mask[i]


def init_blocks_(weight: torch.Tensor, blocks: int, recurrent: bool) -> None:
    """Initialise a stacked gate matrix (blocks * H, K) block by block.

    Recurrent blocks are orthogonal (Saxe et al. 2014), which keeps early gradients from exploding or
    vanishing through time; input blocks are Glorot-uniform, as Keras does.
    """
    with torch.no_grad():
        for chunk in weight.chunk(blocks, dim=0):
            if recurrent:
                nn.init.orthogonal_(chunk)
            else:
                nn.init.xavier_uniform_(chunk)


class Cell(nn.Module):
    """Base class for one recurrent time step (see the module docstring for the protocol).

    Subclasses set in `__init__`:
        input_size, hidden_size, output_size: feature sizes (channels for convolutional cells)
        state_names: names of the state elements, e.g. ("h", "c")
    and may override:
        input_dims: per-step feature dimensions of x: 1 for vectors, 3 for (C, H, W) images
        step_inputs: names of extra per-step tensors `project` accepts, e.g. ("dt",)
        recurrent_inputs: indices of state elements that recurrent dropout applies to
        fused_kind: the torch fused kernel that computes this cell exactly, or None
    """

    input_dims: int = 1
    step_inputs: tuple[str, ...] = ()
    recurrent_inputs: tuple[int, ...] = (0,)
    state_names: tuple[str, ...] = ("h",)

    def __init__(self, input_size: int, hidden_size: int):
        super().__init__()
        self.input_size = check_size(input_size, "input_size")
        self.hidden_size = check_size(hidden_size, "hidden_size")
        self.output_size = hidden_size

    # --- shapes -------------------------------------------------------------------------------
    def state_shapes(self, x: torch.Tensor) -> tuple[tuple[int, ...], ...]:
        """Per-sample shape of each state element for time-major input x (L, N, *features)."""
        return tuple((self.hidden_size,) for _ in self.state_names)

    def init_state(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        n = x.shape[1]
        return tuple(x.new_zeros((n, *shape)) for shape in self.state_shapes(x))

    def feature_shape(self) -> tuple[int, ...] | None:
        """Expected per-step feature shape of x, or None where only the leading size is fixed."""
        return (self.input_size,)

    # --- the step -----------------------------------------------------------------------------
    def project(self, x: torch.Tensor, **step_inputs):
        """State-independent work for all steps at once (usually x W^T + b as one matmul)."""
        return x

    def step(self, xp, state: tuple, rec_mask=None):
        raise NotImplementedError

    # --- fused kernels ------------------------------------------------------------------------
    @property
    def fused_kind(self) -> str | None:
        """'lstm', 'gru', 'rnn_tanh' or 'rnn_relu' when a torch kernel computes this cell exactly."""
        return None

    def fused_reason(self) -> str:
        """Why this cell has no fused kernel (shown when fused=True is forced)."""
        return f"{type(self).__name__} has no fused torch kernel"

    def fused_weights(self) -> list[torch.Tensor]:
        """[w_ih, w_hh, b_ih, b_hh(, w_hr)] in torch's layout for the fused kernel."""
        raise NotImplementedError

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


def uniform_(tensor: torch.Tensor, hidden_size: int) -> None:
    """PyTorch's RNN initialisation U(-1/sqrt(H), 1/sqrt(H))."""
    bound = 1.0 / math.sqrt(hidden_size)
    with torch.no_grad():
        tensor.uniform_(-bound, bound)
