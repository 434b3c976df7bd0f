"""Pooling with PyTorch's signatures: max, average, adaptive (average and max) and power-average
(``lp_pool``) pooling over 1-, 2- and 3-D signals, ``max_unpool`` (max pooling's partial
inverse), and ``unfold`` / ``fold`` (im2col / col2im).

Max, average and adaptive average pooling, unfold and fold are each one primitive op
(``chainrule/ops/conv.py``), a loop over the kernel offsets on strided views. Adaptive max
pooling, max unpooling and lp pooling are composed from other ops (a gather, a scatter, an
average pool and powers), so their gradients come from those. Inputs may be batched
``(N, C, *L)`` or unbatched ``(C, *L)``.

>>> import chainrule as cr
>>> x = cr.tensor([[[[1.0, 2.0], [4.0, 3.0]]]], requires_grad=True)
>>> cr.nn.functional.max_pool2d(x, 2).backward()
>>> x.grad
tensor([[[[0., 0.],
          [1., 0.]]]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import functional as F
from ...ops import conv as C
from ...ops import indexing as I
from ...ops._util import ndim_of, shape_of
from ...ops.registry import OpError, OpIndexError
from ...random import _gen
from ...tensor import Tensor, as_tensor
from .conv import _batched, _check_geometry, _tuple

__all__ = ["max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d",
           "adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d",
           "max_pool1d_with_indices", "max_pool2d_with_indices", "max_pool3d_with_indices",
           "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
           "adaptive_max_pool1d_with_indices", "adaptive_max_pool2d_with_indices",
           "adaptive_max_pool3d_with_indices", "max_unpool1d", "max_unpool2d", "max_unpool3d",
           "lp_pool1d", "lp_pool2d", "lp_pool3d", "unfold", "fold",
           "fractional_max_pool2d", "fractional_max_pool3d",
           "fractional_max_pool2d_with_indices", "fractional_max_pool3d_with_indices"]

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


def _check_fits(op: str, x: Any, k: tuple, s: tuple, p: tuple, d: tuple,
                ceil_mode: bool) -> None:
    """Every output needs a window: the padded input must hold the kernel's extent."""
    sp = shape_of(x)[2:]
    out = tuple(C.pool_out_size(L, kk, ss, pp, dd, ceil_mode)
                for L, kk, ss, pp, dd in zip(sp, k, s, p, d))
    if any(o <= 0 for o in out):
        ext = tuple(dd * (kk - 1) + 1 for kk, dd in zip(k, d))
        raise OpError(f"{op}: the input's spatial size {sp} is too small for kernel_size={k} "
                      f"(padding={p}, dilation={d}): the padded input must span the kernel's "
                      f"extent {ext}; pad the input or use a smaller kernel")


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
    _check_fits(op, x, k, s, p, d, ceil_mode)
    fn = getattr(C, f"max_pool{nd}d")
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


def max_pool3d(input: Tensor, kernel_size: _IntOr, stride: _IntOr | None = None,
               padding: _IntOr = 0, dilation: _IntOr = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """3-D max pooling over ``(N, C, D, H, W)``: the max of each window (padding = -inf);
    the gradient goes to the window's first maximum (in row-major order)."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode,
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


def max_pool3d_with_indices(input: Tensor, kernel_size: _IntOr, stride: _IntOr | None = None,
                            padding: _IntOr = 0, dilation: _IntOr = 1,
                            ceil_mode: bool = False) -> tuple[Tensor, Tensor]:
    """``max_pool3d(..., return_indices=True)``."""
    return _max_pool(3, input, kernel_size, stride, padding, dilation, ceil_mode, True)


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
    _check_fits(op, x, k, s, p, (1,) * nd, ceil_mode)
    fn = getattr(C, f"avg_pool{nd}d")
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


def avg_pool3d(input: Tensor, kernel_size: _IntOr, stride: _IntOr | None = None,
               padding: _IntOr = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """3-D average pooling over ``(N, C, D, H, W)``: y = Σ_window x / count; ∂y/∂x =
    1/count over the window (count as in ``avg_pool2d``)."""
    return _avg_pool(3, input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override)


def _adaptive_size(nd: int, output_size: Any, sp: tuple, op: str, least: int) -> tuple:
    """``output_size`` as ``nd`` ints: an int stands for all dims, ``None`` keeps the input's
    size along that dim."""
    if output_size is None or isinstance(output_size, (int, np.integer)):
        out: tuple = (output_size,) * nd
    else:
        out = tuple(output_size)
        if len(out) != nd:
            raise ValueError(f"{op}: output_size must be an int or {nd} values (None keeps that "
                             f"dim), got {output_size!r}")
    size = tuple(int(L if o is None else o) for o, L in zip(out, sp))
    if any(o < least for o in size):
        what = "positive" if least else "non-negative"
        raise ValueError(f"{op}: output_size {size} must be {what}")
    return size


def _adaptive(nd: int, input: Any, output_size: Any) -> Tensor:
    op = f"adaptive_avg_pool{nd}d"
    x, added = _batched(input, nd, op)
    size = _adaptive_size(nd, output_size, shape_of(x)[2:], op, least=1)
    fn = getattr(C, f"adaptive_avg_pool{nd}d")
    y = fn(x, output_size=size)
    return F.squeeze(y, 0) if added else y


def adaptive_avg_pool1d(input: Tensor, output_size: int | Sequence[int]) -> Tensor:
    """Average over ``output_size`` bins: bin i covers floor(iL/o) ≤ l < ceil((i+1)L/o)."""
    return _adaptive(1, input, output_size)


def adaptive_avg_pool2d(input: Tensor, output_size: Any) -> Tensor:
    """Average over ``output_size`` (h, w) bins (an int for both; None keeps the input size):
    y = A_h x A_wᵀ, so ∂L/∂x = A_hᵀ δ A_w."""
    return _adaptive(2, input, output_size)


def adaptive_avg_pool3d(input: Tensor, output_size: Any) -> Tensor:
    """Average over ``output_size`` (d, h, w) bins (an int for all three; None keeps that
    input size): y = (A_d ⊗ A_h ⊗ A_w) x."""
    return _adaptive(3, input, output_size)


# --------------------------------------------------------------------------- adaptive max pooling

def _bins(size: int, out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive pooling's bins along one dim: bin i is ``floor(i·L/o) ≤ l < ceil((i+1)·L/o)``
    (``start``, ``end``)."""
    i = np.arange(out)
    return (i * size) // out, -((-(i + 1) * size) // out)


def _adaptive_argmax(x: np.ndarray, size: tuple) -> np.ndarray:
    """The flat index (into each input plane) of the first maximum of every adaptive bin.

    The bins along a dim differ in length by at most one; each is read through a grid of the
    longest length whose surplus entries repeat the bin's last position. A repeat comes after
    its original in row-major order, so the first maximum of the grid is the bin's own first
    maximum (PyTorch's rule: a strict ``>`` scan in row-major order; a NaN wins, the last
    one of the bin)."""
    nd = len(size)
    sp = x.shape[2:]
    grids = []
    for i, (L, o) in enumerate(zip(sp, size)):
        start, end = _bins(L, o)
        width = int((end - start).max()) if o else 1
        g = np.minimum(start[:, None] + np.arange(width), (end - 1)[:, None])  # (o, width)
        shape = [1] * (2 * nd)
        shape[2 * i:2 * i + 2] = g.shape
        grids.append(g.reshape(shape))
    win = x[(slice(None), slice(None)) + tuple(grids)]  # (N, C, o0, w0, o1, w1, ...)
    perm = (0, 1) + tuple(range(2, 2 + 2 * nd, 2)) + tuple(range(3, 3 + 2 * nd, 2))
    win = win.transpose(perm)  # (N, C, *out, *widths)
    widths = win.shape[2 + nd:]
    count = int(np.prod(widths))
    flat_win = win.reshape(win.shape[:2 + nd] + (count,))
    j = np.argmax(flat_win, axis=-1) if flat_win.size else np.zeros(flat_win.shape[:-1], int)
    if x.dtype.kind == "f" and np.isnan(x).any():
        nan = np.isnan(flat_win)
        last = count - 1 - np.argmax(nan[..., ::-1], axis=-1)
        j = np.where(nan.any(axis=-1), last, j)
    offs = np.unravel_index(j, widths)
    flat = np.zeros(j.shape, dtype=np.int64)
    for i in range(nd):
        g = grids[i].reshape(grids[i].shape[2 * i:2 * i + 2])  # (o_i, w_i)
        o = np.arange(size[i]).reshape((-1,) + (1,) * (nd - 1 - i))
        flat = flat * sp[i] + g[o, offs[i]]
    return flat


def _adaptive_max(nd: int, input: Any, output_size: Any, return_indices: bool) -> Any:
    op = f"adaptive_max_pool{nd}d"
    x, added = _batched(as_tensor(input), nd, op)
    sp = shape_of(x)[2:]
    if shape_of(x)[1] == 0 or 0 in sp:
        raise ValueError(f"{op}: expected non-zero channel and spatial sizes, got input of "
                         f"shape {shape_of(input)}")
    size = _adaptive_size(nd, output_size, sp, op, least=0)
    n, c = shape_of(x)[:2]
    idx = _adaptive_argmax(x.data, size)
    # the values are a gather at the argmax, so the gradient is a scatter-add onto it
    flat_x = F.reshape(x, (n, c, int(np.prod(sp))))
    y = F.reshape(F.take_along_dim(flat_x, idx.reshape(n, c, int(np.prod(size))), dim=2),
                  (n, c) + size)
    if not return_indices:
        return F.squeeze(y, 0) if added else y
    ind = Tensor._make(idx[0] if added else idx)
    return (F.squeeze(y, 0) if added else y), ind


def adaptive_max_pool1d(input: Tensor, output_size: int | Sequence[int],
                        return_indices: bool = False) -> Any:
    """Max over ``output_size`` bins of the length (bin i: ⌊iL/o⌋ ≤ l < ⌈(i+1)L/o⌉, so bins
    may overlap when o does not divide L); the gradient goes to each bin's first maximum.
    With ``return_indices=True`` also returns where (int64 positions along L).

    >>> import chainrule as cr
    >>> cr.nn.functional.adaptive_max_pool1d(cr.tensor([[1.0, 5.0, 2.0, 4.0, 3.0]]), 2)
    tensor([[5., 4.]])
    """
    return _adaptive_max(1, input, output_size, return_indices)


def adaptive_max_pool2d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max over ``output_size`` (h, w) bins (an int for both; None keeps that input size).

    Bin (i, j) covers rows ⌊iH/h⌋ ≤ r < ⌈(i+1)H/h⌉ and likewise columns; ∂y/∂x = 1 at the
    bin's first maximum (row-major), summed where bins overlap. With ``return_indices=True``
    also returns the argmax as flat int64 indices into each input plane (``r·W + c``), as
    ``max_unpool2d`` takes them.
    """
    return _adaptive_max(2, input, output_size, return_indices)


def adaptive_max_pool3d(input: Tensor, output_size: Any, return_indices: bool = False) -> Any:
    """Max over ``output_size`` (d, h, w) bins; as ``adaptive_max_pool2d``, one dim more."""
    return _adaptive_max(3, input, output_size, return_indices)


def adaptive_max_pool1d_with_indices(input: Tensor, output_size: int | Sequence[int],
                                     return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool1d(..., return_indices=True)``."""
    return _adaptive_max(1, input, output_size, True)


def adaptive_max_pool2d_with_indices(input: Tensor, output_size: Any,
                                     return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool2d(..., return_indices=True)``."""
    return _adaptive_max(2, input, output_size, True)


def adaptive_max_pool3d_with_indices(input: Tensor, output_size: Any,
                                     return_indices: bool = False) -> tuple[Tensor, Tensor]:
    """``adaptive_max_pool3d(..., return_indices=True)``."""
    return _adaptive_max(3, input, output_size, True)


# --------------------------------------------------------------------------- max unpooling

def _unpool_size(nd: int, in_sp: tuple, k: tuple, s: tuple, p: tuple, output_size: Any,
                 op: str) -> tuple:
    """The output's spatial size: ``(L-1)·s - 2p + k`` (what max pooling came from), or
    ``output_size``, which must lie strictly within a stride of that."""
    default = tuple((L - 1) * ss - 2 * pp + kk for L, kk, ss, pp in zip(in_sp, k, s, p))
    if output_size is None:
        size = default
    else:
        want = tuple(int(v) for v in output_size)
        if len(want) == nd + 2:
            want = want[2:]
        if len(want) != nd:
            raise ValueError(f"{op}: output_size should be a sequence containing {nd} or "
                             f"{nd + 2} elements, but it has a length of {len(want)} "
                             f"({tuple(output_size)})")
        for i, (w, dflt, ss) in enumerate(zip(want, default, s)):
            if not dflt - ss < w < dflt + ss:
                raise ValueError(f"{op}: invalid output_size {want} (dim {i} must be between "
                                 f"{dflt - ss} and {dflt + ss}, exclusive: max pooling with "
                                 f"stride {ss} maps those sizes to {in_sp[i]})")
        size = want
    if any(v < 0 for v in size):
        raise ValueError(f"{op}: output_size must contain non-negative spatial dimensions, "
                         f"but got {size} (input {in_sp}, kernel_size={k}, stride={s}, "
                         f"padding={p})")
    return size


def _max_unpool(nd: int, input: Any, indices: Any, kernel_size: Any, stride: Any, padding: Any,
                output_size: Any) -> Tensor:
    op = f"max_unpool{nd}d"
    x, added = _batched(as_tensor(input), nd, op)
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{op}: indices must be an integer tensor (as returned by "
                        f"max_pool{nd}d(..., return_indices=True)), got dtype {idx.dtype}")
    if idx.shape != shape_of(input):
        raise ValueError(f"{op}: indices of shape {idx.shape} must have the input's shape "
                         f"{shape_of(input)}")
    k = _tuple(kernel_size, nd, "kernel_size", op)
    s = k if stride is None else _tuple(stride, nd, "stride", op)
    p = _tuple(padding, nd, "padding", op)
    _check_geometry(op, k, s, p, (1,) * nd)
    size = _unpool_size(nd, shape_of(x)[2:], k, s, p, output_size, op)
    plane = int(np.prod(size))
    if idx.size and (idx.min() < 0 or idx.max() >= plane):
        bad = int(idx.min()) if idx.min() < 0 else int(idx.max())
        raise OpIndexError(f"{op}: found an invalid max index {bad}: the output planes are of "
                           f"size {'x'.join(map(str, size))} ({plane} values); the indices "
                           f"must come from max_pool{nd}d(..., return_indices=True) on an "
                           "input of that size (pass output_size if it was not the default)")
    n, c = shape_of(x)[:2]
    m = int(np.prod(shape_of(x)[2:]))
    flat = idx.reshape(n, c, m).astype(np.int64, copy=False)
    key = (np.arange(n).reshape(-1, 1, 1), np.arange(c).reshape(1, -1, 1), flat)
    zeros = Tensor._make(np.zeros((n, c, plane), dtype=x.dtype))
    # out[n, c, idx] = x (a repeated index keeps the last value); its gradient gathers at idx
    y = F.reshape(I.index_put(zeros, F.reshape(x, (n, c, m)), key=key), (n, c) + size)
    return F.squeeze(y, 0) if added else y


def max_unpool1d(input: Tensor, indices: Tensor, kernel_size: _IntOr,
                 stride: _IntOr | None = None, padding: _IntOr = 0,
                 output_size: Sequence[int] | None = None) -> Tensor:
    """Max pooling's partial inverse: zeros of length ``(L-1)·s - 2p + k`` (or
    ``output_size``) with each value put back at its index; ∂y/∂x gathers at the indices.

    >>> import chainrule as cr
    >>> F = cr.nn.functional
    >>> y, i = F.max_pool1d(cr.tensor([[1.0, 3.0, 4.0, 2.0]]), 2, return_indices=True)
    >>> F.max_unpool1d(y, i, 2)
    tensor([[0., 3., 4., 0.]])
    """
    return _max_unpool(1, input, indices, kernel_size, stride, padding, output_size)


def max_unpool2d(input: Tensor, indices: Tensor, kernel_size: _IntOr,
                 stride: _IntOr | None = None, padding: _IntOr = 0,
                 output_size: Sequence[int] | None = None) -> Tensor:
    """Max pooling's partial inverse over ``(N, C, H, W)``: each value scattered to its flat
    index in a zero plane of size ``(H-1)·s - 2p + k`` (likewise W; ``output_size`` picks
    another size within a stride of it). The other positions stay zero; the gradient is the
    upstream gradient gathered at the indices (so unpool∘pool routes values as max pooling's
    backward routes gradients)."""
    return _max_unpool(2, input, indices, kernel_size, stride, padding, output_size)


def max_unpool3d(input: Tensor, indices: Tensor, kernel_size: _IntOr,
                 stride: _IntOr | None = None, padding: _IntOr = 0,
                 output_size: Sequence[int] | None = None) -> Tensor:
    """Max pooling's partial inverse over ``(N, C, D, H, W)``; as ``max_unpool2d``."""
    return _max_unpool(3, input, indices, kernel_size, stride, padding, output_size)


# --------------------------------------------------------------------------- power-average

def _lp_pool(nd: int, input: Any, norm_type: float, kernel_size: Any, stride: Any,
             ceil_mode: bool) -> Tensor:
    op = f"lp_pool{nd}d"
    x = as_tensor(input)
    xb, _ = _batched(x, nd, op)
    k, s, _, _ = _pool_args(nd, kernel_size, stride, 0, 1, op)
    _check_fits(op, xb, k, s, (0,) * nd, (1,) * nd, ceil_mode)
    max_pool: Any = (max_pool1d, max_pool2d, max_pool3d)[nd - 1]
    avg_pool: Any = (avg_pool1d, avg_pool2d, avg_pool3d)[nd - 1]
    if norm_type == float("inf"):  # the limit p → ∞: the largest |x| of each window
        return max_pool(F.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == -float("inf"):
        return -max_pool(-F.abs(x), kernel_size, stride, 0, 1, ceil_mode)
    if norm_type == 0:
        raise ValueError(f"{op}: norm_type must be non-zero (the result is a 1/p-th power)")
    # Σ_window x^p, as PyTorch computes it: the average times the window's size (with
    # ceil_mode a window cut short by the edge is averaged over its part, then still scaled
    # by the full size, as there)
    out = avg_pool(x ** norm_type, kernel_size, stride, 0, ceil_mode)
    # PyTorch writes sign(out)·relu(|out|) · k, which equals out · k, but whose gradient is 0
    # where a window sums to zero (relu's backward selects, rather than take 0·∞ from the
    # root's infinite slope there). Selecting around the zeros does the same, and keeps the
    # root away from 0 so no ∞ is made on the way.
    nonzero = out != 0
    root = (F.where(nonzero, out, 1.0) * float(np.prod(k))) ** (1.0 / norm_type)
    return F.where(nonzero, root, 0.0 if norm_type > 0 else float("inf"))


def lp_pool1d(input: Tensor, norm_type: float, kernel_size: int,
              stride: _IntOr | None = None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling: y = (Σ_window x^p)^(1/p) (p = ``norm_type``; p = ∞ is max
    pooling of |x|). No padding; ``stride`` defaults to the kernel size.

    >>> import chainrule as cr
    >>> cr.nn.functional.lp_pool1d(cr.tensor([[3.0, 4.0, 6.0, 8.0]]), 2, 2)
    tensor([[ 5., 10.]])
    """
    return _lp_pool(1, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool2d(input: Tensor, norm_type: float, kernel_size: _IntOr,
              stride: _IntOr | None = None, ceil_mode: bool = False) -> Tensor:
    """2-D power-average pooling: y = (Σ_window x^p)^(1/p), computed as PyTorch does:
    ``avg_pool2d(x^p) · kh·kw``, then the 1/p-th power. p = 1 is sum pooling, p = 2 the
    window's Euclidean norm, p → ∞ max pooling of |x|.

    ∂y/∂x = (x / y)^(p-1) over the window (0 where the window's sum is 0)."""
    return _lp_pool(2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool3d(input: Tensor, norm_type: float, kernel_size: _IntOr,
              stride: _IntOr | None = None, ceil_mode: bool = False) -> Tensor:
    """3-D power-average pooling: y = (Σ_window x^p)^(1/p); as ``lp_pool2d``."""
    return _lp_pool(3, input, norm_type, kernel_size, stride, ceil_mode)


# --------------------------------------------------------------------------- unfold / fold

def _fold_args(op: str, kernel_size: Any, dilation: Any, padding: Any,
               stride: Any) -> tuple[tuple, tuple, tuple, tuple]:
    k = _tuple(kernel_size, 2, "kernel_size", op)
    d = _tuple(dilation, 2, "dilation", op)
    p = _tuple(padding, 2, "padding", op)
    s = _tuple(stride, 2, "stride", op)
    _check_geometry(op, k, s, p, d)
    return k, d, p, s


def _blocks(size: tuple, k: tuple, d: tuple, p: tuple, s: tuple) -> tuple:
    return tuple(C.conv_out_size(L, kk, ss, pp, dd) for L, kk, ss, pp, dd in zip(size, k, s, p, d))


def unfold(input: Tensor, kernel_size: _IntOr, dilation: _IntOr = 1, padding: _IntOr = 0,
           stride: _IntOr = 1) -> Tensor:
    """im2col: every sliding ``kh×kw`` block of ``(N, C, H, W)`` (zero-padded by ``padding``)
    as one column of ``(N, C·kh·kw, L)``; L = the number of blocks, ⌊(H + 2p - d(k-1) - 1)/s⌋
    + 1 times the same for W. Rows run over (c, u, v), columns over block positions, row-major.

    A convolution is then one matrix product: ``conv2d(x, W) == (W.reshape(O, -1) @
    unfold(x, k)).reshape(N, O, oh, ow)``. The gradient is ``fold`` of the upstream gradient
    (unfold's adjoint: each column added back onto its block, so an input covered by several
    blocks collects them all).

    >>> import chainrule as cr
    >>> cr.nn.functional.unfold(cr.arange(6.0).reshape(1, 1, 2, 3), (2, 2))
    tensor([[[0., 1.],
             [1., 2.],
             [3., 4.],
             [4., 5.]]])
    """
    op = "unfold"
    if ndim_of(input) not in (3, 4):
        raise ValueError(f"{op}: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape "
                         f"{shape_of(input)} (only 2-D images are supported, as in PyTorch)")
    x, added = _batched(as_tensor(input), 2, op)
    k, d, p, s = _fold_args(op, kernel_size, dilation, padding, stride)
    sp = shape_of(x)[2:]
    if shape_of(x)[1] == 0 or 0 in sp:
        raise ValueError(f"{op}: expected non-zero channel and spatial sizes, got input of "
                         f"shape {shape_of(input)}")
    blocks = _blocks(sp, k, d, p, s)
    if any(b < 1 for b in blocks):
        raise ValueError(f"{op}: given input with spatial size {sp}, kernel_size={k}, "
                         f"dilation={d}, padding={p}, the array of sliding blocks has shape "
                         f"{blocks}, but its components must be at least one; pad the input "
                         "or use a smaller kernel_size or dilation")
    y = C.unfold(x, kernel_size=k, dilation=d, padding=p, stride=s)
    return F.squeeze(y, 0) if added else y


def fold(input: Tensor, output_size: _IntOr, kernel_size: _IntOr, dilation: _IntOr = 1,
         padding: _IntOr = 0, stride: _IntOr = 1) -> Tensor:
    """col2im: each column of ``(N, C·kh·kw, L)`` added back onto its ``kh×kw`` block of an
    ``(N, C, *output_size)`` image (blocks laid out as ``unfold`` lists them; overlapping
    values sum; the padding is cut off). Unbatched ``(C·kh·kw, L)`` gives ``(C, H, W)``.

    fold is unfold's adjoint, ⟨unfold(x), y⟩ = ⟨x, fold(y)⟩, which makes each the other's
    gradient; it is not its inverse: ``fold(unfold(x)) = x · (the number of blocks covering
    each position)``.

    >>> import chainrule as cr
    >>> F = cr.nn.functional
    >>> F.fold(F.unfold(cr.ones(1, 1, 3, 3), 2), (3, 3), 2)
    tensor([[[[1., 2., 1.],
              [2., 4., 2.],
              [1., 2., 1.]]]])
    """
    op = "fold"
    if ndim_of(input) not in (2, 3):
        raise ValueError(f"{op}: expected a 2-D (C·kh·kw, L) or 3-D (N, C·kh·kw, L) input, got "
                         f"shape {shape_of(input)}")
    x, added = _batched(as_tensor(input), 1, op)
    size = _tuple(output_size, 2, "output_size", op)
    k, d, p, s = _fold_args(op, kernel_size, dilation, padding, stride)
    _, ck, length = shape_of(x)
    kk = k[0] * k[1]
    if ck == 0 or ck % kk:
        raise ValueError(f"{op}: expected size of input's dimension 1 to be divisible by the "
                         f"product of kernel_size {k} ({kk}), but got input.size(1)={ck} "
                         f"(input shape {shape_of(input)}; the rows are C·kh·kw)")
    blocks = _blocks(size, k, d, p, s)
    if length == 0 or any(b < 1 for b in blocks) or length != blocks[0] * blocks[1]:
        raise ValueError(f"{op}: given output_size={size}, kernel_size={k}, dilation={d}, "
                         f"padding={p}, stride={s}, expected size of input's dimension 2 to "
                         f"match the calculated number of sliding blocks {blocks[0]} * "
                         f"{blocks[1]} = {blocks[0] * blocks[1]}, but got input.size(2)="
                         f"{length}; output_size must be the size of the image the blocks "
                         "were unfolded from")
    y = C.fold(x, output_size=size, kernel_size=k, dilation=d, padding=p, stride=s)
    return F.squeeze(y, 0) if added else y


# --------------------------------------------------------------------------- fractional max pool

# Which entry of a plane's random sample draws the windows of each spatial dim (PyTorch's
# layout: 2-D samples are (w, h), 3-D ones (t, h, w)).
_SAMPLE_OF_DIM = {2: (1, 0), 3: (0, 1, 2)}
_DIM_NAMES = {2: ("height", "width"), 3: ("time", "height", "width")}


def _window_starts(samples: np.ndarray, size: int, out: int, k: int) -> np.ndarray:
    """PyTorch's pseudo-random window starts along one dim, ``(..., out)`` from samples
    ``u`` in [0, 1): ``⌊(i + u)α⌋ - ⌊uα⌋`` with ``α = (size - k)/(out - 1)`` (in the samples'
    dtype, as PyTorch), the last window flush with the end."""
    starts = np.empty(samples.shape + (out,), dtype=np.int64)
    if out > 1:
        dt = samples.dtype.type
        alpha = dt(size - k) / dt(out - 1)
        i = np.arange(out - 1).astype(samples.dtype)
        u = samples[..., None]
        starts[..., :-1] = ((i + u) * alpha).astype(np.int64) - (u * alpha).astype(np.int64)
    starts[..., -1] = size - k
    return np.clip(starts, 0, size - k)


def _fractional_argmax(x: np.ndarray, starts: list[np.ndarray], k: tuple) -> np.ndarray:
    """The flat index (into each plane) of every window's maximum: the first in row-major
    order, or the last NaN when the window holds one (PyTorch's scan)."""
    nd = len(k)
    sp = x.shape[2:]
    flat = np.zeros((1, 1), dtype=np.int64).reshape((1, 1) + (1,) * (2 * nd))
    for d, (st, kk) in enumerate(zip(starts, k)):
        pos = st[..., :, None] + np.arange(kk)  # (N, C, o_d, k_d)
        shape = list(pos.shape[:2]) + [1] * (2 * nd)
        shape[2 + d], shape[2 + nd + d] = pos.shape[2], kk
        flat = flat * sp[d] + pos.reshape(shape)
    n, c = x.shape[:2]
    flat = np.broadcast_to(flat, (n, c) + flat.shape[2:])
    out = flat.shape[2:2 + nd]
    windows = flat.reshape((n, c, math.prod(out), math.prod(k)))
    vals = np.take_along_axis(x.reshape(n, c, -1), windows.reshape(n, c, -1), axis=2)
    vals = vals.reshape(windows.shape)
    j = np.argmax(vals, axis=-1)
    if vals.dtype.kind == "f":
        nan = np.isnan(vals)
        if nan.any():
            last = vals.shape[-1] - 1 - np.argmax(nan[..., ::-1], axis=-1)
            j = np.where(nan.any(axis=-1), last, j)
    return np.take_along_axis(windows, j[..., None], axis=-1)[..., 0].reshape((n, c) + out)


def _fractional_sizes(nd: int, op: str, sp: tuple, k: tuple, output_size: Any,
                      output_ratio: Any) -> tuple:
    if output_size is None and output_ratio is None:
        raise ValueError(f"{op} requires specifying either an output_size or an output_ratio")
    if output_size is None:
        ratio = ((float(output_ratio),) * nd if isinstance(output_ratio, (int, float))
                 else tuple(float(r) for r in output_ratio))
        if len(ratio) != nd:
            raise ValueError(f"{op}: output_ratio must be a float or {nd} floats, got "
                             f"{output_ratio!r}")
        out = tuple(int(L * r) for L, r in zip(sp, ratio))
    else:
        out = _tuple(output_size, nd, "output_size", op)
    for name, L, o, kk in zip(_DIM_NAMES[nd], sp, out, k):
        if o + kk - 1 > L:
            raise RuntimeError(f"{op}(): pool {name} {kk} too large relative to input {name} "
                               f"{L} (output {name} {o}); use a smaller kernel or output size")
    return out


def _fractional_samples(op: str, nd: int, x: Tensor, samples: Any) -> np.ndarray:
    n, c = shape_of(x)[:2]
    if samples is None:
        return _gen().random((n, c, nd)).astype(x.dtype)
    s = samples.data if isinstance(samples, Tensor) else np.asarray(samples)
    if s.ndim != 3 or s.shape[0] < n or s.shape[1] != c or s.shape[2] != nd:
        raise RuntimeError(f"{op}: _random_samples must have shape (N >= {n}, {c}, {nd}) for "
                           f"an input of shape {shape_of(x)}, got {tuple(s.shape)}")
    if s.dtype != x.dtype:
        raise RuntimeError(f"{op}: expect _random_samples to have the same dtype as input "
                           f"({x.dtype}), got {s.dtype}")
    return s[:n]


def _fractional_max(nd: int, input: Any, kernel_size: Any, output_size: Any,
                    output_ratio: Any, return_indices: bool, _random_samples: Any) -> Any:
    op = f"fractional_max_pool{nd}d"
    x, added = _batched(as_tensor(input), nd, op)
    if x.dtype.kind != "f":
        raise TypeError(f"{op}: expected a floating point input, got {x.dtype}")
    sp = shape_of(x)[2:]
    k = _tuple(kernel_size, nd, "kernel_size", op)
    out = _fractional_sizes(nd, op, sp, k, output_size, output_ratio)
    n, c = shape_of(x)[:2]
    if 0 in out or n * c == 0:
        y = F.reshape(x, (-1,))[:0].reshape((n, c) + out)
        idx = np.zeros((n, c) + out, dtype=np.int64)
    else:
        samples = _fractional_samples(op, nd, x, _random_samples)
        starts = [_window_starts(samples[..., _SAMPLE_OF_DIM[nd][d]], sp[d], out[d], k[d])
                  for d in range(nd)]
        idx = _fractional_argmax(x.data, starts, k)
        # the values are a gather at the argmax, so the gradient is a scatter-add onto it
        flat_x = F.reshape(x, (n, c, math.prod(sp)))
        y = F.reshape(F.take_along_dim(flat_x, idx.reshape(n, c, -1), dim=2), (n, c) + out)
    if added:
        y, idx = F.squeeze(y, 0), idx[0]
    return (y, Tensor._make(idx)) if return_indices else y


def fractional_max_pool2d(input: Tensor, kernel_size: _IntOr, output_size: _IntOr | None = None,
                          output_ratio: Any = None, return_indices: bool = False,
                          _random_samples: Tensor | None = None) -> Any:
    """Fractional max pooling (Graham, 2014): max over ``kernel_size`` windows placed at
    pseudo-random, increasing offsets so that the output has ``output_size`` (or
    ``int(input size · output_ratio)``). The offsets come from one sample in [0, 1) per plane
    and dim, ``_random_samples`` ``(N, C, 2)`` (PyTorch's arithmetic, so the same samples
    give PyTorch's windows exactly), drawn from chainrule's generator when not given. The
    gradient goes to each window's first maximum; ``return_indices`` also returns the argmax
    as flat indices into each input plane. (``output_ratio`` may also be one float, which
    PyTorch's functional form rejects.)"""
    return _fractional_max(2, input, kernel_size, output_size, output_ratio, return_indices,
                           _random_samples)


def fractional_max_pool3d(input: Tensor, kernel_size: _IntOr, output_size: _IntOr | None = None,
                          output_ratio: Any = None, return_indices: bool = False,
                          _random_samples: Tensor | None = None) -> Any:
    """Fractional max pooling over (T, H, W); as ``fractional_max_pool2d``, with
    ``_random_samples`` of shape ``(N, C, 3)``."""
    return _fractional_max(3, input, kernel_size, output_size, output_ratio, return_indices,
                           _random_samples)


def fractional_max_pool2d_with_indices(input: Tensor, kernel_size: _IntOr,
                                       output_size: _IntOr | None = None,
                                       output_ratio: Any = None, return_indices: bool = False,
                                       _random_samples: Tensor | None = None) -> Any:
    """``fractional_max_pool2d(..., return_indices=True)``."""
    return _fractional_max(2, input, kernel_size, output_size, output_ratio, True,
                           _random_samples)


def fractional_max_pool3d_with_indices(input: Tensor, kernel_size: _IntOr,
                                       output_size: _IntOr | None = None,
                                       output_ratio: Any = None, return_indices: bool = False,
                                       _random_samples: Tensor | None = None) -> Any:
    """``fractional_max_pool3d(..., return_indices=True)``."""
    return _fractional_max(3, input, kernel_size, output_size, output_ratio, True,
                           _random_samples)
