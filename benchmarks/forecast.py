"""Forecasting real series with `rnnzoo train forecast` against naive, seasonal naive, ETS and ARIMA.

Series (../shared/data/timeseries/forecasting), each scored by rolling origin on its last two seasons
(the task's default: origins H apart, a validation part of the same size before them):
    airline   monthly passengers 1949-1960, H = 12, season 12, --transform log
    sunspots  yearly sunspot numbers 1700-2008, H = 11, season 11 (the ~11-year cycle)
    co2       weekly Mauna Loa CO2 1958-2001, H = 52, season 52 (59 missing weeks: filled forward for
              the inputs, left out of the scores)
The model is the task's default (a GRU of 64 on a window of 3 seasons, first differences, direct
multi-output) for --seeds seeds; the baselines (statsmodels ETS, pmdarima auto-ARIMA, naive, seasonal
naive) are fitted in the same runs on the same origins (they do not depend on the seed). The table
gives MASE (mean and std over the seeds, and min-max) and the issue's checks: below seasonal naive,
below ETS.

darts' AirPassengers protocol (train before 1958-01, forecast the 36 months of 1958-1960 in one go;
darts publishes MAPE 5.11% for ExponentialSmoothing, 8.15% Theta, 12.7% AutoARIMA): --horizon 36
--test-origins 1 --val-origins 0 (the 108 months before 1958 all train; their loss picks the epoch),
--lookback 36 --hidden 32 --recurrent-dropout 0.2, log and first differences. Reported: MAPE per seed,
their mean, the MAPE of the seeds' mean forecast, and our ETS and ARIMA on the same split.

--darts-select asks whether the darts figure can be reached by a choice made without the test years. Each
candidate in DARTS_CANDIDATES (first differences with weight decay 0, 0.01 or 0.1; seasonal differences, alone
and summed back (--cumulative); both differencings fed back one step, with weight decay 0, 0.01 or 0.1; each of
the eight on log(y) and on y) runs on an inner split of the training years alone (1949-1955 train, the 24
months of 1956-1957 forecast; the file cut at 1957-12 is written under --out) and on darts' split, 5 seeds
each; the candidate with the lowest inner MAPE is the one a user would pick, and its darts MAPE is the honest
figure. The other candidates' darts MAPE shows what picking on the test years would give. The last line
scores the other honest answer to not knowing which candidate to trust: no choice, the mean of all the
candidates' forecasts (a forecast combination, seed by seed).

--models gru esn adds the echo state network (closed form; the same windows). Runs go to --out (a
complete run there is read, not trained again); --parallel N trains N at a time on one thread each.

    python benchmarks/forecast.py                         # 3 series + darts x 5 seeds: ~10 min, --parallel 2
    python benchmarks/forecast.py --series airline --seeds 2 --no-darts
    python benchmarks/forecast.py --series --no-darts --darts-select --parallel 2  # ~11 min
    python benchmarks/forecast.py --quick                 # a smoke test
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "timeseries" / "forecasting"
SERIES = {
    "airline": ("Airline.csv", ["--horizon", "12", "--season", "12", "--transform", "log"]),
    "sunspots": ("sunspots/sunspots.csv", ["--horizon", "11", "--season", "11"]),
    "co2": ("co2/co2.csv", ["--horizon", "52", "--season", "52"]),
}
DARTS = ["--horizon", "36", "--season", "12", "--test-origins", "1", "--val-origins", "0", "--lookback", "36",
         "--hidden", "32", "--recurrent-dropout", "0.2", "--transform", "log"]
# the inner split: the darts options with a 24-month horizon (36 would leave too little to train on)
DARTS_INNER = ["--horizon", "24", *DARTS[2:]]
CONFIGS = {
    "first differences (default)": [],
    "first, weight decay 0.01": ["--weight-decay", "0.01"],
    "first, weight decay 0.1": ["--weight-decay", "0.1"],
    "seasonal differences": ["--difference", "seasonal"],
    "seasonal, cumulative": ["--difference", "seasonal", "--cumulative"],
    "both differencings, recursive": ["--difference", "both", "--multi-step", "recursive"],
    "both, recursive, weight decay 0.01": ["--difference", "both", "--multi-step", "recursive",
                                           "--weight-decay", "0.01"],
    "both, recursive, weight decay 0.1": ["--difference", "both", "--multi-step", "recursive",
                                          "--weight-decay", "0.1"],
}
# each configuration on log(y) (as DARTS has it) and on y itself: darts' ExponentialSmoothing is additive
# on the raw counts, so a linear trend is as plausible a prior as a growth rate
DARTS_CANDIDATES = {**CONFIGS, **{f"{name}, no log": ["--transform", "none", *options]
                                  for name, options in CONFIGS.items()}}
# groups of candidates (a part of their names) left out in turn, to show how much the combination leans on each
LEAVE_OUT = ("weight decay 0.01", "weight decay 0.1", "seasonal", "cumulative", "both", "no log")
DARTS_MAPE = {"ExponentialSmoothing": 5.11, "Theta": 8.15, "AutoARIMA": 12.7}
BASELINES = ("naive", "seasonal_naive", "ets", "arima")


def train(data: Path, out: Path, options: list[str]) -> dict:
    if not (out / "config.json").exists():
        cmd = [sys.executable, "-m", "rnnzoo", "train", "forecast", "--data", str(data), "--out", str(out), *options]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads((out / "config.json").read_text())


def mean_forecast_mape(runs: list[Path]) -> float:
    """MAPE of the mean of the runs' test forecasts (forecasts.csv: the same origins and steps in each)."""
    truth, preds = None, []
    for run in runs:
        rows = list(csv.DictReader(open(run / "forecasts.csv")))
        truth = np.array([float(r["truth"]) for r in rows])
        preds.append([float(r["model"]) for r in rows])
    mean = np.mean(preds, axis=0)
    return float(np.nanmean(np.abs(mean - truth) / np.abs(truth)) * 100)


def spread(values):
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--series", nargs="*", default=list(SERIES), choices=list(SERIES))
    p.add_argument("--models", nargs="+", default=["gru"], choices=["gru", "esn"])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--no-darts", dest="darts", action="store_false")
    p.add_argument("--darts-select", action="store_true",
                   help="pick among DARTS_CANDIDATES on 1956-57 (training years only), then score on darts' split")
    p.add_argument("--parallel", type=int, default=1, help="runs at a time, each on one thread")
    p.add_argument("--out", type=Path, default=Path("runs/bench-forecast"))
    p.add_argument("--quick", action="store_true", help="smoke test: airline, one seed, 3 epochs, no ETS/ARIMA")
    args = p.parse_args(argv)
    extra = []
    if args.quick:
        args.series, args.seeds, args.darts = ["airline"], 1, False
        extra = ["--epochs", "3", "--hidden", "8", "--no-baselines"]
    if args.parallel > 1:
        extra += ["--threads", "1"]
    jobs = []  # (key, data, out, options)
    for name in args.series:
        file, options = SERIES[name]
        for model in args.models:
            for seed in range(args.seeds):
                jobs.append(((name, model), args.data / file, args.out / f"{name}-{model}-s{seed}",
                             [*options, "--model", model, "--seed", str(seed), *extra]))
    if args.darts:
        for model in args.models:
            for seed in range(args.seeds):
                options = DARTS if model == "gru" else [o for o in DARTS if o not in ("--hidden", "32",
                                                                                      "--recurrent-dropout", "0.2")]
                jobs.append((("darts", model), args.data / "Airline.csv", args.out / f"darts-{model}-s{seed}",
                             [*options, "--model", model, "--seed", str(seed), *extra]))
    if args.darts_select:
        inner = cut_before(args.data / "Airline.csv", "1958-01", args.out / "Airline-before-1958.csv")
        for i, (cand, options) in enumerate(DARTS_CANDIDATES.items()):
            tag = run_tag(options)
            for split, data, base in (("inner", inner, DARTS_INNER), ("darts", args.data / "Airline.csv", DARTS)):
                for seed in range(args.seeds):
                    # the first run of each split also fits ETS and auto-ARIMA, for the table's last line
                    fit = [] if (i, seed) == (0, 0) else ["--no-baselines"]
                    jobs.append((("select", cand, split), data, args.out / f"select-{split}-{tag}-s{seed}",
                                 [*base, *options, *fit, "--seed", str(seed), *extra]))
    with ThreadPoolExecutor(max(1, args.parallel)) as pool:
        configs = list(pool.map(lambda job: train(*job[1:]), jobs))
    results: dict = {}
    for (key, _, out, _), config in zip(jobs, configs):
        results.setdefault(key, []).append((out, config))

    if args.series:
        print_mase(results, args)
    print_darts(results)
    if args.darts_select:
        print_selection(results, combination_mape(results))
        print("leaving one group out of the mean (MAPE on 1956-57 / darts' split): " + "; ".join(
            f"{group!r} {statistics.mean(m['inner']):.2f} / {statistics.mean(m['darts']):.2f}"
            for group, m in ((g, combination_mape(results, g)) for g in LEAVE_OUT)))
    return {"-".join(key): [c["report"] for _, c in runs] for key, runs in results.items()}


def print_darts(results: dict) -> None:
    for key, runs in results.items():
        if key[0] != "darts":
            continue
        model = key[1]
        mape = [c["report"]["test_mape"] for _, c in runs]
        mean, std = spread(mape)
        base = runs[0][1]["report"]["baselines"]
        print(f"\ndarts' AirPassengers protocol ({model}): MAPE per seed {' '.join(f'{m:.2f}' for m in mape)}; "
              f"mean {mean:.2f}% (std {std:.2f}); the seeds' mean forecast "
              f"{mean_forecast_mape([o for o, _ in runs]):.2f}%")
        print(f"  same split, same run: ETS {base['ets']['mape']:.2f}%, auto-ARIMA {base['arima']['mape']:.2f}%, "
              f"seasonal naive {base['seasonal_naive']['mape']:.2f}%; darts publishes "
              + ", ".join(f"{k} {v}%" for k, v in DARTS_MAPE.items()))


def print_mase(results: dict, args) -> None:
    print(f"test MASE by rolling origin ({args.seeds} seed(s); baselines fitted in the same runs)")
    names = [b for b in BASELINES if not args.quick or b in ("naive", "seasonal_naive")]
    print(f"{'series':10}{'model':6}" + "".join(f"{b:>16}" for b in names)
          + f"{'model mean':>12}{'std':>7}{'min-max':>14}{'< snaive':>10}{'< ETS':>7}")
    for key, runs in results.items():
        if key[0] in ("darts", "select"):
            continue
        name, model = key
        base = runs[0][1]["report"]["baselines"]
        mase = [c["report"]["test_mase"] for _, c in runs]
        mean, std = spread(mase)
        beats = lambda b: ("yes" if mean < base[b]["mase"] else "NO") if b in base else "-"  # noqa: E731
        print(f"{name:10}{model:6}" + "".join(f"{base[b]['mase']:>16.3f}" for b in names)
              + f"{mean:>12.3f}{std:>7.3f}{f'{min(mase):.3f}-{max(mase):.3f}':>14}{beats('seasonal_naive'):>10}"
              f"{beats('ets'):>7}")


def run_tag(options: list[str]) -> str:
    """A run directory's name from the options it adds (a complete run there is read, not trained again, so
    the name says what ran): ["--weight-decay", "0.1"] -> "weight-decay_0.1"; no options -> "default"."""
    return "_".join(o.lstrip("-") for o in options) or "default"


def cut_before(data: Path, month: str, out: Path) -> Path:
    """The rows of `data` dated before `month` (its first column, YYYY-MM), written to `out`."""
    rows = open(data).read().splitlines()
    kept = [rows[0]] + [r for r in rows[1:] if r.split(",")[0] < month]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(kept) + "\n")
    return out


def print_selection(results: dict, combination: dict | None = None) -> None:
    """Each candidate's MAPE on the inner split (1956-57) and on darts' (1958-60), the inner pick marked; then
    the combination's (combination_mape), where given."""
    mape = {key[1:]: [c["report"]["test_mape"] for _, c in runs]
            for key, runs in results.items() if key[0] == "select"}  # (candidate, split) -> per seed
    cands = list(dict.fromkeys(cand for cand, _ in mape))
    pick = min(cands, key=lambda c: statistics.mean(mape[c, "inner"]))
    print("\nchoosing without the test years: MAPE mean over seeds (per seed)")
    print(f"{'candidate':44}{'1956-57 (inner)':>18}{'1958-60 (darts)':>18}")
    for cand in cands:
        cells = [f"{statistics.mean(mape[cand, s]):.2f}" for s in ("inner", "darts")]
        print(f"{cand:44}{cells[0]:>18}{cells[1]:>18}" + ("   <- picked on 1956-57" if cand == pick else ""))
        print(f"{'':4}per seed: 1956-57 {' '.join(f'{m:.1f}' for m in mape[cand, 'inner'])}; "
              f"1958-60 {' '.join(f'{m:.1f}' for m in mape[cand, 'darts'])}")
    base = {split: results["select", cands[0], split][0][1]["report"].get("baselines", {})
            for split in ("inner", "darts")}
    if all("ets" in b for b in base.values()):
        print(f"{'ETS / auto-ARIMA (statsmodels, pmdarima)':44}"
              + "".join(f"{b['ets']['mape']:>11.2f} / {b['arima']['mape']:.2f}" for b in base.values()))
    honest, best = statistics.mean(mape[pick, "darts"]), min(DARTS_MAPE.values())
    print(f"the pick scores {honest:.2f}% on darts' split; darts' best is {best}% "
          f"({'below' if honest < best else 'NOT below'} it)")
    if combination:
        mean = {split: statistics.mean(m) for split, m in combination.items()}
        print(f"the mean of all {len(cands)} candidates' forecasts (no choice made): {mean['inner']:.2f}% on 1956-57, "
              f"{mean['darts']:.2f}% on darts' split ({'below' if mean['darts'] < best else 'NOT below'} {best}%; "
              f"per seed {' '.join(f'{m:.2f}' for m in combination['darts'])})")


def combination_mape(results: dict, leave_out: str = "") -> dict:
    """The equal-weight combination of every candidate, so no choice to make: per seed, the MAPE of the mean of
    the candidates' forecasts from that seed, on each split ({"inner": [per seed], "darts": [per seed]});
    leave_out: combine only the candidates whose name does not hold it."""
    runs = {key[1:]: [out for out, _ in found] for key, found in results.items() if key[0] == "select"}
    cands = [c for c in dict.fromkeys(cand for cand, _ in runs) if not leave_out or leave_out not in c]
    return {split: [mean_forecast_mape([runs[cand, split][seed] for cand in cands])
                    for seed in range(len(runs[cands[0], split]))] for split in ("inner", "darts")}


if __name__ == "__main__":
    main()
