"""Linear algebra: matmul (1-D, 2-D, batched, broadcast), einsum, inv, det, slogdet, solve,
cholesky. Matrices are the last two dims; leading dims are batch dims."""

from __future__ import annotations

import math
import string
from typing import Any

import numpy as np

from ._util import ndim_of, shape_of
from .registry import OpError, Sample, defop


def _mT(a: Any) -> Any:
    return np.swapaxes(a, -1, -2)


def _rows_gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a C-contiguous stack ``a`` (..., m, k) and a matrix ``b``: one GEMM over
    all rows, as NumPy would otherwise loop over the batch (one small BLAS call per matrix)."""
    rows = math.prod(a.shape[:-1])  # (not -1: that fails when k is 0)
    return (a.reshape(rows, a.shape[-1]) @ b).reshape(a.shape[:-1] + b.shape[-1:])


# OpenBLAS's AVX-512 kernels (SkylakeX, chosen for CPUs with AVX-512) multiply float32
# matrices with m·n·k ≤ 10⁶ by a single-threaded small-matrix kernel that reads them in place
# (its sgemm_small_kernel_permit_skylakex.c); just above that they pack them and split the work
# over the threads, which for k ≤ n (e.g. (128×64)·(64×128), attention scores) is ~1.7× slower
# than the two halves of the rows through the small kernel (measured on an AVX-512 Xeon; for
# k > n, or float64, the threaded path is as fast or faster). The small kernel is not used when
# only the second operand is transposed, so that one is copied first. Its other x86-64 kernel
# sets (Haswell, Zen) have no small-matrix kernel: there the halves and the copy cost time (AMD
# EPYC Zen 3, OpenBLAS 0.3.31 Haswell kernels, q·kᵀ at those shapes: ~0.21-0.24 ms directly,
# ~0.27-0.31 ms by halves), so the trick is only taken with OpenBLAS and AVX-512.
_SMALL_MNK = 1_000_000


def _openblas_avx512() -> bool:
    """Whether NumPy's BLAS is OpenBLAS and the CPU has the AVX-512 its small kernel needs."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
        blas = np.__config__.CONFIG["Build Dependencies"]["blas"]["name"]
    except (ImportError, AttributeError, KeyError, TypeError):  # NumPy < 2 or an odd build
        return False
    return "openblas" in str(blas).lower() and bool(features.get("AVX512_SKX"))


_OPENBLAS_AVX512 = _openblas_avx512()


def _halves_are_faster(a: np.ndarray, b: np.ndarray) -> bool:
    if not _OPENBLAS_AVX512 or a.ndim < 2 or b.ndim < 2 or a.dtype != np.float32 \
            or b.dtype != np.float32:
        return False
    m, k = a.shape[-2:]
    n = b.shape[-1]
    return _SMALL_MNK < m * n * k <= 2 * _SMALL_MNK and k <= n and m % 2 == 0


def _is_transposed(x: np.ndarray) -> bool:
    """Whether the matrices of ``x`` are stored column by column (a transposed view)."""
    return x.strides[-2] == x.itemsize and x.strides[-1] != x.itemsize


def _by_halves(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` as two products of half the rows each, in one batched call."""
    if _is_transposed(b) and not _is_transposed(a):
        b = np.ascontiguousarray(b)
    m, k = a.shape[-2:]
    halves = a.reshape(a.shape[:-2] + (2, m // 2, k)) @ np.expand_dims(b, -3)
    return halves.reshape(halves.shape[:-3] + (m, b.shape[-1]))


def _matmul_arrays(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` on arrays, arranged for BLAS (the forward, and the backward's products)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:  # lists, scalars: NumPy's way
        return np.matmul(a, b)
    if a.ndim > 2 and b.ndim == 2 and a.flags.c_contiguous:
        return _rows_gemm(a, b)
    if _halves_are_faster(a, b):
        return _by_halves(a, b)
    return np.matmul(a, b)


def _product(a: Any, b: Any) -> Any:
    """``a @ b`` for the backward, where the result's layout is free: a stack of matrices with
    fewer rows than columns is computed as ``(bᵀ aᵀ)ᵀ`` (OpenBLAS splits a GEMM across its
    threads well by rows and poorly by columns: (64×128)-shaped products take ~1.5× as long as
    their transposes)."""
    if type(a) is not np.ndarray or type(b) is not np.ndarray:  # Tensors (create_graph)
        return a @ b
    if a.ndim >= 2 and b.ndim >= 2 and a.shape[-2] < b.shape[-1]:
        return _mT(_matmul_arrays(_mT(b), _mT(a)))
    return _matmul_arrays(a, b)


def _matmul_vjp_a(g: Any, out: Any, a: Any, b: Any) -> Any:
    if b.ndim == 1:  # out[..., m] = a[..., m, k] b[k]
        return g * b if a.ndim == 1 else np.expand_dims(g, -1) * b
    if a.ndim == 1:  # out[..., n] = a[k] b[..., k, n]
        return (b @ np.expand_dims(g, -1))[..., 0]
    return _product(g, _mT(b))


def _matmul_vjp_b(g: Any, out: Any, a: Any, b: Any) -> Any:
    if a.ndim == 1:  # out[..., n] = a[k] b[..., k, n]
        return g * a if b.ndim == 1 else np.expand_dims(a, -1) * np.expand_dims(g, -2)
    if b.ndim == 1:  # out[..., m] = a[..., m, k] b[k]: δb = Σ_batch gᵀ·a, one GEMM (the
        # engine sums the batch dims away)
        return (np.expand_dims(g, -2) @ a)[..., 0, :]
    if b.ndim == 2 and a.ndim > 2 and type(a) is np.ndarray and type(g) is np.ndarray:
        # a matrix shared by the batch: δb = Σ_batch aᵀ·g is one GEMM over all the rows, not a
        # batch of products summed by the engine (3 × (64×1024)·(1024×64) in the attention
        # benchmark: ~0.10 ms each instead of ~0.13-0.15; AMD EPYC Zen 3)
        rows = math.prod(a.shape[:-1])  # (not -1: that fails for an empty k or n)
        return _product(_mT(a.reshape(rows, a.shape[-1])), g.reshape(rows, g.shape[-1]))
    return _product(_mT(a), g)


def _matmul_jvp_a(t: Any, out: Any, a: Any, b: Any) -> Any:
    lead = t.ndim - ndim_of(a)
    if not lead or ndim_of(b) == 1 and ndim_of(a) == 1:
        return t @ b
    lead_shape = tuple(t.shape[:lead])
    if ndim_of(a) == 1:  # a row vector against b's (batched) matrices
        row = t.reshape(lead_shape + (1,) * (ndim_of(b) - 2) + (1, t.shape[-1]))
        return (row @ b)[..., 0, :]
    # keep the tangent's batch dims in front of b's batch dims
    pad = (1,) * max(ndim_of(b) - ndim_of(a), 0)
    return t.reshape(lead_shape + pad + shape_of(a)) @ b


def _matmul_jvp_b(t: Any, out: Any, a: Any, b: Any) -> Any:
    lead = t.ndim - ndim_of(b)
    if not lead:
        return a @ t
    lead_shape = tuple(t.shape[:lead])
    if ndim_of(b) == 1:  # keep the tangent's batch dims out of the matrix dims
        tb = t.reshape(lead_shape + (1,) * max(ndim_of(a) - 2, 0) + (t.shape[-1], 1))
        return (a @ tb)[..., 0]
    pad = (1,) * max(ndim_of(a) - ndim_of(b), 0)
    return a @ t.reshape(lead_shape + pad + shape_of(b))


matmul = defop(
    "matmul", _matmul_arrays, (_matmul_vjp_a, _matmul_vjp_b),
    ("∂(AB)/∂A: δA = δ·Bᵀ", "∂(AB)/∂B: δB = Aᵀ·δ"), reads=((1,), (0,)),
    sample=Sample(shapes=((2, 3, 4), (4, 5)), variants=(), make=None), torch="matmul",
    jvp=(_matmul_jvp_a, _matmul_jvp_b))


# --------------------------------------------------------------------------- einsum

def _parse_einsum(equation: str, ndims: list[int]) -> tuple[list[str], str]:
    """Explicit subscripts for each operand and the output, with '...' spelled out."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    ins = lhs.split(",")
    if len(ins) != len(ndims):
        raise OpError(f"einsum: the equation {equation!r} names {len(ins)} operands, "
                      f"got {len(ndims)}")
    used = set(eq) - set(".,->")
    spare = [c for c in string.ascii_letters if c not in used]
    ell_n = max((n - len(s.replace("...", "")) for s, n in zip(ins, ndims) if "..." in s),
                default=0)
    ell = "".join(spare[:ell_n])
    out_ins = []
    for s, n in zip(ins, ndims):
        if "..." in s:
            k = n - len(s.replace("...", ""))
            s = s.replace("...", ell[ell_n - k:] if k else "")
        if len(s) != n:
            raise OpError(f"einsum: operand subscripts {s!r} do not match its {n} dims")
        if len(set(s)) != len(s):
            raise OpError(f"einsum: repeated subscripts within one operand ({s!r}, a trace or "
                          "diagonal) are not supported; use cr.diagonal or sum instead")
        out_ins.append(s)
    if arrow:
        out = rhs.replace("...", ell)
    else:
        letters = "".join(out_ins)
        out = ell + "".join(sorted(c for c in set(letters) - set(ell) if letters.count(c) == 1))
    return out_ins, out


def _einsum_forward(*xs: np.ndarray, equation: str) -> np.ndarray:
    ins, out = _parse_einsum(equation, [x.ndim for x in xs])
    sizes: dict[str, int] = {}
    for subs, x in zip(ins, xs):
        for c, n in zip(subs, x.shape):
            if sizes.setdefault(c, n) != n and 1 not in (n, sizes[c]):
                raise OpError(f"einsum: in {equation!r} the subscript {c!r} has size "
                              f"{sizes[c]} in one operand and {n} in another (operand shapes "
                              f"{' and '.join(str(y.shape) for y in xs)})")
    return np.einsum(",".join(ins) + "->" + out, *xs, optimize=len(xs) > 2)


def _einsum_vjp(i: int, g: Any, out: Any, *xs: Any, equation: str) -> Any:
    ins, o = _parse_einsum(equation, [ndim_of(x) for x in xs])
    others = [x for k, x in enumerate(xs) if k != i]
    other_subs = [s for k, s in enumerate(ins) if k != i]
    available = set(o).union(*other_subs) if other_subs else set(o)
    target = ins[i]
    kept = "".join(c for c in target if c in available)
    spec = ",".join([o] + other_subs) + "->" + kept
    r = np.einsum(spec, g, *others)
    if kept != target:  # letters summed away by this operand alone: broadcast back
        shape = tuple(xs[i].shape[k] if c not in available else -1 for k, c in enumerate(target))
        r = np.expand_dims(r, tuple(k for k, c in enumerate(target) if c not in available))
        r = np.broadcast_to(r, tuple(s if s != -1 else r.shape[k] for k, s in enumerate(shape)))
    if shape_of(r) != shape_of(xs[i]):  # a size-1 dim of another operand broadcast against
        # this one's: the product has size 1 there, the engine needs this operand's size
        r = np.broadcast_to(r, np.broadcast_shapes(shape_of(r), shape_of(xs[i])))
    return r


def _einsum_jvp(i: int, t: Any, out: Any, *xs: Any, equation: str) -> Any:
    ins, o = _parse_einsum(equation, [ndim_of(x) for x in xs])
    lead = t.ndim - ndim_of(xs[i])
    used = set("".join(ins) + o)
    extra = "".join([c for c in string.ascii_letters if c not in used][:lead])
    subs = [extra + s if k == i else s for k, s in enumerate(ins)]
    args = [t if k == i else x for k, x in enumerate(xs)]
    return np.einsum(",".join(subs) + "->" + extra + o, *args)


einsum = defop("einsum", _einsum_forward, (_einsum_vjp,),
               "einsum: δ_i = einsum of δ with the other operands into operand i's subscripts",
               variadic=True, sample=Sample(shapes=((2, 3), (3, 4), (4,)),
                                            params={"equation": "ij,jk,k->i"}),
               torch="einsum", jvp=(_einsum_jvp,))


# --------------------------------------------------------------------------- linalg


def _spd(rng: np.random.Generator) -> tuple:
    a = rng.standard_normal((2, 3, 3))
    return (a @ np.swapaxes(a, -1, -2) + 3 * np.eye(3),)


def _wellconditioned(rng: np.random.Generator) -> tuple:
    return (rng.standard_normal((2, 3, 3)) + 3 * np.eye(3),)


def _inv_for_grad(a: Any, op: str) -> Any:
    """A⁻¹ for the derivative of ``op``, which exists at non-singular A only (its documented
    domain): at a singular A this says so, not NumPy's bare 'Singular matrix'."""
    try:
        return np.linalg.inv(a)
    except np.linalg.LinAlgError:
        raise OpError(f"{op}: the derivative is computed here for non-singular matrices only, "
                      f"and this one (shape {shape_of(a)}) is singular") from None


inv = defop("inv", np.linalg.inv, lambda g, out, a: -_mT(out) @ g @ _mT(out),
            "∂A⁻¹: δA = -A⁻ᵀ δ A⁻ᵀ", saves=False, saves_output=True,
            sample=Sample(make=_wellconditioned), torch="linalg.inv",
            jvp=lambda t, out, a: -(out @ t @ out))


def _cofactors(a: Any, out: Any) -> Any:
    """∂ det A/∂A, the matrix of cofactors: det(A)·A⁻ᵀ, and at a singular A (where that
    form breaks down but the cofactors exist: det is a polynomial) from the SVD A = UΣVᵀ:
    det(U)·det(V)·U·diag(Π_{j≠i} σ_j)·Vᵀ, each product of all σ but one taken from prefix
    and suffix products (no division by a zero σ). A tensor that requires grad (create_graph):
    the first form, recorded, or at a singular one the minors' determinants."""
    if type(a) is not np.ndarray:
        if getattr(a, "requires_grad", False):
            if np.all(getattr(out, "data", out) != 0):
                return _expand_last2(out) * _mT(_inv_for_grad(a, "det"))
            return _cofactors_by_minors(a)
        a, out = a.data, getattr(out, "data", out)  # (forward mode's primal: values only)
    try:
        if np.all(out != 0):
            return _expand_last2(out) * _mT(np.linalg.inv(a))
    except np.linalg.LinAlgError:
        pass
    u, sv, vt = np.linalg.svd(a)
    ones = np.ones(sv.shape[:-1] + (1,), sv.dtype)
    before = np.cumprod(np.concatenate([ones, sv[..., :-1]], -1), -1)
    after = np.flip(np.cumprod(np.concatenate([ones, np.flip(sv, -1)[..., :-1]], -1), -1), -1)
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return _expand_last2(sign) * ((u * (before * after)[..., None, :]) @ vt)


def _cofactors_by_minors(a: Any) -> Any:
    """The cofactors of a singular tensor ``a``, recorded: (-1)^(i+j)·det(a without row i
    and column j), each minor's det again this op, so that create_graph differentiates them
    to any order (n² determinants: only for this case)."""
    from .. import functional as F
    from ..creation import ones_like

    n = a.shape[-1]
    if n == 1:
        return ones_like(a)
    rows = [[k for k in range(n) if k != i] for i in range(n)]
    minors = [[det(a[..., rows[i], :][..., :, rows[j]]) * (-1) ** (i + j) for j in range(n)]
              for i in range(n)]
    return F.stack([F.stack(row, -1) for row in minors], -2)


def _expand_last2(x: Any) -> Any:
    return np.expand_dims(np.expand_dims(x, -1), -1)


det = defop("det", np.linalg.det,
            lambda g, out, a: _expand_last2(g) * _cofactors(a, out),
            "∂ det A/∂A = det(A)·A⁻ᵀ (the cofactors; at a singular A from the SVD)",
            saves_output=True, sample=Sample(make=_wellconditioned), torch="linalg.det",
            jvp=lambda t, out, a: (_cofactors(a, out) * t).sum(axis=(-2, -1)))
logabsdet = defop("logabsdet", lambda a: np.linalg.slogdet(a)[1],
                  lambda g, out, a: _expand_last2(g) * _mT(_inv_for_grad(a, "slogdet")),
                  "∂ log|det A|/∂A = A⁻ᵀ", sample=Sample(make=_wellconditioned),
                  torch=None,
                  jvp=lambda t, out, a: (_inv_for_grad(a, "slogdet") * _mT(t)).sum(
                      axis=(-2, -1)))


def vector_rhs(a_shape: tuple, b_shape: tuple) -> bool:
    """Whether ``solve``'s B is a (batch of) vector(s), by PyTorch's rule: B is 1-D, or B has
    A's shape without its last dim."""
    return len(b_shape) == 1 or tuple(b_shape) == tuple(a_shape[:-1])


def _solve_forward(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if vector_rhs(a.shape, b.shape):  # a batch of vectors
        return np.linalg.solve(a, b[..., None])[..., 0]
    return np.linalg.solve(a, b)


def _solve_rhs(a: Any, r: Any, vector: bool) -> Any:
    """A⁻¹ r, with r read as (a batch of) vectors when ``vector`` (made a column, so that
    leading batch dims of a tangent cannot make it look like a matrix)."""
    if vector:
        return _solve(a, np.expand_dims(r, -1))[..., 0]
    return _solve(a, r)


def _solve_vjp_b(g: Any, out: Any, a: Any, b: Any) -> Any:
    return _solve_rhs(_mT(a), g, vector_rhs(shape_of(a), shape_of(b)))


def _solve_vjp_a(g: Any, out: Any, a: Any, b: Any) -> Any:
    vector = vector_rhs(shape_of(a), shape_of(b))
    gb = _solve_rhs(_mT(a), g, vector)
    if vector:
        return -np.expand_dims(gb, -1) * np.expand_dims(out, -2)
    return -gb @ _mT(out)


def _solve(a: Any, b: Any) -> Any:
    from ..tensor import Tensor

    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return solve_op(a, b)
    return _solve_forward(a, b)


solve = _solve


def _batched_tangent(t: Any, x: Any, batch: int, other_batch: int) -> Any:
    """``t`` (a tangent of ``x`` with leading batch dims of its own) with 1s inserted after
    those, so that they stay in front of the other operand's batch dims when broadcasting."""
    lead = t.ndim - ndim_of(x)
    if not lead or other_batch <= batch:
        return t
    return t.reshape(tuple(t.shape[:lead]) + (1,) * (other_batch - batch) + shape_of(x))


def _solve_jvp_a(t: Any, out: Any, a: Any, b: Any) -> Any:
    vector = vector_rhs(shape_of(a), shape_of(b))
    t = _batched_tangent(t, a, ndim_of(a) - 2, out.ndim - (1 if vector else 2))
    if vector:
        return -_solve(a, t @ np.expand_dims(out, -1))[..., 0]
    return -_solve(a, t @ out)


def _solve_jvp_b(t: Any, out: Any, a: Any, b: Any) -> Any:
    vector = vector_rhs(shape_of(a), shape_of(b))
    t = _batched_tangent(t, b, ndim_of(b) - (1 if vector else 2), ndim_of(a) - 2)
    return _solve_rhs(a, t, vector)


solve_op = defop("solve", _solve_forward, (_solve_vjp_a, _solve_vjp_b),
                 ("∂X/∂A: δA = -A⁻ᵀδ Xᵀ", "∂X/∂B: δB = A⁻ᵀδ"), saves_output=True,
                 sample=Sample(make=lambda rng: (_wellconditioned(rng)[0],
                                                 rng.standard_normal((2, 3, 2)))),
                 torch="linalg.solve",
                 jvp=(_solve_jvp_a, _solve_jvp_b))


def _phi(x: Any) -> Any:
    """The lower triangle with the diagonal halved."""
    n = x.shape[-1]
    return x * (np.tril(np.ones((n, n), dtype=x.dtype)) - 0.5 * np.eye(n, dtype=x.dtype))


def _cholesky_vjp(g: Any, out: Any, a: Any) -> Any:
    # Murray (2016): Ā = ½ (S + Sᵀ), S = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹.
    low = out
    p = _phi(_mT(low) @ g)
    s = _solve(_mT(low), _mT(_solve(_mT(low), _mT(p))))
    return 0.5 * (s + _mT(s))


def _cholesky_jvp(t: Any, out: Any, a: Any) -> Any:
    # dL = L Φ(L⁻¹ dA L⁻ᵀ), with dA symmetrised as the VJP's Ā is (the two are transposes).
    low = out
    t = 0.5 * (t + _mT(t))
    inner = _solve(low, _mT(_solve(low, _mT(t))))
    return low @ _phi(inner)


def _symmetrize(a: Any) -> tuple:
    return (0.5 * (a + _mT(a)),)


# NOTE: the forward reads only the lower triangle of A, but the gradient is given as a symmetric
# matrix (the derivative along symmetric perturbations), as PyTorch does; so the every-op test
# differentiates A -> cholesky((A + Aᵀ)/2).
cholesky = defop("cholesky", np.linalg.cholesky, _cholesky_vjp,
                 "A = LLᵀ: Ā = ½(S + Sᵀ), S = L⁻ᵀ Φ(Lᵀ L̄) L⁻¹", saves=False, saves_output=True,
                 sample=Sample(make=_spd, domain=_symmetrize, atol=1e-4),
                 torch="linalg.cholesky", jvp=_cholesky_jvp)


# --------------------------------------------------------------------------- decompositions
#
# An op has one output, so a decomposition returns its factors packed side by side in the last
# dim, each flattened (``_pack``); the public functions (``cr.linalg.svd``...) slice them apart
# again (``_unpack``, differentiable slices and reshapes). The rules unpack the upstream gradient
# the same way. The rules are written with operators and NumPy functions that Tensors dispatch
# to their own ops, so ``create_graph=True`` differentiates them again.

def _pack(parts: list, batch: tuple) -> np.ndarray:
    """The factors (each with batch dims ``batch``), flattened and joined in the last dim."""
    return np.concatenate([p.reshape(batch + (math.prod(p.shape[len(batch):]),))
                           for p in parts], axis=-1)


def _unpack(x: Any, shapes: list) -> list:
    """The factors of core shapes ``shapes`` from ``x`` (..., total), for any leading dims."""
    batch = tuple(x.shape[:-1])
    parts, start = [], 0
    for core in shapes:
        size = math.prod(core)
        parts.append(x[..., start:start + size].reshape(batch + tuple(core)))
        start += size
    return parts


def _flat(p: Any, core_ndim: int) -> Any:
    """``p`` with its last ``core_ndim`` dims flattened into one."""
    lead = tuple(p.shape[:p.ndim - core_ndim])
    return p.reshape(lead + (math.prod(p.shape[p.ndim - core_ndim:]),))


def _is_zero(x: Any) -> bool:
    """Whether an upstream gradient is all zeros (the factor was not used). Never for one that
    requires grad: its derivative may not be zero (a VJP transposed into a JVP, a Hessian)."""
    return not getattr(x, "requires_grad", False) and not np.any(getattr(x, "data", x))


def _eye(n: int, like: Any) -> np.ndarray:
    return np.eye(n, dtype=getattr(like, "dtype", np.float64))


def _diag_embed(v: Any) -> Any:
    return np.expand_dims(v, -1) * _eye(v.shape[-1], v)


def _diag_of(x: Any) -> Any:
    return (x * _eye(x.shape[-1], x)).sum(axis=-1)


def _tensor_args(*xs: Any) -> bool:
    return any(hasattr(x, "grad_fn") for x in xs)


# ---- SVD: A = U diag(S) Vh

def _svd_shapes(m: int, n: int, full_matrices: bool) -> list:
    k = min(m, n)
    return [(m, m if full_matrices else k), (k,), (n if full_matrices else k, n)]


def _svd_forward(a: np.ndarray, full_matrices: bool = False) -> np.ndarray:
    u, s, vh = np.linalg.svd(a, full_matrices=full_matrices)
    return _pack([u, s, vh], a.shape[:-2])


def svd_parts(a: Any, full_matrices: bool = False) -> list:
    """[U, S, Vh] of ``a``: through the op for Tensors (recorded), directly for arrays."""
    m, n = shape_of(a)[-2:]
    if _tensor_args(a):
        return _unpack(svd(a, full_matrices=full_matrices), _svd_shapes(m, n, full_matrices))
    return list(np.linalg.svd(a, full_matrices=full_matrices))


def _svd_backward(gu: Any, gs: Any, gvh: Any, u: Any, s: Any, vh: Any) -> Any:
    """Ā for the reduced SVD (Townsend 2016), given the upstream gradients of its factors."""
    m, n = u.shape[-2], vh.shape[-1]
    used_u, used_v = not _is_zero(gu), not _is_zero(gvh)
    if not (used_u or used_v):  # singular values only: U diag(S̄) Vh, finite at ties
        return u @ (np.expand_dims(gs, -1) * vh)
    k = s.shape[-1]
    s2 = s * s
    e = np.expand_dims(s2, -2) - np.expand_dims(s2, -1) + _eye(k, s)  # E_jk = s_k² - s_j²
    utgu = _mT(u) @ gu
    vtgv = vh @ _mT(gvh)
    core = ((utgu - _mT(utgu)) * np.expand_dims(s, -2)
            + np.expand_dims(s, -1) * (vtgv - _mT(vtgv))) / e + _diag_embed(gs)
    if m > k and used_u:  # the part of Ū outside span(U): (I - UUᵀ) Ū S⁻¹
        gu_sinv = gu / np.expand_dims(s, -2)
        return (u @ core + gu_sinv - u @ (_mT(u) @ gu_sinv)) @ vh
    if n > k and used_v:
        sinv_gvh = gvh / np.expand_dims(s, -1)
        return u @ (core @ vh + sinv_gvh - (sinv_gvh @ _mT(vh)) @ vh)
    return u @ core @ vh


def _svd_vjp(g: Any, out: Any, a: Any, full_matrices: bool = False) -> Any:
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    shapes = _svd_shapes(m, n, full_matrices)
    u, s, vh = _unpack(out, shapes)
    gu, gs, gvh = _unpack(g, shapes)
    if full_matrices:  # as PyTorch: the columns beyond k (an arbitrary basis) pass no gradient
        u, gu, vh, gvh = u[..., :k], gu[..., :k], vh[..., :k, :], gvh[..., :k, :]
    return _svd_backward(gu, gs, gvh, u, s, vh)


svd = defop(
    "svd", _svd_forward, _svd_vjp,
    "A = U S Vh: Ā = U[(F∘(UᵀŪ - ŪᵀU))S + S(F∘(VᵀV̄ - V̄ᵀV)) + diag(S̄)]Vh + (I-UUᵀ)ŪS⁻¹Vh "
    "+ US⁻¹V̄ᵀ(I-VVᵀ), F_jk = 1/(s_k² - s_j²)", saves=False, saves_output=True,
    sample=Sample(make=lambda rng: (rng.standard_normal((2, 4, 3)),), atol=1e-4))


def _svdvals_vjp(g: Any, out: Any, a: Any) -> Any:
    u, _, vh = svd_parts(a)
    return u @ (np.expand_dims(g, -1) * vh)


def _svdvals_jvp(t: Any, out: Any, a: Any) -> Any:
    u, _, vh = svd_parts(a)
    return ((t @ _mT(vh)) * u).sum(axis=-2)  # diag(Uᵀ Ṫ V)


svdvals = defop("svdvals", lambda a: np.linalg.svd(a, compute_uv=False), _svdvals_vjp,
                "∂s_i/∂A = u_i v_iᵀ: Ā = U diag(S̄) Vh",
                sample=Sample(make=lambda rng: (rng.standard_normal((2, 3, 4)),)),
                torch="linalg.svdvals", jvp=_svdvals_jvp)


# ---- symmetric eigendecomposition: A = V diag(L) Vᵀ

def _eigh_forward(a: np.ndarray, UPLO: Any = "L") -> np.ndarray:
    w, v = np.linalg.eigh(a, UPLO=UPLO)
    return _pack([w, v], a.shape[:-2])


def eigh_parts(a: Any, UPLO: Any = "L") -> list:
    """[L, V] of ``a``: through the op for Tensors (recorded), directly for arrays."""
    n = shape_of(a)[-1]
    if _tensor_args(a):
        return _unpack(eigh(a, UPLO=UPLO), [(n,), (n, n)])
    return list(np.linalg.eigh(a, UPLO=UPLO))


def _eig_gaps(w: Any) -> Any:
    """E_ij = λ_j - λ_i, with 1 on the diagonal (divided into a zero-diagonal matrix)."""
    return np.expand_dims(w, -2) - np.expand_dims(w, -1) + _eye(w.shape[-1], w)


def _eigh_vjp(g: Any, out: Any, a: Any, UPLO: str = "L") -> Any:
    n = shape_of(a)[-1]
    w, v = _unpack(out, [(n,), (n, n)])
    gw, gv = _unpack(g, [(n,), (n, n)])
    core = _diag_embed(gw)
    if not _is_zero(gv):  # ill-defined at repeated eigenvalues (a division by λ_j - λ_i = 0)
        vtgv = _mT(v) @ gv
        core = core + 0.5 * (vtgv - _mT(vtgv)) / _eig_gaps(w)
    return v @ core @ _mT(v)


def _eigh_jvp(t: Any, out: Any, a: Any, UPLO: str = "L") -> Any:
    n = shape_of(a)[-1]
    w, v = _unpack(out, [(n,), (n, n)])
    dp = _mT(v) @ (0.5 * (t + _mT(t))) @ v  # (the derivative along symmetric perturbations)
    off = 1 - _eye(n, w)
    dv = v @ (dp * off / _eig_gaps(w))
    return np.concatenate([_diag_of(dp), _flat(dv, 2)], axis=-1)


# NOTE: the forward reads one triangle (UPLO); the gradient is the symmetric matrix (the
# derivative along symmetric perturbations), as PyTorch's.
eigh = defop(
    "eigh", _eigh_forward, _eigh_vjp,
    "A = V diag(L) Vᵀ: Ā = V[diag(L̄) + ½(VᵀV̄ - V̄ᵀV)/E]Vᵀ, E_ij = λ_j - λ_i",
    saves=False, saves_output=True,
    sample=Sample(make=lambda rng: (rng.standard_normal((2, 3, 3)),), domain=_symmetrize,
                  variants=({"UPLO": "U"},), atol=1e-4), jvp=_eigh_jvp)


def _eigvalsh_vjp(g: Any, out: Any, a: Any, UPLO: str = "L") -> Any:
    _, v = eigh_parts(a, UPLO)
    return (v * np.expand_dims(g, -2)) @ _mT(v)


def _eigvalsh_jvp(t: Any, out: Any, a: Any, UPLO: str = "L") -> Any:
    _, v = eigh_parts(a, UPLO)
    return ((0.5 * (t + _mT(t)) @ v) * v).sum(axis=-2)  # diag(Vᵀ Ṫ V)


eigvalsh = defop("eigvalsh", lambda a, UPLO="L": np.linalg.eigvalsh(a, UPLO=UPLO),
                 _eigvalsh_vjp, "∂λ_i/∂A = v_i v_iᵀ: Ā = V diag(L̄) Vᵀ",
                 sample=Sample(make=lambda rng: (rng.standard_normal((2, 3, 3)),),
                               domain=_symmetrize, variants=({"UPLO": "U"},)),
                 torch="linalg.eigvalsh", jvp=_eigvalsh_jvp)


# ---- QR: A = Q R

def _qr_shapes(m: int, n: int, mode: str) -> list:
    k = min(m, n)
    if mode == "r":
        return [(k, n)]
    return [(m, m if mode == "complete" else k), (m if mode == "complete" else k, n)]


def _qr_forward(a: np.ndarray, mode: Any = "reduced") -> np.ndarray:
    if mode == "r":
        return _pack([np.linalg.qr(a, mode="r")], a.shape[:-2])
    q, r = np.linalg.qr(a, mode=mode)
    return _pack([q, r], a.shape[:-2])


def _qr_square_backward(gq: Any, gr: Any, q: Any, r: Any) -> Any:
    """Ā for A = QR with m ≥ n: (Q̄ + Q copyltu(M)) R⁻ᵀ, M = R R̄ᵀ - Q̄ᵀ Q."""
    m_ = r @ _mT(gr) - _mT(gq) @ q
    low = np.tril(m_, -1)
    sym = low + _mT(low) + _diag_embed(_diag_of(m_))
    b = gq + q @ sym
    return _mT(_solve(r, _mT(b)))  # b R⁻ᵀ = (R⁻¹ bᵀ)ᵀ


def _qr_vjp(g: Any, out: Any, a: Any, mode: str = "reduced") -> Any:
    m, n = shape_of(a)[-2:]
    if mode == "r":
        raise RuntimeError("The derivative of linalg.qr depends on Q, which is not computed "
                           "when mode='r'. Please use linalg.qr(A, mode='reduced') if you are "
                           "going to differentiate through linalg.qr.")
    if mode == "complete" and m > n:
        raise RuntimeError("The QR decomposition is not differentiable when mode='complete' "
                           f"and nrows > ncols (here {m} > {n}); use mode='reduced'")
    q, r = _unpack(out, _qr_shapes(m, n, mode))
    gq, gr = _unpack(g, _qr_shapes(m, n, mode))
    _needs_nonzero_diagonal(r[..., :, :min(m, n)], "qr", "R")  # (a rank-deficient A)
    if m >= n:
        return _qr_square_backward(gq, gr, q, r)
    # wide: A = Q[X | Y]... with X = Q R₁ square, Y = Q R₂ (Liao et al. 2019)
    y = a[..., :, m:]
    gr1, gr2 = gr[..., :, :m], gr[..., :, m:]
    gx = _qr_square_backward(gq + y @ _mT(gr2), gr1, q, r[..., :, :m])
    return np.concatenate([gx, q @ gr2], axis=-1)


qr = defop(
    "qr", _qr_forward, _qr_vjp,
    "A = QR (m ≥ n): Ā = (Q̄ + Q copyltu(M))R⁻ᵀ, M = RR̄ᵀ - Q̄ᵀQ; m < n: A = Q[R₁ R₂] by "
    "blocks", saves_output=True,
    sample=Sample(make=lambda rng: (rng.standard_normal((2, 4, 3)),), atol=1e-4))


# ---- pseudo-inverse

def _pinv_forward(a: np.ndarray, atol: Any = 0.0, rtol: Any = 0.0,
                  hermitian: bool = False) -> np.ndarray:
    atol, rtol = (np.expand_dims(np.asarray(t, dtype=a.dtype), -1) for t in (atol, rtol))
    if hermitian:
        w, v = np.linalg.eigh(a)
        cutoff = np.maximum(atol, rtol * np.abs(w).max(axis=-1, keepdims=True, initial=0))
        inv_w = np.where(np.abs(w) > cutoff, 1 / np.where(w == 0, 1, w), 0)
        return (v * np.expand_dims(inv_w, -2)) @ _mT(v)
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    cutoff = np.maximum(atol, rtol * s.max(axis=-1, keepdims=True, initial=0))
    inv_s = np.where(s > cutoff, 1 / np.where(s == 0, 1, s), 0)
    return (_mT(vh) * np.expand_dims(inv_s, -2)) @ _mT(u)


def _pinv_vjp(g: Any, out: Any, a: Any, **params: Any) -> Any:
    # for A of constant rank: dP = -P dA P + PPᵀdAᵀ(I - AP) + (I - PA)dAᵀPᵀP
    p = out
    gt_ppt = _mT(g) @ (p @ _mT(p))
    ptp_gt = (_mT(p) @ p) @ _mT(g)
    return (-_mT(p) @ g @ _mT(p) + gt_ppt - a @ (p @ gt_ppt)
            + ptp_gt - (ptp_gt @ p) @ a)


def _pinv_jvp(t: Any, out: Any, a: Any, **params: Any) -> Any:
    p = out
    tt = _mT(t)
    return (-p @ t @ p + (p @ _mT(p)) @ (tt - (tt @ a) @ p)
            + (tt - (p @ a) @ tt) @ (_mT(p) @ p))


pinv = defop(
    "pinv", _pinv_forward, _pinv_vjp,
    "P = A⁺ (constant rank): Ā = -PᵀP̄Pᵀ + (I - AP)P̄ᵀPPᵀ + PᵀPP̄ᵀ(I - PA)",
    saves_output=True,
    sample=Sample(make=lambda rng: (rng.standard_normal((2, 4, 3)),),
                  params={"rtol": 1e-12}), torch="linalg.pinv", jvp=_pinv_jvp)


# ---- matrix exponential

# Higham (2005), "The scaling and squaring method for the matrix exponential revisited": the
# largest 1-norm for which the [m/m] Padé approximant is accurate to double precision.
_PADE_THETA = {3: 1.495585217958292e-2, 5: 2.539398330063230e-1, 7: 9.504178996162932e-1,
               9: 2.097847961257068e0, 13: 5.371920351148152e0}


def _pade_coefficients(m: int) -> list:
    """b_j = (2m - j)! m! / ((2m)! j! (m - j)!), the [m/m] Padé approximant of exp."""
    f = math.factorial
    return [f(2 * m - j) * f(m) / (f(2 * m) * f(j) * f(m - j)) for j in range(m + 1)]


def _pade(a: np.ndarray, m: int) -> np.ndarray:
    """The [m/m] Padé approximant of exp(a): (V - U)⁻¹(V + U), U odd and V even in a."""
    b = _pade_coefficients(m)
    eye = np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)
    a2 = a @ a
    if m == 13:  # Higham's evaluation with A², A⁴, A⁶ only
        a4 = a2 @ a2
        a6 = a4 @ a2
        u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
                 + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
        v = a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2) + b[6] * a6 + b[4] * a4 + b[2] * a2 \
            + b[0] * eye
    else:
        powers = [eye, a2]
        while len(powers) <= m // 2:
            powers.append(powers[-1] @ a2)
        u = a @ sum(b[2 * j + 1] * powers[j] for j in range(m // 2 + 1))
        v = sum(b[2 * j] * powers[j] for j in range(m // 2 + 1))
    return np.linalg.solve(v - u, v + u)


def _expm_forward(a: np.ndarray) -> np.ndarray:
    """exp(A) by scaling and squaring (Higham 2005), in float64, per matrix of the batch."""
    x = a.astype(np.float64) if a.dtype != np.float64 else a
    if x.size == 0:
        return np.empty_like(a)
    norms = np.abs(x).sum(axis=-2).max(axis=-1)  # the 1-norm of each matrix
    top = float(norms.max())
    degree = next((m for m in (3, 5, 7, 9) if top <= _PADE_THETA[m]), 13)
    squarings = np.zeros(norms.shape, dtype=int)
    if degree == 13:
        ratio = np.where(np.isfinite(norms), np.maximum(norms / _PADE_THETA[13], 1.0), 1.0)
        squarings = np.maximum(np.ceil(np.log2(ratio)), 0).astype(int)
    r = _pade(x / np.exp2(squarings)[..., None, None], degree)
    for k in range(int(squarings.max(initial=0))):
        r = np.where((squarings > k)[..., None, None], r @ r, r)
    return r.astype(a.dtype, copy=False)


def _expm(x: Any) -> Any:
    return matrix_exp(x) if _tensor_args(x) else _expm_forward(x)


def _block_expm_corner(a: Any, e: Any) -> Any:
    """The upper-right block of exp([[A, E], [0, A]]): the derivative of exp at A along E."""
    n = a.shape[-1]
    a = np.broadcast_to(a, np.broadcast_shapes(tuple(a.shape), tuple(e.shape)))
    top = np.concatenate([a, e], axis=-1)
    bottom = np.concatenate([np.zeros_like(a), a], axis=-1)
    return _expm(np.concatenate([top, bottom], axis=-2))[..., :n, n:]


matrix_exp = defop(
    "matrix_exp", _expm_forward, lambda g, out, a: _block_expm_corner(_mT(a), g),
    "exp(A): Ā = [exp([[Aᵀ, Ē], [0, Aᵀ]])]₁₂ (the Fréchet derivative at Aᵀ along Ē)",
    sample=Sample(make=lambda rng: (rng.standard_normal((3, 3, 3))
                                    * np.array([0.01, 0.5, 3.0])[:, None, None],)),
    torch="linalg.matrix_exp", jvp=lambda t, out, a: _block_expm_corner(a, t))


# --------------------------------------------------------------------------- LU
#
# A = P L U with partial pivoting: P a permutation, L (m×k) unit lower triangular, U (k×n)
# upper triangular, k = min(m, n). NumPy does not expose LAPACK's LU, so the factorisation
# (getrf) and the solve with its factors (getrs) come from SciPy's LAPACK, the routines PyTorch
# calls too: the same pivot rows (the first largest |value| of each column), the same packed
# layout (L below the diagonal, U on and above it), inf/NaN rather than an error for a zero
# pivot. The op ``lu_factor`` returns the packed LU and the 1-based pivots side by side (the
# pivots as floats, to travel in the one output; they carry no gradient), as the decompositions
# above do.

def _lapack(op: str, routine: str, a: np.ndarray) -> Any:
    """SciPy's LAPACK ``routine`` for ``a``'s dtype; ImportError naming the extra without it."""
    try:
        from scipy.linalg import get_lapack_funcs
    except ImportError:
        raise ImportError(f"linalg.{op} needs LAPACK's {routine}, which NumPy does not expose: "
                          "install SciPy with pip install chainrule[special] (or pip install "
                          "scipy)") from None
    return get_lapack_funcs(routine, (a,))


def _lapack_float(a: np.ndarray) -> np.ndarray:
    """``a`` as float32 or float64, the dtypes LAPACK has (anything else is done in float64)."""
    return a if a.dtype in (np.float32, np.float64) else a.astype(np.float64)


def lu_factor_arrays(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """LAPACK's packed LU (..., m, n) and 1-based int32 pivots (..., k) of every matrix."""
    work = _lapack_float(a)
    m, n = a.shape[-2:]
    lu = np.empty(work.shape, dtype=work.dtype)
    pivots = np.empty(a.shape[:-2] + (min(m, n),), dtype=np.int32)
    if a.size == 0:
        return lu.astype(a.dtype, copy=False), pivots
    getrf = _lapack("lu_factor", "getrf", work)
    for idx in np.ndindex(a.shape[:-2]):
        lu[idx], p, _ = getrf(work[idx])
        pivots[idx] = p + 1  # SciPy's are 0-based, LAPACK's (and PyTorch's) 1-based
    return lu.astype(a.dtype, copy=False), pivots


def lu_info(lu: np.ndarray) -> np.ndarray:
    """Per matrix: LAPACK's getrf info, the 1-based index of the first zero on U's diagonal, or
    0 if there is none."""
    zero = np.diagonal(lu, axis1=-2, axis2=-1) == 0
    if not zero.shape[-1]:  # empty matrices: nothing to fail
        return np.zeros(zero.shape[:-1], dtype=np.int32)
    return np.where(zero.any(axis=-1), zero.argmax(axis=-1) + 1, 0).astype(np.int32)


def lu_permutation(pivots: np.ndarray, m: int, dtype: Any) -> np.ndarray:
    """P (..., m, m) with A = P L U, from LAPACK's 1-based pivots (..., k): row i of A was
    swapped with row pivots[i], for i = 1, ..., k in turn."""
    batch = pivots.shape[:-1]
    count = math.prod(batch)
    order = np.tile(np.arange(m), (count, 1))  # row i of PᵀA is row order[i] of A
    swaps = pivots.reshape(count, pivots.shape[-1]).astype(np.intp) - 1
    rows = np.arange(count)
    for i in range(swaps.shape[-1]):
        j = swaps[:, i]
        order[rows, i], order[rows, j] = order[rows, j], order[rows, i]
    p = np.zeros((count, m, m), dtype=dtype)
    p[rows[:, None], order, np.arange(m)] = 1
    return p.reshape(batch + (m, m))


def _triangle(x: Any, upper: bool, diagonal: bool = True) -> Any:
    """The upper (or lower) triangle of ``x``'s matrices, with or without the diagonal: a
    product with a mask, so that it differentiates again (arrays and Tensors alike)."""
    m, n = x.shape[-2:]
    ones = np.ones((m, n), dtype=x.dtype)
    if upper:
        return x * np.triu(ones, 0 if diagonal else 1)
    return x * np.tril(ones, 0 if diagonal else -1)


def lu_factors(lu: Any) -> tuple[Any, Any]:
    """(L, U) from the packed LU: L (..., m, k) unit lower triangular, U (..., k, n) upper."""
    m, n = lu.shape[-2:]
    k = min(m, n)
    low = _triangle(lu[..., :, :k], upper=False, diagonal=False) + np.eye(m, k, dtype=lu.dtype)
    return low, _triangle(lu[..., :k, :], upper=True)


def _lu_parts(packed: Any, m: int, n: int) -> tuple[Any, np.ndarray]:
    """The packed LU and the int pivots from ``lu_factor``'s output."""
    lu, pivots = _unpack(packed, [(m, n), (min(m, n),)])
    return lu, np.asarray(getattr(pivots, "data", pivots)).astype(np.int32)


def _right_solve(x: Any, a: Any) -> Any:
    """X A⁻¹ = (A⁻ᵀ Xᵀ)ᵀ."""
    return _mT(_solve(_mT(a), _mT(x)))


def _needs_nonzero_diagonal(up: Any, op: str, factor: str = "U") -> None:
    """The derivative divides by the triangular factor's diagonal: say so at a zero there,
    not NumPy's bare 'Singular matrix' (PyTorch returns inf/NaN there)."""
    diag = np.diagonal(np.asarray(getattr(up, "data", up)), axis1=-2, axis2=-1)
    if (diag == 0).any():
        raise OpError(f"{op}: the derivative exists only where {factor} has no zero on its "
                      f"diagonal (a full-rank leading block), and this factor (shape "
                      f"{tuple(up.shape)}) has one")


def _lu_backward(g_low: Any, g_up: Any, low: Any, up: Any, p: np.ndarray) -> Any:
    """Ā for A = P L U from L̄ (m×k, strictly lower) and Ū (k×n, upper).

    Square: dA = P(dL U + L dU), so X = L⁻¹PᵀdA U⁻¹ = L⁻¹dL + dU U⁻¹ splits into its strictly
    lower part (dL = L tril₋₁(X)) and its upper part (dU = triu(X) U); transposing gives
    Ā = P L⁻ᵀ M U⁻ᵀ with M = tril₋₁(LᵀL̄) + triu(ŪUᵀ). Wide (U = [U₁ U₂]): U₂ = L⁻¹PᵀA₂ adds
    Ā₂ = P L⁻ᵀŪ₂ and, through L, -Ū₂U₂ᵀ to M. Tall (L = [L₁; L₂]): L₂ = A₂U⁻¹ adds
    Ā₂ = P L̄₂U⁻ᵀ and, through U, -L₂ᵀL̄₂ to M."""
    m, k = low.shape[-2:]
    n = up.shape[-1]
    _needs_nonzero_diagonal(up[..., :, :k], "lu_factor")
    core = _triangle(_mT(low) @ g_low, upper=False, diagonal=False) \
        + _triangle(g_up @ _mT(up), upper=True)
    if m > n:
        low2, g_low2 = low[..., n:, :], g_low[..., n:, :]
        core = core - _mT(low2) @ g_low2
        top = _solve(_mT(low[..., :n, :]), core)
        return p @ _right_solve(np.concatenate([top, g_low2], axis=-2), _mT(up))
    if m < n:
        up2, g_up2 = up[..., :, m:], g_up[..., :, m:]
        core = core - g_up2 @ _mT(up2)
        inner = np.concatenate([_right_solve(core, _mT(up[..., :, :m])), g_up2], axis=-1)
        return p @ _solve(_mT(low), inner)
    return p @ _solve(_mT(low), _right_solve(core, _mT(up)))


def _lu_factor_vjp(g: Any, out: Any, a: Any) -> Any:
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    lu, pivots = _lu_parts(out, m, n)
    g_lu = _unpack(g, [(m, n), (k,)])[0]  # (the pivots' gradient is ignored: they are integers)
    low, up = lu_factors(lu)
    g_low = _triangle(g_lu[..., :, :k], upper=False, diagonal=False)
    g_up = _triangle(g_lu[..., :k, :], upper=True)
    return _lu_backward(g_low, g_up, low, up, lu_permutation(pivots, m, lu.dtype))


def _lu_factor_jvp(t: Any, out: Any, a: Any) -> Any:
    # X = L₁⁻¹(PᵀdA)₁U₁⁻¹ over the leading k×k block: dL₁ = L₁ tril₋₁(X), dU₁ = triu(X) U₁;
    # then the rest of U (wide) or of L (tall) from (PᵀdA)₂.
    m, n = shape_of(a)[-2:]
    k = min(m, n)
    lu, pivots = _lu_parts(out, m, n)
    low, up = lu_factors(lu)
    pt = _mT(lu_permutation(pivots, m, lu.dtype)) @ t
    x = _solve(low[..., :k, :], _right_solve(pt[..., :k, :k], up[..., :, :k]))
    d_low = low[..., :k, :] @ _triangle(x, upper=False, diagonal=False)
    d_up = _triangle(x, upper=True) @ up[..., :, :k]
    if m > n:
        d_low2 = _right_solve(pt[..., n:, :] - low[..., n:, :] @ d_up, up)
        d_lu = np.concatenate([d_low + d_up, d_low2], axis=-2)
    elif m < n:
        d_up2 = _solve(low, pt[..., :, m:] - d_low @ up[..., :, m:])
        d_lu = np.concatenate([d_low + d_up, d_up2], axis=-1)
    else:
        d_lu = d_low + d_up
    no_pivots = np.zeros(tuple(d_lu.shape[:-2]) + (k,), dtype=lu.dtype)
    return np.concatenate([_flat(d_lu, 2), no_pivots], axis=-1)


def _lu_factor_forward(a: np.ndarray) -> np.ndarray:
    lu, pivots = lu_factor_arrays(a)
    return _pack([lu, pivots.astype(lu.dtype)], a.shape[:-2])


lu_factor = defop(
    "lu_factor", _lu_factor_forward, _lu_factor_vjp,
    "A = PLU, LU packed (L̄ = tril₋₁(LU̅), Ū = triu(LU̅)): Ā = P L⁻ᵀ M U⁻ᵀ, "
    "M = tril₋₁(LᵀL̄) + triu(ŪUᵀ); wide A (U = [U₁ U₂]): M -= Ū₂U₂ᵀ, Ā = P L⁻ᵀ[M U₁⁻ᵀ, Ū₂]; "
    "tall A (L = [L₁; L₂]): M -= L₂ᵀL̄₂, Ā = P [L₁⁻ᵀM; L̄₂] U⁻ᵀ",
    saves=False, saves_output=True,
    sample=Sample(make=lambda rng: (rng.standard_normal((2, 4, 3)),)), jvp=_lu_factor_jvp)


# ---- solving with an LU factorisation: A X = B, Aᵀ X = B (adjoint), X A = B, X Aᵀ = B (right)

def _lu_solve_forward(lu: np.ndarray, b: np.ndarray, pivots: np.ndarray, left: bool = True,
                      adjoint: bool = False) -> np.ndarray:
    lu, b = _lapack_float(lu), _lapack_float(b)
    dtype = np.result_type(lu, b)
    rhs = b if left else _mT(b)  # X A = B ⇔ Aᵀ Xᵀ = Bᵀ
    transpose = adjoint if left else not adjoint
    n = lu.shape[-1]
    batch = np.broadcast_shapes(lu.shape[:-2], pivots.shape[:-1], rhs.shape[:-2])
    x = np.zeros(batch + rhs.shape[-2:], dtype=dtype)
    if x.size:
        lu_ = np.broadcast_to(lu.astype(dtype, copy=False), batch + (n, n))
        swaps = np.broadcast_to(pivots - 1, batch + (n,))
        rhs_ = np.broadcast_to(rhs.astype(dtype, copy=False), x.shape)
        getrs = _lapack("lu_solve", "getrs", lu_)
        for idx in np.ndindex(batch):
            x[idx] = getrs(lu_[idx], swaps[idx], rhs_[idx], trans=int(transpose))[0]
    return x if left else _mT(x)


def _lu_solve(lu: Any, b: Any, pivots: np.ndarray, left: bool, adjoint: bool) -> Any:
    """The solve, recorded when given Tensors (the rules below use it, to second order)."""
    if _tensor_args(lu, b):
        return lu_solve(lu, b, pivots=pivots, left=left, adjoint=adjoint)
    return _lu_solve_forward(lu, b, pivots, left, adjoint)


def _lu_solve_vjp_b(g: Any, out: Any, lu: Any, b: Any, pivots: np.ndarray, left: bool = True,
                    adjoint: bool = False) -> Any:
    # X = A⁻¹B: B̄ = A⁻ᵀX̄; each of the four equations turns into its adjoint
    return _lu_solve(lu, g, pivots, left, not adjoint)


def _lu_solve_vjp_lu(g: Any, out: Any, lu: Any, b: Any, pivots: np.ndarray, left: bool = True,
                     adjoint: bool = False) -> Any:
    g_b = _lu_solve(lu, g, pivots, left, not adjoint)
    x = out
    if left:  # A X = B: Ā = -B̄Xᵀ;  Aᵀ X = B: Ā = -X B̄ᵀ
        g_a = -(x @ _mT(g_b)) if adjoint else -(g_b @ _mT(x))
    else:  # X A = B: Ā = -XᵀB̄;  X Aᵀ = B: Ā = -B̄ᵀX
        g_a = -(_mT(g_b) @ x) if adjoint else -(_mT(x) @ g_b)
    # A = P L U: dA = P(dL U + L dU), so L̄ = tril₋₁(PᵀĀUᵀ) and Ū = triu(LᵀPᵀĀ), packed
    low, up = lu_factors(lu)
    pt_g_a = _mT(lu_permutation(pivots, lu.shape[-1], lu.dtype)) @ g_a
    return _triangle(pt_g_a @ _mT(up), upper=False, diagonal=False) \
        + _triangle(_mT(low) @ pt_g_a, upper=True)


def _lu_solve_jvp_lu(t: Any, out: Any, lu: Any, b: Any, pivots: np.ndarray, left: bool = True,
                     adjoint: bool = False) -> Any:
    # A X = B: dX = -A⁻¹ dA X (and likewise for the other three), dA = P(dL U + L dU)
    t = _batched_tangent(t, lu, ndim_of(lu) - 2, out.ndim - 2)
    low, up = lu_factors(lu)
    d_low, d_up = _triangle(t, upper=False, diagonal=False), _triangle(t, upper=True)
    d_a = lu_permutation(pivots, lu.shape[-1], lu.dtype) @ (d_low @ up + low @ d_up)
    if adjoint:
        d_a = _mT(d_a)
    return _lu_solve(lu, -(d_a @ out) if left else -(out @ d_a), pivots, left, adjoint)


def _lu_solve_jvp_b(t: Any, out: Any, lu: Any, b: Any, pivots: np.ndarray, left: bool = True,
                    adjoint: bool = False) -> Any:
    t = _batched_tangent(t, b, ndim_of(b) - 2, ndim_of(lu) - 2)
    return _lu_solve(lu, t, pivots, left, adjoint)


def _lu_solve_sample(rng: np.random.Generator) -> tuple:
    # any packed LU with a nonzero diagonal (and the fixed pivots below) is a factorisation
    return rng.standard_normal((2, 3, 3)) + 3 * np.eye(3), rng.standard_normal((3, 3))


_SAMPLE_PIVOTS = np.array([[2, 2, 3], [3, 3, 3]], dtype=np.int32)

lu_solve = defop(
    "lu_solve", _lu_solve_forward, (_lu_solve_vjp_lu, _lu_solve_vjp_b),
    ("A = PLU, A X = B: Ā = -A⁻ᵀX̄Xᵀ (Aᵀ X = B: -XX̄ᵀA⁻ᵀ; X A = B: -XᵀX̄A⁻ᵀ; X Aᵀ = B: "
     "-A⁻ᵀX̄ᵀX), then LU̅ = tril₋₁(PᵀĀUᵀ) + triu(LᵀPᵀĀ)",
     "A X = B: B̄ = A⁻ᵀX̄ (each equation's adjoint solve: Aᵀ X = B: A⁻¹X̄; X A = B: X̄A⁻ᵀ; "
     "X Aᵀ = B: X̄A⁻¹)"),
    saves_output=True, reads=((0,), (0,)),
    sample=Sample(make=_lu_solve_sample, params={"pivots": _SAMPLE_PIVOTS},
                  variants=({"pivots": _SAMPLE_PIVOTS, "adjoint": True},
                            {"pivots": _SAMPLE_PIVOTS, "left": False},
                            {"pivots": _SAMPLE_PIVOTS, "left": False, "adjoint": True})),
    # (the op takes the pivots as a parameter, torch.linalg.lu_solve as its second argument:
    # tests/test_torch_parity.py's ADAPT passes them there)
    torch="linalg.lu_solve", jvp=(_lu_solve_jvp_lu, _lu_solve_jvp_b))
