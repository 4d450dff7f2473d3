"""Generalisation to deeper expressions: a Tree-LSTM on the parse tree against LSTMs on the flat text.

The task (rnnzoo.data.expressions): arithmetic modulo 10 over the digits with + and *, e.g. (3+(4*5)) = 3.
Every model trains on expressions of depth 1-4 (operator nesting), picks its best epoch by the root
accuracy on a validation set of the same depths, and is then scored on fresh expressions of each depth
1..10: depths 5-10 are longer and more deeply nested than anything seen in training. All sets are
disjoint (a held-out set excludes every expression drawn before it).

    tree     BinaryTreeLSTM on the parse tree, the operator a leaf (the module's binarisation), a
             32-class head on every node and the cross-entropy summed over all nodes (as in the SST)
    lstm     SequenceModel("lstm") reading the flat tokens "( 3 + ( 4 * 5 ) )", the value read from the
             last step, the cross-entropy on the value only
    bilstm   the same, bidirectional (the last forward and first backward outputs)

Each model gets the same fixed budget of --epochs epochs over the same training set, Adam (lr --lr,
gradients clipped at norm 1), batch --batch; its training seconds are printed. Printed per test depth:
the number of expressions, each model's root accuracy (%), and chance: the share of the majority value
in that test set (values are skewed toward 0: 0 absorbs under *), uniform chance being 10%.

    OMP_NUM_THREADS=1 python benchmarks/tree_depth.py             # about 8 minutes on one core
    python benchmarks/tree_depth.py --models tree lstm --epochs 10 --seed 1
    python benchmarks/tree_depth.py --quick                       # seconds: a smoke test
"""

from __future__ import annotations

import argparse
import collections
import copy
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from rnnzoo.data.expressions import DIGITS, NUM_CLASSES, NUM_VALUES, OPS, TOKENS, depth, expression_dataset, flatten
from rnnzoo.data.trees import batch_trees
from rnnzoo.models import BinaryTreeLSTM, SequenceModel

MODELS = ("tree", "lstm", "bilstm")
TREE_VOCAB = {w: i for i, w in enumerate(DIGITS + OPS)}
SEQ_VOCAB = {w: i for i, w in enumerate(TOKENS, 1)}  # 0 pads


def make_data(n_train: int, n_val: int, n_test: int, test_depths, seed: int):
    """(train, val, {depth: test}), disjoint. Depth 1 has only 200 distinct expressions: it gets a fixed
    small share of each set (the rest of the training and validation sets split evenly over depths 2-4)."""
    first = {"train": min(100, n_train // 4), "val": min(25, n_val // 4), "test": min(50, n_test)}
    train = (expression_dataset(first["train"], [1], seed)
             + expression_dataset(n_train - first["train"], [2, 3, 4], seed))
    val = (expression_dataset(first["val"], [1], seed + 1, exclude=train)
           + expression_dataset(n_val - first["val"], [2, 3, 4], seed + 1, exclude=train))
    used = train + val
    test = {d: expression_dataset(first["test"] if d == 1 else n_test, [d], seed + 2, exclude=used)
            for d in test_depths}
    return train, val, test


def sequences(trees):
    """Padded token ids (N, L), lengths (N,), root values (N,)."""
    tokens = [[SEQ_VOCAB[t] for t in flatten(tree)] for tree in trees]
    lengths = torch.tensor([len(t) for t in tokens])
    x = torch.zeros(len(tokens), int(lengths.max()), dtype=torch.long)
    for i, t in enumerate(tokens):
        x[i, :len(t)] = torch.tensor(t)
    return x, lengths, torch.tensor([tree.label for tree in trees])


def build(name: str, args):
    if name == "tree":
        return BinaryTreeLSTM(len(TREE_VOCAB), args.embed, args.hidden, num_classes=NUM_CLASSES)
    return SequenceModel(cell="lstm", hidden_size=args.hidden, output_size=NUM_VALUES, vocab_size=len(SEQ_VOCAB) + 1,
                         embed_dim=args.embed, pool="last", pad=True, bidirectional=name == "bilstm")


def loss_and_roots(name: str, model, trees):
    """(training loss, root logits over the 10 values (N, 10), root values (N,))."""
    if name == "tree":
        batch = batch_trees(trees, TREE_VOCAB)
        _, logits = model(batch)  # (M, 32): every node
        return F.cross_entropy(logits, batch.labels), logits[batch.roots, :NUM_VALUES], batch.labels[batch.roots]
    x, lengths, y = sequences(trees)
    logits = model(x, lengths=lengths)[0]  # (N, 10)
    return F.cross_entropy(logits, y), logits, y


@torch.no_grad()
def evaluate(name: str, model, trees, batch: int = 100) -> tuple[float, float]:
    """(root accuracy, mean root cross-entropy over the 10 values)."""
    model.eval()
    right, loss = 0, 0.0
    for i in range(0, len(trees), batch):
        _, logits, y = loss_and_roots(name, model, trees[i:i + batch])
        right += int((logits.argmax(1) == y).sum())
        loss += F.cross_entropy(logits, y, reduction="sum").item()
    model.train()
    return right / len(trees), loss / len(trees)


def train(name: str, train_set, val_set, args) -> tuple:
    """The model at its best validation epoch (root accuracy, ties to the lower root cross-entropy: the tree
    model reaches 100% within a few epochs) and a log: the epochs' validation accuracies, seconds."""
    torch.manual_seed(args.seed)
    model = build(name, args)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed)
    best, best_state, history, started = None, None, [], time.perf_counter()
    for epoch in range(args.epochs):
        order = torch.randperm(len(train_set), generator=gen).tolist()
        for i in range(0, len(order), args.batch):
            loss, _, _ = loss_and_roots(name, model, [train_set[j] for j in order[i:i + args.batch]])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        acc, val_loss = evaluate(name, model, val_set)
        history.append(acc)
        if best is None or (acc, -val_loss) > best[:2]:
            best, best_state = (acc, -val_loss, epoch + 1), copy.deepcopy(model.state_dict())
        print(f"  {name} epoch {epoch + 1}: last batch loss {loss.item():.3f}, val root acc {100 * acc:.1f}%, "
              f"root loss {val_loss:.3f} ({time.perf_counter() - started:.0f} s)", flush=True)
    seconds = time.perf_counter() - started  # training and the per-epoch validation
    model.load_state_dict(best_state)
    return model, {"val": history, "best_epoch": best[2], "seconds": seconds,
                   "parameters": sum(p.numel() for p in model.parameters())}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--train", type=int, default=20000, help="training expressions, depths 1-4 (default 20000)")
    p.add_argument("--val", type=int, default=500, help="validation expressions, depths 1-4 (default 500)")
    p.add_argument("--test", type=int, default=300, help="test expressions per depth; depth 1: at most 50 "
                                                          "(default 300)")
    p.add_argument("--max-depth", type=int, default=10, help="test depths 1..this (default 10)")
    p.add_argument("--epochs", type=int, default=12, help="epochs per model (default 12)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--quick", action="store_true", help="smoke test: 400 training expressions, 2 epochs, "
                                                        "hidden 32, 40 per test depth, depths 1..6")
    args = p.parse_args(argv)
    if args.quick:
        args.train, args.val, args.test, args.epochs, args.hidden, args.max_depth = 400, 100, 40, 2, 32, 6
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)


def run(args) -> dict:
    train_set, val_set, test = make_data(args.train, args.val, args.test, range(1, args.max_depth + 1), args.seed)
    print(f"train {len(train_set)} (depths {dict(sorted(collections.Counter(map(depth, train_set)).items()))}), "
          f"val {len(val_set)}, test {sum(map(len, test.values()))}; epochs {args.epochs}, batch {args.batch}, "
          f"Adam lr {args.lr}, hidden {args.hidden}, embed {args.embed}, seed {args.seed}", flush=True)
    results = {"settings": {k: v for k, v in vars(args).items() if k != "json"}, "models": {}, "chance": {}}
    for d, trees in test.items():
        results["chance"][d] = max(collections.Counter(t.label for t in trees).values()) / len(trees)
    for name in args.models:
        model, log = train(name, train_set, val_set, args)
        log["test"] = {d: evaluate(name, model, trees)[0] for d, trees in test.items()}
        results["models"][name] = log
    names = list(results["models"])
    print("\nroot accuracy (%) by depth; trained on depths 1-4 (best epoch by validation)")
    print(f"{'depth':>5}{'n':>6}{'chance':>8}" + "".join(f"{n:>8}" for n in names))
    for d, trees in test.items():
        print(f"{d:>5}{len(trees):>6}{100 * results['chance'][d]:>8.1f}"
              + "".join(f"{100 * results['models'][n]['test'][d]:>8.1f}" for n in names))
    for n in names:
        log = results["models"][n]
        print(f"{n}: {log['parameters']} parameters, {log['seconds']:.0f} s training, best epoch {log['best_epoch']}, "
              f"val {100 * log['val'][log['best_epoch'] - 1]:.1f}%")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
