"""`rnnzoo.models` and the task API around them: a model is rebuilt from its JSON config, every pool mode
of a padded batch equals pooling each sequence alone, and `Task.step` works on the bare model (no
Lightning module), carry included, giving the logged figures."""

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



def _pooled_alone(model, x, length, pool):
    """The pooled vector of one sequence x (L, H_in), computed on its first `length` steps alone
    (no padding, no lengths), written out: last = the forward output at its last step (and, when
    bidirectional, the backward output at step 0, where the backward direction has read it all)."""
    y = model.rnn(x[None, :length])[0][0]  # (length, F)
    if pool == "mean":
        return y.mean(0)
    if pool == "max":
        return y.max(0).values
    if model.rnn.bidirectional:
        half = y.shape[-1] // 2
        return torch.cat([y[-1, :half], y[0, half:]])
    return y[-1]


# (pool, bidirectional, merge, num_layers); "last" with merge "sum" is refused (the test after this one)
POOL_CASES = [(pool, False, "concat", 1) for pool in ("last", "mean", "max")] \
    + [(pool, True, "concat", 2) for pool in ("last", "mean", "max")] \
    + [(pool, True, "sum", 1) for pool in ("mean", "max")]


@pytest.mark.parametrize("pool,bidirectional,merge,layers", POOL_CASES,
                         ids=[f"{p}-{'bi-' + m if b else 'forward'}" for p, b, m, _ in POOL_CASES])
def test_every_pool_mode_of_a_padded_batch_equals_pooling_each_sequence_alone(pool, bidirectional, merge, layers):
    torch.manual_seed(0)
    model = SequenceModel("lstm", 6, 2, input_size=3, num_layers=layers, bidirectional=bidirectional,
                          merge=merge, pool=pool).double().eval()
    lengths = torch.tensor([5, 2, 4, 1])
    x = torch.randn(4, 5, 3, dtype=torch.float64)
    for n, length in enumerate(lengths.tolist()):
        x[n, length:] = 50 + 10 * torch.rand(5 - length, 3, dtype=torch.float64)  # padding: garbage, never read
    with torch.no_grad():
        logits, _ = model(x, lengths=lengths)
        unpadded, _ = model(x)  # no lengths: every sequence has all 5 steps
        for n, length in enumerate(lengths.tolist()):
            torch.testing.assert_close(logits[n], model.head(_pooled_alone(model, x[n], length, pool)),
                                       rtol=0, atol=1e-12)
            torch.testing.assert_close(unpadded[n], model.head(_pooled_alone(model, x[n], 5, pool)),
                                       rtol=0, atol=1e-12)


@pytest.mark.parametrize("merge", ["sum", "mul", "ave"])
def test_pool_last_of_a_bidirectional_layer_merged_elementwise_is_refused(merge):
    # merged by sum, mul or ave the backward direction's output at step 0 cannot be taken apart from
    # the forward one's at the last step, so "last" would read a backward output that saw one step
    with pytest.raises(ValueError, match="pool='last'.*merge='concat'"):
        SequenceModel("lstm", 6, 2, input_size=3, bidirectional=True, merge=merge, pool="last")
    SequenceModel("lstm", 6, 2, input_size=3, bidirectional=True, merge=merge, pool="max")  # fine


@pytest.mark.parametrize("kwargs,error,match", [
    ({"io_dropout": 1.0}, ValueError, r"io_dropout must be a float in \[0, 1\), got 1.0"),  # trains on zeros
    ({"io_dropout": float("nan")}, ValueError, "io_dropout must be a finite float"),
    ({"pad": "False"}, TypeError, r"pad must be a bool \(True or False\)"),
    ({"bidirectional": "False"}, TypeError, r"bidirectional must be a bool \(True or False\)"),
    ({"cell_options": {"peephole": "False"}}, TypeError, r"peephole must be a bool \(True or False\)"),
    ({"vocab_size": 10, "embed_dim": 0}, ValueError, "embed_dim must be >= 1, got 0"),
    ({"output_size": 0}, ValueError, "output_size must be >= 1, got 0"),
])
def test_bad_model_arguments_name_the_argument(kwargs, error, match):
    with pytest.raises(error, match=match):
        SequenceModel(**{"cell": "lstm", "hidden_size": 4, "output_size": 1, "input_size": 2, **kwargs})
