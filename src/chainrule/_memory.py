"""Keep freed memory in the process, so large NumPy temporaries do not page-fault every step.

glibc hands big freed blocks back to the operating system (``munmap``, or trimming the top of
the heap); the next step's arrays of the same size then fault their pages in again, one 4 KiB
page at a time. A training step allocates and frees tens of megabytes of activations and
gradients, so in a virtual machine this costs as much as the arithmetic (measured: the MNIST
CNN step in ``benchmarks/`` takes ~42 ms with ~6,000 page faults per step, ~22 ms with none).

:func:`keep_freed_memory` raises glibc's thresholds (``mallopt``) so that blocks up to 32 MiB
come from the heap and up to 1 GiB of freed memory stays mapped. Set the environment variable
``CHAINRULE_KEEP_FREED_MEMORY=0`` to leave the allocator alone. On other C libraries it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_done = False


def keep_freed_memory(mmap_threshold: int = 32 << 20, trim_threshold: int = 1 << 30) -> bool:
    """Tune glibc's ``malloc`` to reuse freed memory (once per process); True if applied."""
    global _done
    if _done:
        return True
    if os.environ.get("CHAINRULE_KEEP_FREED_MEMORY", "1") in ("0", "false", "no"):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_MMAP_THRESHOLD, mmap_threshold)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_threshold))
    _done = ok
    return ok
