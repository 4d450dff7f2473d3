"""What a task provides to `rnnzoo train`: data, a model config, the per-batch maths, and outputs.

A task is a small class; `rnnzoo.train.tasks.TASKS` lists them, and the CLI iterates that list for
`rnnzoo tasks`, `train TASK`, `evaluate`, `predict` and `generate`.
"""

from __future__ import annotations

import argparse


class Task:
    name = ""
    description = ""
    data_help = ""           # what --data takes, and the default
    monitor = "val_accuracy"  # the validation figure that picks the best model
    mode = "max"
    stateful = False          # carries state across batches (truncated BPTT over a stream)
    pool = "last"             # how SequenceModel reads the recurrent output
    # defaults for the shared options (train's --hidden, --layers, ...), overridable per task
    defaults = dict(model="lstm", hidden=64, layers=1, epochs=10, batch_size=32, lr=1e-3,
                    clip=1.0, patience=3, dropout=0.0, recurrent_dropout=0.0, lr_schedule="plateau")

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        """Task-specific options of `rnnzoo train TASK`."""

    def setup(self, args) -> dict:
        """Load or make the data; return the JSON-able data config (vocabulary, sizes, ...)."""
        raise NotImplementedError

    def model_config(self, args, data: dict) -> dict:
        """Keyword arguments of SequenceModel, from the CLI options and the data config."""
        raise NotImplementedError

    def loaders(self, args, data: dict, rank: int = 0, world: int = 1):
        """(train DataLoader, validation DataLoader) for `setup`'s data.

        With several processes (DDP), process `rank` of `world` gets its own share of the training
        batches, cut so that together they are exactly the batches one process would see with
        `world` times the batch size; every process validates on the whole validation set.
        """
        raise NotImplementedError

    def step(self, module, batch, train: bool):
        """(loss, sums): the batch's mean loss and additive sums that `metrics_from_sums` divides."""
        raise NotImplementedError

    def metrics_from_sums(self, sums: dict) -> dict:
        raise NotImplementedError

    # --- after training -----------------------------------------------------------------------
    def evaluation_loader(self, config: dict, data_path: str | None):
        """The validation loader rebuilt from config.json (and --data when given)."""
        raise NotImplementedError

    def predict(self, model, config: dict, inputs: list[str]) -> list[str]:
        raise ValueError(f"task {self.name!r} has no predict; see 'rnnzoo tasks'")

    def generate(self, model, config: dict, prompt: str, length: int, temperature: float,
                 top_k: int, greedy: bool, seed: int | None) -> str:
        raise ValueError(f"task {self.name!r} does not generate text; see 'rnnzoo tasks'")

    def plot(self, model, config: dict, run_dir) -> list[str]:
        """Write the task's own figure(s) under run_dir/plots; return their names."""
        return []

    def summary(self, model, config: dict, run_dir) -> str:
        """A few lines a person can look at after training (e.g. generated text)."""
        return ""
