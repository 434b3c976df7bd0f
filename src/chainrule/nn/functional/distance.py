"""Distances and similarities: ``cosine_similarity``, ``pairwise_distance``, ``pdist``."""

from __future__ import annotations

import numpy as np

from ... import functional as F
from ...tensor import Tensor

__all__ = ["cosine_similarity", "pairwise_distance", "pdist"]


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``x1·x2 / (max(‖x1‖, ε)·max(‖x2‖, ε))`` along ``dim``, of the inputs broadcast to one
    shape first (as PyTorch: a (1,) x1 against (n, 4) is the vector (x1, x1, x1, x1))."""
    x1, x2 = F.broadcast_tensors(x1, x2)
    n1 = F.clamp(F.norm(x1, 2, dim, keepdim=True), min=eps)
    n2 = F.clamp(F.norm(x2, 2, dim, keepdim=True), min=eps)
    return F.sum((x1 / n1) * (x2 / n2), dim=dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``‖x1 - x2 + ε‖_p`` along the last dim. A zero distance (``eps=0``, equal points) has
    gradient 0, as PyTorch's norm (not the NaN of ``sqrt`` at 0)."""
    return F.norm(x1 - x2 + eps, p, -1, keepdim=keepdim)


def pdist(input: Tensor, p: float = 2.0) -> Tensor:
    """``‖x_i - x_j‖_p`` for every pair of rows ``i < j`` of an ``(N, M)`` input, in row-major
    order: ``N(N-1)/2`` values (the upper triangle of ``cdist(x, x)`` without the diagonal).

    No ``eps`` is added, so the gradient of a zero distance is 0 (as PyTorch).

    >>> import chainrule as cr
    >>> cr.nn.functional.pdist(cr.tensor([[0.0, 0.0], [3.0, 4.0], [0.0, 1.0]]))
    tensor([5.0000, 1.0000, 4.2426])
    """
    if input.ndim != 2:
        raise ValueError(f"pdist: expected a 2-D input of shape (N, M) (N row vectors), got "
                         f"shape {input.shape}")
    if not p >= 0:
        raise ValueError(f"pdist: p must be non-negative, got {p}")
    i, j = np.triu_indices(input.shape[0], 1)
    diff = F.index_select(input, 0, i) - F.index_select(input, 0, j)
    return F.norm(diff, p, -1)
