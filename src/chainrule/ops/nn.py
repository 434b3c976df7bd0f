"""Fused primitives of ``cr.nn.functional``, kept as ops for numerical stability and speed.

``cross_entropy`` / ``soft_cross_entropy`` (log-softmax and the negative log-likelihood in one
rule: ∂ℒ/∂x = softmax(x)·Σq − q, never forming log(softmax)), ``standardize`` (the core of
batch, layer and group norm: one rule instead of a dozen nodes), ``embedding`` (a row lookup
whose gradient skips the padding row) and ``linear`` (x·Wᵀ + b in one node).

The classes are the last dim of ``x`` here (``nn.functional`` moves PyTorch's class dim 1
there). The rules use operators and NumPy functions that Tensors dispatch to their own ops,
so they differentiate again under ``create_graph=True``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import reductions as R
from .registry import Sample, defop

_NO_RULE: Any = None  # an input without a gradient (integer targets, indices)


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "grad_fn")


def _values(x: Any) -> Any:
    return x.data if _is_tensor(x) else x


def _softmax(x: Any) -> Any:
    if _is_tensor(x):
        return R.softmax(x, dim=-1)
    return R._softmax_forward(x, -1)


def _log_softmax(x: Any) -> Any:
    if _is_tensor(x):
        return R.log_softmax(x, dim=-1)
    return R._log_softmax_forward(x, -1)


# --------------------------------------------------------------------------- cross-entropy
#
# Both forms compute, per sample n (the leading dims), loss_n = -Σ_c q_nc · log softmax(x_n)_c
# for a non-negative target weighting q, then reduce: 'none' keeps loss_n, 'sum' adds them,
# 'mean' divides the sum by PyTorch's denominator (Σ_n weight[target_n] over non-ignored n for
# class indices, the number of samples for probabilities). With Σ_c q_nc = s_n, the gradient
# is ∂loss_n/∂x_n = s_n·softmax(x_n) - q_n.


def _index_q(x: Any, target: np.ndarray, weight: Any, ignore_index: int,
             label_smoothing: float) -> tuple[Any, Any, Any]:
    """For class-index targets: q as a dense array (..., C), its row sums and the mean's
    denominator. ``q = (1-ε)·w[t]·onehot(t) + ε/C·w``, zero on ignored rows."""
    c = x.shape[-1]
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    w = np.ones(c, dtype=x.dtype) if weight is None else np.asarray(weight, dtype=x.dtype)
    wt = w[t] * valid
    q = np.zeros(x.shape, dtype=x.dtype)
    if label_smoothing:
        q += (label_smoothing / c) * w * valid[..., None].astype(x.dtype)
    np.put_along_axis(q, t[..., None], (np.take_along_axis(q, t[..., None], -1)
                                        + ((1 - label_smoothing) * wt)[..., None]), -1)
    return q, q.sum(axis=-1), wt.sum()


def _reduce(loss: np.ndarray, reduction: str, denom: Any) -> np.ndarray:
    if reduction == "none":
        return loss
    total = loss.sum()
    if reduction != "mean":
        return total
    with np.errstate(invalid="ignore", divide="ignore"):  # all targets ignored: NaN, as torch
        return total / denom


def _all_plain_rows(x: Any, target: Any, weight: Any, ignore_index: int,
                    label_smoothing: float) -> bool:
    """The common case, which the fast paths below handle with a handful of NumPy calls:
    (N, C) logits (arrays), N class indices all in range and none ignored, no class
    weights, no smoothing. Every weight is then 1 and the mean's denominator is N."""
    if (weight is not None or label_smoothing or type(x) is not np.ndarray
            or x.ndim != 2 or type(target) is not np.ndarray or target.shape != x.shape[:1]
            or not target.size or target.dtype.kind not in "iu"):
        return False
    c = x.shape[1]
    return bool(target.min() >= 0 and target.max() < c and not 0 <= ignore_index < c)


def _ce_rows_forward(x: np.ndarray, target: np.ndarray, reduction: str) -> np.ndarray:
    # (the methods and ufuncs directly, exp in place, no errstate for a mean over N ≥ 1
    # rows: ~30% less time on (128, 10) logits, the same numbers)
    n = x.shape[0]
    s = x - x.max(axis=1, keepdims=True)
    picked = s[np.arange(n), target]
    loss = np.log(np.add.reduce(np.exp(s, out=s), axis=1))
    loss -= picked
    if reduction == "mean":
        return loss.sum() / n
    return _reduce(loss, reduction, n)


def _ce_rows_vjp(g: np.ndarray, x: np.ndarray, target: np.ndarray,
                 reduction: str) -> np.ndarray:
    """softmax(x) - onehot(target), times the upstream gradient, built in one array."""
    p = _softmax(x)  # a new array: made into the gradient in place
    p[np.arange(x.shape[0]), target] -= 1
    p *= _scale_upstream(g, reduction, x.shape[0])
    return p


def _ce_forward(x: np.ndarray, target: np.ndarray, weight: Any = None,
                ignore_index: int = -100, label_smoothing: float = 0.0,
                reduction: str = "mean") -> np.ndarray:
    if _all_plain_rows(x, target, weight, ignore_index, label_smoothing):
        return _ce_rows_forward(x, target, reduction)
    c = x.shape[-1]
    if target.shape != x.shape[:-1]:
        raise ValueError(f"expected target of shape {x.shape[:-1]} for input of shape "
                         f"{x.shape}, got {target.shape}")
    valid = target != ignore_index
    t = np.where(valid, target, 0)
    if t.size and (t.min() < 0 or t.max() >= c):
        bad = t.min() if t.min() < 0 else t.max()
        raise IndexError(f"target {int(bad)} is out of range for {c} classes (the target "
                         f"must be in [0, {c}) or equal ignore_index={ignore_index})")
    m = np.max(x, axis=-1, keepdims=True)
    s = x - m
    lse = np.log(np.sum(np.exp(s), axis=-1))
    w = None if weight is None else np.asarray(weight, dtype=x.dtype)
    wt = valid.astype(x.dtype) if w is None else w[t] * valid
    loss = (lse - np.take_along_axis(s, t[..., None], -1)[..., 0]) * wt
    if label_smoothing:
        if w is None:
            smooth = lse * c - s.sum(axis=-1)
        else:
            smooth = lse * w.sum() - s @ w
        loss = (1 - label_smoothing) * loss + (label_smoothing / c) * smooth * valid
    return _reduce(loss, reduction, wt.sum())


def _scale_upstream(g: Any, reduction: str, denom: Any) -> Any:
    """The upstream gradient per sample, as a (..., 1) column (or a scalar)."""
    if reduction == "none":
        return np.expand_dims(g, -1)
    if reduction == "mean":
        # every target ignored (denom 0): the loss is NaN, but no logit moves it (PyTorch: 0)
        return g / denom if denom else g * 0
    return g


def _ce_vjp(g: Any, out: Any, x: Any, target: Any, weight: Any = None,
            ignore_index: int = -100, label_smoothing: float = 0.0,
            reduction: str = "mean") -> Any:
    if type(g) is np.ndarray and _all_plain_rows(x, target, weight, ignore_index,
                                                 label_smoothing):
        return _ce_rows_vjp(g, x, target, reduction)
    xv = _values(x)
    q, s, denom = _index_q(xv, _values(target), weight, ignore_index, label_smoothing)
    return _scale_upstream(g, reduction, denom) * (_softmax(x) * s[..., None] - q)


def _ce_jvp(t: Any, out: Any, x: Any, target: Any, weight: Any = None,
            ignore_index: int = -100, label_smoothing: float = 0.0,
            reduction: str = "mean") -> Any:
    xv = _values(x)
    q, s, denom = _index_q(xv, _values(target), weight, ignore_index, label_smoothing)
    per = np.sum(t * (_softmax(x) * s[..., None] - q), axis=-1)
    if reduction == "none":
        return per
    total = np.sum(per, axis=tuple(range(-(xv.ndim - 1), 0))) if xv.ndim > 1 else per
    if reduction == "mean":
        return total / denom if denom else total * 0
    return total


def _ce_sample(rng: np.random.Generator) -> tuple:
    return rng.normal(0, 2, (5, 4)), np.array([0, 3, 1, 3, 2])


cross_entropy = defop(
    "cross_entropy", _ce_forward, (_ce_vjp, _NO_RULE),
    "ℒ = -Σ_n q_n·log softmax(x_n), q_n = (1-ε)·w[t_n]·onehot(t_n) + ε·w/C: "
    "∂ℒ/∂x_n = (Σ_c q_nc)·softmax(x_n) - q_n",
    sample=Sample(make=_ce_sample, params={"reduction": "mean"},
                  variants=({"reduction": "sum"}, {"reduction": "none"},
                            {"label_smoothing": 0.2, "ignore_index": 3},
                            {"weight": np.array([0.5, 2.0, 1.0, 1.5]), "ignore_index": 1,
                             "label_smoothing": 0.1},
                            {"weight": np.array([0.5, 2.0, 1.0, 1.5]), "reduction": "none"})),
    torch="nn.functional.cross_entropy", jvp=(_ce_jvp, None), reads=((0, 1), ()))


def _soft_q(x: Any, p: Any, weight: Any, label_smoothing: float) -> Any:
    q = p if not label_smoothing else p * (1 - label_smoothing) + label_smoothing / x.shape[-1]
    return q if weight is None else q * np.asarray(weight, dtype=_values(x).dtype)


def _soft_forward(x: np.ndarray, p: np.ndarray, weight: Any = None,
                  label_smoothing: float = 0.0, reduction: str = "mean") -> np.ndarray:
    if p.shape != x.shape:
        raise ValueError(f"expected probability targets of the input's shape {x.shape}, "
                         f"got {p.shape}")
    loss = -np.sum(_soft_q(x, p, weight, label_smoothing) * _log_softmax(x), axis=-1)
    return _reduce(loss, reduction, max(loss.size, 1) if loss.size else 0)


def _soft_vjp_x(g: Any, out: Any, x: Any, p: Any, weight: Any = None,
                label_smoothing: float = 0.0, reduction: str = "mean") -> Any:
    q = _soft_q(x, p, weight, label_smoothing)
    n = int(np.prod(x.shape[:-1]))
    return _scale_upstream(g, reduction, n) * (_softmax(x) * np.sum(q, axis=-1, keepdims=True)
                                               - q)


def _soft_vjp_p(g: Any, out: Any, x: Any, p: Any, weight: Any = None,
                label_smoothing: float = 0.0, reduction: str = "mean") -> Any:
    n = int(np.prod(x.shape[:-1]))
    dq = _log_softmax(x) * (-(1 - label_smoothing))
    if weight is not None:
        dq = dq * np.asarray(weight, dtype=_values(x).dtype)
    return _scale_upstream(g, reduction, n) * dq


def _soft_sample(rng: np.random.Generator) -> tuple:
    p = rng.uniform(0.1, 1.0, (3, 4))
    return rng.normal(0, 2, (3, 4)), p / p.sum(axis=-1, keepdims=True)


soft_cross_entropy = defop(
    "soft_cross_entropy", _soft_forward, (_soft_vjp_x, _soft_vjp_p),
    ("ℒ = -Σ_n q_n·log softmax(x_n), q = w·((1-ε)p + ε/C): ∂ℒ/∂x_n = (Σ_c q_nc)·softmax(x_n) "
     "- q_n", "∂ℒ/∂p_nc = -(1-ε)·w_c·log softmax(x_n)_c"),
    sample=Sample(make=_soft_sample, params={"reduction": "mean"},
                  variants=({"reduction": "none"}, {"reduction": "sum", "label_smoothing": 0.3},
                            {"weight": np.array([0.5, 2.0, 1.0, 1.5])})),
    torch="nn.functional.cross_entropy")


# --------------------------------------------------------------------------- binary CE

def _bce_forward(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    # PyTorch's clamp of the logs at -100 keeps p = 0 or 1 finite; log1p(-p), not log(1 - p),
    # keeps a tiny p's loss (1e-30 at p = 1e-30, not 0). PyTorch's order of terms (the sign of
    # a zero loss).
    with np.errstate(divide="ignore"):
        return (y - 1) * np.maximum(np.log1p(-p), -100.0) - y * np.maximum(np.log(p), -100.0)


def _bce_vjp_p(g: Any, out: Any, p: Any, y: Any) -> Any:
    # NOTE: the denominator is floored at 1e-12 (PyTorch's choice), so saturated p stays finite.
    return g * (p - y) / np.maximum((1 - p) * p, 1e-12)


def _bce_vjp_y(g: Any, out: Any, p: Any, y: Any) -> Any:
    with np.errstate(divide="ignore"):
        return g * (np.maximum(np.log1p(-p), -100.0) - np.maximum(np.log(p), -100.0))


binary_cross_entropy = defop(
    "binary_cross_entropy", _bce_forward, (_bce_vjp_p, _bce_vjp_y),
    ("ℓ = -[y·log p + (1-y)·log(1-p)]: ∂ℓ/∂p = (p - y)/max(p(1-p), 1e-12)",
     "∂ℓ/∂y = log(1-p) - log p"),
    elementwise=True,
    sample=Sample(make=lambda rng: (rng.uniform(0.05, 0.95, (3, 4)), rng.uniform(0, 1, (1, 4)))),
    torch="nn.functional.binary_cross_entropy")


# --------------------------------------------------------------------------- standardize

def _stats(x: Any, dim: tuple) -> tuple[Any, Any]:
    mean = np.mean(x, axis=dim, keepdims=True)
    c = x - mean
    return mean, np.mean(c * c, axis=dim, keepdims=True)


def _standardize_forward(x: np.ndarray, dim: tuple, eps: float = 1e-5) -> np.ndarray:
    mean, var = _stats(x, dim)
    out = x - mean
    out *= 1.0 / np.sqrt(var + eps)
    return out


def _standardize_vjp(g: Any, out: Any, x: Any, dim: tuple, eps: float = 1e-5) -> Any:
    # J = (I - 11ᵀ/n - x̂x̂ᵀ/n)/σ is symmetric, so the same formula serves as the JVP.
    _, var = _stats(x, dim)
    rstd = 1.0 / np.sqrt(var + eps)
    return rstd * (g - np.mean(g, axis=dim, keepdims=True)
                   - out * np.mean(g * out, axis=dim, keepdims=True))


standardize = defop(
    "standardize", _standardize_forward, _standardize_vjp,
    "x̂ = (x - μ)/√(σ² + ε) over dim: ∂ℒ/∂x = (g - mean(g) - x̂·mean(g·x̂))/√(σ² + ε)",
    saves_output=True,
    sample=Sample(shapes=((4, 3, 2),), params={"dim": (-1,), "eps": 1e-5},
                  variants=({"dim": (-3, -1), "eps": 0.1}, {"dim": (-2, -1), "eps": 1e-5})),
    torch=None, jvp=_standardize_vjp)


# --------------------------------------------------------------------------- embedding

def _embedding_forward(weight: np.ndarray, indices: np.ndarray, padding_idx: int | None = None,
                       scale_grad_by_freq: bool = False) -> np.ndarray:
    if indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be an integer tensor, got {indices.dtype}")
    n = weight.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = indices.min() if indices.min() < 0 else indices.max()
        raise IndexError(f"index {int(bad)} is out of range for {n} embeddings")
    return weight[indices]


def _embedding_vjp(g: Any, out: Any, weight: Any, indices: Any, padding_idx: int | None = None,
                   scale_grad_by_freq: bool = False) -> Any:
    idx = np.asarray(_values(indices)).reshape(-1)
    shape = weight.shape
    # per row: 0 for the padding row, 1/(its count in the batch) with scale_grad_by_freq
    scale = None
    if scale_grad_by_freq:
        scale = 1.0 / np.maximum(np.bincount(idx, minlength=shape[0]), 1)
    if padding_idx is not None:
        scale = np.ones(shape[0]) if scale is None else scale
        scale[padding_idx] = 0.0
    if _is_tensor(g):
        from .indexing import index_scatter

        grad = index_scatter(g.reshape((-1, shape[1])), key=(idx,), shape=tuple(shape))
        return grad if scale is None else grad * scale[:, None].astype(grad.dtype)
    rows = np.reshape(g, (-1, shape[1]))
    if padding_idx is not None:
        mask = idx != padding_idx
        idx, rows = idx[mask], rows[mask]
    grad = np.zeros(shape, dtype=rows.dtype)
    np.add.at(grad, idx, rows)
    if scale is not None and scale_grad_by_freq:  # (the padding row was skipped above)
        grad *= scale[:, None].astype(grad.dtype)
    return grad


def _embedding_sample(rng: np.random.Generator) -> tuple:
    return rng.normal(size=(5, 3)), np.array([[0, 2, 2], [4, 0, 1]])


embedding = defop(
    "embedding", _embedding_forward, (_embedding_vjp, _NO_RULE),
    "y = W[i]: ∂ℒ/∂W_k = Σ_{j: i_j = k} ∂ℒ/∂y_j (none for the padding row)", reads=((1,), ()),
    # (no padding_idx variant: its row's gradient is 0 on purpose, which central differences
    # would contradict; tests/test_nn_layers.py checks it)
    sample=Sample(make=_embedding_sample, params={"padding_idx": None}),
    torch=None, jvp=(lambda t, out, w, i, padding_idx=None, scale_grad_by_freq=False:
                     _moved_lookup(t, w, i), None))


def _moved_lookup(t: Any, w: Any, indices: Any) -> Any:
    """t[..., indices, :] for a tangent with leading batch dims."""
    from .indexing import getitem

    lead = t.ndim - 2
    key = (slice(None),) * lead + (np.asarray(_values(indices)),)
    return getitem(t, key=key) if _is_tensor(t) else t[key]


# --------------------------------------------------------------------------- linear

def _gemm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for matrices, in the orientation OpenBLAS runs fastest.

    OpenBLAS's float32 GEMM is 10-35% faster on an (m, n) product with m < n (a batch
    smaller than the layer's width) when it writes the transposed product bᵀ·aᵀ, i.e. an
    F-ordered result: measured on the shapes of a 784-512-256 MLP at batch 32-128, with 1
    or 2 threads. Elementwise ops keep the layout, and the next GEMM reads it as a
    transposed operand at no cost. (float64 GEMMs are faster the usual way round.)
    """
    m, n = a.shape[0], b.shape[1]
    if m < n and a.dtype == b.dtype == np.float32:
        out = np.empty((m, n), dtype=np.float32, order="F")
        np.matmul(b.T, a.T, out=out.T)
        return out
    return a @ b


def _as_rows(x: np.ndarray) -> np.ndarray:
    """(..., k) as (rows, k), a view when x's memory allows (one GEMM for all the rows
    instead of NumPy's matmul looping over the leading dims)."""
    return x if x.ndim == 2 else x.reshape(-1, x.shape[-1])


def _plain(*xs: Any) -> bool:
    """Plain arrays (not Tensors under create_graph) with at least one dim: the fast paths."""
    for x in xs:  # (a loop, not all() over a generator: this runs in every linear's backward)
        if type(x) is not np.ndarray or not x.ndim:
            return False
    return True


def _linear_forward(x: np.ndarray, w: np.ndarray, b: Any = None) -> np.ndarray:
    if x.ndim == 1:
        out = x @ w.T
    else:
        out = _gemm(_as_rows(x), w.T)
        if x.ndim > 2:
            out = out.reshape(x.shape[:-1] + (w.shape[0],))
    if b is not None:
        if b.ndim > out.ndim:  # (1, n) on a vector's (n,) output: PyTorch keeps (n,)
            b = b.reshape(b.shape[b.ndim - out.ndim:])
        if b.dtype == out.dtype or np.result_type(b, out) == out.dtype:
            out += b  # in place on the fresh GEMM output: no second (batch, out) array
        else:  # a wider bias (float64 on float32): promoted, as x @ w.T + b would be
            out = out + b
    return out


def _linear_vjp_x(g: Any, out: Any, x: Any, w: Any, b: Any = None) -> Any:
    if _plain(g, w) and g.ndim == 2:
        return _gemm(g, w)
    return g @ w


def _linear_vjp_w(g: Any, out: Any, x: Any, w: Any, b: Any = None) -> Any:
    if _plain(g, x) and g.ndim == x.ndim == 2:  # the usual case, without NumPy's wrappers
        return g.T @ x
    if np.ndim(x) == 1:
        return np.expand_dims(g, -1) * x
    g2 = np.reshape(g, (-1, np.shape(g)[-1]))
    x2 = np.reshape(x, (-1, np.shape(x)[-1]))
    # (C-ordered, like the weight: an F-ordered gradient would make every elementwise
    # optimizer update on it a transposed, cache-hostile pass, ~5x slower)
    return np.swapaxes(g2, -1, -2) @ x2


def _linear_vjp_b(g: Any, out: Any, x: Any, w: Any, b: Any = None) -> Any:
    if b.ndim > g.ndim:  # a (1, n) bias of a vector's output: the engine sums nothing
        return g.reshape((1,) * (b.ndim - g.ndim) + tuple(g.shape))
    if b.ndim != 1:  # a bias of the output's shape, or broadcast to it: the engine sums
        return g
    if _plain(g) and g.ndim == 2 and g.dtype == np.float32:
        # 1ᵀ·g as a BLAS matrix-vector product: 3-4x faster than g.sum(0), most of all on
        # the F-ordered gradients _gemm makes (a strided reduction for NumPy)
        return np.ones(g.shape[0], dtype=g.dtype) @ g
    if _plain(g) and g.ndim == 2:
        return np.add.reduce(g, axis=0)
    if _plain(g) and g.ndim > 1:
        return g.sum(axis=tuple(range(g.ndim - 1)))
    return g  # the engine sums it down to b's shape


def _linear_jvp_x(t: Any, out: Any, x: Any, w: Any, b: Any = None) -> Any:
    return t @ np.swapaxes(w, -1, -2)


def _linear_jvp_w(t: Any, out: Any, x: Any, w: Any, b: Any = None) -> Any:
    lead = np.ndim(t) - 2  # the tangent's batch dims, kept apart from x's batch dims
    tt = np.swapaxes(t, -1, -2)
    if lead and np.ndim(x) > 2:
        shape = tuple(np.shape(tt))
        tt = np.reshape(tt, shape[:lead] + (1,) * (np.ndim(x) - 2) + shape[lead:])
    return x @ tt


def _linear_jvp_b(t: Any, out: Any, x: Any, w: Any, b: Any = None) -> Any:
    lead = np.ndim(t) - np.ndim(b)  # the tangent's batch dims go in front of the output's
    bias_dims = tuple(np.shape(t)[lead:])[max(np.ndim(b) - np.ndim(out), 0):]
    return np.reshape(t, tuple(np.shape(t)[:lead]) + (1,) * (np.ndim(out) - len(bias_dims))
                      + bias_dims)


linear = defop(
    "linear", _linear_forward, (_linear_vjp_x, _linear_vjp_w, _linear_vjp_b),
    ("y = x·Wᵀ + b: ∂ℒ/∂x = g·W", "∂ℒ/∂W = gᵀ·x (summed over the batch)", "∂ℒ/∂b = Σ g"),
    reads=((1,), (0,), ()),
    sample=Sample(shapes=((2, 3, 4), (5, 4), (5,))), torch="nn.functional.linear",
    jvp=(_linear_jvp_x, _linear_jvp_w, _linear_jvp_b))
