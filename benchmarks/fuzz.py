"""Fuzz rnnzoo for a fixed budget: its file readers, its command line and its layers.

    python benchmarks/fuzz.py --budget-seconds 300 --seed 0
    python benchmarks/fuzz.py --targets cli --budget-seconds 60
    python benchmarks/fuzz.py --seed 0 --replay cli:123      one case again, in this process, with its traceback

Targets, each run in a worker process so that a hang (no answer within --case-timeout) or a crash is a
finding rather than the end of the run; the worker's address space is capped (--memory-gb):
  files  every reader of a file, fed mutated copies of valid seed files (benchmarks/fuzz_files.py):
         allowed are a result, or ValueError/OSError (RunError and UnicodeError among them) in one line
         that names the file.
  cli    argument vectors generated from rnnzoo's own argparse parsers, so every command, task and flag:
         valid flags with bad values, unknown flags, missing values, --config files of random JSON, run
         directories and data files of the files target, run in-process with rnnzoo.cli.main. Allowed
         are exit 0 with no NaN printed, or exit 1 or 2 with one line 'rnnzoo: error: ...'. A `train` that
         passes every check is stopped where training would start, except a few, capped (--epochs 1).
  api    rnnzoo.Recurrent calls drawn as tests/test_properties.py draws them (plain random instead of
         hypothesis) and checked by its run_case, and layers built with random option values (a result
         or a ValueError/TypeError naming the option; a training step of those built: finite output and
         gradients).

Prints per target the cases tried, the distinct inputs among them, the outcomes by kind, and every
finding (deduplicated by kind and place) with a reproducer; exits 1 if there was any finding.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import importlib.util
import io
import json
import math
import multiprocessing
import os
import random
import re
import shutil
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARE = {"files": 0.3, "cli": 0.5, "api": 0.2}  # of the budget, among the targets run


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


files_target = _load("fuzz_files", HERE / "fuzz_files.py")  # stdlib only at import
finding_key = files_target.where


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


# --- the command line -------------------------------------------------------------------------------
class StopBeforeTraining(BaseException):
    """Raised where a generated `train` would start training: every check has passed by then."""


INTS = ["0", "1", "2", "3", "4", "7", "16", "-1", "-0", "+5", "1.5", "1e3", "x", "", " 4", "0x10", "٣",
        "2147483648", "99999999999999999999999999"]
SMALL_INTS = ["0", "1", "2", "3", "5", "-1", "-0", "1.5", "x", ""]  # for flags whose work grows with the value
NUMBERS = ["0", "1", "0.5", "-1", "1e-9", "0.99999", "nan", "inf", "-inf", "1e309", "x", "", "1,5", "1e-400"]
JSONS = ["1", "0", "-1", "2", "3.5", "true", "false", "null", '"tanh"', "tanh", "relu", "rk4", "[4, 2]", "[]",
         "{}", "[0]", "[[1]]", "1e999", "NaN", '"', "[" * 64 + "]" * 64, "[" * 100_000, "9" * 5000, "-1e308"]
TEXTS = ["", "x", "a b", "ü", "☃", "-", "--", "%s", "{}", "A moving, beautifully shot film.", "a" * 3000]
# put before the generated flags, which override them: the defaults of these take seconds a run
CAPS = {"hopfield capacity": ["--n", "32", "--trials", "1"], "example addition": ["--steps", "300"]}
COSTLY = {"--steps", "--length", "--n", "--trials", "--threads", "--layers", "--test-bits", "--hidden"}


class Cli:
    """Generated argument vectors for `rnnzoo.cli.main`, from the parsers themselves."""

    def __init__(self, files):
        from rnnzoo import cli
        from rnnzoo.train import fit
        from rnnzoo.train.tasks import TASKS, ClosedFormTask
        self.cli, self.files, self.ws = cli, files, files.ws
        self.commands = []  # (words, parser) of every command and subcommand
        self._walk(cli.build_parser(), [])
        # drawn more often the more options they have; `native build` compiles C++ (about 40 s) and takes none
        self.commands = [c for c in self.commands if c[0] != ["native", "build"]]
        self.weights = [3 + 2 * sum(bool(a.option_strings) for a in p._actions) ** 0.5 for _, p in self.commands]
        self.stop = True  # where training would start (Lightning's or a closed form's), stop there
        fit._fit = self._stopping(fit._fit)
        for task in TASKS.values():
            if isinstance(task, ClosedFormTask):
                task.fit = self._stopping(task.fit)
        import urllib.request
        urllib.request.urlopen = _no_network  # `train sentiment --download`

    def _stopping(self, real):
        def call(*args, **kwargs):
            if self.stop:
                raise StopBeforeTraining
            return real(*args, **kwargs)
        return call

    def _walk(self, parser, words):
        self.commands.append((words, parser))
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for name, sub in action.choices.items():
                    self._walk(sub, words + [name])

    def case(self, rng):
        self.files.fresh()
        words, parser = rng.choices(self.commands, self.weights)[0]
        argv = words + CAPS.get(" ".join(words), [])
        actions = [a for a in parser._actions if not isinstance(a, argparse._SubParsersAction)]
        options = [a for a in actions if a.option_strings and a.dest != "help"]
        groups = [self._option(a, words, rng) for a in rng.sample(options, min(len(options), rng.randint(0, 4)))]
        for action in actions:
            if not action.option_strings and rng.random() < 0.92:
                groups.append(self._values(action, words, rng))
        if rng.random() < 0.15:
            groups.append([rng.choice(["--no-such-flag", "-x", "--", "stray", "--hid", "--threads=1", "-h"])])
        rng.shuffle(groups)
        argv += [token for group in groups for token in group]
        if rng.random() < 0.03:
            argv = [rng.choice(["--version", "--help", "-h", "--nope"])] + argv
        real = words[:1] == ["train"] and len(words) == 2 and rng.random() < 0.04
        if real:  # a capped real run: the last occurrence of a flag wins
            argv += {"addition": ["--train-size", "32", "--val-size", "16", "--bits", "4"],
                     "charlm": ["--max-chars", "2000", "--bptt", "10", "--embed", "4"],
                     "sentiment": ["--data", str(self.ws / "seeds" / "imdb.csv"), "--embed", "4", "--vocab-size", "50"],
                     "mackey-glass": ["--units", "20", "--train-steps", "300", "--washout", "50", "--horizon", "10"],
                     }.get(words[1], [])
            if words[1] != "mackey-glass":  # one process: Lightning's DDP would start this script again
                argv += ["--epochs", "1", "--max-time", "2", "--hidden", "4", "--layers", "1", "--batch-size", "8",
                         "--devices", "1", "--strategy", "auto"]
            argv += ["--out", str(self.files.scratch / "real-run")]
        return {"argv": argv, "real": real, "command": " ".join(words) or "(none)"}

    def _option(self, action, words, rng):
        flag = rng.choice(action.option_strings)
        if action.nargs == 0:
            return [flag]
        if rng.random() < 0.07:
            return [flag]  # its value left out
        return [flag] + self._values(action, words, rng)

    def _values(self, action, words, rng):
        if action.nargs in ("+", "*"):
            return [self._value(action, words, rng) for _ in range(rng.randint(0 if action.nargs == "*" else 1, 3))]
        return [self._value(action, words, rng)]

    def _value(self, action, words, rng):
        dest, kind = action.dest, getattr(action.type, "__name__", "")
        paths = self.files.paths
        if dest == "run_dir":
            return str(rng.choice(paths["runs"] + paths["missing"] + paths["data"][:2]))
        if dest == "data":
            return str(rng.choice(paths["data"] + paths["missing"] + paths["runs"][:1]))
        if dest == "images":
            return str(rng.choice(paths["images"] + paths["missing"] + paths["data"][:1]))
        if dest == "config":
            return str(self.files.random_config(rng, words))
        if dest == "out":
            return str(rng.choice([self.files.scratch / f"out{rng.randint(0, 3)}", self.files.scratch / "out.png",
                                   paths["data"][0], paths["data"][0] / "below", self.ws / "seeds", "",
                                   self.files.scratch / "plot.nope"]))
        if dest == "inputs":
            return rng.choice(["173", "62", "-1", "x", "1e3", "99999999999999999999", "0", "12", "", "A fine film."])
        if action.choices:
            choice = str(rng.choice(list(action.choices)))
            return rng.choice([choice, choice, choice.upper(), choice + " ", "", "nope"])
        if dest == "name":
            return rng.choice(["lstm", "gru", "conv_lstm", "LSTM", "nope", ""])
        costly = (action.option_strings or [dest])[0] in COSTLY
        pool = {"integer": SMALL_INTS if costly else INTS, "int": INTS,
                "number": NUMBERS, "float": NUMBERS, "_value": JSONS, "alpha_list": NUMBERS + ["0.1,0.2", "0.5,x"],
                "flip_fraction": NUMBERS}.get(kind, TEXTS)
        return rng.choice(pool)

    def run(self, case, debug=False):
        """(kind, finding or None, detail) of one invocation, in a fresh scratch folder."""
        import torch
        argv = (["--debug"] if debug else []) + case["argv"]
        out, err = io.StringIO(), io.StringIO()
        self.stop = not case["real"]
        code, exc, cwd = None, None, os.getcwd()
        try:
            os.chdir(self.files.scratch)  # default outputs (runs/TASK-MODEL, hopfield_*.png) land there
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = self.cli.main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        except StopBeforeTraining:
            return "train stopped before training", None, ""
        except BaseException as e:  # only with --debug, or a bug that escaped main
            exc = e
        finally:
            os.chdir(cwd)
            torch.set_num_threads(1)
            import matplotlib.pyplot as plt
            plt.close("all")
        if debug:
            return None, exc, err.getvalue()
        if exc is not None:
            return type(exc).__name__, finding_key(f"{type(exc).__name__} escaped cli.main", exc), one_line(exc)
        return judge(case["argv"], code, out.getvalue(), err.getvalue())

    def describe(self, case):
        import shlex
        return "rnnzoo " + shlex.join(case["argv"])

    def group(self, case) -> str:
        return case["command"] + (" (a capped real run)" if case["real"] else "")

    def identity(self, case) -> str:
        """The argument vector, with the content of each file it names in the scratch folder."""
        scratch = str(self.files.scratch)
        return repr(case["argv"]) + "".join(files_target.digest(Path(a)) for a in case["argv"] if a.startswith(scratch))


def judge(argv, code, out: str, err: str):
    """(kind, finding or None, detail) of one invocation's exit status and output: exit 0 with no NaN or inf
    printed, or exit 1 or 2 with one line 'rnnzoo: error: ...' (warnings aside), and no traceback."""
    lines = [line for line in err.splitlines() if line.strip()]
    ours = [line for line in lines if line.startswith("rnnzoo:") and not line.startswith("rnnzoo: warning:")]
    if any("Traceback" in line for line in lines):
        return f"exit {code}", "a traceback on stderr", one_line(err)
    if any("internal error" in line for line in ours):
        return f"exit {code}", "internal error", ours[0]
    if code == 0:
        sampled = argv[:1] == ["generate"] and "charlm" in " ".join(argv)  # any text, "nan" too
        if not sampled and re.search(r"(?<![\w.])[-+]?(nan|inf)(?![\w])", out, re.I):
            return "exit 0", "NaN or inf printed", one_line(out)
        return "exit 0", None, ""
    if code not in (1, 2):
        return f"exit {code}", f"exit status {code}", one_line(err)
    if len(ours) != 1 or not ours[0].startswith("rnnzoo: error: "):
        return f"exit {code}", "not one 'rnnzoo: error:' line", one_line(err)
    return f"exit {code}", None, ""


def _no_network(*args, **kwargs):
    import urllib.error
    raise urllib.error.URLError("no network in the fuzzer")


# --- the layers ---------------------------------------------------------------------------------------
GARBAGE = [0, -1, 1, 2, 3, 5, 1.5, 0.0, -0.5, math.nan, math.inf, True, False, None, "", "x", "tanh", "relu",
           "sigmoid", "rk4", (), (0,), (3, 2), [4], (1.5,), "False", 1e30, -1e30, {"a": 1}, [[1]], b"x", 1j]


class Api:
    """rnnzoo.Recurrent: test_properties' cases, and layers built with random option values."""

    def __init__(self, files=None):
        import torch
        self.torch = torch
        self.props = _load("fuzz_test_properties", HERE.parent / "tests" / "test_properties.py")

    def case(self, rng):
        if rng.random() < 0.75:
            return {"kind": "call", "case": self.props.draw_case(rng.choice, rng.randint)}
        from rnnzoo import registry
        entry = rng.choice(registry.entries())
        options = dict(rng.choice(list(entry.variants.values())))
        bad = {}
        for name in rng.sample(list(entry.options()), min(len(entry.options()), rng.randint(0, 2))):
            bad[name] = options[name] = rng.choice(GARBAGE)
        layer = {}
        for name in rng.sample(["num_layers", "bidirectional", "merge", "dropout", "recurrent_dropout",
                                "batch_first", "fused", "engine"], rng.randint(0, 2)):
            bad[name] = layer[name] = rng.choice(GARBAGE + ["concat", "sum", "loop", "fast", 0.3])
        sizes = {"input_size": rng.choice([1, 2, 3, 3, 3, 0, -1, 2.0, True, None]),
                 "hidden_size": rng.choice([3, 4, 4, 4, 5, 0, -1, 4.0, True, None, "4"])}
        bad.update({k: v for k, v in sizes.items() if not (isinstance(v, int) and not isinstance(v, bool) and v > 0)})
        return {"kind": "options", "name": entry.name, "options": options, "layer": layer, "sizes": sizes,
                "bad": bad, "train": rng.random() < 0.5, "seed": rng.randint(0, 2 ** 16)}

    def run(self, case, debug=False):
        try:
            if case["kind"] == "call":
                return self.props.run_case(case["case"]), None, ""
            return self._options(case)
        except AssertionError as e:
            if debug:
                raise
            kind = case["case"]["fault"] if case["kind"] == "call" else "options"
            return "property violated", finding_key(f"property violated ({kind}): {one_line(e, 90)}", e), one_line(e)
        except Exception as e:
            if debug:
                raise
            return type(e).__name__, finding_key(type(e).__name__, e), one_line(e)

    def _options(self, case):
        import rnnzoo
        torch = self.torch
        torch.manual_seed(case["seed"])
        try:
            layer = rnnzoo.Recurrent(case["name"], case["sizes"]["input_size"], case["sizes"]["hidden_size"],
                                     **case["options"], **case["layer"])
        except (ValueError, TypeError) as e:
            named = [k for k in case["bad"] if re.search(rf"\b{k}\b", str(e))]
            assert named, f"the message names none of {sorted(case['bad'])}: {e}"
            return type(e).__name__, None, ""
        from rnnzoo import registry
        x = torch.randn(4, 3, case["sizes"]["input_size"], *registry.get(case["name"]).spatial)
        layer.train(case["train"])
        y, state = layer(x.transpose(0, 1) if layer.batch_first else x, lengths=[4, 2, 1])
        states = state if isinstance(state, tuple) else (state,)
        assert torch.isfinite(y).all() and all(torch.isfinite(s).all() for s in states), "NaN or inf output"
        (y.square().mean() + sum(s.square().mean() for s in states)).backward()
        assert all(torch.isfinite(p.grad).all() for p in layer.parameters() if p.grad is not None), "NaN gradient"
        return "ok", None, ""

    def identity(self, case) -> str:
        return json.dumps(case, sort_keys=True, default=repr)

    def group(self, case) -> str:
        return f"{case['case']['name']} call" if case["kind"] == "call" else f"{case['name']} options"

    def describe(self, case):
        if case["kind"] == "call":
            return f"run_case({case['case']!r}) (tests/test_properties.py)"
        sizes = case["sizes"]
        return (f"rnnzoo.Recurrent({case['name']!r}, {sizes['input_size']!r}, {sizes['hidden_size']!r}, "
                f"**{case['options']!r}, **{case['layer']!r}), train={case['train']}, seed={case['seed']}")


# --- workers, budget, report ---------------------------------------------------------------------------
def make_target(name: str, ws: Path, seed: int):
    files = files_target.Files(ws, seed, name)
    return {"files": lambda: files, "cli": lambda: Cli(files), "api": lambda: Api(files)}[name]()


def case_rng(seed: int, target: str, i: int) -> random.Random:
    return random.Random(f"{seed}/{target}/{i}")


def worker(name, ws, seed, start, budget, memory_gb, conn):
    """Cases start, start + 1, ... of target `name` for `budget` seconds after its setup (one at least)."""
    import resource
    devnull = os.open(os.devnull, os.O_WRONLY)  # output not captured per case (C code, logging) goes nowhere
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    if memory_gb:
        limit = int(memory_gb * 2 ** 30)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    warnings.simplefilter("ignore")
    try:
        import torch
        torch.set_num_threads(1)
        target = make_target(name, Path(ws), seed)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        raise
    conn.send(("ready",))
    i, deadline = start, time.time() + budget
    while i == start or time.time() < deadline:
        try:
            case = target.case(case_rng(seed, name, i))
        except BaseException:  # the fuzzer's own bug
            conn.send(("error", f"case {i}: {traceback.format_exc()}"))
            raise
        conn.send(("start", i, target.describe(case)))
        kind, finding, detail = target.run(case)
        conn.send(("done", i, kind, finding, detail, target.identity(case), target.group(case)))
        i += 1
    conn.send(("end", i))


def fuzz(name, ws, seed, budget, case_timeout, memory_gb) -> dict:
    """Run target `name` for `budget` seconds of cases (the workers' start-up not counted), in a worker
    process that is started again after a hang or a crash."""
    stats = {"tried": 0, "inputs": set(), "outcomes": collections.Counter(), "findings": {},
             "groups": collections.Counter()}
    ctx, i, left = multiprocessing.get_context("spawn"), 0, budget

    def found(key, index, description, detail):
        entry = stats["findings"].setdefault(key, {"count": 0, "case": index, "input": description, "detail": detail})
        entry["count"] += 1

    def lost(kind, finding, proc):
        """The worker hung or died during a case: count it, record it, go on after that case."""
        if current is None:
            raise RuntimeError(f"the {name} worker {finding} before any case (exit {proc.exitcode})")
        stats["tried"] += 1
        stats["outcomes"][kind] += 1
        found(finding, current[0], current[1], "")
        return current[0] + 1

    while left > 0:
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=worker, args=(name, str(ws), seed, i, left, memory_gb, child), daemon=True)
        proc.start()
        child.close()
        ready, current, wait = None, None, 300  # the start-up imports torch (and the first case Lightning)
        while True:
            if not parent.poll(wait):
                proc.kill()
                proc.join()
                i = lost("hang", f"hang (no answer in {case_timeout:g} s)", proc)
                break
            try:
                message = parent.recv()
            except EOFError:  # the worker died: a crash (a signal), or memory
                proc.join()
                i = lost("crash", f"worker crashed (exit status {proc.exitcode})", proc)
                break
            if message[0] == "error":
                proc.join()
                raise RuntimeError(f"the {name} worker failed (a bug of the fuzzer):\n{message[1]}")
            if message[0] == "ready":
                ready, wait = time.time(), case_timeout
            elif message[0] == "start":
                current = message[1:]
            elif message[0] == "done":
                _, index, kind, finding, detail, key, group = message
                stats["tried"] += 1
                stats["inputs"].add(key)
                stats["groups"][group] += 1
                stats["outcomes"][kind] += 1
                if finding:
                    found(finding, index, current[1], detail)
                current = None
            else:
                proc.join()
                return stats
        left -= time.time() - ready if ready else 0
    return stats


def report(name, stats, seed, seconds) -> int:
    print(f"\n## {name}: {stats['tried']} cases in {seconds:.0f} s, {len(stats['inputs'])} distinct inputs")
    print("  inputs: " + ", ".join(f"{group} {n}" for group, n in sorted(stats["groups"].items())))
    print("  outcomes:")
    for kind, n in stats["outcomes"].most_common():
        print(f"    {n:6d}  {kind}")
    print(f"  findings: {len(stats['findings'])}")
    for key, f in sorted(stats["findings"].items()):
        print(f"  - {key} ({f['count']} case{'s' if f['count'] > 1 else ''})")
        print(f"      input: {one_line(f['input'], 600)}")
        if f["detail"]:
            print(f"      got: {one_line(f['detail'], 400)}")
        print(f"      replay: python benchmarks/fuzz.py --seed {seed} --replay {name}:{f['case']}")
    return len(stats["findings"])


def replay(spec: str, seed: int, ws: Path) -> int:
    name, index = spec.split(":")
    target = make_target(name, ws, seed)
    case = target.case(case_rng(seed, name, int(index)))
    print(f"{name} case {index}: {target.describe(case)}")
    kind, finding, detail = target.run(case)
    print(f"outcome: {kind}" + (f"\nfinding: {finding}\n{detail}" if finding else ""))
    if finding and name == "cli":  # again with --debug, for the traceback
        _, exc, err = target.run(case, debug=True)
        print(err)
        if exc is not None:
            traceback.print_exception(exc)
    elif finding:
        target.run(case, debug=True)
    return 1 if finding else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget-seconds", type=float, default=300,
                   help="seconds of cases, shared by the targets (files 30%%, cli 50%%, api 20%%); the start-up "
                   "of each target's worker (about 3 s) is not counted")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--targets", default="files,cli,api", help="comma-separated: files, cli, api")
    p.add_argument("--case-timeout", type=float, default=60, help="seconds before a case counts as a hang")
    p.add_argument("--memory-gb", type=float, default=6, help="address-space cap of a worker (0: none)")
    p.add_argument("--replay", metavar="TARGET:CASE", help="run one case in this process, with its traceback")
    args = p.parse_args(argv)
    names = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = set(names) - set(SHARE)
    if unknown or not names:
        p.error(f"--targets: unknown {', '.join(sorted(unknown)) or 'none given'}; choose from {', '.join(SHARE)}")
    with tempfile.TemporaryDirectory(prefix="rnnzoo-fuzz-") as tmp:
        ws = Path(tmp)
        started = time.time()
        files_target.make_workspace(ws, args.seed)
        if args.replay:
            return replay(args.replay, args.seed, ws)
        budget, total = args.budget_seconds, sum(SHARE[n] for n in names)
        print(f"rnnzoo fuzz: seed {args.seed}, {args.budget_seconds:g} s for {', '.join(names)} "
              f"(workspace built in {time.time() - started:.1f} s)")
        count = 0
        for name in names:
            t0 = time.time()
            stats = fuzz(name, ws, args.seed, budget * SHARE[name] / total, args.case_timeout, args.memory_gb)
            count += report(name, stats, args.seed, time.time() - t0)
            shutil.rmtree(ws / "scratch", ignore_errors=True)
    print(f"\n{count} finding{'s' if count != 1 else ''}")
    return 1 if count else 0


if __name__ == "__main__":
    sys.exit(main())
