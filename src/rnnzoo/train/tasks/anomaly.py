"""`anomaly`: an anomaly score for every point of a series, from a recurrent model trained on its normal prefix.

Data: one column of a CSV file (`--column`, default the last; times in `--time-column`, default the first of
several, kept as labels). Rows are scored as they stand, one score per row, as NAB scores them (a gap in
the time column is not filled in, and times need not increase: NAB's files have repeats); missing cells are
counted, printed and filled forward (`--missing`).

The prefix: the first `--probation` rows (default NAB's: 15 % of the series, at most 750 rows) are taken
as normal. The model is trained on windows inside it only (its last fifth validates), and everything
fitted afterwards (the raw score's scale, the threshold) reads it only: the score of row t depends on rows
<= t and on the prefix, never on later rows, as NAB's rules ask of a streaming detector.

Detectors (`--detector`), on windows of `--window` W rows scaled by the prefix's deviation s:
    forecast     a recurrent forecaster reads rows t-W..t-1 relative to row t-1 and predicts row t;
                 raw_t = |y_t - ŷ_t| / s, the prediction residual
    autoencoder  a sequence autoencoder (`rnnzoo.models.SeqAutoencoder`) reconstructs the window of rows
                 t-W+1..t (its mean removed); raw_t = the squared reconstruction error of its newest row, t
                 (the window's mean error would lag: it stays high until the anomaly has left the window)
The anomaly score (`rnnzoo.timeseries.detectors`): raw is normalised on the prefix (its median and spread:
`prefix_scale`), then turned into NAB's anomaly likelihood (the 10-row mean of the raw score against a
Gaussian of its own recent history) reported as log_likelihood on [0, 1]; with `--range-tolerance`, a value
outside the range seen so far by more than that fraction scores 1 (NAB's numenta detector does the same).
The threshold (`--threshold`): 0.5 by default, a likelihood of 1 - 1e-5 (the operating point of NAB's numenta
detector; on NAB the corpus-optimal threshold of this detector lands beside it), or `prefix`, the highest
score the prefix's own rows get against the prefix's Gaussian (in sample: it flags more), or any number.

`--labels FILE` (optional): NAB's labels/combined_windows.json (the entry whose name ends the data path),
or a JSON list of [start, end] pairs (timestamps, or row numbers). With labels the run reports the file's NAB
score under the three profiles at the run's threshold, precision/recall/F1 over points and over events
(and point-adjusted F1, which inflates results: Kim et al. 2022), and the UCR archive's hit where the file
has one window. The run directory holds scores.csv (time, value, raw, score, alarm, label) and
plots/anomaly.png (the signal with the windows shaded, the score and the threshold).
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ...models import SeqAutoencoder
from ...timeseries import anomaly_scores as scoring
from ...timeseries import detectors
from .. import run as rundir
from .base import Task
from .classify import is_file
from .forecast import _fill
from .sentiment import BucketBatches

SCORES = "scores.csv"
EVAL_BATCH = 1024
DETECTORS = ("forecast", "autoencoder")
RAW_SCALE = 10.0  # a prefix-scaled raw score of 10 (ten times the prefix's spread) maps to 1 for the likelihood


def read_rows(path, column, time_column, missing: str):
    """(values with NaN where missing, values filled, times as text or None, names) of a CSV file, row by row."""
    from ...data.series import load_series
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--data {path} is not a file")
    try:
        header = [h.strip() for h in next(csv.reader(open(path, newline="", encoding="utf-8-sig")))]
    except (StopIteration, UnicodeDecodeError, csv.Error) as e:
        raise ValueError(f"--data {path}: not a CSV file with a header row ({e or 'empty'})") from None
    y = load_series(path, column, missing="keep").numpy()
    names = {"column": column if column is not None else header[-1]}
    if time_column is None and len(header) > 1 and names["column"] != header[0]:
        time_column = header[0]
    times = None
    if time_column is not None:
        if time_column not in header:
            raise ValueError(f"--time-column {time_column!r}: {path.name} has no such column; its columns: "
                             f"{', '.join(map(repr, header))}")
        import pandas as pd
        times = list(pd.read_csv(path, dtype=str, keep_default_na=False)[time_column].str.strip())
        if len(times) != len(y):
            raise ValueError(f"--data {path}: {len(times)} times for {len(y)} values (blank rows?)")
    names["time_column"] = time_column
    return y, _fill(y, missing, names["column"]), times, names


def read_labels(path, data_path, times, n: int) -> list[tuple[int, int]]:
    """The labelled windows of the data file as (start, end) rows: `path` is NAB's combined_windows.json
    (the entry whose name ends the data file's path) or a JSON list of [start, end] pairs, timestamps or
    row numbers."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--labels {path} is not a file")
    try:
        labels = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"--labels {path}: not a JSON file ({e})") from None
    if isinstance(labels, dict):
        data_path = Path(data_path).resolve().as_posix()
        keys = [k for k in labels if data_path.endswith("/" + k.lstrip("/")) or data_path == k]
        if len(keys) != 1:
            raise ValueError(f"--labels {path}: {'no entry names' if not keys else 'several entries name'} the data "
                             f"file {Path(data_path).name} (NAB's keys are paths like 'realKnownCause/nyc_taxi.csv')")
        labels = labels[keys[0]]
    if not isinstance(labels, list) or any(not isinstance(w, list) or len(w) != 2 for w in labels):
        raise ValueError(f"--labels {path}: expected a list of [start, end] pairs (or NAB's dict of them)")
    if all(isinstance(v, int) and not isinstance(v, bool) for w in labels for v in w):
        windows = [tuple(w) for w in labels]
        for s, e in windows:
            if not 0 <= s <= e < n:
                raise ValueError(f"--labels {path}: the window [{s}, {e}] is not within rows 0..{n - 1}")
        return windows
    if times is None:
        raise ValueError(f"--labels {path} gives timestamps but the data has no time column; give row numbers")
    try:
        return scoring.nab_windows_from_timestamps(labels, [t for t in times])
    except ValueError as e:
        raise ValueError(f"--labels {path}: {e}") from None


class Anomaly(Task):
    name = "anomaly"
    description = "score every point of a series for anomalies (forecaster residual or autoencoder error; NAB)"
    data_help = "a CSV file with a header row: the series in --column (default the last), times in --time-column"
    monitor, mode, pool = "val_loss", "min", "last"
    defaults = dict(Task.defaults, model="gru", hidden=32, epochs=40, batch_size=32, lr=3e-3, patience=8,
                    lr_schedule="plateau")
    data_types = {"path": str, "sha256": str, "column": str, "n": int, "probation": int, "window": int,
                  "detector": str, "scale": float, "missing": str, "threshold": (str, float),
                  "windows": (list, None)}

    def add_arguments(self, parser):
        from ...checks import int_range
        parser.add_argument("--column", default=None, help="the series' column (name or index; default the last)")
        parser.add_argument("--time-column", default=None, help="the times' column (default: the first of several)")
        parser.add_argument("--missing", choices=["ffill", "interpolate", "error"], default="ffill",
                            help="fill missing values and gaps with the last value before them (ffill, never looks "
                                 "ahead), by interpolation, or refuse them")
        parser.add_argument("--labels", default=None, metavar="FILE",
                            help="labelled windows: NAB's combined_windows.json or a JSON list of [start, end]")
        parser.add_argument("--detector", choices=DETECTORS, default="forecast",
                            help="forecast: the residual of a one-step forecaster; autoencoder: the reconstruction "
                                 "error of a window")
        parser.add_argument("--window", type=int_range(2), default=32, help="rows the model reads (32)")
        parser.add_argument("--probation", type=int_range(1), default=None,
                            help="rows of the normal prefix the model is trained and the score normalised on "
                                 "(default NAB's: 15%% of the series, at most 750)")
        parser.add_argument("--threshold", default="0.5",
                            help="a score in [0, 1] (0.5: a likelihood of 1 - 1e-5, NAB's numenta detector's operating "
                                 "point) or 'prefix' (the highest score the prefix's own rows get)")
        parser.add_argument("--range-tolerance", type=float, default=0.05,
                            help="a value outside the range seen so far by more than this fraction of it scores "
                                 "1 (0.05; a negative value turns the rule off)")
        parser.add_argument("--code-size", type=int_range(1), default=8, help="the autoencoder's code size (8)")

    # --- data -------------------------------------------------------------------------------------
    def setup(self, args):
        threshold = _threshold_option(args.threshold)
        y, filled, times, names = read_rows(args.data, args.column, args.time_column, args.missing)
        found = {"missing": int(np.isnan(y).sum())}
        n, W = len(filled), args.window
        probation = args.probation or scoring.nab_probation(n)
        if probation > n:
            raise ValueError(f"--probation {probation} is longer than the series ({n} rows)")
        if probation < 2 * W + 10:
            raise ValueError(f"--probation gives {probation} prefix rows to train on; --window {W} needs at least "
                             f"{2 * W + 10} (a longer series, a longer --probation or a shorter --window)")
        windows = read_labels(args.labels, args.data, times, n) if args.labels else None
        prefix = filled[:probation]
        scale = float(np.std(prefix)) or float(np.abs(prefix).max()) or 1.0
        data = {"path": str(Path(args.data).resolve()), "sha256": rundir.file_sha256(args.data),
                "column": names["column"], "time_column": names["time_column"], "missing": args.missing, "n": n,
                "found": found, "probation": probation, "window": W, "detector": args.detector, "scale": scale,
                "threshold": threshold, "range_tolerance": args.range_tolerance if args.range_tolerance >= 0 else None,
                "windows": [list(w) for w in windows] if windows is not None else None}
        holes = [f"{found['missing']} missing value(s)"] if found["missing"] else []
        print(f"data: {n} points of {names['column']!r}; the first {probation} are the normal prefix (the model is "
              f"trained and the score normalised on them)" + (f"; {' and '.join(holes)}, filled by {args.missing}"
                                                                if holes else "")
              + (f"; {len(windows)} labelled window(s)" if windows is not None else ""))
        return data

    def series(self, data, path=None):
        """(values with NaN where missing, values filled, times) of the run's data file, checked unchanged."""
        path = path or data["path"]
        if path == data["path"]:
            rundir.check_data_file(path, data["sha256"])
        y, filled, times, _ = read_rows(path, data["column"], data["time_column"], data["missing"])
        return y, filled, times

    def _cases(self, data, filled, rows):
        """(inputs (K, W, 1), targets) for the windows scored at `rows`, float32, scaled by the prefix's s.
        forecast: rows t-W..t-1 less row t-1, target row t less row t-1; autoencoder: rows t-W+1..t less
        their mean (the target is the input)."""
        W, s = data["window"], data["scale"]
        t = np.asarray(rows)
        if data["detector"] == "forecast":
            x = filled[t[:, None] + np.arange(-W, 0)]
            ref = x[:, -1:]
            target = (filled[t][:, None] - ref) / s
            x = (x - ref) / s
        else:
            x = filled[t[:, None] + np.arange(-W + 1, 1)]
            x = (x - x.mean(1, keepdims=True)) / s
            target = x
        return torch.from_numpy(x[..., None].astype(np.float32)), torch.from_numpy(target.astype(np.float32))

    def _first_row(self, data) -> int:
        return data["window"] if data["detector"] == "forecast" else data["window"] - 1

    def _training_rows(self, data, part):
        rows = np.arange(self._first_row(data), data["probation"])
        cut = len(rows) - max(1, len(rows) // 5)
        return rows[:cut] if part == "train" else rows[cut:]

    def _loader(self, data, filled, rows, batch_size, shuffle, seed=0, rank=0, world=1):
        x, t = self._cases(data, filled, rows)
        cases = list(zip(x, t))
        sampler = BucketBatches([data["window"]] * len(cases), batch_size, shuffle, seed, rank, world)
        return DataLoader(cases, batch_sampler=sampler, collate_fn=lambda b: tuple(map(torch.stack, zip(*b))))

    def loaders(self, args, data, rank=0, world=1):
        filled = self.series(data)[1]
        return (self._loader(data, filled, self._training_rows(data, "train"), args.batch_size, True, args.seed,
                             rank, world),
                self._loader(data, filled, self._training_rows(data, "val"), EVAL_BATCH, False))

    def evaluation_loader(self, config, data_path):
        data = config["data"]
        return self._loader(data, self.series(data, data_path)[1], self._training_rows(data, "val"), EVAL_BATCH,
                            False)

    # --- model --------------------------------------------------------------------------------------
    def model_config(self, args, data):
        if data["detector"] == "autoencoder":
            return {"class": "SeqAutoencoder", "input_size": 1, "code_size": args.code_size}
        return {"input_size": 1, "output_size": 1, "pool": "last"}

    def build_model(self, model_config):
        from ...models import SeqAutoencoder, SequenceModel
        c = dict(model_config)
        if c.pop("class", None) == "SeqAutoencoder" or "code_size" in c:  # model.config() has no class
            for key, default in (("merge", "concat"), ("recurrent_dropout", 0.0), ("io_dropout", 0.0)):
                if c.pop(key, default) != default:
                    raise ValueError(f"--{key.replace('_', '-')} does not apply to the sequence autoencoder")
            return SeqAutoencoder(c.pop("cell"), **c)
        return SequenceModel(**c)

    def step(self, model, batch, carry=None):
        x, target = batch
        if isinstance(model, SeqAutoencoder):  # its target is its own input
            loss = model.loss(x)
        else:
            loss = F.mse_loss(model(x)[0], target)
        count = target.numel()
        return loss, {"loss_sum": loss.item() * count, "count": count}, None

    def metrics_from_sums(self, sums):
        return {"loss": sums["loss_sum"] / sums["count"]}

    # --- scores -------------------------------------------------------------------------------------
    def raw_scores(self, model, data, filled) -> np.ndarray:
        """The detector's raw score per row (0 before the first full window): see the module docstring."""
        raw = np.zeros(len(filled))
        rows = np.arange(self._first_row(data), len(filled))
        model.eval()
        with torch.no_grad():
            for k in range(0, len(rows), EVAL_BATCH):
                part = rows[k:k + EVAL_BATCH]
                x, target = self._cases(data, filled, part)
                if data["detector"] == "forecast":
                    raw[part] = (model(x)[0][:, 0] - target[:, 0]).abs().double().numpy()
                else:
                    raw[part] = model.score(x, per_step=True)[:, -1].double().numpy()
        return raw

    def scores(self, model, data, path=None) -> dict:
        """{'values', 'times', 'raw', 'score', 'threshold', 'alarm'}: per-row arrays and the run's threshold."""
        y, filled, times = self.series(data, path)
        raw = self.raw_scores(model, data, filled)
        return {"values": y, "times": times, "raw": raw,
                **anomaly_score(raw, filled, data["probation"], data["range_tolerance"], data["threshold"],
                                start=self._first_row(data))}

    # --- after training ---------------------------------------------------------------------------
    def report(self, model, config, run_dir):
        data = config["data"]
        s = self.scores(model, data)
        windows = [tuple(w) for w in data["windows"]] if data["windows"] is not None else None
        self._write_scores(s, windows, data, run_dir)
        after = np.arange(len(s["score"])) >= data["probation"]
        report = {"threshold": s["threshold"], "alarms": int(np.sum(s["alarm"] & after))}
        if windows is not None:
            report.update(label_scores(s["score"], s["alarm"], windows, data["probation"]))
        return report

    def _write_scores(self, s, windows, data, run_dir):
        labels = scoring.labels_from_windows(windows, len(s["score"])) if windows is not None else None
        text = io.StringIO()
        w = csv.writer(text, lineterminator="\n")
        w.writerow(["row", "time", "value", "raw", "score", "alarm"] + (["label"] if labels is not None else []))
        for t in range(len(s["score"])):
            w.writerow([t, s["times"][t] if s["times"] else t, f"{s['values'][t]:.10g}", f"{s['raw'][t]:.6g}",
                        f"{s['score'][t]:.6g}", int(s["alarm"][t])] + ([int(labels[t])] if labels is not None else []))
        rundir.atomic_write(Path(run_dir) / SCORES, text.getvalue().encode())

    def evaluate(self, model, config, data_path=None, split=None):
        """The validation loss, and with labels (the run's own file) its NAB scores (nab_standard, ...), the windows
        found, and point and event F1 at the run's threshold."""
        data = config["data"]
        from .base import validation_sums
        out = self.metrics_from_sums(validation_sums(self, model, self.evaluation_loader(config, data_path)))
        if data["windows"] is not None and data_path in (None, data["path"]):
            s = self.scores(model, data, data_path)
            r = label_scores(s["score"], s["alarm"], [tuple(w) for w in data["windows"]], data["probation"])
            out.update({f"nab_{name}": v["score"] for name, v in r["nab"].items()})
            out.update(windows_detected=r["nab"]["standard"]["windows_detected"], point_f1=r["point"]["f1"],
                       event_f1=r["event"]["f1"])
        return out

    def plot(self, model, config, run_dir):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        data = config["data"]
        rows = list(csv.DictReader(open(Path(run_dir) / SCORES, newline="")))
        values = np.array([float(r["value"]) for r in rows])
        score = np.array([float(r["score"]) for r in rows])
        alarm = np.array([r["alarm"] == "1" for r in rows])
        t = np.arange(len(rows))
        threshold = config.get("report", {}).get("threshold")
        fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 5), sharex=True, height_ratios=(3, 2))
        top.plot(t, values, c="k", lw=0.7)
        for start, end in data["windows"] or []:
            for ax in (top, bottom):
                ax.axvspan(start, end, color="tab:red", alpha=0.15, lw=0)
        top.scatter(t[alarm & (t >= data["probation"])], values[alarm & (t >= data["probation"])], c="tab:red",
                    s=10, zorder=3, label="alarm")
        for ax in (top, bottom):
            ax.axvspan(0, data["probation"], color="0.85", alpha=0.5, lw=0)
        top.set(ylabel=data["column"], title=f"{Path(data['path']).name}: {data['detector']} detector; the grey prefix "
                f"is normal by assumption, red bands are labelled windows")
        top.legend(fontsize=7, loc="upper left")
        bottom.plot(t, score, c="tab:blue", lw=0.7, label="score")
        if threshold is not None and math.isfinite(threshold):
            bottom.axhline(threshold, c="tab:red", lw=0.8, ls="--", label=f"threshold {threshold:.3g}")
        bottom.set(xlabel="row", ylabel="anomaly score", ylim=(-0.02, 1.02))
        bottom.legend(fontsize=7, loc="upper left")
        fig.tight_layout()
        fig.savefig(Path(run_dir) / "plots" / "anomaly.png", dpi=100)
        plt.close(fig)
        return ["anomaly.png"]

    def summary(self, model, config, run_dir):
        r = config.get("report", {})
        if not r:
            return ""
        lines = [f"threshold {r['threshold']:.4g}: {r['alarms']} alarm row(s) after the prefix"]
        if "nab" in r:
            nab = r["nab"]
            lines.append("NAB score of this file (raw; 1 per window found at its start, -1 per window missed): "
                         + ", ".join(f"{k} {v['score']:.3f}" for k, v in nab.items()))
            lines.append(f"windows found {nab['standard']['windows_detected']} of {nab['standard']['windows']}; "
                         f"point F1 {r['point']['f1']:.3f}, event F1 {r['event']['f1']:.3f} "
                         f"(point-adjusted F1 {r['point_adjusted']['f1']:.3f}, which inflates: Kim et al. 2022)")
        return "\n".join(lines)

    def predict(self, model, config, inputs):
        """`rnnzoo predict RUN [FILE.csv]`: the rows of the run's series (or of another file read the same way)
        whose score reaches the run's threshold, after the prefix."""
        data = config["data"]
        if len(inputs) > 1 or (inputs and not is_file(inputs[0])):
            raise ValueError("predict takes one CSV file (default: the run's own series)")
        s = self.scores(model, data, inputs[0] if inputs else None)
        rows = np.flatnonzero(s["alarm"] & (np.arange(len(s["score"])) >= data["probation"]))
        if not len(rows):
            return [f"no row scores {s['threshold']:.4g} or more after the first {data['probation']}"]
        return [f"row {t} ({s['times'][t] if s['times'] else t}): value {s['values'][t]:.6g}, score {s['score'][t]:.4f}"
                for t in rows]


def _threshold_option(value):
    if value == "prefix":
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if not 0 <= number <= 1:
        raise ValueError(f"--threshold must be 'prefix' or a number in [0, 1], got {value!r}")
    return number


def anomaly_score(raw, values, probation: int, range_tolerance, threshold=0.5, start: int = 0) -> dict:
    """raw detector scores -> {'score', 'threshold', 'alarm'}: prefix-normalised (RAW_SCALE prefix
    spreads map to 1), the anomaly likelihood as log_likelihood, the range rule; the threshold read from the
    prefix's rows alone unless given. Rows before `start` (no full window yet) take the prefix's median."""
    raw = np.array(raw, dtype=np.float64)
    raw[:start] = np.median(raw[start:probation])
    z = detectors.prefix_scale(raw, probation)
    unit = np.clip(z / RAW_SCALE, 0.0, 1.0)
    score = detectors.log_likelihood(detectors.likelihood(unit, probation))
    if range_tolerance is not None:
        score[detectors.range_alarm(values, range_tolerance)] = 1.0
    if threshold == "prefix":
        threshold = detectors.prefix_likelihood_threshold(unit, probation)
    return {"score": score, "threshold": float(threshold), "alarm": score >= threshold}


def label_scores(score, alarm, windows, probation: int) -> dict:
    """The file's NAB scores (three profiles) of the alarms, and precision / recall / F1 after the prefix."""
    n = len(score)
    nab = {name: scoring.nab_file_score(alarm, windows, name, probation) for name in scoring.PROFILES}
    labels = scoring.labels_from_windows(windows, n)[probation:]
    flagged = np.asarray(alarm)[probation:]
    out = {"nab": nab, "point": scoring.point_prf(labels, flagged), "event": scoring.event_prf(labels, flagged),
           "point_adjusted": scoring.point_adjusted_prf(labels, flagged)}
    if len(windows) == 1:
        start, end = windows[0]
        out["ucr_hit"] = bool(scoring.ucr_hit(np.where(np.arange(n) >= probation, score, -1.0), start, end))
    return out
