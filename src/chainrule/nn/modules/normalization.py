"""Normalisation layers: ``BatchNorm1d/2d/3d``, ``LayerNorm``, ``GroupNorm``,
``InstanceNorm1d/2d/3d``, ``RMSNorm``, ``LocalResponseNorm``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import _dtypes
from ... import functional as CF
from ...engine import bump_version
from ...tensor import Tensor
from .. import functional as F
from .. import init
from .linear import _empty
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm",
           "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d", "RMSNorm", "LocalResponseNorm"]


def _buffer(shape: tuple[int, ...], fill: float, dtype: Any) -> Tensor:
    d = _dtypes.get_default_dtype() if dtype is None else _dtypes.as_dtype(dtype)
    return Tensor._make(np.full(shape, fill, dtype=d))


def _reset_affine(module: Module) -> None:
    """The identity transform: weight 1, bias 0 (PyTorch's default for the norm layers)."""
    if module.weight is not None:
        init.ones_(module.weight)
    if module.bias is not None:
        init.zeros_(module.bias)


def _add_affine(module: Module, shape: tuple | None, bias: bool, dtype: Any) -> None:
    """Register ``weight`` (and ``bias`` unless ``bias=False``) of ``shape``; with ``shape``
    None (no affine transform) both are registered as None, as PyTorch does."""
    if shape is None:
        module.register_parameter("weight", None)
    else:
        module.weight = _empty(shape, dtype)
    if shape is not None and bias:
        module.bias = _empty(shape, dtype)
    else:
        module.register_parameter("bias", None)


class _NormBase(Module):
    """Running statistics and the affine parameters shared by batch and instance norm."""

    _dims: tuple[int, ...] = ()  # accepted input ranks
    _optional_state = ("num_batches_tracked",)  # old PyTorch checkpoints lack it

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        _add_affine(self, (num_features,) if affine else None, bias, dtype)
        if track_running_stats:
            self.register_buffer("running_mean", _buffer((num_features,), 0.0, dtype))
            self.register_buffer("running_var", _buffer((num_features,), 1.0, dtype))
            self.register_buffer("num_batches_tracked",
                                 Tensor._make(np.zeros((), dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0
            for b in (self.running_mean, self.running_var, self.num_batches_tracked):
                bump_version(b)

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        _reset_affine(self)

    def _check_input_dim(self, input: Tensor) -> None:
        if input.ndim not in self._dims:
            ranks = " or ".join(map(str, self._dims))
            raise ValueError(f"{type(self).__name__}: expected a {ranks}-D input, got shape "
                             f"{input.shape}")
        if input.shape[1] != self.num_features:
            raise ValueError(f"{type(self).__name__}: expected {self.num_features} channels "
                             f"(dim 1), got input of shape {input.shape}")

    def _momentum(self) -> float:
        """Count the batch; ``momentum=None`` means a cumulative average (1/batches)."""
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data += 1
            bump_version(self.num_batches_tracked)
            if self.momentum is None:
                return 1.0 / float(self.num_batches_tracked.item())
        return 0.0 if self.momentum is None else self.momentum

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    def forward(self, input: Tensor) -> Tensor:
        self._check_input_dim(input)
        momentum = self._momentum()
        use_batch_stats = self.training or self.running_mean is None
        return F.batch_norm(
            input,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight, self.bias, use_batch_stats, momentum, self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of ``(N, C)`` or ``(N, C, L)`` inputs.

    Training: normalise with the batch's mean and (biased) variance per channel, and update
    ``running_mean``/``running_var`` (unbiased) by ``momentum``. Evaluation: use them.
    ``y = (x - μ)/√(σ² + ε)·weight + bias``.

    >>> import chainrule as cr
    >>> bn = cr.nn.BatchNorm1d(3)
    >>> list(bn.state_dict())
    ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']
    """

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of ``(N, C, H, W)`` inputs (see :class:`BatchNorm1d`)."""

    _dims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of ``(N, C, D, H, W)`` inputs (see :class:`BatchNorm1d`)."""

    _dims = (5,)


class _InstanceNorm(_NormBase):
    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = False, track_running_stats: bool = False, device: Any = None,
                 dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device,
                         dtype, bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        if input.ndim == self._dims[0] - 1:  # unbatched
            return self.forward(CF.unsqueeze(input, 0))[0]
        self._check_input_dim(input)
        # as PyTorch: instance norm does not count batches (num_batches_tracked stays 0)
        momentum = 0.0 if self.momentum is None else self.momentum
        return F.instance_norm(input, self.running_mean, self.running_var, self.weight,
                               self.bias, self.training or not self.track_running_stats,
                               momentum, self.eps)


class InstanceNorm1d(_InstanceNorm):
    """Normalise each channel of each sample of ``(N, C, L)`` over ``L``."""

    _dims = (3,)


class InstanceNorm2d(_InstanceNorm):
    """Normalise each channel of each sample of ``(N, C, H, W)`` over ``H, W``."""

    _dims = (4,)


class InstanceNorm3d(_InstanceNorm):
    """Normalise each channel of each sample of ``(N, C, D, H, W)`` over ``D, H, W``."""

    _dims = (5,)


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` dims of each sample, then scale and
    shift elementwise (``weight`` ones, ``bias`` zeros, of shape ``normalized_shape``).

    >>> import chainrule as cr
    >>> ln = cr.nn.LayerNorm(4)
    >>> ln
    LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
    """

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, int)
                                 else tuple(normalized_shape))
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        _add_affine(self, self.normalized_shape if elementwise_affine else None, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Split the ``num_channels`` channels into ``num_groups`` groups and normalise each group
    of each sample; then a per-channel ``weight`` and ``bias``."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        super().__init__()
        if num_groups <= 0 or num_channels % num_groups:
            raise ValueError(f"num_channels ({num_channels}) must be divisible by num_groups "
                             f"({num_groups})")
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        _add_affine(self, (num_channels,) if affine else None, bias, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset_affine(self)

    def forward(self, input: Tensor) -> Tensor:
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class RMSNorm(Module):
    """``x/√(mean(x²) + ε)·weight`` over the trailing ``normalized_shape`` dims."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float | None = None,
                 elementwise_affine: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        self.normalized_shape = ((normalized_shape,) if isinstance(normalized_shape, int)
                                 else tuple(normalized_shape))
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = _empty(self.normalized_shape, dtype)
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, input: Tensor) -> Tensor:
        return F.rms_norm(input, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}")


class LocalResponseNorm(Module):
    """Divide each channel by ``(k + alpha·mean(x²))^beta``, the mean of the squares over
    ``size`` neighbouring channels (zero-padded, divided by ``size``).

    >>> import chainrule as cr
    >>> cr.nn.LocalResponseNorm(2)
    LocalResponseNorm(2, alpha=0.0001, beta=0.75, k=1.0)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75,
                 k: float = 1.0) -> None:
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input: Tensor) -> Tensor:
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
