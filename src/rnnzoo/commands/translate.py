"""Translate sentences with a finished translate run, from its run directory alone.

Each sentence is tokenised as in training and decoded by beam search (--beam 5, the default) or
greedily (--beam 1); one translation a line. Words the model never saw in training are read as
unknown, and a note on stderr names them. A sentence over the run's --max-words is refused.

Examples:
    rnnzoo translate runs/translate-gru "How are you?"
    rnnzoo translate runs/translate-gru "I'm hungry." "Where is the station?" --beam 1
"""

from __future__ import annotations

import sys

from ..checks import float_range, int_range
from ._threads import add_threads, threads

NAME = "translate"
HELP = "translate sentences with a trained translate run"


def configure(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'rnnzoo train translate'")
    parser.add_argument("sentences", metavar="SENTENCE", nargs="+", help="sentences to translate, one argument each")
    parser.add_argument("--beam", type=int_range(1, 100), default=5, help="beam size (5; 1: greedy)")
    parser.add_argument("--length-penalty", type=float_range(0), default=1.0,
                        help="beam search: rank finished translations by log-probability / length ** this (1.0)")
    add_threads(parser)


def run(args):
    from ..train.fit import load_run
    task, model, config = load_run(args.run_dir)  # first: a bad run directory is its one error line
    if config["task"] != "translate":
        raise ValueError(f"{args.run_dir} is a {config['task']!r} run; translate needs a 'rnnzoo train translate' run")
    with threads(args.threads, model, args.beam):
        for sentence in args.sentences:
            text, unknown = task.translate_one(model, config, sentence, args.beam, args.length_penalty)
            if unknown:
                print(f"note: unknown to the model (read as <unk>): {', '.join(map(repr, unknown))}", file=sys.stderr)
            print(text)
    return 0
