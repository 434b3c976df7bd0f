"""Pooling layers: ``MaxPool1d/2d``, ``AvgPool1d/2d``, ``AdaptiveAvgPool1d/2d``.

>>> import chainrule as cr
>>> cr.nn.MaxPool2d(2)(cr.randn(1, 3, 8, 8)).shape
(1, 3, 4, 4)
>>> cr.nn.AdaptiveAvgPool2d((1, 1))(cr.randn(2, 5, 7, 7)).shape
(2, 5, 1, 1)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
           "AdaptiveAvgPool2d"]

_IntOr = int | Sequence[int]


class _MaxPoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size: _IntOr, stride: _IntOr | None = None, padding: _IntOr = 0,
                 dilation: _IntOr = 1, return_indices: bool = False,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Any:
        fn = F.max_pool1d if self._nd == 1 else F.max_pool2d
        return fn(input, self.kernel_size, self.stride, self.padding, self.dilation,
                  ceil_mode=self.ceil_mode, return_indices=self.return_indices)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over ``(N, C, L)``; the gradient goes to each window's first maximum."""

    _nd = 1


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling over ``(N, C, H, W)``: y = max over each window (padding = -inf);
    ∂y/∂x = 1 at the window's first maximum (row-major), 0 elsewhere."""

    _nd = 2


class _AvgPoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size: _IntOr, stride: _IntOr | None = None, padding: _IntOr = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True,
                 divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input: Tensor) -> Tensor:
        if self._nd == 1:
            return F.avg_pool1d(input, self.kernel_size, self.stride, self.padding,
                                self.ceil_mode, self.count_include_pad)
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """1-D average pooling: y = Σ_window x / count."""

    _nd = 1

    def __init__(self, kernel_size: _IntOr, stride: _IntOr | None = None, padding: _IntOr = 0,
                 ceil_mode: bool = False, count_include_pad: bool = True) -> None:
        # PyTorch keeps AvgPool1d's sizes as 1-tuples (and its repr shows them so)
        one = _single(kernel_size)
        super().__init__(one, one if stride is None else _single(stride), _single(padding),
                         ceil_mode, count_include_pad)


class AvgPool2d(_AvgPoolNd):
    """2-D average pooling: y = Σ_window x / count; ∂y/∂x = 1/count over the window."""

    _nd = 2


def _single(v: _IntOr) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, Sequence) else (v,)


class _AdaptiveAvgPoolNd(Module):
    _nd = 2

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        fn = F.adaptive_avg_pool1d if self._nd == 1 else F.adaptive_avg_pool2d
        return fn(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average over ``output_size`` bins of the length (bin i: ⌊iL/o⌋ ≤ l < ⌈(i+1)L/o⌉)."""

    _nd = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average over ``output_size`` (h, w) bins (``None`` keeps that input size)."""

    _nd = 2
