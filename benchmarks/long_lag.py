"""Long lags, seen and measured: for every registered cell, the longest time lag T it learns to bridge on the
adding problem, copy memory and "remember the first symbol", within one fixed training budget.

Tasks (rnnzoo.data.long_lag has each definition and its source; the models are `rnnzoo train`'s, built by
the task classes of rnnzoo.train.tasks.long_lag, and so are the loss and the figures):
    adding        sum of two marked values among T (first mark in the first half); solved: test MSE < 0.01
                  (always answering the mean scores 1/6 = 0.167)
    copy          10 symbols of 8, T blanks, then copy them (Arjovsky et al. 2016); solved: >= 99% of the
                  copied symbols right (the memoryless baseline gets 1/8)
    first-symbol  x or y, then a_1 ... a_{p-1}; name the first symbol (Hochreiter & Schmidhuber 1997, task
                  2a, p = T); solved: >= 99% right (chance: 50%)

Budget, per task (BUDGET) and the same for every (cell, T, seed): Adam updates (gradient norm clipped at
--clip) on fresh batches of sequences at one learning rate, with one hidden size for every cell:
    adding, first-symbol   1,500 updates x 32 sequences, hidden 32 (lr: adding 1e-2, first-symbol 3e-3)
    copy                   3,000 updates x 128 sequences, hidden 128, lr 1e-2: ten symbols of 3 bits must
                           be held at once, and at the others' budget no cell copies 99% even at T = 10
                           (the LSTM 39% in 4,000 updates at hidden 32); at this one the GRU copies to T = 50
--steps, --batch, --hidden and --lr set every task's to one value. Every --eval-every updates the model is
scored on 512 validation sequences, and training stops once they clear the bar with a margin (MSE < 0.005, >= 99.5%
right); the verdict is then the test set's (--test sequences) against the bar itself. Training batches
are drawn from a generator of (seed, T), so every cell sees the same batches; the validation and test
sets depend on T alone. Within a task every cell has the same hidden size, not the same parameter count: the
table prints each count. The model reads the input as the task does
(adding: 2 channels; copy: an embedding of the 10 categories; first-symbol: an embedding of 16) and
answers through a linear head.

Lengths are climbed in order, and a (cell, task) stops climbing at the first T that no seed solves (the
longer ones count as unsolved, shown "."). "Longest T solved (seeds)" is the longest T that at least one
seed solved, with how many did. Every run uses one thread; --parallel K runs K at a time in worker
processes (seeds and ladders side by side; a ladder still climbs in order).

    OMP_NUM_THREADS=1 python benchmarks/long_lag.py --cells lstm gru elman --tasks adding first-symbol --parallel 2
    OMP_NUM_THREADS=1 python benchmarks/long_lag.py --tasks copy --parallel 2     # every cell: 6,943 s CPU, 63 min
    python benchmarks/long_lag.py --cells 'lstm[forget_bias=3]' lstm --tasks first-symbol --lengths 50 100
    python benchmarks/long_lag.py --quick       # a smoke test: 2 cells, T 10 and 20, 1 seed, 30 updates
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path

import torch

from rnnzoo import registry
from rnnzoo.models import SequenceModel
from rnnzoo.train.tasks import TASKS
from rnnzoo.train.tasks.long_lag import ADDING_SOLVED, COPY_SOLVED

TASK_NAMES = ("adding", "copy", "first-symbol")
LENGTHS = (10, 20, 50, 100, 200, 500, 1000)
BUDGET = {  # per task: Adam updates, sequences per update, hidden size of every cell, learning rate
    "adding": dict(steps=1500, batch=32, hidden=32, lr=1e-2),
    "copy": dict(steps=3000, batch=128, hidden=128, lr=1e-2),
    "first-symbol": dict(steps=1500, batch=32, hidden=32, lr=3e-3),
}
VAL = 512
OUT = Path("runs") / "long_lag"  # default home of the JSON and the figure (runs/ is git-ignored)


def solved(task: str, metrics: dict, margin: bool = False) -> bool:
    """The tasks' own verdict (test MSE < ADDING_SOLVED = 0.01; >= COPY_SOLVED = 99% right, first-symbol
    too), or with `margin` the early stop's stricter bar (half the MSE, halfway to 100%: 0.005, 99.5%): a run
    stopped the moment validation crosses the verdict's own bar scores on either side of it on the test set
    about as often (measured: copy runs stopping at 99% validation, 98.6% test)."""
    if task == "adding":
        return metrics["mse"] < (ADDING_SOLVED / 2 if margin else ADDING_SOLVED)
    return metrics["accuracy"] >= ((1 + COPY_SOLVED) / 2 if margin else COPY_SOLVED)


def parse_cell(spec: str) -> tuple[str, dict]:
    """'lstm' or 'lstm[forget_bias=3,peephole=true]' -> (name, options); values are JSON."""
    m = re.fullmatch(r"([\w-]+)(?:\[(.*)\])?", spec)
    if not m:
        raise ValueError(f"--cells: expected NAME or NAME[OPTION=VALUE,...], got {spec!r}")
    options = {}
    for item in filter(None, (m.group(2) or "").split(",")):
        key, _, value = item.partition("=")
        try:
            options[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"--cells {spec!r}: {key.strip()}'s value must be JSON, got {value!r}") from None
    return m.group(1), options


def build(spec: str, task: str, T: int, hidden: int) -> SequenceModel:
    name, options = parse_cell(spec)
    config = TASKS[task].model_config(None, {"length": T})
    return SequenceModel(cell=name, hidden_size=hidden, cell_options=options, **config)


def count(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def gens(task: str, T: int, seed: int):
    """(train, val, test) generators: training draws from (seed, T), held-out sets from T alone; the three
    seeds are 0, 1 and 2 mod 3, so no held-out set is ever drawn from a training generator."""
    salt = TASK_NAMES.index(task)
    return (torch.Generator().manual_seed(3 * ((seed * 10 + salt) * 10 ** 6 + T)),
            torch.Generator().manual_seed(3 * (salt * 10 ** 6 + T) + 1),
            torch.Generator().manual_seed(3 * (salt * 10 ** 6 + T) + 2))


@torch.no_grad()
def score(task_obj, model, data, chunk: int = 250) -> dict:
    model.eval()
    sums: dict[str, float] = {}
    for i in range(0, len(data[0]), chunk):
        _, batch_sums, _ = task_obj.step(model, tuple(t[i:i + chunk] for t in data))
        for key, value in batch_sums.items():
            sums[key] = sums.get(key, 0.0) + float(value)
    model.train()
    return task_obj.metrics_from_sums(sums)


def train_one(spec: str, task: str, T: int, seed: int, cfg: dict) -> dict:
    """One (cell, task, T, seed) run on one thread; its verdict on the test set."""
    torch.set_num_threads(1)
    task_obj = TASKS[task]
    train_gen, val_gen, test_gen = gens(task, T, seed)
    val = task_obj.draw(VAL, T, val_gen)
    test = task_obj.draw(cfg["test"], T, test_gen)
    torch.manual_seed(seed)
    budget = cfg["budget"][task]
    model = build(spec, task, T, budget["hidden"])
    opt = torch.optim.Adam(model.parameters(), lr=budget["lr"])
    t0, steps, stop, val_metrics = time.perf_counter(), 0, "steps", {}
    while steps < budget["steps"]:
        loss, _, _ = task_obj.step(model, task_obj.draw(budget["batch"], T, train_gen))
        if not math.isfinite(loss.item()):
            stop = "nan"
            break
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["clip"])
        opt.step()
        steps += 1
        if steps % cfg["eval_every"] == 0 or steps == budget["steps"]:
            val_metrics = score(task_obj, model, val)
            if solved(task, val_metrics, margin=True):
                stop = "solved"
                break
    test_metrics = score(task_obj, model, test) if stop != "nan" else {}
    return {"cell": spec, "task": task, "T": T, "seed": seed, "steps": steps, "stop": stop,
            "seconds": round(time.perf_counter() - t0, 2), "params": count(model), "val": val_metrics,
            "test": test_metrics, "solved": bool(test_metrics) and solved(task, test_metrics)}


class Inline:
    """An executor that runs each job when it is submitted (--parallel 1: no worker processes)."""

    class Done:
        def __init__(self, value):
            self.value = value

        def result(self):
            return self.value

    def submit(self, fn, *args):
        return self.Done(fn(*args))

    def shutdown(self):
        pass


def run_all(cells: list[str], args, cfg: dict) -> list[dict]:
    """Every (cell, task) ladder, climbing T in order and stopping at the first T that no seed solves."""
    ladders = [(c, t) for c in cells for t in args.tasks]
    pool = Inline() if args.parallel == 1 else ProcessPoolExecutor(args.parallel)
    runs, pending, level = [], {}, {}

    def launch(ladder):
        cell, task = ladder
        T = args.lengths[level[ladder]]
        for seed in args.seeds:
            pending[pool.submit(train_one, cell, task, T, seed, cfg)] = ladder

    try:
        for ladder in ladders:
            level[ladder] = 0
            launch(ladder)
        while pending:
            done = [f for f in pending if isinstance(f, Inline.Done)] or \
                wait(list(pending), return_when=FIRST_COMPLETED).done
            for future in done:
                ladder = pending.pop(future)
                r = future.result()
                runs.append(r)
                test = r["test"]
                figure = (f"MSE {test['mse']:.4f}" if r["task"] == "adding" else
                          f"acc {test['accuracy']:.3f}") if test else "nan"
                print(f"  {r['cell']:18} {r['task']:13} T {r['T']:5d} seed {r['seed']}  {r['steps']:5d} updates "
                      f"{r['seconds']:7.1f} s  {r['stop']:6}  test {figure}  {'SOLVED' if r['solved'] else ''}",
                      flush=True)
                if not any(f_ladder == ladder for f_ladder in pending.values()):  # this T is complete
                    T = args.lengths[level[ladder]]
                    mine = [x for x in runs if (x["cell"], x["task"], x["T"]) == (*ladder, T)]
                    if any(x["solved"] for x in mine) and level[ladder] + 1 < len(args.lengths):
                        level[ladder] += 1
                        launch(ladder)
    finally:
        pool.shutdown()
    return runs


def summarise(cells, args, runs) -> dict:
    """{cell: {task: {"longest": T or None, "seeds": n solving it, "by_T": {T: n solved or None}}}}."""
    out = {}
    for cell in cells:
        out[cell] = {}
        for task in args.tasks:
            by_T = {}
            for T in args.lengths:
                mine = [r for r in runs if (r["cell"], r["task"], r["T"]) == (cell, task, T)]
                by_T[T] = sum(r["solved"] for r in mine) if mine else None
            solved_T = [T for T, n in by_T.items() if n]
            longest = max(solved_T) if solved_T else None
            out[cell][task] = {"longest": longest, "seeds": by_T[longest] if longest else 0, "by_T": by_T}
    return out


def print_tables(cells, args, runs, summary, params):
    n = len(args.seeds)
    print(f"\nlongest T solved (seeds solving it, of {n}); '-': not even T = {args.lengths[0]}")
    print(f"{'cell':20}" + "".join(f"{t:>16}" for t in args.tasks)
          + "   parameters (" + ", ".join(args.tasks) + "; at T = 100)")
    for cell in cells:
        verdicts = [f"{s['longest']} ({s['seeds']}/{n})" if s["longest"] else "-"
                    for s in (summary[cell][t] for t in args.tasks)]
        print(f"{cell:20}" + "".join(f"{v:>16}" for v in verdicts) + "   "
              + ", ".join(str(params[cell, t]) for t in args.tasks))
    for task in args.tasks:
        print(f"\n{task}: seeds solving each T ('.': not tried, the previous T was solved by none)")
        print(f"{'cell':20}" + "".join(f"{T:>7}" for T in args.lengths) + f"{'updates':>9}{'time s':>8}")
        for cell in cells:
            by_T = summary[cell][task]["by_T"]
            mine = [r for r in runs if (r["cell"], r["task"]) == (cell, task)]
            print(f"{cell:20}" + "".join(f"{'.' if v is None else f'{v}/{n}':>7}" for v in by_T.values())
                  + f"{sum(r['steps'] for r in mine):>9}{sum(r['seconds'] for r in mine):>8.0f}")


def plot(cells, args, summary, budget, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(args.tasks), figsize=(4 * len(args.tasks), 0.35 * len(cells) + 1.5),
                             sharey=True, squeeze=False)
    for ax, task in zip(axes[0], args.tasks):
        longest = [summary[c][task]["longest"] or 0 for c in cells]
        ax.barh(range(len(cells)), [max(v, 1) for v in longest], color=["tab:blue" if v else "lightgray"
                                                                         for v in longest])
        for i, c in enumerate(cells):
            s = summary[c][task]
            ax.text(max(s["longest"] or 1, 1) * 1.1, i, f"{s['longest']} ({s['seeds']}/{len(args.seeds)})"
                    if s["longest"] else "none", va="center", fontsize=7)
        ax.set_xscale("log")
        ax.set(xlim=(1, max(args.lengths) * 4), xlabel="longest T solved")
        ax.set_yticks(range(len(cells)), cells)
    axes[0, 0].invert_yaxis()
    for ax, task in zip(axes[0], args.tasks):
        b = budget[task]
        ax.set_title(f"{task}\n{b['steps']} updates x {b['batch']}, hidden {b['hidden']}", fontsize=9)
    fig.suptitle(f"longest lag solved within each task's budget ({len(args.seeds)} seeds)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def choose_cells(args) -> list[str]:
    """The registry's cells (or --cells), less those that cannot run these tasks, each with its reason."""
    cells = []
    for spec in args.cells or [e.name for e in registry.entries()]:
        name, _ = parse_cell(spec)
        entry = registry.get(name)
        if entry.spatial:
            print(f"  skipped {spec}: a spatial cell (input (N, C, H, W) per step); the tasks' steps are vectors")
            continue
        try:
            build(spec, "adding", 4, 2)(torch.zeros(1, 4, 2))
        except Exception as e:  # a cell that cannot read these inputs is left out, saying why
            print(f"  skipped {spec}: {type(e).__name__}: {e}")
            continue
        cells.append(spec)
    return cells


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", nargs="+", help="registry names, optionally NAME[OPTION=VALUE,...] (default: all)")
    p.add_argument("--tasks", nargs="+", choices=TASK_NAMES, default=list(TASK_NAMES))
    p.add_argument("--lengths", nargs="+", type=int, default=list(LENGTHS), help="T, climbed in order")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--steps", type=int, help="Adam updates per (cell, task, T, seed) (default: the task's BUDGET)")
    p.add_argument("--hidden", type=int, help="hidden size of every cell (default: the task's BUDGET)")
    p.add_argument("--batch", type=int, help="sequences per update (default: the task's BUDGET)")
    p.add_argument("--lr", type=float, help="learning rate (default: the task's BUDGET)")
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (1)")
    p.add_argument("--eval-every", type=int, default=100, help="updates between validation checks (100)")
    p.add_argument("--test", type=int, default=1000, help="test sequences per (task, T) (1000)")
    p.add_argument("--parallel", type=int, default=1, help="runs at a time, one thread each (1)")
    p.add_argument("--json", type=Path, help=f"results file (default {OUT}/long_lag.json)")
    p.add_argument("--plot", type=Path, help=f"figure (default {OUT}/long_lag.png)")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: lstm and elman, T 10 and 20, 1 seed, 30 updates x 32, hidden 32, 64 tests")
    args = p.parse_args(argv)
    if args.quick:
        args.cells = args.cells or ["lstm", "elman"]
        args.lengths, args.seeds, args.steps, args.eval_every, args.test = [10, 20], [0], 30, 10, 64
        args.batch, args.hidden = args.batch or 32, args.hidden or 32
    args.lengths = sorted(set(args.lengths))
    if min(args.lengths) < 2 or max(args.lengths) >= 10 ** 6:
        p.error("--lengths must be from 2 to 999999")
    if any(v is not None and v < 1 for v in (args.parallel, args.steps, args.hidden, args.batch)):
        p.error("--parallel, --steps, --hidden and --batch must be >= 1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # the workers', before they start torch
    threads = torch.get_num_threads()
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)  # main() may be called from tests


def run(args) -> dict:
    given = {k: getattr(args, k) for k in ("steps", "batch", "hidden", "lr") if getattr(args, k) is not None}
    budget = {t: {**BUDGET[t], **given} for t in TASK_NAMES}
    cfg = dict(budget=budget, clip=args.clip, eval_every=args.eval_every, test=args.test)
    print(f"long lags: tasks {args.tasks}, T {args.lengths}, seeds {args.seeds}; budget per (cell, T, seed): "
          + "; ".join(f"{t} {b['steps']} Adam updates x {b['batch']}, hidden {b['hidden']} for every cell, "
                      f"lr {b['lr']:g}" for t, b in budget.items() if t in args.tasks)
          + f" (clip {args.clip:g}), stopping early once {VAL} validation sequences clear the bar with a margin; "
          f"one thread per run, {args.parallel} at a time; torch {torch.__version__}")
    cells = choose_cells(args)
    params = {(c, t): count(build(c, t, 100, budget[t]["hidden"])) for c in cells for t in args.tasks}
    started = time.perf_counter()
    runs = run_all(cells, args, cfg)
    summary = summarise(cells, args, runs)
    print_tables(cells, args, runs, summary, params)
    total = sum(r["seconds"] for r in runs)
    wall = time.perf_counter() - started
    print(f"\n{len(runs)} runs, {total:.0f} s of training (one thread each), {wall:.0f} s wall")
    results = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "budget": budget,
               "cells": cells, "params": {f"{c} {t}": n for (c, t), n in params.items()}, "runs": runs,
               "summary": summary}
    json_path, plot_path = args.json or OUT / "long_lag.json", args.plot or OUT / "long_lag.png"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    plot_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(results, indent=1))
    plot(cells, args, summary, budget, plot_path)
    print(f"wrote {json_path} and {plot_path}")
    return results


if __name__ == "__main__":
    main()
