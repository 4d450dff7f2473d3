"""The sst task: the treebank's three splits, a vocabulary from train.txt alone, a loss on every node (binary:
neutral nodes and sentences out), tree and sequential models from one command, pretrained vectors."""

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import shared_data

from rnnzoo.cli import main
from rnnzoo.data import trees as treebank
from rnnzoo.train.fit import evaluate, load_run
from rnnzoo.train.tasks.sst import SST

WORDS = {"good": 4, "fine": 3, "film": 2, "plot": 2, "dull": 1, "awful": 0}


def phrase(g, depth):
    """A random binary tree over WORDS whose node label is the rounded mean of its leaves' labels."""
    if depth == 0 or g.random() < 0.3:
        word = str(g.choice(list(WORDS)))
        return f"({WORDS[word]} {word})", [WORDS[word]]
    left, a = phrase(g, depth - 1)
    right, b = phrase(g, depth - 1)
    return f"({int(np.floor(np.mean(a + b) + 0.5))} {left} {right})", a + b


def write_treebank(folder, n=(120, 40, 40), seed=0, extra_test_word=None):
    g = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for name, count in zip(("train.txt", "dev.txt", "test.txt"), n):
        lines = [phrase(g, 3)[0] for _ in range(count)]
        if extra_test_word and name != "train.txt":
            lines.append(f"(3 (3 {extra_test_word}) (2 film))")
        (folder / name).write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    base = tmp_path_factory.mktemp("sst")
    data = write_treebank(base / "data", extra_test_word="superb")
    out = base / "tree"
    assert main(["train", "sst", "--data", str(data), "--out", str(out), "--hidden", "16", "--embed", "8",
                 "--epochs", "8", "--lr", "0.02", "--threads", "1", "--io-dropout", "0"]) == 0
    return out, data


def test_a_tree_lstm_learns_the_toy_treebank_and_reports_root_node_and_binary_accuracy(run):
    out, _ = run
    report = json.loads((out / "config.json").read_text())["report"]
    assert report["test_node_accuracy"] > 0.6 and report["test_accuracy"] > 0.4  # 5 classes: chance 0.2
    assert 0 <= report["test_binary_accuracy"] <= 1
    assert evaluate(out, split="test")["accuracy"] == report["test_accuracy"]


def test_the_vocabulary_comes_from_train_txt_alone(run):
    out, data = run
    vocab = json.loads((out / "config.json").read_text())["data"]["vocab"]
    assert "superb" not in vocab  # in dev.txt and test.txt only
    assert set(vocab) == {"<pad>", "<unk>"} | {w for w in WORDS if w in (data / "train.txt").read_text()}


def test_the_loss_is_cross_entropy_over_every_node(run):
    out, data = run
    task, model, config = load_run(out)
    trees = treebank.read_trees(data / "dev.txt")[:5]
    batch = treebank.batch_trees(trees, config["data"]["vocab"], unk=1)
    loss, sums, _ = task.step(model, batch)
    logits = model(batch)[1]
    assert loss.item() == pytest.approx(F.cross_entropy(logits, batch.labels).item(), rel=1e-6)
    assert sums["count"] == 5 and sums["nodes"] == batch.num_nodes


def test_binary_drops_neutral_sentences_and_puts_no_loss_on_neutral_nodes(tmp_path):
    data = write_treebank(tmp_path / "data", n=(60, 20, 20), seed=1)
    task = SST()
    trees = task._read(data, "train", 2)
    assert all(t.label != 2 for t in trees) and len(trees) < 60
    torch.manual_seed(0)
    model = task.build_model({"class": "BinaryTreeLSTM", "vocab_size": 8, "embed_dim": 4, "hidden_size": 5,
                              "num_classes": 2})
    vocab = treebank.build_vocab(trees)
    batch = treebank.batch_trees(trees[:6], vocab, unk=1)
    loss, sums, _ = task.step(model, batch)
    logits, labels = model(batch)[1], batch.labels
    keep = labels != 2
    expected = F.cross_entropy(logits[keep], (labels[keep] > 2).long())
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert sums["nodes"] == int(keep.sum())


def test_predict_gives_the_root_first_then_each_phrase(run, capsys):
    out, _ = run
    assert main(["predict", str(out), "(3 (4 good) (2 film))"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].endswith("good film") and lines[-1].endswith("good")


def test_a_registered_cell_reads_the_sentence_as_a_sequence(tmp_path):
    data = write_treebank(tmp_path / "data")
    out = tmp_path / "gru"
    assert main(["train", "sst", "--data", str(data), "--out", str(out), "--model", "gru", "--bidirectional",
                 "--hidden", "8", "--embed", "8", "--epochs", "2", "--threads", "1"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert config["model"]["cell"] == "gru" and "test_node_accuracy" not in config["report"]
    assert evaluate(out, split="test")["accuracy"] == config["report"]["test_accuracy"]


def test_vectors_start_the_embedding_and_options_a_tree_model_cannot_use_are_refused(tmp_path, capsys):
    data = write_treebank(tmp_path / "data")
    vectors = tmp_path / "glove.txt"
    vectors.write_text("good 1 2 3 4\nawful -1 -2 -3 -4\nunrelated 0 0 0 0\n")
    out = tmp_path / "v"
    assert main(["train", "sst", "--data", str(data), "--out", str(out), "--embed", "4", "--vectors", str(vectors),
                 "--hidden", "4", "--epochs", "1", "--threads", "1", "--lr", "1e-9"]) == 0
    assert "vectors: 2 of" in capsys.readouterr().out
    _, model, config = load_run(out)
    good = config["data"]["vocab"]["good"]
    assert torch.allclose(model.embedding.weight[good], torch.tensor([1.0, 2, 3, 4]), atol=1e-5)
    assert main(["train", "sst", "--data", str(data), "--out", str(tmp_path / "x"), "--layers", "2"]) != 0
    assert "--layers: not for --model tree-lstm" in capsys.readouterr().err
    assert main(["train", "sst", "--data", str(data), "--out", str(tmp_path / "x"), "--peephole"]) != 0
    assert "--peephole: not for --model tree-lstm" in capsys.readouterr().err
    assert main(["train", "sst", "--data", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) != 0
    assert "is not a folder" in capsys.readouterr().err


def test_the_treebank_splits_have_their_published_sizes():
    folder = shared_data("trees", "sst")
    task = SST()
    assert [len(task._read(folder, split, 5)) for split in ("train", "val", "test")] == [8544, 1101, 2210]
    assert [len(task._read(folder, split, 2)) for split in ("train", "val", "test")] == [6920, 872, 1821]
