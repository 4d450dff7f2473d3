"""Long time scales: the adding problem and sequence generation, for the clockwork RNN, a hierarchical RNN,
an Elman network and an LSTM, all four with about the same number of parameters and one training budget.

Task 1, adding (--task adding): the adding problem (Hochreiter & Schmidhuber 1997, in the form of Le, Jaitly
& Hinton 2015). A sequence of T steps (T = the lag) has 2 channels: values U(0, 1) and a marker that is 1 at
exactly two steps, one among the first max(1, T // 10) steps and one in the second half [T // 2, T). The
target, read from the network's last output by a linear layer, is the sum of the two marked values.
Predicting 1.0 always gives MSE = Var(U + U') = 1/6; a lag counts as SOLVED when the test MSE is below
0.1 x 1/6 = 0.0167 (--solve-fraction). The first mark is at least 0.4 T steps before the end, so the
network must carry it across that many steps. Clockwork modules read their input only on their own ticks,
so its slow modules never see most marks: this task is hard for it by construction.

Task 2, generation (--task generation): sequence generation, Koutnik et al. 2014 section 4.1. The network
gets no information from outside: its input is the constant 1 at every step (a bias) and its state
starts at 0. A linear readout of its output at every step must reproduce one fixed target sequence of
length T (--lengths), trained on the MSE over all T steps. The paper's target was 320 steps of real
audio; here it is synthetic and reproducible (`target_signal`): three sines (periods 7, 23 and 71 steps,
random phases) plus a slow random curve (Gaussian-smoothed noise, width 40 steps), the first T steps of
one fixed signal (the same for every T <= 2000, so a longer target holds every shorter one), scaled to
[-1, 1]. Score: NMSE = MSE / Var(target) (1 = predicting the target's mean); a length counts as SOLVED
when the final NMSE is below 0.1 (--gen-solve). Budget: --gen-steps full-sequence Adam steps (lr
--gen-lr, cosine-decayed to 0, gradient norm clipped at --clip), no early stop (the NMSE after the whole
budget is the score: how well it fits, not only whether), optionally cut by --max-seconds.

Models (the readout, Linear(output -> 1), counted in every total; adding reads the last step only,
generation every step):
    elman       Recurrent("elman"), tanh
    lstm        Recurrent("lstm")
    clockwork   Recurrent("clockwork", modules=--modules): periods 1, 2, 4, ..., 2^(g-1), Koutnik et al.
                2014; its parameter count leaves out the weight_hh entries that its mask zeroes (from
                faster modules to slower ones: they never get a gradient)
    hierarchical  HierarchicalRNN(--hier-cell, rates=--rates, output="all"): equal layers, layer k
                updated every r_k steps; the readout reads every layer's output (on the adding problem
                the slowest layer alone may not have updated since the second mark)
Each model's hidden size is the one whose total parameter count is closest to --params (printed; the
input has 2 channels for adding and 1 for generation, so the sizes may differ by a unit).

Adding budget, the same for every (model, lag): --steps Adam steps (lr --lr, gradient norm clipped at --clip) on
fresh random batches of --batch sequences, and optionally a wall-clock cap --max-seconds (the table says
when it cut a run short). Every --eval-every steps the model is scored on a fixed validation set (512
sequences) and training stops early once that MSE is below half the criterion (so that a model stopped
there is clearly, not marginally, below it); the reported MSE is then measured on a separate fixed test
set (--test sequences; one per lag, the same for every model). "Longest lag" is the largest lag whose
test MSE meets the criterion (shorter lags need not all be solved; the table shows every one).

    OMP_NUM_THREADS=1 python benchmarks/timescales.py --task adding       # lags 50 ... 1000, ~20 min
    OMP_NUM_THREADS=1 python benchmarks/timescales.py --task generation   # lengths 100 ... 1000
    python benchmarks/timescales.py --lags 50 100 200 --steps 2000 --max-seconds 120
    python benchmarks/timescales.py --quick                               # both tasks, a smoke test, seconds
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch
from torch import nn

import rnnzoo
from rnnzoo.cells.clockwork import ClockworkCell
from rnnzoo.data import long_lag
from rnnzoo.models.hierarchical import HierarchicalRNN

MODELS = ("clockwork", "hierarchical", "elman", "lstm")
TASKS = ("adding", "generation")
BASELINE_MSE = 1 / 6  # always predicting 1.0: Var(U(0,1) + U(0,1))
INPUTS = {"adding": 2, "generation": 1}  # input channels per task


def adding_batch(n: int, T: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n adding-problem sequences of length T: x (n, T, 2) = (values, marker), y (n,) the marked sum; the
    first mark among the first max(1, T // 10) steps (rnnzoo.data.long_lag.adding_batch, first="tenth")."""
    return long_lag.adding_batch(n, T, generator, first="tenth")


def target_signal(T: int, seed: int = 0) -> torch.Tensor:
    """The generation target (T,): the first T steps of one fixed signal, scaled to [-1, 1].

    Three sines (periods 7, 23, 71 steps, random phases) plus a slow random curve: white noise smoothed
    by a Gaussian of width 40 steps, scaled to twice the sines' standard deviation. The signal is drawn at
    length max(T, 2000), so every T <= 2000 gets a prefix of the same curve.
    """
    gen = torch.Generator().manual_seed(seed)
    n, width = max(T, 2000), 40.0
    t = torch.arange(n, dtype=torch.float64)
    phases = 2 * math.pi * torch.rand(3, generator=gen, dtype=torch.float64)
    sines = sum(torch.sin(2 * math.pi * t / period + phase) for period, phase in zip((7, 23, 71), phases))
    offsets = torch.arange(-4 * int(width), 4 * int(width) + 1, dtype=torch.float64)
    kernel = torch.exp(-0.5 * (offsets / width) ** 2)
    noise = torch.randn(n + len(offsets) - 1, generator=gen, dtype=torch.float64)
    slow = torch.nn.functional.conv1d(noise[None, None], kernel.flip(0)[None, None])[0, 0]  # (n,) valid part
    signal = (sines + slow * (2 * sines.std() / slow.std()))[:T]
    lo, hi = signal.min(), signal.max()
    return (2 * (signal - lo) / (hi - lo) - 1).float()


class Regressor(nn.Module):
    """A recurrent body and a linear readout of its last output."""

    def __init__(self, body: nn.Module, features: int):
        super().__init__()
        self.body, self.readout = body, nn.Linear(features, 1)

    def forward(self, x):
        y, _ = self.body(x)  # (N, T, features)
        return self.readout(y[:, -1]).squeeze(-1)  # (N,)


class Emitter(nn.Module):
    """A recurrent body fed the constant 1 from a zero state, with a linear readout at every step."""

    def __init__(self, body: nn.Module, features: int):
        super().__init__()
        self.body, self.readout = body, nn.Linear(features, 1)

    def forward(self, T: int):
        y, _ = self.body(torch.ones(1, T, 1))  # (1, T, features): the input carries no information
        return self.readout(y[0]).squeeze(-1)  # (T,)


def build(name: str, hidden: int, args, task: str = "adding") -> nn.Module:
    inputs, head = INPUTS[task], Regressor if task == "adding" else Emitter
    if name == "hierarchical":
        body = HierarchicalRNN(args.hier_cell, inputs, hidden_size=hidden, rates=tuple(args.rates), output="all")
        return head(body, body.output_size)
    options = {"modules": args.modules} if name == "clockwork" else {}
    body = rnnzoo.Recurrent(name, inputs, hidden, batch_first=True, **options)
    return head(body, body.output_size)


def count(model: nn.Module) -> int:
    """Trainable parameters, less the clockwork weight_hh entries its mask holds at 0."""
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total - sum(int((m.mask == 0).sum()) for m in model.modules() if isinstance(m, ClockworkCell))


def size_for(name: str, args, task: str = "adding") -> tuple[int, int]:
    """(hidden size, parameter count) with the count closest to args.params (the smaller size on a tie)."""
    smallest = args.modules if name == "clockwork" else 1
    best = None
    for hidden in range(smallest, 512):
        n = count(build(name, hidden, args, task))
        if best is None or abs(n - args.params) < abs(best[1] - args.params):
            best = (hidden, n)
        if n > args.params:
            break
    return best


@torch.no_grad()
def mse(model: nn.Module, data, chunk: int = 500) -> float:
    x, y = data
    model.eval()
    err = sum(float(((model(x[i:i + chunk]) - y[i:i + chunk]) ** 2).sum()) for i in range(0, len(y), chunk))
    model.train()
    return err / len(y)


def train_one(name: str, hidden: int, T: int, val, test, args) -> dict:
    torch.manual_seed(args.seed)
    model = build(name, hidden, args)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator().manual_seed(args.seed * 1_000_003 + T)  # the same batches for every model
    threshold = args.solve_fraction * BASELINE_MSE
    t0, steps, val_mse, stop = time.perf_counter(), 0, math.inf, "steps"
    while steps < args.steps:
        if args.max_seconds is not None and time.perf_counter() - t0 > args.max_seconds:
            stop = "time"
            break
        x, y = adding_batch(args.batch, T, gen)
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        steps += 1
        if not math.isfinite(loss.item()):
            stop = "nan"
            break
        if steps % args.eval_every == 0 or steps == args.steps:
            val_mse = mse(model, val)
            if val_mse < threshold / 2:  # clearly solved: the test set then judges
                stop = "solved"
                break
    seconds = time.perf_counter() - t0
    test_mse = mse(model, test)
    if not math.isfinite(test_mse):
        test_mse = math.inf
    return {"model": name, "lag": T, "steps": steps, "seconds": seconds, "stop": stop, "val_mse": val_mse,
            "test_mse": test_mse, "solved": test_mse < threshold}


def train_generation(name: str, hidden: int, target: torch.Tensor, args) -> dict:
    """Fit one model to the target sequence for the whole budget; the score is the final NMSE."""
    torch.manual_seed(args.seed)
    model = build(name, hidden, args, "generation")
    opt = torch.optim.Adam(model.parameters(), lr=args.gen_lr)
    # cosine decay to 0 over the step budget: a fixed-budget fit ends on small steps, not on Adam's noise
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1 + math.cos(math.pi * k / args.gen_steps)))
    T, variance = len(target), float(target.var(unbiased=False))
    t0, steps, stop, best = time.perf_counter(), 0, "steps", math.inf
    while steps < args.gen_steps:
        if args.max_seconds is not None and time.perf_counter() - t0 > args.max_seconds:
            stop = "time"
            break
        loss = nn.functional.mse_loss(model(T), target)
        if not math.isfinite(loss.item()):
            stop = "nan"
            break
        best = min(best, loss.item() / variance)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        sched.step()
        steps += 1
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        nmse = float(nn.functional.mse_loss(model(T), target)) / variance
    nmse = nmse if math.isfinite(nmse) else math.inf
    return {"model": name, "length": T, "steps": steps, "seconds": seconds, "stop": stop, "nmse": nmse,
            "best_nmse": min(best, nmse), "solved": nmse < args.gen_solve}


def cell(run: dict, key: str = "test_mse") -> str:
    mark = "*" if run["solved"] else ("t" if run["stop"] == "time" else " ")
    return f"{run[key]:.4f}{mark}" if math.isfinite(run[key]) else "nan "


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=(*TASKS, "both"), default="both", help="which task(s) to run (default both)")
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--lags", nargs="+", type=int, default=[50, 100, 200, 500, 1000])
    p.add_argument("--params", type=int, default=2000, help="parameter budget each model is sized to (default 2000)")
    p.add_argument("--steps", type=int, default=500, help="Adam steps per (model, lag) (default 500)")
    p.add_argument("--max-seconds", type=float, default=None,
                   help="wall-clock cap per (model, lag or length) (default none)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (default 1)")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--test", type=int, default=1000, help="test sequences per lag (default 1000)")
    p.add_argument("--solve-fraction", type=float, default=0.1,
                   help="solved: test MSE < this x 1/6, the MSE of always predicting 1 (default 0.1)")
    p.add_argument("--lengths", nargs="+", type=int, default=[100, 200, 500, 1000],
                   help="generation: target lengths (default 100 200 500 1000)")
    p.add_argument("--gen-steps", type=int, default=800,
                   help="generation: Adam steps per (model, length) (default 800)")
    p.add_argument("--gen-lr", type=float, default=3e-3, help="generation: peak learning rate (default 3e-3)")
    p.add_argument("--gen-solve", type=float, default=0.1,
                   help="generation: solved when the final NMSE (MSE / target variance) < this (default 0.1)")
    p.add_argument("--modules", type=int, default=8, help="clockwork modules, periods 1, 2, ..., 2^(g-1) (default 8)")
    p.add_argument("--rates", nargs="+", type=int, default=[1, 4, 16], help="hierarchical layer rates (default 1 4 16)")
    p.add_argument("--hier-cell", default="elman", help="the hierarchical model's cell (default elman)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--quick", action="store_true",
                   help="smoke test: adding at lags 20 and 50, 60 steps, 200 test sequences; generation at "
                        "lengths 20 and 50, 40 steps")
    args = p.parse_args(argv)
    if args.quick:
        args.lags, args.steps, args.eval_every, args.test = [20, 50], 60, 20, 200
        args.lengths, args.gen_steps = [20, 50], 40
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)  # main() may be called from tests


def run(args) -> dict:
    """The chosen task(s); adding's results at the top level (sizes, runs, longest), generation's under
    results["generation"] (the same keys, with length and nmse in each run)."""
    results = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}}
    if args.task in ("adding", "both"):
        results.update(run_adding(args))
    if args.task in ("generation", "both"):
        results["generation"] = run_generation(args)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


def print_sizes(args, task: str) -> dict:
    sizes = {}
    for name in args.models:
        hidden, n = size_for(name, args, task)
        sizes[name] = {"hidden": hidden, "params": n}
        extra = {"clockwork": f", periods {tuple(2 ** i for i in range(args.modules))}",
                 "hierarchical": f", {len(args.rates)} x {args.hier_cell}, rates {tuple(args.rates)}"}.get(name, "")
        print(f"  {name:13} hidden {hidden:3d}{extra}: {n} parameters (target {args.params})")
    return sizes


def run_adding(args) -> dict:
    threshold = args.solve_fraction * BASELINE_MSE
    cap = "none" if args.max_seconds is None else f"{args.max_seconds:g} s"
    print(f"adding problem, lags {args.lags}; budget per (model, lag): {args.steps} Adam steps (lr {args.lr:g}, "
          f"clip {args.clip:g}) x batch {args.batch}, wall-clock cap {cap}; solved: test MSE < {threshold:.4f} "
          f"({args.solve_fraction:g} x 1/6); torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    sizes = print_sizes(args, "adding")
    runs = []
    for T in args.lags:
        val = adding_batch(512, T, torch.Generator().manual_seed(10_000 + T))
        test = adding_batch(args.test, T, torch.Generator().manual_seed(20_000 + T))
        for name in args.models:
            r = train_one(name, sizes[name]["hidden"], T, val, test, args)
            runs.append(r)
            print(f"  lag {T:5d} {name:13} {r['steps']:5d} steps {r['seconds']:7.1f} s  stop: {r['stop']:6}  "
                  f"test MSE {r['test_mse']:.4f}  {'SOLVED' if r['solved'] else ''}", flush=True)

    print(f"\ntest MSE per lag (* solved: < {threshold:.4f}; t: cut by the wall-clock cap); "
          f"always-1 baseline {BASELINE_MSE:.4f}")
    print(f"{'model':13}{'params':>7}" + "".join(f"{T:>10}" for T in args.lags) + f"{'longest':>9}{'steps':>8}"
          f"{'time s':>8}")
    return {"sizes": sizes, "runs": runs, "longest": table(args, sizes, runs, "lag", "test_mse")}


def table(args, sizes: dict, runs: list, column: str, key: str) -> dict:
    """Print a row per model (its score per column, the longest solved, total steps and time); return
    the longest solved column per model (None if none)."""
    longest = {}
    for name in args.models:
        mine = [r for r in runs if r["model"] == name]
        solved = [r[column] for r in mine if r["solved"]]
        longest[name] = max(solved) if solved else None
        print(f"{name:13}{sizes[name]['params']:>7}" + "".join(f"{cell(r, key):>10}" for r in mine)
              + f"{(max(solved) if solved else '-'):>9}{sum(r['steps'] for r in mine):>8}"
              + f"{sum(r['seconds'] for r in mine):>8.0f}")
    return longest


def run_generation(args) -> dict:
    cap = "none" if args.max_seconds is None else f"{args.max_seconds:g} s"
    print(f"\nsequence generation (Koutnik et al. 2014, 4.1), lengths {args.lengths}; constant input 1, zero "
          f"initial state; budget per (model, length): {args.gen_steps} full-sequence Adam steps (lr {args.gen_lr:g} "
          f"cosine-decayed to 0, clip {args.clip:g}), wall-clock cap {cap}; solved: final NMSE < {args.gen_solve:g}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    sizes = print_sizes(args, "generation")
    runs = []
    for T in args.lengths:
        target = target_signal(T, args.seed)
        for name in args.models:
            r = train_generation(name, sizes[name]["hidden"], target, args)
            runs.append(r)
            print(f"  length {T:5d} {name:13} {r['steps']:5d} steps {r['seconds']:7.1f} s  stop: {r['stop']:6}  "
                  f"NMSE {r['nmse']:.4f} (best seen {r['best_nmse']:.4f})  {'SOLVED' if r['solved'] else ''}",
                  flush=True)
    print(f"\nfinal NMSE = MSE / Var(target) per length (* solved: < {args.gen_solve:g}; t: cut by the wall-clock "
          f"cap); predicting the mean gives 1")
    print(f"{'model':13}{'params':>7}" + "".join(f"{T:>10}" for T in args.lengths) + f"{'longest':>9}{'steps':>8}"
          f"{'time s':>8}")
    return {"sizes": sizes, "runs": runs, "longest": table(args, sizes, runs, "length", "nmse")}


if __name__ == "__main__":
    main()
