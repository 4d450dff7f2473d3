"""Sentence pairs for translation: reading, tokenising with sacremoses, splitting by source sentence.

The file is the Tatoeba / manythings.org format (`fra.txt`: English TAB French TAB attribution) or any
TSV of pairs: the first column is the source, the second the target, further columns are ignored.
Blank lines are skipped and counted; anything else that is not a pair is an error naming its line.

    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "pairs.txt")
    >>> _ = open(path, "w", encoding="utf-8").write("Go.\\tVa !\\n\\nHi.\\tSalut !\\tCC-BY 2.0\\n")
    >>> pairs = read_pairs(path)
    >>> pairs.pairs, pairs.blank_lines
    ([('Go.', 'Va !'), ('Hi.', 'Salut !')], 1)
    >>> fr = Tokenizer("fr")
    >>> fr.tokenize("C’est l’heure !")
    ["c'", 'est', "l'", 'heure', '!']
    >>> fr.detokenize(["c'", 'est', "l'", 'heure', '!'])
    "c'est l'heure !"

Tokens are lower-cased (the scores are case-insensitive, and a smaller vocabulary trains faster) and
punctuation is normalised first (curly quotes to straight ones), so detokenising gives clean text.
The split (`split_by_source`) keeps every translation of a source sentence in the same part, so no
test sentence is ever seen in training, and every translation of a test source is a reference.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from .imdb import WordVocab

SPLITS = ("train", "val", "test")


@dataclass
class PairFile:
    pairs: list  # [(source, target)] in file order
    blank_lines: int  # skipped
    lines: list  # the file's line number (1-based) of each pair


def read_pairs(path, reverse: bool = False) -> PairFile:
    """The (source, target) pairs of a TAB-separated file; `reverse` swaps the two columns."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"--data {path}: no such file (a TAB-separated file of sentence pairs)")
    pairs, lines, blank = [], [], 0
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise ValueError(f"--data {path}: line {number} is not UTF-8 (byte 0x{raw[e.start]:02x} at "
                                 f"column {e.start + 1}); save the file as UTF-8") from None
            line = line.rstrip("\r\n").lstrip("\ufeff") if number == 1 else line.rstrip("\r\n")
            if not line.strip():
                blank += 1
                continue
            columns = line.split("\t")
            if len(columns) < 2:
                raise ValueError(f"--data {path}: line {number} has no TAB: each line must be "
                                 f"SOURCE<TAB>TARGET (more columns are ignored), got {line[:60]!r}")
            source, target = columns[0].strip(), columns[1].strip()
            if not source or not target:
                raise ValueError(f"--data {path}: line {number} has an empty "
                                 f"{'source' if not source else 'target'} sentence")
            pairs.append((target, source) if reverse else (source, target))
            lines.append(number)
    if not pairs:
        raise ValueError(f"--data {path}: no sentence pairs in it ({blank} blank lines)")
    return PairFile(pairs, blank, lines)


class Tokenizer:
    """Moses tokenisation (sacremoses) for one language: normalise punctuation, lower-case, split;
    `detokenize` joins tokens back into text as Moses does for that language."""

    def __init__(self, lang: str):
        from sacremoses import MosesDetokenizer, MosesPunctNormalizer, MosesTokenizer
        if not isinstance(lang, str) or not lang.isalpha() or not 2 <= len(lang) <= 3:
            raise ValueError(f"lang must be a language code such as 'en' or 'fr', got {lang!r}")
        self.lang = lang
        self._normalizer, self._tokenizer = MosesPunctNormalizer(lang), MosesTokenizer(lang)
        self._detokenizer = MosesDetokenizer(lang)

    def tokenize(self, text: str) -> list[str]:
        return self._tokenizer.tokenize(self._normalizer.normalize(text.lower()), escape=False)

    def detokenize(self, tokens) -> str:
        return self._detokenizer.detokenize(list(tokens))


class SentenceVocab(WordVocab):
    """Word ids of one language: 0 padding, 1 unknown, 2 start (<s>), 3 end (</s>), then words by
    falling frequency in the training split (`build`, with a minimum count)."""

    BOS, EOS = 2, 3
    SPECIALS = ("<pad>", "<unk>", "<s>", "</s>")
    KIND = "sentence words"

    def encode(self, tokens, max_words=None, keep="first") -> torch.Tensor:
        return super().encode(tokens, max_words, keep)


@functools.lru_cache(maxsize=4)
def _tokenized(path: str, stamp: tuple, reverse: bool, source_lang: str, target_lang: str, limit: int):
    pairs = read_pairs(path, reverse)
    if limit:
        pairs = PairFile(pairs.pairs[:limit], pairs.blank_lines, pairs.lines[:limit])
    src, tgt = Tokenizer(source_lang), Tokenizer(target_lang)
    return pairs, [src.tokenize(s) for s, _ in pairs.pairs], [tgt.tokenize(t) for _, t in pairs.pairs]


def tokenized_pairs(path, reverse: bool, source_lang: str, target_lang: str, limit: int = 0):
    """(PairFile, source token lists, target token lists) of the file's first `limit` pairs (0: all), kept
    in memory per file (and its size and modification time), so that training and evaluation in one
    process tokenise it once."""
    path = os.path.abspath(path)
    try:
        st = os.stat(path)
    except OSError:
        raise ValueError(f"--data {path}: no such file (a TAB-separated file of sentence pairs)") from None
    return _tokenized(path, (st.st_size, st.st_mtime_ns), reverse, source_lang, target_lang, limit)


def split_by_source(keys, seed: int, val_fraction: float = 0.1, test_fraction: float = 0.1) -> list[str]:
    """The split ("train", "val" or "test") of each pair, drawn per distinct source key: every pair of one
    source lands in the same split. The distinct sources are put in a random order fixed by `seed`; the
    first `test_fraction` of them are test, the next `val_fraction` validation, the rest training.

    >>> split_by_source(["a", "b", "a", "c"], seed=0, val_fraction=0.34, test_fraction=0.34)
    ['val', 'train', 'val', 'test']
    """
    distinct = sorted(set(keys))
    n_test, n_val = int(len(distinct) * test_fraction), int(len(distinct) * val_fraction)
    if len(distinct) - n_test - n_val < 1 or (test_fraction and not n_test) or (val_fraction and not n_val):
        raise ValueError(f"{len(distinct)} distinct source sentences are too few for a validation part of "
                         f"{val_fraction} and a test part of {test_fraction} (each needs one, training the rest)")
    order = torch.randperm(len(distinct), generator=torch.Generator().manual_seed(seed)).tolist()
    part = {}
    for rank, i in enumerate(order):
        part[distinct[i]] = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
    return [part[k] for k in keys]
