"""Distances and similarities: ``cosine_similarity``, ``pairwise_distance``."""

from __future__ import annotations

from ... import functional as F
from ...ops import elementwise as E
from ...tensor import Tensor

__all__ = ["cosine_similarity", "pairwise_distance"]


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``x1·x2 / (max(‖x1‖, ε)·max(‖x2‖, ε))`` along ``dim``."""
    n1 = F.clamp(F.norm(x1, 2, dim, keepdim=True), min=eps)
    n2 = F.clamp(F.norm(x2, 2, dim, keepdim=True), min=eps)
    return F.sum((x1 / n1) * (x2 / n2), dim=dim)


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``‖x1 - x2 + ε‖_p`` along the last dim."""
    d = x1 - x2 + eps
    if p == 2.0:
        return E.sqrt(F.sum(d * d, dim=-1, keepdim=keepdim))
    return F.norm(d, p, -1, keepdim=keepdim)
