"""The engine interface: what a sequence engine declares, once, on its cell's registry entry.

An engine runs one cell class over a whole sequence inside one torch.autograd.Function with a
hand-written backward (rnnzoo.engine's docstring says how). Each engine module ends with one `Engine`
value, and the cell's `register(Entry(..., engine=that_module.ENGINE))` line names it, so the
dispatch (rnnzoo.engine, rnnzoo.plan) finds a cell's engine through the registry and no engine ever
imports a cell class: it receives cell instances and reads their parameters and options.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


def _none(cell) -> None:
    return None


def _never(cell) -> bool:
    return False


def _no_kernels(cell) -> tuple:
    return ()


@dataclass
class Engine:
    """A sequence engine for one cell class (the exact class: a subclass may change the equations).

    Fields:
        name: the engine's module, for messages (e.g. "rnnzoo.engine.lstm").
        project(cell, x, **step_inputs) -> xs: the state-independent work for all steps, the same
            values as `cell.project(x)` (an engine may run the product on oneDNN where that pays).
        run(cell, xs, state, valid, rec_mask) -> (ys, final state tuple): the whole sequence. xs from
            `project` (L, N, ...); state the initial state tuple; valid None or an (L, N) bool mask of
            real steps (padded steps keep the state and output zeros, the per-step loop's rule);
            rec_mask the driver's recurrent-dropout masks, a tuple aligned with the state, or None.
        cell_reason(cell) -> str | None: why this cell instance (its options, its submodules) cannot
            run here, or None when it can.
        step_inputs: the per-step inputs `project` takes besides x (the CTRNN's ("dt",)).
        native: its loops run on the compiled kernels (rnnzoo.engine.native) where they are built.
        native_kernels(cell) -> (forward kernel, backward kernel or None): the names of the compiled
            functions this cell's loops call (None: the backward loop runs in Python); () without.
        trains_faster: measured on CPU (benchmarks/cells.py): training (forward + backward) on this
            engine beats torch's fused kernel for the same cell, so fused="auto" trains here.
        native_beats_fused(cell) -> bool: measured: on the compiled kernels this cell beats torch's
            fused kernel in every call, inference included, so fused="auto" leaves the kernel.
        native_gain: measured (hidden size, training speed-up of the compiled loops over this engine in
            Python) pairs, at batch 32 (benchmarks/cells.py, 2 threads); `rnnzoo train` quotes the one
            nearest a model's size when the kernels are not built (rnnzoo.plan.native_hint).

    Example:
        >>> from rnnzoo import registry
        >>> engine = registry.get("elman").engine
        >>> engine.name, engine.native, engine.trains_faster
        ('rnnzoo.engine.elman', True, True)
    """

    name: str
    project: Callable
    run: Callable
    cell_reason: Callable = _none
    step_inputs: tuple[str, ...] = ()
    native: bool = False
    native_kernels: Callable = _no_kernels
    trains_faster: bool = False
    native_beats_fused: Callable = _never
    native_gain: tuple[tuple[int, float], ...] = ()

    def __repr__(self) -> str:
        return f"Engine({self.name!r})"
