"""``Module``: the base class of every layer, with PyTorch's registration, traversal,
state-dict and mode semantics."""

from __future__ import annotations

import copy
import itertools
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from typing import Any, NamedTuple, TypeVar

import numpy as np

from ... import _dtypes
from ...engine import STATE, GradGroup, bump_version, name_scope, version_box
from ...serialization import check_state_dict
from ...tensor import Tensor
from ..parameter import (
    Buffer,
    Parameter,
    UninitializedBuffer,
    UninitializedTensorMixin,
    UninitializedUseError,
    is_lazy,
)

__all__ = ["Module", "RemovableHandle"]

M = TypeVar("M", bound="Module")


class _IncompatibleKeys(NamedTuple):
    """What ``load_state_dict`` returns: the keys it did not find, and those it did not use."""

    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
                f"unexpected_keys={self.unexpected_keys})")


class RemovableHandle:
    """Returned by ``register_*_hook``: ``handle.remove()`` unregisters the hook."""

    _next_id = itertools.count()

    def __init__(self, hooks: dict[int, Any], *flag_sets: set[int]) -> None:
        self.hooks = hooks
        self.flag_sets = flag_sets  # the hook's options (with_kwargs, ...), keyed by id
        self.id = next(RemovableHandle._next_id)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)
        for flags in self.flag_sets:
            flags.discard(self.id)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


def _as_array(value: Any) -> Any:
    """A state-dict value as a NumPy array: chainrule tensors, arrays, numbers, and anything
    with ``detach().cpu().numpy()`` (PyTorch tensors) are accepted."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (int, float, bool, np.generic)):
        return np.asarray(value)
    detach = getattr(value, "detach", None)
    if callable(detach) and hasattr(value, "shape"):
        t = detach()
        t = t.cpu() if hasattr(t, "cpu") else t
        return np.asarray(t.numpy())
    return value


def _forward_unimplemented(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise NotImplementedError(
        f'Module [{type(self).__name__}] is missing the required "forward" function')


class Module:
    """Base class for all layers and models.

    Subclasses call ``super().__init__()`` first, assign their parameters (``Parameter``),
    sub-modules and buffers as attributes, and define ``forward``. Calling the module runs
    ``forward`` (and any hooks).

    >>> import chainrule as cr
    >>> class Net(cr.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc1 = cr.nn.Linear(4, 3)
    ...         self.fc2 = cr.nn.Linear(3, 1)
    ...     def forward(self, x):
    ...         return self.fc2(cr.relu(self.fc1(x)))
    >>> net = Net()
    >>> [name for name, _ in net.named_parameters()]
    ['fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    >>> net(cr.randn(2, 4)).shape
    (2, 1)
    """

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _non_persistent_buffers_set: set[str]
    _modules: dict[str, Module | None]
    _forward_pre_hooks: dict[int, Callable[..., Any]]
    _forward_hooks: dict[int, Callable[..., Any]]
    _backward_pre_hooks: dict[int, Callable[..., Any]]
    _backward_hooks: dict[int, Callable[..., Any]]
    _hooks_with_kwargs: set[int]
    _hooks_always_called: set[int]
    _scope: str | None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if args or kwargs:
            raise TypeError(f"{type(self).__name__}.__init__() got unexpected arguments; "
                            "Module.__init__ takes none")
        setattr_ = object.__setattr__
        setattr_(self, "training", True)
        setattr_(self, "_parameters", {})
        setattr_(self, "_buffers", {})
        setattr_(self, "_non_persistent_buffers_set", set())
        setattr_(self, "_modules", {})
        setattr_(self, "_forward_pre_hooks", {})
        setattr_(self, "_forward_hooks", {})
        setattr_(self, "_backward_pre_hooks", {})
        setattr_(self, "_backward_hooks", {})
        setattr_(self, "_hooks_with_kwargs", set())
        setattr_(self, "_hooks_always_called", set())
        setattr_(self, "_scope", None)

    def __setstate__(self, state: dict[str, Any]) -> None:
        # A parameter-free module pickled by an older chainrule lacks the hook-option sets.
        self.__dict__.update(state)
        for name in ("_hooks_with_kwargs", "_hooks_always_called"):
            if name not in self.__dict__:
                object.__setattr__(self, name, set())
        for name in ("_backward_pre_hooks", "_backward_hooks"):
            if name not in self.__dict__:
                object.__setattr__(self, name, {})

    # ------------------------------------------------------------------ calling
    # Declared as an attribute (as PyTorch does) so subclasses may use any signature.
    forward: Callable[..., Any] = _forward_unimplemented

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self._scope is None and not self._forward_pre_hooks and not self._forward_hooks \
                and not self._backward_hooks and not self._backward_pre_hooks:
            return self.forward(*args, **kwargs)
        if self._scope is None:
            return self._call_with_hooks(args, kwargs)
        with name_scope(self._scope):
            return self._call_with_hooks(args, kwargs)

    def _call_with_hooks(self, args: tuple, kwargs: dict) -> Any:
        out = None
        called: set[int] = set()  # the always_call forward hooks that have run
        try:
            for hook_id, hook in list(self._forward_pre_hooks.items()):
                if hook_id in self._hooks_with_kwargs:
                    new = hook(self, args, kwargs)
                    if new is not None:
                        if not (isinstance(new, tuple) and len(new) == 2):
                            raise RuntimeError("forward pre-hook must return None or a tuple "
                                               f"of (new_args, new_kwargs), but got {new!r}")
                        args, kwargs = new
                else:
                    new = hook(self, args)
                    if new is not None:
                        args = new if isinstance(new, tuple) else (new,)
            backward_hooks = None
            if (self._backward_hooks or self._backward_pre_hooks) and STATE.grad_enabled:
                backward_hooks = _BackwardHooks(self)
                args = backward_hooks.wrap_inputs(args)
            out = self.forward(*args, **kwargs)
            for hook_id, hook in list(self._forward_hooks.items()):
                if hook_id in self._hooks_always_called:
                    called.add(hook_id)
                new = self._run_forward_hook(hook_id, hook, args, kwargs, out)
                if new is not None:
                    out = new
            return out if backward_hooks is None else backward_hooks.wrap_outputs(out)
        except Exception:
            # As PyTorch: the always_call hooks that have not run yet run now (with the
            # output so far, None if forward failed); an error of theirs is only warned
            # about, and the original error is raised.
            for hook_id, hook in list(self._forward_hooks.items()):
                if hook_id not in self._hooks_always_called or hook_id in called:
                    continue
                try:
                    new = self._run_forward_hook(hook_id, hook, args, kwargs, out)
                    if new is not None:
                        out = new
                except Exception as e:
                    warnings.warn("module forward hook with ``always_call=True`` raised an "
                                  "exception that was silenced as another error was raised "
                                  f"in forward: {e}", stacklevel=3)
            raise

    def _run_forward_hook(self, hook_id: int, hook: Callable[..., Any], args: tuple,
                          kwargs: dict, out: Any) -> Any:
        if hook_id in self._hooks_with_kwargs:
            return hook(self, args, kwargs, out)
        return hook(self, args, out)

    def _add_hook(self, hooks: dict[int, Callable[..., Any]], hook: Callable[..., Any],
                  prepend: bool, with_kwargs: bool, always_call: bool = False
                  ) -> RemovableHandle:
        handle = RemovableHandle(hooks, self._hooks_with_kwargs, self._hooks_always_called)
        hooks[handle.id] = hook
        if prepend:  # move it to the front, keeping the others' order
            for key in [k for k in hooks if k != handle.id]:
                hooks[key] = hooks.pop(key)
        if with_kwargs:
            self._hooks_with_kwargs.add(handle.id)
        if always_call:
            self._hooks_always_called.add(handle.id)
        return handle

    def register_forward_pre_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                                  with_kwargs: bool = False) -> RemovableHandle:
        """``hook(module, args)`` runs before ``forward``; returning a value replaces ``args``
        (a non-tuple is wrapped in one). With ``with_kwargs``, ``hook(module, args, kwargs)``
        may return ``(new_args, new_kwargs)``. ``prepend`` runs it before the others."""
        return self._add_hook(self._forward_pre_hooks, hook, prepend, with_kwargs)

    def register_forward_hook(self, hook: Callable[..., Any], *, prepend: bool = False,
                              with_kwargs: bool = False, always_call: bool = False
                              ) -> RemovableHandle:
        """``hook(module, args, output)`` runs after ``forward``; returning a value replaces
        the output. With ``with_kwargs`` it is ``hook(module, args, kwargs, output)``;
        ``prepend`` runs it before the others, ``always_call`` even when forward raises."""
        return self._add_hook(self._forward_hooks, hook, prepend, with_kwargs, always_call)

    def register_full_backward_pre_hook(self, hook: Callable[..., Any], *,
                                        prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_output)`` runs in backward when the gradients with respect to
        the module's outputs are known, before they go on into the module; returning a tuple
        replaces ``grad_output``. ``grad_output`` has an entry per element of the output (one,
        for a tensor), None where no gradient arrived."""
        return self._add_hook(self._backward_pre_hooks, hook, prepend, False)

    def register_full_backward_hook(self, hook: Callable[..., Any], *,
                                    prepend: bool = False) -> RemovableHandle:
        """``hook(module, grad_input, grad_output)`` runs in backward when the gradients with
        respect to the module's positional inputs are known, before they leave the module;
        returning a tuple replaces ``grad_input``. ``grad_input`` has an entry per positional
        argument, None for one that is not a tensor requiring grad. As in PyTorch, keyword
        arguments are not seen, and when no input requires grad the hook still runs, with
        ``grad_input`` all None, and may not return gradients."""
        return self._add_hook(self._backward_hooks, hook, prepend, False)

    def register_backward_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Not supported: PyTorch deprecates it (its ``grad_input`` is that of the module's
        last operation, not of the module); use :meth:`register_full_backward_hook`."""
        raise NotImplementedError(
            f"{type(self).__name__}.register_backward_hook: this deprecated PyTorch hook "
            "(it sees the gradients of the module's last operation only) is not supported; "
            "use register_full_backward_hook(hook), whose grad_input are the gradients with "
            "respect to the module's inputs")

    # ------------------------------------------------------------------ registration
    def _check_name(self, name: Any, kind: str) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(f"cannot assign {kind} before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string, got {type(name).__name__}")
        if "." in name or name == "":
            raise KeyError(f"{kind} name can't contain \".\" or be empty, got {name!r}")

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or a ``None`` placeholder) under ``name``."""
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign '{type(param).__name__}' object to parameter "
                            f"'{name}' (cr.nn.Parameter or None required)")
        if param is not None and param.grad_fn is not None:
            raise ValueError(
                f"cannot assign non-leaf tensor to parameter '{name}'. Model parameters must "
                "be created explicitly; to express '{name}' as a function of another tensor, "
                "compute it in forward()")
        self._parameters[name] = param
        if param is not None:
            param.name = name

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a buffer: state that is not learned (running statistics). Persistent buffers
        are part of the state dict."""
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{type(tensor).__name__}' object to buffer "
                            f"'{name}' (cr.Tensor or None required)")
        if isinstance(tensor, (Buffer, Parameter)):
            plain = Tensor._make(tensor.data)
            plain._vbox = version_box(tensor)
            tensor = plain
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a sub-module under ``name`` (as attribute assignment does)."""
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module
        if module is not None:
            object.__setattr__(module, "_scope", name)
            for _ in module.named_parameters(prefix=name, remove_duplicate=False):
                pass  # named_parameters() sets each parameter's .name to its path

    register_module = add_module

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._remove_from(name, d, "_buffers", "_modules")
            d.pop(name, None)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                                "(cr.nn.Parameter or None expected)")
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._remove_from(name, d, "_parameters", "_buffers")
            d.pop(name, None)
            self.add_module(name, value)
        elif params is not None and name in d["_modules"]:
            if value is not None:
                raise TypeError(f"cannot assign '{type(value).__name__}' as child module "
                                f"'{name}' (cr.nn.Module or None expected)")
            d["_modules"][name] = None
        elif isinstance(value, (Buffer, UninitializedBuffer)):
            self._remove_from(name, d, "_parameters", "_modules")
            d.pop(name, None)
            self.register_buffer(name, value, persistent=getattr(value, "persistent", True))
        elif params is not None and name in d["_buffers"]:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                                "(cr.Tensor or None expected)")
            d["_buffers"][name] = value
        else:
            object.__setattr__(self, name, value)

    @staticmethod
    def _remove_from(name: str, d: dict, *stores: str) -> None:
        for s in stores:
            if s in d:
                d[s].pop(name, None)
        if "_non_persistent_buffers_set" in d and "_buffers" in stores:
            d["_non_persistent_buffers_set"].discard(name)

    def __delattr__(self, name: str) -> None:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                del d[store][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        keys = list(super().__dir__())
        return sorted(set(keys + list(self._parameters) + list(self._buffers)
                          + list(self._modules)))

    def get_submodule(self, target: str) -> Module:
        """The sub-module at a dotted path (``"encoder.layers.0"``); ``""`` is self."""
        mod: Module = self
        for item in target.split(".") if target else []:
            child = mod._modules.get(item)
            if child is None:
                raise AttributeError(f"{type(mod).__name__} has no submodule `{item}`")
            mod = child
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at a dotted path (``"fc1.weight"``)."""
        path, _, name = target.rpartition(".")
        p = self.get_submodule(path)._parameters.get(name)
        if p is None:
            raise AttributeError(f"no parameter `{target}`")
        return p

    def get_buffer(self, target: str) -> Tensor:
        path, _, name = target.rpartition(".")
        b = self.get_submodule(path)._buffers.get(name)
        if b is None:
            raise AttributeError(f"no buffer `{target}`")
        return b

    # ------------------------------------------------------------------ traversal
    def named_modules(self, memo: set[int] | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """``(path, module)`` for this module and every sub-module, depth first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def _named_members(self, store: str, prefix: str, recurse: bool,
                       remove_duplicate: bool) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        mods = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                if recurse else iter([(prefix, self)]))
        for mod_prefix, mod in mods:
            for k, v in getattr(mod, store).items():
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield mod_prefix + ("." if mod_prefix else "") + k, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """``(path, parameter)`` pairs, e.g. ``("fc1.weight", ...)``; each parameter's
        ``.name`` is set to its path."""
        for name, p in self._named_members("_parameters", prefix, recurse, remove_duplicate):
            p.name = name
            yield name, p

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        """Every parameter (each once, even if shared), in registration order."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # ------------------------------------------------------------------ modes and grads
    def train(self: M, mode: bool = True) -> M:
        """Set training mode (``mode=False``: evaluation) here and in every sub-module."""
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        object.__setattr__(self, "training", mode)
        # Through each child's own train(), as PyTorch does: a sub-module overriding it
        # (say, to keep its batch norm frozen) gets the call.
        for m in self.children():
            m.train(mode)
        return self

    def eval(self: M) -> M:
        """Evaluation mode: dropout off, batch norm uses its running statistics."""
        return self.train(False)

    def requires_grad_(self: M, requires_grad: bool = True) -> M:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters (to ``None``, or to zeros)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                if p.grad.grad_fn is not None:
                    p.grad = p.grad.detach()
                p.grad.data[...] = 0

    def apply(self: M, fn: Callable[[Module], Any]) -> M:
        """Call ``fn`` on every sub-module (children first), then on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------------ dtype
    def _apply_to_tensors(self, fn: Callable[[np.ndarray], np.ndarray]) -> None:
        """Replace the values of every parameter, gradient and buffer in place (the tensor
        objects stay the same, so optimizers keep working)."""
        seen: set[int] = set()
        for m in self.modules():
            tensors = [t for t in itertools.chain(m._parameters.values(), m._buffers.values())
                       if t is not None]
            for t in tensors:
                if id(t) in seen:
                    continue
                seen.add(id(t))
                new = fn(t.data)
                if new is not t.data:
                    t.data = new
                    bump_version(t)
                if t.grad is not None:
                    t.grad.data = fn(t.grad.data)

    def to(self: M, *args: Any, **kwargs: Any) -> M:
        """Convert floating parameters and buffers to a dtype (``model.to(cr.float64)``);
        device arguments (``'cpu'``) are accepted and ignored."""
        dtype = kwargs.get("dtype")
        for a in list(args) + [kwargs.get("device")]:
            if a is None:
                continue
            if isinstance(a, Tensor):
                dtype = a.dtype
            elif isinstance(a, str) and a.split(":")[0] in ("cpu",):
                continue
            elif isinstance(a, str) and a.split(":")[0] in ("cuda", "mps"):
                raise RuntimeError(f"chainrule runs on the CPU only; cannot move to {a!r}")
            else:
                dtype = a
        if dtype is None:
            return self
        d = _dtypes.as_dtype(dtype)
        if d.kind != "f":
            raise TypeError(f"Module.to only accepts floating point dtypes, got {d}")
        self._apply_to_tensors(lambda a: a.astype(d) if a.dtype.kind == "f" and a.dtype != d
                               else a)
        return self

    def type(self: M, dst_type: Any) -> M:
        return self.to(dst_type)

    def float(self: M) -> M:
        return self.to(_dtypes.float32)

    def double(self: M) -> M:
        return self.to(_dtypes.float64)

    def half(self: M) -> M:
        return self.to(_dtypes.float16)

    def cpu(self: M) -> M:
        return self

    def cuda(self: M, device: Any = None) -> M:
        raise RuntimeError("chainrule runs on the CPU only (NumPy); there is no cuda()")

    # ------------------------------------------------------------------ state dict
    def _state_entries(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """(key, tensor) for every parameter and persistent buffer, in PyTorch's order:
        a module's parameters, then its buffers, then its children."""
        for name, p in self._parameters.items():
            if p is not None:
                yield prefix + name, p
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                yield prefix + name, b
        for name, m in self._modules.items():
            if m is not None:
                yield from m._state_entries(prefix + name + ".")

    def state_dict(self, destination: dict[str, Any] | None = None, prefix: str = "",
                   keep_vars: bool = False) -> dict[str, Any]:
        """``{"fc1.weight": tensor, ..., "bn.running_mean": tensor, ...}`` with PyTorch's keys.

        The tensors share memory with the model (detached unless ``keep_vars``); copy them
        (``{k: v.clone() ...}``) to keep a snapshot. A lazy module's uninitialized parameters
        are given as they are (``<UninitializedParameter>``), as PyTorch does.
        """
        out: dict[str, Any] = OrderedDict() if destination is None else destination
        for key, t in self._state_entries(prefix):
            out[key] = t if keep_vars or is_lazy(t) else t.detach()
        return out

    def _optional_state_keys(self) -> set[str]:
        """Keys that a checkpoint may lack without being incomplete (a module's
        ``_optional_state`` names, e.g. BatchNorm's ``num_batches_tracked``, which PyTorch
        checkpoints before 0.4.1 do not have); they keep their current value."""
        return {f"{prefix}.{name}" if prefix else name
                for prefix, m in self.named_modules()
                for name in getattr(m, "_optional_state", ())}

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copy values from ``state_dict`` into the parameters and buffers.

        Everything (keys with ``strict``, shapes, dtypes) is checked before anything is
        written, so a failed load leaves the model untouched. Values may be chainrule tensors,
        NumPy arrays or PyTorch tensors. Returns ``(missing_keys, unexpected_keys)``.
        An uninitialized parameter (of a lazy module) takes the shape of the value loaded; an
        uninitialized value (from a lazy module before its first forward) leaves it as it is.

        Raises
        ------
        StateDictError
            Listing every missing/unexpected key (``strict=True``) and every shape or dtype
            mismatch.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        given = {k: v if _is_uninitialized(v) else _as_array(v) for k, v in state_dict.items()}
        optional = self._optional_state_keys()  # (once: it walks every submodule)
        targets = {k: t for k, t in self._state_entries() if k in given or k not in optional}
        _skip_uninitialized_values(targets, given)
        check_state_dict({k: (_expected_shape(t, given.get(k)), t.dtype)
                          for k, t in targets.items()}, given, strict=strict)
        missing = [k for k in targets if k not in given]
        unexpected = [k for k in given if k not in targets]
        for key, t in targets.items():
            if key not in given:
                continue
            if isinstance(t, UninitializedTensorMixin):  # (a lazy module's)
                t.materialize(given[key].shape)
            if assign:
                t.data = np.array(given[key], dtype=t.dtype, copy=True)
            else:
                np.copyto(t.data, given[key])
            bump_version(t)
        return _IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ copying
    def __deepcopy__(self, memo: dict[int, Any]) -> Module:
        for m in self.modules():
            for t in itertools.chain(m._parameters.values(), m._buffers.values(),
                                     m.__dict__.values()):
                if isinstance(t, Tensor) and id(t) not in memo:
                    memo[id(t)] = _copy_tensor(t, memo)
        new = object.__new__(type(self))
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            object.__setattr__(new, k, copy.deepcopy(v, memo))
        return new

    # ------------------------------------------------------------------ repr
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (override to describe it)."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self._modules.items():
            body = repr(m).replace("\n", "\n  ")
            lines.append(f"({name}): {body}")
        main = self._get_name() + "("
        if lines:
            if len(lines) == 1 and not self._modules:
                main += lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"


def _is_uninitialized(value: Any) -> bool:
    """Whether a state-dict value is a lazy module's uninitialized parameter or buffer
    (chainrule's or PyTorch's: both have ``materialize``)."""
    return callable(getattr(value, "materialize", None))


def _skip_uninitialized_values(targets: dict[str, Tensor], given: dict[str, Any]) -> None:
    """Drop the uninitialized values (a lazy module's state dict saved before its first
    forward) from ``targets`` and ``given``: loaded into an uninitialized tensor they leave it
    as it is, as PyTorch; loaded into an initialized one they have no values to give."""
    for key in [k for k in targets if k in given and _is_uninitialized(given[k])]:
        if not is_lazy(targets[key]):
            raise UninitializedUseError(
                f"load_state_dict: the state dict's {key!r} is uninitialized (saved from a lazy "
                f"module before its first forward), but the model's has shape "
                f"{tuple(targets[key].shape)}; run the lazy module once before saving its "
                "state dict")
        del targets[key], given[key]


def _expected_shape(t: Tensor, value: Any) -> Any:
    """The shape a state-dict value must have: the tensor's, or for an uninitialized one (of a
    lazy module) the value's own."""
    if is_lazy(t):
        return getattr(value, "shape", ())
    return t.shape


def _copy_tensor(t: Tensor, memo: dict[int, Any]) -> Tensor:
    if isinstance(t, Parameter) or is_lazy(t):
        return copy.deepcopy(t, memo)
    new = Tensor._make(t.data.copy())
    new.requires_grad = t.requires_grad and t.grad_fn is None
    return new


class _BackwardHooks:
    """One call of a module with backward hooks, as PyTorch's ``BackwardHook``: its inputs and
    outputs each pass through a :class:`GradGroup`, so that the pre-hooks see all output
    gradients at once, and the hooks all input gradients with them."""

    def __init__(self, module: Module) -> None:
        self.module = module
        self.n_inputs = 0
        self.inputs_tracked = False  # did an input require grad (an input group exists)?
        # Set by the pre-hooks' group, taken by the hooks' group: None when no gradient came
        # through the outputs since (double backward reaches the inputs alone: no hook then)
        self.grad_output: tuple | None = None

    def wrap_inputs(self, args: tuple) -> tuple:
        self.n_inputs = len(args)
        where = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        if not any(args[i].requires_grad for i in where):
            return args
        self.inputs_tracked = True
        group = GradGroup(lambda grads: self._input_grads(where, grads))
        new = list(args)
        for i, m in zip(where, group.join([args[i] for i in where])):
            new[i] = m
        return tuple(new)

    def wrap_outputs(self, out: Any) -> Any:
        outs = out if isinstance(out, tuple) else (out,)
        where = [i for i, o in enumerate(outs) if isinstance(o, Tensor)]
        if not any(outs[i].requires_grad for i in where):
            return out
        group = GradGroup(lambda grads: self._output_grads(where, len(outs), grads))
        new = list(outs)
        for i, m in zip(where, group.join([outs[i] for i in where])):
            new[i] = m
        return tuple(new) if isinstance(out, tuple) else new[0]

    def _output_grads(self, where: list[int], n: int, grads: tuple) -> list | None:
        grad_output = _spread(where, grads, n)
        for hook in list(self.module._backward_pre_hooks.values()):
            res = hook(self.module, grad_output)
            if res is not None:
                grad_output = _checked(res, n, "pre hook", "grad_output")
        if self.inputs_tracked:
            self.grad_output = grad_output
        else:  # no input gradient will come: the hooks run now
            grad_input = (None,) * self.n_inputs
            for hook in list(self.module._backward_hooks.values()):
                res = hook(self.module, grad_input, grad_output)
                if res is not None and any(r is not None for r in res):
                    raise RuntimeError(
                        f"backward hook of {type(self.module).__name__}: no input of the "
                        "module requires grad, so the hook must return None (or None for "
                        "every gradient)")
        return [grad_output[i] for i in where]

    def _input_grads(self, where: list[int], grads: tuple) -> list | None:
        grad_output, self.grad_output = self.grad_output, None
        if grad_output is None:
            return None
        grad_input = _spread(where, grads, self.n_inputs)
        for hook in list(self.module._backward_hooks.values()):
            res = hook(self.module, grad_input, grad_output)
            if res is not None:
                grad_input = _checked(res, self.n_inputs, "hook", "grad_input")
        return [grad_input[i] for i in where]


def _spread(where: list[int], grads: tuple, n: int) -> tuple:
    """The gradients of the tensors at positions ``where``, as an n-tuple (None elsewhere)."""
    full: list[Any] = [None] * n
    for i, g in zip(where, grads):
        full[i] = g
    return tuple(full)


def _checked(res: Any, n: int, kind: str, what: str) -> tuple:
    if not isinstance(res, (tuple, list)) or len(res) != n:
        got = len(res) if isinstance(res, (tuple, list)) else type(res).__name__
        raise RuntimeError(f"Backward {kind} returned an invalid number of {what}, got {got}, "
                           f"but expected {n} (return a tuple with one entry per {what} "
                           "entry, None to keep one)")
    return tuple(res)
