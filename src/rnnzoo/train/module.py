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
        self._sums: dict[str, float] = {}
        # wall-clock seconds spent in training epochs, validation excluded (checkpointed, so a
        # resumed run keeps counting): config.json reports it, and throughput benchmarks read it
        self.train_seconds, self._epoch_started = 0.0, None

    def forward(self, *args, **kwargs):
        return self.model(*args, **kwargs)

    def on_train_epoch_start(self):
        self.carry = None
        self._epoch_started = time.perf_counter()

    def _stop_clock(self):
        if self._epoch_started is not None:
            self.train_seconds += time.perf_counter() - self._epoch_started
            self._epoch_started = None

    def on_train_epoch_end(self):
        self._stop_clock()  # when no validation ran at the end of this epoch

    def on_save_checkpoint(self, checkpoint):
        checkpoint["rnnzoo_train_seconds"] = self.train_seconds

    def on_load_checkpoint(self, checkpoint):
        self.train_seconds = float(checkpoint.get("rnnzoo_train_seconds", 0.0))

    def training_step(self, batch, batch_idx):
        loss, sums, self.carry = self.task.step(self.model, batch, self.carry)
        n = sums.get("count", 1)
        self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=True, batch_size=n)
        for key, value in self.task.metrics_from_sums(sums).items():
            if key != "loss":  # logged above, from the differentiable loss
                self.log(f"train_{key}", value, prog_bar=True, on_step=False, on_epoch=True, batch_size=n)
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

    def configure_optimizers(self):
        opt = torch.optim.Adam(self.model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        if self.lr_schedule == "none":
            return opt
        if self.lr_schedule == "cosine":
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, self.epochs))
            return {"optimizer": opt, "lr_scheduler": sched}
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            opt, mode=self.task.mode, factor=0.5, patience=1)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "monitor": self.task.monitor}}


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
