"""Speed of every registered architecture against torch's fused nn.LSTM, nn.GRU and nn.RNN, on CPU.

For each size (N, L, H_in, H), in float32 and in one process, it measures
  - the baselines torch.nn.LSTM, nn.GRU and nn.RNN (tanh), time-major input (L, N, H_in);
  - every (name, variant) of rnnzoo.registry.entries(), as Recurrent(name, H_in, H, **variant), with
    SIZED_OPTIONS on top (second_order:rank runs at rank 64, the issue's size, not the variant's 2),
    and LAYER_VARIANTS' rows (lstm:recurrent_dropout, Recurrent(..., recurrent_dropout=0.25));
    "path" is "fused" when the layer runs torch's kernel (fused_eligible(training=True)), "engine" when
    its generic path runs the cell's sequence engine (rnnzoo.engine: engine_ineligible_reason() is None)
    and "loop" for the per-step loop. A configuration that runs fused gets further rows forced onto the
    generic path (layer.fused = False): "engine" where there is one, and always "loop"
    (layer.engine = "loop"), so each table holds the before (loop) and after (engine) of every cell.
    "*" marks the path the defaults (fused="auto", engine="auto") take: in training, Elman runs on the
    engine, which beats torch's kernel there (rnnzoo.engine.trains_faster).
    Cells whose engine has compiled kernels (rnnzoo.engine.native, built first unless --no-native)
    get a "native" row (the engine's loops in C++) before the "engine" row (the same engine in
    Python, RNNZOO_NATIVE=0 for that row).
Columns: fwd ms = forward in training mode, autograd on, as in training; train ms = forward + backward
of output.sum() + the sums of the final state; each the median of --repeats after --warmup. A row's
runs alternate with runs of nn.LSTM and of its torch counterpart, and its ratios divide medians taken
in the same window (`time_paired`): on a shared 2-core machine the speed drifts by 30-40% over
minutes, which a baseline timed once per size would turn into ratio noise (--unpaired: that way).
xLSTM = time(nn.LSTM) / time(row): 2.00x is twice as fast as nn.LSTM, 0.50x half as fast; xown: the
same against the entry's torch counterpart (entry.torch_counterpart).
saved MB = distinct storages one training forward saves for backward (saved_tensors_hooks): the
activation memory, which grows with N * L; mem xLSTM = saved(row) / saved(nn.LSTM), > 1 is more memory.
peak MB = how far the process's resident memory rises during one training step (forward + backward,
gradients allocated; `peak_mb`: Linux's VmHWM reset after a warm-up step and malloc_trim, least of 3),
which adds parameters' gradients and temporaries to the saved activations; peak xLSTM = peak(row) / peak(nn.LSTM),
the issue's memory figure (target <= 1.5x).
Convolutional cells (entry.spatial non-empty) take x (L, N, C_in, *spatial) with (C_in, C) =
CONV_CHANNELS at the size's N and L; their ratios are against the baselines at the size's (N, L, H_in, H).
--inference: forward only, eval mode, torch.inference_mode, at (N, L, H_in, H) = (1, 1000, 128, 128).

    python benchmarks/cells.py                          # default sizes, 2 threads (minutes)
    python benchmarks/cells.py --filter 'lstm:*' --sizes 64,100,128,256 --markdown
    python benchmarks/cells.py --quick                  # tiny sizes: a smoke test
    python benchmarks/cells.py --inference --json inference.json
    python benchmarks/cells.py --profile --filter 'lstm:layer_norm' --sizes 64,100,128,256

--profile prints, instead of the tables, where one training step (forward only with --inference) of each
selected configuration and of its torch baselines spends its time: torch.profiler's operators by self CPU
time, per step (the average over --repeats steps after --warmup), so that a ratio can be traced to its cost.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import fnmatch
import json
import os
import platform
import sys
import time

import torch
from torch import nn

import rnnzoo
from rnnzoo import registry
from rnnzoo.engine import native

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # measure.py, beside this script
from measure import forward_step, measure, peak_mb, train_step  # noqa: E402, F401  (peak_mb: tests call it here)

DEFAULT_SIZES = [(64, 100, 128, 256), (32, 500, 32, 64)]
INFERENCE_SIZES = [(1, 1000, 128, 128)]
QUICK_SIZES = [(2, 6, 4, 8)]
CONV_CHANNELS = (4, 16)  # (C_in, C) of convolutional cells, whatever the size's H_in and H
BASELINES = {"lstm": ("nn.LSTM", nn.LSTM), "gru": ("nn.GRU", nn.GRU), "rnn": ("nn.RNN", nn.RNN)}
# Options the speed targets set that a registry variant cannot (the tests run every variant at tiny sizes):
# the second-order target is at rank 64, capped at the largest CP rank a size admits.
SIZED_OPTIONS = {("second_order", "rank"): lambda H_in, H: {"rank": min(64, H * min(H, H_in))}}
# Layer options the speed targets name that are no cell variant, as rows of their own.
LAYER_VARIANTS = {"lstm": {"recurrent_dropout": {"recurrent_dropout": 0.25}}}


def variants(entry) -> dict:
    """The registry's variants of `entry`, then LAYER_VARIANTS'."""
    return {**entry.variants, **LAYER_VARIANTS.get(entry.name, {})}


def parse_size(text: str) -> tuple:
    parts = tuple(int(p) for p in text.split(",") if p.strip().isdigit())
    if len(parts) != 4 or min(parts) < 1 or len(text.split(",")) != 4:
        raise argparse.ArgumentTypeError(f"a size is N,L,H_in,H (four positive ints), got {text!r}")
    return parts


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def header(args) -> list[str]:
    mode = "inference (forward, eval mode, torch.inference_mode)" if args.inference else "training"
    return [f"rnnzoo {rnnzoo.__version__} benchmark, {mode}, CPU float32",
            f"torch {torch.__version__}, python {platform.python_version()}, threads "
            f"{torch.get_num_threads()}, CPU {cpu_model()} ({os.cpu_count()} logical cores)",
            f"date {datetime.datetime.now().isoformat(timespec='seconds')}, median of {args.repeats} "
            f"after {args.warmup} warmup" + ("" if args.unpaired else ", each row's runs alternating with nn.LSTM's "
                                                "and its counterpart's (its ratios come from those runs)")
            + f"; convolutional cells: (C_in, C) = {CONV_CHANNELS}, x (L, N, C_in, *spatial)",
            "compiled kernels (rnnzoo.engine.native): " + (native.unavailable_reason() or "built, in the native rows"),
            "xLSTM = time(nn.LSTM) / time(row) (> 1: faster), xown: the same against the entry's torch "
            "counterpart" + ("" if args.inference or args.forward_only or args.no_memory else
                             "; saved MB: activations saved for backward (mem xLSTM > 1: more memory); peak MB: RSS rise "
                             "in one training step")]


@contextlib.contextmanager
def python_engine():
    """The engines in Python: the compiled kernels off (rnnzoo.engine.native reads RNNZOO_NATIVE)."""
    old = os.environ.get("RNNZOO_NATIVE")
    os.environ["RNNZOO_NATIVE"] = "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["RNNZOO_NATIVE"]
        else:
            os.environ["RNNZOO_NATIVE"] = old


def configurations(size, args):
    """(name, variant, path, module, x) for every selected registered configuration at `size`."""
    N, L, H_in, H = size
    for entry in registry.entries():
        for variant, options in variants(entry).items():
            if not (fnmatch.fnmatch(entry.name, args.filter)
                    or fnmatch.fnmatch(f"{entry.name}:{variant}", args.filter)):
                continue
            c_in, hidden = CONV_CHANNELS if entry.spatial else (H_in, H)
            sized = SIZED_OPTIONS.get((entry.name, variant))
            options = {**options, **sized(c_in, hidden)} if sized else options
            try:
                layer = rnnzoo.Recurrent(entry.name, c_in, hidden, **options)
            except Exception as error:  # a size the cell cannot take: an error row, not a crash
                yield entry, variant, f"{type(error).__name__}: {error}", None, None
                continue
            layer.train(not args.inference)  # the mode it is timed in (recurrent dropout: fused in eval only)
            x = torch.randn(L, N, c_in, *entry.spatial)
            default = layer.path(x.dtype, backward=not args.inference)  # what fused/engine="auto" pick

            def label(path):
                return path + "*" if path == default else path

            if layer.fused_eligible(training=not args.inference, dtype=x.dtype):
                layer.fused = True
                yield entry, variant, label("fused"), layer, x
                layer.fused = False
            if layer.engine_ineligible_reason(dtype=x.dtype) is None:
                if layer.native_ineligible_reason(x) is None:
                    yield entry, variant, label("native"), layer, x
                    with python_engine():
                        yield entry, variant, label("engine"), layer, x
                else:
                    yield entry, variant, label("engine"), layer, x
            layer.engine = "loop"
            yield entry, variant, label("loop"), layer, x


def profile_size(size, args, top: int = 8) -> None:
    """--profile: the operators by self CPU time of each selected configuration's step and of the torch
    baselines, per step."""
    N, L, H_in, H = size
    print(f"\n{'### ' if args.markdown else ''}N={N} L={L} H_in={H_in} H={H}: self CPU ms per step (calls per "
          f"step), top {top}")
    for name, cls in BASELINES.values():
        profile_step(f"{name} torch", cls(H_in, H), torch.randn(L, N, H_in), args, top)
    for entry, variant, path, layer, x in configurations(size, args):  # each path's settings hold while it runs
        if layer is not None:
            profile_step(f"{entry.name}:{variant} {path}", layer, x, args, top)


def profile_step(label, module, x, args, top):
    from torch.profiler import ProfilerActivity, profile

    module.train(not args.inference)
    step = forward_step(module, x, True) if args.inference else train_step(module, x)
    for _ in range(args.warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(args.repeats):
            step()
        wall = (time.perf_counter() - start) / args.repeats * 1e3
    ops = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)[:top]
    parts = ", ".join(f"{e.key} {e.self_cpu_time_total / 1e3 / args.repeats:.1f} ({e.count // args.repeats})"
                      for e in ops)
    print(f"{label}: {wall:.1f} ms a step (profiled); {parts}", flush=True)


def rows_for_size(size, args) -> list[dict]:
    N, L, H_in, H = size
    label = f"N={N} L={L} H_in={H_in} H={H}"
    rows, base, base_modules = [], {}, {}
    for kind, (name, cls) in BASELINES.items():
        module, x = cls(H_in, H), torch.randn(L, N, H_in)
        base[kind], base_modules[kind] = measure(module, x, args), (module, x)
        rows.append({"size": label, "name": name, "variant": "-", "path": "torch", "shown_path": "torch", "x": str(H_in),
                     "hidden": H, "counterpart": kind, **base[kind]})
    for entry, variant, path, layer, x in configurations(size, args):
        default = layer is not None and path.endswith("*")
        path = path.rstrip("*") if layer is not None else path
        row = {"size": label, "name": entry.name, "variant": variant, "path": path if layer else "error",
               "default": default, "shown_path": path + "*" if default else (path if layer else "error"),
               "x": "x".join(str(d) for d in x.shape[2:]) if x is not None else "-",
               "hidden": layer.hidden_size if layer is not None else "-",
               "counterpart": entry.torch_counterpart}
        if layer is None:
            row["error"] = path
        else:
            if sys.stderr.isatty():  # progress: the loop rows at L=500 take a while
                print(f"\r\033[K{label} {entry.name}:{variant} {path}", end="", file=sys.stderr, flush=True)
            pairs = {} if args.unpaired else {k: base_modules[k] for k in {"lstm", entry.torch_counterpart}}
            try:
                row.update(measure(layer, x, args, pairs))
            except Exception as error:
                row["path"], row["shown_path"], row["error"] = "error", "error", f"{type(error).__name__}: {error}"
        rows.append(row)
    for row in rows:  # ratios: > 1 means faster (times) or more memory (saved)
        paired = row.pop("paired", None) or base  # the baselines' times from this row's own runs
        for key in ("fwd_ms", "train_ms"):
            row[key.replace("ms", "x_lstm")] = ratio(paired["lstm"].get(key), row.get(key))
            row[key.replace("ms", "x_own")] = ratio(paired.get(row["counterpart"], {}).get(key), row.get(key))
        row["mem_x_lstm"] = ratio(row.get("saved_mb"), base["lstm"].get("saved_mb"))
        row["peak_x_lstm"] = ratio(row.get("peak_mb"), base["lstm"].get("peak_mb"))
    return rows


def ratio(a, b):
    return a / b if a is not None and b is not None and b > 0 else None


COLUMNS = [("name", "name", "{}"), ("variant", "variant", "{}"), ("shown_path", "path", "{}"),
           ("x", "x/step", "{}"), ("hidden", "H", "{}"), ("fwd_ms", "fwd ms", "{:.2f}"),
           ("fwd_x_lstm", "fwd xLSTM", "{:.2f}x"), ("fwd_x_own", "fwd xown", "{:.2f}x"),
           ("train_ms", "train ms", "{:.2f}"), ("train_x_lstm", "train xLSTM", "{:.2f}x"),
           ("train_x_own", "train xown", "{:.2f}x"), ("saved_mb", "saved MB", "{:.2f}"),
           ("mem_x_lstm", "mem xLSTM", "{:.2f}x"), ("peak_mb", "peak MB", "{:.1f}"),
           ("peak_x_lstm", "peak xLSTM", "{:.2f}x")]


def format_table(rows, markdown: bool, columns) -> str:
    cells = [[fmt.format(r[key]) if r.get(key) is not None else "-" for key, _, fmt in columns] for r in rows]
    titles = [title for _, title, _ in columns]
    if markdown:
        lines = [titles, ["---"] * len(titles)] + cells
        return "\n".join("| " + " | ".join(line) + " |" for line in lines)
    widths = [max(len(c) for c in col) for col in zip(titles, *cells)]
    return "\n".join("  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in
                               enumerate(zip(line, widths))) for line in [titles] + cells)


def main(argv=None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", type=parse_size, metavar="N,L,H_in,H",
                        help="sizes to run (default 64,100,128,256 32,500,32,64; --inference 1,1000,128,128)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2); use 1 "
                        "on a busy machine, where OpenMP threads waiting for each other swamp the timings")
    parser.add_argument("--repeats", type=int, help="timed runs per measurement (default 5; --quick 2)")
    parser.add_argument("--warmup", type=int, help="untimed runs first (default 1)")
    parser.add_argument("--filter", default="*", help="fnmatch pattern on 'name' or 'name:variant'")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few repeats (smoke test)")
    parser.add_argument("--forward-only", action="store_true", help="time the forward pass only")
    parser.add_argument("--inference", action="store_true",
                        help="forward only under torch.inference_mode at batch 1, L=1000, H_in=H=128")
    parser.add_argument("--no-memory", action="store_true", help="skip the saved-for-backward measure")
    parser.add_argument("--markdown", action="store_true", help="markdown tables")
    parser.add_argument("--json", metavar="PATH", help="also save the header and rows as JSON")
    parser.add_argument("--unpaired", action="store_true",
                        help="time each row alone against baselines timed once per size (faster; by default a "
                             "row's runs alternate with nn.LSTM's and its counterpart's, and its ratios come "
                             "from those)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the tables, print where each selected configuration's step (and the "
                             "baselines') spends its time: operators by self CPU ms per step (calls per step)")
    parser.add_argument("--no-native", action="store_true",
                        help="do not build the compiled kernels (rnnzoo.engine.native); a build already "
                             "cached is still used unless RNNZOO_NATIVE=0")
    args = parser.parse_args(argv)
    if not args.no_native:
        try:
            native.build()
        except RuntimeError as error:
            print(f"native kernels: {error}", file=sys.stderr)
    sizes = args.sizes or (QUICK_SIZES if args.quick else INFERENCE_SIZES if args.inference else DEFAULT_SIZES)
    args.repeats = args.repeats or (2 if args.quick else 5)
    args.warmup = 1 if args.warmup is None else args.warmup
    threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    try:
        return run(args, sizes)
    finally:
        torch.set_num_threads(threads)  # main() may be called from tests


def run(args, sizes) -> list[dict]:
    """Measure every size, print a table per size, save --json; return the rows."""
    columns = COLUMNS
    if args.inference or args.forward_only:
        columns = [c for c in COLUMNS if not c[0].startswith(("train", "saved", "mem", "peak"))]
    elif args.no_memory:
        columns = [c for c in COLUMNS if not c[0].startswith(("saved", "mem", "peak"))]
    head, rows = header(args), []
    print("\n".join(head))
    if args.profile:
        for size in sizes:
            profile_size(size, args)
        return rows
    for size in sizes:
        size_rows = rows_for_size(size, args)
        rows += size_rows
        if sys.stderr.isatty():
            print("\r\033[K", end="", file=sys.stderr, flush=True)
        print(f"\n{'### ' if args.markdown else ''}{size_rows[0]['size']}\n")
        print(format_table(size_rows, args.markdown, columns), flush=True)
    for r in rows:
        if "error" in r:
            print(f"\nfailed: {r['size']} {r['name']}:{r['variant']}: {r['error']}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": head, "rows": rows}, f, indent=1, default=str)
    return rows


if __name__ == "__main__":
    main()
