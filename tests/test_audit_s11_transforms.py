"""Audit (s11) of the transforms, custom ops and gradient checking on edge cases, against
torch.func and JAX's documented behaviour. Each test below failed before its fix, unless it
says it pins behaviour that was already right."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
from torch import func as tf  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func's own


def t64(v, requires_grad=False):
    return cr.tensor(v, dtype=cr.float64, requires_grad=requires_grad)


def T(v):
    return torch.tensor(v, dtype=torch.float64)


def close(a, b, tol=1e-12):
    a = a.numpy() if isinstance(a, cr.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


# --------------------------------------------------------------------------- custom ops

def _forward_only_cube():
    @cr.custom_op
    def cube(x):
        return x ** 3

    cube.defjvp(lambda t, ans, x: 3 * x ** 2 * t)  # forward mode only: no defvjp
    return cube


def test_custom_op_with_only_a_defjvp_uses_it_in_forward_mode():
    # The tangent used to be 0 silently (the op had no vjps, which reads as "no derivative").
    cube = _forward_only_cube()
    x, v = [1.0, 2.0], [1.0, -3.0]
    out, tangent = cr.jvp(cube, (t64(x),), (t64(v),))
    t_out, t_tangent = tf.jvp(lambda a: a ** 3, (T(x),), (T(v),))
    close(out, t_out)
    close(tangent, t_tangent)
    close(cr.jacfwd(cube)(t64(x)), tf.jacfwd(lambda a: a ** 3)(T(x)))
    # forward over forward (the rule is written with chainrule ops)
    close(cr.jacfwd(cr.jacfwd(lambda a: cube(a).sum()))(t64(x)),
          tf.jacfwd(tf.jacfwd(lambda a: (a ** 3).sum()))(T(x)))


def test_custom_op_with_only_a_defjvp_in_reverse_mode_says_which_rule_is_missing():
    cube = _forward_only_cube()
    with pytest.raises(cr.ChainruleError, match=r"'cube' has no reverse-mode rule \(only a "
                                                r"defjvp.*@cube\.defvjp"):
        cr.grad(cube)(t64(2.0))


def test_custom_defjvp_none_for_an_input_of_a_reduction_contributes_nothing():
    # `None` in defjvp gave `t * 0`, of the input's shape: a reduction's output could not take
    # it ("expand: a tensor of shape (3,) cannot be expanded to ()").
    @cr.custom_op
    def wdot(x, w):
        return (x * w).sum()

    wdot.defvjp(lambda g, ans, x, w: (g * w, g * x))
    wdot.defjvp(lambda t, ans, x, w: (t * w).sum(-1), None)  # no tangent through w
    x, w = [1.0, 2.0, 3.0], [4.0, 5.0, 6.0]
    _, tangent = cr.jvp(wdot, (t64(x), t64(w)), (t64([1.0, 1.0, 1.0]), t64([1.0, 1.0, 1.0])))
    _, t_tangent = tf.jvp(lambda a, b: (a * b).sum(), (T(x), T(w)),
                          (T([1.0, 1.0, 1.0]), T([0.0, 0.0, 0.0])))
    close(tangent, t_tangent)
    jx, jw = cr.jacfwd(wdot, argnums=(0, 1))(t64(x), t64(w))
    close(jx, tf.jacfwd(lambda a, b: (a * b).sum())(T(x), T(w)))
    close(jw, np.zeros(3))


# --------------------------------------------------------------------------- vjp

def test_vjp_fn_checks_the_cotangent_shape_of_an_output_that_does_not_need_one():
    # JAX checks every cotangent against its output's shape; chainrule skipped the outputs
    # that do not depend on the inputs (torch.func also skips them).
    x = t64([1.0, 2.0])
    _, fn = cr.vjp(lambda a: cr.tensor([1.0, 2.0]), x)
    with pytest.raises(cr.ChainruleError, match=r"vjp_fn: the cotangent has shape \(5,\), but "
                                                r"the output has shape \(2,\)"):
        fn(cr.ones(5))
    _, fn = cr.vjp(lambda a: (a * 2, cr.tensor([1.0, 2.0, 3.0])), x)
    with pytest.raises(cr.ChainruleError, match=r"cotangent 1 has shape \(5,\), but output 1 "
                                                r"has shape \(3,\)"):
        fn((cr.ones(2), cr.ones(5)))
    (g,) = fn((t64([1.0, 1.0]), cr.ones(3)))  # right shapes: fine, and callable again
    close(g, [2.0, 2.0])
    (g,) = fn((t64([1.0, 3.0]), cr.ones(3)))
    close(g, [2.0, 6.0])


def test_vjp_fn_called_after_an_enclosing_backward_freed_its_graph_says_so():
    # torch.func keeps the graph; chainrule frees it in the outer grad's backward, and said
    # "Pass retain_graph=True to the first backward()", which the user cannot do here.
    fns = []

    def inner(a):
        out, fn = cr.vjp(lambda y: y ** 3, a)
        fns.append(fn)
        return out.sum()

    close(cr.grad(inner)(t64([1.0, 2.0])), [3.0, 12.0])
    with pytest.raises(cr.ChainruleError, match="vjp_fn: the graph recorded by cr.vjp was "
                                                "freed.*call vjp_fn before that backward"):
        fns[0](t64([1.0, 1.0]))


# --------------------------------------------------------------------------- argnums, inputs

@pytest.mark.parametrize("transform", [cr.grad, cr.value_and_grad, cr.jacrev, cr.jacfwd,
                                       cr.hessian])
def test_empty_argnums_is_an_error_as_in_torch_func(transform):
    # it returned () (jacfwd/jacrev too), which hides a mistake; torch.func raises
    with pytest.raises(RuntimeError, match="argnums must be non-empty"):
        tf.grad(lambda a, b: (a * b).sum(), argnums=())(T([1.0]), T([2.0]))
    with pytest.raises(ValueError, match="argnums is empty"):
        transform(lambda a, b: (a * b).sum(), argnums=())


@pytest.mark.parametrize("transform", [cr.grad, cr.jacrev, cr.jacfwd])
def test_integer_numpy_input_is_an_error_like_an_integer_tensor(transform):
    # A NumPy int array was silently made float64 while an int tensor was an error; JAX and
    # torch.func refuse both.
    with pytest.raises(RuntimeError, match="floating point"):
        tf.grad(lambda a: (a * 2.0).sum())(torch.tensor([1, 2]))
    f = (lambda a, b: (a * b).sum())
    with pytest.raises(TypeError, match=r"argument 1 is a NumPy array of shape \(2,\) of dtype "
                                        r"int64.*x\.astype\(np\.float32\)"):
        transform(f, argnums=1)(t64([1.0, 2.0]), np.array([1, 2]))
    with pytest.raises(TypeError, match=r"argument 0 is a tensor of shape \(2,\) of dtype int64"):
        transform(f)(cr.tensor([1, 2]), t64([1.0, 2.0]))
    # an integer argument left out of argnums is fine; a Python number is a float point
    close(cr.grad(f)(t64([1.0, 2.0]), np.array([3, 4])), [3.0, 4.0])
    assert cr.grad(lambda a: a * 2.0)(3).item() == 2.0


def test_jvp_tangent_of_another_float_dtype_is_an_error_as_in_jax():
    # It was cast to the primal's dtype silently (JAX: "primal and tangent arguments to
    # jax.jvp do not match; dtypes must be equal").
    x = cr.tensor([1.0, 2.0])  # float32
    with pytest.raises(TypeError, match=r"jvp: tangent 0 has dtype float64 but its primal has "
                                        r"dtype float32"):
        cr.jvp(lambda a: a * 2, (x,), (t64([1.0, 1.0]),))
    with pytest.raises(ValueError, match=r"jvp: tangent 0 has shape \(3,\), which does not "
                                         r"match its primal's shape \(2,\)"):
        cr.jvp(lambda a: a * 2, (x,), (cr.ones(3),))
    # a number or a list takes the primal's dtype
    _, t = cr.jvp(lambda a: a * 2, (x,), ([1.0, 1.0],))
    assert t.dtype == np.float32
    _, t = cr.jvp(lambda a: a * 2, (t64(1.0),), (1.0,))
    assert t.dtype == np.float64 and t.item() == 2.0


# --------------------------------------------------------------------------- gradgradcheck

def test_gradgradcheck_pairs_each_output_with_its_own_grad_output():
    # The grad_outputs of outputs needing no gradient were dropped from the front, so the
    # next output got one of the wrong shape ("gradient has shape (3,)... (2,)").
    x = t64([1.0, 2.0], True)
    assert cr.gradgradcheck(lambda a: (cr.tensor([1.0, 2.0, 3.0]), a ** 3), [x])
    assert cr.gradgradcheck(lambda a: (cr.tensor([1.0, 2.0, 3.0]), a ** 3), [x],
                            grad_outputs=[cr.ones(3), t64([1.0, -1.0])])
    with pytest.raises(ValueError, match="2 outputs but 1 grad_outputs"):
        cr.gradgradcheck(lambda a: (cr.tensor([1.0, 2.0, 3.0]), a ** 3), [x],
                         grad_outputs=[t64([1.0, -1.0])])


# --------------------------------------------------------------------------- pinned behaviour

def test_perturbation_confusion_is_avoided_in_every_nesting():
    # (already right) JAX's classic: d/dx [d/dy x*y at y=1] = 1, for every pair of modes
    assert cr.grad(lambda x: cr.grad(lambda y: x * y)(1.0))(2.0).item() == 1.0
    one = t64(1.0)
    assert cr.grad(lambda x: cr.jvp(lambda y: x * y, (one,), (one,))[1])(t64(2.0)).item() == 1.0
    assert cr.jvp(lambda x: cr.grad(lambda y: x * y)(one), (t64(2.0),), (one,))[1].item() == 1.0
    _, t = cr.jvp(lambda x: cr.jvp(lambda y: x * y, (one,), (one,))[1] * x, (t64(2.0),), (one,))
    _, tt = tf.jvp(lambda x: tf.jvp(lambda y: x * y, (T(1.0),), (T(1.0),))[1] * x, (T(2.0),),
                   (T(1.0),))
    close(t, tt)


def test_multi_output_multi_argnums_structure_matches_torch_func():
    # (already right) outputs outside, argnums inside, as JAX and torch.func
    def f(a, b):
        return a * b, a.sum() * b ** 2

    x, y = [1.0, 2.0], [3.0, 4.0]
    for ours, theirs in ((cr.jacrev, tf.jacrev), (cr.jacfwd, tf.jacfwd)):
        got = ours(f, argnums=(0, 1))(t64(x), t64(y))
        want = theirs(f, argnums=(0, 1))(T(x), T(y))
        assert isinstance(got, tuple) and len(got) == 2
        for g_out, w_out in zip(got, want):
            assert isinstance(g_out, tuple) and len(g_out) == 2
            for g, w in zip(g_out, w_out):
                close(g, w)
    h = cr.hessian(lambda a, b: (a ** 2 * b ** 3).sum(), argnums=(0, 1))(t64(x), t64(y))
    th = tf.hessian(lambda a, b: (a ** 2 * b ** 3).sum(), argnums=(0, 1))(T(x), T(y))
    for g_row, w_row in zip(h, th):
        for g, w in zip(g_row, w_row):
            close(g, w)


def test_forward_only_custom_op_runs_on_inputs_requiring_grad_until_a_backward_reaches_it():
    """jvp of a forward-only op applied to x·w with w a trained weight: the tangent is right
    (d/dx (xw)³ = 3(xw)²·w) and differentiable in w; a backward through the op itself says
    which rule is missing (as a PyTorch Function without a backward, at backward time)."""
    cube = _forward_only_cube()
    w = t64(2.0).requires_grad_()
    _, tangent = cr.jvp(lambda x: cube(x * w), (t64(1.0),), (t64(1.0),))
    assert tangent.item() == 24.0
    tangent.backward()  # the tangent is 3x²w³: d/dw = 9x²w² = 36 (the jvp rule, no vjp)
    assert w.grad.item() == 36.0
    y = cube(w)
    with pytest.raises(cr.ChainruleError, match=r"'cube' has no reverse-mode rule \(only a "
                                                r"defjvp.*@cube\.defvjp"):
        y.backward()
