"""Pooling layers: ``MaxPool1d/2d/3d``, ``AvgPool1d/2d/3d``, ``AdaptiveAvgPool1d/2d/3d``,
``AdaptiveMaxPool1d/2d/3d``, ``MaxUnpool1d/2d/3d``, ``LPPool1d/2d/3d``, and ``Unfold`` / ``Fold``
(im2col / col2im: the sliding blocks of an image as columns, and back).

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

__all__ = ["MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
           "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
           "AdaptiveMaxPool2d", "AdaptiveMaxPool3d", "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
           "LPPool1d", "LPPool2d", "LPPool3d", "Unfold", "Fold", "FractionalMaxPool2d",
           "FractionalMaxPool3d"]

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
        fn = getattr(F, f"max_pool{self._nd}d")
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


class MaxPool3d(_MaxPoolNd):
    """3-D max pooling over ``(N, C, D, H, W)``; the gradient goes to each window's first
    maximum."""

    _nd = 3


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
        fn = getattr(F, f"avg_pool{self._nd}d")
        return fn(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
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


class AvgPool3d(_AvgPoolNd):
    """3-D average pooling over ``(N, C, D, H, W)``: y = Σ_window x / count."""

    _nd = 3


def _single(v: _IntOr) -> tuple[int, ...]:
    return tuple(v) if isinstance(v, Sequence) else (v,)


class _AdaptiveAvgPoolNd(Module):
    _nd = 2

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, input: Tensor) -> Tensor:
        fn = getattr(F, f"adaptive_avg_pool{self._nd}d")
        return fn(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Average over ``output_size`` bins of the length (bin i: ⌊iL/o⌋ ≤ l < ⌈(i+1)L/o⌉)."""

    _nd = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Average over ``output_size`` (h, w) bins (``None`` keeps that input size)."""

    _nd = 2


class AdaptiveAvgPool3d(_AdaptiveAvgPoolNd):
    """Average over ``output_size`` (d, h, w) bins (``None`` keeps that input size)."""

    _nd = 3


class _AdaptiveMaxPoolNd(Module):
    _nd = 2

    def __init__(self, output_size: Any, return_indices: bool = False) -> None:
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input: Tensor) -> Any:
        fn = getattr(F, f"adaptive_max_pool{self._nd}d")
        return fn(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(_AdaptiveMaxPoolNd):
    """Max over ``output_size`` bins of the length (bin i: ⌊iL/o⌋ ≤ l < ⌈(i+1)L/o⌉); the
    gradient goes to each bin's first maximum. ``return_indices`` also returns where."""

    _nd = 1


class AdaptiveMaxPool2d(_AdaptiveMaxPoolNd):
    """Max over ``output_size`` (h, w) bins (``None`` keeps that input size); the gradient
    goes to each bin's first maximum (row-major). ``return_indices`` also returns the argmax
    as flat indices into each input plane (what ``MaxUnpool2d`` takes).

    >>> import chainrule as cr
    >>> cr.nn.AdaptiveMaxPool2d((None, 1))(cr.randn(2, 3, 5, 7)).shape
    (2, 3, 5, 1)
    """

    _nd = 2


class AdaptiveMaxPool3d(_AdaptiveMaxPoolNd):
    """Max over ``output_size`` (d, h, w) bins (``None`` keeps that input size)."""

    _nd = 3


def _ntuple(v: Any, nd: int) -> tuple[int, ...]:
    return tuple(int(a) for a in v) if isinstance(v, Sequence) else (int(v),) * nd


class _MaxUnpoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size: _IntOr, stride: _IntOr | None = None,
                 padding: _IntOr = 0) -> None:
        super().__init__()
        # PyTorch keeps these as tuples (and its repr shows them so)
        self.kernel_size = _ntuple(kernel_size, self._nd)
        self.stride = _ntuple(stride if stride is not None else kernel_size, self._nd)
        self.padding = _ntuple(padding, self._nd)

    def forward(self, input: Tensor, indices: Tensor,
                output_size: Sequence[int] | None = None) -> Tensor:
        """``indices`` as max pooling returned them; ``output_size`` picks the output's size
        when several pool to the input's (odd sizes)."""
        fn = getattr(F, f"max_unpool{self._nd}d")
        return fn(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool1d(_MaxUnpoolNd):
    """Max pooling's partial inverse: each value put back at its index, zeros elsewhere."""

    _nd = 1


class MaxUnpool2d(_MaxUnpoolNd):
    """Max pooling's partial inverse over ``(N, C, H, W)``: each value put back at its flat
    index (from ``MaxPool2d(return_indices=True)``), zeros elsewhere; the gradient gathers
    at the indices.

    >>> import chainrule as cr
    >>> pool, unpool = cr.nn.MaxPool2d(2, return_indices=True), cr.nn.MaxUnpool2d(2)
    >>> y, idx = pool(cr.randn(1, 1, 5, 5))
    >>> unpool(y, idx, output_size=(5, 5)).shape
    (1, 1, 5, 5)
    """

    _nd = 2


class MaxUnpool3d(_MaxUnpoolNd):
    """Max pooling's partial inverse over ``(N, C, D, H, W)``."""

    _nd = 3


class _LPPoolNd(Module):
    _nd = 2

    def __init__(self, norm_type: float, kernel_size: _IntOr, stride: _IntOr | None = None,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def forward(self, input: Tensor) -> Tensor:
        fn = getattr(F, f"lp_pool{self._nd}d")
        return fn(input, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """Power-average pooling: y = (Σ_window x^p)^(1/p) (p = 1: sum pooling, p = ∞: max
    pooling of |x|)."""

    _nd = 1


class LPPool2d(_LPPoolNd):
    """2-D power-average pooling: y = (Σ_window x^p)^(1/p) over each window, computed as
    PyTorch does (``avg_pool2d(x^p)·kh·kw``, then the 1/p-th power)."""

    _nd = 2


class LPPool3d(_LPPoolNd):
    """3-D power-average pooling: y = (Σ_window x^p)^(1/p)."""

    _nd = 3


class Unfold(Module):
    """im2col: the sliding blocks of ``(N, C, H, W)`` as the columns of ``(N, C·kh·kw, L)``.

    With it a convolution is a matrix product, ``W.reshape(O, -1) @ Unfold(k)(x)``; its
    gradient is ``Fold`` (the adjoint: columns added back onto their blocks).

    >>> import chainrule as cr
    >>> cr.nn.Unfold(kernel_size=3, padding=1)(cr.randn(2, 4, 8, 8)).shape
    (2, 36, 64)
    """

    def __init__(self, kernel_size: _IntOr, dilation: _IntOr = 1, padding: _IntOr = 0,
                 stride: _IntOr = 1) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, dilation={self.dilation}, "
                f"padding={self.padding}, stride={self.stride}")


class Fold(Module):
    """col2im: the columns of ``(N, C·kh·kw, L)`` summed back onto their blocks of an
    ``(N, C, *output_size)`` image. The adjoint of ``Unfold`` (not its inverse: a position
    covered by several blocks gets their sum).

    >>> import chainrule as cr
    >>> cr.nn.Fold(output_size=(4, 5), kernel_size=2)(cr.randn(1, 12, 12)).shape
    (1, 3, 4, 5)
    """

    def __init__(self, output_size: _IntOr, kernel_size: _IntOr, dilation: _IntOr = 1,
                 padding: _IntOr = 0, stride: _IntOr = 1) -> None:
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input: Tensor) -> Tensor:
        return F.fold(input, self.output_size, self.kernel_size, self.dilation, self.padding,
                      self.stride)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
                f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}")


class _FractionalMaxPoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size: _IntOr, output_size: _IntOr | None = None,
                 output_ratio: float | Sequence[float] | None = None,
                 return_indices: bool = False, _random_samples: Tensor | None = None) -> None:
        super().__init__()
        nd = self._nd
        name = type(self).__name__
        self.kernel_size = _ntuple(kernel_size, nd)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = None if output_size is None else _ntuple(output_size, nd)
        self.output_ratio = None if output_ratio is None else _values(output_ratio, nd)
        if output_size is None and output_ratio is None:
            raise ValueError(f"{name} requires specifying either an output size, or a pooling "
                             "ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError(f"{name}: only one of output_size and output_ratio may be "
                             "specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"{name}: output_ratio must be between 0 and 1 (got "
                             f"{output_ratio})")

    def forward(self, input: Tensor) -> Any:
        fn = getattr(F, f"fractional_max_pool{self._nd}d")
        return fn(input, self.kernel_size, self.output_size, self.output_ratio,
                  self.return_indices, _random_samples=self._random_samples)


def _values(v: Any, nd: int) -> tuple:
    """An int or float repeated ``nd`` times, or a sequence as a tuple (kept as given)."""
    return (v,) * nd if isinstance(v, (int, float)) else tuple(v)


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Max over ``kernel_size`` windows at pseudo-random offsets that shrink (H, W) to
    ``output_size`` or by ``output_ratio`` (Graham, 2014); the offsets are drawn anew at each
    call from chainrule's generator unless ``_random_samples`` ``(N, C, 2)`` is given (a
    buffer, as in PyTorch).

    >>> import chainrule as cr
    >>> cr.nn.FractionalMaxPool2d(3, output_ratio=0.5)(cr.randn(1, 2, 10, 8)).shape
    (1, 2, 5, 4)
    """

    _nd = 2


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """Fractional max pooling over (T, H, W); ``_random_samples`` has shape ``(N, C, 3)``."""

    _nd = 3
