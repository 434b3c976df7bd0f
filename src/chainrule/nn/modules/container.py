"""Containers: ``Sequential``, ``ModuleList``, ``ModuleDict``, ``ParameterList``,
``ParameterDict``."""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, overload

from ..parameter import Parameter
from .module import Module

__all__ = ["Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict"]


def _index(idx: Any, n: int, what: str) -> int:
    i = operator.index(idx)
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of range for a {what} of length {n}")
    return i + n if i < 0 else i


def _repeat_count(times: Any) -> int:
    """``times`` of ``seq * times``, checked as PyTorch checks it."""
    if isinstance(times, bool) or not isinstance(times, int):
        raise TypeError(f"unsupported operand type(s) for *: 'Sequential' and "
                        f"'{type(times).__name__}'")
    if times <= 0:
        raise ValueError(f"Non-positive multiplication factor {times} for Sequential")
    return times


class _NumberedModules(Module):
    """Sub-modules keyed "0", "1", ...: the shared part of Sequential and ModuleList."""

    def __delitem__(self, idx: int | slice) -> None:
        keys = list(self._modules)
        name = type(self).__name__
        for key in keys[idx] if isinstance(idx, slice) else [keys[_index(idx, len(keys), name)]]:
            del self._modules[key]
        # PyTorch renumbers so that the keys stay 0..n-1.
        items = list(self._modules.values())
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(m for m in self._modules.values() if m is not None)


class Sequential(_NumberedModules):
    """Modules applied one after another: ``Sequential(m0, m1, ...)(x) = ...m1(m0(x))``.

    Keys are ``"0"``, ``"1"``, ... (or the names of an ``OrderedDict`` argument), so the
    state dict matches PyTorch's (``"0.weight"``).

    >>> import chainrule as cr
    >>> net = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU())
    >>> len(net), type(net[0]).__name__, type(net[-1]).__name__
    (2, 'Linear', 'ReLU')
    """

    def __init__(self, *args: Any) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], (OrderedDict, dict)):
            for key, m in args[0].items():
                self.add_module(key, m)
        else:
            for i, m in enumerate(args):
                self.add_module(str(i), m)

    @overload
    def __getitem__(self, idx: slice) -> Sequential: ...

    @overload
    def __getitem__(self, idx: int) -> Module: ...

    def __getitem__(self, idx: Any) -> Any:
        items = list(self._modules.items())
        if isinstance(idx, slice):
            return type(self)(OrderedDict(items[idx]))
        m = items[_index(idx, len(items), "Sequential")][1]
        assert m is not None
        return m

    def __setitem__(self, idx: int, module: Module) -> None:
        key = list(self._modules)[_index(idx, len(self), "Sequential")]
        self.add_module(key, module)


    def __add__(self, other: Sequential) -> Sequential:
        return Sequential(*self, *other)

    def __iadd__(self, other: Sequential) -> Sequential:
        """``seq += other`` appends ``other``'s modules to ``seq`` itself, as in PyTorch."""
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other).__name__} is given")
        for m in list(other):
            self.append(m)
        return self

    def __mul__(self, times: int) -> Sequential:
        """A new Sequential running this one's modules ``times`` times (shared, not copies)."""
        return Sequential(*(list(self) * _repeat_count(times)))

    __rmul__ = __mul__

    def __imul__(self, times: int) -> Sequential:
        modules = list(self)
        for _ in range(_repeat_count(times) - 1):
            self.extend(modules)
        return self

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> Sequential:
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        items = list(self._modules.values())
        n = len(items)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        items.insert(index if index >= 0 else index + n, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)
        return self

    def pop(self, index: int = -1) -> Module:
        m = self[index]
        del self[index]
        return m

    def forward(self, input: Any) -> Any:
        for m in self._modules.values():
            input = m(input)  # type: ignore[misc]
        return input


class ModuleList(_NumberedModules):
    """A list of modules, registered as ``"0"``, ``"1"``, ... (no ``forward``)."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    @overload
    def __getitem__(self, idx: slice) -> ModuleList: ...

    @overload
    def __getitem__(self, idx: int) -> Module: ...

    def __getitem__(self, idx: Any) -> Any:
        if isinstance(idx, slice):
            return type(self)(list(self._modules.values())[idx])  # type: ignore[arg-type]
        return self._modules[str(_index(idx, len(self), "ModuleList"))]

    def __setitem__(self, idx: int, module: Module) -> None:
        self.add_module(str(_index(idx, len(self), "ModuleList")), module)


    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        return ModuleList([*self, *other])

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleList.extend should be called with an iterable, got "
                            + type(modules).__name__)
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        items = list(self._modules.values())
        items.insert(index, module)
        self._modules.clear()
        for i, m in enumerate(items):
            self.add_module(str(i), m)

    def pop(self, index: int = -1) -> Module:
        m = self[index]
        del self[index]
        return m

    def __repr__(self) -> str:
        """As PyTorch: runs of identical modules are shown once, ``(0-3): 4 x Linear(...)``."""
        reprs = [repr(m) for m in self]
        if not reprs:
            return self._get_name() + "()"
        runs: list[list[Any]] = []
        for i, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = []
        for start, end, r in runs:
            body = r.replace("\n", "\n  ")
            lines.append(f"({start}): {body}" if start == end
                         else f"({start}-{end}): {end - start + 1} x {body}")
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"


class ModuleDict(Module):
    """A dict of modules, registered under their keys (insertion order kept)."""

    def __init__(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]] | None
                 = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        m = self._modules[key]
        assert m is not None
        return m

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        del self._modules[key]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules)

    def __contains__(self, key: object) -> bool:
        return key in self._modules

    def clear(self) -> None:
        self._modules.clear()

    def pop(self, key: str) -> Module:
        m = self[key]
        del self[key]
        return m

    def keys(self) -> Iterable[str]:
        return self._modules.keys()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._modules.items()  # type: ignore[return-value]

    def values(self) -> Iterable[Module]:
        return self._modules.values()  # type: ignore[return-value]

    def update(self, modules: Mapping[str, Module] | Iterable[tuple[str, Module]]) -> None:
        """Add the modules of a mapping (a ``ModuleDict`` too) or of ``(key, module)`` pairs."""
        for key, m in _key_value_pairs(modules, "ModuleDict", "module"):
            self[key] = m


class ParameterList(Module):
    """A list of parameters, registered as ``"0"``, ``"1"``, ..."""

    def __init__(self, values: Iterable[Any] | None = None) -> None:
        super().__init__()
        for v in values or ():
            self.append(v)

    def __getitem__(self, idx: int) -> Parameter:
        p = self._parameters[str(_index(idx, len(self), "ParameterList"))]
        assert p is not None
        return p

    def __setitem__(self, idx: int, value: Any) -> None:
        key = str(_index(idx, len(self), "ParameterList"))
        self.register_parameter(key, value if isinstance(value, Parameter) else
                                Parameter(value))

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(p for p in self._parameters.values() if p is not None)

    def append(self, value: Any) -> ParameterList:
        self.register_parameter(str(len(self)), value if isinstance(value, Parameter)
                                else Parameter(value))
        return self

    def extend(self, values: Iterable[Any]) -> ParameterList:
        for v in values:
            self.append(v)
        return self

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): Parameter containing: [{p.dtype} of size {p.shape}]"
                         for k, p in self._parameters.items() if p is not None)


class ParameterDict(Module):
    """A dict of parameters, registered under their keys."""

    def __init__(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]] | None
                 = None) -> None:
        super().__init__()
        if parameters is not None:
            self.update(parameters)

    def __getitem__(self, key: str) -> Parameter:
        # None only where None was stored (``pd[k] = None``, ``setdefault(k)``), as PyTorch
        return self._parameters[key]  # type: ignore[return-value]

    def __setitem__(self, key: str, value: Any) -> None:
        self.register_parameter(key, value if value is None or isinstance(value, Parameter)
                                else Parameter(value))

    def __delitem__(self, key: str) -> None:
        del self._parameters[key]

    def __len__(self) -> int:
        return len(self._parameters)

    def __iter__(self) -> Iterator[str]:
        return iter(self._parameters)

    def __contains__(self, key: object) -> bool:
        return key in self._parameters

    def keys(self) -> Iterable[str]:
        return self._parameters.keys()

    def get(self, key: str, default: Any = None) -> Any:
        return self._parameters[key] if key in self._parameters else default

    def pop(self, key: str) -> Parameter:
        p = self[key]
        del self[key]
        return p

    def clear(self) -> None:
        self._parameters.clear()

    def setdefault(self, key: str, default: Any = None) -> Any:
        """``self[key]``, first set to ``default`` if absent (``None`` is stored as ``None``,
        not as a parameter, as in PyTorch)."""
        if key not in self._parameters:
            self[key] = default
        return self._parameters[key]

    def update(self, parameters: Mapping[str, Any] | Iterable[tuple[str, Any]]) -> None:
        """Add the parameters of a mapping (a ``ParameterDict`` too) or of ``(key, value)``
        pairs; plain tensors are wrapped in ``Parameter``. As PyTorch, a plain dict's keys
        are added in sorted order; an ``OrderedDict``, a ``ParameterDict`` or pairs keep
        theirs."""
        for key, value in _key_value_pairs(parameters, "ParameterDict", "value",
                                           sort_plain_mappings=True):
            self[key] = value

    def items(self) -> Iterable[tuple[str, Parameter]]:
        return self._parameters.items()  # type: ignore[return-value]

    def values(self) -> Iterable[Parameter]:
        return self._parameters.values()  # type: ignore[return-value]

    def extra_repr(self) -> str:
        return "\n".join(f"({k}): Parameter containing: [{p.dtype} of size {p.shape}]"
                          if p is not None else f"({k}): Object of type: NoneType"
                          for k, p in self._parameters.items())


def _key_value_pairs(items: Any, owner: str, value_name: str,
                     sort_plain_mappings: bool = False) -> list[tuple[Any, Any]]:
    """The ``(key, value)`` pairs of a mapping (a ``ModuleDict`` or ``ParameterDict`` too) or
    of an iterable of pairs, checked as PyTorch's ``update`` checks them. With
    ``sort_plain_mappings`` (``ParameterDict``'s rule), a mapping other than an
    ``OrderedDict`` or a container gives its pairs sorted by key."""
    if isinstance(items, (OrderedDict, ModuleDict, ParameterDict)):
        return list(items.items())
    if isinstance(items, Mapping):
        pairs = list(items.items())
        return sorted(pairs, key=lambda kv: kv[0]) if sort_plain_mappings else pairs
    if not isinstance(items, Iterable):
        raise TypeError(f"{owner}.update should be called with an iterable of key/value "
                        f"pairs, but got {type(items).__name__}")
    pairs = []
    for j, pair in enumerate(items):
        if not isinstance(pair, Iterable):
            raise TypeError(f"{owner} update sequence element #{j} should be a "
                            f"(key, {value_name}) pair, but is a {type(pair).__name__}")
        if len(pair) != 2:  # type: ignore[arg-type]
            raise ValueError(f"{owner} update sequence element #{j} must be a "
                             f"(key, {value_name}) pair, got {pair!r}")
        key, value = pair
        pairs.append((key, value))
    return pairs
