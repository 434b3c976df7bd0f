"""Self-contained, animated HTML page that walks through a forward/backward pass.

``render_html(trace)`` turns a JSON-able *trace* into one HTML document: the graph
is laid out here in Python and drawn as inline SVG, and a small inline script steps
through the trace.  The page loads nothing from the network (a CSP forbids it).

Trace schema (``None`` allowed where marked ``?``)::

    {"title": str,
     "nodes": [{"id": str, "label": str, "kind": "leaf"|"op"|"output"|"constant",
                "op": str?, "formula": str?, "shape": [int, ...]?, "value": str?,
                "grad": str?, "value_full": nested list | number?, "grad_full": ...?}],
     "edges": [{"source": id, "target": id, "input_index": int}],   # input -> consumer
     "steps": [{"phase": "forward", "node": id, "text": str, "value": str?},
               {"phase": "backward", "node": id, "text": str, "upstream": str?,
                "local": str?, "grad": str?, "edge": [source, target]?, "target": id?}]}

A node's gradient (``grad``, in the element ``[data-grad-for=<id>]``) appears at the
last backward step whose ``target`` (else ``edge[0]``, else ``node``) is that node;
earlier contributions show as "grad += ..." (``[data-partial-for=<id>]``).  A node
with a gradient but no such step shows it at the first backward step if it is the
output, else at the last step.  Values (``[data-value-for=<id>]``) appear at the
node's first forward step, or from the start if it has none.  In the page,
``window.chainruleTrace`` is the trace, ``window.chainruleStep`` the current step
index (-1 before the first step) and ``window.chainruleGoTo(k)`` jumps to step k.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from heapq import heapify, heappop, heappush
from pathlib import Path
from typing import Any

__all__ = [
    "Box",
    "EdgeRoute",
    "Layout",
    "compute_layout",
    "render_html",
    "write_html",
]

# Geometry (SVG user units, i.e. CSS pixels at 100 % zoom).
BOX_H = 78.0
MIN_BOX_W = 128.0
MAX_BOX_W = 240.0
GAP_X = 72.0
GAP_Y = 26.0
DUMMY_H = 8.0
MARGIN = 24.0
PAD_X = 12.0

# Rough text metrics used to size boxes (DejaVu/Liberation-like fonts).
_LABEL_CHAR_W = 8.2  # 13px bold sans-serif
_META_CHAR_W = 6.4  # 11px sans-serif
_MONO_CHAR_W = 6.7  # 11px monospace

_KINDS = ("leaf", "op", "output", "constant")
_PHASES = ("forward", "backward")

CSP = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'"
)


# --------------------------------------------------------------------------- layout


@dataclass(frozen=True)
class Box:
    """A node's box: top-left corner, size and layer (column)."""

    id: str
    layer: int
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        """Horizontal centre."""
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        """Vertical centre."""
        return self.y + self.h / 2


@dataclass(frozen=True)
class EdgeRoute:
    """A drawn edge: its end points, the points it passes through and the SVG path."""

    source: str
    target: str
    input_index: int
    points: tuple[tuple[float, float], ...]
    path: str


@dataclass(frozen=True)
class Layout:
    """Result of :func:`compute_layout`."""

    boxes: dict[str, Box]
    edges: list[EdgeRoute]
    layers: list[list[str]]
    width: float
    height: float


def _edge_triples(edges: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, int]]:
    return [(str(e["source"]), str(e["target"]), int(e.get("input_index") or 0)) for e in edges]


def _crossings(layers: list[list[int]], down: list[list[int]], pos: dict[int, int]) -> int:
    """Number of edge crossings between adjacent layers."""
    total = 0
    for layer in layers[:-1]:
        segs = [(pos[a], pos[b]) for a in layer for b in down[a]]
        for i, (a1, b1) in enumerate(segs):
            for a2, b2 in segs[i + 1 :]:
                if (a1 - a2) * (b1 - b2) < 0:
                    total += 1
    return total


def _pav(values: list[float], weights: list[float]) -> list[float]:
    """Weighted isotonic (non-decreasing) least-squares fit, pool-adjacent-violators."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights, strict=True):
        blocks.append([v, w, 1.0])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            wt = w1 + w2
            blocks.append([(m1 * w1 + m2 * w2) / wt, wt, c1 + c2])
    out: list[float] = []
    for m, _w, c in blocks:
        out.extend([m] * int(c))
    return out


def compute_layout(
    nodes: Sequence[Mapping[str, Any]],
    edges: Sequence[Mapping[str, Any]],
    box_width: float = 150.0,
    box_height: float = BOX_H,
) -> Layout:
    """Layered left-to-right layout of a DAG given in trace format.

    Layers come from the longest path from the inputs (every node is then moved right
    next to its first consumer), long edges get virtual points (shared by the edges out
    of one node), and nodes within
    a layer are ordered by barycentre sweeps (the ordering with the fewest crossings
    wins).  Vertical positions are pulled towards the neighbours' mean.
    """
    ids = [str(n["id"]) for n in nodes]
    n_real = len(ids)
    index = {nid: i for i, nid in enumerate(ids)}
    triples = _edge_triples(edges)
    preds: list[list[int]] = [[] for _ in ids]
    succs: list[list[int]] = [[] for _ in ids]
    for s, t, _k in triples:
        if s not in index or t not in index:
            raise ValueError(f"edge {s!r} -> {t!r} refers to an unknown node")
        preds[index[t]].append(index[s])
        succs[index[s]].append(index[t])

    # Topological order (Kahn, stable by node order).
    indeg = [len(p) for p in preds]
    heap = [i for i in range(n_real) if indeg[i] == 0]
    heapify(heap)
    order: list[int] = []
    while heap:
        i = heappop(heap)
        order.append(i)
        for j in succs[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                heappush(heap, j)
    if len(order) != n_real:
        raise ValueError("the graph has a cycle")

    layer_of = [0] * n_real
    for i in order:
        layer_of[i] = max((layer_of[p] + 1 for p in preds[i]), default=0)
    for i in reversed(order):  # pull every node right, next to its first consumer: a side
        if succs[i]:  # branch joining late (sum of sin(x_i)) gets no long edges
            layer_of[i] = max(layer_of[i], min(layer_of[j] for j in succs[i]) - 1)
    n_layers = max(layer_of, default=-1) + 1

    # Items: real nodes 0..n_real-1, then virtual points on long edges.
    item_layer = list(layer_of)
    up: list[list[int]] = [[] for _ in ids]
    down: list[list[int]] = [[] for _ in ids]
    chains: list[list[int]] = []
    # The long edges out of one node share their virtual points (one per layer): node a's
    # run along path[a], made as far as its longest edge so far, and each edge takes its
    # prefix of them. A value used all along a chain so adds O(length) points, not
    # O(length²), and costs O(1) Python steps per edge.
    path: dict[int, list[int]] = {}
    linked: set[tuple[int, int]] = set()  # (point, node) segments that end an edge
    for s, t, _k in triples:
        a, b = index[s], index[t]
        span = layer_of[b] - layer_of[a] - 1  # the virtual points this edge passes
        points = path.setdefault(a, [])
        while len(points) < span:
            item_layer.append(layer_of[a] + len(points) + 1)
            up.append([])
            down.append([])
            v = len(item_layer) - 1
            u = points[-1] if points else a
            down[u].append(v)
            up[v].append(u)
            points.append(v)
        u = points[span - 1] if span else a
        if not span or (u, b) not in linked:  # (two edges a -> b share their last segment)
            linked.add((u, b))
            down[u].append(b)
            up[b].append(u)
        chains.append([a, *points[:span], b])
    n_items = len(item_layer)
    heights = [box_height if i < n_real else DUMMY_H for i in range(n_items)]

    layers: list[list[int]] = [[] for _ in range(n_layers)]
    for i in range(n_items):
        layers[item_layer[i]].append(i)

    # Crossing reduction: barycentre sweeps, keep the best ordering.
    pos = {it: k for layer in layers for k, it in enumerate(layer)}

    def sweep(downward: bool) -> None:
        rng = range(1, n_layers) if downward else range(n_layers - 2, -1, -1)
        for li in rng:

            def key(it: int) -> tuple[float, int]:
                nb = up[it] if downward else down[it]
                bary = sum(pos[x] for x in nb) / len(nb) if nb else float(pos[it])
                return (bary, pos[it])

            layers[li].sort(key=key)
            for k, it in enumerate(layers[li]):
                pos[it] = k

    best = [list(layer) for layer in layers]
    best_cross = _crossings(layers, down, pos)
    for rnd in range(16):
        if best_cross == 0:
            break
        sweep(downward=rnd % 2 == 0)
        cross = _crossings(layers, down, pos)
        if cross < best_cross:
            best, best_cross = [list(layer) for layer in layers], cross
    layers = best
    pos = {it: k for layer in layers for k, it in enumerate(layer)}

    # Vertical placement: stack, then pull towards neighbours (isotonic fit keeps order).
    top = [0.0] * n_items
    sizes = [sum(heights[i] for i in layer) + GAP_Y * max(len(layer) - 1, 0) for layer in layers]
    tallest = max(sizes, default=0.0)
    for layer, size in zip(layers, sizes, strict=True):
        y = (tallest - size) / 2
        for it in layer:
            top[it] = y
            y += heights[it] + GAP_Y

    def place(li: int, use_up: bool, use_down: bool) -> None:
        layer = layers[li]
        if not layer:
            return
        desired: list[float] = []
        weights: list[float] = []
        offset = 0.0
        for it in layer:
            nb = (up[it] if use_up else []) + (down[it] if use_down else [])
            if nb:
                centre = sum(top[x] + heights[x] / 2 for x in nb) / len(nb)
            else:
                centre = top[it] + heights[it] / 2
            desired.append(centre - heights[it] / 2 - offset)
            weights.append(1.0 if it < n_real else 0.6)
            offset += heights[it] + GAP_Y
        fitted = _pav(desired, weights)
        offset = 0.0
        for it, z in zip(layer, fitted, strict=True):
            top[it] = z + offset
            offset += heights[it] + GAP_Y

    for _ in range(4):
        for li in range(1, n_layers):
            place(li, use_up=True, use_down=False)
        for li in range(n_layers - 2, -1, -1):
            place(li, use_up=False, use_down=True)
    for li in range(n_layers):
        place(li, use_up=True, use_down=True)

    shift = MARGIN - min(top, default=0.0)
    top = [t + shift for t in top]
    col_x = [MARGIN + li * (box_width + GAP_X) for li in range(n_layers)]
    boxes = {
        ids[i]: Box(ids[i], layer_of[i], col_x[layer_of[i]], top[i], box_width, box_height)
        for i in range(n_real)
    }
    width = (col_x[-1] + box_width + MARGIN) if n_layers else 2 * MARGIN
    height = max((top[i] + heights[i] for i in range(n_items)), default=0.0) + MARGIN

    # Ports: spread incoming/outgoing edges over the box side, ordered by the
    # neighbouring point's height so that fans do not cross.
    def centre(it: int) -> float:
        return top[it] + heights[it] / 2

    in_port: dict[int, float] = {}
    out_port: dict[int, float] = {}
    edges_into: list[list[int]] = [[] for _ in range(n_real)]  # (one pass, not one per node:
    edges_out_of: list[list[int]] = [[] for _ in range(n_real)]  # a 1,500-op graph took 2.5 s)
    for e, ch in enumerate(chains):
        edges_into[ch[-1]].append(e)
        edges_out_of[ch[0]].append(e)
    for node in range(n_real):
        incoming = edges_into[node]
        incoming.sort(key=lambda e: (centre(chains[e][-2]), triples[e][2]))
        for k, e in enumerate(incoming):
            in_port[e] = top[node] + 14 + (box_height - 28) * (k + 1) / (len(incoming) + 1)
        outgoing = edges_out_of[node]
        outgoing.sort(key=lambda e: (centre(chains[e][1]), e))
        for k, e in enumerate(outgoing):
            out_port[e] = top[node] + 14 + (box_height - 28) * (k + 1) / (len(outgoing) + 1)

    routes: list[EdgeRoute] = []
    for e, (chain, (s, t, k)) in enumerate(zip(chains, triples, strict=True)):
        pts: list[tuple[float, float]] = [(col_x[layer_of[chain[0]]] + box_width, out_port[e])]
        for it in chain[1:-1]:
            cy = centre(it)
            pts.append((col_x[item_layer[it]], cy))
            pts.append((col_x[item_layer[it]] + box_width, cy))
        pts.append((col_x[layer_of[chain[-1]]] - 2.0, in_port[e]))
        d = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
        for j in range(1, len(pts)):
            (x0, y0), (x1, y1) = pts[j - 1], pts[j]
            if j % 2 == 1:  # between columns: smooth S-curve
                dx = (x1 - x0) / 2
                d.append(f"C{x0 + dx:.1f},{y0:.1f} {x1 - dx:.1f},{y1:.1f} {x1:.1f},{y1:.1f}")
            else:  # straight run through a column (virtual point)
                d.append(f"L{x1:.1f},{y1:.1f}")
        routes.append(EdgeRoute(s, t, k, tuple(pts), " ".join(d)))

    layer_ids = [[ids[i] for i in layer if i < n_real] for layer in layers]
    return Layout(boxes, routes, layer_ids, width, height)


# --------------------------------------------------------------------- validation


def _jsonable(obj: Any) -> Any:
    """Copy *obj* into plain JSON types (arrays via ``tolist``; NaN/inf as strings)."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else str(obj)
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return _jsonable(tolist())
    return str(obj)


def _normalise(trace: Mapping[str, Any]) -> dict[str, Any]:
    """Validate *trace* and return a plain-JSON copy with ids as strings."""
    if not isinstance(trace, Mapping):
        raise TypeError("trace must be a mapping")
    data = _jsonable(trace)
    nodes = data.get("nodes")
    if not isinstance(nodes, list):
        raise ValueError("trace['nodes'] must be a list")
    seen: set[str] = set()
    for n in nodes:
        if not isinstance(n, dict) or n.get("id") is None:
            raise ValueError("every node needs an 'id'")
        n["id"] = str(n["id"])
        if n["id"] in seen:
            raise ValueError(f"duplicate node id {n['id']!r}")
        seen.add(n["id"])
        kind = n.setdefault("kind", "op")
        if kind not in _KINDS:
            raise ValueError(f"node {n['id']!r}: unknown kind {kind!r}")
        n.setdefault("label", n["id"])
    edges = data.setdefault("edges", [])
    steps = data.setdefault("steps", [])
    if not isinstance(edges, list) or not isinstance(steps, list):
        raise ValueError("trace['edges'] and trace['steps'] must be lists")
    for e in edges:
        e["source"], e["target"] = str(e["source"]), str(e["target"])
        for end in (e["source"], e["target"]):
            if end not in seen:
                raise ValueError(f"edge refers to unknown node {end!r}")
        e["input_index"] = int(e.get("input_index") or 0)
    for k, s in enumerate(steps):
        if s.get("phase") not in _PHASES:
            raise ValueError(f"step {k}: phase must be 'forward' or 'backward'")
        s["node"] = str(s.get("node"))
        if s["node"] not in seen:
            raise ValueError(f"step {k}: unknown node {s['node']!r}")
        if s.get("target") is not None:
            s["target"] = str(s["target"])
            if s["target"] not in seen:
                raise ValueError(f"step {k}: unknown target {s['target']!r}")
        if s.get("edge") is not None:
            s["edge"] = [str(x) for x in s["edge"]]
    data.setdefault("title", "Backward pass")
    return dict(data)


# ----------------------------------------------------------------------- drawing


_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"}


def _esc(text: Any) -> str:
    """Escape *text* for HTML/SVG text and attribute values."""
    return "".join(_ESCAPES.get(c, c) for c in ("" if text is None else str(text)))


def _shape_text(shape: Any) -> str:
    if shape is None:
        return ""
    if isinstance(shape, list):
        return "scalar" if not shape else "×".join(str(s) for s in shape)
    return str(shape)


def _meta_text(node: Mapping[str, Any]) -> str:
    kind = node.get("kind", "op")
    head = str(node.get("op") or kind) if kind in ("op", "output") else str(kind)
    if kind == "output" and node.get("op"):
        head = f"{node['op']} · output"
    shape = _shape_text(node.get("shape"))
    return f"{head} · {shape}" if shape else head


def _box_width(nodes: Sequence[Mapping[str, Any]]) -> float:
    need = MIN_BOX_W
    for n in nodes:
        need = max(
            need,
            len(str(n.get("label", ""))) * _LABEL_CHAR_W + 2 * PAD_X,
            len(_meta_text(n)) * _META_CHAR_W + 2 * PAD_X,
            (len(str(n.get("value") or "")) + 4) * _MONO_CHAR_W + 2 * PAD_X,
            (len(str(n.get("grad") or "")) + 5) * _MONO_CHAR_W + 2 * PAD_X,
        )
    return float(min(MAX_BOX_W, math.ceil(need)))


def _fit(text_len: int, char_w: float, avail: float) -> str:
    """``textLength`` attributes squeezing a too-long line into *avail* pixels."""
    if text_len * char_w <= avail:
        return ""
    return f' textLength="{avail:.0f}" lengthAdjust="spacingAndGlyphs"'


def _svg(data: Mapping[str, Any]) -> str:
    nodes: list[dict[str, Any]] = data["nodes"]
    bw = _box_width(nodes)
    lay = compute_layout(nodes, data["edges"], box_width=bw)
    avail = bw - 2 * PAD_X
    out = [
        f'<svg id="graph" viewBox="0 0 {lay.width:.0f} '
        f'{lay.height:.0f}" width="{lay.width:.0f}" height="{lay.height:.0f}" role="img" '
        'aria-label="Computation graph">',
        "<defs>",
    ]
    for name in ("arrow", "arrow-fwd", "arrow-back", "arrow-done"):
        orient = "auto-start-reverse" if name == "arrow-back" else "auto"
        out.append(
            f'<marker id="{name}" class="{name}" viewBox="0 0 10 10" refX="9" refY="5" '
            f'markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="{orient}">'
            '<path d="M0,0 L10,5 L0,10 z"/></marker>'
        )
    out.append("</defs>")
    labels = {n["id"]: str(n.get("label", n["id"])) for n in nodes}
    out.append('<g class="edges">')
    for r in lay.edges:
        tip = f"{labels[r.source]} → {labels[r.target]} (input {r.input_index})"
        out.append(
            f'<g class="edge" data-source="{_esc(r.source)}" data-target="{_esc(r.target)}" '
            f'data-input-index="{r.input_index}"><title>{_esc(tip)}</title>'
            f'<path class="edge-hit" d="{r.path}"/><path class="edge-line" d="{r.path}"/></g>'
        )
    out.append("</g>")
    out.append('<g class="nodes">')
    for n in nodes:
        b = lay.boxes[n["id"]]
        nid = _esc(n["id"])
        label = str(n.get("label", n["id"]))
        meta = _meta_text(n)
        value = "" if n.get("value") is None else str(n["value"])
        tip = label if not n.get("formula") else f"{label}\n{n['formula']}"
        out.append(
            f'<g class="node kind-{_esc(n.get("kind", "op"))}" data-node-id="{nid}" '
            f'transform="translate({b.x:.1f},{b.y:.1f})" tabindex="0" role="button" '
            f'aria-label="{_esc(label)}"><title>{_esc(tip)}</title>'
            f'<rect class="box" width="{b.w:.0f}" height="{b.h:.0f}" rx="9"/>'
            f'<rect class="stripe" width="6" height="{b.h:.0f}" rx="3"/>'
            f'<text class="label" x="{PAD_X}" y="20"'
            f"{_fit(len(label), _LABEL_CHAR_W, avail)}>{_esc(label)}</text>"
            f'<text class="meta" x="{PAD_X}" y="37"'
            f"{_fit(len(meta), _META_CHAR_W, avail)}>{_esc(meta)}</text>"
        )
        if value:
            out.append(
                f'<text class="val reveal" data-value-row="{nid}" x="{PAD_X}" y="55"'
                f'{_fit(len(value) + 4, _MONO_CHAR_W, avail)}><tspan class="pfx">val </tspan>'
                f'<tspan data-value-for="{nid}">{_esc(value)}</tspan></text>'
            )
        if n.get("grad") is not None:
            grad = str(n["grad"])
            out.append(
                f'<text class="grad reveal" data-grad-row="{nid}" x="{PAD_X}" y="71"'
                f'{_fit(len(grad) + 5, _MONO_CHAR_W, avail)}><tspan class="pfx">grad </tspan>'
                f'<tspan data-grad-for="{nid}">{_esc(grad)}</tspan></text>'
                f'<text class="partial reveal" data-partial-for="{nid}" x="{PAD_X}" y="71">'
                "</text>"
            )
        out.append("</g>")
    out.append("</g></svg>")
    return "".join(out)


def _json_for_script(data: Any) -> str:
    """JSON safe inside a ``<script>`` element (no ``</``, ``<!--`` or ``]]>``)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return (
        text.replace("&", "\\u0026")
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


_CSS = """
:root{--bg:#f5f6fa;--panel:#fff;--ink:#1d2330;--muted:#5f6b7d;--line:#dde1ea;
--fwd:#2563eb;--fwd-soft:#e8f0fe;--back:#dc2626;--back-soft:#fdecec;--leaf:#15803d;
--const:#7b8494;--out:#7c3aed;--edge:#a3acbb;
--sans:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans","Liberation Sans",sans-serif;
--mono:ui-monospace,"DejaVu Sans Mono","Liberation Mono",Menlo,Consolas,monospace}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 var(--sans)}
header{padding:14px 22px 10px;border-bottom:1px solid var(--line);background:var(--panel)}
h1{margin:0;font-size:19px;font-weight:650;overflow-wrap:anywhere}
header p{margin:2px 0 0;color:var(--muted);font-size:12.5px}
h2{margin:0 0 8px;font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
main{display:grid;grid-template-columns:minmax(0,1fr) 390px;gap:16px;padding:16px 22px;
align-items:start}
@media (max-width:1050px){main{grid-template-columns:minmax(0,1fr)}}
.card{background:var(--panel);border:1px solid var(--line);border-radius:12px;
box-shadow:0 1px 2px rgba(20,30,50,.05);padding:12px 14px}
.graph-card{padding:8px}
.toolbar{display:flex;flex-wrap:wrap;gap:14px;align-items:center;padding:4px 6px 8px;
font-size:12.5px;color:var(--muted)}
.legend{display:flex;flex-wrap:wrap;gap:12px}
.legend span{display:inline-flex;align-items:center;gap:5px}
.legend i{display:inline-block;width:12px;height:12px;border-radius:3px;border:2px solid}
.lg-leaf{border-color:var(--leaf)!important}.lg-const{border-color:var(--const)!important;
border-style:dashed!important}.lg-op{border-color:var(--fwd)!important}
.lg-out{border-color:var(--out)!important}
.lg-fwd{background:var(--fwd);border-color:var(--fwd)!important}
.lg-back{background:var(--back);border-color:var(--back)!important}
.toolbar label{margin-left:auto;cursor:pointer;user-select:none}
.graph-scroll{overflow:auto;max-height:72vh;border-radius:8px;
background:linear-gradient(#fbfcfe,#f7f8fc)}
.graph-scroll.fit svg{max-width:100%;height:auto}
svg{display:block;margin:0 auto;font-family:var(--sans)}
.edge .edge-line{fill:none;stroke:var(--edge);stroke-width:1.6;marker-end:url(#arrow);
transition:stroke .25s}
.edge .edge-hit{fill:none;stroke:transparent;stroke-width:10}
.edge.done-back .edge-line{stroke:#f2a7a7;marker-end:url(#arrow-done)}
.edge.cur-fwd .edge-line{stroke:var(--fwd);stroke-width:2.8;marker-end:url(#arrow-fwd)}
.edge.cur-back .edge-line{stroke:var(--back);stroke-width:3;marker-end:none;
marker-start:url(#arrow-back);stroke-dasharray:9 6;animation:flow .7s linear infinite}
@keyframes flow{to{stroke-dashoffset:15}}
marker.arrow path{fill:var(--edge)}marker.arrow-fwd path{fill:var(--fwd)}
marker.arrow-back path{fill:var(--back)}marker.arrow-done path{fill:#f2a7a7}
.node{cursor:pointer;outline:none}
.node .box{fill:#fff;stroke:var(--fwd);stroke-width:1.6;transition:fill .3s,stroke-width .2s}
.node .stripe{fill:var(--fwd)}
.node.kind-leaf .box{stroke:var(--leaf)}.node.kind-leaf .stripe{fill:var(--leaf)}
.node.kind-constant .box{stroke:var(--const);stroke-dasharray:5 3}
.node.kind-constant .stripe{fill:var(--const)}
.node.kind-output .box{stroke:var(--out);stroke-width:2.4}
.node.kind-output .stripe{fill:var(--out)}
.node.computed .box{fill:var(--fwd-soft)}
.node.has-grad .box{fill:var(--back-soft)}
.node.cur-fwd .box{stroke:var(--fwd);stroke-width:3.5;
filter:drop-shadow(0 0 6px rgba(37,99,235,.55))}
.node.cur-back .box{stroke:var(--back);stroke-width:3.5;
filter:drop-shadow(0 0 6px rgba(220,38,38,.5))}
.node.cur-target .box{stroke:var(--back);stroke-width:3.5;stroke-dasharray:7 4;
filter:drop-shadow(0 0 8px rgba(220,38,38,.6))}
.node.selected .box{stroke-width:3}
.node:focus-visible .box{stroke:#111;stroke-width:3}
.node .label{font-size:13px;font-weight:700;fill:var(--ink)}
.node .meta{font-size:11px;fill:var(--muted)}
.node .val,.node .grad,.node .partial{font:11px var(--mono)}
.node .val{fill:#1e40af}.node .grad{fill:var(--back);font-weight:700}
.node .partial{fill:#b45353;font-style:italic}
.node .pfx{fill:var(--muted);font-weight:400}
.reveal{opacity:0;visibility:hidden}
body.ready .reveal{transition:opacity .35s}
.reveal.shown{opacity:1;visibility:visible}
.controls{display:flex;gap:6px;flex-wrap:wrap;align-items:center}
.speed{font-size:12.5px;color:var(--muted);white-space:nowrap}
select{font:inherit;font-size:12.5px;padding:4px;border-radius:6px;border:1px solid #c9cfdb;
background:#fff}
button{font:inherit;font-size:13px;padding:6px 12px;border-radius:8px;border:1px solid #c9cfdb;
background:#fff;color:var(--ink);cursor:pointer}
button:hover:not(:disabled){background:#f0f3f8}
button:disabled{opacity:.45;cursor:default}
button.primary{background:var(--fwd);border-color:var(--fwd);color:#fff}
button.primary:hover:not(:disabled){background:#1d4fd0}
.progress{margin-top:10px;display:flex;align-items:center;gap:10px;font-size:12.5px;
color:var(--muted)}
.bar{flex:1;height:6px;border-radius:3px;background:#e6e9f0;overflow:hidden}
.bar div{height:100%;width:0;background:linear-gradient(90deg,var(--fwd),var(--back));
transition:width .25s}
.side{display:flex;flex-direction:column;gap:12px}
.phase{display:inline-block;font-size:11px;font-weight:700;text-transform:uppercase;
letter-spacing:.06em;padding:2px 8px;border-radius:999px;background:#eceff4;color:var(--muted)}
.phase.forward{background:var(--fwd-soft);color:var(--fwd)}
.phase.backward{background:var(--back-soft);color:var(--back)}
#step-text{margin:8px 0 6px;font:13.5px/1.5 var(--mono);white-space:pre-wrap;
overflow-wrap:anywhere}
.math{display:grid;grid-template-columns:auto 1fr;gap:3px 10px;margin:6px 0 0;font-size:12.5px}
.math dt{color:var(--muted)}
.math dd{margin:0;font-family:var(--mono);overflow-wrap:anywhere}
.math dd.product{color:var(--back);font-weight:700}
.formula{margin:8px 0 0;padding:6px 8px;border-radius:6px;background:#f6f7fb;
font:12.5px var(--mono);overflow-wrap:anywhere}
.inspector dl{display:grid;grid-template-columns:auto 1fr;gap:3px 10px;margin:0;font-size:12.5px}
.inspector dt{color:var(--muted)}
.inspector dd{margin:0;overflow-wrap:anywhere}
.inspector pre{margin:0;max-height:160px;overflow:auto;font:11.5px/1.4 var(--mono);
background:#f6f7fb;border-radius:6px;padding:5px 7px}
.steps ol{position:relative;margin:0;padding:0;list-style:none;max-height:260px;overflow:auto;
font-size:12.5px}
.steps li{padding:3px 8px;border-radius:6px;cursor:pointer;display:flex;gap:8px;
border-left:3px solid transparent}
.steps li:hover{background:#f2f4f8}
.steps li .k{color:var(--muted);min-width:2.2em;text-align:right;font-variant-numeric:tabular-nums}
.steps li.forward{border-left-color:#bfd1fb}.steps li.backward{border-left-color:#f3b9b9}
.steps li.done{color:var(--muted)}
.steps li.current{background:#fff6d6;color:var(--ink);font-weight:600}
.hint{color:var(--muted);font-size:12px}
kbd{font:11px var(--mono);border:1px solid #c9cfdb;border-bottom-width:2px;border-radius:4px;
padding:0 4px;background:#fff}
.muted{color:var(--muted)}
@media (prefers-reduced-motion:reduce){*{transition:none!important;animation:none!important}}
"""

_BODY = """
<header><h1 id="title">{title}</h1>
<p>chainrule · forward and backward pass, one step at a time</p></header>
<main>
<section class="card graph-card" aria-label="Computation graph">
<div class="toolbar"><div class="legend">
<span><i class="lg-leaf"></i>leaf</span><span><i class="lg-const"></i>constant</span>
<span><i class="lg-op"></i>operation</span><span><i class="lg-out"></i>output</span>
<span><i class="lg-fwd"></i>forward</span><span><i class="lg-back"></i>backward (gradient)</span>
</div><label><input type="checkbox" id="fit"> fit to window</label></div>
<div class="graph-scroll" id="graph-scroll">{svg}</div>
</section>
<aside class="side">
<section class="card" aria-label="Controls">
<div class="controls">
<button type="button" id="btn-reset" title="Reset (Home)">Reset</button>
<button type="button" id="btn-prev" title="Previous step (ArrowLeft)">Previous</button>
<button type="button" id="btn-play" class="primary" title="Play / Pause (Space)"
 aria-pressed="false">Play</button>
<button type="button" id="btn-next" title="Next step (ArrowRight)">Next</button>
</div>
<div class="progress"><span id="progress" aria-live="polite">step 0 / {n}</span>
<div class="bar"><div id="bar"></div></div>
<label class="speed" title="Play speed">speed <select id="speed">
<option value="2200">0.5&times;</option><option value="1100" selected>1&times;</option>
<option value="550">2&times;</option><option value="250">4&times;</option>
<option value="60">max</option></select></label></div>
</section>
<section class="card step-panel" id="step-panel" aria-label="Current step">
<span class="phase" id="step-phase">start</span>
<p id="step-text"></p>
<dl class="math" id="step-math"></dl>
<div class="formula" id="step-formula" hidden></div>
</section>
<section class="card inspector" aria-label="Node details">
<h2>Node <span class="muted" id="insp-hint">(click a box)</span></h2>
<dl id="inspector"></dl>
</section>
<section class="card steps" aria-label="All steps">
<h2>All steps</h2><ol id="step-list"></ol>
</section>
<p class="hint"><kbd>&larr;</kbd> <kbd>&rarr;</kbd> step &middot; <kbd>Space</kbd> play/pause
&middot; <kbd>Home</kbd> reset &middot; <kbd>End</kbd> last step</p>
</aside>
</main>
"""

_JS = r"""
(function () {
  'use strict';
  var trace = JSON.parse(document.getElementById('chainrule-trace').textContent);
  window.chainruleTrace = trace;
  var steps = trace.steps || [];
  var N = steps.length;
  var cur = -1;
  var timer = null;
  var selected = null;
  window.chainruleStep = -1;

  var nodeById = {};
  trace.nodes.forEach(function (n) { nodeById[n.id] = n; });
  function label(id) { return id != null && nodeById[id] ? String(nodeById[id].label) : '?'; }
  var lossLabel = 'L';
  trace.nodes.forEach(function (n) { if (n.kind === 'output') { lossLabel = String(n.label); } });

  function collect(sel, attr) {
    var m = {};
    document.querySelectorAll(sel).forEach(function (el) {
      var k = el.getAttribute(attr);
      (m[k] = m[k] || []).push(el);
    });
    return m;
  }
  var nodeEls = collect('[data-node-id]', 'data-node-id');
  var valueRows = collect('[data-value-row]', 'data-value-row');
  var gradRows = collect('[data-grad-row]', 'data-grad-row');
  var partialEls = collect('[data-partial-for]', 'data-partial-for');
  var edgeEls = [];
  document.querySelectorAll('g.edge').forEach(function (el) {
    edgeEls.push({el: el, s: el.getAttribute('data-source'), t: el.getAttribute('data-target')});
  });

  // When does each value / gradient appear?  -1 means: from the start.
  function gradTarget(s) {
    if (s.phase !== 'backward') { return null; }
    return s.target != null ? s.target : (s.edge ? s.edge[0] : s.node);
  }
  var valueAt = {}, gradAt = {}, contribs = {}, firstBack = -1;
  steps.forEach(function (s, i) {
    if (s.phase === 'forward' && !(s.node in valueAt)) { valueAt[s.node] = i; }
    if (s.phase === 'backward') {
      if (firstBack < 0) { firstBack = i; }
      var t = gradTarget(s);
      (contribs[t] = contribs[t] || []).push(i);
      gradAt[t] = i;
    }
  });
  trace.nodes.forEach(function (n) {
    if (!(n.id in valueAt)) { valueAt[n.id] = -1; }
    if (n.grad != null && !(n.id in gradAt)) {
      gradAt[n.id] = N === 0 ? -1 : (n.kind === 'output' && firstBack >= 0 ? firstBack : N - 1);
    }
  });

  function edgeOf(s) {
    if (s.edge) { return s.edge; }
    if (s.target != null) { return [s.target, s.node]; }
    return null;
  }
  function toggle(list, cls, on) {
    (list || []).forEach(function (el) { el.classList.toggle(cls, !!on); });
  }
  function text(el, t) { el.textContent = t == null ? '' : String(t); }
  function addRow(dl, name, value, cls) {
    var dt = document.createElement('dt'); text(dt, name);
    var dd = document.createElement('dd'); text(dd, value);
    if (cls) { dd.className = cls; }
    dl.appendChild(dt); dl.appendChild(dd);
    return dd;
  }
  function fmtNum(x) {
    if (typeof x !== 'number') { return String(x); }
    if (Number.isInteger(x)) { return String(x); }
    return String(Number(x.toPrecision(6)));
  }
  function fmtFull(v, indent) {
    indent = indent || '';
    if (!Array.isArray(v)) { return fmtNum(v); }
    if (v.length && Array.isArray(v[0])) {
      var rows = v.map(function (r) { return fmtFull(r, indent + ' '); });
      return '[' + rows.join(',\n' + indent + ' ') + ']';
    }
    return '[' + v.map(fmtNum).join(', ') + ']';
  }
  function clip(s) { return s.length > 6000 ? s.slice(0, 6000) + ' …' : s; }

  var $ = function (id) { return document.getElementById(id); };
  var list = $('step-list');
  steps.forEach(function (s, i) {
    var li = document.createElement('li');
    li.className = s.phase;
    li.setAttribute('data-step', String(i));
    var k = document.createElement('span'); k.className = 'k'; text(k, i + 1);
    var t = document.createElement('span'); text(t, s.text || (s.phase + ' ' + label(s.node)));
    li.appendChild(k); li.appendChild(t);
    li.addEventListener('click', function () { stop(); go(i); });
    list.appendChild(li);
  });
  var items = list.querySelectorAll('li');

  function renderPanel() {
    var ph = $('step-phase'), txt = $('step-text'), math = $('step-math'), f = $('step-formula');
    math.textContent = '';
    f.hidden = true;
    if (cur < 0) {
      ph.className = 'phase';
      text(ph, 'start');
      text(txt, N ? 'Press Next (or \u2192) to run the forward pass, then the backward pass.'
                  : 'This trace has no steps.');
      return;
    }
    var s = steps[cur];
    ph.className = 'phase ' + s.phase;
    text(ph, s.phase + ' pass');
    text(txt, s.text || '');
    if (s.phase === 'forward') {
      addRow(math, 'node', label(s.node));
      addRow(math, 'value', s.value != null ? s.value : nodeById[s.node].value);
    } else {
      var t = gradTarget(s);
      var at = label(s.node), tt = label(t);
      if (s.target == null && !s.edge) {
        addRow(math, 'seed', '\u2202' + lossLabel + '/\u2202' + at);
        var seed = s.grad != null ? s.grad : (nodeById[s.node].grad || '1');
        addRow(math, 'gradient', seed, 'product');
      } else {
        addRow(math, 'upstream \u2202' + lossLabel + '/\u2202' + at,
               s.upstream != null ? s.upstream : '\u2014');
        addRow(math, 'local \u2202' + at + '/\u2202' + tt, s.local != null ? s.local : '\u2014');
        addRow(math, 'upstream \u00d7 local', s.grad != null ? s.grad : '\u2014', 'product');
        addRow(math, 'flows into', tt);
      }
      var formula = nodeById[s.node].formula;
      if (formula) { text(f, formula); f.hidden = false; }
    }
  }

  function renderInspector() {
    var id = selected;
    if (id == null && cur >= 0) { id = gradTarget(steps[cur]) || steps[cur].node; }
    var dl = $('inspector');
    dl.textContent = '';
    if (id == null || !nodeById[id]) { addRow(dl, '', 'Click a node in the drawing.'); return; }
    var n = nodeById[id];
    addRow(dl, 'label', n.label);
    addRow(dl, 'kind', n.kind + (n.op ? ' (' + n.op + ')' : ''));
    if (n.shape != null) {
      var sh = n.shape;
      if (Array.isArray(sh)) { sh = sh.length ? '(' + sh.join(', ') + ')' : 'scalar'; }
      addRow(dl, 'shape', sh);
    }
    if (n.formula) { addRow(dl, 'derivative', n.formula); }
    var vShown = valueAt[id] <= cur, gShown = id in gradAt && gradAt[id] <= cur;
    function full(name, summary, fullv, shown) {
      if (!shown) { addRow(dl, name, 'not yet computed').className = 'muted'; return; }
      if (fullv != null && (Array.isArray(fullv) || summary == null)) {
        var dt = document.createElement('dt'); text(dt, name);
        var dd = document.createElement('dd'); var pre = document.createElement('pre');
        text(pre, clip(fmtFull(fullv))); dd.appendChild(pre);
        dl.appendChild(dt); dl.appendChild(dd);
      } else { addRow(dl, name, summary); }
    }
    if (n.value != null || n.value_full != null) { full('value', n.value, n.value_full, vShown); }
    if (n.grad != null || n.grad_full != null) { full('grad', n.grad, n.grad_full, gShown); }
  }

  function scrollIntoGraph(id) {
    var box = $('graph-scroll');
    var els = nodeEls[id];
    if (!els || box.classList.contains('fit')) { return; }
    var r = els[0].getBoundingClientRect(), b = box.getBoundingClientRect();
    // off screen (or nearly): bring the node to the centre of the visible area
    if (r.left < b.left + 20 || r.right > b.right - 20) {
      box.scrollLeft += (r.left + r.right) / 2 - (b.left + b.right) / 2;
    }
    if (r.top < b.top + 20 || r.bottom > b.bottom - 20) {
      box.scrollTop += (r.top + r.bottom) / 2 - (b.top + b.bottom) / 2;
    }
  }

  function render() {
    window.chainruleStep = cur;
    var s = cur >= 0 ? steps[cur] : null;
    var curEdge = s && s.phase === 'backward' ? edgeOf(s) : null;
    var tgt = s ? gradTarget(s) : null;
    Object.keys(nodeById).forEach(function (id) {
      var vShown = valueAt[id] <= cur;
      var gShown = id in gradAt && gradAt[id] <= cur;
      toggle(valueRows[id], 'shown', vShown);
      toggle(gradRows[id], 'shown', gShown);
      var els = nodeEls[id];
      toggle(els, 'computed', vShown && valueAt[id] >= 0);
      toggle(els, 'has-grad', gShown);
      toggle(els, 'cur-fwd', s && s.phase === 'forward' && s.node === id);
      toggle(els, 'cur-back', s && s.phase === 'backward' && s.node === id && tgt !== id);
      toggle(els, 'cur-target', s && s.phase === 'backward' && tgt === id);
      // partial accumulation for fan-out: some but not all contributions applied
      var pe = partialEls[id];
      if (pe) {
        var c = (contribs[id] || []).filter(function (i) { return i <= cur; });
        var partial = !gShown && c.length > 0;
        pe.forEach(function (el) {
          text(el, partial ? 'grad += ' + (steps[c[c.length - 1]].grad || '?') +
               '  (' + c.length + '/' + contribs[id].length + ')' : '');
          el.classList.toggle('shown', partial);
        });
      }
    });
    var doneEdges = [];
    for (var i = 0; i < cur; i++) {
      if (steps[i].phase === 'backward') { var e = edgeOf(steps[i]); if (e) { doneEdges.push(e); } }
    }
    edgeEls.forEach(function (x) {
      var isCur = !!curEdge && x.s === curEdge[0] && x.t === curEdge[1];
      var done = doneEdges.some(function (e) { return e[0] === x.s && e[1] === x.t; });
      x.el.classList.toggle('cur-back', isCur);
      x.el.classList.toggle('done-back', done && !isCur);
      x.el.classList.toggle('cur-fwd', !!s && s.phase === 'forward' && x.t === s.node);
    });
    items.forEach(function (li, k) {
      li.classList.toggle('current', k === cur);
      li.classList.toggle('done', k < cur);
    });
    if (cur >= 0 && items[cur]) {
      var L = list, it = items[cur];
      if (it.offsetTop < L.scrollTop) { L.scrollTop = it.offsetTop; }
      else if (it.offsetTop + it.offsetHeight > L.scrollTop + L.clientHeight) {
        L.scrollTop = it.offsetTop + it.offsetHeight - L.clientHeight;
      }
    }
    text($('progress'), 'step ' + (cur + 1) + ' / ' + N);
    $('bar').style.width = (N ? (100 * (cur + 1) / N) : 100) + '%';
    $('btn-prev').disabled = cur < 0;
    $('btn-reset').disabled = cur < 0;
    $('btn-next').disabled = cur >= N - 1;
    $('btn-play').disabled = N === 0;
    renderPanel();
    renderInspector();
    if (s) { scrollIntoGraph(tgt != null ? tgt : s.node); }
  }

  function go(k) {
    cur = Math.max(-1, Math.min(N - 1, k));
    render();
  }
  function setPlaying(on) {
    var b = $('btn-play');
    text(b, on ? 'Pause' : 'Play');
    b.setAttribute('aria-pressed', on ? 'true' : 'false');
  }
  function stop() {
    if (timer !== null) { clearTimeout(timer); timer = null; }
    setPlaying(false);
  }
  function delay() { return Number($('speed').value) || 1100; }
  function tick() {
    go(cur + 1);
    if (cur >= N - 1) { stop(); } else { timer = setTimeout(tick, delay()); }
  }
  function play() {
    if (N === 0) { return; }
    if (cur >= N - 1) { go(-1); }
    setPlaying(true);
    timer = setTimeout(tick, delay());
  }
  function togglePlay() { if (timer !== null) { stop(); } else { play(); } }

  window.chainruleGoTo = function (k) { stop(); go(k); };

  ['btn-reset', 'btn-prev', 'btn-play', 'btn-next'].forEach(function (id) {
    // keep keyboard focus on the page so Space means play/pause, not "press this button again"
    $(id).addEventListener('mousedown', function (ev) { ev.preventDefault(); });
  });
  $('btn-next').addEventListener('click', function () { stop(); go(cur + 1); });
  $('btn-prev').addEventListener('click', function () { stop(); go(cur - 1); });
  $('btn-reset').addEventListener('click', function () { stop(); go(-1); });
  $('btn-play').addEventListener('click', togglePlay);
  $('fit').addEventListener('change', function (ev) {
    $('graph-scroll').classList.toggle('fit', ev.target.checked);
  });
  (function autoFit() {  // shrink a slightly-too-wide drawing; scroll a much wider one
    var w = $('graph').viewBox.baseVal.width, avail = $('graph-scroll').clientWidth;
    if (w > avail && avail / w >= 0.6) {
      $('fit').checked = true;
      $('graph-scroll').classList.add('fit');
    }
  })();
  Object.keys(nodeEls).forEach(function (id) {
    nodeEls[id].forEach(function (el) {
      function pick() {
        selected = selected === id ? null : id;
        Object.keys(nodeEls).forEach(function (k) {
          toggle(nodeEls[k], 'selected', k === selected);
        });
        renderInspector();
      }
      el.addEventListener('click', pick);
      el.addEventListener('keydown', function (ev) {
        if (ev.key === 'Enter') { ev.preventDefault(); pick(); }
      });
    });
  });
  document.addEventListener('keydown', function (ev) {
    if (ev.altKey || ev.ctrlKey || ev.metaKey) { return; }
    var tag = ev.target && ev.target.tagName ? ev.target.tagName.toLowerCase() : '';
    var type = ev.target && ev.target.type ? String(ev.target.type) : '';
    if (tag === 'select' || tag === 'textarea' || (tag === 'input' && type !== 'checkbox')) {
      return;  // let form controls have their keys
    }
    var native = tag === 'button' || tag === 'input';
    if (ev.key === 'ArrowRight') { ev.preventDefault(); stop(); go(cur + 1); }
    else if (ev.key === 'ArrowLeft') { ev.preventDefault(); stop(); go(cur - 1); }
    else if (ev.key === 'Home') { ev.preventDefault(); stop(); go(-1); }
    else if (ev.key === 'End') { ev.preventDefault(); stop(); go(N - 1); }
    else if ((ev.key === ' ' || ev.code === 'Space') && !native) {
      ev.preventDefault(); togglePlay();
    }
  });
  render();
  // animate reveals only after the first paint
  requestAnimationFrame(function () { document.body.classList.add('ready'); });
})();
"""


def render_html(trace: Mapping[str, Any]) -> str:
    """Return one self-contained HTML document that animates *trace*."""
    data = _normalise(trace)
    title = str(data.get("title") or "Backward pass")
    fills = {"title": _esc(title), "n": str(len(data["steps"])), "svg": _svg(data)}
    body = re.sub(r"\{(title|n|svg)\}", lambda m: fills[m.group(1)], _BODY)
    return "".join(
        [
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n',
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
            '<meta name="referrer" content="no-referrer">\n',
            '<link rel="icon" href="data:,">\n',
            f"<title>{_esc(title)} · chainrule</title>\n",
            f"<style>{_CSS}</style>\n</head>\n<body>",
            body,
            '<script type="application/json" id="chainrule-trace">',
            _json_for_script(data),
            "</script>\n<script>",
            _JS,
            "</script>\n</body>\n</html>\n",
        ]
    )


def write_html(trace: Mapping[str, Any], path: str | Path) -> Path:
    """Write :func:`render_html` of *trace* to *path* (UTF-8) and return the path."""
    out = Path(path)
    out.write_text(render_html(trace), encoding="utf-8")
    return out
