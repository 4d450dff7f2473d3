"""`SequenceESN`: an echo state network that reads a whole sequence and answers once.

The reservoir runs over each sequence from a zero state; the answer is a linear readout of features of
its states, fitted in closed form (ridge regression in float64, the ridge chosen by cross-validation
unless given):

    x(n)  = (1 - a) x(n-1) + a tanh(W x(n-1) + W_in u(n) + b)          (ESN's reservoir, no feedback)
    z     = [1; x(T); mean_{n <= T} x(n)]                                T: the sequence's real length
    y     = W_out z                                                      (O outputs)

It is the reservoir counterpart of `SequenceModel` with pooling: the same `forward(x, lengths) ->
(outputs, state)`, so a task's batch code serves both. Classification fits one-hot targets and takes
the argmax (Jaeger's "reservoir states as features"; reservoirpy's sequence-to-vector readout), whole-
series regression fits the targets, and a direct multi-step forecast fits the H next values of a window.

Shapes (batch first): N sequences, L steps, D input_size, R reservoir_size, O output_size
    x (N, L, D), lengths (N,) -> outputs (N, O); weight_out (O, 1 + 2R)

Example:
    >>> import torch
    >>> from rnnzoo.reservoir import SequenceESN
    >>> g = torch.Generator().manual_seed(0)
    >>> t = torch.linspace(0, 6.3, 40)
    >>> x = torch.stack([torch.sin(t * (1 + k % 2)) for k in range(20)])[..., None]   # two frequencies
    >>> y = torch.nn.functional.one_hot(torch.arange(20) % 2).double()
    >>> model = SequenceESN(1, 2, reservoir_size=50, seed=0).fit(x, targets=y)
    >>> (model(x)[0].argmax(1) == torch.arange(20) % 2).all().item()
    True
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_size
from .esn import ESN
from .readout import DEFAULT_RIDGES, check_ridge, fit_readout


class SequenceESN(nn.Module):
    """A fixed random reservoir read once per sequence (its last and mean states) by a ridge readout.

    Args: input_size (D), output_size (O), reservoir_size (R), spectral_radius, leak_rate, input_scaling,
    bias_scaling, density (of the reservoir matrix; None: ESN's default), seed (draws the reservoir),
    ridge (None: chosen from DEFAULT_RIDGES by 5-fold cross-validation in `fit`).
    """

    def __init__(self, input_size: int, output_size: int, reservoir_size: int = 500, *,
                 spectral_radius: float = 0.9, leak_rate: float = 1.0, input_scaling: float = 1.0,
                 bias_scaling: float = 0.0, density: float | None = None, ridge: float | None = None,
                 seed: int = 0):
        super().__init__()
        self.input_size = check_size(input_size, "input_size")
        self.output_size = check_size(output_size, "output_size")
        self.ridge = None if ridge is None else check_ridge(ridge)
        self.esn = ESN(input_size, reservoir_size, 1, spectral_radius=spectral_radius, leak_rate=leak_rate,
                       input_scaling=input_scaling, bias_scaling=bias_scaling, density=density,
                       readout_input=False, seed=seed, batch_first=False)
        self._config = dict(class_="SequenceESN", input_size=input_size, output_size=output_size,
                            reservoir_size=reservoir_size, spectral_radius=spectral_radius, leak_rate=leak_rate,
                            input_scaling=input_scaling, bias_scaling=bias_scaling, density=density,
                            ridge=ridge, seed=seed)
        self.register_buffer("weight_out", torch.zeros(output_size, 1 + 2 * reservoir_size, dtype=torch.float64))
        self.ridge_: float | None = None

    def config(self) -> dict:
        """JSON-able: `SequenceESN(**{k: v for k, v in c.items() if k != "class"})` rebuilds it."""
        c = dict(self._config)
        return {"class": c.pop("class_"), **c}

    def features(self, x: torch.Tensor, lengths=None) -> torch.Tensor:
        """z (N, 1 + 2R): a constant, the state at each sequence's last real step, the mean state."""
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[2] != self.input_size:
            got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"x must be (N, L, {self.input_size}), got {got}")
        N, L = x.shape[:2]
        lengths = torch.full((N,), L) if lengths is None else torch.as_tensor(lengths).cpu().long()
        if lengths.shape != (N,) or int(lengths.min()) < 1 or int(lengths.max()) > L:
            raise ValueError(f"lengths must be (N,) = ({N},) values from 1 to {L}, got {lengths.tolist()}")
        if torch.isnan(x).any():
            raise ValueError("x holds NaN; fill or drop missing values first")
        # padding comes after a sequence's real steps, so its states up to its length are its own
        X, _ = self.esn.run(x.transpose(0, 1).to(torch.float64))  # (L, N, R)
        X = X.transpose(0, 1)
        last = X[torch.arange(N), lengths - 1]
        valid = (torch.arange(L)[None, :] < lengths[:, None]).unsqueeze(-1)
        mean = (X * valid).sum(1) / lengths[:, None].to(X.dtype)
        return torch.cat([torch.ones(N, 1, dtype=X.dtype), last, mean], 1)

    @torch.no_grad()
    def fit(self, x: torch.Tensor, lengths=None, *, targets: torch.Tensor) -> "SequenceESN":
        """W_out by ridge regression of targets (N, O) on the features of x; returns self."""
        Z = self.features(x, lengths)
        Y = torch.as_tensor(targets, dtype=torch.float64)
        if Y.shape != (len(Z), self.output_size):
            raise ValueError(f"targets must be (N, O) = ({len(Z)}, {self.output_size}), got {tuple(Y.shape)}")
        # cross-validation folds are contiguous: shuffle (seeded) so that sorted cases do not form a fold
        order = torch.randperm(len(Z), generator=torch.Generator().manual_seed(self._config["seed"]))
        W, self.ridge_, _ = fit_readout(Z[order], Y[order], self.ridge, ridges=DEFAULT_RIDGES)
        self.weight_out.copy_(W)
        return self

    def forward(self, x, lengths=None, state=None):
        """x (N, L, D) -> (outputs (N, O) float32, None): no state is carried between sequences."""
        with torch.no_grad():
            return (self.features(x, lengths) @ self.weight_out.T).float(), None
