"""benchmarks/cells.py runs end to end at tiny sizes: one row per registered (name, variant), plus the
torch baselines, the engine rows of configurations with a sequence engine and the forced-loop rows of
fused or engine configurations. No test here asserts a time or a ratio
beyond its being a positive finite number. benchmarks/fuzz.py runs a few seconds of each of its targets
and finds nothing, and its judges tell a finding from an allowed outcome. benchmarks/threads.py --quick
prints its table."""

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnzoo import Recurrent, registry
from rnnzoo.cells.base import Cell

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "cells.py"
BASELINE_NAMES = {"nn.LSTM", "nn.GRU", "nn.RNN"}
# one thread: with cores shared, two OpenMP threads can wait on each other for ~100 ms a call
TINY = ["--quick", "--repeats", "1", "--warmup", "0", "--threads", "1"]


def load_script(path, name):
    """A benchmark script as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return load_script(SCRIPT, "rnnzoo_benchmark_cells")


def check_numbers(row, keys):
    for key in keys:
        value = row.get(key)
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (row, key)


def test_every_registered_configuration_gets_a_row(bench, capsys, tmp_path):
    out_file, threads = tmp_path / "rows.json", torch.get_num_threads()
    rows = bench.main(TINY + ["--json", str(out_file)])
    printed = capsys.readouterr().out
    assert f"torch {torch.__version__}" in printed and "threads" in printed

    assert {r["name"] for r in rows if r["path"] == "torch"} == BASELINE_NAMES
    assert sum(r["path"] == "torch" for r in rows) == len(BASELINE_NAMES)
    for entry in registry.entries():
        for variant, options in bench.variants(entry).items():
            paths = [r["path"] for r in rows if (r["name"], r["variant"]) == (entry.name, variant)]
            layer = Recurrent(entry.name, 4, 8, **options)
            fused = layer.fused_eligible(training=True)
            engine = layer.engine_ineligible_reason() is None
            compiled = engine and layer.native_ineligible_reason() is None
            assert paths == ["fused"] * fused + ["native"] * compiled + ["engine"] * engine + ["loop"], \
                (entry.name, variant, paths)
            default = [r["path"] for r in rows if (r["name"], r["variant"]) == (entry.name, variant) and r["default"]]
            assert default == [layer.path(backward=True)], (entry.name, variant, default)  # "*" in the table
            assert f"{entry.name} " in printed and f" {variant} " in printed
    assert ("lstm", "recurrent_dropout") in {(r["name"], r["variant"]) for r in rows}  # a LAYER_VARIANTS row
    expected = len(BASELINE_NAMES) + sum(len(bench.variants(e)) for e in registry.entries())
    assert len(rows) == expected + sum(r["path"] in ("fused", "native", "engine") for r in rows)

    for row in rows:
        assert "error" not in row, row
        check_numbers(row, ["fwd_ms", "train_ms", "saved_mb", "fwd_x_lstm", "train_x_lstm",
                            "train_x_own", "mem_x_lstm"])
    saved = json.loads(out_file.read_text())
    assert len(saved["rows"]) == len(rows) and saved["header"]
    assert torch.get_num_threads() == threads  # main() restores the caller's thread count


def test_inference_and_filter(bench, capsys):
    rows = bench.main(TINY + ["--inference", "--filter", "gru:*"])
    capsys.readouterr()
    names = {(r["name"], r["variant"]) for r in rows if r["path"] != "torch"}
    assert names == {("gru", v) for v in registry.get("gru").variants}
    for row in rows:
        check_numbers(row, ["fwd_ms", "fwd_x_lstm", "fwd_x_own"])
        assert "train_ms" not in row


def test_profile_prints_each_path_and_baseline_with_its_operators(bench, capsys):
    rows = bench.main(TINY + ["--profile", "--filter", "elman:default"])
    printed = capsys.readouterr().out.splitlines()
    assert rows == []  # no tables
    layer = Recurrent("elman", 4, 8)
    paths = ["fused"] * layer.fused_eligible(training=True) + ["native"] * (layer.native_ineligible_reason() is None) \
        + ["engine", "loop"]
    labels = [f"{name} torch" for name in ("nn.LSTM", "nn.GRU", "nn.RNN")] + [f"elman:default {p}" for p in paths]
    lines = [line for line in printed if " ms a step (profiled); " in line]
    assert [line.split(": ")[0].rstrip("*") for line in lines] == labels  # "*": the default path
    for line in lines:
        ms = float(line.split(": ")[1].split(" ms")[0])
        assert math.isfinite(ms) and ms > 0, line
        assert "aten::" in line, line  # the operators each step ran


class TinyConvCell(Cell):
    """A convolutional Elman cell, only to run the benchmark's spatial path."""

    input_dims = 3

    def __init__(self, input_size, hidden_size):
        super().__init__(input_size, hidden_size)
        self.conv_x = nn.Conv2d(input_size, hidden_size, 3, padding=1)
        self.conv_h = nn.Conv2d(hidden_size, hidden_size, 3, padding=1, bias=False)

    def state_shapes(self, x):
        return ((self.hidden_size, *x.shape[3:]),)

    def project(self, x):
        return self.conv_x(x.flatten(0, 1)).unflatten(0, x.shape[:2])

    def step(self, xp, state, rec_mask=None):
        h = torch.tanh(xp + self.conv_h(state[0]))
        return h, (h,)


def test_convolutional_and_failing_entries(bench, capsys, monkeypatch):
    conv = registry.Entry("tinyconv", TinyConvCell, "test only", "-", "-", spatial=(4, 5),
                          torch_counterpart="rnn")
    broken = registry.Entry("tinybroken", TinyConvCell, "test only", "-", "-", spatial=(4, 5),
                            variants={"bad": {"no_such_option": 1}})
    monkeypatch.setitem(registry._ENTRIES, conv.name, conv)
    monkeypatch.setitem(registry._ENTRIES, broken.name, broken)
    rows = bench.main(TINY + ["--filter", "tiny*", "--no-memory"])
    printed = capsys.readouterr().out
    (row,) = [r for r in rows if r["name"] == "tinyconv"]
    c_in, c = bench.CONV_CHANNELS
    assert row["path"] == "loop" and row["x"] == f"{c_in}x4x5" and row["hidden"] == c
    check_numbers(row, ["fwd_ms", "train_ms", "fwd_x_lstm", "train_x_lstm", "train_x_own"])
    (bad,) = [r for r in rows if r["name"] == "tinybroken"]
    assert bad["path"] == "error" and "no_such_option" in bad["error"] and "failed" in printed


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux's /proc/self/clear_refs")
def test_peak_memory_sees_a_known_temporary_and_not_what_stays(bench):
    kept = []

    def step():  # a 64 MB temporary, freed before the step ends, and 16 MB that stays
        big = torch.ones(16 * 2**20)
        kept.append(big[: 4 * 2**20].clone())
        return big.sum()

    peak = bench.peak_mb(step)
    assert 64 + 16 - 8 < peak < 64 + 16 + 8, peak
    assert bench.peak_mb(lambda: None) < 4


# --- benchmarks/fuzz.py -------------------------------------------------------------------------------
FUZZ = SCRIPT.with_name("fuzz.py")


def test_fuzz_runs_every_target_for_seconds_and_finds_nothing():
    done = subprocess.run([sys.executable, str(FUZZ), "--budget-seconds", "5", "--seed", "0"], capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    for target in ("files", "cli", "api"):
        m = re.search(rf"^## {target}: (\d+) cases in \d+ s, (\d+) distinct inputs$", done.stdout, re.M)
        assert m and 1 <= int(m[2]) <= int(m[1]), done.stdout
    assert "findings: 0" in done.stdout and done.stdout.rstrip().endswith("\n0 findings"), done.stdout


@pytest.fixture(scope="module")
def fuzz():
    return load_script(FUZZ, "rnnzoo_benchmark_fuzz")


@pytest.mark.parametrize("code,out,err,finding", [
    (0, "models\n", "", None),
    (2, "", "rnnzoo: error: argument --hidden: expected an integer, got 'x' (see 'rnnzoo train addition --help')\n",
     None),
    (1, "", "rnnzoo: warning: slow\nrnnzoo: error: run directory 'x' does not exist\n", None),
    (0, "val_loss: nan\n", "", "NaN or inf printed"),
    (1, "", "Traceback (most recent call last):\n  ...\nIndexError: x\n", "a traceback on stderr"),
    (1, "", "rnnzoo: internal error (a bug in rnnzoo): KeyError: 'x'; run it again with --debug\n", "internal error"),
    (1, "", "rnnzoo: error: one\nrnnzoo: error: two\n", "not one 'rnnzoo: error:' line"),
    (1, "", "", "not one 'rnnzoo: error:' line"),
    (3, "", "rnnzoo: error: x\n", "exit status 3"),
])
def test_fuzz_tells_a_cli_finding_from_an_allowed_outcome(fuzz, code, out, err, finding):
    assert fuzz.judge(["evaluate", "RUN"], code, out, err)[1] == finding


@pytest.mark.parametrize("raised,finding", [
    (None, None),
    (lambda path: ValueError(f"text file {path} is empty (0 bytes)"), None),
    (lambda path: FileNotFoundError(f"text file {path} does not exist"), None),
    (lambda path: ValueError("'utf-8' codec can't decode"), "ValueError from load_text does not name the file"),
    (lambda path: ValueError(f"{path}:\nsecond line"), "a message of several lines from load_text"),
    (lambda path: KeyError("chars"), "KeyError from load_text"),
    (lambda path: RecursionError("too deep"), "RecursionError from load_text"),
])
def test_fuzz_tells_a_reader_finding_from_an_allowed_outcome(fuzz, tmp_path, monkeypatch, raised, finding):
    for folder in ("runs", "broken"):
        (tmp_path / folder).mkdir()
    path = tmp_path / "text.txt"
    path.write_text("hello")

    def load_text(p):
        if raised is not None:
            raise raised(p)
        return "hello"
    monkeypatch.setattr("rnnzoo.data.text.load_text", load_text)
    files = fuzz.files_target.Files(tmp_path, 0)
    kind, got, _ = files.run({"reader": "load_text", "path": str(path), "args": {}, "what": "as it is"})
    assert (got or "").split(" at ")[0] == (finding or "")



def test_threads_benchmark_prints_auto_against_every_fixed_setting(capsys):
    """benchmarks/threads.py --quick: the rnnzoo command at auto, each fixed --threads and torch's old
    defaults, in fresh processes; its row has a positive rate for each and says which count auto took."""
    threads = load_script(SCRIPT.with_name("threads.py"), "rnnzoo_benchmark_threads")
    threads.main(["--quick"])
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("| addition-gru |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    settings = ["auto", *map(str, range(1, threads.cores() + 1)), "before"]
    assert all(float(c) > 0 for c in cells[1:1 + len(settings)])
    assert cells[1 + len(settings)] in settings and cells[-1] == "1"  # best fixed; auto took one thread


def test_seq_autoencoder_quick_prints_test_errors_and_writes_its_figures(capsys, tmp_path):
    """benchmarks/seq_autoencoder.py --quick on GunPoint: the settings, the command and finite TEST errors
    of the autoencoder and of its baselines (PCA, or the line saying why it was skipped) are printed,
    and both PNGs exist where the printed paths say."""
    from conftest import shared_data
    data = shared_data("timeseries", "ucr_uea", "GunPoint")
    demo = load_script(SCRIPT.with_name("seq_autoencoder.py"), "rnnzoo_benchmark_seq_autoencoder")
    results = demo.main(["--quick", "--data", str(data), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "command: python benchmarks/seq_autoencoder.py --quick" in out and "settings: " in out
    assert "TRAIN (50, 150, 1), TEST (150, 150, 1)" in out
    test_line = next(line for line in out.splitlines() if line.startswith("TEST MSE: "))
    numbers = [float(v) for v in re.findall(r" (\d+\.\d+)", test_line)]
    assert numbers and all(math.isfinite(v) and v > 0 for v in numbers), test_line
    assert ("pca_test" in results) != ("PCA baseline skipped: scikit-learn is not installed" in out)
    figures = [Path(line.split("figure: ")[1]) for line in out.splitlines() if line.startswith("figure: ")]
    assert [f.name for f in figures] == ["reconstructions.png", "codes.png"]
    assert all(f.parent == tmp_path and f.read_bytes().startswith(b"\x89PNG") for f in figures)


def test_translate_benchmark_quick_trains_the_three_models_and_checks_every_claim(capsys, tmp_path):
    """benchmarks/translate.py --quick (3,000 pairs, 20 s each): a row per model through the real command,
    a line per claim of the issue, the BLEU-by-length plot; --speed --quick: both rates positive."""
    from conftest import shared_data
    data = shared_data("translation", "fra.txt")
    bench = load_script(SCRIPT.with_name("translate.py"), "rnnzoo_benchmark_translate")
    results = bench.main(["--quick", "--data", str(data), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert set(results["configs"]) == {"plain", "reversed", "attention"}
    assert [line for line in out.splitlines() if line.startswith("| ")][2:] and len(results["claims"]) == 7
    assert sum(line.startswith(("MET", "MISSED")) for line in out.splitlines()) == 7
    assert (tmp_path / "bleu_by_length.png").read_bytes().startswith(b"\x89PNG")
    assert results["configs"]["reversed"]["model"]["reverse_source"] is True
    assert results["configs"]["attention"]["model"]["attention"] == "general"
    again = bench.main(["--runs", str(tmp_path), "--data", str(data), "--out", str(tmp_path / "again")])
    assert again["claims"] == results["claims"]  # read back from the run directories, no training
    rates = bench.main(["--speed", "--quick", "--data", str(data), "--out", str(tmp_path / "speed")])
    assert rates["rnnzoo"] > 0 and rates["plain"] > 0


def test_classify_benchmark_quick_trains_through_the_command_and_reads_complete_runs_back(capsys, tmp_path):
    """benchmarks/classify.py --quick: one GunPoint run through `rnnzoo train classify` beside aeon's 1-NN
    Euclidean (0.9133 on the archive's split); a second call reads the finished run instead of training."""
    pytest.importorskip("aeon")
    from conftest import shared_data
    data = shared_data("timeseries", "ucr_uea")
    bench = load_script(SCRIPT.with_name("classify.py"), "rnnzoo_benchmark_classify")
    results = bench.main(["--quick", "--data", str(data), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    row = results["GunPoint"]
    assert len(row["rnnzoo"]) == 1 and 0 <= row["rnnzoo"][0] <= 1
    assert round(row["baselines"]["1nn_euclidean"]["accuracy"], 4) == 0.9133
    assert any(line.startswith("GunPoint ") and "0.9133" in line for line in out.splitlines())
    config = tmp_path / "GunPoint-s0" / "config.json"
    stamp = config.stat().st_mtime_ns
    assert bench.main(["--quick", "--data", str(data), "--out", str(tmp_path)])["GunPoint"]["rnnzoo"] == row["rnnzoo"]
    assert config.stat().st_mtime_ns == stamp


def test_forecast_benchmark_quick_prints_the_models_mase_beside_the_baselines(capsys, tmp_path):
    """benchmarks/forecast.py --quick: one airline run through `rnnzoo train forecast`; the table row holds
    the run's own MASE and the naive baselines it scored on the same origins."""
    from conftest import shared_data
    data = shared_data("timeseries", "forecasting")
    bench = load_script(SCRIPT.with_name("forecast.py"), "rnnzoo_benchmark_forecast")
    results = bench.main(["--quick", "--data", str(data), "--out", str(tmp_path)])
    out = capsys.readouterr().out
    report = results["airline-gru"][0]
    assert math.isfinite(report["test_mase"]) and set(report["baselines"]) == {"naive", "seasonal_naive"}
    row = next(line for line in out.splitlines() if line.startswith("airline"))
    assert f"{report['test_mase']:.3f}" in row and f"{report['baselines']['naive']['mase']:.3f}" in row


def test_forecast_darts_selection_trains_on_years_before_1958_and_picks_by_those_alone(capsys, tmp_path):
    """--darts-select: the inner split's file holds no month of 1958-60 (darts' test years), and the
    candidate picked is the one best on 1956-57, whatever it scores on 1958-60."""
    from conftest import shared_data
    data = shared_data("timeseries", "forecasting") / "Airline.csv"
    bench = load_script(SCRIPT.with_name("forecast.py"), "rnnzoo_benchmark_forecast")
    inner = bench.cut_before(data, "1958-01", tmp_path / "inner.csv")
    rows = inner.read_text().splitlines()
    assert rows[0] == "Date,Passengers" and len(rows) == 1 + 108 and rows[-1].startswith("1957-12,")
    report = lambda m: (None, {"report": {"test_mape": m}})  # noqa: E731
    results = {("select", "a", "inner"): [report(3.0)], ("select", "a", "darts"): [report(9.0)],
               ("select", "b", "inner"): [report(12.0)], ("select", "b", "darts"): [report(4.0)]}
    bench.print_selection(results)
    out = capsys.readouterr().out
    # a complete run directory is read, not trained again: distinct candidates must not share one
    tags = [bench.run_tag(options) for options in bench.DARTS_CANDIDATES.values()]
    assert len(set(tags)) == len(bench.DARTS_CANDIDATES) and bench.run_tag([]) == "default"
    assert "picked" in next(line for line in out.splitlines() if line.startswith("a "))
    assert "the pick scores 9.00%" in out and "NOT below" in out


def test_forecast_combination_scores_the_mean_of_every_candidates_forecast_seed_by_seed(capsys, tmp_path):
    """--darts-select's combination row: for each seed, the candidates' forecasts from that seed averaged
    point by point, then scored (truth 100: forecasts 90 and 120 average to 105, MAPE 5%, though each
    alone scores 10% or 20%)."""
    bench = load_script(SCRIPT.with_name("forecast.py"), "rnnzoo_benchmark_forecast")
    results = {}
    for cand, forecast in (("a", [90.0, 100.0]), ("b", [120.0, 100.0])):
        for split in ("inner", "darts"):
            for seed, shift in enumerate((0.0, 10.0)):
                run = tmp_path / f"{cand}-{split}-s{seed}"
                run.mkdir()
                rows = [f"{100.0},{f + shift}" for f in forecast]
                (run / "forecasts.csv").write_text("truth,model\n" + "\n".join(rows) + "\n")
                mape = sum(abs(f + shift - 100) for f in forecast)  # per cent over two points of 100
                results.setdefault(("select", cand, split), []).append((run, {"report": {"test_mape": mape}}))
    combination = bench.combination_mape(results)
    # seed 0: means 105 and 100 -> (5 + 0) / 2 = 2.5%; seed 1: 115 and 110 -> 12.5%
    assert combination == {"inner": [2.5, 12.5], "darts": [2.5, 12.5]}
    # leaving "b" out leaves a alone: seed 0 (90, 100) and seed 1 (100, 110) both 5%
    assert bench.combination_mape(results, leave_out="b") == {"inner": [5.0, 5.0], "darts": [5.0, 5.0]}
    bench.print_selection(results, combination)
    out = capsys.readouterr().out
    assert "the mean of all 2 candidates' forecasts (no choice made): 7.50% on 1956-57, 7.50%" in out
    assert "NOT below 5.11%; per seed 2.50 12.50" in out


def test_cluster_benchmark_quick_scores_the_autoencoder_beside_raw_kmeans(capsys, tmp_path):
    """benchmarks/cluster.py --quick: GunPoint clustered by k-means on the raw series (tsml publishes ARI
    -0.005) and by `rnnzoo cluster` on a run of `rnnzoo train autoencode`; the row prints both."""
    from conftest import shared_data
    data = shared_data("timeseries", "ucr_uea")
    bench = load_script(SCRIPT.with_name("cluster.py"), "rnnzoo_benchmark_cluster")
    results = bench.main(["--quick", "--data", str(data), "--out", str(tmp_path)])
    row = results["GunPoint"]
    assert round(row["baselines"]["kmeans_raw"]["ari"], 3) == -0.005
    assert -1 <= row["rnnzoo"][0]["ari"] <= 1 and (tmp_path / "GunPoint-s0" / "plots" / "clusters.png").exists()
    out = capsys.readouterr().out
    assert any(line.startswith("GunPoint") for line in out.splitlines())
    # where raw k-means puts each class: 100 series per class, and the table gives back the same ARI
    from sklearn.metrics import adjusted_rand_score
    classes = row["baselines"]["kmeans_raw"]["classes"]
    assert {c: sum(n) for c, n in classes.items()} == {"1": 100, "2": 100}
    labels = [c for c, n in classes.items() for j, count in enumerate(n) for _ in range(count)]
    assigned = [j for c, n in classes.items() for j, count in enumerate(n) for _ in range(count)]
    assert adjusted_rand_score(labels, assigned) == pytest.approx(row["baselines"]["kmeans_raw"]["ari"])
    held = row["rnnzoo"][0]
    assert 0 < held["pc1_share"] <= 1 and 0 <= held["probe_accuracy"] <= 1 and "probe accuracy" in out
    # the codes' clusters the agreement is taken on are `rnnzoo cluster`'s own: the same ARI against the labels
    assert held["labels_ari"] == pytest.approx(held["ari"], abs=5e-5)
    peak = row["baselines"]["peak_split"]
    assert peak["ari"] == pytest.approx(adjusted_rand_score(bench.series_of(data / "GunPoint")[1], peak["assigned"]))
    assert peak["kmeans_raw"] == pytest.approx(adjusted_rand_score(row["baselines"]["kmeans_raw"]["assigned"],
                                                                   peak["assigned"]))
    assert peak["sizes"] == [peak["assigned"].count(j) for j in range(2)] and sum(peak["sizes"]) == 200
    assert f"peak height alone (groups of {peak['sizes'][0]}/{peak['sizes'][1]})" in out


def test_cluster_peak_split_is_kmeans_on_each_series_maximum_alone():
    """The peak-height split: series whose peaks are 2 or 5 (at a random step; every other step uniform noise
    in [-1, 1]) are split into those two groups exactly; with a second channel of its own two levels, k = 4
    splits the four groups."""
    import numpy as np
    from sklearn.metrics import adjusted_rand_score
    bench = load_script(SCRIPT.with_name("cluster.py"), "rnnzoo_benchmark_cluster")
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (40, 30, 1))
    tall = np.arange(40) % 2 == 1
    for i in range(40):
        x[i, rng.integers(30), 0] = 5.0 if tall[i] else 2.0
    assert adjusted_rand_score(tall, bench.peak_split(x, 2)) == 1.0
    # a second channel with its own two heights: four groups at k = 4
    y = np.concatenate([x, np.where(np.arange(40)[:, None, None] < 20, 0.5, 9.0) * np.ones((40, 30, 1))], 2)
    groups = tall * 2 + (np.arange(40) >= 20)
    assert adjusted_rand_score(groups, bench.peak_split(y, 4)) == 1.0


def test_anomaly_benchmark_quick_scores_detectors_and_nabs_baselines_with_nabs_scorer(capsys, tmp_path):
    """benchmarks/anomaly.py --quick: 3 NAB files through `rnnzoo train anomaly` (both detectors) and NAB's
    windowedGaussian and random baselines, every row scored by the corpus scorer between 0 (null) and 100."""
    from conftest import shared_data
    data = shared_data("timeseries", "anomaly", "nab")
    bench = load_script(SCRIPT.with_name("anomaly.py"), "rnnzoo_benchmark_anomaly")
    results = bench.main(["--quick", "--data", str(data), "--out", str(tmp_path)])
    for name in ("forecast", "autoencoder", "forecast raw", "windowedGaussian", "random", "range rule alone"):
        assert results[name]["standard"]["windows"] == 7 and results[name]["standard"]["null"] == -7
        assert results[name]["standard"]["normalized"] <= 100
    out = capsys.readouterr().out
    assert "NAB corpus: 3 files, 7 windows" in out
    assert any(line.startswith("windowedGaussian") for line in out.splitlines())


def test_timescales_benchmark_quick_trains_every_model_at_every_lag_with_matched_parameters(capsys):
    """benchmarks/timescales.py --quick: the adding problem at lags 20 and 50 for clockwork, hierarchical,
    Elman and LSTM, each sized within 5% of the parameter budget; a table row per model. The same for the
    sequence-generation task at lengths 20 and 50, whose target is a prefix of one signal in [-1, 1]."""
    bench = load_script(SCRIPT.with_name("timescales.py"), "rnnzoo_benchmark_timescales")
    x, y = bench.adding_batch(64, 30, torch.Generator().manual_seed(0))
    marks = x[..., 1]
    assert (marks.sum(1) == 2).all() and (marks[:, :3].sum(1) == 1).all() and (marks[:, 15:].sum(1) == 1).all()
    assert torch.allclose(y, (x[..., 0] * marks).sum(1))
    short, long = bench.target_signal(100), bench.target_signal(500)
    assert short.min() == -1 and short.max() == 1 and torch.corrcoef(torch.stack([short, long[:100]]))[0, 1] > 0.999
    results = bench.main(["--quick"])
    out = capsys.readouterr().out
    assert {(r["model"], r["lag"]) for r in results["runs"]} == {(m, T) for m in bench.MODELS for T in (20, 50)}
    for name, size in results["sizes"].items():
        assert abs(size["params"] - 2000) <= 100, (name, size)
        assert any(line.startswith(name) and str(size["params"]) in line for line in out.splitlines())
    assert all(math.isfinite(r["test_mse"]) and (r["steps"] == 60 or r["solved"]) for r in results["runs"])
    generation = results["generation"]
    assert {(r["model"], r["length"]) for r in generation["runs"]} == {(m, T) for m in bench.MODELS for T in (20, 50)}
    assert all(abs(size["params"] - 2000) <= 100 for size in generation["sizes"].values())
    assert all(math.isfinite(r["nmse"]) and r["steps"] == 40 and r["solved"] == (r["nmse"] < 0.1)
               for r in generation["runs"])
    assert "final NMSE = MSE / Var(target)" in out


def test_tree_speed_benchmark_quick_times_batched_against_node_by_node_with_equal_states(capsys):
    """benchmarks/tree_speed.py --quick: each tree model batched by level and node by node on SST trees, at
    one and two threads; the two give the same node states (the speed-up is the figure the full run reports)."""
    from conftest import shared_data
    data = shared_data("trees", "sst") / "train.txt"
    bench = load_script(SCRIPT.with_name("tree_speed.py"), "rnnzoo_benchmark_tree_speed")
    threads = torch.get_num_threads()
    try:
        rows = bench.main(["--quick", "--data", str(data), "--threads", "1", "2"])
    finally:
        torch.set_num_threads(threads)
    assert set(rows) == set(bench.MODELS)
    assert all(r["diff"] < 1e-5 and r["speedup"] > 0 for r in rows.values())
    for r in rows.values():  # "best": each way at its own fastest thread count
        assert set(r["threads"]) == {1, 2}
        for way in ("batched", "recursive"):
            assert r[way] == min(t[way] for t in r["threads"].values())
    out = capsys.readouterr().out
    assert "speed-up" in out and sum(line.split()[1:2] == ["best"] for line in out.splitlines()) == 3


def test_history_compressor_benchmark_quick_reports_accuracy_and_the_fraction_sent_up(capsys):
    """benchmarks/history_compressor.py --quick: the compressor and the flat net on the rare-symbol recall task;
    far fewer steps go up than the sequences have."""
    bench = load_script(SCRIPT.with_name("history_compressor.py"), "rnnzoo_benchmark_history_compressor")
    rows = bench.main(["--quick"])
    assert [r["lag"] for r in rows] == [20, 50]
    for r in rows:
        assert 0 < r["up"] < 0.5 and 0 <= r["flat"] <= 1 and 0 <= r["compressor"] <= 1
    assert "solved (accuracy >= 0.95) by compressor" in capsys.readouterr().out


def test_sst_benchmark_quick_trains_a_tree_lstm_through_the_cli(capsys, tmp_path):
    """benchmarks/sst.py --quick: `rnnzoo train sst` on 400 treebank sentences, one epoch; the row prints the
    root, all-node and binary accuracies the run reported."""
    from conftest import shared_data
    data = shared_data("trees", "sst")
    bench = load_script(SCRIPT.with_name("sst.py"), "rnnzoo_benchmark_sst")
    results = bench.main(["--quick", "--models", "tree-lstm", "--classes", "5", "--data", str(data), "--out",
                          str(tmp_path), "--threads", "1"])
    (run,) = results["tree-lstm/5"]
    assert 0 <= run["test_accuracy"] <= 1 and 0 <= run["test_node_accuracy"] <= 1
    assert any(line.startswith("tree-lstm") for line in capsys.readouterr().out.splitlines())


def test_tree_depth_benchmark_quick_scores_every_model_at_every_test_depth(capsys):
    """benchmarks/tree_depth.py --quick: expressions trained on depths 1-4, scored by depth up to 10, for the
    Tree-LSTM and the sequential models; the chance column is the commonest value's share."""
    bench = load_script(SCRIPT.with_name("tree_depth.py"), "rnnzoo_benchmark_tree_depth")
    results = bench.main(["--quick"])
    for name, log in results["models"].items():
        assert set(log["test"]) == set(results["chance"]) and all(0 <= a <= 1 for a in log["test"].values())
    assert "root accuracy (%) by depth" in capsys.readouterr().out


def test_long_lag_benchmark_quick_climbs_each_ladder_and_writes_its_table_json_and_plot(capsys, tmp_path):
    """benchmarks/long_lag.py --quick: lstm and elman on adding, copy and first-symbol at T 10 then 20 (climbed
    only where a seed solved 10), one seed; the table, the JSON and the PNG. The registry's spatial cells are
    skipped with a reason, and a cell's options pass through NAME[OPTION=VALUE]."""
    bench = load_script(SCRIPT.with_name("long_lag.py"), "rnnzoo_benchmark_long_lag")
    json_path, png = tmp_path / "ll.json", tmp_path / "ll.png"
    results = bench.main(["--quick", "--json", str(json_path), "--plot", str(png)])
    out = capsys.readouterr().out
    assert results["cells"] == ["lstm", "elman"] and png.stat().st_size > 0
    assert json.loads(json_path.read_text())["summary"].keys() == {"lstm", "elman"}
    for r in results["runs"]:
        assert r["T"] in (10, 20) and r["stop"] in ("solved", "steps") and (r["steps"] == 30 or r["stop"] == "solved")
        if r["T"] == 20:  # climbed only past a solved 10
            assert any(s["solved"] for s in results["runs"]
                       if (s["cell"], s["task"], s["T"]) == (r["cell"], r["task"], 10))
    assert "longest T solved (seeds solving it, of 1)" in out
    # --quick sets every task's budget alike; by default each task has its own (copy: wider, longer)
    assert all(b == dict(steps=30, batch=32, hidden=32, lr=bench.BUDGET[t]["lr"]) for t, b in results["budget"].items())
    assert bench.BUDGET["copy"]["hidden"] > bench.BUDGET["adding"]["hidden"]
    assert bench.parse_cell("lstm[forget_bias=3,peephole=true]") == ("lstm", {"forget_bias": 3, "peephole": True})
    cells = bench.choose_cells(bench.argparse.Namespace(cells=["conv_lstm", "lstm[forget_bias=3]"]))
    assert cells == ["lstm[forget_bias=3]"] and "skipped conv_lstm: a spatial cell" in capsys.readouterr().out


def test_scan_benchmark_quick_times_every_row_against_nn_gru_and_scores_the_scans_accuracy(capsys, tmp_path):
    """benchmarks/scan.py --quick: nn.GRU, nn.LSTM, and minGRU/minLSTM on both scans at two lengths; every row a
    positive time and ratio, the scan rows a float32 error against the float64 step loop (small: these are the
    same function), and the JSON."""
    bench = load_script(SCRIPT.with_name("scan.py"), "rnnzoo_benchmark_scan")
    out_file = tmp_path / "scan.json"
    rows = bench.main(["--quick", "--threads", "1", "--no-memory", "--json", str(out_file)])
    assert {(r["row"], r["L"]) for r in rows} == {(row, L) for row in bench.ROWS for L in (16, 64)}
    for r in rows:
        check_numbers(r, ["ms", "x_gru"])
        if not r["row"].startswith("nn."):
            assert 0 <= r["rel_err"] < 1e-4, r
    assert json.loads(out_file.read_text())["rows"] == rows
    assert "mingru's ratio by length" in capsys.readouterr().out
