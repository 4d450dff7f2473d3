"""Cluster series by their codes from a trained sequence autoencoder ('rnnzoo train autoencode').

Each series of the run's TRAIN and TEST files (--split all, the default; or train, test, or --data FILE.ts)
is encoded into its code; the codes are standardised and clustered by k-means (scikit-learn, 10 restarts,
seeded) or agglomerative clustering (Ward). Where the files have class labels, the clustering is scored
against them: adjusted Rand index (0 for chance, 1 for the labels exactly) and normalised mutual
information. --k defaults to the number of classes. The picture (the codes in 2-D by PCA, coloured by
cluster, marked by label) goes to RUN/plots/clusters.png, or --plot PATH.

Examples:
    rnnzoo train autoencode --data ucr_uea/GunPoint --out runs/gunpoint-ae
    rnnzoo cluster runs/gunpoint-ae
    rnnzoo cluster runs/gunpoint-ae --k 3 --method agglomerative --split test
"""

from __future__ import annotations

from pathlib import Path

from ..checks import int_range
from ._threads import add_threads, threads

NAME = "cluster"
HELP = "cluster series by their sequence-autoencoder codes (k-means, agglomerative); ARI and NMI vs labels"


def configure(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'rnnzoo train autoencode'")
    parser.add_argument("--k", type=int_range(2), default=None, help="clusters (default: the number of classes)")
    parser.add_argument("--method", choices=["kmeans", "agglomerative"], default="kmeans", help="(kmeans)")
    parser.add_argument("--split", choices=["all", "train", "test"], default="all",
                        help="the series to cluster: the run's TRAIN and TEST files (all), or one of them")
    parser.add_argument("--data", default=None, help="cluster the series of this .ts file instead")
    parser.add_argument("--seed", type=int_range(0), default=0, help="k-means' random starts (0)")
    parser.add_argument("--plot", default=None, help="where to write the picture (RUN/plots/clusters.png)")
    add_threads(parser)


def cluster_codes(codes, k: int, method: str = "kmeans", seed: int = 0):
    """Cluster assignments (N,) of standardised codes (N, C)."""
    import numpy as np
    from sklearn.cluster import AgglomerativeClustering, KMeans
    z = np.asarray(codes, dtype=np.float64)
    z = (z - z.mean(0)) / np.where(z.std(0) > 0, z.std(0), 1.0)
    if method == "kmeans":
        return KMeans(k, n_init=10, random_state=seed).fit_predict(z)
    return AgglomerativeClustering(k, linkage="ward").fit_predict(z)


def scores(labels, assigned) -> dict:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
    return {"ari": float(adjusted_rand_score(labels, assigned)), "nmi": float(normalized_mutual_info_score(labels,
                                                                                                         assigned))}


def run(args):
    from ..train import run as rundir
    from ..train.fit import load_run
    task, model, config = load_run(args.run_dir)
    if config["task"] != "autoencode":
        raise ValueError(f"{args.run_dir} is a {config['task']!r} run; cluster needs a 'rnnzoo train autoencode' run")
    with threads(args.threads, model, 256):
        codes, labels = task.codes(model, config, args.split, args.data)
    k = args.k or (len(set(labels)) if labels is not None else None)
    if k is None:
        raise ValueError("the series have no labels to count classes from; give --k")
    if k > len(codes):
        raise ValueError(f"--k {k} is more than the {len(codes)} series")
    assigned = cluster_codes(codes.numpy(), k, args.method, args.seed)
    sizes = [int((assigned == c).sum()) for c in range(k)]
    print(f"{len(codes)} series, {codes.shape[1]}-value codes, {args.method} into {k} clusters of "
          f"{', '.join(map(str, sizes))}")
    result = {"k": k, "sizes": sizes}
    if labels is not None:
        result.update(scores(labels, assigned))
        print(f"adjusted Rand index {result['ari']:.4f}, NMI {result['nmi']:.4f} against the labels")
    path = Path(args.plot) if args.plot else Path(args.run_dir) / "plots" / "clusters.png"
    png = picture(codes.numpy(), assigned, labels, f"{config['data'].get('problem') or ''} codes: {args.method}, "
                  f"k = {k}" + (f", ARI {result['ari']:.3f}" if labels is not None else ""))
    rundir.atomic_write(path, png)
    print(f"plot: {path}")
    return 0


def picture(codes, assigned, labels, title: str) -> bytes:
    """A PNG of the codes in 2-D (PCA), coloured by cluster, one marker per label."""
    import io

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    z = codes - codes.mean(0)
    if z.shape[1] > 2:
        _, _, vt = np.linalg.svd(z, full_matrices=False)
        z = z @ vt[:2].T
    elif z.shape[1] == 1:
        z = np.concatenate([z, np.zeros_like(z)], 1)
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    markers = "ox^vsdP*"
    kinds = sorted(set(labels), key=str) if labels is not None else [None]
    for m, kind in enumerate(kinds):
        rows = np.array([True] * len(z)) if kind is None else np.array([label == kind for label in labels])
        ax.scatter(z[rows, 0], z[rows, 1], c=assigned[rows], cmap="tab10", vmin=0, vmax=9, s=14,
                   marker=markers[m % len(markers)], label=None if kind is None else f"label {kind}")
    if labels is not None:
        ax.legend(fontsize=7)
    ax.set(xlabel="PC 1", ylabel="PC 2", title=title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()
