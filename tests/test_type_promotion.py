"""Type promotion of elementwise ops, beside PyTorch: tensors with dims decide the dtype, a 0-d
tensor only when its kind (bool < integer < float) is higher, a Python number last."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "lt", "eq", "atan2", "fmod"]


def _pair(dtype: str, zero_dim: bool) -> tuple:
    values = [True, False] if dtype == "bool" else [3, 5]
    value = True if dtype == "bool" else 2
    data = value if zero_dim else values
    return (cr.tensor(data, dtype=getattr(cr, dtype)),
            torch.tensor(data, dtype=getattr(torch, dtype)))


def _same(ours: cr.Tensor, theirs: torch.Tensor) -> None:
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), (ours.dtype, theirs.dtype)
    if ours.dtype.kind == "f":  # (atan2 of integers: 1 ulp apart, ours rounds from float64)
        rtol = {2: 1e-3, 4: 1e-6, 8: 1e-12}[ours.dtype.itemsize]
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=rtol)
    else:
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # (x / 0, fmod(x, 0) of the bools)
@pytest.mark.parametrize("name", BINARY)
@pytest.mark.parametrize("dims_dtype,zero_dtype", list(itertools.product(DTYPES, DTYPES)))
def test_zero_dim_tensor_promotes_like_torch(name: str, dims_dtype: str, zero_dtype: str) -> None:
    a, ta = _pair(dims_dtype, zero_dim=False)
    b, tb = _pair(zero_dtype, zero_dim=True)
    for (x, tx), (y, ty) in (((a, ta), (b, tb)), ((b, tb), (a, ta))):
        try:
            expected = getattr(torch, name)(tx, ty)
        except RuntimeError:  # (e.g. sub on bools: torch refuses, and so does chainrule)
            continue
        _same(getattr(cr, name)(x, y), expected)


@pytest.mark.parametrize("dtype", ["float32", "float16", "int8", "uint8"])
def test_operators_keep_the_dims_dtype(dtype: str) -> None:
    a, ta = _pair(dtype, zero_dim=False)
    for other in (2, 3.0):
        b, tb = cr.tensor(other, dtype=cr.float64), torch.tensor(other, dtype=torch.float64)
        if dtype in ("int8", "uint8"):
            b, tb = cr.tensor(int(other)), torch.tensor(int(other))  # int64 0-d
        _same(a + b, ta + tb)
        _same(b * a, tb * ta)
        _same(a - b, ta - tb)
        _same(b / a, tb / ta)
        _same(a < b, ta < tb)
        if dtype.startswith("float"):
            _same(a ** b, ta ** tb)


def test_wrapping_of_the_cast_zero_dim_value_matches_torch() -> None:
    # 1000 does not fit int8: both libraries cast it to int8 (-24) before adding and comparing
    a, ta = cr.tensor([1, 2], dtype=cr.int8), torch.tensor([1, 2], dtype=torch.int8)
    _same(a + cr.tensor(1000), ta + torch.tensor(1000))
    _same(a < cr.tensor(1000), ta < torch.tensor(1000))


def test_ternary_ops_with_zero_dim_operands() -> None:
    x, tx = cr.ones(3), torch.ones(3)
    w, tw = cr.tensor(0.25, dtype=cr.float64), torch.tensor(0.25, dtype=torch.float64)
    _same(cr.lerp(x, cr.zeros(3), w), torch.lerp(tx, torch.zeros(3), tw))
    cond = [True, False, True]
    _same(cr.where(cr.tensor(cond), x, w), torch.where(torch.tensor(cond), tx, tw))
    _same(cr.clamp(x, min=w), torch.clamp(tx, min=tw))


def test_numpy_operands_are_not_zero_dim_tensors() -> None:
    # PyTorch promotes with NumPy arrays (even 0-d) like tensors with dims, and takes NumPy
    # scalars as Python numbers; chainrule likewise
    assert (cr.ones(2) * np.array(2.0)).dtype == cr.float64
    assert (cr.ones(2) * np.float64(2.0)).dtype == cr.float32


def test_gradient_of_a_wider_zero_dim_tensor() -> None:
    """float32 x times a float64 0-d s: the product is float32 and computed in float32 (as
    PyTorch), s's gradient is float64 and equals torch's."""
    xv = np.array([0.1, 0.7, -1.3], dtype=np.float32)
    x = cr.tensor(xv, requires_grad=True)
    s = cr.tensor(1 / 3, dtype=cr.float64, requires_grad=True)
    tx = torch.tensor(xv, requires_grad=True)
    ts = torch.tensor(1 / 3, dtype=torch.float64, requires_grad=True)
    y, ty = (x * s).tanh().sum(), (tx * ts).tanh().sum()
    _same(y.detach(), ty.detach())
    y.backward()
    ty.backward()
    assert x.grad.dtype == cr.float32 and s.grad.dtype == cr.float64
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy(), rtol=1e-6)


def test_gradcheck_through_mixed_dtype_ops_in_float64() -> None:
    # both float64 with dims or not: the ordinary path, checked numerically
    x = cr.tensor([0.3, -0.2, 0.9], dtype=cr.float64, requires_grad=True)
    s = cr.tensor(0.7, dtype=cr.float64, requires_grad=True)
    assert cr.gradcheck(lambda x, s: (x * s + s / (1 + x * x)).sin(), (x, s))


INTEGER_BINARY = {
    "bitwise_and": lambda m, a, b: m.bitwise_and(a, b), "and": lambda m, a, b: a & b,
    "or": lambda m, a, b: a | b, "xor": lambda m, a, b: a ^ b,
    "lshift": lambda m, a, b: a << b, "rshift": lambda m, a, b: a >> b,
    "floordiv": lambda m, a, b: a // b, "remainder": lambda m, a, b: a % b,
    "trunc_div": lambda m, a, b: m.div(a, b, rounding_mode="trunc"),
    "gcd": lambda m, a, b: m.gcd(a, b),
}


@pytest.mark.parametrize("name", list(INTEGER_BINARY))
@pytest.mark.parametrize("dims_dtype,zero_dtype", [("int8", "int64"), ("uint8", "int64"),
                                                   ("int16", "int32"), ("int64", "int8")])
def test_integer_ops_with_zero_dim_tensors(name: str, dims_dtype: str, zero_dtype: str) -> None:
    fn = INTEGER_BINARY[name]
    a, ta = cr.tensor([7, 12], dtype=getattr(cr, dims_dtype)), torch.tensor(
        [7, 12], dtype=getattr(torch, dims_dtype))
    b, tb = cr.tensor(3, dtype=getattr(cr, zero_dtype)), torch.tensor(
        3, dtype=getattr(torch, zero_dtype))
    _same(fn(cr, a, b), fn(torch, ta, tb))
    _same(fn(cr, b, a), fn(torch, tb, ta))


def test_linear_with_a_wider_bias_promotes_as_its_composite_does():
    # (PyTorch refuses mixed dtypes in linear; chainrule promotes, as everywhere, and the fused
    # op must give what x @ w.T + b gives, not round the bias down into the float32 product)
    x = cr.tensor(np.array([[1.0, 2.0, 3.0]], np.float32), requires_grad=True)
    w = cr.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    b = cr.tensor(np.array([1e-9, 0.5]), requires_grad=True)
    y = cr.nn.functional.linear(x, w, b)
    assert y.dtype == cr.float64
    np.testing.assert_array_equal(y.numpy(), (x @ w.T + b).numpy())
    y.sum().backward()
    assert (x.grad.dtype, w.grad.dtype, b.grad.dtype) == (cr.float32, cr.float32, cr.float64)


# --------------------------------------------------------------------------- bool and integer
# inputs of ops NumPy treats differently (found by running every op on every dtype beside torch)

@pytest.mark.parametrize("name", ["sign", "sgn", "sigmoid", "square"])
def test_bool_input_like_torch(name: str) -> None:
    data = [[True, False], [False, True]]
    ours = getattr(cr, name)(cr.tensor(data))
    _same(ours, getattr(torch, name)(torch.tensor(data)))


@pytest.mark.parametrize("low,high", [(-1.0, 1.0), (0.5, 3.7), (-2.5, 2.5)])
def test_hardtanh_keeps_integers_with_truncated_limits(low: float, high: float) -> None:
    data = [-3, 0, 1, 5]
    ours = cr.nn.functional.hardtanh(cr.tensor(data), low, high)
    _same(ours, torch.nn.functional.hardtanh(torch.tensor(data), low, high))


@pytest.mark.parametrize("dtype", ["uint8", "int64", "bool", "float32"])
@pytest.mark.parametrize("name", ["all", "any"])
def test_all_any_dtype_like_torch(name: str, dtype: str) -> None:
    data = [[0, 3], [1, 2]]
    a = cr.tensor(data, dtype=getattr(cr, dtype))
    ta = torch.tensor(data, dtype=getattr(torch, dtype))
    _same(getattr(a, name)(), getattr(ta, name)())
    _same(getattr(cr, name)(a, 1), getattr(torch, name)(ta, 1))


@pytest.mark.parametrize("dst,src", [("uint8", "int8"), ("int8", "int64"), ("int64", "bool"),
                                     ("float16", "int64"), ("float32", "float64")])
@pytest.mark.parametrize("method", ["add_", "mul_", "copy_"])
def test_inplace_stores_what_torch_stores(method: str, dst: str, src: str) -> None:
    """PyTorch's rule for in-place results (no float into integers, nothing but bool into
    bool), not NumPy's same_kind: int16 into uint8 wraps, as in PyTorch."""
    a = cr.tensor([1, 2], dtype=getattr(cr, dst))
    ta = torch.tensor([1, 2], dtype=getattr(torch, dst))
    b = [1, -2] if src != "bool" else [True, False]
    getattr(a, method)(cr.tensor(b, dtype=getattr(cr, src)))
    getattr(ta, method)(torch.tensor(b, dtype=getattr(torch, src)))
    _same(a, ta)


@pytest.mark.parametrize("dst,src", [("int32", "float32"), ("bool", "int64")])
def test_inplace_refuses_what_torch_refuses(dst: str, src: str) -> None:
    a = cr.tensor([1, 2], dtype=getattr(cr, dst))
    with pytest.raises(TypeError, match=f"result has dtype {src}.*dtype {dst}"):
        a.add_(cr.tensor([1, 2], dtype=getattr(cr, src)))
    np.testing.assert_array_equal(a.numpy(), np.array([1, 2]).astype(dst))  # untouched


def test_bitwise_operator_with_out_of_range_number_names_the_op() -> None:
    with pytest.raises(cr.OpError, match="bitwise_and: Python integer -3 out of bounds for uint8"):
        cr.tensor([1, 2], dtype=cr.uint8) & -3
