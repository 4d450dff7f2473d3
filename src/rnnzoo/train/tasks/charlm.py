"""`charlm`: a character-level language model on any UTF-8 text, trained statefully.

The text is cut into `--batch-size` contiguous streams; each update sees the next `--bptt` characters
of every stream and starts from the (detached) state the previous batch ended in, so the model reads
the text as one continuous stream (truncated backpropagation through time). Validation is the last
10% of the text, read the same way; the figure is its loss in nats (and bits) per character.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ...data.text import CharVocab, load_text, split_text, stream_batches
from .base import Task


def detach(state):
    return tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()


class CharLM(Task):
    name = "charlm"
    description = "character-level language model (stateful truncated BPTT); generates text"
    data_help = "a UTF-8 text file; default: Alice's Adventures in Wonderland, shipped with rnnzoo"
    monitor, mode, pool, stateful = "val_loss", "min", "none", True
    # dropout between the layers, on the embedded characters and before the output: Alice is small
    # (136k training characters) and without it a 2x256 LSTM stops improving at ~1.45 nats/char
    defaults = dict(Task.defaults, hidden=256, layers=2, epochs=60, batch_size=32, lr=2e-3,
                    dropout=0.3, io_dropout=0.3, patience=5)
    data_types = {"path": (str, None), "vocab": dict, "max_chars": int, "val_fraction": float, "bptt": int,
                  "batch_size": int}

    def add_arguments(self, parser):
        from ...checks import float_range, int_range
        parser.add_argument("--bptt", type=int_range(1), default=100, help="characters per update (100)")
        parser.add_argument("--embed", type=int_range(1), default=64, help="character embedding size (64)")
        parser.add_argument("--val-fraction", type=float_range(0, 1, low_open=True, high_open=True), default=0.1,
                            help="the last part of the text used for validation, in (0, 1) (0.1)")
        parser.add_argument("--max-chars", type=int_range(0), default=0,
                            help="use only the first N characters of the text (0 = all)")

    def setup(self, args):
        if args.bptt < 1:
            raise ValueError(f"--bptt must be >= 1, got {args.bptt}")
        text = load_text(args.data)
        if args.max_chars:
            text = text[: args.max_chars]
        try:
            train, val = split_text(text, args.val_fraction)
        except ValueError as e:  # too short a text (or --max-chars) for its validation part
            raise ValueError(f"--val-fraction/--max-chars/--data: {e}") from None
        # the vocabulary covers the whole text, so validation never meets an unknown character
        return {"path": None if args.data is None else str(args.data), "vocab": CharVocab(text).to_dict(),
                "max_chars": args.max_chars, "val_fraction": args.val_fraction, "bptt": args.bptt,
                "batch_size": args.batch_size, "train_chars": len(train), "val_chars": len(val)}

    def model_config(self, args, data):
        vocab = len(data["vocab"]["chars"])
        return {"vocab_size": vocab, "embed_dim": args.embed, "output_size": vocab, "pool": "none"}

    def _ids(self, data, path=None):
        text = load_text(path if path is not None else data["path"])
        if data["max_chars"]:
            text = text[: data["max_chars"]]
        train, val = split_text(text, data["val_fraction"])
        vocab = CharVocab.from_dict(data["vocab"])
        return vocab.encode(train), vocab.encode(val)

    def _val_loader(self, ids, data):
        # fewer streams than training so that the short validation text still fills a few batches
        streams = max(1, min(data["batch_size"], len(ids) // (4 * data["bptt"] + 1)))
        bptt = min(data["bptt"], (len(ids) - 1) // streams)
        return DataLoader(stream_batches(ids, streams, bptt), batch_size=None)

    def loaders(self, args, data, rank=0, world=1):
        train, val = self._ids(data)
        share = len(train) // world  # each process reads its own equal part of the text as streams
        train = train[rank * share:(rank + 1) * share + 1]
        return (DataLoader(stream_batches(train, args.batch_size, args.bptt), batch_size=None),
                self._val_loader(val, data))

    def step(self, model, batch, carry=None):
        x, y = batch
        logits, state = model(x, state=carry)  # carry: where the previous batch's streams ended
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        # detached, so the next update backpropagates through its own --bptt steps only
        return loss, {"loss_sum": loss.item() * y.numel(), "count": y.numel()}, detach(state)

    def metrics_from_sums(self, sums):
        nats = sums["loss_sum"] / sums["count"]
        return {"loss": nats, "bits_per_char": nats / math.log(2)}

    def evaluation_loader(self, config, data_path):
        """The last part of the run's text, or of `data_path`'s (cut as in training: --max-chars, then
        --val-fraction), in the run's vocabulary."""
        try:
            ids = self._ids(config["data"], data_path)[1]
        except ValueError as e:
            if data_path is None:
                raise
            # the first clause: encode's advice after it (build another vocabulary) cannot apply to a trained model
            raise ValueError(f"--data {data_path}: {str(e).split(';')[0]}") from None
        return self._val_loader(ids, config["data"])

    def generate(self, model, config, prompt, length, temperature=0.8, top_k=0, greedy=False, seed=None):
        return "".join(self.stream(model, config, prompt, length, temperature, top_k, greedy, seed))

    def stream(self, model, config, prompt, length, temperature=0.8, top_k=0, greedy=False, seed=None):
        """The prompt, then each sampled character as soon as it is drawn."""
        vocab = CharVocab.from_dict(config["data"]["vocab"])
        if length < 1:
            raise ValueError(f"--length must be >= 1, got {length}")
        if not greedy and not (isinstance(temperature, (int, float)) and math.isfinite(temperature)
                               and temperature >= 0.01):  # smaller: logits / temperature overflow to NaN
            raise ValueError(f"--temperature must be a finite number >= 0.01 (or use --greedy), got {temperature}")
        if not prompt:
            prompt = vocab.chars[0] if "\n" not in vocab.chars else "\n"
        missing = sorted(set(prompt) - set(vocab.chars))
        if missing:
            raise ValueError(f"--prompt has characters the model never saw: {''.join(missing)!r}")
        g = torch.Generator().manual_seed(seed) if seed is not None else None
        state = None
        x = vocab.encode(prompt)[None]  # (1, len(prompt))
        yield prompt
        for _ in range(length):
            # no_grad around the call only: grad mode is global, and a `with` held across the yields
            # would switch gradients off in the caller's code too while it runs between pieces
            with torch.no_grad():
                logits, state = model(x, state=state)
            logits = logits[0, -1]
            if greedy:
                nxt = int(logits.argmax())
            else:
                logits = logits / temperature
                if top_k and top_k < len(logits):
                    cut = logits.topk(top_k).values[-1]
                    logits = logits.masked_fill(logits < cut, float("-inf"))
                nxt = int(torch.multinomial(logits.softmax(-1), 1, generator=g))
            yield vocab.decode([nxt])
            x = torch.tensor([[nxt]])

    def plot(self, model, config, run_dir):
        """The validation text coloured by the model's surprise at each character."""
        import matplotlib.pyplot as plt
        ids = self._ids(config["data"])[1][:481]
        with torch.no_grad():
            logits, _ = model(ids[None, :-1])
            nats = F.cross_entropy(logits[0], ids[1:], reduction="none")
        text = CharVocab.from_dict(config["data"]["vocab"]).decode(ids[1:])
        width = 80
        fig, ax = plt.subplots(figsize=(11, 0.34 * (len(text) // width + 3)))
        cmap = plt.get_cmap("inferno_r")
        for i, (ch, v) in enumerate(zip(text, nats.tolist())):
            ax.text((i % width) / width, 1 - (i // width + 1) / (len(text) // width + 2),
                    "·" if ch == "\n" else ch, color=cmap(min(v / 6, 1.0) * 0.85 + 0.1),
                    family="monospace", fontsize=10)
        ax.axis("off")
        ax.set_title(f"surprise per character (darker = more nats), mean {nats.mean():.2f} nats/char")
        fig.savefig(run_dir / "plots" / "surprise.png", dpi=100, bbox_inches="tight")
        plt.close(fig)
        return ["surprise.png"]

    def summary(self, model, config, run_dir):
        prompt = "Alice " if set("Alice ") <= set(config["data"]["vocab"]["chars"]) else ""
        sample = self.generate(model, config, prompt, 300, temperature=0.8, seed=0)
        (run_dir / "sample.txt").write_text(sample + "\n", encoding="utf-8")
        return "sample (temperature 0.8):\n" + sample
