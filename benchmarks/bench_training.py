"""Training-step benchmarks: forward, backward and optimizer step, float32, fixed batch.

Both libraries start from the same weights (torch's initialisation, copied into chainrule),
see the same batch, and must agree on the first losses before anything is timed. Workloads
whose chainrule API (cr.nn, cr.optim) is not importable yet are skipped with the reason.
"""

from __future__ import annotations

import importlib
import math
import sys
from typing import Any

import numpy as np
from _harness import CheckFailed, Config, Row, Skip, assert_close, measure, to_numpy

CHECK_STEPS = 3  # losses of the first steps compared before timing


def _need(*names: str) -> Any:
    """Import ``chainrule`` and check the dotted names (``nn.Linear``) exist, else Skip."""
    import chainrule as cr

    missing = []
    for dotted in names:
        obj: Any = cr
        for part in dotted.split("."):
            if hasattr(obj, part):
                obj = getattr(obj, part)
                continue
            module = f"{obj.__name__}.{part}"
            try:
                obj = importlib.import_module(module)
            except ModuleNotFoundError as e:
                if e.name != module:  # the module exists but an import inside it fails
                    missing.append(f"cr.{dotted} (importing {module} fails: {e})")
                else:
                    missing.append(f"cr.{dotted} ({obj.__name__} has no {part})")
                break
            except Exception as e:  # a half-written module that fails to import
                missing.append(f"cr.{dotted} (importing {module} fails: "
                               f"{type(e).__name__}: {e})")
                break
    if missing:
        raise Skip("not available yet: " + "; ".join(missing))
    return cr


def _named(layer: Any) -> dict[str, Any]:
    return dict(layer.named_parameters())


def copy_weights(pairs: list[tuple[Any, Any]]) -> None:
    """Copy each torch layer's parameters into the chainrule layer of the same kind."""
    import chainrule as cr

    with cr.no_grad():
        for t_layer, c_layer in pairs:
            t_params = _named(t_layer)
            if hasattr(c_layer, "named_parameters"):
                c_params = _named(c_layer)
            else:
                c_params = {k: getattr(c_layer, k) for k in t_params}
            if set(t_params) != set(c_params):
                raise CheckFailed(f"{type(c_layer).__name__}: parameter names differ: torch "
                                  f"{sorted(t_params)} vs chainrule {sorted(c_params)}")
            for k, tp in t_params.items():
                cp = c_params[k]
                if tuple(cp.shape) != tuple(tp.shape):
                    raise CheckFailed(f"{type(c_layer).__name__}.{k}: shape {tuple(cp.shape)} "
                                      f"vs torch {tuple(tp.shape)}")
                cp.data[...] = tp.detach().numpy()


def _params(layers: list[Any]) -> list[Any]:
    return [p for layer in layers for p in layer.parameters()]


def _train_row(row: Row, cfg: Config, step_torch, step_cr, extra: dict | None = None,
               ref_losses: list[float] | None = None) -> Row:
    """Compare the first losses (and a reference's, if given), then time interleaved."""
    for k in range(CHECK_STEPS):
        lt, lc = step_torch(), step_cr()
        rtol = 1e-4 if k == 0 else 1e-3
        assert_close(f"{row.name}: loss at step {k + 1}", to_numpy(lc), to_numpy(lt),
                     rtol=rtol, atol=1e-6)
        if ref_losses is not None:
            assert_close(f"{row.name}: NumPy reference loss at step {k + 1}", ref_losses[k],
                         to_numpy(lt), rtol=rtol, atol=1e-6)
        if k == 0:
            row.notes.append(f"step-1 loss torch {float(to_numpy(lt)):.6f}, chainrule "
                             f"{float(to_numpy(lc)):.6f}")
    row.notes.append(f"first {CHECK_STEPS} losses agree (rtol 1e-4 on step 1, 1e-3 after)")
    fns = {"torch": step_torch, "chainrule": step_cr}
    fns.update(extra or {})
    times = measure(fns, cfg)
    row.torch, row.chainrule = times["torch"], times["chainrule"]
    row.numpy = times.get("numpy")
    return row.finish()


# --------------------------------------------------------------------------- MLP

def _numpy_mlp_step(ws: list[np.ndarray], bufs: list[np.ndarray], x: np.ndarray,
                    y: np.ndarray, lr: float, momentum: float) -> float:
    """Hand-written MLP step: forward, softmax cross-entropy, backward, SGD with momentum."""
    w1, b1, w2, b2, w3, b3 = ws
    a1 = x @ w1.T + b1
    h1 = np.maximum(a1, 0)
    a2 = h1 @ w2.T + b2
    h2 = np.maximum(a2, 0)
    z = h2 @ w3.T + b3
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    p = e / e.sum(axis=1, keepdims=True)
    n = x.shape[0]
    loss = -np.log(p[np.arange(n), y]).mean()
    dz = p
    dz[np.arange(n), y] -= 1
    dz /= n
    grads = [None] * 6
    grads[4] = dz.T @ h2
    grads[5] = dz.sum(axis=0)
    dh2 = dz @ w3
    dh2 *= a2 > 0
    grads[2] = dh2.T @ h1
    grads[3] = dh2.sum(axis=0)
    dh1 = dh2 @ w2
    dh1 *= a1 > 0
    grads[0] = dh1.T @ x
    grads[1] = dh1.sum(axis=0)
    for w, b, g in zip(ws, bufs, grads):
        b *= momentum
        b += g
        w -= lr * b
    return float(loss)


def bench_mlp(cfg: Config) -> Row:
    cr = _need("nn.Linear", "nn.functional.cross_entropy", "optim.SGD")
    import torch

    row = Row("MLP 784-512-256-10 train step",
              "ReLU MLP 784-512-256-10, batch 128, cross-entropy, SGD momentum 0.9 "
              "(lr 0.01), float32", target=0.85)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((128, 784)).astype(np.float32)
    y = rng.integers(0, 10, 128).astype(np.int64)
    sizes = [(784, 512), (512, 256), (256, 10)]
    lr, momentum = 0.01, 0.9

    torch.manual_seed(0)
    t_layers = [torch.nn.Linear(i, o) for i, o in sizes]
    c_layers = [cr.nn.Linear(i, o) for i, o in sizes]
    copy_weights(list(zip(t_layers, c_layers)))
    ws = [p.detach().numpy().copy() for p in _params(t_layers)]
    bufs = [np.zeros_like(w) for w in ws]
    t_opt = torch.optim.SGD(_params(t_layers), lr=lr, momentum=momentum)
    c_opt = cr.optim.SGD(_params(c_layers), lr=lr, momentum=momentum)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    cx, cy = cr.tensor(x), cr.tensor(y)
    t1, t2, t3 = t_layers
    c1, c2, c3 = c_layers

    def step_torch():
        t_opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(t3(torch.relu(t2(torch.relu(t1(tx))))), ty)
        loss.backward()
        t_opt.step()
        return loss

    def step_cr():
        c_opt.zero_grad()
        loss = cr.nn.functional.cross_entropy(c3(cr.relu(c2(cr.relu(c1(cx))))), cy)
        loss.backward()
        c_opt.step()
        return loss

    def step_np():
        return _numpy_mlp_step(ws, bufs, x, y, lr, momentum)

    # the NumPy reference must agree too (its own copy of the weights, same data)
    l_ref = [step_np() for _ in range(CHECK_STEPS)]
    row.notes.append("NumPy reference: hand-written forward/backward/momentum step; its first "
                     f"losses {', '.join(f'{v:.6f}' for v in l_ref)}")
    return _train_row(row, cfg, step_torch, step_cr, {"numpy": step_np}, ref_losses=l_ref)


# --------------------------------------------------------------------------- CNN

def bench_cnn(cfg: Config) -> Row:
    cr = _need("nn.Linear", "nn.Conv2d", "nn.MaxPool2d", "nn.functional.cross_entropy",
               "optim.SGD")
    import torch

    row = Row("CNN train step",
              "conv3x3 1→32, relu, maxpool2, conv3x3 32→64, relu, maxpool2, linear 1600→10; "
              "batch 64 of 1×28×28, cross-entropy, SGD (lr 0.01), float32", target=1.0)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64).astype(np.int64)
    lr = 0.01

    torch.manual_seed(0)
    t_layers = [torch.nn.Conv2d(1, 32, 3), torch.nn.Conv2d(32, 64, 3), torch.nn.Linear(1600, 10)]
    c_layers = [cr.nn.Conv2d(1, 32, 3), cr.nn.Conv2d(32, 64, 3), cr.nn.Linear(1600, 10)]
    copy_weights(list(zip(t_layers, c_layers)))
    t_pool, c_pool = torch.nn.MaxPool2d(2), cr.nn.MaxPool2d(2)
    t_opt = torch.optim.SGD(_params(t_layers), lr=lr)
    c_opt = cr.optim.SGD(_params(c_layers), lr=lr)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    cx, cy = cr.tensor(x), cr.tensor(y)

    def step_torch():
        t_opt.zero_grad()
        h = t_pool(torch.relu(t_layers[0](tx)))
        h = t_pool(torch.relu(t_layers[1](h)))
        loss = torch.nn.functional.cross_entropy(t_layers[2](h.reshape(h.shape[0], -1)), ty)
        loss.backward()
        t_opt.step()
        return loss

    def step_cr():
        c_opt.zero_grad()
        h = c_pool(cr.relu(c_layers[0](cx)))
        h = c_pool(cr.relu(c_layers[1](h)))
        loss = cr.nn.functional.cross_entropy(c_layers[2](h.reshape(h.shape[0], -1)), cy)
        loss.backward()
        c_opt.step()
        return loss

    return _train_row(row, cfg, step_torch, step_cr)


# --------------------------------------------------------------------------- RNN

def bench_rnn(cfg: Config) -> Row:
    cr = _need("nn.RNN", "nn.Linear", "nn.functional.cross_entropy", "optim.SGD")
    import torch

    row = Row("tanh RNN train step (BPTT)",
              "nn.RNN(32, 128, batch_first=True), seq 50, batch 32, Linear 128→10 on the last "
              "step, cross-entropy, BPTT, SGD (lr 0.01), float32", target=0.6)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((32, 50, 32)).astype(np.float32)
    y = rng.integers(0, 10, 32).astype(np.int64)
    lr = 0.01

    torch.manual_seed(0)
    t_rnn, t_fc = torch.nn.RNN(32, 128, batch_first=True), torch.nn.Linear(128, 10)
    c_rnn, c_fc = cr.nn.RNN(32, 128, batch_first=True), cr.nn.Linear(128, 10)
    copy_weights([(t_rnn, c_rnn), (t_fc, c_fc)])
    t_opt = torch.optim.SGD(_params([t_rnn, t_fc]), lr=lr)
    c_opt = cr.optim.SGD(_params([c_rnn, c_fc]), lr=lr)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    cx, cy = cr.tensor(x), cr.tensor(y)

    def step_torch():
        t_opt.zero_grad()
        out, _ = t_rnn(tx)
        loss = torch.nn.functional.cross_entropy(t_fc(out[:, -1]), ty)
        loss.backward()
        t_opt.step()
        return loss

    def step_cr():
        c_opt.zero_grad()
        out, _ = c_rnn(cx)
        loss = cr.nn.functional.cross_entropy(c_fc(out[:, -1]), cy)
        loss.backward()
        c_opt.step()
        return loss

    return _train_row(row, cfg, step_torch, step_cr)


# --------------------------------------------------------------------------- attention

def bench_attention(cfg: Config) -> Row:
    import torch

    import chainrule as cr

    row = Row("single-head attention fwd+bwd",
              "x (8,128,64), q/k/v = x@W (three 64×64 weights), softmax(qkᵀ/√d)v, loss "
              "mean(out²), forward+backward (grads of the weights), no optimizer, float32",
              target=1.0)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((8, 128, 64)).astype(np.float32)
    ws = [(rng.standard_normal((64, 64)) / 8).astype(np.float32) for _ in range(3)]
    scale = 1 / math.sqrt(64)
    tx = torch.from_numpy(x)
    t_ws = [torch.tensor(w, requires_grad=True) for w in ws]
    cx = cr.tensor(x)
    c_ws = [cr.tensor(w, requires_grad=True) for w in ws]

    def step_torch():
        wq, wk, wv = t_ws
        q, k, v = tx @ wq, tx @ wk, tx @ wv
        p = torch.softmax(q @ k.transpose(-2, -1) * scale, dim=-1)
        loss = ((p @ v) ** 2).mean()
        for w in t_ws:
            w.grad = None
        loss.backward()
        return loss

    def step_cr():
        wq, wk, wv = c_ws
        q, k, v = cx @ wq, cx @ wk, cx @ wv
        p = cr.softmax(q @ k.transpose(-2, -1) * scale, dim=-1)
        loss = ((p @ v) ** 2).mean()
        for w in c_ws:
            w.grad = None
        loss.backward()
        return loss

    def step_np():
        return _numpy_attention_step(x, ws, scale)

    lt, lc = step_torch(), step_cr()
    ln, gn = step_np()
    assert_close("attention: loss", to_numpy(lc), to_numpy(lt), rtol=1e-5)
    assert_close("attention: NumPy reference loss", ln, to_numpy(lt), rtol=1e-5)
    for i, (tw, cw) in enumerate(zip(t_ws, c_ws)):
        assert_close(f"attention: grad of W{'qkv'[i]}", to_numpy(cw.grad), to_numpy(tw.grad),
                     rtol=1e-3, atol=1e-7)
        assert_close(f"attention: NumPy reference grad of W{'qkv'[i]}", gn[i],
                     to_numpy(tw.grad), rtol=1e-3, atol=1e-7)
    row.notes.append("loss and the three weight gradients agree (torch, chainrule, NumPy "
                     "reference: the same step with a hand-written backward)")
    times = measure({"torch": step_torch, "chainrule": step_cr, "numpy": step_np}, cfg)
    row.torch, row.chainrule, row.numpy = times["torch"], times["chainrule"], times["numpy"]
    return row.finish()


def _numpy_attention_step(x: np.ndarray, ws: list[np.ndarray],
                          scale: float) -> tuple[float, list[np.ndarray]]:
    """Hand-written attention forward and backward (weight gradients), no engine."""
    wq, wk, wv = ws
    q, k, v = x @ wq, x @ wk, x @ wv
    s = q @ k.swapaxes(-1, -2) * scale
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    p = e / e.sum(axis=-1, keepdims=True)
    o = p @ v
    loss = float((o * o).mean())
    do = o * (2 / o.size)
    dp = do @ v.swapaxes(-1, -2)
    dv = p.swapaxes(-1, -2) @ do
    ds = p * (dp - (dp * p).sum(axis=-1, keepdims=True))
    ds *= scale
    dq = ds @ k
    dk = ds.swapaxes(-1, -2) @ q
    x2 = x.reshape(-1, x.shape[-1]).T
    grads = [x2 @ d.reshape(-1, d.shape[-1]) for d in (dq, dk, dv)]
    return loss, grads


WORKLOADS = {
    "mlp": bench_mlp,
    "cnn": bench_cnn,
    "rnn": bench_rnn,
    "attention": bench_attention,
}

if __name__ == "__main__":
    import run

    sys.exit(run.main(["--only", "training", *sys.argv[1:]]))
