"""An irregularly sampled series: sums of sinusoids observed at random (exponentially spaced) times.

The task for continuous-time networks (`rnnzoo.CTRNN` with a per-step `dt`): predict the value at
the next observation time from the values seen so far and the time gaps. A network that sees the
values but not the gaps cannot know how far ahead it is asked to predict.
"""

from __future__ import annotations

import math

import torch

from ..checks import check_size


def _positive(value, argument: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise ValueError(f"{argument} must be a finite number > 0, got {value!r}")
    return float(value)


def irregular_sinusoids(n: int, length: int, *, frequencies=(1.0, 2.5), mean_gap: float = 0.3,
                        min_gap: float = 0.01, noise: float = 0.0, seed: int = 0,
                        return_times: bool = False):
    r"""n series of `length` irregular observations of y(t) = sum_k a_k sin(w_k t + phi_k).

    Per series: amplitudes a_k ~ U(0.5, 1) / K (so |y| <= 1), phases phi_k ~ U(0, 2 pi), angular
    frequencies w_k = `frequencies` (the same for every series). Observation times t_0 = 0,
    t_{i+1} = t_i + g_i with gaps g_i = min_gap + Exp(mean = mean_gap - min_gap), so every gap is
    > 0 and they average `mean_gap`. Optional Gaussian observation noise of std `noise` on the inputs
    (the targets stay clean). Deterministic under `seed` (its own torch.Generator; global RNG untouched).

    Returns (x, dt, target), batch first, float32:
        x (N, L, 1)       x[:, i] = y(t_i) (+ noise), the observed values
        dt (N, L)         dt[:, i] = t_{i+1} - t_i, the time from observation i to the one predicted
                          at step i: pass it as `layer(x, dt=dt)`; a CTRNN integrates step i over it
        target (N, L, 1)  target[:, i] = y(t_{i+1}), the value at the next observation time
    With return_times=True also the times t (N, L + 1).

    Example:
        >>> from rnnzoo.data import irregular_sinusoids
        >>> x, dt, y = irregular_sinusoids(4, 30, seed=0)
        >>> x.shape, dt.shape, y.shape, bool((dt > 0).all()), bool((x[:, 1:] == y[:, :-1]).all())
        (torch.Size([4, 30, 1]), torch.Size([4, 30]), torch.Size([4, 30, 1]), True, True)
    """
    n, length = check_size(n, "n"), check_size(length, "length")
    mean_gap = _positive(mean_gap, "mean_gap")
    min_gap = _positive(min_gap, "min_gap")
    if min_gap >= mean_gap:
        raise ValueError(f"min_gap must be < mean_gap, got min_gap={min_gap}, mean_gap={mean_gap}")
    if isinstance(noise, bool) or not isinstance(noise, (int, float)) or not noise >= 0:
        raise ValueError(f"noise must be a number >= 0, got {noise!r}")
    w = torch.tensor([_positive(f, "frequencies") for f in frequencies], dtype=torch.float64)
    if w.numel() == 0:
        raise ValueError("frequencies must hold at least one frequency")
    g = torch.Generator().manual_seed(seed)
    K = w.numel()
    amp = (0.5 + 0.5 * torch.rand(n, 1, K, generator=g, dtype=torch.float64)) / K
    phase = 2 * math.pi * torch.rand(n, 1, K, generator=g, dtype=torch.float64)
    gaps = min_gap + torch.empty(n, length, dtype=torch.float64).exponential_(
        1.0 / (mean_gap - min_gap), generator=g)
    t = torch.cat([torch.zeros(n, 1, dtype=torch.float64), gaps.cumsum(1)], dim=1)  # (N, L + 1)
    y = (amp * torch.sin(w * t.unsqueeze(2) + phase)).sum(2)  # (N, L + 1)
    x = y[:, :-1] + noise * torch.randn(n, length, generator=g, dtype=torch.float64)
    out = (x.unsqueeze(2).float(), gaps.float(), y[:, 1:].unsqueeze(2).float())
    return (*out, t.float()) if return_times else out
