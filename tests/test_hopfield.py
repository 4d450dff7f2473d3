"""Classic Hopfield network: energy, fixed points per rule, Storkey's published formula, capacity knee,
recall demo, saving, bad input."""

import json

import numpy as np
import pytest
import torch

from rnnzoo.memory import Hopfield, capacity_sweep, letters, plot_capacity, recall_demo
from rnnzoo.memory.letters import letter_patterns

pytestmark = pytest.mark.usefixtures("one_thread")


def bipolar(P, N, seed):
    return torch.randint(0, 2, (P, N), generator=torch.Generator().manual_seed(seed)).double() * 2 - 1


@pytest.mark.parametrize("rule", ["hebbian", "storkey", "pinv", "random"])
def test_energy_never_rises_under_async_updates(rule):
    N = 40
    for seed in range(5):
        if rule == "random":  # any symmetric zero-diagonal W
            net = Hopfield(N)
            A = torch.randn(N, N, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
            net.weight.copy_((A + A.T).fill_diagonal_(0))
        else:
            net = Hopfield(N, rule).store(bipolar(8, N, seed))
        s = bipolar(6, N, 100 + seed)
        energies = [net.energy(s)]
        for sweep in range(20):
            out = net.recall(s, max_steps=1, seed=sweep)
            energies.append(net.energy(out.states))
            changed = (out.states != s).any(1)
            assert (energies[-1] <= energies[-2] + 1e-12).all()
            assert (energies[-1][changed] < energies[-2][changed]).all()  # a flip lowers E strictly
            s = out.states
        assert bool(net.recall(s, max_steps=1, seed=0).converged.all())


@pytest.mark.parametrize("rule,N,P", [("hebbian", 200, 10), ("storkey", 200, 30), ("pinv", 40, 39)])
@pytest.mark.parametrize("mode", ["async", "sync"])
def test_stored_patterns_are_fixed_points(rule, N, P, mode):
    X = bipolar(P, N, 1)
    if rule == "pinv":
        assert torch.linalg.matrix_rank(X) == P  # N - 1 linearly independent patterns
    net = Hopfield(N, rule).store(X)
    assert torch.allclose(net.weight, net.weight.T) and bool((net.weight.diagonal() == 0).all())
    out = net.recall(X, mode=mode, seed=0)
    assert torch.equal(out.states, X)
    assert out.converged.all() and (out.steps == 1).all()
    assert torch.equal(out.pattern, torch.arange(P))
    assert torch.allclose(out.overlaps.diagonal(), torch.ones(P, dtype=torch.float64))


def storkey_direct(patterns: np.ndarray) -> np.ndarray:
    """Storkey (1997), written out: w_ij += (1/n) x_i x_j - (1/n) x_i h_ji - (1/n) h_ij x_j,
    h_ij = sum_{k != i, j} w_ik x_k, diagonal kept at zero."""
    n = patterns.shape[1]
    w = np.zeros((n, n))
    for x in patterns:
        h = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                h[i, j] = sum(w[i, k] * x[k] for k in range(n) if k != i and k != j)
        new = w.copy()
        for i in range(n):
            for j in range(n):
                if i != j:
                    new[i, j] = w[i, j] + (x[i] * x[j] - x[i] * h[j, i] - h[i, j] * x[j]) / n
        w = new
    return w


def test_storkey_weights_match_the_published_formula():
    X = bipolar(5, 12, 3)
    net = Hopfield(12, "storkey")
    net.store(X[:2]).store(X[2:])  # incremental storage is the same rule
    np.testing.assert_allclose(net.weight.numpy(), storkey_direct(X.numpy()), rtol=0, atol=1e-12)


def test_hebbian_and_pinv_weights():
    X = bipolar(6, 30, 4)
    W = (X.T @ X / 30).fill_diagonal_(0)
    assert torch.allclose(Hopfield(30, "hebbian").store(X).weight, W)
    P = X.T @ torch.linalg.inv(X @ X.T) @ X  # projector onto span(X)
    assert torch.allclose(Hopfield(30, "pinv").store(X).weight, P.fill_diagonal_(0), atol=1e-12)


def test_capacity_sweep_shows_the_hebbian_knee_and_storkey_above_it():
    heb = capacity_sweep(200, "hebbian", alphas=[0.10, 0.20], trials=2, seed=0)
    sto = capacity_sweep(200, "storkey", alphas=[0.10, 0.20], trials=2, seed=0)
    assert heb["overlap"][0] >= 0.95 and heb["overlap"][1] <= 0.85, heb
    assert sto["overlap"][1] >= 0.95 and sto["overlap"][1] > heb["overlap"][1] + 0.1, sto
    assert heb["patterns"] == [20, 40] and len(heb["overlap_std"]) == 2
    mod = capacity_sweep(200, "modern", alphas=[0.2], trials=1, seed=0)
    assert mod["overlap"] == [1.0]
    json.dumps([heb, sto, mod])  # plain numbers: the CLI can print or save them


def test_plot_capacity_and_recall_demo_write_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    r = capacity_sweep(60, "hebbian", alphas=[0.05, 0.15], trials=1, seed=0)
    path = plot_capacity([r, capacity_sweep(60, "pinv", alphas=[0.05, 0.15], trials=1)], tmp_path / "cap.png")
    assert (tmp_path / "cap.png").stat().st_size > 1000 and path.endswith("cap.png")
    demo = recall_demo(tmp_path / "demo.png", chars="HOPE", seed=0)
    assert demo["recalled_noisy"] == 4 and demo["recalled_masked"] == 4
    assert (tmp_path / "demo.png").stat().st_size > 1000
    assert demo["noisy"].shape == (4, 16, 16)
    assert recall_demo(None, chars="HOPFIELD", seed=0)["recalled_noisy"] == 8


def test_recall_demo_reads_a_folder_of_pngs(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    for c in "XO":
        plt.imsave(tmp_path / f"{c}.png", (letters(c)[0] < 0).numpy().astype(float), cmap="gray")
    demo = recall_demo(None, images=tmp_path, seed=0)
    assert demo["names"] == ["O", "X"]
    assert torch.equal(demo["stored"], letters("OX"))


def test_letters_are_distinct_bipolar_pictures():
    X = letter_patterns()
    assert X.shape == (26, 256) and set(X.unique().tolist()) == {-1.0, 1.0}
    assert len({tuple(r) for r in X.tolist()}) == 26  # all different
    assert (X @ X.T / 256 - torch.eye(26, dtype=torch.float64)).abs().max() < 0.95


def test_sync_updates_can_cycle_async_cannot():
    net = Hopfield(2)
    net.weight.copy_(torch.tensor([[0.0, -1.0], [-1.0, 0.0]]))
    s = torch.tensor([1.0, 1.0])
    sync = net.recall(s, mode="sync", max_steps=10)
    assert not sync.converged and sync.steps == 10
    assert net.recall(s, mode="async", seed=0).converged


def test_save_and_load_with_safetensors(tmp_path):
    from safetensors.torch import load_file, save_file
    net = Hopfield(50, "storkey").store(bipolar(4, 50, 5))
    save_file(net.state_dict(), tmp_path / "w.safetensors")
    (tmp_path / "c.json").write_text(json.dumps(net.config()))
    back = Hopfield.from_config(json.loads((tmp_path / "c.json").read_text()), load_file(tmp_path / "w.safetensors"))
    assert torch.equal(back.weight, net.weight) and torch.equal(back.stored, net.stored)
    assert back.rule == "storkey"


def test_bad_input_names_the_argument():
    net = Hopfield(10)
    with pytest.raises(ValueError, match="patterns must be bipolar.*0.5"):
        net.store(torch.full((2, 10), 0.5))
    with pytest.raises(ValueError, match="patterns must have length 10.*got length 9"):
        net.store(torch.ones(2, 9))
    with pytest.raises(ValueError, match="patterns: the pinv rule holds at most size - 1 = 9 patterns, got 10"):
        Hopfield(10, "pinv").store(bipolar(10, 10, 0))
    with pytest.raises(ValueError, match="cues must have length 10"):
        net.recall(torch.ones(11))
    with pytest.raises(ValueError, match="rule must be one of"):
        Hopfield(10, "oja")
    with pytest.raises(ValueError, match="mode must be one of"):
        net.recall(torch.ones(10), mode="parallel")
    with pytest.raises(TypeError, match="patterns must hold"):
        net.store(torch.ones(10, dtype=torch.bool))
    with pytest.raises(ValueError, match="size must be >= 1"):
        Hopfield(0)
    with pytest.raises(ValueError, match="flip must be in"):
        capacity_sweep(50, flip=0.6)


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("data", [b"", PNG_SIGNATURE, b"not a picture", PNG_SIGNATURE + bytes(range(200))])
def test_a_damaged_png_is_one_value_error_naming_the_file(tmp_path, data):
    # found by benchmarks/fuzz.py: Pillow's SyntaxError ("not a PNG file") or OSError came out as they were
    pytest.importorskip("matplotlib")
    (tmp_path / "bad.png").write_bytes(data)
    with pytest.raises(ValueError, match=r"images: '.*bad\.png' is not a readable PNG file \(\w+"):
        recall_demo(None, images=tmp_path, seed=0)


def test_capacity_benchmark_script_runs_at_a_tiny_size(capsys):
    import importlib.util
    from pathlib import Path
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "hopfield.py"
    spec = importlib.util.spec_from_file_location("rnnzoo_benchmark_hopfield", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        results = module.main(["--n", "60", "--trials", "1", "--rules", "hebbian,storkey", "--alphas", "0.05"])
    finally:
        torch.set_num_threads(1)
    assert [r["rule"] for r in results] == ["hebbian", "storkey"] and results[0]["overlap"][0] > 0.9
    assert "mean overlap" in capsys.readouterr().out
