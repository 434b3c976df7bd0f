"""Reductions (sum, mean, prod, amax, logsumexp, norm), scans (cumsum, cumprod) and softmax.

The ops take ``dim`` as a tuple of negative ints (see ``norm_dims``) so that the same rules
work when a tangent carries leading batch dims.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._util import expand_back, is_tensor, shape_of
from .registry import Sample, defop

_DIMS = {"dim": (-1,), "keepdim": False}
_VARIANTS = ({"dim": (-2, -1), "keepdim": True}, {"dim": (-2,), "keepdim": False})


def _reduce_sample(low: float = -2.0, high: float = 2.0, **kw: Any) -> Sample:
    return Sample(shapes=((3, 4),), low=low, high=high, params=dict(_DIMS), variants=_VARIANTS,
                  **kw)


sum = defop(
    "sum", lambda x, dim, keepdim=False: np.sum(x, axis=dim, keepdims=keepdim),
    lambda g, out, x, dim, keepdim=False: expand_back(g, x.shape, dim, keepdim),
    "∂/∂x_i Σ_j x_j = 1", saves=False, sample=_reduce_sample(), torch="sum",
    jvp=lambda t, out, x, dim, keepdim=False: t.sum(axis=dim, keepdims=keepdim))


def _count(shape: tuple, dim: tuple) -> int:
    return int(np.prod([shape[d] for d in dim])) if dim else 1


mean = defop(
    "mean", lambda x, dim, keepdim=False: np.mean(x, axis=dim, keepdims=keepdim),
    lambda g, out, x, dim, keepdim=False: expand_back(g, x.shape, dim, keepdim)
    / _count(x.shape, dim),
    "∂/∂x_i mean(x) = 1/n", saves=False, sample=_reduce_sample(), torch="mean",
    jvp=lambda t, out, x, dim, keepdim=False: t.mean(axis=dim, keepdims=keepdim))


def _along(dim: int, sl: slice) -> tuple:
    """An index selecting ``sl`` along the negative axis ``dim``."""
    return (Ellipsis, sl) + (slice(None),) * (-dim - 1)


def _product_of_others(x: Any, dim: int) -> Any:
    """Π_{j≠i} x_j along ``dim``, without dividing (exact when some x_j are 0)."""
    first = x[_along(dim, slice(0, 1))]
    ones = first * 0 + 1
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


norm2 = defop(
    "norm2", lambda x, dim, keepdim=False: np.sqrt(np.sum(x * x, axis=dim, keepdims=keepdim)),
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
    return np.cumprod(np.expand_dims(xm, -2) * ~eye + eye, axis=-1)


def _has_zero(x: Any) -> bool:
    return not np.all(x.data if is_tensor(x) else x)


def _cumprod_vjp(g: Any, out: Any, x: Any, dim: int) -> Any:
    # ∂L/∂x_i = Σ_{j≥i} g_j Π_{k≤j, k≠i} x_k, which is Σ_{j≥i} g_j y_j / x_i when no x is 0.
    if not _has_zero(x):
        return _flip_cumsum(g * out, dim) / x
    n = shape_of(x)[dim]
    upper = np.triu(np.ones((n, n), dtype=bool))  # [i, j]: j ≥ i
    gm = np.expand_dims(np.moveaxis(g, dim, -1), -2)
    return np.moveaxis((gm * _cumprod_others(x, dim) * upper).sum(axis=-1), -1, dim)


def _cumprod_jvp(t: Any, out: Any, x: Any, dim: int) -> Any:
    # dy_j = Σ_{i≤j} t_i Π_{k≤j, k≠i} x_k  (t may carry leading batch dims)
    if not _has_zero(x):
        return out * np.cumsum(t / x, axis=dim)
    n = shape_of(x)[dim]
    upper = np.triu(np.ones((n, n), dtype=bool))
    tm = np.expand_dims(np.moveaxis(t, dim, -1), -1)
    return np.moveaxis((tm * _cumprod_others(x, dim) * upper).sum(axis=-2), -1, dim)


# NOTE: with no zeros the gradient of cumprod divides by x (O(n)); where x has zeros it is
# computed exactly from the products that leave x_i out (O(n²) along dim), as PyTorch's is exact.
cumprod = defop("cumprod", lambda x, dim: np.cumprod(x, axis=dim), _cumprod_vjp,
                "∂y_j/∂x_i = Π_{k≤j, k≠i} x_k for i ≤ j  (= y_j / x_i when x_i ≠ 0)",
                saves_output=True,
                sample=Sample(shapes=((3, 4),), low=0.5, high=1.5, params={"dim": -1},
                              variants=({"dim": -2},)),
                torch="cumprod", jvp=_cumprod_jvp)


def _softmax_forward(x: np.ndarray, dim: int) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return e / np.sum(e, axis=dim, keepdims=True)


def _softmax_vjp(g: Any, out: Any, x: Any, dim: int) -> Any:
    return out * (g - (g * out).sum(axis=dim, keepdims=True))


softmax = defop("softmax", _softmax_forward, _softmax_vjp,
                "∂s_i/∂x_j = s_i(δ_ij - s_j)", saves=False, saves_output=True,
                sample=Sample(shapes=((3, 4),), params={"dim": -1}, variants=({"dim": -2},)),
                torch="softmax", jvp=_softmax_vjp)


def _log_softmax_forward(x: np.ndarray, dim: int) -> np.ndarray:
    s = x - np.max(x, axis=dim, keepdims=True)
    return s - np.log(np.sum(np.exp(s), axis=dim, keepdims=True))


log_softmax = defop(
    "log_softmax", _log_softmax_forward,
    lambda g, out, x, dim: g - np.exp(out) * g.sum(axis=dim, keepdims=True),
    "∂ log s_i/∂x_j = δ_ij - s_j", saves=False, saves_output=True,
    sample=Sample(shapes=((3, 4),), params={"dim": -1}, variants=({"dim": -2},)),
    torch="log_softmax",
    jvp=lambda t, out, x, dim: t - (np.exp(out) * t).sum(axis=dim, keepdims=True))
