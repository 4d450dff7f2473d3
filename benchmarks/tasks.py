"""Model quality of `rnnzoo train` on the three classic tasks, against the targets of the issue.

Each row trains through the real command (`python -m rnnzoo train ...`, a fresh process, at the defaults a
user gets: --threads auto) with a wall-clock budget, then evaluates the saved run from its files. Run one
group at a time, on an otherwise idle machine:

    python benchmarks/tasks.py addition                  # Elman, LSTM, GRU: 100% within 60 s?
    python benchmarks/tasks.py sentiment80 --data ../shared/data/imdb/aclImdb_labeled.tar.gz
    python benchmarks/tasks.py sentiment-full --data ../shared/data/imdb/aclImdb_labeled.tar.gz
    python benchmarks/tasks.py charlm-alice
    python benchmarks/tasks.py charlm-shakespeare --data ../shared/data/text/tiny_shakespeare.txt

Prints one markdown row per run: figure reached, target, wall time, and the command to reproduce it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnzoo.train.fit import evaluate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # measure.py, beside this script
from measure import command_env  # noqa: E402

# name -> list of (label, train arguments, metric, target, comparison)
GROUPS = {
    "addition": [
        (f"addition {m}", ["addition", "--model", m, "--max-time", "60"],
         "accuracy", 1.0, ">=") for m in ("elman", "lstm", "gru")],
    "sentiment80": [
        ("sentiment LSTM(128), last 80 words", ["sentiment", "--model", "lstm", "--hidden", "128",
         "--max-words", "80", "--max-time", "900"], "accuracy", 0.840, ">=")],
    "sentiment-full": [
        ("sentiment BiLSTM(128), <= 400 words", ["sentiment", "--model", "lstm", "--hidden", "128",
         "--bidirectional", "--max-words", "0", "--cap", "400", "--pool", "max", "--epochs", "10",
         "--vocab-size", "20000", "--recurrent-dropout", "0",
         "--max-time", "3600"], "accuracy", 0.880, ">=")],
    "charlm-alice": [
        ("charlm Alice 2x256 LSTM", ["charlm", "--max-time", "900"], "loss", 1.40, "<=")],
    "charlm-shakespeare": [
        ("charlm tiny Shakespeare 2x384 LSTM", ["charlm", "--hidden", "384", "--batch-size", "64",
         "--dropout", "0.1", "--io-dropout", "0.1", "--epochs", "100", "--max-time", "840"],
         "loss", 1.45, "<=")],
}


def run_row(label, args, metric, target, cmp, data, out_root):
    out = Path(out_root) / label.replace(" ", "_").replace(",", "").replace("(", "").replace(")", "")
    argv = ["train", *args, "--out", str(out)] + (["--data", data] if data else [])
    started = time.perf_counter()
    # the command in its own process, as a user runs it: its thread policy and OpenMP setting
    # (rnnzoo.threads) apply only to a process that starts as `rnnzoo`
    code = subprocess.run([sys.executable, "-m", "rnnzoo", *argv], env=command_env()).returncode
    seconds = time.perf_counter() - started
    if code != 0:
        return f"| {label} | failed (exit {code}) | {cmp} {target} | {seconds:.0f} s | `rnnzoo {shlex.join(argv)}` |"
    config = json.loads((out / "config.json").read_text())
    extra = {}
    if config["task"] == "sentiment":
        extra = {"split": "test"}  # the target is on the 25,000 official test reviews
    figures = evaluate(out, None, **extra)
    value = figures[metric]
    ok = value >= target if cmp == ">=" else value <= target
    note = ""
    if config["task"] == "addition":
        note = f"; 32-bit: {evaluate(out, None, bits=32)['accuracy']:.1%}"
    if config["task"] == "charlm":
        note = f" nats/char ({figures['bits_per_char']:.3f} bits/char), validation = last 10%"
    if config["task"] == "sentiment":
        note = f" on the test split (val {config['best']['val_accuracy']:.4f})"
    return (f"| {label} | {value:.4f}{note} | {cmp} {target} {'MET' if ok else 'MISSED'} | "
            f"{config['seconds']:.0f} s train, {config['epochs_run']} epochs | `rnnzoo {shlex.join(argv)}` |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("groups", nargs="+", choices=sorted(GROUPS))
    parser.add_argument("--data", default=None, help="data file or folder for the group")
    parser.add_argument("--out", default=None, help="keep the run directories here")
    args = parser.parse_args(argv)
    out_root = args.out or tempfile.mkdtemp(prefix="rnnzoo-tasks-")
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, the commands' default threads (auto); runs in {out_root}")
    print("| run | reached | target | time | command |\n|---|---|---|---|---|")
    for group in args.groups:
        for row in GROUPS[group]:
            print(run_row(*row, args.data, out_root), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
