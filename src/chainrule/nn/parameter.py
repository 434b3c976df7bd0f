"""``Parameter``: a leaf tensor that a :class:`~chainrule.nn.Module` registers as learnable."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _dtypes
from ..engine import version_box
from ..tensor import Tensor, _to_array

__all__ = ["Parameter", "Buffer"]


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
