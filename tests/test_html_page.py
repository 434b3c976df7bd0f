"""Tests for the self-contained backward-pass page (``chainrule.explain.html``).

The unit part checks the HTML text and the layout; the end-to-end part opens the
page in headless Chromium (Playwright + the system ``/usr/bin/chromium``) and
clicks through every step.
"""

from __future__ import annotations

import json
import os
import random
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest

from chainrule.explain.html import compute_layout, render_html, write_html

CHROMIUM = os.environ.get("CHAINRULE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HOSTILE = "</script><script>window.__pwned=1</script><img src=x onerror=window.__pwned=2>"


# ------------------------------------------------------------------ sample traces


def square_trace() -> dict[str, Any]:
    """Hand-made trace of L = (w*x - 3)**2 with w = 2, x = 4."""
    nodes = [
        {"id": "n0", "label": "w", "kind": "leaf", "op": None, "formula": None, "shape": [],
         "value": "2.0", "grad": "40.0", "value_full": 2.0, "grad_full": 40.0},
        {"id": "n1", "label": "x", "kind": "leaf", "op": None, "formula": None, "shape": [],
         "value": "4.0", "grad": "20.0", "value_full": 4.0, "grad_full": 20.0},
        {"id": "n2", "label": "u", "kind": "op", "op": "mul",
         "formula": "d/dw (w*x) = x;  d/dx (w*x) = w", "shape": [],
         "value": "8.0", "grad": "10.0", "value_full": 8.0, "grad_full": 10.0},
        {"id": "n3", "label": "3", "kind": "constant", "op": None, "formula": None,
         "shape": [], "value": "3.0", "grad": None, "value_full": 3.0, "grad_full": None},
        {"id": "n4", "label": "d", "kind": "op", "op": "sub", "formula": "d/du (u - c) = 1",
         "shape": [], "value": "5.0", "grad": "10.0", "value_full": 5.0, "grad_full": 10.0},
        {"id": "n5", "label": "L", "kind": "output", "op": "pow", "formula": "d/dd (d^2) = 2*d",
         "shape": [], "value": "25.0", "grad": "1.0", "value_full": 25.0, "grad_full": 1.0},
    ]  # fmt: skip
    edges = [
        {"source": "n0", "target": "n2", "input_index": 0},
        {"source": "n1", "target": "n2", "input_index": 1},
        {"source": "n2", "target": "n4", "input_index": 0},
        {"source": "n3", "target": "n4", "input_index": 1},
        {"source": "n4", "target": "n5", "input_index": 0},
    ]
    steps = [
        {"phase": "forward", "node": "n2", "text": "u = w*x = 2.0*4.0 = 8.0", "value": "8.0"},
        {"phase": "forward", "node": "n4", "text": "d = u - 3 = 5.0", "value": "5.0"},
        {"phase": "forward", "node": "n5", "text": "L = d^2 = 25.0", "value": "25.0"},
        {"phase": "backward", "node": "n5", "text": "seed: dL/dL = 1", "upstream": None,
         "local": None, "grad": "1.0", "edge": None, "target": None},
        {"phase": "backward", "node": "n5", "text": "dL/dd = dL/dL * 2d = 1.0 * 10.0 = 10.0",
         "upstream": "1.0", "local": "10.0", "grad": "10.0", "edge": ["n4", "n5"],
         "target": "n4"},
        {"phase": "backward", "node": "n4", "text": "dL/du = dL/dd * 1 = 10.0",
         "upstream": "10.0", "local": "1", "grad": "10.0", "edge": ["n2", "n4"],
         "target": "n2"},
        {"phase": "backward", "node": "n2", "text": "dL/dw = dL/du * x = 10.0 * 4.0 = 40.0",
         "upstream": "10.0", "local": "4.0", "grad": "40.0", "edge": ["n0", "n2"],
         "target": "n0"},
        {"phase": "backward", "node": "n2", "text": "dL/dx = dL/du * w = 10.0 * 2.0 = 20.0",
         "upstream": "10.0", "local": "2.0", "grad": "20.0", "edge": ["n1", "n2"],
         "target": "n1"},
    ]  # fmt: skip
    return {"title": "d L / d w, d L / d x for L = (w*x - 3)^2", "nodes": nodes,
            "edges": edges, "steps": steps}  # fmt: skip


def fanout_trace() -> dict[str, Any]:
    """y = x*x + x at x = 3: x feeds three edges, so its gradient accumulates."""
    nodes = [
        {"id": "x", "label": "x", "kind": "leaf", "shape": [], "value": "3.0", "grad": "7.0"},
        {"id": "m", "label": "m", "kind": "op", "op": "mul", "shape": [], "value": "9.0",
         "grad": "1.0", "formula": "d/da (a*b) = b"},
        {"id": "y", "label": "y", "kind": "output", "op": "add", "shape": [], "value": "12.0",
         "grad": "1.0", "formula": "d/da (a+b) = 1"},
    ]  # fmt: skip
    edges = [
        {"source": "x", "target": "m", "input_index": 0},
        {"source": "x", "target": "m", "input_index": 1},
        {"source": "m", "target": "y", "input_index": 0},
        {"source": "x", "target": "y", "input_index": 1},
    ]

    def back(node: str, target: str, up: str, loc: str, grad: str) -> dict[str, Any]:
        text = f"d{node}/d{target}: {up} * {loc} = {grad}"
        return {"phase": "backward", "node": node, "text": text, "upstream": up,
                "local": loc, "grad": grad, "edge": [target, node], "target": target}  # fmt: skip

    steps = [
        {"phase": "forward", "node": "m", "text": "m = x*x = 9.0", "value": "9.0"},
        {"phase": "forward", "node": "y", "text": "y = m + x = 12.0", "value": "12.0"},
        {"phase": "backward", "node": "y", "text": "seed dy/dy = 1", "grad": "1.0",
         "edge": None, "target": None},
        back("y", "m", "1.0", "1", "1.0"),
        back("y", "x", "1.0", "1", "1.0"),
        back("m", "x", "1.0", "3.0", "3.0"),
        back("m", "x", "1.0", "3.0", "3.0"),
    ]  # fmt: skip
    return {"title": "dy/dx for y = x*x + x", "nodes": nodes, "edges": edges, "steps": steps}


def hostile_trace() -> dict[str, Any]:
    """The square trace with a user-chosen name that tries to break out of the page."""
    trace = square_trace()
    trace["title"] = HOSTILE
    trace["nodes"][0]["label"] = HOSTILE
    trace["nodes"][0]["grad"] = "<b>40</b> & more"
    trace["steps"][3]["text"] = HOSTILE
    return trace


def random_dag(n: int = 60, seed: int = 0) -> dict[str, Any]:
    """A random layered DAG with *n* nodes (first 8 are inputs, last one the output)."""
    rng = random.Random(seed)
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    for i in range(n):
        kind = "leaf" if i < 8 else ("output" if i == n - 1 else "op")
        nodes.append({"id": f"n{i}", "label": f"v{i}", "kind": kind,
                      "op": None if i < 8 else rng.choice(["add", "mul", "matmul", "relu"]),
                      "shape": [4, 3], "value": f"mean {i / 10:.2f}",
                      "grad": f"norm {i / 7:.3f}"})  # fmt: skip
        if i >= 8:
            preds = rng.sample(range(max(0, i - 12), i), k=min(2, i))
            if i == n - 1:
                preds = [i - 1]
            for k, p in enumerate(preds):
                edges.append({"source": f"n{p}", "target": f"n{i}", "input_index": k})
    steps: list[dict[str, Any]] = [
        {"phase": "forward", "node": f"n{i}", "text": f"v{i}", "value": f"mean {i / 10:.2f}"}
        for i in range(8, n)
    ]
    for e in reversed(edges):
        steps.append({"phase": "backward", "node": e["target"], "text": "back",
                      "upstream": "1", "local": "1", "grad": "1",
                      "edge": [e["source"], e["target"]], "target": e["source"]})  # fmt: skip
    return {"title": "random", "nodes": nodes, "edges": edges, "steps": steps}


def expected_grad_step(trace: dict[str, Any]) -> dict[str, int]:
    """Index of the step at which each node's gradient must become visible (the spec)."""
    steps = trace["steps"]
    at: dict[str, int] = {}
    first_back = -1
    for i, s in enumerate(steps):
        if s["phase"] == "backward":
            first_back = i if first_back < 0 else first_back
            t = s.get("target") or (s["edge"][0] if s.get("edge") else s["node"])
            at[t] = i
    for n in trace["nodes"]:
        if n.get("grad") is not None and n["id"] not in at:
            at[n["id"]] = first_back if n["kind"] == "output" else len(steps) - 1
    return {k: v for k, v in at.items() if _node(trace, k).get("grad") is not None}


def _node(trace: dict[str, Any], nid: str) -> dict[str, Any]:
    return next(n for n in trace["nodes"] if n["id"] == nid)


# ------------------------------------------------------------------- HTML parsing


class _Collector(HTMLParser):
    """Collects tags/attributes, the text of ``data-*-for`` elements and scripts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text_for: dict[tuple[str, str], str] = {}
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.label_text: dict[str, str] = {}
        self._open: list[tuple[str, str, str]] = []  # (tag, kind, id)
        self._node: str | None = None
        self._script: dict[str, str | None] | None = None
        self._buf: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "script":
            self._script, self._buf = a, []
        if a.get("data-node-id") is not None:
            self._node = a["data-node-id"]
        for kind in ("data-grad-for", "data-value-for"):
            if a.get(kind) is not None:
                self._open.append((tag, kind, str(a[kind])))
                self.text_for[(kind, str(a[kind]))] = ""
        if tag == "text" and "label" in (a.get("class") or "").split() and self._node:
            self._open.append((tag, "label", self._node))
            self.text_for[("label", self._node)] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script, "".join(self._buf)))
            self._script = None
        if self._open and self._open[-1][0] == tag:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._buf.append(data)
        for _tag, kind, nid in self._open:
            self.text_for[(kind, nid)] += data


def parse(html: str) -> _Collector:
    c = _Collector()
    c.feed(html)
    c.close()
    return c


# ---------------------------------------------------------------------- unit part


def test_self_contained() -> None:
    html = render_html(square_trace())
    assert html.startswith("<!DOCTYPE html>")
    lowered = html.lower()
    for bad in ("http://", "https://", "//cdn", "@import", "ftp://", '<link rel="stylesheet'):
        assert bad not in lowered, bad
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    # every src/href points at inline data only, never at a file or a host
    for tag, attrs in parse(html).tags:
        for key in ("src", "href", "xlink:href", "action", "data", "poster"):
            val = attrs.get(key)
            if val is not None:
                assert val.startswith(("data:", "#")), (tag, key, val)
    for url in re.findall(r"url\(([^)]*)\)", html):
        assert url.strip("'\" ").startswith("#"), url


def test_scripts_are_inline_and_json_is_exact() -> None:
    trace = square_trace()
    c = parse(render_html(trace))
    assert all(attrs.get("src") is None for attrs, _ in c.scripts)
    data = [body for attrs, body in c.scripts if attrs.get("type") == "application/json"]
    assert len(data) == 1
    assert json.loads(data[0]) == trace


def test_nodes_and_grads_are_machine_readable() -> None:
    trace = square_trace()
    c = parse(render_html(trace))
    ids = [a["data-node-id"] for _t, a in c.tags if a.get("data-node-id") is not None]
    assert ids == [n["id"] for n in trace["nodes"]]
    for n in trace["nodes"]:
        if n["grad"] is None:
            assert ("data-grad-for", n["id"]) not in c.text_for
        else:
            assert c.text_for[("data-grad-for", n["id"])] == n["grad"]
        assert c.text_for[("data-value-for", n["id"])] == n["value"]
        assert c.text_for[("label", n["id"])] == n["label"]
    # gradients start hidden (the reveal class has no "shown")
    for _tag, a in c.tags:
        if a.get("data-grad-row") is not None:
            assert "reveal" in (a.get("class") or "") and "shown" not in (a.get("class") or "")


def test_hostile_label_is_escaped() -> None:
    trace = hostile_trace()
    html = render_html(trace)
    assert HOSTILE not in html
    assert "<img" not in html
    c = parse(html)
    assert [t for t, _ in c.tags].count("script") == 2
    assert not any(t == "img" for t, _ in c.tags)
    assert c.text_for[("label", "n0")] == HOSTILE
    assert c.text_for[("data-grad-for", "n0")] == "<b>40</b> & more"
    json_body = next(b for a, b in c.scripts if a.get("type") == "application/json")
    assert "</" not in json_body and "<" not in json_body
    assert json.loads(json_body) == trace
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    assert title is not None and "<script" not in title.group(1)


def test_non_finite_and_array_values_are_serialised() -> None:
    trace = square_trace()
    trace["nodes"][0]["value_full"] = [[1.0, float("nan")], [float("inf"), 2.0]]
    c = parse(render_html(trace))
    body = next(b for a, b in c.scripts if a.get("type") == "application/json")
    assert json.loads(body)["nodes"][0]["value_full"] == [[1.0, "nan"], ["inf", 2.0]]


def test_invalid_traces_are_rejected() -> None:
    bad = square_trace()
    bad["edges"].append({"source": "n5", "target": "nope", "input_index": 0})
    with pytest.raises(ValueError, match="unknown node"):
        render_html(bad)
    cyc = square_trace()
    cyc["edges"].append({"source": "n5", "target": "n0", "input_index": 0})
    with pytest.raises(ValueError, match="cycle"):
        render_html(cyc)
    dup = square_trace()
    dup["nodes"][1]["id"] = "n0"
    with pytest.raises(ValueError, match="duplicate"):
        render_html(dup)
    step = square_trace()
    step["steps"][0]["phase"] = "sideways"
    with pytest.raises(ValueError, match="phase"):
        render_html(step)


def _check_layout(trace: dict[str, Any]) -> None:
    lay = compute_layout(trace["nodes"], trace["edges"])
    assert set(lay.boxes) == {n["id"] for n in trace["nodes"]}
    for e in trace["edges"]:
        s, t = lay.boxes[e["source"]], lay.boxes[e["target"]]
        assert s.layer < t.layer
        assert s.x + s.w < t.x
    for b in lay.boxes.values():
        assert 0 <= b.x and b.x + b.w <= lay.width
        assert 0 <= b.y and b.y + b.h <= lay.height
    for a, b in combinations(lay.boxes.values(), 2):
        apart = a.x + a.w <= b.x or b.x + b.w <= a.x or a.y + a.h <= b.y or b.y + b.h <= a.y
        assert apart, (a, b)
    assert len(lay.edges) == len(trace["edges"])
    for r in lay.edges:
        assert r.path.startswith("M") and "nan" not in r.path


def test_layout_square() -> None:
    trace = square_trace()
    _check_layout(trace)
    lay = compute_layout(trace["nodes"], trace["edges"])
    layer = {k: b.layer for k, b in lay.boxes.items()}
    # longest path from the inputs; the constant sits right before its consumer
    assert layer == {"n0": 0, "n1": 0, "n2": 1, "n3": 1, "n4": 2, "n5": 3}
    assert lay.layers[0] == ["n0", "n1"]
    # a chain is drawn straight: d and L at the same height
    assert abs(lay.boxes["n4"].cy - lay.boxes["n5"].cy) < 1e-6


def test_layout_fanout_and_long_edges() -> None:
    trace = fanout_trace()
    _check_layout(trace)
    lay = compute_layout(trace["nodes"], trace["edges"])
    routes = [r for r in lay.edges if (r.source, r.target) == ("x", "m")]
    assert len(routes) == 2 and routes[0].points[-1] != routes[1].points[-1]


def test_layout_large_graph() -> None:
    trace = random_dag(60)
    _check_layout(trace)
    html = render_html(trace)
    assert re.search(r'<svg id="graph" viewBox="0 0 \d+ \d+"', html)
    assert html.count("data-node-id=") == 60


def test_barycentre_untangles() -> None:
    # two parallel chains given in an order that would cross without reordering
    nodes = [{"id": i, "label": i, "kind": "op"} for i in ["a", "b", "p", "q", "s", "t"]]
    edges = [
        {"source": "a", "target": "q"},
        {"source": "b", "target": "p"},
        {"source": "q", "target": "s"},
        {"source": "p", "target": "t"},
    ]
    lay = compute_layout(nodes, edges)
    ys = {k: b.cy for k, b in lay.boxes.items()}
    assert (ys["a"] < ys["b"]) == (ys["q"] < ys["p"]) == (ys["s"] < ys["t"])


def test_write_html(tmp_path: Path) -> None:
    out = write_html(square_trace(), tmp_path / "page.html")
    assert out.read_text(encoding="utf-8") == render_html(square_trace())


# ----------------------------------------------------------------- browser part


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright (pip install playwright) is not installed"
    )
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


class TracePage:
    """A browser page on a written trace, recording requests, errors and dialogs."""

    def __init__(self, browser: Any, trace: dict[str, Any], path: Path) -> None:
        write_html(trace, path)
        self.url = path.resolve().as_uri()
        self.trace = trace
        self.context = browser.new_context(viewport={"width": 1400, "height": 900})
        self.requests: list[str] = []
        self.problems: list[str] = []
        self.context.on("request", lambda r: self.requests.append(r.url))
        self.page = self.context.new_page()
        self.page.on("pageerror", lambda e: self.problems.append(f"pageerror: {e}"))
        self.page.on("dialog", self._on_dialog)
        self.page.on("console", self._on_console)
        self.page.goto(self.url)

    def _on_dialog(self, dialog: Any) -> None:
        self.problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def _on_console(self, msg: Any) -> None:
        if msg.type in ("error", "warning"):  # CSP violations are reported here
            self.problems.append(f"console {msg.type}: {msg.text}")

    def step(self) -> int:
        return int(self.page.evaluate("window.chainruleStep"))

    def progress(self) -> str:
        return str(self.page.inner_text("#progress"))

    def grad(self, nid: str) -> Any:
        return self.page.locator(f'[data-grad-for="{nid}"]')

    def check_state(self, k: int) -> None:
        """After step index *k*: index, progress text and which gradients are shown."""
        n = len(self.trace["steps"])
        assert self.step() == k
        assert self.progress() == f"step {k + 1} / {n}"
        for nid, at in expected_grad_step(self.trace).items():
            assert self.grad(nid).is_visible() == (at <= k), (k, nid)

    def check_final(self) -> None:
        grads = {n["id"]: n["grad"] for n in self.trace["nodes"] if n.get("grad") is not None}
        loc = self.page.locator("[data-grad-for]")
        assert loc.count() == len(grads)
        for i in range(loc.count()):
            el = loc.nth(i)
            nid = el.get_attribute("data-grad-for")
            assert el.is_visible(), nid
            assert el.text_content() == grads[nid]
        for n in self.trace["nodes"]:
            if n.get("value") is not None:
                v = self.page.locator(f'[data-value-for="{n["id"]}"]')
                assert v.is_visible() and v.text_content() == n["value"]

    def close(self) -> None:
        assert self.problems == []
        assert self.requests == [self.url], self.requests
        self.context.close()


# Note: predicates for wait_for_function must be function expressions ("() => ..."):
# a bare expression string is eval'ed, which the page's CSP (no 'unsafe-eval') refuses.


def test_click_through_with_buttons(browser: Any, tmp_path: Path) -> None:
    trace = square_trace()
    p = TracePage(browser, trace, tmp_path / "square.html")
    page, n = p.page, len(trace["steps"])
    assert page.evaluate("window.chainruleTrace") == trace
    p.check_state(-1)
    assert page.is_disabled("#btn-prev") and page.is_disabled("#btn-reset")
    for k in range(n):
        page.click("#btn-next")
        p.check_state(k)
        assert page.inner_text("#step-text") == trace["steps"][k]["text"]
        phase = trace["steps"][k]["phase"]
        assert phase in page.inner_text("#step-phase").lower()
        if phase == "backward" and trace["steps"][k].get("target"):
            s = trace["steps"][k]
            math = page.inner_text("#step-math")
            assert s["upstream"] in math and s["local"] in math and s["grad"] in math
            edge = page.locator(f'g.edge[data-source="{s["edge"][0]}"][data-target="{s["node"]}"]')
            assert "cur-back" in (edge.get_attribute("class") or "")
            node = page.locator(f'[data-node-id="{s["target"]}"]')
            assert "cur-target" in (node.get_attribute("class") or "")
    assert page.is_disabled("#btn-next")
    p.check_final()
    page.click("#btn-prev")
    p.check_state(n - 2)
    page.click("#btn-next")
    p.check_state(n - 1)
    page.click("#btn-reset")
    p.check_state(-1)
    for nid in expected_grad_step(trace):
        assert not p.grad(nid).is_visible()
    # buttons do not keep the focus, so Space still means play/pause after a click
    page.keyboard.press("Space")
    assert page.inner_text("#btn-play") == "Pause"
    page.keyboard.press("Space")
    assert page.inner_text("#btn-play") == "Play"
    page.screenshot(path=str(tmp_path / "square.png"))
    p.close()


def test_click_through_with_keyboard(browser: Any, tmp_path: Path) -> None:
    trace = square_trace()
    p = TracePage(browser, trace, tmp_path / "keys.html")
    page, n = p.page, len(trace["steps"])
    for k in range(n):
        page.keyboard.press("ArrowRight")
        p.check_state(k)
    page.keyboard.press("ArrowRight")  # past the end: stays
    p.check_state(n - 1)
    p.check_final()
    page.keyboard.press("ArrowLeft")
    p.check_state(n - 2)
    page.keyboard.press("Home")
    p.check_state(-1)
    page.keyboard.press("End")
    p.check_state(n - 1)
    page.keyboard.press("Home")
    # Space plays, Space again pauses
    page.keyboard.press("Space")
    assert page.inner_text("#btn-play") == "Pause"
    page.wait_for_function("() => window.chainruleStep >= 1", timeout=10_000)
    page.keyboard.press("Space")
    assert page.inner_text("#btn-play") == "Play"
    held = p.step()
    page.wait_for_timeout(1500)
    assert p.step() == held
    p.close()


def test_play_button_runs_to_the_end(browser: Any, tmp_path: Path) -> None:
    trace = fanout_trace()
    p = TracePage(browser, trace, tmp_path / "play.html")
    page, n = p.page, len(trace["steps"])
    page.select_option("#speed", label="max")
    page.click("#btn-play")
    assert page.get_attribute("#btn-play", "aria-pressed") == "true"
    page.wait_for_function(f"() => window.chainruleStep === {n - 1}", timeout=30_000)
    page.wait_for_function("() => document.getElementById('btn-play').textContent === 'Play'")
    p.check_final()
    p.close()


def test_fanout_gradient_accumulates(browser: Any, tmp_path: Path) -> None:
    trace = fanout_trace()
    p = TracePage(browser, trace, tmp_path / "fanout.html")
    page = p.page
    partial = page.locator('[data-partial-for="x"]')
    page.evaluate("window.chainruleGoTo(4)")  # first contribution to x (via y)
    p.check_state(4)
    assert partial.is_visible() and "(1/3)" in (partial.text_content() or "")
    page.evaluate("window.chainruleGoTo(5)")
    assert partial.is_visible() and "(2/3)" in (partial.text_content() or "")
    page.keyboard.press("ArrowRight")
    p.check_state(6)
    assert not partial.is_visible()
    p.check_final()
    p.close()


def test_hostile_label_in_browser(browser: Any, tmp_path: Path) -> None:
    trace = hostile_trace()
    p = TracePage(browser, trace, tmp_path / "hostile.html")
    page = p.page
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img").count() == 0
    label = page.locator('[data-node-id="n0"] text.label')
    assert label.text_content() == HOSTILE
    assert page.inner_text("#title") == HOSTILE
    page.keyboard.press("End")
    p.check_final()
    page.evaluate("window.chainruleGoTo(3)")
    assert page.inner_text("#step-text") == HOSTILE
    assert page.evaluate("window.__pwned") is None
    p.close()


def test_large_graph_in_browser(browser: Any, tmp_path: Path) -> None:
    trace = random_dag(60, seed=3)
    p = TracePage(browser, trace, tmp_path / "big.html")
    page = p.page
    assert page.locator("[data-node-id]").count() == 60
    page.keyboard.press("End")
    p.check_final()
    page.check("#fit")
    width = page.evaluate("document.getElementById('graph').getBoundingClientRect().width")
    box = page.evaluate("document.getElementById('graph-scroll').clientWidth")
    assert width <= box + 1
    p.close()
