"""`--threads` for the commands that run a saved model (evaluate, predict, generate), meaning what
`rnnzoo train --threads` means (`rnnzoo.threads`): auto (the default) decides from the model's work per
step at the batch the command runs, a number is used as given, 0 leaves torch's default. No timing
here: these commands are short, and the size rule alone keeps batch-1 generation on one thread, which
is what keeps it fast when another process holds a core."""

from __future__ import annotations

from .. import threads as policy

HELP = "torch threads: auto (default: from the model's size), a number, or 0 for torch's default"


def add_threads(parser) -> None:
    parser.add_argument("--threads", type=policy.setting, default="auto", help=HELP)


def threads(given, model, batch: int):
    """A context manager: torch's threads for running `model` at `batch` sequences a step, restored after."""
    return policy.applied(policy.choose(given, policy.step_work(model, batch), policy.cores()))
