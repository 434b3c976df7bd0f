"""``cr.linalg``: ``torch.linalg`` for real float32/float64 tensors, batched over leading dims.

Decompositions (``svd``, ``eigh``, ``qr``) return named tuples with PyTorch's field names.
Their factors are unique only up to signs (a column of U and the matching row of Vh, an
eigenvector): chainrule's come from NumPy's LAPACK calls, which usually but not always pick the
same signs as PyTorch's. Quantities that do not depend on the signs (U·diag(S)·Vh, V diag(L) Vᵀ,
losses invariant to a sign flip) and their gradients agree.

The LU family (``lu``, ``lu_factor``, ``lu_factor_ex``, ``lu_solve``; ``cr.lu_unpack``) calls
LAPACK through SciPy (``pip install chainrule[special]``), as NumPy does not expose it.

Not provided: complex dtypes, hence ``eig``/``eigvals`` (complex results; use ``eigh`` for
symmetric matrices).
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import functional as F
from .functional import linalg as _linalg
from .ops import elementwise as E
from .ops import linalg as LA
from .ops import reductions as R
from .ops._util import ndim_of, norm_dim, shape_of
from .ops.registry import OpError
from .tensor import Tensor, as_tensor


class LinAlgError(OpError, RuntimeError):
    """A matrix outside an operation's domain (singular, not positive-definite), or shapes that
    do not fit: a ``RuntimeError`` as PyTorch's ``torch.linalg.LinAlgError`` (and a
    ``ValueError``, as chainrule's other op errors)."""


# PyTorch's torch.return_types, with the same field names
SVDResult = namedtuple("SVDResult", ["U", "S", "Vh"])
EighResult = namedtuple("EighResult", ["eigenvalues", "eigenvectors"])
QRResult = namedtuple("QRResult", ["Q", "R"])
LstsqResult = namedtuple("LstsqResult", ["solution", "residuals", "rank", "singular_values"])
InvExResult = namedtuple("InvExResult", ["inverse", "info"])
CholeskyExResult = namedtuple("CholeskyExResult", ["L", "info"])
SolveExResult = namedtuple("SolveExResult", ["result", "info"])

inv = _linalg.inv
det = _linalg.det
slogdet = _linalg.slogdet
vector_norm = _linalg.vector_norm


# --------------------------------------------------------------------------- checks

def _matrices(name: str, A: Any, square: bool = False, floats: bool = True) -> tuple[int, int]:
    """(rows, cols) of ``A``'s matrices, after checking it is a (float) tensor of matrices."""
    s = shape_of(A)
    if len(s) < 2:
        raise LinAlgError(f"linalg.{name}: The input tensor A must have at least 2 dimensions "
                          f"(matrices in the last two), got shape {s}")
    if square and s[-1] != s[-2]:
        raise LinAlgError(f"linalg.{name}: A must be batches of square matrices, but they are "
                          f"{s[-2]} by {s[-1]} matrices (shape {s})")
    if floats:
        _floating(name, A)
    return s[-2], s[-1]


def _floating(name: str, A: Any) -> None:
    dtype = np.asarray(getattr(A, "data", A)).dtype
    if dtype.kind != "f":
        raise LinAlgError(f"linalg.{name}: Expected a floating point tensor as input, got "
                          f"{dtype}; convert it first (e.g. A.double())")


def _uplo(name: str, UPLO: str) -> None:
    if UPLO not in ("L", "U"):
        raise LinAlgError(f"linalg.{name}: Expected UPLO argument to be 'L' or 'U', but got "
                          f"{UPLO!r}")


def _no_driver(name: str, driver: Any) -> None:
    if driver is not None:
        raise LinAlgError(f"torch.linalg.{name}: keyword argument `driver=` is only supported "
                          "on CUDA inputs with cuSOLVER backend (chainrule runs on the CPU); "
                          "leave it as None")


def _eps(A: Any) -> float:
    return float(np.finfo(np.asarray(getattr(A, "data", A)).dtype).eps)


def _broadcast(name: str, sa: tuple, sb: tuple) -> tuple:
    """The shape ``sa`` and ``sb`` broadcast to, or a LinAlgError naming the function."""
    try:
        return np.broadcast_shapes(sa, sb)
    except ValueError:
        raise LinAlgError(f"linalg.{name}: shapes {sa} and {sb} cannot be broadcast together") \
            from None


def _as_param(x: Any) -> Any:
    """A tolerance for an op parameter: a float, or the array of a tensor of tolerances."""
    return np.asarray(x.data) if isinstance(x, Tensor) else x


# --------------------------------------------------------------------------- decompositions

def svd(A: Any, full_matrices: bool = True, *, driver: str | None = None) -> SVDResult:
    """``A = U diag(S) Vh``, singular values descending; ``full_matrices=False`` gives the
    reduced factors (k = min(m, n) columns of U, rows of Vh).

    The gradient is PyTorch's: defined when the singular values are distinct (and nonzero when
    U or Vh is used for m ≠ n); with ``full_matrices=True`` the columns of U (rows of Vh) beyond
    k are an arbitrary basis and, as in PyTorch, pass no gradient."""
    _no_driver("svd", driver)
    m, n = _matrices("svd", A)
    full = bool(full_matrices) and m != n  # (square: the full and reduced factors are the same)
    packed = LA.svd(A, full_matrices=full)
    return SVDResult(*LA._unpack(packed, LA._svd_shapes(m, n, full)))


def svdvals(A: Any, *, driver: str | None = None) -> Tensor:
    """The singular values, descending; the gradient U diag(S̄) Vh is finite at ties."""
    _no_driver("svdvals", driver)
    _matrices("svdvals", A)
    return LA.svdvals(A)


def eigh(A: Any, UPLO: str = "L") -> EighResult:
    """Eigenvalues (ascending) and eigenvectors (columns) of symmetric matrices; only the
    ``UPLO`` triangle of A is read. The gradient is the symmetric matrix PyTorch gives; it is
    ill-defined (inf/nan) when eigenvalues repeat and the eigenvectors are used."""
    _matrices("eigh", A, square=True)
    _uplo("eigh", UPLO)
    n = shape_of(A)[-1]
    return EighResult(*LA._unpack(LA.eigh(A, UPLO=UPLO), [(n,), (n, n)]))


def eigvalsh(A: Any, UPLO: str = "L") -> Tensor:
    """Eigenvalues (ascending) of symmetric matrices; the gradient V diag(L̄) Vᵀ is finite at
    repeated eigenvalues."""
    _matrices("eigvalsh", A, square=True)
    _uplo("eigvalsh", UPLO)
    return LA.eigvalsh(A, UPLO=UPLO)


def eig(A: Any) -> Any:
    """Not provided: general eigendecompositions are complex and chainrule has no complex
    dtypes."""
    raise NotImplementedError("linalg.eig: the eigenvalues of a general matrix are complex, and "
                              "chainrule has no complex dtypes; for symmetric matrices use "
                              "cr.linalg.eigh (or eigvalsh)")


def eigvals(A: Any) -> Any:
    """Not provided (complex results): see :func:`eig`."""
    raise NotImplementedError("linalg.eigvals: the eigenvalues of a general matrix are complex, "
                              "and chainrule has no complex dtypes; for symmetric matrices use "
                              "cr.linalg.eigvalsh")


def qr(A: Any, mode: str = "reduced") -> QRResult:
    """``A = Q R``, Q with orthonormal columns, R upper triangular. ``mode``: 'reduced' (k =
    min(m, n) columns of Q), 'complete' (Q is m×m) or 'r' (R only, Q is an empty tensor).
    Differentiable as PyTorch: not for mode='r', nor for 'complete' with m > n."""
    if mode not in ("reduced", "complete", "r"):
        raise LinAlgError(f"qr received unrecognized mode {mode!r} but expected one of "
                          "'reduced' (default), 'r', or 'complete'")
    m, n = _matrices("qr", A)
    parts = LA._unpack(LA.qr(A, mode=mode), LA._qr_shapes(m, n, mode))
    if mode == "r":
        empty = Tensor._make(np.empty((0,), dtype=np.asarray(getattr(A, "data", A)).dtype))
        return QRResult(empty, parts[0])
    return QRResult(*parts)


# --------------------------------------------------------------------------- inverses, solves

def pinv(A: Any, rcond: Any = None, hermitian: bool = False, *, atol: Any = None,
         rtol: Any = None) -> Tensor:
    """The Moore-Penrose pseudo-inverse, from the SVD (the eigendecomposition if
    ``hermitian``, reading the lower triangle); singular values at most max(atol, rtol·σ₁) are
    dropped. ``rtol`` defaults to eps·max(m, n), or 0 when ``atol`` > 0 is given; ``rcond`` is
    PyTorch's older name for ``rtol``. The gradient holds where the rank is constant."""
    m, n = _matrices("pinv", A, square=hermitian)
    if rcond is not None:
        if rtol is not None:
            raise LinAlgError("linalg.pinv: give rtol or its older name rcond, not both")
        rtol = rcond
    if rtol is None:
        given_atol = atol is not None and np.any(np.asarray(_as_param(atol)) > 0)
        rtol = 0.0 if given_atol else _eps(A) * max(m, n)
    return LA.pinv(A, atol=0.0 if atol is None else _as_param(atol), rtol=_as_param(rtol),
                   hermitian=bool(hermitian))


def solve(A: Any, B: Any, *, left: bool = True) -> Tensor:
    """X with A X = B (``left=False``: X A = B); B a matrix (batch) or a vector (batch)."""
    if left:
        return _linalg.solve(A, B)
    if ndim_of(B) < 2:
        raise LinAlgError(f"linalg.solve: with left=False B must be a matrix (..., k, n), got "
                          f"shape {shape_of(B)}")
    return F.transpose(_linalg.solve(F.transpose(A, -2, -1), F.transpose(B, -2, -1)), -2, -1)


def cholesky(A: Any, *, upper: bool = False) -> Tensor:
    """L (lower) with A = L Lᵀ, or with ``upper=True`` U = Lᵀ (A = UᵀU); symmetric
    positive-definite A (only the lower triangle is read)."""
    low = _linalg.cholesky(A)
    return F.transpose(low, -2, -1) if upper else low


def solve_triangular(A: Any, B: Any, *, upper: bool, left: bool = True,
                     unitriangular: bool = False) -> Tensor:
    """X with A X = B (``left=False``: X A = B) for triangular A: only its ``upper`` (or lower)
    triangle is read, and with ``unitriangular`` its diagonal is taken as ones. The gradient
    with respect to A is the matching triangle (as PyTorch)."""
    n = _matrices("solve_triangular", A, square=True)[0]
    sb = shape_of(B)
    fits = len(sb) >= 2 and (sb[-2] if left else sb[-1]) == n
    try:
        batch = np.broadcast_shapes(shape_of(A)[:-2], sb[:-2])
    except ValueError:
        fits = False
    if not fits:
        eq = "AX = B" if left else "XA = B"
        raise LinAlgError(f"linalg.solve_triangular: Incompatible shapes of A and B for the "
                          f"equation {eq} ({shape_of(A)} and {sb}); B must be a matrix (..., "
                          f"{n}, k)" + ("" if left else f" or (..., k, {n}) with left=False"))
    keep = np.triu(np.ones((n, n), dtype=bool), 1 if unitriangular else 0)
    if not upper:
        keep = keep.T
    tri = E.mul(A, keep)
    if unitriangular:
        tri = E.add(tri, np.eye(n, dtype=np.asarray(getattr(A, "data", A)).dtype))
    if not left:  # X A = B  ⇔  Aᵀ Xᵀ = Bᵀ
        tri, B = F.transpose(tri, -2, -1), F.transpose(B, -2, -1)
    if len(shape_of(B)) - 2 < len(batch):  # every batch dim present: B reads as matrices
        B = F.broadcast_to(B, tuple(batch) + tuple(shape_of(B)[-2:]))
    x = LA.solve_op(tri, B)
    return x if left else F.transpose(x, -2, -1)


def lstsq(A: Any, B: Any, rcond: float | None = None, *,
          driver: str | None = None) -> LstsqResult:
    """The minimum-norm least-squares solution X of A X ≈ B (B (..., m, k), or (..., m)).

    Computed as pinv(A) B, singular values below ``rcond``·σ₁ dropped (default eps·max(m, n));
    the gradient is PyTorch's (that of pinv(A) B). ``driver`` only chooses which extra fields
    are filled, as PyTorch's CPU drivers do: ``residuals`` (‖AX - B‖² per column; drivers
    'gels', 'gelsd', 'gelss', when m > n and every A has full rank), ``rank`` (not 'gels'; from
    the singular values, where LAPACK's default 'gelsy' estimates it from a pivoted QR) and
    ``singular_values`` ('gelsd', 'gelss'); the others are empty tensors."""
    if driver not in (None, "gels", "gelsy", "gelsd", "gelss"):
        raise LinAlgError(f"torch.linalg.lstsq: parameter `driver` should be one of (gels, "
                          f"gelsy, gelsd, gelss), got {driver!r}")
    m, n = _matrices("lstsq", A)
    sa, sb = shape_of(A), shape_of(B)
    vector = len(sb) == len(sa) - 1
    if not (vector or len(sb) == len(sa)) or sb[-1 if vector else -2] != m:
        raise LinAlgError(f"torch.linalg.lstsq: A of shape {sa} and B of shape {sb} do not "
                          f"match: B must be (..., {m}, k) or (..., {m}) with A's batch dims")
    _floating("lstsq", B)
    if np.asarray(getattr(B, "data", B)).dtype != np.asarray(getattr(A, "data", A)).dtype:
        raise LinAlgError("torch.linalg.lstsq: Expected input and other to have the same "
                          "dtype; convert one of them")
    driver = driver or "gelsy"
    rtol = _eps(A) * max(m, n) if rcond is None or rcond < 0 else rcond
    p = pinv(A, rtol=rtol)
    x = F.matmul(p, F.unsqueeze(B, -1))[..., 0] if vector else F.matmul(p, B)
    sv = np.linalg.svd(np.asarray(getattr(A, "data", A)), compute_uv=False)
    ranks = (sv > rtol * sv.max(axis=-1, keepdims=True, initial=0)).sum(axis=-1)
    dtype = x.dtype
    empty = Tensor._make(np.empty((0,), dtype=dtype))
    residuals = empty
    if driver != "gelsy" and m > n and bool(np.all(ranks == n)):
        r = F.sub(F.matmul(A, F.unsqueeze(x, -1))[..., 0] if vector else F.matmul(A, x), B)
        residuals = F.sum(F.mul(r, r), dim=-1, keepdim=True) if vector else \
            F.sum(F.mul(r, r), dim=-2)
    rank = Tensor._make(np.empty((0,), dtype=np.int64)) if driver == "gels" else \
        Tensor._make(ranks.astype(np.int64))
    singular = Tensor._make(sv) if driver in ("gelsd", "gelss") else empty
    return LstsqResult(x, residuals, rank, singular)


# --------------------------------------------------------------------------- the *_ex forms

def _info(code: np.ndarray) -> Tensor:
    return Tensor._make(np.asarray(code, dtype=np.int32))


def _singular_info(a: np.ndarray) -> np.ndarray:
    """Per matrix: 0 if LU with partial pivoting finds no zero pivot, else the (1-based) index
    of the first one, as LAPACK's getrf reports."""
    info = np.zeros(a.shape[:-2], dtype=np.int32)
    try:  # (LAPACK fails exactly when a pivot is zero: the loop below only finds which one)
        np.linalg.inv(a)
        return info
    except np.linalg.LinAlgError:
        pass
    for idx in np.ndindex(a.shape[:-2]):
        u = np.array(a[idx], dtype=np.float64)
        n = u.shape[-1]
        for k in range(n):
            p = k + int(np.argmax(np.abs(u[k:, k])))
            if u[p, k] == 0:
                info[idx] = k + 1
                break
            u[[k, p]] = u[[p, k]]
            u[k + 1:, k:] -= np.outer(u[k + 1:, k] / u[k, k], u[k, k:])
    return info


def _masked(name: str, A: Any, bad: np.ndarray, fn: Any) -> Tensor:
    """``fn`` of ``A`` with the matrices flagged ``bad`` replaced by the identity, then NaN."""
    if not bad.any():
        return fn(A)
    n = shape_of(A)[-1]
    dtype = np.asarray(getattr(A, "data", A)).dtype
    flag = bad[..., None, None]
    safe = E.where(flag, np.eye(n, dtype=dtype), A)
    return E.where(flag, np.array(np.nan, dtype=dtype), fn(safe))


def inv_ex(A: Any, *, check_errors: bool = False) -> InvExResult:
    """(inverse, info): info is 0 where A is invertible, else the index of the first zero
    pivot; the inverses of singular matrices are NaN (PyTorch leaves them undefined)."""
    _matrices("inv_ex", A, square=True)
    info = _singular_info(np.asarray(getattr(A, "data", A)))
    _raise_if(check_errors, "inv_ex", info, "singular (a zero pivot at diagonal element {})")
    return InvExResult(_masked("inv_ex", A, info > 0, LA.inv), _info(info))


def solve_ex(A: Any, B: Any, *, left: bool = True, check_errors: bool = False) -> SolveExResult:
    """(result, info) as :func:`solve` and :func:`inv_ex`; NaN rows for singular A."""
    _matrices("solve_ex", A, square=True)
    info = _singular_info(np.asarray(getattr(A, "data", A)))
    _raise_if(check_errors, "solve_ex", info, "singular (a zero pivot at diagonal element {})")
    if not (info > 0).any():
        return SolveExResult(solve(A, B, left=left), _info(info))
    n = shape_of(A)[-1]
    dtype = np.asarray(getattr(A, "data", A)).dtype
    bad = info > 0
    safe = E.where(bad[..., None, None], np.eye(n, dtype=dtype), A)
    x = solve(safe, B, left=left)
    vector = left and LA.vector_rhs(shape_of(A), shape_of(B))
    flag = bad[..., None] if vector else bad[..., None, None]
    return SolveExResult(E.where(flag, np.array(np.nan, dtype=dtype), x), _info(info))


def _not_positive_definite(a: np.ndarray) -> np.ndarray:
    """Per matrix: 0 if Cholesky succeeds, else the order of the first leading minor that is
    not positive-definite (LAPACK's potrf info)."""
    info = np.zeros(a.shape[:-2], dtype=np.int32)
    for idx in np.ndindex(a.shape[:-2]):
        m = a[idx]
        try:
            np.linalg.cholesky(m)
            continue
        except np.linalg.LinAlgError:
            pass
        for k in range(1, m.shape[-1] + 1):
            try:
                np.linalg.cholesky(m[:k, :k])
            except np.linalg.LinAlgError:
                info[idx] = k
                break
    return info


def cholesky_ex(A: Any, *, upper: bool = False, check_errors: bool = False) -> CholeskyExResult:
    """(L, info): info is 0 where A is positive-definite, else the order of the first leading
    minor that is not; L is NaN for those (PyTorch leaves a partial factor)."""
    _matrices("cholesky_ex", A, square=True)
    a = np.asarray(getattr(A, "data", A))
    try:
        np.linalg.cholesky(a)
        info = np.zeros(a.shape[:-2], dtype=np.int32)
    except np.linalg.LinAlgError:
        info = _not_positive_definite(a)
    _raise_if(check_errors, "cholesky_ex", info,
              "not positive-definite (the leading minor of order {} is not)")
    return CholeskyExResult(_masked("cholesky_ex", A, info > 0,
                                    lambda x: cholesky(x, upper=upper)), _info(info))


def _raise_if(check: bool, name: str, info: np.ndarray, what: str) -> None:
    if check and (info > 0).any():
        where = np.argwhere(info > 0)[0] if info.ndim else ()
        batch = f" (batch element {tuple(int(i) for i in where)})" if info.ndim else ""
        raise LinAlgError(f"linalg.{name}: the input matrix{batch} is "
                          + what.format(int(info[tuple(where)]))
                          + "; check_errors=False returns the info codes instead")


# --------------------------------------------------------------------------- LU

LUFactorResult = namedtuple("LUFactorResult", ["LU", "pivots"])
LUFactorExResult = namedtuple("LUFactorExResult", ["LU", "pivots", "info"])
LUResult = namedtuple("LUResult", ["P", "L", "U"])
LUUnpackResult = namedtuple("LUUnpackResult", ["P", "L", "U"])


def _dtype_of(x: Any) -> np.dtype:
    return np.asarray(getattr(x, "data", x)).dtype


def _lu_input(name: str, A: Any, pivot: bool) -> tuple[int, int]:
    """(rows, cols) of ``A``, after checking it is a float32/float64 tensor of matrices."""
    if not pivot:
        raise LinAlgError(f"linalg.{name}: LU without pivoting is not implemented on the CPU "
                          "(as in PyTorch, which has it on CUDA only); use pivot=True")
    m, n = _matrices(name, A)
    if _dtype_of(A) not in (np.float32, np.float64):
        raise LinAlgError(f"linalg.{name}: LU is computed for float32 and float64 matrices, got "
                          f"{_dtype_of(A)}; convert first (A.float() or A.double())")
    return m, n


def _factor(name: str, A: Any, pivot: bool) -> tuple[Tensor, Tensor, np.ndarray]:
    """The packed LU (differentiable), the int32 pivots and LAPACK's info codes."""
    m, n = _lu_input(name, A, pivot)
    lu, pivots = LA._unpack(LA.lu_factor(A), [(m, n), (min(m, n),)])
    return lu, Tensor._make(pivots.data.astype(np.int32)), LA.lu_info(lu.data)


def _no_zero_pivot(name: str, info: np.ndarray) -> None:
    """PyTorch's error for a factor with a zero on U's diagonal."""
    bad = np.flatnonzero(info > 0)
    if not bad.size:
        return
    where = f"(Batch element {bad[0]}): " if info.ndim else ""
    i = int(info.reshape(-1)[bad[0]])
    raise LinAlgError(f"linalg.{name}: {where}U[{i},{i}] is zero and using it on lu_solve would "
                      "result in a division by zero. If you still want to perform the "
                      "factorization, consider calling linalg.lu(A, pivot) or "
                      "linalg.lu_factor_ex(A, pivot)")


def _lu_pivots(name: str, pivots: Any, batch: tuple, k: int, m: int) -> np.ndarray:
    """``pivots`` as an array, after checking it is what ``lu_factor`` returns for an LU of
    batch dims ``batch``, ``m`` rows and ``k`` = min(m, n) (LAPACK reads them unchecked)."""
    p = np.asarray(getattr(pivots, "data", pivots))
    if p.dtype != np.int32:
        raise LinAlgError(f"{name}: pivots should be a tensor of dtype int32 (as "
                          f"linalg.lu_factor returns them), got {p.dtype}")
    want = tuple(batch) + (k,)
    if p.shape != want:
        raise LinAlgError(f"{name}: Expected pivots of shape {want} (LU's batch dims and "
                          f"min(m, n) = {k}), but got pivots with shape {p.shape} instead")
    if p.size and (p.min() < 1 or p.max() > m):
        raise LinAlgError(f"{name}: pivots must be between 1 and LU.size(-2) = {m} inclusive "
                          f"(LAPACK's 1-based row numbers, as linalg.lu_factor returns them), "
                          f"got values from {p.min()} to {p.max()}")
    return p


def lu_factor_ex(A: Any, *, pivot: bool = True,
                 check_errors: bool = False) -> LUFactorExResult:
    """(LU, pivots, info): the LU factorisation with partial pivoting, A = P L U, of real
    (m×n) matrices, packed as LAPACK's getrf leaves it (L's entries below the diagonal, its unit
    diagonal implied, U on and above it), with 1-based int32 row swaps ``pivots`` (..., min(m,
    n)). ``info`` is 0, or the index of the first zero on U's diagonal (a singular matrix is
    still factored); ``check_errors=True`` raises for one. Differentiable with respect to A
    through LU (see :func:`lu`). Needs SciPy (``pip install chainrule[special]``): NumPy has
    no LU."""
    lu_, pivots, info = _factor("lu_factor_ex", A, pivot)
    if check_errors:
        _no_zero_pivot("lu_factor_ex", info)
    return LUFactorExResult(lu_, pivots, _info(info))


def lu_factor(A: Any, *, pivot: bool = True) -> LUFactorResult:
    """(LU, pivots) as :func:`lu_factor_ex`, raising (as PyTorch) if U has a zero on its
    diagonal; use :func:`lu_factor_ex` or :func:`lu` to factor singular matrices."""
    lu_, pivots, info = _factor("lu_factor", A, pivot)
    _no_zero_pivot("lu_factor", info)
    return LUFactorResult(lu_, pivots)


def lu(A: Any, *, pivot: bool = True) -> LUResult:
    """(P, L, U) with A = P L U: P (..., m, m) a permutation, L (..., m, k) unit lower
    triangular, U (..., k, n) upper triangular, k = min(m, n); singular and rectangular A too.

    The gradient (through L and U; P has none) is PyTorch's: for square A,
    Ā = P L⁻ᵀ [tril₋₁(LᵀL̄) + triu(ŪUᵀ)] U⁻ᵀ, with the extra blocks of U (wide A) or of L (tall
    A) added as documented in docs/ops.md (op ``lu_factor``). It needs U's leading k×k block
    to have no zero on its diagonal: where it has one this raises (PyTorch returns inf/NaN)."""
    lu_, pivots, _ = _factor("lu", A, pivot)
    low, up = LA.lu_factors(lu_)
    p = LA.lu_permutation(pivots.data, shape_of(A)[-2], _dtype_of(A))
    return LUResult(Tensor._make(p), low, up)


def lu_unpack(LU_data: Any, LU_pivots: Any, unpack_data: bool = True,
              unpack_pivots: bool = True) -> LUUnpackResult:
    """``torch.lu_unpack`` (``cr.lu_unpack``): (P, L, U) from :func:`lu_factor`'s (LU,
    pivots); the factors not asked for are empty tensors. L and U are differentiable with
    respect to ``LU_data``. The pivots must have exactly LU's batch dims and min(m, n) entries
    between 1 and m (PyTorch checks the range only)."""
    s = shape_of(LU_data)
    if len(s) < 2:
        raise LinAlgError(f"lu_unpack: Expected LU_data with 2 or more dimensions (matrices in "
                          f"the last two), got shape {s}")
    m, n = s[-2:]
    dtype = _dtype_of(LU_data)
    empty = Tensor._make(np.empty((0,), dtype=dtype))
    p = empty
    if unpack_pivots:
        swaps = _lu_pivots("lu_unpack", LU_pivots, s[:-2], min(m, n), m)
        p = Tensor._make(LA.lu_permutation(swaps, m, dtype))
    if not unpack_data:
        return LUUnpackResult(p, empty, empty)
    low, up = LA.lu_factors(as_tensor(LU_data))
    return LUUnpackResult(p, low, up)


def lu_solve(LU: Any, pivots: Any, B: Any, *, left: bool = True,
             adjoint: bool = False) -> Tensor:
    """X with A X = B for A = P L U given as :func:`lu_factor`'s (LU, pivots); ``adjoint``:
    Aᵀ X = B; ``left=False``: X A = B (or X Aᵀ = B). B is (..., n, k) (``left=False``:
    (..., k, n)); batch dims broadcast. A zero pivot gives inf/NaN, as LAPACK's getrs (no
    error). Differentiable with respect to LU and B, to any order."""
    n = _matrices("lu_solve", LU, square=True)[0]
    sa, sb = shape_of(LU), shape_of(B)
    if len(sb) < 2:
        raise LinAlgError(f"linalg.lu_solve: The input tensor B must have at least 2 "
                          f"dimensions (matrices in the last two), got shape {sb}; for a vector "
                          "b use b.unsqueeze(-1)")
    if _dtype_of(B) != _dtype_of(LU):
        raise LinAlgError(f"linalg.lu_solve: Expected LU and B to have the same dtype, but "
                          f"found LU of {_dtype_of(LU)} and B of {_dtype_of(B)} instead; "
                          "convert one of them")
    swaps = _lu_pivots("linalg.lu_solve", pivots, sa[:-2], n, n)
    if (sb[-2] if left else sb[-1]) != n:
        eq, want = ("AX = B", f"(..., {n}, k)") if left else ("XA = B", f"(..., k, {n})")
        raise LinAlgError(f"linalg.lu_solve: Incompatible shapes of A and B for the equation "
                          f"{eq} ({n}x{n} and {sb[-2]}x{sb[-1]}); B must be {want}")
    _broadcast("lu_solve", sa[:-2], sb[:-2])
    return LA.lu_solve(LU, B, pivots=swaps, left=bool(left), adjoint=bool(adjoint))


# --------------------------------------------------------------------------- norms

def matrix_norm(A: Any, ord: Any = "fro", dim: Any = (-2, -1), keepdim: bool = False, *,
                dtype: Any = None) -> Tensor:
    """Matrix norms over the two dims ``dim``: 'fro', 'nuc' (sum of singular values), 2 / -2
    (largest / smallest singular value), 1 / -1 (max / min column sum of |A|), inf / -inf
    (rows). The gradient of 2 / -2 at tied singular values is shared equally, as ``amax``."""
    x = A if dtype is None else as_tensor(A).to(dtype)
    nd = ndim_of(x)
    dims = tuple(dim) if isinstance(dim, (tuple, list)) else None
    if dims is None or len(dims) != 2:
        raise LinAlgError(f"linalg.matrix_norm: dim must be a 2-tuple of ints, got {dim!r}")
    if nd < 2:
        raise LinAlgError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                          f"dimensions, got shape {shape_of(x)}")
    _floating("matrix_norm", x)
    rows, cols = (norm_dim(d, nd, "linalg.matrix_norm") + nd for d in dims)
    if rows == cols:
        raise LinAlgError(f"linalg.matrix_norm: dim {dim} names the same dimension twice")
    if ord in (2, 1, float("inf")) and 0 in (shape_of(x)[rows], shape_of(x)[cols]):
        return F.sum(E.mul(x, 0.0), dim=(rows, cols), keepdim=keepdim)  # (a max of none: 0)
    if ord not in ("nuc", 2, -2):
        if ord not in ("fro", 1, -1, float("inf"), float("-inf")):
            raise LinAlgError(f"linalg.matrix_norm: Order {ord!r} not supported; use 'fro', "
                              "'nuc', 1, -1, 2, -2, inf or -inf")
        return _linalg.norm(x, ord, dims, keepdim)
    order = [d for d in range(nd) if d not in (rows, cols)] + [rows, cols]
    s = LA.svdvals(F.permute(x, order))
    out = {"nuc": R.sum, 2: R.amax, -2: R.amin}[ord](s, dim=(-1,), keepdim=False)
    if keepdim:
        for d in sorted((rows, cols)):
            out = F.unsqueeze(out, d)
    return out


def norm(A: Any, ord: Any = None, dim: Any = None, keepdim: bool = False, *,
         dtype: Any = None) -> Tensor:
    """As ``torch.linalg.norm``: a vector norm over one dim, a matrix norm over two (see
    :func:`matrix_norm`); with ``dim=None`` the 2-norm of all elements if ``ord`` is None,
    else A must be 1-D (vector norm) or 2-D (matrix norm)."""
    x = A if dtype is None else as_tensor(A).to(dtype)
    matrix = (isinstance(dim, (tuple, list)) and len(dim) == 2) or (
        dim is None and ord is not None and ndim_of(x) == 2)
    if matrix and ord in ("nuc", 2, -2):
        return matrix_norm(x, ord, (-2, -1) if dim is None else dim, keepdim)
    if ord == "nuc":
        raise LinAlgError(f"linalg.norm: ord='nuc' is a matrix norm: give two dims, or a 2-D "
                          f"input (got shape {shape_of(x)}, dim={dim!r})")
    return _linalg.norm(x, ord, dim, keepdim)


def matrix_rank(A: Any, *, atol: Any = None, rtol: Any = None,
                hermitian: bool = False) -> Tensor:
    """The number of singular values (|eigenvalues| if ``hermitian``) above max(atol,
    rtol·σ₁), rtol defaulting as :func:`pinv`'s. An int64 tensor, with no gradient."""
    m, n = _matrices("matrix_rank", A, square=hermitian)
    a = np.asarray(getattr(A, "data", A))
    s = np.abs(np.linalg.eigvalsh(a)) if hermitian else np.linalg.svd(a, compute_uv=False)
    if rtol is None:
        given_atol = atol is not None and np.any(np.asarray(_as_param(atol)) > 0)
        rtol = 0.0 if given_atol else _eps(A) * max(m, n)
    atol_ = np.expand_dims(np.asarray(_as_param(0.0 if atol is None else atol)), -1)
    rtol_ = np.expand_dims(np.asarray(_as_param(rtol)), -1)
    cutoff = np.maximum(atol_, rtol_ * s.max(axis=-1, keepdims=True, initial=0))
    return Tensor._make((s > cutoff).sum(axis=-1).astype(np.int64))


def cond(A: Any, p: Any = None) -> Tensor:
    """The condition number: σ₁/σₙ for p None or 2 (σₙ/σ₁ for -2, any shape), else
    ‖A‖_p ‖A⁻¹‖_p for square A ('fro', 'nuc', 1, -1, inf, -inf); 0 for empty matrices (as
    PyTorch)."""
    _matrices("cond", A, square=p not in (None, 2, -2))
    if 0 in shape_of(A)[-2:]:
        return F.sum(E.mul(A, 0.0), dim=(-2, -1))
    if p in (None, 2, -2):
        s = svdvals(A)
        big, small = s[..., 0], s[..., -1]
        return E.div(small, big) if p == -2 else E.div(big, small)
    return E.mul(matrix_norm(A, p), matrix_norm(inv(A), p))


def vecdot(x: Any, y: Any, *, dim: int = -1) -> Tensor:
    """Σ x·y along ``dim``, broadcasting the other dims."""
    shape = _broadcast("vecdot", shape_of(x), shape_of(y))
    d = norm_dim(dim, len(shape), "linalg.vecdot")
    return F.sum(E.mul(x, y), dim=d)


def diagonal(A: Any, *, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """The diagonal (``offset`` above it if positive) of the matrices in dims ``dim1, dim2``."""
    return F.diagonal(A, offset, dim1, dim2)


# --------------------------------------------------------------------------- products

def matrix_power(A: Any, n: int) -> Tensor:
    """Aⁿ by repeated squaring; n = 0 gives the identity, n < 0 powers of A⁻¹ (integer A
    only for n ≥ 0, as PyTorch)."""
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise TypeError(f"linalg.matrix_power: n must be an int, got {type(n).__name__}")
    size = _matrices("matrix_power", A, square=True, floats=n < 0)[0]
    if n == 0:  # the identity, connected to A with a zero gradient (as PyTorch's)
        dtype = np.asarray(getattr(A, "data", A)).dtype
        return E.where(np.ones((), dtype=bool), np.eye(size, dtype=dtype), A)
    base = inv(A) if n < 0 else A
    result, k = None, abs(int(n))
    while k:
        if k & 1:
            result = base if result is None else F.matmul(result, base)
        k >>= 1
        if k:
            base = F.matmul(base, base)
    assert result is not None
    return result


def multi_dot(tensors: Sequence[Any]) -> Tensor:
    """The product of a chain of matrices, in the cheapest order; the first may be a 1-D row
    vector and the last a 1-D column vector (their dims are dropped from the result)."""
    ts = list(tensors)
    if len(ts) < 2:
        raise LinAlgError(f"multi_dot(): expected at least 2 tensors but got {len(ts)}")
    for k, t in enumerate(ts):
        edge = k in (0, len(ts) - 1)
        if not (ndim_of(t) == 2 or (edge and ndim_of(t) == 1)):
            which = "first" if k == 0 else "last" if k == len(ts) - 1 else f"{k}-th"
            allowed = "1D or 2D" if edge else "2D"
            raise LinAlgError(f"multi_dot(): the {which} tensor must be {allowed} but got "
                              f"{ndim_of(t)}D (shape {shape_of(t)})")
    first_vec, last_vec = ndim_of(ts[0]) == 1, ndim_of(ts[-1]) == 1
    if first_vec:
        ts[0] = F.unsqueeze(ts[0], 0)
    if last_vec:
        ts[-1] = F.unsqueeze(ts[-1], -1)
    for k in range(len(ts) - 1):
        if shape_of(ts[k])[1] != shape_of(ts[k + 1])[0]:
            raise LinAlgError(f"multi_dot(): tensors {k} and {k + 1} with shapes "
                              f"{shape_of(tensors[k])} and {shape_of(tensors[k + 1])} cannot "
                              "be multiplied")
    out = _chain(ts, _chain_order([shape_of(t)[0] for t in ts] + [shape_of(ts[-1])[1]]),
                 0, len(ts) - 1)
    if last_vec:
        out = F.squeeze(out, -1)
    return F.squeeze(out, 0) if first_vec else out


def _chain_order(sizes: list[int]) -> list[list[int]]:
    """split[i][j]: where the cheapest product of matrices i..j splits (the classic dynamic
    programme over the chain's dims ``sizes``)."""
    n = len(sizes) - 1
    cost = [[0] * n for _ in range(n)]
    split = [[0] * n for _ in range(n)]
    for length in range(1, n):
        for i in range(n - length):
            j = i + length
            cost[i][j], split[i][j] = min(
                (cost[i][k] + cost[k + 1][j] + sizes[i] * sizes[k + 1] * sizes[j + 1], k)
                for k in range(i, j))
    return split


def _chain(ts: list, split: list[list[int]], i: int, j: int) -> Tensor:
    if i == j:
        return ts[i]
    k = split[i][j]
    return F.matmul(_chain(ts, split, i, k), _chain(ts, split, k + 1, j))


def cross(input: Any, other: Any, *, dim: int = -1) -> Tensor:
    """The cross product of 3-vectors along ``dim`` (the other dims broadcast)."""
    sa, sb = shape_of(input), shape_of(other)
    shape = _broadcast("cross", sa, sb)
    if len(sa) != len(sb):
        raise LinAlgError(f"linalg.cross: inputs must have the same number of dimensions (got "
                          f"shapes {sa} and {sb}); unsqueeze one of them")
    d = norm_dim(dim, len(shape), "linalg.cross")  # negative: counted from the end
    size_a, size_b = sa[d], sb[d]
    if size_a != 3 or size_b != 3:
        raise LinAlgError(f"linalg.cross: inputs dimension {dim} must have length 3. Got "
                          f"{size_a} and {size_b} (shapes {sa} and {sb})")

    def turn(x: Any, k: int) -> Tensor:  # x[(i + k) mod 3] at position i
        return F.roll(x, -k, d)

    return E.sub(E.mul(turn(input, 1), turn(other, 2)), E.mul(turn(input, 2), turn(other, 1)))


def householder_product(A: Any, tau: Any) -> Tensor:
    """The first n columns of H₁⋯H_k, H_i = I - τ_i v_i v_iᵀ, v_i = (0, …, 0, 1, A[i+1:, i])
    (the Q that LAPACK's geqrf encodes in A and τ)."""
    m, n = _matrices("householder_product", A)
    st = shape_of(tau)
    if n > m:
        raise LinAlgError(f"torch.linalg.householder_product: input.shape[-2] must be greater "
                          f"than or equal to input.shape[-1] (got shape {shape_of(A)})")
    if len(st) < 1 or st[-1] > n or tuple(st[:-1]) != tuple(shape_of(A)[:-2]):
        raise LinAlgError(f"torch.linalg.householder_product: tau of shape {st} must be "
                          f"(..., k) with k ≤ {n} and A's batch dims {shape_of(A)[:-2]}")
    dtype = np.asarray(getattr(A, "data", A)).dtype
    q: Any = np.broadcast_to(np.eye(m, n, dtype=dtype), tuple(shape_of(A)[:-2]) + (m, n))
    below = np.arange(m)
    for i in reversed(range(st[-1])):
        v = E.add(E.mul(A[..., :, i], below > i), (below == i).astype(dtype))  # (..., m)
        vt_q = F.sum(E.mul(F.unsqueeze(v, -1), q), dim=-2)  # vᵀQ, (..., n)
        step = E.mul(F.unsqueeze(E.mul(v, F.unsqueeze(tau[..., i], -1)), -1),
                     F.unsqueeze(vt_q, -2))
        q = E.sub(q, step)
    return q if isinstance(q, Tensor) else Tensor._make(np.array(q))


def matrix_exp(A: Any) -> Tensor:
    """exp(A) = Σ Aᵏ/k! by scaling and squaring with a [13/13] Padé approximant (Higham 2005),
    accurate to float64 precision (float32 inputs are computed in float64). The gradient is
    the Fréchet derivative, read off exp([[Aᵀ, Ḡ], [0, Aᵀ]])."""
    _matrices("matrix_exp", A, square=True)
    return LA.matrix_exp(A)


__all__ = [
    "LinAlgError", "inv", "inv_ex", "det", "slogdet", "solve", "solve_ex", "solve_triangular",
    "cholesky", "cholesky_ex", "norm", "vector_norm", "matrix_norm", "svd", "svdvals", "eigh",
    "eigvalsh", "eig", "eigvals", "qr", "pinv", "lstsq", "matrix_rank", "matrix_power",
    "multi_dot", "cross", "cond", "vecdot", "diagonal", "householder_product", "matrix_exp",
    "SVDResult", "EighResult", "QRResult", "LstsqResult", "InvExResult", "CholeskyExResult",
    "SolveExResult", "lu", "lu_factor", "lu_factor_ex", "lu_solve", "LUFactorResult",
    "LUFactorExResult", "LUResult",
]


# --------------------------------------------------------------------------- top-level forms

SvdResult = namedtuple("SvdResult", ["U", "S", "V"])  # torch.return_types.svd


def torch_svd(A: Any, some: bool = True, compute_uv: bool = True) -> SvdResult:
    """``torch.svd`` (``cr.svd``): V rather than Vh."""
    m, n = _matrices("svd", A)
    if not compute_uv:
        dtype = np.asarray(getattr(A, "data", A)).dtype
        batch = tuple(shape_of(A)[:-2])
        zeros = [Tensor._make(np.zeros(batch + (k, k), dtype=dtype)) for k in (m, n)]
        return SvdResult(zeros[0], svdvals(A), zeros[1])
    u, s, vh = svd(A, full_matrices=not some)
    return SvdResult(u, s, F.transpose(vh, -2, -1))


def logdet(A: Any) -> Tensor:
    """log det A: NaN where det A < 0 (passing no gradient, as PyTorch), -inf where it is 0."""
    _matrices("logdet", A, square=True)
    sign, logabs = slogdet(A)
    nan = np.array(np.nan, dtype=logabs.dtype)
    return E.where(sign.data < 0, nan, logabs)
