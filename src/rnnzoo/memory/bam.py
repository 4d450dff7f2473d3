"""Bidirectional associative memory (Kosko 1988)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from ..checks import check_size
from ._checks import as_generator, check_bipolar, threshold


class BAMRecall(NamedTuple):
    """What `BAM.recall` returns (batch dim dropped for 1-D cues).

    x (B, n_x), y (B, n_y): the final pair.  steps (B,): bounces (x -> y -> x) until nothing changed.
    converged (B,): a stable pair within max_steps.  pair (B,): index of the stored pair equal to
    (x, y), -1 if none.  energy (T, B): E(x, y) after the first half-step and after every half-step
    since; it never increases.
    """

    x: torch.Tensor
    y: torch.Tensor
    steps: torch.Tensor
    converged: torch.Tensor
    pair: torch.Tensor
    energy: torch.Tensor


class BAM(nn.Module):
    r"""Kosko's bidirectional associative memory: two bipolar layers x (n_x) and y (n_y).

    Storage of pairs (x_k, y_k):   W = sum_k x_k y_k^T                      (n_x, n_y)
    Recall, bouncing between the layers until neither changes:
        y <- sign(W^T x),  x <- sign(W y),  ...   a unit whose field is 0 keeps its value
    Energy E(x, y) = -x^T W y; each half-step minimises it over one layer, so it never increases and
    recall ends in a stable pair. Starting from x alone, y's "previous value" for ties is +1 (or the
    y you pass); likewise for x when starting from y.

    Shapes: n_x, n_y layer sizes, P stored pairs, B cues
        x (B, n_x) or (n_x,); y (B, n_y) or (n_y,); weight (n_x, n_y); energy -> (B,) or ()
    Saving: an nn.Module whose buffers `weight`, `stored_x`, `stored_y` are its state; `config()` and
    `BAM.from_config(config, tensors)` rebuild it from JSON and state_dict() tensors (safetensors).

    Args:
        x_size, y_size: n_x and n_y.
        dtype: of the weights and states (float64 by default).

    Example (Kosko's textbook pairs):
        >>> import torch
        >>> from rnnzoo.memory import BAM
        >>> X = torch.tensor([[1, -1, 1, -1, 1, -1], [1, 1, 1, -1, -1, -1]])
        >>> Y = torch.tensor([[1, 1, -1, -1], [1, -1, 1, -1]])
        >>> bam = BAM(6, 4).store(X, Y)
        >>> bam.recall(x=X).y.long().tolist(), bam.recall(y=Y).x.long().tolist() == X.tolist()
        ([[1, 1, -1, -1], [1, -1, 1, -1]], True)
    """

    def __init__(self, x_size: int, y_size: int, *, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.x_size, self.y_size = check_size(x_size, "x_size"), check_size(y_size, "y_size")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.register_buffer("weight", torch.zeros(x_size, y_size, dtype=dtype))
        self.register_buffer("stored_x", torch.zeros(0, x_size, dtype=dtype))
        self.register_buffer("stored_y", torch.zeros(0, y_size, dtype=dtype))

    def store(self, x, y) -> "BAM":
        """Add pairs: x (P, n_x), y (P, n_y) of +1/-1 (or one pair, 1-D); returns self."""
        x, _ = check_bipolar(x, "x", self.x_size, dtype=self.weight.dtype)
        y, _ = check_bipolar(y, "y", self.y_size, dtype=self.weight.dtype)
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"y must have one row per row of x ({x.shape[0]}), got {y.shape[0]}")
        self.weight += x.T @ y
        self.stored_x = torch.cat([self.stored_x, x])
        self.stored_y = torch.cat([self.stored_y, y])
        return self

    def energy(self, x, y) -> torch.Tensor:
        """E(x, y) = -x^T W y: (B,) for batches, () for one pair."""
        x, single = check_bipolar(x, "x", self.x_size, dtype=self.weight.dtype)
        y, _ = check_bipolar(y, "y", self.y_size, dtype=self.weight.dtype)
        e = -((x @ self.weight) * y).sum(-1)
        return e[0] if single else e

    def recall(self, x=None, y=None, *, max_steps: int = 100) -> BAMRecall:
        """Recall from x (forward), from y (backward), or from both (starting with the x -> y step)."""
        if x is None and y is None:
            raise ValueError("x or y must be given (the cue to recall from), got neither")
        max_steps = check_size(max_steps, "max_steps")
        W = self.weight
        tol = 64 * torch.finfo(W.dtype).eps * max(W.shape) * float(W.abs().max())
        xs = check_bipolar(x, "x", self.x_size, dtype=W.dtype) if x is not None else None
        ys = check_bipolar(y, "y", self.y_size, dtype=W.dtype) if y is not None else None
        single = (xs or ys)[1]
        if xs is not None and ys is not None and xs[0].shape[0] != ys[0].shape[0]:
            raise ValueError(f"y must have as many rows as x ({xs[0].shape[0]}), got {ys[0].shape[0]}")
        B = (xs or ys)[0].shape[0]
        forward = xs is not None
        if forward:
            a, b0, M = xs[0].clone(), (ys[0].clone() if ys else torch.ones(B, self.y_size, dtype=W.dtype)), W
        else:
            a, b0, M = ys[0].clone(), torch.ones(B, self.x_size, dtype=W.dtype), W.T
        # a: the cue layer, b: the other one, M maps a to b's field (a @ M)
        b = threshold(a @ M, b0, tol)
        energies = [-((a @ M) * b).sum(-1)]
        steps = torch.zeros(B, dtype=torch.long)
        converged = torch.zeros(B, dtype=torch.bool)
        for _ in range(max_steps):
            a_new = threshold(b @ M.T, a, tol)
            energies.append(-((a_new @ M) * b).sum(-1))
            b_new = threshold(a_new @ M, b, tol)
            energies.append(-((a_new @ M) * b_new).sum(-1))
            same = (a_new == a).all(1) & (b_new == b).all(1)
            steps += ~converged
            converged |= same
            a, b = a_new, b_new
            if bool(converged.all()):
                break
        x_out, y_out = (a, b) if forward else (b, a)
        match = ((x_out @ self.stored_x.T) >= self.x_size - 0.5) & ((y_out @ self.stored_y.T) >= self.y_size - 0.5)
        pair = torch.where(match.any(1), match.float().argmax(1), -1) if len(self.stored_x) \
            else torch.full((B,), -1, dtype=torch.long)
        out = BAMRecall(x_out, y_out, steps, converged, pair, torch.stack(energies))
        if single:
            return BAMRecall(*(v[0] for v in out[:5]), out.energy[:, 0])
        return out

    # --- saving -------------------------------------------------------------------------------
    def config(self) -> dict:
        """JSON-able constructor arguments; the tensors are `state_dict()` (weight, stored_x, stored_y)."""
        return {"class": "BAM", "x_size": self.x_size, "y_size": self.y_size,
                "dtype": str(self.weight.dtype).removeprefix("torch.")}

    @classmethod
    def from_config(cls, config: dict, tensors: dict) -> "BAM":
        bam = cls(config["x_size"], config["y_size"], dtype=getattr(torch, config.get("dtype", "float64")))
        bam.stored_x = tensors["stored_x"].to(bam.weight.dtype).clone()
        bam.stored_y = tensors["stored_y"].to(bam.weight.dtype).clone()
        bam.weight.copy_(tensors["weight"])
        return bam

    def extra_repr(self) -> str:
        return f"{self.x_size}, {self.y_size}, pairs={self.stored_x.shape[0]}"


def bam_recall_rate(x_size: int = 100, y_size: int = 100, pairs=(1, 2, 4, 6, 8, 10, 15, 20),
                    trials: int = 10, seed: int = 0) -> dict:
    """Fraction of stored random pairs recalled exactly, against the number of pairs P.

    For each P and trial: store P random bipolar pairs, recall every pair from its x (forward: the
    final pair is exactly (x_k, y_k)) and from its y (backward). Returns {"x_size", "y_size",
    "pairs": [P...], "forward": [rate...], "backward": [rate...]}, each rate in [0, 1].
    (Kosko's BAM holds about min(n_x, n_y) / (2 log min(n_x, n_y)) random pairs reliably.)
    """
    check_size(trials, "trials")
    gen = as_generator(seed)
    out = {"x_size": x_size, "y_size": y_size, "pairs": [], "forward": [], "backward": []}
    for P in pairs:
        check_size(P, "pairs")
        fwd = bwd = 0
        for _ in range(trials):
            X = torch.randint(0, 2, (P, x_size), generator=gen).double() * 2 - 1
            Y = torch.randint(0, 2, (P, y_size), generator=gen).double() * 2 - 1
            bam = BAM(x_size, y_size).store(X, Y)
            fwd += int((bam.recall(x=X).pair == torch.arange(P)).sum())
            bwd += int((bam.recall(y=Y).pair == torch.arange(P)).sum())
        out["pairs"].append(P)
        out["forward"].append(fwd / (P * trials))
        out["backward"].append(bwd / (P * trials))
    return out
