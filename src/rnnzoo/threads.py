"""How many threads a model runs on: the policy behind `--threads auto`, every command's default.

Why a policy: torch starts one intra-op thread per core. Measured on the 2-core CI machine, a second
thread trains the README's 2x256 character LSTM 1.7x faster, brings a 16-unit GRU nothing, and, when
another process holds a core, makes that GRU train 5x slower (and text generation 4x slower): torch's
OpenMP threads spin at every operation waiting for a thread the scheduler has parked. No fixed setting
is right, so `auto` decides per model and per machine:

1. Work per time step: multiply-adds = batch x the model's weights (embedding tables excluded, as a
   lookup multiplies nothing). One thread per WORK_PER_THREAD of it, at least one, at most the cores this
   process has (under DDP, the cores divided among the processes). A second thread starts to pay at
   about 1 M multiply-adds a step (LSTM, GRU, Elman, Jordan layers, N = 1-128, H = 16-512, in training,
   two threads took 0.85-1.2x the time of one at 0.25 M, 0.65-1.0x at 1 M, 0.55-0.85x at 3-4 M:
   `python benchmarks/threads.py --crossover`).
2. In training, when step 1 gives more than one thread, the first steps are timed with that many and
   with one, and the faster is kept (fewer threads unless more are PROBE_MARGIN faster); the timing is
   repeated every RECHECK_SECONDS (or 20x as long as the timing took), so a run follows a machine that
   becomes busy or idle (`rnnzoo.train.thread_probe`). Under DDP the processes keep step 1's share (their steps wait for
   each other, so one process's timing says little).
3. The OpenMP runtime of torch's Linux wheels (GNU libgomp) spins 300,000 times before a waiting thread
   sleeps. The `rnnzoo` command sets GOMP_SPINCOUNT=1000 (SPIN_COUNT) before torch starts (libgomp reads it
   once, when torch loads it): measured, the 2x256 LSTM trains as fast as at libgomp's default when the
   machine is idle (8.0 against 7.6 steps/s) and 1.4-1.6x faster when a core is taken (3.6 against
   2.3-2.6), where OMP_WAIT_POLICY=PASSIVE (no spinning) costs 27% idle. A value the user set for
   GOMP_SPINCOUNT or OMP_WAIT_POLICY is kept; a library user's process is left as it is.

An explicit `--threads N` is obeyed everywhere as given; `--threads 0` leaves torch's default. The data
loaders run in the training process (no worker processes): every task's batches are slices of tensors
already in memory, and a worker would take a core from the model.

`benchmarks/threads.py` measures all of this against fixed settings.

Example:
    >>> choose("auto", work=50_000, cores=2).threads          # a 16-unit GRU, batch 32
    1
    >>> choose("auto", work=26_000_000, cores=2).threads      # a 2x256 LSTM, batch 32
    2
    >>> choose(3, work=50_000, cores=2).threads               # as given
    3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
from dataclasses import asdict, dataclass, field

WORK_PER_THREAD = 500_000  # multiply-adds per time step that one more thread needs to pay for itself
PROBE_MARGIN = 0.05  # more threads are kept only when they are this much faster
RECHECK_SECONDS = 30.0  # the timing is repeated this often in training, at the least
SPIN_COUNT = "1000"  # GOMP_SPINCOUNT for the rnnzoo command
LOADER_WORKERS = 0  # the tasks' batches are slices of in-memory tensors: no worker processes

# what configure_openmp found or did, for the run's config.json
_openmp: dict = {"GOMP_SPINCOUNT": None, "set_by": "not the rnnzoo command"}


def is_rnnzoo_command(orig_argv: list[str]) -> bool:
    """Whether this process is the `rnnzoo` command (its console script, or `python -m rnnzoo`)."""
    args = iter(orig_argv[1:])  # the interpreter's options, then the script or -m MODULE or -c CODE
    for arg in args:
        if arg == "-m":
            return next(args, None) == "rnnzoo"
        if arg in ("-X", "-W"):  # options that take a value
            next(args, None)
        elif arg == "-c" or not arg.startswith("-"):
            return arg != "-c" and os.path.basename(arg) in ("rnnzoo", "rnnzoo.exe", "rnnzoo-script.py")
    return False


def configure_openmp(orig_argv=None, environ=None, modules=None) -> dict:
    """Set GOMP_SPINCOUNT=SPIN_COUNT for the rnnzoo command, before torch (and with it libgomp) loads.

    Does nothing in another program that imports rnnzoo, when torch is already imported (too late:
    libgomp has read its settings), or when the user set GOMP_SPINCOUNT or OMP_WAIT_POLICY. Returns
    what it found or did, which the run's config.json records."""
    orig_argv = getattr(sys, "orig_argv", sys.argv) if orig_argv is None else orig_argv
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    for name in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY"):
        if name in environ:
            _openmp.update({"GOMP_SPINCOUNT": environ.get("GOMP_SPINCOUNT"), "set_by": f"the user ({name})"})
            return dict(_openmp)
    if not is_rnnzoo_command(orig_argv):
        return dict(_openmp)
    if "torch" in modules:
        _openmp.update(set_by="nobody: torch was imported before rnnzoo")
        return dict(_openmp)
    environ["GOMP_SPINCOUNT"] = SPIN_COUNT  # inherited by DDP's processes too
    _openmp.update({"GOMP_SPINCOUNT": SPIN_COUNT, "set_by": "rnnzoo"})
    return dict(_openmp)


def openmp_setting() -> dict:
    """What `configure_openmp` found or did in this process."""
    return dict(_openmp)


def cores() -> int:
    """The CPUs this process may run on (its affinity mask, which containers and taskset narrow)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def setting(text):
    """An argparse `type=` for --threads: "auto", or a whole number >= 0 (0: torch's default)."""
    value = None
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    elif isinstance(text, str) and text.strip().lower() == "auto":
        return "auto"
    elif isinstance(text, str):
        with contextlib.suppress(ValueError):
            value = int(text)
    if value is None:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number >= 0 (0: torch's default), "
                                         f"got {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a whole number >= 0, got {value}")
    return value


setting.__name__ = "threads"


def step_work(model, batch: int) -> int:
    """Multiply-adds in one time step of `model` at `batch` sequences: batch x its weights (parameters
    and floating-point buffers, such as a reservoir's), without embedding tables."""
    import torch
    skip = {id(p) for m in model.modules() if isinstance(m, (torch.nn.Embedding, torch.nn.EmbeddingBag))
            for p in m.parameters()}
    weights = sum(p.numel() for p in model.parameters() if id(p) not in skip)
    weights += sum(b.numel() for b in model.buffers() if b.is_floating_point())
    return int(batch) * weights


@dataclass
class Choice:
    """A thread decision: `threads` for torch, and why (`reason`, one line)."""

    setting: object  # "auto" or the number given
    threads: int  # 0: torch's default left alone
    reason: str
    cores: int
    processes: int = 1
    work: int | None = None  # multiply-adds per time step
    probe: bool = False  # in training, time `threads` against one thread and keep the faster
    probes: list = field(default_factory=list)  # what the timing found (thread_probe)

    def record(self) -> dict:
        """For config.json: the decision, the timing, the OpenMP setting and the loaders' workers."""
        return {**asdict(self), "openmp": openmp_setting(), "loader_workers": LOADER_WORKERS}


def choose(given, work: int | None, cores: int, processes: int = 1) -> Choice:
    """The decision for a setting ("auto", N, or 0) and a model's work per time step (`step_work`)."""
    given = setting(given)
    per_process = max(1, cores // max(1, processes))
    if given == 0:
        return Choice(0, 0, "torch's default (--threads 0)", cores, processes, work)
    if given != "auto":
        return Choice(given, given, f"--threads {given}", cores, processes, work)
    share = f"{per_process} core{'s' if per_process > 1 else ''}" + (
        f" ({cores} shared by {processes} processes)" if processes > 1 else "")
    if per_process == 1:
        return Choice("auto", 1, f"one thread: {share}", cores, processes, work)
    if work is None:  # nothing to estimate from (a closed-form fit): the process's share
        return Choice("auto", per_process, f"{per_process} threads: {share}", cores, processes, work)
    threads = max(1, min(per_process, (work or 0) // WORK_PER_THREAD))
    per_step = f"{(work or 0) / 1e6:.2g} M multiply-adds a step"
    if threads == 1:
        return Choice("auto", 1, f"one thread: {per_step}, below the {2 * WORK_PER_THREAD / 1e6:g} M at "
                      f"which a second pays", cores, processes, work)
    probe = processes == 1
    return Choice("auto", threads, f"{threads} threads of {share}: {per_step}" +
                  ("; timed against one thread while training" if probe else ""), cores, processes, work,
                  probe=probe)


def pick(times: dict[int, list[float]], margin: float = PROBE_MARGIN) -> int:
    """The thread count to keep from step times per count: the fewest threads whose median step is
    within `margin` of the fastest median (more threads must earn their cores)."""
    medians = {n: statistics.median(t) for n, t in times.items() if t}
    if not medians:
        raise ValueError("pick: no step times")
    best = min(medians.values())
    return min(n for n, m in medians.items() if m <= best * (1 + margin))


@contextlib.contextmanager
def applied(choice: Choice):
    """torch's intra-op threads set to the choice for the block, then restored (`cli.main` may run several
    commands in one process, as the tests do, and one command's setting must not leak into the next)."""
    import torch
    before = torch.get_num_threads()
    if choice.threads:
        torch.set_num_threads(choice.threads)
    try:
        yield choice
    finally:
        if choice.threads:
            torch.set_num_threads(before)
