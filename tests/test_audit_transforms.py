"""Audit of the transforms and autograd entry points against JAX's documented semantics,
torch.func and torch.autograd: each test is a discrepancy that was found and fixed."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
tf = torch.func
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func's own


def t64(v, requires_grad=False):
    return cr.tensor(v, dtype=cr.float64, requires_grad=requires_grad)


def tt(v, requires_grad=False):
    return torch.tensor(v, dtype=torch.float64, requires_grad=requires_grad)


def close(a, b, tol=1e-10):
    a = a.numpy() if isinstance(a, cr.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


X = [0.3, -1.1, 0.8]


# --------------------------------------------------------------------------- argnums, fun

@pytest.mark.parametrize("transform", [cr.grad, cr.jacrev, cr.jacfwd, cr.hessian])
def test_duplicate_argnums_are_rejected(transform):
    # grad and jacrev used to give zeros for the first copy
    with pytest.raises(ValueError, match="argnums"):
        transform(lambda x, y: (x * y).sum(), argnums=(0, 0))(t64([1.0, 2.0]), t64([3.0, 4.0]))


@pytest.mark.parametrize("transform", [cr.grad, cr.value_and_grad, cr.jacrev, cr.jacfwd])
def test_argnums_must_be_ints(transform):
    with pytest.raises(TypeError, match="argnums must be an int or a tuple of ints"):
        transform(lambda x: x.sum(), argnums=0.0)


@pytest.mark.parametrize("transform", [cr.grad, cr.jacrev, cr.jacfwd, cr.hessian])
def test_transforming_a_non_function_fails_at_once(transform):
    with pytest.raises(TypeError, match="expected a function"):
        transform(3)


def test_grad_has_aux_needs_a_pair():
    with pytest.raises(TypeError, match=r"has_aux=True .* pair"):
        cr.grad(lambda x: (x * x).sum(), has_aux=True)(t64([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"has_aux=True .* pair"):
        cr.grad(lambda x: ((x * x).sum(), 1, 2), has_aux=True)(t64([1.0, 2.0]))


def test_vjp_has_aux_needs_a_pair():
    # a tensor output used to be unpacked along its first dimension
    with pytest.raises(TypeError, match=r"has_aux=True .* pair"):
        cr.vjp(lambda x: x * 2, t64([1.0, 2.0]), has_aux=True)


def test_grad_of_an_integer_output_is_an_error():
    # JAX: grad requires real-valued outputs (it used to return zeros)
    with pytest.raises(TypeError, match="floating point scalar"):
        cr.grad(lambda x: (x > 0).sum())(t64([1.0, -2.0]))


@pytest.mark.parametrize("arg", [{"a": 1.0}, (t64([1.0]), t64([2.0]))])
def test_grad_with_respect_to_a_container_is_a_clear_error(arg):
    # a tuple of tensors used to be stacked into one tensor silently
    with pytest.raises(TypeError, match="not containers"):
        cr.grad(lambda x: cr.tensor(0.0))(arg)


@pytest.mark.parametrize("transform", ["vjp", "jvp"])
def test_a_dict_output_is_a_clear_error(transform):
    f = lambda x: {"y": x * 2}  # noqa: E731
    with pytest.raises(TypeError, match="returned a dict"):
        if transform == "vjp":
            cr.vjp(f, t64([1.0]))
        else:
            cr.jvp(f, (t64([1.0]),), (t64([1.0]),))


# --------------------------------------------------------------------------- nesting

def test_grad_through_an_argument_the_inner_grad_does_not_differentiate():
    # d/dx d/dy (x² y) = 2x: the inner grad used to detach its result from x (giving 0)
    f = lambda x, y: x * x * y  # noqa: E731
    ours = cr.grad(cr.grad(f, argnums=1), argnums=0)(t64(3.0), t64(2.0))
    theirs = tf.grad(tf.grad(f, argnums=1), argnums=0)(tt(3.0), tt(2.0))
    close(ours, theirs)


def test_grad_of_a_hessian_through_a_closure():
    x = [0.5, -1.5]

    def outer(lib, transforms):
        def g(y):
            h = transforms.hessian(lambda v: (lib.sin(v) * v * v * y).sum())
            return h(lib.tensor(x, dtype=lib.float64)).sum()
        return g

    close(cr.grad(outer(cr, cr))(t64(2.0)), tf.grad(outer(torch, tf))(tt(2.0)))


def test_grad_of_a_vjp_through_a_closure():
    def outer(lib, vjp):
        def g(y):
            _, fn = vjp(lambda v: lib.sin(v * y), lib.tensor(X, dtype=lib.float64))
            return fn(lib.ones(3, dtype=lib.float64))[0].sum()
        return g

    close(cr.grad(outer(cr, cr.vjp))(t64(0.7)), tf.grad(outer(torch, tf.vjp))(tt(0.7)))


def test_grad_of_a_jvp_and_of_jacfwd_through_a_closure():
    def via_jvp(lib, jvp):
        def g(y):
            x = lib.tensor(X, dtype=lib.float64)
            return jvp(lambda v: lib.sin(v * y), (x,), (lib.ones(3, dtype=lib.float64),))[1].sum()
        return g

    def via_jacfwd(lib, jacfwd):
        return lambda y: jacfwd(lambda v: lib.sin(v * y))(lib.tensor(X, dtype=lib.float64)).sum()

    close(cr.grad(via_jvp(cr, cr.jvp))(t64(0.7)), tf.grad(via_jvp(torch, tf.jvp))(tt(0.7)))
    close(cr.grad(via_jacfwd(cr, cr.jacfwd))(t64(0.7)),
          tf.grad(via_jacfwd(torch, tf.jacfwd))(tt(0.7)))


def test_grad_with_a_parameter_in_its_closure_tracks_it_as_torch_func():
    def run(lib, transforms, no_grad):
        w = lib.tensor([0.5, -2.0], dtype=lib.float64, requires_grad=True)
        x = lib.tensor([1.5, 3.0], dtype=lib.float64)
        if no_grad:
            with lib.no_grad():
                return transforms.grad(lambda v: (w * v * v).sum())(x), w
        g = transforms.grad(lambda v: (w * v * v).sum())(x)
        g.sum().backward()
        return g, w

    (g, w), (tg, tw) = run(cr, cr, False), run(torch, tf, False)
    close(g, tg)
    close(w.grad, tw.grad)
    (g, _), (tg, _) = run(cr, cr, True), run(torch, tf, True)
    close(g, tg)
    assert not g.requires_grad and not tg.requires_grad


def test_results_without_outer_dependence_stay_plain():
    # the check for closures must not make plain results carry a graph
    h = cr.hessian(lambda v: (v ** 3).sum())(t64(X))
    j = cr.jacfwd(cr.jacrev(lambda v: v ** 3))(t64(X))
    assert h.grad_fn is None and not h.requires_grad
    assert j.grad_fn is None and not j.requires_grad


# --------------------------------------------------------------------------- vjp, jvp

def test_vjp_fn_of_a_tuple_output_needs_a_tuple_of_cotangents():
    _, fn = cr.vjp(lambda x: (x * 2, x * 3), t64([1.0, 2.0]))
    with pytest.raises(TypeError, match="tuple of 2 cotangents"):
        fn(t64([1.0, 1.0]))


def test_vjp_fn_of_a_single_output_rejects_a_tuple():
    _, fn = cr.vjp(lambda x: x * 2, t64([1.0, 2.0]))
    with pytest.raises(TypeError, match="single tensor"):
        fn((t64([1.0, 1.0]),))


@pytest.mark.parametrize("primals, tangents", [(t64([1.0, 2.0]), t64([1.0, 1.0])), (2.0, 1.0)])
def test_jvp_primals_and_tangents_must_be_tuples(primals, tangents):
    with pytest.raises(TypeError, match="must be a tuple"):
        cr.jvp(lambda x: x * x, primals, tangents)


def test_jvp_integer_tangent_is_an_error():
    # torch.func.jvp: "Expected tangent to be floating point"
    with pytest.raises(TypeError, match="floating point"):
        cr.jvp(lambda x: x * x, (t64([1.0, 2.0]),), (cr.tensor([1, 1]),))


# --------------------------------------------------------------------------- jacobians

@pytest.mark.parametrize("name", ["jacrev", "jacfwd"])
def test_jacobians_pass_keyword_arguments(name):
    # as JAX's jacrev/jacfwd: keyword arguments reach fun, not differentiated
    ours = getattr(cr, name)(lambda x, scale=1.0: cr.sin(x) * scale)(t64(X), scale=3.0)
    theirs = getattr(tf, name)(lambda x: torch.sin(x) * 3.0)(tt(X))
    close(ours, theirs)


@pytest.mark.parametrize("name", ["jacrev", "jacfwd", "hessian"])
def test_jacobians_has_aux(name):
    def f(lib):
        return lambda x: ((lib.sin(x) * x).sum() if name == "hessian" else lib.sin(x) * x,
                          lib.cos(x))

    jac, aux = getattr(cr, name)(f(cr), has_aux=True)(t64(X))
    if name == "hessian":  # (JAX's hessian: jacfwd(jacrev(f, has_aux), has_aux))
        tjac, taux = tf.jacfwd(tf.jacrev(f(torch), has_aux=True), has_aux=True)(tt(X))
    else:
        tjac, taux = getattr(tf, name)(f(torch), has_aux=True)(tt(X))
    close(jac, tjac)
    close(aux, taux)
    assert not aux.requires_grad


def test_jacfwd_of_an_integer_output_is_float_zeros():
    j = cr.jacfwd(lambda x: (x > 0).long())(t64([1.0, -1.0]))
    assert j.dtype == np.float64
    close(j, np.zeros((2, 2)))


# --------------------------------------------------------------------------- autograd.grad

def test_autograd_grad_counts_grad_outputs():
    # the second output used to be dropped silently
    x = t64([1.0, 2.0], True)
    with pytest.raises(ValueError, match="2 outputs but 1 grad_outputs"):
        cr.autograd.grad([x * 2, x * 3], [x], [cr.ones(2, dtype=cr.float64)])
    with pytest.raises(ValueError, match="2 outputs but 1 grad_outputs"):
        cr.autograd.grad([x.sum(), x.sum()], [x], t64(1.0))


def test_autograd_grad_input_that_does_not_require_grad():
    x, y = t64([1.0, 2.0], True), t64([1.0, 2.0])
    with pytest.raises(cr.ChainruleError, match="input 1 .* does not require grad"):
        cr.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)


def test_autograd_grad_bad_inputs():
    x = t64([1.0, 2.0], True)
    with pytest.raises(ValueError, match="cannot be empty"):
        cr.autograd.grad((x * 2).sum(), [])
    with pytest.raises(TypeError, match=r"inputs\[0\] is a float"):
        cr.autograd.grad((x * 2).sum(), [3.0])


def test_autograd_grad_materialize_grads():
    def run(lib):
        x, y = (lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True) for _ in "ab")
        return lib.autograd.grad((x * 2).sum(), [x, y], materialize_grads=True)

    for a, b in zip(run(cr), run(torch)):
        close(a, b)


def test_autograd_grad_is_grads_batched():
    def run(lib):
        x = lib.tensor(X, dtype=lib.float64, requires_grad=True)
        return lib.autograd.grad([lib.sin(x) * x, x.sum()], [x],
                                 [lib.eye(3, dtype=lib.float64),
                                  lib.ones(3, dtype=lib.float64)], is_grads_batched=True)

    (ours,), (theirs,) = run(cr), run(torch)
    close(ours, theirs)


# --------------------------------------------------------------------------- autograd.backward

def test_autograd_backward_counts_grad_tensors():
    x = t64([1.0, 2.0], True)
    with pytest.raises(ValueError, match="2 outputs but 1 grad_tensors"):  # was a KeyError
        cr.autograd.backward([x * x, x * 3], [cr.ones(2, dtype=cr.float64)])


def test_autograd_backward_of_a_tensor_without_grad():
    with pytest.raises(cr.ChainruleError, match="does not require grad"):
        cr.autograd.backward(t64([1.0, 2.0]) * 2, cr.ones(2, dtype=cr.float64))


def test_autograd_backward_inputs():
    def run(lib):
        x, y = (lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True) for _ in "ab")
        lib.autograd.backward([(x * y * y).sum()], inputs=[x])
        return x.grad, y.grad

    (gx, gy), (tgx, tgy) = run(cr), run(torch)
    close(gx, tgx)
    assert gy is None and tgy is None


# --------------------------------------------------------------------------- custom ops

def test_custom_vjp_of_the_wrong_shape_is_a_clear_error():
    @cr.custom_op
    def square(a):
        return a * a

    square.defvjp(lambda g, ans, a: (2 * a * g)[:1])
    with pytest.raises(cr.ChainruleError, match=r"square.*shape \(1,\) for input 0 of shape"):
        square(t64([1.0, 2.0], True)).sum().backward()


def test_custom_vjp_returning_numpy_under_create_graph_is_an_error():
    # the second derivative used to be 0 silently
    @cr.custom_op
    def square(a):
        return a * a

    square.defvjp(lambda g, ans, a: (2 * a * g).numpy())
    x = t64([1.0, 2.0], True)
    square(x).sum().backward()  # first order: fine
    close(x.grad, [2.0, 4.0])
    with pytest.raises(TypeError, match="chainrule ops"):
        cr.grad(cr.grad(lambda v: square(v)))(t64(2.0))


def test_custom_jvp_of_the_wrong_shape_is_a_clear_error():
    @cr.custom_op
    def cube(a):
        return a ** 3

    cube.defvjp(lambda g, ans, a: 3 * a ** 2 * g)
    cube.defjvp(lambda t, ans, a: (3 * a ** 2 * t)[..., :1])  # was broadcast silently
    with pytest.raises(cr.ChainruleError, match="jvp for input 0 returned shape"):
        cr.jvp(cube, (t64([1.0, 2.0]),), (t64([1.0, 1.0]),))
    with pytest.raises(cr.ChainruleError, match="jvp for input 0 returned shape"):
        cr.jacfwd(cube)(t64([1.0, 2.0]))


def test_custom_jvp_returning_numpy_gives_a_tensor():
    @cr.custom_op
    def cube(a):
        return a ** 3

    cube.defvjp(lambda g, ans, a: 3 * a ** 2 * g)
    cube.defjvp(lambda t, ans, a: (3 * a ** 2 * t).numpy())
    _, tangent = cr.jvp(cube, (t64([1.0, 2.0]),), (t64([1.0, 1.0]),))
    assert isinstance(tangent, cr.Tensor)
    close(tangent, [3.0, 12.0])


def test_custom_op_without_rules_under_forward_mode_is_an_error():
    double = cr.custom_op(lambda a: a * 2)  # no defvjp, no defjvp: the tangent used to be 0
    with pytest.raises(cr.ChainruleError, match="no derivative rule"):
        cr.jvp(double, (t64([1.0]),), (t64([1.0]),))


def test_custom_op_forward_returning_a_tuple_is_an_error():
    pair = cr.custom_op(lambda a: (a, a * 2))  # was stacked into one array
    with pytest.raises(TypeError, match="one output"):
        pair(t64([1.0, 2.0]))


def test_custom_op_keeps_the_function_name():
    @cr.custom_op
    def softsign(a):
        """Softsign."""
        return a / (1 + np.abs(a))

    assert softsign.__name__ == "softsign" and softsign.__doc__ == "Softsign."


# --------------------------------------------------------------------------- gradgradcheck

def test_gradgradcheck_raise_exception_false():
    @cr.custom_op
    def my_cos(a):
        return np.cos(a)

    my_cos.defvjp(lambda g, ans, a: g * cr.sin(a))  # wrong sign

    @cr.custom_op
    def my_sin(a):
        return np.sin(a)

    my_sin.defvjp(lambda g, ans, a: g * my_cos(a))  # right first derivative
    x = t64([0.4, 1.3], True)
    assert cr.gradcheck(my_sin, (x,))
    assert cr.gradgradcheck(my_sin, (x,), raise_exception=False) is False
    with pytest.raises(cr.GradcheckError):
        cr.gradgradcheck(my_sin, (x,))


def test_forward_mode_through_a_vjp_function_matches_torch_func():
    # jacfwd of vjp_fn with respect to the cotangent: diag(∂f/∂x), not silently zeros
    x = np.array([1.5, 3.0])
    _, fn = cr.vjp(lambda v: cr.sin(v) * v, cr.tensor(x))
    got = cr.jacfwd(lambda c: fn(c)[0])(cr.tensor(np.ones(2)))
    tx = torch.tensor(x)
    _, tfn = torch.func.vjp(lambda v: torch.sin(v) * v, tx)
    want = torch.func.jacfwd(lambda c: tfn(c)[0])(torch.ones(2, dtype=torch.float64))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    assert np.abs(got.numpy()).max() > 1  # (not the zeros it gave before)


def test_batched_grad_outputs_of_different_batch_sizes_are_an_error():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(ValueError, match="same batch size"):
        cr.autograd.grad([x * 2, x * 3], [x], [cr.ones(2, 3), cr.ones(4, 3)],
                         is_grads_batched=True)


def test_autograd_backward_inputs_are_checked_and_accumulate_in_place_as_torch():
    x = t64([1.0, 2.0], True)
    with pytest.raises(cr.ChainruleError, match="does not require grad"):
        cr.autograd.backward([(x * 2).sum()], inputs=[t64([1.0, 2.0])])
    cr.autograd.backward([(x * x).sum()], inputs=[x])
    first = x.grad
    cr.autograd.backward([(x * x).sum()], inputs=[x])
    assert x.grad is first  # the same .grad tensor, accumulated (PyTorch's too)
    close(x.grad, torch.tensor([4.0, 8.0], dtype=torch.float64))


@pytest.mark.parametrize("transform", ["grad", "vjp", "jacrev", "jacfwd"])
def test_aux_that_depends_on_a_closure_keeps_its_graph_as_torch_func(transform):
    w = t64([2.0, 3.0], True)
    x = t64([1.0, 4.0])

    def f(v):
        return (v * v).sum() if transform == "grad" else v * v, (w * 2).sum()

    if transform == "vjp":
        aux = cr.vjp(f, x, has_aux=True)[2]
    else:
        aux = getattr(cr, transform)(f, has_aux=True)(x)[1]
    assert aux.requires_grad  # torch.func keeps it differentiable with respect to w
    aux.backward()
    close(w.grad, torch.tensor([2.0, 2.0], dtype=torch.float64))
    # an aux depending only on the transform's own input is plain, as before
    plain = cr.grad(lambda v: ((v * v).sum(), v * 3), has_aux=True)(x)[1]
    assert not plain.requires_grad
