"""The files target of benchmarks/fuzz.py: valid seed files, their mutations, and every reader of them.

`make_workspace` writes the seeds once: texts, a series CSV, IMDB reviews as CSV, TSV, tar, tar.gz and
folder, PNG pictures, and finished runs of every task (config.json, safetensors, --resume's files).
`Files.case` copies one seed, mutates it (bytes: truncated, flipped, junk inserted, re-encoded, emptied,
a huge line; structure: JSON values of other types or nested 100,000 deep, safetensors headers, tar
members) and names the reader to call; `Files.run` calls it. A reader may return, or raise
ValueError/OSError (RunError and UnicodeError are among them) in one line that names the file; any
other exception, a message of several lines or one that does not say which file, or a series with a
NaN nobody asked for, is a finding.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import math
import shutil
import tarfile
import traceback
from pathlib import Path

REVIEWS = [("A moving, beautifully shot film.", 1), ("Dull.<br /><br />I left early.", 0),
           ("Don't miss it!", 1), ("The plot makes no sense at all", 0), ("Great acting; great score.", 1),
           ("Two hours I will not get back", 0)]
JUNK = [b"\x00", b"\xff", b"\xff\xfe", b"\xef\xbb\xbf", b'"', b",,,", b"\t", b"\n", b"\r", b"\n" * 500,
        b"nan", b"inf", b"-", b"\xc3", b"\xed\xa0\x80", b'{"', b"[" * 500, b"\\u0000", b"\x1f\x8b"]
WEIRD = [None, True, False, 0, -1, 1.5, 1e308, math.nan, math.inf, "", "x", [], {}, [1, 2], {"a": 1},
         10 ** 30, "9" * 50, 2 ** 63, -2 ** 63, "__DEEP__", [None], "F32", "BOOL", "F99", [-1], [2 ** 40, 2 ** 40]]
DEEP = "[" * 100_000 + "]" * 100_000  # nested past any recursion limit


def make_workspace(ws: Path, seed: int = 0) -> None:
    """The seed files and runs under ws/seeds, ws/runs and ws/broken (deterministic, about 2 s)."""
    from rnnzoo.data.text import load_text
    seeds = ws / "seeds"
    seeds.mkdir(parents=True)
    (seeds / "text.txt").write_text(load_text()[:4000], encoding="utf-8")
    (seeds / "unicode.txt").write_text("Ünïcödé ☃ naïve — “quotes” 日本語\r\nline two\n" * 20, encoding="utf-8")
    rows = ["date,value"] + [f"{2000 + i},{math.sin(i / 3):.4f}" if i % 7 else f"{2000 + i}," for i in range(40)]
    (seeds / "series.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    reviews = [(text, label, split) for split, n in (("train", 24), ("test", 8)) for text, label in REVIEWS * (n // 6)]
    for name, sep in (("imdb.csv", ","), ("imdb.tsv", "\t")):
        out = io.StringIO()
        import csv
        w = csv.writer(out, delimiter=sep, lineterminator="\n")
        w.writerows([("text", "label", "split")] + [(t, "pos" if y else "neg", s) for t, y, s in reviews])
        (seeds / name).write_text(out.getvalue(), encoding="utf-8")
    folder = seeds / "aclImdb"
    for i, (text, label, split) in enumerate(reviews):
        path = folder / split / ("pos" if label else "neg") / f"{i}_{8 if label else 2}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    with tarfile.open(seeds / "imdb.tar", "w", format=tarfile.USTAR_FORMAT) as tf:
        tf.add(folder, arcname="aclImdb")
    (seeds / "imdb.tar.gz").write_bytes(gzip.compress((seeds / "imdb.tar").read_bytes(), mtime=0))
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.image import imsave
    import numpy as np
    (seeds / "pngs").mkdir()
    for k in range(3):
        imsave(seeds / "pngs" / f"p{k}.png", np.indices((16, 16)).sum(0) % (k + 2) == 0, cmap="gray")
    (seeds / "empty").mkdir()
    (seeds / "badpngs").mkdir()
    (seeds / "badpngs" / "cut.png").write_bytes((seeds / "pngs" / "p0.png").read_bytes()[:60])
    _make_runs(ws, seeds)


def _make_runs(ws: Path, seeds: Path) -> None:
    """A finished run of every task, with --resume's files: the backprop tasks untrained (their config and
    weights as `rnnzoo train` writes them, without Lightning), mackey-glass fitted by `rnnzoo train`."""
    import torch
    from rnnzoo import __version__
    from rnnzoo.cli import build_parser, main
    from rnnzoo.train import fit, resume
    from rnnzoo.train import run as rundir
    from rnnzoo.train.tasks import get_task
    flags = {"addition": ["--model", "elman", "--hidden", "4", "--bits", "4", "--train-size", "32", "--val-size", "16"],
             "charlm": ["--model", "gru", "--hidden", "4", "--layers", "1", "--embed", "4", "--bptt", "10",
                        "--batch-size", "4", "--data", str(seeds / "text.txt"), "--max-chars", "2000"],
             "sentiment": ["--model", "lstm", "--hidden", "4", "--embed", "4", "--vocab-size", "50",
                           "--data", str(seeds / "imdb.csv"), "--max-words", "20"],
             "mackey-glass": ["--units", "20", "--train-steps", "300", "--washout", "50", "--horizon", "10"]}
    for name, options in flags.items():
        run_dir = ws / "runs" / name
        args = build_parser().parse_args(["train", name, *options, "--out", str(run_dir)])
        args.cell_options, args.given = {}, set()
        task = get_task(name)
        torch.manual_seed(0)
        if name == "mackey-glass":
            with contextlib.redirect_stdout(io.StringIO()):
                assert main(["train", name, *options, "--out", str(run_dir)]) == 0
        else:
            data = task.setup(args)
            model = task.build_model(fit.model_config(task, args, data))
            files = {f: rundir.save_weights(run_dir / f, model) for f in (rundir.BEST, rundir.LAST)}
            rundir.write_config(run_dir, {"rnnzoo": __version__, "task": name, "model": model.config(), "data": data,
                                          "training": {k: getattr(args, k, None) for k in fit.TRAINING_KEYS},
                                          "best": {task.monitor: 0.5}, "steps": 4, "epochs_run": 1,
                                          "stopped_by": "epochs", "files": files})
        resume.save_options(run_dir, args)
        torch.save({"global_step": 4, "epoch": 0}, run_dir / "checkpoints" / rundir.LAST_CKPT)
        (run_dir / "metrics.csv").write_text("epoch,step,train_loss_step,val_loss\n0,1,0.7,\n0,4,,0.69\n")
    broken = ws / "broken"
    shutil.copytree(ws / "runs" / "addition", broken / "unfinished")
    (broken / "unfinished" / rundir.CONFIG).unlink()
    shutil.copytree(ws / "runs" / "addition", broken / "edited")
    config = json.loads((broken / "edited" / rundir.CONFIG).read_text())
    config["model"]["hidden_size"] = 5
    (broken / "edited" / rundir.CONFIG).write_text(json.dumps(config))
    (broken / "empty").mkdir()
    (broken / "a-file").write_text("not a run\n")


# --- mutations -----------------------------------------------------------------------------------------
def mutate_bytes(data: bytes, rng, others=()) -> tuple[bytes, str]:
    kind = rng.choice(["empty", "truncate", "truncate", "flip", "flip", "junk", "junk", "delete", "duplicate",
                       "huge line", "encoding", "nul", "newlines", "other file", "random"])
    n, i, j = len(data), rng.randint(0, len(data)), rng.randint(0, len(data))
    i, j = min(i, j), max(i, j)
    if kind == "empty":
        return b"", kind
    if kind == "truncate":
        return data[:i], f"truncated at byte {i}"
    if kind == "flip" and n:
        b = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        return bytes(b), "bits flipped"
    if kind == "junk":
        junk = rng.choice(JUNK + [rng.randbytes(16)])
        return data[:i] + junk + data[i:], f"{junk[:20]!r} inserted at byte {i}"
    if kind == "delete":
        return data[:i] + data[j:], f"bytes {i}-{j} deleted"
    if kind == "duplicate":
        return data[:j] + data[i:j] + data[j:], f"bytes {i}-{j} repeated"
    if kind == "huge line":
        size = rng.choice([70_000, 200_000, 2_000_000])
        return data[:i] + b"a" * size + data[i:], f"a line of {size} bytes at byte {i}"
    if kind == "encoding":
        codec = rng.choice(["utf-16", "utf-16-le", "utf-32", "latin-1", "cp1252", "utf-8-sig"])
        return data.decode("utf-8", "replace").encode(codec, "replace"), f"re-encoded as {codec}"
    if kind == "nul":
        return data.replace(b"e", b"\x00"), "NUL bytes for every e"
    if kind == "newlines":
        return data.replace(b"\n", rng.choice([b"\r\n", b"\r", b"", b"\n\n\n"])), "newlines changed"
    if kind == "other file" and others:
        other = rng.choice(others)
        return other.read_bytes(), f"the bytes of {other.name}"
    return rng.randbytes(rng.randint(1, 4096)), "random bytes"


def mutate_json(obj, rng):
    """obj (parsed JSON) with one value replaced, deleted or added somewhere; returns (obj, what)."""
    path, node = [], obj
    while isinstance(node, (dict, list)) and node and rng.random() < 0.7:
        key = rng.choice(list(node) if isinstance(node, dict) else range(len(node)))
        parent, path, node = node, path + [key], node[key]
    if not path:
        return rng.choice(WEIRD[:16] + [[obj], "__DEEP__"]), "the whole document replaced"
    op = rng.choice(["replace", "replace", "replace", "delete", "add"])
    where = "/".join(map(str, path))
    if op == "delete":
        del parent[path[-1]]
        return obj, f"{where} deleted"
    if op == "add" and isinstance(parent, dict):
        parent[rng.choice(["extra", "__metadata__", "", "files"])] = rng.choice(WEIRD)
        return obj, f"a key added beside {where}"
    value = rng.choice(WEIRD)
    parent[path[-1]] = value
    return obj, f"{where} = {value!r:.40}"


def dump_json(obj) -> bytes:
    return json.dumps(obj, indent=1).replace('"__DEEP__"', DEEP).encode()


def mutate_safetensors(data: bytes, rng) -> tuple[bytes, str]:
    n = int.from_bytes(data[:8], "little")
    header, body = json.loads(data[8:8 + n]), data[8 + n:]
    kind = rng.choice(["length", "header", "header", "header", "body", "text"])
    if kind == "length":
        length = rng.choice([0, 1, n - 1, n + 1, len(data), 2 ** 63, 2 ** 64 - 1, 7])
        return length.to_bytes(8, "little") + data[8:], f"header length {length} (was {n})"
    if kind == "body":
        cut = rng.randint(0, len(body))
        return data[:8 + n] + body[:cut] + rng.choice([b"", b"\x00" * 16]), f"data cut at {cut}"
    if kind == "text":
        text = rng.choice([b"{", b"[]", b"null", b'{"a": 1}', b"\xff\xfe", b"{}" + b" " * 7, b'{"x": {"dtype": 1}}'])
        return len(text).to_bytes(8, "little") + text + body, f"header {text[:20]!r}"
    header, what = mutate_json(header, rng)
    raw = dump_json(header)
    return len(raw).to_bytes(8, "little") + raw + body, f"header: {what}"


def mutate_tar(seed_dir: Path, rng) -> tuple[bytes, str]:
    """An archive of the review folder with one odd member added."""
    out = io.BytesIO()
    odd = rng.choice(["huge id", "directory", "symlink", "fifo", "bad utf-8", "bad name", "huge size", "pax"])
    fmt = tarfile.PAX_FORMAT if odd == "pax" else tarfile.GNU_FORMAT
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tf:
        tf.add(seed_dir, arcname="aclImdb")
        info = tarfile.TarInfo("aclImdb/train/pos/" + ("9" * 5000 if odd == "huge id" else "7") + "_9.txt")
        data = b"fine"
        if odd == "directory":
            info.type = tarfile.DIRTYPE
        elif odd == "symlink":
            info.type, info.linkname = tarfile.SYMTYPE, "../../../etc/passwd"
        elif odd == "fifo":
            info.type = tarfile.FIFOTYPE
        elif odd == "bad utf-8":
            data = b"caf\xe9"
        elif odd == "bad name":
            info.name = "aclImdb/train/pos/\udcff_1.txt"
        elif odd == "pax":
            info.pax_headers = {"size": rng.choice(["-1", "x", "99999999999"]), "path": "aclImdb/test/neg/3_1.txt"}
        info.size = len(data) if info.type == tarfile.REGTYPE else 0
        with contextlib.suppress(ValueError, UnicodeError):
            tf.addfile(info, io.BytesIO(data) if info.size else None)
    raw = out.getvalue()
    if odd == "huge size":
        raw = raw[:124] + b"77777777777\x00" + raw[136:]  # the first member's size field
    return raw, f"tar with {odd} member"


# --- the target ------------------------------------------------------------------------------------------
class Files:
    """The file readers, one mutated input a case; `paths` lists seeds for the CLI target."""

    def __init__(self, ws: Path, seed: int, target: str = "files"):
        self.ws, self.seeds, self.scratch = ws, ws / "seeds", ws / "scratch" / target
        s = self.seeds
        self.paths = {"runs": sorted((ws / "runs").iterdir()) + sorted((ws / "broken").iterdir()),
                      "missing": [ws / "nope", s / "nope.txt"],
                      "data": [s / "text.txt", s / "unicode.txt", s / "imdb.csv", s / "imdb.tsv", s / "imdb.tar.gz",
                               s / "aclImdb", s / "series.csv", s, s / "pngs" / "p0.png"],
                      "images": [s / "pngs", s / "badpngs", s / "empty"]}

    def fresh(self) -> Path:
        shutil.rmtree(self.scratch, ignore_errors=True)
        self.scratch.mkdir(parents=True)
        return self.scratch

    def random_config(self, rng, words) -> Path:
        """A --config file: a valid one mutated, a random JSON object, or bytes."""
        task = words[1] if len(words) > 1 else "addition"
        options = {"addition": {"hidden": 8, "bits": 4, "epochs": 1, "model": "gru"},
                   "charlm": {"bptt": 10, "embed": 4, "model": "lstm", "peephole": True},
                   "sentiment": {"vocab_size": 50, "pool": "mean", "model": "elman", "activation": "relu"},
                   "mackey-glass": {"units": 20, "ridge": 1e-6, "washout": 50}}.get(task, {"hidden": 4})
        path = self.scratch / f"config{rng.randint(0, 99)}.json"
        kind = rng.random()
        if kind < 0.5:
            obj, _ = mutate_json(json.loads(json.dumps(options)), rng)
            path.write_bytes(dump_json(obj))
        elif kind < 0.8:
            path.write_bytes(dump_json({rng.choice(["hidden", "lr", "nope", "rank", "config", "out", "resume",
                                                    "layer-sizes", "threads"]): rng.choice(WEIRD)}))
        else:
            path.write_bytes(mutate_bytes(json.dumps(options).encode(), rng)[0])
        return path

    def case(self, rng) -> dict:
        scratch = self.fresh()
        reader = rng.choice(["load_text", "load_series", "load_imdb", "load_imdb", "load_imdb", "read_config",
                             "load_run", "load_run", "load_weights", "load_weights", "options.json", "last.ckpt",
                             "metrics.csv", "load_images"])
        others = [self.seeds / n for n in ("text.txt", "imdb.tar.gz", "series.csv")]
        case = {"reader": reader, "args": {}}
        if reader in ("load_text", "load_series"):
            seed = self.seeds / rng.choice(["text.txt", "unicode.txt"] if reader == "load_text" else ["series.csv"])
            data, what = mutate_bytes(seed.read_bytes(), rng, others)
            path = scratch / seed.name
            path.write_bytes(data)
            if reader == "load_series":
                case["args"] = {"column": rng.choice([None, 0, -1, 1, "value", "VALUE", "nope", 5]),
                                "missing": rng.choice(["error", "drop", "interpolate", "ffill", "keep"])}
        elif reader == "load_imdb":
            path, what = self._imdb(rng, scratch, others)
            case["args"] = {"split": rng.choice(["train", "test", "both"]), "limit": rng.choice([None, None, 2, 4])}
        elif reader == "load_images":
            path = scratch / "pngs"
            shutil.copytree(self.seeds / "pngs", path)
            data, what = mutate_bytes((path / "p1.png").read_bytes(), rng, others)
            (path / "p1.png").write_bytes(data)
        else:
            path, what = self._run_dir(reader, rng, scratch)
        case.update(path=str(path), what=what)
        return case

    def _imdb(self, rng, scratch, others):
        kind = rng.choice(["imdb.csv", "imdb.tsv", "imdb.tar.gz", "imdb.tar", "folder", "tar members", "sniffed"])
        if kind == "folder":
            path = scratch / "aclImdb"
            shutil.copytree(self.seeds / "aclImdb", path)
            victim = rng.choice(sorted(path.rglob("*.txt")))
            if rng.random() < 0.3:
                name = rng.choice(["9" * 200 + "_1.txt", "1_1.txt/", "x_1.txt", "0_0.txt"])  # 255 bytes at most
                if name.endswith("/"):
                    (victim.parent / name.rstrip("/")).mkdir()
                else:
                    (victim.parent / name).write_bytes(b"ok")
                return path, f"folder with {name[:20]!r} added"
            data, what = mutate_bytes(victim.read_bytes(), rng, others)
            victim.write_bytes(data)
            return path, f"folder, {victim.relative_to(path)}: {what}"
        if kind == "tar members":
            data, what = mutate_tar(self.seeds / "aclImdb", rng)
            path = scratch / rng.choice(["odd.tar", "odd.tar.gz"])
            path.write_bytes(gzip.compress(data, mtime=0) if path.name.endswith(".gz") else data)
            return path, what
        seed = self.seeds / ("imdb.csv" if kind == "sniffed" else kind)
        data, what = mutate_bytes(seed.read_bytes(), rng, others)
        path = scratch / ("reviews.txt" if kind == "sniffed" else seed.name)
        path.write_bytes(data)
        return path, what

    def _run_dir(self, reader, rng, scratch):
        from rnnzoo.train import run as rundir
        task = rng.choice(["addition", "charlm", "sentiment", "mackey-glass"])
        task = "addition" if reader == "options.json" else task
        run_dir = scratch / task
        shutil.copytree(self.ws / "runs" / task, run_dir, ignore=shutil.ignore_patterns("plots", "tensorboard"))
        config_path = run_dir / rundir.CONFIG
        config = json.loads(config_path.read_text())
        if reader in ("read_config", "load_run"):
            if rng.random() < 0.3:
                data, what = mutate_bytes(config_path.read_bytes(), rng)
                config_path.write_bytes(data)
                return run_dir, what
            config, what = mutate_json(config, rng)
            if rng.random() < 0.7 and isinstance(config, dict):  # signed again: past the checksum, into the checks
                with contextlib.suppress(Exception):
                    config[rundir.CHECKSUM] = rundir.config_digest(config)
                    what += ", checksum updated"
            config_path.write_bytes(dump_json(config))
            return run_dir, what
        if reader == "load_weights":
            path = run_dir / rundir.BEST
            data = path.read_bytes()
            data, what = mutate_safetensors(data, rng) if rng.random() < 0.7 else mutate_bytes(data, rng)
            path.write_bytes(data)
            config["files"][rundir.BEST] = hashlib.sha256(data).hexdigest()  # recorded: the file itself is read
            config[rundir.CHECKSUM] = rundir.config_digest(config)
            config_path.write_text(json.dumps(config))
            return run_dir, what
        path = run_dir / ("metrics.csv" if reader == "metrics.csv" else "checkpoints/" + reader)
        if reader == "options.json" and rng.random() < 0.5:
            data, what = mutate_json(json.loads(path.read_text()), rng)
            path.write_bytes(dump_json(data))
        else:
            data, what = mutate_bytes(path.read_bytes(), rng)
            path.write_bytes(data)
        return run_dir, what

    def run(self, case, debug=False):
        path = Path(case["path"])
        try:
            result = self._call(case["reader"], path, case["args"])
        except (ValueError, OSError) as e:
            if debug:
                raise
            message, names = str(e), {path.name, str(path)}
            if "\n" in message.strip():
                return type(e).__name__, where(f"a message of several lines from {case['reader']}", e), message
            if not any(n in message for n in names):
                unnamed = f"{type(e).__name__} from {case['reader']} does not name the file"
                return type(e).__name__, where(unnamed, e), message
            return type(e).__name__, None, ""
        except BaseException as e:
            if debug or isinstance(e, KeyboardInterrupt):
                raise
            return type(e).__name__, where(f"{type(e).__name__} from {case['reader']}", e), str(e)[:300]
        if case["reader"] == "load_series" and case["args"]["missing"] != "keep" and not bool(result.isfinite().all()):
            return "ok", f"load_series(missing={case['args']['missing']!r}) returned NaN or inf", ""
        return "ok", None, ""

    def _call(self, reader, path, args):
        from rnnzoo.data.imdb import load_imdb
        from rnnzoo.data.series import load_series
        from rnnzoo.data.text import load_text
        from rnnzoo.train import fit, resume
        from rnnzoo.train import run as rundir
        if reader == "load_text":
            return load_text(path)
        if reader == "load_series":
            return load_series(path, **args)
        if reader == "load_imdb":
            return load_imdb(path, **args)
        if reader == "load_images":
            from rnnzoo.memory.demo import load_images
            return load_images(path)
        if reader == "read_config":
            return rundir.read_config(path)
        if reader in ("load_run", "load_weights"):
            return fit.load_run(path)
        if reader == "options.json":
            from rnnzoo.cli import build_parser
            args = build_parser().parse_args(["train", "addition", "--resume", "--epochs", "9", "--out", str(path)])
            args.given = {"resume", "epochs", "out"}
            with contextlib.redirect_stdout(io.StringIO()):
                return resume.check(path, args)
        if reader == "last.ckpt":
            return resume.checkpoint_step(path)
        if reader == "metrics.csv":
            from rnnzoo.train.records import RunCSVLogger
            return RunCSVLogger(path, resume_step=3)
        raise ValueError(f"no reader {reader}")

    def describe(self, case):
        args = "".join(f", {k}={v!r}" for k, v in case["args"].items())
        return f"{case['reader']}({case['path']!r}{args}) on {case['what']}"

    def group(self, case) -> str:
        return case["reader"]

    def identity(self, case) -> str:
        """The input as its bytes: the reader, its arguments and every file it reads."""
        return case["reader"] + repr(sorted(case["args"].items())) + digest(Path(case["path"]))


def digest(path: Path) -> str:
    """SHA-1 of a file, or of a folder's names and files."""
    h = hashlib.sha1()
    for p in sorted(path.rglob("*")) if path.is_dir() else [path] if path.exists() else []:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


def where(kind: str, exc: BaseException | None = None) -> str:
    """kind plus where exc was raised: the innermost frame in rnnzoo, else the innermost of all."""
    if exc is None or exc.__traceback__ is None:
        return kind
    frames = traceback.extract_tb(exc.__traceback__)
    f = ([f for f in frames if "rnnzoo" in f.filename] or frames)[-1]
    return f"{kind} at {f.filename.split('site-packages/')[-1].split('src/')[-1]}:{f.lineno} ({f.name})"
