"""Predict with a finished run from its saved files: two numbers for addition, a review's text
for sentiment, the number of free-run steps for mackey-glass (default: the run's horizon), a .ts file
or series ("1,2,3", dimensions split by ':') for classify and regress, the past values (numbers, or a
CSV file like the run's) for forecast: the next H values (default: after the run's own series).

Examples:
    rnnzoo predict runs/addition-gru 173 62
    rnnzoo predict runs/sentiment-lstm "A moving, beautifully shot film."
    rnnzoo predict runs/mackey-glass-esn 100
    rnnzoo predict runs/classify-lstm GunPoint_TEST.ts
    rnnzoo predict runs/forecast-gru 112 118 132 129 121 135 148 148 136 119 104 118 ...
"""

from __future__ import annotations

from ._threads import add_threads, threads

NAME = "predict"
HELP = ("predict from inputs with a trained run (addition: two numbers; sentiment: a review; mackey-glass: steps; "
        "classify/regress: series; forecast: past values)")


def configure(parser):
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory written by 'rnnzoo train'")
    parser.add_argument("inputs", metavar="INPUT", nargs="*", help="the task's input (each task checks it)")
    add_threads(parser)


def run(args):
    from ..train.fit import load_run
    task, model, config = load_run(args.run_dir)
    with threads(args.threads, model, 1):  # one input at a time
        lines = task.predict(model, config, args.inputs)
    for line in lines:
        print(line)
    return 0
