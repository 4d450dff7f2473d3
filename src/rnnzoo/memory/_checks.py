"""Input checks shared by the associative memories: each message names the argument, what was expected
and what came."""

from __future__ import annotations

import torch


def figure_path(path) -> str:
    """The file that saving a figure to `path` writes: path itself, or path + ".png" where it has no
    extension (matplotlib's savefig would add one, and a caller must be able to say which file it wrote).
    A ValueError for a folder (savefig would write FOLDER.png beside it) or a format matplotlib cannot write,
    before any work is done."""
    import os
    text = os.fspath(path)
    if text.endswith(("/", os.sep)) or os.path.isdir(text):
        raise ValueError(f"{text} is a folder; give a file name, e.g. {os.path.join(text, 'plot.png')}")
    extension = os.path.splitext(text)[1][1:].lower()
    if not extension:
        text += ".png"
        if os.path.isdir(text):
            raise ValueError(f"{text} is a folder; give a file name, e.g. {os.path.join(text, 'plot.png')}")
        return text
    from matplotlib.backend_bases import FigureCanvasBase
    formats = FigureCanvasBase.get_supported_filetypes()
    if extension not in formats:
        raise ValueError(f"{text}: matplotlib cannot write .{extension} files; use one of "
                         f"{', '.join('.' + f for f in sorted(formats))}")
    return text


def as_generator(seed, argument: str = "seed"):
    """A torch.Generator from an int seed (None: a random seed drawn from torch's global generator)."""
    if isinstance(seed, torch.Generator):
        return seed
    if seed is None:
        seed = int(torch.randint(0, 2**62, (1,)).item())
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{argument} must be an int, a torch.Generator or None, got {type(seed).__name__}")
    return torch.Generator().manual_seed(seed)


def check_positive(value, argument: str, *, integer: bool = False, allow_zero: bool = False):
    kind = (int,) if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{argument} must be {'an int' if integer else 'a number'}, "
                        f"got {type(value).__name__} {value!r}")
    if not (value >= 0 if allow_zero else value > 0) or value != value or value == float("inf"):
        raise ValueError(f"{argument} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value!r}")
    return value


def check_bipolar(x, argument: str, size: int | None = None, *, dtype=None) -> tuple[torch.Tensor, bool]:
    """x as a floating (B, size) tensor of +1/-1 values, and whether it came 1-D (one pattern)."""
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x)
        except (TypeError, ValueError, RuntimeError):
            raise TypeError(f"{argument} must be a tensor of +1/-1 values, got {type(x).__name__}")
    if x.dim() not in (1, 2):
        raise ValueError(f"{argument} must be 1-D (size,) or 2-D (batch, size) of +1/-1 values, "
                         f"got {x.dim()}-D with shape {tuple(x.shape)}")
    single = x.dim() == 1
    x = x.unsqueeze(0) if single else x
    if size is not None and x.shape[1] != size:
        raise ValueError(f"{argument} must have length {size} (the number of units), got length {x.shape[1]}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{argument} is empty (shape {tuple(x.shape)})")
    if x.dtype == torch.bool:
        raise TypeError(f"{argument} must hold +1/-1 numbers, got dtype torch.bool (use x * 2 - 1)")
    bad = (x != 1) & (x != -1)
    if bool(bad.any()):
        value = x[bad][0].item()
        raise ValueError(f"{argument} must be bipolar (every entry +1 or -1), got the value {value!r}")
    return x.to(dtype or (x.dtype if x.is_floating_point() else torch.get_default_dtype())), single


def check_finite(x, argument: str, *, dims=(1, 2), dtype=None) -> tuple[torch.Tensor, bool]:
    """x as a floating (B, size) tensor with finite entries, and whether it came 1-D."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{argument} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{argument} must have a floating-point dtype, got {x.dtype}")
    if x.dim() not in dims:
        raise ValueError(f"{argument} must be {' or '.join(f'{d}-D' for d in dims)}, "
                         f"got {x.dim()}-D with shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{argument} contains NaN or inf")
    return (x.to(dtype) if dtype is not None else x), x.dim() == min(dims)


def threshold(field: torch.Tensor, previous: torch.Tensor, tol: float = 0.0) -> torch.Tensor:
    """sign(field), keeping the previous value where |field| <= tol (so the energy never rises).

    tol absorbs rounding: a field that is 0 in exact arithmetic (e.g. the pseudo-inverse rule with a
    unit vector in the span of the patterns) may come out as +-1e-16 and must not flip a unit."""
    up, down = field > tol, field < -tol
    return torch.where(up, torch.ones_like(previous), torch.where(down, -torch.ones_like(previous), previous))
