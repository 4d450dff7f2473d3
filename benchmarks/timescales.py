"""Long lags on the adding problem: the longest lag that the clockwork RNN, a hierarchical RNN, an Elman
network and an LSTM each solve within one fixed training budget, all four with about the same number of
parameters.

Task: the adding problem (Hochreiter & Schmidhuber 1997, in the form of Le, Jaitly & Hinton 2015). A
sequence of T steps (T = the lag) has 2 channels: values U(0, 1) and a marker that is 1 at exactly two
steps, one among the first max(1, T // 10) steps and one in the second half [T // 2, T). The target,
read from the network's last output by a linear layer, is the sum of the two marked values. Predicting
1.0 always gives MSE = Var(U + U') = 1/6; a lag counts as SOLVED when the test MSE is below 0.1 x 1/6 =
0.0167 (--solve-fraction). The first mark is at least 0.4 T steps before the end, so the network must
carry it across that many steps.

Models (the readout, Linear(last output -> 1), counted in every total):
    elman       Recurrent("elman"), tanh
    lstm        Recurrent("lstm")
    clockwork   Recurrent("clockwork", modules=--modules): periods 1, 2, 4, ..., 2^(g-1), Koutnik et al.
                2014; its parameter count leaves out the weight_hh entries that its mask zeroes (from
                faster modules to slower ones: they never get a gradient)
    hierarchical  HierarchicalRNN(--hier-cell, rates=--rates, output="all"): equal layers, layer k
                updated every r_k steps; the readout reads every layer's last output (the slowest layer
                alone may not have updated since the second mark)
Each model's hidden size is the one whose total parameter count is closest to --params (printed).

Budget, the same for every (model, lag): --steps Adam steps (lr --lr, gradient norm clipped at --clip) on
fresh random batches of --batch sequences, and optionally a wall-clock cap --max-seconds (the table says
when it cut a run short). Every --eval-every steps the model is scored on a fixed validation set (512
sequences) and training stops early once that MSE is below half the criterion (so that a model stopped
there is clearly, not marginally, below it); the reported MSE is then measured on a separate fixed test
set (--test sequences; one per lag, the same for every model). "Longest lag" is the largest lag whose
test MSE meets the criterion (shorter lags need not all be solved; the table shows every one).

    OMP_NUM_THREADS=1 python benchmarks/timescales.py                      # lags 50 ... 1000, ~20 min
    python benchmarks/timescales.py --lags 50 100 200 --steps 2000 --max-seconds 120
    python benchmarks/timescales.py --quick                                # a smoke test, seconds
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
from rnnzoo.models.hierarchical import HierarchicalRNN

MODELS = ("clockwork", "hierarchical", "elman", "lstm")
BASELINE_MSE = 1 / 6  # always predicting 1.0: Var(U(0,1) + U(0,1))


def adding_batch(n: int, T: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n adding-problem sequences of length T: x (n, T, 2) = (values, marker), y (n,) the marked sum."""
    values = torch.rand(n, T, generator=generator)
    first = torch.randint(0, max(1, T // 10), (n,), generator=generator)
    second = torch.randint(T // 2, T, (n,), generator=generator)
    marker = torch.zeros(n, T)
    rows = torch.arange(n)
    marker[rows, first] = 1.0
    marker[rows, second] = 1.0
    return torch.stack([values, marker], dim=-1), (values * marker).sum(1)


class Regressor(nn.Module):
    """A recurrent body and a linear readout of its last output."""

    def __init__(self, body: nn.Module, features: int):
        super().__init__()
        self.body, self.readout = body, nn.Linear(features, 1)

    def forward(self, x):
        y, _ = self.body(x)  # (N, T, features)
        return self.readout(y[:, -1]).squeeze(-1)  # (N,)


def build(name: str, hidden: int, args) -> Regressor:
    if name == "hierarchical":
        body = HierarchicalRNN(args.hier_cell, 2, hidden_size=hidden, rates=tuple(args.rates), output="all")
        return Regressor(body, body.output_size)
    options = {"modules": args.modules} if name == "clockwork" else {}
    body = rnnzoo.Recurrent(name, 2, hidden, batch_first=True, **options)
    return Regressor(body, body.output_size)


def count(model: nn.Module) -> int:
    """Trainable parameters, less the clockwork weight_hh entries its mask holds at 0."""
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total - sum(int((m.mask == 0).sum()) for m in model.modules() if isinstance(m, ClockworkCell))


def size_for(name: str, args) -> tuple[int, int]:
    """(hidden size, parameter count) with the count closest to args.params (the smaller size on a tie)."""
    smallest = args.modules if name == "clockwork" else 1
    best = None
    for hidden in range(smallest, 512):
        n = count(build(name, hidden, args))
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


def cell(run: dict) -> str:
    mark = "*" if run["solved"] else ("t" if run["stop"] == "time" else " ")
    return f"{run['test_mse']:.4f}{mark}" if math.isfinite(run["test_mse"]) else "nan "


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--lags", nargs="+", type=int, default=[50, 100, 200, 500, 1000])
    p.add_argument("--params", type=int, default=2000, help="parameter budget each model is sized to (default 2000)")
    p.add_argument("--steps", type=int, default=500, help="Adam steps per (model, lag) (default 500)")
    p.add_argument("--max-seconds", type=float, default=None, help="wall-clock cap per (model, lag) (default none)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=1e-2)
    p.add_argument("--clip", type=float, default=1.0, help="gradient norm clip (default 1)")
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--test", type=int, default=1000, help="test sequences per lag (default 1000)")
    p.add_argument("--solve-fraction", type=float, default=0.1,
                   help="solved: test MSE < this x 1/6, the MSE of always predicting 1 (default 0.1)")
    p.add_argument("--modules", type=int, default=8, help="clockwork modules, periods 1, 2, ..., 2^(g-1) (default 8)")
    p.add_argument("--rates", nargs="+", type=int, default=[1, 4, 16], help="hierarchical layer rates (default 1 4 16)")
    p.add_argument("--hier-cell", default="elman", help="the hierarchical model's cell (default elman)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--json", type=Path, help="write the results here")
    p.add_argument("--quick", action="store_true", help="smoke test: lags 20 and 50, 60 steps, 200 test sequences")
    args = p.parse_args(argv)
    if args.quick:
        args.lags, args.steps, args.eval_every, args.test = [20, 50], 60, 20, 200
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        return run(args)
    finally:
        torch.set_num_threads(threads)  # main() may be called from tests


def run(args) -> dict:
    threshold = args.solve_fraction * BASELINE_MSE
    cap = "none" if args.max_seconds is None else f"{args.max_seconds:g} s"
    print(f"adding problem, lags {args.lags}; budget per (model, lag): {args.steps} Adam steps (lr {args.lr:g}, "
          f"clip {args.clip:g}) x batch {args.batch}, wall-clock cap {cap}; solved: test MSE < {threshold:.4f} "
          f"({args.solve_fraction:g} x 1/6); torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
    sizes = {}
    for name in args.models:
        hidden, n = size_for(name, args)
        sizes[name] = {"hidden": hidden, "params": n}
        extra = {"clockwork": f", periods {tuple(2 ** i for i in range(args.modules))}",
                 "hierarchical": f", {len(args.rates)} x {args.hier_cell}, rates {tuple(args.rates)}"}.get(name, "")
        print(f"  {name:13} hidden {hidden:3d}{extra}: {n} parameters (target {args.params})")
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
    results = {"args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "sizes": sizes, "runs": runs, "longest": {}}
    for name in args.models:
        mine = [r for r in runs if r["model"] == name]
        solved = [r["lag"] for r in mine if r["solved"]]
        results["longest"][name] = max(solved) if solved else None
        print(f"{name:13}{sizes[name]['params']:>7}" + "".join(f"{cell(r):>10}" for r in mine)
              + f"{(max(solved) if solved else '-'):>9}{sum(r['steps'] for r in mine):>8}"
              + f"{sum(r['seconds'] for r in mine):>8.0f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return results


if __name__ == "__main__":
    main()
