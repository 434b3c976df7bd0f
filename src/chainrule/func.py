"""``cr.func``: torch.func's names for chainrule's function transforms, so torch.func code
carries over: ``functional_call``, ``grad``, ``grad_and_value``, ``vjp``, ``jvp``,
``jacrev``, ``jacfwd``, ``hessian``, ``vmap``.

They are thin wrappers of :mod:`chainrule.transforms` (``cr.grad``, ``cr.vjp``, ...), which
do the differentiation; what the wrappers add is torch.func's calling conventions where those
differ from chainrule's (JAX-like) ones:

* arguments and outputs may be pytrees: nested tuples, lists and dicts of tensors (say a dict
  of parameters for ``functional_call``); gradients and Jacobians come back in the same
  structure. ``cr.grad`` and friends take tensors, and tuples/lists of tensors as outputs;
* ``grad_and_value`` returns ``(grad, value)``, with ``has_aux`` ``(grad, (value, aux))``
  (``cr.value_and_grad`` returns ``(value, grad)``);
* ``vjp``'s ``vjp_fn`` always returns a tuple, one gradient per primal;
* ``jvp(func, primals, tangents, *, strict=False, has_aux=False)``: keyword-only ``has_aux``,
  and ``strict=True`` makes an output that does not depend on the inputs an error;
* ``jacrev``'s ``has_aux`` is keyword-only, ``hessian`` has no ``has_aux`` (as torch.func);
* the first argument is called ``func`` (chainrule's is ``fun``).

Arguments that only tune torch's batching are accepted and have no effect on the values:
``jacrev(chunk_size=)``, ``jacfwd(randomness=)`` (chainrule's ``jacfwd`` runs ``func`` once,
so random ops draw once, as ``randomness="same"``), ``vjp_fn(retain_graph=, create_graph=)``
(chainrule keeps the graph while ``vjp_fn`` lives, and records it whenever an enclosing
transform or backward needs it).

``vmap`` has torch.func.vmap's signature and rules, but chainrule has no batching tracer:
it is a Python loop over the batch (slice each sample, call, stack), so results and
gradients are exact and it composes with the transforms above, at the cost of one call per
sample (no speed-up over writing the loop).

>>> import chainrule as cr
>>> model = cr.nn.Linear(2, 1)
>>> params = {k: v.detach() for k, v in model.named_parameters()}
>>> x = cr.tensor([[1.0, 2.0]])
>>> grads = cr.func.grad(lambda p: cr.func.functional_call(model, p, (x,)).sum())(params)
>>> sorted(grads), grads["weight"]
(['bias', 'weight'], tensor([[1., 2.]]))
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np

from . import functional as F
from . import random as _random
from . import transforms as _T
from .nn.utils.stateless import _functional_call
from .tensor import Tensor

__all__ = ["functional_call", "grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd",
           "hessian", "vmap"]


# --------------------------------------------------------------------------- functional_call

def functional_call(module: Any, parameter_and_buffer_dicts: dict[str, Tensor]
                    | Sequence[dict[str, Tensor]], args: Any = None,
                    kwargs: dict[str, Any] | None = None, *, tie_weights: bool = True,
                    strict: bool = False) -> Any:
    """Call ``module(*args, **kwargs)`` with its parameters and buffers replaced by the given
    tensors (by ``state_dict`` name), then restore the module's own (also when the call
    raises), as ``torch.func.functional_call``.

    ``parameter_and_buffer_dicts`` is a dict or a tuple of dicts with distinct keys. A name
    not given keeps the module's own tensor (``strict=True``: an error); a name that is not a
    parameter or buffer of ``module`` is an error (PyTorch would silently set an attribute).
    ``args`` that is not a tuple is one argument. With ``tie_weights`` a tensor shared under
    several names (tied weights) is replaced under all of them.

    As in PyTorch, the module sees the tensors themselves: a buffer updated in place (BatchNorm's
    running statistics in training mode) updates the tensor passed in, and a tensor the module
    assigns anew replaces the entry of a (single) dict passed in.

    >>> import chainrule as cr
    >>> lin = cr.nn.Linear(2, 1)
    >>> cr.func.functional_call(lin, {"weight": cr.ones(1, 2), "bias": cr.zeros(1)},
    ...                         cr.tensor([[1.0, 2.0]]))
    tensor([[3.]])
    """
    if isinstance(parameter_and_buffer_dicts, dict):
        merged = parameter_and_buffer_dicts
    elif isinstance(parameter_and_buffer_dicts, Sequence):
        if not all(isinstance(d, dict) for d in parameter_and_buffer_dicts):
            raise ValueError("functional_call: expected all elements of "
                             "parameter_and_buffer_dicts to be dictionaries, got "
                             f"{[type(d).__name__ for d in parameter_and_buffer_dicts]}")
        counts: dict[str, int] = {}
        for d in parameter_and_buffer_dicts:
            for k in d:
                counts[k] = counts.get(k, 0) + 1
        repeated = [k for k, n in counts.items() if n > 1]
        if repeated:
            raise ValueError(f"functional_call: {repeated} appeared in multiple dictionaries; "
                             "behavior of functional call is ambiguous (give each name once)")
        merged = {k: v for d in parameter_and_buffer_dicts for k, v in d.items()}
    else:
        raise ValueError("functional_call: expected parameter_and_buffer_dicts to be a dict, "
                         "or a list/tuple of dicts, but got "
                         f"{type(parameter_and_buffer_dicts).__name__}")
    return _functional_call(module, merged, args, kwargs, tie_weights=tie_weights,
                            strict=strict)


# --------------------------------------------------------------------------- pytrees

class _Spec(NamedTuple):
    """The structure of a pytree: ``kind`` None for a leaf (a tensor, array or number),
    ``type(None)`` for None (no leaves, as in torch's pytrees), else the container type with
    its dict ``keys`` (or None) and children."""

    kind: type | None
    keys: tuple | None
    children: tuple
    n_leaves: int


_LEAF = _Spec(None, None, (), 1)
_NONE = _Spec(type(None), None, (), 0)


def _flatten(tree: Any, path: str, leaves: list, paths: list[str]) -> _Spec:
    """Append ``tree``'s leaves (and where they are, for messages) and return its structure."""
    if tree is None:
        return _NONE
    if isinstance(tree, dict):
        keys = tuple(tree)
        items = [tree[k] for k in keys]
        subpaths = [f"{path}[{k!r}]" for k in keys]
    elif isinstance(tree, (tuple, list)):
        keys, items = None, list(tree)
        subpaths = [f"{path}[{i}]" for i in range(len(items))]
    else:
        leaves.append(tree)
        paths.append(path)
        return _LEAF
    children = tuple(_flatten(x, p, leaves, paths) for x, p in zip(items, subpaths))
    return _Spec(type(tree), keys, children, sum(c.n_leaves for c in children))


def _tree_flatten(tree: Any, path: str = "") -> tuple[list, list[str], _Spec]:
    leaves: list = []
    paths: list[str] = []
    spec = _flatten(tree, path, leaves, paths)
    return leaves, paths, spec


def _build(spec: _Spec, it: Iterator) -> Any:
    if spec.kind is None:
        return next(it)
    if spec.kind is type(None):
        return None
    children = [_build(c, it) for c in spec.children]
    if spec.keys is not None:
        try:
            return spec.kind(zip(spec.keys, children))
        except TypeError:  # (a dict subclass with another constructor, e.g. defaultdict)
            return dict(zip(spec.keys, children))
    if hasattr(spec.kind, "_fields"):  # a namedtuple
        return spec.kind(*children)
    return spec.kind(children)


def _unflatten(spec: _Spec, leaves: Sequence) -> Any:
    return _build(spec, iter(leaves))


def _describe_spec(spec: _Spec) -> str:
    if spec.kind is None:
        return "a tensor"
    if spec.kind is type(None):
        return "None"
    if spec.keys is not None:
        return f"a dict with keys {list(spec.keys)}"
    return f"a {spec.kind.__name__} of {len(spec.children)}"


def _flatten_like(tree: Any, spec: _Spec, what: str, path: str = "") -> list:
    """``tree``'s leaves in the order of ``spec`` (a dict's keys may come in any order, a list
    may stand for a tuple); a different structure is an error naming where."""
    if spec.kind is None:
        if isinstance(tree, (dict, tuple, list)):
            raise ValueError(f"{what}{path} is {_describe_tree(tree)}, where "
                             "a tensor was expected (the structures must match)")
        return [tree]
    if spec.kind is type(None):
        if tree is not None:
            raise ValueError(f"{what}{path} must be None (as in the structure it matches), "
                             f"got {_describe_tree(tree)}")
        return []
    if spec.keys is not None:
        if not isinstance(tree, dict) or set(tree) != set(spec.keys):
            raise ValueError(f"{what}{path} is {_describe_tree(tree)}, where "
                             f"{_describe_spec(spec)} was expected (the structures must match)")
        return [leaf for k, c in zip(spec.keys, spec.children)
                for leaf in _flatten_like(tree[k], c, what, f"{path}[{k!r}]")]
    if not isinstance(tree, (tuple, list)) or len(tree) != len(spec.children):
        raise ValueError(f"{what}{path} is {_describe_tree(tree)}, where "
                         f"{_describe_spec(spec)} was expected (the structures must match)")
    return [leaf for i, (x, c) in enumerate(zip(tree, spec.children))
            for leaf in _flatten_like(x, c, what, f"{path}[{i}]")]


def _describe_tree(tree: Any) -> str:
    if isinstance(tree, dict):
        return f"a dict with keys {list(tree)}"
    if isinstance(tree, (tuple, list)):
        return f"a {type(tree).__name__} of {len(tree)}"
    return _T._describe(tree)


def _check_leaves(leaves: list, paths: list[str], name: str) -> None:
    """Every leaf to differentiate must be a float tensor, array or number: say which one is
    not, by its place in the caller's arguments."""
    for leaf, where in zip(leaves, paths):
        if isinstance(leaf, (Tensor, np.ndarray, np.generic)):
            if np.dtype(leaf.dtype).kind != "f":
                raise TypeError(f"{name}: {where} has dtype {leaf.dtype}; only floating point "
                                "inputs have derivatives: convert it (e.g. x.double()), or "
                                "leave it out of argnums")
        elif not isinstance(leaf, (bool, int, float, np.number)):
            raise TypeError(f"{name}: {where} is {_T._describe(leaf)}; the arguments to "
                            "differentiate must hold tensors (in tuples, lists and dicts)")


def _diff_args(args: tuple, argnums: int | Sequence[int], name: str
               ) -> tuple[tuple[int, ...], list, list[_Spec]]:
    """The differentiated arguments' leaves (all together) and each one's structure."""
    nums = _T._argnums(argnums, len(args), name)
    leaves: list = []
    specs = []
    for i in nums:
        ls, paths, spec = _tree_flatten(args[i], f"argument {i}")
        _check_leaves(ls, paths, name)
        leaves.extend(ls)
        specs.append(spec)
    if not leaves:
        which = "the primals" if name in ("vjp", "jvp") else f"the arguments at argnums={argnums}"
        raise ValueError(f"{name}: {which} hold no tensors, so there is nothing to "
                         "differentiate")
    return nums, leaves, specs


def _with_leaves(args: tuple, nums: tuple[int, ...], specs: list[_Spec],
                 leaves: Sequence) -> list:
    """``args`` with the differentiated ones rebuilt from ``leaves``."""
    new = list(args)
    start = 0
    for i, spec in zip(nums, specs):
        new[i] = _unflatten(spec, leaves[start:start + spec.n_leaves])
        start += spec.n_leaves
    return new


def _per_arg(flat: Sequence, specs: list[_Spec], single: bool) -> Any:
    """Results per leaf, regrouped per differentiated argument: that argument's structure, in
    a tuple over ``argnums`` unless ``argnums`` is one int."""
    out, start = [], 0
    for spec in specs:
        out.append(_unflatten(spec, flat[start:start + spec.n_leaves]))
        start += spec.n_leaves
    return out[0] if single else tuple(out)


def _split(result: Any, has_aux: bool, name: str) -> tuple[Any, Any]:
    if not has_aux:
        return result, None
    if not isinstance(result, tuple) or len(result) != 2:
        raise TypeError(f"{name}: with has_aux=True the function must return a tuple "
                        f"(output, aux), it returned {_describe_tree(result)}")
    return result


def _flat_output(out: Any, name: str) -> tuple[Any, _Spec]:
    """The function's output as chainrule's transforms take it: one tensor, or a tuple."""
    leaves, _, spec = _tree_flatten(out)
    if spec.kind is None:
        return out, spec
    if not leaves:
        raise ValueError(f"{name}: the function returned {_describe_tree(out)} with no "
                         "tensors in it; it must return at least one tensor")
    return tuple(leaves), spec


def _check_func(func: Any, name: str) -> None:
    if not callable(func):
        raise TypeError(f"{name}: expected a function to transform, got {type(func).__name__}")


# --------------------------------------------------------------------------- grad

def grad_and_value(func: Callable, argnums: int | tuple[int, ...] = 0,
                   has_aux: bool = False) -> Callable:
    """``(gradient, value)`` of a scalar function, as ``torch.func.grad_and_value``; with
    ``has_aux`` (``func`` returns ``(output, aux)``): ``(gradient, (value, aux))``.

    The arguments at ``argnums`` may be tensors or tuples/lists/dicts of them; the gradient
    has the same structure (a tuple of them for a tuple ``argnums``).

    >>> import chainrule as cr
    >>> cr.func.grad_and_value(lambda x: (x ** 2).sum())(cr.tensor([1.0, 2.0]))
    (tensor([2., 4.]), tensor(5.))
    """
    _T._check_transform(func, argnums, "grad")
    single = isinstance(argnums, (int, np.integer))

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums, leaves, specs = _diff_args(args, argnums, "grad")

        def flat_func(*xs: Any) -> Any:
            return func(*_with_leaves(args, nums, specs, xs), **kwargs)

        vg = _T.value_and_grad(flat_func, tuple(range(len(leaves))), has_aux)
        value, flat_grads = vg(*leaves)
        g = _per_arg(flat_grads, specs, single)
        return (g, value)  # (with has_aux, value is already (value, aux))

    return wrapper


def grad(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False) -> Callable:
    """The gradient of a scalar function, as ``torch.func.grad``: ``grad(f)(x) = ∂f/∂x``;
    with ``has_aux``, ``(gradient, aux)``. Arguments may be pytrees (a dict of parameters):
    the gradient has their structure. Composes (``grad(grad(f))``).

    >>> import chainrule as cr
    >>> cr.func.grad(lambda p: (p["w"] * p["b"]).sum())({"w": cr.tensor([3.0]),
    ...                                                  "b": cr.tensor([2.0])})
    {'w': tensor([2.]), 'b': tensor([3.])}
    """
    gv = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = gv(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


# --------------------------------------------------------------------------- vjp / jvp

def vjp(func: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """``(func(*primals), vjp_fn)`` as ``torch.func.vjp`` (``(output, vjp_fn, aux)`` with
    ``has_aux``): ``vjp_fn(cotangents)``, with cotangents in the structure of the output,
    returns a tuple with vᵀ·J for each primal, in that primal's structure.

    >>> import chainrule as cr
    >>> out, vjp_fn = cr.func.vjp(lambda x: x * 3, cr.tensor([1.0, 2.0]))
    >>> vjp_fn(cr.ones(2))
    (tensor([3., 3.]),)
    """
    _check_func(func, "vjp")
    nums = tuple(range(len(primals)))
    nums, leaves, specs = _diff_args(primals, nums, "vjp") if primals else ((), [], [])
    out_spec: list[_Spec] = []

    def flat_func(*xs: Any) -> Any:
        out, aux = _split(func(*_with_leaves(primals, nums, specs, xs)), has_aux, "vjp")
        flat, spec = _flat_output(out, "vjp")
        out_spec.append(spec)
        return (flat, aux) if has_aux else flat

    result = _T.vjp(flat_func, *leaves, has_aux=has_aux)
    flat_out, flat_vjp_fn = result[0], result[1]
    spec = out_spec[0]
    out = flat_out if spec.kind is None else _unflatten(spec, flat_out)

    def vjp_fn(cotangents: Any, retain_graph: bool = True,
               create_graph: bool | None = None) -> tuple:
        """vᵀ·J for each primal (``retain_graph``/``create_graph`` are accepted for torch's
        sake: chainrule keeps the graph while ``vjp_fn`` lives and records when needed)."""
        cts = _flatten_like(cotangents, spec, "vjp_fn: the cotangents")
        g = flat_vjp_fn(cts[0] if spec.kind is None else tuple(cts))
        return tuple(_per_arg(g, specs, False))

    return (out, vjp_fn, result[2]) if has_aux else (out, vjp_fn)


def jvp(func: Callable, primals: Any, tangents: Any, *, strict: bool = False,
        has_aux: bool = False) -> tuple:
    """``(func(*primals), J·tangents)`` in one forward pass, as ``torch.func.jvp``
    (``(output, jvp_out, aux)`` with ``has_aux``). ``tangents`` has the structure of
    ``primals`` (a tuple, one entry per argument; each may be a pytree). ``strict=True``: an
    output that does not depend on the inputs is an error (else its tangent is zeros).

    >>> import chainrule as cr
    >>> cr.func.jvp(lambda x: x * 3, (cr.tensor(1.0),), (cr.tensor(2.0),))
    (tensor(3.), tensor(6.))
    """
    _check_func(func, "jvp")
    if not isinstance(primals, tuple):
        raise TypeError("jvp: expected primals to be a tuple, e.g. cr.func.jvp(f, (x,), (v,)) "
                        f"so that f(*primals) is valid; got {_describe_tree(primals)}")
    nums, leaves, specs = _diff_args(primals, tuple(range(len(primals))), "jvp")
    flat_tangents = _flatten_like(tangents, _Spec(tuple, None, tuple(specs), len(leaves)),
                                  "jvp: tangents")
    _check_tangents(primals, leaves, flat_tangents)
    out_spec: list[_Spec] = []

    def flat_func(*xs: Any) -> Any:
        out, aux = _split(func(*_with_leaves(primals, nums, specs, xs)), has_aux, "jvp")
        flat, spec = _flat_output(out, "jvp")
        out_spec.append(spec)
        if strict:
            _check_dependent(xs, [flat] if spec.kind is None else list(flat))
        return (flat, aux) if has_aux else flat

    result = _T.jvp(flat_func, tuple(leaves), tuple(flat_tangents), has_aux)
    spec = out_spec[0]
    out, tout = (result[0], result[1]) if spec.kind is None else (
        _unflatten(spec, result[0]), _unflatten(spec, result[1]))
    return (out, tout, result[2]) if has_aux else (out, tout)


def _check_tangents(primals: tuple, leaves: list, tangents: list) -> None:
    """Check each tangent against its primal as ``cr.jvp`` does, but name it by its place in
    the pytree (``cr.jvp`` would number the flattened leaves, which the caller never sees)."""
    _, paths, _ = _tree_flatten(primals, "tangents")
    for k, (p, t, where) in enumerate(zip(leaves, tangents, paths)):
        try:
            _T._checked_tangent(p, t, k)
        except (TypeError, ValueError) as e:
            raise type(e)(str(e).replace(f"tangent {k} ", f"{where} ", 1)) from None


def _check_dependent(inputs: Sequence[Any], outs: list) -> None:
    """``strict=True``: every output must carry a tangent of this jvp's level (the newest one
    the seeded inputs carry)."""
    levels = [max(x._tangents) for x in inputs if isinstance(x, Tensor) and x._tangents]
    if not levels:
        return
    level = max(levels)
    for k, o in enumerate(outs):
        if not isinstance(o, Tensor) or not o._tangents or level not in o._tangents:
            raise RuntimeError(f"jvp(f, primals, tangents, strict=True): output {k} of f is "
                               "independent of the inputs. This is not allowed with "
                               "strict=True (pass strict=False to get a zero tangent)")


# --------------------------------------------------------------------------- Jacobians

def _jacobian(transform: Callable, name: str, func: Callable, argnums: int | tuple[int, ...],
              has_aux: bool) -> Callable:
    _T._check_transform(func, argnums, name)
    single = isinstance(argnums, (int, np.integer))

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nums, leaves, specs = _diff_args(args, argnums, name)
        out_spec: list[_Spec] = []

        def flat_func(*xs: Any) -> Any:
            out, aux = _split(func(*_with_leaves(args, nums, specs, xs), **kwargs), has_aux,
                              name)
            flat, spec = _flat_output(out, name)
            out_spec.append(spec)
            return (flat, aux) if has_aux else flat

        result = transform(flat_func, tuple(range(len(leaves))), has_aux)(*leaves)
        jac, aux = result if has_aux else (result, None)
        spec = out_spec[0]
        if spec.kind is None:  # jac: one Jacobian per leaf
            arranged = _per_arg(jac, specs, single)
        else:  # jac: per output leaf, one per input leaf
            arranged = _unflatten(spec, [_per_arg(j, specs, single) for j in jac])
        return (arranged, aux) if has_aux else arranged

    return wrapper


def jacrev(func: Callable, argnums: int | tuple[int, ...] = 0, *, has_aux: bool = False,
           chunk_size: int | None = None, _preallocate_and_copy: bool = False) -> Callable:
    """The Jacobian by reverse mode, as ``torch.func.jacrev``: shape ``out.shape +
    x.shape`` per (output, input) pair, laid out as the output's structure holding the
    ``argnums`` structure (each argument's pytree). With ``has_aux``: ``(jacobian, aux)``.
    ``chunk_size`` (how many vjps torch batches at once) has no effect here.

    >>> import chainrule as cr
    >>> cr.func.jacrev(lambda x: x ** 2)(cr.tensor([1.0, 2.0]))
    tensor([[2., 0.],
            [0., 4.]])
    """
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size <= 0):
        raise ValueError(f"jacrev: chunk_size should be a positive int or None, got "
                         f"{chunk_size!r}")
    return _jacobian(_T.jacrev, "jacrev", func, argnums, has_aux)


def jacfwd(func: Callable, argnums: int | tuple[int, ...] = 0, has_aux: bool = False, *,
           randomness: str = "error") -> Callable:
    """The Jacobian by forward mode, as ``torch.func.jacfwd`` (the layout of
    :func:`jacrev`). ``randomness`` is accepted for torch's sake: chainrule pushes all basis
    tangents through one call of ``func``, so random ops draw once (torch's ``"same"``).

    >>> import chainrule as cr
    >>> cr.func.jacfwd(lambda x: x.sum())(cr.tensor([1.0, 2.0]))
    tensor([1., 1.])
    """
    if randomness not in ("error", "different", "same"):
        raise ValueError(f"jacfwd: randomness must be 'error', 'different' or 'same', got "
                         f"{randomness!r}")
    return _jacobian(_T.jacfwd, "jacfwd", func, argnums, has_aux)


def hessian(func: Callable, argnums: int | tuple[int, ...] = 0) -> Callable:
    """The Hessian, as ``torch.func.hessian``: ``jacfwd(jacrev(func, argnums), argnums)``
    (forward over reverse). For pytree arguments it is nested: ``H[a][b]`` for leaves a, b.

    >>> import chainrule as cr
    >>> cr.func.hessian(lambda x: (x ** 3).sum())(cr.tensor([1.0, 2.0]))
    tensor([[ 6.,  0.],
            [ 0., 12.]])
    """
    return jacfwd(jacrev(func, argnums), argnums)


# --------------------------------------------------------------------------- vmap

def vmap(func: Callable, in_dims: Any = 0, out_dims: Any = 0, randomness: str = "error", *,
         chunk_size: int | None = None) -> Callable:
    """``func`` mapped over a batch dimension of its inputs, as ``torch.func.vmap``:
    ``vmap(f)(x)[i] == f(x[i])``, with the signature and the rules of torch.func.vmap.

    **It is a Python loop.** chainrule has no batching tracer, so ``vmap`` slices the mapped
    inputs sample by sample, calls ``func`` once per sample, and stacks the outputs. Results
    and gradients are exact, and it composes with the other transforms (``vmap(grad(f))`` for
    per-sample gradients, ``grad`` or ``jacrev`` of a function using ``vmap``, ``vmap`` of
    ``vmap``), but the cost is linear in the batch size: no speed-up over writing the loop.

    * ``in_dims``: the dimension to map of each input: an int for all of them, or a tuple
      with one entry per positional argument; an entry is an int, None (the argument, a
      tensor or any other object, goes to every call unchanged), or, for an argument that is a
      tuple, list or dict, the same structure holding ints and None. Negative dims count
      from the end. Keyword arguments are not mapped. All mapped dims must have one size.
    * ``out_dims``: where the batch dimension goes in each output (an int, or the outputs'
      structure holding ints). ``func`` returns tensors, or tuples/lists/dicts of them. An
      out_dim of None returns that output unstacked: it must be the same for every sample
      (chainrule compares the values; torch checks that it does not depend on the mapped
      inputs), and a non-tensor output is allowed there (the first sample's is returned).
    * ``randomness``: ``"error"`` (a random op inside ``func`` raises), ``"different"``
      (each sample draws its own numbers) or ``"same"`` (every sample gets the same draws:
      the generators are rewound before each sample, and advance once in all).
    * ``chunk_size``: None or a positive int, checked as torch does; it changes nothing here,
      since the loop already holds one sample at a time.

    Differences from torch, mostly from running real Python per sample: ``func`` may call
    ``.item()`` and branch on values (torch refuses); a batch of size 0 calls ``func`` once on
    zeros to learn the output shapes (torch also runs it once); an in-place random op on a
    captured tensor with ``"different"`` is not refused; a dict of in_dims is matched to its
    argument by key (torch goes by position); NumPy integers are accepted as dims.

    >>> import chainrule as cr
    >>> x, w = cr.tensor([[1.0, 2.0], [3.0, 4.0]]), cr.tensor([1.0, 10.0])
    >>> cr.func.vmap(lambda a, b: (a * b).sum(), in_dims=(0, None))(x, w)
    tensor([21., 43.])
    """
    _check_func(func, "vmap")
    if randomness not in ("error", "different", "same"):
        raise RuntimeError("vmap: only allowed values for randomness are 'error', 'different', "
                           f"or 'same', got {randomness!r}")
    if chunk_size is not None:
        if not _is_int(chunk_size):
            raise TypeError("vmap: chunk_size should be None or a positive int, got "
                            f"{type(chunk_size).__name__} {chunk_size!r}")
        if chunk_size <= 0:
            raise ValueError(f"vmap: chunk_size should be None or greater than 0 (got "
                             f"{chunk_size})")
    where = (f"vmap({getattr(func, '__name__', type(func).__name__)}, in_dims={in_dims!r}, "
             f"out_dims={out_dims!r})")

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        dims, size = _map_inputs(args, in_dims, where)
        outs = _call_per_sample(func, args, kwargs, dims, size, randomness, where)
        return _stack_outputs(outs, out_dims, size, where)

    return wrapper


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, bool)


def _is_node(x: Any) -> bool:
    """Whether vmap looks inside ``x`` (None and every other non-container is a leaf)."""
    return isinstance(x, (tuple, list, dict))


def _values(node: Any) -> list:
    return list(node.values()) if isinstance(node, dict) else list(node)


def _child_paths(node: Any, path: str) -> list[str]:
    keys = node.keys() if isinstance(node, dict) else range(len(node))
    return [f"{path}[{k!r}]" for k in keys]


def _rebuild(like: Any, children: list) -> Any:
    """A container of ``like``'s type (and keys) holding ``children``."""
    if isinstance(like, dict):
        items = list(zip(like.keys(), children))
        try:
            return type(like)(items)
        except TypeError:  # (a dict subclass with another constructor, e.g. defaultdict)
            return dict(items)
    if hasattr(like, "_fields"):  # a namedtuple
        return type(like)(*children)
    return type(like)(children)


def _same_node(dims: Any, tree: Any) -> bool:
    """Whether a container of dims has ``tree``'s structure at its top (a dict: the same keys;
    a tuple, list or namedtuple: the same type and length, as torch's pytrees)."""
    if isinstance(dims, dict):
        return isinstance(tree, dict) and set(dims) == set(tree)
    return type(dims) is type(tree) and len(dims) == len(tree)


def _matching(dims: Any, tree: Any) -> list:
    """The entries of the dims container in the order of ``tree``'s children."""
    return [dims[k] for k in tree] if isinstance(tree, dict) else list(dims)


def _map_inputs(args: tuple, in_dims: Any, where: str) -> tuple[list, int]:
    """Per argument, its in_dims as a tree of ``args``' structure (non-negative ints at the
    mapped tensors, None for what passes through), and the batch size."""
    if not args:
        raise ValueError(f"{where}: got no inputs. vmap maps a function over a dimension of "
                         "its inputs; a function with no inputs cannot be vmapped")
    if _is_int(in_dims):
        per_arg = [in_dims] * len(args)
    elif isinstance(in_dims, tuple):
        if len(in_dims) != len(args):
            raise ValueError(f"{where}: in_dims is not compatible with the structure of the "
                             f"inputs: in_dims is a tuple of {len(in_dims)} but there are "
                             f"{len(args)} positional arguments (give one entry per argument)")
        per_arg = list(in_dims)
    else:
        raise ValueError(f"{where}: expected in_dims to be an int or a (potentially nested) "
                         "tuple matching the structure of the inputs, got "
                         f"{type(in_dims).__name__}")
    mapped: list[tuple[str, int]] = []
    dims = [_arg_dims(d, a, f"argument {i}", f"in_dims[{i}]", where, mapped)
            for i, (d, a) in enumerate(zip(per_arg, args))]
    if not mapped:
        raise ValueError(f"{where}: Expected at least one Tensor to vmap over: every in_dim is "
                         "None or covers no tensor; give the dimension to map of one input")
    sizes = {n for _, n in mapped}
    if len(sizes) > 1:
        raise ValueError(f"{where}: Expected all tensors to have the same size in the mapped "
                         f"dimension, got sizes {[n for _, n in mapped]} for the mapped "
                         f"dimension (of {', '.join(p for p, _ in mapped)})")
    return dims, sizes.pop()


def _arg_dims(dims: Any, arg: Any, path: str, dims_path: str, where: str,
              mapped: list[tuple[str, int]]) -> Any:
    """``dims`` checked against ``arg`` and spread over it: an int covers a whole subtree."""
    if dims is None:
        return None
    if _is_int(dims):
        if _is_node(arg):
            return _rebuild(arg, [_arg_dims(dims, c, p, dims_path, where, mapped)
                                  for c, p in zip(_values(arg), _child_paths(arg, path))])
        return _mapped_dim(int(dims), arg, path, where, mapped)
    if not _is_node(dims):
        raise ValueError(f"{where}: {dims_path} is {dims!r}; an in_dim must be an int, None, "
                         "or a tuple/list/dict matching the structure of its input")
    if not _same_node(dims, arg):
        raise ValueError(f"{where}: in_dims is not compatible with the structure of the "
                         f"inputs: {dims_path} is {_describe_tree(dims)} but {path} is "
                         f"{_describe_tree(arg)} (give an int or None for all of it, or the "
                         "same structure)")
    return _rebuild(arg, [_arg_dims(d, c, p, dp, where, mapped) for d, c, p, dp in zip(
        _matching(dims, arg), _values(arg), _child_paths(arg, path),
        _child_paths(arg, dims_path))])


def _mapped_dim(dim: int, arg: Any, path: str, where: str,
                mapped: list[tuple[str, int]]) -> int:
    if not isinstance(arg, Tensor):
        raise ValueError(f"{where}: got in_dim={dim} for {path}, which is "
                         f"{_T._describe(arg)}. We cannot vmap over non-Tensor arguments: "
                         "use None as its in_dim to pass it to every call unchanged")
    nd = arg.ndim
    if not -nd <= dim < nd:
        raise ValueError(f"{where}: got in_dim={dim} for {path}, but that input is a Tensor "
                         f"of dimensionality {nd} (shape {arg.shape}) so expected in_dim to "
                         f"satisfy {-nd} <= in_dim < {nd}")
    dim %= nd
    mapped.append((path, arg.shape[dim]))
    return dim


def _map_leaves(arg: Any, dims: Any, leaf: Callable[[Tensor, int], Any]) -> Any:
    """``arg`` with ``leaf(tensor, dim)`` in place of each mapped tensor."""
    if dims is None:
        return arg
    if isinstance(dims, int):
        return leaf(arg, dims)
    return _rebuild(arg, [_map_leaves(c, d, leaf) for c, d in zip(_values(arg), _values(dims))])


def _sample(t: Tensor, dim: int, index: int) -> Tensor:
    """Sample ``index`` of ``t`` along ``dim``: a differentiable view (an in-place change by
    ``func`` reaches the input, as in torch)."""
    return t[(slice(None),) * dim + (index,)]


def _probe(t: Tensor, dim: int) -> Tensor:
    """A stand-in sample of zeros for a batch of size 0."""
    shape = t.shape[:dim] + t.shape[dim + 1:]
    return Tensor._make(np.zeros(shape, dtype=t.dtype))


class _RandomnessGuard:
    """What a random draw does while vmap runs ``func`` (a hook of ``chainrule.random``):
    raise (``"error"``), or note the generator's state at its first draw, and rewind it there
    at the start of every later sample (``"same"``: so ``cr.get_rng_state()`` inside ``func``
    also sees the rewound state)."""

    def __init__(self, mode: str, where: str) -> None:
        self.mode = mode
        self.where = where
        self.starts: dict[int, tuple[np.random.Generator, Any]] = {}

    def next_sample(self) -> None:
        for rng, state in self.starts.values():
            rng.bit_generator.state = state

    def __call__(self, rng: np.random.Generator) -> None:
        if self.mode == "error":
            raise RuntimeError(f"{self.where}: called a random operation while in randomness "
                               "error mode. Pass randomness='same' (every sample gets the "
                               "same draws) or 'different' (each sample its own) to vmap, or "
                               "draw the random numbers outside vmap")
        if id(rng) not in self.starts:  # (kept with the generator, so its id stays its own)
            self.starts[id(rng)] = (rng, rng.bit_generator.state)


def _call_per_sample(func: Callable, args: tuple, kwargs: dict, dims: list, size: int,
                     randomness: str, where: str) -> list:
    """``func``'s output for each sample (for a batch of size 0: for one sample of zeros)."""
    guard = _RandomnessGuard(randomness, where)
    hooked = randomness != "different"  # ("different" is what a loop does anyway)
    if hooked:
        _random._draw_hooks.append(guard)
    try:
        outs = []
        for b in range(max(size, 1)):
            guard.next_sample()
            pick = functools.partial(_sample, index=b) if size else _probe
            outs.append(func(*[_map_leaves(a, d, pick) for a, d in zip(args, dims)], **kwargs))
        return outs
    finally:
        if hooked:
            _random._draw_hooks.remove(guard)


def _out_leaves(tree: Any, path: str, leaves: list, paths: list[str]) -> None:
    if _is_node(tree):
        for c, p in zip(_values(tree), _child_paths(tree, path)):
            _out_leaves(c, p, leaves, paths)
    else:
        leaves.append(tree)
        paths.append(path)


def _structure(tree: Any) -> Any:
    if not _is_node(tree):
        return None
    keys = tuple(tree) if isinstance(tree, dict) else len(tree)
    return (type(tree), keys, tuple(_structure(c) for c in _values(tree)))


def _out_dims(dims: Any, out: Any, path: str, dims_path: str, where: str) -> list:
    """One out_dim per output leaf (an int or None covers a whole subtree)."""
    if dims is None or _is_int(dims):
        leaves: list = []
        _out_leaves(out, "", leaves, [])
        return [None if dims is None else int(dims)] * len(leaves)
    if not _is_node(dims):
        raise ValueError(f"{where}: out_dims must be an int, None or a python collection of "
                         "ints representing where in the outputs the vmapped dimension "
                         f"should appear; {dims_path} is {dims!r}")
    if not _same_node(dims, out):
        raise ValueError(f"{where}: out_dims is not compatible with the structure of the "
                         f"outputs: {dims_path} is {_describe_tree(dims)} but output{path} is "
                         f"{_describe_tree(out)}")
    return [d for sub, c, p, dp in zip(_matching(dims, out), _values(out),
                                       _child_paths(out, path), _child_paths(out, dims_path))
            for d in _out_dims(sub, c, p, dp, where)]


def _stack_outputs(outs: list, out_dims: Any, size: int, where: str) -> Any:
    first = outs[0]
    if isinstance(out_dims, tuple) and len(out_dims) == 1 and not _is_node(first):
        out_dims = out_dims[0]  # (torch takes (d,) for a single output too)
    dims = _out_dims(out_dims, first, "", "out_dims", where)
    shape = _structure(first)
    columns: list[list] = []
    paths: list[str] = []
    for k, out in enumerate(outs):
        if _structure(out) != shape:
            raise RuntimeError(f"{where}: the function returned {_describe_tree(first)} for "
                               f"sample 0 but {_describe_tree(out)} for sample {k}; vmap "
                               "needs outputs of the same structure from every sample")
        leaves: list = []
        _out_leaves(out, "", leaves, paths if k == 0 else [])
        columns.append(leaves)
    stacked = [_stack_column([c[j] for c in columns], d, size, f"output{p}", where)
               for j, (d, p) in enumerate(zip(dims, paths))]
    return _rebuild_outputs(first, iter(stacked))


def _rebuild_outputs(like: Any, leaves: Iterator) -> Any:
    if not _is_node(like):
        return next(leaves)
    return _rebuild(like, [_rebuild_outputs(c, leaves) for c in _values(like)])


def _stack_column(column: list, dim: int | None, size: int, what: str, where: str) -> Any:
    """One output leaf over the samples, stacked along ``dim`` (None: returned as it is)."""
    first = column[0]
    if dim is None:
        if any(not _same_value(first, x) for x in column[1:]):
            raise ValueError(f"{where}: {what} differs between samples, so it cannot have an "
                             "out_dim of None (that is for outputs that do not depend on the "
                             "mapped inputs); give it an int out_dim to stack it")
        return first
    for x in column:
        if not isinstance(x, Tensor):
            raise ValueError(f"{where}: the function must only return Tensors, got "
                             f"{_T._describe(x)} at {what}. Did you mean to set out_dims to "
                             "None for that output?")
        if x.shape != first.shape:
            raise RuntimeError(f"{where}: {what} has shape {first.shape} for one sample and "
                               f"{x.shape} for another; vmap needs the same shape from every "
                               "sample")
    nd = first.ndim + 1
    if not -nd <= dim < nd:
        raise IndexError(f"{where}: out_dim {dim} of {what} is out of range: stacked, it has "
                         f"{nd} dims (of shape {first.shape} and the batch), so out_dim must "
                         f"be in the range [{-nd}, {nd - 1}]")
    if not size:
        shape = list(first.shape)
        shape.insert(dim % nd, 0)
        return Tensor._make(np.zeros(shape, dtype=first.dtype))
    return F.stack(column, dim=dim)


def _same_value(a: Any, b: Any) -> bool:
    if a is b or not isinstance(a, Tensor):  # (a non-tensor: the first sample's is kept)
        return True
    if not isinstance(b, Tensor) or a.shape != b.shape:
        return False
    return bool(np.array_equal(a.data, b.data, equal_nan=a.data.dtype.kind in "fc"))
