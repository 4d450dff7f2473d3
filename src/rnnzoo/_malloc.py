"""Keep freed memory in the process heap during training (glibc's malloc; elsewhere nothing changes).

A training step allocates and frees the same large buffers every time (the activations kept for
backward and their gradients, tens of MB). glibc hands large freed blocks back to the kernel (mmap above
a threshold, heap trimming above another), so the next step's buffers arrive as fresh pages that the
kernel faults in and zeroes again: measured on the 2-core CI machine, 15-25k page faults and 22-38 ms of
kernel time in a 100-140 ms LSTM training step (N=64, L=100, H=256). PyTorch's CPU performance guide
answers this with tcmalloc or jemalloc; the same effect without a new dependency is two mallopt
settings: mmap only blocks over 1 GB (or, where glibc refuses that threshold, never) and never trim the
heap (either alone is worse: a fixed threshold turns glibc's adaptive one off). Measured, nn.LSTM at that
size: 14.8k -> 0 faults and 101 -> 76 ms a step. `rnnzoo train` sets them at start; the cost is that the
process keeps its peak memory until it exits. RNNZOO_MALLOC=default leaves glibc as it is.
"""

from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -3, -4  # glibc's malloc.h


def retain_freed_memory() -> bool:
    """Ask glibc to keep freed memory for reuse; True when it took both settings, False where it does
    not apply (not Linux/glibc, or RNNZOO_MALLOC=default)."""
    if os.environ.get("RNNZOO_MALLOC", "").strip().lower() == "default" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library this process runs on
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    no_mmap = bool(mallopt(M_MMAP_THRESHOLD, 1 << 30)) or bool(mallopt(M_MMAP_MAX, 0))
    return no_mmap and bool(mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
