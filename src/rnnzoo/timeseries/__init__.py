"""Time-series evaluation: the rolling-origin split, forecast metrics, statistical baselines, the transform
of a series, and anomaly-detection scores.

    windows    rolling_origin -> Protocol (train_end, val_origins, test_origins); train_windows and
               windows.windows (lookback inputs and horizon targets as arrays)
    metrics    mase, smape, mape, rmse, all_metrics (NaN in the truth = a missing point, not scored)
    baselines  naive, seasonal_naive, ets (statsmodels), arima (pmdarima); forecast_baselines runs them
    transform  SeriesTransform: log, differencing and standardisation fitted on the training part
    anomaly_scores  NAB's scoring (windows, profiles, the corpus threshold, normalisation), the UCR anomaly
               archive's rule, point / event / point-adjusted precision, recall and F1
    detectors  streaming anomaly scores: NAB's windowedGaussian and random baselines, the anomaly
               likelihood, the range rule, prefix normalisation and thresholds

Arrays are numpy float64, series 1-D. The function windows() is not re-exported here: the name would
hide the module rnnzoo.timeseries.windows that holds it.

    >>> from rnnzoo.timeseries import rolling_origin
    >>> rolling_origin(144, 12, test_origins=2).test_origins
    (120, 132)
"""

from .baselines import BASELINES, arima, ets, forecast_baselines, naive, seasonal_naive
from .metrics import all_metrics, mape, mase, rmse, smape
from .transform import SeriesTransform
from .windows import Protocol, rolling_origin, train_origins, train_windows

__all__ = ["BASELINES", "Protocol", "SeriesTransform", "all_metrics", "arima", "ets", "forecast_baselines", "mape", "mase", "naive",
           "rmse", "rolling_origin", "seasonal_naive", "smape", "train_origins", "train_windows"]
