"""ThreadProbe: the Lightning callback that carries out the thread policy (`rnnzoo.threads`) in training.

In each process, after Lightning's DDP launcher has set its own share, it sets torch's intra-op threads to the
run's `Choice`. Where the choice says probe (`--threads auto`, one process, more than one thread worth
having), it times training steps with that many threads and with one, in interleaved windows (the first step
of a window, which pays for the switch, is not counted), keeps the faster (`threads.pick`), and does it again
after RECHECK_SECONDS of training (or COST_RATIO times the timing's length), so a run that starts on an idle
machine and then shares it (or the other way round) follows. Batches may differ in size (sentiment's are
bucketed by length, from a few words to 400), so each step's time is divided by its batch's size (the elements
of its first tensor) before the candidates are compared. What it found goes into config.json (`Choice.probes`:
milliseconds a step at the timing's mean batch size), and a line is printed when the kept number changes.

Changing the thread count between steps changes no result here: oneDNN's and MKL's products split the
work by rows, not by the summed dimension (a 2x256 LSTM's outputs and gradients are bitwise equal at
one and two threads; tests/test_threads.py checks a training step).
"""

from __future__ import annotations

import statistics
import time

import torch
from lightning.pytorch.callbacks import Callback

from ..threads import RECHECK_SECONDS, Choice, pick

MAX_RECORDS = 50  # probes kept in config.json: the first and the latest
# the wait before the next timing is at least this many times the last timing's length: half a timing runs
# the slower count, so this bounds its cost near 2.5% (a 2x384 LSTM's timing takes 7 s: the next in 2 min)
COST_RATIO = 20


class ThreadProbe(Callback):
    """Apply `choice` in every training process; time and re-time it against one thread if it says so.

    Args:
        choice: the decision from `rnnzoo.threads.choose`.
        warmup: steps run before the first timing (allocation and caches settle).
        window: steps per candidate and round; the first of each is not counted.
        rounds: windows per candidate in one timing, alternating which goes first.
        recheck: seconds of training between timings, at least; at least COST_RATIO times as long as the
            last timing took, so that timing costs a few percent even where a step takes seconds.
        clock: the timer (tests pass a fake one).
    """

    def __init__(self, choice: Choice, warmup: int = 3, window: int = 3, rounds: int = 2,
                 recheck: float = RECHECK_SECONDS, clock=time.perf_counter):
        self.choice, self.warmup, self.window, self.rounds = choice, warmup, window, rounds
        self.recheck, self.clock = recheck, clock
        self.current = choice.threads
        self._plan: list[tuple[int, bool]] = []  # (threads, counted) for each step of a timing under way
        self._times: dict[int, list[float]] = {}  # threads -> seconds per batch element, each counted step
        self._sizes: list[int] = []  # the counted steps' batch sizes
        self._steps, self._last_probe, self._started, self._size, self._before = 0, None, None, 1, None
        self._probe_started, self._wait = None, recheck  # when the timing under way began; the next wait

    # -- where the threads are set and restored

    def setup(self, trainer, pl_module, stage):
        self._before = torch.get_num_threads()
        self._set(self.choice.threads)

    def teardown(self, trainer, pl_module, stage):
        if self._before is not None and self.choice.threads:
            torch.set_num_threads(self._before)

    def _set(self, n: int):
        if n and torch.get_num_threads() != n:
            torch.set_num_threads(n)

    # -- the timing

    def _due(self) -> bool:
        if not self.choice.probe or self._steps < self.warmup:
            return False
        return self._last_probe is None or self.clock() - self._last_probe >= self._wait

    def schedule(self) -> list[tuple[int, bool]]:
        """One timing's steps: (threads, counted), windows of each candidate, alternating the order."""
        candidates = [self.choice.threads, 1]
        plan = []
        for r in range(self.rounds):
            for n in (candidates if r % 2 == 0 else candidates[::-1]):
                plan += [(n, False)] + [(n, True)] * (self.window - 1)
        return plan

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if not self._plan and self._due():
            self._plan, self._times, self._sizes = self.schedule(), {}, []
            self._probe_started = self.clock()
        if self._plan:
            self._set(self._plan[0][0])
            self._size = batch_size(batch)
        self._started = self.clock()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        elapsed = self.clock() - self._started
        self._steps += 1
        if not self._plan:
            return
        n, counted = self._plan.pop(0)
        if counted:
            self._times.setdefault(n, []).append(elapsed / self._size)
            self._sizes.append(self._size)
        if not self._plan:
            self._decide(trainer)

    def _decide(self, trainer):
        kept = pick(self._times)
        mean = statistics.mean(self._sizes)
        ms = {str(n): round(1e3 * mean * statistics.median(t), 2) for n, t in sorted(self._times.items())}
        first = not self.choice.probes
        self.choice.probes.append({"step": int(trainer.global_step), "ms_per_step": ms, "kept": kept})
        if len(self.choice.probes) > MAX_RECORDS:
            del self.choice.probes[1]
        if first or kept != self.current:
            timing = ", ".join(f"{n} thread{'s' if n != '1' else ''} {v:g} ms" for n, v in ms.items())
            say = getattr(trainer.progress_bar_callback, "print", print) if trainer.is_global_zero else None
            if say:
                say(f"threads: {kept} (timed at step {trainer.global_step}: {timing} a step)")
        self.current = kept
        self._set(kept)
        self._last_probe = self.clock()
        self._wait = max(self.recheck, COST_RATIO * (self._last_probe - self._probe_started))


def batch_size(batch) -> int:
    """The elements of the first tensor in a batch (a tensor, or tuples, lists and dicts of them); 1 if none."""
    def first(item):
        if isinstance(item, torch.Tensor):
            return item
        items = item.values() if isinstance(item, dict) else item if isinstance(item, (tuple, list)) else ()
        return next((t for t in map(first, items) if t is not None), None)
    tensor = first(batch)
    return 1 if tensor is None else max(1, tensor.numel())
