"""One-step-ahead forecasting of real series with an echo state network, against naive baselines.

Series (../shared/data/timeseries/forecasting, read with rnnzoo.data.series.load_series):
    airline   monthly airline passengers 1949-1960 (144 points); season 12; the last 24 months held out
    sunspots  yearly sunspot numbers 1700-2008 (309 points); the ~11-year cycle as season 11; the
              last 60 years held out
    co2       weekly Mauna Loa CO2 1958-2001 (2284 weeks; 59 weeks without a measurement, filled
              with the last measured value, which never looks ahead, and left out of the scores);
              season 52; the last 260 weeks (5 years) held out

Forecast: at every step t of the held-out tail, predict y(t) from the values up to y(t-1) (the ESN is
driven by the observed series, so every forecast is one step ahead and never sees the future).
    naive            y_hat(t) = y(t-1)
    seasonal naive   y_hat(t) = y(t-season)
    ESN              200 leaky tanh units, no feedback, ridge readout chosen by 5-fold CV on the
                     training part; input z(t) (the standardised series, log for airline, or its
                     first difference), optionally also z(t+1-season) (the value one season before the
                     target); output z(t+1). Whether z is the level or the difference, the seasonal
                     input, the spectral radius, leak rate and input scaling are chosen on a
                     validation stretch at the end of the training part (as long as the test tail;
                     mean RMSE over 3 reservoirs), then the chosen ESN is refitted on the whole
                     training part with --seeds fresh reservoirs. Reported: RMSE and MAE on the
                     original scale, mean (and std) over the seeds, and of the seeds' mean forecast.

    python benchmarks/esn_forecast.py                      # all three series (a minute or two)
    python benchmarks/esn_forecast.py --series airline sunspots --seeds 5 --plot forecast.png
"""

from __future__ import annotations

import argparse
import itertools
import math
import statistics
import sys
import time
from pathlib import Path
from typing import NamedTuple

import torch

import rnnzoo
from rnnzoo.data.series import load_series
from rnnzoo.reservoir import ESN

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "timeseries" / "forecasting"


class Spec(NamedTuple):
    file: str
    column: str
    season: int
    test: int
    log: bool = False
    missing: str = "error"
    unit: str = ""


SERIES = {
    "airline": Spec("Airline.csv", "Passengers", 12, 24, log=True, unit="passengers (thousands)"),
    "sunspots": Spec("sunspots/sunspots.csv", "SUNACTIVITY", 11, 60, unit="sunspot number"),
    "co2": Spec("co2/co2.csv", "co2", 52, 260, missing="ffill", unit="ppm"),
}
GRID = dict(mode=("level", "diff"), lag=(False, True), spectral_radius=(0.5, 0.9), leak=(0.3, 1.0),
            input_scaling=(0.2, 1.0))


def errors(pred: torch.Tensor, truth: torch.Tensor, scored: torch.Tensor | None = None) -> tuple[float, float]:
    """(RMSE, MAE) over the steps where `scored` (the measured ones) is True."""
    e = pred - truth if scored is None else (pred - truth)[scored]
    return math.sqrt(float(e.pow(2).mean())), float(e.abs().mean())


def esn_forecast(y: torch.Tensor, start: int, end: int, fit_end: int, spec: Spec, cfg: dict, seed: int,
                 units: int) -> torch.Tensor:
    """One-step forecasts of y[start:end] by an ESN fitted on y[:fit_end] (fit_end <= start)."""
    x = y.log() if spec.log else y
    z = x[1:] - x[:-1] if cfg["mode"] == "diff" else x  # z[k] = x[k + 1] - x[k] (diff) or x[k]
    shift = 1 if cfg["mode"] == "diff" else 0           # z[k] describes x at step k + shift
    n_fit = fit_end - shift                             # z values that lie inside the training part
    mu, sd = float(z[:n_fit].mean()), float(z[:n_fit].std())
    zs = (z - mu) / sd
    s = spec.season
    if cfg["lag"]:  # input at k: z[k] and z[k + 1 - s], the value one season before the target z[k + 1]
        k0 = s - 1
        u = torch.stack([zs[k0:], zs[:len(zs) - k0]], 1)
    else:
        k0 = 0
        u = zs[:, None]
    # u[j] is the input at k = j + k0; its target is zs[k + 1]
    n_train = n_fit - 1 - k0  # inputs whose target lies inside the training part
    washout = min(max(spec.season, 12), n_train // 4)
    esn = ESN(u.shape[1], units, 1, spectral_radius=cfg["spectral_radius"], leak_rate=cfg["leak"],
              input_scaling=cfg["input_scaling"], bias_scaling=0.1, density=None, sparse=False, seed=seed)
    esn.fit(u[:n_train], zs[k0 + 1:k0 + 1 + n_train, None], washout=washout)
    out = esn.predict(u).reshape(-1) * sd + mu  # out[j] predicts z[j + k0 + 1]
    # the forecast of x at step t comes from z[t - shift], predicted by input j = t - shift - k0 - 1
    t = torch.arange(start, end)
    z_hat = out[t - shift - k0 - 1]
    x_hat = x[t - 1] + z_hat if cfg["mode"] == "diff" else z_hat
    return x_hat.exp() if spec.log else x_hat


def select(y: torch.Tensor, measured: torch.Tensor, spec: Spec, args) -> tuple[dict, float]:
    """The grid point with the lowest mean validation RMSE over `args.select_seeds` reservoirs."""
    train_end = len(y) - spec.test
    val_start = train_end - spec.test
    best, best_rmse = None, math.inf
    for values in itertools.product(*GRID.values()):
        cfg = dict(zip(GRID, values))
        rmses = []
        for seed in range(args.select_seeds):
            pred = esn_forecast(y, val_start, train_end, val_start, spec, cfg, 1000 + seed, args.units)
            rmses.append(errors(pred, y[val_start:train_end], measured[val_start:train_end])[0])
        rmse = statistics.fmean(rmses)
        if rmse < best_rmse:
            best, best_rmse = cfg, rmse
    return best, best_rmse


def run_series(name: str, args) -> dict:
    spec = SERIES[name]
    path = Path(args.data) / spec.file
    y = load_series(path, spec.column, missing=spec.missing)
    measured = ~torch.isnan(load_series(path, spec.column, missing="keep"))  # filled gaps are not scored
    n, s = len(y), spec.season
    start = n - spec.test
    truth, scored = y[start:], measured[start:]
    t0 = time.perf_counter()
    cfg, val_rmse = select(y, measured, spec, args)
    preds = torch.stack([esn_forecast(y, start, n, start, spec, cfg, seed, args.units) for seed in range(args.seeds)])
    per_seed = [errors(p, truth, scored) for p in preds]
    ensemble = preds.mean(0)
    res = {
        "series": name, "points": n, "test": spec.test, "scored": int(scored.sum()), "season": s, "config": cfg,
        "val_rmse": val_rmse, "naive": errors(y[start - 1:n - 1], truth, scored),
        "seasonal_naive": errors(y[start - s:n - s], truth, scored),
        "esn_rmse": statistics.fmean(r for r, _ in per_seed), "esn_rmse_std": statistics.pstdev(r for r, _ in per_seed),
        "esn_mae": statistics.fmean(m for _, m in per_seed), "esn_mae_std": statistics.pstdev(m for _, m in per_seed),
        "ensemble": errors(ensemble, truth, scored), "seconds": time.perf_counter() - t0,
        "truth": truth, "forecast": ensemble, "history": y[max(0, start - 3 * spec.test):start], "unit": spec.unit,
    }
    return res


def report(results: list[dict]) -> None:
    print("\n| series | held out | naive RMSE / MAE | seasonal naive RMSE / MAE | ESN RMSE (mean ± std, seeds) | "
          "ESN MAE | ESN mean forecast RMSE / MAE | ESN / seasonal naive (RMSE) | ESN / naive (RMSE) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in results:
        (nr, nm), (sr, sm), (er, em) = r["naive"], r["seasonal_naive"], r["ensemble"]
        test = f"{r['test']}" + (f" ({r['scored']} measured)" if r["scored"] < r["test"] else "")
        print(f"| {r['series']} | {test} | {nr:.3f} / {nm:.3f} | {sr:.3f} / {sm:.3f} (s={r['season']}) | "
              f"{r['esn_rmse']:.3f} ± {r['esn_rmse_std']:.3f} | {r['esn_mae']:.3f} ± {r['esn_mae_std']:.3f} | "
              f"{er:.3f} / {em:.3f} | {r['esn_rmse'] / sr:.2f} | {r['esn_rmse'] / nr:.2f} |")
    for r in results:
        c = r["config"]
        print(f"{r['series']}: chosen on validation (RMSE {r['val_rmse']:.3f}): z = {c['mode']}"
              f"{', seasonal-lag input' if c['lag'] else ''}, spectral radius {c['spectral_radius']}, leak "
              f"{c['leak']}, input scaling {c['input_scaling']}; {r['seconds']:.1f} s")


def plot(results: list[dict], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(results), 1, figsize=(9, 3 * len(results)), squeeze=False)
    for ax, r in zip(axes[:, 0], results):
        h, t = r["history"], r["truth"]
        ax.plot(range(len(h)), h, c="0.5", lw=1, label="training part")
        xs = range(len(h), len(h) + len(t))
        ax.plot(xs, t, c="k", lw=1.2, label="held-out truth")
        ax.plot(xs, r["forecast"], c="tab:red", ls="--", lw=1, label=f"ESN one-step (RMSE {r['ensemble'][0]:.2f})")
        ax.set(title=f"{r['series']}: one-step-ahead forecast of the last {r['test']} points", ylabel=r["unit"])
        ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot: {path}")


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--series", nargs="+", choices=list(SERIES), default=list(SERIES))
    p.add_argument("--data", default=str(DATA), help=f"folder of the forecasting CSVs (default {DATA})")
    p.add_argument("--units", type=int, default=200, help="reservoir units (200)")
    p.add_argument("--seeds", type=int, default=10, help="reservoirs for the reported figures (10)")
    p.add_argument("--select-seeds", type=int, default=3, help="reservoirs per grid point in validation (3)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--plot", default=None, help="write the held-out forecasts to this PNG")
    args = p.parse_args(argv)
    if not Path(args.data).is_dir():
        sys.exit(f"esn_forecast: --data {args.data} is not a folder (the shared data's "
                 "timeseries/forecasting)")
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        print(f"rnnzoo {rnnzoo.__version__}, torch {torch.__version__}, threads {args.threads}; ESN {args.units} units, "
              f"{args.seeds} seeds; `python benchmarks/esn_forecast.py {' '.join(argv if argv is not None else sys.argv[1:])}`")
        results = []
        for name in args.series:
            results.append(run_series(name, args))
            r = results[-1]
            print(f"{name}: {r['points']} points, last {r['test']} held out: ESN RMSE {r['esn_rmse']:.3f}, "
                  f"seasonal naive {r['seasonal_naive'][0]:.3f}, naive {r['naive'][0]:.3f}", flush=True)
        report(results)
        if args.plot:
            plot(results, args.plot)
    finally:
        torch.set_num_threads(threads)
    return results


if __name__ == "__main__":
    main()
