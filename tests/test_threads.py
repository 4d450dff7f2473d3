"""The thread policy (rnnzoo/threads.py) and its training callback (rnnzoo/train/thread_probe.py): a tiny
model gets one thread and a large one more, bounded by the cores and shared among DDP processes; an
explicit --threads N is obeyed; the probe keeps the faster of its timings and follows a change; the
rnnzoo command sets libgomp's spin count before torch starts, and a library user's process is left
alone; the choice is recorded in config.json. No test here times anything: the probe gets a fake clock."""

import argparse
import json
import os
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch

from rnnzoo import threads
from rnnzoo.cli import main
from rnnzoo.train.tasks import get_task
from rnnzoo.train.thread_probe import ThreadProbe

pytestmark = pytest.mark.usefixtures("one_thread")


# --- the decision ----------------------------------------------------------------------------------

def test_a_tiny_model_gets_one_thread_and_a_large_one_every_core():
    assert threads.choose("auto", work=30_000, cores=2).threads == 1  # addition's 16-unit GRU, batch 32
    assert threads.choose("auto", work=28_000_000, cores=2).threads == 2  # charlm's 2x256 LSTM, batch 32
    assert threads.choose("auto", work=28_000_000, cores=16).threads == 16


def test_auto_threads_grow_with_the_work_per_step_up_to_the_cores():
    per = threads.WORK_PER_THREAD
    assert [threads.choose("auto", k * per, cores=4).threads for k in (0, 1, 2, 3, 4, 9)] == [1, 1, 2, 3, 4, 4]


def test_only_a_choice_of_several_threads_is_timed_in_training():
    assert threads.choose("auto", 28_000_000, 2).probe
    assert not threads.choose("auto", 30_000, 2).probe
    assert not threads.choose(2, 28_000_000, 2).probe  # an explicit number is never second-guessed


def test_ddp_processes_share_the_cores_and_are_not_timed():
    two = threads.choose("auto", 28_000_000, cores=2, processes=2)
    assert two.threads == 1 and "2 shared by 2 processes" in two.reason
    four = threads.choose("auto", 28_000_000, cores=8, processes=2)
    assert four.threads == 4 and not four.probe


def test_an_explicit_number_is_used_as_given_and_zero_leaves_torch_alone():
    assert threads.choose(3, work=10, cores=2).threads == 3
    assert threads.choose("5", work=10**9, cores=2).threads == 5
    zero = threads.choose(0, work=10**9, cores=2)
    assert zero.threads == 0 and "torch's default" in zero.reason


def test_without_a_work_estimate_auto_takes_the_process_share():
    assert threads.choose("auto", None, cores=4).threads == 4
    assert threads.choose("auto", None, cores=4, processes=4).threads == 1


@pytest.mark.parametrize("text", ["-1", "two", "2.5", "", None, True, 2.0])
def test_a_bad_setting_is_refused_naming_what_is_expected(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected 'auto' or a whole number >= 0"):
        threads.setting(text)


@pytest.mark.parametrize("text, value", [("auto", "auto"), (" AUTO ", "auto"), ("0", 0), ("4", 4), (2, 2)])
def test_a_setting_is_auto_or_a_whole_number(text, value):
    assert threads.setting(text) == value


def test_pick_keeps_the_fewest_threads_within_the_margin_of_the_fastest():
    assert threads.pick({1: [0.20, 0.21, 0.22], 2: [0.12, 0.13, 0.50]}) == 2  # medians, not means
    assert threads.pick({1: [0.100], 2: [0.098]}) == 1  # 2% faster does not earn a second core
    assert threads.pick({1: [0.100], 2: [0.090]}) == 2
    with pytest.raises(ValueError, match="no step times"):
        threads.pick({1: [], 2: []})


def test_step_work_is_batch_times_weights_without_embedding_tables():
    model = torch.nn.Sequential(torch.nn.Embedding(1000, 8), torch.nn.Linear(8, 4))
    model.register_buffer("reservoir", torch.zeros(10))
    model.register_buffer("counts", torch.zeros(7, dtype=torch.long))  # not weights
    assert threads.step_work(model, 32) == 32 * (8 * 4 + 4 + 10)


def test_applied_sets_the_threads_for_the_block_and_restores_them():
    with threads.applied(threads.choose(3, 1, 2)):
        assert torch.get_num_threads() == 3
    assert torch.get_num_threads() == 1
    with threads.applied(threads.choose(0, 1, 2)):
        assert torch.get_num_threads() == 1


# --- OpenMP's spin count --------------------------------------------------------------------------

@pytest.mark.parametrize("argv, command", [
    (["python", "/venv/bin/rnnzoo", "train", "addition"], True),
    (["python", "-m", "rnnzoo", "generate"], True),
    (["python", "-X", "dev", "/venv/bin/rnnzoo"], True),
    (["python", "-c", "import rnnzoo"], False),
    (["python", "train.py", "rnnzoo"], False),
    (["python", "-m", "pytest"], False),
    (["python"], False),
])
def test_the_rnnzoo_command_is_told_apart_from_other_programs(argv, command):
    assert threads.is_rnnzoo_command(argv) is command


@pytest.fixture
def openmp_state(monkeypatch):
    monkeypatch.setattr(threads, "_openmp", {"GOMP_SPINCOUNT": None, "set_by": "not the rnnzoo command"})


CLI = ["python", "/venv/bin/rnnzoo", "train"]


def test_the_command_sets_the_spin_count_before_torch_loads(openmp_state):
    env = {}
    assert threads.configure_openmp(CLI, env, modules={})["set_by"] == "rnnzoo"
    assert env == {"GOMP_SPINCOUNT": threads.SPIN_COUNT}


@pytest.mark.parametrize("given", [{"GOMP_SPINCOUNT": "infinite"}, {"OMP_WAIT_POLICY": "ACTIVE"}])
def test_a_users_openmp_setting_is_kept(openmp_state, given):
    env = dict(given)
    assert threads.configure_openmp(CLI, env, modules={})["set_by"].startswith("the user")
    assert env == given


def test_nothing_is_set_in_another_program_or_after_torch_loaded(openmp_state):
    env = {}
    threads.configure_openmp(["python", "script.py"], env, modules={})
    threads.configure_openmp(CLI, env, modules={"torch": torch})
    assert env == {} and "torch was imported before rnnzoo" in threads.openmp_setting()["set_by"]


def test_importing_rnnzoo_in_a_program_leaves_its_environment_alone():
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    out = subprocess.run([sys.executable, "-c", "import rnnzoo, os; print(os.environ.get('GOMP_SPINCOUNT'))"],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "None"


def test_the_rnnzoo_command_records_its_spin_count_and_threads_in_config_json(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    subprocess.run([sys.executable, "-m", "rnnzoo", "train", "addition", "--epochs", "1", "--train-size", "64",
                    "--val-size", "16", "--out", str(tmp_path / "run")], env=env, capture_output=True, check=True)
    record = json.loads((tmp_path / "run" / "config.json").read_text())["threads"]
    assert record["openmp"] == {"GOMP_SPINCOUNT": threads.SPIN_COUNT, "set_by": "rnnzoo"}
    assert record["setting"] == "auto" and record["threads"] == 1 and record["loader_workers"] == 0


# --- the probe in training --------------------------------------------------------------------------

class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def run_steps(probe, clock, n, seconds_per_step, trainer):
    """n training steps through the probe's hooks, each taking seconds_per_step[threads] on the fake clock."""
    seen = []
    for _ in range(n):
        probe.on_train_batch_start(trainer, None, None, 0)
        threads_now = torch.get_num_threads()
        seen.append(threads_now)
        clock.now += seconds_per_step[threads_now]
        trainer.global_step += 1  # Lightning counts the optimizer step before on_train_batch_end
        probe.on_train_batch_end(trainer, None, None, None, 0)
    return seen


def test_the_probe_keeps_the_faster_setting_and_follows_a_change(capsys):
    clock, choice = FakeClock(), threads.choose("auto", 28_000_000, cores=2)
    probe = ThreadProbe(choice, warmup=2, window=3, rounds=2, recheck=10.0, clock=clock)
    trainer = SimpleNamespace(global_step=0, is_global_zero=True, progress_bar_callback=None)
    probe.setup(trainer, None, "fit")
    seen = run_steps(probe, clock, 2 + 12, {1: 0.2, 2: 0.1}, trainer)  # idle: two threads win
    assert seen[:2] == [2, 2] and seen[2:] == [2] * 3 + [1] * 3 + [1] * 3 + [2] * 3  # interleaved windows
    assert probe.current == 2 and choice.probes[-1]["kept"] == 2
    assert choice.probes[-1]["ms_per_step"] == {"1": 200.0, "2": 100.0}
    assert "threads: 2 (timed at step 14" in capsys.readouterr().out
    # the machine gets busy: the next timing, RECHECK seconds on, finds one thread faster and keeps it
    seen = run_steps(probe, clock, 100, {1: 0.2, 2: 0.6}, trainer)
    assert probe.current == 1 and seen[-1] == 1 and len(choice.probes) >= 2
    assert [p["kept"] for p in choice.probes[1:]] == [1] * (len(choice.probes) - 1)
    assert "threads: 1 (timed at step" in capsys.readouterr().out
    probe.teardown(trainer, None, "fit")
    assert torch.get_num_threads() == 1  # the caller's threads (the one_thread fixture's) are back


def test_the_probe_leaves_a_choice_it_should_not_time_alone():
    clock, choice = FakeClock(), threads.choose(2, 28_000_000, cores=2)
    probe = ThreadProbe(choice, warmup=0, clock=clock)
    trainer = SimpleNamespace(global_step=0, is_global_zero=True, progress_bar_callback=None)
    probe.setup(trainer, None, "fit")
    assert set(run_steps(probe, clock, 30, {1: 0.1, 2: 0.5}, trainer)) == {2} and choice.probes == []
    probe.teardown(trainer, None, "fit")


def test_a_training_step_gives_the_same_bits_at_one_and_two_threads():
    """Why the probe may switch mid-run: the README's 2x256 character LSTM's loss and gradients do not
    depend on the thread count (oneDNN and MKL split products by rows, not by the summed dimension)."""
    task = get_task("charlm")
    torch.manual_seed(0)
    model = task.build_model(dict(cell="lstm", hidden_size=256, num_layers=2, bidirectional=False, merge="concat",
                                  dropout=0.0, recurrent_dropout=0.0, io_dropout=0.0, cell_options={},
                                  vocab_size=70, embed_dim=64, output_size=70, pool="none"))
    x, y = torch.randint(0, 70, (32, 50)), torch.randint(0, 70, (32, 50))

    def step(n):
        torch.set_num_threads(n)
        model.zero_grad()
        loss, _, _ = task.step(model, (x, y))
        loss.backward()
        return [loss.detach()] + [p.grad.clone() for p in model.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(step(1), step(2)))


# --- in a run -------------------------------------------------------------------------------------

ADDITION = ["train", "addition", "--epochs", "1", "--train-size", "64", "--val-size", "16"]


def config_of(run):
    return json.loads((run / "config.json").read_text())


def test_train_records_the_choice_and_obeys_an_explicit_number(tmp_path, monkeypatch, capsys):
    task, seen = get_task("addition"), []
    step = task.step

    def watched(*a, **k):
        seen.append(torch.get_num_threads())
        return step(*a, **k)
    monkeypatch.setattr(task, "step", watched)
    assert main([*ADDITION, "--threads", "3", "--out", str(tmp_path / "three")]) == 0
    assert set(seen) == {3} and torch.get_num_threads() == 1
    record = config_of(tmp_path / "three")["threads"]
    assert (record["setting"], record["threads"], record["reason"]) == (3, 3, "--threads 3")
    assert "threads: 3 (--threads 3)" in capsys.readouterr().out
    seen.clear()
    torch.set_num_threads(2)
    assert main([*ADDITION, "--out", str(tmp_path / "auto")]) == 0  # auto, the default: tiny, one thread
    assert set(seen) == {1} and torch.get_num_threads() == 2
    record = config_of(tmp_path / "auto")["threads"]
    assert record["setting"] == "auto" and record["threads"] == 1 and record["work"] < threads.WORK_PER_THREAD
    assert config_of(tmp_path / "auto")["training"]["threads"] == "auto"


def test_a_large_model_gets_more_threads_and_is_timed_in_training(tmp_path, monkeypatch):
    monkeypatch.setattr(threads, "cores", lambda: 4)
    # 20 steps: the warm-up and one timing
    assert main([*ADDITION, "--hidden", "256", "--train-size", "640", "--out", str(tmp_path / "run")]) == 0
    record = config_of(tmp_path / "run")["threads"]
    assert record["threads"] >= 2 and record["probe"] and record["cores"] == 4
    assert record["probes"] and record["probes"][0]["kept"] in (1, record["threads"])


def test_closed_form_fits_record_their_threads(tmp_path):
    assert main(["train", "mackey-glass", "--units", "50", "--train-steps", "300", "--washout", "50",
                 "--horizon", "10", "--threads", "1", "--out", str(tmp_path / "esn")]) == 0
    assert config_of(tmp_path / "esn")["threads"]["threads"] == 1


def test_the_probe_compares_time_per_batch_element_so_bucketed_batches_do_not_mislead(capsys):
    """Sentiment's batches are bucketed by length: a window of short batches must not make its thread
    count look fast. Here two threads take 0.6 of one thread's time per element, but every batch timed at two
    threads is four times as long as those timed at one."""
    clock, choice = FakeClock(), threads.choose("auto", 28_000_000, cores=2)
    probe = ThreadProbe(choice, warmup=0, window=3, rounds=2, clock=clock)
    trainer = SimpleNamespace(global_step=0, is_global_zero=True, progress_bar_callback=None)
    probe.setup(trainer, None, "fit")
    for _ in range(12):
        n = probe.schedule()[0][0] if not probe._plan else probe._plan[0][0]
        batch = (torch.zeros(8, 400 if n == 2 else 100), torch.zeros(8))
        probe.on_train_batch_start(trainer, None, batch, 0)
        clock.now += batch[0].numel() * (0.6e-4 if torch.get_num_threads() == 2 else 1e-4)
        trainer.global_step += 1
        probe.on_train_batch_end(trainer, None, None, batch, 0)
    assert choice.probes[0]["kept"] == 2  # raw step times (0.19 s at two threads, 0.08 s at one) say one
    probe.teardown(trainer, None, "fit")


@pytest.mark.parametrize("batch, size", [
    (torch.zeros(4, 5), 20), ((torch.zeros(3, 7), torch.zeros(3)), 21), ({"x": [torch.zeros(2, 2)]}, 4),
    ((None, 3, torch.zeros(6)), 6), ("text", 1),
])
def test_batch_size_is_the_first_tensors_elements(batch, size):
    from rnnzoo.train.thread_probe import batch_size
    assert batch_size(batch) == size


def test_the_next_timing_waits_twenty_times_as_long_as_the_last_one_took():
    """A model whose steps take seconds must not spend a tenth of its time timing: re-timing waits for
    max(recheck, COST_RATIO x the last timing's length)."""
    from rnnzoo.train.thread_probe import COST_RATIO
    clock, choice = FakeClock(), threads.choose("auto", 28_000_000, cores=2)
    probe = ThreadProbe(choice, warmup=0, window=3, rounds=2, recheck=10.0, clock=clock)
    trainer = SimpleNamespace(global_step=0, is_global_zero=True, progress_bar_callback=None)
    probe.setup(trainer, None, "fit")
    run_steps(probe, clock, 12, {1: 2.0, 2: 1.0}, trainer)  # one timing: 18 s
    assert len(choice.probes) == 1
    run_steps(probe, clock, int(COST_RATIO * 18 / 1.0) - 1, {1: 2.0, 2: 1.0}, trainer)  # 359 s: not yet
    assert len(choice.probes) == 1
    run_steps(probe, clock, 1 + 12, {1: 2.0, 2: 1.0}, trainer)
    assert len(choice.probes) == 2
    probe.teardown(trainer, None, "fit")
