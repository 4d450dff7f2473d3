"""benchmarks/classify_baselines.py: 1-NN Euclidean on the shared GunPoint scores the UCR archive's published
0.913 (137 of 150 TEST series, deterministic), and the conversion to aeon's layout keeps every value in its
(channel, step) place: an array (n_cases, D, L) for equal lengths, a list of (D, L_i) for unequal ones, and
padding by the last value only for an estimator that does not take unequal lengths."""

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import shared_data
from test_benchmarks import load_script

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "classify_baselines.py"


@pytest.fixture(scope="module")
def bench():
    pytest.importorskip("aeon")  # the benchmark's own dependency, not rnnzoo's
    return load_script(SCRIPT, "rnnzoo_benchmark_classify_baselines")


def test_1nn_euclidean_on_gunpoint_scores_the_published_accuracy(bench):
    train, train_labels, test, test_labels = bench.load_split(shared_data("timeseries", "ucr_uea", "GunPoint"))
    assert (len(train), len(test), tuple(train[0].shape)) == (50, 150, (150, 1))
    results = bench.baselines(train, train_labels, test, test_labels, names=("1nn_euclidean",), warmup=False)
    assert list(results) == ["1nn_euclidean"]
    r = results["1nn_euclidean"]
    assert round(r["accuracy"], 3) == 0.913 and r["accuracy"] == 137 / 150
    assert r["seconds"] > 0 and r["warmup_seconds"] == 0.0 and r["input"] == "equal length"


def test_layout_of_equal_and_unequal_lengths_and_padding_by_the_last_value(bench):
    a = torch.tensor([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]])  # (L=3, D=2)
    b = torch.tensor([[4.0, 40.0], [5.0, 50.0]])  # (L=2, D=2)
    unequal = bench.to_aeon([a, b])
    assert isinstance(unequal, list) and [x.shape for x in unequal] == [(2, 3), (2, 2)]
    assert unequal[0].tolist() == [[1, 2, 3], [10, 20, 30]] and unequal[1].tolist() == [[4, 5], [40, 50]]
    assert all(x.dtype == np.float64 for x in unequal)
    equal = bench.to_aeon([a, a + 1])
    assert isinstance(equal, np.ndarray) and equal.shape == (2, 2, 3) and equal[1, 1].tolist() == [11, 21, 31]
    padded = bench.pad_last([a, b], 4)
    assert padded.shape == (2, 2, 4)
    assert padded[1].tolist() == [[4, 5, 5, 5], [40, 50, 50, 50]] and padded[0, :, :3].tolist() == unequal[0].tolist()
    with pytest.raises(ValueError, match="length 3; pad_last needs 1..2"):
        bench.pad_last([a], 2)

    # 1-NN takes unequal lengths as they are (aeon's tag); MiniRocket gets both splits padded to the longest
    X_train, X_test, how = bench.inputs("1nn_dtw", [a], [b])
    assert isinstance(X_train, list) and isinstance(X_test, list)  # each split alone is of equal length
    assert X_test[0].tolist() == [[4, 5], [40, 50]] and how == "unequal length 2..3, native"
    X_train, X_test, how = bench.inputs("minirocket", [a], [b])
    assert X_train.shape == X_test.shape == (1, 2, 3) and X_test[0].tolist() == [[4, 5, 5], [40, 50, 50]]
    assert how == "padded 2..3 -> 3, last value repeated"


def test_refuses_missing_values_and_unknown_names(bench):
    x, nan = [torch.zeros(3, 1), torch.ones(3, 1)], [torch.full((3, 1), float("nan"))]
    with pytest.raises(ValueError, match="TEST has missing values"):
        bench.baselines(x, ["a", "b"], nan, ["a"])
    with pytest.raises(ValueError, match="unknown baseline.*'knn'"):
        bench.baselines(x, ["a", "b"], x, ["a", "b"], names=("knn",))
