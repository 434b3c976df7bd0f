"""``linear`` and ``bilinear``."""

from __future__ import annotations

from ... import functional as F
from ...ops import nn as N
from ...tensor import Tensor

__all__ = ["linear", "bilinear"]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y = x·Wᵀ + b`` for ``x`` of shape ``(*, in)``, ``W`` of shape ``(out, in)``.

    One fused op (one graph node): ∂ℒ/∂x = g·W, ∂ℒ/∂W = gᵀ·x, ∂ℒ/∂b = Σ g.

    >>> import chainrule as cr
    >>> x, w, b = cr.ones(2, 3), cr.ones(4, 3), cr.zeros(4)
    >>> cr.nn.functional.linear(x, w, b).shape
    (2, 4)
    """
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be a matrix (out_features, in_features), got "
                         f"shape {weight.shape}")
    if input.ndim == 0 or input.shape[-1] != weight.shape[1]:
        raise ValueError(f"linear: input of shape {input.shape} does not match a weight of "
                         f"shape {weight.shape}; the input's last dim must be "
                         f"in_features={weight.shape[1]}")
    if bias is None:
        return N.linear(input, weight)
    if bias.data.shape != weight.data.shape[:1]:  # (the usual (out,) bias needs no check)
        _check_bias(input.shape[:-1] + (weight.shape[0],), bias.shape)
    return N.linear(input, weight, bias)


def _check_bias(out_shape: tuple[int, ...], bias_shape: tuple[int, ...]) -> None:
    """The bias must broadcast to the output's shape without growing it. As in PyTorch, a
    vector input's output counts as one row for this, so a (1, out) bias is allowed there."""
    target = (1,) + out_shape if len(out_shape) == 1 else out_shape
    fits = len(bias_shape) <= len(target) and all(
        b in (1, o) for b, o in zip(bias_shape[::-1], target[::-1]))
    if not fits:
        raise ValueError(f"linear: a bias of shape {bias_shape} does not broadcast to the "
                         f"output's shape {out_shape}; give a bias of shape "
                         f"({out_shape[-1]},) (one per output feature) or one that broadcasts "
                         "to the output")


def bilinear(input1: Tensor, input2: Tensor, weight: Tensor,
             bias: Tensor | None = None) -> Tensor:
    """``y_k = x1ᵀ·W_k·x2 + b_k`` for ``W`` of shape ``(out, in1, in2)``."""
    out = F.einsum("...i,kij,...j->...k", input1, weight, input2)
    return out if bias is None else out + bias
