"""rnnzoo.timeseries.metrics: each metric against a hand computation, NaN exclusion, and errors."""

import math

import numpy as np
import pytest

from rnnzoo.timeseries.metrics import all_metrics, mape, mase, rmse, smape

# The hand case. Scored points (y, yhat): (10, 12), (20, 15), (30, 30); the NaN point is left out.
#   errors y - yhat: -2, 5, 0                 mean |e| = 7/3
#   MASE scale, insample 1, 3, 2, 6, season 2: |2 - 1| = 1, |6 - 3| = 3, mean 2   ->  MASE = (7/3) / 2 = 7/6
#   sMAPE: 200 * 2/22 + 200 * 5/35 + 0 = 200 (1/11 + 1/7) = 200 * 18/77; / 3     ->  1200/77 = 15.584...
#   MAPE:  100 * 2/10 + 100 * 5/20 + 0 = 20 + 25 = 45; / 3                       ->  15
#   RMSE:  sqrt((4 + 25 + 0) / 3)                                                ->  sqrt(29/3) = 3.109...
Y = np.array([[10.0, 20.0], [30.0, np.nan]])
YHAT = np.array([[12.0, 15.0], [30.0, 1.0]])
INSAMPLE = np.array([1.0, 3.0, 2.0, 6.0])


def test_each_metric_equals_the_hand_computation():
    assert mase(Y, YHAT, INSAMPLE, 2) == pytest.approx(7 / 6)
    assert smape(Y, YHAT) == pytest.approx(1200 / 77)
    assert mape(Y, YHAT) == pytest.approx(15.0)
    assert rmse(Y, YHAT) == pytest.approx(math.sqrt(29 / 3))
    assert all_metrics(Y, YHAT, INSAMPLE, 2) == pytest.approx(
        dict(mase=7 / 6, smape=1200 / 77, mape=15.0, rmse=math.sqrt(29 / 3), scored=3, missing=1))


def test_a_missing_point_is_left_out_of_every_metric():
    # the same metrics on 1-D arrays without the missing point; the forecast there does not matter
    y, yhat = np.array([10.0, 20.0, 30.0]), np.array([12.0, 15.0, 30.0])
    for other in (1.0, -1e6):
        forecasts = YHAT.copy()
        forecasts[1, 1] = other
        got = all_metrics(Y, forecasts, INSAMPLE, 2)
        assert got == all_metrics(y, yhat, INSAMPLE, 2) | dict(missing=1)
    # a NaN in the in-sample series drops the pairs it is in: here only |5 - 2| = 3 is left
    assert mase([4.0], [1.0], [1.0, np.nan, 2.0, 5.0], 1) == pytest.approx(3 / 3)


def test_smape_counts_a_perfect_zero_forecast_as_zero():
    # (0, 0) -> 0; (1, 1.5) -> 200 * 0.5 / 2.5 = 40; mean 20
    assert smape([0.0, 1.0], [0.0, 1.5]) == pytest.approx(20.0)


def test_mape_refuses_a_zero_truth_and_all_metrics_reports_nan():
    with pytest.raises(ValueError, match="y has 1 scored value"):
        mape([0.0, 2.0], [1.0, 2.0])
    got = all_metrics([0.0, 2.0], [1.0, 2.0], [1.0, 2.0], 1)
    assert math.isnan(got["mape"]) and got["rmse"] == pytest.approx(math.sqrt(0.5))
    # a missing 0 is not scored, so MAPE is defined: |2 - 1| / 2 = 50 %
    assert mape([np.nan, 2.0], [1.0, 1.0]) == pytest.approx(50.0)


@pytest.mark.parametrize("call, message", [
    (lambda: rmse([1.0, 2.0], [1.0]), "same shape"),
    (lambda: rmse([[1.0, 2.0]], [1.0, 2.0]), "same shape"),
    (lambda: smape([1.0, 2.0], [1.0, np.nan]), "yhat has 1 value"),
    (lambda: rmse([1.0, 2.0], [1.0, np.inf]), "yhat has 1 value"),
    (lambda: rmse([np.inf, 2.0], [1.0, 1.0]), "y has infinite"),
    (lambda: rmse([np.nan, np.nan], [1.0, 1.0]), "no value to score"),
    (lambda: mase([1.0], [1.0], [1.0, 2.0], 2), "insample has 2 point"),
    (lambda: mase([1.0], [1.0], [3.0, 3.0, 3.0], 1), "scale is 0"),
    (lambda: mase([1.0], [1.0], [1.0, np.nan, np.nan], 2), "no pair"),
    (lambda: mase([1.0], [1.0], [1.0, 2.0], 0), "season"),
    (lambda: mase([1.0], [1.0], [[1.0, 2.0]], 1), "insample must be a 1-D"),
])
def test_bad_arguments_give_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()
