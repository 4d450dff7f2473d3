"""The long-lag tasks (issue 22): the generators give the published layouts and statistics, bad arguments
are refused by name, each task trains end to end through the CLI, and no held-out sequence is trained on."""

import argparse
import json
import math

import pytest
import torch

from rnnzoo.cli import main
from rnnzoo.commands.train import add_common
from rnnzoo.data import long_lag as ll
from rnnzoo.train.tasks import TASKS
from rnnzoo.train.tasks.long_lag import SPLITS, split_seed


def g(seed=0):
    return torch.Generator().manual_seed(seed)


# --- generators ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("T", [2, 3, 10, 101])
def test_adding_target_is_the_sum_of_exactly_two_marked_values_one_in_each_half(T):
    x, y = ll.adding_batch(500, T, g())
    values, marks = x[..., 0], x[..., 1]
    assert x.shape == (500, T, 2) and y.shape == (500,)
    assert set(marks.unique().tolist()) <= {0.0, 1.0} and (values >= 0).all() and (values < 1).all()
    assert (marks[:, :T // 2].sum(1) == 1).all() and (marks[:, T // 2:].sum(1) == 1).all()
    first, second = marks.argmax(1), T - 1 - marks.flip(1).argmax(1)
    rows = torch.arange(500)
    torch.testing.assert_close(y, values[rows, first] + values[rows, second], rtol=0, atol=1e-6)


def test_adding_mean_predictor_mse_is_one_sixth():
    """Always answering 1.0: MSE = Var(U + U') = 1/6. On 20000 sequences the estimate's standard error is
    sqrt(Var((S - 1)^2) / n) = sqrt(7/90 - 1/36) / sqrt(20000) = 0.0016; tolerance 0.005 (3 standard errors)."""
    _, y = ll.adding_batch(20000, 50, g(1))
    assert float(((y - 1.0) ** 2).mean()) == pytest.approx(ll.ADDING_BASELINE_MSE, abs=0.005)
    assert float(y.mean()) == pytest.approx(1.0, abs=0.01)
    assert ll.ADDING_BASELINE_MSE == pytest.approx(0.1667, abs=1e-4)


def test_adding_tenth_form_puts_the_first_mark_in_the_first_tenth():
    x, _ = ll.adding_batch(300, 50, g(), first="tenth")
    marks = x[..., 1]
    assert (marks[:, :5].sum(1) == 1).all() and (marks[:, 25:].sum(1) == 1).all() and (marks.sum(1) == 2).all()


@pytest.mark.parametrize("T", [1, 5, 30])
def test_copy_layout_is_arjovskys(T):
    x, y = ll.copy_batch(200, T, g())
    assert x.shape == y.shape == (200, T + 20) and x.dtype == torch.long
    symbols = x[:, :10]
    assert (symbols >= 0).all() and (symbols < 8).all()
    assert (x[:, 10:T + 9] == ll.BLANK).all()        # T - 1 blanks
    assert (x[:, T + 9] == ll.DELIMITER).all()        # the delimiter: the last step of the blank phase
    assert (x[:, T + 10:] == ll.BLANK).all()          # 10 more blanks
    assert (y[:, :T + 10] == ll.BLANK).all() and torch.equal(y[:, T + 10:], symbols)
    assert len(symbols.unique()) == 8                 # all 8 categories drawn


@pytest.mark.parametrize("T", [1, 100, 1000])
def test_copy_memoryless_baseline_scores_10_log_8_over_T_plus_20(T):
    """Blank with certainty for T + 10 steps, then uniform over the 8 symbols: the cross-entropy of that
    strategy, computed on a batch, is the published 10 log(8) / (T + 20)."""
    x, y = ll.copy_batch(50, T, g())
    probs = torch.full((50, T + 20, ll.COPY_CLASSES), 1e-30)
    probs[:, :T + 10, ll.BLANK] = 1.0
    probs[:, T + 10:, :8] = 1 / 8
    ce = torch.nn.functional.nll_loss(probs.log().flatten(0, 1), y.flatten())
    assert float(ce) == pytest.approx(10 * math.log(8) / (T + 20), rel=1e-5)
    assert ll.copy_baseline_loss(T) == pytest.approx(10 * math.log(8) / (T + 20))


@pytest.mark.parametrize("p", [2, 5, 100])
def test_first_symbol_sequences_are_x_or_y_then_the_distractors_in_order(p):
    x, y = ll.first_symbol_batch(400, p, g())
    x_id, y_id = ll.first_symbols(p)
    assert x.shape == (400, p) and (x_id, y_id) == (p - 1, p)
    assert torch.equal(x[:, 0], y) and set(y.tolist()) == {x_id, y_id}   # the target is the first symbol
    assert (x[:, 1:] == torch.arange(p - 1)).all()                       # a_1 ... a_{p-1}, fixed (task 2a)
    assert 0.4 < float((y == x_id).float().mean()) < 0.6                 # each with probability 1/2
    assert len({tuple(s) for s in x.tolist()}) == 2                      # only two sequences


def test_first_symbol_random_distractors_are_drawn_from_a_1_to_a_p_minus_1():
    x, y = ll.first_symbol_batch(400, 20, g(), distractors="random")
    assert torch.equal(x[:, 0], y) and (x[:, 1:] >= 0).all() and (x[:, 1:] < 19).all()
    assert len(x[:, 1:].unique()) == 19 and len({tuple(s) for s in x.tolist()}) == 400


def test_generators_are_reproducible_from_the_generator_alone():
    torch.manual_seed(0)
    a = ll.copy_batch(10, 7, g(3))
    torch.manual_seed(1)  # the global generator plays no part
    assert all(torch.equal(u, v) for u, v in zip(a, ll.copy_batch(10, 7, g(3))))


@pytest.mark.parametrize("call, error, message", [
    (lambda: ll.adding_batch(4, 1, g()), ValueError, "T must be >= 2"),
    (lambda: ll.adding_batch(0, 10, g()), ValueError, "n must be >= 1"),
    (lambda: ll.adding_batch(4, 10.0, g()), TypeError, "T must be an int"),
    (lambda: ll.adding_batch(4, 10, g(), first="third"), ValueError, "first must be 'half' or 'tenth'"),
    (lambda: ll.adding_batch(4, 10, 0), TypeError, "generator must be a torch.Generator"),
    (lambda: ll.copy_batch(4, 0, g()), ValueError, "T must be >= 1"),
    (lambda: ll.copy_baseline_loss(0), ValueError, "T must be >= 1"),
    (lambda: ll.first_symbol_batch(4, 1, g()), ValueError, "p must be >= 2"),
    (lambda: ll.first_symbol_batch(4, 5, g(), distractors="noisy"), ValueError, "distractors must be"),
])
def test_bad_arguments_are_refused_by_name(call, error, message):
    with pytest.raises(error, match=message):
        call()


# --- the tasks through the CLI ------------------------------------------------------------------------
QUICK = ["--threads", "1", "--epochs", "1", "--hidden", "8", "--train-size", "64", "--val-size", "20",
         "--test-size", "20", "--length", "12"]


@pytest.mark.parametrize("task, metric", [("adding", "val_mse"), ("copy", "val_loss"),
                                          ("first-symbol", "val_accuracy")])
def test_each_task_trains_evaluates_and_predicts_through_the_cli(tmp_path, capsys, task, metric):
    out = tmp_path / task
    assert main(["train", task, *QUICK, "--model", "gru", "--out", str(out)]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["cell"] == "gru" and config["data"]["length"] == 12 and metric in config["best"]
    assert all(k.startswith("test_") for k in config["report"])
    capsys.readouterr()
    assert main(["evaluate", str(out)]) == 0
    figures = dict(line.split(": ") for line in capsys.readouterr().out.strip().splitlines())
    assert float(figures[metric[4:]]) == pytest.approx(config["best"][metric], abs=1e-5)  # logged in float32
    assert float(figures[f"test_{metric[4:]}"]) == pytest.approx(config["report"][f"test_{metric[4:]}"])
    assert main(["evaluate", str(out), "--split", "test"]) == 0  # the test set alone, unprefixed
    alone = dict(line.split(": ") for line in capsys.readouterr().out.strip().splitlines())
    assert float(alone[metric[4:]]) == pytest.approx(config["report"][f"test_{metric[4:]}"])
    inputs = {"adding": ["0.25", "0.5"], "copy": ["1234567812"], "first-symbol": ["y"]}[task]
    assert main(["predict", str(out), *inputs]) == 0
    assert capsys.readouterr().out.strip()
    assert main(["evaluate", str(out), "--data", str(tmp_path)]) != 0
    assert "generates its data; --data is not used" in capsys.readouterr().err


def test_the_tasks_refuse_a_bad_length_and_data(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["train", "adding", "--length", "1", "--out", str(tmp_path / "a")])
    assert "--length" in capsys.readouterr().err
    assert main(["train", "copy", *QUICK, "--data", "x.txt", "--out", str(tmp_path / "b")]) != 0
    assert "task copy generates its data; --data is not used" in capsys.readouterr().err


def test_the_default_lengths_are_100():
    for name in ("adding", "copy", "first-symbol"):
        assert task_args(TASKS[name]).length == 100


# --- splits --------------------------------------------------------------------------------------------
def task_args(task, *argv):
    parser = argparse.ArgumentParser()
    add_common(parser, task)
    task.add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


def rows(tensor) -> set:
    return {tuple(r) for r in tensor.flatten(1).tolist()}


def test_split_seeds_never_coincide():
    """Seeds 3s, 3s + 1, 3s + 2: any two (seed, split) pairs that differ have different generator seeds."""
    seen = {split_seed(s, k): (s, k) for s in range(300) for k in SPLITS}
    assert len(seen) == 300 * 3


@pytest.mark.parametrize("name", ["adding", "copy"])
def test_no_validation_or_test_sequence_is_trained_on(name):
    task = TASKS[name]
    args = task_args(task, "--length", 3, "--train-size", 3000, "--val-size", 300, "--test-size", 300, "--seed", 4)
    data = task.setup(args)
    train_loader, val_loader = task.loaders(args, data)
    train = rows(torch.cat([x for x, _ in train_loader]))
    val = rows(torch.cat([x for x, _ in val_loader]))
    test = rows(task.split(data, "test")[0])
    assert len(train) == 3000 and len(val) == 300 and len(test) == 300
    assert not train & val and not train & test and not val & test
    assert rows(torch.cat([x for x, _ in task.evaluation_loader({"data": data}, None)])) == val  # evaluate's


def test_copy_redraws_a_training_sequence_that_equals_a_held_out_one(monkeypatch):
    """8^10 possible sequences make chance overlaps rare: plant one in the training draw by hand."""
    task = TASKS["copy"]
    data = task.setup(task_args(task, "--length", 2, "--train-size", 50, "--val-size", 5, "--test-size", 5))
    held = task.split(data, "val")[0][0]
    original = task.draw

    def planting(n, length, generator):
        x, y = original(n, length, generator)
        if n == 50:  # the training draw: the held-out sequence as row 7
            x[7], y[7, -10:] = held, held[:10]
        return x, y

    monkeypatch.setattr(task, "draw", planting)
    train = task.split(data, "train")[0]
    assert len(train) == 50 and tuple(held.tolist()) not in rows(train)


def test_first_symbol_splits_come_from_their_own_generators():
    """Task 2a has two sequences, so held-out sets repeat them by definition; the splits' draws are independent
    (seeds 3s, 3s + 1, 3s + 2) and the held-out sets do not depend on the training size."""
    task = TASKS["first-symbol"]
    small = task.setup(task_args(task, "--length", 5, "--train-size", 10, "--seed", 2))
    big = task.setup(task_args(task, "--length", 5, "--train-size", 5000, "--seed", 2))
    for split in ("val", "test"):
        assert all(torch.equal(a, b) for a, b in zip(task.split(small, split), task.split(big, split)))
    assert not torch.equal(task.split(small, "val")[1], task.split(small, "test")[1])
