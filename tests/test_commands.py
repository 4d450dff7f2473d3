"""`rnnzoo generate`, `evaluate` and `predict` (rnnzoo/commands/) on tiny runs trained here: generate
prints its text as it samples it and warns on huge lengths, the three take --threads as train does, and
evaluate --data is read where the task reads data and refused where the task makes its own."""

import csv
import json
import shutil

import pytest
import torch

from rnnzoo.cli import main
from rnnzoo.commands import generate
from rnnzoo.data.text import CharVocab, load_text
from rnnzoo.train import fit as training

pytestmark = pytest.mark.usefixtures("one_thread")

FAST = ["--threads", "1", "--epochs", "1"]


def train(out, *args):
    threads = torch.get_num_threads()
    assert main(["train", *args, *FAST, "--out", str(out)]) == 0
    assert torch.get_num_threads() == threads  # train restores the caller's threads
    return out


@pytest.fixture(scope="module")
def charlm(tmp_path_factory):
    return train(tmp_path_factory.mktemp("charlm") / "run", "charlm", "--max-chars", "6000", "--bptt", "16",
                 "--batch-size", "8", "--hidden", "16", "--layers", "1", "--embed", "8")


@pytest.fixture(scope="module")
def addition(tmp_path_factory):
    return train(tmp_path_factory.mktemp("addition") / "run", "addition", "--train-size", "256", "--val-size",
                 "100", "--hidden", "8", "--batch-size", "32")


def reviews_csv(path, flip=False):
    """200 short reviews, positive ones praising and negative ones panning (labels swapped with flip)."""
    praise, pan = ["good", "great", "fine", "lovely", "moving"], ["bad", "awful", "dull", "boring", "weak"]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["text", "label"])
        for i in range(200):
            positive = i % 2 == 0
            words = praise if positive else pan
            w.writerow([f"a {words[i % 5]} and {words[(i // 2) % 5]} film", int(positive != flip)])
    return path


@pytest.fixture(scope="module")
def sentiment(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sentiment")
    return train(folder / "run", "sentiment", "--data", str(reviews_csv(folder / "reviews.csv")), "--hidden", "8",
                 "--embed", "8", "--vocab-size", "50")


def output(capsys, *argv):
    """(exit status, stdout, stderr) of the CLI; argparse's exit 2 as a status too."""
    capsys.readouterr()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def figures(text):
    return {k: float(v) for k, v in (line.split(": ") for line in text.strip().splitlines())}


# --- generate ---------------------------------------------------------------------------------------

def sample_as_before(run, prompt, length, temperature, top_k, seed):
    """The sampling loop `generate` had before it streamed (whole text at the end), written out."""
    _, model, config = training.load_run(run)
    vocab = CharVocab.from_dict(config["data"]["vocab"])
    g = torch.Generator().manual_seed(seed)
    out, state, x = [], None, vocab.encode(prompt)[None]
    with torch.no_grad():
        for _ in range(length):
            logits, state = model(x, state=state)
            logits = logits[0, -1] / temperature
            cut = logits.topk(top_k).values[-1]
            logits = logits.masked_fill(logits < cut, float("-inf"))
            out.append(int(torch.multinomial(logits.softmax(-1), 1, generator=g)))
            x = torch.tensor([[out[-1]]])
    return prompt + vocab.decode(out)


def test_generate_prints_exactly_the_text_it_printed_before_it_streamed(charlm, capsys):
    code, out, err = output(capsys, "generate", charlm, "--prompt", "Alice", "--length", "60", "--seed", "3",
                            "--temperature", "0.7", "--top-k", "6")
    assert code == 0 and err == ""
    assert out == sample_as_before(charlm, "Alice", 60, 0.7, 6, 3) + "\n"


def interrupted_after(monkeypatch, steps):
    """Make the loaded model raise KeyboardInterrupt (Ctrl-C) at its call number steps + 1."""
    load_run = training.load_run

    def load(run_dir):
        task, model, config = load_run(run_dir)
        calls = []

        def forward(x, state=None):
            calls.append(1)
            if len(calls) > steps:
                raise KeyboardInterrupt
            return type(model).forward(model, x, state=state)
        model.forward = forward
        return task, model, config
    monkeypatch.setattr(training, "load_run", load)


def test_generate_shows_each_character_as_it_is_sampled_and_ctrl_c_keeps_them(charlm, capsys, monkeypatch):
    """Interrupted after 7 model steps, the prompt and the 7 characters sampled are on stdout already: a
    command that printed at the end would show nothing of a long generation, and lose it on Ctrl-C."""
    interrupted_after(monkeypatch, 7)
    code, out, err = output(capsys, "generate", charlm, "--prompt", "Alice", "--length", "50", "--seed", "3")
    assert code == 130 and err.strip() == "rnnzoo: interrupted"
    assert out.endswith("\n") and len(out) == len("Alice") + 7 + 1 and out.startswith("Alice")
    monkeypatch.undo()
    _, whole, _ = output(capsys, "generate", charlm, "--prompt", "Alice", "--length", "50", "--seed", "3")
    assert whole.startswith(out[:-1])  # the same characters the full run samples first


def test_generate_warns_in_one_line_above_100000_characters_and_still_generates(charlm, capsys, monkeypatch):
    assert generate.LONG_LENGTH == 100_000  # the threshold the docstring and --help give
    interrupted_after(monkeypatch, 3)  # a real 100,001 characters would take minutes
    code, out, err = output(capsys, "generate", charlm, "--prompt", "A", "--length", "100001")
    warning, interrupted = err.strip().splitlines()
    assert code == 130 and warning.startswith("rnnzoo: warning: --length 100001 is over 100,000")
    assert interrupted == "rnnzoo: interrupted" and len(out) == 1 + 3 + 1
    code, _, err = output(capsys, "generate", charlm, "--prompt", "A", "--length", "100000")
    assert code == 130 and "warning" not in err


# --- --threads ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("command, run, args", [
    ("generate", "charlm", ["--length", "5", "--seed", "0"]),
    ("evaluate", "addition", []),
    ("predict", "addition", ["3", "4"]),
])
def test_threads_sets_torch_threads_for_the_command_and_restores_them(command, run, args, request, capsys,
                                                                     monkeypatch):
    from rnnzoo.train.tasks import get_task
    seen = []  # torch's threads where the command does its work
    owner, name = {"generate": (get_task("charlm"), "stream"), "predict": (get_task("addition"), "predict"),
                   "evaluate": (training, "evaluate_run")}[command]
    work = getattr(owner, name)

    def watched(*a, **k):
        seen.append(torch.get_num_threads())
        return work(*a, **k)
    monkeypatch.setattr(owner, name, watched)
    run_dir = request.getfixturevalue(run)
    assert torch.get_num_threads() == 1
    code, _, err = output(capsys, command, run_dir, *args, "--threads", "3")  # obeyed as given
    assert code == 0, err
    assert seen == [3] and torch.get_num_threads() == 1
    torch.set_num_threads(2)
    code, _, _ = output(capsys, command, run_dir, *args)  # auto, the default: a tiny model gets one thread
    assert code == 0 and seen == [3, 1] and torch.get_num_threads() == 2
    code, _, _ = output(capsys, command, run_dir, *args, "--threads", "0")  # torch's own setting, untouched
    assert code == 0 and seen == [3, 1, 2]
    code, _, err = output(capsys, command, run_dir, *args, "--threads", "-1")
    assert code == 2 and "--threads: expected 'auto' or a whole number >= 0, got -1" in err


# --- evaluate --data ------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mackey_glass(tmp_path_factory):
    threads = torch.get_num_threads()
    out = tmp_path_factory.mktemp("mackey-glass") / "run"
    assert main(["train", "mackey-glass", "--units", "100", "--train-steps", "500", "--washout", "100",
                 "--horizon", "20", "--threads", "1", "--out", str(out)]) == 0
    torch.set_num_threads(threads)
    return out


@pytest.mark.parametrize("run", ["addition", "mackey_glass"])
def test_evaluate_data_is_refused_in_one_line_by_tasks_that_generate_their_data(run, request, capsys, tmp_path):
    """Taken and ignored, --data would report the run's own data's figures as that data's."""
    data = tmp_path / "numbers.txt"
    data.write_text("1 2\n")
    code, out, err = output(capsys, "evaluate", request.getfixturevalue(run), "--data", data)
    assert code == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"rnnzoo: error: task {run.replace('_', '-')} generates its data; --data is not used")


def test_evaluate_data_is_read_by_charlm_as_its_own_text_is(charlm, capsys, tmp_path):
    """A copy of the run's text gives the run's figures; another text, other figures; a text with a
    character the model never saw, one line naming it."""
    config = json.loads((charlm / "config.json").read_text())
    own = figures(output(capsys, "evaluate", charlm)[1])
    vocab = config["data"]["vocab"]["chars"]
    copy = tmp_path / "copy.txt"
    copy.write_text(load_text(None), encoding="utf-8")  # the built-in text, which the run read
    assert figures(output(capsys, "evaluate", charlm, "--data", copy)[1]) == own
    other = tmp_path / "other.txt"
    other.write_text("".join(vocab[i % len(vocab)] for i in range(3000)), encoding="utf-8")
    code, out, _ = output(capsys, "evaluate", charlm, "--data", other)
    assert code == 0 and figures(out)["loss"] != own["loss"]
    unseen = tmp_path / "unseen.txt"
    unseen.write_text("Alice \u263a " * 500, encoding="utf-8")
    code, out, err = output(capsys, "evaluate", charlm, "--data", unseen)
    assert code == 1 and err.startswith(f"rnnzoo: error: --data {unseen}: text has character '\u263a'")
    assert err.count("\n") == 1


def test_evaluate_data_is_read_by_sentiment(sentiment, capsys, tmp_path):
    """The same reviews give the run's figures; the same reviews with every label swapped, other ones."""
    own = figures(output(capsys, "evaluate", sentiment)[1])
    shutil.copy(sentiment.parent / "reviews.csv", tmp_path / "same.csv")
    assert figures(output(capsys, "evaluate", sentiment, "--data", tmp_path / "same.csv")[1]) == own
    flipped = figures(output(capsys, "evaluate", sentiment, "--data", reviews_csv(tmp_path / "flip.csv", True))[1])
    assert flipped["loss"] != own["loss"]
