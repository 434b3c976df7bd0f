"""Distance layers: ``CosineSimilarity`` and ``PairwiseDistance`` (calls into
``nn.functional``)."""

from __future__ import annotations

from ...tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["CosineSimilarity", "PairwiseDistance"]


class CosineSimilarity(Module):
    """``x1·x2 / (max(‖x1‖, eps)·max(‖x2‖, eps))`` along ``dim``.

    >>> import chainrule as cr
    >>> cr.nn.CosineSimilarity(dim=0)(cr.tensor([1.0, 0.0]), cr.tensor([1.0, 1.0]))
    tensor(0.7071)
    """

    def __init__(self, dim: int = 1, eps: float = 1e-8) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.cosine_similarity(x1, x2, self.dim, self.eps)


class PairwiseDistance(Module):
    """``‖x1 - x2 + eps‖_p`` along the last dim (the order ``p`` is kept as ``self.norm``, as
    in PyTorch).

    >>> import chainrule as cr
    >>> cr.nn.PairwiseDistance(eps=0.0)(cr.tensor([[0.0, 0.0]]), cr.tensor([[3.0, 4.0]]))
    tensor([5.])
    """

    def __init__(self, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> None:
        super().__init__()
        self.norm = p
        self.eps = eps
        self.keepdim = keepdim

    def forward(self, x1: Tensor, x2: Tensor) -> Tensor:
        return F.pairwise_distance(x1, x2, self.norm, self.eps, self.keepdim)
