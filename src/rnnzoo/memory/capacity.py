"""Hopfield capacity: recall quality against the load alpha = P / N, and its plot.

    >>> from rnnzoo.memory import capacity_sweep
    >>> r = capacity_sweep(100, "hebbian", alphas=[0.05], trials=1, seed=0)
    >>> r["alphas"], r["overlap"][0] > 0.95
    ([0.05], True)
"""

from __future__ import annotations

import math

import torch

from ..checks import check_size
from ._checks import as_generator, check_positive, figure_path
from .hopfield import RULES, Hopfield
from .modern_hopfield import ModernHopfield

SWEEP_RULES = RULES + ("modern",)
DEFAULT_ALPHAS = (0.02, 0.05, 0.08, 0.10, 0.12, 0.14, 0.16, 0.18, 0.20, 0.25, 0.30)
HEBBIAN_KNEE = 0.138  # Amit, Gutfreund & Sompolinsky 1985


def _flip(patterns: torch.Tensor, flip: float, gen: torch.Generator) -> torch.Tensor:
    """Each row with exactly round(flip * N) bits flipped, at random places."""
    P, N = patterns.shape
    k = int(round(flip * N))
    where = torch.argsort(torch.rand(P, N, generator=gen), dim=1)[:, :k]
    sign = torch.ones_like(patterns).scatter_(1, where, -1.0)
    return patterns * sign


def capacity_sweep(n: int, rule: str = "hebbian", alphas=DEFAULT_ALPHAS, flip: float = 0.1,
                   trials: int = 3, seed: int = 0, *, mode: str = "async", max_steps: int = 50,
                   cues: int | None = None, beta: float | None = None) -> dict:
    """Mean overlap of the recalled state with the cued pattern, per load alpha = P / N.

    For each alpha and trial: store P = round(alpha n) random bipolar patterns with `rule`
    ("hebbian", "storkey", "pinv", or "modern" for `ModernHopfield`), cue each (or the first `cues`)
    with round(flip n) bits flipped, recall (classic: `Hopfield.recall(mode, max_steps)`; modern:
    `ModernHopfield.recall` then sign), and take the overlap m = (1/n) sum_i s_i xi_i in [-1, 1].
    pinv cannot hold P > n - 1: those alphas get NaN. beta (modern only) defaults to 1 / sqrt(n), so
    the cued pattern's score beta xi^T x ~ (1 - 2 flip) sqrt(n) stands well above the others' ~ N(0, 1).

    Returns {"n", "rule", "flip", "trials", "mode", "alphas": [...], "patterns": [P...],
    "overlap": [mean...], "overlap_std": [std over cues and trials...], "exact": [fraction of cues
    recalled exactly...]} (lists aligned with alphas; plain floats, JSON-able).
    """
    n = check_size(n, "n", minimum=2)
    if rule not in SWEEP_RULES:
        raise ValueError(f"rule must be one of {SWEEP_RULES}, got {rule!r}")
    check_positive(flip, "flip", allow_zero=True)
    if flip >= 0.5:
        raise ValueError(f"flip must be in [0, 0.5) (the fraction of cue bits flipped), got {flip}")
    trials = check_size(trials, "trials")
    alphas = [float(a) for a in alphas]
    for a in alphas:
        check_positive(a, "alphas")
    gen = as_generator(seed)
    out = {"n": n, "rule": rule, "flip": flip, "trials": trials, "mode": mode, "alphas": alphas,
           "patterns": [], "overlap": [], "overlap_std": [], "exact": []}
    for alpha in alphas:
        P = max(1, int(round(alpha * n)))
        out["patterns"].append(P)
        if rule == "pinv" and P > n - 1:
            for key in ("overlap", "overlap_std", "exact"):
                out[key].append(math.nan)
            continue
        overlaps = []
        for _ in range(trials):
            xi = torch.randint(0, 2, (P, n), generator=gen).double() * 2 - 1
            k = P if cues is None else min(P, check_size(cues, "cues"))
            cue = _flip(xi[:k], flip, gen)
            if rule == "modern":
                net = ModernHopfield(xi, beta=beta if beta is not None else 1 / math.sqrt(n))
                states = net.recall(cue, max_steps=max_steps).states.sign()
            else:
                net = Hopfield(n, rule).store(xi)
                states = net.recall(cue, mode=mode, max_steps=max_steps, seed=gen).states
            overlaps.append((states * xi[:k]).mean(1))
        m = torch.cat(overlaps)
        out["overlap"].append(float(m.mean()))
        out["overlap_std"].append(float(m.std()) if m.numel() > 1 else 0.0)
        out["exact"].append(float((m >= 1 - 0.5 / n).double().mean()))
    return out


def plot_capacity(results, path, *, title: str | None = None) -> str:
    """Plot mean overlap against alpha for one or several `capacity_sweep` results into a PNG at path.

    Marks the theory: the Hebbian knee alpha = 0.138 (Amit, Gutfreund & Sompolinsky 1985), the Storkey
    capacity alpha = 1 / sqrt(2 ln N) (Storkey 1997) and the pinv limit alpha = 1 (when in range).
    matplotlib is imported here (Agg backend), so the rest of rnnzoo does not need it. Returns the path
    written: `path`, with ".png" added when it has no extension (a folder is refused: `figure_path`).
    """
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("plot_capacity needs matplotlib: pip install matplotlib") from e
    if isinstance(results, dict):
        results = [results]
    if not results or not all(isinstance(r, dict) and "overlap" in r for r in results):
        raise ValueError("results must be a capacity_sweep result or a non-empty list of them")
    path = figure_path(path)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    hi = max(max(r["alphas"]) for r in results)
    styles = [("o", "-"), ("s", "--"), ("^", "-."), ("D", ":"), ("v", "-")]
    for k, r in enumerate(results):  # markers and dashes tell apart curves that lie on top of each other
        marker, ls = styles[k % len(styles)]
        ax.errorbar(r["alphas"], r["overlap"], yerr=r["overlap_std"], marker=marker, ls=ls, ms=7 - k, capsize=2,
                    label=f"{r['rule']} (N={r['n']})")
    rules = {r["rule"] for r in results}
    n = results[0]["n"]
    lines = [(HEBBIAN_KNEE, "Hebbian 0.138 (AGS 1985)", "hebbian")]
    lines.append((1 / math.sqrt(2 * math.log(n)), f"Storkey 1/sqrt(2 ln N) = {1 / math.sqrt(2 * math.log(n)):.3f}",
                  "storkey"))
    lines.append((1.0, "pinv: N - 1 patterns", "pinv"))
    for x, label, rule in lines:
        if rule in rules and x <= hi * 1.05:
            ax.axvline(x, ls="--", lw=1, color="gray")
            ax.text(x, 0.02, " " + label, rotation=90, va="bottom", fontsize=8, color="gray")
    ax.set_xlabel("load alpha = P / N")
    ax.set_ylabel("mean overlap, recall vs stored pattern")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title(title or f"Hopfield network capacity (cues with {results[0]['flip']:.0%} of bits flipped)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
