"""Losses, with PyTorch's arguments and reductions (``'mean'``, ``'sum'``, ``'none'``).

``cross_entropy`` is one fused, stable op (see ``chainrule/ops/nn.py``); the others are
composed from chainrule ops, written to stay finite where PyTorch's do (log-sigmoid for the
logits form of binary cross-entropy, ``log`` clamped at -100 for the probability form).
"""

from __future__ import annotations

import math
import warnings
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
    "margin_ranking_loss", "hinge_embedding_loss",
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
