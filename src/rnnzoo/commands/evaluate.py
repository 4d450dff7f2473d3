"""Evaluate a finished run: recompute its validation figure from the saved files alone.

Examples:
    rnnzoo evaluate runs/addition-gru
    rnnzoo evaluate runs/addition-gru --bits 32      addition: longer numbers than it trained on
    rnnzoo evaluate runs/sentiment-lstm --split test sentiment: the official test reviews
    rnnzoo evaluate runs/mackey-glass-esn            mackey-glass: the free run's error at the horizon
    rnnzoo evaluate runs/charlm-lstm --data other.txt charlm: the last part of another text, as in training
    rnnzoo evaluate runs/translate-gru --split test   translate: BLEU and chrF (sacrebleu), beam 5, by length
    rnnzoo evaluate runs/classify-lstm --split test   classify: accuracy on the TEST file (regress: RMSE)
    rnnzoo evaluate runs/forecast-gru                  forecast: MASE, sMAPE, MAPE, RMSE on the test origins
    rnnzoo evaluate runs/adding --split test           adding, copy, first-symbol: the generated test set
"""

from __future__ import annotations

from ._threads import add_threads, threads

NAME = "evaluate"
SPLIT_TASKS = ("sentiment", "translate", "classify", "regress", "forecast", "sst", "adding", "copy", "first-symbol")
HELP = "recompute a run's validation metric from its saved model"


def configure(parser):
    from ..checks import int_range
    from ..train.tasks.addition import MAX_BITS
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'rnnzoo train'")
    parser.add_argument("--data", default=None,
                        help="data to evaluate on (default: the run's own). charlm: a UTF-8 text, its last part "
                        "(the run's --val-fraction) read as in training; sentiment: reviews, as 'train sentiment "
                        "--data' takes them; classify, regress: a labelled .ts file, scored as the TEST file; forecast: a CSV "
                        "like the run's, scored at its test origins; addition and mackey-glass make their own data "
                        "and refuse it")
    parser.add_argument("--bits", type=int_range(1, MAX_BITS), default=None,
                        help=f"addition: bits per number, 1 to {MAX_BITS} (as 'rnnzoo train addition')")
    parser.add_argument("--split", choices=["val", "test"], default=None,
                        help="sentiment: the held-out part of train (val) or the official test split; translate: "
                             "BLEU and chrF of the run's validation or test sources; classify, regress: the "
                             "validation part of the TRAIN file or the TEST file; forecast: the validation or test "
                             "origins; sst: the dev or test trees; adding, copy, first-symbol: the generated "
                             "validation or test set")
    parser.add_argument("--beam", type=int_range(1, 100), default=None,
                        help="translate: beam size for the BLEU figures (5; 1: greedy)")
    add_threads(parser)


def run(args):
    from ..train import fit as training
    task, model, config = training.load_run(args.run_dir)
    task_name = config["task"]
    options = {}
    if args.bits is not None:
        if task_name != "addition":
            raise ValueError("--bits applies to addition runs only")
        options["bits"] = args.bits
    if args.split is not None:
        if task_name not in SPLIT_TASKS:
            raise ValueError(f"--split applies to {', '.join(SPLIT_TASKS)} runs only")
        options["split"] = args.split
    if args.beam is not None:
        if task_name != "translate":
            raise ValueError("--beam applies to translate runs only")
        options["beam"] = args.beam
    batch = config.get("training", {}).get("batch_size") or 1  # evaluation batches are at least as large
    with threads(args.threads, model, batch):
        metrics = training.evaluate_run(task, model, config, args.data, **options)
    for key, value in metrics.items():
        if value is None:
            print(f"{key}: n/a")
        elif isinstance(value, str) or isinstance(value, int):  # a signature, a count
            print(f"{key}: {value}")
        else:  # small figures (an ESN's NRMSE, 1e-5) in scientific notation, so no digit is lost
            print(f"{key}: {value:.6f}" if value == 0 or abs(value) >= 1e-3 else f"{key}: {value:.6e}")
    return 0
