"""Mackey-Glass generator: determinism, the attractor's range, integrator convergence, bad input."""

import numpy as np
import pytest
import torch

from rnnzoo.data import mackey_glass

pytestmark = pytest.mark.usefixtures("one_thread")


def test_deterministic_under_a_seed():
    a, b, c = mackey_glass(300, seed=4), mackey_glass(300, seed=4), mackey_glass(300, seed=5)
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert a.dtype == torch.float64 and a.shape == (300,)
    assert torch.equal(mackey_glass(50), mackey_glass(50))  # no seed: the classic x(t <= 0) = 1.2


def test_mg17_attractor_range_and_transform():
    x = mackey_glass(2000, seed=0)
    assert 0.2 < float(x.min()) < 0.6 and 1.2 < float(x.max()) < 1.45
    assert 0.85 < float(x.mean()) < 0.95 and 0.18 < float(x.std()) < 0.26
    t = mackey_glass(2000, seed=0, transform="tanh")
    assert torch.allclose(t, torch.tanh(x - 1))
    n = mackey_glass(100, seed=0, as_numpy=True)
    assert isinstance(n, np.ndarray) and np.allclose(n, x[:100].numpy())


def test_integrator_converges_with_finer_subdivisions():
    kw = dict(discard=0, seed=None)
    coarse, fine, finest = (mackey_glass(60, subdivisions=k, **kw) for k in (10, 20, 80))
    e1, e2 = float((coarse - finest).abs().max()), float((fine - finest).abs().max())
    assert e2 < e1 < 1e-4


def test_fixed_point_without_chaos():
    # beta / gamma = 2 and x* with x*^n = 1: x* = 1 is the equilibrium; a history at 1 stays there
    x = mackey_glass(50, x0=1.0, discard=0)
    assert torch.allclose(x, torch.ones(50, dtype=torch.float64), atol=1e-12)


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="tau / .sample_step / subdivisions. must be a whole number"):
        mackey_glass(10, tau=17.05)
    with pytest.raises(ValueError, match="n_samples must be >= 1"):
        mackey_glass(0)
    with pytest.raises(ValueError, match="tau must be > 0"):
        mackey_glass(10, tau=-1.0)
    with pytest.raises(ValueError, match="transform must be one of"):
        mackey_glass(10, transform="log")
    with pytest.raises(TypeError, match="seed must be an int"):
        mackey_glass(10, seed=1.5)
