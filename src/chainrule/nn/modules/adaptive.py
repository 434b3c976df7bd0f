"""``AdaptiveLogSoftmaxWithLoss`` (Grave et al., 2016): a softmax over many classes, cheap
because rare classes sit in clusters behind a small head.

The head scores the ``cutoffs[0]`` frequent classes plus one entry per cluster; cluster ``i``
(classes ``cutoffs[i]`` to ``cutoffs[i+1] - 1``) has its own two-layer projection
``in_features -> in_features // div_value**(i+1) -> cluster size``. A class's log-probability
is its head log-probability, or, in a cluster, the cluster's head entry plus its log-probability
within the cluster. Parameter names match PyTorch's (``head.weight``, ``tail.0.0.weight``,
``tail.0.1.weight``, ...), so its state dicts load.

>>> import chainrule as cr
>>> asm = cr.nn.AdaptiveLogSoftmaxWithLoss(8, 10, cutoffs=[4, 7])
>>> out = asm(cr.randn(5, 8), cr.tensor([0, 3, 5, 9, 8]))
>>> out.output.shape, out.loss.shape
((5,), ())
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import creation
from ... import functional as CF
from ...tensor import Tensor
from .. import functional as F
from .container import ModuleList, Sequential
from .linear import Linear
from .module import Module

__all__ = ["AdaptiveLogSoftmaxWithLoss"]

_ASMoutput = namedtuple("_ASMoutput", ["output", "loss"])


def _check_cutoffs(cutoffs: list, n_classes: int) -> None:
    if len(cutoffs) == 0:
        raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of length "
                         "larger than 0")
    if (cutoffs != sorted(cutoffs) or min(cutoffs) <= 0 or max(cutoffs) > n_classes - 1
            or len(set(cutoffs)) != len(cutoffs) or any(int(c) != c for c in cutoffs)):
        raise ValueError("AdaptiveLogSoftmaxWithLoss: cutoffs should be a sequence of unique, "
                         "positive integers sorted in an increasing order, where each value is "
                         f"between 1 and n_classes-1 ({n_classes - 1}), got {cutoffs}")


class AdaptiveLogSoftmaxWithLoss(Module):
    """Adaptive softmax: ``forward(input, target)`` returns ``(output, loss)`` (a named
    tuple): ``output`` the log-probability of each target, ``loss`` the mean negative
    log-likelihood. ``log_prob(input)`` gives all classes' log-probabilities, ``predict``
    the most likely class. Inputs are ``(N, in_features)`` with ``(N,)`` targets, or
    ``(in_features,)`` with a scalar target."""

    def __init__(self, in_features: int, n_classes: int, cutoffs: Sequence[int],
                 div_value: float = 4.0, head_bias: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        cuts = list(cutoffs)
        _check_cutoffs(cuts, n_classes)
        self.in_features = in_features
        self.n_classes = n_classes
        self.cutoffs = [int(c) for c in cuts] + [n_classes]
        self.div_value = div_value
        self.head_bias = head_bias
        self.shortlist_size = self.cutoffs[0]
        self.n_clusters = len(self.cutoffs) - 1
        self.head_size = self.shortlist_size + self.n_clusters
        kw = {"device": device, "dtype": dtype}
        self.head = Linear(in_features, self.head_size, bias=head_bias, **kw)
        self.tail = ModuleList()
        for i in range(self.n_clusters):
            hidden = int(in_features // (div_value ** (i + 1)))
            size = self.cutoffs[i + 1] - self.cutoffs[i]
            self.tail.append(Sequential(Linear(in_features, hidden, bias=False, **kw),
                                        Linear(hidden, size, bias=False, **kw)))

    def reset_parameters(self) -> None:
        self.head.reset_parameters()
        for projection in self.tail:
            for layer in projection.children():
                layer.reset_parameters()  # type: ignore[operator]

    def _batched(self, input: Tensor, target: Any) -> tuple[Tensor, np.ndarray, bool]:
        t = np.asarray(target.data if isinstance(target, Tensor) else target)
        if t.ndim == 1:
            if input.ndim != 2:
                raise RuntimeError("AdaptiveLogSoftmaxWithLoss: 1D target tensor expects 2D "
                                   f"input tensors, but found inputs with size {input.shape}")
            if input.shape[0] != t.shape[0]:
                raise RuntimeError("AdaptiveLogSoftmaxWithLoss: Input and target should have "
                                   f"the same size in the batch dimension, got {input.shape} "
                                   f"and {t.shape}")
            return input, t, True
        if t.ndim == 0:
            if input.ndim != 1:
                raise RuntimeError("AdaptiveLogSoftmaxWithLoss: 0D target tensor expects 1D "
                                   f"input tensors, but found inputs with size {input.shape}")
            return input.unsqueeze(0), t.reshape(1), False
        raise RuntimeError("AdaptiveLogSoftmaxWithLoss: 0D or 1D target tensor expected, "
                           f"multi-target not supported (got target shape {t.shape})")

    def forward(self, input: Tensor, target: Any) -> _ASMoutput:
        x, t, batched = self._batched(input, target)
        if t.dtype.kind not in "iu":
            raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss: target must hold integer class "
                               f"indices, got dtype {t.dtype}")
        if t.size and (t.min() < 0 or t.max() >= self.n_classes):
            raise RuntimeError(f"AdaptiveLogSoftmaxWithLoss: Target values should be in [0, "
                               f"{self.n_classes - 1}], but values in range [{t.min()}, "
                               f"{t.max()}] were found.")
        cluster = np.searchsorted(np.asarray(self.cutoffs), t, side="right")  # 0: shortlist
        head_index = np.where(cluster == 0, t, self.shortlist_size + cluster - 1)
        head_logprob = F.log_softmax(self.head(x), dim=1)
        output = head_logprob.gather(1, head_index[:, None].astype(np.int64)).squeeze(1)
        local = self._cluster_logprob(x, t, cluster)
        if local is not None:
            output = local + output
        loss = (-output).mean()
        return _ASMoutput(output if batched else output.squeeze(0), loss)

    def _cluster_logprob(self, x: Tensor, t: np.ndarray, cluster: np.ndarray) -> Tensor | None:
        """Each row's log-probability within its target's cluster (0 for the shortlist), or
        None when every target is in the shortlist."""
        pieces: list[Tensor] = []
        rows: list[np.ndarray] = []
        for i in range(1, self.n_clusters + 1):
            hit = np.nonzero(cluster == i)[0]
            if hit.size == 0:
                continue
            logits = self.tail[i - 1](x[hit])
            relative = (t[hit] - self.cutoffs[i - 1]).astype(np.int64)
            pieces.append(F.log_softmax(logits, dim=1).gather(1, relative[:, None]).squeeze(1))
            rows.append(hit)
        if not pieces:
            return None
        short = np.nonzero(cluster == 0)[0]
        if short.size:
            pieces.append(creation.zeros(short.size, dtype=x.dtype))
            rows.append(short)
        order = np.argsort(np.concatenate(rows), kind="stable")
        return CF.cat(pieces)[order]

    def _full_log_prob(self, x: Tensor, head_output: Tensor) -> Tensor:
        head_logprob = F.log_softmax(head_output, dim=1)
        parts = [head_logprob[:, :self.shortlist_size]]
        for i, projection in enumerate(self.tail):
            cluster_logprob = F.log_softmax(projection(x), dim=1)
            k = self.shortlist_size + i
            parts.append(cluster_logprob + head_logprob[:, k:k + 1])
        return CF.cat(parts, dim=1)

    def log_prob(self, input: Tensor) -> Tensor:
        """Log-probabilities of all ``n_classes`` classes: ``(N, n_classes)`` (or
        ``(n_classes,)`` for one unbatched example; PyTorch 2.13's ``log_prob`` fails on a
        1-D input)."""
        batched = input.ndim == 2
        x = input if batched else input.unsqueeze(0)
        out = self._full_log_prob(x, self.head(x))
        return out if batched else out.squeeze(0)

    def predict(self, input: Tensor) -> Tensor:
        """The most likely class of each row of ``(N, in_features)``: the head's argmax when
        that is a shortlist class, else the argmax of the full log-probabilities. One
        unbatched ``(in_features,)`` example gives a 0-d result (as ``log_prob``, an
        extension: PyTorch 2.13 fails on it)."""
        if input.ndim == 1:
            return self.predict(input.unsqueeze(0)).squeeze(0)
        head_output = self.head(input)
        best = np.argmax(head_output.data, axis=1).astype(np.int64)
        outside = np.nonzero(best >= self.shortlist_size)[0]
        if outside.size:
            full = self._full_log_prob(input[outside], head_output[outside])
            best[outside] = np.argmax(full.data, axis=1)
        return Tensor._make(best)
