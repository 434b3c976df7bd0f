"""User-defined differentiable functions: ``@cr.custom_op`` with ``defvjp`` / ``defjvp``."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .engine import STATE, ChainruleError, apply
from .ops.registry import Op
from .tensor import Tensor


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
    tensor(0.2500)
    """

    def __init__(self, forward: Callable[..., np.ndarray], formula: str = "",
                 name: str | None = None) -> None:
        self.forward = forward
        self.name: str = str(name or getattr(forward, "__name__", "custom_op"))
        self._vjp: Callable | None = None
        self._jvps: tuple[Callable, ...] | None = None
        # saves_output: the rules receive the forward output (``ans``)
        self.op = Op(self.name, self._checked_forward, None, formula, tensor_rules=True,
                     variadic=True, saves_output=True, doc=forward.__doc__ or "")
        functools.update_wrapper(self, forward)

    def _checked_forward(self, *arrays: Any, **params: Any) -> Any:
        out = self.forward(*arrays, **params)
        if isinstance(out, (tuple, list, dict)):
            raise TypeError(f"custom op '{self.name}': its forward returned a "
                            f"{type(out).__name__}; a custom op has one output, a NumPy array "
                            "(make one op per output)")
        return out

    def __call__(self, *args: Any, **params: Any) -> Any:
        if self._vjp is None:
            backward = STATE.grad_enabled and any(
                getattr(a, "requires_grad", False) for a in args)
            forward = self._jvps is None and bool(STATE.levels) and any(
                getattr(a, "_tangents", None) for a in args)
            if forward or backward and self._jvps is None:
                raise ChainruleError(
                    f"custom op '{self.name}' has no derivative rule yet; define one with "
                    f"@{self.name}.defvjp (or @{self.name}.defjvp for forward mode only) "
                    "before differentiating through it")
            # (a forward-only op is recorded even when an input requires grad, e.g. a model's
            # weight in jvp: its reverse rule says what is missing if a backward reaches it,
            # as a PyTorch Function without a backward does)
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
                return self._checked_gradient(grads[i], inputs[i], i)
            if len(inputs) != 1:
                raise ChainruleError(f"custom op '{self.name}' has {len(inputs)} inputs: its vjp "
                                     "must return a tuple with one gradient per input")
            return self._checked_gradient(grads, inputs[i], i)

        self.op.vjps = (rule,)
        return vjp

    def _checked_gradient(self, g: Any, x: Any, i: int) -> Any:
        """The vjp's gradient for input ``i``: of ``x``'s shape (or one that sums down to it, as
        PyTorch allows), and a tensor when a higher derivative is being recorded."""
        if g is None:
            return None
        if not isinstance(g, Tensor) and STATE.grad_enabled:  # (create_graph: rules record)
            raise TypeError(
                f"custom op '{self.name}': its vjp returned a value of type "
                f"{type(g).__name__} for input {i} while it is being differentiated "
                "(create_graph, forward mode or a nested transform); write the vjp with "
                "chainrule ops (e.g. g * cr.cos(x), not np.cos(x.numpy()))")
        shape, x_shape = np.shape(getattr(g, "data", g)), np.shape(getattr(x, "data", x))
        if shape != x_shape and not _sums_down_to(shape, x_shape):
            raise ChainruleError(
                f"custom op '{self.name}': its vjp returned a gradient of shape {shape} for "
                f"input {i} of shape {x_shape}; the gradient must have the input's shape")
        return g

    def _checked_tangent(self, res: Any, t: Any, x: Any, out: Any, i: int) -> Tensor:
        """The jvp's tangent for input ``i``: a tensor of the output's shape (after the leading
        batch dimensions ``t`` carries under jacfwd)."""
        lead = np.ndim(getattr(t, "data", t)) - np.ndim(getattr(x, "data", x))
        expected = tuple(np.shape(getattr(t, "data", t))[:lead]) + tuple(np.shape(out.data))
        if not isinstance(res, Tensor):
            if STATE.levels or STATE.grad_enabled and any(
                    getattr(a, "requires_grad", False) for a in (t, x)):
                raise TypeError(
                    f"custom op '{self.name}': its jvp returned a value of type "
                    f"{type(res).__name__} for input {i} while a higher derivative is being "
                    "taken; write the jvp with chainrule ops so that it can be differentiated")
            res = Tensor._make(np.asarray(res))
        if res.shape != expected:
            raise ChainruleError(
                f"custom op '{self.name}': its jvp for input {i} returned shape {res.shape}; "
                f"the tangent must have the output's shape {expected}")
        return res

    def defjvp(self, *jvps: Callable) -> Callable:
        """One ``jvp(t, ans, *inputs)`` per input (``None`` where an input has none). Without
        it, forward mode derives the JVP from the VJP (one extra backward per call)."""
        self._jvps = jvps

        def rule(i: int, t: Any, out: Any, *inputs: Any, **params: Any) -> Any:
            assert self._jvps is not None
            fn = self._jvps[i] if i < len(self._jvps) else None
            if fn is None:  # no tangent through this input: zeros of the output's shape
                lead = np.ndim(getattr(t, "data", t)) - np.ndim(getattr(inputs[i], "data",
                                                                        inputs[i]))
                shape = tuple(np.shape(getattr(t, "data", t))[:lead]) + tuple(out.shape)
                dtype = out.dtype if out.dtype.kind == "f" else t.dtype
                return Tensor._make(np.zeros(shape, dtype=dtype))
            return self._checked_tangent(fn(t, out, *inputs, **params), t, inputs[i], out, i)

        self.op.jvps = (rule,)
        if self.op.vjps is None:
            # Op.jvp reads an op without vjps as one without derivatives (zero tangents):
            # a forward-only op gets a reverse rule that says what is missing, when a
            # backward reaches it.
            self.op.vjps = (self._no_vjp,)
        return jvps[0]

    def _no_vjp(self, *args: Any, **params: Any) -> Any:
        raise ChainruleError(
            f"custom op '{self.name}' has no reverse-mode rule (only a defjvp, which serves "
            f"forward mode: jvp, jacfwd); define one with @{self.name}.defvjp before "
            "differentiating through it in reverse mode (backward, grad, vjp, jacrev)")

    @property
    def formula(self) -> str:
        return self.op.formula if isinstance(self.op.formula, str) else "; ".join(self.op.formula)


def _sums_down_to(shape: tuple, target: tuple) -> bool:
    """Does ``target`` broadcast to ``shape`` (so a gradient of ``shape`` sums down to it)?"""
    try:
        return np.broadcast_shapes(shape, target) == shape
    except ValueError:
        return False


def custom_op(fn: Callable | None = None, *, formula: str = "", name: str | None = None) -> Any:
    """Decorator: turn a NumPy forward into a chainrule op (see :class:`CustomOp`)."""
    if fn is not None:
        return CustomOp(fn, formula, name)
    return lambda f: CustomOp(f, formula, name)
