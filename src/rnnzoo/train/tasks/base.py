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
    # closed_form: the model is fitted in one go by `fit_closed_form` (e.g. an echo state network's
    # ridge readout), not trained by Lightning; `rnnzoo train` then refuses the backpropagation options
    closed_form = False
    models: tuple[str, ...] | None = None  # the --model names the task takes; None: the registry's cells
    # defaults for the shared options (train's --hidden, --layers, ...), overridable per task
    defaults = dict(model="lstm", hidden=64, layers=1, epochs=10, batch_size=32, lr=1e-3,
                    clip=1.0, patience=3, dropout=0.0, recurrent_dropout=0.0, io_dropout=0.0,
                    lr_schedule="plateau")

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

    # --- closed-form tasks (closed_form = True) -----------------------------------------------
    def fit_closed_form(self, args, data: dict, run_dir):
        """Fit the model and write its files into run_dir: model.safetensors (rnnzoo.train.run.save_weights),
        metrics.csv and plots/*.png. Returns (model, config entries): "model" (what `build_model`
        takes), "training", "best", "steps", "plots" and "files" ({file name: SHA-256}); `fit` adds
        the rest and writes config.json last."""
        raise NotImplementedError

    def evaluate_run(self, model, config: dict, data_path: str | None, **options) -> dict:
        """Closed-form tasks: the run's figures recomputed from the loaded model and config.json."""
        raise NotImplementedError

    # --- after training -----------------------------------------------------------------------
    def build_model(self, config: dict):
        """The untrained model that config.json describes; `load_run` then loads its weights."""
        from ..model import SequenceModel
        return SequenceModel(**config["model"])

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
