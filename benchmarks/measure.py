"""Timing and memory measures shared by the speed benchmarks (benchmarks/cells.py): paired medians of
wall time, the activation memory one training forward saves, and the peak resident memory of one step."""
from __future__ import annotations

import os
import statistics
import time

import torch


def loss_of(out, state) -> torch.Tensor:
    states = state if isinstance(state, tuple) else (state,)
    return out.sum() + sum(s.sum() for s in states)


def saved_mb(module, x) -> float:
    """MB of distinct storages that one training forward saves for backward (activation memory)."""
    sizes = {}

    def pack(t):
        storage = t.untyped_storage()
        sizes[storage.data_ptr()] = max(sizes.get(storage.data_ptr(), 0), storage.nbytes())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x)
    return sum(sizes.values()) / 2**20


def _vm(field: str) -> int:
    """A VmRSS / VmHWM figure of this process in kB (Linux /proc/self/status)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"no {field} in /proc/self/status")


def peak_mb(train, repeats: int = 3) -> float | None:
    """Peak resident-memory growth (MB) during one call of train() (forward + backward, gradients
    allocated), after a warm-up call: Linux's high-water mark VmHWM, reset to the current RSS
    through /proc/self/clear_refs after freed memory went back to the OS (glibc malloc_trim).
    The least of `repeats` calls: the allocator's fragmentation only ever adds to the live peak
    (single calls of the same step vary by up to 40%). None where the kernel offers no reset."""
    import ctypes
    import gc
    train()
    peaks = []
    for _ in range(repeats):
        gc.collect()
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            base = _vm("VmRSS")
        except OSError:
            return None
        train()
        peaks.append((_vm("VmHWM") - base) / 1024)
    return min(peaks)


def time_paired(fns: dict, repeats: int, warmup: int) -> dict:
    """{name: median wall time in ms} of several functions run in turn within each repeat, so that a
    slow spell of a shared machine hits the row and its baselines alike (their ratio is what counts)."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) * 1e3 for name, t in times.items()}


def train_step(module, x):
    def train():
        module.zero_grad(set_to_none=True)
        loss_of(*module(x)).backward()
    return train


def forward_step(module, x, inference: bool):
    if not inference:
        return lambda: module(x)

    def forward():
        with torch.inference_mode():
            module(x)
    return forward


def measure(module, x, args, baselines=None) -> dict:
    """fwd_ms, train_ms, peak_mb and saved_mb (training) or fwd_ms alone (--inference) of module on x.
    baselines {kind: (module, x)}: timed in turn with the row (`time_paired`); their times for this
    row go to result["paired"][kind]."""
    baselines = baselines or {}
    modules = {"row": (module, x), **baselines}
    for m, _ in modules.values():
        m.train(not args.inference)
    result, paired = {}, {kind: {} for kind in baselines}
    keys = [("fwd_ms", lambda m, v: forward_step(m, v, args.inference))]
    if not (args.inference or args.forward_only):
        keys.append(("train_ms", train_step))
    for key, make in keys:
        times = time_paired({name: make(m, v) for name, (m, v) in modules.items()}, args.repeats, args.warmup)
        result[key] = times.pop("row")
        for kind, t in times.items():
            paired[kind][key] = t
    if baselines:
        result["paired"] = paired
    if not (args.inference or args.forward_only or args.no_memory):
        train = train_step(module, x)
        result["peak_mb"] = peak_mb(train)
        module.zero_grad(set_to_none=True)
        result["saved_mb"] = saved_mb(module, x)
    return result


def command_env(extra: dict | None = None) -> dict:
    """The environment a user's `rnnzoo` command starts with (the benchmarks that run it in a fresh process):
    this one without the OpenMP and thread variables a benchmark may have set, then `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    return {**env, **(extra or {})}
