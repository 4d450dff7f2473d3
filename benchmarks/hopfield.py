"""Hopfield capacity at N = 1000 (the issue's targets) and the capacity plot.

Recall quality = mean overlap m = (1/N) s . xi of the recalled state with the cued pattern, cues with
10% of their bits flipped, asynchronous updates, every stored pattern cued, averaged over --trials.
Targets (N = 1000): Hebbian m >= 0.98 at alpha 0.10 and m <= 0.90 at alpha 0.18; Storkey m >= 0.98 at
alpha 0.20.

    python benchmarks/hopfield.py                        # the targets, 3 trials (about a minute)
    python benchmarks/hopfield.py --plot capacity.png --alphas 0.05,0.1,0.14,0.18,0.22,0.3 \
        --rules hebbian,storkey,pinv,modern              # the full curve, with the theory marked
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from rnnzoo.memory import capacity_sweep, plot_capacity

TARGETS = {("hebbian", 0.10): (">=", 0.98), ("hebbian", 0.18): ("<=", 0.90), ("storkey", 0.20): (">=", 0.98)}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--rules", default="hebbian,storkey")
    p.add_argument("--alphas", default=None, help="comma-separated; default: the targets' alphas per rule")
    p.add_argument("--flip", type=float, default=0.1)
    p.add_argument("--trials", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest here)")
    p.add_argument("--plot", default=None, help="write the capacity plot to this PNG")
    p.add_argument("--json", default=None, help="write the results to this JSON file")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = []
    for rule in args.rules.split(","):
        if args.alphas:
            alphas = [float(a) for a in args.alphas.split(",")]
        else:
            alphas = sorted(a for (r, a) in TARGETS if r == rule) or [0.1, 0.2]
        t0 = time.perf_counter()
        r = capacity_sweep(args.n, rule, alphas, flip=args.flip, trials=args.trials, seed=args.seed)
        r["seconds"] = time.perf_counter() - t0
        results.append(r)
        for a, P, m, sd, ex in zip(r["alphas"], r["patterns"], r["overlap"], r["overlap_std"], r["exact"]):
            target = TARGETS.get((rule, round(a, 4)))
            verdict = ""
            if target and args.n == 1000:
                ok = m >= target[1] if target[0] == ">=" else m <= target[1]
                verdict = f"  target {target[0]} {target[1]}: {'met' if ok else 'MISSED'}"
            print(f"N={args.n} {rule:8s} alpha={a:.3f} P={P:4d}  mean overlap {m:.4f} (sd {sd:.4f}, "
                  f"exact {ex:.3f}){verdict}")
        print(f"  ({r['seconds']:.1f} s, {args.trials} trials, flip {args.flip})")
    if args.plot:
        print("plot:", plot_capacity(results, args.plot))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
