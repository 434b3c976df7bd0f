"""``cr.nn.utils.parametrize``: a parameter computed from others on access (PyTorch's names).

``register_parametrization(module, "weight", p)`` moves the parameter (or buffer) ``weight``
into ``module.parametrizations.weight.original`` and makes ``module.weight`` a property that
returns ``p(original)``, recomputed on every access, so gradients reach ``original``. As in
``torch.nn.utils.parametrize``, the module's class is swapped for a generated subclass
(``Linear`` becomes ``ParametrizedLinear``) that holds the property; nothing in
:class:`~chainrule.nn.Module` itself is involved. The state-dict keys are PyTorch's
(``parametrizations.weight.original``), so state dicts move between the two libraries.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

from ...engine import bump_version, no_grad
from ...tensor import Tensor
from ..modules.container import ModuleDict, ModuleList
from ..modules.module import Module
from ..parameter import Parameter

__all__ = ["cached", "ParametrizationList", "register_parametrization", "is_parametrized",
           "remove_parametrizations", "type_before_parametrizations",
           "transfer_parametrizations_and_params"]

# Inside ``cached()`` (which may nest) every parametrized tensor is computed once, keyed by
# (id of the module, tensor name); leaving the outermost ``cached()`` forgets them.
_cache_depth = 0
_cache: dict[tuple[int, str], Tensor] = {}


@contextlib.contextmanager
def cached() -> Iterator[None]:
    """Within this context each parametrized tensor is computed the first time it is read
    and the same tensor is returned afterwards (useful when a forward reads it several times,
    as an RNN's recurrent weight in its loop); the values are dropped on leaving it.

    >>> import chainrule as cr
    >>> from chainrule.nn.utils import parametrize, parametrizations
    >>> m = parametrizations.orthogonal(cr.nn.Linear(3, 3))
    >>> with parametrize.cached():
    ...     m.weight is m.weight
    True
    """
    global _cache_depth
    _cache_depth += 1
    try:
        yield
    finally:
        _cache_depth -= 1
        if _cache_depth == 0:
            _cache.clear()


def _store(module: Module, name: str, tensor: Tensor) -> None:
    """Register ``tensor`` under ``name`` as a parameter if it is one, else as a buffer."""
    if isinstance(tensor, Parameter):
        module.register_parameter(name, tensor)
    else:
        module.register_buffer(name, tensor)


def _set_values(dest: Tensor, src: Tensor) -> None:
    """Make ``dest`` hold ``src``'s values (sharing its memory, as torch's ``set_``), keeping
    the tensor object, so an optimizer holding ``dest`` keeps working."""
    if dest is not src:
        dest.data = src.data
        bump_version(dest)


class ParametrizationList(ModuleList):
    """The parametrizations of one tensor, applied in order, and the tensors they start from:
    ``module.parametrizations[name]`` (as ``torch.nn.utils.parametrize.ParametrizationList``).

    It holds ``original``, or ``original0``, ``original1``, ... when the first
    parametrization's ``right_inverse`` returns several tensors (weight norm's g and v).
    Calling it computes the parametrized tensor. Made by :func:`register_parametrization`;
    not meant to be built by hand.
    """

    original: Tensor
    unsafe: bool
    is_tensor: bool
    ntensors: int

    def __init__(self, modules: Sequence[Module], original: Tensor, unsafe: bool = False) -> None:
        if len(modules) == 0:
            raise ValueError("ParametrizationList requires one or more modules.")
        super().__init__(modules)
        self.unsafe = unsafe
        shape, dtype, values = original.shape, original.dtype, original.data
        new = self._inverse_at_registration(original)
        if isinstance(new, Tensor):
            self._store_single(original, new)
        elif isinstance(new, Sequence):
            self._store_several(original, new)
        else:
            raise ValueError("register_parametrization: 'right_inverse' must return a Tensor "
                             f"or a Sequence of tensors (list, tuple...). Got "
                             f"{type(new).__name__}")
        if not unsafe:
            try:
                self._check_result(shape, dtype)
            except Exception:
                # a failed registration leaves the tensor as it was (PyTorch's does not)
                _set_values(original, Tensor._make(values))
                raise

    def _inverse_at_registration(self, original: Tensor) -> Any:
        """The originals for ``original``: the right inverses, last parametrization first; one
        raising NotImplementedError (or missing) counts as the identity."""
        new: Any = original
        with no_grad():
            for module in reversed(list(self)):
                inverse = getattr(module, "right_inverse", None)
                if inverse is None:
                    continue
                try:
                    new = inverse(new)
                except NotImplementedError:
                    pass
        return new

    def _store_single(self, original: Tensor, new: Tensor) -> None:
        if new.dtype != original.dtype:
            raise ValueError("When `right_inverse` outputs one tensor, it may not change the "
                             f"dtype.\noriginal.dtype: {original.dtype}\n"
                             f"right_inverse(original).dtype: {new.dtype}")
        self.is_tensor, self.ntensors = True, 1
        with no_grad():
            _set_values(original, new)
        _store(self, "original", original)

    def _store_several(self, original: Tensor, new: Sequence[Any]) -> None:
        self.is_tensor, self.ntensors = False, len(new)
        for i, tensor in enumerate(new):
            if not isinstance(tensor, Tensor):
                raise ValueError("register_parametrization: 'right_inverse' must return a "
                                 "Tensor or a Sequence of tensors (list, tuple...). Got "
                                 f"element {i} of the sequence with type "
                                 f"{type(tensor).__name__}.")
            if isinstance(original, Parameter):
                tensor = Parameter(tensor, original.requires_grad)
            else:
                tensor = tensor.detach()
                if original.requires_grad:
                    tensor.requires_grad_()
            _store(self, f"original{i}", tensor)

    def _check_result(self, shape: tuple[int, ...], dtype: Any) -> None:
        """Without ``unsafe``: the parametrized tensor keeps the original's shape and dtype."""
        z = self()
        if not isinstance(z, Tensor):
            raise ValueError(f"A parametrization must return a tensor. Got {type(z).__name__}.")
        if z.dtype != dtype:
            raise ValueError("Registering a parametrization may not change the dtype of the "
                             "tensor, unless `unsafe` flag is enabled.\n"
                             f"unparametrized dtype: {dtype}\nparametrized dtype: {z.dtype}")
        if z.shape != shape:
            raise ValueError("Registering a parametrization may not change the shape of the "
                             "tensor, unless `unsafe` flag is enabled.\n"
                             f"unparametrized shape: {shape}\nparametrized shape: {z.shape}")

    def right_inverse(self, value: Tensor) -> None:
        """Store what the right inverses (last parametrization first) make of ``value`` in
        ``original`` (or ``original0, original1, ...``): what ``module.weight = value`` does.

        Unlike PyTorch, without ``unsafe`` the originals must keep their shapes too (PyTorch
        lets an assignment change them silently, which breaks the module)."""
        with no_grad():
            for module in reversed(list(self)):
                inverse = getattr(module, "right_inverse", None)
                if inverse is None:
                    raise RuntimeError(f"parametrization {type(module).__name__} does not "
                                       "implement right_inverse, so the parametrized tensor "
                                       "cannot be assigned; assign to "
                                       "module.parametrizations[name].original instead")
                value = inverse(value)
            if self.is_tensor:
                if not isinstance(value, Tensor):
                    raise ValueError(f"`right_inverse` should return a tensor. Got "
                                     f"{type(value).__name__}")
                self._assign(self.original, value, "original")
                return
            if not isinstance(value, Sequence):
                raise ValueError("'right_inverse' must return a sequence of tensors. "
                                 f"Got {type(value).__name__}.")
            if len(value) != self.ntensors:
                raise ValueError("'right_inverse' must return a sequence of tensors of length "
                                 f"{self.ntensors}. Got a sequence of length {len(value)}.")
            for i, tensor in enumerate(value):
                if not isinstance(tensor, Tensor):
                    raise ValueError("'right_inverse' must return a sequence of tensors. Got "
                                     f"element {i} of type {type(tensor).__name__}.")
                self._assign(getattr(self, f"original{i}"), tensor, f"original{i}")

    def _assign(self, dest: Tensor, value: Tensor, name: str) -> None:
        if value.dtype != dest.dtype:
            raise ValueError(f"The tensor returned by `right_inverse` has dtype {value.dtype} "
                             f"while `{name}` has dtype {dest.dtype}")
        if not self.unsafe and value.shape != dest.shape:
            raise ValueError(f"The tensor returned by `right_inverse` has shape "
                             f"{tuple(value.shape)} while `{name}` has shape "
                             f"{tuple(dest.shape)}: assign a tensor of the parametrized "
                             "tensor's shape (or register with unsafe=True)")
        _set_values(dest, value)

    def forward(self) -> Tensor:
        first, *rest = list(self)
        if self.is_tensor:
            x = first(self.original)
        else:
            x = first(*(getattr(self, f"original{i}") for i in range(self.ntensors)))
        for module in rest:
            x = module(x)
        return x


def _refuse_pickling(self: Module) -> Any:
    raise RuntimeError("Serialization of parametrized modules is only supported through "
                       "state_dict(): save module.state_dict() and load it into a module "
                       "parametrized the same way")


def _deepcopy_parametrized(self: Module, memo: dict[int, Any]) -> Module:
    """A deep copy with a generated class of its own, holding its own properties (PyTorch's
    copy shares the original's class, so registering or removing a parametrization on the
    copy changes the original too)."""
    base = type(self).__bases__[0]
    new = base.__deepcopy__(self, memo)  # type: ignore[attr-defined]
    _swap_class(new, base)
    for tensor_name in new.parametrizations:
        _add_property(new, tensor_name)
    return new


def _swap_class(module: Module, base: type | None = None) -> None:
    """Give ``module`` a class of its own (``Parametrized<Name>``, a subclass of its class, or
    of ``base``) to hold the properties, so other instances of the class are untouched."""
    cls = type(module) if base is None else base
    module.__class__ = type(f"Parametrized{cls.__name__}", (cls,),
                            {"__getstate__": _refuse_pickling,
                             "__deepcopy__": _deepcopy_parametrized,
                             "__module__": cls.__module__})


def _add_property(module: Module, tensor_name: str) -> None:
    """``module.<tensor_name>``: read, the parametrized tensor (cached within ``cached()``);
    assigned, stored through the parametrizations' right inverses."""

    def get_parametrized(self: Module) -> Tensor:
        parametrization = self.parametrizations[tensor_name]
        if not _cache_depth:
            return parametrization()
        key = (id(self), tensor_name)
        if key not in _cache:
            _cache[key] = parametrization()
        return _cache[key]

    def set_original(self: Module, value: Tensor) -> None:
        self.parametrizations[tensor_name].right_inverse(value)

    setattr(type(module), tensor_name, property(
        get_parametrized, set_original,
        doc=f"``{tensor_name}``, computed by module.parametrizations.{tensor_name}"))


def _check_appended(module: Module, tensor_name: str, parametrization: Module) -> None:
    """A parametrization added to a chain maps the current tensor's space to itself."""
    y = getattr(module, tensor_name)
    x = parametrization(y)
    if not isinstance(x, Tensor):
        raise ValueError(f"A parametrization must return a tensor. Got {type(x).__name__}.")
    if x.dtype != y.dtype:
        raise ValueError("Registering a parametrization may not change the dtype of the tensor, "
                         "unless the `unsafe` flag is enabled.\n"
                         f"module.{tensor_name}.dtype: {y.dtype}\n"
                         f"parametrization(module.{tensor_name}).dtype: {x.dtype}")
    if x.shape != y.shape:
        raise ValueError("Registering a parametrization may not change the shape of the tensor, "
                         "unless the `unsafe` flag is enabled.\n"
                         f"module.{tensor_name}.shape: {y.shape}\n"
                         f"parametrization(module.{tensor_name}).shape: {x.shape}")
    inverse = getattr(parametrization, "right_inverse", None)
    if inverse is None:
        return
    try:
        z = inverse(x)
    except NotImplementedError:
        return
    if not isinstance(z, Tensor):
        raise ValueError(f"parametrization.right_inverse must return a tensor. Got: "
                         f"{type(z).__name__}")
    if z.dtype != y.dtype:
        raise ValueError("The tensor returned by parametrization.right_inverse must have the "
                         f"same dtype as module.{tensor_name}, unless the `unsafe` flag is "
                         f"enabled.\nmodule.{tensor_name}.dtype: {y.dtype}\n"
                         f"returned dtype: {z.dtype}")
    if z.shape != y.shape:
        raise ValueError("The tensor returned by parametrization.right_inverse must have the "
                         f"same shape as module.{tensor_name}, unless the `unsafe` flag is "
                         f"enabled.\nmodule.{tensor_name}.shape: {y.shape}\n"
                         f"returned shape: {z.shape}")


def register_parametrization(module: Module, tensor_name: str, parametrization: Module, *,
                             unsafe: bool = False) -> Module:
    """Make ``module.<tensor_name>`` the output of ``parametrization``, as
    ``torch.nn.utils.parametrize.register_parametrization``.

    The parameter or buffer ``<tensor_name>`` moves to
    ``module.parametrizations[tensor_name].original`` (the same tensor object, so an
    optimizer built before keeps working); reading ``module.<tensor_name>`` then returns
    ``parametrization(original)``, recomputed on each read (see :func:`cached`). If
    ``parametrization`` has a ``right_inverse``, ``original`` starts as
    ``right_inverse(tensor)``; one returning several tensors gives ``original0``,
    ``original1``, ... (new parameters: add them to the optimizer), which ``forward``
    receives as separate arguments. Assigning ``module.<tensor_name> = value`` stores
    ``right_inverse(value)``. Registering again on the same name chains the
    parametrizations (applied in registration order). The module's class becomes a
    generated subclass ``Parametrized<Class>``; state-dict keys are PyTorch's
    (``parametrizations.<tensor_name>.original``).

    Unless ``unsafe``, the parametrized tensor must keep the tensor's shape and dtype (checked
    now, by running it once).

    >>> import chainrule as cr
    >>> class Symmetric(cr.nn.Module):
    ...     def forward(self, x):
    ...         return x.triu() + x.triu(1).mT
    >>> m = register_parametrization(cr.nn.Linear(3, 3), "weight", Symmetric())
    >>> type(m).__name__, list(m.state_dict())
    ('ParametrizedLinear', ['bias', 'parametrizations.weight.original'])
    >>> bool((m.weight == m.weight.mT).all())
    True

    Raises
    ------
    ValueError
        If ``module`` has no parameter or buffer ``<tensor_name>`` (or it is None), or
        (without ``unsafe``) the parametrization changes its shape or dtype.
    TypeError
        If ``parametrization`` is not a :class:`~chainrule.nn.Module`.
    """
    if not isinstance(parametrization, Module):
        raise TypeError(f"register_parametrization: the parametrization must be a "
                        f"cr.nn.Module, got {type(parametrization).__name__}; wrap the "
                        "function in a Module whose forward computes it")
    parametrization.train(module.training)
    if is_parametrized(module, tensor_name):
        if not unsafe:
            _check_appended(module, tensor_name, parametrization)
        chain = module.parametrizations[tensor_name]
        chain.append(parametrization)
        chain.unsafe |= unsafe
    elif tensor_name in module._parameters or tensor_name in module._buffers:
        original = getattr(module, tensor_name)
        if original is None:
            raise ValueError(f"register_parametrization: {module._get_name()}.{tensor_name} "
                             "is None, so there is nothing to parametrize")
        chain = ParametrizationList([parametrization], original, unsafe=unsafe)
        delattr(module, tensor_name)
        if not is_parametrized(module):
            _swap_class(module)
            module.parametrizations = ModuleDict()
        _add_property(module, tensor_name)
        module.parametrizations[tensor_name] = chain
    else:
        names = [k for k, v in (*module._parameters.items(), *module._buffers.items())
                 if v is not None]
        raise ValueError(f"Module '{module}' does not have a parameter, a buffer, or a "
                         f"parametrized element with name '{tensor_name}' (its parameters "
                         f"and buffers: {names})")
    return module


def is_parametrized(module: Module, tensor_name: str | None = None) -> bool:
    """Whether ``module.<tensor_name>`` is parametrized (any tensor of ``module`` if
    ``tensor_name`` is None)."""
    chains = getattr(module, "parametrizations", None)
    if not isinstance(chains, ModuleDict):
        return False
    return len(chains) > 0 if tensor_name is None else tensor_name in chains


def remove_parametrizations(module: Module, tensor_name: str,
                            leave_parametrized: bool = True) -> Module:
    """Undo :func:`register_parametrization` on ``module.<tensor_name>``, as
    ``torch.nn.utils.parametrize.remove_parametrizations``.

    With ``leave_parametrized`` the plain parameter (or buffer) holds the current
    parametrized value, else the unparametrized ``original`` (possible only when there is a
    single original). With a single original, the tensor object stays the same (so an
    optimizer keeps working). When no parametrized tensor is left, the module gets its
    original class back.

    Raises
    ------
    ValueError
        If ``module.<tensor_name>`` is not parametrized, or ``leave_parametrized=False``
        with several originals.
    """
    if not is_parametrized(module, tensor_name):
        raise ValueError(f"Module {module} does not have a parametrization on {tensor_name}")
    chain = module.parametrizations[tensor_name]
    if chain.is_tensor:
        original = chain.original
        if leave_parametrized:
            with no_grad():
                _set_values(original, getattr(module, tensor_name))
    elif leave_parametrized:
        # (with the graph: whether it requires grad says parameter or buffer)
        value = getattr(module, tensor_name)
        original = Parameter(value) if value.requires_grad else value.detach()
    else:
        raise ValueError("Cannot leave unparametrized (`leave_parametrized=False`) a tensor "
                         "that is parametrized in terms of a sequence of tensors "
                         f"({tensor_name} of {module._get_name()} has {chain.ntensors}).")
    delattr(type(module), tensor_name)
    del module.parametrizations[tensor_name]
    _store(module, tensor_name, original)
    if not is_parametrized(module):
        delattr(module, "parametrizations")
        module.__class__ = type(module).__bases__[0]
    return module


def type_before_parametrizations(module: Module) -> type:
    """The module's class before parametrizations were registered (``Linear`` for a
    ``ParametrizedLinear``); its class if it has none."""
    if is_parametrized(module):
        return type(module).__bases__[0]
    return type(module)


def transfer_parametrizations_and_params(from_module: Module, to_module: Module,
                                         tensor_name: str | None = None) -> Module:
    """Register ``from_module``'s parametrizations of ``tensor_name`` (of every parametrized
    tensor if None) on ``to_module`` too, sharing the parametrization modules and original
    tensors, as ``torch.nn.utils.parametrize.transfer_parametrizations_and_params``. A
    tensor missing from ``to_module`` is created first. Does nothing if ``from_module`` is
    not parametrized."""
    if not is_parametrized(from_module):
        return to_module
    names = list(from_module.parametrizations) if tensor_name is None else [tensor_name]
    for name in names:
        if not hasattr(to_module, name):
            setattr(to_module, name, Parameter(getattr(from_module, name).detach()))
        source = from_module.parametrizations[name]
        for parametrization in source:
            register_parametrization(to_module, name, parametrization)
        target = to_module.parametrizations[name]
        if source.is_tensor:
            target.original = source.original
        else:
            for i in range(source.ntensors):
                setattr(target, f"original{i}", getattr(source, f"original{i}"))
    return to_module
