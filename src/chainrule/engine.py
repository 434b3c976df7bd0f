"""The engine: recording operations, and the one backward walk of the chain rule.

Every differentiable operation goes through :func:`apply`, which runs the op's NumPy forward
and, when a gradient will be needed, records a :class:`Node`. :func:`walk` visits the recorded
nodes in reverse topological order and, at each one, multiplies the upstream gradient by the
op's local derivative (its vector-Jacobian product). ``backward()``, ``cr.grad``, ``explain()``
and ``draw()`` all use this walk, so the chain rule is written once.

Forward mode (``jvp``) rides along in :func:`apply`: a tensor may carry tangents, one per active
forward level, and each op pushes them through its JVP rule in the same pass.
"""

from __future__ import annotations

import functools
import traceback
import weakref
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .ops.registry import Op
    from .tensor import Tensor


class ChainruleError(RuntimeError):
    """An error raised by the engine (freed graph, in-place modification, anomaly)."""


class _State:
    """Global switches, read on every operation, so kept as plain attributes."""

    grad_enabled = True
    anomaly = False
    levels: dict[int, int] = {}  # active forward-mode levels -> number of leading batch dims
    next_level = 0
    scope: tuple[str, ...] = ()  # the open cr.name_scope()s, recorded on each node


STATE = _State()


# --------------------------------------------------------------------------- grad mode

class _GradMode:
    """Base for ``no_grad`` / ``enable_grad``: a context manager and a decorator."""

    enabled: bool

    def __enter__(self) -> None:
        self._prev = STATE.grad_enabled
        STATE.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        STATE.grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.__class__():
                return fn(*args, **kwargs)

        return wrapper


class no_grad(_GradMode):
    """Record nothing: no graph is built and nothing is saved for backward."""

    enabled = False


class enable_grad(_GradMode):
    """Record operations again (inside ``no_grad``)."""

    enabled = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` is ``no_grad()``; also callable as a plain function."""

    def __init__(self, mode: bool) -> None:
        self.enabled = bool(mode)
        self._prev = STATE.grad_enabled
        STATE.grad_enabled = self.enabled

    def __enter__(self) -> None:
        pass


def is_grad_enabled() -> bool:
    return STATE.grad_enabled


class name_scope:
    """Name a part of the computation: ops recorded inside carry the scope (``layer3``), which
    the explanation and drawing tools show and group by. Scopes nest (``block1/attn``)."""

    def __init__(self, name: str) -> None:
        self.name = str(name)

    def __enter__(self) -> name_scope:
        self._prev = STATE.scope
        STATE.scope = STATE.scope + (self.name,)
        return self

    def __exit__(self, *exc: object) -> None:
        STATE.scope = self._prev


class detect_anomaly:
    """Anomaly mode: NaN or inf produced by a backward rule raises an error naming the op.

    Each recorded node also keeps the stack of the forward call that created it, which the
    error shows. Slower; meant for debugging.
    """

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self._prev = STATE.anomaly
        STATE.anomaly = self.mode

    def __exit__(self, *exc: object) -> None:
        STATE.anomaly = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.mode):
                return fn(*args, **kwargs)

        return wrapper


# --------------------------------------------------------------------------- nodes

class Node:
    """One recorded operation: what ``Tensor.grad_fn`` is.

    ``inputs`` holds the op's arguments (tensors and constants) until backward frees them;
    ``out`` is a weak reference to the output when the op's rules need it (a strong one would
    make a reference cycle), ``out_data`` its values, which the rules read in plain backward.
    """

    __slots__ = ("op", "inputs", "params", "out", "out_data", "versions", "hooks", "retain",
                 "stack", "scope", "__weakref__")

    def __init__(self, op: Op, inputs: tuple, params: dict, out: Tensor | None,
                 versions: tuple | None) -> None:
        self.op = op
        self.inputs: tuple | None = inputs
        self.params = params
        self.out = weakref.ref(out) if out is not None else None
        self.out_data = out.data if out is not None else None
        self.versions = versions
        self.hooks: list[Callable] | None = None
        self.retain: Callable[[], Tensor | None] | None = None
        self.stack: list[str] | None = traceback.format_stack()[:-3] if STATE.anomaly else None
        self.scope = STATE.scope

    def name(self) -> str:
        """The node's name, as in PyTorch: ``MulBackward``."""
        return "".join(p.capitalize() for p in self.op.name.split("_")) + "Backward"

    @property
    def next_functions(self) -> tuple:
        """The nodes (or leaf tensors) feeding this one, in input order."""
        tensor_cls = _tensor_cls()
        return tuple((x.grad_fn if x.grad_fn is not None else x, 0)
                     for x in self.inputs or () if isinstance(x, tensor_cls) and x.requires_grad)

    def __repr__(self) -> str:
        return f"<{self.name()}>"


@functools.cache
def _tensor_cls() -> type[Tensor]:
    from .tensor import Tensor

    return Tensor


# --------------------------------------------------------------------------- apply

def apply(op: Op, *args: Any, **params: Any) -> Tensor:
    """Run ``op`` on ``args`` (tensors, arrays or numbers) and record it if needed."""
    Tensor = _tensor_cls()
    arrays = []
    needs_grad = False
    tangents = False
    float64_in = False
    for a in args:
        if isinstance(a, Tensor):
            d = a.data
            arrays.append(d)
            if a.requires_grad:
                needs_grad = True
            if a._tangents is not None:
                tangents = True
        else:
            d = a
            arrays.append(a)
        if isinstance(d, np.ndarray) and d.dtype.kind == "f" and d.dtype.itemsize == 8:
            float64_in = True
    try:
        out = op.forward(*arrays, **params)
    except (ValueError, IndexError, np.linalg.LinAlgError, TypeError) as e:
        raise op.explain_error(e, args, params) from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    if out.dtype.kind == "f" and out.dtype.itemsize == 8 and not float64_in:
        # An int tensor met a Python float: PyTorch gives the default dtype, NumPy float64.
        from ._dtypes import get_default_dtype

        out = out.astype(get_default_dtype())
    result = Tensor._make(out)
    if op.view:
        result._vbox = args[0]._vbox
    if needs_grad and STATE.grad_enabled and op.vjps is not None:
        versions = _versions_to_check(op, args, result) if op.saves or op.saves_output else None
        result.grad_fn = Node(op, args, params, result if op.saves_output else None, versions)
        result.requires_grad = True
    if tangents and STATE.levels:
        _push_tangents(op, args, params, result)
    return result


def _versions_to_check(op: Op, args: tuple, result: Tensor) -> tuple:
    """The in-place versions of what the backward rules will read (-1: not read)."""
    Tensor = _tensor_cls()
    need: Collection[int]
    if op.reads is None:
        need = range(len(args)) if op.saves else ()
    else:
        need = {k for i, a in enumerate(args)
                if isinstance(a, Tensor) and a.requires_grad for k in op.reads[i]}
    versions = tuple(a._vbox[0] if k in need and isinstance(a, Tensor) else -1
                     for k, a in enumerate(args))
    return versions + (result._vbox[0],) if op.saves_output else versions


def _push_tangents(op: Op, args: tuple, params: dict, result: Tensor) -> None:
    """Forward mode: tangent of the output = sum over inputs of JVP_i(tangent_i)."""
    Tensor = _tensor_cls()
    for level in list(STATE.levels):
        pairs = [(i, a, a._tangents[level]) for i, a in enumerate(args)
                 if isinstance(a, Tensor) and a._tangents and level in a._tangents]
        if not pairs:
            continue
        lead = STATE.levels.pop(level)  # the rules must not push this level's tangents again
        try:
            total: Any = None
            for i, x, t in pairs:
                if op.elementwise and x.ndim < result.ndim:
                    t = t.reshape(t.shape[:lead] + (1,) * (result.ndim - x.ndim) + x.shape)
                c = op.jvp(i, t, result, args, params)
                total = c if total is None else total + c
            full = tuple(total.shape[:lead]) + result.shape
            if total.shape != full:
                total = total.expand(full)
        finally:
            STATE.levels[level] = lead
        if result._tangents is None:
            result._tangents = {}
        result._tangents[level] = total


# --------------------------------------------------------------------------- the walk

_FREED = (
    "Trying to backward through the graph a second time (or to read values it already freed). "
    "The saved values of '{op}' were freed after the first backward. Pass retain_graph=True "
    "to the first backward() if you need to backward through the graph again."
)


def _topological_order(roots: Iterable[Node], stop: set[Node]) -> list[Node]:
    """Nodes reachable from ``roots``, each after all of its inputs' nodes; no recursion."""
    Tensor = _tensor_cls()
    order: list[Node] = []
    seen: set[Node] = set()
    stack: list[tuple[Node, bool]] = [(r, False) for r in roots]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        if node in stop:
            continue
        if node.inputs is None:
            raise ChainruleError(_FREED.format(op=node.op.name))
        for x in node.inputs:
            if isinstance(x, Tensor):
                parent = x.grad_fn
                if parent is not None and parent not in seen:
                    stack.append((parent, False))
    return order


def unbroadcast(grad: Any, shape: tuple) -> Any:
    """Sum ``grad`` down to ``shape``: the chain rule through NumPy broadcasting."""
    gshape = grad.shape
    if gshape == shape:
        return grad
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1)
    if axes:
        grad = grad.sum(axis=axes)
    return grad.reshape(shape)


Step = Callable[[Node, int, Any, Any, Any], None]


def walk(roots: Sequence[Tensor], root_grads: Sequence[Any], *, retain_graph: bool = False,
         create_graph: bool = False, targets: Sequence[Tensor] | None = None,
         on_step: Step | None = None) -> list[Any] | None:
    """Backpropagate ``root_grads`` from ``roots`` through the recorded graph.

    Visits each node once, after every node that consumes its output, and for each input that
    requires grad computes the local contribution ``vjp_i(upstream)``, summed to the input's
    shape. ``on_step(node, i, input, upstream, contribution)`` sees every such step.

    Without ``targets`` the gradients of leaves are accumulated into their ``.grad`` (this is
    ``backward()``). With ``targets`` nothing is written; the gradients of those tensors are
    returned instead (this is ``autograd.grad`` and the transforms).
    """
    Tensor = _tensor_cls()
    grads: dict[Node, Any] = {}
    leaf_grads: dict[int, list] = {}

    def to_value(g: Any) -> Any:
        if create_graph:
            return g if isinstance(g, Tensor) else Tensor._make(np.asarray(g))
        return g.data if isinstance(g, Tensor) else g

    def send(x: Any, g: Any) -> None:
        parent = x.grad_fn
        if parent is not None:
            prev = grads.get(parent)
            grads[parent] = g if prev is None else prev + g
        else:
            entry = leaf_grads.get(id(x))
            if entry is None:
                leaf_grads[id(x)] = [x, g]
            else:
                entry[1] = entry[1] + g

    stop: set[Node] = set()
    target_nodes: dict[Node, int] = {}
    if targets is not None:
        for k, t in enumerate(targets):
            if t.grad_fn is not None:
                stop.add(t.grad_fn)
                target_nodes[t.grad_fn] = k
    for r, g in zip(roots, root_grads):
        if r.requires_grad:
            send(r, to_value(g))
    order = _topological_order([r.grad_fn for r in roots if r.grad_fn is not None], stop)

    with set_grad_enabled(create_graph):
        for node in reversed(order):
            g = grads.get(node)
            if g is None or node in stop:
                continue
            del grads[node]
            g = _run_tensor_hooks(node, g, create_graph)
            _backward_node(node, g, create_graph, retain_graph, send, on_step)

    if targets is None:
        for x, g in leaf_grads.values():
            _accumulate_leaf(x, g, create_graph)
        return None
    result: list[Any] = []
    for t in targets:
        if t.grad_fn is not None:
            g = grads.get(t.grad_fn)
        else:
            entry = leaf_grads.get(id(t))
            g = None if entry is None else entry[1]
            if g is not None and t._hooks:
                for hook in t._hooks:
                    new = hook(_as_tensor(g))
                    if new is not None:
                        g = new.data if not create_graph else new
        result.append(g)
    return result


def _as_tensor(g: Any) -> Tensor:
    Tensor = _tensor_cls()
    return g if isinstance(g, Tensor) else Tensor._make(np.asarray(g))


def _run_tensor_hooks(node: Node, g: Any, create_graph: bool) -> Any:
    """Hooks registered on a non-leaf tensor see (and may replace) its gradient."""
    if node.hooks:
        for hook in node.hooks:
            new = hook(_as_tensor(g))
            if new is not None:
                g = new if create_graph else _as_tensor(new).data
    if node.retain is not None:
        t = node.retain()
        if t is not None:
            gt = _as_tensor(g)
            t.grad = gt if create_graph else _tensor_cls()._make(np.array(gt.data))
    return g


def _backward_node(node: Node, g: Any, create_graph: bool, retain_graph: bool,
                   send: Callable[[Any, Any], None], on_step: Step | None) -> None:
    Tensor = _tensor_cls()
    op = node.op
    assert op.vjps is not None
    inputs = node.inputs
    if inputs is None:
        raise ChainruleError(_FREED.format(op=op.name))
    if node.versions is not None:
        _check_versions(node)
    out: Any = node.out_data
    if create_graph:
        values: tuple = inputs
        if node.out is not None:
            out = node.out()
            if out is None and node.out_data is not None:
                out = Tensor._make(node.out_data)
    elif op.tensor_rules:
        values = tuple(x.detach() if isinstance(x, Tensor) else x for x in inputs)
        out = None if out is None else Tensor._make(out)
        g = _as_tensor(g)
    else:
        values = tuple(x.data if isinstance(x, Tensor) else x for x in inputs)
    for i, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        rule = op.vjps[0] if op.variadic else op.vjps[i]
        if rule is None:
            continue
        c = rule(i, g, out, *values, **node.params) if op.variadic else rule(
            g, out, *values, **node.params)
        if c is None:
            continue
        if not create_graph and isinstance(c, Tensor):
            c = c.data
        elif create_graph and not isinstance(c, Tensor):
            c = Tensor._make(np.asarray(c))
        if c.shape != x.shape:
            c = unbroadcast(c, x.shape)
        if STATE.anomaly:
            _check_finite(node, i, c)
        if on_step is not None:
            on_step(node, i, x, g, c)
        send(x, c)
    if not retain_graph:
        node.inputs = None
        node.out = node.out_data = None


def _check_versions(node: Node) -> None:
    Tensor = _tensor_cls()
    assert node.inputs is not None and node.versions is not None
    checks = list(zip(node.inputs, node.versions))
    if node.op.saves_output and node.out is not None:
        checks.append((node.out(), node.versions[-1]))
    for k, (x, v) in enumerate(checks):
        if v >= 0 and isinstance(x, Tensor) and x._vbox[0] != v:
            which = f"its input {k}" if k < len(node.inputs) else "its output"
            raise ChainruleError(
                f"one of the values needed by the backward of '{node.op.name}' ({which}, "
                f"shape {x.shape}) was modified by an in-place operation: it is at version "
                f"{x._vbox[0]}, the backward expected version {v}. Use the out-of-place form "
                "(e.g. x = x + 1 instead of x.add_(1)) or clone() the tensor before changing it."
            )


def _check_finite(node: Node, i: int, c: Any) -> None:
    arr = c.data if isinstance(c, _tensor_cls()) else np.asarray(c)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        where = "".join(node.stack[-4:]) if node.stack else ""
        raise ChainruleError(
            f"detect_anomaly: the backward of '{node.op.name}' produced NaN or inf in the "
            f"gradient of its input {i} (shape {arr.shape}).\nThe forward call was:\n{where}"
        )


def _accumulate_leaf(x: Tensor, g: Any, create_graph: bool) -> None:
    Tensor = _tensor_cls()
    for hook in x._hooks or ():
        new = hook(_as_tensor(g))
        if new is not None:
            g = new if create_graph else _as_tensor(new).data
    if create_graph:
        g = _as_tensor(g)
        x.grad = g if x.grad is None else x.grad + g
        return
    if isinstance(g, Tensor):
        g = g.data
    if x.grad is None:
        # Own the buffer: a rule may have passed its upstream array through unchanged.
        arr = np.array(g, dtype=x.data.dtype, copy=True)
        x.grad = Tensor._make(arr)
    else:
        if x.grad.requires_grad or x.grad.data.shape != g.shape:
            x.grad = Tensor._make(x.grad.data + g)
        else:
            x.grad.data += g
