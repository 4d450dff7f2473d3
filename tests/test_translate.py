"""The translate task (rnnzoo.train.tasks.translate) and `rnnzoo translate`: split, vocabularies, BLEU
reproduced from the run directory, bad input."""

import argparse
import json
import shutil
import subprocess
import sys

import pytest
from conftest import shared_data

from rnnzoo.cli import main
from rnnzoo.data.pairs import SentenceVocab
from rnnzoo.train.tasks.translate import SPLIT_FILE, TRANSLATIONS, Translate

TINY = ["--limit", "1500", "--epochs", "1", "--hidden", "16", "--embed", "16", "--batch-size", "32",
        "--threads", "1"]


def options(path, **changes):
    values = dict(data=str(path), source_lang="en", target_lang="fr", reverse=False, max_words=10, min_freq=2,
                  seed=0, val_fraction=0.1, test_fraction=0.1, limit=0, report=True)
    return argparse.Namespace(**{**values, **changes})


def test_no_source_sentence_is_in_two_splits_and_the_vocabularies_hold_only_training_words():
    task = Translate()
    data = task.setup(options(shared_data("translation", "fra.txt")))
    parts = task._parts(data)
    sources = {name: {" ".join(s) for s, _, _ in rows} for name, rows in parts.items()}
    assert not sources["train"] & sources["test"] and not sources["train"] & sources["val"]
    assert not sources["val"] & sources["test"]
    assert len(sources["test"]) == data["counts"]["test"]["sources"] > 10000
    # every translation of a test source is in the test split, so each is one of its references
    test_sources = sources["test"]
    assert all(" ".join(s) not in test_sources for name in ("train", "val") for s, _, _ in parts[name])
    for side, index in (("source_vocab", 0), ("target_vocab", 1)):
        vocab = SentenceVocab.from_dict(data[side])
        train_words = {w for row in parts["train"] for w in row[index]}
        later_words = {w for name in ("val", "test") for row in parts[name] for w in row[index]} - train_words
        assert set(vocab.words[4:]) <= train_words and later_words and not later_words & set(vocab.words)
    # pairs over --max-words on either side are left out
    assert all(len(src.split()) <= 10 and len(tgt.split()) <= 10 for rows in parts.values() for *_, (src, tgt) in rows)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny run trained on a copy of the first 1,500 pairs of fra.txt."""
    base = tmp_path_factory.mktemp("translate")
    data = base / "pairs.txt"
    data.write_bytes(b"".join(shared_data("translation", "fra.txt").read_bytes().splitlines(True)[:1500]))
    out = base / "run"
    assert main(["train", "translate", "--data", str(data), "--out", str(out), *TINY]) == 0
    return out, data


def test_a_run_keeps_its_split_samples_plots_and_test_bleu(run):
    out, _ = run
    config = json.loads((out / "config.json").read_text())
    report = config["report"]
    for key in ("test_greedy", "test_beam"):
        assert report[key]["sentences"] == config["data"]["counts"]["test"]["sources"]
        assert report[key]["references"] == config["data"]["counts"]["test"]["pairs"]
        assert report[key]["signature_bleu"].startswith("nrefs:var|case:lc|eff:no|tok:13a")
    assert report["test_beam"]["beam"] == 5 and report["test_greedy"]["beam"] == 1
    split = (out / SPLIT_FILE).read_text(encoding="utf-8").splitlines()
    assert sum(line.startswith("test\t") for line in split) == config["data"]["counts"]["test"]["pairs"]
    assert (out / TRANSLATIONS).read_text(encoding="utf-8").startswith("source:")
    assert {"attention.png", "bleu_by_length.png"} <= set(config["plots"])
    assert all((out / "plots" / name).stat().st_size > 1000 for name in config["plots"])


def run_command(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "rnnzoo", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_evaluate_in_a_fresh_process_reproduces_the_logged_bleu(run):
    out, _ = run
    report = json.loads((out / "config.json").read_text())["report"]
    for beam, key in ((5, "test_beam"), (1, "test_greedy")):
        done = run_command("evaluate", str(out), "--split", "test", "--beam", str(beam), "--threads", "1")
        assert done.returncode == 0, done.stderr
        printed = dict(line.split(": ", 1) for line in done.stdout.splitlines())
        assert printed["bleu"] == f"{report[key]['bleu']:.6f}" and printed["chrf"] == f"{report[key]['chrf']:.6f}"


def test_translate_works_from_the_run_directory_alone_in_a_fresh_process(run, tmp_path):
    out, data = run
    moved = tmp_path / "elsewhere"
    shutil.copytree(out, moved)
    hidden = data.with_suffix(".gone")
    data.rename(hidden)  # the training data is nowhere to be found
    try:
        done = run_command("translate", str(moved), "I'm hungry.", "Zqxv is here.", "--beam", "3", cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert len(done.stdout.splitlines()) == 2 and all(done.stdout.splitlines())
        assert "unknown to the model (read as <unk>): 'zqxv'" in done.stderr
        evaluated = run_command("evaluate", str(moved), "--split", "test", cwd=tmp_path)
        assert evaluated.returncode == 1 and "no such file" in evaluated.stderr
    finally:
        hidden.rename(data)


def test_evaluate_refuses_a_data_file_that_changed_since_training(run, tmp_path, capsys):
    out, data = run
    changed = tmp_path / "changed.txt"
    lines = data.read_text(encoding="utf-8").splitlines(True)
    changed.write_text("".join(lines[1:]), encoding="utf-8")  # one pair fewer: another split
    config = json.loads((out / "config.json").read_text())
    task = Translate()
    with pytest.raises(ValueError, match="the file changed since training"):
        task._checked_parts({**config["data"], "path": str(changed)})


@pytest.mark.parametrize("sentence, message", [
    ("", "the sentence is empty"),
    ("one two three four five six seven eight nine ten eleven", "has 11 words; this model was trained on sentences of "
                                                                  "at most 10"),
])
def test_translate_refuses_an_empty_or_too_long_sentence_in_one_line(run, capsys, sentence, message):
    assert main(["translate", str(run[0]), sentence]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("content, message", [
    (b"Go.\tVa !\nno tab\n", "line 2 has no TAB"),
    (b"Go.\tVa !\nCaf\xe9\tCaf\xe9\n", "line 2 is not UTF-8"),
    (b"Go.\tVa !\n\tSalut !\n", "line 2 has an empty source sentence"),
])
def test_a_bad_pair_file_is_one_error_line_and_leaves_no_run_behind(tmp_path, capsys, content, message):
    data, out = tmp_path / "pairs.txt", tmp_path / "run"
    data.write_bytes(content)
    assert main(["train", "translate", "--data", str(data), "--out", str(out), *TINY]) == 1
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_blank_lines_are_skipped_and_counted(tmp_path, capsys):
    pairs = "".join(f"Word{i} is here.\tMot{i} est là.\n" + ("\n" if i % 10 == 0 else "") for i in range(300))
    data = tmp_path / "pairs.txt"
    data.write_text(pairs, encoding="utf-8")
    out = tmp_path / "run"
    assert main(["train", "translate", "--data", str(data), "--out", str(out), *TINY]) == 0
    assert "300 pairs of at most 10 words (30 blank lines skipped)" in capsys.readouterr().out
    assert json.loads((out / "config.json").read_text())["data"]["blank_lines"] == 30
