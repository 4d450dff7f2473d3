"""The LightningModule every task trains through, and the callback that writes safe model files.

Lightning runs the loop (progress bar, validation, early stopping, gradient clipping, LR schedule,
logging, checkpoints, DDP); a task supplies the data and the per-batch maths (`rnnzoo.train.tasks`).
"""

from __future__ import annotations

import time

import lightning as L
import torch

from . import run as rundir


class TaskModule(L.LightningModule):
    """Wraps a task's model; the task computes loss and metric sums per batch from the bare model.

    The module keeps the state a stateful task carries between batches (`Task.step`'s carry) and
    starts it afresh at every training epoch and validation pass. Validation metrics are sums over
    the whole validation set divided at the end (not means of batch means), so `rnnzoo evaluate` on
    the saved model reproduces the logged figure exactly.
    """

    def __init__(self, task, model, lr: float = 1e-3, weight_decay: float = 0.0,
                 lr_schedule: str = "plateau", epochs: int = 10):
        super().__init__()
        self.task, self.model = task, model
        self.lr, self.weight_decay, self.lr_schedule, self.epochs = lr, weight_decay, lr_schedule, epochs
        self.carry = None  # what the last batch handed on (stateful truncated-BPTT tasks; else None)
        self._sums: dict[str, float] = {}  # validation sums
        self._train_sums: dict[str, float] = {}  # this training epoch's sums, "loss" weighted by count
        self._schedule, self._schedule_state, self._scheduled_epoch = None, None, None
        self.batches_done = 0  # from a mid-epoch checkpoint: the batches its epoch had trained on
        # wall-clock seconds spent in training epochs, validation excluded (checkpointed, so a
        # resumed run keeps counting): config.json reports it, and throughput benchmarks read it
        self.train_seconds, self._epoch_started = 0.0, None

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def on_train_epoch_start(self):
        self.carry, self._train_sums = None, {}
        self._epoch_started = time.perf_counter()

    def _stop_clock(self):
        if self._epoch_started is not None:
            self.train_seconds += time.perf_counter() - self._epoch_started
            self._epoch_started = None

    def on_save_checkpoint(self, checkpoint):
        checkpoint["rnnzoo_train_seconds"] = self.train_seconds
        batches = self.trainer.fit_loop.epoch_loop.batch_progress
        # batches of the current epoch already trained on, when saved mid-epoch (records.ResumableLoader)
        checkpoint["rnnzoo_batches_done"] = 0 if batches.is_last_batch else batches.current.processed
        # and what the epoch so far has summed and carried, which a mid-epoch resume goes on from
        checkpoint["rnnzoo_train_sums"], checkpoint["rnnzoo_carry"] = dict(self._train_sums), self.carry
        if self._schedule is not None:
            checkpoint["rnnzoo_lr_schedule"] = {"state": self._schedule.state_dict(), "epoch": self._scheduled_epoch}

    def on_load_checkpoint(self, checkpoint):
        self.train_seconds = float(checkpoint.get("rnnzoo_train_seconds", 0.0))
        self._schedule_state = checkpoint.get("rnnzoo_lr_schedule")  # applied once the schedule exists
        self.batches_done = int(checkpoint.get("rnnzoo_batches_done", 0))
        self._train_sums = dict(checkpoint.get("rnnzoo_train_sums", {}))
        self.carry = checkpoint.get("rnnzoo_carry")

    def training_step(self, batch, batch_idx):
        loss, sums, self.carry = self.task.step(self.model, batch, self.carry)
        n = sums.get("count", 1)
        self.log("train_loss_step", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=n, logger=False)
        if (self.global_step + 1) % self.trainer.log_every_n_steps == 0:
            # the step's row goes to the loggers now, not after on_train_batch_end as Lightning's would,
            # so it is on disk before a checkpoint taken at this step (records.RunCheckpoint)
            for logger in self.loggers:
                logger.log_metrics({"train_loss_step": float(loss.detach()), "epoch": self.current_epoch},
                                   self.global_step)
        self._train_sums["loss"] = self._train_sums.get("loss", 0.0) + float(loss.detach()) * n
        for key, value in sums.items():
            self._train_sums[key] = self._train_sums.get(key, 0.0) + float(value)
        return loss

    def on_validation_epoch_start(self):
        if not self.trainer.sanity_checking:
            self._stop_clock()
        self._sums, self.carry = {}, None

    def validation_step(self, batch, batch_idx):
        _, sums, self.carry = self.task.step(self.model, batch, self.carry)
        for key, value in sums.items():
            self._sums[key] = self._sums.get(key, 0.0) + float(value)

    def on_validation_epoch_end(self):
        # every process validates on the whole set with the same (synchronised) weights, so each
        # holds the same figures; logging them on every rank keeps early stopping in step
        for key, value in self.task.metrics_from_sums(self._sums).items():
            self.log(f"val_{key}", value, prog_bar=True)
        self.carry = None
        # the training epoch's figures (this process's batches), logged here, with validation at the
        # epoch's end, so that they are on record before the epoch's checkpoint (records.RunCheckpoint)
        n = self._train_sums.get("count", 0)
        if n and not self.trainer.sanity_checking:
            self.log("train_loss_epoch", self._train_sums["loss"] / n)
            for key, value in self.task.metrics_from_sums(self._train_sums).items():
                if key != "loss":
                    self.log(f"train_{key}", value, prog_bar=True)

    def on_train_epoch_end(self):
        """Step the epoch's LR schedule here, before the epoch's checkpoint is written (Lightning's own
        stepping comes after it, and a resume would miss that step)."""
        self._stop_clock()  # when no validation ran at the end of this epoch
        if self._schedule is None or self._scheduled_epoch == self.current_epoch:
            return
        if isinstance(self._schedule, torch.optim.lr_scheduler.ReduceLROnPlateau):
            value = self.trainer.callback_metrics.get(self.task.monitor)
            if value is None:
                return  # no validation this epoch (stopped by --max-time)
            self._schedule.step(float(value))
        else:
            self._schedule.step()
        self._scheduled_epoch = self.current_epoch

    def configure_optimizers(self):
        """Adam; the LR schedule is the module's own, stepped in on_train_epoch_end (see there) and kept
        in the checkpoint under "rnnzoo_lr_schedule"."""
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.lr_schedule == "cosine":
            self._schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.epochs))
        elif self.lr_schedule == "plateau":
            self._schedule = torch.optim.lr_scheduler.ReduceLROnPlateau(
                opt, mode=self.task.mode, factor=0.5, patience=1)
        if self._schedule is not None and self._schedule_state is not None:
            self._schedule.load_state_dict(self._schedule_state["state"])
            self._scheduled_epoch = self._schedule_state["epoch"]
        return opt


class SafetensorsExport(L.Callback):
    """Keep model.safetensors = the best weights so far and last.safetensors = the latest.

    Only hashes are kept in memory; config.json (with the hashes) is written by `fit` at the end, so
    an interrupted run has no config.json and never looks complete.
    """

    def __init__(self, run_dir, monitor: str, mode: str):
        self.run_dir, self.monitor, self.mode = run_dir, monitor, mode
        self.best = None
        self.hashes: dict[str, str] = {}

    def on_validation_end(self, trainer, pl_module):
        if trainer.sanity_checking or not trainer.is_global_zero:
            return
        value = trainer.callback_metrics.get(self.monitor)
        if value is None:
            return
        value = float(value)
        better = self.best is None or (value < self.best if self.mode == "min" else value > self.best)
        if better:
            self.best = value
            self.hashes[rundir.BEST] = rundir.save_weights(self.run_dir / rundir.BEST, pl_module.model)

    def on_train_end(self, trainer, pl_module):
        if trainer.is_global_zero:
            self.hashes[rundir.LAST] = rundir.save_weights(self.run_dir / rundir.LAST, pl_module.model)

    def state_dict(self):  # so --resume knows the best value and files so far
        return {"best": self.best, "hashes": dict(self.hashes)}

    def load_state_dict(self, state):
        self.best, self.hashes = state["best"], dict(state["hashes"])
