"""Tensors from shapes and ranges: zeros, ones, full, empty, arange, linspace, eye, *_like."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _dtypes
from .tensor import Tensor


def _size(size: tuple) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    return tuple(int(s) for s in size)


def _dtype(dtype: Any, fallback: Any = None) -> np.dtype:
    if dtype is not None:
        return _dtypes.as_dtype(dtype)
    return _dtypes.get_default_dtype() if fallback is None else fallback


def _leaf(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr)
    return t.requires_grad_() if requires_grad else t


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.zeros(_size(size), dtype=_dtype(dtype)), requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.ones(_size(size), dtype=_dtype(dtype)), requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    return _leaf(np.empty(_size(size), dtype=_dtype(dtype)), requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (its dtype follows the value)."""
    if dtype is None:
        kind = np.asarray(fill_value).dtype.kind
        dtype = _dtypes.bool_ if kind == "b" else _dtypes.int64 if kind in "iu" else None
    shape = (size,) if isinstance(size, int) else tuple(size)
    return _leaf(np.full(shape, fill_value, dtype=_dtype(dtype)), requires_grad)


def zeros_like(t: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = np.asarray(t.data if isinstance(t, Tensor) else t)
    return _leaf(np.zeros(a.shape, dtype=_dtype(dtype, a.dtype)), requires_grad)


def ones_like(t: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = np.asarray(t.data if isinstance(t, Tensor) else t)
    return _leaf(np.ones(a.shape, dtype=_dtype(dtype, a.dtype)), requires_grad)


def full_like(t: Any, fill_value: Any, *, dtype: Any = None,
              requires_grad: bool = False) -> Tensor:
    a = np.asarray(t.data if isinstance(t, Tensor) else t)
    return _leaf(np.full(a.shape, fill_value, dtype=_dtype(dtype, a.dtype)), requires_grad)


def empty_like(t: Any, *, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    a = np.asarray(t.data if isinstance(t, Tensor) else t)
    return _leaf(np.empty(a.shape, dtype=_dtype(dtype, a.dtype)), requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from ``start`` up to (not including) ``end``; ints give int64."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None and all(float(v).is_integer() and not isinstance(v, float)
                             for v in (start, end, step)):
        dtype = _dtypes.int64
    return _leaf(np.arange(start, end, step).astype(_dtype(dtype)), requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None,
             requires_grad: bool = False) -> Tensor:
    return _leaf(np.linspace(start, end, int(steps)).astype(_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None,
        requires_grad: bool = False) -> Tensor:
    return _leaf(np.eye(n, m, dtype=_dtype(dtype)), requires_grad)
