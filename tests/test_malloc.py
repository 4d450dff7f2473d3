"""rnnzoo._malloc: glibc keeps freed memory, so repeated large allocations stop faulting pages in."""

import argparse
import os
import subprocess
import sys

import pytest

from rnnzoo import _malloc

# 8 rounds of a 64 MB buffer touched and freed, then the page faults of the last 4 rounds
PROBE = """
import resource, sys
import torch
from rnnzoo._malloc import retain_freed_memory
took = retain_freed_memory()
for i in range(8):
    if i == 4:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    t = torch.empty(16 * 1024 * 1024).fill_(1.0)  # 64 MB: glibc mmaps it fresh each time by default
    del t
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _probe(env_value):
    env = {**os.environ, "RNNZOO_MALLOC": env_value}
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    took, faults = out.stdout.split()
    return took == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_retained_memory_is_reused_without_page_faults():
    took, faults = _probe("")
    took_default, faults_default = _probe("default")
    assert took and not took_default
    assert faults_default > 4 * 16_000 * 0.9  # 4 rounds x 16k pages of 4 KB, faulted in again each time
    assert faults < faults_default / 20


def test_rnnzoo_train_sets_it_before_training(monkeypatch):
    from rnnzoo.commands import train
    calls = []
    monkeypatch.setattr(_malloc, "retain_freed_memory", lambda: calls.append(1) or True)
    args = argparse.Namespace(threads=0, out=None, task="addition", model="lstm")
    train._prepare(args)
    assert calls == [1] and args.out == os.path.join("runs", "addition-lstm")
