"""Normalisation: ``batch_norm``, ``layer_norm``, ``group_norm``, ``instance_norm``,
``rms_norm`` and ``normalize``.

The first four standardise with the fused ``standardize`` op (one node, its rule
``(g - mean(g) - x̂·mean(g·x̂))/σ``) and then apply the affine ``x̂·w + b``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ... import functional as F
from ...engine import bump_version
from ...ops import elementwise as E
from ...ops import nn as N
from ...tensor import Tensor

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm", "normalize"]


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel (dim 1) vector against ``x``."""
    return (x.shape[1],) + (1,) * (x.ndim - 2)


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None,
            shape: tuple[int, ...], op: str = "normalization") -> Tensor:
    if weight is not None:
        y = y * (weight if weight.shape == shape else _fit(weight, shape, "weight", op))
    if bias is not None:
        y = y + (bias if bias.shape == shape else _fit(bias, shape, "bias", op))
    return y


def _fit(p: Tensor, shape: tuple[int, ...], what: str, op: str) -> Tensor:
    """``p`` reshaped to broadcast as ``shape``, or a clear error when its size differs."""
    if p.numel() != int(np.prod(shape)):
        raise ValueError(f"{op}: {what} of shape {p.shape} does not fit the input: expected "
                         f"{int(np.prod(shape))} values (broadcast as {shape})")
    return F.reshape(p, shape)


def _update_running(running: Tensor, value: np.ndarray, momentum: float) -> None:
    r = running.data
    r *= 1.0 - momentum
    r += momentum * value.astype(r.dtype, copy=False)
    bump_version(running)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over every dim but the channels (dim 1).

    Training (or without running statistics): ``x̂ = (x - μ_B)/√(σ²_B + ε)`` with the batch's
    biased variance, and the running statistics, if given, move by ``momentum`` towards the
    batch mean and the *unbiased* batch variance (as PyTorch). Evaluation: the running
    statistics are used. Then ``y = x̂·w + b``.
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got "
                         f"{input.shape}")
    dims = (0,) + tuple(range(2, input.ndim))
    shape = _channel_shape(input)
    for what, p in (("running_mean", running_mean), ("running_var", running_var),
                    ("weight", weight), ("bias", bias)):
        if p is not None and p.numel() != shape[0]:
            raise ValueError(f"batch_norm: {what} of shape {p.shape} does not match the "
                             f"{shape[0]} channels (dim 1) of the input of shape {input.shape}")
    if training or running_mean is None or running_var is None:
        n = input.data.size // input.shape[1]
        if n == 0:  # an empty batch: nothing to normalise, statistics unchanged
            return _affine(input, weight, bias, shape, "batch_norm")
        if training and n <= 1:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training, got input of shape {input.shape}")
        neg = tuple(d - input.ndim for d in dims)
        y = N.standardize(input, dim=neg, eps=eps)
        if training and running_mean is not None and running_var is not None:
            x = input.data
            mean = x.mean(axis=dims)
            var = x.var(axis=dims) * (n / (n - 1))
            _update_running(running_mean, mean, momentum)
            _update_running(running_var, var, momentum)
        return _affine(y, weight, bias, shape, "batch_norm")
    scale = 1.0 / np.sqrt(running_var.data + eps)
    shift = -running_mean.data * scale
    if weight is not None:
        s: Tensor | np.ndarray = weight * scale
        t: Tensor | np.ndarray = weight * shift
    else:
        s, t = scale, shift
    if bias is not None:
        t = t + bias
    s = F.reshape(s, shape) if isinstance(s, Tensor) else s.reshape(shape)
    t = F.reshape(t, shape) if isinstance(t, Tensor) else t.reshape(shape)
    return input * s + t


def layer_norm(input: Tensor, normalized_shape: int | Sequence[int],
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the last ``len(normalized_shape)`` dims, then ``x̂·w + b``."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
        normalized_shape)
    k = len(shape)
    if input.shape[input.ndim - k:] != shape or k == 0:
        raise ValueError(f"layer_norm: normalized_shape {shape} must be the trailing dims of "
                         f"the input, got input of shape {input.shape}")
    y = N.standardize(input, dim=tuple(range(-k, 0)), eps=eps)
    return _affine(y, weight, bias, shape, "layer_norm")


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each group of ``C/num_groups`` channels (with all spatial positions) per
    sample, then the per-channel ``x̂·w + b``."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected an input of shape (N, C, ...), got "
                         f"{input.shape}")
    c = input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: the number of channels ({c}) must be divisible by "
                         f"num_groups={num_groups}")
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and p.shape != (c,):
            raise ValueError(f"group_norm: {name} of shape {p.shape} does not match the "
                             f"{c} channels of the input of shape {input.shape}")
    n = input.shape[0]
    per_group = c // num_groups * int(np.prod(input.shape[2:]))  # not -1: N may be 0
    grouped = F.reshape(input, (n, num_groups, per_group))
    y = F.reshape(N.standardize(grouped, dim=(-1,), eps=eps), input.shape)
    return _affine(y, weight, bias, _channel_shape(input), "group_norm")


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample over its spatial dims, then ``x̂·w + b``."""
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of shape (N, C, *spatial), got "
                         f"{input.shape}")
    if not use_input_stats and running_mean is not None and running_var is not None:
        return batch_norm(input, running_mean, running_var, weight, bias, False, momentum, eps)
    if int(np.prod(input.shape[2:])) <= 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when using the "
                         f"input's statistics, got input of shape {input.shape}")
    dims = tuple(range(-(input.ndim - 2), 0))
    y = N.standardize(input, dim=dims, eps=eps)
    if running_mean is not None and running_var is not None:
        x = input.data
        axes = tuple(range(2, input.ndim))
        m = int(np.prod(x.shape[2:]))
        _update_running(running_mean, x.mean(axis=axes).mean(axis=0), momentum)
        _update_running(running_var, (x.var(axis=axes) * (m / max(m - 1, 1))).mean(axis=0),
                        momentum)
    return _affine(y, weight, bias, _channel_shape(input), "instance_norm")


def rms_norm(input: Tensor, normalized_shape: int | Sequence[int],
             weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """``x / √(mean(x²) + ε) · w`` over the trailing ``normalized_shape`` dims
    (``eps=None``: the dtype's machine epsilon, as PyTorch)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
        normalized_shape)
    dims = tuple(range(-len(shape), 0))
    e = float(np.finfo(input.dtype).eps) if eps is None else eps
    y = input * E.rsqrt(F.mean(input * input, dim=dims, keepdim=True) + e)
    return y if weight is None else y * weight


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(‖x‖_p, ε)`` along ``dim``."""
    n = F.norm(input, p, dim, keepdim=True)
    return input / F.clamp(n, min=eps)
