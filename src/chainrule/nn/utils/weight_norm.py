"""Weight normalisation (Salimans & Kingma, 2016, https://arxiv.org/abs/1602.07868) with
PyTorch's hook-based API: ``weight_norm`` / ``remove_weight_norm``, as
``torch.nn.utils.weight_norm`` (whose parameter names and state-dict keys it keeps)."""

from __future__ import annotations

from typing import Any, TypeVar

from ...functional import norm
from ...tensor import Tensor
from ..modules.module import Module
from ..parameter import Parameter

__all__ = ["WeightNorm", "weight_norm", "remove_weight_norm"]

T_module = TypeVar("T_module", bound=Module)


def _norm_except_dim(v: Tensor, dim: int) -> Tensor:
    """‖v‖₂ over every dim but ``dim``, kept as size-1 dims; over everything (a scalar) for
    ``dim == -1``, as PyTorch's ``norm_except_dim``."""
    if dim == -1:
        return norm(v, 2)
    axes = tuple(d for d in range(v.ndim) if d != dim)
    if not axes:  # a vector normalised "per entry": each entry's magnitude
        return abs(v)
    return norm(v, 2, dim=axes, keepdim=True)


class WeightNorm:
    """The forward pre-hook that ``weight_norm`` registers: before each call it sets
    ``module.<name>`` to ``g · v / ‖v‖`` from the parameters ``<name>_g`` and ``<name>_v``."""

    name: str
    dim: int

    def __init__(self, name: str, dim: int | None) -> None:
        self.name = name
        self.dim = -1 if dim is None else dim  # (-1: the whole tensor, as PyTorch)

    def compute_weight(self, module: Module) -> Tensor:
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return v * (g / _norm_except_dim(v, self.dim))

    @staticmethod
    def apply(module: Module, name: str, dim: int | None) -> WeightNorm:
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two weight_norm hooks on the same "
                                   f"parameter {name} (call remove_weight_norm(module, "
                                   f"{name!r}) first)")
        weight = module._parameters.get(name)
        if name not in module._parameters:
            raise AttributeError(
                f"weight_norm: {module._get_name()} has no parameter {name!r}; its "
                f"parameters are {[k for k, p in module._parameters.items() if p is not None]}")
        if weight is None:
            raise ValueError(f"weight_norm: the parameter {name!r} of {module._get_name()} is "
                             "None, so there is nothing to normalise")
        if dim is None:
            dim = -1
        if dim != -1:
            if not -weight.ndim <= dim < weight.ndim:
                raise IndexError(f"weight_norm: dim={dim} is out of range for {name!r} of "
                                 f"shape {weight.shape} (expected -1 or None for the whole "
                                 f"tensor, or a dim in [{-weight.ndim}, {weight.ndim - 1}])")
            dim %= weight.ndim
        fn = WeightNorm(name, dim)
        del module._parameters[name]
        # w = g·v/‖v‖ with g = ‖w‖ (a copy) and v = w (sharing its memory, as PyTorch)
        module.register_parameter(name + "_g",
                                  Parameter(_norm_except_dim(weight, dim).detach().clone()))
        module.register_parameter(name + "_v", Parameter(weight.detach()))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        del module._parameters[self.name + "_g"]
        del module._parameters[self.name + "_v"]
        setattr(module, self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module: T_module, name: str = "weight", dim: int | None = 0) -> T_module:
    """Reparametrise ``module.<name>`` as ``w = g · v / ‖v‖``, as ``torch.nn.utils.weight_norm``.

    The parameter is replaced by ``<name>_g`` (the magnitude) and ``<name>_v`` (the
    direction, at first the old weight); a forward pre-hook recomputes ``module.<name>``
    before every call, so gradients reach ``g`` and ``v``. The norm is taken over every dim
    but ``dim`` (``dim=0``: one norm per output unit, ``g`` of shape ``(out, 1, ...)``);
    ``dim=None`` takes it over the whole tensor (``g`` a scalar). As in PyTorch, ``dim=-1``
    also means the whole tensor, not the last dim. The state dict holds ``<name>_g`` and
    ``<name>_v`` (PyTorch's keys) instead of ``<name>``.

    >>> import chainrule as cr
    >>> m = cr.nn.utils.weight_norm(cr.nn.Linear(20, 40))
    >>> m.weight_g.shape, m.weight_v.shape, list(m.state_dict())
    ((40, 1), (40, 20), ['bias', 'weight_g', 'weight_v'])

    Raises
    ------
    RuntimeError
        If ``<name>`` has weight normalisation already.
    AttributeError
        If ``module`` has no parameter ``<name>``.
    """
    WeightNorm.apply(module, name, dim)
    return module


def remove_weight_norm(module: T_module, name: str = "weight") -> T_module:
    """Undo :func:`weight_norm`: ``module.<name>`` is a plain parameter again, with the
    current value of ``g · v / ‖v‖``; ``<name>_g`` and ``<name>_v`` are gone.

    >>> import chainrule as cr
    >>> m = cr.nn.utils.remove_weight_norm(cr.nn.utils.weight_norm(cr.nn.Linear(2, 3)))
    >>> list(m.state_dict())
    ['bias', 'weight']
    """
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, WeightNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"weight_norm of '{name}' not found in {module._get_name()} (apply "
                     f"cr.nn.utils.weight_norm(module, {name!r}) first)")
