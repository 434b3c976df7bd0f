"""Spatial transformers: ``affine_grid`` and ``grid_sample`` with PyTorch's signatures.

``grid_sample`` reads the input at arbitrary (normalised) positions. Its integer part, which
neighbours each output reads, is worked out in NumPy from the grid's values, with PyTorch's
coordinate arithmetic (unnormalisation for ``align_corners``, border clipping, reflection);
the reading itself is chainrule ops: one gather (through a flat index) of every neighbour of
every point, times interpolation weights built with Tensor arithmetic from the grid. So both
gradients come for free and are PyTorch's:

* the input's is each output's gradient scatter-added onto the neighbours it read, times
  their weights;
* the grid's flows through the weights (bilinear: ``1 - frac`` and ``frac``; bicubic: the
  cubic-convolution coefficients of ``frac``), times the unnormalisation scale and, for
  ``border``/``reflection``, the padding's slope (0 where the coordinate is clipped, ±1 under
  reflection), as in PyTorch. ``nearest`` gives the grid a zero gradient.

``affine_grid`` is one batched matmul of the base grid (x, y[, z], 1) by θᵀ.

>>> import chainrule as cr
>>> theta = cr.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])
>>> x = cr.arange(4.0).reshape(1, 1, 2, 2)
>>> grid = cr.nn.functional.affine_grid(theta, (1, 1, 2, 2), align_corners=False)
>>> cr.nn.functional.grid_sample(x, grid, align_corners=False).tolist()
[[[[0.0, 1.0], [2.0, 3.0]]]]
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import warnings
from collections.abc import Sequence

import numpy as np

from ... import functional as _F
from ...tensor import Tensor, as_tensor

__all__ = ["affine_grid", "grid_sample"]

_ALIGN_WARNING = ("Default grid_sample and affine_grid behavior has changed to "
                  "align_corners=False since 1.3.0. Please specify align_corners=True if the "
                  "old behavior is desired. See the documentation of grid_sample for details.")
_CUBIC_A = -0.75  # PyTorch's bicubic kernel parameter
_TAPS_PER_GATHER = 4  # (bilinear: one gather, trilinear two, bicubic four: bounded memory)


def _align(align_corners: bool | None) -> bool:
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=3)
        return False
    return bool(align_corners)


# --------------------------------------------------------------------------- affine_grid

def _linspace_from_neg_one(steps: int, align_corners: bool, dtype: np.dtype) -> np.ndarray:
    """PyTorch's base coordinates along one axis: pixel centres (or corners) in [-1, 1]."""
    if steps <= 1:
        return np.zeros(1, dtype=dtype)
    r = np.linspace(-1.0, 1.0, steps).astype(dtype)
    if not align_corners:
        r = r * dtype.type(steps - 1) / dtype.type(steps)
    return r


def _base_grid(spatial: tuple[int, ...], align_corners: bool, dtype: np.dtype) -> np.ndarray:
    """``(∏spatial, nd + 1)``: rows (x, y[, z], 1) in row-major order of the output."""
    axes = [_linspace_from_neg_one(s, align_corners, dtype) for s in spatial]
    mesh = np.meshgrid(*axes, indexing="ij")  # (D,) H, W order
    cols = [m.reshape(-1) for m in reversed(mesh)] + [np.ones(math.prod(spatial), dtype)]
    return np.stack(cols, axis=1)


def affine_grid(theta: Tensor, size: Sequence[int], align_corners: bool | None = None) -> Tensor:
    """The sampling grid ``(N, H, W, 2)`` (or ``(N, D, H, W, 3)``) of the affine maps
    ``theta`` (``(N, 2, 3)`` or ``(N, 3, 4)``) for an output of ``size`` ``(N, C, H, W)`` (or
    ``(N, C, D, H, W)``); feed it to ``grid_sample``. Differentiable in ``theta``."""
    align = _align(align_corners)
    size = tuple(int(s) for s in size)
    if not isinstance(theta, Tensor) or theta.dtype.kind != "f":
        kind = theta.dtype if isinstance(theta, Tensor) else type(theta).__name__
        raise ValueError(f"affine_grid: expected theta to have floating point type, but got "
                         f"{kind}")
    if len(size) not in (4, 5):
        raise NotImplementedError(
            "affine_grid only supports 4D and 5D sizes, for 2D and 3D affine transforms, "
            f"respectively. Got size {size}.")
    nd = len(size) - 2
    if theta.ndim != 3 or tuple(theta.shape[1:]) != (nd, nd + 1):
        raise ValueError(f"affine_grid: expected a batch of {nd}D affine matrices of shape "
                         f"Nx{nd}x{nd + 1} for size {size}, got {tuple(theta.shape)}")
    if min(size) <= 0:
        raise ValueError(f"affine_grid: expected non-zero, positive output size, got {size}")
    if theta.shape[0] != size[0]:
        raise RuntimeError(f"affine_grid: theta holds {theta.shape[0]} matrices but size asks "
                           f"for a batch of {size[0]}; make them agree")
    if align and max(size[2:]) == 1:
        warnings.warn("Since version 1.3.0, affine_grid behavior has changed for unit-size "
                      "grids when align_corners=True. This is not an intended use case of "
                      "affine_grid. See the documentation of affine_grid for details.",
                      UserWarning, stacklevel=2)
    spatial = size[2:]
    base = as_tensor(_base_grid(spatial, align, np.dtype(theta.dtype)))
    grid = base @ theta.transpose(1, 2)  # (N, P, nd)
    return grid.reshape((size[0],) + spatial + (nd,))


# --------------------------------------------------------------------------- grid_sample

def _check_sample_args(input: Tensor, grid: Tensor, mode: str, padding_mode: str) -> int:
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError("grid_sample: expected mode to be 'bilinear', 'nearest' or "
                         f"'bicubic', but got: {mode!r}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError("grid_sample: expected padding_mode to be 'zeros', 'border', or "
                         f"'reflection', but got: {padding_mode!r}")
    if not isinstance(input, Tensor) or not isinstance(grid, Tensor):
        raise TypeError("grid_sample: input and grid must be Tensors, got "
                        f"{type(input).__name__} and {type(grid).__name__}")
    if input.ndim not in (4, 5) or grid.ndim != input.ndim:
        raise RuntimeError(
            "grid_sample: expected a 4-D input with a 4-D grid (N, H_out, W_out, 2) or a 5-D "
            f"input with a 5-D grid (N, D_out, H_out, W_out, 3), got input {tuple(input.shape)}"
            f" and grid {tuple(grid.shape)}")
    nd = input.ndim - 2
    if grid.shape[-1] != nd:
        raise RuntimeError(f"grid_sample: expected grid to have size {nd} in last dimension, "
                           f"but got grid with sizes {tuple(grid.shape)}")
    if grid.shape[0] != input.shape[0]:
        raise RuntimeError("grid_sample: expected grid and input to have same batch size, but "
                           f"got input with sizes {tuple(input.shape)} and grid with sizes "
                           f"{tuple(grid.shape)}")
    if min(input.shape[2:]) == 0:
        raise RuntimeError("grid_sample: expected input to have non-empty spatial dimensions, "
                           f"but input has sizes {tuple(input.shape)}")
    if mode == "bicubic" and nd != 2:
        raise RuntimeError("grid_sample: bicubic interpolation only supports 4D input, got "
                           f"{tuple(input.shape)}")
    if input.dtype.kind != "f" or input.dtype != grid.dtype:
        raise RuntimeError(f"grid_sample: input ({input.dtype}) and grid ({grid.dtype}) must "
                           "have the same floating point dtype; convert one of them")
    return nd


def _unnormalize(coord: Tensor, size: int, align_corners: bool) -> Tensor:
    """[-1, 1] to pixel units: corners' centres (align_corners) or the image's edges."""
    if align_corners:
        return (coord + 1) / 2 * (size - 1)
    return ((coord + 1) * size - 1) / 2


def _reflect(v: np.ndarray, twice_low: int, twice_high: int) -> tuple[np.ndarray, np.ndarray]:
    """Reflect ``v`` into [low, high] (PyTorch's rule) and the slope of the map (±1); a
    non-finite ``v`` gives NaN (then sent to 0 by ``_pad_coords``)."""
    if twice_low == twice_high:
        return np.zeros_like(v), np.zeros_like(v)
    dt = v.dtype.type
    low, span = dt(twice_low / 2), dt((twice_high - twice_low) / 2)
    d = v - low
    slope = np.where(d < 0, dt(-1), dt(1))
    d = np.abs(d)
    with np.errstate(invalid="ignore"):
        extra = np.fmod(d, span)
        flips = np.floor(d / span)
        odd = np.fmod(flips, 2) == 1
    return np.where(odd, span - extra + low, extra + low), np.where(odd, -slope, slope)


def _pad_coords(v: np.ndarray, size: int, padding_mode: str,
                align_corners: bool) -> tuple[np.ndarray, np.ndarray]:
    """The coordinate after ``border``/``reflection`` padding and the slope of that map. As
    PyTorch's CPU kernel, NaN goes to 0 and ±inf to the nearer edge (reflection: 0)."""
    slope = np.ones_like(v)
    if padding_mode == "reflection":
        twice = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        v, slope = _reflect(v, *twice)
    if padding_mode in ("border", "reflection"):
        hi = v.dtype.type(size - 1)
        inside = (v > 0) & (v < hi)  # (the edges count as clipped: zero slope there)
        slope = np.where(inside, slope, 0)
        v = np.clip(np.where(np.isnan(v), 0, v), 0, hi)
    return v, slope


def _source(coord: Tensor, size: int, padding_mode: str, align_corners: bool) -> Tensor:
    """The source coordinate in pixels (bilinear/nearest): unnormalised, then padded. The
    value is computed in NumPy; its derivative is the padding's slope, attached as
    ``v + slope·(c - c.detach())`` (whose value is exactly ``v``; 0 where c is not finite)."""
    c = _unnormalize(coord, size, align_corners)
    if padding_mode == "zeros":
        return c
    v, slope = _pad_coords(c.data, size, padding_mode, align_corners)
    c = _F.where(np.isfinite(c.data), c, 0.0)
    return (c - c.detach()) * slope + v


def _gather_at(flat: Tensor, index: list[np.ndarray], spatial: tuple[int, ...]) -> tuple:
    """The values of ``flat`` ``(N, C, S)`` at the integer positions ``index`` of T taps (one
    ``(T, N, P)`` array per spatial dim, last dim first): ``(T, N, C, P)``, and the in-bounds
    mask ``(T, N, 1, P)``. Out-of-bounds taps read a valid element, to be masked out. One
    gather through a flat index for all the taps and channels: its gradient is a single 1-D
    scatter-add (NumPy's fast path, several times faster than a multi-dim one)."""
    valid = np.ones(index[0].shape, dtype=bool)
    linear = np.zeros(index[0].shape, dtype=np.int64)
    stride = 1
    for idx, size in zip(index, reversed(spatial)):
        valid &= (idx >= 0) & (idx < size)
        linear += np.clip(idx, 0, size - 1) * stride
        stride *= size
    n, c, s = (int(k) for k in flat.shape)
    planes = (np.arange(n)[:, None] * c + np.arange(c)) * s  # (N, C): each plane's start
    flat_index = planes[None, :, :, None] + linear[:, :, None, :]
    picked = flat.reshape(-1)[flat_index.reshape(-1)].reshape(flat_index.shape)
    return picked, valid[:, :, None, :]


def _as_index(v: np.ndarray) -> np.ndarray:
    """Float pixel positions as int64 (non-finite ones sent far out of bounds)."""
    out = np.where(np.isfinite(v), v, -(2 ** 40))
    return np.clip(out, -(2 ** 40), 2 ** 40).astype(np.int64)


def _weighted_taps(flat: Tensor, index: list[np.ndarray], weights: list[Tensor],
                   spatial: tuple) -> Tensor:
    """Σ over the taps of value · weight (``weights``: one ``(N, P)`` per tap), gathering up
    to ``_TAPS_PER_GATHER`` taps at once. An out-of-bounds tap is masked before the product,
    so a NaN weight there gives the input no NaN gradient (PyTorch skips such taps)."""
    out: Tensor | None = None
    for first in range(0, len(weights), _TAPS_PER_GATHER):
        part = slice(first, first + _TAPS_PER_GATHER)
        picked, valid = _gather_at(flat, [i[part] for i in index], spatial)
        term = (_F.where(valid, picked, 0.0) * _F.stack(weights[part]).unsqueeze(2)).sum(0)
        out = term if out is None else out + term
    assert out is not None
    return out


def _sample_linear(flat: Tensor, coords: list[Tensor], spatial: tuple) -> Tensor:
    """(Bi/tri)linear interpolation: Σ over the 2^nd corners of value · Π weights."""
    lows = [np.floor(c.data) for c in coords]
    far = [c - lo for c, lo in zip(coords, lows)]  # the weight of the corner at lo + 1
    near = [(lo + 1) - c for c, lo in zip(coords, lows)]  # ... and at lo
    corners = list(itertools.product((0, 1), repeat=len(coords)))
    weights = [functools.reduce(operator.mul, [far[d] if bit else near[d]
                                               for d, bit in enumerate(corner)])
               for corner in corners]
    bits = np.asarray(corners)[:, :, None, None]  # (T, nd, 1, 1)
    index = [_as_index(lo + bits[:, d]) for d, lo in enumerate(lows)]
    return _weighted_taps(flat, index, weights, spatial)


def _sample_nearest(flat: Tensor, coords: list[Tensor], spatial: tuple, grid: Tensor) -> Tensor:
    """The nearest pixel (round half to even, as PyTorch); the grid (``(N, P, nd)``) gets a
    zero gradient."""
    index = [_as_index(np.rint(c.data))[None] for c in coords]
    picked, valid = _gather_at(flat, index, spatial)
    out = (picked * valid)[0]
    if grid.requires_grad:  # a zero-gradient link to the grid, as PyTorch reports zeros
        out = out + _F.where(np.zeros(valid.shape[1:], dtype=bool),
                             grid[:, :, 0].unsqueeze(1), 0.0)
    return out


def _cubic_weights(t: Tensor) -> list[Tensor]:
    """PyTorch's cubic-convolution coefficients (A = -0.75) of the four taps at offsets
    -1, 0, 1, 2 from ``floor``, for the fraction ``t``."""
    a = _CUBIC_A

    def near(x: Tensor) -> Tensor:  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x: Tensor) -> Tensor:  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    return [far(t + 1), near(t), near(1 - t), far(2 - t)]


def _sample_bicubic(flat: Tensor, ix: Tensor, iy: Tensor, spatial: tuple, padding_mode: str,
                    align_corners: bool) -> Tensor:
    """Bicubic: 4×4 taps around ``floor``; each tap's position (not the source point) is
    padded, as in PyTorch, so the grid's gradient is the coefficients' only."""
    h, w = spatial
    x0, y0 = np.floor(ix.data), np.floor(iy.data)
    wx, wy = _cubic_weights(ix - x0), _cubic_weights(iy - y0)
    tx = [_pad_coords(x0 + (j - 1), w, padding_mode, align_corners)[0] for j in range(4)]
    ty = [_pad_coords(y0 + (i - 1), h, padding_mode, align_corners)[0] for i in range(4)]
    taps = list(itertools.product(range(4), range(4)))  # (row i, column j)
    index = [_as_index(np.trunc(np.stack([tx[j] for _, j in taps]))),
             _as_index(np.trunc(np.stack([ty[i] for i, _ in taps])))]
    return _weighted_taps(flat, index, [wy[i] * wx[j] for i, j in taps], spatial)


def grid_sample(input: Tensor, grid: Tensor, mode: str = "bilinear",
                padding_mode: str = "zeros", align_corners: bool | None = None) -> Tensor:
    """Sample ``input`` ``(N, C, H, W)`` (or ``(N, C, D, H, W)``) at the normalised positions
    ``grid`` ``(N, H_out, W_out, 2)`` (or ``(N, D_out, H_out, W_out, 3)``), ``grid[..., 0]``
    being x (width), -1 the left edge and +1 the right. ``mode``: 'bilinear' (trilinear for
    5-D), 'nearest' or 'bicubic' (4-D only); ``padding_mode``: 'zeros', 'border' or
    'reflection' for positions outside. Differentiable in both ``input`` and ``grid``."""
    nd = _check_sample_args(input, grid, mode, padding_mode)
    align = _align(align_corners)
    n, c = input.shape[:2]
    spatial = tuple(input.shape[2:])
    out_spatial = tuple(grid.shape[1:-1])
    flat = input.reshape(n, c, math.prod(spatial))
    g = grid.reshape(n, math.prod(out_spatial), nd)
    sizes = tuple(reversed(spatial))  # x is the last dim (W), y the one before
    if mode == "bicubic":
        ix, iy = (_unnormalize(g[:, :, d], sizes[d], align) for d in range(2))
        out = _sample_bicubic(flat, ix, iy, spatial, padding_mode, align)
    else:
        coords = [_source(g[:, :, d], sizes[d], padding_mode, align) for d in range(nd)]
        out = (_sample_linear(flat, coords, spatial) if mode == "bilinear"
               else _sample_nearest(flat, coords, spatial, g))
    return out.reshape((n, c) + out_spatial)
