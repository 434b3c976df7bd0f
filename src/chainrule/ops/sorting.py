"""Sorting, selection and scans that pick elements: the one primitive ``logcumsumexp``, and the
NumPy index computations behind ``cr.sort``, ``cr.topk``, ``cr.median``, ``cr.mode``,
``cr.cummax``, ``cr.unique``, ``cr.searchsorted``, ...

The selection functions (in ``chainrule/functional.py``) take the values they pick with
``take_along`` at the indices computed here, so their gradient is a scatter to those indices,
as PyTorch's. The helpers here work on plain arrays along the last axis (callers move the dim
there) and follow PyTorch's order: NaN sorts above every number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._util import is_tensor
from .registry import Sample, defop

# --------------------------------------------------------------------------- logcumsumexp


def _logcumsumexp_forward(x: np.ndarray, dim: int) -> np.ndarray:
    # logaddexp is stable (no overflow for large x, no log 0 for very negative x)
    return np.logaddexp.accumulate(x, axis=dim)


def _reverse_scan(a: np.ndarray, dim: int) -> np.ndarray:
    return np.flip(np.logaddexp.accumulate(np.flip(a, axis=dim), axis=dim), axis=dim)


def _signed_parts(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log of the positive and of the negative part of ``v`` (-inf where that part is 0)."""
    with np.errstate(divide="ignore"):
        return np.log(np.maximum(v, 0)), np.log(np.maximum(-v, 0))


def _weights(x: Any, y: Any, dim: int) -> Any:
    """W[..., i, j] = exp(x_i - y_j) for i ≤ j, else 0 (dim moved last): ∂y_j/∂x_i, in a form
    that records (for create_graph and forward mode on tensors); O(n²) along ``dim``."""
    xm, ym = np.moveaxis(x, dim, -1), np.moveaxis(y, dim, -1)
    n = xm.shape[-1]
    upper = np.triu(np.ones((n, n), dtype=bool))  # [i, j]: i ≤ j
    diff = np.expand_dims(xm, -1) - np.expand_dims(ym, -2)
    return np.exp(np.where(upper, diff, -np.inf))


def _any_tensor(*xs: Any) -> bool:
    return any(is_tensor(a) for a in xs)


def _logcumsumexp_vjp(g: Any, out: Any, x: Any, dim: int) -> Any:
    # ∂L/∂x_i = Σ_{j≥i} g_j exp(x_i - y_j); every factor exp(x_i - y_j) ≤ 1. On arrays it is
    # summed in log space (g split by sign), stable for any range of x, in O(n).
    if _any_tensor(g, out, x):
        w = _weights(x, out, dim)
        return np.moveaxis((w * np.expand_dims(np.moveaxis(g, dim, -1), -2)).sum(axis=-1),
                           -1, dim)
    pos, neg = _signed_parts(g)
    with np.errstate(invalid="ignore"):
        return np.exp(x + _reverse_scan(pos - out, dim)) - np.exp(x + _reverse_scan(neg - out,
                                                                                    dim))


def _logcumsumexp_jvp(t: Any, out: Any, x: Any, dim: int) -> Any:
    # ẏ_j = Σ_{i≤j} t_i exp(x_i - y_j)  (t may carry leading batch dims)
    if _any_tensor(t, out, x):
        w = _weights(x, out, dim)
        return np.moveaxis((np.expand_dims(np.moveaxis(t, dim, -1), -1) * w).sum(axis=-2),
                           -1, dim)
    pos, neg = _signed_parts(t)
    with np.errstate(invalid="ignore"):
        return (np.exp(np.logaddexp.accumulate(x + pos, axis=dim) - out)
                - np.exp(np.logaddexp.accumulate(x + neg, axis=dim) - out))


logcumsumexp = defop(
    "logcumsumexp", _logcumsumexp_forward, _logcumsumexp_vjp,
    "∂y_j/∂x_i = exp(x_i - y_j) for i ≤ j", saves_output=True,
    sample=Sample(shapes=((3, 4),), low=-3.0, high=3.0, params={"dim": -1},
                  variants=({"dim": -2},)),
    torch="logcumsumexp", jvp=_logcumsumexp_jvp)


# --------------------------------------------------------------------------- index computations

def stable_order(x: np.ndarray, descending: bool = False) -> np.ndarray:
    """Indices sorting the last axis; ties keep their order, NaN counts as the largest."""
    if not descending:
        return np.argsort(x, axis=-1, kind="stable")
    # Sorting the reversed axis ascending and reversing the result keeps ties in their order.
    n = x.shape[-1]
    return n - 1 - np.flip(np.argsort(np.flip(x, axis=-1), axis=-1, kind="stable"), axis=-1)


def nan_count(x: np.ndarray) -> np.ndarray:
    """How many NaNs each row (last axis) holds, kept as a dim of size 1."""
    if x.dtype.kind not in "fc":
        return np.zeros(x.shape[:-1] + (1,), np.int64)
    return np.isnan(x).sum(axis=-1, keepdims=True)


def median_index(x: np.ndarray, ignore_nan: bool) -> np.ndarray:
    """The index (kept dim) of the lower median of each row. With NaN in a row: median picks
    the first NaN (its value is NaN), nanmedian the median of the other values (index 0 for a
    row of NaNs), as PyTorch."""
    order = stable_order(x)
    n = x.shape[-1]
    nans = nan_count(x)
    valid = n - nans
    if ignore_nan:
        pos = np.maximum(valid - 1, 0) // 2
    else:
        pos = np.where(nans > 0, valid, (n - 1) // 2)
    index = np.take_along_axis(order, pos, axis=-1)
    if ignore_nan:
        index = np.where(valid == 0, 0, index)
    return index


def mode_index(x: np.ndarray) -> np.ndarray:
    """The index (kept dim) of each row's most frequent value: the smallest such value, at its
    last position (as PyTorch; NaNs never equal each other, so each counts once)."""
    order = stable_order(x)
    s = np.take_along_axis(x, order, axis=-1)
    n = s.shape[-1]
    starts = np.ones(s.shape, dtype=bool)
    starts[..., 1:] = s[..., 1:] != s[..., :-1]
    run = np.cumsum(starts, axis=-1) - 1  # run number of each sorted element
    rows = s.reshape(-1, n)
    run2 = run.reshape(-1, n)
    offset = np.arange(rows.shape[0])[:, None] * n
    lengths = np.bincount((run2 + offset).ravel(), minlength=rows.size).reshape(-1, n)
    counts = np.take_along_axis(lengths, run2, axis=-1)
    first = np.argmax(counts, axis=-1)[:, None]  # the first (smallest) most frequent run
    last = first + np.take_along_axis(counts, first, axis=-1) - 1  # its last element
    return np.take_along_axis(order.reshape(-1, n), last, axis=-1).reshape(s.shape[:-1] + (1,))


def cumulative_extreme_index(x: np.ndarray, largest: bool) -> np.ndarray:
    """For each position, the index of the running max (or min) of the last axis: the latest
    of ties, and once a NaN is seen the latest NaN (as PyTorch's cummax/cummin)."""
    acc = np.maximum.accumulate if largest else np.minimum.accumulate
    running = acc(x, axis=-1)  # (NaN propagates, as in PyTorch)
    hit = x == running
    if x.dtype.kind in "fc":
        hit |= np.isnan(x)
    positions = np.where(hit, np.arange(x.shape[-1]), 0)
    return np.maximum.accumulate(positions, axis=-1)


def consecutive_groups(x: np.ndarray) -> np.ndarray:
    """For a tensor moved to (n, rest...): where a new group of equal slices starts along
    axis 0 (True at 0)."""
    starts = np.ones(x.shape[0], dtype=bool)
    if x.shape[0] > 1:
        differ = x[1:] != x[:-1]
        starts[1:] = differ.reshape(x.shape[0] - 1, -1).any(axis=1)
    return starts


def search_rows(sorted_sequence: np.ndarray, values: np.ndarray, side: Any,
                sorter: np.ndarray | None) -> np.ndarray:
    """``np.searchsorted`` row by row: a 1-D sequence serves every value, an N-D one pairs its
    rows with the rows of ``values`` (same leading dims)."""
    if sorted_sequence.ndim == 1:
        seq = sorted_sequence if sorter is None else sorted_sequence[sorter]
        return np.searchsorted(seq, values, side=side).astype(np.int64)
    seqs = sorted_sequence.reshape(-1, sorted_sequence.shape[-1])
    sorters = None if sorter is None else sorter.reshape(seqs.shape)
    vals = values.reshape(seqs.shape[0], -1)
    out = np.empty(vals.shape, np.int64)
    for r in range(seqs.shape[0]):
        seq = seqs[r] if sorters is None else seqs[r][sorters[r]]
        out[r] = np.searchsorted(seq, vals[r], side=side)
    return out.reshape(values.shape)
