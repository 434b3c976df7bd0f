"""Bad input gets a clear error that names the problem, never a deep NumPy traceback."""

import numpy as np
import pytest

import chainrule as cr


def _short(excinfo):
    """The error was raised from chainrule, not from deep inside NumPy."""
    tb = excinfo.traceback[-1]
    assert "numpy" not in str(tb.path), str(tb.path)
    return str(excinfo.value)


def test_shapes_that_do_not_broadcast():
    a, b = cr.ones(3), cr.ones(4)
    with pytest.raises(ValueError) as info:
        a + b
    msg = _short(info)
    assert "add" in msg and "(3,)" in msg and "(4,)" in msg and "broadcast" in msg
    with pytest.raises(ValueError) as info:
        cr.ones(2, 3) * cr.ones(3, 2)
    msg = _short(info)
    assert "mul" in msg and "(2, 3)" in msg and "(3, 2)" in msg


def test_matmul_shape_mismatch():
    with pytest.raises(ValueError) as info:
        cr.ones(3, 2) @ cr.ones(3, 2)
    msg = _short(info)
    assert "matmul" in msg and "(3, 2)" in msg


def test_broadcast_error_in_backward_graph_building_is_the_same_error():
    x = cr.ones(3, requires_grad=True)
    with pytest.raises(cr.OpError, match="sub.*(3,).*(2,)"):
        x - cr.ones(2)


def test_backward_on_non_scalar_without_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.ChainruleError) as info:
        (x * 2).backward()
    msg = str(info.value)
    assert "scalar" in msg and "(2,)" in msg and "gradient" in msg


def test_backward_gradient_of_wrong_shape():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(cr.ChainruleError, match=r"shape \(3,\).*\(2,\)"):
        (x * 2).backward(gradient=cr.ones(3))


def test_backward_on_tensor_without_grad():
    with pytest.raises(cr.ChainruleError, match="does not require grad"):
        cr.tensor([1.0]).sum().backward()


@pytest.mark.parametrize("make", [
    lambda: cr.tensor([1, 2], requires_grad=True),
    lambda: cr.tensor([True], requires_grad=True),
    lambda: cr.tensor([1, 2]).requires_grad_(),
    lambda: cr.zeros(2, dtype=cr.int64, requires_grad=True),
    lambda: cr.arange(3, requires_grad=True),
])
def test_requires_grad_on_integer_tensor(make):
    with pytest.raises(TypeError) as info:
        make()
    msg = str(info.value)
    assert "floating point" in msg and ("int" in msg or "bool" in msg)


@pytest.mark.parametrize("call, name", [
    (lambda t: t.sum(dim=3), "sum"), (lambda t: t.mean(dim=-4), "mean"),
    (lambda t: cr.softmax(t, dim=2), "softmax"), (lambda t: t.unsqueeze(4), "unsqueeze"),
    (lambda t: t.squeeze(5), "squeeze"), (lambda t: cr.cat([t, t], dim=2), "cat"),
    (lambda t: t.amax(dim=2), "amax"),
])
def test_out_of_range_dim(call, name):
    t = cr.ones(2, 3)
    with pytest.raises(IndexError) as info:
        call(t)
    msg = _short(info)
    assert name in msg and "out of range" in msg and "dim" in msg


@pytest.mark.parametrize("dtype", ["complex128", "floot32", "float128", np.complex64, "str"])
def test_unknown_dtype(dtype):
    with pytest.raises(TypeError) as info:
        cr.tensor(1, dtype=dtype)
    msg = str(info.value)
    assert "dtype" in msg and (repr(dtype) in msg or str(dtype) in msg)
    assert "cr.float32" in msg  # says what to use instead


def test_unknown_dtype_elsewhere():
    with pytest.raises(TypeError, match="unknown dtype"):
        cr.zeros(2, dtype="floot32")
    with pytest.raises(TypeError, match="unknown dtype"):
        cr.ones(2).to("complex64")
    with pytest.raises(TypeError, match="unsupported|unknown"):
        cr.tensor(np.array([1 + 2j]))


def test_backward_twice():
    x = cr.tensor(2.0, requires_grad=True)
    y = cr.sin(x) * x
    y.backward()
    with pytest.raises(cr.ChainruleError) as info:
        y.backward()
    msg = str(info.value)
    assert "retain_graph=True" in msg and "second time" in msg


def test_inplace_modification_message():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = cr.exp(x)
    z = y.sum()
    y.add_(1)
    with pytest.raises(cr.ChainruleError) as info:
        z.backward()
    msg = str(info.value)
    assert "exp" in msg and "in-place" in msg and "version" in msg and "clone()" in msg


def test_inplace_on_leaf_message():
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(cr.ChainruleError) as info:
        w.mul_(2)
    assert "leaf" in str(info.value) and "no_grad" in str(info.value)


def test_ragged_data():
    with pytest.raises(ValueError, match="tensor"):
        cr.tensor([[1.0, 2.0], [3.0]])


def test_item_of_many_elements():
    with pytest.raises(ValueError, match=r"one-element.*\(3,\)"):
        cr.ones(3).item()


def test_reshape_to_wrong_size():
    with pytest.raises(ValueError) as info:
        cr.ones(2, 3).reshape(4, 2)
    msg = _short(info)
    assert "reshape" in msg and "(2, 3)" in msg


def test_index_out_of_range():
    with pytest.raises(IndexError) as info:
        cr.ones(3)[5]
    assert "5" in _short(info)


def test_transform_errors():
    with pytest.raises(cr.ChainruleError, match="scalar.*jacrev"):
        cr.grad(lambda x: x * 2)(cr.ones(3))
    with pytest.raises(TypeError, match="floating point"):
        cr.grad(lambda x: x * 2)(cr.tensor([1, 2]))
    with pytest.raises(ValueError, match="primals.*tangents"):
        cr.jvp(lambda x: x, (cr.ones(2),), ())


@pytest.mark.parametrize("make", [lambda: cr.tensor([1], dtype=cr.uint8) + (-3),
                                  lambda: 300 * cr.tensor([1], dtype=cr.uint8),
                                  lambda: cr.tensor([1], dtype=cr.int8) - 1000,
                                  lambda: cr.tensor([1], dtype=cr.int32) * 2 ** 40])
def test_a_python_int_outside_an_integer_tensors_range_is_a_clear_error(make):
    """NumPy raises a bare OverflowError (PyTorch wraps around silently): the error names the
    op and the shapes and says what to do."""
    with pytest.raises(cr.OpError, match=r"^(add|mul|sub): Python integer -?\d+ out of bounds "
                                         r"for u?int\d+ \(input shapes .*\); convert the "
                                         r"tensor to a wider dtype"):
        make()
