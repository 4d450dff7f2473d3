"""Generate text with a trained character-level model, by sampling (temperature, top-k) or greedily;
or, for a mackey-glass run, --length values of its free run after the teacher, one a line.

Sampling is the default: argmax decoding falls into loops like "the was the was". The text is printed
as it is sampled, so a long one shows its progress and Ctrl-C stops it; a --length over 100,000 gets a
warning (one model step per character: minutes), not a refusal.

Examples:
    rnnzoo generate runs/charlm-lstm --prompt "Alice was" --length 400
    rnnzoo generate runs/charlm-lstm --temperature 0.5 --top-k 10 --seed 1
    rnnzoo generate runs/mackey-glass-esn --length 200
"""

from __future__ import annotations

import sys

from ..checks import float_range, int_range
from ._threads import add_threads, threads

# below it, logits / temperature overflow float32 into NaN probabilities; --greedy is the limit at 0
MIN_TEMPERATURE = 0.01
# above it, a warning: a small charlm samples a few thousand characters a second on one core
LONG_LENGTH = 100_000
NAME = "generate"
HELP = "sample text from a trained charlm run; a mackey-glass run's free run"


def configure(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a charlm (or mackey-glass) run directory")
    parser.add_argument("--prompt", default="", help="text to start from")
    parser.add_argument("--length", type=int_range(1), default=300, help="characters to generate (300)")
    parser.add_argument("--temperature", type=float_range(MIN_TEMPERATURE), default=0.8,
                        help=f"sampling temperature, >= {MIN_TEMPERATURE} (0.8; --greedy for the likeliest)")
    parser.add_argument("--top-k", type=int_range(0), default=0, help="sample among the k likeliest (0: all)")
    parser.add_argument("--greedy", action="store_true", help="always take the likeliest character")
    parser.add_argument("--seed", type=int_range(0, 2 ** 63 - 1), default=None, help="random seed for sampling")
    add_threads(parser)


def run(args):
    from ..train.fit import load_run
    task, model, config = load_run(args.run_dir)  # first: a bad run directory is its one error line
    with threads(args.threads, model, 1):  # one sequence, one step at a time
        if args.length > LONG_LENGTH:
            print(f"rnnzoo: warning: --length {args.length} is over {LONG_LENGTH:,}: one model step each, this "
                  "may take minutes (Ctrl-C stops it)", file=sys.stderr)
        pieces = task.stream(model, config, args.prompt, args.length, args.temperature, args.top_k,
                             args.greedy, args.seed)
        try:
            for piece in pieces:  # printed as they come: the same text as print(task.generate(...))
                sys.stdout.write(piece)
                sys.stdout.flush()
        except KeyboardInterrupt:
            print()  # end the partial line; main reports the interruption
            raise
        print()
    return 0
