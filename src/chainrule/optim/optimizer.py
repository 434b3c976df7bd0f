"""The :class:`Optimizer` base: parameter groups, per-parameter state, state dicts.

As in PyTorch, an optimizer class only keeps the state; the arithmetic of one update is a pure
function on NumPy arrays (``sgd_step``, ``adam_step``, ...) that updates the parameters' arrays
in place. After an update each parameter's in-place version is bumped, so a backward that still
needs the old values fails with a clear error instead of silently using the new ones.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from ..engine import bump_version, enable_grad
from ..serialization import StateDictError
from ..tensor import Tensor

__all__ = ["Optimizer", "ParamsT"]

#: What an optimizer accepts: tensors, ``(name, tensor)`` pairs, or param-group dicts.
ParamsT = Iterable[Tensor] | Iterable[tuple[str, Tensor]] | Iterable[dict[str, Any]]


def check_non_negative(group: Mapping[str, Any], *keys: str) -> None:
    """PyTorch's "Invalid learning rate: -1" checks of a param group's hyper-parameters."""
    for key in keys:
        label = {"lr": "learning rate", "eps": "epsilon value"}.get(key, f"{key} value")
        try:
            valid = 0.0 <= group[key]
        except TypeError:
            raise TypeError(f"Invalid {label}: {group[key]!r} (expected a number, got "
                            f"{type(group[key]).__name__})") from None
        if not valid:
            raise ValueError(f"Invalid {label}: {group[key]}")


def check_betas(group: Mapping[str, Any]) -> None:
    """PyTorch's "Invalid beta parameter at index 1: 1.0" check: each beta in [0, 1)."""
    betas = group["betas"]
    if len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for k in (0, 1):
        if not 0.0 <= betas[k] < 1.0:
            raise ValueError(f"Invalid beta parameter at index {k}: {betas[k]}")


def check_adam_group(group: Mapping[str, Any], *more: str) -> None:
    """PyTorch's checks of an Adam-type group, in its order: ``lr``, ``eps``, ``betas``,
    ``weight_decay``, then the other non-negative hyper-parameters ``more``."""
    check_non_negative(group, "lr", "eps")
    check_betas(group)
    check_non_negative(group, "weight_decay", *more)


def check_torch_only_options(name: str, differentiable: bool) -> None:
    """PyTorch's implementation switches (``foreach``, ``fused``, ``capturable``) are accepted
    and ignored: there is one implementation, NumPy in place. ``differentiable=True`` (a step
    that autograd can see through) is not supported and says so."""
    if differentiable:
        raise NotImplementedError(
            f"{name}(differentiable=True) is not supported: chainrule's optimizers update the "
            "parameters in place, outside the graph; leave differentiable=False")


def new_state(p: Tensor, *zeros: str, **scalars: float) -> dict[str, Any]:
    """A parameter's fresh state, in PyTorch's order: ``step`` = 0 and the ``scalars`` (0-d
    float32 tensors, as PyTorch keeps them), then an array of zeros shaped like ``p`` for each
    name in ``zeros``."""
    state = {"step": Tensor._make(np.zeros((), np.float32))}
    state.update((k, Tensor._make(np.array(v, np.float32))) for k, v in scalars.items())
    state.update((k, Tensor._make(np.zeros_like(p.data))) for k in zeros)
    return state


def state_arrays(states: list[dict[str, Any]], *keys: str) -> list[list[np.ndarray]]:
    """For each key, the list of the parameters' state arrays under it (the lists a
    ``*_step`` function takes)."""
    return [[s[k].data for s in states] for k in keys]


def descent_direction(p: np.ndarray, grad: np.ndarray, weight_decay: float, maximize: bool,
                      tmp: np.ndarray) -> np.ndarray:
    """``±grad + weight_decay·p`` (L2 weight decay; ``-grad`` when maximizing), written into
    ``tmp`` when it differs from ``grad``, which is never changed."""
    if weight_decay != 0:
        np.multiply(p, weight_decay, out=tmp)
        if maximize:
            np.subtract(tmp, grad, out=tmp)
        else:
            np.add(tmp, grad, out=tmp)
        return tmp
    if maximize:
        return np.negative(grad, out=tmp)
    return grad


def _snapshot(value: Any) -> Any:
    """A copy of a state value that later in-place updates do not change."""
    if isinstance(value, Tensor):
        return Tensor._make(value.data.copy())
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, dict):
        return {k: _snapshot(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_snapshot(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_snapshot(v) for v in value)
    return value


def _array_of(value: Any) -> np.ndarray | None:
    """``value`` as a NumPy array if it is a tensor or array (a torch tensor too), else None."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, np.generic):
        return np.asarray(value)
    if hasattr(value, "shape") and hasattr(value, "dtype") and hasattr(value, "__array__"):
        detach = getattr(value, "detach", None)  # e.g. a torch tensor
        return np.asarray(detach() if callable(detach) else value)
    return None


class Optimizer:
    """Base class of the optimizers.

    ``params`` is an iterable of tensors (or of ``(name, tensor)`` pairs), or of dicts, each a
    *param group*: ``{"params": [...], "lr": 0.1, ...}``; keys a group leaves out take the
    optimizer's defaults. ``param_groups`` is the list of groups (dicts with ``"params"`` and
    every hyper-parameter); ``state`` maps each parameter to its dict of state (moment
    estimates, step count, ...), created on the parameter's first update.

    Subclasses define ``_update_group`` (one update of the group's parameters that have a
    gradient; :meth:`step` calls it for each group) or their own ``step``, and may check a
    group's hyper-parameters in ``_check_group``.
    """

    #: The optimizer's hyper-parameters with their defaults.
    defaults: dict[str, Any]
    state: defaultdict[Tensor, dict[str, Any]]
    param_groups: list[dict[str, Any]]
    _opt_called: bool = False  # set by step(), read by the learning-rate schedulers
    #: Hyper-parameters that older checkpoints (e.g. of older PyTorch versions) may lack, with
    #: the value that reproduces the old behaviour.
    _legacy_defaults: dict[str, Any] = {"maximize": False}
    #: The entries every non-empty per-parameter state has (``step`` reads them all).
    _required_state: tuple[str, ...] = ()
    #: The per-parameter state entries that are one number (the others have the parameter's
    #: shape).
    _scalar_state: tuple[str, ...] = ("step",)

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError("params given to an optimizer should be an iterable of tensors or "
                            "dicts, got a single Tensor; wrap it in a list: [t]")
        if isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be in an ordered collection (the "
                            "order of a set changes between runs); use a list")
        self.defaults = dict(defaults)
        self.state = defaultdict(dict)
        self.param_groups = []
        groups: list[Any] = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Mark each call of a subclass's step(), so that a learning-rate scheduler can warn
        # when it is stepped before the optimizer (the classic off-by-one of the schedule).
        super().__init_subclass__(**kwargs)
        step = cls.__dict__.get("step")
        if step is None or getattr(step, "_marks_called", False):
            return

        @functools.wraps(step)
        def marked_step(self: Optimizer, *args: Any, **kw: Any) -> Any:
            self._opt_called = True
            return step(self, *args, **kw)

        marked_step._marks_called = True  # type: ignore[attr-defined]
        cls.step = marked_step  # type: ignore[method-assign]

    def __repr__(self) -> str:
        lines = [type(self).__name__ + " ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines.extend(f"    {k}: {group[k]}" for k in sorted(group) if k != "params")
        lines.append(")")
        return "\n".join(lines)

    # ------------------------------------------------------------------ groups
    def _check_group(self, group: Mapping[str, Any]) -> None:
        """Raise ValueError if a group's hyper-parameters are invalid (subclasses override)."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters (e.g. layers unfrozen while fine-tuning) with its own
        hyper-parameters; those it leaves out take the optimizer's defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group must have a 'params' entry")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            items: list[Any] = [params]
        elif isinstance(params, (set, frozenset)):
            raise TypeError("optimizer parameters need to be in an ordered collection (the "
                            "order of a set changes between runs); use a list")
        else:
            items = list(params)
        names = [p[0] for p in items if isinstance(p, tuple)]
        tensors = [p[1] if isinstance(p, tuple) else p for p in items]
        if names and len(names) != len(tensors):
            raise ValueError("all optimizer params should be with or without names; some "
                             "names are missing")
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError(f"an optimizer can only optimize Tensors, but one of the "
                                f"params is a {type(p).__name__}")
            if p.grad_fn is not None:
                raise ValueError("can't optimize a non-leaf Tensor (it was computed by an op; "
                                 "optimize the leaves it was computed from)")
            if p.data.dtype.kind != "f":
                raise TypeError(f"an optimizer can only optimize floating-point tensors, got "
                                f"one of dtype {p.dtype}")
        if len({id(p) for p in tensors}) != len(tensors):
            raise ValueError("a parameter group contains the same parameter more than once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in tensors):
            raise ValueError("some parameters appear in more than one parameter group")
        group["params"] = tensors
        if names:
            group["param_names"] = names
        for key, default in self.defaults.items():
            group.setdefault(key, default)
        self._check_group(group)
        self.param_groups.append(group)

    # ------------------------------------------------------------------ stepping
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient once; returns ``closure()`` if given."""
        self._opt_called = True
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._gather(group)
            if params:
                self._update_group(group, params, grads)
                self._bump_versions(params)
        return loss

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        """Update ``params`` (the group's parameters that have a gradient) in place from
        ``grads`` (their gradients' arrays), creating their state the first time."""
        raise NotImplementedError(f"{type(self).__name__} defines neither step() nor "
                                  "_update_group()")

    @staticmethod
    def _eval_closure(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the parameters' gradients: to ``None`` (the default), or to zeros in place."""
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif g.grad_fn is not None or g.requires_grad:
                    # A gradient built with create_graph=True may share memory with the graph.
                    p.grad = Tensor._make(np.zeros_like(g.data))
                else:
                    g.data.fill(0)
                    bump_version(g)

    # ------------------------------------------------------------------ state dicts
    def state_dict(self) -> dict[str, Any]:
        """The optimizer's state, in PyTorch's layout, as a snapshot (later steps don't change
        it): ``{"state": {index: {name: value}}, "param_groups": [{..., "params": [index]}]}``.

        Parameters are numbered in the order of ``param_groups``; state arrays are Tensors, so
        ``cr.save(opt.state_dict(), path)`` writes a checkpoint.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: _snapshot(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state: dict[int, dict[str, Any]] = {}
        for p, s in self.state.items():
            if s and id(p) in index:
                state[index[id(p)]] = {k: _snapshot(v) for k, v in s.items()}
        return {"state": dict(sorted(state.items())), "param_groups": groups}

    def _check_state_value(self, key: str, value: np.ndarray, param: Tensor) -> str | None:
        """Why a state array from a checkpoint does not fit ``param`` (None if it fits).

        ``step`` (and the other ``_scalar_state`` entries) is a scalar; every other state array
        has the parameter's shape.
        """
        if key in self._scalar_state:
            return None if value.size == 1 else f"expected one number, got shape {value.shape}"
        if value.shape != param.shape:
            return (f"checkpoint has shape {tuple(value.shape)}, the parameter has shape "
                    f"{tuple(param.shape)}")
        return None

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load a state from :meth:`state_dict` (or from ``cr.load`` of one, or a PyTorch
        optimizer's state dict of the same layout).

        Everything is checked first: on any mismatch (number of groups, parameters per group,
        missing hyper-parameters, state shapes) a ``StateDictError`` naming each difference is
        raised and the optimizer is left untouched. State arrays are copied and cast to their
        parameter's dtype.
        """
        if (not isinstance(state_dict, Mapping) or "state" not in state_dict
                or "param_groups" not in state_dict):
            raise StateDictError("an optimizer state dict must be a dict with 'state' and "
                                 "'param_groups' entries (what Optimizer.state_dict() returns)")
        saved_groups = list(state_dict["param_groups"])
        saved_state = state_dict["state"]
        groups = self.param_groups
        name = type(self).__name__
        if len(saved_groups) != len(groups):
            raise StateDictError(f"loaded state dict has {len(saved_groups)} parameter groups, "
                                 f"this {name} has {len(groups)}")
        problems: list[str] = []
        id_map: dict[Any, Tensor] = {}
        for i, (group, saved) in enumerate(zip(groups, saved_groups)):
            if not isinstance(saved, Mapping) or "params" not in saved:
                problems.append(f"param group {i}: not a dict with a 'params' list")
                continue
            n, m = len(saved["params"]), len(group["params"])
            if n != m:
                problems.append(f"param group {i}: the state dict has {n} parameters, this "
                                f"{name} has {m}")
                continue
            missing = [k for k in self.defaults
                       if k not in saved and k not in self._legacy_defaults]
            if missing:
                problems.append(f"param group {i}: missing hyper-parameters "
                                f"{', '.join(missing)} (is this the state of another optimizer?)")
                continue
            try:
                self._check_group({**self._legacy_defaults, **saved,
                                   "params": group["params"]})
            except (ValueError, TypeError) as e:
                problems.append(f"param group {i}: {e}")
            for key, p in zip(saved["params"], group["params"]):
                id_map[_norm_key(key)] = p
        new_state: dict[Tensor, dict[str, Any]] = {}
        if not isinstance(saved_state, Mapping):
            problems.append("'state' is not a dict")
            saved_state = {}
        for key, entry in saved_state.items():
            p = id_map.get(_norm_key(key))
            if p is None:
                if not problems:  # else the groups' errors already explain it
                    problems.append(f"state for parameter {key!r}, which is in no param group")
                continue
            if not isinstance(entry, Mapping):
                problems.append(f"state of parameter {key!r}: not a dict")
                continue
            loaded: dict[str, Any] = {}
            for k, v in entry.items():
                arr = _array_of(v)
                if arr is None:
                    if k == "step" and isinstance(v, (int, float)):
                        arr = np.asarray(v, dtype=np.float32)
                    else:
                        loaded[k] = _snapshot(v)
                        continue
                why = self._check_state_value(k, arr, p)
                if why:
                    problems.append(f"state of parameter {key!r}, {k!r}: {why}")
                    continue
                if k == "step":
                    value = np.array(arr, copy=True).reshape(())
                else:
                    value = np.array(arr, dtype=p.data.dtype, copy=True)
                loaded[k] = Tensor._make(value)
            missing = [k for k in self._required_state if k not in entry]
            if entry and missing:
                problems.append(f"state of parameter {key!r}: missing {', '.join(missing)} "
                                f"(each {name} parameter's state has "
                                f"{', '.join(self._required_state)})")
            new_state[p] = loaded
        if problems:
            raise StateDictError(
                f"Error(s) in loading state dict for {name}:\n" + "\n".join(
                    "  " + s for s in problems), mismatched=problems)
        new_groups = []
        for group, saved in zip(groups, saved_groups):
            new = {k: _snapshot(v) for k, v in saved.items() if k != "params"}
            for k, v in self._legacy_defaults.items():
                if k in self.defaults:
                    new.setdefault(k, v)
            new["params"] = group["params"]
            if "param_names" in group and "param_names" not in new:
                new["param_names"] = group["param_names"]
            new_groups.append(new)
        # Keep the group dicts' identity (schedulers and users may hold them).
        for group, new in zip(groups, new_groups):
            group.clear()
            group.update(new)
        self.state = defaultdict(dict, new_state)

    # ------------------------------------------------------------------ helpers for step()
    def _gather(self, group: dict[str, Any]) -> tuple[list[Tensor], list[np.ndarray]]:
        """The group's parameters that have a gradient, and those gradients' arrays."""
        params, grads = [], []
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            if g.data.shape != p.data.shape:
                raise ValueError(f"{type(self).__name__}.step: a parameter of shape "
                                 f"{tuple(p.shape)} has a gradient of shape {tuple(g.shape)}")
            params.append(p)
            grads.append(g.data)
        return params, grads

    def _state_for(self, params: list[Tensor], init: Callable[[Tensor], dict[str, Any]]
                   ) -> list[dict[str, Any]]:
        """Each parameter's state dict, made by ``init(p)`` the first time."""
        out = []
        state = self.state
        for p in params:
            s = state.get(p)
            if not s:
                s = state[p] = init(p)
            out.append(s)
        return out

    @staticmethod
    def _bump_versions(params: list[Tensor]) -> None:
        for p in params:
            bump_version(p)


def _norm_key(key: Any) -> Any:
    """State-dict parameter ids as ints when they are integral (``0``, ``np.int64(0)``)."""
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        return int(key)
    if isinstance(key, Tensor) and key.data.size == 1 and key.data.dtype.kind in "iu":
        return int(key.item())
    return key
