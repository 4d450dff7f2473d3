"""What a run keeps on disk while it trains, so that a kill at any moment loses nothing that --resume
cannot redo: the checkpoint (checkpoints/last.ckpt) and the metrics (metrics.csv).

Lightning behaviours worked around here, each measured with lightning 2.6 (tests/test_resume.py
kills runs at several points and compares them with uninterrupted ones):
- Lightning's CSVLogger deletes metrics.csv when it starts; `RunCSVLogger` continues the file on
  resume instead, keeping exactly the rows logged before the checkpoint (their `step` is below the
  checkpoint's global step), and writes each row as it comes, so after any number of kills and
  resumes every row is there once.
- The epoch-end checkpoint is written in on_train_epoch_end, before Lightning logs the epoch's
  training figures and steps the epoch's LR schedule; on a restart it repeats neither, so a resumed
  run lost a plateau step and a row. TaskModule therefore logs the epoch's training figures with the
  validation ones and steps its own LR schedule in its on_train_epoch_end, which runs before
  `RunCheckpoint` (a `Checkpoint`: Lightning calls those last, after early stopping too).
- ModelCheckpoint writes the file in place; `RunCheckpoint` writes a temporary file and renames it,
  so last.ckpt is whole or absent.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from lightning.pytorch.callbacks import Checkpoint
from lightning.pytorch.loggers import CSVLogger

from .run import LAST_CKPT, RunError

STEPS_BETWEEN = 100  # also a checkpoint every this many optimizer steps, for long epochs


class RunCheckpoint(Checkpoint):
    """checkpoints/last.ckpt at the end of every epoch and every `every_n_steps` optimizer steps.

    A mid-epoch checkpoint resumes at that step with the epoch's batches in a fresh order (Lightning
    restarts the epoch's data), so only an epoch-end resume is the same run as an uninterrupted one.
    """

    def __init__(self, dirpath, every_n_steps: int = STEPS_BETWEEN):
        self.path = Path(dirpath) / LAST_CKPT
        self.every_n_steps = every_n_steps
        self._saved_at = None  # the global step of the last checkpoint this process wrote or loaded

    def on_train_start(self, trainer, pl_module):
        self._saved_at = trainer.global_step  # nothing new yet: a resumed run starts where its checkpoint is

    def on_train_epoch_end(self, trainer, pl_module):
        self._save(trainer)  # after TaskModule's own hook (schedule stepped) and after early stopping

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if self.every_n_steps and trainer.global_step % self.every_n_steps == 0:
            self._save(trainer)

    def on_train_end(self, trainer, pl_module):
        self._save(trainer)

    def _save(self, trainer):
        if trainer.global_step == self._saved_at:
            return
        for logger in trainer.loggers:  # rows up to this step are on disk before the checkpoint says so
            logger.save()
        tmp = self.path.with_name(f".{LAST_CKPT}.tmp")
        trainer.save_checkpoint(tmp, weights_only=False)  # all the state; every process calls it (DDP)
        if trainer.is_global_zero:
            os.replace(tmp, self.path)
        self._saved_at = trainer.global_step


class RunCSVLogger(CSVLogger):
    """Lightning's CSV logger writing RUN_DIR/metrics.csv, continued on resume.

    resume_step: the global step of the checkpoint a resumed run starts from (None for a fresh run):
    the rows already in metrics.csv with a smaller `step` are kept, later ones (logged after the
    checkpoint, before the kill) are dropped, since the resumed run logs those steps again.
    """

    def __init__(self, run_dir, resume_step: int | None = None):
        super().__init__(run_dir, name="", version="")
        self._kept = None
        path = Path(run_dir) / "metrics.csv"
        if resume_step is not None and path.is_file():
            try:
                with open(path, newline="", encoding="utf-8") as f:
                    self._kept = [row for row in csv.DictReader(f) if _step(row) < resume_step]
            except (UnicodeDecodeError, csv.Error) as e:
                raise RunError(f"{path} is damaged ({e}): --resume keeps its rows up to the checkpoint; "
                               "delete it to resume without them") from None

    @property
    def experiment(self):
        fresh = self._experiment is None
        writer = super().experiment  # Lightning's writer deletes metrics.csv when it is made
        if fresh and self._kept and hasattr(writer, "metrics_file_path"):  # (other DDP ranks: a dummy)
            writer.metrics_keys = sorted({key for row in self._kept for key in row})
            with open(writer.metrics_file_path, "w", newline="", encoding="utf-8") as f:
                out = csv.DictWriter(f, fieldnames=writer.metrics_keys)
                out.writeheader()
                out.writerows(self._kept)
        return writer

    def log_metrics(self, metrics, step=None):
        super().log_metrics(metrics, step)
        self.save()  # a row a step: a kill loses no row that the checkpoint has passed


def _step(row: dict) -> int:
    try:
        return int(float(row.get("step") or 0))
    except (ValueError, OverflowError):  # OverflowError: inf
        return 0


class ResumableLoader:
    """A training DataLoader that a mid-epoch checkpoint can continue: after a restore it skips the
    batches the epoch had already trained on, so the rest of the epoch sees the batches an
    uninterrupted run would (Lightning restores the step count mid-epoch but starts the loader anew).

    owner: the TaskModule, whose `batches_done` comes from the checkpoint (used once, then zeroed).
    Everything else (len, sampler for set_epoch, batch_size, ...) is the wrapped loader's.
    """

    def __init__(self, loader, owner):
        self.loader, self.owner = loader, owner

    def __iter__(self):
        return self._batches()  # a generator: Lightning's probing iter() (never advanced) skips nothing

    def _batches(self):
        skip, self.owner.batches_done = self.owner.batches_done, 0
        batches = iter(self.loader)
        for _ in range(skip):
            next(batches, None)
        yield from batches

    def __len__(self):
        return len(self.loader)

    def __getattr__(self, name):  # sampler / batch_sampler (Lightning calls set_epoch on them), dataset, ...
        return getattr(self.loader, name)
