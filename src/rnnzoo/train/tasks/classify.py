"""`classify` and `regress`: whole time series (the UCR/UEA `.ts` archive) to a class or a number.

Data: `--data DIR` holding NAME_TRAIN.ts and NAME_TEST.ts, or `--data TRAIN.ts [--test TEST.ts]`
(`rnnzoo.data.ucr.load_ts`: univariate or multivariate, equal or unequal length, missing values,
string class labels; `regress` takes numeric targets, `@targetLabel true`). The official split is
kept: the TRAIN file trains (by default all of it, the archive's protocol, its own loss picking the
best epoch; `--val-fraction F` holds out a stratified, seeded share for that instead), and the TEST
file is scored once after training (config.json "report"; `rnnzoo evaluate RUN --split test`).

Preprocessing, fitted on the training part only: optional z-normalisation of each series
(`--znorm-series`; every series on its own, so it leaks nothing), then per-channel standardisation
with the mean and standard deviation of the training part's real steps. Missing values are filled by
linear interpolation within their own series and channel (counted and printed; never across series).
Series keep their lengths: batches are padded and the models read `lengths`, so padding never enters
the recurrence.

Models: any registered cell with pooling over its outputs (`--head none`), the RNN-FCN of Karim et
al. 2018 (`--head fcn`, the default: LSTM-FCN with --model lstm, GRU-FCN with --model gru), or an
echo state network read once per series (`--model esn`, `rnnzoo.reservoir.SequenceESN`, fitted in
closed form).
"""

from __future__ import annotations

import math
from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from ...data.ucr import load_ts
from ..run import check_data_file, file_sha256
from . import readout
from .base import Task, validation_sums
from .sentiment import BucketBatches

EVAL_BATCH = 256


def collate(batch, scale: float | None = None):
    """[(series (L_i, D), target)] -> (x (N, L, D) zero-padded, lengths (N,), targets (N,)), and `scale`
    (numeric targets: the standard deviation they were divided by) when given."""
    lengths = torch.tensor([len(s) for s, _ in batch])
    x = torch.zeros(len(batch), int(lengths.max()), batch[0][0].shape[1])
    for i, (s, _) in enumerate(batch):
        x[i, :len(s)] = s
    targets = [t for _, t in batch]
    y = torch.tensor(targets, dtype=torch.long if isinstance(targets[0], int) else torch.float32)
    return (x, lengths, y) if scale is None else (x, lengths, y, scale)


def fill_missing(series: torch.Tensor) -> torch.Tensor:
    """NaNs of one series (L, D) filled linearly between their neighbours in the same channel (the ends
    take the nearest value); a channel with no value at all stays NaN (standardised to 0 later)."""
    if not torch.isnan(series).any():
        return series
    out = series.numpy().astype(np.float64).copy()
    t = np.arange(len(out))
    for d in range(out.shape[1]):
        known = ~np.isnan(out[:, d])
        if known.any() and not known.all():
            out[:, d] = np.interp(t, t[known], out[known, d])
    return torch.from_numpy(out.astype(np.float32))


def znorm(series: torch.Tensor) -> torch.Tensor:
    """One series standardised per channel over its own steps (a constant channel becomes 0)."""
    mean = series.nanmean(0)
    std = torch.sqrt(((series - mean) ** 2).nanmean(0))
    return (series - mean) / torch.where(std > 0, std, torch.ones_like(std))


def stratified_split(labels: list, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, validation indices): `fraction` of each class (rounded, at least one where the
    class has two or more cases) to validation, drawn with `seed`; numeric targets: a plain random draw."""
    g = torch.Generator().manual_seed(seed)
    if fraction == 0:
        return list(range(len(labels))), []
    groups: dict = {}
    for i, label in enumerate(labels):
        groups.setdefault(label if isinstance(label, str) else "", []).append(i)
    train, val = [], []
    for members in groups.values():
        order = [members[i] for i in torch.randperm(len(members), generator=g).tolist()]
        k = min(len(members) - 1, max(1, round(fraction * len(members)))) if len(members) > 1 else 0
        val += order[:k]
        train += order[k:]
    return sorted(train), sorted(val)


def is_file(text: str) -> bool:
    """Whether a command-line input names a file (a long run of numbers is no file name: no OSError)."""
    try:
        return Path(text).is_file()
    except OSError:
        return False


class SeriesTask(Task):
    """What classify and regress share: the files, the split, the preprocessing, the models, the ESN."""

    data_help = ("a folder with NAME_TRAIN.ts and NAME_TEST.ts (UCR/UEA archive format), or a TRAIN .ts file "
                 "(then --test names the test file)")
    pool = "last"
    closed_form_models = ("esn",)
    closed_form_options = readout.OPTIONS
    backprop_options = ("head", "pool", "filters", "kernels", "rnn_dropout")
    # the archive's sets are small (40 to 270 series): many short epochs, cosine-annealed, no early stop
    defaults = dict(Task.defaults, model="lstm", hidden=128, epochs=500, batch_size=16, lr=1e-3, patience=500,
                    lr_schedule="cosine")
    data_types = {"train": str, "test": (str, None), "sha256": dict, "dimensions": int, "val_fraction": float,
                  "seed": int, "znorm_series": bool, "mean": list, "std": list}
    target = False  # numeric targets (regress) rather than classes
    labelled = True  # the files must have labels of that kind (autoencode reads any)

    def add_arguments(self, parser):
        self.add_data_arguments(parser)
        self._model_arguments(parser)

    def add_data_arguments(self, parser):
        from ...checks import float_range
        parser.add_argument("--test", default=None, help="the TEST .ts file, when --data names the TRAIN file")
        parser.add_argument("--val-fraction", type=float_range(0, 1, high_open=True), default=0.0,
                            help="share of the TRAIN file (stratified) held out to pick the best epoch; 0 (the "
                                 "default, the archive's protocol): all of it trains, its loss picks the epoch")
        parser.add_argument("--znorm-series", action="store_true",
                            help="z-normalise every series on its own before the per-channel standardisation")

    def _model_arguments(self, parser):
        from ...checks import float_range, int_range
        parser.add_argument("--head", choices=["fcn", "none"], default="fcn",
                            help="fcn: the RNN-FCN (a convolutional branch beside the recurrent one; default); "
                                 "none: the recurrent layer, pooled, and a linear layer")
        parser.add_argument("--pool", choices=["last", "mean", "max"], default="last",
                            help="how the recurrent outputs become one vector (last real step)")
        parser.add_argument("--filters", type=int_range(1), nargs="+", default=[128, 256, 128],
                            help="fcn: filters of each convolution block (128 256 128)")
        parser.add_argument("--kernels", type=int_range(1), nargs="+", default=[8, 5, 3],
                            help="fcn: kernel size of each block (8 5 3)")
        parser.add_argument("--rnn-dropout", type=float_range(0, 1, high_open=True), default=0.8,
                            help="fcn: dropout on the recurrent branch's output (0.8, as Karim et al.)")
        readout.add_arguments(parser, units=500, leak=0.3)

    # --- data -----------------------------------------------------------------------------------
    def _files(self, data_path, test) -> tuple[Path, Path | None]:
        if data_path is None:
            raise ValueError(f"{self.name} needs --data: a folder with NAME_TRAIN.ts and NAME_TEST.ts, or a .ts file")
        path = Path(data_path)
        if path.is_dir():
            if test is not None:
                raise ValueError("--test applies when --data names the TRAIN file, not a folder")
            found = {}
            for part in ("TRAIN", "TEST"):
                files = sorted(path.glob(f"*_{part}.ts"))
                if len(files) != 1:
                    names = f": {', '.join(f.name for f in files)}" if files else ""
                    raise ValueError(f"--data {path}: expected one *_{part}.ts file in the folder, found "
                                     f"{len(files) or 'none'}{names}")
                found[part] = files[0]
            return found["TRAIN"], found["TEST"]
        if not path.exists():
            raise ValueError(f"--data {path} does not exist")
        if test is not None and not Path(test).is_file():
            raise ValueError(f"--test {test} is not a file")
        return path, (Path(test) if test is not None else None)

    def _read(self, path, argument: str, dims: int | None = None, classes=None):
        """(series, targets, info) of a .ts file, checked against what this task takes."""
        try:
            series, labels, info = load_ts(path)
        except (FileNotFoundError, ValueError) as e:
            raise ValueError(f"{argument}: {e}") from None
        if not self.labelled:
            if dims is not None and info["dimensions"] != dims:
                raise ValueError(f"{argument} {path}: {info['dimensions']} dimension(s), the training file has {dims}")
            return series, labels or [None] * len(series), info
        if not labels:
            raise ValueError(f"{argument} {path}: the file declares no labels (@classLabel true or @targetLabel true)")
        if self.target and not info["target"]:
            raise ValueError(f"{argument} {path}: regress needs numeric targets (@targetLabel true); for class "
                             "labels use 'rnnzoo train classify'")
        if not self.target and info["target"]:
            raise ValueError(f"{argument} {path}: classify needs class labels (@classLabel true); for numeric "
                             "targets use 'rnnzoo train regress'")
        if dims is not None and info["dimensions"] != dims:
            raise ValueError(f"{argument} {path}: {info['dimensions']} dimension(s), the training file has {dims}")
        if classes is not None and set(info["class_labels"]) - set(classes):
            extra = sorted(set(info["class_labels"]) - set(classes))
            raise ValueError(f"{argument} {path}: class label(s) {' '.join(extra)} not in the training file's "
                             f"{' '.join(classes)}")
        return series, labels, info

    def setup(self, args):
        train_path, test_path = self._files(args.data, args.test)
        series, labels, info = self._read(train_path, "--data")
        test = None
        if test_path is not None:
            test = self._read(test_path, "--test", info["dimensions"], info["class_labels"])
        data = {"train": str(train_path.resolve()), "test": str(test_path.resolve()) if test_path else None,
                "sha256": {"train": file_sha256(train_path), **({"test": file_sha256(test_path)} if test_path else {})},
                "problem": info["problem_name"], "dimensions": info["dimensions"],
                "val_fraction": args.val_fraction, "seed": args.seed, "znorm_series": args.znorm_series}
        if self.target:
            targets = [float(t) for t in labels]
        else:
            data["classes"] = list(info["class_labels"]) if info["class_labels"] else None
            targets = labels
        train_idx, val_idx = stratified_split(targets, args.val_fraction, args.seed)
        if not val_idx and args.val_fraction > 0:
            raise ValueError(f"--val-fraction {args.val_fraction}: the TRAIN file's {len(series)} cases leave "
                             "none for validation; use --val-fraction 0 (the training part then picks the best epoch)")
        prepared = [self._prepare_one(series[i], data) for i in train_idx]
        steps = torch.cat(prepared)  # (sum of lengths, D): every real step of the training part
        mean = steps.nanmean(0)
        std = torch.sqrt(((steps - mean) ** 2).nanmean(0))
        data["mean"] = [float(v) if math.isfinite(v) else 0.0 for v in mean.tolist()]
        data["std"] = [float(v) if math.isfinite(v) and v > 0 else 1.0 for v in std.tolist()]
        if self.target:
            y = torch.tensor([targets[i] for i in train_idx], dtype=torch.float64)
            data["target_mean"], data["target_std"] = float(y.mean()), float(y.std()) if len(y) > 1 else 1.0
            data["target_std"] = data["target_std"] or 1.0
        missing = {"train": info["missing_values"], **({"test": test[2]["missing_values"]} if test else {})}
        data["missing"] = missing
        lengths = [len(s) for s in series]
        print(f"data: {info['problem_name'] or train_path.name}: {len(train_idx)} training, {len(val_idx)} validation"
              f"{f', {len(test[0])} test' if test else ''} series; {info['dimensions']} dimension(s), length "
              f"{min(lengths)}{f'-{max(lengths)}' if max(lengths) != min(lengths) else ''}"
              + (f"; {', '.join(f'{n} {k}' for k, n in missing.items() if n)} missing value(s) filled by linear "
                 "interpolation within their series" if any(missing.values()) else ""))
        return data

    @staticmethod
    def _prepare_one(series, data):
        s = fill_missing(series)
        return znorm(s) if data["znorm_series"] else s

    def _standardised(self, series, data):
        mean, std = torch.tensor(data["mean"]), torch.tensor(data["std"])
        out = []
        for s in series:
            s = (self._prepare_one(s, data) - mean) / std
            out.append(torch.nan_to_num(s, nan=0.0))  # a channel that had no value at all: the mean
        return out

    def _target(self, label, data):
        if self.target:
            return (float(label) - data["target_mean"]) / data["target_std"]
        return data["classes"].index(label)

    def _checked(self, path, key, data):
        """A data file of the run, refused if it changed since training (its SHA-256)."""
        check_data_file(path, data["sha256"].get(key), key)
        return path

    def cases(self, data, split: str, path=None) -> list[tuple[torch.Tensor, object]]:
        """[(standardised series (L_i, D), target)] of "train", "val" or "test" (or of the file at `path`)."""
        if path is not None:
            series, labels, _ = self._read(path, "--data", data["dimensions"], data.get("classes"))
        elif split == "test":
            if data["test"] is None:
                raise ValueError("this run has no test file; give --data TEST.ts")
            series, labels, _ = self._read(self._checked(data["test"], "test", data), "test",
                                           data["dimensions"], data.get("classes"))
        else:
            series, labels, _ = self._read(self._checked(data["train"], "train", data), "--data")
            targets = [float(t) for t in labels] if self.target else labels
            train_idx, val_idx = stratified_split(targets, data["val_fraction"], data["seed"])
            keep = train_idx if split == "train" or not val_idx else val_idx  # no validation part: the training one
            series, labels = [series[i] for i in keep], [labels[i] for i in keep]
        return list(zip(self._standardised(series, data), [self._target(t, data) for t in labels]))

    def _loader(self, cases, data, batch_size, shuffle, seed=0, rank=0, world=1):
        sampler = BucketBatches([len(s) for s, _ in cases], batch_size, shuffle, seed, rank, world)
        return DataLoader(cases, batch_sampler=sampler, collate_fn=partial(collate, scale=data.get("target_std")))

    def loaders(self, args, data, rank=0, world=1):
        return (self._loader(self.cases(data, "train"), data, args.batch_size, True, args.seed, rank, world),
                self._loader(self.cases(data, "val"), data, EVAL_BATCH, False))

    def evaluation_loader(self, config, data_path, split="val"):
        return self._loader(self.cases(config["data"], split, data_path), config["data"], EVAL_BATCH, False)

    # --- models ---------------------------------------------------------------------------------
    def model_config(self, args, data):
        out = len(data["classes"]) if not self.target else 1
        config = {"input_size": data["dimensions"], "output_size": out, "pool": args.pool, "head": args.head}
        if args.head == "fcn":
            config.update(filters=list(args.filters), kernels=list(args.kernels), rnn_dropout=args.rnn_dropout)
            if len(args.filters) != len(args.kernels):
                raise ValueError(f"--filters and --kernels must have as many values, got {len(args.filters)} "
                                 f"and {len(args.kernels)}")
        return config

    def build_model(self, model_config):
        from ...models import RNNFCN, SequenceModel
        from ...reservoir import SequenceESN
        c = dict(model_config)
        if c.get("class") == "SequenceESN":
            return SequenceESN(**{k: v for k, v in c.items() if k != "class"})
        head = c.pop("head", None)
        if head == "fcn" or "filters" in c:
            if head == "fcn" and c.pop("io_dropout", 0.0):
                raise ValueError("--io-dropout applies to --head none; the fcn head's dropout is --rnn-dropout")
            return RNNFCN(**c)
        return SequenceModel(**c)

    # --- --model esn: closed form -----------------------------------------------------------------
    def fit(self, args, data, run_dir):
        cases = self.cases(data, "train")
        x, lengths, y = collate(cases)
        out = len(data["classes"]) if not self.target else 1
        model = readout.build(args, data["dimensions"], out)
        model.fit(x, lengths, targets=F.one_hot(y, out).double() if not self.target else y[:, None].double())
        return readout.finish(self, model, args, data, run_dir, len(cases),
                              self._loader(self.cases(data, "val"), data, EVAL_BATCH, False))

    # --- after training -------------------------------------------------------------------------
    def evaluate(self, model, config, data_path=None, split=None):
        split = split or ("test" if data_path is not None else "val")
        return self.metrics_from_sums(validation_sums(self, model, self.evaluation_loader(config, data_path, split)))

    def report(self, model, config, run_dir):
        if config["data"]["test"] is None:
            return {}
        return {f"test_{k}": v for k, v in self.evaluate(model, config, split="test").items()}

    def outputs(self, model, config, split="test", path=None):
        """(outputs (N, O), targets (N,)) of the model on a split, in file order."""
        outs, targets = [], []
        with torch.no_grad():
            for x, lengths, y in DataLoader(self.cases(config["data"], split, path), EVAL_BATCH, collate_fn=collate):
                outs.append(model(x, lengths=lengths)[0])
                targets.append(y)
        return torch.cat(outs), torch.cat(targets)

    def _series_inputs(self, config, inputs) -> list[torch.Tensor]:
        """`predict`'s inputs: one .ts file (labels optional), or series written as a .ts case each
        ("1,2,3" univariate; "1,2,3:4,5,6" one dimension per ':')."""
        from ...data.ucr import _values
        data = config["data"]
        if not inputs:
            raise ValueError("predict needs a .ts file or series such as 1,2,3 (one dimension per ':')")
        if len(inputs) == 1 and is_file(inputs[0]):
            series, _, info = load_ts(inputs[0])
            if info["dimensions"] != data["dimensions"]:
                raise ValueError(f"{inputs[0]}: {info['dimensions']} dimension(s), the run takes {data['dimensions']}")
            return series
        series = []
        for k, text in enumerate(inputs, start=1):
            fields = text.split(":")
            if len(fields) != data["dimensions"]:
                raise ValueError(f"series {k}: {len(fields)} dimension(s) (':'-separated), the run takes "
                                 f"{data['dimensions']}")
            columns = [_values(f, Path(f"series {k}"), 1, d) for d, f in enumerate(fields, start=1)]
            if len({len(c) for c in columns}) > 1:
                raise ValueError(f"series {k}: its dimensions have different lengths "
                                 f"{', '.join(str(len(c)) for c in columns)}")
            series.append(torch.from_numpy(np.stack(columns, 1).astype(np.float32)))
        return series

    def _predictions(self, model, config, inputs):
        series = self._series_inputs(config, inputs)
        cases = [(s, 0 if not self.target else 0.0) for s in self._standardised(series, config["data"])]
        x, lengths = collate(cases)[:2]
        with torch.no_grad():
            return model(x, lengths=lengths)[0]


class Classify(SeriesTask):
    name = "classify"
    description = "classify whole time series (UCR/UEA .ts): any cell, the RNN-FCN, or an ESN"
    monitor, mode = "val_loss", "min"
    data_types = dict(SeriesTask.data_types, classes=list)

    def step(self, model, batch, carry=None):
        x, lengths, y = batch
        logits = model(x, lengths=lengths)[0]
        loss = F.cross_entropy(logits, y)
        correct = (logits.argmax(1) == y).sum().item()
        return loss, {"correct": correct, "count": len(y), "loss_sum": loss.item() * len(y)}, None

    def metrics_from_sums(self, sums):
        return {"accuracy": sums["correct"] / sums["count"], "loss": sums["loss_sum"] / sums["count"]}

    def report(self, model, config, run_dir):
        report = super().report(model, config, run_dir)
        if report:
            logits, y = self.outputs(model, config)
            C = len(config["data"]["classes"])
            confusion = torch.zeros(C, C, dtype=torch.long)
            confusion.index_put_((y, logits.argmax(1)), torch.ones(len(y), dtype=torch.long), accumulate=True)
            report["test_confusion"] = confusion.tolist()  # rows: true class, columns: predicted
        return report

    def plot(self, model, config, run_dir):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        split = "test" if config["data"]["test"] else "val"
        logits, y = self.outputs(model, config, split)
        classes = config["data"]["classes"]
        C = len(classes)
        confusion = torch.zeros(C, C, dtype=torch.long)
        confusion.index_put_((y, logits.argmax(1)), torch.ones(len(y), dtype=torch.long), accumulate=True)
        size = min(10, 2.5 + 0.45 * C)
        fig, ax = plt.subplots(figsize=(size, size * 0.9))
        ax.imshow(confusion.numpy(), cmap="Blues")
        for i in range(C):
            for j in range(C):
                ax.text(j, i, int(confusion[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if confusion[i, j] > confusion.max() / 2 else "black")
        ax.set_xticks(range(C), classes, rotation=90 if C > 8 else 0)
        ax.set_yticks(range(C), classes)
        accuracy = float((logits.argmax(1) == y).float().mean())
        ax.set(xlabel="predicted", ylabel="true", title=f"{config['data'].get('problem') or ''} {split}: "
               f"accuracy {accuracy:.3f} ({len(y)} series)")
        fig.tight_layout()
        fig.savefig(run_dir / "plots" / "confusion.png", dpi=100)
        plt.close(fig)
        return ["confusion.png"]

    def predict(self, model, config, inputs):
        probs = torch.softmax(self._predictions(model, config, inputs).double(), 1)
        classes = config["data"]["classes"]
        return [f"series {k}: {classes[int(p.argmax())]} (p = {float(p.max()):.3f})"
                for k, p in enumerate(probs, start=1)]

    def summary(self, model, config, run_dir):
        r = config.get("report")
        return f"test accuracy {r['test_accuracy']:.4f} ({config['data'].get('problem') or 'test file'})" if r else ""


class Regress(SeriesTask):
    name = "regress"
    description = "regress whole time series to a number (.ts files with @targetLabel true): RMSE"
    monitor, mode = "val_rmse", "min"
    target = True
    data_types = dict(SeriesTask.data_types, target_mean=float, target_std=float)

    def step(self, model, batch, carry=None):
        x, lengths, y, scale = batch  # the model works on standardised targets; rmse is in their own units
        out = model(x, lengths=lengths)[0][:, 0]
        loss = F.mse_loss(out, y)
        return loss, {"sq_err": float(((out.detach() - y) ** 2).sum()) * scale ** 2, "count": len(y),
                      "loss_sum": loss.item() * len(y)}, None

    def metrics_from_sums(self, sums):
        return {"rmse": math.sqrt(sums["sq_err"] / sums["count"]), "loss": sums["loss_sum"] / sums["count"]}

    def plot(self, model, config, run_dir):
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        data = config["data"]
        split = "test" if data["test"] else "val"
        out, y = self.outputs(model, config, split)
        pred = out[:, 0].double() * data["target_std"] + data["target_mean"]
        true = y.double() * data["target_std"] + data["target_mean"]
        fig, ax = plt.subplots(figsize=(4.8, 4.5))
        ax.scatter(true, pred, s=12, alpha=0.7)
        low, high = float(min(true.min(), pred.min())), float(max(true.max(), pred.max()))
        ax.plot([low, high], [low, high], c="0.5", lw=1, ls="--")
        rmse = float(((pred - true) ** 2).mean().sqrt())
        ax.set(xlabel="true", ylabel="predicted", title=f"{split}: RMSE {rmse:.4g} ({len(y)} series)")
        fig.tight_layout()
        fig.savefig(run_dir / "plots" / "predictions.png", dpi=100)
        plt.close(fig)
        return ["predictions.png"]

    def predict(self, model, config, inputs):
        data = config["data"]
        out = self._predictions(model, config, inputs)[:, 0].double() * data["target_std"] + data["target_mean"]
        return [f"series {k}: {float(v):.6g}" for k, v in enumerate(out, start=1)]

    def summary(self, model, config, run_dir):
        r = config.get("report")
        return f"test RMSE {r['test_rmse']:.6g}" if r else ""
