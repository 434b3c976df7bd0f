"""Conversions between NumPy arrays and chainrule tensors, imported lazily.

``chainrule.data`` must not import :mod:`chainrule` at module level (the package
imports this subpackage), so every helper here imports it inside the function.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def is_tensor(obj: object) -> bool:
    """Whether ``obj`` is a ``chainrule.Tensor``."""
    import chainrule as cr

    return isinstance(obj, cr.Tensor)


def to_numpy(obj: Any) -> np.ndarray:
    """The NumPy array behind a tensor (no copy when possible), or ``np.asarray(obj)``."""
    if isinstance(obj, np.ndarray):
        return obj
    if is_tensor(obj):
        return np.asarray(obj.numpy())
    return np.asarray(obj)


def from_numpy(arr: np.ndarray) -> Any:
    """Wrap a freshly made array in a tensor without copying it (dtype kept)."""
    import chainrule as cr

    return cr.from_numpy(np.asarray(arr, order="C"))  # (ascontiguousarray makes 0-d 1-d)


def default_float_dtype() -> np.dtype:
    """The dtype chainrule gives to tensors made from Python floats."""
    import chainrule as cr

    return np.dtype(cr.get_default_dtype())
