"""Lazy layers (``LazyLinear``, ``LazyConv*``, ...): their input size is read from the first input.

A lazy layer is built without its input size (``in_features``, ``in_channels`` or
``num_features``); its parameters start as :class:`~chainrule.nn.parameter.UninitializedParameter`
(no shape: reading it or computing with it raises an error saying to run a forward first).
The first forward reads the size from the input, creates the parameters with the default
initialisation of the matching layer, and turns the module into that layer
(``type(m) is cr.nn.Linear`` afterwards), as PyTorch does. ``load_state_dict`` into an
uninitialized lazy layer gives the parameters the loaded shapes instead; the next forward
checks that the input fits them and then turns the module into the plain layer.

>>> import chainrule as cr
>>> fc = cr.nn.LazyLinear(2)
>>> fc.has_uninitialized_params()
True
>>> fc(cr.ones(5, 3)).shape
(5, 2)
>>> fc
Linear(in_features=3, out_features=2, bias=True)
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ...tensor import Tensor
from ..parameter import UninitializedBuffer, UninitializedParameter, is_lazy
from .conv import Conv1d, Conv2d, Conv3d, ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from .linear import Linear
from .module import Module
from .normalization import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    InstanceNorm1d,
    InstanceNorm2d,
    InstanceNorm3d,
    _InstanceNorm,
)

# (the placeholders are exported from here too, so that cr.nn has them, as torch.nn does;
# LazyModuleMixin is reached as cr.nn.modules.lazy.LazyModuleMixin, as in PyTorch)
__all__ = ["LazyLinear", "LazyConv1d", "LazyConv2d", "LazyConv3d",
           "LazyConvTranspose1d", "LazyConvTranspose2d", "LazyConvTranspose3d",
           "LazyBatchNorm1d", "LazyBatchNorm2d", "LazyBatchNorm3d",
           "LazyInstanceNorm1d", "LazyInstanceNorm2d", "LazyInstanceNorm3d",
           "UninitializedParameter", "UninitializedBuffer"]

if TYPE_CHECKING:  # (for the type checker the mixin is the Module it is always mixed into)
    _MixinBase = Module
else:
    _MixinBase = object


def _shape_of(input: Any) -> tuple[int, ...]:
    return tuple(input.shape) if hasattr(input, "shape") else np.shape(input)


class LazyModuleMixin(_MixinBase):
    """Makes a layer lazy: its parameters have no shape until the first forward.

    Before the first call the module's uninitialized parameters and buffers are
    :class:`~chainrule.nn.parameter.UninitializedParameter` / ``UninitializedBuffer``; they are
    registered (``parameters()`` lists them, an optimizer may be built over them, as in
    PyTorch) but have no shape. A forward pre-hook runs :meth:`initialize_parameters` on the
    first input, then the module's class becomes ``cls_to_become``.

    A layer made lazy says which attribute holds the input size (``_size_attr``), how to read
    it from an input (``_infer_size``) and which shape each lazy tensor then has
    (``_lazy_shapes``); a user's own lazy module may instead override
    :meth:`initialize_parameters`.
    """

    cls_to_become: type[Module] | None = None
    _size_attr = ""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._initialize_hook = self.register_forward_pre_hook(_infer_parameters,
                                                               with_kwargs=True)

    def has_uninitialized_params(self) -> bool:
        """Whether any of this module's own parameters or buffers has no shape yet."""
        tensors = itertools.chain(self._parameters.values(), self._buffers.values())
        return any(is_lazy(t) for t in tensors)

    def initialize_parameters(self, input: Any, *args: Any, **kwargs: Any) -> None:
        """Read the input size from ``input`` and create the parameters with their default
        initialisation. If they were loaded by ``load_state_dict`` already, check that
        ``input`` fits them instead. (The class changes on the first forward only.)"""
        size = self._infer_size(input)
        shapes = {name: shape for name, shape in self._lazy_shapes(size).items()
                  if getattr(self, name) is not None}
        lazy = [name for name in shapes if is_lazy(getattr(self, name))]
        if lazy and len(lazy) < len(shapes):
            loaded = [name for name in shapes if name not in lazy]
            raise RuntimeError(
                f"{type(self).__name__}: load_state_dict gave {loaded} but not {lazy}; load "
                "all of the layer's parameters and buffers before its first forward, or none")
        if not lazy:
            self._check_loaded(shapes, size)
        setattr(self, self._size_attr, size)
        if lazy:
            for name in lazy:
                getattr(self, name).materialize(shapes[name])
            self.reset_parameters()

    def reset_parameters(self) -> None:
        # (the layer's own initialisation, once there is something to initialise)
        if not self.has_uninitialized_params() and getattr(self, self._size_attr, 0) != 0:
            super().reset_parameters()  # type: ignore[misc]

    def _check_loaded(self, shapes: dict[str, tuple[int, ...]], size: int) -> None:
        for name, shape in shapes.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                raise RuntimeError(
                    f"{type(self).__name__}: the input gives {self._size_attr}={size}, so "
                    f"{name} should have shape {shape}, but the state dict loaded into it has "
                    f"shape {got}; give an input that fits the loaded parameters")

    def _infer_size(self, input: Any) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define _infer_size or override "
                                  "initialize_parameters")

    def _lazy_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        raise NotImplementedError(f"{type(self).__name__} must define _lazy_shapes or "
                                  "override initialize_parameters")


def _infer_parameters(module: Any, args: tuple, kwargs: dict) -> None:
    """The forward pre-hook of a lazy module: initialise, then become the plain layer."""
    module.initialize_parameters(*args, **kwargs)
    if module.has_uninitialized_params():
        raise RuntimeError(f"module {type(module).__name__} has not been fully initialized "
                           "by initialize_parameters")
    module._initialize_hook.remove()
    del module._initialize_hook
    if module.cls_to_become is not None:
        module.__class__ = module.cls_to_become


# --------------------------------------------------------------------------- Linear

class LazyLinear(LazyModuleMixin, Linear):
    """A :class:`~chainrule.nn.Linear` whose ``in_features`` is the last dim of the first
    input; it becomes a ``Linear`` then (weight and bias drawn as ``Linear``'s)."""

    cls_to_become = Linear
    _size_attr = "in_features"

    def __init__(self, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(0, 0, False)
        self.out_features = out_features
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def _infer_size(self, input: Any) -> int:
        shape = _shape_of(input)
        if not shape:
            raise ValueError("LazyLinear: cannot read in_features from a 0-d input; give an "
                             "input whose last dim holds the features, e.g. of shape (N, in)")
        return shape[-1]

    def _lazy_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        return {"weight": (self.out_features, size), "bias": (self.out_features,)}


# --------------------------------------------------------------------------- convolutions

class _LazyConvBase(LazyModuleMixin):
    _size_attr = "in_channels"
    weight: Any  # (a Parameter once initialized)
    bias: Any

    def _make_lazy(self, out_channels: int, bias: bool, dtype: Any) -> None:
        if out_channels % self.groups:
            raise ValueError(f"{type(self).__name__}: out_channels ({out_channels}) must be "
                             f"divisible by groups ({self.groups})")
        self.out_channels = out_channels
        self.weight = UninitializedParameter(dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(dtype=dtype)

    def _infer_size(self, input: Any) -> int:
        shape, nd, name = _shape_of(input), self._nd, type(self).__name__
        if len(shape) not in (nd + 1, nd + 2):
            raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input "
                               f"to {name}, but got input of size: {shape}")
        channels = shape[0] if len(shape) == nd + 1 else shape[1]
        if channels % self.groups:
            raise ValueError(f"{name}: in_channels must be divisible by groups; the input "
                             f"has {channels} channels and groups={self.groups}")
        return channels

    def _lazy_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        if self.transposed:
            weight = (size, self.out_channels // self.groups) + self.kernel_size
        else:
            weight = (self.out_channels, size // self.groups) + self.kernel_size
        return {"weight": weight, "bias": (self.out_channels,)}


class _LazyConv(_LazyConvBase):
    def __init__(self, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] | str = 0,
                 dilation: int | Sequence[int] = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        super().__init__(0, 0, kernel_size, stride, padding, dilation, groups, False,
                         padding_mode)
        self._make_lazy(out_channels, bias, dtype)


class _LazyConvTranspose(_LazyConvBase):
    def __init__(self, out_channels: int, kernel_size: int | Sequence[int],
                 stride: int | Sequence[int] = 1, padding: int | Sequence[int] = 0,
                 output_padding: int | Sequence[int] = 0, groups: int = 1, bias: bool = True,
                 dilation: int | Sequence[int] = 1, padding_mode: str = "zeros",
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__(0, 0, kernel_size, stride, padding, output_padding, groups, False,
                         dilation, padding_mode)
        self._make_lazy(out_channels, bias, dtype)


class LazyConv1d(_LazyConv, Conv1d):
    """A :class:`~chainrule.nn.Conv1d` whose ``in_channels`` is read from the first input
    (dim 1, or dim 0 of an unbatched input); it becomes a ``Conv1d`` then."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConv, Conv2d):
    """A :class:`~chainrule.nn.Conv2d` whose ``in_channels`` is read from the first input
    (dim 1, or dim 0 of an unbatched input); it becomes a ``Conv2d`` then."""

    cls_to_become = Conv2d


class LazyConv3d(_LazyConv, Conv3d):
    """A :class:`~chainrule.nn.Conv3d` whose ``in_channels`` is read from the first input
    (dim 1, or dim 0 of an unbatched input); it becomes a ``Conv3d`` then."""

    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvTranspose, ConvTranspose1d):
    """A :class:`~chainrule.nn.ConvTranspose1d` whose ``in_channels`` is read from the first
    input; it becomes a ``ConvTranspose1d`` then."""

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvTranspose, ConvTranspose2d):
    """A :class:`~chainrule.nn.ConvTranspose2d` whose ``in_channels`` is read from the first
    input; it becomes a ``ConvTranspose2d`` then."""

    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvTranspose, ConvTranspose3d):
    """A :class:`~chainrule.nn.ConvTranspose3d` whose ``in_channels`` is read from the first
    input; it becomes a ``ConvTranspose3d`` then."""

    cls_to_become = ConvTranspose3d


# --------------------------------------------------------------------------- normalisation

class _LazyNorm(LazyModuleMixin):
    """``affine=True`` and ``track_running_stats=True`` by default, for instance norm too (as
    PyTorch's lazy layers; the plain ``InstanceNorm*d`` defaults to False for both)."""

    _size_attr = "num_features"

    def __init__(self, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, device: Any = None, dtype: Any = None, *,
                 bias: bool = True) -> None:
        # (built without affine and statistics, which are then added uninitialized)
        super().__init__(0, eps, momentum, False, False, bias=False)
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = UninitializedParameter(dtype=dtype)
            if bias:
                self.bias = UninitializedParameter(dtype=dtype)
        if track_running_stats:
            self.running_mean = UninitializedBuffer(dtype=dtype)
            self.running_var = UninitializedBuffer(dtype=dtype)
            self.num_batches_tracked = Tensor._make(np.zeros((), dtype=np.int64))

    def _infer_size(self, input: Any) -> int:
        shape = _shape_of(input)
        unbatched = isinstance(self, _InstanceNorm) and len(shape) == self._dims[0] - 1
        if not unbatched and len(shape) not in self._dims:
            ranks = sorted(set(self._dims) | ({self._dims[0] - 1} if isinstance(
                self, _InstanceNorm) else set()))
            raise ValueError(f"{type(self).__name__}: expected a "
                             f"{' or '.join(map(str, ranks))}-D input, got shape {shape}")
        return shape[0] if unbatched else shape[1]

    def _lazy_shapes(self, size: int) -> dict[str, tuple[int, ...]]:
        return {name: (size,) for name in ("weight", "bias", "running_mean", "running_var")}


class LazyBatchNorm1d(_LazyNorm, BatchNorm1d):
    """A :class:`~chainrule.nn.BatchNorm1d` whose ``num_features`` is dim 1 of the first
    input; it becomes a ``BatchNorm1d`` then."""

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNorm, BatchNorm2d):
    """A :class:`~chainrule.nn.BatchNorm2d` whose ``num_features`` is dim 1 of the first
    input; it becomes a ``BatchNorm2d`` then."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNorm, BatchNorm3d):
    """A :class:`~chainrule.nn.BatchNorm3d` whose ``num_features`` is dim 1 of the first
    input; it becomes a ``BatchNorm3d`` then."""

    cls_to_become = BatchNorm3d


class LazyInstanceNorm1d(_LazyNorm, InstanceNorm1d):
    """An :class:`~chainrule.nn.InstanceNorm1d` whose ``num_features`` is the channel dim of
    the first input (dim 1; dim 0 of an unbatched one, where PyTorch reads dim 1 and fails);
    ``affine`` and ``track_running_stats`` default to True, as PyTorch's."""

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyNorm, InstanceNorm2d):
    """An :class:`~chainrule.nn.InstanceNorm2d` whose ``num_features`` is the channel dim of
    the first input; see :class:`LazyInstanceNorm1d`."""

    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyNorm, InstanceNorm3d):
    """An :class:`~chainrule.nn.InstanceNorm3d` whose ``num_features`` is the channel dim of
    the first input; see :class:`LazyInstanceNorm1d`."""

    cls_to_become = InstanceNorm3d
