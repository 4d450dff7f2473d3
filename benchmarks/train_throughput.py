"""Training throughput of `rnnzoo train charlm` against a minimal hand-written torch loop.

Both train the same character model on the same text for the same number of epochs, in this process,
with the same threads: Embedding(V, E) -> dropout -> nn.LSTM(E, H, layers, dropout) -> dropout ->
Linear(H, V), Adam, gradient clipping by norm, stateful truncated BPTT (the state carried, detached,
from one batch of `--batch-size` streams x `--bptt` characters to the next). The baseline is the
smallest loop that does that; rnnzoo is the real CLI (`rnnzoo.cli.main`), with Lightning's progress
bar, logging, the learning-rate schedule and a checkpoint every 100 steps.

Characters per second = training characters / seconds in training batches (validation excluded on
both sides: rnnzoo records that time as `train_seconds` in the run's config.json, the baseline times
its epoch loop). Runs alternate (baseline, rnnzoo, baseline, ...) and the figure of each side is its
median. Target (issue 7): rnnzoo >= 0.9x the baseline.

    python benchmarks/train_throughput.py                       # Alice, 2x256 LSTM, 1 thread
    python benchmarks/train_throughput.py --threads 2 --repeats 3
    python benchmarks/train_throughput.py --model gru           # rnnzoo's engine vs nn.GRU
    python benchmarks/train_throughput.py --malloc default      # glibc's malloc as it comes, both sides

`rnnzoo train` sets glibc's malloc to keep freed memory (rnnzoo._malloc), which lasts for the whole
process, so both sides run under it from the start (--malloc retain, the default) or neither does
(--malloc default: RNNZOO_MALLOC=default, which rnnzoo train obeys).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from rnnzoo._malloc import retain_freed_memory
from rnnzoo.cli import main as cli
from rnnzoo.data.text import CharVocab, load_text, split_text, stream_batches

TORCH_LAYERS = {"lstm": nn.LSTM, "gru": nn.GRU}


class Baseline(nn.Module):
    def __init__(self, kind, vocab, embed, hidden, layers, dropout, io_dropout):
        super().__init__()
        self.embed = nn.Embedding(vocab, embed)
        self.rnn = TORCH_LAYERS[kind](embed, hidden, layers, dropout=dropout, batch_first=True)
        self.drop = nn.Dropout(io_dropout)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, x, state):
        y, state = self.rnn(self.drop(self.embed(x)), state)
        return self.head(self.drop(y)), state


def baseline_run(args, train_ids, vocab_size) -> tuple[float, int]:
    """(seconds in training batches, characters trained on) of the hand-written loop."""
    torch.manual_seed(args.seed)
    model = Baseline(args.model, vocab_size, args.embed, args.hidden, args.layers, args.dropout, args.io_dropout)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    batches = stream_batches(train_ids, args.batch_size, args.bptt)
    seconds, chars = 0.0, 0
    for _ in range(args.epochs):
        model.train()
        state = None
        started = time.perf_counter()
        for x, y in batches:
            logits, state = model(x, state)
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab_size), y.reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            chars += y.numel()
        seconds += time.perf_counter() - started
    return seconds, chars


def rnnzoo_run(args, out: Path) -> tuple[float, int]:
    """(train_seconds from config.json, characters trained on) of `rnnzoo train charlm`."""
    argv = ["train", "charlm", "--model", args.model, "--hidden", str(args.hidden), "--layers", str(args.layers),
            "--embed", str(args.embed), "--dropout", str(args.dropout), "--io-dropout", str(args.io_dropout),
            "--epochs", str(args.epochs), "--patience", str(args.epochs + 1), "--batch-size", str(args.batch_size),
            "--bptt", str(args.bptt), "--lr", str(args.lr), "--clip", str(args.clip), "--seed", str(args.seed),
            "--threads", str(args.threads), "--out", str(out)]
    if args.data:
        argv += ["--data", args.data]
    if args.max_chars:
        argv += ["--max-chars", str(args.max_chars)]
    code = cli(argv)
    if code != 0:
        raise SystemExit(f"rnnzoo train failed (exit {code}): rnnzoo {' '.join(argv)}")
    config = json.loads((out / "config.json").read_text())
    return config["train_seconds"], config["steps"] * args.batch_size * args.bptt


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(TORCH_LAYERS), default="lstm")
    p.add_argument("--data", default=None, help="a UTF-8 text (default: the Alice text shipped with rnnzoo)")
    p.add_argument("--max-chars", type=int, default=0, help="use only the first N characters")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--embed", type=int, default=64)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--io-dropout", type=float, default=0.3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--bptt", type=int, default=100)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--epochs", type=int, default=2, help="epochs per run (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="runs of each side, alternating (default 3)")
    p.add_argument("--threads", type=int, default=1, help="torch threads for both (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--malloc", choices=("retain", "default"), default="retain",
                   help="glibc keeps freed memory for both sides, as rnnzoo train sets it (default), or neither")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.malloc == "default":
        os.environ["RNNZOO_MALLOC"] = "default"
    retained = retain_freed_memory()

    text = load_text(args.data)
    if args.max_chars:
        text = text[: args.max_chars]
    vocab = CharVocab(text)
    train_ids = vocab.encode(split_text(text, 0.1)[0])
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); {args.model} {args.layers}x{args.hidden}, "
          f"embed {args.embed}, batch {args.batch_size} x bptt {args.bptt}, {len(train_ids):,} training characters, "
          f"{args.epochs} epoch(s) per run, {args.repeats} runs each; malloc: "
          f"{'freed memory kept (both sides)' if retained else 'as it comes'}")
    base, ours = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.repeats):
            seconds, chars = baseline_run(args, train_ids, len(vocab))
            base.append(chars / seconds)
            seconds, chars = rnnzoo_run(args, Path(tmp) / f"run{r}")
            ours.append(chars / seconds)
            print(f"run {r}: baseline {base[-1]:,.0f} chars/s, rnnzoo train {ours[-1]:,.0f} chars/s", flush=True)
    b, o = statistics.median(base), statistics.median(ours)
    ratio = o / b
    print("| model | hand-written torch loop | rnnzoo train charlm | ratio | target |")
    print("|---|---|---|---|---|")
    print(f"| {args.model} {args.layers}x{args.hidden}, batch {args.batch_size}, bptt {args.bptt}, "
          f"{args.threads} thread(s) | {b:,.0f} chars/s | {o:,.0f} chars/s | {ratio:.2f}x | >= 0.9x "
          f"{'MET' if ratio >= 0.9 else 'MISSED'} |")
    return ratio


if __name__ == "__main__":
    main()
