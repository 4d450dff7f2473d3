"""The autoencode task and `rnnzoo cluster`: a sequence autoencoder trained without labels, its codes
clustered and scored against the labels the files carry."""

import json

import numpy as np
import pytest
from test_classify import toy_cases, write_ts

from rnnzoo.cli import main
from rnnzoo.commands.cluster import cluster_codes, scores
from rnnzoo.train.fit import evaluate, load_run


def blobs(n, seed):
    """Three well-separated kinds of series: flat low, flat high, a ramp (lengths 15-25)."""
    g = np.random.default_rng(seed)
    cases, labels = [], []
    for i in range(n):
        t = np.linspace(0, 1, int(g.integers(15, 26)))
        kind = i % 3
        wave = [np.full_like(t, -2.0), np.full_like(t, 2.0), 4 * t - 2][kind]
        cases.append((wave + 0.1 * g.standard_normal(len(t)))[:, None])
        labels.append(["low", "high", "ramp"][kind])
    return cases, labels


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("ae")
    write_ts(base / "B_TRAIN.ts", *blobs(45, 0), classes=("low", "high", "ramp"))
    write_ts(base / "B_TEST.ts", *blobs(30, 1), classes=("low", "high", "ramp"))
    out = base / "run"
    assert main(["train", "autoencode", "--data", str(base), "--out", str(out), "--hidden", "16", "--code-size",
                 "4", "--epochs", "40", "--threads", "1", "--lr", "0.01"]) == 0
    return out


def test_well_separated_classes_cluster_with_an_adjusted_rand_index_of_at_least_0_9(run, capsys):
    assert main(["cluster", str(run)]) == 0
    out = capsys.readouterr().out
    ari = float(out.split("adjusted Rand index ")[1].split(",")[0])
    assert ari >= 0.9, out
    assert "75 series, 4-value codes, kmeans into 3 clusters" in out
    assert (run / "plots" / "clusters.png").read_bytes().startswith(b"\x89PNG")
    assert main(["cluster", str(run), "--method", "agglomerative", "--split", "test", "--k", "3"]) == 0
    assert "30 series" in capsys.readouterr().out


def test_the_run_records_the_test_reconstruction_error_that_evaluate_reproduces(run):
    config = json.loads((run / "config.json").read_text())
    assert config["data"]["classes"] == ["low", "high", "ramp"]  # kept for scoring a clustering, not trained on
    assert evaluate(run, split="test")["loss"] == config["report"]["test_loss"]
    assert config["report"]["test_loss"] < 0.5  # well below the variance of standardised data (1)
    assert "reconstructions.png" in config["plots"]


def test_codes_come_in_file_order_with_their_labels(run):
    task, model, config = load_run(run)
    codes, labels = task.codes(model, config, "all")
    assert codes.shape == (75, 4) and labels == blobs(45, 0)[1] + blobs(30, 1)[1]
    test_codes, _ = task.codes(model, config, "test")
    assert np.allclose(test_codes.numpy(), codes[45:].numpy(), atol=1e-6)


def test_cluster_scores_are_sklearns_and_chance_scores_near_zero():
    labels = ["a"] * 10 + ["b"] * 10
    perfect = scores(labels, np.array([1] * 10 + [0] * 10))
    assert perfect == {"ari": 1.0, "nmi": 1.0}
    g = np.random.default_rng(0)
    codes = g.standard_normal((200, 3))
    assigned = cluster_codes(codes, 2)
    assert abs(scores(list(g.integers(0, 2, 200)), assigned)["ari"]) < 0.05
    assert sorted(set(assigned.tolist())) == [0, 1]


def test_cluster_refuses_a_run_of_another_task_and_unlabelled_series_without_k(run, tmp_path, capsys):
    cases, _ = toy_cases(12, 0)
    write_ts(tmp_path / "U_TRAIN.ts", cases, ["sine"] * 12)
    assert main(["cluster", str(run), "--data", str(tmp_path / "U_TRAIN.ts"), "--k", "40"]) != 0
    assert "more than the 12 series" in capsys.readouterr().err
