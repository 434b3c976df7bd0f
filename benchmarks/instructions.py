"""Count the CPU instructions one step of a small workload costs, under valgrind's callgrind.

    python benchmarks/instructions.py                 # both workloads, ~1-2 minutes
    python benchmarks/instructions.py op_overhead     # or micrograd
    python benchmarks/instructions.py --torch         # PyTorch's step instead of chainrule's

On a VM whose speed drifts by 2x within a minute, a change of a few percent in the engine's
Python bookkeeping cannot be seen in wall time; the instruction count is deterministic (the
same to within ~0.1% from run to run), so it is how such changes were compared. It is a
proxy: instructions are not time (PyTorch's step takes more instructions per op than
chainrule's, yet more time), so use it to compare two versions of chainrule, and the
timed benchmarks (run.py) for the ratios to PyTorch.

Each count runs the workload's step STEPS_FEW and STEPS_MANY times in two processes under
``valgrind --tool=callgrind`` (in parallel) and divides the difference by the difference of
steps, so imports and warm-up cancel out. Python's cyclic garbage collector is off while
the steps run: its full collections come in lumps (one may fall in one count and not in the
other) and cost in proportion to every object in the process, not to the step. What the
step does to the collector is reported apart, without valgrind: the collections of each
generation per step, with the collector on. Needs valgrind (Debian: ``apt-get install
valgrind``).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
STEPS_FEW, STEPS_MANY = 2, 22


def _op_overhead_step(lib: str):
    """The op_overhead workload's step: 1,000 elementwise ops, sum, backward."""
    from bench_engine import CHAIN_OPS, CHAIN_SIZE, _chain

    x0 = np.random.default_rng(0).standard_normal(CHAIN_SIZE).astype(np.float32)
    if lib == "torch":
        import torch

        def step():
            x = torch.tensor(x0, requires_grad=True)
            _chain(x, torch.tanh, CHAIN_OPS).sum().backward()
    else:
        import chainrule as cr

        def step():
            x = cr.tensor(x0, requires_grad=True)
            _chain(x, cr.tanh, CHAIN_OPS).sum().backward()
    return step


def _micrograd_step(lib: str):
    """The micrograd workload's step: forward, SVM loss + L2, backward, SGD (float64)."""
    import chainrule as cr

    x, y = cr.data.make_moons(100, noise=0.1)
    x, y = x.astype(np.float64), (y * 2 - 1).astype(np.float64).reshape(-1, 1)
    lr, alpha = 0.1, 1e-4
    if lib == "torch":
        import torch as m

        torch_layers = [m.nn.Linear(i, o, dtype=m.float64) for i, o in ((2, 16), (16, 16),
                                                                           (16, 1))]
        layers, relu, inputs = torch_layers, m.relu, (m.from_numpy(x), m.from_numpy(y))
        no_grad = m.no_grad
    else:
        layers = [cr.nn.Linear(i, o, dtype=cr.float64) for i, o in ((2, 16), (16, 16), (16, 1))]
        relu, inputs, no_grad = cr.relu, (cr.tensor(x), cr.tensor(y)), cr.no_grad
    params = [p for layer in layers for p in (layer.weight, layer.bias)]
    bx, by = inputs

    def step():
        score = layers[2](relu(layers[1](relu(layers[0](bx)))))
        loss = relu(1 - by * score).mean() + alpha * sum((p * p).sum() for p in params)
        loss.backward()
        with no_grad():
            for p in params:
                p.data -= lr * p.grad.data
                p.grad = None
    return step


WORKLOADS = {"op_overhead": _op_overhead_step, "micrograd": _micrograd_step}


def _step(name: str, lib: str):
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent / "src"))
    step = WORKLOADS[name](lib)
    for _ in range(2):  # warm up
        step()
    return step


def _child(name: str, lib: str, steps: int) -> None:
    """Run under valgrind: ``steps`` steps with the garbage collector off."""
    step = _step(name, lib)
    gc.collect()
    gc.disable()
    for _ in range(steps):
        step()


def collections_per_step(name: str, lib: str, steps: int = 50) -> list[float]:
    """Garbage collections of generations 0, 1, 2 per step (collector on, after a full one)."""
    step = _step(name, lib)
    gc.collect()
    before = [s["collections"] for s in gc.get_stats()]
    for _ in range(steps):
        step()
    return [(s["collections"] - b) / steps for s, b in zip(gc.get_stats(), before)]


def _launch(name: str, lib: str, steps: int) -> subprocess.Popen:
    cmd = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
           __file__, "--child", name, lib, str(steps)]
    # One BLAS/OpenMP thread: idle worker threads spin, and their spinning would be counted.
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONHASHSEED="0")
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env=env)


def _instructions(proc: subprocess.Popen) -> int:
    _, err = proc.communicate()
    found = re.search(r"Collected : (\d+)", err)
    if proc.returncode != 0 or found is None:
        raise RuntimeError(f"valgrind run failed (exit {proc.returncode}):\n{err[-2000:]}")
    return int(found.group(1))


def count(name: str, lib: str) -> float:
    """Instructions per step of workload ``name`` with ``lib`` ("chainrule" or "torch")."""
    few, many = _launch(name, lib, STEPS_FEW), _launch(name, lib, STEPS_MANY)
    return (_instructions(many) - _instructions(few)) / (STEPS_MANY - STEPS_FEW)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workloads", nargs="*", help="op_overhead, micrograd (default: both)")
    parser.add_argument("--torch", action="store_true", help="count PyTorch's step instead")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _child(args.child[0], args.child[1], int(args.child[2]))
        return 0
    unknown = sorted(set(args.workloads) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workload {', '.join(unknown)}; choose from {', '.join(WORKLOADS)}")
    if shutil.which("valgrind") is None:
        print("instructions.py needs valgrind (apt-get install valgrind)", file=sys.stderr)
        return 2
    lib = "torch" if args.torch else "chainrule"
    for name in args.workloads or WORKLOADS:
        per_step = count(name, lib)
        per = f" (per op: {per_step / 1000:,.0f})" if name == "op_overhead" else ""
        gens = ", ".join(f"{n:.2f}" for n in collections_per_step(name, lib))
        print(f"{name}: {lib} {per_step:,.0f} instructions per step{per}, garbage collector "
              f"off; with it on, collections of generations 0, 1, 2 per step: {gens}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
