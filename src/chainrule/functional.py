"""The public functions (``cr.sum``, ``cr.reshape``, ...): PyTorch's signatures on the op table.

This layer only handles arguments (``dim``/``axis`` aliases, ``keepdim``, defaults, checks with
clear messages) and composes ops; every derivative lives in ``chainrule/ops/``.
"""

from __future__ import annotations

import builtins
import functools
import itertools as _itertools
import math
import operator
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from .ops import elementwise as E
from .ops import indexing as I
from .ops import linalg as LA
from .ops import reductions as R
from .ops import shape as S
from .ops import sorting as _SO
from .ops._util import is_tensor, ndim_of, norm_dim, norm_dims, pick, pick_keep, shape_of
from .ops.registry import OpError
from .ops.registry import OpIndexError as _OpIndexError
from .tensor import Tensor, as_tensor

# Elementwise ops need no argument handling: the op is the function.
(exp, exp2, log, log2, log1p, expm1, sqrt, rsqrt, square, reciprocal, abs, sin, cos, tan, asin,
 acos, atan, atan2, sinh, cosh, tanh, erf, sigmoid, logsigmoid, relu, relu6, selu, silu, mish,
 softsign, sign, floor, ceil, maximum, minimum, lerp, neg) = (
    E.exp, E.exp2, E.log, E.log2, E.log1p, E.expm1, E.sqrt, E.rsqrt, E.square, E.reciprocal,
    E.abs, E.sin, E.cos, E.tan, E.asin, E.acos, E.atan, E.atan2, E.sinh, E.cosh, E.tanh, E.erf,
    E.sigmoid, E.logsigmoid, E.relu, E.relu6, E.selu, E.silu, E.mish, E.softsign, E.sign,
    E.floor, E.ceil, E.maximum, E.minimum, E.lerp, E.neg)
arcsin, arccos, arctan, arctan2, negative = asin, acos, atan, atan2, neg
absolute = abs
(lt, le, gt, ge, eq, ne, logical_not, logical_and, logical_or, logical_xor, isnan, isinf,
 isfinite) = (E.lt, E.le, E.gt, E.ge, E.eq, E.ne, E.logical_not, E.logical_and, E.logical_or,
              E.logical_xor, E.isnan, E.isinf, E.isfinite)
less, less_equal, greater, greater_equal, not_equal = lt, le, gt, ge, ne


def equal(input: Any, other: Any) -> bool:
    """Whether two tensors have the same shape and the same values (a Python bool, as
    PyTorch's ``torch.equal``; NaN is not equal to itself). ``eq`` compares elementwise."""
    a, b = _data(input), _data(other)
    return bool(a.shape == b.shape and np.array_equal(a, b))


def add(input: Any, other: Any, *, alpha: float = 1) -> Tensor:
    """``input + alpha * other``."""
    return E.add(input, other if alpha == 1 else E.mul(other, alpha))


def sub(input: Any, other: Any, *, alpha: float = 1) -> Tensor:
    """``input - alpha * other``."""
    return E.sub(input, other if alpha == 1 else E.mul(other, alpha))


subtract = sub


def mul(input: Any, other: Any) -> Tensor:
    return E.mul(input, other)


multiply = mul


def div(input: Any, other: Any, *, rounding_mode: str | None = None) -> Tensor:
    """``input / other``; ``rounding_mode='floor'`` or ``'trunc'`` gives a zero gradient (and,
    for integers, an integer result, as PyTorch)."""
    if rounding_mode is None:
        return E.div(input, other)
    if rounding_mode not in ("floor", "trunc"):
        raise OpError(f"div: rounding_mode must be None, 'floor' or 'trunc', got "
                      f"{rounding_mode!r}")
    a, b = _weak_pair(input, other)
    kind = np.result_type(a, b).kind
    if kind == "b":
        raise OpError("div: rounding_mode needs numbers, not bools; convert with x.long() or "
                      "x.float() first")
    if kind in "iu":
        return Tensor._make(_integer_div(a, b, rounding_mode))
    q = E.div(input, other).detach()  # (in PyTorch's dtype)
    if rounding_mode == "floor":  # NumPy's floor_divide is Python's // and PyTorch's: exact,
        # where floor(a / b) rounds a / b first (1.0 // 0.1 is 9, floor(1.0 / 0.1) is 10)
        with np.errstate(divide="ignore", invalid="ignore"):
            out = Tensor._make(np.asarray(np.floor_divide(np.asarray(a, dtype=q.dtype),
                                                          np.asarray(b, dtype=q.dtype))))
    else:
        out = where(q < 0, ceil(q), floor(q))
    for x in (input, other):  # as PyTorch: a zero gradient (the result requires grad)
        if is_tensor(x) and x.requires_grad:
            out = E.where(np.False_, x, out)
    return out


def remainder(input: Any, other: Any) -> Tensor:
    """``input % other`` with the sign of ``other`` (Python's ``%``, PyTorch's remainder);
    ∂/∂input = 1, ∂/∂other = -⌊input/other⌋. Integers give an integer result, and an integer
    division by zero is an error (as in PyTorch)."""
    a, b = _weak_pair(input, other)
    if np.result_type(a, b).kind in "biu":
        if np.any(np.asarray(b) == 0):
            raise OpError("remainder: integer division by zero; take the remainder of floats "
                          "(x.float()) to get nan instead")
        return Tensor._make(np.asarray(_integer_op(np.mod, a, b, "remainder")))
    return E.remainder(input, other)


def _weak_data(x: Any) -> Any:
    """A tensor's array; Python numbers stay numbers (weak in NumPy's promotion, as in
    PyTorch's: int32 // 2 is int32)."""
    return x.data if is_tensor(x) else x if type(x) in (int, float, bool) else np.asarray(x)


def _weak_pair(input: Any, other: Any) -> list:
    """The two operands' values as :func:`_weak_data`, a 0-d tensor cast as PyTorch promotes
    it (int8 with an int64 0-d tensor computes in int8)."""
    from .engine import _zero_dim_promotion

    return _zero_dim_promotion((input, other), [_weak_data(input), _weak_data(other)])


def _integer_op(fn: Any, a: Any, b: Any, name: str) -> Any:
    """``fn(a, b)`` on integers, with NumPy's OverflowError (a Python int outside the
    tensor's dtype) explained."""
    try:
        return fn(a, b)
    except OverflowError as e:
        raise OpError(f"{name}: {e}; convert the tensor to a wider dtype first (e.g. x.long() "
                      "or x.float())") from None


def _integer_div(a: Any, b: Any, rounding_mode: str) -> np.ndarray:
    """``a / b`` rounded down or toward zero, exactly, in the integers' dtype."""
    if np.any(np.asarray(b) == 0):
        raise OpError(f"div: integer division by zero (rounding_mode={rounding_mode!r}); "
                      "divide floats (x.float()) to get inf instead")
    q = np.asarray(_integer_op(np.floor_divide, a, b, "div"))
    if rounding_mode == "trunc":  # a negative quotient that is not exact rounds up by one
        q = q + ((q < 0) & (q * b != a))
    return q


divide = true_divide = div


def pow(input: Any, exponent: Any) -> Tensor:
    """``input ** exponent``; either may be a tensor or a number."""
    return E.pow(input, exponent)


def round(input: Any, decimals: int = 0) -> Tensor:
    """Round half to even; zero gradient."""
    if decimals:
        return E.round(input * 10.0 ** decimals) / 10.0 ** decimals
    return E.round(input)


def clamp(input: Any, min: Any = None, max: Any = None) -> Tensor:
    """Clip into ``[min, max]``; bounds may be numbers or tensors (tensors get gradients)."""
    if min is None and max is None:
        raise OpError("clamp: give at least one of min= and max=")
    if is_tensor(min) or is_tensor(max):
        # NOTE: as PyTorch: at x == min (or max) the gradient goes to x, not to the bound
        # (maximum/minimum would split it); a bound gets it only where it is the result.
        out = input if min is None else where(input < min, min, input)
        return out if max is None else where(out > max, max, out)
    return E.clamp(input, min=min, max=max)


clip = clamp

# --------------------------------------------------------------------------- more math
(erfc, erfinv, lgamma, logaddexp, logaddexp2, hypot, fmod, xlogy, sinc, frac, trunc, copysign,
 signbit) = (
    E.erfc, E.erfinv, E.lgamma, E.logaddexp, E.logaddexp2, E.hypot, E.fmod, E.xlogy, E.sinc,
    E.frac, E.trunc, E.copysign, E.signbit)
fix = trunc


def nextafter(input: Any, other: Any) -> Tensor:
    """The next float after ``input`` toward ``other``; no gradient (as PyTorch, which has no
    derivative for it)."""
    a, b = as_tensor(input), as_tensor(other)
    if a.dtype.kind != "f" or b.dtype.kind != "f":
        raise OpError(f"nextafter: needs float tensors, got {a.dtype} and {b.dtype}")
    return Tensor._make(np.asarray(np.nextafter(a.data, b.data)))


def digamma(input: Any) -> Tensor:
    """ψ(x) = d/dx ln Γ(x) (needs SciPy)."""
    return E.polygamma(input, n=0)


def polygamma(n: int, input: Any) -> Tensor:
    """ψ⁽ⁿ⁾(x), the n-th derivative of digamma (needs SciPy); differentiable to any order."""
    return E.polygamma(input, n=n)


def mvlgamma(input: Any, p: int) -> Tensor:
    """The multivariate log-gamma ln Γ_p(x) = p(p-1)/4·ln π + Σᵢ ln Γ(x - i/2), i < p."""
    if type(p) is not int or p < 1:
        raise OpError(f"mvlgamma: p must be an int >= 1, got {p!r}")
    x = as_tensor(input)
    if x.numel() and not bool(np.all(x.data > (p - 1) / 2)):
        raise OpError(f"mvlgamma: every element must be greater than (p-1)/2 = {(p - 1) / 2} "
                      f"for p = {p} (the smallest is {np.min(x.data)})")
    out = E.lgamma(x)
    for i in range(1, p):
        out = out + E.lgamma(x - i / 2)
    return out + p * (p - 1) / 4 * math.log(math.pi)


def logit(input: Any, eps: float | None = None) -> Tensor:
    """ln(x/(1-x)); with ``eps``, x is first clamped to [eps, 1-eps] (gradient 0 outside)."""
    return E.logit(input, eps=eps)


def heaviside(input: Any, values: Any) -> Tensor:
    """The step function: 0 for x < 0, ``values`` at 0, 1 for x > 0. Its gradient is 0 (a step,
    as ``sign``); PyTorch's backward raises instead."""
    return E.heaviside(input, values)


def clamp_min(input: Any, min: Any) -> Tensor:
    return clamp(input, min=min)


def clamp_max(input: Any, max: Any) -> Tensor:
    return clamp(input, max=max)


def sgn(input: Any) -> Tensor:
    """The sign (for real tensors, ``sign``)."""
    return E.sign(input)


def float_power(input: Any, exponent: Any) -> Tensor:
    """``input ** exponent`` in float64 (as PyTorch's float_power, whatever the dtypes)."""
    def f64(x: Any) -> Any:
        if is_tensor(x):
            return x.to(np.float64)
        return np.asarray(x, dtype=np.float64) if not isinstance(x, (int, float)) else x
    return E.pow(f64(input), f64(exponent))


def rad2deg(input: Any) -> Tensor:
    return E.mul(_float_of(input), 180.0 / math.pi)


def deg2rad(input: Any) -> Tensor:
    return E.mul(_float_of(input), math.pi / 180.0)


def _float_of(x: Any) -> Any:
    """A tensor in a float dtype (an integer or bool one in the default dtype, as PyTorch)."""
    from ._dtypes import get_default_dtype

    t = as_tensor(x)
    return t if t.dtype.kind == "f" else t.to(get_default_dtype())


def addcmul(input: Any, tensor1: Any, tensor2: Any, *, value: float = 1) -> Tensor:
    """``input + value · tensor1 · tensor2``."""
    prod = E.mul(tensor1, tensor2)
    return E.add(input, prod if value == 1 else E.mul(prod, value))


def addcdiv(input: Any, tensor1: Any, tensor2: Any, *, value: float = 1) -> Tensor:
    """``input + value · tensor1 / tensor2`` (integer tensor1 and tensor2 are refused, as in
    PyTorch: use ``div(rounding_mode=...)``)."""
    if builtins.all(as_tensor(t).dtype.kind in "biu" for t in (tensor1, tensor2)):
        raise OpError("addcdiv: integer division of tensor1 by tensor2 is not supported (as in "
                      "PyTorch); convert them to floats, or use div with rounding_mode")
    quot = E.div(tensor1, tensor2)
    return E.add(input, quot if value == 1 else E.mul(quot, value))


def floor_divide(input: Any, other: Any) -> Tensor:
    """``input // other``, rounded down (``div(..., rounding_mode='floor')``)."""
    return div(input, other, rounding_mode="floor")


def leaky_relu(input: Any, negative_slope: float = 0.01) -> Tensor:
    return E.leaky_relu(input, negative_slope=negative_slope)


def elu(input: Any, alpha: float = 1.0) -> Tensor:
    return E.elu(input, alpha=alpha)


def celu(input: Any, alpha: float = 1.0) -> Tensor:
    return E.celu(input, alpha=alpha)


def gelu(input: Any, approximate: str = "none") -> Tensor:
    """GELU, exact (``x·Φ(x)``) or with ``approximate='tanh'``."""
    if approximate not in ("none", "tanh"):
        raise OpError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return E.gelu(input, approximate=approximate)


def softplus(input: Any, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    return E.softplus(input, beta=beta, threshold=threshold)


def hardtanh(input: Any, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    return E.hardtanh(input, min_val=min_val, max_val=max_val)


def where(condition: Any, input: Any = None, other: Any = None) -> Any:
    """``input`` where ``condition`` holds, else ``other``; with one argument, the indices."""
    if input is None and other is None:
        return tuple(Tensor._make(i) for i in np.nonzero(_data(condition)))
    c = _data(condition)
    if c.dtype != np.bool_:  # (as PyTorch: a float mask is more often a bug than intended)
        raise TypeError(f"where: expected the condition to be a boolean tensor, but got "
                        f"dtype {c.dtype} (shape {c.shape}); compare first, e.g. where(c != 0, "
                        "...)")
    return E.where(c, input, other)


def _data(x: Any) -> Any:
    return x.data if is_tensor(x) else np.asarray(x)


# --------------------------------------------------------------------------- reductions

@functools.cache
def _dims_up_to(ndim: int) -> tuple[int, ...]:
    return tuple(range(-ndim, 0))


def _reduce_dims(input: Any, dim: Any, axis: Any, name: str) -> tuple[int, ...]:
    """The dims a reduction runs over, as negative ints: all of them for None, and for
    ``dim=()`` as in PyTorch (``axis=()`` keeps NumPy's meaning, no dims: the rules rely on
    it); for a 0-d tensor (whose dim 0 or -1 is itself) none."""
    nd = ndim_of(input)
    dims = norm_dims(pick(dim, axis, name), nd, name)
    if not nd:
        return ()
    if dims is None or (not dims and axis is None):
        return _dims_up_to(nd)
    return dims


def _reduce(op: Any, name: str, input: Any, dim: Any, keepdim: bool, axis: Any = None,
            keepdims: Any = None) -> Tensor:
    if dim is None and axis is None and isinstance(input, Tensor):
        # A full reduction (a loss, usually): nothing to check, and worth being quick.
        return op(input, dim=_dims_up_to(input.data.ndim),
                  keepdim=bool(keepdim if keepdims is None else keepdims))
    return op(input, dim=_reduce_dims(input, dim, axis, name),
              keepdim=pick_keep(keepdim, keepdims))


def _cast(input: Any, dtype: Any) -> Any:
    """``input`` in ``dtype``; with none given, unsigned integers widen to int64 (PyTorch's
    sums and products of integers are int64; NumPy's of unsigned ones uint64)."""
    if dtype is None:
        if getattr(getattr(input, "dtype", None), "kind", None) != "u":
            return input
        dtype = np.int64
    return as_tensor(input).to(dtype)


def sum(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
        axis: Any = None, keepdims: bool | None = None) -> Tensor:
    """Sum over ``dim`` (an int, a tuple, or None for all)."""
    return _reduce(R.sum, "sum", _cast(input, dtype), dim, keepdim, axis, keepdims)


def mean(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
         axis: Any = None, keepdims: bool | None = None) -> Tensor:
    """Mean over ``dim``."""
    x = input if isinstance(input, Tensor) else as_tensor(input)
    if dtype is not None:
        x = x.to(dtype)
    if x.dtype.kind not in "fc":
        raise TypeError(f"mean: input dtype should be floating point, got {x.dtype}; "
                        "use x.float() or mean(x, dtype=cr.float32)")
    return _reduce(R.mean, "mean", x, dim, keepdim, axis, keepdims)


def prod(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None,
         axis: Any = None, keepdims: bool | None = None) -> Tensor:
    """Product over one ``dim`` (or, beyond PyTorch, a tuple of dims) or all elements; exact
    gradients even where inputs are 0."""
    x = _cast(input, dtype)
    picked = pick(dim, axis, "prod")
    keep = pick_keep(keepdim, keepdims)
    nd = ndim_of(x)
    if isinstance(picked, (int, np.integer)) and nd:
        return R.prod(x, dim=norm_dim(picked, nd, "prod"), keepdim=keep)
    dims = _reduce_dims(x, dim, axis, "prod")  # (axis=() keeps NumPy's meaning, as in sum)
    if len(dims) == nd:
        out = R.prod(reshape(x, (-1,)), dim=-1, keepdim=False)
        return reshape(out, (1,) * nd) if keep else out
    # several dims: move them last, flatten them into one, and take the product over it
    rest = [d for d in range(-nd, 0) if d not in dims]
    moved = S.permute(x, dims=tuple(d + nd for d in rest + list(dims)))
    kept_shape = tuple(shape_of(x)[d] for d in rest)
    out = R.prod(reshape(moved, kept_shape + (-1,)), dim=-1, keepdim=False)
    if keep:
        out = reshape(out, tuple(1 if d - nd in dims else s
                                 for d, s in enumerate(shape_of(x))))
    return out


def var(input: Any, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    """Variance over ``dim`` with Bessel's ``correction`` (1 by default, as PyTorch); also
    PyTorch's older forms ``var(x, unbiased)`` and ``var(x, dim, unbiased, keepdim)``."""
    centred, dims, divisor = _centred("var", input, dim, unbiased, correction, axis)
    return R.sum(centred * centred, dim=dims, keepdim=pick_keep(keepdim, keepdims)) / divisor


def std(input: Any, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False, *,
        correction: float | None = None, axis: Any = None,
        keepdims: bool | None = None) -> Tensor:
    """Standard deviation: ``sqrt(var(...))``, with PyTorch's gradient 0 where it is 0."""
    centred, dims, divisor = _centred("std", input, dim, unbiased, correction, axis)
    # ‖x - mean‖₂ / √divisor: the 2-norm's gradient at 0 is 0 (sqrt's would be 0·∞ = NaN)
    return R.norm2(centred, dim=dims, keepdim=pick_keep(keepdim, keepdims)) / math.sqrt(divisor)


def _centred(name: str, input: Any, dim: Any, unbiased: Any, correction: Any,
             axis: Any) -> tuple[Any, tuple[int, ...], float]:
    """``x - mean(x)`` over the dims of var/std, those dims, and the divisor ``n - correction``
    (at least 0, as PyTorch)."""
    if isinstance(dim, bool):  # var(x, True): PyTorch's var(input, unbiased)
        dim, unbiased = None, dim
    if unbiased is not None:
        if correction is not None:
            raise OpError(f"{name}: give correction= or unbiased=, not both")
        correction = 1 if unbiased else 0
    elif correction is None:
        correction = 1
    elif not isinstance(correction, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: correction must be a number, got {type(correction).__name__}")
    dims = _reduce_dims(input, dim, axis, name)
    shape = shape_of(input)
    n = math.prod(shape[d] for d in dims)
    centred = input - R.mean(input, dim=dims, keepdim=True)
    return centred, dims, builtins.max(n - correction, 0)


def amax(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """Maximum over ``dim``; ties share the gradient equally."""
    return _reduce(R.amax, "amax", input, dim, keepdim, axis, keepdims)


def amin(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
         keepdims: bool | None = None) -> Tensor:
    """Minimum over ``dim``; ties share the gradient equally."""
    return _reduce(R.amin, "amin", input, dim, keepdim, axis, keepdims)


MaxResult = namedtuple("MaxResult", ["values", "indices"])
SlogdetResult = namedtuple("SlogdetResult", ["sign", "logabsdet"])


def _extreme(input: Any, dim: Any, keepdim: bool, other: Any, name: str) -> Any:
    if other is not None:
        return (E.maximum if name == "max" else E.minimum)(input, other)
    if dim is None:
        return (amax if name == "max" else amin)(input)
    # (the index, its checks, the 0-d case and the empty-dim error: argmax/argmin's)
    arg = _arg_extreme(np.argmax if name == "max" else np.argmin, name, input, dim, True)
    if not ndim_of(input):  # a 0-d tensor is its own max along its dim 0 (or -1)
        return MaxResult(R.amax(input, dim=(), keepdim=False), arg)
    d = norm_dim(dim, ndim_of(input), name)
    # NOTE: with dim, the gradient goes to the index returned (the first of any ties).
    values, indices = I.take_along(input, index=arg.data, dim=d), arg
    if not keepdim:
        values, indices = squeeze(values, d), squeeze(indices, d)
    return MaxResult(values, indices)


def max(input: Any, dim: Any = None, keepdim: bool = False, *, other: Any = None,
        axis: Any = None) -> Any:
    """``max(x)``: the largest element; ``max(x, dim)``: (values, indices); ``max(x, y)``:
    elementwise (as ``maximum``)."""
    if is_tensor(dim):
        return E.maximum(input, dim)
    return _extreme(input, pick(dim, axis, "max"), keepdim, other, "max")


def min(input: Any, dim: Any = None, keepdim: bool = False, *, other: Any = None,
        axis: Any = None) -> Any:
    """``min(x)``, ``min(x, dim)`` -> (values, indices), or ``min(x, y)`` elementwise."""
    if is_tensor(dim):
        return E.minimum(input, dim)
    return _extreme(input, pick(dim, axis, "min"), keepdim, other, "min")


def argmax(input: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg_extreme(np.argmax, "argmax", input, dim, keepdim)


def argmin(input: Any, dim: int | None = None, keepdim: bool = False) -> Tensor:
    return _arg_extreme(np.argmin, "argmin", input, dim, keepdim)


def _arg_extreme(find: Any, name: str, input: Any, dim: Any, keepdim: bool) -> Tensor:
    x = np.asarray(_data(input))
    d = None if dim is None else norm_dim(dim, x.ndim, name)
    if d is not None and not x.ndim:  # a 0-d tensor: index 0 along its dim 0 (or -1)
        return Tensor._make(np.zeros((), np.int64))
    try:
        if d is None:  # of the flattened tensor; kept dims are all 1 (as PyTorch)
            index = np.asarray(find(x))
            return Tensor._make(index.reshape((1,) * x.ndim) if keepdim else index)
        return Tensor._make(find(x, axis=d, keepdims=keepdim))
    except ValueError:  # NumPy: "attempt to get argmax of an empty sequence"
        raise OpError(f"{name}: the input of shape {x.shape} has no elements along dim {dim}; "
                      "give a dim of non-zero size") from None


def logsumexp(input: Any, dim: Any = None, keepdim: bool = False, *, axis: Any = None,
              keepdims: bool | None = None) -> Tensor:
    """``log Σ exp(x)`` over ``dim``, computed stably."""
    return _reduce(R.logsumexp, "logsumexp", input, dim, keepdim, axis, keepdims)


def norm(input: Any, p: Any = "fro", dim: Any = None, keepdim: bool = False, *,
         axis: Any = None, keepdims: bool | None = None) -> Tensor:
    """Vector norm over ``dim``: p = 1, 2 (or 'fro' or None), inf, -inf, 0 (the number of
    non-zeros) or any other number."""
    dims = _reduce_dims(input, dim, axis, "norm")
    keepdim = pick_keep(keepdim, keepdims)
    if p is None:
        p = "fro"
    if p in ("fro", 2, 2.0):
        return R.norm2(input, dim=dims, keepdim=keepdim)
    if p in (1, 1.0):
        return R.sum(abs(input), dim=dims, keepdim=keepdim)
    if p == float("inf"):
        return R.amax(abs(input), dim=dims, keepdim=keepdim)
    if p == float("-inf"):
        return R.amin(abs(input), dim=dims, keepdim=keepdim)
    if isinstance(p, (int, float)) and not isinstance(p, bool) and p == 0:
        # the number of non-zero elements: piecewise constant, so a zero gradient
        return R.sum(abs(input) * 0 + (input != 0), dim=dims, keepdim=keepdim)
    if isinstance(p, (int, float)) and not isinstance(p, bool):
        return _p_norm(input, float(p), dims, keepdim)
    raise OpError(f"norm: unsupported p={p!r}; use a number (1, 2, inf, -inf, 0, ...) or "
                  "'fro'")


def _p_norm(x: Any, p: float, dims: tuple[int, ...], keepdim: bool) -> Tensor:
    """``(Σ|x|^p)^(1/p)`` with PyTorch's gradients where 0·∞ would give NaN: 0 for an element
    that is 0 (when p < 1) and for a norm that is 0."""
    a = abs(x)
    zero = _data(a) == 0 if p < 1 else None  # (only p < 1 needs it: no full-size work else)
    if zero is not None and zero.any():  # |x|^p has an infinite slope at 0: take it as flat there
        powered = where(zero, 0.0 if p > 0 else math.inf, where(zero, 1.0, a) ** p)
    else:
        powered = a ** p
    s = R.sum(powered, dim=dims, keepdim=keepdim)
    empty = _data(s) == 0
    if p > 0 and empty.any():  # s^(1/p) has an infinite slope at 0
        return where(empty, 0.0, where(empty, 1.0, s) ** (1.0 / p))
    return s ** (1.0 / p)


def _along_one_dim(op: Any, name: str, x: Any, dim: Any) -> Tensor:
    """``op`` (a scan or softmax) along ``dim``; a 0-d tensor as one element, kept 0-d."""
    nd = ndim_of(x)
    d = norm_dim(dim, nd, name)
    if not nd:
        return reshape(op(reshape(x, (1,)), dim=-1), ())
    return op(x, dim=d)


def cumsum(input: Any, dim: Any = None, *, dtype: Any = None, axis: Any = None) -> Tensor:
    """Cumulative sum along ``dim``."""
    return _along_one_dim(R.cumsum, "cumsum", _cast(input, dtype), pick(dim, axis, "cumsum"))


def cumprod(input: Any, dim: Any = None, *, dtype: Any = None, axis: Any = None) -> Tensor:
    """Cumulative product along ``dim``; exact gradients also where inputs are 0."""
    return _along_one_dim(R.cumprod, "cumprod", _cast(input, dtype),
                          pick(dim, axis, "cumprod"))


def _dim_or(default: int, dim: Any, axis: Any, name: str) -> Any:
    """``dim`` (or its alias ``axis``), else the default: PyTorch's defaults are not None."""
    d = pick(dim, axis, name)
    return default if d is None else d


def softmax(input: Any, dim: int | None = None, *, axis: Any = None,
            dtype: Any = None) -> Tensor:
    """``exp(x) / Σ exp(x)`` along ``dim`` (default -1); finite for any finite logits."""
    x = input if dtype is None else as_tensor(input).to(dtype)
    return _along_one_dim(R.softmax, "softmax", x, _dim_or(-1, dim, axis, "softmax"))


def log_softmax(input: Any, dim: int | None = None, *, axis: Any = None,
                dtype: Any = None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim`` (default -1); finite for any finite logits."""
    x = input if dtype is None else as_tensor(input).to(dtype)
    return _along_one_dim(R.log_softmax, "log_softmax", x,
                          _dim_or(-1, dim, axis, "log_softmax"))


# --------------------------------------------------------------------------- linear algebra

def _matmul_checked(name: str, a: Any, b: Any) -> Tensor:
    """``a @ b`` after checking the shapes, so that the error names ``name`` and both shapes."""
    sa, sb = shape_of(a), shape_of(b)
    if not sa or not sb:
        raise OpError(f"{name}: both arguments need at least 1 dim, got shapes {sa} and {sb}; "
                      "use * for scalars")
    k_b = sb[0] if len(sb) == 1 else sb[-2]
    if sa[-1] != k_b:
        where = "the size of the second" if len(sb) == 1 else "the second-to-last dim of the second"
        raise OpError(f"{name}: shapes {sa} and {sb} cannot be multiplied: the last dim of the "
                      f"first ({sa[-1]}) must equal {where} ({k_b})")
    try:
        if len(sa) > 2 and len(sb) > 2:
            np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise OpError(f"{name}: the batch dims of shapes {sa} and {sb} cannot be broadcast "
                      "together (they must be equal or 1, counted from the right)") from None
    return LA.matmul(a, b)


def matmul(input: Any, other: Any) -> Tensor:
    """Matrix product with NumPy's rules for 1-D, 2-D, batched and broadcast operands."""
    return _matmul_checked("matmul", input, other)


def mm(input: Any, mat2: Any) -> Tensor:
    if ndim_of(input) != 2 or ndim_of(mat2) != 2:
        raise OpError(f"mm: expects two matrices, got shapes {shape_of(input)} and "
                      f"{shape_of(mat2)}")
    return _matmul_checked("mm", input, mat2)


def bmm(input: Any, mat2: Any) -> Tensor:
    if ndim_of(input) != 3 or ndim_of(mat2) != 3:
        raise OpError(f"bmm: expects two batches of matrices (3-D), got shapes "
                      f"{shape_of(input)} and {shape_of(mat2)}")
    return _matmul_checked("bmm", input, mat2)


def dot(input: Any, other: Any) -> Tensor:
    if ndim_of(input) != 1 or ndim_of(other) != 1:
        raise OpError(f"dot: expects two 1-D tensors, got shapes {shape_of(input)} and "
                      f"{shape_of(other)}")
    return _matmul_checked("dot", input, other)


def mv(input: Any, vec: Any) -> Tensor:
    if ndim_of(input) != 2 or ndim_of(vec) != 1:
        raise OpError(f"mv: expects a matrix and a vector, got shapes {shape_of(input)} and "
                      f"{shape_of(vec)}")
    return _matmul_checked("mv", input, vec)


def outer(input: Any, vec2: Any) -> Tensor:
    """``input[:, None] * vec2[None, :]`` for two vectors (PyTorch refuses other shapes; NumPy's
    outer would flatten them)."""
    for name, v in (("self", input), ("vec2", vec2)):
        if ndim_of(v) != 1:
            raise OpError(f"outer: expected 1-D argument {name}, but got {ndim_of(v)}-D "
                          f"(shape {shape_of(v)}); flatten() it first for NumPy's outer")
    return E.mul(reshape(input, (-1, 1)), reshape(vec2, (1, -1)))


ger = outer


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, e.g. ``einsum('bij,bjk->bik', a, b)``; a subscript repeated within
    one operand takes its diagonal (``einsum('ii', a)`` is the trace), as in PyTorch."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    subscripts = lhs.split(",")
    if len(subscripts) == len(operands) and builtins.any(_repeats(s) for s in subscripts):
        if not arrow:  # the implicit output, from the letters as written (PyTorch's rule)
            letters = lhs.replace(".", "").replace(",", "")
            rhs = ("..." if "..." in lhs else "") + "".join(
                sorted(c for c in set(letters) if letters.count(c) == 1))
        pairs = [_einsum_diagonals(s, x, equation) for s, x in zip(subscripts, operands)]
        equation = ",".join(s for s, _ in pairs) + "->" + rhs
        operands = tuple(x for _, x in pairs)
    return LA.einsum(*operands, equation=equation)


def _repeats(subscripts: str) -> bool:
    letters = subscripts.replace(".", "")
    return len(set(letters)) != len(letters)


def _einsum_diagonals(subscripts: str, x: Any, equation: str) -> tuple[str, Any]:
    """An operand whose subscripts repeat a letter, as its diagonal over those dims (a view,
    its dim moved last) with the letter once: ``'iij'`` of x becomes ``'ji'`` of a diagonal."""
    x = x if is_tensor(x) else as_tensor(x)
    while _repeats(subscripts):
        head, _, tail = subscripts.partition("...")
        # each letter's dim: counted from the front before '...', from the end after it
        dims = [(c, k) for k, c in enumerate(head)] + [
            (c, k - len(tail)) for k, c in enumerate(tail)]
        letters = [c for c, _ in dims]
        letter = next(c for c in letters if letters.count(c) > 1)
        a, b = [k for c, k in dims if c == letter][:2]
        if x.shape[a] != x.shape[b]:
            raise OpError(f"einsum(): subscript {letter} is repeated for an operand of shape "
                          f"{tuple(x.shape)} in {equation!r} but the sizes don't match, "
                          f"{x.shape[a]} != {x.shape[b]}")
        x = diagonal(x, 0, a, b)
        first = subscripts.index(letter)
        second = subscripts.index(letter, first + 1)
        subscripts = (subscripts[:first] + subscripts[first + 1:second]
                      + subscripts[second + 1:] + letter)
    return subscripts, x


def transpose(input: Any, dim0: int, dim1: int) -> Tensor:
    """Swap two dims."""
    nd = ndim_of(input)
    a, b = norm_dim(dim0, nd, "transpose"), norm_dim(dim1, nd, "transpose")
    if nd < 2:
        return input if is_tensor(input) else as_tensor(input)
    a, b = a + nd, b + nd
    perm = list(range(nd))
    perm[a], perm[b] = perm[b], perm[a]
    return S.permute(input, dims=tuple(perm))


swapaxes = swapdims = transpose


def permute(input: Any, *dims: Any) -> Tensor:
    """Reorder the dims: ``permute(x, (2, 0, 1))`` or ``x.permute(2, 0, 1)``."""
    if len(dims) == 1 and isinstance(dims[0], (list, tuple)):
        dims = tuple(dims[0])
    nd = ndim_of(input)
    perm = tuple(norm_dim(d, nd, "permute") + nd for d in dims)
    if sorted(perm) != list(range(nd)):
        raise OpError(f"permute: dims {dims} are not a permutation of the {nd} dims of a tensor "
                      f"of shape {shape_of(input)}")
    return S.permute(input, dims=perm)


def movedim(input: Any, source: Any, destination: Any) -> Tensor:
    nd = ndim_of(input)
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    src = [norm_dim(d, nd, "movedim") + nd for d in src]
    dst = [norm_dim(d, nd, "movedim") + nd for d in dst]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise OpError(f"movedim: source {source} and destination {destination} must name the "
                      "same number of dims, each dim at most once")
    if not nd:  # (a 0-d tensor's dim 0 is itself: nothing moves)
        return S.permute(input, dims=())
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return S.permute(input, dims=tuple(order))


moveaxis = movedim


# --------------------------------------------------------------------------- shape

def _shape_arg(shape: Sequence[Any], name: str = "reshape") -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    try:
        return tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{name}: the sizes of a shape must be integers, got {tuple(shape)}") \
            from None


def reshape(input: Any, *shape: Any) -> Tensor:
    """A tensor with the same elements in a new shape (one dim may be -1)."""
    new = _shape_arg(shape)
    old = shape_of(input)
    size = math.prod(old)  # (math.prod: NumPy's prod costs microseconds on a tuple)
    known = math.prod(s for s in new if s != -1)
    if new.count(-1) > 1 or (-1 not in new and known != size) or (
            -1 in new and (known == 0 or size % known)):
        raise OpError(f"reshape: cannot reshape a tensor of shape {old} ({size} elements) "
                      f"into shape {new}")
    if -1 in new:
        new = tuple(size // known if s == -1 else s for s in new)
    if new == old and is_tensor(input):
        return input
    return S.reshape(input, shape=new)


def view(input: Any, *shape: Any) -> Tensor:
    """``input``'s elements in a new shape, sharing its memory, as ``Tensor.view``: where the
    memory's layout allows no such view (a transposed or sliced tensor, whose elements are not
    in row order), an error, as in PyTorch, instead of :func:`reshape`'s silent copy, which an
    in-place change of the result would not reach."""
    out = reshape(input, *shape)
    if out is not input and is_tensor(input) and out.data.size \
            and not np.may_share_memory(out.data, input.data):
        raise OpError(f"view: a tensor of shape {tuple(input.shape)} with strides (in "
                      f"elements) {_strides_in_elements(input.data)} has no view of shape "
                      f"{tuple(out.shape)}: its elements are not laid out in that order in "
                      "memory. Use .reshape(...) (which copies when it must), or "
                      ".contiguous().view(...)")
    return out


def _strides_in_elements(a: np.ndarray) -> tuple[int, ...]:
    return tuple(s // a.itemsize for s in a.strides)


def flatten(input: Any, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    shape = shape_of(input)
    if not shape:
        return reshape(input, (1,))
    a = norm_dim(start_dim, len(shape), "flatten") + len(shape)
    b = norm_dim(end_dim, len(shape), "flatten") + len(shape)
    if a > b:
        raise OpError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                      f"tensor of shape {shape}")
    return reshape(input, shape[:a] + (int(np.prod(shape[a:b + 1])),) + shape[b + 1:])


def unflatten(input: Any, dim: int, sizes: Sequence[int]) -> Tensor:
    shape = shape_of(input)
    d = norm_dim(dim, len(shape), "unflatten") + len(shape)
    sizes = tuple(int(n) for n in sizes)
    known = int(np.prod([n for n in sizes if n != -1]))
    if sizes.count(-1) > 1 or (-1 not in sizes and known != shape[d]) or (
            -1 in sizes and (known == 0 or shape[d] % known)):
        raise OpError(f"unflatten: sizes {sizes} do not multiply to {shape[d]}, the size of "
                      f"dim {dim} of a tensor of shape {shape}")
    return reshape(input, shape[:d] + sizes + shape[d + 1:])


def squeeze(input: Any, dim: Any = None) -> Tensor:
    """Drop dims of size 1 (all of them, or those in ``dim``)."""
    shape = shape_of(input)
    if dim is None:
        return reshape(input, tuple(s for s in shape if s != 1))
    dims = norm_dims(dim, len(shape), "squeeze") or ()
    nd = len(shape)
    return reshape(input, tuple(s for i, s in enumerate(shape) if not (i - nd in dims and s == 1)))


def unsqueeze(input: Any, dim: int) -> Tensor:
    """Insert a dim of size 1 at ``dim`` (``-1`` appends)."""
    shape = list(shape_of(input))
    d = norm_dim(dim, len(shape) + 1, "unsqueeze") + len(shape) + 1
    shape.insert(d, 1)
    return reshape(input, tuple(shape))


expand_dims = unsqueeze


def broadcast_to(input: Any, shape: int | Sequence[int]) -> Tensor:
    """A read-only broadcast view; its gradient sums over the copies."""
    shape = (int(shape),) if isinstance(shape, (int, np.integer)) else tuple(
        int(s) for s in shape)
    old = shape_of(input)
    if len(shape) < len(old):
        raise OpError(f"expand: a tensor of shape {old} cannot be expanded to {shape}: the "
                      f"target needs at least {len(old)} dims")
    full = tuple(o if s == -1 else s for s, o in zip(shape[len(shape) - len(old):], old))
    shape = shape[:len(shape) - len(old)] + full
    if builtins.any(s < 0 for s in shape) or builtins.any(
            o != s and o != 1 for o, s in zip(old, full)):
        raise OpError(f"expand: a tensor of shape {old} cannot be expanded to {shape}: each "
                      "dim must match or be 1 (-1 keeps a dim; new dims go in front)")
    if shape == old and is_tensor(input):
        return input
    return S.expand(input, shape=shape)


def expand(input: Any, *sizes: Any) -> Tensor:
    return broadcast_to(input, _shape_arg(sizes, "expand"))


def cat(tensors: Sequence[Any], dim: int | None = None, *, axis: Any = None) -> Tensor:
    """Join tensors along an existing dim."""
    tensors = list(tensors)
    if not tensors:
        raise OpError("cat: expected a non-empty list of tensors")
    dtype = None
    if builtins.any(shape_of(t) == (0,) for t in tensors):
        # as PyTorch: a 1-d empty tensor (torch.tensor([])) is skipped, whatever the others'
        # dims, but its dtype still takes part in the promotion
        dtypes = [_data(t).dtype for t in tensors]
        floats = [t for t in dtypes if t.kind == "f"]  # (an int with a float: the float's)
        dtype = builtins.max(floats, key=lambda t: t.itemsize) if floats else \
            np.result_type(*dtypes)
        tensors = [t for t in tensors if shape_of(t) != (0,)] or tensors[:1]
    nd = ndim_of(tensors[0])
    dim = _dim_or(0, dim, axis, "cat")
    d = norm_dim(dim, nd, "cat")
    shapes = [shape_of(t) for t in tensors]
    for s in shapes:
        rest, first = s[:nd + d] + s[nd + d + 1:], shapes[0][:nd + d] + shapes[0][nd + d + 1:]
        if len(s) != nd or rest != first:
            raise OpError(f"cat: shapes {shapes} must match except in dim {dim}")
    out = S.cat(*tensors, dim=d)  # (of one tensor too: a copy, never the input itself)
    return out if dtype is None or out.dtype == dtype else out.to(dtype)


concatenate = concat = cat


def stack(tensors: Sequence[Any], dim: int | None = None, *, axis: Any = None) -> Tensor:
    """Join tensors along a new dim."""
    tensors = list(tensors)
    if not tensors:
        raise OpError("stack: expected a non-empty list of tensors")
    shapes = {shape_of(t) for t in tensors}
    if len(shapes) > 1:
        raise OpError(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    nd = ndim_of(tensors[0]) + 1
    d = norm_dim(_dim_or(0, dim, axis, "stack"), nd, "stack")
    return cat([unsqueeze(t, d) for t in tensors], dim=d)


def split(tensor: Any, split_size_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or given sizes."""
    shape = shape_of(tensor)
    d = norm_dim(dim, len(shape), "split")
    n = shape[d]
    if isinstance(split_size_or_sections, (int, np.integer)):
        split_size_or_sections = int(split_size_or_sections)
        if split_size_or_sections <= 0:
            raise OpError(f"split: split_size must be positive, got {split_size_or_sections}")
        sizes = [split_size_or_sections] * (n // split_size_or_sections)
        if n % split_size_or_sections or not n:  # (an empty dim: one empty piece)
            sizes.append(n % split_size_or_sections)
    else:
        sizes = [int(k) for k in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.any(k < 0 for k in sizes):
            raise OpError(f"split: sizes {sizes} do not add up to {n}, the size of dim {dim}")
    out, start = [], 0
    for s in sizes:
        key = (Ellipsis, slice(start, start + s)) + (slice(None),) * (-d - 1)
        out.append(I.getitem(tensor, key=I.canonical_key(key, len(shape))))
        start += s
    return tuple(out)


def chunk(input: Any, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
    """``chunks`` pieces of (nearly) equal size along ``dim``."""
    n = shape_of(input)[norm_dim(dim, ndim_of(input), "chunk")]
    if not isinstance(chunks, (int, np.integer)) or chunks <= 0:
        raise OpError(f"chunk: chunks must be a positive int, got {chunks!r}")
    if not n:  # an empty dim: `chunks` empty pieces, as PyTorch
        return split(input, [0] * int(chunks), dim)
    return split(input, -(-n // chunks), dim)


def pad(input: Any, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad with PyTorch's convention: ``pad = (last_left, last_right, prev_left, ...)``;
    ``mode`` 'constant', or 'reflect', 'replicate', 'circular' (``cr.nn.functional.pad``)."""
    if mode != "constant":
        from .nn.functional.conv import pad as pad_by_mode

        return pad_by_mode(input, pad, mode, value or None)
    if len(pad) % 2 or len(pad) // 2 > ndim_of(input):
        raise OpError(f"pad: pad {tuple(pad)} must have an even length of at most "
                      f"2 × {ndim_of(input)} entries")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, len(pad), 2)][::-1]
    if builtins.any(a < 0 or b < 0 for a, b in pairs):
        return _negative_pad(input, pairs, value)
    return S.constant_pad(input, widths=tuple(pairs), value=value)


def _negative_pad(input: Any, pairs: list, value: float) -> Tensor:
    n = len(pairs)
    shape = shape_of(input)
    for k, (a, b) in enumerate(pairs):
        if shape[len(shape) - n + k] + builtins.min(a, 0) + builtins.min(b, 0) < 0:
            # (cropped first, then padded, as PyTorch: the crop alone may not overdraw)
            raise OpError(f"pad: pad {(a, b)} removes more than the {shape[len(shape) - n + k]} "
                          f"elements of dim {k - n} of a tensor of shape {shape}")
    key = (Ellipsis,) + tuple(slice(-a if a < 0 else 0, shape[len(shape) - n + k] + b if b < 0
                                    else None) for k, (a, b) in enumerate(pairs))
    cut = I.getitem(input, key=I.canonical_key(key, len(shape)))
    return S.constant_pad(cut, widths=tuple((builtins.max(a, 0), builtins.max(b, 0))
                                            for a, b in pairs), value=value)


def flip(input: Any, dims: Any) -> Tensor:
    dims = norm_dims(dims, ndim_of(input), "flip")
    return S.flip(input, dims=dims if ndim_of(input) else ())  # (a 0-d tensor's dim 0: itself)


def roll(input: Any, shifts: Any, dims: Any = None) -> Tensor:
    if dims is None:
        if np.ndim(shifts) and len(shifts) != 1:
            raise OpError(f"roll: without dims, shifts must be one number, got {tuple(shifts)}")
        return S.roll(input, shifts=int(shifts) if np.ndim(shifts) == 0 else int(shifts[0]),
                      dims=None)
    shifts = (int(shifts),) if np.ndim(shifts) == 0 else tuple(int(s) for s in shifts)
    dims = (dims,) if isinstance(dims, (int, np.integer)) else tuple(dims)
    if len(shifts) != len(dims):
        raise OpError(f"roll: shifts {shifts} and dims {dims} must have the same length")
    return S.roll(input, shifts=shifts, dims=tuple(norm_dim(d, ndim_of(input), "roll")
                                                   for d in dims))


def tile(input: Any, dims: Sequence[int]) -> Tensor:
    """Repeat the whole tensor ``dims[i]`` times along each dim (NumPy's tile)."""
    reps = _shape_arg((dims,), "tile")
    nd = ndim_of(input)
    reps = (1,) * (nd - len(reps)) + reps
    return S.tile(input, reps=reps)


def repeat(input: Any, *sizes: Any) -> Tensor:
    """PyTorch's ``Tensor.repeat``: like ``tile`` but needs at least one size per dim."""
    reps = _shape_arg(sizes, "repeat")
    if len(reps) < ndim_of(input):
        raise OpError(f"repeat: give at least {ndim_of(input)} sizes (one per dim), got {reps}")
    return S.tile(input, reps=reps)


def clone(input: Any, *, order: str = "K") -> Tensor:
    """A copy of ``input`` with its own memory, in its memory layout (``order="K"``, as
    PyTorch's ``preserve_format``) or in row order (``"C"``, what ``contiguous()`` needs)."""
    return S.clone(input, order=order) if order != "K" else S.clone(input)


def tril(input: Any, diagonal: int = 0) -> Tensor:
    return _triangle(input, np.tril, diagonal)


def triu(input: Any, diagonal: int = 0) -> Tensor:
    return _triangle(input, np.triu, diagonal)


def _triangle(input: Any, keep: Any, diagonal: int) -> Tensor:
    """``input`` where ``keep`` (np.tril or np.triu) keeps it, else 0: a selection (not a
    product with the mask, whose inf·0 is NaN and -x·0 is -0.0), so the gradient there is 0
    even from a NaN upstream, as PyTorch's."""
    x = _tensor_arg(input)
    n, m = x.shape[-2:]
    return E.where(keep(np.ones((n, m), dtype=bool), diagonal), x, x.dtype.type(0))


def diagonal(input: Any, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The ``offset`` diagonal (above the main one when positive) of the matrices whose rows
    are ``dim1`` and columns ``dim2``, as a new last dim (those two removed): a view, as in
    PyTorch (writing into it writes into ``input``)."""
    return _diagonal(input, offset, dim1, dim2)


def _diagonal(input: Any, offset: int, dim1: int, dim2: int) -> Tensor:
    nd = ndim_of(input)
    if nd < 2:
        raise OpError(f"diagonal: needs a tensor of at least 2 dims, got shape "
                      f"{shape_of(input)}")
    a, b = norm_dim(dim1, nd, "diagonal"), norm_dim(dim2, nd, "diagonal")
    if a == b:
        raise OpError(f"diagonal: dim1 and dim2 must differ, got {dim1} and {dim2}")
    x = input if (a, b) == (-2, -1) else movedim(input, (a + nd, b + nd), (nd - 2, nd - 1))
    return I.diagonal(x, offset=int(offset))


def trace(input: Any) -> Tensor:
    return sum(_diagonal(input, 0, -2, -1), dim=-1)


# --------------------------------------------------------------------------- indexing

def index_select(input: Any, dim: int, index: Any) -> Tensor:
    nd = ndim_of(input)
    d = norm_dim(dim, nd, "index_select")
    idx = np.asarray(_data(index))
    if nd == 0:  # a 0-d input counts as one element (as PyTorch); the result stays 0-d
        if idx.size != 1:
            raise OpError(f"index_select: a 0-d input takes an index of one element, got shape "
                          f"{idx.shape}")
        I.check_index(idx, 1, "index_select", negative=False)
        return S.clone(input)
    if idx.ndim > 1:
        raise OpError(f"index_select: index must be 1-D (or a single number), got shape "
                      f"{idx.shape}")
    idx = I.check_index(idx.reshape(-1), shape_of(input)[d], "index_select",
                          negative=False)
    return I.getitem(input, key=(slice(None),) * (nd + d) + (idx,))


def take_along_dim(input: Any, indices: Any, dim: int | None = None) -> Tensor:
    """Values at ``indices`` along ``dim`` (``dim=None``: of the flattened tensor)."""
    idx = np.asarray(_data(indices))
    if dim is None:
        input, dim = reshape(input, (-1,)), -1
        idx = idx.reshape(-1)
    d = norm_dim(dim, ndim_of(input), "take_along_dim")
    if idx.ndim != ndim_of(input):
        raise OpError(f"take_along_dim: indices {idx.shape} must have as many dims as the "
                      f"input {shape_of(input)}")
    I.check_index(idx, shape_of(input)[d], "take_along_dim")
    return I.take_along(input, index=idx, dim=d)


def gather(input: Any, dim: int, index: Any) -> Tensor:
    """``out[i][j] = input[index[i][j]][j]`` (for dim 0), as ``torch.gather``."""
    idx = np.asarray(_data(index))
    nd = ndim_of(input)
    d = norm_dim(dim, nd, "gather")
    if nd == 0:  # a 0-d input counts as one element (as PyTorch): copies of it, index-shaped
        I.check_index(idx, 1, "gather", negative=False)
        return S.clone(broadcast_to(input, idx.shape))
    if idx.ndim != nd or builtins.any(idx.shape[k] > shape_of(input)[k]
                                      for k in range(nd) if k != nd + d):
        raise OpError(f"gather: index of shape {idx.shape} does not fit input of shape "
                      f"{shape_of(input)} (same number of dims; no larger except in dim {dim})")
    I.check_index(idx, shape_of(input)[d], "gather", negative=False)
    key = tuple(slice(None) if k == nd + d else slice(0, idx.shape[k]) for k in range(nd))
    x = input if key == (slice(None),) * nd else I.getitem(input, key=key)
    return I.take_along(x, index=idx, dim=d)


def scatter_add(input: Any, dim: int, index: Any, src: Any) -> Tensor:
    """``input`` plus ``src`` added at ``index`` along ``dim``; repeats accumulate."""
    idx = np.asarray(_data(index))
    nd = ndim_of(input)
    d = norm_dim(dim, nd, "scatter_add")
    xs, ss = shape_of(input), shape_of(src)
    if idx.ndim != nd or len(ss) != nd or builtins.any(
            idx.shape[k] > ss[k] or (k != nd + d and idx.shape[k] > xs[k]) for k in range(nd)):
        raise OpError(f"scatter_add: index of shape {idx.shape} must have the {nd} dims of the "
                      f"input {xs} and src {ss}, and be no larger than src in any dim, nor than "
                      f"the input except in dim {dim}")
    I.check_index(idx, shape_of(input)[d], "scatter_add", negative=False)
    src_key = tuple(slice(0, s) for s in idx.shape)
    part = I.getitem(src, key=src_key) if shape_of(src) != idx.shape else src
    return E.add(input, I.index_scatter(part, key=I._full_index(idx, d),
                                        shape=shape_of(input)))


def masked_fill(input: Any, mask: Any, value: Any) -> Tensor:
    """``value`` where ``mask`` is True, else ``input``."""
    m = _data(mask)
    if m.dtype != np.bool_:
        raise TypeError(f"masked_fill: the mask must be a boolean tensor, got dtype {m.dtype} "
                        f"(shape {m.shape}); compare first, e.g. mask != 0")
    try:
        full = np.broadcast_shapes(m.shape, shape_of(input))
    except ValueError:
        full = None
    if full != shape_of(input):
        raise OpError(f"masked_fill: a mask of shape {m.shape} does not broadcast to the input's "
                      f"shape {shape_of(input)}")
    dtype = _data(input).dtype
    if is_tensor(value):
        if value.dtype != dtype:  # the result keeps the input's dtype, as PyTorch's
            value = value.to(dtype)
    else:  # a number or array value takes the input's dtype, as PyTorch
        value = np.asarray(value).astype(dtype)
    return E.where(m.astype(bool), value, input)


# --------------------------------------------------------------------------- sorting and statistics
# (PyTorch's torch.return_types: named tuples with the same names and fields)
_Sort = namedtuple("sort", ["values", "indices"])  # type: ignore[name-match]
_Topk = namedtuple("topk", ["values", "indices"])  # type: ignore[name-match]
_Kthvalue = namedtuple("kthvalue", ["values", "indices"])  # type: ignore[name-match]
_Median = namedtuple("median", ["values", "indices"])  # type: ignore[name-match]
_Nanmedian = namedtuple("nanmedian", ["values", "indices"])  # type: ignore[name-match]
_Mode = namedtuple("mode", ["values", "indices"])  # type: ignore[name-match]
_Cummax = namedtuple("cummax", ["values", "indices"])  # type: ignore[name-match]
_Cummin = namedtuple("cummin", ["values", "indices"])  # type: ignore[name-match]
_Aminmax = namedtuple("aminmax", ["min", "max"])  # type: ignore[name-match]


def _tensor_arg(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else as_tensor(x)


def _last_axis(find: Any, x: np.ndarray, d: int) -> np.ndarray:
    """``find`` (a NumPy function of the last axis) applied along the negative dim ``d``."""
    return np.moveaxis(find(np.moveaxis(x, d, -1)), -1, d)


def _selected(x: Tensor, index: np.ndarray, d: int, keepdim: bool,
              result: Any) -> Any:
    """(values, indices) at ``index`` (a kept dim of size 1 along ``d``): the gradient goes to
    the selected elements, as PyTorch's."""
    values = I.take_along(x, index=index, dim=d)
    indices = Tensor._make(index.astype(np.int64, copy=False))
    if not keepdim:
        values, indices = squeeze(values, d), squeeze(indices, d)
    return result(values, indices)


def _select_one(name: str, input: Any, dim: int, keepdim: bool, find: Any, result: Any) -> Any:
    """A value and its index per row along ``dim`` (kthvalue, median, mode); a 0-d input is a
    row of one."""
    x = _tensor_arg(input)
    d = norm_dim(dim, x.ndim, name)
    if not x.ndim:
        out = _select_one(name, reshape(x, (1,)), -1, False, find, result)
        return result(reshape(out.values, ()), reshape(out.indices, ()))
    if not x.shape[d]:
        raise IndexError(f"{name}(): expected reduction dim {dim} to have non-zero size, got "
                         f"shape {x.shape}")
    return _selected(x, _last_axis(find, x.data, d), d, keepdim, result)


def sort(input: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Any:
    """(values, indices) sorted along ``dim``. Always stable (ties keep their order, as
    PyTorch's ``stable=True``; with ``stable=False`` PyTorch may order ties otherwise); NaN sorts
    above every number. The gradient goes back to the sorted positions."""
    x = _tensor_arg(input)
    d = norm_dim(dim, x.ndim, "sort")
    if not x.ndim:
        return _Sort(S.clone(x), Tensor._make(np.zeros((), np.int64)))
    order = _last_axis(lambda a: _SO.stable_order(a, descending), x.data, d)
    return _Sort(I.take_along(x, index=order, dim=d), Tensor._make(order))


def argsort(input: Any, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """The indices that sort ``dim`` (stable; NaN last, or first when descending)."""
    return sort(input, dim, descending, stable).indices


def msort(input: Any) -> Tensor:
    """The values sorted along dim 0."""
    return sort(input, 0).values


def topk(input: Any, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> Any:
    """The ``k`` largest (or smallest) values along ``dim`` with their indices, in order.

    Differs from PyTorch: among tied values the first ones (by position) are taken, where
    PyTorch's selection algorithm may take others (same values; the gradient goes to the
    indices returned). ``sorted=False`` still returns them sorted."""
    x = _tensor_arg(input)
    d = norm_dim(dim, x.ndim, "topk")
    n = x.shape[d] if x.ndim else 1
    if not isinstance(k, (int, np.integer)) or not 0 <= k <= n:
        raise RuntimeError(f"topk: selected index k={k!r} is out of range for dim {dim} of size "
                           f"{n}; give 0 <= k <= {n}")
    if not x.ndim:
        if k == 0:
            raise RuntimeError("topk: k=0 from a 0-d tensor; reshape it to (1,) first")
        return _Topk(S.clone(x), Tensor._make(np.zeros((), np.int64)))
    order = _last_axis(lambda a: _SO.stable_order(a, largest)[..., :k], x.data, d)
    return _Topk(I.take_along(x, index=order, dim=d), Tensor._make(order))


def kthvalue(input: Any, k: int, dim: int = -1, keepdim: bool = False) -> Any:
    """The ``k``-th smallest value along ``dim`` (k from 1) and its index. Among tied values the
    index may differ from PyTorch's (its selection algorithm decides); the value is the same."""
    x = _tensor_arg(input)
    n = x.shape[norm_dim(dim, x.ndim, "kthvalue")] if x.ndim else 1
    # (an empty dim gets _select_one's IndexError, as in PyTorch, whatever k is)
    if n and (not isinstance(k, (int, np.integer)) or not 1 <= k <= n):
        raise RuntimeError(f"kthvalue(): k={k!r} is out of range for dim {dim} of size {n}; "
                           f"give 1 <= k <= {n}")
    return _select_one("kthvalue", x, dim, keepdim,
                       lambda a: _SO.stable_order(a)[..., k - 1:k], _Kthvalue)


def median(input: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Without ``dim``: the lower median of all elements (NaN if any is NaN); its gradient is
    shared equally by the elements equal to it, as PyTorch's. With ``dim``: (values, indices),
    the gradient to the index returned (among ties it may differ from PyTorch's)."""
    if dim is None:
        return _median_of_all(_tensor_arg(input), ignore_nan=False)
    return _select_one("median", input, dim, keepdim,
                       lambda a: _SO.median_index(a, ignore_nan=False), _Median)


def nanmedian(input: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """``median`` ignoring NaN (NaN only where all values are NaN)."""
    if dim is None:
        return _median_of_all(_tensor_arg(input), ignore_nan=True)
    return _select_one("nanmedian", input, dim, keepdim,
                       lambda a: _SO.median_index(a, ignore_nan=True), _Nanmedian)


def _median_of_all(x: Tensor, ignore_nan: bool) -> Tensor:
    flat = x.data.reshape(1, -1)
    if not flat.size:
        return Tensor._make(np.asarray(np.nan, np.result_type(x.dtype, np.float32)))
    m = np.take_along_axis(flat, _SO.median_index(flat, ignore_nan), axis=-1).reshape(())
    if x.dtype.kind not in "fc":
        return Tensor._make(m)
    hit = np.isnan(flat[0]) if np.isnan(m) else flat[0] == m  # (NaN: shared by the NaNs)
    share = (hit / hit.sum()).astype(x.dtype)
    if not np.isfinite(m):  # NaN or ±inf: Σ share·x is exactly m (where x - x would be NaN)
        return R.sum(E.mul(E.where(hit, reshape(x, (-1,)), 0.0), share),
                     dim=(-1,), keepdim=False)
    return _with_gradient(m, reshape(x, (-1,)), share, (-1,), False)


def _with_gradient(value: np.ndarray, x: Tensor, weight: np.ndarray, dims: tuple[int, ...],
                   keepdim: bool) -> Tensor:
    """``value`` (found apart) as a function of ``x`` with ∂value/∂x = ``weight``: value plus
    Σ weight·(x - x), the first x recorded, the second detached, so the sum adds exact zeros
    (±inf and NaN elements, whose difference would be NaN, are left out: no gradient there;
    so are those of weight 0, which then get an exact 0 even from a NaN upstream gradient,
    as PyTorch's masked_fill gives them)."""
    used = np.isfinite(x.data) & (weight != 0)
    zero = E.sub(E.where(used, x, 0.0), E.where(used, x.detach(), 0.0))
    return E.add(R.sum(E.mul(zero, weight), dim=dims, keepdim=keepdim), value)


def mode(input: Any, dim: int = -1, keepdim: bool = False) -> Any:
    """The most frequent value along ``dim`` (the smallest of equally frequent ones) and the
    index of its last occurrence, as PyTorch. NaNs never count as equal and sort above
    numbers; PyTorch's result with NaNs depends on where they stand (a leading NaN can win)."""
    return _select_one("mode", input, dim, keepdim, _SO.mode_index, _Mode)


def _cumulative_extreme(name: str, input: Any, dim: int, largest: bool, result: Any) -> Any:
    x = _tensor_arg(input)
    d = norm_dim(dim, x.ndim, name)
    if not x.ndim:
        return result(S.clone(x), Tensor._make(np.zeros((), np.int64)))
    index = _last_axis(lambda a: _SO.cumulative_extreme_index(a, largest), x.data, d)
    return result(I.take_along(x, index=index, dim=d), Tensor._make(index.astype(np.int64)))


def cummax(input: Any, dim: int) -> Any:
    """(running maximum along ``dim``, the index where it was reached: the latest of ties, as
    PyTorch); NaN propagates. The gradient goes to those indices."""
    return _cumulative_extreme("cummax", input, dim, True, _Cummax)


def cummin(input: Any, dim: int) -> Any:
    """(running minimum along ``dim``, its index); as ``cummax``."""
    return _cumulative_extreme("cummin", input, dim, False, _Cummin)


def logcumsumexp(input: Any, dim: int) -> Tensor:
    """``log Σ_{i≤j} exp(x_i)`` along ``dim``, computed stably (for any range of values)."""
    x = _tensor_arg(input)
    _need_float("logcumsumexp", x)
    return _along_one_dim(_SO.logcumsumexp, "logcumsumexp", x, dim)


def _need_float(name: str, x: Tensor, what: str = "input") -> None:
    if x.dtype.kind not in "fc":
        raise TypeError(f"{name}(): the {what} must have a floating point dtype, got {x.dtype}; "
                        "convert it with x.float() or x.double()")


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def quantile(input: Any, q: Any, dim: int | None = None, keepdim: bool = False, *,
             interpolation: str = "linear") -> Tensor:
    """The ``q``-th quantiles (q a number or a 1-D tensor in [0, 1]) along ``dim`` (None: of
    all elements), interpolated between the sorted values as ``interpolation`` says; NaN where a
    row holds a NaN. A 1-D ``q`` adds a leading dim. The gradient flows through the sort to the
    values interpolated (weights 1 - w and w), as PyTorch's."""
    return _quantile("quantile", input, q, dim, keepdim, interpolation, ignore_nan=False)


def nanquantile(input: Any, q: Any, dim: int | None = None, keepdim: bool = False, *,
                interpolation: str = "linear") -> Tensor:
    """``quantile`` ignoring NaN (NaN only where a row is all NaN)."""
    return _quantile("nanquantile", input, q, dim, keepdim, interpolation, ignore_nan=True)


def _quantile_q(name: str, x: Tensor, q: Any) -> tuple[np.ndarray, bool]:
    """q as a 1-D array in the input's dtype, and whether it was a scalar."""
    if is_tensor(q):
        if q.dtype != x.dtype:
            raise RuntimeError(f"{name}() q tensor must be same dtype as the input tensor: "
                               f"{q.dtype} vs {x.dtype}; convert q with q.to(x.dtype)")
        if q.ndim > 1:
            raise RuntimeError(f"{name}() q must be a scalar or 1D tensor, got shape {q.shape}")
        qs, scalar = q.data.reshape(-1), q.ndim == 0
    else:
        qs, scalar = np.asarray([q], dtype=x.dtype), True
    bad = qs[~((qs >= 0) & (qs <= 1))]
    if bad.size:
        raise RuntimeError(f"{name}() q must be in the range [0, 1] but got {bad[0]}")
    return qs, scalar


def _quantile(name: str, input: Any, q: Any, dim: Any, keepdim: bool, interpolation: str,
              ignore_nan: bool) -> Tensor:
    x = _tensor_arg(input)
    if x.dtype not in (np.float32, np.float64):
        raise RuntimeError(f"{name}() input tensor must be either float or double dtype, got "
                           f"{x.dtype}; convert it with x.double()")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{name}() interpolation must be one of {_INTERPOLATIONS}, got "
                         f"{interpolation!r}")
    qs, scalar = _quantile_q(name, x, q)
    if not x.data.size:
        raise RuntimeError(f"{name}() input tensor must be non-empty (got shape {x.shape})")
    nd = x.ndim
    if dim is None:
        rows = reshape(x, (-1,))
    else:
        d = norm_dim(dim, nd, name)
        rows = movedim(x, d, -1) if nd else reshape(x, (1,))
    out = _interpolate_sorted(sort(rows, -1).values, qs, interpolation, ignore_nan)
    # out: (..., len(q)) -> q's dim first (or none for a scalar q), the reduced dims kept as 1
    out = squeeze(out, -1) if scalar else movedim(out, -1, 0)
    if keepdim:
        lead = () if scalar else (len(qs),)
        if dim is None:
            return reshape(out, lead + (1,) * nd)
        kept = list(x.shape)
        if nd:
            kept[norm_dim(dim, nd, name)] = 1
        return reshape(out, lead + tuple(kept))
    return out


def _interpolate_sorted(s: Tensor, qs: np.ndarray, interpolation: str,
                        ignore_nan: bool) -> Tensor:
    """The quantiles ``qs`` of each sorted row of ``s`` (NaN last), in a new last dim."""
    n = s.shape[-1]
    nans = _SO.nan_count(s.data)
    valid = n - nans if ignore_nan else np.full_like(nans, n)
    rank = qs * (valid - 1).astype(s.dtype)  # (..., len(q))
    # A row that must be NaN reads a NaN, where PyTorch's gradient goes: in quantile (a row
    # with a NaN) the last sorted value, in nanquantile (a row of NaNs) the first.
    if ignore_nan:
        rank = np.where(valid == 0, 0, rank).astype(s.dtype)
    else:
        rank = np.where(nans > 0, n - 1, rank).astype(s.dtype)
    below, above = np.floor(rank), np.ceil(rank)
    if interpolation == "lower":
        return I.take_along(s, index=below.astype(np.int64), dim=-1)
    if interpolation == "higher":
        return I.take_along(s, index=above.astype(np.int64), dim=-1)
    if interpolation == "nearest":  # (NumPy's and PyTorch's round: halves to even)
        return I.take_along(s, index=np.round(rank).astype(np.int64), dim=-1)
    weight = rank - below if interpolation == "linear" else np.where(above > below, 0.5, 0.0)
    lo = I.take_along(s, index=below.astype(np.int64), dim=-1)
    hi = I.take_along(s, index=above.astype(np.int64), dim=-1)
    return E.lerp(lo, hi, weight.astype(s.dtype))


def aminmax(input: Any, *, dim: int | None = None, keepdim: bool = False) -> Any:
    """(min, max) over ``dim`` (or all elements); ties share the gradient, as amin and amax."""
    x = _tensor_arg(input)
    empty = not x.data.size if dim is None else (
        x.ndim and not x.shape[norm_dim(dim, x.ndim, "aminmax")])
    if empty:
        raise RuntimeError(f"aminmax(): cannot compute aminmax over an empty dimension of a "
                           f"tensor of shape {x.shape}: the operation has no identity")
    return _Aminmax(amin(x, dim, keepdim), amax(x, dim, keepdim))


def nansum(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """``sum`` with NaN counted as 0 (no gradient to NaN elements)."""
    x = _tensor_arg(input) if dtype is None else _tensor_arg(input).to(dtype)
    if x.dtype.kind in "fc":
        x = E.where(np.isnan(x.data), 0.0, x)
    return sum(x, dim, keepdim)


def nanmean(input: Any, dim: Any = None, keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """``mean`` of the values that are not NaN (NaN where there are none)."""
    x = _tensor_arg(input) if dtype is None else _tensor_arg(input).to(dtype)
    if x.dtype.kind not in "fc":
        raise RuntimeError(f"nanmean(): expected input to have floating point dtype but got "
                           f"{x.dtype}; convert it with x.float()")
    dims = _reduce_dims(x, dim, None, "nanmean")
    count = (~np.isnan(x.data)).sum(axis=dims, keepdims=keepdim).astype(x.dtype)
    with np.errstate(invalid="ignore", divide="ignore"):
        return E.div(nansum(x, dims, keepdim), count)


def std_mean(input: Any, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
             *, correction: float | None = None) -> tuple[Tensor, Tensor]:
    """``(std(...), mean(...))`` over the same dims (arguments as ``std``)."""
    return (std(input, dim, unbiased, keepdim, correction=correction),
            mean(input, None if isinstance(dim, bool) else dim, keepdim))


def var_mean(input: Any, dim: Any = None, unbiased: bool | None = None, keepdim: bool = False,
             *, correction: float | None = None) -> tuple[Tensor, Tensor]:
    """``(var(...), mean(...))`` over the same dims (arguments as ``var``)."""
    return (var(input, dim, unbiased, keepdim, correction=correction),
            mean(input, None if isinstance(dim, bool) else dim, keepdim))


def count_nonzero(input: Any, dim: Any = None) -> Tensor:
    """How many elements are not 0 over ``dim`` (an int, a tuple, or None for all): int64."""
    x = _tensor_arg(input)
    dims = _reduce_dims(x, dim, None, "count_nonzero")
    return Tensor._make(np.asarray(np.count_nonzero(x.data, axis=dims), np.int64))


def diff(input: Any, n: int = 1, dim: int = -1, prepend: Any = None,
         append: Any = None) -> Tensor:
    """The ``n``-th forward difference along ``dim`` (``prepend``/``append`` joined first);
    bools give ``x[i+1] != x[i]``, as PyTorch."""
    x = _tensor_arg(input)
    if not x.ndim:
        raise RuntimeError("diff expects input to be at least one-dimensional; reshape a 0-d "
                           "tensor to (1,)")
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise RuntimeError(f"diff: order n must be non-negative, got {n!r}")
    d = norm_dim(dim, x.ndim, "diff")
    if n == 0:  # (prepend and append are not joined then, as in PyTorch)
        return x
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        parts = [_tensor_arg(p) for p in parts]
        for p in parts:
            if p.ndim != x.ndim:
                raise RuntimeError(f"diff: prepend/append of shape {p.shape} must have the "
                                   f"{x.ndim} dims of the input {x.shape}")
        x = cat(parts, d)
    for _ in range(int(n)):
        size = x.shape[d]
        if not size:
            break
        later = I.getitem(x, key=I.canonical_key(_along_dim(d, slice(1, None)), x.ndim))
        earlier = I.getitem(x, key=I.canonical_key(_along_dim(d, slice(0, size - 1)), x.ndim))
        x = E.ne(later, earlier) if x.dtype == np.bool_ else E.sub(later, earlier)
    return x


def _along_dim(d: int, sl: slice) -> tuple:
    """An index selecting ``sl`` along the negative dim ``d``."""
    return (Ellipsis, sl) + (slice(None),) * (-d - 1)


def unique(input: Any, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None) -> Any:
    """The distinct values (sorted), or with ``dim`` the distinct slices along it; optionally
    the inverse (where each element went) and the counts. NaNs stay distinct, as PyTorch's.
    No gradient (PyTorch has none either)."""
    x = _tensor_arg(input).data
    _no_dim_of_0d("unique", x, dim)
    if dim is None:
        values, inverse, counts = np.unique(x.reshape(-1), return_inverse=True,
                                            return_counts=True, equal_nan=False)
        inverse = inverse.reshape(x.shape)
    else:
        d = norm_dim(dim, x.ndim, "unique")
        values, inverse, counts = np.unique(x, return_inverse=True, return_counts=True,
                                            axis=d + x.ndim, equal_nan=False)
        inverse = inverse.reshape(-1)
    return _unique_result(values, inverse, counts, return_inverse, return_counts)


def _no_dim_of_0d(name: str, x: np.ndarray, dim: Any) -> None:
    if dim is not None and not x.ndim:
        raise _OpIndexError(f"{name}: dim {dim} given, but the tensor has no dimensions; "
                            "reshape it to 1-D or leave dim out")


def _unique_result(values: np.ndarray, inverse: np.ndarray, counts: np.ndarray,
                   return_inverse: bool, return_counts: bool) -> Any:
    out = [Tensor._make(values)]
    if return_inverse:
        out.append(Tensor._make(inverse.astype(np.int64)))
    if return_counts:
        out.append(Tensor._make(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(input: Any, return_inverse: bool = False, return_counts: bool = False,
                       dim: int | None = None) -> Any:
    """Each run of equal consecutive values (or slices along ``dim``) kept once; optionally the
    inverse and the run lengths. No gradient."""
    x = _tensor_arg(input).data
    _no_dim_of_0d("unique_consecutive", x, dim)
    moved = x.reshape(-1) if dim is None else np.moveaxis(x, norm_dim(dim, x.ndim,
                                                                      "unique_consecutive"), 0)
    starts = _SO.consecutive_groups(moved)
    values = moved[starts]
    if dim is not None:
        values = np.moveaxis(values, 0, norm_dim(dim, x.ndim, "unique_consecutive"))
    inverse = np.cumsum(starts) - 1
    counts = np.diff(np.append(np.flatnonzero(starts), moved.shape[0]))
    return _unique_result(values, inverse.reshape(x.shape) if dim is None else inverse, counts,
                          return_inverse, return_counts)


def bincount(input: Any, weights: Any = None, minlength: int = 0) -> Tensor:
    """How often each value 0, 1, ... occurs in a 1-D non-negative integer tensor (summing
    ``weights`` instead of 1 if given). No gradient (PyTorch has none for weights either)."""
    x = _tensor_arg(input).data
    if x.ndim != 1 or x.dtype.kind not in "iub" or (x.size and x.min() < 0):
        raise RuntimeError(f"bincount only supports 1-d non-negative integral inputs, got shape "
                           f"{x.shape}, dtype {x.dtype}")
    if weights is None:
        return Tensor._make(np.bincount(x, minlength=minlength).astype(np.int64))
    w = _tensor_arg(weights).data
    if w.shape != x.shape:
        raise RuntimeError(f"bincount: weights of shape {w.shape} must have the input's shape "
                           f"{x.shape}")
    out = np.bincount(x, weights=w, minlength=minlength)
    return Tensor._make(out.astype(w.dtype if w.dtype.kind == "f" else np.float64))


def histc(input: Any, bins: int = 100, min: float = 0, max: float = 0) -> Tensor:
    """A histogram of ``bins`` equal bins over [min, max] (both 0: the data's range); values
    outside are left out, ``max`` falls in the last bin. No gradient."""
    x = _tensor_arg(input).data
    if x.dtype.kind != "f":
        raise RuntimeError(f"histc: the input must be a floating point tensor, got {x.dtype}; "
                           "convert it with x.float()")
    if bins <= 0:
        raise RuntimeError(f"histc: bins must be > 0, got {bins}")
    lo, hi = float(min), float(max)
    if lo == hi and x.size:
        lo, hi = float(x.min()), float(x.max())
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if lo > hi or not (math.isfinite(lo) and math.isfinite(hi)):
        raise RuntimeError(f"histc: the range [{lo}, {hi}] must be finite with min <= max")
    # The bin of each value as PyTorch computes it: in the input's dtype (so a value on a bin
    # edge lands where PyTorch puts it)
    lo_, hi_ = x.dtype.type(lo), x.dtype.type(hi)
    inside = x[(x >= lo_) & (x <= hi_)]
    pos = ((inside - lo_) * x.dtype.type(bins) / (hi_ - lo_)).astype(np.int64)
    return Tensor._make(np.bincount(np.minimum(pos, bins - 1), minlength=bins).astype(x.dtype))


def searchsorted(sorted_sequence: Any, input: Any, *, out_int32: bool = False,
                 right: bool = False, side: str | None = None, sorter: Any = None) -> Tensor:
    """Where each value of ``input`` would go in ``sorted_sequence`` (its last dim, row by row
    when it has more dims) to keep it sorted: the first such place, or the last with
    ``right=True``/``side='right'``. ``sorter`` sorts an unsorted sequence."""
    seq = _tensor_arg(sorted_sequence).data
    scalar = not is_tensor(input) and np.ndim(input) == 0
    values = np.asarray(_data(input))
    if side is not None and side not in ("left", "right"):
        raise RuntimeError(f"searchsorted(): side must be 'left' or 'right', got {side!r}")
    if side is not None and right and side == "left":
        raise RuntimeError("torch.searchsorted(): side and right can't be set to opposites, got "
                           "side of left while right was True")
    order = None if sorter is None else np.asarray(_data(sorter))
    if order is not None and order.shape != seq.shape:
        raise RuntimeError(f"searchsorted(): sorter of shape {order.shape} must have the "
                           f"sequence's shape {seq.shape}")
    if order is not None and order.size and not 0 <= order.min() <= order.max() < seq.shape[-1]:
        raise RuntimeError(f"searchsorted(): sorter index out of range: its values must be 0 "
                           f"to {seq.shape[-1] - 1} (positions in the sequence's last dim)")
    if seq.ndim > 1 and (values.ndim != seq.ndim or values.shape[:-1] != seq.shape[:-1]):
        raise RuntimeError(f"searchsorted(): the boundaries of shape {seq.shape} and the input "
                           f"of shape {values.shape} must have the same leading dims (or give "
                           "1-D boundaries)")
    where_ = "right" if right or side == "right" else "left"
    out = _SO.search_rows(seq, values.reshape(()) if scalar else values, where_, order)
    return Tensor._make(np.asarray(out, np.int32 if out_int32 else np.int64))


def bucketize(input: Any, boundaries: Any, *, out_int32: bool = False,
              right: bool = False) -> Tensor:
    """The bucket of each value among 1-D sorted ``boundaries``: i with
    boundaries[i-1] < x <= boundaries[i] (``right=True``: boundaries[i-1] <= x < boundaries[i])."""
    if ndim_of(boundaries) != 1:
        raise RuntimeError(f"bucketize: boundaries must be 1-D, got shape {shape_of(boundaries)}")
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def nonzero(input: Any, *, as_tuple: bool = False) -> Any:
    """The indices of the non-zero elements: an (n, ndim) int64 tensor, or with ``as_tuple``
    one 1-D tensor per dim."""
    x = _tensor_arg(input).data
    if as_tuple:
        return tuple(Tensor._make(i.astype(np.int64))
                     for i in np.nonzero(x.reshape(1) if not x.ndim else x))
    return Tensor._make(np.argwhere(x).astype(np.int64))


def argwhere(input: Any) -> Tensor:
    """``nonzero(input)``: one row of indices per non-zero element."""
    return nonzero(input)


def all(input: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Whether all elements are true (over ``dim``: an int or a tuple). (This shadows Python's
    ``all`` in this module: write ``builtins.all`` here.)"""
    return _tensor_arg(input).all(dim, keepdim)


def any(input: Any, dim: Any = None, keepdim: bool = False) -> Any:
    """Whether any element is true (over ``dim``: an int or a tuple)."""
    return _tensor_arg(input).any(dim, keepdim)


def isposinf(input: Any) -> Tensor:
    """Where the values are +inf (never, for integers)."""
    x = _tensor_arg(input).data
    return Tensor._make(np.isposinf(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool))


def isneginf(input: Any) -> Tensor:
    """Where the values are -inf (never, for integers)."""
    x = _tensor_arg(input).data
    return Tensor._make(np.isneginf(x) if x.dtype.kind == "f" else np.zeros(x.shape, bool))


def nan_to_num(input: Any, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """NaN, +inf and -inf replaced by ``nan``, ``posinf`` and ``neginf`` (by default the
    dtype's largest and lowest values). The gradient passes where a value was kept and is 0
    where it was replaced, as PyTorch's."""
    x = _tensor_arg(input)
    if x.dtype.kind != "f":
        return S.clone(x)
    info = np.finfo(x.dtype)
    a = x.data
    hi = info.max if posinf is None else posinf
    lo = info.min if neginf is None else neginf
    out = E.where(np.isnan(a), np.asarray(nan, x.dtype), x)
    out = E.where(np.isposinf(a), np.asarray(hi, x.dtype), out)
    return E.where(np.isneginf(a), np.asarray(lo, x.dtype), out)


def isclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    """``|input - other| <= atol + rtol·|other|`` elementwise (equal infinities are close)."""
    a = _data(input)
    b = _data(other) if is_tensor(other) else np.asarray(other, a.dtype)
    if a.dtype != b.dtype:
        raise RuntimeError(f"isclose: {a.dtype} did not match {b.dtype}; convert one of them "
                           "with .to(dtype)")
    try:
        return Tensor._make(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
    except ValueError:
        raise OpError(f"isclose: shapes {a.shape} and {b.shape} cannot be broadcast together"
                      ) from None


def allclose(input: Any, other: Any, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> bool:
    """Whether ``isclose`` holds everywhere (a Python bool)."""
    return bool(isclose(input, other, rtol, atol, equal_nan).data.all())


def dist(input: Any, other: Any, p: float = 2) -> Tensor:
    """The p-norm of ``input - other`` (broadcast) over all elements."""
    return norm(E.sub(input, other), p)


def renorm(input: Any, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along ``dim`` whose p-norm exceeds ``maxnorm`` scaled down to norm
    ``maxnorm`` (by maxnorm / (norm + 1e-7), as PyTorch); the gradient includes the norm's."""
    x = _tensor_arg(input)
    if not p > 0:
        raise RuntimeError(f"renorm: non-positive-norm not supported (p={p})")
    if maxnorm < 0:
        raise RuntimeError(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    d = norm_dim(dim, x.ndim, "renorm")
    others = tuple(k for k in range(-x.ndim, 0) if k != d)
    norms = norm(x, p, others, keepdim=True) if others else abs(x)
    over = _data(norms) > maxnorm
    return E.mul(x, E.where(over, maxnorm / (norms + 1e-7), np.asarray(1.0, x.dtype)))


def cdist(x1: Any, x2: Any, p: float = 2.0,
          compute_mode: str = "use_mm_for_euclid_dist_if_necessary") -> Tensor:
    """The p-norm distance between each row of ``x1`` (..., P, M) and each row of ``x2``
    (..., R, M): (..., P, R). Gradients as PyTorch's, also at zero distance (0 there).

    Differs from PyTorch: distances are always computed from the differences (``compute_mode``
    is accepted and ignored), never by PyTorch's faster but less exact matrix-product form
    (which it uses for p = 2 above 25 rows)."""
    a, b = _tensor_arg(x1), _tensor_arg(x2)
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-1]:
        raise RuntimeError(f"cdist: X1 {a.shape} and X2 {b.shape} must be (..., P, M) and "
                           "(..., R, M) with the same number of columns M")
    if not p >= 0:
        raise RuntimeError(f"cdist only supports non-negative p values, got {p}")
    diffs = E.sub(unsqueeze(a, -2), unsqueeze(b, -3))  # (..., P, R, M)
    if p != math.inf:
        dist = norm(diffs, p, -1)
        same = _data(dist) == 0
        if p == 2 and same.any():  # a zero distance: its gradient 0, even from a NaN upstream
            ones = where(same[..., None], 1.0, diffs)  # (PyTorch's cdist, not its norm)
            return where(same, 0.0, norm(ones, 2, -1))
        return dist
    # The largest |difference|, each tied element getting the full gradient, as PyTorch's.
    size = abs(diffs)
    top = np.max(size.data, axis=-1, initial=0.0)
    hit = (size.data == top[..., None]).astype(size.dtype)
    return _with_gradient(top, size, hit, (-1,), False)


def cosine_similarity(x1: Any, x2: Any, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """``cr.nn.functional.cosine_similarity``."""
    from .nn.functional.distance import cosine_similarity as fn

    return fn(x1, x2, dim, eps)


def pairwise_distance(x1: Any, x2: Any, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """``cr.nn.functional.pairwise_distance``."""
    from .nn.functional.distance import pairwise_distance as fn

    return fn(x1, x2, p, eps, keepdim)


# --------------------------------------------------------------------------- shape, indexing
# and products (more): narrow/select/unbind, splits and stacks, diag, kron/tensordot/addmm,
# index_add/copy/fill/put, take/put, scatter/scatter_reduce, masked_select/masked_scatter

def t(input: Any) -> Tensor:
    """The transpose of a tensor of at most 2 dims (a 0-d or 1-D tensor is returned as is)."""
    return as_tensor(input).t()


def ravel(input: Any) -> Tensor:
    """The elements as one dim (a reshape: shares memory where it can)."""
    return reshape(input, (-1,))


def _dim_size(name: str, input: Any, dim: Any) -> tuple[int, int]:
    """(dim as a negative int, its size), for ops that need at least one dim."""
    shape = shape_of(input)
    if not shape:
        raise OpError(f"{name}: cannot be applied to a 0-dim tensor; reshape it to 1-D first")
    d = norm_dim(dim, len(shape), name)
    return d, shape[d]


def _slice_along(input: Any, d: int, key: Any) -> Tensor:
    """``input[..., key, :, ...]`` with ``key`` (a slice, an int or an index array) at dim d."""
    nd = ndim_of(input)
    return I.getitem(input, key=(slice(None),) * (nd + d) + (key,))


def narrow(input: Any, dim: int, start: Any, length: int) -> Tensor:
    """``length`` elements of ``dim`` from ``start`` (negative counts from the end); shares
    memory with ``input``, as PyTorch's."""
    d, n = _dim_size("narrow", input, dim)
    start = int(_data(start))
    if not -n <= start <= n:
        raise _OpIndexError(f"narrow: start {start} is out of range for dim {dim} of size {n} "
                            f"(valid: {-n} to {n})")
    start += n if start < 0 else 0
    if length < 0 or start + length > n:
        raise OpError(f"narrow: start ({start}) + length ({length}) exceeds the size {n} of "
                      f"dim {dim} (length must be 0 to {n - start})")
    return _slice_along(input, d, slice(start, start + int(length)))


def select(input: Any, dim: int, index: int) -> Tensor:
    """``input`` at ``index`` of ``dim``, that dim removed (``x.select(1, 2)`` is
    ``x[:, 2]``); shares memory with ``input``."""
    d, n = _dim_size("select", input, dim)
    index = int(_data(index))
    if not -n <= index < n:
        raise _OpIndexError(f"select: index {index} is out of range for dim {dim} of size {n} "
                            f"of a tensor of shape {shape_of(input)} (valid: {-n} to {n - 1})")
    return _slice_along(input, d, index)


def unbind(input: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """The slices along ``dim``, that dim removed (``select`` for each index)."""
    d, n = _dim_size("unbind", input, dim)
    return tuple(_slice_along(input, d, i) for i in range(n))


def _unfold(input: Any, dimension: int, size: int, step: int) -> Tensor:
    """``Tensor.unfold``: the windows of ``size`` elements, ``step`` apart, along
    ``dimension``, as a new last dim. NOTE: a differentiable copy, where PyTorch's is a view
    (writing into it does not change ``input``)."""
    if not ndim_of(input):  # a 0-d tensor unfolds as one element (as PyTorch)
        return reshape(_unfold(reshape(input, (1,)), 0, size, step), (size,))
    nd = ndim_of(input)
    d = norm_dim(dimension, nd, "unfold")
    n = shape_of(input)[d]
    if size < 0 or size > n:
        raise OpError(f"unfold: size {size} must be 0 to {n}, the size of dim {dimension}")
    if step <= 0:
        raise OpError(f"unfold: step must be positive, got {step}")
    starts = np.arange(0, n - size + 1, step)
    windows = _slice_along(input, d, starts[:, None] + np.arange(size))
    return movedim(windows, nd + d + 1, -1)  # (the window dim goes last)


def _sections_or_indices(value: Any) -> Any:
    """tensor_split's second argument: an int (sections) or a list of split points."""
    if is_tensor(value) or isinstance(value, np.ndarray):
        arr = np.asarray(_data(value))
        if arr.dtype.kind not in "iu" or arr.ndim > 1:
            raise OpError(f"tensor_split: a tensor of sections or indices must be an integer "
                          f"0-d or 1-D tensor, got {arr.dtype} of shape {arr.shape}")
        return int(arr) if arr.ndim == 0 else [int(i) for i in arr]
    if isinstance(value, (int, np.integer)):
        return int(value)
    return [int(i) for i in value]


def tensor_split(input: Any, indices_or_sections: Any, dim: int = 0) -> tuple[Tensor, ...]:
    """Split ``dim`` into ``n`` nearly equal pieces (the first ``size % n`` one larger), or at
    the given indices (as Python slices: out-of-range points give empty pieces)."""
    d, n = _dim_size("tensor_split", input, dim)
    how = _sections_or_indices(indices_or_sections)
    if isinstance(how, int):
        if how <= 0:
            raise OpError(f"tensor_split: the number of sections must be positive, got {how}")
        small, extra = divmod(n, how)
        sizes = [small + 1] * extra + [small] * (how - extra)
        bounds = [0, *_itertools.accumulate(sizes)]
        return tuple(_slice_along(input, d, slice(a, b)) for a, b in zip(bounds, bounds[1:]))
    starts, stops = [0, *how], [*how, None]
    return tuple(_slice_along(input, d, slice(a, b)) for a, b in zip(starts, stops))


def _split_by_dim(name: str, input: Any, indices_or_sections: Any, dim: int,
                  min_dims: int) -> tuple[Tensor, ...]:
    """hsplit/vsplit/dsplit: tensor_split, where a number of sections must divide the dim."""
    if ndim_of(input) < min_dims:
        raise OpError(f"{name}: needs a tensor of at least {min_dims} dims, got shape "
                      f"{shape_of(input)}")
    how = _sections_or_indices(indices_or_sections)
    n = shape_of(input)[dim]
    if isinstance(how, int) and (how <= 0 or n % how):
        raise OpError(f"{name}: cannot split dim {dim} of size {n} into {how} equal sections; "
                      "give a divisor of the size, or a list of split indices")
    return tensor_split(input, how, dim)


def hsplit(input: Any, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """Split along dim 1 (dim 0 of a 1-D tensor)."""
    return _split_by_dim("hsplit", input, indices_or_sections,
                         1 if ndim_of(input) >= 2 else 0, 1)


def vsplit(input: Any, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """Split along dim 0 of a tensor of at least 2 dims."""
    return _split_by_dim("vsplit", input, indices_or_sections, 0, 2)


def dsplit(input: Any, indices_or_sections: Any) -> tuple[Tensor, ...]:
    """Split along dim 2 of a tensor of at least 3 dims."""
    return _split_by_dim("dsplit", input, indices_or_sections, 2, 3)


def _atleast(shape_for: Any, tensors: tuple) -> Any:
    """atleast_Nd of one tensor (a tensor) or of several, or of a list (a tuple)."""
    one = len(tensors) == 1 and not isinstance(tensors[0], (list, tuple))
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    out = tuple(reshape(x, shape_for(shape_of(x))) for x in map(as_tensor, tensors))
    return out[0] if one else out


def atleast_1d(*tensors: Any) -> Any:
    """A 0-d tensor as shape (1,); others as they are."""
    return _atleast(lambda s: s or (1,), tensors)


def atleast_2d(*tensors: Any) -> Any:
    """0-d as (1, 1), 1-D (n,) as (1, n); others as they are."""
    return _atleast(lambda s: (1,) * (2 - len(s)) + s if len(s) < 2 else s, tensors)


def atleast_3d(*tensors: Any) -> Any:
    """0-d as (1, 1, 1), 1-D (n,) as (1, n, 1), 2-D (m, n) as (m, n, 1) (NumPy's rule)."""
    def shape_for(s: tuple) -> tuple:
        return {0: (1, 1, 1), 1: (1, *s, 1), 2: (*s, 1)}.get(len(s), s)
    return _atleast(shape_for, tensors)


def hstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 1 (1-D tensors: along dim 0)."""
    ts = atleast_1d(tuple(tensors))
    return cat(ts, 0 if ts and ndim_of(ts[0]) == 1 else 1)


def vstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 0, 1-D tensors as rows."""
    return cat(atleast_2d(tuple(tensors)), 0)


row_stack = vstack


def dstack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 2 (after ``atleast_3d``)."""
    return cat(atleast_3d(tuple(tensors)), 2)


def column_stack(tensors: Sequence[Any]) -> Tensor:
    """Join along dim 1, 0-d and 1-D tensors as columns."""
    cols = [reshape(x, (-1, 1)) if ndim_of(x) <= 1 else x for x in map(as_tensor, tensors)]
    return cat(cols, 1)


def rot90(input: Any, k: int = 1, dims: Sequence[int] = (0, 1)) -> Tensor:
    """Rotate by 90° ``k`` times in the plane of ``dims``, from the first dim toward the
    second."""
    nd = ndim_of(input)
    if len(dims) != 2 or nd < 2:
        raise OpError(f"rot90: needs 2 dims and a tensor of at least 2 dims, got dims "
                      f"{tuple(dims)} and shape {shape_of(input)}")
    a, b = (norm_dim(x, nd, "rot90") for x in dims)
    if a == b:
        raise OpError(f"rot90: the rotation dims must differ, got {tuple(dims)}")
    k %= 4
    if k == 0:
        return clone(input)
    if k == 2:
        return S.flip(input, dims=(a, b))
    return transpose(S.flip(input, dims=(b if k == 1 else a,)), a, b)


def fliplr(input: Any) -> Tensor:
    """Reverse dim 1 (left/right) of a tensor of at least 2 dims."""
    if ndim_of(input) < 2:
        raise OpError(f"fliplr: needs a tensor of at least 2 dims, got shape {shape_of(input)}")
    return S.flip(input, dims=(1 - ndim_of(input),))


def flipud(input: Any) -> Tensor:
    """Reverse dim 0 (up/down) of a tensor of at least 1 dim."""
    if ndim_of(input) < 1:
        raise OpError("flipud: needs a tensor of at least 1 dim, got a 0-dim tensor")
    return S.flip(input, dims=(-ndim_of(input),))


def _diagonal_positions(n: int, offset: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of the ``offset`` diagonal holding ``n`` elements."""
    rows = np.arange(n) + builtins.max(0, -offset)
    return rows, rows + offset


def diag_embed(input: Any, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in the new dims ``dim1``, ``dim2`` of the result) with the last dim of
    ``input`` on their ``offset`` diagonal, zeros elsewhere."""
    shape = shape_of(input)
    if not shape:
        raise OpError("diag_embed: needs a tensor of at least 1 dim, got a 0-dim tensor")
    a, b = (norm_dim(x, len(shape) + 1, "diag_embed") for x in (dim1, dim2))
    if a == b:
        raise OpError(f"diag_embed: dim1 and dim2 must differ, got {dim1} and {dim2}")
    m = shape[-1] + builtins.abs(offset)
    rows, cols = _diagonal_positions(shape[-1], offset)
    key = (slice(None),) * (len(shape) - 1) + (rows, cols)
    out = I.index_scatter(input, key=key, shape=shape[:-1] + (m, m))
    return movedim(out, (-2, -1), (a, b))


def diag(input: Any, diagonal: int = 0) -> Tensor:
    """1-D: the square matrix with ``input`` on its ``diagonal`` (0: the main one; above it
    when positive); 2-D: that diagonal, as a 1-D tensor."""
    nd = ndim_of(input)
    if nd == 1:
        return diag_embed(input, diagonal)
    if nd == 2:
        return _diagonal(input, diagonal, -2, -1)
    raise OpError(f"diag: takes a 1-D or 2-D tensor, got shape {shape_of(input)}; use "
                  "diagonal() or diag_embed() for batches")


def _index_table(rows: int, cols: int, offset: int, upper: bool) -> Tensor:
    if rows < 0 or cols < 0:
        raise OpError(f"{'triu' if upper else 'tril'}_indices: row and col must not be "
                      f"negative, got {rows} and {cols}")
    where_ = np.triu_indices if upper else np.tril_indices
    return Tensor._make(np.stack(where_(rows, offset, cols)).astype(np.int64).reshape(2, -1))


def triu_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None) -> Tensor:
    """The (2, N) row and column indices of the upper triangle (from diagonal ``offset``) of a
    ``row`` × ``col`` matrix, row by row."""
    out = _index_table(row, col, offset, True)
    return out if dtype is None else out.to(dtype)


def tril_indices(row: int, col: int, offset: int = 0, *, dtype: Any = None) -> Tensor:
    """The (2, N) row and column indices of the lower triangle, row by row."""
    out = _index_table(row, col, offset, False)
    return out if dtype is None else out.to(dtype)


def block_diag(*tensors: Any) -> Tensor:
    """The block-diagonal matrix of the tensors (0-d as 1×1, 1-D as one row), zeros elsewhere
    (in the promoted dtype)."""
    blocks = [reshape(x, _as_matrix_shape(shape_of(x))) for x in map(as_tensor, tensors)]
    if not blocks:
        return Tensor._make(np.zeros((1, 0), dtype=np.float32))
    floats = [b.dtype for b in blocks if b.dtype.kind == "f"]  # (an int with a float: the
    # float's dtype, as PyTorch's promotion)
    dtype = builtins.max(floats, key=lambda d: d.itemsize) if floats else \
        np.result_type(*[b.dtype for b in blocks])
    width = builtins.sum(shape_of(b)[1] for b in blocks)
    rows, left = [], 0
    for b in blocks:
        right = width - left - shape_of(b)[1]
        rows.append(S.constant_pad(b.to(dtype), widths=((0, 0), (left, right))))
        left += shape_of(b)[1]
    return cat(rows, 0)


def _as_matrix_shape(s: tuple) -> tuple:
    if len(s) > 2:
        raise OpError(f"block_diag: takes tensors of at most 2 dims, got shape {s}")
    return {0: (1, 1), 1: (1, *s)}.get(len(s), s)


def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors: with 'ij' the result's dim k follows tensor k;
    with 'xy' the first two dims are swapped (NumPy's and Matlab's). The grids are
    broadcast views (read-only). NOTE: PyTorch warns when ``indexing`` is not given."""
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise OpError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    ts = [as_tensor(x) for x in tensors]
    if not ts or builtins.any(x.ndim > 1 for x in ts):
        raise OpError(f"meshgrid: takes one or more 0-d or 1-D tensors, got shapes "
                      f"{[x.shape for x in ts]}")
    sizes = [x.numel() for x in ts]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        sizes[0], sizes[1] = sizes[1], sizes[0]
    grids = []
    for k, x in enumerate(ts):
        at = (1 - k if k < 2 else k) if swap else k
        shape = tuple(-1 if i == at else 1 for i in range(len(ts)))
        grids.append(broadcast_to(reshape(x, shape), tuple(sizes)))
    return tuple(grids)


def cartesian_prod(*tensors: Any) -> Tensor:
    """Every combination of one element from each 1-D tensor, as rows (one tensor: itself)."""
    if len(tensors) == 1:
        return as_tensor(tensors[0])
    grids = meshgrid(*tensors, indexing="ij")
    return stack([reshape(g, (-1,)) for g in grids], 1)


def combinations(input: Any, r: int = 2, with_replacement: bool = False) -> Tensor:
    """The length-``r`` combinations of a 1-D tensor's elements, as rows (in
    ``itertools.combinations`` order)."""
    if ndim_of(input) != 1:
        raise OpError(f"combinations: takes a 1-D tensor, got shape {shape_of(input)}")
    if r < 0:
        raise OpError(f"combinations: r must not be negative, got {r}")
    if r == 0:  # (an empty tensor, outside the graph, as PyTorch's)
        return Tensor._make(np.zeros(0, dtype=_data(input).dtype))
    pick_ = _itertools.combinations_with_replacement if with_replacement else \
        _itertools.combinations
    idx = np.array(list(pick_(range(shape_of(input)[0]), r)), dtype=np.intp).reshape(-1, r)
    return I.getitem(input, key=(idx,))


def _sum_to_size(input: Any, *size: Any) -> Tensor:
    """``Tensor.sum_to_size``: the sum over the dims that ``size`` broadcasts to ``input``'s
    shape (the gradient of a broadcast)."""
    target = _shape_arg(size, "sum_to_size")
    shape = shape_of(input)
    if len(target) > len(shape) or builtins.any(
            t != s and t != 1 for t, s in zip(target[::-1], shape[::-1])):
        raise OpError(f"sum_to_size: size {target} is not expandable to the tensor's shape "
                      f"{shape}")
    lead = len(shape) - len(target)
    dims = tuple(range(lead)) + tuple(lead + i for i, t in enumerate(target)
                                      if t == 1 and shape[lead + i] != 1)
    if not dims:
        return input if is_tensor(input) else as_tensor(input)
    return reshape(sum(input, dims, keepdim=True), target)


# ---- products

def kron(input: Any, other: Any) -> Tensor:
    """The Kronecker product: block (i, j, ...) is ``input[i, j, ...] * other``."""
    sa, sb = shape_of(input), shape_of(other)
    nd = builtins.max(len(sa), len(sb))
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    a = reshape(input, tuple(v for s in sa for v in (s, 1)))
    b = reshape(other, tuple(v for s in sb for v in (1, s)))
    return reshape(E.mul(a, b), tuple(x * y for x, y in zip(sa, sb)))


def cross(input: Any, other: Any, dim: int | None = None) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the shapes broadcast). NOTE: with no dim,
    the first dim of size 3 (PyTorch's deprecated default, without its warning)."""
    sa, sb = shape_of(input), shape_of(other)
    if len(sa) != len(sb):
        raise OpError(f"cross: the inputs must have the same number of dims, got shapes {sa} "
                      f"and {sb}")
    try:
        full = np.broadcast_shapes(sa, sb)
    except ValueError:
        raise OpError(f"cross: shapes {sa} and {sb} cannot be broadcast together") from None
    if dim is None:
        dim = next((k for k, s in enumerate(full) if s == 3), None)
        if dim is None:
            raise OpError(f"cross: no dim of size 3 in shape {full}; give dim")
    d = norm_dim(dim, len(full), "cross")
    if full[d] != 3 or sa[d] != 3 or sb[d] != 3:
        raise OpError(f"cross: dim {dim} must have size 3 in both inputs, got shapes {sa} and "
                      f"{sb}")
    a = unbind(broadcast_to(input, full), d)
    b = unbind(broadcast_to(other, full), d)
    parts = [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    return stack(parts, d)


def _tensordot_dims(dims: Any, na: int, nb: int) -> tuple[list[int], list[int]]:
    if is_tensor(dims):
        dims = _data(dims).tolist()
    if isinstance(dims, (int, np.integer)):
        if not 0 <= dims <= builtins.min(na, nb):
            raise OpError(f"tensordot: dims {dims} must be 0 to {builtins.min(na, nb)} for "
                          f"tensors of {na} and {nb} dims")
        return list(range(na - int(dims), na)), list(range(int(dims)))
    if len(dims) != 2:
        raise OpError(f"tensordot: dims must be an int or a pair of dim lists, got {dims}")
    da, db = ([d] if isinstance(d, (int, np.integer)) else list(d) for d in dims)
    if len(da) != len(db):
        raise OpError(f"tensordot: the dim lists {da} and {db} must have the same length")
    return ([norm_dim(d, na, "tensordot") + na for d in da],
            [norm_dim(d, nb, "tensordot") + nb for d in db])


def tensordot(a: Any, b: Any, dims: Any = 2) -> Tensor:
    """Sum of products over the paired dims (``dims=n``: a's last n with b's first n; or
    ``([a dims], [b dims])``); the result has a's free dims, then b's."""
    sa, sb = shape_of(a), shape_of(b)
    da, db = _tensordot_dims(dims, len(sa), len(sb))
    for i, j in zip(da, db):
        if sa[i] != sb[j]:
            raise OpError(f"tensordot: contracted dims must match, but dim {i} of {sa} has "
                          f"size {sa[i]} and dim {j} of {sb} has size {sb[j]}")
    free_a = [i for i in range(len(sa)) if i not in da]
    free_b = [j for j in range(len(sb)) if j not in db]
    k = math.prod(sa[i] for i in da)
    # (the sizes spelled out, not -1, which cannot be resolved when k is 0)
    m, n = math.prod(sa[i] for i in free_a), math.prod(sb[j] for j in free_b)
    left = reshape(S.permute(a, dims=tuple(free_a + da)), (m, k)) if sa else reshape(a, (1, 1))
    right = reshape(S.permute(b, dims=tuple(db + free_b)), (k, n)) if sb else reshape(b, (1, 1))
    out = LA.matmul(left, right)
    return reshape(out, tuple(sa[i] for i in free_a) + tuple(sb[j] for j in free_b))


def _scaled_sum(name: str, input: Any, product: Tensor, beta: Any, alpha: Any) -> Tensor:
    """``beta * input + alpha * product``; with beta 0, input is ignored (its NaN and inf too,
    as in PyTorch) and gets a zero gradient."""
    try:
        full = np.broadcast_shapes(shape_of(input), shape_of(product))
    except ValueError:
        full = None
    if full != shape_of(product):
        raise OpError(f"{name}: input of shape {shape_of(input)} does not broadcast to the "
                      f"product's shape {shape_of(product)}")
    scaled = product if alpha == 1 else E.mul(product, alpha)
    if beta == 0:
        return E.where(np.False_, input, scaled)
    return E.add(input if beta == 1 else E.mul(input, beta), scaled)


def _need_dims(name: str, **shapes: Any) -> None:
    """Each argument has the number of dims given with it: ``mat1=(x, 2)``."""
    for what, (x, n) in shapes.items():
        if ndim_of(x) != n:
            raise OpError(f"{name}: {what} must have {n} dims, got shape {shape_of(x)}")


def addmm(input: Any, mat1: Any, mat2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * (mat1 @ mat2)``."""
    _need_dims("addmm", mat1=(mat1, 2), mat2=(mat2, 2))
    return _scaled_sum("addmm", input, _matmul_checked("addmm", mat1, mat2), beta, alpha)


def addmv(input: Any, mat: Any, vec: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * (mat @ vec)``."""
    _need_dims("addmv", mat=(mat, 2), vec=(vec, 1))
    return _scaled_sum("addmv", input, _matmul_checked("addmv", mat, vec), beta, alpha)


def addr(input: Any, vec1: Any, vec2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * outer(vec1, vec2)``."""
    _need_dims("addr", vec1=(vec1, 1), vec2=(vec2, 1))
    return _scaled_sum("addr", input, outer(vec1, vec2), beta, alpha)


def baddbmm(input: Any, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * (batch1 @ batch2)``, batch by batch."""
    _need_dims("baddbmm", batch1=(batch1, 3), batch2=(batch2, 3))
    return _scaled_sum("baddbmm", input, _batch_product("baddbmm", batch1, batch2), beta, alpha)


def addbmm(input: Any, batch1: Any, batch2: Any, *, beta: Any = 1, alpha: Any = 1) -> Tensor:
    """``beta * input + alpha * Σ_b batch1[b] @ batch2[b]``."""
    _need_dims("addbmm", batch1=(batch1, 3), batch2=(batch2, 3))
    summed = sum(_batch_product("addbmm", batch1, batch2), 0)
    return _scaled_sum("addbmm", input, summed, beta, alpha)


def _batch_product(name: str, batch1: Any, batch2: Any) -> Tensor:
    if shape_of(batch1)[0] != shape_of(batch2)[0]:
        raise OpError(f"{name}: batch1 {shape_of(batch1)} and batch2 {shape_of(batch2)} must "
                      "have the same number of matrices")
    return _matmul_checked(name, batch1, batch2)


def chain_matmul(*matrices: Any) -> Tensor:
    """The product of 2-D matrices, left to right (PyTorch's deprecated form of
    ``linalg.multi_dot``)."""
    if len(matrices) == 1 and isinstance(matrices[0], (list, tuple)):
        matrices = tuple(matrices[0])
    if not matrices:
        raise OpError("chain_matmul: expected one or more matrices")
    for m in matrices:
        _need_dims("chain_matmul", matrix=(m, 2))
    return functools.reduce(mm, matrices) if len(matrices) > 1 else clone(matrices[0])


# ---- indexing

def _same_dtype(name: str, input: Any, other: Any, what: str = "source") -> None:
    if is_tensor(other) and other.dtype != _data(input).dtype:
        raise OpError(f"{name}: the input ({_data(input).dtype}) and {what} ({other.dtype}) "
                      f"must have the same dtype; convert one with .to()")


def _index_vector(name: str, index: Any, size: int, negative: bool) -> np.ndarray:
    """An index along one dim: 1-D (or a single number), integer, in range for ``size``."""
    idx = np.asarray(_data(index))
    if idx.dtype.kind not in "iu":
        raise OpError(f"{name}: index must be an integer tensor, got {idx.dtype}")
    if idx.ndim > 1:
        raise _OpIndexError(f"{name}: index must be a vector (1-D) or a single number, got "
                            f"shape {idx.shape}")
    return I.check_index(idx.reshape(-1), size, name, negative)


def _on_one_element(fn: Any, input: Any, *rest: Any) -> Tensor:
    """``fn`` on a 0-d input seen as 1-D (PyTorch treats it as one element along dim 0)."""
    return reshape(fn(reshape(input, (1,)), 0, *rest), ())


def _indexed_source(name: str, input: Any, d: int, idx: np.ndarray, source: Any) -> None:
    """The source of index_add / index_copy: the input's shape with len(index) at dim d."""
    _same_dtype(name, input, source)
    shape = shape_of(input)
    expect = list(shape)
    expect[len(shape) + d] = len(idx)
    if shape_of(source) != tuple(expect):
        raise OpError(f"{name}: source of shape {shape_of(source)} must have the input's shape "
                      f"{shape} with {len(idx)} (one per index) in dim {d + len(shape)}, that "
                      f"is {tuple(expect)}")


def index_add(input: Any, dim: int, index: Any, source: Any, *, alpha: Any = 1) -> Tensor:
    """``input`` with ``alpha * source[..., k, ...]`` added at ``index[k]`` of ``dim``
    (repeated indices accumulate)."""
    if not ndim_of(input):
        return _on_one_element(lambda x, d, i, s: index_add(x, d, i, s, alpha=alpha), input,
                               index, reshape(source, (-1,)))
    d = norm_dim(dim, ndim_of(input), "index_add")
    idx = _index_vector("index_add", index, shape_of(input)[d], negative=False)
    _indexed_source("index_add", input, d, idx, source)
    added = I.index_scatter(source, key=_dim_key(input, d, idx), shape=shape_of(input))
    return E.add(input, added if alpha == 1 else E.mul(added, alpha))


def _dim_key(input: Any, d: int, idx: Any) -> tuple:
    return (slice(None),) * (ndim_of(input) + d) + (idx,)


def index_copy(input: Any, dim: int, index: Any, source: Any) -> Tensor:
    """``input`` with ``source[..., k, ...]`` written at ``index[k]`` of ``dim``."""
    if not ndim_of(input):
        return _on_one_element(index_copy, input, index, reshape(source, (-1,)))
    d = norm_dim(dim, ndim_of(input), "index_copy")
    idx = _index_vector("index_copy", index, shape_of(input)[d], negative=False)
    _indexed_source("index_copy", input, d, idx, source)
    return I.index_put(input, source, key=_dim_key(input, d, idx))


def index_fill(input: Any, dim: int, index: Any, value: Any) -> Tensor:
    """``input`` with ``value`` (a number or a 0-d tensor, which gets the gradient) at
    ``index`` of ``dim`` (negative indices count from the end)."""
    if not ndim_of(input):
        return _on_one_element(index_fill, input, index, value)
    d = norm_dim(dim, ndim_of(input), "index_fill")
    n = shape_of(input)[d]
    idx = _index_vector("index_fill", index, n, negative=True)
    idx = np.unique(np.where(idx < 0, idx + n, idx))  # (a repeat fills once: one gradient)
    return I.index_put(input, _fill_value("index_fill", input, value),
                       key=_dim_key(input, d, idx))


def _fill_value(name: str, input: Any, value: Any) -> Any:
    """A fill value in the input's dtype: a number, or a 0-d tensor (kept differentiable)."""
    dtype = _data(input).dtype
    if is_tensor(value):
        if value.ndim:
            raise OpError(f"{name}: a tensor value must be 0-d, got shape {value.shape}")
        return value if value.dtype == dtype else value.to(dtype)
    return np.asarray(value).astype(dtype)


def _key_positions(name: str, key: tuple, shape: tuple) -> None:
    """Range-check each index array of a canonical key against the dims it indexes."""
    pos = 0
    for k in key:
        if k is None or isinstance(k, (bool, np.bool_)):
            continue
        if isinstance(k, np.ndarray) and k.dtype == bool:
            if k.shape != shape[pos:pos + k.ndim]:
                raise _OpIndexError(f"{name}: a mask of shape {k.shape} does not match the "
                                    f"shape {shape[pos:pos + k.ndim]} of the dims it indexes "
                                    f"(from dim {pos} of {shape})")
            pos += k.ndim
            continue
        if isinstance(k, np.ndarray):
            I.check_index(k, shape[pos], name)
        pos += 1


def _selected_shape(shape: tuple, key: tuple) -> tuple:
    """The shape of ``x[key]`` for an ``x`` of ``shape`` (without making x)."""
    return np.broadcast_to(np.empty((), dtype=bool), shape)[key].shape


def index_put(input: Any, indices: Sequence[Any], values: Any,
              accumulate: bool = False) -> Tensor:
    """``input`` with ``input[indices] = values`` (``accumulate=True``: ``+=``, repeats
    adding up); ``indices`` is a tuple of index tensors (integer or bool)."""
    if not isinstance(indices, (tuple, list)):
        raise TypeError(f"index_put: indices must be a tuple of tensors, got "
                        f"{type(indices).__name__}")
    shape = shape_of(input)
    key = I.canonical_key(tuple(indices), len(shape))
    _key_positions("index_put", key, shape)
    _same_dtype("index_put", input, values, "values")
    sub = _selected_shape(shape, key)
    vs = shape_of(values)
    try:
        ok = np.broadcast_shapes(vs, sub) == sub
    except ValueError:
        ok = False
    if not ok:
        raise OpError(f"index_put: values of shape {vs} do not broadcast to the indexed "
                      f"shape {sub}")
    if not is_tensor(values):
        values = np.asarray(values).astype(_data(input).dtype)
    if accumulate:
        return E.add(input, I.index_scatter(broadcast_to(values, sub), key=key, shape=shape))
    return I.index_put(input, values, key=key)


def take(input: Any, index: Any) -> Tensor:
    """The elements of the flattened ``input`` at ``index`` (shaped as ``index``; negative
    indices count from the end)."""
    idx = np.asarray(_data(index))
    n = math.prod(shape_of(input))
    I.check_index(idx, n, "take")
    return I.getitem(reshape(input, (-1,)), key=(idx,))


def put(input: Any, index: Any, source: Any, accumulate: bool = False) -> Tensor:
    """``input`` with its flattened elements at ``index`` set to ``source``'s (added with
    ``accumulate=True``); both have the same number of elements."""
    idx = np.asarray(_data(index)).reshape(-1)
    shape = shape_of(input)
    n = math.prod(shape)
    I.check_index(idx, n, "put")
    _same_dtype("put", input, source)
    if math.prod(shape_of(source)) != idx.size:
        raise OpError(f"put: source ({math.prod(shape_of(source))} elements) and index "
                      f"({idx.size}) must have the same number of elements")
    flat, src = reshape(input, (-1,)), reshape(source, (-1,))
    if accumulate:
        out = E.add(flat, I.index_scatter(src, key=(idx,), shape=(n,)))
    else:
        out = I.index_put(flat, src, key=(idx,))
    return reshape(out, shape)


def _bool_mask(name: str, mask: Any) -> np.ndarray:
    m = np.asarray(_data(mask))
    if m.dtype != bool:
        raise OpError(f"{name}: the mask must be a bool tensor, got {m.dtype}; compare (x > 0) "
                      "or convert with .bool()")
    return m


def _broadcast_with_mask(name: str, input: Any, m: np.ndarray) -> tuple[Any, np.ndarray]:
    try:
        full = np.broadcast_shapes(m.shape, shape_of(input))
    except ValueError:
        raise OpError(f"{name}: the mask of shape {m.shape} and the input of shape "
                      f"{shape_of(input)} cannot be broadcast together") from None
    return broadcast_to(input, full), np.ascontiguousarray(np.broadcast_to(m, full))


def masked_select(input: Any, mask: Any) -> Tensor:
    """The elements where ``mask`` (broadcast with ``input``) is True, as a 1-D tensor."""
    x, m = _broadcast_with_mask("masked_select", input, _bool_mask("masked_select", mask))
    return reshape(I.getitem(x, key=I.canonical_key((m,), m.ndim)), (-1,))


def masked_scatter(input: Any, mask: Any, source: Any) -> Tensor:
    """``input`` with the elements where ``mask`` is True replaced, in order, by ``source``'s
    first elements (``source`` needs at least as many as there are True values)."""
    x, m = _broadcast_with_mask("masked_scatter", input, _bool_mask("masked_scatter", mask))
    _same_dtype("masked_scatter", input, source)
    count = int(m.sum())
    have = math.prod(shape_of(source))
    if have < count:
        raise OpError(f"masked_scatter: source has {have} elements, fewer than the {count} True "
                      "values of the mask")
    values = I.getitem(reshape(source, (-1,)), key=(slice(0, count),))
    return I.index_put(x, values, key=I.canonical_key((m,), m.ndim))


def _scatter_index(name: str, input: Any, dim: int, index: Any,
                   src: Any) -> tuple[int, np.ndarray, Any]:
    """(dim, index, the part of src it reads) for scatter and scatter_reduce, checked as in
    PyTorch: index has the input's dims, is no larger than src, nor than the input except in
    dim, and its values are 0 to size - 1."""
    idx = np.asarray(_data(index))
    nd = ndim_of(input)
    d = norm_dim(dim, nd, name)
    xs = shape_of(input)
    ss = shape_of(src) if src is not None else idx.shape
    if idx.ndim != nd or len(ss) != nd or builtins.any(
            idx.shape[k] > ss[k] or (k != nd + d and idx.shape[k] > xs[k]) for k in range(nd)):
        raise OpError(f"{name}: index of shape {idx.shape} must have the {nd} dims of the "
                      f"input {xs} and src {ss}, and be no larger than src in any dim, nor than "
                      f"the input except in dim {dim}")
    I.check_index(idx, xs[d] if nd else 1, name, negative=False)
    if src is None or shape_of(src) == idx.shape:
        return d, idx, src
    return d, idx, I.getitem(src, key=tuple(slice(0, s) for s in idx.shape))


def scatter(input: Any, dim: int, index: Any, src: Any = None, *, value: Any = None,
            reduce: str | None = None) -> Tensor:
    """``input`` with ``src[i][j]`` (or ``value``) written at ``index[i][j]`` along ``dim``
    (for dim 1: ``out[i][index[i][j]] = src[i][j]``); ``reduce='add'`` or ``'multiply'``
    combines instead. NOTE: with ``reduce``, gradients flow (PyTorch has none)."""
    if src is not None and not is_tensor(src) and np.ndim(src) == 0:
        src, value = None, src  # scatter(x, dim, index, 2.0): the value form
    if (src is None) == (value is None):
        raise OpError("scatter: give either src (a tensor) or value (a number)")
    if not ndim_of(input):
        return _on_one_element(lambda x, d, i, s: scatter(x, d, i, s, value=value,
                                                          reduce=reduce),
                               input, np.reshape(_data(index), (-1,)),
                               None if src is None else reshape(src, (-1,)))
    if src is not None:
        _same_dtype("scatter", input, src, "src")
    d, idx, part = _scatter_index("scatter", input, dim, index, src)
    if part is None:
        part = Tensor._make(np.full(idx.shape, value, dtype=_data(input).dtype))
    if reduce is not None:
        modes = {"add": "sum", "multiply": "prod"}
        if reduce not in modes:
            raise OpError(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r} (see "
                          "scatter_reduce for more)")
        return _scatter_reduced(input, d, idx, part, modes[reduce], True)
    return I.index_put(input, part, key=I._full_index(idx, d))


_SCATTER_REDUCTIONS = ("sum", "prod", "mean", "amax", "amin")


def scatter_reduce(input: Any, dim: int, index: Any, src: Any, reduce: str, *,
                   include_self: bool = True) -> Tensor:
    """``input`` with each ``src[i][j]`` combined into ``out[i][index[i][j]]`` (dim 1) by
    ``reduce``: 'sum', 'prod', 'mean', 'amax' or 'amin'; ``include_self=False`` leaves the
    input's values out wherever something is scattered. Gradients as PyTorch's: ties of
    amax/amin share evenly, a product's zeros get the product of the others."""
    if reduce not in _SCATTER_REDUCTIONS:
        raise OpError(f"scatter_reduce: reduce must be one of {', '.join(_SCATTER_REDUCTIONS)}, "
                      f"got {reduce!r}")
    if not ndim_of(input):
        return _on_one_element(
            lambda x, d, i, s: scatter_reduce(x, d, i, s, reduce, include_self=include_self),
            input, np.reshape(_data(index), (-1,)), reshape(src, (-1,)))
    _same_dtype("scatter_reduce", input, src, "src")
    d, idx, part = _scatter_index("scatter_reduce", input, dim, index, src)
    return _scatter_reduced(input, d, idx, part, reduce, bool(include_self))


def _scatter_reduced(input: Any, d: int, idx: np.ndarray, part: Any, reduce: str,
                     include_self: bool) -> Tensor:
    key = I._full_index(idx, d)
    shape = shape_of(input)
    if reduce in ("amax", "amin"):
        return I.scatter_extreme(input, part, key=key, reduce=reduce, include_self=include_self)
    if reduce == "prod":
        return _scatter_product(input, part, key, include_self)
    count = np.zeros(shape, dtype=np.int64)
    np.add.at(count, key, 1)
    base = input if include_self else E.where(count > 0, np.zeros((), _data(input).dtype),
                                              input)
    total = E.add(base, I.index_scatter(part, key=key, shape=shape))
    if reduce == "sum":
        return total
    divisor = np.where(count > 0, count + include_self, 1)
    if total.dtype.kind in "fc":
        return E.div(total, divisor.astype(total.dtype))
    return Tensor._make(np.floor_divide(total.data, divisor).astype(total.dtype))  # (PyTorch's)


def _scatter_product(input: Any, part: Any, key: tuple, include_self: bool) -> Tensor:
    """scatter_reduce 'prod': the contributors of each touched element gathered into a row of
    a table (padded with 1), whose product (exact gradients at zeros) replaces the element.
    Costs (touched elements) × (most contributors to one element)."""
    shape = shape_of(input)
    n = math.prod(shape)
    slot = np.ravel_multi_index(np.broadcast_arrays(*key), shape).reshape(-1)
    order = np.argsort(slot, kind="stable")
    sorted_slot = slot[order]
    touched, first = np.unique(sorted_slot, return_index=True)
    row = np.searchsorted(touched, sorted_slot)
    rank = np.arange(slot.size) - first[row] + include_self
    width = int(rank.max()) + 1 if slot.size else 1
    pad = n + slot.size  # the position of the padding 1 in the values below
    table = np.full((touched.size, width), pad, dtype=np.intp)
    table[row, rank] = n + order
    if include_self:
        table[:, 0] = touched
    flat = reshape(as_tensor(input), (-1,))
    one = np.ones(1, dtype=_data(input).dtype)
    values = cat([flat, reshape(as_tensor(part), (-1,)), Tensor._make(one)], 0)
    products = R.prod(I.getitem(values, key=(table,)), dim=-1, keepdim=False)
    return reshape(I.index_put(flat, products, key=(touched,)), shape)


# --------------------------------------------------------------------------- more shape,
# statistics and linear algebra: repeat_interleave, inner/vdot, diagflat, cov/corrcoef,
# histogram(dd), cholesky_solve/inverse, triangular_solve, *_scatter, index_reduce,
# trapezoid, vander, gradient, narrow_copy, split_with_sizes

class _Refused(OpError, RuntimeError):
    """Bad input where PyTorch raises a RuntimeError (still an OpError, a ValueError)."""


_Histogram = namedtuple("histogram", ["hist", "bin_edges"])  # type: ignore[name-match]
_Histogramdd = namedtuple("histogramdd", ["hist", "bin_edges"])  # type: ignore[name-match]
_TriangularSolve = namedtuple(  # type: ignore[name-match]
    "triangular_solve", ["solution", "cloned_coefficient"])


def _repeat_counts(repeats: Any, size: int, dim: Any) -> np.ndarray:
    """``repeats`` (an int, or a 0-d / 1-D integer tensor) as one count per element."""
    r = np.asarray(_data(repeats))
    if r.dtype.kind not in "iu":
        raise _Refused(f"repeat_interleave: repeats must be an int or an integer tensor, got "
                       f"{r.dtype}; convert it with .long()")
    if r.ndim > 1:
        raise _Refused(f"repeat_interleave: repeats must be 0-dim or 1-dim tensor, got shape "
                       f"{r.shape}")
    if np.any(r < 0):
        raise _Refused(f"repeat_interleave: Repeats must be non-negative, got {r.tolist()}")
    if r.size == 1:
        return np.full(size, int(r.reshape(())), dtype=np.int64)
    if r.size != size:
        where_ = "the flattened input" if dim is None else f"input.size({dim})"
        raise _Refused(f"repeat_interleave: repeats must have the same size as input along dim, "
                       f"but got repeats.size(0) = {r.size} and {where_} = {size}")
    return r.astype(np.int64)


def repeat_interleave(input: Any, repeats: Any = None, dim: int | None = None, *,
                      output_size: int | None = None) -> Tensor:
    """Each element (or slice along ``dim``) repeated ``repeats`` times in place (an int or one
    count per element; ``dim=None`` flattens first). ``repeat_interleave(counts)`` alone gives
    ``arange(len(counts))`` repeated by the counts. The gradient sums over the copies."""
    if repeats is None:  # the one-argument form: indices repeated by the counts
        counts = np.asarray(_data(input))
        if counts.ndim != 1:
            raise _Refused(f"repeat_interleave: only accept 1D vector as repeat, got shape "
                           f"{counts.shape}")
        input, repeats, dim = Tensor._make(np.arange(counts.size, dtype=np.int64)), counts, 0
    x = reshape(input, (-1,)) if dim is None else as_tensor(input)
    if not ndim_of(x):
        raise _OpIndexError(f"repeat_interleave: a 0-dim tensor has no dim {dim}; use "
                            "dim=None (as PyTorch, which refuses it too)")
    d = -1 if dim is None else norm_dim(dim, ndim_of(x), "repeat_interleave")
    counts = _repeat_counts(repeats, shape_of(x)[d], dim)
    total = int(counts.sum())
    if output_size is not None and output_size != total:
        raise _Refused(f"repeat_interleave: Invalid output_size, expected {total} but got "
                       f"{output_size}")
    return _slice_along(x, d, np.repeat(np.arange(counts.size), counts))


def vdot(input: Any, other: Any) -> Tensor:
    """The dot product of two 1-D tensors (real ones: ``dot``; there are no complex ones)."""
    if ndim_of(input) != 1 or ndim_of(other) != 1:
        raise _Refused(f"vdot: 1D tensors expected, but got {ndim_of(input)}D and "
                       f"{ndim_of(other)}D tensors (shapes {shape_of(input)} and "
                       f"{shape_of(other)})")
    _same_dtype("vdot", input, other, "other")
    return dot(input, other)


def inner(input: Any, other: Any) -> Tensor:
    """Sum of products over the last dim of both (shape: input's other dims, then other's); a
    0-d operand multiplies."""
    sa, sb = shape_of(input), shape_of(other)
    if not sa or not sb:
        return E.mul(input, other)
    if sa[-1] != sb[-1]:
        raise _Refused(f"inner: the last dimension must match on both input tensors but got "
                       f"shapes {sa} and {sb}")
    return tensordot(input, other, ([len(sa) - 1], [len(sb) - 1]))


def diagflat(input: Any, offset: int = 0) -> Tensor:
    """The square matrix with the flattened ``input`` on its ``offset`` diagonal."""
    return diag_embed(reshape(input, (-1,)), offset)


# ---- statistics

def cov(input: Any, *, correction: int = 1, fweights: Any = None,
        aweights: Any = None) -> Tensor:
    """The covariance matrix of the variables in the rows of ``input`` (observations in the
    columns; a 1-D input is one variable), with integer frequency weights ``fweights`` and
    float ``aweights``, divided by (total weight - ``correction`` (scaled as NumPy's for
    aweights)). A non-positive divisor gives inf/NaN, as PyTorch (which also warns)."""
    nd = ndim_of(input)
    if nd > 2:
        raise _Refused(f"cov: expected input to have two or fewer dimensions but got an input "
                       f"with {nd} dimensions (shape {shape_of(input)})")
    if _data(input).dtype == np.bool_:
        raise _Refused("cov: bool dtype is not supported for input; convert it with .float()")
    x = _float_of(input)
    x = reshape(x, (1, -1)) if nd < 2 else x
    n_obs = x.shape[1]
    f = None if fweights is None else _cov_weights("fweights", fweights, n_obs, True)
    a = None if aweights is None else _cov_weights("aweights", aweights, n_obs, False)
    if a is not None:  # (wider aweights widen the result, as PyTorch: float32 x, float64 a)
        x = x.to(np.promote_types(x.dtype, a.dtype))
    w = a if f is None else f if a is None else E.mul(f, a)
    if w is None:
        avg = mean(x, 1, keepdim=True)
        norm_factor: Any = np.asarray(n_obs - correction, dtype=x.dtype)
    else:
        w = w.to(x.dtype)
        w_sum = sum(w)
        avg = E.div(sum(E.mul(x, w), 1, keepdim=True), w_sum)
        if a is None:
            norm_factor = E.sub(w_sum, correction)
        else:  # NumPy's (and PyTorch's) correction for reliability weights
            spread = E.div(sum(E.mul(w, a.to(x.dtype))), w_sum)
            norm_factor = E.sub(w_sum, E.mul(spread, correction))
    norm_factor = where(E.le(norm_factor, 0), np.zeros((), x.dtype), norm_factor)
    centred = E.sub(x, avg)
    product = matmul(centred, transpose(centred if w is None else E.mul(centred, w), 0, 1))
    return squeeze(E.div(product, norm_factor))


def _cov_weights(name: str, weights: Any, n_obs: int, integer: bool) -> Tensor:
    w = as_tensor(weights)
    if w.ndim > 1 or (w.ndim == 1 and w.shape[0] != n_obs) or (w.ndim == 0 and n_obs != 1):
        raise _Refused(f"cov: expected {name} to be a 1-D tensor with {n_obs} elements (one per "
                       f"observation, a column of the input) but got shape {w.shape}")
    if integer and w.dtype.kind not in "iu":
        raise _Refused(f"cov: expected fweights to have an integral dtype but got {w.dtype}")
    if not integer and w.dtype.kind != "f":
        raise _Refused(f"cov: expected aweights to have a floating point dtype but got "
                       f"{w.dtype}")
    if np.any(w.data < 0):
        raise _Refused(f"cov: {name} cannot be negative, got min {w.data.min()}")
    return reshape(w, (-1,))


def corrcoef(input: Any) -> Tensor:
    """Pearson correlation coefficients of the rows of ``input`` (as ``cov``), clipped to
    [-1, 1]."""
    c = cov(input)
    if not c.ndim:
        return E.div(c, c)
    stddev = E.sqrt(_diagonal(c, 0, -2, -1))
    c = E.div(E.div(c, reshape(stddev, (-1, 1))), reshape(stddev, (1, -1)))
    return clamp(c, -1, 1)


def _torch_linspace(start: float, end: float, steps: int, dtype: np.dtype) -> np.ndarray:
    """linspace computed as PyTorch's: the step in ``dtype``, then each point from the nearer
    end as a fused multiply-add (exact, rounded once; float32 through float64), so histogram
    edges agree to the last bit and values on an edge fall into the same bin."""
    from fractions import Fraction

    lo, hi = dtype.type(start), dtype.type(end)
    if steps == 1:
        return np.asarray([lo], dtype=dtype)
    # (a range too wide for the dtype overflows the step: inf and NaN edges, as PyTorch's)
    with np.errstate(over="ignore", invalid="ignore"):
        step = (hi - lo) / dtype.type(steps - 1)
    half = steps // 2
    if dtype != np.float64 or not np.isfinite(step):
        i = np.arange(steps, dtype=np.float64)
        with np.errstate(invalid="ignore"):
            wide = np.where(i < half, np.float64(lo) + np.float64(step) * i,
                            np.float64(hi) - np.float64(step) * (steps - 1 - i))
        return wide.astype(dtype)
    exact = [Fraction(float(lo)) + Fraction(float(step)) * i if i < half else
             Fraction(float(hi)) - Fraction(float(step)) * (steps - 1 - i)
             for i in builtins.range(steps)]
    return np.asarray([float(v) for v in exact], dtype=dtype)


def _histogram_edges(name: str, column: np.ndarray, bins: Any, range_: Any,
                     dtype: np.dtype) -> np.ndarray:
    """The bin edges of one dim: given (a 1-D increasing tensor), or ``bins`` equal bins over
    ``range_`` (default: the data's min to max, widened by 0.5 each way when they agree)."""
    if is_tensor(bins) or isinstance(bins, np.ndarray):
        edges = np.asarray(_data(bins))
        if edges.dtype != dtype:
            raise _Refused(f"{name}: the bins tensor ({edges.dtype}) must have the input's "
                           f"dtype ({dtype})")
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) < 0):
            raise _Refused(f"{name}: bins must be a 1-D tensor of at least 2 increasing edges "
                           f"(one bin or more), got {edges.tolist()}")
        return edges
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or bins <= 0:
        raise _Refused(f"{name}: bins must be a positive int or a tensor of edges, got "
                       f"{bins!r}")
    if range_ is not None:
        lo, hi = float(range_[0]), float(range_[1])
    elif column.size:
        lo, hi = float(column.min()), float(column.max())
    else:
        lo, hi = 0.0, 1.0
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise _Refused(f"{name}: range of [{lo}, {hi}] is not finite; give range= explicitly")
    if lo > hi:
        raise _Refused(f"{name}: max must be larger than min, got range [{lo}, {hi}]")
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    return _torch_linspace(lo, hi, int(bins) + 1, dtype)


def _bin_of(column: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(each value's bin, whether it is inside the edges): a bin holds [left, right), the last
    also its right edge."""
    inside = (column >= edges[0]) & (column <= edges[-1])
    pos = np.searchsorted(edges, column, side="right") - 1
    return np.clip(pos, 0, builtins.max(edges.size - 2, 0)), inside


def histogramdd(input: Any, bins: Any = 10, *, range: Sequence[float] | None = None,
                weight: Any = None, density: bool = False) -> Any:
    """The histogram of the points in the last dim of ``input`` (D coordinates each): ``bins``
    an int (per dim the same), a list of ints or a list of edge tensors; ``range`` the flat
    list (min0, max0, min1, max1, ...). Returns (hist, bin_edges): hist of D dims, a list of
    edges. No gradient, as PyTorch."""
    return _histogramdd("histogramdd", input, bins, range, weight, density)


def _histogramdd(name: str, input: Any, bins: Any, range_: Any, weight: Any,
                 density: bool) -> Any:
    x = np.asarray(_data(input))
    if x.dtype.kind != "f":
        raise _Refused(f"{name}: input must be a floating point tensor, got {x.dtype}; "
                       "convert it with .float()")
    if x.ndim < 2:
        raise _Refused(f"{name}: input should have at least 2 dimensions (points, then their "
                       f"coordinates), got shape {x.shape}")
    dims = x.shape[-1]
    points = x.reshape(-1, dims)
    per_dim = list(bins) if isinstance(bins, (list, tuple)) else [bins] * dims
    if len(per_dim) != dims:
        raise _Refused(f"{name}: expected {dims} sequences of bin edges or bin counts (one per "
                       f"dim of the points), got {len(per_dim)}")
    if range_ is not None and len(range_) != 2 * dims:
        raise _Refused(f"{name}: range must have 2 * {dims} = {2 * dims} values (min and max "
                       f"for each dim), got {len(range_)}")
    edges = [_histogram_edges(name, points[:, k], per_dim[k],
                              None if range_ is None else range_[2 * k:2 * k + 2], x.dtype)
             for k in builtins.range(dims)]
    hist = _count_points(name, points, edges, weight, x)
    if density:
        widths = [np.diff(e) for e in edges]
        volume = functools.reduce(np.multiply.outer, widths) if widths else np.ones(())
        hist = (hist / hist.sum() / volume).astype(x.dtype)
    return _Histogramdd(Tensor._make(hist), [Tensor._make(e) for e in edges])


def _count_points(name: str, points: np.ndarray, edges: list, weight: Any,
                  x: np.ndarray) -> np.ndarray:
    """The (weighted) count of the points in each cell of the grid of ``edges``."""
    w = np.ones(points.shape[0], dtype=x.dtype)
    if weight is not None:
        wd = np.asarray(_data(weight))
        if wd.shape != x.shape[:-1]:
            raise _Refused(f"{name}: weight of shape {wd.shape} must have the input's shape "
                           f"without its last dim, {x.shape[:-1]}")
        if wd.dtype != x.dtype:
            raise _Refused(f"{name}: weight ({wd.dtype}) must have the input's dtype "
                           f"({x.dtype})")
        w = wd.reshape(-1)
    cells = tuple(builtins.max(e.size - 1, 0) for e in edges)
    hist = np.zeros(cells, dtype=x.dtype)
    keep = np.ones(points.shape[0], dtype=bool)
    where_ = []
    for k, e in enumerate(edges):
        pos, inside = _bin_of(points[:, k], e)
        keep &= inside
        where_.append(pos)
    if builtins.all(cells):
        np.add.at(hist, tuple(p[keep] for p in where_), w[keep])
    return hist


def histogram(input: Any, bins: Any = 100, *, range: Sequence[float] | None = None,
              weight: Any = None, density: bool = False) -> Any:
    """The histogram of all elements of ``input`` (a float tensor): ``bins`` equal bins over
    ``range`` (default: min to max of the data) or the given edges (a 1-D tensor). Returns
    (hist, bin_edges); ``density=True`` normalises to unit area. No gradient, as PyTorch."""
    x = as_tensor(input)
    w = None if weight is None else reshape(weight, (-1, ))
    if weight is not None and shape_of(weight) != x.shape:
        raise _Refused(f"histogram: weight of shape {shape_of(weight)} must have the input's "
                       f"shape {x.shape}")
    if range is not None and len(range) != 2:
        raise _Refused(f"histogram: range must be (min, max), got {range!r}")
    hist, edges = _histogramdd("histogram", reshape(x, (-1, 1)), [bins], range, w, density)
    return _Histogram(hist, edges[0])


# ---- numerical integration and differences

def _trapezoid_dx(x: Any, y: Tensor, d: int, name: str) -> Any:
    """The spacings of the sample points ``x`` along ``y``'s dim d, shaped to broadcast."""
    xt = as_tensor(x)
    n = y.shape[d]
    if xt.ndim == 1:
        if xt.shape[0] != n:
            raise _Refused(f"{name}: There must be one `x` value for each sample point: x has "
                           f"{xt.shape[0]} values, y has {n} along dim {d + y.ndim}")
        return reshape(diff(xt), (-1,) + (1,) * (-d - 1))
    try:
        np.broadcast_shapes(xt.shape, y.shape)
    except ValueError:
        raise _Refused(f"{name}: x of shape {xt.shape} must be 1-D or broadcast with y of "
                       f"shape {y.shape}") from None
    return diff(xt, dim=d)


def trapezoid(y: Any, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The trapezoid rule along ``dim``: ∑ (y[i] + y[i+1]) / 2 · Δx, with sample points ``x``
    (1-D, or broadcasting with y) or a constant spacing ``dx`` (default 1)."""
    if x is not None and dx is not None:
        raise _Refused("trapezoid: give either x or dx, not both")
    yt = _float_of(y)
    if yt.ndim == 0:
        raise _Refused("trapezoid: y must have at least 1 dim, got a 0-d tensor")
    d = norm_dim(dim, yt.ndim, "trapezoid")
    n = yt.shape[d]
    if x is None:
        spacing = 1 if dx is None else dx
        if n == 0:
            return E.mul(R.sum(yt, dim=(d,), keepdim=False), 0)
        ends = E.add(select(yt, d, 0), select(yt, d, -1))
        return E.mul(E.sub(R.sum(yt, dim=(d,), keepdim=False), E.mul(ends, 0.5)), spacing)
    if n == 0:
        return R.sum(yt, dim=(d,), keepdim=False)
    pairs = E.add(_slice_along(yt, d, slice(1, None)), _slice_along(yt, d, slice(0, n - 1)))
    steps = _trapezoid_dx(x, yt, d, "trapezoid")
    return E.div(R.sum(E.mul(steps, pairs), dim=(d,), keepdim=False), 2.0)


def trapz(y: Any, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """``trapezoid`` (its older name)."""
    return trapezoid(y, x, dx=dx, dim=dim)


def cumulative_trapezoid(y: Any, x: Any = None, *, dx: Any = None, dim: int = -1) -> Tensor:
    """The running trapezoid rule along ``dim`` (one element fewer than y there)."""
    if x is not None and dx is not None:
        raise _Refused("cumulative_trapezoid: give either x or dx, not both")
    yt = _float_of(y)
    if yt.ndim == 0:
        raise _Refused("cumulative_trapezoid: y must have at least 1 dim, got a 0-d tensor")
    d = norm_dim(dim, yt.ndim, "cumulative_trapezoid")
    n = yt.shape[d]
    pairs = E.add(_slice_along(yt, d, slice(1, None)),
                  _slice_along(yt, d, slice(0, builtins.max(n - 1, 0))))
    if x is None:
        areas = E.mul(pairs, (1 if dx is None else dx) / 2.0)
    else:
        areas = E.div(E.mul(_trapezoid_dx(x, yt, d, "cumulative_trapezoid"), pairs), 2.0)
    return cumsum(areas, d)


def vander(x: Any, N: int | None = None, increasing: bool = False) -> Tensor:
    """The Vandermonde matrix of the 1-D ``x``: columns x^(N-1), ..., x, 1 (``increasing``:
    1, x, ..., x^(N-1)); N defaults to len(x). Integers and bools give int64, as PyTorch."""
    xt = as_tensor(x)
    if xt.ndim != 1:
        raise _Refused(f"vander: x must be a one-dimensional tensor, got shape {xt.shape}")
    n = xt.shape[0] if N is None else int(N)
    if n < 0:
        raise _Refused(f"vander: N must be non-negative, got {N}")
    if xt.dtype.kind in "biu":
        xt = xt.to(np.int64)
    ones = Tensor._make(np.ones((xt.shape[0], 1), dtype=xt.dtype))
    if n == 0:
        return Tensor._make(np.zeros((xt.shape[0], 0), dtype=xt.dtype))
    columns = cat([ones, expand(reshape(xt, (-1, 1)), xt.shape[0], n - 1)], 1)
    powers = cumprod(columns, 1)
    return powers if increasing else flip(powers, (1,))


def gradient(input: Any, *, spacing: Any = 1, dim: Any = None,
             edge_order: int = 1) -> tuple[Tensor, ...]:
    """The derivative estimated by central differences in the interior and one-sided ones
    (first or second order, ``edge_order``) at the ends, along each of ``dim`` (default: all):
    one tensor per dim. ``spacing``: a number (all dims), a list of numbers (one per dim) or
    a list of 1-D coordinate tensors (non-uniform samples)."""
    x = _float_of(input)
    dims = _gradient_dims(x, dim)
    steps = _gradient_spacing(spacing, len(dims), dims, x)
    if edge_order not in (1, 2):
        raise _Refused(f"torch.gradient only supports edge_order=1 and edge_order=2, got "
                       f"{edge_order}")
    for d in dims:
        if x.shape[d] < edge_order + 1:
            raise _Refused(f"torch.gradient expected each dimension size to be at least "
                           f"edge_order+1, got shape {x.shape} (dim {d + x.ndim}) with "
                           f"edge_order={edge_order}")
    return tuple(_uniform_gradient(x, d, h, edge_order) if not is_tensor(h)
                 else _coordinate_gradient(x, d, h, edge_order) for d, h in zip(dims, steps))


def _gradient_dims(x: Tensor, dim: Any) -> list[int]:
    if x.ndim == 0:
        raise _Refused("gradient: the input needs at least 1 dim, got a 0-d tensor")
    if dim is None:
        return [d - x.ndim for d in builtins.range(x.ndim)]
    listed = [dim] if isinstance(dim, (int, np.integer)) else list(dim)
    out = [norm_dim(d, x.ndim, "gradient") for d in listed]
    if len(set(out)) != len(out):
        raise _Refused(f"gradient: dim {dim} names the same dimension twice")
    return out


def _gradient_spacing(spacing: Any, count: int, dims: list[int], x: Tensor) -> list[Any]:
    """One step per dim: a number, or a 1-D tensor of coordinates (checked)."""
    if not isinstance(spacing, (list, tuple)):
        if is_tensor(spacing) and spacing.ndim:
            raise _Refused("gradient: give tensor spacing as a list of 1-D coordinate tensors, "
                           "one per dim")
        return [float(_data(spacing)) if is_tensor(spacing) else spacing] * count
    if len(spacing) != count:
        raise _Refused(f"torch.gradient expected spacing to be unspecified, a scalar or it's "
                       f"spacing and dim arguments to have the same length, but got a spacing "
                       f"argument of length {len(spacing)} and a dim argument of length {count}")
    out = []
    for h, d in zip(spacing, dims):
        if is_tensor(h) and h.ndim:
            if h.ndim != 1 or h.shape[0] != x.shape[d]:
                raise _Refused(f"torch.gradient expected each tensor to be on the same device "
                               f"and 1-D with one coordinate per element, but got a "
                               f"coordinate tensor of shape {h.shape} for dim {d + x.ndim} of "
                               f"size {x.shape[d]}")
            out.append(_float_of(h))
        else:
            out.append(float(_data(h)) if is_tensor(h) else h)
    return out


def _uniform_gradient(x: Tensor, d: int, h: Any, edge_order: int) -> Tensor:
    def part(a: int, b: int | None) -> Tensor:
        return _slice_along(x, d, slice(a, b))

    center = E.div(E.sub(part(2, None), part(0, -2)), h)
    if edge_order == 1:
        first = E.div(E.sub(part(1, 2), part(0, 1)), h)
        last = E.div(E.sub(part(-1, None), part(-2, -1)), h)
    else:
        first = E.div(E.add(E.sub(E.mul(part(1, 2), 2.0), E.mul(part(0, 1), 1.5)),
                            E.mul(part(2, 3), -0.5)), h)
        last = E.div(E.add(E.sub(E.mul(part(-3, -2), 0.5), E.mul(part(-2, -1), 2.0)),
                           E.mul(part(-1, None), 1.5)), h)
    return cat([first, E.div(center, 2.0), last], d)


def _coordinate_gradient(x: Tensor, d: int, coords: Tensor, edge_order: int) -> Tensor:
    def part(a: int, b: int | None) -> Tensor:
        return _slice_along(x, d, slice(a, b))

    shape = [1] * x.ndim
    shape[d] = -1
    steps = diff(coords)
    dx1, dx2 = steps[:-1], steps[1:]
    a = reshape(-dx2 / (dx1 * (dx1 + dx2)), shape)
    b = reshape((dx2 - dx1) / (dx1 * dx2), shape)
    c = reshape(dx1 / (dx2 * (dx1 + dx2)), shape)
    center = a * part(0, -2) + b * part(1, -1) + c * part(2, None)
    # (the end spacings as 1-element slices, not 0-d: the engine adds several gradients of a
    # 0-d value into a NumPy scalar, which ops then read as a float32 Python number)
    h0, h1, hl, hm = steps[0:1], steps[1:2], steps[-1:], steps[-2:-1]
    if edge_order == 1:
        first = (part(1, 2) - part(0, 1)) / h0
        last = (part(-1, None) - part(-2, -1)) / hl
    else:
        first = (-(2.0 * h0 + h1) / (h0 * (h0 + h1)) * part(0, 1)
                 + (h0 + h1) / (h0 * h1) * part(1, 2) - h0 / (h1 * (h0 + h1)) * part(2, 3))
        last = (hl / (hm * (hl + hm)) * part(-3, -2) - (hl + hm) / (hl * hm) * part(-2, -1)
                + (2.0 * hl + hm) / (hl * (hl + hm)) * part(-1, None))
    return cat([first, center, last], d)


# ---- scatter into views, index_reduce, copies

def _scatter_source(name: str, input: Any, src: Any, view: Any) -> Any:
    """``src`` checked to fill ``view`` (the part of input it replaces) exactly, in the
    input's dtype (another dtype is cast, as PyTorch's copy_ does)."""
    if shape_of(src) != shape_of(view):
        raise _Refused(f"{name}: expected src to have a size equal to the slice of self. src "
                       f"size = {list(shape_of(src))}, slice size = {list(shape_of(view))}")
    dtype = _data(input).dtype
    if is_tensor(src):
        return src if src.dtype == dtype else src.to(dtype)
    return np.asarray(src, dtype=dtype)


def select_scatter(input: Any, src: Any, dim: int, index: int) -> Tensor:
    """``input`` with ``input.select(dim, index)`` replaced by ``src`` (gradients to both)."""
    view = select(input, dim, index)
    d = norm_dim(dim, ndim_of(input), "select_scatter")
    n = shape_of(input)[d]
    key = _dim_key(input, d, int(index) + (n if index < 0 else 0))
    return I.index_put(input, _scatter_source("select_scatter", input, src, view), key=key)


def slice_scatter(input: Any, src: Any, dim: int = 0, start: int | None = None,
                  end: int | None = None, step: int = 1) -> Tensor:
    """``input`` with ``input[..., start:end:step, ...]`` (at ``dim``) replaced by ``src``."""
    if step <= 0:
        raise _Refused(f"slice_scatter: slice step must be positive, got {step}")
    d = norm_dim(dim, ndim_of(input), "slice_scatter")
    key = _dim_key(input, d, slice(start, end, step))
    view = I.getitem(input, key=key)
    return I.index_put(input, _scatter_source("slice_scatter", input, src, view), key=key)


def diagonal_scatter(input: Any, src: Any, offset: int = 0, dim1: int = 0,
                     dim2: int = 1) -> Tensor:
    """``input`` with ``input.diagonal(offset, dim1, dim2)`` replaced by ``src``."""
    view = diagonal(input, offset, dim1, dim2)
    value = _scatter_source("diagonal_scatter", input, src, view)
    nd = ndim_of(input)
    a, b = (norm_dim(k, nd, "diagonal_scatter") for k in (dim1, dim2))
    moved = movedim(input, (a, b), (-2, -1))
    rows, cols = _diagonal_positions(shape_of(view)[-1], offset)
    key = (slice(None),) * (nd - 2) + (rows, cols)
    return movedim(I.index_put(moved, value, key=key), (-2, -1), (a, b))


_INDEX_REDUCTIONS = ("prod", "mean", "amax", "amin")


def index_reduce(input: Any, dim: int, index: Any, source: Any, reduce: str, *,
                 include_self: bool = True) -> Tensor:
    """``input`` with each ``source[..., k, ...]`` combined into ``input[..., index[k], ...]``
    (along ``dim``) by ``reduce``: 'prod', 'mean', 'amax' or 'amin'; ``include_self=False``
    leaves the input's values out where something is combined. Gradients as PyTorch's (ties
    of amax/amin share evenly)."""
    if reduce not in _INDEX_REDUCTIONS:
        raise _Refused(f"index_reduce(): Expected reduce to be one of prod, mean, amax or amin "
                       f"but got {reduce!r}")
    if not ndim_of(input):
        return _on_one_element(
            lambda x, d, i, s: index_reduce(x, d, i, s, reduce, include_self=include_self),
            input, index, reshape(source, (-1,)))
    d = norm_dim(dim, ndim_of(input), "index_reduce")
    idx = _index_vector("index_reduce", index, shape_of(input)[d], negative=False)
    _indexed_source("index_reduce", input, d, idx, source)
    along = [1] * ndim_of(input)
    along[d] = -1
    full = np.ascontiguousarray(np.broadcast_to(idx.reshape(along), shape_of(source)))
    return _scatter_reduced(input, d, full, source, reduce, bool(include_self))


def narrow_copy(input: Any, dim: int, start: int, length: int) -> Tensor:
    """``narrow`` as a new tensor (no shared memory)."""
    return clone(narrow(input, dim, start, length))


def split_with_sizes(input: Any, split_sizes: Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of the given sizes along ``dim``, which must add up to its size."""
    d, n = _dim_size("split_with_sizes", input, dim)
    sizes = [int(k) for k in split_sizes]
    if builtins.sum(sizes) != n or builtins.any(k < 0 for k in sizes):
        raise _Refused(f"split_with_sizes expects split_sizes to sum exactly to {n} (input "
                       f"tensor's size at dimension {dim}), but got split_sizes={sizes}")
    return split(input, sizes, d)


# ---- linear algebra with a Cholesky factor

def _cholesky_factor(name: str, L: Any, upper: bool) -> Tensor:
    """The triangle of ``L`` that LAPACK reads, with the gradient of the whole matrix: PyTorch
    differentiates A = L Lᵀ (or Uᵀ U) densely, above the triangle too."""
    s = shape_of(L)
    if len(s) < 2 or s[-1] != s[-2]:
        raise _Refused(f"{name}: the factor must be a batch of square matrices, got shape {s}")
    Lt = as_tensor(L)
    part = triu(Lt) if upper else tril(Lt)
    return E.sub(Lt, E.sub(Lt, part).detach())


def _matrix_transpose(x: Any) -> Tensor:
    return transpose(x, -2, -1)


def _gram(factor: Tensor, upper: bool) -> Tensor:
    """A = L Lᵀ (lower factor) or Uᵀ U (upper)."""
    other = _matrix_transpose(factor)
    return matmul(other, factor) if upper else matmul(factor, other)


def cholesky_solve(input: Any, input2: Any, upper: bool = False) -> Tensor:
    """X with A X = ``input`` (B, a batch of matrices), for A = L Lᵀ given its Cholesky
    factor ``input2`` (L; ``upper=True``: U with A = Uᵀ U). Only the factor's triangle is
    read; the gradient with respect to it is PyTorch's (dense)."""
    from . import linalg_namespace as L

    if ndim_of(input) < 2:
        raise _Refused(f"cholesky_solve: b should have at least 2 dimensions, but has "
                       f"{ndim_of(input)} dimensions instead (shape {shape_of(input)})")
    factor = _cholesky_factor("cholesky_solve", input2, upper)
    if shape_of(input)[-2] != factor.shape[-1]:
        raise _Refused(f"cholesky_solve: Incompatible matrix sizes for cholesky_solve: each A "
                       f"matrix is {factor.shape[-1]} by {factor.shape[-1]} but each b matrix "
                       f"is {shape_of(input)[-2]} by {shape_of(input)[-1]}")
    return L.solve(_gram(factor, upper), input)


def cholesky_inverse(input: Any, upper: bool = False) -> Tensor:
    """A⁻¹ for A = L Lᵀ given its Cholesky factor L (``upper=True``: U with A = Uᵀ U)."""
    factor = _cholesky_factor("cholesky_inverse", input, upper)
    return linalg.inv(_gram(factor, upper))


def triangular_solve(b: Any, A: Any, upper: bool = True, transpose: bool = False,
                     unitriangular: bool = False) -> Any:
    """(X, a copy of A) with A X = b (``transpose``: Aᵀ X = b) for triangular A (its
    ``upper`` or lower triangle is read; ``unitriangular``: ones on the diagonal). Deprecated
    in PyTorch in favour of ``linalg.solve_triangular(A, b, upper=...)`` (no warning here)."""
    from . import linalg_namespace as L

    if ndim_of(b) < 2 or ndim_of(A) < 2:
        raise _Refused(f"triangular_solve: b and A should have at least 2 dimensions, got "
                       f"shapes {shape_of(b)} and {shape_of(A)}")
    coefficient = _matrix_transpose(A) if transpose else A
    solution = L.solve_triangular(coefficient, b, upper=upper != transpose,
                                  unitriangular=unitriangular)
    batch = np.broadcast_shapes(shape_of(A)[:-2], shape_of(b)[:-2])
    copy = clone(broadcast_to(A, tuple(batch) + shape_of(A)[-2:]))
    return _TriangularSolve(solution, copy)


# --------------------------------------------------------------------------- linalg namespace

class _Linalg:
    """``cr.linalg``: inv, det, slogdet, solve, cholesky, norm, vector_norm."""

    @staticmethod
    def inv(A: Any) -> Tensor:
        """Inverse of square matrices; domain: non-singular A."""
        _square("inv", A)
        return LA.inv(A)

    @staticmethod
    def det(A: Any) -> Tensor:
        """Determinant; its gradient det(A)·A⁻ᵀ needs a non-singular A."""
        _square("det", A)
        return LA.det(A)

    @staticmethod
    def slogdet(A: Any) -> Any:
        """(sign, log|det A|); the gradient flows through log|det A| (non-singular A)."""
        _square("slogdet", A)
        sign_ = Tensor._make(np.linalg.slogdet(_data(A))[0])
        return SlogdetResult(sign_, LA.logabsdet(A))

    @staticmethod
    def solve(A: Any, B: Any) -> Tensor:
        """X with A X = B; B a matrix (batch) or a vector (batch); non-singular A."""
        _square("solve", A)
        a, b = shape_of(A), shape_of(B)
        vector = LA.vector_rhs(a, b)
        rows = b[-1] if vector else b[-2] if len(b) >= 2 else None
        batch_a, batch_b = a[:-2], b[:-1] if vector else b[:-2]
        try:
            np.broadcast_shapes(batch_a, batch_b)
        except ValueError:
            rows = None
        if rows != a[-1]:
            raise OpError(f"linalg.solve: A of shape {a} and B of shape {b} do not match: B is "
                          f"a matrix (..., {a[-1]}, k) or a vector ({a[-1]},) or {a[:-1]}, and "
                          "its batch dims must broadcast with A's")
        return LA.solve_op(A, B)

    @staticmethod
    def cholesky(A: Any) -> Tensor:
        """Lower-triangular L with A = L Lᵀ; domain: symmetric positive-definite A (only the
        lower triangle is read)."""
        _square("cholesky", A)
        return LA.cholesky(A)

    @staticmethod
    def norm(A: Any, ord: Any = None, dim: Any = None, keepdim: bool = False) -> Tensor:
        """As ``torch.linalg.norm``: a vector norm over one dim, a matrix norm over two (with
        ``dim=None``: the 2-norm of all elements if ``ord`` is None, else A must be 1-D or 2-D).
        Matrix norms: 'fro', 1 / -1 (max / min column sum of |A|), inf / -inf (rows)."""
        nd = ndim_of(A)
        if dim is None:
            if ord is None or nd == 1:
                return norm(A, 2 if ord is None else ord, None, keepdim)
            if nd != 2:
                raise OpError(f"linalg.norm: with ord={ord!r} and dim=None the input must be "
                              f"1-D or 2-D, got shape {shape_of(A)}; give dim")
            dim = (-2, -1)
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
        if len(dims) == 1:
            return norm(A, 2 if ord is None else ord, dims, keepdim)
        if len(dims) != 2:
            raise OpError(f"linalg.norm: dim must name 1 or 2 dims, got {dim}")
        rows, cols = (norm_dim(d, nd, "linalg.norm") for d in dims)
        if rows == cols:
            raise OpError(f"linalg.norm: dim {dim} names the same dimension twice")
        if ord is None or ord == "fro":
            return R.norm2(A, dim=tuple(sorted((rows, cols))), keepdim=keepdim)
        if ord in (1, -1, float("inf"), float("-inf")):
            # 1: the largest column sum of |A| (sum over rows); inf: the largest row sum
            inner, outer = (rows, cols) if ord in (1, -1) else (cols, rows)
            sums = R.sum(abs(A), dim=(inner,), keepdim=True)
            pick_ = R.amax if ord in (1, float("inf")) else R.amin
            out = pick_(sums, dim=(outer,), keepdim=True)
            return out if keepdim else squeeze(out, (rows, cols))
        raise OpError(f"linalg.norm: the matrix norm ord={ord!r} is not supported (no SVD); "
                      "use 'fro', 1, -1, inf or -inf")

    @staticmethod
    def vector_norm(x: Any, ord: Any = 2, dim: Any = None, keepdim: bool = False) -> Tensor:
        return norm(x, ord, dim, keepdim)


def _square(name: str, A: Any) -> None:
    s = shape_of(A)
    if len(s) < 2 or s[-1] != s[-2]:
        raise OpError(f"linalg.{name}: expects square matrices in the last two dims, got shape "
                      f"{s}")


linalg = _Linalg()


# --------------------------------------------------------------------------- linear algebra:
# the top-level forms of cr.linalg functions (torch.det, torch.logdet, ...); the work is in
# linalg_namespace.py (imported late: it builds on this module).

def det(input: Any) -> Tensor:
    """``cr.linalg.det``."""
    return linalg.det(input)


def slogdet(input: Any) -> Any:
    """``cr.linalg.slogdet``: (sign, logabsdet)."""
    return linalg.slogdet(input)


def logdet(input: Any) -> Tensor:
    """log det A: NaN where det A < 0 (with a zero gradient there), -inf where it is 0."""
    from . import linalg_namespace as L

    return L.logdet(input)


def inverse(input: Any) -> Tensor:
    """``cr.linalg.inv``."""
    return linalg.inv(input)


def matrix_exp(A: Any) -> Tensor:
    """``cr.linalg.matrix_exp``."""
    from . import linalg_namespace as L

    return L.matrix_exp(A)


def matrix_power(input: Any, n: int) -> Tensor:
    """``cr.linalg.matrix_power``."""
    from . import linalg_namespace as L

    return L.matrix_power(input, n)


def pinverse(input: Any, rcond: float = 1e-15) -> Tensor:
    """``cr.linalg.pinv`` with the relative cutoff ``rcond``."""
    from . import linalg_namespace as L

    return L.pinv(input, rtol=rcond)


def svd(input: Any, some: bool = True, compute_uv: bool = True) -> Any:
    """``torch.svd``: (U, S, V), V (not Vh) with A = U diag(S) Vᵀ; ``some=False`` gives square
    U and V; ``compute_uv=False`` gives zero U (m×m) and V (n×n), as PyTorch."""
    from . import linalg_namespace as L

    return L.torch_svd(input, some, compute_uv)


def qr(input: Any, some: bool = True) -> Any:
    """``torch.qr``: ``cr.linalg.qr`` with mode 'reduced' (``some``) or 'complete'."""
    from . import linalg_namespace as L

    return L.qr(input, "reduced" if some else "complete")


def lu(A: Any, pivot: bool = True, get_infos: bool = False) -> Any:
    """``torch.lu`` (deprecated there, without a warning here): ``cr.linalg.lu_factor``'s
    (LU, pivots) as a tuple, raising for a zero pivot; with ``get_infos`` (LU, pivots, info)
    as ``cr.linalg.lu_factor_ex``, not raising."""
    from . import linalg_namespace as L

    if get_infos:
        return L.lu_factor_ex(A, pivot=pivot)
    return tuple(L.lu_factor(A, pivot=pivot))


def lu_solve(b: Any, LU_data: Any, LU_pivots: Any) -> Tensor:
    """``torch.lu_solve`` (deprecated there, without a warning here): X with A X = b, given
    A's LU factorisation; ``cr.linalg.lu_solve`` with its arguments in the other order."""
    from . import linalg_namespace as L

    return L.lu_solve(LU_data, LU_pivots, b)


def lu_unpack(LU_data: Any, LU_pivots: Any, unpack_data: bool = True,
              unpack_pivots: bool = True) -> Any:
    """(P, L, U) from ``cr.linalg.lu_factor``'s (LU, pivots); see
    ``linalg_namespace.lu_unpack``."""
    from . import linalg_namespace as L

    return L.lu_unpack(LU_data, LU_pivots, unpack_data, unpack_pivots)


# --------------------------------------------------------------------------- more elementwise:
# inverse hyperbolics, log10, fmax/fmin, ldexp/frexp, Bessel, integer and set tests
(acosh, asinh, atanh, log10, fmax, fmin, i0) = (E.acosh, E.asinh, E.atanh, E.log10, E.fmax,
                                                E.fmin, E.i0)
arccosh, arcsinh, arctanh = acosh, asinh, atanh
_Frexp = namedtuple("frexp", ["mantissa", "exponent"])  # type: ignore[name-match]


def frexp(input: Any) -> Any:
    """(mantissa, exponent) with input = mantissa · 2^exponent, |mantissa| in [0.5, 1) (0 for
    0); the exponent is int32 and carries no gradient, the mantissa's derivative is 2^-exponent
    (as PyTorch). Floats only."""
    x = as_tensor(input)
    if x.dtype.kind != "f":
        raise OpError(f"frexp: only supports floating-point tensors, got dtype {x.dtype}; "
                      "convert first (x.float())")
    exponent = Tensor._make(np.frexp(x.data)[1].astype(np.int32))
    return _Frexp(E.frexp_mantissa(x), exponent)


def ldexp(input: Any, other: Any) -> Tensor:
    """``input · 2^other`` (a float result, also for integers, as PyTorch); both get gradients
    (∂/∂other = out · ln 2)."""
    return E.mul(_float_of(input), E.exp2(other))


def positive(input: Any) -> Tensor:
    """``input`` itself (``+x``); bool tensors are refused, as in PyTorch."""
    x = as_tensor(input)
    if x.dtype == np.bool_:
        raise TypeError("positive: the + operator is not supported on bool tensors; convert "
                        "first (x.long())")
    return x


def rsub(input: Any, other: Any, *, alpha: float = 1) -> Tensor:
    """``other - alpha · input`` (subtraction with the operands reversed)."""
    return sub(other, input, alpha=alpha)


def _integer_args(name: str, *args: Any, bools: bool = True) -> list:
    """The plain values of ``args`` (numbers stay numbers), refused unless integer (or bool)."""
    values = _weak_pair(*args) if len(args) == 2 else [_weak_data(a) for a in args]
    for v in values:
        kind = np.asarray(v).dtype.kind
        if kind not in ("iub" if bools else "iu"):
            want = "integer or bool" if bools else "integer"
            raise TypeError(f"{name}: needs {want} tensors, got dtype {np.asarray(v).dtype}; "
                            "convert first (e.g. x.long()), or use the float operation")
    return values


def _int_result(name: str, fn: Any, input: Any, other: Any, bools: bool = True) -> Tensor:
    """An integer operation without gradient (as in PyTorch) on the plain values."""
    a, b = _integer_args(name, input, other, bools=bools)
    return Tensor._make(np.asarray(_integer_op(fn, a, b, name)))


def gcd(input: Any, other: Any) -> Tensor:
    """The greatest common divisor, elementwise (non-negative; gcd(0, 0) = 0); integers only."""
    return _int_result("gcd", np.gcd, input, other, bools=False)


def lcm(input: Any, other: Any) -> Tensor:
    """The least common multiple, elementwise (non-negative; 0 if either is 0); integers only."""
    return _int_result("lcm", np.lcm, input, other, bools=False)


def bitwise_and(input: Any, other: Any) -> Tensor:
    return _int_result("bitwise_and", np.bitwise_and, input, other)


def bitwise_or(input: Any, other: Any) -> Tensor:
    return _int_result("bitwise_or", np.bitwise_or, input, other)


def bitwise_xor(input: Any, other: Any) -> Tensor:
    return _int_result("bitwise_xor", np.bitwise_xor, input, other)


def bitwise_not(input: Any) -> Tensor:
    """``~x``: the bits flipped (for bools, logical not)."""
    (x,) = _integer_args("bitwise_not", input)
    return Tensor._make(np.asarray(np.invert(x)))


def _shift(name: str, input: Any, other: Any, left: bool) -> Tensor:
    """A shift where a count outside [0, bits) shifts every bit out, as PyTorch (NumPy leaves
    that to the CPU, which takes the count modulo the width): 0, or -1 for a right shift of a
    negative number. Bools are shifted as integers."""
    x, n = _integer_args(name, input, other)
    with np.errstate(over="ignore"):
        out = np.asarray(_integer_op(np.left_shift if left else np.right_shift, x, n, name))
    if out.dtype == np.bool_:
        out = out.astype(np.int64)
    bits = out.dtype.itemsize * 8
    outside = (np.asarray(n) < 0) | (np.asarray(n) >= bits)
    if np.any(outside):
        spilled = np.zeros_like(out) if left else np.where(np.asarray(x) < 0, -1, 0)
        out = np.where(outside, spilled, out).astype(out.dtype)
    return Tensor._make(out)


def bitwise_left_shift(input: Any, other: Any) -> Tensor:
    return _shift("bitwise_left_shift", input, other, left=True)


def bitwise_right_shift(input: Any, other: Any) -> Tensor:
    return _shift("bitwise_right_shift", input, other, left=False)


def isin(elements: Any, test_elements: Any, *, assume_unique: bool = False,
         invert: bool = False) -> Tensor:
    """Whether each element of ``elements`` occurs in ``test_elements`` (either may be a
    number); ``invert=True`` gives the opposite. NaN is in nothing (NaN ≠ NaN). No gradient."""
    a, b = np.asarray(_weak_data(elements)), np.asarray(_weak_data(test_elements))
    return Tensor._make(np.asarray(np.isin(a, b, assume_unique=assume_unique, invert=invert)))


def isreal(input: Any) -> Tensor:
    """Whether each element is real: always True (chainrule's tensors are real; NaN too)."""
    return Tensor._make(np.ones(np.shape(_weak_data(input)), dtype=bool))


# --------------------------------------------------------------------------- tensor utilities
# (is_floating_point, numel, result_type, broadcasting, inference_mode; cr.is_tensor,
# cr.promote_types and cr.can_cast are exported from chainrule/__init__.py)

def _need_tensor(input: Any, op: str) -> Tensor:
    if not is_tensor(input):
        raise TypeError(f"{op}(): argument 'input' must be a tensor, not "
                        f"{type(input).__name__}; wrap it with cr.tensor(...)")
    return input


def is_floating_point(input: Tensor) -> bool:
    """Whether ``input`` has a floating-point dtype."""
    return _need_tensor(input, "is_floating_point").dtype.kind == "f"


def numel(input: Tensor) -> int:
    """The number of elements of ``input``."""
    return int(_need_tensor(input, "numel").data.size)


def is_nonzero(input: Tensor) -> bool:
    """Whether a one-element tensor is not zero (an error for other sizes, as PyTorch)."""
    size = _need_tensor(input, "is_nonzero").data.size
    if size != 1:
        raise RuntimeError(f"is_nonzero: Boolean value of Tensor with "
                           f"{'no values' if size == 0 else 'more than one value'} is "
                           f"ambiguous (shape {input.shape}); use .any() or .all()")
    return bool(input.data.reshape(()))


def result_type(tensor1: Any, tensor2: Any) -> np.dtype:
    """The dtype an arithmetic op on the two gives, by PyTorch's rules: tensors with dims come
    first, then 0-d tensors, then Python numbers; a later group only decides when its kind
    (bool < integer < float) is higher, and then within that kind by its own dtype."""
    from . import _dtypes

    groups: list[np.dtype | None] = [None, None, None]
    for x in (tensor1, tensor2):
        rank, d = _operand_dtype(x)
        groups[rank] = d if groups[rank] is None else _dtypes.promote_types(groups[rank], d)
    result: np.dtype | None = None
    for d in reversed(groups):  # (numbers, then 0-d tensors, then tensors with dims)
        if d is not None:
            result = d if result is None else _combine_kinds(d, result)
    assert result is not None
    return result


def _operand_dtype(x: Any) -> tuple[int, np.dtype]:
    """(0 for a tensor with dims, 1 for a 0-d tensor, 2 for a number), and its dtype."""
    from . import _dtypes

    if is_tensor(x):
        return (0 if x.ndim else 1), x.dtype
    if isinstance(x, bool):
        return 2, _dtypes.bool_
    if isinstance(x, int):
        return 2, _dtypes.int64
    if isinstance(x, float):
        return 2, _dtypes.get_default_dtype()
    raise TypeError(f"result_type: expected tensors or Python numbers, got {type(x).__name__}")


def _combine_kinds(higher: np.dtype, lower: np.dtype) -> np.dtype:
    """``higher`` (of a stronger group) wins unless ``lower`` is of a higher kind."""
    from . import _dtypes

    if higher.kind == "f":
        return higher
    if higher.kind == "b" or lower.kind == "f":
        return _dtypes.promote_types(higher, lower)
    return higher


def broadcast_shapes(*shapes: Any) -> tuple[int, ...]:
    """The shape the given shapes broadcast to (an int is a 1-D shape)."""
    as_tuples = [(int(s),) if isinstance(s, (int, np.integer)) else tuple(int(d) for d in s)
                 for s in shapes]
    try:
        return tuple(np.broadcast_shapes(*as_tuples))
    except ValueError:
        raise RuntimeError(f"broadcast_shapes: shapes {as_tuples} do not broadcast (each dim, "
                           "counted from the right, must match or be 1)") from None


def broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors expanded to their common shape (views; gradients sum over the copies)."""
    for i, t in enumerate(tensors):
        if not is_tensor(t):
            raise TypeError(f"broadcast_tensors: expected tensors, but argument {i} is a "
                            f"{type(t).__name__}; pass the tensors as separate arguments")
    shape = broadcast_shapes(*(t.shape for t in tensors))
    return tuple(broadcast_to(t, shape) for t in tensors)


_INFERENCE = [False]  # whether an enabled inference_mode is innermost


class inference_mode:
    """``with cr.inference_mode():`` records nothing, as ``no_grad`` (chainrule has no separate
    inference tensors: tensors made inside are ordinary ones); ``inference_mode(False)`` turns
    recording back on, as PyTorch's. Also a decorator, with or without the call."""

    def __new__(cls, mode: Any = True) -> Any:
        self = super().__new__(cls)
        if callable(mode):  # @cr.inference_mode without the call
            return self.__class__(True)(mode)
        return self

    def __init__(self, mode: bool = True) -> None:
        self.mode = bool(mode)

    def __enter__(self) -> None:
        from .engine import STATE

        self._prev = STATE.grad_enabled, _INFERENCE[0]
        STATE.grad_enabled, _INFERENCE[0] = not self.mode, self.mode

    def __exit__(self, *exc: object) -> None:
        from .engine import STATE

        STATE.grad_enabled, _INFERENCE[0] = self._prev

    def __call__(self, fn: Any) -> Any:
        from .engine import _decorate

        mode = self.mode
        return _decorate(fn, lambda: inference_mode(mode))


def is_inference_mode_enabled() -> bool:
    """Whether code runs inside an enabled ``cr.inference_mode``."""
    return _INFERENCE[0]


_NOT_EXPORTED = {"annotations", "builtins", "namedtuple", "Sequence", "Any", "np", "E", "I", "LA",
                 "R", "S", "is_tensor", "ndim_of", "norm_dim", "norm_dims", "pick", "pick_keep",
                 "shape_of", "OpError", "Tensor", "as_tensor", "linalg", "MaxResult",
                 "SlogdetResult"}
__all__ = [n for n in list(globals()) if not n.startswith("_") and n not in _NOT_EXPORTED]
