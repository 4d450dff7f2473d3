"""The forecast task (rnnzoo.train.tasks.forecast): the protocol's parts never leak into each other, the
model beats seasonal naive on a seasonal series, evaluate and predict from the run directory alone."""

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import shared_data

from rnnzoo.cli import main
from rnnzoo.timeseries.metrics import all_metrics
from rnnzoo.timeseries.transform import SeriesTransform
from rnnzoo.train.fit import evaluate, load_run
from rnnzoo.train.tasks.forecast import Forecast, read_frame

QUICK = ["--horizon", "12", "--season", "12", "--hidden", "16", "--epochs", "15", "--threads", "1",
         "--no-baselines"]


def seasonal(n=300, seed=0):
    """A monthly-like series: level 10, a season of 12 (amplitude 3), noise 0.3."""
    g = np.random.default_rng(seed)
    t = np.arange(n)
    return 10 + 3 * np.sin(2 * np.pi * t / 12) + 0.3 * g.standard_normal(n)


def write_csv(path, values, times=None, extra=None):
    times = times if times is not None else [f"{2000 + i // 12}-{i % 12 + 1:02d}" for i in range(len(values))]
    rows = ["time,value" + (",cov" if extra is not None else "")]
    for i, (t, v) in enumerate(zip(times, values)):
        cell = "" if np.isnan(v) else f"{v:.6f}"
        rows.append(f"{t},{cell}" + (f",{extra[i]:.6f}" if extra is not None else ""))
    path.write_text("\n".join(rows) + "\n")
    return path


def options(path, **changes):
    values = dict(data=str(path), column="value", time_column=None, covariates=[], horizon=12, lookback=None,
                  season=12, multi_step="direct", test_origins=None, val_origins=None, origin_step=None,
                  transform="none", difference="first", missing="ffill", baselines=False, cumulative=False)
    return argparse.Namespace(**{**values, **changes})


def test_the_transform_sees_only_the_training_part_and_no_window_crosses_into_a_later_part(tmp_path):
    y = seasonal()
    task = Forecast()
    data = task.setup(options(write_csv(tmp_path / "a.csv", y)))
    train_end, test_start = data["train_end"], data["test_origins"][0]
    assert train_end < data["val_origins"][0] + 1 <= test_start  # training, then validation, then test
    later = y.copy()
    later[train_end:] = later[train_end:] * 50 + 1000  # validation and test parts changed
    changed = task.setup(options(write_csv(tmp_path / "b.csv", later)))
    assert changed["transform"] == data["transform"]
    earlier = y.copy()
    earlier[train_end - 1] += 5  # the last training point changed
    assert task.setup(options(write_csv(tmp_path / "c.csv", earlier)))["transform"] != data["transform"]
    H, W = data["horizon"], data["lookback"]
    train = task._origins(data, "train")
    val = task._origins(data, "val")
    assert max(train) + H <= train_end and min(train) - W - 1 >= 0  # inputs and targets inside training
    assert min(val) >= train_end and max(val) + H <= test_start     # targets inside validation
    assert all(t >= test_start for t in data["test_origins"]) and data["test_origins"][-1] + H == len(y)


def test_the_inverse_transform_undoes_log_and_every_differencing_exactly():
    y = np.exp(seasonal(60) / 5)
    for difference in ("none", "first", "seasonal", "both"):
        tr = SeriesTransform(log=True, difference=difference, season=12).fit(y[:40])
        z = tr.forward(y)
        assert np.allclose(tr.inverse(z[40:52], history=y[:40]), y[40:52], rtol=1e-12)
        assert np.allclose(tr.inverse(np.stack([z[40:52]] * 2), history=y[:40]), y[40:52], rtol=1e-12)


def test_both_differences_are_the_seasonal_difference_of_the_first_differences():
    y = seasonal(60) + np.arange(60.0) ** 1.5
    z = SeriesTransform(difference="both", season=12).forward(y)  # unfitted: mean 0, std 1
    first = np.diff(y)
    assert np.isnan(z[:13]).all()
    assert np.allclose(z[13:], first[12:] - first[:-12], rtol=0, atol=1e-12)
    # zero forecasts of z continue the last season's shape from the last level: y_t = y_{t-1} + y_{t-12} - y_{t-13}
    tr = SeriesTransform(difference="both", season=12)
    out = tr.inverse(np.zeros(3), history=y[:40])
    assert out[0] == pytest.approx(y[39] + y[28] - y[27])
    assert out[1] == pytest.approx(out[0] + y[29] - y[28])
    with pytest.raises(ValueError, match="season >= 2"):
        SeriesTransform(difference="both", season=1)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("forecast")
    y = seasonal()
    y[290] = np.nan  # a missing value in the test part: filled for the inputs, left out of the scores
    data = write_csv(base / "s.csv", y)
    out = base / "run"
    assert main(["train", "forecast", "--data", str(data), "--out", str(out), *QUICK]) == 0
    return out, data


def test_the_model_beats_seasonal_naive_on_a_seasonal_series_and_evaluate_reproduces_it(run):
    out, _ = run
    config = json.loads((out / "config.json").read_text())
    report = config["report"]
    assert report["test_mase"] < report["baselines"]["seasonal_naive"]["mase"]
    assert report["test_missing"] == 1 and report["test_scored"] == len(config["data"]["test_origins"]) * 12 - 1
    figures = evaluate(out, split="test")
    assert all(figures[k] == report[f"test_{k}"] for k in ("mase", "smape", "mape", "rmse"))
    assert {"forecast.png", "loss.png"} <= set(config["plots"])
    rows = (out / "forecasts.csv").read_text().splitlines()
    assert rows[0] == "origin,step,time,truth,model,naive,seasonal_naive" and len(rows) == 1 + 12 * 2


def test_the_scores_are_the_metrics_of_the_forecasts_written_to_the_run(run):
    out, data = run
    task, model, config = load_run(out)
    s = task.score(model, config["data"], "test", baselines=True)
    y = np.array([float(v) if v else np.nan for v in
                  [line.split(",")[1] for line in data.read_text().splitlines()[1:]]])
    insample = y[:config["data"]["train_end"]]
    # by hand: the in-sample seasonal naive error scales the absolute errors
    scale = np.nanmean(np.abs(insample[12:] - insample[:-12]))
    mase = np.nanmean(np.abs(s["truth"] - s["forecasts"]["model"])) / scale
    assert mase == pytest.approx(config["report"]["test_mase"], rel=1e-12)
    assert all_metrics(s["truth"], s["forecasts"]["model"], insample, 12)["mase"] == pytest.approx(mase)


def test_predict_forecasts_the_next_h_values_from_the_run_directory_alone(run, tmp_path):
    out, data = run
    values = [f"{v:.4f}" for v in seasonal(80, seed=5)]
    proc = subprocess.run([sys.executable, "-m", "rnnzoo", "predict", str(out), *values], capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [f"t+{h}" for h in range(1, 13)]
    forecast = np.array([float(line.split()[1]) for line in lines])
    truth = 10 + 3 * np.sin(2 * np.pi * np.arange(80, 92) / 12)
    assert np.abs(forecast - truth).mean() < 1.0  # the season is there
    task, model, config = load_run(out)
    with pytest.raises(ValueError, match="forecasts from the last"):
        task.predict(model, config, ["1", "2", "3"])
    csv_file = write_csv(tmp_path / "new.csv", seasonal(80, seed=5))
    from_file = [float(v.split()[1]) for v in task.predict(model, config, [str(csv_file)])]
    assert np.allclose(from_file, forecast, rtol=1e-4)  # the same values (the file keeps 6 decimals, the CLI 4)


def test_the_esn_forecasts_in_closed_form_direct_and_recursive(tmp_path):
    data = write_csv(tmp_path / "s.csv", seasonal())
    for strategy in ("direct", "recursive"):
        out = tmp_path / strategy
        assert main(["train", "forecast", "--data", str(data), "--out", str(out), "--model", "esn", "--units", "100",
                     "--horizon", "12", "--season", "12", "--multi-step", strategy, "--no-baselines"]) == 0
        config = json.loads((out / "config.json").read_text())
        assert config["model"]["class"] == "SequenceESN" and config["model"]["output_size"] == \
            (12 if strategy == "direct" else 1)
        assert config["report"]["test_mase"] < config["report"]["baselines"]["seasonal_naive"]["mase"]
        assert evaluate(out, split="test")["mase"] == config["report"]["test_mase"]


def test_missing_values_and_gaps_in_the_time_column_are_counted_and_filled_without_looking_ahead(tmp_path):
    times = [str(1900 + i) for i in range(10) if i not in (4, 5)]  # two years absent
    values = np.array([1.0, 2.0, np.nan, 4.0, 7.0, 8.0, 9.0, 10.0])
    y, filled, _, labels, found, _ = read_frame(write_csv(tmp_path / "g.csv", values, times), "value", None, [],
                                                "ffill")
    assert found == {"missing": 1, "gaps": 1, "gap_rows": 2}
    assert np.isnan(y).sum() == 3 and len(y) == 10
    assert filled.tolist() == [1.0, 2.0, 2.0, 4.0, 4.0, 4.0, 7.0, 8.0, 9.0, 10.0]
    with pytest.raises(ValueError, match="missing value"):
        read_frame(tmp_path / "g.csv", "value", None, [], "error")


def test_bad_options_give_one_line(tmp_path, capsys):
    data = write_csv(tmp_path / "s.csv", seasonal(60))
    assert main(["train", "forecast", "--data", str(data), "--horizon", "30", "--out", str(tmp_path / "r")]) != 0
    assert "too short" in capsys.readouterr().err
    assert main(["train", "forecast", "--data", str(data), "--horizon", "3", "--column", "nope",
                 "--out", str(tmp_path / "r")]) != 0
    assert "no column 'nope'" in capsys.readouterr().err
    negative = write_csv(tmp_path / "n.csv", seasonal(60) - 20)
    assert main(["train", "forecast", "--data", str(negative), "--horizon", "3", "--transform", "log",
                 "--out", str(tmp_path / "r")]) != 0
    assert "log transform needs positive values" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_airline_reads_with_its_months():
    y, filled, _, times, found, names = read_frame(shared_data("timeseries", "forecasting", "Airline.csv"),
                                                   None, None, [], "ffill")
    assert len(y) == 144 and times[0] == "1949-01" and names == {"column": "Passengers", "time_column": "Date"}
    assert found == {"missing": 0, "gaps": 0, "gap_rows": 0} and filled[0] == 112


def test_covariates_join_the_input_window_with_training_part_statistics(tmp_path):
    y = seasonal()
    cov = np.arange(len(y), dtype=float)
    data_file = write_csv(tmp_path / "c.csv", y, extra=cov)
    task = Forecast()
    data = task.setup(options(data_file, covariates=["cov"]))
    train = cov[:data["train_end"]]
    assert data["covariate_stats"] == [[pytest.approx(train.mean()), pytest.approx(train.std())]]
    z = task.series(data)[2]
    assert z.shape == (len(y), 2) and np.allclose(z[:, 1], (cov - train.mean()) / train.std())
    assert task.model_config(argparse.Namespace(), data)["input_size"] == 2
    with pytest.raises(ValueError, match="recursive"):
        task.setup(options(data_file, covariates=["cov"], multi_step="recursive"))


def test_cumulative_targets_are_the_running_sums_that_the_forecast_differences_back(tmp_path):
    y = seasonal()
    task = Forecast()
    data_file = write_csv(tmp_path / "s.csv", y)
    steps = task.setup(options(data_file))
    sums = task.setup(options(data_file, cumulative=True))
    z = task.series(steps)[2]
    origins = task._origins(steps, "train")[:5]
    running = task._windows(steps, z, origins)[1].numpy().cumsum(1)
    assert np.allclose(task._windows(sums, z, origins)[1].numpy(), running, atol=1e-5)

    class Oracle:  # outputs the true targets of each window: the forecast is then the truth
        def __init__(self, data):
            self.data = data

        def __call__(self, x):
            return task._windows(self.data, z, origins)[1], None

    truth = np.stack([y[t:t + 12] for t in origins])
    for data in (steps, sums):
        assert np.allclose(task.forecast(Oracle(data), data, y, z, origins), truth, atol=1e-4)
