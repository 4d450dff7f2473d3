"""Clustering UCR/UEA sets by sequence-autoencoder codes, against k-means on the raw series and k-means with DTW.

For each set the series of TRAIN and TEST together are clustered into as many clusters as the set has
classes, and the clustering is scored against the classes (adjusted Rand index, NMI):
    rnnzoo          `rnnzoo train autoencode --data SET --seed S` at its defaults (GRU 64, code of 8, the
                    whole TRAIN file training, no labels), then `rnnzoo cluster RUN` (k-means on the
                    standardised codes), for --seeds seeds
    kmeans_raw      scikit-learn's KMeans (10 starts) on the z-normalised series (per series and channel;
                    unequal lengths: each resampled to the longest by linear interpolation), flattened
    kmeans_dtw      aeon's TimeSeriesKMeans(distance="dtw", averaging_method="ba") on the same series
tsml's published raw-series k-means ARI: GunPoint -0.005, ItalyPowerDemand 0.003. The issue's target: the
autoencoder's ARI above k-means on raw series on every set.

Below each row, where k-means on the raw series puts each class (the series of class c in clusters 0..k-1),
and what the codes hold (mean over seeds): the share of their variance along their first principal component,
and the 5-fold accuracy of a logistic-regression probe from codes to classes (scikit-learn; it uses the
labels, so it says whether the class is in the codes at all, not how well they cluster). A third line says
where the sets split without labels: the ARI between the codes' clusters and raw k-means' clusters, and of
each against k-means on the series' peak height alone (the maximum per channel). On GunPoint, recorded by
two actors (its header: one female, one male), both split by peak height, which cuts across the classes.

    python benchmarks/cluster.py                 # 4 sets x 3 seeds
    python benchmarks/cluster.py --quick         # a smoke test
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from rnnzoo.data.ucr import load_ts

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "timeseries" / "ucr_uea"
SETS = ("GunPoint", "ItalyPowerDemand", "JapaneseVowels", "BasicMotions")


def series_of(folder: Path):
    """(list of (L_i, D) arrays, labels) of TRAIN then TEST."""
    out, labels = [], []
    for part in ("TRAIN", "TEST"):
        s, l_, _ = load_ts(next(folder.glob(f"*_{part}.ts")))
        out += [x.numpy().astype(np.float64) for x in s]
        labels += l_
    return out, labels


def equal_length(series) -> np.ndarray:
    """(N, L, D): each series z-normalised per channel and resampled to the longest length."""
    L = max(len(s) for s in series)
    out = []
    for s in series:
        s = np.nan_to_num((s - np.nanmean(s, 0)) / np.where(np.nanstd(s, 0) > 0, np.nanstd(s, 0), 1.0))
        grid = np.linspace(0, len(s) - 1, L)
        out.append(np.stack([np.interp(grid, np.arange(len(s)), s[:, d]) for d in range(s.shape[1])], 1))
    return np.stack(out)


def baselines(series, labels, seed=0, dtw=True) -> dict:
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    x = equal_length(series)
    k = len(set(labels))
    result = {}
    started = time.perf_counter()
    assigned = KMeans(k, n_init=10, random_state=seed).fit_predict(x.reshape(len(x), -1))
    result["kmeans_raw"] = {"ari": adjusted_rand_score(labels, assigned),
                            "nmi": normalized_mutual_info_score(labels, assigned),
                            "seconds": time.perf_counter() - started,
                            "classes": {c: [int(sum(1 for a, l_ in zip(assigned, labels) if l_ == c and a == j))
                                            for j in range(k)] for c in sorted(set(labels), key=str)},
                            "assigned": assigned.tolist()}
    peak = peak_split(x, k, seed)
    result["peak_split"] = {"assigned": peak.tolist(), "sizes": np.bincount(peak, minlength=k).tolist(),
                            "ari": adjusted_rand_score(labels, peak),
                            "kmeans_raw": adjusted_rand_score(assigned, peak)}
    if dtw:
        from aeon.clustering import TimeSeriesKMeans
        started = time.perf_counter()
        assigned = TimeSeriesKMeans(n_clusters=k, distance="dtw", averaging_method="ba", random_state=seed,
                                    n_init=1, max_iter=10).fit_predict(x.transpose(0, 2, 1))
        result["kmeans_dtw"] = {"ari": adjusted_rand_score(labels, assigned),
                                "nmi": normalized_mutual_info_score(labels, assigned),
                                "seconds": time.perf_counter() - started}
    return result


def peak_split(x: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Assignments (N,) of k-means on each series' peak alone (its maximum per channel, z-normalised series
    (N, L, D)): the split by height. GunPoint's header says it was recorded by two actors, one female and one
    male; their peaks differ, and raw k-means splits the set there rather than by class."""
    from sklearn.cluster import KMeans
    return KMeans(k, n_init=10, random_state=seed).fit_predict(x.max(axis=1))


def rnnzoo_ari(folder: Path, out: Path, seed: int, extra: list[str], reference: dict | None = None) -> dict:
    if not (out / "config.json").exists():
        cmd = [sys.executable, "-m", "rnnzoo", "train", "autoencode", "--data", str(folder), "--seed", str(seed),
               "--out", str(out), *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    proc = subprocess.run([sys.executable, "-m", "rnnzoo", "cluster", str(out), "--seed", str(seed)],
                          capture_output=True, text=True, check=True)
    line = next(x for x in proc.stdout.splitlines() if x.startswith("adjusted Rand index"))
    ari, nmi = float(line.split()[3].rstrip(",")), float(line.split()[5])
    return {"ari": ari, "nmi": nmi, "seconds": json.loads((out / "config.json").read_text())["seconds"],
            **what_codes_hold(out, seed, reference)}


def what_codes_hold(run: Path, seed: int = 0, reference: dict | None = None) -> dict:
    """The codes' variance share along their first principal component, a logistic-regression probe's
    5-fold accuracy from the (standardised) codes to the classes, and for each named reference clustering
    (assignments in the same series order) the ARI between it and the codes' k-means clusters (`rnnzoo
    cluster`'s, the same seed): whether the codes split the set where it does."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import adjusted_rand_score
    from sklearn.model_selection import cross_val_score

    from rnnzoo.commands.cluster import cluster_codes
    from rnnzoo.train.fit import load_run
    task, model, config = load_run(run)
    codes, labels = task.codes(model, config, "all")
    assigned = cluster_codes(codes.numpy(), len(set(labels)), "kmeans", seed)
    agreement = {name: float(adjusted_rand_score(other, assigned)) for name, other in (reference or {}).items()}
    z = codes.numpy().astype(np.float64)
    z = (z - z.mean(0)) / np.where(z.std(0) > 0, z.std(0), 1.0)
    variance = np.linalg.svd(z, compute_uv=False) ** 2
    folds = min(5, min(labels.count(c) for c in set(labels)))
    probe = cross_val_score(LogisticRegression(max_iter=2000), z, labels, cv=folds).mean() if folds > 1 else np.nan
    return {"pc1_share": float(variance[0] / variance.sum()), "probe_accuracy": float(probe),
            "labels_ari": float(adjusted_rand_score(labels, assigned)), "agreement": agreement}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--sets", nargs="+", default=list(SETS))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--out", type=Path, default=Path("runs/bench-cluster"))
    p.add_argument("--quick", action="store_true", help="smoke test: first set, one seed, 3 epochs, no DTW")
    args = p.parse_args(argv)
    extra = []
    if args.quick:
        args.sets, args.seeds, extra = args.sets[:1], 1, ["--epochs", "3", "--hidden", "8"]
    results = {}
    print(f"{'set':18}{'k-means raw ARI':>16}{'k-means DTW ARI':>16}{'rnnzoo ARI mean (std)':>24}{'NMI':>7}"
          f"{'> raw':>7}")
    for name in args.sets:
        series, labels = series_of(args.data / name)
        base = baselines(series, labels, dtw=not args.quick)
        reference = {"kmeans_raw": base["kmeans_raw"]["assigned"], "peak_split": base["peak_split"]["assigned"]}
        runs = [rnnzoo_ari(args.data / name, args.out / f"{name}-s{s}", s, extra, reference)
                for s in range(args.seeds)]
        ari = [r["ari"] for r in runs]
        mean, std = statistics.mean(ari), (statistics.stdev(ari) if len(ari) > 1 else 0.0)
        dtw = base.get("kmeans_dtw", {}).get("ari")
        print(f"{name:18}{base['kmeans_raw']['ari']:>16.3f}{(f'{dtw:.3f}' if dtw is not None else '-'):>16}"
              f"{f'{mean:.3f} ({std:.3f})':>24}{statistics.mean(r['nmi'] for r in runs):>7.3f}"
              f"{'yes' if mean > base['kmeans_raw']['ari'] else 'NO':>7}", flush=True)
        print(f"{'':4}raw k-means clusters of each class: "
              + ", ".join(f"{c}: {'/'.join(map(str, n))}" for c, n in base["kmeans_raw"]["classes"].items())
              + f"; codes: {statistics.mean(r['pc1_share'] for r in runs):.0%} of variance on PC 1, probe accuracy "
              f"{statistics.mean(r['probe_accuracy'] for r in runs):.3f}", flush=True)
        agree = {key: statistics.mean(r["agreement"][key] for r in runs) for key in reference}
        peak = base["peak_split"]
        print(f"{'':4}the codes' clusters against raw k-means' clusters: ARI {agree['kmeans_raw']:.3f}; against "
              f"k-means on the series' peak height alone (groups of {'/'.join(map(str, peak['sizes']))}): "
              f"codes {agree['peak_split']:.3f}, raw k-means {peak['kmeans_raw']:.3f} (the peak split against the "
              f"classes: {peak['ari']:.3f})", flush=True)
        results[name] = {"rnnzoo": runs, "baselines": base}
    return results


if __name__ == "__main__":
    main()
