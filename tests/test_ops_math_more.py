"""The math functions beyond the core list (special functions, logaddexp, fmod, ...) and
``cr.special``: values and gradients against PyTorch, edge values, and errors. The registry
entries among them also go through test_ops.py (central differences, second order, forward
mode) and test_torch_parity.py; this file covers the public functions around them."""

import builtins
import sys

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)


def _pair(values, dtype=np.float64):
    """The same values as a chainrule and a torch tensor, both requiring grad."""
    a = np.asarray(values, dtype=dtype)
    return cr.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _check(c_fn, t_fn, *values, rtol=1e-10, dtype=np.float64, equal_nan=False):
    """Values and gradients (of a fixed random weighting of the output) agree with torch."""
    pairs = [_pair(v, dtype) for v in values]
    out_c = c_fn(*[c for c, _ in pairs])
    out_t = t_fn(*[t for _, t in pairs])
    np.testing.assert_allclose(out_c.data, out_t.detach().numpy(), rtol=rtol, atol=rtol,
                               equal_nan=equal_nan)
    assert out_c.dtype == np.dtype(str(out_t.dtype).removeprefix("torch."))
    w = RNG.standard_normal(out_c.shape)
    (out_c * cr.tensor(w.astype(out_c.dtype))).sum().backward()
    (out_t * torch.tensor(w, dtype=out_t.dtype)).sum().backward()
    for (c, t) in pairs:
        tg = np.zeros(c.shape) if t.grad is None else t.grad.numpy(force=True)  # (ZeroTensor)
        np.testing.assert_allclose(c.grad.data, tg, rtol=rtol, atol=rtol, equal_nan=equal_nan)


X = RNG.uniform(0.2, 3.0, (3, 4))
Y = RNG.uniform(-2.0, 2.0, (3, 4))


@pytest.mark.parametrize("name", ["erfc", "erfinv", "lgamma", "sinc", "frac",
                                  "trunc", "fix", "sgn", "rad2deg", "deg2rad", "logit",
                                  "signbit"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_unary_functions_and_methods_match_torch(name, dtype):
    x = X / 3.1 if name in ("erfinv", "logit") else X  # (inside (0, 1))
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    if name == "signbit":
        xs = Y.astype(dtype)
        assert np.array_equal(cr.signbit(cr.tensor(xs)).data, torch.signbit(torch.tensor(xs)))
        return
    _check(getattr(cr, name), getattr(torch, name), x, rtol=rtol, dtype=dtype)
    _check(lambda t: getattr(t, name)(), lambda t: getattr(t, name)(), x, rtol=rtol, dtype=dtype)


@pytest.mark.parametrize("name", ["logaddexp", "logaddexp2", "hypot", "fmod", "xlogy",
                                  "copysign", "float_power", "atan2"])
def test_binary_functions_and_methods_match_torch(name):
    x = Y if name != "xlogy" else Y * (RNG.random(Y.shape) > 0.3)  # some exact zeros
    y = X[:1] if name in ("fmod", "xlogy", "float_power") else Y[::-1].copy()
    if name == "float_power":
        x = X
    _check(getattr(cr, name), getattr(torch, name), x, y)
    _check(lambda a, b: getattr(a, name)(b), lambda a, b: getattr(a, name)(b), x, y)


def test_float_power_computes_in_float64_like_torch():
    a = cr.tensor(np.array([1.5, 2.0], np.float32))
    out = cr.float_power(a, 2)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.data, torch.float_power(torch.tensor([1.5, 2.0]), 2))
    assert cr.float_power(cr.tensor([2, 3]), cr.tensor([3, 2])).tolist() == [8.0, 9.0]


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_polygamma_orders_and_their_gradients_match_torch(n):
    # (torch's trigamma, the gradient of digamma, is off by ~5e-10 relative: see below)
    rtol = 1e-8 if n == 0 else 1e-9
    _check(lambda x: cr.polygamma(n, x), lambda x: torch.polygamma(n, x), X, rtol=rtol)
    _check(lambda x: x.polygamma(n), lambda x: x.polygamma(n), X, rtol=rtol)
    _check(cr.digamma, torch.digamma, X, rtol=1e-8)


def test_digamma_and_its_gradient_exact_at_known_values():
    # ψ(1) = -γ, ψ(1/2) = -γ - 2 ln 2; ψ'(1) = π²/6, ψ'(1/2) = π²/2 (to the last digits,
    # where torch's trigamma gives 1.6449340676 for π²/6 = 1.6449340668...)
    gamma = 0.57721566490153286
    x = cr.tensor([1.0, 0.5], dtype=cr.float64, requires_grad=True)
    y = cr.digamma(x)
    np.testing.assert_allclose(y.data, [-gamma, -gamma - 2 * np.log(2)], rtol=1e-15)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.data, [np.pi ** 2 / 6, np.pi ** 2 / 2], rtol=1e-15)


def test_lgamma_second_derivative_through_create_graph_matches_torch():
    c, t = _pair(X)
    (gc,) = cr.autograd.grad(cr.lgamma(c).sum(), [c], create_graph=True)
    (gt,) = torch.autograd.grad(torch.lgamma(t).sum(), [t], create_graph=True)
    gc.sum().backward()
    gt.sum().backward()
    np.testing.assert_allclose(gc.data, gt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(c.grad.data, t.grad.numpy(), rtol=1e-8)  # (torch's trigamma)


@pytest.mark.parametrize("p", [1, 2, 3])
def test_mvlgamma_matches_torch(p):
    _check(lambda x: cr.mvlgamma(x, p), lambda x: torch.mvlgamma(x, p), X + 1.5)
    _check(lambda x: x.mvlgamma(p), lambda x: x.mvlgamma(p), X + 1.5)


def test_addcmul_addcdiv_clamp_min_max_floor_divide_match_torch():
    z = RNG.uniform(0.5, 2.0, (1, 4))
    _check(lambda a, b, c: cr.addcmul(a, b, c, value=0.5),
           lambda a, b, c: torch.addcmul(a, b, c, value=0.5), X, Y, z)
    _check(lambda a, b, c: a.addcdiv(b, c, value=-2),
           lambda a, b, c: a.addcdiv(b, c, value=-2), X, Y, z)
    _check(lambda a: cr.clamp_min(a, 0.3), lambda a: torch.clamp_min(a, 0.3), Y)
    _check(lambda a: a.clamp_max(0.3), lambda a: a.clamp_max(0.3), Y)
    a, b = np.array([7.0, -7.0, 7.5, -0.5]), np.array([2.0, 2.0, -2.0, 3.0])
    np.testing.assert_array_equal(cr.floor_divide(cr.tensor(a), cr.tensor(b)).data,
                                  torch.floor_divide(torch.tensor(a), torch.tensor(b)))
    assert cr.tensor([7, -7]).floor_divide(2).tolist() == [3, -4]


def test_edge_values_as_torch():
    # hypot at the origin: 0, with NaN gradients (0/0), as torch
    _check(cr.hypot, torch.hypot, [0.0, 3.0], [0.0, 4.0], equal_nan=True)
    # xlogy: 0·ln 0 = 0 with a zero x-gradient; 0·ln NaN = NaN; x·ln 0 = -inf; 0·ln 2 = 0
    # with the x-gradient ln 2; 1·ln(-1) = NaN
    _check(cr.xlogy, torch.xlogy, [0.0, 0.0, 2.0, 1.0, 0.0, 1.0, 0.0],
           [0.0, np.nan, 0.0, 2.0, 2.0, -1.0, -1.0], equal_nan=True)
    _check(cr.special.xlog1py, torch.special.xlog1py, [0.0, 0.0, 2.0, 0.0, 1.0, 0.0],
           [-1.0, np.nan, -1.0, 1.0, -2.0, -2.0], equal_nan=True)
    # logit without eps: NaN outside [0, 1], ±inf at the ends; with eps: clamped, flat
    # outside [eps, 1 - eps] (the ends themselves still pass the gradient)
    _check(cr.logit, torch.logit, [-0.5, 0.0, 0.3, 1.0, 1.5], equal_nan=True)
    _check(lambda x: cr.logit(x, 0.1), lambda x: torch.logit(x, 0.1),
           [-0.5, 0.0, 0.1, 0.3, 0.9, 1.5])
    # copysign: the gradient is ±1 by whether the sign flipped, 0 at x = 0; -0.0 counts
    _check(cr.copysign, torch.copysign, [0.0, 1.0, -2.0, 3.0, 3.0], [1.0, -2.0, -1.0, 0.0, -0.0])
    # sinc: 1 at 0 with a zero gradient
    _check(cr.sinc, torch.sinc, [0.0, 0.5, -1.0, 2.25])
    # logaddexp of -inf with itself, and of huge values, stays as torch's
    _check(cr.logaddexp, torch.logaddexp, [-np.inf, 1e308, 3.0], [-np.inf, 1e308, -np.inf],
           equal_nan=True)


def test_heaviside_values_as_torch_and_a_zero_gradient():
    x = np.array([-1.5, 0.0, 0.0, 2.0])
    v = np.array([0.5, 0.25, 1.0, 7.0])
    c = cr.tensor(x, requires_grad=True)
    out = cr.heaviside(c, cr.tensor(v))
    np.testing.assert_array_equal(out.data, torch.heaviside(torch.tensor(x), torch.tensor(v)))
    out.sum().backward()  # torch's backward raises here; a step's derivative is 0
    np.testing.assert_array_equal(c.grad.data, np.zeros(4))


def test_heaviside_of_nan_is_zero_and_integers_stay_integers_as_torch():
    x = np.array([np.nan, -1.0, 0.0, 3.0])
    out = cr.heaviside(cr.tensor(x), cr.tensor(np.float64(0.5)))
    np.testing.assert_array_equal(out.data, torch.heaviside(torch.tensor(x),
                                                            torch.tensor(0.5).double()))
    for dtype in (np.int64, np.uint8, np.bool_):
        xi, vi = np.array([0, 1, 2, 0]).astype(dtype), np.array([1]).astype(dtype)
        out, ref = cr.heaviside(cr.tensor(xi), cr.tensor(vi)), torch.heaviside(
            torch.tensor(xi), torch.tensor(vi))
        assert out.dtype == np.dtype(str(ref.dtype).removeprefix("torch."))
        np.testing.assert_array_equal(out.data, ref.numpy())


def test_integer_and_bool_inputs_are_computed_in_floats_as_torch():
    # uint8 wrapped 1 - x around (logit, entr) and bools or uint8 computed log in float16
    xi = np.array([0, 1, 2, 3], dtype=np.uint8)
    for dtype in (np.uint8, np.int64, np.bool_):
        x = xi.astype(dtype)
        for name in ("logit", "special.entr", "xlogy", "special.xlog1py"):
            fc, ft = cr, torch
            for part in name.split("."):
                fc, ft = getattr(fc, part), getattr(ft, part)
            args = (x, x[::-1].copy()) if "xlog" in name else (x,)
            out = fc(*(cr.tensor(a) for a in args))
            ref = ft(*(torch.tensor(a) for a in args))
            assert out.dtype == np.float32, name
            np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-6, err_msg=name)


def test_lgamma_of_minus_infinity_is_inf_as_torch():
    x = np.array([-np.inf, np.inf, -2.5])
    np.testing.assert_allclose(cr.lgamma(cr.tensor(x)).data, torch.lgamma(torch.tensor(x)),
                               rtol=1e-14)
    np.testing.assert_allclose(cr.special.gammaln(cr.tensor(x.astype(np.float32))).data,
                               torch.special.gammaln(torch.tensor(x.astype(np.float32))),
                               rtol=1e-6)


def test_nextafter_as_torch_and_without_gradient():
    a, b = np.array([1.0, 1.0, 0.0]), np.array([2.0, 0.0, -1.0])
    out = cr.tensor(a, requires_grad=True).nextafter(cr.tensor(b))
    np.testing.assert_array_equal(out.data, torch.nextafter(torch.tensor(a), torch.tensor(b)))
    assert not out.requires_grad
    with pytest.raises(ValueError, match="nextafter: needs float tensors"):
        cr.nextafter(cr.tensor([1, 2]), cr.tensor([0, 0]))


def test_numpy_ufuncs_dispatch_to_the_new_ops():
    c, t = _pair(Y)
    out = np.hypot(c, c) + np.logaddexp(c, 1.0) + np.fmod(c, 0.7) + np.trunc(c) + np.copysign(
        c, -1.0) + np.rad2deg(c)
    assert isinstance(out, cr.Tensor)
    ref = (torch.hypot(t, t) + torch.logaddexp(t, torch.tensor(1.0, dtype=t.dtype))
           + torch.fmod(t, 0.7) + torch.trunc(t) + torch.copysign(t, torch.tensor(-1.0))
           + torch.rad2deg(t))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-12)
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(c.grad.data, t.grad.numpy(), rtol=1e-12)


# --------------------------------------------------------------------------- cr.special

@pytest.mark.parametrize("name,values", [
    ("expit", Y), ("logit", X / 3.1), ("erf", Y), ("erfc", Y), ("erfcx", Y),
    ("erfinv", Y / 2.1), ("gammaln", X), ("digamma", X), ("psi", X), ("ndtr", Y * 3),
    ("ndtri", X / 3.1), ("log_ndtr", Y * 5), ("entr", X), ("sinc", Y), ("exp2", Y),
    ("expm1", Y), ("log1p", X), ("round", Y * 3),
])
def test_special_namespace_matches_torch_special(name, values):
    _check(getattr(cr.special, name), getattr(torch.special, name), values, rtol=1e-9)


def test_special_namespace_functions_with_arguments():
    _check(lambda x: cr.special.polygamma(2, x), lambda x: torch.special.polygamma(2, x), X,
           rtol=1e-9)
    _check(lambda x: cr.special.multigammaln(x, 3), lambda x: torch.special.multigammaln(x, 3),
           X + 1.5)
    _check(lambda x, y: cr.special.xlog1py(x, y), lambda x, y: torch.special.xlog1py(x, y),
           Y, X)
    _check(lambda x, y: cr.special.xlogy(x, y), lambda x, y: torch.special.xlogy(x, y), Y, X)
    _check(lambda x: cr.special.logsumexp(x, 1), lambda x: torch.special.logsumexp(x, 1), Y)
    _check(lambda x: cr.special.softmax(x, 0), lambda x: torch.special.softmax(x, 0), Y)
    out = cr.special.log_softmax(cr.tensor(Y.astype(np.float32)), 1, dtype=cr.float64)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.data, torch.special.log_softmax(
        torch.tensor(Y.astype(np.float32)), 1, dtype=torch.float64), rtol=1e-12)


def test_entr_edges_as_torch():
    _check(cr.special.entr, torch.special.entr, [0.0, 0.5, 2.0])
    out = cr.special.entr(cr.tensor([-1.0, np.nan, 0.0]))
    np.testing.assert_array_equal(out.data, torch.special.entr(torch.tensor(
        [-1.0, np.nan, 0.0], dtype=torch.float64)))


def test_log_ndtr_and_its_gradient_stay_finite_far_in_the_left_tail():
    _check(cr.special.log_ndtr, torch.special.log_ndtr, [-40.0, -20.0, 0.0, 8.0], rtol=1e-9)


# --------------------------------------------------------------------------- errors, SciPy

def test_errors_name_the_function_and_the_fix():
    with pytest.raises(ValueError, match=r"polygamma: the order n must be an int >= 0, got -1"):
        cr.polygamma(-1, cr.tensor([1.0]))
    with pytest.raises(ValueError, match=r"mvlgamma: every element must be greater than "
                                         r"\(p-1\)/2 = 1.0 for p = 3"):
        cr.mvlgamma(cr.tensor([0.9, 3.0]), 3)
    with pytest.raises(ValueError, match="mvlgamma: p must be an int >= 1"):
        cr.mvlgamma(cr.tensor([2.0]), 0)
    with pytest.raises(ValueError, match="addcdiv: integer division"):
        cr.addcdiv(cr.tensor([1]), cr.tensor([3]), cr.tensor([2]))
    assert cr.rad2deg(cr.tensor([1, 2])).dtype == cr.get_default_dtype()
    for fn in ("rad2deg", "deg2rad"):  # bools too, as PyTorch
        out = getattr(cr, fn)(cr.tensor([True, False]))
        np.testing.assert_allclose(out.data, getattr(torch, fn)(torch.tensor([True, False])))
        assert out.dtype == cr.get_default_dtype()


@pytest.fixture
def without_scipy(monkeypatch):
    """Imports of scipy fail, as on a machine without it."""
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    for mod in [m for m in sys.modules if m == "scipy" or m.startswith("scipy.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setattr(builtins, "__import__", fake_import)


def test_without_scipy_lgamma_and_erfc_fall_back_to_math_exactly(without_scipy):
    x = np.array([0.3, 1.0, 2.5, 10.0, -0.5, 0.0, -2.0, np.nan, np.inf, -np.inf])
    c = cr.tensor(x)
    np.testing.assert_allclose(cr.lgamma(c).data, torch.lgamma(torch.tensor(x)), rtol=1e-14)
    np.testing.assert_allclose(cr.erfc(c).data, torch.erfc(torch.tensor(x)), rtol=1e-14)
    assert cr.lgamma(cr.tensor(x.astype(np.float32))).dtype == np.float32


def test_without_scipy_the_functions_that_need_it_say_so(without_scipy):
    for call in (lambda: cr.digamma(cr.tensor([1.0])), lambda: cr.erfinv(cr.tensor([0.1])),
                 lambda: cr.special.ndtri(cr.tensor([0.1]))):
        with pytest.raises(ImportError, match=r"needs SciPy's special functions: pip install "
                                              r"scipy"):
            call()
    x = cr.tensor([1.5], requires_grad=True)  # lgamma's value works, its gradient is digamma
    y = cr.lgamma(x)
    with pytest.raises(ImportError,
                       match=r"polygamma \(also the gradient of lgamma\) needs SciPy"):
        y.backward()
