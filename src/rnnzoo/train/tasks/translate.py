"""`translate`: an encoder-decoder (`rnnzoo.models.Seq2Seq`) on sentence pairs; BLEU and chrF by sacrebleu.

Data: a TAB-separated file of pairs (`rnnzoo.data.pairs`; Tatoeba's fra.txt: English TAB French),
pairs of at most `--max-words` words on both sides. Moses tokenisation (sacremoses), lower-cased.
The split is drawn per distinct source sentence (seeded; `split_by_source`), so no source is in two
splits and every translation of a test source is one of its references; the run directory keeps it
(split.tsv, the validation and test sources). The vocabularies come from the training split only,
words seen at least `--min-freq` times; the rest map to <unk>.

Training: teacher forcing, cross-entropy over the real target tokens; validation loss picks the best
epoch. After training, the best model translates the test sources (greedy and beam search) and the
run records corpus BLEU and chrF (sacrebleu: 13a tokenisation, case-insensitive, on detokenised
text, every reference), BLEU by source length, samples (translations.txt) and attention heat maps;
`rnnzoo evaluate RUN --split test --beam K` recomputes them from the run directory alone.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from ...data import pairs as pairdata
from ...models.seq2seq import adaptive_cutoffs
from ..run import file_sha256
from .base import Task
from .sentiment import BucketBatches

SPLIT_FILE = "split.tsv"
TRANSLATIONS = "translations.txt"
BUCKETS = ((1, 3), (4, 5), (6, 7), (8, 10), (11, None))  # source words (whitespace-separated)
REPORT_BEAM = 5
DECODE_BATCH = 128  # sentences decoded together


def bucket_name(low, high) -> str:
    return f"{low}-{high}" if high is not None else f"{low}+"


def collate(batch):
    """[(source ids, target ids with <s> and </s>)] -> (src (N, S), src lengths, tgt (N, T+1), tgt lengths)."""
    src_len = torch.tensor([len(s) for s, _ in batch])
    tgt_len = torch.tensor([len(t) for _, t in batch])
    src = torch.zeros(len(batch), int(src_len.max()), dtype=torch.long)
    tgt = torch.zeros(len(batch), int(tgt_len.max()), dtype=torch.long)
    for i, (s, t) in enumerate(batch):
        src[i, :len(s)], tgt[i, :len(t)] = s, t
    return src, src_len, tgt, tgt_len


class Translate(Task):
    name = "translate"
    description = "sentence translation with an encoder-decoder (attention, beam search; BLEU by sacrebleu)"
    data_help = "a TAB-separated file of sentence pairs (Tatoeba/manythings format, e.g. fra.txt)"
    monitor, mode = "val_loss", "min"
    # 6 epochs on a cosine schedule: the LR falls to near zero as the run ends. On fra.txt (<= 10 words)
    # this took validation loss from 1.66 (30 epochs, halved on plateaus; ~7 done in 30 minutes) to 1.43,
    # and test BLEU with beam 5 from 31.7 to 36.5 (20 minutes on two cores; benchmarks/translate.py)
    defaults = dict(Task.defaults, model="gru", hidden=256, layers=1, epochs=6, batch_size=64, lr=2e-3,
                    patience=3, io_dropout=0.2, bidirectional=True, lr_schedule="cosine")
    data_types = {"path": str, "reverse": bool, "source_lang": str, "target_lang": str, "max_words": int,
                  "seed": int, "source_vocab": dict, "target_vocab": dict, "val_fraction": float,
                  "test_fraction": float, "split_sha256": str}

    def add_arguments(self, parser):
        from ...checks import float_range, int_range
        from ...models.seq2seq import ATTENTION
        parser.add_argument("--source-lang", default="en", help="source language code for tokenising (en)")
        parser.add_argument("--target-lang", default="fr", help="target language code for tokenising (fr)")
        parser.add_argument("--reverse", action="store_true",
                            help="translate from the second column to the first (swaps the languages too)")
        parser.add_argument("--max-words", type=int_range(0), default=10,
                            help="keep pairs of at most N words on both sides (10; 0: all)")
        parser.add_argument("--min-freq", type=int_range(1), default=2,
                            help="words seen fewer times in the training split are unknown (2)")
        parser.add_argument("--embed", type=int_range(1), default=256, help="word embedding size (256)")
        parser.add_argument("--attention", choices=ATTENTION, default="general",
                            help="none, dot or general (Luong), bahdanau (additive) (general)")
        parser.add_argument("--input-feeding", action="store_true",
                            help="feed the previous attentional vector to the decoder (Luong; steps the decoder)")
        parser.add_argument("--reverse-source", action="store_true",
                            help="read each source sentence backwards (Sutskever et al. 2014)")
        parser.add_argument("--tie-embeddings", action="store_true",
                            help="the output layer shares the target embedding's weights (with --softmax full)")
        parser.add_argument("--softmax", choices=("adaptive", "full"), default="adaptive",
                            help="adaptive (Grave et al. 2017: about twice the sentences a second; a full softmax "
                                 "for target vocabularies of 2,000 words or fewer) or full")
        fraction = float_range(0, 1, low_open=True, high_open=True)
        parser.add_argument("--val-fraction", type=fraction, default=0.1,
                            help="share of the distinct source sentences for validation (0.1)")
        parser.add_argument("--test-fraction", type=fraction, default=0.1,
                            help="share of the distinct source sentences for the test split (0.1)")
        parser.add_argument("--no-report", dest="report", action="store_false",
                            help="skip the test BLEU after training (rnnzoo evaluate RUN --split test gives it)")
        parser.add_argument("--limit", type=int_range(0), default=0,
                            help="use only the first N pairs of the file (tests; 0: all)")

    # --- data ---------------------------------------------------------------------------------
    def setup(self, args):
        if args.data is None:
            raise ValueError("translate needs --data PAIRS: a TAB-separated file of sentence pairs "
                             "(e.g. fra.txt from manythings.org/anki)")
        source_lang, target_lang = (args.target_lang, args.source_lang) if args.reverse else (args.source_lang,
                                                                                            args.target_lang)
        data = {"path": str(Path(args.data).resolve()), "reverse": args.reverse, "source_lang": source_lang,
                "target_lang": target_lang, "max_words": args.max_words, "limit": args.limit, "seed": args.seed,
                "min_freq": args.min_freq, "val_fraction": args.val_fraction, "test_fraction": args.test_fraction,
                "report": args.report}
        try:
            pairdata.Tokenizer(source_lang), pairdata.Tokenizer(target_lang)
        except ValueError as e:
            raise ValueError(f"--source-lang/--target-lang: {e}") from None
        parts = self._parts(data)
        train = parts["train"]
        src_vocab = pairdata.SentenceVocab.build([s for s, _, _ in train], max_size=10 ** 9, min_freq=args.min_freq)
        tgt_vocab = pairdata.SentenceVocab.build([t for _, t, _ in train], max_size=10 ** 9, min_freq=args.min_freq)
        file = pairdata.tokenized_pairs(data["path"], data["reverse"], source_lang, target_lang, args.limit)[0]
        counts = {name: {"pairs": len(p), "sources": len({tuple(s) for s, _, _ in p})} for name, p in parts.items()}
        if os.environ.get("LOCAL_RANK", "0") == "0":  # once, not in every process DDP starts
            shares = ", ".join(f"{name} {c['pairs']} ({c['sources']} sources)" for name, c in counts.items())
            print(f"data: {sum(c['pairs'] for c in counts.values())} pairs of at most {args.max_words or 'any'} words "
                  f"({file.blank_lines} blank lines skipped): {shares}; vocabularies (words seen >= {args.min_freq} "
                  f"times in training): source {len(src_vocab)}, target {len(tgt_vocab)}")
        return dict(data, source_vocab=src_vocab.to_dict(), target_vocab=tgt_vocab.to_dict(),
                    blank_lines=file.blank_lines, counts=counts, data_sha256=file_sha256(data["path"]),
                    split_sha256=hashlib.sha256(self._split_text(parts).encode()).hexdigest())

    def _parts(self, data, path=None):
        """{"train"|"val"|"test": [(source tokens, target tokens, (source text, target text))]}."""
        file, src, tgt = pairdata.tokenized_pairs(path or data["path"], data["reverse"], data["source_lang"],
                                                  data["target_lang"], data["limit"])
        rows = [(s, t, pair) for s, t, pair in zip(src, tgt, file.pairs)]
        if data["max_words"]:
            rows = [r for r in rows if len(r[2][0].split()) <= data["max_words"]
                    and len(r[2][1].split()) <= data["max_words"]]
        if not rows:
            raise ValueError(f"--data {path or data['path']}: no pair has at most {data['max_words']} words on both "
                             "sides (--max-words)")
        try:
            splits = pairdata.split_by_source([" ".join(s) for s, _, _ in rows], data["seed"], data["val_fraction"],
                                              data["test_fraction"])
        except ValueError as e:
            raise ValueError(f"--data {path or data['path']}: {e}") from None
        parts = {name: [] for name in pairdata.SPLITS}
        for row, split in zip(rows, splits):
            parts[split].append(row)
        return parts

    @staticmethod
    def _split_text(parts) -> str:
        """split.tsv: the validation and test pairs (split, source, target), one a line, in file order."""
        return "".join(f"{name}\t{src}\t{tgt}\n" for name in ("val", "test") for _, _, (src, tgt) in parts[name])

    def save_data(self, data, run_dir):
        from ..run import atomic_write
        atomic_write(Path(run_dir) / SPLIT_FILE, self._split_text(self._parts(data)).encode())

    def _checked_parts(self, data, path=None):
        """The split of the run's file (or `path`), refused when it is not the one the run drew."""
        parts = self._parts(data, path)
        if path is None and hashlib.sha256(self._split_text(parts).encode()).hexdigest() != data["split_sha256"]:
            raise ValueError(f"--data {data['path']}: the file changed since training (its split differs from the "
                             f"run's {SPLIT_FILE}); give the file the run was trained on")
        return parts

    def vocabs(self, data):
        return (pairdata.SentenceVocab.from_dict(data["source_vocab"]),
                pairdata.SentenceVocab.from_dict(data["target_vocab"]))

    def _encoded(self, rows, data):
        src_vocab, tgt_vocab = self.vocabs(data)
        bos, eos = torch.tensor([tgt_vocab.BOS]), torch.tensor([tgt_vocab.EOS])
        return [(src_vocab.encode(s), torch.cat([bos, tgt_vocab.encode(t), eos])) for s, t, _ in rows]

    def _loader(self, encoded, batch_size, shuffle, seed=0, rank=0, world=1):
        sampler = BucketBatches([len(s) for s, _ in encoded], batch_size, shuffle, seed, rank, world)
        return DataLoader(encoded, batch_sampler=sampler, collate_fn=collate)

    def loaders(self, args, data, rank=0, world=1):
        parts = self._parts(data)
        return (self._loader(self._encoded(parts["train"], data), args.batch_size, True, args.seed, rank, world),
                self._loader(self._encoded(parts["val"], data), 256, False))

    # --- model --------------------------------------------------------------------------------
    def model_config(self, args, data):
        src_vocab, tgt_vocab = self.vocabs(data)
        return {"source_vocab": len(src_vocab), "target_vocab": len(tgt_vocab), "embed_dim": args.embed,
                "attention": args.attention, "input_feeding": args.input_feeding,
                "reverse_source": args.reverse_source, "tie_embeddings": args.tie_embeddings,
                # the adaptive softmax needs a vocabulary larger than its head cluster
                "softmax": args.softmax if adaptive_cutoffs(len(tgt_vocab)) else "full",
                "bos_id": pairdata.SentenceVocab.BOS, "eos_id": pairdata.SentenceVocab.EOS}

    def build_model(self, model_config):
        from ...models import Seq2Seq
        config = dict(model_config)
        if config.pop("merge", "concat") != "concat":
            raise ValueError("--merge: the encoder's two directions are concatenated for attention; "
                             "translate takes --merge concat only")
        return Seq2Seq(**config)

    # --- training -----------------------------------------------------------------------------
    def step(self, model, batch, carry=None):
        src, src_len, tgt, tgt_len = batch
        features, _ = model.features(src, src_len, tgt[:, :-1], tgt_len - 1)
        target = tgt[:, 1:]
        real = target != 0  # the output layer and its softmax run on real target tokens only
        loss = model.loss(features[real], target[real])
        n = int(real.sum())
        sums = {"loss_sum": loss.item() * n, "count": n}
        if not model.training:  # the likeliest word costs a full softmax: in validation only
            sums["correct"] = int((model.predict(features[real]) == target[real]).sum())
        return loss, sums, None

    def metrics_from_sums(self, sums):
        metrics = {"loss": sums["loss_sum"] / sums["count"]}
        if "correct" in sums:
            metrics["accuracy"] = sums["correct"] / sums["count"]
        return metrics

    def evaluation_loader(self, config, data_path, split="val"):
        parts = self._checked_parts(config["data"], data_path)
        return self._loader(self._encoded(parts[split], config["data"]), 256, False)

    # --- translating and scoring --------------------------------------------------------------
    def translate(self, model, config, sentences, beam: int = 1, length_penalty: float = 1.0):
        """Translations of raw source sentences: (texts, unknown source words of each, attention of each
        ((output tokens + 1, source tokens) or None), source tokens, output tokens)."""
        data = config["data"]
        src_vocab, tgt_vocab = self.vocabs(data)
        src_tok, tgt_tok = pairdata.Tokenizer(data["source_lang"]), pairdata.Tokenizer(data["target_lang"])
        tokens = [src_tok.tokenize(s) for s in sentences]
        empty = next((s for s, t in zip(sentences, tokens) if not t), None)
        if empty is not None:
            raise ValueError(f"the sentence {empty!r} has no words to translate")
        results = [None] * len(tokens)
        # batches of sentences of similar length: little padding, and a batch ends when its longest does
        order = sorted(range(len(tokens)), key=lambda i: len(tokens[i]))
        for start in range(0, len(order), DECODE_BATCH):
            rows = order[start:start + DECODE_BATCH]
            ids = [src_vocab.encode(tokens[i]) for i in rows]
            src_len = torch.tensor([len(i) for i in ids])
            src = torch.zeros(len(ids), int(src_len.max()), dtype=torch.long)
            for i, row in enumerate(ids):
                src[i, :len(row)] = row
            with torch.no_grad():
                out, att = (model.greedy(src, src_len) if beam == 1 else
                            model.decode(src, src_len, beam=beam, length_penalty=length_penalty))
            for i, row, o, a in zip(rows, ids, out, att):
                words = tgt_vocab.decode(o)
                unknown = [w for w, j in zip(tokens[i], row.tolist()) if j == src_vocab.UNK]
                results[i] = (tgt_tok.detokenize(words), unknown, a, words)
        texts, unknown, attention, outputs = (list(column) for column in zip(*results))
        return texts, unknown, attention, tokens, outputs

    def score(self, model, config, split="test", beam=REPORT_BEAM, data_path=None) -> dict:
        """Corpus BLEU and chrF (sacrebleu) of the split's distinct sources against all their references,
        overall and by source length; with the metrics' signatures."""
        import sacrebleu
        parts = self._checked_parts(config["data"], data_path)
        references: dict[str, list[str]] = {}
        for _, _, (src, tgt) in parts[split]:
            references.setdefault(src, []).append(tgt)
        sources = list(references)
        hypotheses = self.translate(model, config, sources, beam)[0]
        most = max(len(r) for r in references.values())
        streams = [[refs[i] if i < len(refs) else None for refs in references.values()] for i in range(most)]
        bleu, chrf = sacrebleu.BLEU(lowercase=True), sacrebleu.CHRF(lowercase=True)
        result = {"bleu": bleu.corpus_score(hypotheses, streams).score,
                  "chrf": chrf.corpus_score(hypotheses, streams).score,
                  "sentences": len(sources), "references": sum(len(r) for r in references.values()),
                  "beam": beam}
        for low, high in BUCKETS:
            rows = [i for i, s in enumerate(sources) if low <= len(s.split()) <= (high or 10 ** 9)]
            if rows:
                sub = [[stream[i] for i in rows] for stream in streams]
                sub = [s for s in sub if any(r is not None for r in s)]
                result[f"bleu_{bucket_name(low, high)}"] = bleu.corpus_score([hypotheses[i] for i in rows], sub).score
                result[f"sentences_{bucket_name(low, high)}"] = len(rows)
        result["signature_bleu"] = str(bleu.get_signature())
        result["signature_chrf"] = str(chrf.get_signature())
        return result

    def evaluate(self, model, config, data_path=None, split=None, beam=None):
        """Validation loss and token accuracy (as logged) by default; BLEU and chrF of `split` ("val" or
        "test") with `beam` (default 5) when either is given."""
        if split is None and beam is None:
            return super().evaluate(model, config, data_path)
        return self.score(model, config, split or "test", beam or REPORT_BEAM, data_path)

    def report(self, model, config, run_dir):
        """Test BLEU and chrF, greedy and with beam 5, and the sample translations file."""
        if not config["data"].get("report", True):
            return {}
        report = {"test_greedy": self.score(model, config, "test", 1),
                  "test_beam": self.score(model, config, "test", REPORT_BEAM)}
        self._write_samples(model, config, run_dir)
        return report

    def _write_samples(self, model, config, run_dir, count=30):
        from ..run import atomic_write
        parts = self._checked_parts(config["data"])
        references: dict[str, list[str]] = {}
        for _, _, (src, tgt) in parts["test"]:
            references.setdefault(src, []).append(tgt)
        sources = list(references)[:count]
        greedy = self.translate(model, config, sources, 1)[0]
        beam = self.translate(model, config, sources, REPORT_BEAM)[0]
        lines = []
        for src, g, b in zip(sources, greedy, beam):
            lines += [f"source:     {src}", *(f"reference:  {r}" for r in references[src]),
                      f"greedy:     {g}", f"beam {REPORT_BEAM}:     {b}", ""]
        atomic_write(Path(run_dir) / TRANSLATIONS, "\n".join(lines).encode())

    def plot(self, model, config, run_dir):
        """Attention heat maps of four test sentences, and BLEU by source length (greedy and beam)."""
        import matplotlib.pyplot as plt
        names = []
        report = config.get("report")
        if report:
            fig, ax = plt.subplots(figsize=(5.5, 3.4))
            for key, label in (("test_greedy", "greedy"), ("test_beam", f"beam {REPORT_BEAM}")):
                xs = [bucket_name(lo, hi) for lo, hi in BUCKETS if f"bleu_{bucket_name(lo, hi)}" in report[key]]
                ax.plot(xs, [report[key][f"bleu_{x}"] for x in xs], "o-", label=label)
            ax.set(xlabel="source words", ylabel="BLEU", title="test BLEU by source length")
            ax.legend()
            fig.tight_layout()
            fig.savefig(Path(run_dir) / "plots" / "bleu_by_length.png", dpi=100)
            plt.close(fig)
            names.append("bleu_by_length.png")
        if model.attention != "none":
            names.append(self.plot_attention(model, config, Path(run_dir) / "plots" / "attention.png"))
        return names

    def plot_attention(self, model, config, path, count=4):
        import matplotlib.pyplot as plt
        parts = self._checked_parts(config["data"])
        sources = sorted({src for _, _, (src, _) in parts["test"]}, key=lambda s: (-len(s.split()), s))[:count]
        _, _, attention, tokens, outputs = self.translate(model, config, sources, REPORT_BEAM)
        fig, axes = plt.subplots(1, len(sources), figsize=(4.2 * len(sources), 4.2), squeeze=False)
        for ax, att, src, out in zip(axes[0], attention, tokens, outputs):
            weights = att.numpy()  # (output tokens + </s>, source tokens)
            if model.reverse_source:
                weights = weights[:, ::-1]  # columns in the source's reading order
            ax.imshow(weights, cmap="Greys", vmin=0, vmax=1)
            ax.set_xticks(range(len(src)), src, rotation=90)
            ax.set_yticks(range(len(out) + 1), out + ["</s>"])
        fig.suptitle("attention (beam 5): where each output word looks")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        return Path(path).name

    def summary(self, model, config, run_dir):
        report = config.get("report") or {}
        lines = []
        for key, label in (("test_greedy", "greedy"), ("test_beam", f"beam {REPORT_BEAM}")):
            if key in report:
                r = report[key]
                lines.append(f"test ({r['sentences']} sources, {r['references']} references), {label}: "
                             f"BLEU {r['bleu']:.2f}, chrF {r['chrf']:.2f}")
        if lines:
            lines.append(f"  {report['test_beam']['signature_bleu']}")
            lines.append(f"samples: {Path(run_dir) / TRANSLATIONS}")
        return "\n".join(lines)

    def predict(self, model, config, inputs, beam: int = REPORT_BEAM):
        if not inputs:
            raise ValueError("translate needs a sentence")
        return [self.translate_one(model, config, " ".join(inputs), beam)[0]]

    def translate_one(self, model, config, sentence: str, beam: int = REPORT_BEAM, length_penalty: float = 1.0):
        """(translation, unknown words) of one sentence, refused when empty or over the run's --max-words."""
        words = sentence.split()
        limit = config["data"]["max_words"]
        if not words:
            raise ValueError("the sentence is empty: give a sentence to translate")
        if limit and len(words) > limit:
            raise ValueError(f"the sentence has {len(words)} words; this model was trained on sentences of at most "
                             f"{limit} (--max-words); translate it in shorter parts")
        texts, unknown = self.translate(model, config, [sentence], beam, length_penalty)[:2]
        return texts[0], unknown[0]

