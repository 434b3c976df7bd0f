"""Importing chainrule tells glibc's malloc to keep freed memory (``_memory.py``): the pages of
a step's freed temporaries stay mapped, so the next step does not fault them in again."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

_PROBE = """
import resource, sys
import numpy as np
import chainrule  # applies the malloc settings, unless CHAINRULE_KEEP_FREED_MEMORY=0
def step():  # a training step's temporaries: 8 arrays of 8 MB, all freed at the end
    arrays = [np.ones(2 << 20, dtype=np.float32) for _ in range(8)]
    del arrays
step()  # the first step faults its 64 MB in
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
step()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults_of_second_array(keep: str) -> int:
    env = dict(os.environ, CHAINRULE_KEEP_FREED_MEMORY=keep)
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, check=True)
    return int(out.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux") or
                    not os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc"),
                    reason="mallopt is glibc's")
def test_freed_large_arrays_stay_mapped():
    kept = _faults_of_second_array("1")
    returned = _faults_of_second_array("0")
    pages = (64 << 20) // 4096
    # glibc's defaults give part of it back (here ~4,000 of the 16,384 pages fault again)
    assert returned > pages // 8, returned
    assert kept < pages // 100, kept  # kept: reused without faults


def test_keep_freed_memory_can_be_switched_off(monkeypatch):
    from chainrule import _memory

    monkeypatch.setattr(_memory, "_done", False)
    monkeypatch.setenv("CHAINRULE_KEEP_FREED_MEMORY", "0")
    assert _memory.keep_freed_memory() is False
