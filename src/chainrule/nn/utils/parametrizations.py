"""``cr.nn.utils.parametrizations``: orthogonal, weight_norm and spectral_norm as parametrizations.

Each registers a module with :func:`~chainrule.nn.utils.parametrize.register_parametrization`
(state-dict keys ``parametrizations.<name>.original...`` as PyTorch's), unlike the older
hook-based ``cr.nn.utils.weight_norm`` / ``spectral_norm``.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from ... import functional as F
from ... import linalg_namespace as linalg
from ...engine import bump_version, no_grad
from ...random import randn
from ...tensor import Tensor
from ..functional import normalize
from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..modules.module import Module
from . import parametrize
from .spectral_norm import _normalize
from .weight_norm import _norm_except_dim

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]

T_module = TypeVar("T_module", bound=Module)

_ORTHOGONAL_MAPS = ("matrix_exp", "cayley", "householder")


def _constant(array: np.ndarray) -> Tensor:
    return Tensor._make(array)


def _cayley(a: Tensor) -> Tensor:
    """The Cayley map ``(I - a/2)⁻¹ (I + a/2)``."""
    eye = _constant(np.eye(a.shape[-1], dtype=a.dtype))
    return linalg.solve(eye - a * 0.5, eye + a * 0.5)


def _set_diagonal(a: np.ndarray, values: np.ndarray | float) -> None:
    idx = np.arange(min(a.shape[-2:]))
    a[..., idx, idx] = values


def _diagonal(a: np.ndarray) -> np.ndarray:
    idx = np.arange(min(a.shape[-2:]))
    return a[..., idx, idx]


def _make_orthogonal(a: np.ndarray) -> np.ndarray:
    """Q of a = QR with R's diagonal made non-negative (so Q does not depend on LAPACK's signs)."""
    q, r = np.linalg.qr(a)
    return q * np.sign(_diagonal(r))[..., None, :]


def _is_orthogonal(q: np.ndarray) -> bool:
    n, k = q.shape[-2:]
    eps = 10.0 * n * float(np.finfo(q.dtype).eps)
    return bool(np.allclose(np.swapaxes(q, -2, -1) @ q, np.eye(k), rtol=1e-5, atol=eps))


class _Orthogonal(Module):
    """``forward(X)``: an orthogonal matrix (orthonormal columns, or rows if wide) made from
    X by ``orthogonal_map``; with ``use_trivialization``, ``base @`` that, where ``base``
    (a buffer) is set by ``right_inverse``."""

    base: Tensor | None

    def __init__(self, weight: Tensor, orthogonal_map: str, *,
                 use_trivialization: bool = True) -> None:
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        self.use_trivialization = use_trivialization
        if use_trivialization:
            self.register_buffer("base", None)

    def forward(self, X: Tensor) -> Tensor:
        n, k = X.shape[-2:]
        transposed = n < k
        if transposed:  # work with a tall matrix
            X = X.mT
            n, k = k, n
        if self.orthogonal_map == "householder":
            Q = self._householder(X)
        else:
            Q = self._from_skew(X, n, k)
        if self.use_trivialization:
            if self.base is None:
                raise RuntimeError("orthogonal: the base is not set; assign the weight "
                                   "(module.weight = W) to set it")
            Q = F.matmul(self.base, Q)
        return Q.mT if transposed else Q

    def _from_skew(self, X: Tensor, n: int, k: int) -> Tensor:
        """matrix_exp / cayley of the skew-symmetric matrix from X's lower triangle (embedded
        in an n×n matrix), its first k columns."""
        X = F.tril(X)
        if n != k:
            X = F.cat([X, _constant(np.zeros((*X.shape[:-2], n, n - k), dtype=X.dtype))],
                      dim=-1)
        A = X - X.mT
        Q = linalg.matrix_exp(A) if self.orthogonal_map == "matrix_exp" else _cayley(A)
        return Q[..., :k] if n != k else Q

    @staticmethod
    def _householder(X: Tensor) -> Tensor:
        A = F.tril(X, -1)
        tau = 2.0 / (1.0 + F.sum(A * A, dim=-2))
        Q = linalg.householder_product(A, tau)
        # X's diagonal holds the signs ±1, truncated to integers and not differentiated
        signs = np.trunc(_diagonal(X.data))[..., None, :].astype(X.dtype)
        return Q * _constant(signs)

    def right_inverse(self, Q: Tensor) -> Tensor:
        if tuple(Q.shape) != tuple(self.shape):
            raise ValueError(f"Expected a matrix or batch of matrices of shape "
                             f"{tuple(self.shape)}. Got a tensor of shape {tuple(Q.shape)}.")
        with no_grad():
            q = Q.data
            n, k = q.shape[-2:]
            transposed = n < k
            if transposed:
                q = np.swapaxes(q, -2, -1)
                n, k = k, n
            if not self.use_trivialization:
                return _constant(self._reflectors(q, transposed))
            if n == k:
                q = q.copy() if _is_orthogonal(q) else _make_orthogonal(q)
            else:  # complete the columns to an n×n orthogonal matrix with random ones
                extra = randn(*q.shape[:-2], n, n - k, dtype=q.dtype).data
                q = _make_orthogonal(np.concatenate([q, extra], axis=-1))
            self.base = _constant(q)
            # -I: every map sends it to the identity (householder: the diagonal gives -1s)
            neg_eye = np.zeros(Q.shape, dtype=Q.dtype)
            _set_diagonal(neg_eye, -1.0)
            return _constant(neg_eye)

    def _reflectors(self, q: np.ndarray, transposed: bool) -> np.ndarray:
        if self.orthogonal_map != "householder":
            raise NotImplementedError("It is not possible to assign to the matrix exponential "
                                      "or the Cayley parametrizations when "
                                      "use_trivialization=False.")
        # geqrf's reflectors (below the diagonal), with R's diagonal signs on the diagonal;
        # where LAPACK made no reflection (τ = 0), the forward's reflection is undone by a -1.
        h, tau = np.linalg.qr(q, mode="raw")
        a = np.swapaxes(h, -2, -1).copy()
        signs = np.sign(_diagonal(a))
        signs[tau == 0.0] *= -1
        _set_diagonal(a, signs)
        return np.swapaxes(a, -2, -1) if transposed else a


def orthogonal(module: T_module, name: str = "weight", orthogonal_map: str | None = None, *,
               use_trivialization: bool = True) -> T_module:
    """Constrain ``module.<name>`` (a matrix, or a batch of them in the last two dims) to be
    orthogonal — orthonormal columns if tall, rows if wide — as
    ``torch.nn.utils.parametrizations.orthogonal``.

    ``orthogonal_map`` picks how: ``"matrix_exp"`` (the exponential of a skew-symmetric
    matrix), ``"cayley"`` (its Cayley transform) or ``"householder"`` (a product of
    reflections); by default ``"matrix_exp"`` for square matrices and ``"householder"``
    otherwise (PyTorch's choice for real tensors). With ``use_trivialization`` (default) the
    weight is ``base @ map(original)`` where the buffer ``base`` (an orthogonal matrix from
    the current weight: its QR's Q, completed with random columns if not square) is reset on
    each assignment ``module.<name> = W``, and ``original`` starts at -I, so the weight
    starts as the orthogonalised old weight. Without it, ``original`` is the old weight
    (householder) or the weight is ``map(old weight)`` (matrix_exp and cayley, which cannot
    be assigned to then). Registered with ``unsafe=True``, as PyTorch. Complex weights
    (unitary matrices) are not supported.

    >>> import numpy as np
    >>> import chainrule as cr
    >>> m = cr.nn.utils.parametrizations.orthogonal(cr.nn.Linear(3, 5))  # weight (5, 3)
    >>> w = m.weight.detach().numpy()
    >>> bool(np.allclose(w.T @ w, np.eye(3), atol=1e-6))
    True

    Raises
    ------
    ValueError
        If ``module`` has no tensor ``<name>``, it has fewer than 2 dims, or
        ``orthogonal_map`` is not one of the three.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError("orthogonal: expected a matrix or batch of matrices. Got a tensor of "
                         f"{weight.ndim} dimensions (shape {tuple(weight.shape)}).")
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in _ORTHOGONAL_MAPS:
        raise ValueError('orthogonal_map has to be one of "matrix_exp", "cayley", '
                         f'"householder". Got: {orthogonal_map}')
    if weight.dtype.kind == "c":
        raise NotImplementedError("orthogonal: complex (unitary) weights are not supported")
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization=use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module


class _WeightNorm(Module):
    """``forward(g, v) = g · v / ‖v‖`` (norm over every dim but ``dim``; the whole tensor for
    ``dim == -1``); ``right_inverse(w) = (‖w‖, w)``."""

    def __init__(self, dim: int | None = 0) -> None:
        super().__init__()
        self.dim = -1 if dim is None else dim

    def _dim_for(self, v: Tensor) -> int:
        if self.dim == -1:
            return -1
        if not -v.ndim <= self.dim < v.ndim:
            raise IndexError(f"weight_norm: dim={self.dim} is out of range for a tensor of "
                             f"shape {tuple(v.shape)} (expected None or -1 for the whole "
                             f"tensor, or a dim in [{-v.ndim}, {v.ndim - 1}])")
        return self.dim % v.ndim

    def forward(self, weight_g: Tensor, weight_v: Tensor) -> Tensor:
        return weight_v * (weight_g / _norm_except_dim(weight_v, self._dim_for(weight_v)))

    def right_inverse(self, weight: Tensor) -> tuple[Tensor, Tensor]:
        return _norm_except_dim(weight, self._dim_for(weight)), weight


def weight_norm(module: T_module, name: str = "weight", dim: int | None = 0) -> T_module:
    """Reparametrise ``module.<name>`` as ``g · v / ‖v‖``, as
    ``torch.nn.utils.parametrizations.weight_norm``.

    ``parametrizations.<name>.original0`` is the magnitude g (norms of the weight over every
    dim but ``dim``, kept as size-1 dims; a scalar for ``dim=None``), ``original1`` the
    direction v (at first the weight itself). As in PyTorch, ``dim=-1`` also means the whole
    tensor. Unlike PyTorch, loading a state dict with the hook-based API's keys
    (``<name>_g``, ``<name>_v``) is not translated: rename them to
    ``parametrizations.<name>.original0`` / ``original1``.

    >>> import chainrule as cr
    >>> m = cr.nn.utils.parametrizations.weight_norm(cr.nn.Linear(20, 40))
    >>> m.parametrizations.weight.original0.shape, m.parametrizations.weight.original1.shape
    ((40, 1), (40, 20))

    Raises
    ------
    ValueError
        If ``module`` has no parameter or buffer ``<name>``.
    IndexError
        If ``dim`` is out of range for it.
    """
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    """``forward(W) = W / σ`` with σ = uᵀ·W·v, ``W`` as a matrix with ``dim`` as rows; the
    buffers ``_u`` and ``_v`` are power-iteration estimates of the first singular vectors,
    refined in place on each forward in training mode. A 1-D weight is just normalised."""

    _u: Tensor
    _v: Tensor

    def __init__(self, weight: Tensor, n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        super().__init__()
        ndim = weight.ndim
        if not -ndim <= dim < ndim:
            raise IndexError(f"spectral_norm: dimension out of range (expected to be in range "
                             f"of [{-ndim}, {ndim - 1}] but got {dim})")
        if n_power_iterations <= 0:
            raise ValueError("spectral_norm: expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.dim = dim % ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            with no_grad():
                weight_mat = self._reshape_weight_to_matrix(weight).data
                h, w = weight_mat.shape
                u = _normalize(randn(h, dtype=weight.dtype).data, eps)
                v = _normalize(randn(w, dtype=weight.dtype).data, eps)
            self.register_buffer("_u", _constant(u))
            self.register_buffer("_v", _constant(v))
            # start from good estimates, as PyTorch
            self._power_method(weight_mat, 15)

    def _reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        if self.dim != 0:
            weight = F.permute(weight, (self.dim, *[d for d in range(weight.ndim)
                                                    if d != self.dim]))
        return F.reshape(weight, (weight.shape[0], -1))

    def _power_method(self, weight_mat: np.ndarray, n_power_iterations: int) -> None:
        """Refine u and v in place (the tensors a functional_call passes in are updated too)."""
        u, v = self._u.data, self._v.data
        for _ in range(n_power_iterations):
            u[...] = _normalize(weight_mat @ v, self.eps)
            v[...] = _normalize(weight_mat.T @ u, self.eps)
        bump_version(self._u)
        bump_version(self._v)

    def forward(self, weight: Tensor) -> Tensor:
        if weight.ndim == 1:
            return normalize(weight, dim=0, eps=self.eps)
        weight_mat = self._reshape_weight_to_matrix(weight)
        if self.training:
            self._power_method(weight_mat.data, self.n_power_iterations)
        # copies, so a graph built now survives the next forward's in-place update; no
        # gradient reaches u and v
        u, v = _constant(self._u.data.copy()), _constant(self._v.data.copy())
        sigma = F.dot(u, F.mv(weight_mat, v))
        return weight / sigma

    def right_inverse(self, value: Tensor) -> Tensor:
        return value


def spectral_norm(module: T_module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> T_module:
    """Divide ``module.<name>`` by its spectral norm σ (largest singular value), as
    ``torch.nn.utils.parametrizations.spectral_norm``.

    σ = uᵀ·W·v, ``W`` the weight as a matrix with ``dim`` as rows (``dim`` defaults to 0, or
    1 for ``ConvTranspose1d/2d/3d``); the buffers ``parametrizations.<name>.0._u`` and
    ``_v`` (random unit vectors refined by 15 power iterations at registration) are refined
    by ``n_power_iterations`` more on every read of ``module.<name>`` in training mode, in
    place; in eval mode they stay. The gradient reaches the weight through W and σ (not u,
    v). A 1-D weight is divided by its 2-norm. ``eps`` guards the normalisations.

    >>> import chainrule as cr
    >>> m = cr.nn.utils.parametrizations.spectral_norm(cr.nn.Linear(20, 40))
    >>> list(m.state_dict())
    ['bias', 'parametrizations.weight.original', 'parametrizations.weight.0._u', \
'parametrizations.weight.0._v']

    Raises
    ------
    ValueError
        If ``module`` has no tensor ``<name>``, or ``n_power_iterations`` is not positive.
    IndexError
        If ``dim`` is out of range.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d,
                                       ConvTranspose3d)) else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps))
    return module
