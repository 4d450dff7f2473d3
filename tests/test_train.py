"""`rnnzoo train / evaluate / predict / generate` end to end on tiny slices of real data."""

import csv
import json
import math
import os
import subprocess
import sys

import pytest
import torch
from conftest import shared_data
from safetensors.torch import load_file

from rnnzoo import registry
from rnnzoo.cli import main
from rnnzoo.train import run as rundir

FAST = ["--threads", "1", "--epochs", "1"]
ADDITION = ["addition", "--train-size", "256", "--val-size", "100", "--hidden", "8", "--batch-size", "32"]


def train(tmp_path, *args, name="run"):
    out = tmp_path / name
    assert main(["train", *args, "--out", str(out)]) == 0
    return out


def fresh_process(*args):
    """The CLI in a new Python process: proves the run directory alone is enough."""
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "rnnzoo", *args], capture_output=True, text=True,
                          env=env, timeout=120)


def assert_complete(run_dir):
    config = json.loads((run_dir / "config.json").read_text())
    for name in ("model.safetensors", "last.safetensors", "metrics.csv", "checkpoints/last.ckpt"):
        assert (run_dir / name).is_file(), name
    assert any((run_dir / "tensorboard").iterdir())
    plots = sorted(p.name for p in (run_dir / "plots").glob("*.png"))
    assert "loss.png" in plots and len(plots) >= 3 and plots == sorted(config["plots"])
    return config


def evaluated(run_dir, capsys, *extra):
    capsys.readouterr()
    assert main(["evaluate", str(run_dir), *extra]) == 0
    return dict(line.split(": ") for line in capsys.readouterr().out.strip().splitlines())


def test_addition_trains_evaluates_and_predicts_from_saved_files(tmp_path, capsys):
    run = train(tmp_path, *ADDITION, "--model", "gru", "--epochs", "3", "--threads", "1")
    config = assert_complete(run)
    metrics = evaluated(run, capsys)
    assert float(metrics["accuracy"]) == pytest.approx(config["best"]["val_accuracy"], abs=1e-9)
    done = fresh_process("predict", str(run), "173", "62")
    assert done.returncode == 0 and done.stdout.startswith("173 + 62 = "), done.stderr
    assert "accuracy" in evaluated(run, capsys, "--bits", "16")


def test_charlm_trains_statefully_and_generates_in_a_fresh_process(tmp_path, capsys):
    run = train(tmp_path, "charlm", *FAST, "--max-chars", "6000", "--bptt", "16", "--batch-size", "8",
                "--hidden", "16", "--layers", "1", "--embed", "8")
    config = assert_complete(run)
    assert 0 < config["train_seconds"] <= config["seconds"] + 0.05  # training batches only (seconds: 0.1 s steps)
    metrics = evaluated(run, capsys)
    assert float(metrics["loss"]) == pytest.approx(config["best"]["val_loss"], rel=1e-6)
    assert float(metrics["bits_per_char"]) == pytest.approx(float(metrics["loss"]) / 0.6931471805599453)
    assert (run / "plots" / "surprise.png").is_file() and (run / "sample.txt").is_file()
    done = fresh_process("generate", str(run), "--prompt", "Alice", "--length", "40", "--seed", "1",
                         "--top-k", "5")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Alice") and len(done.stdout.rstrip("\n")) == 45
    greedy = fresh_process("generate", str(run), "--prompt", "Alice", "--length", "20", "--greedy")
    assert greedy.returncode == 0 and greedy.stdout.startswith("Alice")


def test_sentiment_trains_on_imdb_slice_with_lengths_and_predicts(tmp_path, capsys):
    imdb = shared_data("imdb", "aclImdb_labeled.tar.gz")
    run = train(tmp_path, "sentiment", *FAST, "--data", str(imdb), "--limit", "400", "--max-words", "30",
                "--hidden", "8", "--embed", "8", "--vocab-size", "2000", "--bidirectional")
    config = assert_complete(run)
    # ids 0 (padding) and 1 (unknown) come on top of the words: the embedding must hold every id
    assert config["model"]["vocab_size"] == len(config["data"]["vocab"]["words"]) + 2 <= 2000
    metrics = evaluated(run, capsys)
    # the logged figure is float32 (Lightning's logging), well within one review in 40 of the recomputed one
    assert float(metrics["accuracy"]) == pytest.approx(config["best"]["val_accuracy"], abs=1e-6)
    done = fresh_process("predict", str(run), "A wonderful, moving film. I loved it.")
    assert done.returncode == 0 and ("positive" in done.stdout or "negative" in done.stdout), done.stderr


def test_sentiment_cut_keeps_the_last_words_with_their_punctuation():
    from rnnzoo.data.imdb import tokenize
    from rnnzoo.train.tasks.sentiment import Sentiment
    tokens = tokenize("Long, dull start. But the end: great fun!!")
    assert Sentiment._last_words(tokens, 3) == ["end", ":", "great", "fun", "!", "!"]
    assert Sentiment._last_words(tokens, 1) == ["fun", "!", "!"]
    assert Sentiment._last_words(tokens, 50) == tokens  # shorter reviews stay whole


def test_resume_continues_from_the_checkpoint_with_the_same_steps_and_optimizer(tmp_path):
    straight = train(tmp_path, *ADDITION, "--threads", "1", "--epochs", "2", name="straight")
    part = train(tmp_path, *ADDITION, "--threads", "1", "--epochs", "1", name="part")
    first = json.loads((part / "config.json").read_text())
    steps_after_one = first["steps"]
    assert main(["train", *ADDITION, "--threads", "1", "--epochs", "2", "--out", str(part), "--resume"]) == 0
    resumed = json.loads((part / "config.json").read_text())
    assert resumed["train_seconds"] > first["train_seconds"] > 0  # the training clock kept counting
    assert resumed["steps"] == json.loads((straight / "config.json").read_text())["steps"] == 2 * steps_after_one
    a, b = load_file(straight / "last.safetensors"), load_file(part / "last.safetensors")
    for key in a:  # same weights only if the optimizer state (Adam moments) was restored too
        torch.testing.assert_close(a[key], b[key], atol=1e-6, rtol=0)


def test_the_cosine_schedule_anneals_the_lr_each_epoch_from_lr_towards_zero(tmp_path):
    out = train(tmp_path, *ADDITION, "--threads", "1", "--epochs", "3", "--lr-schedule", "cosine", "--lr", "0.01")
    logged = [float(r["lr-Adam"]) for r in csv.DictReader(open(out / "metrics.csv")) if r.get("lr-Adam")]
    by_epoch = list(dict.fromkeys(logged))  # the distinct rates in step order
    assert by_epoch == pytest.approx([0.01 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)], rel=1e-9)


@pytest.mark.parametrize("entry", [e for e in registry.entries() if not e.spatial], ids=lambda e: e.name)
def test_every_vector_architecture_trains_on_addition(tmp_path, entry):
    run = train(tmp_path, *ADDITION, *FAST, "--model", entry.name, "--train-size", "64")
    assert json.loads((run / "config.json").read_text())["model"]["cell"] == entry.name


def test_cell_options_pass_through_and_unknown_ones_are_refused(tmp_path, capsys):
    run = train(tmp_path, *ADDITION, *FAST, "--model", "lstm", "--peephole", "--train-size", "64")
    assert json.loads((run / "config.json").read_text())["model"]["cell_options"] == {"peephole": True}
    assert main(["train", *ADDITION, "--model", "gru", "--peephole", "--out", str(tmp_path / "x")]) == 1
    assert "has no option(s) --peephole" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main(["train", *ADDITION, "--model", "conv_lstm", "--out", str(tmp_path / "y")]) == 1
    assert "reads images" in capsys.readouterr().err


def test_ddp_on_two_cpu_processes_matches_one_process_with_the_same_global_batch(tmp_path):
    common = [*ADDITION, "--epochs", "2", "--seed", "3"]
    one = fresh_process("train", *common, "--threads", "1", "--batch-size", "32", "--out", str(tmp_path / "one"))
    two = fresh_process("train", *common, "--batch-size", "16", "--devices", "2", "--strategy", "ddp",
                        "--out", str(tmp_path / "two"))  # --threads auto: the processes share the cores
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    assert "MEMBER: 2/2" in two.stderr + two.stdout
    a = json.loads((tmp_path / "one" / "config.json").read_text())
    b = json.loads((tmp_path / "two" / "config.json").read_text())
    assert a["steps"] == b["steps"]
    assert b["threads"]["processes"] == 2 and b["threads"]["threads"] == 1
    assert b["best"]["val_accuracy"] == pytest.approx(a["best"]["val_accuracy"], abs=0.01)
    wa, wb = load_file(tmp_path / "one" / "last.safetensors"), load_file(tmp_path / "two" / "last.safetensors")
    for key in wa:
        torch.testing.assert_close(wa[key], wb[key], atol=1e-4, rtol=0)


# --- bad input: one clear line, a non-zero exit, and no run directory that looks complete -----

def error_of(capsys, *argv):
    capsys.readouterr()
    code = main(list(argv))
    err = capsys.readouterr().err.strip()
    assert code != 0 and err.startswith("rnnzoo: error:") and "\n" not in err, err
    return err


def test_bad_data_gives_one_line_errors_and_leaves_no_run(tmp_path, capsys):
    empty, latin = tmp_path / "empty.txt", tmp_path / "latin.txt"
    empty.write_text("")
    latin.write_bytes("caf\xe9 au lait".encode("latin-1"))
    csv = tmp_path / "reviews.csv"
    csv.write_text("review,score\ngood film,1\n")
    truncated = tmp_path / "cut.tar.gz"
    truncated.write_bytes(shared_data("imdb", "aclImdb_labeled.tar.gz").read_bytes()[:200_000])
    cases = [
        (["charlm", "--data", str(tmp_path / "missing.txt")], "missing.txt"),
        (["charlm", "--data", str(empty)], "empty"),
        (["charlm", "--data", str(latin)], "UTF-8"),
        (["sentiment", "--data", str(csv)], "column"),
        (["sentiment", "--data", str(truncated)], "truncated or corrupt"),
        (["addition", "--model", "lstmm"], "unknown architecture"),
    ]
    for args, expected in cases:
        out = tmp_path / "out"
        err = error_of(capsys, "train", *args, *FAST, "--out", str(out))
        assert expected in err, err
        assert not (out / "config.json").exists()


def test_tampered_or_truncated_model_and_bad_config_are_refused(tmp_path, capsys):
    run = train(tmp_path, *ADDITION, *FAST)
    weights = run / "model.safetensors"
    original = weights.read_bytes()
    weights.write_bytes(original[: len(original) // 2])
    assert "truncated or was altered" in error_of(capsys, "predict", str(run), "1", "2")
    tampered = bytearray(original)
    tampered[-1] ^= 0xFF
    weights.write_bytes(bytes(tampered))
    assert "truncated or was altered" in error_of(capsys, "evaluate", str(run))
    weights.write_bytes(original)
    config = json.loads((run / "config.json").read_text())
    config["model"]["cell"] = "no_such_cell"
    rundir.write_config(run, config)  # a config that checks out (signed anew) but names no model
    assert "cannot build" in error_of(capsys, "predict", str(run), "1", "2")
    (run / "config.json").write_text("{not json")
    assert "not valid JSON" in error_of(capsys, "evaluate", str(run))
    assert "does not exist" in error_of(capsys, "evaluate", str(tmp_path / "nowhere"))


def test_existing_output_directory_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert "exists and is not empty" in error_of(capsys, "train", *ADDITION, *FAST, "--out", str(out))
    assert (out / "keep.txt").read_text() == "mine"
    assert "nothing to resume" in error_of(capsys, "train", *ADDITION, *FAST, "--out",
                                           str(tmp_path / "new"), "--resume")


def test_config_file_supplies_options_and_flags_override_it(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"hidden": 6, "model": "elman", "activation": "relu", "epochs": 1}))
    run = train(tmp_path, *ADDITION, "--threads", "1", "--config", str(cfg), "--hidden", "5")
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["hidden_size"] == 5 and config["model"]["cell"] == "elman"
    assert config["model"]["cell_options"] == {"activation": "relu"}
    cfg.write_text(json.dumps({"hiden": 6}))
    assert "unknown option 'hiden'" in error_of(capsys, "train", *ADDITION, "--config", str(cfg),
                                                "--out", str(tmp_path / "z"))


def test_tasks_command_lists_every_task(capsys):
    from rnnzoo.train.tasks import TASKS
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in TASKS:
        assert out.count(f"{name}  ") == 1


def test_train_says_once_when_unbuilt_compiled_kernels_would_speed_it_up(tmp_path, capsys, monkeypatch):
    from rnnzoo.engine import native
    monkeypatch.setattr(native, "load", lambda build=False: None)  # a machine without the build
    monkeypatch.delenv("RNNZOO_NATIVE", raising=False)
    train(tmp_path, *ADDITION, *FAST, "--model", "jordan", "--layers", "2", name="unbuilt")
    out = capsys.readouterr().out
    gain = min(registry.get("jordan").engine.native_gain)[1]
    assert out.count("rnnzoo native build") == (1 if gain >= 1.2 else 0)  # two layers, one line
