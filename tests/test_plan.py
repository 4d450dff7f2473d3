"""rnnzoo.plan: the one decision of how a call runs. What `path()` reports is what `forward` runs, for
every registered option set, in training and inference, padded or not; insisting settings raise with the
plan's reason."""

import pytest
import torch
from conftest import CASE_IDS, CASES, sample_input

import rnnzoo
from rnnzoo import fused, plan


@pytest.fixture
def taken(monkeypatch):
    """Records which path each forward call really ran: torch's kernel, an engine, or the step loop."""
    seen = []
    real_fused, real_run_cell = fused.run, rnnzoo.Recurrent._run_cell

    def spy_fused(*args, **kwargs):
        seen.append("fused")
        return real_fused(*args, **kwargs)

    def spy_run_cell(self, cell, x, state, lengths, step_inputs, run):
        seen.append("loop" if run is None else "engine")
        return real_run_cell(self, cell, x, state, lengths, step_inputs, run)

    monkeypatch.setattr(fused, "run", spy_fused)
    monkeypatch.setattr(rnnzoo.Recurrent, "_run_cell", spy_run_cell)
    return seen


@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("training", [False, True], ids=["inference", "training"])
@pytest.mark.parametrize("entry,label,options", CASES, ids=CASE_IDS)
def test_forward_runs_the_path_that_path_reports(entry, label, options, training, padded, taken):
    layer = rnnzoo.Recurrent(entry.name, 3, 4, **options).train(training)
    x = sample_input(entry, 5, 2, 3)
    lengths = torch.tensor([5, 3]) if padded else None
    with torch.set_grad_enabled(training):
        reported = layer.path(backward=training, padded=padded)
        layer(x, lengths=lengths)
    ran = set(taken)
    assert len(ran) == 1, taken
    # "native" and "engine" both run the engine's Function (the compiled loops are chosen inside it)
    assert ran == {"engine" if reported == "native" else reported}, (reported, taken)


def test_each_path_says_why():
    lstm = rnnzoo.LSTM(3, 4)
    assert lstm.plan(backward=False) == ("fused", None, "torch's fused kernel computes this cell")
    trained = lstm.plan(backward=True, padded=True)
    assert trained.path in ("native", "engine") and "quadratic" in trained.reason
    assert trained.engine is rnnzoo.registry.get("lstm").engine
    peephole = rnnzoo.LSTM(3, 4, peephole=True).plan()
    assert peephole.path in ("native", "engine") and "peephole" in peephole.reason
    loop = rnnzoo.Recurrent("cascaded", 3, 4).plan()
    assert loop.path == "loop" and loop.engine is None and "no sequence engine for CascadedCell" in loop.reason
    forced = rnnzoo.LSTM(3, 4, peephole=True, engine="loop").plan()
    assert forced.path == "loop" and "engine='loop'" in forced.reason
    half = rnnzoo.LSTM(3, 4).plan(torch.float16)
    assert half.path == "loop" and "float16" in half.reason


def test_insisting_on_a_path_a_call_cannot_take_raises_the_plans_reason():
    with pytest.raises(ValueError, match=r"fused=True, but this call cannot use torch's fused kernel: .*float16"):
        plan.plan(rnnzoo.LSTM(3, 4, fused=True), torch.float16)
    with pytest.raises(ValueError, match=r"engine='fast', but this call cannot use the sequence engine: "
                                         r"per-step inputs \['w'\]"):
        plan.plan(rnnzoo.LSTM(3, 4, peephole=True, engine="fast"), step_inputs=("w",))


def test_every_plan_path_is_one_of_four():
    for entry, _, options in CASES:
        for backward in (False, True):
            assert rnnzoo.Recurrent(entry.name, 3, 4, **options).path(backward=backward) in plan.PATHS


# --- the notice `rnnzoo train` prints when the compiled kernels would help ----------------------------

@pytest.fixture
def unbuilt(monkeypatch):
    """The compiled kernels as on a machine that never ran `rnnzoo native build`."""
    from rnnzoo.engine import native
    monkeypatch.setattr(native, "load", lambda build=False: None)
    monkeypatch.delenv("RNNZOO_NATIVE", raising=False)


@pytest.mark.parametrize("entry", [e for e in rnnzoo.registry.entries() if e.engine is not None and e.engine.native],
                         ids=lambda e: e.name)
def test_every_engine_with_compiled_kernels_declares_its_measured_gain(entry):
    gains = entry.engine.native_gain
    assert gains and all(size >= 1 and gain > 0 for size, gain in gains)


def test_the_native_hint_names_the_command_and_the_gain_nearest_the_models_size(unbuilt):
    engine = rnnzoo.registry.get("jordan").engine
    small = min(engine.native_gain)  # (size, gain) of the smallest measured size
    hint = plan.native_hint(rnnzoo.Recurrent("jordan", 3, small[0]))
    if small[1] < 1.2:
        assert hint is None
    else:
        assert "`rnnzoo native build`" in hint and f"about {small[1]:.1f}x faster" in hint
        assert f"hidden size {small[0]}" in hint


def test_no_native_hint_where_the_kernels_are_built_turned_off_or_would_not_run(unbuilt, monkeypatch):
    assert plan.native_hint(rnnzoo.Recurrent("gru", 3, 16)) is None  # no compiled kernels for the GRU
    assert plan.native_hint(rnnzoo.Recurrent("lstm", 3, 16)) is None  # trains on torch's kernel
    assert plan.native_hint(rnnzoo.Recurrent("jordan", 3, 16, engine="loop")) is None
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    assert plan.native_hint(rnnzoo.Recurrent("jordan", 3, 16)) is None
    monkeypatch.delenv("RNNZOO_NATIVE")
    from rnnzoo.engine import native
    monkeypatch.setattr(native, "load", lambda build=False: object())  # built
    assert plan.native_hint(rnnzoo.Recurrent("jordan", 3, 16)) is None
