"""Recall demo: store binary pictures in a Hopfield network, recall them from corrupted and from
half-masked cues, and draw the cues and recalls side by side in a PNG.

    >>> from rnnzoo.memory import recall_demo
    >>> r = recall_demo(None, chars="HOPE", seed=0)  # path None: no picture, just the numbers
    >>> r["recalled_noisy"], r["recalled_masked"]
    (4, 4)
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.nn.functional as F

from ..checks import check_size
from ._checks import as_generator, check_positive, figure_path
from .capacity import _flip
from .hopfield import RULES, Hopfield
from .letters import SIZE, letters


def load_images(folder, size: int = SIZE) -> tuple[torch.Tensor, list[str]]:
    """Every PNG in folder as a size x size bipolar picture (K, size, size) (dark = +1), and the names.

    Read with matplotlib.image (or PIL when matplotlib is missing), made grey, area-resized and
    thresholded at its mean. Only the demo needs this, so both imports are optional and lazy.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"images must be a folder of PNG files, got {str(folder)!r} (not a folder)")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")
    if not files:
        raise ValueError(f"images: the folder {str(folder)!r} holds no .png file")
    try:
        from matplotlib.image import imread
    except ImportError:  # pragma: no cover - depends on the environment
        try:
            from PIL import Image
            import numpy as np
            imread = lambda p: np.asarray(Image.open(p).convert("L"), dtype=np.float64) / 255.0  # noqa: E731
        except ImportError as e:
            raise ImportError("load_images needs matplotlib or Pillow: pip install matplotlib") from e
    pics = []
    for p in files:
        try:
            a = torch.as_tensor(imread(p), dtype=torch.float64)
        except Exception as e:  # Pillow's errors for a damaged file are of many kinds: OSError, SyntaxError, ...
            reason = f"{type(e).__name__}: {str(e).splitlines()[0]}" if str(e) else type(e).__name__
            raise ValueError(f"images: {str(p)!r} is not a readable PNG file ({reason})") from None
        if a.dim() == 3:
            a = a[..., :3].mean(-1)
        a = F.interpolate(a[None, None], size=(size, size), mode="area")[0, 0]
        pics.append(torch.where(a < a.mean(), 1.0, -1.0).double())
    return torch.stack(pics), [p.stem for p in files]


def recall_demo(path=None, *, chars: str = "HOPFIELD", images=None, rule: str = "pinv", flip: float = 0.2,
                mode: str = "async", max_steps: int = 50, mask_fill: str = "random", seed: int = 0) -> dict:
    """Store pictures (letters `chars`, or the PNGs in folder `images`), recall each from a cue with
    `flip` of its pixels flipped and from a cue whose bottom half is hidden (mask_fill "random": random
    pixels there, "blank": background -1, a harder cue: the blank is itself an attractor), and save one row
    per picture (stored | noisy cue | recall | masked cue | recall) to the PNG `path` (None: no file).

    Letters are correlated, so the default rule is pinv; Hebbian mixes them into spurious states.
    Returns {"names", "recalled_noisy", "recalled_masked" (counts recalled exactly), "overlap_noisy",
    "overlap_masked" (per picture), "path", and the tensors "stored", "noisy", "noisy_recall",
    "masked", "masked_recall", each (K, S, S)}.
    """
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
    if mask_fill not in ("random", "blank"):
        raise ValueError(f"mask_fill must be 'random' or 'blank', got {mask_fill!r}")
    check_positive(flip, "flip", allow_zero=True)
    path = None if path is None else figure_path(path)  # a folder or an unknown format: refused before the work
    if images is not None:
        pics, names = (images, None) if isinstance(images, torch.Tensor) else load_images(images)
        if pics.dim() != 3 or pics.shape[1] != pics.shape[2]:
            raise ValueError(f"images as a tensor must be (K, S, S) square pictures, got {tuple(pics.shape)}")
        names = names or [str(k) for k in range(len(pics))]
    else:
        pics, names = letters(chars), list(chars)
    K, S = pics.shape[0], pics.shape[1]
    X = pics.reshape(K, S * S).double()
    gen = as_generator(seed)
    net = Hopfield(S * S, rule).store(X)
    noisy = _flip(X, flip, gen)
    masked = X.clone().reshape(K, S, S)
    if mask_fill == "random":
        masked[:, S // 2:] = torch.randint(0, 2, masked[:, S // 2:].shape, generator=gen).double() * 2 - 1
    else:
        masked[:, S // 2:] = -1
    masked = masked.reshape(K, S * S)
    r_noisy = net.recall(noisy, mode=mode, max_steps=check_size(max_steps, "max_steps"), seed=gen)
    r_masked = net.recall(masked, mode=mode, max_steps=max_steps, seed=gen)
    out = {"names": names, "path": None,
           "recalled_noisy": int((r_noisy.pattern == torch.arange(K)).sum()),
           "recalled_masked": int((r_masked.pattern == torch.arange(K)).sum()),
           "overlap_noisy": (r_noisy.states * X).mean(1).tolist(),
           "overlap_masked": (r_masked.states * X).mean(1).tolist()}
    for key, t in (("stored", X), ("noisy", noisy), ("noisy_recall", r_noisy.states),
                   ("masked", masked), ("masked_recall", r_masked.states)):
        out[key] = t.reshape(K, S, S)
    if path is not None:
        out["path"] = _draw(out, path, rule)  # the file written: ".png" added to a path without extension
    return out


def _draw(out: dict, path, rule: str) -> str:
    path = figure_path(path)
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError("recall_demo needs matplotlib to draw: pip install matplotlib") from e
    cols = ("stored", "noisy", "noisy_recall", "masked", "masked_recall")
    heads = ("stored", "noisy cue", "recall", "half-masked cue", "recall")
    K = len(out["names"])
    fig, axes = plt.subplots(K, len(cols), figsize=(1.6 * len(cols), 1.6 * K), squeeze=False)
    for k in range(K):
        for j, key in enumerate(cols):
            ax = axes[k][j]
            ax.imshow(-out[key][k].numpy(), cmap="gray", vmin=-1, vmax=1, interpolation="nearest")
            ax.set_xticks([]), ax.set_yticks([])
            if k == 0:
                ax.set_title(heads[j], fontsize=8)
        axes[k][0].set_ylabel(out["names"][k], fontsize=8)
    fig.suptitle(f"Hopfield recall ({rule} rule)", fontsize=9)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
