"""Echo state network: spectral radius, ridge readout against NumPy, echo-state property, Mackey-Glass,
feedback, deep reservoirs, batching, determinism, saving, bad input."""

import json
import math

import numpy as np
import pytest
import torch

from rnnzoo.data import mackey_glass
from rnnzoo.reservoir import (
    ESN,
    ESNState,
    reservoir_matrix,
    ridge_cv,
    ridge_fit,
    spectral_radius,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("rho", [0.5, 0.95, 1.3])
@pytest.mark.parametrize("density", [0.05, 1.0])
def test_spectral_radius_as_requested(rho, density):
    W = reservoir_matrix(150, rho, density=density, generator=torch.Generator().manual_seed(0))
    assert abs(spectral_radius(W) - rho) < 1e-6
    assert abs(float(torch.linalg.eigvals(W).abs().max()) - rho) < 1e-6
    if density < 1:
        assert 0.03 < float((W != 0).double().mean()) < 0.07
    esn = ESN(2, 120, spectral_radius=rho, density=density, seed=1, num_layers=2)
    for l in range(2):
        assert abs(spectral_radius(esn.weight_hh[l]) - rho) < 1e-6


def test_ridge_readout_equals_numpy_lstsq_on_the_augmented_system():
    rng = np.random.default_rng(0)
    Z, Y = rng.normal(size=(60, 7)), rng.normal(size=(60, 2))
    for ridge in (0.0, 1e-6, 0.3, 10.0):
        A = np.vstack([Z, math.sqrt(ridge) * np.eye(7)])
        B = np.vstack([Y, np.zeros((7, 2))])
        expected = np.linalg.lstsq(A, B, rcond=None)[0].T
        got = ridge_fit(torch.from_numpy(Z), torch.from_numpy(Y), ridge)
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9, atol=1e-11)
        normal = ridge_fit(torch.from_numpy(Z), torch.from_numpy(Y), ridge, solver="normal")
        np.testing.assert_allclose(normal.numpy(), expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("F", [5, 256, 1001])
def test_gram_by_symmetric_product_equals_torch_full_product(F):
    from rnnzoo.reservoir.readout import gram
    Z = torch.randn(40, F, generator=torch.Generator().manual_seed(F), dtype=torch.float64)
    for z in (Z, Z.T.contiguous().T):  # row-major, and column-major (gram copies it to row-major)
        G = gram(z)
        torch.testing.assert_close(G, Z.T @ Z, rtol=1e-12, atol=1e-12)  # torch's general product (MKL)
        assert torch.equal(G, G.T)


def test_esn_fit_readout_is_ridge_on_its_states():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(80, 3, 2, generator=g, dtype=torch.float64)
    d = torch.randn(80, 3, 1, generator=g, dtype=torch.float64)
    esn = ESN(2, 30, 1, seed=0).fit(u, d, washout=10, ridge=0.01)
    X, _ = esn.run(u)
    Z = torch.cat([torch.ones(80, 3, 1, dtype=torch.float64), u, X], -1)[10:].transpose(0, 1).reshape(-1, 33).numpy()
    Yn = d[10:].transpose(0, 1).reshape(-1, 1).numpy()
    A, B = np.vstack([Z, 0.1 * np.eye(33)]), np.vstack([Yn, np.zeros((33, 1))])
    np.testing.assert_allclose(esn.weight_out.numpy(), np.linalg.lstsq(A, B, rcond=None)[0].T, rtol=1e-8, atol=1e-10)


def reference(esn, u, teacher=None):
    """The ESN equations, step by step, written out: teacher-forced when teacher is given, else the
    ESN's own output fed back (feedback) and readout y(n) = W_out [1; u(n); x_1(n); ...]."""
    f = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid}[esn.activation]
    a, N = esn.leak_rate, esn.reservoir_size
    x = [torch.zeros(N, dtype=torch.float64) for _ in range(esn.num_layers)]
    y_prev, ys, states = torch.zeros(esn.output_size, dtype=torch.float64), [], []
    for n in range(u.shape[0]):
        v = u[n]
        for l in range(esn.num_layers):
            Win = esn.weight_ih if l == 0 else esn.weight_ih_deep[l - 1]
            z = esn.weight_hh[l] @ x[l] + Win @ v + esn.bias[l]
            if l == 0 and esn.feedback:
                z = z + esn.weight_fb @ y_prev
            x[l] = (1 - a) * x[l] + a * f(z)
            v = x[l]
        y = esn.weight_out @ torch.cat([torch.ones(1, dtype=torch.float64), u[n], *x])
        ys.append(y)
        states.append(torch.cat(x))
        y_prev = teacher[n] if teacher is not None else y
    return torch.stack(ys), torch.stack(states)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("sparse", [True, False])
def test_runs_match_the_equations_written_out(activation, sparse):
    g = torch.Generator().manual_seed(7)
    u = torch.rand(40, 2, generator=g, dtype=torch.float64) - 0.5
    d = torch.rand(40, 1, generator=g, dtype=torch.float64) - 0.5
    esn = ESN(2, 12, 1, num_layers=2, leak_rate=0.7, feedback=True, feedback_scaling=0.5, bias_scaling=0.3,
              activation=activation, sparse=sparse, density=0.3, spectral_radius=0.8, seed=0)
    esn.weight_out.copy_(torch.randn(1, esn.features, generator=g, dtype=torch.float64) * 0.1)
    y_ref, X_ref = reference(esn, u, teacher=d)
    X, _ = esn.run(u, teacher=d)
    assert torch.allclose(X, X_ref, atol=1e-12)
    assert torch.allclose(esn.predict(u, teacher=d), y_ref, atol=1e-12)
    y_closed, _ = reference(esn, u)
    assert torch.allclose(esn.predict(u), y_closed, atol=1e-12)  # own output fed back


def _kernels(request, monkeypatch, on: bool):
    """Compiled ESN loops on (built) or off (RNNZOO_NATIVE=0)."""
    if on:
        request.getfixturevalue("native_kernels")
        monkeypatch.delenv("RNNZOO_NATIVE", raising=False)
    else:
        monkeypatch.setenv("RNNZOO_NATIVE", "0")


@pytest.mark.parametrize("on", [True, False], ids=["kernels", "torch"])
@pytest.mark.parametrize("activation,leak,dtype", [("tanh", 1.0, torch.float64), ("tanh", 0.7, torch.float64),
                                                   ("sigmoid", 0.6, torch.float64), ("tanh", 0.7, torch.float32)])
def test_compiled_and_torch_loops_match_the_equations_written_out(request, monkeypatch, on, activation, leak, dtype):
    from rnnzoo.reservoir import _run
    _kernels(request, monkeypatch, on)
    g = torch.Generator().manual_seed(11)
    u = torch.rand(60, 2, generator=g, dtype=torch.float64) - 0.5
    d = torch.rand(60, 2, generator=g, dtype=torch.float64) - 0.5
    esn = ESN(2, 40, 2, leak_rate=leak, feedback=True, feedback_scaling=0.5, bias_scaling=0.3, activation=activation,
              density=0.2, spectral_radius=0.9, seed=3, dtype=dtype)
    assert (_run.native_reason(esn) is None) == on
    esn.weight_out.copy_(torch.randn(2, esn.features, generator=g, dtype=dtype) * 0.2)
    # the reference runs in float64 on the same weights
    ref = ESN.from_config({**esn.config(), "dtype": "float64"}, {k: v.double() for k, v in esn.state_dict().items()})
    tol = dict(atol=1e-12, rtol=0) if dtype == torch.float64 else dict(atol=2e-5, rtol=0)
    X, _ = esn.run(u, teacher=d)
    torch.testing.assert_close(X.double(), reference(ref, u, teacher=d)[1], **tol)
    torch.testing.assert_close(esn.predict(u).double(), reference(ref, u)[0], **tol)  # closed loop, own output
    batch, teach = torch.stack([u, u.flip(0), 0.5 * u], 1), torch.stack([d, d.flip(0), 0.5 * d], 1)
    Xb, _ = esn.run(batch, teacher=teach)  # B = 3 in one driven run
    for b in range(3):
        torch.testing.assert_close(Xb[:, b].double(), reference(ref, batch[:, b], teach[:, b])[1], **tol)


@pytest.mark.parametrize("on", [True, False], ids=["kernels", "torch"])
def test_compiled_closed_loop_without_feedback_feeds_the_output_back(request, monkeypatch, on):
    from rnnzoo.reservoir import _run
    _kernels(request, monkeypatch, on)
    g = torch.Generator().manual_seed(9)
    esn = ESN(1, 30, 1, leak_rate=0.6, input_scaling=0.5, density=0.3, seed=2)
    assert (_run.native_reason(esn) is None) == on
    esn.weight_out.copy_(torch.randn(1, esn.features, generator=g, dtype=torch.float64) * 0.3)
    x, v, expected = torch.zeros(30, dtype=torch.float64), torch.zeros(1, dtype=torch.float64), []
    for _ in range(25):
        x = 0.4 * x + 0.6 * torch.tanh(esn.weight_hh[0] @ x + esn.weight_ih @ v + esn.bias[0])
        v = esn.weight_out @ torch.cat([torch.ones(1, dtype=torch.float64), v, x])
        expected.append(v[0])
    y, final = esn.generate(25, state=esn.initial_state(1), return_state=True)
    torch.testing.assert_close(y[:, 0], torch.stack(expected), atol=1e-12, rtol=0)
    torch.testing.assert_close(final.x[0, 0], x, atol=1e-12, rtol=0)


def test_compiled_loops_fall_back_and_say_why(request, monkeypatch):
    from rnnzoo.reservoir import _run
    _kernels(request, monkeypatch, True)
    assert _run.native_reason(ESN(1, 20, sparse=False, seed=0)).startswith("sparse=False")
    esn = ESN(1, 20, activation="relu", seed=0)
    assert "relu" in _run.native_reason(esn)
    X, _ = esn.run(torch.rand(30, 1, dtype=torch.float64))  # the torch loop runs instead, silently
    assert X.shape == (30, 20) and torch.isfinite(X).all()
    monkeypatch.setenv("RNNZOO_NATIVE", "0")
    assert "RNNZOO_NATIVE=0" in _run.native_reason(ESN(1, 20, seed=0))


def test_generate_without_feedback_feeds_the_output_back_as_input():
    g = torch.Generator().manual_seed(8)
    esn = ESN(1, 10, 1, num_layers=2, leak_rate=0.6, input_scaling=0.5, density=0.4, seed=1)
    esn.weight_out.copy_(torch.randn(1, esn.features, generator=g, dtype=torch.float64) * 0.3)
    y = esn.generate(15, state=esn.initial_state(1))[:, 0]
    x = [torch.zeros(10, dtype=torch.float64), torch.zeros(10, dtype=torch.float64)]
    v, expected = torch.zeros(1, dtype=torch.float64), []
    for n in range(15):
        inp = v
        for l in range(2):
            Win = esn.weight_ih if l == 0 else esn.weight_ih_deep[0]
            x[l] = 0.4 * x[l] + 0.6 * torch.tanh(esn.weight_hh[l] @ x[l] + Win @ inp + esn.bias[l])
            inp = x[l]
        v = esn.weight_out @ torch.cat([torch.ones(1, dtype=torch.float64), v, *x])
        expected.append(v[0])
    assert torch.allclose(y, torch.stack(expected), atol=1e-12)


def test_ridge_chosen_by_cross_validation():
    g = torch.Generator().manual_seed(3)
    Z = torch.randn(200, 20, generator=g, dtype=torch.float64)
    Y = Z[:, :1] + 0.5 * torch.randn(200, 1, generator=g, dtype=torch.float64)
    ridge, errors = ridge_cv(Z, Y, ridges=[1e-8, 1.0, 1e6], folds=4)
    assert ridge in (1e-8, 1.0) and errors[2] > errors[0] and len(errors) == 3
    u = mackey_glass(400, seed=0)
    esn = ESN(1, 50, 1, seed=0, ridges=[1e-9, 1e-6, 1e-3, 1e3], folds=3).fit(u[:-1], u[1:], washout=50)
    assert esn.ridge_ in (1e-9, 1e-6, 1e-3) and len(esn.cv_errors) == 4


def test_cross_validation_errors_equal_a_numpy_k_fold_of_held_out_blocks():
    """Fold k holds out rows [k T/K, (k+1) T/K), is fitted on the other rows alone by the normal
    equations (NumPy), and adds its squared error on the held-out rows; the sum is divided by T * O."""
    rng = np.random.default_rng(4)
    T, F, O, K = 60, 8, 2, 5
    Z = rng.normal(size=(T, F))
    Y = Z @ rng.normal(size=(F, O)) + 0.3 * rng.normal(size=(T, O))
    ridges = [1e-6, 1e-2, 1.0, 30.0, 1e3]
    expected = np.zeros(len(ridges))
    for k in range(K):
        held = np.zeros(T, dtype=bool)
        held[k * T // K:(k + 1) * T // K] = True
        Zt, Yt = Z[~held], Y[~held]
        for j, r in enumerate(ridges):
            W = np.linalg.solve(Zt.T @ Zt + r * np.eye(F), Zt.T @ Yt)  # (F, O)
            expected[j] += ((Z[held] @ W - Y[held]) ** 2).sum()
    expected /= T * O
    ridge, errors = ridge_cv(torch.from_numpy(Z), torch.from_numpy(Y), ridges=ridges, folds=K)
    np.testing.assert_allclose(errors, expected, rtol=1e-9, atol=0)
    assert ridge == ridges[int(np.argmin(expected))]


def test_echo_state_property():
    g = torch.Generator().manual_seed(5)
    esn = ESN(1, 100, seed=0, spectral_radius=0.9, input_scaling=0.5)
    u = torch.rand(300, 1, 1, generator=g, dtype=torch.float64) * 2 - 1
    ends = []
    for k in range(2):
        x0 = torch.rand(1, 1, 100, generator=g, dtype=torch.float64) * 2 - 1
        X, final = esn.run(u, state=ESNState(x0, torch.zeros(1, 1, dtype=torch.float64)))
        ends.append(X[-1])
        assert final.x.shape == (1, 1, 100)
    assert float((ends[0] - ends[1]).abs().max()) < 1e-8


def test_mackey_glass_20_steps_ahead():
    s = mackey_glass(1600, seed=0)
    esn = ESN(1, 200, 1, spectral_radius=0.9, input_scaling=0.5, seed=0)
    esn.fit(s[:1499], s[1:1500], washout=100, ridge=1e-8)  # one-step-ahead, then closed loop
    y = esn.generate(20)[:, 0]
    nrmse = float((y - s[1500:1520]).pow(2).mean().sqrt() / s.std())
    assert nrmse < 0.05, nrmse


def test_feedback_teacher_forcing_and_generation():
    s = mackey_glass(1300, seed=1, transform="tanh")
    esn = ESN(0, 200, 1, spectral_radius=0.8, bias_scaling=0.2, feedback=True, feedback_scaling=0.56, seed=0)
    esn.fit(targets=s[:1200], washout=200, ridge=1e-12)
    y = esn.generate(20)[:, 0]
    assert float((y - s[1200:1220]).pow(2).mean().sqrt() / s.std()) < 0.05
    # the state depends on the previous output: another teacher, other states
    X1, _ = esn.run(teacher=s[:50])
    X2, _ = esn.run(teacher=s[50:100])
    assert not torch.allclose(X1, X2)
    # priming: teacher-forced on a segment, then free run, equals predict with the teacher then generate
    primed = esn.generate(5, prime=s[:300])
    _, st = esn.predict(teacher=s[:300], return_state=True)
    assert torch.allclose(primed, esn.generate(5, state=st))


def test_batched_equals_one_by_one_and_deterministic_under_a_seed():
    g = torch.Generator().manual_seed(0)
    u = torch.randn(60, 4, 2, generator=g, dtype=torch.float64)
    d = u.sum(-1, keepdim=True).cumsum(0).tanh()
    esn = ESN(2, 40, 1, seed=3, leak_rate=0.5, noise=1e-3, sparse=False).fit(u, d, washout=5, ridge=1e-4)
    twin = ESN(2, 40, 1, seed=3, leak_rate=0.5, noise=1e-3, sparse=False).fit(u, d, washout=5, ridge=1e-4)
    assert torch.equal(esn.weight_out, twin.weight_out)
    batched = esn.predict(u)
    for b in range(4):
        assert torch.allclose(batched[:, b], esn.predict(u[:, b]), atol=1e-12)
    fb = ESN(2, 40, 1, seed=3, feedback=True).fit(u, d, washout=5, ridge=1e-4)
    closed = fb.predict(u)  # the ESN's own outputs fed back
    for b in range(4):
        assert torch.allclose(closed[:, b], fb.predict(u[:, b]), atol=1e-12)
    assert ESN(2, 40, seed=3).weight_hh.equal(ESN(2, 40, seed=3).weight_hh)


def test_sequences_of_different_lengths_and_batch_first():
    s = mackey_glass(500, seed=2)
    esn = ESN(1, 60, 1, seed=0, batch_first=True)
    esn.fit([s[:299], s[300:449]], [s[1:300], s[301:450]], washout=20, ridge=1e-6)
    out = esn.predict(s[None, :100, None])
    assert out.shape == (1, 100, 1)


def test_deep_reservoir():
    s = mackey_glass(700, seed=3)
    esn = ESN(1, 80, 1, num_layers=3, seed=0, input_scaling=0.5, spectral_radius=0.8)
    esn.fit(s[:599], s[1:600], washout=50, ridge=1e-8)
    assert esn.weight_out.shape == (1, 1 + 1 + 3 * 80)
    X, final = esn.run(s[:10])
    assert X.shape == (10, 240) and final.x.shape == (3, 1, 80)
    y = esn.generate(10)[:, 0]
    assert float((y - s[600:610]).abs().max() / s.std()) < 0.1


def test_save_and_load_with_safetensors(tmp_path):
    from safetensors.torch import load_file, save_file
    s = mackey_glass(300, seed=0)
    esn = ESN(1, 50, 1, seed=0, num_layers=2, feedback=True).fit(s[:199], s[1:200], washout=20, ridge=1e-6)
    save_file(esn.state_dict(), tmp_path / "esn.safetensors")
    (tmp_path / "esn.json").write_text(json.dumps(esn.config()))
    back = ESN.from_config(json.loads((tmp_path / "esn.json").read_text()), load_file(tmp_path / "esn.safetensors"))
    assert torch.equal(back.predict(s[:50], teacher=s[1:51]), esn.predict(s[:50], teacher=s[1:51]))
    assert back.ridge_ == 1e-6


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="spectral_radius must be > 0"):
        ESN(1, 10, spectral_radius=0.0)
    with pytest.raises(ValueError, match="spectral_radius must be > 0"):
        ESN(1, 10, spectral_radius=-1)
    with pytest.raises(ValueError, match=r"leak_rate must be in \(0, 1\]"):
        ESN(1, 10, leak_rate=0.0)
    with pytest.raises(ValueError, match=r"leak_rate must be in \(0, 1\]"):
        ESN(1, 10, leak_rate=1.5)
    esn = ESN(1, 10, seed=0)
    s = mackey_glass(100, seed=0)
    bad = s.clone()
    bad[5] = float("nan")
    with pytest.raises(ValueError, match="targets contains NaN"):
        esn.fit(s, bad)
    with pytest.raises(ValueError, match="inputs contains NaN"):
        esn.fit(bad, s)
    with pytest.raises(ValueError, match="washout=100 must be shorter than every sequence: got a sequence of 50"):
        esn.fit(s[:50], s[1:51], washout=100)
    with pytest.raises(ValueError, match="inputs must have 1 features per step, got 3"):
        esn.fit(torch.ones(20, 3), s[:20])
    with pytest.raises(ValueError, match="input_size .2. must equal output_size .1."):
        ESN(2, 10).generate(5)
    with pytest.raises(ValueError, match="solver must be one of"):
        ESN(1, 10, solver="svd")
    with pytest.raises(ValueError, match="density must be in"):
        reservoir_matrix(10, 0.9, density=0.0)


def test_benchmark_script_runs_at_a_tiny_size(capsys):
    import importlib.util
    import os
    from pathlib import Path
    env = dict(os.environ)
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "esn.py"
    spec = importlib.util.spec_from_file_location("rnnzoo_benchmark_esn", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        errors, result = module.main(["--runs", "2", "--size", "60", "--no-compare"])
    finally:
        os.environ.clear()
        os.environ.update(env)
        torch.set_num_threads(1)
    assert len(errors) == 2 and result is None and all(math.isfinite(e) for e in errors)
    assert "NRMSE84 over 2 runs" in capsys.readouterr().out


def test_predict_and_generate_before_fit_are_refused():
    # the readout starts at zero: an unfitted ESN would answer zeros that look like a prediction
    esn = ESN(1, 20, 1, seed=0)
    s = mackey_glass(200, seed=0)
    with pytest.raises(ValueError, match="predict: this ESN is not fitted"):
        esn.predict(s[:10])
    with pytest.raises(ValueError, match="generate: this ESN is not fitted"):
        esn.generate(5)
    esn.run(s[:10])  # the reservoir's states need no readout
    esn.fit(s[:150], s[1:151], washout=20, ridge=1e-8)
    assert esn.predict(s[:10]).shape == (10, 1) and esn.generate(5).shape == (5, 1)


@pytest.mark.parametrize("kwargs,error,match", [
    ({"seed": -1}, ValueError, "seed must be >= 0, got -1"),
    ({"seed": 1.5}, TypeError, "seed must be an int, got float 1.5"),
    ({"seed": "1"}, TypeError, "seed must be an int, got str '1'"),
    ({"seed": True}, TypeError, "seed must be an int, got bool True"),
    ({"dtype": torch.float16}, TypeError, "dtype must be torch.float32 or torch.float64"),
    ({"dtype": "float32"}, TypeError, "dtype must be torch.float32 or torch.float64"),
    ({"feedback": "False"}, TypeError, r"feedback must be a bool \(True or False\)"),
    ({"sparse": 0}, TypeError, r"sparse must be a bool \(True or False\)"),
])
def test_seed_dtype_and_switches_are_checked_by_name(kwargs, error, match):
    with pytest.raises(error, match=match):
        ESN(1, 10, **kwargs)
