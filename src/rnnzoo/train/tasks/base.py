"""What a task provides to `rnnzoo train`: data, a model config, the per-batch maths, and outputs.

A task is a small class; `rnnzoo.train.tasks.TASKS` lists them, and the CLI iterates that list for
`rnnzoo tasks`, `train TASK`, `evaluate`, `predict` and `generate`. A `Task` is trained by gradient
descent (Lightning runs the loop, `Task.step` does one batch); a `ClosedFormTask` fits its model in
one go (`ClosedFormTask.fit`), and the trainer calls that instead.

The task sees the model itself, never a Lightning module: `step` gets the model and the state carried
from the previous batch, so the same code serves training, validation and `rnnzoo evaluate`.
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
    models: tuple[str, ...] | None = None  # the --model names the task takes; None: the registry's cells
    # --model names fitted in closed form by `fit` (as a ClosedFormTask's models) rather than by Lightning
    closed_form_models: tuple[str, ...] = ()
    # --model names of the task's own models that are not registered cells (sst's tree networks), and the
    # common options (dests) they refuse
    structured_models: tuple[str, ...] = ()
    structured_refuses: tuple[str, ...] = ()
    # the task's own options (dests) that apply only to those models, and those that apply only to the others
    closed_form_options: tuple[str, ...] = ()
    backprop_options: tuple[str, ...] = ()
    # the entries of config.json's "data" (what `setup` returned) that reading a run relies on, with their
    # JSON types (int, float, str, dict, bool; a tuple for several, None for null): `read_config` checks them
    data_types: dict = {}
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
        """The task's part of the model config: keyword arguments of `build_model`'s model beyond the
        common options (--model, --hidden, ...), from the CLI options and the data config."""
        raise NotImplementedError

    def loaders(self, args, data: dict, rank: int = 0, world: int = 1):
        """(train DataLoader, validation DataLoader) for `setup`'s data.

        With several processes (DDP), process `rank` of `world` gets its own share of the training
        batches, cut so that together they are exactly the batches one process would see with
        `world` times the batch size; every process validates on the whole validation set.
        """
        raise NotImplementedError

    def step(self, model, batch, carry=None):
        """(loss, sums, carry) of one batch: the batch's mean loss (a tensor, differentiable in
        training), additive sums that `metrics_from_sums` divides, and the state to carry into the
        next batch (stateful tasks: detached; the others: None).

        `model` is the bare model; the caller puts it in training or eval mode and decides on
        gradients, so a task that must tell the two apart reads `model.training`. `carry` is None
        at the start of every epoch and of every validation pass.
        """
        raise NotImplementedError

    def metrics_from_sums(self, sums: dict) -> dict:
        raise NotImplementedError

    def fit(self, args, data: dict, run_dir):
        """A model of `closed_form_models` fitted in one go: as `ClosedFormTask.fit`."""
        raise NotImplementedError

    # --- after training -----------------------------------------------------------------------
    def init_model(self, model, data: dict, args) -> None:
        """Set a new model's starting weights from the data or options (e.g. pretrained word vectors) before
        training starts; not called on --resume, whose checkpoint holds the weights. Most tasks have none."""

    def build_model(self, model_config: dict):
        """The untrained model that `model_config` (config.json's "model") describes. `fit` builds the
        model it trains this way and `load_run` the one it loads weights into, so the two agree."""
        from ...models import SequenceModel
        return SequenceModel(**model_config)

    def save_data(self, data: dict, run_dir) -> None:
        """Write the task's own data files into a new run directory before training starts (e.g. the
        split it drew), atomically; `data` is what `setup` returned. Most tasks have none."""

    def report(self, model, config: dict, run_dir) -> dict:
        """Figures computed once on the best model after training (e.g. test BLEU), JSON-able: config.json
        keeps them as "report", and `evaluate` recomputes each from the run directory alone."""
        return {}

    def evaluate(self, model, config: dict, data_path: str | None, **options) -> dict:
        """`rnnzoo evaluate`: by default the validation figures, summed over `evaluation_loader`'s batches as
        in training, so the logged figure comes back exactly."""
        return self.metrics_from_sums(validation_sums(self, model, self.evaluation_loader(config, data_path,
                                                                                           **options)))

    def evaluation_loader(self, config: dict, data_path: str | None):
        """The validation loader rebuilt from config.json, on `data_path` (evaluate --data) when given;
        a task that makes its own data raises ValueError for a data_path rather than ignore it."""
        raise NotImplementedError

    def predict(self, model, config: dict, inputs: list[str]) -> list[str]:
        raise ValueError(f"task {self.name!r} has no predict; see 'rnnzoo tasks'")

    def generate(self, model, config: dict, prompt: str, length: int, temperature: float,
                 top_k: int, greedy: bool, seed: int | None) -> str:
        raise ValueError(f"task {self.name!r} does not generate text; see 'rnnzoo tasks'")

    def stream(self, model, config: dict, prompt: str, length: int, temperature: float,
               top_k: int, greedy: bool, seed: int | None):
        """`generate`'s text in pieces as they are made (joined, exactly `generate`'s result), for
        `rnnzoo generate` to print as it goes; bad arguments raise before the first piece. By default
        one piece, the whole text; a task that makes its text step by step yields each step's."""
        yield self.generate(model, config, prompt, length, temperature, top_k, greedy, seed)

    def plot(self, model, config: dict, run_dir) -> list[str]:
        """Write the task's own figure(s) under run_dir/plots; return their names."""
        return []

    def summary(self, model, config: dict, run_dir) -> str:
        """A few lines a person can look at after training (e.g. generated text)."""
        return ""


def validation_sums(task, model, batches) -> dict[str, float]:
    """`task.step`'s sums over `batches`, added up as TaskModule does in validation (the carry too),
    so they give the logged validation figure; no gradients, the model in the mode it is in."""
    import torch  # here: the task classes are read (`rnnzoo tasks`) without torch
    sums: dict[str, float] = {}
    carry = None
    with torch.no_grad():
        for batch in batches:
            _, batch_sums, carry = task.step(model, batch, carry)
            for key, value in batch_sums.items():
                sums[key] = sums.get(key, 0.0) + float(value)
    return sums


class ClosedFormTask(Task):
    """A task whose model is fitted in one go, without gradients (an echo state network's ridge readout).

    `rnnzoo train` calls `fit` rather than Lightning, and refuses the backpropagation options (--hidden,
    --epochs, cell options, ...): only --model (one of `models`), --seed, --threads, --data, --out and
    --config apply, with the task's own options. `rnnzoo evaluate` calls `evaluate`. There are no
    batches, so `loaders`, `step`, `metrics_from_sums` and `evaluation_loader` are not used.
    """

    models: tuple[str, ...] = ()  # the --model names it fits

    @property
    def closed_form_models(self) -> tuple[str, ...]:
        return self.models

    def fit(self, args, data: dict, run_dir):
        """Fit the model and write its files into run_dir: model.safetensors (rnnzoo.train.run.save_weights),
        metrics.csv and plots/*.png. Returns (model, config entries): "model" (what `build_model`
        takes), "training", "best", "steps", "plots" and "files" ({file name: SHA-256}); the trainer
        adds the rest and writes config.json last."""
        raise NotImplementedError

    def evaluate(self, model, config: dict, data_path: str | None, **options) -> dict:
        """The run's figures recomputed from the loaded model and config.json."""
        raise NotImplementedError
