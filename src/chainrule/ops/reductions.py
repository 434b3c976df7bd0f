"""Reductions (sum, mean, prod, amax, logsumexp, norm), scans (cumsum, cumprod) and softmax.

The ops take ``dim`` as a tuple of negative ints (see ``norm_dims``) so that the same rules
work when a tangent carries leading batch dims.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._util import expand_back, is_tensor, reduced_shape, shape_of
from .registry import Sample, defop

_DIMS = {"dim": (-1,), "keepdim": False}
_VARIANTS = ({"dim": (-2, -1), "keepdim": True}, {"dim": (-2,), "keepdim": False})


def _reduce_sample(low: float = -2.0, high: float = 2.0, **kw: Any) -> Sample:
    return Sample(shapes=((3, 4),), low=low, high=high, params=dict(_DIMS), variants=_VARIANTS,
                  **kw)


#: Up to this many elements, the gradient of a full reduction is a filled array rather than a
#: stride-0 view: quicker to make, and a fresh array that backward can keep as a leaf's grad.
_FILL_MAX = 4096


def _spread(g: Any, shape: tuple, dim: tuple, keepdim: bool) -> Any:
    """The gradient of a reduction, ``g`` broadcast back to ``shape``: for large arrays a
    read-only view, not a full-size copy (the next rule multiplies by it anyway, and a
    stride-0 operand is NumPy's scalar fast path)."""
    if type(g) is not np.ndarray:
        if not isinstance(g, np.generic):  # a Tensor (create_graph)
            return expand_back(g, shape, dim, keepdim)
        g = np.asarray(g)
    if g.ndim == 0:  # a full reduction (a loss)
        if math.prod(shape) <= _FILL_MAX:
            out = np.empty(shape, g.dtype)
            out.fill(g)
            return out
        # Every stride 0, read-only through a read-only buffer. Made directly, as
        # np.broadcast_to's checks cost microseconds, which small models feel. (Not by setting
        # flags.writeable = False afterwards: NumPy then keeps ~60 bytes per call alive, a slow
        # leak in a training loop.)
        return np.ndarray(shape, g.dtype, g.data.toreadonly(), 0, (0,) * len(shape))
    return np.broadcast_to(np.reshape(g, reduced_shape(shape, dim)), shape)


sum = defop(
    # (np.add.reduce is np.sum without its Python wrapper: same dtypes, a microsecond less)
    "sum", lambda x, dim, keepdim=False: np.add.reduce(x, axis=dim, keepdims=keepdim),
    lambda g, out, x, dim, keepdim=False: _spread(g, x.shape, dim, keepdim),
    "∂/∂x_i Σ_j x_j = 1", saves=False, sample=_reduce_sample(), torch="sum",
    jvp=lambda t, out, x, dim, keepdim=False: t.sum(axis=dim, keepdims=keepdim))


def _count(shape: tuple, dim: tuple) -> int:
    if len(dim) == len(shape):  # a full reduction (dims are distinct)
        return math.prod(shape)
    return math.prod(shape[d] for d in dim) if dim else 1


mean = defop(
    "mean", lambda x, dim, keepdim=False: np.add.reduce(x, axis=dim, keepdims=keepdim)
    / _count(x.shape, dim),  # what np.mean computes, without its Python layers
    lambda g, out, x, dim, keepdim=False: _spread(g / _count(x.shape, dim), x.shape, dim,
                                                  keepdim),
    "∂/∂x_i mean(x) = 1/n", saves=False, sample=_reduce_sample(), torch="mean",
    jvp=lambda t, out, x, dim, keepdim=False: t.mean(axis=dim, keepdims=keepdim))


def _along(dim: int, sl: slice) -> tuple:
    """An index selecting ``sl`` along the negative axis ``dim``."""
    return (Ellipsis, sl) + (slice(None),) * (-dim - 1)


def _product_of_others(x: Any, dim: int) -> Any:
    """Π_{j≠i} x_j along ``dim``, without dividing (exact when some x_j are 0)."""
    first = x[_along(dim, slice(0, 1))]
    ones = first ** 0  # (not first·0 + 1: at inf or NaN that is NaN)
    left = np.concatenate([ones, np.cumprod(x, axis=dim)[_along(dim, slice(None, -1))]],
                          axis=dim)
    rev = np.flip(x, axis=dim)
    right = np.concatenate([ones, np.cumprod(rev, axis=dim)[_along(dim, slice(None, -1))]],
                           axis=dim)
    return left * np.flip(right, axis=dim)


prod = defop(
    "prod", lambda x, dim, keepdim=False: np.prod(x, axis=dim, keepdims=keepdim),
    lambda g, out, x, dim, keepdim=False: expand_back(g, x.shape, (dim,), keepdim)
    * _product_of_others(x, dim),
    "∂/∂x_i Π_j x_j = Π_{j≠i} x_j", sample=Sample(shapes=((3, 4),), low=0.5, high=1.5,
                                               params={"dim": -1, "keepdim": False},
                                               variants=({"dim": -2, "keepdim": True},)),
    torch="prod",
    jvp=lambda t, out, x, dim, keepdim=False: (t * _product_of_others(x, dim)).sum(
        axis=dim, keepdims=keepdim))


def _extreme_vjp(g: Any, out: Any, x: Any, dim: tuple, keepdim: bool = False) -> Any:
    # NOTE: ties share the gradient equally (PyTorch's amax/amin and full max()/min()).
    hit = x == expand_back(out, x.shape, dim, keepdim)
    count = hit.sum(axis=dim, keepdims=True).astype(x.dtype)
    return expand_back(g, x.shape, dim, keepdim) * hit / count


def _extreme_jvp(t: Any, out: Any, x: Any, dim: tuple, keepdim: bool = False) -> Any:
    hit = x == expand_back(out, x.shape, dim, keepdim)
    w = hit / hit.sum(axis=dim, keepdims=True).astype(x.dtype)
    return (t * w).sum(axis=dim, keepdims=keepdim)


amax = defop("amax", lambda x, dim, keepdim=False: np.max(x, axis=dim, keepdims=keepdim),
             _extreme_vjp, "∂/∂x_i max(x) = 1 at the max (shared equally by ties)",
             saves_output=True, sample=_reduce_sample(), torch="amax", jvp=_extreme_jvp)
amin = defop("amin", lambda x, dim, keepdim=False: np.min(x, axis=dim, keepdims=keepdim),
             _extreme_vjp, "∂/∂x_i min(x) = 1 at the min (shared equally by ties)",
             saves_output=True, sample=_reduce_sample(), torch="amin", jvp=_extreme_jvp)


def _logsumexp_forward(x: np.ndarray, dim: tuple, keepdim: bool = False) -> np.ndarray:
    if not x.size:  # (np.max has no identity) an empty sum is 0: log 0 = -inf, as PyTorch
        with np.errstate(divide="ignore"):
            return np.log(np.sum(np.exp(x), axis=dim, keepdims=keepdim))
    m = np.max(x, axis=dim, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=dim)


def _softmax_weights(out: Any, x: Any, dim: tuple, keepdim: bool) -> Any:
    return np.exp(x - expand_back(out, x.shape, dim, keepdim))


logsumexp = defop(
    "logsumexp", _logsumexp_forward,
    lambda g, out, x, dim, keepdim=False: expand_back(g, x.shape, dim, keepdim)
    * _softmax_weights(out, x, dim, keepdim),
    "∂/∂x_i log Σ_j e^(x_j) = softmax(x)_i", saves_output=True, sample=_reduce_sample(),
    torch="logsumexp",
    jvp=lambda t, out, x, dim, keepdim=False: (t * _softmax_weights(out, x, dim, keepdim)).sum(
        axis=dim, keepdims=keepdim))


def _norm2_vjp(g: Any, out: Any, x: Any, dim: tuple, keepdim: bool = False) -> Any:
    # NOTE: at x = 0 the 2-norm has no derivative; we give 0, as PyTorch does.
    scale = g / np.where(out == 0, np.inf, out)
    return x * expand_back(scale, x.shape, dim, keepdim)


def _norm2_forward(x: Any, dim: tuple, keepdim: bool = False) -> Any:
    """√Σx² (what std is made of). float16 and float32 are squared and summed in float64, as
    PyTorch's std accumulates them: the std of values near 1e30 or 1e-30 is then not inf or
    0 from a float32 square that overflows or underflows."""
    if type(x) is np.ndarray and x.dtype.kind == "f" and x.dtype.itemsize < 8:
        total = np.sum(np.square(x, dtype=np.float64), axis=dim, keepdims=keepdim)
        return np.sqrt(total).astype(x.dtype)
    return np.sqrt(np.sum(x * x, axis=dim, keepdims=keepdim))


norm2 = defop(
    "norm2", _norm2_forward,
    _norm2_vjp, "∂/∂x_i ‖x‖₂ = x_i / ‖x‖₂", saves_output=True, sample=_reduce_sample(),
    torch="linalg.vector_norm",
    jvp=lambda t, out, x, dim, keepdim=False: (t * x).sum(axis=dim, keepdims=keepdim)
    / np.where(out == 0, np.inf, out))


def _flip_cumsum(g: Any, dim: int) -> Any:
    return np.flip(np.cumsum(np.flip(g, axis=dim), axis=dim), axis=dim)


cumsum = defop("cumsum", lambda x, dim: np.cumsum(x, axis=dim),
               lambda g, out, x, dim: _flip_cumsum(g, dim),
               "∂y_j/∂x_i = 1 for i ≤ j", saves=False,
               sample=Sample(shapes=((3, 4),), params={"dim": -1}, variants=({"dim": -2},)),
               torch="cumsum", jvp=lambda t, out, x, dim: np.cumsum(t, axis=dim))


def _cumprod_others(x: Any, dim: int) -> Any:
    """C[..., i, j] = Π_{k ≤ j, k ≠ i} x_k along ``dim`` (moved last): x with x_i set to 1,
    cumulated; exact where some x are 0, at n² cost along ``dim``."""
    n = shape_of(x)[dim]
    xm = np.moveaxis(x, dim, -1)
    eye = np.eye(n, dtype=bool)
    return np.cumprod(np.where(eye, 1.0, np.expand_dims(xm, -2)), axis=-1)  # (inf·0 is NaN)


def _has_zero(x: Any) -> bool:
    """Some x is 0, or ±inf or NaN (y/x is then 0/0 or inf/inf: take the exact products)."""
    d = x.data if is_tensor(x) else x
    return not np.all(d) or not np.all(np.isfinite(d))


def _cumprod_vjp(g: Any, out: Any, x: Any, dim: int) -> Any:
    # ∂L/∂x_i = Σ_{j≥i} g_j Π_{k≤j, k≠i} x_k, which is Σ_{j≥i} g_j y_j / x_i when no x is 0.
    if not _has_zero(x):
        return _flip_cumsum(g * out, dim) / x
    n = shape_of(x)[dim]
    upper = np.triu(np.ones((n, n), dtype=bool))  # [i, j]: j ≥ i
    gm = np.expand_dims(np.moveaxis(g, dim, -1), -2)
    return np.moveaxis(np.where(upper, gm * _cumprod_others(x, dim), 0.0).sum(axis=-1), -1,
                       dim)


def _cumprod_jvp(t: Any, out: Any, x: Any, dim: int) -> Any:
    # dy_j = Σ_{i≤j} t_i Π_{k≤j, k≠i} x_k  (t may carry leading batch dims)
    if not _has_zero(x):
        return out * np.cumsum(t / x, axis=dim)
    n = shape_of(x)[dim]
    upper = np.triu(np.ones((n, n), dtype=bool))
    tm = np.expand_dims(np.moveaxis(t, dim, -1), -1)
    return np.moveaxis(np.where(upper, tm * _cumprod_others(x, dim), 0.0).sum(axis=-2), -1,
                       dim)


# NOTE: with no zeros the gradient of cumprod divides by x (O(n)); where x has zeros it is
# computed exactly from the products that leave x_i out (O(n²) along dim), as PyTorch's is exact.
cumprod = defop("cumprod", lambda x, dim: np.cumprod(x, axis=dim), _cumprod_vjp,
                "∂y_j/∂x_i = Π_{k≤j, k≠i} x_k for i ≤ j  (= y_j / x_i when x_i ≠ 0)",
                saves_output=True,
                sample=Sample(shapes=((3, 4),), low=0.5, high=1.5, params={"dim": -1},
                              variants=({"dim": -2},)),
                torch="cumprod", jvp=_cumprod_jvp)


def _rowsum(a: Any, dim: int) -> Any:
    """``a.sum(axis=dim, keepdims=True)``. Over the last axis of a float array, a matrix-vector
    product with ones: NumPy sums a short contiguous axis row by row (~4× slower than BLAS)."""
    if (dim == -1 and type(a) is np.ndarray and a.ndim and a.dtype in _BLAS_FLOATS
            and a.flags.c_contiguous):
        return np.matmul(a, np.ones(a.shape[-1], a.dtype))[..., None]
    return a.sum(axis=dim, keepdims=True)


_BLAS_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
# Row sums below these have a normal reciprocal (1/z keeps every bit of precision).
_NORMAL_RECIPROCAL = {d: 1 / np.finfo(d).tiny for d in _BLAS_FLOATS}


def _exp_and_sums(x: np.ndarray, dim: int,
                  unshifted: bool = True) -> tuple[np.ndarray, np.ndarray, Any]:
    """``e = exp(x - c)`` (a new array), its sums along ``dim`` (kept), and the shift ``c``.

    Softmax is shift-invariant: c (the max along ``dim``) only guards the range of exp, and a
    max along the last axis costs NumPy as much as the exp. So, if ``unshifted``, exp(x) is
    tried first (c is then None), and kept when every sum is ≥ 1 and has a normal reciprocal:
    nothing overflowed, e·(1/z) is as exact as the shifted form, and an entry that underflowed
    to a subnormal is below the smallest normal float after normalising either way.
    (log_softmax passes False: x - log(z) would cancel digits when x is large.)
    """
    if unshifted and x.dtype in _BLAS_FLOATS and x.ndim and x.size:
        with np.errstate(over="ignore"):
            e = np.exp(x)
        z = _rowsum(e, dim)
        if 1 <= z.min() and z.max() < _NORMAL_RECIPROCAL[x.dtype]:  # False for NaN too
            return e, z, None
    c = np.max(x, axis=dim, keepdims=True)
    e = x - c
    e = np.exp(e, out=e) if e.dtype.kind == "f" else np.exp(e)
    return e, _rowsum(e, dim), c


def _softmax_forward(x: np.ndarray, dim: int) -> np.ndarray:
    if not x.size:  # nothing to normalise (and np.max has no identity): empty, as PyTorch
        return np.exp(x)
    e, z, _ = _exp_and_sums(x, dim)
    e *= np.reciprocal(z, out=z)  # in place on the fresh buffer; one division per row
    return e


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Σ a⊙b over the last axis, kept, without forming a⊙b."""
    if hasattr(np, "vecdot"):  # NumPy ≥ 2.0
        return np.vecdot(a, b)[..., None]
    return np.einsum("...i,...i->...", a, b)[..., None]


def _softmax_vjp(g: Any, out: Any, x: Any, dim: int) -> Any:
    if dim != -1 or type(g) is not np.ndarray or type(out) is not np.ndarray:
        return out * (g - (g * out).sum(axis=dim, keepdims=True))
    t = g - _rowdot(g, out)  # s ⊙ (g - Σ g⊙s), the product in place in the one new buffer
    t *= out
    return t


softmax = defop("softmax", _softmax_forward, _softmax_vjp,
                "∂s_i/∂x_j = s_i(δ_ij - s_j)", saves=False, saves_output=True,
                sample=Sample(shapes=((3, 4),), params={"dim": -1}, variants=({"dim": -2},)),
                torch="softmax", jvp=_softmax_vjp)


def _log_softmax_forward(x: np.ndarray, dim: int) -> np.ndarray:
    if not x.size:
        return np.exp(x)  # (empty, with a float dtype)
    _, z, c = _exp_and_sums(x, dim, unshifted=False)
    return (x - c) - np.log(z)


log_softmax = defop(
    "log_softmax", _log_softmax_forward,
    lambda g, out, x, dim: g - np.exp(out) * _rowsum(g, dim),
    "∂ log s_i/∂x_j = δ_ij - s_j", saves=False, saves_output=True,
    sample=Sample(shapes=((3, 4),), params={"dim": -1}, variants=({"dim": -2},)),
    torch="log_softmax",
    jvp=lambda t, out, x, dim: t - (np.exp(out) * t).sum(axis=dim, keepdims=True))
