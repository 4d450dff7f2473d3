"""`--model esn` for the tasks that train cells and also fit an echo state network in closed form.

classify, regress and forecast read a whole window or series and answer once; for them `--model esn` is
a `rnnzoo.reservoir.SequenceESN` (a fixed reservoir, a ridge readout of its last and mean states). This
module holds what they share: the reservoir's options, building the model from them, and finishing the
run directory (model.safetensors, metrics.csv, the task's report and plots) as `Task.fit` promises.
"""

from __future__ import annotations

import csv
import io

from .. import run as rundir
from .base import validation_sums

OPTIONS = ("units", "spectral_radius", "leak", "input_scaling", "ridge")  # Task.closed_form_options


def add_arguments(parser, *, units: int, leak: float) -> None:
    """The reservoir's options, with the task's defaults for the size and the leak rate."""
    from ...checks import float_range, int_range
    parser.add_argument("--units", type=int_range(1, 20000), default=units, help=f"esn: reservoir units ({units})")
    parser.add_argument("--spectral-radius", type=float_range(0, low_open=True), default=0.9,
                        help="esn: spectral radius of the reservoir matrix (0.9)")
    parser.add_argument("--leak", type=float_range(0, 1, low_open=True), default=leak,
                        help=f"esn: leak rate ({leak})")
    parser.add_argument("--input-scaling", type=float_range(0, low_open=True), default=0.5,
                        help="esn: input weights U[-s, s] (0.5)")
    parser.add_argument("--ridge", type=float_range(0), default=None,
                        help="esn: ridge of the readout (default: chosen by 5-fold cross-validation)")


def build(args, inputs: int, outputs: int):
    from ...reservoir import SequenceESN
    return SequenceESN(inputs, outputs, args.units, spectral_radius=args.spectral_radius, leak_rate=args.leak,
                       input_scaling=args.input_scaling, ridge=args.ridge, seed=args.seed)


def finish(task, model, args, data, run_dir, cases: int, val_batches):
    """Write a fitted model's run files; returns (model, config entries) for `fit_closed_form`. The
    validation figures come from `val_batches` through `task.step`, as in training."""
    model.eval()
    val = {f"val_{k}": v for k, v in task.metrics_from_sums(validation_sums(task, model, val_batches)).items()}
    files = {rundir.BEST: rundir.save_weights(run_dir / rundir.BEST, model)}
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=["step", *val], lineterminator="\n")
    writer.writeheader()
    writer.writerow({"step": cases, **val})
    rundir.atomic_write(run_dir / "metrics.csv", text.getvalue().encode())
    config = {"model": model.config(), "best": {task.monitor: val[task.monitor]}, "metrics": val,
              "training": {"seed": args.seed, "threads": args.threads, "ridge": model.ridge_, "closed_form": True},
              "steps": cases, "files": files, "data": data}
    report = task.report(model, config, run_dir)
    if report:
        config["report"] = report
    (run_dir / "plots").mkdir(parents=True, exist_ok=True)
    config["plots"] = task.plot(model, config, run_dir)
    del config["data"]  # the trainer adds its own copy
    return model, config
