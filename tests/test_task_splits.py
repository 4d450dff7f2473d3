"""No split of a task leaks into another: for addition, sentiment and charlm, what the model is trained
on (and the vocabulary it is built with) holds nothing of the validation split or of the test data, and
`evaluate` rebuilds exactly the held-out split. Each test plants data that can only be in one split.

charlm's character vocabulary is the documented exception: it covers the whole text (validation tail
included) so that validation never meets an unknown character; it holds which characters exist, no counts.
"""

import argparse
import csv

import torch

from rnnzoo.commands.train import add_common
from rnnzoo.data.imdb import WordVocab
from rnnzoo.train.tasks import TASKS
from rnnzoo.train.tasks.addition import from_bits


def task_args(task, *argv):
    """`rnnzoo train TASK ARGV`'s options, parsed as the command does."""
    parser = argparse.ArgumentParser()
    add_common(parser, task)
    task.add_arguments(parser)
    return parser.parse_args([str(a) for a in argv])


# --- addition ---------------------------------------------------------------------------------------
def addition_pairs(loader) -> list[tuple[int, int]]:
    return [(int(a), int(b)) for x, _ in loader
            for a, b in zip(from_bits(x[:, :, 0]).tolist(), from_bits(x[:, :, 1]).tolist())]


def test_addition_trains_on_no_pair_it_validates_or_evaluates_on_at_any_width():
    task = TASKS["addition"]
    args = task_args(task, "--bits", 6, "--train-size", 2000, "--val-size", 500, "--seed", 1)
    data = task.setup(args)
    train_loader, val_loader = task.loaders(args, data)
    train, val = addition_pairs(train_loader), addition_pairs(val_loader)
    assert len(set(train)) == len(train) == 2000 and len(set(val)) == len(val) == 500
    assert not set(train) & set(val)  # 4096 6-bit pairs: 244 would be shared if drawn independently
    config = {"data": data}
    assert addition_pairs(task.evaluation_loader(config, None)) == val  # evaluate: the same held-out pairs
    for bits in (3, 4, 5, 8, 16):  # the widths of `evaluate --bits` and the task's plot
        pairs = addition_pairs(task.evaluation_loader(config, None, bits=bits))
        assert pairs and all(max(p) < 2 ** bits for p in pairs)
        assert not set(pairs) & set(train), f"{bits}-bit evaluation pairs that were trained on"
    assert len(addition_pairs(task.evaluation_loader(config, None, bits=4))) == 256 - sum(
        max(p) < 16 for p in train)  # every 4-bit pair not trained on


# --- sentiment --------------------------------------------------------------------------------------
def planted(i: int) -> str:
    """A word of review i alone (letters only, so tokenize keeps it whole)."""
    return "qx" + chr(97 + i // 26) + chr(97 + i % 26)


def index_words(i: int) -> list[str]:
    """Review i's number in words that many reviews share (so every one of them is in the vocabulary):
    bit k of i is "kXone" or "kXnil" with X the k-th letter."""
    return [f"k{chr(97 + k)}{'one' if i >> k & 1 else 'nil'}" for k in range(7)]


def reviews_csv(path, train: int, test: int):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["text", "label", "split"])
        for i in range(train + test):
            w.writerow([f"{planted(i)} film {planted(i)} " + " ".join(index_words(i)), i % 2,
                        "train" if i < train else "test"])
    return path


def read_reviews(loader, vocab: WordVocab) -> dict[int, list[str]]:
    """{review number: its tokens as the model reads them}, from the index words."""
    out = {}
    for x, lengths, _ in loader:
        for ids, n in zip(x.tolist(), lengths.tolist()):
            tokens = [vocab.words[i] for i in ids[:n]]
            number = sum(1 << k for k in range(7) if f"k{chr(97 + k)}one" in tokens)
            assert number not in out
            out[number] = tokens
    return out


def test_sentiment_vocabulary_and_training_hold_nothing_of_the_validation_tenth_or_the_test_split(tmp_path):
    task = TASKS["sentiment"]
    path = reviews_csv(tmp_path / "reviews.csv", train=70, test=20)
    args = task_args(task, "--data", path, "--seed", 5, "--vocab-size", 1000, "--batch-size", 8)
    data = task.setup(args)
    vocab = WordVocab.from_dict(data["vocab"])
    train_loader, val_loader = task.loaders(args, data)
    train, val = read_reviews(train_loader, vocab), read_reviews(val_loader, vocab)
    assert len(val) == 7 and len(train) == 63 and set(train) | set(val) == set(range(70))  # disjoint
    for i, tokens in train.items():
        assert tokens[:3] == [planted(i), "film", planted(i)]
    for i, tokens in val.items():  # a word planted only in a validation review is out of vocabulary
        assert tokens[:3] == ["<unk>", "film", "<unk>"], i
    assert {w for w in vocab.words if w.startswith("qx")} == {planted(i) for i in train}
    config = {"data": data}
    assert read_reviews(task.evaluation_loader(config, None), vocab) == val  # evaluate's validation split
    test = read_reviews(task.evaluation_loader(config, None, split="test"), vocab)
    assert sorted(test) == list(range(70, 90))
    assert all(tokens[:3] == ["<unk>", "film", "<unk>"] for tokens in test.values())


# --- charlm -----------------------------------------------------------------------------------------
def ids_of(loader) -> torch.Tensor:
    return torch.cat([torch.cat([x.flatten(), y.flatten()]) for x, y in loader])


def test_charlm_training_streams_end_before_the_validation_tail_begins(tmp_path):
    """A text of 2000 distinct characters in code-point order, so a character's id is its position; the
    last 200 (positions 1800...) are validation. 45 batches of 4 streams of 10 need 1801 ids (the last
    target is one past the last input), so the 1800 training characters give 44 (ids up to 1760): one
    character of the validation tail in the training ids would complete batch 45 and be read, as id 1800."""
    task = TASKS["charlm"]
    path = tmp_path / "text.txt"
    path.write_text("".join(chr(0x4E00 + i) for i in range(2000)), encoding="utf-8")
    args = task_args(task, "--data", path, "--batch-size", 4, "--bptt", 10)
    data = task.setup(args)
    assert data["vocab"]["chars"] == path.read_text(encoding="utf-8")  # id = position
    assert (data["train_chars"], data["val_chars"]) == (1800, 200)
    train_loader, val_loader = task.loaders(args, data)
    assert int(ids_of(train_loader).max()) == 1760 < 1800
    assert int(ids_of(val_loader).min()) == 1800
    assert int(ids_of(task.evaluation_loader({"data": data}, None)).min()) == 1800  # evaluate's split
    for rank in range(2):  # two processes: each reads its share of the training text only
        assert int(ids_of(task.loaders(args, data, rank=rank, world=2)[0]).max()) < 1800
