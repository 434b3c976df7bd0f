"""cr.linalg beyond inv/det/solve: decompositions (svd, eigh, qr), pinv, lstsq, norms, products,
matrix_exp and the *_ex forms, against PyTorch: values and input gradients (float64 to 1e-10,
float32 to 1e-5), plus central differences for the composites and the errors.

Singular vectors and eigenvectors are unique up to sign; where NumPy's LAPACK and PyTorch's may
choose differently the comparison is on sign-invariant quantities (U∘U, U diag(S) Vh, ...)
and their gradients."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

TOL = {np.float64: 1e-10, np.float32: 1e-5}
TORCH_DTYPE = {np.float64: torch.float64, np.float32: torch.float32}


def _as_list(out: Any) -> list:
    return list(out) if isinstance(out, tuple) else [out]


def compare(cr_fn: Callable, torch_fn: Callable, *arrays: np.ndarray,
            gauge: Callable | None = None, dtype: Any = np.float64, rtol: float | None = None,
            seed: int = 0) -> None:
    """Both functions on the same inputs (all differentiated): every output (after ``gauge``,
    applied to both) and the input gradients for random upstream gradients."""
    rtol = TOL[dtype] if rtol is None else rtol
    cs = [cr.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    c_out, t_out = cr_fn(*cs), torch_fn(*ts)
    if gauge is not None:
        c_out, t_out = gauge(*_as_list(c_out)), gauge(*_as_list(t_out))
    c_out, t_out = _as_list(c_out), _as_list(t_out)
    assert len(c_out) == len(t_out)
    rng = np.random.default_rng(seed)
    c_roots, t_roots, c_gs, t_gs = [], [], [], []
    for k, (c, t) in enumerate(zip(c_out, t_out)):
        tv = t.detach().numpy()
        assert c.shape == tv.shape, f"output {k}: shape {c.shape}, torch {tv.shape}"
        assert c.dtype == tv.dtype, f"output {k}: dtype {c.dtype}, torch {tv.dtype}"
        scale = max(1.0, float(np.abs(tv).max())) if tv.size else 1.0
        np.testing.assert_allclose(c.data, tv, rtol=rtol, atol=rtol * scale,
                                   err_msg=f"output {k}")
        if t.requires_grad and tv.dtype.kind == "f" and tv.size:  # (empty: nothing flows)
            # (an output torch differentiates but chainrule holds constant, such as slogdet's
            # sign, must get a zero gradient from torch)
            g = rng.standard_normal(tv.shape).astype(dtype)
            t_roots.append(t)
            t_gs.append(torch.tensor(g))
            if c.requires_grad:
                c_roots.append(c)
                c_gs.append(cr.tensor(g))
    if not t_roots:
        return
    c_grads = cr.autograd.grad(c_roots, cs, c_gs, allow_unused=True) if c_roots else \
        [None] * len(cs)
    t_grads = torch.autograd.grad(t_roots, ts, t_gs, allow_unused=True)
    for j, (cg, tg, x) in enumerate(zip(c_grads, t_grads, arrays)):
        tgv = np.zeros(x.shape, dtype) if tg is None else tg.numpy()
        cgv = np.zeros(x.shape, dtype) if cg is None else cg.data
        assert cgv.dtype == tgv.dtype
        scale = max(1.0, float(np.abs(tgv).max())) if tgv.size else 1.0
        np.testing.assert_allclose(cgv, tgv, rtol=rtol, atol=rtol * scale,
                                   err_msg=f"gradient of input {j}")


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 7 * sum(shape) + len(shape)).standard_normal(shape)


def spd(*shape: int, seed: int = 0) -> np.ndarray:
    a = rand(*shape, seed=seed)
    return a @ np.swapaxes(a, -1, -2) + shape[-1] * np.eye(shape[-1])


def symmetric(*shape: int, seed: int = 0) -> np.ndarray:
    a = rand(*shape, seed=seed)
    return a + np.swapaxes(a, -1, -2)


def wellconditioned(*shape: int, seed: int = 0) -> np.ndarray:
    return rand(*shape, seed=seed) + 3 * np.eye(shape[-1])


def _svd_gauge(U: Any, S: Any, Vh: Any) -> tuple:
    """Sign-free: U∘U, S, Vh∘Vh, U diag(S) Vh (for full U/Vh, only the first k columns)."""
    k = S.shape[-1]
    U, Vh = U[..., :k], Vh[..., :k, :]
    return U * U, S, Vh * Vh, (U * S[..., None, :]) @ Vh


def _eigh_gauge(L: Any, V: Any) -> tuple:
    return L, V * V, (V * L[..., None, :]) @ V.transpose(-2, -1)


SHAPES = [(4, 3), (3, 5), (3, 3), (2, 4, 3), (2, 1, 3, 5)]


# --------------------------------------------------------------------------- svd

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("full_matrices", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_svd(shape, full_matrices, dtype):
    compare(lambda a: cr.linalg.svd(a, full_matrices),
            lambda a: torch.linalg.svd(a, full_matrices), rand(*shape), gauge=_svd_gauge,
            dtype=dtype)
    out = cr.linalg.svd(cr.tensor(rand(*shape)), full_matrices=full_matrices)
    ref = torch.linalg.svd(torch.tensor(rand(*shape)), full_matrices=full_matrices)
    assert type(out).__name__ == "SVDResult" and out._fields == ("U", "S", "Vh")
    for c, t in zip(out, ref):
        assert c.shape == tuple(t.shape)
    m, n = shape[-2:]
    eye = np.eye(out.U.shape[-1])
    np.testing.assert_allclose(np.swapaxes(out.U.data, -1, -2) @ out.U.data,
                               np.broadcast_to(eye, out.U.shape[:-2] + eye.shape), atol=1e-12)


def test_svd_extra_columns_pass_no_gradient_as_torch():
    a = rand(4, 2)
    x = cr.tensor(a, requires_grad=True)
    U = cr.linalg.svd(x).U
    (g,) = cr.autograd.grad(U[:, 2:].sum(), x)
    np.testing.assert_array_equal(g.data, np.zeros((4, 2)))
    t = torch.tensor(a, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.linalg.svd(t).U[:, 2:].sum(), t)
    np.testing.assert_array_equal(tg.numpy(), np.zeros((4, 2)))


def test_svd_gradient_matches_central_differences():
    def loss(a):  # sign-invariant
        U, S, Vh = cr.linalg.svd(a, full_matrices=False)
        return (U * U).sum(-1) * 2.0, S, (Vh * Vh)[..., 0]

    for shape in [(4, 3), (3, 4), (2, 3, 3)]:
        cr.gradcheck(lambda a: cr.cat([o.reshape(-1) for o in loss(a)]),
                     [cr.tensor(rand(*shape), requires_grad=True)])


def test_svd_of_empty_and_batch_empty():
    for shape in [(0, 3), (3, 0), (0, 2, 2)]:
        for full in (True, False):
            out = cr.linalg.svd(cr.tensor(np.zeros(shape)), full_matrices=full)
            ref = torch.linalg.svd(torch.zeros(shape, dtype=torch.float64), full_matrices=full)
            assert [o.shape for o in out] == [tuple(r.shape) for r in ref]


@pytest.mark.parametrize("shape", SHAPES)
def test_svdvals(shape):
    compare(cr.linalg.svdvals, torch.linalg.svdvals, rand(*shape))
    compare(cr.linalg.svdvals, torch.linalg.svdvals, rand(*shape), dtype=np.float32)


def test_svdvals_gradient_is_finite_at_ties_as_torch():
    # all singular values 1: the gradient of their sum (U Vh, whatever basis) is unique
    q = np.linalg.qr(rand(4, 4))[0] * np.array([1.0, 1.0, 1.0, 2.0])
    for cr_fn, torch_fn in [(cr.linalg.svdvals, torch.linalg.svdvals),
                            (lambda a: cr.linalg.svd(a).S, lambda a: torch.linalg.svd(a).S),
                            (lambda a: cr.linalg.matrix_norm(a, "nuc"),
                             lambda a: torch.linalg.matrix_norm(a, "nuc"))]:
        x, t = cr.tensor(q, requires_grad=True), torch.tensor(q, requires_grad=True)
        (g,) = cr.autograd.grad(cr_fn(x).sum(), x)
        (tg,) = torch.autograd.grad(torch_fn(t).sum(), t)
        assert np.isfinite(g.data).all()
        np.testing.assert_allclose(g.data, tg.numpy(), atol=1e-12)


# --------------------------------------------------------------------------- eigh

@pytest.mark.parametrize("UPLO", ["L", "U"])
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4), (1, 2, 2)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_eigh(UPLO, shape, dtype):
    a = symmetric(*shape)
    compare(lambda x: cr.linalg.eigh(x, UPLO), lambda x: torch.linalg.eigh(x, UPLO), a,
            gauge=_eigh_gauge, dtype=dtype)
    # a non-symmetric input: only the UPLO triangle is read, the gradient is torch's
    b = rand(*shape, seed=3)
    compare(lambda x: cr.linalg.eigh(x, UPLO), lambda x: torch.linalg.eigh(x, UPLO), b,
            gauge=_eigh_gauge, dtype=dtype)
    compare(lambda x: cr.linalg.eigvalsh(x, UPLO), lambda x: torch.linalg.eigvalsh(x, UPLO),
            b, dtype=dtype)
    out = cr.linalg.eigh(cr.tensor(a))
    assert out._fields == ("eigenvalues", "eigenvectors")


def test_eigvalsh_gradient_at_repeated_eigenvalues_is_finite():
    compare(cr.linalg.eigvalsh, torch.linalg.eigvalsh, np.eye(3))
    compare(lambda a: cr.linalg.eigh(a).eigenvalues,
            lambda a: torch.linalg.eigh(a).eigenvalues, np.diag([1.0, 1.0, 2.0]))


def test_eigh_gradient_central_differences():
    def f(x):
        L, V = cr.linalg.eigh((x + x.transpose(-2, -1)) * 0.5)
        return cr.cat([L.reshape(-1), (V * V).reshape(-1)])

    cr.gradcheck(f, [cr.tensor(rand(2, 3, 3), requires_grad=True)])


# --------------------------------------------------------------------------- qr

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr(shape, mode):
    m, n = shape[-2:]
    a = rand(*shape)
    differentiable = mode == "reduced" or (mode == "complete" and m <= n)
    if differentiable:
        compare(lambda x: cr.linalg.qr(x, mode), lambda x: torch.linalg.qr(x, mode), a)
        compare(lambda x: cr.linalg.qr(x, mode), lambda x: torch.linalg.qr(x, mode), a,
                dtype=np.float32)
        return
    Q, R = cr.linalg.qr(cr.tensor(a, requires_grad=True), mode)
    tQ, tR = torch.linalg.qr(torch.tensor(a), mode)
    assert Q.shape == tuple(tQ.shape)
    np.testing.assert_allclose(R.data, tR.numpy(), atol=1e-12)
    if mode == "complete":
        np.testing.assert_allclose(Q.data, tQ.numpy(), atol=1e-12)
        with pytest.raises(RuntimeError, match="not differentiable when mode='complete'"):
            Q.sum().backward()
    else:
        with pytest.raises(RuntimeError, match="not computed when mode='r'"):
            R.sum().backward()


def test_qr_named_tuple_and_errors():
    out = cr.linalg.qr(cr.tensor(rand(3, 2)))
    assert out._fields == ("Q", "R")
    with pytest.raises(RuntimeError, match="unrecognized mode 'x'"):
        cr.linalg.qr(cr.tensor(rand(3, 2)), "x")


def test_qr_central_differences():
    for shape in [(4, 3), (3, 5), (2, 3, 3)]:
        cr.gradcheck(lambda a: cr.cat([t.reshape(-1) for t in cr.linalg.qr(a)]),
                     [cr.tensor(rand(*shape), requires_grad=True)])


# --------------------------------------------------------------------------- pinv, lstsq

@pytest.mark.parametrize("shape", SHAPES)
def test_pinv(shape):
    compare(cr.linalg.pinv, torch.linalg.pinv, rand(*shape))
    compare(cr.linalg.pinv, torch.linalg.pinv, rand(*shape), dtype=np.float32)


def test_pinv_tolerances_and_hermitian():
    a = rand(4, 3)
    a[:, 2] = a[:, 0] + a[:, 1]  # rank 2
    for kw in [{}, {"atol": 1e-8}, {"rtol": 1e-6}, {"atol": 0.5, "rtol": 0.1}]:
        np.testing.assert_allclose(cr.linalg.pinv(cr.tensor(a), **kw).data,
                                   torch.linalg.pinv(torch.tensor(a), **kw).numpy(),
                                   atol=1e-10, err_msg=str(kw))
    np.testing.assert_allclose(cr.linalg.pinv(cr.tensor(a), 1e-6).data,
                               torch.linalg.pinv(torch.tensor(a), 1e-6).numpy(), atol=1e-10)
    s = symmetric(2, 3, 3)
    compare(lambda x: cr.linalg.pinv(x, hermitian=True),
            lambda x: torch.linalg.pinv(x, hermitian=True), s)
    compare(lambda x: cr.pinverse(x), lambda x: torch.pinverse(x), rand(3, 4))
    compare(lambda x: cr.linalg.pinv(x, atol=torch_or_cr_tensor(x, [0.1, 0.2])),
            lambda x: torch.linalg.pinv(x, atol=torch_or_cr_tensor(x, [0.1, 0.2])),
            rand(2, 4, 3))


def torch_or_cr_tensor(like: Any, values: list) -> Any:
    arr = np.array(values)
    return torch.tensor(arr) if isinstance(like, torch.Tensor) else cr.tensor(arr)


@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("shapes", [((5, 3), (5, 2)), ((2, 5, 3), (2, 5, 4)), ((5, 3), (5,)),
                                    ((3, 5), (3, 2)), ((2, 4, 4), (2, 4))])
def test_lstsq(driver, shapes):
    a, b = rand(*shapes[0]), rand(*shapes[1], seed=1)
    compare(lambda x, y: cr.linalg.lstsq(x, y, driver=driver),
            lambda x, y: torch.linalg.lstsq(x, y, driver=driver), a, b)
    out = cr.linalg.lstsq(cr.tensor(a), cr.tensor(b), driver=driver)
    ref = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver)
    assert out._fields == ("solution", "residuals", "rank", "singular_values")
    np.testing.assert_array_equal(out.rank.data, ref.rank.numpy())
    assert out.rank.dtype == np.int64


def test_lstsq_float32_and_errors():
    compare(lambda x, y: cr.linalg.lstsq(x, y).solution,
            lambda x, y: torch.linalg.lstsq(x, y).solution, rand(6, 3), rand(6, 2),
            dtype=np.float32)
    with pytest.raises(RuntimeError, match="driver"):
        cr.linalg.lstsq(cr.tensor(rand(3, 2)), cr.tensor(rand(3, 1)), driver="foo")
    with pytest.raises(RuntimeError, match=r"\(3, 2\) and B of shape \(4, 1\)"):
        cr.linalg.lstsq(cr.tensor(rand(3, 2)), cr.tensor(rand(4, 1)))


# --------------------------------------------------------------------------- norms, rank, cond

ORDS = ["fro", "nuc", 1, -1, 2, -2, float("inf"), float("-inf")]


@pytest.mark.parametrize("ord", ORDS)
@pytest.mark.parametrize("dim", [(-2, -1), (0, 2), (2, 0), (-1, 1)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_matrix_norm(ord, dim, keepdim):
    a = rand(3, 4, 5)
    compare(lambda x: cr.linalg.matrix_norm(x, ord, dim, keepdim),
            lambda x: torch.linalg.matrix_norm(x, ord, dim, keepdim), a)
    compare(lambda x: cr.linalg.norm(x, ord, dim, keepdim),
            lambda x: torch.linalg.norm(x, ord, dim, keepdim), a)


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
def test_norm_on_a_matrix_and_float32(ord):
    compare(lambda x: cr.linalg.norm(x, ord), lambda x: torch.linalg.norm(x, ord), rand(4, 3))
    compare(lambda x: cr.linalg.matrix_norm(x, ord), lambda x: torch.linalg.matrix_norm(x, ord),
            rand(2, 4, 3), dtype=np.float32)
    compare(lambda x: cr.linalg.matrix_norm(x, ord, dtype=cr.float64),
            lambda x: torch.linalg.matrix_norm(x, ord, dtype=torch.float64), rand(4, 3),
            dtype=np.float32, rtol=1e-5)
    cr.gradcheck(lambda x: cr.linalg.matrix_norm(x, ord), [cr.tensor(rand(2, 4, 3),
                                                                      requires_grad=True)])


def test_matrix_norm_errors():
    x = cr.tensor(rand(3, 3))
    with pytest.raises(RuntimeError, match="Order 3 not supported"):
        cr.linalg.matrix_norm(x, 3)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        cr.linalg.matrix_norm(cr.tensor(rand(3)))
    with pytest.raises(RuntimeError, match="same dimension twice"):
        cr.linalg.matrix_norm(x, "nuc", (0, -2))
    with pytest.raises(RuntimeError, match="matrix norm"):
        cr.linalg.norm(cr.tensor(rand(3)), "nuc")


def test_matrix_rank():
    a = rand(2, 5, 4)
    a[0, :, 3] = a[0, :, 0] - a[0, :, 1]  # rank 3
    for kw in [{}, {"atol": 1.0}, {"rtol": 0.3}, {"atol": 0.1, "rtol": 0.2}]:
        out = cr.linalg.matrix_rank(cr.tensor(a), **kw)
        ref = torch.linalg.matrix_rank(torch.tensor(a), **kw)
        assert out.dtype == np.int64
        np.testing.assert_array_equal(out.data, ref.numpy(), err_msg=str(kw))
    s = symmetric(3, 3)
    s[2] = s[2] * 0
    s[:, 2] = 0
    assert cr.linalg.matrix_rank(cr.tensor(s), hermitian=True).item() == \
        torch.linalg.matrix_rank(torch.tensor(s), hermitian=True).item() == 2
    x = cr.tensor(a, requires_grad=True)
    assert not cr.linalg.matrix_rank(x).requires_grad


@pytest.mark.parametrize("p", [None, 2, -2, "fro", "nuc", 1, -1, float("inf"), float("-inf")])
def test_cond(p):
    a = wellconditioned(2, 3, 3)
    if p in (None, 2, -2):
        compare(lambda x: cr.linalg.cond(x, p), lambda x: torch.linalg.cond(x, p), a)
    else:  # (torch 2.13's backward fails there: "modified by an inplace operation")
        np.testing.assert_allclose(cr.linalg.cond(cr.tensor(a), p).data,
                                   torch.linalg.cond(torch.tensor(a), p).numpy(), rtol=1e-10)
        cr.gradcheck(lambda x: cr.linalg.cond(x, p), [cr.tensor(a, requires_grad=True)])
    if p in (None, 2, -2):
        compare(lambda x: cr.linalg.cond(x, p), lambda x: torch.linalg.cond(x, p), rand(4, 2))


def test_cond_and_max_matrix_norms_of_empty_matrices_are_zero_as_torch():
    for shape in ((2, 0, 0), (3, 0, 2)):
        z = np.zeros(shape)
        for p in (None, 2, -2, "fro", "nuc", 1, float("inf")):
            if shape[-1] != shape[-2] and p not in (None, 2, -2):
                continue
            out = cr.linalg.cond(cr.tensor(z), p)
            np.testing.assert_array_equal(out.data, torch.linalg.cond(torch.tensor(z), p))
        for ord in (2, 1, float("inf"), "nuc", "fro"):
            for keepdim in (False, True):
                out = cr.linalg.matrix_norm(cr.tensor(z), ord, keepdim=keepdim)
                ref = torch.linalg.matrix_norm(torch.tensor(z), ord, keepdim=keepdim)
                assert out.shape == tuple(ref.shape)
                np.testing.assert_array_equal(out.data, ref.numpy())


# --------------------------------------------------------------------------- products

@pytest.mark.parametrize("n", [-3, -1, 0, 1, 2, 5, 8])
def test_matrix_power(n):
    a = wellconditioned(2, 3, 3) * 0.4
    compare(lambda x: cr.linalg.matrix_power(x, n), lambda x: torch.linalg.matrix_power(x, n), a)
    compare(lambda x: cr.matrix_power(x, n), lambda x: torch.matrix_power(x, n), a[0])
    with pytest.raises(RuntimeError, match="square"):
        cr.linalg.matrix_power(cr.tensor(rand(2, 3)), 2)


def test_matrix_power_of_integer_matrices_as_torch():
    a = np.array([[[1, 2], [3, 4]], [[0, 1], [1, 1]]], dtype=np.int32)
    for n in (0, 1, 3):
        out, ref = cr.linalg.matrix_power(cr.tensor(a), n), torch.linalg.matrix_power(
            torch.tensor(a), n)
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out.data, ref.numpy())
    with pytest.raises(RuntimeError, match="matrix_power: Expected a floating point tensor"):
        cr.linalg.matrix_power(cr.tensor(a), -1)  # (an inverse: floats only, as PyTorch)


@pytest.mark.parametrize("shapes", [[(3,), (3, 4), (4,)], [(2, 3), (3, 4)], [(5,), (5, 2)],
                                    [(2, 10), (10, 3), (3, 8), (8, 1)], [(3, 1), (1,)]])
def test_multi_dot(shapes):
    arrays = [rand(*s, seed=k) for k, s in enumerate(shapes)]
    compare(lambda *xs: cr.linalg.multi_dot(xs), lambda *xs: torch.linalg.multi_dot(xs),
            *arrays)


def test_multi_dot_errors():
    with pytest.raises(RuntimeError, match="at least 2 tensors but got 1"):
        cr.linalg.multi_dot([cr.tensor(rand(2, 2))])
    with pytest.raises(RuntimeError, match="tensors 0 and 1 with shapes"):
        cr.linalg.multi_dot([cr.tensor(rand(2, 3)), cr.tensor(rand(4, 2))])
    with pytest.raises(RuntimeError, match="must be 2D"):
        cr.linalg.multi_dot([cr.tensor(rand(2, 3)), cr.tensor(rand(3)), cr.tensor(rand(3))])


@pytest.mark.parametrize("shapes,dim", [(((4, 3), (4, 3)), -1), (((3, 5), (3, 1)), 0),
                                        (((2, 3, 4), (1, 3, 4)), 1), (((1, 3), (2, 3)), -1)])
def test_cross(shapes, dim):
    a, b = rand(*shapes[0]), rand(*shapes[1], seed=2)
    compare(lambda x, y: cr.linalg.cross(x, y, dim=dim),
            lambda x, y: torch.linalg.cross(x, y, dim=dim), a, b)


def test_cross_error():
    with pytest.raises(RuntimeError, match="dimension -1 must have length 3. Got 2 and 2"):
        cr.linalg.cross(cr.tensor(rand(2)), cr.tensor(rand(2)))
    with pytest.raises(RuntimeError, match="same number of dimensions"):
        cr.linalg.cross(cr.tensor(rand(3)), cr.tensor(rand(2, 3)))


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("unitriangular", [False, True])
def test_solve_triangular(upper, left, unitriangular):
    a = wellconditioned(2, 3, 3)
    b = rand(2, 3, 4) if left else rand(2, 4, 3)
    kw = {"upper": upper, "left": left, "unitriangular": unitriangular}
    compare(lambda x, y: cr.linalg.solve_triangular(x, y, **kw),
            lambda x, y: torch.linalg.solve_triangular(x, y, **kw), a, b)
    # batch broadcasting: one A for a batch of B, and B (3, 3) against a batch of A
    compare(lambda x, y: cr.linalg.solve_triangular(x, y, **kw),
            lambda x, y: torch.linalg.solve_triangular(x, y, **kw), a[0], b)
    compare(lambda x, y: cr.linalg.solve_triangular(x, y, **kw),
            lambda x, y: torch.linalg.solve_triangular(x, y, **kw), wellconditioned(3, 3, 3),
            rand(3, 3, seed=5))


def test_solve_triangular_error():
    with pytest.raises(RuntimeError, match="Incompatible shapes of A and B"):
        cr.linalg.solve_triangular(cr.tensor(np.eye(3)), cr.tensor(rand(2, 3)), upper=True)


def test_vecdot_and_diagonal():
    compare(lambda x, y: cr.linalg.vecdot(x, y), lambda x, y: torch.linalg.vecdot(x, y),
            rand(2, 3), rand(3, seed=1))
    compare(lambda x, y: cr.linalg.vecdot(x, y, dim=0),
            lambda x, y: torch.linalg.vecdot(x, y, dim=0), rand(4, 3), rand(4, 1, seed=1))
    for offset in (-1, 0, 2):
        compare(lambda x, k=offset: cr.linalg.diagonal(x, offset=k),
                lambda x, k=offset: torch.linalg.diagonal(x, offset=k), rand(2, 3, 4))


def test_householder_product():
    for shape, k in [((4, 3), 3), ((5, 3), 2), ((2, 4, 4), 4)]:
        geqrf = torch.geqrf(torch.tensor(rand(*shape)))
        a, tau = geqrf.a.numpy(), geqrf.tau.numpy()[..., :k]
        compare(cr.linalg.householder_product, torch.linalg.householder_product, a, tau)
    with pytest.raises(RuntimeError, match="tau of shape"):
        cr.linalg.householder_product(cr.tensor(rand(4, 3)), cr.tensor(rand(4)))


# --------------------------------------------------------------------------- matrix_exp

def test_matrix_exp_of_a_nan_matrix_is_nan_without_warnings(recwarn):
    a = np.stack([np.eye(2) * 3, [[np.nan, 0.0], [0.0, 0.0]]])
    out = cr.linalg.matrix_exp(cr.tensor(a)).data  # (NaN's scaling was a cast of NaN to int)
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    np.testing.assert_allclose(out, torch.linalg.matrix_exp(torch.tensor(a)).numpy(),
                               rtol=1e-14)

def test_matrix_exp_accuracy_against_the_eigendecomposition():
    # exp(S) = V diag(e^λ) Vᵀ for symmetric S, independently of the Padé approximant
    for scale in (1e-3, 0.3, 2.0, 10.0, 40.0):
        s = symmetric(3, 5, 5) * scale
        w, v = np.linalg.eigh(s)
        ref = (v * np.exp(w)[..., None, :]) @ np.swapaxes(v, -1, -2)
        out = cr.linalg.matrix_exp(cr.tensor(s)).data
        np.testing.assert_allclose(out, ref, rtol=1e-12 * max(1.0, scale),
                                   atol=1e-13 * np.abs(ref).max())
    rot = np.array([[0.0, -1.0], [1.0, 0.0]]) * np.pi / 3  # a rotation by 60°
    np.testing.assert_allclose(cr.matrix_exp(cr.tensor(rot)).data,
                               [[0.5, -np.sqrt(3) / 2], [np.sqrt(3) / 2, 0.5]], atol=1e-15)


@pytest.mark.parametrize("scale", [0.01, 0.5, 3.0, 12.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_matrix_exp(scale, dtype):
    a = rand(2, 4, 4) * scale / 2
    compare(cr.linalg.matrix_exp, torch.linalg.matrix_exp, a, dtype=dtype)
    compare(cr.matrix_exp, torch.matrix_exp, a[0], dtype=dtype)


def test_matrix_exp_empty_and_gradcheck():
    assert cr.linalg.matrix_exp(cr.tensor(np.zeros((0, 3, 3)))).shape == (0, 3, 3)
    cr.gradcheck(cr.linalg.matrix_exp, [cr.tensor(rand(2, 3, 3) * 3, requires_grad=True)])
    cr.gradgradcheck(cr.linalg.matrix_exp, [cr.tensor(rand(3, 3), requires_grad=True)])


# --------------------------------------------------------------------------- *_ex, solve, cholesky

def _singular_batch() -> np.ndarray:
    a = wellconditioned(3, 3, 3)
    a[1] = 0.0  # singular at the first pivot
    a[2, :, 2] = 0.0  # singular at the last pivot
    return a


def test_inv_ex_and_solve_ex():
    a, b = wellconditioned(2, 3, 3), rand(2, 3, 2)
    compare(lambda x: cr.linalg.inv_ex(x), lambda x: torch.linalg.inv_ex(x), a)
    compare(lambda x, y: cr.linalg.solve_ex(x, y), lambda x, y: torch.linalg.solve_ex(x, y),
            a, b)
    compare(lambda x, y: cr.linalg.solve_ex(x, y, left=False),
            lambda x, y: torch.linalg.solve_ex(x, y, left=False), a, rand(2, 4, 3))
    s = _singular_batch()
    out, ref = cr.linalg.inv_ex(cr.tensor(s)), torch.linalg.inv_ex(torch.tensor(s))
    assert out._fields == ("inverse", "info") and out.info.dtype == np.int32
    np.testing.assert_array_equal(out.info.data, ref.info.numpy())
    np.testing.assert_allclose(out.inverse.data[0], ref.inverse.numpy()[0], rtol=1e-10)
    assert np.isnan(out.inverse.data[1:]).all()
    sol = cr.linalg.solve_ex(cr.tensor(s), cr.tensor(rand(3, 3)))
    np.testing.assert_array_equal(sol.info.data, ref.info.numpy())
    with pytest.raises(RuntimeError, match=r"batch element \(1,\)"):
        cr.linalg.inv_ex(cr.tensor(s), check_errors=True)


def test_cholesky_ex_and_upper():
    a = spd(2, 3, 3)
    compare(lambda x: cr.linalg.cholesky_ex(x), lambda x: torch.linalg.cholesky_ex(x), a,
            rtol=1e-9)
    compare(lambda x: cr.linalg.cholesky(x, upper=True),
            lambda x: torch.linalg.cholesky(x, upper=True), a, rtol=1e-9)
    bad = a.copy()
    bad[1, 2, 2] = -50.0
    out, ref = cr.linalg.cholesky_ex(cr.tensor(bad)), torch.linalg.cholesky_ex(torch.tensor(bad))
    assert out._fields == ("L", "info")
    np.testing.assert_array_equal(out.info.data, ref.info.numpy())
    np.testing.assert_allclose(out.L.data[0], ref.L.numpy()[0], rtol=1e-10)
    with pytest.raises(RuntimeError, match="leading minor of order 3"):
        cr.linalg.cholesky_ex(cr.tensor(bad), check_errors=True)


def test_solve_left_false():
    compare(lambda x, y: cr.linalg.solve(x, y, left=False),
            lambda x, y: torch.linalg.solve(x, y, left=False), wellconditioned(2, 3, 3),
            rand(2, 4, 3))


# --------------------------------------------------------------------------- top level, methods

def test_top_level_forms_and_tensor_methods():
    a = wellconditioned(2, 3, 3)
    compare(cr.det, torch.det, a)
    compare(cr.slogdet, torch.slogdet, a)
    compare(cr.inverse, torch.inverse, a)
    compare(lambda x: x.det(), lambda x: x.det(), a)
    compare(lambda x: x.inverse(), lambda x: x.inverse(), a)
    compare(lambda x: x.matrix_exp(), lambda x: x.matrix_exp(), a)
    compare(lambda x: x.matrix_power(3), lambda x: x.matrix_power(3), a)
    compare(lambda x: x.pinverse(), lambda x: x.pinverse(), rand(3, 4))
    compare(lambda x: x.slogdet(), lambda x: x.slogdet(), a)
    pos = spd(2, 3, 3)
    compare(cr.logdet, torch.logdet, pos)
    compare(lambda x: x.logdet(), lambda x: x.logdet(), pos)
    neg = np.array([[0.0, 1.0], [1.0, 0.0]])  # det -1: NaN, zero gradient, as torch
    x = cr.tensor(neg, requires_grad=True)
    out = cr.logdet(x)
    assert np.isnan(out.item())
    out.backward()
    np.testing.assert_array_equal(x.grad.data, np.zeros((2, 2)))


@pytest.mark.filterwarnings("ignore:torch.qr is deprecated")
@pytest.mark.parametrize("some", [True, False])
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 3, 3)])
def test_torch_svd_and_qr(some, shape):
    a = rand(*shape)

    def gauge(U, S, V):  # sign-free (square U, V: their first k columns)
        k = S.shape[-1]
        U, V = U[..., :k], V[..., :k]
        return U * U, S, V * V, (U * S[..., None, :]) @ V.transpose(-2, -1)

    compare(lambda x: cr.svd(x, some), lambda x: torch.svd(x, some), a, gauge=gauge)
    compare(lambda x: x.svd(some), lambda x: x.svd(some), a, gauge=gauge)
    out = cr.svd(cr.tensor(a), some, compute_uv=False)
    ref = torch.svd(torch.tensor(a), some, compute_uv=False)
    assert out._fields == ("U", "S", "V")
    for c, t in zip(out, ref):
        np.testing.assert_allclose(c.data, t.numpy(), atol=1e-12)
    if some or shape[-2] <= shape[-1]:
        compare(lambda x: cr.qr(x, some), lambda x: torch.qr(x, some), a)
        compare(lambda x: x.qr(some), lambda x: x.qr(some), a)


# --------------------------------------------------------------------------- errors

def test_errors_name_the_function_and_the_fix():
    with pytest.raises(NotImplementedError, match="use cr.linalg.eigh"):
        cr.linalg.eig(cr.tensor(rand(3, 3)))
    with pytest.raises(NotImplementedError, match="eigvalsh"):
        cr.linalg.eigvals(cr.tensor(rand(3, 3)))
    with pytest.raises(RuntimeError, match="linalg.svd: The input tensor A must have at least 2"):
        cr.linalg.svd(cr.tensor(rand(3)))
    with pytest.raises(RuntimeError, match="linalg.eigh: A must be batches of square matrices"):
        cr.linalg.eigh(cr.tensor(rand(2, 3)))
    with pytest.raises(RuntimeError, match="UPLO argument to be 'L' or 'U', but got 'X'"):
        cr.linalg.eigh(cr.tensor(rand(3, 3)), "X")
    with pytest.raises(RuntimeError, match="linalg.matrix_exp: A must be batches of square"):
        cr.linalg.matrix_exp(cr.tensor(rand(2, 3)))
    with pytest.raises(RuntimeError, match="Expected a floating point tensor.*int64"):
        cr.linalg.svd(cr.tensor(np.ones((2, 2), dtype=np.int64)))
    with pytest.raises(RuntimeError, match="driver"):
        cr.linalg.svd(cr.tensor(rand(2, 2)), driver="gesvd")
    with pytest.raises(ValueError, match="linalg.eigh"):  # also a ValueError, as OpError
        cr.linalg.eigh(cr.tensor(rand(2, 3)))
    with pytest.raises(TypeError, match="n must be an int"):
        cr.linalg.matrix_power(cr.tensor(rand(2, 2)), 1.5)
