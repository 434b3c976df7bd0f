"""The remaining elementwise ops (inverse hyperbolics, log10, fmax/fmin, ldexp/frexp, Bessel,
integer and set tests), the comparison/alias methods and the in-place method family, against
PyTorch (values and gradients) and central differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from torch_parity_helpers import TOL, TORCH_DTYPE, close

import chainrule as cr

torch = pytest.importorskip("torch")

DTYPES = [np.float64, np.float32]
RNG = np.random.default_rng(0)


def _pair(values: np.ndarray, dtype: type) -> tuple:
    a = values.astype(dtype)
    return (cr.tensor(a, requires_grad=True),
            torch.tensor(a, dtype=TORCH_DTYPE[dtype], requires_grad=True))


def _same(cr_fn, torch_fn, arrays: list, dtype: type, what: str) -> None:
    """Outputs and input gradients (for a random upstream gradient) agree with torch."""
    pairs = [_pair(a, dtype) for a in arrays]
    out = cr_fn(*[p[0] for p in pairs])
    ref = torch_fn(*[p[1] for p in pairs])
    close(out, ref, TOL[dtype], f"{what} output")
    g = RNG.standard_normal(ref.shape).astype(dtype)
    out.backward(cr.tensor(g))
    ref.backward(torch.tensor(g))
    for i, (c, t) in enumerate(pairs):
        close(c.grad, t.grad, TOL[dtype], f"{what} grad {i}")


# --------------------------------------------------------------------------- new functions

UNARY = [("acosh", 1.1, 3.0), ("asinh", -3.0, 3.0), ("atanh", -0.9, 0.9), ("log10", 0.1, 5.0),
         ("i0", -4.0, 4.0), ("special.i0e", -4.0, 4.0), ("special.i1", -4.0, 4.0),
         ("special.i1e", -4.0, 4.0)]


def _get(module, name: str):
    for part in name.split("."):
        module = getattr(module, part)
    return module


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 4), (0,), (), (2, 1, 3)])
@pytest.mark.parametrize("name,low,high", UNARY)
def test_unary_matches_torch(name, low, high, shape, dtype):
    x = RNG.uniform(low, high, shape)
    _same(_get(cr, name), _get(torch, name), [x], dtype, name)


@pytest.mark.parametrize("name", ["i0", "special.i0e", "special.i1", "special.i1e"])
def test_bessel_gradient_at_zero_and_second_order(name):
    x = np.array([0.0, 1e-9, -2.5, 30.0])
    _same(_get(cr, name), _get(torch, name), [x], np.float64, name)
    t = cr.tensor(np.array([0.3, -1.2, 2.0]), requires_grad=True)
    assert cr.gradcheck(_get(cr, name), (t,))
    assert cr.gradgradcheck(_get(cr, name), (t,))



def test_scaled_bessel_gradient_near_zero_to_the_last_digits():
    # d/dx e^-|x|·I1(x) = e^-|x|·(I0(x) - I1(x)/x - sign(x)·I1(x)); near 0 the series
    # I0 = 1 + x²/4, I1/x = 1/2 + x²/16 are exact in float64. (i1e(x)/x is not 1/2 there: it
    # is e^-|x|/2, which differs by |x|/2.)
    xs = np.array([1e-9, -3e-9, 2e-8, -9e-9, 5e-324, 0.0])
    a = np.abs(xs)
    exact = np.exp(-a) * (1 + xs * xs / 4 - (0.5 + xs * xs / 16) * (1 + np.sign(xs) * xs))
    x = cr.tensor(xs, requires_grad=True)
    cr.special.i1e(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), exact, rtol=2e-15, atol=0)  # (a few ulps)

def test_aliases_and_methods():
    x = cr.tensor([1.5, 2.0])
    for alias, name in [("arccosh", "acosh"), ("arcsinh", "asinh"), ("arctanh", "atanh")]:
        assert getattr(cr, alias) is getattr(cr, name)
        y = x / 4 if name == "atanh" else x
        np.testing.assert_array_equal(getattr(y, alias)().data, getattr(cr, name)(y).data)
    assert cr.i0 is cr.special.i0
    np.testing.assert_allclose(x.i0().data, torch.tensor([1.5, 2.0]).i0().numpy(), rtol=1e-6)


def test_integer_inputs_give_float_results():
    for name in ["acosh", "asinh", "log10", "i0"]:
        out = getattr(cr, name)(cr.tensor([1, 2, 3]))
        ref = getattr(torch, name)(torch.tensor([1, 2, 3]))
        assert str(out.dtype) == str(ref.dtype).replace("torch.", ""), name
        close(out, ref, 1e-6, name)


@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_nan_and_ties(name):
    nan = np.nan
    a = np.array([1.0, nan, 2.0, 3.0, nan, -1.0])
    b = np.array([2.0, 1.0, nan, 3.0, nan, -4.0])
    _same(getattr(cr, name), getattr(torch, name), [a, b], np.float64, name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["fmax", "fmin"])
def test_fmax_fmin_broadcasting(name, dtype):
    a, b = RNG.uniform(-2, 2, (2, 3, 4)), RNG.uniform(-2, 2, (3, 1))
    _same(getattr(cr, name), getattr(torch, name), [a, b], dtype, name)
    _same(lambda x, y: getattr(x, name)(y), lambda x, y: getattr(x, name)(y), [a, b], dtype,
          name + " method")


@pytest.mark.parametrize("dtype", DTYPES)
def test_ldexp(dtype):
    x, e = RNG.uniform(-2, 2, (3, 4)), np.round(RNG.uniform(-3, 3, (1, 4)))
    _same(cr.ldexp, torch.ldexp, [x, e], dtype, "ldexp")
    ints = cr.ldexp(cr.tensor([1, 2]), cr.tensor([1, 2]))
    close(ints, torch.ldexp(torch.tensor([1, 2]), torch.tensor([1, 2])), 0, "ldexp ints")
    assert ints.dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES)
def test_frexp(dtype):
    values = np.array([0.3, -4.0, 0.0, 8.0, 1e-3, -7.5, np.inf, np.nan])
    x, xt = _pair(values, dtype)
    m, e = cr.frexp(x)
    mt, et = torch.frexp(xt)
    close(m, mt, 0, "mantissa")
    finite = np.isfinite(values)
    np.testing.assert_array_equal(e.data[finite], et.numpy()[finite])
    assert e.dtype == np.int32 and not e.requires_grad
    assert cr.frexp(x).mantissa is not None and x.frexp().exponent.dtype == np.int32
    g = np.arange(8.0).astype(dtype)
    (m[finite] * cr.tensor(g[finite])).sum().backward()
    (mt[finite] * torch.tensor(g[finite])).sum().backward()
    close(x.grad, xt.grad, TOL[dtype], "mantissa grad")
    t = cr.tensor(np.array([0.3, -3.7, 5.5]), requires_grad=True)
    assert cr.gradgradcheck(lambda v: cr.frexp(v).mantissa, (t,))


def test_frexp_gradient_of_subnormals_is_inf_without_a_warning():
    x = cr.tensor([1e-40, 3.0], dtype=cr.float32, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cr.frexp(x)[0].sum().backward()
    xt = torch.tensor([1e-40, 3.0], requires_grad=True)
    torch.frexp(xt)[0].sum().backward()
    np.testing.assert_array_equal(x.grad.data, xt.grad.numpy())


def test_frexp_refuses_integers():
    with pytest.raises(ValueError, match="frexp: only supports floating-point.*int64"):
        cr.frexp(cr.tensor([1, 2]))


def test_positive_and_rsub():
    x = cr.tensor([1.0, -2.0], requires_grad=True)
    assert cr.positive(x) is x and x.positive() is x
    with pytest.raises(TypeError, match="positive: .*bool"):
        cr.positive(cr.tensor([True]))
    _same(lambda a, b: cr.rsub(a, b, alpha=2), lambda a, b: torch.rsub(a, b, alpha=2),
          [RNG.uniform(-1, 1, (2, 3)), RNG.uniform(-1, 1, (3,))], np.float64, "rsub")
    close(cr.rsub(cr.tensor([1.0, 2.0]), 3), torch.rsub(torch.tensor([1.0, 2.0]), 3), 0, "rsub")


# --------------------------------------------------------------------------- integer ops

INT_A = np.array([[12, -18, 0, 7], [5, 255, -1, 64]])
INT_B = np.array([8, 12, 0, 3])


@pytest.mark.parametrize("name", ["gcd", "lcm", "bitwise_and", "bitwise_or", "bitwise_xor"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int16])
def test_integer_binary_ops(name, dtype):
    a, b = INT_A.astype(dtype), INT_B.astype(dtype)
    out = getattr(cr, name)(cr.tensor(a), cr.tensor(b))
    ref = getattr(torch, name)(torch.tensor(a), torch.tensor(b))
    np.testing.assert_array_equal(out.data, ref.numpy())
    assert out.dtype == ref.numpy().dtype
    method = getattr(cr.tensor(a), name)(cr.tensor(b))
    np.testing.assert_array_equal(method.data, ref.numpy())


def test_bitwise_on_bools_and_not():
    p, q = np.array([True, False, True]), np.array([True, True, False])
    for name in ["bitwise_and", "bitwise_or", "bitwise_xor"]:
        out = getattr(cr, name)(cr.tensor(p), cr.tensor(q))
        np.testing.assert_array_equal(out.data, getattr(torch, name)(torch.tensor(p),
                                                                      torch.tensor(q)).numpy())
    np.testing.assert_array_equal(cr.bitwise_not(cr.tensor(p)).data, ~p)
    np.testing.assert_array_equal(cr.tensor(INT_A).bitwise_not().data,
                                  torch.bitwise_not(torch.tensor(INT_A)).numpy())


@pytest.mark.parametrize("name,op", [("bitwise_left_shift", "<<"),
                                     ("bitwise_right_shift", ">>")])
def test_shifts_match_torch_past_the_width(name, op):
    x, n = np.array([5, -8, 1, 3]), np.array([-1, 64, 63, 2])
    ref = getattr(torch, name)(torch.tensor(x), torch.tensor(n)).numpy()
    np.testing.assert_array_equal(getattr(cr, name)(cr.tensor(x), cr.tensor(n)).data, ref)
    np.testing.assert_array_equal(eval(f"cr.tensor(x) {op} cr.tensor(n)").data, ref)
    small = np.array([1, 2], dtype=np.uint8)
    np.testing.assert_array_equal(getattr(cr, name)(cr.tensor(small), 9).data,
                                  getattr(torch, name)(torch.tensor(small), 9).numpy())
    np.testing.assert_array_equal(eval(f"3 {op} cr.tensor([1, 2])").data,
                                  eval(f"3 {op} torch.tensor([1, 2])").numpy())


def test_in_place_integer_operators():
    def run(lib):
        x = lib.tensor([6, 5])
        x &= lib.tensor([3, 3])
        x |= 8
        x ^= 1
        x <<= 1
        x >>= 2
        return x

    np.testing.assert_array_equal(run(cr).data, run(torch).numpy())


@pytest.mark.parametrize("name", ["gcd", "lcm", "bitwise_and", "bitwise_left_shift"])
def test_integer_ops_refuse_floats(name):
    with pytest.raises(TypeError, match=f"{name}: needs integer.*float32"):
        getattr(cr, name)(cr.tensor([1.0]), cr.tensor([1.0]))
    with pytest.raises(TypeError, match="bitwise_not: needs integer or bool"):
        cr.bitwise_not(cr.tensor([1.0]))


def test_gcd_refuses_bools():
    with pytest.raises(TypeError, match="gcd: needs integer tensors, got dtype bool"):
        cr.gcd(cr.tensor([True]), cr.tensor([True]))


def test_isin_and_isreal():
    cases = [(np.array([[1, 2], [3, 4]]), np.array([2, 3])),
             (np.array([1.0, np.nan, 2.0]), np.array([np.nan, 1.0])),
             (np.zeros((0, 2)), np.array([1.0]))]
    for a, b in cases:
        for invert in (False, True):
            out = cr.isin(cr.tensor(a), cr.tensor(b), invert=invert)
            ref = torch.isin(torch.tensor(a), torch.tensor(b), invert=invert)
            np.testing.assert_array_equal(out.data, ref.numpy())
    assert bool(cr.isin(3, cr.tensor([1, 3])))
    np.testing.assert_array_equal(cr.isin(cr.tensor([1.0, 2.0]), 2.0).data, [False, True])
    x = cr.tensor([1.0, np.nan])
    np.testing.assert_array_equal(x.isreal().data, torch.isreal(torch.tensor([1.0, np.nan])))


# --------------------------------------------------------------------------- methods

NEW_METHODS = """acosh asinh atanh arccosh arcsinh arctanh log10 fmax fmin ldexp frexp positive gcd
lcm bitwise_and bitwise_or bitwise_xor bitwise_not bitwise_left_shift bitwise_right_shift isreal
i0 eq ne lt le gt ge greater greater_equal less less_equal not_equal logical_and logical_or
logical_xor logical_not absolute negative multiply divide subtract true_divide arccos arcsin
arctan arctan2 moveaxis swapdims""".split()


@pytest.mark.parametrize("name", NEW_METHODS)
def test_method_exists_in_both(name):
    assert hasattr(torch.Tensor, name) and callable(getattr(cr.Tensor, name)), name


BINARY_METHODS = ["eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
                  "less_equal", "not_equal", "logical_and", "logical_or", "logical_xor",
                  "multiply", "divide", "subtract", "true_divide", "arctan2"]


@pytest.mark.parametrize("name", BINARY_METHODS)
def test_binary_methods_match_torch(name):
    a = np.round(RNG.uniform(-2, 2, (3, 4)), 1)
    b = a.copy()
    b[0] += 0.5  # ties elsewhere
    b[b == 0] = 0.25  # (a zero divisor: an inf in torch's result, and close() compares nothing)
    x, xt = _pair(a, np.float64)
    y, yt = _pair(b, np.float64)
    out, ref = getattr(x, name)(y), getattr(xt, name)(yt)
    close(out, ref, 1e-12, name)
    assert out.dtype == ref.detach().numpy().dtype
    if ref.requires_grad:
        out.sum().backward()
        ref.sum().backward()
        close(x.grad, xt.grad, 1e-12, name)
        close(y.grad, yt.grad, 1e-12, name)


@pytest.mark.parametrize("name,args", [
    ("logical_not", ()), ("absolute", ()), ("negative", ()), ("arccos", ()), ("arcsin", ()),
    ("arctan", ()), ("moveaxis", (0, -1)), ("swapdims", (0, 2))])
def test_unary_methods_match_torch(name, args):
    x, xt = _pair(RNG.uniform(-0.9, 0.9, (2, 3, 4)), np.float64)
    out, ref = getattr(x, name)(*args), getattr(xt, name)(*args)
    close(out, ref, 1e-12, name)
    if ref.requires_grad:
        g = RNG.standard_normal(ref.shape)
        out.backward(cr.tensor(g))
        ref.backward(torch.tensor(g))
        close(x.grad, xt.grad, 1e-12, name)


def test_divide_rounding_mode():
    x = cr.tensor([7.0, -7.0])
    np.testing.assert_array_equal(x.divide(2.0, rounding_mode="floor").data, [3.0, -4.0])


# --------------------------------------------------------------------------- in place

def _u(shape=(3, 4), low=-0.9, high=0.9):
    return lambda: [RNG.uniform(low, high, shape)]


# name: (makes the tensor to change and the other tensor arguments, further arguments)
INPLACE = {
    **{n: (_u(), ()) for n in """abs absolute asin arcsin atan arctan atanh arctanh ceil cos cosh
       deg2rad erf erfc erfinv exp exp2 expm1 fix floor frac neg negative rad2deg relu round
       sgn sigmoid sign sin sinc sinh square tan tanh trunc i0""".split()},
    **{n: (_u(low=0.2, high=0.9), ()) for n in """acos arccos log log10 log1p log2 rsqrt sqrt
       reciprocal lgamma digamma logit""".split()},
    **{n: (_u(low=1.2, high=3.0), ()) for n in ["acosh", "arccosh"]},
    "asinh": (_u(), ()), "arcsinh": (_u(), ()),
    "polygamma": (_u(low=0.5, high=2.0), (1,)), "mvlgamma": (_u(low=1.5, high=3.0), (2,)),
    **{n: (lambda: [RNG.uniform(0.5, 2, (3, 4)), RNG.uniform(0.5, 2, (1, 4))], ())
       for n in """atan2 arctan2 copysign fmod hypot xlogy multiply divide subtract
       true_divide ldexp remainder""".split()},
    "floor_divide": (lambda: [RNG.uniform(0.5, 4, (3, 4)), RNG.uniform(0.6, 2, (1, 4))], ()),
    "heaviside": (lambda: [RNG.uniform(-1, 1, (3, 4)), RNG.uniform(0, 1, (1, 4))], ()),
    "nextafter": (lambda: [RNG.uniform(-1, 1, (3, 4)), RNG.uniform(-1, 1, (1, 4))], ()),
    "addcmul": (lambda: [RNG.uniform(-1, 1, (3, 4)) for _ in range(3)], ()),
    "addcdiv": (lambda: [RNG.uniform(0.5, 1, (3, 4)) for _ in range(3)], ()),
    "lerp": (lambda: [RNG.uniform(-1, 1, (3, 4)) for _ in range(3)], ()),
    "clamp_min": (_u(), (0.1,)), "clamp_max": (_u(), (0.1,)), "clip": (_u(), (-0.3, 0.4)),
    "nan_to_num": (lambda: [np.array([0.5, np.nan, np.inf, -np.inf, 2.0])], ()),
    **{n: (lambda: [np.round(RNG.uniform(-1, 1, (3, 4)), 1),
                    np.round(RNG.uniform(-1, 1, (1, 4)), 1)], ())
       for n in """eq ne lt le gt ge greater greater_equal less less_equal not_equal logical_and
       logical_or logical_xor""".split()},
    "logical_not": (_u(), ()),
    "tril": (_u((4, 4)), (0,)), "triu": (_u((4, 4)), (-1,)),
    "cumsum": (_u(), (1,)), "cumprod": (_u(), (0,)), "renorm": (_u(), (2, 0, 0.5)),
    "addmm": (lambda: [RNG.uniform(-1, 1, s) for s in [(3, 4), (3, 2), (2, 4)]], ()),
    "addmv": (lambda: [RNG.uniform(-1, 1, s) for s in [(3,), (3, 2), (2,)]], ()),
    "addr": (lambda: [RNG.uniform(-1, 1, s) for s in [(3, 4), (3,), (4,)]], ()),
    "addbmm": (lambda: [RNG.uniform(-1, 1, s) for s in [(3, 4), (2, 3, 2), (2, 2, 4)]], ()),
    "baddbmm": (lambda: [RNG.uniform(-1, 1, s) for s in [(2, 3, 4), (2, 3, 2), (2, 2, 4)]],
                ()),
}


def test_inplace_table_covers_every_twin():
    twins = {n[:-1] for n in dir(cr.Tensor) if n.endswith("_") and not n.startswith("_")
             and n[:-1] in INPLACE}
    torch_twins = {n[:-1] for n in dir(torch.Tensor) if n.endswith("_")
                   and not n.startswith("_") and hasattr(cr.Tensor, n[:-1])}
    assert set(INPLACE) <= torch_twins
    assert twins == set(INPLACE)
    missing = sorted(n for n in torch_twins if not hasattr(cr.Tensor, n + "_"))
    assert missing == [], f"no in-place twin for {missing}"
    extra = [n for n in dir(cr.Tensor) if n.endswith("_") and not n.startswith("_")
             and not hasattr(torch.Tensor, n)]
    assert extra == []


# PyTorch 2.13 has no in-place derivative for these: compared with its out-of-place form
NO_TORCH_INPLACE_GRAD = {"acosh", "arccosh", "asinh", "arcsinh", "atanh", "arctanh"}
# Differences from PyTorch: its in-place forms of these ops without a derivative leave the
# history unchanged (the gradient flows as if the op had not run, or backward raises); here
# they give a zero gradient, as their out-of-place forms do.
ZERO_GRAD = {"floor_divide", "heaviside", "nextafter", "logical_and", "logical_or",
             "logical_xor", "logical_not"}


def _torch_reference(name: str, pairs: list, extra: tuple) -> torch.Tensor:
    yt = pairs[0][1] * 1.0
    others = [t for _, t in pairs[1:]]
    if name in NO_TORCH_INPLACE_GRAD:
        return getattr(yt, name)(*others, *extra)
    getattr(yt, name + "_")(*others, *extra)
    return yt


@pytest.mark.parametrize("name", sorted(INPLACE))
def test_inplace_twin_matches_torch(name):
    make, extra = INPLACE[name]
    pairs = [_pair(a, np.float64) for a in make()]
    x, others = pairs[0][0], [c for c, _ in pairs[1:]]
    y = x * 1.0  # (non-leaf: in place is allowed)
    version = y._version
    assert getattr(y, name + "_")(*others, *extra) is y
    assert y._version == version + 1
    yt = _torch_reference(name, pairs, extra)
    close(y, yt, 1e-8 if name == "polygamma" else 1e-12, name)
    g = RNG.standard_normal(y.shape)
    (y * cr.tensor(g)).sum().backward()
    if name not in ZERO_GRAD:
        (yt * torch.tensor(g)).sum().backward()
    for i, (c, t) in enumerate(pairs):
        expected = torch.zeros_like(t) if t.grad is None else torch.zeros_like(t) + t.grad
        actual = np.zeros(c.shape) if c.grad is None else c.grad
        close(actual, expected, 1e-10, f"{name}_ grad {i}")


@pytest.mark.parametrize("name", ["exp", "sigmoid", "eq", "clamp_min", "tril"])
def test_inplace_refuses_a_leaf_that_requires_grad(name):
    x = cr.tensor(RNG.uniform(-1, 1, (3, 3)), requires_grad=True)
    args = {"eq": (0.0,), "clamp_min": (0.0,)}.get(name, ())
    with pytest.raises(cr.ChainruleError if hasattr(cr, "ChainruleError") else RuntimeError,
                       match="leaf tensor that requires grad"):
        getattr(x, name + "_")(*args)
    with cr.no_grad():
        getattr(x, name + "_")(*args)  # (as PyTorch: allowed without recording)


def test_inplace_on_plain_tensors_and_dtypes():
    x = cr.tensor([1.0, 4.0])
    x.sqrt_().mul_(3)
    np.testing.assert_array_equal(x.data, [3.0, 6.0])
    i = cr.tensor([1, 2])
    i.eq_(1)
    np.testing.assert_array_equal(i.data, [1, 0])
    with pytest.raises(TypeError, match="exp_: in-place operation: the result has dtype float"):
        cr.tensor([1, 2]).exp_()
    with pytest.raises(RuntimeError, match="float_power_: the base has dtype float32"):
        cr.tensor([1.0]).float_power_(2)
    d = cr.tensor([2.0], dtype=cr.float64)
    d.float_power_(3)
    assert d.item() == 8.0
    b = cr.tensor([True, False])
    b.logical_not_()
    np.testing.assert_array_equal(b.data, [False, True])


def test_inplace_on_a_view_writes_into_the_base():
    x, xt = _pair(RNG.uniform(0.2, 0.9, (3, 4)), np.float64)
    y, yt = x * 1.0, xt * 1.0
    y[:, 0].clamp_max_(0.5)
    yt[:, 0].clamp_max_(0.5)
    y[1].exp_()
    yt[1].exp_()
    close(y, yt, 1e-12, "values")
    g = RNG.standard_normal((3, 4))
    (y * cr.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    close(x.grad, xt.grad, 1e-12, "grad")


def test_comparison_in_place_keeps_a_zero_gradient():
    x, xt = _pair(np.array([0.0, 1.0, 2.0]), np.float64)
    y, yt = x * 2.0, xt * 2.0
    y.gt_(1.0)
    yt.gt_(1.0)
    assert y.requires_grad and yt.requires_grad
    close(y, yt, 0, "values")
    y.sum().backward()
    yt.sum().backward()
    close(x.grad, xt.grad, 0, "grad")


# ---- shape-changing in place

@pytest.mark.parametrize("name,args,shape", [("t_", (), (2, 3)), ("transpose_", (0, 2), (2, 3, 4)),
                                             ("swapaxes_", (1, 0), (2, 3)),
                                             ("swapdims_", (-1, 0), (2, 3)),
                                             ("squeeze_", (), (1, 3, 1)),
                                             ("squeeze_", (0,), (1, 3)),
                                             ("unsqueeze_", (-1,), (2, 3))])
def test_shape_changing_inplace(name, args, shape):
    x, xt = _pair(RNG.uniform(-1, 1, shape), np.float64)
    y, yt = x * 2.0, xt * 2.0
    assert getattr(y, name)(*args) is y
    getattr(yt, name)(*args)
    assert y.shape == tuple(yt.shape)
    close(y, yt, 0, name)
    g = RNG.standard_normal(y.shape)
    (y.exp() * cr.tensor(g)).sum().backward()
    (yt.exp() * torch.tensor(g)).sum().backward()
    close(x.grad, xt.grad, 1e-12, name)
    plain = cr.tensor(RNG.uniform(-1, 1, shape))
    memory = plain.data
    getattr(plain, name)(*args)
    assert plain.shape == tuple(yt.shape) and np.shares_memory(plain.data, memory)
    with pytest.raises(cr.ChainruleError, match=f"{name}: a leaf tensor that requires grad"):
        getattr(cr.tensor(RNG.uniform(-1, 1, shape), requires_grad=True), name)(*args)


def test_shape_changing_inplace_then_value_inplace():
    x, xt = _pair(RNG.uniform(-1, 1, (2, 3)), np.float64)
    y, yt = x * 1.0, xt * 1.0
    y.t_().unsqueeze_(0).mul_(cr.tensor([1.0, 2.0]))
    yt.t_().unsqueeze_(0).mul_(torch.tensor([1.0, 2.0], dtype=torch.float64))
    close(y, yt, 0, "values")
    y.sum().backward()
    yt.sum().backward()
    close(x.grad, xt.grad, 0, "grad")


def test_shape_changing_inplace_of_a_view_while_recording_as_pytorch():
    x, xt = _pair(RNG.uniform(-1, 1, (2, 3)), np.float64)
    y, yt = x * 1.0, xt * 1.0
    v, vt = y[0], yt[0]
    v.unsqueeze_(0)
    vt.unsqueeze_(0)
    v.mul_(3.0)
    vt.mul_(3.0)
    assert v.shape == tuple(vt.shape) == (1, 3)
    ((y * y).sum() + (v * v * v).sum()).backward()
    ((yt * yt).sum() + (vt * vt * vt).sum()).backward()
    close(y, yt, 1e-12, "values")
    close(x.grad, xt.grad, 1e-12, "grad")
    with cr.no_grad():
        w = y.detach()[0]
        w.unsqueeze_(0)
    assert w.shape == (1, 3)


def test_shape_changing_inplace_of_an_input_already_used():
    # (the walk took the input's shape from the live tensor: a reshape error, or, for t_() of a
    # tensor whose new shape had the same size, the gradient silently reshaped)
    x, xt = _pair(RNG.uniform(-1, 1, (2, 3)), np.float64)
    y, yt = x * 1.0, xt * 1.0
    z, zt = y.exp(), yt.exp()
    y.t_()
    yt.t_()
    g = RNG.standard_normal((2, 3))
    (z * cr.tensor(g) + y.t()).sum().backward()
    (zt * torch.tensor(g) + yt.t()).sum().backward()
    close(x.grad, xt.grad, 1e-12, "t_ after exp")
    x = cr.tensor([0.3, -0.7, 1.2], requires_grad=True)
    y = x * 1.0
    z = y.exp()
    y.unsqueeze_(0)
    z.sum().backward()
    np.testing.assert_allclose(x.grad.data, np.exp(x.data))


def test_shape_changing_inplace_bumps_the_version_as_torch():
    for lib in (cr, torch):
        t = lib.zeros(2, 3)
        t.t_()
        t.unsqueeze_(0)
        assert t._version == 2
    x, xt = _pair(RNG.uniform(-1, 1, (2, 3)), np.float64)
    y, yt = x * 1.0, xt * 1.0
    y.exp_()  # (its backward needs y, whose layout the t_() below changes)
    yt.exp_()
    y.t_()
    yt.t_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        yt.sum().backward()
    with pytest.raises(cr.ChainruleError, match="modified by an in-place operation"):
        y.sum().backward()


def test_views_taken_before_a_shape_change():
    # (their link to the base is an op on its old layout: followed, it gave silently wrong
    # gradients for a square base)
    x = cr.tensor([[0.1, 0.2], [0.3, 0.4]], requires_grad=True)
    y = x * 1.0
    v = y[0]
    y.t_()
    (v * cr.tensor([1.0, 5.0])).sum().backward()  # (only the layout changed: v still holds)
    np.testing.assert_array_equal(x.grad.data, [[1.0, 5.0], [0.0, 0.0]])
    y.mul_(2.0)
    with pytest.raises(cr.ChainruleError, match="reshaped in place .* and then changed"):
        v * 1.0
    with pytest.raises(cr.ChainruleError, match="changing in place a view .* reshaped in place"):
        v.mul_(3.0)
    plain = cr.arange(6.0).reshape(2, 3)  # (a view; without gradients it may change shape)
    row = plain[0]
    plain.t_().mul_(2.0)
    row.add_(1.0)
    np.testing.assert_array_equal((row + 0).data, [1.0, 3.0, 5.0])
    np.testing.assert_array_equal(plain.data, [[1.0, 6.0], [3.0, 8.0], [5.0, 10.0]])


def test_shape_change_under_no_grad_of_a_tensor_with_history():
    x = cr.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 1.0
    with cr.no_grad():
        y.t_()  # (its history still makes a (2, 3) tensor: PyTorch fails at backward too)
    with pytest.raises(cr.ChainruleError, match=r"gradient of shape \(3, 2\) does not fit"):
        (y * cr.tensor(np.arange(6.0).reshape(3, 2))).sum().backward()


def test_0d_leaf_gradient_added_to_one_that_records_stays_an_array():
    # (x.grad after a create_graph backward requires grad; the next backward added a 0-d
    # array to it: a NumPy scalar as the gradient's data, read-only to add_())
    x = cr.tensor(1.5, requires_grad=True)
    (x * x).backward(create_graph=True)
    (x * x).backward()
    assert type(x.grad.data) is np.ndarray and x.grad.item() == 6.0
    x.grad.add_(1.0)
    assert x.grad.item() == 7.0


def test_t_refuses_more_than_two_dims():
    with pytest.raises(ValueError, match="t: expects a tensor of at most 2 dims"):
        cr.tensor(np.zeros((2, 2, 2))).t_()


# --------------------------------------------------------------------------- NumPy ufuncs

@pytest.mark.parametrize("ufunc,fn", [(np.log10, "log10"), (np.arccosh, "acosh"),
                                      (np.arcsinh, "asinh"), (np.arctanh, "atanh")])
def test_numpy_ufuncs_dispatch(ufunc, fn):
    x = cr.tensor(np.array([1.2, 1.5]) if fn == "acosh" else np.array([0.2, 0.5]),
                  requires_grad=True)
    out = ufunc(x)
    assert isinstance(out, cr.Tensor) and out.grad_fn is not None
    np.testing.assert_allclose(out.data, ufunc(x.data))
    out.sum().backward()
    assert x.grad is not None


def test_numpy_binary_and_integer_ufuncs_dispatch():
    a, b = cr.tensor([1.0, np.nan]), cr.tensor([np.nan, 2.0])
    np.testing.assert_array_equal(np.fmax(a, b).data, [1.0, 2.0])
    np.testing.assert_array_equal(np.fmin(a, b).data, [1.0, 2.0])
    m, e = np.frexp(cr.tensor([8.0]))
    assert m.item() == 0.5 and e.item() == 4
    np.testing.assert_array_equal(np.gcd(cr.tensor([12]), cr.tensor([8])).data, [4])
    np.testing.assert_array_equal(np.left_shift(cr.tensor([1]), cr.tensor([70])).data, [0])
    np.testing.assert_array_equal(np.invert(cr.tensor([5])).data, [-6])
