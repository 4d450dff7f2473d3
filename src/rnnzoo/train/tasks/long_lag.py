"""`adding`, `copy` and `first-symbol`: the long-lag tasks of the vanishing-gradient literature.

The data are `rnnzoo.data.long_lag`'s generators (their docstring gives each definition and its source),
with the time lag as `--length T`. Every split is drawn from its own generator: seed 3s for training,
3s + 1 for validation and 3s + 2 for test (s = --seed), so a training set never shares a generator with
a held-out set of any seed, and the held-out sets do not change with --train-size. A copy-memory training sequence that
equals a held-out one is drawn again. Adding sequences hold real values and do not repeat. The
first-symbol task has only two sequences (task 2a), so its splits differ in their draws, not in
their sequences: the validation figure says whether the network learnt to tell the two apart, as in the
1997 paper, whose training set was those two sequences.

Models: any registered cell (SequenceModel). adding reads two channels and answers with a linear head on
the last step; copy reads category ids (an embedding of size 10 = a linear layer on the one-hot coding)
and answers 10 categories at every step; first-symbol reads ids (an embedding of 16) and answers x or y
from the last step.

Measured (2-core CPU, the defaults): `rnnzoo train adding --length 100` (LSTM 64) passes MSE 0.01 in its
third epoch (938 updates) and ends at test MSE 0.0001, 63 s in all. `rnnzoo train first-symbol` (lag 100)
stays at chance (48.8%) with the default LSTM, whose forget gate (bias 1) forgets x within the lag; with
`--forget-bias 3` it is 100% right (13 s each).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from ...data import long_lag as gen
from .base import Task, validation_sums

SPLITS = ("train", "val", "test")
ADDING_SOLVED = 0.01  # test MSE below this: solved (the mean predictor scores 1/6)
COPY_SOLVED = 0.99    # copied symbols right
FIRST_EMBED = 16


def split_seed(seed: int, split: str) -> int:
    """The generator seed of `split` in a run of `seed`: 3 seed + (0, 1, 2); no two (seed, split) share one."""
    return 3 * seed + SPLITS.index(split)


class _LongLag(Task):
    min_length = 2
    default_sizes = (10000, 1000, 1000)  # train, val, test
    data_types = {"length": int, "train_size": int, "val_size": int, "test_size": int, "seed": int}

    def add_arguments(self, parser):
        from ...checks import int_range
        train, val, test = self.default_sizes
        parser.add_argument("--length", type=int_range(self.min_length), default=100,
                            help=f"the time lag T, >= {self.min_length} (100)")
        parser.add_argument("--train-size", type=int_range(1), default=train, help=f"training sequences ({train})")
        parser.add_argument("--val-size", type=int_range(1), default=val, help=f"validation sequences ({val})")
        parser.add_argument("--test-size", type=int_range(1), default=test, help=f"test sequences ({test})")

    def setup(self, args):
        if args.data:
            raise ValueError(f"task {self.name} generates its data; --data is not used")
        if args.length < self.min_length:
            raise ValueError(f"--length must be >= {self.min_length}, got {args.length}")
        return {"length": args.length, "train_size": args.train_size, "val_size": args.val_size,
                "test_size": args.test_size, "seed": args.seed}

    def draw(self, n: int, length: int, generator: torch.Generator) -> tuple:
        """n sequences: the tensors of one TensorDataset (inputs, targets)."""
        raise NotImplementedError

    def split(self, data: dict, split: str) -> tuple:
        g = torch.Generator().manual_seed(split_seed(data["seed"], split))
        return self.draw(data[f"{split}_size"], data["length"], g)

    def loaders(self, args, data, rank=0, world=1):
        train = TensorDataset(*self.split(data, "train"))
        # one process is DistributedSampler with one replica, so that `world` processes together see
        # exactly its batches (Lightning calls set_epoch on it each epoch)
        sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=data["seed"])
        return (DataLoader(train, batch_size=args.batch_size, sampler=sampler),
                self.evaluation_loader({"data": data}, None))

    def evaluation_loader(self, config, data_path, split="val"):
        if data_path is not None:  # taken and ignored, it would pass off the run's own data as that data
            raise ValueError(f"task {self.name} generates its data; --data is not used (as in 'rnnzoo train')")
        return DataLoader(TensorDataset(*self.split(config["data"], split)), batch_size=250)

    def evaluate(self, model, config, data_path=None, split=None):
        """The validation figures (as logged), then the test set's, prefixed test_; with `split` ("val" or
        "test", `rnnzoo evaluate --split`) that split's alone, unprefixed."""
        if split is not None:
            if split not in ("val", "test"):
                raise ValueError(f"--split must be val or test for task {self.name}, got {split!r}")
            return self.metrics_from_sums(validation_sums(self, model, self.evaluation_loader(config, data_path,
                                                                                           split)))
        out = {}
        for split in ("val", "test"):
            sums = validation_sums(self, model, self.evaluation_loader(config, data_path, split))
            prefix = "" if split == "val" else "test_"
            out.update({prefix + k: v for k, v in self.metrics_from_sums(sums).items()})
        return out

    def report(self, model, config, run_dir):
        return {k: v for k, v in self.evaluate(model, config).items() if k.startswith("test_")}


class Adding(_LongLag):
    name = "adding"
    description = "the adding problem: the sum of two marked values among T (Hochreiter & Schmidhuber 1997)"
    data_help = "generated; no --data (use --length, --train-size)"
    monitor, mode, pool = "val_mse", "min", "last"
    defaults = dict(Task.defaults, hidden=64, epochs=20, batch_size=32, lr=1e-2, patience=5)

    def draw(self, n, length, generator):
        return gen.adding_batch(n, length, generator)

    def model_config(self, args, data):
        return {"input_size": 2, "output_size": 1, "pool": "last"}

    def step(self, model, batch, carry=None):
        x, target = batch
        pred = model(x)[0].squeeze(-1)  # (N,)
        loss = F.mse_loss(pred, target)
        return loss, {"sq_err": float(((pred.detach() - target) ** 2).sum()), "count": len(x)}, None

    def metrics_from_sums(self, sums):
        mse = sums["sq_err"] / sums["count"]
        return {"mse": mse, "solved": float(mse < ADDING_SOLVED)}

    def predict(self, model, config, inputs):
        try:
            a, b = (float(v) for v in inputs)
        except ValueError:
            raise ValueError(f"adding predicts from two numbers in [0, 1], the marked values; got {inputs!r}") \
                from None
        if not (0 <= a <= 1 and 0 <= b <= 1):
            raise ValueError(f"the marked values must be in [0, 1], got {a} and {b}")
        x, _ = gen.adding_batch(1, config["data"]["length"], torch.Generator().manual_seed(0))
        marks = x[0, :, 1].nonzero().flatten().tolist()
        x[0, marks, 0] = torch.tensor([a, b])
        with torch.no_grad():
            pred = float(model(x)[0])
        return [f"{a:g} (step {marks[0]}) + {b:g} (step {marks[1]}) of {len(x[0])} steps: {pred:.4f} "
                f"(true {a + b:.4f}, error {pred - a - b:+.4f})"]

    def plot(self, model, config, run_dir):
        import matplotlib.pyplot as plt
        x, target = self.split(config["data"], "test")
        with torch.no_grad():
            pred = torch.cat([model(x[i:i + 250])[0].squeeze(-1) for i in range(0, len(x), 250)])
        fig, ax = plt.subplots(figsize=(4, 4))
        ax.plot(target, pred, ".", ms=2, alpha=0.5)
        ax.plot([0, 2], [0, 2], c="gray", lw=1)
        mse = float(((pred - target) ** 2).mean())
        ax.set(xlabel="target (sum of the marked values)", ylabel="prediction", xlim=(0, 2), ylim=(0, 2),
               title=f"adding, T = {config['data']['length']}: test MSE {mse:.4f}")
        fig.tight_layout()
        fig.savefig(run_dir / "plots" / "predictions.png", dpi=100)
        plt.close(fig)
        return ["predictions.png"]

    def summary(self, model, config, run_dir):
        mse = config["report"]["test_mse"]
        return (f"test MSE {mse:.4f} ({'solved' if mse < ADDING_SOLVED else 'not solved'}: < {ADDING_SOLVED}; "
                f"always answering 1.0 scores {gen.ADDING_BASELINE_MSE:.4f})")


class Copy(_LongLag):
    name = "copy"
    description = "copy memory: repeat 10 symbols after T blanks (Arjovsky et al. 2016)"
    data_help = "generated; no --data (use --length, --train-size)"
    min_length = 1
    # the cross-entropy moves from the memoryless baseline well before the accuracy does
    monitor, mode, pool = "val_loss", "min", "none"
    defaults = dict(Task.defaults, hidden=64, epochs=20, batch_size=32, lr=3e-3, patience=5)

    def draw(self, n, length, generator):
        return gen.copy_batch(n, length, generator)

    def split(self, data, split):
        x, y = super().split(data, split)
        if split != "train":
            return x, y
        # a training sequence (fixed by its 10 symbols) equal to a held-out one is drawn again
        held = {tuple(s) for k in ("val", "test")
                for s in _LongLag.split(self, data, k)[0][:, :gen.COPY_SYMBOLS].tolist()}
        g = torch.Generator().manual_seed(split_seed(data["seed"], "train") + 3 * 2 ** 32)  # beyond every split's
        while True:
            again = [i for i, s in enumerate(x[:, :gen.COPY_SYMBOLS].tolist()) if tuple(s) in held]
            if not again:
                return x, y
            x[again], y[again] = self.draw(len(again), data["length"], g)

    def model_config(self, args, data):
        return {"vocab_size": gen.COPY_CLASSES, "embed_dim": gen.COPY_CLASSES, "output_size": gen.COPY_CLASSES,
                "pool": "none"}

    def step(self, model, batch, carry=None):
        x, target = batch
        logits = model(x)[0]  # (N, T + 20, 10)
        loss = F.cross_entropy(logits.flatten(0, 1), target.flatten())
        copied = (logits[:, -gen.COPY_SYMBOLS:].argmax(-1) == target[:, -gen.COPY_SYMBOLS:])
        return loss, {"ce_sum": float(loss.detach()) * target.numel(), "steps": target.numel(),
                      "right": int(copied.sum()), "copied": copied.numel(), "count": len(x)}, None

    def metrics_from_sums(self, sums):
        return {"loss": sums["ce_sum"] / sums["steps"], "accuracy": sums["right"] / sums["copied"]}

    def predict(self, model, config, inputs):
        text = "".join(inputs).replace(" ", "").replace(",", "")
        if len(text) != gen.COPY_SYMBOLS or set(text) - set("12345678"):
            raise ValueError(f"copy predicts from 10 symbols, digits 1 to 8 (a_1 ... a_8), got {inputs!r}")
        x, _ = gen.copy_batch(1, config["data"]["length"], torch.Generator().manual_seed(0))
        x[0, :gen.COPY_SYMBOLS] = torch.tensor([int(c) - 1 for c in text])
        with torch.no_grad():
            out = model(x)[0][0, -gen.COPY_SYMBOLS:].argmax(-1).tolist()
        names = "".join(str(i + 1) if i < gen.COPY_CATEGORIES else "_-"[i - gen.BLANK] for i in out)
        right = sum(a == b for a, b in zip(names, text))
        return [f"{text} -> {names}  ({right}/10 right after {config['data']['length']} blanks)"]

    def summary(self, model, config, run_dir):
        r, T = config["report"], config["data"]["length"]
        verdict = "solved" if r["test_accuracy"] >= COPY_SOLVED else "not solved"
        return (f"test: {r['test_accuracy']:.1%} of copied symbols right ({verdict}: >= {COPY_SOLVED:.0%}), "
                f"cross-entropy {r['test_loss']:.4f} (memoryless baseline 10 log 8 / (T + 20) = "
                f"{gen.copy_baseline_loss(T):.4f})")


class FirstSymbol(_LongLag):
    name = "first-symbol"
    description = "remember the first symbol over p steps (Hochreiter & Schmidhuber 1997, task 2a)"
    data_help = "generated; no --data (use --length, --distractors)"
    monitor, mode, pool = "val_accuracy", "max", "last"
    default_sizes = (3200, 500, 500)
    data_types = dict(_LongLag.data_types, distractors=str)
    defaults = dict(Task.defaults, hidden=32, epochs=30, batch_size=32, lr=3e-3, patience=10)

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument("--distractors", choices=["fixed", "random"], default="fixed",
                            help="a_1 ... a_{p-1} in order (fixed: task 2a) or drawn at random (task 2b)")

    def setup(self, args):
        return dict(super().setup(args), distractors=args.distractors)

    def draw(self, n, length, generator, distractors="fixed"):
        x, first = gen.first_symbol_batch(n, length, generator, distractors)
        return x, first - gen.first_symbols(length)[0]  # 0: x, 1: y

    def split(self, data, split):
        g = torch.Generator().manual_seed(split_seed(data["seed"], split))
        return self.draw(data[f"{split}_size"], data["length"], g, data.get("distractors", "fixed"))

    def model_config(self, args, data):
        return {"vocab_size": data["length"] + 1, "embed_dim": FIRST_EMBED, "output_size": 2, "pool": "last"}

    def step(self, model, batch, carry=None):
        x, target = batch
        logits = model(x)[0]  # (N, 2)
        loss = F.cross_entropy(logits, target)
        return loss, {"correct": int((logits.argmax(-1) == target).sum()), "loss_sum": float(loss.detach()) * len(x),
                      "count": len(x)}, None

    def metrics_from_sums(self, sums):
        return {"accuracy": sums["correct"] / sums["count"], "loss": sums["loss_sum"] / sums["count"]}

    def predict(self, model, config, inputs):
        if len(inputs) != 1 or inputs[0] not in ("x", "y"):
            raise ValueError(f"first-symbol predicts from the first symbol, x or y, got {inputs!r}")
        p = config["data"]["length"]
        x, _ = gen.first_symbol_batch(1, p, torch.Generator().manual_seed(0), config["data"]["distractors"])
        x[0, 0] = gen.first_symbols(p)["xy".index(inputs[0])]
        with torch.no_grad():
            prob = torch.softmax(model(x)[0][0], -1)
        answer = "xy"[int(prob.argmax())]
        return [f"{inputs[0]}, then {p - 1} distractors: the first symbol was {answer} (p = {float(prob.max()):.3f})"
                + ("" if answer == inputs[0] else "  (wrong)")]

    def summary(self, model, config, run_dir):
        acc = config["report"]["test_accuracy"]
        return f"test accuracy {acc:.1%} at lag {config['data']['length']} (chance 50%)"
