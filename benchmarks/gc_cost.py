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
import sys

import _harness as h
import instructions
from bench_engine import CHAIN_OPS


def main() -> int:
    h.setup_threads()
    step_torch, step_cr = (instructions.WORKLOADS["op_overhead"](lib)
                           for lib in ("torch", "chainrule"))

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
        row = h.Row(name, "", torch=torch_t, chainrule=times[name])
        print(f"  {name}: {times[name].median / CHAIN_OPS * 1e6:.2f} µs, ratio "
              f"{row.ratio:.3f}× (paired {row.ratio_paired:.3f}×)")
    return 0

if __name__ == "__main__":
    sys.exit(main())
