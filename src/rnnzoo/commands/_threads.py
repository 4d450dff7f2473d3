"""`--threads` for the commands that run a saved model (evaluate, predict, generate), meaning what
`rnnzoo train --threads` means: torch's intra-op threads, 0 for torch's default."""

from __future__ import annotations

import contextlib

from ..checks import int_range

HELP = "torch threads (0: torch's default); 1 is fastest for small models"


def add_threads(parser) -> None:
    parser.add_argument("--threads", type=int_range(0), default=0, help=HELP)


@contextlib.contextmanager
def threads(n: int):
    """torch's intra-op threads set to n for the block (0: left as they are), then restored: `cli.main`
    may run several commands in one process (the tests do), and one command's setting must not leak."""
    import torch
    before = torch.get_num_threads()
    if n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n:
            torch.set_num_threads(before)
