"""Tomita grammars: the reference accepts the literature's examples, the DFAs used for generation agree
with it, data sets are balanced, labelled by the reference and deterministic, the encoding fits the
driver's `lengths`, and a second-order network learns grammar 4 beyond its training lengths."""

import importlib.util
import itertools
from pathlib import Path

import pytest
import torch

import rnnzoo
from rnnzoo.data import encode_strings, tomita_accepts, tomita_dataset
from rnnzoo.data.tomita import DFAS, GRAMMARS

# Tomita's (1982) training sets as Pollack 1991 lists them: (accepted, rejected) per grammar
LITERATURE = {
    1: (["", "1", "11", "111", "1111", "11111", "111111", "1111111", "11111111"],
        ["0", "10", "01", "00", "011", "110", "11111110", "10111111"]),
    2: (["", "10", "1010", "101010", "10101010", "10101010101010"],
        ["1", "0", "11", "00", "01", "101", "100", "1001010", "10110", "110101010"]),
    3: (["", "1", "0", "01", "11", "00", "100", "110", "111", "000", "100100", "110000011100001",
         "111101100010011100"],
        ["10", "101", "010", "1010", "1110", "1011", "10001", "111010", "1001000", "11111000",
         "0111001101", "11011100110"]),
    4: (["", "1", "0", "10", "01", "00", "100100", "001111110100", "0100100100", "11100", "0010"],
        ["000", "11000", "0001", "000000000", "11111000011", "1101010000010111", "1010010001",
         "0000", "00000"]),
    5: (["", "11", "00", "1001", "0101", "1010", "1000111101", "1001100001111010", "111111", "0000"],
        ["1", "0", "111", "010", "000000000", "1000", "01", "10", "1110010100", "010111111110",
         "0001", "011"]),
    6: (["", "10", "01", "1100", "101010", "111", "000000", "10111", "0111101111", "100100100"],
        ["1", "0", "11", "00", "101", "011", "11001", "1111", "00000000", "010111", "101111011111",
         "1001001001"]),
    7: (["", "1", "0", "10", "01", "11111", "000", "00110011", "0101", "0000100001111", "00100",
         "011111011111", "00"],
        ["1010", "00110011000", "0101010101", "1011010", "10101", "010100", "101001",
         "100100110101"]),
}


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("grammar", GRAMMARS)
def test_reference_accepts_tomitas_positive_and_rejects_negative_examples(grammar):
    accepted, rejected = LITERATURE[grammar]
    assert all(tomita_accepts(grammar, s) for s in accepted)
    assert not any(tomita_accepts(grammar, s) for s in rejected)


def test_grammar_4_rejects_000_and_grammar_3_looks_anywhere_later():
    assert tomita_accepts(4, "1001") and not tomita_accepts(4, "1000")
    # grammar 3: an odd 1-run followed anywhere later by an odd 0-run, not only right after it
    assert not tomita_accepts(3, "0111001101") and not tomita_accepts(3, "100110")
    assert tomita_accepts(3, "1001") and tomita_accepts(3, "0001") and tomita_accepts(3, "110")


@pytest.mark.parametrize("grammar", GRAMMARS)
def test_generating_dfa_agrees_with_reference_on_every_string_up_to_length_12(grammar):
    delta, accept = DFAS[grammar]
    for n in range(13):
        for bits in itertools.product("01", repeat=n):
            q = 0
            for b in bits:
                q = delta[q][int(b)]
            assert (q in accept) == tomita_accepts(grammar, "".join(bits)), "".join(bits)


@pytest.mark.parametrize("grammar", GRAMMARS)
def test_dataset_is_balanced_in_range_and_labelled_by_reference(grammar):
    for lengths in (range(1, 11), range(11, 21)):
        strings, labels = tomita_dataset(grammar, lengths, 200, seed=3)
        assert len(strings) == 200 and labels.dtype == torch.bool and labels.shape == (200,)
        assert int(labels.sum()) == 100
        assert all(len(s) in lengths for s in strings)
        assert all(tomita_accepts(grammar, s) == bool(y) for s, y in zip(strings, labels))


def test_large_classes_are_distinct_and_spread_over_every_length():
    strings, labels = tomita_dataset(4, range(11, 21), 400, seed=0)
    assert len(set(strings)) == 400
    for label in (True, False):
        per_length = [sum(len(s) == L and bool(y) == label for s, y in zip(strings, labels))
                      for L in range(11, 21)]
        assert per_length == [20] * 10


def test_scarce_positives_are_all_included_then_repeated():
    for grammar, positives in ((1, {"1" * L for L in range(1, 11)}),
                               (2, {"10" * k for k in range(1, 6)})):
        strings, labels = tomita_dataset(grammar, range(1, 11), 100, seed=0)
        accepted = [s for s, y in zip(strings, labels) if y]
        assert len(accepted) == 50 and set(accepted) == positives
        assert len({s for s, y in zip(strings, labels) if not y}) == 50  # negatives distinct


def test_deterministic_under_a_seed_and_unbalanced_option():
    a, b, c = (tomita_dataset(6, range(1, 9), 50, seed=s) for s in (1, 1, 2))
    assert a[0] == b[0] and torch.equal(a[1], b[1]) and a[0] != c[0]
    strings, labels = tomita_dataset(1, range(5, 9), 200, seed=0, balance=False)
    assert int(labels.sum()) < 20  # 1 in 2^L strings is accepted
    assert all(tomita_accepts(1, s) == bool(y) for s, y in zip(strings, labels))


def test_encoding_is_one_hot_with_lengths_for_the_driver():
    strings = ["0", "1101", "10"]
    x, lengths = encode_strings(strings)
    assert x.shape == (3, 4, 2) and x.dtype == torch.float32 and lengths.tolist() == [1, 4, 2]
    assert x[1].tolist() == [[0, 1], [0, 1], [1, 0], [0, 1]]
    valid = torch.arange(4)[None, :] < lengths[:, None]
    assert torch.equal(x.sum(2), valid.float())  # one symbol per real step, zeros after the end
    y, h = rnnzoo.Recurrent("second_order", 2, 3, batch_first=True)(x, lengths=lengths)
    assert y.shape == (3, 4, 3) and h.shape == (1, 3, 3)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="grammar"):
        tomita_accepts(8, "01")
    with pytest.raises(ValueError, match="'0' and '1'"):
        tomita_accepts(1, "012")
    with pytest.raises(ValueError, match="empty"):
        encode_strings(["01", ""])
    with pytest.raises(ValueError, match="lengths"):
        tomita_dataset(1, [0, 1, 2], 10)


def test_second_order_network_learns_grammar_4_beyond_training_lengths():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "tasks_family.py"
    spec = importlib.util.spec_from_file_location("rnnzoo_benchmark_tasks_family", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.train_tomita("second_order", 4, 0, hidden=8, steps=200, batch=32, lr=2e-2, n_train=300,
                           n_test=300, train_lengths=(1, 10), test_lengths=(11, 20))
    assert r["test_acc"] >= 0.9  # chance is 0.5 on the balanced strings of lengths 11-20
