"""IMDB movie-review sentiment (Maas et al., ACL 2011): load the reviews, tokenize them, map words to
ids, and download the official archive.

    >>> from rnnzoo.data.imdb import load_imdb, tokenize, WordVocab
    >>> train, test = load_imdb("aclImdb_v1.tar.gz", split="both")     # doctest: +SKIP
    >>> vocab = WordVocab.build(tokenize(t) for t, _ in train)          # doctest: +SKIP
    >>> x = vocab.encode(tokenize(test[0][0]), max_words=80)            # doctest: +SKIP

Data: 25,000 training and 25,000 test reviews, half positive (label 1), half negative (label 0).
Cite Maas et al. 2011 when you use it; it is free for research.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import hashlib
import heapq
import os
import re
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import Counter
from pathlib import Path

import torch

OFFICIAL_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
# SHA-256 of aclImdb_v1.tar.gz (84,125,825 bytes) as recorded by tensorflow/datasets
# (url_checksums/imdb_reviews.txt) and, identically, by other independent loaders (Julia's
# MLDatasets, Go and Rust dataset crates); its MD5 is 7c2ac02c03563afcf9b574c7e56c153a (torchtext).
OFFICIAL_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"

SPLITS = ("train", "test", "both")
# <id>_<rating>.txt; an id of 19 digits or more is no review's (and past 4,300, int() refuses it)
_REVIEW = re.compile(r"(?:^|/)(train|test)/(pos|neg)/(\d{1,18})_(\d+)\.txt$")
_LABELS = {"1": 1, "0": 0, "pos": 1, "neg": 0, "positive": 1, "negative": 0, "true": 1, "false": 0}
_FORMATS = "an aclImdb folder (or its parent), a .tar.gz archive of one, or a CSV/TSV file"


def load_imdb(path, split: str = "train", limit: int | None = None, text_column: str = "text",
              label_column: str = "label", split_column: str = "split"):
    """Labelled reviews as a list of (text, label) with label 1 = positive, 0 = negative.

    path: (a) the aclImdb folder or its parent; (b) a tar archive of one (.tar.gz, the official
        aclImdb_v1.tar.gz included), streamed without extracting anything to disk; (c) a CSV/TSV file
        with a header (delimiter from the extension: .csv ',', .tsv '\\t'; otherwise sniffed), a
        `text_column`, a `label_column` (1/0, pos/neg, positive/negative, true/false, any case) and
        optionally a `split_column` of train/test. A CSV without a split column is all training data:
        split="test" or "both" then raises (hold a fraction out of the train split yourself).
    split: "train", "test", or "both", which returns the tuple (train, test) from one read.
    limit: a balanced subset for quick runs: the first limit // 2 reviews of each class.
    Order (deterministic): negatives, then positives; within a class by review id for folders and
    archives, by row for CSV. An archive is read to its end even with `limit` (the order needs every
    id, and the gzip check its trailer): about 5 s for the 28 MB labelled archive on one CPU core.

    Raises FileNotFoundError for a missing path and ValueError, in one line naming the path, for an
    unrecognised format, a truncated or corrupt archive, missing CSV columns, a bad label, bytes that
    are not UTF-8, or no reviews of the split.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 2):
        raise ValueError(f"limit must be None or an int >= 2 (limit // 2 reviews of each class), got {limit!r}")
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"IMDB data {p} does not exist; download_imdb() fetches the official archive")
    wanted = ("train", "test") if split == "both" else (split,)
    found = {(s, label): _Smallest(None if limit is None else limit // 2) for s in wanted for label in (0, 1)}
    if p.is_dir():
        _read_folder(p, found)
    else:
        kind = _kind(p)
        if kind == "tar":
            _read_tar(p, found)
        else:
            _read_csv(p, kind, found, text_column, label_column, split_column)
    out = []
    for s in wanted:
        rows = [(text, label) for label in (0, 1) for text in found[s, label].texts()]
        if not rows:
            raise ValueError(f"IMDB data {p} holds no {s} reviews (expected {_FORMATS})")
        out.append(rows)
    return tuple(out) if split == "both" else out[0]


class _Smallest:
    """The `keep` items with the smallest keys (all when keep is None); `read` runs only for those kept,
    so a limited load does not decode the reviews it will drop."""

    def __init__(self, keep: int | None):
        self.keep, self.heap = keep, []  # a max-heap by key (stored negated) when keep is set

    def add(self, key: int, read):
        if self.keep is None:
            self.heap.append((-key, read()))
        elif len(self.heap) < self.keep:
            heapq.heappush(self.heap, (-key, read()))
        elif key < -self.heap[0][0]:
            heapq.heapreplace(self.heap, (-key, read()))

    def texts(self) -> list[str]:
        return [text for _, text in sorted(self.heap, key=lambda kt: -kt[0])]


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{where} is not valid UTF-8 (byte offset {e.start})") from None


def _kind(p: Path) -> str:
    """"tar", or the CSV delimiter."""
    name = p.name.lower()
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return "tar"
    if name.endswith(".csv"):
        return ","
    if name.endswith((".tsv", ".tab")):
        return "\t"
    with p.open("rb") as f:
        head = f.read(1 << 16)
    if head[:2] == b"\x1f\x8b" or head[257:262] == b"ustar":
        return "tar"
    try:
        return csv.Sniffer().sniff(head.decode("utf-8", "ignore"), delimiters=",\t;|").delimiter
    except csv.Error:
        raise ValueError(f"IMDB data {p} is not a recognised format: expected {_FORMATS}") from None


def _read_folder(p: Path, found: dict):
    root = p / "aclImdb" if (p / "aclImdb").is_dir() else p
    for s, label in found:
        d = root / s / ("pos" if label else "neg")
        if not d.is_dir():
            raise ValueError(f"IMDB folder {p} is not a recognised format: it has no {d.relative_to(p)} "
                             f"folder (expected aclImdb/{{train,test}}/{{pos,neg}}/<id>_<rating>.txt)")
        for f in d.iterdir():
            m = re.fullmatch(r"(\d{1,18})_(\d+)\.txt", f.name)
            if m:
                found[s, label].add(int(m[1]), lambda: _decode(f.read_bytes(), f"review {f}"))


def _read_tar(p: Path, found: dict):
    with p.open("rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
        raw.seek(0)
        # Our own GzipFile, drained to its end below, checks the gzip trailer (CRC and length):
        # tarfile alone stops at the end-of-archive blocks and would accept a cut-off archive.
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if gz else raw
        try:
            with tarfile.open(fileobj=stream, mode="r|" if gz else "r|*") as tf:
                for member in tf:
                    m = _REVIEW.search(member.name)
                    if member.isfile() and m and (m[1], int(m[2] == "pos")) in found:
                        found[m[1], int(m[2] == "pos")].add(int(m[3]), lambda: _decode(
                            tf.extractfile(member).read(), f"review {member.name} in {p}"))
            while stream.read(1 << 20):
                pass
        except (tarfile.TarError, EOFError, zlib.error, OSError) as e:
            raise ValueError(f"IMDB archive {p} is truncated or corrupt ({type(e).__name__}: {e})") from None


def _read_csv(p: Path, delimiter: str, found: dict, text_column: str, label_column: str, split_column: str):
    try:
        with p.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            columns = reader.fieldnames
            if not columns:
                raise ValueError(f"CSV file {p} is empty: no header row")
            for arg, col in (("text_column", text_column), ("label_column", label_column)):
                if col not in columns:
                    raise ValueError(f"CSV file {p} has no column {col!r} ({arg}); its columns are "
                                     f"{', '.join(map(repr, columns))}")
            has_split = split_column in columns
            wanted = {s for s, _ in found}
            if not has_split and wanted != {"train"}:
                raise ValueError(f"CSV file {p} has no {split_column!r} column, so all of it is the train "
                                 f"split and it has no test split; load split='train' and hold some out")
            for row_no, row in enumerate(reader, 1):
                s = (row[split_column] or "").strip().lower() if has_split else "train"
                if s not in wanted:
                    continue
                raw = row[label_column]
                label = _LABELS.get((raw or "").strip().lower())
                if label is None:
                    raise ValueError(f"CSV file {p}, row {row_no} (line {reader.line_num}): label {raw!r} in "
                                     f"column {label_column!r} is not one of 1/0, pos/neg, positive/negative, "
                                     f"true/false")
                text = row[text_column]
                if text is None:
                    raise ValueError(f"CSV file {p}, row {row_no} (line {reader.line_num}) has no "
                                     f"{text_column!r} value: the row is shorter than the header")
                found[s, label].add(row_no, lambda: text)
    except UnicodeDecodeError:
        _decode(p.read_bytes(), f"CSV file {p}")  # again, whole, for the offset in the file
        raise
    except csv.Error as e:
        raise ValueError(f"CSV file {p} is not a readable CSV ({e})") from None


_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TOKEN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def tokenize(text: str) -> list[str]:
    """Lowercased words and punctuation of a review.

    "<br />" line breaks (IMDB's HTML) become spaces; then a token is a run of letters/digits with
    inner apostrophes kept ("don't", "90's") or any single other non-space character (".", "!").
        >>> tokenize("Great film!<br /><br />Don't miss it...")
        ['great', 'film', '!', "don't", 'miss', 'it', '.', '.', '.']
    """
    return _TOKEN.findall(_BREAK.sub(" ", text.lower()))


class WordVocab:
    """Word ids: 0 = padding ("<pad>"), 1 = unknown ("<unk>"), then words by falling frequency.

    Build it from the training texts only (`WordVocab.build`): test words it has not seen map to 1,
    as they would for a deployed model.
    """

    PAD, UNK = 0, 1
    SPECIALS = ("<pad>", "<unk>")
    KIND = "word"  # to_dict's "kind"

    def __init__(self, words):
        self.words = [*self.SPECIALS, *words]
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words) or not all(isinstance(w, str) for w in self.words):
            raise ValueError(f"words must be distinct strings other than {', '.join(map(repr, self.SPECIALS))}")

    @classmethod
    def build(cls, token_lists, max_size: int = 20000, min_freq: int = 1) -> "WordVocab":
        """The `max_size - len(SPECIALS)` most frequent tokens seen at least `min_freq` times (ties:
        alphabetical), so that len(vocab) <= max_size counts padding and unknown, like Keras' num_words."""
        reserved = len(cls.SPECIALS)
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= reserved:
            raise ValueError(f"max_size must be an int >= {reserved + 1} ({reserved} ids are reserved), "
                             f"got {max_size!r}")
        if isinstance(min_freq, bool) or not isinstance(min_freq, int) or min_freq < 1:
            raise ValueError(f"min_freq must be an int >= 1, got {min_freq!r}")
        counts = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        ranked = sorted((w for w, c in counts.items() if c >= min_freq), key=lambda w: (-counts[w], w))
        return cls(ranked[:max_size - reserved])

    def __len__(self) -> int:
        return len(self.words)

    def __eq__(self, other) -> bool:
        return isinstance(other, WordVocab) and self.words == other.words

    def __repr__(self) -> str:
        return f"WordVocab({len(self)} ids)"

    def encode(self, tokens, max_words: int | None = None, keep: str = "last") -> torch.Tensor:
        """Ids of a token list, a LongTensor of shape (n,), unpadded (the collate function pads).

        max_words cuts longer reviews, keeping the last words (keep="last", like Keras'
        pad_sequences default truncating="pre") or the first (keep="first")."""
        if isinstance(tokens, str):
            raise TypeError("tokens must be a list of tokens (see tokenize), got a str")
        if keep not in ("last", "first"):
            raise ValueError(f"keep must be 'last' or 'first', got {keep!r}")
        if max_words is not None and (isinstance(max_words, bool) or not isinstance(max_words, int) or max_words < 1):
            raise ValueError(f"max_words must be None or a positive int, got {max_words!r}")
        ids = [self.index.get(t, self.UNK) for t in tokens]
        if max_words is not None and len(ids) > max_words:
            ids = ids[-max_words:] if keep == "last" else ids[:max_words]
        return torch.tensor(ids, dtype=torch.long)

    def decode(self, ids) -> list[str]:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else list(ids)
        bad = [i for i in ids if not 0 <= i < len(self)]
        if bad:
            raise ValueError(f"ids must be in [0, {len(self)}) for this vocabulary, got {bad[0]}")
        return [self.words[i] for i in ids]

    def to_dict(self) -> dict:
        """A JSON-able description (for config.json); `WordVocab.from_dict` rebuilds it."""
        return {"kind": self.KIND, "words": self.words[len(self.SPECIALS):]}

    @classmethod
    def from_dict(cls, d: dict) -> "WordVocab":
        if not isinstance(d, dict) or d.get("kind") != cls.KIND or not isinstance(d.get("words"), list):
            raise ValueError(f"d must be a dict from {cls.__name__}.to_dict() with kind {cls.KIND!r} and a list "
                             f"'words', got {d!r:.80}")
        return cls(d["words"])


def download_imdb(dest_dir, url: str = OFFICIAL_URL, sha256: str | None = OFFICIAL_SHA256,
                  progress: bool = True) -> Path:
    """Download the IMDB archive into dest_dir (created if missing) and return its path.

    The file is written to a temporary file beside it and moved into place (os.replace) only once its
    SHA-256 matches `sha256`; a mismatch deletes the temporary file and raises ValueError naming the
    expected and the computed digest. A file already there with the right digest is not fetched
    again (with sha256=None, any file already there is kept). Progress goes to stderr through tqdm
    when it is installed, else as a percentage line. The archive is about 84 MB.
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    name = Path(urllib.parse.urlparse(url).path).name or "aclImdb_v1.tar.gz"
    target = dest / name
    if target.is_file() and (sha256 is None or _sha256(target) == sha256.lower()):
        return target
    fd, tmp = tempfile.mkstemp(dir=dest, prefix=name + ".", suffix=".part")
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            try:
                resp = urllib.request.urlopen(url, timeout=60)
            except urllib.error.URLError as e:
                raise ConnectionError(f"could not download {url}: {e.reason}") from None
            with resp:
                total = int(resp.headers.get("Content-Length") or 0) or None
                bar = _progress_bar(total, name) if progress else None
                while chunk := resp.read(1 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    if bar is not None:
                        bar.update(len(chunk))
                if bar is not None:
                    bar.close()
        got = digest.hexdigest()
        if sha256 is not None and got != sha256.lower():
            raise ValueError(f"download of {url} failed its checksum: expected SHA-256 {sha256.lower()}, "
                             f"got {got}; the file is corrupt or has changed, nothing was kept")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _progress_bar(total: int | None, name: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _Percent(total, name)
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, file=sys.stderr)


class _Percent:
    """tqdm's update/close, as one rewritten line of percent (or megabytes when the size is unknown)."""

    def __init__(self, total: int | None, name: str):
        self.total, self.name, self.n, self.shown = total, name, 0, None

    def update(self, n: int):
        self.n += n
        now = f"{100 * self.n // self.total}%" if self.total else f"{self.n / 1e6:.1f} MB"
        if now != self.shown:
            self.shown = now
            print(f"\rdownloading {self.name}: {now}", end="", file=sys.stderr, flush=True)

    def close(self):
        print(file=sys.stderr)
