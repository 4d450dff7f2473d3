"""Pretrained word vectors from a GloVe-format text file (one word and its values per line), for a vocabulary.

    >>> import os, tempfile
    >>> from rnnzoo.data.vectors import load_vectors
    >>> path = os.path.join(tempfile.mkdtemp(), "v.txt")
    >>> _ = open(path, "w").write("the 0.1 0.2\\ncat 0.3 0.4\\n")
    >>> weights, found = load_vectors(path, {"<pad>": 0, "<unk>": 1, "cat": 2, "dog": 3})
    >>> weights.shape, found, weights[2].tolist()
    (torch.Size([4, 2]), 1, [0.30000001192092896, 0.4000000059604645])

The library never assumes where the file lives; a user passes its path (`--vectors FILE`).
"""

from __future__ import annotations

import math
from pathlib import Path

import torch


def load_vectors(path, vocab: dict[str, int], dim: int | None = None, seed: int = 0) -> tuple[torch.Tensor, int]:
    """(weights (V, D) float32, words found) for vocab {word: id}: a word's row is its vector from the file,
    a word the file lacks gets U(-0.05, 0.05) values (seeded), row 0 (padding) zeros. D is the file's;
    `dim`, when given, must equal it. Lines whose word is not in vocab are skipped unread; a line that is
    read must have D finite numbers, else ValueError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--vectors {path} is not a file")
    rows, width = {}, None
    with open(path, encoding="utf-8", errors="strict") as f:
        for number, line in enumerate(f, start=1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if not rest or (word not in vocab and width is not None):
                if not rest and line.strip():
                    raise ValueError(f"--vectors {path}, line {number}: expected a word and its values, got "
                                     f"{line.strip()[:40]!r}")
                continue
            try:
                values = [float(v) for v in rest.split()]
            except ValueError:
                raise ValueError(f"--vectors {path}, line {number}: the values of {word!r} are not all numbers") \
                    from None
            if width is None:
                width = len(values)
                if dim is not None and dim != width:
                    raise ValueError(f"--vectors {path} holds {width}-value vectors; the model's embedding is {dim}")
            if len(values) != width or not all(math.isfinite(v) for v in values):
                raise ValueError(f"--vectors {path}, line {number}: {word!r} has {len(values)} value(s) (or a "
                                 f"non-finite one); the file's vectors have {width}")
            if word in vocab:
                rows[vocab[word]] = values
    if width is None:
        raise ValueError(f"--vectors {path} holds no vector")
    g = torch.Generator().manual_seed(seed)
    weights = (torch.rand(len(vocab), width, generator=g) - 0.5) * 0.1
    weights[0] = 0.0
    for i, values in rows.items():
        weights[i] = torch.tensor(values)
    return weights, len(rows)
