"""Resampling layers: ``Upsample``, ``UpsamplingNearest2d``, ``UpsamplingBilinear2d``,
``PixelShuffle``, ``PixelUnshuffle``, ``ChannelShuffle`` (no parameters; each is one call into
``cr.nn.functional``).

>>> import chainrule as cr
>>> cr.nn.Upsample(scale_factor=2, mode="bilinear")(cr.randn(1, 3, 4, 4)).shape
(1, 3, 8, 8)
>>> cr.nn.PixelShuffle(2)(cr.randn(1, 8, 3, 3)).shape
(1, 2, 6, 6)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from ...tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d", "PixelShuffle",
           "PixelUnshuffle", "ChannelShuffle"]

_IntOr = int | Sequence[int]
_FloatOr = float | Sequence[float]


class Upsample(Module):
    """Resample ``(N, C, *spatial)`` to ``size`` or by ``scale_factor`` (see
    :func:`cr.nn.functional.interpolate` for the modes and ``align_corners``)."""

    def __init__(self, size: _IntOr | None = None, scale_factor: _FloatOr | None = None,
                 mode: str = "nearest", align_corners: bool | None = None,
                 recompute_scale_factor: bool | None = None) -> None:
        super().__init__()
        self.name = type(self).__name__
        self.size = size
        if isinstance(scale_factor, (tuple, list)):
            self.scale_factor: float | tuple[float, ...] | None = tuple(
                float(f) for f in scale_factor)
        else:  # (a zero scale factor means none, as in PyTorch)
            self.scale_factor = float(cast(float, scale_factor)) if scale_factor else None
        self.mode = mode
        self.align_corners = align_corners
        self.recompute_scale_factor = recompute_scale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.interpolate(input, self.size, self.scale_factor, self.mode, self.align_corners,
                             recompute_scale_factor=self.recompute_scale_factor)

    def extra_repr(self) -> str:
        if self.scale_factor is not None:
            info = f"scale_factor={self.scale_factor!r}"
        else:
            info = f"size={self.size!r}"
        return f"{info}, mode={self.mode!r}"


class UpsamplingNearest2d(Upsample):
    """``Upsample(size, scale_factor, mode='nearest')`` (PyTorch's older name)."""

    def __init__(self, size: _IntOr | None = None,
                 scale_factor: _FloatOr | None = None) -> None:
        super().__init__(size, scale_factor, mode="nearest")


class UpsamplingBilinear2d(Upsample):
    """``Upsample(size, scale_factor, mode='bilinear', align_corners=True)`` (PyTorch's older
    name; note the aligned corners)."""

    def __init__(self, size: _IntOr | None = None,
                 scale_factor: _FloatOr | None = None) -> None:
        super().__init__(size, scale_factor, mode="bilinear", align_corners=True)


class PixelShuffle(Module):
    """``(*, C·r², H, W)`` -> ``(*, C, H·r, W·r)``: channels rearranged into ``r × r`` blocks
    (sub-pixel convolution's upsampling)."""

    def __init__(self, upscale_factor: int) -> None:
        super().__init__()
        self.upscale_factor = upscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_shuffle(input, self.upscale_factor)

    def extra_repr(self) -> str:
        return f"upscale_factor={self.upscale_factor}"


class PixelUnshuffle(Module):
    """``(*, C, H·r, W·r)`` -> ``(*, C·r², H, W)``, the inverse of :class:`PixelShuffle`."""

    def __init__(self, downscale_factor: int) -> None:
        super().__init__()
        self.downscale_factor = downscale_factor

    def forward(self, input: Tensor) -> Tensor:
        return F.pixel_unshuffle(input, self.downscale_factor)

    def extra_repr(self) -> str:
        return f"downscale_factor={self.downscale_factor}"


class ChannelShuffle(Module):
    """Interleave ``groups`` groups of the channels of ``(N, C, *)`` (ShuffleNet)."""

    def __init__(self, groups: int) -> None:
        super().__init__()
        self.groups = groups

    def forward(self, input: Tensor) -> Tensor:
        return F.channel_shuffle(input, self.groups)

    def extra_repr(self) -> str:
        return f"groups={self.groups}"
