"""More shape, statistics and linear algebra functions (``cr.repeat_interleave``, ``cr.cov``,
``cr.histogram``, ``cr.cholesky_solve``, ``cr.index_reduce``, ``cr.gradient``, ...) against
PyTorch: values and gradients in float64 (1e-10) and float32 (1e-5), central differences, and
the error messages."""
# ruff: noqa: B023 - the lambdas in loops are called at once, inside the same iteration

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, close, parity

import chainrule as cr

torch = pytest.importorskip("torch")

DTYPES = [np.float64, np.float32]


def gradcheck(fn: Callable, *arrays: np.ndarray) -> None:
    xs = [cr.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    assert cr.gradcheck(fn, xs, atol=1e-6, rtol=1e-5)


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + sum(shape)).standard_normal(shape)


# --------------------------------------------------------------------------- repeat_interleave

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,repeats,dim", [
    ((3, 4), 2, 1), ((3, 4), 3, None), ((3, 4), [1, 0, 2], 0), ((3, 4), [2, 1, 0, 3], -1),
    ((2, 3, 2), [1, 2, 1], -2), ((5,), [0, 0, 1, 2, 3], 0), ((), 3, None),
    ((2, 3), [2], 1), ((0, 3), 2, 0), ((2, 3), [1, 1, 1, 1, 2, 0], None)])
def test_repeat_interleave(dtype, shape, repeats, dim):
    a = rand(*shape)
    r_cr = repeats if isinstance(repeats, int) else cr.tensor(repeats)
    r_t = repeats if isinstance(repeats, int) else torch.tensor(repeats)
    parity(lambda x: cr.repeat_interleave(x, r_cr, dim),
           lambda x: torch.repeat_interleave(x, r_t, dim), a, dtype=dtype)
    parity(lambda x: x.repeat_interleave(r_cr, dim=dim),
           lambda x: x.repeat_interleave(r_t, dim=dim), a, dtype=dtype)


def test_repeat_interleave_forms_and_errors():
    counts = [1, 0, 3, 2]
    assert cr.repeat_interleave(cr.tensor(counts)).tolist() == \
        torch.repeat_interleave(torch.tensor(counts)).tolist()
    assert cr.repeat_interleave(cr.tensor(counts)).dtype == np.int64
    x = cr.arange(6).reshape(2, 3)
    out = cr.repeat_interleave(x, cr.tensor([1, 2, 3]), dim=1, output_size=6)
    assert out.tolist() == torch.arange(6).reshape(2, 3).repeat_interleave(
        torch.tensor([1, 2, 3]), dim=1, output_size=6).tolist()
    gradcheck(lambda v: cr.repeat_interleave(v, cr.tensor([2, 0, 1]), 0), rand(3, 2))
    with pytest.raises(RuntimeError, match="Invalid output_size, expected 12 but got 3"):
        cr.repeat_interleave(x, 2, output_size=3)
    with pytest.raises(RuntimeError, match=r"repeats.size\(0\) = 2 and input.size\(1\) = 3"):
        cr.repeat_interleave(x, cr.tensor([1, 2]), dim=1)
    with pytest.raises(RuntimeError, match="non-negative"):
        cr.repeat_interleave(x, -1)
    with pytest.raises(RuntimeError, match="0-dim or 1-dim"):
        cr.repeat_interleave(x, cr.tensor([[1, 2]]))
    with pytest.raises(RuntimeError, match="integer tensor"):
        cr.repeat_interleave(x, cr.tensor([1.0, 2.0, 1.0]), dim=1)
    with pytest.raises(RuntimeError, match="1D vector"):
        cr.repeat_interleave(cr.tensor([[1, 2]]))
    with pytest.raises(IndexError, match="out of range"):
        cr.repeat_interleave(x, 2, dim=2)
    with pytest.raises(IndexError, match="0-dim tensor has no dim 0"):
        cr.repeat_interleave(cr.tensor(1.0), 2, dim=0)


# --------------------------------------------------------------------------- products

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sa,sb", [((4,), (4,)), ((2, 3), (3,)), ((2, 3), (4, 3)),
                                   ((2, 1, 3), (5, 3)), ((), (2, 3)), ((3,), ()),
                                   ((2, 0), (3, 0))])
def test_inner(dtype, sa, sb):
    parity(cr.inner, torch.inner, rand(*sa), rand(*sb, seed=1), dtype=dtype)
    parity(lambda a, b: a.inner(b), lambda a, b: a.inner(b), rand(*sa), rand(*sb, seed=1),
           dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vdot_ger_diagflat(dtype):
    a, b = rand(5), rand(5, seed=3)
    parity(cr.vdot, torch.vdot, a, b, dtype=dtype)
    parity(lambda x, y: x.vdot(y), lambda x, y: x.vdot(y), a, b, dtype=dtype)
    parity(cr.ger, torch.ger, a, rand(3), dtype=dtype)
    parity(lambda x, y: x.ger(y), lambda x, y: x.ger(y), a, rand(3), dtype=dtype)
    for shape in [(3,), (2, 3), (), (0,)]:
        for offset in (0, 2, -1):
            parity(lambda x: cr.diagflat(x, offset), lambda x: torch.diagflat(x, offset),
                   rand(*shape), dtype=dtype)
    parity(lambda x: x.diagflat(1), lambda x: x.diagflat(1), rand(2, 2), dtype=dtype)


def test_inner_vdot_errors():
    with pytest.raises(RuntimeError, match=r"last dimension must match.*\(2, 3\) and \(2,\)"):
        cr.inner(cr.ones(2, 3), cr.ones(2))
    with pytest.raises(RuntimeError, match="1D tensors expected, but got 2D and 1D"):
        cr.vdot(cr.ones(2, 3), cr.ones(3))
    with pytest.raises(ValueError, match="same dtype"):
        cr.vdot(cr.ones(3), cr.ones(3, dtype=cr.float64))


# --------------------------------------------------------------------------- cov, corrcoef

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 6), (6,), (1, 5), (4, 2)])
@pytest.mark.parametrize("correction", [0, 1, 2])
def test_cov_and_corrcoef(dtype, shape, correction):
    a = rand(*shape)
    parity(lambda x: cr.cov(x, correction=correction),
           lambda x: torch.cov(x, correction=correction), a, dtype=dtype)
    parity(lambda x: x.cov(correction=correction),
           lambda x: x.cov(correction=correction), a, dtype=dtype)
    parity(cr.corrcoef, torch.corrcoef, a, dtype=dtype)
    parity(lambda x: x.corrcoef(), lambda x: x.corrcoef(), a, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("correction", [0, 1, 3])
def test_cov_weights(dtype, correction):
    a = rand(3, 5)
    fw = [1, 2, 0, 3, 1]
    aw = np.array([0.5, 1.5, 2.0, 0.25, 1.0])
    for use_f, use_a in [(True, False), (False, True), (True, True)]:
        def run(lib: Any, x: Any, w: Any) -> Any:
            return lib.cov(x, correction=correction,
                           fweights=lib.tensor(fw) if use_f else None,
                           aweights=w if use_a else None)
        if use_a:  # the aweights get a gradient too
            parity(lambda x, w: run(cr, x, w), lambda x, w: run(torch, x, w), a, aw,
                   dtype=dtype)
        else:
            parity(lambda x: run(cr, x, None), lambda x: run(torch, x, None), a, dtype=dtype)


def test_cov_integers_gradcheck_and_errors():
    ints = [[1, 4, 2, 8], [3, 3, 0, 1]]
    close(cr.cov(cr.tensor(ints)), torch.cov(torch.tensor(ints)), 1e-6)
    assert cr.cov(cr.tensor(ints)).dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expect = torch.cov(torch.tensor([[1.0, 2.0]], dtype=torch.float64), correction=2)
    close(cr.cov(cr.tensor([[1.0, 2.0]], dtype=cr.float64), correction=2), expect, 1e-10)
    gradcheck(lambda x: cr.cov(x, correction=1), rand(3, 5))
    gradcheck(lambda x, w: cr.cov(x, aweights=w), rand(2, 4), np.array([1.0, 2.0, 0.5, 1.5]))
    gradcheck(cr.corrcoef, rand(3, 5))
    with pytest.raises(RuntimeError, match="two or fewer dimensions"):
        cr.cov(cr.ones(2, 2, 2))
    with pytest.raises(RuntimeError, match="integral dtype"):
        cr.cov(cr.ones(2, 3), fweights=cr.ones(3))
    with pytest.raises(RuntimeError, match="floating point dtype"):
        cr.cov(cr.ones(2, 3), aweights=cr.tensor([1, 2, 3]))
    with pytest.raises(RuntimeError, match="3 elements"):
        cr.cov(cr.ones(2, 3), aweights=cr.ones(4))
    with pytest.raises(RuntimeError, match="cannot be negative"):
        cr.cov(cr.ones(2, 3), fweights=cr.tensor([1, -1, 2]))
    with pytest.raises(RuntimeError, match="bool"):  # (as torch)
        cr.cov(cr.tensor([[True, False, True]]))


def test_cov_float64_aweights_widen_a_float32_input():
    x, w = rand(2, 4).astype(np.float32), np.array([1.0, 2.0, 0.5, 1.5])
    out = cr.cov(cr.tensor(x), aweights=cr.tensor(w))
    expect = torch.cov(torch.tensor(x), aweights=torch.tensor(w))
    assert out.dtype == np.float64 and expect.dtype == torch.float64
    close(out, expect, 1e-6)
    close(cr.corrcoef(cr.tensor([[1, 4, 2], [3, 0, 1]])),
          torch.corrcoef(torch.tensor([[1, 4, 2], [3, 0, 1]])), 1e-6)


# --------------------------------------------------------------------------- histogram

def _hist_parity(x: np.ndarray, dtype: Any, **kw: Any) -> None:
    def tkw(k: Any) -> Any:
        return torch.tensor(k) if isinstance(k, np.ndarray) else k

    out = cr.histogram(cr.tensor(x.astype(dtype)),
                       **{k: cr.tensor(v) if isinstance(v, np.ndarray) else v
                          for k, v in kw.items()})
    expect = torch.histogram(torch.tensor(x.astype(dtype)), **{k: tkw(v) for k, v in kw.items()})
    np.testing.assert_array_equal(out.bin_edges.numpy(), expect.bin_edges.numpy())
    close(out.hist, expect.hist, TOL[dtype], "hist")
    assert out.hist.dtype == dtype and out.bin_edges.dtype == dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_histogram(dtype):
    x = rand(4, 25)
    for bins in (1, 7, 100):
        _hist_parity(x, dtype, bins=bins)
        _hist_parity(x, dtype, bins=bins, density=True)
        _hist_parity(x, dtype, bins=bins, range=(-1.0, 0.5))
    _hist_parity(x, dtype, bins=5, weight=rand(4, 25, seed=9).astype(dtype) ** 2, density=True)
    _hist_parity(x, dtype, bins=np.array([-2.0, -0.5, 0.0, 0.1, 3.0], dtype=dtype))
    grid = np.round(rand(50) * 4) / 4  # many values exactly on bin edges
    _hist_parity(grid, dtype, bins=8)
    _hist_parity(grid, dtype, bins=np.linspace(-1, 1, 9).astype(dtype))
    _hist_parity(np.full(5, 2.0), dtype, bins=4)  # min == max: widened by 0.5
    _hist_parity(np.zeros(0), dtype, bins=3)
    t = cr.tensor(x, requires_grad=True)
    assert not cr.histogram(t, 4).hist.requires_grad
    method = cr.tensor(x).histogram(6, range=(0.0, 1.0))
    close(method.hist, torch.tensor(x).histogram(6, range=(0.0, 1.0)).hist, 1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_histogramdd(dtype):
    x = rand(30, 2)
    for kw in [dict(bins=3), dict(bins=[2, 4]), dict(bins=[2, 4], density=True),
               dict(bins=[3, 2], range=[-1.0, 1.0, 0.0, 2.0])]:
        out = cr.histogramdd(cr.tensor(x.astype(dtype)), **kw)
        expect = torch.histogramdd(torch.tensor(x.astype(dtype)), **kw)
        close(out.hist, expect.hist, TOL[dtype], f"{kw}")
        for e, te in zip(out.bin_edges, expect.bin_edges):
            np.testing.assert_array_equal(e.numpy(), te.numpy())
    edges = [np.array([-3.0, 0.0, 3.0], dtype=dtype), np.array([-1.0, 1.0], dtype=dtype)]
    w = rand(30, seed=4).astype(dtype) ** 2
    out = cr.histogramdd(cr.tensor(x.astype(dtype)), [cr.tensor(e) for e in edges],
                         weight=cr.tensor(w))
    expect = torch.histogramdd(torch.tensor(x.astype(dtype)), [torch.tensor(e) for e in edges],
                               weight=torch.tensor(w))
    close(out.hist, expect.hist, TOL[dtype])


def test_histogram_errors():
    with pytest.raises(RuntimeError, match="floating point"):
        cr.histogram(cr.tensor([1, 2, 3]), 3)
    with pytest.raises(RuntimeError, match="max must be larger than min"):
        cr.histogram(cr.ones(3), 3, range=(2.0, 1.0))
    with pytest.raises(RuntimeError, match="positive int"):
        cr.histogram(cr.ones(3), 0)
    with pytest.raises(RuntimeError, match="increasing"):
        cr.histogram(cr.ones(3), cr.tensor([1.0, 0.0]))
    with pytest.raises(RuntimeError, match="weight of shape"):
        cr.histogram(cr.ones(3), 2, weight=cr.ones(4))
    with pytest.raises(RuntimeError, match="expected 2 sequences"):
        cr.histogramdd(cr.ones(3, 2), [2, 2, 2])
    with pytest.raises(RuntimeError, match="at least 2 increasing edges"):  # (torch: no bins)
        cr.histogram(cr.ones(3), cr.tensor([0.0]))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        cr.histogramdd(cr.ones(3), [2])


def test_histogram_range_too_wide_for_the_dtype():
    """A range whose width overflows: torch's (meaningless) inf/NaN edges, not a crash."""
    for dtype, big in ((np.float64, 1e308), (np.float32, 3e38)):
        _hist_parity(np.array([big, -big]), dtype, bins=3)


# --------------------------------------------------------------------------- Cholesky, triangular

def _spd_factor(n: int, batch: tuple = (), seed: int = 0) -> np.ndarray:
    """A well-conditioned lower-triangular factor (its zeros above the diagonal still get a
    gradient, as in PyTorch)."""
    rng = np.random.default_rng(seed)
    return np.tril(rng.standard_normal(batch + (n, n)) * 0.3) + 2 * np.eye(n)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("sb,sl", [((3, 2), (3, 3)), ((2, 3, 1), (3, 3)), ((4, 2), (2, 4, 4)),
                                   ((2, 3, 2), (2, 3, 3))])
def test_cholesky_solve(dtype, upper, sb, sl):
    factor = _spd_factor(sl[-1], sl[:-2])
    if upper:
        factor = np.swapaxes(factor, -1, -2)
    parity(lambda b, f: cr.cholesky_solve(b, f, upper), lambda b, f: torch.cholesky_solve(
        b, f, upper), rand(*sb), factor, dtype=dtype)
    parity(lambda b, f: b.cholesky_solve(f, upper=upper),
           lambda b, f: b.cholesky_solve(f, upper=upper), rand(*sb), factor, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 1)])
def test_cholesky_inverse(dtype, upper, shape):
    factor = _spd_factor(shape[-1], shape[:-2], seed=2)
    if upper:
        factor = np.swapaxes(factor, -1, -2)
    parity(lambda f: cr.cholesky_inverse(f, upper), lambda f: torch.cholesky_inverse(f, upper),
           factor, dtype=dtype)
    parity(lambda f: f.cholesky_inverse(upper), lambda f: f.cholesky_inverse(upper), factor,
           dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("upper,transpose,unitriangular", [
    (True, False, False), (False, False, False), (True, True, False), (False, True, True),
    (True, False, True)])
@pytest.mark.parametrize("sb,sa", [((3, 2), (3, 3)), ((2, 3, 1), (3, 3)), ((4, 2), (2, 4, 4))])
def test_triangular_solve(dtype, upper, transpose, unitriangular, sb, sa):
    a = _spd_factor(sa[-1], sa[:-2], seed=5)

    def run(lib: Any, b: Any, A: Any) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return tuple(lib.triangular_solve(b, A, upper, transpose, unitriangular))

    parity(lambda b, A: run(cr, b, A), lambda b, A: run(torch, b, A), rand(*sb), a, dtype=dtype)
    out = cr.ones(3, 1).triangular_solve(cr.eye(3) * 2)
    assert out.solution.tolist() == [[0.5], [0.5], [0.5]]
    assert out.cloned_coefficient.tolist() == (cr.eye(3) * 2).tolist()


def test_cholesky_factor_reads_only_its_triangle():
    low = _spd_factor(3, seed=8)
    junk = low + np.triu(np.ones((3, 3)), 1)
    b = rand(3, 2)
    close(cr.cholesky_solve(cr.tensor(b), cr.tensor(junk)),
          torch.cholesky_solve(torch.tensor(b), torch.tensor(low)), 1e-10)
    close(cr.cholesky_inverse(cr.tensor(junk.T.copy()), upper=True),
          torch.cholesky_inverse(torch.tensor(low.T.copy()), upper=True), 1e-10)
    close(cr.triangular_solve(cr.tensor(b), cr.tensor(junk), upper=False).solution,
          torch.linalg.solve_triangular(torch.tensor(low), torch.tensor(b), upper=False), 1e-10)


def test_cholesky_errors_and_gradcheck():
    factor = _spd_factor(3)
    # (the value reads one triangle; the gradient of the other is PyTorch's dense formula,
    # which central differences cannot see: check through tril / triu)
    gradcheck(lambda b, f: cr.cholesky_solve(b, cr.tril(f)), rand(3, 2), factor)
    gradcheck(lambda f: cr.cholesky_inverse(cr.triu(f), True), factor.T.copy())
    gradcheck(lambda b, A: cr.triangular_solve(b, A, False).solution, rand(3, 2), factor)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        cr.cholesky_solve(cr.ones(3), cr.eye(3))
    with pytest.raises(RuntimeError, match="Incompatible matrix sizes"):
        cr.cholesky_solve(cr.ones(2, 1), cr.eye(3))
    with pytest.raises(RuntimeError, match="square matrices"):
        cr.cholesky_inverse(cr.ones(2, 3))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        cr.triangular_solve(cr.ones(3), cr.eye(3))


# --------------------------------------------------------------------------- scatters into views

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim,index", [((3, 4), 0, 1), ((3, 4), 1, -1), ((2, 3, 4), -2, 2),
                                             ((5,), 0, 3)])
def test_select_scatter(dtype, shape, dim, index):
    src_shape = tuple(s for k, s in enumerate(shape) if k != dim % len(shape))
    parity(lambda x, s: cr.select_scatter(x, s, dim, index),
           lambda x, s: torch.select_scatter(x, s, dim, index), rand(*shape),
           rand(*src_shape, seed=7), dtype=dtype)
    parity(lambda x, s: x.select_scatter(s, dim, index),
           lambda x, s: x.select_scatter(s, dim, index), rand(*shape),
           rand(*src_shape, seed=7), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim,start,end,step", [
    ((6, 3), 0, None, None, 1), ((6, 3), 0, 1, 5, 2), ((3, 7), -1, -4, None, 3),
    ((2, 5, 2), 1, 2, 2, 1), ((4,), 0, 1, 100, 1)])
def test_slice_scatter(dtype, shape, dim, start, end, step):
    view = torch.zeros(shape).slice_scatter  # (just to get the slice shape from torch)
    del view
    sl = [slice(None)] * len(shape)
    sl[dim] = slice(start, end, step)
    src_shape = np.zeros(shape)[tuple(sl)].shape
    parity(lambda x, s: cr.slice_scatter(x, s, dim, start, end, step),
           lambda x, s: torch.slice_scatter(x, s, dim, start, end, step), rand(*shape),
           rand(*src_shape, seed=2), dtype=dtype)
    parity(lambda x, s: x.slice_scatter(s, dim, start, end, step),
           lambda x, s: x.slice_scatter(s, dim, start, end, step), rand(*shape),
           rand(*src_shape, seed=2), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,offset,dim1,dim2", [
    ((3, 4), 0, 0, 1), ((3, 4), 1, 0, 1), ((4, 3), -2, 0, 1), ((2, 3, 4), 0, 2, 0),
    ((2, 3, 4), 1, -1, -2), ((3, 3), 5, 0, 1)])
def test_diagonal_scatter(dtype, shape, offset, dim1, dim2):
    src_shape = np.zeros(shape).diagonal(offset, dim1, dim2).shape
    parity(lambda x, s: cr.diagonal_scatter(x, s, offset, dim1, dim2),
           lambda x, s: torch.diagonal_scatter(x, s, offset, dim1, dim2), rand(*shape),
           rand(*src_shape, seed=3), dtype=dtype)
    parity(lambda x, s: x.diagonal_scatter(s, offset, dim1, dim2),
           lambda x, s: x.diagonal_scatter(s, offset, dim1, dim2), rand(*shape),
           rand(*src_shape, seed=3), dtype=dtype)


def test_view_scatter_errors_and_gradcheck():
    gradcheck(lambda x, s: cr.diagonal_scatter(x, s, 1), rand(3, 4), rand(3))
    gradcheck(lambda x, s: cr.slice_scatter(x, s, 1, 0, 4, 2), rand(3, 4), rand(3, 2))
    gradcheck(lambda x, s: cr.select_scatter(x, s, 0, 2), rand(3, 4), rand(4))
    with pytest.raises(RuntimeError, match=r"src size = \[3\], slice size = \[4\]"):
        cr.select_scatter(cr.ones(3, 4), cr.ones(3), 0, 0)
    with pytest.raises(RuntimeError, match="slice size"):
        cr.diagonal_scatter(cr.ones(3, 4), cr.ones(4))
    with pytest.raises(RuntimeError, match="step must be positive"):
        cr.slice_scatter(cr.ones(3), cr.ones(3), step=0)
    # another dtype is cast to the input's, as torch; the gradient comes back in src's dtype
    x = cr.zeros(3, 4, dtype=cr.float64)
    src = cr.tensor([1.5, 2.0, 3.0, 4.0], requires_grad=True)
    for fn, args in ((cr.select_scatter, (0, 1)), (cr.slice_scatter, (0, 1, 2))):
        s = src if fn is cr.select_scatter else src.reshape(1, 4)
        out = fn(x, s, *args)
        expect = getattr(torch, fn.__name__)(torch.zeros(3, 4, dtype=torch.float64),
                                             torch.tensor(s.numpy()), *args)
        assert out.dtype == np.float64
        close(out, expect, 0)
    out.sum().backward()
    assert src.grad.dtype == np.float32 and src.grad.tolist() == [1, 1, 1, 1]
    ints = cr.diagonal_scatter(cr.zeros(2, 2, dtype=cr.int64), cr.tensor([1.7, -2.2]))
    assert ints.dtype == np.int64 and ints.tolist() == [[1, 0], [0, -2]]
    with pytest.raises(IndexError):
        cr.select_scatter(cr.ones(3, 4), cr.ones(4), 0, 3)


# --------------------------------------------------------------------------- index_reduce

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("shape,dim,index", [((5, 3), 0, [0, 4, 0, 2]), ((3, 5), 1, [1, 1, 1]),
                                             ((2, 4, 3), -2, [3, 0, 3, 3, 1]), ((4,), 0, [2])])
def test_index_reduce(dtype, reduce, include_self, shape, dim, index):
    src_shape = list(shape)
    src_shape[dim] = len(index)
    a = rand(*shape)
    src = rand(*src_shape, seed=11)
    if reduce in ("amax", "amin"):  # ties, shared evenly in both libraries
        src.flat[0] = src.flat[-1]
        a.flat[0] = 3.0
    parity(lambda x, s: cr.index_reduce(x, dim, cr.tensor(index), s, reduce,
                                        include_self=include_self),
           lambda x, s: torch.index_reduce(x, dim, torch.tensor(index), s, reduce,
                                           include_self=include_self), a, src, dtype=dtype)
    parity(lambda x, s: x.index_reduce(dim, cr.tensor(index), s, reduce,
                                       include_self=include_self),
           lambda x, s: x.index_reduce(dim, torch.tensor(index), s, reduce,
                                       include_self=include_self), a, src, dtype=dtype)


def test_index_reduce_zeros_integers_inplace_and_errors():
    a = np.array([[1.0, 0.0], [2.0, 3.0], [0.5, 4.0]])
    src = np.array([[0.0, 2.0], [5.0, 0.0], [1.5, 0.0]])
    parity(lambda x, s: cr.index_reduce(x, 0, cr.tensor([0, 0, 2]), s, "prod"),
           lambda x, s: torch.index_reduce(x, 0, torch.tensor([0, 0, 2]), s, "prod"), a, src)
    gradcheck(lambda x, s: cr.index_reduce(x, 0, cr.tensor([0, 2, 0]), s, "mean"), a, src)
    gradcheck(lambda x, s: cr.index_reduce(x, 1, cr.tensor([1, 1]), s, "prod",
                                           include_self=False), a + 1, src.T[:2].T + 1)
    ints = np.array([[4, 9], [7, 2]])
    for reduce in ("mean", "prod", "amax", "amin"):
        out = cr.index_reduce(cr.tensor(ints), 0, cr.tensor([0, 0]), cr.tensor(ints + 2), reduce)
        expect = torch.index_reduce(torch.tensor(ints), 0, torch.tensor([0, 0]),
                                    torch.tensor(ints + 2), reduce)
        assert out.tolist() == expect.tolist() and out.dtype == np.int64
    x = cr.zeros(3, 2)
    x.index_reduce_(0, cr.tensor([1]), cr.ones(1, 2) * 5, "amax")
    assert x.tolist() == [[0, 0], [5, 5], [0, 0]]
    with pytest.raises(RuntimeError, match="one of prod, mean, amax or amin but got 'sum'"):
        cr.index_reduce(cr.ones(3), 0, cr.tensor([0]), cr.ones(1), "sum")
    with pytest.raises(ValueError, match="source of shape"):
        cr.index_reduce(cr.ones(3, 2), 0, cr.tensor([0]), cr.ones(2, 2), "mean")
    with pytest.raises(IndexError):
        cr.index_reduce(cr.ones(3), 0, cr.tensor([3]), cr.ones(1), "mean")


# --------------------------------------------------------------------------- trapezoid, vander

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", [((6,), -1), ((3, 5), 0), ((3, 5), -1), ((2, 4, 3), 1),
                                       ((3, 1), -1), ((3, 0), -1)])
def test_trapezoid_with_spacing(dtype, shape, dim):
    a = rand(*shape)
    for kw in ({}, {"dx": 0.25}):
        parity(lambda y: cr.trapezoid(y, dim=dim, **kw),
               lambda y: torch.trapezoid(y, dim=dim, **kw), a, dtype=dtype)
        parity(lambda y: cr.trapz(y, dim=dim, **kw),
               lambda y: torch.trapz(y, dim=dim, **kw), a, dtype=dtype)
        if shape[dim]:
            parity(lambda y: cr.cumulative_trapezoid(y, dim=dim, **kw),
                   lambda y: torch.cumulative_trapezoid(y, dim=dim, **kw), a, dtype=dtype)
    n = shape[dim]
    xs = np.cumsum(np.random.default_rng(1).uniform(0.1, 1.0, n))
    parity(lambda y, x: cr.trapezoid(y, x, dim=dim), lambda y, x: torch.trapezoid(y, x, dim=dim),
           a, xs, dtype=dtype)
    if n:
        parity(lambda y, x: cr.cumulative_trapezoid(y, x, dim=dim),
               lambda y, x: torch.cumulative_trapezoid(y, x, dim=dim), a, xs, dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_trapezoid_broadcast_x(dtype):
    y, x = rand(3, 5), np.cumsum(rand(3, 5, seed=4) ** 2 + 0.1, axis=1)
    parity(cr.trapezoid, torch.trapezoid, y, x, dtype=dtype)
    parity(cr.cumulative_trapezoid, torch.cumulative_trapezoid, y, x, dtype=dtype)
    x0 = np.cumsum(rand(5, 3, seed=2) ** 2, axis=0)
    parity(lambda a, b: cr.trapezoid(a, b, dim=0), lambda a, b: torch.trapezoid(a, b, dim=0),
           rand(5, 3), x0, dtype=dtype)
    close(cr.trapezoid(cr.tensor([1, 2, 4])), torch.trapezoid(torch.tensor([1, 2, 4])), 1e-6)


def test_trapezoid_errors():
    with pytest.raises(RuntimeError, match="one `x` value for each sample point"):
        cr.trapezoid(cr.ones(4), cr.ones(3))
    with pytest.raises(RuntimeError, match="either x or dx"):
        cr.trapezoid(cr.ones(4), cr.ones(4), dx=2)
    with pytest.raises(RuntimeError, match="0-d"):
        cr.cumulative_trapezoid(cr.tensor(1.0))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N", [None, 1, 4, 0])
@pytest.mark.parametrize("increasing", [False, True])
def test_vander(dtype, N, increasing):
    x = np.array([0.5, -1.2, 0.0, 2.0])  # a zero: cumprod's gradient there
    # (values against PyTorch; its vander cannot be differentiated: "modified by an inplace
    # operation", so the gradient is checked against central differences)
    parity(lambda v: cr.vander(v, N, increasing), lambda v: torch.vander(v, N, increasing), x,
           dtype=dtype, grad=False)
    if N == 0:
        return
    gradcheck(lambda v: cr.vander(v, N, increasing), x)
    v = cr.tensor(x.astype(dtype), requires_grad=True)
    g = np.random.default_rng(0).standard_normal((4, 4 if N is None else N))
    (cr.vander(v, N, increasing) * cr.tensor(g.astype(dtype))).sum().backward()
    powers = np.arange(4 if N is None else N)[None, :]
    if not increasing:
        powers = powers[:, ::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        expect = (g * powers * np.where(powers > 0, x[:, None] ** np.maximum(powers - 1, 0), 0))
    np.testing.assert_allclose(v.grad.numpy(), expect.sum(1), rtol=TOL[dtype], atol=TOL[dtype])


def test_vander_integers_and_errors():
    for values in ([1, 2, 3], [True, False]):
        out, expect = cr.vander(cr.tensor(values)), torch.vander(torch.tensor(values))
        assert out.tolist() == expect.tolist() and out.dtype == np.int64
    gradcheck(lambda v: cr.vander(v, 4), np.array([0.3, 0.0, -1.1]))
    with pytest.raises(RuntimeError, match="one-dimensional"):
        cr.vander(cr.ones(2, 2))
    with pytest.raises(RuntimeError, match="non-negative"):
        cr.vander(cr.ones(2), -1)


# --------------------------------------------------------------------------- gradient

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("edge_order", [1, 2])
@pytest.mark.parametrize("shape,dim,spacing", [
    ((6,), None, 1), ((6,), 0, 0.5), ((4, 5), None, 2.0), ((4, 5), 1, [0.3]),
    ((4, 5), [0, 1], [1.5, 0.5]), ((3, 4, 5), [-1, 0], 2), ((4, 5), -2, 3)])
def test_gradient_uniform(dtype, edge_order, shape, dim, spacing):
    a = rand(*shape)
    parity(lambda x: cr.gradient(x, spacing=spacing, dim=dim, edge_order=edge_order),
           lambda x: torch.gradient(x, spacing=spacing, dim=dim, edge_order=edge_order), a,
           dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("edge_order", [1, 2])
def test_gradient_coordinates(dtype, edge_order):
    a = rand(4, 6)
    c0 = np.cumsum(np.random.default_rng(3).uniform(0.2, 1.0, 4))
    c1 = np.cumsum(np.random.default_rng(4).uniform(0.2, 1.0, 6))
    parity(lambda x, p, q: cr.gradient(x, spacing=[p, q], edge_order=edge_order),
           lambda x, p, q: torch.gradient(x, spacing=[p, q], edge_order=edge_order), a, c0, c1,
           dtype=dtype)
    parity(lambda x, q: cr.gradient(x, spacing=(q,), dim=1, edge_order=edge_order),
           lambda x, q: torch.gradient(x, spacing=(q,), dim=1, edge_order=edge_order), a, c1,
           dtype=dtype)


def test_gradient_integers_gradcheck_and_errors():
    out = cr.gradient(cr.tensor([1, 2, 4, 7]))
    expect = torch.gradient(torch.tensor([1, 2, 4, 7]))
    close(out[0], expect[0], 1e-6)
    assert out[0].dtype == np.float32
    c = np.array([0.0, 0.5, 1.7, 2.0])
    gradcheck(lambda x, q: cr.gradient(x, spacing=[q], dim=0, edge_order=2)[0], rand(4, 2), c)
    with pytest.raises(RuntimeError, match="at least edge_order\\+1"):
        cr.gradient(cr.ones(2, 4), edge_order=2)
    with pytest.raises(RuntimeError, match="edge_order=1 and edge_order=2"):
        cr.gradient(cr.ones(5), edge_order=3)
    with pytest.raises(RuntimeError, match="same length"):
        cr.gradient(cr.ones(3, 4), spacing=[1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="one coordinate per element"):
        cr.gradient(cr.ones(3, 4), spacing=[cr.ones(3), cr.ones(3)])


# --------------------------------------------------------------------------- copies and splits

@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_copy_split_with_sizes_swapdims_moveaxis(dtype):
    a = rand(4, 5, 3)
    parity(lambda x: cr.narrow_copy(x, 1, 1, 3), lambda x: torch.narrow_copy(x, 1, 1, 3), a,
           dtype=dtype)
    parity(lambda x: x.narrow_copy(-1, 0, 2), lambda x: x.narrow_copy(-1, 0, 2), a, dtype=dtype)
    parity(lambda x: x.split_with_sizes([1, 0, 4], 1), lambda x: x.split_with_sizes([1, 0, 4], 1),
           a, dtype=dtype)
    parity(lambda x: cr.split_with_sizes(x, [3, 1]), lambda x: torch.split_with_sizes(x, [3, 1]),
           a, dtype=dtype)
    parity(lambda x: x.swapdims(0, 2), lambda x: x.swapdims(0, 2), a, dtype=dtype)
    parity(lambda x: x.moveaxis(0, -1), lambda x: x.moveaxis(0, -1), a, dtype=dtype)
    parity(lambda x: x.moveaxis((0, 1), (2, 0)), lambda x: x.moveaxis((0, 1), (2, 0)), a,
           dtype=dtype)
    x = cr.tensor(a)
    copy = x.narrow_copy(0, 0, 2)
    copy.data[...] = 0
    assert x.data.any()
    with pytest.raises(RuntimeError, match=r"sum exactly to 4.*split_sizes=\[1, 1\]"):
        x.split_with_sizes([1, 1])
