"""The op table: one entry per differentiable operation.

An entry holds the forward (on NumPy arrays), one vector-Jacobian product per input, optionally
the Jacobian-vector products, the derivative formula people read, and the sample the every-op
test draws from. The rules are written in terms that work on both NumPy arrays and Tensors
(operators, NumPy ufuncs and array methods, which Tensors dispatch to their own ops): plain
``backward()`` runs them on arrays, fast; ``create_graph=True`` runs them on Tensors, recorded,
so they differentiate again.

Rule signatures::

    vjp_i(g, out, *inputs, **params) -> gradient for input i   (any broadcast shape: the engine
                                                                 sums it down to the input's)
    jvp_i(t, out, *inputs, **params) -> tangent contribution of input i to the output

For elementwise ops the two are the same formula, so ``jvp`` defaults to ``vjp``. Tangents may
carry leading batch dimensions (``jacfwd`` pushes all basis vectors in one pass), so JVP rules
index axes from the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np

from ..engine import apply

ALL_OPS: dict[str, Op] = {}


@dataclass
class Sample:
    """How the every-op test draws inputs: shapes (per input, broadcasting on purpose),
    a value range, extra keyword parameters, and which inputs are differentiated."""

    shapes: Sequence[tuple] = ((3, 4),)
    low: float = -2.0
    high: float = 2.0
    params: dict = field(default_factory=dict)
    variants: Sequence[dict] = ()  # further parameter sets to test
    make: Callable[[np.random.Generator], tuple] | None = None  # custom argument builder
    # Maps the free test inputs onto the op's domain before the op sees them (as PyTorch's
    # gradcheck wrappers do), e.g. A -> (A + Aᵀ)/2 for an op that reads one triangle only.
    # Written with chainrule ops; takes and returns the float inputs, in order.
    domain: Callable[..., tuple] | None = None
    second_order: bool = True
    jvp: bool = True  # check forward mode against reverse mode
    atol: float = 1e-5
    rtol: float = 1e-4


class OpError(ValueError):
    """Bad input to an op: the message names the op, the shapes and what to do."""


class OpIndexError(IndexError):
    """An index out of range for an op's input."""


@dataclass(eq=False)
class Op:
    name: str
    forward: Callable[..., Any]
    vjps: tuple[Callable[..., Any], ...] | None
    formula: str | tuple[str, ...] = ""
    sample: Sample | None = None
    torch: str | None = None
    jvps: tuple[Callable[..., Any] | None, ...] | None = None
    elementwise: bool = False
    saves: bool = True  # do the rules read input values? (version-checked at backward)
    # per input: the inputs its rule reads (and OUTPUT, if any rule names it: the output is
    # then read only by those, else by every rule when saves_output)
    reads: tuple[tuple[int, ...], ...] | None = None
    saves_output: bool = False
    view: bool = False  # output shares memory (and the in-place version) with input 0
    tensor_rules: bool = False  # rules always receive Tensors (custom ops)
    variadic: bool = False  # any number of tensor inputs; rules get the input index first
    doc: str = ""

    # Calling an op is engine.apply(op, ...) itself (no wrapper frame: this is the hot path).
    __call__ = cast("Callable[..., Any]", apply)

    @property
    def differentiable(self) -> bool:
        return self.vjps is not None

    @property
    def formulas(self) -> tuple[str, ...]:
        return (self.formula,) if isinstance(self.formula, str) else tuple(self.formula)

    def formula_for(self, i: int) -> str:
        f = self.formulas
        return f[i] if i < len(f) else f[-1] if f else ""

    def jvp(self, i: int, t: Any, out: Any, args: tuple, params: dict) -> Any:
        """The tangent that input ``i``'s tangent ``t`` contributes to the output."""
        if self.vjps is None or (not self.variadic and i < len(self.vjps)
                                 and self.vjps[i] is None):
            # No derivative with respect to this input (a comparison, where's condition): it
            # contributes nothing (zeros, broadcast by the engine to the output's shape).
            return t * 0
        if self.variadic and self.jvps is not None and self.jvps[0] is not None:
            return self.jvps[0](i, t, out, *args, **params)
        rule = self.jvps[i] if self.jvps is not None and not self.variadic and i < len(
            self.jvps) else None
        if rule is None and self.elementwise and self.vjps is not None:
            rule = self.vjps[i]
        if rule is not None:
            return rule(t, out, *args, **params)
        return _jvp_by_transposing(self, i, t, out, args, params)

    def explain_error(self, e: Exception, args: tuple, params: dict) -> Exception:
        """NumPy's error in the forward, restated: the op, the input shapes, what to do. An
        ``IndexError`` stays one (``OpIndexError``), a ``TypeError`` stays a ``TypeError``."""
        if isinstance(e, (OpError, OpIndexError)):  # already ours, already explained
            return e
        shapes = " and ".join(str(tuple(np.shape(_data(a)))) for a in args)
        msg = str(e)
        extra = f" ({', '.join(f'{k}={_short(v)}' for k, v in params.items())})" \
            if params else ""
        if isinstance(e, TypeError):
            return TypeError(f"{self.name}{extra}: {msg} (input shapes {shapes})")
        if isinstance(e, IndexError):
            return OpIndexError(f"{self.name}{extra}: {msg} (input shape {shapes})")
        if isinstance(e, OverflowError):  # a Python int outside an integer tensor's range
            return OpError(f"{self.name}: {msg} (input shapes {shapes}); convert the tensor to "
                           "a wider dtype first (e.g. x.long() or x.float())")
        if isinstance(e, np.linalg.LinAlgError):
            return OpError(f"{self.name}: {msg} (input shapes {shapes}); the matrix must be "
                           "invertible" + (" and symmetric positive-definite"
                                           if "definite" in msg else ""))
        if "broadcast" in msg:
            what = f"shapes {shapes} cannot be broadcast together"
            hint = "make the trailing dimensions equal or 1 (see reshape/unsqueeze)"
        elif "matmul" in msg or "mismatch in its core dimension" in msg:
            what = f"shapes {shapes} cannot be multiplied"
            hint = "the last dim of the first must equal the second-to-last dim of the second"
        elif "out of bounds" in msg or "out of range" in msg:
            return OpIndexError(f"{self.name}: {msg} (input shapes {shapes})")
        else:
            what, hint = f"{msg} (input shapes {shapes})", ""
        return OpError(f"{self.name}{extra}: {what}" + (f"; {hint}" if hint else ""))


def _short(v: Any) -> str:
    """A parameter for an error message: arrays by shape and dtype, not by value."""
    if isinstance(v, np.ndarray):
        return f"<array of shape {v.shape}, {v.dtype}>"
    if isinstance(v, tuple):
        inner = ", ".join(_short(x) for x in v)
        return f"({inner}{',' if len(v) == 1 else ''})"
    return repr(v)


def _data(a: Any) -> Any:
    return getattr(a, "data", a)


def _jvp_by_transposing(op: Op, i: int, t: Any, out: Any, args: tuple, params: dict) -> Any:
    """JVP from the VJP: J t = d/du <J^T u, t>, since the VJP is linear in u.

    Used for ops (custom ones, typically) that define no JVP rule; handles batched tangents
    one slice at a time.
    """
    from ..engine import enable_grad, walk
    from ..tensor import Tensor

    x = args[i]
    lead = t.ndim - x.ndim
    if lead:
        return _stack([_jvp_by_transposing(op, i, t[k], out, args, params)
                       for k in range(t.shape[0])])
    with enable_grad():
        u = Tensor._make(np.zeros(out.shape, dtype=out.dtype)).requires_grad_()
        if op.vjps is None:
            ct = None
        elif op.variadic:
            ct = op.vjps[0](i, u, out, *args, **params)
        else:
            ct = op.vjps[i](u, out, *args, **params)
        if ct is None:
            return t * 0.0
        if not isinstance(ct, Tensor):
            ct = Tensor._make(np.asarray(ct))
        from ..engine import unbroadcast

        ct = unbroadcast(ct, x.shape)
        inner = (ct * t).sum()
        if not inner.requires_grad:
            return Tensor._make(np.zeros(out.shape, dtype=out.dtype))
        # retain_graph: the walk passes through the primal inputs' history, which the caller
        # (and the reverse pass of an enclosing transform) still needs.
        res = walk([inner], [np.ones((), dtype=inner.dtype)], retain_graph=True,
                   create_graph=True, targets=[u])
        assert res is not None
        (jt,) = res
    return jt if jt is not None else Tensor._make(np.zeros(out.shape, dtype=out.dtype))


def _stack(ts: list) -> Any:
    from ..functional import stack

    return stack(ts)


def defop(name: str, forward: Callable[..., Any],
          vjp: Callable[..., Any] | Sequence[Callable[..., Any]] | None,
          formula: str | tuple[str, ...] = "", **kw: Any) -> Op:
    """Define an op and enter it in the table (see the module docstring)."""
    vjps = None if vjp is None else (tuple(vjp) if isinstance(vjp, (tuple, list)) else (vjp,))
    jvp = kw.pop("jvp", None)
    jvps = None if jvp is None else (tuple(jvp) if isinstance(jvp, (tuple, list)) else (jvp,))
    op = Op(name, forward, vjps, formula, jvps=jvps, **kw)
    if name in ALL_OPS:
        raise ValueError(f"op {name!r} is defined twice")
    ALL_OPS[name] = op
    return op


def all_ops() -> list[Op]:
    """Every op in the table (importing the op modules fills it)."""
    from . import elementwise, indexing, linalg, reductions, shape  # noqa: F401

    return list(ALL_OPS.values())


def markdown_table() -> str:
    """The op table as Markdown (docs/ops.md is generated from it; a test keeps it current)."""
    import chainrule  # noqa: F401 - importing the package registers every op module

    lines = ["| op | derivative | PyTorch |", "|---|---|---|"]
    for op in sorted(all_ops(), key=lambda o: o.name):
        formula = "<br>".join(f for f in op.formulas if f) if op.differentiable else \
            "no gradient"
        torch_name = f"`torch.{op.torch}`" if op.torch else ""
        lines.append(f"| `{op.name}` | {formula.replace('|', '∣')} | {torch_name} |")
    return "\n".join(lines) + "\n"
