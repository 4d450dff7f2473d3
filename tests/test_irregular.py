"""Irregularly sampled sinusoids: shapes, determinism, positive gaps, targets are the next observation's
true value, and a CTRNN given the gaps as dt beats an Elman network given only the values."""

import importlib.util
import math
from pathlib import Path

import pytest
import torch

from rnnzoo.data import irregular_sinusoids

pytestmark = pytest.mark.usefixtures("one_thread")


def test_shapes_dtypes_and_positive_gaps():
    x, dt, y = irregular_sinusoids(5, 30, seed=0)
    assert x.shape == (5, 30, 1) and dt.shape == (5, 30) and y.shape == (5, 30, 1)
    assert x.dtype == dt.dtype == y.dtype == torch.float32
    assert bool((dt >= 0.01).all()) and bool(x.abs().max() <= 1) and bool(y.abs().max() <= 1)
    many = irregular_sinusoids(200, 100, seed=1, mean_gap=0.5)[1]
    assert abs(float(many.mean()) - 0.5) < 0.02  # gaps average mean_gap


def test_deterministic_under_a_seed_without_touching_the_global_rng():
    state = torch.get_rng_state()
    a, b, c = (irregular_sinusoids(3, 20, seed=s) for s in (7, 7, 8))
    assert torch.equal(torch.get_rng_state(), state)
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0]) and not torch.equal(a[1], c[1])


def test_target_is_the_signal_at_the_next_observation_time():
    x, dt, y, t = irregular_sinusoids(4, 25, seed=2, frequencies=(1.0,), return_times=True)
    assert t.shape == (4, 26) and torch.allclose(t[:, 1:] - t[:, :-1], dt, atol=1e-5)
    assert torch.equal(x[:, 1:], y[:, :-1])  # without noise, input i + 1 is target i
    # one frequency: y(t) = a sin(t + phi); y(t + d) follows from y(t), y'(t) by the rotation
    a = (x[:, :, 0] ** 2 + (y[:, :, 0] - x[:, :, 0] * torch.cos(dt)).div(torch.sin(dt)) ** 2).sqrt()
    assert torch.allclose(a, a[:, :1].expand_as(a), atol=1e-3)  # one amplitude per series
    noisy = irregular_sinusoids(4, 25, seed=2, noise=0.1)
    assert torch.equal(noisy[2], irregular_sinusoids(4, 25, seed=2)[2]) and not torch.equal(noisy[0], x)


def test_bad_arguments_are_clear_errors():
    with pytest.raises(ValueError, match="mean_gap"):
        irregular_sinusoids(2, 5, mean_gap=0)
    with pytest.raises(ValueError, match="min_gap"):
        irregular_sinusoids(2, 5, mean_gap=0.1, min_gap=0.2)
    with pytest.raises(ValueError, match="frequencies"):
        irregular_sinusoids(2, 5, frequencies=(-1.0,))


def test_ctrnn_given_the_gaps_beats_elman_without_them_on_three_seeds():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "tasks_family.py"
    spec = importlib.util.spec_from_file_location("rnnzoo_benchmark_tasks_family", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    budget = dict(hidden=16, steps=200, batch=32, lr=1e-2, n_train=256, n_test=256, length=30, warmup=5)
    for seed in range(3):
        ctrnn = bench.train_irregular("ctrnn", seed, **budget)
        elman = bench.train_irregular("elman", seed, **budget)
        assert math.isfinite(ctrnn["mse"]) and ctrnn["mse"] < 0.85 * elman["mse"], (seed, ctrnn, elman)
