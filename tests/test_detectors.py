"""rnnzoo.timeseries.detectors: NAB's baselines against their published algorithms (straightforward
reference loops written here), the anomaly likelihood against a row-by-row reference, and causality: what
is fitted reads only the probationary prefix, and no row's score reads a later row."""

import math
import random

import numpy as np
import pytest

from rnnzoo.timeseries import detectors as D


def gaussian_reference(values, window, step):
    """NAB's WindowedGaussianDetector.handleRecord, one record at a time, with lists."""
    data, buffer, mean, std, out = [], [], 0.0, 1.0, []
    for v in values:
        score = 0.0
        if data:
            x = 2 * mean - v if v < mean else v  # normalProbability reflects below the mean
            score = 1 - 0.5 * math.erfc((x - mean) / std / math.sqrt(2))
        if len(data) < window:
            data.append(v)
            mean, std = float(np.mean(data)), float(np.std(data)) or 1e-6
        else:
            buffer.append(v)
            if len(buffer) == step:
                data = data[step:] + buffer
                buffer = []
                mean, std = float(np.mean(data)), float(np.std(data)) or 1e-6
        out.append(score)
    return np.array(out)


def likelihood_reference(raw, probation, averaging=10, history=8640, reestimate=100):
    """The anomaly likelihood row by row: fit at the first scored row and every `reestimate` rows after."""
    n, learning, out = len(raw), probation // 2, []
    avg = [float(np.mean(raw[max(0, t - averaging + 1):t + 1])) for t in range(n)]
    mu = sd = None
    for t in range(n):
        if t < max(probation, 1):
            out.append(0.5)
            continue
        if mu is None or (t - max(probation, 1)) % reestimate == 0:
            lo = max(t - history, 0)
            if t - lo > learning:
                lo = max(lo, learning)
            sample = np.array(avg[lo:t])
            mu, sd = max(sample.mean(), 0.03), math.sqrt(max(sample.var(), 0.0003))
        out.append(1 - 0.5 * math.erfc((avg[t] - mu) / sd / math.sqrt(2)))
    for t in range(n - 1, 0, -1):  # filter from the end so that each row sees its unfiltered predecessor
        if out[t] >= 0.99999 and out[t - 1] >= 0.99999:
            out[t] = 0.999
    return np.array(out)


def test_windowed_gaussian_equals_nabs_record_by_record_detector():
    g = np.random.default_rng(0)
    values = np.concatenate([g.normal(0, 1, 300), g.normal(3, 0.5, 200), [0.0] * 50])
    for window, step in ((64, 8), (1000, 100), (20, 1)):
        np.testing.assert_allclose(D.windowed_gaussian(values, window, step), gaussian_reference(values, window, step),
                                   atol=1e-12)


def test_windowed_gaussian_scores_a_far_value_near_1_and_the_mean_near_0():
    values = np.r_[np.tile([0.0, 1.0], 50), 0.5, 10.0]
    s = D.windowed_gaussian(values)
    assert s[0] == 0 and s[-2] == pytest.approx(0.5) and s[-1] > 1 - 1e-12  # two-sided: 1 - Q(0) = 0.5


def test_random_scores_are_pythons_uniform_seeded_42_per_file():
    draw = random.Random(42)
    assert D.random_scores(5).tolist() == [draw.uniform(0, 1) for _ in range(5)]
    assert D.random_scores(3, seed=1).tolist() == D.random_scores(3, seed=1).tolist() != D.random_scores(3).tolist()


def test_likelihood_equals_the_row_by_row_reference():
    g = np.random.default_rng(1)
    raw = np.clip(np.abs(g.normal(0.1, 0.05, 1500)), 0, 1)
    raw[[700, 701, 702, 1200]] = [0.9, 1.0, 1.0, 0.8]
    for history in (8640, 300):
        np.testing.assert_allclose(D.likelihood(raw, 200, history=history, reestimate=50),
                                   likelihood_reference(raw, 200, history=history, reestimate=50), atol=1e-12)


def test_a_long_red_alarm_rings_once():
    raw = np.r_[np.full(300, 0.05), np.full(50, 1.0)]
    out = D.likelihood(raw, 100)
    red = np.flatnonzero(out >= 0.99999)
    assert len(red) >= 1 and all(out[t - 1] < 0.99999 for t in red)
    assert out[300:].max() >= 0.99999 and (out[300:] == 0.999).sum() > 10


def test_scores_are_causal_a_later_row_never_changes_an_earlier_score():
    g = np.random.default_rng(2)
    raw, values = np.abs(g.normal(0, 1, 900)), g.normal(0, 1, 900)
    changed_raw, changed_values = raw.copy(), values.copy()
    changed_raw[600:] *= 5
    changed_values[600:] += 100
    np.testing.assert_array_equal(D.likelihood(raw, 150)[:600], D.likelihood(changed_raw, 150)[:600])
    np.testing.assert_array_equal(D.range_alarm(values)[:600], D.range_alarm(changed_values)[:600])
    np.testing.assert_array_equal(D.windowed_gaussian(values, 200, 10)[:600],
                                  D.windowed_gaussian(changed_values, 200, 10)[:600])


def test_normalisation_and_threshold_read_only_the_probationary_prefix():
    g = np.random.default_rng(3)
    raw = np.abs(g.normal(0, 1, 1000))
    changed = raw.copy()
    changed[150:] = g.uniform(0, 50, 850)
    a, b = D.prefix_scale(raw, 150), D.prefix_scale(changed, 150)
    np.testing.assert_array_equal(a[:150], b[:150])
    spread = np.quantile(np.abs(raw[:150] - np.median(raw[:150])), 0.9)
    np.testing.assert_allclose(b, (changed - np.median(raw[:150])) / spread)
    unit = np.clip(a / 10, 0, 1)
    assert D.prefix_likelihood_threshold(unit, 150) == D.prefix_likelihood_threshold(np.r_[unit[:150], 1 - unit[150:]],
                                                                                     150)


def test_the_prefix_threshold_flags_no_row_of_the_prefix_second_half_in_sample():
    g = np.random.default_rng(4)
    raw = np.clip(np.abs(g.normal(0.1, 0.05, 600)), 0, 1)
    threshold = D.prefix_likelihood_threshold(raw, 400)
    averaged = np.convolve(raw[:400], np.ones(10) / 10)[:400]
    averaged[:9] = [raw[:k + 1].mean() for k in range(9)]
    mu, sd = max(averaged[200:].mean(), 0.03), max(averaged[200:].std(), math.sqrt(0.0003))  # NAB's floors
    in_sample = D.log_likelihood(1 - 0.5 * np.vectorize(math.erfc)((averaged[200:] - mu) / sd / math.sqrt(2)))
    assert in_sample.max() == pytest.approx(threshold) and 0 < threshold < 1


def test_range_alarm_fires_only_beyond_the_tolerance_of_the_range_seen_so_far():
    values = [5.0, 5.0, 6.0, 6.05, 6.06, 4.9, 4.94, 10.0, 7.0]
    # row 2: the range [5, 5] is empty, no alarm; row 3: [5, 6] +- 0.05 holds 6.05; row 4: [5, 6.05] holds 6.06;
    # row 5: [5, 6.06] +- 0.053 misses 4.9; row 6: [4.9, 6.06] holds 4.94; row 7: 10 is out; row 8: [4.9, 10]
    assert D.range_alarm(values).tolist() == [False, False, False, False, False, True, False, True, False]
    assert not D.range_alarm([3.0] * 10).any()


def test_log_likelihood_maps_the_last_nines_onto_0_to_1():
    assert D.log_likelihood(0.5) == pytest.approx(math.log(0.5) / math.log(1e-10), rel=1e-6)
    assert D.log_likelihood(1 - 1e-5) == pytest.approx(0.5, rel=1e-4)
    assert D.log_likelihood(1.0) == pytest.approx(1.0, rel=1e-8)


@pytest.mark.parametrize("bad, message", [(np.array([1.0, np.nan, 2.0]), "row 1 is nan"),
                                          (np.zeros((3, 2)), "1-D"), (np.array([]), "non-empty")])
def test_bad_series_are_refused_with_the_reason(bad, message):
    for fn in (D.windowed_gaussian, D.likelihood, D.range_alarm):
        with pytest.raises(ValueError, match=message):
            fn(bad)


def test_bad_probations_and_sizes_are_refused():
    with pytest.raises(ValueError, match="probation must be an integer in"):
        D.likelihood(np.ones(10), probation=11)
    with pytest.raises(ValueError, match="averaging must be a positive integer"):
        D.likelihood(np.ones(10), 5, averaging=0)
    with pytest.raises(ValueError, match="at least 2 prefix rows"):
        D.prefix_scale(np.ones(10), 1)
    with pytest.raises(ValueError, match="length must be a positive integer"):
        D.random_scores(0)
