"""Sorting, selection and statistics (``cr.sort``, ``cr.topk``, ``cr.quantile``, ``cr.unique``,
``cr.cdist``, ...) against PyTorch: values, indices, and gradients in float64 (1e-10) and
float32 (1e-5), plus central differences and the error messages."""
# ruff: noqa: B023 - the lambdas in loops are called at once, inside the same iteration

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import close, outputs, parity

import chainrule as cr

torch = pytest.importorskip("torch")

NAN = float("nan")
DTYPES = [np.float64, np.float32]


def _distinct(shape: tuple, seed: int = 0) -> np.ndarray:
    """Values without ties (a permutation, scaled), so every index is unambiguous."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.37 - n * 0.11 + rng.uniform(0, 0.01, n)).reshape(shape)


def gradcheck(fn: Callable, *arrays: np.ndarray) -> None:
    xs = [cr.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    assert cr.gradcheck(fn, xs, atol=1e-6, rtol=1e-5)


# --------------------------------------------------------------------------- sort and selection

SHAPES_DIMS = [((5,), 0), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), -3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPES_DIMS)
@pytest.mark.parametrize("descending", [False, True])
def test_sort_values_indices_and_gradient(dtype, shape, dim, descending):
    a = _distinct(shape)
    parity(lambda x: cr.sort(x, dim, descending), lambda t: torch.sort(t, dim, descending),
           a, dtype=dtype)
    parity(lambda x: x.argsort(dim, descending), lambda t: t.argsort(dim, descending), a,
           dtype=dtype, grad=False)


def test_sort_is_stable_and_puts_nan_last_as_torch():
    for a in ([3., 1., 3., 2., 1., 3.], [1., NAN, 3., NAN, 0., 1.], [[2., 2., NAN], [1., 1., 1.]]):
        for desc in (False, True):
            parity(lambda x: cr.sort(x, -1, desc, stable=True),
                   lambda t: torch.sort(t, dim=-1, descending=desc, stable=True), np.array(a))
    b = np.array([True, False, True])
    out = cr.sort(cr.tensor(b), descending=True)
    assert out.indices.tolist() == [0, 2, 1] and out.values.tolist() == [True, True, False]


def test_sort_of_0d_empty_and_msort():
    parity(lambda x: cr.sort(x), lambda t: torch.sort(t), np.array(2.5))
    parity(lambda x: cr.sort(x, 1), lambda t: torch.sort(t, 1), np.zeros((0, 3)))
    parity(lambda x: cr.msort(x), lambda t: torch.msort(t), _distinct((4, 3)))
    out = cr.sort(cr.tensor([[3, 1], [0, 2]]), 0)
    assert out.values.tolist() == [[0, 1], [3, 2]] and out.values.dtype == np.int64


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPES_DIMS)
@pytest.mark.parametrize("largest", [True, False])
def test_topk(dtype, shape, dim, largest):
    a = _distinct(shape, 2)
    for k in (0, 1, 2):
        parity(lambda x: cr.topk(x, k, dim, largest), lambda t: torch.topk(t, k, dim, largest),
               a, dtype=dtype)
    parity(lambda x: x.topk(2, dim=dim, largest=largest),
           lambda t: t.topk(2, dim=dim, largest=largest), a, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPES_DIMS)
@pytest.mark.parametrize("keepdim", [False, True])
def test_kthvalue_median_mode_with_dim(dtype, shape, dim, keepdim):
    a = _distinct(shape, 3)
    n = shape[dim]
    for k in (1, n // 2 + 1, n):
        parity(lambda x: cr.kthvalue(x, k, dim, keepdim),
               lambda t: torch.kthvalue(t, k, dim, keepdim), a, dtype=dtype)
    parity(lambda x: x.median(dim, keepdim), lambda t: t.median(dim, keepdim), a, dtype=dtype)
    parity(lambda x: cr.nanmedian(x, dim, keepdim), lambda t: torch.nanmedian(t, dim, keepdim),
           a, dtype=dtype)
    parity(lambda x: cr.mode(x, dim, keepdim), lambda t: torch.mode(t, dim, keepdim), a,
           dtype=dtype)


def test_median_and_mode_ties_and_nan_as_torch():
    rows = np.array([[1., 2., 2., 1.], [3., 1., 3., 2.], [1., NAN, 3., NAN], [NAN, NAN, 5., 4.]])
    parity(lambda x: cr.median(x, 1), lambda t: torch.median(t, 1), rows)
    parity(lambda x: cr.nanmedian(x, 1), lambda t: torch.nanmedian(t, 1), rows)
    parity(lambda x: cr.mode(x, 1), lambda t: torch.mode(t, 1), rows[:3])
    parity(lambda x: cr.mode(x, 0), lambda t: torch.mode(t, 0),
           np.array([[1., 2.], [1., 3.], [2., 3.], [2., 2.]]))
    all_nan = np.array([[NAN, NAN], [1., NAN]])
    parity(lambda x: cr.nanmedian(x, 1), lambda t: torch.nanmedian(t, 1), all_nan)


@pytest.mark.parametrize("dtype", DTYPES)
def test_median_of_all_shares_the_gradient_among_ties(dtype):
    for a in ([1., 2., 2., 3.], [[4., 1.], [2., 2.]], [1., NAN, 2., NAN], _distinct((3, 5)),
              [5.0]):
        parity(cr.median, torch.median, np.array(a), dtype=dtype)
    for a in ([1., NAN, 2., 2., NAN], [NAN, NAN], [[3., NAN], [1., 2.]]):
        parity(cr.nanmedian, torch.nanmedian, np.array(a), dtype=dtype)
    assert np.isnan(cr.median(cr.tensor(np.zeros(0))).item())
    assert cr.median(cr.tensor([3, 1, 2])).item() == 2


@pytest.mark.parametrize("dtype", DTYPES)
def test_an_infinite_median_of_all_shares_its_gradient_too(dtype):
    # (the median's ties at ±inf get their share, as in torch, not a zero gradient)
    for a in ([np.inf, np.inf, 1.], [-np.inf, -np.inf, 0., 2.], [1., np.inf, np.inf, np.inf]):
        parity(cr.median, torch.median, np.array(a), dtype=dtype)
    parity(cr.nanmedian, torch.nanmedian, np.array([NAN, np.inf, np.inf]), dtype=dtype)


def test_selection_of_0d_tensors():
    a = np.array(1.5)
    for f, g in ((lambda x: cr.kthvalue(x, 1), lambda t: torch.kthvalue(t, 1)),
                 (lambda x: cr.median(x, 0), lambda t: torch.median(t, 0)),
                 (lambda x: cr.mode(x), lambda t: torch.mode(t)),
                 (lambda x: cr.topk(x, 1), lambda t: torch.topk(t, 1)),
                 (lambda x: cr.cummax(x, 0), lambda t: torch.cummax(t, 0))):
        parity(f, g, a)


def test_selection_gradients_by_central_differences():
    a = _distinct((3, 4), 5)
    gradcheck(lambda x: cr.sort(x, 0, True).values, a)
    gradcheck(lambda x: cr.topk(x, 2).values, a)
    gradcheck(lambda x: cr.kthvalue(x, 2, 0).values, a)
    gradcheck(lambda x: cr.median(x, 1).values, a)
    gradcheck(cr.median, a)
    gradcheck(lambda x: cr.cummax(x, 1).values, a)
    gradcheck(lambda x: cr.cummin(x, 0).values, a)


def test_tied_selection_sends_the_gradient_to_the_returned_index():
    x = cr.tensor([3., 1., 3., 2., 3.], requires_grad=True)
    out = cr.topk(x, 2)
    out.values.sum().backward()
    expected = np.zeros(5)
    expected[out.indices.data] = 1
    assert out.values.tolist() == [3., 3.]
    np.testing.assert_array_equal(x.grad.data, expected)


# --------------------------------------------------------------------------- scans

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", SHAPES_DIMS)
def test_cummax_cummin_logcumsumexp(dtype, shape, dim):
    a = _distinct(shape, 4)
    parity(lambda x: cr.cummax(x, dim), lambda t: torch.cummax(t, dim), a, dtype=dtype)
    parity(lambda x: x.cummin(dim), lambda t: t.cummin(dim), a, dtype=dtype)
    parity(lambda x: cr.logcumsumexp(x, dim), lambda t: torch.logcumsumexp(t, dim), a,
           dtype=dtype)
    parity(lambda x: x.logcumsumexp(dim), lambda t: t.logcumsumexp(dim), a * 300, dtype=dtype)


def test_cummax_ties_and_nan_as_torch():
    for a in ([3., 1., 3., 2., 1., 3.], [1., NAN, 3., NAN, 0.], [[2., 2.], [2., 1.]]):
        parity(lambda x: cr.cummax(x, 0), lambda t: torch.cummax(t, 0), np.array(a))
        parity(lambda x: cr.cummin(x, 0), lambda t: torch.cummin(t, 0), np.array(a))
    parity(lambda x: cr.cummax(x, 0), lambda t: torch.cummax(t, 0), np.zeros(0))


def test_logcumsumexp_is_stable_and_has_second_derivatives():
    a = np.array([-1000., 0., 1000., 999., -5.])
    parity(lambda x: cr.logcumsumexp(x, 0), lambda t: torch.logcumsumexp(t, 0), a)
    x = cr.tensor(_distinct((3, 4)), requires_grad=True)
    assert cr.gradgradcheck(lambda v: cr.logcumsumexp(v, 1), [x])
    y = cr.tensor(_distinct((3, 4)), requires_grad=True)
    t = torch.tensor(y.data, requires_grad=True)
    (g,) = cr.autograd.grad(cr.logcumsumexp(y, 0).sin().sum(), [y], create_graph=True)
    (gt,) = torch.autograd.grad(torch.logcumsumexp(t, 0).sin().sum(), [t], create_graph=True)
    close(g, gt, 1e-10, "first derivative")
    (g.sum()).backward()
    (gt.sum()).backward()
    close(y.grad, t.grad, 1e-10, "second derivative")


# --------------------------------------------------------------------------- quantile

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (None, True), (1, False), (-1, True),
                                         (0, True)])
def test_quantile(dtype, interpolation, dim, keepdim):
    a = _distinct((3, 5), 6)
    q_tensor = np.array([0.0, 0.125, 0.5, 0.625, 1.0])
    for q in (0.3, 0.5, 1.0):
        parity(lambda x: cr.quantile(x, q, dim, keepdim, interpolation=interpolation),
               lambda t: torch.quantile(t, q, dim, keepdim, interpolation=interpolation), a,
               dtype=dtype)
    parity(lambda x, q: x.quantile(q.detach(), dim, keepdim, interpolation=interpolation),
           lambda t, q: t.quantile(q.detach(), dim, keepdim, interpolation=interpolation),
           a, q_tensor, dtype=dtype)


@pytest.mark.parametrize("interpolation", ["linear", "nearest", "midpoint"])
def test_quantile_with_nan_ties_and_0d(interpolation):
    a = np.array([[1., NAN, 3., 2.], [4., 5., 6., 5.], [NAN, NAN, NAN, NAN]])
    q = np.array([0.25, 0.5, 0.9])
    parity(lambda x, q: cr.quantile(x, q.detach(), 1, interpolation=interpolation),
           lambda t, q: torch.quantile(t, q.detach(), 1, interpolation=interpolation), a, q)
    parity(lambda x, q: cr.nanquantile(x, q.detach(), 1, True, interpolation=interpolation),
           lambda t, q: torch.nanquantile(t, q.detach(), 1, True, interpolation=interpolation),
           a, q)
    parity(lambda x: cr.quantile(x, 0.3), lambda t: torch.quantile(t, 0.3), np.array(3.))
    parity(lambda x: cr.quantile(x, 0.3, 0, True), lambda t: torch.quantile(t, 0.3, 0, True),
           np.array(3.))
    gradcheck(lambda x: cr.quantile(x, 0.3, 0), _distinct((4, 3)))


# --------------------------------------------------------------------------- reductions

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim,keepdim", [(None, False), (1, False), (-1, True), (0, True)])
def test_aminmax_nansum_nanmean(dtype, dim, keepdim):
    a = np.array([[2., 1., 2., NAN], [3., 3., 0., 1.], [5., 4., 3., 3.]])
    finite = np.where(np.isnan(a), 7.0, a)
    kw = {} if dim is None else {"dim": dim}
    parity(lambda x: cr.aminmax(x, **kw, keepdim=keepdim),
           lambda t: torch.aminmax(t, **kw, keepdim=keepdim), finite, dtype=dtype)
    parity(lambda x: cr.nansum(x, dim, keepdim), lambda t: torch.nansum(t, dim, keepdim), a,
           dtype=dtype)
    parity(lambda x: x.nanmean(dim, keepdim), lambda t: t.nanmean(dim, keepdim), a, dtype=dtype)
    parity(lambda x: cr.nanmean(x, (0, 1)), lambda t: torch.nanmean(t, (0, 1)), a, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_std_mean_var_mean(dtype):
    a = _distinct((3, 4), 7)
    for args, kw in (((), {}), ((1,), {}), ((0,), {"keepdim": True, "correction": 0}),
                     (((0, 1),), {"correction": 2}), ((True,), {}), ((1, False, True), {})):
        parity(lambda x: cr.std_mean(x, *args, **kw), lambda t: torch.std_mean(t, *args, **kw),
               a, dtype=dtype)
        parity(lambda x: cr.var_mean(x, *args, **kw), lambda t: torch.var_mean(t, *args, **kw),
               a, dtype=dtype)


def test_count_nonzero_all_any():
    a = np.array([[1, 0, 2], [0, 0, 3]])
    for dim in (None, 0, -1, (0, 1)):
        parity(lambda x: cr.count_nonzero(x, dim), lambda t: torch.count_nonzero(t, dim), a,
               grad=False)
        parity(lambda x: x.count_nonzero(dim), lambda t: t.count_nonzero(dim), a, grad=False)
    b = np.array([[True, False], [True, True]])
    for dim in (None, 0, 1, (0, 1)):
        for keepdim in (False, True):
            kw = {} if dim is None else {"dim": dim, "keepdim": keepdim}
            parity(lambda x: cr.all(x, **kw), lambda t: torch.all(t, **kw), b, grad=False)
            parity(lambda x: cr.any(x, **kw), lambda t: torch.any(t, **kw), b, grad=False)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,dim", [(1, -1), (2, 0), (3, 1), (0, -1), (6, -1)])
def test_diff(dtype, n, dim):
    a = _distinct((4, 5), 8)
    parity(lambda x: cr.diff(x, n, dim), lambda t: torch.diff(t, n, dim), a, dtype=dtype)
    parity(lambda x, p, q: x.diff(n, 1, prepend=p, append=q),
           lambda t, p, q: t.diff(n, 1, prepend=p, append=q), a, _distinct((4, 2), 1),
           _distinct((4, 1), 2), dtype=dtype)
    b = np.array([True, False, False, True])
    assert cr.diff(cr.tensor(b)).tolist() == torch.diff(torch.tensor(b)).tolist()


# --------------------------------------------------------------------------- unique, counting

def _same(ours: Any, theirs: Any) -> None:
    ours, theirs = outputs(ours), outputs(theirs)
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        assert o.shape == tuple(t.shape)
        np.testing.assert_array_equal(o.data, t.numpy())
        assert o.dtype == np.dtype(str(t.dtype).replace("torch.", ""))


def test_unique_and_unique_consecutive():
    a = np.array([[3, 1, 2], [1, 3, 3], [3, 1, 2]])
    for kw in ({}, {"return_inverse": True}, {"return_counts": True},
               {"return_inverse": True, "return_counts": True}):
        for dim in (None, 0, 1, -1):
            _same(cr.unique(cr.tensor(a), dim=dim, **kw), torch.unique(torch.tensor(a), dim=dim,
                                                                       **kw))
            _same(cr.tensor(a).unique_consecutive(dim=dim, **kw),
                  torch.tensor(a).unique_consecutive(dim=dim, **kw))
    f = np.array([NAN, 1., NAN, 1., 1.])
    _same(cr.unique(cr.tensor(f), return_counts=True), torch.unique(torch.tensor(f),
                                                                    return_counts=True))
    _same(cr.unique(cr.tensor(np.zeros(0))), torch.unique(torch.tensor(np.zeros(0))))


def test_bincount_histc():
    x = np.array([0, 1, 1, 3, 5])
    _same(cr.bincount(cr.tensor(x)), torch.bincount(torch.tensor(x)))
    _same(cr.tensor(x).bincount(minlength=8), torch.tensor(x).bincount(minlength=8))
    for w in (np.array([.5, 1., 1., 2., 3.]), np.array([.5, 1., 1., 2., 3.], np.float32),
              np.array([1, 2, 3, 4, 5])):
        _same(cr.bincount(cr.tensor(x), cr.tensor(w)),
              torch.bincount(torch.tensor(x), torch.tensor(w)))
    _same(cr.bincount(cr.tensor(np.zeros(0, np.int64))),
          torch.bincount(torch.tensor(np.zeros(0, np.int64))))
    rng = np.random.default_rng(0)
    for dtype in DTYPES:
        v = rng.standard_normal(200).astype(dtype)
        for kw in ({}, {"bins": 7}, {"bins": 5, "min": -1, "max": 1}, {"bins": 3, "min": 0.5,
                                                                       "max": 0.5}):
            _same(cr.histc(cr.tensor(v), **kw), torch.histc(torch.tensor(v), **kw))
    _same(cr.tensor([1., 2, 1, 4]).histc(4, 0, 3), torch.tensor([1., 2, 1, 4]).histc(4, 0, 3))


def test_histc_puts_values_on_bin_edges_where_torch_does():
    # (float32 values on a decimal grid fall on bin edges: torch bins them in float32)
    for dtype in DTYPES:
        x = (np.arange(50) * 0.1).astype(dtype)
        for lo, hi, bins in ((0.3, 12.9, 7), (0.3, 2.4, 15), (1.5, 2.3, 20), (0.1, 4.0, 13)):
            _same(cr.histc(cr.tensor(x), bins, lo, hi), torch.histc(torch.tensor(x), bins, lo, hi))


def test_searchsorted_bucketize():
    seq = np.array([1., 3., 3., 5., 7.])
    vals = np.array([[3., 6., 9.], [0., 1., 7.]])
    for kw in ({}, {"right": True}, {"side": "right"}, {"side": "left"}, {"out_int32": True}):
        _same(cr.searchsorted(cr.tensor(seq), cr.tensor(vals), **kw),
              torch.searchsorted(torch.tensor(seq), torch.tensor(vals), **kw))
    rows = np.array([[1., 3., 5., 7.], [2., 4., 6., 8.]])
    _same(cr.searchsorted(cr.tensor(rows), cr.tensor(vals[:, :2]), right=True),
          torch.searchsorted(torch.tensor(rows), torch.tensor(vals[:, :2]), right=True))
    unsorted, order = np.array([5., 1., 3.]), np.array([1, 2, 0])
    _same(cr.searchsorted(cr.tensor(unsorted), cr.tensor([3., 4.]), sorter=cr.tensor(order)),
          torch.searchsorted(torch.tensor(unsorted), torch.tensor([3., 4.]),
                             sorter=torch.tensor(order)))
    _same(cr.searchsorted(cr.tensor(seq), 3.0), torch.searchsorted(torch.tensor(seq), 3.0))
    for right in (False, True):
        _same(cr.bucketize(cr.tensor(vals), cr.tensor(seq), right=right),
              torch.bucketize(torch.tensor(vals), torch.tensor(seq), right=right))


def test_nonzero_argwhere():
    for a in (np.array([[1, 0], [0, 3]]), np.array(5), np.array(0), np.zeros((2, 0)),
              np.array([0., 2., NAN])):
        _same(cr.nonzero(cr.tensor(a)), torch.nonzero(torch.tensor(a)))
        _same(cr.tensor(a).nonzero(as_tuple=True), torch.tensor(a).nonzero(as_tuple=True))
        _same(cr.argwhere(cr.tensor(a)), torch.argwhere(torch.tensor(a)))


# --------------------------------------------------------------------------- float checks

def test_isposinf_isneginf_and_methods():
    a = np.array([1., np.inf, -np.inf, NAN])
    for name in ("isnan", "isinf", "isfinite", "isposinf", "isneginf"):
        _same(getattr(cr.tensor(a), name)(), getattr(torch.tensor(a), name)())
        _same(getattr(cr, name)(cr.tensor(a)), getattr(torch, name)(torch.tensor(a)))
    _same(cr.isposinf(cr.tensor([1, 2])), torch.isposinf(torch.tensor([1, 2])))


@pytest.mark.filterwarnings("ignore:overflow")  # (the test's loss: float max × g)
@pytest.mark.parametrize("dtype", DTYPES)
def test_nan_to_num_passes_the_gradient_where_kept(dtype):
    a = np.array([[1.5, NAN, np.inf], [-np.inf, -2., 0.]])
    parity(cr.nan_to_num, torch.nan_to_num, a, dtype=dtype)
    parity(lambda x: x.nan_to_num(1.0, 5.0, -5.0), lambda t: t.nan_to_num(1.0, 5.0, -5.0), a,
           dtype=dtype)
    _same(cr.nan_to_num(cr.tensor([1, 2])), torch.nan_to_num(torch.tensor([1, 2])))


def test_isclose_allclose_equal():
    a = np.array([1., 1.1, np.inf, NAN, 0.])
    b = np.array([1. + 1e-9, 1.0, np.inf, NAN, 1e-9])
    for kw in ({}, {"equal_nan": True}, {"rtol": 0.2}, {"atol": 0.0}):
        _same(cr.isclose(cr.tensor(a), cr.tensor(b), **kw),
              torch.isclose(torch.tensor(a), torch.tensor(b), **kw))
        assert cr.tensor(a).allclose(cr.tensor(b), **kw) == torch.allclose(
            torch.tensor(a), torch.tensor(b), **kw)
    assert cr.allclose(cr.tensor([1., 2.]), cr.tensor([1., 2. + 1e-12]))
    assert cr.tensor([1, 2]).equal(cr.tensor([1, 2]))
    assert not cr.tensor([1, 2]).equal(cr.tensor([1, 3]))


# --------------------------------------------------------------------------- distances

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0, 0.5, 1, 2, 3, float("inf")])
def test_dist_and_cdist(dtype, p):
    a, b = _distinct((4, 3), 1), _distinct((5, 3), 2)
    grad = p != 0  # (p = 0 counts non-zeros: PyTorch leaves the gradient undefined, ours is 0)
    parity(lambda x, y: cr.dist(x, y, p), lambda s, t: torch.dist(s, t, p), a, b[:4],
           dtype=dtype, grad=grad)
    parity(lambda x, y: x.dist(y, p), lambda s, t: s.dist(t, p), a, b[:1], dtype=dtype,
           grad=grad)
    parity(lambda x, y: cr.cdist(x, y, p), lambda s, t: torch.cdist(s, t, p), a, b,
           dtype=dtype, grad=grad)
    batched = _distinct((2, 3, 4), 3), _distinct((2, 2, 4), 4)
    parity(lambda x, y: cr.cdist(x, y, p), lambda s, t: torch.cdist(s, t, p), *batched,
           dtype=dtype, grad=grad)
    if not grad:
        x = cr.tensor(a, requires_grad=True)
        cr.cdist(x, cr.tensor(b), p).sum().backward()
        assert not x.grad.data.any()


@pytest.mark.parametrize("p", [0, 0.5, 1, 2, 3, float("inf")])
def test_cdist_gradient_at_zero_distance_and_ties_as_torch(p):
    a = np.array([[0., 0.], [1., 2.], [1., 1.]])
    b = np.array([[0., 0.], [1., 1.]])
    parity(lambda x, y: cr.cdist(x, y, p), lambda s, t: torch.cdist(s, t, p), a, b,
           grad=p != 0)
    parity(lambda x, y: cr.dist(x, y, p), lambda s, t: torch.dist(s, t, p), a[:2], b,
           grad=p != 0)


def test_cdist_gradients_by_central_differences():
    a, b = _distinct((3, 2), 1), _distinct((4, 2), 2)
    for p in (1, 2, 3, float("inf")):
        gradcheck(lambda x, y: cr.cdist(x, y, p), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p,dim,maxnorm", [(2, 0, 1.0), (1, 1, 2.5), (3, -1, 0.5),
                                           (2, 0, 100.0)])
def test_renorm(dtype, p, dim, maxnorm):
    a = _distinct((3, 4), 9)
    parity(lambda x: cr.renorm(x, p, dim, maxnorm), lambda t: torch.renorm(t, p, dim, maxnorm),
           a, dtype=dtype)
    parity(lambda x: x.renorm(p, dim, maxnorm), lambda t: t.renorm(p, dim, maxnorm),
           _distinct((2, 3, 2), 1), dtype=dtype)


def test_top_level_cosine_similarity_and_pairwise_distance():
    a, b = _distinct((3, 4), 1), _distinct((3, 4), 2)
    parity(lambda x, y: cr.cosine_similarity(x, y), lambda s, t: torch.cosine_similarity(s, t),
           a, b)
    parity(lambda x, y: cr.pairwise_distance(x, y, 3), lambda s, t: torch.pairwise_distance(
        s, t, 3), a, b)


@pytest.mark.parametrize("shapes,dim", [(((1,), (3, 4)), -1), (((3, 1), (3, 4)), 1),
                                        (((1, 4), (3, 4)), 0), (((2, 1, 4), (3, 1)), -1)])
def test_cosine_similarity_broadcasts_before_the_norms(shapes, dim):
    # a size-1 dim against a longer one is that value repeated: PyTorch broadcasts first, and
    # the cosine stays within [-1, 1] (taking the norms first gave 1.10 for the first case)
    a, b = _distinct(shapes[0], 3), _distinct(shapes[1], 4)
    parity(lambda x, y: cr.nn.functional.cosine_similarity(x, y, dim=dim),
           lambda s, t: torch.nn.functional.cosine_similarity(s, t, dim=dim), a, b)


def test_numpy_nan_statistics_on_tensors_are_chainrule_ops():
    a = np.array([[1., NAN, 3.], [np.inf, 2., NAN]])
    t = cr.tensor(a, requires_grad=True)
    for fn in (np.nansum, np.nanmean):
        for axis in (None, 0, (0, 1)):
            out = fn(t, axis=axis, keepdims=True)
            assert isinstance(out, cr.Tensor) and out.requires_grad
            np.testing.assert_allclose(out.detach().numpy(), fn(a, axis=axis, keepdims=True))
        assert fn(cr.tensor(a, dtype=cr.float32), dtype=np.float64).dtype == np.float64
    out = np.nan_to_num(t, nan=-1.0, posinf=9.0)
    np.testing.assert_array_equal(out.detach().numpy(), np.nan_to_num(a, nan=-1.0, posinf=9.0))
    np.nansum(t).backward()
    np.testing.assert_array_equal(t.grad.numpy(), ~np.isnan(a))


# --------------------------------------------------------------------------- errors

@pytest.mark.parametrize("call,error,words", [
    (lambda: cr.topk(cr.ones(3), 4), RuntimeError, ["topk", "k=4", "size 3"]),
    (lambda: cr.kthvalue(cr.ones(3), 0), RuntimeError, ["kthvalue", "k=0"]),
    (lambda: cr.kthvalue(cr.ones((0, 2)), 1, 0), IndexError, ["kthvalue", "non-zero size"]),
    (lambda: cr.unique(cr.tensor(1.), dim=0), IndexError, ["unique", "no dimensions"]),
    (lambda: cr.unique_consecutive(cr.tensor(1.), dim=0), IndexError,
     ["unique_consecutive", "no dimensions"]),
    (lambda: cr.searchsorted(cr.tensor([3., 1.]), cr.tensor([2.]), sorter=cr.tensor([1, 2])),
     RuntimeError, ["searchsorted", "sorter index out of range"]),
    (lambda: cr.median(cr.ones((0, 2)), 0), IndexError, ["median", "non-zero size"]),
    (lambda: cr.mode(cr.ones(0)), IndexError, ["mode", "non-zero size"]),
    (lambda: cr.sort(cr.ones((2, 3)), 2), IndexError, ["sort", "dim 2", "out of range"]),
    (lambda: cr.quantile(cr.ones(3), 1.5), RuntimeError, ["quantile", "[0, 1]", "1.5"]),
    (lambda: cr.quantile(cr.ones(3, dtype=cr.float64), cr.tensor([0.5], dtype=cr.float32)),
     RuntimeError,
     ["same dtype"]),
    (lambda: cr.quantile(cr.tensor([1, 2]), 0.5), RuntimeError, ["float or double", "int64"]),
    (lambda: cr.quantile(cr.ones(0), 0.5), RuntimeError, ["non-empty"]),
    (lambda: cr.quantile(cr.ones(3), 0.5, interpolation="cubic"), ValueError, ["cubic"]),
    (lambda: cr.logcumsumexp(cr.tensor([1, 2]), 0), TypeError, ["logcumsumexp", "int64"]),
    (lambda: cr.aminmax(cr.ones(0)), RuntimeError, ["aminmax", "empty"]),
    (lambda: cr.nanmean(cr.tensor([1, 2])), RuntimeError, ["nanmean", "int64"]),
    (lambda: cr.diff(cr.tensor(1.)), RuntimeError, ["one-dimensional"]),
    (lambda: cr.diff(cr.ones(3), -1), RuntimeError, ["non-negative"]),
    (lambda: cr.diff(cr.ones(3), prepend=cr.ones((1, 1))), RuntimeError, ["prepend", "dims"]),
    (lambda: cr.bincount(cr.tensor([-1, 2])), RuntimeError, ["non-negative integral"]),
    (lambda: cr.bincount(cr.tensor([1., 2.])), RuntimeError, ["dtype float"]),
    (lambda: cr.bincount(cr.tensor([1, 2]), cr.ones(3)), RuntimeError, ["weights", "(3,)"]),
    (lambda: cr.histc(cr.tensor([1, 2])), RuntimeError, ["histc", "floating"]),
    (lambda: cr.searchsorted(cr.tensor([1, 2]), cr.tensor([1]), side="left", right=True),
     RuntimeError, ["opposites"]),
    (lambda: cr.searchsorted(cr.ones((2, 3)), cr.ones((3, 1))), RuntimeError,
     ["leading dims"]),
    (lambda: cr.bucketize(cr.ones(2), cr.ones((2, 2))), RuntimeError, ["1-D"]),
    (lambda: cr.cdist(cr.ones((2, 3)), cr.ones((2, 4))), RuntimeError, ["columns", "(2, 4)"]),
    (lambda: cr.cdist(cr.ones((2, 3)), cr.ones((2, 3)), p=-1), RuntimeError, ["non-negative"]),
    (lambda: cr.renorm(cr.ones((2, 3)), -1, 0, 1.0), RuntimeError, ["non-positive"]),
    (lambda: cr.isclose(cr.ones(2, dtype=cr.float64), cr.ones(2, dtype=cr.float32)),
     RuntimeError,
     ["float64", "float32"]),
    (lambda: cr.isclose(cr.ones(2), cr.ones(3)), ValueError, ["(2,)", "(3,)"]),
])
def test_errors_name_the_op_and_the_problem(call, error, words):
    with pytest.raises(error) as info:
        call()
    for w in words:
        assert w in str(info.value), f"{w!r} not in {info.value}"


def test_results_are_named_tuples_like_torch():
    x = cr.tensor(_distinct((3, 4)))
    assert cr.sort(x).values.shape == (3, 4) and cr.sort(x).indices.dtype == np.int64
    assert type(cr.sort(x)).__name__ == "sort" and type(cr.topk(x, 1)).__name__ == "topk"
    mn, mx = cr.aminmax(x)
    assert cr.aminmax(x).min is mn or cr.aminmax(x).min.item() == mn.item()
    assert mx.item() == x.data.max()
    for name in ("kthvalue", "median", "nanmedian", "mode", "cummax", "cummin"):
        fn = getattr(cr, name)
        out = fn(x, 1, 0) if name == "kthvalue" else fn(x, 0)
        assert type(out).__name__ == name and out._fields == ("values", "indices")
