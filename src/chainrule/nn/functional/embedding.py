"""``embedding`` (a row lookup whose gradient accumulates over repeated indices and skips the
padding row), ``embedding_bag`` (sums, means or maxima of bags of rows) and ``one_hot``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...engine import bump_version
from ...ops import indexing as I
from ...ops import nn as N
from ...tensor import Tensor

__all__ = ["embedding", "embedding_bag", "one_hot"]


def embedding(input: Any, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` at the integer indices ``input``: output shape
    ``input.shape + (embedding_dim,)``.

    ∂ℒ/∂W_k = Σ over positions j with input_j = k of ∂ℒ/∂y_j; the ``padding_idx`` row gets no
    gradient. With ``max_norm`` the looked-up rows are first renormalised in place (as
    PyTorch).
    """
    idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers (cr.long), got {idx.dtype}")
    n = weight.shape[0]
    if padding_idx is not None:
        if not -n <= padding_idx < n:
            raise ValueError(f"embedding: padding_idx {padding_idx} must be within the "
                             f"{n} embeddings")
        padding_idx = padding_idx + n if padding_idx < 0 else padding_idx
    if sparse:
        raise NotImplementedError("embedding: sparse gradients are not supported; use "
                                  "sparse=False (the gradient is a dense array)")
    if max_norm is not None:
        _renorm_rows(weight, idx, max_norm, norm_type)
    if scale_grad_by_freq:  # (a parameter only when set: the usual lookup's node stays lean)
        return N.embedding(weight, idx, padding_idx=padding_idx, scale_grad_by_freq=True)
    return N.embedding(weight, idx, padding_idx=padding_idx)


def _renorm_rows(weight: Tensor, idx: np.ndarray, max_norm: float, norm_type: float) -> None:
    rows = np.unique(idx)
    w = weight.data
    norms = np.linalg.norm(w[rows], ord=norm_type, axis=1)
    big = norms > max_norm
    if big.any():
        w[rows[big]] *= (max_norm / (norms[big] + 1e-7))[:, None].astype(w.dtype)
        bump_version(weight)


def embedding_bag(input: Any, weight: Tensor, offsets: Any = None,
                  max_norm: float | None = None, norm_type: float = 2.0,
                  scale_grad_by_freq: bool = False, mode: str = "mean", sparse: bool = False,
                  per_sample_weights: Tensor | None = None, include_last_offset: bool = False,
                  padding_idx: int | None = None) -> Tensor:
    """The sum, mean or max of the rows of ``weight`` in each bag of indices, without building
    the ``(bags, bag size, embedding_dim)`` lookup: output ``(bags, embedding_dim)``.

    Bags are the rows of a 2-D ``input``, or the slices ``input[offsets[i]:offsets[i+1]]`` of a
    1-D one, the last running to the end of ``input``; with ``include_last_offset=True``
    ``offsets`` has one entry more, the end of the last bag (CSR style), and entries after it
    are in no bag. An empty bag gives zeros. ``per_sample_weights`` (``mode='sum'`` only) scales
    each row. ``padding_idx`` entries are left out of their bag (and of a mean's count).

    ∂ℒ/∂W_k = Σ over the bag entries j with index k of c_j·∂ℒ/∂y_bag(j), where c_j is 1 (sum),
    its per-sample weight, or 1/(bag size) (mean); for ``max`` each output element's gradient
    goes to the row that gave it (the first of equal rows, as PyTorch and ``cr.max(x, dim)``).
    ∂ℒ/∂w_j = W[i_j]·∂ℒ/∂y_bag(j) for the per-sample weights.

    Differences from PyTorch, which crashes or gives garbage on these: offsets that decrease
    raise a ValueError, an empty ``offsets`` raises one, and 2-D input with empty bags
    (shape ``(B, 0)``) gives B zero rows. With ``include_last_offset`` and a last offset short
    of the input's end, PyTorch 2.13's CPU kernels disagree (some modes and dtypes run the last
    bag to the end); here it ends at the last offset, as documented. ``scale_grad_by_freq``
    divides by each index's true count (PyTorch 2.13's CPU kernel uses a wrong count,
    pytorch/pytorch#190063). In ``mode='max'`` a NaN in a bag gives NaN (as ``cr.max``);
    PyTorch's CPU kernel keeps a NaN only when it is the bag's first entry. Non-integer
    indices raise a TypeError (as ``embedding`` here). ``sparse=True`` is refused: chainrule
    has no sparse gradients.
    """
    indices = _integer_array(input, "input")
    if per_sample_weights is not None and per_sample_weights.shape != indices.shape:
        raise ValueError(f"embedding_bag: If per_sample_weights ({per_sample_weights.shape}) "
                         "is not None, then it must have the same shape as the input "
                         f"({indices.shape})")
    if weight.ndim != 2:
        raise ValueError(f"embedding_bag: weight has to be a 2D Tensor, but got Tensor of "
                         f"dimension {weight.ndim}")
    flat, bounds = _bags(indices, offsets, include_last_offset)
    _check_bag_options(mode, scale_grad_by_freq, sparse, per_sample_weights, weight)
    padding_idx = _bag_padding_idx(padding_idx, weight.shape[0])
    _check_range(flat, weight.shape[0])
    if max_norm is not None:
        _renorm_rows(weight, flat, max_norm, norm_type)
    used, bag_of = _bag_entries(flat, bounds, padding_idx)
    shape = (len(bounds) - 1, weight.shape[1])
    if mode == "max":
        return _bag_max(weight, flat[used], bag_of, shape)
    rows = N.embedding(weight, flat[used], scale_grad_by_freq=True) if scale_grad_by_freq \
        else N.embedding(weight, flat[used])
    if per_sample_weights is not None:
        scales = I.getitem(per_sample_weights.reshape(-1), key=(used,))
        rows = rows * scales.reshape(-1, 1)
    out = I.index_scatter(rows, key=(bag_of,), shape=shape)
    if mode == "mean":
        counts = np.bincount(bag_of, minlength=shape[0])
        out = out * (1.0 / np.maximum(counts, 1)).astype(weight.dtype)[:, None]
    return out


def _check_range(flat: np.ndarray, n: int) -> None:
    if flat.size and (flat.min() < 0 or flat.max() >= n):
        bad = int(flat.min() if flat.min() < 0 else flat.max())
        raise RuntimeError(f"embedding_bag: index {bad} is out of range for {n} embeddings; "
                           f"indices must be in [0, {n})")


def _bag_entries(flat: np.ndarray, bounds: np.ndarray, padding_idx: int | None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(the positions of the entries that count, the bag of each): all entries in a bag (with
    include_last_offset, those after the last offset are in none) but the padding ones."""
    used = np.arange(bounds[-1])
    bag_of = np.repeat(np.arange(len(bounds) - 1), np.diff(bounds))
    if padding_idx is not None:
        kept = flat[used] != padding_idx
        used, bag_of = used[kept], bag_of[kept]
    return used, bag_of


def _integer_array(x: Any, name: str) -> np.ndarray:
    arr = np.asarray(x.data if isinstance(x, Tensor) else x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"embedding_bag: {name} must be integer indices (cr.long), got "
                        f"{arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _bags(indices: np.ndarray, offsets: Any, include_last_offset: bool
          ) -> tuple[np.ndarray, np.ndarray]:
    """(the indices as 1-D, the bags' bounds: bag i is ``bounds[i]:bounds[i + 1]``)."""
    if indices.ndim == 2:
        if offsets is not None:
            raise ValueError("embedding_bag: if input is 2D, then offsets has to be None, as "
                             "input is treated is a mini-batch of fixed length sequences; got "
                             f"offsets of type {type(offsets).__name__}")
        bags, size = indices.shape
        return indices.reshape(-1), np.arange(bags + 1, dtype=np.int64) * size
    if indices.ndim != 1:
        raise ValueError(f"embedding_bag: input has to be 1D or 2D Tensor, but got Tensor of "
                         f"dimension {indices.ndim}")
    if offsets is None:
        raise ValueError("embedding_bag: offsets has to be a 1D Tensor but got None (give "
                         "the start of each bag in the 1-D input, or a 2-D input of bags)")
    bounds = _integer_array(offsets, "offsets")
    if bounds.ndim != 1:
        raise ValueError(f"embedding_bag: offsets has to be a 1D Tensor, got shape "
                         f"{bounds.shape}")
    _check_offsets(bounds, len(indices))
    if include_last_offset:  # (CSR: the last offset is where the last bag ends)
        return indices, bounds
    return indices, np.append(bounds, len(indices))


def _check_offsets(bounds: np.ndarray, length: int) -> None:
    if bounds.size == 0:
        raise ValueError("embedding_bag: offsets is empty; it needs the start of each bag, "
                         "beginning with 0")
    if bounds[0] != 0:
        raise RuntimeError(f"embedding_bag: offsets[0] has to be 0, i.e., the first sequence "
                           f"in the mini-batch has to start from position 0. However, got "
                           f"{int(bounds[0])}")
    if bounds[-1] > length:
        raise RuntimeError(f"embedding_bag: offsets[-1] can not be greater than input's length "
                           f"{length} but got offsets[-1] of {int(bounds[-1])}")
    down = np.flatnonzero(np.diff(bounds) < 0)
    if down.size:
        i = int(down[0])
        raise ValueError(f"embedding_bag: offsets must not decrease, but offsets[{i}] = "
                         f"{int(bounds[i])} > offsets[{i + 1}] = {int(bounds[i + 1])}")


def _check_bag_options(mode: str, scale_grad_by_freq: bool, sparse: bool,
                       per_sample_weights: Tensor | None, weight: Tensor) -> None:
    if mode not in ("sum", "mean", "max"):
        raise ValueError(f"embedding_bag: mode has to be one of sum, mean or max, got {mode!r}")
    if mode == "max" and scale_grad_by_freq:
        raise ValueError("embedding_bag: max mode does not support scaling the gradient by the "
                         "frequency")
    if sparse:
        raise NotImplementedError("embedding_bag: sparse gradients are not supported; use "
                                  "sparse=False (the gradient is a dense array)")
    if per_sample_weights is None:
        return
    if mode != "sum":
        raise NotImplementedError(f"embedding_bag: per_sample_weights was not None. "
                                  f"per_sample_weights is only supported for mode='sum' "
                                  f"(got mode='{mode}')")
    if per_sample_weights.dtype != weight.dtype:
        raise TypeError(f"embedding_bag: per_sample_weights ({per_sample_weights.dtype}) must "
                        f"have the dtype of weight ({weight.dtype}); convert one of them")


def _bag_padding_idx(padding_idx: int | None, n: int) -> int | None:
    if padding_idx is None:
        return None
    if not -n <= padding_idx < n:
        raise RuntimeError(f"embedding_bag: padding_idx must be within the number of "
                           f"embeddings, {-n} through {n - 1}, but got {padding_idx}")
    return padding_idx + n if padding_idx < 0 else padding_idx


def _bag_max(weight: Tensor, rows: np.ndarray, bag_of: np.ndarray,
             shape: tuple[int, int]) -> Tensor:
    """Each bag's elementwise max of its rows; empty bags give zeros. The gradient of each
    output element goes to the first row of its bag holding the max."""
    bags = np.unique(bag_of)  # the non-empty ones (bag_of is sorted)
    if rows.size == 0:
        return Tensor._make(np.zeros(shape, dtype=weight.dtype))
    values = weight.data[rows]
    firsts = np.searchsorted(bag_of, bags)  # where each non-empty bag's rows start
    top = np.maximum.reduceat(values, firsts, axis=0)
    hit = (values == top[np.searchsorted(bags, bag_of)]) | np.isnan(values)
    position = np.where(hit, np.arange(len(rows))[:, None], len(rows))
    winner = np.minimum.reduceat(position, firsts, axis=0)  # (non-empty bags, dim)
    picked = I.take_along(weight, index=rows[winner], dim=-2)
    return I.index_scatter(picked, key=(bags,), shape=shape)


def one_hot(tensor: Any, num_classes: int = -1) -> Tensor:
    """``(…,) int -> (…, num_classes)`` int64 with a 1 at each index
    (``num_classes=-1``: one more than the largest index)."""
    idx = np.asarray(tensor.data if isinstance(tensor, Tensor) else tensor)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: expected an integer tensor, got {idx.dtype}")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1 if idx.size else 0
    if idx.size and (idx.min() < 0 or idx.max() >= num_classes):
        raise ValueError(f"one_hot: class values must be in [0, {num_classes})")
    out = np.zeros(idx.shape + (num_classes,), dtype=np.int64)
    np.put_along_axis(out, idx[..., None].astype(np.int64), 1, axis=-1)
    return Tensor._make(out)
