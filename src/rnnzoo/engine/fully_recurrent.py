"""Sequence engine for FullyRecurrentCell (tanh or sigmoid), with recurrent-dropout masks.
Equations: rnnzoo.cells.fully_recurrent.FullyRecurrentCell, y' = f(W y + V x + b), output = the last
output_units of y'.

Once the input projection is padded to every unit (zero beyond input_units, which the cell's own
`project` does), the recurrence is an Elman one over all n units, so it runs on the Elman engine
(rnnzoo.engine.elman: its forward compiled where rnnzoo.engine.native is built, its hand-written
backward) and the output is a view of the last output_units of each step's state.
"""

from __future__ import annotations

from . import elman
from .interface import Engine


def project(cell, x):
    return cell.project(x)  # x V^T padded with zeros to all n units, plus b


def run(cell, xs, state, valid, rec_mask):
    ys, final = elman.run(cell, xs, state, valid, rec_mask)
    return ys[..., cell.hidden_size - cell.output_units:], final


# every cell runs here: tanh and sigmoid, its only activations, are both the Elman engine's, whose
# forward loop rnnzoo.engine.native has
# native_gain: training speed-up of the compiled loops over this engine in Python at hidden 16 and 256,
# batch 32 (benchmarks/cells.py --sizes 32,20,16,16 32,100,64,256 --filter fully_recurrent)
ENGINE = Engine("rnnzoo.engine.fully_recurrent", project, run, native=True,
                native_kernels=lambda cell: ("elman_forward", None),
                native_gain=((16, 1.15), (256, 1.15)))
