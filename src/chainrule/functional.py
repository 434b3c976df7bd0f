"""The public functions (``cr.sum``, ``cr.reshape``, ...): PyTorch's signatures on the op table.

This layer only handles arguments (``dim``/``axis`` aliases, ``keepdim``, defaults, checks with
clear messages) and composes ops; every derivative lives in ``chainrule/ops/``.
"""

from __future__ import annotations

import builtins
import functools
import math
from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from .ops import elementwise as E
from .ops import indexing as I
from .ops import linalg as LA
from .ops import reductions as R
from .ops import shape as S
from .ops._util import is_tensor, ndim_of, norm_dim, norm_dims, pick, pick_keep, shape_of
from .ops.registry import OpError
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
    a, b = _weak_data(input), _weak_data(other)
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
    a, b = _weak_data(input), _weak_data(other)
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
    return E.where(_data(condition).astype(bool, copy=False), input, other)


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


inner = dot


def mv(input: Any, vec: Any) -> Tensor:
    if ndim_of(input) != 2 or ndim_of(vec) != 1:
        raise OpError(f"mv: expects a matrix and a vector, got shapes {shape_of(input)} and "
                      f"{shape_of(vec)}")
    return _matmul_checked("mv", input, vec)


def outer(input: Any, vec2: Any) -> Tensor:
    """``input[:, None] * vec2[None, :]``."""
    return E.mul(reshape(input, (-1, 1)), reshape(vec2, (1, -1)))


ger = outer


def einsum(equation: str, *operands: Any) -> Tensor:
    """Einstein summation, e.g. ``einsum('bij,bjk->bik', a, b)``."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    return LA.einsum(*operands, equation=equation)


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
    order = [n for n in range(nd) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return S.permute(input, dims=tuple(order))


moveaxis = movedim


# --------------------------------------------------------------------------- shape

def _shape_arg(shape: Sequence[Any]) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = tuple(shape[0])
    return tuple(int(s) for s in shape)


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


view = reshape


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
    return broadcast_to(input, _shape_arg(sizes))


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
    return S.flip(input, dims=norm_dims(dims, ndim_of(input), "flip"))


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
    reps = _shape_arg((dims,))
    nd = ndim_of(input)
    reps = (1,) * (nd - len(reps)) + reps
    return S.tile(input, reps=reps)


def repeat(input: Any, *sizes: Any) -> Tensor:
    """PyTorch's ``Tensor.repeat``: like ``tile`` but needs at least one size per dim."""
    reps = _shape_arg(sizes)
    if len(reps) < ndim_of(input):
        raise OpError(f"repeat: give at least {ndim_of(input)} sizes (one per dim), got {reps}")
    return S.tile(input, reps=reps)


def clone(input: Any) -> Tensor:
    return S.clone(input)


def tril(input: Any, diagonal: int = 0) -> Tensor:
    n, m = shape_of(input)[-2:]
    return E.mul(input, np.tril(np.ones((n, m), dtype=bool), diagonal))


def triu(input: Any, diagonal: int = 0) -> Tensor:
    n, m = shape_of(input)[-2:]
    return E.mul(input, np.triu(np.ones((n, m), dtype=bool), diagonal))


def diagonal(input: Any, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The diagonal of the last two dims (as ``torch.diagonal`` with the default dims)."""
    if (dim1, dim2) not in ((-2, -1), (0, 1)) or (ndim_of(input) != 2 and (dim1, dim2) == (0, 1)):
        raise NotImplementedError("diagonal: only the last two dims are supported")
    n, m = shape_of(input)[-2:]
    rows = np.arange(builtins.max(0, -offset), builtins.min(n, m - offset))
    return I.getitem(input, key=I.canonical_key((Ellipsis, rows, rows + offset), ndim_of(input)))


def trace(input: Any) -> Tensor:
    return sum(diagonal(input), dim=-1)


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


_NOT_EXPORTED = {"annotations", "builtins", "namedtuple", "Sequence", "Any", "np", "E", "I", "LA",
                 "R", "S", "is_tensor", "ndim_of", "norm_dim", "norm_dims", "pick", "pick_keep",
                 "shape_of", "OpError", "Tensor", "as_tensor", "linalg", "MaxResult",
                 "SlogdetResult"}
__all__ = [n for n in list(globals()) if not n.startswith("_") and n not in _NOT_EXPORTED]
