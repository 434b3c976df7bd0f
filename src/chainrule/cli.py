"""The ``chainrule`` command (also ``python -m chainrule``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag or value is one line on stderr and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="chainrule", description="The chain rule, made real.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    sub.add_parser("demo", help="run the demo", description="Run the demo.")
    return parser


def _chain_rule_demo() -> int:
    import chainrule as cr

    x = cr.tensor(1.5, dtype=cr.float64, requires_grad=True)
    u = x ** 2
    z = cr.sin(u)
    z.backward()
    print("z = sin(x²) at x = 1.5")
    print(f"  u = x² = {u.item():.6g},  du/dx = 2x = {2 * x.item():.6g}")
    print(f"  z = sin(u) = {z.item():.6g},  dz/du = cos(u) = {cr.cos(u).item():.6g}")
    print(f"  dz/dx = cos(u)·2x = {x.grad.item():.6g}" if x.grad is not None else "")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "demo":
        return _chain_rule_demo()
    return 2


if __name__ == "__main__":
    sys.exit(main())
