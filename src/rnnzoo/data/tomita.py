"""Tomita's seven regular languages over {0, 1} (Tomita 1982), the classic benchmark of Pollack 1991
and Giles et al. 1992 for recurrent networks that learn finite-state automata.

    1  1*
    2  (10)*
    3  no odd-length run of 1s is followed, anywhere later in the string, by an odd-length run of 0s
       (runs are maximal blocks of equal symbols). This is the definition that agrees with Tomita's own
       training set as Pollack 1991 lists it: e.g. 0111001101 is rejected (111, later 0) although the
       run of 0s right after 111 is even.
    4  no 000 substring (no more than two consecutive 0s)
    5  an even number of 0s and an even number of 1s. Tomita's wording is "even length, and when the
       bits are paired the number of 01 and 10 pairs is even"; the three are the same language
       (#1s has the parity of the mixed pairs, and #0s = length - #1s).
    6  (#0s - #1s) mod 3 == 0
    7  0*1*0*1*

`tomita_accepts` is the reference, written from these definitions with regular expressions and runs;
generation uses each language's minimal DFA (`DFAS`), whose agreement with the reference is tested.
Empty strings are never generated (lengths start at 1): the driver rejects zero-length sequences.
"""

from __future__ import annotations

import itertools
import random
import re

import torch

from ..checks import check_size

# Minimal DFAs: (transitions [state][symbol] -> state, accepting states); start state 0.
DFAS = {
    1: ([(1, 0), (1, 1)], {0}),
    2: ([(2, 1), (0, 2), (2, 2)], {0}),
    # 0: no completed odd run of 1s, 1: inside an odd run of 1s (none completed before), 2: armed
    # (an odd 1-run completed) and inside an odd run of 0s, 3: armed otherwise, 4: dead
    3: ([(0, 1), (2, 0), (3, 4), (2, 3), (4, 4)], {0, 1, 3}),
    4: ([(1, 0), (2, 0), (3, 0), (3, 3)], {0, 1, 2}),
    5: ([(1, 2), (0, 3), (3, 0), (2, 1)], {0}),  # state = parity(#0s) + 2 parity(#1s)
    6: ([(1, 2), (2, 0), (0, 1)], {0}),  # state = (#0s - #1s) mod 3
    7: ([(0, 1), (2, 1), (2, 3), (4, 3), (4, 4)], {0, 1, 2, 3}),  # phase within 0*1*0*1*
}
GRAMMARS = tuple(DFAS)
DESCRIPTIONS = {1: "1*", 2: "(10)*", 3: "no odd 1-run with an odd 0-run later", 4: "no 000",
                5: "#0s and #1s even", 6: "#0s - #1s = 0 mod 3", 7: "0*1*0*1*"}


def _grammar(grammar) -> int:
    if isinstance(grammar, bool) or grammar not in DFAS:
        raise ValueError(f"grammar must be one of {list(GRAMMARS)}, got {grammar!r}")
    return grammar


def _check_string(string) -> str:
    if not isinstance(string, str) or set(string) - {"0", "1"}:
        raise ValueError(f"a Tomita string must be a str of '0' and '1', got {string!r}")
    return string


def tomita_accepts(grammar: int, string: str) -> bool:
    """Whether Tomita grammar `grammar` (1-7) accepts the binary string `string` ("" allowed).

    Example:
        >>> from rnnzoo.data import tomita_accepts
        >>> tomita_accepts(4, "1001"), tomita_accepts(4, "1000"), tomita_accepts(7, "0110")
        (True, False, True)
    """
    grammar, s = _grammar(grammar), _check_string(string)
    if grammar == 1:
        return re.fullmatch("1*", s) is not None
    if grammar == 2:
        return re.fullmatch("(10)*", s) is not None
    if grammar == 3:
        odd_ones_seen = False
        for symbol, run in itertools.groupby(s):
            odd = len(list(run)) % 2 == 1
            if symbol == "0" and odd and odd_ones_seen:
                return False
            odd_ones_seen |= symbol == "1" and odd
        return True
    if grammar == 4:
        return "000" not in s
    if grammar == 5:
        return s.count("0") % 2 == 0 and s.count("1") % 2 == 0
    if grammar == 6:
        return (s.count("0") - s.count("1")) % 3 == 0
    return re.fullmatch("0*1*0*1*", s) is not None


def _counts(grammar: int, label: bool, max_length: int):
    """c[r][q]: strings of length r that take state q to an accepting (label True) or rejecting state."""
    delta, accept = DFAS[grammar]
    c = [[int((q in accept) == label) for q in range(len(delta))]]
    for _ in range(max_length):
        c.append([c[-1][a] + c[-1][b] for a, b in delta])
    return c


def _sample(delta, c, length: int, rng: random.Random) -> str:
    """A uniformly random string of `length` among those counted by c, from the start state."""
    q, out = 0, []
    for r in range(length, 0, -1):
        symbol = int(rng.randrange(c[r][q]) >= c[r - 1][delta[q][0]])
        out.append("01"[symbol])
        q = delta[q][symbol]
    return "".join(out)


def _enumerate(delta, c, length: int, q: int = 0, prefix: str = ""):
    """Every string of `length` counted by c, from state q (branches with no completion are skipped)."""
    if length == 0:
        yield prefix
        return
    for symbol in (0, 1):
        if c[length - 1][delta[q][symbol]]:
            yield from _enumerate(delta, c, length - 1, delta[q][symbol], prefix + "01"[symbol])


def _draw(grammar: int, label: bool, lengths: list, k: int, rng: random.Random) -> list:
    """k strings of class `label`: distinct while the class has enough, spread evenly over lengths."""
    delta = DFAS[grammar][0]
    c = _counts(grammar, label, max(lengths))
    available = {L: c[L][0] for L in lengths if c[L][0]}
    if not available or k == 0:
        return []
    quota, left = dict.fromkeys(available, 0), k
    while left and any(quota[L] < available[L] for L in available):  # water-filling over lengths
        for L in sorted(available, key=lambda L: (quota[L], L)):
            if left and quota[L] < available[L]:
                quota[L], left = quota[L] + 1, left - 1
    out = []
    for L, q in quota.items():
        if available[L] <= 4 * q:  # small class: enumerate it and choose without replacement
            out += rng.sample(list(_enumerate(delta, c, L)), q)
        else:
            chosen = set()
            while len(chosen) < q:
                chosen.add(_sample(delta, c, L, rng))
            out += sorted(chosen)
    return out + [rng.choice(out) for _ in range(left)]  # too few distinct strings: repeat some


def tomita_dataset(grammar: int, lengths, n: int, seed: int = 0, balance: bool = True):
    """n labelled strings of Tomita grammar `grammar` with lengths drawn from `lengths` (ints >= 1).

    balance=True: n // 2 accepted and n - n // 2 rejected strings whenever `lengths` holds strings of
    both classes (all n of the one class otherwise). Each class's strings are spread as evenly as
    possible over the lengths that have any, each drawn uniformly among that class's strings of its
    length (a DFA counts them), without repeats while the class has enough distinct strings; a class
    with fewer (grammars 1 and 2: one accepted string per length at most) has all of them, repeated
    at random up to its share. balance=False: n uniform random strings, lengths uniform.
    Returns (strings, labels): a list of str shuffled under `seed`, and a bool tensor (n,).

    Example:
        >>> from rnnzoo.data import tomita_dataset, tomita_accepts
        >>> strings, labels = tomita_dataset(4, range(1, 11), 100, seed=0)
        >>> int(labels.sum()), all(tomita_accepts(4, s) == bool(y) for s, y in zip(strings, labels))
        (50, True)
    """
    grammar, n = _grammar(grammar), check_size(n, "n")
    lengths = sorted({check_size(L, "lengths") for L in lengths})
    if not lengths:
        raise ValueError("lengths must hold at least one int >= 1")
    rng = random.Random(seed)
    if balance:
        pos = _draw(grammar, True, lengths, n // 2, rng)
        neg = _draw(grammar, False, lengths, n - len(pos), rng)
        pos += _draw(grammar, True, lengths, n - len(pos) - len(neg), rng)  # no rejected strings
        pairs = [(s, True) for s in pos] + [(s, False) for s in neg]
    else:
        strings = ["".join(rng.choice("01") for _ in range(rng.choice(lengths))) for _ in range(n)]
        pairs = [(s, tomita_accepts(grammar, s)) for s in strings]
    rng.shuffle(pairs)
    return [s for s, _ in pairs], torch.tensor([y for _, y in pairs], dtype=torch.bool)


def encode_strings(strings):
    """One-hot encoding for `rnnzoo.Recurrent(..., batch_first=True)` with `lengths`.

    Returns (x, lengths): x (N, L, 2) float32 with "0" -> [1, 0] and "1" -> [0, 1], zero after each
    string's end, L the longest string; lengths (N,) int64. Empty strings are a ValueError (the driver
    takes sequences of at least one step; Tomita's languages are studied here on lengths >= 1).
    """
    strings = [_check_string(s) for s in strings]
    if not strings:
        raise ValueError("encode_strings needs at least one string")
    if min(map(len, strings)) == 0:
        raise ValueError("encode_strings: empty strings cannot be encoded (sequences need >= 1 step)")
    lengths = torch.tensor([len(s) for s in strings], dtype=torch.int64)
    x = torch.zeros(len(strings), int(lengths.max()), 2)
    for i, s in enumerate(strings):
        bits = torch.tensor([int(b) for b in s])
        x[i, torch.arange(len(s)), bits] = 1.0
    return x, lengths
