"""One column of a CSV file as a float tensor: a time series for forecasting.

    >>> import tempfile, os
    >>> from rnnzoo.data.series import load_series
    >>> path = os.path.join(tempfile.mkdtemp(), "s.csv")
    >>> _ = open(path, "w").write("date,value\\n2001,1.5\\n2002,\\n2003,2.5\\n")
    >>> load_series(path, missing="interpolate").tolist()
    [1.5, 2.0, 2.5]
    >>> load_series(path)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: ... column 'value' has 1 missing value (first on line 3); pass missing='interpolate' or 'drop'

The file needs a header row; rows are the time steps, in order. The library takes a path and never
assumes where data lives.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import torch

MISSING = ("error", "drop", "interpolate", "ffill", "keep")
NA = {"", "na", "nan", "n/a", "null", "none", "-", "?"}


def load_series(path, column: str | int | None = None, *, missing: str = "error",
                dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """The values of one column of the CSV file at `path`, as a 1-D tensor (one value per row).

    column: a header name (exact, else case-insensitive), an index (negative counts from the right),
    or None for the last column. Empty cells and NA/NaN/null are missing values; `missing` says what
    to do with them: "error" (default: refuse, naming the first), "drop" (leave those rows out),
    "interpolate" (linearly between the neighbouring values; a gap at either end takes the nearest
    value), "ffill" (the last value before the gap, which never looks ahead: the honest fill for
    forecasting; a gap at the start takes the first value) or "keep" (NaN). Any other text that is
    not a finite number is an error naming its line.

    Raises FileNotFoundError (no such file), ValueError (no header or rows, unknown column, a row too
    short, a non-number, missing values with missing="error", or no value at all).
    """
    if missing not in MISSING:
        raise ValueError(f"missing must be one of {MISSING}, got {missing!r}")
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"series file {str(path)!r} does not exist")
    if not path.is_file():
        raise ValueError(f"series file {str(path)!r} is not a file")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.reader(f))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path.name} is not a UTF-8 text file ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise ValueError(f"{path.name} is not a readable CSV file: {e}") from None
    lines = [(n, row) for n, row in enumerate(rows, start=1) if any(cell.strip() for cell in row)]
    if not lines:
        raise ValueError(f"{path.name} is empty: it needs a header row and at least one row of values")
    header = [name.strip() for name in lines[0][1]]
    index = _column_index(header, column, path.name)
    name = header[index]
    if len(lines) == 1:
        raise ValueError(f"{path.name} has a header but no rows of values")
    values, gaps = [], []
    for n, row in lines[1:]:
        if index >= len(row):
            raise ValueError(f"{path.name}, line {n}: {len(row)} field(s), no column {name!r} (column "
                             f"{index + 1} of {len(header)})")
        cell = row[index].strip()
        if cell.lower() in NA:
            gaps.append((len(values), n))
            values.append(math.nan)
            continue
        try:
            value = float(cell)
        except ValueError:
            raise ValueError(f"{path.name}, line {n}: {cell!r} in column {name!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{path.name}, line {n}: {cell!r} in column {name!r} is not a finite number")
        values.append(value)
    if len(gaps) == len(values):
        raise ValueError(f"{path.name}: column {name!r} holds no value (every one of its {len(values)} cells is missing)")
    if gaps and missing == "error":
        raise ValueError(f"{path.name}: column {name!r} has {len(gaps)} missing value{'s' if len(gaps) > 1 else ''} "
                         f"(first on line {gaps[0][1]}); pass missing='interpolate' or 'drop'")
    series = torch.tensor(values, dtype=torch.float64)
    if gaps and missing == "drop":
        series = series[~torch.isnan(series)]
    elif gaps and missing == "interpolate":
        series = _interpolate(series)
    elif gaps and missing == "ffill":
        series = _forward_fill(series)
    return series.to(dtype)


def _column_index(header: list[str], column, filename: str) -> int:
    if column is None:
        return len(header) - 1
    if isinstance(column, bool) or not isinstance(column, (int, str)):
        raise TypeError(f"column must be a name, an index or None, got {type(column).__name__}")
    if isinstance(column, int):
        if not -len(header) <= column < len(header):
            raise ValueError(f"{filename} has {len(header)} column(s) ({', '.join(map(repr, header))}); "
                             f"no column index {column}")
        return column % len(header)
    if column in header:
        return header.index(column)
    folded = [h.lower() for h in header]
    if column.strip().lower() in folded:
        return folded.index(column.strip().lower())
    raise ValueError(f"{filename} has no column {column!r}; its columns: {', '.join(map(repr, header))}")


def _forward_fill(series: torch.Tensor) -> torch.Tensor:
    """NaNs replaced by the last known value before them (leading ones by the first known value)."""
    known = ~torch.isnan(series)
    idx = torch.where(known, torch.arange(len(series)), torch.zeros(len(series), dtype=torch.long))
    idx = torch.cummax(idx, 0).values
    first = int(known.nonzero()[0])
    idx = torch.where(known.cumsum(0) == 0, torch.full_like(idx, first), idx)
    return series[idx]


def _interpolate(series: torch.Tensor) -> torch.Tensor:
    """NaNs filled linearly between their known neighbours; ends take the nearest known value."""
    known = (~torch.isnan(series)).nonzero().flatten()
    t = torch.arange(len(series), dtype=torch.float64)
    right = torch.searchsorted(known, torch.arange(len(series))).clamp(max=len(known) - 1)
    left = (right - 1).clamp(min=0)
    # where t itself is known, or beyond the last known point, take the right (or last) neighbour
    t0, t1 = known[left].double(), known[right].double()
    y0, y1 = series[known[left]], series[known[right]]
    w = torch.where(t1 > t0, (t - t0) / (t1 - t0).clamp_min(1e-300), torch.ones_like(t)).clamp(0, 1)
    filled = y0 + w * (y1 - y0)
    return torch.where(torch.isnan(series), filled, series)
