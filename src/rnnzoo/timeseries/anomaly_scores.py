"""Anomaly-detection scoring: the NAB score, the UCR anomaly archive's hit rule, and precision, recall and F1
over points, over events and point-adjusted.

NAB (Lavin & Ahmad 2015) is reproduced from the code that made its scoreboard (numenta/NAB, nab/sweeper.py,
scorer.py, optimizer.py, runner.py; config/profiles.json), not from the paper's formulas, which differ:

- Windows are inclusive row ranges (start, end), sorted and apart (nab_windows reads them). A row in window
  (s, e), width W = e - s + 1, sits at y = -(e - i + 1) / W (y = -1 at s, -1/W at e); a row after window
  (s, e) and before the next one at y = (i - e) / (W - 1). sigma(y) = 2 / (1 + e^{5y}) - 1, and -1 for y > 3.
- A detection in a window is worth A_TP * sigma(y) / sigma(-1): exactly A_TP at the window's first row.
  A window counts once, by its best (earliest) detection; a window with none costs -A_FN. A detection
  outside every window costs A_FP * sigma(y) (< 0), or -A_FP before the first window. A_TN is unused.
- The first min(floor(0.15 n), 750) rows of a file of n rows are not scored (a window with no scored row
  counts for nothing).
- The corpus score: one threshold for every file (a detection is a score >= threshold), the one of the
  sorted distinct scores that maximises the summed score; normalised 100 (S - S_null) / (S_perfect - S_null).

    >>> import numpy as np
    >>> from rnnzoo.timeseries.anomaly_scores import nab_file_score, point_prf, ucr_hit
    >>> detections = np.zeros(40, dtype=bool)
    >>> detections[[20, 25]] = True                     # rows 0-5 are probationary (floor(0.15 * 40))
    >>> got = nab_file_score(detections, [(20, 29)], "standard")
    >>> round(got["score"], 6), got["windows_detected"]  # the window's first row: A_TP = 1, once
    (1.0, 1)
    >>> ucr_hit([0.0, 0.1, 0.9, 0.2], begin=1, end=1, slack=1)
    True
    >>> point_prf([0, 1, 1, 0], [0, 1, 0, 1])
    {'precision': 0.5, 'recall': 0.5, 'f1': 0.5, 'tp': 1, 'fp': 1, 'fn': 1}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class NabProfile:
    """A NAB application profile: the weights A_TP, A_FP, A_FN, A_TN (config/profiles.json's CostMatrix)."""
    tp: float
    fp: float
    fn: float
    tn: float = 1.0


# config/profiles.json (numenta/NAB); NAB names the last two reward_low_FP_rate and reward_low_FN_rate.
PROFILES = {"standard": NabProfile(tp=1.0, fp=0.11, fn=1.0, tn=1.0),
            "reward_low_FP": NabProfile(tp=1.0, fp=0.22, fn=1.0, tn=1.0),
            "reward_low_FN": NabProfile(tp=1.0, fp=0.11, fn=2.0, tn=1.0)}
PROBATION_PERCENT = 0.15  # nab/runner.py: Runner.probationaryPercent


def nab_probation(length: int, percent: float = PROBATION_PERCENT) -> int:
    """Rows at the start of a file that NAB does not score: min(floor(percent * length), percent * 5000),
    i.e. 15 % capped at 750 rows (nab/util.py getProbationPeriod, as NAB computes it in floating point)."""
    return int(min(math.floor(percent * length), percent * 5000))


def nab_scaled_sigmoid(y):
    """NAB's scaledSigmoid (nab/sweeper.py): 2 / (1 + e^{5y}) - 1, and exactly -1 for y > 3. It is 0.98661 at
    y = -1 (a window's start), 0 at y = 0, -0.98661 at y = 1. A float for a scalar, else an array."""
    y = np.asarray(y, dtype=np.float64)
    value = 2 * (1 / (1 + np.exp(5 * np.minimum(y, 3.0)))) - 1  # the minimum only avoids an overflow warning
    value = np.where(y > 3.0, -1.0, value)
    return float(value) if value.ndim == 0 else value


def nab_windows_from_timestamps(windows, timestamps) -> list[tuple[int, int]]:
    """Map windows given as (start, end) timestamps (anything pandas.Timestamp reads) to (start, end) row
    indices of a file with these timestamps. Like NAB (nab/labeler.py getWindows), each window timestamp
    must occur exactly once among the file's timestamps (which may repeat elsewhere), else ValueError."""
    import pandas as pd

    stamps = pd.to_datetime(pd.Series(list(timestamps))).to_numpy()
    rows = []
    for window in windows:
        if len(window) != 2:
            raise ValueError(f"windows must hold (start, end) pairs, got {window!r}")
        pair = []
        for t in window:
            where = np.flatnonzero(stamps == pd.Timestamp(t).to_datetime64())
            if len(where) != 1:
                raise ValueError(f"the window timestamp {t!r} occurs {len(where)} times in timestamps (NAB needs "
                                 "exactly 1)")
            pair.append(int(where[0]))
        rows.append((pair[0], pair[1]))
    _check_windows(rows, len(stamps), "windows")
    return rows


def nab_windows(labels_json_path, relative_file: str, data_dir=None) -> list[tuple[int, int]]:
    """The windows of one NAB data file (e.g. 'realKnownCause/nyc_taxi.csv') as (start, end) row indices,
    inclusive, from labels/combined_windows.json. The file's timestamps are read from
    data_dir/relative_file; data_dir defaults to NAB's layout, <labels folder>/../data."""
    import pandas as pd

    labels_json_path = Path(labels_json_path)
    with open(labels_json_path) as f:
        labels = json.load(f)
    if relative_file not in labels:
        raise ValueError(f"relative_file {relative_file!r} is not in {labels_json_path}")
    data_dir = labels_json_path.parent.parent / "data" if data_dir is None else Path(data_dir)
    timestamps = pd.read_csv(data_dir / relative_file, usecols=["timestamp"])["timestamp"]
    return nab_windows_from_timestamps(labels[relative_file], timestamps)


def nab_corpus_windows(labels_json_path, data_dir=None) -> dict[str, list[tuple[int, int]]]:
    """nab_windows for every file named in the labels file: {relative_file: [(start, end), ...]}."""
    with open(labels_json_path) as f:
        names = sorted(json.load(f))
    return {name: nab_windows(labels_json_path, name, data_dir) for name in names}


def nab_sweep_scores(length: int, windows, profile="standard") -> np.ndarray:
    """The score each row of a file would earn if it were the detection that counts (NAB's per-row
    sweepScore, nab/sweeper.py calcSweepScore): A_TP sigma(y) / sigma(-1) in a window, A_FP sigma(y) after
    one, -A_FP before the first. Probationary rows get a value too; the scorer leaves them out."""
    return _sweep(length, _windows(windows, length), _profile(profile))[0]


def nab_file_score(detections, windows, profile="standard", probation: int | None = None) -> dict:
    """The NAB score of one file's detections (a bool per row) against its windows ((start, end) rows).

    Returns {'score', 'tp', 'fp', 'fn', 'tn', 'scored', 'windows', 'windows_detected', 'windows_missed'}:
    tp/fp/fn/tn count scored rows as NAB's score files do (tp = detected rows inside windows, not
    windows); 'windows' counts the windows with a scored row. probation is the number of leading rows
    not scored, None for NAB's rule (nab_probation)."""
    detections = _binary(detections, "detections")
    windows, p = _windows(windows, len(detections)), _profile(profile)
    sweep, window, scored = _sweep(len(detections), windows, p, probation)
    detected = detections & scored
    outside = window < 0
    score = float(np.sum(sweep[detected & outside]))
    found = missed = 0
    for k in np.unique(window[scored & ~outside]):
        hits = sweep[detected & (window == k)]
        # sweeper.py keeps max(-A_FN, best sweep score): the earliest detection, as sigma falls with y
        score += max(-p.fn, float(hits.max())) if hits.size else -p.fn
        found, missed = found + bool(hits.size), missed + (not hits.size)
    return {"score": score, "tp": int(np.sum(detected & ~outside)), "fp": int(np.sum(detected & outside)),
            "fn": int(np.sum(scored & ~detections & ~outside)), "tn": int(np.sum(scored & ~detections & outside)),
            "scored": int(np.sum(scored)), "windows": found + missed, "windows_detected": found,
            "windows_missed": missed}


def nab_corpus_score(scores_by_file: dict, windows_by_file: dict, profile="standard", threshold=None,
                     probation_percent: float = PROBATION_PERCENT) -> dict:
    """NAB's benchmark score of a detector over a corpus: {file: anomaly score per row} against
    {file: [(start, end) rows]} (the same files). A row is a detection when its score >= threshold; with
    threshold None, the threshold is NAB's optimum (nab/optimizer.py): of 'no detection at all' (returned as
    inf; NAB writes 1.1) and every distinct score, the one with the highest total, the highest threshold
    on a tie.

    Returns {'normalized', 'raw', 'null', 'perfect', 'threshold', 'tp', 'fp', 'fn', 'tn', 'windows',
    'windows_detected', 'by_file'}: raw = S, the sum of the files' nab_file_score; null = S_null, the
    score of never detecting (-A_FN per window with a scored row; NAB's null detector, threshold optimised,
    gets the same: -116 standard); perfect = A_TP per window (nab/runner.py normalize), what detecting each
    window's first row scores when no window starts in a probationary period, as in NAB's corpus;
    normalized = 100 (S - S_null) / (S_perfect - S_null)."""
    p = _profile(profile)
    if not isinstance(scores_by_file, dict) or not isinstance(windows_by_file, dict):
        raise ValueError("scores_by_file and windows_by_file must be dicts keyed by file name")
    if set(scores_by_file) != set(windows_by_file):
        odd = sorted(set(scores_by_file) ^ set(windows_by_file), key=str)
        raise ValueError(f"scores_by_file and windows_by_file must name the same files; only one names {odd[:5]}")
    if not scores_by_file:
        raise ValueError("scores_by_file is empty")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or math.isnan(threshold)):
        raise ValueError(f"threshold must be a number or None, got {threshold!r}")
    files, parts = {}, []
    for name, scores in scores_by_file.items():
        scores = _scores(scores, f"scores_by_file[{name!r}]")
        windows = _windows(windows_by_file[name], len(scores), f"windows_by_file[{name!r}]")
        files[name] = (scores, windows)
        probation = nab_probation(len(scores), probation_percent)
        sweep, window, scored = _sweep(len(scores), windows, p, probation)
        parts.append((scores[scored], sweep[scored], window[scored], probation))
    if threshold is None:
        threshold = _best_threshold(parts, p)
    by_file = {name: nab_file_score(scores >= threshold, windows, p, probation)
               for (name, (scores, windows)), (*_, probation) in zip(files.items(), parts)}
    totals = {key: sum(r[key] for r in by_file.values()) for key in ("tp", "fp", "fn", "tn", "windows_detected")}
    raw = float(sum(r["score"] for r in by_file.values()))
    null = -p.fn * sum(r["windows"] for r in by_file.values())
    perfect = p.tp * sum(len(windows) for _, windows in files.values())
    if perfect == null:
        raise ValueError("windows_by_file holds no window: the score cannot be normalised")
    return {"normalized": 100 * (raw - null) / (perfect - null), "raw": raw, "null": null, "perfect": perfect,
            "threshold": float(threshold), **totals, "windows": sum(len(w) for _, w in files.values()),
            "by_file": by_file}


def ucr_hit(scores, begin: int, end: int, slack: int = 100) -> bool:
    """The UCR anomaly archive's rule (Wu & Keogh 2021): one anomaly per series, found when the location of
    the highest score (the first one on a tie) lies in [begin - slack, end + slack]. begin and end are the
    labelled region's first and last positions, in the positions of scores (0-based; convert the archive's
    file-name numbers to them)."""
    scores = _scores(scores, "scores")
    for name, value in (("begin", begin), ("end", end), ("slack", slack)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
    if not 0 <= begin <= end < len(scores):
        raise ValueError(f"begin and end must satisfy 0 <= begin <= end < len(scores) = {len(scores)}, "
                         f"got begin={begin}, end={end}")
    if slack < 0:
        raise ValueError(f"slack must be at least 0, got {slack}")
    return bool(begin - slack <= int(np.argmax(scores)) <= end + slack)


def label_events(labels) -> list[tuple[int, int]]:
    """The events of a point labelling: its maximal runs of positive points, as (start, end) inclusive."""
    labels = _binary(labels, "labels").astype(np.int8)
    edges = np.diff(np.concatenate([[0], labels, [0]]))
    return [(int(s), int(e) - 1) for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))]


def labels_from_windows(windows, length: int) -> np.ndarray:
    """A bool per point, True inside the (start, end) inclusive windows (e.g. NAB's), for the functions below."""
    labels = np.zeros(length, dtype=bool)
    for start, end in _windows(windows, length, min_width=1):
        labels[start:end + 1] = True
    return labels


def point_prf(labels, predictions) -> dict:
    """Precision, recall and F1 over points: {'precision', 'recall', 'f1', 'tp', 'fp', 'fn'}. A ratio 0/0 (no
    point predicted, or none labelled) is 0, as scikit-learn's zero_division=0."""
    labels, predictions = _pair(labels, predictions)
    tp, fp, fn = (int(np.sum(labels & predictions)), int(np.sum(~labels & predictions)),
                  int(np.sum(labels & ~predictions)))
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall), "tp": tp, "fp": fp, "fn": fn}


def event_prf(labels, predictions) -> dict:
    """The composite F-score of Garg et al. 2021 ("An evaluation of anomaly detection and diagnosis in
    multivariate time series", IEEE TNNLS): recall over events (an event = a maximal run of labelled points;
    found when at least one of its points is predicted) and precision over points (a false alarm is not an
    event, so the paper keeps the point-wise precision), F1 = their harmonic mean.

    Returns {'precision', 'recall', 'f1', 'events', 'events_detected'}; 0/0 counts 0."""
    labels, predictions = _pair(labels, predictions)
    events = label_events(labels)
    found = sum(bool(predictions[s:e + 1].any()) for s, e in events)
    precision, recall = point_prf(labels, predictions)["precision"], _ratio(found, len(events))
    return {"precision": precision, "recall": recall, "f1": _f1(precision, recall), "events": len(events),
            "events_detected": found}


def point_adjust(labels, predictions) -> np.ndarray:
    """Point adjustment (Xu et al. 2018): every point of an event counts as predicted when any of its points
    is; points outside events are left as they are. See point_adjusted_prf for why to be wary of it."""
    labels, predictions = _pair(labels, predictions)
    adjusted = predictions.copy()
    for start, end in label_events(labels):
        if predictions[start:end + 1].any():
            adjusted[start:end + 1] = True
    return adjusted


def point_adjusted_prf(labels, predictions) -> dict:
    """point_prf after point_adjust. Warning: point adjustment inflates results. One detection anywhere in
    a long event credits the whole event, so random scores can reach a high point-adjusted F1 (Kim et al.
    2022, "Towards a rigorous evaluation of time-series anomaly detection", AAAI); report it beside the plain
    point_prf, never alone."""
    return point_prf(labels, point_adjust(labels, predictions))


def _sweep(length, windows, p, probation=None):
    """(sweep score, window index or -1, scored) per row: nab/sweeper.py calcSweepScore, vectorised."""
    max_tp = nab_scaled_sigmoid(np.array([-1.0]))[0]
    sweep = np.full(length, -1.0 * p.fp)  # before any window: as if far from one
    window = np.full(length, -1)
    for k, (start, end) in enumerate(windows):
        width = float(end - start + 1)
        inside = np.arange(start, end + 1)
        sweep[start:end + 1] = nab_scaled_sigmoid(-(end - inside + 1) / width) * p.tp / max_tp
        window[start:end + 1] = k
        stop = windows[k + 1][0] if k + 1 < len(windows) else length
        sweep[end + 1:stop] = nab_scaled_sigmoid(np.abs(end - np.arange(end + 1, stop)) / (width - 1)) * p.fp
    if probation is None:
        probation = nab_probation(length)
    if isinstance(probation, bool) or not isinstance(probation, (int, np.integer)) or probation < 0:
        raise ValueError(f"probation must be an integer of at least 0 or None, got {probation!r}")
    return sweep, window, np.arange(length) >= probation


def _best_threshold(parts, p) -> float:
    """The corpus threshold with the highest total score (nab/sweeper.py calcScoreByThreshold and
    nab/optimizer.py) in O(n log n): each scored row gets the change it makes to the total when the threshold
    falls to its score (its FP score, or the rise in its window's best score), summed in falling score order."""
    scores = np.concatenate([s for s, *_ in parts])
    deltas = np.concatenate([v for _, v, *_ in parts])
    base = 0.0
    offset = 0
    for s, v, w, *_ in parts:
        for k in np.unique(w[w >= 0]):
            rows = np.flatnonzero(w == k)
            rows = rows[np.argsort(-s[rows], kind="stable")]
            best = np.maximum.accumulate(np.concatenate([[-p.fn], v[rows]]))
            deltas[offset + rows] = np.diff(best)
            base -= p.fn
        offset += len(s)
    order = np.argsort(-scores, kind="stable")
    totals = base + np.cumsum(deltas[order])
    ranked = scores[order]
    last = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))  # each distinct score's last row
    candidates = np.concatenate([[base], totals[last]])
    best = int(np.argmax(candidates))  # the first maximum: the highest threshold, as NAB's stable sort
    return math.inf if best == 0 else float(ranked[last[best - 1]])


def _profile(profile) -> NabProfile:
    if isinstance(profile, NabProfile):
        return profile
    if isinstance(profile, str) and profile in PROFILES:
        return PROFILES[profile]
    raise ValueError(f"unknown profile {profile!r}: use one of {sorted(PROFILES)} or a NabProfile")


def _windows(windows, length, name="windows", min_width=2) -> list[tuple[int, int]]:
    """(start, end) inclusive row pairs, checked: integers, inside [0, length), sorted and apart. NAB needs
    a width of at least 2 (it divides a false positive's distance past a window by width - 1)."""
    _check_windows(windows, length, name, min_width)
    return [(int(s), int(e)) for s, e in windows]


def _check_windows(windows, length, name, min_width=1):
    previous_end = -1
    for window in windows:
        if len(window) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, np.integer)) for v in window):
            raise ValueError(f"{name} must hold (start, end) integer row pairs, got {window!r}")
        start, end = window
        if not previous_end < start <= end < length:
            raise ValueError(f"{name} must be sorted, apart and inside the {length} rows, with start <= end; "
                             f"got {window!r} after a window ending at {previous_end}")
        if end - start + 1 < min_width:
            raise ValueError(f"{name} has the window {window!r} of {end - start + 1} row(s); NAB's rule needs "
                             f"at least {min_width} (it divides by the width - 1)")
        previous_end = end


def _scores(scores, name) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {scores.shape}")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"{name} has {int(np.sum(~np.isfinite(scores)))} value(s) that are NaN or infinite")
    return scores


def _binary(values, name) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    if array.dtype != bool:
        if not np.issubdtype(array.dtype, np.number) or not np.all(np.isin(array, (0, 1))):
            raise ValueError(f"{name} must hold booleans or 0/1 only (NaN included in what is refused)")
        array = array.astype(bool)
    return array


def _pair(labels, predictions):
    labels, predictions = _binary(labels, "labels"), _binary(predictions, "predictions")
    if len(labels) != len(predictions):
        raise ValueError(f"labels and predictions must have the same length, got {len(labels)} and "
                         f"{len(predictions)}")
    return labels, predictions


def _ratio(numerator, denominator) -> float:
    return numerator / denominator if denominator else 0.0


def _f1(precision, recall) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0
