"""IMDB data: the shared archive, the same reviews as folder / tar.gz / CSV / TSV, errors naming the
path, tokenize, WordVocab, and download_imdb over file:// URLs."""

import csv
import hashlib
import io
import json
import re
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from conftest import shared_data
from rnnzoo.data.imdb import OFFICIAL_SHA256, WordVocab, download_imdb, load_imdb, tokenize


@pytest.fixture(scope="module")
def shared():
    """(train, test) of 8 reviews a class each, from the one full read of the shared archive here."""
    return load_imdb(shared_data("imdb", "aclImdb_labeled.tar.gz"), split="both", limit=16)


def _layout(train, test):
    """{"train/pos/<id>_<rating>.txt": text}: the reviews with ids 0, 1, ... per class."""
    files = {}
    for split, rows in (("train", train), ("test", test)):
        counts = {0: 0, 1: 0}
        for text, label in rows:
            name = f"{split}/{'pos' if label else 'neg'}/{counts[label]}_{8 if label else 2}.txt"
            files[name] = text
            counts[label] += 1
    return files


def _write_folder(root: Path, files: dict) -> Path:
    for name, text in files.items():
        f = root / "aclImdb" / name
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text, encoding="utf-8")
    (root / "aclImdb" / "README").write_text("not a review", encoding="utf-8")
    return root


def _write_tar(path: Path, files: dict) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for name, text in sorted(files.items(), reverse=True):  # archive order must not matter
            data = text.encode("utf-8")
            info = tarfile.TarInfo(f"aclImdb/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def _write_csv(path: Path, train, test, delimiter=",", labels=("0", "1")):
    # rows interleave the splits and classes: only the order within a class should matter
    groups = [[(t, labels[y], s) for t, y in part if y == c] for s, part in (("test", test), ("train", train))
              for c in (1, 0)]
    rows = [row for rows in zip(*groups) for row in rows]
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter=delimiter)
        w.writerow(["id", "review", "sentiment", "split"])
        w.writerows((i, t, y, s) for i, (t, y, s) in enumerate(rows))
    return path


def test_shared_archive_with_limit_gives_balanced_real_reviews(shared):
    train, test = shared
    for rows in (train, test):
        assert [y for _, y in rows] == [0] * 8 + [1] * 8
        assert all(isinstance(t, str) and len(t.split()) > 10 for t, _ in rows)
    # the smallest ids come first: aclImdb/train/neg/0_3.txt and aclImdb/train/pos/0_9.txt
    assert train[0][0].startswith("Story of a man who has unnatural feelings for a pig.")
    assert train[8][0].startswith("Bromwell High is a cartoon comedy.")
    assert not {t for t, _ in train} & {t for t, _ in test}


def test_folder_tar_csv_and_tsv_of_the_same_reviews_load_identically(shared, tmp_path):
    train, test = shared
    files = _layout(train, test)
    folder = _write_folder(tmp_path / "parent", files)
    archive = _write_tar(tmp_path / "small.tar.gz", files)
    table = _write_csv(tmp_path / "reviews.csv", train, test)
    tsv = _write_csv(tmp_path / "reviews.tsv", train, test, delimiter="\t", labels=("neg", "pos"))
    sniffed = _write_csv(tmp_path / "reviews.data", train, test, delimiter=";", labels=("False", "TRUE"))
    cols = dict(text_column="review", label_column="sentiment")
    expected = (train, test)
    assert load_imdb(folder, "both") == expected
    assert load_imdb(folder / "aclImdb", "both") == expected  # the aclImdb folder itself, or its parent
    assert load_imdb(archive, "both") == expected
    for f in (table, tsv, sniffed):
        assert load_imdb(f, "both", **cols) == expected
        assert load_imdb(f, "test", limit=4, **cols) == test[:2] + test[8:10]
    assert load_imdb(archive, "train", limit=6) == train[:3] + train[8:11]


def test_csv_labels_accept_the_documented_spellings(tmp_path):
    f = tmp_path / "labels.csv"
    f.write_text("text,label\na,1\nb,positive\nc,Pos\nd,true\ne,0\nf,NEGATIVE\ng,neg\nh,False\n", encoding="utf-8")
    assert load_imdb(f) == [(t, 0) for t in "efgh"] + [(t, 1) for t in "abcd"]


def test_csv_bad_label_names_the_row_and_value(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("text,label\ngood,1\nmeh,maybe\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"bad.csv, row 2 \(line 3\): label 'maybe' in column 'label'"):
        load_imdb(f)


def test_csv_without_the_columns_lists_the_columns_it_has(tmp_path):
    f = tmp_path / "cols.csv"
    f.write_text("review,stars\ngreat,5\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"cols.csv has no column 'text' \(text_column\); its columns are "
                                         r"'review', 'stars'"):
        load_imdb(f)


def test_csv_without_a_split_column_is_all_train_and_has_no_test(tmp_path):
    f = tmp_path / "nosplit.csv"
    f.write_text("text,label\na,1\nb,0\n", encoding="utf-8")
    assert load_imdb(f, "train") == [("b", 0), ("a", 1)]
    with pytest.raises(ValueError, match=r"nosplit.csv has no 'split' column, so all of it is the train split"):
        load_imdb(f, "test")


def test_empty_dataset_names_the_path_and_split(tmp_path):
    f = tmp_path / "header_only.csv"
    f.write_text("text,label,split\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"header_only.csv holds no train reviews"):
        load_imdb(f)
    empty_tar = tmp_path / "empty.tar.gz"
    tarfile.open(empty_tar, "w:gz").close()
    with pytest.raises(ValueError, match=r"empty.tar.gz holds no test reviews"):
        load_imdb(empty_tar, "test")


def test_csv_not_utf8_names_the_path_and_offset(tmp_path):
    f = tmp_path / "latin1.csv"
    f.write_bytes("text,label\ncafé,1\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.csv is not valid UTF-8 \(byte offset 14\)"):
        load_imdb(f)


def test_truncated_or_corrupt_archive_names_the_path(tmp_path):
    files = {f"{s}/{c}/{i}_5.txt": f"review {s} {c} {i} " * 40 for s in ("train", "test") for c in ("pos", "neg")
             for i in range(3)}
    data = _write_tar(tmp_path / "good.tar.gz", files).read_bytes()
    assert len(load_imdb(tmp_path / "good.tar.gz")) == 6
    for cut in (100, len(data) // 2, len(data) - 4):  # in the headers, in a review, in the gzip trailer
        bad = tmp_path / f"cut{cut}.tar.gz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=rf"IMDB archive {re.escape(str(bad))} is truncated or corrupt"):
            load_imdb(bad, "both")
    garbage = tmp_path / "garbage.tgz"
    garbage.write_bytes(b"\x1f\x8b" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="garbage.tgz is truncated or corrupt"):
        load_imdb(garbage)


def test_a_member_with_an_id_of_thousands_of_digits_is_no_review(tmp_path):
    # found by benchmarks/fuzz.py: int() of its 5000-digit id raised a ValueError that named no file
    files = {f"{s}/{c}/{i}_5.txt": f"review {s} {c} {i}" for s in ("train", "test") for c in ("pos", "neg")
             for i in range(2)}
    archive = _write_tar(tmp_path / "odd.tar.gz", {**files, f"train/pos/{'9' * 5000}_5.txt": "not a review"})
    assert [text for text, _ in load_imdb(archive)] == [files[f"train/{c}/{i}_5.txt"] for c in ("neg", "pos")
                                                         for i in range(2)]


def test_missing_path_and_unrecognised_formats_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing_here does not exist"):
        load_imdb(tmp_path / "nothing_here")
    (tmp_path / "words.txt").write_text("just some words\nand more words\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"words.txt is not a recognised format"):
        load_imdb(tmp_path / "words.txt")
    (tmp_path / "other" / "train").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"other is not a recognised format: it has no train/neg folder"):
        load_imdb(tmp_path / "other")
    with pytest.raises(ValueError, match="split must be one of train, test, both, got 'val'"):
        load_imdb(tmp_path / "other", split="val")


def test_tokenize_lowercases_drops_line_breaks_and_splits_punctuation():
    assert tokenize("Great film!<br /><br />I DON'T regret it, 10/10.") == \
        ["great", "film", "!", "i", "don't", "regret", "it", ",", "10", "/", "10", "."]


def test_word_vocab_is_built_from_train_only_so_test_only_words_are_unknown():
    train = [tokenize("a good film, a good cast"), tokenize("a bad film")]
    test = tokenize("a zeppelin film")
    vocab = WordVocab.build(train)
    assert vocab.words == ["<pad>", "<unk>", "a", "film", "good", ",", "bad", "cast"]  # by count, then a-z
    ids = vocab.encode(test)
    assert ids.tolist() == [vocab.index["a"], WordVocab.UNK, vocab.index["film"]]
    assert vocab.decode(ids) == ["a", "<unk>", "film"]


def test_word_vocab_max_size_counts_padding_and_unknown_and_min_freq_drops_rare_words():
    tokens = [["x"] * 3 + ["y"] * 2 + ["z"]]
    assert WordVocab.build(tokens, max_size=4).words == ["<pad>", "<unk>", "x", "y"]
    assert WordVocab.build(tokens, min_freq=2).words == ["<pad>", "<unk>", "x", "y"]


def test_word_vocab_encode_keeps_the_last_words_by_default():
    vocab = WordVocab(list("abcdef"))
    tokens = list("abcdef")
    assert vocab.decode(vocab.encode(tokens, max_words=2)) == ["e", "f"]
    assert vocab.decode(vocab.encode(tokens, max_words=2, keep="first")) == ["a", "b"]
    assert vocab.encode(tokens).dtype == torch.long and len(vocab.encode(tokens, max_words=80)) == 6
    with pytest.raises(TypeError, match="tokens must be a list of tokens"):
        vocab.encode("abc")


def test_word_vocab_survives_json_via_to_dict_and_from_dict():
    vocab = WordVocab.build([tokenize("Don't panic. Ünïcode wörds, too!")])
    again = WordVocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab and again.index == vocab.index


def _payload(tmp_path):
    src = tmp_path / "src" / "aclImdb_v1.tar.gz"
    src.parent.mkdir()
    src.write_bytes(b"pretend archive " * 1000)
    return src, hashlib.sha256(src.read_bytes()).hexdigest()


def test_download_with_the_right_checksum_moves_the_file_into_place(tmp_path):
    src, digest = _payload(tmp_path)
    got = download_imdb(tmp_path / "dest", url=src.as_uri(), sha256=digest, progress=False)
    assert got == tmp_path / "dest" / "aclImdb_v1.tar.gz" and got.read_bytes() == src.read_bytes()
    assert sorted(p.name for p in got.parent.iterdir()) == ["aclImdb_v1.tar.gz"]  # no temp file left
    src.write_bytes(b"changed")  # a verified file already there is not fetched again
    assert download_imdb(tmp_path / "dest", url=src.as_uri(), sha256=digest, progress=False).read_bytes() \
        == b"pretend archive " * 1000


def test_download_with_a_wrong_checksum_keeps_nothing_and_names_both_digests(tmp_path):
    src, digest = _payload(tmp_path)
    dest = tmp_path / "dest"
    with pytest.raises(ValueError, match=rf"expected SHA-256 {OFFICIAL_SHA256}, got {digest}"):
        download_imdb(dest, url=src.as_uri(), progress=False)
    assert list(dest.iterdir()) == []


def test_download_shows_progress_without_tqdm(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)  # makes `from tqdm.auto import tqdm` fail
    src, digest = _payload(tmp_path)
    download_imdb(tmp_path / "dest", url=src.as_uri(), sha256=digest)
    assert "downloading aclImdb_v1.tar.gz: 100%" in capsys.readouterr().err
