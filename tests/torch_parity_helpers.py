"""What the parity tests against PyTorch share: tolerances per dtype, the matching torch
dtypes, and ``close``, which compares a chainrule value with a torch one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def close(actual: Any, expected: Any, rtol: float, what: str = "") -> None:
    a = actual.data if isinstance(actual, cr.Tensor) else np.asarray(actual)
    e = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs torch {e.shape}"
    scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
    np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale, err_msg=what)


def outputs(out: Any) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def parity(fn_cr: Callable, fn_t: Callable, *arrays: np.ndarray, dtype: Any = np.float64,
           grad: bool = True, seed: int = 1) -> None:
    """Both libraries on the same inputs: every output (values, indices, dtypes), then with
    ``grad`` the input gradients for the same random upstream gradient."""
    rtol = TOL[dtype]
    xs = [cr.tensor(a.astype(dtype), requires_grad=grad) for a in arrays]
    ts = [torch.tensor(a.astype(dtype), dtype=TORCH_DTYPE[dtype], requires_grad=grad)
          for a in arrays]
    outs, touts = outputs(fn_cr(*xs)), outputs(fn_t(*ts))
    assert len(outs) == len(touts)
    for k, (o, t) in enumerate(zip(outs, touts)):
        close(o, t, rtol, f"output {k}")
        assert o.dtype == np.dtype(str(t.dtype).replace("torch.", "")), f"output {k} dtype"
    if not grad:
        return
    rng = np.random.default_rng(seed)
    loss_cr, loss_t = 0, 0
    for o, t in zip(outs, touts):
        if t.dtype.is_floating_point and t.requires_grad:
            g = rng.standard_normal(t.shape).astype(dtype)
            loss_cr = loss_cr + (o * cr.tensor(g)).sum()
            loss_t = loss_t + (t * torch.tensor(g)).sum()
    if isinstance(loss_t, int):  # (no output of torch's needs a gradient: empty results)
        return
    loss_cr.backward()
    loss_t.backward()
    for k, (x, t) in enumerate(zip(xs, ts)):
        if t.grad is None:
            assert x.grad is None or not x.grad.data.any(), f"input {k}: a gradient"
            continue
        assert x.grad is not None, f"input {k}: no gradient"
        close(x.grad, t.grad, rtol, f"input {k} gradient")
