"""The tasks that show the newer cells work, each against a baseline, printed as markdown.

(a) Tomita grammars 1-7 (rnnzoo.data.tomita): second_order, cascaded, elman and lstm, all with the same
    hidden size, each learn every grammar from balanced strings of lengths 1-10 and are scored on
    balanced held-out strings of lengths 11-20, longer than any seen in training. Readout: a linear
    unit on the final state, sigmoid / binary cross-entropy; Adam. second_order starts from Giles et
    al.'s state (unit 0 on, the rest off; from zeros it would ignore the first symbol), the others
    from zeros. Cell: accuracy on the long strings (accuracy on the training set).
(b) Irregularly sampled sinusoids (rnnzoo.data.irregular): predict the value at the next observation
    time. ctrnn (Euler steps, and rk4) gets the time gaps as its per-step `dt`; elman gets the values
    only; elman + dt input (the gap as a second input feature) is a control with the same information
    as the ctrnn; copy-last predicts the last observed value. Same hidden size, steps, batch and
    learning rate. Test MSE over the steps from `warmup` on, on test series with the training gaps
    (mean 0.3) and, without retraining, with gaps twice as long (mean 0.6).
(c) Next-frame prediction on bouncing squares (rnnzoo.data.moving_squares): ConvLSTM2d + a 1x1
    convolution + sigmoid, trained on MSE, against copying the last frame; test MSE over every
    predicted frame (1 to L - 1).
Every number is one run (one seed: --seed; data and initialisation derive from it).

    python benchmarks/tasks_family.py               # default budgets (about 5 minutes on 1 core)
    python benchmarks/tasks_family.py --quick       # tiny sizes and budgets: a smoke test (seconds)
    python benchmarks/tasks_family.py --seed 1 --threads 1
"""
from __future__ import annotations

import argparse
import math
import platform
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

import rnnzoo
from rnnzoo.data import bouncing_squares, encode_strings, irregular_sinusoids, tomita_dataset
from rnnzoo.data.tomita import DESCRIPTIONS, GRAMMARS

TOMITA_CELLS = ("second_order", "cascaded", "elman", "lstm")
CONFIGS = {
    "default": {
        "tomita": dict(hidden=16, steps=2000, batch=64, lr=1e-2, n_train=1000, n_test=1000,
                       train_lengths=(1, 10), test_lengths=(11, 20)),
        "irregular": dict(hidden=16, steps=1500, batch=32, lr=1e-2, n_train=512, n_test=512,
                          length=40, warmup=5),
        "frames": dict(channels=16, kernel_size=3, steps=600, batch=16, lr=1e-2, n_train=512,
                       n_test=128, length=10, size=16),
    },
    "quick": {
        "tomita": dict(hidden=4, steps=10, batch=16, lr=1e-2, n_train=32, n_test=32,
                       train_lengths=(1, 4), test_lengths=(5, 6)),
        "irregular": dict(hidden=4, steps=5, batch=8, lr=1e-2, n_train=16, n_test=16, length=8,
                          warmup=2),
        "frames": dict(channels=2, kernel_size=3, steps=3, batch=4, lr=1e-2, n_train=8, n_test=4,
                       length=4, size=8),
    },
}


def n_params(*modules) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


def _fit(modules, loss, steps: int, lr: float) -> float:
    """`steps` Adam steps on loss() over the modules' parameters; returns the seconds taken."""
    opt = torch.optim.Adam([p for m in modules for p in m.parameters()], lr=lr)
    t0 = time.perf_counter()
    for _ in range(steps):
        opt.zero_grad()
        loss().backward()
        opt.step()
    return time.perf_counter() - t0


def train_tomita(cell: str, grammar: int, seed: int, *, hidden, steps, batch, lr, n_train, n_test,
                 train_lengths, test_lengths) -> dict:
    """Train `cell` on Tomita `grammar`; accuracy on held-out longer strings and on the training set."""
    torch.manual_seed(seed)
    (a, b), (c, d) = train_lengths, test_lengths
    strings, labels = tomita_dataset(grammar, range(a, b + 1), n_train, seed=seed)
    test_strings, test_labels = tomita_dataset(grammar, range(c, d + 1), n_test, seed=seed + 1000)
    (x, lengths), y = encode_strings(strings), labels.float()
    rnn, readout = rnnzoo.Recurrent(cell, 2, hidden, batch_first=True), nn.Linear(hidden, 1)

    def logits(x, lengths):
        start = None
        if cell == "second_order":  # Giles et al.'s start state: unit 0 on
            start = torch.zeros(1, x.shape[0], hidden)
            start[..., 0] = 1.0
        _, state = rnn(x, start, lengths=lengths)
        return readout((state[0] if isinstance(state, tuple) else state)[-1]).squeeze(-1)

    def loss():
        i = torch.randint(0, len(strings), (batch,))
        return F.binary_cross_entropy_with_logits(logits(x[i], lengths[i]), y[i])

    seconds = _fit((rnn, readout), loss, steps, lr)
    with torch.no_grad():
        test = ((logits(*encode_strings(test_strings)) > 0) == test_labels).float().mean().item()
        train = ((logits(x, lengths) > 0) == labels).float().mean().item()
    return {"test_acc": test, "train_acc": train, "seconds": seconds, "params": n_params(rnn, readout)}


IRREGULAR_MODELS = {  # name: (cell, how it gets the gaps, cell options, label)
    "ctrnn": ("ctrnn", "step", {}, "ctrnn (Euler), gaps as dt"),
    "ctrnn-rk4": ("ctrnn", "step", {"method": "rk4"}, "ctrnn (rk4), gaps as dt"),
    "elman": ("elman", None, {}, "elman, no gaps"),
    "elman+dt": ("elman", "input", {}, "elman, gaps as an input (control)"),
}


def train_irregular(model: str, seed: int, *, hidden, steps, batch, lr, n_train, n_test, length,
                    warmup, mean_gap=0.3) -> dict:
    """model: a key of IRREGULAR_MODELS. Test MSE with the training gaps ("mse") and with gaps twice
    as long ("mse_long"), and the copy-last-value baseline's ("copy_mse", "copy_mse_long")."""
    torch.manual_seed(seed)
    x, dt, y = irregular_sinusoids(n_train, length, seed=seed, mean_gap=mean_gap)
    cell, gaps, options, _ = IRREGULAR_MODELS[model]
    rnn = rnnzoo.Recurrent(cell, 2 if gaps == "input" else 1, hidden, batch_first=True, **options)
    readout = nn.Linear(hidden, 1)

    def predict(x, dt):
        if gaps == "step":
            return readout(rnn(x, dt=dt)[0])[:, warmup:]
        return readout(rnn(torch.cat([x, dt.unsqueeze(2)], 2) if gaps else x)[0])[:, warmup:]

    def loss():
        i = torch.randint(0, n_train, (batch,))
        return F.mse_loss(predict(x[i], dt[i]), y[i][:, warmup:])

    out = {"seconds": _fit((rnn, readout), loss, steps, lr), "params": n_params(rnn, readout)}
    with torch.no_grad():
        for key, scale in (("", 1), ("_long", 2)):
            xt, dtt, yt = irregular_sinusoids(n_test, length, seed=seed + 1000, mean_gap=scale * mean_gap)
            out["mse" + key] = F.mse_loss(predict(xt, dtt), yt[:, warmup:]).item()
            out["copy_mse" + key] = F.mse_loss(xt[:, warmup:], yt[:, warmup:]).item()
    return out


def train_next_frame(seed: int, *, channels, kernel_size, steps, batch, lr, n_train, n_test,
                     length, size) -> dict:
    """ConvLSTM next-frame prediction on bouncing squares; its test MSE and copy-last-frame's."""
    torch.manual_seed(seed)
    frames = bouncing_squares(n_train, length, size=size, seed=seed)
    test = bouncing_squares(n_test, length, size=size, seed=seed + 1000)
    rnn = rnnzoo.ConvLSTM2d(1, channels, kernel_size=kernel_size, batch_first=True)
    readout = nn.Conv2d(channels, 1, 1)
    nn.init.constant_(readout.bias, -3.0)  # start from near-black frames, as most pixels are

    def predict(video):  # frames 0..L-2 in, predictions of frames 1..L-1 out
        out = rnn(video[:, :-1])[0]
        return torch.sigmoid(readout(out.flatten(0, 1))).view_as(video[:, 1:])

    def loss():
        video = frames[torch.randint(0, n_train, (batch,))]
        return F.mse_loss(predict(video), video[:, 1:])

    seconds = _fit((rnn, readout), loss, steps, lr)
    with torch.no_grad():
        mse = F.mse_loss(predict(test), test[:, 1:]).item()
    return {"mse": mse, "copy_mse": F.mse_loss(test[:, :-1], test[:, 1:]).item(), "seconds": seconds,
            "params": n_params(rnn, readout)}


def tomita_section(tc: dict, seed: int) -> dict:
    (a, b), (c, d), out, t0 = tc["train_lengths"], tc["test_lengths"], {}, time.perf_counter()
    print(f"## (a) Tomita grammars: accuracy on held-out strings longer than any in training\n\n"
          f"train: {tc['n_train']} strings of lengths {a}-{b}; test: {tc['n_test']} strings of lengths "
          f"{c}-{d}; both balanced. hidden {tc['hidden']}, Adam lr {tc['lr']}, {tc['steps']} steps of "
          f"batch {tc['batch']}. Cell: test accuracy (training accuracy).\n", flush=True)
    for g in GRAMMARS:
        out[g] = {cell: train_tomita(cell, g, seed, **tc) for cell in TOMITA_CELLS}
        if g == GRAMMARS[0]:
            params = [f"{c} ({out[g][c]['params']} p.)" for c in TOMITA_CELLS]
            print("| grammar | " + " | ".join(params) + " |\n" + "|---" * (len(TOMITA_CELLS) + 1) + "|")
        cells = [f"{r['test_acc']:.3f} ({r['train_acc']:.3f})" for r in out[g].values()]
        print(f"| {g}: {DESCRIPTIONS[g]} | " + " | ".join(cells) + " |", flush=True)
    means = [sum(out[g][c]["test_acc"] for g in GRAMMARS) / len(GRAMMARS) for c in TOMITA_CELLS]
    print("| mean test accuracy | " + " | ".join(f"{m:.3f}" for m in means) + " |")
    print(f"\n({time.perf_counter() - t0:.0f} s)\n", flush=True)
    return out


def irregular_section(ic: dict, seed: int) -> tuple:
    print(f"## (b) Irregularly sampled series: next-observation prediction\n\nsum of two sinusoids at "
          f"exponential time gaps (mean 0.3); {ic['n_train']} train / {ic['n_test']} test series of "
          f"{ic['length']} steps; hidden {ic['hidden']}, Adam lr {ic['lr']}, {ic['steps']} steps of "
          f"batch {ic['batch']}; test MSE from step {ic['warmup']} on, with the training gaps and with "
          f"gaps twice as long (no retraining).\n", flush=True)
    out, t0 = {}, time.perf_counter()
    print("| model | test MSE | test MSE, gaps x2 | params | train s |\n|---|---|---|---|---|")
    for model, (*_, label) in IRREGULAR_MODELS.items():
        r = out[model] = train_irregular(model, seed, **ic)
        print(f"| {label} | {r['mse']:.4f} | {r['mse_long']:.4f} | {r['params']} | {r['seconds']:.1f} |",
              flush=True)
    print(f"| copy last value | {r['copy_mse']:.4f} | {r['copy_mse_long']:.4f} | 0 | 0 |")
    ratio = out["elman"]["mse"] / out["ctrnn"]["mse"]
    print(f"\nMSE ratio elman (no gaps) / ctrnn (Euler, dt) = {ratio:.2f} "
          f"({time.perf_counter() - t0:.0f} s)\n", flush=True)
    return out, ratio


def frames_section(fc: dict, seed: int) -> tuple:
    print(f"## (c) Next-frame prediction on bouncing squares\n\n{fc['n_train']} train / {fc['n_test']} "
          f"test videos of {fc['length']} frames {fc['size']}x{fc['size']}, 1-2 squares of side 3 at 1-2 "
          f"px/frame; ConvLSTM2d {fc['channels']} channels, kernel {fc['kernel_size']}, Adam lr "
          f"{fc['lr']}, {fc['steps']} steps of batch {fc['batch']}.\n", flush=True)
    r = train_next_frame(seed, **fc)
    print(f"| model | test MSE | params | train s |\n|---|---|---|---|\n"
          f"| conv_lstm | {r['mse']:.5f} | {r['params']} | {r['seconds']:.1f} |\n"
          f"| copy last frame | {r['copy_mse']:.5f} | 0 | 0 |\n\n"
          f"MSE ratio copy-last / conv_lstm = {r['copy_mse'] / r['mse']:.2f}\n", flush=True)
    return r, r["copy_mse"] / r["mse"]


def run(args, config) -> dict:
    t0, results = time.perf_counter(), {"tomita": tomita_section(config["tomita"], args.seed)}
    results["irregular"], results["irregular_ratio"] = irregular_section(config["irregular"], args.seed)
    results["frames"], results["frames_ratio"] = frames_section(config["frames"], args.seed)
    results["seconds"] = time.perf_counter() - t0
    print(f"total {results['seconds']:.0f} s", flush=True)
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes and budgets (smoke test)")
    parser.add_argument("--seed", type=int, default=0, help="seed of data and initialisation (default 0)")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1: the "
                        "models are small, and one thread is fastest for tiny ops on a busy machine)")
    args = parser.parse_args(argv)
    argv = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(["python benchmarks/tasks_family.py", *argv])
    print(f"# rnnzoo family tasks\n\ncommand: `{command}`\n\nrnnzoo {rnnzoo.__version__}, torch "
          f"{torch.__version__}, Python {platform.python_version()}, {platform.machine()}, threads "
          f"{args.threads}\n", flush=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args, CONFIGS["quick" if args.quick else "default"])
    finally:
        torch.set_num_threads(threads)  # main() may be called from tests


if __name__ == "__main__":
    results = main()
    sys.exit(0 if all(math.isfinite(results[k]) for k in ("irregular_ratio", "frames_ratio")) else 1)
