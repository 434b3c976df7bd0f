"""``chainrule explain``: the chain rule of an expression, or of a built-in example.

    chainrule explain "sin(x**2)" --at x=1.5
    chainrule explain "x*y + sin(x)" --at x=0.5,y=2 --wrt x
    chainrule explain "sum(tanh(x)**2)" --at "x=[0.1,0.2,0.3]" --html page.html
    chainrule explain --example four-layer

The expression is parsed safely (``chainrule.explain.expression``: a whitelist of operators
and functions, evaluated by a small interpreter; nothing is passed to ``eval``). Any refused or
failing input is a one-line error on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

__all__ = ["add_parser", "run"]

_FORMATS = ("text", "markdown", "latex", "json")
_EXAMPLES = ("four-layer", "sin-square", "cube-of-square", "exp-log", "two-layer")


def _digits(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to 17, got {text!r}") \
            from None
    if not 1 <= value <= 17:
        raise argparse.ArgumentTypeError(f"expected an integer from 1 to 17, got {text!r}")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``explain`` on an argparse sub-parsers object; returns its parser."""
    p = subparsers.add_parser(
        "explain", help="show the chain rule step by step on an expression or an example",
        description="Evaluate an expression at a point with chainrule, then print the chain "
                    "rule of its backward pass step by step: each intermediate value, its "
                    "local derivative (the op's formula and its value) and their products. "
                    "Functions: sin cos tan exp log sqrt tanh sigmoid relu sum mean ... "
                    "(see docs/explain.md); operators + - * / ** @.")
    p.add_argument("expression", nargs="?", metavar="EXPR",
                   help='the expression, e.g. "sin(x**2)" (quote it for the shell)')
    p.add_argument("--at", action="append", default=[], metavar="POINT",
                   help="the point: x=1.5 or x=1,y=2 or x=[1,2,3] (may be repeated)")
    p.add_argument("--wrt", metavar="NAMES",
                   help="the variables to differentiate with respect to, e.g. x or x,y "
                        "(default: all)")
    p.add_argument("--example", choices=_EXAMPLES, metavar="NAME",
                   help="print a built-in worked example instead: " + ", ".join(_EXAMPLES))
    p.add_argument("--digits", type=_digits, default=6, metavar="N",
                   help="significant digits of the numbers shown (default: 6)")
    p.add_argument("--format", choices=_FORMATS, default="text",
                   help="text (default), markdown, latex or json")
    p.add_argument("--html", metavar="PATH",
                   help="also write the animated backward pass to this HTML file "
                        "(self-contained; opens in any browser)")
    return p


class _Refused(Exception):
    """A one-line error for the user (exit code 2)."""


def run(args: argparse.Namespace) -> int:
    """Run ``chainrule explain``; returns the exit code."""
    try:
        text = _run(args)
    except _Refused as e:
        print(f"chainrule explain: error: {e}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


def _one_line(e: BaseException) -> str:
    msg = " ".join(str(e).split()) or type(e).__name__
    return msg if len(msg) <= 300 else msg[:297] + "..."


def _run(args: argparse.Namespace) -> str:
    from ..ops.registry import OpError
    from .expression import ExpressionError

    expected = (ExpressionError, OpError, ValueError, TypeError, ArithmeticError, IndexError,
                RecursionError, MemoryError, KeyError)
    try:
        if args.example:
            if args.expression or args.at or args.wrt:
                raise _Refused("--example takes no expression, --at or --wrt")
            from .examples import example

            e = example(args.example, digits=args.digits)
        else:
            e = _explain_expression(args)
        out = _render(e, args.format)
        if args.html:
            try:
                path = e.to_html(args.html)
            except OSError as err:
                raise _Refused(f"cannot write {args.html}: {err.strerror or err}") from None
            out += f"\nWrote the animated backward pass to {path}\n"
        return out
    except _Refused:
        raise
    except expected as err:
        raise _Refused(_one_line(err)) from None


def _render(e: Any, fmt: str) -> str:
    if fmt == "markdown":
        return str(e.to_markdown())
    if fmt == "latex":
        return str(e.to_latex())
    if fmt == "json":
        return str(e.to_json()) + "\n"
    return str(e)


def _explain_expression(args: argparse.Namespace) -> Any:
    import numpy as np

    import chainrule as cr

    from .expression import parse_expression, parse_point

    if not args.expression:
        raise _Refused("give an expression (e.g. \"sin(x**2)\" --at x=1.5) or --example NAME")
    expr = parse_expression(args.expression)
    point: dict[str, Any] = {}
    for spec in args.at:
        for k, v in parse_point(spec).items():
            if k in point:
                raise _Refused(f"variable '{k}' is given twice in --at")
            point[k] = v
    if not expr.variables:
        raise _Refused("the expression has no variable to differentiate with respect to")
    missing = [v for v in expr.variables if v not in point]
    if missing:
        raise _Refused("give a value for " + ", ".join(repr(v) for v in missing)
                       + " with --at, e.g. --at " + ",".join(f"{v}=1" for v in missing))
    extra = [k for k in point if k not in expr.variables]
    if extra:
        raise _Refused("--at gives " + ", ".join(repr(k) for k in extra)
                       + ", which the expression does not use")
    wrt_names = list(expr.variables)
    if args.wrt:
        wrt_names = [w.strip() for w in args.wrt.split(",") if w.strip()]
        bad = [w for w in wrt_names if w not in expr.variables]
        if bad or not wrt_names:
            raise _Refused(f"--wrt {args.wrt!r}: the expression's variables are "
                           + ", ".join(expr.variables))
    env = {name: cr.tensor(point[name], dtype=cr.float64, requires_grad=True, name=name)
           for name in expr.variables}
    with np.errstate(all="ignore"):
        z = expr.evaluate(env)
    if not isinstance(z, cr.Tensor) or not z.requires_grad:
        raise _Refused("the expression does not depend on its variables")
    if not z.name:
        z.name = _output_name(expr.variables)
    gradient = None if z.numel() == 1 else np.ones(z.shape)
    with np.errstate(all="ignore"):
        e = cr.explain(z, wrt=[env[n] for n in wrt_names], gradient=gradient,
                       digits=args.digits, layers=False)
    at = ", ".join(f"{k} = {_point_text(v)}" for k, v in point.items())
    e.title = f"{expr.text} at {at}" + (
        "" if gradient is None else f"   (a vector output: this explains the gradient of "
        f"sum({z.name}))")
    return e


def _output_name(variables: Any) -> str:
    """A name for the output that no variable has: z, f, g, h, out, else z′ (variables are
    ASCII names, so z′ is free)."""
    return next((n for n in ("z", "f", "g", "h", "out") if n not in variables), "z′")


def _point_text(v: Any) -> str:
    from ._math import fmt

    if isinstance(v, list):
        return "[" + ", ".join(fmt(x) for x in v) + "]"
    return fmt(v)


def main(argv: list[str] | None = None) -> int:
    """``python -m chainrule.explain.cli ...`` (the ``chainrule`` command wires this in)."""
    from ..cli import _Parser

    parser = _Parser(prog="chainrule")
    sub = parser.add_subparsers(dest="command")
    add_parser(sub)
    return run(parser.parse_args(["explain", *(argv if argv is not None else sys.argv[1:])]))


if __name__ == "__main__":
    sys.exit(main())
