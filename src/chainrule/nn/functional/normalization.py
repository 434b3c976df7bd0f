"""Normalisation: ``batch_norm``, ``layer_norm``, ``group_norm``, ``instance_norm``,
``rms_norm``, ``normalize`` and ``local_response_norm``.

The first four standardise with the fused ``standardize`` op (one node, its rule
``(g - mean(g) - x̂·mean(g·x̂))/σ``) and then apply the affine ``x̂·w + b``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ... import functional as F
from ...engine import bump_version
from ...ops import elementwise as E
from ...ops import nn as N
from ...tensor import Tensor

__all__ = ["batch_norm", "layer_norm", "group_norm", "instance_norm", "rms_norm", "normalize",
           "local_response_norm"]

_Accept = Literal["exact", "vector", "any"]


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    """Shape that broadcasts a per-channel (dim 1) vector against ``x``."""
    return (x.shape[1],) + (1,) * (x.ndim - 2)


def _check_params(op: str, params: dict[str, Tensor | None], shape: tuple[int, ...],
                  against: str, per: str, accept: _Accept = "exact") -> None:
    """Raise one ``ValueError`` naming ``op`` for the first of ``params`` (``weight``,
    ``bias``, ``running_mean``, ...) whose shape does not fit ``shape``.

    ``accept`` is which other shapes holding the same number of values pass too, as in
    PyTorch: ``"exact"`` none, ``"vector"`` a 0-d one (``instance_norm``), ``"any"`` every
    shape (``batch_norm``'s weight and bias). ``against`` names what the shape comes from
    and ``per`` what each value is for.
    """
    size = int(np.prod(shape))
    for name, p in params.items():
        if p is None or p.shape == shape or (
                p.numel() == size and (accept == "any" or (accept == "vector" and p.ndim <= 1))):
            continue
        raise ValueError(f"{op}: {name} of shape {p.shape} does not match {against}; pass a "
                         f"{name} of shape {shape}, {per}")


def _check_channel_params(op: str, input: Tensor, accept: _Accept = "exact",
                          **params: Tensor | None) -> None:
    """:func:`_check_params` for per-channel (dim 1) parameters."""
    c = input.shape[1]
    _check_params(op, params, (c,), f"the input of shape {input.shape}, which has {c} "
                                    f"channels (dim 1)", "one value per channel", accept)


def _normalized_shape(op: str, input: Tensor, normalized_shape: int | Sequence[int],
                      **params: Tensor | None) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple, checked against the input's trailing dims and the
    shapes of ``params`` (which must be exactly it, as in PyTorch)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(
        normalized_shape)
    k = len(shape)
    if input.shape[input.ndim - k:] != shape or k == 0:
        raise ValueError(f"{op}: normalized_shape {shape} must be the trailing dims of "
                         f"the input, got input of shape {input.shape}")
    _check_params(op, params, shape, f"normalized_shape {shape}",
                  "one value per element of normalized_shape")
    return shape


def _check_running_pair(op: str, running_mean: Tensor | None,
                        running_var: Tensor | None) -> None:
    """Both running statistics or neither, as PyTorch (one alone cannot be updated or used)."""
    if (running_mean is None) != (running_var is None):
        given = "running_mean" if running_var is None else "running_var"
        raise ValueError(f"{op}: running_mean and running_var must both be given or both be "
                         f"None, got only {given}")


def _as_channels(p: Tensor | None, c: int) -> Tensor | None:
    """A checked per-channel parameter as a vector of ``c`` values (it may have another
    shape holding them, see :func:`_check_params`)."""
    return p if p is None or p.shape == (c,) else F.reshape(p, (c,))


def _affine(y: Tensor, weight: Tensor | None, bias: Tensor | None,
            shape: tuple[int, ...]) -> Tensor:
    """``y·w + b`` with ``weight`` and ``bias`` (checked already) viewed as ``shape``."""
    if weight is not None:
        y = y * (weight if weight.shape == shape else F.reshape(weight, shape))
    if bias is not None:
        y = y + (bias if bias.shape == shape else F.reshape(bias, shape))
    return y


def _update_running(running: Tensor, value: np.ndarray, momentum: float) -> None:
    r = running.data
    r *= 1.0 - momentum
    r += momentum * value.astype(r.dtype, copy=False)
    bump_version(running)


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over every dim but the channels (dim 1).

    Training: ``x̂ = (x - μ_B)/√(σ²_B + ε)`` with the batch's biased variance, and the
    running statistics, if given, move by ``momentum`` towards the batch mean and the
    *unbiased* batch variance (as PyTorch). Evaluation: the running statistics are used (they
    must be given then). Then ``y = x̂·w + b``.

    The running statistics must have shape ``(C,)``; ``weight`` and ``bias`` may have any
    shape holding ``C`` values (as PyTorch).
    """
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected an input of shape (N, C, ...), got "
                         f"{input.shape}")
    _check_running_pair("batch_norm", running_mean, running_var)
    if not training and running_mean is None:
        raise ValueError("batch_norm: evaluation (training=False) normalises with the running "
                         "statistics; pass running_mean and running_var, or training=True to "
                         "use the batch's")
    _check_channel_params("batch_norm", input, running_mean=running_mean,
                          running_var=running_var)
    _check_channel_params("batch_norm", input, "any", weight=weight, bias=bias)
    c = input.shape[1]
    weight, bias = _as_channels(weight, c), _as_channels(bias, c)
    if training:
        return _batch_norm_train(input, running_mean, running_var, weight, bias, momentum, eps)
    assert running_mean is not None and running_var is not None  # (checked above)
    return _batch_norm_eval(input, running_mean, running_var, weight, bias, eps)


def _batch_norm_train(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
                      weight: Tensor | None, bias: Tensor | None, momentum: float,
                      eps: float) -> Tensor:
    """:func:`batch_norm` with the batch's statistics (the parameters checked already)."""
    shape = _channel_shape(input)
    n = input.data.size // input.shape[1]
    if n == 0:  # an empty batch: nothing to normalise, statistics unchanged
        return _affine(input, weight, bias, shape)
    if n <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                         f"training, got input of shape {input.shape}")
    dims = (0,) + tuple(range(2, input.ndim))
    neg = tuple(d - input.ndim for d in dims)
    y = N.standardize(input, dim=neg, eps=eps)
    if running_mean is not None and running_var is not None:
        x = input.data
        mean = x.mean(axis=dims)
        var = x.var(axis=dims) * (n / (n - 1))
        _update_running(running_mean, mean, momentum)
        _update_running(running_var, var, momentum)
    return _affine(y, weight, bias, shape)


def _batch_norm_eval(input: Tensor, running_mean: Tensor, running_var: Tensor,
                     weight: Tensor | None, bias: Tensor | None, eps: float) -> Tensor:
    """:func:`batch_norm` with the running statistics (the parameters checked already, and
    every one a vector of ``C`` values)."""
    shape = _channel_shape(input)
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
    """Normalise over the last ``len(normalized_shape)`` dims, then ``x̂·w + b``
    (``weight`` and ``bias`` of shape ``normalized_shape``)."""
    shape = _normalized_shape("layer_norm", input, normalized_shape, weight=weight, bias=bias)
    y = N.standardize(input, dim=tuple(range(-len(shape), 0)), eps=eps)
    return _affine(y, weight, bias, shape)


def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalise each group of ``C/num_groups`` channels (with all spatial positions) per
    sample, then the per-channel ``x̂·w + b`` (``weight`` and ``bias`` of shape ``(C,)``)."""
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected an input of shape (N, C, ...), got "
                         f"{input.shape}")
    c = input.shape[1]
    if num_groups <= 0 or c % num_groups:
        raise ValueError(f"group_norm: the number of channels ({c}) must be divisible by "
                         f"num_groups={num_groups}")
    _check_channel_params("group_norm", input, weight=weight, bias=bias)
    n = input.shape[0]
    per_group = c // num_groups * int(np.prod(input.shape[2:]))  # not -1: N may be 0
    grouped = F.reshape(input, (n, num_groups, per_group))
    y = F.reshape(N.standardize(grouped, dim=(-1,), eps=eps), input.shape)
    return _affine(y, weight, bias, _channel_shape(input))


def instance_norm(input: Tensor, running_mean: Tensor | None = None,
                  running_var: Tensor | None = None, weight: Tensor | None = None,
                  bias: Tensor | None = None, use_input_stats: bool = True,
                  momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise each channel of each sample over its spatial dims, then ``x̂·w + b``.

    As PyTorch, ``weight`` and ``bias`` (and the running statistics when they are only
    read, ``use_input_stats=False``) are vectors of ``C`` values, 0-d when ``C`` is 1; the
    running statistics that are updated have shape ``(C,)``.
    """
    if input.ndim < 3:
        raise ValueError(f"instance_norm: expected an input of shape (N, C, *spatial), got "
                         f"{input.shape}")
    _check_running_pair("instance_norm", running_mean, running_var)
    if not use_input_stats and running_mean is None:
        raise ValueError("instance_norm: use_input_stats=False normalises with the running "
                         "statistics; pass running_mean and running_var, or "
                         "use_input_stats=True")
    _check_channel_params("instance_norm", input, "exact" if use_input_stats else "vector",
                          running_mean=running_mean, running_var=running_var)
    _check_channel_params("instance_norm", input, "vector", weight=weight, bias=bias)
    c = input.shape[1]
    weight, bias = _as_channels(weight, c), _as_channels(bias, c)
    if not use_input_stats:
        mean, var = _as_channels(running_mean, c), _as_channels(running_var, c)
        assert mean is not None and var is not None  # (checked above)
        return _batch_norm_eval(input, mean, var, weight, bias, eps)
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
    return _affine(y, weight, bias, _channel_shape(input))


def rms_norm(input: Tensor, normalized_shape: int | Sequence[int],
             weight: Tensor | None = None, eps: float | None = None) -> Tensor:
    """``x / √(mean(x²) + ε) · w`` over the trailing ``normalized_shape`` dims
    (``weight`` of shape ``normalized_shape``; ``eps=None``: the dtype's machine epsilon,
    as PyTorch)."""
    shape = _normalized_shape("rms_norm", input, normalized_shape, weight=weight)
    dims = tuple(range(-len(shape), 0))
    e = float(np.finfo(input.dtype).eps) if eps is None else eps
    y = input * E.rsqrt(F.mean(input * input, dim=dims, keepdim=True) + e)
    return y if weight is None else y * weight


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:
    """``x / max(‖x‖_p, ε)`` along ``dim``."""
    n = F.norm(input, p, dim, keepdim=True)
    return input / F.clamp(n, min=eps)


def local_response_norm(input: Tensor, size: int, alpha: float = 1e-4, beta: float = 0.75,
                        k: float = 1.0) -> Tensor:
    """``x / (k + α·mean(x²))^β``, the mean over ``size`` neighbouring channels (dim 1):
    ``size//2`` before and ``(size-1)//2`` after, zero-padded at the ends and always divided
    by ``size``, as PyTorch (an input of shape ``(N, C, *spatial)``).

    >>> import chainrule as cr
    >>> x = cr.ones(1, 3, 1)
    >>> cr.nn.functional.local_response_norm(x, 2, alpha=1.0, beta=1.0).flatten()
    tensor([0.6667, 0.5000, 0.5000])
    """
    if input.ndim < 3:
        raise ValueError(f"local_response_norm: expected an input of shape (N, C, *spatial) "
                         f"(3-D or more), got shape {input.shape}")
    if not (isinstance(size, (int, np.integer)) and size >= 1):
        raise ValueError(f"local_response_norm: size must be a positive int (the number of "
                         f"channels to average over), got {size!r}")
    if input.numel() == 0:
        return input
    c = input.shape[1]
    pad = [0, 0] * (input.ndim - 2) + [size // 2, (size - 1) // 2]
    sq = F.pad(input * input, pad)
    total = sq[:, 0:c]
    for s in range(1, size):  # a sliding sum over the channel window (size is small)
        total = total + sq[:, s:s + c]
    return input / (total / size * alpha + k) ** beta
