"""The LU family (cr.linalg.lu, lu_factor, lu_factor_ex, lu_solve; cr.lu, cr.lu_solve,
cr.lu_unpack) against PyTorch: factors, pivots (the same rows as LAPACK's), solutions and their
gradients for square, wide and tall, batched matrices (float64 to 1e-10, float32 to 1e-5);
central differences to second order in float64; singular matrices; errors."""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")
pytest.importorskip("scipy")

TOL = {np.float64: 1e-10, np.float32: 1e-5}
DTYPES = [np.float64, np.float32]
SHAPES = [(3, 3), (2, 4, 4), (2, 3, 5), (2, 5, 3), (1, 2, 6, 4)]  # square, wide, tall


def rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed + 7 * sum(shape) + len(shape)).standard_normal(shape)


def close(actual: Any, expected: Any, rtol: float, what: str = "") -> None:
    a = actual.data if isinstance(actual, cr.Tensor) else np.asarray(actual)
    e = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape}, torch {e.shape}"
    assert a.dtype == e.dtype, f"{what}: dtype {a.dtype}, torch {e.dtype}"
    scale = max(1.0, float(np.abs(e).max())) if e.size else 1.0
    np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale, err_msg=what)


def compare(cr_fn: Callable, torch_fn: Callable, *arrays: np.ndarray, dtype: Any = np.float64,
            seed: int = 0) -> None:
    """Both functions on the same inputs: every output (integer ones exactly), and the input
    gradients for random upstream gradients of the float outputs."""
    rtol = TOL[dtype]
    cs = [cr.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    c_out, t_out = cr_fn(*cs), torch_fn(*ts)
    c_out = list(c_out) if isinstance(c_out, tuple) else [c_out]
    t_out = list(t_out) if isinstance(t_out, tuple) else [t_out]
    assert len(c_out) == len(t_out)
    rng = np.random.default_rng(seed)
    c_roots, t_roots, c_gs, t_gs = [], [], [], []
    for k, (c, t) in enumerate(zip(c_out, t_out)):
        if not t.is_floating_point():
            np.testing.assert_array_equal(c.data, t.numpy(), err_msg=f"output {k}")
            assert c.dtype == t.numpy().dtype
            continue
        close(c, t, rtol, f"output {k}")
        if t.requires_grad:
            g = rng.standard_normal(tuple(t.shape)).astype(dtype)
            t_roots.append(t)
            t_gs.append(torch.tensor(g))
            if c.requires_grad:  # (P: constant in both, torch's gets no gradient either)
                c_roots.append(c)
                c_gs.append(cr.tensor(g))
    c_grads = cr.autograd.grad(c_roots, cs, c_gs, allow_unused=True)
    t_grads = torch.autograd.grad(t_roots, ts, t_gs, allow_unused=True)
    for j, (cg, tg) in enumerate(zip(c_grads, t_grads)):
        assert cg is not None and tg is not None, f"input {j}: no gradient"
        close(cg, tg, rtol, f"gradient of input {j}")


# --------------------------------------------------------------------------- factorisations

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_lu_factor_matches_torch(shape, dtype):
    compare(lambda a: tuple(cr.linalg.lu_factor(a)), lambda a: tuple(torch.linalg.lu_factor(a)),
            rand(*shape), dtype=dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_lu_matches_torch(shape, dtype):
    compare(lambda a: tuple(cr.linalg.lu(a)), lambda a: tuple(torch.linalg.lu(a)),
            rand(*shape), dtype=dtype)


@pytest.mark.parametrize("shape", SHAPES)
def test_factors_reconstruct_a_and_have_their_shapes(shape):
    a = rand(*shape, seed=1)
    m, n = shape[-2:]
    k = min(m, n)
    p, low, up = cr.linalg.lu(cr.tensor(a))
    assert p.shape == shape[:-2] + (m, m)
    assert low.shape == shape[:-2] + (m, k) and up.shape == shape[:-2] + (k, n)
    np.testing.assert_allclose((p @ low @ up).data, a, atol=1e-13)
    np.testing.assert_array_equal(np.tril(up.data, -1), 0)
    np.testing.assert_array_equal(np.triu(low.data, 1), 0)
    np.testing.assert_array_equal(np.diagonal(low.data, axis1=-2, axis2=-1), 1)
    assert np.abs(low.data).max() <= 1  # partial pivoting: |multipliers| ≤ 1


def test_pivots_pick_the_first_largest_entry_of_a_column():
    # ties (|-3| = |3|) and a zero first pivot: LAPACK takes the first maximum
    a = np.array([[0.0, 1.0, 2.0], [-3.0, 1.0, 0.5], [3.0, 2.0, 1.0]])
    lu_, piv = cr.linalg.lu_factor(cr.tensor(a))
    t_lu, t_piv = torch.linalg.lu_factor(torch.tensor(a))
    np.testing.assert_array_equal(piv.data, t_piv.numpy())
    assert piv.data[0] == 2
    close(lu_, t_lu, 1e-15)


@pytest.mark.parametrize("shape", SHAPES)
def test_lu_factor_ex_and_lu_unpack_match_torch(shape):
    a = rand(*shape, seed=2)
    ours = cr.linalg.lu_factor_ex(cr.tensor(a))
    theirs = torch.linalg.lu_factor_ex(torch.tensor(a))
    for c, t in zip(ours, theirs):
        np.testing.assert_allclose(c.data, t.numpy(), rtol=1e-12, atol=1e-14)
        assert c.dtype == t.numpy().dtype
    assert ours._fields == ("LU", "pivots", "info")
    for flags in [(True, True), (False, True), (True, False)]:
        for c, t in zip(cr.lu_unpack(ours.LU, ours.pivots, *flags),
                        torch.lu_unpack(theirs.LU, theirs.pivots, *flags)):
            close(c, t, 1e-12)


def test_lu_unpack_gradient_matches_torch():
    a = rand(2, 5, 3, seed=3)
    piv = torch.linalg.lu_factor(torch.tensor(a)).pivots
    compare(lambda x: tuple(cr.lu_unpack(x, cr.tensor(piv.numpy()))[1:]),
            lambda x: tuple(torch.lu_unpack(x, piv)[1:]), a)


def test_the_top_level_forms_match_torch():
    a, b = rand(2, 4, 4, seed=4), rand(2, 4, 3, seed=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch.lu, torch.lu_solve: deprecated there)
        t_lu, t_piv = torch.lu(torch.tensor(a))
        t_x = torch.lu_solve(torch.tensor(b), t_lu, t_piv)
        t_info = torch.lu(torch.tensor(a), get_infos=True).info
    c_lu, c_piv = cr.lu(cr.tensor(a))
    close(c_lu, t_lu, 1e-12)
    np.testing.assert_array_equal(c_piv.data, t_piv.numpy())
    close(cr.lu_solve(cr.tensor(b), c_lu, c_piv), t_x, 1e-10)
    np.testing.assert_array_equal(cr.lu(cr.tensor(a), get_infos=True).info.data, t_info.numpy())


# --------------------------------------------------------------------------- solves

SOLVES = [(True, False), (True, True), (False, False), (False, True)]  # (left, adjoint)


def _rhs_shape(n: int, left: bool, batch: tuple = ()) -> tuple:
    return batch + ((n, 2) if left else (2, n))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("left,adjoint", SOLVES)
def test_lu_solve_through_lu_factor_matches_torch(left, adjoint, dtype):
    a = rand(2, 4, 4, seed=6) + 2 * np.eye(4)
    b = rand(*_rhs_shape(4, left, (2,)), seed=7)
    compare(lambda x, y: cr.linalg.lu_solve(*cr.linalg.lu_factor(x), y, left=left,
                                            adjoint=adjoint),
            lambda x, y: torch.linalg.lu_solve(*torch.linalg.lu_factor(x), y, left=left,
                                               adjoint=adjoint), a, b, dtype=dtype)


@pytest.mark.parametrize("left,adjoint", SOLVES)
def test_lu_solve_with_lu_as_a_leaf_matches_torch(left, adjoint):
    # the gradient with respect to the packed LU itself (the triangles LAPACK reads), with
    # batch dims broadcast between LU (2, 1) and B (3,)
    lu_ = rand(2, 1, 3, 3, seed=8) + 3 * np.eye(3)
    piv = np.array([[[3, 2, 3]], [[2, 3, 3]]], dtype=np.int32)
    b = rand(*_rhs_shape(3, left, (3,)), seed=9)
    compare(lambda x, y: cr.linalg.lu_solve(x, cr.tensor(piv), y, left=left, adjoint=adjoint),
            lambda x, y: torch.linalg.lu_solve(x, torch.tensor(piv), y, left=left,
                                               adjoint=adjoint), lu_, b)


def test_lu_solve_solves_the_four_equations():
    a = rand(3, 3, seed=10) + 2 * np.eye(3)
    b = rand(3, 3, seed=11)
    lu_, piv = cr.linalg.lu_factor(cr.tensor(a))
    expected = {(True, False): np.linalg.solve(a, b), (True, True): np.linalg.solve(a.T, b),
                (False, False): b @ np.linalg.inv(a), (False, True): b @ np.linalg.inv(a.T)}
    for (left, adjoint), x in expected.items():
        got = cr.linalg.lu_solve(lu_, piv, cr.tensor(b), left=left, adjoint=adjoint)
        np.testing.assert_allclose(got.data, x, atol=1e-12)


# --------------------------------------------------------------------------- central differences

def _uses_everything(p: Any, low: Any, up: Any) -> Any:
    """A scalar-valued mix of the factors (P holds no gradient but multiplies one)."""
    return (p @ low).sin().sum() + (up * up).sum() + (low @ up).tanh().sum()


@pytest.mark.parametrize("shape", [(2, 3, 3), (2, 3, 5), (2, 5, 3)])
def test_lu_gradients_by_central_differences_to_second_order(shape):
    x = cr.tensor(rand(*shape, seed=12), requires_grad=True)
    f = lambda a: _uses_everything(*cr.linalg.lu(a))  # noqa: E731
    assert cr.gradcheck(f, [x])
    assert cr.gradgradcheck(f, [x])
    g = lambda a: cr.linalg.lu_factor(a).LU  # noqa: E731
    assert cr.gradcheck(g, [x])
    assert cr.gradgradcheck(g, [x])


@pytest.mark.parametrize("left,adjoint", SOLVES)
def test_lu_solve_gradients_by_central_differences_to_second_order(left, adjoint):
    a = cr.tensor(rand(2, 3, 3, seed=13) + 2 * np.eye(3), requires_grad=True)
    b = cr.tensor(rand(*_rhs_shape(3, left), seed=14), requires_grad=True)
    f = lambda x, y: cr.linalg.lu_solve(*cr.linalg.lu_factor(x), y,  # noqa: E731
                                        left=left, adjoint=adjoint)
    assert cr.gradcheck(f, [a, b])
    assert cr.gradgradcheck(f, [a, b])


def _lu_features(a: Any) -> Any:
    _, low, up = cr.linalg.lu(a)
    return up.sin().sum(-1) + low.sum(-2)[..., :1]


@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 5), (2, 5, 3)])
def test_lu_forward_mode_matches_reverse_mode(shape):
    x = cr.tensor(rand(*shape, seed=15))
    np.testing.assert_allclose(cr.jacfwd(_lu_features)(x).data, cr.jacrev(_lu_features)(x).data,
                               atol=1e-12)


@pytest.mark.parametrize("left,adjoint", SOLVES)
def test_lu_solve_forward_mode_matches_reverse_mode(left, adjoint):
    lu_, piv = cr.linalg.lu_factor(cr.tensor(rand(3, 3, seed=16) + 2 * np.eye(3)))
    rhs = cr.tensor(rand(*_rhs_shape(3, left, (2,)), seed=17))

    def solve(m: Any, y: Any) -> Any:
        return cr.linalg.lu_solve(m, piv, y, left=left, adjoint=adjoint)

    for j in (0, 1):
        np.testing.assert_allclose(cr.jacfwd(solve, argnums=j)(lu_, rhs).data,
                                   cr.jacrev(solve, argnums=j)(lu_, rhs).data, atol=1e-12)


# --------------------------------------------------------------------------- singular matrices

SINGULAR = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [1.0, 1.0, 1.0]])


def test_singular_matrices_factor_with_info_and_lu_factor_raises_as_torch():
    a = np.stack([rand(3, 3, seed=18), SINGULAR, np.zeros((3, 3))])
    ours, theirs = cr.linalg.lu_factor_ex(cr.tensor(a)), torch.linalg.lu_factor_ex(
        torch.tensor(a))
    np.testing.assert_array_equal(ours.info.data, theirs.info.numpy())  # [0, 3, 1]
    np.testing.assert_array_equal(ours.pivots.data, theirs.pivots.numpy())
    close(ours.LU, theirs.LU, 1e-12)
    for c, t in zip(cr.linalg.lu(cr.tensor(a)), torch.linalg.lu(torch.tensor(a))):
        close(c, t, 1e-12)
    with pytest.raises(RuntimeError, match=r"lu_factor: \(Batch element 1\): U\[3,3\] is zero"):
        cr.linalg.lu_factor(cr.tensor(a))
    with pytest.raises(RuntimeError, match=r"lu_factor_ex: U\[3,3\] is zero"):
        cr.linalg.lu_factor_ex(cr.tensor(SINGULAR), check_errors=True)
    with pytest.raises(RuntimeError, match="is zero"):
        cr.lu(cr.tensor(SINGULAR))
    with pytest.raises(RuntimeError, match="is zero"):
        torch.linalg.lu_factor(torch.tensor(a))


def test_lu_solve_with_a_singular_factor_gives_inf_or_nan_as_torch():
    ours = cr.linalg.lu_factor_ex(cr.tensor(SINGULAR))
    theirs = torch.linalg.lu_factor_ex(torch.tensor(SINGULAR))
    b = np.ones((3, 2))
    x = cr.linalg.lu_solve(ours.LU, ours.pivots, cr.tensor(b))
    t = torch.linalg.lu_solve(theirs.LU, theirs.pivots, torch.tensor(b)).numpy()
    assert not np.isfinite(x.data).all()
    np.testing.assert_array_equal(np.isfinite(x.data), np.isfinite(t))


def test_the_gradient_at_a_zero_pivot_is_a_clear_error():
    x = cr.tensor(SINGULAR, requires_grad=True)
    _, low, up = cr.linalg.lu(x)
    with pytest.raises(ValueError, match="lu_factor: the derivative exists only where U"):
        up.sum().backward()


# --------------------------------------------------------------------------- errors

def test_bad_inputs_raise_clear_errors():
    a = cr.tensor(rand(2, 3, 3, seed=19))
    lu_, piv = cr.linalg.lu_factor(a)
    with pytest.raises(RuntimeError, match="LU without pivoting is not implemented on the CPU"):
        cr.linalg.lu_factor(a, pivot=False)
    with pytest.raises(RuntimeError, match="LU without pivoting"):
        cr.linalg.lu(a, pivot=False)
    with pytest.raises(RuntimeError, match=r"lu_factor: .*at least 2 dimensions.*\(3,\)"):
        cr.linalg.lu_factor(cr.ones(3))
    with pytest.raises(RuntimeError, match="lu: Expected a floating point tensor.*int64"):
        cr.linalg.lu(cr.tensor(np.ones((3, 3), dtype=np.int64)))
    with pytest.raises(RuntimeError, match="lu_factor_ex: .*float32 and float64.*float16"):
        cr.linalg.lu_factor_ex(cr.ones(3, 3).half())
    with pytest.raises(RuntimeError, match=r"lu_solve: .*square matrices.*3 by 4"):
        cr.linalg.lu_solve(cr.ones(3, 4, dtype=cr.float64), piv[0], cr.ones(3, 1))
    with pytest.raises(RuntimeError, match=r"lu_solve: .*B must have at least 2.*\(3,\)"):
        cr.linalg.lu_solve(lu_, piv, cr.ones(3, dtype=cr.float64))
    with pytest.raises(RuntimeError, match=r"AX = B \(3x3 and 4x1\)"):
        cr.linalg.lu_solve(lu_, piv, cr.ones(4, 1, dtype=cr.float64))
    with pytest.raises(RuntimeError, match=r"XA = B \(3x3 and 3x2\)"):
        cr.linalg.lu_solve(lu_, piv, cr.ones(3, 2, dtype=cr.float64), left=False)
    with pytest.raises(RuntimeError, match="same dtype.*float64.*float32"):
        cr.linalg.lu_solve(lu_, piv, cr.ones(3, 1))
    with pytest.raises(RuntimeError, match=r"lu_solve: shapes \(2,\) and \(4,\) cannot be"):
        cr.linalg.lu_solve(lu_, piv, cr.ones(4, 3, 1, dtype=cr.float64))
    with pytest.raises(RuntimeError, match="pivots should be a tensor of dtype int32.*int64"):
        cr.linalg.lu_solve(lu_, piv.long(), cr.ones(3, 1, dtype=cr.float64))
    with pytest.raises(RuntimeError, match=r"pivots of shape \(2, 3\).*\(3,\)"):
        cr.linalg.lu_solve(lu_, piv[0], cr.ones(3, 1, dtype=cr.float64))
    with pytest.raises(RuntimeError, match="between 1 and LU.size.-2. = 3.*from 0"):
        cr.lu_unpack(lu_, piv * 0)
    with pytest.raises(RuntimeError, match=r"lu_unpack: .*2 or more dimensions.*\(3,\)"):
        cr.lu_unpack(cr.ones(3), piv)


def test_without_scipy_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "scipy.linalg", None)  # (import of it: ImportError)
    with pytest.raises(ImportError, match=r"pip install chainrule\[special\]"):
        cr.linalg.lu_factor(cr.ones(3, 3))
