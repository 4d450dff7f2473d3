"""--resume after a SIGKILL at any point gives the run an uninterrupted one gives: same final weights, the
same best, a complete run directory and metrics.csv with every row once; and every state of a run
directory gets one clear line, checked before anything is touched."""

import csv
import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from rnnzoo.cli import build_parser, main
from rnnzoo.train import resume
from rnnzoo.train.records import RunCSVLogger
from rnnzoo.train.run import RunError

# 34 steps an epoch: checkpoints at the ends of epochs (steps 34, 68, 102, 136) and mid-epoch at step 100
RUN = ["addition", "--train-size", "1600", "--val-size", "64", "--hidden", "8", "--batch-size", "48",
       "--epochs", "4", "--patience", "10", "--threads", "1", "--seed", "3"]

# Runs the CLI in a fresh process that SIGKILLs itself at a chosen point: "save:N" right after the N-th
# checkpoint is written, "before-save:N" just before it, "export" just before config.json is written.
KILLER = r"""
import os, signal, sys
from rnnzoo.cli import main
from rnnzoo.train import records, run
point = sys.argv[1]
kind, _, n = point.partition(":")
if kind in ("save", "before-save"):
    real, done = records.RunCheckpoint._save, [0]
    def _save(self, trainer):
        if trainer.global_step == self._saved_at:
            return real(self, trainer)
        done[0] += 1
        if kind == "before-save" and done[0] == int(n):
            os.kill(os.getpid(), signal.SIGKILL)
        real(self, trainer)
        if kind == "save" and done[0] == int(n):
            os.kill(os.getpid(), signal.SIGKILL)
    records.RunCheckpoint._save = _save
elif kind == "export":
    def write_config(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)
    run.write_config = write_config
sys.exit(main(sys.argv[2:]))
"""


def cli_process(*args, kill_at=None):
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    command = [sys.executable, "-c", KILLER, kill_at or "none", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def rows(run_dir) -> list[dict]:
    with open(run_dir / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def finish(out) -> int:
    """Resume (or restart) a killed run until it is complete, as a user would; returns the tries taken."""
    for tries in range(1, 6):
        now = resume.state(out)
        if now == "finished":
            return tries - 1
        again = cli_process("train", *RUN, "--out", str(out), *(["--resume"] if now == "unfinished" else []))
        assert again.returncode == 0, again.stderr[-2000:]
    raise AssertionError(f"{out} did not finish")


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    out = tmp_path_factory.mktemp("straight") / "run"
    done = cli_process("train", *RUN, "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    return out


def assert_same_run(out, straight):
    a, b = load_file(straight / "last.safetensors"), load_file(out / "last.safetensors")
    for key in a:  # same weights only if the optimizer, the LR schedule and the data order were restored
        torch.testing.assert_close(b[key], a[key], atol=1e-6, rtol=0)
    config, expected = (json.loads((d / "config.json").read_text()) for d in (out, straight))
    assert config["best"] == pytest.approx(expected["best"]) and config["steps"] == expected["steps"]
    assert config["epochs_run"] == expected["epochs_run"] == 4
    assert (out / "model.safetensors").is_file() and sorted(config["plots"]) == sorted(expected["plots"])
    got, want = rows(out), rows(straight)
    assert [(r["epoch"], r["step"]) for r in got] == [(r["epoch"], r["step"]) for r in want]  # each row once
    for r, w in zip(got, want):
        for key in ("val_accuracy", "val_loss", "train_loss_epoch", "train_loss_step"):
            assert (r.get(key) or None) == (w.get(key) or None) or float(r[key]) == pytest.approx(float(w[key]))
    best = max(float(r["val_accuracy"]) for r in got if r.get("val_accuracy"))
    assert config["best"]["val_accuracy"] == pytest.approx(best)  # --resume kept the best so far


@pytest.mark.parametrize("kill_at", ["before-save:1", "save:2", "save:3", "before-save:4", "export"],
                         ids=["before-first-checkpoint", "after-second-checkpoint", "after-a-mid-epoch-checkpoint",
                              "mid-run", "during-export"])
def test_a_run_killed_at_any_point_resumes_to_the_uninterrupted_run(tmp_path, straight, kill_at):
    out = tmp_path / "run"
    killed = cli_process("train", *RUN, "--out", str(out), kill_at=kill_at)
    assert killed.returncode == -signal.SIGKILL
    assert not (out / "config.json").exists()  # never looks finished
    assert finish(out) == 1
    assert_same_run(out, straight)


def test_a_run_killed_at_random_moments_resumes_to_the_uninterrupted_run(tmp_path, straight):
    out, rng = tmp_path / "run", random.Random(7)
    command = [sys.executable, "-m", "rnnzoo", "train", *RUN, "--out", str(out)]
    for _ in range(3):
        now = resume.state(out)
        if now == "finished":
            break
        process = subprocess.Popen(command + (["--resume"] if now == "unfinished" else []),
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(2.0, 6.0))  # the imports take ~2 s, then a few epochs a second
        process.send_signal(signal.SIGKILL)
        process.wait()
    finish(out)
    assert_same_run(out, straight)


def test_each_state_of_a_run_directory_gets_one_line_before_anything_is_touched(tmp_path, capsys, straight):
    def refused(*args) -> str:
        capsys.readouterr()
        assert main(["train", *RUN, *args]) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "Traceback" not in err, err
        return err

    snapshot = {p: p.read_bytes() for p in straight.rglob("*") if p.is_file()}
    assert "is finished (4 epochs of --epochs 4); pass a larger --epochs" in refused("--out", str(straight), "--resume")
    assert "--model 'gru' (the run has 'lstm')" in refused("--out", str(straight), "--resume", "--epochs", "5",
                                                          "--model", "gru")
    assert "--bits 9 (the run has 8)" in refused("--out", str(straight), "--resume", "--epochs", "5", "--bits", "9")
    assert "holds a finished run" in refused("--out", str(straight))
    assert {p: p.read_bytes() for p in straight.rglob("*") if p.is_file()} == snapshot  # nothing touched
    assert "nothing to resume" in refused("--out", str(tmp_path / "none"), "--resume")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("a user's file")
    assert "exists and is not empty" in refused("--out", str(tmp_path / "mine"))
    assert "nothing to resume" in refused("--out", str(tmp_path / "mine"), "--resume")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "a user's file"


def test_a_finished_run_trains_further_with_a_larger_epochs(tmp_path, straight):
    out = tmp_path / "more"
    done = cli_process("train", *RUN, "--epochs", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    again = cli_process("train", *RUN[:-8], "--out", str(out), "--resume", "--epochs", "4")  # other options: the run's
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 4
    assert_same_run(out, straight)  # 2 epochs, then 2 more: the 4-epoch run


# --resume's own files, damaged (found by benchmarks/fuzz.py: json, torch.load and csv errors came out as
# they were, many not naming the file, some as internal errors)
@pytest.fixture
def unfinished(tmp_path):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    torch.save({"global_step": 4}, run_dir / "checkpoints" / "last.ckpt")
    args = build_parser().parse_args(["train", "addition", "--out", str(run_dir)])
    resume.save_options(run_dir, args)
    return run_dir


@pytest.mark.parametrize("content", [b"{", b"\xff\xfe{}", b"[" * 100_000, b"[1, 2]", b"null"])
def test_a_damaged_options_json_is_one_run_error_naming_it(unfinished, content):
    (unfinished / "checkpoints" / "options.json").write_bytes(content)
    args = build_parser().parse_args(["train", "addition", "--resume", "--out", str(unfinished)])
    args.given = {"resume", "out"}
    path = unfinished / "checkpoints" / "options.json"
    with pytest.raises(RunError, match=f"^{re.escape(str(path))} is damaged"):
        resume.check(unfinished, args)


@pytest.mark.parametrize("damage", ["empty", "cut", "bytes", "no global_step"])
def test_a_damaged_checkpoint_is_one_run_error_naming_it(unfinished, damage):
    path = unfinished / "checkpoints" / "last.ckpt"
    assert resume.checkpoint_step(unfinished) == 4
    if damage == "no global_step":
        torch.save({"epoch": 1}, path)
    else:
        path.write_bytes({"empty": b"", "cut": path.read_bytes()[:300], "bytes": b"\x80\x02garbage"}[damage])
    with pytest.raises(RunError, match=rf"^{re.escape(str(path))} is not a readable checkpoint \(\w+"):
        resume.checkpoint_step(unfinished)


def test_a_damaged_metrics_csv_is_one_run_error_naming_it(unfinished):
    path = unfinished / "metrics.csv"
    path.write_text("epoch,step,val_loss\n0,1,0.5\n0,inf,0.4\n0,9,0.3\n")
    assert [row["step"] for row in RunCSVLogger(unfinished, resume_step=4)._kept] == ["1", "inf"]  # inf: step 0
    for content in (b"epoch,step\n0,\xff\n", b"epoch,step\n0," + b"1" * 200_000 + b"\n"):
        path.write_bytes(content)
        with pytest.raises(RunError, match=f"^{re.escape(str(path))} is damaged"):
            RunCSVLogger(unfinished, resume_step=4)
