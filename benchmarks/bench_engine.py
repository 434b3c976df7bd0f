"""Engine benchmarks: per-op overhead, micrograd's demo step, a Hessian, backward memory.

Run through ``python benchmarks/run.py --only engine`` (or a workload name); this module can
also be run directly, or as ``--memory-child LIB N`` (the fresh process of the memory test).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys

import numpy as np
from _harness import (
    Config,
    Row,
    Timing,
    assert_close,
    measure,
    to_numpy,
)

# --------------------------------------------------------------------------- (a) op overhead

CHAIN_OPS = 1000
CHAIN_SIZE = 16


def _chain(x, tanh, n):
    """``x*1.0001``, ``x+0.001``, ``tanh`` in turn, ``n`` ops."""
    for i in range(n):
        k = i % 3
        if k == 0:
            x = x * 1.0001
        elif k == 1:
            x = x + 0.001
        else:
            x = tanh(x)
    return x


def _numpy_chain_step(x0: np.ndarray, n: int) -> tuple[float, np.ndarray]:
    """The same chain by hand: forward saving what backward needs, then backward."""
    saved = []
    x = x0
    for i in range(n):
        k = i % 3
        if k == 0:
            x = x * np.float32(1.0001)
        elif k == 1:
            x = x + np.float32(0.001)
        else:
            x = np.tanh(x)
            saved.append(x)
    total = x.sum()
    g = np.ones_like(x)
    for i in reversed(range(n)):
        k = i % 3
        if k == 0:
            g = g * np.float32(1.0001)
        elif k == 2:
            y = saved.pop()
            g = g * (1 - y * y)
    return float(total), g


def bench_op_overhead(cfg: Config) -> Row:
    import torch

    import chainrule as cr

    row = Row("op overhead (1,000-op chain)",
              f"chain of {CHAIN_OPS} elementwise ops (x*1.0001, x+0.001, tanh in turn) on a "
              f"{CHAIN_SIZE}-element float32 tensor, then sum and backward; time per op",
              target=0.5, unit="us/op", per=CHAIN_OPS)
    x0 = np.random.default_rng(0).standard_normal(CHAIN_SIZE).astype(np.float32)

    def step_torch():
        x = torch.tensor(x0, requires_grad=True)
        s = _chain(x, torch.tanh, CHAIN_OPS).sum()
        s.backward()
        return s, x.grad

    def step_cr():
        x = cr.tensor(x0, requires_grad=True)
        s = _chain(x, cr.tanh, CHAIN_OPS).sum()
        s.backward()
        return s, x.grad

    def step_np():
        return _numpy_chain_step(x0, CHAIN_OPS)

    st, gt = step_torch()
    sc, gc_ = step_cr()
    sn, gn = step_np()
    assert_close("op chain: sum", to_numpy(sc), to_numpy(st), rtol=1e-5)
    assert_close("op chain: grad", to_numpy(gc_), to_numpy(gt), rtol=1e-4, atol=1e-6)
    assert_close("op chain: NumPy reference grad", gn, to_numpy(gt), rtol=1e-4, atol=1e-6)
    times = measure({"torch": step_torch, "chainrule": step_cr, "numpy": step_np}, cfg)
    row.torch, row.chainrule, row.numpy = times["torch"], times["chainrule"], times["numpy"]
    row.notes.append("values checked: sum and x.grad agree (torch, chainrule, NumPy)")
    return row.finish()


# --------------------------------------------------------------------------- (b) micrograd

def _cr_nn():
    try:
        import chainrule.nn as crnn
    except ImportError:
        return None
    return crnn if hasattr(crnn, "Linear") else None


def _linear64(crnn, cr, n_in: int, n_out: int):
    """A float64 cr.nn.Linear (dtype= keyword, else .double()); None if neither works."""
    try:
        layer = crnn.Linear(n_in, n_out, dtype=cr.float64)
    except TypeError:
        layer = crnn.Linear(n_in, n_out)
        if hasattr(layer, "double"):
            layer = layer.double() or layer
    if layer.weight.dtype != np.float64:
        return None
    return layer


def bench_micrograd(cfg: Config) -> Row:
    import torch

    import chainrule as cr

    row = Row("micrograd moons MLP step (float64)",
              "2-16-16-1 ReLU MLP on 100 two-moons points, SVM max-margin loss + 1e-4·L2, "
              "float64, one forward+backward+manual SGD step (lr 0.1)", target=0.5)
    X, y = cr.data.make_moons(100, noise=0.1)
    X = X.astype(np.float64)
    y = (y * 2 - 1).astype(np.float64).reshape(-1, 1)  # labels -1 / +1
    sizes = [(2, 16), (16, 16), (16, 1)]
    lr, alpha = 0.1, 1e-4

    torch.manual_seed(0)
    t_layers = [torch.nn.Linear(i, o, dtype=torch.float64) for i, o in sizes]
    t_params = [p for layer in t_layers for p in (layer.weight, layer.bias)]
    crnn = _cr_nn()
    c_layers = [_linear64(crnn, cr, i, o) for i, o in sizes] if crnn is not None else []
    if c_layers and all(layer is not None for layer in c_layers):
        row.notes.append("chainrule side uses cr.nn.Linear, torch side torch.nn.Linear")
        c_params = [p for layer in c_layers for p in (layer.weight, layer.bias)]
        with cr.no_grad():
            for cp, tp in zip(c_params, t_params):
                assert cp.data.shape == tuple(tp.shape), (cp.shape, tp.shape)
                cp.data[...] = tp.detach().numpy()

        def c_forward(x):
            h = c_layers[0](x).relu()
            h = c_layers[1](h).relu()
            return c_layers[2](h)

        def t_forward(x):
            h = t_layers[0](x).relu()
            h = t_layers[1](h).relu()
            return t_layers[2](h)
    else:
        row.notes.append("cr.nn.Linear (float64) not available: both sides use plain weight "
                         "tensors")
        t_params = [p.detach().clone().requires_grad_(True) for p in t_params]
        c_params = [cr.tensor(p.detach().numpy().copy(), requires_grad=True) for p in t_params]

        def c_forward(x):
            w1, b1, w2, b2, w3, b3 = c_params
            h = (x @ w1.T + b1).relu()
            h = (h @ w2.T + b2).relu()
            return h @ w3.T + b3

        def t_forward(x):
            w1, b1, w2, b2, w3, b3 = t_params
            h = (x @ w1.T + b1).relu()
            h = (h @ w2.T + b2).relu()
            return h @ w3.T + b3

    tx, ty = torch.from_numpy(X), torch.from_numpy(y)
    cx, cy = cr.tensor(X), cr.tensor(y)

    def step_torch():
        score = t_forward(tx)
        loss = torch.relu(1 - ty * score).mean() + alpha * sum((p * p).sum() for p in t_params)
        loss.backward()
        with torch.no_grad():
            for p in t_params:
                p.data -= lr * p.grad
                p.grad = None
        return loss

    def step_cr():
        score = c_forward(cx)
        loss = cr.relu(1 - cy * score).mean() + alpha * sum((p * p).sum() for p in c_params)
        loss.backward()
        with cr.no_grad():
            for p in c_params:
                p.data -= lr * p.grad.data
                p.grad = None
        return loss

    for k in range(3):
        lt, lc = step_torch(), step_cr()
        assert_close(f"micrograd: loss at step {k + 1}", to_numpy(lc), to_numpy(lt), rtol=1e-10)
    row.notes.append(f"first 3 losses agree (rtol 1e-10); step-1 loss {float(to_numpy(lt)):.6f}")
    times = measure({"torch": step_torch, "chainrule": step_cr}, cfg)
    row.torch, row.chainrule = times["torch"], times["chainrule"]
    return row.finish()


# --------------------------------------------------------------------------- (c) Hessian

def bench_hessian(cfg: Config) -> Row:
    import torch
    import torch.func

    import chainrule as cr

    row = Row("Hessian of (Σ tanh(Ax))², x ∈ R^100",
              "cr.hessian(f)(x) beside torch.func.hessian(f)(x), float64, A 100×100 random",
              target=1.0)
    rng = np.random.default_rng(0)
    A = rng.standard_normal((100, 100)) / 10
    x = rng.standard_normal(100)
    tA, tx = torch.from_numpy(A), torch.from_numpy(x)
    cA, cx = cr.tensor(A), cr.tensor(x)

    def f_torch(v):
        return torch.tanh(tA @ v).sum() ** 2

    def f_cr(v):
        return cr.tanh(cA @ v).sum() ** 2

    h_torch = torch.func.hessian(f_torch)
    h_cr = cr.hessian(f_cr)

    def run_torch():
        return h_torch(tx)

    def run_cr():
        return h_cr(cx)

    Ht, Hc = to_numpy(run_torch()), to_numpy(run_cr())
    # the closed form: f = s², H = 2 g gᵀ + 2 s Aᵀ diag(-2 t (1 - t²)) A, t = tanh(Ax)
    t = np.tanh(A @ x)
    s = t.sum()
    g = A.T @ (1 - t * t)
    H = 2 * np.outer(g, g) + 2 * s * (A.T * (-2 * t * (1 - t * t))) @ A
    assert_close("hessian: torch vs closed form", Ht, H, rtol=1e-9, atol=1e-12)
    assert_close("hessian", Hc, Ht, rtol=1e-9, atol=1e-12)
    row.notes.append("Hessians agree with each other and with the closed form")
    times = measure({"torch": run_torch, "chainrule": run_cr}, cfg)
    row.torch, row.chainrule = times["torch"], times["chainrule"]
    return row.finish()


# --------------------------------------------------------------------------- (d) memory

MEMORY_OPS = 100_000


def _status_kb(field: str) -> int:
    """A field of /proc/self/status, in kB (VmRSS: resident now, VmHWM: its high-water)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _vm_rss_kb() -> int:
    return _status_kb("VmRSS")


def _memory_child(lib: str, n: int) -> None:
    """In a fresh process: peak RSS of forward+backward through an ``n``-op chain."""
    import gc

    x0 = np.random.default_rng(0).standard_normal(CHAIN_SIZE).astype(np.float32)
    if lib == "torch":
        import torch

        torch.set_num_threads(2)
        x = torch.tensor(x0, requires_grad=True)
        tanh = torch.tanh
    else:
        import chainrule as cr

        x = cr.tensor(x0, requires_grad=True)
        tanh = cr.tanh
    _chain(x, tanh, 30).sum().backward()  # load any lazily imported code first
    x.grad = None
    gc.collect()
    reset = True
    try:  # reset the high-water mark (Linux >= 4.0), so ru_maxrss starts from here
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        reset = False
    baseline_kb = _vm_rss_kb()
    s = _chain(x, tanh, n).sum()
    s.backward()
    # ru_maxrss is max(this memory's high-water mark, the high-water mark of the memory
    # replaced at exec): a child of a big process (run.py, with torch and chainrule loaded)
    # inherits its parent's RSS at fork in the second term, which clear_refs cannot reset.
    # VmHWM is the first term alone: ru_maxrss without the inheritance.
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm_kb = _status_kb("VmHWM")
    peak_kb = hwm_kb if reset and hwm_kb else maxrss_kb
    grad_ok = bool(np.all(np.isfinite(np.asarray(to_numpy(x.grad)))))
    print(json.dumps({"baseline_kb": baseline_kb, "peak_kb": peak_kb, "ru_maxrss_kb": maxrss_kb,
                      "vm_hwm_kb": hwm_kb, "reset": reset, "sum": float(to_numpy(s)),
                      "grad_ok": grad_ok}))


def _run_child(lib: str, n: int) -> dict:
    out = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", lib,
                          str(n)], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory child ({lib}) failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_memory(cfg: Config) -> Row:
    row = Row(f"peak RSS, backward through {MEMORY_OPS:,}-op chain",
              f"peak RSS (high-water mark minus the RSS after imports and a warm-up) of "
              f"forward+backward through a "
              f"{MEMORY_OPS:,}-op elementwise chain on a {CHAIN_SIZE}-element float32 tensor, "
              "each library in a fresh subprocess", unit="MB")
    runs = 1 if cfg.quick else 3
    mb: dict[str, list[float]] = {"torch": [], "chainrule": []}
    sums: dict[str, float] = {}
    reset = True
    inherited = 0.0
    for _ in range(runs):
        for lib in ("torch", "chainrule"):
            r = _run_child(lib, MEMORY_OPS)
            if not r["grad_ok"]:
                raise RuntimeError(f"memory child ({lib}): non-finite gradient")
            mb[lib].append((r["peak_kb"] - r["baseline_kb"]) / 1024)
            inherited = max(inherited, (r["ru_maxrss_kb"] - r["peak_kb"]) / 1024)
            sums[lib] = r["sum"]
            reset = reset and r["reset"]
    assert_close("memory chain: sum", sums["chainrule"], sums["torch"], rtol=1e-4)
    row.torch = Timing(statistics.median(mb["torch"]), min(mb["torch"]), mb["torch"], 1)
    row.chainrule = Timing(statistics.median(mb["chainrule"]), min(mb["chainrule"]),
                           mb["chainrule"], 1)
    row.notes.append(f"{runs} fresh process(es) per library, interleaved; chain sums agree")
    if not reset:
        row.notes.append("could not reset the RSS high-water mark: peaks include imports")
    elif inherited > 1:
        row.notes.append(f"peak read from VmHWM: the children's ru_maxrss was up to "
                         f"{inherited:.0f} MB higher, inherited from this process's RSS at fork")
    return row.finish()


WORKLOADS = {
    "op_overhead": bench_op_overhead,
    "micrograd": bench_micrograd,
    "hessian": bench_hessian,
    "memory": bench_memory,
}

if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--memory-child":
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src"))
        _memory_child(sys.argv[2], int(sys.argv[3]))
    else:
        import run

        sys.exit(run.main(["--only", "engine", *sys.argv[1:]]))
