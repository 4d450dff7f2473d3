"""rnnzoo.data.series.load_series: a CSV column as a float tensor, with clear errors; and the
one-step forecasting benchmark (benchmarks/esn_forecast.py) at a tiny size on the shared data."""

import importlib.util
import math
import re
from pathlib import Path

import pytest
import torch

from conftest import shared_data
from rnnzoo.data.series import load_series


def csv_file(tmp_path, text, name="s.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_a_column_by_name_index_or_default(tmp_path):
    path = csv_file(tmp_path, '"Year","A","B"\n2000,1,10\n2001,2.5,20\n2002,-3e-1,30\n')
    assert load_series(path).tolist() == [10.0, 20.0, 30.0]  # default: the last column
    assert load_series(path, "A").tolist() == [1.0, 2.5, -0.3]
    assert load_series(path, "a").tolist() == [1.0, 2.5, -0.3]  # case-insensitive when not exact
    assert load_series(path, 0).tolist() == [2000.0, 2001.0, 2002.0]
    assert load_series(path, -2).tolist() == [1.0, 2.5, -0.3]
    assert load_series(str(path)).dtype == torch.float64
    assert load_series(path, dtype=torch.float32).dtype == torch.float32


def test_byte_order_mark_blank_lines_and_spaces(tmp_path):
    path = csv_file(tmp_path, "t, v \n1, 4\n\n2,5 \n", encoding="utf-8-sig")
    assert load_series(path, "v").tolist() == [4.0, 5.0]


def test_missing_values_error_drop_interpolate_ffill_keep(tmp_path):
    path = csv_file(tmp_path, "t,v\n1,\n2,2\n3,NA\n4,nan\n5,8\n6,\n")
    with pytest.raises(ValueError, match=r"column 'v' has 4 missing values \(first on line 2\); pass "
                       "missing='interpolate' or 'drop'"):
        load_series(path)
    assert load_series(path, missing="drop").tolist() == [2.0, 8.0]
    assert load_series(path, missing="interpolate").tolist() == [2.0, 2.0, 4.0, 6.0, 8.0, 8.0]
    assert load_series(path, missing="ffill").tolist() == [2.0, 2.0, 2.0, 2.0, 8.0, 8.0]
    kept = load_series(path, missing="keep")
    assert torch.isnan(kept).tolist() == [True, False, True, True, False, True]
    with pytest.raises(ValueError, match="missing must be one of"):
        load_series(path, missing="zero")


@pytest.mark.parametrize("text, column, message", [
    ("t,v\n1,2\n2,abc\n", None, r"s.csv, line 3: 'abc' in column 'v' is not a number"),
    ("t,v\n1,2\n2,inf\n", None, r"line 3: 'inf' in column 'v' is not a finite number"),
    ("t,v\n1,2\n", "w", r"s.csv has no column 'w'; its columns: 't', 'v'"),
    ("t,v\n1,2\n", 2, r"has 2 column\(s\) \('t', 'v'\); no column index 2"),
    ("t,v\n1,2\n3\n", "v", r"line 3: 1 field\(s\), no column 'v'"),
    ("t,v\n", None, r"has a header but no rows of values"),
    ("", None, r"is empty"),
    ("t,v\n1,\n2,NaN\n", None, r"column 'v' holds no value"),
])
def test_bad_files_give_clear_errors(tmp_path, text, column, message):
    with pytest.raises(ValueError, match=message):
        load_series(csv_file(tmp_path, text), column)


def test_missing_file_folder_and_binary_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_series(tmp_path / "nope.csv")
    with pytest.raises(ValueError, match="is not a file"):
        load_series(tmp_path)
    with pytest.raises(ValueError, match="not a UTF-8 text file"):
        load_series(_binary(tmp_path))
    with pytest.raises(TypeError, match="column must be"):
        load_series(csv_file(tmp_path, "t,v\n1,2\n"), 1.5)


def _binary(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"t,v\n1,\xff\xfe\n")
    return path


def test_the_shared_forecasting_series():
    folder = shared_data("timeseries", "forecasting")
    airline = load_series(folder / "Airline.csv", "Passengers")
    assert airline.shape == (144,) and airline[:3].tolist() == [112.0, 118.0, 132.0] and airline[-1] == 432
    sunspots = load_series(folder / "sunspots" / "sunspots.csv", "SUNACTIVITY")
    assert sunspots.shape == (309,) and sunspots[0] == 5
    with pytest.raises(ValueError, match="59 missing values"):
        load_series(folder / "co2" / "co2.csv", "co2")
    co2 = load_series(folder / "co2" / "co2.csv", "co2", missing="ffill")
    assert co2.shape == (2284,) and not torch.isnan(co2).any() and 310 < float(co2.min()) < float(co2.max()) < 380


def test_forecast_benchmark_runs_at_a_tiny_size(capsys, tmp_path):
    shared_data("timeseries", "forecasting")  # the benchmark reads the series there
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "esn_forecast.py"
    spec = importlib.util.spec_from_file_location("rnnzoo_benchmark_esn_forecast", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    threads = torch.get_num_threads()
    results = module.main(["--series", "airline", "sunspots", "--units", "20", "--seeds", "2",
                           "--select-seeds", "1", "--plot", str(tmp_path / "f.png")])
    assert torch.get_num_threads() == threads
    out = capsys.readouterr().out
    assert [r["series"] for r in results] == ["airline", "sunspots"]
    for r in results:
        assert all(math.isfinite(v) for v in (*r["naive"], *r["seasonal_naive"], r["esn_rmse"], r["esn_mae"]))
        assert r["forecast"].shape == (r["test"],)
    assert results[0]["seasonal_naive"] == pytest.approx((49.987, 47.583), abs=1e-3)  # s = 12, last 24 months
    assert re.search(r"\| airline \| 24 \| 51\.782 / 44\.208 \| 49\.987 / 47\.583 \(s=12\)", out)
    assert (tmp_path / "f.png").read_bytes().startswith(b"\x89PNG")
