"""Modern (dense, continuous) Hopfield network (Ramsauer et al. 2020), a differentiable torch layer."""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from ..checks import check_size
from ._checks import check_finite, check_positive


class ModernRecall(NamedTuple):
    """What `ModernHopfield.recall` returns (batch dim dropped for a 1-D query).

    states (B, d): final states.  steps (B,): updates applied.  converged (B,): the last update moved
    the state by at most tol (max-norm).  pattern (B,): index of the stored pattern nearest the final
    state (largest dot product).  attention (B, P): softmax(beta X^T xi) at the final state.
    """

    states: torch.Tensor
    steps: torch.Tensor
    converged: torch.Tensor
    pattern: torch.Tensor
    attention: torch.Tensor


class ModernHopfield(nn.Module):
    r"""Modern Hopfield network: continuous states, exponential capacity, one update = attention.

    With the stored patterns as the columns of X (d, P) (here the rows of `patterns`, (P, d)):
        xi_new = X softmax(beta X^T xi)
        E(xi)  = -lse(beta, X^T xi) + 1/2 xi^T xi + (1/beta) log P + 1/2 M^2,  M = max_k ||x_k||
        lse(beta, z) = (1/beta) log sum_k exp(beta z_k)
    The update never increases E and converges; for well-separated patterns one update retrieves
    the pattern nearest the query (Ramsauer et al. 2020, Theorems 1-4). forward() applies `steps`
    updates and is differentiable with respect to the query, the patterns and (if learnable) beta.

    Shapes: B batch, d pattern size, P number of patterns
        query (B, d) or (d,); patterns (P, d) -> output like query; energy -> (B,) or ()
    Saving: an nn.Module; `stored` (P, d) is a buffer (an nn.Parameter when trainable=True) and
    `log_beta` a buffer (a Parameter when learn_beta=True); `config()` + `from_config(config, tensors)`
    rebuild it from state_dict() tensors (safetensors) and JSON.

    Args:
        patterns: (P, d) float tensor to store now, or None (pass patterns to forward, e.g. as keys).
        beta: inverse temperature (> 0); 1/sqrt(d) gives transformer attention.
        steps: updates per forward call (>= 1).
        trainable: make the stored patterns an nn.Parameter.
        learn_beta: make log(beta) an nn.Parameter.

    Example:
        >>> import torch
        >>> from rnnzoo.memory import ModernHopfield
        >>> xi = torch.randn(50, 64, generator=torch.Generator().manual_seed(0)).sign()
        >>> net = ModernHopfield(xi, beta=0.5)
        >>> noisy = xi[7] * torch.where(torch.arange(64) < 16, -1.0, 1.0)  # 16 of 64 signs flipped
        >>> torch.equal(net(noisy).sign(), xi[7])
        True
    """

    def __init__(self, patterns=None, *, beta: float = 1.0, steps: int = 1, trainable: bool = False,
                 learn_beta: bool = False):
        super().__init__()
        check_positive(beta, "beta")
        self.steps = check_size(steps, "steps")
        self.trainable, self.learn_beta = bool(trainable), bool(learn_beta)
        log_beta = torch.tensor(math.log(beta), dtype=torch.float64 if patterns is None
                                else self._check_patterns(patterns).dtype)
        if self.learn_beta:
            self.log_beta = nn.Parameter(log_beta)
        else:
            self.register_buffer("log_beta", log_beta)
        stored = None if patterns is None else self._check_patterns(patterns).clone()
        if self.trainable and stored is not None:
            self.stored = nn.Parameter(stored)
        else:
            self.register_buffer("stored", stored)

    @staticmethod
    def _check_patterns(patterns, argument: str = "patterns") -> torch.Tensor:
        x, _ = check_finite(patterns, argument, dims=(2,))
        if x.shape[0] == 0 or x.shape[1] == 0:
            raise ValueError(f"{argument} must be (P, d) with P, d >= 1, got shape {tuple(x.shape)}")
        return x

    @property
    def beta(self) -> torch.Tensor:
        return self.log_beta.exp()

    def _patterns(self, patterns) -> torch.Tensor:
        if patterns is None:
            if self.stored is None:
                raise ValueError("patterns must be given: this ModernHopfield stores none")
            return self.stored
        return self._check_patterns(patterns)

    def _query(self, query, X) -> tuple[torch.Tensor, bool]:
        q, single = check_finite(query, "query")
        if q.shape[-1] != X.shape[1]:
            raise ValueError(f"query must have length {X.shape[1]} (the pattern size d), got {q.shape[-1]}")
        return (q.unsqueeze(0) if single else q), single

    def attention(self, query, patterns=None) -> torch.Tensor:
        """softmax(beta X^T xi): (B, P) weights of the stored patterns for each query."""
        X = self._patterns(patterns)
        q, single = self._query(query, X)
        a = torch.softmax(self.beta.to(q.dtype) * (q @ X.T), dim=-1)
        return a[0] if single else a

    def forward(self, query, patterns=None) -> torch.Tensor:
        """`steps` updates xi <- X softmax(beta X^T xi); patterns overrides the stored ones."""
        X = self._patterns(patterns)
        q, single = self._query(query, X)
        beta = self.beta.to(q.dtype)
        for _ in range(self.steps):
            q = torch.softmax(beta * (q @ X.T), dim=-1) @ X
        return q[0] if single else q

    def energy(self, state, patterns=None) -> torch.Tensor:
        """E(xi) = -lse(beta, X^T xi) + 1/2 xi^T xi + (1/beta) log P + 1/2 M^2; (B,) or ()."""
        X = self._patterns(patterns)
        q, single = self._query(state, X)
        beta = self.beta.to(q.dtype)
        lse = torch.logsumexp(beta * (q @ X.T), dim=-1) / beta
        M2 = (X * X).sum(1).max()
        e = -lse + 0.5 * (q * q).sum(-1) + torch.log(torch.tensor(float(X.shape[0]), dtype=q.dtype)) / beta \
            + 0.5 * M2
        return e[0] if single else e

    @torch.no_grad()
    def recall(self, query, patterns=None, *, max_steps: int = 100, tol: float = 1e-9) -> ModernRecall:
        """Iterate the update until the state moves by <= tol (max-norm) or max_steps; no autograd."""
        X = self._patterns(patterns)
        q, single = self._query(query, X)
        q = q.clone()
        check_size(max_steps, "max_steps")
        check_positive(tol, "tol", allow_zero=True)
        beta = self.beta.to(q.dtype)
        B = q.shape[0]
        steps = torch.zeros(B, dtype=torch.long)
        converged = torch.zeros(B, dtype=torch.bool)
        for _ in range(max_steps):
            active = ~converged
            if not bool(active.any()):
                break
            new = torch.softmax(beta * (q[active] @ X.T), dim=-1) @ X
            converged[active] = (new - q[active]).abs().amax(1) <= tol
            q[active] = new
            steps[active] += 1
        att = torch.softmax(beta * (q @ X.T), dim=-1)
        out = ModernRecall(q, steps, converged, (q @ X.T).argmax(1), att)
        return ModernRecall(*(v[0] for v in out)) if single else out

    # --- saving -------------------------------------------------------------------------------
    def config(self) -> dict:
        """JSON-able constructor arguments; the tensors are `state_dict()` (log_beta, stored if any)."""
        return {"class": "ModernHopfield", "beta": float(self.beta), "steps": self.steps,
                "trainable": self.trainable, "learn_beta": self.learn_beta}

    @classmethod
    def from_config(cls, config: dict, tensors: dict) -> "ModernHopfield":
        net = cls(tensors.get("stored"), beta=config["beta"], steps=config["steps"],
                  trainable=config["trainable"], learn_beta=config["learn_beta"])
        with torch.no_grad():
            net.log_beta.copy_(tensors["log_beta"])
        return net

    def extra_repr(self) -> str:
        P = "none" if self.stored is None else f"{self.stored.shape[0]}x{self.stored.shape[1]}"
        return f"patterns={P}, beta={float(self.beta):.4g}, steps={self.steps}"
