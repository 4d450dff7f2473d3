"""Encoder-decoder translation on Tatoeba's English-French pairs: what the classic papers showed.

Each model trains through the real command (`python -m rnnzoo train translate`, a fresh process, at the
defaults a user gets: 6 epochs, the LR annealed to zero on a cosine, --threads auto), capped at --minutes
of wall clock (30), on pairs of at most 10 words on both sides; then its run records test BLEU and chrF
(sacrebleu: 13a, case-insensitive, every reference of each test source; the split is by source
sentence), greedy and with beam 5, by source length:

    plain       no attention                          (Sutskever et al. 2014, without the reversal)
    reversed    no attention, source read backwards   (Sutskever et al. 2014)
    attention   Luong's "general" attention           (Bahdanau et al. 2015; Luong et al. 2015)

and the claims are checked: reversed beats plain; attention beats no attention overall and by more on
the longest sources (plots/bleu_by_length.png in --out: BLEU against source length, both models, as
Bahdanau et al.'s figure 2); beam 5 beats greedy; the best model reaches BLEU >= 35.

    python benchmarks/translate.py                      the three models, one after the other (3 x <= 30 min)
    python benchmarks/translate.py --only plain reversed --parallel 2 --out A    two at a time, one core each
    python benchmarks/translate.py --only attention --out B                       alone, on both cores
    python benchmarks/translate.py --runs A B                                     the claims across both
    python benchmarks/translate.py --speed              the machinery's cost (below)

(`attention-h512` is the attention model with 512 units instead of 256: fewer steps fit in the budget.)
With --parallel 2 on a 2-core machine each run's --threads auto settles on one thread, as the other
run holds the other core, and the cap may end a run inside its last epoch (at the bottom of the cosine,
where the LR is 7% of its start); the README's no-attention rows were measured that way, the attention
row alone, as a user runs it.

--speed times training in sentence pairs a second, `rnnzoo train translate` against a plain torch loop
over the same model, batches and optimiser (Adam, clipping) in the same process, interleaved, both on
one thread; the training machinery (Lightning, logging, checkpoints, thread timing) must cost <= 10%.
Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # measure.py, beside this script
from measure import command_env  # noqa: E402

MODELS = {
    "plain": ["--attention", "none"],
    "reversed": ["--attention", "none", "--reverse-source"],
    "attention": [],
    "attention-h512": ["--hidden", "512"],  # the same with twice the units: fewer steps in the budget
}
QUICK = ["--limit", "3000", "--hidden", "32", "--embed", "32", "--epochs", "2"]


def start(name, data, out_root, seconds, extra):
    """`rnnzoo train translate` for one model, in its own process (not waited for): (process, argv, out)."""
    out = Path(out_root) / name
    argv = ["train", "translate", "--data", data, "--out", str(out), "--max-time", str(seconds), *MODELS[name],
            *extra]
    process = subprocess.Popen([sys.executable, "-m", "rnnzoo", *argv], env=command_env(), stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    return process, argv, out


def finish(name, process, argv, out) -> dict:
    _, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{name}: `rnnzoo {shlex.join(argv)}` failed: {err.strip()[-400:]}")
    return json.loads((out / "config.json").read_text())


def row(name, config, argv) -> str:
    g, b = config["report"]["test_greedy"], config["report"]["test_beam"]
    buckets = " / ".join(f"{b.get('bleu_' + k, float('nan')):.1f}" for k in ("1-3", "4-5", "6-7", "8-10"))
    return (f"| {name} | {g['bleu']:.2f} | {b['bleu']:.2f} | {b['chrf']:.2f} | {buckets} | {config['steps']} steps, "
            f"{config['epochs_run']} epochs, {config['seconds']:.0f} s | `rnnzoo {shlex.join(argv[:])}` |")


def _argv(config) -> list[str]:
    """The command line of a finished run, from its config.json (for the rows of --runs)."""
    name = Path(config["data"]["path"]).name
    m = config["model"]
    argv = ["train", "translate", "--data", name, "--max-time", str(config["training"]["max_time"])]
    if m["attention"] != "general":
        argv += ["--attention", m["attention"]]
    if m["reverse_source"]:
        argv.append("--reverse-source")
    if m["hidden_size"] != 256:
        argv += ["--hidden", str(m["hidden_size"])]
    return argv


def plot(configs, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for name, config in configs.items():
        report = config["report"]["test_beam"]
        keys = [k[5:] for k in report if k.startswith("bleu_")]
        ax.plot(keys, [report["bleu_" + k] for k in keys], "o-", label=name)
    ax.set(xlabel="source sentence length (words)", ylabel="test BLEU (beam 5)",
           title="BLEU against source length, English -> French")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def quality(args, out_root) -> int:
    extra = QUICK if args.quick else []
    seconds = 20 if args.quick else args.minutes * 60
    configs, lines = {}, []
    print("| model | BLEU greedy | BLEU beam 5 | chrF beam 5 | BLEU by source words 1-3 / 4-5 / 6-7 / 8-10 | "
          "training | command |\n|---|---|---|---|---|---|---|", flush=True)
    names = list(args.only or [n for n in MODELS if n != "attention-h512"])
    for folder in args.runs or []:  # runs of earlier invocations (--out), each NAME/config.json
        for name in MODELS:
            if (Path(folder) / name / "config.json").is_file() and name not in configs:
                configs[name] = json.loads((Path(folder) / name / "config.json").read_text())
                print(row(name, configs[name], _argv(configs[name])), flush=True)
        names = [n for n in names if n not in configs] if args.only else []
    for first in range(0, len(names), args.parallel):  # --parallel N: N models at a time, sharing the cores
        group = {name: start(name, args.data, out_root, seconds, extra) for name in names[first:first + args.parallel]}
        for name, (process, argv, out) in group.items():
            configs[name] = finish(name, process, argv, out)
            print(row(name, configs[name], argv), flush=True)
    signature = next(iter(configs.values()))["report"]["test_beam"]["signature_bleu"]
    test = next(iter(configs.values()))["data"]["counts"]["test"]
    print(f"\ntest split: {test['sources']} source sentences, {test['pairs']} references; sacrebleu {signature}")
    bleu = {name: c["report"]["test_beam"]["bleu"] for name, c in configs.items()}
    # the longest source bucket with test sentences (8-10 words on the full data)
    present = [k for k in ("8-10", "6-7", "4-5", "1-3") if all(f"bleu_{k}" in c["report"]["test_beam"]
                                                            for c in configs.values())]
    bucket = present[0]
    longest = {name: c["report"]["test_beam"][f"bleu_{bucket}"] for name, c in configs.items()}
    if {"plain", "reversed"} <= set(configs):
        lines.append(("reversed source beats plain (beam 5)", bleu["reversed"] > bleu["plain"],
                      f"{bleu['reversed']:.2f} vs {bleu['plain']:.2f}"))
    if "attention" in configs and {"plain", "reversed"} & set(configs):
        best_none = max((n for n in ("plain", "reversed") if n in configs), key=bleu.get)
        overall, long_gap = bleu["attention"] - bleu[best_none], longest["attention"] - longest[best_none]
        lines.append((f"attention beats no attention ({best_none})", overall > 0, f"+{overall:.2f} BLEU"))
        lines.append((f"by more on sources of {bucket} words", long_gap > overall,
                      f"+{long_gap:.2f} there vs +{overall:.2f} overall"))
        plot({"attention": configs["attention"], f"no attention ({best_none})": configs[best_none]},
             Path(out_root) / "bleu_by_length.png")
        print(f"plot: {Path(out_root) / 'bleu_by_length.png'}")
    for name, c in configs.items():
        g, b = c["report"]["test_greedy"]["bleu"], c["report"]["test_beam"]["bleu"]
        lines.append((f"{name}: beam 5 beats greedy", b > g, f"{b:.2f} vs {g:.2f}"))
    best = max(bleu, key=bleu.get)
    lines.append(("best model BLEU >= 35", bleu[best] >= 35, f"{best}: {bleu[best]:.2f}"))
    for claim, ok, figures in lines:
        print(f"{'MET   ' if ok else 'MISSED'} {claim}: {figures}")
    return {"configs": configs, "claims": lines}


def speed(args, out_root) -> int:
    """Interleaved: the command for --seconds, then the plain loop for as long, twice."""
    from rnnzoo.cli import build_parser
    from rnnzoo.train.fit import model_config
    from rnnzoo.train.tasks.translate import Translate

    task = Translate()
    extra = QUICK if args.quick else []
    seconds, rounds = (8, 1) if args.quick else (args.seconds, 2)
    parsed = build_parser().parse_args(["train", "translate", "--data", args.data, "--threads", "1", *extra])
    parsed.cell_options = {}
    torch.set_num_threads(1)
    data = task.setup(parsed)
    results = {"rnnzoo": [], "plain torch": []}
    for round_ in range(rounds):
        out = Path(out_root) / f"speed{round_}"
        argv = ["train", "translate", "--data", args.data, "--out", str(out), "--max-time", str(seconds),
                "--threads", "1", "--epochs", "100", "--no-report", *extra]
        subprocess.run([sys.executable, "-m", "rnnzoo", *argv], env=command_env(), capture_output=True, check=True)
        config = json.loads((out / "config.json").read_text())
        results["rnnzoo"].append(config["steps"] * parsed.batch_size / config["train_seconds"])

        torch.manual_seed(0)
        model = task.build_model(model_config(task, parsed, data)).train()
        opt = torch.optim.Adam(model.parameters(), lr=parsed.lr)
        loader = task.loaders(parsed, data)[0]
        pairs, started = 0, time.perf_counter()
        while time.perf_counter() - started < seconds * 0.8:
            for src, src_len, tgt, tgt_len in loader:
                features, _ = model.features(src, src_len, tgt[:, :-1], tgt_len - 1)
                real = tgt[:, 1:] != 0
                loss = model.loss(features[real], tgt[:, 1:][real])
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), parsed.clip)
                opt.step()
                pairs += len(src)
                if time.perf_counter() - started >= seconds * 0.8:
                    break
        results["plain torch"].append(pairs / (time.perf_counter() - started))
    rnnzoo, plain = max(results["rnnzoo"]), max(results["plain torch"])
    print(f"sentence pairs a second (best of {rounds} interleaved rounds, one thread): rnnzoo train {rnnzoo:.0f}, "
          f"plain torch loop {plain:.0f}; machinery cost {plain / rnnzoo - 1:+.1%} (target <= +10%)")
    return {"rnnzoo": rnnzoo, "plain": plain}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "translation"
                                              / "fra.txt"), help="the pairs file (fra.txt)")
    parser.add_argument("--minutes", type=float, default=30, help="training budget of each model (30)")
    parser.add_argument("--only", nargs="+", choices=list(MODELS), help="train only these models")
    parser.add_argument("--runs", nargs="+", metavar="DIR",
                        help="read the runs in these --out folders of earlier invocations (no training) and check "
                             "the claims across them")
    parser.add_argument("--parallel", type=int, default=1,
                        help="train this many models at a time (each then takes what --threads auto finds: on a "
                             "2-core machine, with 2, one core each)")
    parser.add_argument("--speed", action="store_true", help="time the training machinery instead")
    parser.add_argument("--seconds", type=int, default=120, help="--speed: seconds of each timed run (120)")
    parser.add_argument("--quick", action="store_true", help="a few seconds on 3,000 pairs (tests)")
    parser.add_argument("--out", default=None, help="keep the run directories and the plot here")
    args = parser.parse_args(argv)
    out_root = args.out or tempfile.mkdtemp(prefix="rnnzoo-translate-")
    Path(out_root).mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs; data {args.data}; runs in {out_root}", flush=True)
    return speed(args, out_root) if args.speed else quality(args, out_root)


if __name__ == "__main__":
    main()
