"""Forecast accuracy: MASE, sMAPE, MAPE, RMSE over every scored point of a set of forecasts.

y (the truth) and yhat (the forecasts) have the same shape, (origins, horizon) or 1-D. A NaN in y is a
missing observation: that point is left out of every metric (all_metrics counts what was scored).

    >>> import numpy as np
    >>> from rnnzoo.timeseries.metrics import all_metrics
    >>> y, yhat = np.array([[3.0, np.nan], [5.0, 4.0]]), np.array([[2.0, 9.0], [5.0, 6.0]])
    >>> {k: round(v, 3) for k, v in all_metrics(y, yhat, insample=[1.0, 2.0, 4.0], season=1).items()}
    {'mase': 0.667, 'smape': 26.667, 'mape': 27.778, 'rmse': 1.291, 'scored': 3, 'missing': 1}
"""

from __future__ import annotations

import math

import numpy as np


def mase(y, yhat, insample, season: int) -> float:
    """Mean absolute scaled error: mean |y - yhat| / scale over the scored points, where scale =
    mean |insample[t] - insample[t - season]| is the in-sample MAE of the seasonal naive forecast (pairs
    with a NaN skipped). Pass the history the forecasts could see, e.g. y[:protocol.test_start].

    Raises ValueError: season below 1, insample not 1-D or with fewer than season + 1 points or no
    complete pair, a scale of 0 (a series that repeats itself exactly), or as _scored does.
    """
    error, _ = _scored(y, yhat)
    return float(np.mean(np.abs(error)) / _scale(insample, season))


def smape(y, yhat) -> float:
    """Symmetric MAPE in percent: mean 200 |y - yhat| / (|y| + |yhat|); a point with |y| + |yhat| = 0
    counts 0 (a perfect forecast of 0)."""
    error, (y, yhat) = _scored(y, yhat)
    denominator = np.abs(y) + np.abs(yhat)
    ratio = np.divide(np.abs(error), denominator, out=np.zeros_like(error), where=denominator > 0)
    return float(200 * np.mean(ratio))


def mape(y, yhat) -> float:
    """Mean absolute percentage error in percent: mean 100 |y - yhat| / |y|. Raises ValueError naming y
    if a scored y is 0 (the error is undefined there)."""
    error, (y, _) = _scored(y, yhat)
    if np.any(y == 0):
        raise ValueError(f"y has {int(np.sum(y == 0))} scored value(s) equal to 0: MAPE is undefined there")
    return float(100 * np.mean(np.abs(error) / np.abs(y)))


def rmse(y, yhat) -> float:
    """Root mean squared error over the scored points."""
    error, _ = _scored(y, yhat)
    return float(np.sqrt(np.mean(error ** 2)))


def all_metrics(y, yhat, insample, season: int) -> dict:
    """{'mase', 'smape', 'mape', 'rmse'} as the functions above, plus 'scored' (points scored) and
    'missing' (points left out because y was NaN). 'mape' is NaN where mape() would raise because a
    scored y is 0, so one undefined metric does not lose the others."""
    scored = int(np.sum(~np.isnan(np.asarray(y, dtype=np.float64))))
    try:
        percentage = mape(y, yhat)
    except ValueError:
        _scored(y, yhat)  # a bad argument still raises; only y == 0 gives NaN
        percentage = math.nan
    return {"mase": mase(y, yhat, insample, season), "smape": smape(y, yhat), "mape": percentage,
            "rmse": rmse(y, yhat), "scored": scored, "missing": int(np.size(y)) - scored}


def _scored(y, yhat) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """(y - yhat, (y, yhat)) at the points where y is known, flattened. Raises ValueError: shapes differ,
    yhat not finite, y infinite, or no point to score (every y NaN or none at all)."""
    y, yhat = np.asarray(y, dtype=np.float64), np.asarray(yhat, dtype=np.float64)
    if y.shape != yhat.shape:
        raise ValueError(f"y and yhat must have the same shape, got {y.shape} and {yhat.shape}")
    if not np.all(np.isfinite(yhat)):
        raise ValueError(f"yhat has {int(np.sum(~np.isfinite(yhat)))} value(s) that are NaN or infinite: "
                         "a forecast must give every point")
    if np.any(np.isinf(y)):
        raise ValueError("y has infinite values (mark a missing observation with NaN)")
    known = ~np.isnan(y)
    if not known.any():
        raise ValueError(f"y has no value to score (all {y.size} are NaN or y is empty)")
    return y[known] - yhat[known], (y[known], yhat[known])


def _scale(insample, season: int) -> float:
    """The in-sample MAE of the seasonal naive forecast: MASE's denominator."""
    if isinstance(season, bool) or not isinstance(season, (int, np.integer)) or season < 1:
        raise ValueError(f"season must be an integer of at least 1, got {season!r}")
    insample = np.asarray(insample, dtype=np.float64)
    if insample.ndim != 1:
        raise ValueError(f"insample must be a 1-D series, got shape {insample.shape}")
    if len(insample) < season + 1:
        raise ValueError(f"insample has {len(insample)} point(s); MASE with season={season} needs at least "
                         f"{season + 1}")
    diffs = np.abs(insample[season:] - insample[:-season])
    diffs = diffs[~np.isnan(diffs)]
    if diffs.size == 0:
        raise ValueError(f"insample has no pair of known values {season} step(s) apart: MASE has no scale")
    scale = float(np.mean(diffs))
    if scale == 0:
        raise ValueError(f"insample repeats itself exactly every {season} step(s): the MASE scale is 0")
    return scale
