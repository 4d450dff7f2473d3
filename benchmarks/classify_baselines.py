"""The baselines of time-series classification on UCR/UEA data sets, from aeon: test accuracy and seconds.

Data: <data>/<set>/*_TRAIN.ts and *_TEST.ts, read with rnnzoo.data.ucr.load_ts (series (L_i, D) float32),
fitted on TRAIN and scored on TEST as the archive splits them, with no normalisation beyond the files'
own (the UCR sets are z-normalised per series in the files already).

Baselines (aeon's estimators, n_jobs=1):
    1nn_euclidean  KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="euclidean")
    1nn_dtw        KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw"): full-window DTW, the
                   UCR archive's "DTW (w=100)" column; on multivariate data aeon's DTW is the dependent one
                   (DTW_D: one warping path, squared distances summed over the channels at each step)
    minirocket     MiniRocketClassifier(random_state=seed): 10,000 kernels and a RidgeClassifierCV
Ties among nearest neighbours go to the lowest TRAIN index (aeon's rule), so the 1-NN figures are
deterministic; MiniRocket's are for the one seed.

Layout: aeon takes (n_cases, n_channels, n_timepoints) float64, or a list of (n_channels, L_i) arrays for
unequal lengths (`to_aeon`). Where the lengths differ (JapaneseVowels, 7 to 29 steps), an estimator whose
"capability:unequal_length" tag is true gets the series as they are: aeon's 1-NN does; its Euclidean
distance then sums over the first min(L_x, L_y) steps of the pair, and its DTW aligns the whole of both.
An estimator without the tag (MiniRocket) gets every TRAIN and TEST series padded to the longest of both
splits by repeating its last value (`pad_last`); the table says which input each row had.

Seconds: fit + predict, wall clock, after a warm-up of each estimator on four TRAIN cases, timed apart
("warm-up s"): the first call of each of aeon's numba functions compiles it, or loads it from numba's
disk cache (aeon's are cache=True). The first run on a machine compiles them all: about 65 s of warm-up
here (MiniRocket's univariate kernels ~38 s, its multivariate ones ~16 s, each 1-NN distance ~6 s);
later runs load the cache: 2-4 s on the first warm-up, well under 1 s on the others.

Published accuracies (TEST split) to check against; a large miss means a layout bug:
    GunPoint          1-NN ED 0.913, 1-NN DTW (w=100) 0.907 (UCR archive, Dau et al. 2018); MiniRocket ~0.99
    ItalyPowerDemand  1-NN ED 0.955, 1-NN DTW (w=100) 0.950 (UCR archive); MiniRocket ~0.96
                      (MiniRocket: Dempster et al. 2021, a mean over resamples, so one seed may differ a little)

    python benchmarks/classify_baselines.py                        # the four shared sets, ~15 s (cached)
    python benchmarks/classify_baselines.py --sets GunPoint --names 1nn_euclidean 1nn_dtw

scikit-learn and aeon are dependencies of this benchmark alone (pip install aeon), imported only here.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch

from rnnzoo.data.ucr import load_ts

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "timeseries" / "ucr_uea"
SETS = ("GunPoint", "ItalyPowerDemand", "JapaneseVowels", "BasicMotions")
NAMES = ("1nn_euclidean", "1nn_dtw", "minirocket")
# (set, baseline) -> published TEST accuracy; "~" figures are approximate (means over resamples)
PUBLISHED = {("GunPoint", "1nn_euclidean"): "0.913", ("GunPoint", "1nn_dtw"): "0.907",
             ("GunPoint", "minirocket"): "~0.99", ("ItalyPowerDemand", "1nn_euclidean"): "0.955",
             ("ItalyPowerDemand", "1nn_dtw"): "0.950", ("ItalyPowerDemand", "minirocket"): "~0.96"}


def find(folder: Path, split: str) -> Path:
    found = sorted(Path(folder).glob(f"*_{split}.ts"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one *_{split}.ts in {folder}, found {len(found)}")
    return found[0]


def load_split(directory) -> tuple[list[torch.Tensor], list[str], list[torch.Tensor], list[str]]:
    """(train_series, train_labels, test_series, test_labels) from the one *_TRAIN.ts and *_TEST.ts in
    `directory`, read with load_ts: series are lists of (L_i, D) float32 tensors, labels strings."""
    train_series, train_labels, _ = load_ts(find(directory, "TRAIN"))
    test_series, test_labels, _ = load_ts(find(directory, "TEST"))
    return train_series, train_labels, test_series, test_labels


def to_aeon(series, as_list: bool = False) -> np.ndarray | list[np.ndarray]:
    """(L_i, D) tensors -> aeon's layout, float64: an array (n_cases, D, L) when every length is equal,
    else (or with as_list) a list of (D, L_i) arrays.

        >>> x = to_aeon([torch.tensor([[1., 10.], [2., 20.], [3., 30.]]), torch.tensor([[4., 40.]])])
        >>> [a.tolist() for a in x]
        [[[1.0, 2.0, 3.0], [10.0, 20.0, 30.0]], [[4.0], [40.0]]]
    """
    arrays = [np.ascontiguousarray(s.detach().cpu().numpy().T, dtype=np.float64) for s in series]  # (D, L_i)
    return np.stack(arrays) if len({a.shape for a in arrays}) == 1 and not as_list else arrays


def pad_last(series, length: int) -> np.ndarray:
    """(L_i, D) tensors -> (n_cases, D, length) float64, each series right-padded to `length` by repeating
    its last value (for an estimator that takes equal lengths only).

        >>> pad_last([torch.tensor([[1.], [2.]]), torch.tensor([[5.], [6.], [7.]])], 4)[:, 0].tolist()
        [[1.0, 2.0, 2.0, 2.0], [5.0, 6.0, 7.0, 7.0]]
    """
    out = np.empty((len(series), series[0].shape[1], length), dtype=np.float64)
    for i, s in enumerate(series):
        a = s.detach().cpu().numpy().T  # (D, L_i)
        if not 1 <= a.shape[1] <= length:
            raise ValueError(f"series[{i}] has length {a.shape[1]}; pad_last needs 1..{length}")
        out[i, :, :a.shape[1]] = a
        out[i, :, a.shape[1]:] = a[:, -1:]
    return out


def make(name: str, seed: int = 0):
    """The aeon estimator of a baseline name (one of NAMES)."""
    from aeon.classification.convolution_based import MiniRocketClassifier
    from aeon.classification.distance_based import KNeighborsTimeSeriesClassifier

    if name == "1nn_euclidean":
        return KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="euclidean")
    if name == "1nn_dtw":  # aeon's default window=None: the full warping window
        return KNeighborsTimeSeriesClassifier(n_neighbors=1, distance="dtw")
    if name == "minirocket":
        return MiniRocketClassifier(random_state=seed)
    raise ValueError(f"unknown baseline {name!r}; known: {', '.join(NAMES)}")


def inputs(name, train_series, test_series):
    """(X_train, X_test, how) for one estimator: aeon's layout as is, or padded where the lengths differ and
    the estimator does not take unequal lengths; `how` says which, for the table."""
    lengths = [len(s) for s in train_series] + [len(s) for s in test_series]
    if len(set(lengths)) == 1:
        return to_aeon(train_series), to_aeon(test_series), "equal length"
    if make(name).get_tag("capability:unequal_length"):  # lists for both, even where one split is equal
        return (to_aeon(train_series, as_list=True), to_aeon(test_series, as_list=True),
                f"unequal length {min(lengths)}..{max(lengths)}, native")
    longest = max(lengths)
    return (pad_last(train_series, longest), pad_last(test_series, longest),
            f"padded {min(lengths)}..{max(lengths)} -> {longest}, last value repeated")


def baselines(train_series, train_labels, test_series, test_labels, *, names=NAMES, seed=0,
              warmup=True) -> dict[str, dict]:
    """Fit each named baseline on TRAIN and score it on TEST.

    Args:
        train_series, test_series: lists of (L_i, D) tensors (load_ts's), the same D throughout.
        train_labels, test_labels: their labels (strings).
        names: baselines out of NAMES. seed: MiniRocket's random_state.
        warmup: fit and predict each estimator once on four TRAIN cases first, so that numba's compile
            (or cache load) is not in "seconds".

    Returns {name: {"accuracy": float, "seconds": float (fit + predict), "warmup_seconds": float (0.0
    without warmup), "input": str (equal length / native unequal length / padded, and how)}}.
    Raises ValueError for an unknown name, empty or mismatched inputs, or missing values (NaN: aeon's
    baselines refuse them; fill or drop them first).
    """
    for split, series, labels in (("TRAIN", train_series, train_labels), ("TEST", test_series, test_labels)):
        if not len(series) or len(series) != len(labels):
            raise ValueError(f"{split}: {len(series)} series and {len(labels)} labels; need as many, at least one")
        if any(bool(torch.isnan(s).any()) for s in series):
            raise ValueError(f"{split} has missing values (NaN); aeon's baselines refuse them, fill or drop them")
    if len({s.shape[1] for s in train_series} | {s.shape[1] for s in test_series}) != 1:
        raise ValueError("the series differ in their number of dimensions D")
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(map(repr, unknown))}; known: {', '.join(NAMES)}")
    y_train, y_test = np.asarray(train_labels, dtype=str), np.asarray(test_labels, dtype=str)
    # the warm-up's cases: two of each of the first two classes (RidgeClassifierCV needs two classes)
    classes = list(dict.fromkeys(train_labels))[:2]
    few = [i for c in classes for i in [j for j, label in enumerate(train_labels) if label == c][:2]]
    results = {}
    for name in names:
        X_train, X_test, how = inputs(name, train_series, test_series)
        warm = 0.0
        if warmup:
            start = time.perf_counter()
            pick = (lambda X: X[few]) if isinstance(X_train, np.ndarray) else (lambda X: [X[i] for i in few])
            make(name, seed).fit(pick(X_train), y_train[few]).predict(pick(X_train))
            warm = time.perf_counter() - start
        start = time.perf_counter()
        predicted = make(name, seed).fit(X_train, y_train).predict(X_test)
        seconds = time.perf_counter() - start
        results[name] = dict(accuracy=float(np.mean(predicted == y_test)), seconds=seconds, warmup_seconds=warm,
                             input=how)
    return results


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DATA, help="folder holding one folder per set (default: %(default)s)")
    p.add_argument("--sets", nargs="+", default=list(SETS), help="sets (folder names) to run (default: the four)")
    p.add_argument("--names", nargs="+", choices=NAMES, default=list(NAMES), help="baselines to run (default: all)")
    p.add_argument("--seed", type=int, default=0, help="MiniRocket's random_state (default: %(default)s)")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse(sys.argv[1:] if argv is None else argv)
    import aeon

    command = "python benchmarks/classify_baselines.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    print(f"command: {command.rstrip()}")
    print(f"settings: data={args.data} sets={' '.join(args.sets)} names={' '.join(args.names)} seed={args.seed} "
          f"aeon={aeon.__version__} torch={torch.__version__}")
    table = {}
    print("| set | train x test, D, L | baseline | accuracy | published | seconds | warm-up s | input |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.sets:
        train_series, train_labels, test_series, test_labels = load_split(args.data / name)
        lengths = [len(s) for s in train_series + test_series]
        shape = (f"{len(train_series)} x {len(test_series)}, {train_series[0].shape[1]}, "
                 + (f"{lengths[0]}" if len(set(lengths)) == 1 else f"{min(lengths)}..{max(lengths)}"))
        table[name] = baselines(train_series, train_labels, test_series, test_labels, names=args.names,
                                seed=args.seed)
        for baseline, r in table[name].items():
            print(f"| {name} | {shape} | {baseline} | {r['accuracy']:.4f} | {PUBLISHED.get((name, baseline), '')} | "
                  f"{r['seconds']:.2f} | {r['warmup_seconds']:.2f} | {r['input']} |", flush=True)
    print("seconds: fit + predict; warm-up: the same estimator on four TRAIN cases first (numba compile or cache "
          "load); padded: each series right-padded to the longest by repeating its last value")
    return table


if __name__ == "__main__":
    main()
