"""User-defined differentiable functions: ``@cr.custom_op`` with ``defvjp`` / ``defjvp``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .engine import ChainruleError, apply
from .ops.registry import Op


class CustomOp:
    """A differentiable function defined by its NumPy forward and its derivative rules.

    >>> import numpy as np, chainrule as cr
    >>> @cr.custom_op(formula="d/dx softsign(x) = 1 / (1 + |x|)^2")
    ... def softsign(x):
    ...     return x / (1 + np.abs(x))
    >>> @softsign.defvjp
    ... def _(g, ans, x):
    ...     return g / (1 + cr.abs(x)) ** 2
    >>> x = cr.tensor(1.0, requires_grad=True)
    >>> softsign(x).backward()
    >>> x.grad
    tensor(0.25)
    """

    def __init__(self, forward: Callable[..., np.ndarray], formula: str = "",
                 name: str | None = None) -> None:
        self.forward = forward
        self.name: str = str(name or getattr(forward, "__name__", "custom_op"))
        self._vjp: Callable | None = None
        self._jvps: tuple[Callable, ...] | None = None
        # saves_output: the rules receive the forward output (``ans``)
        self.op = Op(self.name, forward, None, formula, tensor_rules=True, variadic=True,
                     saves_output=True, doc=forward.__doc__ or "")
        self.__doc__ = forward.__doc__

    def __call__(self, *args: Any, **params: Any) -> Any:
        if self._vjp is None and any(getattr(a, "requires_grad", False) for a in args):
            raise ChainruleError(
                f"custom op '{self.name}' has no derivative rule yet; define one with "
                f"@{self.name}.defvjp before differentiating through it")
        return apply(self.op, *args, **params)

    def defvjp(self, vjp: Callable) -> Callable:
        """``vjp(g, ans, *inputs)`` returns the gradient for each input (a tuple when there are
        several; ``None`` for an input without one). Written with chainrule ops, it is
        differentiable again."""
        self._vjp = vjp
        # The engine asks for one input's gradient at a time; the user's vjp gives them all, so
        # the last call's result is kept (by identity of its arguments) for the next input.
        last: list = [None, None]

        def rule(i: int, g: Any, out: Any, *inputs: Any, **params: Any) -> Any:
            assert self._vjp is not None
            key = (g, out, *inputs, *params.values())
            prev = last[0]
            if prev is not None and len(prev) == len(key) and all(
                    a is b for a, b in zip(prev, key)):
                grads = last[1]
            else:
                grads = self._vjp(g, out, *inputs, **params)
            last[:] = [key, grads] if i < len(inputs) - 1 else [None, None]
            if isinstance(grads, (tuple, list)):
                if len(grads) != len(inputs):
                    raise ChainruleError(f"custom op '{self.name}': its vjp returned "
                                         f"{len(grads)} gradients for {len(inputs)} inputs")
                return grads[i]
            if len(inputs) != 1:
                raise ChainruleError(f"custom op '{self.name}' has {len(inputs)} inputs: its vjp "
                                     "must return a tuple with one gradient per input")
            return grads

        self.op.vjps = (rule,)
        return vjp

    def defjvp(self, *jvps: Callable) -> Callable:
        """One ``jvp(t, ans, *inputs)`` per input (``None`` where an input has none). Without
        it, forward mode derives the JVP from the VJP (one extra backward per call)."""
        self._jvps = jvps

        def rule(i: int, t: Any, out: Any, *inputs: Any, **params: Any) -> Any:
            assert self._jvps is not None
            fn = self._jvps[i] if i < len(self._jvps) else None
            if fn is None:
                return t * 0.0
            return fn(t, out, *inputs, **params)

        self.op.jvps = (rule,)
        return jvps[0]

    @property
    def formula(self) -> str:
        return self.op.formula if isinstance(self.op.formula, str) else "; ".join(self.op.formula)


def custom_op(fn: Callable | None = None, *, formula: str = "", name: str | None = None) -> Any:
    """Decorator: turn a NumPy forward into a chainrule op (see :class:`CustomOp`)."""
    if fn is not None:
        return CustomOp(fn, formula, name)
    return lambda f: CustomOp(f, formula, name)
