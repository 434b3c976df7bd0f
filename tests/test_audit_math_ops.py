"""Audit of the elementwise ops and reductions against PyTorch: edge cases that the op-table
tests do not reach (0-d and empty tensors, ``dim=()``, integer dtypes, zeros where a derivative
is 0·∞, NaN ties, older PyTorch signatures, bad arguments)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def _both(fn, *arrays, grad=True):
    """``fn(module, *tensors)`` in chainrule and in torch: (values, input gradients) each, the
    gradients of ``sum(out * w)`` for a fixed random ``w``."""
    results = []
    for m in (cr, torch):
        ts = [m.tensor(a, requires_grad=grad and a.dtype.kind == "f") for a in arrays]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = fn(m, *ts)
            value = out.detach().numpy()
            grads = None
            if grad:
                w = np.random.default_rng(0).standard_normal(value.shape)
                gs = m.autograd.grad((out * m.tensor(w)).sum(), ts, allow_unused=True)
                grads = [None if g is None else g.numpy() for g in gs]
        results.append((value, grads))
    return results


def _assert_same(fn, *arrays, grad=True):
    (cv, cg), (tv, tg) = _both(fn, *arrays, grad=grad)
    assert cv.shape == tv.shape and cv.dtype == tv.dtype, (cv.shape, cv.dtype, tv.shape, tv.dtype)
    np.testing.assert_allclose(cv, tv, rtol=1e-10, atol=1e-12, equal_nan=True)
    for a, b in zip(cg or [], tg or []):
        b = np.zeros_like(a) if b is None else b
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, equal_nan=True)


X234 = np.random.default_rng(1).standard_normal((2, 3, 4))


# --------------------------------------------------------------------------- reductions

@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "var", "std", "norm"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_empty_dim_tuple_reduces_every_dim(name, keepdim):
    # (against torch's dim=None: torch's own var/std backward with dim=() divides by 0)
    _assert_same(lambda m, x: getattr(m, name)(x, dim=() if m is cr else None, keepdim=keepdim),
                 X234)
    c = getattr(cr, name)(cr.tensor(X234), dim=(), keepdim=keepdim).numpy()
    t = getattr(torch, name)(torch.tensor(X234), dim=(), keepdim=keepdim).numpy()
    np.testing.assert_allclose(c, t, rtol=1e-10)


def test_logsumexp_empty_dim_tuple_reduces_every_dim():
    _assert_same(lambda m, x: m.logsumexp(x, dim=(), keepdim=True), X234)


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin", "logsumexp", "norm", "var",
                                  "std", "prod", "cumsum", "cumprod", "softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, -1])
def test_0d_tensor_with_dim(name, dim):
    _assert_same(lambda m, x: getattr(m, name)(x, dim), np.array(1.5))


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_0d_max_with_dim(name, keepdim):
    for m in (cr, torch):
        x = m.tensor(1.5, dtype=m.float64, requires_grad=True)
        values, indices = getattr(m, name)(x, 0, keepdim)
        values.backward()
        assert tuple(values.shape) == () and tuple(indices.shape) == ()
        assert float(values) == 1.5 and int(indices) == 0 and float(x.grad) == 1.0


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_arg_extreme_keepdim_without_dim(name):
    for x in (X234, np.array(2.0)):
        c = getattr(cr, name)(cr.tensor(x), keepdim=True)
        t = getattr(torch, name)(torch.tensor(x), keepdim=True)
        assert c.shape == tuple(t.shape) and int(c.numpy().ravel()[0]) == int(t.reshape(-1)[0])
    assert int(getattr(cr, name)(cr.tensor(2.0), 0)) == 0


def test_argmax_over_an_empty_dim_is_a_clear_error():
    with pytest.raises(cr.OpError, match="argmax.*no elements"):
        cr.argmax(cr.zeros((0, 3)), dim=0)


def test_logsumexp_of_empty_is_minus_inf():
    x = np.zeros((2, 0, 3))
    _assert_same(lambda m, t: m.logsumexp(t, dim=1), x)
    _assert_same(lambda m, t: m.logsumexp(t, dim=(0, 1, 2), keepdim=True), x)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("shape,dim", [((2, 0), 1), ((0, 3), 1), ((0, 3), 0)])
def test_softmax_of_empty(name, shape, dim):
    _assert_same(lambda m, t: getattr(m, name)(t, dim), np.zeros(shape))


@pytest.mark.parametrize("name", ["std", "var"])
def test_std_gradient_is_zero_where_the_spread_is_zero(name):
    x = np.array([[1.0, 2.0, 4.0], [3.0, 3.0, 3.0]])
    _assert_same(lambda m, t: getattr(m, name)(t, dim=1), x)
    _assert_same(lambda m, t: getattr(m, name)(t, dim=1, correction=0), x)
    _assert_same(lambda m, t: getattr(m, name)(t), np.full(4, 2.0))


def test_std_second_derivative_matches_torch():
    x = np.array([0.3, -1.2, 2.0, 0.7])
    for p in (cr, torch):
        t = p.tensor(x, requires_grad=True)
        g, = p.autograd.grad(p.std(t), [t], create_graph=True)
        h, = p.autograd.grad((g * p.tensor(np.arange(4.0))).sum(), [t])
        if p is cr:
            ours = h.numpy()
    np.testing.assert_allclose(ours, h.numpy(), rtol=1e-10)


def test_var_std_older_positional_forms():
    x = X234
    _assert_same(lambda m, t: m.var(t, 1, True, True), x)
    _assert_same(lambda m, t: m.std(t, 1, False), x)
    _assert_same(lambda m, t: m.std(t, False), x)
    _assert_same(lambda m, t: m.var(t, True), x)
    with pytest.raises(cr.OpError, match="not both"):
        cr.var(cr.tensor(x), 1, True, correction=0)
    with pytest.raises(TypeError, match="correction must be a number"):
        cr.std(cr.tensor(x), correction="1")


@pytest.mark.parametrize("p", [0.5, 1.5, 3, -1, 2.5])
def test_p_norm_gradient_at_zero(p):
    _assert_same(lambda m, t: m.norm(t, p=p), np.zeros(3))
    _assert_same(lambda m, t: m.norm(t, p=p, dim=1), np.array([[0.0, 1e-3, -2.0], [0, 0, 0]]))


def test_p_norm_values_and_second_derivative():
    x = np.array([0.4, -1.3, 2.2])
    _assert_same(lambda m, t: m.norm(t, p=3), x)
    assert cr.gradgradcheck(lambda t: cr.norm(t, p=3), (cr.tensor(x, requires_grad=True),))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("name", ["sum", "prod", "cumsum", "cumprod"])
def test_unsigned_integer_sums_are_int64(name, dtype):
    x = np.array([[1, 2, 3], [4, 5, 6]], dtype=dtype)
    args = (0,) if name.startswith("cum") else ()
    _assert_same(lambda m, t: getattr(m, name)(t, *args), x, grad=False)
    _assert_same(lambda m, t: getattr(m, name)(t, 1), x, grad=False)


def test_mean_of_a_list():
    assert cr.mean([1.0, 2.0]).item() == 1.5
    with pytest.raises(TypeError, match="floating point"):
        cr.mean([1, 2])


# --------------------------------------------------------------------------- elementwise

@pytest.mark.parametrize("name", ["sigmoid", "silu", "softplus"])
@pytest.mark.parametrize("dtype", [np.int64, np.int32])
def test_activations_of_integers_are_floats(name, dtype):
    x = np.array([-2, 0, 1, 3], dtype=dtype)
    fn = getattr(cr, name, None) or getattr(cr.nn.functional, name)
    out = fn(cr.tensor(x))
    expected = torch.nn.functional.__dict__.get(name, getattr(torch, name, None))(
        torch.tensor(x, dtype=torch.float32)).numpy()
    assert out.dtype == cr.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_sigmoid_of_a_python_number():
    assert abs(cr.sigmoid(0.5).item() - 1 / (1 + math.exp(-0.5))) < 1e-7


@pytest.mark.parametrize("base", [2.0, 3])
def test_power_of_a_number_second_order(base):
    x = np.array([0.0, 0.5, 2.0, -1.5])
    f = lambda t: (base ** t).sum()  # noqa: E731
    h = cr.hessian(f)(cr.tensor(x)).numpy()
    th = torch.func.hessian(lambda t: (base ** t).sum())(torch.tensor(x)).numpy()
    np.testing.assert_allclose(h, th, rtol=1e-10)
    _, tangent = cr.jvp(cr.grad(lambda t: cr.pow(base, t).sum()), (cr.tensor(x),),
                        (cr.tensor(np.ones(4)),))
    np.testing.assert_allclose(tangent.numpy(), np.diag(th), rtol=1e-10)


def test_atan2_gradient_at_the_origin_is_zero():
    y = np.array([0.0, 0.0, 1.0, -2.0])
    x = np.array([0.0, 1.0, 0.0, 3.0])
    _assert_same(lambda m, a, b: m.atan2(a, b), y, x)


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_gradient_with_nan_and_ties(name):
    x = np.array([1.0, np.nan, 2.0, np.nan, 0.5])
    y = np.array([np.nan, 1.0, 2.0, np.nan, 3.0])
    _assert_same(lambda m, a, b: getattr(m, name)(a, b), x, y)


def test_maximum_second_order_still_works():
    x = np.array([1.0, 2.0, 3.0])
    h = cr.hessian(lambda t: (cr.maximum(t, cr.tensor(2.0)) ** 2).sum())(cr.tensor(x)).numpy()
    th = torch.func.hessian(lambda t: (torch.maximum(t, torch.tensor(2.0, dtype=t.dtype)) ** 2)
                            .sum())(torch.tensor(x)).numpy()
    np.testing.assert_allclose(h, th, rtol=1e-12)


@pytest.mark.parametrize("mode", ["floor", "trunc"])
def test_integer_division_with_rounding_stays_integer(mode):
    a = np.array([7, -7, 5, -6, -1], dtype=np.int64)
    b = np.array([2, 2, -3, 2, 2], dtype=np.int64)
    for other in (b, 2, -3):
        c = cr.div(cr.tensor(a), cr.tensor(other) if isinstance(other, np.ndarray) else other,
                   rounding_mode=mode)
        t = torch.div(torch.tensor(a), torch.tensor(other) if isinstance(other, np.ndarray)
                      else other, rounding_mode=mode)
        assert c.dtype == cr.int64
        np.testing.assert_array_equal(c.numpy(), t.numpy())
    i32 = cr.div(cr.tensor(a.astype(np.int32)), 2, rounding_mode=mode)
    assert i32.dtype == cr.int32
    with pytest.raises(cr.OpError, match="division by zero"):
        cr.div(cr.tensor(a), 0, rounding_mode=mode)


def test_div_rejects_an_unknown_rounding_mode():
    with pytest.raises(cr.OpError, match="rounding_mode"):
        cr.div(cr.tensor([1.0]), 2.0, rounding_mode="round")


def test_hardtanh_rejects_min_above_max():
    for fn in (cr.hardtanh, cr.nn.functional.hardtanh):
        with pytest.raises(cr.OpError, match="min_val"):
            fn(cr.tensor([0.5]), 2.0, 1.0)


def test_axis_empty_tuple_keeps_numpys_meaning():
    x = cr.tensor(X234)
    for name in ("sum", "amax", "logsumexp"):
        assert getattr(cr, name)(x, axis=()).shape == X234.shape
    assert np.sum(x, axis=()).shape == X234.shape
    # forward mode over a full reduction of a 0-d tensor relies on it
    jac = cr.jacfwd(lambda t: cr.sum(t[0, 1] * 2) + cr.amax(t[1, 2]))(cr.tensor(X234[0]))
    expected = np.zeros((3, 4))
    expected[0, 1], expected[1, 2] = 2.0, 1.0
    np.testing.assert_array_equal(jac.numpy(), expected)


def test_prod_axis_empty_tuple_keeps_numpys_meaning_too():
    x = cr.tensor(X234)
    assert cr.prod(x, axis=()).shape == X234.shape
    assert np.prod(x, axis=()).shape == X234.shape
    np.testing.assert_allclose(cr.prod(x, dim=()).item(), X234.prod(), rtol=1e-12)


def test_numpy_functions_refuse_out():
    buf = cr.zeros(4)
    with pytest.raises(TypeError, match="out= is not supported"):
        np.concatenate([cr.ones(2), cr.ones(2)], out=buf)
    with pytest.raises(TypeError, match="out= is not supported"):
        np.prod(cr.ones(2), out=buf)


def test_masked_fill_with_a_0d_array_keeps_the_dtype():
    t = cr.ones(3, dtype=cr.float32)
    got = t.masked_fill(cr.tensor([True, False, True]), np.array(1.5))
    want = torch.ones(3).masked_fill(torch.tensor([True, False, True]), 1.5)
    assert got.dtype == cr.float32 and str(want.dtype) == "torch.float32"
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_rounding_division_of_bools_is_an_error():
    b = cr.tensor([True, False])
    with pytest.raises(cr.OpError, match="not bools"):
        cr.div(b, b, rounding_mode="floor")


def test_max_with_a_dim_of_size_zero_is_a_clear_error():
    with pytest.raises(cr.OpError, match="max: the input of shape \\(0, 3\\) has no elements"):
        cr.max(cr.zeros(0, 3), 0)
    values, indices = cr.max(cr.zeros(0, 3), 1)  # an empty result is fine, as PyTorch
    assert values.shape == (0,) and indices.shape == (0,)
