"""The shape, indexing and product ops PyTorch users reach for (narrow, unbind, tensor_split,
diag, kron, tensordot, addmm, index_add, scatter_reduce, ...): values and gradients against
PyTorch and central differences, the in-place forms, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
from torch_parity_helpers import TOL, TORCH_DTYPE, close

import chainrule as cr

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 4, 5))
M = RNG.standard_normal((4, 5))
V = RNG.standard_normal(4)
B23, B34 = RNG.standard_normal((2, 3)), RNG.standard_normal((3, 4))
IDX = np.array([[0, 0, 3], [2, 2, 2], [1, 0, 1]])


def _flat(y):
    """A tuple of results as one flat tensor (for the comparison)."""
    if isinstance(y, (tuple, list)):
        return (cr.cat if isinstance(y[0], cr.Tensor) else torch.cat)([p.reshape(-1) for p in y])
    return y


def check(fc, ft, *arrays, dtype=np.float64, gradcheck=True):
    """fc on chainrule tensors and ft on torch ones: values, and the gradients for a random
    upstream gradient, in ``dtype``; in float64 also the gradients by central differences."""
    arrays = [np.asarray(a, dtype=dtype) for a in arrays]
    cs = [cr.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=TORCH_DTYPE[dtype], requires_grad=True) for a in arrays]
    yc, yt = _flat(fc(*cs)), _flat(ft(*ts))
    tol = TOL[dtype]
    close(yc, yt, tol, "value")
    g = RNG.standard_normal(yc.shape).astype(dtype)
    (yc * cr.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    for k, (c, t) in enumerate(zip(cs, ts)):
        close(c.grad, t.grad, tol, f"gradient of input {k}")
    if gradcheck and dtype == np.float64:
        assert cr.gradcheck(lambda *xs: _flat(fc(*xs)),
                            [cr.tensor(a, requires_grad=True) for a in arrays])


def test_check_helper_runs_gradcheck():
    check(lambda x: cr.narrow(x, 0, 1, 2), lambda x: torch.narrow(x, 0, 1, 2), V)


# --------------------------------------------------------------------------- shape

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dim, start, length", [(1, -3, 2), (0, 0, 3), (-1, 5, 0), (2, 1, 4)])
def test_narrow(dtype, dim, start, length):
    check(lambda x: cr.narrow(x, dim, start, length),
          lambda x: torch.narrow(x, dim, start, length), A, dtype=dtype)
    check(lambda x: x.narrow(dim, start, length), lambda x: x.narrow(dim, start, length), A,
          dtype=dtype, gradcheck=False)


@pytest.mark.parametrize("dim, index", [(0, 2), (-1, -5), (1, 3)])
def test_select_and_unbind(dim, index):
    check(lambda x: cr.select(x, dim, index), lambda x: torch.select(x, dim, index), A)
    check(lambda x: x.select(dim, index), lambda x: x.select(dim, index), A, gradcheck=False)
    check(lambda x: cr.unbind(x, dim), lambda x: torch.unbind(x, dim), A)
    check(lambda x: x.unbind(dim), lambda x: x.unbind(dim), A, gradcheck=False)


def test_narrow_and_select_share_memory_as_views():
    x = cr.zeros(3, 4)
    x.narrow(1, 1, 2).fill_(1.0)
    x.select(0, 2).add_(2.0)
    expect = torch.zeros(3, 4)
    expect.narrow(1, 1, 2).fill_(1.0)
    expect.select(0, 2).add_(2.0)
    np.testing.assert_array_equal(x.numpy(), expect.numpy())


@pytest.mark.parametrize("dimension, size, step", [(1, 2, 1), (-1, 3, 2), (0, 3, 5), (2, 5, 1),
                                                   (1, 0, 2)])
def test_unfold(dimension, size, step):
    check(lambda x: x.unfold(dimension, size, step), lambda x: x.unfold(dimension, size, step),
          A)


def test_unfold_of_a_0d_tensor():
    assert cr.tensor(5.0).unfold(0, 1, 1).shape == tuple(torch.tensor(5.0).unfold(0, 1, 1).shape)


def test_t_ravel_and_the_as_methods():
    check(lambda x: cr.t(x), lambda x: torch.t(x), M)
    check(lambda x: cr.t(x), lambda x: torch.t(x), V, gradcheck=False)
    check(lambda x: cr.ravel(x), lambda x: torch.ravel(x), A)
    check(lambda x: x.ravel(), lambda x: x.ravel(), A, gradcheck=False)
    x = cr.tensor(A)
    assert x.view_as(cr.zeros(5, 12)).shape == (5, 12)
    assert x.reshape_as(cr.zeros(60)).shape == (60,)
    assert cr.ones(4, 1).expand_as(cr.zeros(2, 4, 3)).shape == (2, 4, 3)
    assert x.contiguous() is x
    assert x.type_as(cr.zeros(1, dtype=cr.int32)).dtype == np.int32


@pytest.mark.parametrize("size", [(4, 1), (5,), (1, 1), (3, 4, 5), (1, 4, 1)])
def test_sum_to_size(size):
    check(lambda x: x.sum_to_size(*size), lambda x: x.sum_to_size(*size), A)


def test_new_tensors_follow_the_dtype_of_self():
    x = cr.ones(2, dtype=cr.float64)
    assert x.new_zeros(2, 3).dtype == np.float64 and x.new_zeros((2, 3)).shape == (2, 3)
    assert x.new_ones(3, dtype=cr.int32).dtype == np.int32
    assert x.new_empty(0).shape == (0,)
    full = cr.ones(2, dtype=cr.int32).new_full((2,), 1.5)
    assert full.dtype == np.int32 and full.tolist() == [1, 1]
    made = cr.ones(2, dtype=cr.int32).new_tensor([1.5])
    expect = torch.ones(2, dtype=torch.int32).new_tensor([1.5])
    assert made.dtype == np.int32 and made.tolist() == expect.tolist()
    leaf = x.new_tensor([1.0, 2.0], requires_grad=True)
    assert leaf.requires_grad and leaf.is_leaf and leaf.dtype == np.float64


@pytest.mark.parametrize("how", [3, 1, 7, [1, 9, -2], [2, 2], []])
@pytest.mark.parametrize("dim", [0, -1])
def test_tensor_split(how, dim):
    x = RNG.standard_normal((7, 5))
    check(lambda a: cr.tensor_split(a, how, dim), lambda a: torch.tensor_split(a, how, dim), x,
          gradcheck=False)
    pieces = cr.tensor(x).tensor_split(how, dim)
    assert [p.shape for p in pieces] == [tuple(p.shape) for p in torch.tensor(x).tensor_split(
        how, dim)]


def test_tensor_split_takes_tensors():
    x = cr.arange(7)
    assert [p.tolist() for p in cr.tensor_split(x, cr.tensor(3))] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [p.tolist() for p in cr.tensor_split(x, cr.tensor([1, 5]))] == [[0], [1, 2, 3, 4],
                                                                          [5, 6]]


@pytest.mark.parametrize("name, how", [("hsplit", 2), ("hsplit", [1, 3]), ("vsplit", [1]),
                                       ("vsplit", 3), ("dsplit", 5), ("dsplit", [2])])
def test_hsplit_vsplit_dsplit(name, how):
    check(lambda x: getattr(cr, name)(x, how), lambda x: getattr(torch, name)(x, how), A)
    check(lambda x: getattr(x, name)(how), lambda x: getattr(x, name)(how), A, gradcheck=False)


def test_hsplit_of_a_vector_splits_dim_0():
    check(lambda x: cr.hsplit(x, 2), lambda x: torch.hsplit(x, 2), V)


@pytest.mark.parametrize("name", ["hstack", "vstack", "dstack", "column_stack", "row_stack"])
@pytest.mark.parametrize("shapes", [((4, 5), (4, 5)), ((4,), (4,)), ((), ()), ((2, 3, 4),
                                                                          (2, 3, 4))])
def test_stacks(name, shapes):
    arrays = [RNG.standard_normal(s) for s in shapes]
    check(lambda a, b: getattr(cr, name)([a, b]), lambda a, b: getattr(torch, name)([a, b]),
          *arrays)


@pytest.mark.parametrize("name", ["atleast_1d", "atleast_2d", "atleast_3d"])
def test_atleast(name):
    for shape in [(), (3,), (2, 3), (2, 3, 4), (1, 2, 3, 4)]:
        x = RNG.standard_normal(shape)
        got, want = getattr(cr, name)(cr.tensor(x)), getattr(torch, name)(torch.tensor(x))
        close(got, want, 0, f"{name} of shape {shape}")
    several = getattr(cr, name)(cr.ones(()), cr.ones(3))
    want = getattr(torch, name)(torch.ones(()), torch.ones(3))
    assert [s.shape for s in several] == [tuple(w.shape) for w in want]
    as_list = getattr(cr, name)([cr.ones(3)])
    assert isinstance(as_list, tuple) and as_list[0].shape == tuple(
        getattr(torch, name)([torch.ones(3)])[0].shape)


@pytest.mark.parametrize("k", [-3, -1, 0, 1, 2, 3, 5])
@pytest.mark.parametrize("dims", [(0, 1), (2, 0), (-1, 1)])
def test_rot90(k, dims):
    check(lambda x: cr.rot90(x, k, dims), lambda x: torch.rot90(x, k, dims), A)
    check(lambda x: x.rot90(k, dims), lambda x: x.rot90(k, dims), A, gradcheck=False)


def test_fliplr_flipud():
    check(lambda x: cr.fliplr(x), lambda x: torch.fliplr(x), A)
    check(lambda x: cr.flipud(x), lambda x: torch.flipud(x), A)
    check(lambda x: x.flipud(), lambda x: x.flipud(), V, gradcheck=False)


@pytest.mark.parametrize("k", [-2, 0, 1, 5, -7])
def test_diag_both_ways(k):
    check(lambda x: cr.diag(x, k), lambda x: torch.diag(x, k), V)
    check(lambda x: cr.diag(x, k), lambda x: torch.diag(x, k), M)
    check(lambda x: x.diag(k), lambda x: x.diag(k), M, gradcheck=False)


@pytest.mark.parametrize("offset", [0, 2, -1])
@pytest.mark.parametrize("dim1, dim2", [(-2, -1), (0, 2), (-1, 1), (2, 0)])
def test_diag_embed(offset, dim1, dim2):
    check(lambda x: cr.diag_embed(x, offset, dim1, dim2),
          lambda x: torch.diag_embed(x, offset, dim1, dim2), A)


@pytest.mark.parametrize("offset", [0, 1, -2, 6])
@pytest.mark.parametrize("dims", [(), (0, 1), (2, 0), (-1, 1), (1, -3)])
def test_diagonal_of_any_two_dims(offset, dims):
    check(lambda x: cr.diagonal(x, offset, *dims), lambda x: torch.diagonal(x, offset, *dims), A)
    check(lambda x: x.diagonal(offset, *dims), lambda x: x.diagonal(offset, *dims), A,
          gradcheck=False)


@pytest.mark.parametrize("row, col, offset", [(3, 4, 1), (4, 3, -1), (0, 2, 0), (3, 3, -5),
                                              (2, 5, 7), (5, 5, 0)])
def test_triu_tril_indices(row, col, offset):
    for name in ("triu_indices", "tril_indices"):
        got = getattr(cr, name)(row, col, offset)
        want = getattr(torch, name)(row, col, offset)
        assert got.dtype == np.int64 and got.tolist() == want.tolist()


def test_block_diag():
    check(lambda a, b, c: cr.block_diag(a, b, c), lambda a, b, c: torch.block_diag(a, b, c),
          np.array(2.0), V, M)
    mixed = cr.block_diag(cr.ones(2, dtype=cr.int64), cr.ones(1, 1, dtype=cr.float32))
    assert mixed.dtype == np.float32 and mixed.shape == (2, 3)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid_and_cartesian_prod(indexing):
    check(lambda a, b, c: cr.meshgrid(a, b, c, indexing=indexing),
          lambda a, b, c: torch.meshgrid(a, b, c, indexing=indexing), V, V[:3], V[:2])
    check(lambda a, b: cr.meshgrid([a, b], indexing=indexing),
          lambda a, b: torch.meshgrid([a, b], indexing=indexing), V, V[:3])
    check(lambda a, b: cr.cartesian_prod(a, b), lambda a, b: torch.cartesian_prod(a, b), V,
          V[:3])
    check(lambda a: cr.cartesian_prod(a), lambda a: torch.cartesian_prod(a), V)


@pytest.mark.parametrize("r", [1, 2, 3, 5])
@pytest.mark.parametrize("with_replacement", [False, True])
def test_combinations(r, with_replacement):
    check(lambda a: cr.combinations(a, r, with_replacement),
          lambda a: torch.combinations(a, r, with_replacement), V)


def test_combinations_of_none_is_empty_and_outside_the_graph():
    got = cr.combinations(cr.tensor(V, requires_grad=True), 0)
    want = torch.combinations(torch.tensor(V, requires_grad=True), 0)
    assert got.shape == tuple(want.shape) and got.requires_grad == want.requires_grad


# --------------------------------------------------------------------------- products

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_kron(dtype):
    check(lambda a, b: cr.kron(a, b), lambda a, b: torch.kron(a, b), B23, A, dtype=dtype)
    check(lambda a, b: cr.kron(a, b), lambda a, b: torch.kron(a, b), np.array(2.0), V,
          dtype=dtype)
    check(lambda a, b: a.kron(b), lambda a, b: a.kron(b), M, B23, dtype=dtype, gradcheck=False)


def test_cross():
    a, b = RNG.standard_normal((4, 3)), RNG.standard_normal((1, 3))
    check(lambda x, y: cr.cross(x, y, dim=1), lambda x, y: torch.cross(x, y, dim=1), a, b)
    check(lambda x, y: cr.cross(x, y, dim=-2), lambda x, y: torch.cross(x, y, dim=-2), a.T, b.T)
    check(lambda x, y: x.cross(y), lambda x, y: torch.linalg.cross(x, y, dim=1), a, a[::-1].copy())


@pytest.mark.parametrize("dims", [2, 1, 0, ([1, 2], [1, 0]), ([2], [0]), (2, 0)])
def test_tensordot(dims):
    b = RNG.standard_normal((5, 4, 2)) if isinstance(dims, tuple) and dims[0] == [1, 2] else \
        RNG.standard_normal((4, 5, 2))
    if dims in (2, 1):
        b = RNG.standard_normal((4, 5, 2) if dims == 2 else (5, 2))
        if dims == 2:
            b = RNG.standard_normal((4, 5, 2))
    torch_dims = ([2], [0]) if dims == (2, 0) else dims
    if dims in (([2], [0]), (2, 0)):
        b = RNG.standard_normal((5, 3))
    check(lambda x, y: cr.tensordot(x, y, dims), lambda x, y: torch.tensordot(x, y, torch_dims),
          A, b)


def test_tensordot_over_empty_dims_is_zeros():
    check(lambda a, b: cr.tensordot(a, b, 1), lambda a, b: torch.tensordot(a, b, 1),
          np.zeros((2, 0)), np.zeros((0, 3)), gradcheck=False)
    check(lambda a, b: cr.tensordot(a, b, ([0], [1])),
          lambda a, b: torch.tensordot(a, b, ([0], [1])), np.zeros((0, 2)), np.zeros((3, 0)),
          gradcheck=False)


@pytest.mark.parametrize("beta, alpha", [(1, 1), (0.5, 2), (0, 1), (0, -1.5)])
def test_addmm_family(beta, alpha):
    kw = {"beta": beta, "alpha": alpha}
    b1, b2 = RNG.standard_normal((5, 2, 3)), RNG.standard_normal((5, 3, 4))
    check(lambda i, a, b: cr.addmm(i, a, b, **kw), lambda i, a, b: torch.addmm(i, a, b, **kw),
          RNG.standard_normal(4), B23, B34)
    check(lambda i, a, b: cr.addmv(i, a, b, **kw), lambda i, a, b: torch.addmv(i, a, b, **kw),
          RNG.standard_normal(2), B23, V[:3])
    check(lambda i, a, b: cr.addr(i, a, b, **kw), lambda i, a, b: torch.addr(i, a, b, **kw),
          RNG.standard_normal((4, 3)), V, V[:3])
    check(lambda i, a, b: cr.baddbmm(i, a, b, **kw),
          lambda i, a, b: torch.baddbmm(i, a, b, **kw), RNG.standard_normal((2, 4)), b1, b2)
    check(lambda i, a, b: cr.addbmm(i, a, b, **kw), lambda i, a, b: torch.addbmm(i, a, b, **kw),
          RNG.standard_normal((2, 4)), b1, b2)
    check(lambda i, a, b: i.addmm(a, b, **kw), lambda i, a, b: i.addmm(a, b, **kw),
          RNG.standard_normal((2, 4)), B23, B34, gradcheck=False)


def test_addmm_with_beta_0_ignores_nan_in_input():
    i = cr.tensor([[float("nan")]], requires_grad=True)
    y = cr.addmm(i, cr.ones(1, 2), cr.ones(2, 1), beta=0)
    y.sum().backward()
    assert y.tolist() == [[2.0]] and i.grad.tolist() == [[0.0]]


def test_mv_method_and_chain_matmul():
    check(lambda a, v: a.mv(v), lambda a, v: a.mv(v), B23, V[:3])
    with pytest.warns(UserWarning):
        check(lambda a, b, c: cr.chain_matmul(a, b, c),
              lambda a, b, c: torch.chain_matmul(a, b, c), B23, B34, M)


# --------------------------------------------------------------------------- indexing

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_index_add_copy_fill(dtype):
    ix = np.array([0, 2, 0])
    check(lambda x, s: cr.index_add(x, 1, ix, s, alpha=2),
          lambda x, s: torch.index_add(x, 1, torch.tensor(ix), s, alpha=2), A,
          RNG.standard_normal((3, 3, 5)), dtype=dtype)
    check(lambda x, s: cr.index_copy(x, -1, np.array([3, 1]), s),
          lambda x, s: torch.index_copy(x, -1, torch.tensor([3, 1]), s), A,
          RNG.standard_normal((3, 4, 2)), dtype=dtype)
    # (a repeated index fills once: the value's gradient counts it once, as PyTorch)
    check(lambda x, v: cr.index_fill(x, 0, np.array([2, 1, 1]), v),
          lambda x, v: torch.index_fill(x, 0, torch.tensor([2, 1, 1]), v), A, np.array(2.5),
          dtype=dtype)
    check(lambda x: cr.index_fill(x, -1, np.array([-1, 1]), 7.0),
          lambda x: torch.index_fill(x, -1, torch.tensor([-1, 1]), 7.0), A, dtype=dtype)


def test_index_ops_as_methods_and_on_0d_tensors():
    ix = np.array([1])
    check(lambda x, s: x.index_add(0, ix, s), lambda x, s: x.index_add(0, torch.tensor(ix), s),
          M, RNG.standard_normal((1, 5)), gradcheck=False)
    check(lambda x, s: cr.index_add(x, 0, np.array([0]), s, alpha=3),
          lambda x, s: torch.index_add(x, 0, torch.tensor([0]), s, alpha=3), np.array(1.5),
          np.array(0.5))
    check(lambda x: cr.index_fill(x, 0, np.array([0]), -1.0),
          lambda x: torch.index_fill(x, 0, torch.tensor([0]), -1.0), np.array(1.5))


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put(accumulate):
    rows, cols = np.array([0, 2, -1]), np.array([1, 1, 3])
    check(lambda x, v: cr.index_put(x, (rows, cols), v, accumulate),
          lambda x, v: torch.index_put(x, (torch.tensor(rows), torch.tensor(cols)), v,
                                       accumulate), A, RNG.standard_normal(5))
    dup = np.array([0, 2, 0])
    values = RNG.standard_normal((3, 4, 5))
    if accumulate:  # (repeated indices without accumulate: PyTorch leaves the winner open)
        check(lambda x, v: cr.index_put(x, (dup,), v, True),
              lambda x, v: torch.index_put(x, (torch.tensor(dup),), v, True), A, values)
    mask = RNG.random((3, 4)) > 0.5
    check(lambda x, v: x.index_put((cr.tensor(mask),), v, accumulate),
          lambda x, v: x.index_put((torch.tensor(mask),), v, accumulate), A,
          RNG.standard_normal(5))


def test_take_and_put():
    ix = np.array([[0, -1], [5, 5]])
    check(lambda x: cr.take(x, ix), lambda x: torch.take(x, torch.tensor(ix)), A)
    check(lambda x: x.take(cr.tensor(7)), lambda x: x.take(torch.tensor(7)), A)
    check(lambda x, s: cr.put(x, np.array([0, -1, 7]), s),
          lambda x, s: x.put(torch.tensor([0, -1, 7]), s), A, RNG.standard_normal(3))
    check(lambda x, s: x.put(np.array([[0, -1, 0]]), s, True),
          lambda x, s: x.put(torch.tensor([[0, -1, 0]]), s, True), A, RNG.standard_normal(3))


def test_masked_select_and_masked_scatter():
    m5 = RNG.random(5) > 0.4
    mask = RNG.random((3, 4, 1)) > 0.5
    check(lambda x: cr.masked_select(x, m5), lambda x: torch.masked_select(x, torch.tensor(m5)),
          A)
    check(lambda x: x.masked_select(cr.tensor(mask)),
          lambda x: x.masked_select(torch.tensor(mask)), V[:, None])  # (both broadcast)
    check(lambda x, s: cr.masked_scatter(x, m5, s),
          lambda x, s: torch.masked_scatter(x, torch.tensor(m5), s), A,
          RNG.standard_normal((8, 8)))
    check(lambda x, s: x.masked_scatter(cr.tensor(mask), s),
          lambda x, s: x.masked_scatter(torch.tensor(mask), s), V, RNG.standard_normal(50))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scatter(dtype):
    # (a repeated index: one write wins, yet each gets the gradient there, as in PyTorch)
    check(lambda x, s: cr.scatter(x, 1, IDX, s),
          lambda x, s: torch.scatter(x, 1, torch.tensor(IDX), s), M, RNG.standard_normal((3, 3)),
          dtype=dtype, gradcheck=False)
    once = np.array([[4, 0], [2, 3], [1, 0]])
    check(lambda x, s: cr.scatter(x, -1, once, s),
          lambda x, s: torch.scatter(x, -1, torch.tensor(once), s), M, RNG.standard_normal((3, 2)),
          dtype=dtype)
    check(lambda x: cr.scatter(x, 0, IDX, 2.5), lambda x: torch.scatter(x, 0, torch.tensor(IDX),
                                                                        2.5), M, dtype=dtype)
    check(lambda x: x.scatter(0, cr.tensor(IDX), value=-1.0),
          lambda x: x.scatter(0, torch.tensor(IDX), value=-1.0), M, dtype=dtype)


@pytest.mark.parametrize("reduce", ["add", "multiply"])
def test_scatter_with_reduce_matches_torch_values(reduce):
    src = RNG.standard_normal((3, 3))
    got = cr.scatter(cr.tensor(M), 1, IDX, cr.tensor(src), reduce=reduce)
    want = torch.scatter(torch.tensor(M), 1, torch.tensor(IDX), torch.tensor(src), reduce=reduce)
    close(got, want, 1e-10, reduce)
    got = cr.tensor(M).scatter(1, cr.tensor(IDX), 3.0, reduce=reduce)
    close(got, torch.tensor(M).scatter(1, torch.tensor(IDX), 3.0, reduce=reduce), 1e-10, reduce)


def _ties_and_zeros():
    """Inputs with zeros (for prod) and a value shared by self and src (a tie for max)."""
    x, src = M.copy(), RNG.standard_normal((3, 3))
    x[2, 2] = 0.0
    src[0, 1] = src[1, 0] = src[1, 1] = 0.0
    src[2, 0] = x[2, 1]
    return x, src


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_scatter_reduce(reduce, include_self, dtype):
    x, src = _ties_and_zeros()
    # (ties and zeros are corners: central differences only on generic inputs below)
    check(lambda a, s: cr.scatter_reduce(a, 1, IDX, s, reduce, include_self=include_self),
          lambda a, s: torch.scatter_reduce(a, 1, torch.tensor(IDX), s, reduce,
                                            include_self=include_self), x, src, dtype=dtype,
          gradcheck=False)
    check(lambda a, s: a.scatter_reduce(0, cr.tensor(IDX), s, reduce, include_self=include_self),
          lambda a, s: a.scatter_reduce(0, torch.tensor(IDX), s, reduce,
                                        include_self=include_self), M, RNG.standard_normal((3, 3)),
          dtype=dtype)


@pytest.mark.parametrize("reduce", ["amax", "amin"])
def test_scatter_reduce_splits_ties_evenly_as_torch(reduce):
    x = np.array([[1.0, 2.0, 3.0], [4.0, 0.0, 6.0]])
    index = np.array([[0, 0, 1], [2, 2, 2]])
    src = np.array([[3.0, 0.0, 1.0], [6.0, 6.0, 0.5]])
    for keep in (True, False):
        check(lambda a, s, keep=keep: cr.scatter_reduce(a, 1, index, s, reduce,
                                                        include_self=keep),
              lambda a, s, keep=keep: torch.scatter_reduce(a, 1, torch.tensor(index), s, reduce,
                                                           include_self=keep), x, src,
              gradcheck=False)


def test_scatter_reduce_on_integers_floors_the_mean():
    for reduce in ("sum", "prod", "mean", "amax", "amin"):
        x, src = np.array([[1, 2, 3]]), np.array([[-2, -2, -4]])
        index = np.array([[0, 0, 2]])
        got = cr.scatter_reduce(cr.tensor(x), 1, index, cr.tensor(src), reduce)
        want = torch.scatter_reduce(torch.tensor(x), 1, torch.tensor(index), torch.tensor(src),
                                    reduce)
        assert got.dtype == np.int64 and got.tolist() == want.tolist(), reduce


def test_scatter_reduce_second_order_by_central_differences():
    index = np.array([[0, 0, 3], [2, 2, 2], [1, 0, 1]])
    for reduce in ("prod", "mean", "amax"):
        def f(x, s, reduce=reduce):
            return cr.scatter_reduce(x, 1, index, s, reduce) ** 2
        assert cr.gradgradcheck(f, [cr.tensor(M, requires_grad=True),
                                    cr.tensor(RNG.uniform(0.5, 1.5, (3, 3)), requires_grad=True)])


# --------------------------------------------------------------------------- in place

INPLACE = [
    ("index_add_", lambda: (1, np.array([0, 2]), RNG.standard_normal((4, 2)))),
    ("index_copy_", lambda: (1, np.array([4, 2]), RNG.standard_normal((4, 2)))),
    ("index_fill_", lambda: (0, np.array([3, 1]), 2.0)),
    ("scatter_", lambda: (1, IDX, RNG.standard_normal((3, 3)))),
    ("scatter_add_", lambda: (1, IDX, RNG.standard_normal((3, 3)))),
    ("scatter_reduce_", lambda: (1, IDX, RNG.standard_normal((3, 3)), "amax")),
    ("masked_scatter_", lambda: (RNG.random(5) > 0.5, RNG.standard_normal(20))),
    ("masked_fill_", lambda: (RNG.random(5) > 0.5, 3.0)),
    ("index_put_", lambda: ((np.array([0, 3]), np.array([1, 1])), RNG.standard_normal(2))),
    ("put_", lambda: (np.array([0, -1]), RNG.standard_normal(2))),
]


def _args(args, lib):
    """Arrays as tensors of ``lib`` (bool and integer arrays too); other values as they are."""
    def conv(a):
        if isinstance(a, tuple):
            return tuple(conv(b) for b in a)
        if isinstance(a, np.ndarray):
            return cr.tensor(a) if lib is cr else torch.tensor(a)
        return a
    return tuple(conv(a) for a in args)


@pytest.mark.parametrize("name, make", INPLACE, ids=[n for n, _ in INPLACE])
def test_inplace_forms_on_non_leaf_tensors(name, make):
    args = make()
    diff = [k for k, a in enumerate(args) if isinstance(a, np.ndarray) and a.dtype == float]
    xc = cr.tensor(M, requires_grad=True)
    xt = torch.tensor(M, requires_grad=True)
    ca, ta = list(_args(args, cr)), list(_args(args, torch))
    for k in diff:
        ca[k].requires_grad_()
        ta[k].requires_grad_()
    yc, yt = xc * 2.0, xt * 2.0
    assert getattr(yc, name)(*ca) is yc
    getattr(yt, name)(*ta)
    close(yc, yt, 1e-10, name)
    g = RNG.standard_normal(M.shape)
    (yc * cr.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    close(xc.grad, xt.grad, 1e-10, f"{name}: gradient of the tensor changed")
    for k in diff:
        close(ca[k].grad, ta[k].grad, 1e-10, f"{name}: gradient of argument {k}")


def test_inplace_bumps_the_version_and_refuses_a_leaf():
    x = cr.zeros(3, 4)
    before = x._version
    x.index_add_(0, cr.tensor([1]), cr.ones(1, 4))
    assert x._version == before + 1 and x.tolist()[1] == [1.0] * 4
    leaf = cr.zeros(3, 4, requires_grad=True)
    with pytest.raises(cr.ChainruleError, match="leaf tensor"):
        leaf.scatter_(0, cr.tensor([[0]]), 1.0)


def test_inplace_on_a_view_writes_into_the_base():
    base = cr.tensor(M, requires_grad=True) * 1.0
    row = base.select(0, 1)
    row.index_fill_(0, cr.tensor([0, 4]), 0.0)
    assert base[1, 0].item() == 0.0 and base[1, 4].item() == 0.0


def test_masked_scatter_inplace_refuses_a_mask_larger_than_self():
    with pytest.raises(ValueError, match="masked_scatter_: a mask of shape"):
        cr.zeros(3).masked_scatter_(cr.ones(2, 3, dtype=cr.bool), cr.ones(6))


def test_numpy_shape_and_product_functions_on_tensors_are_chainrule_ops():
    # np.kron(t, t) and co. give differentiable tensors (as np.exp(t) does), not an error
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 2))
    for fn, args in ((np.kron, (a, b)), (np.tensordot, (a, b, 1)),
                     (np.tensordot, (a, a, ([0, 1], [0, 1]))), (np.diagonal, (a, 1)),
                     (np.trace, (a, -1)), (np.ravel, (a.T,)), (np.rot90, (a, 3)),
                     (np.fliplr, (a,)), (np.flipud, (a,)), (np.hstack, ([a, a],)),
                     (np.vstack, ([a[0], a[1]],)), (np.dstack, ([a, a],)),
                     (np.column_stack, ([a[0], a[1]],))):
        ts = [cr.tensor(x, requires_grad=True) if isinstance(x, np.ndarray) else
              [cr.tensor(y, requires_grad=True) for y in x] if isinstance(x, list) else x
              for x in args]
        out = fn(*ts)
        assert isinstance(out, cr.Tensor) and out.requires_grad, fn.__name__
        np.testing.assert_allclose(out.detach().numpy(), fn(*args), err_msg=fn.__name__)
    t = cr.tensor(a, requires_grad=True)
    np.trace(t, axis1=1, axis2=0).backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.eye(3, 4))


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call, error, message", [
    (lambda: cr.narrow(cr.ones(2, 3), 1, 2, 2), cr.OpError, r"narrow: start \(2\) \+ length"),
    (lambda: cr.narrow(cr.ones(2, 3), 1, -4, 1), cr.OpIndexError, "narrow: start -4 is out"),
    (lambda: cr.narrow(cr.tensor(1.0), 0, 0, 1), cr.OpError, "narrow: cannot be applied to a 0"),
    (lambda: cr.select(cr.ones(2, 3), 1, 3), cr.OpIndexError, "select: index 3 is out of range"),
    (lambda: cr.select(cr.ones(2, 3), 1, -4), cr.OpIndexError, "select: index -4"),
    (lambda: cr.ones(2, 3).unfold(1, 4, 1), cr.OpError, "unfold: size 4 must be 0 to 3"),
    (lambda: cr.ones(2, 3).unfold(1, 2, 0), cr.OpError, "unfold: step must be positive"),
    (lambda: cr.t(cr.ones(2, 3, 4)), ValueError, "at most 2 dims"),
    (lambda: cr.tensor_split(cr.ones(7), 0), cr.OpError, "number of sections must be positive"),
    (lambda: cr.hsplit(cr.ones(5, 4), 3), cr.OpError, "hsplit: cannot split dim 1 of size 4"),
    (lambda: cr.vsplit(cr.ones(4), 2), cr.OpError, "vsplit: needs a tensor of at least 2 dims"),
    (lambda: cr.rot90(cr.ones(2, 3), 1, (0, 0)), cr.OpError, "rot90: the rotation dims must"),
    (lambda: cr.fliplr(cr.ones(3)), cr.OpError, "fliplr: needs a tensor of at least 2 dims"),
    (lambda: cr.diag(cr.ones(2, 3, 4)), cr.OpError, "diag: takes a 1-D or 2-D tensor"),
    (lambda: cr.diagonal(cr.ones(2, 3), 0, 1, -1), cr.OpError, "diagonal: dim1 and dim2 must"),
    (lambda: cr.diagonal(cr.ones(3), 0), cr.OpError, "diagonal: needs a tensor of at least 2"),
    (lambda: cr.diag_embed(cr.ones(3), 0, 0, -2), cr.OpError, "diag_embed: dim1 and dim2"),
    (lambda: cr.ones(2, 3).sum_to_size(4), cr.OpError, r"sum_to_size: size \(4,\) is not"),
    (lambda: cr.block_diag(cr.ones(1, 2, 3)), cr.OpError, "block_diag: takes tensors of at most"),
    (lambda: cr.meshgrid(cr.ones(2), indexing="ji"), cr.OpError, "meshgrid: indexing must be"),
    (lambda: cr.combinations(cr.ones(2, 2)), cr.OpError, "combinations: takes a 1-D tensor"),
    (lambda: cr.cross(cr.ones(4, 3), cr.ones(3), dim=1), cr.OpError, "same number of dims"),
    (lambda: cr.cross(cr.ones(3, 4), cr.ones(3, 4), dim=1), cr.OpError, "must have size 3"),
    (lambda: cr.tensordot(cr.ones(2, 3, 4), cr.ones(4, 3, 5), 2), cr.OpError,
     "tensordot: contracted dims must match"),
    (lambda: cr.addmm(cr.ones(3), cr.ones(2, 3), cr.ones(3, 4)), cr.OpError,
     r"addmm: input of shape \(3,\) does not broadcast"),
    (lambda: cr.addmm(cr.ones(2, 4), cr.ones(2, 3), cr.ones(2, 4)), cr.OpError,
     "addmm: shapes .* cannot be multiplied"),
    (lambda: cr.baddbmm(cr.ones(2, 4), cr.ones(2, 2, 3), cr.ones(3, 3, 4)), cr.OpError,
     "baddbmm: batch1 .* same number of matrices"),
    (lambda: cr.index_add(cr.zeros(2, 3), 1, cr.tensor([-1]), cr.ones(2, 1)), cr.OpIndexError,
     "index_add: index -1 is out of range .* not negative"),
    (lambda: cr.index_copy(cr.zeros(2, 3), 1, cr.tensor([3]), cr.ones(2, 1)), cr.OpIndexError,
     "index_copy: index 3 is out of range"),
    (lambda: cr.index_fill(cr.zeros(2, 3), 1, cr.tensor([3]), 1.0), cr.OpIndexError,
     "index_fill: index 3 is out of range"),
    (lambda: cr.index_add(cr.zeros(2, 3), 1, cr.tensor([[0]]), cr.ones(2, 1)), cr.OpIndexError,
     "index_add: index must be a vector"),
    (lambda: cr.index_add(cr.zeros(2, 3), 1, cr.tensor([0.0]), cr.ones(2, 1)), cr.OpError,
     "index_add: index must be an integer tensor"),
    (lambda: cr.index_add(cr.zeros(2, 3), 1, cr.tensor([0]), cr.ones(2, 2)), cr.OpError,
     r"index_add: source of shape \(2, 2\) must have"),
    (lambda: cr.index_add(cr.zeros(2, 3), 1, cr.tensor([0]), cr.ones(2, 1, dtype=cr.float64)),
     cr.OpError, "index_add: the input .* must have the same dtype"),
    (lambda: cr.index_fill(cr.zeros(2, 3), 1, cr.tensor([0]), cr.ones(2)), cr.OpError,
     "index_fill: a tensor value must be 0-d"),
    (lambda: cr.index_put(cr.zeros(2, 3), (cr.tensor([2]),), cr.tensor(1.0)), cr.OpIndexError,
     "index_put: index 2 is out of range"),
    (lambda: cr.index_put(cr.zeros(2, 3), (cr.tensor([0]),), cr.ones(2)), cr.OpError,
     "index_put: values of shape"),
    (lambda: cr.index_put(cr.zeros(2, 3), cr.tensor([0]), cr.ones(3)), TypeError,
     "index_put: indices must be a tuple"),
    (lambda: cr.take(cr.zeros(2, 3), cr.tensor([6])), cr.OpIndexError,
     "take: index 6 is out of range"),
    (lambda: cr.put(cr.zeros(2, 3), cr.tensor([-7]), cr.ones(1)), cr.OpIndexError,
     "put: index -7 is out of range"),
    (lambda: cr.put(cr.zeros(2, 3), cr.tensor([0, 1]), cr.ones(3)), cr.OpError,
     "put: source .* same number of elements"),
    (lambda: cr.masked_select(cr.zeros(3), cr.ones(3)), cr.OpError,
     "masked_select: the mask must be a bool tensor"),
    (lambda: cr.masked_scatter(cr.zeros(3), cr.ones(3, dtype=cr.bool), cr.ones(2)), cr.OpError,
     "masked_scatter: source has 2 elements, fewer than the 3"),
    (lambda: cr.scatter(cr.zeros(2, 3), 1, cr.tensor([[-1]]), cr.ones(1, 1)), cr.OpIndexError,
     "scatter: index -1 is out of range"),
    (lambda: cr.scatter(cr.zeros(2, 3), 1, cr.tensor([[3]]), cr.ones(1, 1)), cr.OpIndexError,
     "scatter: index 3 is out of range"),
    (lambda: cr.scatter(cr.zeros(2, 3), 1, cr.tensor([[0]])), cr.OpError,
     "scatter: give either src"),
    (lambda: cr.scatter(cr.zeros(2, 3), 1, cr.tensor([[0]]), 1.0, reduce="mean"), cr.OpError,
     "scatter: reduce must be 'add' or 'multiply'"),
    (lambda: cr.scatter(cr.zeros(2, 3), 1, cr.tensor([[0], [0], [0]]), cr.ones(3, 1)),
     cr.OpError, "scatter: index of shape"),
    (lambda: cr.scatter_reduce(cr.zeros(2, 3), 1, cr.tensor([[0]]), cr.ones(1, 1), "max"),
     cr.OpError, "scatter_reduce: reduce must be one of"),
    (lambda: cr.scatter_reduce(cr.zeros(2, 3), 1, cr.tensor([[-1]]), cr.ones(1, 1), "sum"),
     cr.OpIndexError, "scatter_reduce: index -1 is out of range"),
])
def test_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("call", [lambda T, x: T.flip(x, (0,)), lambda T, x: x.flip(-1),
                                  lambda T, x: T.movedim(x, 0, -1), lambda T, x: x.moveaxis(-1, 0)])
def test_a_zero_dim_tensors_dim_0_is_itself(call):
    # PyTorch accepts dim 0 or -1 of a 0-d tensor (flip, movedim): the tensor, unchanged
    x, tx = cr.tensor(2.5, requires_grad=True), torch.tensor(2.5, requires_grad=True)
    out, tout = call(cr, x), call(torch, tx)
    out.backward()
    tout.backward()
    assert out.shape == tuple(tout.shape) == () and out.item() == tout.item()
    assert x.grad.item() == tx.grad.item() == 1.0
