"""Tensors from shapes and ranges: zeros, ones, full, empty, arange, linspace, eye, *_like."""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from . import _dtypes
from .tensor import Tensor, _check_device


def _size(size: tuple, op: str = "zeros") -> tuple:
    """A shape from ``f(2, 3)``, ``f((2, 3))`` or ``f([2, 3])``: whole, non-negative sizes."""
    if len(size) == 1 and not hasattr(size[0], "__index__"):  # a tuple, list or Size
        size = size[0]
    try:
        shape = tuple(operator.index(s) for s in size)
    except TypeError:
        raise TypeError(f"{op}: the size must be ints (or a tuple or list of ints), got "
                        f"{size!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: sizes must be non-negative, got {shape}")
    return shape


def _size_kw(size: tuple, kw: dict, op: str) -> tuple:
    """The sizes given positionally or, as PyTorch also takes them, as ``size=`` (and a
    ``device=``, which must be the CPU)."""
    if kw.keys() - {"size", "device"}:
        raise TypeError(f"{op}() got an unexpected keyword argument "
                        f"{sorted(kw.keys() - {'size', 'device'})[0]!r}")
    _check_device(kw.get("device"), op)
    if "size" in kw:
        if size:
            raise TypeError(f"{op}: give the size positionally or as size=, not both")
        return (kw["size"],)
    return size


def _dtype(dtype: Any, fallback: Any = None) -> np.dtype:
    if dtype is not None:
        return _dtypes.as_dtype(dtype)
    return _dtypes.get_default_dtype() if fallback is None else fallback


def _leaf(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr)
    return t.requires_grad_() if requires_grad else t


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False,
          **kw: Any) -> Tensor:
    return _leaf(np.zeros(_size(_size_kw(size, kw, "zeros"), "zeros"), dtype=_dtype(dtype)),
                 requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False,
         **kw: Any) -> Tensor:
    return _leaf(np.ones(_size(_size_kw(size, kw, "ones"), "ones"), dtype=_dtype(dtype)),
                 requires_grad)


def empty(*size: Any, dtype: Any = None, requires_grad: bool = False,
          **kw: Any) -> Tensor:
    return _leaf(np.empty(_size(_size_kw(size, kw, "empty"), "empty"), dtype=_dtype(dtype)),
                 requires_grad)


def full(size: Any, fill_value: Any, *, dtype: Any = None, requires_grad: bool = False,
         device: Any = None) -> Tensor:
    """A tensor of ``size`` filled with ``fill_value`` (its dtype follows the value)."""
    _check_device(device, "full")
    if dtype is None:
        kind = np.asarray(fill_value).dtype.kind
        dtype = _dtypes.bool_ if kind == "b" else _dtypes.int64 if kind in "iu" else None
    value = fill_value.item() if isinstance(fill_value, Tensor) else fill_value
    return _leaf(np.full(_size((size,), "full"), value, dtype=_dtype(dtype)), requires_grad)


def zeros_like(t: Any, *, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:
    _check_device(device, "zeros_like")
    a = np.asarray(t.data if isinstance(t, Tensor) else t)
    return _leaf(np.zeros(a.shape, dtype=_dtype(dtype, a.dtype)), requires_grad)


def ones_like(t: Any, *, dtype: Any = None, requires_grad: bool = False,
              device: Any = None) -> Tensor:
    _check_device(device, "ones_like")
    a = np.asarray(t.data if isinstance(t, Tensor) else t)
    return _leaf(np.ones(a.shape, dtype=_dtype(dtype, a.dtype)), requires_grad)


def full_like(t: Any, fill_value: Any, *, dtype: Any = None,
              requires_grad: bool = False, device: Any = None) -> Tensor:
    _check_device(device, "full_like")
    a = np.asarray(t.data if isinstance(t, Tensor) else t)
    return _leaf(np.full(a.shape, fill_value, dtype=_dtype(dtype, a.dtype)), requires_grad)


def empty_like(t: Any, *, dtype: Any = None, requires_grad: bool = False,
               device: Any = None) -> Tensor:
    _check_device(device, "empty_like")
    a = np.asarray(t.data if isinstance(t, Tensor) else t)
    return _leaf(np.empty(a.shape, dtype=_dtype(dtype, a.dtype)), requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, *, dtype: Any = None,
           requires_grad: bool = False, device: Any = None) -> Tensor:
    """Values from ``start`` up to (not including) ``end``; ints give int64."""
    _check_device(device, "arange")
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be non-zero")
    if dtype is None and all(float(v).is_integer() and not isinstance(v, float)
                             for v in (start, end, step)):
        dtype = _dtypes.int64
    return _leaf(np.arange(start, end, step).astype(_dtype(dtype)), requires_grad)


def linspace(start: float, end: float, steps: int, *, dtype: Any = None,
             requires_grad: bool = False, device: Any = None) -> Tensor:
    _check_device(device, "linspace")
    if operator.index(steps) < 0:
        raise ValueError(f"linspace: steps must be non-negative, got {steps}")
    return _leaf(np.linspace(start, end, int(steps)).astype(_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, *, dtype: Any = None,
        requires_grad: bool = False, device: Any = None) -> Tensor:
    _check_device(device, "eye")
    _size((n,) if m is None else (n, m), "eye")
    return _leaf(np.eye(n, m, dtype=_dtype(dtype)), requires_grad)
