"""Modern (dense) Hopfield network: one-step retrieval, energy descent, gradcheck, saving, bad input."""

import json

import pytest
import torch

from rnnzoo.memory import ModernHopfield

pytestmark = pytest.mark.usefixtures("one_thread")


def bipolar(P, N, seed):
    return torch.randint(0, 2, (P, N), generator=torch.Generator().manual_seed(seed)).double() * 2 - 1


def test_one_update_retrieves_a_well_separated_pattern():
    X = bipolar(30, 64, 0)
    net = ModernHopfield(X, beta=1.0)
    flips = torch.ones(30, 64, dtype=torch.float64)
    flips[:, :12] = -1  # 12 of 64 signs wrong in every cue
    out = net(X * flips)  # one update: xi <- X softmax(beta X^T xi)
    assert torch.allclose(out, X, atol=1e-8)
    a = net.attention(X * flips)
    assert torch.equal(a.argmax(1), torch.arange(30)) and bool((a.diagonal() > 1 - 1e-6).all())


def test_update_is_attention_and_energy_descends():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(10, 8, generator=g, dtype=torch.float64)
    q = torch.randn(4, 8, generator=g, dtype=torch.float64)
    net = ModernHopfield(X, beta=0.7)
    assert torch.allclose(net(q), torch.softmax(0.7 * q @ X.T, -1) @ X)
    e = [net.energy(q)]
    for _ in range(5):
        q = net(q)
        e.append(net.energy(q))
    assert all((b <= a + 1e-12).all() for a, b in zip(e, e[1:]))  # Ramsauer et al., Theorem 1
    r = net.recall(q)
    assert r.converged.all() and r.states.shape == (4, 8) and r.attention.shape == (4, 10)


def test_gradcheck_float64():
    g = torch.Generator().manual_seed(2)
    X = torch.randn(5, 4, generator=g, dtype=torch.float64, requires_grad=True)
    q = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    net = ModernHopfield(beta=0.8, steps=2, learn_beta=True)
    assert torch.autograd.gradcheck(lambda q, X: net(q, X), (q, X))
    beta = net.log_beta
    assert beta.requires_grad and isinstance(beta, torch.nn.Parameter)
    assert torch.autograd.gradcheck(lambda q: ModernHopfield(X.detach(), beta=2.0, trainable=True)(q), (q,))
    assert torch.autograd.gradcheck(lambda q, X: net.energy(q, X), (q, X))


def test_trainable_patterns_learn():
    X = torch.randn(6, 5, dtype=torch.float64)
    net = ModernHopfield(X, trainable=True)
    assert [n for n, _ in net.named_parameters()] == ["stored"]
    net(torch.randn(2, 5, dtype=torch.float64)).sum().backward()
    assert net.stored.grad is not None and torch.isfinite(net.stored.grad).all()


def test_save_and_load_with_safetensors(tmp_path):
    from safetensors.torch import load_file, save_file
    net = ModernHopfield(bipolar(7, 16, 3), beta=0.3, steps=2)
    save_file(net.state_dict(), tmp_path / "m.safetensors")
    back = ModernHopfield.from_config(json.loads(json.dumps(net.config())), load_file(tmp_path / "m.safetensors"))
    q = bipolar(2, 16, 4)
    assert torch.allclose(back(q), net(q)) and back.steps == 2


def test_bad_input_names_the_argument():
    net = ModernHopfield(bipolar(3, 8, 0))
    with pytest.raises(ValueError, match="query must have length 8.*got 7"):
        net(torch.ones(7, dtype=torch.float64))
    with pytest.raises(ValueError, match="query contains NaN"):
        net(torch.full((8,), float("nan"), dtype=torch.float64))
    with pytest.raises(ValueError, match="beta must be > 0"):
        ModernHopfield(beta=0.0)
    with pytest.raises(ValueError, match="patterns must be given"):
        ModernHopfield()(torch.ones(3))
    with pytest.raises(ValueError, match="patterns must be 2-D"):
        ModernHopfield(torch.ones(4))
    with pytest.raises(TypeError, match="query must have a floating-point dtype"):
        net(torch.ones(8, dtype=torch.long))
