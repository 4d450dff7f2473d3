"""Tree networks batched by level against a node-by-node recursion, forward + backward, on SST trees.

For each model of rnnzoo.models.tree (TreeRNN, BinaryTreeLSTM, ChildSumTreeLSTM), one training step on
a batch of --batch trees drawn from the SST training set (--seed): the embeddings, every node's state,
the 5-class head on every node, the cross-entropy over all nodes, and backward. Two ways, same
parameters, same loss:

    batched     the model itself: one set of matrix products per tree height over the whole batch
    recursive   a plain Python recursion written here: one small product per node, tree by tree. The
                rest is done as the model does it, once for the batch: the embedding lookup of all
                leaves, and the head and loss over all nodes' states stacked; so only the composition
                goes node by node

The two run in turn within each repeat (benchmarks/measure.py, time_paired), so a slow spell of a shared
machine hits both; medians in ms per batch and their ratio are printed, and the largest difference of
the node states between the two (they must agree). Each way runs at every thread count of --threads
(default 1 and the machine's cores), switched before each call inside the same interleaved repeats: a
row per count, then "best": each way at its own fastest count (the recursion's tiny products are
fastest on one thread, the level products gain from more), the comparison a user who tunes both gets.
Sizes: embed 300, hidden 150 (Tai et al. 2015), the vocabulary of the whole training set: its embedding
gradient, a dense (V, 300) tensor, is part of every step unless --freeze-embeddings. glibc is asked to
keep freed memory (rnnzoo.retain_freed_memory, as `rnnzoo train` does), so that the large per-step
buffers do not come back as fresh pages.

    python benchmarks/tree_speed.py                               # about two minutes
    python benchmarks/tree_speed.py --batch 25 --repeats 20 --threads 1
    python benchmarks/tree_speed.py --quick                       # seconds
"""

from __future__ import annotations

import argparse
import os
import random
import sys
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnzoo import retain_freed_memory
from rnnzoo.checks import int_range
from rnnzoo.data.trees import UNK, batch_trees, build_vocab, read_trees
from rnnzoo.models.tree import BinaryTreeLSTM, ChildSumTreeLSTM, TreeRNN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # measure.py, beside this script
from measure import time_paired  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "trees" / "sst" / "train.txt"
MODELS = {"TreeRNN": TreeRNN, "BinaryTreeLSTM": BinaryTreeLSTM, "ChildSumTreeLSTM": ChildSumTreeLSTM}


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DATA, help="bracketed trees, one a line (default: %(default)s)")
    p.add_argument("--batch", type=int_range(1), default=25)
    p.add_argument("--embed", type=int_range(1), default=300)
    p.add_argument("--hidden", type=int_range(1), default=150)
    p.add_argument("--repeats", type=int_range(1), default=15)
    p.add_argument("--warmup", type=int_range(0), default=3)
    p.add_argument("--seed", type=int_range(0), default=0)
    p.add_argument("--threads", type=int_range(1), nargs="+", default=sorted({1, os.cpu_count() or 1}),
                   help="torch intra-op thread counts, each way timed at each (default: 1 and the cores)")
    p.add_argument("--freeze-embeddings", action="store_true",
                   help="no embedding gradient (fixed pre-trained vectors): leaves out a cost both ways pay alike")
    p.add_argument("--quick", action="store_true", help="tiny sizes and 2 repeats: that it runs, not its figures")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.embed, args.hidden, args.repeats, args.warmup = min(args.batch, 4), 8, 8, 2, 1
    return args


# --- the node-by-node reference: the models' equations, one node at a time -------------------------
def _lstm_leaf(model, x):
    H = model.hidden_size
    g = model.leaf_layer(x)
    i, o, u = torch.sigmoid(g[:H]), torch.sigmoid(g[H:2 * H]), torch.tanh(g[2 * H:])
    c = i * u
    return o * torch.tanh(c), c


def recursive_states(model, tree, x, out):
    """The states of tree's nodes appended to `out` in post-order (x: an iterator over the leaves'
    embeddings, left to right); returns the root's state tuple."""
    if tree.is_leaf:
        state = (torch.tanh(model.leaf_layer(next(x))),) if isinstance(model, TreeRNN) else _lstm_leaf(model, next(x))
        out.append(state)
        return state
    kids = [recursive_states(model, child, x, out) for child in tree.children]
    H = model.hidden_size
    if isinstance(model, TreeRNN):
        right = kids[1][0] if len(kids) > 1 else torch.zeros_like(kids[0][0])
        state = (torch.tanh(model.compose(torch.cat([kids[0][0], right]))),)
    elif isinstance(model, BinaryTreeLSTM):
        (hl, cl), (hr, cr) = kids if len(kids) > 1 else (kids[0], (torch.zeros_like(kids[0][0]),) * 2)
        g = model.compose(torch.cat([hl, hr]))
        i, fl, fr, o = (torch.sigmoid(g[k * H:(k + 1) * H]) for k in range(4))
        c = i * torch.tanh(g[4 * H:]) + fl * cl + fr * cr
        state = (o * torch.tanh(c), c)
    else:
        g = model.compose(sum(h for h, _ in kids))
        c = torch.sigmoid(g[:H]) * torch.tanh(g[2 * H:])
        for h_k, c_k in kids:
            c = c + torch.sigmoid(model.forget(h_k)) * c_k
        state = (torch.sigmoid(g[H:2 * H]) * torch.tanh(c), c)
    out.append(state)
    return state


def recursive_step(model, trees, words, labels):
    """One training step node by node: the loss, its backward; returns the node states (post-order).
    words: the leaves' ids tree by tree, left to right (a TreeBatch's `words`)."""
    model.zero_grad(set_to_none=True)
    out, x = [], iter(model.embedding(words))
    for tree in trees:
        recursive_states(model, tree, x, out)
    h = torch.stack([s[0] for s in out])
    F.cross_entropy(model.head(h), labels).backward()
    return h


def batched_step(model, batch):
    model.zero_grad(set_to_none=True)
    states, logits = model(batch)
    F.cross_entropy(logits, batch.labels).backward()
    return states[0]


def on_threads(n: int, fn):
    def run():
        torch.set_num_threads(n)  # under a microsecond: the timing is the step's
        return fn()
    return run


def main(argv=None):
    args = parse(argv)
    retained = retain_freed_memory()
    train = read_trees(args.data)
    vocab = build_vocab(train)
    trees = random.Random(args.seed).sample(train, min(args.batch, len(train)))
    batch = batch_trees(trees, vocab, unk=vocab[UNK])
    labels = batch.labels[batch.order]  # the nodes tree by tree, each in post-order, as the recursion visits them
    print(f"{batch.num_trees} trees from {args.data}: {batch.num_nodes} nodes, {batch.num_leaves} leaves, "
          f"{batch.max_height + 1} levels; embed {args.embed}, hidden {args.hidden}, vocab {len(vocab)}"
          f"{' (frozen)' if args.freeze_embeddings else ''}, "
          f"torch threads {' and '.join(map(str, args.threads))}, freed memory kept: {retained}")
    print(f"{'model':<18}{'threads':>8}{'batched ms':>12}{'recursive ms':>14}{'speed-up':>10}{'max |diff|':>12}")
    rows = {}
    for name, cls in MODELS.items():
        torch.manual_seed(args.seed)
        model = cls(len(vocab), args.embed, args.hidden, num_classes=5)
        model.embedding.weight.requires_grad_(not args.freeze_embeddings)
        batched = partial(batched_step, model, batch)
        recursive = partial(recursive_step, model, trees, batch.words, labels)
        torch.set_num_threads(args.threads[0])
        diff = (batched()[batch.order] - recursive()).abs().max().item()
        fns = {(way, n): on_threads(n, fn) for n in args.threads
               for way, fn in (("batched", batched), ("recursive", recursive))}
        ms = time_paired(fns, repeats=args.repeats, warmup=args.warmup)
        by = {n: {way: ms[way, n] for way in ("batched", "recursive")} for n in args.threads}
        best = {way: min(ms[way, n] for n in args.threads) for way in ("batched", "recursive")}
        rows[name] = dict(best, speedup=best["recursive"] / best["batched"], diff=diff, threads=by)
        for n, t in by.items():
            print(f"{name:<18}{n:>8}{t['batched']:>12.1f}{t['recursive']:>14.1f}"
                  f"{t['recursive'] / t['batched']:>9.1f}x{diff:>12.1e}")
        if len(args.threads) > 1:
            print(f"{name:<18}{'best':>8}{best['batched']:>12.1f}{best['recursive']:>14.1f}"
                  f"{rows[name]['speedup']:>9.1f}x")
    return rows


if __name__ == "__main__":
    main()
