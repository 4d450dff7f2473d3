"""The thread policy (`--threads auto`, rnnzoo/threads.py) against fixed settings, idle and with a core taken.

Every run is the real `rnnzoo` command in a fresh process (the OpenMP setting applies only when the
process starts), timed interleaved: the settings of one row take turns, repeat after repeat. It prints:

1. Idle, for each README task (addition with Elman, LSTM, GRU; sentiment at 80 words; charlm on Alice,
   which is the main job's model): training steps per second (steps / the run's train_seconds, which
   leaves out validation and start-up) at auto, at each fixed --threads from 1 to the cores, and at
   "before" (torch's defaults as rnnzoo had them: --threads 0 and libgomp's own spin count); auto's
   ratio to the best fixed setting (goal: >= 0.95).
2. With one other busy process (a CPU-bound Python loop this script starts and stops): auto's and
   before's steps per second for addition GRU and charlm, and their slowdown against idle (goal for
   auto: <= 1.5x); `rnnzoo generate`'s milliseconds per character the same way (2,000 characters,
   start-up subtracted by also timing 100).
3. The main job, `rnnzoo train charlm --max-time 60`, idle: steps and validation loss at auto and before
   (goal: below 1.80 nats/char).

    python benchmarks/threads.py                              # everything (about 20 minutes)
    python benchmarks/threads.py --rows addition-gru charlm --seconds 20 --repeats 1 --skip-main
    python benchmarks/threads.py --data ../shared/data/imdb/aclImdb_labeled.tar.gz   # adds sentiment80
    python benchmarks/threads.py --quick                      # a smoke test (seconds)
    python benchmarks/threads.py --crossover                  # where a second thread starts to pay
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rnnzoo.threads import cores

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # measure.py, beside this script
from measure import command_env  # noqa: E402

BEFORE = {"GOMP_SPINCOUNT": "300000"}  # libgomp's default spin count (OMP_WAIT_POLICY unset), made explicit

# name -> train arguments; seconds-limited rows get --max-time, addition a fixed number of epochs
ROWS = {
    "addition-elman": ["addition", "--model", "elman", "--epochs", "10"],
    "addition-lstm": ["addition", "--model", "lstm", "--epochs", "10"],
    "addition-gru": ["addition", "--model", "gru", "--epochs", "10"],
    "sentiment80": ["sentiment", "--model", "lstm", "--hidden", "128", "--max-words", "80"],
    "charlm": ["charlm"],
}
BUSY_ROWS = ("addition-gru", "charlm")


def rnnzoo(args: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rnnzoo", *args], env=env, capture_output=True, text=True)


def train(row: str, setting: str, out: Path, seconds: int, data: str | None) -> dict:
    """One training run; its config.json."""
    args = ["train", *ROWS[row], "--out", str(out), "--seed", "0"]
    if "--epochs" not in ROWS[row]:
        args += ["--max-time", str(seconds)]
    if row.startswith("sentiment"):
        args += ["--data", data]
    env = command_env(BEFORE if setting == "before" else None)
    args += ["--threads", "0" if setting == "before" else setting]
    done = rnnzoo(args, env)
    if done.returncode:
        raise SystemExit(f"rnnzoo {shlex.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads((out / "config.json").read_text())


def rate(config: dict) -> float:
    return config["steps"] / max(config["train_seconds"], 1e-9)


def chosen(config: dict) -> str:
    record = config.get("threads", {})
    probes = record.get("probes") or []
    kept = [p["kept"] for p in probes]
    return f"{record.get('threads')}" + (f" -> kept {kept}" if kept else "")


class Busy:
    """One CPU-bound process for the duration of the block."""

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def idle_table(rows, settings, repeats, seconds, data, root):
    print(f"## 1. Idle: training steps per second (median of {repeats}, interleaved)\n")
    print("| task | " + " | ".join(settings) + " | best fixed | auto / best fixed | auto's threads |")
    print("|---|" + "---|" * (len(settings) + 3))
    results = {}
    for row in rows:
        rates = {s: [] for s in settings}
        picks = []
        for r in range(repeats):
            order = settings if r % 2 == 0 else settings[::-1]
            for s in order:
                config = train(row, s, root / f"{row}-{s}-{r}", seconds, data)
                rates[s].append(rate(config))
                if s == "auto":
                    picks.append(chosen(config))
        med = {s: statistics.median(v) for s, v in rates.items()}
        fixed = {s: v for s, v in med.items() if s.isdigit()}
        best = max(fixed, key=fixed.get)
        ratio = med["auto"] / fixed[best]
        results[row] = med
        print(f"| {row} | " + " | ".join(f"{med[s]:.1f}" for s in settings) +
              f" | {best} | {ratio:.3f}{'' if ratio >= 0.95 else ' (below 0.95)'} | {'; '.join(picks)} |", flush=True)
    return results


def busy_table(rows, idle, repeats, seconds, data, root):
    print("\n## 2. One other busy process: training steps per second and slowdown against idle\n")
    print("| task | auto idle | auto busy | auto slowdown | before idle | before busy | before slowdown | "
          "auto's threads (busy) |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        busy = {"auto": [], "before": []}
        picks = []
        with Busy():
            for r in range(repeats):
                for s in (("auto", "before") if r % 2 == 0 else ("before", "auto")):
                    config = train(row, s, root / f"busy-{row}-{s}-{r}", seconds, data)
                    busy[s].append(rate(config))
                    if s == "auto":
                        picks.append(chosen(config))
        a, b = statistics.median(busy["auto"]), statistics.median(busy["before"])
        print(f"| {row} | {idle[row]['auto']:.1f} | {a:.1f} | {idle[row]['auto'] / a:.2f}x | "
              f"{idle[row]['before']:.1f} | {b:.1f} | {idle[row]['before'] / b:.2f}x | {'; '.join(picks)} |",
              flush=True)


def generate_ms(run: Path, setting: str) -> float:
    """Milliseconds per generated character, start-up subtracted."""
    env = command_env(BEFORE if setting == "before" else None)
    threads = ["--threads", "0" if setting == "before" else setting]
    times = []
    for length in (100, 2100):
        started = time.perf_counter()
        done = rnnzoo(["generate", str(run), "--length", str(length), "--seed", "0", *threads], env)
        if done.returncode:
            raise SystemExit(f"generate failed:\n{done.stderr[-2000:]}")
        times.append(time.perf_counter() - started)
    return (times[1] - times[0]) / 2000 * 1e3


def generate_table(run, repeats):
    print("\n## 2b. `rnnzoo generate` (2x256 LSTM, batch 1): milliseconds per character\n")
    print("| setting | idle | busy | slowdown |")
    print("|---|---|---|---|")
    idle = {s: statistics.median(generate_ms(run, s) for _ in range(repeats)) for s in ("auto", "before")}
    with Busy():
        busy = {s: statistics.median(generate_ms(run, s) for _ in range(repeats)) for s in ("auto", "before")}
    for s in ("auto", "before"):
        print(f"| {s} | {idle[s]:.2f} | {busy[s]:.2f} | {busy[s] / idle[s]:.2f}x |", flush=True)


def main_job(root, seconds=60):
    print(f"\n## 3. The main job, `rnnzoo train charlm --max-time {seconds}`, idle\n")
    print("| setting | steps | validation loss (nats/char) | threads |")
    print("|---|---|---|---|")
    for s in ("auto", "before"):
        config = train("charlm", s, root / f"main-{s}", seconds, None)
        print(f"| {s} | {config['steps']} | {config['best']['val_loss']:.3f} | {chosen(config)} |", flush=True)


def crossover(repeats: int = 5):
    """The measurements behind rnnzoo.threads.WORK_PER_THREAD: one training step (forward + backward, L = 50)
    of Recurrent(cell, H, H) at batch N, at one and at two threads, interleaved, in this process."""
    import torch

    import rnnzoo
    from rnnzoo.threads import step_work
    print("## Where a second thread starts to pay: training step time at 2 threads / 1 thread\n")
    print("| cell | N | H | multiply-adds a step (M) | 1 thread ms | 2 threads ms | 2 / 1 |")
    print("|---|---|---|---|---|---|---|")
    before = torch.get_num_threads()
    for cell in ("lstm", "gru", "elman", "jordan"):
        for n, h in ((1, 64), (1, 256), (1, 512), (8, 64), (32, 16), (32, 32), (32, 64), (32, 128), (64, 128),
                     (32, 256), (128, 64)):
            layer, x = rnnzoo.Recurrent(cell, h, h), torch.randn(50, n, h)
            times = {1: [], 2: []}
            for _ in range(repeats):
                for t in (1, 2):
                    torch.set_num_threads(t)
                    started = time.perf_counter()
                    y, _ = layer(x)
                    y.sum().backward()
                    times[t].append(time.perf_counter() - started)
            one, two = (statistics.median(times[t]) * 1e3 for t in (1, 2))
            print(f"| {cell} | {n} | {h} | {step_work(layer, n) / 1e6:.3f} | {one:.2f} | {two:.2f} | "
                  f"{two / one:.2f} |", flush=True)
    torch.set_num_threads(before)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", nargs="+", choices=sorted(ROWS), default=None,
                        help="tasks (default: all; sentiment80 only with --data)")
    parser.add_argument("--data", default=None, help="IMDB for sentiment80 (aclImdb folder or .tar.gz)")
    parser.add_argument("--seconds", type=int, default=30, help="--max-time of the time-limited rows (30)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting and row (2)")
    parser.add_argument("--skip-busy", action="store_true")
    parser.add_argument("--skip-main", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke test: addition GRU, one short epoch, once, idle only")
    parser.add_argument("--crossover", action="store_true",
                        help="only the layer-size table behind rnnzoo.threads.WORK_PER_THREAD (in-process, minutes)")
    args = parser.parse_args(argv)
    if args.crossover:
        return crossover()
    if args.quick:
        ROWS["addition-gru"] = ["addition", "--model", "gru", "--epochs", "1", "--train-size", "256"]
        args.rows, args.repeats, args.skip_busy, args.skip_main = ["addition-gru"], 1, True, True
    rows = args.rows or [r for r in ROWS if args.data or not r.startswith("sentiment")]
    if any(r.startswith("sentiment") for r in rows) and not args.data:
        parser.error("sentiment80 needs --data")
    settings = ["auto", *map(str, range(1, cores() + 1)), "before"]
    import torch
    print(f"# benchmarks/threads.py: {cores()} cores, torch {torch.__version__}, "
          f"`python benchmarks/threads.py {shlex.join(argv if argv is not None else sys.argv[1:])}`\n")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        idle = idle_table(rows, settings, args.repeats, args.seconds, args.data, root)
        if not args.skip_busy:
            busy_table([r for r in BUSY_ROWS if r in rows], idle, args.repeats, args.seconds, args.data, root)
            if "charlm" in rows:
                generate_table(root / "charlm-auto-0", max(args.repeats, 3))
        if not args.skip_main:
            main_job(root)


if __name__ == "__main__":
    main()
