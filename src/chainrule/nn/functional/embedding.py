"""``embedding`` (a row lookup whose gradient accumulates over repeated indices and skips the
padding row) and ``one_hot``."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...engine import bump_version
from ...ops import nn as N
from ...tensor import Tensor

__all__ = ["embedding", "one_hot"]


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
