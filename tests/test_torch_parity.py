"""chainrule against PyTorch: the same inputs, the same upstream gradient, the same numbers.

Two parts: every op-table entry that names a PyTorch function (its ``torch=`` field), on its
sample and every variant; then the public wrappers (``cr.sum``, ``cr.max``, ``cr.pad``, indexing,
``cr.linalg``, ...) with PyTorch's own signatures, including the conventions at ties and kinks.
Values and input gradients are compared in float64 with rtol 1e-10.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.registry import Op, all_ops

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-10, 1e-12


class Const:
    """A tensor argument that is not differentiated (indices, masks): passed as a tensor to
    both libraries."""

    def __init__(self, value: Any) -> None:
        self.value = np.asarray(value)


def _to_cr(a: Any) -> Any:
    if isinstance(a, Const):
        return cr.tensor(a.value)
    if isinstance(a, np.ndarray):
        return cr.tensor(a, requires_grad=a.dtype.kind == "f")
    if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        return [_to_cr(x) for x in a]
    return a


def _to_torch(a: Any) -> Any:
    if isinstance(a, Const):
        return torch.from_numpy(a.value.copy())
    if isinstance(a, np.ndarray):
        return torch.tensor(a, requires_grad=a.dtype.kind == "f")
    if isinstance(a, list) and a and isinstance(a[0], np.ndarray):
        return [_to_torch(x) for x in a]
    return a


def _leaves(args: list) -> list:
    out = []
    for a in args:
        if isinstance(a, list):
            out += _leaves(a)
        elif hasattr(a, "requires_grad") and a.requires_grad:
            out.append(a)
    return out


def _outputs(out: Any) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def compare(cr_fn: Callable, torch_fn: Callable, *args: Any, seed: int = 0,
            rtol: float = RTOL, atol: float = ATOL, **kwargs: Any) -> None:
    """Run both on the same inputs; compare every output and, for one random upstream gradient
    per float output, the gradient of every float input."""
    c_args, t_args = [_to_cr(a) for a in args], [_to_torch(a) for a in args]
    c_out, t_out = _outputs(cr_fn(*c_args, **kwargs)), _outputs(torch_fn(*t_args, **kwargs))
    assert len(c_out) == len(t_out), f"{len(c_out)} outputs, torch has {len(t_out)}"
    rng = np.random.default_rng(seed)
    c_roots, t_roots, c_gs, t_gs = [], [], [], []
    for k, (c, t) in enumerate(zip(c_out, t_out)):
        tv = t.detach().numpy()
        assert c.shape == tv.shape, f"output {k}: shape {c.shape}, torch {tv.shape}"
        if tv.dtype.kind == "f":
            assert c.dtype == tv.dtype, f"output {k}: dtype {c.dtype}, torch {tv.dtype}"
            np.testing.assert_allclose(c.data, tv, rtol=rtol, atol=atol,
                                       err_msg=f"output {k} values")
            if t.requires_grad:
                # (an output torch differentiates but chainrule treats as constant, such as
                # slogdet's sign, must then get a zero gradient from torch)
                g = rng.standard_normal(tv.shape)
                t_roots.append(t)
                t_gs.append(torch.tensor(g))
                if c.requires_grad:
                    c_roots.append(c)
                    c_gs.append(cr.tensor(g))
        else:
            np.testing.assert_array_equal(c.data, tv, err_msg=f"output {k} values")
    c_in, t_in = _leaves(c_args), _leaves(t_args)
    if not t_roots:
        return
    c_grads = cr.autograd.grad(c_roots, c_in, c_gs, allow_unused=True) if c_roots else [
        None] * len(c_in)
    t_grads = torch.autograd.grad(t_roots, t_in, t_gs, allow_unused=True)
    for j, (cg, tg, x) in enumerate(zip(c_grads, t_grads, t_in)):
        tgv = np.zeros(tuple(x.shape)) if tg is None else tg.numpy()
        cgv = np.zeros(tuple(x.shape)) if cg is None else cg.data
        assert cgv.shape == tgv.shape, f"gradient {j}: shape {cgv.shape}, torch {tgv.shape}"
        np.testing.assert_allclose(cgv, tgv, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {j}")


def _rand(*shape: int, low: float = -2.0, high: float = 2.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 31 * len(shape) + sum(shape)).uniform(low, high, shape)


# --------------------------------------------------------------------------- the op table

def _resolve(name: str) -> Callable:
    obj: Any = torch
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


# Ops whose parameters PyTorch spells differently (or passes positionally).
ADAPT: dict[str, Callable[..., Any]] = {
    "expand": lambda x, shape: torch.broadcast_to(x, shape),
    "cat": lambda *xs, dim: torch.cat(xs, dim),
    "einsum": lambda *xs, equation: torch.einsum(equation, *xs),
    "tile": lambda x, reps: torch.tile(x, reps),
    "lu_solve": lambda lu, b, pivots, **kw: torch.linalg.lu_solve(lu, pivots, b, **kw),
    # the op is elementwise (and broadcasts); torch's function averages and wants equal shapes
    "binary_cross_entropy": lambda p, y: torch.nn.functional.binary_cross_entropy(
        p, y.expand_as(p), reduction="none"),
}

TORCH_OPS = [op for op in all_ops() if op.torch is not None]


def _op_args(op: Op, rng: np.random.Generator) -> tuple:
    from test_ops import draw_args

    args = draw_args(op, rng)
    if op.sample.domain is not None:  # onto the op's domain (e.g. symmetric matrices)
        floats = [a for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f"]
        mapped = iter(op.sample.domain(*[cr.tensor(a) for a in floats]))
        args = tuple(next(mapped).data if isinstance(a, np.ndarray) and a.dtype.kind == "f"
                     else a for a in args)
    return args


@pytest.mark.parametrize("op", TORCH_OPS, ids=lambda op: op.name)
def test_op_table_entry_matches_torch(op):
    from test_ops import _rng, param_sets

    torch_fn = ADAPT.get(op.name) or _resolve(op.torch)
    for label, params in param_sets(op):
        args = _op_args(op, _rng(op))
        args = tuple(a if a.dtype.kind == "f" else Const(a) for a in args)
        # array parameters (class weights, ...) are tensors for torch, constants for both
        t_params = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v
                    for k, v in params.items()}
        try:
            compare(lambda *xs, p=params: op(*xs, **p),
                    lambda *xs, p=t_params: torch_fn(*xs, **p), *args)
        except AssertionError as e:
            raise AssertionError(f"{op.name} [{label}: {params}]: {e}") from None


def test_torch_names_resolve():
    for op in TORCH_OPS:
        assert callable(_resolve(op.torch)), op.torch


def test_public_names_are_torch_tensor_methods():
    from test_ops import PUBLIC, TENSOR_METHODS

    expected = [n for n in PUBLIC if hasattr(torch.Tensor, n)]
    assert sorted(expected) == sorted(TENSOR_METHODS)


# --------------------------------------------------------------------------- kinks and ties

X34 = _rand(3, 4)
X234 = _rand(2, 3, 4)
KINKS = np.array([-6.0, -1.0, -0.5, 0.0, 0.7, 1.0, 6.0, 2.5, -2.5, 0.3, -0.3, 7.0])


def _tied(shape: tuple) -> np.ndarray:
    """Values on a coarse grid, so that rows hold ties."""
    return np.random.default_rng(sum(shape)).integers(-2, 3, shape).astype(np.float64)


@pytest.mark.parametrize("name,kwargs", [
    ("abs", {}), ("relu", {}), ("nn.functional.relu6", {}), ("nn.functional.leaky_relu", {}),
    ("nn.functional.elu", {}), ("nn.functional.selu", {}), ("nn.functional.celu", {}),
    ("nn.functional.gelu", {}), ("nn.functional.gelu", {"approximate": "tanh"}),
    ("nn.functional.silu", {}), ("nn.functional.mish", {}), ("nn.functional.softplus", {}),
    ("nn.functional.softplus", {"beta": 2.0, "threshold": 3.0}),
    ("nn.functional.softsign", {}), ("nn.functional.hardtanh", {}),
    ("clamp", {"min": -0.5, "max": 0.7}), ("clamp", {"min": 0.0}), ("clamp", {"max": 1.0}),
    ("sign", {}), ("floor", {}), ("ceil", {}), ("sigmoid", {}), ("tanh", {}),
    ("nn.functional.logsigmoid", {}), ("square", {}), ("neg", {}), ("atan", {}),
])
def test_elementwise_at_kinks(name, kwargs):
    short = name.split(".")[-1]
    compare(getattr(cr, short), _resolve(name), KINKS, **kwargs)


def test_maximum_minimum_ties_and_broadcasting():
    a = _tied((3, 4))
    b = _tied((1, 4))
    for fn in ("maximum", "minimum"):
        compare(getattr(cr, fn), getattr(torch, fn), a, b)
        compare(getattr(cr, fn), getattr(torch, fn), a, a.copy())
    compare(cr.max, torch.max, a, b)
    compare(cr.min, torch.min, a, b)


def test_clamp_with_tensor_bounds_and_ties():
    x = _tied((3, 4))
    lo, hi = np.full((1, 4), -1.0), np.full((3, 1), 1.0)
    compare(lambda x, lo, hi: cr.clamp(x, lo, hi), lambda x, lo, hi: torch.clamp(x, lo, hi),
            x, lo, hi)
    compare(lambda x, lo: cr.clamp(x, min=lo), lambda x, lo: torch.clamp(x, min=lo), x, lo)
    compare(lambda x, hi: cr.clamp(x, max=hi), lambda x, hi: torch.clamp(x, max=hi), x, hi)
    compare(lambda x: cr.clamp(x, -1.0, 1.0), lambda x: torch.clamp(x, -1.0, 1.0), x)


def test_where_lerp_atan2():
    c = Const(_rand(3, 4, seed=1) > 0)
    compare(cr.where, torch.where, c, X34, _rand(1, 4))
    compare(lambda c, x: cr.where(c, x, 0.0), lambda c, x: torch.where(c, x, 0.0), c, X34)
    compare(lambda c, y: cr.where(c, 1.5, y), lambda c, y: torch.where(c, 1.5, y), c, X34)
    compare(cr.lerp, torch.lerp, X34, _rand(3, 4, seed=2), _rand(1, 4, low=0, high=1))
    compare(lambda a, b: cr.lerp(a, b, 0.3), lambda a, b: torch.lerp(a, b, 0.3), X34,
            _rand(1, 4, seed=3))
    y, x = _rand(3, 4, seed=4), _rand(3, 4, seed=5)  # all four quadrants
    compare(cr.atan2, torch.atan2, y, x)
    compare(cr.atan2, torch.atan2, y, _rand(4, seed=6))


def test_masked_fill():
    m = Const(_rand(3, 4, seed=7) > 0)
    compare(lambda x, m: cr.masked_fill(x, m, 0.5), lambda x, m: torch.masked_fill(x, m, 0.5),
            X34, m)
    m1 = Const(np.array([[True, False, False, True]]))
    compare(lambda x, m: x.masked_fill(m, -1.0), lambda x, m: x.masked_fill(m, -1.0), X34, m1)


POW_CASES = [
    ("tensor ** tensor", lambda a, b: a ** b, (_rand(3, 4, low=0.2, high=2), _rand(1, 4))),
    ("tensor ** 2", lambda a: a ** 2, (KINKS,)),
    ("tensor ** 3 (negative bases)", lambda a: a ** 3, (KINKS,)),
    ("tensor ** 0.5", lambda a: a ** 0.5, (np.abs(KINKS) + 0.1,)),
    ("tensor ** -1", lambda a: a ** -1, (np.abs(KINKS) + 0.1,)),
    ("tensor ** 0 at 0", lambda a: a ** 0.0, (KINKS,)),
    ("tensor ** 1 at 0", lambda a: a ** 1.0, (KINKS,)),
    ("2 ** tensor", lambda b: 2.0 ** b, (KINKS,)),
    ("0 ** tensor", lambda b: 0.0 ** b, (np.abs(KINKS),)),
    ("base 0 ** tensor", lambda a, b: a ** b,
     (np.array([0.0, 0.0, 1.5, 0.0]), np.array([2.0, 0.5, 1.0, 0.0]))),
    ("pow method", lambda a, b: a.pow(b), (_rand(3, 4, low=0.5, high=2), _rand(3, 4))),
]


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")  # 0 ** -0.5 = inf
@pytest.mark.parametrize("fn,args", [(f, a) for _, f, a in POW_CASES],
                         ids=[n for n, _, _ in POW_CASES])
def test_pow(fn, args):
    compare(fn, fn, *args)


def test_pow_functional():
    a, b = _rand(3, 4, low=0.2, high=2), _rand(1, 4)
    compare(cr.pow, torch.pow, a, b)


def test_pow_functional_with_scalars():
    compare(lambda x: cr.pow(x, 3), lambda x: torch.pow(x, 3), KINKS)
    compare(lambda x: cr.pow(2.5, x), lambda x: torch.pow(2.5, x), KINKS)


# --------------------------------------------------------------------------- reductions

REDUCTIONS = [
    ("sum", (), {}), ("sum", (1,), {}), ("sum", ((0, 2),), {"keepdim": True}),
    ("sum", (-1,), {"keepdim": False}), ("mean", (), {}), ("mean", (0,), {"keepdim": True}),
    ("mean", ((1, -1),), {}), ("prod", (), {}), ("prod", (1,), {}),
    ("prod", (0,), {"keepdim": True}), ("var", (), {}), ("var", (1,), {}),
    ("var", ((0, 2),), {"correction": 0}), ("var", (1,), {"keepdim": True, "correction": 2}),
    ("std", (), {}), ("std", (2,), {"correction": 0, "keepdim": True}), ("std", ((0, 1),), {}),
    ("logsumexp", (1,), {}), ("logsumexp", ((0, 2),), {"keepdim": True}),
    ("amax", (1,), {}), ("amax", ((0, 2),), {"keepdim": True}), ("amin", (-1,), {}),
    ("amin", ((0, 1),), {}),
]


@pytest.mark.parametrize("name,args,kwargs", REDUCTIONS,
                         ids=[f"{n}{a}{k}" for n, a, k in REDUCTIONS])
def test_reductions(name, args, kwargs):
    compare(lambda x: getattr(cr, name)(x, *args, **kwargs),
            lambda x: getattr(torch, name)(x, *args, **kwargs), X234)


@pytest.mark.parametrize("name", ["amax", "amin", "max", "min", "logsumexp", "sum", "mean"])
def test_reductions_with_ties(name):
    x = _tied((3, 4))
    fn_c, fn_t = getattr(cr, name), getattr(torch, name)
    if name in ("max", "min"):
        compare(fn_c, fn_t, x)  # full reduction: ties share the gradient equally
        compare(lambda x: fn_c(x, 1), lambda x: fn_t(x, 1), x)  # (values, indices)
        compare(lambda x: fn_c(x, 0, keepdim=True), lambda x: fn_t(x, 0, keepdim=True), x)
        compare(lambda x: fn_c(x, dim=-1), lambda x: fn_t(x, dim=-1), np.ones((2, 3)))
    elif name in ("amax", "amin"):
        compare(fn_c, fn_t, x)
        compare(lambda x: fn_c(x, 1), lambda x: fn_t(x, 1), x)
        compare(lambda x: fn_c(x, (0, 1)), lambda x: fn_t(x, (0, 1)), np.ones((2, 3)))
    else:
        compare(lambda x: fn_c(x, 1), lambda x: fn_t(x, 1), x)


def test_prod_with_zeros():
    x = X234.copy()
    x[0, 1, 2] = 0.0
    x[1, :2, 3] = 0.0  # two zeros in one column
    for dim in (0, 1, 2):
        compare(lambda x, d=dim: cr.prod(x, d), lambda x, d=dim: torch.prod(x, d), x)
    compare(cr.prod, torch.prod, x)
    compare(cr.prod, torch.prod, np.array([1.5, 0.0, -2.0]))


@pytest.mark.parametrize("p", [1, 2, float("inf"), "fro", -float("inf"), 3])
@pytest.mark.parametrize("dim", [None, 1, (0, 2)])
def test_norm(p, dim):
    x = X234.copy()
    x[0, 0, :2] = [1.5, -1.5]  # ties for inf (|x| equal)
    x[1, 2, 0] = 0.0
    compare(lambda x: cr.norm(x, p, dim), lambda x: torch.norm(x, p, dim), x)
    compare(lambda x: cr.norm(x, p=p, dim=dim, keepdim=True),
            lambda x: torch.norm(x, p=p, dim=dim, keepdim=True), x)


def test_norm_default_and_linalg_vector_norm():
    compare(cr.norm, torch.norm, X234)
    compare(lambda x: x.norm(), lambda x: x.norm(), X234)
    for ord in (1, 2, float("inf")):
        compare(lambda x, o=ord: cr.linalg.vector_norm(x, o, dim=-1),
                lambda x, o=ord: torch.linalg.vector_norm(x, o, dim=-1), X234)


def test_norm_at_zero():
    z = np.zeros((2, 3))
    for p in (1, 2, float("inf")):
        compare(lambda x, p=p: cr.norm(x, p, 1), lambda x, p=p: torch.norm(x, p, 1), z)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scans(dim):
    compare(lambda x: cr.cumsum(x, dim), lambda x: torch.cumsum(x, dim), X234)
    compare(lambda x: cr.cumprod(x, dim), lambda x: torch.cumprod(x, dim), X234)
    x = X234.copy()
    x[0, 1, 1] = 0.0
    x[1, :, 2] = 0.0
    compare(lambda x: cr.cumprod(x, dim), lambda x: torch.cumprod(x, dim), x)
    compare(lambda x: x.cumsum(dim), lambda x: x.cumsum(dim), x)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax(dim):
    compare(lambda x: cr.softmax(x, dim), lambda x: torch.softmax(x, dim), X234)
    compare(lambda x: cr.log_softmax(x, dim), lambda x: torch.log_softmax(x, dim), X234)
    big = np.array([[1e4, -1e4, 0.0, 1e4], [-1e4, -1e4, -1e4, -1e4], [5.0, 1e4, -1e4, 3.0]])
    compare(lambda x: cr.softmax(x, dim), lambda x: torch.softmax(x, dim), big)
    compare(lambda x: cr.log_softmax(x, dim), lambda x: torch.log_softmax(x, dim), big)
    compare(lambda x: x.softmax(dim), lambda x: x.softmax(dim), big)
    compare(lambda x: cr.logsumexp(x, dim), lambda x: torch.logsumexp(x, dim), big)


# --------------------------------------------------------------------------- linear algebra

MATMUL_SHAPES = [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 5)), ((3, 4), (4, 5)),
                 ((2, 3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)), ((4,), (2, 4, 3)),
                 ((2, 3, 4), (4,)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5))]


@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=[f"{a}@{b}" for a, b in MATMUL_SHAPES])
def test_matmul(sa, sb):
    a, b = _rand(*sa, seed=1), _rand(*sb, seed=2)
    compare(cr.matmul, torch.matmul, a, b)
    compare(lambda a, b: a @ b, lambda a, b: a @ b, a, b)


def test_mm_bmm_mv_dot_outer():
    compare(cr.mm, torch.mm, _rand(3, 4), _rand(4, 2))
    compare(cr.bmm, torch.bmm, _rand(2, 3, 4), _rand(2, 4, 2))
    compare(cr.mv, torch.mv, _rand(3, 4), _rand(4))
    compare(cr.dot, torch.dot, _rand(4), _rand(4, seed=1))
    compare(cr.outer, torch.outer, _rand(3), _rand(4))
    compare(lambda a, b: a.dot(b), lambda a, b: a.dot(b), _rand(4), _rand(4, seed=1))


@pytest.mark.parametrize("equation,shapes", [
    ("ij,jk->ik", [(2, 3), (3, 4)]), ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("i,i->", [(3,), (3,)]), ("ij->ji", [(2, 3)]), ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]),
    ("ij,jk", [(2, 3), (3, 4)]), ("i,j->ij", [(2,), (3,)]), ("ij,jk,k->i", [(2, 3), (3, 4), (4,)]),
])
def test_einsum(equation, shapes):
    arrays = [_rand(*s, seed=k) for k, s in enumerate(shapes)]
    compare(lambda *xs: cr.einsum(equation, *xs), lambda *xs: torch.einsum(equation, *xs),
            *arrays)


def test_transpose_permute_movedim_swapaxes():
    compare(lambda x: cr.transpose(x, 0, 2), lambda x: torch.transpose(x, 0, 2), X234)
    compare(lambda x: x.transpose(-1, 0), lambda x: x.transpose(-1, 0), X234)
    compare(lambda x: cr.permute(x, (2, 0, 1)), lambda x: torch.permute(x, (2, 0, 1)), X234)
    compare(lambda x: x.permute(1, 2, 0), lambda x: x.permute(1, 2, 0), X234)
    compare(lambda x: cr.movedim(x, 0, -1), lambda x: torch.movedim(x, 0, -1), X234)
    compare(lambda x: cr.movedim(x, (0, 1), (2, 0)), lambda x: torch.movedim(x, (0, 1), (2, 0)),
            X234)
    compare(lambda x: cr.swapaxes(x, 0, 1), lambda x: torch.swapaxes(x, 0, 1), X234)
    compare(lambda x: x.T, lambda x: x.T, X34)
    compare(lambda x: x.mT, lambda x: x.mT, X234)


def _wellconditioned(*shape: int, seed: int = 0) -> np.ndarray:
    return _rand(*shape, seed=seed) + 3 * np.eye(shape[-1])


def _spd(*shape: int, seed: int = 0) -> np.ndarray:
    a = _rand(*shape, seed=seed)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def test_linalg():
    for a in (_wellconditioned(3, 3), _wellconditioned(2, 3, 3, seed=1)):
        compare(cr.linalg.inv, torch.linalg.inv, a)
        compare(cr.linalg.det, torch.linalg.det, a)
        compare(cr.linalg.slogdet, torch.linalg.slogdet, a)
    neg = _wellconditioned(3, 3)
    neg[[0, 1]] = neg[[1, 0]]  # negative determinant
    compare(cr.linalg.slogdet, torch.linalg.slogdet, neg)
    compare(cr.linalg.det, torch.linalg.det, neg)
    compare(cr.linalg.solve, torch.linalg.solve, _wellconditioned(3, 3), _rand(3, 2))
    compare(cr.linalg.solve, torch.linalg.solve, _wellconditioned(3, 3), _rand(3))
    compare(cr.linalg.solve, torch.linalg.solve, _wellconditioned(2, 3, 3), _rand(2, 3, 4))
    compare(cr.linalg.solve, torch.linalg.solve, _wellconditioned(2, 3, 3), _rand(2, 3))
    for a in (_spd(3, 3), _spd(2, 4, 4, seed=1)):
        compare(cr.linalg.cholesky, torch.linalg.cholesky, a, rtol=1e-9)


# --------------------------------------------------------------------------- shape

SHAPE_CASES: list[tuple[str, Callable, Callable, tuple]] = [
    ("reshape", lambda x: cr.reshape(x, (4, 6)), lambda x: torch.reshape(x, (4, 6)), (X234,)),
    ("reshape -1", lambda x: x.reshape(-1, 3), lambda x: x.reshape(-1, 3), (X234,)),
    ("view", lambda x: x.view(2, 12), lambda x: x.view(2, 12), (X234,)),
    ("flatten", cr.flatten, torch.flatten, (X234,)),
    ("flatten 1", lambda x: cr.flatten(x, 1), lambda x: torch.flatten(x, 1), (X234,)),
    ("flatten 0 1", lambda x: x.flatten(0, 1), lambda x: x.flatten(0, 1), (X234,)),
    ("unflatten", lambda x: cr.unflatten(x, 2, (2, 2)), lambda x: torch.unflatten(x, 2, (2, 2)),
     (X234,)),
    ("squeeze", cr.squeeze, torch.squeeze, (_rand(1, 3, 1, 2),)),
    ("squeeze 0", lambda x: cr.squeeze(x, 0), lambda x: torch.squeeze(x, 0), (_rand(1, 3, 1, 2),)),
    ("squeeze dims", lambda x: x.squeeze((0, 2)), lambda x: x.squeeze((0, 2)),
     (_rand(1, 3, 1, 2),)),
    ("squeeze non-1", lambda x: cr.squeeze(x, 1), lambda x: torch.squeeze(x, 1),
     (_rand(1, 3, 1, 2),)),
    ("unsqueeze 0", lambda x: cr.unsqueeze(x, 0), lambda x: torch.unsqueeze(x, 0), (X34,)),
    ("unsqueeze -1", lambda x: x.unsqueeze(-1), lambda x: x.unsqueeze(-1), (X34,)),
    ("unsqueeze 1", lambda x: x.unsqueeze(1), lambda x: x.unsqueeze(1), (X34,)),
    ("expand", lambda x: x.expand(2, 3, 4), lambda x: x.expand(2, 3, 4), (_rand(3, 1),)),
    ("expand -1", lambda x: x.expand(2, -1, 4), lambda x: x.expand(2, -1, 4), (_rand(3, 1),)),
    ("broadcast_to", lambda x: cr.broadcast_to(x, (2, 3, 4)),
     lambda x: torch.broadcast_to(x, (2, 3, 4)), (_rand(4),)),
    ("cat 0", lambda a, b: cr.cat([a, b], 0), lambda a, b: torch.cat([a, b], 0),
     (_rand(2, 3), _rand(4, 3))),
    ("cat -1", lambda a, b, c: cr.cat([a, b, c], -1), lambda a, b, c: torch.cat([a, b, c], -1),
     (_rand(2, 3), _rand(2, 1), _rand(2, 2))),
    ("stack 0", lambda a, b: cr.stack([a, b]), lambda a, b: torch.stack([a, b]),
     (_rand(2, 3), _rand(2, 3, seed=1))),
    ("stack 1", lambda a, b: cr.stack([a, b], 1), lambda a, b: torch.stack([a, b], 1),
     (_rand(2, 3), _rand(2, 3, seed=1))),
    ("stack -1", lambda a, b: cr.stack([a, b], -1), lambda a, b: torch.stack([a, b], -1),
     (_rand(2, 3), _rand(2, 3, seed=1))),
    ("split 2", lambda x: cr.split(x, 3, 2), lambda x: torch.split(x, 3, 2), (X234,)),
    ("split sizes", lambda x: cr.split(x, [1, 3], dim=-1),
     lambda x: torch.split(x, [1, 3], dim=-1), (X234,)),
    ("split method", lambda x: x.split(1), lambda x: x.split(1), (X234,)),
    ("chunk", lambda x: cr.chunk(x, 2, 2), lambda x: torch.chunk(x, 2, 2), (X234,)),
    ("chunk uneven", lambda x: cr.chunk(x, 2, 1), lambda x: torch.chunk(x, 2, 1), (X234,)),
    ("chunk more", lambda x: x.chunk(3, -1), lambda x: x.chunk(3, -1), (X234,)),
    ("pad", lambda x: cr.pad(x, (1, 2)), lambda x: torch.nn.functional.pad(x, (1, 2)), (X234,)),
    ("pad value", lambda x: cr.pad(x, (1, 0, 0, 2), value=0.5),
     lambda x: torch.nn.functional.pad(x, (1, 0, 0, 2), value=0.5), (X234,)),
    ("pad 3 dims", lambda x: cr.pad(x, (0, 1, 1, 0, 2, 2)),
     lambda x: torch.nn.functional.pad(x, (0, 1, 1, 0, 2, 2)), (X234,)),
    ("pad negative", lambda x: cr.pad(x, (-1, 1, 1, -2)),
     lambda x: torch.nn.functional.pad(x, (-1, 1, 1, -2)), (X234,)),
    ("flip", lambda x: cr.flip(x, (0,)), lambda x: torch.flip(x, (0,)), (X234,)),
    ("flip 2", lambda x: x.flip((0, -1)), lambda x: x.flip((0, -1)), (X234,)),
    ("roll", lambda x: cr.roll(x, 1, 0), lambda x: torch.roll(x, 1, 0), (X234,)),
    ("roll 2", lambda x: cr.roll(x, (1, -2), (0, 2)), lambda x: torch.roll(x, (1, -2), (0, 2)),
     (X234,)),
    ("roll flat", lambda x: cr.roll(x, 5), lambda x: torch.roll(x, 5), (X234,)),
    ("repeat", lambda x: x.repeat(2, 1, 3), lambda x: x.repeat(2, 1, 3), (X34,)),
    ("repeat same", lambda x: x.repeat(2, 2), lambda x: x.repeat(2, 2), (X34,)),
    ("tile", lambda x: cr.tile(x, (2,)), lambda x: torch.tile(x, (2,)), (X34,)),
    ("tile more", lambda x: cr.tile(x, (2, 1, 2)), lambda x: torch.tile(x, (2, 1, 2)), (X34,)),
    ("clone", cr.clone, torch.clone, (X34,)),
]


@pytest.mark.parametrize("cr_fn,torch_fn,args", [c[1:] for c in SHAPE_CASES],
                         ids=[c[0] for c in SHAPE_CASES])
def test_shape_ops(cr_fn, torch_fn, args):
    compare(cr_fn, torch_fn, *args)


# --------------------------------------------------------------------------- indexing

IDX = np.array([2, 0, 2, 2])
INDEX_CASES: list[tuple[str, Any]] = [
    ("slices", lambda x: x[1:, ::2]), ("ellipsis", lambda x: x[..., -1]),
    ("none", lambda x: x[None, 1]), ("step", lambda x: x[::2, :, 1::2]),
    ("int", lambda x: x[1]), ("int and slice", lambda x: x[1, :, 2:]),
    ("repeats", lambda x: x[IDX[:3] - 1]),
    ("repeats dim 2", lambda x: x[:, :, IDX]),
    ("2d index", lambda x: x[np.array([[0, 1], [1, 1]])]),
    ("two arrays", lambda x: x[np.array([0, 1, 1]), np.array([2, 2, 0])]),
    ("arrays around slice", lambda x: x[np.array([0, 1, 1]), :, np.array([3, 3, 0])]),
    ("bool mask", lambda x: x[np.array([True, False])]),
    ("bool mask 2d", lambda x: x[np.array([[True, False, True], [False, True, True]])]),
    ("mask last", lambda x: x[..., np.array([True, False, True, True])]),
]


def _key_for(lib: Any, fn: Callable) -> Callable:
    """Index with tensors of each library (so both see the same advanced key)."""
    def run(x: Any) -> Any:
        class Lib:
            def __getitem__(self, key: Any) -> Any:
                key = key if isinstance(key, tuple) else (key,)
                conv = tuple(lib(k) if isinstance(k, np.ndarray) else k for k in key)
                return x[conv]
        return fn(Lib())
    return run


@pytest.mark.parametrize("fn", [c[1] for c in INDEX_CASES], ids=[c[0] for c in INDEX_CASES])
def test_getitem(fn):
    compare(_key_for(cr.tensor, fn), _key_for(torch.from_numpy, fn), X234)


def test_index_select_gather_take_scatter():
    idx = Const(np.array([2, 0, 2, 2]))
    compare(lambda x, i: cr.index_select(x, 1, i), lambda x, i: torch.index_select(x, 1, i),
            X234, idx)
    compare(lambda x, i: x.index_select(-1, i), lambda x, i: x.index_select(-1, i), X234, idx)
    g = Const(np.array([[0, 0, 3], [1, 2, 2], [3, 3, 3]]))
    compare(lambda x, i: cr.gather(x, 1, i), lambda x, i: torch.gather(x, 1, i), X34, g)
    g0 = Const(np.array([[0, 2], [2, 2]]))  # smaller than the input in the other dim
    compare(lambda x, i: cr.gather(x, 0, i), lambda x, i: torch.gather(x, 0, i), X34, g0)
    compare(lambda x, i: x.gather(-1, i), lambda x, i: x.gather(-1, i), X34, g)
    compare(lambda x, i: cr.take_along_dim(x, i, 1), lambda x, i: torch.take_along_dim(x, i, 1),
            X34, g)
    compare(lambda x, i: cr.take_along_dim(x, i, dim=0),
            lambda x, i: torch.take_along_dim(x, i, dim=0), X34, Const(np.array([[2, 0, 0, 1]])))
    compare(lambda x, i: cr.take_along_dim(x, i), lambda x, i: torch.take_along_dim(x, i),
            X34, Const(np.array([11, 0, 0, 5])))
    s = Const(np.array([[0, 1, 0, 0], [2, 0, 0, 1]]))
    compare(lambda x, i, src: cr.scatter_add(x, 0, i, src),
            lambda x, i, src: torch.scatter_add(x, 0, i, src), X34, s, _rand(2, 4, seed=1))
    compare(lambda x, i, src: x.scatter_add(1, i, src),
            lambda x, i, src: x.scatter_add(1, i, src), X34,
            Const(np.array([[0, 0], [3, 1], [2, 2]])), _rand(3, 2, seed=2))


def test_setitem_matches_torch():
    def run(lib: Any, x: Any, v: Any) -> Any:
        y = x * 1.0
        y[1:, lib(np.array([0, 2]))] = v
        return y

    compare(lambda x, v: run(cr.tensor, x, v), lambda x, v: run(torch.from_numpy, x, v),
            X34, _rand(2, 2, seed=3))


# --------------------------------------------------------------------------- arithmetic

def test_arithmetic_wrappers():
    a, b = X34, _rand(1, 4, seed=1)
    compare(lambda a, b: cr.add(a, b, alpha=2.5), lambda a, b: torch.add(a, b, alpha=2.5), a, b)
    compare(lambda a, b: cr.sub(a, b, alpha=-0.5), lambda a, b: torch.sub(a, b, alpha=-0.5), a, b)
    compare(lambda a, b: a - b * 2 + 1 / (b + 3), lambda a, b: a - b * 2 + 1 / (b + 3), a, b)
    compare(lambda a: 1.5 - a, lambda a: 1.5 - a, a)
    compare(lambda a: 2.0 / (a + 3), lambda a: 2.0 / (a + 3), a)
    compare(cr.div, torch.div, a, b + 3)
    compare(lambda x: cr.rsqrt(x), lambda x: torch.rsqrt(x), np.abs(a) + 0.1)
    compare(lambda x: math.pi * cr.exp2(x), lambda x: math.pi * torch.exp2(x), a)


@pytest.mark.parametrize("ord", [None, "fro", 1, -1, float("inf"), -float("inf")])
@pytest.mark.parametrize("dim", [None, (0, 1), (-1, -2)])
def test_linalg_matrix_norm(ord, dim):
    a = X34 if dim is None else X234
    a = a.copy()
    a[..., 0, :2] = 1.25  # ties in the row and column sums
    compare(lambda x: cr.linalg.norm(x, ord, dim), lambda x: torch.linalg.norm(x, ord, dim), a)
    compare(lambda x: cr.linalg.norm(x, ord, dim, keepdim=True),
            lambda x: torch.linalg.norm(x, ord, dim, keepdim=True), a)


@pytest.mark.parametrize("ord", [0, 1, 2, 3, -1, -2, float("inf"), -float("inf")])
def test_linalg_vector_norm(ord):
    compare(lambda x: cr.linalg.vector_norm(x, ord, dim=1),
            lambda x: torch.linalg.vector_norm(x, ord, dim=1), X234)
    compare(lambda x: cr.linalg.vector_norm(x, ord), lambda x: torch.linalg.vector_norm(x, ord),
            X34)


def test_take_along_dim_broadcasts():
    compare(lambda x, i: cr.take_along_dim(x, i, 1), lambda x, i: torch.take_along_dim(x, i, 1),
            X34, Const(np.array([[3, 0]])))
    compare(lambda x, i: cr.take_along_dim(x, i, 1), lambda x, i: torch.take_along_dim(x, i, 1),
            _rand(1, 4), Const(np.array([[3, 0], [1, 1], [2, 2]])))


def test_triangles_and_diagonals():
    for k in (-1, 0, 2):
        compare(lambda x, k=k: cr.tril(x, k), lambda x, k=k: torch.tril(x, k), X234)
        compare(lambda x, k=k: x.triu(k), lambda x, k=k: x.triu(k), X34)
        compare(lambda x, k=k: cr.diagonal(x, k), lambda x, k=k: torch.diagonal(x, k), X34)
    compare(lambda x: cr.diagonal(x, 0, -2, -1), lambda x: torch.diagonal(x, 0, -2, -1), X234)
    compare(cr.trace, torch.trace, X34)
