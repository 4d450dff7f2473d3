"""Helpers for Python loops of many small tensor ops (Hopfield sweeps, reservoir time steps)."""

from __future__ import annotations

import contextlib

import torch


@contextlib.contextmanager
def single_thread(enabled: bool = True):
    """Run the block with torch's intra-op threads set to 1, then restore the previous number.

    A loop of thousands of ops on a few thousand numbers each gains nothing from intra-op threads and
    loses a lot to their wake-ups, most of all on a busy machine (3-10x measured on 2 shared cores).
    """
    before = torch.get_num_threads()
    if enabled and before != 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if enabled and before != 1:
            torch.set_num_threads(before)
