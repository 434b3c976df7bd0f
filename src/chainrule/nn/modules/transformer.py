"""``Transformer``, ``TransformerEncoder(Layer)`` and ``TransformerDecoder(Layer)``, with
PyTorch's arguments, defaults, masks and state-dict keys (``layers.0.self_attn.in_proj_weight``,
``layers.0.linear1.weight``, ``norm``, ...), so a ``torch.nn.Transformer``'s state dict loads
as it is.

>>> import chainrule as cr
>>> layer = cr.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16,
...                                       batch_first=True)
>>> encoder = cr.nn.TransformerEncoder(layer, num_layers=2)
>>> x = cr.randn(3, 5, 8)  # (batch, sequence, features)
>>> mask = cr.nn.Transformer.generate_square_subsequent_mask(5)
>>> encoder(x, mask=mask, is_causal=True).shape
(3, 5, 8)
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Callable
from typing import Any, TypeAlias, overload

import numpy as np

from ... import _dtypes
from ... import functional as CF
from ...engine import STATE
from ...tensor import Tensor
from .. import functional as F
from .. import init
from .activation import GELU, ReLU
from .attention import MultiheadAttention
from .container import ModuleList
from .dropout import Dropout
from .linear import Linear
from .module import Module
from .normalization import LayerNorm

__all__ = ["Transformer", "TransformerEncoder", "TransformerDecoder",
           "TransformerEncoderLayer", "TransformerDecoderLayer"]

Activation: TypeAlias = str | Callable[[Tensor], Tensor]


def _generate_square_subsequent_mask(sz: int, device: Any = None, dtype: Any = None) -> Tensor:
    d = _dtypes.get_default_dtype() if dtype is None else _dtypes.as_dtype(dtype)
    return Tensor._make(np.triu(np.full((sz, sz), -np.inf, dtype=d), 1))


def _get_activation_fn(activation: str, who: str) -> Callable[[Tensor], Tensor]:
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(f"{who}: activation should be 'relu' or 'gelu' (or a callable), "
                     f"not {activation!r}")


def _checked_layer_args(who: str, d_model: int, nhead: int,
                        activation: Activation) -> Callable[[Tensor], Tensor]:
    """A layer's activation as a function, after checking it and the head split."""
    if nhead <= 0 or d_model % nhead:
        raise ValueError(f"{who}: d_model ({d_model}) must be divisible by nhead ({nhead})")
    if isinstance(activation, str):
        return _get_activation_fn(activation, who)
    if not callable(activation):
        raise TypeError(f"{who}: activation should be 'relu', 'gelu' or a callable, got "
                        f"{type(activation).__name__}")
    return activation


def _get_clones(module: Module, n: int) -> ModuleList:
    # Independent copies that start equal to ``module`` (PyTorch's _get_clones).
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _as_tensor(mask: Any) -> Tensor:
    return mask if isinstance(mask, Tensor) else Tensor._make(np.asarray(mask))


def _mask_dtype(mask: Any) -> np.dtype | None:
    return None if mask is None else _as_tensor(mask).dtype


@overload
def _check_mask_dtype(mask: None, name: str, who: str) -> None: ...


@overload
def _check_mask_dtype(mask: Any, name: str, who: str) -> Tensor: ...


def _check_mask_dtype(mask: Any, name: str, who: str) -> Tensor | None:
    """``mask`` as a Tensor (None stays None), if it is bool or floating."""
    if mask is None:
        return None
    m = _as_tensor(mask)
    if m.dtype != np.bool_ and m.dtype.kind != "f":
        raise TypeError(f"{who}: {name} must be bool (True = masked out) or floating (added "
                        f"to the attention scores), got {m.dtype}")
    return m


def _canonical_mask(mask: Any, name: str, other: Any, other_name: str, dtype: np.dtype,
                    who: str, check_other: bool = True) -> Tensor | None:
    """PyTorch's ``F._canonical_mask``: a bool mask (True = masked out) becomes a float mask
    of ``dtype`` (-inf / 0); a float mask stays as it is (keeping its gradient). A bool mask
    beside a float one is deprecated in PyTorch (a warning), and works."""
    if mask is None:
        return None
    m = _check_mask_dtype(mask, name, who)
    if check_other:
        _warn_mismatch(m, name, other, other_name, stacklevel=5)
    if m.dtype == np.bool_:
        return Tensor._make(np.where(m.data, -np.inf, 0.0).astype(dtype))
    return m


def _warn_mismatch(mask: Any, name: str, other: Any, other_name: str,
                   stacklevel: int = 4) -> None:
    """PyTorch's deprecation warning for a bool mask beside a float one (the default
    ``stacklevel`` points at the code that called the module, from its ``forward``)."""
    other_dtype = _mask_dtype(other)
    if mask is not None and other_dtype is not None and _mask_dtype(mask) != other_dtype:
        warnings.warn(f"Support for mismatched {name} and {other_name} is deprecated. Use "
                      "same type for both instead.", UserWarning, stacklevel=stacklevel)


def _detect_is_causal_mask(mask: Any, is_causal: bool | None = None,
                           size: int | None = None) -> bool:
    """``is_causal`` if given; else (None) whether ``mask`` is exactly the (size, size) causal
    mask (float -inf above the diagonal, or bool True there), as PyTorch checks."""
    make_causal = is_causal is True
    if is_causal is None and mask is not None:
        m = _as_tensor(mask).data
        sz = size if size is not None else m.shape[-2]
        upper = np.triu(np.ones((sz, sz), dtype=bool), 1)
        causal = upper if m.dtype == np.bool_ else np.where(upper, -np.inf, 0.0)
        make_causal = m.shape == (sz, sz) and bool((m == causal).all())
    return make_causal


def _check_input(who: str, name: str, x: Any, d_model: int, batch_first: bool) -> None:
    shape = tuple(x.shape)
    layout = "(N, L, E)" if batch_first else "(L, N, E)"
    if len(shape) not in (2, 3):
        raise ValueError(f"{who}: {name} should be unbatched (L, E) or batched {layout} "
                         f"(batch_first={batch_first}), got shape {shape}")
    if shape[-1] != d_model:
        raise ValueError(f"{who}: the last dim of {name} {shape} should be d_model={d_model}")


def _batch_len(x: Any, batch_first: bool) -> tuple[int | None, int]:
    """(batch size or None when unbatched, sequence length)."""
    shape = tuple(x.shape)
    if len(shape) == 2:
        return None, shape[0]
    return (shape[0], shape[1]) if batch_first else (shape[1], shape[0])


def _check_masks(who: str, nhead: int, n: int | None, l: int, s: int, attn_mask: Any,
                 mask_name: str, kpm: Any, kpm_name: str) -> None:
    """An attention mask must be (L, S) or (N·nhead, L, S); a key padding mask (N, S), or
    (S,) for unbatched input."""
    if attn_mask is not None:
        shape = tuple(attn_mask.shape)
        nh = (1 if n is None else n) * nhead
        if shape not in ((l, s), (nh, l, s)):
            raise ValueError(f"{who}: {mask_name} should have shape (L, S) = {(l, s)} or "
                             f"(N·nhead, L, S) = {(nh, l, s)}, got {shape}")
    if kpm is not None:
        shape = tuple(kpm.shape)
        want = (s,) if n is None else (n, s)
        if shape != want:
            raise ValueError(f"{who}: {kpm_name} should have shape "
                             f"{'(S,)' if n is None else '(N, S)'} = {want}, got {shape}")


def _attend(attn: MultiheadAttention, x: Tensor, mem: Tensor, attn_mask: Any, kpm: Any,
            is_causal: bool, who: str, mask_name: str) -> Tensor:
    """``attn(x, mem, mem)`` with PyTorch's reading of ``is_causal``: a hint that needs the
    mask; without a key padding mask the attention is then exactly causal (PyTorch hands
    ``is_causal`` alone to its kernel); with one, the given mask is used."""
    if is_causal:
        if attn_mask is None:
            raise ValueError(f"{who}: is_causal=True is a hint that {mask_name} is the causal "
                             f"mask; pass the mask as well (PyTorch requires it), e.g. "
                             f"Transformer.generate_square_subsequent_mask(L)")
        if kpm is None:
            attn_mask = None
        else:
            is_causal = False
    out, _ = attn(x, mem, mem, key_padding_mask=kpm, need_weights=False, attn_mask=attn_mask,
                  is_causal=is_causal)
    return out


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and a
    ``LayerNorm``: ``x = norm1(x + sa(x)); x = norm2(x + ff(x))``, or with ``norm_first``
    ``x = x + sa(norm1(x)); x = x + ff(norm2(x))``, where
    ``ff(x) = linear2(dropout(activation(linear1(x))))``.

    ``forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False)``; ``src`` is
    ``(S, N, E)``, ``(N, S, E)`` with ``batch_first``, or unbatched ``(S, E)``. Bool masks:
    True = may not attend; float masks are added to the scores. ``is_causal`` is a hint that
    ``src_mask`` is the causal mask (as in PyTorch, the mask must be given too).

    >>> import chainrule as cr
    >>> layer = cr.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    >>> [k for k in layer.state_dict()][:3]
    ['self_attn.in_proj_weight', 'self_attn.in_proj_bias', 'self_attn.out_proj.weight']
    >>> layer(cr.randn(5, 3, 8)).shape
    (5, 3, 8)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Activation = F.relu,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        activation = _checked_layer_args(type(self).__name__, d_model, nhead, activation)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias,
                                            batch_first=batch_first, dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        # PyTorch's flag (1 relu, 2 gelu): it decides whether TransformerEncoder may take
        # its nested-tensor path, whose only visible effect is emulated there.
        if activation is F.relu or activation is CF.relu or isinstance(activation, ReLU):
            self.activation_relu_or_gelu = 1
        elif activation is F.gelu or activation is CF.gelu or isinstance(activation, GELU):
            self.activation_relu_or_gelu = 2
        else:
            self.activation_relu_or_gelu = 0
        self.activation = activation

    def forward(self, src: Tensor, src_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool = False) -> Tensor:
        who = type(self).__name__
        attn = self.self_attn
        _check_input(who, "src", src, attn.embed_dim, attn.batch_first)
        n, s = _batch_len(src, attn.batch_first)
        kpm = _canonical_mask(src_key_padding_mask, "src_key_padding_mask", src_mask,
                              "src_mask", src.dtype, who)
        mask = _canonical_mask(src_mask, "src_mask", None, "", src.dtype, who,
                               check_other=False)
        _check_masks(who, attn.num_heads, n, s, s, mask, "src_mask", kpm,
                     "src_key_padding_mask")
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), mask, kpm, is_causal)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, mask, kpm, is_causal))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask: Tensor | None, kpm: Tensor | None,
                  is_causal: bool) -> Tensor:
        out = _attend(self.self_attn, x, x, attn_mask, kpm, is_causal, type(self).__name__,
                      "src_mask")
        return self.dropout1(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Self-attention over ``tgt``, attention to ``memory`` (the encoder's output), then a
    feed-forward block; each with a residual connection and a ``LayerNorm`` (``norm1``,
    ``norm2``, ``norm3``; before each block with ``norm_first``).

    ``forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False)``.

    >>> import chainrule as cr
    >>> layer = cr.nn.TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    >>> layer(cr.randn(4, 3, 8), cr.randn(6, 3, 8)).shape
    (4, 3, 8)
    """

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Activation = F.relu,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        activation = _checked_layer_args(type(self).__name__, d_model, nhead, activation)
        self.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                            batch_first=batch_first, bias=bias, dtype=dtype)
        self.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout,
                                                 batch_first=batch_first, bias=bias,
                                                 dtype=dtype)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = activation

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False) -> Tensor:
        who = type(self).__name__
        attn = self.self_attn
        _check_input(who, "tgt", tgt, attn.embed_dim, attn.batch_first)
        _check_input(who, "memory", memory, attn.embed_dim, attn.batch_first)
        if memory.ndim != tgt.ndim:
            raise ValueError(f"{who}: tgt {tuple(tgt.shape)} and memory "
                             f"{tuple(memory.shape)} must both be batched or both unbatched")
        n, t = _batch_len(tgt, attn.batch_first)
        nm, s = _batch_len(memory, attn.batch_first)
        if n != nm:
            raise ValueError(f"{who}: tgt {tuple(tgt.shape)} and memory {tuple(memory.shape)} "
                             f"have different batch sizes {n} and {nm} "
                             f"(batch_first={attn.batch_first})")
        # (bool masks stay bool: MultiheadAttention converts them, and warns as PyTorch's)
        tgt_mask = _check_mask_dtype(tgt_mask, "tgt_mask", who)
        memory_mask = _check_mask_dtype(memory_mask, "memory_mask", who)
        tgt_key_padding_mask = _check_mask_dtype(tgt_key_padding_mask, "tgt_key_padding_mask",
                                                 who)
        memory_key_padding_mask = _check_mask_dtype(memory_key_padding_mask,
                                                    "memory_key_padding_mask", who)
        # PyTorch's MultiheadAttention warns about a bool mask beside a float one.
        _warn_mismatch(tgt_key_padding_mask, "key_padding_mask", tgt_mask, "attn_mask")
        _warn_mismatch(memory_key_padding_mask, "key_padding_mask", memory_mask, "attn_mask")
        _check_masks(who, attn.num_heads, n, t, t, tgt_mask, "tgt_mask", tgt_key_padding_mask,
                     "tgt_key_padding_mask")
        _check_masks(who, attn.num_heads, n, t, s, memory_mask, "memory_mask",
                     memory_key_padding_mask, "memory_key_padding_mask")
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask,
                                    memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask,
                                              tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask,
                                               memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask: Tensor | None, kpm: Tensor | None,
                  is_causal: bool) -> Tensor:
        out = _attend(self.self_attn, x, x, attn_mask, kpm, is_causal, type(self).__name__,
                      "tgt_mask")
        return self.dropout1(out)

    def _mha_block(self, x: Tensor, mem: Tensor, attn_mask: Tensor | None, kpm: Tensor | None,
                   is_causal: bool) -> Tensor:
        out = _attend(self.multihead_attn, x, mem, attn_mask, kpm, is_causal,
                      type(self).__name__, "memory_mask")
        return self.dropout2(out)

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


def _first_layer(stack: TransformerEncoder | TransformerDecoder) -> Module:
    """The stack's first layer, which tells its layout (``batch_first``, ``d_model``)."""
    layers = stack.layers
    if len(layers) == 0:
        raise ValueError(f"{type(stack).__name__}: has no layers (num_layers=0); build it "
                         f"with num_layers >= 1")
    return layers[0]


def _nested_path_ok(layer: Module) -> bool:
    """PyTorch's conditions (TransformerEncoder.__init__) for its nested-tensor fast path."""
    if not isinstance(layer, TransformerEncoderLayer):
        return False
    attn = layer.self_attn
    return (not layer.norm_first and attn.batch_first and attn._qkv_same_embed_dim
            and attn.in_proj_bias is not None and bool(layer.activation_relu_or_gelu)
            and layer.norm1.eps == layer.norm2.eps and attn.num_heads % 2 == 0)


def _left_aligned(padded: np.ndarray) -> bool:
    """Whether each row is some kept positions followed only by padded ones."""
    return bool((np.diff(padded.astype(np.int8), axis=-1) >= 0).all())


def _first_kept(padded: np.ndarray) -> np.ndarray:
    """The padding PyTorch's nested tensor assumes without ``mask_check``: each row keeps its
    first k positions, k being how many the mask keeps (wherever they are)."""
    kept = (~padded).sum(-1, keepdims=True)
    return np.arange(padded.shape[-1]) >= kept


class TransformerEncoder(Module):
    """``num_layers`` deep copies of ``encoder_layer`` applied in turn, then ``norm`` (if
    given). ``forward(src, mask=None, src_key_padding_mask=None, is_causal=None)``; with
    ``is_causal=None`` a ``mask`` equal to the causal mask is detected, as in PyTorch.

    PyTorch's nested-tensor path (``enable_nested_tensor``, evaluation mode, no gradient
    recorded, a key padding mask and no ``mask``) drops the padded positions and returns zeros
    there (before ``norm``); that is reproduced, so outputs match PyTorch's. The key padding
    mask must then be left-aligned (kept positions first), else the path is not taken; with
    ``mask_check=False`` that is not checked, and each row keeps its first k positions, k
    being how many the mask keeps, as in PyTorch.

    >>> import chainrule as cr
    >>> layer = cr.nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    >>> encoder = cr.nn.TransformerEncoder(layer, num_layers=2, norm=cr.nn.LayerNorm(8))
    >>> [k for k in encoder.state_dict() if k.endswith("linear1.weight")]
    ['layers.0.linear1.weight', 'layers.1.linear1.weight']
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm: Module | None = None, enable_nested_tensor: bool = True,
                 mask_check: bool = True) -> None:
        super().__init__()
        if not isinstance(encoder_layer, Module):
            raise TypeError(f"TransformerEncoder: encoder_layer should be a Module, got "
                            f"{type(encoder_layer).__name__}")
        self.layers = _get_clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.use_nested_tensor = enable_nested_tensor and _nested_path_ok(encoder_layer)
        self.mask_check = mask_check

    def forward(self, src: Tensor, mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                is_causal: bool | None = None) -> Tensor:
        who = type(self).__name__
        attn = _first_layer(self).self_attn
        batch_first = attn.batch_first
        _check_input(who, "src", src, attn.embed_dim, batch_first)
        kpm = _canonical_mask(src_key_padding_mask, "src_key_padding_mask", mask, "mask",
                              src.dtype, who)
        mask = _canonical_mask(mask, "mask", None, "", src.dtype, who, check_other=False)
        padded = self._nested_padding(src, mask, kpm)
        if padded is not None:
            # the nested tensor drops the padded positions: a float mask's other values are
            # not added to the scores, as they would be with the mask
            kpm = Tensor._make(np.where(padded, -np.inf, 0.0).astype(src.dtype))
        _, seq_len = _batch_len(src, batch_first)
        is_causal = _detect_is_causal_mask(mask, is_causal, seq_len)
        output = src
        for mod in self.layers:
            output = mod(output, src_mask=mask, is_causal=is_causal,
                         src_key_padding_mask=kpm)
        if padded is not None:
            keep = Tensor._make(~padded[..., None])
            output = CF.where(keep, output, np.zeros((), dtype=output.dtype))
        if self.norm is not None:
            output = self.norm(output)
        return output

    def _nested_padding(self, src: Tensor, mask: Tensor | None,
                        kpm: Tensor | None) -> np.ndarray | None:
        """The (N, S) padded positions when PyTorch would take its nested-tensor path (which
        zeroes them), else None."""
        first = self.layers[0]
        if (not self.use_nested_tensor or first.training or src.ndim != 3 or kpm is None
                or mask is not None):
            return None
        if STATE.grad_enabled and (src.requires_grad or any(
                p.requires_grad for p in first.parameters())):
            return None
        padded = kpm.data != 0  # PyTorch keeps the positions where the float mask is 0
        if _left_aligned(padded):
            return padded
        return None if self.mask_check else _first_kept(padded)


class TransformerDecoder(Module):
    """``num_layers`` deep copies of ``decoder_layer`` applied in turn to ``tgt`` (each
    attending to ``memory``), then ``norm`` (if given). ``forward(tgt, memory, tgt_mask=None,
    memory_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    tgt_is_causal=None, memory_is_causal=False)``.

    >>> import chainrule as cr
    >>> layer = cr.nn.TransformerDecoderLayer(d_model=8, nhead=2, dim_feedforward=16)
    >>> decoder = cr.nn.TransformerDecoder(layer, num_layers=2)
    >>> decoder(cr.randn(4, 3, 8), cr.randn(6, 3, 8)).shape
    (4, 3, 8)
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm: Module | None = None) -> None:
        super().__init__()
        if not isinstance(decoder_layer, Module):
            raise TypeError(f"TransformerDecoder: decoder_layer should be a Module, got "
                            f"{type(decoder_layer).__name__}")
        self.layers = _get_clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt: Tensor, memory: Tensor, tgt_mask: Tensor | None = None,
                memory_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                tgt_is_causal: bool | None = None, memory_is_causal: bool = False) -> Tensor:
        attn = _first_layer(self).self_attn
        _check_input(type(self).__name__, "tgt", tgt, attn.embed_dim, attn.batch_first)
        _, seq_len = _batch_len(tgt, attn.batch_first)
        tgt_is_causal = _detect_is_causal_mask(tgt_mask, tgt_is_causal, seq_len)
        output = tgt
        for mod in self.layers:
            output = mod(output, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                         tgt_key_padding_mask=tgt_key_padding_mask,
                         memory_key_padding_mask=memory_key_padding_mask,
                         tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)
        if self.norm is not None:
            output = self.norm(output)
        return output


class Transformer(Module):
    """The encoder-decoder Transformer of "Attention Is All You Need": a
    ``TransformerEncoder`` (``num_encoder_layers`` layers and a final ``LayerNorm``) over
    ``src`` and a ``TransformerDecoder`` over ``tgt`` attending to its output. Every weight
    matrix (every parameter with more than one dim) is re-initialised with
    ``xavier_uniform_``, as PyTorch does.

    ``forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False)`` returns ``tgt``'s shape.

    >>> import chainrule as cr
    >>> model = cr.nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1,
    ...                           num_decoder_layers=1, dim_feedforward=16)
    >>> src, tgt = cr.randn(6, 3, 8), cr.randn(4, 3, 8)
    >>> mask = cr.nn.Transformer.generate_square_subsequent_mask(4)
    >>> model(src, tgt, tgt_mask=mask).shape
    (4, 3, 8)
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: Activation = F.relu,
                 custom_encoder: Module | None = None, custom_decoder: Module | None = None,
                 layer_norm_eps: float = 1e-5, batch_first: bool = False,
                 norm_first: bool = False, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            encoder_layer = TransformerEncoderLayer(
                d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                batch_first, norm_first, bias, dtype=dtype)
            encoder_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.encoder = TransformerEncoder(encoder_layer, num_encoder_layers, encoder_norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            decoder_layer = TransformerDecoderLayer(
                d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps,
                batch_first, norm_first, bias, dtype=dtype)
            decoder_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
            self.decoder = TransformerDecoder(decoder_layer, num_decoder_layers, decoder_norm)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src: Tensor, tgt: Tensor, src_mask: Tensor | None = None,
                tgt_mask: Tensor | None = None, memory_mask: Tensor | None = None,
                src_key_padding_mask: Tensor | None = None,
                tgt_key_padding_mask: Tensor | None = None,
                memory_key_padding_mask: Tensor | None = None,
                src_is_causal: bool | None = None, tgt_is_causal: bool | None = None,
                memory_is_causal: bool = False) -> Tensor:
        who = type(self).__name__
        _check_input(who, "src", src, self.d_model, self.batch_first)
        _check_input(who, "tgt", tgt, self.d_model, self.batch_first)
        if src.ndim != tgt.ndim:
            raise ValueError(f"{who}: src {tuple(src.shape)} and tgt {tuple(tgt.shape)} must "
                             f"both be batched (3-D) or both unbatched (2-D)")
        if src.ndim == 3:
            b = 0 if self.batch_first else 1
            if src.shape[b] != tgt.shape[b]:
                raise ValueError(f"{who}: the batch sizes of src {tuple(src.shape)} and tgt "
                                 f"{tuple(tgt.shape)} must be equal (dim {b}, "
                                 f"batch_first={self.batch_first})")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask,
                              is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask,
                            tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask,
                            tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device: Any = None,
                                        dtype: Any = None) -> Tensor:
        """The (sz, sz) causal mask: -inf above the diagonal (position i may not attend to
        j > i), 0 elsewhere; of the default dtype unless ``dtype`` is given.

        >>> import chainrule as cr
        >>> cr.nn.Transformer.generate_square_subsequent_mask(3)
        tensor([[0., -inf, -inf],
                [0., 0., -inf],
                [0., 0., 0.]])
        """
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self) -> None:
        """PyTorch's: xavier_uniform_ on every parameter with more than one dim."""
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)
