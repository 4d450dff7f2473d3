"""16x16 binary letter and digit pictures from a built-in 5x7 bitmap font (no external fonts).

Each glyph is 7 rows of 5 pixels; `letters` scales every pixel to a 3-wide, 2-tall block (15 x 14)
and places it in a 16 x 16 frame (one blank row above and below, one blank column on the right).
Ink is +1 and background -1, the bipolar coding of `Hopfield` and `BAM`.

    >>> from rnnzoo.memory.letters import letters
    >>> pics = letters("HI")
    >>> pics.shape, int((pics[1] > 0).sum())          # "I": 11 ink pixels of 5x7, each 3x2
    (torch.Size([2, 16, 16]), 66)
"""

from __future__ import annotations

import torch

FONT = {  # 5x7 glyphs, rows top to bottom, 1 = ink
    "A": "01110 10001 10001 11111 10001 10001 10001", "B": "11110 10001 10001 11110 10001 10001 11110",
    "C": "01110 10001 10000 10000 10000 10001 01110", "D": "11100 10010 10001 10001 10001 10010 11100",
    "E": "11111 10000 10000 11110 10000 10000 11111", "F": "11111 10000 10000 11110 10000 10000 10000",
    "G": "01110 10001 10000 10111 10001 10001 01111", "H": "10001 10001 10001 11111 10001 10001 10001",
    "I": "01110 00100 00100 00100 00100 00100 01110", "J": "00111 00010 00010 00010 00010 10010 01100",
    "K": "10001 10010 10100 11000 10100 10010 10001", "L": "10000 10000 10000 10000 10000 10000 11111",
    "M": "10001 11011 10101 10101 10001 10001 10001", "N": "10001 10001 11001 10101 10011 10001 10001",
    "O": "01110 10001 10001 10001 10001 10001 01110", "P": "11110 10001 10001 11110 10000 10000 10000",
    "Q": "01110 10001 10001 10001 10101 10010 01101", "R": "11110 10001 10001 11110 10100 10010 10001",
    "S": "01111 10000 10000 01110 00001 00001 11110", "T": "11111 00100 00100 00100 00100 00100 00100",
    "U": "10001 10001 10001 10001 10001 10001 01110", "V": "10001 10001 10001 10001 10001 01010 00100",
    "W": "10001 10001 10001 10101 10101 10101 01010", "X": "10001 10001 01010 00100 01010 10001 10001",
    "Y": "10001 10001 10001 01010 00100 00100 00100", "Z": "11111 00001 00010 00100 01000 10000 11111",
    "0": "01110 10001 10011 10101 11001 10001 01110", "1": "00100 01100 00100 00100 00100 00100 01110",
    "2": "01110 10001 00001 00010 00100 01000 11111", "3": "11111 00010 00100 00010 00001 10001 01110",
    "4": "00010 00110 01010 10010 11111 00010 00010", "5": "11111 10000 11110 00001 00001 10001 01110",
    "6": "00110 01000 10000 11110 10001 10001 01110", "7": "11111 00001 00010 00100 01000 01000 01000",
    "8": "01110 10001 10001 01110 10001 10001 01110", "9": "01110 10001 10001 01111 00001 00010 01100",
}
SIZE = 16


def glyph(char: str) -> torch.Tensor:
    """The 7 x 5 glyph of one character as a 0/1 tensor."""
    if not isinstance(char, str) or len(char) != 1:
        raise TypeError(f"char must be a one-character str, got {char!r}")
    key = char.upper()
    if key not in FONT:
        raise ValueError(f"char must be one of {''.join(FONT)} (case-insensitive), got {char!r}")
    return torch.tensor([[int(c) for c in row] for row in FONT[key].split()], dtype=torch.float64)


def letters(chars: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", *, dtype=torch.float64) -> torch.Tensor:
    """16 x 16 bipolar pictures (K, 16, 16) of the characters in `chars` (A-Z, 0-9); ink = +1."""
    if not isinstance(chars, str) or not chars:
        raise ValueError(f"chars must be a non-empty str of letters/digits, got {chars!r}")
    out = -torch.ones(len(chars), SIZE, SIZE, dtype=dtype)
    for k, c in enumerate(chars):
        big = glyph(c).repeat_interleave(2, 0).repeat_interleave(3, 1)  # (14, 15)
        out[k, 1:15, 0:15] = big * 2 - 1
    return out


def letter_patterns(chars: str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", *, dtype=torch.float64) -> torch.Tensor:
    """`letters(chars)` flattened to (K, 256) rows, ready for `Hopfield.store`."""
    return letters(chars, dtype=dtype).reshape(len(chars), SIZE * SIZE)
