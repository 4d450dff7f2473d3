"""minGRU and minLSTM on their scans against torch's fused nn.GRU (and nn.LSTM), training on CPU, over lengths.

For each L in --lengths, at (N, H_in, H) = --size (default the issue's (32, 64, 256)), in float32 and one
process: training time (forward + backward of output.sum() + the final state's sum, `measure.train_step`)
of nn.GRU, nn.LSTM, and rnnzoo's `mingru` and `minlstm` with the linear scan (the CPU default) and with
Heinsen's log-space scan (scan="log"), timed in turn within each repeat (`measure.time_paired`: the
ratios divide medians taken in the same window of a shared machine). Columns:
    ms          median training step, ms
    xGRU        time(nn.GRU) / time(row): 10.0x is ten times as fast as torch's fused GRU
    peak MB     resident-memory rise during one training step (`measure.peak_mb`: VmHWM after a reset)
    rel err     largest |y - y64| / |y64| of the row's float32 output against the same weights run in
                float64 on the per-step loop (scan rows only): the scans' float32 accuracy at that length
The issue's target: mingru at (32, 4096, 64, 256) >= 10x nn.GRU, the ratio growing with L.
glibc is asked to keep freed memory (rnnzoo.retain_freed_memory), as `rnnzoo train` does: at these sizes a
step frees and reallocates hundreds of MB, which glibc would otherwise return to the kernel and fault back in
zeroed at every step, a cost that grows with L and hits the lighter minGRU step hardest (--malloc default:
glibc as it is). Where the compiled kernels are built (`rnnzoo native build`), the linear-scan rows run on
them; RNNZOO_NATIVE=0 measures the pure-Python engine.

    python benchmarks/scan.py                                  # lengths 128 ... 8192, 2 threads (~10 min)
    python benchmarks/scan.py --lengths 4096 --repeats 5       # the target size alone
    python benchmarks/scan.py --quick                          # a smoke test (seconds)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys

import torch
from torch import nn

import rnnzoo
from rnnzoo.engine import native

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # measure.py, beside this script
from measure import peak_mb, time_paired, train_step  # noqa: E402

LENGTHS = (128, 512, 2048, 4096, 8192)
ROWS = ("nn.GRU", "nn.LSTM", "mingru", "minlstm", "mingru:log", "minlstm:log")
TARGET = {"size": (32, 4096, 64, 256), "row": "mingru", "ratio": 10.0}


def build(row: str, h_in: int, hidden: int) -> nn.Module:
    if row == "nn.GRU":
        return nn.GRU(h_in, hidden)
    if row == "nn.LSTM":
        return nn.LSTM(h_in, hidden)
    name, _, method = row.partition(":")
    return rnnzoo.Recurrent(name, h_in, hidden, scan=method or "linear")


def relative_error(module: nn.Module, x: torch.Tensor) -> float:
    """The float32 output against the same weights in float64 on the per-step loop (the reference)."""
    ref = rnnzoo.Recurrent(module.cell_name, module.input_size, module.hidden_size, engine="loop").double()
    ref.load_state_dict(module.state_dict())
    with torch.no_grad():
        want = ref(x.double())[0]
        got = module(x)[0].double()
    return ((got - want).abs() / want.abs().clamp_min(1e-6)).max().item()


def run_length(L: int, args) -> list[dict]:
    N, h_in, hidden = args.size
    torch.manual_seed(0)
    x = torch.randn(L, N, h_in)
    modules = {row: build(row, h_in, hidden) for row in args.rows}
    times = time_paired({row: train_step(m, x) for row, m in modules.items()}, args.repeats, args.warmup)
    rows = []
    for row, module in modules.items():
        result = {"row": row, "L": L, "ms": times[row]}
        if "nn.GRU" in times:
            result["x_gru"] = times["nn.GRU"] / times[row]
        if not args.no_memory:
            result["peak_mb"] = peak_mb(train_step(module, x), repeats=2)
        if not row.startswith("nn.") and not args.no_error:
            result["rel_err"] = relative_error(module, x)
        rows.append(result)
    return rows


def fmt(value, spec: str) -> str:
    return "-" if value is None else spec.format(value)


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lengths", type=lambda s: tuple(int(v) for v in s.split(",")), default=LENGTHS)
    p.add_argument("--size", type=lambda s: tuple(int(v) for v in s.split(",")), default=(32, 64, 256),
                   help="N,H_in,H (default 32,64,256)")
    p.add_argument("--rows", type=lambda s: tuple(s.split(",")), default=ROWS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory column (faster)")
    p.add_argument("--no-error", action="store_true", help="skip the float32-accuracy column (faster)")
    p.add_argument("--malloc", choices=("retain", "default"), default="retain",
                   help="keep freed memory in the process, as rnnzoo train does (default), or glibc's default")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--quick", action="store_true", help="smoke test: lengths 16 and 64 at (4, 3, 8), 1 repeat")
    args = p.parse_args(argv)
    if args.quick:
        args.lengths, args.size, args.repeats, args.warmup = (16, 64), (4, 3, 8), 1, 0
    unknown = [r for r in args.rows if r not in ROWS]
    if unknown:
        p.error(f"--rows: unknown {unknown}; known: {', '.join(ROWS)}")
    torch.set_num_threads(args.threads)
    retained = args.malloc == "retain" and rnnzoo.retain_freed_memory()
    linear = "compiled kernels" if native.kernels(torch.zeros(1)) is not None else "Python engine"
    print(f"torch {torch.__version__}, {args.threads} threads, {platform.processor() or platform.machine()}; "
          f"(N, H_in, H) = {args.size}, float32, training step = forward + backward; "
          f"median of {args.repeats} after {args.warmup} warm-up, rows timed in turn; linear scan on the {linear}; "
          f"freed memory {'kept' if retained else 'returned to the OS (glibc default)'}")
    rows = []
    print(f"{'L':>6} {'row':<12} {'ms':>10} {'xGRU':>7} {'peak MB':>8} {'rel err':>9}")
    for L in args.lengths:
        for r in run_length(L, args):
            rows.append(r)
            print(f"{L:>6} {r['row']:<12} {r['ms']:>10.1f} {fmt(r.get('x_gru'), '{:.2f}x'):>7} "
                  f"{fmt(r.get('peak_mb'), '{:.0f}'):>8} {fmt(r.get('rel_err'), '{:.1e}'):>9}", flush=True)
    N, h_in, hidden = args.size
    target = [r for r in rows if r["row"] == TARGET["row"] and (N, r["L"], h_in, hidden) == TARGET["size"]]
    if target and "x_gru" in target[0]:
        ratio = target[0]["x_gru"]
        print(f"target: mingru at (N, L, H_in, H) = {TARGET['size']} trains {ratio:.2f}x nn.GRU's speed "
              f"(goal >= {TARGET['ratio']:.0f}x): {'met' if ratio >= TARGET['ratio'] else 'missed'}")
    growth = [r["x_gru"] for r in rows if r["row"] == "mingru" and "x_gru" in r]
    if len(growth) > 1:
        print("mingru's ratio by length: " + ", ".join(f"{g:.2f}x" for g in growth)
              + (" (growing)" if all(b >= a for a, b in zip(growth, growth[1:])) else " (not monotone)"))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": args.size, "threads": args.threads, "linear_scan": linear, "retained": retained,
                       "rows": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
