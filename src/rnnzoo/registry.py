"""One list of architectures that the layers, the CLI, the benchmarks and the tests all iterate over.

Adding an architecture is one `register(...)` call next to its cell: from then on it has a name for
`rnnzoo.Recurrent`, a line in `rnnzoo.available()` and `rnnzoo models`, the conformance tests, a
benchmark row, a row of the README's architecture table (tests/test_registry.py checks it), and, when
the entry names a sequence engine, the engine's gradcheck and parity tests and the fast paths.

This module imports nothing of rnnzoo: the cells, the driver and the engines all read it.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine.interface import Engine


@dataclass(frozen=True)
class Entry:
    """A registered recurrent architecture.

    name: registry name, e.g. "lstm"           cell: the Cell class
    description: one line for `available()`   equation: the step in one line
    paper: where it comes from                 layer: the named layer class, e.g. rnnzoo.LSTM
    variants: option sets that tests and benchmarks run, by label ("default" first)
    torch_counterpart: "lstm", "gru" or "rnn": the fused torch module of the same sizes to compare to
    spatial: per-step spatial size used by tests and benchmarks for convolutional cells, whose x is
        (L, N, input_size, *spatial); () for vector cells
    engine: the cell's sequence engine (rnnzoo.engine.interface.Engine), or None: the per-step loop
    """

    name: str
    cell: type
    description: str
    equation: str
    paper: str
    layer: type | None = None
    variants: dict = field(default_factory=lambda: {"default": {}})
    torch_counterpart: str = "lstm"
    spatial: tuple = ()
    engine: Engine | None = None

    def options(self) -> dict:
        """The cell's options and their defaults, read from its signature."""
        params = inspect.signature(self.cell.__init__).parameters.values()
        return {p.name: p.default for p in params if p.kind is p.KEYWORD_ONLY}


_ENTRIES: dict[str, Entry] = {}
_BY_CELL: dict[type, Entry] = {}


def register(entry: Entry) -> Entry:
    if entry.name in _ENTRIES:
        raise ValueError(f"architecture {entry.name!r} is already registered")
    if entry.cell in _BY_CELL:
        raise ValueError(f"cell {entry.cell.__name__} is already registered as {_BY_CELL[entry.cell].name!r}")
    _ENTRIES[entry.name] = entry
    _BY_CELL[entry.cell] = entry
    entry.cell.registry_name = entry.name  # lets a layer built from the class report its name
    return entry


def unregister(name: str) -> Entry:
    """Remove the entry called `name` (tests register toy cells for a while); returns it."""
    entry = get(name)
    del _ENTRIES[name], _BY_CELL[entry.cell]
    if entry.cell.__dict__.get("registry_name") == name:
        del entry.cell.registry_name
    return entry


def entry_of(cell_class: type) -> Entry | None:
    """The entry registered for exactly this cell class (not a subclass, which may change the
    equations), or None."""
    return _BY_CELL.get(cell_class)


def get(name: str) -> Entry:
    """The entry called `name`; a ValueError listing the known names otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"cell must be a registry name (str) or a Cell class, got {type(name).__name__}")
    if name not in _ENTRIES:
        raise ValueError(f"cell: unknown architecture {name!r}; known: {', '.join(sorted(_ENTRIES))}")
    return _ENTRIES[name]


def entries() -> list[Entry]:
    return list(_ENTRIES.values())


def available() -> dict[str, str]:
    """Registered architecture names, each with a one-line description."""
    return {e.name: e.description for e in _ENTRIES.values()}
