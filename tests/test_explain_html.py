"""The animated backward page built from the REAL engine, driven in headless Chromium.

Each page comes from ``Explanation.to_html`` on a recorded graph; the test clicks through
every step, then checks that the gradients the page shows are those of a separate
``backward()`` on the same network, and that the page made no network request.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain._math import short
from chainrule.explain.examples import four_layer, two_layer

CHROMIUM = os.environ.get("CHAINRULE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright (pip install playwright) is not installed")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not found (apt-get install -y chromium)")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def mlp() -> tuple[cr.Tensor, list[cr.Tensor]]:
    cr.manual_seed(3)
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 1))
    x = cr.randn(2, 3)
    loss = (model(x) - 1.0).pow(2).mean()
    return loss, list(model.parameters())


def shared_input() -> tuple[cr.Tensor, list[cr.Tensor]]:
    """x feeds three consumers: its gradient is the sum of three terms."""
    x = cr.tensor(0.7, dtype=cr.float64, requires_grad=True, name="x")
    w = cr.tensor(-1.3, dtype=cr.float64, requires_grad=True, name="w")
    return x * w + cr.sin(x) * x, [x, w]


def open_page(browser: Any, path: Path) -> tuple[Any, Any, list[str], list[str]]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    requests: list[str] = []
    problems: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"pageerror: {e}"))
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
            if m.type in ("error", "warning") else None)
    page.goto(path.resolve().as_uri())
    return context, page, requests, problems


@pytest.mark.parametrize("build", [four_layer, two_layer, mlp, shared_input],
                         ids=["four-layer", "two-layer", "mlp", "fan-out"])
def test_page_shows_the_engines_gradients(browser: Any, tmp_path: Path,
                                          build: Callable[[], Any]) -> None:
    out, params = build()
    e = cr.explain(out, wrt=params)
    path = e.to_html(tmp_path / "page.html")
    # a separate backward on a fresh copy of the same network: the engine's own gradients
    out2, params2 = build()
    out2.backward()
    engine = {p.name: p.grad.data for p in params2}

    context, page, requests, problems = open_page(browser, path)
    trace = page.evaluate("window.chainruleTrace")
    n = len(trace["steps"])
    assert n == len(e.trace()["steps"]) and page.evaluate("window.chainruleStep") == -1
    for k in range(n):
        page.click("#btn-next")
        assert page.evaluate("window.chainruleStep") == k
        step = trace["steps"][k]
        assert page.inner_text("#step-text") == step["text"]
        if step["phase"] == "backward" and step.get("target"):
            math = page.inner_text("#step-math")
            assert step["upstream"] in math and step["grad"] in math
    assert page.is_disabled("#btn-next")

    by_label = {node["label"]: node for node in trace["nodes"]}
    for name, grad in engine.items():
        node = by_label[name]
        shown = page.locator(f'[data-grad-for="{node["id"]}"]')
        assert shown.is_visible(), name
        assert shown.text_content() == short(grad, 6), name
        np.testing.assert_allclose(np.asarray(node["grad_full"], dtype=float), grad,
                                   rtol=1e-5, atol=1e-12, err_msg=name)
    assert problems == []
    assert requests == [path.resolve().as_uri()]
    context.close()


def test_cli_html_page_in_the_browser(browser: Any, tmp_path: Path) -> None:
    path = tmp_path / "cli.html"
    r = subprocess.run([sys.executable, "-m", "chainrule", "explain", "sin(x**2)", "--at",
                        "x=1.5", "--html", str(path)], capture_output=True, text=True,
                       timeout=60, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert r.returncode == 0, r.stderr
    x = cr.tensor(1.5, dtype=cr.float64, requires_grad=True)
    cr.sin(x ** 2).backward()
    context, page, requests, problems = open_page(browser, path)
    page.keyboard.press("End")
    trace = page.evaluate("window.chainruleTrace")
    xid = next(node["id"] for node in trace["nodes"] if node["label"] == "x")
    assert page.locator(f'[data-grad-for="{xid}"]').text_content() == short(x.grad.data, 6)
    assert short(x.grad.data, 6) == "−1.88452"
    assert problems == [] and requests == [path.resolve().as_uri()]
    context.close()
