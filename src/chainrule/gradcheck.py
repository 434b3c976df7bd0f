"""Gradient checking: the engine's derivatives against central differences, in float64."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import enable_grad
from .tensor import Tensor, as_tensor
from .transforms import autograd_grad


class GradcheckError(AssertionError):
    """The analytic and numerical derivatives disagree (the message says where)."""


def _as_inputs(inputs: Any) -> list:
    return list(inputs) if isinstance(inputs, (tuple, list)) else [inputs]


def _float64_copies(inputs: list) -> list:
    """Fresh float64 leaves, C-contiguous (central differences perturb them through a flat
    view, which for a transposed array would be a copy)."""
    out = []
    for x in inputs:
        if isinstance(x, Tensor) and x.dtype.kind == "f":
            t = Tensor._make(np.array(x.data, dtype=np.float64, order="C"))
            out.append(t.requires_grad_() if x.requires_grad else t)
        else:
            out.append(x)
    return out


def _outputs(f: Callable, xs: list) -> list[Tensor]:
    with enable_grad():
        out = f(*xs)
    return [as_tensor(o) for o in (out if isinstance(out, (tuple, list)) else [out])]


def _numerical_jacobian(f: Callable, xs: list, k: int, eps: float) -> list[np.ndarray]:
    """d out_j / d x_k for each output j, as (out.size, x.size) arrays."""
    x = xs[k]
    flat = x.data.reshape(-1)
    cols: list[list[np.ndarray]] = []
    for i in range(flat.size):
        orig = flat[i]
        flat[i] = orig + eps
        plus = [o.data.astype(np.float64).reshape(-1) for o in _outputs(f, xs)]
        flat[i] = orig - eps
        minus = [o.data.astype(np.float64).reshape(-1) for o in _outputs(f, xs)]
        flat[i] = orig
        cols.append([(p - m) / (2 * eps) for p, m in zip(plus, minus)])
    n_out = len(cols[0]) if cols else 0
    return [np.stack([c[j] for c in cols], axis=1) if cols else np.zeros((0, 0))
            for j in range(n_out)]


def _analytic_jacobian(f: Callable, xs: list, k: int) -> list[np.ndarray]:
    outs = _outputs(f, xs)
    x = xs[k]
    jacs = []
    for o in outs:
        rows = np.zeros((o.data.size, x.data.size))
        if o.requires_grad:
            for j in range(o.data.size):
                e = np.zeros(o.data.size)
                e[j] = 1
                (g,) = autograd_grad([o], [x], [Tensor._make(e.reshape(o.shape))],
                                     retain_graph=True, allow_unused=True)
                if g is not None:
                    rows[j] = g.data.reshape(-1)
        jacs.append(rows)
    return jacs


def gradcheck(f: Callable, inputs: Any, eps: float = 1e-6, atol: float = 1e-5,
              rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Compare ∂f/∂x from the engine with central differences, for every input that requires
    grad, in float64. Returns True, or raises :class:`GradcheckError` naming the input, the
    worst element and both values.

    >>> import chainrule as cr
    >>> x = cr.tensor([0.5, 1.5], dtype=cr.float64, requires_grad=True)
    >>> cr.gradcheck(lambda x: (x.sin() * x).sum(), (x,))
    True
    """
    xs = _float64_copies(_as_inputs(inputs))
    checked = False
    for k, x in enumerate(xs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            continue
        checked = True
        analytic = _analytic_jacobian(f, xs, k)
        numeric = _numerical_jacobian(f, xs, k, eps)
        for j, (a, n) in enumerate(zip(analytic, numeric)):
            bad = ~np.isclose(a, n, rtol=rtol, atol=atol)
            if bad.any():
                err = np.where(bad, np.abs(a - n), -1.0)
                row, col = np.unravel_index(int(np.argmax(err)), err.shape)
                where = np.unravel_index(int(col), x.shape) if x.shape else ()
                msg = (f"gradcheck: the gradient with respect to input {k} (shape {x.shape}) "
                       f"disagrees with central differences at element {tuple(map(int, where))}"
                       f" (output {j}, element {int(row)}): analytic {a[row, col]:.10g}, "
                       f"numerical {n[row, col]:.10g} (atol={atol}, rtol={rtol})")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    if not checked:
        raise ValueError("gradcheck: no input requires grad; mark the inputs to check with "
                         "requires_grad=True")
    return True


def gradgradcheck(f: Callable, inputs: Any, grad_outputs: Any = None, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0,
                  raise_exception: bool = True) -> bool:
    """Check second derivatives: the gradient of vᵀ·∂f/∂x (random v, recorded with
    ``create_graph=True``) against central differences."""
    xs = _float64_copies(_as_inputs(inputs))
    diff = [i for i, x in enumerate(xs) if isinstance(x, Tensor) and x.requires_grad]
    outs = _outputs(f, xs)
    rng = np.random.default_rng(seed)
    vs = _as_inputs(grad_outputs) if grad_outputs is not None else [
        Tensor._make(rng.standard_normal(o.shape)) for o in outs]
    if len(vs) != len(outs):
        raise ValueError(f"gradgradcheck: the function has {len(outs)} outputs but "
                         f"{len(vs)} grad_outputs were given; pass one per output")

    def first_derivatives(*args: Any) -> tuple:
        # (each output with its own grad_output, also when an earlier one needs no gradient)
        pairs = [(o, v) for o, v in zip(_outputs(f, list(args)), vs) if o.requires_grad]
        targets = [args[i] for i in diff]
        if not pairs:
            return tuple(Tensor._make(np.zeros(t.shape)) for t in targets)
        gs = autograd_grad([o for o, _ in pairs], targets,
                           [as_tensor(v).to(np.float64) for _, v in pairs],
                           create_graph=True, allow_unused=True)
        return tuple(g if g is not None else Tensor._make(np.zeros(t.shape)) * args[i].sum() * 0
                     for g, t, i in zip(gs, targets, diff))

    return gradcheck(first_derivatives, xs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception)


def check_grads(f: Callable, args: Sequence[Any], order: int = 2, **kw: Any) -> bool:
    """HIPS-autograd style: gradcheck, and gradgradcheck when ``order`` is 2."""
    gradcheck(f, args, **kw)
    if order >= 2:
        gradgradcheck(f, args, **kw)
    return True
