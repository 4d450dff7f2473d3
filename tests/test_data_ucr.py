"""rnnzoo.data.ucr: the `.ts` reader reads every header and case feature of hand-written files, refuses
each malformed file in one line naming the file and line, and reads the real GunPoint and JapaneseVowels
sets with the counts, shapes and labels their files hold; `pad` right-pads them. On the four shared sets
(GunPoint, ItalyPowerDemand, JapaneseVowels, BasicMotions) it reads what aeon's reader reads."""

import math

import pytest
import torch
from conftest import shared_data

from rnnzoo.data.ucr import load_ts, pad

HEADER = "@problemName Toy\n@timeStamps false\n@missing false\n@univariate true\n@equalLength true\n" \
         "@seriesLength 3\n@classLabel true a b\n@data\n"


def write(tmp_path, text, name="toy.ts"):
    path = tmp_path / name
    path.write_text(text) if isinstance(text, str) else path.write_bytes(text)
    return path


def test_univariate_equal_length_cases_with_comments_and_blank_lines(tmp_path):
    path = write(tmp_path, "# a comment\n#another\n\n" + HEADER + "1,2,3:a\n\n# note\n4.5, -6e-1 ,7:b\n")
    series, labels, info = load_ts(path)
    assert [s.tolist() for s in series] == [[[1.0], [2.0], [3.0]], [[4.5], [-0.6000000238418579], [7.0]]]
    assert all(s.dtype == torch.float32 for s in series)
    assert labels == ["a", "b"]
    assert info == dict(problem_name="Toy", class_labels=["a", "b"], target=False, univariate=True, dimensions=1,
                        equal_length=True, series_length=3, missing=False, missing_values=0)


def test_multivariate_unequal_lengths_and_keywords_in_any_case(tmp_path):
    text = ("@PROBLEMNAME Multi\n@univariate FALSE\n@Dimensions 3\n@equallength false\n@classlabel true x y z\n"
            "@DATA\n1,2:3,4:5,6:z\n7:8:9:x\n")
    series, labels, info = load_ts(write(tmp_path, text))
    assert [tuple(s.shape) for s in series] == [(2, 3), (1, 3)]
    assert series[0].tolist() == [[1, 3, 5], [2, 4, 6]]  # each dimension is a column
    assert labels == ["z", "x"]
    assert info["dimensions"] == 3 and not info["univariate"] and not info["equal_length"]
    assert info["series_length"] is None and info["problem_name"] == "Multi"


def test_dimensions_come_from_the_first_case_when_undeclared(tmp_path):
    series, _, info = load_ts(write(tmp_path, "@univariate false\n@classLabel false\n@data\n1,2:3,4\n5:6\n"))
    assert info["dimensions"] == 2 and [tuple(s.shape) for s in series] == [(2, 2), (1, 2)]
    with pytest.raises(ValueError, match=r"toy\.ts, line 5: 1 dimension\(s\), expected 2 \(as the first case\)"):
        load_ts(write(tmp_path, "@univariate false\n@classLabel false\n@data\n1,2:3,4\n5\n"))


def test_unlabelled_file_gives_no_labels(tmp_path):
    series, labels, info = load_ts(write(tmp_path, "@univariate true\n@classLabel false\n@data\n1,2\n3\n"))
    assert labels == [] and info["class_labels"] is None and len(series) == 2


def test_numeric_target_labels(tmp_path):
    _, labels, info = load_ts(write(tmp_path, "@univariate true\n@targetLabel true\n@data\n1,2:0.5\n3:-2e3\n"))
    assert labels == ["0.5", "-2e3"] and info["target"] and info["class_labels"] is None
    with pytest.raises(ValueError, match=r"line 4: target 'big' is not a number"):
        load_ts(write(tmp_path, "@univariate true\n@targetLabel true\n@data\n1,2:big\n"))


def test_missing_values_are_nan_and_counted(tmp_path):
    text = "@univariate false\n@dimensions 2\n@missing true\n@classLabel true a\n@data\n1,?,3:?,NaN,6:a\n"
    (case,), _, info = load_ts(write(tmp_path, text))
    assert info["missing"] and info["missing_values"] == 3
    assert torch.isnan(case).tolist() == [[False, True], [True, True], [False, False]]
    x, _ = pad([case])
    assert int(torch.isnan(x).sum()) == 3  # pad keeps them


def test_pad_right_pads_with_lengths():
    x, lengths = pad([torch.ones(2, 3), torch.full((4, 3), 2.0), torch.ones(1, 3)], value=-1.0)
    assert x.shape == (3, 4, 3) and lengths.tolist() == [2, 4, 1] and lengths.dtype == torch.int64
    assert (x[0, 2:] == -1).all() and (x[1] == 2).all() and (x[2, 1:] == -1).all() and (x[0, :2] == 1).all()


@pytest.mark.parametrize("series,error,match", [
    (torch.ones(2, 3), TypeError, "series must be a list"),
    ([], ValueError, "series must hold at least one"),
    ([torch.ones(3)], ValueError, r"series\[0\] must be a 2-D tensor"),
    ([torch.ones(2, 1), torch.ones(2, 2)], ValueError, r"series\[1\] has 2 dimensions"),
    ([torch.ones(0, 1)], ValueError, r"series\[0\] is empty"),
])
def test_pad_refuses_bad_series(series, error, match):
    with pytest.raises(error, match=match):
        pad(series)


@pytest.mark.parametrize("text,match", [
    (b"", r"toy\.ts is empty"),
    (b"  \n\n", r"toy\.ts is empty"),
    (b"@univariate true\n@data\n1,2\n\xff\xfe,3\n", r"toy\.ts, line 4: not valid UTF-8"),
    ("# only a comment\n@univariate true\n", r"toy\.ts has no @data line"),
    ("@univariate true\n@data\n\n", r"toy\.ts, line 2: @data is followed by no cases"),
    ("@univariate true\n@classLabel true a\n@data\n1,2:3,4:a\n", r"line 4: 2 dimension\(s\), expected 1"),
    ("@dimensions 3\n@classLabel true a\n@data\n1:2:a\n", r"line 4: 2 dimension\(s\), expected 3 \(@dimensions\)"),
    ("@univariate true\n@classLabel false\n@data\n1,x,3\n", r"line 4: dimension 1, value 2 is 'x', not a number"),
    ("@univariate true\n@classLabel false\n@data\n1,,3\n", r"line 4: dimension 1, value 2 is '', not a number"),
    ("@univariate true\n@classLabel false\n@data\n1,inf\n", r"line 4: dimension 1, value 2 is 'inf', not a finite"),
    ("@univariate true\n@classLabel true a b\n@data\n1,2:a\n1,2:c\n", r"line 5: label 'c' is not one of"),
    ("@univariate true\n@classLabel true a b\n@data\n1,2\n", r"line 4: no label after the last ':'"),
    ("@dimensions 2\n@classLabel false\n@data\n1,2,3:4,5\n", r"line 4: the dimensions of one case must have "
                                                             r"equal lengths, got 3, 2"),
    ("@univariate true\n@equalLength true\n@seriesLength 2\n@data\n1,2\n1,2,3\n",
     r"line 6: 3 values per dimension, but @seriesLength is 2"),
    ("@univariate true\n@equalLength true\n@data\n1,2\n1,2,3\n", r"toy\.ts: @equalLength true, but the cases have "
                                                                r"lengths from 2 to 3"),
    ("@univariate maybe\n@data\n1\n", r"line 1: @univariate must be true or false, got 'maybe'"),
    ("@dimensions two\n@data\n1\n", r"line 1: @dimensions needs a whole number >= 1, got 'two'"),
    ("@classLabel true\n@data\n1:a\n", r"line 1: @classLabel true needs the class labels"),
    ("@colour red\n@data\n1\n", r"line 1: unknown header @colour"),
    ("@univariate true\n1,2\n@data\n1\n", r"line 2: expected a header line"),
    ("@timeStamps true\n@data\n(0,1)\n", r"line 1: @timeStamps true is not supported"),
    ("@univariate true\n@dimensions 2\n@data\n1\n", r"line 2: @univariate true but @dimensions 2"),
    ("@classLabel true a\n@targetLabel true\n@data\n1:a\n", r"line 2: both @classLabel true and @targetLabel"),
])
def test_malformed_files_raise_one_line_naming_file_and_line(tmp_path, text, match):
    with pytest.raises(ValueError, match=match) as raised:
        load_ts(write(tmp_path, text))
    assert "\n" not in str(raised.value)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ts does not exist"):
        load_ts(tmp_path / "nope.ts")
    with pytest.raises(ValueError, match="is not a file"):
        load_ts(tmp_path)


def _raw_cases(path):
    """Each case's (dimension count, length, label), by a plain split of the lines after @data: the
    reference the reader is compared to."""
    lines = path.read_text().splitlines()
    data = [line for line in lines[lines.index("@data") + 1:] if line.strip()]
    return [(len(f) - 1, len(f[0].split(",")), f[-1]) for f in (line.split(":") for line in data)]


def test_gunpoint_train_and_test():
    folder = shared_data("timeseries", "ucr_uea", "GunPoint")
    for split, cases, ones in (("TRAIN", 50, 24), ("TEST", 150, 76)):
        path = folder / f"GunPoint_{split}.ts"
        series, labels, info = load_ts(path)
        assert len(series) == len(labels) == cases == len(_raw_cases(path))
        assert all(s.shape == (150, 1) for s in series)
        assert labels.count("1") == ones and labels.count("2") == cases - ones
        assert info == dict(problem_name="GunPoint", class_labels=["1", "2"], target=False, univariate=True,
                            dimensions=1, equal_length=True, series_length=150, missing=False, missing_values=0)
        x, lengths = pad(series)
        assert x.shape == (cases, 150, 1) and (lengths == 150).all() and torch.isfinite(x).all()
    first_value = float((folder / "GunPoint_TEST.ts").read_text().split("@data\n")[1].split(",")[0])
    assert math.isclose(float(series[0][0, 0]), first_value, rel_tol=1e-6)  # series: the TEST split's


def test_japanese_vowels_is_multivariate_with_unequal_lengths():
    folder = shared_data("timeseries", "ucr_uea", "JapaneseVowels")
    for split, cases, shortest, longest in (("TRAIN", 270, 7, 26), ("TEST", 370, 7, 29)):
        path = folder / f"JapaneseVowels_{split}.ts"
        series, labels, info = load_ts(path)
        raw = _raw_cases(path)
        assert len(series) == cases == len(raw)
        assert [(s.shape[1], s.shape[0], label) for s, label in zip(series, labels)] == raw
        assert info["dimensions"] == 12 and not info["univariate"] and not info["equal_length"]
        assert info["class_labels"] == [str(k) for k in range(1, 10)] and set(labels) == set(info["class_labels"])
        x, lengths = pad(series)
        assert x.shape == (cases, longest, 12) and int(lengths.min()) == shortest
        assert lengths.tolist() == [len(s) for s in series]
        for i in (0, int(lengths.argmin())):
            assert (x[i, lengths[i]:] == 0).all() and torch.equal(x[i, :lengths[i]], series[i])
    assert labels.count("3") == 88  # the TEST split's class sizes are unequal (88 of class 3)


# The cross-check against aeon (the reference reader of the format; a test dependency only, skipped
# without it): every case's values, length, dimension count and label, and the header's facts.
UCR_UEA_SETS = ("GunPoint", "ItalyPowerDemand", "JapaneseVowels", "BasicMotions")


@pytest.mark.parametrize("split", ["TRAIN", "TEST"])
@pytest.mark.parametrize("name", UCR_UEA_SETS)
def test_the_shared_sets_read_as_aeon_reads_them(name, split):
    np = pytest.importorskip("numpy")
    aeon_datasets = pytest.importorskip("aeon.datasets")
    path = shared_data("timeseries", "ucr_uea", name) / f"{name}_{split}.ts"
    series, labels, info = load_ts(path)
    X, y, meta = aeon_datasets.load_from_ts_file(str(path), return_meta_data=True)
    # aeon: (n_cases, n_channels, n_timepoints) float64 when equal length, else a list of (n_channels, L_i)
    assert isinstance(X, np.ndarray) == info["equal_length"] == meta["equallength"]
    assert len(series) == len(X) == len(labels) == len(y) > 0
    # aeon lowercases every line it reads (BasicMotions' "Standing" becomes "standing"); load_ts keeps the
    # labels as written, so they compare case-folded
    assert [label.lower() for label in labels] == [str(v) for v in y]
    assert [c.lower() for c in info["class_labels"]] == meta["class_values"]
    assert set(labels) <= set(info["class_labels"])
    assert info["problem_name"].lower() == meta["problemname"] and info["univariate"] == meta["univariate"]
    for i, (ours, theirs) in enumerate(zip(series, X)):
        assert ours.dtype == torch.float32 and ours.shape == (theirs.shape[1], theirs.shape[0]), i  # (L_i, D)
        assert ours.shape[1] == info["dimensions"], i
        # the same decimal text to float32: aeon's float64, rounded to float32, to the bit
        np.testing.assert_array_equal(ours.numpy().T, theirs.astype(np.float32), err_msg=f"case {i}")
        np.testing.assert_allclose(ours.numpy().T, theirs, rtol=2.0 ** -24, atol=0, err_msg=f"case {i}")
    lengths = {len(s) for s in series}
    assert (len(lengths) > 1) == (name == "JapaneseVowels")  # the one unequal-length set of the four
