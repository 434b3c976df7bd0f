"""User-defined ops: ``@cr.custom_op`` with ``defvjp`` / ``defjvp``, through every transform."""

import math

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func's own


def close(a, b, tol=1e-9):
    a = a.numpy() if isinstance(a, cr.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def t64(v, requires_grad=False):
    return cr.tensor(v, dtype=cr.float64, requires_grad=requires_grad)


@cr.custom_op(formula="d/dx softsign(x) = 1 / (1 + |x|)^2")
def softsign(x):                     # forward: runs on NumPy arrays
    return x / (1 + np.abs(x))


@softsign.defvjp
def _(g, ans, x):                    # upstream gradient, forward output, the inputs: as tensors
    return g / (1 + cr.abs(x)) ** 2  # chainrule ops, so it is differentiable again


def torch_softsign(x):
    return x / (1 + torch.abs(x))


# a softsign whose VJP uses NumPy ufuncs (they dispatch to chainrule's ops on tensors)
@cr.custom_op
def softsign_np(x):
    return x / (1 + np.abs(x))


@softsign_np.defvjp
def _(g, ans, x):
    return g / np.square(1 + np.abs(x))


# a softsign with its own JVP rule
@cr.custom_op(formula="d/dx softsign(x) = 1 / (1 + |x|)^2")
def softsign_fwd(x):
    return x / (1 + np.abs(x))


softsign_fwd.defvjp(lambda g, ans, x: g / (1 + cr.abs(x)) ** 2)
jvp_calls = []


@softsign_fwd.defjvp
def _(t, ans, x):
    jvp_calls.append(1)
    return t / (1 + cr.abs(x)) ** 2


X = np.array([0.5, -1.5, 2.0, -0.25])
OPS = [softsign, softsign_np, softsign_fwd]
IDS = ["vjp", "numpy_vjp", "vjp_and_jvp"]


def d1(x):
    return 1 / (1 + np.abs(x)) ** 2


def d2(x):
    return -2 * np.sign(x) / (1 + np.abs(x)) ** 3


def d3(x):
    return 6 / (1 + np.abs(x)) ** 4


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_forward_and_backward(op):
    x = t64(X, True)
    y = op(x)
    close(y, X / (1 + np.abs(X)))
    assert "Softsign" in y.grad_fn.name()
    y.sum().backward()
    close(x.grad, d1(X))


def test_formula_and_name():
    assert softsign.formula == "d/dx softsign(x) = 1 / (1 + |x|)^2"
    assert softsign.name == "softsign"


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_second_and_third_order_with_create_graph(op):
    x = t64(X, True)
    (g1,) = cr.autograd.grad(op(x).sum(), x, create_graph=True)
    (g2,) = cr.autograd.grad(g1.sum(), x, create_graph=True)
    (g3,) = cr.autograd.grad(g2.sum(), x)
    close(g1, d1(X))
    close(g2, d2(X))
    close(g3, d3(X))


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_every_transform(op):
    x = t64(X)
    f = lambda v: op(v).sum()  # noqa: E731
    close(cr.grad(f)(x), d1(X))
    close(cr.grad(lambda v: cr.grad(f)(v).sum())(x), d2(X))
    close(cr.grad(lambda v: cr.grad(lambda w: op(w)[1])(v).sum())(x), np.eye(4)[1] * d2(X))
    v, g = cr.value_and_grad(f)(x)
    assert v.item() == pytest.approx(float(np.sum(X / (1 + np.abs(X)))))
    out, vjp_fn = cr.vjp(op, x)
    close(vjp_fn(t64(np.ones(4)))[0], d1(X))
    close(vjp_fn(t64([1.0, 0.0, 2.0, 0.0]))[0], d1(X) * [1, 0, 2, 0])
    out, tan = cr.jvp(op, (x,), (t64([1.0, 2.0, 0.0, -1.0]),))
    close(tan, d1(X) * [1, 2, 0, -1])
    close(cr.jacrev(op)(x), np.diag(d1(X)))
    close(cr.jacfwd(op)(x), np.diag(d1(X)))
    close(cr.jacobian(op)(X), np.diag(d1(X)))
    close(cr.hessian(f)(x), np.diag(d2(X)))
    close(cr.jacrev(cr.jacfwd(f))(x), np.diag(d2(X)))
    close(cr.jacfwd(cr.jacfwd(f))(x), np.diag(d2(X)))
    _, hv = cr.jvp(cr.grad(f), (x,), (t64(np.ones(4)),))
    close(hv, d2(X))


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_matches_torch_func(op):
    tf = torch.func
    tx = torch.tensor(X)
    close(cr.hessian(lambda v: (op(v) * cr.sin(v)).sum())(t64(X)),
          tf.hessian(lambda v: (torch_softsign(v) * torch.sin(v)).sum())(tx))
    close(cr.jacfwd(lambda v: op(v * v))(t64(X)), tf.jacfwd(lambda v: torch_softsign(v * v))(tx))


def test_defjvp_is_used_by_forward_mode():
    jvp_calls.clear()
    cr.jvp(softsign_fwd, (t64(X),), (t64(np.ones(4)),))
    cr.jacfwd(softsign_fwd)(t64(X))
    assert len(jvp_calls) >= 2


def test_jacfwd_without_defjvp_derives_the_jvp_from_the_vjp():
    assert softsign.op.jvps is None
    close(cr.jacfwd(softsign)(t64(X)), np.diag(d1(X)))
    close(cr.jacfwd(softsign)(t64(X, True)), np.diag(d1(X)))


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_gradcheck_and_gradgradcheck(op):
    x = t64(X, True)
    assert cr.gradcheck(op, (x,))
    assert cr.gradgradcheck(op, (x,))
    assert cr.gradcheck(lambda v: op(v * 3) * v, (x,))
    assert cr.gradgradcheck(lambda v: op(v * 3) * v, (x,))


def test_float32_inputs():
    x = cr.tensor([0.5, -2.0], requires_grad=True)
    y = softsign(x)
    assert y.dtype == cr.float32
    y.sum().backward()
    assert x.grad.dtype == cr.float32
    close(x.grad, d1(np.array([0.5, -2.0])), tol=1e-6)


def test_numpy_and_number_inputs():
    close(softsign(np.array([1.0, 3.0])), [0.5, 0.75])
    assert softsign(1.0).item() == 0.5
    assert cr.grad(softsign)(1.0).item() == pytest.approx(0.25)


# --------------------------------------------------------------------------- two inputs

@cr.custom_op(formula=("d/dx x·e^y = e^y", "d/dy x·e^y = x·e^y"))
def mul_exp(x, y):
    return x * np.exp(y)


@mul_exp.defvjp
def _(g, ans, x, y):
    return g * cr.exp(y), g * ans


def torch_mul_exp(x, y):
    return x * torch.exp(y)


A, B = np.array([0.5, -1.0, 2.0]), np.array([0.3, 0.1, -0.7])


def test_two_inputs_backward_and_broadcasting():
    a, b = t64(A, True), t64(B, True)
    (mul_exp(a, b) * t64([1.0, 2.0, 3.0])).sum().backward()
    close(a.grad, np.exp(B) * [1, 2, 3])
    close(b.grad, A * np.exp(B) * [1, 2, 3])
    s = t64(0.2, True)
    mul_exp(a, s).sum().backward()   # y broadcast: its gradient is summed to its shape
    assert s.grad.shape == ()
    assert s.grad.item() == pytest.approx(float(np.sum(A.astype(float) * np.exp(0.2))))


def test_two_inputs_every_transform_against_torch():
    tf = torch.func
    a, b = t64(A), t64(B)
    ta, tb = torch.tensor(A), torch.tensor(B)
    f = lambda x, y: (mul_exp(x, y) * x).sum()  # noqa: E731
    tfun = lambda x, y: (torch_mul_exp(x, y) * x).sum()  # noqa: E731
    ga, gb = cr.grad(f, argnums=(0, 1))(a, b)
    tga, tgb = tf.grad(tfun, argnums=(0, 1))(ta, tb)
    close(ga, tga)
    close(gb, tgb)
    for jac in (cr.jacrev, cr.jacfwd):
        Ja, Jb = jac(mul_exp, argnums=(0, 1))(a, b)
        tJa, tJb = tf.jacrev(torch_mul_exp, argnums=(0, 1))(ta, tb)
        close(Ja, tJa)
        close(Jb, tJb)
    close(cr.hessian(f, argnums=1)(a, b), tf.hessian(tfun, argnums=1)(ta, tb))
    close(cr.hessian(f)(a, b), tf.hessian(tfun)(ta, tb))
    out, tan = cr.jvp(mul_exp, (a, b), (t64([1.0, 0.0, 1.0]), t64([0.0, 1.0, 1.0])))
    tout, ttan = tf.jvp(torch_mul_exp, (ta, tb), (torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64),
                                                   torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)))
    close(tan, ttan)


def test_two_inputs_gradcheck_and_gradgradcheck():
    a, b = t64(A, True), t64(B, True)
    assert cr.gradcheck(mul_exp, (a, b))
    assert cr.gradgradcheck(mul_exp, (a, b))


def test_two_inputs_with_defjvp():
    @cr.custom_op
    def prod(x, y):
        return x * y

    prod.defvjp(lambda g, ans, x, y: (g * y, g * x))
    prod.defjvp(lambda t, ans, x, y: t * y, lambda t, ans, x, y: t * x)
    a, b = t64(A), t64(B)
    _, tan = cr.jvp(prod, (a, b), (t64(np.ones(3)), t64(np.full(3, 2.0))))
    close(tan, B + 2 * A)
    Ja, Jb = cr.jacfwd(prod, argnums=(0, 1))(a, b)
    close(Ja, np.diag(B))
    close(Jb, np.diag(A))
    assert cr.gradgradcheck(prod, (t64(A, True), t64(B, True)))


def test_none_gradient_for_an_input_without_one():
    @cr.custom_op
    def scale(x, s):
        return x * s

    @scale.defvjp
    def _(g, ans, x, s):
        return g * s, None

    x, s = t64(A, True), t64(2.0, True)
    y = scale(x, s)
    y.sum().backward()
    close(x.grad, [2.0, 2.0, 2.0])
    assert s.grad is None
    gx, gs = cr.grad(lambda x, s: scale(x, s).sum(), argnums=(0, 1))(t64(A), t64(2.0))
    close(gx, [2.0, 2.0, 2.0])
    close(gs, 0.0)
    Jx, Js = cr.jacfwd(scale, argnums=(0, 1))(t64(A), t64(2.0))
    close(Jx, 2 * np.eye(3))
    close(Js, np.zeros(3))


def test_keyword_parameters_reach_the_rules():
    @cr.custom_op
    def power(x, p=2):
        return x ** p

    @power.defvjp
    def _(g, ans, x, p=2):
        return g * p * x ** (p - 1)

    x = t64([1.5, 2.0], True)
    power(x, p=3).sum().backward()
    close(x.grad, 3 * np.array([1.5, 2.0]) ** 2)
    assert cr.grad(lambda v: power(v, p=4).sum())(t64(2.0)).item() == pytest.approx(32.0)


# --------------------------------------------------------------------------- errors

def test_differentiating_without_a_rule_is_a_clear_error():
    @cr.custom_op
    def plain(x):
        return np.sin(x)

    assert plain(t64([0.0])).tolist() == [0.0]  # forward alone is fine
    with pytest.raises(cr.ChainruleError, match="defvjp"):
        plain(t64([0.0], True))


def test_wrong_number_of_gradients_is_a_clear_error():
    @cr.custom_op
    def two(x, y):
        return x + y

    two.defvjp(lambda g, ans, x, y: g)
    with pytest.raises(cr.ChainruleError, match="one gradient per input"):
        two(t64([1.0], True), t64([2.0], True)).sum().backward()

    @cr.custom_op
    def two_b(x, y):
        return x + y

    two_b.defvjp(lambda g, ans, x, y: (g, g, g))
    with pytest.raises(cr.ChainruleError, match="3 gradients for 2 inputs"):
        two_b(t64([1.0], True), t64([2.0], True)).sum().backward()


def test_custom_op_works_with_no_grad_and_detect_anomaly():
    x = t64([0.5], True)
    with cr.no_grad():
        assert not softsign(x).requires_grad

    @cr.custom_op
    def bad(x):
        return x * 1.0

    bad.defvjp(lambda g, ans, x: g * math.nan)
    with cr.detect_anomaly(), pytest.raises(cr.ChainruleError, match="bad"):
        bad(x).sum().backward()


def test_vjp_runs_once_per_node_for_several_inputs():
    calls = []

    @cr.custom_op
    def mul3(x, y, z):
        return x * y * z

    @mul3.defvjp
    def _(g, ans, x, y, z):
        calls.append(1)
        return g * y * z, g * x * z, g * x * y

    a, b, c = t64([1.0, 2.0], True), t64([3.0, 4.0], True), t64([5.0, 6.0], True)
    mul3(a, b, c).sum().backward()
    assert len(calls) == 1
    close(a.grad, [15.0, 24.0])
    close(b.grad, [5.0, 12.0])
    close(c.grad, [3.0, 8.0])
    calls.clear()
    mul3(a, b, c).sum().backward()    # a fresh call computes afresh
    assert len(calls) == 1
    close(a.grad, [30.0, 48.0])
