"""`addition`: add two integers bit by bit, least significant bit first (the classic first RNN task).

Each step reads one bit of each number and emits one bit of the sum; one extra step with zero inputs
emits the final carry. Nothing in the model depends on the number of bits, so a model trained on
8-bit numbers can be asked to add 32-bit numbers (`evaluate --bits 32`, and the task's plot).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from .base import Task


MAX_BITS = 62  # a + b in int64 with its carry bit; `rnnzoo evaluate --bits` takes the same range


def to_bits(values: torch.Tensor, bits: int) -> torch.Tensor:
    """(N,) non-negative ints -> (N, bits) float bits, least significant first."""
    return ((values[:, None] >> torch.arange(bits)) & 1).float()


def from_bits(bits: torch.Tensor) -> torch.Tensor:
    """(N, B) 0/1 bits, least significant first -> (N,) ints (Python ints above 63 bits are clipped)."""
    weights = 2 ** torch.arange(bits.shape[1], dtype=torch.float64)
    return (bits.double() * weights).sum(1)


def make_pairs(n: int, bits: int, generator: torch.Generator, exclude: set | None = None):
    """n distinct random pairs (a, b) of `bits`-bit ints, none of them in `exclude`, as a (n, 2) tensor.

    Fewer when fewer exist: every pair of 4-bit numbers is only 256 pairs (less those excluded).
    """
    high = 2 ** bits
    pairs, seen = [], {p for p in exclude or () if max(p) < high}  # wider pairs take nothing from these
    n = min(n, high * high - len(seen))
    while len(pairs) < n:
        if high * high <= 4 * n:  # small widths: enumerate and shuffle rather than rejection-sample
            every = [(a, b) for a in range(high) for b in range(high) if (a, b) not in seen]
            order = torch.randperm(len(every), generator=generator)[:n].tolist()
            return torch.tensor([every[i] for i in order], dtype=torch.long)
        a, b = torch.randint(0, high, (2, 2 * n), generator=generator).tolist()
        for pair in zip(a, b):
            if pair not in seen:
                seen.add(pair)
                pairs.append(pair)
                if len(pairs) == n:
                    break
    return torch.tensor(pairs, dtype=torch.long).view(-1, 2)


def encode(pairs: torch.Tensor, bits: int):
    """Inputs (N, bits + 1, 2) and target bits (N, bits + 1) of a + b."""
    a, b = pairs[:, 0], pairs[:, 1]
    x = torch.stack([to_bits(a, bits + 1), to_bits(b, bits + 1)], dim=-1)
    return x, to_bits(a + b, bits + 1)


class Addition(Task):
    name = "addition"
    description = "add two integers bit by bit, least significant bit first"
    data_help = "generated; no --data (use --bits, --train-size)"
    monitor, mode, pool = "val_accuracy", "max", "none"
    defaults = dict(Task.defaults, hidden=16, epochs=30, batch_size=32, lr=0.01, patience=100)
    data_types = {"bits": int, "train_size": int, "val_size": int, "seed": int}

    def add_arguments(self, parser):
        from ...checks import int_range
        parser.add_argument("--bits", type=int_range(1, MAX_BITS), default=8,
                            help=f"bits per number in training, 1 to {MAX_BITS} (8)")
        parser.add_argument("--train-size", type=int_range(1), default=4000, help="training pairs (4000)")
        parser.add_argument("--val-size", type=int_range(1), default=1000, help="held-out pairs (1000)")

    def setup(self, args):
        if args.bits < 1 or args.bits > MAX_BITS:
            raise ValueError(f"--bits must be from 1 to {MAX_BITS}, got {args.bits}")
        if args.data:
            raise ValueError("task addition generates its data; --data is not used")
        total = 4 ** args.bits
        if args.train_size + args.val_size > total:
            raise ValueError(f"--train-size + --val-size must be <= {total} distinct {args.bits}-bit "
                             f"pairs, got {args.train_size + args.val_size}")
        return {"bits": args.bits, "train_size": args.train_size, "val_size": args.val_size,
                "seed": args.seed}

    def model_config(self, args, data):
        return {"input_size": 2, "output_size": 1, "pool": "none"}

    def _pairs(self, data):
        g = torch.Generator().manual_seed(data["seed"])
        val = make_pairs(data["val_size"], data["bits"], g)
        train = make_pairs(data["train_size"], data["bits"], g, exclude=set(map(tuple, val.tolist())))
        return train, val

    def loaders(self, args, data, rank=0, world=1):
        train, val = self._pairs(data)
        train = TensorDataset(*encode(train, data["bits"]))
        # one process is DistributedSampler with one replica, so that `world` processes together
        # see exactly its batches (Lightning calls set_epoch on it each epoch)
        sampler = DistributedSampler(train, num_replicas=world, rank=rank, shuffle=True, seed=data["seed"])
        return (DataLoader(train, batch_size=args.batch_size, sampler=sampler),
                DataLoader(TensorDataset(*encode(val, data["bits"])), batch_size=500))

    def step(self, model, batch, carry=None):
        x, target = batch
        logits = model(x)[0].squeeze(-1)  # (N, L)
        loss = F.binary_cross_entropy_with_logits(logits, target)
        exact = ((logits > 0).float() == target).all(dim=1)
        return loss, {"correct": exact.sum().item(), "count": len(x), "loss_sum": loss.item() * len(x)}, None

    def metrics_from_sums(self, sums):
        return {"accuracy": sums["correct"] / sums["count"], "loss": sums["loss_sum"] / sums["count"]}

    def evaluation_loader(self, config, data_path, bits=None):
        if data_path is not None:  # taken and ignored, it would pass off the run's own pairs as that data
            raise ValueError("task addition generates its data; --data is not used (as in 'rnnzoo train')")
        data = dict(config["data"])
        if bits is None or bits == data["bits"]:
            return DataLoader(TensorDataset(*encode(self._pairs(data)[1], data["bits"])), batch_size=500)
        # another width: fresh pairs, but none that was trained on (every pair of a narrower width is a
        # pair of the training width too, zero-extended, and so can be one of a wider width)
        g = torch.Generator().manual_seed(data["seed"] + bits)
        pairs = make_pairs(data["val_size"], bits, g, exclude=set(map(tuple, self._pairs(data)[0].tolist())))
        if not len(pairs):
            raise ValueError(f"every {bits}-bit pair was trained on: there is no held-out pair of that width")
        return DataLoader(TensorDataset(*encode(pairs, bits)), batch_size=500)

    def predict(self, model, config, inputs):
        if len(inputs) != 2:
            raise ValueError(f"addition predicts from two non-negative integers, got {len(inputs)} inputs")
        try:
            a, b = (int(v) for v in inputs)
        except ValueError:
            raise ValueError(f"addition takes two integers, got {inputs!r}") from None
        if a < 0 or b < 0 or max(a, b) >= 2 ** 62:
            raise ValueError(f"inputs must be integers in [0, 2**62), got {a} and {b}")
        bits = max(a.bit_length(), b.bit_length(), 1)
        x, _ = encode(torch.tensor([[a, b]]), bits)
        with torch.no_grad():
            out = (model(x)[0].squeeze(-1) > 0).long()[0].tolist()
        total = sum(bit << i for i, bit in enumerate(out))
        return [f"{a} + {b} = {total}" + ("" if total == a + b else f"  (wrong: the sum is {a + b})")]

    def accuracy_by_bits(self, model, config, widths=(4, 8, 16, 32, 48)):
        out = {}
        with torch.no_grad():
            for bits in widths:
                hits = count = 0
                for x, target in self.evaluation_loader(config, None, bits=bits):
                    hits += ((model(x)[0].squeeze(-1) > 0).float() == target).all(1).sum().item()
                    count += len(x)
                out[bits] = hits / count
        return out

    def plot(self, model, config, run_dir):
        import matplotlib.pyplot as plt
        acc = self.accuracy_by_bits(model, config)
        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(list(acc), list(acc.values()), "o-")
        ax.axvline(config["data"]["bits"], ls="--", c="gray", label="trained on")
        ax.set(xlabel="bits per number", ylabel="exact sums", ylim=(-0.02, 1.02),
               title=f"{config['model']['cell']}: generalisation to longer numbers")
        ax.legend()
        fig.tight_layout()
        fig.savefig(run_dir / "plots" / "accuracy_by_bits.png", dpi=100)
        plt.close(fig)
        return ["accuracy_by_bits.png"]

    def summary(self, model, config, run_dir):
        acc = self.accuracy_by_bits(model, config, widths=(config["data"]["bits"], 32))
        lines = [f"exact sums on held-out {b}-bit pairs: {a:.1%}" for b, a in acc.items()]
        g = torch.Generator().manual_seed(1)
        for a, b in make_pairs(3, config["data"]["bits"], g).tolist():
            lines += self.predict(model, config, [str(a), str(b)])
        return "\n".join(lines)
