"""Sequence engine for RMLPCell (any activation), with recurrent-dropout masks.
Equations: rnnzoo.cells.rmlp.RMLPCell, hˡ' = act(W_l hˡ⁻¹' + U_l hˡ + b_l), h⁰' = x.

Layer l reads layer l-1 of the same step and nothing reads back down, so over a whole sequence the
RMLP is K Elman recurrences one after the other: layer 1 runs over all steps, its outputs are
projected by W_2 in one matmul, layer 2 runs over all steps, and so on, each on the Elman engine
(rnnzoo.engine.elman) with its hand-written backward. Padded steps hold every layer's state, as in
the per-step loop; what a held layer passes up at those steps never reaches a state.
"""

from __future__ import annotations

from .common import ACTIVATIONS, masked_output, needs_grad
from .elman import ElmanSequence, _forward
from .interface import Engine
from .linalg import linear


def cell_reason(cell):
    if cell.activation not in ACTIVATIONS:
        return f"the engine has no activation {cell.activation!r}"
    return None


def project(cell, x):
    return linear(x, cell.weight_ih[0], cell.bias[0])  # = cell.project(x)


def run(cell, xs, state, valid, rec_mask):
    y, finals = xs, []
    for l, W in enumerate(cell.weight_hh):
        xp = y if l == 0 else linear(y, cell.weight_ih[l], cell.bias[l])  # W_l hˡ⁻¹ + b_l, all steps
        mask = None if rec_mask is None else rec_mask[l]
        if needs_grad(xp, state[l], W):
            y, h = ElmanSequence.apply(xp, state[l], W, mask, valid, cell.activation)
        else:
            Y = _forward(xp, state[l], W, mask, valid, cell.activation)
            y, h = masked_output(Y, valid), Y[-1]
        finals.append(h)
    return y, tuple(finals)


# its layers run on the Elman engine's forward, which rnnzoo.engine.native has
# native_gain: training speed-up of the compiled loops over this engine in Python at hidden 16 and 256,
# batch 32 (benchmarks/cells.py --sizes 32,20,16,16 32,100,64,256 --filter rmlp)
ENGINE = Engine("rnnzoo.engine.rmlp", project, run, cell_reason=cell_reason, native=True,
                native_kernels=lambda cell: ("elman_forward", None),
                native_gain=((16, 1.15), (256, 1.07)))
