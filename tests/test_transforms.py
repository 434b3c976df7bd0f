"""Function transforms with JAX's semantics, checked against closed forms, central differences
and torch.func."""

import math
import re

import numpy as np
import pytest

import chainrule as cr
from chainrule import engine, transforms

torch = pytest.importorskip("torch")
tf = torch.func
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func's own


def close(a, b, tol=1e-9):
    a = a.numpy() if isinstance(a, cr.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def t64(v):
    return cr.tensor(v, dtype=cr.float64)


X = np.array([0.3, -1.1, 0.8])


def f_scalar(lib, x):
    return (lib.sin(x) * x + lib.exp(-x * x) * x ** 3).sum()


def f_vector(lib, x):
    return lib.tanh(x) * x[0] + lib.cos(x) ** 2


def numeric_grad(f, x, eps=1e-6):
    x = np.asarray(x, dtype=np.float64)
    g = np.zeros(x.shape + np.shape(f(x)))
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (np.asarray(f(x + e)) - np.asarray(f(x - e))) / (2 * eps)
    return np.moveaxis(g, tuple(range(x.ndim)), tuple(range(g.ndim - x.ndim, g.ndim)))


# --------------------------------------------------------------------------- grad

def test_grad_matches_torch_func():
    close(cr.grad(lambda x: f_scalar(cr, x))(t64(X)),
          tf.grad(lambda x: f_scalar(torch, x))(torch.tensor(X)))


def test_grad_accepts_tensors_arrays_and_numbers():
    f = lambda x: x ** 3  # noqa: E731
    for x in (t64(2.0), np.float64(2.0), np.array(2.0), 2.0, 2):
        g = cr.grad(f)(x)
        assert isinstance(g, cr.Tensor) and g.item() == pytest.approx(12.0)
    g = cr.grad(lambda x: (x ** 2).sum())(np.array([1.0, 2.0]))
    assert g.dtype == np.float64
    close(g, [2.0, 4.0])


def test_grad_results_are_plain_values():
    x = t64(X)
    g = cr.grad(lambda x: f_scalar(cr, x))(x)
    assert not g.requires_grad and g.grad_fn is None
    assert x.grad is None  # nothing accumulated into the argument


def test_value_and_grad():
    v, g = cr.value_and_grad(lambda x: (x * x).sum())(t64([1.0, 2.0]))
    assert v.item() == 5.0 and not v.requires_grad
    close(g, [2.0, 4.0])


def test_argnums_int_and_tuple():
    f = lambda a, b, c: (a * b ** 2 + c).sum()  # noqa: E731
    a, b, c = t64([1.0, 2.0]), t64([3.0, 4.0]), t64([5.0, 6.0])
    close(cr.grad(f)(a, b, c), [9.0, 16.0])
    close(cr.grad(f, argnums=1)(a, b, c), [6.0, 16.0])
    close(cr.grad(f, argnums=-1)(a, b, c), [1.0, 1.0])
    ga, gc = cr.grad(f, argnums=(0, 2))(a, b, c)
    close(ga, [9.0, 16.0])
    close(gc, [1.0, 1.0])
    (gb,) = cr.grad(f, argnums=(1,))(a, b, c)
    close(gb, [6.0, 16.0])
    v, (ga, gb) = cr.value_and_grad(f, argnums=(0, 1))(a, b, c)
    assert v.item() == pytest.approx(9 + 32 + 11.0)


def test_argnums_out_of_range():
    with pytest.raises(ValueError, match="argnums"):
        cr.grad(lambda a: a.sum(), argnums=2)(t64([1.0]))


def test_has_aux():
    def f(x):
        loss = (x ** 2).sum()
        return loss, {"pred": x * 2, "n": 3}

    g, aux = cr.grad(f, has_aux=True)(t64([1.0, 2.0]))
    close(g, [2.0, 4.0])
    close(aux["pred"], [2.0, 4.0])
    assert aux["n"] == 3 and not aux["pred"].requires_grad
    (v, aux2), g2 = cr.value_and_grad(f, has_aux=True)(t64([1.0, 2.0]))
    assert v.item() == 5.0 and aux2["n"] == 3


def test_grad_of_function_not_depending_on_input_is_zero():
    close(cr.grad(lambda x: cr.tensor(3.0))(t64([1.0, 2.0])), [0.0, 0.0])
    close(cr.grad(lambda x, y: (y * 2).sum())(t64([1.0, 2.0]), t64([1.0])), [0.0, 0.0])


def test_grad_needs_a_scalar_output():
    with pytest.raises(cr.ChainruleError, match="scalar"):
        cr.grad(lambda x: x * 2)(t64([1.0, 2.0]))


def test_grad_of_grad_and_grad_of_grad_of_grad():
    x0 = 0.7
    d1 = cr.grad(cr.sin)
    d2 = cr.grad(d1)
    d3 = cr.grad(d2)
    d4 = cr.grad(d3)
    assert d1(t64(x0)).item() == pytest.approx(math.cos(x0))
    assert d2(t64(x0)).item() == pytest.approx(-math.sin(x0))
    assert d3(t64(x0)).item() == pytest.approx(-math.cos(x0))
    assert d4(t64(x0)).item() == pytest.approx(math.sin(x0))
    p = lambda x: x ** 5  # noqa: E731
    assert cr.grad(cr.grad(cr.grad(p)))(t64(1.3)).item() == pytest.approx(60 * 1.3 ** 2)
    assert cr.grad(cr.grad(cr.grad(p)))(1.3).item() == pytest.approx(60 * 1.3 ** 2, rel=1e-5)


def test_grad_inside_grad_with_closure():
    # d/dx [x * d/dy (x y^2) at y = x] = d/dx 2 x^3 = 6 x^2  (perturbation confusion check)
    def outer(x):
        inner = cr.grad(lambda y: (x * y * y).sum())(x)
        return (x * inner).sum()

    assert cr.grad(outer)(t64(1.5)).item() == pytest.approx(6 * 1.5 ** 2)


def test_grad_on_a_tensor_that_requires_grad_stays_differentiable():
    x = cr.tensor(0.5, dtype=cr.float64, requires_grad=True)
    g = cr.grad(cr.sin)(x)
    assert g.requires_grad
    g.backward()
    assert x.grad.item() == pytest.approx(-math.sin(0.5))


# --------------------------------------------------------------------------- vjp

def test_vjp_fn_can_be_called_repeatedly():
    x = t64(X)
    out, vjp_fn = cr.vjp(lambda x: f_vector(cr, x), x)
    tout, tvjp = tf.vjp(lambda x: f_vector(torch, x), torch.tensor(X))
    close(out, tout)
    for v in (np.ones(3), np.array([1.0, -2.0, 0.5]), np.array([0.0, 0.0, 1.0])):
        (g,) = vjp_fn(t64(v))
        (tg,) = tvjp(torch.tensor(v))
        close(g, tg)
    (g,) = vjp_fn(np.ones(3))
    close(g, tvjp(torch.ones(3, dtype=torch.float64))[0])


def test_vjp_with_several_primals_and_outputs():
    f = lambda a, b: (a * b, a + b.sum())  # noqa: E731
    (o1, o2), vjp_fn = cr.vjp(f, t64([1.0, 2.0]), t64([3.0, 4.0]))
    ga, gb = vjp_fn((t64([1.0, 1.0]), t64([1.0, 0.0])))
    close(ga, [3.0 + 1.0, 4.0 + 0.0])
    close(gb, [1.0 + 1.0, 2.0 + 1.0])


def test_vjp_cotangent_shape_is_checked():
    _, vjp_fn = cr.vjp(lambda x: x * 2, t64([1.0, 2.0]))
    with pytest.raises(cr.ChainruleError, match="shape"):
        vjp_fn(t64([1.0, 2.0, 3.0]))


# --------------------------------------------------------------------------- jvp

def test_jvp_matches_torch_func():
    for t in (np.ones(3), np.array([0.5, -1.0, 2.0])):
        out, tan = cr.jvp(lambda x: f_vector(cr, x), (t64(X),), (t64(t),))
        tout, ttan = tf.jvp(lambda x: f_vector(torch, x), (torch.tensor(X),), (torch.tensor(t),))
        close(out, tout)
        close(tan, ttan)
        assert not tan.requires_grad and not out.requires_grad


def test_jvp_accepts_arrays_and_numbers():
    out, tan = cr.jvp(lambda x: x ** 3, (2.0,), (1.0,))
    assert out.item() == 8.0 and tan.item() == 12.0
    out, tan = cr.jvp(lambda x, y: x * y, (np.array([1.0, 2.0]), 3.0), (np.ones(2), 0.5))
    close(tan, [3.0 + 0.5, 3.0 + 1.0])


def test_jvp_is_true_forward_mode(monkeypatch):
    """An elementwise chain under jvp never runs the backward walk."""
    def fail(*a, **k):
        raise AssertionError("jvp ran a backward pass")

    monkeypatch.setattr(engine, "walk", fail)
    monkeypatch.setattr(engine, "_backward_node", fail)
    monkeypatch.setattr(transforms, "walk", fail)

    def chain(x):
        for _ in range(20):
            x = cr.sin(x) * 1.5 + cr.exp(-x * x) - x ** 2 / 3
        return cr.tanh(x)

    out, tan = cr.jvp(chain, (t64(X),), (t64(np.ones(3)),))
    num = numeric_grad(lambda v: chain(t64(v)).numpy(), X)
    close(tan, np.diagonal(num), tol=1e-6)


def test_jvp_with_tuple_outputs():
    (a, b), (ta, tb) = cr.jvp(lambda x: (x * 2, x * x), (t64([1.0, 2.0]),), (t64([1.0, 1.0]),))
    close(ta, [2.0, 2.0])
    close(tb, [2.0, 4.0])


def test_jvp_tangent_shape_is_checked():
    with pytest.raises(ValueError, match="shape"):
        cr.jvp(lambda x: x, (t64([1.0, 2.0]),), (t64([1.0]),))


def test_nested_jvp():
    # second derivative of x^3 by forward over forward: 6 x
    def d(x):
        return cr.jvp(lambda y: y ** 3, (x,), (cr.ones_like(x),))[1]

    out, dd = cr.jvp(d, (t64([0.5, 2.0]),), (t64([1.0, 1.0]),))
    close(out, 3 * np.array([0.5, 2.0]) ** 2)
    close(dd, 6 * np.array([0.5, 2.0]))
    # and of sin, three levels deep: -cos
    def d2(x):
        return cr.jvp(d_sin, (x,), (cr.ones_like(x),))[1]

    def d_sin(x):
        return cr.jvp(cr.sin, (x,), (cr.ones_like(x),))[1]

    _, d3 = cr.jvp(d2, (t64(0.4),), (t64(1.0),))
    assert d3.item() == pytest.approx(-math.cos(0.4))


@pytest.mark.parametrize("name", ["exp", "tanh", "sqrt", "sigmoid", "sin"])
def test_forward_over_forward_over_forward(name):
    """Third derivatives by three nested jvps, for ops whose rules reuse their output."""
    f = getattr(cr, name)
    one = t64(1.0)

    def d(g):
        return lambda x: cr.jvp(g, (x,), (one,))[1]

    x0 = 0.6
    third = d(d(d(f)))(t64(x0)).item()
    tfn = getattr(torch, name)
    tx = torch.tensor(x0, dtype=torch.float64, requires_grad=True)
    (g1,) = torch.autograd.grad(tfn(tx), tx, create_graph=True)
    (g2,) = torch.autograd.grad(g1, tx, create_graph=True)
    (g3,) = torch.autograd.grad(g2, tx)
    assert third == pytest.approx(g3.item(), rel=1e-10)


def test_jvp_of_grad():
    x = t64(X)
    g, hv = cr.jvp(cr.grad(lambda x: f_scalar(cr, x)), (x,), (t64([1.0, 0.0, 2.0]),))
    tg, thv = tf.jvp(tf.grad(lambda x: f_scalar(torch, x)), (torch.tensor(X),),
                     (torch.tensor([1.0, 0.0, 2.0], dtype=torch.float64),))
    close(g, tg)
    close(hv, thv)


def test_grad_of_a_function_using_jvp():
    def f(x):
        _, t = cr.jvp(lambda y: cr.sin(y) * y, (x,), (cr.ones_like(x),))
        return t.sum()

    def tf_f(x):
        _, t = tf.jvp(lambda y: torch.sin(y) * y, (x,), (torch.ones_like(x),))
        return t.sum()

    close(cr.grad(f)(t64(X)), tf.grad(tf_f)(torch.tensor(X)))


# --------------------------------------------------------------------------- jacobians

@pytest.mark.parametrize("jac", ["jacrev", "jacfwd", "jacobian"])
def test_jacobians_match_torch(jac):
    J = getattr(cr, jac)(lambda x: f_vector(cr, x))(t64(X))
    tJ = tf.jacrev(lambda x: f_vector(torch, x))(torch.tensor(X))
    close(J, tJ)
    assert not J.requires_grad


@pytest.mark.parametrize("jac", [cr.jacrev, cr.jacfwd])
def test_jacobian_shapes(jac):
    A = t64(np.arange(6.0).reshape(2, 3))
    assert jac(lambda m: m @ m.T)(A).shape == (2, 2, 2, 3)
    assert jac(lambda v: (v * v).sum())(t64([1.0, 2.0])).shape == (2,)
    assert jac(lambda s: s * t64([1.0, 2.0, 3.0]))(t64(2.0)).shape == (3,)
    close(jac(lambda s: s * t64([1.0, 2.0, 3.0]))(t64(2.0)), [1.0, 2.0, 3.0])
    close(jac(lambda m: m @ m)(t64(np.eye(2))),
          tf.jacrev(lambda m: m @ m)(torch.eye(2, dtype=torch.float64)))


@pytest.mark.parametrize("jac", [cr.jacrev, cr.jacfwd])
def test_jacobian_argnums_tuple(jac):
    f = lambda a, b: a * b + a.sum()  # noqa: E731
    a, b = t64([1.0, 2.0]), t64([3.0, 4.0])
    Ja, Jb = jac(f, argnums=(0, 1))(a, b)
    tJa, tJb = tf.jacrev(f, argnums=(0, 1))(torch.tensor([1.0, 2.0], dtype=torch.float64),
                                            torch.tensor([3.0, 4.0], dtype=torch.float64))
    close(Ja, tJa)
    close(Jb, tJb)
    close(jac(f, argnums=1)(a, b), tJb)


@pytest.mark.parametrize("jac", [cr.jacrev, cr.jacfwd], ids=["jacrev", "jacfwd"])
def test_jacobian_of_tuple_outputs_as_jax(jac):
    f = lambda L: (lambda x, y: (x * 2 * y, (x * y * y).sum(), L.sin(x)[:1]))  # noqa: E731
    xv, yv = np.array([1.0, 2.0]), np.array([3.0, -4.0])
    x, y = t64(xv), t64(yv)
    tx, ty = torch.tensor(xv), torch.tensor(yv)
    ours = jac(f(cr))(x, y)
    theirs = tf.jacrev(f(torch))(tx, ty)
    assert isinstance(ours, tuple) and len(ours) == 3
    for o, t in zip(ours, theirs):
        close(o, t)
    ours = jac(f(cr), argnums=(0, 1))(x, y)
    theirs = tf.jacrev(f(torch), argnums=(0, 1))(tx, ty)
    for o, t in zip(ours, theirs):
        assert isinstance(o, tuple) and len(o) == 2
        close(o[0], t[0])
        close(o[1], t[1])


@pytest.mark.parametrize("jac", [cr.jacrev, cr.jacfwd], ids=["jacrev", "jacfwd"])
def test_jacobian_of_empty_output(jac):
    assert jac(lambda x: x[:0])(t64([1.0, 2.0, 3.0])).shape == (0, 3)


def test_jacobian_against_central_differences_on_numpy_input():
    f = lambda x: cr.stack([x[0] * x[1], cr.sin(x[2]) * x[0], x.sum() ** 2])  # noqa: E731
    num = numeric_grad(lambda v: f(t64(v)).numpy(), X)
    close(cr.jacrev(f)(X), num, tol=1e-6)
    close(cr.jacfwd(f)(X), num, tol=1e-6)


@pytest.mark.parametrize("outer, inner", [("jacfwd", "jacrev"), ("jacrev", "jacfwd"),
                                          ("jacrev", "jacrev"), ("jacfwd", "jacfwd")])
def test_composed_jacobians_give_the_hessian(outer, inner):
    f = lambda x: f_scalar(cr, x)  # noqa: E731
    H = getattr(cr, outer)(getattr(cr, inner)(f))(t64(X))
    tH = tf.hessian(lambda x: f_scalar(torch, x))(torch.tensor(X))
    close(H, tH)


def test_jacfwd_of_jacrev_of_vector_function():
    J2 = cr.jacfwd(cr.jacrev(lambda x: f_vector(cr, x)))(t64(X))
    tJ2 = tf.jacfwd(tf.jacrev(lambda x: f_vector(torch, x)))(torch.tensor(X))
    assert J2.shape == (3, 3, 3)
    close(J2, tJ2)


# --------------------------------------------------------------------------- hessian

def test_hessian_is_forward_over_reverse():
    f = lambda x: f_scalar(cr, x)  # noqa: E731
    close(cr.hessian(f)(t64(X)), cr.jacfwd(cr.jacrev(f))(t64(X)))
    close(cr.hessian(f)(t64(X)), tf.hessian(lambda x: f_scalar(torch, x))(torch.tensor(X)))


def test_hessian_argnums():
    f = lambda a, b: (a * a * b * b * b).sum()  # noqa: E731
    a, b = t64([1.0, 2.0]), t64([0.5, -1.0])
    close(cr.hessian(f, argnums=1)(a, b), np.diag(6 * a.numpy() ** 2 * b.numpy()))
    close(cr.hessian(f)(a, b), np.diag(2 * b.numpy() ** 3))


N_IN, N_H, N_OUT = 3, 4, 2
SIZES = [N_IN * N_H, N_H, N_H * N_OUT, N_OUT]


def mlp_loss(p, X, Y, lib):
    """A 2-layer tanh MLP whose parameters are packed in one flat vector."""
    i = 0
    W1 = p[i:i + N_IN * N_H].reshape(N_IN, N_H)
    i += N_IN * N_H
    b1 = p[i:i + N_H]
    i += N_H
    W2 = p[i:i + N_H * N_OUT].reshape(N_H, N_OUT)
    i += N_H * N_OUT
    b2 = p[i:i + N_OUT]
    h = lib.tanh(X @ W1 + b1)
    return ((h @ W2 + b2 - Y) ** 2).mean()


def test_hessian_of_a_small_network_loss():
    rng = np.random.default_rng(0)
    Xv, Yv = rng.standard_normal((6, N_IN)), rng.standard_normal((6, N_OUT))
    p0 = rng.standard_normal(sum(SIZES)) * 0.5
    X, Y = t64(Xv), t64(Yv)
    H = cr.hessian(lambda p: mlp_loss(p, X, Y, cr))(t64(p0))
    assert H.shape == (len(p0), len(p0))
    tH = tf.hessian(lambda p: mlp_loss(p, torch.tensor(Xv), torch.tensor(Yv), torch))(
        torch.tensor(p0))
    close(H, tH, tol=1e-10)
    close(H, H.T, tol=1e-12)
    # finite differences of the (exact) gradient
    grad = cr.grad(lambda p: mlp_loss(p, X, Y, cr))
    num = numeric_grad(lambda v: grad(t64(v)).numpy(), p0, eps=1e-5)
    close(H, num, tol=1e-6)
    # and second differences of the loss itself, for a few entries
    def loss(v):
        return mlp_loss(t64(v), X, Y, cr).item()

    e = 1e-4
    for i, j in [(0, 0), (3, 17), (12, 20), (24, 25)]:
        ei, ej = np.eye(len(p0))[i] * e, np.eye(len(p0))[j] * e
        fd = (loss(p0 + ei + ej) - loss(p0 + ei - ej) - loss(p0 - ei + ej)
              + loss(p0 - ei - ej)) / (4 * e * e)
        assert H.numpy()[i, j] == pytest.approx(fd, abs=1e-5)


def test_hessian_vector_product_three_ways():
    f = lambda x: f_scalar(cr, x)  # noqa: E731
    v = t64([0.5, -1.0, 2.0])
    H = cr.hessian(f)(t64(X))
    _, hvp_fwd = cr.jvp(cr.grad(f), (t64(X),), (v,))
    _, vjp_fn = cr.vjp(cr.grad(f), t64(X))
    (hvp_rev,) = vjp_fn(v)
    close(hvp_fwd, H.numpy() @ v.numpy())
    close(hvp_rev, H.numpy() @ v.numpy())


# --------------------------------------------------------------------------- autograd.grad

def test_autograd_grad_is_differentiable_with_create_graph():
    x = cr.tensor([0.5, 1.0], dtype=cr.float64, requires_grad=True)
    (g,) = cr.autograd.grad((x ** 4).sum(), x, create_graph=True)
    (h,) = cr.autograd.grad(g.sum(), x)
    close(h, 12 * x.data ** 2)


def test_jvp_with_has_aux_returns_the_aux_as_torch_func():
    """jvp(..., has_aux=True): (output, tangent, aux), the aux not differentiated by this jvp
    but still by an outer transform (JAX's and torch.func's contract)."""
    torch = pytest.importorskip("torch")

    def f(lib):
        def fun(x, y):
            z = lib.sin(x) * y
            return z.sum(), {"z": z}
        return fun

    primals = ([1.0, 2.0], [3.0, 4.0])
    tangents = ([1.0, 0.0], [0.0, 1.0])
    out, tangent, aux = cr.jvp(f(cr), tuple(map(cr.tensor, primals)),
                               tuple(map(cr.tensor, tangents)), has_aux=True)
    t_out, t_tangent, t_aux = torch.func.jvp(f(torch), tuple(map(torch.tensor, primals)),
                                             tuple(map(torch.tensor, tangents)), has_aux=True)
    np.testing.assert_allclose(out.numpy(), t_out.numpy(), rtol=1e-6)
    np.testing.assert_allclose(tangent.numpy(), t_tangent.numpy(), rtol=1e-6)
    np.testing.assert_allclose(aux["z"].numpy(), t_aux["z"].numpy(), rtol=1e-6)
    assert not aux["z"].requires_grad
    # through an outer grad: d/dx of the aux x² at 2 is 4, of the tangent 3x² is 12
    def inner(x, k):
        return cr.jvp(lambda y: (y ** 3, y ** 2), (x,), (cr.tensor(1.0),), has_aux=True)[k]
    assert cr.grad(lambda x: inner(x, 1))(cr.tensor(2.0)).item() == 12.0
    assert cr.grad(lambda x: inner(x, 2))(cr.tensor(2.0)).item() == 4.0
    with pytest.raises(TypeError, match="jvp: with has_aux=True the function must return a pair"):
        cr.jvp(lambda x: x, (cr.tensor(1.0),), (cr.tensor(1.0),), has_aux=True)


@pytest.mark.parametrize("x, what, fix", [(np.int64(3), "a NumPy scalar", "float(x)"),
                                          (np.array([1, 2]), "a NumPy array of shape (2,)",
                                           "x.astype(np.float32)")])
def test_integer_numpy_inputs_get_a_fix_that_applies_to_them(x, what, fix):
    with pytest.raises(TypeError, match=re.escape(f"grad: argument 0 is {what} of dtype int64; "
                                                  "only floating point inputs have derivatives: "
                                                  f"convert it first (e.g. {fix})")):
        cr.grad(lambda v: (v * 1.0).sum())(x)
