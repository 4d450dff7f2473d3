"""Streaming anomaly scores: NAB's two reference detectors and the post-processing that turns a model's
raw score (a forecaster's residual, an autoencoder's reconstruction error) into a score per point.

Every function here is causal: the score of row t reads rows <= t only, and anything fitted (a scale, a
threshold) reads the probationary prefix only, the first `probation` rows that NAB does not score.

    windowed_gaussian  NAB's windowedGaussian baseline (nab/detectors/gaussian): 1 - Q(|z|) of the value
                       against the mean and deviation of up to 6,400 earlier values, updated 100 at a time
    random_scores      NAB's random baseline (nab/detectors/random): Python's random.uniform(0, 1) per row,
                       seeded 42 per file
    prefix_scale       normalise a raw score by its median and spread on the prefix (robust, causal)
    likelihood         the anomaly likelihood of Ahmad et al. (2017), NAB's numenta detector's last stage:
                       the 10-row mean of the raw score against a Gaussian fitted to the earlier
                       history, re-fitted every 100 rows; a second red alarm in a row is lowered
    log_likelihood     log(1 - L) / log(1e-10): the likelihood on [0, 1] as NAB's numenta detector reports it
    range_alarm        rows whose value leaves the range seen so far by more than a fraction of it (NAB's
                       numenta detector's "spatial anomaly")
    prefix_likelihood_threshold  the highest log_likelihood a prefix row gets against the prefix's Gaussian

    >>> import numpy as np
    >>> from rnnzoo.timeseries.detectors import likelihood, range_alarm
    >>> raw = np.full(400, 0.1); raw[300] = 5.0          # one surprising row after a quiet prefix
    >>> scores = likelihood(raw, probation=100)
    >>> int(np.argmax(scores)), bool(scores[299] < 0.9)
    (300, True)
    >>> range_alarm([1.0, 2.0, 1.5, 2.04, 2.1], tolerance=0.05).tolist()
    [False, False, False, False, True]
"""

from __future__ import annotations

import math
import random

import numpy as np

from .anomaly_scores import nab_probation


def _series(values, name: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D series, got shape {values.shape}")
    if not np.all(np.isfinite(values)):
        bad = int(np.flatnonzero(~np.isfinite(values))[0])
        raise ValueError(f"{name} must be finite (fill missing values first); row {bad} is {values[bad]}")
    return values


def _probation(probation, length: int) -> int:
    if probation is None:
        return nab_probation(length)
    if isinstance(probation, bool) or not isinstance(probation, (int, np.integer)) or not 0 <= probation <= length:
        raise ValueError(f"probation must be an integer in [0, {length}] or None, got {probation!r}")
    return int(probation)


def _upper_tail(z):
    """Q(z) = P(Z > z) for a standard normal Z, elementwise."""
    from scipy.special import erfc

    return 0.5 * erfc(np.asarray(z, dtype=np.float64) / math.sqrt(2))


def windowed_gaussian(values, window: int = 6400, step: int = 100) -> np.ndarray:
    """NAB's windowedGaussian baseline. Row t scores 1 - Q(|v_t - m| / s), two-sided, with m and s the mean
    and (population) deviation of the window as it stood before row t: the first `window` values one at a
    time, then slid by `step` values at once; row 0 scores 0; a deviation of 0 counts as 1e-6."""
    values = _series(values, "values")
    scores = np.zeros(len(values))
    mean, std = 0.0, 1.0
    filled, buffered = 0, 0  # values[:filled] while it fills, then values[end - window:end]
    end = 0
    for t, value in enumerate(values):
        if end > 0:
            scores[t] = 1.0 - float(_upper_tail(abs(value - mean) / std))
        if filled < window:
            filled, end = filled + 1, t + 1
        else:
            buffered += 1
            if buffered < step:
                continue
            buffered, end = 0, t + 1
        part = values[end - filled:end]
        mean, std = float(np.mean(part)), float(np.std(part))
        std = std if std != 0.0 else 1e-6
    return scores


def random_scores(length: int, seed: int = 42) -> np.ndarray:
    """NAB's random baseline for one file: random.seed(seed), then random.uniform(0, 1) per row."""
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or length < 1:
        raise ValueError(f"length must be a positive integer, got {length!r}")
    draw = random.Random(seed)
    return np.array([draw.uniform(0, 1) for _ in range(length)])


def prefix_scale(raw, probation: int | None = None) -> np.ndarray:
    """(raw - median) / spread, both from the first `probation` rows (None: NAB's rule), the spread the
    prefix's 90th percentile of |raw - median| (never below 1e-12 of the prefix's largest |raw|, nor 1e-12):
    1 is a large score of the normal prefix, whatever the raw score's units."""
    raw = _series(raw, "raw")
    probation = _probation(probation, len(raw))
    if probation < 2:
        raise ValueError(f"probation must leave at least 2 prefix rows to scale by, got {probation}")
    prefix = raw[:probation]
    centre = float(np.median(prefix))
    spread = float(np.quantile(np.abs(prefix - centre), 0.9))
    spread = max(spread, 1e-12 * float(np.max(np.abs(prefix))), 1e-12)
    return (raw - centre) / spread


def likelihood(raw, probation: int | None = None, averaging: int = 10, history: int = 8640,
               reestimate: int = 100, min_mean: float = 0.03, min_variance: float = 0.0003,
               red: float = 0.99999, yellow: float = 0.999) -> np.ndarray:
    """The anomaly likelihood (Ahmad, Lavin, Purdy & Agha 2017, sec. 3.3), per row, in [0, 1].

    a_t = the mean of raw over rows t-averaging+1..t. After the probationary rows (0.5 until then), a
    Gaussian (mean mu, variance v) is fitted to a_s over the rows s of the last `history` rows before the
    refit, leaving out the first half of the prefix while it is in reach (a learning period); it is refitted
    every `reestimate` rows. mu is at least min_mean and v at least min_variance (NAB's floors, for raw
    scores on [0, 1]). L_t = 1 - Q((a_t - mu) / sqrt(v)). A red likelihood (L >= red) that follows a red
    one is lowered to `yellow`: a long alarm rings once."""
    raw = _series(raw, "raw")
    n = len(raw)
    probation = _probation(probation, n)
    for name, value in (("averaging", averaging), ("history", history), ("reestimate", reestimate)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    averaged = _running_mean(raw, averaging)
    learning = probation // 2
    out = np.full(n, 0.5)
    for t in range(max(probation, 1), n, reestimate):  # a refit, then the rows up to the next one
        lo = max(t - history, 0)
        lo = max(lo, learning) if t - lo > learning else lo  # skip the learning period while in reach
        sample = averaged[lo:t]
        mu, var = max(float(np.mean(sample)), min_mean), max(float(np.var(sample)), min_variance)
        out[t:t + reestimate] = 1.0 - _upper_tail((averaged[t:t + reestimate] - mu) / math.sqrt(var))
    alarm = out >= red
    repeat = alarm & np.concatenate([[False], alarm[:-1]])
    out[repeat] = yellow
    return out


def _running_mean(raw, averaging):
    """The mean of raw over rows t-averaging+1..t (fewer at the start), per row t."""
    n = len(raw)
    sums = np.concatenate([[0.0], np.cumsum(raw)])
    starts = np.maximum(np.arange(n) - averaging + 1, 0)
    return (sums[1:] - sums[starts]) / (np.arange(n) - starts + 1)


def prefix_likelihood_threshold(raw, probation: int | None = None, averaging: int = 10,
                                min_mean: float = 0.03, min_variance: float = 0.0003) -> float:
    """A threshold for log_likelihood(likelihood(raw, probation)) read from the prefix alone: the Gaussian
    `likelihood` would fit there (the averaged raw score of the prefix's second half, with the same floors),
    and the highest log-likelihood one of those rows gets against it, in sample. No row of the normal
    prefix's second half would have been flagged."""
    raw = _series(raw, "raw")
    probation = _probation(probation, len(raw))
    if probation < 4:
        raise ValueError(f"probation must be at least 4 rows to choose a threshold on it, got {probation}")
    averaged = _running_mean(raw[:probation], averaging)[probation // 2:]
    mu, var = max(float(np.mean(averaged)), min_mean), max(float(np.var(averaged)), min_variance)
    top = 1.0 - float(_upper_tail((averaged.max() - mu) / math.sqrt(var)))
    return float(log_likelihood(top))


def log_likelihood(likelihood_values) -> np.ndarray:
    """log(1.0000000001 - L) / log(1 - 0.9999999999): NAB's numenta detector's report of a likelihood L,
    near 0 for ordinary rows and spreading out the last nines (0.5 at L = 1 - 1e-5)."""
    values = np.asarray(likelihood_values, dtype=np.float64)
    return np.log(1.0000000001 - values) / math.log(1.0 - 0.9999999999)


def range_alarm(values, tolerance: float = 0.05) -> np.ndarray:
    """True where a value lies outside [min - tol, max + tol] of the values before it, tol = tolerance *
    (max - min); never on the first two rows or while the range is empty (NAB's numenta detector's spatial
    anomaly, SPATIAL_TOLERANCE = 0.05)."""
    values = _series(values, "values")
    if not tolerance >= 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance!r}")
    low = np.minimum.accumulate(values)
    high = np.maximum.accumulate(values)
    low, high = np.concatenate([[np.nan], low[:-1]]), np.concatenate([[np.nan], high[:-1]])
    spread = high - low
    with np.errstate(invalid="ignore"):
        alarm = (spread > 0) & ((values > high + tolerance * spread) | (values < low - tolerance * spread))
    return alarm
