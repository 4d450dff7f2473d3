"""--resume: continue a run where it stopped, or say in one line why it cannot and what to do.

A run directory is in one of these states (`state`):
    new          missing or empty
    unstarted    ours (checkpoints/options.json) but killed before its first checkpoint: nothing to
                 continue; a fresh `rnnzoo train` with the same --out clears it and starts again
    unfinished   has checkpoints/last.ckpt and no config.json: --resume continues it (a run killed
                 after its last epoch, during the export, only redoes the export)
    finished     has config.json: --resume trains it further only when asked for more (--epochs,
                 --max-time)
    foreign      anything else that is not empty: never touched

Every check runs before anything in the directory is touched. The options a run started with are
kept in checkpoints/options.json; on --resume every option not given takes the run's value, and a
given one that differs is refused with its name (options that change the data, --bits, --data,
--train-size, ... included), except those that say how long and where it trains (`CONTINUATION`).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from . import run as rundir
from .run import LAST_CKPT

OPTIONS = "options.json"
CONTINUATION = ("epochs", "max_time", "patience", "threads", "devices", "strategy", "log_gradients")
NOT_OPTIONS = ("resume", "out", "config", "argv", "given", "parser", "run", "task", "debug", "cell_options")


def state(run_dir) -> str:
    run_dir = Path(run_dir)
    if not run_dir.exists() or (run_dir.is_dir() and not any(run_dir.iterdir())):
        return "new"
    if (run_dir / rundir.CONFIG).is_file():
        return "finished"
    if (run_dir / "checkpoints" / LAST_CKPT).is_file():
        return "unfinished"
    if (run_dir / "checkpoints" / OPTIONS).is_file():
        return "unstarted"
    return "foreign"


def options_of(args) -> dict:
    """The options of `rnnzoo train TASK` as the run was given them (JSON values)."""
    return {k: v for k, v in vars(args).items() if k not in NOT_OPTIONS and not k.startswith("_")}


def save_options(run_dir, args) -> None:
    rundir.atomic_write(Path(run_dir) / "checkpoints" / OPTIONS,
                        (json.dumps(options_of(args), indent=2, sort_keys=True) + "\n").encode())


def check(run_dir, args) -> None:
    """Before a run starts in `run_dir` (args.resume or not): raise ValueError, one line saying what to
    do, when it cannot; clear an unstarted run of ours for a fresh start; on --resume, take the run's
    options (see the module docstring)."""
    run_dir, now = Path(run_dir), state(run_dir)
    if not args.resume:
        if now == "unstarted":
            print(f"{run_dir}: a run that stopped before its first checkpoint; starting it again")
            shutil.rmtree(run_dir)
        elif now == "unfinished":
            raise ValueError(f"--out {run_dir} holds an unfinished run; add --resume to continue it, "
                             "or choose another --out")
        elif now == "finished":
            raise ValueError(f"--out {run_dir} holds a finished run; choose another --out, or add --resume "
                             "with a larger --epochs to train it further")
        elif now == "foreign":
            raise ValueError(f"--out {run_dir} exists and is not empty; choose another directory, "
                             "or add --resume to continue the run in it")
        return
    if now in ("new", "foreign"):
        raise ValueError(f"--resume: {run_dir} holds no run, so there is nothing to resume (no "
                         f"checkpoints/{LAST_CKPT}); leave out --resume to start one")
    if now == "unstarted":
        raise ValueError(f"--resume: the run in {run_dir} stopped before its first checkpoint, so there is "
                         "nothing to continue; run the same command without --resume to start it again")
    adopt_options(run_dir, args)
    if now == "finished":
        _check_more_to_do(run_dir, args)


def adopt_options(run_dir, args) -> None:
    """Every option not given takes the run's value; a given one that differs raises ValueError."""
    path = Path(run_dir) / "checkpoints" / OPTIONS
    if not path.is_file():  # a run started before rnnzoo kept its options: nothing to check against
        return
    saved = _read_options(path)
    given = getattr(args, "given", set())
    differ = []
    for key, value in saved.items():
        if key not in given:
            setattr(args, key, value)
        elif key not in CONTINUATION and _json(getattr(args, key, None)) != value:
            differ.append(f"{_flag(key)} {_json(getattr(args, key, None))!r} (the run has {value!r})")
    differ += [f"{_flag(key)} (the run has none)" for key in sorted(given)
               if key.startswith("cell__") and key not in saved]
    if differ:
        raise ValueError(f"--resume: {'; '.join(differ)}: the run in {run_dir} was started with other options; "
                         "leave them out to continue it as it was, or start a new run in another --out")
    args.cell_options = {k[len("cell__"):]: v for k, v in vars(args).items() if k.startswith("cell__")}


def _read_options(path: Path) -> dict:
    """options.json as save_options wrote it, or a RunError naming the file."""
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise rundir.RunError(f"{path} is damaged, not the JSON rnnzoo wrote ({e}); the run cannot be "
                              "resumed: start it again in another --out") from None
    if not isinstance(saved, dict):
        raise rundir.RunError(f"{path} is damaged: it must hold a JSON object of options, got "
                              f"{json.dumps(saved)[:40]}; the run cannot be resumed: start it again in another --out")
    return saved


def _check_more_to_do(run_dir, args) -> None:
    config = rundir.read_config(run_dir)
    done, training = config.get("epochs_run", 0), config.get("training", {})
    stopped = config.get("stopped_by", "epochs")
    how = f"or look at it with 'rnnzoo evaluate {run_dir}'"
    if stopped == "early_stopping":
        raise ValueError(f"--resume: the run in {run_dir} is finished: early stopping ended it after {done} "
                         f"epochs (no better {next(iter(config.get('best', {})), 'figure')} in "
                         f"{training.get('patience')} epochs); start a new run in another --out to train "
                         f"longer, {how}")
    if stopped == "max_time" and args.max_time and args.max_time <= (training.get("max_time") or 0):
        raise ValueError(f"--resume: the run in {run_dir} stopped at its --max-time of {args.max_time} s "
                         f"after {done} epochs; pass a larger --max-time (0: no limit) to train it further, {how}")
    if stopped != "max_time" and args.epochs <= done:
        raise ValueError(f"--resume: the run in {run_dir} is finished ({done} epochs of --epochs {args.epochs}); "
                         f"pass a larger --epochs to train it further, {how}")


def checkpoint_step(run_dir) -> int:
    """The global step of the run's checkpoint (read without running code: tensors and plain data)."""
    import torch
    path = Path(run_dir) / "checkpoints" / LAST_CKPT
    try:
        return int(torch.load(path, map_location="cpu", weights_only=True)["global_step"])
    except Exception as e:  # a damaged file fails torch.load in many ways: zip, unpickling, EOF, index, ...
        reason = f"{type(e).__name__}: {str(e).splitlines()[0]}" if str(e) else type(e).__name__
        raise rundir.RunError(f"{path} is not a readable checkpoint ({reason}); the run cannot be resumed "
                              "from it: start it again in another --out") from None


def _flag(key: str) -> str:
    return "--" + key.removeprefix("cell__").replace("_", "-")


def _json(value):
    return json.loads(json.dumps(value))  # tuples as lists, as options.json holds them
