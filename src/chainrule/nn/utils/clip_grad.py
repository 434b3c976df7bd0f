"""Gradient clipping and flattening parameters into one vector."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ...engine import bump_version
from ...tensor import Tensor

__all__ = ["clip_grad_norm_", "clip_grad_value_", "parameters_to_vector",
           "vector_to_parameters", "get_total_norm", "clip_grads_with_norm_"]


def _as_list(parameters: Tensor | Iterable[Tensor]) -> list[Tensor]:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _norm_of(a: np.ndarray, p: float) -> Any:
    """The ``p``-norm of one array for ``p`` 0 or ±inf, as ``torch.linalg.vector_norm``
    (``p = 0`` counts the non-zero entries, ``±inf`` takes the largest or smallest magnitude;
    other ``p`` are summed over all the arrays at once by ``get_total_norm``)."""
    if p == 0:
        return np.count_nonzero(a)
    if p == math.inf:
        return np.max(np.abs(a)) if a.size else 0.0
    return np.min(np.abs(a)) if a.size else math.inf  # p = -inf


def get_total_norm(tensors: Tensor | Iterable[Tensor], norm_type: float = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of the tensors' norms (for ``p ≠ 0``, the norm of all the
    tensors together, as if concatenated); ``norm_type=0`` counts the non-zero tensors."""
    arrays = [t.data for t in _as_list(tensors)]
    if not arrays:
        return Tensor._make(np.zeros((), dtype=np.float32))
    p = float(norm_type)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):  # as torch: inf, nan
        if p == 2.0:
            total = np.sqrt(sum(np.vdot(a, a).real for a in arrays))
        elif p in (0.0, math.inf, -math.inf):
            total = _norm_of(np.array([_norm_of(a, p) for a in arrays], dtype=np.float64), p)
        else:
            total = sum(np.sum(np.abs(a) ** p) for a in arrays) ** (1.0 / p)
    dtype = np.result_type(*arrays)
    total = np.asarray(total, dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return Tensor._make(total)


def clip_grads_with_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                          total_norm: Tensor, foreach: bool | None = None) -> None:
    """Scale the gradients by ``min(1, max_norm/(total_norm + 1e-6))`` in place."""
    grads = [p.grad.data for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    total = np.asarray(total_norm.data if isinstance(total_norm, Tensor) else total_norm)
    if total.dtype.kind != "f":
        total = total.astype(np.float32)
    scalar = total.dtype.type
    # Rounded as torch does it, in the norm's dtype: max_norm / t is reciprocal(t) * max_norm.
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        coef = np.minimum(np.reciprocal(total + scalar(1e-6)) * scalar(float(max_norm)),
                          scalar(1.0))
        for g in grads:
            g *= coef.astype(g.dtype)  # inf·0 is nan, as in torch, without a warning


def clip_grad_norm_(parameters: Tensor | Iterable[Tensor], max_norm: float,
                    norm_type: float = 2.0, error_if_nonfinite: bool = False,
                    foreach: bool | None = None) -> Tensor:
    """Rescale all gradients together so their global norm is at most ``max_norm``.

    ``total = ‖(g_1, ..., g_n)‖_p``; every gradient is multiplied by
    ``min(1, max_norm/(total + 1e-6))``. Returns ``total`` (as a tensor). A NaN or inf total
    raises with ``error_if_nonfinite``; otherwise the gradients are scaled by it anyway (and
    become NaN), as PyTorch does.

    >>> import chainrule as cr
    >>> w = cr.nn.Parameter(cr.zeros(2))
    >>> w.grad = cr.tensor([3.0, 4.0])
    >>> cr.nn.utils.clip_grad_norm_([w], max_norm=1.0)
    tensor(5.)
    """
    if isinstance(parameters, Iterator) and not isinstance(parameters, Tensor):
        parameters = list(parameters)
        if not parameters:
            warnings.warn("`parameters` is an empty generator, no gradient clipping will "
                          "occur.", UserWarning, stacklevel=2)
    params = [p for p in _as_list(parameters) if p.grad is not None]
    if not params:
        return Tensor._make(np.zeros((), dtype=np.float32))
    total = get_total_norm([p.grad for p in params if p.grad is not None], norm_type,
                           error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters: Tensor | Iterable[Tensor], clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clip every gradient element into ``[-clip_value, clip_value]``, in place."""
    v = float(clip_value)
    for p in _as_list(parameters):
        if p.grad is not None:
            np.clip(p.grad.data, -v, v, out=p.grad.data)


def parameters_to_vector(parameters: Tensor | Iterable[Tensor]) -> Tensor:
    """All parameters flattened and joined into one vector (differentiable)."""
    from ... import functional as F

    params = _as_list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"parameters_to_vector: expected Tensors, but one of the "
                            f"parameters is a {type(p).__name__}")
    if not params:
        raise ValueError("parameters_to_vector: got no parameters to flatten")
    return F.cat([F.reshape(p, (-1,)) for p in params])


def vector_to_parameters(vec: Tensor, parameters: Iterable[Tensor]) -> None:
    """Copy consecutive slices of ``vec`` into the parameters' values (cast to each
    parameter's dtype). Unlike PyTorch, which ignores extra elements, a vector whose length
    is not the parameters' total number of elements is an error."""
    if not isinstance(vec, Tensor):
        raise TypeError(f"expected a Tensor, but got: {type(vec).__name__}")
    flat = vec.data.reshape(-1)
    pointer = 0
    params = list(parameters)
    total = sum(p.numel() for p in params)
    if total != flat.size:
        raise ValueError(f"vector_to_parameters: the vector has {flat.size} elements, the "
                         f"parameters {total}")
    for p in params:
        n = p.numel()
        np.copyto(p.data, flat[pointer:pointer + n].reshape(p.shape))
        bump_version(p)
        pointer += n

