"""Long-lag tasks: the adding problem, copy memory and "remember the first symbol", seeded and batched.

Each generator takes a `torch.Generator` and draws everything from it (nothing from torch's global
generator), so the same generator state gives the same batch. Symbols come as integer ids, not one-hot
vectors: `torch.nn.functional.one_hot(x, classes)` gives the papers' local (one-hot) coding, and a model
that reads ids through an embedding computes exactly a linear layer on that coding.

adding (`adding_batch`)
    The adding problem of Hochreiter & Schmidhuber 1997 (their experiment 4), in the form of Le, Jaitly &
    Hinton 2015 and Arjovsky, Shah & Bengio 2016: x (n, T, 2) holds values U(0, 1) (channel 0) and a
    marker (channel 1) that is 1 at exactly two steps, the first in the first half [0, T // 2) and the
    second in the second half [T // 2, T); the target y (n,) is the sum of the two marked values.
    Always answering the mean, 1.0, scores MSE Var(U + U') = 2/12 = 1/6 = 0.167 (`ADDING_BASELINE_MSE`).
    `first="tenth"` puts the first mark in the first max(1, T // 10) steps instead (closer to the 1997
    paper, whose first mark is among the first ten steps): the form benchmarks/timescales.py uses, with
    its exact draws. (The 1997 paper's own values lie in [-1, 1] and its target is 0.5 + (x1 + x2) / 4.)

copy memory (`copy_batch`)
    Arjovsky, Shah & Bengio 2016, section 4.1 (after Hochreiter & Schmidhuber 1997 and Henaff, Szlam &
    LeCun 2016), categories a_1 ... a_10 as ids 0 ... 9. The input has T + 20 steps: 10 symbols drawn
    uniformly, independently, with replacement from a_1 ... a_8 (ids 0-7); T - 1 blanks a_9 (id 8,
    `BLANK`); one delimiter a_10 (id 9, `DELIMITER`), at step T + 9, the last step of the blank phase;
    then 10 more blanks. The target has T + 10 blanks, then the 10 symbols in their order. The loss is
    the cross-entropy averaged over all T + 20 steps; the memoryless strategy (a blank with certainty for
    T + 10 steps, then a uniform guess among the 8 symbols) scores 10 log(8) / (T + 20)
    (`copy_baseline_loss`). Solved: at least 99% of the copied symbols (the last 10 steps) right.

first symbol (`first_symbol_batch`)
    Hochreiter & Schmidhuber 1997, experiment 2, task 2a ("noise-free sequences with long time lags"),
    with time lag p: p + 1 symbols a_1 ... a_{p-1} (ids 0 ... p - 2), x (id p - 1, `first_symbols(p)[0]`)
    and y (id p). There are two sequences, (x, a_1, ..., a_{p-1}) and (y, a_1, ..., a_{p-1}), each drawn
    with probability 1/2; after the last step the network must name the first symbol, x or y, which
    is p steps back. In the paper the network predicts the next symbol at every step and the sequences
    end by repeating the first symbol, (x, a_1, ..., a_{p-1}, x); only that last prediction depends on
    the past beyond one step, and it is the target here. The paper reports LSTM solving p = 100 (and
    1000 in task 2c) where BPTT and RTRL fail beyond p = 10 (RTRL solves p = 4). `distractors="random"`
    is task 2b ("no local regularities"): each a_i replaced by a symbol drawn uniformly from
    a_1 ... a_{p-1}. These definitions are written from the paper as it is commonly cited; its text was
    not at hand to check them word by word.
"""

from __future__ import annotations

import math

import torch

from ..checks import check_size

ADDING_BASELINE_MSE = 1 / 6  # always answering 1.0: Var(U(0,1) + U(0,1))
COPY_SYMBOLS = 10        # symbols to remember
COPY_CATEGORIES = 8      # a_1 ... a_8, ids 0-7
BLANK, DELIMITER = 8, 9  # a_9, a_10
COPY_CLASSES = 10        # input and output categories


def _check_generator(generator) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
    return generator


def adding_batch(n: int, T: int, generator: torch.Generator, first: str = "half") -> tuple[torch.Tensor, torch.Tensor]:
    """n adding-problem sequences of length T: x (n, T, 2) = (values, marker), y (n,) the marked sum.

    first: "half", the first mark in [0, T // 2) (Le et al. 2015, Arjovsky et al. 2016), or "tenth",
    in [0, max(1, T // 10)); the second mark is in [T // 2, T) either way.
    """
    check_size(n, "n")
    if check_size(T, "T") < 2:
        raise ValueError(f"T must be >= 2 (one mark in each half), got {T}")
    if first not in ("half", "tenth"):
        raise ValueError(f"first must be 'half' or 'tenth', got {first!r}")
    _check_generator(generator)
    values = torch.rand(n, T, generator=generator)
    first_end = T // 2 if first == "half" else max(1, T // 10)
    marks = (torch.randint(0, first_end, (n,), generator=generator),
             torch.randint(T // 2, T, (n,), generator=generator))
    marker = torch.zeros(n, T)
    rows = torch.arange(n)
    for mark in marks:
        marker[rows, mark] = 1.0
    return torch.stack([values, marker], dim=-1), (values * marker).sum(1)


def copy_batch(n: int, T: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n copy-memory sequences with T blank steps: x, y (n, T + 20) category ids (int64).

    x = 10 symbols (ids 0-7), T - 1 blanks (8), the delimiter (9), 10 blanks;
    y = T + 10 blanks, then x's first 10 symbols.
    """
    check_size(n, "n")
    check_size(T, "T")
    _check_generator(generator)
    symbols = torch.randint(0, COPY_CATEGORIES, (n, COPY_SYMBOLS), generator=generator)
    x = torch.full((n, T + 2 * COPY_SYMBOLS), BLANK, dtype=torch.long)
    x[:, :COPY_SYMBOLS] = symbols
    x[:, T + COPY_SYMBOLS - 1] = DELIMITER
    y = torch.full_like(x, BLANK)
    y[:, -COPY_SYMBOLS:] = symbols
    return x, y


def copy_baseline_loss(T: int) -> float:
    """Cross-entropy per step of the memoryless strategy on copy memory with T blanks: 10 log(8) / (T + 20)."""
    check_size(T, "T")
    return COPY_SYMBOLS * math.log(COPY_CATEGORIES) / (T + 2 * COPY_SYMBOLS)


def first_symbols(p: int) -> tuple[int, int]:
    """The ids of x and y in the first-symbol task with lag p (p - 1 and p; p + 1 symbols in all)."""
    return p - 1, p


def first_symbol_batch(n: int, p: int, generator: torch.Generator,
                       distractors: str = "fixed") -> tuple[torch.Tensor, torch.Tensor]:
    """n first-symbol sequences with lag p: x (n, p) symbol ids (int64, p + 1 symbols), y (n,) the first one.

    distractors: "fixed", steps 1 ... p - 1 are a_1 ... a_{p-1} in order (task 2a); "random", each
    drawn uniformly from a_1 ... a_{p-1} (task 2b).
    """
    check_size(n, "n")
    if check_size(p, "p") < 2:
        raise ValueError(f"p must be >= 2 (the first symbol and at least one a_i), got {p}")
    if distractors not in ("fixed", "random"):
        raise ValueError(f"distractors must be 'fixed' or 'random', got {distractors!r}")
    _check_generator(generator)
    x_id, _ = first_symbols(p)
    first = x_id + torch.randint(0, 2, (n,), generator=generator)
    if distractors == "fixed":
        rest = torch.arange(p - 1).expand(n, p - 1)
    else:
        rest = torch.randint(0, p - 1, (n, p - 1), generator=generator)
    return torch.cat([first[:, None], rest], dim=1), first
