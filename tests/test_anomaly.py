"""The anomaly task: both detectors find an injected anomaly, nothing after the probationary prefix reaches
the model, the normalisation or the threshold, labels read in NAB's and plain forms, and the run scores
itself with NAB's scorer."""

import json

import numpy as np
import pytest
from conftest import shared_data

from rnnzoo.cli import main
from rnnzoo.timeseries.anomaly_scores import nab_file_score
from rnnzoo.train.fit import evaluate, load_run
from rnnzoo.train.tasks.anomaly import anomaly_score, read_labels

QUICK = ["--hidden", "16", "--epochs", "15", "--threads", "1", "--probation", "400"]
ANOMALY = (1000, 1049)


def write_csv(path, values, start="2020-01-01"):
    import pandas as pd
    times = pd.date_range(start, periods=len(values), freq="5min").strftime("%Y-%m-%d %H:%M:%S")
    path.write_text("timestamp,value\n" + "".join(f"{t},{float(v)!r}\n" for t, v in zip(times, values)))
    return path


def sine_with_anomaly(n=1600, seed=0):
    """A noisy sine of period 50; rows 1000-1049 run at twice the frequency (two whole periods: no jump in or
    out), inside the normal range."""
    g = np.random.default_rng(seed)
    t = np.arange(n, dtype=float)
    y = np.sin(2 * np.pi * t / 50)
    a, b = ANOMALY
    y[a:b + 1] = np.sin(2 * np.pi * t[a:b + 1] / 25)
    return y + 0.05 * g.standard_normal(n)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    base = tmp_path_factory.mktemp("anomaly")
    path = write_csv(base / "sine.csv", sine_with_anomaly())
    (base / "labels.json").write_text(json.dumps([[ANOMALY[0], ANOMALY[1]]]))
    return base, path


@pytest.mark.parametrize("detector", ["forecast", "autoencoder"])
def test_both_detectors_put_the_top_score_inside_an_injected_anomaly(series, detector, capsys):
    base, path = series
    out = base / detector
    assert main(["train", "anomaly", "--data", str(path), "--detector", detector, "--out", str(out),
                 "--labels", str(base / "labels.json"), "--range-tolerance", "-1", "--threshold", "prefix",
                 *QUICK]) == 0
    rows = np.genfromtxt(out / "scores.csv", delimiter=",", names=True, dtype=None, encoding=None)
    after = rows["row"] >= 400
    for column in ("score", "raw"):  # the anomaly score, and the detector's own raw score
        top = int(rows["row"][after][np.argmax(rows[column][after])])
        assert ANOMALY[0] <= top <= ANOMALY[1], (detector, column, top)
    config = json.loads((out / "config.json").read_text())
    report = config["report"]
    assert report["ucr_hit"] and report["nab"]["standard"]["windows_detected"] == 1
    # the file's NAB score is nab_file_score of the alarms written to scores.csv
    assert report["nab"]["standard"]["score"] == nab_file_score(rows["alarm"].astype(bool), [ANOMALY], "standard",
                                                                400)["score"]
    assert (out / "plots" / "anomaly.png").read_bytes().startswith(b"\x89PNG")
    assert "windows found 1 of 1" in capsys.readouterr().out


def test_nothing_after_the_prefix_reaches_the_model_the_normalisation_or_the_threshold(tmp_path):
    y = sine_with_anomaly()
    changed = y.copy()
    changed[400:] = np.random.default_rng(9).uniform(-3, 3, len(y) - 400)  # every row after the prefix
    runs = []
    for name, values in (("a", y), ("b", changed)):
        out = tmp_path / name
        assert main(["train", "anomaly", "--data", str(write_csv(tmp_path / f"{name}.csv", values)), "--out", str(out),
                     *QUICK[:-4], "--epochs", "3", "--probation", "400", "--threshold", "prefix"]) == 0
        runs.append(load_run(out))
    (_, model_a, config_a), (task, model_b, config_b) = runs
    for (k, a), b in zip(model_a.state_dict().items(), model_b.state_dict().values()):
        assert torch_equal(a, b), k
    assert config_a["report"]["threshold"] == config_b["report"]["threshold"]
    s_a, s_b = task.scores(model_a, config_a["data"]), task.scores(model_b, config_b["data"])
    np.testing.assert_array_equal(s_a["score"][:400], s_b["score"][:400])
    np.testing.assert_array_equal(s_a["raw"][:400], s_b["raw"][:400])


def torch_equal(a, b):
    import torch
    return torch.equal(a, b)


def test_anomaly_score_normalises_and_thresholds_on_the_prefix_only():
    g = np.random.default_rng(5)
    raw, values = np.abs(g.normal(0, 1, 1200)), g.normal(0, 1, 1200)
    base = anomaly_score(raw, values, 300, None, threshold="prefix")
    later = raw.copy()
    later[300:] = g.uniform(0, 100, 900)
    other = anomaly_score(later, values, 300, None, threshold="prefix")
    assert base["threshold"] == other["threshold"]
    np.testing.assert_array_equal(base["score"][:300], other["score"][:300])
    fixed = anomaly_score(raw, values, 300, None, threshold=0.4)
    assert fixed["threshold"] == 0.4 and (fixed["alarm"] == (fixed["score"] >= 0.4)).all()


def test_labels_read_from_nabs_file_from_timestamps_and_from_rows(tmp_path):
    times = [f"2020-01-01 00:{m:02d}:00" for m in range(20)]
    data = tmp_path / "realX" / "f.csv"
    data.parent.mkdir()
    nab = tmp_path / "windows.json"
    nab.write_text(json.dumps({"realX/f.csv": [[times[3], times[6]]], "realX/g.csv": []}))
    assert read_labels(nab, data, times, 20) == [(3, 6)]
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps([[2, 4], [10, 12]]))
    assert read_labels(plain, data, times, 20) == [(2, 4), (10, 12)]
    with pytest.raises(ValueError, match="no entry names the data file other.csv"):
        read_labels(nab, tmp_path / "other.csv", times, 20)
    plain.write_text(json.dumps([[2, 40]]))
    with pytest.raises(ValueError, match=r"the window \[2, 40\] is not within rows 0..19"):
        read_labels(plain, data, times, 20)
    plain.write_text("{not json")
    with pytest.raises(ValueError, match="not a JSON file"):
        read_labels(plain, data, times, 20)


def test_bad_options_give_one_line(tmp_path, capsys):
    path = write_csv(tmp_path / "s.csv", sine_with_anomaly(300))
    assert main(["train", "anomaly", "--data", str(path), "--out", str(tmp_path / "r"), "--window", "64"]) != 0
    assert "--window 64 needs at least 138" in capsys.readouterr().err
    assert main(["train", "anomaly", "--data", str(path), "--out", str(tmp_path / "r"), "--threshold", "2"]) != 0
    assert "--threshold must be 'prefix' or a number in [0, 1], got '2'" in capsys.readouterr().err
    assert main(["train", "anomaly", "--data", str(path), "--out", str(tmp_path / "r"), "--probation", "500"]) != 0
    assert "--probation 500 is longer than the series (300 rows)" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_missing_values_are_counted_and_filled_forward(tmp_path, capsys):
    y = list(sine_with_anomaly(700))
    path = tmp_path / "m.csv"
    path.write_text("timestamp,value\n" + "".join(f"t{i},{'' if i in (500, 501) else v}\n" for i, v in enumerate(y)))
    out = tmp_path / "r"
    assert main(["train", "anomaly", "--data", str(path), "--out", str(out), *QUICK[:-2], "--epochs", "2",
                 "--probation", "300"]) == 0
    assert "2 missing value(s), filled by ffill" in capsys.readouterr().out
    rows = (out / "scores.csv").read_text().splitlines()
    assert rows[502].split(",")[2] == "nan" and len(rows) == 701


def test_predict_lists_the_alarm_rows_and_evaluate_rescores_the_run(series, capsys):
    base, _ = series
    run = base / "forecast"
    if not (run / "config.json").exists():
        pytest.skip("needs the forecast run of the first test")
    capsys.readouterr()
    assert main(["predict", str(run)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    alarms = json.loads((run / "config.json").read_text())["report"]["alarms"]
    assert len([line for line in lines if line.startswith("row ")]) == alarms
    result = evaluate(run)
    report = json.loads((run / "config.json").read_text())["report"]
    assert result["nab_standard"] == report["nab"]["standard"]["score"] and result["loss"] > 0
    assert result["event_f1"] == report["event"]["f1"]


def test_a_nab_file_runs_with_its_labels_and_repeated_timestamps(tmp_path):
    nab = shared_data("timeseries", "anomaly", "nab")
    out = tmp_path / "r"
    data = nab / "data" / "realKnownCause" / "ambient_temperature_system_failure.csv"
    assert main(["train", "anomaly", "--data", str(data),
                 "--labels", str(nab / "labels" / "combined_windows.json"), "--out", str(out), "--epochs", "2",
                 "--threads", "1"]) == 0
    report = json.loads((out / "config.json").read_text())["report"]
    assert report["nab"]["standard"]["windows"] == 2 and set(report["nab"]) == {"standard", "reward_low_FP",
                                                                                "reward_low_FN"}


def test_a_run_refuses_its_data_file_once_changed(series, tmp_path):
    import shutil
    base, path = series
    run = base / "forecast"
    if not (run / "config.json").exists():
        pytest.skip("needs the forecast run of the first test")
    data = tmp_path / "sine.csv"
    shutil.copy(path, data)
    task, model, config = load_run(run)
    config["data"]["path"] = str(data)  # the run's file, moved: same bytes, same SHA-256
    assert len(task.scores(model, config["data"])["score"]) == 1600
    with open(data, "a") as f:
        f.write("2020-01-06 13:20:00,0.5\n")  # edited since training
    with pytest.raises(ValueError, match="changed since training"):
        task.scores(model, config["data"])
