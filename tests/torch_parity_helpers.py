"""What the parity tests against PyTorch share: tolerances per dtype, the matching torch
dtypes, and ``close``, which compares a chainrule value with a torch one."""

from __future__ import annotations

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
