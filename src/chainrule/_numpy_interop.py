"""NumPy calls on tensors: ufuncs and array functions dispatch to chainrule's own ops.

``np.exp(t)`` is ``cr.exp(t)``, so derivative rules written with NumPy work on arrays (fast) and
on tensors (recorded). A NumPy function with no chainrule counterpart runs on the plain values
when no gradient is involved, and raises a clear TypeError when one would be lost.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _ufuncs() -> dict:
    from . import functional as F

    return {
        np.add: F.E.add, np.subtract: F.E.sub, np.multiply: F.E.mul, np.divide: F.E.div,
        np.true_divide: F.E.div, np.negative: F.E.neg, np.power: F.E.pow, np.exp: F.exp,
        np.remainder: F.remainder,  # (np.mod too: the same ufunc)
        np.floor_divide: lambda a, b: F.div(a, b, rounding_mode="floor"),
        np.exp2: F.exp2, np.log: F.log, np.log2: F.log2, np.log1p: F.log1p, np.expm1: F.expm1,
        np.sqrt: F.sqrt, np.square: F.square, np.reciprocal: F.reciprocal, np.absolute: F.abs,
        np.sin: F.sin, np.cos: F.cos, np.tan: F.tan, np.arcsin: F.asin, np.arccos: F.acos,
        np.arctan: F.atan, np.arctan2: F.atan2, np.sinh: F.sinh, np.cosh: F.cosh,
        np.tanh: F.tanh, np.maximum: F.maximum, np.minimum: F.minimum, np.sign: F.sign,
        np.floor: F.floor, np.ceil: F.ceil, np.rint: F.round, np.matmul: F.matmul,
        np.less: F.lt, np.less_equal: F.le, np.greater: F.gt, np.greater_equal: F.ge,
        np.equal: F.eq, np.not_equal: F.ne, np.logical_not: F.logical_not,
        np.logical_and: F.logical_and, np.logical_or: F.logical_or,
        np.logical_xor: F.logical_xor, np.isnan: F.isnan, np.isinf: F.isinf,
        np.isfinite: F.isfinite, np.trunc: F.trunc, np.fmod: F.fmod, np.hypot: F.hypot,
        np.logaddexp: F.logaddexp, np.logaddexp2: F.logaddexp2, np.copysign: F.copysign,
        np.signbit: F.signbit, np.nextafter: F.nextafter, np.heaviside: F.heaviside,
        np.rad2deg: F.rad2deg, np.deg2rad: F.deg2rad, np.degrees: F.rad2deg,
        np.radians: F.deg2rad, np.float_power: F.float_power,
        np.log10: F.log10, np.arccosh: F.acosh, np.arcsinh: F.asinh, np.arctanh: F.atanh,
        np.fmax: F.fmax, np.fmin: F.fmin, np.ldexp: F.ldexp, np.frexp: F.frexp,
        np.positive: F.positive, np.gcd: F.gcd, np.lcm: F.lcm, np.bitwise_and: F.bitwise_and,
        np.bitwise_or: F.bitwise_or, np.bitwise_xor: F.bitwise_xor, np.invert: F.bitwise_not,
        np.left_shift: F.bitwise_left_shift, np.right_shift: F.bitwise_right_shift,
    }


def _no_out(out: Any, name: str) -> None:
    if out is not None:
        raise TypeError(f"np.{name} on chainrule tensors: out= is not supported (the result "
                        "is a new tensor); assign the result instead")


def _functions() -> dict:
    from . import functional as F
    from .ops._util import norm_dim

    def concatenate(arrays: Any, axis: Any = 0, out: Any = None, **kw: Any) -> Any:
        _no_out(out, "concatenate")
        if axis is None:  # NumPy's meaning: the arrays flattened, then joined
            return F.cat([F.reshape(a, (-1,)) for a in arrays], 0)
        return F.cat(arrays, axis)

    def where(c: Any, x: Any = None, y: Any = None) -> Any:
        return F.where(c, x, y)

    def transpose(a: Any, axes: Any = None) -> Any:
        return F.permute(a, tuple(range(a.ndim - 1, -1, -1)) if axes is None else axes)

    def reshape(a: Any, shape: Any = None, order: str = "C", **kw: Any) -> Any:
        shape = kw.get("newshape", shape)
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if order == "F":  # column-major: reshape the reversed dims, reverse back
            rev = F.permute(a, tuple(range(a.ndim - 1, -1, -1)))
            out = F.reshape(rev, shape[::-1])
            return F.permute(out, tuple(range(out.ndim - 1, -1, -1)))
        if order not in ("C", "A"):
            raise ValueError(f"np.reshape: order must be 'C', 'F' or 'A', got {order!r}")
        return F.reshape(a, shape)

    def expand_dims(a: Any, axis: Any) -> Any:
        # NumPy counts each axis in the result's dims, then inserts them in increasing order
        axes = (axis,) if isinstance(axis, int) else tuple(axis)
        n = a.ndim + len(axes)
        for ax in sorted(norm_dim(ax, n, "expand_dims") + n for ax in axes):
            a = F.unsqueeze(a, ax)
        return a

    def var(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
            keepdims: bool = False, **kw: Any) -> Any:
        # NumPy's default is ddof=0 (PyTorch's correction=1): keep NumPy's meaning here
        _no_out(out, "var")
        x = a if dtype is None else a.to(dtype)
        return F.var(x, axis=axis, correction=ddof, keepdim=keepdims)

    def std(a: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: float = 0,
            keepdims: bool = False, **kw: Any) -> Any:
        _no_out(out, "std")
        x = a if dtype is None else a.to(dtype)
        return F.std(x, axis=axis, correction=ddof, keepdim=keepdims)

    def dot(a: Any, b: Any) -> Any:
        na, nb = np.ndim(a), np.ndim(b)
        if na == 0 or nb == 0:
            return F.mul(a, b)
        if na <= 2 and nb <= 2:
            return F.matmul(a, b)
        # N-D: sum over a's last axis and b's second-to-last, all other axes kept (outer)
        letters = "abcdefghijklmnopqrstuvwxyz"
        sa, sb = letters[:na - 1], letters[na - 1:na + nb - 2]
        k = "Z"
        sb_full = sb[:-1] + k + sb[-1] if nb >= 2 else k
        return F.einsum(f"{sa}{k},{sb_full}->{sa}{sb}", a, b)

    def prod(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
             keepdims: bool = False, **kw: Any) -> Any:
        _no_out(out, "prod")
        x = a if dtype is None else a.to(dtype)
        return F.prod(x, axis=axis, keepdim=keepdims)

    def zeros_like(a: Any, dtype: Any = None, **kw: Any) -> Any:
        from .tensor import Tensor

        return Tensor._make(np.zeros_like(a.data, dtype=dtype))

    def ones_like(a: Any, dtype: Any = None, **kw: Any) -> Any:
        from .tensor import Tensor

        return Tensor._make(np.ones_like(a.data, dtype=dtype))

    def pad(a: Any, pad_width: Any, mode: str = "constant", constant_values: Any = 0) -> Any:
        from .ops.shape import constant_pad

        widths = tuple((int(p[0]), int(p[1])) for p in np.broadcast_to(pad_width, (a.ndim, 2)))
        return constant_pad(a, widths=widths, value=constant_values)

    def take_along_axis(a: Any, indices: Any, axis: int) -> Any:
        from .ops._util import norm_dim
        from .ops.indexing import take_along

        return take_along(a, index=np.asarray(getattr(indices, "data", indices)),
                          dim=norm_dim(axis, a.ndim, "take_along_axis"))

    def squeeze(a: Any, axis: Any = None) -> Any:
        return F.squeeze(a, axis)

    def flip(a: Any, axis: Any = None) -> Any:
        return F.flip(a, tuple(range(a.ndim)) if axis is None else axis)

    def roll(a: Any, shift: Any, axis: Any = None) -> Any:
        return F.roll(a, shift, axis)

    def clip(a: Any, a_min: Any = None, a_max: Any = None, **kw: Any) -> Any:
        return F.clamp(a, kw.get("min", a_min), kw.get("max", a_max))

    def cumsum(a: Any, axis: Any = None, **kw: Any) -> Any:
        return F.cumsum(a.reshape(-1), 0) if axis is None else F.cumsum(a, axis)

    def cumprod(a: Any, axis: Any = None, **kw: Any) -> Any:
        return F.cumprod(a.reshape(-1), 0) if axis is None else F.cumprod(a, axis)

    def einsum(subscripts: str, *operands: Any, **kw: Any) -> Any:
        return F.einsum(subscripts, *operands)

    def swapaxes(a: Any, axis1: int, axis2: int) -> Any:
        return F.transpose(a, axis1, axis2)

    def broadcast_to(a: Any, shape: Any, subok: bool = False) -> Any:
        return F.broadcast_to(a, (shape,) if isinstance(shape, int) else shape)

    def shape(a: Any) -> Any:
        return a.shape

    def ndim(a: Any) -> Any:
        return a.ndim

    def linalg_inv(a: Any) -> Any:
        return F.linalg.inv(a)

    def linalg_det(a: Any) -> Any:
        return F.linalg.det(a)

    def linalg_norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
        return F.linalg.norm(x, ord, axis, keepdims)

    def tril(m: Any, k: int = 0) -> Any:
        return F.tril(m, k)

    def trace(a: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
              out: Any = None) -> Any:
        _no_out(out, "trace")
        x = a if dtype is None else F.as_tensor(a).to(dtype)
        return F.sum(F.diagonal(x, offset, axis1, axis2), -1)

    def nan_reduction(fn: Any, name: str) -> Any:
        def reduce(a: Any, axis: Any = None, dtype: Any = None, out: Any = None,
                   keepdims: bool = False, **kw: Any) -> Any:
            _no_out(out, name)
            return fn(a, axis, keepdims, dtype=dtype)
        return reduce

    def stacking(fn: Any) -> Any:
        def join(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
            ts = [F.as_tensor(t) for t in tup]
            return fn(ts if dtype is None else [t.to(dtype) for t in ts])
        return join

    def triu(m: Any, k: int = 0) -> Any:
        return F.triu(m, k)

    def sort(a: Any, axis: Any = -1, kind: Any = None, order: Any = None, **kw: Any) -> Any:
        # (NumPy's sort is stable for kind='stable' only; chainrule's always is: same values)
        if order is not None:
            raise TypeError("np.sort on chainrule tensors: order= is for structured arrays")
        if axis is None:  # NumPy's meaning: the flattened array
            return F.sort(F.reshape(a, (-1,)), 0).values
        return F.sort(a, axis).values

    return {
        np.sum: F.sum, np.mean: F.mean, np.prod: prod, np.var: var, np.std: std,
        np.amax: F.amax, np.max: F.amax, np.amin: F.amin, np.min: F.amin,
        np.reshape: reshape, np.transpose: transpose, np.swapaxes: swapaxes,
        np.moveaxis: F.movedim, np.expand_dims: expand_dims, np.squeeze: squeeze,
        np.broadcast_to: broadcast_to, np.concatenate: concatenate, np.stack: F.stack,
        np.where: where, np.flip: flip, np.roll: roll, np.tile: F.tile, np.cumsum: cumsum,
        np.cumprod: cumprod, np.einsum: einsum, np.dot: dot, np.outer: F.outer,
        np.clip: clip, np.pad: pad, np.zeros_like: zeros_like, np.ones_like: ones_like,
        np.take_along_axis: take_along_axis, np.shape: shape, np.ndim: ndim,
        np.linalg.inv: linalg_inv, np.linalg.det: linalg_det,
        np.linalg.norm: linalg_norm, np.tril: tril, np.triu: triu,
        # (the shape/product and statistics ops whose NumPy meaning is chainrule's)
        np.kron: F.kron, np.tensordot: lambda a, b, axes=2: F.tensordot(a, b, axes),
        np.diagonal: lambda a, offset=0, axis1=0, axis2=1: F.diagonal(a, offset, axis1, axis2),
        np.trace: trace, np.ravel: lambda a, order="C": reshape(a, -1, order),
        np.rot90: lambda m, k=1, axes=(0, 1): F.rot90(m, k, axes),
        np.fliplr: F.fliplr, np.flipud: F.flipud, np.hstack: stacking(F.hstack),
        np.vstack: stacking(F.vstack), np.dstack: stacking(F.dstack),
        np.column_stack: lambda tup: F.column_stack(tup),
        np.nansum: nan_reduction(F.nansum, "nansum"),
        np.nanmean: nan_reduction(F.nanmean, "nanmean"),
        np.nan_to_num: lambda x, copy=True, nan=0.0, posinf=None, neginf=None:
        F.nan_to_num(x, nan, posinf, neginf),
        np.sort: sort,
    }


_TABLES: dict[str, dict] = {}


def _table(kind: str) -> dict:
    if kind not in _TABLES:
        _TABLES[kind] = _ufuncs() if kind == "ufunc" else _functions()
    return _TABLES[kind]


def _needs_grad(values: Any) -> bool:
    from .tensor import Tensor

    if isinstance(values, Tensor):
        return values.requires_grad
    if isinstance(values, (list, tuple)):
        return any(_needs_grad(v) for v in values)
    if isinstance(values, dict):
        return any(_needs_grad(v) for v in values.values())
    return False


def _plain(values: Any) -> Any:
    from .tensor import Tensor

    if isinstance(values, Tensor):
        return values.data
    if isinstance(values, (list, tuple)):
        return type(values)(_plain(v) for v in values)
    if isinstance(values, dict):
        return {k: _plain(v) for k, v in values.items()}
    return values


def array_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    from .tensor import Tensor

    fn = _table("ufunc").get(ufunc)
    if fn is not None and method == "__call__" and not kwargs:
        return fn(*inputs)
    grad = _needs_grad(inputs) or _needs_grad(kwargs)
    if grad and "out" in kwargs:
        _no_derivative(f"{ufunc.__name__}{'' if method == '__call__' else '.' + method}")
    result = getattr(ufunc, method)(*_plain(inputs), **_plain(kwargs))
    if grad and _has_floats(result):
        _no_derivative(f"{ufunc.__name__}{'' if method == '__call__' else '.' + method}")
    if isinstance(result, np.ndarray):
        return Tensor._make(result)
    return result


def array_function(func: Any, args: tuple, kwargs: dict) -> Any:
    fn = _table("function").get(func)
    if fn is not None:
        return fn(*args, **kwargs)
    grad = _needs_grad(args) or _needs_grad(kwargs)
    if grad and "out" in kwargs:
        _no_derivative(func.__name__)
    result = func(*_plain(args), **_plain(kwargs))
    if grad and _has_floats(result):  # (an index, a count, a bool, a shape: no gradient lost)
        _no_derivative(func.__name__)
    return result


def _no_derivative(name: str) -> None:
    raise TypeError(
        f"np.{name} has no derivative in chainrule; use the chainrule function (cr.*), or "
        ".detach() the tensor if no gradient is wanted")


def _has_floats(result: Any) -> bool:
    """Whether a NumPy result holds floating-point values (which a gradient would follow)."""
    if isinstance(result, (list, tuple)):
        return any(_has_floats(r) for r in result)
    if isinstance(result, (bool, int, np.bool_, np.integer, str)) or result is None:
        return False
    return not (isinstance(result, np.ndarray) and result.dtype.kind in "biu")
