"""Pooling with PyTorch's signatures: max_pool1d/2d, avg_pool1d/2d, adaptive_avg_pool1d/2d.

Each is one primitive op (``chainrule/ops/conv.py``), a loop over the kernel offsets on
strided views. Inputs may be batched ``(N, C, *L)`` or unbatched ``(C, *L)``.

>>> import chainrule as cr
>>> x = cr.tensor([[[[1.0, 2.0], [4.0, 3.0]]]], requires_grad=True)
>>> cr.nn.functional.max_pool2d(x, 2).backward()
>>> x.grad
tensor([[[[0., 0.],
          [1., 0.]]]])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import functional as F
from ...ops import conv as C
from ...ops._util import shape_of
from ...tensor import Tensor
from .conv import _batched, _tuple

__all__ = ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
           "adaptive_avg_pool2d", "max_pool1d_with_indices", "max_pool2d_with_indices"]

_IntOr = int | Sequence[int]


def _pool_args(nd: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
               op: str) -> tuple[tuple, tuple, tuple, tuple]:
    k = _tuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None or (not isinstance(stride, int) and len(stride) == 0) else _tuple(
        stride, nd, "stride", op)
    p = _tuple(padding, nd, "padding", op)
    d = _tuple(dilation, nd, "dilation", op)
    if any(v <= 0 for v in k + s + d):
        raise ValueError(f"{op}: kernel_size {k}, stride {s} and dilation {d} must be positive")
    return k, s, p, d


def _max_pool(nd: int, input: Any, kernel_size: Any, stride: Any, padding: Any, dilation: Any,
              ceil_mode: bool, return_indices: bool) -> Any:
    op = f"max_pool{nd}d"
    if np.dtype(getattr(input, "dtype", np.float64)) == np.bool_:
        raise TypeError(f"{op}: boolean input is not supported; convert it with .float()")
    x, added = _batched(input, nd, op)
    k, s, p, d = _pool_args(nd, kernel_size, stride, padding, dilation, op)
    for kk, pp, dd in zip(k, p, d):
        if pp < 0 or 2 * pp > dd * (kk - 1) + 1:
            raise ValueError(f"{op}: padding {p} should be at most half of the effective "
                             f"kernel size {tuple(dd * (a - 1) + 1 for a, dd in zip(k, d))}")
    fn = C.max_pool1d if nd == 1 else C.max_pool2d
    params: dict[str, Any] = {"kernel_size": k, "stride": s, "padding": p, "dilation": d,
                              "ceil_mode": bool(ceil_mode)}
    y = fn(x, **params)
    if return_indices:
        offs = C.max_pool_argmax(y, x, nd, **params)
        idx = _flat_indices(offs, shape_of(x)[2:], k, s, p, d)
        ind = Tensor._make(idx)
        if added:
            return F.squeeze(y, 0), F.squeeze(ind, 0)
        return y, ind
    return F.squeeze(y, 0) if added else y


def _flat_indices(offs: np.ndarray, size: tuple, k: tuple, s: tuple, p: tuple,
                  d: tuple) -> np.ndarray:
    """PyTorch's indices: the argmax as a flat index into each (unpadded) input plane."""
    nd = len(k)
    out_sp = offs.shape[offs.ndim - nd:]
    kidx = np.unravel_index(offs.astype(np.int64), k)
    flat = np.zeros(offs.shape, dtype=np.int64)
    for i in range(nd):
        pos = np.arange(out_sp[i]) * s[i] - p[i]
        pos = pos.reshape((-1,) + (1,) * (nd - 1 - i))
        flat = flat * size[i] + (pos + kidx[i] * d[i])
    return flat


def max_pool1d(input: Tensor, kernel_size: _IntOr, stride: _IntOr | None = None,
               padding: _IntOr = 0, dilation: _IntOr = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """1-D max pooling: y[n, c, l] = max_k x_pad[n, c, l·s + k·d]; the gradient goes to the
    first maximum of each window."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool2d(input: Tensor, kernel_size: _IntOr, stride: _IntOr | None = None,
               padding: _IntOr = 0, dilation: _IntOr = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """2-D max pooling: y[n, c, i, j] = max over the window of x (padding counts as -inf).

    ∂y/∂x = 1 at the window's first maximum (row-major), 0 elsewhere. With
    ``return_indices=True`` also returns the argmax as flat indices into each input plane.
    """
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode,
                     return_indices)


def max_pool1d_with_indices(input: Tensor, kernel_size: _IntOr, stride: _IntOr | None = None,
                            padding: _IntOr = 0, dilation: _IntOr = 1,
                            ceil_mode: bool = False) -> tuple[Tensor, Tensor]:
    """``max_pool1d(..., return_indices=True)``."""
    return _max_pool(1, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(input: Tensor, kernel_size: _IntOr, stride: _IntOr | None = None,
                            padding: _IntOr = 0, dilation: _IntOr = 1,
                            ceil_mode: bool = False) -> tuple[Tensor, Tensor]:
    """``max_pool2d(..., return_indices=True)``."""
    return _max_pool(2, input, kernel_size, stride, padding, dilation, ceil_mode, True)


def _avg_pool(nd: int, input: Any, kernel_size: Any, stride: Any, padding: Any,
              ceil_mode: bool, count_include_pad: bool, divisor_override: Any) -> Tensor:
    op = f"avg_pool{nd}d"
    x, added = _batched(input, nd, op)
    k, s, p, _ = _pool_args(nd, kernel_size, stride, padding, 1, op)
    for kk, pp in zip(k, p):
        if pp < 0 or 2 * pp > kk:
            raise ValueError(f"{op}: padding {p} should be at most half of the kernel size {k}")
    if divisor_override is not None and divisor_override == 0:
        raise ValueError(f"{op}: divisor_override must be non-zero")
    fn = C.avg_pool1d if nd == 1 else C.avg_pool2d
    y = fn(x, kernel_size=k, stride=s, padding=p, ceil_mode=bool(ceil_mode),
           count_include_pad=bool(count_include_pad),
           divisor_override=None if divisor_override is None else int(divisor_override))
    return F.squeeze(y, 0) if added else y


def avg_pool1d(input: Tensor, kernel_size: _IntOr, stride: _IntOr | None = None,
               padding: _IntOr = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling: y = Σ_window x / count; ∂y/∂x = 1/count over the window."""
    return _avg_pool(1, input, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(input: Tensor, kernel_size: _IntOr, stride: _IntOr | None = None,
               padding: _IntOr = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """2-D average pooling: y = Σ_window x / count (count = the window size, the part inside
    the input without ``count_include_pad``, or ``divisor_override``); ∂y/∂x = 1/count."""
    return _avg_pool(2, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _adaptive(nd: int, input: Any, output_size: Any) -> Tensor:
    op = f"adaptive_avg_pool{nd}d"
    x, added = _batched(input, nd, op)
    sp = shape_of(x)[2:]
    if output_size is None or isinstance(output_size, (int, np.integer)):
        out = (output_size,) * nd
    else:
        out = tuple(output_size)
        if len(out) != nd:
            raise ValueError(f"{op}: output_size must be an int or {nd} values, "
                             f"got {output_size!r}")
    size = tuple(int(L if o is None else o) for o, L in zip(out, sp))
    if any(o <= 0 for o in size):
        raise ValueError(f"{op}: output_size {size} must be positive")
    fn = C.adaptive_avg_pool1d if nd == 1 else C.adaptive_avg_pool2d
    y = fn(x, output_size=size)
    return F.squeeze(y, 0) if added else y


def adaptive_avg_pool1d(input: Tensor, output_size: int | Sequence[int]) -> Tensor:
    """Average over ``output_size`` bins: bin i covers floor(iL/o) ≤ l < ceil((i+1)L/o)."""
    return _adaptive(1, input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average over ``output_size`` (h, w) bins (an int for both; None keeps the input size):
    y = A_h x A_wᵀ, so ∂L/∂x = A_hᵀ δ A_w."""
    return _adaptive(2, input, output_size)
