"""Input checks and layouts for ESN: every message names the argument, what was expected and what came."""

from __future__ import annotations

import math

import torch


def check_fraction(value, argument: str, *, low_open: bool = True) -> float:
    """A number in (0, 1] (or [0, 1] with low_open=False)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__} {value!r}")
    ok = (0 < value <= 1) if low_open else (0 <= value <= 1)
    if not ok or not math.isfinite(value):
        raise ValueError(f"{argument} must be in {'(0, 1]' if low_open else '[0, 1]'}, got {value!r}")
    return float(value)


def check_nonneg(value, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{argument} must be >= 0 and finite, got {value!r}")
    return float(value)


def check_count(value, argument: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{argument} must be >= {minimum}, got {value}")
    return value


def sequences(data, size: int, argument: str, batch_first: bool, dtype) -> tuple[list[torch.Tensor], bool]:
    """data -> list of time-major (L, B, size) tensors, and whether it came unbatched.

    Accepted: a tensor (L, B, size) ((B, L, size) with batch_first), (L, size) unbatched, (L,) when
    size == 1, or a list of such tensors (sequences of different lengths: one run each).
    """
    if isinstance(data, (list, tuple)):
        if not data:
            raise ValueError(f"{argument} must hold at least one sequence, got an empty list")
        out = [sequences(d, size, f"{argument}[{k}]", batch_first, dtype) for k, d in enumerate(data)]
        return [s for seqs, _ in out for s in seqs], out[0][1]
    if not isinstance(data, torch.Tensor):
        raise TypeError(f"{argument} must be a torch.Tensor or a list of them, got {type(data).__name__}")
    if not (data.is_floating_point() or data.dtype in (torch.int32, torch.int64)):
        raise TypeError(f"{argument} must have a floating-point dtype, got {data.dtype}")
    layout = "(N, L, F)" if batch_first else "(L, N, F)"
    if data.dim() == 1 and size == 1:
        data = data[:, None]
    if data.dim() not in (2, 3):
        raise ValueError(f"{argument} must be 3-D {layout}, 2-D (L, F) unbatched or 1-D (L,) when F = 1, "
                         f"got {data.dim()}-D with shape {tuple(data.shape)}")
    unbatched = data.dim() == 2
    data = data.unsqueeze(1) if unbatched else (data.transpose(0, 1) if batch_first else data)
    if data.shape[2] != size:
        raise ValueError(f"{argument} must have {size} features per step, got {data.shape[2]} "
                         f"(shape {tuple(data.shape)}, time-major)")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise ValueError(f"{argument} is empty (time-major shape {tuple(data.shape)})")
    if not bool(torch.isfinite(data).all()):
        raise ValueError(f"{argument} contains NaN or inf")
    return [data.to(dtype)], unbatched


def layout_out(y: torch.Tensor, unbatched: bool, batch_first: bool) -> torch.Tensor:
    """Time-major (L, B, O) -> the caller's layout."""
    if unbatched:
        return y[:, 0]
    return y.transpose(0, 1) if batch_first else y


def pair(inputs, targets, input_size: int, output_size: int, argument: str, batch_first: bool, dtype):
    """(inputs, targets) -> two aligned lists of time-major sequences and the unbatched flag; inputs
    may be None when input_size = 0 (then empty (L, B, 0) inputs)."""
    ys, unbatched = sequences(targets, output_size, argument, batch_first, dtype)
    if inputs is None:
        if input_size:
            raise ValueError(f"inputs must be given: this ESN has input_size={input_size}")
        return [torch.zeros(d.shape[0], d.shape[1], 0, dtype=dtype) for d in ys], ys, unbatched
    us, _ = sequences(inputs, input_size, "inputs", batch_first, dtype)
    if len(us) != len(ys) or any(u.shape[:2] != d.shape[:2] for u, d in zip(us, ys)):
        raise ValueError(f"inputs and {argument} must have the same number of sequences, steps and batch, "
                         f"got {[tuple(u.shape[:2]) for u in us]} and {[tuple(d.shape[:2]) for d in ys]}")
    return us, ys, unbatched
