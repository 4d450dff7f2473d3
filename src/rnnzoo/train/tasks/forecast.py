"""`forecast`: H steps ahead from a window of W past values, scored by rolling origin against baselines.

Data: one column of a CSV file (`--column`, default the last), optionally a time column (`--time-column`,
default the first of several) and covariate columns (`--covariates`: their past values ride along in
the input window). Missing values (empty or NA cells) and gaps in the time column (rows that are not
there: each becomes a missing value) are counted and printed, then filled with the last value before
them (`--missing ffill`, which never looks ahead; or interpolate, error); a target that was missing is
left out of every score.

Protocol (`rnnzoo.timeseries.windows.rolling_origin`): the test part is the end of the series, scored
from `--test-origins` forecast origins `--origin-step` apart (each forecasts H steps from everything
before it); the validation part sits just before it (`--val-origins`) and picks the best epoch; the
training part is the rest. Training windows (every origin, stride 1) have their inputs and targets in
the training part; the transform (`--transform log`, `--difference first|seasonal|both`) and the scaling
are fitted on the training part only.

Strategies: direct (one output vector of H values) or recursive (one step, fed back H times).
Metrics (`rnnzoo.timeseries.metrics`): MASE (scaled by the training part's in-sample seasonal naive
error), sMAPE, MAPE, RMSE on the test origins; the baselines (`rnnzoo.timeseries.baselines`: naive,
seasonal naive, ETS and ARIMA by statsmodels / pmdarima) are scored in the same run on the same origins.
The run directory holds forecasts.csv (every test forecast, with the truth and the baselines) and
plots/forecast.png.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ...data.series import _forward_fill, _interpolate, load_series
from ...timeseries.transform import DIFFERENCES, SeriesTransform
from .. import run as rundir
from . import readout
from .base import Task
from .classify import is_file
from .sentiment import BucketBatches

FORECASTS = "forecasts.csv"
EVAL_BATCH = 512
METRICS = ("mase", "smape", "mape", "rmse")


def read_frame(path, column, time_column, covariates, missing: str):
    """(target y with NaN where missing, covariates (n, C) ffilled, time labels, report dict) of a CSV."""
    import pandas as pd
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--data {path} is not a file")
    try:
        header = next(csv.reader(open(path, newline="", encoding="utf-8-sig")))
    except (StopIteration, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"--data {path}: not a CSV file with a header row ({e or 'empty'})") from None
    header = [h.strip() for h in header]
    if time_column is None and len(header) > 1 and column != header[0]:
        time_column = header[0]
    y = load_series(path, column, missing="keep").numpy()
    names = {"column": column if column is not None else header[-1]}
    covs = [load_series(path, c, missing="keep").numpy() for c in covariates]
    times = None
    report = {"missing": int(np.isnan(y).sum()), "gaps": 0, "gap_rows": 0}
    if time_column is not None:
        if time_column not in header:
            raise ValueError(f"--time-column {time_column!r}: {path.name} has no such column; its columns: "
                             f"{', '.join(map(repr, header))}")
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=True)[time_column].str.strip()
        times = list(raw)
        parsed = _times(raw)
        if parsed is not None:
            steps = np.diff(parsed)
            if len(steps) and (steps <= 0).any():
                k = int(np.flatnonzero(steps <= 0)[0])
                raise ValueError(f"--time-column {time_column!r}: times must increase; row {k + 2} ({times[k + 1]}) "
                                 f"does not come after {times[k]}")
            if len(steps):
                unit = float(np.median(steps))
                insert = np.rint(steps / unit).astype(int) - 1  # rows missing after each row
                insert[steps <= 1.5 * unit] = 0
                if insert.any():
                    report["gaps"], report["gap_rows"] = int((insert > 0).sum()), int(insert.sum())
                    at = np.repeat(np.arange(1, len(y)), insert[:len(y) - 1])
                    y = np.insert(y, at, np.nan)
                    covs = [np.insert(c, at, np.nan) for c in covs]
                    times = list(np.insert(np.array(times, dtype=object), at, ""))
    names["time_column"] = time_column
    filled = _fill(y, missing, names["column"])
    covs = np.stack([_fill(c, "ffill", name) for c, name in zip(covs, covariates)], 1) if covs \
        else np.zeros((len(y), 0))
    return y, filled, covs, times, report, names


def _times(raw):
    """Times as numbers (years, or days) where the column parses, else None (labels only)."""
    import pandas as pd
    if raw.str.fullmatch(r"-?\d{1,4}").all():
        return raw.astype(float).to_numpy()
    try:
        t = pd.to_datetime(raw, format="%Y%m%d" if raw.str.fullmatch(r"\d{8}").all() else "mixed")
    except (ValueError, TypeError):
        return None
    return (t - t.iloc[0]).dt.total_seconds().to_numpy() / 86400.0


def _fill(y, missing, name):
    gaps = np.isnan(y)
    if not gaps.any():
        return y
    if gaps.all():
        raise ValueError(f"column {name!r} holds no value")
    if missing == "error":
        raise ValueError(f"column {name!r} has {int(gaps.sum())} missing value(s) (first at row "
                         f"{int(np.flatnonzero(gaps)[0]) + 2}); pass --missing ffill or interpolate")
    filled = (_interpolate if missing == "interpolate" else _forward_fill)(torch.from_numpy(y))
    return filled.numpy()


class Forecast(Task):
    name = "forecast"
    description = "forecast a series H steps ahead (rolling origin; MASE against naive, ETS, ARIMA)"
    data_help = "a CSV file with a header row: the series in --column, times in --time-column"
    monitor, mode, pool = "val_loss", "min", "last"
    closed_form_models = ("esn",)
    closed_form_options = readout.OPTIONS
    defaults = dict(Task.defaults, model="gru", hidden=64, epochs=200, batch_size=32, lr=2e-3, patience=20,
                    lr_schedule="plateau")
    data_types = {"path": str, "sha256": str, "horizon": int, "lookback": int, "season": int, "strategy": str,
                  "transform": dict, "train_end": int, "val_origins": list, "test_origins": list, "n": int,
                  "covariates": list, "covariate_stats": list, "missing": str}

    def add_arguments(self, parser):
        from ...checks import int_range
        parser.add_argument("--column", default=None, help="the series' column (name or index; default the last)")
        parser.add_argument("--time-column", default=None, help="the times' column (default: the first of several)")
        parser.add_argument("--covariates", nargs="+", default=[], metavar="COLUMN",
                            help="columns whose past values join the input window")
        parser.add_argument("--horizon", type=int_range(1), required=True, help="steps to forecast, H")
        parser.add_argument("--lookback", type=int_range(1), default=None,
                            help="input window W (default: 3 seasons or 3 horizons, the larger)")
        parser.add_argument("--season", type=int_range(1), default=1, help="seasonal period m (1: none)")
        parser.add_argument("--multi-step", dest="multi_step", choices=["direct", "recursive"], default="direct",
                            help="direct: the model outputs H values; recursive: one, fed back H times")
        parser.add_argument("--cumulative", action="store_true",
                            help="direct: the model outputs the running sums of the transformed steps from the "
                                 "origin (with first differences: each forecast's level relative to the last "
                                 "value), so the loss weighs a drift as the forecast feels it")
        parser.add_argument("--test-origins", type=int_range(1), default=None,
                            help="forecast origins in the test part (default: 2 seasons of points, at least 1)")
        parser.add_argument("--val-origins", type=int_range(0), default=None,
                            help="forecast origins of the validation part (default: as --test-origins; 0: no "
                                 "validation part, the training windows pick the best epoch)")
        parser.add_argument("--origin-step", type=int_range(1), default=None,
                            help="steps between origins (default H: the test windows tile the test part)")
        parser.add_argument("--transform", choices=["none", "log"], default="none", help="log: forecast log(y)")
        # first differences by default: a level the training part never reached (a trend) stays in reach;
        # on the three shared series they took the GRU's test MASE from 4.02 to 0.92 (airline), 1.00 to
        # 0.80 (sunspots)
        parser.add_argument("--difference", choices=DIFFERENCES, default="first",
                            help="model the differences of y: first (default: y_t - y_{t-1}), seasonal "
                                 "(y_t - y_{t-m}), both (the seasonal difference of the first differences, "
                                 "Box and Jenkins' airline model) or none")
        parser.add_argument("--missing", choices=["ffill", "interpolate", "error"], default="ffill",
                            help="fill missing values with the last one before (ffill, default: never looks ahead)")
        parser.add_argument("--no-baselines", dest="baselines", action="store_false",
                            help="skip ETS and ARIMA (naive and seasonal naive are always scored)")
        readout.add_arguments(parser, units=300, leak=0.5)

    # --- data -----------------------------------------------------------------------------------
    def setup(self, args):
        from ...timeseries.windows import rolling_origin
        if args.data is None:
            raise ValueError("forecast needs --data FILE.csv (a header row; the series in --column)")
        H, m = args.horizon, args.season
        y, filled, covs, _, found, names = read_frame(args.data, args.column, args.time_column, args.covariates,
                                                      args.missing)
        lookback = args.lookback or 3 * max(H, m)
        test_origins = args.test_origins or max(1, math.ceil(2 * m / (args.origin_step or H)))
        val_origins = test_origins if args.val_origins is None else args.val_origins
        if args.multi_step == "recursive" and args.cumulative:
            raise ValueError("--cumulative applies to --multi-step direct (a recursive model outputs one step)")
        if args.multi_step == "recursive" and args.covariates:
            raise ValueError("--multi-step recursive feeds its forecasts back and has no future covariates; "
                             "use --multi-step direct with --covariates")
        tr = SeriesTransform(log=args.transform == "log", difference=args.difference, season=m)
        protocol = rolling_origin(len(y), H, test_origins=test_origins, val_origins=val_origins,
                                  step=args.origin_step, min_train=lookback + tr.lag + H + 1)
        tr.fit(filled[:protocol.train_end])
        stats = [(float(c[:protocol.train_end].mean()), float(c[:protocol.train_end].std()) or 1.0) for c in covs.T]
        data = {"path": str(Path(args.data).resolve()),
                "sha256": rundir.file_sha256(args.data),
                "column": names["column"], "time_column": names["time_column"], "covariates": list(args.covariates),
                "covariate_stats": [list(s) for s in stats], "horizon": H, "lookback": lookback, "season": m,
                "strategy": args.multi_step, "cumulative": args.cumulative, "transform": tr.config(),
                "missing": args.missing, "n": len(y),
                "train_end": protocol.train_end, "val_origins": list(protocol.val_origins),
                "test_origins": list(protocol.test_origins), "found": found, "baselines": args.baselines}
        parts = (f"{protocol.train_end} training, {protocol.test_start - protocol.train_end} validation, "
                 f"{len(y) - protocol.test_start} test points")
        holes = []
        if found["missing"]:
            holes.append(f"{found['missing']} missing value(s)")
        if found["gaps"]:
            holes.append(f"{found['gaps']} gap(s) in the time column ({found['gap_rows']} row(s) missing)")
        print(f"data: {len(y)} points of {names['column']!r}: {parts}; {len(protocol.test_origins)} test origins of "
              f"{H} steps" + (f"; {' and '.join(holes)}, filled by {args.missing} and left out of the scores"
                              if holes else ""))
        return data

    def series(self, data, path=None):
        """(y with NaN where missing, y filled, model inputs z (n, 1 + C)) of the run's data file."""
        path = path or data["path"]
        if path == data["path"]:
            rundir.check_data_file(path, data["sha256"])
        y, filled, covs, times, _, _ = read_frame(path, data["column"], data["time_column"], data["covariates"],
                                                  data["missing"])
        return y, filled, self._inputs(data, filled, covs), times

    def _inputs(self, data, filled, covs):
        z = SeriesTransform.from_config(data["transform"]).forward(filled)
        cols = [z] + [(c - mean) / std for c, (mean, std) in zip(np.asarray(covs).T, data["covariate_stats"])]
        return np.stack(cols, 1)

    def _outputs(self, data):
        return data["horizon"] if data["strategy"] == "direct" else 1

    def _windows(self, data, z, origins):
        """(inputs (K, W, 1 + C), targets (K, O)) of z at `origins`, float32."""
        W, outputs = data["lookback"], self._outputs(data)
        t = np.asarray(origins)
        x = z[t[:, None] + np.arange(-W, 0)]
        targets = z[np.minimum(t[:, None] + np.arange(outputs), len(z) - 1), 0]
        if data.get("cumulative"):
            targets = targets.cumsum(1)
        return torch.from_numpy(x.astype(np.float32)), torch.from_numpy(targets.astype(np.float32))

    def _origins(self, data, part):
        """Training or validation origins, stride 1: inputs free of NaN (differencing), targets in the part."""
        lag = SeriesTransform.from_config(data["transform"]).lag
        outputs = self._outputs(data)
        first = data["lookback"] + lag
        test_start = data["test_origins"][0]
        if part == "train" or not data["val_origins"]:  # no validation part: the training one picks the epoch
            return list(range(first, data["train_end"] - outputs + 1))
        return list(range(max(first, data["train_end"]), test_start - outputs + 1))

    def _loader(self, data, z, origins, batch_size, shuffle, seed=0, rank=0, world=1):
        x, t = self._windows(data, z, origins)
        cases = list(zip(x, t))
        sampler = BucketBatches([data["lookback"]] * len(cases), batch_size, shuffle, seed, rank, world)
        return DataLoader(cases, batch_sampler=sampler, collate_fn=lambda b: tuple(map(torch.stack, zip(*b))))

    def loaders(self, args, data, rank=0, world=1):
        z = self.series(data)[2]
        return (self._loader(data, z, self._origins(data, "train"), args.batch_size, True, args.seed, rank, world),
                self._loader(data, z, self._origins(data, "val"), EVAL_BATCH, False))

    def evaluation_loader(self, config, data_path):
        data = config["data"]
        return self._loader(data, self.series(data, data_path)[2], self._origins(data, "val"), EVAL_BATCH, False)

    def model_config(self, args, data):
        return {"input_size": 1 + len(data["covariates"]), "output_size": self._outputs(data), "pool": "last"}

    def build_model(self, model_config):
        from ...models import SequenceModel
        from ...reservoir import SequenceESN
        c = dict(model_config)
        if c.get("class") == "SequenceESN":
            return SequenceESN(**{k: v for k, v in c.items() if k != "class"})
        return SequenceModel(**c)

    def step(self, model, batch, carry=None):
        x, y = batch
        out = model(x)[0]
        loss = F.mse_loss(out, y)
        return loss, {"loss_sum": loss.item() * y.numel(), "count": y.numel()}, None

    def metrics_from_sums(self, sums):
        return {"loss": sums["loss_sum"] / sums["count"]}

    # --- forecasts ------------------------------------------------------------------------------
    def forecast(self, model, data, filled, z, origins) -> np.ndarray:
        """(K, H) forecasts of y from each origin t, made from y[:t] only."""
        H, W = data["horizon"], data["lookback"]
        x, _ = self._windows(data, z, origins)
        with torch.no_grad():
            if data["strategy"] == "direct":
                out = model(x)[0].double().numpy()
                if data.get("cumulative"):
                    out = np.diff(out, axis=1, prepend=0.0)
            else:
                steps = []
                for _ in range(H):
                    nxt = model(x)[0][:, :1]  # (K, 1): z of the next step
                    steps.append(nxt)
                    x = torch.cat([x[:, 1:], nxt[:, None, :].to(x.dtype)], 1)[:, -W:]
                out = torch.cat(steps, 1).double().numpy()
        tr = SeriesTransform.from_config(data["transform"])
        return np.stack([tr.inverse(out[k], filled[:t]) for k, t in enumerate(origins)])

    def score(self, model, data, split="test", path=None, baselines=False) -> dict:
        """Metrics of the model (and, with baselines=True, of the baselines) at the split's origins."""
        from ...timeseries.baselines import forecast_baselines
        from ...timeseries.metrics import all_metrics
        y, filled, z, times = self.series(data, path)
        origins = data["test_origins"] if split == "test" else data["val_origins"]
        if not origins:
            raise ValueError("this run has no validation origins (--val-origins 0); use --split test")
        H, m = data["horizon"], data["season"]
        truth = np.stack([y[t:t + H] for t in origins])
        insample = y[:data["train_end"]]
        forecasts = {"model": self.forecast(model, data, filled, z, origins)}
        if baselines:
            names = ("naive", "seasonal_naive", "ets", "arima") if data.get("baselines", True) \
                else ("naive", "seasonal_naive")
            forecasts.update(forecast_baselines(filled, origins, H, m, fit_end=origins[0], names=names))
        metrics = {name: all_metrics(truth, f, insample, m) for name, f in forecasts.items()}
        return {"metrics": metrics, "forecasts": forecasts, "truth": truth, "origins": origins, "times": times,
                "y": y}

    # --- --model esn: closed form -----------------------------------------------------------------
    def fit(self, args, data, run_dir):
        z = self.series(data)[2]
        x, t = self._windows(data, z, self._origins(data, "train"))
        model = readout.build(args, x.shape[2], t.shape[1]).fit(x, targets=t.double())
        return readout.finish(self, model, args, data, run_dir, len(x),
                              self._loader(data, z, self._origins(data, "val"), EVAL_BATCH, False))

    # --- after training -------------------------------------------------------------------------
    def evaluate(self, model, config, data_path=None, split=None):
        return self.score(model, config["data"], split or "test", data_path)["metrics"]["model"]

    def report(self, model, config, run_dir):
        s = self.score(model, config["data"], "test", baselines=True)
        self._write_forecasts(s, run_dir)
        report = {f"test_{k}": v for k, v in s["metrics"]["model"].items()}
        report["baselines"] = {name: m for name, m in s["metrics"].items() if name != "model"}
        return report

    def _write_forecasts(self, s, run_dir):
        names = list(s["forecasts"])
        text = io.StringIO()
        w = csv.writer(text, lineterminator="\n")
        w.writerow(["origin", "step", "time", "truth", *names])
        for k, t in enumerate(s["origins"]):
            for h in range(s["truth"].shape[1]):
                time = s["times"][t + h] if s["times"] else t + h
                w.writerow([t, h + 1, time, f"{s['truth'][k, h]:.10g}",
                            *(f"{s['forecasts'][n][k, h]:.10g}" for n in names)])
        rundir.atomic_write(Path(run_dir) / FORECASTS, text.getvalue().encode())

    def _read_forecasts(self, run_dir, data) -> dict:
        """forecasts.csv back as `score` gives it: origins, forecasts by name (K, H), metrics, y."""
        rows = list(csv.DictReader(open(Path(run_dir) / FORECASTS, newline="")))
        names = [k for k in rows[0] if k not in ("origin", "step", "time", "truth")]
        origins = list(dict.fromkeys(int(r["origin"]) for r in rows))
        H = data["horizon"]
        forecasts = {n: np.array([float(r[n]) for r in rows]).reshape(len(origins), H) for n in names}
        truth = np.array([float(r["truth"]) for r in rows]).reshape(len(origins), H)
        from ...timeseries.metrics import all_metrics
        y = self.series(data)[0]
        metrics = {n: all_metrics(truth, f, y[:data["train_end"]], data["season"]) for n, f in forecasts.items()}
        return {"origins": origins, "forecasts": forecasts, "metrics": metrics, "y": y}

    def plot(self, model, config, run_dir):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        data = config["data"]
        s = self._read_forecasts(run_dir, data)  # what report wrote: the baselines are not fitted twice
        y, origins, H = s["y"], s["origins"], data["horizon"]
        start = max(0, origins[0] - max(4 * H, 3 * data["season"], 40))
        fig, ax = plt.subplots(figsize=(10, 4.2))
        t = np.arange(len(y))
        ax.plot(t[start:origins[0] + 1], y[start:origins[0] + 1], c="k", lw=1.2, label="history")
        ax.plot(t[origins[0]:], y[origins[0]:], c="k", lw=1.2, ls=":", label="test truth")
        colours = {"model": "tab:red", "naive": "0.6", "seasonal_naive": "tab:green", "ets": "tab:blue",
                   "arima": "tab:purple"}
        for name, f in s["forecasts"].items():
            for k, o in enumerate(origins):
                ax.plot(np.arange(o, o + H), f[k], c=colours.get(name, "tab:orange"),
                        lw=1.4 if name == "model" else 0.9, ls="-" if name == "model" else "--",
                        label=(f"{name} (MASE {s['metrics'][name]['mase']:.3f})" if k == 0 else None))
        ax.axvline(data["train_end"], c="0.5", lw=0.8)
        ax.axvline(origins[0], c="0.3", lw=0.8)
        ax.set(xlabel="step", ylabel=data["column"], title=f"{Path(data['path']).name}: {len(origins)} test origins, "
               f"H = {H} ({data['strategy']}); validation and test parts after the lines")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
        fig.savefig(Path(run_dir) / "plots" / "forecast.png", dpi=100)
        plt.close(fig)
        return ["forecast.png"]

    def summary(self, model, config, run_dir):
        r = config.get("report", {})
        if not r:
            return ""
        lines = [f"{'':16}{'MASE':>8}{'sMAPE':>8}{'MAPE':>8}{'RMSE':>10}",
                 f"{'model':16}" + "".join(f"{r['test_' + k]:>8.3f}" for k in METRICS[:3]) + f"{r['test_rmse']:>10.4g}"]
        for name, m in r.get("baselines", {}).items():
            lines.append(f"{name:16}" + "".join(f"{m[k]:>8.3f}" for k in METRICS[:3]) + f"{m['rmse']:>10.4g}")
        return "test (rolling origin):\n" + "\n".join(lines)

    def predict(self, model, config, inputs):
        """`rnnzoo predict RUN [VALUES... | FILE.csv]`: the H values after the series (default: the run's own)."""
        data = config["data"]
        if len(inputs) == 1 and is_file(inputs[0]):
            _, filled, covs, _, _, _ = read_frame(inputs[0], data["column"], data["time_column"],
                                                  data["covariates"], data["missing"])
        elif inputs:
            if data["covariates"]:
                raise ValueError(f"this run reads covariates ({', '.join(data['covariates'])}): give a CSV file")
            try:
                filled = np.array([float(v) for v in inputs], dtype=np.float64)
            except ValueError:
                raise ValueError("predict takes the series' values (numbers) or one CSV file") from None
            if not np.isfinite(filled).all():
                raise ValueError("the series' values must be finite numbers")
            covs = np.zeros((len(filled), 0))
        else:
            _, filled, z, _ = self.series(data)
            covs = None
        lag = SeriesTransform.from_config(data["transform"]).lag
        need = data["lookback"] + lag
        if len(filled) < need:
            raise ValueError(f"the series has {len(filled)} value(s); this run forecasts from the last {need}")
        z = self._inputs(data, filled, covs) if covs is not None else z
        z = np.concatenate([z, np.zeros((self._outputs(data), z.shape[1]))])  # room for _windows' target slice
        f = self.forecast(model, data, filled, z, [len(filled)])[0]
        return [f"t+{h}: {v:.6g}" for h, v in enumerate(f, start=1)]
