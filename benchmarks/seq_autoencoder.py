"""A recurrent sequence autoencoder on a UCR/UEA data set (GunPoint by default), against PCA.

Data: <data>/*_TRAIN.ts and *_TEST.ts, read with rnnzoo.data.ucr.load_ts (GunPoint: 50 TRAIN and 150
TEST series of length 150, one dimension, classes 1 and 2). Every value is z-normalised with the mean
and standard deviation of TRAIN, per dimension (TEST is never looked at to fit anything), and all
errors are in those z units.

Model: rnnzoo.models.autoencoder.SeqAutoencoder (default: lstm, 64 units, code size 8, decoder input
"repeat"), trained on TRAIN with Adam (one-cycle learning rate, gradient norm clipped at 1) on random
mini-batches, then scored in eval mode: the mean squared reconstruction error over each series' steps,
averaged over series. The default cell is lstm because torch's fused GRU kernel runs about 3x slower
than the LSTM one on CPU here; --cell gru works too (--steps 1500 takes about a minute more).

Baselines on the same TEST series:
    PCA        scikit-learn's PCA with as many components as the code size, fitted on the TRAIN series
               as flat vectors (length x dimensions); equal-length data only. scikit-learn is a
               dependency of this benchmark alone (pip install scikit-learn), imported only here; where
               it is missing the baseline is reported as skipped.
    mean       the mean TRAIN series (a zero-component model: what "no code at all" scores)

Figures (PNG, written to --out, a new temporary folder by default; their paths are printed):
    reconstructions.png   a few TEST series of each class against their reconstructions (and PCA's)
    codes.png             the TEST codes projected to 2-D (torch.pca_lowrank), coloured by class

    python benchmarks/seq_autoencoder.py                     # GunPoint, about 20-60 s on 2 cores
    python benchmarks/seq_autoencoder.py --cell gru --decoder-input teacher --out figures
    python benchmarks/seq_autoencoder.py --quick             # seconds: the test's run
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

from rnnzoo.checks import float_range, int_range
from rnnzoo.data.ucr import load_ts, pad
from rnnzoo.models.autoencoder import SeqAutoencoder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "timeseries" / "ucr_uea" / "GunPoint"


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DATA,
                   help="folder with one *_TRAIN.ts and one *_TEST.ts (default: %(default)s)")
    p.add_argument("--out", type=Path, default=None, help="folder for the PNGs (default: a new temporary folder)")
    p.add_argument("--cell", default="lstm")
    p.add_argument("--hidden", type=int_range(1), default=64)
    p.add_argument("--code", type=int_range(1), default=8, help="code size, also PCA's number of components")
    p.add_argument("--layers", type=int_range(1), default=1)
    p.add_argument("--bidirectional", action="store_true")
    p.add_argument("--decoder-input", choices=("repeat", "teacher"), default="repeat")
    p.add_argument("--dropout", type=float_range(0, 1, high_open=True), default=0.1)
    p.add_argument("--steps", type=int_range(1), default=1500)
    p.add_argument("--batch-size", type=int_range(1), default=10)
    p.add_argument("--lr", type=float_range(0, low_open=True), default=0.01)
    p.add_argument("--seed", type=int_range(0), default=0)
    # one thread: the batches are small, and two threads on two shared cores ran 30x slower here
    p.add_argument("--threads", type=int_range(1), default=1)
    p.add_argument("--quick", action="store_true", help="a tiny model for a few steps (seconds)")
    args = p.parse_args(argv)
    if args.quick:
        args.hidden, args.code, args.steps = 8, 2, 20
    return args


def find(folder: Path, split: str) -> Path:
    found = sorted(folder.glob(f"*_{split}.ts"))
    if len(found) != 1:
        raise SystemExit(f"seq_autoencoder: error: expected one *_{split}.ts in {folder}, found {len(found)}")
    return found[0]


def pca_baseline(train, test, components):
    """PCA reconstructions of the TEST series (N, L, D), fitted on TRAIN; None without scikit-learn."""
    try:
        from sklearn.decomposition import PCA  # the benchmark's own dependency, not rnnzoo's
    except ImportError:
        return None
    flat = train.flatten(1).double().numpy()
    pca = PCA(n_components=min(components, *flat.shape), random_state=0).fit(flat)
    recon = pca.inverse_transform(pca.transform(test.flatten(1).double().numpy()))
    return torch.from_numpy(recon).float().view_as(test)


def mse(recon, x, lengths):
    """Mean squared error per series over its real steps and dimensions, (N,)."""
    valid = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).to(x.dtype)
    return ((recon - x) ** 2).mean(-1).mul(valid).sum(1) / lengths


def plot(out, x, lengths, recon, pca, labels, codes, classes):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = [i for c in classes for i in [j for j, lab in enumerate(labels) if lab == c][:3]][:6]
    fig, axes = plt.subplots(len(picks), 1, figsize=(8, 1.6 * len(picks)), sharex=True, squeeze=False)
    for ax, i in zip(axes[:, 0], picks):
        T = int(lengths[i])
        ax.plot(x[i, :T, 0], "k", lw=1.5, label="TEST series")
        ax.plot(recon[i, :T, 0], "C3", lw=1.2, label="autoencoder")
        if pca is not None:
            ax.plot(pca[i, :T, 0], "C0--", lw=1, label="PCA")
        ax.set_ylabel(f"#{i} class {labels[i]}", fontsize=8)
    axes[0, 0].legend(fontsize=8, loc="upper right")
    axes[-1, 0].set_xlabel("step (dimension 1, z units)")
    fig.tight_layout()
    paths = [out / "reconstructions.png"]
    fig.savefig(paths[0], dpi=90)
    plt.close(fig)

    centred = codes - codes.mean(0)
    _, s, v = torch.pca_lowrank(centred, q=min(2, *codes.shape), center=False)
    xy = centred @ v[:, :2]
    explained = float((s[:2] ** 2).sum() / (centred ** 2).sum())
    fig, ax = plt.subplots(figsize=(5, 4.5))
    for k, c in enumerate(classes):
        rows = [j for j, lab in enumerate(labels) if lab == c]
        ax.scatter(xy[rows, 0], xy[rows, 1] if xy.shape[1] > 1 else torch.zeros(len(rows)), s=14, color=f"C{k}",
                   label=f"class {c}")
    ax.set_title(f"TEST codes, 2-D PCA ({100 * explained:.0f}% of variance)", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "codes.png")
    fig.savefig(paths[1], dpi=90)
    plt.close(fig)
    return paths, explained


def main(argv=None) -> dict:
    args = parse(sys.argv[1:] if argv is None else argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args, argv)
    finally:
        torch.set_num_threads(threads)


def run(args, argv) -> dict:
    command = "python benchmarks/seq_autoencoder.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    print(f"command: {command.rstrip()}")
    print(f"settings: data={args.data} cell={args.cell} hidden={args.hidden} code={args.code} layers={args.layers} "
          f"bidirectional={args.bidirectional} decoder_input={args.decoder_input} dropout={args.dropout} "
          f"steps={args.steps} batch_size={args.batch_size} lr={args.lr} seed={args.seed} threads={args.threads} "
          f"torch={torch.__version__}")
    train_series, train_labels, info = load_ts(find(args.data, "TRAIN"))
    test_series, test_labels, _ = load_ts(find(args.data, "TEST"))
    for name, series in (("TRAIN", train_series), ("TEST", test_series)):
        if any(torch.isnan(s).any() for s in series):
            raise SystemExit(f"seq_autoencoder: error: {name} has missing values; this demo does not fill them")
    x, lengths = pad(train_series)
    xt, lengths_t = pad(test_series)
    mean = torch.cat(train_series).mean(0)  # per dimension, over every TRAIN value
    std = torch.cat(train_series).std(0).clamp_min(1e-8)
    x, xt = (x - mean) / std, (xt - mean) / std
    for v, n in ((x, lengths), (xt, lengths_t)):  # padded steps back to 0 after the shift
        v[torch.arange(v.shape[1])[None, :] >= n[:, None]] = 0.0
    classes = info["class_labels"] or sorted(set(train_labels))
    print(f"data: {info['problem_name']} TRAIN {tuple(x.shape)}, TEST {tuple(xt.shape)} (N, L_max, D), lengths "
          f"{int(lengths.min())}..{int(lengths.max())}, classes {' '.join(classes)}; z-normalised with TRAIN "
          f"mean {', '.join(f'{m:.4f}' for m in mean.tolist())} and std {', '.join(f'{s:.4f}' for s in std.tolist())}")

    torch.manual_seed(args.seed)
    model = SeqAutoencoder(args.cell, input_size=x.shape[2], hidden_size=args.hidden, code_size=args.code,
                           num_layers=args.layers, bidirectional=args.bidirectional,
                           decoder_input=args.decoder_input, dropout=args.dropout)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.steps)
    g = torch.Generator().manual_seed(args.seed)
    start, batch = time.perf_counter(), min(args.batch_size, len(x))
    for step in range(1, args.steps + 1):
        idx = torch.randperm(len(x), generator=g)[:batch]
        loss = model.loss(x[idx], lengths[idx])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        schedule.step()
        if step == 1 or step % max(1, args.steps // 5) == 0:
            print(f"step {step}/{args.steps}: training loss {loss.item():.5f}")
    seconds = time.perf_counter() - start
    print(f"trained in {seconds:.1f} s ({1000 * seconds / args.steps:.1f} ms a step)")

    model.eval()
    with torch.no_grad():
        ae_train, ae_test = model.score(x, lengths), model.score(xt, lengths_t)
        recon, codes = model(xt, lengths_t)
    results = {"ae_train": ae_train.mean().item(), "ae_test": ae_test.mean().item(), "seconds": seconds}
    equal = len(set(lengths.tolist()) | set(lengths_t.tolist())) == 1  # PCA and the mean series need it
    pca = pca_baseline(x, xt, args.code) if equal else None
    pca_train = pca_baseline(x, x, args.code) if pca is not None else None
    line = f"TRAIN MSE: autoencoder {results['ae_train']:.5f}"
    if pca is not None:
        results["pca_train"] = mse(pca_train, x, lengths).mean().item()
        line += f", PCA({args.code}) {results['pca_train']:.5f}"
    print(line)
    line = f"TEST MSE: autoencoder {results['ae_test']:.5f}"
    if pca is not None:
        results["pca_test"] = mse(pca, xt, lengths_t).mean().item()
        line += f", PCA({args.code}) {results['pca_test']:.5f}"
    if equal:
        results["mean_test"] = mse(x.mean(0).expand_as(xt), xt, lengths_t).mean().item()
        line += f", mean TRAIN series {results['mean_test']:.5f}"
    print(line)
    if pca is None:
        why = "the series differ in length" if not equal else "scikit-learn is not installed (pip install scikit-learn)"
        print(f"PCA baseline skipped: {why}")
    for c in classes:
        rows = torch.tensor([lab == c for lab in test_labels])
        print(f"TEST MSE class {c} ({int(rows.sum())} series): autoencoder {ae_test[rows].mean().item():.5f}"
              + (f", PCA({args.code}) {mse(pca, xt, lengths_t)[rows].mean().item():.5f}" if pca is not None else ""))

    out = args.out if args.out is not None else Path(tempfile.mkdtemp(prefix="seq_autoencoder_"))
    out.mkdir(parents=True, exist_ok=True)
    paths, explained = plot(out, xt, lengths_t, recon, pca, test_labels, codes, classes)
    print(f"TEST codes: {tuple(codes.shape)}, the 2-D projection keeps {100 * explained:.1f}% of their variance")
    for path in paths:
        print(f"figure: {path}")
    results["figures"] = [str(p) for p in paths]
    return results


if __name__ == "__main__":
    main()
