"""rnnzoo.timeseries.anomaly_scores: NAB's rules on hand cases and against a row-by-row transcription of
NAB's sweeper, the threshold sweep against brute force, the UCR boundaries, P/R/F1 on hand cases, errors."""

import json
import math

import numpy as np
import pytest
from conftest import shared_data

from rnnzoo.timeseries.anomaly_scores import (
    PROFILES,
    NabProfile,
    event_prf,
    label_events,
    labels_from_windows,
    nab_corpus_score,
    nab_corpus_windows,
    nab_file_score,
    nab_probation,
    nab_scaled_sigmoid,
    nab_sweep_scores,
    nab_windows,
    nab_windows_from_timestamps,
    point_adjust,
    point_adjusted_prf,
    point_prf,
    ucr_hit,
)

# 2 / (1 + e^{5y}) - 1 = tanh(-5y / 2): the hand values below use the tanh form.
MAX_TP = math.tanh(2.5)  # 0.98661...: y = -1, a window's first row


def detect(length, *rows):
    detections = np.zeros(length, dtype=bool)
    detections[list(rows)] = True
    return detections


def score(rows, windows, profile="standard", length=100, probation=0):
    return nab_file_score(detect(length, *rows), windows, profile, probation)["score"]


def test_the_profiles_and_the_scaled_sigmoid_are_nabs():
    assert PROFILES["standard"] == NabProfile(tp=1.0, fp=0.11, fn=1.0, tn=1.0)
    assert PROFILES["reward_low_FP"] == NabProfile(tp=1.0, fp=0.22, fn=1.0, tn=1.0)
    assert PROFILES["reward_low_FN"] == NabProfile(tp=1.0, fp=0.11, fn=2.0, tn=1.0)
    assert nab_scaled_sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1, abs=1e-15)
    assert nab_scaled_sigmoid(-1.0) == pytest.approx(0.98661, abs=5e-6)
    assert nab_scaled_sigmoid(0.0) == 0.0
    assert nab_scaled_sigmoid(1.0) == pytest.approx(-0.98661, abs=5e-6)
    assert nab_scaled_sigmoid(3.0) == pytest.approx(-math.tanh(7.5), abs=1e-15)  # y = 3 is still the sigmoid
    np.testing.assert_array_equal(nab_scaled_sigmoid([3.0001, 50.0, 1e6]), [-1.0, -1.0, -1.0])


def test_a_true_positive_scores_by_its_position_in_the_window():
    window = [(40, 49)]  # width 10: y = -(49 - i + 1) / 10
    # NAB divides by sigma(-1), so the first row earns A_TP exactly (sigma(-1) = 0.98661 unscaled)
    assert score([40], window) == pytest.approx(1.0, abs=1e-15)
    assert score([40], window, NabProfile(tp=2.5, fp=0.11, fn=1.0)) == pytest.approx(2.5, abs=1e-15)
    # the last row sits at y = -1/10, not 0: tanh(0.25) / tanh(2.5) = 0.24824
    assert score([49], window) == pytest.approx(math.tanh(0.25) / MAX_TP, abs=1e-15)
    # row 45: y = -0.5
    assert score([45], window) == pytest.approx(math.tanh(1.25) / MAX_TP, abs=1e-15)


def test_only_the_first_detection_in_a_window_counts():
    window = [(40, 49)]
    first = score([42], window)  # y = -0.8
    assert first == pytest.approx(math.tanh(2.0) / MAX_TP, abs=1e-15)
    assert score([42, 45, 47, 49], window) == first
    got = nab_file_score(detect(100, 42, 45, 47, 49), window, "standard", 0)
    assert (got["tp"], got["windows_detected"], got["windows_missed"]) == (4, 1, 0)  # tp counts rows, as NAB


def test_false_positives_and_a_missed_window():
    window = [(40, 49)]
    # before any window: -A_FP, and the window is missed: -A_FN
    assert score([10], window) == pytest.approx(-0.11 - 1.0, abs=1e-15)
    assert score([10], window, "reward_low_FP") == pytest.approx(-0.22 - 1.0, abs=1e-15)
    assert score([], window, "reward_low_FN") == -2.0
    # after the window: y = (54 - 49) / (10 - 1) = 5/9, A_FP * (2 / (1 + e^{25/9}) - 1), here with a hit
    after = 0.11 * (2 / (1 + math.exp(25 / 9)) - 1)
    assert after == pytest.approx(-0.11 * math.tanh(25 / 18))
    assert score([40, 54], window) == pytest.approx(1.0 + after, abs=1e-15)
    # the row next to the window: y = 1/9; y = 28/9 > 3 is -A_FP exactly
    assert score([50], window) == pytest.approx(-1.0 - 0.11 * math.tanh(5 / 18), abs=1e-15)
    assert score([77], window) == pytest.approx(-1.0 - 0.11, abs=1e-15)
    # between two windows the preceding one's width counts: (20, 29) then (60, 64); row 35: y = 6/9
    assert score([20, 35, 60], [(20, 29), (60, 64)]) == pytest.approx(2.0 - 0.11 * math.tanh(5 / 3), abs=1e-15)
    got = nab_file_score(detect(100, 10, 40, 54), window, "standard", 0)
    assert (got["tp"], got["fp"], got["fn"], got["tn"], got["scored"]) == (1, 2, 9, 88, 100)


def test_the_per_row_sweep_scores():
    sweep = nab_sweep_scores(12, [(4, 7)])  # width 4
    expected = [-0.11] * 4 + [math.tanh(2.5 * k / 4) / MAX_TP for k in (4, 3, 2, 1)]
    expected += [-0.11 * math.tanh(2.5 * k / 3) for k in (1, 2, 3, 4)]
    np.testing.assert_allclose(sweep, expected, rtol=0, atol=1e-15)


def test_the_probationary_rows_are_not_scored():
    assert [nab_probation(n) for n in (40, 100, 4032, 4999, 5000, 22695)] == [6, 15, 604, 749, 750, 750]
    window = [(50, 59)]
    # length 100: rows 0-14 are probationary; a detection there is neither a hit nor a false positive
    got = nab_file_score(detect(100, 3, 14), window)
    assert (got["score"], got["fp"], got["scored"]) == (-1.0, 0, 85)
    assert nab_file_score(detect(100, 15), window)["score"] == pytest.approx(-1.0 - 0.11, abs=1e-15)
    # a window inside the probationary period counts for nothing, yet weights the false positives after it
    got = nab_file_score(detect(100, 20), [(5, 12)])
    assert (got["windows"], got["score"]) == (0, pytest.approx(-0.11 * math.tanh(2.5 * 8 / 7), abs=1e-15))
    # a window cut by it: only its scored rows can hit, still at their place in the whole window
    got = nab_file_score(detect(100, 12, 15), [(10, 19)])
    assert got["score"] == pytest.approx(math.tanh(1.25) / MAX_TP, abs=1e-15)  # row 15: y = -0.5
    assert nab_file_score(detect(100, 12), [(10, 19)])["score"] == -1.0


def reference_file_score(detections, windows, profile, probation):
    """A row-by-row transcription of NAB's rules (calcSweepScore, then scoring one threshold)."""
    p = PROFILES[profile]
    sigma = lambda y: -1.0 if y > 3 else 2 / (1 + math.exp(5 * y)) - 1  # noqa: E731
    parts, previous, total = {}, None, 0.0
    for i, detected in enumerate(detections):
        inside = [(s, e) for s, e in windows if s <= i <= e]
        if inside:
            (s, e), = inside
            value = sigma(-(e - i + 1) / (e - s + 1)) * p.tp / sigma(-1.0)
            if i >= probation:
                parts.setdefault((s, e), -p.fn)
                if detected:
                    parts[(s, e)] = max(parts[(s, e)], value)
            if i == e:
                previous = (s, e)
        elif detected and i >= probation:
            s, e = previous if previous else (None, None)
            total += p.fp * (-1.0 if previous is None else sigma((i - e) / (e - s)))
    return total + sum(parts.values())


def random_corpus(rng, files=4):
    scores, windows = {}, {}
    for f in range(files):
        length = int(rng.integers(40, 160))
        cuts = np.sort(rng.choice(np.arange(2, length - 2), size=2 * int(rng.integers(0, 4)), replace=False))
        found = [(int(a), int(b)) for a, b in cuts.reshape(-1, 2) if b > a]
        windows[f"f{f}.csv"] = [w for k, w in enumerate(found) if k == 0 or w[0] > found[k - 1][1]]
        scores[f"f{f}.csv"] = np.round(rng.random(length), 1)  # few distinct values: many ties
    return scores, windows


def test_the_file_score_equals_a_row_by_row_transcription_of_nab():
    rng = np.random.default_rng(0)
    for _ in range(30):
        scores, windows = random_corpus(rng, files=1)
        (s,), (w,) = scores.values(), windows.values()
        for profile in PROFILES:
            for probation in (0, nab_probation(len(s)), 30):
                detections = s >= 0.8
                assert nab_file_score(detections, w, profile, probation)["score"] == pytest.approx(
                    reference_file_score(detections, w, profile, probation), abs=1e-12)


def test_the_threshold_sweep_finds_the_brute_force_optimum():
    rng = np.random.default_rng(1)
    for _ in range(8):
        scores, windows = random_corpus(rng)
        if not any(windows.values()):
            continue
        for profile in PROFILES:
            candidates = [math.inf] + sorted({float(v) for s in scores.values() for v in s}, reverse=True)
            brute = [nab_corpus_score(scores, windows, profile, threshold=t)["raw"] for t in candidates]
            got = nab_corpus_score(scores, windows, profile)
            assert got["raw"] == pytest.approx(max(brute), abs=1e-12)
            assert got["threshold"] == candidates[int(np.argmax(brute))]  # the highest of tied thresholds
    # a sure tie: lowering the threshold from 0.9 to 0.5 only adds a later row of a window already found
    scores = np.zeros(100)
    scores[[50, 55]] = 0.9, 0.5
    got = nab_corpus_score({"a": scores}, {"a": [(50, 59)]})
    assert nab_corpus_score({"a": scores}, {"a": [(50, 59)]}, threshold=0.5)["raw"] == got["raw"] == 1.0
    assert got["threshold"] == 0.9


def test_normalisation_is_0_for_the_null_detector_and_100_for_the_perfect_one():
    windows = {"a.csv": [(50, 59), (80, 89)], "b.csv": [(120, 139)], "c.csv": []}
    lengths = {"a.csv": 100, "b.csv": 200, "c.csv": 60}
    null = {name: np.zeros(n) for name, n in lengths.items()}
    perfect = {name: np.zeros(n) for name, n in lengths.items()}
    for name, found in windows.items():
        perfect[name][[s for s, _ in found]] = 1.0
    for profile, p in PROFILES.items():
        got = nab_corpus_score(null, windows, profile)
        assert (got["normalized"], got["raw"], got["null"], got["threshold"]) == (0.0, -3 * p.fn, -3 * p.fn, math.inf)
        got = nab_corpus_score(perfect, windows, profile)
        assert (got["normalized"], got["raw"], got["perfect"], got["threshold"]) == (100.0, 3 * p.tp, 3 * p.tp, 1.0)
        assert (got["windows"], got["windows_detected"], got["fp"]) == (3, 3, 0)
    # a detector firing everywhere: every window at its first row, all the rest false positives
    got = nab_corpus_score(perfect, windows, "standard", threshold=0.0)
    assert got["raw"] == pytest.approx(sum(nab_file_score(np.ones(n, bool), windows[f])["score"]
                                           for f, n in lengths.items()), abs=1e-12)


def test_nab_windows_maps_timestamps_to_rows(tmp_path):
    (tmp_path / "labels").mkdir()
    (tmp_path / "data" / "cat").mkdir(parents=True)
    stamps = [f"2014-01-01 00:{m:02d}:00" for m in range(10)] + ["2014-01-01 00:00:00"]  # one repeat
    (tmp_path / "data" / "cat" / "x.csv").write_text("timestamp,value\n" + "".join(f"{t},1\n" for t in stamps))
    labels = {"cat/x.csv": [["2014-01-01 00:02:00.000000", "2014-01-01 00:04:00.000000"],
                            ["2014-01-01 00:07:00.000000", "2014-01-01 00:09:00.000000"]]}
    (tmp_path / "labels" / "w.json").write_text(json.dumps(labels))
    assert nab_windows(tmp_path / "labels" / "w.json", "cat/x.csv") == [(2, 4), (7, 9)]
    assert nab_corpus_windows(tmp_path / "labels" / "w.json") == {"cat/x.csv": [(2, 4), (7, 9)]}
    with pytest.raises(ValueError, match="occurs 2 times"):
        nab_windows_from_timestamps([("2014-01-01 00:00:00", "2014-01-01 00:03:00")], stamps)
    with pytest.raises(ValueError, match="occurs 0 times"):
        nab_windows_from_timestamps([("2014-01-01 00:02:30", "2014-01-01 00:03:00")], stamps)
    with pytest.raises(ValueError, match="relative_file"):
        nab_windows(tmp_path / "labels" / "w.json", "cat/y.csv")


def test_every_nab_window_maps_inside_its_file():
    import pandas as pd

    labels = shared_data("timeseries", "anomaly", "nab", "labels", "combined_windows.json")
    windows = nab_corpus_windows(labels)
    assert len(windows) == 58 and sum(map(len, windows.values())) == 116  # NAB's null: -116 (standard)
    for name, found in windows.items():
        length = len(pd.read_csv(labels.parent.parent / "data" / name))
        previous = -1
        for start, end in found:
            assert nab_probation(length) <= start and previous < start < end < length, name
            previous = end


def test_the_ucr_rule_boundaries_are_exact():
    def hit(location):
        scores = np.zeros(1000)
        scores[location] = 1.0
        return ucr_hit(scores, begin=400, end=500)

    assert [hit(x) for x in (299, 300, 400, 450, 500, 600, 601)] == [False, True, True, True, True, True, False]
    assert ucr_hit(np.r_[np.zeros(10), 1.0, np.zeros(5)], begin=12, end=13, slack=2)
    assert not ucr_hit(np.r_[np.zeros(10), 1.0, np.zeros(5)], begin=12, end=13, slack=1)
    ties = np.zeros(1000)
    ties[[100, 450]] = 1.0  # a tie: the first maximum is the location
    assert not ucr_hit(ties, begin=400, end=500)


# The P/R/F1 hand case, 10 points:
#   labels       0 1 1 1 0 0 1 1 0 0     events (1, 3) and (6, 7)
#   predictions  0 0 1 0 0 1 0 0 0 1
#   points: tp = {2}, fp = {5, 9}, fn = {1, 3, 6, 7}  ->  P = 1/3, R = 1/5, F1 = 2 (1/15) / (8/15) = 1/4
#   events: (1, 3) found, (6, 7) not                  ->  R_e = 1/2, P = 1/3, F_c = 2 (1/6) / (5/6) = 2/5
#   adjusted: 1, 2, 3 predicted: tp 3, fp 2, fn 2      ->  P = R = F1 = 3/5
LABELS = [0, 1, 1, 1, 0, 0, 1, 1, 0, 0]
PREDICTIONS = [0, 0, 1, 0, 0, 1, 0, 0, 0, 1]


def test_point_event_and_point_adjusted_scores_on_the_hand_case():
    assert point_prf(LABELS, PREDICTIONS) == pytest.approx(
        dict(precision=1 / 3, recall=1 / 5, f1=1 / 4, tp=1, fp=2, fn=4))
    assert event_prf(LABELS, PREDICTIONS) == pytest.approx(
        dict(precision=1 / 3, recall=1 / 2, f1=2 / 5, events=2, events_detected=1))
    assert point_adjust(LABELS, PREDICTIONS).astype(int).tolist() == [0, 1, 1, 1, 0, 1, 0, 0, 0, 1]
    assert point_adjusted_prf(LABELS, PREDICTIONS) == pytest.approx(
        dict(precision=3 / 5, recall=3 / 5, f1=3 / 5, tp=3, fp=2, fn=2))
    assert label_events(LABELS) == [(1, 3), (6, 7)]
    assert label_events([1, 1, 0, 1]) == [(0, 1), (3, 3)]
    assert labels_from_windows([(1, 3), (6, 7)], 10).astype(int).tolist() == LABELS
    nothing = dict(precision=0.0, recall=0.0, f1=0.0)
    assert point_prf(LABELS, [0] * 10).items() >= nothing.items()
    assert event_prf([0] * 10, PREDICTIONS).items() >= nothing.items()


@pytest.mark.parametrize("call, message", [
    (lambda: point_prf([0, 1], [0, 1, 1]), "same length"),
    (lambda: point_prf([0, np.nan], [0, 1]), "labels must hold booleans"),
    (lambda: event_prf([0, 1], [0, 2]), "predictions must hold booleans"),
    (lambda: point_adjust([[0, 1]], [[0, 1]]), "labels must be 1-D"),
    (lambda: ucr_hit([0.0, np.nan], 0, 1), "scores has 1 value"),
    (lambda: ucr_hit([0.0, 1.0], 1, 2), "begin and end"),
    (lambda: ucr_hit([0.0, 1.0], 1, 0), "begin and end"),
    (lambda: ucr_hit([0.0, 1.0], 0, 1, slack=-1), "slack"),
    (lambda: nab_file_score([0, 1], [], "standrad"), "unknown profile"),
    (lambda: nab_file_score(np.zeros(10), [(5, 3)]), "windows must be sorted"),
    (lambda: nab_file_score(np.zeros(10), [(2, 4), (4, 6)]), "windows must be sorted"),
    (lambda: nab_file_score(np.zeros(10), [(2, 10)]), "windows must be sorted"),
    (lambda: nab_file_score(np.zeros(10), [(2, 2)]), "1 row"),
    (lambda: nab_file_score(np.zeros(10), [(2, 4)], probation=-1), "probation"),
    (lambda: nab_corpus_score({"a": [0.0, np.nan, 0.0]}, {"a": [(0, 1)]}), r"scores_by_file\['a'\] has 1"),
    (lambda: nab_corpus_score({"a": np.zeros(5)}, {"b": [(0, 1)]}), "same files"),
    (lambda: nab_corpus_score({"a": np.zeros(5)}, {"a": [(0, 9)]}), r"windows_by_file\['a'\]"),
    (lambda: nab_corpus_score({"a": np.zeros(5)}, {"a": []}), "no window"),
    (lambda: nab_corpus_score({"a": np.zeros(5)}, {"a": [(0, 1)]}, "x"), "unknown profile"),
    (lambda: nab_corpus_score({"a": np.zeros(5)}, {"a": [(0, 1)]}, threshold=math.nan), "threshold"),
])
def test_bad_arguments_raise_value_errors_that_name_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
