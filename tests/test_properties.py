"""Property tests over the whole registry (hypothesis): any architecture and variant, small random sizes,
layer options, dtypes, lengths and states, with at most one thing wrong in the call. The property:

    a call with nothing wrong returns finite output (and state) of the right shape, zero at padded
    steps, that does not change when the padded values do, and whose first sequence (output and final
    state) is what running it alone gives; a PackedSequence gives the same numbers;
    a call with one thing wrong raises ValueError or TypeError whose message names that argument
    (x, lengths, state, dt, dtype, the unknown keyword), never another exception and never a result.

`draw_case(choose, integer)` describes a call with two drawing functions, so that hypothesis here and
plain `random` in benchmarks/fuzz.py (its API target, thousands of calls) draw the same cases;
`run_case(case)` makes and checks it and returns "ok" or the error's type name.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnzoo
from rnnzoo import registry

# What can be wrong, by the argument its message must name (a regular expression).
FAULTS = {
    "x": ["x_nan", "x_inf", "x_int", "x_bool", "x_rank", "x_features", "x_empty_steps", "x_empty_batch",
          "x_empty_frame", "x_list", "x_numpy"],
    "dtype": ["x_half"],
    "lengths": ["lengths_zero", "lengths_too_long", "lengths_count", "lengths_float", "lengths_2d",
                "lengths_str"],
    "state": ["state_count", "state_batch", "state_size", "state_rank", "state_scalar", "state_int",
              "state_nan", "state_str"],
    "dt": ["dt_negative", "dt_nan", "dt_layout", "dt_rank", "dt_int"],
    "keyword": ["unknown_keyword"],
}
NAMED = {fault: name for name, faults in FAULTS.items() for fault in faults}
NAME_PATTERN = {"x": r"\bx\b", "dtype": r"\bdtype\b", "lengths": r"\blengths\b", "state": r"\bstate\b",
                "dt": r"\bdt\b", "keyword": r"\bkeyword\b"}


def draw_case(choose, integer) -> dict:
    """A call described as plain data: `choose(sequence)` picks one element, `integer(lo, hi)` one int."""
    entry = choose(registry.entries())
    label = choose(list(entry.variants))
    unbatched = integer(0, 4) == 0
    lengths = "none" if unbatched and integer(0, 1) else choose(["none", "tensor", "list", "packed"])
    steps = bool(entry.cell.step_inputs) and integer(0, 1) == 1
    if steps and lengths == "packed":  # per-step inputs need a padded tensor x
        lengths = "tensor"
    if unbatched and lengths == "packed":
        lengths = "list"
    fault = "none"
    if integer(0, 2):  # an argument, then one of its faults
        faults = [[f for f in group if _applies(f, entry, unbatched, steps)] for group in FAULTS.values()]
        fault = choose(choose([group for group in faults if group]))
    return {
        "name": entry.name, "variant": label, "input_size": integer(1, 3), "hidden_size": integer(3, 5),
        "layer": {"num_layers": integer(1, 2), "bidirectional": integer(0, 1) == 1,
                  "merge": choose(["concat", "sum", "mul", "ave"]), "batch_first": integer(0, 1) == 1,
                  "fused": choose(["auto", False]), "engine": choose(["auto", "loop"])},
        "dtype": choose(["float32", "float64"]), "L": integer(1, 5), "N": integer(1, 3), "unbatched": unbatched,
        "lengths": lengths, "state": integer(0, 1) == 1, "steps": steps, "scale": choose([0.1, 1.0, 10.0]),
        "fault": fault, "seed": integer(0, 2 ** 16),
    }


def _applies(fault: str, entry, unbatched: bool, steps: bool) -> bool:
    if fault.startswith("dt_"):
        return steps
    if fault in ("x_empty_batch", "lengths_2d", "state_batch"):  # unbatched x has no batch dimension
        return not unbatched
    if fault == "x_empty_frame":
        return bool(entry.spatial)
    return True


def _layout(t, batch_first, unbatched):
    """Time-major (L, N, ...) -> the layer's layout."""
    if unbatched:
        return t[:, 0]
    return t.transpose(0, 1) if batch_first else t


def make_call(case: dict):
    """(layer, args, kwargs, valid lengths or None) of a case, its one fault (if any) applied."""
    entry = registry.get(case["name"])
    g = torch.Generator().manual_seed(case["seed"])
    torch.manual_seed(case["seed"])  # the layer's initial weights
    dtype = getattr(torch, case["dtype"])
    layer = rnnzoo.Recurrent(entry.name, case["input_size"], case["hidden_size"], **entry.variants[case["variant"]],
                             **case["layer"]).to(dtype).eval()
    L, N, fault, bf, unbatched = case["L"], case["N"], case["fault"], case["layer"]["batch_first"], case["unbatched"]
    if unbatched:
        N = 1
    x = torch.randn(L, N, case["input_size"], *entry.spatial, generator=g, dtype=dtype) * case["scale"]
    lengths = None
    if case["lengths"] != "none":
        lengths = torch.randint(1, L + 1, (N,), generator=g)
    kwargs = {}
    if case["steps"]:
        kwargs["dt"] = torch.rand(L, N, generator=g, dtype=dtype) + 0.05
    if case["state"]:
        D = 2 if case["layer"]["bidirectional"] else 1
        shapes = layer.cells[0].state_shapes(x)
        kwargs["state"] = tuple(torch.randn(case["layer"]["num_layers"] * D, N, *s, generator=g, dtype=dtype) * 0.5
                                for s in shapes)

    # the fault, on time-major tensors where it is one
    if fault == "x_nan":
        x[-1, 0].view(-1)[0] = float("nan")
    elif fault == "x_inf":
        x[0, -1].view(-1)[-1] = float("-inf")
    elif fault == "x_int":
        x = x.round().long()
    elif fault == "x_bool":
        x = x > 0
    elif fault == "x_half":
        x = x.half()
    elif fault == "x_rank":
        x = x[..., None]
    elif fault == "x_features":
        x = torch.cat([x, x[:, :, :1]], dim=2)
    elif fault == "x_empty_steps":
        x = x[:0]
    elif fault == "x_empty_batch":
        x = x[:, :0]
    elif fault == "x_empty_frame":
        x = x[..., :0]
    elif fault.startswith("lengths_") and lengths is None:
        lengths = torch.randint(1, L + 1, (N,), generator=g)
    valid_lengths = lengths if fault == "none" else None
    if fault == "lengths_zero":
        lengths[0] = 0
    elif fault == "lengths_too_long":
        lengths[-1] = L + 1
    elif fault == "lengths_count":
        lengths = torch.cat([lengths, lengths[:1]])
    elif fault == "lengths_float":
        lengths = lengths.double()
    elif fault == "lengths_2d":
        lengths = lengths[None]
    elif fault == "lengths_str":
        lengths = "".join(map(str, lengths.tolist()))
    if fault.startswith("state_") and "state" not in kwargs:
        D = 2 if case["layer"]["bidirectional"] else 1
        kwargs["state"] = tuple(torch.zeros(case["layer"]["num_layers"] * D, N, *s, dtype=dtype)
                                for s in layer.cells[0].state_shapes(x))
    state = kwargs.get("state")
    if fault == "state_count":
        state = state + state[:1] if len(state) == 1 else state[:-1]
    elif fault == "state_batch":
        state = (torch.cat([state[0], state[0][:, :1]], dim=1), *state[1:])
    elif fault == "state_size":
        state = (state[0][:, :, :-1], *state[1:])
    elif fault == "state_rank":
        state = (state[0][0], *state[1:])
    elif fault == "state_scalar":
        state = (state[0].sum(), *state[1:])
    elif fault == "state_int":
        state = (state[0].long(), *state[1:])
    elif fault == "state_nan":
        state[0].view(-1)[-1] = float("nan")
    elif fault == "state_str":
        state = "zeros"
    dt = kwargs.get("dt")
    if fault == "dt_negative":
        dt[0, 0] = -0.5  # a real step (a padded step's dt is ignored)
    elif fault == "dt_nan":
        dt[0, 0] = float("nan")
    elif fault == "dt_layout":
        dt = dt[:-1] if L > 1 else torch.cat([dt, dt])
    elif fault == "dt_rank":
        dt = dt[:, 0] if not unbatched else dt.sum()
    elif fault == "dt_int":
        dt = (dt * 10).long()
    elif fault == "unknown_keyword":
        kwargs["hx"] = None

    # to the layer's layout (the state is always (num_layers * D, N, ...); unbatched drops N)
    if isinstance(x, torch.Tensor) and x.dim() >= 2 and not fault == "x_rank":
        x = _layout(x, bf, unbatched)
    if isinstance(state, tuple) and unbatched:
        state = tuple(s.select(1, 0) if s.dim() > 1 else s for s in state)
    if dt is not None and dt.dim() == 2:
        dt = _layout(dt, bf, unbatched)
    if fault == "x_list":
        x = x.tolist()
    elif fault == "x_numpy":
        x = x.numpy()
    if case["lengths"] == "list" and isinstance(lengths, torch.Tensor):
        lengths = lengths.tolist()
    kwargs = {k: v for k, v in {**kwargs, "state": state, "dt": dt}.items() if v is not None or k == "hx"}
    if lengths is not None:
        kwargs["lengths"] = lengths
    return layer, x, kwargs, valid_lengths


def run_case(case: dict) -> str:
    """Make and check one call; returns "ok" or the name of the (expected) error, or raises AssertionError."""
    try:
        layer, x, kwargs, lengths = make_call(case)
    except (ValueError, TypeError) as e:  # only the variant's own limits, none of the sizes drawn here
        raise AssertionError(f"a valid layer was refused: {e}") from e
    packed = case["lengths"] == "packed" and case["fault"] == "none"
    if packed:
        x = pack_padded_sequence(x, kwargs.pop("lengths").cpu(), batch_first=layer.batch_first, enforce_sorted=False)
    try:
        with torch.no_grad():
            y, state = layer(x, **kwargs)
    except (ValueError, TypeError) as e:
        if case["fault"] == "none":
            raise AssertionError(f"a valid call was refused: {type(e).__name__}: {e}") from e
        name = NAMED[case["fault"]]
        assert re.search(NAME_PATTERN[name], str(e)), f"{case['fault']}: the message does not name {name}: {e}"
        assert "\n" not in str(e), f"a message of several lines: {e!r}"
        return type(e).__name__
    assert case["fault"] == "none", f"{case['fault']} was not refused"
    states = state if isinstance(state, tuple) else (state,)
    if packed:
        y = pad_packed_sequence(y, batch_first=layer.batch_first, total_length=case["L"])[0]
        x = pad_packed_sequence(x, batch_first=layer.batch_first, total_length=case["L"])[0]
        kwargs["lengths"] = lengths
    assert torch.isfinite(y).all() and all(torch.isfinite(s).all() for s in states), "NaN or inf from finite input"
    _check_shapes(layer, case, y, states)
    _check_masking(layer, case, x, kwargs, lengths, y, states)
    return "ok"


def _time_major(t, layer, unbatched):
    return t[:, None] if unbatched else (t.transpose(0, 1) if layer.batch_first else t)


def _check_shapes(layer, case, y, states):
    L, N = case["L"], 1 if case["unbatched"] else case["N"]
    y = _time_major(y, layer, case["unbatched"])
    assert y.shape[:3] == (L, N, layer.output_size), (y.shape, layer.output_size)
    for s in states:
        assert s.shape[0] == len(layer.cells) and (case["unbatched"] or s.shape[1] == N), s.shape


def _check_masking(layer, case, x, kwargs, lengths, y, states):
    """Zeros at padded steps; other padded values change nothing; sequence 0 alone gives the same."""
    if lengths is None:
        return
    tol = {"rtol": 1e-4, "atol": 1e-5} if case["dtype"] == "float32" else {"rtol": 1e-9, "atol": 1e-10}
    unbatched, L = case["unbatched"], case["L"]
    lengths = torch.as_tensor(lengths)
    padded = torch.arange(L)[:, None] >= lengths[None, :]  # (L, N)
    y_tm = _time_major(y, layer, unbatched)
    assert torch.all(y_tm[padded] == 0), "padded steps must output zeros"
    x_tm = _time_major(x, layer, unbatched).clone()
    g = torch.Generator().manual_seed(case["seed"] + 1)
    x_tm[padded] = torch.randn(x_tm[padded].shape, generator=g, dtype=x_tm.dtype) * 100
    again = dict(kwargs)
    if "dt" in again:
        dt = _time_major(again["dt"], layer, unbatched).clone()
        dt[padded] = torch.rand(dt[padded].shape, generator=g, dtype=dt.dtype) + 1.0
        again["dt"] = _layout(dt, layer.batch_first, unbatched)
    with torch.no_grad():
        y2, state2 = layer(_layout(x_tm, layer.batch_first, unbatched), **again)
    torch.testing.assert_close(y2, y, **tol, msg="padded values leaked into the output")
    for a, b in zip(state2 if isinstance(state2, tuple) else (state2,), states):
        torch.testing.assert_close(a, b, **tol, msg="padded values leaked into the final state")
    if unbatched:
        return
    n0 = int(lengths[0])  # sequence 0 alone, unpadded
    alone = {"state": tuple(s[:, :1] for s in kwargs["state"])} if "state" in kwargs else {}
    if "dt" in kwargs:
        alone["dt"] = _layout(_time_major(kwargs["dt"], layer, False)[:n0, :1], layer.batch_first, False)
    with torch.no_grad():
        y1, state1 = layer(_layout(x_tm[:n0, :1], layer.batch_first, False), **alone)
    torch.testing.assert_close(_time_major(y1, layer, False), y_tm[:n0, :1], **tol,
                               msg="sequence 0 differs from running it alone")
    for a, b in zip(state1 if isinstance(state1, tuple) else (state1,), states):
        torch.testing.assert_close(a, b[:, :1], **tol, msg="sequence 0's final state differs from running it alone")


@st.composite
def cases(draw):
    return draw_case(lambda seq: draw(st.sampled_from(list(seq))), lambda lo, hi: draw(st.integers(lo, hi)))


@settings(max_examples=300, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_every_call_returns_consistent_output_or_a_named_error(case):
    run_case(case)


@pytest.mark.parametrize("fault", sorted(NAMED))
def test_each_fault_is_refused_naming_its_argument_for_every_entry(fault):
    for entry in registry.entries():
        steps = bool(entry.cell.step_inputs)
        for unbatched, batch_first in [(False, False), (False, True), (True, False), (True, True)]:
            if not _applies(fault, entry, unbatched, steps):
                continue
            case = {"name": entry.name, "variant": "default", "input_size": 2, "hidden_size": 4,
                    "layer": {"num_layers": 2, "bidirectional": True, "merge": "concat", "batch_first": batch_first,
                              "fused": "auto", "engine": "auto"},
                    "dtype": "float32", "L": 4, "N": 3, "unbatched": unbatched, "lengths": "tensor", "state": True,
                    "steps": steps, "scale": 1.0, "fault": fault, "seed": 0}
            assert run_case(case) in ("ValueError", "TypeError")


def test_the_cases_cover_every_entry_and_fault():
    import random
    rng = random.Random(0)
    # enough draws that every (entry, fault) shows up: each registered entry thins the faults' share
    seen = [draw_case(rng.choice, rng.randint) for _ in range(200 * (len(registry.entries()) + len(NAMED)))]
    assert {c["name"] for c in seen} == {e.name for e in registry.entries()}
    assert {c["fault"] for c in seen} == {"none", *NAMED}
    assert np.mean([c["fault"] == "none" for c in seen]) > 0.25
