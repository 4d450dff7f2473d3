"""rnnzoo.timeseries.windows: the rolling-origin split (origins on hand cases, no leakage between the
parts for any arguments), windows and training windows, and named errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rnnzoo.timeseries.windows import Protocol, rolling_origin, train_origins, train_windows, windows


def test_origins_on_hand_cases():
    # n=20, h=3, step=h: test origins 14, 17 (the last at 20 - 3); val origin 14 - 3 = 11; train y[:11]
    p = rolling_origin(20, 3, test_origins=2, val_origins=1)
    assert p == Protocol(n=20, horizon=3, train_end=11, val_origins=(11,), test_origins=(14, 17))
    assert (p.test_start, p.val_start) == (14, 11)
    # step=1: test origins 15, 16, 17 overlap each other; val 11, 12 (12's targets y[12:15] end at 15)
    p = rolling_origin(20, 3, test_origins=3, val_origins=2, step=1)
    assert (p.train_end, p.val_origins, p.test_origins) == (11, (11, 12), (15, 16, 17))
    # no validation: training runs up to the first test origin
    p = rolling_origin(10, 2, val_origins=0)
    assert (p.train_end, p.val_origins, p.test_origins, p.val_start) == (8, (), (8,), 8)
    # airline-like: 144 months, a year ahead, two test years, one validation year
    p = rolling_origin(144, 12, test_origins=2, val_origins=1)
    assert (p.train_end, p.val_origins, p.test_origins) == (108, (108,), (120, 132))


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 120), horizon=st.integers(1, 12), test=st.integers(1, 6), val=st.integers(0, 4),
       step=st.one_of(st.none(), st.integers(1, 12)), min_train=st.one_of(st.none(), st.integers(1, 30)))
def test_the_parts_never_overlap(n, horizon, test, val, step, min_train):
    s = horizon if step is None else step
    train_end = n - horizon - (test - 1) * s - (horizon + (val - 1) * s if val else 0)
    least = horizon + 1 if min_train is None else min_train
    if train_end < least:
        with pytest.raises(ValueError, match=r"n=\d+ is too short.*min_train"):
            rolling_origin(n, horizon, test_origins=test, val_origins=val, step=step, min_train=min_train)
        return
    p = rolling_origin(n, horizon, test_origins=test, val_origins=val, step=step, min_train=min_train)
    assert p.train_end == train_end >= least
    assert len(p.test_origins) == test and len(p.val_origins) == val
    assert p.test_origins[-1] == n - horizon  # the last test target is the last point
    assert all(b - a == s for a, b in zip(p.test_origins, p.test_origins[1:]))
    assert all(b - a == s for a, b in zip(p.val_origins, p.val_origins[1:]))
    test_targets = {i for t in p.test_origins for i in range(t, t + horizon)}
    val_targets = {i for t in p.val_origins for i in range(t, t + horizon)}
    assert max(test_targets) == n - 1
    assert min(test_targets) >= p.train_end and not test_targets & val_targets  # test vs train and val
    assert all(i < p.test_start for i in val_targets)  # no validation target from the test part
    assert all(i >= p.train_end for i in val_targets)  # no training target from the validation part
    if val:
        assert max(val_targets) == p.test_start - 1  # validation runs right up to the test part
    # every training window stays inside y[:train_end]
    lookback = 1
    if p.train_end >= lookback + horizon:
        x, y = train_windows(np.arange(float(n)), p.train_end, lookback, horizon)
        assert y.max() < p.train_end and x.max() < p.train_end


def test_windows_hold_the_history_and_targets():
    y = np.arange(10.0) * 10
    x, target = windows(y, [3, 7], lookback=3, horizon=2)
    assert x.dtype == target.dtype == np.float64
    assert x.tolist() == [[0, 10, 20], [40, 50, 60]] and target.tolist() == [[30, 40], [70, 80]]
    assert windows(y, [], 2, 3)[0].shape == (0, 2)
    y[3] = np.nan  # a missing value passes through to the caller
    assert np.isnan(windows(y, [3], 3, 2)[1][0, 0])


def test_train_windows_are_every_window_inside_the_training_part():
    y = np.arange(30.0)
    assert train_origins(10, 3, 2) == (3, 4, 5, 6, 7, 8)  # stride 1, the last target y[8:10]
    x, target = train_windows(y, 10, 3, 2)
    assert x.shape == (6, 3) and target.shape == (6, 2)
    assert target[-1].tolist() == [8, 9] and x[0].tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="train_end=4 holds no training window"):
        train_origins(4, 3, 2)
    with pytest.raises(ValueError, match="train_end=40 is past the end"):
        train_windows(y, 40, 3, 2)


@pytest.mark.parametrize("kwargs, name", [
    (dict(n=20, horizon=0), "horizon"),
    (dict(n=20, horizon=3, test_origins=0), "test_origins"),
    (dict(n=20, horizon=3, val_origins=-1), "val_origins"),
    (dict(n=20, horizon=3, step=0), "step"),
    (dict(n=20, horizon=3, min_train=0), "min_train"),
    (dict(n=20, horizon=3, test_origins=4, min_train=6), "n=20 is too short"),
    (dict(n=20, horizon=3, min_train=15), "min_train=15"),
])
def test_bad_protocol_arguments_are_named(kwargs, name):
    with pytest.raises(ValueError, match=name):
        rolling_origin(**kwargs)


def test_bad_window_arguments_are_named():
    y = np.arange(10.0)
    with pytest.raises(ValueError, match=r"origins .* got 1"):
        windows(y, [1], lookback=2, horizon=1)  # two inputs needed before the origin
    with pytest.raises(ValueError, match=r"origins .* got 9"):
        windows(y, [9], lookback=2, horizon=2)  # targets would run past the end
    with pytest.raises(ValueError, match="lookback"):
        windows(y, [5], lookback=0, horizon=1)
    with pytest.raises(ValueError, match="horizon"):
        windows(y, [5], lookback=1, horizon=0)
    with pytest.raises(ValueError, match="1-D"):
        windows(y.reshape(2, 5), [1], 1, 1)
    with pytest.raises(TypeError, match="origins"):
        windows(y, [2.5], 1, 1)
    with pytest.raises(TypeError, match="n must be an integer"):
        rolling_origin(20.0, 3)
