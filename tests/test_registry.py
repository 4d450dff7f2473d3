"""The registry is the one list: a cell defined here, registered, runs the whole conformance suite and its
declared engine; the lists the tests, the docs and the CLI show are the registry's."""

import inspect

import pytest
import test_conformance
import torch
import torch.nn.functional as F
from conftest import ENGINE_OPTIONS, engine_cases
from torch import nn

import rnnzoo
from rnnzoo import registry
from rnnzoo.cells.base import Cell, dropped, init_blocks_
from rnnzoo.engine.interface import Engine


class LeakyCell(Cell):
    r"""A toy cell, as a new architecture would be written: leaky tanh units.

        h' = (1 - a) ⊙ h + a ⊙ tanh(W_ih x + W_hh h + b),  a = σ(alpha) per unit
    """

    def __init__(self, input_size: int, hidden_size: int, *, leak: float = 0.0):
        super().__init__(input_size, hidden_size)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.zeros(hidden_size))
        self.alpha = nn.Parameter(torch.full((hidden_size,), float(leak)))
        init_blocks_(self.weight_ih, 1, recurrent=False)
        init_blocks_(self.weight_hh, 1, recurrent=True)

    def project(self, x):
        return F.linear(x, self.weight_ih, self.bias)

    def step(self, xp, state, rec_mask=None):
        h = state[0]
        n = torch.tanh(xp + dropped(state, rec_mask) @ self.weight_hh.T)
        h = h + torch.sigmoid(self.alpha) * (n - h)
        return h, (h,)


class Leaky(rnnzoo.NamedRecurrent):
    _cell = "leaky"


def leaky_run(cell, xs, state, valid, rec_mask):
    """A toy sequence engine: the whole sequence in one call (autograd does the backward)."""
    h, ys = state[0], []
    for t in range(xs.shape[0]):
        new = cell.step(xs[t], (h,), rec_mask)[0]
        if valid is not None:
            new = torch.where(valid[t, :, None], new, h)
            ys.append(torch.where(valid[t, :, None], new, 0))
        else:
            ys.append(new)
        h = new
    return torch.stack(ys), (h,)


LEAKY_ENGINE = Engine("tests.test_registry.leaky", lambda cell, x: cell.project(x), leaky_run)
LEAKY = registry.Entry("leaky", LeakyCell, "Leaky tanh units (a toy cell defined in a test)",
                       "h' = (1 - a) h + a tanh(W x + U h + b)", "none: a test", layer=Leaky,
                       variants={"default": {}, "slow": {"leak": -2.0}}, torch_counterpart="rnn",
                       engine=LEAKY_ENGINE)


@pytest.fixture
def leaky():
    """The toy entry registered for one test, then removed, so the rest of the suite never sees it."""
    registry.register(LEAKY)
    try:
        yield LEAKY
    finally:
        registry.unregister("leaky")


CONFORMANCE = [name for name, f in inspect.getmembers(test_conformance, inspect.isfunction)
               if name.startswith("test_") and list(inspect.signature(f).parameters) == ["entry", "label", "options"]]


def test_the_conformance_suite_has_its_per_entry_checks():
    assert len(CONFORMANCE) >= 10, CONFORMANCE


@pytest.mark.parametrize("variant", ["default", "slow"])
@pytest.mark.parametrize("check", CONFORMANCE)
def test_a_cell_defined_in_a_test_passes_the_conformance_suite(leaky, check, variant):
    getattr(test_conformance, check)(leaky, variant, leaky.variants[variant])


def test_a_registered_cell_runs_on_the_engine_its_entry_declares(leaky, monkeypatch):
    calls = []
    monkeypatch.setattr(LEAKY_ENGINE, "run", lambda *a: calls.append(1) or leaky_run(*a))
    layer = rnnzoo.Recurrent("leaky", 3, 4, bidirectional=True)
    assert layer.path(backward=True) == "engine" and layer.plan().engine is LEAKY_ENGINE
    x, lengths = torch.randn(5, 2, 3), torch.tensor([5, 3])
    y, h = layer(x, lengths=lengths)
    assert len(calls) == 2  # one per direction
    layer.engine = "loop"
    assert layer.path() == "loop"
    y_loop, h_loop = layer(x, lengths=lengths)
    torch.testing.assert_close(y, y_loop)
    torch.testing.assert_close(h, h_loop)
    assert [c[0] for c in engine_cases()].count("leaky") == 2  # its variants join the engine tests


def test_a_subclass_of_a_registered_cell_gets_no_engine(leaky):
    class Doubled(LeakyCell):  # may change the equations: the entry's engine is for LeakyCell alone
        pass
    assert rnnzoo.Recurrent(Doubled, 3, 4).path(backward=True) == "loop"


def test_registering_a_name_or_a_cell_twice_is_refused(leaky):
    with pytest.raises(ValueError, match="already registered"):
        registry.register(LEAKY)
    with pytest.raises(ValueError, match="LeakyCell is already registered as 'leaky'"):
        registry.register(registry.Entry("leaky2", LeakyCell, "d", "e", "p"))


def test_engine_options_name_registered_cells_with_engines():
    """tests/conftest.py's ENGINE_OPTIONS adds option sets to entries; each must exist and have an engine."""
    for name in ENGINE_OPTIONS:
        assert registry.get(name).engine is not None, name


def test_engine_cases_cover_every_engine_and_every_variant():
    cases = engine_cases()
    for entry in registry.entries():
        ran = [options for name, _, options in cases if name == entry.name]
        if entry.engine is None:
            assert not ran, entry.name
        else:
            assert all(options in ran for options in entry.variants.values()), entry.name
    native = {name for name, _, _ in engine_cases(native=True)}
    assert native == {e.name for e in registry.entries() if e.engine is not None and e.engine.native}


def test_an_engine_declares_the_compiled_kernels_it_calls():
    for entry in registry.entries():
        if entry.engine is not None and entry.engine.native:
            forward, backward = entry.engine.native_kernels(entry.cell(3, 4))
            assert forward.endswith("_forward") and (backward is None or backward.endswith("_backward"))
