"""Argument checks shared by the whole library: every message names the argument, what was expected and
what came. The ground floor: it imports nothing of rnnzoo, so the cells, the driver, the data readers, the
memories, the reservoirs, the tasks and the CLI can all use it."""

from __future__ import annotations

import argparse
import math

import torch


def _shape(t) -> str:
    return "(" + ", ".join(str(s) for s in t) + ")"


def check_size(value, argument: str, minimum: int = 1) -> int:
    """value as an int >= minimum (bools refused), or a TypeError/ValueError naming `argument`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{argument} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{argument} must be >= {minimum}, got {value}")
    return value


def check_bool(value, argument: str) -> bool:
    """value if it is a bool (numpy's too), else a TypeError naming `argument`: "False", 0 or None
    are not booleans, and a truthy string must not turn an option on."""
    if isinstance(value, bool) or (type(value).__module__ == "numpy" and type(value).__name__ in ("bool_", "bool")):
        return bool(value)
    raise TypeError(f"{argument} must be a bool (True or False), got {type(value).__name__} {value!r}")


def check_finite(value, argument: str) -> float:
    """value as a float when it is a finite real number (bools refused), else a TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{argument} must be a float, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{argument} must be a finite float, got {value!r}")
    return float(value)


def check_seed(value, argument: str = "seed"):
    """None, or an int in [0, 2**63) (bools refused), as torch.Generator.manual_seed takes it."""
    if value is None:
        return None
    check_size(value, argument, minimum=0)
    if value >= 2 ** 63:
        raise ValueError(f"{argument} must be < 2**63, got {value}")
    return value


def int_range(low: int, high: int | None = None):
    """An argparse `type=` accepting an int in [low, high] (high None: no upper bound)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bounds = f">= {low}" if high is None else f"from {low} to {high}"
            raise argparse.ArgumentTypeError(f"must be an integer {bounds}, got {value}")
        return value
    parse.__name__ = "integer"  # argparse names the type in some messages
    return parse


def float_range(low: float | None = None, high: float | None = None, *, low_open: bool = False,
                high_open: bool = False):
    """An argparse `type=` accepting a finite float in the interval from low to high (None: unbounded),
    each end closed unless `low_open` / `high_open`: float_range(0, 1, high_open=True) is [0, 1)."""
    if low is not None and high is not None:
        bounds = f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        bounds = f" {'>' if low_open else '>='} {low:g}"
    else:
        bounds = "" if high is None else f" {'<' if high_open else '<='} {high:g}"

    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        ok = math.isfinite(value)
        ok = ok and (low is None or (value > low if low_open else value >= low))
        ok = ok and (high is None or (value < high if high_open else value <= high))
        if not ok:
            raise argparse.ArgumentTypeError(f"must be a finite number{bounds}, got {text}")
        return value
    parse.__name__ = "number"
    return parse


def all_finite(t: torch.Tensor) -> bool:
    """No NaN or inf in t. One sum first (NaN and inf survive it): 30x cheaper than isfinite(t).all(),
    which then runs only when the sum is not finite, to tell real NaN/inf from a sum that overflowed."""
    return bool(torch.isfinite(t.sum())) or bool(torch.isfinite(t).all())


def tracing() -> bool:
    """Whether torch.compile (or torch.export) or torch.jit.trace is tracing this call. The checks that
    read a tensor's values into Python (no NaN or inf in x, dt >= 0) are skipped then: they would break
    the graph (an error under fullgraph=True), and a trace records operations, not a value's check.
    Shapes, dtypes and types are still checked, since they are known while tracing."""
    return torch.compiler.is_compiling() or torch.jit.is_tracing()


def check_input(x, cell, batch_first: bool):
    """Validate x and return it time-major and batched, with a flag saying it came unbatched."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"x must be a torch.Tensor or PackedSequence, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must have a floating-point dtype, got {x.dtype}")
    feat = cell.feature_shape()
    batched_rank = 2 + cell.input_dims
    layout = "(N, L, " if batch_first else "(L, N, "
    expected = layout + ("H_in)" if cell.input_dims == 1 else "C, H, W)")
    if x.dim() not in (batched_rank, batched_rank - 1):
        raise ValueError(f"x must be {batched_rank}-D {expected} or {batched_rank - 1}-D unbatched, "
                         f"got {x.dim()}-D with shape {_shape(x.shape)}")
    unbatched = x.dim() == batched_rank - 1
    if unbatched:
        x = x.unsqueeze(1)
    elif batch_first:
        x = x.transpose(0, 1)
    if feat is not None and tuple(x.shape[2:2 + len(feat)]) != feat:
        raise ValueError(f"x must have {_shape(feat)} features per step (input_size), "
                         f"got shape {_shape(x.shape[2:])}")
    if x.shape[0] == 0:
        raise ValueError("x has zero time steps (L = 0); every sequence needs at least one step")
    if x.shape[1] == 0:
        raise ValueError("x has an empty batch (N = 0)")
    if x.numel() == 0:  # a frame of zero height or width: the convolutions would fail in their own words
        raise ValueError(f"x has empty steps: each is {_shape(x.shape[2:])}, with no values")
    if not tracing() and not all_finite(x):
        raise ValueError("x contains NaN or inf")
    return x, unbatched


def check_batch_steps(x, input_size: int, what: str = "sequence") -> tuple[int, int]:
    """(N, L) of a batch x (N, L, F) that must have F = input_size features, a step and a `what` at least."""
    N, L, F = x.shape
    if F != input_size:
        raise ValueError(f"x must have input_size={input_size} features per step (its last dimension), "
                         f"got shape {_shape(x.shape)}")
    if L == 0:
        raise ValueError(f"x has zero time steps (L = 0); every {what} needs at least one step")
    if N == 0:
        raise ValueError("x has an empty batch (N = 0)")
    return N, L


def check_lengths(lengths, N: int, L: int, device):
    """lengths as an int64 tensor of shape (N,) on x's device, each in [1, L]; None stays None."""
    if lengths is None:
        return None
    if not isinstance(lengths, torch.Tensor):
        try:
            lengths = torch.as_tensor(lengths)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"lengths must be a tensor or a list of ints, got {type(lengths).__name__}")
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths must hold integers, got dtype {lengths.dtype}")
    if tuple(lengths.shape) != (N,):
        raise ValueError(f"lengths must have shape ({N},), one per sequence, got {_shape(lengths.shape)}")
    lo, hi = int(lengths.min()), int(lengths.max())
    if lo < 1:
        raise ValueError(f"lengths must be >= 1 (empty sequences cannot be run), got a length of {lo}")
    if hi > L:
        raise ValueError(f"lengths must be <= L = {L} (the padded length of x), got a length of {hi}")
    return lengths.to(device=device, dtype=torch.long)


def check_step_inputs(step_inputs: dict, x, batch_first: bool, unbatched: bool) -> dict:
    """Extra per-step tensors, laid out like x's first two dims: returned time-major (L, N, ...)."""
    out = {}
    L, N = x.shape[:2]
    for name, v in step_inputs.items():
        if v is None:
            continue
        if not isinstance(v, torch.Tensor) or not v.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {type(v).__name__}")
        given = v.shape
        if v.dim() >= (1 if unbatched else 2):  # too few dims: refused below, not an IndexError here
            v = v.unsqueeze(1) if unbatched else (v.transpose(0, 1) if batch_first else v)
        if v.dim() < 2 or tuple(v.shape[:2]) != (L, N):
            want = "(L,)" if unbatched else ("(N, L, ...)" if batch_first else "(L, N, ...)")
            raise ValueError(f"{name} must be laid out like x, {want} with L={L}, N={N}, got shape {_shape(given)}")
        if not tracing() and not all_finite(v):
            raise ValueError(f"{name} contains NaN or inf")
        out[name] = v.to(x.dtype)
    return out


def check_state(state, layer, x, unbatched: bool):
    """User-given state -> tuple of tensors (num_layers * D, N, ...), one per state element."""
    cell = layer.cells[0]
    names = cell.state_names
    if isinstance(state, torch.Tensor):
        state = (state,)
    if not isinstance(state, (tuple, list)) or not all(isinstance(s, torch.Tensor) for s in state):
        raise TypeError(f"state must be a tensor or a tuple of tensors {names}, got {type(state).__name__}")
    if len(state) != len(names):
        raise ValueError(f"state must have {len(names)} element(s) {names} for {type(cell).__name__}, "
                         f"got {len(state)}")
    out = []
    for j, (name, s) in enumerate(zip(names, state)):
        if unbatched and s.dim() > 0:  # a 0-d tensor is refused by the shape check below
            s = s.unsqueeze(1)
        want = (len(layer.cells), x.shape[1], *layer.cells[0].state_shapes(x)[j])
        # layers after the first may have other input sizes but always the same state shapes
        if tuple(s.shape) != want:
            raise ValueError(f"state {name} must have shape (num_layers * D, N, ...) = {_shape(want)}, "
                             f"got {_shape(s.shape)}")
        if not s.is_floating_point():
            raise TypeError(f"state {name} must be floating point, got {s.dtype}")
        if not tracing() and not all_finite(s):
            raise ValueError(f"state {name} contains NaN or inf")
        out.append(s.to(dtype=x.dtype, device=x.device))
    return tuple(out)
