"""Run a small worked example end to end.

    rnnzoo example addition    a NumPy Elman network learns binary addition by hand-written BPTT
                               (rnnzoo.reference), then adds numbers far longer than it saw
"""

from __future__ import annotations

import argparse

import numpy as np

from ..checks import int_range
from ..cli import CommandError

NAME = "example"
HELP = "run a small worked example (addition)"


def configure(parser):
    examples = parser.add_subparsers(title="examples", metavar="EXAMPLE", parser_class=type(parser))
    add = examples.add_parser(
        "addition", help="learn binary addition with a from-scratch NumPy RNN",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Train rnnzoo.reference.NumpyElman (2 inputs -> tanh hidden -> sigmoid output; "
        "backpropagation\nthrough time by hand, Adam) on pairs of random integers fed bit by bit, "
        "least significant\nbit first, until it adds 1,000 held-out pairs (never trained on) "
        "exactly; then test it on\nnumbers of --test-bits bits. Takes about a second.")
    add.add_argument("--bits", type=int_range(1, 31), default=8, help="bits per training number (default 8)")
    add.add_argument("--hidden", type=int_range(1, 1024), default=16, help="hidden units (default 16)")
    add.add_argument("--seed", type=int_range(0), default=0, help="random seed (default 0)")
    add.add_argument("--test-bits", type=int_range(1, 4096), default=32,
                     help="bits per number of the generalisation test (default 32)")
    add.add_argument("--steps", type=int_range(1, 1_000_000), default=5000,
                     help="give up after this many training steps (default 5000)")
    add.set_defaults(run=addition)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def addition(args):
    from ..reference import encode_addition, from_bits, train_addition

    print(f"Binary addition with a from-scratch NumPy Elman network (2 -> {args.hidden} -> 1, "
          f"hand-written BPTT, Adam), seed {args.seed}.")
    print(f"It reads two {args.bits}-bit numbers a bit at a time, least significant first, "
          "and writes their sum.")
    result = train_addition(bits=args.bits, hidden=args.hidden, steps=args.steps, seed=args.seed,
                            test_bits=args.test_bits, log=lambda line: print("  " + line, flush=True))
    n_held = len(result.held_out[0])
    if result.converged:
        print(f"Trained in {result.steps} steps, {result.seconds:.2f} s (every held-out sum exact at "
              f"step {result.exact_at}, then {result.steps - result.exact_at} steps more to settle).")
    else:
        print(f"Stopped after {result.steps} steps, {result.seconds:.2f} s.")
    print()
    rows = [(f"held-out {args.bits}-bit pairs ({n_held:,}, never trained on):", result.accuracy),
            (f"random {args.test_bits}-bit pairs (1,000, trained on {_plural(args.bits, 'bit')}):",
             result.test_accuracy)]
    width = max(len(label) for label, _ in rows)
    for label, accuracy in rows:
        print(f"{label:{width}} {accuracy:6.1%} exact")

    def answer(u, v, bits):
        """The network's sum of u and v, and a note when it is wrong."""
        (total,) = from_bits(result.model.predict(encode_addition([u], [v], bits)[0])[:, :, 0])
        return total, ("" if total == u + v else f"  <- wrong, {u} + {v} = {u + v}")

    print("\nWorked examples (the network's answers; bits written most significant first):")
    rng, n = np.random.default_rng(args.seed), args.bits
    digits = max(5, len(str((1 << (n + 1)) - 2)))  # room for the largest sum
    for i in rng.choice(n_held, size=min(3, n_held), replace=False):
        u, v = int(result.held_out[0][i]), int(result.held_out[1][i])
        total, note = answer(u, v, n)
        print(f"  {u:{digits}} + {v:{digits}} = {total:{digits}}  "
              f"(bits {u:0{n}b} + {v:0{n}b} = {total:0{n + 1}b}){note}")
    wide = args.test_bits
    u, v = (int.from_bytes(rng.bytes(wide // 8 + 1), "little") % (1 << wide) for _ in range(2))
    total, note = answer(u, v, wide)
    print(f"  {u} + {v} = {total}  ({wide}-bit){note}")
    if not result.converged:
        raise CommandError(f"the network did not add every held-out pair exactly in {result.steps} "
                           "steps; try another --seed or more --steps")
    return 0
