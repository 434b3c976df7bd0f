"""Audit s11: Tensor methods and cr.* functions against PyTorch 2.13 (values, gradients,
dtypes, shapes and errors of the same call)."""

from __future__ import annotations

import itertools
import operator

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.data


def _same(a, b):
    x, y = _np(a), _np(b)
    assert x.shape == y.shape and x.dtype == y.dtype, (x.shape, x.dtype, y.shape, y.dtype)
    np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-6)


# --------------------------------------------------------------------------- % and //

@pytest.mark.parametrize("make", [
    lambda lib: lib.tensor([5, -7, 3]) % 2.5,
    lambda lib: 7.5 % lib.tensor([5, -7, 3]),
    lambda lib: lib.tensor([5, -7, 3]) % lib.tensor([1.5, -2.0, 2.0]),
    lambda lib: lib.tensor([5, -7, 3], dtype=lib.int32) % lib.tensor([1.5]),
    lambda lib: lib.tensor([5.0, -7.0], dtype=lib.float64) % lib.tensor([2]),
    lambda lib: lib.tensor([5, -7, 3]) % 2,
    lambda lib: lib.tensor([5, -7, 3]) // 2,
    lambda lib: -7 // lib.tensor([2, -2]),
])
def test_remainder_and_floor_division_dtypes_match_torch(make):
    # an int tensor % a Python float (or a float32 tensor) was float64 (NumPy's promotion)
    _same(make(cr), make(torch))


@pytest.mark.parametrize("make", [
    lambda lib: lib.tensor([5, 6]) // 0,
    lambda lib: lib.tensor([5, 6]) % 0,
    lambda lib: lib.tensor([5, 6]) % lib.tensor([1, 0]),
    lambda lib: 3 % lib.tensor([1, 0]),
])
def test_integer_division_by_zero_is_an_error_as_in_torch(make):
    # NumPy gives 0 with a warning; PyTorch raises
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        make(torch)
    with pytest.raises(cr.OpError, match="integer division by zero"):
        make(cr)


@pytest.mark.parametrize("mode", ["floor", "trunc"])
def test_div_with_rounding_mode_has_a_zero_gradient_as_torch(mode):
    # the result did not require grad, so backward through it alone failed
    out = {}
    for lib in (cr, torch):
        x = lib.tensor([1.5, -2.5, 4.0], dtype=lib.float64, requires_grad=True)
        d = lib.tensor([0.7, -0.7, 2.0], dtype=lib.float64, requires_grad=True)
        y = x.div(d, rounding_mode=mode)
        assert y.requires_grad
        y.sum().backward()
        out[lib] = (y, x.grad, d.grad)
    for a, b in zip(out[cr], out[torch]):
        _same(a, b)


# --------------------------------------------------------------------------- all / any

@pytest.mark.parametrize("name", ["all", "any"])
@pytest.mark.parametrize("dim", [0, -1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_all_any_of_a_0d_tensor_along_its_dim(name, dim, keepdim):
    # raised NumPy's AxisError
    for value in (0.0, 2.5):
        a = getattr(cr.tensor(value), name)(dim, keepdim=keepdim)
        b = getattr(torch.tensor(value), name)(dim, keepdim=keepdim)
        _same(a, b)


# --------------------------------------------------------------------------- indexing

_X = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
_ELEMS = [1, -1, slice(None), slice(1, None), None, np.array([0, 1]), np.array([[1], [0]]),
          np.array([True, False]), "0d"]


def _key(lib, key):
    return tuple(lib.tensor(1) if isinstance(k, str) else lib.tensor(k)
                 if isinstance(k, np.ndarray) else k for k in key)


def _mixed_keys():
    for n in (2, 3):
        for key in itertools.product(_ELEMS, repeat=n):
            ints = any(isinstance(k, (int, str)) for k in key)
            arrays = any(isinstance(k, np.ndarray) and k.dtype != bool for k in key)
            if ints and arrays:
                yield key
    yield (slice(None), 1, slice(None), np.array([0, 2]))
    yield (1, None, slice(None), np.array([[0], [1]]), slice(None))
    yield (np.array([0, 1]), slice(None), -1, np.array([1, 0]))


def _index_both_ways(lib, key):
    x = lib.tensor(_X, requires_grad=True)
    y = x[_key(lib, key)]
    (y * y).sum().backward()
    base = lib.tensor(_X, requires_grad=True)
    t = base * 1
    v = lib.tensor(np.arange(y.numel(), dtype=np.float64).reshape(tuple(y.shape)),
                   requires_grad=True)
    t[_key(lib, key)] = v
    (t * t).sum().backward()
    return [y, x.grad, t, v.grad, base.grad]


def test_integers_mixed_with_index_arrays_place_dims_as_torch():
    # NumPy counts integers as index arrays: x[1, :, idx] of a (2, 3, 4) tensor had NumPy's
    # shape (2, 3), PyTorch's is (3, 2); setitem wanted values of the NumPy shape
    x = np.arange(24.0).reshape(2, 3, 4)
    for lib in (cr, torch):
        assert tuple(lib.tensor(x)[1, :, lib.tensor([0, 3])].shape) == (3, 2)
    checked = 0
    for key in _mixed_keys():
        try:
            expected = _index_both_ways(torch, key)
        except (IndexError, RuntimeError):
            with pytest.raises((IndexError, ValueError, RuntimeError)):
                _index_both_ways(cr, key)
            continue
        for a, b in zip(_index_both_ways(cr, key), expected):
            _same(a, b)
        checked += 1
    assert checked > 100


def test_setitem_with_integers_and_index_arrays_keeps_version_and_leaf_checks():
    x = cr.zeros(2, 3, 4)
    x[1, :, [0, 3]] = cr.tensor([[1.0, 2.0]] * 3)
    t = torch.zeros(2, 3, 4)
    t[1, :, [0, 3]] = torch.tensor([[1.0, 2.0]] * 3)
    _same(x, t)
    assert x._version == 1
    w = cr.zeros(2, 3, 4, requires_grad=True)
    with pytest.raises(cr.ChainruleError, match="leaf"):
        w[1, :, [0, 3]] = 1.0
    with cr.no_grad():
        w[1, :, [0, 3]] = 5.0
    assert w.data[1, :, [0, 3]].tolist() == [[5.0] * 3] * 2


# --------------------------------------------------------------------------- functions

def test_equal_is_a_python_bool_as_torch():
    # cr.equal was an alias of eq (elementwise)
    pairs = [([1, 2], [1, 2]), ([1, 2], [1, 3]), ([1, 2], [1]), ([[1.0, 2.0]], [1.0, 2.0]),
             ([float("nan")], [float("nan")]), ([1], [1.0])]
    for a, b in pairs:
        got = cr.equal(cr.tensor(a), cr.tensor(b))
        assert type(got) is bool and got == torch.equal(torch.tensor(a), torch.tensor(b))


def test_cat_skips_one_dim_empty_tensors_as_torch():
    out = {}
    for lib in (cr, torch):
        x = lib.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        y = lib.cat([x, lib.tensor([], dtype=lib.float64), x[:1] * 2])
        y.sum().backward()
        out[lib] = (y, x.grad)
    for a, b in zip(out[cr], out[torch]):
        _same(a, b)
    _same(cr.cat([cr.tensor([]), cr.tensor([])]), torch.cat([torch.tensor([]), torch.tensor([])]))


@pytest.mark.parametrize("args", [(2, 1, 1), ((2, 1),), (2,), ([3, 2],)])
def test_tile_takes_sizes_as_arguments_or_a_sequence(args):
    out = {}
    for lib in (cr, torch):
        x = lib.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        y = x.tile(*args)
        (y * y).sum().backward()
        out[lib] = (y, x.grad)
    for a, b in zip(out[cr], out[torch]):
        _same(a, b)


@pytest.mark.parametrize("name", ["zeros", "ones"])
def test_factories_take_size_as_a_keyword(name):
    for size in ((2, 3), [4], ()):
        _same(getattr(cr, name)(size=size), getattr(torch, name)(size=size))
    with pytest.raises(TypeError, match="not both"):
        getattr(cr, name)(2, size=3)
    assert cr.empty(size=(2, 1)).shape == tuple(torch.empty(size=(2, 1)).shape)


def test_numpy_functions_without_a_float_result_work_on_tensors_requiring_grad():
    # np.argmax, np.size, np.allclose give indices, counts, bools: no gradient to lose
    t = cr.tensor([1.0, -2.0, 3.0], requires_grad=True)
    assert np.argmax(t) == 2 and np.size(t) == 3 and np.allclose(t, t)
    assert np.count_nonzero(t) == 3
    s = np.sort(t)  # cr.sort's values, with their gradient
    assert s.requires_grad and s.tolist() == [-2.0, 1.0, 3.0]
    assert np.sort(cr.tensor([[3.0, 1.0], [0.0, 2.0]]), axis=None).tolist() == [0, 1, 2, 3]
    with pytest.raises(TypeError, match="np.cbrt has no derivative"):
        np.cbrt(t)
    assert np.fmod(t, 2.0).requires_grad  # (cr.fmod since it exists)
    q = np.floor_divide(t, 2)  # the tensor's // (a zero gradient), as np.remainder is its %
    assert q.requires_grad and q.tolist() == (t // 2).tolist()


def test_forward_mode_sees_writes_through_views_and_mixed_keys():
    """jvp/jacfwd of a function assigning through a view (or a key mixing integers with
    index arrays, which is written through a view) agree with torch.func."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x0, t0 = rng.standard_normal((2, 3, 4)), rng.standard_normal((2, 3, 4))

    def mixed_key(x):
        y = x * 1
        y[1, :, [0, 2]] = x[0, :, [1, 3]] * 2
        return y

    def through_view(x):
        y = x * 1
        v = y[1]
        v[:, 1:3] = x[0, :, :2] ** 2
        return y

    for f in (mixed_key, through_view):
        got = cr.jvp(f, (cr.tensor(x0),), (cr.tensor(t0),))[1].numpy()
        want = torch.func.jvp(f, (torch.tensor(x0),), (torch.tensor(t0),))[1].numpy()
        np.testing.assert_allclose(got, want, rtol=1e-12)
        loss = lambda x, f=f: (f(x) ** 3).sum()  # noqa: E731
        np.testing.assert_allclose(cr.jacfwd(loss)(cr.tensor(x0)).numpy(),
                                   torch.func.jacfwd(loss)(torch.tensor(x0)).numpy(),
                                   rtol=1e-12)


@pytest.mark.parametrize("requires_grad", [False, True])
def test_float_floor_division_and_remainder_are_torchs_to_the_bit(requires_grad):
    """1.0 // 0.1 is 9 and 1.0 % 0.1 is 0.0999… (floor(1.0 / 0.1) would be 10), with or
    without a gradient; the remainder's gradients are 1 and -⌊a/b⌋."""
    torch = pytest.importorskip("torch")
    for values, divisor in [([1.0, -1.0, 0.3, 5.5, -7.25], 0.1), ([1.0, 0.3, -7.25], -0.1)]:
        for dtype in ("float32", "float64"):
            a = np.array(values, dtype)
            c = cr.tensor(a, requires_grad=requires_grad)
            t = torch.tensor(a, requires_grad=requires_grad)
            for op in (operator.floordiv, operator.mod):
                got, want = op(c, divisor), op(t, divisor)
                assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
                np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    x, y = np.array([1.3, 2.7, -0.4]), np.array([0.5, -0.6, 0.7])
    cx, cy = cr.tensor(x, requires_grad=True), cr.tensor(y, requires_grad=True)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    ((cx % cy) ** 2).sum().backward()
    ((tx % ty) ** 2).sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(cy.grad.numpy(), ty.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("op, name", [(operator.floordiv, "div"), (operator.mod, "remainder")])
def test_integer_floor_division_and_remainder_explain_an_out_of_range_number(op, name):
    with pytest.raises(cr.OpError, match=rf"^{name}: Python integer -2 out of bounds for uint8; "
                                         "convert the tensor to a wider dtype"):
        op(cr.tensor([1], dtype=cr.uint8), -2)


def test_cat_promotes_with_the_skipped_empty_tensors_dtype_as_torch():
    torch = pytest.importorskip("torch")
    for a, b in [(np.array([], np.float32), np.array([[1, 2]])),
                 (np.array([], np.float64), np.array([[1.0, 2.0]], np.float32)),
                 (np.array([1, 2]), np.array([], np.float32)),
                 (np.array([], np.int8), np.array([[1]], np.int16))]:
        got = cr.cat([cr.tensor(a), cr.tensor(b)])
        want = torch.cat([torch.from_numpy(a), torch.from_numpy(b)])
        assert str(got.dtype) == str(want.dtype).removeprefix("torch."), (a.dtype, b.dtype)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_remainder_as_a_function_and_a_method_as_torch():
    torch = pytest.importorskip("torch")
    for a, b in [([5.0, -5.0, 1.0], 3.0), ([5, -5, 7], -3)]:
        want = torch.remainder(torch.tensor(a), b)
        for got in (cr.remainder(cr.tensor(a), b), cr.tensor(a).remainder(b)):
            assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
            np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_a_numpy_array_on_the_left_of_mod_and_floordiv_goes_through_chainrule():
    """np.ndarray.__mod__ reaches the tensor's __array_ufunc__, not __rmod__: it must give
    what the tensor operator gives (PyTorch's dtype, the zero-division error, a gradient)."""
    torch = pytest.importorskip("torch")
    got = np.array([5, 6, 7]) % cr.tensor([2.5, 2.5, -2.0])
    want = torch.tensor([5, 6, 7]) % torch.tensor([2.5, 2.5, -2.0])
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(cr.OpError, match="remainder: integer division by zero"):
        np.array([1, 2]) % cr.tensor([0, 1])
    x = cr.tensor([2.0, 1.0], requires_grad=True)
    q = np.array([7.0, 2.0], dtype=np.float32) // x
    assert q.requires_grad and q.tolist() == [3.0, 2.0]
