"""The `rnnzoo` command line: models, example addition, help, one-line errors, the entry point."""

import re
import subprocess
import sys
import types

import pytest

from rnnzoo import cli, registry


def test_models_lists_every_registered_architecture(capsys):
    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    for entry in registry.entries():
        assert re.search(rf"^{re.escape(entry.name)}  ", out, re.M), entry.name
        for text in (entry.description, entry.paper, entry.equation):
            assert text in out
        for option, default in entry.options().items():
            assert f"{option}={default!r}" in out


def test_models_names_and_one_model(capsys):
    assert cli.main(["models", "--names"]) == 0
    assert capsys.readouterr().out.split() == [e.name for e in registry.entries()]
    first = registry.entries()[0]
    assert cli.main(["models", first.name]) == 0
    out = capsys.readouterr().out
    assert first.equation in out and all(f"\n{e.name}  " not in out for e in registry.entries()[1:])


def test_example_addition_reaches_100_percent(capsys):
    assert cli.main(["example", "addition", "--bits", "8", "--hidden", "16", "--seed", "0"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^held-out 8-bit pairs \(1,000, never trained on\): +100\.0% exact$", out, re.M)
    assert re.search(r"^random 32-bit pairs \(1,000, trained on 8 bits\): +100\.0% exact$", out, re.M)
    assert re.search(r"^  step +\d+  loss [\d.]+  held-out exact sums 100\.0%$", out, re.M)
    worked = re.findall(r"^ +(\d+) \+ +(\d+) = +(\d+)  \(bits ([01]{8}) \+ ([01]{8}) = ([01]{9})\)$", out, re.M)
    assert len(worked) == 3
    for a, b, s, a_bits, b_bits, s_bits in worked:
        assert int(a) + int(b) == int(s)
        assert (int(a_bits, 2), int(b_bits, 2), int(s_bits, 2)) == (int(a), int(b), int(s))
    wide = re.search(r"^  (\d+) \+ (\d+) = (\d+)  \(32-bit\)$", out, re.M)
    assert wide and int(wide[1]) + int(wide[2]) == int(wide[3])


@pytest.mark.parametrize("argv,mentions", [
    (["example", "addition", "--bits", "0"], "--bits"),
    (["example", "addition", "--hidden", "many"], "--hidden"),
    (["example", "addition", "--test-bits", "-3"], "--test-bits"),
    (["example", "addition", "--seed", "-1"], "--seed"),
    (["example", "subtraction"], "subtraction"),
    (["models", "--colour"], "--colour"),
    (["no-such-command"], "no-such-command"),
])
def test_bad_arguments_exit_nonzero_with_one_line(capsys, argv, mentions):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code not in (0, None)
    err = capsys.readouterr().err
    assert err.startswith("rnnzoo: error:") and err.count("\n") == 1 and mentions in err


def test_command_errors_are_one_line(capsys):
    assert cli.main(["models", "no_such_cell"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnzoo: error: unknown architecture 'no_such_cell'") and err.count("\n") == 1


@pytest.mark.parametrize("argv", [[], ["models"], ["example"], ["example", "addition"]]
                         + [[m.NAME] for m in cli.command_modules()])
def test_every_command_has_help(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv + ["--help"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.startswith("usage: rnnzoo")


def test_bare_command_groups_print_help(capsys):
    assert cli.main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: rnnzoo") and all(m.NAME in out for m in cli.command_modules())
    assert cli.main(["example"]) == 0
    assert "addition" in capsys.readouterr().out


def test_a_command_module_plugs_in(monkeypatch, capsys):
    fake = types.ModuleType("rnnzoo.commands.fake", "Say hello.")
    fake.NAME, fake.HELP = "hello", "say hello"
    fake.configure = lambda parser: parser.add_argument("--to", type=cli.int_range(1, 3), default=1)
    fake.run = lambda args: print("hello " * args.to)
    monkeypatch.setattr(cli, "command_modules", lambda: [fake])
    assert cli.main(["hello", "--to", "2"]) == 0
    assert capsys.readouterr().out == "hello hello \n"
    with pytest.raises(SystemExit):
        cli.main(["hello", "--to", "4"])
    assert capsys.readouterr().err == ("rnnzoo: error: argument --to: must be an integer from 1 to 3, "
                                       "got 4 (see 'rnnzoo hello --help')\n")


def test_python_dash_m_entry_point():
    # one subprocess (importing torch is most of its time); errors through main are tested above
    done = subprocess.run([sys.executable, "-m", "rnnzoo", "models", "--names"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [e.name for e in registry.entries()]


def _failing_command(monkeypatch, error):
    fake = types.ModuleType("rnnzoo.commands.fail", "Fail.")
    fake.NAME, fake.HELP = "fail", "fail"
    fake.configure = lambda parser: None

    def run(args):
        raise error
    fake.run = run
    monkeypatch.setattr(cli, "command_modules", lambda: [fake])


def test_a_bug_is_one_line_saying_so_and_debug_shows_its_traceback(monkeypatch, capsys):
    _failing_command(monkeypatch, KeyError("cell"))
    assert cli.main(["fail"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("rnnzoo: internal error (a bug in rnnzoo): KeyError: 'cell'; run it again with --debug")
    assert "(rnnzoo --debug fail)" in err
    with pytest.raises(KeyError):  # --debug: the exception itself, and so its traceback
        cli.main(["--debug", "fail"])


def test_debug_shows_the_traceback_of_a_users_error_too(monkeypatch, capsys):
    _failing_command(monkeypatch, ValueError("x must be positive"))
    assert cli.main(["fail"]) == 1
    assert capsys.readouterr().err == "rnnzoo: error: x must be positive\n"
    assert cli.main(["--debug", "fail"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback") and err.endswith("rnnzoo: error: x must be positive\n")


def test_train_without_a_task_names_the_tasks(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("rnnzoo: error: train needs a task") and err.count("\n") == 1
    assert "addition" in err and "mackey-glass" in err and not any(tmp_path.iterdir())
