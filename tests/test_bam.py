"""Kosko's bidirectional associative memory: the textbook example, energy, capacity, bad input."""

import json

import pytest
import torch

from rnnzoo.memory import BAM
from rnnzoo.memory.bam import bam_recall_rate

pytestmark = pytest.mark.usefixtures("one_thread")


X = torch.tensor([[1, -1, 1, -1, 1, -1], [1, 1, 1, -1, -1, -1]], dtype=torch.float64)
Y = torch.tensor([[1, 1, -1, -1], [1, -1, 1, -1]], dtype=torch.float64)


def bipolar(P, N, seed):
    return torch.randint(0, 2, (P, N), generator=torch.Generator().manual_seed(seed)).double() * 2 - 1


def test_kosko_example_exact_both_ways():
    bam = BAM(6, 4).store(X, Y)
    assert torch.equal(bam.weight, X.T @ Y)
    fwd, bwd = bam.recall(x=X), bam.recall(y=Y)
    assert torch.equal(fwd.y, Y) and torch.equal(fwd.x, X)
    assert torch.equal(bwd.x, X) and torch.equal(bwd.y, Y)
    assert torch.equal(fwd.pair, torch.tensor([0, 1])) and torch.equal(bwd.pair, torch.tensor([0, 1]))
    assert fwd.converged.all() and bwd.converged.all()
    one = bam.recall(x=X[1])  # unbatched
    assert torch.equal(one.y, Y[1]) and int(one.pair) == 1


def test_steps_count_each_cues_own_bounces_by_hand_on_kosko_pairs():
    """W = X^T Y (rows [2,0,0,-2], [0,-2,2,0], [2,0,0,-2], [-2,0,0,2], [0,2,-2,0], [-2,0,0,2]).
    Cue x1: y = sign(W^T x1) = y1, then x = sign(W y1) = x1: nothing changed in bounce 1, so 1 step.
    Cue x1 with its first bit flipped: W^T x' = [4, 4, -4, -4] gives y1; W y1 = [4, -4, 4, -4, 4, -4]
    gives x1 (changed), bounce 2 changes nothing: 2 steps. The batch runs 2 bounces; the first cue,
    converged after 1, must not count the second. E = -x^T W y: x' with y1 is -16, x1 with y1 is -24."""
    bam = BAM(6, 4).store(X, Y)
    flipped = X[0].clone()
    flipped[0] = -1
    r = bam.recall(x=torch.stack([X[0], flipped]))
    assert r.steps.tolist() == [1, 2] and r.converged.tolist() == [True, True]
    assert torch.equal(r.x, X[[0, 0]]) and torch.equal(r.y, Y[[0, 0]]) and r.pair.tolist() == [0, 0]
    assert r.energy.T.tolist() == [[-24.0] * 5, [-16.0, -24.0, -24.0, -24.0, -24.0]]
    short = bam.recall(x=torch.stack([X[0], flipped]), max_steps=1)
    assert short.steps.tolist() == [1, 1] and short.converged.tolist() == [True, False]
    assert int(bam.recall(x=flipped).steps) == 2  # alone, the same count


def test_energy_never_increases_during_recall():
    for seed in range(5):
        bam = BAM(30, 20).store(bipolar(6, 30, seed), bipolar(6, 20, seed + 50))
        for cue in (dict(x=bipolar(8, 30, seed + 100)), dict(y=bipolar(8, 20, seed + 200))):
            r = bam.recall(**cue)
            assert r.energy.shape[1] == 8
            assert (r.energy[1:] <= r.energy[:-1] + 1e-9).all()
            assert torch.allclose(r.energy[-1], bam.energy(r.x, r.y))
            assert r.converged.all()


def test_stored_random_pairs_are_recalled():
    Xs, Ys = bipolar(3, 100, 1), bipolar(3, 80, 2)
    bam = BAM(100, 80).store(Xs[:1], Ys[:1]).store(Xs[1:], Ys[1:])
    assert torch.equal(bam.recall(x=Xs).pair, torch.arange(3))
    assert torch.equal(bam.recall(y=Ys).pair, torch.arange(3))
    noisy = Xs.clone()
    noisy[:, :10] *= -1  # 10% of x's bits flipped
    assert torch.equal(bam.recall(x=noisy).y, Ys)


def test_recall_rate_falls_with_the_number_of_pairs():
    r = bam_recall_rate(40, 40, pairs=(1, 2, 20), trials=3, seed=0)
    assert r["pairs"] == [1, 2, 20]
    assert r["forward"][0] == 1.0 and r["backward"][0] == 1.0
    assert r["forward"][2] < 0.5 and r["backward"][2] < 0.5
    json.dumps(r)


def test_save_and_load_with_safetensors(tmp_path):
    from safetensors.torch import load_file, save_file
    bam = BAM(6, 4).store(X, Y)
    save_file(bam.state_dict(), tmp_path / "b.safetensors")
    back = BAM.from_config(json.loads(json.dumps(bam.config())), load_file(tmp_path / "b.safetensors"))
    assert torch.equal(back.recall(x=X).y, Y) and torch.equal(back.stored_y, Y)


def test_bad_input_names_the_argument():
    bam = BAM(6, 4)
    with pytest.raises(ValueError, match="x must be bipolar"):
        bam.store(X * 0.5, Y)
    with pytest.raises(ValueError, match="y must have length 4.*got length 5"):
        bam.store(X, torch.ones(2, 5))
    with pytest.raises(ValueError, match="y must have one row per row of x"):
        bam.store(X, Y[:1])
    with pytest.raises(ValueError, match="x or y must be given"):
        bam.recall()
    with pytest.raises(ValueError, match="x must have length 6"):
        bam.recall(x=torch.ones(5))
