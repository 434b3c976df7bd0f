"""gradcheck / gradgradcheck: they pass right derivatives and catch wrong ones, saying where."""

import re

import numpy as np
import pytest

import chainrule as cr


def t64(v, requires_grad=True):
    return cr.tensor(v, dtype=cr.float64, requires_grad=requires_grad)


# --------------------------------------------------------------------------- right derivatives

@pytest.mark.parametrize("f, inputs", [
    (lambda x: (cr.sin(x) * x).sum(), [t64([0.5, 1.5, -0.3])]),
    (lambda x: cr.tanh(x) @ x.T, [t64(np.arange(6.0).reshape(2, 3) / 5)]),
    (lambda a, b: a * cr.exp(b), [t64([0.5, 1.5]), t64([[0.1], [-0.2]])]),
    (lambda a, b: (a / b, a.sum() * b), [t64([0.5, 1.5]), t64([2.0, 3.0])]),
    (lambda x: x[1:] ** 3, [t64([1.0, 2.0, 3.0])]),
])
def test_right_derivatives_pass(f, inputs):
    assert cr.gradcheck(f, inputs) is True
    assert cr.gradgradcheck(f, inputs) is True


def test_checks_in_float64_even_for_float32_inputs():
    x = cr.tensor([0.5, 1.5, 2.5], requires_grad=True)
    assert cr.gradcheck(lambda v: cr.exp(v) * v, (x,))
    assert x.dtype == cr.float32 and x.grad is None  # the inputs are left alone


def test_non_contiguous_inputs():
    x = t64(np.arange(6.0).reshape(2, 3) / 5, False).T
    x.requires_grad_()
    assert cr.gradcheck(lambda a: cr.sin(a) * a, (x,))
    assert cr.gradgradcheck(lambda a: cr.sin(a) * a, (x,))


def test_a_single_tensor_or_a_list_of_inputs():
    x = t64([0.2, 0.4])
    assert cr.gradcheck(lambda v: v * v, x)
    assert cr.gradcheck(lambda v, w: v * w, [x, t64([1.0, 2.0])])


def test_inputs_without_grad_are_constants():
    x, c = t64([0.2, 0.4]), t64([1.0, 2.0], False)
    assert cr.gradcheck(lambda v, w: v * w * w, (x, c))


def test_no_input_requiring_grad_is_an_error():
    with pytest.raises(ValueError, match="requires_grad"):
        cr.gradcheck(lambda v: v * 2, (t64([1.0], False),))


def test_check_grads_does_both_orders():
    assert cr.check_grads(lambda v: cr.sin(v) ** 2, (t64([0.3, 0.9]),), order=2)


# --------------------------------------------------------------------------- wrong derivatives

def _wrong_square():
    @cr.custom_op
    def square(x):
        return x ** 2

    @square.defvjp
    def _(g, ans, x):
        bump = np.ones(x.shape)
        bump[(1, 2)] = 1.1  # wrong at element (1, 2) only
        return g * 2 * x * cr.tensor(bump)

    return square


def test_wrong_vjp_raises_naming_input_element_and_values():
    square = _wrong_square()
    x = t64(np.arange(1.0, 7.0).reshape(2, 3))
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradcheck(square, (x,))
    msg = str(info.value)
    assert "input 0" in msg
    assert "element (1, 2)" in msg
    m = re.search(r"analytic ([-\d.e]+), numerical ([-\d.e]+)", msg)
    assert m, msg
    analytic, numerical = float(m.group(1)), float(m.group(2))
    assert analytic == pytest.approx(2 * 6.0 * 1.1)
    assert numerical == pytest.approx(2 * 6.0, rel=1e-6)


def test_names_the_second_input():
    @cr.custom_op
    def mul(a, b):
        return a * b

    mul.defvjp(lambda g, ans, a, b: (g * b, g * a * 2))  # wrong for b
    with pytest.raises(cr.GradcheckError, match="input 1"):
        cr.gradcheck(mul, (t64([1.0, 2.0]), t64([3.0, 4.0])))


def test_reports_the_worst_element():
    @cr.custom_op
    def ident(x):
        return x * 1.0

    ident.defvjp(lambda g, ans, x: g * cr.tensor([1.01, 1.0, 1.5, 1.2]))
    with pytest.raises(cr.GradcheckError, match=r"element \(2,\)"):
        cr.gradcheck(ident, (t64([1.0, 2.0, 3.0, 4.0]),))


def test_raise_exception_false_returns_false():
    square = _wrong_square()
    assert cr.gradcheck(square, (t64(np.ones((2, 3))),), raise_exception=False) is False


def test_gradcheck_error_is_an_assertion_error():
    assert issubclass(cr.GradcheckError, AssertionError)


def test_tolerances_are_used():
    @cr.custom_op
    def slightly_off(x):
        return x * 1.0

    slightly_off.defvjp(lambda g, ans, x: g * 1.0005)
    x = t64([1.0, 2.0])
    with pytest.raises(cr.GradcheckError):
        cr.gradcheck(slightly_off, (x,), rtol=1e-4, atol=1e-8)
    assert cr.gradcheck(slightly_off, (x,), rtol=1e-2, atol=1e-8)


def test_gradgradcheck_catches_a_vjp_that_is_not_differentiable():
    """Right at first order, but written with .detach(): its own derivative is lost."""
    @cr.custom_op
    def sin_(x):
        return np.sin(x)

    @sin_.defvjp
    def _(g, ans, x):
        return g * cr.cos(x.detach())

    x = t64([0.3, 1.2, -0.7])
    assert cr.gradcheck(sin_, (x,))
    with pytest.raises(cr.GradcheckError) as info:
        cr.gradgradcheck(sin_, (x,))
    assert "input 0" in str(info.value)


def test_gradgradcheck_catches_a_wrong_second_derivative_rule():
    @cr.custom_op
    def cube(x):
        return x ** 3

    @cube.defvjp
    def _(g, ans, x):
        # 3x^2 written as 3 * |x| * x: right values, wrong derivative for x < 0... and here
        # deliberately 3 * x * stop(x), whose derivative is 3x instead of 6x
        return g * 3 * x * x.detach()

    x = t64([0.5, -1.5, 2.0])
    assert cr.gradcheck(cube, (x,))
    with pytest.raises(cr.GradcheckError):
        cr.gradgradcheck(cube, (x,))


def test_gradgradcheck_with_given_grad_outputs():
    x = t64([0.3, 1.2])
    assert cr.gradgradcheck(lambda v: cr.sin(v) * v, (x,), grad_outputs=[t64([1.0, -2.0], False)])
