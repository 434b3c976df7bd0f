"""Values and first derivatives at NaN, ±inf, ±0, huge and tiny inputs, against PyTorch.

People debugging a network whose gradients turn NaN compare with PyTorch, so at the edges of
the number line chainrule gives what PyTorch gives: every op-table entry that names a PyTorch
function (elementwise: each special value, and each pair of them for binary ops; reductions
and softmaxes: rows that hold one special value among ordinary ones), and the
``nn.functional`` activations that are not op-table entries. Values are compared NaN-aware and
with the sign of zero; gradients (for an upstream gradient of ones) NaN-aware. PyTorch runs
elementwise cases one element at a time: its vectorised CPU kernels disagree with its scalar
ones (its derivative formulas as written) at NaN for some activations, so that its answer for
an element depends on the tensor's length; chainrule follows the formulas (see
``_torch_results``).

Where chainrule keeps a different value on purpose (the true limit, where PyTorch's is an
artefact of its formula) the case is listed in ``ALLOWED`` with the reason, and the test
checks that the difference is still exactly the documented one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F
from chainrule.ops.registry import ALL_OPS, Op, all_ops

torch = pytest.importorskip("torch")

NAN, INF = float("nan"), float("inf")
# (huge and tiny: the largest decade and the smallest subnormal of each dtype)
SPECIALS = {
    np.float64: [NAN, INF, -INF, 0.0, -0.0, 1e300, -1e300, 5e-324, -5e-324],
    np.float32: [NAN, INF, -INF, 0.0, -0.0, 3e38, -3e38, 1e-45, -1e-45],
}
# ordinary values to pair the special ones with (binary ops, rows of reductions)
ORDINARY = [1.5, -0.5]
# and, for one-input ops, corners (hardswish, hardtanh's ±1, ±3, ±6) and tails (where a slope
# computed from the output cancels: elu's in float32 at -20, erfcx's at 100)
UNARY_MORE = [-1.0, 1.0, -3.0, 3.0, -6.0, 6.0, -20.0, 20.0, 100.0, -100.0, 1e4]
TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}
DTYPES = [np.float64, np.float32]

# Op-table entries not swept here, and why.
NOT_SWEPT = {
    "where": "selects between its inputs: no arithmetic of its own",
    "lerp": "three inputs; tested at kinks in test_torch_parity.py",
    "binary_cross_entropy": "a loss with a domain of [0, 1]; tested in test_losses.py",
}


# PyTorch functions standing in for an op whose own "torch" name differs in a detail:
# norm2 is std's 2-norm, which PyTorch's std accumulates in float64 for float32 (finite at
# 3e38), as chainrule's does; torch.linalg.vector_norm alone would overflow to inf there.
STAND_IN: dict[str, Callable] = {
    "norm2": lambda x, dim, keepdim=False: torch.linalg.vector_norm(
        x.double(), dim=dim, keepdim=keepdim).to(x.dtype),
}


def _resolve(name: str) -> Callable:
    obj: Any = torch
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


# --------------------------------------------------------------------------- allowed

@dataclass
class Allowed:
    """A documented difference: in ``part`` ("value", or "gradient" of input ``input``), at
    the elements whose inputs ``where`` selects, chainrule keeps its own result, for
    ``reason``."""

    part: str
    where: Callable[..., np.ndarray]
    reason: str
    dtype: Any = None  # None: both dtypes
    input: int = 0


def _any(*xs: np.ndarray) -> np.ndarray:
    return np.ones(np.broadcast_shapes(*(x.shape for x in xs)), dtype=bool)


_GELU_TANH_TAIL = Allowed(
    "value", lambda x: np.isfinite(x) & (x <= -3) & (x > -50),
    "the tanh form ½x(1 + tanh z) cancels in PyTorch for x ≲ -2 (1e-5 off in float32 at -3, 0 "
    "for 3e-261 at -20); chainrule's x·σ(2z) is exact (test_gelu_tanh_and_slopes_exact_in_the_"
    "tails)")

ALLOWED: dict[str, list[Allowed]] = {
    "softsign": [Allowed("gradient", lambda x: np.isinf(x),
                         "1/(1+|x|)² is 0 at ±inf, its limit; PyTorch's formula gives inf/inf")],
    "copysign": [Allowed("gradient", lambda x, y: np.isinf(x),
                         "∂/∂x is ±1 at x = ±inf (the sign change); PyTorch divides inf by inf")],
    "i1": [Allowed("gradient", lambda x: np.isnan(x),
                   "PyTorch's gradient at NaN is 0.5 (a number from a NaN); chainrule's NaN")],
    "i1e": [Allowed("gradient", lambda x: np.isnan(x),
                    "PyTorch's gradient at NaN is 0.5 (a number from a NaN); chainrule's NaN")],
    "hardsigmoid": [Allowed("gradient", lambda x: np.abs(x) < 3,
                            "PyTorch's float64 gradient is float32(1/6), 3e-8 off", np.float64)],
    "hardswish": [Allowed("value", lambda x: np.abs(x) > 1e37,
                          "PyTorch's float32 x·(x+3)/6 overflows to inf near 3e38; the true "
                          "value (chainrule's) is x", np.float32)],
    # (the op table's "gelu" sweeps both forms; the activations' list names them apart)
    "gelu": [_GELU_TANH_TAIL], "gelu tanh": [_GELU_TANH_TAIL],
    "erfcx": [Allowed("gradient", lambda x: x > 1e30,
                      "0 at +inf, its limit (and the true -6e-78 rounded to -0.0 at 3e38); "
                      "PyTorch's 2x·erfcx(x) - 2/√π gives NaN or inf there")],
    "cumprod": [
        Allowed("gradient", _any,
                "chainrule's gradient is the exact Σ_j Π_{k≤j, k≠i} x_k wherever an x is 0, "
                "±inf, NaN; PyTorch's divides y_j by x_i (1.0, not 0.75, at x_i = 5e-324, "
                "NaN at inf) or gives 0 where a NaN is in the product"),
        Allowed("value", _any, "PyTorch accumulates float32 products in float64: "
                "1.5·3e38·-0.5 is -2.25e38 there, -inf in float32 (chainrule, NumPy)",
                np.float32)],
}
# Ops whose zero's sign PyTorch itself does not fix: max(0.0, -0.0) is 0.0 from its scalar
# kernel and -0.0 from its vectorised one (as NumPy), so either sign matches PyTorch.
ZERO_SIGN_VARIES = {"maximum", "minimum", "fmax", "fmin"}


def _allowances(name: str, dtype: Any) -> list[Allowed]:
    return [a for a in ALLOWED.get(name, []) if a.dtype in (None, dtype)]


# --------------------------------------------------------------------------- comparing

def _differences(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float,
                 zero_sign: bool) -> np.ndarray:
    """Where the two differ: NaN masks, infinities, finite values beyond ``rtol``/``atol``
    and (``zero_sign``) the sign of zeros."""
    assert actual.shape == expected.shape, f"shape {actual.shape}, torch {expected.shape}"
    bad = np.isnan(actual) != np.isnan(expected)
    both = ~np.isnan(actual) & ~np.isnan(expected)
    inf = both & (np.isinf(actual) | np.isinf(expected))
    bad |= inf & (actual != expected)
    finite = both & ~inf
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        bad |= finite & (np.abs(a - e) > rtol * np.abs(e) + atol)
    if zero_sign:
        bad |= both & (a == 0) & (e == 0) & (np.signbit(a) != np.signbit(e))
    return bad


def _report(what: str, bad: np.ndarray, actual: np.ndarray, expected: np.ndarray) -> str:
    return (f"{what}: differs from torch at {np.argwhere(bad).tolist()}:\n"
            f"  chainrule {actual[bad].tolist()}\n  torch     {expected[bad].tolist()}")


def _torch_results(torch_fn: Callable, arrays: list[np.ndarray], dtype: Any,
                   per_element: bool) -> tuple[np.ndarray, list[np.ndarray] | None]:
    """PyTorch's values and input gradients (upstream gradient ones).

    ``per_element``: one call per element, each on 1-element tensors. PyTorch's CPU kernels
    take a vectorised path over whole SIMD registers and a scalar path for the rest, and the
    two disagree at NaN for some activations (relu6, hardtanh, elu, hardswish, hardshrink, ...:
    the vectorised backward gives 0 or NaN where the scalar one, PyTorch's derivative formula
    as written, passes the gradient), so which one an element gets depends on the tensor's
    length and the CPU. chainrule follows the formula; 1-element tensors always take it."""
    if per_element:
        parts = [_torch_results(torch_fn, [a[i:i + 1] for a in arrays], dtype, False)
                 for i in range(arrays[0].size)]
        grads = None if parts[0][1] is None else [
            np.concatenate([p[1][k] for p in parts]) for k in range(len(arrays))]  # type: ignore
        return np.concatenate([p[0] for p in parts]), grads
    ts = [torch.tensor(a, dtype=TORCH_DTYPE[dtype], requires_grad=True) for a in arrays]
    out = torch_fn(*ts)
    if not (out.dtype.is_floating_point and out.requires_grad):
        return out.detach().numpy(), None
    grads = torch.autograd.grad([out], ts, [torch.ones_like(out)], allow_unused=True)
    return out.detach().numpy(), [np.zeros_like(a) if g is None or g._is_zerotensor()
                                  else g.numpy()
                                  for a, g in zip(arrays, grads)]


def _compare_part(part: str, actual: np.ndarray, expected: np.ndarray, arrays: list,
                  dtype: Any, allowed: list[Allowed], zero_sign: bool, label: str,
                  used: set[int]) -> list[str]:
    """The differences in one part that no allowance covers; the allowances that cover one go
    into ``used``."""
    # values: subnormal results may flush to 0; gradients: to the dtype's tolerance (float32
    # rounding noise of a true 0, such as softmax's gradient against a constant sum)
    atol = np.finfo(dtype).tiny if part == "value" else TOL[dtype]
    bad = _differences(actual, expected, TOL[dtype], atol, zero_sign)
    problems: list[str] = []
    for a in allowed:
        excused = np.broadcast_to(a.where(*arrays), bad.shape)
        if (bad & excused).any():
            used.add(id(a))
        bad = bad & ~excused
    if bad.any():
        problems.append(_report(f"{label} {part}", bad, actual, expected))
    return problems


def _run(cr_fn: Callable, torch_fn: Callable, arrays: list[np.ndarray], dtype: Any,
         label: str, name: str, used: set[int], per_element: bool = True) -> list[str]:
    """Both libraries on the same inputs, upstream gradient ones; the differences found."""
    allowed = _allowances(name, dtype)
    xs = [cr.tensor(a, requires_grad=True) for a in arrays]
    with np.errstate(all="ignore"):
        out = cr_fn(*xs)
    t_value, t_grads = _torch_results(torch_fn, arrays, dtype, per_element)
    if out.dtype != t_value.dtype:
        return [f"{label}: dtype {out.dtype}, torch {t_value.dtype}"]
    problems = _compare_part("value", out.data, t_value, arrays, dtype,
                             [a for a in allowed if a.part == "value"],
                             name not in ZERO_SIGN_VARIES, label, used)
    if t_grads is not None:
        with np.errstate(all="ignore"):
            grads = cr.autograd.grad([out], xs, [cr.ones_like(out)], allow_unused=True)
        for k, (g, tgv) in enumerate(zip(grads, t_grads)):
            gv = np.zeros_like(arrays[k]) if g is None else g.data
            problems += _compare_part("gradient", gv, tgv, arrays, dtype,
                                      [a for a in allowed if a.part == "gradient"
                                       and a.input == k], False, f"{label} (input {k})",
                                      used)
    return problems


def _check(cr_fn: Callable, torch_fn: Callable, arrays: list[np.ndarray], dtype: Any,
           label: str, name: str, used: set[int] | None = None,
           per_element: bool = True) -> None:
    """Assert no difference beyond ALLOWED. Without ``used`` (one call per case), also that
    each allowance for ``name`` is still needed; with it, the caller checks that after its
    cases (``_no_stale``)."""
    seen: set[int] = set() if used is None else used
    problems = _run(cr_fn, torch_fn, arrays, dtype, label, name, seen, per_element)
    assert not problems, "\n".join(problems)
    if used is None:
        _no_stale(name, dtype, seen)


def _no_stale(name: str, dtype: Any, used: set[int]) -> None:
    stale = [a.reason for a in _allowances(name, dtype) if id(a) not in used]
    assert not stale, f"{name}: ALLOWED but equal to torch now: {stale}"


# --------------------------------------------------------------------------- inputs

def _unary_input(dtype: Any) -> np.ndarray:
    return np.array(SPECIALS[dtype] + ORDINARY + UNARY_MORE, dtype=dtype)


def _pairs(dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of (special or ordinary) values, as two flat arrays."""
    v = np.array(SPECIALS[dtype] + ORDINARY, dtype=dtype)
    x, y = np.meshgrid(v, v, indexing="ij")
    return x.ravel(), y.ravel()


def _rows(dtype: Any) -> np.ndarray:
    """One special value among ordinary ones per row, and rows of two infinities."""
    rows = [[ORDINARY[0], s, ORDINARY[1]] for s in SPECIALS[dtype]]
    rows += [[INF, INF, 1.0], [-INF, -INF, 1.0], [INF, -INF, 1.0], [NAN, INF, 1.0]]
    return np.array(rows, dtype=dtype)


# --------------------------------------------------------------------------- the op table

def _n_float_inputs(op: Op) -> int | None:
    s = op.sample
    if s is None:
        return None
    if s.make is not None:
        args = s.make(np.random.default_rng(0))
        return sum(1 for a in args if isinstance(a, np.ndarray) and a.dtype.kind == "f")
    return len(s.shapes)


def _params(op: Op) -> list[dict]:
    assert op.sample is not None
    return [dict(op.sample.params)] + [dict(v) for v in op.sample.variants]


ELEMENTWISE = [op for op in all_ops() if op.torch and op.elementwise and op.differentiable
               and op.name not in NOT_SWEPT]
UNARY = [op for op in ELEMENTWISE if _n_float_inputs(op) == 1]
BINARY = [op for op in ELEMENTWISE if _n_float_inputs(op) == 2]
ROWWISE = ["sum", "mean", "prod", "amax", "amin", "logsumexp", "norm2", "cumsum", "cumprod",
           "softmax", "log_softmax", "logcumsumexp"]


def _table_case(op: Op, arrays: list[np.ndarray], dtype: Any) -> None:
    torch_fn = _resolve(op.torch or "")
    used: set[int] = set()
    for params in _params(op):
        _check(lambda *xs, p=params: op(*xs, **p), lambda *xs, p=params: torch_fn(*xs, **p),
               arrays, dtype, f"{op.name}{params} {np.dtype(dtype).name}",
               op.name, used)
    _no_stale(op.name, dtype, used)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", UNARY, ids=lambda op: op.name)
def test_unary_op_at_special_values(op, dtype):
    _table_case(op, [_unary_input(dtype)], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("op", BINARY, ids=lambda op: op.name)
def test_binary_op_at_special_pairs(op, dtype):
    _table_case(op, list(_pairs(dtype)), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", ROWWISE)
def test_rowwise_op_with_special_values(name, dtype):
    op = ALL_OPS[name]
    used: set[int] = set()
    for params in _params(op):
        _check(lambda x, p=params: op(x, **p),
               lambda x, p=params: STAND_IN.get(name, _resolve(op.torch or ""))(x, **p),
               [_rows(dtype)], dtype, f"{name}{params} {np.dtype(dtype).name}", name, used,
               per_element=False)
    _no_stale(name, dtype, used)


def test_the_sweep_covers_the_elementwise_table():
    swept = {op.name for op in UNARY + BINARY}
    missing = [op.name for op in all_ops() if op.torch and op.elementwise and op.differentiable
               and op.name not in swept and op.name not in NOT_SWEPT]
    assert not missing


# --------------------------------------------------------------------------- nn.functional

TF = torch.nn.functional
ACTIVATIONS: list[tuple[str, Callable, Callable]] = [
    ("hardsigmoid", F.hardsigmoid, TF.hardsigmoid),
    ("hardswish", F.hardswish, TF.hardswish),
    ("tanhshrink", F.tanhshrink, TF.tanhshrink),
    ("softshrink", F.softshrink, TF.softshrink),
    ("softshrink 0", lambda x: F.softshrink(x, 0.0), lambda x: TF.softshrink(x, 0.0)),
    ("hardshrink", F.hardshrink, TF.hardshrink),
    ("hardshrink 0", lambda x: F.hardshrink(x, 0.0), lambda x: TF.hardshrink(x, 0.0)),
    ("threshold", lambda x: F.threshold(x, 0.5, -2.0), lambda x: TF.threshold(x, 0.5, -2.0)),
    ("threshold inf value", lambda x: F.threshold(x, 0.0, INF),
     lambda x: TF.threshold(x, 0.0, INF)),
    ("rrelu eval", F.rrelu, TF.rrelu),
    ("relu", F.relu, TF.relu), ("relu6", F.relu6, TF.relu6),
    ("leaky_relu", F.leaky_relu, TF.leaky_relu),
    ("leaky_relu 2", lambda x: F.leaky_relu(x, 2.0), lambda x: TF.leaky_relu(x, 2.0)),
    ("leaky_relu -0.5", lambda x: F.leaky_relu(x, -0.5), lambda x: TF.leaky_relu(x, -0.5)),
    ("elu", F.elu, TF.elu), ("selu", F.selu, TF.selu), ("celu", F.celu, TF.celu),
    ("gelu exact", F.gelu, TF.gelu),
    ("gelu tanh", lambda x: F.gelu(x, approximate="tanh"),
     lambda x: TF.gelu(x, approximate="tanh")),
    ("silu", F.silu, TF.silu), ("mish", F.mish, TF.mish), ("softplus", F.softplus, TF.softplus),
    ("softsign", F.softsign, TF.softsign), ("hardtanh", F.hardtanh, TF.hardtanh),
    ("sigmoid", F.sigmoid, torch.sigmoid), ("tanh", F.tanh, torch.tanh),
    ("logsigmoid", F.logsigmoid, TF.logsigmoid),
    ("sign", cr.sign, torch.sign), ("sgn", cr.sgn, torch.sgn),
]
ROW_ACTIVATIONS: list[tuple[str, Callable, Callable]] = [
    ("softmax", lambda x: F.softmax(x, -1), lambda x: TF.softmax(x, -1)),
    ("log_softmax", lambda x: F.log_softmax(x, -1), lambda x: TF.log_softmax(x, -1)),
    ("softmin", lambda x: F.softmin(x, -1), lambda x: TF.softmin(x, -1)),
    ("glu", lambda x: F.glu(x[:, :2], -1), lambda x: TF.glu(x[:, :2], -1)),
    ("prelu", lambda x: F.prelu(x, cr.tensor([0.25], dtype=x.dtype)),
     lambda x: TF.prelu(x, torch.tensor([0.25], dtype=x.dtype))),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,fn,torch_fn", ACTIVATIONS, ids=[a[0] for a in ACTIVATIONS])
def test_activation_at_special_values(name, fn, torch_fn, dtype):
    _check(fn, torch_fn, [_unary_input(dtype)], dtype, f"{name} {np.dtype(dtype).name}",
           name)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name,fn,torch_fn", ROW_ACTIVATIONS,
                         ids=[a[0] for a in ROW_ACTIVATIONS])
def test_row_activation_with_special_values(name, fn, torch_fn, dtype):
    _check(fn, torch_fn, [_rows(dtype)], dtype, f"{name} {np.dtype(dtype).name}",
           name, per_element=False)


@pytest.mark.parametrize("name, call", [
    ("relu", lambda T, x: T.relu(x)),
    ("relu6", lambda T, x: T.nn.functional.relu6(x)),
    ("hardtanh", lambda T, x: T.nn.functional.hardtanh(x)),
    ("hardsigmoid", lambda T, x: T.nn.functional.hardsigmoid(x)),
    ("clamp", lambda T, x: T.clamp(x, min=-2.0, max=5.0)),
    ("clamp min", lambda T, x: T.clamp(x, min=-2.0)),
    ("clamp max", lambda T, x: T.clamp(x, max=5.0))])
def test_a_gradient_stopped_by_a_mask_is_plus_zero_as_in_pytorch(name, call):
    # (g · mask would give -0.0 where the upstream gradient is negative: printed as "-0.")
    values = np.array([-7.0, -3.0, -1.0, 0.0, 0.5, 2.0, 5.0, 8.0])
    upstream = -np.arange(1.0, 9.0)
    grads = []
    for T in (torch, cr):
        x = T.tensor(values, requires_grad=True)
        (call(T, x) * T.tensor(upstream)).sum().backward()
        grads.append(np.asarray(x.grad.tolist()))
    # (PyTorch's float64 hardsigmoid scales by a float32 1/6: the values agree to 1e-7)
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-7, atol=0)
    np.testing.assert_array_equal(np.signbit(grads[1]), np.signbit(grads[0]), err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_gelu_tanh_and_slopes_exact_in_the_tails(dtype):
    """Where a formula cancels (PyTorch's among them), chainrule's values and slopes are those
    of the function, checked in 50-digit arithmetic: the tanh gelu for x ≲ -2, elu's and
    selu's slope α·eˣ (not elu(x) + α) for x ≪ 0, erfcx's slope for large x."""
    import mpmath  # (the [test] extra's)

    with mpmath.workdps(50):
        _check_tails(mpmath, dtype)


def _check_tails(mpmath: Any, dtype: Any) -> None:
    c = mpmath.sqrt(2 / mpmath.pi)
    # (SELU's λ and α as the float64 numbers PyTorch and chainrule compute with)
    selu_l, selu_a = mpmath.mpf(1.0507009873554805), mpmath.mpf(1.6732632423543772)
    exact = {  # name: (the function, in 50 digits; where to check it)
        # (½x(1 + tanh z) as x / (1 + e^(-2z)): in 50 digits 1 + tanh(-301) would be 0 too)
        "gelu tanh": (lambda x: x / (1 + mpmath.exp(-2 * c * (x + mpmath.mpf(0.044715) * x**3))),
                      [-3.0, -6.0, -10.0, -20.0, -1.0, 2.0]),
        "elu": (lambda x: mpmath.expm1(x) if x <= 0 else x, [-5.0, -17.0, -20.0, -30.0]),
        "selu": (lambda x: selu_l * (selu_a * mpmath.expm1(x) if x <= 0 else x),
                 [-5.0, -17.0, -20.0, -30.0]),
        "erfcx": (lambda x: mpmath.exp(x * x) * mpmath.erfc(x),
                  [3.0, 11.5, 12.5, 30.0, 100.0, 1e4]),
    }
    calls = {"gelu tanh": lambda t: F.gelu(t, approximate="tanh"), "elu": F.elu,
             "selu": F.selu, "erfcx": cr.special.erfcx}
    eps = np.finfo(dtype).eps
    for name, (f, points) in exact.items():
        x = cr.tensor(np.array(points, dtype=dtype), requires_grad=True)
        out = calls[name](x)
        out.sum().backward()
        for i, v in enumerate(x.detach().numpy()):
            xv = mpmath.mpf(float(v))  # (the dtype's number, exactly)
            value, slope, curve = (mpmath.diff(f, xv, n) for n in range(3))
            for part, ours, want, cond in (
                    ("value", out[i].item(), value, xv * slope / value),
                    ("slope", x.grad[i].item(), slope, xv * curve / slope)):
                # a few roundings, times the condition number |x·f'/f| (the tails are steep:
                # e^-87 at x = -10 moves 87 times faster than x); erfcx's slope in float64
                # below x = 12 cancels (as PyTorch's): 1e-13 there
                tol = 8 * eps * max(1.0, abs(float(cond)))
                if (name, part, dtype) == ("erfcx", "slope", np.float64) and v < 12:
                    tol = 1e-13
                assert abs(ours - float(want)) <= tol * abs(float(want)), (name, part, v)


@pytest.mark.parametrize("scale", [1e30, 1e-30, 1.0])
def test_float32_std_accumulates_in_float64_as_torch(scale):
    # (the float32 squares of 1e30 overflow and of 1e-30 underflow: inf and 0 before)
    values = (np.array([1.0, 2.0, -1.0, 0.5]) * scale).astype(np.float32)
    x, tx = cr.tensor(values, requires_grad=True), torch.tensor(values, requires_grad=True)
    ours, theirs = x.std(), tx.std()
    ours.backward()
    theirs.backward()
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=3e-7)  # (2 float32 ulps;
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)  # a few here)
    assert ours.dtype == cr.float32


_X = np.array([-7.0, -5.0, -3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0, 5.0, 7.0, 2.0])


@pytest.mark.parametrize("upstream", [NAN, INF, -INF])
@pytest.mark.parametrize("name,call", [
    ("relu", lambda T, x: T.relu(x)), ("relu6", lambda T, x: T.nn.functional.relu6(x)),
    ("hardtanh", lambda T, x: T.nn.functional.hardtanh(x)),
    ("hardsigmoid", lambda T, x: T.nn.functional.hardsigmoid(x)),
    ("hardswish", lambda T, x: T.nn.functional.hardswish(x)),
    ("softshrink", lambda T, x: T.nn.functional.softshrink(x)),
    ("clamp", lambda T, x: T.clamp(x, -1.0, 1.0)), ("clamp min", lambda T, x: x.clamp(min=0.0)),
    ("maximum", lambda T, x: T.maximum(x, x.flip(0))),
    ("fmax", lambda T, x: T.fmax(x, T.zeros_like(x))),
    ("sign", lambda T, x: T.sign(x)), ("round", lambda T, x: T.round(x)),
    ("triu", lambda T, x: T.triu(x.reshape(3, 4))),
    ("tril", lambda T, x: T.tril(x.reshape(3, 4), -1)),
    ("max_pool1d tiles", lambda T, x: T.nn.functional.max_pool1d(x.reshape(1, 1, 12), 3)),
    ("max_pool1d overlapping", lambda T, x: T.nn.functional.max_pool1d(x.reshape(1, 1, 12),
                                                                        3, 2, 1)),
    ("max_pool2d", lambda T, x: T.nn.functional.max_pool2d(x.reshape(1, 1, 3, 4), 2, 1))])
def test_a_nan_or_inf_upstream_gradient_stops_where_the_slope_is_masked(name, call, upstream):
    """Where a mask makes the local slope 0 (a dead relu, a clamped value, a window's
    non-maximum, a step), the gradient is exactly 0 even if the upstream one is NaN or inf,
    as PyTorch's (its backward selects rather than multiplies by 0: NaN·0 would be NaN)."""
    grads = []
    for T in (torch, cr):
        x = T.tensor(_X, requires_grad=True)
        out = call(T, x)
        out.backward(T.full(tuple(out.shape), upstream, dtype=T.float64))
        grads.append(np.asarray(x.grad.tolist()))
    np.testing.assert_array_equal(grads[1], grads[0], err_msg=name)
    assert (grads[1] == 0).any(), name  # (the case has masked elements)


def test_triu_tril_select_rather_than_multiply():
    # (a product with the 0/1 mask turned inf into NaN and -x into -0.0 below the triangle)
    a = np.array([[1.0, -2.0, INF], [-INF, NAN, -3.0], [-5.0, 6.0, 7.0]])
    for ours, theirs in ((cr.triu(cr.tensor(a)), torch.triu(torch.tensor(a))),
                         (cr.tril(cr.tensor(a), -1), torch.tril(torch.tensor(a), -1)),
                         (cr.tensor(a).triu(1), torch.tensor(a).triu(1))):
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        np.testing.assert_array_equal(np.signbit(ours.numpy()), np.signbit(theirs.numpy()))
    ints = cr.tril(cr.tensor([[1, 2], [3, 4]], dtype=cr.int8))
    assert ints.dtype == cr.int8 and ints.tolist() == [[1, 0], [3, 4]]


def test_cdist_zero_distance_stops_a_nan_upstream_gradient():
    # PyTorch's cdist gives a zero distance gradient 0 (its own backward selects), while
    # its norm at 0 passes a NaN on; chainrule's cdist, made of a norm, selects too
    a = np.array([[0.0, 1.0], [0.0, 1.0], [3.0, 5.0]])
    upstream = np.array([[NAN, NAN, 1.0], [NAN, NAN, 1.0], [1.0, 1.0, NAN]])
    grads = []
    for T in (torch, cr):
        x = T.tensor(a, requires_grad=True)
        T.cdist(x, x).backward(T.tensor(upstream))
        grads.append(np.asarray(x.grad.tolist()))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-15)
    assert np.isfinite(grads[1]).all()


def test_all_finite_in_every_memory_layout():
    from chainrule.ops._util import all_finite

    layouts = [lambda a: a, np.asfortranarray, lambda a: a.transpose(2, 0, 1),
               lambda a: a[:, ::2], lambda a: a[..., 1]]
    for layout in layouts:
        for bad in (None, NAN, INF, -INF):
            a = np.arange(24.0).reshape(2, 3, 4)
            if bad is not None:
                a[1, 2, 1] = bad
            view = layout(a)
            assert all_finite(view) == bool(np.isfinite(view).all())
    # |a|² overflowing gives a false "not finite", which only costs the caller's exact path
    assert not all_finite(np.full(3, 1e30, dtype=np.float32))


@pytest.mark.parametrize("name,call", [
    ("relu", lambda T, x: T.relu(x)), ("relu6", lambda T, x: T.nn.functional.relu6(x)),
    ("hardtanh", lambda T, x: T.nn.functional.hardtanh(x)),
    ("clamp", lambda T, x: T.clamp(x, -1.0, 1.0)), ("sign", lambda T, x: T.sign(x)),
    ("floor", lambda T, x: T.floor(x))])
def test_a_nan_tangent_stops_where_the_slope_is_masked(name, call):
    # forward mode, as reverse mode above: torch.func.jvp gives 0 there, not NaN·0
    tangent = np.full_like(_X, NAN)
    _, theirs = torch.func.jvp(lambda x: call(torch, x), (torch.tensor(_X),),
                               (torch.tensor(tangent),))
    _, ours = cr.jvp(lambda x: call(cr, x), (cr.tensor(_X),), (cr.tensor(tangent),))
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=name)
    assert (ours.numpy() == 0).any(), name
