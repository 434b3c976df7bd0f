"""Safe parser and evaluator for the math expressions of ``chainrule explain``.

The expression text is parsed with :mod:`ast` (``mode="eval"``) and the tree
is checked against a strict whitelist *before* anything is evaluated:

* int/float literals (no complex, no bools, integers up to ``1e15``),
* variable names (ASCII identifiers not starting with ``_``),
* the constants ``pi`` and ``e``,
* unary ``+``/``-`` and binary ``+ - * / ** @``,
* calls of whitelisted function names with positional arguments only.

Nothing is ever passed to ``eval``/``exec``/``compile``-to-bytecode: the
validated tree is walked by a small interpreter that only applies Python
operators to the values and calls the whitelisted functions, which are looked
up lazily as attributes of :mod:`chainrule` (or taken from a ``functions``
mapping, e.g. NumPy ufuncs in tests).

``parse_point`` parses evaluation points such as ``x=1.5,y=[1,2,3]``.
"""

from __future__ import annotations

import ast
import importlib
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

__all__ = [
    "CONSTANTS",
    "FUNCTION_ARITY",
    "FUNCTION_NAMES",
    "Expression",
    "ExpressionError",
    "parse_expression",
    "parse_point",
]

# -- limits (read at call time, so tests may monkeypatch them) ----------------
MAX_LENGTH = 1000
"""Maximum number of characters in an expression."""
MAX_DEPTH = 50
"""Maximum nesting depth of the expression tree (and of brackets)."""
MAX_NODES = 200
"""Maximum number of nodes in the expression tree."""
MAX_EXPONENT = 1000
"""Maximum magnitude of a constant exponent of ``**``."""
MAX_INT = 10**15
"""Maximum magnitude of an integer literal."""
MAX_POINT_LENGTH = 10_000
"""Maximum number of characters in a ``--at`` point specification."""

_SNIPPET_LENGTH = 60

# -- whitelist -----------------------------------------------------------------
_UNARY_FUNCTIONS = (
    "sin cos tan asin acos atan sinh cosh tanh exp exp2 log log2 log1p expm1 "
    "sqrt rsqrt square reciprocal abs sigmoid relu softplus gelu silu "
    "logsigmoid mish softsign selu norm"
).split()
_BINARY_FUNCTIONS = ("atan2", "maximum", "minimum", "pow")
# Functions whose optional second argument is a number literal (alpha, slope).
_PARAM_FUNCTIONS = ("elu", "leaky_relu")
# Reductions whose optional second argument is an integer literal (axis).
_AXIS_FUNCTIONS = ("sum", "mean", "prod", "logsumexp", "softmax")

FUNCTION_ARITY: Mapping[str, tuple[int, int]] = {
    **{name: (1, 1) for name in _UNARY_FUNCTIONS},
    **{name: (2, 2) for name in _BINARY_FUNCTIONS},
    **{name: (1, 2) for name in _PARAM_FUNCTIONS},
    **{name: (1, 2) for name in _AXIS_FUNCTIONS},
}
"""Whitelisted function name -> (min, max) number of positional arguments."""

FUNCTION_NAMES: frozenset[str] = frozenset(FUNCTION_ARITY)
"""Names that may be called; each maps to ``getattr(chainrule, name)``."""

CONSTANTS: Mapping[str, float] = {"pi": math.pi, "e": math.e}
"""Named constants usable in expressions."""

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")

_BINARY_OPERATORS: dict[type[ast.operator], tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.Pow: ("**", operator.pow),
    ast.MatMult: ("@", operator.matmul),
}
_REFUSED_OPERATORS: dict[type[ast.AST], str] = {
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.BitAnd: "&",
    ast.Invert: "~",
}
_REFUSED_NODES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access",
    ast.Subscript: "a subscript",
    ast.Slice: "a slice",
    ast.Lambda: "a lambda",
    ast.ListComp: "a comprehension",
    ast.SetComp: "a comprehension",
    ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator expression",
    ast.JoinedStr: "an f-string",
    ast.FormattedValue: "an f-string",
    ast.Compare: "a comparison",
    ast.BoolOp: "a boolean operator",
    ast.IfExp: "a conditional expression",
    ast.NamedExpr: "an assignment expression (:=)",
    ast.Starred: "a starred argument",
    ast.keyword: "a keyword argument",
    ast.List: "a list",
    ast.Tuple: "a tuple",
    ast.Set: "a set",
    ast.Dict: "a dict",
    ast.Await: "await",
    ast.Yield: "yield",
    ast.YieldFrom: "yield",
}
# Tree nodes that are not counted for the depth/size limits.
_UNCOUNTED = (ast.expr_context, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)


class ExpressionError(ValueError):
    """A refused or unevaluable expression; the message is a single line."""

    def __init__(self, message: str, column: int | None = None) -> None:
        message = " ".join(message.split())
        if column is not None:
            message = f"{message} (column {column})"
        super().__init__(message)
        self.column = column


# -- helpers ------------------------------------------------------------------
def _snippet(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # pragma: no cover - unparse of a parsed tree is total
        text = type(node).__name__
    text = " ".join(text.split())
    if len(text) > _SNIPPET_LENGTH:
        text = text[: _SNIPPET_LENGTH - 3] + "..."
    return text


def _column(node: ast.AST) -> int | None:
    offset = getattr(node, "col_offset", None)
    return offset + 1 if isinstance(offset, int) else None


def _refuse(what: str, node: ast.AST) -> ExpressionError:
    return ExpressionError(f"{what} is not allowed: {_snippet(node)}", _column(node))


def _counted_children(node: ast.AST) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, _UNCOUNTED):
            yield child


def _check_size(tree: ast.Expression) -> None:
    """Enforce MAX_DEPTH and MAX_NODES without recursion."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(tree.body, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            raise ExpressionError(f"expression is nested too deeply (max depth {MAX_DEPTH})")
        if count > MAX_NODES:
            raise ExpressionError(f"expression is too large (max {MAX_NODES} nodes)")
        stack.extend((child, depth + 1) for child in _counted_children(node))


def _check_brackets(text: str) -> None:
    """Refuse deep bracket nesting before the parser sees it."""
    depth = 0
    for index, char in enumerate(text):
        if char in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(
                    f"expression is nested too deeply (max depth {MAX_DEPTH})", index + 1
                )
        elif char in ")]}":
            depth -= 1


def _check_characters(text: str) -> None:
    for index, char in enumerate(text):
        if not (" " <= char <= "~"):
            raise ExpressionError(f"character {char!r} is not allowed", index + 1)


def _parse_source(text: str) -> ast.Expression:
    """Parse to an AST only (never to code); map parser failures to ExpressionError."""
    try:
        return ast.parse(text, mode="eval")
    except (RecursionError, MemoryError):
        raise ExpressionError("expression is nested too deeply") from None
    except SyntaxError as exc:
        where = f" at column {exc.offset}" if exc.offset else ""
        msg = exc.msg or "invalid syntax"
        raise ExpressionError(f"invalid expression{where}: {msg}{_syntax_hint(text)}") from None
    except ValueError as exc:
        raise ExpressionError(f"invalid expression: {exc}") from None


# A number right before a name or "(" (2x, 2(x+1), 2 sin(x)), not an exponent (1e5, 2.5E-3).
_IMPLICIT_PRODUCT = re.compile(r"(?<![\w.])\d+\.?\d*(?:[eE][+-]?\d+)?\s*(?:[A-Za-z_(])")
# A function name followed by its argument without parentheses: sin x.
_CALL_WITHOUT_PARENS = re.compile(r"\b([A-Za-z]\w*)\s+[\w(]")


def _syntax_hint(text: str) -> str:
    """What the user probably meant, for the usual syntax errors of math notation."""
    if text.rstrip()[-1:] in tuple("+-*/@,"):
        return "; an operand is missing at the end"
    call = _CALL_WITHOUT_PARENS.search(text)
    if call and call.group(1) in FUNCTION_NAMES:
        return f"; call functions with parentheses, e.g. {call.group(1)}(x)"
    if call or _IMPLICIT_PRODUCT.search(text):
        return "; write products with *, e.g. 2*x (there is no implicit multiplication)"
    return ""


def _int_literal(node: ast.expr) -> int | None:
    """Return the value of ``INT`` or ``-INT`` literals, else None."""
    sign = 1
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        node = node.operand
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return sign * node.value
    return None


def _contains_pow(node: ast.AST) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, ast.BinOp) and isinstance(current.op, ast.Pow):
            return True
        stack.extend(ast.iter_child_nodes(current))
    return False


class _Validator:
    """Whitelist check; returns the float value of constant subtrees, else None."""

    def __init__(self) -> None:
        self.variables: set[str] = set()
        self.functions: set[str] = set()

    def check(self, node: ast.AST) -> float | None:
        if isinstance(node, ast.Constant):
            return self._constant(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.UnaryOp):
            return self._unary(node)
        if isinstance(node, ast.BinOp):
            return self._binary(node)
        if isinstance(node, ast.Call):
            self._call(node)
            return None
        for kind, what in _REFUSED_NODES.items():
            if isinstance(node, kind):
                raise _refuse(what, node)
        raise _refuse(f"{type(node).__name__} syntax", node)

    def _constant(self, node: ast.Constant) -> float:
        value = node.value
        if isinstance(value, str):
            raise _refuse("a string literal", node)
        if isinstance(value, bytes):
            raise _refuse("a bytes literal", node)
        if isinstance(value, bool) or value is None or value is Ellipsis:
            raise _refuse(f"the literal {value!r}", node)
        if isinstance(value, complex):
            raise _refuse("a complex number", node)
        if isinstance(value, int):
            if abs(value) > MAX_INT:
                raise ExpressionError(
                    f"integer literal is too large (max magnitude {MAX_INT:.0e}): {_snippet(node)}",
                    _column(node),
                )
            return float(value)
        if isinstance(value, float):
            if not math.isfinite(value):
                raise ExpressionError(
                    f"number literal is out of range: {_snippet(node)}", _column(node)
                )
            return value
        raise _refuse(f"a {type(value).__name__} literal", node)  # pragma: no cover

    def _name(self, node: ast.Name) -> float | None:
        name = node.id
        if name.startswith("_"):
            raise _refuse("a name starting with '_'", node)
        if not _NAME_RE.match(name):  # pragma: no cover - non-ASCII is refused earlier
            raise _refuse("a non-ASCII name", node)
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in FUNCTION_NAMES:
            raise ExpressionError(
                f"function '{name}' must be called, e.g. {name}(x)", _column(node)
            )
        self.variables.add(name)
        return None

    def _unary(self, node: ast.UnaryOp) -> float | None:
        if isinstance(node.op, ast.Not):
            raise _refuse("a boolean operator", node)
        if not isinstance(node.op, ast.UAdd | ast.USub):
            symbol = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
            raise _refuse(f"operator '{symbol}'", node)
        value = self.check(node.operand)
        if value is None:
            return None
        return -value if isinstance(node.op, ast.USub) else value

    def _binary(self, node: ast.BinOp) -> float | None:
        entry = _BINARY_OPERATORS.get(type(node.op))
        if entry is None:
            symbol = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
            raise _refuse(f"operator '{symbol}'", node)
        symbol, func = entry
        left = self.check(node.left)
        right = self.check(node.right)
        if isinstance(node.op, ast.Pow) and right is not None:
            if _contains_pow(node.right):
                raise _refuse("a tower of constant powers", node)
            if abs(right) > MAX_EXPONENT:
                raise ExpressionError(
                    f"exponent is too large (max magnitude {MAX_EXPONENT}): {_snippet(node)}",
                    _column(node),
                )
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.MatMult):
            raise _refuse("'@' between numbers", node)
        # Constant folding in floats: bounded time, and overflow is refused here.
        try:
            value = func(left, right)
        except ZeroDivisionError:
            raise ExpressionError(
                f"division by zero in constant expression: {_snippet(node)}", _column(node)
            ) from None
        except OverflowError:
            raise ExpressionError(
                f"constant expression overflows: {_snippet(node)}", _column(node)
            ) from None
        if not isinstance(value, float) or not math.isfinite(value):
            raise ExpressionError(
                f"constant expression is not a finite real number: {_snippet(node)}",
                _column(node),
            )
        return value

    def _call(self, node: ast.Call) -> None:
        callee = node.func
        if not isinstance(callee, ast.Name):
            # Report the most specific problem of the callee first (x.y, lambda, ...).
            self.check(callee)
            raise ExpressionError(
                f"calling the result of an expression is not allowed: {_snippet(node)}; "
                "write products with *, e.g. 2*(x + 1)", _column(node))
        name = callee.id
        if name.startswith("_"):
            raise _refuse("a name starting with '_'", callee)
        if name not in FUNCTION_NAMES:
            raise ExpressionError(
                f"function '{name}' is not allowed: {_snippet(node)}", _column(node)
            )
        if node.keywords:
            raise _refuse("a keyword argument", node.keywords[0])
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise _refuse("a starred argument", arg)
        low, high = FUNCTION_ARITY[name]
        count = len(node.args)
        if not low <= count <= high:
            expected = str(low) if low == high else f"{low} to {high}"
            plural = "" if expected == "1" else "s"
            raise ExpressionError(
                f"{name}() takes {expected} argument{plural}, got {count}: {_snippet(node)}",
                _column(node),
            )
        self.functions.add(name)
        for index, arg in enumerate(node.args):
            value = self.check(arg)
            if index == 0:
                continue
            if name in _AXIS_FUNCTIONS and _int_literal(arg) is None:
                raise ExpressionError(
                    f"the axis of {name}() must be an integer literal: {_snippet(arg)}",
                    _column(arg),
                )
            if name in _PARAM_FUNCTIONS and value is None:
                raise ExpressionError(
                    f"the parameter of {name}() must be a constant: {_snippet(arg)}",
                    _column(arg),
                )


# -- public API -----------------------------------------------------------------
class Expression:
    """A validated expression: ``text``, ``variables``, ``functions``, ``evaluate``."""

    __slots__ = ("_texts", "_tree", "functions", "text", "variables")

    text: str
    variables: tuple[str, ...]
    functions: tuple[str, ...]

    def __init__(self, text: str) -> None:
        """Parse and validate ``text``; raise ExpressionError if it is refused."""
        if not isinstance(text, str):
            raise TypeError(f"expression must be a str, not {type(text).__name__}")
        if len(text) > MAX_LENGTH:
            raise ExpressionError(
                f"expression is too long ({len(text)} characters, max {MAX_LENGTH})"
            )
        # Newlines/tabs become spaces: the expression is one line for error columns.
        source = re.sub(r"[\t\n\r\f\v]", " ", text).strip()
        if not source:
            raise ExpressionError("expression is empty")
        _check_characters(source)
        _check_brackets(source)
        tree = _parse_source(source)
        _check_size(tree)
        validator = _Validator()
        validator.check(tree.body)
        self.text = source
        self.variables = tuple(sorted(validator.variables))
        self.functions = tuple(sorted(validator.functions))
        self._tree = tree
        self._texts: dict[int, str] = {}

    def __repr__(self) -> str:
        return f"Expression({self.text!r})"

    def node_text(self, node: ast.AST) -> str:
        """Return the normalised source text (``ast.unparse``) of a sub-expression."""
        key = id(node)
        if key not in self._texts:
            self._texts[key] = ast.unparse(node)
        return self._texts[key]

    def evaluate(
        self,
        env: Mapping[str, Any],
        *,
        functions: Mapping[str, Callable[..., Any]] | None = None,
        on_node: Callable[[str, Any], None] | None = None,
    ) -> Any:
        """Evaluate with variable values from ``env``.

        Functions are ``getattr(chainrule, name)`` unless ``functions`` is given,
        in which case only that mapping is used.  Number literals become floats
        (integer axis arguments stay ints).  ``on_node(text, value)`` is called in
        evaluation order for every operator or call result that depends on a
        variable (the root included, ``+x`` excluded), with ``text`` the
        ``ast.unparse`` text of that sub-expression.
        """
        missing = [name for name in self.variables if name not in env]
        if missing:
            names = ", ".join(repr(name) for name in missing)
            plural = "s" if len(missing) > 1 else ""
            raise ExpressionError(f"missing value for variable{plural} {names}")
        resolved = self._resolve_functions(functions)
        evaluator = _Evaluator(self, env, resolved, on_node)
        return evaluator.eval(self._tree.body)[0]

    def _resolve_functions(
        self, functions: Mapping[str, Callable[..., Any]] | None
    ) -> dict[str, Callable[..., Any]]:
        resolved: dict[str, Callable[..., Any]] = {}
        module: Any = None
        for name in self.functions:
            if functions is not None:
                if name not in functions:
                    raise ExpressionError(f"function '{name}' is not available")
                resolved[name] = functions[name]
                continue
            if module is None:
                module = importlib.import_module("chainrule")
            func = getattr(module, name, None)
            if not callable(func):
                raise ExpressionError(f"function '{name}' is not available in chainrule")
            resolved[name] = func
        return resolved


class _Evaluator:
    """Walks a validated tree; returns (value, depends_on_variable)."""

    def __init__(
        self,
        expression: Expression,
        env: Mapping[str, Any],
        functions: Mapping[str, Callable[..., Any]],
        on_node: Callable[[str, Any], None] | None,
    ) -> None:
        self.expression = expression
        self.env = env
        self.functions = functions
        self.on_node = on_node

    def _report(self, node: ast.AST, value: Any, dynamic: bool) -> None:
        if dynamic and self.on_node is not None:
            self.on_node(self.expression.node_text(node), value)

    def eval(self, node: ast.expr) -> tuple[Any, bool]:
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, int | float)
            return float(node.value), False
        if isinstance(node, ast.Name):
            if node.id in CONSTANTS:
                return CONSTANTS[node.id], False
            return self.env[node.id], True
        if isinstance(node, ast.UnaryOp):
            value, dynamic = self.eval(node.operand)
            if isinstance(node.op, ast.UAdd):
                return value, dynamic
            result = self._arith(node, operator.neg, value)
            self._report(node, result, dynamic)
            return result, dynamic
        if isinstance(node, ast.BinOp):
            left, dyn_left = self.eval(node.left)
            right, dyn_right = self.eval(node.right)
            func = _BINARY_OPERATORS[type(node.op)][1]
            result = self._arith(node, func, left, right)
            self._report(node, result, dyn_left or dyn_right)
            return result, dyn_left or dyn_right
        if isinstance(node, ast.Call):
            assert isinstance(node.func, ast.Name)
            args: list[Any] = []
            dynamic = False
            for index, arg in enumerate(node.args):
                literal = _int_literal(arg) if index > 0 else None
                if literal is not None:
                    args.append(literal)
                    continue
                value, dyn = self.eval(arg)
                args.append(value)
                dynamic = dynamic or dyn
            result = self._arith(node, self.functions[node.func.id], *args)
            self._report(node, result, dynamic)
            return result, dynamic
        raise ExpressionError(f"cannot evaluate {_snippet(node)}")  # pragma: no cover

    def _arith(self, node: ast.AST, func: Callable[..., Any], *args: Any) -> Any:
        try:
            return func(*args)
        except ArithmeticError as exc:
            raise ExpressionError(
                f"{type(exc).__name__} in {_snippet(node)}: {exc}", _column(node)
            ) from None


def parse_expression(text: str) -> Expression:
    """Parse and validate ``text``; raise ExpressionError if it is refused."""
    return Expression(text)


# -- points -----------------------------------------------------------------------
_POINT_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_POINT_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


class _PointScanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str) -> ExpressionError:
        return ExpressionError(f"invalid point: {message}", self.pos + 1)

    def skip_spaces(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def found(self) -> str:
        char = self.peek()
        return repr(char) if char else "end of input"

    def expect(self, char: str, after: str) -> None:
        self.skip_spaces()
        if self.peek() != char:
            raise self.error(f"expected '{char}' {after}, found {self.found()}")
        self.pos += 1

    def name(self) -> str:
        self.skip_spaces()
        match = _POINT_NAME_RE.match(self.text, self.pos)
        if match is None:
            raise self.error(f"expected a variable name, found {self.found()}")
        name = match.group()
        if name.startswith("_"):
            raise self.error(f"names starting with '_' are not allowed: {name}")
        if name in CONSTANTS or name in FUNCTION_NAMES:
            raise self.error(f"'{name}' is a reserved name, not a variable")
        self.pos = match.end()
        return name

    def number(self) -> float:
        self.skip_spaces()
        match = _POINT_NUMBER_RE.match(self.text, self.pos)
        end = match.end() if match else self.pos
        if match is None:
            raise self.error(f"expected a number, found {self.found()}")
        following = self.text[end : end + 1]
        if following and (following.isalnum() or following in "._+-"):
            token = re.match(r"[^,\]\s]*", self.text[self.pos :])
            raise self.error(f"invalid number: {token.group() if token else following}")
        value = float(match.group())
        if not math.isfinite(value):
            raise self.error(f"number is out of range: {match.group()}")
        self.pos = end
        return value

    def value(self) -> float | list[float]:
        self.skip_spaces()
        if self.peek() != "[":
            return self.number()
        self.pos += 1
        items: list[float] = []
        while True:
            self.skip_spaces()
            if self.peek() == "[":
                raise self.error("nested lists are not supported")
            items.append(self.number())
            self.skip_spaces()
            if self.peek() == "]":
                self.pos += 1
                return items
            self.expect(",", "or ']' in list")


def parse_point(text: str) -> dict[str, float | list[float]]:
    """Parse ``"x=1.5,y=[1,2,3]"`` into ``{"x": 1.5, "y": [1.0, 2.0, 3.0]}``.

    Values are numbers or flat lists of numbers; anything else is refused
    with a one-line ExpressionError.
    """
    if not isinstance(text, str):
        raise TypeError(f"point must be a str, not {type(text).__name__}")
    if len(text) > MAX_POINT_LENGTH:
        raise ExpressionError(f"point is too long ({len(text)} characters, max {MAX_POINT_LENGTH})")
    scanner = _PointScanner(text)
    scanner.skip_spaces()
    if not scanner.peek():
        raise ExpressionError("invalid point: no values given (expected e.g. x=1.5)")
    point: dict[str, float | list[float]] = {}
    while True:
        start = scanner.pos
        name = scanner.name()
        if name in point:
            scanner.pos = start
            scanner.skip_spaces()
            raise scanner.error(f"variable '{name}' is given twice")
        scanner.expect("=", f"after '{name}'")
        point[name] = scanner.value()
        scanner.skip_spaces()
        if not scanner.peek():
            return point
        scanner.expect(",", f"after the value of '{name}'")
