"""Statistical forecasting baselines: naive, seasonal naive, ETS (statsmodels) and ARIMA (pmdarima).

Each baseline forecasts `horizon` steps from every origin t using only the history y[:t]. ETS and ARIMA
choose their form once, on y[:fit_end], and then forecast from each origin with those fitted parameters
and the state filtered forward over y[:t]: cheap, deterministic, and the form never sees data after
fit_end (fit_end may not pass the first origin). y must have no NaN: fill gaps without looking ahead
first (load_series(..., missing="ffill")).

    >>> import numpy as np

from .windows import _int
    >>> from rnnzoo.timeseries.baselines import forecast_baselines
    >>> y = np.array([1.0, 5.0, 2.0, 6.0, 3.0, 7.0])
    >>> f = forecast_baselines(y, [4, 6], 3, 2, fit_end=4, names=("naive", "seasonal_naive"))
    >>> f["naive"].tolist(), f["seasonal_naive"].tolist()
    ([[6.0, 6.0, 6.0], [7.0, 7.0, 7.0]], [[2.0, 6.0, 2.0], [3.0, 7.0, 3.0]])

statsmodels and pmdarima are imported only by ets/arima, so the rest works without them.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np

from .windows import _int

BASELINES = ("naive", "seasonal_naive", "ets", "arima")
SEASONAL_ARIMA_MAX = 24  # longer seasons (weekly data, 52) use Fourier terms: seasonal ARIMA is far too slow
FOURIER_K = 4            # sin/cos pairs for those seasons
# auto_arima's search, narrowed from its defaults (p, q <= 5, P, Q <= 2) to keep a selection to seconds
ARIMA_SEARCH = dict(start_p=1, start_q=1, max_p=3, max_q=3, max_P=1, max_Q=1, stepwise=True, n_jobs=1)


def forecast_baselines(y, origins, horizon: int, season: int, *, fit_end: int,
                       names=BASELINES) -> dict[str, np.ndarray]:
    """{name: forecasts (len(origins), horizon)} for each baseline in `names` (any of BASELINES), each
    from the function of that name. fit_end is used by ets and arima only."""
    names = (names,) if isinstance(names, str) else tuple(names)
    unknown = [name for name in names if name not in BASELINES]
    if unknown:
        raise ValueError(f"names: unknown baseline(s) {unknown}; known: {list(BASELINES)}")
    run = {"naive": lambda: naive(y, origins, horizon),
           "seasonal_naive": lambda: seasonal_naive(y, origins, horizon, season),
           "ets": lambda: ets(y, origins, horizon, season, fit_end=fit_end),
           "arima": lambda: arima(y, origins, horizon, season, fit_end=fit_end)}
    return {name: run[name]() for name in names}


def naive(y, origins, horizon: int) -> np.ndarray:
    """The last known value y[t-1], repeated for every step: shape (len(origins), horizon)."""
    y, t, horizon = _check(y, origins, horizon)
    return np.repeat(y[t - 1][:, None], horizon, axis=1)


def seasonal_naive(y, origins, horizon: int, season: int) -> np.ndarray:
    """The last observed season repeated: step h (0-based) from origin t forecasts y[t - season + h mod
    season]. With season 1 it equals naive. Every origin needs at least `season` points of history."""
    y, t, horizon = _check(y, origins, horizon)
    season = _season(season)
    if t.size and t.min() < season:
        raise ValueError(f"origins: seasonal naive needs a full season of history, origin >= season={season}, "
                         f"got {int(t.min())}")
    return y[t[:, None] - season + np.arange(horizon) % season]


def ets(y, origins, horizon: int, season: int, *, fit_end: int) -> np.ndarray:
    """Exponential smoothing (statsmodels Holt-Winters): the form with the lowest AICc on y[:fit_end]
    (select_ets), then from each origin t its point forecast with the parameters and initial states fitted
    on y[:fit_end], filtered forward over y[:t] (no refit). Should a history hold a value <= 0 where the
    chosen form is multiplicative, the best-ranked additive form is used at that origin."""
    y, t, horizon = _check(y, origins, horizon)
    ranked = _rank_ets(y[:_fit_end(fit_end, t, len(y))], _season(season))
    out = np.empty((len(t), horizon))
    for i, origin in enumerate(t):
        history = y[:origin]
        fit = next(f for f in ranked if f.model.seasonal != "mul" or history.min() > 0)
        out[i] = _ets_filter(fit, history).forecast(horizon)
    return out


def select_ets(history, season: int):
    """The statsmodels HoltWintersResults with the lowest AICc among the forms fitted to `history` (all
    states and parameters estimated): trend none / additive / additive damped, times seasonal none /
    additive / multiplicative (multiplicative only for a positive series; no seasonal when season is 1
    or the history is shorter than 2 seasons)."""
    return _rank_ets(_series(history, "history"), _season(season))[0]


def arima(y, origins, horizon: int, season: int, *, fit_end: int) -> np.ndarray:
    """ARIMA: the order chosen by pmdarima's auto_arima on y[:fit_end] (select_arima), then from each
    origin t the point forecast of that statsmodels SARIMAX with the parameters fitted on y[:fit_end],
    filtered over y[:t] (results.apply(..., refit=False): the order and parameters stay fixed). For
    season > 24 the Fourier regressors continue on the same time index, so the seasonal phase is kept."""
    y, t, horizon = _check(y, origins, horizon)
    fit_end, season = _fit_end(fit_end, t, len(y)), _season(season)
    fitted = select_arima(y[:fit_end], season).arima_res_
    exog = fourier_terms(int(t.max(initial=0)) + horizon, season, FOURIER_K) if fitted.model.k_exog else None
    out = np.empty((len(t), horizon))
    with _quiet():
        for i, origin in enumerate(t):
            past, future = (None, None) if exog is None else (exog[:origin], exog[origin:origin + horizon])
            out[i] = fitted.apply(y[:origin], exog=past, refit=False).forecast(horizon, exog=future)
    return out


def select_arima(history, season: int):
    """The pmdarima ARIMA that auto_arima (stepwise, AIC, search ARIMA_SEARCH) fits to `history`.
    Seasonal ARIMA with m=season when 1 < season <= 24 and the history holds 2 seasons. For season > 24
    (e.g. weekly data, 52) seasonal ARIMA is far too slow: a non-seasonal ARIMA with FOURIER_K = 4 sin/cos
    pairs of period `season` (fourier_terms, time index 0 at history[0]) as regressors instead."""
    history, season = _series(history, "history"), _season(season)
    import pmdarima

    seasonal = season > 1 and len(history) >= 2 * season
    fourier = seasonal and season > SEASONAL_ARIMA_MAX
    exog = fourier_terms(len(history), season, FOURIER_K) if fourier else None
    with _quiet():
        return pmdarima.auto_arima(history, X=exog, seasonal=seasonal and not fourier,
                                   m=season if seasonal and not fourier else 1, suppress_warnings=True,
                                   error_action="ignore", **ARIMA_SEARCH)


def fourier_terms(n: int, period: float, k: int) -> np.ndarray:
    """Columns sin(2 pi j s / period), cos(2 pi j s / period) for j = 1..k at s = 0..n-1: shape (n, 2k)."""
    angle = 2 * np.pi * np.arange(n)[:, None] * np.arange(1, k + 1) / period
    return np.column_stack([np.sin(angle), np.cos(angle)])


def _rank_ets(history: np.ndarray, season: int) -> list:
    """Every ETS form that fits history, best AICc first (ties keep the simpler form first)."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonals = [None]
    if season > 1 and len(history) >= 2 * season:
        seasonals += ["add", "mul"] if history.min() > 0 else ["add"]
    fits = []
    with _quiet():
        for seasonal in seasonals:
            for trend, damped in ((None, False), ("add", False), ("add", True)):
                try:
                    fits.append(ExponentialSmoothing(history, trend=trend, damped_trend=damped, seasonal=seasonal,
                                                     seasonal_periods=season if seasonal else None).fit())
                except (ValueError, np.linalg.LinAlgError):
                    continue  # a form the history cannot support (too short) is not a candidate
    if not fits:
        raise ValueError(f"fit_end: no ETS form fits a history of {len(history)} point(s)")
    return sorted(fits, key=lambda f: f.aicc if math.isfinite(f.aicc) else math.inf)


def _ets_filter(fit, history: np.ndarray):
    """The Holt-Winters model of `fit` with its parameters and initial states, run over `history`."""
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    model, p = fit.model, fit.params
    trend, seasonal = model.trend, model.seasonal
    with _quiet():
        rerun = ExponentialSmoothing(
            history, trend=trend, damped_trend=model.damped_trend, seasonal=seasonal,
            seasonal_periods=model.seasonal_periods if seasonal else None, initialization_method="known",
            initial_level=p["initial_level"], initial_trend=p["initial_trend"] if trend else None,
            initial_seasonal=p["initial_seasons"] if seasonal else None)
        return rerun.fit(smoothing_level=p["smoothing_level"], smoothing_trend=p["smoothing_trend"] if trend else None,
                         smoothing_seasonal=p["smoothing_seasonal"] if seasonal else None,
                         damping_trend=p["damping_trend"] if model.damped_trend else None, optimized=False)


@contextlib.contextmanager
def _quiet():
    # statsmodels and pmdarima warn on every hard optimisation (ConvergenceWarning, overflow in a
    # multiplicative form): such a form just loses on AICc, so here the warnings are noise. Local only.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _check(y, origins, horizon) -> tuple[np.ndarray, np.ndarray, int]:
    y = _series(y, "y")
    horizon = _int(horizon, "horizon")
    if horizon < 1:
        raise ValueError(f"horizon must be at least 1, got {horizon}")
    t = np.asarray([_int(o, "origins") for o in np.ravel(np.asarray(origins))], dtype=np.int64)
    bad = t[(t < 1) | (t > len(y))]
    if bad.size:
        raise ValueError(f"origins must lie in [1, len(y)] = [1, {len(y)}] (the history y[:t] is known), "
                         f"got {int(bad[0])}")
    return y, t, horizon


def _series(y, name: str) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"{name} must be a 1-D series, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        raise ValueError(f"{name} has {int(np.sum(~np.isfinite(y)))} NaN or infinite value(s): fill gaps "
                         "without looking ahead first (load_series(..., missing='ffill'))")
    return y


def _fit_end(fit_end, t: np.ndarray, n: int) -> int:
    fit_end = _int(fit_end, "fit_end")
    if not 1 <= fit_end <= n:
        raise ValueError(f"fit_end must lie in [1, len(y)] = [1, {n}], got {fit_end}")
    if t.size and fit_end > t.min():
        raise ValueError(f"fit_end={fit_end} is after the origin {int(t.min())}: the model would be chosen on "
                         "data that origin's forecast may not see")
    return fit_end


def _season(season) -> int:
    season = _int(season, "season")
    if season < 1:
        raise ValueError(f"season must be at least 1, got {season}")
    return season
