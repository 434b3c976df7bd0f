"""The Tensor: a NumPy array plus what the chain rule needs (its node, its gradient)."""

from __future__ import annotations

import builtins
import copy
import warnings
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from . import _dtypes
from . import engine as _engine
from .engine import STATE, ChainruleError, Node, _refresh_view, walk
from .ops import elementwise as _E
from .ops._util import norm_dim, norm_dims
from .ops.registry import OpError

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


def _twins(names: str) -> tuple[Callable[..., Tensor], ...]:
    """The in-place twins (``exp_``, ``clamp_min_``, ``eq_``...) of the methods named."""
    return tuple(_twin(name) for name in names.split())


def _twin(name: str) -> Callable[..., Tensor]:
    """``x.NAME_(...)``: ``x.NAME(...)`` computed out of place and written into x by
    ``Tensor._inplace`` (the version bump, the new history, the refusal for leaves that
    require grad, the write-back into a view's base)."""
    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        def compute(old: Tensor) -> Tensor:
            out = getattr(old, name)(*args, **kwargs)
            if old.requires_grad and not out.requires_grad and STATE.grad_enabled:
                out = _replace(old, out)  # (a comparison: a zero gradient, as PyTorch's eq_)
            return out
        try:
            return self._inplace(compute, *args, *kwargs.values())
        except (TypeError, ValueError) as e:
            if str(e).startswith("in-place operation"):  # (the result does not fit in x)
                raise type(e)(f"{name}_: {e}") from None
            raise
    method.__name__ = method.__qualname__ = f"{name}_"
    method.__doc__ = f"``{name}`` in place: ``x.{name}_(...)`` writes ``x.{name}(...)`` into x."
    return method


class Tensor:
    """An n-dimensional array that records the operations applied to it.

    ``data`` is the NumPy array holding the values (a view into it is what ``numpy()`` gives).
    ``grad_fn`` is the node of the op that produced the tensor (``None`` for leaves).

    >>> import chainrule as cr
    >>> x = cr.tensor(3.0, requires_grad=True)
    >>> y = x ** 2
    >>> y.backward()
    >>> x.grad
    tensor(6.)
    """

    __slots__ = ("data", "requires_grad", "_grad", "grad_fn", "name", "_vbox", "_hooks",
                 "_tangents", "_view", "__weakref__")
    __array_priority__ = 1000

    data: np.ndarray
    requires_grad: bool
    _grad: Tensor | None  # read and set through the ``grad`` property, which checks
    grad_fn: Node | None
    name: str | None
    _vbox: list[builtins.int] | None  # [in-place version, epoch of its last change] (shared)
    _hooks: list[Callable] | None
    _tangents: dict[builtins.int, Tensor] | None  # forward-mode tangents by level
    # For a view sharing memory with its base: (base, view op, its params, the base's in-place
    # version when this view's grad_fn was made). See _inplace and engine.apply.
    _view: tuple | None

    def __init__(self, data: ArrayLike, dtype: Any = None, requires_grad: builtins.bool = False,
                 name: str | None = None) -> None:
        t = tensor(data, dtype=dtype, requires_grad=requires_grad, name=name)
        for slot in Tensor.__slots__[:-1]:
            object.__setattr__(self, slot, getattr(t, slot))

    @staticmethod
    def _make(data: np.ndarray) -> Tensor:
        """A new tensor around ``data`` (no copy, no checks): the engine's fast path."""
        t = object.__new__(Tensor)
        t.data = data
        t.requires_grad = False
        t._grad = None
        t.grad_fn = None
        t.name = None
        t._vbox = None  # made by engine.version_box when first needed
        t._hooks = None
        t._tangents = None
        t._view = None
        return t

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self) -> tuple[builtins.int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> builtins.int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_leaf(self) -> builtins.bool:
        """True for tensors not produced by a recorded op (their ``.grad`` is filled)."""
        return self.grad_fn is None

    @property
    def T(self) -> Tensor:
        """The dims reversed (a matrix's transpose)."""
        return F.permute(self, tuple(range(self.ndim - 1, -1, -1)))

    def t(self) -> Tensor:
        """The transpose of a matrix (a tensor of at most 2 dims, as PyTorch's ``t()``)."""
        if self.ndim > 2:
            raise ValueError(f"t: expects a tensor of at most 2 dims, got shape {self.shape}; "
                             "use .mT or transpose(dim0, dim1) for more dims")
        return self.T

    @property
    def mT(self) -> Tensor:
        """The transpose of the last two dims (a batch of matrices)."""
        return F.transpose(self, -2, -1)

    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by backward: filled for leaves, and for non-leaf tensors
        after ``retain_grad()`` (reading it on another non-leaf warns, as PyTorch does)."""
        g = self._grad
        if g is None and self.grad_fn is not None and self.grad_fn.retain is None:
            warnings.warn(
                "The .grad attribute of a tensor that is not a leaf is being read; backward "
                "does not fill it. Call .retain_grad() on it before backward if you want its "
                "gradient, or read the .grad of the leaf tensor instead.",
                UserWarning, stacklevel=2)
        return g

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"grad: expected a tensor or None, got "
                                f"{type(value).__name__}; wrap it with cr.tensor(...)")
            if value.data.shape != self.data.shape:
                raise ChainruleError(f"grad: cannot assign a gradient of shape "
                                     f"{value.data.shape} to a tensor of shape "
                                     f"{self.data.shape}; they must match")
        self._grad = value

    @property
    def retains_grad(self) -> builtins.bool:
        """Whether ``retain_grad()`` was called on this non-leaf tensor (False for leaves)."""
        return self.grad_fn is not None and self.grad_fn.retain is not None

    @property
    def _version(self) -> builtins.int:
        return self._vbox[0] if self._vbox is not None else 0

    def size(self, dim: builtins.int | None = None) -> Any:
        if dim is None:
            return self.data.shape
        if self.data.ndim == 0:
            raise IndexError(f"size: a 0-d tensor has no dim {dim}")
        return self.data.shape[norm_dim(dim, self.data.ndim, "size")]

    def numel(self) -> builtins.int:
        return int(self.data.size)

    def dim(self) -> builtins.int:
        return self.data.ndim

    def element_size(self) -> builtins.int:
        return self.data.itemsize

    def is_floating_point(self) -> builtins.bool:
        return self.data.dtype.kind == "f"

    # ------------------------------------------------------------------ autograd
    def backward(self, gradient: Any = None, retain_graph: builtins.bool = False,
                 create_graph: builtins.bool = False, inputs: Any = None) -> None:
        """Backpropagate from this tensor: leaves' ``.grad`` accumulate ∂self/∂leaf.

        ``gradient`` is ∂L/∂self (needed unless self has one element). With ``inputs``, only
        those tensors accumulate a gradient (and only the graph leading to them runs).
        """
        if not self.requires_grad:
            raise ChainruleError(
                "backward: this tensor does not require grad and has no grad_fn; make an input "
                "require grad (cr.tensor(..., requires_grad=True)) before computing it")
        g = _root_gradient(self, gradient, "backward")
        backward_from([self], [g], retain_graph or create_graph, create_graph, inputs)

    def detach(self) -> Tensor:
        """The same values, cut from the graph (shares memory)."""
        t = Tensor._make(self.data)
        t._vbox = _engine.version_box(self)
        return t

    def detach_(self) -> Tensor:
        """Cut this tensor from the graph in place (it becomes a leaf not requiring grad)."""
        if self._view is not None:
            raise ChainruleError(
                f"detach_: cannot detach a view in place (this tensor of shape {self.shape} is a "
                f"'{self._view[1].name}' view of another tensor, whose history it follows); use "
                "detach() instead, which returns a new tensor")
        self.grad_fn = None
        self.requires_grad = False
        return self

    def requires_grad_(self, requires_grad: builtins.bool = True) -> Tensor:
        """Mark a leaf as needing gradients (floating dtypes only)."""
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(
                f"only floating point tensors can require gradients, got dtype {self.dtype}; "
                "convert first, e.g. x.float() or cr.tensor(data, dtype=cr.float32)")
        if not requires_grad and self.grad_fn is not None:
            raise ChainruleError("requires_grad_(False) works on leaves only; use detach()")
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` for this non-leaf tensor too after backward."""
        if not self.requires_grad:
            raise ChainruleError("retain_grad: this tensor does not require grad, so it will "
                                 "get no gradient; compute it from a tensor that requires grad")
        if self.grad_fn is None:
            return
        self.grad_fn.retain = weakref.ref(self)
        self.grad_fn.grad_dtype = self.data.dtype

    def register_hook(self, hook: Callable[[Tensor], Tensor | None]) -> RemovableHandle:
        """``hook(grad)`` runs when this tensor's gradient is computed; returning a tensor
        replaces the gradient. Returns a handle whose ``remove()`` removes the hook."""
        if not self.requires_grad:
            raise ChainruleError("register_hook: cannot register a hook on a tensor that does "
                                 "not require grad")
        owner: Any = self.grad_fn if self.grad_fn is not None else self
        if self.grad_fn is not None:
            self.grad_fn.grad_dtype = self.data.dtype
        attr = "hooks" if self.grad_fn is not None else "_hooks"
        setattr(owner, attr, (getattr(owner, attr) or []) + [hook])
        return RemovableHandle(owner, attr, hook)

    # ------------------------------------------------------------------ conversion
    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shares memory; call ``detach()`` semantics)."""
        return self.data

    def item(self) -> Any:
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor can be converted to a Python "
                             f"number, this one has shape {self.shape}")
        return self.data.reshape(()).item()

    def tolist(self) -> Any:
        return self.data.tolist()

    def to(self, *args: Any, **kwargs: Any) -> Tensor:
        """Convert the dtype: ``to(dtype)``, ``to(other_tensor)``, ``to(device, dtype)``,
        ``to(dtype=..., device=..., copy=...)`` (the device must be the CPU)."""
        dtype = kwargs.get("dtype")
        _check_device(kwargs.get("device"))
        for a in args:
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif _is_device(a):
                _check_device(a)
            elif a is not None:
                dtype = a
        if dtype is None or _dtypes.as_dtype(dtype) == self.data.dtype:
            return F.clone(self) if kwargs.get("copy") else self
        d = _dtypes.as_dtype(dtype)
        if (self.requires_grad or self._tangents is not None) and d.kind == "f":  # (keep tangents)
            return F.S.cast(self, dtype=d)
        return Tensor._make(self.data.astype(d))

    def astype(self, dtype: Any) -> Tensor:
        return self.to(dtype)

    def type(self, dtype: Any = None) -> Any:
        """Without a dtype: the type's name, as PyTorch's ('chainrule.FloatTensor'); with one,
        the tensor converted to it."""
        if dtype is None:
            return f"chainrule.{_TYPE_NAMES.get(self.data.dtype.name, 'Tensor')}"
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(_dtypes.float32)

    def double(self) -> Tensor:
        return self.to(_dtypes.float64)

    def half(self) -> Tensor:
        return self.to(_dtypes.float16)

    def long(self) -> Tensor:
        return self.to(_dtypes.int64)

    def int(self) -> Tensor:
        return self.to(_dtypes.int32)

    def bool(self) -> Tensor:
        return self.to(_dtypes.bool_)

    def cpu(self) -> Tensor:
        return self

    def contiguous(self) -> Tensor:
        """This tensor if its memory is in row order, else a row-ordered copy (as PyTorch:
        an in-place change of the copy does not reach this tensor)."""
        if self.data.flags.c_contiguous:
            return self
        return F.clone(self, order="C")

    def clone(self) -> Tensor:
        return F.clone(self)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        if dtype is not None and dtype != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __array_ufunc__(self, ufunc: np.ufunc, method: str, *inputs: Any, **kwargs: Any) -> Any:
        from ._numpy_interop import array_ufunc

        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func: Any, types: Any, args: Any, kwargs: Any) -> Any:
        from ._numpy_interop import array_function

        return array_function(func, args, kwargs)

    # ------------------------------------------------------------------ python protocol
    def __repr__(self) -> str:
        from ._printing import add_suffixes, format_body, shape_suffix  # (set_printoptions)

        body = format_body(self.data, prefix="tensor(")
        size = shape_suffix(self.data)  # (when "[]" or "[...]" hides the shape)
        extra = [] if size is None else [size]
        shown = (_dtypes.get_default_dtype(),) if self.data.size == 0 else (
            _dtypes.get_default_dtype(), _dtypes.int64, _dtypes.bool_)  # (dtypes left implied)
        if self.data.dtype not in shown:
            extra.append(f"dtype=chainrule.{self.data.dtype}")
        if self.grad_fn is not None:
            extra.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self.requires_grad:
            extra.append("requires_grad=True")
        if self.name:
            extra.append(f"name={self.name!r}")
        return add_suffixes("tensor(" + body, extra, indent=len("tensor("))

    def __len__(self) -> builtins.int:
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        if self.data.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.data.shape[0]))

    def __bool__(self) -> builtins.bool:
        if self.data.size != 1:
            raise ValueError(f"the truth value of a tensor with {self.data.size} elements is "
                             "ambiguous; use .any() or .all()")
        return bool(self.data.reshape(()))

    def __float__(self) -> builtins.float:
        return float(self.item())

    def __int__(self) -> builtins.int:
        return int(self.item())

    def __index__(self) -> builtins.int:
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be used as an index")
        return int(self.item())

    def __format__(self, spec: str) -> str:
        if self.data.ndim == 0:
            return format(self.item(), spec)
        return repr(self)

    __hash__ = object.__hash__

    def __deepcopy__(self, memo: dict[builtins.int, Any]) -> Tensor:
        """A copy of a leaf tensor (values, requires_grad, grad, name), as PyTorch's: so
        ``copy.deepcopy(model.state_dict())`` works. A tensor made by a recorded op has a
        history that is not copied: deep-copy ``t.detach()`` instead."""
        if self.grad_fn is not None:
            raise ChainruleError(
                "deepcopy: only leaf tensors can be deep-copied (this one was made by "
                f"'{self.grad_fn.op.name}' and has a history); deep-copy t.detach() instead")
        new = object.__new__(type(self))
        plain = Tensor._make(self.data.copy())
        for slot in Tensor.__slots__[:-1]:  # (not __weakref__)
            object.__setattr__(new, slot, getattr(plain, slot))
        new.requires_grad, new.name = self.requires_grad, self.name
        if self._grad is not None:
            new._grad = Tensor._make(self._grad.data.copy())
        for cls in type(self).__mro__[:type(self).__mro__.index(Tensor)]:  # subclasses' slots
            for slot in cls.__dict__.get("__slots__", ()):
                if hasattr(self, slot):
                    object.__setattr__(new, slot, copy.deepcopy(getattr(self, slot), memo))
        memo[id(self)] = new
        return new

    def __reduce_ex__(self, protocol: Any) -> Any:
        raise TypeError("chainrule tensors are not pickled; save state dicts with cr.save")

    # ------------------------------------------------------------------ operators
    # (engine.apply with the tensor-and-tensor-or-number case written out: the hot path)
    __add__ = _engine.binary_operator(_E.add)
    __radd__ = _engine.binary_operator(_E.add, reflected=True)
    __sub__ = _engine.binary_operator(_E.sub)
    __rsub__ = _engine.binary_operator(_E.sub, reflected=True)
    __mul__ = _engine.binary_operator(_E.mul)
    __rmul__ = _engine.binary_operator(_E.mul, reflected=True)
    __truediv__ = _engine.binary_operator(_E.div)
    __rtruediv__ = _engine.binary_operator(_E.div, reflected=True)
    __pow__ = _engine.binary_operator(_E.pow)
    __rpow__ = _engine.binary_operator(_E.pow, reflected=True)

    def __matmul__(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return F.matmul(other, self)

    def __neg__(self) -> Tensor:
        return _engine.apply(_E.neg, self)

    def __pos__(self) -> Tensor:
        return self

    def __abs__(self) -> Tensor:
        return F.E.abs(self)

    def __lt__(self, other: Any) -> Tensor:  # type: ignore[override]
        return F.E.lt(self, other)

    def __le__(self, other: Any) -> Tensor:  # type: ignore[override]
        return F.E.le(self, other)

    def __gt__(self, other: Any) -> Tensor:  # type: ignore[override]
        return F.E.gt(self, other)

    def __ge__(self, other: Any) -> Tensor:  # type: ignore[override]
        return F.E.ge(self, other)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        if other is None or isinstance(other, str):  # not comparable: False, as PyTorch
            return NotImplemented
        return F.E.eq(self, other)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        if other is None or isinstance(other, str):
            return NotImplemented
        return F.E.ne(self, other)

    def __contains__(self, element: Any) -> builtins.bool:
        return builtins.bool((self.data == _plain(element)).any())

    def __and__(self, other: Any) -> Tensor:
        if self.dtype == bool and _kind(other) == "b":
            return F.E.logical_and(self, other)
        return _bitwise(np.bitwise_and, self, other)

    def __or__(self, other: Any) -> Tensor:
        if self.dtype == bool and _kind(other) == "b":
            return F.E.logical_or(self, other)
        return _bitwise(np.bitwise_or, self, other)

    def __xor__(self, other: Any) -> Tensor:
        if self.dtype == bool and _kind(other) == "b":
            return F.E.logical_xor(self, other)
        return _bitwise(np.bitwise_xor, self, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self) -> Tensor:
        return F.E.logical_not(self) if self.dtype == bool else _bitwise(np.invert, self)

    def __lshift__(self, other: Any) -> Tensor:
        return F.bitwise_left_shift(self, other)  # (counts past the width: 0, as PyTorch)

    def __rshift__(self, other: Any) -> Tensor:
        return F.bitwise_right_shift(self, other)

    # ``//``: an integer result for integers (a division by zero is an error, as in PyTorch,
    # not NumPy's silent 0), a zero gradient; ``%``: the remainder with the sign of the divisor
    def __floordiv__(self, other: Any) -> Tensor:
        return F.div(self, other, rounding_mode="floor")

    def __rfloordiv__(self, other: Any) -> Tensor:
        return F.div(other, self, rounding_mode="floor")

    def __mod__(self, other: Any) -> Tensor:
        return F.remainder(self, other)

    def __rmod__(self, other: Any) -> Tensor:
        return F.remainder(other, self)

    def remainder(self, other: Any) -> Tensor:
        return F.remainder(self, other)

    def __getitem__(self, key: Any) -> Tensor:
        from .ops.indexing import canonical_key, getitem, split_int_key

        k = canonical_key(key, self.data.ndim)
        if type(key) is tuple and len(k) > 1:
            split = split_int_key(k)  # integers with index arrays: the integers first
            if split is not None:
                return getitem(getitem(self, key=split[0]), key=split[1])
        return getitem(self, key=k)

    def __setitem__(self, key: Any, value: Any) -> None:
        from .ops.indexing import canonical_key, index_put, split_int_key

        k = canonical_key(key, self.data.ndim)
        if type(key) is tuple and len(k) > 1:
            split = split_int_key(k)  # integers with index arrays: the integers first
            if split is not None:
                self[split[0]][split[1]] = value  # (in place on a view of this tensor)
                return
        self._inplace(lambda old: index_put(old, value, key=k), value)

    # in-place arithmetic goes through the same checks
    def __iadd__(self, other: Any) -> Tensor:
        return self.add_(other)

    def __isub__(self, other: Any) -> Tensor:
        return self.sub_(other)

    def __imul__(self, other: Any) -> Tensor:
        return self.mul_(other)

    def __itruediv__(self, other: Any) -> Tensor:
        return self.div_(other)

    # ------------------------------------------------------------------ in-place ops
    def _inplace(self, compute: Callable[[Tensor], Tensor], *others: Any) -> Tensor:
        """Run ``compute`` out of place, write the result into this tensor's memory, and bump
        the version so that a backward still needing the old values fails loudly.

        While recording, the tensor takes the new op as its history (nodes made earlier keep
        theirs). An in-place change of a view is written back into its base's history too.
        """
        view = self._view
        if view is not None and STATE.grad_enabled and view[3] != _engine.version_box(self)[0]:
            _refresh_view(self)  # its base changed in place since: take the base's history
            view = self._view
        recording = STATE.grad_enabled and (
            self.requires_grad or any(isinstance(o, Tensor) and o.requires_grad for o in others))
        forward_ad = builtins.bool(STATE.levels) and (self._tangents is not None or any(
            isinstance(o, Tensor) and o._tangents is not None for o in others))
        if recording and self.requires_grad and self.grad_fn is None:
            raise ChainruleError(
                "a leaf tensor that requires grad (or a view of one) is being used in an "
                "in-place operation; update parameters inside `with cr.no_grad():`, or clone() "
                "the tensor first")
        if recording and self.grad_fn is not None and self.grad_fn.no_inplace:
            raise ChainruleError(self.grad_fn.no_inplace)  # (a cr.autograd.Function's view)
        if not self.data.flags.writeable:
            raise ChainruleError(
                f"in-place operation on a read-only tensor of shape {self.shape} (an expand() or "
                "broadcast_to() view); clone() it first")
        if not recording and not forward_ad:
            from .engine import no_grad

            with no_grad():
                result = compute(self.detach())
            _copy_into(self.data, result.data)
            _engine.bump_version(self)
            return self
        if view is not None and np.may_share_memory(self.data, view[0].data):
            # (forward mode too: the base's tangent must see the view's new values)
            return self._inplace_on_view(compute, view)
        old = self._snapshot()
        first = _engine._next_seq()  # the nodes compute() records come after this number
        result = compute(old)
        if recording and result.grad_fn is not None:
            _keep_old_values(result.grad_fn, self.data, first)
        _copy_into(self.data, result.data)
        _engine.bump_version(self)
        if recording:
            self._take_history(result)
        self._tangents = result._tangents
        return self

    def _take_history(self, result: Tensor) -> None:
        """After an in-place op: this tensor is now ``result`` (its node, retain_grad)."""
        node = result.grad_fn
        if node is not None:
            # Made just before this tensor's memory took its values: what the node reads is
            # unchanged since (the values it overwrote were copied by _keep_old_values).
            node.epoch = STATE.epoch
            if node.out is not None:
                node.out = weakref.ref(self)
                node.out_data = self.data
        prev = self.grad_fn
        if prev is not None and prev.retain is not None and node is not None:
            node.retain, prev.retain = prev.retain, None
            node.grad_dtype = self.data.dtype
        self.grad_fn = node
        self.requires_grad = result.requires_grad

    def _inplace_on_view(self, compute: Callable[[Tensor], Tensor], view: tuple) -> Tensor:
        """An in-place op on a view while recording: the new values of the view are written
        into the base (as a recorded op, so the base's gradient is right), then this view is
        made again from the updated base (PyTorch's CopySlices)."""
        base, op, params, _ = view
        if _engine.reshaped_since(self):
            raise ChainruleError(_engine._RESHAPED_VIEW.format(
                what="changing in place", shape=self.shape, when=""))
        old = self._snapshot()
        first = _engine._next_seq()
        new = compute(old)
        if new.grad_fn is not None:
            _keep_old_values(new.grad_fn, base.data, first)
        if new.shape != self.shape:
            raise ValueError(f"in-place operation: the result has shape {new.shape}, which "
                             f"does not fit in this tensor's shape {self.shape}")
        if not _can_store(new.dtype, self.dtype):
            raise TypeError(f"in-place operation: the result has dtype {new.dtype}, which "
                            f"cannot be stored in this tensor's dtype {self.dtype}; use the "
                            "out-of-place form")
        base._inplace(lambda b: _write_back(b, new, op, params), new)
        _refresh_view(self)
        return self

    def _snapshot(self) -> Tensor:
        """The tensor as it is now in the graph (same memory), before an in-place change."""
        t = Tensor._make(self.data)
        t.requires_grad, t.grad_fn = self.requires_grad, self.grad_fn
        t._vbox = _engine.version_box(self)
        if self.grad_fn is not None and self.grad_fn.out is not None:
            self.grad_fn.out = weakref.ref(t)
            self.grad_fn.out_box = t._vbox
        t._tangents = self._tangents
        return t

    def add_(self, other: Any, *, alpha: builtins.float = 1) -> Tensor:
        return self._inplace(lambda old: F.add(old, other, alpha=alpha), other)

    def sub_(self, other: Any, *, alpha: builtins.float = 1) -> Tensor:
        return self._inplace(lambda old: F.sub(old, other, alpha=alpha), other)

    def mul_(self, other: Any) -> Tensor:
        return self._inplace(lambda old: F.E.mul(old, other), other)

    def div_(self, other: Any) -> Tensor:
        return self._inplace(lambda old: F.E.div(old, other), other)

    def pow_(self, other: Any) -> Tensor:
        return self._inplace(lambda old: F.E.pow(old, other), other)

    def clamp_(self, min: Any = None, max: Any = None) -> Tensor:
        return self._inplace(lambda old: F.clamp(old, min, max))

    def copy_(self, src: Any) -> Tensor:
        """Copy ``src``'s values (broadcast) into this tensor."""
        shape = np.shape(src.data if isinstance(src, Tensor) else src)
        if not _broadcasts_to(shape, self.shape):
            raise ValueError(f"copy_: the source has shape {shape}, which does not broadcast "
                             f"to this tensor's shape {self.shape}")

        def compute(old: Tensor) -> Tensor:
            s = src if isinstance(src, Tensor) else Tensor._make(np.asarray(src))
            return _replace(old, s.to(self.dtype))
        return self._inplace(compute, src)

    def fill_(self, value: Any) -> Tensor:
        """Set every element to ``value`` (a number or a one-element tensor), in place."""
        if np.size(value.data if isinstance(value, Tensor) else value) != 1:
            raise ValueError(f"fill_: the value must be a number or a one-element tensor, got "
                             f"shape {np.shape(getattr(value, 'data', value))}; use copy_() "
                             "to copy a tensor's values")
        return self._inplace(lambda old: _replace(old, value), value)

    def zero_(self) -> Tensor:
        """Set every element to 0, in place."""
        return self._inplace(lambda old: _replace(old, 0))

    def normal_(self, mean: builtins.float = 0.0, std: builtins.float = 1.0, *,
                generator: Any = None) -> Tensor:
        from . import random

        return random.normal_(self, mean, std, generator)

    def uniform_(self, a: builtins.float = 0.0, b: builtins.float = 1.0, *,
                 generator: Any = None) -> Tensor:
        from . import random

        return random.uniform_(self, a, b, generator)

    def masked_fill_(self, mask: Any, value: Any) -> Tensor:
        return self._inplace(lambda old: F.masked_fill(old, mask, value), value)

    # ---- in-place twins of the elementwise, comparison and same-shape methods (see _twin)
    (abs_, absolute_, acos_, arccos_, acosh_, arccosh_, asin_, arcsin_, asinh_, arcsinh_, atan_,
     arctan_, atanh_, arctanh_, atan2_, arctan2_, ceil_, copysign_, cos_, cosh_, deg2rad_,
     digamma_, erf_, erfc_, erfinv_, exp_, exp2_, expm1_, fix_, floor_, floor_divide_, fmod_,
     frac_, heaviside_, hypot_, i0_, ldexp_, lgamma_, log_, log10_, log1p_, log2_, logit_,
     mvlgamma_, neg_, negative_, nextafter_, polygamma_, rad2deg_, reciprocal_, relu_,
     remainder_, round_, rsqrt_, sgn_, sigmoid_, sign_, sin_, sinc_, sinh_, sqrt_, square_, tan_,
     tanh_, trunc_, xlogy_) = _twins(
        "abs absolute acos arccos acosh arccosh asin arcsin asinh arcsinh atan arctan atanh "
        "arctanh atan2 arctan2 ceil copysign cos cosh deg2rad digamma erf erfc erfinv exp exp2 "
        "expm1 fix floor floor_divide fmod frac heaviside hypot i0 ldexp lgamma log log10 log1p "
        "log2 logit mvlgamma neg negative nextafter polygamma rad2deg reciprocal relu remainder "
        "round rsqrt sgn sigmoid sign sin sinc sinh sqrt square tan tanh trunc xlogy")
    (multiply_, divide_, subtract_, true_divide_, addcmul_, addcdiv_, lerp_, clamp_min_,
     clamp_max_, clip_, nan_to_num_) = _twins(
        "multiply divide subtract true_divide addcmul addcdiv lerp clamp_min clamp_max clip "
        "nan_to_num")
    (eq_, ne_, lt_, le_, gt_, ge_, greater_, greater_equal_, less_, less_equal_, not_equal_,
     logical_and_, logical_or_, logical_xor_, logical_not_) = _twins(
        "eq ne lt le gt ge greater greater_equal less less_equal not_equal logical_and "
        "logical_or logical_xor logical_not")
    (bitwise_and_, bitwise_or_, bitwise_xor_, bitwise_not_, bitwise_left_shift_,
     bitwise_right_shift_, gcd_, lcm_) = _twins(
        "bitwise_and bitwise_or bitwise_xor bitwise_not bitwise_left_shift bitwise_right_shift "
        "gcd lcm")
    (tril_, triu_, cumsum_, cumprod_, renorm_, addmm_, addmv_, addr_, addbmm_, baddbmm_) = _twins(
        "tril triu cumsum cumprod renorm addmm addmv addr addbmm baddbmm")

    def float_power_(self, exponent: Any) -> Tensor:
        """``float_power`` in place: only for float64 tensors (its result is float64)."""
        if self.dtype != np.float64:
            raise RuntimeError(f"float_power_: the base has dtype {self.dtype}, but the result "
                               "is float64; use float_power() (out of place) or x.double() "
                               "first")
        return self._inplace(lambda old: F.float_power(old, exponent), exponent)

    # ---- shape-changing in-place methods: same memory, a new shape
    def _reshape_inplace(self, name: str, view: Callable[[Tensor], Tensor]) -> Tensor:
        """The tensor takes the shape of ``view(self)`` (same memory, same values), and while
        recording that op joins its history, as PyTorch's ``t_()``. A leaf that requires grad is
        refused, as for every in-place op. The version goes up, as PyTorch's: a backward that
        kept this tensor (in its old layout) fails loudly. A view of another tensor is refused
        while recording (its link to its base holds one view op); views taken of this tensor
        earlier can still be read until it changes in place again (engine._refresh_view), but
        not changed in place: take the out-of-place form (``y = x.t()``) when other views
        exist."""
        recording = STATE.grad_enabled and self.requires_grad
        if recording and self.grad_fn is None:
            raise ChainruleError(
                f"{name}: a leaf tensor that requires grad is being used in an in-place "
                "operation; use the out-of-place form, or clone() the tensor first")
        link = self._view if recording else None
        if link is not None and _engine.reshaped_since(self):
            raise ChainruleError(_engine._RESHAPED_VIEW.format(
                what=f"{name} on", shape=self.shape, when=""))
        if link is not None and link[3] != _engine.version_box(self)[0]:
            _refresh_view(self)  # (its base changed since: take the base's history first)
            link = self._view
        # (a view without gradients keeps its link, marked outdated by the bump below: an
        # in-place change of it that records is refused, engine.reshaped_since)
        snapshot = self._snapshot()
        result = view(snapshot)
        if result is snapshot:  # nothing to change (squeeze_() with no dim of size 1, ...)
            return self
        step = result._view
        if link is not None and (step is None or step[0] is not snapshot):
            raise ChainruleError(
                f"{name}: cannot change the shape of this view (a '{link[1].name}' view of a "
                f"tensor of shape {link[0].shape}) in place while recording gradients; use "
                "the out-of-place form (y = x.unsqueeze(0), ...)")
        self.data = result.data
        _engine.bump_version(self)
        box = _engine.version_box(self)
        box[2:] = [box[0]]  # (views taken before: engine.reshaped_since)
        if recording:
            self._take_history(result)
        if link is not None and step is not None:
            # still a view of the same base: the old link, then this op (PyTorch's views
            # keep their base through a metadata change too)
            base, op, params, _ = link
            steps = _engine._ViewChain.steps(op, params) + ((step[1], step[2]),)
            self._view = (base, _engine.VIEW_CHAIN, {"steps": steps}, box[0])
        self._tangents = result._tangents
        return self

    def squeeze_(self, dim: Any = None) -> Tensor:
        return self._reshape_inplace("squeeze_", lambda old: F.squeeze(old, dim))

    def unsqueeze_(self, dim: builtins.int) -> Tensor:
        return self._reshape_inplace("unsqueeze_", lambda old: F.unsqueeze(old, dim))

    def t_(self) -> Tensor:
        return self._reshape_inplace("t_", lambda old: old.t())

    def transpose_(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        return self._reshape_inplace("transpose_", lambda old: F.transpose(old, dim0, dim1))

    def swapaxes_(self, axis0: builtins.int, axis1: builtins.int) -> Tensor:
        return self._reshape_inplace("swapaxes_", lambda old: F.transpose(old, axis0, axis1))

    def swapdims_(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        return self._reshape_inplace("swapdims_", lambda old: F.transpose(old, dim0, dim1))

    # ---- in-place integer operators
    def __iand__(self, other: Any) -> Tensor:
        return self.bitwise_and_(other)

    def __ior__(self, other: Any) -> Tensor:
        return self.bitwise_or_(other)

    def __ixor__(self, other: Any) -> Tensor:
        return self.bitwise_xor_(other)

    def __ilshift__(self, other: Any) -> Tensor:
        return self.bitwise_left_shift_(other)

    def __irshift__(self, other: Any) -> Tensor:
        return self.bitwise_right_shift_(other)

    # ------------------------------------------------------------------ methods -> functions
    def exp(self) -> Tensor:
        return F.exp(self)

    def exp2(self) -> Tensor:
        return F.exp2(self)

    def log(self) -> Tensor:
        return F.log(self)

    def log2(self) -> Tensor:
        return F.log2(self)

    def log1p(self) -> Tensor:
        return F.log1p(self)

    def expm1(self) -> Tensor:
        return F.expm1(self)

    def sqrt(self) -> Tensor:
        return F.sqrt(self)

    def rsqrt(self) -> Tensor:
        return F.rsqrt(self)

    def square(self) -> Tensor:
        return F.square(self)

    def reciprocal(self) -> Tensor:
        return F.reciprocal(self)

    def abs(self) -> Tensor:
        return F.abs(self)

    def neg(self) -> Tensor:
        return F.neg(self)

    def sin(self) -> Tensor:
        return F.sin(self)

    def cos(self) -> Tensor:
        return F.cos(self)

    def tan(self) -> Tensor:
        return F.tan(self)

    def asin(self) -> Tensor:
        return F.asin(self)

    def acos(self) -> Tensor:
        return F.acos(self)

    def atan(self) -> Tensor:
        return F.atan(self)

    def atan2(self, other: Any) -> Tensor:
        return F.atan2(self, other)

    def sinh(self) -> Tensor:
        return F.sinh(self)

    def cosh(self) -> Tensor:
        return F.cosh(self)

    def tanh(self) -> Tensor:
        return F.tanh(self)

    def erf(self) -> Tensor:
        return F.erf(self)

    # ---- more math (functional.py's "more math" section)
    def erfc(self) -> Tensor:
        return F.erfc(self)

    def erfinv(self) -> Tensor:
        return F.erfinv(self)

    def lgamma(self) -> Tensor:
        return F.lgamma(self)

    def digamma(self) -> Tensor:
        return F.digamma(self)

    def polygamma(self, n: builtins.int) -> Tensor:
        return F.polygamma(n, self)

    def mvlgamma(self, p: builtins.int) -> Tensor:
        return F.mvlgamma(self, p)

    def logaddexp(self, other: Any) -> Tensor:
        return F.logaddexp(self, other)

    def logaddexp2(self, other: Any) -> Tensor:
        return F.logaddexp2(self, other)

    def hypot(self, other: Any) -> Tensor:
        return F.hypot(self, other)

    def fmod(self, other: Any) -> Tensor:
        return F.fmod(self, other)

    def xlogy(self, other: Any) -> Tensor:
        return F.xlogy(self, other)

    def sinc(self) -> Tensor:
        return F.sinc(self)

    def frac(self) -> Tensor:
        return F.frac(self)

    def trunc(self) -> Tensor:
        return F.trunc(self)

    fix = trunc

    def copysign(self, other: Any) -> Tensor:
        return F.copysign(self, other)

    def signbit(self) -> Tensor:
        return F.signbit(self)

    def nextafter(self, other: Any) -> Tensor:
        return F.nextafter(self, other)

    def logit(self, eps: builtins.float | None = None) -> Tensor:
        return F.logit(self, eps)

    def heaviside(self, values: Any) -> Tensor:
        return F.heaviside(self, values)

    def clamp_min(self, min: Any) -> Tensor:
        return F.clamp_min(self, min)

    def clamp_max(self, max: Any) -> Tensor:
        return F.clamp_max(self, max)

    def sgn(self) -> Tensor:
        return F.sgn(self)

    def float_power(self, exponent: Any) -> Tensor:
        return F.float_power(self, exponent)

    def rad2deg(self) -> Tensor:
        return F.rad2deg(self)

    def deg2rad(self) -> Tensor:
        return F.deg2rad(self)

    def addcmul(self, tensor1: Any, tensor2: Any, *, value: builtins.float = 1) -> Tensor:
        return F.addcmul(self, tensor1, tensor2, value=value)

    def addcdiv(self, tensor1: Any, tensor2: Any, *, value: builtins.float = 1) -> Tensor:
        return F.addcdiv(self, tensor1, tensor2, value=value)

    def floor_divide(self, other: Any) -> Tensor:
        return F.floor_divide(self, other)

    def sigmoid(self) -> Tensor:
        return F.sigmoid(self)

    def relu(self) -> Tensor:
        return F.relu(self)

    def sign(self) -> Tensor:
        return F.sign(self)

    def floor(self) -> Tensor:
        return F.floor(self)

    def ceil(self) -> Tensor:
        return F.ceil(self)

    def round(self, decimals: builtins.int = 0) -> Tensor:
        return F.round(self, decimals)

    def pow(self, exponent: Any) -> Tensor:
        return F.pow(self, exponent)

    def add(self, other: Any, *, alpha: builtins.float = 1) -> Tensor:
        return F.add(self, other, alpha=alpha)

    def sub(self, other: Any, *, alpha: builtins.float = 1) -> Tensor:
        return F.sub(self, other, alpha=alpha)

    def mul(self, other: Any) -> Tensor:
        return F.mul(self, other)

    def div(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return F.div(self, other, rounding_mode=rounding_mode)

    def clamp(self, min: Any = None, max: Any = None) -> Tensor:
        return F.clamp(self, min, max)

    clip = clamp

    def maximum(self, other: Any) -> Tensor:
        return F.maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return F.minimum(self, other)

    def lerp(self, end: Any, weight: Any) -> Tensor:
        return F.lerp(self, end, weight)

    def where(self, condition: Any, other: Any) -> Tensor:
        return F.where(condition, self, other)

    def softmax(self, dim: builtins.int = -1) -> Tensor:
        return F.softmax(self, dim)

    def log_softmax(self, dim: builtins.int = -1) -> Tensor:
        return F.log_softmax(self, dim)

    def sum(self, dim: Any = None, keepdim: builtins.bool = False, **kw: Any) -> Tensor:
        return F.sum(self, dim, keepdim, **kw)

    def mean(self, dim: Any = None, keepdim: builtins.bool = False, **kw: Any) -> Tensor:
        return F.mean(self, dim, keepdim, **kw)

    def prod(self, dim: Any = None, keepdim: builtins.bool = False, **kw: Any) -> Tensor:
        return F.prod(self, dim, keepdim, **kw)

    def var(self, *args: Any, **kw: Any) -> Tensor:
        return F.var(self, *args, **kw)

    def std(self, *args: Any, **kw: Any) -> Tensor:
        return F.std(self, *args, **kw)

    def amax(self, dim: Any = None, keepdim: builtins.bool = False, **kw: Any) -> Tensor:
        return F.amax(self, dim, keepdim, **kw)

    def amin(self, dim: Any = None, keepdim: builtins.bool = False, **kw: Any) -> Tensor:
        return F.amin(self, dim, keepdim, **kw)

    def max(self, dim: Any = None, keepdim: builtins.bool = False, **kw: Any) -> Any:
        return F.max(self, dim, keepdim, **kw)

    def min(self, dim: Any = None, keepdim: builtins.bool = False, **kw: Any) -> Any:
        return F.min(self, dim, keepdim, **kw)

    def argmax(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Tensor:
        return F.argmax(self, dim, keepdim)

    def argmin(self, dim: builtins.int | None = None, keepdim: builtins.bool = False) -> Tensor:
        return F.argmin(self, dim, keepdim)

    def logsumexp(self, dim: Any = None, keepdim: builtins.bool = False, **kw: Any) -> Tensor:
        return F.logsumexp(self, dim, keepdim, **kw)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        return F.norm(self, p, dim, keepdim)

    def cumsum(self, dim: builtins.int, **kw: Any) -> Tensor:
        return F.cumsum(self, dim, **kw)

    def cumprod(self, dim: builtins.int, **kw: Any) -> Tensor:
        return F.cumprod(self, dim, **kw)

    def all(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        dims = norm_dims(dim, self.data.ndim, "all")
        if not self.data.ndim:  # a 0-d tensor's dim 0 (or -1) is itself
            dims = None
        return _truth(np.all(self.data, axis=dims, keepdims=keepdim), self.data.dtype)

    def any(self, dim: Any = None, keepdim: builtins.bool = False) -> Tensor:
        dims = norm_dims(dim, self.data.ndim, "any")
        if not self.data.ndim:
            dims = None
        return _truth(np.any(self.data, axis=dims, keepdims=keepdim), self.data.dtype)

    def matmul(self, other: Any) -> Tensor:
        return F.matmul(self, other)

    def mm(self, other: Any) -> Tensor:
        return F.mm(self, other)

    def bmm(self, other: Any) -> Tensor:
        return F.bmm(self, other)

    def dot(self, other: Any) -> Tensor:
        return F.dot(self, other)

    def outer(self, other: Any) -> Tensor:
        return F.outer(self, other)

    def reshape(self, *shape: Any) -> Tensor:
        return F.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        return F.view(self, *shape)

    def view_as(self, other: Tensor) -> Tensor:
        return F.view(self, other.shape)

    def reshape_as(self, other: Tensor) -> Tensor:
        return F.reshape(self, other.shape)

    def flatten(self, start_dim: builtins.int = 0, end_dim: builtins.int = -1) -> Tensor:
        return F.flatten(self, start_dim, end_dim)

    def unflatten(self, dim: builtins.int, sizes: Any) -> Tensor:
        return F.unflatten(self, dim, sizes)

    def squeeze(self, dim: Any = None) -> Tensor:
        return F.squeeze(self, dim)

    def unsqueeze(self, dim: builtins.int) -> Tensor:
        return F.unsqueeze(self, dim)

    def expand(self, *sizes: Any) -> Tensor:
        return F.expand(self, *sizes)

    def expand_as(self, other: Tensor) -> Tensor:
        return F.broadcast_to(self, other.shape)

    def broadcast_to(self, shape: Any) -> Tensor:
        return F.broadcast_to(self, shape)

    def transpose(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        return F.transpose(self, dim0, dim1)

    def swapaxes(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        return F.transpose(self, dim0, dim1)

    def permute(self, *dims: Any) -> Tensor:
        return F.permute(self, *dims)

    def movedim(self, source: Any, destination: Any) -> Tensor:
        return F.movedim(self, source, destination)

    def flip(self, dims: Any) -> Tensor:
        return F.flip(self, dims)

    def roll(self, shifts: Any, dims: Any = None) -> Tensor:
        return F.roll(self, shifts, dims)

    def repeat(self, *sizes: Any) -> Tensor:
        return F.repeat(self, *sizes)

    def tile(self, *dims: Any) -> Tensor:
        """``tile(2, 3)`` or ``tile((2, 3))``, as PyTorch."""
        return F.tile(self, dims[0] if len(dims) == 1 else dims)

    def split(self, split_size: Any, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        return F.split(self, split_size, dim)

    def chunk(self, chunks: builtins.int, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        return F.chunk(self, chunks, dim)

    def index_select(self, dim: builtins.int, index: Any) -> Tensor:
        return F.index_select(self, dim, index)

    def gather(self, dim: builtins.int, index: Any) -> Tensor:
        return F.gather(self, dim, index)

    def take_along_dim(self, indices: Any, dim: builtins.int | None = None) -> Tensor:
        return F.take_along_dim(self, indices, dim)

    def scatter_add(self, dim: builtins.int, index: Any, src: Any) -> Tensor:
        return F.scatter_add(self, dim, index, src)

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        return F.masked_fill(self, mask, value)

    def tril(self, diagonal: builtins.int = 0) -> Tensor:
        return F.tril(self, diagonal)

    def triu(self, diagonal: builtins.int = 0) -> Tensor:
        return F.triu(self, diagonal)

    def diagonal(self, offset: builtins.int = 0, dim1: builtins.int = 0,
                 dim2: builtins.int = 1) -> Tensor:
        return F.diagonal(self, offset, dim1, dim2)

    def trace(self) -> Tensor:
        return F.trace(self)

    # ------------------------------------------------------------------ shape, indexing, products
    def unbind(self, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        return F.unbind(self, dim)

    def narrow(self, dim: builtins.int, start: Any, length: builtins.int) -> Tensor:
        return F.narrow(self, dim, start, length)

    def select(self, dim: builtins.int, index: builtins.int) -> Tensor:
        return F.select(self, dim, index)

    def unfold(self, dimension: builtins.int, size: builtins.int, step: builtins.int) -> Tensor:
        """Windows of ``size`` elements, ``step`` apart, along ``dimension``, as a new last
        dim. NOTE: a differentiable copy, where PyTorch's is a view."""
        return F._unfold(self, dimension, size, step)

    def ravel(self) -> Tensor:
        return F.ravel(self)

    def type_as(self, other: Tensor) -> Tensor:
        return self.to(other.dtype)

    def sum_to_size(self, *size: Any) -> Tensor:
        return F._sum_to_size(self, *size)

    def _new(self, make: Callable[..., Tensor], dtype: Any, requires_grad: builtins.bool,
             device: Any, *args: Any) -> Tensor:
        """new_zeros and co.: dtype follows this tensor unless given, as PyTorch."""
        _check_device(device, "new tensor")
        out = make(*args, dtype=self.dtype if dtype is None else dtype)
        return out.requires_grad_() if requires_grad else out

    def new_zeros(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: builtins.bool = False) -> Tensor:
        from .creation import zeros

        return self._new(zeros, dtype, requires_grad, device, *size)

    def new_ones(self, *size: Any, dtype: Any = None, device: Any = None,
                 requires_grad: builtins.bool = False) -> Tensor:
        from .creation import ones

        return self._new(ones, dtype, requires_grad, device, *size)

    def new_empty(self, *size: Any, dtype: Any = None, device: Any = None,
                  requires_grad: builtins.bool = False) -> Tensor:
        from .creation import empty

        return self._new(empty, dtype, requires_grad, device, *size)

    def new_full(self, size: Any, fill_value: Any, *, dtype: Any = None, device: Any = None,
                 requires_grad: builtins.bool = False) -> Tensor:
        from .creation import full

        return self._new(full, dtype, requires_grad, device, size, fill_value)

    def new_tensor(self, data: Any, dtype: Any = None, device: Any = None,
                   requires_grad: builtins.bool = False) -> Tensor:
        """A new leaf tensor holding a copy of ``data`` (detached), in this tensor's dtype
        unless ``dtype`` is given."""
        return self._new(tensor, dtype, requires_grad, device, data)

    def tensor_split(self, indices_or_sections: Any, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        return F.tensor_split(self, indices_or_sections, dim)

    def hsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return F.hsplit(self, indices_or_sections)

    def vsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return F.vsplit(self, indices_or_sections)

    def dsplit(self, indices_or_sections: Any) -> tuple[Tensor, ...]:
        return F.dsplit(self, indices_or_sections)

    def rot90(self, k: builtins.int = 1, dims: Any = (0, 1)) -> Tensor:
        return F.rot90(self, k, dims)

    def fliplr(self) -> Tensor:
        return F.fliplr(self)

    def flipud(self) -> Tensor:
        return F.flipud(self)

    def diag(self, diagonal: builtins.int = 0) -> Tensor:
        return F.diag(self, diagonal)

    def diag_embed(self, offset: builtins.int = 0, dim1: builtins.int = -2,
                   dim2: builtins.int = -1) -> Tensor:
        return F.diag_embed(self, offset, dim1, dim2)

    def kron(self, other: Any) -> Tensor:
        return F.kron(self, other)

    def cross(self, other: Any, dim: builtins.int | None = None) -> Tensor:
        return F.cross(self, other, dim)

    def mv(self, vec: Any) -> Tensor:
        return F.mv(self, vec)

    def addmm(self, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return F.addmm(self, mat1, mat2, beta=beta, alpha=alpha)

    def addmv(self, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return F.addmv(self, mat, vec, beta=beta, alpha=alpha)

    def addbmm(self, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return F.addbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def baddbmm(self, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return F.baddbmm(self, batch1, batch2, beta=beta, alpha=alpha)

    def addr(self, vec1: Any, vec2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
        return F.addr(self, vec1, vec2, beta=beta, alpha=alpha)

    def masked_select(self, mask: Any) -> Tensor:
        return F.masked_select(self, mask)

    def masked_scatter(self, mask: Any, source: Any) -> Tensor:
        return F.masked_scatter(self, mask, source)

    def index_add(self, dim: builtins.int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
        return F.index_add(self, dim, index, source, alpha=alpha)

    def index_copy(self, dim: builtins.int, index: Any, source: Any) -> Tensor:
        return F.index_copy(self, dim, index, source)

    def index_fill(self, dim: builtins.int, index: Any, value: Any) -> Tensor:
        return F.index_fill(self, dim, index, value)

    def index_put(self, indices: Any, values: Any, accumulate: builtins.bool = False) -> Tensor:
        return F.index_put(self, indices, values, accumulate)

    def take(self, index: Any) -> Tensor:
        return F.take(self, index)

    def put(self, index: Any, source: Any, accumulate: builtins.bool = False) -> Tensor:
        return F.put(self, index, source, accumulate)

    def scatter(self, dim: builtins.int, index: Any, src: Any = None, *, value: Any = None,
                reduce: str | None = None) -> Tensor:
        return F.scatter(self, dim, index, src, value=value, reduce=reduce)

    def scatter_reduce(self, dim: builtins.int, index: Any, src: Any, reduce: str, *,
                       include_self: builtins.bool = True) -> Tensor:
        return F.scatter_reduce(self, dim, index, src, reduce, include_self=include_self)

    # in place (on tensors that do not require grad, or non-leaf ones, as the others)
    def index_add_(self, dim: builtins.int, index: Any, source: Any, *,
                   alpha: Any = 1) -> Tensor:
        return self._inplace(lambda old: F.index_add(old, dim, index, source, alpha=alpha),
                             source)

    def index_copy_(self, dim: builtins.int, index: Any, source: Any) -> Tensor:
        return self._inplace(lambda old: F.index_copy(old, dim, index, source), source)

    def index_fill_(self, dim: builtins.int, index: Any, value: Any) -> Tensor:
        return self._inplace(lambda old: F.index_fill(old, dim, index, value), value)

    def index_put_(self, indices: Any, values: Any, accumulate: builtins.bool = False) -> Tensor:
        return self._inplace(lambda old: F.index_put(old, indices, values, accumulate), values)

    def put_(self, index: Any, source: Any, accumulate: builtins.bool = False) -> Tensor:
        return self._inplace(lambda old: F.put(old, index, source, accumulate), source)

    def masked_scatter_(self, mask: Any, source: Any) -> Tensor:
        m = np.shape(mask.data if isinstance(mask, Tensor) else mask)
        if not _broadcasts_to(m, self.shape):
            raise ValueError(f"masked_scatter_: a mask of shape {m} does not broadcast to "
                             f"this tensor's shape {self.shape}")
        return self._inplace(lambda old: F.masked_scatter(old, mask, source), source)

    def scatter_(self, dim: builtins.int, index: Any, src: Any = None, *, value: Any = None,
                 reduce: str | None = None) -> Tensor:
        return self._inplace(lambda old: F.scatter(old, dim, index, src, value=value,
                                                   reduce=reduce), src)

    def scatter_add_(self, dim: builtins.int, index: Any, src: Any) -> Tensor:
        return self._inplace(lambda old: F.scatter_add(old, dim, index, src), src)

    def scatter_reduce_(self, dim: builtins.int, index: Any, src: Any, reduce: str, *,
                        include_self: builtins.bool = True) -> Tensor:
        return self._inplace(lambda old: F.scatter_reduce(old, dim, index, src, reduce,
                                                          include_self=include_self), src)

    # ------------------------------------------------------------------ linear algebra
    def det(self) -> Tensor:
        return F.det(self)

    def logdet(self) -> Tensor:
        return F.logdet(self)

    def slogdet(self) -> Any:
        return F.slogdet(self)

    def inverse(self) -> Tensor:
        return F.inverse(self)

    def matrix_exp(self) -> Tensor:
        return F.matrix_exp(self)

    def matrix_power(self, n: builtins.int) -> Tensor:
        return F.matrix_power(self, n)

    def pinverse(self, rcond: builtins.float = 1e-15) -> Tensor:
        return F.pinverse(self, rcond)

    def svd(self, some: builtins.bool = True, compute_uv: builtins.bool = True) -> Any:
        return F.svd(self, some, compute_uv)

    def qr(self, some: builtins.bool = True) -> Any:
        return F.qr(self, some)

    # ------------------------------------------------------------------ sorting and statistics
    def sort(self, dim: builtins.int = -1, descending: builtins.bool = False,
             stable: builtins.bool = False) -> Any:
        return F.sort(self, dim, descending, stable)

    def argsort(self, dim: builtins.int = -1, descending: builtins.bool = False,
                stable: builtins.bool = False) -> Tensor:
        return F.argsort(self, dim, descending, stable)

    def msort(self) -> Tensor:
        return F.msort(self)

    def topk(self, k: builtins.int, dim: builtins.int = -1, largest: builtins.bool = True,
             sorted: builtins.bool = True) -> Any:
        return F.topk(self, k, dim, largest, sorted)

    def kthvalue(self, k: builtins.int, dim: builtins.int = -1,
                 keepdim: builtins.bool = False) -> Any:
        return F.kthvalue(self, k, dim, keepdim)

    def median(self, dim: Any = None, keepdim: builtins.bool = False) -> Any:
        return F.median(self, dim, keepdim)

    def nanmedian(self, dim: Any = None, keepdim: builtins.bool = False) -> Any:
        return F.nanmedian(self, dim, keepdim)

    def mode(self, dim: builtins.int = -1, keepdim: builtins.bool = False) -> Any:
        return F.mode(self, dim, keepdim)

    def quantile(self, q: Any, dim: Any = None, keepdim: builtins.bool = False, *,
                 interpolation: str = "linear") -> Tensor:
        return F.quantile(self, q, dim, keepdim, interpolation=interpolation)

    def nanquantile(self, q: Any, dim: Any = None, keepdim: builtins.bool = False, *,
                    interpolation: str = "linear") -> Tensor:
        return F.nanquantile(self, q, dim, keepdim, interpolation=interpolation)

    def cummax(self, dim: builtins.int) -> Any:
        return F.cummax(self, dim)

    def cummin(self, dim: builtins.int) -> Any:
        return F.cummin(self, dim)

    def logcumsumexp(self, dim: builtins.int) -> Tensor:
        return F.logcumsumexp(self, dim)

    def aminmax(self, *, dim: Any = None, keepdim: builtins.bool = False) -> Any:
        return F.aminmax(self, dim=dim, keepdim=keepdim)

    def nansum(self, dim: Any = None, keepdim: builtins.bool = False, **kw: Any) -> Tensor:
        return F.nansum(self, dim, keepdim, **kw)

    def nanmean(self, dim: Any = None, keepdim: builtins.bool = False, **kw: Any) -> Tensor:
        return F.nanmean(self, dim, keepdim, **kw)

    def count_nonzero(self, dim: Any = None) -> Tensor:
        return F.count_nonzero(self, dim)

    def diff(self, n: builtins.int = 1, dim: builtins.int = -1, prepend: Any = None,
             append: Any = None) -> Tensor:
        return F.diff(self, n, dim, prepend, append)

    def unique(self, sorted: builtins.bool = True, return_inverse: builtins.bool = False,
               return_counts: builtins.bool = False, dim: Any = None) -> Any:
        return F.unique(self, sorted, return_inverse, return_counts, dim)

    def unique_consecutive(self, return_inverse: builtins.bool = False,
                           return_counts: builtins.bool = False, dim: Any = None) -> Any:
        return F.unique_consecutive(self, return_inverse, return_counts, dim)

    def bincount(self, weights: Any = None, minlength: builtins.int = 0) -> Tensor:
        return F.bincount(self, weights, minlength)

    def histc(self, bins: builtins.int = 100, min: Any = 0, max: Any = 0) -> Tensor:
        return F.histc(self, bins, min, max)

    def nonzero(self, *, as_tuple: builtins.bool = False) -> Any:
        return F.nonzero(self, as_tuple=as_tuple)

    def argwhere(self) -> Tensor:
        return F.argwhere(self)

    def isnan(self) -> Tensor:
        return F.isnan(self)

    def isinf(self) -> Tensor:
        return F.isinf(self)

    def isfinite(self) -> Tensor:
        return F.isfinite(self)

    def isposinf(self) -> Tensor:
        return F.isposinf(self)

    def isneginf(self) -> Tensor:
        return F.isneginf(self)

    def nan_to_num(self, nan: builtins.float = 0.0, posinf: Any = None,
                   neginf: Any = None) -> Tensor:
        return F.nan_to_num(self, nan, posinf, neginf)

    def isclose(self, other: Any, rtol: builtins.float = 1e-05, atol: builtins.float = 1e-08,
                equal_nan: builtins.bool = False) -> Tensor:
        return F.isclose(self, other, rtol, atol, equal_nan)

    def allclose(self, other: Any, rtol: builtins.float = 1e-05, atol: builtins.float = 1e-08,
                 equal_nan: builtins.bool = False) -> builtins.bool:
        return F.allclose(self, other, rtol, atol, equal_nan)

    def equal(self, other: Any) -> builtins.bool:
        return F.equal(self, other)

    def dist(self, other: Any, p: Any = 2) -> Tensor:
        return F.dist(self, other, p)

    def renorm(self, p: Any, dim: builtins.int, maxnorm: Any) -> Tensor:
        return F.renorm(self, p, dim, maxnorm)

    # ---- more elementwise (functional.py's "more elementwise" section), comparisons and aliases
    def acosh(self) -> Tensor:
        return F.acosh(self)

    def asinh(self) -> Tensor:
        return F.asinh(self)

    def atanh(self) -> Tensor:
        return F.atanh(self)

    arccosh, arcsinh, arctanh = acosh, asinh, atanh

    def log10(self) -> Tensor:
        return F.log10(self)

    def fmax(self, other: Any) -> Tensor:
        return F.fmax(self, other)

    def fmin(self, other: Any) -> Tensor:
        return F.fmin(self, other)

    def ldexp(self, other: Any) -> Tensor:
        return F.ldexp(self, other)

    def frexp(self) -> Any:
        return F.frexp(self)

    def positive(self) -> Tensor:
        return F.positive(self)

    def i0(self) -> Tensor:
        return F.i0(self)

    def isreal(self) -> Tensor:
        return F.isreal(self)

    def gcd(self, other: Any) -> Tensor:
        return F.gcd(self, other)

    def lcm(self, other: Any) -> Tensor:
        return F.lcm(self, other)

    def bitwise_and(self, other: Any) -> Tensor:
        return F.bitwise_and(self, other)

    def bitwise_or(self, other: Any) -> Tensor:
        return F.bitwise_or(self, other)

    def bitwise_xor(self, other: Any) -> Tensor:
        return F.bitwise_xor(self, other)

    def bitwise_not(self) -> Tensor:
        return F.bitwise_not(self)

    def bitwise_left_shift(self, other: Any) -> Tensor:
        return F.bitwise_left_shift(self, other)

    def bitwise_right_shift(self, other: Any) -> Tensor:
        return F.bitwise_right_shift(self, other)

    def __rlshift__(self, other: Any) -> Tensor:
        return F.bitwise_left_shift(other, self)

    def __rrshift__(self, other: Any) -> Tensor:
        return F.bitwise_right_shift(other, self)

    def eq(self, other: Any) -> Tensor:
        return F.eq(self, other)

    def ne(self, other: Any) -> Tensor:
        return F.ne(self, other)

    def lt(self, other: Any) -> Tensor:
        return F.lt(self, other)

    def le(self, other: Any) -> Tensor:
        return F.le(self, other)

    def gt(self, other: Any) -> Tensor:
        return F.gt(self, other)

    def ge(self, other: Any) -> Tensor:
        return F.ge(self, other)

    greater, greater_equal, less, less_equal, not_equal = gt, ge, lt, le, ne

    def logical_and(self, other: Any) -> Tensor:
        return F.logical_and(self, other)

    def logical_or(self, other: Any) -> Tensor:
        return F.logical_or(self, other)

    def logical_xor(self, other: Any) -> Tensor:
        return F.logical_xor(self, other)

    def logical_not(self) -> Tensor:
        return F.logical_not(self)

    absolute, negative, multiply, subtract = abs, neg, mul, sub
    arccos, arcsin, arctan, arctan2 = acos, asin, atan, atan2  # (moveaxis, swapdims: below)

    def divide(self, other: Any, *, rounding_mode: str | None = None) -> Tensor:
        return F.div(self, other, rounding_mode=rounding_mode)

    def true_divide(self, other: Any) -> Tensor:
        return F.div(self, other)

    # ------------------------------------------------------------------ random draws, layout
    def bernoulli(self, p: Any = None, *, generator: Any = None) -> Tensor:
        from . import random

        return random.bernoulli(self, p, generator=generator)

    def multinomial(self, num_samples: builtins.int, replacement: builtins.bool = False, *,
                    generator: Any = None) -> Tensor:
        from . import random

        return random.multinomial(self, num_samples, replacement, generator=generator)

    def bernoulli_(self, p: Any = 0.5, *, generator: Any = None) -> Tensor:
        from . import random

        return random.bernoulli_(self, p, generator)

    def exponential_(self, lambd: builtins.float = 1.0, *, generator: Any = None) -> Tensor:
        from . import random

        return random.exponential_(self, lambd, generator)

    def cauchy_(self, median: builtins.float = 0.0, sigma: builtins.float = 1.0, *,
                generator: Any = None) -> Tensor:
        from . import random

        return random.cauchy_(self, median, sigma, generator)

    def log_normal_(self, mean: builtins.float = 1.0, std: builtins.float = 2.0, *,
                    generator: Any = None) -> Tensor:
        from . import random

        return random.log_normal_(self, mean, std, generator)

    def geometric_(self, p: builtins.float, *, generator: Any = None) -> Tensor:
        from . import random

        return random.geometric_(self, p, generator)

    def random_(self, *args: Any, generator: Any = None, **kw: Any) -> Tensor:
        """``random_()``, ``random_(to)`` or ``random_(from, to)`` (``from=``/``to=`` as
        keywords too): whole numbers in [from, to); ``to=None`` goes up to the largest whole
        number the dtype holds exactly."""
        from . import random

        return random.random_(self, *random._random_bounds(args, kw), generator)

    def fill_diagonal_(self, fill_value: Any, wrap: builtins.bool = False) -> Tensor:
        """Set the main diagonal (all indices equal) to ``fill_value``, in place; a tall
        matrix with ``wrap=True`` starts the diagonal again after a gap row, as PyTorch."""
        if self.ndim < 2:
            raise RuntimeError(f"fill_diagonal_: the tensor needs at least 2 dims, got shape "
                               f"{self.shape}")
        if self.ndim > 2 and len(set(self.shape)) > 1:
            raise RuntimeError(f"fill_diagonal_: all dims of a tensor with more than 2 dims "
                               f"must be of equal length, got shape {self.shape}")
        mask = np.zeros(self.shape, dtype=np.bool_)
        np.fill_diagonal(mask, True, wrap=wrap)
        return self._inplace(lambda old: F.masked_fill(old, mask, fill_value), fill_value)

    def stride(self, dim: builtins.int | None = None) -> Any:
        """Steps between neighbouring elements, in elements (from the NumPy array's strides)."""
        steps = tuple(s // self.data.itemsize for s in self.data.strides)
        if self.data.size == 0:  # (NumPy gives 0s; PyTorch a fresh tensor's, a 0-size dim as 1)
            steps = tuple(builtins.int(np.prod([max(n, 1) for n in self.shape[i + 1:]]))
                          for i in range(self.ndim))
        if dim is None:
            return steps
        if not steps:
            raise IndexError(f"stride: dim {dim} specified, but a 0-d tensor has no dims")
        return steps[norm_dim(dim, self.ndim, "stride")]

    def storage_offset(self) -> builtins.int:
        """Where this tensor starts in the memory it shares with its base, in elements."""
        base = self.data
        while isinstance(base.base, np.ndarray):
            base = base.base
        start = self.data.__array_interface__["data"][0]
        return (start - base.__array_interface__["data"][0]) // self.data.itemsize

    def is_contiguous(self, memory_format: Any = None) -> builtins.bool:
        return builtins.bool(self.data.flags.c_contiguous)

    def short(self) -> Tensor:
        return self.to(_dtypes.int16)

    def nelement(self) -> builtins.int:
        return self.numel()

    def ndimension(self) -> builtins.int:
        return self.ndim

    def is_complex(self) -> builtins.bool:
        return False  # (chainrule has no complex dtypes)

    @property
    def is_cpu(self) -> builtins.bool:
        return True

    @property
    def is_cuda(self) -> builtins.bool:
        return False

    @property
    def itemsize(self) -> builtins.int:
        return self.data.itemsize

    @property
    def nbytes(self) -> builtins.int:
        """Elements × bytes per element (as PyTorch: an expanded view counts every element)."""
        return self.numel() * self.data.itemsize

    def is_same_size(self, other: Tensor) -> builtins.bool:
        if not isinstance(other, Tensor):
            raise TypeError(f"is_same_size: other must be a tensor, got {type(other).__name__}")
        return self.shape == other.shape

    # ------------------------------------------------------------------ more shape, statistics
    # and linear algebra (functional.py's "more shape, statistics and linear algebra")
    def repeat_interleave(self, repeats: Any, dim: builtins.int | None = None, *,
                          output_size: builtins.int | None = None) -> Tensor:
        return F.repeat_interleave(self, repeats, dim, output_size=output_size)

    def vdot(self, other: Any) -> Tensor:
        return F.vdot(self, other)

    def inner(self, other: Any) -> Tensor:
        return F.inner(self, other)

    def ger(self, vec2: Any) -> Tensor:
        return F.ger(self, vec2)

    def diagflat(self, offset: builtins.int = 0) -> Tensor:
        return F.diagflat(self, offset)

    def cov(self, *, correction: builtins.int = 1, fweights: Any = None,
            aweights: Any = None) -> Tensor:
        return F.cov(self, correction=correction, fweights=fweights, aweights=aweights)

    def corrcoef(self) -> Tensor:
        return F.corrcoef(self)

    def histogram(self, bins: Any = 100, *, range: Any = None, weight: Any = None,
                  density: builtins.bool = False) -> Any:
        return F.histogram(self, bins, range=range, weight=weight, density=density)

    def cholesky_solve(self, input2: Any, upper: builtins.bool = False) -> Tensor:
        return F.cholesky_solve(self, input2, upper)

    def cholesky_inverse(self, upper: builtins.bool = False) -> Tensor:
        return F.cholesky_inverse(self, upper)

    def triangular_solve(self, A: Any, upper: builtins.bool = True,
                         transpose: builtins.bool = False,
                         unitriangular: builtins.bool = False) -> Any:
        return F.triangular_solve(self, A, upper, transpose, unitriangular)

    def select_scatter(self, src: Any, dim: builtins.int, index: builtins.int) -> Tensor:
        return F.select_scatter(self, src, dim, index)

    def slice_scatter(self, src: Any, dim: builtins.int = 0, start: Any = None, end: Any = None,
                      step: builtins.int = 1) -> Tensor:
        return F.slice_scatter(self, src, dim, start, end, step)

    def diagonal_scatter(self, src: Any, offset: builtins.int = 0, dim1: builtins.int = 0,
                         dim2: builtins.int = 1) -> Tensor:
        return F.diagonal_scatter(self, src, offset, dim1, dim2)

    def index_reduce(self, dim: builtins.int, index: Any, source: Any, reduce: str, *,
                     include_self: builtins.bool = True) -> Tensor:
        return F.index_reduce(self, dim, index, source, reduce, include_self=include_self)

    def index_reduce_(self, dim: builtins.int, index: Any, source: Any, reduce: str, *,
                      include_self: builtins.bool = True) -> Tensor:
        return self._inplace(lambda old: F.index_reduce(old, dim, index, source, reduce,
                                                        include_self=include_self), source)

    def narrow_copy(self, dim: builtins.int, start: builtins.int,
                    length: builtins.int) -> Tensor:
        return F.narrow_copy(self, dim, start, length)

    def split_with_sizes(self, split_sizes: Any, dim: builtins.int = 0) -> tuple[Tensor, ...]:
        return F.split_with_sizes(self, split_sizes, dim)

    def swapdims(self, dim0: builtins.int, dim1: builtins.int) -> Tensor:
        return F.transpose(self, dim0, dim1)

    def moveaxis(self, source: Any, destination: Any) -> Tensor:
        return F.movedim(self, source, destination)


_engine._Tensor = Tensor


def _copy_into(dst: np.ndarray, src: np.ndarray) -> None:
    if src.shape != dst.shape and np.broadcast_shapes(src.shape, dst.shape) != dst.shape:
        raise ValueError(f"in-place operation: the result has shape {src.shape}, which does not "
                         f"fit in this tensor's shape {dst.shape}; use the out-of-place form")
    if not _can_store(src.dtype, dst.dtype):
        raise TypeError(f"in-place operation: the result has dtype {src.dtype}, which cannot be "
                        f"stored in this tensor's dtype {dst.dtype}; use the out-of-place form")
    np.copyto(dst, src, casting="unsafe")


def _can_store(src: np.dtype, dst: np.dtype) -> builtins.bool:
    """Whether an in-place op may write a ``src`` result into a ``dst`` tensor: PyTorch's
    ``canCast``, not NumPy's same_kind (which refuses int16 into uint8, as PyTorch does not):
    a float result not into integers or bool, nothing but bool into bool."""
    if src.kind == "f" and dst.kind in "biu":
        return False
    return dst.kind != "b" or src.kind == "b"


def _broadcasts_to(shape: tuple, target: tuple) -> builtins.bool:
    try:
        return np.broadcast_shapes(shape, target) == target
    except ValueError:
        return False


def _keep_old_values(node: Node, memory: np.ndarray, first: builtins.int) -> None:
    """Give the nodes an in-place op just recorded (``node`` and those behind it numbered from
    ``first``) a copy of each value they read from ``memory``, which is about to be
    overwritten: ``x.mul_(w)`` needs the old x for w's gradient, ``x.mul_(x)``, ``x.div_(x)``
    or ``x.mul_(x.T)`` the old x for both (PyTorch keeps the old values too, or refuses)."""
    stack, seen = [node], {node}
    while stack:
        n = stack.pop()
        _copy_shared_values(n, memory)
        for p in n.parents or ():
            if type(p) is Node and p.seq >= first and p not in seen:
                seen.add(p)
                stack.append(p)


def _copy_shared_values(node: Node, memory: np.ndarray) -> None:
    inputs, values = node.inputs, node.values
    if inputs is None or values is None:
        return
    for k in _engine.read_inputs(node):
        if k >= len(inputs) or not isinstance(values[k], np.ndarray) \
                or not np.may_share_memory(values[k], memory):
            continue
        copy = values[k].copy()
        x = inputs[k]
        if isinstance(x, Tensor):
            kept = Tensor._make(copy)
            kept.requires_grad, kept.grad_fn = x.requires_grad, x.grad_fn
            x = kept
        else:
            x = copy
        inputs = inputs[:k] + (x,) + inputs[k + 1:]
        values = values[:k] + (copy,) + values[k + 1:]
    node.inputs, node.values = inputs, values


def _replace(old: Tensor, value: Any) -> Tensor:
    """``value`` broadcast to ``old``'s shape and dtype, recorded as a function of ``old`` with
    zero derivative (so even inf or NaN in ``old`` leave no trace)."""
    return F.E.where(np.False_, old, value)


def _write_back(base: Tensor, new: Tensor, op: Any, params: dict) -> Tensor:
    """``base`` with the region that ``op(base, **params)`` views replaced by ``new``."""
    from .ops.indexing import diagonal, diagonal_key, getitem, index_put
    from .ops.shape import identity, permute, reshape

    if op is _engine.VIEW_CHAIN:  # base -> v1 -> ... -> new: written back one link at a time
        steps = params["steps"]
        views = [base]
        for step_op, step_params in steps[:-1]:
            views.append(_engine.view_of(views[-1], step_op, step_params))
        for (step_op, step_params), v in zip(reversed(steps), reversed(views)):
            new = _write_back(v, new, step_op, step_params)
        return new
    if op is getitem:
        return index_put(base, new, key=params["key"])
    if op is diagonal:
        return index_put(base, new, key=diagonal_key(base.shape, params["offset"]))
    if op is reshape:
        return reshape(new, shape=base.shape)
    if op is permute:
        return permute(new, dims=tuple(int(i) for i in np.argsort(params["dims"])))
    if op is identity:
        return identity(new)
    raise ChainruleError(f"in-place operation on a view made by '{op.name}' while recording "
                         "gradients is not supported; clone() the view first")


class RemovableHandle:
    """What ``register_hook`` returns: ``remove()`` (or calling it) removes the hook."""

    def __init__(self, owner: Any, attr: str, hook: Callable) -> None:
        self._owner, self._attr, self._hook = owner, attr, hook

    def remove(self) -> None:
        hooks = getattr(self._owner, self._attr) or []
        setattr(self._owner, self._attr, [h for h in hooks if h is not self._hook] or None)

    __call__ = remove

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


_TYPE_NAMES = {"float16": "HalfTensor", "float32": "FloatTensor", "float64": "DoubleTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "int16": "ShortTensor",
               "int32": "IntTensor", "int64": "LongTensor", "bool": "BoolTensor"}


def _truth(result: Any, dtype: np.dtype) -> Tensor:
    """The result of ``all``/``any``: bool, but uint8 for a uint8 tensor (as PyTorch keeps it)."""
    return Tensor._make(np.asarray(result, np.uint8 if dtype == np.uint8 else np.bool_))


def _int_op(fn: Callable, *args: Any) -> Tensor:
    """Operations without a gradient (bitwise, integer division) on the plain values (a 0-d
    tensor cast as PyTorch promotes it: int8 & an int64 0-d tensor is int8)."""
    values = _engine._zero_dim_promotion(args, [_plain(a) for a in args])
    try:
        return Tensor._make(np.asarray(fn(*values)))
    except OverflowError as e:  # a Python int outside the tensor's dtype: x & -3 on uint8
        raise OpError(f"{fn.__name__}: {e}; convert the tensor to a wider dtype first (e.g. "
                      "x.long())") from None


def _plain(a: Any) -> Any:
    return a.data if isinstance(a, Tensor) else a


def _kind(a: Any) -> str:
    """The dtype kind of a tensor, array or Python number ('b', 'i', 'u' or 'f')."""
    return np.asarray(_plain(a)).dtype.kind


def _bitwise(fn: Callable, *args: Any) -> Tensor:
    if builtins.any(_kind(a) not in "iub" for a in args):
        kinds = ", ".join(str(np.asarray(_plain(a)).dtype) for a in args)
        raise TypeError(f"{fn.__name__}: bitwise operations need integer or bool tensors, got "
                        f"{kinds}; compare or convert first (e.g. x.long())")
    return _int_op(fn, *args)


def _is_device(a: Any) -> builtins.bool:
    return type(a).__name__ == "device" or isinstance(a, str) and a.split(":")[0] in (
        "cpu", "cuda", "mps", "xpu", "meta")


def _check_device(device: Any, op: str = "to") -> None:
    """PyTorch code passes ``device=``: the CPU (or None) is accepted, anything else refused."""
    if device is not None and str(device).split(":")[0] != "cpu":
        raise ValueError(f"{op}: chainrule runs on the CPU only, got device {str(device)!r}; "
                         "leave device out or give 'cpu'")


def backward_from(outs: list[Tensor], root_grads: list, retain_graph: builtins.bool,
                  create_graph: builtins.bool, inputs: Any = None) -> None:
    """``backward()`` from ``outs`` (several for ``cr.autograd.backward``): every leaf's
    ``.grad`` accumulates, or with ``inputs`` only those tensors' (leaves or not)."""
    if inputs is None:
        walk(outs, root_grads, retain_graph=retain_graph, create_graph=create_graph)
        return
    ins = _backward_inputs(inputs)
    grads = walk(outs, root_grads, retain_graph=retain_graph, create_graph=create_graph,
                 targets=ins)
    for x, gx in zip(ins, grads or ()):
        if gx is None:
            continue
        gx = gx if create_graph else _engine._as_tensor(gx).data
        prev = x._grad
        if create_graph or prev is None or prev.requires_grad:
            x.grad = _engine._as_tensor(gx) if prev is None else prev + gx
            if not create_graph and x._grad is not None and x._grad.data is gx:
                x.grad = Tensor._make(np.array(gx, copy=True))  # (the walk may share gx)
        else:
            prev.data = prev.data + gx  # in place on the same .grad tensor, as PyTorch


def _backward_inputs(inputs: Any) -> list[Tensor]:
    """``backward(inputs=...)`` as a list of tensors that require grad (PyTorch's checks)."""
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if not ins:
        raise ChainruleError("backward: inputs= is empty; leave it out to fill the .grad of "
                             "every leaf, or name the tensors whose .grad to fill")
    for i, x in enumerate(ins):
        if not isinstance(x, Tensor):
            raise TypeError(f"backward: inputs[{i}] is a {type(x).__name__}, not a tensor")
        if not x.requires_grad:
            raise ChainruleError(f"backward: inputs[{i}] (shape {x.shape}) does not require "
                                 "grad, so it can get no gradient; set requires_grad=True on "
                                 "it before computing the output")
    return ins


def _numeric(value: Any) -> builtins.bool:
    """Whether ``value`` (an array, a number, nested lists) makes a numeric NumPy array."""
    try:
        return np.asarray(value).dtype.kind in "biuf"
    except ValueError:  # (ragged nested lists)
        return False


def _root_gradient(out: Tensor, gradient: Any, what: str) -> Any:
    if gradient is None:
        if out.data.size != 1:
            raise ChainruleError(
                f"{what}: grad can be implicitly created only for scalar outputs; this output "
                f"has shape {out.shape}. Pass gradient= (∂L/∂output, same shape), or reduce "
                "the output first (e.g. out.sum().backward())")
        return np.ones(out.shape, dtype=out.dtype)
    if not isinstance(gradient, Tensor) and not _numeric(gradient):
        raise TypeError(f"{what}: gradient must be a tensor (∂L/∂output, of the output's shape "
                        f"{out.shape}) or None, got {type(gradient).__name__}")
    # (a tensor that requires grad or carries forward-mode tangents stays one: the walk then
    # records, so a derivative of the result with respect to it is not lost)
    g = gradient.data if isinstance(gradient, Tensor) and not gradient.requires_grad \
        and gradient._tangents is None else gradient
    if np.shape(g.data if isinstance(g, Tensor) else g) != out.shape:
        raise ChainruleError(f"{what}: gradient has shape {np.shape(getattr(g, 'data', g))}, "
                             f"but the output has shape {out.shape}; they must match")
    return g if isinstance(g, Tensor) else np.asarray(g, dtype=out.dtype)


# --------------------------------------------------------------------------- construction

def tensor(data: Any, dtype: Any = None, requires_grad: bool = False,
           name: str | None = None, *, device: Any = None) -> Tensor:
    """A new leaf tensor holding a copy of ``data``.

    NumPy arrays keep their dtype; Python floats (and lists of them) get the default dtype
    (float32 unless changed with ``cr.set_default_dtype``); ints get int64; bools bool.
    ``device`` may only be the CPU (accepted for PyTorch code).
    """
    _check_device(device, "tensor")
    arr = _to_array(data, dtype, copy=True)
    t = Tensor._make(arr)
    t.name = name
    if requires_grad:
        t.requires_grad_()
    return t


def _to_array(data: Any, dtype: Any, copy: bool) -> np.ndarray:
    if isinstance(data, Tensor):
        arr = data.data
    elif isinstance(data, np.ndarray):
        arr = data
    elif isinstance(data, np.generic):  # a NumPy scalar keeps its dtype, as an array does
        arr = np.asarray(data)
    else:
        try:
            arr = np.asarray(data)
        except ValueError as e:
            raise ValueError(f"tensor: cannot make a tensor from {type(data).__name__}: {e}"
                             ) from None
        if arr.dtype.kind == "f" and dtype is None:
            arr = arr.astype(_dtypes.get_default_dtype())
    if arr.dtype.kind not in "fiub" or arr.dtype.itemsize > 8:  # (not float128 either)
        raise TypeError(f"tensor: unsupported data of dtype {arr.dtype} (chainrule has float "
                        "(16, 32, 64 bits), int and bool tensors)")
    if dtype is not None:
        d = _dtypes.as_dtype(dtype)
        if arr.dtype != d:
            return arr.astype(d)
    return arr.copy() if copy else arr


def as_tensor(data: Any, dtype: Any = None, device: Any = None) -> Tensor:
    """``data`` as a tensor, without copying when it already is one (or an array)."""
    _check_device(device, "as_tensor")
    if isinstance(data, Tensor) and (dtype is None or _dtypes.as_dtype(dtype) == data.dtype):
        return data
    return Tensor._make(_to_array(data, dtype, copy=False))


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (keeps its dtype)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a NumPy array, got {type(array).__name__}")
    return Tensor._make(_to_array(array, None, copy=False))


from . import functional as F  # noqa: E402  (functional builds on Tensor)
