"""Losses, with PyTorch's arguments and reductions (``'mean'``, ``'sum'``, ``'none'``).

``cross_entropy`` is one fused, stable op (see ``chainrule/ops/nn.py``); the others are
composed from chainrule ops, written to stay finite where PyTorch's do (log-sigmoid for the
logits form of binary cross-entropy, ``log`` clamped at -100 for the probability form).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from ... import functional as F
from ...ops import elementwise as E
from ...ops import nn as N
from ...tensor import Tensor, as_tensor

__all__ = [
    "mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss", "cross_entropy", "nll_loss",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div",
    "soft_margin_loss", "poisson_nll_loss", "gaussian_nll_loss", "cosine_embedding_loss",
    "margin_ranking_loss", "hinge_embedding_loss", "triplet_margin_loss",
    "triplet_margin_with_distance_loss", "multi_margin_loss", "multilabel_margin_loss",
    "multilabel_soft_margin_loss", "ctc_loss",
]

_REDUCTIONS = ("mean", "sum", "none")


def _legacy(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """PyTorch's deprecated ``size_average`` / ``reduce`` arguments, mapped to ``reduction``."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    return "none" if not reduce else "mean" if size_average else "sum"


def _reduce(loss: Tensor, reduction: str, name: str) -> Tensor:
    if reduction == "mean":
        return F.mean(loss)
    if reduction == "sum":
        return F.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{name}: {reduction!r} is not a valid value for reduction; use one of "
                     f"{', '.join(map(repr, _REDUCTIONS))}")


def _check_reduction(reduction: str, name: str, extra: tuple[str, ...] = ()) -> None:
    if reduction not in _REDUCTIONS + extra:
        raise ValueError(f"{name}: {reduction!r} is not a valid value for reduction; use one "
                         f"of {', '.join(map(repr, _REDUCTIONS + extra))}")


def _same_shape(input: Tensor, target: Any, name: str) -> None:
    ts = np.shape(getattr(target, "data", target))
    if ts != input.shape:
        raise ValueError(f"{name}: target of shape {ts} differs from the input's shape "
                         f"{input.shape}; they must match")


def _warn_broadcast(input: Tensor, target: Any, name: str) -> None:
    """PyTorch's UserWarning when a regression target broadcasts against the input (a
    (N, 1) prediction against an (N,) target gives an (N, N) loss: almost always a bug)."""
    ts = getattr(target, "shape", None)
    if ts is not None and tuple(ts) != tuple(getattr(input, "shape", ())):
        warnings.warn(f"{name}: using a target size {tuple(ts)} that is different to the "
                      f"input size {tuple(input.shape)}. This will likely lead to incorrect "
                      f"results due to broadcasting. Please ensure they have the same size.",
                      UserWarning, stacklevel=3)


def _check_weight_fits(weight: Any, input: Tensor, name: str, what: str = "weight") -> None:
    """A (pos_)weight must broadcast *to* the input's shape, not widen it (PyTorch raises)."""
    ws = np.shape(getattr(weight, "data", weight))
    try:
        fits = np.broadcast_shapes(ws, input.shape) == input.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name}: {what} of shape {ws} does not broadcast to the input's "
                         f"shape {input.shape}")


def _array(x: Any, dtype: Any) -> np.ndarray | None:
    if x is None:
        return None
    return np.asarray(x.data if isinstance(x, Tensor) else x, dtype=dtype)


# --------------------------------------------------------------------------- regression

def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Mean squared error ``(x - y)²``; ∂/∂x = 2(x - y) (divided by n for 'mean')."""
    reduction = _legacy(size_average, reduce, reduction)
    _warn_broadcast(input, target, "mse_loss")
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
            reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Mean absolute error ``|x - y|``; ∂/∂x = sign(x - y) (0 where equal)."""
    reduction = _legacy(size_average, reduce, reduction)
    _warn_broadcast(input, target, "l1_loss")
    return _reduce(E.abs(input - target), reduction, "l1_loss")


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",
               delta: float = 1.0) -> Tensor:
    """``½d²`` for ``|d| < δ``, else ``δ(|d| - ½δ)``, with ``d = x - y`` (``δ > 0``)."""
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    _warn_broadcast(input, target, "huber_loss")
    d = input - target
    ad = E.abs(d)
    loss = F.where(ad.data < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
    return _reduce(loss, reduction, "huber_loss")


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """``½d²/β`` for ``|d| < β``, else ``|d| - ½β`` (``β = 0``: the L1 loss)."""
    reduction = _legacy(size_average, reduce, reduction)
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be non-negative, got {beta}")
    _warn_broadcast(input, target, "smooth_l1_loss")
    d = input - target
    ad = E.abs(d)
    if beta == 0:
        return _reduce(ad, reduction, "smooth_l1_loss")
    loss = F.where(ad.data < beta, (0.5 / beta) * d * d, ad - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


# --------------------------------------------------------------------------- classification

def _class_last(x: Tensor) -> Tensor:
    """PyTorch puts classes in dim 1 of (N, C, d1, ...); the fused ops want them last."""
    return F.movedim(x, 1, -1) if x.ndim > 2 else x


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average: bool | None = None, ignore_index: int = -100,
                  reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy from logits: ``-Σ_c q_c log softmax(x)_c``, computed in one stable op.

    ``input`` has shape ``(C,)``, ``(N, C)`` or ``(N, C, d1, ...)``. ``target`` holds class
    indices (shape ``()``, ``(N,)``, ``(N, d1, ...)``) or class probabilities (the input's
    shape). ``weight`` rescales each class; ``ignore_index`` drops targets; ``label_smoothing``
    mixes the target with the uniform distribution. 'mean' divides by Σ weight[target] over
    the kept targets (index targets) or by the number of samples (probability targets), as
    PyTorch does.

    ∂ℒ/∂x = (Σ_c q_c)·softmax(x) - q (per sample), exact for any logits.

    >>> import chainrule as cr
    >>> logits = cr.tensor([[1000.0, 0.0], [0.0, 0.0]])
    >>> cr.nn.functional.cross_entropy(logits, cr.tensor([1, 0]))
    tensor(500.3466)
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be between 0.0 and 1.0, got "
                         f"{label_smoothing}")
    input = as_tensor(input)
    if input.ndim == 0:
        raise ValueError("cross_entropy: input must have a class dimension, got a scalar")
    x = _class_last(input)
    w = _array(weight, input.dtype)
    if w is not None and w.shape != (x.shape[-1],):
        raise ValueError(f"cross_entropy: weight must have shape ({x.shape[-1]},) (one per "
                         f"class), got {w.shape}")
    t = target if isinstance(target, Tensor) else as_tensor(target)
    if t.dtype.kind == "f":
        if t.shape != input.shape:
            hint = ("; class indices must be an integer tensor (target.long())"
                    if t.shape == (input.shape[:1] + input.shape[2:] if input.ndim > 1 else ())
                    else "")
            raise ValueError(f"cross_entropy: probability targets must have the input's shape "
                             f"{input.shape}, got {t.shape}{hint}")
        if ignore_index >= 0:
            raise ValueError(f"cross_entropy: ignore_index ({ignore_index}) is not supported "
                             f"for probability (floating point) targets")
        if t.dtype != input.dtype:
            t = t.to(input.dtype)
        return N.soft_cross_entropy(x, _class_last(t), weight=w,
                                    label_smoothing=float(label_smoothing), reduction=reduction)
    if t.dtype.kind not in "iu":
        raise TypeError(f"cross_entropy: target must hold class indices (int) or "
                        f"probabilities (float), got dtype {t.dtype}")
    if t.shape != x.shape[:-1]:
        raise ValueError(f"cross_entropy: expected target of shape {x.shape[:-1]} for input of "
                         f"shape {input.shape} (classes in dim {0 if input.ndim == 1 else 1}), "
                         f"got {t.shape}")
    return N.cross_entropy(x, t.data, weight=w, ignore_index=int(ignore_index),
                           label_smoothing=float(label_smoothing), reduction=reduction)


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
             size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of log-probabilities: ``-w[t]·x[t]`` per sample.

    'mean' divides by Σ weight[target] over the targets that are not ``ignore_index``.
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction, "nll_loss")
    if input.ndim == 0:
        raise ValueError("nll_loss: input must have a class dimension, got a scalar")
    x = _class_last(input)
    t = np.asarray(getattr(target, "data", target))
    if t.dtype.kind not in "iu":
        raise TypeError(f"nll_loss: target must hold class indices (int), got dtype {t.dtype}")
    if t.shape != x.shape[:-1]:
        raise ValueError(f"nll_loss: expected target of shape {x.shape[:-1]} for input of "
                         f"shape {input.shape}, got {t.shape}")
    c = x.shape[-1]
    valid = t != ignore_index
    safe = np.where(valid, t, 0)
    if safe.size and (safe.min() < 0 or safe.max() >= c):
        bad = safe.min() if safe.min() < 0 else safe.max()
        raise IndexError(f"nll_loss: target {int(bad)} is out of range for {c} classes")
    w = _array(weight, input.dtype)
    wt = (np.ones(t.shape, dtype=input.dtype) if w is None else w[safe]) * valid
    picked = F.squeeze(F.take_along_dim(x, safe[..., None], dim=-1), -1)
    loss = picked * (-wt)
    if reduction == "none":
        return loss
    total = F.sum(loss)
    if reduction == "sum":
        return total
    denom = wt.sum()
    if not denom:  # every target ignored: NaN as in PyTorch, but a zero gradient (not NaN)
        return total * 0 + float("nan")
    return total / denom


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """``-w[y·log p + (1 - y)·log(1 - p)]`` for probabilities ``p``.

    One elementwise op with PyTorch's numerics: the logs are clamped at -100 and
    ∂/∂p = (p - y)/max(p(1 - p), 1e-12), so saturated probabilities stay finite.
    """
    reduction = _legacy(size_average, reduce, reduction)
    _same_shape(input, target, "binary_cross_entropy")
    x = input.data
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError("binary_cross_entropy: all elements of input should be between 0 and "
                         "1; for logits use binary_cross_entropy_with_logits")
    loss = N.binary_cross_entropy(input, target)
    if weight is not None:
        _check_weight_fits(weight, input, "binary_cross_entropy")
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """``-w[pw·y·log σ(x) + (1 - y)·log(1 - σ(x))]``, stable for any logits.

    Computed as ``(1 - y)·x - (1 + (pw - 1)·y)·log σ(x)``; ∂/∂x = σ(x)·(1 + (pw-1)y) - pw·y.
    """
    reduction = _legacy(size_average, reduce, reduction)
    _same_shape(input, target, "binary_cross_entropy_with_logits")
    if weight is not None:
        _check_weight_fits(weight, input, "binary_cross_entropy_with_logits")
    if pos_weight is not None:
        _check_weight_fits(pos_weight, input, "binary_cross_entropy_with_logits", "pos_weight")
    if pos_weight is None:
        loss = (1 - target) * input - E.logsigmoid(input)
    else:
        loss = (1 - target) * input - (1 + (pos_weight - 1) * target) * E.logsigmoid(input)
    if weight is not None:
        loss = loss * weight
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None,
           reduce: bool | None = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """``Σ p·(log p - x)`` for log-probabilities ``x`` and probabilities ``p``
    (``log_target=True``: ``target`` holds ``log p``). Terms with ``p = 0`` are 0.

    ``reduction='batchmean'`` divides the sum by the batch size (the KL divergence proper);
    'mean' divides by the number of elements, as PyTorch does.
    """
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction, "kl_div", ("batchmean",))
    if log_target:
        loss = E.exp(target) * (target - input)
    else:
        p = as_tensor(target)
        positive = p.data > 0
        loss = p * E.log(F.where(positive, p, 1.0)) - p * input
    if reduction == "batchmean":
        total = F.sum(loss)
        return total / input.shape[0] if input.ndim else total
    return _reduce(loss, reduction, "kl_div")


# --------------------------------------------------------------------------- others

def soft_margin_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """``log(1 + e^(-y·x))`` for labels ``y ∈ {-1, 1}``."""
    return _reduce(-E.logsigmoid(target * input), reduction, "soft_margin_loss")


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True,
                     full: bool = False, eps: float = 1e-8, reduction: str = "mean") -> Tensor:
    """Poisson negative log-likelihood: ``eˣ - y·x`` (``log_input``) or ``x - y·log(x + ε)``;
    ``full`` adds Stirling's term for ``y > 1``."""
    if log_input:
        loss = E.exp(input) - target * input
    else:
        loss = input - target * E.log(input + eps)
    if full:
        big = np.asarray(getattr(target, "data", target)) > 1
        y = F.where(big, target, 2.0)
        stirling = y * E.log(y) - y + 0.5 * E.log(2 * math.pi * y)
        loss = loss + F.where(big, stirling, 0.0)
    return _reduce(loss, reduction, "poisson_nll_loss")


def gaussian_nll_loss(input: Tensor, target: Tensor, var: Tensor | float, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """``½(log max(σ², ε) + (x - y)²/max(σ², ε))`` (+ ½log 2π with ``full``)."""
    v = var if isinstance(var, Tensor) else as_tensor(np.asarray(var, dtype=input.dtype))
    if (v.data < 0).any():
        raise ValueError("gaussian_nll_loss: var has negative entry/entries")
    if v.ndim == input.ndim - 1 and v.shape == input.shape[:-1]:
        v = F.unsqueeze(v, -1)
    # As PyTorch: clamped without a gradient effect (the clamp is a constant shift).
    v = v + (np.maximum(v.data, eps) - v.data)
    d = input - target
    loss = 0.5 * (E.log(v) + d * d / v)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction, "gaussian_nll_loss")


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                          reduction: str = "mean") -> Tensor:
    """``1 - cos(x1, x2)`` for ``y = 1``, ``max(0, cos(x1, x2) - margin)`` for ``y = -1``."""
    eps = 1e-12
    dot = F.sum(input1 * input2, dim=-1)
    n1 = F.sum(input1 * input1, dim=-1) + eps
    n2 = F.sum(input2 * input2, dim=-1) + eps
    cos = dot / E.sqrt(n1 * n2)
    y = np.asarray(getattr(target, "data", target))
    loss = F.where(y == 1, 1 - cos, F.where(y == -1, F.clamp(cos - margin, min=0.0), 0.0))
    return _reduce(loss, reduction, "cosine_embedding_loss")


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0.0,
                        reduction: str = "mean") -> Tensor:
    """``max(0, -y·(x1 - x2) + margin)``."""
    # clamp (not relu): at the kink the gradient passes, as PyTorch's clamp_min
    return _reduce(F.clamp(-target * (input1 - input2) + margin, min=0.0), reduction,
                   "margin_ranking_loss")


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         reduction: str = "mean") -> Tensor:
    """``x`` for ``y = 1``, ``max(0, margin - x)`` for ``y = -1``."""
    y = np.asarray(getattr(target, "data", target))
    loss = F.where(y != -1, input, 0.0) + F.where(y != 1, F.clamp(margin - input, min=0.0),
                                                  0.0)
    return _reduce(loss, reduction, "hinge_embedding_loss")


# --------------------------------------------------------------------------- triplets

def _check_triplet(anchor: Tensor, positive: Tensor, negative: Tensor, margin: float,
                   name: str) -> None:
    if not margin > 0:
        raise ValueError(f"{name}: margin must be greater than 0, got {margin}")
    dims = (anchor.ndim, positive.ndim, negative.ndim)
    if len(set(dims)) > 1:
        raise ValueError(f"{name}: the anchor, positive and negative tensors must have the same "
                         f"number of dims, got anchor {anchor.shape}, positive {positive.shape} "
                         f"and negative {negative.shape}")
    try:
        np.broadcast_shapes(anchor.shape, positive.shape, negative.shape)
    except ValueError:
        raise ValueError(f"{name}: the shapes of anchor {anchor.shape}, positive "
                         f"{positive.shape} and negative {negative.shape} do not broadcast "
                         f"together; give one row of each per triplet") from None


def _triplet(anchor: Tensor, positive: Tensor, negative: Tensor,
             dist: Callable[[Tensor, Tensor], Tensor], margin: float, swap: bool,
             reduction: str, name: str) -> Tensor:
    d_pos = dist(anchor, positive)
    d_neg = dist(anchor, negative)
    if swap:  # the harder negative distance (Balntas et al. 2016); ties split the gradient
        d_neg = F.minimum(d_neg, dist(positive, negative))
    # clamp (not relu): at the kink the gradient passes, as PyTorch's clamp_min
    return _reduce(F.clamp(margin + d_pos - d_neg, min=0.0), reduction, name)


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, size_average: bool | None = None,
                        reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """``max(0, margin + d(a, p) - d(a, n))`` with ``d = pairwise_distance(·, ·, p, eps)``
    along the last dim; ``swap`` uses ``min(d(a, n), d(p, n))`` as the negative distance.

    >>> import chainrule as cr
    >>> a, p, n = cr.tensor([[0.0, 0.0]]), cr.tensor([[3.0, 4.0]]), cr.tensor([[0.0, 1.0]])
    >>> cr.nn.functional.triplet_margin_loss(a, p, n, eps=0.0)
    tensor(5.)
    """
    from .distance import pairwise_distance

    name = "triplet_margin_loss"
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction, name)
    _check_triplet(anchor, positive, negative, margin, name)
    return _triplet(anchor, positive, negative,
                    lambda x1, x2: pairwise_distance(x1, x2, p, eps), margin, swap, reduction,
                    name)


def triplet_margin_with_distance_loss(
        anchor: Tensor, positive: Tensor, negative: Tensor, *,
        distance_function: Callable[[Tensor, Tensor], Tensor] | None = None,
        margin: float = 1.0, swap: bool = False, reduction: str = "mean") -> Tensor:
    """:func:`triplet_margin_loss` with any ``distance_function(x1, x2)`` (a chainrule
    function or module giving one non-negative distance per triplet; default
    ``pairwise_distance``).

    >>> import chainrule as cr
    >>> a, p, n = cr.tensor([[1.0, 0.0]]), cr.tensor([[1.0, 0.1]]), cr.tensor([[0.0, 1.0]])
    >>> cos_dist = lambda x, y: 1 - cr.nn.functional.cosine_similarity(x, y)
    >>> cr.nn.functional.triplet_margin_with_distance_loss(
    ...     a, p, n, distance_function=cos_dist, margin=0.5)
    tensor(0.)
    """
    from .distance import pairwise_distance

    name = "triplet_margin_with_distance_loss"
    _check_reduction(reduction, name)
    _check_triplet(anchor, positive, negative, margin, name)
    dist = pairwise_distance if distance_function is None else distance_function
    return _triplet(anchor, positive, negative, dist, margin, swap, reduction, name)


# --------------------------------------------------------------------------- multi-class margins

def _class_indices(target: Any, name: str) -> np.ndarray:
    t = np.asarray(getattr(target, "data", target))
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name}: target must hold class indices (an int tensor), got dtype "
                        f"{t.dtype}; use target.long()")
    return t


def _as_matrix(input: Tensor, name: str) -> Tensor:
    """An input of shape ``(N, C)``, ``(C,)`` or ``()`` as ``(N, C)`` (one sample unbatched)."""
    if input.ndim > 2 or input.numel() == 0 and input.ndim < 2:
        raise ValueError(f"{name}: expected an input of shape (N, C) or (C,), got "
                         f"{input.shape}")
    return input if input.ndim == 2 else F.reshape(input, (1, -1))


def multi_margin_loss(input: Tensor, target: Tensor, p: int = 1, margin: float = 1.0,
                      weight: Tensor | None = None, size_average: bool | None = None,
                      reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Multi-class hinge loss: ``Σ_{j≠y} w[y]·max(0, margin - x[y] + x[j])^p / C`` per
    sample (``p`` 1 or 2), for an input ``(N, C)`` or ``(C,)`` and class indices ``y``.

    A term exactly at the hinge gets no gradient, as PyTorch.

    >>> import chainrule as cr
    >>> x = cr.tensor([[0.1, 0.2, 0.4, 0.8]])
    >>> cr.nn.functional.multi_margin_loss(x, cr.tensor([3]))
    tensor(0.3250)
    """
    name = "multi_margin_loss"
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction, name)
    if p not in (1, 2):
        raise ValueError(f"{name}: only p = 1 and p = 2 are supported, got p={p!r}")
    x = _as_matrix(input, name)
    n, c = x.shape
    t = _class_indices(target, name)
    batched = input.ndim == 2
    if batched:
        want, fits = f"{(n,)}", t.shape == (n,)
    else:  # one index, 0-d or not (as PyTorch)
        want, fits = "() or (1,)", t.ndim <= 1 and t.size == 1
    if not fits:
        raise ValueError(f"{name}: expected a target of shape {want} (one class index per "
                         f"sample) for an input of shape {input.shape}, got {t.shape}")
    t = t.reshape(n)
    if t.size and (t.min() < 0 or t.max() >= c):
        bad = t.min() if t.min() < 0 else t.max()
        raise IndexError(f"{name}: target {int(bad)} is out of range for {c} classes")
    if weight is not None:
        ws = np.shape(getattr(weight, "data", weight))
        if ws != (c,):
            raise ValueError(f"{name}: weight must be one-dimensional with one value per "
                             f"class, shape ({c},), got {ws}")
    picked = F.take_along_dim(x, t[:, None], dim=1)  # x[y], (N, 1)
    z = (margin - picked) + x
    hinge = (z.data > 0) & (np.arange(c) != t[:, None])  # the target class is not a term
    h = F.where(hinge, z, 0.0)
    if p == 2:
        h = h * h
    if weight is not None:
        w = weight if isinstance(weight, Tensor) else as_tensor(np.asarray(weight, x.dtype))
        h = h * F.unsqueeze(F.index_select(w, 0, t), 1)
    loss = F.sum(h, dim=1) / c
    if not batched:
        loss = F.reshape(loss, np.shape(getattr(target, "data", target)))
    return _reduce(loss, reduction, name)


def multilabel_margin_loss(input: Tensor, target: Tensor, size_average: bool | None = None,
                           reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Multi-label hinge loss: ``Σ_j Σ_k max(0, 1 - (x[y_j] - x[k])) / C`` per sample, over
    its target classes ``y_j`` and every class ``k`` that is not a target.

    ``target`` has the input's shape; each row lists target classes and ends at the first
    -1 (what follows is ignored, as PyTorch; a class listed twice counts twice).

    >>> import chainrule as cr
    >>> x = cr.tensor([[0.1, 0.2, 0.4, 0.8]])
    >>> cr.nn.functional.multilabel_margin_loss(x, cr.tensor([[3, 0, -1, 1]]))
    tensor(0.8500)
    """
    name = "multilabel_margin_loss"
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction, name)
    x = _as_matrix(input, name)
    n, c = x.shape
    t = _class_indices(target, name)
    if t.shape != input.shape:
        raise ValueError(f"{name}: target must have the input's shape {input.shape} (class "
                         f"indices, padded with -1), got {t.shape}")
    t = t.reshape(n, c)
    if t.size and (t.min() < -1 or t.max() >= c):
        bad = t.min() if t.min() < -1 else t.max()
        raise IndexError(f"{name}: target {int(bad)} is out of range for {c} classes (use -1 "
                         f"to end a row's list)")
    listed = np.cumsum(t < 0, axis=1) == 0  # the entries before each row's first -1
    row_of, cls = np.nonzero(listed)[0], t[listed]  # one entry per listed target
    is_target = np.zeros((n, c), dtype=bool)
    is_target[row_of, cls] = True
    others_row, others_cls = np.nonzero(~is_target)  # the non-targets, grouped by row
    n_others = np.bincount(others_row, minlength=n)
    starts = np.concatenate(([0], np.cumsum(n_others)[:-1]))
    # every (listed target, non-target of the same row) pair, gathered from the flat input
    reps = n_others[row_of]
    pair_row = np.repeat(row_of, reps)
    offset = np.arange(reps.sum()) - np.repeat(np.cumsum(reps) - reps, reps)
    pair_other = others_cls[starts[pair_row] + offset]
    pair_target = np.repeat(cls, reps)
    flat = F.reshape(x, (-1,))
    z = (1.0 - F.index_select(flat, 0, pair_row * c + pair_target)) + F.index_select(
        flat, 0, pair_row * c + pair_other)
    h = F.where(z.data > 0, z, 0.0)
    # the per-row sums start from zeros that are in x's graph, so that a batch without any
    # (target, non-target) pair still has a (zero) gradient, as PyTorch
    zeros = F.sum(F.where(np.zeros(x.shape, dtype=bool), x, 0.0), dim=1)
    loss = F.scatter_add(zeros, 0, pair_row, h) / c
    if input.ndim < 2:
        loss = F.reshape(loss, ())
    return _reduce(loss, reduction, name)


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average: bool | None = None, reduce: bool | None = None,
                                reduction: str = "mean") -> Tensor:
    """``-mean_c w_c[y_c·log σ(x_c) + (1 - y_c)·log σ(-x_c)]`` per sample: one binary
    cross-entropy of logits per class, averaged over the classes (the last dim).

    >>> import chainrule as cr
    >>> x = cr.tensor([[0.0, 0.0]])
    >>> cr.nn.functional.multilabel_soft_margin_loss(x, cr.tensor([[1.0, 0.0]]))
    tensor(0.6931)
    """
    name = "multilabel_soft_margin_loss"
    reduction = _legacy(size_average, reduce, reduction)
    _check_reduction(reduction, name)
    if input.ndim == 0:
        raise ValueError(f"{name}: input must have a class dimension (the last), got a scalar")
    _check_weight_fits(target, input, name, "target")
    if weight is not None:
        _check_weight_fits(weight, input, name)
    y = target if isinstance(target, Tensor) else as_tensor(target)
    if y.dtype != input.dtype:
        y = y.to(input.dtype)
    loss = -(y * E.logsigmoid(input) + (1 - y) * E.logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    loss = F.sum(loss, dim=-1) / input.shape[-1]
    return _reduce(loss, reduction, name)


# --------------------------------------------------------------------------- CTC

def _lengths(x: Any, n: int, what: str, limit: int | None = None) -> np.ndarray:
    """Per-sample lengths (a tensor, sequence or int) as ``n`` non-negative int64 values."""
    a = np.asarray(getattr(x, "data", x))
    if a.dtype.kind not in "iu":
        raise TypeError(f"ctc_loss: {what} must hold integers, got dtype {a.dtype}")
    a = a.reshape(-1).astype(np.int64)
    if a.size != n:
        raise ValueError(f"ctc_loss: {what} must have one value per sample ({n}), got "
                         f"{a.size}")
    if a.size and a.min() < 0:
        raise ValueError(f"ctc_loss: {what} must be non-negative, got {int(a.min())}")
    if limit is not None and a.size and a.max() > limit:
        raise ValueError(f"ctc_loss: {what} must be at most {limit} (the number of time "
                         f"steps of log_probs), got {int(a.max())}")
    return a


def _padded_targets(targets: Any, lengths: np.ndarray, unbatched: bool) -> np.ndarray:
    """The targets as an ``(N, max length)`` int array, from the padded ``(N, S)`` form or
    the concatenated 1-D one (each row padded with 0 past its length)."""
    t = _class_indices(targets, "ctc_loss")
    n, longest = lengths.size, int(lengths.max(initial=0))
    if unbatched and t.ndim == 1:  # one sample: its target sequence
        t = t[None]
    if t.ndim == 2:
        if t.shape[0] != n or t.shape[1] < longest:
            raise ValueError(f"ctc_loss: padded targets must have shape (N, S) with N = {n} "
                             f"and S at least the longest target length {longest}, got "
                             f"{t.shape}")
        out = t[:, :longest].copy()
    elif t.ndim == 1:
        if t.size != lengths.sum():
            raise ValueError(f"ctc_loss: concatenated (1-D) targets must hold sum("
                             f"target_lengths) = {int(lengths.sum())} labels, got {t.size}")
        out = np.zeros((n, longest), dtype=np.int64)
        starts = np.cumsum(lengths) - lengths
        for i in range(n):
            out[i, :lengths[i]] = t[starts[i]:starts[i] + lengths[i]]
    else:
        raise ValueError(f"ctc_loss: targets must have shape (N, S) or (sum(target_lengths),)"
                         f", got {t.shape}")
    out[np.arange(longest)[None, :] >= lengths[:, None]] = 0  # padding: never read
    return out


def _log_add(terms: list[Tensor]) -> Tensor:
    """``log Σ exp(terms)`` elementwise, as PyTorch's CTC kernel computes it (shifted by the
    largest term, 0 where all are -inf) and with a zero, not NaN, gradient where every term
    is -inf."""
    m = np.maximum.reduce([t.data for t in terms])
    dead = np.isneginf(m)
    m = np.where(dead, 0.0, m).astype(terms[0].dtype)
    total = E.exp(terms[0] - m)
    for t in terms[1:]:
        total = total + E.exp(t - m)
    return F.where(dead, -math.inf, E.log(F.where(dead, 1.0, total)) + m)


def ctc_loss(log_probs: Tensor, targets: Tensor, input_lengths: Any, target_lengths: Any,
             blank: int = 0, reduction: str = "mean", zero_infinity: bool = False) -> Tensor:
    """Connectionist temporal classification: ``-log p(target | log_probs)``, summed over
    every alignment (labels with blanks and repeats that collapse to the target), by the
    forward algorithm in log space.

    ``log_probs`` has shape ``(T, N, C)`` (or ``(T, C)``), from ``log_softmax``;
    ``targets`` is ``(N, S)`` padded or the 1-D concatenation of the targets; the lengths
    are one int per sample. 'mean' divides each loss by its target length (at least 1),
    then averages over the batch, as PyTorch. ``zero_infinity`` turns the infinite loss of
    an impossible alignment (input too short) and its gradient into 0 (without it, that
    sample's loss is inf, as PyTorch, but its gradient is finite where PyTorch's is NaN).

    The gradient with respect to ``log_probs`` is the true one: minus the alignment
    posteriors. PyTorch's adds ``exp(log_probs)`` (the gradient of the logits under a
    ``log_softmax``, a known PyTorch bug: pytorch/pytorch#52241, #181534), so the two agree
    whenever ``log_probs`` comes from ``log_softmax`` in the graph, as it should, and only
    then.

    >>> import chainrule as cr
    >>> lp = cr.zeros(2, 1, 2).log_softmax(2)   # 2 steps, uniform over {blank, 'a'}
    >>> cr.nn.functional.ctc_loss(lp, cr.tensor([[1]]), [2], [1], reduction="sum")
    tensor(0.2877)
    """
    name = "ctc_loss"
    _check_reduction(reduction, name)
    if log_probs.ndim not in (2, 3):
        raise ValueError(f"{name}: log_probs must have shape (T, N, C) or (T, C), got "
                         f"{log_probs.shape}")
    unbatched = log_probs.ndim == 2
    lp = F.unsqueeze(log_probs, 1) if unbatched else log_probs
    steps, n, c = lp.shape
    if not 0 <= blank < c:
        raise ValueError(f"{name}: blank {blank} is out of range for {c} classes")
    il = _lengths(input_lengths, n, "input_lengths", steps)
    tl = _lengths(target_lengths, n, "target_lengths")
    tg = _padded_targets(targets, tl, unbatched)
    if tg.size and (tg.min() < 0 or tg.max() >= c):
        bad = tg.min() if tg.min() < 0 else tg.max()
        raise IndexError(f"{name}: target {int(bad)} is out of range for {c} classes")
    # the extended label sequence: blank, l1, blank, l2, ..., blank (S = 2L + 1 states)
    states = 2 * tg.shape[1] + 1
    ext = np.full((n, states), blank, dtype=np.int64)
    ext[:, 1::2] = tg
    s_idx = np.arange(states)
    skip = (s_idx % 2 == 1) & (s_idx >= 3)  # label to label, over a blank, if they differ
    skip = skip & (ext != np.roll(ext, 2, axis=1))
    lp_ext = F.take_along_dim(lp, np.broadcast_to(ext, (steps, n, states)), dim=2)
    before = np.full((n, 2), -math.inf, dtype=lp.dtype)  # (no state before the first)

    def shifted(a: Tensor, by: int) -> Tensor:
        """``a`` moved ``by`` states on: entry s holds a[s - by] (-inf before the first)."""
        return F.cat([before[:, :by], a], 1)[:, :states]

    alpha = F.where(s_idx < 2, lp_ext[0], -math.inf)
    for t in range(1, steps):
        if not (il > t).any():
            break
        terms = [alpha, shifted(alpha, 1)]  # stay, or come from the state before
        if skip.any():
            terms.append(F.where(skip, shifted(alpha, 2), -math.inf))
        new = _log_add(terms) + lp_ext[t]
        alpha = F.where((il > t)[:, None], new, alpha)  # a finished sample keeps its alpha
    last = 2 * tl  # the final blank; the final label is just before it
    ends = [F.take_along_dim(alpha, last[:, None], 1),
            F.where((tl > 0)[:, None], F.take_along_dim(alpha, np.maximum(last - 1, 0)[:, None],
                                                         1), -math.inf)]
    log_p = F.squeeze(_log_add(ends), 1)
    log_p = F.where(il == 0, np.where(tl == 0, 0.0, -math.inf).astype(lp.dtype), log_p)
    nll = -log_p
    loss = nll
    if zero_infinity:
        loss = F.where(np.isinf(nll.data), 0.0, loss)
    if unbatched:
        loss = F.squeeze(loss, 0)
    if reduction == "mean":
        return F.mean(loss / np.maximum(tl, 1).astype(lp.dtype).reshape(loss.shape))
    return _reduce(loss, reduction, name)
