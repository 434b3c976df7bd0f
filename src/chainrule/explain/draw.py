"""``cr.draw``: the recorded graph as a Graphviz drawing.

>>> import chainrule as cr
>>> x = cr.tensor(1.5, requires_grad=True, name="x")
>>> d = cr.draw(cr.sin(x ** 2), show_grad=True)
>>> "sin" in d.source and "x" in d.source
True

Tensors and ops are boxes labelled with name, op, shape, a value summary and (with
``show_grad=True``) the gradient from the engine's backward walk, whose flow is drawn as red
dashed edges. Nodes recorded under a ``cr.name_scope`` (every ``cr.nn`` module opens one)
collapse into one box per scope unless ``expand=True`` or a larger ``depth``.
Rendering (SVG/PNG/PDF) needs Graphviz's ``dot`` program; the DOT source never does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._math import brief, shape_text
from .naming import assign_names
from .trace import Graph, Item, capture, run_walk, seed_for

if TYPE_CHECKING:
    from ..tensor import Tensor

__all__ = ["Drawing", "draw"]

_INSTALL = 'cr.draw needs the graphviz Python package: pip install "chainrule[draw]"'
_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpeg",
            ".gif": "gif", ".dot": "dot", ".gv": "dot"}
_RANKDIRS = ("LR", "TB", "BT", "RL")
_COLORS = {"leaf": "#15803d", "constant": "#7b8494", "op": "#2563eb", "output": "#7c3aed",
           "scope": "#b45309", "back": "#dc2626"}
_FILLS = {"leaf": "#e7f6ec", "constant": "#f3f4f6", "op": "#e8f0fe", "output": "#f1e8fd",
          "scope": "#fff4e0"}


def _graphviz() -> Any:
    try:
        import graphviz
    except ImportError:
        raise ImportError(_INSTALL) from None
    return graphviz


class Drawing:
    """A drawing of a graph: ``.digraph`` (the ``graphviz.Digraph``), ``.source`` (DOT),
    ``.save(path)`` (format from the suffix), and inline display in Jupyter (SVG). Other
    attributes (``render``, ``pipe``, ``view``...) are the Digraph's."""

    def __init__(self, digraph: Any) -> None:
        self.digraph = digraph

    @property
    def source(self) -> str:
        """The DOT source (needs no Graphviz program)."""
        return str(self.digraph.source)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.digraph, name)

    def __str__(self) -> str:
        return self.source

    def __repr__(self) -> str:
        n = self.source.count("label=")
        return f"<Drawing: {n} labelled nodes and edges; .source for DOT, .save(path) to render>"

    def pipe_bytes(self, format: str = "svg") -> bytes:
        """The rendered drawing (needs Graphviz's ``dot``)."""
        graphviz = _graphviz()
        try:
            return bytes(self.digraph.pipe(format=format))
        except graphviz.ExecutableNotFound:
            raise RuntimeError(
                "rendering needs Graphviz's 'dot' program (apt-get install graphviz, brew "
                "install graphviz); the DOT source is in .source") from None

    def _repr_svg_(self) -> str | None:
        try:
            return self.pipe_bytes("svg").decode("utf-8")
        except RuntimeError:
            return None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        svg = self._repr_svg_()
        if svg is not None:
            return {"image/svg+xml": svg}
        return {"text/plain": self.source}

    def save(self, path: str | Path, format: str | None = None) -> Path:
        """Write the drawing; the format comes from the suffix (.svg, .png, .pdf, .dot/.gv)."""
        p = Path(path)
        fmt = format or _FORMATS.get(p.suffix.lower())
        if fmt is None:
            raise ValueError(f"save: cannot tell the format from {p.name!r}; use a .svg, .png, "
                             ".pdf or .dot suffix, or pass format=")
        if fmt in ("dot", "gv"):
            p.write_text(self.source, encoding="utf-8")
        else:
            p.write_bytes(self.pipe_bytes(fmt))
        return p


def _esc(text: str) -> str:
    """Text for a DOT label, shown as is: backslashes kept literal (DOT reads ``\\n``, ``\\l``
    ... as escapes); ``&``, ``<`` and ``>`` as entities (dot decodes entities such as ``&lt;``
    in labels, and the graphviz package takes a label in ``<...>`` for an HTML-like one).
    Double quotes are the graphviz package's to escape."""
    return (text.replace("\\", "\\\\").replace("&", "&amp;").replace("<", "&lt;")
            .replace(">", "&gt;"))


def _label(lines: list[str]) -> str:
    return "\\n".join(_esc(x) for x in lines if x)


def draw(output: Tensor, *, show_grad: bool = False, depth: int | None = None,
         expand: bool = False, gradient: Any = None, digits: int = 4, rankdir: str = "LR",
         title: str | None = None) -> Drawing:
    """Draw the recorded graph of ``output`` (Graphviz).

    Parameters
    ----------
    output : Tensor
        The tensor whose history to draw.
    show_grad : bool
        Run the engine's backward walk (graph kept, no ``.grad`` written) and show each
        node's gradient, with the backward flow as red dashed edges. A non-scalar output
        needs ``gradient``.
    depth : int, optional
        Scope levels to open: nodes recorded under deeper ``cr.name_scope``s collapse into one
        box per scope. The default (0) is one box per top-level scope (per module).
    expand : bool
        Draw every op, with the scopes as frames.
    digits : int
        Significant digits of the values shown.
    rankdir : str
        Graphviz direction: "LR" (inputs left), "TB", "BT" or "RL".

    Returns
    -------
    Drawing
        ``.source`` (DOT), ``.save("graph.svg"/".png"/".pdf")``, ``.digraph``; shows inline
        in Jupyter.
    """
    if isinstance(digits, bool) or not isinstance(digits, (int, np.integer)) or digits < 1:
        raise ValueError(f"draw: digits must be an integer of at least 1, got {digits!r}")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"draw: rankdir must be one of {', '.join(_RANKDIRS)}, got {rankdir!r}")
    graphviz = _graphviz()
    g = capture(output, walk=show_grad, who="draw")
    if show_grad:
        run_walk(g, output, seed_for(output, gradient, "draw"))
    leaves = [it for it in g.items if it.kind == "leaf"]
    assign_names(g, leaves, layers=None, digits=digits, notation="∂")
    level = None if expand else (0 if depth is None else max(0, int(depth)))
    dot = graphviz.Digraph("chainrule", graph_attr={
        "rankdir": rankdir, "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.3",
        "ranksep": "0.45", **({"label": _esc(title), "labelloc": "t"} if title else {})},
        node_attr={"fontname": "Helvetica", "fontsize": "10", "shape": "box",
                   "style": "rounded,filled", "penwidth": "1.4"},
        edge_attr={"color": "#8a93a5", "arrowsize": "0.7"})
    box_of = _boxes(g, level)
    _add_nodes(dot, g, box_of, show_grad, digits, level)
    _add_edges(dot, g, box_of, show_grad, digits)
    return Drawing(dot)


def _boxes(g: Graph, level: int | None) -> dict[str, str]:
    """Where each item is drawn: its own id, or the id of its collapsed scope's box."""
    box_of: dict[str, str] = {}
    if level is None:
        return {it.id: it.id for it in g.items}
    scope_ids: dict[str, str] = {}
    for it in g.items:
        if it.kind == "op" and len(it.scope) > level:
            key = "/".join(it.scope[: level + 1])
            box_of[it.id] = scope_ids.setdefault(key, f"s{len(scope_ids)}")
            g.scope_names[box_of[it.id]] = key
        else:
            box_of[it.id] = it.id
    for it in g.items:  # a parameter or a number used only inside one box goes into it
        if (it.kind == "leaf" or (it.kind == "constant" and it.scalar)) and it.consumers \
                and not it.is_root:
            homes = {box_of[c.id] for c, _ in it.consumers}
            if len(homes) == 1:
                home = next(iter(homes))
                if home in g.scope_names:
                    box_of[it.id] = home
    return box_of


def _kind(it: Item) -> str:
    return "output" if it.is_root else it.kind


def _item_label(it: Item, show_grad: bool, digits: int) -> str:
    name = it.name or it.m.u
    lines = [name]
    if it.kind == "op":
        lines.append(it.op)
    elif it.kind == "leaf":
        lines.append("leaf")
    if it.value is not None and np.size(it.value) != 1:
        lines.append(shape_text(it.shape))
        lines.append("val " + brief(it.value, digits))
    elif it.value is not None:
        lines.append("val " + brief(it.value, digits))
    if show_grad and it.kind != "constant":
        lines.append("grad " + brief(it.grad, digits))
    return _label(lines)


def _add_nodes(dot: Any, g: Graph, box_of: dict[str, str], show_grad: bool, digits: int,
               level: int | None) -> None:
    members: dict[str, list[Item]] = {}
    for it in g.items:
        key = box_of[it.id]
        if key in g.scope_names:
            members.setdefault(key, []).append(it)
    clusters: dict[tuple[str, ...], list[str]] = {}
    for it in g.items:  # in topological order; a box where its first member is
        if box_of[it.id] != it.id:
            key = box_of[it.id]
            if key in members and members[key][0] is it:
                _add_box(dot, g, key, members[key], box_of, show_grad, digits)
            continue
        k = _kind(it)
        attrs = {"color": _COLORS[k], "fillcolor": _FILLS[k]}
        if k == "constant":
            attrs["style"] = "rounded,dashed,filled"
        if k == "output":
            attrs["peripheries"] = "2"
        dot.node(it.id, _item_label(it, show_grad, digits), **attrs)
        if it.kind == "op" and it.scope:
            clusters.setdefault(it.scope, []).append(it.id)
    if level is None:  # expanded: frame each scope
        for n, (scope, ids) in enumerate(sorted(clusters.items())):
            with dot.subgraph(name=f"cluster_{n}") as sub:
                sub.attr(label=_esc("/".join(scope)), color=_COLORS["scope"],
                         style="rounded,dashed", fontcolor=_COLORS["scope"])
                for i in ids:
                    sub.node(i)


def _add_box(dot: Any, g: Graph, key: str, items: list[Item], box_of: dict[str, str],
             show_grad: bool, digits: int) -> None:
    """One box for the ops of a collapsed scope (and the parameters only they use)."""
    ops = [it for it in items if it.kind == "op"]
    params = [it.name for it in items if it.kind == "leaf"]
    outs = [it for it in ops if it.is_root or any(box_of[c.id] != key for c, _ in it.consumers)]
    kinds: list[str] = []
    for it in ops:
        if it.op not in kinds:
            kinds.append(it.op)
    lines = [g.scope_names[key], f"{len(ops)} op{'s' if len(ops) != 1 else ''}: "
             + ", ".join(kinds[:5]) + (", …" if len(kinds) > 5 else "")]
    if params:
        lines.append("params: " + ", ".join(params[:4]) + (", …" if len(params) > 4 else ""))
    for o in outs[:2]:
        lines.append(f"out {o.name}: {brief(o.value, digits)}")
        if show_grad:
            lines.append(f"grad {brief(o.grad, digits)}")
    root = any(it.is_root for it in ops)
    dot.node(key, _label(lines), color=_COLORS["output" if root else "scope"],
             fillcolor=_FILLS["scope"], penwidth="2", **({"peripheries": "2"} if root else {}))


def _add_edges(dot: Any, g: Graph, box_of: dict[str, str], show_grad: bool,
               digits: int) -> None:
    seen: set[tuple[str, str]] = set()
    for it in g.items:
        for x in it.inputs:
            if x is None:
                continue
            a, b = box_of[x.id], box_of[it.id]
            if a == b or (a, b) in seen:
                continue
            seen.add((a, b))
            dot.edge(a, b)
    if not show_grad:
        return
    back: dict[tuple[str, str], list[Any]] = {}
    for s in g.steps:
        a, b = box_of[s.node.id], box_of[s.target.id]
        if a != b:
            back.setdefault((a, b), []).append(s.contribution)
    for (a, b), cs in back.items():
        label = brief(cs[0], digits) if len(cs) == 1 else \
            f"{brief(_total(cs), digits)} ({len(cs)} terms)"  # fan-out: they add up
        dot.edge(a, b, label=_esc(label), color=_COLORS["back"], fontcolor=_COLORS["back"],
                 style="dashed", constraint="false", fontsize="9")


def _total(parts: list[Any]) -> Any:
    """The sum of the contributions along one edge (all have the target's shape)."""
    return sum(np.asarray(c) for c in parts)
