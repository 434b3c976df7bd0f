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
    if (end - start) * step < 0:
        raise ValueError(f"arange: the range from {start} to {end} runs against the step "
                         f"{step} (PyTorch: upper bound and lower bound inconsistent with step "
                         "sign)")
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


def logspace(start: float, end: float, steps: int, base: float = 10.0, *, dtype: Any = None,
             requires_grad: bool = False, device: Any = None) -> Tensor:
    """``steps`` values from ``base ** start`` to ``base ** end``, evenly spaced in exponent
    (worked out in float64, then cast; for an integer dtype, as PyTorch, ``start`` and ``end``
    are first truncated to integers, and the powers are truncated too)."""
    _check_device(device, "logspace")
    if operator.index(steps) < 0:
        raise RuntimeError(f"logspace: number of steps must be non-negative, got {steps}")
    d = _dtype(dtype)
    if d.kind == "b":
        raise NotImplementedError("logspace: not implemented for dtype bool (as PyTorch); make "
                                  "it in a number dtype and compare: cr.logspace(...) != 0")
    if d.kind in "iu":
        start, end = int(start), int(end)
    values = np.power(float(base), np.linspace(float(start), float(end), int(steps)))
    return _leaf(values.astype(d), requires_grad)


def asarray(obj: Any, *, dtype: Any = None, device: Any = None, copy: bool | None = None,
            requires_grad: bool = False) -> Tensor:
    """``obj`` as a tensor, as ``torch.asarray``: a tensor or NumPy array is shared when
    ``copy`` is None and no dtype change is needed, always copied with ``copy=True``; with
    ``copy=False`` a needed copy is an error. As PyTorch, a 0-d NumPy array is copied unless
    ``copy=False`` (which shares it; PyTorch copies anyway). A tensor converted to another
    dtype keeps its history (the conversion is differentiable)."""
    _check_device(device, "asarray")
    if isinstance(obj, Tensor):
        out = _tensor_as(obj, dtype, copy)
    else:
        out = Tensor._make(_array_as(obj, dtype, copy))
    if requires_grad and not out.requires_grad:
        out.requires_grad_()
    return out


def _tensor_as(t: Tensor, dtype: Any, copy: bool | None) -> Tensor:
    d = t.dtype if dtype is None else _dtypes.as_dtype(dtype)
    if d != t.dtype:
        if copy is False:
            raise ValueError(f"asarray: can't alias a tensor of dtype {t.dtype} as dtype {d} "
                             "(that needs a copy); pass copy=None or copy=True")
        return t.to(d)
    return t.clone() if copy else t


def _array_as(obj: Any, dtype: Any, copy: bool | None) -> np.ndarray:
    from .tensor import _to_array

    if copy is False:
        if not isinstance(obj, np.ndarray):
            raise ValueError(f"asarray: can't alias a {type(obj).__name__} into a tensor "
                             "(only a tensor or NumPy array can be shared); pass copy=None")
        if dtype is not None and _dtypes.as_dtype(dtype) != obj.dtype:
            raise ValueError(f"asarray: can't alias an array of dtype {obj.dtype} as dtype "
                             f"{_dtypes.as_dtype(dtype)}; pass copy=None or copy=True")
    zero_d = isinstance(obj, np.ndarray) and obj.ndim == 0 and copy is None
    return _to_array(obj, dtype, copy=bool(copy) or zero_d)
