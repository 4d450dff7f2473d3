"""The compiled kernels (rnnzoo.engine.native): the Python engine's checks (tests/test_engine.py) run
on the C++ loops — float64 gradcheck of the LSTM engine's Function with every option, parity with the
Python engine and the per-step loop (oneDNN products included) — plus the eligibility rules, the
silent fallback when nothing is built, the errors of engine='native' and the `rnnzoo native` command."""

import collections
import os
import subprocess
import sys

import pytest
import torch
from conftest import (
    as_tuple,
    engine_cases,
    gradcheck_engine_function,
    gradcheck_padded_layer,
    randomise,
    rec_dropout,
)

import rnnzoo
from rnnzoo.cli import main
from rnnzoo.engine import linalg, lstm_backward, native


def _with_kernels(name, label, options):
    """The case with the compiled functions its loops call, as its engine declares them (Engine.native_kernels):
    (forward kernel, backward kernel or None when the backward loop runs in Python)."""
    from rnnzoo import registry
    cell = rnnzoo.Recurrent(name, 3, 3, **options).cells[0]
    return (name, label, options, *registry.get(name).engine.native_kernels(cell))


# every registered entry whose engine runs on the compiled kernels, with the option sets of tests/test_engine.py
CASES = [_with_kernels(*case) for case in engine_cases(native=True)]
IDS = [f"{c[0]}:{c[1]}" for c in CASES]


@pytest.fixture
def calls(native_kernels, monkeypatch):
    """Counts the calls into the compiled module, which the engines use as in any process where it is built."""
    counts = collections.Counter()

    class Spy:
        def __getattr__(self, name):
            def call(*args, **kwargs):
                counts[name] += 1
                return getattr(native_kernels, name)(*args, **kwargs)
            return call

    monkeypatch.delenv("RNNZOO_NATIVE", raising=False)
    monkeypatch.setattr(native, "_module", Spy())
    return counts


@pytest.fixture
def unbuilt(monkeypatch, tmp_path):
    """A process that finds no build: an empty cache and no module loaded."""
    monkeypatch.delenv("RNNZOO_NATIVE", raising=False)
    monkeypatch.setenv("RNNZOO_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(native, "_module", None)
    monkeypatch.setattr(native, "_looked", False)


# --- gradcheck (float64) ---------------------------------------------------------------------

@pytest.mark.parametrize("padded", [False, True], ids=["full", "padded"])
@pytest.mark.parametrize("dropout", [False, True], ids=["no_mask", "rec_mask"])
@pytest.mark.parametrize("name,label,options,kernel,compiled_backward", CASES, ids=IDS)
def test_gradcheck_float64_of_the_sequence_function_on_compiled_kernels(name, label, options, kernel,
                                                                        compiled_backward, padded, dropout, calls,
                                                                        monkeypatch):
    monkeypatch.setattr(lstm_backward, "CHUNK_NUMBERS", 1)  # layer_norm: W_hh h recomputed one step at a time
    cell = randomise(rnnzoo.Recurrent(name, 3, 3, **options).cells[0].double())
    assert gradcheck_engine_function(cell, padded, dropout)
    assert calls[kernel] > 0
    backwards = ("lstm_backward", "jordan_backward", "ctrnn_rk4_backward", "scan_backward")
    assert [k for k in backwards if calls[k]] == ([compiled_backward] if compiled_backward else [])


@pytest.mark.parametrize("name,label,options,kernel,compiled_backward", CASES, ids=IDS)
def test_gradcheck_through_recurrent_bidirectional_padded_with_recurrent_dropout(name, label, options, kernel,
                                                                                 compiled_backward, calls):
    layer = randomise(rnnzoo.Recurrent(name, 3, 3, num_layers=2, bidirectional=True,
                                       recurrent_dropout=rec_dropout(name, 0.3), engine="native", **options).double())
    assert gradcheck_padded_layer(layer)
    assert calls[kernel] >= 4


# --- parity (float32) with the Python engine and the per-step loop ----------------------------

def _outputs_and_grads(layer, x, lengths, seed=3):
    torch.manual_seed(seed)
    y, state = layer(x, lengths=lengths)
    weights = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed))
    loss = (y * weights).sum() + sum((s * s).sum() for s in as_tuple(state))
    return (y, *as_tuple(state)), torch.autograd.grad(loss, [x, *layer.parameters()])


@pytest.mark.parametrize("size", ["small", "onednn"])
@pytest.mark.parametrize("training", [False, True], ids=["eval", "train+recurrent_dropout"])
@pytest.mark.parametrize("name,label,options,kernel,compiled_backward", CASES, ids=IDS)
def test_compiled_kernels_match_the_python_engine_and_the_step_loop(name, label, options, kernel, compiled_backward,
                                                                    training, size, calls, monkeypatch):
    # "onednn": N * H * 4H >= linalg.STEP_MACS, so the kernels multiply on oneDNN's packed weights, and the
    # weight gradients go to oneDNN too (GRAM_SIZE 0: the LSTM backward writes dG in gram_layout's layout)
    N, H, P = (4, 16, 6) if size == "small" else (32, 128, 64)
    if size == "onednn":
        if not linalg.available():
            pytest.skip("oneDNN products are not available in this torch build")
        monkeypatch.setattr(linalg, "GRAM_SIZE", 0)
    if options.get("proj_size"):
        options = {**options, "proj_size": P}
    if name != "lstm" and size == "onednn":
        H *= 2  # W_hh h: N * H * H >= linalg.STEP_MACS as the LSTM's N * H * 4 H
    layer = randomise(rnnzoo.Recurrent(name, 5, H, bidirectional=True, recurrent_dropout=rec_dropout(name, 0.25),
                                       fused=False, **options).train(training), scale=0.3 if size == "small" else 0.05)
    x = torch.randn(12, N, 5, requires_grad=True)
    lengths = torch.randint(1, 13, (N,))
    lengths[0] = 12
    out, grads = _outputs_and_grads(layer, x, lengths)
    per_direction = len(layer.cells[0].weight_hh) if name == "rmlp" else 1  # rmlp: a call per layer
    assert calls[kernel] == 2 * per_direction
    for reference in ("python", "loop"):
        with monkeypatch.context() as m:
            if reference == "python":
                m.setenv("RNNZOO_NATIVE", "0")
            else:
                layer.engine = "loop"
            ref, ref_grads = _outputs_and_grads(layer, x, lengths)
            layer.engine = "auto"
        for a, b in zip(out, ref):
            torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
        for a, b in zip(grads, ref_grads):  # sums over all steps: float32 rounding grows with L * N
            torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)
    assert calls[kernel] == 2 * per_direction, "the references ran on the compiled kernels"


@pytest.mark.parametrize("name,label,options,kernel,compiled_backward", CASES, ids=IDS)
def test_batch_one_matches_the_python_engine_in_inference_and_training(name, label, options, kernel,
                                                                       compiled_backward, calls, monkeypatch):
    """Batch 1 over many steps takes the kernels' few-rows products (axpys over W^T, no BLAS call)."""
    layer = randomise(rnnzoo.Recurrent(name, 5, 32, fused=False, **options), scale=0.2)
    x = torch.randn(50, 1, 5, requires_grad=True)
    with torch.inference_mode():
        y_inf = layer.eval()(x)[0]
    out, grads = _outputs_and_grads(layer.train(), x, None)
    assert calls[kernel] >= 2
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    with torch.inference_mode():
        torch.testing.assert_close(y_inf, layer.eval()(x)[0], atol=1e-5, rtol=0)
    ref, ref_grads = _outputs_and_grads(layer.train(), x, None)
    for a, b in zip(out, ref):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=0)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_saturated_gates_stay_finite_and_agree(calls, monkeypatch):
    """Pre-activations in the hundreds: the kernels' exp clamps where float32's would overflow."""
    layer = randomise(rnnzoo.LSTM(4, 8, peephole=True), scale=40.0)
    x = torch.randn(20, 3, 4) * 10
    y, (h, c) = layer(x)
    assert torch.isfinite(y).all() and calls["lstm_forward"] == 1
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    y_ref, (h_ref, c_ref) = layer(x)
    torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=0)
    torch.testing.assert_close(c, c_ref, atol=1e-4, rtol=1e-5)  # c grows by about 1 a step


# --- which path, fallback, errors ------------------------------------------------------------

def test_path_reports_the_compiled_kernels_and_proj_size_leaves_torchs_kernel(calls):
    assert rnnzoo.LSTM(3, 4, peephole=True).path(backward=True) == "native"
    plain = rnnzoo.LSTM(3, 4)
    assert plain.path(backward=False) == "fused" and plain.path(backward=True) == "fused"
    assert plain.path(torch.float16) != "native"
    proj = rnnzoo.LSTM(3, 8, proj_size=2)  # torch runs LSTM with projections outside oneDNN: slower
    assert proj.path(backward=False) == "native" and proj.path(backward=True) == "native"
    with torch.inference_mode():
        proj(torch.randn(5, 2, 3))
    assert calls["lstm_forward"] == 1
    assert rnnzoo.LSTM(3, 8, proj_size=2, fused=True).path(backward=False) == "fused"


def test_auto_falls_back_to_the_python_engine_when_nothing_is_built(native_kernels, unbuilt, capsys):
    layer = randomise(rnnzoo.LSTM(3, 4, peephole=True))
    assert native.kernels(torch.zeros(1)) is None
    assert layer.path(backward=True) == "engine"
    assert "not built" in layer.native_ineligible_reason()
    x = torch.randn(6, 2, 3)
    y = layer(x)[0]
    native._module = native_kernels
    torch.testing.assert_close(layer(x)[0], y, atol=1e-5, rtol=0)
    native._module = None
    assert main(["native", "status"]) == 0
    assert "in use: no" in capsys.readouterr().out


def test_engine_native_errors_name_what_is_missing(native_kernels, unbuilt, monkeypatch):
    with pytest.raises(ValueError, match="no compiled kernels for GRUCell"):
        rnnzoo.Recurrent("gru", 3, 4, engine="native")
    with pytest.raises(ValueError, match="pick one"):
        rnnzoo.LSTM(3, 4, fused=True, engine="native")
    assert native._module is None  # nothing above tried to build
    monkeypatch.setenv("CXX", "no-such-compiler")
    with pytest.raises(ValueError, match="needs no-such-compiler"):
        rnnzoo.LSTM(3, 4, engine="native")
    monkeypatch.delenv("CXX")
    native._module = native_kernels
    layer = rnnzoo.LSTM(3, 4, engine="native")
    with pytest.raises(ValueError, match="float32 or float64"):
        rnnzoo.LSTM(3, 4, engine="native").half()(torch.randn(5, 2, 3, dtype=torch.float16))
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    with pytest.raises(ValueError, match="RNNZOO_NATIVE=0"):
        rnnzoo.LSTM(3, 4, engine="native")
    with pytest.raises(ValueError, match="RNNZOO_NATIVE=0"):
        layer(torch.randn(5, 2, 3))


def test_a_build_is_cached_for_later_processes(native_kernels):
    code = "import sys; from rnnzoo.engine import native; sys.exit(native.unavailable_reason() is not None)"
    env = {k: v for k, v in os.environ.items() if k != "RNNZOO_NATIVE"}
    assert subprocess.run([sys.executable, "-c", code], env=env, timeout=120, check=False).returncode == 0


def test_cli_native_build_and_status(native_kernels, capsys, monkeypatch):
    monkeypatch.delenv("RNNZOO_NATIVE", raising=False)
    assert main(["native", "build"]) in (0, None)
    assert native_kernels.__file__ in capsys.readouterr().out
    assert main(["native", "status"]) in (0, None)
    assert "in use: yes" in capsys.readouterr().out
