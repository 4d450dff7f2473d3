"""`sst`: the Stanford Sentiment Treebank (Socher et al. 2013), sentiment 0-4 on every node of a parse tree.

Data (`--data DIR`): the treebank's PTB files train.txt (8,544 sentences), dev.txt (1,101) and test.txt
(2,210), as trainDevTestTrees_PTB.zip from nlp.stanford.edu/sentiment unpacks them. The vocabulary comes from
train.txt alone (`--min-count`); other words map to <unk>. dev.txt picks the best epoch; test.txt is read only
by `report` and `evaluate --split test`.

Models (`--model`):
    tree-lstm        the binary N-ary Tree-LSTM (Tai et al. 2015; rnnzoo.models.tree.BinaryTreeLSTM), default
    child-sum-lstm   the child-sum Tree-LSTM (Tai et al. 2015)
    tree-rnn         the recursive network h = tanh(W [h_l; h_r] + b) (Socher et al. 2011)
    any registered cell (`rnnzoo models`): a sequential model reading the sentence's words left to right
                     (add --bidirectional for a BiLSTM), classifying the whole sentence
Tree models are trained with a loss on every node, as the papers do, and batched by level (all nodes of one
height across the batch in one product). Sequential models see the sentences only (the root labels).

`--classes 5` (fine-grained, default) or `2` (binary: 0-1 negative, 3-4 positive; sentences whose root is
neutral are dropped from every split, neutral nodes carry no loss). Figures: accuracy at the root (the
papers' headline), over all nodes (tree models), and for a fine-grained model its binary accuracy at the
root (p(0) + p(1) against p(3) + p(4), on the non-neutral sentences). `--vectors FILE` starts the embedding
from GloVe-format vectors (a word per line with its values).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ...data import trees as treebank
from .base import Task
from .sentiment import BucketBatches

TREE_MODELS = {"tree-lstm": "BinaryTreeLSTM", "child-sum-lstm": "ChildSumTreeLSTM", "tree-rnn": "TreeRNN"}
SPLITS = {"train": "train.txt", "val": "dev.txt", "test": "test.txt"}
EVAL_BATCH = 256


def _binary(labels: torch.Tensor) -> torch.Tensor:
    """0-1 -> 0 (negative), 3-4 -> 1 (positive), 2 (neutral) -> -100 (no loss, not scored)."""
    return torch.where(labels == 2, -100, (labels > 2).long())


class SST(Task):
    name = "sst"
    description = "Stanford Sentiment Treebank: tree-structured networks (Tree-LSTM) or sequential ones"
    data_help = "the treebank's folder of train.txt, dev.txt, test.txt (PTB trees, trainDevTestTrees_PTB.zip)"
    monitor, mode, pool = "val_accuracy", "max", "last"
    structured_models = tuple(TREE_MODELS)
    # structured models take none of the recurrent-layer options
    structured_refuses = ("layers", "bidirectional", "merge", "recurrent_dropout")
    # measured on dev.txt (test figures in the README): 300-value embeddings from scratch overfit (test 43.9%
    # fine-grained after 12 epochs); 100 values, 20 cosine epochs and an L2 penalty of 1e-5 gave 47.3%
    defaults = dict(Task.defaults, model="tree-lstm", hidden=150, epochs=20, batch_size=25, lr=2e-3, patience=20,
                    io_dropout=0.5, lr_schedule="cosine", weight_decay=1e-5)
    data_types = {"path": str, "classes": int, "vocab": dict, "min_count": int}

    def add_arguments(self, parser):
        from ...checks import int_range
        parser.add_argument("--classes", type=int, choices=[5, 2], default=5,
                            help="5 (fine-grained, default) or 2 (binary: neutral sentences dropped)")
        parser.add_argument("--embed", type=int_range(1), default=100, help="word embedding size (100)")
        parser.add_argument("--min-count", type=int_range(1), default=1,
                            help="words seen fewer times in train.txt map to <unk> (1)")
        parser.add_argument("--vectors", default=None, metavar="FILE",
                            help="start the embedding from GloVe-format word vectors (a word and its values per line)")

    # --- data -------------------------------------------------------------------------------------
    def _read(self, path, split, classes):
        path = Path(path)
        if not path.is_dir():
            raise ValueError(f"--data {path} is not a folder (the treebank's train.txt, dev.txt and test.txt)")
        file = path / SPLITS[split]
        if not file.is_file():
            raise ValueError(f"--data {path} has no {SPLITS[split]} (expected train.txt, dev.txt and test.txt)")
        trees = treebank.read_trees(file)
        if classes == 2:
            trees = [t for t in trees if t.label != 2]
        return trees

    def setup(self, args):
        if args.data is None:
            raise ValueError("sst needs --data DIR: the folder of the treebank's train.txt, dev.txt and test.txt "
                             "(trainDevTestTrees_PTB.zip from nlp.stanford.edu/sentiment)")
        train = self._read(args.data, "train", args.classes)
        vocab = treebank.build_vocab(train, args.min_count)
        data = {"path": str(Path(args.data).resolve()), "classes": args.classes, "min_count": args.min_count,
                "vocab": vocab, "vectors": args.vectors}
        counts = {split: len(self._read(args.data, split, args.classes)) for split in ("val", "test")}
        print(f"data: {len(train)} training, {counts['val']} dev, {counts['test']} test sentences"
              f"{' (neutral ones dropped)' if args.classes == 2 else ''}; {len(vocab)} words in the vocabulary "
              f"(train.txt, seen >= {args.min_count} times)")
        return data

    def _loader(self, data, trees, batch_size, shuffle, seed=0, rank=0, world=1, sequential=False):
        vocab = data["vocab"]
        lengths = [len(treebank.leaves(t)) for t in trees]
        sampler = BucketBatches(lengths, batch_size, shuffle, seed, rank, world)
        if sequential:
            cases = [(torch.tensor([vocab.get(leaf.word, 1) for leaf in treebank.leaves(t)]), t.label) for t in trees]
            return DataLoader(cases, batch_sampler=sampler, collate_fn=_collate_words)
        return DataLoader(trees, batch_sampler=sampler, collate_fn=lambda b: treebank.batch_trees(b, vocab, unk=1))

    def loaders(self, args, data, rank=0, world=1):
        seq = args.model not in TREE_MODELS
        return (self._loader(data, self._read(data["path"], "train", data["classes"]), args.batch_size, True,
                             args.seed, rank, world, seq),
                self._loader(data, self._read(data["path"], "val", data["classes"]), EVAL_BATCH, False,
                             sequential=seq))

    def evaluation_loader(self, config, data_path, split="val"):
        data = dict(config["data"])
        if data_path is not None:
            data["path"] = str(data_path)
        seq = config["model"].get("cell") is not None
        return self._loader(data, self._read(data["path"], split, data["classes"]), EVAL_BATCH, False,
                            sequential=seq)

    # --- model --------------------------------------------------------------------------------------
    def model_config(self, args, data):
        if args.model in TREE_MODELS:
            return {"class": TREE_MODELS[args.model], "vocab_size": len(data["vocab"]), "embed_dim": args.embed,
                    "num_classes": data["classes"]}
        return {"vocab_size": len(data["vocab"]), "embed_dim": args.embed, "output_size": data["classes"],
                "pool": "last", "pad": True}

    def build_model(self, model_config):
        from ...models import SequenceModel
        from ...models import tree as tree_models
        c = dict(model_config)
        name = c.pop("class", None)
        if name is None and c.get("cell") in TREE_MODELS:
            name = TREE_MODELS[c["cell"]]
        if name is None:
            return SequenceModel(**c)
        for key in ("cell", "num_layers", "bidirectional", "merge", "recurrent_dropout", "cell_options"):
            c.pop(key, None)
        # one dropout for a tree model: on the embedded words and before the classifier (--io-dropout)
        io, between = c.pop("io_dropout", 0.0), c.pop("dropout", 0.0)
        c["dropout"] = io or between
        model = getattr(tree_models, name)(**c)
        plain = model.config
        model.config = lambda: {"class": name, **plain()}  # config.json says which tree model to rebuild
        return model

    def init_model(self, model, data, args):
        """--vectors: the embedding starts from the file's vectors (words it lacks keep their random start)."""
        if not data.get("vectors"):
            return
        from ...data.vectors import load_vectors
        embedding = model.embedding if hasattr(model, "embedding") else model.embed  # tree / SequenceModel
        weights, found = load_vectors(data["vectors"], data["vocab"], embedding.weight.shape[1], args.seed)
        with torch.no_grad():
            embedding.weight.copy_(weights)
        print(f"vectors: {found} of {len(data['vocab'])} words from {data['vectors']}")

    def step(self, model, batch, carry=None):
        if isinstance(batch, treebank.TreeBatch):
            return self._tree_step(model, batch)
        x, lengths, labels = batch
        logits = model(x, lengths=lengths)[0]
        return self._sums(logits, labels, None, None)

    def _tree_step(self, model, batch):
        _, logits = model(batch)
        return self._sums(logits[batch.roots], batch.labels[batch.roots], logits, batch.labels)

    def _sums(self, root_logits, root_labels, node_logits, node_labels):
        classes = root_logits.shape[1]
        targets = _binary(root_labels) if classes == 2 else root_labels
        if node_logits is not None:
            node_targets = _binary(node_labels) if classes == 2 else node_labels
            loss = F.cross_entropy(node_logits, node_targets, ignore_index=-100)  # every node, as Tai et al.
            scored = node_targets != -100
            node_correct = (node_logits.argmax(1)[scored] == node_targets[scored]).sum().item()
            nodes = int(scored.sum())
        else:
            loss = F.cross_entropy(root_logits, targets)
            node_correct = nodes = 0
        sums = {"correct": (root_logits.argmax(1) == targets).sum().item(), "count": len(targets),
                "loss_sum": loss.item() * len(targets), "node_correct": node_correct, "nodes": nodes}
        if classes == 5:  # the fine-grained model's binary call on the non-neutral sentences
            p = root_logits.softmax(1)
            polar = targets != 2
            said = (p[:, 3:].sum(1) > p[:, :2].sum(1))[polar]
            sums["binary_correct"] = (said == (targets[polar] > 2)).sum().item()
            sums["binary_count"] = int(polar.sum())
        return loss, sums, None

    def metrics_from_sums(self, sums):
        out = {"accuracy": sums["correct"] / sums["count"], "loss": sums["loss_sum"] / sums["count"]}
        if sums.get("nodes"):
            out["node_accuracy"] = sums["node_correct"] / sums["nodes"]
        if sums.get("binary_count"):
            out["binary_accuracy"] = sums["binary_correct"] / sums["binary_count"]
        return out

    # --- after training ---------------------------------------------------------------------------
    def report(self, model, config, run_dir):
        from .base import validation_sums
        sums = validation_sums(self, model, self.evaluation_loader(config, None, "test"))
        return {f"test_{k}": v for k, v in self.metrics_from_sums(sums).items()}

    def evaluate(self, model, config, data_path=None, split=None):
        from .base import validation_sums
        return self.metrics_from_sums(validation_sums(self, model,
                                                      self.evaluation_loader(config, data_path, split or "val")))

    def summary(self, model, config, run_dir):
        r = config.get("report", {})
        if not r:
            return ""
        parts = [f"test accuracy at the root {100 * r['test_accuracy']:.2f}%"]
        if "test_node_accuracy" in r:
            parts.append(f"over all nodes {100 * r['test_node_accuracy']:.2f}%")
        if "test_binary_accuracy" in r:
            parts.append(f"binary at the root {100 * r['test_binary_accuracy']:.2f}%")
        return ", ".join(parts)

    def predict(self, model, config, inputs):
        """`rnnzoo predict RUN "(2 (2 a) (3 (3 fine) (2 film)))"`: the sentiment of the root and of each phrase
        (a tree model), or of a plain sentence's words (a sequential model)."""
        data = config["data"]
        names = (["very negative", "negative", "neutral", "positive", "very positive"] if data["classes"] == 5
                 else ["negative", "positive"])
        text = " ".join(inputs).strip()
        if not text:
            raise ValueError("predict takes a bracketed tree, e.g. \"(2 (2 a) (3 (3 fine) (2 film)))\"")
        sequential = config["model"].get("cell") is not None
        if sequential:
            words = [leaf.word for leaf in treebank.leaves(treebank.parse_tree(text))] if text.startswith("(") \
                else text.split()
            x = torch.tensor([[data["vocab"].get(w, 1) for w in words]])
            with torch.no_grad():
                p = model(x, lengths=torch.tensor([x.shape[1]]))[0].softmax(1)[0]
            return [f"{names[int(p.argmax())]} (p = {float(p.max()):.3f})"]
        tree = treebank.parse_tree(text)
        batch = treebank.batch_trees([tree], data["vocab"], unk=1)
        with torch.no_grad():
            p = model(batch)[1].softmax(1)
        lines = []
        for node, row in zip(treebank.nodes(tree), batch.tree_nodes(0).tolist()):
            words = " ".join(leaf.word for leaf in treebank.leaves(node))
            lines.append(f"{names[int(p[row].argmax())]:>13} ({float(p[row].max()):.2f})  {words}")
        return lines[::-1]  # the root first


def _collate_words(batch):
    lengths = torch.tensor([len(ids) for ids, _ in batch])
    padded = torch.zeros(len(batch), int(lengths.max()), dtype=torch.long)
    for i, (ids, _) in enumerate(batch):
        padded[i, :len(ids)] = ids
    return padded, lengths, torch.tensor([label for _, label in batch])
