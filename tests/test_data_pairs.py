"""Sentence pairs (rnnzoo.data.pairs): reading, tokenising, the split by source sentence, vocabularies."""

import pytest

from rnnzoo.data.pairs import SentenceVocab, Tokenizer, read_pairs, split_by_source


def write(tmp_path, content, name="pairs.txt"):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def test_reads_pairs_skipping_and_counting_blank_lines_and_ignoring_extra_columns(tmp_path):
    path = write(tmp_path, "\ufeffGo.\tVa !\tCC-BY 2.0 (France) Attribution\n\n   \nHi.\tSalut !\r\n")
    pairs = read_pairs(path)
    assert pairs.pairs == [("Go.", "Va !"), ("Hi.", "Salut !")]
    assert pairs.blank_lines == 2 and pairs.lines == [1, 4]
    assert read_pairs(path, reverse=True).pairs == [("Va !", "Go."), ("Salut !", "Hi.")]


@pytest.mark.parametrize("content, message", [
    ("Go.\tVa !\nno tab here\n", "line 2 has no TAB"),
    ("Go.\tVa !\n\t Salut !\n", "line 2 has an empty source sentence"),
    ("Go.\t \n", "line 1 has an empty target sentence"),
    (b"Go.\tVa !\nCaf\xe9\tCaf\xe9\n", r"line 2 is not UTF-8 \(byte 0xe9 at column 4\)"),
    ("\n\n", "no sentence pairs in it"),
    ("", "no sentence pairs in it"),
])
def test_a_bad_pair_file_is_refused_naming_its_line(tmp_path, content, message):
    with pytest.raises(ValueError, match=message):
        read_pairs(write(tmp_path, content))


def test_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        read_pairs(tmp_path / "missing.txt")


@pytest.mark.parametrize("lang, text, tokens, detokenized", [
    ("en", "I'm hungry!", ["i", "'m", "hungry", "!"], "i'm hungry!"),
    ("fr", "C’est l’heure !", ["c'", "est", "l'", "heure", "!"], "c'est l'heure !"),
    ("fr", "Il a dit « non ».", ["il", "a", "dit", '"', "non", '"', "."], 'il a dit "non".'),
])
def test_moses_tokenises_lower_cased_text_and_detokenises_it_back(lang, text, tokens, detokenized):
    tokenizer = Tokenizer(lang)
    assert tokenizer.tokenize(text) == tokens
    assert tokenizer.detokenize(tokens) == detokenized


def test_an_unknown_language_code_is_refused():
    with pytest.raises(ValueError, match="lang must be a language code"):
        Tokenizer("english!")


def test_every_pair_of_one_source_lands_in_the_same_split_fixed_by_the_seed():
    keys = [f"s{i % 50}" for i in range(400)]  # 50 sources, 8 translations each
    splits = split_by_source(keys, seed=3)
    by_source = {}
    for key, split in zip(keys, splits):
        by_source.setdefault(key, set()).add(split)
    assert all(len(s) == 1 for s in by_source.values())
    counts = {name: sum(s == {name} for s in by_source.values()) for name in ("train", "val", "test")}
    assert counts == {"train": 40, "val": 5, "test": 5}
    assert split_by_source(keys, seed=3) == splits and split_by_source(keys, seed=4) != splits
    # the order of the pairs does not change which source goes where
    assert dict(zip(keys[::-1], split_by_source(keys[::-1], seed=3))) == dict(zip(keys, splits))


def test_too_few_sources_for_the_split_are_refused():
    with pytest.raises(ValueError, match="too few"):
        split_by_source(["a", "b", "a"], seed=0)


def test_the_vocabulary_keeps_words_seen_min_freq_times_and_maps_the_rest_to_unknown():
    vocab = SentenceVocab.build([["le", "chat"], ["le", "chien"], ["le", "chat"]], max_size=100, min_freq=2)
    assert vocab.words == ["<pad>", "<unk>", "<s>", "</s>", "le", "chat"]
    assert vocab.encode(["le", "chien", "chat"]).tolist() == [4, vocab.UNK, 5]
    assert SentenceVocab.from_dict(vocab.to_dict()) == vocab
    with pytest.raises(ValueError, match="kind 'sentence words'"):
        SentenceVocab.from_dict({"kind": "word", "words": ["le"]})
