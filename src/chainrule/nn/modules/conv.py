"""Convolution layers: ``Conv1d/2d/3d`` and ``ConvTranspose1d/2d/3d``.

As in PyTorch: ``weight`` of shape ``(out, in/groups, *kernel)`` (transposed:
``(in, out/groups, *kernel)``), ``bias`` ``(out,)``, both initialised by
``kaiming_uniform_(a=√5)`` (U(-1/√fan_in, 1/√fan_in) for the bias); ``forward`` is one call
into ``nn.functional``.

>>> import chainrule as cr
>>> conv = cr.nn.Conv2d(3, 8, kernel_size=3, padding=1)
>>> conv
Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
>>> conv(cr.randn(2, 3, 16, 16)).shape
(2, 8, 16, 16)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import _dtypes
from ...tensor import Tensor
from .. import functional as F
from .. import init
from ..functional import conv as FC
from ..parameter import Parameter
from .module import Module

__all__ = ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _param(shape: tuple[int, ...], dtype: Any) -> Parameter:
    d = _dtypes.get_default_dtype() if dtype is None else _dtypes.as_dtype(dtype)
    return Parameter(np.zeros(shape, dtype=d))


class _ConvNd(Module):
    _nd = 2
    transposed = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any,
                 padding: Any, dilation: Any, groups: int, bias: bool, padding_mode: str,
                 output_padding: Any = 0, dtype: Any = None) -> None:
        super().__init__()
        nd = self._nd
        name = type(self).__name__
        if groups <= 0 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must be positive and divide "
                             f"in_channels ({in_channels}) and out_channels ({out_channels})")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {_PADDING_MODES}, got "
                             f"{padding_mode!r}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = FC._tuple(kernel_size, nd, "kernel_size", name)
        self.stride = FC._tuple(stride, nd, "stride", name)
        self.dilation = FC._tuple(dilation, nd, "dilation", name)
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"{name}: padding must be 'same', 'valid' or numbers, got "
                                 f"{padding!r}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError(f"{name}: padding='same' is not supported for strided "
                                 "convolutions")
            self.padding: Any = padding
        else:
            self.padding = FC._tuple(padding, nd, "padding", name)
        self.output_padding = FC._tuple(output_padding, nd, "output_padding", name)
        self.groups = groups
        self.padding_mode = padding_mode
        if self.transposed:
            shape = (in_channels, out_channels // groups) + self.kernel_size
        else:
            shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = _param(shape, dtype)
        if bias:
            self.bias = _param((out_channels,), dtype)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: kaiming_uniform_(a=√5) for the weight, U(±1/√fan_in) bias."""
        init.default_layer_init_(self.weight, self.bias)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"  # PyTorch prints 'same' unquoted
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * self._nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, dtype=dtype)

    def _pad_input(self, input: Tensor) -> tuple[Tensor, Any]:
        """Non-zero padding modes pad explicitly, then convolve without padding."""
        if self.padding_mode == "zeros":
            return input, self.padding
        if self.padding == "valid":
            return input, 0
        if self.padding == "same":
            lo, hi = FC._same_padding(self.kernel_size, self.dilation, self.stride,
                                      type(self).__name__)
            pads = list(zip(lo, hi))
        else:
            pads = [(p, p) for p in self.padding]
        return FC.pad_nd(input, pads, self.padding_mode), 0

    def forward(self, input: Tensor) -> Tensor:
        x, padding = self._pad_input(input)
        fn = getattr(F, f"conv{self._nd}d")
        return fn(x, self.weight, self.bias, self.stride, padding, self.dilation, self.groups)


class Conv1d(_Conv):
    """1-D convolution over ``(N, C_in, L)``: y = b + Σ W ⋆ x (cross-correlation).

    L_out = ⌊(L + 2p - d(k-1) - 1)/s⌋ + 1; ``padding='same'`` keeps L (stride 1).
    """

    _nd = 1


class Conv2d(_Conv):
    """2-D convolution over ``(N, C_in, H, W)``: y = b + Σ W ⋆ x (cross-correlation), as one
    GEMM; ∂ℒ/∂x is the transposed convolution of ∂ℒ/∂y.

    H_out = ⌊(H + 2p - d(k-1) - 1)/s⌋ + 1 (likewise W); ``padding='same'`` keeps H, W.
    """

    _nd = 2


class Conv3d(_Conv):
    """3-D convolution over ``(N, C_in, D, H, W)``: y = b + Σ W ⋆ x (cross-correlation), as
    one GEMM, like Conv2d with one kernel axis more; weight ``(out, in/groups, kD, kH, kW)``.

    >>> import chainrule as cr
    >>> cr.nn.Conv3d(2, 4, kernel_size=3, padding=1)(cr.randn(1, 2, 5, 6, 7)).shape
    (1, 4, 5, 6, 7)
    """

    _nd = 3


class _ConvTranspose(_ConvNd):
    transposed = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                 output_padding: int | Sequence[int] = 0, groups: int = 1, bias: bool = True,
                 dilation: int | Sequence[int] = 1, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        if padding_mode != "zeros":
            raise ValueError(f"{type(self).__name__}: only 'zeros' padding mode is supported")
        if isinstance(padding, str):
            raise ValueError(f"{type(self).__name__}: padding must be numbers, got "
                             f"{padding!r}")
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, padding_mode, output_padding, dtype=dtype)

    def forward(self, input: Tensor, output_size: Sequence[int] | None = None) -> Tensor:
        """``output_size`` picks the output padding that gives that size."""
        return FC._conv_transpose(self._nd, input, self.weight, self.bias, self.stride,
                                  self.padding, self.output_padding, self.groups,
                                  self.dilation, output_size)


class ConvTranspose1d(_ConvTranspose):
    """1-D transposed convolution: the adjoint of ``Conv1d`` in its input;
    L_out = (L-1)s - 2p + d(k-1) + output_padding + 1."""

    _nd = 1


class ConvTranspose2d(_ConvTranspose):
    """2-D transposed convolution ("deconvolution"): the adjoint of ``Conv2d`` in its input;
    H_out = (H-1)s - 2p + d(k-1) + output_padding + 1 (likewise W)."""

    _nd = 2


class ConvTranspose3d(_ConvTranspose):
    """3-D transposed convolution: the adjoint of ``Conv3d`` in its input;
    D_out = (D-1)s - 2p + d(k-1) + output_padding + 1 (likewise H, W)."""

    _nd = 3
