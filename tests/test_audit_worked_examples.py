"""Audit of the texts' worked examples: every numeric example and practice problem of the four
chain-rule texts (/work/shared/texts/), checked against values computed independently of
chainrule (closed-form formulas in float64, or PyTorch on the same numbers)."""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

import chainrule as cr

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    """Import examples/<name>.py (they import their helper ``_report`` from examples/)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def t64(a: np.ndarray | float, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def close(ours: object, theirs: object, rtol: float = 1e-12, atol: float = 1e-14) -> None:
    ours = ours.numpy() if hasattr(ours, "numpy") and not isinstance(ours, torch.Tensor) \
        else ours
    if isinstance(ours, torch.Tensor):
        ours = ours.detach().numpy()
    if isinstance(theirs, torch.Tensor):
        theirs = theirs.detach().numpy()
    np.testing.assert_allclose(np.asarray(ours, dtype=np.float64),
                               np.asarray(theirs, dtype=np.float64), rtol=rtol, atol=atol)
    assert np.shape(ours) == np.shape(theirs)


# --------------------------------------------------------------- 001 §10.1: the torch snippet

def test_001_autodiff_snippet_sigmoid_squared_mean():
    """x = [1.0]; loss = mean(sigmoid(x)²): ∂loss/∂x = 2σ(1)·σ(1)(1 − σ(1)), float32 as torch."""
    x = cr.tensor([1.0], requires_grad=True)
    y = cr.sigmoid(x)
    z = y ** 2
    z.mean().backward()
    s = 1 / (1 + math.exp(-1.0))
    assert x.grad.dtype == cr.float32
    assert x.grad.shape == (1,)
    assert x.grad.item() == pytest.approx(2 * s * s * (1 - s), rel=1e-6)
    tx = torch.tensor([1.0], requires_grad=True)
    (torch.sigmoid(tx) ** 2).mean().backward()
    assert x.grad.item() == pytest.approx(tx.grad.item(), rel=2e-7)   # float32: 1 ulp


# --------------------------------------------------- 001 §5: activations and their derivatives

def text_sigmoid_derivative(x: np.ndarray) -> np.ndarray:
    s = 1 / (1 + np.exp(-x))
    return s * (1 - s)


TEXT_DERIVATIVES = {
    "sigmoid": (cr.sigmoid, text_sigmoid_derivative),
    "tanh": (cr.tanh, lambda x: 1 - np.tanh(x) ** 2),
    "relu": (cr.relu, lambda x: (x > 0).astype(float)),
    "leaky_relu": (cr.nn.functional.leaky_relu,
                   lambda x: np.where(x > 0, 1.0, 0.01)),
    "leaky_relu(0.2)": (lambda t: cr.nn.functional.leaky_relu(t, 0.2),
                        lambda x: np.where(x > 0, 1.0, 0.2)),
}


@pytest.mark.parametrize("name", sorted(TEXT_DERIVATIVES))
def test_001_activation_derivatives_match_the_texts_formulas(name):
    """The texts' derivative functions, including their convention at 0 (relu'(0) = 0,
    leaky_relu'(0) = alpha, as PyTorch)."""
    f, derivative = TEXT_DERIVATIVES[name]
    xs = np.array([-3.0, -0.5, 0.0, 1e-3, 0.5, 4.0])
    x = cr.tensor(xs, requires_grad=True)
    f(x).sum().backward()
    close(x.grad, derivative(xs), rtol=1e-15, atol=0)


# ------------------------------------------------------------ 001 §7.2: the linear layer

def test_001_linear_layer_gradients():
    """y = Wx + b: ∂L/∂W = outer(g, x), ∂L/∂b = g, ∂L/∂x = Wᵀ g for an upstream gradient g."""
    rng = np.random.default_rng(1)
    Wn, xn, bn, g = rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=3), \
        rng.normal(size=3)
    W, x, b = (cr.tensor(a, requires_grad=True) for a in (Wn, xn, bn))
    (W @ x + b).backward(cr.tensor(g))
    close(W.grad, np.outer(g, xn), rtol=0, atol=0)
    close(b.grad, g, rtol=0, atol=0)
    close(x.grad, Wn.T @ g, rtol=1e-15)


# ------------------------------------------------------- 003 §7: Jacobians, y = σ(Ax)

def test_003_jacobian_of_sigmoid_of_Ax_is_diag_times_A():
    rng = np.random.default_rng(2)
    A = rng.normal(size=(3, 4))
    xn = rng.normal(size=4)
    jac = cr.jacrev(lambda x: cr.sigmoid(cr.tensor(A) @ x))(cr.tensor(xn))
    u = A @ xn
    expected = np.diag(text_sigmoid_derivative(u)) @ A
    close(jac, expected, rtol=1e-14)
    # ∇x z = J_g(x)ᵀ ∇u f(u) for z = f(g(x)), f(u) = Σ u², g(x) = σ(Ax)
    x = cr.tensor(xn, requires_grad=True)
    (cr.sigmoid(cr.tensor(A) @ x) ** 2).sum().backward()
    close(x.grad, expected.T @ (2 / (1 + np.exp(-u))), rtol=1e-14)


# ------------------------------------------------------------ 001 §9.2: gradient clipping

def text_clip_gradients(gradients: list[np.ndarray], max_norm: float = 1.0) -> list[np.ndarray]:
    total_norm = np.sqrt(sum(np.sum(g ** 2) for g in gradients))
    if total_norm > max_norm:
        gradients = [g * (max_norm / total_norm) for g in gradients]
    return gradients


@pytest.mark.parametrize("scale", [0.01, 50.0])
def test_001_clip_gradients_as_the_text_and_as_torch(scale):
    rng = np.random.default_rng(3)
    grads = [rng.normal(size=(4, 3)) * scale, rng.normal(size=5) * scale]
    params = [cr.zeros(*g.shape, dtype=cr.float64, requires_grad=True) for g in grads]
    tparams = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
    for p, tp, g in zip(params, tparams, grads):
        p.grad = cr.tensor(g)
        tp.grad = torch.tensor(g)
    total = cr.nn.utils.clip_grad_norm_(params, max_norm=1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tparams, max_norm=1.0)
    close(total, ttotal, rtol=1e-15)
    for p, tp, expected in zip(params, tparams, text_clip_gradients(grads)):
        close(p.grad, tp.grad, rtol=1e-15)
        close(p.grad, expected, rtol=1e-6)   # torch divides by ‖g‖ + 1e-6, the text by ‖g‖


# ------------------------------------------------ 003 §10: the 4-layer numeric example

def four_layer_torch() -> dict[str, float]:
    W = [torch.tensor(w, dtype=torch.float64, requires_grad=True) for w in (1.0, 2.0, 1.0, 1.0)]
    b = [torch.tensor(0.0, dtype=torch.float64, requires_grad=True) for _ in range(4)]
    a, us = torch.tensor(2.0, dtype=torch.float64), []
    for Wi, bi, phi in zip(W, b, (None, None, torch.tanh, None)):
        u = Wi * a + bi
        u.retain_grad()
        us.append(u)
        a = phi(u) if phi else u
    loss = 0.5 * (a - 10) ** 2
    loss.backward()
    values = {"L": loss.item()}
    for i in range(4):
        values[f"δ{i + 1}"] = us[i].grad.item()
        values[f"∂L/∂W{i + 1}"] = W[i].grad.item()
        values[f"∂L/∂b{i + 1}"] = b[i].grad.item()
    values["W4 after"] = 1.0 - 0.1 * values["∂L/∂W4"]
    return values


def test_003_four_layer_every_value_against_torch_and_closed_form():
    example = load_example("deep_network_deltas")
    ours = example.with_chainrule()
    theirs = four_layer_torch()
    assert set(ours) == set(theirs)
    for name in theirs:
        assert ours[name] == pytest.approx(theirs[name], rel=1e-14), name
    t4 = math.tanh(4.0)
    d4 = t4 - 10
    d3 = d4 * (1 - t4 ** 2)
    closed = {"L": 0.5 * d4 ** 2, "δ4": d4, "∂L/∂W4": d4 * t4, "δ3": d3, "∂L/∂W3": 4 * d3,
              "δ2": d3, "∂L/∂W2": 2 * d3, "δ1": 2 * d3, "∂L/∂W1": 2 * 2 * d3,
              "∂L/∂b1": 2 * d3, "∂L/∂b2": d3, "∂L/∂b3": d3, "∂L/∂b4": d4,
              "W4 after": 1 - 0.1 * d4 * t4}
    for name, value in closed.items():
        assert ours[name] == pytest.approx(value, rel=1e-14), name
    # the values the README of the texts gives
    assert round(ours["L"], 4) == 40.5060
    assert round(ours["δ3"], 7) == -0.0120695
    assert round(ours["∂L/∂W3"], 7) == -0.0482778


def test_003_where_the_texts_numbers_come_from():
    """The text's δ3 ≈ −0.0126 follows from φ3'(4) = 1 − 0.9993² ≈ 0.0014; its L ≈ 40.02 does
    not follow from its own rounded numbers (½(0.9993 − 10)² = 40.506)."""
    assert round(1 - 0.9993 ** 2, 4) == 0.0014
    assert round(-9.0007 * 0.0014, 4) == -0.0126
    assert round(-0.0126 * 4, 4) == -0.0504
    assert round(0.5 * (0.9993 - 10) ** 2, 3) == 40.506


def test_deep_network_deltas_prints_the_texts_values_with_the_reasons(capsys):
    example = load_example("deep_network_deltas")
    assert example.main() == 0
    out = capsys.readouterr().out
    assert "L         text 40.02     exact 40.5060365      an arithmetic slip" in out
    assert "δ3        text -0.0126   exact -0.0120694555   from φ3'(4) rounded to 0.0014" in out
    assert "φ3'(4)    text 0.0014    exact 0.00134095068" in out
    # the docstring no longer blames the loss on φ3' rounding
    assert "slip in the arithmetic" in example.__doc__


# ----------------------------- 001 §3.1/§4.1 and 000: the one-hidden-layer networks, vs torch

def test_scalar_network_against_torch(capsys):
    example = load_example("one_hidden_layer_by_hand")
    hand = example.scalar_network()
    p = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True)
         for k, v in {"w1": 0.8, "b1": -0.3, "w2": 1.7, "b2": 0.1}.items()}
    loss = (p["w2"] * torch.sigmoid(p["w1"] * 1.5 + p["b1"]) + p["b2"] - 0.25) ** 2
    loss.backward()
    assert hand["L"] == pytest.approx(loss.item(), rel=1e-15)
    for name in ("w1", "b1", "w2", "b2"):
        assert hand[name] == pytest.approx(p[name].grad.item(), rel=1e-14), name
    assert example.report.failures == []


@pytest.mark.parametrize("output", ["linear", "sigmoid"])
def test_two_layer_matrix_network_against_torch(output, capsys):
    """The text's f2 'e.g. sigmoid, linear': step 2 (∂L/∂z2 = ∂L/∂y ⊙ f2'(z2)) is exercised
    only with the sigmoid output."""
    example = load_example("one_hidden_layer_by_hand")
    hand = example.matrix_network(output)
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(3, 1)), rng.normal(size=(2, 1))
    params = {name: t64(rng.normal(size=shape), grad=True)
              for name, shape in (("W1", (4, 3)), ("b1", (4, 1)), ("W2", (2, 4)), ("b2", (2, 1)))}
    y = params["W2"] @ torch.sigmoid(params["W1"] @ t64(x) + params["b1"]) + params["b2"]
    if output == "sigmoid":
        y = torch.sigmoid(y)
    loss = 0.5 * ((y - t64(t)) ** 2).sum()
    loss.backward()
    assert hand["L"] == pytest.approx(loss.item(), rel=1e-14)
    for name, tensor in params.items():
        close(hand[name], tensor.grad, rtol=1e-12, atol=1e-15)
    assert example.report.failures == []
    assert f"y = {'sigmoid(W2 h + b2)' if output == 'sigmoid' else 'W2 h + b2'}," \
        in capsys.readouterr().out


# -------------------------------------------------------------- 001 §11.1: RNN BPTT, vs torch

def test_rnn_bptt_by_hand_against_torch_rnn():
    example = load_example("rnn_bptt")
    p, xs, targets = example.make_problem()
    loss, grads = example.bptt_by_hand(p, xs, targets)
    rnn = torch.nn.RNN(example.N_IN, example.N_HIDDEN, nonlinearity="tanh").double()
    head = torch.nn.Linear(example.N_HIDDEN, example.N_OUT).double()
    with torch.no_grad():
        rnn.weight_ih_l0.copy_(t64(p["W_xh"]))
        rnn.weight_hh_l0.copy_(t64(p["W_hh"]))
        rnn.bias_ih_l0.copy_(t64(p["b_h"][:, 0]))
        rnn.bias_hh_l0.zero_()
        head.weight.copy_(t64(p["W_hy"]))
        head.bias.copy_(t64(p["b_y"][:, 0]))
    hidden, _ = rnn(t64(xs[:, :, 0]))
    tloss = 0.5 * ((head(hidden) - t64(targets[:, :, 0])) ** 2).sum()
    tloss.backward()
    assert loss == pytest.approx(tloss.item(), rel=1e-14)
    close(grads["W_xh"], rnn.weight_ih_l0.grad)
    close(grads["W_hh"], rnn.weight_hh_l0.grad)
    close(grads["b_h"][:, 0], rnn.bias_ih_l0.grad)
    close(grads["b_h"][:, 0], rnn.bias_hh_l0.grad)
    close(grads["W_hy"], head.weight.grad)
    close(grads["b_y"][:, 0], head.bias.grad)


# ---------------------------------------------------------- 001 §11.2: attention, vs torch

def test_attention_by_hand_against_torch():
    example = load_example("attention_backward")
    Q, K, V, dO = example.make_problem()
    hand = example.by_hand(Q, K, V, dO)
    q, k, v = t64(Q, True), t64(K, True), t64(V, True)
    weights = torch.softmax(q @ k / math.sqrt(Q.shape[1]), dim=1)
    weights.retain_grad()
    out = weights @ v
    out.backward(t64(dO))
    close(hand["A"], weights)
    close(hand["O"], out)
    close(hand["dA"], weights.grad)
    close(hand["dV"], v.grad)
    close(hand["dQ"], q.grad)
    close(hand["dK"], k.grad)
    close(hand["dS"], hand["dS_jacobian"], rtol=1e-12, atol=1e-15)
    # torch's fused attention, keys one per row
    q, k_rows, v = t64(Q, True), t64(K.T, True), t64(V, True)
    torch.nn.functional.scaled_dot_product_attention(q, k_rows, v).backward(t64(dO))
    close(hand["dQ"], q.grad)
    close(hand["dK"].T, k_rows.grad)
    close(hand["dV"], v.grad)


# ------------------------------------------------------ 001 §8.1, practice problem 4: mini CNN

def test_mini_cnn_tiny_case_exact_values():
    example = load_example("mini_cnn")
    X = np.arange(16.0).reshape(1, 1, 4, 4) / 10
    W = np.array([[[[1.0, -1.0], [0.5, 2.0]]]])
    G = np.array([[[[1.0, 0.0, -1.0], [2.0, 1.0, 0.0], [0.0, -2.0, 1.0]]]])
    dX, dW, db = example.conv_backward(X, W, G, padding=0)
    # by hand: ∂L/∂W[i, j] = Σ X[y+i, x+j]·G[y, x]
    close(dW[0, 0], [[0.3, 0.5], [1.1, 1.3]], rtol=1e-13)
    close(db, [2.0], rtol=0)
    close(dX[0, 0], [[1.0, -1.0, -1.0, 1.0], [2.5, 1.0, -1.5, -2.0],
                     [1.0, 2.5, 5.0, -1.0], [0.0, -1.0, -3.5, 2.0]], rtol=1e-13)
    x, w = t64(X, True), t64(W, True)
    (torch.nn.functional.conv2d(x, w) * t64(G)).sum().backward()
    close(dX, x.grad)
    close(dW, w.grad)


def test_mini_cnn_layer_against_torch():
    example = load_example("mini_cnn")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2, 3, 5, 5))
    W = rng.normal(size=(4, 3, 3, 3)) * 0.5
    b = rng.normal(size=4) * 0.1
    G = rng.normal(size=(2, 4, 5, 5))
    Y = example.conv_forward(X, W, b, padding=1)
    dX, dW, db = example.conv_backward(X, W, G * (Y > 0), padding=1)
    x, w, bias = t64(X, True), t64(W, True), t64(b, True)
    y = torch.nn.functional.conv2d(x, w, bias, padding=1)
    (torch.relu(y) * t64(G)).sum().backward()
    close(Y, y)
    close(dX, x.grad)
    close(dW, w.grad)
    close(db, bias.grad)


# -------------------------------------------- practice problem 2: a custom activation, vs torch

def test_custom_activation_derivatives_against_torch():
    example = load_example("custom_activation")
    xs = np.array([-3.0, -1.0, 0.0, 0.5, 2.0, 30.0])
    x = cr.tensor(xs, requires_grad=True)
    example.squareplus(x).sum().backward()
    tx = t64(xs, True)
    ty = ((tx + torch.sqrt(tx * tx + 4)) / 2).sum()
    (g,) = torch.autograd.grad(ty, tx, create_graph=True)
    close(x.grad, g, rtol=1e-15)
    (g2,) = torch.autograd.grad(g.sum(), tx)
    second = cr.grad(cr.grad(lambda t: example.squareplus(t).sum()))
    for i, v in enumerate(xs):
        assert second(cr.tensor(v, dtype=cr.float64)).item() == pytest.approx(
            g2[i].item(), rel=1e-13)


# ------------------------------------------- practice problem 3: gradient checking, vs torch

def test_gradient_checking_network_against_torch():
    example = load_example("gradient_checking")
    theta0 = np.random.default_rng(7).normal(size=sum(example.SIZES))
    right = example.backward_by_hand(theta0, lambda z: example.sigmoid(z) * (1 - example.sigmoid(z)))
    theta = t64(theta0, True)
    W1, b1, w2 = theta[:12].reshape(3, 4), theta[12:16], theta[16:]
    y = torch.sigmoid(t64(example.X) @ W1 + b1) @ w2
    ((y - t64(example.T)) ** 2).mean().backward()
    close(right, theta.grad)
    t = cr.tensor(theta0, requires_grad=True)
    example.loss_chainrule(t).backward()
    close(t.grad, theta.grad)
    passed, error = example.gradient_check(example.loss_numpy, theta0, theta.grad.numpy())
    assert passed and error < 1e-7


# ------------------------------------------ 001 §9: vanishing gradients, the numbers are real

@pytest.mark.parametrize("name", ["sigmoid", "relu, large init"])
def test_vanishing_and_exploding_gradients_match_torch(name):
    """The 1e-17 first-layer gradient of the sigmoid stack and the 1e12 ones of the large
    init are what PyTorch computes on the same weights, not a numerical artefact."""
    example = load_example("vanishing_gradients")
    build, _ = example.NETWORKS[name]
    cr.manual_seed(0)
    model = build()
    x, y = cr.randn(example.BATCH, example.IN), cr.randn(example.BATCH, 1)
    ((model(x) - y) ** 2).mean().backward()
    named = dict(model.named_parameters())
    tp = {n: t64(p.detach().numpy(), True) for n, p in named.items()}
    act = torch.sigmoid if name == "sigmoid" else torch.relu
    h = t64(x.numpy())
    for k in range(example.DEPTH):
        h = h @ tp[f"{2 * k}.weight"].T + tp[f"{2 * k}.bias"]
        if k < example.DEPTH - 1:
            h = act(h)
    ((h - t64(y.numpy())) ** 2).mean().backward()
    for n, p in named.items():
        ours = np.linalg.norm(p.grad.numpy().astype(np.float64))
        assert ours == pytest.approx(np.linalg.norm(tp[n].grad.numpy()), rel=1e-4), n
    first = np.linalg.norm(named["0.weight"].grad.numpy())
    assert (first < 1e-15) if name == "sigmoid" else (first > 1e12)


def test_vanishing_gradients_explains_the_layer_column(capsys):
    example = load_example("vanishing_gradients")
    assert example.main([]) == 0
    out = capsys.readouterr().out
    assert "0, 2, …, 38 are the 20 linear layers" in out


# ------------------------------------------------ 003 §5: e^{log((3x)²)} = 9x², also for x < 0

@pytest.mark.parametrize("x0", [-2.0, -0.4])
def test_003_four_nested_functions_negative_x(x0):
    """v = 9x² > 0 for every x ≠ 0, so the chain e^w · (1/v) · 2u · 3 = 18x holds for x < 0."""
    x = cr.tensor(x0, dtype=cr.float64, requires_grad=True)
    u = 3 * x
    v = u ** 2
    w = cr.log(v)
    z = cr.exp(w)
    for t in (u, v, w):
        t.retain_grad()
    z.backward()
    assert z.item() == pytest.approx(9 * x0 ** 2, rel=1e-14)
    assert x.grad.item() == pytest.approx(18 * x0, rel=1e-14)
    # each stage's gradient is the product of the local slopes above it
    assert w.grad.item() == pytest.approx(math.exp(math.log(9 * x0 ** 2)), rel=1e-14)
    assert v.grad.item() == pytest.approx(1.0, rel=1e-14)          # e^w · 1/v = 1
    assert u.grad.item() == pytest.approx(2 * 3 * x0, rel=1e-14)   # · 2u


# ------------------------------------------------------------ examples/_report.py itself

def test_report_flags_wrong_values_and_shapes(capsys):
    load_example("deep_network_deltas")        # puts examples/ on sys.path
    from _report import Report

    report = Report()
    assert report.check("right", 1.0, cr.tensor(1.0, dtype=cr.float64))
    assert not report.check("wrong", 1.0, cr.tensor(1.0 + 1e-6, dtype=cr.float64))
    assert not report.check("shape", np.zeros(3), cr.zeros(1, 3, dtype=cr.float64))
    assert not report.check("missing", 1.0, None)
    assert not report.expect("rounded", 0.00134095068, 0.0014, 8)
    assert report.failures == ["wrong", "shape", "missing", "rounded"]
    assert report.finish("done") == 1
    out = capsys.readouterr().out
    assert "MISMATCH: shapes (3,) and (1, 3)" in out
    assert "FAILED (4): wrong, shape, missing, rounded" in out


def test_gradient_checking_counts_the_parameters_it_checks(capsys):
    """The script said '19 parameters' for θ = (W1: 3×4, b1: 4, w2: 4), which has 20."""
    example = load_example("gradient_checking")
    assert example.main() == 0
    out = capsys.readouterr().out
    assert sum(example.SIZES) == 20
    assert "small network's loss (20 parameters)" in out


def test_custom_activation_formula_names_its_constant():
    """The printed formula used an undefined 'b'; the script's b is 4."""
    example = load_example("custom_activation")
    assert example.squareplus.formula == "d/dx squareplus(x) = (1 + x / sqrt(x^2 + 4)) / 2"
