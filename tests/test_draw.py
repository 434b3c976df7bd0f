"""cr.draw: the recorded graph as Graphviz DOT (and SVG/PNG/PDF where `dot` exists)."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

import chainrule as cr
from chainrule.explain.examples import four_layer

pytest.importorskip("graphviz", reason='pip install "chainrule[draw]"')

HAS_DOT = shutil.which("dot") is not None


def nodes_and_edges(source: str) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """{node id: label} and [(tail, head, attributes)] from DOT source."""
    nodes = {m.group(1): m.group(2) for m in re.finditer(
        r'^\s*"?([\w]+)"?\s+\[label="((?:[^"\\]|\\.)*)"', source, re.M)}
    edges = [(m.group(1), m.group(2), m.group(3) or "") for m in re.finditer(
        r'^\s*"?([\w]+)"?\s*->\s*"?([\w]+)"?(?:\s*\[(.*)\])?\s*$', source, re.M)]
    return nodes, edges


def small() -> tuple[cr.Tensor, cr.Tensor]:
    x = cr.tensor(1.5, requires_grad=True, name="x")
    u = x ** 2
    u.name = "u"
    return cr.sin(u), x


def test_dot_nodes_and_edges_of_a_small_graph() -> None:
    z, x = small()
    d = cr.draw(z)
    nodes, edges = nodes_and_edges(d.source)
    labels = {k: v.split("\\n") for k, v in nodes.items()}
    by_name = {v[0]: k for k, v in labels.items()}
    assert set(by_name) == {"x", "2", "u", "z"}
    assert labels[by_name["u"]][:2] == ["u", "pow"]
    assert labels[by_name["z"]][:2] == ["z", "sin"]
    assert "val 0.7781" in labels[by_name["z"]]
    assert "leaf" in labels[by_name["x"]]
    assert {(a, b) for a, b, _ in edges} == {
        (by_name["x"], by_name["u"]), (by_name["2"], by_name["u"]), (by_name["u"], by_name["z"])}
    assert "grad" not in d.source
    assert x.grad is None


def test_show_grad_draws_the_backward_flow() -> None:
    z, x = small()
    d = cr.draw(z, show_grad=True)
    nodes, edges = nodes_and_edges(d.source)
    by_name = {v.split("\\n")[0]: k for k, v in nodes.items()}
    assert "grad −1.885" in nodes[by_name["x"]]
    assert "grad 1" in nodes[by_name["z"]]
    back = [(a, b, attrs) for a, b, attrs in edges if "#dc2626" in attrs]
    assert {(a, b) for a, b, _ in back} == {(by_name["z"], by_name["u"]),
                                            (by_name["u"], by_name["x"])}
    assert all("dashed" in attrs for _, _, attrs in back)
    assert x.grad is None  # the walk wrote nothing
    z.backward()  # and kept the graph
    assert x.grad is not None


def test_scopes_collapse_into_one_box_per_module() -> None:
    L, _ = four_layer()
    nodes, edges = nodes_and_edges(cr.draw(L).source)
    assert [v.split("\\n")[0] for v in nodes.values()] == [
        "layer1", "layer2", "layer3", "layer4", "loss"]
    assert "params: W3, b3" in nodes["s2"] and "3 ops: mul, add, tanh" in nodes["s2"]
    assert [(a, b) for a, b, _ in edges] == [("s0", "s1"), ("s1", "s2"), ("s2", "s3"),
                                             ("s3", "s4")]
    full = cr.draw(L, expand=True).source
    assert full.count("subgraph cluster_") == 5 and 'label="u3\\nadd' in full
    assert re.search(r'label="?layer3"?\s', full)
    n_expanded, _ = nodes_and_edges(full)
    assert len(n_expanded) > 20


def test_depth_opens_nested_scopes() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    with cr.name_scope("block"):
        with cr.name_scope("inner"):
            y = cr.tanh(x) * 2
        z = y.sum()
    shallow, _ = nodes_and_edges(cr.draw(z).source)
    deep, _ = nodes_and_edges(cr.draw(z, depth=1).source)
    assert [v.split("\\n")[0] for v in shallow.values()] == ["block"]  # x only feeds it
    assert "params: x" in shallow["s0"]
    assert [v.split("\\n")[:2] for v in deep.values()] == [
        ["block/inner", "2 ops: tanh, mul"], ["z", "sum"]]


def test_modules_collapse_by_their_name_scope() -> None:
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.ReLU(), cr.nn.Linear(4, 1))
    out = model(cr.randn(2, 3)).sum()
    nodes, _ = nodes_and_edges(cr.draw(out, show_grad=True).source)
    first = [v.split("\\n")[0] for v in nodes.values()]
    assert first == ["x", "0", "1", "2", "L"]
    assert "params: 0.weight, 0.bias" in nodes["s0"]


@pytest.mark.skipif(not HAS_DOT, reason="Graphviz's dot is not installed")
def test_renders_png_svg_pdf(tmp_path: Path) -> None:
    L, _ = four_layer()
    d = cr.draw(L, show_grad=True, expand=True)
    png = d.save(tmp_path / "graph.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = d.save(tmp_path / "graph.svg").read_text()
    assert "<svg" in svg and "W3" in svg
    assert d.save(tmp_path / "graph.pdf").read_bytes()[:4] == b"%PDF"
    assert d.save(tmp_path / "graph.dot").read_text() == d.source
    assert "<svg" in d._repr_svg_()
    assert "image/svg+xml" in d._repr_mimebundle_()
    assert d.pipe(format="svg")[:5] in (b"<?xml", b"<svg ")  # the Digraph's own API
    with pytest.raises(ValueError, match="suffix"):
        d.save(tmp_path / "graph.unknown")


def test_without_dot_the_source_still_works(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    z, _ = small()
    d = cr.draw(z)
    monkeypatch.setenv("PATH", str(tmp_path))  # no `dot` on the path
    assert "digraph" in d.source
    assert d._repr_svg_() is None
    assert d._repr_mimebundle_() == {"text/plain": d.source}
    with pytest.raises(RuntimeError, match="dot"):
        d.save(tmp_path / "g.png")
    assert d.save(tmp_path / "g.dot").exists()


def test_missing_graphviz_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "graphviz", None)
    z, _ = small()
    with pytest.raises(ImportError, match=r'pip install "chainrule\[draw\]"'):
        cr.draw(z)
