"""The rolling-origin protocol: where a series splits into training, validation and test forecasts.

An origin t means: the history y[:t] is known, the targets are y[t:t+horizon]. The test origins are
the last ones (the final one at n - horizon), the validation origins come before them with targets
that end at or before the first test origin, and the training part is everything before the first
validation origin, so no training target comes from validation or test data and no validation
target from test data.

    >>> import numpy as np
    >>> from rnnzoo.timeseries.windows import rolling_origin, windows, train_windows
    >>> p = rolling_origin(20, 3, test_origins=2, val_origins=1)
    >>> p.train_end, p.val_origins, p.test_origins
    (11, (11,), (14, 17))
    >>> x, target = windows(np.arange(20.0), p.test_origins, lookback=4, horizon=3)
    >>> x.tolist(), target.tolist()
    ([[10.0, 11.0, 12.0, 13.0], [13.0, 14.0, 15.0, 16.0]], [[14.0, 15.0, 16.0], [17.0, 18.0, 19.0]])
    >>> train_windows(np.arange(20.0), p.train_end, lookback=4, horizon=3)[1][-1].tolist()  # ends at y[10]
    [8.0, 9.0, 10.0]
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Protocol:
    """A rolling-origin split of a series of n points (see rolling_origin).

    n: series length; horizon: steps forecast from each origin; train_end: the training part is
    y[:train_end]; val_origins, test_origins: the validation and test forecast origins, increasing.
    """

    n: int
    horizon: int
    train_end: int
    val_origins: tuple[int, ...]
    test_origins: tuple[int, ...]

    @property
    def test_start(self) -> int:
        """The first test origin: test targets lie in y[test_start:]."""
        return self.test_origins[0]

    @property
    def val_start(self) -> int:
        """The first validation origin (train_end when there is no validation origin)."""
        return self.val_origins[0] if self.val_origins else self.train_end


def rolling_origin(n: int, horizon: int, *, test_origins: int = 1, val_origins: int = 1, step: int | None = None,
                   min_train: int | None = None) -> Protocol:
    """The rolling-origin split of a series of n points for forecasts `horizon` steps ahead.

    Test origins: the last `test_origins` origins, spaced by `step` (default `horizon`, so test target
    windows do not overlap; step=1 gives every origin), the last one at n - horizon. Validation origins:
    the `val_origins` origins before them, spaced by `step`, the last at test_start - horizon so its
    targets end where the test starts. train_end is the first validation origin (the first test origin
    when val_origins=0). min_train (default horizon + 1: one input point and one full target window) is
    the fewest points the training part may have.

    Raises ValueError naming the argument: n, horizon, test_origins, val_origins, step or min_train out
    of range, or n too short to leave min_train training points.
    """
    n, horizon = _int(n, "n"), _int(horizon, "horizon")
    test_origins, val_origins = _int(test_origins, "test_origins"), _int(val_origins, "val_origins")
    step = horizon if step is None else _int(step, "step")
    min_train = horizon + 1 if min_train is None else _int(min_train, "min_train")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    if test_origins < 1:
        raise ValueError(f"test_origins must be at least 1, got {test_origins}")
    if val_origins < 0:
        raise ValueError(f"val_origins must be 0 or more, got {val_origins}")
    if step < 1:
        raise ValueError(f"step must be at least 1, got {step}")
    if min_train < 1:
        raise ValueError(f"min_train must be at least 1, got {min_train}")
    last = n - horizon
    test = tuple(last - i * step for i in reversed(range(test_origins)))
    # the last validation target is y[test_start - 1]: validation never sees a test target
    val_last = test[0] - horizon
    val = tuple(val_last - i * step for i in reversed(range(val_origins)))
    train_end = val[0] if val else test[0]
    if train_end < min_train:
        raise ValueError(f"n={n} is too short for horizon={horizon}, test_origins={test_origins}, "
                         f"val_origins={val_origins}, step={step}: the training part would have "
                         f"{max(train_end, 0)} point(s), fewer than min_train={min_train}")
    return Protocol(n=n, horizon=horizon, train_end=train_end, val_origins=val, test_origins=test)


def windows(y, origins, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs y[t-lookback:t] and targets y[t:t+horizon] for each origin t, as float64 arrays of shapes
    (K, lookback) and (K, horizon), K = len(origins). NaNs (missing values) pass through.

    Raises ValueError naming the argument: y not 1-D, lookback or horizon below 1, an origin with fewer
    than lookback points before it or whose targets run past the end of y.
    """
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"y must be a 1-D series, got shape {y.shape}")
    lookback, horizon = _int(lookback, "lookback"), _int(horizon, "horizon")
    if lookback < 1:
        raise ValueError(f"lookback must be at least 1, got {lookback}")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    t = np.asarray([_int(o, "origins") for o in origins], dtype=np.int64)
    bad = t[(t < lookback) | (t + horizon > len(y))]
    if bad.size:
        raise ValueError(f"origins must lie in [lookback, len(y) - horizon] = [{lookback}, {len(y) - horizon}], "
                         f"got {int(bad[0])}")
    # fancy indexing copies, so the windows never alias y
    return y[t[:, None] + np.arange(-lookback, 0)], y[t[:, None] + np.arange(horizon)]


def train_origins(train_end: int, lookback: int, horizon: int) -> tuple[int, ...]:
    """Every origin (stride 1) whose lookback inputs and horizon targets lie inside y[:train_end]:
    lookback, lookback + 1, ..., train_end - horizon. Raises ValueError if there is none."""
    train_end, lookback, horizon = _int(train_end, "train_end"), _int(lookback, "lookback"), _int(horizon, "horizon")
    if lookback < 1 or horizon < 1:
        raise ValueError(f"lookback and horizon must be at least 1, got {lookback} and {horizon}")
    if train_end < lookback + horizon:
        raise ValueError(f"train_end={train_end} holds no training window: it needs lookback + horizon = "
                         f"{lookback + horizon} points")
    return tuple(range(lookback, train_end - horizon + 1))


def train_windows(y, train_end: int, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Every training window: windows(y, train_origins(train_end, lookback, horizon), lookback, horizon),
    so no input or target reaches y[train_end:]."""
    if _int(train_end, "train_end") > len(y):
        raise ValueError(f"train_end={train_end} is past the end of y (len {len(y)})")
    return windows(y, train_origins(train_end, lookback, horizon), lookback, horizon)


def _int(value, name: str) -> int:
    if isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}") from None
