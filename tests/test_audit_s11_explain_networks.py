"""Audit (session 11) of cr.explain / cr.draw / the HTML page on real small networks: every
number the explanation prints is the engine's, and the formulas are the right derivatives."""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

import chainrule as cr

F = cr.nn.functional


def _t(a, rg=False, name=None):
    return cr.tensor(np.asarray(a, dtype=np.float64), dtype=cr.float64, requires_grad=rg,
                     name=name)


def _mlp(act: str, loss: str, batch: int):
    rng = np.random.default_rng(1)
    W1 = _t(rng.standard_normal((4, 3)) * 0.7, True, "W1")
    b1 = _t(rng.standard_normal(4) * 0.1, True, "b1")
    W2 = _t(rng.standard_normal((2, 4)) * 0.7, True, "W2")
    b2 = _t(rng.standard_normal(2) * 0.1, True, "b2")
    x = _t(rng.standard_normal((batch, 3)))
    z = F.linear(getattr(cr, act)(F.linear(x, W1, b1)), W2, b2)
    if loss == "mse":
        L = F.mse_loss(z, _t(rng.standard_normal((batch, 2))))
    else:
        L = F.cross_entropy(z, cr.tensor(np.array([1, 0, 1][:batch])))
    return L, [W1, b1, W2, b2]


def _cnn():
    cr.manual_seed(0)
    conv, fc = cr.nn.Conv2d(1, 2, 3).double(), cr.nn.Linear(8, 2).double()
    x = _t(np.random.default_rng(2).standard_normal((1, 1, 6, 6)))
    z = fc(F.max_pool2d(cr.relu(conv(x)), 2).flatten(1))
    return F.cross_entropy(z, cr.tensor(np.array([1]))), [*conv.parameters(), *fc.parameters()]


def _rnn_loop():
    rng = np.random.default_rng(3)
    Wx = _t(rng.standard_normal((3, 2)) * 0.5, True, "Wx")
    Wh = _t(rng.standard_normal((3, 3)) * 0.5, True, "Wh")
    b = _t(rng.standard_normal(3) * 0.1, True, "b")
    h = _t(np.zeros(3))
    for _ in range(3):
        h = cr.tanh(Wx @ _t(rng.standard_normal(2)) + Wh @ h + b)
    return (h ** 2).sum(), [Wx, Wh, b]


def _attention():
    rng = np.random.default_rng(4)
    q, k, v = (_t(rng.standard_normal((2, 3)), True, n) for n in "qkv")
    o = cr.softmax(q @ k.transpose(0, 1) / np.sqrt(3.0), -1) @ v
    return (o * _t(rng.standard_normal((2, 3)))).sum(), [q, k, v]


def _layernorm_residual():
    rng = np.random.default_rng(5)
    x = _t(rng.standard_normal((2, 4)), True, "x")
    w, b = _t(rng.standard_normal(4), True, "w"), _t(rng.standard_normal(4), True, "b")
    y = x + cr.tanh(F.layer_norm(x, (4,), w, b))
    return (y ** 2).sum(), [x, w, b]


NETWORKS = {
    **{f"mlp-{a}-{lo}-b{n}": (lambda a=a, lo=lo, n=n: _mlp(a, lo, n))
       for a in ("tanh", "sigmoid", "relu") for lo in ("mse", "ce") for n in (1, 3)},
    "cnn": _cnn, "rnn-loop": _rnn_loop, "attention": _attention,
    "layernorm-residual": _layernorm_residual,
}


def _nums(s: str) -> list[float]:
    return [float(x) for x in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", s.replace("−", "-"))]


@pytest.mark.parametrize("name", sorted(NETWORKS))
def test_every_number_is_the_engines(name):
    L, params = NETWORKS[name]()
    e = cr.explain(L, wrt=params)
    d = e.to_dict()
    items = [it for it in e.graph.items if it.kind == "op" and it.output is not None
             and not it.is_root]
    for it in items:
        it.output.retain_grad()
    L.backward()
    for it, p in zip(e.wrt, params):
        np.testing.assert_allclose(d["gradients"][it.name]["value"], p.grad.data, atol=1e-12)
        terms = d["gradients"][it.name]["terms"]
        np.testing.assert_allclose(sum(np.asarray(t["value"]) for t in terms), p.grad.data,
                                   atol=1e-12)
    for it in items:
        if it.grad is not None and it.output.grad is not None:
            np.testing.assert_allclose(it.grad, it.output.grad.data, atol=1e-12)
    for s in d["steps"]:
        c = np.asarray(s["contribution"])
        if s["local"] is not None:  # upstream ⊙ local, summed to the input's shape
            prod = np.asarray(s["upstream"]) * np.asarray(s["local"])
            while prod.ndim > c.ndim:
                prod = prod.sum(0)
            axes = tuple(i for i, n in enumerate(c.shape) if n == 1 and prod.shape[i] != 1)
            np.testing.assert_allclose(prod.sum(axes, keepdims=True), c, atol=1e-10)
        text, flat = s["text"], c.ravel()
        if c.size == 1:
            assert np.isclose(_nums(text.split("=")[-1])[0], flat[0], rtol=1e-5, atol=1e-9)
            continue
        shown = re.search(r"(\[[^()]*\])\)?\s*$", text)
        if shown:
            got = _nums(shown.group(1))
            np.testing.assert_allclose(got, flat[:len(got)], rtol=1e-3, atol=1e-6)
        m = re.search(r"min (\S+), max (\S+)", text)
        if m:
            lo, hi = _nums(m.group(0))
            assert np.isclose(lo, flat.min(), rtol=1e-3) and np.isclose(hi, flat.max(), rtol=1e-3)
    for line in str(e).splitlines():  # the matrix shapes notes multiply out
        m = re.search(r"shapes \(([\d×]+)\) = \(([\d×]+)\)·\(([\d×]+)\)", line)
        if m:
            a, b, c = (tuple(int(v) for v in g.split("×")) for g in m.groups())
            assert a == (b[0], c[1]) and b[1] == c[0], line


@pytest.mark.parametrize("make", [_cnn, _rnn_loop])
def test_networks_explain_quickly_and_readably(make):
    L, params = make()
    t0 = time.perf_counter()
    e = cr.explain(L, wrt=params)
    text, page = str(e), e._repr_html_()
    assert time.perf_counter() - t0 < 5
    assert len(text.splitlines()) < 200 and max(len(x) for x in text.splitlines()) < 400
    assert "…" in text and page  # big tensors are summarised


def test_formula_line_names_its_op_once():
    # reshape's and permute's formulas already start "reshape:" / "permute:"; the explanation
    # printed "reshape: reshape: ∂y/∂x is the identity, re-indexed"
    x = _t(np.arange(6.0).reshape(1, 2, 3), True, "x")
    text = str(cr.explain((x.permute(1, 0, 2).reshape(6) ** 2).sum()))
    assert "    reshape: ∂y/∂x is the identity, re-indexed" in text
    assert "    permute: the gradient is permuted back" in text
    assert "reshape: reshape:" not in text and "permute: permute:" not in text
    L, params = _cnn()
    d = cr.explain(L, wrt=params).to_dict()
    assert not any("reshape: reshape" in line for sec in d["text"].splitlines()
                   for line in [sec])


def test_cross_entropy_mean_formula_and_rule():
    # The op's formula is the sum over samples; reduction='mean' divides the gradient by N.
    # It printed the formula without /N and "δ2 = vjp_cross_entropy(1)".
    L, params = _mlp("tanh", "ce", 3)
    e = cr.explain(L, wrt=params)
    text = str(e)
    assert "reduction='mean' divides ℒ and its gradients by N = 3" in text
    assert "    δ2 = (softmax(u2) − onehot(c2))/3   (shape (3×2)" in text
    assert "vjp_cross_entropy" not in text
    assert r"\operatorname{onehot}" in e.to_latex()
    z = next(it for it in e.graph.items if it.name == "u2")
    p = np.exp(z.value) / np.exp(z.value).sum(-1, keepdims=True)
    p[np.arange(3), [1, 0, 1]] -= 1
    np.testing.assert_allclose(z.grad, p / 3, atol=1e-12)
    step = next(s for s in e.to_dict()["steps"] if s["op"] == "cross_entropy")
    assert step["rule"] == "(softmax(u2) − onehot(c2))/3"
    assert step["formula"].endswith("by N = 3")
    # batch 1: nothing to divide by
    L1, params1 = _mlp("tanh", "ce", 1)
    t1 = str(cr.explain(L1, wrt=params1))
    assert "δ2 = softmax(u2) − onehot([1])" in t1 and "reduction='mean'" not in t1


def test_cross_entropy_weighted_mean_denominator():
    x = _t([[1.0, 2.0, 0.5], [0.0, 1.0, 3.0], [2.0, 0.0, 1.0]], True, "x")
    w = np.array([0.5, 2.0, 1.0])
    L = F.cross_entropy(x, cr.tensor(np.array([1, 2, 0])), weight=cr.tensor(w))
    text = str(cr.explain(L))
    assert "by N = Σ_n w[t_n] = 3.5" in text  # 2 + 1 + 0.5
    assert "vjp_cross_entropy" in text  # the weighted gradient is not softmax − onehot
    L2 = F.cross_entropy(x, cr.tensor(np.array([1, -100, 0])))
    assert "by N = Σ_n w[t_n] = 2" in str(cr.explain(L2))
    L3 = F.cross_entropy(x, cr.tensor(np.array([1, 2, 0])), reduction="sum")
    t3 = str(cr.explain(L3))
    assert "reduction='mean'" not in t3 and "∂z/∂x = softmax(x) − onehot(c1)" in t3


def test_drawing_and_page_have_every_op(tmp_path):
    L, params = _cnn()
    src = cr.draw(L, expand=True, show_grad=True).source
    for op in ("conv2d", "relu", "max_pool2d", "reshape", "linear", "cross_entropy"):
        assert f"\\n{op}\\n" in src
    e = cr.explain(L, wrt=params)
    trace = e.trace()
    assert sum(s["phase"] == "backward" for s in trace["steps"]) == len(e.graph.steps) + 1
    e.to_html(tmp_path / "cnn.html")
    page = (tmp_path / "cnn.html").read_text()
    assert "http://" not in page and "https://" not in page
    assert "(softmax(u1) − onehot([1]))" in page or "softmax(u1) − onehot([1])" in page


def test_cross_entropy_note_when_every_target_is_ignored():
    x = cr.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    loss = cr.nn.functional.cross_entropy(x, cr.tensor([-100, -100, -100]))
    text = str(cr.explain(loss))
    assert "divides by N = 0 here (every target is ignored): ℒ is NaN and the gradient 0" in text
    assert "N = Σ_n w[t_n] = 0" not in text
