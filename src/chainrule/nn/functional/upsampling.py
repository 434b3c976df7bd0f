"""Resampling with PyTorch's signatures: interpolate (and its deprecated aliases upsample,
upsample_nearest, upsample_bilinear), pixel_shuffle, pixel_unshuffle, channel_shuffle.

Every interpolation mode is *separable*: the output is the input resampled along one spatial
axis after another, and each of those steps is linear, ``y = M x`` along that axis, with
``M`` an ``(out, in)`` matrix holding the taps of each output (1 for nearest, 2 for linear,
4 for cubic, a window for ``area`` and ``antialias``). The taps are computed in NumPy from the
sizes alone, with PyTorch's exact index arithmetic (``align_corners``, the given scale factor
or the size ratio, float32 index math for float32 inputs), and applied with chainrule ops:

* taps that are strided slices (an integer downsampling, or nearest keeping every k-th entry)
  are slices times weights, and nearest repeating each entry r times is r stacked copies;
* otherwise a matmul by ``M`` (by bands of outputs when the axis is long, so the cost stays
  near the number of taps); for nearest a 0/1 matrix, which copies exactly;
* a gather per tap (``index_select``) for inputs with inf or nan, so that they reach only the
  outputs that read them, as in PyTorch (and for nearest on integers or on a -0.0).

So the gradient is the transpose (each output's gradient scatter-added onto the inputs it read,
with the same weights) for free, and ``create_graph=True`` works.

pixel_shuffle, pixel_unshuffle and channel_shuffle are reshapes and a permute.

>>> import chainrule as cr
>>> x = cr.tensor([[[1.0, 2.0]]], requires_grad=True)
>>> y = cr.nn.functional.interpolate(x, scale_factor=2, mode="linear")
>>> y.tolist()
[[[1.0, 1.25, 1.75, 2.0]]]
>>> y.sum().backward(); x.grad
tensor([[[2., 2.]]])
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ... import functional as F
from ...ops._util import ndim_of, shape_of
from ...tensor import Tensor, as_tensor

__all__ = ["interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "pixel_shuffle",
           "pixel_unshuffle", "channel_shuffle"]

_IntOr = int | Sequence[int]
_FloatOr = float | Sequence[float]

_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
_MODE_DIMS = {"linear": 1, "bilinear": 2, "bicubic": 2, "trilinear": 3}  # spatial dims

# The weighted modes multiply by the whole (out, in) matrix while the input axis is at most
# this long; a longer axis is cut into bands of outputs whose taps span about BAND_WIDTH
# inputs each (module attributes, so tests can force either path).
DENSE_MAX = 256
BAND_WIDTH = 128


# --------------------------------------------------------------------------- index arithmetic
# PyTorch computes source indices in its "opmath" type (float32 for float32 inputs, float64 for
# float64) and floors them with floorf, that is after rounding to float32. The helpers below
# reproduce that arithmetic, so nearest modes pick exactly PyTorch's entries.

def _opmath(dtype: np.dtype) -> type:
    return np.float64 if np.dtype(dtype) == np.float64 else np.float32


def _scale(n_in: int, n_out: int, align_corners: bool, scale: float | None,
           opm: type) -> Any:
    """PyTorch's ``area_pixel_compute_scale``: input pixels per output pixel."""
    if align_corners:
        return opm(n_in - 1) / opm(n_out - 1) if n_out > 1 else opm(0)
    if scale is not None and scale > 0:
        return opm(1.0 / scale)
    return opm(n_in) / opm(n_out)


def _source(sc: Any, n_out: int, align_corners: bool, cubic: bool, opm: type) -> np.ndarray:
    """``area_pixel_compute_source_index`` for every output index, in ``opm`` (float32 results
    are computed in float64 and rounded once, as the fused multiply-add PyTorch's build uses)."""
    o = np.arange(n_out, dtype=np.float64)
    src: np.ndarray
    if align_corners:
        src = (np.float64(sc) * o).astype(opm)
    else:
        src = (np.float64(sc) * (o + 0.5) - 0.5).astype(opm)
        if not cubic:
            src = np.maximum(src, opm(0))
    return src


def _floor(real: np.ndarray, n_in: int) -> np.ndarray:
    """``min(int(floorf(real)), n_in - 1)``."""
    return np.minimum(np.floor(real.astype(np.float32)).astype(np.int64), n_in - 1)


def _nearest_index(n_in: int, n_out: int, scale: float | None, exact: bool, opm: type,
                   fast: bool) -> np.ndarray:
    """The input index each output copies. PyTorch has two formulas that differ in rare
    rounding cases: its generic kernel (``fast=False``: 1-D inputs and larger 2-D/3-D outputs)
    and the one of its channels-last kernel (``fast=True``: small 2-D/3-D outputs)."""
    o = np.arange(n_out)
    if fast:  # UpSample.h nearest_idx / nearest_exact_idx, in float32
        if not exact and n_out == n_in:
            return o
        if not exact and n_out == 2 * n_in:
            return o >> 1
        s = np.float32(1.0 / scale) if scale is not None and scale > 0 else \
            np.float32(n_in) / np.float32(n_out)
        if exact:
            return _floor((o + 0.5) * np.float64(s), n_in)
        return _floor(o.astype(np.float32) * s, n_in)
    sc = _scale(n_in, n_out, False, scale, opm)
    if exact:
        real = _source(sc, n_out, False, False, opm)
        return _floor(real.astype(np.float64) + 0.5, n_in)
    return _floor(_source(sc, n_out, True, False, opm), n_in)


_Taps = tuple[np.ndarray, np.ndarray, "np.ndarray | None"]  # index, weight, valid (K, out)


def _linear_taps(n_in: int, n_out: int, scale: float | None, align_corners: bool,
                 opm: type) -> _Taps:
    o = np.arange(n_out)
    if n_out == n_in:  # PyTorch copies (even when a scale factor says otherwise)
        return np.stack([o, o]), np.stack([np.ones(n_out), np.zeros(n_out)]).astype(opm), None
    src = _source(_scale(n_in, n_out, align_corners, scale, opm), n_out, align_corners,
                  False, opm)
    i0 = _floor(src, n_in)
    l1 = np.clip(src - i0.astype(opm), 0, 1).astype(opm)
    i1 = i0 + (i0 < n_in - 1)
    return np.stack([i0, i1]), np.stack([opm(1) - l1, l1]), None


def _cubic_coefficients(t: np.ndarray, A: float) -> list[np.ndarray]:
    """Keys' cubic convolution weights of the four taps around a point at offset ``t``."""
    def near(x: np.ndarray) -> np.ndarray:
        return ((A + 2) * x - (A + 3)) * x * x + 1

    def far(x: np.ndarray) -> np.ndarray:
        return ((A * x - 5 * A) * x + 8 * A) * x - 4 * A

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _cubic_taps(n_in: int, n_out: int, scale: float | None, align_corners: bool,
                opm: type) -> _Taps:
    src = _source(_scale(n_in, n_out, align_corners, scale, opm), n_out, align_corners,
                  True, opm)
    i = _floor(src, n_in)
    t = np.clip(src - i.astype(opm), 0, 1).astype(opm)
    w: np.ndarray = np.stack(_cubic_coefficients(t, opm(-0.75))).astype(opm)
    idx = np.clip(i[None, :] + np.arange(-1, 3)[:, None], 0, n_in - 1)
    return idx, w, None


def _area_taps(n_in: int, n_out: int, opm: type) -> _Taps:
    """Adaptive average pooling's bins: output o averages inputs ⌊o·in/out⌋ ≤ i < ⌈(o+1)·in/out⌉."""
    o = np.arange(n_out)
    start = (o * n_in) // n_out
    end = -((-(o + 1) * n_in) // n_out)
    k = int((end - start).max())
    idx = start[None, :] + np.arange(k)[:, None]
    valid = idx < end[None, :]
    w: np.ndarray = np.where(valid, 1.0 / (end - start)[None, :], 0.0).astype(opm)
    return np.minimum(idx, n_in - 1), w, valid


def _aa_taps(n_in: int, n_out: int, scale: float | None, align_corners: bool, cubic: bool,
             opm: type) -> _Taps:
    """Antialiased (PIL-style) taps: the filter (triangle, or cubic with a = -0.5) stretched by
    the downscaling factor, normalised to sum to 1."""
    sc = float(_scale(n_in, n_out, align_corners, scale, opm))
    support = (2.0 if cubic else 1.0) * (sc if sc >= 1.0 else 1.0)
    invscale = 1.0 / sc if sc >= 1.0 else 1.0
    max_taps = int(math.ceil(support)) * 2 + 1
    o = np.arange(n_out, dtype=np.float64)
    center = sc * (o + 0.5)
    xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)
    xsize = np.clip(np.minimum((center + support + 0.5).astype(np.int64), n_in) - xmin, 0,
                    max_taps)
    j = np.arange(max_taps)[:, None]
    x = (j + xmin[None, :] - center[None, :] + 0.5) * invscale
    w: np.ndarray
    if cubic:
        a, ax = -0.5, np.abs(x)
        w = np.where(ax < 1, ((a + 2) * ax - (a + 3)) * ax * ax + 1,
                     np.where(ax < 2, (((ax - 5) * ax + 8) * ax - 4) * a, 0.0))
    else:
        w = np.maximum(0.0, 1.0 - np.abs(x))
    valid = j < xsize[None, :]
    w = np.where(valid, w, 0.0)
    total = w.sum(0)
    w = np.where(total != 0, w / np.where(total != 0, total, 1.0), w)
    return np.minimum(j + xmin[None, :], n_in - 1), w.astype(opm), valid


# --------------------------------------------------------------------------- applying taps

def _move(x: Any, axis: int, fn: Callable[[Any], Any], n_out: int) -> Any:
    """Apply ``fn`` (acting on the last axis of a 2-D or 3-D view) along ``axis``."""
    shape = shape_of(x)
    n_in = shape[axis]
    lead, trail = math.prod(shape[:axis]), math.prod(shape[axis + 1:])
    # (sizes, not -1: an empty tensor's cannot be inferred)
    if trail == 1:
        y = fn(F.reshape(x, (lead, n_in)))
    else:
        y = fn(F.reshape(x, (lead, n_in, trail)))
    return F.reshape(y, shape[:axis] + (n_out,) + shape[axis + 1:])


def _matrix(idx: np.ndarray, w: np.ndarray, n_in: int, dtype: Any) -> np.ndarray:
    n_out = idx.shape[1]
    m = np.zeros((n_out, n_in), dtype=dtype)
    rows = np.broadcast_to(np.arange(n_out), idx.shape)
    np.add.at(m, (rows.ravel(), idx.ravel()), w.ravel().astype(dtype))
    return m


def _apply_matrix(x: Any, m: np.ndarray, trail: bool) -> Any:
    """``m`` (out, in) times the resampled axis of ``x``: the last of a (B, in) view, or the
    middle of a (B, in, T) view (``trail``)."""
    return F.matmul(m, x) if trail else F.matmul(x, np.ascontiguousarray(m.T))


def _is_copy(taps: _Taps, n_in: int) -> bool:
    """Whether the taps copy the input (output o reads input o with weight 1, others 0)."""
    idx, w, _ = taps
    return idx.shape[1] == n_in and np.array_equal(idx[0], np.arange(n_in)) and \
        bool((w[0] == 1).all()) and not w[1:].any()


def _progression(row: np.ndarray) -> slice | None:
    """``row`` as a slice, if it is an arithmetic progression with a positive step."""
    n = row.size
    step = int(row[1] - row[0]) if n > 1 else 1
    if step < 1 or not np.array_equal(row, row[0] + step * np.arange(n)):
        return None
    return slice(int(row[0]), int(row[0]) + step * (n - 1) + 1, step)


def _weighted(x: Any, axis: int, taps: _Taps, finite: bool) -> Any:
    """Σ_k w_k · x[idx_k] along ``axis`` (weights summed in the order PyTorch sums them only up
    to rounding)."""
    idx, w, valid = taps
    n_in, n_out = shape_of(x)[axis], idx.shape[1]
    dtype = np.dtype(x.dtype)
    if not finite:
        return _gathered(x, axis, taps)
    slices = [_progression(row) for row in idx]
    if all(sl is not None for sl in slices):
        # every tap reads a strided slice (a downsampling by an integer factor): K slices,
        # whose gradients are assignments, not scatter-adds
        bshape = (-1,) + (1,) * (ndim_of(x) - axis - 1)
        out: Any = None
        for k, sl in enumerate(slices):
            if not w[k].any():
                continue
            term = x[(slice(None),) * axis + (sl,)] * w[k].astype(dtype).reshape(bshape)
            out = term if out is None else out + term
        return out if out is not None else x[(slice(None),) * axis + (slices[0],)] * 0
    trail = math.prod(shape_of(x)[axis + 1:]) != 1
    if n_in <= DENSE_MAX:
        m = _matrix(idx, w, n_in, dtype)
        return _move(x, axis, lambda v: _apply_matrix(v, m, trail), n_out)
    # Bands of outputs, each reading only the stretch of inputs its taps span.
    lo_all = np.where(valid, idx, n_in).min(0) if valid is not None else idx.min(0)
    hi_all = np.where(valid, idx, -1).max(0) + 1 if valid is not None else idx.max(0) + 1
    band = max(1, int(BAND_WIDTH * n_out / n_in))

    def banded(v: Any) -> Any:
        parts = []
        for start in range(0, n_out, band):
            stop = min(start + band, n_out)
            lo = int(lo_all[start:stop].min())
            hi = int(hi_all[start:stop].max())
            lo, hi = min(lo, hi - 1), max(hi, lo + 1)
            m = _matrix(np.clip(idx[:, start:stop] - lo, 0, hi - lo - 1), w[:, start:stop],
                        hi - lo, dtype)  # (invalid taps, weight 0, clipped into the band)
            parts.append(_apply_matrix(v[:, lo:hi], m, trail))
        return parts[0] if len(parts) == 1 else F.cat(parts, dim=1)

    return _move(x, axis, banded, n_out)


def _gathered(x: Any, axis: int, taps: _Taps) -> Any:
    """Σ_k w_k · x[idx_k] along ``axis``, reading only the valid taps (the non-finite path)."""
    idx, w, valid = taps
    bshape = (-1,) + (1,) * (ndim_of(x) - axis - 1)
    out: Any = None
    for k in range(idx.shape[0]):
        term = F.index_select(x, axis, idx[k]) * w[k].astype(x.dtype).reshape(bshape)
        if valid is not None and not valid[k].all():
            term = F.where(valid[k].reshape(bshape), term, 0.0)
        out = term if out is None else out + term
    return out


def _nearest(x: Any, axis: int, idx: np.ndarray) -> Any:
    """``x`` indexed by ``idx`` along ``axis``, exactly (copies of the entries)."""
    shape = shape_of(x)
    n_in, n_out = shape[axis], idx.size
    if n_out == n_in and np.array_equal(idx, np.arange(n_in)):
        return x
    if n_in and n_out % n_in == 0 and np.array_equal(idx, np.arange(n_out) // (n_out // n_in)):
        # every entry repeated r times: r stacked copies (the gradient adds r strided views)
        r = n_out // n_in
        return F.reshape(F.stack([x] * r, dim=axis + 1),
                         shape[:axis] + (n_out,) + shape[axis + 1:])
    sl = _progression(idx)
    if sl is not None:  # every k-th entry
        return x[(slice(None),) * axis + (sl,)]
    data = x.data
    if data.dtype.kind == "f" and np.isfinite(data).all() and \
            not np.signbit(data[data == 0]).any():
        # a matmul by a 0/1 matrix: exact for finite values and no -0.0 (x·1 + Σ ±0 = x),
        # and much faster than a gather, whose gradient is a scatter-add
        return _weighted(x, axis, (idx[None], np.ones((1, n_out)), None), True)
    return F.index_select(x, axis, idx)


# --------------------------------------------------------------------------- interpolate

def _is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) or (
        isinstance(v, Tensor) and v.ndim == 0 and np.dtype(v.dtype).kind in "iu")


def _is_real(v: Any) -> bool:
    if isinstance(v, Tensor):
        return v.ndim == 0 and np.dtype(v.dtype).kind in "iuf"
    return isinstance(v, (int, float, np.integer, np.floating))


def _sizes(input: Any, size: Any, scale_factor: Any, recompute_scale_factor: Any
           ) -> tuple[list[int], list[float | None]]:
    """PyTorch's rules for the output size and the scale each axis's indices use."""
    shape = shape_of(input)
    dim = len(shape) - 2
    if size is not None and scale_factor is not None:
        raise ValueError(f"interpolate: only one of size or scale_factor should be defined "
                         f"(got size={size!r} and scale_factor={scale_factor!r})")
    if size is not None:
        if isinstance(size, (list, tuple)):
            if len(size) != dim:
                raise ValueError(
                    f"interpolate: input and output must have the same number of spatial "
                    f"dimensions, but got input with spatial dimensions of {list(shape[2:])} "
                    f"and output size of {size!r}; give the input as (N, C, d1, ..., dK) and "
                    f"the size as (o1, ..., oK)")
            if not all(_is_int(v) for v in size):
                raise TypeError(f"interpolate: expected size to be one of int or Tuple[int] "
                                f"or Tuple[int, int] or Tuple[int, int, int], but got size "
                                f"{size!r} with types {[type(v).__name__ for v in size]}")
            out = [int(v) for v in size]
        else:
            if not _is_int(size):
                raise TypeError(f"interpolate: size must be an int or a tuple of ints, got "
                                f"{size!r} of type {type(size).__name__}")
            out = [int(size)] * dim
        scales: list[float | None] = [None] * dim
        if recompute_scale_factor:
            raise ValueError("interpolate: recompute_scale_factor is not meaningful with an "
                             f"explicit size (got size={size!r})")
        return out, scales
    if scale_factor is None:
        raise ValueError("interpolate: either size or scale_factor should be defined "
                         "(both are None)")
    if isinstance(scale_factor, (list, tuple)):
        if len(scale_factor) != dim:
            raise ValueError(
                f"interpolate: input and scale_factor must have the same number of spatial "
                f"dimensions, but got input with spatial dimensions of {list(shape[2:])} and "
                f"scale_factor {scale_factor!r}; give the input as (N, C, d1, ..., dK) and "
                f"the scale_factor as (s1, ..., sK)")
        given = list(scale_factor)
    else:
        given = [scale_factor] * dim
    if not all(_is_real(s) for s in given):
        raise TypeError(f"interpolate: scale_factor must be a number or a tuple of numbers, "
                        f"got {scale_factor!r}")
    factors = [float(s) for s in given]
    if not all(math.isfinite(s) for s in factors):
        raise ValueError(f"interpolate: scale_factor must be finite, got {scale_factor!r}")
    out = [int(float(n) * s) for n, s in zip(shape[2:], factors)]  # truncation, as PyTorch
    scales = [None] * dim if recompute_scale_factor else list(factors)
    return out, scales


def _fast_nearest(out: list[int]) -> bool:
    """Whether PyTorch's forward takes its channels-last nearest kernel (see
    ``_nearest_index``): for 2-D outputs whose height + width is at most 128."""
    return len(out) == 2 and sum(out) <= 128


def interpolate(input: Tensor, size: _IntOr | None = None, scale_factor: _FloatOr | None = None,
                mode: str = "nearest", align_corners: bool | None = None,
                recompute_scale_factor: bool | None = None, antialias: bool = False) -> Tensor:
    """Resample ``(N, C, *spatial)`` to ``size`` or ``scale_factor`` times the spatial size.

    Modes: 'nearest' (PyTorch's, which copies input ⌊o·in/out⌋), 'nearest-exact' (input
    ⌊(o + ½)·in/out⌋), 'linear' (3-D input), 'bilinear' and 'bicubic' (4-D), 'trilinear' (5-D)
    and 'area' (adaptive average pooling). With ``align_corners=True`` the corner pixels'
    centres line up (source = o·(in-1)/(out-1)); otherwise the pixel areas do (source =
    (o + ½)·s - ½, with s = 1/scale_factor when a scale factor is given and not recomputed,
    else in/out). ``antialias=True`` (bilinear and bicubic) widens the filter when shrinking.

    Every mode is linear in the input, y = M x along each axis, so ∂L/∂x = Mᵀ ∂L/∂y (each
    output's gradient scatter-added onto the inputs it read, with the same weights).

    >>> import chainrule as cr
    >>> cr.nn.functional.interpolate(cr.ones(1, 3, 4, 4), scale_factor=2,
    ...                              mode="bilinear").shape
    (1, 3, 8, 8)
    """
    if mode in ("nearest", "area", "nearest-exact"):
        if align_corners is not None:
            raise ValueError(f"interpolate: align_corners option can only be set with the "
                             f"interpolating modes: linear | bilinear | bicubic | trilinear "
                             f"(got align_corners={align_corners!r} with mode={mode!r})")
    out, scales = _sizes(input, size, scale_factor, recompute_scale_factor)
    x: Any = input if isinstance(input, Tensor) else as_tensor(input)
    _check_input(x, mode, out, antialias)
    shape = shape_of(x)
    opm = _opmath(x.dtype)
    fast = _fast_nearest(out)
    # a non-finite input takes the gather path, so an inf or nan spreads as in PyTorch
    finite = mode in ("nearest", "nearest-exact") or bool(np.isfinite(x.data).all())
    # the axes that shrink most go first, so later steps work on less data
    order = sorted(range(len(out)), key=lambda k: out[k] / shape[2 + k])
    y = x
    for k in order:
        y = _resample_axis(y, 2 + k, out[k], scales[k], mode, bool(align_corners), antialias,
                           opm, fast, finite)
    return F.clone(y) if y is x else y


def _check_input(x: Tensor, mode: str, out: list[int], antialias: bool) -> None:
    """The mode fits the input's rank and dtype, and the sizes are positive."""
    nd, shape = ndim_of(x), shape_of(x)
    if antialias and not (mode in ("bilinear", "bicubic") and nd == 4):
        raise ValueError(f"interpolate: the antialias option is restricted to the bilinear "
                         f"and bicubic modes and requires a 4-D input (got mode={mode!r} and "
                         f"a {nd}-D input)")
    if mode not in _MODES:
        raise NotImplementedError(f"interpolate: mode must be one of {', '.join(_MODES)}, got "
                                  f"{mode!r}")
    if nd not in (3, 4, 5):
        raise NotImplementedError(f"interpolate: only 3-D, 4-D and 5-D inputs (N, C, *spatial) "
                                  f"are supported, got a {nd}-D input of shape {shape} (add a "
                                  f"batch dim with unsqueeze(0))")
    want = _MODE_DIMS.get(mode)
    if want is not None and nd - 2 != want:
        raise NotImplementedError(f"interpolate: got a {nd}-D input of shape {shape}, but "
                                  f"{mode} mode needs a {want + 2}-D input")
    if any(n <= 0 for n in shape[2:]) or any(o < (mode != "area") for o in out):
        raise ValueError(f"interpolate: input and output sizes should be greater than 0, but "
                         f"got input spatial size {tuple(shape[2:])} and output size "
                         f"{tuple(out)}")
    if mode not in ("nearest", "nearest-exact") and np.dtype(x.dtype).kind != "f":
        raise NotImplementedError(f"interpolate: mode {mode!r} needs a floating-point input, "
                                  f"got {x.dtype}; convert it with .float() or .double()")


def _resample_axis(x: Any, axis: int, n_out: int, scale: float | None, mode: str,
                   align_corners: bool, antialias: bool, opm: type, fast: bool,
                   finite: bool) -> Any:
    """``x`` resampled to ``n_out`` entries along ``axis`` (``x`` itself if unchanged)."""
    n_in = shape_of(x)[axis]
    if mode in ("nearest", "nearest-exact"):
        return _nearest(x, axis, _nearest_index(n_in, n_out, scale, mode == "nearest-exact",
                                                opm, fast))
    if n_out == 0:  # (area only: adaptive pooling to nothing, as PyTorch)
        return x[(slice(None),) * axis + (slice(0, 0),)]
    if antialias and n_out == n_in:
        return x  # PyTorch's antialiased forward leaves an axis of unchanged size alone
    if antialias:
        taps = _aa_taps(n_in, n_out, scale, align_corners, mode == "bicubic", opm)
    elif mode == "area":
        taps = _area_taps(n_in, n_out, opm)
    elif mode == "bicubic":
        taps = _cubic_taps(n_in, n_out, scale, align_corners, opm)
    else:
        taps = _linear_taps(n_in, n_out, scale, align_corners, opm)
    if finite and _is_copy(taps, n_in):
        return x
    return _weighted(x, axis, taps, finite)


def upsample(input: Tensor, size: _IntOr | None = None, scale_factor: _FloatOr | None = None,
             mode: str = "nearest", align_corners: bool | None = None) -> Tensor:
    """Deprecated alias of :func:`interpolate` (as in PyTorch, which warns)."""
    warnings.warn("`nn.functional.upsample` is deprecated. Use `nn.functional.interpolate` "
                  "instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode, align_corners)


def upsample_nearest(input: Tensor, size: _IntOr | None = None,
                     scale_factor: _FloatOr | None = None) -> Tensor:
    """Deprecated: ``interpolate(input, size, scale_factor, mode='nearest')``."""
    warnings.warn("`nn.functional.upsample_nearest` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input: Tensor, size: _IntOr | None = None,
                      scale_factor: _FloatOr | None = None) -> Tensor:
    """Deprecated: ``interpolate(input, size, scale_factor, mode='bilinear',
    align_corners=True)``."""
    warnings.warn("`nn.functional.upsample_bilinear` is deprecated. Use "
                  "`nn.functional.interpolate` instead.", stacklevel=2)
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


# --------------------------------------------------------------------------- shuffles

def _factor(v: Any, what: str, op: str) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
        raise TypeError(f"{op}: {what} must be an int, got {v!r} of type {type(v).__name__}")
    if v <= 0:
        raise ValueError(f"{op}: expects a positive {what}, but got {v}")
    return int(v)


def pixel_shuffle(input: Tensor, upscale_factor: int) -> Tensor:
    """``(*, C·r², H, W)`` -> ``(*, C, H·r, W·r)``: y[c, h·r + i, w·r + j] = x[c·r² + i·r + j,
    h, w] (a reshape and a permute; the gradient is the inverse rearrangement).

    >>> import chainrule as cr
    >>> cr.nn.functional.pixel_shuffle(cr.randn(1, 8, 3, 3), 2).shape
    (1, 2, 6, 6)
    """
    op = "pixel_shuffle"
    r = _factor(upscale_factor, "upscale_factor", op)
    shape = shape_of(input)
    if len(shape) < 3:
        raise ValueError(f"{op}: expects input to have at least 3 dimensions (*, C·r², H, W), "
                         f"but got input of shape {shape}")
    *lead, c, h, w = shape
    if c % (r * r):
        raise ValueError(f"{op}: expects its input's 'channel' dimension to be divisible by "
                         f"the square of upscale_factor, but input.size(-3)={c} is not "
                         f"divisible by {r * r} (upscale_factor={r}, input shape {shape})")
    n = len(lead)
    y = F.reshape(input, (*lead, c // (r * r), r, r, h, w))
    y = F.permute(y, *range(n), n, n + 3, n + 1, n + 4, n + 2)
    return F.reshape(y, (*lead, c // (r * r), h * r, w * r))


def pixel_unshuffle(input: Tensor, downscale_factor: int) -> Tensor:
    """``(*, C, H·r, W·r)`` -> ``(*, C·r², H, W)``, the inverse of :func:`pixel_shuffle`.

    >>> import chainrule as cr
    >>> cr.nn.functional.pixel_unshuffle(cr.randn(1, 2, 6, 6), 2).shape
    (1, 8, 3, 3)
    """
    op = "pixel_unshuffle"
    r = _factor(downscale_factor, "downscale_factor", op)
    shape = shape_of(input)
    if len(shape) < 3:
        raise ValueError(f"{op}: expects input to have at least 3 dimensions (*, C, H·r, W·r), "
                         f"but got input of shape {shape}")
    *lead, c, h, w = shape
    for what, size, d in (("height", h, -2), ("width", w, -1)):
        if size % r:
            raise ValueError(f"{op}: expects {what} to be divisible by downscale_factor, but "
                             f"input.size({d})={size} is not divisible by {r} (input shape "
                             f"{shape})")
    n = len(lead)
    y = F.reshape(input, (*lead, c, h // r, r, w // r, r))
    y = F.permute(y, *range(n), n, n + 2, n + 4, n + 1, n + 3)
    return F.reshape(y, (*lead, c * r * r, h // r, w // r))


def channel_shuffle(input: Tensor, groups: int) -> Tensor:
    """Interleave ``groups`` groups of channels of ``(N, C, *)``: output channel
    ``k·groups + g`` is input channel ``g·(C/groups) + k`` (ShuffleNet's shuffle).

    >>> import chainrule as cr
    >>> x = cr.arange(6.0).reshape(1, 6, 1)
    >>> cr.nn.functional.channel_shuffle(x, 2).flatten()
    tensor([0., 3., 1., 4., 2., 5.])
    """
    op = "channel_shuffle"
    if not isinstance(groups, (int, np.integer)) or isinstance(groups, bool):
        raise TypeError(f"{op}: groups must be an int, got {groups!r} of type "
                        f"{type(groups).__name__}")
    shape = shape_of(input)
    if len(shape) <= 2:
        raise ValueError(f"{op}: expects input with > 2 dims (N, C, *), but got input of shape "
                         f"{shape}")
    if groups <= 0:
        raise ValueError(f"{op}: the number of groups to divide channels in must be positive, "
                         f"got groups={groups}")
    n, c, *rest = shape
    if c % groups:
        raise ValueError(f"{op}: the number of channels must be divisible by groups; got {c} "
                         f"channels and groups={groups} (input shape {shape})")
    y = F.reshape(input, (n, int(groups), c // groups, *rest))
    y = F.transpose(y, 1, 2)
    return F.reshape(y, shape)
