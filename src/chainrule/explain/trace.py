"""What the engine's backward walk does on a real graph, recorded for ``explain()`` and ``draw()``.

:func:`capture` finds the recorded graph behind an output tensor (every op, leaf and constant,
in topological order), then runs the engine's one backward walk (``engine.walk``) with
``retain_graph=True`` and no targets, so the graph is kept and no ``.grad`` is written, and
records each step ``(node, input, upstream gradient, contribution)`` it reports. The chain rule
itself is not re-implemented here: every number comes from the walk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import engine
from ..engine import ChainruleError, Node
from ._math import ATOM, M, lit

if TYPE_CHECKING:
    from ..tensor import Tensor


class Item:
    """One box of the graph: a leaf tensor, a constant, or an op's output."""

    def __init__(self, id: str, kind: str) -> None:
        self.id = id
        self.kind = kind  # "leaf" (requires grad), "constant", or "op"
        self.tensor: Tensor | None = None  # leaves and constant tensors (kept alive)
        self.node: Node | None = None
        self.op = ""
        self.params: dict = {}
        self.value: np.ndarray | None = None
        self.output: Any = None  # for an op: its output tensor, if the graph still holds it
        self.inputs: list[Item | None] = []  # aligned with node.inputs (None: not an array)
        self.consumers: list[tuple[Item, int]] = []
        self.requires_grad = False
        self.scope: tuple[str, ...] = ()
        self.order = 0
        self.is_root = False
        # names and spelling (filled by naming.assign_names)
        self.name = ""
        self.user_named = False
        self.inline = False  # written as its expression inside its consumers
        self.m: M = lit("")
        self.prec = ATOM
        self.expr: M | None = None
        self.expr_prec = ATOM
        self.gsym: M = lit("")
        # layer structure (naming.detect_layers)
        self.layer: int | None = None
        self.role: str | None = None  # "affine", "inner", "weight_t", "activation"
        self.head: Item | None = None  # the affine item a helper belongs to
        self.parts: dict[str, Item] = {}  # for affine items: "W", "a", "b", "inner", "wt"
        # gradients (from the walk)
        self.upstream: np.ndarray | None = None
        self.grad: np.ndarray | None = None
        self.terms: list[Step] = []
        self.relevant = True

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(np.shape(self.value)) if self.value is not None else ()

    @property
    def scalar(self) -> bool:
        return self.value is not None and np.size(self.value) == 1

    def __repr__(self) -> str:
        return f"<Item {self.id} {self.name or self.op or self.kind}>"


@dataclass
class Step:
    """One step of the backward walk: at ``node``, the gradient ``upstream`` of its output
    times its local derivative with respect to input ``i`` gives ``contribution`` to
    ``target``'s gradient."""

    index: int
    node: Item
    i: int
    target: Item
    upstream: np.ndarray
    contribution: np.ndarray
    cache: dict = field(default_factory=dict)


class Graph:
    """The captured graph and its backward walk."""

    def __init__(self) -> None:
        self.items: list[Item] = []  # topological order: inputs before their consumers
        self.root: Item | None = None
        self.seed: np.ndarray | None = None
        self.steps: list[Step] = []
        self.visits: list[Item] = []  # op items in the order the walk visited them
        self.wrt: list[Item] = []
        self.walked = False
        self.layered = False
        self.by_node: dict[Node, Item] = {}
        self.by_tensor: dict[int, Item] = {}
        self.scope_names: dict[str, str] = {}  # draw(): box id -> scope path

    @property
    def ops(self) -> list[Item]:
        return [it for it in self.items if it.kind == "op"]


def _tensor_cls() -> Any:
    from ..tensor import Tensor

    return Tensor


def _as_array(x: Any) -> np.ndarray:
    Tensor = _tensor_cls()
    if isinstance(x, Tensor):
        return np.asarray(x.data)
    return np.asarray(x)


def seed_for(output: Tensor, gradient: Any, who: str) -> np.ndarray:
    """The gradient the walk starts from: 1 for a scalar output, else ``gradient``."""
    if gradient is None:
        if output.data.size != 1:
            raise ValueError(
                f"{who}: the output has shape {tuple(output.shape)}; explain a scalar (for "
                "example its .sum()) or pass gradient= with the output's shape")
        return np.ones_like(output.data, dtype=_float_dtype(output.data))
    g = _as_array(gradient).astype(_float_dtype(output.data), copy=True)
    if g.shape != output.data.shape:
        try:
            g = np.broadcast_to(g, output.data.shape).copy()
        except ValueError:
            raise ValueError(f"{who}: gradient has shape {g.shape} but the output has shape "
                             f"{tuple(output.shape)}") from None
    return g


def _float_dtype(a: np.ndarray) -> Any:
    return a.dtype if a.dtype.kind == "f" else np.float64


def capture(output: Tensor, *, walk: bool = True, who: str = "explain") -> Graph:
    """Find the graph behind ``output`` (``walk``: it will be walked, so it must need grad)."""
    Tensor = _tensor_cls()
    if not isinstance(output, Tensor):
        raise TypeError(f"{who}: expected a chainrule Tensor, got {type(output).__name__}")
    g = Graph()
    if walk and not output.requires_grad:
        raise ValueError(
            f"{who}: the output does not require grad, so there is no chain rule to show; "
            "create the inputs with requires_grad=True (and do not compute under no_grad())")
    by_node: dict[Node, Item] = {}
    by_tensor: dict[int, Item] = {}
    output_of: dict[Node, Any] = {}  # each node's output tensor, as its consumers hold it
    if output.grad_fn is not None:
        output_of[output.grad_fn] = output

    def new(kind: str) -> Item:
        it = Item(f"n{len(g.items)}", kind)
        it.order = len(g.items)
        g.items.append(it)
        return it

    def tensor_item(t: Any) -> Item:
        it = by_tensor.get(id(t))
        if it is None:
            it = new("leaf" if t.requires_grad else "constant")
            it.tensor = t
            it.value = np.asarray(t.data)
            it.requires_grad = bool(t.requires_grad)
            by_tensor[id(t)] = it
        return it

    def node_item(node: Node) -> Item:
        parents = node.parents or ()
        values = node.values if node.values is not None else [
            x.data if isinstance(x, Tensor) else x for x in node.inputs or ()]
        srcs: list[Item | None] = []
        for x, p in zip(node.inputs or (), parents):
            src: Item | None
            if isinstance(p, Node):
                src = by_node[p]
            elif p is not None or isinstance(x, Tensor):
                src = tensor_item(p if p is not None else x)
            elif isinstance(x, (int, float, np.number, np.ndarray, bool, np.bool_)):
                src = new("constant")
                src.value = np.asarray(x)
            else:
                src = None
            srcs.append(src)
        it = new("op")
        it.node = node
        it.op = node.op.name
        it.params = dict(node.params)
        it.scope = tuple(node.scope)
        it.requires_grad = True
        it.inputs = srcs
        for k, src in enumerate(srcs):
            if src is not None:
                src.consumers.append((it, k))
        it.output = output_of.get(node)
        it.value = _node_value(node, it.output, list(values), srcs)
        by_node[node] = it
        return it

    if output.grad_fn is None:
        g.root = tensor_item(output)
    else:
        seen: set[Node] = set()
        stack: list[tuple[Node, bool]] = [(output.grad_fn, False)]
        while stack:
            node, expanded = stack.pop()
            if expanded:
                node_item(node)
                continue
            if node in seen:
                continue
            seen.add(node)
            if node.parents is None or node.inputs is None:
                raise ChainruleError(
                    f"{who}: the graph behind this output was freed by backward() (at "
                    f"'{node.op.name}'); call {who}() before backward(), or call "
                    "backward(retain_graph=True)")
            stack.append((node, True))
            for x, p in zip(node.inputs, node.parents):
                if isinstance(p, Node):
                    output_of.setdefault(p, x)
            for p in reversed(node.parents):  # so that the first input comes first
                if isinstance(p, Node) and p not in seen:
                    stack.append((p, False))
        g.root = by_node[output.grad_fn]
    g.root.is_root = True
    g.by_node = by_node
    g.by_tensor = by_tensor
    return g


def _node_value(node: Node, t: Tensor | None, recorded: list[Any],
                srcs: list[Item | None]) -> np.ndarray | None:
    """The node's output as the forward pass computed it: the output's memory, unless an
    in-place op changed it after the node was made (``z[1:].mul_(3)`` changes ``z``, made by
    an earlier op): then computed again from the inputs' values (each as its forward pass
    computed it, by the same rule)."""
    if t is None and node.out is not None:
        t = node.out()
    box = t._vbox if t is not None else None
    if t is not None and (box is None or box[1] <= node.epoch):
        return np.asarray(t.data)
    if t is None and node.out_data is not None:
        return np.asarray(node.out_data)
    args = [src.value if src is not None and src.value is not None else a
            for src, a in zip(srcs, recorded)]
    try:
        return np.asarray(node.op.forward(*args, **node.params))
    except Exception:  # noqa: BLE001 - a value we cannot recompute is shown as it is now
        return None if t is None else np.asarray(t.data)


def run_walk(g: Graph, output: Tensor, seed: np.ndarray) -> None:
    """The engine's backward walk from ``output``, every step recorded; nothing is freed and
    no ``.grad`` is written (the leaves are ``targets``), and tensor hooks are not run."""
    Tensor = _tensor_cls()
    by_node, by_tensor = g.by_node, g.by_tensor
    g.seed = seed
    root = g.root
    assert root is not None

    def data(x: Any) -> np.ndarray:
        return np.array(x.data if isinstance(x, Tensor) else x, copy=True)

    def on_step(node: Node, i: int, x: Any, up: Any, c: Any) -> None:
        it = by_node[node]
        if it.upstream is None:
            it.upstream = data(up)
            g.visits.append(it)
        p = node.parents[i] if node.parents is not None else None
        target = by_node[p] if isinstance(p, Node) else by_tensor[id(p if p is not None else x)]
        s = Step(len(g.steps), it, i, target, it.upstream, data(c))
        g.steps.append(s)
        target.terms.append(s)

    leaves = [it.tensor for it in g.items if it.kind == "leaf" and it.tensor is not None]
    saved = [(n, n.hooks, n.retain) for n in by_node if n.hooks or n.retain]
    saved_leaf = [(t, t._hooks) for t in leaves if t._hooks]
    for n, _, _ in saved:
        n.hooks = None
        n.retain = None
    for t, _ in saved_leaf:
        t._hooks = None
    try:
        engine.walk([output], [seed], retain_graph=True, targets=leaves or [output],
                    on_step=on_step)
    finally:
        for n, hooks, retain in saved:
            n.hooks = hooks
            n.retain = retain
        for t, hooks in saved_leaf:
            t._hooks = hooks
    g.walked = True
    for it in g.items:
        if it.is_root:
            it.grad = seed.copy()
            if it.terms:
                it.grad = it.grad + _sum(it.terms)
        elif it.kind == "op":
            it.grad = it.upstream if it.upstream is not None else (
                _sum(it.terms) if it.terms else None)
        elif it.kind == "leaf":
            it.grad = _sum(it.terms) if it.terms else None
    if root.kind == "op" and root.upstream is None:
        root.upstream = seed


def _sum(steps: list[Step]) -> np.ndarray:
    total = steps[0].contribution
    for s in steps[1:]:
        total = total + s.contribution
    return np.asarray(total)


def resolve_wrt(g: Graph, wrt: Any) -> list[Item]:
    """The items for ``wrt``: a tensor, tensors, ``(name, tensor)`` pairs, a module, or None
    (every leaf that requires grad). A tensor that is not in the graph gets a detached item
    (its gradient is zero)."""
    Tensor = _tensor_cls()
    by_node, by_tensor = g.by_node, g.by_tensor
    if wrt is None:
        return [it for it in g.items if it.kind == "leaf"]
    pairs: list[tuple[str | None, Any]] = []
    if isinstance(wrt, Tensor):
        pairs = [(None, wrt)]
    elif hasattr(wrt, "named_parameters") and callable(wrt.named_parameters):
        pairs = [(n, p) for n, p in wrt.named_parameters()]
    elif isinstance(wrt, Iterable):
        for w in wrt:
            if isinstance(w, tuple) and len(w) == 2 and isinstance(w[1], Tensor):
                pairs.append((str(w[0]), w[1]))
            elif isinstance(w, Tensor):
                pairs.append((None, w))
            else:
                raise TypeError(f"explain: wrt must hold tensors, got {type(w).__name__}")
    else:
        raise TypeError("explain: wrt must be a tensor, a list of tensors, a module or its "
                        f"parameters, got {type(wrt).__name__}")
    out: list[Item] = []
    for label, t in pairs:
        it = by_node.get(t.grad_fn) if t.grad_fn is not None else by_tensor.get(id(t))
        if it is None:
            it = Item(f"w{len(out)}", "leaf" if t.requires_grad else "constant")
            it.tensor = t
            it.value = np.asarray(t.data)
            it.requires_grad = bool(t.requires_grad)
            it.relevant = False  # not in the graph: its gradient is zero
        if label and not getattr(t, "name", None) and not it.name:
            it.name = label
            it.user_named = True
        if it not in out:
            out.append(it)
    return out


def elementwise(it: Item) -> bool:
    """Is the item's op elementwise (its Jacobian diagonal)? The identity counts."""
    return it.node is not None and (it.node.op.elementwise or it.op in ("identity", "clone"))


def local_value(step: Step) -> np.ndarray | None:
    """The local derivative of ``step.node`` with respect to its input ``step.i``, computed by
    the op's own rule with an upstream gradient of ones: exact for elementwise ops (the
    diagonal of the Jacobian) and for scalar graphs. None where that means nothing."""
    if "local" in step.cache:
        return step.cache["local"]
    result: np.ndarray | None = None
    node = step.node.node
    if node is not None and node.inputs is not None and (
            elementwise(step.node) or (step.node.scalar and all(
                x is None or x.scalar for x in step.node.inputs))):
        result = _call_rule(node, step.i, np.ones_like(step.upstream))
    step.cache["local"] = result
    return result


def _call_rule(node: Node, i: int, g: np.ndarray) -> np.ndarray | None:
    Tensor = _tensor_cls()
    op = node.op
    if op.vjps is None:
        return None
    inputs = node.inputs or ()
    rule = op.vjps[0] if op.variadic else op.vjps[i]
    if rule is None:
        return None
    out: Any = node.out_data
    try:
        if op.tensor_rules:
            vals: Any = tuple(x.detach() if isinstance(x, Tensor) else x for x in inputs)
            gt: Any = Tensor._make(g)
            o = None if out is None else Tensor._make(out)
            with engine.no_grad():
                c = rule(i, gt, o, *vals, **node.params) if op.variadic else rule(
                    gt, o, *vals, **node.params)
        else:
            vals = node.values if node.values is not None else tuple(
                x.data if isinstance(x, Tensor) else x for x in inputs)
            c = rule(i, g, out, *vals, **node.params) if op.variadic else rule(
                g, out, *vals, **node.params)
    except Exception:  # noqa: BLE001 - a local value is an extra; never fail the explanation
        return None
    if c is None:
        return None
    return np.asarray(c.data if isinstance(c, Tensor) else c)
