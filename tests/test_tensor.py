"""The Tensor: construction, dtypes and promotion, attributes, operators, NumPy interop, random."""

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


def close(a, b, tol=1e-6):
    a = a.numpy() if isinstance(a, cr.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.fixture
def default_float64():
    cr.set_default_dtype(cr.float64)
    try:
        yield
    finally:
        cr.set_default_dtype(cr.float32)


# --------------------------------------------------------------------------- construction

def test_tensor_copies_its_data():
    a = np.array([1.0, 2.0])
    t = cr.tensor(a)
    a[0] = 9
    assert t.tolist() == [1.0, 2.0]


def test_from_numpy_shares_memory_both_ways():
    a = np.arange(3.0)
    t = cr.from_numpy(a)
    a[0] = 9
    assert t[0].item() == 9
    t.numpy()[1] = 7
    assert a[1] == 7
    assert t.dtype == np.float64


def test_from_numpy_rejects_other_types():
    with pytest.raises(TypeError, match="NumPy array"):
        cr.from_numpy([1.0, 2.0])


@pytest.mark.parametrize("data, dtype", [
    (1.5, cr.float32), ([1.0, 2.0], cr.float32), ([1, 2.5], cr.float32), (3, cr.int64),
    ([1, 2], cr.int64), (True, cr.bool_), ([True, False], cr.bool_),
    (np.ones(2), cr.float64), (np.ones(2, dtype=np.float32), cr.float32),
    (np.ones(2, dtype=np.int32), cr.int32), (np.ones(2, dtype=np.float16), cr.float16),
    (np.float64(1.5), cr.float64), (np.int32(3), cr.int32),
])
def test_dtype_inferred_as_pytorch(data, dtype):
    assert cr.tensor(data).dtype == dtype


@pytest.mark.parametrize("data", [1.5, [1.0, 2.0], 3, [1, 2], True, np.ones(2),
                                  np.ones(2, dtype=np.int32), np.float64(1.5)])
def test_dtype_inference_matches_torch(data):
    assert str(cr.tensor(data).dtype) == str(torch.tensor(data).dtype).removeprefix("torch.")


def test_explicit_dtype_by_object_and_name():
    assert cr.tensor([1, 2], dtype=cr.float64).dtype == np.float64
    assert cr.tensor(1.0, dtype="float16").dtype == np.float16
    assert cr.tensor(1.0, dtype="torch.float64").dtype == np.float64
    assert cr.tensor(1.0, dtype=np.float64).dtype == np.float64
    assert cr.tensor(1.0, dtype=int).dtype == np.int64
    assert cr.tensor([1.7], dtype=cr.int32).tolist() == [1]


def test_default_dtype_can_be_changed(default_float64):
    assert cr.get_default_dtype() == cr.float64
    assert cr.tensor(1.5).dtype == cr.float64
    assert cr.zeros(2).dtype == cr.float64
    assert cr.rand(2).dtype == cr.float64
    assert (cr.tensor([1, 2]) * 0.5).dtype == cr.float64


def test_default_dtype_must_be_floating():
    with pytest.raises(TypeError, match="floating"):
        cr.set_default_dtype(cr.int64)
    assert cr.get_default_dtype() == cr.float32


def test_creation_functions():
    assert cr.zeros(2, 3).shape == (2, 3) and cr.zeros((2, 3)).shape == (2, 3)
    assert cr.zeros(2).dtype == cr.float32
    assert cr.ones(2, dtype=cr.int64).tolist() == [1, 1]
    assert cr.empty(4, 5).shape == (4, 5)
    assert cr.full((2,), 3.0).tolist() == [3.0, 3.0] and cr.full((2,), 3.0).dtype == cr.float32
    assert cr.full((2,), 3).dtype == cr.int64
    assert cr.full(2, True).dtype == cr.bool_
    t = cr.tensor([[1, 2]], dtype=cr.int32)
    assert cr.zeros_like(t).dtype == cr.int32 and cr.zeros_like(t).shape == (1, 2)
    assert cr.ones_like(t, dtype=cr.float64).dtype == cr.float64
    assert cr.full_like(t, 7).tolist() == [[7, 7]]
    assert cr.empty_like(t).shape == (1, 2)
    assert cr.arange(5).tolist() == [0, 1, 2, 3, 4] and cr.arange(5).dtype == cr.int64
    assert cr.arange(1, 7, 2).tolist() == [1, 3, 5]
    assert cr.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert cr.arange(5.0).dtype == cr.float32
    assert cr.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert cr.linspace(0, 1, 5).dtype == cr.float32
    close(cr.eye(3), np.eye(3))
    close(cr.eye(2, 3), np.eye(2, 3))
    x = cr.zeros(3, requires_grad=True)
    assert x.requires_grad and x.is_leaf


def test_creation_matches_torch():
    for ours, theirs in [
        (cr.arange(5), torch.arange(5)), (cr.arange(2, 9, 3), torch.arange(2, 9, 3)),
        (cr.arange(0.0, 1.0, 0.1), torch.arange(0.0, 1.0, 0.1)),
        (cr.linspace(-1, 1, 7), torch.linspace(-1, 1, 7)), (cr.eye(3, 2), torch.eye(3, 2)),
        (cr.full((2, 2), 1.5), torch.full((2, 2), 1.5)), (cr.full((2,), 4), torch.full((2,), 4)),
    ]:
        assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
        close(ours, theirs)


def test_arange_rejects_zero_step():
    with pytest.raises(ValueError, match="step"):
        cr.arange(0, 3, 0)


# --------------------------------------------------------------------------- random

def test_manual_seed_reproducible():
    cr.manual_seed(123)
    a = (cr.rand(3), cr.randn(2, 2), cr.randint(0, 10, (5,)))
    cr.manual_seed(123)
    b = (cr.rand(3), cr.randn(2, 2), cr.randint(0, 10, (5,)))
    for x, y in zip(a, b):
        assert x.tolist() == y.tolist()
    cr.manual_seed(124)
    assert cr.rand(3).tolist() != a[0].tolist()


def test_random_shapes_dtypes_and_ranges():
    cr.manual_seed(0)
    u = cr.rand(1000)
    assert u.dtype == cr.float32 and u.shape == (1000,)
    assert 0 <= u.numpy().min() and u.numpy().max() < 1
    n = cr.randn(2000, dtype=cr.float64)
    assert n.dtype == cr.float64 and abs(n.numpy().mean()) < 0.1 and abs(n.numpy().std() - 1) < 0.1
    i = cr.randint(3, 7, (4, 50))
    assert i.dtype == cr.int64 and i.shape == (4, 50)
    assert set(np.unique(i.numpy())) == {3, 4, 5, 6}
    j = cr.randint(10, (6,))  # randint(high, size), as PyTorch
    assert j.shape == (6,) and 0 <= j.numpy().min() and j.numpy().max() < 10
    assert cr.rand(2, 3, requires_grad=True).requires_grad
    assert cr.randn((2, 3)).shape == (2, 3)


def test_random_zero_dim_shapes_and_float_only_dtypes():
    # () is a shape, as in PyTorch: a 0-d tensor, not one of shape (1,)
    for t in (cr.rand(()), cr.randn(()), cr.normal(0.0, 1.0, size=())):
        assert t.shape == () and t.dtype == cr.float32
    for draw in (lambda: cr.rand(2, dtype=cr.int64), lambda: cr.randn(2, dtype=cr.bool),
                 lambda: cr.normal(0.0, 1.0, size=(2,), dtype=cr.int32)):
        with pytest.raises(TypeError, match="float dtype"):
            draw()


def test_randint_bad_range():
    with pytest.raises(ValueError, match="high"):
        cr.randint(5, 5, (2,))


def test_explicit_generator_is_independent_of_the_global_one():
    cr.manual_seed(7)
    expected = cr.randn(4).tolist()
    cr.manual_seed(7)
    g1, g2 = cr.Generator(42), cr.Generator().manual_seed(42)
    a = cr.randn(4, generator=g1)
    b = cr.randn(4, generator=g2)
    assert a.tolist() == b.tolist()
    assert cr.rand(3, generator=g1).tolist() == cr.rand(3, generator=g2).tolist()
    assert cr.randint(0, 5, (3,), generator=g1).tolist() == \
        cr.randint(0, 5, (3,), generator=g2).tolist()
    # drawing from explicit generators left the global stream untouched
    assert cr.randn(4).tolist() == expected


def test_generator_state_round_trip():
    g = cr.Generator(3)
    state = g.get_state()
    a = cr.rand(5, generator=g).tolist()
    g.set_state(state)
    assert cr.rand(5, generator=g).tolist() == a


# --------------------------------------------------------------------------- attributes

def test_attributes():
    t = cr.tensor(np.arange(24.0).reshape(2, 3, 4), dtype=cr.float32)
    assert t.shape == (2, 3, 4) and t.ndim == 3 and t.dtype == cr.float32
    assert t.size() == (2, 3, 4) and t.size(1) == 3 and t.size(-1) == 4
    assert t.numel() == 24 and t.dim() == 3
    assert t.mT.shape == (2, 4, 3)
    close(t.mT, np.swapaxes(t.numpy(), -1, -2))
    m = cr.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert m.T.shape == (3, 2)
    close(m.T, m.numpy().T)
    assert t.requires_grad is False and t.grad is None and t.is_leaf and t.grad_fn is None


def test_grad_fn_names_the_op():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    assert "Mul" in (x * 2).grad_fn.name()
    assert "Add" in (x + x).grad_fn.name()
    assert "Sin" in cr.sin(x).grad_fn.name()
    assert "Mul" in repr((x * x).grad_fn)
    y = x * 3
    assert not y.is_leaf and y.requires_grad
    assert y.grad_fn.next_functions[0][0] is x


def test_conversions():
    t = cr.tensor([[1.5, 2.0]])
    assert isinstance(t.numpy(), np.ndarray)
    assert cr.tensor(2.5).item() == 2.5 and isinstance(cr.tensor(3).item(), int)
    assert cr.tensor([[4.0]]).item() == 4.0
    assert t.tolist() == [[1.5, 2.0]]
    assert t.to(cr.float64).dtype == cr.float64
    assert t.to("float16").dtype == cr.float16
    assert t.astype(cr.int64).tolist() == [[1, 2]]
    assert t.to(dtype=cr.float64).dtype == cr.float64
    assert t.double().dtype == cr.float64 and t.long().dtype == cr.int64
    assert t.to("cpu") is t
    assert float(cr.tensor(2.0)) == 2.0 and int(cr.tensor(3)) == 3
    with pytest.raises(ValueError, match="one-element"):
        t.item()


def test_to_float64_keeps_the_gradient():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x.to(cr.float64)
    assert y.dtype == cr.float64 and y.requires_grad
    (y * y).sum().backward()
    assert x.grad.dtype == cr.float32
    close(x.grad, [2.0, 4.0])


def test_detach_shares_memory_and_cuts_graph():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.grad_fn is None
    assert np.shares_memory(d.numpy(), y.numpy())


def test_requires_grad_():
    x = cr.tensor([1.0])
    assert x.requires_grad_() is x and x.requires_grad
    x.requires_grad_(False)
    assert not x.requires_grad


def test_zero_():
    x = cr.tensor([1.0, np.nan, np.inf])
    assert x.zero_() is x
    assert x.tolist() == [0.0, 0.0, 0.0]


def test_numpy_array_protocol():
    t = cr.tensor([1.0, 2.0])
    a = np.asarray(t)
    assert isinstance(a, np.ndarray) and a.tolist() == [1.0, 2.0]
    assert np.asarray(t, dtype=np.float64).dtype == np.float64
    assert np.array(t).tolist() == [1.0, 2.0]


def test_len_iter_bool():
    t = cr.tensor([[1, 2], [3, 4]])
    assert len(t) == 2
    assert [r.tolist() for r in t] == [[1, 2], [3, 4]]
    assert bool(cr.tensor([1.0])) is True
    with pytest.raises(ValueError, match="ambiguous"):
        bool(t)


# --------------------------------------------------------------------------- operators

ARRAYS = [np.array([0.5, 1.5, 2.0]), np.array([[1.25, -0.5, 3.0], [0.75, 2.0, -1.0]])]


@pytest.mark.parametrize("name, fn", [
    ("add", lambda a, b: a + b), ("sub", lambda a, b: a - b), ("mul", lambda a, b: a * b),
    ("div", lambda a, b: a / b), ("pow", lambda a, b: abs(a) ** b),
    ("radd", lambda a, b: 2 + b), ("rsub", lambda a, b: 2 - b), ("rmul", lambda a, b: 3 * b),
    ("rdiv", lambda a, b: 2 / b), ("rpow", lambda a, b: 2 ** b), ("neg", lambda a, b: -a),
    ("abs", lambda a, b: abs(a) + b.abs()), ("scalar_pow", lambda a, b: a ** 2),
    ("getitem", lambda a, b: a[..., 1:] * b[..., :2]),
])
def test_operators_match_torch_with_gradients(name, fn):
    a0, b0 = ARRAYS[1], ARRAYS[0]
    a, b = cr.tensor(a0, requires_grad=True), cr.tensor(b0, requires_grad=True)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    out, tout = fn(a, b), fn(ta, tb)
    close(out, tout)
    w = np.random.default_rng(0).standard_normal(out.shape)
    (out * cr.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for x, tx in ((a, ta), (b, tb)):
        if tx.grad is None:
            assert x.grad is None or np.all(x.grad.numpy() == 0)
        else:
            close(x.grad, tx.grad)


def test_matmul_operator():
    a = cr.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = cr.tensor(np.arange(3.0), requires_grad=True)
    out = a @ b
    close(out, np.arange(6.0).reshape(2, 3) @ np.arange(3.0))
    out.sum().backward()
    close(a.grad, np.tile(np.arange(3.0), (2, 1)))
    close(b.grad, np.arange(6.0).reshape(2, 3).sum(0))
    close(np.eye(2) @ a, a.numpy())  # NumPy on the left


def test_comparisons_give_bool_tensors_without_grad():
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r, expected in [(x < 2, [True, False, False]), (x <= 2, [True, True, False]),
                        (x > 2, [False, False, True]), (x >= 2, [False, True, True]),
                        (x == 2, [False, True, False]), (x != 2, [True, False, True]),
                        (2 < x, [False, False, True]), (x == x, [True, True, True])]:
        assert r.dtype == cr.bool_ and r.tolist() == expected
        assert not r.requires_grad and r.grad_fn is None


def test_numpy_and_scalars_on_either_side_give_tensors_with_gradients():
    t = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for y in (np.ones(3) * t, t * np.ones(3), np.ones(3) + t, np.ones(3) - t, np.ones(3) / t,
              2 ** t, 2.0 * t, t / 2, np.float64(2.0) * t):
        assert isinstance(y, cr.Tensor) and y.requires_grad
    y = np.full(3, 2.0) * t + 2 ** t
    y.sum().backward()
    close(t.grad, 2 + np.log(2) * 2 ** np.array([1.0, 2.0, 3.0]), tol=1e-5)


def test_numpy_ufuncs_dispatch_to_differentiable_ops():
    x = cr.tensor([0.5, 1.0], dtype=cr.float64, requires_grad=True)
    y = np.exp(x)
    assert isinstance(y, cr.Tensor) and "Exp" in y.grad_fn.name()
    (np.sin(y) * np.sqrt(x)).sum().backward()
    xv = np.array([0.5, 1.0])
    expected = np.cos(np.exp(xv)) * np.exp(xv) * np.sqrt(xv) + np.sin(np.exp(xv)) / (2 * np.sqrt(xv))
    close(x.grad, expected, tol=1e-12)
    assert isinstance(np.sum(x), cr.Tensor) and np.sum(x).requires_grad
    assert isinstance(np.maximum(x, 0.7), cr.Tensor)


def test_numpy_ufunc_without_derivative_is_a_clear_type_error():
    x = cr.tensor([1.0, 8.0], requires_grad=True)
    with pytest.raises(TypeError, match="cbrt.*no derivative"):
        np.cbrt(x)
    # without a gradient involved it simply runs
    r = np.cbrt(x.detach())
    close(r, [1.0, 2.0])


# --------------------------------------------------------------------------- promotion

def _promo_pairs():
    f32 = lambda lib: lib.ones(2, dtype=lib.float32)  # noqa: E731
    f64 = lambda lib: lib.ones(2, dtype=lib.float64)  # noqa: E731
    f16 = lambda lib: lib.ones(2, dtype=lib.float16)  # noqa: E731
    i64 = lambda lib: lib.tensor([1, 2])  # noqa: E731
    i32 = lambda lib: lib.tensor([1, 2], dtype=lib.int32)  # noqa: E731
    b = lambda lib: lib.tensor([True, False])  # noqa: E731
    return [
        ("f32+f64", lambda L: f32(L) + f64(L)), ("f64*f32", lambda L: f64(L) * f32(L)),
        ("f32*py float", lambda L: f32(L) * 2.5), ("f64*py float", lambda L: f64(L) * 2.5),
        ("f16+py float", lambda L: f16(L) + 2.5), ("f32*py int", lambda L: f32(L) * 3),
        ("i64*py float", lambda L: i64(L) * 2.5), ("i64*f32", lambda L: i64(L) * f32(L)),
        ("i64*f64", lambda L: i64(L) * f64(L)), ("i32+i64", lambda L: i32(L) + i64(L)),
        ("i32+py int", lambda L: i32(L) + 5), ("i64/i64", lambda L: i64(L) / i64(L)),
        ("i32/py int", lambda L: i32(L) / 2), ("f16+f32", lambda L: f16(L) + f32(L)),
        ("py float - i64", lambda L: 2.5 - i64(L)), ("bool+i64", lambda L: b(L) + i64(L)),
        ("bool*py float", lambda L: b(L) * 1.5), ("i64**2", lambda L: i64(L) ** 2),
        ("f32+np f64 scalar", lambda L: f32(L) + np.float64(1.5)),
    ]


@pytest.mark.parametrize("name, fn", _promo_pairs(), ids=[p[0] for p in _promo_pairs()])
def test_type_promotion_matches_torch(name, fn):
    ours, theirs = fn(cr), fn(torch)
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch."), name
    close(ours, theirs.to(torch.float64).numpy().astype(str(ours.dtype)) if ours.dtype != bool
          else theirs.numpy())


def test_integer_and_bool_tensors_exist():
    i = cr.tensor([1, 2, 3])
    b = i > 1
    assert (i * 2).tolist() == [2, 4, 6] and (i % 2).tolist() == [1, 0, 1]
    assert (~b).tolist() == [True, False, False] and (b & b).tolist() == [False, True, True]
    assert (i // 2).tolist() == [0, 1, 1]


DEVICE_FACTORIES = {
    "tensor": lambda d: cr.tensor([1, 2], device=d),
    "as_tensor": lambda d: cr.as_tensor([1.0], device=d),
    "zeros": lambda d: cr.zeros(2, 3, device=d),
    "ones": lambda d: cr.ones((2,), device=d),
    "empty": lambda d: cr.empty(2, device=d),
    "full": lambda d: cr.full((2,), 1.0, device=d),
    "zeros_like": lambda d: cr.zeros_like(cr.ones(2), device=d),
    "ones_like": lambda d: cr.ones_like(cr.ones(2), device=d),
    "empty_like": lambda d: cr.empty_like(cr.ones(2), device=d),
    "full_like": lambda d: cr.full_like(cr.ones(2), 3, device=d),
    "arange": lambda d: cr.arange(3, device=d),
    "linspace": lambda d: cr.linspace(0, 1, 3, device=d),
    "eye": lambda d: cr.eye(2, device=d),
    "rand": lambda d: cr.rand(2, device=d),
    "randn": lambda d: cr.randn(2, device=d),
    "randint": lambda d: cr.randint(0, 3, (2,), device=d),
    "randperm": lambda d: cr.randperm(3, device=d),
    "normal": lambda d: cr.normal(0, 1, (2,), device=d),
}


@pytest.mark.parametrize("name", sorted(DEVICE_FACTORIES))
def test_factories_take_the_cpu_as_device_and_refuse_others(name):
    """PyTorch code passes device='cpu' (or a torch.device): accepted; a GPU is refused,
    naming the function."""
    make = DEVICE_FACTORIES[name]
    assert make("cpu").shape == make(None).shape
    torch = pytest.importorskip("torch")
    assert make(torch.device("cpu")).shape == make(None).shape
    with pytest.raises(ValueError, match=rf"^{name}: chainrule runs on the CPU only, got "
                                         r"device 'cuda:0'"):
        make("cuda:0")


@pytest.mark.parametrize("name", ["rand", "randn"])
def test_random_factories_take_size_as_a_keyword(name):
    make = getattr(cr, name)
    cr.manual_seed(0)
    by_keyword = make(size=(2, 3))
    cr.manual_seed(0)
    np.testing.assert_array_equal(by_keyword.numpy(), make(2, 3).numpy())
    with pytest.raises(TypeError, match=f"{name}: give the size positionally or as size="):
        make(2, size=(2,))


def test_view_ops_take_a_numpy_array_too():
    # (a view of a NumPy array is not a chainrule view: there is no version to share)
    a = np.arange(6.0)
    out = cr.reshape(a, (2, 3))
    assert isinstance(out, cr.Tensor) and out.shape == (2, 3)
    np.testing.assert_array_equal(cr.transpose(a.reshape(2, 3), 0, 1).data, a.reshape(2, 3).T)
