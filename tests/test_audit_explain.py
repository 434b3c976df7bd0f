"""Audit of the chain-rule explanation tools: explain(), draw(), the CLI parser, GradientMonitor.

Each test pins down a problem found by probing (wrong text or numbers, unclear errors).
"""

from __future__ import annotations

import json
import re
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule.diagnostics import GradientMonitor, GradientWarning
from chainrule.explain import Explanation
from chainrule.explain._math import name, text_to_tex
from chainrule.explain.cli import main as cli_main


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli_main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _header(capsys: pytest.CaptureFixture[str], expr: str) -> str:
    code, out, err = _cli(capsys, "--at", "x=1.5", "--", expr)
    assert code == 0, err
    return out.splitlines()[1]


# --------------------------------------------------------------------------- precedence

@pytest.mark.parametrize("expr, shown", [
    ("--x", "z = −(−x)"),
    ("x*-x", "z = x·(−x)"),
    ("x-(-x)", "z = x − (−x)"),
    ("x+(-x)", "z = x + (−x)"),
    ("2*-x", "z = 2·(−x)"),
    ("sqrt(x)**3", "z = (√x)³"),
    ("-x**2", "z = −x²"),
    ("(-x)**2", "z = (−x)²"),
    ("sqrt(x**2)", "z = √(x²)"),
])
def test_expressions_are_written_with_the_parentheses_they_need(
        capsys: pytest.CaptureFixture[str], expr: str, shown: str) -> None:
    assert _header(capsys, expr).endswith(shown)


# --------------------------------------------------------------------------- LaTeX

def test_latex_of_op_formulas_has_no_lost_characters() -> None:
    from chainrule.ops import registry

    lost = [(op.name, f) for op in registry.all_ops() for f in op.formulas
            if f and text_to_tex(f).count("?") > f.count("?")]
    assert lost == []


def test_latex_spells_half_greek_and_accents() -> None:
    assert text_to_tex("1 if x > y (½ if equal)") == r"\text{1 if x > y ($\frac{1}{2}$ if equal)}"
    assert r"$\beta$" in text_to_tex("σ(βx)")
    assert r"$\bar{A}$" in text_to_tex("Ā = ½(S + Sᵀ)")
    assert r"$\hat{x}$" in text_to_tex("x̂")
    assert r"$\neq$" in text_to_tex("x ≠ y")


def test_maximum_explanation_latex_keeps_the_half(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "maximum(x, y)", "--at", "x=1,y=2", "--format", "latex")
    assert code == 0
    assert "?" not in out
    assert r"$\frac{1}{2}$ if equal" in out


@pytest.mark.parametrize("user, tex", [
    ("ζ", r"\zeta"),
    ("ρ2", r"\rho_{2}"),
    ("a^b", r"\text{a\^{}b}"),
    ("ŷ", r"\text{$\hat{y}$}"),
])
def test_user_names_are_valid_latex(user: str, tex: str) -> None:
    assert name(user).t == tex


# --------------------------------------------------------------------------- layers and fan-out

def test_one_value_in_two_roles_is_not_a_linear_layer() -> None:
    x = cr.tensor(1.5, dtype=cr.float64, requires_grad=True, name="x")
    y = cr.tensor(2.0, dtype=cr.float64, requires_grad=True, name="y")
    e = cr.explain(x * y + x)
    text = str(e)
    assert "linear unit" not in text
    backward = text.split("Backward pass")[1].split("Gradients")[0]
    steps = [ln.strip() for ln in backward.splitlines() if ln.strip().startswith("∂z/∂x +=")]
    assert steps == ["∂z/∂x += 1", "∂z/∂x += ∂z/∂u · y = 1 · 2 = 2"]
    assert "∂z/∂x = 2 + 1 = 3" in text
    assert float(e.gradients["x"]) == 3.0 and float(e.gradients["y"]) == 1.5


def test_square_plus_itself_each_step_once() -> None:
    x = cr.tensor(1.5, dtype=cr.float64, requires_grad=True, name="x")
    e = cr.explain(x * x + x)
    data = e.to_dict()
    assert len(data["steps"]) == 4  # add → (x·x, x); mul → (x, x)
    assert sum(ln.count("+=") for ln in str(e).splitlines()) == 3
    assert float(e.gradients["x"]) == 4.0


# --------------------------------------------------------------------------- matrix forms

def _backward_lines(e: Explanation) -> list[str]:
    return str(e).split("Backward pass")[1].split("Gradients")[0].splitlines()


def _line(lines: list[str], start: str) -> str:
    return next(ln.strip() for ln in lines if ln.strip().startswith(start))


def test_vector_matrix_product_rules_and_shapes() -> None:
    a = cr.tensor(np.arange(1.0, 5.0), requires_grad=True, name="a")
    B = cr.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True, name="B")
    a2, B2 = a.detach().numpy(), B.detach().numpy()
    e = cr.explain((a @ B).sum(), layers=False)
    lines = _backward_lines(e)
    da = _line(lines, "∂z/∂a =")
    dB = _line(lines, "∂z/∂B =")
    assert "B·(∂z/∂u)" in da and "shapes (4×1) = (4×3)·(3×1)" in da
    assert "a·(∂z/∂u)ᵀ" in dB and "shapes (4×3) = (4×1)·(1×3)" in dB
    np.testing.assert_allclose(e.gradients["a"], B2.sum(1))
    np.testing.assert_allclose(e.gradients["B"], np.outer(a2, np.ones(3)))


def test_vector_dot_product_has_no_bogus_shapes_note() -> None:
    a = cr.tensor([1.0, 2.0], requires_grad=True, name="a")
    b = cr.tensor([3.0, 4.0], requires_grad=True, name="b")
    e = cr.explain(a @ b)
    assert "shapes" not in str(e)


def test_batched_matmul_says_the_batch_is_summed() -> None:
    cr.manual_seed(0)
    lin = cr.nn.Linear(3, 2)
    e = cr.explain(lin(cr.randn(2, 5, 3)).sum(), wrt=lin)
    w = _line(_backward_lines(e), "∂L/∂weight =")
    assert "shapes (2×3) = (2×2×5)·(2×5×3); summed over the batch axes" in w


def test_vector_times_weight_matrix_uses_column_vectors() -> None:
    W = cr.tensor(np.ones((4, 3)), requires_grad=True, name="W")
    a = cr.tensor(np.arange(4.0), name="a")
    e = cr.explain((a @ W).sum())
    lines = _backward_lines(e)
    assert any("∂L/∂W = a·δ1ᵀ" in ln for ln in lines)
    assert any("∂L/∂W = a·δᵀ" in ln for ln in lines)  # the layer's rule says the same
    assert "(4×3) = (4×1)·(1×3)" in _line(lines, "∂L/∂W =")


# --------------------------------------------------------------------------- custom ops

def test_custom_op_in_a_scalar_graph_is_written_as_the_chain_rule() -> None:
    @cr.custom_op(formula="d/dx softsign(x) = 1 / (1 + |x|)^2")
    def softsign(x: np.ndarray) -> np.ndarray:
        return x / (1 + np.abs(x))

    @softsign.defvjp
    def _(g: cr.Tensor, ans: cr.Tensor, x: cr.Tensor) -> cr.Tensor:
        return g / (1 + cr.abs(x)) ** 2

    x = cr.tensor(1.5, dtype=cr.float64, requires_grad=True, name="x")
    text = str(cr.explain(cr.sin(softsign(x))))
    assert "vjp_" not in text
    assert "dz/dx = dz/du · du/dx = 0.825336 · 0.16 = 0.132054" in text
    alone = str(cr.explain(softsign(x)))
    assert "dz/dx = dz/dx" not in alone
    assert "dz/dx = 0.16" in alone


def test_gradient_line_has_no_note_repeating_itself(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "x/y", "--at", "x=1.5,y=2")
    assert code == 0
    assert "(∂z/∂x)" not in out
    assert "  ∂z/∂x = 0.5\n" in out


# --------------------------------------------------------------------------- argument checks

@pytest.mark.parametrize("digits", ["3", 2.5, True])
def test_explain_digits_must_be_an_integer(digits: object) -> None:
    x = cr.tensor(1.5, requires_grad=True)
    with pytest.raises(ValueError, match="explain: digits must be an integer"):
        cr.explain(x * 2, digits=digits)  # type: ignore[arg-type]


@pytest.mark.parametrize("kw, message", [
    ({"digits": -1}, "draw: digits must be an integer of at least 1"),
    ({"digits": 0}, "draw: digits must be an integer of at least 1"),
    ({"rankdir": "XX"}, "draw: rankdir must be one of LR, TB, BT, RL"),
])
def test_draw_checks_its_arguments(kw: dict, message: str) -> None:
    pytest.importorskip("graphviz")
    x = cr.tensor(1.5, requires_grad=True, name="x")
    with pytest.raises(ValueError, match=message):
        cr.draw(cr.sin(x), show_grad=True, **kw)


def test_json_of_a_fixed_explanation_is_valid() -> None:
    x = cr.tensor(1.5, dtype=cr.float64, requires_grad=True, name="x")
    data = json.loads(cr.explain(x * -x).to_json())
    assert data["title"].endswith("z = x·(−x)")
    assert data["gradients"]["x"]["value"] == -3.0


# --------------------------------------------------------------------------- GradientMonitor

class _WithUnused(cr.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = cr.nn.Linear(3, 4)
        self.unused = cr.nn.Linear(4, 4)
        self.fc2 = cr.nn.Linear(4, 1)

    def forward(self, x: cr.Tensor) -> cr.Tensor:
        return self.fc2(cr.tanh(self.fc1(x)))


def test_monitor_does_not_call_a_layer_without_gradients_vanishing() -> None:
    cr.manual_seed(0)
    model = _WithUnused()
    monitor = GradientMonitor(model, patience=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradientWarning)
        for _ in range(4):
            model.zero_grad()
            model(cr.randn(5, 3)).pow(2).mean().backward()
            monitor.step()
    assert monitor.warnings == []
    assert monitor.status("unused") == "no grad"
    report = monitor.report()
    row = next(ln for ln in report.splitlines() if ln.strip().startswith("unused"))
    assert re.fullmatch(r"\s*unused\s+—\s+—\s+—\s+—\s+—\s+0\s+no grad", row)
    prow = next(ln for ln in monitor.report(per="parameter").splitlines()
                if ln.strip().startswith("unused.weight"))
    assert prow.endswith("no grad")
    assert monitor.status("fc1") == "ok"


def test_monitor_rejects_unknown_stat_and_per() -> None:
    model = cr.nn.Sequential(cr.nn.Linear(2, 2))
    monitor = GradientMonitor(model)
    model(cr.randn(3, 2)).sum().backward()
    monitor.step()
    with pytest.raises(ValueError, match="unknown stat 'bogus'; use one of grad_norm"):
        monitor.history("bogus")
    with pytest.raises(ValueError, match="per must be 'layer' or 'parameter'"):
        monitor.history(per="layers")
    with pytest.raises(ValueError, match="per must be 'layer' or 'parameter'"):
        monitor.report(per="param")


# --------------------------------------------------------------------------- large graphs, drawing

def test_explain_a_deep_scalar_chain_does_not_exhaust_the_recursion() -> None:
    x = cr.tensor(0.5, dtype=cr.float64, requires_grad=True, name="x")
    y = x
    for _ in range(1200):
        y = cr.sin(y)
    e = cr.explain(y)
    text = str(e)
    expected = 1.0
    v = 0.5
    for _ in range(1200):
        expected *= np.cos(v)
        v = np.sin(v)
    np.testing.assert_allclose(e.gradients["x"], expected, rtol=1e-12)
    assert "Gradients" in text


def test_draw_fan_out_edge_shows_the_summed_contribution() -> None:
    pytest.importorskip("graphviz")
    x = cr.tensor(1.5, dtype=cr.float64, requires_grad=True, name="x")
    source = cr.draw(cr.sin(x * x) + x, show_grad=True).source
    # d/dx sin(x·x) = 2x·cos(x²) = 3·cos(2.25), the two terms of the mul's edge added up
    assert f"label=\"{'−1.885'} (2 terms)\"" in source


def test_markdown_does_not_pass_a_name_through_as_html() -> None:
    x = cr.tensor(1.5, requires_grad=True, name="<img src=x onerror=alert(1)>")
    md = cr.explain(cr.sin(x)).to_markdown()
    assert "<img" not in md
    assert "&lt;img src=x onerror=alert(1)>" in md


def test_cli_names_the_output_when_the_usual_names_are_taken(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "f*z*g*h*out", "--at", "z=1,f=2,g=1,h=1,out=1")
    assert code == 0, err
    assert "of z′ = f·z·g·h·out" in out
    assert "∂z′/∂f = 1" in out and "∂z′/∂z = 2" in out


def test_latex_block_titles_are_escaped_or_math() -> None:
    cr.manual_seed(0)
    model = cr.nn.Sequential(cr.nn.Linear(3, 4), cr.nn.Tanh(), cr.nn.Linear(4, 2))
    tex = cr.explain(model(cr.randn(5, 3)).pow(2).mean(), wrt=model).to_latex()
    assert all(ord(c) < 128 for c in tex)
    assert r"\intertext{${u_{2}}^{2}$}" in tex
    with cr.name_scope("my_block"):
        x = cr.tensor(2.0, requires_grad=True, name="x")
        y = cr.sin(x)
    tex = cr.explain(y * 2).to_latex()
    assert r"\intertext{my\_block}" in tex
    assert "my_block" not in tex


# --------------------------------------------------------------------------- parser hints

@pytest.mark.parametrize("expr, hint", [
    ("2x", "write products with *, e.g. 2*x (there is no implicit multiplication)"),
    ("2.5x", "write products with *"),
    ("x y", "write products with *"),
    ("2(x+1)", "write products with *, e.g. 2*(x + 1) (column 1)"),
    ("sin x", "call functions with parentheses, e.g. sin(x)"),
    ("x+", "an operand is missing at the end"),
])
def test_cli_syntax_errors_say_what_to_write(capsys: pytest.CaptureFixture[str], expr: str,
                                             hint: str) -> None:
    code, out, err = _cli(capsys, "--at", "x=1", "--", expr)
    assert code == 2 and out == ""
    assert err.startswith("chainrule explain: error: ") and err.count("\n") == 1
    assert hint in err


def test_scientific_notation_is_no_implicit_product(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(capsys, "3e2*x", "--at", "x=1")
    assert code == 0, err
    assert "dz/dx = 300" in out
