"""Attention: ``scaled_dot_product_attention`` and ``multi_head_attention_forward``.

softmax(q·kᵀ·scale + mask)·v is one fused op (``chainrule/ops/attention.py``): with
P = softmax(S), δv = Pᵀδo, δS = P⊙(δo vᵀ − rowsum(δo⊙o)), δq = δS k·scale,
δk = δSᵀ q·scale. With attention dropout (or when the weights are returned) it is composed
from matmul and softmax instead.

>>> import chainrule as cr
>>> q = k = v = cr.randn(2, 4, 5, 8)  # (batch, heads, length, head_dim)
>>> cr.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True).shape
(2, 4, 5, 8)
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ... import functional as F
from ...ops import attention as A
from ...ops._util import ndim_of, shape_of
from ...tensor import Tensor
from .dropout import dropout as _dropout
from .linear import linear

__all__ = ["scaled_dot_product_attention", "multi_head_attention_forward"]


def _data(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _masked_softmax(scores: Tensor, keep: np.ndarray | None) -> Tensor:
    """softmax over the last dim; rows that ``keep`` masks out entirely give 0 (not NaN), and
    no gradient."""
    if keep is None or keep.all():
        return F.softmax(scores, -1)
    ok = np.broadcast_to(keep, shape_of(scores)[:-1] + (1,))
    safe = F.where(ok, scores, np.zeros((), dtype=scores.dtype))
    return F.where(ok, F.softmax(safe, -1), np.zeros((), dtype=scores.dtype))


def _apply_mask(scores: Tensor, mask: Any) -> tuple[Tensor, np.ndarray | None]:
    """Scores with ``mask`` applied (bool: keep where True; float: added) and which rows still
    have a finite entry (None when all do)."""
    if mask is None:
        return scores, None
    m = _data(mask)
    if m.dtype == np.bool_:
        scores = F.where(m, scores, np.array(-np.inf, dtype=scores.dtype))
        row_ok = m.any(axis=-1, keepdims=True)
    else:
        scores = scores + (mask if isinstance(mask, Tensor) else m.astype(scores.dtype))
        row_ok = (m > -np.inf).any(axis=-1, keepdims=True)
    return scores, None if row_ok.all() else np.asarray(row_ok)


def _additive(mask: Any, dtype: np.dtype) -> Any:
    """An attention mask as an additive float mask of at least 2 dims: bool True (may
    attend) -> 0, False -> -inf; a float mask as it is (a Tensor keeps its gradient)."""
    if mask is None:
        return None
    m = _data(mask)
    if m.dtype == np.bool_:
        out: Any = Tensor._make(np.where(m, 0.0, -np.inf).astype(dtype))
    elif m.dtype.kind != "f":
        raise TypeError(f"scaled_dot_product_attention: attn_mask must be bool (True = may "
                        f"attend) or float (added to the scores), got {m.dtype}")
    elif isinstance(mask, Tensor) and m.dtype == dtype:
        out = mask
    else:
        out = Tensor._make(m.astype(dtype))
    return F.unsqueeze(out, 0) if ndim_of(out) < 2 else out


def scaled_dot_product_attention(query: Tensor, key: Tensor, value: Tensor,
                                 attn_mask: Tensor | None = None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 enable_gqa: bool = False) -> Tensor:
    """softmax(q·kᵀ·scale + mask)·v over ``(..., L, E)`` queries, ``(..., S, E)`` keys and
    ``(..., S, Ev)`` values; ``scale`` defaults to 1/√E.

    ``attn_mask``: bool (True = may attend) or float (added to the scores), broadcast to
    ``(..., L, S)``; ``is_causal`` allows position j ≤ i only (with no ``attn_mask``). A query
    that may attend to nothing gets 0 (PyTorch's CPU kernel does the same). ``dropout_p``
    drops attention weights (always, as in PyTorch: pass 0.0 in evaluation).
    ``enable_gqa`` repeats key/value heads (dim -3) to match the query heads.
    """
    if ndim_of(query) < 2 or ndim_of(key) < 2 or ndim_of(value) < 2:
        raise ValueError("scaled_dot_product_attention: query, key and value need at least 2 "
                         "dims (..., length, features)")
    dtypes = [_data(t).dtype for t in (query, key, value)]
    if any(d.kind != "f" for d in dtypes):
        raise TypeError(f"scaled_dot_product_attention: query, key and value must be floating "
                        f"point, got {', '.join(map(str, dtypes))}; convert them with .float()")
    lq, e = shape_of(query)[-2:]
    s = shape_of(key)[-2]
    if shape_of(key)[-1] != e or shape_of(value)[-2] != s:
        raise ValueError(f"scaled_dot_product_attention: query {shape_of(query)}, key "
                         f"{shape_of(key)} and value {shape_of(value)} do not fit: expected "
                         f"key (..., S, {e}) and value (..., S, Ev)")
    if enable_gqa and ndim_of(query) >= 3 and shape_of(key)[-3] != shape_of(query)[-3]:
        hq, hk = shape_of(query)[-3], shape_of(key)[-3]
        if hq % hk:
            raise ValueError(f"scaled_dot_product_attention: {hq} query heads are not a "
                             f"multiple of {hk} key/value heads")
        idx = Tensor._make(np.repeat(np.arange(hk), hq // hk))
        key = F.index_select(key, ndim_of(key) - 3, idx)
        value = F.index_select(value, ndim_of(value) - 3, idx)
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
    if dropout_p == 0.0:
        mask = _additive(attn_mask, query.dtype)
        args = (query, key, value) if mask is None else (query, key, value, mask)
        return A.attention(*args, is_causal=bool(is_causal),
                           scale=None if scale is None else float(scale))
    factor = 1.0 / math.sqrt(e) if scale is None else float(scale)
    scores = F.matmul(query, F.transpose(key, -2, -1)) * factor
    if is_causal:
        attn_mask = Tensor._make(np.tril(np.ones((lq, s), dtype=bool)))
    scores, row_ok = _apply_mask(scores, attn_mask)
    weights = _masked_softmax(scores, row_ok)
    if dropout_p > 0.0:
        weights = _dropout(weights, dropout_p, True)
    return F.matmul(weights, value)


def _float_mask(mask: Any, dtype: np.dtype, what: str) -> Any:
    """PyTorch's canonical mask for nn.MultiheadAttention: bool True means *masked out*
    (-inf); a float mask is added as it is."""
    if mask is None:
        return None
    m = _data(mask)
    if m.dtype == np.bool_:
        return Tensor._make(np.where(m, -np.inf, 0.0).astype(dtype))
    if m.dtype.kind != "f":
        raise ValueError(f"multi_head_attention_forward: {what} must be bool or float, got "
                         f"{m.dtype}")
    return mask if isinstance(mask, Tensor) else Tensor._make(m.astype(dtype))


def _pad_last(mask: Any, n: int) -> Any:
    if mask is None:
        return None
    return F.pad(mask, [0, n])


def _check_mha_shapes(query: Any, key: Any, value: Any) -> None:
    """Query ``(L, N, E)`` (or unbatched ``(L, E)``); key and value of the same rank, with
    the same length S and, batched, the query's batch size N."""
    qs, ks, vs = shape_of(query), shape_of(key), shape_of(value)
    op = "multi_head_attention_forward"
    if len(qs) not in (2, 3):
        raise ValueError(f"{op}: query should be unbatched 2-D (L, E) or batched 3-D "
                         f"(L, N, E), got shape {qs}")
    if len(ks) != len(qs) or len(vs) != len(qs):
        raise ValueError(f"{op}: key {ks} and value {vs} must have the same number of dims "
                         f"as query {qs}")
    if ks[:-1] != vs[:-1]:
        raise ValueError(f"{op}: key {ks} and value {vs} must agree in all dims but the last "
                         f"(length S and batch)")
    if len(qs) == 3 and ks[1] != qs[1]:
        raise ValueError(f"{op}: query {qs} and key {ks} have different batch sizes (dim 1; "
                         f"dim 0 with batch_first=True)")


def multi_head_attention_forward(
        query: Tensor, key: Tensor, value: Tensor, embed_dim_to_check: int, num_heads: int,
        in_proj_weight: Tensor | None, in_proj_bias: Tensor | None, bias_k: Tensor | None,
        bias_v: Tensor | None, add_zero_attn: bool, dropout_p: float, out_proj_weight: Tensor,
        out_proj_bias: Tensor | None, training: bool = True,
        key_padding_mask: Tensor | None = None, need_weights: bool = True,
        attn_mask: Tensor | None = None, use_separate_proj_weight: bool = False,
        q_proj_weight: Tensor | None = None, k_proj_weight: Tensor | None = None,
        v_proj_weight: Tensor | None = None, static_k: Tensor | None = None,
        static_v: Tensor | None = None, average_attn_weights: bool = True,
        is_causal: bool = False) -> tuple[Tensor, Tensor | None]:
    """Multi-head attention on time-first inputs ``(L, N, E)`` (or unbatched ``(L, E)``), as
    ``torch.nn.functional.multi_head_attention_forward``.

    Each head h: softmax(q_h k_hᵀ/√d + mask) v_h with q = x W_qᵀ + b_q (likewise k, v); the
    heads are concatenated and projected by ``out_proj``. Masks: ``key_padding_mask`` (N, S)
    and ``attn_mask`` (L, S) or (N·H, L, S); bool True means "do not attend", float is added.
    Returns ``(output, weights)``: weights (N, L, S) averaged over heads (or (N, H, L, S)),
    or None when ``need_weights`` is False.
    """
    _check_mha_shapes(query, key, value)
    batched = ndim_of(query) == 3
    if not batched:
        query, key, value = (F.unsqueeze(t, 1) for t in (query, key, value))
        if key_padding_mask is not None:
            key_padding_mask = F.unsqueeze(key_padding_mask, 0)
    tgt_len, bsz, embed_dim = shape_of(query)
    src_len = shape_of(key)[0]
    if embed_dim != embed_dim_to_check:
        raise ValueError(f"multi_head_attention_forward: was expecting embedding dimension of "
                         f"{embed_dim_to_check}, but got {embed_dim}")
    if embed_dim % num_heads:
        raise ValueError(f"multi_head_attention_forward: embed_dim {embed_dim} not divisible "
                         f"by num_heads {num_heads}")
    head_dim = embed_dim // num_heads
    dtype = query.dtype
    if is_causal and attn_mask is None:
        attn_mask = Tensor._make(np.triu(np.ones((tgt_len, src_len), dtype=bool), 1))
    # in-projection
    if use_separate_proj_weight:
        if q_proj_weight is None or k_proj_weight is None or v_proj_weight is None:
            raise ValueError("multi_head_attention_forward: use_separate_proj_weight needs "
                             "q_proj_weight, k_proj_weight and v_proj_weight")
        bq = bk = bv = None
        if in_proj_bias is not None:
            bq, bk, bv = F.chunk(in_proj_bias, 3)
        q = linear(query, q_proj_weight, bq)
        k = linear(key, k_proj_weight, bk)
        v = linear(value, v_proj_weight, bv)
    else:
        assert in_proj_weight is not None
        if query is key and key is value:  # self-attention: one matmul for q, k and v
            q, k, v = F.chunk(linear(query, in_proj_weight, in_proj_bias), 3, -1)
        else:
            wq, wk, wv = F.chunk(in_proj_weight, 3)
            bq = bk = bv = None
            if in_proj_bias is not None:
                bq, bk, bv = F.chunk(in_proj_bias, 3)
            q, k, v = linear(query, wq, bq), linear(key, wk, bk), linear(value, wv, bv)
    mask = _float_mask(attn_mask, dtype, "attn_mask")
    if mask is not None:
        if ndim_of(mask) == 2:
            if shape_of(mask) != (tgt_len, src_len):
                raise ValueError(f"multi_head_attention_forward: the 2-D attn_mask should be "
                                 f"{(tgt_len, src_len)}, got {shape_of(mask)}")
            mask = F.unsqueeze(mask, 0)
        elif shape_of(mask) != (bsz * num_heads, tgt_len, src_len):
            raise ValueError(f"multi_head_attention_forward: the 3-D attn_mask should be "
                             f"{(bsz * num_heads, tgt_len, src_len)}, got {shape_of(mask)}")
    kpm = _float_mask(key_padding_mask, dtype, "key_padding_mask")
    if bias_k is not None and bias_v is not None:
        k = F.cat([k, F.expand(bias_k, 1, bsz, embed_dim)], 0)
        v = F.cat([v, F.expand(bias_v, 1, bsz, embed_dim)], 0)
        mask, kpm = _pad_last(mask, 1), _pad_last(kpm, 1)
    # heads: (L, N, E) -> (N·H, L, d)
    q = F.transpose(F.reshape(q, (tgt_len, bsz * num_heads, head_dim)), 0, 1)
    k = F.transpose(F.reshape(k, (shape_of(k)[0], bsz * num_heads, head_dim)), 0, 1) \
        if static_k is None else static_k
    v = F.transpose(F.reshape(v, (shape_of(v)[0], bsz * num_heads, head_dim)), 0, 1) \
        if static_v is None else static_v
    if add_zero_attn:
        z = Tensor._make(np.zeros((bsz * num_heads, 1, head_dim), dtype=dtype))
        k, v = F.cat([k, z], 1), F.cat([v, z], 1)
        mask, kpm = _pad_last(mask, 1), _pad_last(kpm, 1)
    s = shape_of(k)[1]
    if kpm is not None:
        if shape_of(kpm) != (bsz, s):
            raise ValueError(f"multi_head_attention_forward: key_padding_mask should be "
                             f"{(bsz, s)}, got {shape_of(kpm)}")
        kpm = F.reshape(F.expand(F.reshape(kpm, (bsz, 1, 1, s)), bsz, num_heads, 1, s),
                        (bsz * num_heads, 1, s))
        mask = kpm if mask is None else mask + kpm
    if not need_weights and not (dropout_p > 0.0 and training):  # the fused op
        out = A.attention(q, k, v, is_causal=False) if mask is None else A.attention(
            q, k, v, mask, is_causal=False)
        out = F.reshape(F.transpose(out, 0, 1), (tgt_len * bsz, embed_dim))
        out = F.reshape(linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, embed_dim))
        return (out if batched else F.squeeze(out, 1)), None
    scores = F.matmul(q * (1.0 / math.sqrt(head_dim)), F.transpose(k, 1, 2))
    if mask is not None:
        scores = scores + mask
    weights = F.softmax(scores, -1)
    if dropout_p > 0.0 and training:
        weights = _dropout(weights, dropout_p, True)
    out = F.matmul(weights, v)  # (N·H, L, d)
    out = F.reshape(F.transpose(out, 0, 1), (tgt_len * bsz, embed_dim))
    out = F.reshape(linear(out, out_proj_weight, out_proj_bias), (tgt_len, bsz, embed_dim))
    if not batched:
        out = F.squeeze(out, 1)
    if not need_weights:
        return out, None
    w = F.reshape(weights, (bsz, num_heads, tgt_len, s))
    if average_attn_weights:
        w = F.mean(w, 1)
    if not batched:
        w = F.squeeze(w, 0)
    return out, w
