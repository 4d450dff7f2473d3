"""`rnnzoo.models` and the task API around them: a model is rebuilt from its JSON config, and
`Task.step` works on the bare model (no Lightning module), carry included, giving the logged figures."""

import csv
import json

import pytest
import torch

from rnnzoo.cli import main
from rnnzoo.models import SequenceModel
from rnnzoo.train import fit as training
from rnnzoo.train.tasks import TASKS, ClosedFormTask

pytestmark = pytest.mark.usefixtures("one_thread")


def test_a_model_is_rebuilt_from_its_json_config():
    torch.manual_seed(0)
    model = SequenceModel("gru", 6, 3, vocab_size=11, embed_dim=4, num_layers=2, pool="max", pad=True,
                          cell_options={"reset_after": False}).eval()
    config = json.loads(json.dumps(model.config()))  # what config.json holds
    again = TASKS["sentiment"].build_model(config).eval()
    assert again.config() == model.config()
    again.load_state_dict(model.state_dict())
    x, lengths = torch.tensor([[3, 4, 5, 0], [6, 7, 8, 9]]), torch.tensor([3, 4])
    torch.testing.assert_close(again(x, lengths=lengths)[0], model(x, lengths=lengths)[0], rtol=0, atol=0)


def test_step_on_the_bare_model_gives_the_logged_validation_figures(tmp_path):
    run = tmp_path / "run"
    assert main(["train", "addition", "--train-size", "128", "--val-size", "100", "--hidden", "8",
                 "--epochs", "1", "--threads", "1", "--out", str(run)]) == 0
    task, model, config = training.load_run(run)
    assert type(model) is SequenceModel  # the bare model, no Lightning module around it
    sums, carry = {}, None
    with torch.no_grad():
        for batch in task.evaluation_loader(config, None):
            loss, batch_sums, carry = task.step(model, batch, carry)
            assert carry is None and loss.ndim == 0  # addition is not stateful
            for key, value in batch_sums.items():
                sums[key] = sums.get(key, 0.0) + value
    assert sums["count"] == 100
    metrics = task.metrics_from_sums(sums)
    assert metrics["accuracy"] == pytest.approx(config["best"]["val_accuracy"], abs=1e-9)
    with open(run / "metrics.csv", newline="") as f:
        (logged,) = [row for row in csv.DictReader(f) if row["val_loss"]]  # one epoch, one validation
    assert metrics["loss"] == pytest.approx(float(logged["val_loss"]), rel=1e-6)  # logged as float32
    assert training.validation_sums(task, model, task.evaluation_loader(config, None)) == sums


def test_a_stateful_step_hands_its_state_on_through_the_carry():
    task = TASKS["charlm"]
    torch.manual_seed(0)
    model = task.build_model(dict(cell="lstm", hidden_size=5, output_size=7, vocab_size=7, embed_dim=3,
                                  pool="none")).eval()
    ids = torch.randint(0, 7, (2, 13))
    x, y = ids[:, :-1], ids[:, 1:]
    with torch.no_grad():
        _, whole, _ = task.step(model, (x, y), None)
        _, first, carry = task.step(model, (x[:, :5], y[:, :5]), None)
        _, second, _ = task.step(model, (x[:, 5:], y[:, 5:]), carry)
        _, cold, _ = task.step(model, (x[:, 5:], y[:, 5:]), None)
    assert all(not s.requires_grad for s in carry)  # detached: the next update stops there
    assert first["count"] + second["count"] == whole["count"]
    assert first["loss_sum"] + second["loss_sum"] == pytest.approx(whole["loss_sum"], rel=1e-5)
    assert cold["loss_sum"] != pytest.approx(second["loss_sum"], rel=1e-5)  # the carry mattered


def test_closed_form_tasks_are_a_class_not_a_flag():
    assert [name for name, task in TASKS.items() if isinstance(task, ClosedFormTask)] == ["mackey-glass"]
    for task in TASKS.values():
        assert not hasattr(task, "closed_form")

