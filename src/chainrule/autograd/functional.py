"""``cr.autograd.functional``: torch.autograd.functional's names, signatures and return
conventions (a tensor for a tensor, a tuple for a tuple; ``vjp`` and the others return
``(func_output, result)``), built on chainrule's transforms.

>>> import chainrule as cr
>>> from chainrule.autograd.functional import jacobian
>>> jacobian(lambda x: x ** 2, cr.tensor([1.0, 2.0]))
tensor([[2., 0.],
        [0., 4.]])

Results are plain tensors unless ``create_graph=True``, which records them so that they can be
differentiated again (with respect to inputs that require grad). Differences from PyTorch:
``vectorize`` changes nothing (results are the same either way; chainrule's Jacobians are not
vmapped, and ``strategy="forward-mode"`` pushes all basis tangents in one batched pass);
``jvp`` and ``hvp`` use true forward mode (``cr.jvp``: forward-over-reverse for ``hvp``), where
PyTorch uses the double-backward trick, so a ``cr.autograd.Function`` needs a ``jvp`` there;
an unknown ``strategy`` is a ValueError (PyTorch: AssertionError).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import transforms
from ..engine import ChainruleError, Node, enable_grad, set_grad_enabled
from ..tensor import Tensor

__all__ = ["jacobian", "hessian", "vjp", "jvp", "hvp", "vhp"]


def _as_tuple(x: Any, what: str, fn_name: str) -> tuple[bool, tuple]:
    """``x`` (a tensor or a tuple of tensors) as ``(was_a_tuple, tuple)``."""
    if isinstance(x, Tensor):
        return False, (x,)
    if not isinstance(x, tuple):
        raise TypeError(f"The {what} given to {fn_name} must be either a Tensor or a tuple of "
                        f"Tensors but the given {what} has type {type(x)}.")
    for k, e in enumerate(x):
        if not isinstance(e, Tensor):
            raise TypeError(f"The {what} given to {fn_name} must be either a Tensor or a tuple "
                            f"of Tensors but the value at index {k} has type {type(e)}.")
    return True, x


def _checked(func: Callable, fn_name: str) -> Callable:
    """``func`` whose outputs are checked to be a tensor or a tuple of tensors."""
    what = "outputs of the user-provided function"

    def run(*args: Any) -> Any:
        out = func(*args)
        _as_tuple(out, what, fn_name)
        return out

    return run


def _argnums(is_tuple: bool, n: int) -> int | tuple[int, ...]:
    return tuple(range(n)) if is_tuple else 0


_OUTPUT_RULE = "user-provided function returns a single Tensor with a single element"
_INPUT_RULE = "input to the user-provided function is a single Tensor with a single element"


def _vectors(v: Any, like: tuple, is_tuple: bool, fn_name: str, rule: str) -> tuple:
    """``v`` checked against ``like`` (the outputs or inputs it pairs with, as ``rule``
    says); ones where None is allowed (a single tensor of a single element)."""
    if v is None:
        if is_tuple or like[0].data.size != 1:
            raise ChainruleError(f"The vector v can only be None if the {rule}.")
        return (Tensor._make(np.ones(like[0].shape, dtype=like[0].dtype)),)
    _, vs = _as_tuple(v, "v", fn_name)
    if len(vs) != len(like):
        which = "outputs" if rule is _OUTPUT_RULE else "inputs"
        raise ChainruleError(f"{fn_name}: v has {len(vs)} entries but there are {len(like)} "
                             f"{which}; pass one vector per {which[:-1]}")
    for a, b in zip(vs, like):
        if a.shape != b.shape:
            raise ChainruleError(f"v has invalid size: should be {b.shape} but got {a.shape}.")
    return vs


def _depends_on(outs: list[Tensor], x: Tensor) -> bool:
    """Does the graph of ``outs`` reach the leaf ``x``?"""
    stack = [o.grad_fn for o in outs if o.grad_fn is not None]
    if any(o is x for o in outs):
        return True
    seen: set[Node] = set()
    while stack:
        for p in stack.pop().parents or ():
            if p is x:
                return True
            if type(p) is Node and p not in seen:
                seen.add(p)
                stack.append(p)
    return False


def _check_strict(func: Callable, ins: tuple, fn_name: str, pairwise: bool = False) -> None:
    """strict=True: every output must be computed differentiably from the inputs, and depend
    on each of them (each output on each input for the jacobian)."""
    leaves = [Tensor._make(x.data).requires_grad_() for x in ins]
    with enable_grad():
        out = func(*leaves)
    outs = list(out) if isinstance(out, tuple) else [out]
    for k, o in enumerate(outs):
        if not o.requires_grad:
            raise ChainruleError(f"Output {k} of the user-provided function does not require "
                                 "gradients. The outputs must be computed in a differentiable "
                                 "manner from the input when running in strict mode.")
    for i, x in enumerate(leaves):
        if pairwise:
            for k, o in enumerate(outs):
                if not _depends_on([o], x):
                    raise ChainruleError(f"Output {k} of the user-provided function is "
                                         f"independent of input {i}. This is not allowed in "
                                         "strict mode.")
        elif not _depends_on(outs, x):
            raise ChainruleError(f"The output of the user-provided function is independent of "
                                 f"input {i}. This is not allowed in strict mode.")


def _check_strict_hessian(func: Callable, ins: tuple, is_tuple: bool) -> None:
    """strict=True for the second-order functions: the gradient must depend on the inputs."""
    _check_strict(func, ins, "hessian")
    leaves = [Tensor._make(x.data).requires_grad_() for x in ins]
    with enable_grad():
        out = func(*leaves)
        grads = transforms.autograd_grad(out, leaves, create_graph=True, allow_unused=True)
    for i, g in enumerate(grads):
        if g is None or not g.requires_grad:
            raise ChainruleError(
                "While computing the hessian, found that the jacobian of the user-provided "
                f"function with respect to input {i} is independent of the input. This is not "
                "allowed in strict mode. You should ensure that your function is twice "
                "differentiable and that the jacobian depends on the inputs (this would be "
                "violated by a linear function for example).")


def vjp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """``(func(inputs), vᵀ·J)``: the vector-Jacobian product, shaped like ``inputs``."""
    is_tuple, ins = _as_tuple(inputs, "inputs", "vjp")
    if strict:
        _check_strict(func, ins, "vjp")
    with set_grad_enabled(create_graph):
        out, vjp_fn = transforms.vjp(_checked(func, "vjp"), *ins)
        out_tuple, outs = _as_tuple(out, "outputs of the user-provided function", "vjp")
        vs = _vectors(v, outs, out_tuple, "vjp", _OUTPUT_RULE)
        grads = vjp_fn(vs if out_tuple else vs[0])
    return out, grads if is_tuple else grads[0]


def jvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """``(func(inputs), J·v)``: the Jacobian-vector product, shaped like the output (one
    forward-mode pass)."""
    is_tuple, ins = _as_tuple(inputs, "inputs", "jvp")
    if strict:
        _check_strict(func, ins, "jvp")
    vs = _vectors(v, ins, is_tuple, "jvp", _INPUT_RULE)
    with set_grad_enabled(create_graph):
        out, tangent = transforms.jvp(_checked(func, "jvp"), ins, vs)
    return out, tangent


def jacobian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode") -> Any:
    """The Jacobian of ``func`` at ``inputs``: a tensor of shape ``output.shape +
    input.shape``; a tuple over inputs (for a tuple of inputs) or outputs, a tuple (outputs) of
    tuples (inputs) when both are tuples."""
    is_tuple, ins = _as_tuple(inputs, "inputs", "jacobian")
    forward = _strategy(strategy, vectorize, create_graph, "jacobian", "strategy")
    if strict:
        if forward:
            raise ChainruleError("jacobian: strict=True is not supported with "
                                 "strategy='forward-mode' (as in PyTorch)")
        _check_strict(func, ins, "jacobian", pairwise=True)
    transform = transforms.jacfwd if forward else transforms.jacrev
    with set_grad_enabled(create_graph):
        return transform(_checked(func, "jacobian"), _argnums(is_tuple, len(ins)))(*ins)


def _strategy(strategy: str, vectorize: bool, create_graph: bool, fn_name: str,
              arg: str) -> bool:
    """Is ``strategy`` forward mode (checked as PyTorch checks it)?"""
    if strategy not in ("forward-mode", "reverse-mode"):
        raise ValueError(f'{fn_name}: expected {arg} to be either "forward-mode" or '
                         f'"reverse-mode", got {strategy!r}')
    if strategy == "forward-mode":
        if not vectorize:
            raise NotImplementedError(
                "Computing Jacobian using forward-AD or forward-over-reverse Hessian is only "
                "implemented for `vectorize=True` (as in PyTorch; chainrule's forward mode "
                "pushes all basis tangents in one pass either way)")
        if create_graph:
            raise NotImplementedError(
                f"{fn_name}: `create_graph=True` and `{arg}=\"forward-mode\"` are not supported "
                f"together (as in PyTorch); set create_graph=False or {arg}=\"reverse-mode\"")
    return strategy == "forward-mode"


def _scalar(func: Callable, fn_name: str) -> Callable:
    """``func`` checked to return one tensor of one element (a Hessian's function)."""
    def run(*args: Any) -> Tensor:
        out = func(*args)
        if not isinstance(out, Tensor):
            raise TypeError(f"The function given to {fn_name} should return a single Tensor, "
                            f"it returned {type(out)}")
        if out.data.size != 1:
            raise ChainruleError(f"The Tensor returned by the function given to {fn_name} "
                                 f"should contain a single element (it has shape {out.shape})")
        return out

    return run


def hessian(func: Callable, inputs: Any, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode") -> Any:
    """The Hessian of a scalar ``func``: a tensor of shape ``input.shape * 2``, or for a tuple
    of inputs a tuple of tuples, ``H[i][j]`` of shape ``inputs[i].shape + inputs[j].shape``.
    Reverse-over-reverse (the outer Jacobian by forward mode with
    ``outer_jacobian_strategy="forward-mode"``)."""
    is_tuple, ins = _as_tuple(inputs, "inputs", "hessian")
    forward = _strategy(outer_jacobian_strategy, vectorize, create_graph, "hessian",
                        "outer_jacobian_strategy")
    scalar = _scalar(func, "hessian")
    if strict:
        _check_strict_hessian(scalar, ins, is_tuple)
    nums = _argnums(is_tuple, len(ins))
    outer = transforms.jacfwd if forward else transforms.jacrev
    with set_grad_enabled(create_graph):
        return outer(transforms.grad(scalar, nums), nums)(*ins)


def _grad_with_value(func: Callable, nums: int | tuple[int, ...]) -> Callable:
    """``*inputs -> (gradient, func's value)``, for the vjp and jvp of the gradient."""
    return transforms.grad(lambda *a: (func(*a),) * 2, nums, has_aux=True)


def _hessian_product_args(func: Callable, inputs: Any, v: Any, strict: bool,
                          name: str) -> tuple[bool, tuple, Callable, tuple]:
    """vhp's and hvp's checked arguments: whether inputs is a tuple, the inputs, the scalar
    function and the vectors."""
    is_tuple, ins = _as_tuple(inputs, "inputs", name)
    scalar = _scalar(func, name)
    if strict:
        _check_strict_hessian(scalar, ins, is_tuple)
    return is_tuple, ins, scalar, _vectors(v, ins, is_tuple, name, _INPUT_RULE)


def vhp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """``(func(inputs), vᵀ·H)`` for a scalar ``func`` (reverse-over-reverse)."""
    is_tuple, ins, scalar, vs = _hessian_product_args(func, inputs, v, strict, "vhp")
    with set_grad_enabled(create_graph):
        _, vjp_fn, value = transforms.vjp(
            _grad_with_value(scalar, _argnums(is_tuple, len(ins))), *ins, has_aux=True)
        result = vjp_fn(vs if is_tuple else vs[0])
    return value, result if is_tuple else result[0]


def hvp(func: Callable, inputs: Any, v: Any = None, create_graph: bool = False,
        strict: bool = False) -> tuple:
    """``(func(inputs), H·v)`` for a scalar ``func`` (forward-over-reverse: one jvp of the
    gradient)."""
    is_tuple, ins, scalar, vs = _hessian_product_args(func, inputs, v, strict, "hvp")
    with set_grad_enabled(create_graph):
        _, tangent, value = transforms.jvp(
            _grad_with_value(scalar, _argnums(is_tuple, len(ins))), ins, vs, has_aux=True)
    return value, tangent

