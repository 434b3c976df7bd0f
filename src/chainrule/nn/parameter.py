"""``Parameter``: a leaf tensor that a :class:`~chainrule.nn.Module` registers as learnable;
``UninitializedParameter`` / ``UninitializedBuffer``: the placeholders of lazy layers."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtypes
from ..engine import bump_version, version_box
from ..ops.registry import OpError
from ..tensor import Tensor, _to_array

__all__ = ["Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer", "is_lazy"]


def _init_slots(t: Tensor, data: np.ndarray, vbox: list[int] | None) -> None:
    """Fill every slot as ``Tensor._make`` does (so new core slots are covered too)."""
    plain = Tensor._make(data)
    for slot in Tensor.__slots__:
        if slot != "__weakref__":
            object.__setattr__(t, slot, getattr(plain, slot))
    t._vbox = vbox


class Parameter(Tensor):
    """A tensor that is a module's learnable parameter.

    Assigning a ``Parameter`` as a module attribute registers it (it then shows up in
    ``parameters()`` and ``state_dict()``). It always is a leaf and requires grad unless
    told otherwise. ``Parameter(t)`` shares memory (and the in-place version) with ``t``.

    Its ``name`` is set to its path in the model (``"fc1.weight"``) when it is registered and
    whenever ``named_parameters()`` walks the model, so explanation tools can show it.

    >>> import chainrule as cr
    >>> p = cr.nn.Parameter(cr.zeros(2))
    >>> p
    Parameter containing:
    tensor([0., 0.], requires_grad=True)
    """

    __slots__ = ()

    def __init__(self, data: Any = None, requires_grad: bool = True) -> None:
        if data is None:
            arr = np.empty((0,), dtype=_dtypes.get_default_dtype())
            vbox = None
        elif isinstance(data, Tensor):
            arr, vbox = data.data, version_box(data)
        else:
            arr, vbox = _to_array(data, None, copy=False), None
        _init_slots(self, arr, vbox)
        if requires_grad:
            self.requires_grad_()

    def __repr__(self) -> str:
        plain = Tensor._make(self.data)
        plain.requires_grad = self.requires_grad
        return "Parameter containing:\n" + repr(plain)

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        p = Parameter(self.data.copy(), self.requires_grad)
        p.name = self.name
        if self.grad is not None:
            p.grad = Tensor._make(self.grad.data.copy())
        memo[id(self)] = p
        return p


class Buffer(Tensor):
    """Marks a tensor to be registered as a module buffer when assigned as an attribute
    (``self.steps = cr.nn.Buffer(cr.zeros(()))``), as ``torch.nn.Buffer``.

    ``persistent=False`` keeps it out of the state dict.
    """

    __slots__ = ("persistent",)

    def __init__(self, data: Any, *, persistent: bool = True) -> None:
        t = data if isinstance(data, Tensor) else Tensor._make(_to_array(data, None, copy=True))
        _init_slots(self, t.data, version_box(t))
        self.persistent = persistent


# --------------------------------------------------------------------------- lazy placeholders

_HOW_TO_INITIALIZE = ("This happens with a lazy module (LazyLinear, LazyConv2d, ...) before its "
                      "first forward: run the module once on a sample batch (that infers the "
                      "input size and creates the parameters), or load_state_dict into it.")


class UninitializedUseError(OpError, RuntimeError):
    """An uninitialized parameter or buffer was used. Both a ``RuntimeError`` (what PyTorch
    raises when the shape is read) and a ``ValueError`` (what it raises when the tensor is used
    in an operation), since which of the two an operation hits first is an accident of its
    code."""


class _Unmaterialized(np.ndarray):
    """The ``data`` of an uninitialized parameter or buffer: an empty array that knows its
    dtype (so ``.dtype``, ``.to(dtype)`` and an optimizer's checks work) and refuses every other
    use with an error that says what to do.

    Operations reach the array through NumPy's ufunc and array-function protocols, or through
    the few methods and attributes overridden below; each of these raises.
    """

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        raise UninitializedUseError(_use_message(f"numpy.{ufunc.__name__}"))

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        raise UninitializedUseError(_use_message(f"numpy.{func.__name__}"))

    @property  # type: ignore[override, misc]
    def shape(self) -> Any:
        raise UninitializedUseError("Can't access the shape of an uninitialized parameter or "
                                    "buffer. " + _HOW_TO_INITIALIZE)

    ndim = size = T = shape  # type: ignore[assignment]

    def astype(self, dtype: Any, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Another placeholder, of ``dtype`` (``module.to(cr.float64)`` before the first
        forward sets the dtype the parameters will be created with)."""
        return _placeholder(dtype)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise UninitializedUseError(_use_message("an array method"))

    __getitem__ = __setitem__ = __iter__ = __len__ = __bool__ = _refuse  # type: ignore
    reshape = transpose = copy = ravel = flatten = item = tolist = fill = _refuse  # type: ignore

    def __repr__(self) -> str:
        return f"<uninitialized array of dtype {self.dtype}>"


def _use_message(where: str) -> str:
    return f"Attempted to use an uninitialized parameter or buffer in {where}. {_HOW_TO_INITIALIZE}"


def _placeholder(dtype: Any) -> np.ndarray:
    d = _dtypes.get_default_dtype() if dtype is None else _dtypes.as_dtype(dtype)
    return np.ndarray.view(np.empty((0,), dtype=d), _Unmaterialized)


class UninitializedTensorMixin:
    """What uninitialized parameters and buffers share: no shape yet (reading it, or using the
    tensor in an operation, raises an error saying to run a forward first), a dtype, and
    :meth:`materialize`, which gives them a shape and turns them into ``cls_to_become``."""

    __slots__ = ()
    cls_to_become: type[Tensor]

    def _init_placeholder(self, requires_grad: bool, dtype: Any) -> None:
        t: Any = self
        _init_slots(t, _placeholder(dtype), None)
        if requires_grad:
            t.requires_grad_()

    def materialize(self, shape: int | tuple[int, ...], device: Any = None,
                    dtype: Any = None) -> None:
        """Create the data, of ``shape`` (zeros; the layer then initialises it), and become a
        ``Parameter`` (or a plain tensor, for a buffer); the object stays the same, so an
        optimizer built before keeps working."""
        t: Any = self
        dims = (shape,) if isinstance(shape, int) else tuple(int(n) for n in shape)
        d = t.data.dtype if dtype is None else _dtypes.as_dtype(dtype)
        t.__class__ = self.cls_to_become
        t.data = np.zeros(dims, dtype=d)
        bump_version(t)

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def detach(self) -> Any:
        raise UninitializedUseError(_use_message("detach()"))

    def clone(self) -> Any:
        raise UninitializedUseError(_use_message("clone()"))

    def __deepcopy__(self, memo: dict) -> Any:
        t: Any = self
        new = type(self)(requires_grad=t.requires_grad, dtype=t.data.dtype)  # type: ignore
        memo[id(self)] = new
        return new


class UninitializedParameter(UninitializedTensorMixin, Parameter):
    """A parameter whose shape is not known yet (a lazy layer's, before its first forward).

    It is registered like any parameter (so ``parameters()`` and an optimizer can hold it), has
    a dtype, but no shape: reading the shape raises a ``RuntimeError`` and using it in an
    operation a ``ValueError``, both saying to run a forward first (or load a state dict).
    :meth:`materialize` gives it its shape and turns it into a :class:`Parameter`.

    >>> import chainrule as cr
    >>> p = cr.nn.parameter.UninitializedParameter()
    >>> p.materialize((2, 3))
    >>> type(p).__name__, p.shape
    ('Parameter', (2, 3))
    """

    __slots__ = ()
    cls_to_become = Parameter

    def __init__(self, requires_grad: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        self._init_placeholder(requires_grad, dtype)


class UninitializedBuffer(UninitializedTensorMixin, Tensor):
    """A buffer whose shape is not known yet (a lazy batch norm's running statistics); see
    :class:`UninitializedParameter`. :meth:`materialize` turns it into a plain tensor.

    Assigned as a module attribute it is registered as a buffer (as PyTorch's). Unlike
    PyTorch's there is no ``persistent`` argument: register it with
    ``module.register_buffer(name, buffer, persistent=False)`` for that.
    """

    __slots__ = ()
    cls_to_become = Tensor

    def __init__(self, requires_grad: bool = False, device: Any = None,
                 dtype: Any = None) -> None:
        self._init_placeholder(requires_grad, dtype)


def is_lazy(param: Any) -> bool:
    """Whether ``param`` is an uninitialized parameter or buffer (it has no shape yet)."""
    return isinstance(param, UninitializedTensorMixin)
