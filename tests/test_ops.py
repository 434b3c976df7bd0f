"""The every-op test: one parametrised set that walks the whole op table.

For every entry of ``chainrule.ops.registry.all_ops()`` (the ids are the op names) and for its
sample's parameters and each variant, on float64 inputs drawn from the sample:

* the forward against an independent NumPy/``math`` reference (shape, dtype, values, finite);
* first-order VJPs against central differences (``cr.gradcheck``), for every float input;
* second order (``cr.gradgradcheck``) unless the sample says the op has no second derivative;
* forward mode: ``cr.jacfwd`` (all basis tangents in one batched pass) equals ``cr.jacrev``,
  and ``cr.jvp`` with a random tangent equals the Jacobian times that tangent;
* gradients have their input's shape (the samples broadcast on purpose) and dtype (float32 in,
  float32 gradient out).

Entries with no VJPs (comparisons, logical ops) are tested apart: forward values, and no
gradient. Hypothesis drives the broadcast shapes of the binary elementwise ops and the dims of
the reductions. A new op is tested just by existing.
"""

from __future__ import annotations

import math
import os
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import chainrule as cr
from chainrule.ops.registry import Op, all_ops

OPS = all_ops()
DIFF_OPS = [op for op in OPS if op.vjps is not None]
NONDIFF_OPS = [op for op in OPS if op.vjps is None]

# CHAINRULE_EXAMPLES=500 pytest tests/test_ops.py  for a longer, randomised search
_EXAMPLES = int(os.environ.get("CHAINRULE_EXAMPLES", "0"))
SETTINGS = settings(deadline=None, max_examples=_EXAMPLES or 25, derandomize=not _EXAMPLES,
                    suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------- drawing cases

class Case:
    """One op, one parameter set, one draw of arguments (NumPy arrays and constants)."""

    def __init__(self, op: Op, args: tuple, params: dict, label: str) -> None:
        self.op, self.args, self.params, self.label = op, args, params, label
        self.diff = [i for i, a in enumerate(args) if _is_float(a)]

    def tensors(self, dtype: Any = np.float64) -> list[cr.Tensor]:
        """The float inputs as fresh leaves that require grad."""
        return [cr.tensor(self.args[i].astype(dtype), requires_grad=True) for i in self.diff]

    def fn(self) -> Callable[..., cr.Tensor]:
        """``f(*float_inputs) = op(*args, **params)`` with the other arguments held fixed."""
        domain = self.op.sample.domain

        def f(*xs: Any) -> cr.Tensor:
            if domain is not None:
                xs = domain(*xs)
            full = list(self.args)
            for i, x in zip(self.diff, xs):
                full[i] = x
            return self.op(*full, **self.params)

        return f

    def __repr__(self) -> str:
        return f"{self.op.name}[{self.label}]"


def _is_float(a: Any) -> bool:
    return isinstance(a, np.ndarray) and a.dtype.kind == "f"


def _rng(op: Op, k: int = 0) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(op.name.encode()) + k)


def param_sets(op: Op) -> list[tuple[str, dict]]:
    """The sample's params, then each variant (a variant is a complete parameter set)."""
    assert op.sample is not None
    sets = [("params", dict(op.sample.params))]
    sets += [(f"variant{k}", dict(v)) for k, v in enumerate(op.sample.variants)]
    return sets


def draw_args(op: Op, rng: np.random.Generator) -> tuple:
    s = op.sample
    assert s is not None
    if s.make is not None:
        args = tuple(s.make(rng))
    else:
        args = tuple(rng.uniform(s.low, s.high, shape) for shape in s.shapes)
    return tuple(a.astype(np.float64) if _is_float(a) else a for a in args)


def cases(op: Op) -> list[Case]:
    rng = _rng(op)
    return [Case(op, draw_args(op, rng), params, label) for label, params in param_sets(op)]


def _close(actual: Any, expected: Any, rtol: float = 1e-10, atol: float = 1e-12,
           what: str = "") -> None:
    a = actual.data if isinstance(actual, cr.Tensor) else np.asarray(actual)
    e = expected.data if isinstance(expected, cr.Tensor) else np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape}, expected {e.shape}"
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol, err_msg=what)


# --------------------------------------------------------------------------- references

_vec = np.vectorize


def _math(fn: Callable[[float], float]) -> Callable[[np.ndarray], np.ndarray]:
    """A scalar ``math`` function applied element by element: an independent reference."""
    return lambda x: _vec(fn, otypes=[np.float64])(x)


def _sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def _softplus_ref(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    return _vec(lambda v: v if v * beta > threshold else math.log1p(math.exp(v * beta)) / beta,
                otypes=[np.float64])(x)


def _gelu_ref(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        return _vec(lambda v: 0.5 * v * (1 + math.tanh(c * (v + 0.044715 * v ** 3))),
                    otypes=[np.float64])(x)
    return _vec(lambda v: v * 0.5 * (1 + math.erf(v / math.sqrt(2))), otypes=[np.float64])(x)


_SELU_A, _SELU_L = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946


def _elu_ref(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return _vec(lambda v: v if v > 0 else alpha * math.expm1(v), otypes=[np.float64])(x)


def _celu_ref(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return _vec(lambda v: v if v > 0 else alpha * math.expm1(v / alpha), otypes=[np.float64])(x)


def _clamp_ref(x: np.ndarray, min: Any = None, max: Any = None) -> np.ndarray:
    lo = -np.inf if min is None else min
    hi = np.inf if max is None else max
    return _vec(lambda v: float(sorted((lo, v, hi))[1]), otypes=[np.float64])(x)


def _lse_ref(x: np.ndarray, dim: tuple, keepdim: bool = False) -> np.ndarray:
    return np.log(np.sum(np.exp(x), axis=dim, keepdims=keepdim))


def _scatter_ref(src: np.ndarray, key: tuple, shape: tuple) -> np.ndarray:
    z = np.zeros(shape)
    np.add.at(z, key, src)
    return z


def _put_ref(x: np.ndarray, v: np.ndarray, key: tuple) -> np.ndarray:
    out = x.copy()
    out[key] = v
    return out


def _cumprod_ref(x: np.ndarray, dim: int) -> np.ndarray:
    moved = np.moveaxis(x, dim, -1)
    out = np.empty_like(moved)
    for idx in np.ndindex(moved.shape[:-1]):
        acc = 1.0
        for k in range(moved.shape[-1]):
            acc *= moved[idx + (k,)]
            out[idx + (k,)] = acc
    return np.moveaxis(out, -1, dim)


def _softmax_ref(x: np.ndarray, dim: int) -> np.ndarray:
    e = np.exp(x)
    return e / e.sum(axis=dim, keepdims=True)


REFERENCE: dict[str, Callable[..., np.ndarray]] = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "div": lambda x, y: x / y, "neg": lambda x: -x,
    "pow": lambda x, y: _vec(math.pow, otypes=[np.float64])(x, y),
    "exp": _math(math.exp), "exp2": _math(lambda v: 2.0 ** v), "log": _math(math.log),
    "log2": _math(math.log2), "log1p": _math(math.log1p), "expm1": _math(math.expm1),
    "sqrt": _math(math.sqrt), "rsqrt": _math(lambda v: 1 / math.sqrt(v)),
    "square": _math(lambda v: v * v), "reciprocal": _math(lambda v: 1 / v),
    "abs": _math(math.fabs), "sin": _math(math.sin), "cos": _math(math.cos),
    "tan": _math(math.tan), "asin": _math(math.asin), "acos": _math(math.acos),
    "atan": _math(math.atan), "atan2": lambda y, x: _vec(math.atan2, otypes=[np.float64])(y, x),
    "sinh": _math(math.sinh), "cosh": _math(math.cosh), "tanh": _math(math.tanh),
    "erf": _math(math.erf), "sigmoid": _math(_sig),
    "logsigmoid": _math(lambda v: math.log(_sig(v))),
    "relu": _math(lambda v: v if v > 0 else 0.0),
    "relu6": _math(lambda v: min(max(v, 0.0), 6.0)),
    "leaky_relu": lambda x, negative_slope=0.01: _vec(
        lambda v: v if v > 0 else v * negative_slope, otypes=[np.float64])(x),
    "elu": _elu_ref, "celu": _celu_ref,
    "selu": _math(lambda v: _SELU_L * (v if v > 0 else _SELU_A * math.expm1(v))),
    "gelu": _gelu_ref, "silu": _math(lambda v: v * _sig(v)),
    "mish": _math(lambda v: v * math.tanh(math.log1p(math.exp(v)))),
    "softplus": _softplus_ref, "softsign": _math(lambda v: v / (1 + abs(v))),
    "hardtanh": lambda x, min_val=-1.0, max_val=1.0: _clamp_ref(x, min_val, max_val),
    "clamp": _clamp_ref,
    "maximum": lambda x, y: _vec(max, otypes=[np.float64])(x, y),
    "minimum": lambda x, y: _vec(min, otypes=[np.float64])(x, y),
    "where": lambda c, x, y: np.where(c, x, y),
    "lerp": lambda a, b, w: a + w * (b - a),
    "logaddexp": lambda x, y: _vec(lambda a, b: max(a, b) + math.log1p(math.exp(-abs(a - b))),
                                   otypes=[np.float64])(x, y),
    "logaddexp2": lambda x, y: _vec(lambda a, b: max(a, b) + math.log2(1 + 2.0 ** -abs(a - b)),
                                    otypes=[np.float64])(x, y),
    "hypot": lambda x, y: _vec(math.hypot, otypes=[np.float64])(x, y),
    "xlogy": lambda x, y: _vec(lambda a, b: 0.0 if a == 0 else a * math.log(b),
                               otypes=[np.float64])(x, y),
    "xlog1py": lambda x, y: _vec(lambda a, b: 0.0 if a == 0 else a * math.log1p(b),
                                 otypes=[np.float64])(x, y),
    "copysign": lambda x, y: _vec(math.copysign, otypes=[np.float64])(x, y),
    "heaviside": lambda x, v: _vec(lambda a, b: b if a == 0 else float(a > 0),
                                   otypes=[np.float64])(x, v),
    "sign": _math(lambda v: float((v > 0) - (v < 0))), "floor": _math(math.floor),
    "ceil": _math(math.ceil), "round": _math(lambda v: float(round(v))),
    "getitem": lambda x, key: x[key], "index_scatter": _scatter_ref,
    "take_along": lambda x, index, dim: np.take_along_axis(x, index, axis=dim),
    "index_put": _put_ref,
    "matmul": lambda a, b: np.einsum("...ij,jk->...ik", a, b)
    if a.ndim >= 2 and b.ndim == 2 else np.matmul(a, b),
    "einsum": lambda *xs, equation: np.einsum(equation, *xs),
    "inv": np.linalg.inv, "det": np.linalg.det,
    "logabsdet": lambda a: np.log(np.abs(np.linalg.det(a))),
    "solve": lambda a, b: np.einsum("...ij,...jk->...ik", np.linalg.inv(a), b),
    "cholesky": np.linalg.cholesky,
    "sum": lambda x, dim, keepdim=False: np.add.reduce(x, axis=dim, keepdims=keepdim),
    "mean": lambda x, dim, keepdim=False: np.add.reduce(x, axis=dim, keepdims=keepdim)
    / np.prod([x.shape[d] for d in dim]),
    "prod": lambda x, dim, keepdim=False: np.multiply.reduce(x, axis=dim, keepdims=keepdim),
    "amax": lambda x, dim, keepdim=False: np.maximum.reduce(x, axis=dim, keepdims=keepdim),
    "amin": lambda x, dim, keepdim=False: np.minimum.reduce(x, axis=dim, keepdims=keepdim),
    "logsumexp": _lse_ref,
    "norm2": lambda x, dim, keepdim=False: np.sqrt(np.add.reduce(x ** 2, axis=dim,
                                                                 keepdims=keepdim)),
    "cumsum": lambda x, dim: np.add.accumulate(x, axis=dim),
    "cumprod": _cumprod_ref,
    "softmax": _softmax_ref,
    "log_softmax": lambda x, dim: np.log(_softmax_ref(x, dim)),
    "reshape": lambda x, shape: x.reshape(shape),
    "expand": lambda x, shape: x + np.zeros(shape),
    "permute": lambda x, dims: x.transpose(dims),
    "cat": lambda *xs, dim: np.concatenate(xs, axis=dim),
    "constant_pad": lambda x, widths, value=0.0: np.pad(
        x, [(0, 0)] * (x.ndim - len(widths)) + list(widths), constant_values=value),
    "flip": lambda x, dims: x[tuple(slice(None, None, -1) if d - x.ndim in dims else slice(None)
                                   for d in range(x.ndim))],
    "roll": lambda x, shifts, dims=None: np.roll(x, shifts, axis=dims),
    "tile": lambda x, reps: np.tile(x, reps),
    "clone": lambda x: x.copy(), "identity": lambda x: x,
    "cast": lambda x, dtype: x.astype(dtype),
}

NONDIFF_REFERENCE: dict[str, Callable[..., np.ndarray]] = {
    "lt": lambda x, y: x < y, "le": lambda x, y: x <= y, "gt": lambda x, y: x > y,
    "ge": lambda x, y: x >= y, "eq": lambda x, y: x == y, "ne": lambda x, y: x != y,
    "logical_not": lambda x: ~x.astype(bool),
    "logical_and": lambda x, y: x.astype(bool) & y.astype(bool),
    "logical_or": lambda x, y: x.astype(bool) | y.astype(bool),
    "logical_xor": lambda x, y: x.astype(bool) ^ y.astype(bool),
    "isnan": lambda x: x != x, "isinf": lambda x: np.abs(x) == np.inf,
    "isfinite": lambda x: (x == x) & (np.abs(x) != np.inf),
}


# --------------------------------------------------------------------------- completeness

def test_table_is_complete():
    names = [op.name for op in OPS]
    assert len(names) == len(set(names))
    for op in OPS:
        assert op.formula and all(op.formulas), f"{op.name}: no formula"
        assert op.sample is not None, f"{op.name}: no sample"
        if op.vjps is None:
            continue
        args = draw_args(op, _rng(op))
        if op.variadic:
            assert len(op.vjps) == 1 and op.vjps[0] is not None, op.name
        else:
            assert len(op.vjps) == len(args), f"{op.name}: {len(op.vjps)} VJPs, {len(args)} inputs"
            for i, a in enumerate(args):
                if _is_float(a):
                    assert op.vjps[i] is not None, f"{op.name}: no VJP for float input {i}"
                    assert op.formula_for(i), f"{op.name}: no formula for input {i}"


# The public API the op table must provide (PyTorch's names).
PUBLIC = """add sub mul div neg pow exp exp2 log log2 log1p expm1 sqrt rsqrt square reciprocal abs
sin cos tan asin acos atan atan2 sinh cosh tanh sigmoid logsigmoid relu relu6 leaky_relu elu selu
celu gelu silu mish softplus softsign hardtanh clamp maximum minimum where lerp sign floor ceil
round sum mean prod var std amax amin max min logsumexp norm cumsum cumprod matmul dot outer einsum
transpose permute swapaxes reshape view flatten unflatten squeeze unsqueeze expand broadcast_to cat
stack split chunk pad flip roll repeat tile movedim index_select gather take_along_dim scatter_add
masked_fill softmax log_softmax""".split()
# Those that are also ``torch.Tensor`` methods (checked against torch in test_torch_parity.py).
TENSOR_METHODS = """add sub mul div neg pow exp exp2 log log2 log1p expm1 sqrt rsqrt square
reciprocal abs sin cos tan asin acos atan atan2 sinh cosh tanh sigmoid relu clamp maximum minimum
where lerp sign floor ceil round sum mean prod var std amax amin max min logsumexp norm cumsum
cumprod matmul dot outer transpose permute swapaxes reshape view flatten unflatten squeeze
unsqueeze expand broadcast_to split chunk flip roll repeat tile movedim index_select gather
take_along_dim scatter_add masked_fill softmax log_softmax""".split()
LINALG = ["inv", "det", "slogdet", "solve", "cholesky"]


@pytest.mark.parametrize("name", PUBLIC)
def test_public_function_exists(name):
    assert callable(getattr(cr, name, None)), f"cr.{name} is missing"


@pytest.mark.parametrize("name", TENSOR_METHODS)
def test_tensor_method_exists(name):
    assert callable(getattr(cr.Tensor, name, None)), f"Tensor.{name} is missing"


@pytest.mark.parametrize("name", LINALG)
def test_linalg_function_exists(name):
    assert callable(getattr(cr.linalg, name, None)), f"cr.linalg.{name} is missing"


# --------------------------------------------------------------------------- the every-op test

@pytest.mark.parametrize("op", DIFF_OPS, ids=lambda op: op.name)
def test_forward(op):
    ref = REFERENCE.get(op.name)
    for case in cases(op):
        out = op(*[cr.tensor(a) if _is_float(a) else a for a in case.args], **case.params)
        assert isinstance(out, cr.Tensor), case
        expected_dtype = case.params.get("dtype", np.dtype(np.float64))
        assert out.dtype == expected_dtype, f"{case}: dtype {out.dtype}"
        assert np.all(np.isfinite(out.data)), f"{case}: not finite"
        if ref is not None:
            _close(out, ref(*case.args, **case.params), rtol=1e-12, atol=1e-13, what=repr(case))


@pytest.mark.parametrize("op", DIFF_OPS, ids=lambda op: op.name)
def test_vjp_against_central_differences(op):
    s = op.sample
    for case in cases(op):
        assert case.diff, f"{case}: nothing to differentiate"
        cr.gradcheck(case.fn(), case.tensors(), atol=s.atol, rtol=s.rtol)


@pytest.mark.parametrize("op", DIFF_OPS, ids=lambda op: op.name)
def test_second_order(op):
    s = op.sample
    if not s.second_order:
        pytest.skip(f"{op.name}: its sample declares no second derivative")
    for case in cases(op):
        cr.gradgradcheck(case.fn(), case.tensors(), atol=s.atol, rtol=s.rtol)


@pytest.mark.parametrize("op", DIFF_OPS, ids=lambda op: op.name)
def test_forward_mode_matches_reverse_mode(op):
    if not op.sample.jvp:
        pytest.skip(f"{op.name}: its sample turns the forward-mode check off")
    for k, case in enumerate(cases(op)):
        f, xs = case.fn(), case.tensors()
        total = None
        rng = _rng(op, 100 + k)
        tangents = [cr.tensor(rng.standard_normal(x.shape)) for x in xs]
        for j in range(len(xs)):
            fwd = cr.jacfwd(f, argnums=j)(*xs)
            rev = cr.jacrev(f, argnums=j)(*xs)
            _close(fwd, rev, what=f"{case}: jacfwd vs jacrev, input {j}")
            out_shape = rev.shape[:rev.ndim - xs[j].ndim]
            jt = (rev.data.reshape(int(np.prod(out_shape)), -1)
                  @ tangents[j].data.reshape(-1)).reshape(out_shape)
            total = jt if total is None else total + jt
        out, tout = cr.jvp(f, tuple(xs), tuple(tangents))
        _close(out, f(*xs).detach(), what=f"{case}: jvp primal out")
        _close(tout, total, what=f"{case}: jvp tangent vs J·t")


@pytest.mark.parametrize("op", DIFF_OPS, ids=lambda op: op.name)
def test_gradients_have_the_input_shape_and_dtype(op):
    for case in cases(op):
        for dtype in (np.float64, np.float32):
            if dtype == np.float32 and "dtype" in case.params:
                continue  # a cast's output dtype is its parameter
            xs = case.tensors(dtype)
            out = case.fn()(*xs)
            assert out.dtype == dtype, f"{case}: {np.dtype(dtype)} in, {out.dtype} out"
            g = cr.tensor(_rng(op, 7).standard_normal(out.shape).astype(dtype))
            grads = cr.autograd.grad([out], xs, [g], retain_graph=True, allow_unused=True)
            for x, gx in zip(xs, grads):
                assert gx is not None, f"{case}: no gradient"
                assert gx.shape == x.shape, f"{case}: gradient {gx.shape} for input {x.shape}"
                assert gx.dtype == dtype, f"{case}: {np.dtype(dtype)} input, {gx.dtype} gradient"
            out.backward(g)
            for x in xs:
                assert x.grad is not None and x.grad.shape == x.shape, case


# --------------------------------------------------------------------------- no gradient

@pytest.mark.parametrize("op", NONDIFF_OPS, ids=lambda op: op.name)
def test_comparison_forward_and_no_gradient(op):
    args = draw_args(op, _rng(op))
    ts = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in args]
    out = op(*ts)
    ref = NONDIFF_REFERENCE.get(op.name, op.forward)  # ops added later: at least run them
    expected = ref(*args)
    assert out.dtype == np.bool_
    np.testing.assert_array_equal(out.data, expected)
    assert not out.requires_grad and out.grad_fn is None
    floats = [t for t in ts if t.requires_grad]
    if floats:
        # a comparison used as a mask passes no gradient through itself
        x = floats[0]
        assert x.shape == out.shape
        cr.where(out, x * 2.0, x * 3.0).sum().backward()
        np.testing.assert_array_equal(x.grad.data, np.where(expected, 2.0, 3.0))


# --------------------------------------------------------------------------- hypothesis

BINARY = [op for op in DIFF_OPS if op.elementwise and op.sample.make is None
          and len(op.sample.shapes) == 2]


@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.name)
@SETTINGS
@given(data=st.data())
def test_binary_elementwise_broadcasting(op, data):
    shapes = data.draw(hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                         max_side=3), label="shapes")
    seed = data.draw(st.integers(0, 2 ** 16), label="seed")
    rng = np.random.default_rng(seed)
    s = op.sample
    xs_np = [rng.uniform(s.low, s.high, shape) for shape in shapes.input_shapes]
    xs = [cr.tensor(a, requires_grad=True) for a in xs_np]
    out = op(*xs)
    assert out.shape == shapes.result_shape
    _close(out, REFERENCE[op.name](*xs_np), rtol=1e-12, atol=1e-13, what=op.name)
    g = rng.standard_normal(out.shape)
    out.backward(cr.tensor(g))
    for x in xs:
        assert x.grad.shape == x.shape
    cr.gradcheck(lambda a, b: op(a, b), xs, atol=s.atol, rtol=s.rtol)


def _dims_strategy(ndim: int) -> st.SearchStrategy:
    """None, an int, or a tuple of distinct dims (positive or negative)."""
    single = st.integers(-ndim, ndim - 1)
    several = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True).map(
        lambda ds: tuple(d - ndim if k % 2 else d for k, d in enumerate(ds)))
    return st.one_of(st.none(), single, several)


_NP_REDUCE = {
    "sum": lambda x, d, k: np.sum(x, axis=d, keepdims=k),
    "mean": lambda x, d, k: np.mean(x, axis=d, keepdims=k),
    "var": lambda x, d, k: np.var(x, axis=d, keepdims=k, ddof=1),
    "std": lambda x, d, k: np.std(x, axis=d, keepdims=k, ddof=1),
    "amax": lambda x, d, k: np.max(x, axis=d, keepdims=k),
    "amin": lambda x, d, k: np.min(x, axis=d, keepdims=k),
    "logsumexp": lambda x, d, k: np.log(np.sum(np.exp(x), axis=d, keepdims=k)),
    "norm": lambda x, d, k: np.sqrt(np.sum(x * x, axis=d, keepdims=k)),
}


@pytest.mark.parametrize("name", list(_NP_REDUCE))
@SETTINGS
@given(data=st.data())
def test_reductions_over_random_dims(name, data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=3))
    dim = data.draw(_dims_strategy(len(shape)), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    alias = data.draw(st.booleans(), label="numpy aliases")
    x_np = np.random.default_rng(len(shape)).uniform(-2, 2, shape)
    x = cr.tensor(x_np, requires_grad=True)
    fn = getattr(cr, name)

    def f(t: cr.Tensor) -> cr.Tensor:
        if alias:
            return fn(t, axis=dim, keepdims=keepdim)
        return fn(t, dim=dim, keepdim=keepdim)

    out = f(x)
    _close(out, _NP_REDUCE[name](x_np, dim, keepdim), rtol=1e-12, what=f"{name}({dim})")
    cr.gradcheck(f, (x,))


@SETTINGS
@given(data=st.data())
def test_prod_and_scans_over_random_dims(data):
    shape = data.draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    dim = data.draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    keepdim = data.draw(st.booleans(), label="keepdim")
    rng = np.random.default_rng(sum(shape))
    x_np = rng.uniform(0.5, 1.5, shape) * rng.choice([-1.0, 1.0], shape)
    if data.draw(st.booleans(), label="zeros"):
        x_np[rng.random(shape) < 0.3] = 0.0  # products stay exact where inputs are 0
    x = cr.tensor(x_np, requires_grad=True)
    _close(cr.prod(x, dim, keepdim=keepdim), np.prod(x_np, axis=dim, keepdims=keepdim))
    _close(cr.cumsum(x, dim), np.cumsum(x_np, axis=dim))
    _close(cr.cumprod(x, dim), np.cumprod(x_np, axis=dim))
    cr.gradcheck(lambda t: cr.prod(t, dim, keepdim=keepdim), (x,))
    cr.gradcheck(lambda t: cr.cumprod(t, dim), (x,))
    cr.gradcheck(lambda t: cr.cumsum(t, dim), (x,))


# --------------------------------------------------------------------------- conventions

def test_zero_gradient_ops_are_documented_and_zero():
    x = cr.tensor(np.linspace(-2.3, 2.3, 7), requires_grad=True)
    for name in ("sign", "floor", "ceil", "round"):
        op = next(o for o in OPS if o.name == name)
        assert "= 0" in op.formula, name
        (g,) = cr.autograd.grad(getattr(cr, name)(x).sum(), x)
        np.testing.assert_array_equal(g.data, np.zeros(7))


def test_softmax_is_finite_for_huge_logits():
    x = cr.tensor(np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]]),
                  requires_grad=True)
    for fn in (cr.softmax, cr.log_softmax):
        for dim in (0, 1):
            out = fn(x, dim)
            assert np.all(np.isfinite(out.data)), (fn, dim)
            (g,) = cr.autograd.grad(out, x, cr.tensor(np.arange(9.0).reshape(3, 3)))
            assert np.all(np.isfinite(g.data)), (fn, dim)
    _close(cr.softmax(x, 1)[0], np.array([1.0, 0.0, 0.0]))
    _close(cr.log_softmax(x, 1)[2], np.array([-math.log(2), -math.log(2), -2e4 - math.log(2)]))


def test_tie_gradients():
    # NOTE(convention): amax/amin and the full max()/min() share a tie's gradient equally;
    # max(x, dim)/min(x, dim) give it to the returned index (the first); maximum/minimum of two
    # equal values give each half.
    x = cr.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]]), requires_grad=True)
    (g,) = cr.autograd.grad(cr.amax(x, 1).sum(), x)
    _close(g, np.array([[0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]]))
    (g,) = cr.autograd.grad(cr.max(x), x)
    _close(g, np.array([[0, 0.5, 0.5], [0, 0, 0]]))
    values, indices = cr.max(x, 1)
    np.testing.assert_array_equal(indices.data, [1, 0])
    (g,) = cr.autograd.grad(values.sum(), x)
    _close(g, np.array([[0, 1.0, 0], [1.0, 0, 0]]))
    values, indices = cr.min(x, dim=1, keepdim=True)
    assert values.shape == (2, 1) and indices.shape == (2, 1)
    (g,) = cr.autograd.grad(values.sum(), x)
    _close(g, np.array([[1.0, 0, 0], [1.0, 0, 0]]))
    a = cr.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    b = cr.tensor(np.array([1.0, 1.0, 4.0]), requires_grad=True)
    ga, gb = cr.autograd.grad(cr.maximum(a, b).sum(), [a, b])
    _close(ga, [0.5, 1.0, 0.0])
    _close(gb, [0.5, 0.0, 1.0])
    ga, gb = cr.autograd.grad(cr.minimum(a, b).sum(), [a, b])
    _close(ga, [0.5, 0.0, 1.0])
    _close(gb, [0.5, 1.0, 0.0])


def test_repeated_indices_accumulate():
    x = cr.tensor(np.arange(4.0), requires_grad=True)
    x[np.array([0, 0, 3, 0])].sum().backward()
    _close(x.grad, [3.0, 0.0, 0.0, 1.0])
    y = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    (g,) = cr.autograd.grad(cr.index_select(y, 1, cr.tensor([2, 2, 0])).sum(), y)
    _close(g, [[1.0, 0.0, 2.0], [1.0, 0.0, 2.0]])


# --------------------------------------------------------------------------- shapes of matmul

def _check_all_modes(f: Callable[..., cr.Tensor], xs: list[cr.Tensor],
                     second_order: bool = False) -> None:
    """gradcheck, optionally gradgradcheck, and jacfwd == jacrev for every input."""
    cr.gradcheck(f, xs)
    if second_order:
        cr.gradgradcheck(f, xs)
    for j in range(len(xs)):
        _close(cr.jacfwd(f, argnums=j)(*xs), cr.jacrev(f, argnums=j)(*xs),
               what=f"jacfwd vs jacrev, input {j}")


@st.composite
def _matmul_shapes(draw: Any) -> tuple[tuple, tuple]:
    m, k, n = (draw(st.integers(1, 3)) for _ in range(3))
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=2))
    ba, bb = batch.input_shapes
    a = (k,) if draw(st.booleans()) else ba + (m, k)
    b = (k,) if draw(st.booleans()) else bb + (k, n)
    return a, b


@SETTINGS
@given(shapes=_matmul_shapes())
def test_matmul_1d_2d_batched_broadcast(shapes):
    rng = np.random.default_rng(sum(shapes[0]) * 7 + sum(shapes[1]))
    a_np, b_np = (rng.standard_normal(s) for s in shapes)
    a, b = (cr.tensor(v, requires_grad=True) for v in (a_np, b_np))
    _close(cr.matmul(a, b), np.matmul(a_np, b_np), what=f"matmul {shapes}")
    _check_all_modes(cr.matmul, [a, b])


EINSUMS = [("ij,jk->ik", [(2, 3), (3, 4)]), ("ij,jk", [(2, 3), (3, 4)]),
           ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]), ("i,i->", [(3,), (3,)]),
           ("ij->ji", [(2, 3)]), ("ij->", [(2, 3)]), ("ij->j", [(2, 3)]),
           ("...ij,...jk->...ik", [(2, 2, 3), (3, 2)]), ("ij,ij->i", [(2, 3), (2, 3)]),
           ("i,j->ij", [(2,), (3,)]), ("bhqd,bhkd->bhqk", [(1, 2, 2, 3), (1, 2, 3, 3)]),
           ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
           # a subscript repeated within an operand: its diagonal (the trace, for 'ii')
           ("ii", [(3, 3)]), ("ii->i", [(3, 3)]), ("iij->j", [(3, 3, 2)]),
           ("...ii->...i", [(2, 3, 3)]), ("bii,bj->bij", [(2, 3, 3), (2, 4)]),
           ("iijj->", [(2, 2, 3, 3)]), ("ij,jj->i", [(2, 3), (3, 3)]), ("i...i", [(3, 2, 3)])]


@pytest.mark.parametrize("equation,shapes", EINSUMS, ids=[e for e, _ in EINSUMS])
def test_einsum_equations(equation, shapes):
    rng = np.random.default_rng(len(equation))
    arrays = [rng.standard_normal(s) for s in shapes]
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    _close(cr.einsum(equation, *xs), np.einsum(equation, *arrays), what=equation)

    def f(*ts: cr.Tensor) -> cr.Tensor:
        return cr.einsum(equation, *ts)

    _check_all_modes(f, xs, second_order=True)


@pytest.mark.parametrize("equation,shapes", [e for e in EINSUMS if "ii" in e[0] or "jj" in e[0]
                                             or "i...i" in e[0]], ids=str)
def test_einsum_repeated_subscripts_as_pytorch(equation, shapes):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = cr.einsum(equation, *ours), torch.einsum(equation, *theirs)
    assert out.shape == tuple(expected.shape)
    weights = rng.standard_normal(out.shape)
    (out * cr.tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), rtol=1e-12)
    for x, y in zip(ours, theirs):
        np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-12)


def test_einsum_repeated_subscript_of_unequal_sizes_is_an_error():
    with pytest.raises(cr.OpError, match=r"subscript i is repeated .* shape \(3, 2\).*3 != 2"):
        cr.einsum("ii", cr.ones(3, 2))


# --------------------------------------------------------------------------- x[key]

KEYS = {
    "int": (1,), "negative int": (-1, 2), "slice": (slice(1, 3),),
    "step": (slice(None, None, 2), slice(3, 0, -1)), "ellipsis": (Ellipsis, 1),
    "newaxis": (None, slice(0, 2), None), "int array repeats": (np.array([0, 2, 0, 0]),),
    "two arrays": (np.array([0, 1, 1]), slice(None), np.array([1, 0, 1])),
    "array after slice": (slice(None), np.array([[3, 3], [0, 1]])),
    "bool mask": (np.array([True, False, True]),),
    "bool mask 2d": (np.array([[True, False, True, False], [False, False, True, True],
                               [True, True, False, False]]),),
    "mask and int": (np.array([True, False, True]), 2),
}


@pytest.mark.parametrize("key", list(KEYS.values()), ids=list(KEYS))
def test_getitem_keys(key):
    x_np = np.random.default_rng(3).standard_normal((3, 4, 2))
    x = cr.tensor(x_np, requires_grad=True)
    _close(x[key], x_np[key], what=str(key))
    _check_all_modes(lambda t: t[key], [x], second_order=True)
    # repeated indices accumulate
    g = np.random.default_rng(4).standard_normal(x_np[key].shape)
    x[key].backward(cr.tensor(g))
    expected = np.zeros_like(x_np)
    np.add.at(expected, key, g)
    _close(x.grad, expected)


# --------------------------------------------------------------------------- forward over reverse

@pytest.mark.parametrize("op", [op for op in DIFF_OPS if op.sample.second_order],
                         ids=lambda op: op.name)
def test_forward_over_reverse(op):
    """jacfwd(jacrev(f)) == jacrev(jacrev(f)): every JVP rule, run on the ops that the VJP rules
    record under create_graph=True (this is how cr.hessian works)."""
    for k, case in enumerate(cases(op)):
        f, xs = case.fn(), case.tensors()
        w = cr.tensor(_rng(op, 200 + k).standard_normal(f(*xs).shape))

        def scalar(*a: cr.Tensor, f: Callable = f, w: cr.Tensor = w) -> cr.Tensor:
            return (f(*a) * w).sum()

        for j in range(len(xs)):
            fwd = cr.jacfwd(cr.jacrev(scalar, argnums=j), argnums=j)(*xs)
            rev = cr.jacrev(cr.jacrev(scalar, argnums=j), argnums=j)(*xs)
            _close(fwd, rev, rtol=1e-9, atol=1e-10, what=f"{case}: hessian, input {j}")


def test_comparisons_carry_no_tangent_into_where():
    x = cr.tensor(np.array([-1.0, 0.5, 2.0]))
    out, t = cr.jvp(lambda a: cr.where(a > 0, a * 3.0, a), (x,), (cr.ones(3, dtype=cr.float64),))
    _close(t, [1.0, 3.0, 3.0])
    _close(cr.hessian(lambda a: (cr.relu(a) ** 3).sum())(x), np.diag([0.0, 3.0, 12.0]))


# --------------------------------------------------------------------------- NumPy on tensors

A34 = np.random.default_rng(11).uniform(0.5, 2.0, (3, 4))
A4 = np.random.default_rng(12).uniform(-1.0, 1.0, (4,))
A234 = np.random.default_rng(13).uniform(-1.0, 1.0, (2, 3, 4))
SQ = np.random.default_rng(14).standard_normal((3, 3)) + 3 * np.eye(3)

# The rules call NumPy; on tensors (create_graph=True) each call must mean what NumPy means.
NUMPY_CALLS: list[tuple[str, Callable[..., Any], tuple]] = [
    ("exp", np.exp, (A34,)), ("log", np.log, (A34,)), ("power", np.power, (A34, A4)),
    ("power scalar base", lambda x: np.power(2.0, x), (A4,)),
    ("maximum", np.maximum, (A34, A4)), ("where", lambda x, y: np.where(x > 1, x, y), (A34, A4)),
    ("sum", lambda x: np.sum(x, axis=0, keepdims=True), (A34,)),
    ("mean", lambda x: np.mean(x, axis=(0, 1)), (A234,)),
    ("var", np.var, (A34,)), ("var ddof", lambda x: np.var(x, axis=1, ddof=1), (A34,)),
    ("std", lambda x: np.std(x, axis=0, keepdims=True), (A34,)),
    ("prod", lambda x: np.prod(x, axis=1), (A34,)),
    ("prod axes", lambda x: np.prod(x, axis=(0, 2)), (A234,)),
    ("max", lambda x: np.max(x, axis=1), (A34,)), ("min", np.min, (A34,)),
    ("reshape", lambda x: np.reshape(x, (4, 3)), (A34,)),
    ("transpose", np.transpose, (A234,)),
    ("transpose axes", lambda x: np.transpose(x, (1, 2, 0)), (A234,)),
    ("swapaxes", lambda x: np.swapaxes(x, 0, -1), (A234,)),
    ("moveaxis", lambda x: np.moveaxis(x, 0, -1), (A234,)),
    ("expand_dims", lambda x: np.expand_dims(x, (-1, -2)), (A4,)),
    ("expand_dims mixed", lambda x: np.expand_dims(x, (0, -1)), (A34,)),
    ("squeeze", lambda x: np.squeeze(np.expand_dims(x, 1)), (A34,)),
    ("broadcast_to", lambda x: np.broadcast_to(x, (2, 3, 4)), (A4,)),
    ("concatenate", lambda x, y: np.concatenate([x, y[None]], axis=0), (A34, A4)),
    ("stack", lambda x, y: np.stack([x, y], axis=1), (A34, A34 * 2)),
    ("flip", lambda x: np.flip(x, 1), (A34,)), ("flip all", np.flip, (A34,)),
    ("roll", lambda x: np.roll(x, 2, 1), (A34,)), ("roll flat", lambda x: np.roll(x, 5), (A34,)),
    ("tile", lambda x: np.tile(x, (2, 1)), (A34,)), ("tile int", lambda x: np.tile(x, 2), (A4,)),
    ("cumsum", lambda x: np.cumsum(x, axis=0), (A34,)), ("cumsum flat", np.cumsum, (A34,)),
    ("cumprod", lambda x: np.cumprod(x, axis=1), (A34,)),
    ("einsum", lambda x, y: np.einsum("ij,j->i", x, y), (A34, A4)),
    ("dot 2-D", np.dot, (A34, A4)), ("dot scalar", lambda x: np.dot(x, 2.0), (A34,)),
    ("dot N-D", np.dot, (A234, A34.T)), ("outer", np.outer, (A4, A34[0])),
    ("matmul", np.matmul, (A34, A34.T)), ("clip", lambda x: np.clip(x, 0.7, 1.5), (A34,)),
    ("pad", lambda x: np.pad(x, ((1, 0), (0, 2))), (A34,)),
    ("take_along_axis", lambda x: np.take_along_axis(x, np.array([[0, 3], [1, 1], [2, 0]]), 1),
     (A34,)),
    ("tril", lambda x: np.tril(x, -1), (A34,)), ("triu", np.triu, (A34,)),
    ("inv", np.linalg.inv, (SQ,)), ("det", np.linalg.det, (SQ,)),
]


@pytest.mark.parametrize("fn,args", [c[1:] for c in NUMPY_CALLS], ids=[c[0] for c in NUMPY_CALLS])
def test_numpy_functions_on_tensors_mean_what_numpy_means(fn, args):
    xs = [cr.tensor(a, requires_grad=True) for a in args]
    out = fn(*xs)
    assert isinstance(out, cr.Tensor), type(out)
    _close(out, fn(*args), what="NumPy on tensors vs NumPy on arrays")
    assert out.requires_grad
    cr.gradcheck(fn, xs)


def test_jvp_by_transposing_the_vjp_keeps_the_graph():
    """An op with no JVP rule (a custom op) gets its JVP from its VJP; that must neither free
    the primal's history nor disagree with reverse mode."""
    @cr.custom_op(formula="d/dx x³ = 3x²")
    def cube(x: np.ndarray) -> np.ndarray:
        return x ** 3

    @cube.defvjp
    def _(g: Any, ans: Any, x: Any) -> Any:
        return g * 3 * x * x

    x = cr.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)

    def f(a: cr.Tensor) -> cr.Tensor:
        return cube(cr.sin(a)) * 2

    _close(cr.jacfwd(f)(x), cr.jacrev(f)(x))
    _close(cr.hessian(lambda a: cube(a).sum())(x), np.diag(6 * x.data))
    y = x * 1.0
    _, t = cr.jvp(cube, (y,), (cr.ones(3, dtype=cr.float64),))
    _close(t, 3 * x.data ** 2)
    (y * 2).sum().backward()  # y's history is still there
    _close(x.grad, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("name", ["prod", "cumprod"])
def test_products_with_zeros_all_modes(name):
    x_np = np.array([[0.5, 0.0, 2.0, 1.5], [0.0, 1.2, 0.0, 3.0], [1.1, -0.7, 0.9, 0.0]])
    fn = getattr(cr, name)
    for dim in (0, 1, -1):
        _check_all_modes(lambda t, d=dim: fn(t, d), [cr.tensor(x_np, requires_grad=True)],
                         second_order=True)


def test_scatter_add_with_src_larger_than_index():
    # (PyTorch's own backward fails here, so this is checked against NumPy, not torch)
    x_np, src_np = A34.copy(), np.random.default_rng(5).standard_normal((3, 3))
    idx = np.array([[0, 0], [3, 1], [2, 2]])
    expected = x_np.copy()
    for i in range(3):
        for j in range(2):
            expected[i, idx[i, j]] += src_np[i, j]
    x, src = cr.tensor(x_np, requires_grad=True), cr.tensor(src_np, requires_grad=True)
    _close(cr.scatter_add(x, 1, cr.tensor(idx), src), expected)
    _check_all_modes(lambda a, s: cr.scatter_add(a, 1, cr.tensor(idx), s), [x, src],
                     second_order=True)


@pytest.mark.parametrize("case", ["C order", "channels-inner view", "F order", "odd size",
                                  "strided", "reversed", "float64", "float16", "small"])
def test_relu_forward_by_rows_is_bit_identical_to_maximum(case: str) -> None:
    """relu's forward runs large arrays as rows against a row of zeros (ops/elementwise.py,
    _relu_forward): the same bits as np.maximum(0, x), NaN and -0.0 included (relu(-0.0) is
    -0.0, as PyTorch's), in x's layout; strided and reversed arrays take NumPy's own loop."""
    from chainrule.ops.elementwise import _RELU_ROWS_FROM, _relu_forward

    rng = np.random.default_rng(5)
    x = rng.standard_normal((64, 32, 13, 13)).astype(np.float32)
    x.ravel()[:6] = [-0.0, 0.0, np.nan, -np.nan, np.inf, -np.inf]
    x = {"C order": x, "channels-inner view": np.ascontiguousarray(x.transpose(2, 3, 0, 1))
         .transpose(2, 3, 0, 1), "F order": np.asfortranarray(x), "odd size": x.ravel()[:50_001],
         "strided": x[:, :, ::2], "reversed": x[::-1], "float64": x.astype(np.float64),
         "float16": x.astype(np.float16), "small": x.ravel()[:100]}[case]
    assert case == "small" or x.size >= _RELU_ROWS_FROM
    got, want = _relu_forward(x), np.maximum(0, x)
    assert got.dtype == want.dtype and got.strides == want.strides
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    t = cr.tensor(x, requires_grad=True)
    cr.relu(t).sum().backward()
    assert np.array_equal(t.grad.numpy(), (want != 0).astype(x.dtype))  # (1 at NaN, as torch)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_sigmoid_forward_without_where_is_the_two_branch_formula(dtype: Any) -> None:
    """σ's forward computes max(e, [x ≥ 0]) / (1 + e), e = exp(-|x|) (ops/elementwise.py):
    to the bit the stable two-branch form, tails, NaN, ±inf and -0.0 included."""
    from chainrule.ops.elementwise import _sigmoid_forward

    rng = np.random.default_rng(9)
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45, -1e-45, 88.0, -88.0, -104.0, 17.0]
    x = np.concatenate([np.array(special), rng.standard_normal(5000) * 8]).astype(dtype)
    e = np.exp(-np.abs(x))
    want = np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(dtype)
    got = _sigmoid_forward(x)
    assert got.dtype == dtype
    assert np.array_equal(got, want, equal_nan=True)
    assert np.array_equal(np.signbit(got), np.signbit(want))
    for i in (1, 2, 7, 8, 20):  # a NumPy scalar as the array's element
        assert np.array_equal(_sigmoid_forward(x[i]), got[i], equal_nan=True)


@pytest.mark.parametrize("slope", [0.01, 0.2, 1.0, 0.0, 1.5, -0.1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_leaky_relu_without_where_is_the_branch_formula(slope: float, dtype: Any) -> None:
    """leaky_relu's forward is max(x, αx) and its rule g·max([x > 0], α) for 0 ≤ α ≤ 1
    (ops/elementwise.py): to the bit np.where's branches, NaN, ±inf and -0.0 included; other
    slopes take np.where itself."""
    from chainrule.ops.elementwise import _leaky_relu_forward, _leaky_relu_vjp

    rng = np.random.default_rng(4)
    special = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-45, -1e-45, 3.0, -3.0]
    x = np.concatenate([np.array(special), rng.standard_normal(4000)]).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    with np.errstate(invalid="ignore"):  # (inf·0 with α = 0: NaN, in both forms)
        pairs = [(_leaky_relu_forward(x, slope), np.where(x > 0, x, x * slope)),
                 (_leaky_relu_vjp(g, None, x, slope), np.where(x > 0, g, g * slope))]
    for got, want in pairs:
        assert got.dtype == want.dtype
        assert np.array_equal(got, want, equal_nan=True)
        assert np.array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("shape", [(), (3,), (16, 2), (64, 64), (70, 70)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_reduction_gradients_fill_the_input_shape(shape: tuple, dtype: Any) -> None:
    """The gradient of sum()/mean() over everything: a filled array up to 4096 elements (a
    fresh one, kept as the leaf's grad), a read-only stride-0 view above (no full-size
    write); either way the leaf's .grad is its own writable array, right in every element."""
    from chainrule.ops.reductions import _FILL_MAX

    n = math.prod(shape)
    x = cr.tensor(np.ones(shape, dtype), requires_grad=True)
    y = cr.tensor(np.ones(shape, dtype), requires_grad=True)
    (x.sum() * 3 + y.mean()).backward()
    for leaf, value in ((x, 3.0), (y, np.divide(np.asarray(1.0, dtype), n, dtype=dtype))):
        assert leaf.grad.dtype == dtype and leaf.grad.shape == shape
        assert np.all(leaf.grad.numpy() == value)
        assert leaf.grad.numpy().flags.writeable
    rule = cr.ops.reductions.sum.vjps[0]
    g = rule(np.asarray(2.0, dtype), None, x.numpy(), tuple(range(-len(shape), 0)), False)
    assert g.shape == shape and np.all(g == 2.0)
    assert g.flags.writeable == (n <= _FILL_MAX)
    x.grad.numpy()[...] = 0  # the grad is the leaf's own: a second backward starts from it
    x.sum().backward()
    assert np.all(x.grad.numpy() == 1.0)
