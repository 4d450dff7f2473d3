"""Character-level text data: the built-in text, file errors, CharVocab, split_text, stream_batches."""

import json
import re
from importlib import resources

import pytest
import torch
from torch.utils.data import DataLoader

from conftest import shared_data
from rnnzoo.data import text as text_mod
from rnnzoo.data.text import CharVocab, load_text, split_text, stream_batches


def test_builtin_text_is_alice_and_equals_the_shared_file():
    alice = load_text()
    assert alice == shared_data("text", "alice_in_wonderland.txt").read_text(encoding="utf-8")
    assert "Down the Rabbit-Hole" in alice and len(alice) > 140_000


def test_builtin_text_ships_with_its_license():
    folder = resources.files("rnnzoo").joinpath("data")
    assert "PUBLIC DOMAIN" in folder.joinpath("alice_LICENSE.txt").read_text(encoding="utf-8")


def test_load_text_reads_a_given_path():
    assert load_text(shared_data("text", "tiny_shakespeare.txt")).startswith("First Citizen:")


def test_load_text_drops_a_byte_order_mark(tmp_path):
    f = tmp_path / "bom.txt"
    f.write_bytes(b"\xef\xbb\xbfhello")
    assert load_text(f) == "hello"


def test_load_text_missing_file_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.txt does not exist"):
        load_text(tmp_path / "nope.txt")


def test_load_text_directory_names_the_path(tmp_path):
    with pytest.raises(ValueError, match=re.escape(f"{tmp_path} is a directory")):
        load_text(tmp_path)


def test_load_text_empty_file_names_the_path(tmp_path):
    (tmp_path / "empty.txt").write_bytes(b"")
    with pytest.raises(ValueError, match=r"empty.txt is empty"):
        load_text(tmp_path / "empty.txt")


def test_load_text_non_utf8_names_the_path_and_byte_offset(tmp_path):
    (tmp_path / "latin1.txt").write_bytes("café au lait".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.txt is not valid UTF-8: byte 0xe9 at byte offset 3"):
        load_text(tmp_path / "latin1.txt")


def test_load_text_shorter_than_min_chars_names_the_path_and_minimum(tmp_path):
    (tmp_path / "short.txt").write_text("abc", encoding="utf-8")
    assert load_text(tmp_path / "short.txt", min_chars=3) == "abc"
    with pytest.raises(ValueError, match=r"short.txt has 3 characters, fewer than min_chars=4"):
        load_text(tmp_path / "short.txt", min_chars=4)


def test_char_vocab_is_the_sorted_unique_characters():
    assert CharVocab("hello world").chars == " dehlorw"


def test_char_vocab_round_trips_the_builtin_text():
    alice = load_text()
    vocab = CharVocab(alice)
    ids = vocab.encode(alice)
    assert ids.dtype == torch.long and ids.shape == (len(alice),)
    assert int(ids.max()) == len(vocab) - 1
    assert vocab.decode(ids) == alice


def test_char_vocab_survives_json_via_to_dict_and_from_dict():
    vocab = CharVocab("Tab\there, newline\n, quote \" and ’curly’ é", unknown=" ")
    again = CharVocab.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab and again.unknown == " "
    assert torch.equal(again.encode("here é"), vocab.encode("here é"))


def test_char_vocab_from_dict_rejects_other_dicts():
    with pytest.raises(ValueError, match="d must be a dict from CharVocab.to_dict"):
        CharVocab.from_dict({"kind": "word", "words": []})


def test_char_vocab_unknown_character_raises_naming_it():
    with pytest.raises(ValueError, match=r"character 'z' \(U\+007A\) at index 2, not in the vocabulary"):
        CharVocab("abc").encode("abz")


def test_char_vocab_unknown_fallback_maps_to_the_chosen_character():
    vocab = CharVocab("ab ", unknown=" ")
    assert vocab.decode(vocab.encode("azb!")) == "a b "
    with pytest.raises(ValueError, match="unknown must be one character of the vocabulary"):
        CharVocab("ab", unknown="?")


def test_char_vocab_decode_rejects_out_of_range_ids():
    with pytest.raises(ValueError, match=r"ids must be in \[0, 3\) for this vocabulary, got 3"):
        CharVocab("abc").decode([0, 3])


def test_split_text_holds_out_the_last_fraction():
    text = "".join(chr(65 + i % 26) for i in range(1000))
    train, val = split_text(text, val_fraction=0.1)
    assert train + val == text and len(val) == 100
    assert split_text(text, 0) == (text, "")


def test_split_text_rejects_bad_fractions():
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 1\), got 1"):
        split_text("abcdef", 1)
    with pytest.raises(ValueError, match="val_fraction=0.1 of a 5-character text leaves"):
        split_text("abcde", 0.1)


def test_stream_batches_continue_each_stream_and_y_is_x_shifted_by_one():
    ids = torch.arange(1000)
    batches = stream_batches(ids, batch_size=4, bptt=7)
    n = (1000 - 1) // (4 * 7)
    assert len(batches) == batches.num_batches == n == len(list(batches))
    for k in range(n):
        x, y = batches[k]
        assert x.shape == y.shape == (4, 7) and x.dtype == y.dtype == torch.long
        assert torch.equal(y, x + 1)  # ids are positions here, so the next id is the next position
        if k + 1 < n:
            assert torch.equal(batches[k + 1][0][:, 0], y[:, -1])  # stream i goes on where it stopped
    # row i of all batches, side by side, is one contiguous stretch of the text
    rows = torch.cat([x for x, _ in batches], dim=1)
    S = n * 7
    for i in range(4):
        assert torch.equal(rows[i], ids[i * S:(i + 1) * S])


def test_stream_batches_on_real_text_keep_characters_in_order():
    text = load_text()
    vocab = CharVocab(text)
    batches = stream_batches(vocab.encode(text), batch_size=8, bptt=50)
    x0, y0 = batches[0]
    x1, _ = batches[1]
    assert vocab.decode(torch.cat([x0[3], x1[3]])) == text[3 * len(batches) * 50:][:100]
    assert vocab.decode(y0[3]) == text[3 * len(batches) * 50 + 1:][:50]


def test_stream_batches_work_as_an_iterable_dataset():
    batches = stream_batches(torch.arange(500), batch_size=3, bptt=10)
    loaded = list(DataLoader(batches, batch_size=None))
    assert len(loaded) == len(batches)
    for (x, y), (bx, by) in zip(loaded, batches):
        assert torch.equal(x, bx) and torch.equal(y, by)


def test_stream_batches_refuse_several_workers(monkeypatch):
    class Info:
        num_workers = 2

    monkeypatch.setattr(text_mod, "get_worker_info", lambda: Info())
    with pytest.raises(RuntimeError, match="num_workers=0"):
        iter(stream_batches(torch.arange(100), 2, 5))


def test_stream_batches_too_few_ids_names_the_arguments():
    with pytest.raises(ValueError, match=r"ids has 20 ids, too few for batch_size=4 streams of bptt=5 steps"):
        stream_batches(torch.arange(20), batch_size=4, bptt=5)
    with pytest.raises(ValueError, match="bptt must be a positive int, got 0"):
        stream_batches(torch.arange(20), batch_size=1, bptt=0)
    with pytest.raises(ValueError, match="ids must be a 1-D tensor of integer ids"):
        stream_batches(torch.zeros(20), batch_size=1, bptt=5)
