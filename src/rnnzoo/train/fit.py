"""`fit`: one training run from parsed CLI options, and `load_run` to get a trained model back.

Lightning's Trainer does the work: progress bar, validation, early stopping, gradient clipping by
norm, the LR schedule, CSV and TensorBoard logs, checkpoints for --resume, and DDP across processes.
A closed-form task (`ClosedFormTask`, no gradients) fits its model itself; `fit` gives it the run
directory and writes config.json last, as for trained runs.

Training and loading take the same road: config.json's "model" dict -> `task.build_model`.
"""

from __future__ import annotations

import math
import os
import shutil
import time
import warnings
from pathlib import Path

import torch

from .. import __version__
from .. import threads as thread_policy
from ..plan import native_hint
from . import resume
from . import run as rundir
from .tasks import ClosedFormTask, get_task
from .tasks.base import validation_sums  # noqa: F401  (rnnzoo.train.fit.validation_sums, as before)

TRAINING_KEYS = ("model", "hidden", "layers", "bidirectional", "merge", "dropout", "recurrent_dropout",
                 "io_dropout",
                 "epochs", "batch_size", "lr", "weight_decay", "clip", "patience", "lr_schedule", "seed", "devices",
                 "strategy", "max_time", "threads", "log_gradients")


def prepare_run_dir(out) -> Path:
    """A closed-form run's directory: missing or empty (it is fitted in one go, never resumed)."""
    run_dir = Path(out)
    if run_dir.exists() and any(run_dir.iterdir()):
        raise ValueError(f"--out {run_dir} exists and is not empty; choose another directory")
    return run_dir


def model_config(task, args, data: dict) -> dict:
    """The "model" dict that `task.build_model` takes: the common options, then the task's own part."""
    return dict(cell=args.model, hidden_size=args.hidden, num_layers=args.layers,
                bidirectional=args.bidirectional, merge=args.merge, dropout=args.dropout,
                recurrent_dropout=args.recurrent_dropout, io_dropout=args.io_dropout,
                cell_options=args.cell_options, **task.model_config(args, data))


def fit(args) -> dict:
    """Train `args.task`; returns the finished run's config (also written to RUN_DIR/config.json)."""
    task = get_task(args.task)
    if isinstance(task, ClosedFormTask) or args.model in task.closed_form_models:
        return fit_closed_form(task, args)
    import lightning as L

    run_dir = Path(args.out)
    # processes that Lightning's DDP launcher started re-run this command: the first one checks --out
    launched = os.environ.get("LOCAL_RANK", "0") != "0"
    if not launched:
        resume.check(run_dir, args)  # before anything is touched; on --resume, the run's options
    L.seed_everything(args.seed, workers=True, verbose=False)
    data = task.setup(args)  # bad data fails here, before any run directory exists
    model = task.build_model(model_config(task, args, data))
    if getattr(args, "log_gradients", 0):
        from .gradients import find_recurrent
        find_recurrent(model)  # a model without a recurrent layer: refused before the run directory is made
    if not args.resume:
        task.init_model(model, data, args)
    created = not run_dir.exists()
    try:
        return _fit(task, args, data, model, run_dir, launched)
    except BaseException:
        if created:  # a run that failed before it started leaves nothing behind
            remove_incomplete(run_dir)
        raise


def _fit(task, args, data, model, run_dir, launched):
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor
    from lightning.pytorch.loggers import TensorBoardLogger

    from .module import SafetensorsExport, TaskModule
    from .records import ResumableLoader, RunCheckpoint, RunCSVLogger
    from .thread_probe import ThreadProbe

    checkpoints = run_dir / "checkpoints"
    resume_step = resume.checkpoint_step(run_dir) if args.resume else None
    if not launched:
        if args.resume:
            (run_dir / rundir.CONFIG).unlink(missing_ok=True)  # training on: no longer finished until re-exported
        else:
            resume.save_options(run_dir, args)  # first: from now on the folder is recognisably this run's
            task.save_data(data, run_dir)
    module = TaskModule(task, model, lr=args.lr, weight_decay=getattr(args, "weight_decay", 0.0),
                        lr_schedule=args.lr_schedule, epochs=args.epochs)
    export = SafetensorsExport(run_dir, task.monitor, task.mode)
    early = EarlyStopping(task.monitor, mode=task.mode, patience=args.patience)
    # last.ckpt: after every finished epoch and every 100 steps, so an interrupted run resumes from at
    # most 100 steps back (records.RunCheckpoint: written whole, after the epoch's metrics)
    # threads per process (rnnzoo.threads): from the work of one step, timed against one thread in training
    choice = thread_policy.choose(args.threads, thread_policy.step_work(model, args.batch_size),
                                  thread_policy.cores(), args.devices)
    if not launched:
        print(f"threads: {choice.threads or torch.get_num_threads()} ({choice.reason})")
        for hint in dict.fromkeys(filter(None, map(native_hint, recurrent_layers(model)))):
            print(hint)  # once per kind of layer
    callbacks = [RunCheckpoint(checkpoints), early, LearningRateMonitor(), export, ThreadProbe(choice)]
    if getattr(args, "log_gradients", 0):
        from .gradients import GradientLogger
        callbacks.append(GradientLogger(args.log_gradients, seed=args.seed))
    loggers = [RunCSVLogger(run_dir, resume_step),
               TensorBoardLogger(run_dir, name="tensorboard", version="", default_hp_metric=False)]
    trainer = L.Trainer(
        accelerator="cpu", devices=args.devices, strategy=args.strategy, max_epochs=args.epochs,
        max_time=None if not args.max_time else {"seconds": args.max_time},
        gradient_clip_val=args.clip or None, gradient_clip_algorithm="norm", callbacks=callbacks,
        logger=loggers, log_every_n_steps=10, num_sanity_val_steps=0, enable_model_summary=False,
        default_root_dir=run_dir, use_distributed_sampler=False)  # tasks shard their own batches
    train_loader, val_loader = task.loaders(args, data, trainer.global_rank, trainer.world_size)
    train_loader = ResumableLoader(train_loader, module)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", ".*does not have many workers.*")
        warnings.filterwarnings("ignore", ".*LSTM with projections is not supported with oneDNN.*")
        # Lightning's CSV writer warns that it will delete metrics.csv; RunCSVLogger keeps what it should
        warnings.filterwarnings("ignore", ".*Experiment logs directory .* exists and is not empty.*")
        try:
            trainer.fit(module, train_loader, val_loader, weights_only=True,  # tensors and plain data only
                        ckpt_path=str(checkpoints / rundir.LAST_CKPT) if args.resume else None)
        except RuntimeError as e:
            if "loading state_dict" not in str(e):
                raise
            raise ValueError(f"--resume: the checkpoint in {run_dir} does not fit the model these options "
                             f"build ({str(e).splitlines()[0]}); give the options the run was started with") from None
    if not trainer.is_global_zero:
        return {}
    if trainer.interrupted:
        raise KeyboardInterrupt
    config = {
        "rnnzoo": __version__, "task": task.name, "model": model.config(), "data": data,
        "training": {k: getattr(args, k, None) for k in TRAINING_KEYS},
        "best": {task.monitor: export.best},
        "steps": trainer.global_step, "epochs_run": trainer.current_epoch,
        "stopped_by": _stopped_by(trainer, early),
        "seconds": round(time.perf_counter() - started, 1),
        "train_seconds": round(module.train_seconds, 3),  # in training batches, validation excluded
        "files": dict(export.hashes),
        "threads": choice.record(),
    }
    best = task.build_model(config["model"])
    best.load_state_dict(rundir.load_weights(run_dir, config))
    best.eval()
    report = task.report(best, config, run_dir)
    if report:
        config["report"] = report
    config["plots"] = write_plots(task, best, config, run_dir)
    rundir.write_config(run_dir, config)  # last: from now on the run is complete
    config["summary"] = task.summary(best, config, run_dir)
    return config


def recurrent_layers(model) -> list:
    from ..driver import Recurrent
    return [m for m in model.modules() if isinstance(m, Recurrent)]


def _stopped_by(trainer, early) -> str:
    """What ended the training: "early_stopping", "max_time" or "epochs" (read by --resume)."""
    from lightning.pytorch.callbacks import Timer
    if early.stopped_epoch > 0:
        return "early_stopping"
    timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
    if timer is not None and timer.time_remaining() is not None and timer.time_remaining() <= 0:
        return "max_time"
    return "epochs"


def fit_closed_form(task, args) -> dict:
    """A closed-form task (no Lightning, no gradients): `task.fit` writes model.safetensors,
    metrics.csv and plots/; config.json, with the files' hashes, is written last, as for trained runs."""
    if getattr(args, "resume", False):
        raise ValueError(f"--resume: task {task.name!r} is fitted in closed form in one go; there is nothing "
                         "to resume")
    torch.manual_seed(args.seed)
    data = task.setup(args)  # bad options fail here, before any run directory exists
    run_dir = prepare_run_dir(args.out)
    created = not run_dir.exists()
    started = time.perf_counter()
    # no work estimate before the model exists: all cores for its solves; its step loops run on one
    # thread where that wins (rnnzoo._loops.single_thread)
    choice = thread_policy.choose(args.threads, None, thread_policy.cores())
    try:
        with thread_policy.applied(choice):
            model, entries = task.fit(args, data, run_dir)
        if rundir.BEST not in entries.get("files", {}):
            raise RuntimeError(f"task {task.name!r} wrote no {rundir.BEST} hash into its config")
        config = {"rnnzoo": __version__, "task": task.name, "data": data, **entries,
                  "seconds": round(time.perf_counter() - started, 1), "threads": choice.record()}
        rundir.write_config(run_dir, config)  # last: from now on the run is complete
    except BaseException:
        if created:
            remove_incomplete(run_dir)
        raise
    config["summary"] = task.summary(model, config, run_dir)
    return config


def model_name(model_config: dict) -> str:
    """The registered cell a model runs, or the class of a task's own model (sst's tree networks)."""
    return model_config.get("cell") or model_config.get("class") or "model"


def write_plots(task, model, config, run_dir) -> list[str]:
    """Loss and metric curves from metrics.csv, plus the task's own figure."""
    import csv

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    (run_dir / "plots").mkdir(exist_ok=True)
    with open(run_dir / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    series: dict[str, list] = {}  # column -> [(step, value)] over the rows that have it
    for row in rows:
        for key, value in row.items():
            if value:
                series.setdefault(key, []).append((float(row["step"]), float(value)))
    groups = {"loss": ["train_loss_step", "train_loss_epoch", "val_loss"]}
    for key in series:
        if key.startswith("val_") and key != "val_loss":
            groups[key[4:]] = [f"train_{key[4:]}", key]
    names = []
    for kind, keys in groups.items():
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for key in keys:
            if key in series:
                steps, values = zip(*series[key])
                faint = key.endswith("_step")
                ax.plot(steps, values, "-" if faint else "o-", alpha=0.4 if faint else 1, ms=3, label=key)
        ax.set(xlabel="step", ylabel=kind, title=f"{config['task']} / {model_name(config['model'])}: {kind}")
        ax.legend()
        fig.tight_layout()
        fig.savefig(run_dir / "plots" / f"{kind}.png", dpi=100)
        plt.close(fig)
        names.append(f"{kind}.png")
    return names + task.plot(model, config, run_dir)


def load_run(run_dir, which: str = rundir.BEST):
    """(task, model in eval mode, config) of a finished run, from config.json and safetensors only."""
    config = rundir.read_config(run_dir)
    path = Path(run_dir) / rundir.CONFIG
    try:
        task = get_task(config["task"])
    except ValueError as e:
        raise rundir.RunError(f"{path}: 'task' is not one rnnzoo knows: {e}") from None
    rundir.check_config(config, path, task.data_types)
    try:
        model = task.build_model(config.get("model"))
    except (TypeError, ValueError) as e:
        raise rundir.RunError(f"{Path(run_dir) / rundir.CONFIG} describes a model rnnzoo cannot build: {e}")
    try:
        model.load_state_dict(rundir.load_weights(run_dir, config, which))
    except RuntimeError as e:
        raise rundir.RunError(f"the weights in {run_dir} do not fit the model in its config: "
                              f"{str(e).splitlines()[0]}") from None
    return task, model.eval(), config


def evaluate(run_dir, data_path=None, **options) -> dict:
    """The task's validation metrics of a finished run, computed as during training."""
    return evaluate_run(*load_run(run_dir), data_path, **options)


def evaluate_run(task, model, config, data_path=None, **options) -> dict:
    """`evaluate` for a run already loaded (`load_run`)."""
    metrics = task.evaluate(model, config, data_path, **options)
    # a figure that is not finite reads n/a; text (a metric's signature) passes as it is
    return {k: (v if isinstance(v, str) or math.isfinite(v) else None) for k, v in metrics.items()}


def remove_incomplete(run_dir) -> None:
    """Delete a run directory that never finished and has no checkpoint to resume from."""
    run_dir = Path(run_dir)
    if run_dir.is_dir() and not (run_dir / rundir.CONFIG).exists() \
            and not (run_dir / "checkpoints" / rundir.LAST_CKPT).exists():
        shutil.rmtree(run_dir, ignore_errors=True)
