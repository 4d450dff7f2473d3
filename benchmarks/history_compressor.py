"""The neural history compressor (Schmidhuber 1992) against a flat RNN on long-lag recall.

Task (the 1992 paper's setting: long predictable stretches, one rare surprising symbol whose
information is needed much later): the vocabulary is P stream symbols 0..P-1 and K rare symbols
P..P+K-1. A sequence is the stream cycle 0, 1, .., P-1, 0, .. from a random phase, with one rare symbol
inserted at a random step p in [1, --prefix] (the cycle goes on after it), and ends `lag` steps after
it (length p + lag + 1; a batch is right-padded, with lengths). The target, read at the last step, is
which of the K rare symbols it was (chance 1/K). Every step but the rare one is predictable.

Models (same cell, about the same number of parameters; both counts are printed):
    compressor  rnnzoo.models.history_compressor.HistoryCompressor, 2 levels of --hidden units, one-hot
                input, its head on the chunker's last output, trained jointly on every loss at once
                (model.loss(r, target, state=--state, distill=--distill): each level's next-symbol
                prediction, the automatizer's prediction of the chunker's state, of its predictions, and
                the head's cross-entropy). A step goes up when the automatizer gave its symbol a
                probability below --surprise = 0.4: the automatizer can learn when a rare symbol is due
                (at step --prefix at the latest) but never which, so it gives it at most 1/K = 0.25, while
                each stream symbol gets at least 1/2. (With the argmax rule a lucky guess of the rare symbol,
                1 in K where it is due, counts as predicted and never reaches the chunker.)
    collapsed   the same trained compressor after collapse(): the chunker dropped, the head reading the
                automatizer's prediction of the chunker's state (no extra training steps).
    flat        Recurrent(cell, one-hot input, H_flat) + a linear head on the last real step, trained on
                the cross-entropy alone; H_flat is the smallest size with at least the compressor's
                parameter count.
Both train for the same --steps Adam steps (batch --batch, gradient norm clipped at 1) on fresh random
batches, then are scored on --eval fresh sequences. Columns: up, the fraction of the evaluation steps
that reached the chunker, beside ideal = 2/length (the first step, which always goes up, and the rare
symbol); rare, the fraction of sequences whose rare symbol reached it; extra, the other steps per
sequence that did. A lag is "solved" at an accuracy of at least 0.95.

    python benchmarks/history_compressor.py                    # lags 20 50 100 200 500, lstm
    python benchmarks/history_compressor.py --cell elman        # the 1992 paper's kind of net
    python benchmarks/history_compressor.py --quick             # under 30 s
"""

from __future__ import annotations

import argparse
import copy
import shlex
import sys
import time

import torch
import torch.nn.functional as F
from torch import nn

from rnnzoo import Recurrent
from rnnzoo.checks import float_range, int_range
from rnnzoo.models.history_compressor import HistoryCompressor


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lags", type=int_range(1), nargs="+", default=[20, 50, 100, 200, 500])
    p.add_argument("--cell", default="lstm")
    p.add_argument("--hidden", type=int_range(1), default=32, help="units of each compressor level")
    p.add_argument("--period", type=int_range(1), default=3, help="P, stream symbols (1: a constant stream)")
    p.add_argument("--classes", type=int_range(2), default=4, help="K, rare symbols")
    p.add_argument("--prefix", type=int_range(1), default=4, help="the rare symbol's step is in [1, prefix]")
    p.add_argument("--steps", type=int_range(1), default=400)
    p.add_argument("--batch", type=int_range(1), default=32)
    p.add_argument("--lr", type=float_range(0, low_open=True), default=0.01)
    p.add_argument("--surprise", type=float_range(0, 1, low_open=True), default=0.4,
                   help="the compressor's surprise threshold θ (0 for the argmax rule)")
    p.add_argument("--state", type=float_range(0), default=1.0,
                   help="weight of the automatizer's prediction of the chunker's state (what collapse() reads)")
    p.add_argument("--distill", type=float_range(0), default=0.0,
                   help="weight of the automatizer's distillation of the chunker's predictions")
    p.add_argument("--eval", type=int_range(1), default=512)
    p.add_argument("--seed", type=int_range(0), default=0)
    p.add_argument("--threads", type=int_range(1), default=1)
    p.add_argument("--quick", action="store_true", help="lags 20 and 50, a small model, few steps (< 30 s)")
    args = p.parse_args(argv)
    if args.quick:
        args.lags, args.hidden, args.steps, args.batch, args.eval = [20, 50], 16, 150, 16, 128
    return args


def make_batch(N, lag, args, g):
    """(x (N, T) right-padded, lengths (N,), target (N,)): one rare symbol at p, then `lag` stream steps."""
    P, K = args.period, args.classes
    p = torch.randint(1, args.prefix + 1, (N,), generator=g)
    lengths = p + lag + 1
    t = torch.arange(int(lengths.max()))[None, :]
    phase = torch.randint(0, P, (N, 1), generator=g)
    target = torch.randint(0, K, (N,), generator=g)
    x = (phase + t - (t > p[:, None]).long()) % P  # the cycle skips the rare step and goes on after it
    x = torch.where(t == p[:, None], P + target[:, None], x)
    return x.masked_fill(t >= lengths[:, None], 0), lengths, target


class Flat(nn.Module):
    """A flat recurrent net: one-hot symbols -> Recurrent -> a linear head on the last real step."""

    def __init__(self, cell, vocab, hidden, classes):
        super().__init__()
        self.vocab = vocab
        self.rnn = Recurrent(cell, vocab, hidden, batch_first=True)
        self.head = nn.Linear(self.rnn.output_size, classes)

    def forward(self, x, lengths):
        y, _ = self.rnn(F.one_hot(x, self.vocab).float(), lengths=lengths)
        return self.head(y[torch.arange(len(x)), lengths - 1])


def count(model):
    return sum(p.numel() for p in model.parameters())


def train(model, loss_fn, lag, args, seed):
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    g = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    for _ in range(args.steps):
        x, lengths, target = make_batch(args.batch, lag, args, g)
        loss = loss_fn(x, lengths, target)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    return time.perf_counter() - start


def run_lag(lag, args):
    V, K, H = args.period + args.classes, args.classes, args.hidden
    torch.manual_seed(args.seed)
    hc = HistoryCompressor(args.cell, vocab_size=V, hidden_size=H, num_classes=K, surprise=args.surprise or "argmax")
    H_flat = H
    while count(Flat(args.cell, V, H_flat, K)) < count(hc):
        H_flat += 1
    torch.manual_seed(args.seed)
    flat = Flat(args.cell, V, H_flat, K)
    hc_loss = lambda x, n, y: hc.loss(hc(x, n), y, state=args.state, distill=args.distill)  # noqa: E731
    hc_time = train(hc, hc_loss, lag, args, args.seed + 1)
    flat_time = train(flat, lambda x, n, y: F.cross_entropy(flat(x, n), y), lag, args, args.seed + 1)

    x, lengths, target = make_batch(args.eval, lag, args, torch.Generator().manual_seed(10_000 + args.seed))
    collapsed = copy.deepcopy(hc).collapse().eval()
    hc.eval(), flat.eval()
    with torch.no_grad():
        r = hc(x, lengths)
        t = torch.arange(x.shape[1])[None, :]
        rare = x >= args.period
        row = dict(lag=lag, length=float(lengths.float().mean()), up=r.fraction_up[0],
                   up_ideal=float((2 / lengths.float()).mean()),
                   rare=float((r.surprise[0] & rare).any(1).float().mean()),
                   extra=float((r.surprise[0] & ~rare & (t > 0)).sum(1).float().mean()),
                   compressor=float((r.class_logits.argmax(1) == target).float().mean()),
                   collapsed=float((collapsed(x, lengths).class_logits.argmax(1) == target).float().mean()),
                   flat=float((flat(x, lengths).argmax(1) == target).float().mean()),
                   params=count(hc), flat_params=count(flat), flat_hidden=H_flat,
                   compressor_s=hc_time, flat_s=flat_time)
    return row


def main(argv=None) -> list[dict]:
    args = parse(sys.argv[1:] if argv is None else argv)
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args, argv)
    finally:
        torch.set_num_threads(threads)


def run(args, argv) -> list[dict]:
    command = "python benchmarks/history_compressor.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    print(f"command: {command.rstrip()}")
    print(f"settings: cell={args.cell} hidden={args.hidden} period={args.period} classes={args.classes} "
          f"prefix={args.prefix} steps={args.steps} batch={args.batch} lr={args.lr} surprise={args.surprise} "
          f"state={args.state} distill={args.distill} "
          f"eval={args.eval} seed={args.seed} threads={args.threads} torch={torch.__version__}")
    header = (f"{'lag':>5} {'length':>7} {'up':>7} {'ideal':>7} {'rare':>5} {'extra':>5} {'compressor':>10} "
              f"{'collapsed':>9} {'flat':>6}  {'params':>13}  {'train s hc/flat':>15}")
    print(header)
    rows = []
    for lag in args.lags:
        row = run_lag(lag, args)
        rows.append(row)
        print(f"{lag:>5} {row['length']:>7.1f} {row['up']:>7.4f} {row['up_ideal']:>7.4f} {row['rare']:>5.3f} "
              f"{row['extra']:>5.2f} {row['compressor']:>10.3f} {row['collapsed']:>9.3f} {row['flat']:>6.3f}  "
              f"{row['params']:>6}/{row['flat_params']:<6}  {row['compressor_s']:>7.1f}/{row['flat_s']:<7.1f}",
              flush=True)
    print(f"accuracies on {args.eval} fresh sequences (chance 1/{args.classes}); up, ideal, rare, extra: see the "
          f"docstring; params compressor/flat (flat hidden size {rows[-1]['flat_hidden']})")
    for name in ("compressor", "collapsed", "flat"):
        solved = [r["lag"] for r in rows if r[name] >= 0.95]
        print(f"solved (accuracy >= 0.95) by {name}: {' '.join(map(str, solved)) or 'none'}")
    return rows


if __name__ == "__main__":
    main()
