"""A run directory: everything a training run leaves, written atomically, loadable without pickles.

    RUN_DIR/
      config.json            everything needed to rebuild the model and its vocabulary (+ file hashes)
      model.safetensors      the best weights (by the task's validation metric)
      last.safetensors       the weights at the end of training
      metrics.csv            Lightning's CSV log; tensorboard/ holds the TensorBoard log
      plots/*.png            loss and metric curves, plus the task's own plot
      checkpoints/last.ckpt  Lightning's checkpoint for --resume (your own machine's state only)
      checkpoints/options.json  the options the run started with (--resume checks and reuses them)

A run is complete once config.json names a model file whose SHA-256 matches: config.json is written
last, so an interrupted run never looks complete, and a truncated or altered weights file is refused.
config.json checks itself too: its "config_sha256" entry is the SHA-256 of the rest of its content
(`config_digest`), so an edited vocabulary or model description is refused rather than loaded into
garbage. Runs written before that ("format" 1: no "format" entry and no checksum) still load.
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
LAST_CKPT = "last.ckpt"  # in checkpoints/


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


def file_sha256(path) -> str:
    """SHA-256 of a data file, read in blocks: a run records it so that evaluation refuses changed data."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_data_file(path, sha256: str | None, what: str = "data") -> None:
    """A run's own data file, refused (ValueError) when it is missing or its SHA-256 is no longer the one the
    run recorded (sha256 None: nothing recorded, existence only)."""
    if not Path(path).is_file():
        raise ValueError(f"the run's {what} file {path} is missing; give --data")
    if sha256 is not None and file_sha256(path) != sha256:
        raise ValueError(f"the run's {what} file {path} changed since training (SHA-256 differs)")


def save_weights(path: Path, module: torch.nn.Module) -> str:
    """Save a module's state_dict as safetensors; returns the file's SHA-256."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    data = save_bytes(tensors)
    atomic_write(path, data)
    return hashlib.sha256(data).hexdigest()


# config.json's format: 2 adds CHECKSUM. A config without "format" is format 1 (no checksum; still loads).
FORMAT, CHECKSUM = 2, "config_sha256"


def config_digest(config: dict) -> str:
    """SHA-256 of a config's content without its CHECKSUM entry: of its canonical JSON (sorted keys, no
    spaces), so that layout does not matter and any changed value does."""
    rest = {k: v for k, v in config.items() if k != CHECKSUM}
    return hashlib.sha256(json.dumps(rest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def write_config(run_dir: Path, config: dict) -> None:
    """Write config.json (atomically) with "format" FORMAT and its own CHECKSUM; `config` is not changed."""
    content = json.loads(json.dumps({**config, "format": FORMAT}))  # as it will be read back: lists, str keys
    content[CHECKSUM] = config_digest(content)
    atomic_write(Path(run_dir) / CONFIG, (json.dumps(content, indent=2, sort_keys=True) + "\n").encode())


def check_checksum(path, config: dict) -> None:
    """Refuse a config.json whose CHECKSUM is wrong, or missing where its format has one (>= 2)."""
    fmt = config.get("format", 1)
    if isinstance(fmt, bool) or not isinstance(fmt, int) or fmt < 1:
        raise RunError(f"{path} has format {fmt!r}, not a format rnnzoo writes; refusing it")
    if fmt > FORMAT:
        raise RunError(f"{path} has format {fmt}, newer than this rnnzoo reads ({FORMAT}); upgrade rnnzoo")
    recorded = config.get(CHECKSUM)
    if recorded is None and fmt >= 2:
        raise RunError(f"{path} has no {CHECKSUM} entry, which every config of format {fmt} has: "
                       "it was edited after training; refusing it")
    if recorded is not None and recorded != config_digest(config):
        raise RunError(f"{path} does not match its {CHECKSUM}: it was edited or damaged after training "
                       "(a changed vocabulary or model would give wrong results); refusing it")


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
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:  # RecursionError: nested too deep
        raise RunError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(config, dict) or "task" not in config or "files" not in config:
        raise RunError(f"{path} is not an rnnzoo run config (no 'task' or 'files' entry)")
    check_checksum(path, config)  # first: an edited config is refused as edited, whatever the edit
    check_config(config, path)
    return config


# config.json's entries that reading a run relies on, with their JSON types (None: null)
ENTRIES = {"task": str, "model": dict, "data": dict, "files": dict}
_JSON_NAMES = {int: "an integer", float: "a number", str: "a string", dict: "a JSON object", bool: "true or false",
               None: "null"}


def check_config(config: dict, path, data_types: dict | None = None) -> None:
    """A hand-edited config.json: one line naming the first entry that is missing or of the wrong JSON
    type, among ENTRIES and, given the run's task's `Task.data_types`, its own "data" entries."""
    for key, kind in ENTRIES.items():
        _check_entry(config, key, kind, path, key)
    for key, kind in (data_types or {}).items():
        _check_entry(config["data"], key, kind, path, f"data.{key}")


def _is_json(value, kind) -> bool:
    """value is of JSON type `kind`: true/false is no number, and an integer is a number (float)."""
    if kind is None or kind is bool:
        return value is None if kind is None else isinstance(value, bool)
    return not isinstance(value, bool) and isinstance(value, (int, float) if kind is float else kind)


def _check_entry(entries: dict, key: str, kind, path, name: str) -> None:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if key not in entries:
        raise RunError(f"{path} has no entry {name!r} ({' or '.join(_JSON_NAMES[k] for k in kinds)}); "
                       "put it back as 'rnnzoo train' wrote it, or train the run again")
    value = entries[key]
    if any(_is_json(value, k) for k in kinds):
        return
    raise RunError(f"{path}: entry {name!r} must be {' or '.join(_JSON_NAMES[k] for k in kinds)}, "
                   f"got {json.dumps(value)[:60]}; put it back as 'rnnzoo train' wrote it")


def load_weights(run_dir, config: dict, which: str = BEST) -> dict:
    """Tensors of a model file, after checking the SHA-256 that config.json recorded for it."""
    path = Path(run_dir) / which
    expected = config["files"].get(which)
    if not path.is_file():
        raise RunError(f"model file {path} is missing")
    data = path.read_bytes()
    if expected is None:
        raise RunError(f"{Path(run_dir) / CONFIG} records no checksum for {which}; refusing to load it")
    if hashlib.sha256(data).hexdigest() != expected:
        raise RunError(f"model file {path} does not match the SHA-256 in {CONFIG}: "
                       "it is truncated or was altered")
    try:
        return load_bytes(data)
    except (SafetensorError, ValueError) as e:
        raise RunError(f"model file {path} is not a valid safetensors file: {e}") from None
