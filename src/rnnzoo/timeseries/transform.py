"""`SeriesTransform`: log, differencing and standardisation of a series, fitted on its training part.

Forward: z = standardise(difference(log(y))); the model reads and forecasts z. Backward: forecasts of z
become forecasts of y by undoing each step, anchored on the observed values before the forecast origin.

    >>> import numpy as np
    >>> from rnnzoo.timeseries.transform import SeriesTransform
    >>> y = np.array([1., 2., 4., 7., 11., 16.])
    >>> tr = SeriesTransform(log=False, difference="first").fit(y[:4])     # training part: y[:4]
    >>> z = tr.forward(y)
    >>> tr.inverse(z[4:], history=y[:4]).tolist()                         # exact on true differences
    [11.0, 16.0]

`difference`: "none", "first" (z_t = y_t - y_{t-1}), "seasonal" (z_t = y_t - y_{t-season}) or "both"
(z_t = (y_t - y_{t-1}) - (y_{t-season} - y_{t-season-1}), Box and Jenkins' differencing for the airline
series: a trend and a seasonal pattern that both drift slowly leave z near noise); the first 1, `season` or
`season + 1` values of z are NaN (no predecessor). Statistics come from the training part only: `fit`
sees nothing else, and `forward` on the whole series uses them unchanged.
"""

from __future__ import annotations

import numpy as np

DIFFERENCES = ("none", "first", "seasonal", "both")


class SeriesTransform:
    def __init__(self, *, log: bool = False, difference: str = "none", season: int = 1):
        if difference not in DIFFERENCES:
            raise ValueError(f"difference must be one of {', '.join(DIFFERENCES)}, got {difference!r}")
        if difference in ("seasonal", "both") and season < 2:
            raise ValueError(f"difference={difference!r} needs a season >= 2, got {season}")
        self.log, self.difference, self.season = log, difference, season
        self.mean, self.std = 0.0, 1.0

    @property
    def lag(self) -> int:
        """How many values the differencing looks back (0 without it)."""
        return {"none": 0, "first": 1, "seasonal": self.season, "both": self.season + 1}[self.difference]

    def _level(self, y: np.ndarray) -> np.ndarray:
        y = np.asarray(y, dtype=np.float64)
        if self.log:
            if np.nanmin(y) <= 0:
                raise ValueError(f"a log transform needs positive values; the series has {np.nanmin(y):g}")
            return np.log(y)
        return y

    def _differenced(self, y) -> np.ndarray:
        v = self._level(y)
        if not self.lag:
            return v
        out = np.full_like(v, np.nan)
        if self.difference == "both":
            m = self.season
            out[m + 1:] = (v[m + 1:] - v[m:-1]) - (v[1:-m] - v[:-m - 1])
        else:
            out[self.lag:] = v[self.lag:] - v[:-self.lag]
        return out

    def fit(self, train: np.ndarray) -> "SeriesTransform":
        """Mean and standard deviation of the transformed training part (NaN skipped)."""
        d = self._differenced(train)
        d = d[~np.isnan(d)]
        if len(d) < 2:
            raise ValueError(f"the training part leaves {len(d)} value(s) after differencing; it needs 2 or more")
        self.mean, self.std = float(d.mean()), float(d.std()) or 1.0
        return self

    def forward(self, y: np.ndarray) -> np.ndarray:
        return (self._differenced(y) - self.mean) / self.std

    def inverse(self, z: np.ndarray, history: np.ndarray) -> np.ndarray:
        """Forecasts z (..., H) of the steps after `history` (the observed y before the origin) as y."""
        z = np.asarray(z, dtype=np.float64)
        d = z * self.std + self.mean
        past = self._level(history)
        if self.difference == "first":
            d = past[-1] + np.cumsum(d, axis=-1)
        elif self.difference in ("seasonal", "both"):
            m, H = self.lag, d.shape[-1]  # each level from the m before it
            levels = np.concatenate([np.broadcast_to(past[-m:], d.shape[:-1] + (m,)), np.zeros_like(d)], axis=-1)
            for h in range(H):
                if self.difference == "seasonal":
                    levels[..., m + h] = levels[..., h] + d[..., h]
                else:  # y_t = y_{t-1} + y_{t-season} - y_{t-season-1} + z_t
                    levels[..., m + h] = levels[..., m + h - 1] + levels[..., h + 1] - levels[..., h] + d[..., h]
            d = levels[..., m:]
        return np.exp(d) if self.log else d

    def config(self) -> dict:
        return {"log": self.log, "difference": self.difference, "season": self.season, "mean": self.mean,
                "std": self.std}

    @classmethod
    def from_config(cls, c: dict) -> "SeriesTransform":
        tr = cls(log=c["log"], difference=c["difference"], season=c["season"])
        tr.mean, tr.std = c["mean"], c["std"]
        return tr
