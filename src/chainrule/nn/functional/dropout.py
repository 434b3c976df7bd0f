"""Dropout: zero elements (or whole channels) with probability ``p`` and scale the rest by
``1/(1-p)``, drawing from the global generator (``cr.manual_seed``)."""

from __future__ import annotations

import numpy as np

from ...random import _gen
from ...tensor import Tensor

__all__ = ["dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout",
           "feature_alpha_dropout"]


def _check_p(p: float, name: str) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: dropout probability has to be between 0 and 1, but got {p}")


def _masked(input: Tensor, p: float, mask_shape: tuple[int, ...]) -> Tensor:
    if p == 1.0:
        return input * np.zeros((), dtype=input.dtype)
    keep = _gen().random(mask_shape) >= p
    return input * (keep * (1.0 / (1.0 - p))).astype(input.dtype)


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """``x·m/(1-p)`` with ``m ~ Bernoulli(1-p)`` per element in training; ``x`` otherwise.

    ∂/∂x = m/(1-p). ``inplace`` is accepted and ignored (the result is a new tensor).
    """
    _check_p(p, "dropout")
    if not training or p == 0.0:
        return input
    return _masked(input, p, input.shape)


def _feature_dropout(input: Tensor, p: float, training: bool, spatial: int,
                     name: str) -> Tensor:
    _check_p(p, name)
    if not training or p == 0.0:
        return input
    if input.ndim not in (spatial + 1, spatial + 2):
        raise ValueError(f"{name}: expected a {spatial + 1}-D (unbatched) or {spatial + 2}-D "
                         f"(batched) input, got shape {input.shape}")
    lead = input.ndim - spatial
    return _masked(input, p, input.shape[:lead] + (1,) * spatial)


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of ``(N, C, L)`` inputs."""
    return _feature_dropout(input, p, training, 1, "dropout1d")


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of ``(N, C, H, W)`` inputs."""
    return _feature_dropout(input, p, training, 2, "dropout2d")


def dropout3d(input: Tensor, p: float = 0.5, training: bool = True,
              inplace: bool = False) -> Tensor:
    """Zero whole channels of ``(N, C, D, H, W)`` inputs."""
    return _feature_dropout(input, p, training, 3, "dropout3d")


_ALPHA = 1.7580993408473766  # λ·α of SELU: minus its negative saturation value


def alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                  inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: dropped units take SELU's saturation value -λα, and the
    affine map ``a·(x·m + λα(p - 1 + m))``, ``a = ((λα)²p + 1)(1 - p))^(-1/2)``, keeps zero
    mean and unit variance."""
    _check_p(p, "alpha_dropout")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        return input * np.zeros((), dtype=input.dtype)
    return _alpha_masked(input, p, input.shape)


def _alpha_masked(input: Tensor, p: float, mask_shape: tuple[int, ...]) -> Tensor:
    a = 1.0 / np.sqrt((_ALPHA * _ALPHA * p + 1) * (1 - p))
    keep = _gen().random(mask_shape) >= p
    b = (keep - 1.0 + p) * (_ALPHA * a)
    return input * (keep * a).astype(input.dtype) + b.astype(input.dtype)


def feature_alpha_dropout(input: Tensor, p: float = 0.5, training: bool = False,
                          inplace: bool = False) -> Tensor:
    """Alpha dropout of whole channels: one mask entry per ``(N, C)`` (dims 0 and 1 of the
    input), broadcast over the remaining dims; dropped channels take SELU's saturation value
    ``-λα`` before the affine correction of ``alpha_dropout``. The identity unless
    ``training``; ``inplace`` is accepted and ignored (the result is a new tensor)."""
    _check_p(p, "feature_alpha_dropout")
    if not training or p == 0.0 or input.numel() == 0:
        return input
    if input.ndim < 2:
        raise RuntimeError("feature_alpha_dropout: Feature dropout requires at least 2 "
                           f"dimensions in the input, got shape {tuple(input.shape)}")
    if p == 1.0:
        return input * np.zeros((), dtype=input.dtype)
    return _alpha_masked(input, p, tuple(input.shape[:2]) + (1,) * (input.ndim - 2))
