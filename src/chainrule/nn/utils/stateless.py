"""``cr.nn.utils.stateless``: call a module with other parameters and buffers, as
``torch.nn.utils.stateless``. Its ``functional_call`` is PyTorch's deprecated alias of
:func:`chainrule.func.functional_call` (use that one); the machinery lives here, as in PyTorch.
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from typing import Any

from ...tensor import Tensor
from ..modules.module import Module

__all__ = ["functional_call"]


def _slots(module: Module) -> dict[str, tuple[Module, str, str]]:
    """Every parameter and buffer slot of ``module`` by its full (state-dict) name:
    ``(owning module, "_parameters" or "_buffers", local name)``. A shared sub-module shows up
    under each of its paths, and ``None`` slots (``bias=False``) are included."""
    out: dict[str, tuple[Module, str, str]] = {}
    for prefix, mod in module.named_modules(remove_duplicate=False):
        for store in ("_parameters", "_buffers"):
            for local in getattr(mod, store):
                out[f"{prefix}.{local}" if prefix else local] = (mod, store, local)
    return out


def _tied(slots: dict[str, tuple[Module, str, str]]) -> dict[str, list[str]]:
    """For each name whose tensor also sits under other names (tied weights, shared
    sub-modules): every name of that tensor."""
    by_id: dict[int, list[str]] = {}
    for name, (mod, store, local) in slots.items():
        t = getattr(mod, store)[local]
        if t is not None:
            by_id.setdefault(id(t), []).append(name)
    return {n: names for names in by_id.values() if len(names) > 1 for n in names}


def _untie(slots: dict[str, tuple[Module, str, str]],
           values: dict[str, Tensor | None]) -> dict[str, Tensor | None]:
    """``values`` with each tied name's value given to all its twins (as PyTorch's
    ``tie_weights=True``); different values for names of one tied tensor are an error."""
    tied = _tied(slots)
    out = dict(values)
    for name in values:
        if name not in tied:
            continue
        given = [n for n in tied[name] if n in values]
        if len({id(values[n]) for n in given}) > 1:
            raise ValueError(f"functional_call got multiple values for keys {sorted(given)}, "
                             "which are tied. Consider using tie_weights=False (or pass one "
                             "value for them)")
        for twin in tied[name]:
            out[twin] = values[name]
    return out


def _unexpected_message(module: Module, unexpected: list[str], valid: list[str]) -> str:
    hints = []
    for k in unexpected:
        close = difflib.get_close_matches(k, valid, n=1)
        hints.append(f"{k!r} (did you mean {close[0]!r}?)" if close else repr(k))
    shown = ", ".join(map(repr, valid[:12])) + (", ..." if len(valid) > 12 else "")
    return (f"functional_call: unexpected key(s) {', '.join(hints)}: not a parameter or "
            f"buffer of {module._get_name()}; the names are those of "
            f"dict(model.named_parameters()) and dict(model.named_buffers()): {shown}")


def _functional_call(module: Module, parameters_and_buffers: dict[str, Any], args: Any = None,
                     kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True,
                     strict: bool = False) -> Any:
    """Call ``module(*args, **kwargs)`` with ``parameters_and_buffers`` in place of its own
    tensors, then put its own back (also when the call raises). As in PyTorch, a buffer the
    module updates in place (BatchNorm's running statistics) updates the tensor passed in, and
    a tensor the module assigns anew replaces the entry of ``parameters_and_buffers``."""
    if not isinstance(module, Module):
        raise TypeError(f"functional_call: expected a cr.nn.Module to call, got "
                        f"{type(module).__name__}")
    if not isinstance(parameters_and_buffers, Mapping):
        raise TypeError("functional_call: expected a dict of {name: tensor} (the names of "
                        "model.named_parameters() and model.named_buffers()), got "
                        f"{type(parameters_and_buffers).__name__}")
    for k, v in parameters_and_buffers.items():
        if v is not None and not isinstance(v, Tensor):
            raise TypeError(f"functional_call: the value for {k!r} is a {type(v).__name__}, "
                            "not a chainrule tensor; convert it first (cr.tensor(value))")
    slots = _slots(module)
    values = dict(parameters_and_buffers)
    if tie_weights:
        values = _untie(slots, values)
    unexpected = [k for k in values if k not in slots]
    if strict:
        present = {k for k, (m, s, n) in slots.items() if getattr(m, s)[n] is not None}
        missing = sorted(present - set(values))
        errors = []
        if unexpected:
            errors.append(f"Unexpected key(s): {', '.join(map(repr, sorted(unexpected)))}.")
        if missing:
            errors.append(f"Missing key(s): {', '.join(map(repr, missing))}.")
        if errors:
            raise RuntimeError(f"Error(s) in reparametrizing for {module._get_name()}:\n\t"
                               + "\n\t".join(errors)
                               + "\n(strict=True: pass a tensor for every parameter and "
                               "buffer, and nothing else)")
    elif unexpected:
        # PyTorch would set them as new plain attributes, which forward never reads: almost
        # always a typo or a name from another model, so chainrule says so.
        raise RuntimeError(_unexpected_message(module, unexpected, list(slots)))

    # Swap by writing the stores directly (a plain tensor may stand in for a Parameter, which
    # Module.__setattr__ refuses); each slot's own tensor is kept once, even if it is reached
    # under several names (a shared sub-module).
    originals: dict[tuple[int, str, str], tuple[dict, str, Any]] = {}
    for name, value in values.items():
        mod, store, local = slots[name]
        d = getattr(mod, store)
        originals.setdefault((id(mod), store, local), (d, local, d[local]))
        d[local] = value
    try:
        if args is None:
            args = ()
        elif not isinstance(args, tuple):
            args = (args,)
        return module(*args, **({} if kwargs is None else kwargs))
    finally:
        current = {}
        for name in values:
            mod, store, local = slots[name]
            if local in getattr(mod, store):  # (unless forward deleted it)
                current[name] = getattr(mod, store)[local]
        for d, local, original in originals.values():
            d[local] = original
        if isinstance(parameters_and_buffers, dict):
            for k in parameters_and_buffers:
                if k in current and current[k] is not parameters_and_buffers[k]:
                    parameters_and_buffers[k] = current[k]


def functional_call(module: Module, parameters_and_buffers: dict[str, Any], args: Any = None,
                    kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """Deprecated (as in PyTorch 2.0): :func:`chainrule.func.functional_call` is the same call
    and also takes a tuple of dicts.

    >>> import warnings, chainrule as cr
    >>> lin = cr.nn.Linear(2, 1)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     y = cr.nn.utils.stateless.functional_call(
    ...         lin, {"weight": cr.ones(1, 2), "bias": cr.zeros(1)}, (cr.tensor([[1.0, 2.0]]),))
    >>> y
    tensor([[3.]])
    """
    warnings.warn("`cr.nn.utils.stateless.functional_call` is deprecated (as "
                  "`torch.nn.utils.stateless.functional_call` since PyTorch 2.0); use "
                  "`cr.func.functional_call`, a drop-in replacement", FutureWarning,
                  stacklevel=2)
    if not isinstance(parameters_and_buffers, Mapping):
        raise TypeError("functional_call: expected a dict of {name: tensor}, got "
                        f"{type(parameters_and_buffers).__name__}; for a tuple of dicts use "
                        "cr.func.functional_call")
    return _functional_call(module, parameters_and_buffers, args, kwargs,
                            tie_weights=tie_weights, strict=strict)
