"""cr.explain: the chain rule written out on real graphs, with the exact numbers of the texts."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule.explain import Explanation
from chainrule.explain.examples import EXAMPLES, example, four_layer, two_layer
from chainrule.explain.trace import Item, Step

# --------------------------------------------------------------------------- the 4-layer network

FOUR_LAYER_STRINGS = [
    "u1 = W1·x + b1 = 1·2 + 0 = 2",
    "u2 = W2·a1 + b2 = 2·2 + 0 = 4",
    "u3 = W3·a2 + b3 = 1·4 + 0 = 4",
    "a3 = tanh(u3) = tanh(4) = 0.999329",
    "u4 = W4·a3 + b4 = 1·0.999329 + 0 = 0.999329",
    "z = identity(u4) = 0.999329",
    "L = 40.506",
    "δ4 = −9.00067",
    "∂L/∂W4 = δ4·a3 = −9.00067 · 0.999329 = −8.99463",
    "∂L/∂W4 = −8.99463",
    "∂L/∂b4 = −9.00067",
    "φ3′(u3) = 1 − tanh²(4) = 0.00134095",
    "δ3 = ∂L/∂a3 · φ3′(u3) = (W4·δ4) · φ3′(u3) = −9.00067 · 0.00134095 = −0.0120695",
    "δ3 = −0.0120695",
    "∂L/∂W3 = −0.0482778",
    "∂L/∂W2 = −0.0241389",
    "∂L/∂W1 = −0.0482778",
    "∂L/∂b1 = −0.0241389",
    "[layer3] a3 = tanh(u3)",
    "tanh: d/dx tanh x = 1 - tanh² x",  # the op table's formula
]


@pytest.fixture(scope="module")
def four() -> Explanation:
    return example("four-layer")


@pytest.mark.parametrize("text", FOUR_LAYER_STRINGS)
def test_four_layer_prints_the_exact_values(four: Explanation, text: str) -> None:
    assert text in str(four)


def test_four_layer_gradients_match_the_engine() -> None:
    L, params = four_layer()
    e = cr.explain(L, wrt=params)
    L.backward()
    for p in params:
        assert e.gradients[p.name] == pytest.approx(p.grad.item(), rel=1e-12)
    assert e.gradients["W3"] == pytest.approx(-0.0482778, abs=5e-8)
    u = 4.0
    delta4 = math.tanh(u) - 10.0
    assert e.gradients["b3"] == pytest.approx(delta4 * (1 - math.tanh(u) ** 2), rel=1e-12)


def test_explain_keeps_the_graph_and_writes_no_grad() -> None:
    L, params = four_layer()
    calls: list[int] = []
    params[0].register_hook(lambda g: calls.append(1))
    cr.explain(L)
    cr.explain(L)  # the graph is still there
    assert all(p.grad is None for p in params)
    assert calls == []  # hooks belong to backward(), not to the explanation
    L.backward()
    assert calls == [1] and params[0].grad is not None


def test_freed_graph_is_a_clear_error() -> None:
    L, _ = four_layer()
    L.backward()
    with pytest.raises(cr.ChainruleError, match="freed by backward"):
        cr.explain(L)


def test_output_must_need_grad_and_be_scalar() -> None:
    with pytest.raises(ValueError, match="does not require grad"):
        cr.explain(cr.tensor(2.0) * 3)
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="gradient="):
        cr.explain(x * 2)
    with pytest.raises(TypeError):
        cr.explain(3.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the small examples

def test_sin_square() -> None:
    text = str(example("sin-square"))
    for s in ["u = x² = 1.5² = 2.25", "z = sin(u) = sin(2.25) = 0.778073",
              "du/dx = 2x = 3", "dz/du = cos(u) = cos(2.25) = −0.628174",
              "dz/dx = dz/du · du/dx = −0.628174 · 3 = −1.88452",
              "dz/dx = cos(2.25)·3 = −1.88452", "pow: d/dx x^y = y·x^(y-1)"]:
        assert s in text, s


def test_cube_of_square() -> None:
    e = example("cube-of-square")
    x0 = 0.7
    assert float(e.gradients["x"]) == pytest.approx(6 * x0 * (x0 ** 2 + 1) ** 2, rel=1e-14)
    assert "dz/dv = 3·v² = 6.6603" in str(e)
    assert "dz/dx = 6.6603·1.4 = 9.32442" in str(e)


def test_exp_log_four_nested_functions() -> None:
    e = example("exp-log")
    assert float(e.gradients["x"]) == pytest.approx(18.0, rel=1e-14)
    text = str(e)
    for s in ["u = 3·x = 3·1 = 3", "v = u² = 3² = 9", "w = ln(v) = ln(9) = 2.19722",
              "z = exp(w) = exp(2.19722) = 9", "dw/dv = 1/v = 0.111111", "dv/du = 2u = 6",
              "(dz/dw · dw/dv · dv/du · du/dx)", "= 18"]:
        assert s in text, s


def test_every_example_runs_and_matches_backward() -> None:
    for name, ex in EXAMPLES.items():
        out, wrt = ex.build()
        e = cr.explain(out, wrt=wrt)
        out.backward()
        for t in wrt:
            np.testing.assert_allclose(e.gradients[t.name], t.grad.data, rtol=1e-12,
                                       err_msg=name)


# --------------------------------------------------------------------------- matrix forms

def test_two_layer_matrix_forms() -> None:
    e = example("two-layer")
    text = str(e)
    for s in ["u1 = W1·x + b1", "a1 = tanh(u1)", "z = W2·a1 + b2",
              "linear layer u = W·a + b, δ = ∂L/∂u: ∂L/∂W = δ·aᵀ, ∂L/∂a = Wᵀ·δ, ∂L/∂b = δ",
              "∂L/∂W2 = δ2·a1ᵀ   (shapes (2×4) = (2×1)·(1×4)",
              "∂L/∂a1 = W2ᵀ·δ2   (shapes (4×1) = (4×2)·(2×1)",
              "δ1 = ∂L/∂a1 ⊙ φ1′(u1) = (W2ᵀ·δ2) ⊙ φ1′(u1)",
              "∂L/∂W1 = δ1·xᵀ   (shapes (4×3) = (4×1)·(1×3)",
              "shape (4), ", "‖·‖"]:
        assert s in text, s
    L, params = two_layer()
    L.backward()
    for p in params:
        np.testing.assert_allclose(e.gradients[p.name], p.grad.data, rtol=1e-12)


def test_batched_linear_of_a_module() -> None:
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2))
    x = cr.randn(5, 3)
    loss = model(x).pow(2).mean()
    e = cr.explain(loss, wrt=model)
    text = str(e)
    for s in ["u1 = x·0.weightᵀ + 0.bias", "a1 = tanh(u1)", "u2 = a1·2.weightᵀ + 2.bias",
              "∂L/∂2.weight = δ2ᵀ·a1   (shapes (2×4) = (2×5)·(5×4)",
              "∂L/∂a1 = δ2·2.weight", "∂L/∂0.bias = Σₙ δ1", "[2] u2 = a1·2.weightᵀ + 2.bias"]:
        assert s in text, s
    assert list(e.gradients) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    e2 = cr.explain(loss, wrt=model.parameters())
    assert list(e2.gradients) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    loss.backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(e.gradients[name], p.grad.data, rtol=1e-5)


def _ramp(shape: tuple[int, ...], name: str) -> cr.Tensor:
    values = np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape)
    return cr.tensor(values, dtype=cr.float64, requires_grad=True, name=name)


def _backward_text(e: Explanation) -> str:
    return str(e).split("Backward pass")[1].split("Gradients")[0]


# Each matmul case: the rule of each operand's step and its shapes note (a vector is a column).
MATMUL_STEPS = {
    ((3, 4), (4,)): ["∂z/∂A = (∂z/∂u)·Bᵀ   (shapes (3×4) = (3×1)·(1×4); shape",
                     "∂z/∂B = Aᵀ·(∂z/∂u)   (shapes (4×1) = (4×3)·(3×1); shape"],
    ((4,), (4, 3)): ["∂z/∂A = B·(∂z/∂u)   (shapes (4×1) = (4×3)·(3×1); shape",
                     "∂z/∂B = A·(∂z/∂u)ᵀ   (shapes (4×3) = (4×1)·(1×3); shape"],
    ((4,), (4,)): ["∂z/∂A = (∂z/∂u)·B   (shape (4)", "∂z/∂B = (∂z/∂u)·A   (shape (4)"],
    ((3, 4), (4, 5)): ["∂z/∂A = (∂z/∂u)·Bᵀ   (shapes (3×4) = (3×5)·(5×4); shape",
                       "∂z/∂B = Aᵀ·(∂z/∂u)   (shapes (4×5) = (4×3)·(3×5); shape"],
    ((2, 3, 4), (4, 5)): [
        "∂z/∂A = (∂z/∂u)·Bᵀ   (shapes (2×3×4) = (2×3×5)·(5×4); shape",
        "∂z/∂B = Aᵀ·(∂z/∂u)   (shapes (4×5) = (2×4×3)·(2×3×5); summed over the batch axes"],
    ((1, 3, 4), (2, 4, 5)): [
        "∂z/∂A = (∂z/∂u)·Bᵀ   (shapes (1×3×4) = (2×3×5)·(2×5×4); summed over the batch axes;",
        "∂z/∂B = Aᵀ·(∂z/∂u)   (shapes (2×4×5) = (1×4×3)·(2×3×5); shape"],
}


@pytest.mark.parametrize("shapes", list(MATMUL_STEPS), ids=str)
def test_matmul_rules_and_shapes_notes(shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
    A, B = _ramp(shapes[0], "A"), _ramp(shapes[1], "B")
    text = _backward_text(cr.explain((A @ B).sum(), layers=False))
    for s in MATMUL_STEPS[shapes]:
        assert s in text, s
    if shapes == ((4,), (4,)):
        assert "shapes" not in text  # a dot product: a number times a vector


# Each form of a linear layer: the layer's rule, then its W and a steps, which say the same.
LAYER_STEPS = {
    "a·W": ["linear layer u = a·W + b, δ = ∂L/∂u: ∂L/∂W = aᵀ·δ, ∂L/∂a = δ·Wᵀ, "
            "∂L/∂b = Σₙ δ (over the batch)",
            "∂L/∂W = aᵀ·δ1   (shapes (4×3) = (4×5)·(5×3); shape",
            "∂L/∂a = δ1·Wᵀ   (shapes (5×4) = (5×3)·(3×4); shape"],
    "a·W (vector a)": [
        "linear layer u = a·W + b, δ = ∂L/∂u: ∂L/∂W = a·δᵀ, ∂L/∂a = W·δ, ∂L/∂b = δ",
        "∂L/∂W = a·δ1ᵀ   (shapes (4×3) = (4×1)·(1×3); shape",
        "∂L/∂a = W·δ1   (shapes (4×1) = (4×3)·(3×1); shape"],
    "W·a": ["linear layer u = W·a + b, δ = ∂L/∂u: ∂L/∂W = δ·aᵀ, ∂L/∂a = Wᵀ·δ, ∂L/∂b = δ",
            "∂L/∂W = δ1·aᵀ   (shapes (3×4) = (3×1)·(1×4); shape",
            "∂L/∂a = Wᵀ·δ1   (shapes (4×1) = (4×3)·(3×1); shape"],
    "a·Wᵀ": ["linear layer u = a·Wᵀ + b, δ = ∂L/∂u: ∂L/∂W = δᵀ·a, ∂L/∂a = δ·W, "
             "∂L/∂b = Σₙ δ (over the batch)",
             "∂L/∂W = δ1ᵀ·a   (shapes (3×4) = (3×5)·(5×4); shape",
             "∂L/∂a = δ1·W   (shapes (5×4) = (5×3)·(3×4); shape"],
}


@pytest.mark.parametrize("form", list(LAYER_STEPS))
def test_linear_layer_rules_and_shapes_notes(form: str) -> None:
    x = _ramp((4,) if form in ("W·a", "a·W (vector a)") else (5, 4), "x")
    a = cr.tanh(x)  # an intermediate, so that the layer takes W (a leaf) as its weight
    a.name = "a"
    b = _ramp((3,), "b")
    W = _ramp((3, 4) if form in ("W·a", "a·Wᵀ") else (4, 3), "W")
    u = W @ a if form == "W·a" else a @ W.T if form == "a·Wᵀ" else a @ W
    e = cr.explain(cr.sigmoid(u + b).sum(), wrt=[W, x])
    text = _backward_text(e)
    for s in LAYER_STEPS[form]:
        assert s in text, s
    loss = cr.sigmoid(u + b).sum()
    loss.backward()
    np.testing.assert_allclose(e.gradients["W"], W.grad.data, rtol=1e-12)


_SHAPES_NOTE = re.compile(r"shapes \(([\d×]+)\) = \(([\d×]+)\)·\(([\d×]+)\)(; summed over the batch axes)?")


def _check_shapes_notes(e: Explanation) -> int:
    """Every shapes note of the explanation (text and trace) is a valid matrix product: the
    factors' inner sizes agree, the result has the gradient's last two sizes, and the batch axes
    of the product broadcast to more than the gradient's exactly when the note says "summed"."""
    text = str(e) + json.dumps(e.trace("t"), ensure_ascii=False)
    notes = list(_SHAPES_NOTE.finditer(text))
    for m in notes:
        t, y, z = (tuple(int(v) for v in g.split("×")) for g in m.groups()[:3])
        assert y[-1] == z[-2] and t[-2:] == (y[-2], z[-1]), m.group(0)
        batch = np.broadcast_shapes(y[:-2], z[:-2])
        own = (1,) * (len(batch) - len(t[:-2])) + t[:-2]
        assert np.broadcast_shapes(own, batch) == batch, m.group(0)
        assert bool(m.group(4)) == (np.prod(batch) > np.prod(own)), m.group(0)
    assert _check_shapes_values(e) * 2 >= len(notes)  # the text's notes, and the trace's
    return len(notes)


def _check_shapes_values(e: Explanation) -> int:
    """Every step's shapes note, worked out: its factors (the operands' values, and δ the
    gradient of the product itself) in the note's shapes, transposed as the rule says, then
    multiplied and summed over the batch axes exactly when the note says so, give the step's
    gradient, whose shape (a vector as a column) is the note's first."""
    values = {it.m.u: it.value for it in e.graph.items if it.value is not None}
    checked = 0
    for s in e.graph.steps:
        line = e._chain_line(s)
        note = _SHAPES_NOTE.search(line.unicode()) if line is not None else None
        if note is None:
            continue
        target, *shapes = (tuple(int(v) for v in g.split("×")) for g in note.groups()[:3])
        assert target == _as_matrix(s.target.shape), line.unicode()
        factors = []
        for factor, shape in zip(e.rule(s).u.split("·"), shapes, strict=True):
            symbol = factor.removesuffix("ᵀ")
            delta = symbol.startswith(("δ", "(∂"))
            value = _product_of(s).grad if delta else values[symbol.strip("()")]
            if factor.endswith("ᵀ"):
                value = np.swapaxes(value.reshape(*shape[:-2], shape[-1], shape[-2]), -1, -2)
            factors.append(value.reshape(shape))
        product = np.matmul(*factors)
        total = product.sum(axis=tuple(range(product.ndim - len(target))))
        ones = tuple(i for i, n in enumerate(target) if n == 1)
        total = total.sum(axis=ones, keepdims=True)
        assert (total.size < product.size) == bool(note.group(4)), line.unicode()
        np.testing.assert_allclose(total.reshape(s.contribution.shape), s.contribution,
                                   rtol=1e-6, err_msg=line.unicode())
        checked += 1
    return checked


def _as_matrix(shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape if len(shape) >= 2 else (*shape, 1) if shape else (1, 1)


def _product_of(s: Step) -> Item:
    """The matrix product whose rules a step uses: the step's node, or its layer's product."""
    n = s.node
    head = n if n.role == "affine" else n.head if n.role in ("inner", "weight_t") else None
    return n if head is None else head.parts.get("inner", head)


def test_matmul_of_a_vector_and_a_batch_shapes_notes() -> None:
    # δ = ∂z/∂u is a (batched) column when one operand is a vector: u = A·b, or Bᵀ·a
    A, v = _ramp((2, 3, 4), "A"), _ramp((4,), "B")
    e = cr.explain((A @ v).sum(), layers=False)
    text = _backward_text(e)
    assert ("∂z/∂A = (∂z/∂u)·Bᵀ   (shapes (2×3×4) = (2×3×1)·(1×4); shape (2×3×4)" in text)
    assert ("∂z/∂B = Aᵀ·(∂z/∂u)   (shapes (4×1) = (2×4×3)·(2×3×1); summed over the batch "
            "axes; shape (4)" in text)
    assert _check_shapes_notes(e) >= 2
    d = np.ones((2, 3, 1))  # δ as the note has it; the rules with these shapes give the gradients
    np.testing.assert_allclose(e.gradients["A"], d @ v.data.reshape(1, 4))
    np.testing.assert_allclose(e.gradients["B"],
                               (np.swapaxes(A.data, -1, -2) @ d).sum(0).reshape(4))

    a, B = _ramp((4,), "A"), _ramp((2, 4, 5), "B")
    e = cr.explain((a @ B).sum(), layers=False)
    text = _backward_text(e)
    assert ("∂z/∂A = B·(∂z/∂u)   (shapes (4×1) = (2×4×5)·(2×5×1); summed over the batch axes; "
            "shape (4)" in text)
    assert "∂z/∂B = A·(∂z/∂u)ᵀ   (shapes (2×4×5) = (4×1)·(2×1×5); shape (2×4×5)" in text
    assert _check_shapes_notes(e) >= 2
    d = np.ones((2, 5, 1))
    np.testing.assert_allclose(e.gradients["A"], (B.data @ d).sum(0).reshape(4))
    np.testing.assert_allclose(e.gradients["B"], a.data.reshape(4, 1) @ np.swapaxes(d, -1, -2))


def test_matmul_broadcast_batch_is_summed() -> None:
    # A's batch axis of size 1 meets B's of size 5: ∂A is summed over it (same number of axes)
    A, B = _ramp((2, 1, 3, 4), "A"), _ramp((5, 4, 2), "B")
    e = cr.explain((A @ B).sum(), layers=False)
    text = _backward_text(e)
    assert ("∂z/∂A = (∂z/∂u)·Bᵀ   (shapes (2×1×3×4) = (2×5×3×2)·(5×2×4); summed over the batch "
            "axes; shape (2×1×3×4)" in text)
    assert ("∂z/∂B = Aᵀ·(∂z/∂u)   (shapes (5×4×2) = (2×1×4×3)·(2×5×3×2); summed over the batch "
            "axes; shape (5×4×2)" in text)
    assert _check_shapes_notes(e) >= 2
    d = np.ones((2, 5, 3, 2))
    np.testing.assert_allclose(e.gradients["A"],
                               (d @ np.swapaxes(B.data, -1, -2)).sum(1, keepdims=True))


def _leaf(shape: tuple[int, ...], name: str, grad: bool = True) -> cr.Tensor:
    values = np.linspace(-1.0, 1.0, int(np.prod(shape))).reshape(shape) if shape else 0.3
    return cr.tensor(values, dtype=cr.float64, requires_grad=grad, name=name)


@pytest.mark.parametrize("shape", [(4,), (4, 3)], ids=str)
def test_vector_weight_on_the_left_is_no_layer(shape: tuple[int, ...]) -> None:
    # w·x + b with a vector w on the left: w is no weight matrix (it is wᵀ·x), so no layer, and
    # the explanation is that of the plain expression
    def loss() -> cr.Tensor:
        w, x = _leaf((4,), "w"), _leaf(shape, "X", grad=False)
        return cr.tanh(w @ x + _leaf(shape[1:], "b")).sum()

    e = cr.explain(loss())
    assert str(e) == str(cr.explain(loss(), layers=False))
    assert "δ1·Xᵀ" not in str(e)
    if len(shape) == 2:
        assert "∂z/∂w = X·(∂z/∂u)   (shapes (4×1) = (4×3)·(3×1); shape (4)" in str(e)
    _check_shapes_notes(e)


@pytest.mark.parametrize("shape", [(4,), (5, 4)], ids=str)
def test_layer_weight_is_not_a_trained_input(shape: tuple[int, ...]) -> None:
    # a·W + b with a that requires grad too: W is still W (the matrix, and the right operand
    # given the per-column bias), not a
    a, W, b = _leaf(shape, "a"), _leaf((4, 3), "W"), _leaf((3,), "b")
    e = cr.explain(cr.tanh(a @ W + b).sum())
    text = _backward_text(e)
    if len(shape) == 1:
        assert "linear layer u = a·W + b, δ = ∂L/∂u: ∂L/∂W = a·δᵀ, ∂L/∂a = W·δ" in text
        assert "∂L/∂W = a·δ1ᵀ   (shapes (4×3) = (4×1)·(1×3); shape (4×3)" in text
        assert "∂L/∂a = W·δ1   (shapes (4×1) = (4×3)·(3×1); shape (4)" in text
        d = (1 - np.tanh(a.data @ W.data + b.data) ** 2).reshape(3, 1)  # δ1, a column
        np.testing.assert_allclose(e.gradients["W"], a.data.reshape(4, 1) @ d.T)
        np.testing.assert_allclose(e.gradients["a"], (W.data @ d).reshape(4))
    else:
        assert "linear layer u = a·W + b, δ = ∂L/∂u: ∂L/∂W = aᵀ·δ, ∂L/∂a = δ·Wᵀ" in text
        assert "∂L/∂W = aᵀ·δ1   (shapes (4×3) = (4×5)·(5×3); shape (4×3)" in text
        assert "∂L/∂a = δ1·Wᵀ   (shapes (5×4) = (5×3)·(3×4); shape (5×4)" in text
    _check_shapes_notes(e)
    (cr.tanh(a @ W + b).sum()).backward()
    np.testing.assert_allclose(e.gradients["W"], W.grad.data)
    np.testing.assert_allclose(e.gradients["a"], a.grad.data)


def test_layer_a_times_w_transposed_with_a_trained_input() -> None:
    a, W, b = _leaf((5, 4), "a"), _leaf((3, 4), "W"), _leaf((3,), "b")
    e = cr.explain(cr.sigmoid(a @ W.T + b).sum())
    text = _backward_text(e)
    assert "u1 = a·Wᵀ + b" in text
    assert "linear layer u = a·Wᵀ + b, δ = ∂L/∂u: ∂L/∂W = δᵀ·a, ∂L/∂a = δ·W" in text
    assert "∂L/∂W = δ1ᵀ·a   (shapes (3×4) = (3×5)·(5×4); shape (3×4)" in text
    assert "∂L/∂a = δ1·W   (shapes (5×4) = (5×3)·(3×4); shape (5×4)" in text
    assert "Wᵀᵀ" not in str(e)
    _check_shapes_notes(e)
    sig = 1 / (1 + np.exp(-(a.data @ W.data.T + b.data)))
    d = sig * (1 - sig)  # δ1
    np.testing.assert_allclose(e.gradients["W"], d.T @ a.data)
    np.testing.assert_allclose(e.gradients["a"], d @ W.data)


def test_transposed_weight_on_the_left_is_no_a_w_transposed_layer() -> None:
    # Wᵀ·a + b is not a·Wᵀ + b: it was taken for one, with ∂L/∂W = δ1ᵀ·a (shapes (4×3) =
    # (5×3)·(4×5))
    W, a, b = _leaf((4, 3), "W"), _leaf((4, 5), "a", grad=False), _leaf((3, 1), "b")
    e = cr.explain(cr.tanh(W.T @ a + b).sum())
    assert "δ1ᵀ·a" not in str(e)
    assert _check_shapes_notes(e) >= 1
    (cr.tanh(W.T @ a + b).sum()).backward()
    np.testing.assert_allclose(e.gradients["W"], W.grad.data)


@pytest.mark.parametrize("shape", [(4,), (5, 4), (2, 5, 4)], ids=str)
def test_step_to_w_transposed(shape: tuple[int, ...]) -> None:
    # the step to Wᵀ of u = a·Wᵀ + b (in the trace) is ∂L/∂Wᵀ (4×3), the right operand's
    # gradient aᵀ·δ, not ∂L/∂W = δᵀ·a
    a, W, b = _leaf(shape, "a", grad=False), _leaf((3, 4), "W"), _leaf((3,), "b")
    wt = W.T
    e = cr.explain(cr.tanh(a @ wt + b).sum())
    trace = json.dumps(e.trace("t"), ensure_ascii=False)
    expected = {
        (4,): "∂L/∂Wᵀ = a·δ1ᵀ   (shapes (4×3) = (4×1)·(1×3); shape (4×3)",
        (5, 4): "∂L/∂Wᵀ = aᵀ·δ1   (shapes (4×3) = (4×5)·(5×3); shape (4×3)",
        (2, 5, 4): "∂L/∂Wᵀ = aᵀ·δ1   (shapes (4×3) = (2×4×5)·(2×5×3); summed over the batch "
                   "axes; shape (4×3)"}[shape]
    assert expected in trace
    assert "∂L/∂Wᵀ = δ1ᵀ·a" not in trace
    _check_shapes_notes(e)
    d = 1 - np.tanh(a.data @ W.data.T + b.data) ** 2  # δ1
    am = a.data.reshape(4, 1) if len(shape) == 1 else a.data
    dm = d.reshape(1, 3) if len(shape) == 1 else d
    (cr.tanh(a @ wt + b).sum()).backward()
    np.testing.assert_allclose(((np.swapaxes(am, -1, -2) if len(shape) > 1 else am) @ dm)
                               .reshape(-1, 4, 3).sum(0), W.grad.data.T)


def test_bias_broadcasting_the_product_up_is_no_layer_bias() -> None:
    # A·B (3×1) + b (5) is (3×5): δ of the product is ∂L/∂u summed over the new axis, so the add
    # is no layer (its rules would use ∂L/∂u as δ: shapes (4×1) = (3×4×1)·(3×5×1) said so)
    A, B, b = _leaf((3, 1, 4), "A"), _leaf((4,), "B"), _leaf((5,), "b")
    e = cr.explain(cr.tanh(A @ B + b).sum())
    text = _backward_text(e)
    assert "u1 = A·B" in text and "linear layer u = W·a, " in text  # the product alone
    assert "δ1 = ∂L/∂(u1 + b)   (shape (3×1), " in text
    assert "summed over the broadcast axes to shape (3×1))" in text
    assert "∂L/∂A = δ1·Bᵀ   (shapes (3×1×4) = (3×1×1)·(1×4); shape (3×1×4)" in text
    assert ("∂L/∂B = Aᵀ·δ1   (shapes (4×1) = (3×4×1)·(3×1×1); summed over the batch axes; "
            "shape (4)" in text)
    assert _check_shapes_notes(e) >= 2
    (cr.tanh(A @ B + b).sum()).backward()
    for t in (A, B, b):
        np.testing.assert_allclose(e.gradients[t.name], t.grad.data)


def test_row_bias_of_a_vector_layer_uses_the_products_shape() -> None:
    # x·W + b with b of shape (1×3): u is (1×3) but the product (3), whose δ is the column (3×1)
    x, W, b = _leaf((4,), "x", grad=False), _leaf((4, 3), "W"), _leaf((1, 3), "b")
    e = cr.explain(cr.tanh(x @ W + b).sum())
    text = _backward_text(e)
    assert "∂L/∂W = x·δ1ᵀ   (shapes (4×3) = (4×1)·(1×3); shape (4×3)" in text  # was (1×1×3)
    assert "∂L/∂b = δ1   (shape (1×3)" in text
    assert _check_shapes_notes(e) >= 1


# (A, B, b) of A·B + b, where b broadcasts the product up (or, the last ones, does not)
BROADCAST_BIAS = [((3, 1, 4), (4,), (5,)), ((3, 4), (4, 1), (5,)), ((5, 4), (4,), (5, 1)),
                  ((4,), (4, 5), (3, 1)), ((4,), (4, 1), (1, 5)), ((3, 4), (4, 5), (2, 1, 5)),
                  ((2, 1, 3, 4), (4, 1), (2, 1, 5)), ((4,), (4, 3), (1, 3)),
                  ((2, 3, 4), (4, 5), (2, 1, 5))]


@pytest.mark.parametrize("layers", [None, False])
@pytest.mark.parametrize("shapes", BROADCAST_BIAS, ids=str)
def test_shapes_notes_under_a_broadcasting_bias(shapes: tuple[tuple[int, ...], ...],
                                                 layers: bool | None) -> None:
    for trained in ((True, True), (True, False), (False, True)):
        A, B = (_leaf(sh, n, grad=g) for sh, n, g in zip(shapes, "AB", trained))
        b = _leaf(shapes[2], "b")
        e = cr.explain(cr.tanh(A @ B + b).sum(), layers=layers)
        assert _check_shapes_notes(e) >= 1
        (cr.tanh(A @ B + b).sum()).backward()
        for t in (A, B, b):
            if t.requires_grad:
                np.testing.assert_allclose(e.gradients[t.name], t.grad.data)


@pytest.mark.parametrize("trained", [False, True])
@pytest.mark.parametrize("bias", [None, (), (3,)], ids=str)
def test_trained_vector_times_a_matrix(bias: tuple[int, ...] | None, trained: bool) -> None:
    # w·X (+ b) with a trained vector w: w is no weight matrix (w·X is wᵀ·X). X is the weight
    # when it is trained, as W is in x·W + b with a vector x, with a bias or without (without
    # one it was a plain product); when X is data there is no layer
    w, X = _leaf((4,), "w"), _leaf((4, 3), "X", grad=trained)

    def loss() -> cr.Tensor:
        return cr.tanh(w @ X if bias is None else w @ X + _leaf(bias, "b")).sum()

    e = cr.explain(loss())
    text = _backward_text(e)
    assert e.graph.layered == trained
    if trained:
        assert "linear layer u = a·W" in text and "∂L/∂W = a·δᵀ, ∂L/∂a = W·δ" in text
        assert "∂L/∂X = w·δ1ᵀ   (shapes (4×3) = (4×1)·(1×3); shape (4×3)" in text
        assert "∂L/∂w = X·δ1   (shapes (4×1) = (4×3)·(3×1); shape (4)" in text
    else:
        assert str(e) == str(cr.explain(loss(), layers=False))
        assert "∂z/∂w = X·(∂z/∂u)   (shapes (4×1) = (4×3)·(3×1); shape (4)" in text
    assert _check_shapes_notes(e) >= 1
    loss().backward()
    np.testing.assert_allclose(e.gradients["w"], w.grad.data)


@pytest.mark.parametrize("bias, weight", [
    (None, None), ((), None), ((1, 1), None), ((5, 3), None),  # nothing tells: no layer
    ((3,), "W"), ((1, 3), "W"),  # one bias per column: a·W + b
    ((5, 1), "A"),  # one per row: W·a + b, W on the left
], ids=str)
def test_weight_of_two_trained_matrices(bias: tuple[int, ...] | None, weight: str | None) -> None:
    # A·W + b with both operands trained: the left one was taken for W whatever the bias
    A, W = _leaf((5, 4), "A"), _leaf((4, 3), "W")

    def loss() -> cr.Tensor:
        return cr.tanh(A @ W if bias is None else A @ W + _leaf(bias, "b")).sum()

    e = cr.explain(loss())
    text = _backward_text(e)
    if weight is None:
        assert str(e) == str(cr.explain(loss(), layers=False))
        assert "∂z/∂W = Aᵀ·(∂z/∂u)   (shapes (4×3) = (4×5)·(5×3)" in text
    elif weight == "W":
        assert "linear layer u = a·W + b, δ = ∂L/∂u: ∂L/∂W = aᵀ·δ, ∂L/∂a = δ·Wᵀ" in text
        assert "∂L/∂W = Aᵀ·δ1   (shapes (4×3) = (4×5)·(5×3)" in text
    else:
        assert "linear layer u = W·a + b, δ = ∂L/∂u: ∂L/∂W = δ·aᵀ, ∂L/∂a = Wᵀ·δ" in text
        assert "∂L/∂A = δ1·Wᵀ   (shapes (5×4) = (5×3)·(3×4)" in text
    _check_shapes_notes(e)


@pytest.mark.parametrize("left", [False, True])
def test_a_module_parameter_is_the_weight(left: bool) -> None:
    # of two trained matrices, a module's Parameter is the weight (the other is data whose
    # gradient is wanted), even with a scalar bias that tells nothing
    P = cr.nn.Parameter(cr.tensor(np.linspace(-1, 1, 12).reshape((3, 4) if left else (4, 3)),
                                  dtype=cr.float64))
    P.name = "P"
    A = _leaf((4, 5) if left else (5, 4), "A")
    u = P @ A if left else A @ P
    e = cr.explain(cr.tanh(u + _leaf((), "b")).sum())
    text = _backward_text(e)
    if left:
        assert "linear layer u = W·a + b" in text and "∂L/∂P = δ1·Aᵀ" in text
    else:
        assert "linear layer u = a·W + b" in text and "∂L/∂P = Aᵀ·δ1" in text
    assert "∂L/∂b = Σ δ (over the axes b is broadcast along)" in text
    _check_shapes_notes(e)


def test_a_bias_shared_by_the_units_is_no_sum_over_the_batch() -> None:
    # a scalar bias, or one per sample (5×1) of a·W + b: ∂L/∂b sums δ over the units too,
    # which "Σₙ δ (over the batch)" did not say
    X, W = _leaf((5, 4), "X", grad=False), _leaf((4, 3), "W")
    for shape in ((), (5, 1)):
        b = _leaf(shape, "b")
        text = _backward_text(cr.explain(cr.tanh(X @ W + b).sum()))
        assert "∂L/∂b = Σ δ (over the axes b is broadcast along)" in text
        assert "∂L/∂b = Σ δ1   (" in text
    text = _backward_text(cr.explain(cr.tanh(X @ W + _leaf((3,), "b")).sum()))
    assert "∂L/∂b = Σₙ δ (over the batch)" in text and "∂L/∂b = Σₙ δ1   (" in text


def test_elementwise_linear_unit_rules() -> None:
    # w ⊙ x + b with arrays: the unit's rules are elementwise and summed where broadcast, as its
    # steps say (it said ∂L/∂W = δ·a, ∂L/∂b = δ)
    w, x, b = _leaf((3,), "w"), _leaf((5, 3), "x", grad=False), _leaf((3,), "b")
    text = _backward_text(cr.explain(cr.tanh(w * x + b).sum()))
    assert ("linear unit u = W·a + b (elementwise), δ = ∂L/∂u: ∂L/∂W = δ ⊙ a, ∂L/∂a = W ⊙ δ, "
            "∂L/∂b = δ, each summed over the axes it is broadcast along" in text)
    assert "∂L/∂w = δ1 ⊙ x   (shape (3), " in text


# --------------------------------------------------------------------------- fan-out, wrt, names

def test_multivariate_chain_rule_one_term_per_path() -> None:
    x = cr.tensor(0.5, dtype=cr.float64, requires_grad=True, name="x")
    y = cr.tensor(2.0, dtype=cr.float64, requires_grad=True, name="y")
    e = cr.explain(x * y + cr.sin(x))
    text = str(e)
    assert "∂z/∂x = ∂z/∂u · ∂u/∂x + ∂z/∂v · ∂v/∂x   (one term per path: 2 paths)" in text
    assert "∂z/∂x = 2 + 0.877583 = 2.87758" in text
    assert "∂z/∂x += ∂z/∂u · y = 1 · 2 = 2" in text
    assert float(e.gradients["x"]) == pytest.approx(2.0 + math.cos(0.5), rel=1e-14)


def test_fan_out_of_an_intermediate_sums_its_terms() -> None:
    w = cr.tensor([1.0, -2.0], dtype=cr.float64, requires_grad=True, name="w")
    h = cr.tanh(w)
    h.name = "h"
    out = (h * h + cr.exp(h)).sum()
    e = cr.explain(out, wrt=[w])
    text = str(e)
    assert "∂z/∂h = " in text and " + " in text.split("∂z/∂h = ", 1)[1].split("\n")[0]
    out.backward()
    np.testing.assert_allclose(e.gradients["w"], w.grad.data, rtol=1e-12)


def test_wrt_forms_and_names() -> None:
    L, params = four_layer()
    W3 = params[4]
    e = cr.explain(L, wrt=W3)
    assert list(e.gradients) == ["W3"]
    assert "∂L/∂W3 = −0.0482778" in str(e)
    assert "∂L/∂b4" not in str(e).split("Gradients")[1].split("Summary")[0]
    e = cr.explain(L, wrt=[("first", params[0])])  # a (name, tensor) pair keeps the tensor's name
    assert list(e.gradients) == ["W1"]
    stranger = cr.tensor(1.0, requires_grad=True, name="c")
    e = cr.explain(L, wrt=[stranger, params[0]])
    assert float(e.gradients["c"]) == 0.0
    assert "c does not affect L" in str(e)
    assert e.grad(params[0]) == pytest.approx(-0.0482778, abs=5e-8)


def test_wrt_an_intermediate_stops_there() -> None:
    x = cr.tensor(1.5, dtype=cr.float64, requires_grad=True, name="x")
    u = x ** 2
    u.name = "u"
    z = cr.sin(u)
    e = cr.explain(z, wrt=u)
    assert float(e.gradients["u"]) == pytest.approx(math.cos(2.25), rel=1e-14)
    assert "∂z/∂x = " not in str(e).split("Summary")[0]


def test_gradient_for_a_vector_output() -> None:
    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64, requires_grad=True, name="x")
    y = x ** 2
    y.name = "y"
    e = cr.explain(y, gradient=[1.0, 0.0, -1.0])
    np.testing.assert_allclose(e.gradients["x"], [2.0, 0.0, -6.0])
    assert "the seed: the given gradient" in str(e)
    with pytest.raises(ValueError, match="shape"):
        cr.explain(y, gradient=[1.0, 2.0])


def test_names_scopes_and_auto_names() -> None:
    a = cr.tensor(0.3, requires_grad=True)  # unnamed leaves: x1, x2
    b = cr.tensor(0.7, requires_grad=True)
    with cr.name_scope("block"):
        c = a * b
    c.name = "product"
    out = cr.sigmoid(c) + a
    text = str(cr.explain(out))
    assert "product = x1·x2" in text
    assert "[block] product = x1·x2" in text
    assert "u = σ(product)" in text
    assert "∂u/∂product = σ(product)·(1 − σ(product))" in text


def test_digits() -> None:
    e = example("four-layer", digits=3)
    assert "δ4 = −9" in str(e)
    assert "∂L/∂W4 = −8.99" in str(e)
    with pytest.raises(ValueError):
        cr.explain(four_layer()[0], digits=0)


# --------------------------------------------------------------------------- output forms

def test_markdown_html_latex_json(four: Explanation) -> None:
    md = four.to_markdown()
    assert md == four._repr_markdown_()
    assert md.startswith("### ") and "**Backward pass" in md
    assert "φ3′(u3) = 1 − tanh²(4) = 0.00134095" in md
    assert "| value | gradient |" in md
    html = four._repr_html_()
    assert "<div" in html and "δ4 = −9.00067" in html and "<script" not in html
    tex = four.to_latex()
    assert r"\begin{align*}" in tex and r"\end{align*}" in tex
    assert r"\delta_{4} &= -9.00067" in tex
    assert r"\varphi_{3}'(u_{3}) &= 1 - \tanh^{2}\left(4\right) = 0.00134095" in tex
    assert tex.count(r"\begin{align*}") == tex.count(r"\end{align*}")
    d = json.loads(four.to_json())
    assert d["output"] == "L" and d["value"] == pytest.approx(40.50601, rel=1e-6)
    assert d["gradients"]["W4"]["value"] == pytest.approx(-8.994629, rel=1e-6)
    assert d["layered"] is True and d["notation"] == "∂"
    steps = d["steps"]
    assert len(steps) == len(four.graph.steps) and all("formula" in s for s in steps)
    assert d == four.to_dict()
    assert "δ4 = −9.00067" in d["text"]


def test_nan_values_serialise() -> None:
    x = cr.tensor(-1.0, dtype=cr.float64, requires_grad=True, name="x")
    with np.errstate(all="ignore"):
        e = cr.explain(cr.sqrt(x))
    assert "nan" in str(e)
    json.loads(e.to_json())


def test_trace_for_the_page(four: Explanation) -> None:
    t = four.trace()
    ids = {n["id"] for n in t["nodes"]}
    assert {e["source"] for e in t["edges"]} <= ids
    fwd = [s for s in t["steps"] if s["phase"] == "forward"]
    back = [s for s in t["steps"] if s["phase"] == "backward"]
    assert len(fwd) == len(four.graph.ops)
    assert len(back) == len(four.graph.steps) + 1  # the seed, then one per step of the walk
    w4 = next(n for n in t["nodes"] if n["label"] == "W4")
    assert w4["grad"] == "−8.99463" and w4["kind"] == "leaf"
    assert next(n for n in t["nodes"] if n["label"] == "L")["kind"] == "output"


def test_a_row_bias_of_a_vector_layer_is_not_summed():
    """F.linear(vector, W, b of shape (1, n)): one b per unit, so ∂L/∂b = δ (no Σ)."""
    x = cr.tensor(np.linspace(-1, 1, 4))
    W = cr.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    b = cr.tensor([[-1.0, 0.0, 1.0]], requires_grad=True)
    text = str(cr.explain(cr.tanh(cr.nn.functional.linear(x, W, b)).sum()))
    assert "∂L/∂b = δ" in text
    assert "Σ δ" not in text and "Σₙ" not in text


def test_a_transposed_trained_operand_is_the_weight():
    """q·kᵀ with both trained and no bias: the transposed one is W (cr.nn.Linear's layout,
    as docs/explain.md says); a·W with neither transposed shows the plain product rules."""
    rng = np.random.default_rng(0)
    q = cr.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    k = cr.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    text = str(cr.explain((q @ k.T).sum()))
    assert "linear layer u = a·Wᵀ" in text and "∂L/∂x1 = δ1ᵀ·x2" in text
    w = cr.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    assert "linear layer" not in str(cr.explain((q @ w).sum()))


def test_elementwise_products_of_tensors_are_written_with_odot():
    """x1 * x2 of two tensors is x1 ⊙ x2 (· is kept for matrix products and scalars)."""
    x1 = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x2 = cr.tensor([4.0, 5.0, 6.0], requires_grad=True)
    text = str(cr.explain((x1 * x2).sum() + (2 * x1).sum()))
    assert "u = x1 ⊙ x2" in text
    assert "2·x1" in text or "2x1" in text
    W = cr.tensor(np.ones((2, 3)), requires_grad=True)
    assert "⊙" not in str(cr.explain((W @ x1).sum())).split("Backward pass")[0]
    s = cr.tensor(2.0, requires_grad=True)
    assert "⊙" not in str(cr.explain((s * x1).sum())).split("Backward pass")[0]


def test_forward_values_are_those_of_the_forward_pass_after_an_in_place_change() -> None:
    # z[1:].mul_(3) rewrites z's memory after 2·x made it: the explanation shows 2·x as the
    # forward pass computed it ([2, 4, 6]), and the slice before the change ([4, 6])
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    z = x * 2
    z[1:].mul_(3)
    e = cr.explain((z * z).sum())
    values = {it.name: np.asarray(it.value).tolist() for it in e.graph.items if it.kind == "op"}
    assert values == {"u": [2.0, 4.0, 6.0], "v": [4.0, 6.0], "w": [12.0, 18.0],
                      "p": [2.0, 12.0, 18.0], "q": [4.0, 144.0, 324.0], "z": 472.0}
    assert "u = 2·x   (shape (3), [2, 4, 6])" in str(e)
    assert e.value == 472.0
