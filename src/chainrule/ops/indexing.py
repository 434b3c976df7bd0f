"""Indexing: ``x[key]`` (slices, integer arrays, boolean masks), gather/scatter_add.

The gradient of an index is a scatter-add into zeros, so repeated indices accumulate; the
gradient of that scatter-add is the index again, which makes both differentiable to any order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._util import is_tensor, ndim_of, shape_of
from .registry import OpError, OpIndexError, Sample, defop


def canonical_key(key: Any, ndim: int) -> tuple:
    """A key as a tuple of slices, ints, None and NumPy index arrays, with ``...`` spelled out
    (so that a tangent's batch dims can be moved out of its way)."""
    from ..tensor import Tensor

    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if isinstance(k, Tensor):
            k = k.data
        elif isinstance(k, list):
            # an empty list selects nothing (NumPy would make it a float array)
            k = np.asarray(k) if k else np.zeros(0, dtype=np.intp)
        if isinstance(k, np.ndarray) and k.dtype.kind not in "iub":
            raise OpIndexError(f"index: tensors used as indices must be integer or bool, "
                               f"got {k.dtype}")
        out.append(k)
    # a boolean array uses as many dims as it has (a scalar True/False: none, it adds one)
    used = sum(k.ndim if isinstance(k, np.ndarray) and k.dtype == bool else
               0 if k is None or k is Ellipsis or isinstance(k, (bool, np.bool_)) else 1
               for k in out)
    if sum(k is Ellipsis for k in out) > 1:
        raise OpIndexError("index: an index can only have a single ellipsis ('...')")
    if used > ndim:
        raise OpIndexError(f"index: too many indices ({used}) for a tensor with {ndim} dims")
    if Ellipsis in [k for k in out if not isinstance(k, np.ndarray)]:
        i = next(i for i, k in enumerate(out) if k is Ellipsis and not isinstance(k, np.ndarray))
        out[i:i + 1] = [slice(None)] * (ndim - used)
    return tuple(out)


def split_int_key(key: tuple) -> tuple[tuple, tuple] | None:
    """For a canonical key mixing integers with index arrays (``x[1, :, idx]``): the key of
    the integers alone and the key of the rest, to be applied one after the other, as PyTorch
    does; else None. (NumPy counts the integers as index arrays, which moves the indexed dims
    elsewhere: x[1, :, idx] of a (2, 3, 4) tensor has shape (2, 3) in NumPy, (3, 2) in
    PyTorch.)"""
    for k in key:  # (a plain loop first: basic keys, the common case, leave at once)
        if type(k) is np.ndarray and k.ndim:
            break
    else:
        return None
    if not any(_is_int(k) for k in key):
        return None
    first: list = []
    rest: list = []
    for k in key:
        if _is_int(k):
            first.append(int(k))
        elif k is None or isinstance(k, (bool, np.bool_)) or \
                isinstance(k, np.ndarray) and k.ndim == 0:
            rest.append(k)  # (no dim of the input)
        else:
            first.extend([slice(None)] * (k.ndim if isinstance(k, np.ndarray)
                                          and k.dtype == bool else 1))
            rest.append(k)
    return tuple(first), tuple(rest)


def _is_int(k: Any) -> bool:
    """An integer in a key (a Python or NumPy int, or a 0-d integer array; not a bool)."""
    if isinstance(k, np.ndarray):
        return k.ndim == 0 and k.dtype.kind in "iu"
    return isinstance(k, (int, np.integer)) and not isinstance(k, (bool, np.bool_))


def _is_basic(key: tuple) -> bool:
    return all(isinstance(k, (slice, int, np.integer)) or k is None for k in key)


def _scatter_forward(g: np.ndarray, key: tuple, shape: tuple) -> np.ndarray:
    z = np.zeros(shape, dtype=g.dtype)
    if _is_basic(key):
        z[key] = g
    else:
        np.add.at(z, key, g)
    return z


def _move_lead(t: Any, lead: int, to_end: bool) -> Any:
    if not lead:
        return t
    src = tuple(range(lead)) if to_end else tuple(range(t.ndim - lead, t.ndim))
    dst = tuple(range(t.ndim - lead, t.ndim)) if to_end else tuple(range(lead))
    return np.moveaxis(t, src, dst)


def _getitem_jvp(t: Any, out: Any, x: Any, key: tuple) -> Any:
    lead = t.ndim - ndim_of(x)
    return _move_lead(_move_lead(t, lead, True)[key], lead, False)


def _scatter_jvp(t: Any, out: Any, g: Any, key: tuple, shape: tuple) -> Any:
    lead = t.ndim - ndim_of(g)
    moved = _move_lead(t, lead, True)
    z = index_scatter(moved, key=key, shape=tuple(shape) + tuple(moved.shape[moved.ndim - lead:]))
    return _move_lead(z, lead, False)


def _index_sample(rng: np.random.Generator) -> tuple:
    return (rng.uniform(-2, 2, (4, 3)),)


def _getitem_vjp(g: Any, out: Any, x: Any, key: tuple) -> Any:
    return index_scatter(g, key=key, shape=shape_of(x))


getitem = defop(
    # The trailing ... makes a full integer index a 0-d view, not a copied NumPy scalar.
    "getitem", lambda x, key: x[key + (Ellipsis,)], _getitem_vjp,
    "y = x[key]: ∂L/∂x = zeros with ∂L/∂y added at key (repeats accumulate)", saves=False,
    view=True, sample=Sample(make=_index_sample, params={"key": (np.array([0, 2, 0]), slice(1, 3))},
                             variants=({"key": (slice(None, None, 2), 1)},
                                       {"key": (np.array([True, False, True, True]),)})),
    torch=None, jvp=_getitem_jvp)
index_scatter = defop(
    "index_scatter", _scatter_forward, lambda g, out, src, key, shape: g[key],
    "z = scatter-add(src at key): ∂L/∂src = (∂L/∂z)[key]", saves=False,
    sample=Sample(shapes=((3, 2),), params={"key": (np.array([0, 2, 0]), slice(1, 3)),
                                            "shape": (4, 3)}),
    torch=None, jvp=_scatter_jvp)


# --------------------------------------------------------------------------- diagonal

def diagonal_key(shape: tuple, offset: int) -> tuple:
    """The canonical key of the ``offset`` diagonal of the matrices in the last two dims."""
    n, m = shape[-2:]
    rows = np.arange(max(0, -offset), min(n, m - offset))
    return canonical_key((Ellipsis, rows, rows + offset), len(shape))


def _diagonal_forward(x: np.ndarray, offset: int) -> np.ndarray:
    out = np.diagonal(x, offset, -2, -1)
    if x.flags.writeable:  # (NumPy's diagonal is a read-only view; PyTorch's is writable)
        out.flags.writeable = True
    return out


diagonal = defop(
    "diagonal", _diagonal_forward,
    lambda g, out, x, offset: index_scatter(g, key=diagonal_key(shape_of(x), offset),
                                            shape=shape_of(x)),
    "y = diag(x): ∂L/∂x = zeros with ∂L/∂y on the diagonal", saves=False, view=True,
    sample=Sample(shapes=((3, 4),), params={"offset": 1}, variants=({"offset": -2},)),
    torch="diagonal", jvp=lambda t, out, x, offset: t.diagonal(offset, -2, -1))


# --------------------------------------------------------------------------- along a dim

def _full_index(index: np.ndarray, dim: int) -> tuple:
    """The NumPy index tuple that puts ``index`` along ``dim`` (negative) of its own shape."""
    grids: list[Any] = list(np.indices(index.shape, sparse=True))
    grids[index.ndim + dim] = index
    return tuple(grids)


def _take_forward(x: np.ndarray, index: np.ndarray, dim: int) -> np.ndarray:
    return np.take_along_axis(x, index, axis=dim)


def _take_shapes(x_shape: tuple, index_shape: tuple, dim: int) -> tuple[tuple, tuple]:
    """(output shape, gradient shape) of ``take_along_axis``: x and index broadcast in every
    dim but ``dim``, where the output has the index's size and the gradient the input's."""
    nd = len(x_shape)
    xs, js = list(x_shape), list(index_shape)
    xs[nd + dim] = js[nd + dim] = 1
    both = list(np.broadcast_shapes(tuple(xs), tuple(js)))
    out, grad = list(both), list(both)
    out[nd + dim] = index_shape[nd + dim]
    grad[nd + dim] = x_shape[nd + dim]
    return tuple(out), tuple(grad)


def _take_vjp(g: Any, out: Any, x: Any, index: np.ndarray, dim: int) -> Any:
    out_shape, shape = _take_shapes(shape_of(x), index.shape, dim)
    key = _full_index(np.broadcast_to(index, out_shape), dim)
    if hasattr(g, "grad_fn"):
        return index_scatter(g, key=key, shape=shape)
    return _scatter_forward(g, key, shape)


def _take_jvp(t: Any, out: Any, x: Any, index: np.ndarray, dim: int) -> Any:
    lead = t.ndim - ndim_of(x)
    return take_along(t, index=index.reshape((1,) * lead + index.shape), dim=dim)


def _gather_sample(rng: np.random.Generator) -> tuple:
    return (rng.uniform(-2, 2, (3, 4)),)


take_along = defop(
    "take_along", _take_forward, _take_vjp,
    "y = take_along_dim(x, index, dim): ∂L/∂x = scatter-add of ∂L/∂y at index", saves=False,
    sample=Sample(make=_gather_sample, params={"index": np.array([[0, 0, 3], [1, 2, 2],
                                                                   [3, 1, 0]]), "dim": -1}),
    torch=None, jvp=_take_jvp)


def check_index(index: np.ndarray, size: int, op: str, negative: bool = True) -> np.ndarray:
    """``index`` if its values index a dim of ``size`` (counting from the end when negative,
    unless ``negative`` is False: gather, index_select and scatter_add refuse that, as in
    PyTorch), else an error naming the first bad value."""
    if index.dtype.kind not in "iu":
        raise OpError(f"{op}: index must be an integer tensor, got {index.dtype}")
    low = -size if negative else 0
    if index.size and (index.max() >= size or index.min() < low):
        bad = int(index.max()) if index.max() >= size else int(index.min())
        valid = f"{-size}..{size - 1}" if negative else f"0..{size - 1}, not negative"
        raise OpIndexError(f"{op}: index {bad} is out of range for a dimension of size {size} "
                           f"(valid: {valid})")
    return index


# --------------------------------------------------------------------------- x[key] = v

def _put_forward(x: np.ndarray, v: Any, key: tuple) -> np.ndarray:
    out = x.copy()
    out[key + (Ellipsis,)] = v  # (an element takes a one-element value, as in PyTorch)
    return out


def _kept(key: tuple, shape: tuple) -> np.ndarray:
    """True where ``x[key] = v`` leaves x's value in place."""
    keep = np.ones(shape, dtype=bool)
    keep[key] = False
    return keep


def _put_jvp_value(t: Any, out: Any, x: Any, v: Any, key: tuple) -> Any:
    lead = t.ndim - ndim_of(v)
    lead_shape = tuple(t.shape[:lead])
    target = _move_lead(_zeros_like_batched(out, lead_shape), lead, True)
    sub_shape = np.empty(shape_of(out), dtype=bool)[key].shape
    v_shape = shape_of(v)[max(ndim_of(v) - len(sub_shape), 0):]  # without extra leading 1s
    vt = np.broadcast_to(t.reshape(lead_shape + (1,) * (len(sub_shape) - len(v_shape))
                                   + v_shape), lead_shape + sub_shape)
    moved = index_put(target, _move_lead(vt, lead, True), key=key)
    return _move_lead(moved, lead, False)


def _zeros_like_batched(out: Any, lead_shape: tuple) -> Any:
    from ..tensor import Tensor

    return Tensor._make(np.zeros(lead_shape + shape_of(out), dtype=out.dtype))


def _put_vjp_value(g: Any, out: Any, x: Any, v: Any, key: tuple) -> Any:
    r = g[key]
    extra = ndim_of(v) - ndim_of(r)  # v may have more leading 1s than its slot has dims
    return r.reshape((1,) * extra + shape_of(r)) if extra > 0 else r


index_put = defop(
    "index_put", _put_forward,
    (lambda g, out, x, v, key: g * _kept(key, shape_of(x)), _put_vjp_value),
    ("x[key] = v: ∂/∂x = 1 where not overwritten, else 0", "∂/∂v: (∂L/∂out)[key]"),
    saves=False,
    sample=Sample(shapes=((4, 3), (3,)), params={"key": (np.array([0, 2]),)}), torch=None,
    jvp=(lambda t, out, x, v, key: t * _kept(key, shape_of(x)), _put_jvp_value))


# --------------------------------------------------------------------------- scatter max/min

def _touched(key: tuple, shape: tuple) -> np.ndarray:
    """True at the elements a scatter along ``key`` writes to."""
    hit = np.zeros(shape, dtype=bool)
    hit[key] = True
    return hit


def _extreme_start(dtype: np.dtype, reduce: str) -> Any:
    """What no value loses to: where a running max (or min) starts."""
    if dtype.kind == "f":
        return -np.inf if reduce == "amax" else np.inf
    if dtype.kind == "b":
        return reduce != "amax"
    info = np.iinfo(dtype)
    return info.min if reduce == "amax" else info.max


def _scatter_extreme_forward(x: np.ndarray, src: np.ndarray, key: tuple, reduce: str,
                             include_self: bool) -> np.ndarray:
    better = np.maximum if reduce == "amax" else np.minimum
    acc = np.full(x.shape, _extreme_start(x.dtype, reduce), dtype=x.dtype)
    better.at(acc, key, src)
    if include_self:  # (an untouched element keeps its start value, which x beats)
        return better(acc, x)
    return np.where(_touched(key, x.shape), acc, x)


def _plain(a: Any) -> np.ndarray:
    return a.data if is_tensor(a) else np.asarray(a)


def _tie_shares(out: Any, x: Any, src: Any, key: tuple,
                include_self: bool) -> tuple[np.ndarray, np.ndarray]:
    """The share of each output element's gradient that x and each src element get: 1/k for
    each of the k values equal to the result (PyTorch splits ties evenly too), else 0.

    NOTE: as PyTorch, x counts among the k where it equals the result even when
    ``include_self`` is False (it then gets no share itself)."""
    o, xv, sv = _plain(out), _plain(x), _plain(src)
    self_equal = xv == o
    src_hit = sv == o[key]
    ties = self_equal.astype(o.dtype)
    np.add.at(ties, key, src_hit)
    ties = np.maximum(ties, 1)  # (a NaN result equals nothing: no share, and no 0/0)
    self_hit = self_equal if include_self else self_equal & ~_touched(key, o.shape)
    return self_hit / ties, src_hit / ties[key]


def _extreme_sample(rng: np.random.Generator) -> tuple:
    return rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (3, 2))


scatter_extreme = defop(
    "scatter_extreme", _scatter_extreme_forward,
    (lambda g, out, x, src, key, reduce, include_self:
     g * _tie_shares(out, x, src, key, include_self)[0],
     lambda g, out, x, src, key, reduce, include_self:
     g[key] * _tie_shares(out, x, src, key, include_self)[1]),
    ("y = scatter_reduce(x, src, 'amax' or 'amin'): ∂y/∂x = 1/k where x is one of the k "
     "contributors equal to y, else 0",
     "∂y/∂src_j = 1/k where src_j is one of the k contributors equal to its y, else 0"),
    saves_output=True,
    sample=Sample(make=_extreme_sample,
                  params={"key": _full_index(np.array([[0, 3], [2, 2], [1, 0]]), -1),
                          "reduce": "amax", "include_self": True},
                  variants=({"key": _full_index(np.array([[1, 1], [0, 2], [3, 3]]), -1),
                             "reduce": "amin", "include_self": False},)),
    torch=None,
    jvp=(lambda t, out, x, src, key, reduce, include_self:
         t * _tie_shares(out, x, src, key, include_self)[0], None))
