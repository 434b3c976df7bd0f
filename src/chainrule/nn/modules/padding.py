"""Padding layers over ``cr.nn.functional.pad``: ``ZeroPad1d/2d/3d``, ``ConstantPad1d/2d/3d``,
``ReflectionPad1d/2d/3d``, ``ReplicationPad1d/2d/3d``, ``CircularPad1d/2d/3d``.

``padding`` is an int (the same on every side) or a tuple in PyTorch's order, the last dim
first: ``(left, right)``, ``(left, right, top, bottom)``, ``(left, right, top, bottom, front,
back)``. Negative values crop. The gradient of a pad is the slice of the gradient that covers
the input, plus (reflect, replicate, circular) the gradients of the copied entries added onto
the entries they copy.

>>> import chainrule as cr
>>> cr.nn.ReflectionPad1d(2)(cr.tensor([[[0.0, 1.0, 2.0, 3.0]]]))
tensor([[[2., 1., 0., 1., 2., 3., 2., 1.]]])
>>> cr.nn.ZeroPad2d((1, 1, 2, 0))(cr.ones(1, 1, 2, 2)).shape
(1, 1, 4, 4)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...ops._util import ndim_of, shape_of
from ...tensor import Tensor
from .. import functional as F
from .module import Module

__all__ = ["CircularPad1d", "CircularPad2d", "CircularPad3d", "ConstantPad1d", "ConstantPad2d",
           "ConstantPad3d", "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
           "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d", "ZeroPad1d", "ZeroPad2d",
           "ZeroPad3d"]

_IntOr = int | Sequence[int]


def _ntuple(padding: Any, n: int, who: str) -> tuple[int, ...]:
    """PyTorch's ``_ntuple(n)``: an int repeated ``n`` times; a sequence kept as given."""
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        return (int(padding),) * n
    try:
        values = tuple(padding)
    except TypeError:
        raise TypeError(f"{who}: padding must be an int or a tuple of {n} ints, got "
                        f"{padding!r}") from None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{who}: padding must be an int or a tuple of {n} ints, got "
                        f"{padding!r}")
    return tuple(int(v) for v in values)


class _PadNd(Module):
    _nd = 1
    _mode = "constant"
    # The smallest output size allowed along a padded dim. (PyTorch's 2-D and 3-D reflection
    # and replication kernels need only one padded dim to be non-empty; an empty one is
    # refused here, as the 1-D kernels refuse it, and reflection's gradient then is garbage.)
    _least = 1

    def __init__(self, padding: _IntOr) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._nd, type(self).__name__)

    def _check(self, input: Any) -> None:
        """PyTorch's rule for the non-constant modes: a pad of 2k values (k = 1, 2, 3) pads
        the last k dims of a (k+1)-D (unbatched) or (k+2)-D (batched) input."""
        who, nd, p = type(self).__name__, ndim_of(input), self.padding
        if len(p) % 2:
            raise ValueError(f"{who}: padding {p} must have an even length (a before and an "
                             f"after value per padded dim)")
        k = len(p) // 2
        if k not in (1, 2, 3) or nd not in (k + 1, k + 2):
            raise NotImplementedError(
                f"{who}: padding {p} pads the last {k} dims, which needs a {k + 1}-D "
                f"(unbatched) or {k + 2}-D (batched) input; got an input of shape "
                f"{shape_of(input)}")
        shape = shape_of(input)
        for i in range(k):
            lo, hi = p[2 * i], p[2 * i + 1]
            n = shape[nd - 1 - i]
            if n + lo + hi < self._least:
                raise ValueError(f"{who}: padding ({lo}, {hi}) of dim {nd - 1 - i} (size {n}) "
                                 f"leaves an output of size {n + lo + hi} (input shape {shape})")

    def forward(self, input: Tensor) -> Tensor:
        self._check(input)
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ReflectionPadNd(_PadNd):
    _mode = "reflect"

    def _check(self, input: Any) -> None:
        super()._check(input)
        who, p, shape = type(self).__name__, self.padding, shape_of(input)
        for i in range(len(p) // 2):
            lo, hi = p[2 * i], p[2 * i + 1]
            n = shape[len(shape) - 1 - i]
            if lo >= n or hi >= n:
                raise ValueError(f"{who}: padding ({lo}, {hi}) should be less than the size "
                                 f"{n} of the dim it pads (dim {len(shape) - 1 - i} of input "
                                 f"shape {shape}); a reflection repeats no edge entry, so it "
                                 f"can add at most size - 1 entries on a side")


class ReflectionPad1d(_ReflectionPadNd):
    """Pad the last dim of ``(C, W)`` or ``(N, C, W)`` with its reflection about the edge
    entries (which are not repeated): ``[a, b, c]`` padded by 2 is ``[c, b, a, b, c, b, a]``."""

    _nd = 1


class ReflectionPad2d(_ReflectionPadNd):
    """Reflection padding of the last two dims of ``(C, H, W)`` or ``(N, C, H, W)``."""

    _nd = 2


class ReflectionPad3d(_ReflectionPadNd):
    """Reflection padding of the last three dims of ``(C, D, H, W)`` or ``(N, C, D, H, W)``."""

    _nd = 3


class _ReplicationPadNd(_PadNd):
    _mode = "replicate"


class ReplicationPad1d(_ReplicationPadNd):
    """Pad the last dim of ``(C, W)`` or ``(N, C, W)`` by repeating its edge entries."""

    _nd = 1


class ReplicationPad2d(_ReplicationPadNd):
    """Replication padding of the last two dims of ``(C, H, W)`` or ``(N, C, H, W)``."""

    _nd = 2


class ReplicationPad3d(_ReplicationPadNd):
    """Replication padding of the last three dims of ``(C, D, H, W)`` or
    ``(N, C, D, H, W)``."""

    _nd = 3


class _CircularPadNd(_PadNd):
    _mode = "circular"
    _least = 0

    def _check(self, input: Any) -> None:
        nd, k = ndim_of(input), self._nd
        if nd not in (k + 1, k + 2):  # PyTorch checks the input's dims first, as ValueError
            raise ValueError(f"{type(self).__name__}: expected {k + 1}D or {k + 2}D input "
                             f"(got {nd}D input of shape {shape_of(input)})")
        super()._check(input)


class CircularPad1d(_CircularPadNd):
    """Pad the last dim of ``(C, W)`` or ``(N, C, W)`` by wrapping around:
    ``[a, b, c]`` padded by 1 is ``[c, a, b, c, a]``."""

    _nd = 1


class CircularPad2d(_CircularPadNd):
    """Circular padding of the last two dims of ``(C, H, W)`` or ``(N, C, H, W)``."""

    _nd = 2


class CircularPad3d(_CircularPadNd):
    """Circular padding of the last three dims of ``(C, D, H, W)`` or ``(N, C, D, H, W)``."""

    _nd = 3


class _ConstantPadNd(Module):
    _nd = 1

    def __init__(self, padding: _IntOr, value: float) -> None:
        super().__init__()
        self.padding = _ntuple(padding, 2 * self._nd, type(self).__name__)
        self.value = value

    def forward(self, input: Tensor) -> Tensor:
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pad the last dim with ``value``: ``padding`` is an int or ``(left, right)``."""

    _nd = 1


class ConstantPad2d(_ConstantPadNd):
    """Pad the last two dims with ``value``: an int or ``(left, right, top, bottom)``."""

    _nd = 2


class ConstantPad3d(_ConstantPadNd):
    """Pad the last three dims with ``value``: an int or ``(left, right, top, bottom, front,
    back)``."""

    _nd = 3


class ZeroPad1d(ConstantPad1d):
    """Pad the last dim with zeros: ``padding`` is an int or ``(left, right)``."""

    def __init__(self, padding: _IntOr) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Pad the last two dims with zeros: an int or ``(left, right, top, bottom)``."""

    def __init__(self, padding: _IntOr) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Pad the last three dims with zeros: an int or ``(left, right, top, bottom, front,
    back)``."""

    def __init__(self, padding: _IntOr) -> None:
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"
