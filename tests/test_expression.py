"""Tests for the safe expression parser behind ``chainrule explain``."""

from __future__ import annotations

import ast
import builtins
import math
import os
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainrule.explain import expression as expr_mod
from chainrule.explain.expression import (
    CONSTANTS,
    FUNCTION_NAMES,
    Expression,
    ExpressionError,
    parse_expression,
    parse_point,
)

NP_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sin": np.sin,
    "cos": np.cos,
    "exp": np.exp,
    "log": np.log,
    "sqrt": np.sqrt,
    "tanh": np.tanh,
    "sum": np.sum,
    "mean": np.mean,
    "maximum": np.maximum,
    "atan2": np.arctan2,
    "pow": np.power,
}


def balanced_sum(leaves: int) -> str:
    """A sum of ``leaves`` terms whose tree depth is only about log2(leaves)."""
    terms = ["x"] * leaves
    while len(terms) > 1:
        pairs = [f"({a}+{b})" for a, b in zip(terms[::2], terms[1::2])]
        terms = pairs + (terms[-1:] if len(terms) % 2 else [])
    return terms[0]


def evaluate(text: str, **env: Any) -> Any:
    return parse_expression(text).evaluate(env, functions=NP_FUNCTIONS)


# --------------------------------------------------------------------------- hostile

HOSTILE = [
    pytest.param("__import__", id="dunder-name"),
    pytest.param("__builtins__", id="dunder-builtins"),
    pytest.param("_x + 1", id="underscore-name"),
    pytest.param("__import__('os').system('ls')", id="import-os-system"),
    pytest.param("__import__('os')", id="import-call"),
    pytest.param("x.__class__", id="attribute-dunder"),
    pytest.param("().__class__.__bases__", id="tuple-class-bases"),
    pytest.param("().__class__.__bases__[0].__subclasses__()", id="subclasses-escape"),
    pytest.param("x.y", id="attribute-plain"),
    pytest.param("sin.__call__(1)", id="function-attribute"),
    pytest.param("x[0]", id="subscript"),
    pytest.param("x[1:2]", id="slice"),
    pytest.param("lambda: 0", id="lambda"),
    pytest.param("(lambda: 0)()", id="lambda-call"),
    pytest.param("f()()", id="call-of-call"),
    pytest.param("sin(x)(y)", id="call-of-result"),
    pytest.param("[x for x in y]", id="list-comprehension"),
    pytest.param("{x: 1 for x in y}", id="dict-comprehension"),
    pytest.param("sum(x for x in y)", id="generator-expression"),
    pytest.param("'abc'", id="string"),
    pytest.param("b'abc'", id="bytes"),
    pytest.param("f'{x}'", id="f-string"),
    pytest.param("eval('1')", id="eval"),
    pytest.param("exec('1')", id="exec"),
    pytest.param("open('f')", id="open"),
    pytest.param("getattr(x, 'y')", id="getattr"),
    pytest.param("sin(x=1)", id="keyword-arg"),
    pytest.param("sum(x, axis=0)", id="keyword-arg-2"),
    pytest.param("sin(*x)", id="starred-arg"),
    pytest.param("sin(**x)", id="double-starred-arg"),
    pytest.param("(x := 1)", id="walrus"),
    pytest.param("x if y else z", id="conditional"),
    pytest.param("x < y", id="comparison"),
    pytest.param("x and y", id="boolean-and"),
    pytest.param("not x", id="boolean-not"),
    pytest.param("x // y", id="floordiv"),
    pytest.param("x % y", id="modulo"),
    pytest.param("x << 2", id="shift"),
    pytest.param("~x", id="invert"),
    pytest.param("[1, 2]", id="list"),
    pytest.param("(1, 2)", id="tuple"),
    pytest.param("{1: 2}", id="dict"),
    pytest.param("True", id="bool-literal"),
    pytest.param("None", id="none-literal"),
    pytest.param("...", id="ellipsis"),
    pytest.param("1j", id="complex"),
    pytest.param("9**9**9", id="power-tower-9"),
    pytest.param("10**10**10", id="power-tower-10"),
    pytest.param("x**(2**3)", id="power-tower-in-exponent"),
    pytest.param("2**100000", id="huge-exponent"),
    pytest.param("x**-100000", id="huge-negative-exponent"),
    pytest.param("x**(1000*1000)", id="huge-exponent-product"),
    pytest.param("(10**300)**2", id="constant-overflow"),
    pytest.param("1e999", id="infinite-literal"),
    pytest.param("1/0", id="constant-division-by-zero"),
    pytest.param("10000000000000000", id="huge-int-literal"),
    pytest.param("9" * 999, id="huge-int-999-digits"),
    pytest.param("x + " * 250 + "x", id="1001-chars"),
    pytest.param("(" * 10_000 + "x" + ")" * 10_000, id="10000-nested-parens"),
    pytest.param("(" * 60 + "x" + ")" * 60, id="60-nested-parens"),
    pytest.param("-" * 500 + "x", id="deep-unary-minus"),
    pytest.param("sin(" * 60 + "x" + ")" * 60, id="deep-calls"),
    pytest.param(balanced_sum(101), id="too-many-nodes"),
    pytest.param("+".join(["x"] * 60), id="deep-sum-chain"),
    pytest.param("sin", id="bare-function-name"),
    pytest.param("sin(x, y)", id="wrong-arity"),
    pytest.param("sum(x, y)", id="non-literal-axis"),
    pytest.param("x\x00", id="null-byte"),
    pytest.param("ｘ", id="non-ascii"),
    pytest.param("await x", id="await"),
    pytest.param("(yield x)", id="yield"),
    pytest.param("x +", id="syntax-error"),
    pytest.param("", id="empty"),
    pytest.param("import os", id="statement"),
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_is_refused(text: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    message = str(info.value)
    assert message
    assert "\n" not in message
    assert len(message) < 200


def test_enough_hostile_cases() -> None:
    assert len(HOSTILE) >= 25


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_input_executes_nothing(text: str, tmp_path: Path) -> None:
    calls: list[str] = []
    real_compile = builtins.compile

    def spy(name: str) -> Callable[..., Any]:
        def fake(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            raise AssertionError(f"{name} must not be called")

        return fake

    def ast_only_compile(
        source: Any, filename: Any, mode: str, flags: int = 0, *a: Any, **kw: Any
    ) -> Any:
        if not flags & ast.PyCF_ONLY_AST:
            calls.append("compile-to-code")
            raise AssertionError("compiling to code is not allowed")
        return real_compile(source, filename, mode, flags, *a, **kw)

    marker = tmp_path / "pwned"
    source = text.replace("'ls'", repr(f"touch {marker}"))
    # Patched by hand (not monkeypatch, which itself imports) for the parse call only.
    targets: list[tuple[Any, str, Any]] = [
        (builtins, name, spy(name))
        for name in ("eval", "exec", "__import__", "open", "input", "breakpoint")
    ]
    targets += [(builtins, "compile", ast_only_compile), (os, "system", spy("os.system"))]
    saved = [(obj, name, getattr(obj, name)) for obj, name, _ in targets]
    error: ExpressionError | None = None
    try:
        for obj, name, replacement in targets:
            setattr(obj, name, replacement)
        try:
            parse_expression(source)
        except ExpressionError as exc:
            error = exc
    finally:
        for obj, name, original in saved:
            setattr(obj, name, original)
    assert error is not None
    assert calls == []
    assert not marker.exists()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x.__class__", "attribute access is not allowed: x.__class__"),
        ("__import__('os').system('ls')", "attribute access is not allowed"),
        ("__import__('os')", "starting with '_'"),
        ("eval('1')", "function 'eval' is not allowed"),
        ("x[0]", "subscript is not allowed: x[0]"),
        ("lambda: 0", "lambda is not allowed"),
        ("sin(x=1)", "keyword argument is not allowed: x=1"),
        ("'s'", "string literal is not allowed"),
        ("9**9**9", "tower of constant powers"),
        ("2**100000", "exponent is too large"),
        ("10000000000000000", "integer literal is too large"),
        ("x + " * 250 + "x", "expression is too long"),
        ("(" * 10_000 + "x" + ")" * 10_000, "expression is too long"),
        ("(" * 60 + "x" + ")" * 60, "nested too deeply"),
        ("-" * 500 + "x", "nested too deeply"),
        (balanced_sum(101), "too large (max 200 nodes)"),
        ("sin(x, y)", "sin() takes 1 argument, got 2"),
        ("x < y", "comparison is not allowed: x < y"),
    ],
)
def test_refusal_messages(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError, match=None) as info:
        parse_expression(text)
    assert fragment in str(info.value)


def test_error_reports_column() -> None:
    with pytest.raises(ExpressionError) as info:
        parse_expression("x + y.z")
    assert info.value.column == 5
    assert str(info.value).endswith("(column 5)")
    assert isinstance(info.value, ValueError)


def test_deep_parens_report_nesting_even_without_length_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(expr_mod, "MAX_LENGTH", 10**7)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse_expression("(" * 10_000 + "x" + ")" * 10_000)


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("-" * 300_000 + "x", id="unary-chain"),
        pytest.param("x+" * 100_000 + "x", id="binary-chain"),
    ],
)
def test_parser_blowups_are_reported_as_nesting(text: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # With the length and depth limits lifted the parser itself fails with
    # RecursionError/MemoryError; both must become ExpressionError.
    monkeypatch.setattr(expr_mod, "MAX_LENGTH", 10**7)
    monkeypatch.setattr(expr_mod, "MAX_DEPTH", 10**7)
    monkeypatch.setattr(expr_mod, "MAX_NODES", 10**7)
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse_expression(text)


@pytest.mark.parametrize("exc", [RecursionError, MemoryError])
def test_parser_exceptions_are_mapped(
    exc: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise exc()

    monkeypatch.setattr(ast, "parse", boom)
    with pytest.raises(ExpressionError, match="^expression is nested too deeply$"):
        parse_expression("x")


def test_limits_are_inclusive() -> None:
    parse_expression("x**1000")
    parse_expression("x**-1000")
    parse_expression(str(10**15))
    parse_expression("x" * 1000)  # a 1000-character name
    parse_expression(balanced_sum(100))  # 199 nodes
    parse_expression("(" * 49 + "x" + ")" * 49)
    parse_expression("+".join(["x"] * 50))


def test_non_str_input_is_type_error() -> None:
    with pytest.raises(TypeError):
        parse_expression(b"x")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- evaluation


def test_sin_of_square() -> None:
    assert evaluate("sin(x**2)", x=1.5) == pytest.approx(np.sin(2.25))


def test_polynomial_power() -> None:
    assert evaluate("(x**2+1)**3", x=1.5) == pytest.approx((1.5**2 + 1) ** 3)


def test_exp_log() -> None:
    assert evaluate("exp(log((3*x)**2))", x=1.5) == pytest.approx((3 * 1.5) ** 2)


def test_two_variables() -> None:
    e = parse_expression("x*y + sin(y) - x/y")
    assert e.variables == ("x", "y")
    assert e.evaluate({"x": 2.0, "y": 0.5}, functions=NP_FUNCTIONS) == pytest.approx(
        1.0 + np.sin(0.5) - 4.0
    )


def test_metadata() -> None:
    e = parse_expression("  maximum(zeta, alpha) * exp(beta) + pi*e  ")
    assert isinstance(e, Expression)
    assert e.text == "maximum(zeta, alpha) * exp(beta) + pi*e"
    assert e.variables == ("alpha", "beta", "zeta")
    assert e.functions == ("exp", "maximum")
    assert "Expression(" in repr(e)


def test_constants() -> None:
    assert evaluate("pi * e") == pytest.approx(math.pi * math.e)
    assert set(CONSTANTS) == {"pi", "e"}
    assert parse_expression("2*pi*r").variables == ("r",)


def test_whitelist_contents() -> None:
    for name in ("sin", "logsumexp", "softmax", "leaky_relu", "atan2", "pow", "norm"):
        assert name in FUNCTION_NAMES
    for name in ("eval", "exec", "open", "getattr", "__import__", "compile"):
        assert name not in FUNCTION_NAMES


def test_numpy_arrays_and_matmul() -> None:
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    v = np.array([1.0, -1.0])
    assert evaluate("sum((A @ v)**2)", A=a, v=v) == pytest.approx(1.0 + 1.0)
    assert np.allclose(evaluate("sum(A, 0)", A=a), [4.0, 6.0])
    assert np.allclose(evaluate("sum(A, -1)", A=a), [3.0, 7.0])


def test_axis_stays_int(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[Any] = []

    def fake_sum(x: Any, axis: Any = None) -> Any:
        seen.append(axis)
        return x

    parse_expression("sum(x, -1) + sum(x, 2)").evaluate({"x": 1.0}, functions={"sum": fake_sum})
    assert seen == [-1, 2]
    assert all(type(a) is int for a in seen)


def test_literals_are_floats() -> None:
    value = evaluate("x**2 + 1", x=3)
    assert type(value) is float and value == 10.0
    assert type(evaluate("7")) is float


def test_unary_operators() -> None:
    assert evaluate("-x + +x - -x", x=2.0) == pytest.approx(2.0)


def test_on_node_order_and_texts() -> None:
    events: list[tuple[str, Any]] = []
    e = parse_expression("sin(x**2)")
    result = e.evaluate(
        {"x": 1.5}, functions=NP_FUNCTIONS, on_node=lambda t, v: events.append((t, v))
    )
    assert [t for t, _ in events] == ["x ** 2", "sin(x ** 2)"]
    assert events[0][1] == pytest.approx(2.25)
    assert events[-1][1] == result


def test_on_node_post_order_with_two_variables() -> None:
    texts: list[str] = []
    parse_expression("exp(x*y) + -y / (1 + 2)").evaluate(
        {"x": 1.0, "y": 2.0},
        functions=NP_FUNCTIONS,
        on_node=lambda t, v: texts.append(t),
    )
    # Pure-literal sub-expressions ("1 + 2") are not reported; "+x" never is.
    assert texts == ["x * y", "exp(x * y)", "-y", "-y / (1 + 2)", "exp(x * y) + -y / (1 + 2)"]


def test_on_node_not_called_for_constant_expression() -> None:
    texts: list[str] = []
    value = parse_expression("2**3 + 1").evaluate({}, on_node=lambda t, v: texts.append(t))
    assert value == 9.0
    assert texts == []


def test_missing_variable() -> None:
    with pytest.raises(ExpressionError, match="missing value for variable 'y'"):
        parse_expression("x + y").evaluate({"x": 1.0})
    with pytest.raises(ExpressionError, match="variables 'x', 'y'"):
        parse_expression("x + y").evaluate({})


def test_missing_function_in_override() -> None:
    with pytest.raises(ExpressionError, match="function 'gelu' is not available"):
        parse_expression("gelu(x)").evaluate({"x": 1.0}, functions=NP_FUNCTIONS)


def test_runtime_arithmetic_error() -> None:
    with pytest.raises(ExpressionError, match="ZeroDivisionError"):
        evaluate("1 / x", x=0.0)


def test_default_functions_come_from_chainrule(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("chainrule")
    fake.sin = lambda v: ("cr.sin", v)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "chainrule", fake)
    assert parse_expression("sin(x)").evaluate({"x": 2.0}) == ("cr.sin", 2.0)
    with pytest.raises(ExpressionError, match="'cos' is not available in chainrule"):
        parse_expression("cos(x)").evaluate({"x": 2.0})


def test_parse_does_not_import_chainrule_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = types.ModuleType("chainrule")
    monkeypatch.setitem(sys.modules, "chainrule", fake)
    parse_expression("mish(x) + softmax(x, -1)")  # lookup is lazy: no error until evaluate


# --------------------------------------------------------------------------- points


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x=1.5", {"x": 1.5}),
        ("x=1.5,y=2", {"x": 1.5, "y": 2.0}),
        (" x = -1e-3 , y = +.5 ", {"x": -0.001, "y": 0.5}),
        ("x=[1,2,3],y=2", {"x": [1.0, 2.0, 3.0], "y": 2.0}),
        ("w=[ -1.5 , 2e3 ]", {"w": [-1.5, 2000.0]}),
        ("theta2=3.", {"theta2": 3.0}),
    ],
)
def test_parse_point(text: str, expected: dict[str, Any]) -> None:
    assert parse_point(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("x=__import__('os')", "expected a number"),
        ("x=1;y", "expected ','"),
        ("x", "expected '='"),
        ("x 1", "expected '='"),
        ("x=1,x=2", "given twice"),
        ("", "no values"),
        ("x=", "expected a number"),
        ("x=1,", "expected a variable name"),
        ("x=[]", "expected a number"),
        ("x=[1,[2]]", "nested lists"),
        ("x=[1,2", "expected ',' or ']'"),
        ("x=1e999", "out of range"),
        ("x=nan", "expected a number"),
        ("x=inf", "expected a number"),
        ("x=0x10", "invalid number"),
        ("x=1.5.2", "invalid number"),
        ("x=1-2", "invalid number"),
        ("_x=1", "starting with '_'"),
        ("__class__=1", "starting with '_'"),
        ("pi=3", "reserved"),
        ("sin=3", "reserved"),
        ("x='a'", "expected a number"),
        ("x=(1)", "expected a number"),
        ("x.y=1", "expected '='"),
    ],
)
def test_parse_point_refuses(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        parse_point(text)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_parse_point_length_limit() -> None:
    with pytest.raises(ExpressionError, match="too long"):
        parse_point("x=[" + "1," * 10_000 + "1]")


def test_point_feeds_expression() -> None:
    point = parse_point("x=[1,2,3],y=2")
    env = {k: np.asarray(v) for k, v in point.items()}
    assert evaluate("sum(x*y)", **env) == pytest.approx(12.0)


# --------------------------------------------------------------------------- fuzzing

EXPRESSION_ALPHABET = "xy12e.+-*/@()[]{},:=<>'\"_ ~!%&|^sincoxpl"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=60), st.text(EXPRESSION_ALPHABET, max_size=60)))
def test_parse_never_raises_other_errors(text: str) -> None:
    try:
        e = parse_expression(text)
    except ExpressionError as exc:
        assert "\n" not in str(exc)
        return
    for name in e.variables:
        assert name.isidentifier() and not name.startswith("_")
        assert name not in FUNCTION_NAMES and name not in CONSTANTS
    assert set(e.functions) <= FUNCTION_NAMES


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=40), st.text("xy=[],.0123456789e+- ;_", max_size=40)))
def test_parse_point_never_raises_other_errors(text: str) -> None:
    try:
        point = parse_point(text)
    except ExpressionError as exc:
        assert "\n" not in str(exc)
        return
    for name, value in point.items():
        assert name.isidentifier() and not name.startswith("_")
        values = value if isinstance(value, list) else [value]
        assert all(isinstance(v, float) and math.isfinite(v) for v in values)
