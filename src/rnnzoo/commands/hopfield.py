"""Associative memories from the command line: Hopfield capacity sweeps and picture recall.

    rnnzoo hopfield capacity   store P = alpha N random patterns for each load alpha, cue each with
                               --flip of its bits flipped, print the mean overlap of the recall with
                               the pattern per alpha and rule, and plot it (the Hebbian knee 0.138
                               of Amit, Gutfreund & Sompolinsky marked)
    rnnzoo hopfield recall     store 16x16 pictures (built-in letters, or your PNGs), recall them
                               from corrupted and from half-masked cues, draw cues and recalls side
                               by side, and print which were recovered

Examples:
    rnnzoo hopfield capacity --n 500 --rule hebbian storkey --out capacity.png
    rnnzoo hopfield capacity --n 200 --rule pinv --alphas 0.1 0.5 0.9 --trials 1
    rnnzoo hopfield recall --chars HOPFIELD --rule pinv --out recall.png
    rnnzoo hopfield recall --images my_pngs/ --rule storkey --flip 0.15
"""

from __future__ import annotations

import argparse
import math
import os

from .. import threads as policy
from ..checks import int_range
from ..cli import CommandError
from ._threads import add_threads

NAME = "hopfield"
HELP = "Hopfield networks: capacity sweep against the load, and picture recall"

CAPACITY_RULES = ("hebbian", "storkey", "pinv", "modern")
RECALL_RULES = ("hebbian", "storkey", "pinv")
MAX_N = 10_000  # the weights are N x N float64: 800 MB at this size


def alpha_list(text: str) -> list[float]:
    """An argparse `type=`: one load or a comma-separated list of them, each in (0, 1]."""
    values = []
    for part in text.split(","):
        part = part.strip()
        try:
            value = float(part)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected numbers in (0, 1], got {part!r}") from None
        if not (0 < value <= 1) or not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"each load alpha = P/N must be in (0, 1], got {part}")
        values.append(value)
    return values


def flip_fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 0.5), got {text!r}") from None
    if not (0 <= value < 0.5):
        raise argparse.ArgumentTypeError(f"the fraction of cue bits flipped must be in [0, 0.5), got {text}")
    return value


def configure(parser):
    from ..memory.capacity import DEFAULT_ALPHAS

    sub = parser.add_subparsers(title="subcommands", metavar="SUBCOMMAND", parser_class=type(parser))
    cap = sub.add_parser("capacity", help="recall quality against the load alpha = P/N, table and plot",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Store P = round(alpha N) random bipolar patterns for each load alpha, cue "
                         "every one\nwith --flip of its bits flipped, recall, and report the mean overlap "
                         "m = (1/N) s.xi\nof the recalled state s with the cued pattern xi (1: perfect "
                         "recall), averaged over --trials.\nThe plot marks the theory: the Hebbian knee "
                         "alpha = 0.138, the Storkey capacity 1/sqrt(2 ln N)\nand the pinv limit of N - 1 "
                         "patterns.")
    cap.add_argument("--n", type=int_range(2, MAX_N), default=500, help="units N (default 500)")
    cap.add_argument("--rule", nargs="+", action="extend", choices=CAPACITY_RULES, default=None,
                     metavar="RULE", help="storage rule(s), several to compare on one plot: "
                     f"{', '.join(CAPACITY_RULES)} (default hebbian)")
    cap.add_argument("--alphas", nargs="+", type=alpha_list, default=None, metavar="ALPHA",
                     help="loads P/N in (0, 1], space- or comma-separated (default "
                     f"{','.join(f'{a:g}' for a in DEFAULT_ALPHAS)})")
    cap.add_argument("--trials", type=int_range(1, 1000), default=3,
                     help="fresh pattern sets per load (default 3)")
    cap.add_argument("--flip", type=flip_fraction, default=0.1,
                     help="fraction of each cue's bits flipped, in [0, 0.5) (default 0.1)")
    cap.add_argument("--mode", choices=("async", "sync"), default="async",
                     help="classic rules: asynchronous (default) or synchronous updates")
    cap.add_argument("--seed", type=int_range(0), default=0, help="random seed (default 0)")
    cap.add_argument("--out", default="hopfield_capacity.png",
                     help="the plot's file, not a folder; .png added without an extension (default "
                     "hopfield_capacity.png)")
    add_threads(cap)
    cap.set_defaults(run=capacity)

    rec = sub.add_parser("recall", help="recall 16x16 pictures from corrupted and half-masked cues",
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Store pictures in a Hopfield network of 256 units (the built-in 16x16 "
                         "letters of --chars,\nor every PNG of --images, made 16x16 black and white), "
                         "recall each from a cue with --flip\nof its pixels flipped and from a cue whose "
                         "bottom half is hidden, and write one row per\npicture (stored | noisy cue | "
                         "recall | half-masked cue | recall) to --out. Letters are\ncorrelated: the "
                         "pinv rule recalls them, Hebbian mixes them into spurious states.")
    rec.add_argument("--chars", default=None, help="letters/digits to store (A-Z, 0-9; default HOPFIELD)")
    rec.add_argument("--images", default=None, metavar="FOLDER", help="store the PNG files of this folder "
                     "instead of letters")
    rec.add_argument("--rule", choices=RECALL_RULES, default="pinv", help="storage rule (default pinv)")
    rec.add_argument("--flip", type=flip_fraction, default=0.2,
                     help="fraction of the noisy cue's pixels flipped (default 0.2)")
    rec.add_argument("--mask-fill", choices=("random", "blank"), default="random",
                     help="what hides the bottom half of the masked cue: random pixels (default) or blank")
    rec.add_argument("--mode", choices=("async", "sync"), default="async",
                     help="asynchronous (default) or synchronous updates")
    rec.add_argument("--seed", type=int_range(0), default=0, help="random seed (default 0)")
    rec.add_argument("--out", default="hopfield_recall.png", help="the picture's file, not a folder; .png added "
                     "without an extension (default hopfield_recall.png)")
    add_threads(rec)
    rec.set_defaults(run=recall)


def _threads(args, units: int):
    """--threads for a network of `units`: auto gives one thread to the update loops (a synchronous step is
    one matrix-vector product, an asynchronous one a single unit's row), more only for very large nets."""
    work = units * units if args.mode == "sync" else units
    return policy.applied(policy.choose(args.threads, work, policy.cores()))


def _plot_file(path: str) -> str:
    """The file --out names (".png" added where it has no extension, as matplotlib would, so that the
    path printed is the one written), its folder made; a folder or an unknown format refused before the work."""
    from ..memory._checks import figure_path
    try:
        path = figure_path(path)
    except ValueError as e:
        raise CommandError(f"--out {e}") from None
    parent = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as e:
        raise CommandError(f"--out {path}: cannot create its folder {parent}: {e.strerror}") from None
    return path


def capacity(args):
    from ..memory import capacity_sweep, plot_capacity
    from ..memory.capacity import DEFAULT_ALPHAS, HEBBIAN_KNEE

    rules = list(dict.fromkeys(args.rule or ["hebbian"]))  # repeated rules once, in order
    alphas = sorted({a for group in args.alphas for a in group}) if args.alphas else list(DEFAULT_ALPHAS)
    n = args.n
    if "pinv" in rules:
        too_many = [a for a in alphas if max(1, round(a * n)) > n - 1]
        if too_many:
            raise CommandError(f"--alphas {too_many[0]:g} stores {max(1, round(too_many[0] * n))} patterns, but "
                               f"the pinv rule holds at most N - 1 = {n - 1} (alpha <= {(n - 1) / n:.4g} at N = {n})")
    args.out = _plot_file(args.out)
    with _threads(args, n):
        results = [capacity_sweep(n, rule, alphas=alphas, flip=args.flip, trials=args.trials, seed=args.seed,
                                  mode=args.mode) for rule in rules]
    print(f"Hopfield capacity, N = {n}, cues with {args.flip:.0%} of their bits flipped, {args.trials} "
          f"trial(s), {args.mode} updates; mean overlap of the recall with the cued pattern (1 = perfect):")
    width = max(9, *(len(r) + 2 for r in rules))
    print(f"{'alpha':>6} {'P':>6}" + "".join(f"{r:>{width}}" for r in rules))
    for i, alpha in enumerate(alphas):
        cells = "".join(f"{r['overlap'][i]:>{width}.4f}" for r in results)
        print(f"{alpha:>6.3f} {results[0]['patterns'][i]:>6d}" + cells)
    if "hebbian" in rules:
        print(f"theory: the Hebbian rule breaks down near alpha = {HEBBIAN_KNEE} (Amit, Gutfreund & "
              "Sompolinsky 1985)")
    if "storkey" in rules:
        print(f"theory: Storkey capacity 1/sqrt(2 ln N) = {1 / math.sqrt(2 * math.log(n)):.3f} at N = {n}")
    print(f"plot: {plot_capacity(results, args.out)}")
    return 0


def recall(args):
    from ..memory import recall_demo

    if args.images is not None and args.chars is not None:
        raise CommandError("give --images or --chars, not both")
    chars = "HOPFIELD" if args.chars is None else args.chars
    if args.images is not None:
        from pathlib import Path
        folder = Path(args.images)
        if not folder.is_dir():
            raise CommandError(f"--images {args.images}: no such folder (give a folder of PNG files)")
        if not any(p.suffix.lower() == ".png" for p in folder.iterdir()):
            raise CommandError(f"--images {args.images}: the folder holds no .png file")
    else:
        from ..memory.letters import FONT
        unknown = sorted({c for c in chars if c.upper() not in FONT}, key=chars.index)
        if unknown:
            raise CommandError(f"--chars {chars!r}: no built-in picture for {', '.join(repr(c) for c in unknown)} "
                               "(letters A-Z and digits 0-9 only)")
        if not chars:
            raise CommandError("--chars must name at least one letter or digit")
        repeated = sorted({c for c in chars.upper() if chars.upper().count(c) > 1})
        if repeated:
            raise CommandError(f"--chars {chars!r} repeats {', '.join(repr(c) for c in repeated)}; "
                               "each picture is stored once")
    args.out = _plot_file(args.out)
    with _threads(args, 256):
        r = recall_demo(args.out, chars=chars, images=args.images, rule=args.rule, flip=args.flip,
                        mode=args.mode, mask_fill=args.mask_fill, seed=args.seed)
    K = len(r["names"])
    print(f"Hopfield recall ({args.rule} rule, 256 units, {K} picture(s)); noisy cue: {args.flip:.0%} of "
          f"pixels flipped; masked cue: bottom half {'random' if args.mask_fill == 'random' else 'blank'}")
    width = max(7, *(len(name) + 1 for name in r["names"]))
    print(f"{'picture':<{width}} {'noisy cue':<30} half-masked cue")

    stored = r["stored"].reshape(K, -1)

    def cell(kind, k):
        overlap = r[f"overlap_{kind}"][k]
        if overlap >= 1 - 1e-9:
            return f"recovered     m={overlap:+.3f}"
        same = (r[f"{kind}_recall"][k].reshape(1, -1) == stored).all(1).nonzero().flatten().tolist()
        where = f" (became {r['names'][same[0]]})" if same else ""
        return f"not recovered m={overlap:+.3f}{where}"

    for k, name in enumerate(r["names"]):
        print(f"{name:<{width}} {cell('noisy', k):<30} {cell('masked', k)}")
    print(f"recovered exactly: {r['recalled_noisy']}/{K} from noisy cues, {r['recalled_masked']}/{K} from "
          "half-masked cues")
    print(f"picture: {r['path']}")
    return 0
