"""Where the time of one registered configuration goes: torch.profiler over its forward (inference) or
its training step, next to torch's fused counterpart, as ATen calls per time step and the top ops.

Used to name what limits a configuration that misses its speed target in benchmarks/cells.py:
a dispatch-bound loop shows many small ops per step at a few microseconds each, an arithmetic-bound
one a few matmuls that take most of the time.

    python benchmarks/profile_cells.py lstm:peephole --inference          # batch 1, L=1000, H=128
    python benchmarks/profile_cells.py lstm:layer_norm --size 32,500,32,64
    python benchmarks/profile_cells.py second_order:default --size 32,500,32,64 --top 6
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch
from torch import nn

import rnnzoo
from rnnzoo import registry
from rnnzoo.engine import native

BASELINES = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


def build(spec: str, H_in: int, H: int):
    name, _, variant = spec.partition(":")
    entry = registry.get(name)
    variant = variant or next(iter(entry.variants))
    if variant not in entry.variants:
        raise SystemExit(f"{name} has no variant {variant!r}; it has {', '.join(entry.variants)}")
    return entry, variant, rnnzoo.Recurrent(name, H_in, H, **entry.variants[variant])


def run_once(module, x, inference: bool):
    if inference:
        with torch.inference_mode():
            module(x)
    else:
        module.zero_grad(set_to_none=True)
        out, state = module(x)
        states = state if isinstance(state, tuple) else (state,)
        (out.sum() + sum(s.sum() for s in states)).backward()


def profile(label, module, x, inference: bool, top: int, steps: int):
    module.train(not inference)
    for _ in range(2):
        run_once(module, x, inference)
    start = time.perf_counter()
    run_once(module, x, inference)
    wall = time.perf_counter() - start
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        run_once(module, x, inference)
    events = [e for e in prof.key_averages() if e.key.startswith("aten::")]
    calls = sum(e.count for e in events)  # nested calls (an op calling another) counted too
    leaf = [e for e in events if not e.key.startswith(("aten::empty", "aten::as_strided", "aten::view",
                                                      "aten::unbind", "aten::select", "aten::slice",
                                                      "aten::t", "aten::transpose", "aten::expand",
                                                      "aten::resize_", "aten::unflatten", "aten::alias"))]
    kernels = sum(e.count for e in leaf)
    print(f"\n{label}: {wall * 1e3:.2f} ms unprofiled = {wall / steps * 1e6:.1f} us per step; "
          f"{calls / steps:.1f} ATen calls per step ({kernels / steps:.1f} computing, the rest views and "
          f"allocations)")
    total = sum(e.self_cpu_time_total for e in events) or 1
    for e in sorted(events, key=lambda e: -e.self_cpu_time_total)[:top]:
        print(f"  {e.key:32s} {e.count / steps:6.2f} calls/step  {e.self_cpu_time_total / e.count:8.2f} us/call "
              f"{100 * e.self_cpu_time_total / total:5.1f}% of ATen self time")
    return wall


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="registry name[:variant], e.g. lstm:peephole (see 'rnnzoo models')")
    p.add_argument("--inference", action="store_true", help="forward only under inference_mode (default "
                   "size 1,1000,128,128)")
    p.add_argument("--size", default=None, help="N,L,H_in,H (default 64,100,128,256; --inference 1,1000,128,128)")
    p.add_argument("--path", choices=["default", "native", "engine", "loop"], default="default",
                   help="force the generic path onto the engine's compiled kernels, the engine in Python or the "
                        "loop (default: what auto picks; the compiled kernels are built first)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--top", type=int, default=8, help="ops to list (default 8)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    size = args.size or ("1,1000,128,128" if args.inference else "64,100,128,256")
    N, L, H_in, H = (int(v) for v in size.split(","))
    entry, variant, layer = build(args.config, H_in, H)
    if args.path == "engine":
        os.environ["RNNZOO_NATIVE"] = "0"  # the engines in Python
    else:
        try:
            native.build()
        except RuntimeError as error:
            print(f"native kernels: {error}", file=sys.stderr)
    if args.path != "default":
        layer.fused = False
        layer.engine = {"native": "native", "engine": "fast", "loop": "loop"}[args.path]
    x = torch.randn(L, N, H_in)
    mode = "inference" if args.inference else "training (forward + backward)"
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {mode}, N={N} L={L} H_in={H_in} H={H}")
    base_name = entry.torch_counterpart or "lstm"
    base = profile(f"nn.{BASELINES[base_name].__name__}", BASELINES[base_name](H_in, H), x, args.inference,
                   args.top, L)
    path = layer.path(backward=not args.inference)
    ours = profile(f"{entry.name}:{variant} ({path})", layer, x, args.inference, args.top, L)
    print(f"\nratio nn.{BASELINES[base_name].__name__} / {entry.name}:{variant} = {base / ours:.2f}x")


if __name__ == "__main__":
    main()
