"""rnnzoo.train.run: config.json checks itself (format 2: "config_sha256"), so an edited or damaged config
is refused in one line by load_run and the commands, while a run written before (format 1, no checksum)
still loads."""

import json
import re
import shutil

import pytest

from rnnzoo.cli import main
from rnnzoo.train import fit as training
from rnnzoo.train import run as rundir

TEXT = "a cab faced a bad deed. " * 100  # letters a-f only: "z" is in no vocabulary here


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny finished charlm run (a character vocabulary in its config.json); tests copy it."""
    folder = tmp_path_factory.mktemp("charlm")
    (folder / "text.txt").write_text(TEXT, encoding="utf-8")
    run = folder / "run"
    assert main(["train", "charlm", "--data", str(folder / "text.txt"), "--epochs", "1", "--hidden", "8",
                 "--embed", "4", "--bptt", "20", "--batch-size", "4", "--threads", "1", "--out", str(run)]) == 0
    return run


@pytest.fixture
def run(trained, tmp_path):
    return shutil.copytree(trained, tmp_path / "run")


def refusal(capsys, *argv) -> str:
    """The one error line of a command that must fail."""
    capsys.readouterr()
    assert main(list(argv)) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    return line


def test_a_written_config_has_format_2_and_the_checksum_of_the_rest_of_its_content(run):
    config = json.loads((run / "config.json").read_text())
    assert config["format"] == rundir.FORMAT == 2
    assert config["config_sha256"] == rundir.config_digest(config)
    assert rundir.config_digest({**config, "config_sha256": "anything"}) == config["config_sha256"]
    assert training.load_run(run)[2] == config


def test_one_character_changed_in_the_vocabulary_is_refused_by_load_run_evaluate_and_generate(run, capsys):
    path = run / "config.json"
    text = path.read_text()
    start = text.index('"chars": "') + len('"chars": "')
    at = text.index("a", start)  # the vocabulary "\n .abcdef": "a" becomes "z", the same size
    path.write_text(text[:at] + "z" + text[at + 1:])
    assert json.loads(path.read_text())["data"]["vocab"]["chars"].endswith("zbcdef")
    with pytest.raises(rundir.RunError, match="does not match its config_sha256"):
        training.load_run(run)
    for argv in (["evaluate", str(run)], ["generate", str(run), "--length", "5"]):
        assert "does not match its config_sha256: it was edited" in refusal(capsys, *argv)


def test_a_config_without_its_checksum_or_its_format_is_refused(run, capsys):
    path = run / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({k: v for k, v in config.items() if k != "config_sha256"}, indent=2))
    assert "has no config_sha256 entry" in refusal(capsys, "evaluate", str(run))
    path.write_text(json.dumps({k: v for k, v in config.items() if k != "format"}, indent=2))  # checksum kept
    assert "does not match its config_sha256" in refusal(capsys, "evaluate", str(run))
    path.write_text(json.dumps({**config, "format": 3}, indent=2))
    assert "newer than this rnnzoo reads" in refusal(capsys, "evaluate", str(run))


def test_a_config_nested_past_the_recursion_limit_is_one_line(run, capsys):
    # found by benchmarks/fuzz.py: json's RecursionError came out of read_config as an internal error
    (run / "config.json").write_text('{"task": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "config.json is not valid JSON: maximum recursion depth exceeded" in refusal(capsys, "evaluate", str(run))


def test_a_config_recording_no_weights_checksum_names_the_run(run):
    config = json.loads((run / "config.json").read_text())
    rundir.write_config(run, {**config, "files": {}})  # signed again: only the missing hash is wrong
    with pytest.raises(rundir.RunError, match=f"^{re.escape(str(run / 'config.json'))} records no checksum"):
        training.load_run(run)


def test_the_same_content_laid_out_differently_still_loads(run, capsys):
    path = run / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps(config, indent=4))  # keys in written order, other indentation
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0


def test_a_run_written_before_config_checksums_still_loads_and_evaluates_the_same(run, capsys):
    capsys.readouterr()
    assert main(["evaluate", str(run)]) == 0
    figures = capsys.readouterr().out
    config = json.loads((run / "config.json").read_text())
    old = {k: v for k, v in config.items() if k not in ("format", "config_sha256")}
    (run / "config.json").write_text(json.dumps(old, indent=2, sort_keys=True) + "\n")  # the old write_config
    assert training.load_run(run)[2] == old
    assert main(["evaluate", str(run)]) == 0
    assert capsys.readouterr().out == figures


def test_a_runs_data_file_is_refused_when_missing_or_changed(tmp_path):
    from rnnzoo.train.run import check_data_file, file_sha256
    path = tmp_path / "series.csv"
    path.write_text("value\n1\n2\n")
    digest = file_sha256(path)
    check_data_file(path, digest)  # unchanged: fine
    path.write_text("value\n1\n3\n")
    with pytest.raises(ValueError, match="the run's data file .* changed since training"):
        check_data_file(path, digest)
    check_data_file(path, None)  # nothing recorded: existence only
    path.unlink()
    with pytest.raises(ValueError, match="the run's test file .* is missing; give --data"):
        check_data_file(path, digest, "test")
