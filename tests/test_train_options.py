"""`rnnzoo train` and the commands that read its runs check every value the same way, from wherever it
comes: flags, --config (through the flags' own `type=` and `choices`; switches take JSON true/false
only) and the cell's options (its constructor's checks, before any data is read). A user's mistake is
one line on stderr that names what to change, and leaves no run directory behind; so is a hand-edited
config.json with an entry missing or of the wrong type."""

import json

import pytest

from rnnzoo.cli import build_parser, main
from rnnzoo.commands.train import apply_config_file

pytestmark = pytest.mark.usefixtures("one_thread")

ADDITION = ["train", "addition", "--threads", "1", "--epochs", "1", "--train-size", "64", "--val-size", "16"]


def exit_code(*argv) -> int:
    try:
        return main([str(a) for a in argv])
    except SystemExit as e:
        return e.code


def one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("rnnzoo: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


# --- --config --------------------------------------------------------------------------------------
@pytest.mark.parametrize("values,message", [
    # the string "false" is truthy: it used to train a peephole LSTM
    ({"peephole": "false"}, "'peephole': must be true or false (JSON booleans), got \"false\""),
    ({"bidirectional": 1}, "'bidirectional': must be true or false (JSON booleans), got 1"),
    ({"hidden": "8"}, "'hidden': must be an integer (JSON), got \"8\""),
    ({"hidden": 8.5}, "'hidden': expected an integer, got '8.5'"),
    ({"threads": -1}, "'threads': expected 'auto' or a whole number >= 0, got -1"),
    ({"threads": "many"}, "'threads': expected 'auto' or a whole number >= 0 (0: torch's default), got 'many'"),
    ({"threads": True}, "'threads': must be a string, got true"),
    ({"epochs": 0}, "'epochs': must be an integer >= 1, got 0"),
    ({"lr_schedule": "linear"}, "'lr_schedule': must be one of 'plateau', 'cosine', 'none', got \"linear\""),
    ({"clip": float("nan")}, "'clip': must be a finite number >= 0, got NaN"),
    ({"io_dropout": 1.0}, "'io_dropout': must be a finite number in [0, 1), got 1.0"),
    ({"lr": "0.01"}, "'lr': must be a number (JSON), got \"0.01\""),
    ({"seed": -1}, "'seed': must be an integer from 0 to 4294967295, got -1"),
    ({"merge": 2}, "'merge': must be a string, got 2"),
    ({"strategy": "fsdp"}, "'strategy': must be one of 'auto', 'ddp', 'ddp_spawn', 'ddp_fork', got \"fsdp\""),
    ({"bits": 63}, "'bits': must be an integer from 1 to 62, got 63"),  # a task's own option
    ({"model": "gru", "reset_after": "no"}, "'reset_after': must be true or false (JSON booleans), got \"no\""),
])
def test_config_values_get_the_checks_of_their_flags(tmp_path, capsys, values, message):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(values))
    assert exit_code(*ADDITION, "--config", cfg, "--out", tmp_path / "run") == 1
    assert one_error_line(capsys) == f"rnnzoo: error: --config {cfg}: {message}\n"
    assert not (tmp_path / "run").exists()


def test_config_values_are_converted_as_flags_are(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"model": "gru", "reset_after": False, "lr": 1e-05, "clip": 0, "data": None,
                               "lr_schedule": "cosine", "bidirectional": True, "val_size": 16}))
    argv = ["train", "addition", "--config", str(cfg), "--lr", "0.5"]
    args = build_parser().parse_args(argv)
    args.argv = argv
    args = apply_config_file(args)
    assert args.cell__reset_after is False and args.bidirectional is True and args.model == "gru"
    assert args.lr == 0.5 and args.clip == 0.0 and isinstance(args.clip, float) and args.data is None
    assert args.lr_schedule == "cosine" and args.val_size == 16
    assert {"cell__reset_after", "lr", "clip", "data", "val_size"} <= args.given


def test_a_bad_config_value_is_refused_even_where_a_flag_overrides_it(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"hidden": 0}))
    assert exit_code(*ADDITION, "--config", cfg, "--hidden", "4", "--out", tmp_path / "run") == 1
    assert "'hidden': must be an integer >= 1, got 0" in one_error_line(capsys)


# --- flags -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv,message", [
    (["addition", "--clip", "nan"], "argument --clip: must be a finite number >= 0, got nan"),
    (["addition", "--clip", "-1"], "argument --clip: must be a finite number >= 0, got -1"),
    (["addition", "--io-dropout", "1.0"], "argument --io-dropout: must be a finite number in [0, 1), got 1.0"),
    (["addition", "--dropout", "1"], "argument --dropout: must be a finite number in [0, 1)"),
    (["addition", "--recurrent-dropout", "-0.1"], "argument --recurrent-dropout: must be a finite number"),
    (["addition", "--lr", "0"], "argument --lr: must be a finite number > 0, got 0"),
    (["addition", "--strategy", "fsdp"], "argument --strategy: invalid choice: 'fsdp'"),
    (["addition", "--seed", "-1"], "argument --seed: must be an integer from 0 to 4294967295, got -1"),
    (["addition", "--bits", "63"], "argument --bits: must be an integer from 1 to 62, got 63"),
    (["addition", "--train-size", "0"], "argument --train-size: must be an integer >= 1, got 0"),
    (["addition", "--val-size", "0"], "argument --val-size: must be an integer >= 1, got 0"),
    (["charlm", "--max-chars", "-5"], "argument --max-chars: must be an integer >= 0, got -5"),
    (["charlm", "--embed", "0"], "argument --embed: must be an integer >= 1, got 0"),
    (["charlm", "--val-fraction", "0"], "argument --val-fraction: must be a finite number in (0, 1), got 0"),
    (["charlm", "--bptt", "0"], "argument --bptt: must be an integer >= 1, got 0"),
    (["sentiment", "--embed", "-1"], "argument --embed: must be an integer >= 1, got -1"),
    (["addition", "--weight-decay", "-0.1"], "argument --weight-decay: must be a finite number >= 0, got -0.1"),
    (["sentiment", "--limit", "-2"], "argument --limit: must be an integer >= 0, got -2"),
    (["sentiment", "--vocab-size", "2"], "argument --vocab-size: must be an integer >= 3, got 2"),
])
def test_numeric_flags_have_their_range_checked_where_parsed(tmp_path, capsys, argv, message):
    assert exit_code("train", *argv, "--out", tmp_path / "run") == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv,message", [
    (["--model", "second_order", "--rank", "abc"], "model 'second_order': rank must be an int, got str 'abc'"),
    (["--model", "lstm", "--hidden", "4", "--proj-size", "4"], "model 'lstm': proj_size must be smaller than"),
    (["--model", "lstm", "--forget-bias", "NaN"], "model 'lstm': forget_bias must be a finite float, got nan"),
])
def test_cell_options_are_checked_before_any_data_is_read(tmp_path, capsys, argv, message):
    assert exit_code(*ADDITION, *argv, "--out", tmp_path / "run") == 1
    assert message in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_json_nested_past_the_recursion_limit_is_one_line(tmp_path, capsys):
    # found by benchmarks/fuzz.py: json's RecursionError escaped argparse (a traceback) and --config (an
    # internal error)
    deep = "[" * 100_000
    assert exit_code(*ADDITION, "--model", "second_order", "--rank", deep, "--out", tmp_path / "run") == 2
    assert "argument --rank: JSON nested too deeply" in one_error_line(capsys)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(deep)
    assert exit_code(*ADDITION, "--config", cfg, "--out", tmp_path / "run") == 1
    assert f"--config {cfg} is not valid JSON: maximum recursion depth exceeded" in one_error_line(capsys)
    assert not (tmp_path / "run").exists()


def test_a_csv_too_small_for_a_validation_split_is_one_line(tmp_path, capsys):
    data = tmp_path / "five.csv"
    data.write_text("text,label\ngood film,1\nbad film,0\nfine,1\nawful,0\ngreat,1\n")
    assert exit_code("train", "sentiment", "--data", data, "--threads", "1", "--out", tmp_path / "run") == 1
    err = one_error_line(capsys)
    assert "5 training review(s) leave none for validation" in err and "at least 10" in err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv,message", [
    (["evaluate", "RUN", "--bits", "63"], "argument --bits: must be an integer from 1 to 62, got 63"),
    (["evaluate", "RUN", "--bits", "0"], "argument --bits: must be an integer from 1 to 62, got 0"),
    (["generate", "RUN", "--temperature", "nan"], "argument --temperature: must be a finite number >= 0.01"),
    (["generate", "RUN", "--temperature", "0"], "argument --temperature: must be a finite number >= 0.01"),
    (["generate", "RUN", "--temperature", "1e-30"], "argument --temperature: must be a finite number >= 0.01"),
    (["generate", "RUN", "--seed", "-1"], "argument --seed: must be an integer from 0 to"),
])
def test_options_of_the_commands_that_read_a_run_are_checked_where_parsed(capsys, argv, message):
    assert exit_code(*argv) == 2
    assert message in one_error_line(capsys)


# --- a hand-edited config.json -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def esn_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mg") / "run"
    assert main(["train", "mackey-glass", "--units", "40", "--train-steps", "300", "--washout", "100",
                 "--horizon", "10", "--threads", "1", "--out", str(out)]) == 0
    return out


def _edit(run, change):
    """config.json changed by hand; its checksum (if it has one) dropped with its format, as a config
    written before checksums has none, so that the edit itself is what is checked."""
    path = run / "config.json"
    original = path.read_text()
    config = json.loads(original)
    config.pop("format", None)
    config.pop("config_sha256", None)
    change(config)
    path.write_text(json.dumps(config))
    return original


@pytest.mark.parametrize("change,message", [
    (lambda c: c.pop("model"), "has no entry 'model' (a JSON object)"),
    (lambda c: c["data"].pop("horizon"), "has no entry 'data.horizon' (an integer)"),
    (lambda c: c["data"].update(horizon="10"), "entry 'data.horizon' must be an integer, got \"10\""),
    (lambda c: c.update(task=5), "entry 'task' must be a string, got 5"),
    (lambda c: c.update(files=[]), "entry 'files' must be a JSON object, got []"),
    (lambda c: c["model"].pop("leak_rate"), "its model entry has no 'leak_rate'"),
    (lambda c: c["model"].update(sparse="false"), "sparse must be a bool (True or False), got str 'false'"),
    (lambda c: c["model"].update(dtype="float16"), "dtype must be \"float32\" or \"float64\", got 'float16'"),
])
@pytest.mark.parametrize("command", [["evaluate"], ["predict", "5"], ["generate", "--length", "3"]])
def test_a_config_json_with_an_entry_missing_or_of_the_wrong_type_is_one_line(esn_run, capsys, change,
                                                                               message, command):
    original = _edit(esn_run, change)
    try:
        assert exit_code(command[0], esn_run, *command[1:]) == 1
        assert message in one_error_line(capsys)
    finally:
        (esn_run / "config.json").write_text(original)
    assert exit_code("evaluate", esn_run) == 0


def test_weight_decay_reaches_adam_and_the_run_records_it(tmp_path, monkeypatch):
    from rnnzoo.train.module import TaskModule
    seen = []
    configure = TaskModule.configure_optimizers

    def spy(self):
        out = configure(self)
        opt = out["optimizer"] if isinstance(out, dict) else out
        seen.append(opt.param_groups[0]["weight_decay"])
        return out

    monkeypatch.setattr(TaskModule, "configure_optimizers", spy)
    assert main([*ADDITION, "--weight-decay", "0.001", "--out", str(tmp_path / "run")]) == 0
    assert seen == [0.001]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["training"]["weight_decay"] == 0.001
