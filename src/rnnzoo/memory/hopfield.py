"""Classic (binary) Hopfield network (Hopfield 1982) with Hebbian, Storkey and pseudo-inverse storage."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .._loops import single_thread
from ..checks import check_size
from ._checks import as_generator, check_bipolar, threshold

RULES = ("hebbian", "storkey", "pinv")
MODES = ("async", "sync")


class HopfieldRecall(NamedTuple):
    """What `Hopfield.recall` returns; B = number of cues (the batch dim is dropped for a 1-D cue).

    states (B, N): the final states.  steps (B,): sweeps taken (async: one sweep = every unit once, in
    random order; sync: one parallel update), the last one being the sweep that changed nothing when
    converged.  converged (B,): a fixed point was reached within max_steps.  pattern (B,): index of
    the stored pattern equal to the final state, -1 if none (a spurious state, or a sign-flipped
    pattern).  overlaps (B, P): m_k = (1/N) sum_i s_i xi_k,i with every stored pattern.
    """

    states: torch.Tensor
    steps: torch.Tensor
    converged: torch.Tensor
    pattern: torch.Tensor
    overlaps: torch.Tensor


class Hopfield(nn.Module):
    r"""Binary Hopfield network: N bipolar (+1/-1) units, symmetric weights W with zero diagonal.

    Storage of patterns xi_1..xi_P (rows of X, shape (P, N)), then w_ii = 0 for every rule:
        hebbian  (Hopfield 1982)   W = (1/N) sum_k xi_k xi_k^T
        storkey  (Storkey 1997)    per pattern x, with h_ij = sum_{k != i, j} w_ik x_k:
                                   w_ij += (1/N) (x_i x_j - x_i h_ji - h_ij x_j)
        pinv     (projection, Personnaz et al. 1985; Kanter & Sompolinsky 1987)
                                   W = X^T (X X^T)^+ X, the projector onto span(X); at most N - 1 patterns
    Update of unit i: s_i <- sign(h_i), h_i = sum_j w_ij s_j; a unit whose field is 0 (|h_i| <= tol,
    a rounding guard) keeps its value. `async`: one sweep visits every unit once, in a fresh
    random order each sweep (shared by the cues of a batch); `sync`: all units at once (may end in
    a 2-cycle, then converged is False).
    Energy E(s) = -1/2 s^T W s never rises under asynchronous updates.
    Capacity (cue with few flipped bits, N large): Hebbian alpha = P/N ~ 0.138 (Amit, Gutfreund &
    Sompolinsky 1985); Storkey ~ 1/sqrt(2 ln N); pinv: any N - 1 linearly independent patterns.

    Shapes: N size, P stored patterns, B cues
        patterns (P, N) or (N,); cues (B, N) or (N,); weight (N, N); stored (P, N); energy -> (B,) or ()
    Saving: an nn.Module whose buffers `weight` and `stored` are its whole state (save state_dict()
    with safetensors and `config()` as JSON; `Hopfield.from_config(config, tensors)` rebuilds it).

    Args:
        size: N, the number of units.
        rule: "hebbian", "storkey" or "pinv".
        dtype: of the weights and states; float64 by default (pinv near N - 1 patterns needs it).

    Example:
        >>> import torch
        >>> from rnnzoo.memory import Hopfield
        >>> g = torch.Generator().manual_seed(0)
        >>> xi = torch.randint(0, 2, (5, 100), generator=g).double() * 2 - 1
        >>> net = Hopfield(100, rule="storkey").store(xi)
        >>> cue = xi[2].clone(); cue[:10] *= -1                # 10 bits flipped
        >>> out = net.recall(cue, seed=0)
        >>> int(out.pattern), bool(out.converged), bool(net.energy(out.states) < net.energy(cue))
        (2, True, True)
    """

    def __init__(self, size: int, rule: str = "hebbian", *, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.size = check_size(size, "size")
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        self.rule = rule
        self.register_buffer("weight", torch.zeros(size, size, dtype=dtype))
        self.register_buffer("stored", torch.zeros(0, size, dtype=dtype))

    # --- storage ------------------------------------------------------------------------------
    def store(self, patterns) -> "Hopfield":
        """Add patterns (P, N) or (N,) of +1/-1 to the memory and update W by the rule; returns self."""
        x, _ = check_bipolar(patterns, "patterns", self.size, dtype=self.weight.dtype)
        total = self.stored.shape[0] + x.shape[0]
        if self.rule == "pinv" and total > self.size - 1:
            raise ValueError(f"patterns: the pinv rule holds at most size - 1 = {self.size - 1} patterns, "
                             f"got {total} in all ({x.shape[0]} new)")
        N = self.size
        if self.rule == "hebbian":
            self.weight += x.T @ x / N
        elif self.rule == "storkey":
            W = self.weight
            for xk in x:  # h_ij = h_i - w_ij x_j (w_ii = 0), x_j^2 = 1:
                h = W @ xk  # dW = (1/N)(x x^T - x h^T - h x^T + 2 W)
                W += (torch.outer(xk, xk) - torch.outer(xk, h) - torch.outer(h, xk) + 2 * W) / N
                W.fill_diagonal_(0)
        self.stored = torch.cat([self.stored, x])
        if self.rule == "pinv":
            X = self.stored
            self.weight.copy_(X.T @ torch.linalg.pinv(X @ X.T, hermitian=True) @ X)
        self.weight.fill_diagonal_(0)
        return self

    def clear(self) -> "Hopfield":
        """Forget every pattern (W = 0)."""
        self.weight.zero_()
        self.stored = self.stored[:0]
        return self

    # --- dynamics -----------------------------------------------------------------------------
    @property
    def tol(self) -> float:
        """Fields with |h| <= tol count as 0 (rounding guard): 64 eps N max|w|."""
        return 64 * torch.finfo(self.weight.dtype).eps * self.size * float(self.weight.abs().max())

    def energy(self, state) -> torch.Tensor:
        """E(s) = -1/2 s^T W s for s (N,) -> () or (B, N) -> (B,)."""
        s, single = check_bipolar(state, "state", self.size, dtype=self.weight.dtype)
        e = -0.5 * ((s @ self.weight) * s).sum(-1)
        return e[0] if single else e

    def recall(self, cues, *, mode: str = "async", max_steps: int = 100, seed=None) -> HopfieldRecall:
        """Run every cue to a fixed point or max_steps sweeps; see `HopfieldRecall` for the result.

        seed (int, torch.Generator or None) draws the random update orders of the async mode.
        """
        s, single = check_bipolar(cues, "cues", self.size, dtype=self.weight.dtype)
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        max_steps = check_size(max_steps, "max_steps")
        s = s.clone()
        B, N = s.shape
        steps = torch.zeros(B, dtype=torch.long)
        converged = torch.zeros(B, dtype=torch.bool)
        W, tol = self.weight, self.tol
        gen = as_generator(seed)
        for _ in range(max_steps):
            active = (~converged).nonzero().squeeze(1)
            if active.numel() == 0:
                break
            x = s[active]
            if mode == "sync":
                new = threshold(x @ W, x, tol)
                changed = (new != x).any(1)
                x = new
            else:  # one random order per sweep, shared by the cues of the batch
                before = x.clone()
                with single_thread():
                    for i in torch.randperm(N, generator=gen).tolist():
                        h = x @ W[i]
                        x[:, i] = torch.where(h.abs() > tol, h.sign(), x[:, i])
                changed = (x != before).any(1)
            s[active] = x
            steps[active] += 1
            converged[active] = ~changed
        overlaps = s @ self.stored.T / N
        exact = overlaps >= 1 - 0.5 / N
        pattern = torch.where(exact.any(1), exact.float().argmax(1), -1) if len(self.stored) \
            else torch.full((B,), -1, dtype=torch.long)
        out = HopfieldRecall(s, steps, converged, pattern, overlaps)
        return HopfieldRecall(*(v[0] for v in out)) if single else out

    # --- saving -------------------------------------------------------------------------------
    def config(self) -> dict:
        """JSON-able constructor arguments; the tensors are `state_dict()` (weight, stored)."""
        return {"class": "Hopfield", "size": self.size, "rule": self.rule,
                "dtype": str(self.weight.dtype).removeprefix("torch.")}

    @classmethod
    def from_config(cls, config: dict, tensors: dict) -> "Hopfield":
        """Rebuild from `config()` and the `state_dict()` tensors (e.g. safetensors.torch.load_file)."""
        net = cls(config["size"], config["rule"], dtype=getattr(torch, config.get("dtype", "float64")))
        net.stored = tensors["stored"].to(net.weight.dtype).clone()
        net.weight.copy_(tensors["weight"])
        return net

    def extra_repr(self) -> str:
        return f"{self.size}, rule={self.rule!r}, patterns={self.stored.shape[0]}"
