"""Audit of the engine's semantics against PyTorch: in-place operations whose operands share
memory with the tensor they overwrite, in-place changes through views whose base changed,
``detach_``, ``retains_grad``, the checks of ``.grad`` and of ``backward``'s arguments."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def _grads(build, *arrays):
    """``build(module, *leaves)`` returns a scalar loss: the leaves' gradients in chainrule and
    in torch (float64), to compare."""
    out = []
    for m in (cr, torch):
        leaves = [m.tensor(np.asarray(a, dtype=np.float64), requires_grad=True) for a in arrays]
        build(m, *leaves).backward()
        out.append([np.asarray(x.grad.detach().numpy() if m is torch else x.grad.numpy())
                    for x in leaves])
    return out


# ------------------------------------------------------------ in-place ops reading themselves

def test_mul_by_itself_in_place_gives_the_true_gradient():
    # y = 2x; y *= y (4x²): d/dx = 8x. The values the mul reads were overwritten before.
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.mul_(y)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 16.0, 24.0])


def test_div_by_itself_in_place_has_zero_gradient():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.div_(y)
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), [1.0, 1.0, 1.0])
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.0, 0.0])


def test_pow_by_itself_in_place():
    x = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    y = x * 2
    y.pow_(y)
    y.sum().backward()
    v = 2 * np.array([1.0, 2.0])
    np.testing.assert_allclose(x.grad.numpy(), 2 * v ** v * (np.log(v) + 1))


def test_mul_by_a_flipped_view_of_itself_matches_torch():
    # flip gives a NumPy view with negative strides: its values are overwritten by mul_
    def build(m, x):
        y = x * 1
        y.mul_(y.flip(0))
        return y.sum()

    (mine,), (theirs,) = _grads(build, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(mine, theirs)
    np.testing.assert_allclose(mine, [6.0, 4.0, 2.0])


def test_mul_by_its_own_transpose_in_place():
    # (PyTorch refuses the overlap; the true gradient of sum(x * x.T) is x + x.T, doubled)
    x = cr.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x * 1
    y.mul_(y.T)
    y.sum().backward()
    a = np.array([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(x.grad.numpy(), 2 * a.T)


def test_view_mul_by_an_overlapping_view_of_the_same_base():
    x = cr.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x * 1
    y[1:3].mul_(y[0:2])  # y = [x0, x1 x0, x2 x1, x3]
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), [1.0, 2.0, 6.0, 4.0])
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0, 2.0, 1.0])


def test_mul_by_itself_in_place_second_derivative():
    x = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64, requires_grad=True)
    y = x * 2
    y.mul_(y)
    (g,) = cr.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [8.0, 16.0, 24.0])
    (h,) = cr.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(h.numpy(), [8.0, 8.0, 8.0])


# ------------------------------------------------------------ views whose base changed

def test_in_place_on_a_view_after_its_base_changed_in_place_matches_torch():
    w = [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]

    def build(m, x):
        y = x * 1
        v = y[0]
        y.mul_(2)  # v's recorded history is now out of date
        v.add_(1)
        return (y * y).sum()

    (mine,), (theirs,) = _grads(build, w)
    np.testing.assert_allclose(mine, theirs)


def test_in_place_on_a_view_of_a_plain_tensor_that_took_a_history():
    x = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    z = cr.zeros(2, 3)
    v = z[0]  # taken while z needs no gradient
    z.copy_(x)
    v.mul_(10)
    (z * z).sum().backward()
    a = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    np.testing.assert_allclose(z.detach().numpy(), a * [[10.0], [1.0]])
    np.testing.assert_allclose(x.grad.numpy(), 2 * a * [[100.0], [1.0]])


# ------------------------------------------------------------ detach_, retains_grad, .grad

def test_detach_in_place_of_a_view_is_an_error_as_in_torch():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    v = y[:1]
    with pytest.raises(cr.ChainruleError, match=r"detach_.*view.*detach\(\)"):
        v.detach_()


def test_detach_in_place_of_a_non_view():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert y.detach_() is y
    assert y.is_leaf and not y.requires_grad


def test_retains_grad():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    assert not x.retains_grad and not y.retains_grad
    y.retain_grad()
    assert y.retains_grad
    (y * y).sum().backward()
    np.testing.assert_allclose(y.grad.numpy(), [4.0, 8.0])


def test_reading_grad_of_a_non_leaf_warns_as_torch():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.sum().backward()
    with pytest.warns(UserWarning, match="not a leaf.*retain_grad"):
        assert y.grad is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.grad is not None  # a leaf: no warning
        z = x * 3
        z.retain_grad()
        assert z.grad is None  # retained: no warning


def test_backward_with_inputs_does_not_warn_for_a_non_leaf_input():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (y * y).sum().backward(inputs=[y])
    np.testing.assert_allclose(y._grad.numpy(), [4.0, 8.0])


def test_assigning_a_grad_of_the_wrong_shape_is_an_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.ChainruleError, match=r"shape \(3,\).*shape \(2,\)"):
        x.grad = cr.ones(3)
    with pytest.raises(cr.ChainruleError, match=r"shape \(1,\)"):
        x.grad = cr.ones(1)  # (would have broadcast at the next accumulation)
    assert x.grad is None
    x.grad = cr.ones(2)
    (x * 2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 3.0])
    x.grad = None
    assert x.grad is None


def test_assigning_a_non_tensor_grad_is_a_type_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="grad: expected a tensor or None, got list"):
        x.grad = [1.0, 2.0]
    with pytest.raises(TypeError, match="ndarray"):
        x.grad = np.ones(2, dtype=np.float32)


# ------------------------------------------------------------ backward's arguments

def test_backward_with_empty_inputs_is_an_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.ChainruleError, match="inputs= is empty"):
        (x * x).sum().backward(inputs=[])


def test_backward_with_an_input_not_requiring_grad_is_an_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    w = cr.tensor([1.0, 2.0])
    with pytest.raises(cr.ChainruleError, match=r"inputs\[1\].*does not require grad"):
        (x * w).sum().backward(inputs=[x, w])
    with pytest.raises(TypeError, match=r"inputs\[0\] is a str"):
        (x * w).sum().backward(inputs=["x"])


def test_backward_with_a_non_numeric_gradient_is_a_type_error():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="backward: gradient must be a tensor.*got str"):
        (x * 2).backward("ab")
    with pytest.raises(TypeError, match="got list"):
        (x * 2).backward([[1.0], [1.0, 2.0]])


def test_backward_still_takes_arrays_lists_and_numbers_as_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * 2).backward(np.ones(2))
    (x * 2).backward([1.0, 1.0])
    (x * 2).sum().backward(2.0)
    np.testing.assert_allclose(x.grad.numpy(), [8.0, 8.0])


# ------------------------------------------------------------ fill_ and copy_ errors

def test_fill_with_a_tensor_of_several_elements_names_fill():
    y = cr.tensor([1.0, 2.0, 3.0], requires_grad=True) * 1
    with pytest.raises(ValueError, match=r"fill_: .*one-element.*shape \(2,\)"):
        y.fill_(cr.tensor([5.0, 6.0]))
    y.fill_(cr.tensor([5.0]))
    np.testing.assert_allclose(y.detach().numpy(), [5.0, 5.0, 5.0])


def test_copy_from_a_source_that_does_not_broadcast_names_copy():
    y = cr.zeros(3)
    with pytest.raises(ValueError, match=r"copy_: .*shape \(2,\).*shape \(3,\)"):
        y.copy_(cr.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"copy_: .*shape \(2, 3\)"):
        y.copy_(cr.ones(2, 3))
    y.copy_(cr.tensor([7.0]))
    np.testing.assert_allclose(y.numpy(), [7.0, 7.0, 7.0])


# ------------------------------------------------------------ dtype of gradients

def _mixed(x):
    """A float32 tensor meeting a float64 one: the gradient reaching x arrives in float64."""
    return x * cr.tensor([1.0, 2.0], dtype=cr.float64)


def test_autograd_grad_of_a_float32_input_is_float32_as_torch():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (g,) = cr.autograd.grad(_mixed(x).sum(), x)
    assert g.dtype == np.float32
    np.testing.assert_allclose(g.numpy(), [1.0, 2.0])


def test_create_graph_grad_of_a_float32_leaf_is_float32():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (_mixed(x) ** 2).sum().backward(create_graph=True)
    assert x.grad.dtype == np.float32 and x.grad.requires_grad
    np.testing.assert_allclose(x.grad.detach().numpy(), [2.0, 16.0])


def test_backward_with_inputs_gives_float32_grads():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    _mixed(x).sum().backward(inputs=[x])
    assert x.grad.dtype == np.float32


def test_hooks_and_retained_grads_see_their_tensor_dtype():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.retain_grad()
    seen = []
    x.register_hook(lambda g: seen.append(g.dtype))
    y.register_hook(lambda g: seen.append(g.dtype))
    _mixed(y).sum().backward()
    assert seen == [np.float32, np.float32]
    assert y.grad.dtype == np.float32 and x.grad.dtype == np.float32


def test_retained_grad_after_an_in_place_op_keeps_the_dtype():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.retain_grad()
    y.mul_(2)
    _mixed(y).sum().backward()
    assert y.grad.dtype == np.float32
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 2.0])


# ------------------------------------------------------------ deepcopy

def test_deepcopy_of_a_state_dict_as_torch():
    import copy

    model = cr.nn.Linear(2, 3)
    saved = copy.deepcopy(model.state_dict())
    with cr.no_grad():
        model.weight.add_(1)
    assert not np.allclose(saved["weight"].numpy(), model.weight.detach().numpy())
    model.load_state_dict(saved)
    np.testing.assert_allclose(model.weight.detach().numpy(), saved["weight"].numpy())


def test_deepcopy_of_a_leaf_keeps_grad_and_requires_grad():
    import copy

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()
    twin, same = copy.deepcopy([x, x])
    assert twin is same and twin is not x
    assert twin.requires_grad and twin.is_leaf
    np.testing.assert_allclose(twin.grad.numpy(), [2.0, 4.0])
    assert not np.shares_memory(twin.data, x.data)
    assert not np.shares_memory(twin.grad.data, x.grad.data)
    buffer = copy.deepcopy(cr.nn.Buffer(cr.zeros(2), persistent=False))
    assert isinstance(buffer, cr.nn.Buffer) and buffer.persistent is False


def test_deepcopy_of_a_non_leaf_is_an_error_as_torch():
    import copy

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.ChainruleError, match=r"deepcopy: only leaf.*'mul'.*detach\(\)"):
        copy.deepcopy(x * 2)


def test_retain_grad_of_a_view_survives_an_in_place_change_of_its_base():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    v = y[:2]
    v.retain_grad()
    y.mul_(2)  # v's history is made again from y's when v is next used
    (v * 3).sum().backward()
    assert v.retains_grad
    np.testing.assert_allclose(v.grad.numpy(), [3.0, 3.0])
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0, 0.0])
