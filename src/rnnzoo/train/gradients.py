"""`rnnzoo train ... --log-gradients [K]`: the vanishing gradient watched while a model trains.

Every K training steps `GradientLogger` takes the input the model's recurrent layer (its first
`rnnzoo.Recurrent`) got in that step's forward pass, after any embedding, and measures on it, with the
weights that step computed its gradient with (after backward, before the optimizer step),
`rnnzoo.diagnose.gradient_norms`: ||dL/dh_t|| of the layer's first cell, averaged over the batch, by
distance L - t from a loss at the last step. The loss is diagnose's fixed random linear readout of the
layer's last output (not the task's loss), so the figure says how far the layer itself carries a gradient
on real inputs, comparable from step to step. It runs its own per-step loop with torch.autograd.grad, so
the training's gradients, random numbers and results are untouched.

Logged (TensorBoard and metrics.csv, at the step measured): grad_norm/distance_D for D = 0, 1, 10,
100, ... below the batch's length and the farthest, L - 1, and grad_norm/slope, decay_slope's log10
change per step. Cost: one more forward and backward of the recurrent layer alone, on the per-step loop,
every K steps (measured: `rnnzoo train TASK --help`, --log-gradients). A stateful task's carried state
(charlm's) is left out: the measurement starts from zeros.
"""

from __future__ import annotations

import math

import lightning as L
import torch


def find_recurrent(model):
    """The model's first rnnzoo.Recurrent submodule, or a ValueError saying there is none."""
    from ..diagnose import recurrent_layer
    return recurrent_layer(model, "--log-gradients")


class GradientLogger(L.Callback):
    """Logs per-distance gradient norms of `find_recurrent(model)` every `every` training steps."""

    def __init__(self, every: int, seed: int = 0):
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"--log-gradients: the interval must be an int >= 1, got {every!r}")
        self.every, self.seed = every, seed
        self._layer, self._handle, self._call, self._step = None, None, None, None

    def setup(self, trainer, pl_module, stage):
        self._layer = find_recurrent(pl_module.model)
        self._handle = self._layer.register_forward_pre_hook(self._capture, with_kwargs=True)

    def teardown(self, trainer, pl_module, stage):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    def _capture(self, module, inputs, kwargs):
        if self._step is not None and self._call is None and module.training:  # the step's first call
            self._call = (inputs, kwargs)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self._call = None
        due = trainer.is_global_zero and trainer.global_step % self.every == 0
        self._step = trainer.global_step if due else None

    def on_after_backward(self, trainer, pl_module):
        if self._step is None or self._call is None:
            return
        metrics = self.measure(*self._call)
        self._step, self._call = None, None
        if metrics:
            for logger in trainer.loggers:
                logger.log_metrics(metrics, trainer.global_step)

    def measure(self, inputs, kwargs) -> dict[str, float]:
        """{"grad_norm/distance_D": norm, ..., "grad_norm/slope": slope} for the captured call."""
        from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

        from ..diagnose import gradient_norms, table_distances
        x = inputs[0] if inputs else kwargs.get("x")
        lengths = kwargs.get("lengths", inputs[2] if len(inputs) > 2 else None)
        extra = {k: v.detach() for k, v in kwargs.items() if k not in ("x", "state", "lengths")}
        if isinstance(x, PackedSequence):
            x, lengths = pad_packed_sequence(x, batch_first=self._layer.batch_first)
        if not isinstance(x, torch.Tensor):
            return {}
        g = gradient_norms(self._layer, x.detach(), lengths=lengths, seed=self.seed, **extra)
        out = {f"grad_norm/distance_{d}": float(g.norm[d]) for d in [0, *table_distances(len(g.distance))]}
        out = {k: v for k, v in out.items() if math.isfinite(v)}
        slope = g.slope()
        if math.isfinite(slope):
            out["grad_norm/slope"] = slope
        return out
