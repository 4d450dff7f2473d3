"""Time-series classification on UCR/UEA sets: `rnnzoo train classify` at its defaults against aeon's baselines.

For each set (GunPoint, ItalyPowerDemand, JapaneseVowels, BasicMotions by default), on the archive's own
TRAIN/TEST split:
    baselines   1-NN Euclidean, 1-NN DTW and MiniRocket from aeon (benchmarks/classify_baselines.py),
                fitted and scored in this run
    rnnzoo      `rnnzoo train classify --data SET --seed S` for --seeds seeds (default 5): the LSTM-FCN at
                the task's defaults (LSTM 128 beside convolutions 128-256-128, 500 epochs, cosine LR,
                the whole TRAIN file trains); test accuracy from each run's config.json ("report")
The table gives rnnzoo's mean test accuracy, its spread (std and min-max over the seeds), the mean
training time of a run, and the issue's two checks: mean >= 1-NN DTW, and within 2 points of MiniRocket.

Runs go to --out (default runs/bench-classify/SET-sSEED); a run already complete there is read, not
trained again, so an interrupted benchmark picks up where it stopped. --parallel N trains N runs at a
time, each on one thread (`--threads 1`; on the 2-core machine two at a time halve the wall time).

    python benchmarks/classify.py                               # 4 sets x 5 seeds: ~40 min with --parallel 2
    python benchmarks/classify.py --sets GunPoint --seeds 1
    python benchmarks/classify.py --quick                       # a smoke test: 1 set, 1 seed, 3 epochs
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "timeseries" / "ucr_uea"
SETS = ("GunPoint", "ItalyPowerDemand", "JapaneseVowels", "BasicMotions")


def load_baselines():
    spec = importlib.util.spec_from_file_location("classify_baselines", HERE / "classify_baselines.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def train(data: Path, out: Path, seed: int, extra: list[str]) -> dict:
    """One run's config.json (trained now, or read where the run is complete)."""
    config = out / "config.json"
    if not config.exists():
        cmd = [sys.executable, "-m", "rnnzoo", "train", "classify", "--data", str(data), "--seed", str(seed),
               "--out", str(out), *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
    return json.loads(config.read_text())


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="folder of the sets (../shared/data/timeseries/ucr_uea)")
    p.add_argument("--sets", nargs="+", default=list(SETS))
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--parallel", type=int, default=1, help="runs at a time, each on one thread")
    p.add_argument("--out", type=Path, default=Path("runs/bench-classify"))
    p.add_argument("--quick", action="store_true", help="smoke test: first set, one seed, 3 epochs, 1-NN ED only")
    p.add_argument("extra", nargs="*", help="options passed to 'rnnzoo train classify' (after --)")
    args = p.parse_args(argv)
    extra = list(args.extra)
    names = ("1nn_euclidean", "1nn_dtw", "minirocket")
    if args.quick:
        args.sets, args.seeds, names = args.sets[:1], 1, ("1nn_euclidean",)
        extra += ["--epochs", "3", "--hidden", "8", "--filters", "8", "8", "--kernels", "3", "3"]
    if args.parallel > 1:
        extra += ["--threads", "1"]
    bench = load_baselines()
    rows = []
    for name in args.sets:
        folder = args.data / name
        base = bench.baselines(*bench.load_split(folder), names=names)
        started = time.perf_counter()
        with ThreadPoolExecutor(max(1, args.parallel)) as pool:
            configs = list(pool.map(lambda s: train(folder, args.out / f"{name}-s{s}", s, extra), range(args.seeds)))
        accuracy = [c["report"]["test_accuracy"] for c in configs]
        seconds = [c["seconds"] for c in configs]
        rows.append((name, base, accuracy, seconds, time.perf_counter() - started))
        print(f"{name}: rnnzoo {' '.join(f'{a:.4f}' for a in accuracy)}; "
              + ", ".join(f"{k} {v['accuracy']:.4f}" for k, v in base.items()), flush=True)
    print(f"\n{'set':18}" + "".join(f"{n:>15}" for n in names) + f"{'rnnzoo mean':>13}{'std':>7}{'min-max':>15}"
          f"{'s/run':>7}{'>= DTW':>8}{'MR-2pt':>8}")
    for name, base, accuracy, seconds, _ in rows:
        mean = statistics.mean(accuracy)
        std = statistics.stdev(accuracy) if len(accuracy) > 1 else 0.0
        dtw = base.get("1nn_dtw", {}).get("accuracy")
        mr = base.get("minirocket", {}).get("accuracy")
        print(f"{name:18}" + "".join(f"{base[n]['accuracy']:>15.4f}" for n in names)
              + f"{mean:>13.4f}{std:>7.4f}{f'{min(accuracy):.3f}-{max(accuracy):.3f}':>15}"
              f"{statistics.mean(seconds):>7.0f}"
              f"{('yes' if mean >= dtw else 'NO') if dtw is not None else '-':>8}"
              f"{('yes' if mean >= mr - 0.02 else 'NO') if mr is not None else '-':>8}")
    print(f"\n{args.seeds} seed(s) per set; rnnzoo options: {' '.join(extra) or '(defaults)'}")
    return {name: {"rnnzoo": accuracy, "baselines": base, "seconds": seconds}
            for name, base, accuracy, seconds, _ in rows}


if __name__ == "__main__":
    main()
