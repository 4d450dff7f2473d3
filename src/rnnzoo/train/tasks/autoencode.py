"""`autoencode`: a sequence autoencoder (`rnnzoo.models.SeqAutoencoder`) trained on a set of series, no labels.

Data as `classify` reads it (`--data DIR` with NAME_TRAIN.ts and NAME_TEST.ts, or one .ts file; labels,
where the files have them, are kept only to score a clustering against): the same per-channel
standardisation from the training part, missing values interpolated within their series, lengths kept.
The model encodes each series into a code of `--code-size` values and reconstructs it; the loss is the
mean squared error over real steps. After training the run records the reconstruction error on the TEST
file, and `rnnzoo cluster RUN` clusters the codes (k-means or agglomerative, scikit-learn) and scores the
clustering against the labels (adjusted Rand index, NMI).
"""

from __future__ import annotations

import torch

from .base import validation_sums
from .classify import SeriesTask


class Autoencode(SeriesTask):
    name = "autoencode"
    description = "a sequence autoencoder on .ts series (no labels): codes for 'rnnzoo cluster'"
    monitor, mode = "val_loss", "min"
    labelled = False
    closed_form_models = closed_form_options = backprop_options = ()
    defaults = dict(SeriesTask.defaults, model="gru", hidden=64, epochs=200, batch_size=16, lr=2e-3,
                    patience=200, lr_schedule="cosine")
    data_types = {k: v for k, v in SeriesTask.data_types.items()}

    def add_arguments(self, parser):
        from ...checks import int_range
        self.add_data_arguments(parser)
        parser.add_argument("--code-size", type=int_range(0), default=8,
                            help="values in a series' code (8; 0: the encoder's final state as it is)")
        parser.add_argument("--decoder-input", choices=["repeat", "teacher"], default="repeat",
                            help="the decoder reads the code at every step (repeat, Keras' RepeatVector) or its "
                                 "previous step (teacher forcing)")

    def _target(self, label, data):
        return 0  # no target: the series is its own

    def model_config(self, args, data):
        return {"input_size": data["dimensions"], "code_size": args.code_size, "decoder_input": args.decoder_input}

    def build_model(self, model_config):
        from ...models import SeqAutoencoder
        c = dict(model_config)
        for key, default in (("merge", "concat"), ("recurrent_dropout", 0.0), ("io_dropout", 0.0)):
            if c.pop(key, default) != default:
                raise ValueError(f"--{key.replace('_', '-')} does not apply to the sequence autoencoder")
        return SeqAutoencoder(c.pop("cell"), **c)

    def step(self, model, batch, carry=None):
        x, lengths, _ = batch
        loss = model.loss(x, lengths)
        real = int(lengths.sum()) * x.shape[2]
        return loss, {"sq_err": loss.item() * real, "count": real}, None

    def metrics_from_sums(self, sums):
        return {"loss": sums["sq_err"] / sums["count"]}

    def report(self, model, config, run_dir):
        if config["data"]["test"] is None:
            return {}
        return {"test_loss": self.evaluate(model, config, split="test")["loss"]}

    def codes(self, model, config, split: str = "all", path=None):
        """(codes (N, C), labels or None) of the series of the TRAIN file ("train"), the TEST file ("test"),
        both ("all"), or the .ts file at `path`, in file order."""
        from torch.utils.data import DataLoader

        from .classify import collate
        data = config["data"]
        if path is not None:
            files = [path]
        else:
            files = [self._checked(data[k], k, data) for k in (("train", "test") if split == "all" else (split,))
                     if data[k] is not None]
            if not files:
                raise ValueError("this run has no test file; use --split train or all")
        series, labels = [], []
        for file in files:
            file_series, file_labels, _ = self._read(file, "--data", data["dimensions"])
            series += file_series
            labels += file_labels
        cases = [(s, 0) for s in self._standardised(series, data)]
        with torch.no_grad():
            codes = [model.encode(x, lengths) for x, lengths, _ in DataLoader(cases, 256, collate_fn=collate)]
        return torch.cat(codes), (labels if any(label is not None for label in labels) else None)

    def plot(self, model, config, run_dir):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from torch.utils.data import DataLoader

        from .classify import collate
        split = "test" if config["data"]["test"] else "val"
        cases = self.cases(config["data"], split)[:6]
        x, lengths, _ = next(iter(DataLoader(cases, len(cases), collate_fn=collate)))
        with torch.no_grad():
            recon = model.reconstruct(x, lengths)
        fig, axes = plt.subplots(len(cases), 1, figsize=(7, 1.4 * len(cases)), sharex=True, squeeze=False)
        for i, ax in enumerate(axes[:, 0]):
            n = int(lengths[i])
            ax.plot(x[i, :n, 0], c="k", lw=1, label="series")
            ax.plot(recon[i, :n, 0], c="tab:red", lw=1, ls="--", label="reconstruction")
        axes[0, 0].legend(fontsize=7)
        axes[0, 0].set_title(f"{split}: the first channel of {len(cases)} series and their reconstructions")
        fig.tight_layout()
        fig.savefig(run_dir / "plots" / "reconstructions.png", dpi=100)
        plt.close(fig)
        return ["reconstructions.png"]

    def summary(self, model, config, run_dir):
        r = config.get("report")
        return f"test reconstruction error {r['test_loss']:.4g} (mean squared, standardised units)" if r else ""

    def evaluate(self, model, config, data_path=None, split=None):
        split = split or ("test" if data_path is not None else "val")
        return self.metrics_from_sums(validation_sums(self, model, self.evaluation_loader(config, data_path, split)))
