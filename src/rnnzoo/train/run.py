"""A run directory: everything a training run leaves, written atomically, loadable without pickles.

    RUN_DIR/
      config.json            everything needed to rebuild the model and its vocabulary (+ file hashes)
      model.safetensors      the best weights (by the task's validation metric)
      last.safetensors       the weights at the end of training
      metrics.csv            Lightning's CSV log; tensorboard/ holds the TensorBoard log
      plots/*.png            loss and metric curves, plus the task's own plot
      checkpoints/last.ckpt  Lightning's checkpoint for --resume (your own machine's state only)

A run is complete once config.json names a model file whose SHA-256 matches: config.json is written
last, so an interrupted run never looks complete, and a truncated or altered weights file is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

CONFIG = "config.json"
BEST, LAST = "model.safetensors", "last.safetensors"


class RunError(ValueError):
    """A run directory or model file that cannot be used; the message is one line for the CLI."""


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers see the old or the new file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_weights(path: Path, module: torch.nn.Module) -> str:
    """Save a module's state_dict as safetensors; returns the file's SHA-256."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    data = save_bytes(tensors)
    atomic_write(path, data)
    return hashlib.sha256(data).hexdigest()


def write_config(run_dir: Path, config: dict) -> None:
    atomic_write(Path(run_dir) / CONFIG, (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())


def read_config(run_dir) -> dict:
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"run directory {str(run_dir)!r} does not exist")
    path = run_dir / CONFIG
    if not path.is_file():
        raise RunError(f"{str(run_dir)!r} is not a finished run: it has no {CONFIG} "
                       "(training did not finish; continue it with 'rnnzoo train ... --resume')")
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RunError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(config, dict) or "task" not in config or "files" not in config:
        raise RunError(f"{path} is not an rnnzoo run config (no 'task' or 'files' entry)")
    return config


def load_weights(run_dir, config: dict, which: str = BEST) -> dict:
    """Tensors of a model file, after checking the SHA-256 that config.json recorded for it."""
    path = Path(run_dir) / which
    expected = config["files"].get(which)
    if not path.is_file():
        raise RunError(f"model file {path} is missing")
    data = path.read_bytes()
    if expected is None:
        raise RunError(f"{CONFIG} records no checksum for {which}; refusing to load it")
    if hashlib.sha256(data).hexdigest() != expected:
        raise RunError(f"model file {path} does not match the SHA-256 in {CONFIG}: "
                       "it is truncated or was altered")
    try:
        return load_bytes(data)
    except (SafetensorError, ValueError) as e:
        raise RunError(f"model file {path} is not a valid safetensors file: {e}") from None
