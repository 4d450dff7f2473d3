"""`rnnzoo train mackey-glass`: an echo state network fitted in closed form (no Lightning), its run
directory, and evaluate / predict / generate from the saved files alone."""

import csv
import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch

from rnnzoo.cli import build_parser, main
from rnnzoo.reservoir import jaeger
from rnnzoo.train import fit as training

SMALL = ["--units", "300", "--train-steps", "1000", "--washout", "200", "--horizon", "30", "--threads", "1"]


pytestmark = pytest.mark.usefixtures("one_thread")


def cli(*args) -> int:
    try:
        return main([str(a) for a in args])
    except SystemExit as e:
        return e.code


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("mg") / "run"
    assert main(["train", "mackey-glass", *SMALL, "--seed", "2", "--out", str(out)]) == 0
    torch.set_num_threads(threads)
    return out


def test_the_run_directory_is_complete(run):
    config = json.loads((run / "config.json").read_text())
    assert sorted(p.name for p in run.iterdir()) == ["config.json", "metrics.csv", "model.safetensors", "plots"]
    data = (run / "model.safetensors").read_bytes()
    assert config["files"] == {"model.safetensors": hashlib.sha256(data).hexdigest()}
    assert config["task"] == "mackey-glass" and config["model"]["class"] == "ESN"
    assert config["model"]["reservoir_size"] == 300 and config["model"]["feedback"] is True
    assert config["data"]["train_steps"] == 1000 and config["data"]["horizon"] == 30 and config["data"]["seed"] == 2
    assert config["plots"] == ["free_run.png"]
    assert (run / "plots" / "free_run.png").read_bytes().startswith(b"\x89PNG")
    with open(run / "metrics.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    for key, value in config["metrics"].items():
        assert float(row[key]) == value
    best = config["best"]["horizon_nrmse"]
    assert best == config["metrics"]["horizon_nrmse"] and 0 < best < 0.1  # 300 units, 800 fitted steps


def test_evaluate_recomputes_the_figures_from_the_saved_files(run, capsys):
    config = json.loads((run / "config.json").read_text())
    assert training.evaluate(run) == config["metrics"]  # bit for bit: same weights, same teacher
    capsys.readouterr()
    assert cli("evaluate", run) == 0
    printed = dict(line.split(": ") for line in capsys.readouterr().out.strip().splitlines())
    assert float(printed["horizon_nrmse"]) == pytest.approx(config["best"]["horizon_nrmse"], rel=1e-5, abs=1e-6)


def test_predict_prints_the_free_run_against_the_truth(run, capsys):
    capsys.readouterr()
    assert cli("predict", run, 5) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["step", "prediction", "truth", "error"] and len(lines) == 7
    assert [int(line.split()[0]) for line in lines[1:6]] == [1000, 1001, 1002, 1003, 1004]
    assert lines[-1].startswith("error after 5 free-run steps")
    assert cli("predict", run) == 0  # default: the run's horizon
    assert len(capsys.readouterr().out.strip().splitlines()) == 30 + 2


def test_generate_works_in_a_fresh_process(run, capsys):
    env = dict(os.environ, PYTHONWARNINGS="ignore", OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, "-m", "rnnzoo", "generate", str(run), "--length", "12"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    values = [float(v) for v in done.stdout.split()]
    assert len(values) == 12
    task, model, config = training.load_run(run)
    y, truth = task.free_run(model, config, 12)
    assert values == pytest.approx(y.tolist(), abs=1e-8)
    assert abs(values[0] - float(truth[0])) < 0.05  # the first closed-loop step is close to the truth
    assert cli("generate", run, "--prompt", "Alice") == 1
    assert "--prompt applies to charlm" in capsys.readouterr().err


def test_a_tampered_model_file_is_refused(run, tmp_path, capsys):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(run, copy)
    data = bytearray((copy / "model.safetensors").read_bytes())
    data[-1] ^= 1
    (copy / "model.safetensors").write_bytes(bytes(data))
    for command in (["evaluate", copy], ["generate", copy, "--length", "3"], ["predict", copy]):
        capsys.readouterr()
        assert cli(*command) == 1
        err = capsys.readouterr().err
        assert err.startswith("rnnzoo: error: ") and "does not match the SHA-256" in err and err.count("\n") == 1


def test_defaults_are_the_jaeger_haas_protocol():
    args = build_parser().parse_args(["train", "mackey-glass"])
    assert args.model == "esn" and args.seed == 0
    assert (args.units, args.spectral_radius, args.leak, args.density, args.bias_scaling, args.feedback_scaling,
            args.state_noise, args.ridge) == tuple(jaeger.DEFAULTS[k] for k in (
                "units", "spectral_radius", "leak", "density", "bias", "feedback", "noise", "ridge"))
    assert (args.train_steps, args.washout, args.horizon) == (jaeger.TRAIN, jaeger.WASHOUT, jaeger.HORIZON) \
        == (3000, 1000, 84)
    assert not hasattr(args, "hidden") and not hasattr(args, "epochs")  # no backpropagation options


def test_the_task_matches_the_shared_protocol_function(run):
    """The CLI run and rnnzoo.reservoir.jaeger (which benchmarks/esn.py uses) give the same figure."""
    config = json.loads((run / "config.json").read_text())
    esn = jaeger.make_esn(2, units=300).fit(targets=jaeger.teacher(1000, 2), washout=200)
    _, m = jaeger.free_run(esn, jaeger.teacher(1030, 2), 1000, 30)
    assert m["nrmse"] == config["best"]["horizon_nrmse"]


@pytest.mark.parametrize("args, message", [
    (["--hidden", "8"], "--hidden: not an option of task 'mackey-glass'"),
    (["--epochs", "2", "--peephole"], "--peephole, --epochs: not options of task 'mackey-glass'"),
    (["--resume"], "--resume: not an option"),
    (["--model", "lstm"], "--model: task 'mackey-glass' fits esn"),
    (["--washout", "1000"], "--washout (1000) must be smaller than --train-steps (1000)"),
    (["--leak", "0"], "--leak must be in (0, 1]"),
    (["--spectral-radius", "-1"], "--spectral-radius must be > 0"),
    (["--ridge", "-1"], "--ridge must be >= 0"),
    (["--data", "x.txt"], "generates its data"),
    (["--units", "0"], "--units: must be an integer from 1"),
])
def test_bad_options_give_one_line_errors_and_leave_no_run(tmp_path, capsys, args, message):
    out = tmp_path / "run"
    assert cli("train", "mackey-glass", *SMALL, *args, "--out", out) != 0
    err = capsys.readouterr().err
    assert err.startswith("rnnzoo: error: ") and err.count("\n") == 1 and message in err, err
    assert not out.exists()


def test_a_config_file_may_not_smuggle_in_backprop_options(tmp_path, capsys):
    config = tmp_path / "options.json"
    config.write_text(json.dumps({"units": 40, "lr": 0.1}))
    assert cli("train", "mackey-glass", "--config", config, "--out", tmp_path / "run") == 1
    assert "--lr: not an option of task 'mackey-glass'" in capsys.readouterr().err


def test_a_generic_task_still_refuses_esn_as_a_cell(tmp_path, capsys):
    assert cli("train", "addition", "--model", "esn", "--out", tmp_path / "run") == 1
    assert "--model" in capsys.readouterr().err
