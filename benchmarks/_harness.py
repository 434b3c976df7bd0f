"""Shared machinery of the benchmark suite: thread setup, interleaved timing, result rows.

Every timed workload runs chainrule and PyTorch eager (and, for some, a hand-written NumPy
reference) in the same process, interleaved: A B A B ... so that a noisy neighbour slows all
of them alike. The reported ratio is chainrule time / torch time of the medians (lower is
better).
"""

from __future__ import annotations

import gc
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SRC = ROOT / "src"
if str(SRC) not in sys.path:  # benchmark the working tree, not some installed copy
    sys.path.insert(0, str(SRC))

TORCH_THREADS = 2


class Skip(Exception):
    """A workload cannot run yet (an API it needs is missing); the message says why."""


class CheckFailed(AssertionError):
    """chainrule and torch disagree on the first loss / values: the timing would be moot."""


@dataclass
class Config:
    quick: bool = False
    profile: bool = False  # after timing, cProfile the chainrule side and print the top

    @property
    def repeats(self) -> int:
        return 5 if self.quick else 15

    @property
    def min_sample(self) -> float:
        """Seconds each timed sample lasts at least (calls are looped to reach it)."""
        return 0.02 if self.quick else 0.1

    #: Pause before every sample, so the other library's idle worker threads have gone to
    #: sleep: NumPy's OpenBLAS workers spin ~0.1 s after a call, and on 2 cores they would
    #: take the CPUs from torch's OpenMP threads (measured: 1.3 ms -> 6-40 ms per step).
    settle: float = 0.15

    @property
    def warmup(self) -> float:
        """Seconds of warm-up calls per participant (at least 2 calls)."""
        return 0.05 if self.quick else 0.2


@dataclass
class Timing:
    median: float  # seconds per call
    min: float
    samples: list[float]
    number: int  # calls per sample


@dataclass
class Row:
    """One line of the results table."""

    name: str
    description: str
    target: float | None = None
    torch: Timing | None = None
    chainrule: Timing | None = None
    numpy: Timing | None = None
    unit: str = "ms"  # "ms" per call, "us/op" (divide by per), or "MB"
    per: int = 1
    status: str = ""  # "pass", "FAIL", "info", "skip", "error"
    others_cpu: float | None = None  # share of the CPUs other processes used meanwhile
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.torch is None or self.chainrule is None or self.torch.median == 0:
            return None
        return self.chainrule.median / self.torch.median

    @property
    def ratio_min(self) -> float | None:
        if self.torch is None or self.chainrule is None or self.torch.min == 0:
            return None
        return self.chainrule.min / self.torch.min

    @property
    def ratio_paired(self) -> float | None:
        """The median over rounds of chainrule's sample / torch's sample of the same round
        (taken a few tenths of a second apart): unlike the ratio of medians, it is not moved
        by the machine's speed drifting during the run. Reported beside it, not judged."""
        if self.torch is None or self.chainrule is None:
            return None
        pairs = [c / t for t, c in zip(self.torch.samples, self.chainrule.samples) if t > 0]
        return statistics.median(pairs) if pairs else None

    def finish(self) -> Row:
        if self.status:
            return self
        r = self.ratio
        if r is None:
            self.status = "info"
        elif self.target is None:
            self.status = "info"
        else:
            self.status = "pass" if r <= self.target else "FAIL"
        return self


# --------------------------------------------------------------------------- threads

def setup_threads() -> None:
    """torch gets 2 threads; NumPy's BLAS keeps its default (2 on this machine)."""
    import torch

    torch.set_num_threads(TORCH_THREADS)


def _pool_owner(path: str, user_api: str) -> str:
    """Which package shipped a thread pool's library: "NumPy's BLAS", "torch's OpenMP"."""
    api = {"blas": "BLAS", "openmp": "OpenMP"}.get(user_api, user_api)
    names = {"numpy": "NumPy", "torch": "torch", "scipy": "SciPy"}
    for part in reversed(Path(path).parts[:-1]):
        pkg = part.removesuffix(".libs")
        if pkg in names:
            return f"{names[pkg]}'s {api}"
    return api


def thread_info() -> list[str]:
    import numpy as np
    import threadpoolctl
    import torch

    lines = [
        f"torch {torch.__version__}: torch.get_num_threads() = {torch.get_num_threads()}, "
        f"get_num_interop_threads() = {torch.get_num_interop_threads()}",
        f"numpy {np.__version__}, python {sys.version.split()[0]}, os.cpu_count() = "
        f"{os.cpu_count()}",
    ]
    for pool in threadpoolctl.threadpool_info():
        owner = _pool_owner(pool.get("filepath", ""), pool.get("user_api", ""))
        fields = [pool.get("internal_api"), pool.get("version"),
                  f"num_threads={pool.get('num_threads')}",
                  f"({os.path.basename(pool.get('filepath', ''))})"]
        lines.append(f"threadpoolctl [{owner}]: " + " ".join(str(f) for f in fields if f))
    env = {k: v for k, v in os.environ.items()
           if k.startswith(("OPENBLAS_", "OMP_", "MKL_"))}
    lines.append(f"thread env vars: {env if env else 'none set'}")
    return lines


# --------------------------------------------------------------------------- machine load

class OthersCPU:
    """How busy other processes kept the CPUs between ``start()`` and ``stop()``.

    System-wide busy time from /proc/stat minus this process's own CPU time (all threads),
    as a share of (wall time x number of CPUs). A high share means the timings are noisy.
    """

    def start(self) -> None:
        self._t = time.perf_counter()
        self._busy = _system_busy_seconds()
        self._own = _own_cpu_seconds()

    def stop(self) -> float | None:
        busy = _system_busy_seconds()
        if busy is None or self._busy is None:
            return None
        wall = time.perf_counter() - self._t
        others = (busy - self._busy) - (_own_cpu_seconds() - self._own)
        return max(0.0, others / (wall * (os.cpu_count() or 1)))


def _system_busy_seconds() -> float | None:
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + fields[4]  # idle + iowait
    return (sum(fields) - idle) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


# --------------------------------------------------------------------------- timing

def _one(fn: Callable[[], Any], number: int) -> float:
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return (time.perf_counter() - t0) / number


def measure(fns: dict[str, Callable[[], Any]], cfg: Config) -> dict[str, Timing]:
    """Warm every participant up, then time them interleaved: A B C A B C ...

    Each sample loops a participant's call enough times to last ``cfg.min_sample``; the
    result per participant is the median and min over ``cfg.repeats`` samples (s per call).
    Before each sample: a full garbage collection and a ``cfg.settle`` pause.
    """
    numbers = {}
    for name, fn in fns.items():
        time.sleep(cfg.settle)
        t0 = time.perf_counter()
        calls = 0
        while calls < 2 or time.perf_counter() - t0 < cfg.warmup:
            fn()
            calls += 1
        single = _one(fn, 1)
        numbers[name] = max(1, math.ceil(cfg.min_sample / max(single, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(cfg.repeats):
        for name, fn in fns.items():
            gc.collect()
            time.sleep(cfg.settle)
            samples[name].append(_one(fn, numbers[name]))
    if cfg.profile and "chainrule" in fns:
        per_call = statistics.median(samples["chainrule"])
        profile(fns["chainrule"], max(3, math.ceil(1.0 / max(per_call, 1e-9))))
    return {name: Timing(statistics.median(s), min(s), s, numbers[name])
            for name, s in samples.items()}


def profile(fn: Callable[[], Any], calls: int, top: int = 20) -> None:
    """cProfile ``calls`` calls of ``fn``; print the top functions by own time (tottime)."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    for _ in range(calls):
        fn()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    start = text.find("   ncalls")
    print(f"    cProfile of the chainrule side, {calls} calls, top {top} by tottime:")
    print("\n".join("      " + line for line in text[start:].rstrip().splitlines()))


def assert_close(what: str, got: Any, expected: Any, rtol: float, atol: float = 0.0) -> None:
    import numpy as np

    got = np.asarray(got, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if got.shape != expected.shape:
        raise CheckFailed(f"{what}: shapes differ, chainrule {got.shape} vs torch "
                          f"{expected.shape}")
    if not np.allclose(got, expected, rtol=rtol, atol=atol):
        err = np.max(np.abs(got - expected))
        raise CheckFailed(f"{what}: chainrule and torch disagree (max abs diff {err:.3g}, "
                          f"rtol {rtol}); e.g. {got.ravel()[:3]} vs {expected.ravel()[:3]}")


def to_numpy(t: Any) -> Any:
    """torch or chainrule tensor (or number) -> NumPy array."""
    import numpy as np

    if hasattr(t, "detach") and hasattr(t, "cpu") and type(t).__module__.startswith("torch"):
        return t.detach().cpu().numpy()
    if hasattr(t, "data") and isinstance(getattr(t, "data", None), np.ndarray):
        return t.data
    return np.asarray(t)


# --------------------------------------------------------------------------- formatting

def _fmt_time(t: Timing | None, row: Row) -> str:
    if t is None:
        return "—"
    if row.unit == "MB":
        return f"{t.median:.1f} MB (min {t.min:.1f})"
    scale, unit = (1e6 / row.per, "µs/op") if row.unit == "us/op" else (1e3, "ms")
    med, lo = t.median * scale, t.min * scale
    digits = 2 if med < 10 else 1
    return f"{med:.{digits}f} {unit} (min {lo:.{digits}f})"


def _fmt_ratio(row: Row) -> str:
    r = row.ratio
    if r is None:
        return "—"
    extra = [f"{label} {v:.2f}×" for label, v in (("mins", row.ratio_min),
                                                  ("paired", row.ratio_paired)) if v is not None]
    return f"{r:.2f}×" + (f" ({', '.join(extra)})" if extra else "")


def table(rows: list[Row]) -> list[str]:
    head = ["workload", "torch (median, min)", "chainrule (median, min)", "NumPy ref",
            "ratio cr/torch", "target", "result", "others' CPU"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for row in rows:
        target = f"≤ {row.target:.2f}×" if row.target is not None else "—"
        cells = [row.name, _fmt_time(row.torch, row), _fmt_time(row.chainrule, row),
                 _fmt_time(row.numpy, row), _fmt_ratio(row), target, row.status,
                 "—" if row.others_cpu is None else f"{row.others_cpu:.0%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def print_row(row: Row) -> None:
    print(f"  {row.name}: torch {_fmt_time(row.torch, row)}, chainrule "
          f"{_fmt_time(row.chainrule, row)}, NumPy ref {_fmt_time(row.numpy, row)}, ratio "
          f"{_fmt_ratio(row)}, target {row.target}, {row.status}, other processes' CPU "
          f"{'?' if row.others_cpu is None else format(row.others_cpu, '.0%')}", flush=True)
    for n in row.notes:
        print(f"    - {n}", flush=True)
