"""Function transforms (JAX's names): grad, value_and_grad, vjp, jvp, jacrev, jacfwd, hessian.

They are thin: reverse mode is the engine's backward walk with ``targets``; forward mode opens a
new tangent level that :func:`chainrule.engine.apply` pushes through every op in the same pass.
Both record what they compute when an outer transform needs it, so they compose.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import STATE, ChainruleError, enable_grad, walk
from .ops.shape import identity
from .tensor import Tensor, _root_gradient, as_tensor


def _argnums(argnums: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -n <= a < n:
            raise ValueError(f"{name}: argnums {argnums} is out of range for a function called "
                             f"with {n} positional arguments")
    return tuple(a % n for a in nums)


def _float_tensor(x: Any, name: str) -> Tensor:
    t = as_tensor(x)
    if t.dtype.kind != "f":
        if isinstance(x, Tensor):
            raise TypeError(f"{name}: differentiating with respect to a {t.dtype} tensor; "
                            "only floating point inputs have derivatives")
        t = t.to(np.float64 if isinstance(x, np.ndarray) else None)
        if t.dtype.kind != "f":
            from ._dtypes import get_default_dtype

            t = t.to(get_default_dtype())
    return t


def _outer_active(tensors: Sequence[Tensor]) -> bool:
    """Must this transform record its own work (an enclosing transform differentiates it)?"""
    return bool(STATE.levels) or any(t.requires_grad or t._tangents for t in tensors)


def _wrap_inputs(args: Sequence[Any], nums: tuple[int, ...],
                 name: str) -> tuple[list, list[Tensor], bool]:
    """Fresh points in the graph for the differentiated arguments (still connected to any
    enclosing transform's graph and tangents)."""
    new_args = list(args)
    originals = [_float_tensor(new_args[i], name) for i in nums]
    record = _outer_active(originals)
    inputs = []
    with enable_grad():
        for i, x in zip(nums, originals):
            x_in = identity(x) if record else Tensor._make(x.data)
            x_in.requires_grad = True
            new_args[i] = x_in
            inputs.append(x_in)
    return new_args, inputs, record


def _detached(tree: Any) -> Any:
    """Tensors in a (nested) tuple/list/dict, cut from the graph (for results of a transform
    that no enclosing transform differentiates)."""
    if isinstance(tree, Tensor):
        return tree.detach()
    if isinstance(tree, (tuple, list)):
        return type(tree)(_detached(t) for t in tree)
    if isinstance(tree, dict):
        return {k: _detached(v) for k, v in tree.items()}
    return tree


def _fill(grads: list, inputs: list[Tensor], record: bool) -> list[Tensor]:
    out = []
    for g, x in zip(grads, inputs):
        if g is None:
            g = np.zeros(x.shape, dtype=x.dtype)
        out.append(g if isinstance(g, Tensor) else Tensor._make(np.asarray(g)))
    if not record:
        out = [g.detach() for g in out]
    return out


def value_and_grad(fun: Callable, argnums: int | Sequence[int] = 0,
                   has_aux: bool = False) -> Callable:
    """``fun``'s value and its gradient with respect to ``args[argnums]`` (scalar ``fun``).

    >>> import chainrule as cr
    >>> cr.value_and_grad(lambda x: (x ** 2).sum())(cr.tensor([1.0, 2.0]))
    (tensor(5.), tensor([2., 4.]))
    """
    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "grad")
        args2, inputs, record = _wrap_inputs(args, nums, "grad")
        with enable_grad():
            result = fun(*args2, **kwargs)
        out, aux = result if has_aux else (result, None)
        out = as_tensor(out)
        if out.data.size != 1:
            raise ChainruleError(
                f"grad: the function must return a scalar, it returned shape {out.shape}; use "
                "cr.jacrev or cr.vjp for non-scalar outputs")
        grads: list = [None] * len(inputs)
        if out.requires_grad:
            grads = walk([out], [np.ones(out.shape, dtype=out.dtype)], retain_graph=record,
                         create_graph=record, targets=inputs) or grads
        gs = _fill(grads, inputs, record)
        value = out if record else out.detach()
        if not record:
            aux = _detached(aux)
        g = gs[0] if isinstance(argnums, int) else tuple(gs)
        return ((value, aux), g) if has_aux else (value, g)

    return wrapper


def grad(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar function, as a function: ``grad(f)(x) = ∂f/∂x``.

    Composes: ``grad(grad(f))`` is the second derivative.

    >>> import chainrule as cr
    >>> cr.grad(cr.sin)(cr.tensor(0.0))
    tensor(1.)
    """
    vg = value_and_grad(fun, argnums, has_aux)

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if has_aux:
            (_, aux), g = vg(*args, **kwargs)
            return g, aux
        return vg(*args, **kwargs)[1]

    return wrapper


def vjp(fun: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """``(fun(*primals), vjp_fn)``; ``vjp_fn(v)`` gives vᵀ·J for each primal (reverse mode).

    ``vjp_fn`` may be called many times (the graph is kept until it is garbage).
    """
    args, inputs, record = _wrap_inputs(primals, tuple(range(len(primals))), "vjp")
    with enable_grad():
        result = fun(*args)
    out, aux = result if has_aux else (result, None)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    outs = [as_tensor(o) for o in outs]

    def vjp_fn(cotangent: Any) -> tuple:
        cts = list(cotangent) if isinstance(out, (tuple, list)) else [cotangent]
        if len(cts) != len(outs):
            raise ValueError(f"vjp_fn: expected {len(outs)} cotangents, got {len(cts)}")
        roots, root_grads = [], []
        for o, c in zip(outs, cts):
            if o.requires_grad:
                roots.append(o)
                root_grads.append(_root_gradient(o, c, "vjp_fn"))
        cg = record or any(isinstance(c, Tensor) and c.requires_grad for c in root_grads)
        grads = walk(roots, root_grads, retain_graph=True, create_graph=cg,
                     targets=inputs) if roots else [None] * len(inputs)
        return tuple(_fill(grads or [], inputs, cg))

    shown = out if record else (
        type(out)(o.detach() for o in outs) if isinstance(out, (tuple, list)) else outs[0].detach())
    if not record:
        aux = _detached(aux)
    return (shown, vjp_fn, aux) if has_aux else (shown, vjp_fn)


class _Level:
    """A forward-mode level: while open, ops push tangents tagged with it."""

    def __init__(self, lead: int) -> None:
        self.lead = lead

    def __enter__(self) -> int:
        STATE.next_level += 1
        self.level = STATE.next_level
        STATE.levels[self.level] = self.lead
        return self.level

    def __exit__(self, *exc: object) -> None:
        STATE.levels.pop(self.level, None)


def _seed(x: Any, tangent: Tensor, level: int, name: str) -> Tensor:
    """``x`` as a fresh tensor carrying ``tangent`` at ``level`` (and whatever it had)."""
    xt = _float_tensor(x, name)
    x_in = identity(xt)
    x_in._tangents = dict(xt._tangents or {})
    x_in._tangents[level] = tangent
    return x_in


def _tangent_of(out: Tensor, level: int, lead_shape: tuple) -> Tensor:
    t = (out._tangents or {}).get(level)
    if t is None:
        return Tensor._make(np.zeros(lead_shape + out.shape, dtype=out.dtype))
    return t


def jvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any]) -> tuple:
    """``(fun(*primals), J·tangents)`` in one forward pass (forward mode).

    >>> import chainrule as cr
    >>> cr.jvp(cr.sin, (cr.tensor(0.0),), (cr.tensor(2.0),))
    (tensor(0.), tensor(2.))
    """
    primals, tangents = tuple(primals), tuple(tangents)
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    record = _outer_active([as_tensor(x) for x in primals + tangents])
    with _Level(0) as level:
        args = []
        for p, t in zip(primals, tangents):
            tt = as_tensor(t)
            if tt.shape != np.shape(getattr(p, "data", p)):
                raise ValueError(f"jvp: tangent shape {tt.shape} does not match primal shape "
                                 f"{np.shape(getattr(p, 'data', p))}")
            args.append(_seed(p, tt.to(_float_tensor(p, "jvp").dtype), level, "jvp"))
        out = fun(*args)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        touts = [_tangent_of(as_tensor(o), level, ()) for o in outs]
    if not record:  # nothing outside differentiates this: hand back plain values
        out, outs, touts = _detached(out), _detached(outs), _detached(touts)
    if isinstance(out, (tuple, list)):
        return type(out)(outs), type(out)(touts)
    return out, touts[0]


def _arrange(per_arg: list[list[Tensor]], single_arg: bool, out_type: type | None) -> Any:
    """Jacobians ``per_arg[argument][output]`` in JAX's layout: the output structure outside,
    the ``argnums`` tuple inside."""
    if out_type is None:
        return per_arg[0][0] if single_arg else tuple(j[0] for j in per_arg)
    n_out = len(per_arg[0])
    if single_arg:
        return out_type(per_arg[0][o] for o in range(n_out))
    return out_type(tuple(j[o] for j in per_arg) for o in range(n_out))


def _outputs(out: Any) -> tuple[list[Tensor], type | None]:
    if isinstance(out, (tuple, list)):
        return [as_tensor(o) for o in out], type(out)
    return [as_tensor(out)], None


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian by forward mode: all basis tangents pushed through in ONE batched pass.

    The result has shape ``out.shape + x.shape`` (a tuple of them for a tuple of outputs or of
    ``argnums``, as in JAX).
    """
    @functools.wraps(fun)
    def wrapper(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacfwd")
        per_arg, out_type = [], None
        for i in nums:
            jacs, out_type = _jacfwd_one(fun, args, i)
            per_arg.append(jacs)
        return _arrange(per_arg, isinstance(argnums, int), out_type)

    return wrapper


def _jacfwd_one(fun: Callable, args: tuple, i: int) -> tuple[list[Tensor], type | None]:
    x = _float_tensor(args[i], "jacfwd")
    record = _outer_active([as_tensor(a) for a in args if isinstance(a, Tensor)])
    n = x.data.size
    basis = Tensor._make(np.eye(n, dtype=x.dtype).reshape((n,) + x.shape))
    with _Level(1) as level:
        args2 = list(args)
        args2[i] = _seed(x, basis, level, "jacfwd")
        outs, out_type = _outputs(fun(*args2))
        tangents = [_tangent_of(out, level, (n,)) for out in outs]
    from .functional import movedim, reshape

    jacs = []
    for out, t in zip(outs, tangents):
        jac = reshape(movedim(t, 0, -1), out.shape + x.shape) if t.ndim else t
        jacs.append(jac if record else jac.detach())
    return jacs, out_type


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Jacobian by reverse mode: one backward pass per output element.

    The result has shape ``out.shape + x.shape`` (a tuple of them for a tuple of outputs or of
    ``argnums``, as in JAX).
    """
    @functools.wraps(fun)
    def wrapper(*args: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacrev")
        other = [a for k, a in enumerate(args) if k not in nums]

        def partial(*diff: Any) -> Any:
            full, it_d, it_o = [], iter(diff), iter(other)
            for k in range(len(args)):
                full.append(next(it_d) if k in nums else next(it_o))
            return fun(*full)

        out, vjp_fn = vjp(partial, *[args[k] for k in nums])
        outs, out_type = _outputs(out)
        from .functional import reshape, stack

        x_shapes = [tuple(np.shape(getattr(args[k], "data", args[k]))) for k in nums]
        per_out = []
        for o, y in enumerate(outs):
            rows = []
            for k in range(y.data.size):
                cts = [Tensor._make(np.zeros(z.shape, dtype=z.dtype)) for z in outs]
                e = np.zeros(y.data.size, dtype=y.dtype)
                e[k] = 1
                cts[o] = Tensor._make(e.reshape(y.shape))
                rows.append(vjp_fn(cts if out_type is not None else cts[0]))
            jacs = []
            for j, x_shape in enumerate(x_shapes):
                if rows:
                    jac = reshape(stack([r[j] for r in rows], 0), y.shape + x_shape)
                else:
                    jac = Tensor._make(np.zeros(y.shape + x_shape, dtype=y.dtype))
                jacs.append(jac)
            per_out.append(jacs)
        per_arg = [[per_out[o][j] for o in range(len(outs))] for j in range(len(nums))]
        return _arrange(per_arg, isinstance(argnums, int), out_type)

    return wrapper


jacobian = jacrev


def hessian(fun: Callable, argnums: int | Sequence[int] = 0) -> Callable:
    """The Hessian, forward-over-reverse: ``jacfwd(jacrev(fun))``."""
    return jacfwd(jacrev(fun, argnums), argnums)


# --------------------------------------------------------------------------- autograd.grad

def autograd_grad(outputs: Any, inputs: Any, grad_outputs: Any = None,
                  retain_graph: bool | None = None, create_graph: bool = False,
                  allow_unused: bool = False) -> tuple:
    """PyTorch's ``torch.autograd.grad``: gradients of ``outputs`` with respect to ``inputs``,
    returned instead of accumulated into ``.grad``."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    gos = [grad_outputs] * len(outs) if grad_outputs is None or isinstance(
        grad_outputs, Tensor) and len(outs) == 1 else list(grad_outputs)
    if grad_outputs is None:
        gos = [None] * len(outs)
    for o in outs:
        if not o.requires_grad:
            raise ChainruleError("autograd.grad: an output does not require grad")
    root_grads = [_root_gradient(o, g, "autograd.grad") for o, g in zip(outs, gos)]
    keep = create_graph if retain_graph is None else retain_graph
    grads = walk(outs, root_grads, retain_graph=keep, create_graph=create_graph,
                 targets=ins) or []
    result: list[Tensor | None] = []
    for g in grads:
        if g is None:
            if not allow_unused:
                raise ChainruleError(
                    "autograd.grad: one of the inputs was not used to compute the outputs; pass "
                    "allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor._make(np.asarray(g)))
    return tuple(result)
