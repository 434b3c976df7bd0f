"""Tensor hooks' results are checked, retained gradients accumulate, grad-mode decorators work
on generators, and a few Tensor conveniences behave as PyTorch's (each compared with torch)."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("leaf", [True, False])
def test_a_hook_may_not_change_the_gradient_shape(leaf):
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x if leaf else x * 2
    y.register_hook(lambda g: g.sum())
    with pytest.raises(cr.ChainruleError, match="changed the gradient's shape"):
        (y * y).sum().backward()


def test_a_hook_must_return_a_tensor_or_none():
    x = cr.tensor([1.0, 2.0], requires_grad=True)

    def to_float(g):
        return 1.0

    x.register_hook(to_float)
    with pytest.raises(TypeError, match="'to_float' returned a float"):
        (x * x).sum().backward()


def test_a_hook_replacing_the_gradient_still_works():
    x = cr.tensor([1.0, 2.0], requires_grad=True, dtype=cr.float64)
    y = x * 3
    y.register_hook(lambda g: g * 10)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [30.0, 30.0])


def test_retained_gradients_accumulate_across_backward_calls():
    def retained(lib, dtype):
        x = lib.tensor([1.0, 2.0], requires_grad=True, dtype=dtype)
        y = x * x
        y.retain_grad()
        z = (y * y).sum()
        z.backward(retain_graph=True)
        z.backward()
        return y.grad.numpy()

    got = retained(cr, cr.float64)
    np.testing.assert_allclose(got, 2 * np.array([2.0, 8.0]))  # twice dz/dy = 2y
    np.testing.assert_allclose(got, retained(torch, torch.float64))



def _grads_of_a_hooked_target(lib, inputs_of):
    x = lib.tensor([1.0, 2.0], requires_grad=True, dtype=lib.float64)
    y = x * 2
    y.register_hook(lambda g: g * 2)
    kept = x * 3
    kept.retain_grad()
    z = (y * y).sum() + (kept * kept).sum()
    grads = lib.autograd.grad(z, inputs_of(x, y, kept), retain_graph=True)
    return [g.tolist() for g in grads], None if kept.grad is None else kept.grad.tolist()


@pytest.mark.parametrize("inputs_of", [
    lambda x, y, kept: [y],  # no target behind y: its hook runs, the result is hooked
    lambda x, y, kept: [y, x, y],  # x lies behind y: y is captured before its hook
    lambda x, y, kept: [kept],  # retain_grad() sees the gradient of a target too
    lambda x, y, kept: [kept, x]])
def test_autograd_grad_runs_a_targets_hooks_and_retain_grad_as_pytorch(inputs_of):
    assert _grads_of_a_hooked_target(cr, inputs_of) == _grads_of_a_hooked_target(torch, inputs_of)


# (factories: calling set_grad_enabled(False) at collection would switch grad off at once)
@pytest.mark.parametrize("make", [lambda: cr.no_grad, cr.no_grad,
                                  lambda: cr.set_grad_enabled(False)])
def test_grad_mode_decorators_apply_inside_a_generator_only(make):
    x = cr.tensor([1.0], requires_grad=True)

    @make()
    def steps():
        for _ in range(2):
            got = yield (x * 2).requires_grad
            assert got == "sent"

    gen = steps()
    assert next(gen) is False          # the body runs without grad
    assert cr.is_grad_enabled()         # the caller's mode holds while it is suspended
    assert gen.send("sent") is False
    with pytest.raises(StopIteration):
        gen.send("sent")
    assert cr.is_grad_enabled()


def test_a_generator_decorated_with_enable_grad_records_inside_no_grad():
    x = cr.tensor([1.0], requires_grad=True)

    @cr.enable_grad
    def steps():
        yield (x * 2).requires_grad

    with cr.no_grad():
        assert list(steps()) == [True]


def test_t_transposes_matrices_only():
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(cr.tensor(a).t().numpy(), torch.tensor(a).t().numpy())
    np.testing.assert_array_equal(cr.tensor(a[0]).t().numpy(), torch.tensor(a[0]).t().numpy())
    with pytest.raises(ValueError, match="at most 2 dims"):
        cr.zeros(2, 3, 4).t()


def test_var_and_std_methods_take_positional_arguments_as_torch():
    a = np.random.default_rng(0).standard_normal((3, 4))
    for name in ("var", "std"):
        got = getattr(cr.tensor(a), name)(1, True).numpy()
        want = getattr(torch.tensor(a), name)(1, True).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12)


def test_numpy_var_keeps_numpys_axis_meaning():
    a = np.random.default_rng(1).standard_normal((3, 4))
    np.testing.assert_allclose(np.var(cr.tensor(a), axis=1), np.var(a, axis=1), rtol=1e-12)
    np.testing.assert_allclose(np.std(cr.tensor(a), axis=()), np.std(a, axis=()), atol=0)


def test_jvp_flows_through_dtype_casts():
    x = cr.tensor([1.0, 2.0], dtype=cr.float32)
    _, t = cr.jvp(lambda v: (v.double() * 3).float(), (x,), (cr.ones_like(x),))
    np.testing.assert_array_equal(t.numpy(), [3.0, 3.0])


def test_negative_seeds_are_remapped_as_in_torch():
    g = cr.Generator().manual_seed(-1)
    assert g.initial_seed() == torch.Generator().manual_seed(-1).initial_seed()
    with pytest.raises(ValueError, match="out of range"):
        cr.manual_seed(2 ** 64)


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "bool"])
@pytest.mark.parametrize("op", ["exp", "sqrt", "sin"])
def test_float_results_of_small_int_and_bool_tensors_take_the_default_dtype(dtype, op):
    a = np.array([1, 0, 1]).astype(dtype)  # NumPy gives float16 here, PyTorch float32
    got = getattr(cr, op)(cr.tensor(a))
    want = getattr(torch, op)(torch.tensor(a))
    assert got.dtype == cr.float32 and str(want.dtype) == "torch.float32"
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_float16_tensors_stay_float16():
    h = cr.tensor(np.array([1.0, 2.0], dtype=np.float16))
    assert cr.exp(h).dtype == np.float16 and (h * h).dtype == np.float16


def test_expand_and_flip_after_an_in_place_change_of_their_input_match_torch():
    def grads(lib):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        y = x * 3
        e, f = y.expand(3, 2), y.flip(0)
        y.mul_(2)
        (e * e).sum().backward(retain_graph=True)
        g_expand = x.grad.numpy().copy()
        x.grad = None
        (f * x).sum().backward()
        return g_expand, x.grad.numpy().copy(), f.detach().numpy().copy()

    for got, want in zip(grads(cr), grads(torch)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
