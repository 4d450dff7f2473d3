"""The classify and regress tasks (rnnzoo.train.tasks.classify): split and statistics from the training
part only, padded batches, evaluate reproducing the test figure, predict from the run alone, the ESN."""

import argparse
import json
import math
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import shared_data

from rnnzoo.cli import main
from rnnzoo.reservoir import SequenceESN
from rnnzoo.train.fit import evaluate, load_run
from rnnzoo.train.tasks.classify import Classify, Regress, fill_missing, stratified_split

TINY = ["--epochs", "8", "--hidden", "8", "--filters", "8", "8", "--kernels", "5", "3", "--batch-size", "8",
        "--threads", "1", "--lr", "0.01"]


def series_text(x: np.ndarray) -> str:
    """One case's dimensions in .ts syntax ('1,2:3,4'); NaN is written '?'."""
    return ":".join(",".join("?" if np.isnan(v) else f"{v:.5f}" for v in dim) for dim in x.T)


def write_ts(path, cases, labels, *, classes=("sine", "square"), target=False, dims=1):
    head = ["@problemName Toy", "@timeStamps false", "@missing true", f"@univariate {'true' if dims == 1 else 'false'}",
            f"@dimensions {dims}", "@equalLength false"]
    head.append("@targetLabel true" if target else f"@classLabel true {' '.join(classes)}")
    lines = head + ["@data"] + [f"{series_text(c)}:{label}" for c, label in zip(cases, labels)]
    path.write_text("\n".join(lines) + "\n")
    return path


def toy_cases(n, seed, dims=1):
    """n series of 20-40 steps: a noisy sine (class 'sine') or square wave ('square'), alternating."""
    g = np.random.default_rng(seed)
    cases, labels = [], []
    for i in range(n):
        t = np.arange(g.integers(20, 41))
        wave = np.sin(t / 3.0) if i % 2 == 0 else np.sign(np.sin(t / 3.0))
        cases.append(np.stack([wave + 0.2 * g.standard_normal(len(t)) + d for d in range(dims)], 1))
        labels.append("sine" if i % 2 == 0 else "square")
    return cases, labels


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    base = tmp_path_factory.mktemp("toy")
    train, test = toy_cases(40, 0, dims=2), toy_cases(20, 1, dims=2)
    train[0][3][5, 1] = np.nan  # a missing value, filled within its series
    write_ts(base / "Toy_TRAIN.ts", *train, dims=2)
    write_ts(base / "Toy_TEST.ts", *test, dims=2)
    return base


def options(data, **changes):
    values = dict(data=str(data), test=None, val_fraction=0.25, znorm_series=False, seed=0)
    return argparse.Namespace(**{**values, **changes})


def test_the_validation_split_is_stratified_and_seeded_and_the_statistics_see_only_the_training_part(toy, tmp_path):
    task = Classify()
    data = task.setup(options(toy))
    assert data["classes"] == ["sine", "square"] and data["missing"] == {"train": 1, "test": 0}
    labels = toy_cases(40, 0)[1]
    train, val = stratified_split(labels, 0.25, 0)
    assert sorted(train + val) == list(range(40)) and not set(train) & set(val)
    assert [labels[i] for i in val].count("sine") == [labels[i] for i in val].count("square") == 5
    assert stratified_split(labels, 0.25, 0) == (train, val) != stratified_split(labels, 0.25, 1)
    # changing the validation cases and the test file leaves the training statistics as they were
    cases, labels = toy_cases(40, 0, dims=2)
    cases[3][5, 1] = np.nan
    for i in val:
        cases[i] = cases[i] * 100 + 50
    other = tmp_path / "other"
    other.mkdir()
    write_ts(other / "Toy_TRAIN.ts", cases, labels, dims=2)
    write_ts(other / "Toy_TEST.ts", *[[c * 7 for c in toy_cases(20, 1, dims=2)[0]], toy_cases(20, 1)[1]], dims=2)
    changed = task.setup(options(other))
    assert changed["mean"] == data["mean"] and changed["std"] == data["std"]
    # ... and a change to one training case does change them
    cases[train[0]] = cases[train[0]] + 10
    write_ts(other / "Toy_TRAIN.ts", cases, labels, dims=2)
    assert task.setup(options(other))["mean"] != data["mean"]


def test_missing_values_are_filled_within_their_own_series_and_channel():
    x = torch.tensor([[1.0, float("nan")], [float("nan"), 2.0], [3.0, 4.0], [float("nan"), 6.0]])
    assert fill_missing(x).tolist() == [[1.0, 2.0], [2.0, 2.0], [3.0, 4.0], [3.0, 6.0]]


def test_a_padded_batch_gives_each_series_the_logits_it_gets_alone_for_the_esn():
    cases, labels = toy_cases(6, 3)
    x = [torch.tensor(c, dtype=torch.float32) for c in cases]
    model = SequenceESN(1, 2, reservoir_size=30, seed=0)
    batch = torch.zeros(len(x), max(map(len, x)), 1)
    for i, s in enumerate(x):
        batch[i, :len(s)] = s
    model.fit(batch, torch.tensor([len(s) for s in x]), targets=torch.eye(2)[[i % 2 for i in range(6)]].double())
    together = model(batch, torch.tensor([len(s) for s in x]))[0]
    alone = torch.cat([model(s[None])[0] for s in x])
    assert torch.allclose(together, alone, atol=1e-6)
    assert together.abs().sum() > 0


@pytest.fixture(scope="module")
def fcn_run(toy, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "fcn"
    assert main(["train", "classify", "--data", str(toy), "--out", str(out), *TINY]) == 0
    return out


def test_a_run_records_test_accuracy_and_confusion_that_evaluate_reproduces(fcn_run):
    config = json.loads((fcn_run / "config.json").read_text())
    report = config["report"]
    assert report["test_accuracy"] >= 0.9  # sine against square waves: easy
    assert sum(map(sum, report["test_confusion"])) == 20
    assert sum(report["test_confusion"][i][i] for i in range(2)) == round(report["test_accuracy"] * 20)
    assert evaluate(fcn_run, split="test")["accuracy"] == report["test_accuracy"]
    assert math.isclose(evaluate(fcn_run, split="test")["loss"], report["test_loss"], rel_tol=1e-9)
    assert evaluate(fcn_run)["loss"] == pytest.approx(config["best"]["val_loss"], rel=1e-6)
    assert {"confusion.png", "loss.png"} <= set(config["plots"])
    assert (fcn_run / "plots" / "confusion.png").stat().st_size > 1000
    assert config["model"]["filters"] == [8, 8]


def test_predict_works_from_the_run_directory_alone_in_a_fresh_process(fcn_run, toy, tmp_path):
    cases, labels = toy_cases(4, 9, dims=2)
    file = write_ts(tmp_path / "new.ts", cases, labels, dims=2)
    run = subprocess.run([sys.executable, "-m", "rnnzoo", "predict", str(fcn_run), str(file)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert len(lines) == 4 and all(line.startswith(f"series {k}: ") for k, line in enumerate(lines, start=1))
    predicted = [line.split()[2] for line in lines]
    assert sum(p == t for p, t in zip(predicted, labels)) >= 3
    # a series typed on the command line: dimensions separated by ':'
    text = series_text(cases[0])
    task, model, config = load_run(fcn_run)
    assert task.predict(model, config, [text])[0].split()[2] == predicted[0]
    with pytest.raises(ValueError, match="dimension"):
        task.predict(model, config, ["1,2,3"])


def test_the_esn_classifies_in_closed_form_and_evaluate_reproduces_it(toy, tmp_path):
    out = tmp_path / "esn"
    assert main(["train", "classify", "--data", str(toy), "--model", "esn", "--units", "100", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["class"] == "SequenceESN" and config["training"]["closed_form"]
    assert config["report"]["test_accuracy"] >= 0.9
    assert evaluate(out, split="test")["accuracy"] == config["report"]["test_accuracy"]


def test_options_of_the_other_kind_of_model_are_refused_by_name(toy, tmp_path, capsys):
    assert main(["train", "classify", "--data", str(toy), "--model", "esn", "--hidden", "8",
                 "--out", str(tmp_path / "a")]) != 0
    assert "--hidden" in capsys.readouterr().err
    assert main(["train", "classify", "--data", str(toy), "--units", "10", "--out", str(tmp_path / "b")]) != 0
    assert "--units" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_bad_data_gives_one_line_naming_the_file(toy, tmp_path, capsys):
    cases, labels = toy_cases(10, 0)
    write_ts(tmp_path / "one_TRAIN.ts", cases, labels)
    write_ts(tmp_path / "one_TEST.ts", *toy_cases(4, 1, dims=2), dims=2)
    assert main(["train", "classify", "--data", str(tmp_path), "--out", str(tmp_path / "r")]) != 0
    err = capsys.readouterr().err.strip()
    assert "2 dimension(s), the training file has 1" in err and len(err.splitlines()) == 1
    targets = write_ts(tmp_path / "t.ts", cases, [str(i) for i in range(10)], target=True)
    assert main(["train", "classify", "--data", str(targets), "--out", str(tmp_path / "r")]) != 0
    assert "rnnzoo train regress" in capsys.readouterr().err
    assert main(["train", "classify", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "r")]) != 0
    assert "does not exist" in capsys.readouterr().err


def test_regress_scores_rmse_in_the_targets_own_units(tmp_path):
    g = np.random.default_rng(0)
    cases = [g.standard_normal((int(g.integers(10, 20)), 1)) for _ in range(60)]
    targets = [100 + 10 * float(c.mean()) for c in cases]
    train = write_ts(tmp_path / "r_TRAIN.ts", cases[:40], [f"{t:.6f}" for t in targets[:40]], target=True)
    write_ts(tmp_path / "r_TEST.ts", cases[40:], [f"{t:.6f}" for t in targets[40:]], target=True)
    out = tmp_path / "run"
    assert main(["train", "regress", "--data", str(train.parent), "--out", str(out), "--head", "none", "--pool",
                 "mean", "--epochs", "30", "--hidden", "8", "--threads", "1", "--lr", "0.02"]) == 0
    task, model, config = load_run(out)
    assert isinstance(task, Regress)
    outs, y = task.outputs(model, config)
    data = config["data"]
    pred = outs[:, 0].double() * data["target_std"] + data["target_mean"]
    rmse = float(((pred - torch.tensor(targets[40:], dtype=torch.float64)) ** 2).mean().sqrt())
    assert config["report"]["test_rmse"] == pytest.approx(rmse, rel=1e-5)
    assert rmse < float(np.std(targets[40:]))  # better than the mean
    assert evaluate(out, split="test")["rmse"] == config["report"]["test_rmse"]


def test_gunpoint_reads_as_the_archive_splits_it():
    data = Classify().setup(options(shared_data("timeseries", "ucr_uea", "GunPoint"), val_fraction=0.2))
    assert data["classes"] == ["1", "2"] and data["dimensions"] == 1 and data["test"].endswith("GunPoint_TEST.ts")
    cases = Classify().cases(data, "train") + Classify().cases(data, "val")
    assert len(cases) == 50 and len(Classify().cases(data, "test")) == 150


def test_regress_target_scaling_comes_from_the_training_part_alone(tmp_path):
    g = np.random.default_rng(1)
    cases = [g.standard_normal((12, 1)) for _ in range(30)]
    write_ts(tmp_path / "r_TRAIN.ts", cases[:20], [f"{v:.3f}" for v in range(20)], target=True)
    write_ts(tmp_path / "r_TEST.ts", cases[20:], [f"{v:.3f}" for v in range(10)], target=True)
    args = options(tmp_path, val_fraction=0.25)
    data = Regress().setup(args)
    write_ts(tmp_path / "r_TEST.ts", cases[20:], [f"{1000 + v:.3f}" for v in range(10)], target=True)
    assert Regress().setup(args)["target_mean"] == data["target_mean"]  # the test targets never enter
    train_idx, _ = stratified_split([float(v) for v in range(20)], 0.25, 0)
    assert data["target_mean"] == pytest.approx(np.mean(train_idx))  # nor do the validation ones
