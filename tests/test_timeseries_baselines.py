"""rnnzoo.timeseries.baselines: naive and seasonal naive on hand cases; ETS and ARIMA beat naive where
their model is right (trend + season, AR(1), a long season through Fourier terms), run the fitted model
forward exactly, are deterministic; shapes; named errors; the airline series end to end."""

import numpy as np
import pytest
from conftest import shared_data

from rnnzoo.timeseries import all_metrics, rolling_origin
from rnnzoo.timeseries.baselines import arima, ets, forecast_baselines, naive, seasonal_naive, select_arima, select_ets
from rnnzoo.timeseries.windows import windows as target_windows


def trend_season(n=96, season=12, seed=0):
    t = np.arange(n)
    return 50 + 0.5 * t + 10 * np.sin(2 * np.pi * t / season) + np.random.default_rng(seed).normal(0, 1, n)


def mean_abs(a, b):
    return float(np.mean(np.abs(a - b)))


def test_naive_and_seasonal_naive_on_hand_cases():
    y = np.array([1.0, 5.0, 2.0, 6.0, 3.0, 7.0])
    assert naive(y, [1, 4, 6], 2).tolist() == [[1, 1], [6, 6], [7, 7]]
    # season 2, origin 4: the last season is y[2], y[3] = 2, 6, repeated
    assert seasonal_naive(y, [4], 5, 2).tolist() == [[2, 6, 2, 6, 2]]
    # season 3, origin 6: the last season is y[3:6] = 6, 3, 7
    assert seasonal_naive(y, [6], 4, 3).tolist() == [[6, 3, 7, 6]]
    assert np.array_equal(seasonal_naive(y, [1, 3, 6], 3, 1), naive(y, [1, 3, 6], 3))


def test_ets_and_seasonal_arima_beat_naive_on_trend_plus_season():
    y = trend_season()
    origins = [72, 84]
    truth = target_windows(y, origins, 1, 12)[1]
    f = forecast_baselines(y, origins, 12, 12, fit_end=72)
    assert {k: v.shape for k, v in f.items()} == {k: (2, 12) for k in ("naive", "seasonal_naive", "ets", "arima")}
    errors = {k: mean_abs(v, truth) for k, v in f.items()}
    # noise sd 1: a model of trend and season errs ~1, naive ~9, seasonal naive (no trend) ~6
    assert errors["ets"] < 2 and errors["arima"] < 2 and errors["naive"] > 6 and errors["seasonal_naive"] > 4
    form = select_ets(y[:72], 12).model
    assert (form.trend, form.seasonal) == ("add", "add")


def test_the_fitted_models_are_run_forward_without_change():
    # at origin fit_end the forecast is the library's own forecast of the selected fit
    y = trend_season(60, 6)
    assert np.allclose(ets(y, [48], 6, 6, fit_end=48)[0], select_ets(y[:48], 6).forecast(6), rtol=0, atol=1e-9)
    assert np.allclose(arima(y, [48], 6, 6, fit_end=48)[0], select_arima(y[:48], 6).predict(6), rtol=0, atol=1e-6)


def test_ets_falls_back_to_an_additive_form_when_a_history_is_not_positive():
    t = np.arange(96)
    y = (20 + t) * (1 + 0.5 * np.sin(2 * np.pi * t / 12)) * np.exp(np.random.default_rng(1).normal(0, 0.02, 96))
    assert select_ets(y[:72], 12).model.seasonal == "mul"  # the case this test is about
    y[80] = 0.0
    f = ets(y, [72, 84], 12, 12, fit_end=72)  # a multiplicative model cannot run over y[:84]
    assert np.all(np.isfinite(f))


def test_arima_finds_an_ar1():
    rng = np.random.default_rng(2)
    mu, phi, n, h = 10.0, 0.6, 300, 5
    x = np.full(n, mu)
    for i in range(1, n):
        x[i] = mu + phi * (x[i - 1] - mu) + rng.normal()
    origins = list(range(280, 296))
    # the true conditional mean h steps ahead: mu + phi^h (last - mu)
    oracle = np.array([[mu + phi ** (k + 1) * (x[o - 1] - mu) for k in range(h)] for o in origins])
    got = arima(x, origins, h, 1, fit_end=280)
    assert mean_abs(got, oracle) < 0.3 * mean_abs(naive(x, origins, h), oracle)  # measured 0.13 vs 0.82


def test_arima_uses_fourier_terms_for_a_long_season(monkeypatch):
    import pmdarima

    calls = []
    auto_arima = pmdarima.auto_arima
    monkeypatch.setattr(pmdarima, "auto_arima", lambda *a, **k: calls.append(k) or auto_arima(*a, **k))
    m, n = 30, 150
    t = np.arange(n)
    y = 5 + 3 * np.sin(2 * np.pi * t / m) + 2 * np.cos(4 * np.pi * t / m) + np.random.default_rng(3).normal(0, 0.3, n)
    origins = [110, 120]
    truth = target_windows(y, origins, 1, m)[1]
    assert mean_abs(arima(y, origins, m, m, fit_end=110), truth) < 0.4  # noise sd 0.3; naive errs ~2.6
    # 4 sin/cos pairs over y[:110] as regressors, no seasonal ARIMA
    assert [(k["X"].shape, k["seasonal"], k["m"]) for k in calls] == [((110, 8), False, 1)]


def test_the_same_call_gives_the_same_forecasts():
    y = trend_season(60, 6)
    first = forecast_baselines(y, [48, 54], 6, 6, fit_end=48, names=("ets", "arima"))
    second = forecast_baselines(y, [48, 54], 6, 6, fit_end=48, names=("ets", "arima"))
    assert all(np.array_equal(first[k], second[k]) for k in ("ets", "arima"))


@pytest.mark.parametrize("call, message", [
    (lambda y: seasonal_naive(y, [3], 2, 4), r"origins: .* origin >= season=4, got 3"),
    (lambda y: naive(y, [5], 0), "horizon must be at least 1"),
    (lambda y: naive(y, [21], 2), r"origins must lie in \[1, len\(y\)\] = \[1, 20\] .*, got 21"),
    (lambda y: naive(y, [0], 2), "origins must lie"),
    (lambda y: seasonal_naive(y, [5], 2, 0), "season must be at least 1"),
    (lambda y: ets(y, [10], 2, 1, fit_end=12), "fit_end=12 is after the origin 10"),
    (lambda y: forecast_baselines(y, [10], 2, 1, fit_end=10, names=("naive", "prophet")), "names: unknown"),
    (lambda y: naive(np.where(np.arange(20) == 4, np.nan, y), [10], 2), "y has 1 NaN"),
])
def test_bad_arguments_give_a_clear_error(call, message):
    with pytest.raises(ValueError, match=message):
        call(np.arange(20.0))


def test_airline_baselines_beat_naive():
    from rnnzoo.data.series import load_series

    y = load_series(shared_data("timeseries", "forecasting", "Airline.csv"), "Passengers").numpy()
    p = rolling_origin(len(y), 12, test_origins=2, val_origins=1)
    truth = target_windows(y, p.test_origins, 1, 12)[1]
    f = forecast_baselines(y, p.test_origins, 12, 12, fit_end=p.train_end)
    mase = {k: all_metrics(truth, v, y[:p.test_start], 12)["mase"] for k, v in f.items()}
    # measured: naive 2.93, seasonal naive 1.67, ets 1.04, arima 1.12
    assert mase["ets"] < 0.7 * mase["seasonal_naive"] < 0.7 * mase["naive"]
    assert mase["arima"] < 0.8 * mase["seasonal_naive"]
