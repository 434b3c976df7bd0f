"""Function transforms (JAX's names): grad, value_and_grad, vjp, jvp, jacrev, jacfwd, hessian.

They are thin: reverse mode is the engine's backward walk with ``targets``; forward mode opens a
new tangent level that :func:`chainrule.engine.apply` pushes through every op in the same pass.
Both record what they compute when an outer transform needs it, so they compose: when their
inputs carry tangents or require grad, or when the function's graph reaches another tensor
that requires grad (a closure variable, an argument not differentiated here).
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .engine import STATE, ChainruleError, Node, enable_grad, walk
from .ops.shape import identity
from .tensor import Tensor, _root_gradient, as_tensor


def _check_transform(fun: Any, argnums: Any, name: str) -> None:
    """Fail when the transform is made, not at its first call, for a bad ``fun`` or ``argnums``."""
    if not callable(fun):
        raise TypeError(f"{name}: expected a function to transform, got {type(fun).__name__}")
    nums = argnums if isinstance(argnums, (tuple, list)) else (argnums,)
    if not all(isinstance(a, (int, np.integer)) for a in nums):
        raise TypeError(f"{name}: argnums must be an int or a tuple of ints, got {argnums!r}")
    if not nums:
        raise ValueError(f"{name}: argnums is empty, so there is nothing to differentiate; "
                         "pass the index of at least one argument (as torch.func does)")


def _argnums(argnums: int | Sequence[int], n: int, name: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, (int, np.integer)) else tuple(argnums)
    for a in nums:
        if not -n <= a < n:
            raise ValueError(f"{name}: argnums {argnums} is out of range for a function called "
                             f"with {n} positional arguments")
    result = tuple(int(a) % n for a in nums)
    if len(set(result)) != len(result):
        raise ValueError(f"{name}: argnums {argnums} names an argument twice; list each "
                         "argument to differentiate once")
    return result


def _describe(x: Any) -> str:
    if isinstance(x, Tensor):
        return f"a tensor of shape {x.shape}"
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of {len(x)} items"
    return f"a {type(x).__name__}"


def _refuse_container(x: Any, name: str) -> None:
    if isinstance(x, dict) or isinstance(x, (tuple, list)) and any(
            isinstance(e, Tensor) for e in x):
        raise TypeError(f"{name}: cannot differentiate with respect to {_describe(x)}; "
                        f"cr.{name} takes tensors, arrays and numbers, not containers of them: "
                        f"pass each tensor as its own argument{_PICK.get(name, '')}, or use "
                        f"cr.func.{name}, which takes nested dicts, tuples and lists")


_PICK = {"grad": " (picked with argnums)", "jacrev": " (picked with argnums)",
         "jacfwd": " (picked with argnums)"}


def _float_tensor(x: Any, name: str, k: int | None = None) -> Tensor:
    """Argument ``k`` (a tensor, array or number) as a float tensor to differentiate at. An
    integer or bool tensor or array is an error (as in JAX and torch.func); a Python number
    takes the default float dtype."""
    _refuse_container(x, name)
    t = as_tensor(x)
    if t.dtype.kind != "f":
        if isinstance(x, (Tensor, np.ndarray, np.generic)):
            which = "an argument" if k is None else f"argument {k}"
            if isinstance(x, Tensor):
                what, fix = _describe(t), "x.float() or x.double()"
            elif isinstance(x, np.generic):
                what, fix = "a NumPy scalar", "float(x)"
            else:
                what, fix = f"a NumPy array of shape {t.shape}", "x.astype(np.float32)"
            raise TypeError(f"{name}: {which} is {what} of dtype {t.dtype}; only "
                            f"floating point inputs have derivatives: convert it first (e.g. "
                            f"{fix}), or leave it out of argnums")
        from ._dtypes import get_default_dtype

        t = t.to(get_default_dtype())  # a Python int or bool: a point on the real line
    return t


def _output(x: Any, name: str) -> Tensor:
    """One output of the transformed function, as a tensor (a clear error for a container)."""
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (dict, tuple, list, set)):
        raise TypeError(f"{name}: the function returned {_describe(x)} where a tensor was "
                        "expected; chainrule's transforms handle a tensor or a tuple/list of "
                        "tensors as output (not nested containers or dicts)")
    return as_tensor(x)


def _split_aux(result: Any, has_aux: bool, name: str) -> tuple[Any, Any]:
    if not has_aux:
        return result, None
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise TypeError(f"{name}: with has_aux=True the function must return a pair "
                        f"(output, aux), it returned {_describe(result)}")
    return result[0], result[1]


def _outer_active(tensors: Sequence[Tensor]) -> bool:
    """Must this transform record its own work (an enclosing transform differentiates it)?
    Under ``no_grad`` a tensor requiring grad does not count (as in torch.func)."""
    return bool(STATE.levels) or any(t._tangents for t in tensors) or (
        STATE.grad_enabled and any(t.requires_grad for t in tensors))


# The inputs of the reverse-mode transforms that have returned: no one differentiates with
# respect to them any more, so a graph reaching them needs no recording (by id, weakly held).
_finished: weakref.WeakValueDictionary[int, Tensor] = weakref.WeakValueDictionary()


def _finish(inputs: Sequence[Tensor]) -> None:
    for x in inputs:
        _finished[id(x)] = x


def _reaches_other_leaf(outs: Sequence[Tensor], inputs: Sequence[Tensor]) -> bool:
    """Does the graph of ``outs`` lead to a tensor requiring grad other than ``inputs`` (a
    closure variable, another argument, an enclosing transform's input)? Then the results must
    be recorded, or that outer derivative would silently be zero. (Not under the caller's
    ``no_grad``, which asks for plain results.)"""
    if not STATE.grad_enabled:
        return False
    own = {id(x) for x in inputs}
    finished, Node_ = _finished, Node
    stack: list[Node] = []
    for o in outs:
        if o.grad_fn is not None:
            stack.append(o.grad_fn)
        elif o.requires_grad and id(o) not in own and finished.get(id(o)) is not o:
            return True
    # (a plain loop with local names: this runs on every call of a transform)
    seen: set[Node] = set()
    push, pop, add = stack.append, stack.pop, seen.add
    while stack:
        for p in pop().parents or ():
            if type(p) is Node_:
                if p not in seen:
                    add(p)
                    push(p)
            elif p is not None and id(p) not in own and finished.get(id(p)) is not p:
                return True
    return False


def _wrap_inputs(args: Sequence[Any], nums: tuple[int, ...],
                 name: str) -> tuple[list, list[Tensor], bool]:
    """Fresh points in the graph for the differentiated arguments (still connected to any
    enclosing transform's graph and tangents)."""
    new_args = list(args)
    originals = [_float_tensor(new_args[i], name, i) for i in nums]
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


def _tensors(tree: Any) -> list[Tensor]:
    """The tensors in a (nested) tuple/list/dict."""
    if isinstance(tree, Tensor):
        return [tree]
    if isinstance(tree, (tuple, list, dict)):
        items = tree.values() if isinstance(tree, dict) else tree
        return [t for item in items for t in _tensors(item)]
    return []


def _kept_aux(aux: Any, record: bool, inputs: Sequence[Tensor]) -> Any:
    """``has_aux``'s extra result: detached, unless this transform records or the aux depends
    on a tensor requiring grad other than the transform's inputs (a closure variable), which
    an outer derivative may still want (as in torch.func)."""
    if record or _reaches_other_leaf(_tensors(aux), inputs):
        return aux
    return _detached(aux)


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
    _check_transform(fun, argnums, "grad")

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "grad")
        args2, inputs, record = _wrap_inputs(args, nums, "grad")
        with enable_grad():
            result = fun(*args2, **kwargs)
        out, aux = _split_aux(result, has_aux, "grad")
        out = _output(out, "grad")
        if out.data.size != 1:
            raise ChainruleError(
                f"grad: the function must return a scalar, it returned shape {out.shape}; use "
                "cr.jacrev or cr.vjp for non-scalar outputs")
        if out.dtype.kind != "f":
            raise TypeError(f"grad: the function must return a floating point scalar, it "
                            f"returned dtype {out.dtype}; an integer or boolean result has no "
                            "gradient")
        grads: list = [None] * len(inputs)
        if out.requires_grad:
            record = record or _reaches_other_leaf([out], inputs)
            grads = walk([out], [np.ones(out.shape, dtype=out.dtype)], retain_graph=record,
                         create_graph=record, targets=inputs) or grads
        _finish(inputs)
        gs = _fill(grads, inputs, record)
        value = out if record else out.detach()
        aux = _kept_aux(aux, record, inputs) if has_aux else None
        g = gs[0] if isinstance(argnums, (int, np.integer)) else tuple(gs)
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
    _check_transform(fun, 0, "vjp")
    args, inputs, record = _wrap_inputs(primals, tuple(range(len(primals))), "vjp")
    with enable_grad():
        result = fun(*args)
    out, aux = _split_aux(result, has_aux, "vjp")
    several = isinstance(out, (tuple, list))
    outs = [_output(o, "vjp") for o in (out if several else [out])]
    record = record or _reaches_other_leaf(outs, inputs)
    _finish(inputs)

    def vjp_fn(cotangent: Any) -> tuple:
        cts = _cotangents(cotangent, len(outs) if several else None)
        roots, root_grads = [], []
        for k, (o, c) in enumerate(zip(outs, cts)):
            shape = np.shape(getattr(c, "data", c))
            if c is not None and shape != o.shape:  # (checked for every output, used or not)
                which, of = (f"cotangent {k}", f"output {k}") if several else (
                    "the cotangent", "the output")
                raise ChainruleError(f"vjp_fn: {which} has shape {shape}, but {of} has shape "
                                     f"{o.shape}; pass a cotangent of the output's shape")
            if o.requires_grad:
                roots.append(o)
                root_grads.append(_root_gradient(o, c, "vjp_fn"))
        cg = record or any(isinstance(c, Tensor) and (c.requires_grad or c._tangents)
                           for c in root_grads)  # (an outer transform differentiates it)
        try:
            grads = walk(roots, root_grads, retain_graph=True, create_graph=cg,
                         targets=inputs) if roots else [None] * len(inputs)
        except ChainruleError as e:
            if not str(e).startswith("Trying to backward through the graph a second time"):
                raise
            raise ChainruleError(
                "vjp_fn: the graph recorded by cr.vjp was freed by a backward pass through "
                "its outputs since (an enclosing transform's, or a backward() without "
                "retain_graph=True); call vjp_fn before that backward pass, e.g. inside the "
                "function the enclosing transform differentiates") from None
        return tuple(_fill(grads or [], inputs, cg))

    shown = out if record else (
        type(out)(o.detach() for o in outs) if several else outs[0].detach())
    aux = _kept_aux(aux, record, inputs) if has_aux else None
    return (shown, vjp_fn, aux) if has_aux else (shown, vjp_fn)


def _cotangents(cotangent: Any, n_outputs: int | None) -> list:
    """``vjp_fn``'s argument as one cotangent per output (``n_outputs`` None: a single output,
    not a tuple of them)."""
    if n_outputs is None:
        if isinstance(cotangent, (tuple, list)) and any(isinstance(c, Tensor) for c in cotangent):
            raise TypeError(f"vjp_fn: the function returned a single tensor, so vjp_fn takes "
                            f"one cotangent of its shape, not {_describe(cotangent)}")
        return [cotangent]
    if not isinstance(cotangent, (tuple, list)):
        raise TypeError(f"vjp_fn: the function returned a tuple of {n_outputs} outputs; pass a "
                        f"tuple of {n_outputs} cotangents (one per output), got "
                        f"{_describe(cotangent)}")
    if len(cotangent) != n_outputs:
        raise ValueError(f"vjp_fn: expected {n_outputs} cotangents, got {len(cotangent)}")
    return list(cotangent)


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


def _tangent_of(out: Tensor, level: int, lead_shape: tuple, dtype: Any) -> Tensor:
    """``out``'s tangent at ``level``: zeros (of the inputs' float ``dtype`` for an integer
    output) where it does not depend on the inputs."""
    t = (out._tangents or {}).get(level)
    if t is None:
        kind = out.dtype.kind
        return Tensor._make(np.zeros(lead_shape + out.shape,
                                     dtype=out.dtype if kind == "f" else dtype))
    return t


def _jvp_pairs(primals: Any, tangents: Any) -> tuple[tuple, tuple]:
    for what, v in (("primals", primals), ("tangents", tangents)):
        if not isinstance(v, (tuple, list)):
            raise TypeError(f"jvp: {what} must be a tuple (or list) with one entry per argument "
                            f"of the function, e.g. cr.jvp(f, (x,), (v,)); got {_describe(v)}")
    if len(primals) != len(tangents):
        raise ValueError(f"jvp: {len(primals)} primals but {len(tangents)} tangents")
    for p in primals:
        _refuse_container(p, "jvp")
    return tuple(primals), tuple(tangents)


def _checked_tangent(p: Any, t: Any, k: int) -> Tensor:
    """Tangent ``k`` as a tensor of its primal's shape and float dtype. A tensor or array of
    another float dtype than its tensor or array primal is an error, as in JAX (a number or a
    list takes the primal's dtype)."""
    dtype = _float_tensor(p, "jvp", k).dtype
    tt = as_tensor(t)
    if tt.dtype.kind != "f" and isinstance(t, (Tensor, np.ndarray)):
        raise TypeError(f"jvp: tangent {k} has dtype {tt.dtype}; tangents must be floating "
                        "point (e.g. cr.ones_like(x))")
    shape = np.shape(getattr(p, "data", p))
    if tt.shape != shape:
        raise ValueError(f"jvp: tangent {k} has shape {tt.shape}, which does not match its "
                         f"primal's shape {shape}; pass a tangent of the primal's shape "
                         "(e.g. cr.ones_like(x))")
    if isinstance(t, (Tensor, np.ndarray)) and isinstance(p, (Tensor, np.ndarray)) \
            and tt.dtype != dtype:
        raise TypeError(f"jvp: tangent {k} has dtype {tt.dtype} but its primal has dtype "
                        f"{dtype}; pass a tangent of the primal's dtype (e.g. t.to(x.dtype))")
    return tt.to(dtype)


def jvp(fun: Callable, primals: Sequence[Any], tangents: Sequence[Any],
        has_aux: bool = False) -> tuple:
    """``(fun(*primals), J·tangents)`` in one forward pass (forward mode). With ``has_aux``,
    ``fun`` returns ``(output, aux)`` and the result is ``(output, tangent, aux)``, as in JAX.

    >>> import chainrule as cr
    >>> cr.jvp(cr.sin, (cr.tensor(0.0),), (cr.tensor(2.0),))
    (tensor(0.), tensor(2.))
    """
    _check_transform(fun, 0, "jvp")
    primals, tangents = _jvp_pairs(primals, tangents)
    record = _outer_active([as_tensor(x) for x in primals + tangents])
    with _Level(0) as level:
        args = [_seed(p, _checked_tangent(p, t, k), level, "jvp")
                for k, (p, t) in enumerate(zip(primals, tangents))]
        dtype = args[0].dtype if args else None
        out, aux = _split_aux(fun(*args), has_aux, "jvp")
        several = isinstance(out, (tuple, list))
        outs = [_output(o, "jvp") for o in (out if several else [out])]
        touts = [_tangent_of(o, level, (), dtype) for o in outs]
    # (a closure variable that requires grad makes the results depend on it: keep that)
    record = record or _reaches_other_leaf(outs + touts, ())
    if not record:  # nothing outside differentiates this: hand back plain values
        out, outs, touts = _detached(out), _detached(outs), _detached(touts)
    result = (type(out)(outs), type(out)(touts)) if several else (out, touts[0])
    return (*result, _kept_aux(aux, record, ())) if has_aux else result


def _arrange(per_arg: list[list[Tensor]], single_arg: bool, out_type: type | None) -> Any:
    """Jacobians ``per_arg[argument][output]`` in JAX's layout: the output structure outside,
    the ``argnums`` tuple inside."""
    if out_type is None:
        return per_arg[0][0] if single_arg else tuple(j[0] for j in per_arg)
    n_out = len(per_arg[0])
    if single_arg:
        return out_type(per_arg[0][o] for o in range(n_out))
    return out_type(tuple(j[o] for j in per_arg) for o in range(n_out))


def _outputs(out: Any, name: str) -> tuple[list[Tensor], type | None]:
    if isinstance(out, (tuple, list)):
        return [_output(o, name) for o in out], type(out)
    return [_output(out, name)], None


def jacfwd(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The Jacobian by forward mode: all basis tangents pushed through in ONE batched pass.

    The result has shape ``out.shape + x.shape`` (a tuple of them for a tuple of outputs or of
    ``argnums``, as in JAX). With ``has_aux``, ``fun`` returns ``(output, aux)`` and the
    result is ``(jacobian, aux)``. Keyword arguments are passed to ``fun`` (not differentiated).
    """
    _check_transform(fun, argnums, "jacfwd")

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacfwd")
        per_arg, out_type, aux = [], None, None
        for k, i in enumerate(nums):
            jacs, out_type, aux_i = _jacfwd_one(fun, args, kwargs, i, has_aux)
            per_arg.append(jacs)
            aux = aux_i if k == 0 else aux
        jac = _arrange(per_arg, isinstance(argnums, (int, np.integer)), out_type)
        return (jac, aux) if has_aux else jac

    return wrapper


def _jacfwd_one(fun: Callable, args: tuple, kwargs: dict, i: int,
                has_aux: bool) -> tuple[list[Tensor], type | None, Any]:
    x = _float_tensor(args[i], "jacfwd", i)
    record = _outer_active([a for a in (*args, *kwargs.values()) if isinstance(a, Tensor)])
    n = x.data.size
    basis = Tensor._make(np.eye(n, dtype=x.dtype).reshape((n,) + x.shape))
    with _Level(1) as level:
        args2 = list(args)
        args2[i] = _seed(x, basis, level, "jacfwd")
        out, aux = _split_aux(fun(*args2, **kwargs), has_aux, "jacfwd")
        outs, out_type = _outputs(out, "jacfwd")
        tangents = [_tangent_of(o, level, (n,), x.dtype) for o in outs]
    from .functional import movedim, reshape

    record = record or _reaches_other_leaf(outs + tangents, ())
    jacs = []
    for o, t in zip(outs, tangents):
        jac = reshape(movedim(t, 0, -1), o.shape + x.shape) if t.ndim else t
        jacs.append(jac if record else jac.detach())
    return jacs, out_type, _kept_aux(aux, record, ()) if has_aux else None


def jacrev(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The Jacobian by reverse mode: one backward pass per output element.

    The result has shape ``out.shape + x.shape`` (a tuple of them for a tuple of outputs or of
    ``argnums``, as in JAX). With ``has_aux``, ``fun`` returns ``(output, aux)`` and the
    result is ``(jacobian, aux)``. Keyword arguments are passed to ``fun`` (not differentiated).
    """
    _check_transform(fun, argnums, "jacrev")

    @functools.wraps(fun)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums = _argnums(argnums, len(args), "jacrev")
        for k in nums:  # (bad arguments named as the caller sees them, not as vjp's)
            _float_tensor(args[k], "jacrev", k)
        other = [a for k, a in enumerate(args) if k not in nums]

        def partial(*diff: Any) -> Any:
            full, it_d, it_o = [], iter(diff), iter(other)
            for k in range(len(args)):
                full.append(next(it_d) if k in nums else next(it_o))
            return fun(*full, **kwargs)

        out, vjp_fn, *aux = vjp(partial, *[args[k] for k in nums], has_aux=has_aux)
        outs, out_type = _outputs(out, "jacrev")
        x_shapes = [tuple(np.shape(getattr(args[k], "data", args[k]))) for k in nums]
        per_out = [_jacrev_rows(vjp_fn, outs, o, out_type is not None, x_shapes)
                   for o in range(len(outs))]
        per_arg = [[per_out[o][j] for o in range(len(outs))] for j in range(len(nums))]
        jac = _arrange(per_arg, isinstance(argnums, (int, np.integer)), out_type)
        return (jac, aux[0]) if has_aux else jac

    return wrapper


def _jacrev_rows(vjp_fn: Callable, outs: list[Tensor], o: int, several: bool,
                 x_shapes: list[tuple]) -> list[Tensor]:
    """The Jacobians of output ``o`` with respect to each argument: one vjp per element."""
    from .functional import reshape, stack

    y = outs[o]
    rows = []
    for k in range(y.data.size):
        cts = [Tensor._make(np.zeros(z.shape, dtype=z.dtype)) for z in outs]
        e = np.zeros(y.data.size, dtype=y.dtype)
        e[k] = 1
        cts[o] = Tensor._make(e.reshape(y.shape))
        rows.append(vjp_fn(cts if several else cts[0]))
    jacs = []
    for j, x_shape in enumerate(x_shapes):
        if rows:
            jac = reshape(stack([r[j] for r in rows], 0), y.shape + x_shape)
        else:
            jac = Tensor._make(np.zeros(y.shape + x_shape, dtype=y.dtype))
        jacs.append(jac)
    return jacs


jacobian = jacrev


def hessian(fun: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """The Hessian, forward-over-reverse: ``jacfwd(jacrev(fun))``."""
    return jacfwd(jacrev(fun, argnums, has_aux), argnums, has_aux)


# --------------------------------------------------------------------------- autograd.grad

def autograd_grad(outputs: Any, inputs: Any, grad_outputs: Any = None,
                  retain_graph: bool | None = None, create_graph: bool = False,
                  allow_unused: bool | None = None, is_grads_batched: bool = False,
                  materialize_grads: bool = False) -> tuple:
    """PyTorch's ``torch.autograd.grad``: gradients of ``outputs`` with respect to ``inputs``,
    returned instead of accumulated into ``.grad``. An input the outputs do not depend on is an
    error, or ``None`` with ``allow_unused=True``, or zeros with ``materialize_grads=True``.
    ``is_grads_batched``: the first dimension of each of ``grad_outputs`` is a batch of vectors
    (one backward pass each here, stacked)."""
    if is_grads_batched:
        return _batched_autograd_grad(outputs, inputs, grad_outputs, retain_graph, create_graph,
                                      allow_unused, materialize_grads)
    if allow_unused is None:
        allow_unused = materialize_grads
    elif materialize_grads and not allow_unused:
        raise ValueError("autograd.grad: materialize_grads=True needs allow_unused to be True "
                         "or not passed")
    outs = tensor_list(outputs, "autograd.grad", "outputs")
    ins = tensor_list(inputs, "autograd.grad", "inputs")
    if not ins:
        raise ValueError("autograd.grad: `inputs` cannot be empty; pass the tensors to "
                         "differentiate with respect to")
    for k, x in enumerate(ins):
        if not x.requires_grad:
            raise ChainruleError(f"autograd.grad: input {k} (shape {x.shape}) does not require "
                                 "grad; only tensors that require grad have a gradient")
    gos = per_output(grad_outputs, len(outs), "autograd.grad", "grad_outputs")
    check_outputs_require_grad(outs, "autograd.grad")
    root_grads = [_root_gradient(o, g, "autograd.grad") for o, g in zip(outs, gos)]
    keep = create_graph if retain_graph is None else retain_graph
    grads = walk(outs, root_grads, retain_graph=keep, create_graph=create_graph,
                 targets=ins) or []
    result: list[Tensor | None] = []
    for k, (g, x) in enumerate(zip(grads, ins)):
        if g is None:
            if not allow_unused:
                raise ChainruleError(
                    f"autograd.grad: input {k} (shape {x.shape}) was not used to compute the "
                    "outputs; pass allow_unused=True to get None for it (or "
                    "materialize_grads=True for zeros)")
            result.append(Tensor._make(np.zeros(x.shape, dtype=x.dtype))
                          if materialize_grads else None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor._make(np.asarray(g)))
    return tuple(result)


def _batched_autograd_grad(outputs: Any, inputs: Any, grad_outputs: Any,
                           retain_graph: bool | None, create_graph: bool,
                           allow_unused: bool | None, materialize_grads: bool) -> tuple:
    from .functional import stack

    outs = tensor_list(outputs, "autograd.grad", "outputs")
    gos = per_output(grad_outputs, len(outs), "autograd.grad", "grad_outputs")
    if any(not isinstance(g, Tensor) or g.ndim == 0 for g in gos):
        raise ValueError("autograd.grad: is_grads_batched=True needs every grad_output to be "
                         "a tensor whose first dimension is the batch")
    sizes = sorted({g.shape[0] for g in gos})
    if len(sizes) != 1:
        raise ValueError("autograd.grad: is_grads_batched=True needs every grad_output to have "
                         f"the same batch size (first dimension), got {sizes}")
    n = sizes[0]
    keep = create_graph if retain_graph is None else retain_graph
    rows = [autograd_grad(outs, inputs, [g[k] for g in gos], retain_graph=keep or k < n - 1,
                          create_graph=create_graph, allow_unused=allow_unused,
                          materialize_grads=materialize_grads) for k in range(n)]
    cols = zip(*rows) if rows else ()
    return tuple(None if col[0] is None else stack(list(col), 0) for col in cols)


def tensor_list(tensors: Any, name: str, what: str) -> list[Tensor]:
    """A tensor or a sequence of them, as a list (a clear error for anything else)."""
    items = [tensors] if isinstance(tensors, Tensor) else tensors
    if not isinstance(items, (tuple, list)):
        raise TypeError(f"{name}: {what} must be a tensor or a sequence of tensors, got "
                        f"{_describe(tensors)}")
    for k, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {what} must be tensors, but {what}[{k}] is "
                            f"{_describe(t)}")
    return list(items)


def per_output(grads: Any, n: int, name: str, what: str) -> list:
    """``grad_outputs`` / ``grad_tensors``: one entry (or None) per output."""
    if grads is None:
        return [None] * n
    if not isinstance(grads, (tuple, list)):
        grads = [grads]
    if len(grads) != n:
        raise ValueError(f"{name}: got {n} outputs but {len(grads)} {what}; pass one per "
                         "output (None for a scalar output)")
    return list(grads)


def check_outputs_require_grad(outs: list[Tensor], name: str) -> None:
    for k, o in enumerate(outs):
        if not o.requires_grad:
            raise ChainruleError(f"{name}: output {k} (shape {o.shape}) does not require grad "
                                 "and has no grad_fn; make an input require grad "
                                 "(requires_grad=True) before computing it")
