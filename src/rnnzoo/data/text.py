"""Character-level text for language models: load a text, map it to ids, cut it into the batches of
stateful truncated backpropagation through time (BPTT).

    >>> from rnnzoo.data.text import load_text, CharVocab, split_text, stream_batches
    >>> text = load_text()                        # the built-in Alice in Wonderland
    >>> vocab = CharVocab(text)
    >>> train, val = split_text(text, val_fraction=0.1)
    >>> batches = stream_batches(vocab.encode(train), batch_size=32, bptt=100)
    >>> x, y = batches[0]; x.shape                # y is x shifted one character ahead
    torch.Size([32, 100])

The built-in text is Lewis Carroll's "Alice's Adventures in Wonderland" (Project Gutenberg #11,
public domain in the USA; see alice_LICENSE.txt beside it), so the library trains out of the box.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

BUILTIN_TEXT = "alice_in_wonderland.txt"


def load_text(path: str | Path | None = None, *, min_chars: int = 2) -> str:
    """The whole UTF-8 text at `path`, or the built-in Alice in Wonderland when `path` is None.

    A leading byte-order mark is dropped; nothing else is changed (line endings stay as they are).
    `min_chars` is the shortest text accepted: 2 by default, the least that makes one (x, y) pair.

    Raises FileNotFoundError (no such file) or ValueError (a directory, an empty file, bytes that are
    not UTF-8, a text shorter than `min_chars`), each in one line that names the path.
    """
    if path is None:
        data = resources.files("rnnzoo").joinpath("data", BUILTIN_TEXT).read_bytes()
        where = f"built-in text {BUILTIN_TEXT}"
    else:
        p = Path(path)
        where = str(p)
        if not p.exists():
            raise FileNotFoundError(f"text file {p} does not exist")
        if p.is_dir():
            raise ValueError(f"text file {p} is a directory, expected a UTF-8 text file")
        data = p.read_bytes()
    if not data:
        raise ValueError(f"text file {where} is empty (0 bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(f"text file {where} is not valid UTF-8: byte 0x{data[e.start]:02x} at byte offset "
                         f"{e.start} ({e.reason}); re-encode it as UTF-8") from None
    if len(text) < min_chars:
        raise ValueError(f"text file {where} has {len(text)} characters, fewer than min_chars={min_chars}")
    return text


def _codepoints(text: str) -> np.ndarray:
    # UTF-32 gives one fixed-width integer per character: a vectorised encode of a megabyte of text
    # is then one searchsorted instead of a million dict look-ups.
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


class CharVocab:
    """The sorted unique characters of a text, id i = the i-th character.

    Unknown characters (ones not in the text the vocabulary was built from) raise ValueError naming
    the character and where it is, unless `unknown` names one of the vocabulary's characters to map
    them to instead (e.g. unknown=" " for generation from prompts). Raising is the default because a
    silent substitution would hide a wrong vocabulary loaded from a checkpoint.
    """

    def __init__(self, text: str, unknown: str | None = None):
        if not isinstance(text, str) or not text:
            raise ValueError(f"text must be a non-empty str to build a CharVocab from, got {text!r:.40}")
        self.chars = "".join(sorted(set(text)))
        if unknown is not None and (len(unknown) != 1 or unknown not in self.chars):
            raise ValueError(f"unknown must be one character of the vocabulary or None, got {unknown!r}")
        self.unknown = unknown
        self._points = _codepoints(self.chars)  # ascending, since sorted() orders by code point
        self._lookup = np.array(list(self.chars), dtype=object)

    def __len__(self) -> int:
        return len(self.chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, CharVocab) and (self.chars, self.unknown) == (other.chars, other.unknown)

    def __repr__(self) -> str:
        return f"CharVocab({len(self)} characters, unknown={self.unknown!r})"

    def encode(self, text: str) -> torch.Tensor:
        """Ids of every character of `text`, a LongTensor of shape (len(text),)."""
        points = _codepoints(text)
        idx = np.searchsorted(self._points, points).clip(max=len(self.chars) - 1)
        known = self._points[idx] == points
        if not known.all():
            at = int(np.flatnonzero(~known)[0])
            if self.unknown is None:
                raise ValueError(f"text has character {text[at]!r} (U+{ord(text[at]):04X}) at index {at}, "
                                 f"not in the vocabulary of {len(self)} characters; build the vocabulary "
                                 f"from a text that has it, or pass unknown=<a vocabulary character>")
            idx = np.where(known, idx, self.chars.index(self.unknown))
        return torch.from_numpy(idx.astype(np.int64))

    def decode(self, ids) -> str:
        """The text of a sequence of ids (a 1-D tensor, array or list of ints)."""
        ids = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else ids, dtype=np.int64).reshape(-1)
        bad = (ids < 0) | (ids >= len(self))
        if bad.any():
            raise ValueError(f"ids must be in [0, {len(self)}) for this vocabulary, got {int(ids[bad][0])}")
        return "".join(self._lookup[ids])

    def to_dict(self) -> dict:
        """A JSON-able description (for config.json); `CharVocab.from_dict` rebuilds it."""
        return {"kind": "char", "chars": self.chars, "unknown": self.unknown}

    @classmethod
    def from_dict(cls, d: dict) -> "CharVocab":
        if not isinstance(d, dict) or d.get("kind") != "char" or not isinstance(d.get("chars"), str):
            raise ValueError(f"d must be a dict from CharVocab.to_dict() with kind 'char' and a str 'chars', "
                             f"got {d!r:.80}")
        return cls(d["chars"], unknown=d.get("unknown"))


def split_text(text: str, val_fraction: float = 0.1) -> tuple[str, str]:
    """(train, val): the last `val_fraction` of the text is the validation text.

    The split is one cut, not a shuffle, so that neither part borrows sentences from the other.
    val_fraction=0 gives an empty validation text.
    """
    if not 0 <= val_fraction < 1:
        raise ValueError(f"val_fraction must be in [0, 1), got {val_fraction}")
    cut = len(text) - round(len(text) * val_fraction)
    if val_fraction > 0 and (cut < 2 or len(text) - cut < 2):
        raise ValueError(f"val_fraction={val_fraction} of a {len(text)}-character text leaves "
                         f"{cut} training and {len(text) - cut} validation characters; each needs at least 2")
    return text[:cut], text[cut:]


class StreamBatches(IterableDataset):
    """The (x, y) batches of stateful truncated BPTT over one continuous sequence of ids.

    The ids are cut into `batch_size` contiguous streams of S = len(self) * bptt steps; stream i
    starts at ids[i * S]. Batch k holds steps [k * bptt, (k + 1) * bptt) of every stream:

        x = streams[:, k*bptt : (k+1)*bptt]       y = the same positions one id later
        shapes (batch_size, bptt), int64

    so row i of batch k + 1 continues row i of batch k exactly: carry the hidden state from one
    batch to the next (detached), reset it at the start of each epoch, and never shuffle. Ids past
    batch_size * S + 1 are dropped. Stream i's last target is stream i + 1's first input.

    Use it as a list (len, indexing, iteration) or as a torch IterableDataset that yields whole
    batches: wrap it in DataLoader(batches, batch_size=None) with num_workers=0 (a worker process
    would replay every batch, so iterating in a worker with num_workers > 1 raises).
    """

    def __init__(self, ids, batch_size: int, bptt: int):
        super().__init__()
        ids = torch.as_tensor(ids)
        if ids.dim() != 1 or (ids.numel() and (ids.dtype.is_floating_point or ids.dtype == torch.bool)):
            raise ValueError(f"ids must be a 1-D tensor of integer ids, got a {ids.dim()}-D {ids.dtype} tensor")
        for name, v in (("batch_size", batch_size), ("bptt", bptt)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"{name} must be a positive int, got {v!r}")
        self.batch_size, self.bptt = batch_size, bptt
        self.num_batches = (len(ids) - 1) // (batch_size * bptt)
        if self.num_batches == 0:
            raise ValueError(f"ids has {len(ids)} ids, too few for batch_size={batch_size} streams of "
                             f"bptt={bptt} steps: one batch needs at least {batch_size * bptt + 1}")
        used = batch_size * self.num_batches * bptt
        ids = ids.long()
        self.x = ids[:used].reshape(batch_size, -1)  # x and y are views of one tensor: no copy
        self.y = ids[1:used + 1].reshape(batch_size, -1)

    def __len__(self) -> int:
        return self.num_batches

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not -self.num_batches <= k < self.num_batches:
            raise IndexError(f"batch index must be in [0, {self.num_batches}), got {k}")
        s = slice((k % self.num_batches) * self.bptt, (k % self.num_batches + 1) * self.bptt)
        return self.x[:, s].contiguous(), self.y[:, s].contiguous()

    def __iter__(self):
        info = get_worker_info()
        if info is not None and info.num_workers > 1:
            raise RuntimeError("StreamBatches must be loaded with num_workers=0 (or 1): its batches are "
                               f"ordered in time, and each of the {info.num_workers} workers would replay them all")
        return (self[k] for k in range(self.num_batches))

    def __repr__(self) -> str:
        return f"StreamBatches({self.num_batches} batches of ({self.batch_size}, {self.bptt}))"


def stream_batches(ids, batch_size: int, bptt: int) -> StreamBatches:
    """The batches of stateful truncated BPTT over `ids`: see StreamBatches."""
    return StreamBatches(ids, batch_size, bptt)
