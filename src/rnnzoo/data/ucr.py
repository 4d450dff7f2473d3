"""The UCR/UEA time-series archive's `.ts` files (the sktime/aeon format): `load_ts` and `pad`.

    >>> import tempfile, os
    >>> from rnnzoo.data.ucr import load_ts, pad
    >>> path = os.path.join(tempfile.mkdtemp(), "toy.ts")
    >>> _ = open(path, "w").write('''# two cases, two dimensions, unequal lengths
    ... @problemName Toy
    ... @timeStamps false
    ... @missing true
    ... @univariate false
    ... @dimensions 2
    ... @equalLength false
    ... @classLabel true up down
    ... @data
    ... 1,2,3:4,5,6:up
    ... 7,?:9,10:down
    ... ''')
    >>> series, labels, info = load_ts(path)
    >>> [tuple(s.shape) for s in series], labels, info["class_labels"], info["missing_values"]
    ([(3, 2), (2, 2)], ['up', 'down'], ['up', 'down'], 1)
    >>> x, lengths = pad(series)
    >>> x.shape, lengths.tolist()
    (torch.Size([2, 3, 2]), [3, 2])

Format: `#` comment lines, then header lines `@keyword value` (keywords in any case), then `@data`
and one case a line: its dimensions separated by `:`, the values of a dimension by `,`, and the label
(when `@classLabel true` or `@targetLabel true`) after the last `:`. Cases may differ in length, but
the dimensions of one case must have the same length. `?` (or NaN) is a missing value: it is read as
NaN and counted in info["missing_values"], never filled in; fill or drop them before a model that
refuses NaN (rnnzoo's layers do). Time-stamped files (`@timeStamps true`) are not supported.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

_BOOLEAN_KEYS = ("timestamps", "missing", "univariate", "equallength")
_KEYS = ("problemname", "dimensions", "serieslength", "classlabel", "targetlabel", "data") + _BOOLEAN_KEYS
_MISSING = {"?", "nan"}


def load_ts(path) -> tuple[list[torch.Tensor], list[str], dict]:
    """Read a `.ts` file: (series, labels, info).

    series: one float32 tensor (L_i, D) per case, in file order (NaN where a value is missing).
    labels: each case's label as written (class labels; numbers for `@targetLabel true`, convert
        them with float), or an empty list when the file declares no labels.
    info: "problem_name" (str or None), "class_labels" (the labels @classLabel declares, or None),
        "target" (whether the labels are numeric targets), "univariate", "dimensions" (D),
        "equal_length" (whether every case has the same length, as read), "series_length" (that
        length, else None), "missing" (as declared) and "missing_values" (how many were read).

    Raises FileNotFoundError, or a ValueError of one line naming the file (and the line, where one is
    at fault): not UTF-8, empty, no @data, an unknown or malformed header, a case with the wrong number
    of dimensions or with dimensions of different lengths, a value that is not a number, a label not
    declared by @classLabel, a length other than @seriesLength, or no cases.
    """
    path = Path(os.fspath(path))
    if not path.exists():
        raise FileNotFoundError(f"ts file {path} does not exist")
    if not path.is_file():
        raise ValueError(f"ts file {path} is not a file")
    data = path.read_bytes()
    if not data.strip():
        raise ValueError(f"ts file {path} is empty")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[:e.start].count(b"\n") + 1
        raise ValueError(f"{path}, line {line}: not valid UTF-8 (byte 0x{data[e.start]:02x} at offset {e.start})") \
            from None
    header, data_line = {}, None
    lines = text.splitlines()
    for n, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not line.startswith("@"):
            raise ValueError(f"{path}, line {n}: expected a header line (@keyword) or a comment (#) before "
                             f"@data, got {line[:40]!r}")
        key, _, value = line[1:].partition(" ")
        key, value = key.lower(), value.strip()
        if key not in _KEYS:
            raise ValueError(f"{path}, line {n}: unknown header @{line[1:].split()[0] if len(line) > 1 else ''}; "
                             f"known: {', '.join('@' + k for k in _KEYS)}")
        if key == "data":
            data_line = n
            break
        header[key] = _header_value(key, value, path, n)
    if data_line is None:
        raise ValueError(f"ts file {path} has no @data line: no cases to read")
    if header.get("timestamps", (False,))[0]:
        raise ValueError(f"{path}, line {header['timestamps'][1]}: @timeStamps true is not supported")
    classes = header.get("classlabel", (None,))[0]
    target = header.get("targetlabel", (False,))[0]
    univariate = header.get("univariate", (None,))[0]
    dims = header.get("dimensions", (None,))[0]
    if univariate and dims not in (None, 1):
        raise ValueError(f"{path}, line {header['dimensions'][1]}: @univariate true but @dimensions {dims}")
    if dims is None and univariate:
        dims = 1
    if classes is not None and target:
        raise ValueError(f"{path}, line {header['targetlabel'][1]}: both @classLabel true and @targetLabel true; "
                         "a case has one label")
    labelled = classes is not None or target

    series, labels, missing = [], [], 0
    for n in range(data_line + 1, len(lines) + 1):
        line = lines[n - 1].strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(":")
        if labelled:
            if len(fields) < 2:
                raise ValueError(f"{path}, line {n}: no label after the last ':' (the header declares labels)")
            label = fields.pop().strip()
            if classes is not None and label not in classes:
                raise ValueError(f"{path}, line {n}: label {label!r} is not one of @classLabel's "
                                 f"{' '.join(classes)}")
            if target and not _is_number(label):
                raise ValueError(f"{path}, line {n}: target {label!r} is not a number (@targetLabel true)")
            labels.append(label)
        if dims is None:
            dims = len(fields)  # neither @dimensions nor @univariate true: the first case sets it
        if len(fields) != dims:
            raise ValueError(f"{path}, line {n}: {len(fields)} dimension(s), expected {dims} "
                             f"({'@dimensions' if 'dimensions' in header else 'as the first case'})")
        columns = [_values(field, path, n, d) for d, field in enumerate(fields, start=1)]
        lengths = {len(c) for c in columns}
        if len(lengths) > 1:
            raise ValueError(f"{path}, line {n}: the dimensions of one case must have equal lengths, got "
                             f"{', '.join(str(len(c)) for c in columns)}")
        case = torch.from_numpy(np.stack(columns, axis=1).astype(np.float32))  # (L_i, D)
        missing += int(torch.isnan(case).sum())
        series.append(case)
        if "serieslength" in header and header.get("equallength", (True,))[0] \
                and len(case) != header["serieslength"][0]:
            raise ValueError(f"{path}, line {n}: {len(case)} values per dimension, but @seriesLength is "
                             f"{header['serieslength'][0]}")
    if not series:
        raise ValueError(f"{path}, line {data_line}: @data is followed by no cases")
    case_lengths = {len(s) for s in series}
    if header.get("equallength", (False,))[0] and len(case_lengths) > 1:
        raise ValueError(f"{path}: @equalLength true, but the cases have lengths from {min(case_lengths)} "
                         f"to {max(case_lengths)}")
    info = dict(problem_name=header.get("problemname", (None,))[0], class_labels=classes, target=target,
                univariate=dims == 1, dimensions=dims, equal_length=len(case_lengths) == 1,
                series_length=next(iter(case_lengths)) if len(case_lengths) == 1 else None,
                missing=header.get("missing", (False,))[0], missing_values=missing)
    return series, labels, info


def pad(series, value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad a list of (L_i, D) tensors into x (N, L_max, D), with lengths (N,) int64.

    Padded steps hold `value` (0 by default); NaN (missing values) are kept as they are.

        >>> x, lengths = pad([torch.ones(2, 1), torch.ones(3, 1)])
        >>> x[:, :, 0].tolist(), lengths.tolist()
        ([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]], [2, 3])
    """
    if isinstance(series, torch.Tensor) or not isinstance(series, (list, tuple)):
        raise TypeError(f"series must be a list of (L_i, D) tensors, got {type(series).__name__}")
    if not series:
        raise ValueError("series must hold at least one sequence, got an empty list")
    for i, s in enumerate(series):
        if not isinstance(s, torch.Tensor) or s.dim() != 2:
            got = f"shape {tuple(s.shape)}" if isinstance(s, torch.Tensor) else type(s).__name__
            raise ValueError(f"series[{i}] must be a 2-D tensor (L_i, D), got {got}")
        if s.shape[1] != series[0].shape[1]:
            raise ValueError(f"series[{i}] has {s.shape[1]} dimensions, series[0] has {series[0].shape[1]}; "
                             "all must have the same D")
        if s.shape[0] == 0:
            raise ValueError(f"series[{i}] is empty (length 0)")
    lengths = torch.tensor([len(s) for s in series], dtype=torch.long)
    first = series[0]
    x = first.new_full((len(series), int(lengths.max()), first.shape[1]), value)
    for i, s in enumerate(series):
        x[i, :len(s)] = s.to(x.dtype)
    return x, lengths


def _header_value(key: str, value: str, path: Path, n: int):
    """A header's value with its line number: (value, line)."""
    words = value.split()
    if key == "problemname":
        if not value:
            raise ValueError(f"{path}, line {n}: @problemName needs a name")
        return value, n
    if key in ("dimensions", "serieslength"):
        if len(words) != 1 or not words[0].isdigit() or int(words[0]) < 1:
            raise ValueError(f"{path}, line {n}: @{key} needs a whole number >= 1, got {value!r}")
        return int(words[0]), n
    if not words or words[0].lower() not in ("true", "false"):
        raise ValueError(f"{path}, line {n}: @{key} must be true or false, got {value!r}")
    flag = words[0].lower() == "true"
    if key == "classlabel":
        if flag and len(words) == 1:
            raise ValueError(f"{path}, line {n}: @classLabel true needs the class labels after it")
        if not flag and len(words) > 1:
            raise ValueError(f"{path}, line {n}: @classLabel false takes no labels, got {' '.join(words[1:])!r}")
        return (words[1:] if flag else None), n
    if len(words) != 1:
        raise ValueError(f"{path}, line {n}: @{key} must be true or false, got {value!r}")
    return flag, n


def _values(field: str, path: Path, n: int, dim: int) -> np.ndarray:
    """One dimension's comma-separated values as float64; '?' and NaN are NaN."""
    tokens = [t.strip() for t in field.split(",")]
    try:
        values = np.array([math.nan if t.lower() in _MISSING else float(t) for t in tokens], dtype=np.float64)
    except ValueError:
        i, bad = next((i, t) for i, t in enumerate(tokens, start=1) if not _is_number(t) and t.lower() not in _MISSING)
        raise ValueError(f"{path}, line {n}: dimension {dim}, value {i} is {bad!r}, not a number"
                         + (" (an empty value: two commas, or a trailing one?)" if not bad else "")) from None
    if np.isinf(values).any():
        i = int(np.flatnonzero(np.isinf(values))[0]) + 1
        raise ValueError(f"{path}, line {n}: dimension {dim}, value {i} is {tokens[i - 1]!r}, not a finite number")
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
