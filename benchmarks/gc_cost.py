"""What Python's garbage collector costs the op_overhead workload, in one run.

    python benchmarks/gc_cost.py          # ~1 minute

Times the op chain (benchmarks/bench_engine.py's op_overhead workload) three ways,
interleaved as run.py does (a full collection and a pause before every sample): PyTorch,
chainrule, and chainrule with automatic collection off during its samples. A recorded op keeps
a few tracked objects alive until backward (tensor, node, the node's parents and inputs), so
a long graph sets off collections, now and then a full one over every object in the process.
"""

from __future__ import annotations

import gc
import statistics
import sys

import _harness as h
import numpy as np
from bench_engine import CHAIN_OPS, CHAIN_SIZE, _chain


def main() -> int:
    h.setup_threads()
    import torch

    import chainrule as cr

    x0 = np.random.default_rng(0).standard_normal(CHAIN_SIZE).astype(np.float32)

    def step_torch():
        x = torch.tensor(x0, requires_grad=True)
        _chain(x, torch.tanh, CHAIN_OPS).sum().backward()

    def step_cr():
        x = cr.tensor(x0, requires_grad=True)
        _chain(x, cr.tanh, CHAIN_OPS).sum().backward()

    def step_cr_without_gc():
        gc.disable()
        try:
            step_cr()
        finally:
            gc.enable()

    times = h.measure({"torch": step_torch, "chainrule": step_cr,
                       "chainrule, collector off": step_cr_without_gc}, h.Config())
    torch_t = times["torch"]
    print(f"op chain, per op: torch {torch_t.median / CHAIN_OPS * 1e6:.2f} µs")
    for name in ("chainrule", "chainrule, collector off"):
        t = times[name]
        paired = statistics.median(c / s for s, c in zip(torch_t.samples, t.samples))
        print(f"  {name}: {t.median / CHAIN_OPS * 1e6:.2f} µs, ratio "
              f"{t.median / torch_t.median:.3f}× (paired {paired:.3f}×)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
