"""benchmarks/tasks_family.py runs end to end with --quick, in process: the command line, a row per
Tomita grammar with a number per model, and the irregular-series and next-frame sections, with finite
numbers. Nothing here asserts an accuracy or a time (the learning tests sit with each task's data)."""

import importlib.util
import math
import re
from pathlib import Path

import torch

from rnnzoo.data.tomita import GRAMMARS

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "tasks_family.py"
NUMBER = r"(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"


def load():
    spec = importlib.util.spec_from_file_location("rnnzoo_benchmark_tasks_family", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_run_prints_a_row_per_grammar_and_all_three_sections(capsys):
    threads = torch.get_num_threads()
    results = load().main(["--quick", "--seed", "1", "--threads", "1"])
    out = capsys.readouterr().out
    assert torch.get_num_threads() == threads  # main() restores the caller's thread count
    assert "`python benchmarks/tasks_family.py --quick --seed 1 --threads 1`" in out
    for section in ("## (a) Tomita", "## (b) Irregularly sampled series", "## (c) Next-frame prediction"):
        assert out.count(section) == 1, section

    header = re.search(r"^\| grammar \| (.*) \|$", out, re.MULTILINE).group(1)
    models = [m.split(" (")[0] for m in header.split(" | ")]
    assert models == ["second_order", "cascaded", "elman", "lstm"]
    for g in GRAMMARS:
        row = re.search(rf"^\| {g}: [^|]+\|(.*)\|$", out, re.MULTILINE)
        assert row, g
        cells = [c.strip() for c in row.group(1).split("|")]
        assert len(cells) == 4
        for cell in cells:
            test, train = map(float, re.fullmatch(rf"{NUMBER} \({NUMBER}\)", cell).groups())
            assert 0.0 <= test <= 1.0 and 0.0 <= train <= 1.0
        assert set(results["tomita"][g]) == set(models)

    for label in ("ctrnn (Euler), gaps as dt", "ctrnn (rk4), gaps as dt", "elman, no gaps",
                  "elman, gaps as an input", "copy last value", "conv_lstm", "copy last frame"):
        row = re.search(rf"^\| {re.escape(label)}[^|]*\| {NUMBER} \|", out, re.MULTILINE)
        assert row and math.isfinite(float(row.group(1))) and float(row.group(1)) >= 0, label
    for ratio in ("elman (no gaps) / ctrnn (Euler, dt)", "copy-last / conv_lstm"):
        value = re.search(rf"MSE ratio {re.escape(ratio)} = {NUMBER}", out).group(1)
        assert math.isfinite(float(value)) and float(value) > 0, ratio
    assert math.isfinite(results["irregular_ratio"]) and math.isfinite(results["frames_ratio"])
    assert re.search(rf"^total {NUMBER} s$", out, re.MULTILINE)
