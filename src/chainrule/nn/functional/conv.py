"""Convolutions with PyTorch's signatures: conv1d/2d/3d and conv_transpose1d/2d/3d.

Each is one primitive op (``chainrule/ops/conv.py``): the forward is one GEMM over an im2col
matrix, the backward a transposed convolution and one more GEMM. Inputs may be batched
``(N, C, *L)`` or unbatched ``(C, *L)``.

>>> import chainrule as cr
>>> x = cr.randn(2, 3, 8, 8)
>>> w = cr.randn(4, 3, 3, 3)
>>> cr.nn.functional.conv2d(x, w, padding="same").shape
(2, 4, 8, 8)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import functional as F
from ...ops import conv as C
from ...ops._util import ndim_of, shape_of
from ...tensor import Tensor

__all__ = ["conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "pad", "pad_nd"]

_IntOr = int | Sequence[int]


def _tuple(v: Any, nd: int, what: str, op: str) -> tuple[int, ...]:
    if isinstance(v, (int, np.integer)):
        return (int(v),) * nd
    t = tuple(int(a) for a in v)
    if len(t) == 1 and nd > 1:
        t = t * nd
    if len(t) != nd:
        raise ValueError(f"{op}: {what} must be an int or {nd} ints, got {v!r}")
    return t


def _batched(input: Any, nd: int, op: str) -> tuple[Any, bool]:
    """``(input with a batch dim, whether one was added)``."""
    n = ndim_of(input)
    if n == nd + 2:
        return input, False
    if n == nd + 1:
        return F.unsqueeze(input, 0), True
    raise ValueError(f"{op}: expected a {nd + 1}-D (unbatched) or {nd + 2}-D (batched) input, "
                     f"got shape {shape_of(input)}")


def pad_nd(input: Any, pads: Sequence[tuple[int, int]], mode: str = "constant",
           value: float = 0.0) -> Tensor:
    """Pad the last ``len(pads)`` dims by ``(before, after)`` each, with ``mode`` one of
    'constant' ('zeros'), 'reflect', 'replicate' or 'circular' (gathers, so differentiable)."""
    if mode in ("constant", "zeros"):
        flat = [v for lo, hi in reversed(list(pads)) for v in (lo, hi)]
        return F.pad(input, flat, value=value)
    out = input
    nd = len(pads)
    if mode != "circular":
        # PyTorch refuses a negative size, and a result empty in every padded dim (not one
        # empty in some of them only)
        sizes = [n + lo + hi for n, (lo, hi) in zip(shape_of(input)[ndim_of(input) - nd:], pads)]
        empty = all(size <= 0 for size in sizes)
        bad = next((k for k, size in enumerate(sizes) if size < 0 or empty), None)
        if bad is not None:
            (lo, hi), size = pads[bad], sizes[bad]
            n = size - lo - hi
            raise ValueError(
                f"pad: {mode} padding ({lo}, {hi}) removes more than the {n} elements of a "
                f"dimension (its size would be {size})" if size < 0 else
                f"pad: {mode} padding ({lo}, {hi}) leaves nothing of a dimension of size {n}"
                + (", nor do the other padded dims keep an element (one of them must, as in "
                   "PyTorch)" if nd > 1 else ""))
    for k, (lo, hi) in enumerate(pads):
        if not lo and not hi:
            continue
        dim = ndim_of(out) - nd + k
        n = shape_of(out)[dim]
        idx = np.arange(-lo, n + hi)
        if mode == "reflect":
            if lo >= n or hi >= n:
                raise ValueError(f"pad: reflect padding ({lo}, {hi}) must be smaller than the "
                                 f"dimension's size {n}")
            period = 2 * (n - 1) if n > 1 else 1
            idx = np.abs(idx) % period
            idx = np.where(idx >= n, period - idx, idx)
        elif mode == "replicate":
            idx = np.clip(idx, 0, n - 1)
        elif mode == "circular":
            # a negative pad crops first, and the wrap reads the cropped part (as PyTorch)
            start, m = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
            if m == 0 and lo <= 0 and hi <= 0:  # cropped to nothing, nothing to wrap
                idx = np.arange(0)
            elif m <= 0 or max(lo, 0) > m or max(hi, 0) > m:
                raise ValueError(f"pad: circular padding ({lo}, {hi}) can wrap at most once "
                                 f"around a dimension of size {n}")
            idx = start + np.arange(-max(lo, 0), m + max(hi, 0)) % m
        else:
            raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or "
                             f"'circular', got {mode!r}")
        out = F.index_select(out, dim, Tensor._make(idx.astype(np.int64)))
    return out


def pad(input: Any, pad: Sequence[int], mode: str = "constant",
        value: float | None = None) -> Tensor:
    """``torch.nn.functional.pad``: ``pad = (last_left, last_right, prev_left, ...)``, with
    ``mode`` 'constant' (filled with ``value``, default 0), 'reflect', 'replicate' or
    'circular'."""
    if mode == "constant":
        return F.pad(input, pad, value=0.0 if value is None else value)
    if mode not in ("reflect", "replicate", "circular"):
        raise ValueError(f"pad: mode must be 'constant', 'reflect', 'replicate' or "
                         f"'circular', got {mode!r}")
    n = len(pad)
    if n % 2 or n // 2 >= max(ndim_of(input), 1):
        raise ValueError(f"pad: {mode} padding {tuple(pad)} must have an even length and pad "
                         f"fewer dims than the input's {ndim_of(input)} (shape "
                         f"{shape_of(input)}); the leading dim is a batch or channel dim")
    if value:
        raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
    pairs = [(int(pad[i]), int(pad[i + 1])) for i in range(0, n, 2)][::-1]
    return pad_nd(input, pairs, mode)


def _check_geometry(op: str, k: tuple, s: tuple, p: tuple, d: tuple) -> None:
    """Kernel, stride and dilation must be positive, padding non-negative."""
    if min(k + s + d) >= 1 and min(p) >= 0:  # the common case, checked at once
        return
    for what, vals, least in (("kernel size", k, 1), ("stride", s, 1), ("dilation", d, 1),
                              ("padding", p, 0)):
        if any(v < least for v in vals):
            bound = "positive" if least else "non-negative"
            raise ValueError(f"{op}: {what} must be {bound}, got {tuple(vals)}")


def _same_padding(k: tuple, d: tuple, s: tuple, op: str) -> tuple[tuple, tuple]:
    if any(v != 1 for v in s):
        raise ValueError(f"{op}: padding='same' is not supported for strided convolutions "
                         f"(stride={s}); give the padding explicitly")
    total = tuple(dd * (kk - 1) for kk, dd in zip(k, d))
    lo = tuple(t // 2 for t in total)
    return lo, tuple(t - a for t, a in zip(total, lo))


def _conv(nd: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
          dilation: Any, groups: int) -> Tensor:
    op = f"conv{nd}d"
    x, added = _batched(input, nd, op)
    if ndim_of(weight) != nd + 2:
        raise ValueError(f"{op}: weight must be {nd + 2}-D (out_channels, in_channels/groups, "
                         f"*kernel), got shape {shape_of(weight)}")
    k = shape_of(weight)[2:]
    s = _tuple(stride, nd, "stride", op)
    d = _tuple(dilation, nd, "dilation", op)
    if isinstance(padding, str):
        if padding == "valid":
            p = (0,) * nd
        elif padding == "same":
            lo, hi = _same_padding(k, d, s, op)
            if lo != hi:  # the odd unit goes on the right, as in PyTorch
                x = pad_nd(x, [(0, b - a) for a, b in zip(lo, hi)])
            p = lo
        else:
            raise ValueError(f"{op}: padding must be 'valid', 'same', an int or a tuple, "
                             f"got {padding!r}")
    else:
        p = _tuple(padding, nd, "padding", op)
    _check_geometry(op, k, s, p, d)
    c = shape_of(x)[1]
    if groups < 1 or c % groups or shape_of(weight)[0] % groups:
        raise ValueError(f"{op}: groups={groups} must divide in_channels ({c}) and "
                         f"out_channels ({shape_of(weight)[0]})")
    if c != shape_of(weight)[1] * groups:
        raise ValueError(f"{op}: input has {c} channels but weight of shape "
                         f"{shape_of(weight)} with groups={groups} expects "
                         f"{shape_of(weight)[1] * groups}")
    if bias is not None and shape_of(bias) != (shape_of(weight)[0],):
        raise ValueError(f"{op}: bias must have shape ({shape_of(weight)[0]},), "
                         f"got {shape_of(bias)}")
    fn = getattr(C, f"conv{nd}d")
    y = fn(x, weight, bias, stride=s, padding=p, dilation=d, groups=int(groups))
    return F.squeeze(y, 0) if added else y


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: _IntOr = 1,
           padding: _IntOr | str = 0, dilation: _IntOr = 1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) over ``(N, C_in, L)``.

    y[n, o, l] = b[o] + Σ_{c,k} W[o, c, k] · x_pad[n, g·C/G + c, l·s + k·d]
    """
    return _conv(1, input, weight, bias, stride, padding, dilation, groups)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: _IntOr = 1,
           padding: _IntOr | str = 0, dilation: _IntOr = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) over ``(N, C_in, H, W)``.

    y[n, o, i, j] = b[o] + Σ_{c,u,v} W[o, c, u, v] · x_pad[n, c', i·s + u·d, j·s + v·d];
    ∂L/∂x = conv_transpose2d(∂L/∂y, W), ∂L/∂W = Σ ∂L/∂y · windows of x.
    """
    return _conv(2, input, weight, bias, stride, padding, dilation, groups)


def conv3d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride: _IntOr = 1,
           padding: _IntOr | str = 0, dilation: _IntOr = 1, groups: int = 1) -> Tensor:
    """3-D convolution (cross-correlation) over ``(N, C_in, D, H, W)``, e.g. video or volumes.

    y[n, o, i, j, l] = b[o] + Σ_{c,t,u,v} W[o, c, t, u, v] · x_pad[n, c', i·s + t·d, …];
    the same single GEMM over an im2col matrix as conv2d, with one kernel axis more.
    """
    return _conv(3, input, weight, bias, stride, padding, dilation, groups)


def _conv_transpose(nd: int, input: Any, weight: Any, bias: Any, stride: Any, padding: Any,
                    output_padding: Any, groups: int, dilation: Any,
                    output_size: Any = None) -> Tensor:
    op = f"conv_transpose{nd}d"
    x, added = _batched(input, nd, op)
    if ndim_of(weight) != nd + 2:
        raise ValueError(f"{op}: weight must be {nd + 2}-D (in_channels, out_channels/groups, "
                         f"*kernel), got shape {shape_of(weight)}")
    s = _tuple(stride, nd, "stride", op)
    p = _tuple(padding, nd, "padding", op)
    d = _tuple(dilation, nd, "dilation", op)
    k = shape_of(weight)[2:]
    _check_geometry(op, k, s, p, d)
    if output_size is not None:
        if len(output_size) not in (nd, nd + 2):
            raise ValueError(f"{op}: output_size must have {nd} or {nd + 2} elements "
                             f"(got {len(output_size)}: {tuple(output_size)})")
        want = tuple(int(v) for v in output_size)[-nd:]
        base = tuple(C.transpose_out_size(L, kk, ss, pp, dd, 0)
                     for L, kk, ss, pp, dd in zip(shape_of(x)[2:], k, s, p, d))
        op_ = tuple(w - b for w, b in zip(want, base))
        if any(o < 0 or o >= max(ss, dd) for o, ss, dd in zip(op_, s, d)):
            raise ValueError(f"{op}: output_size {want} is not reachable from input "
                             f"{shape_of(x)[2:]} (the smallest is {base})")
    else:
        op_ = _tuple(output_padding, nd, "output_padding", op)
    for o, ss, dd in zip(op_, s, d):
        if o >= max(ss, dd) or o < 0:
            raise ValueError(f"{op}: output_padding {op_} must be smaller than either stride "
                             f"{s} or dilation {d}")
    c = shape_of(x)[1]
    if groups < 1 or c % groups or c != shape_of(weight)[0]:
        raise ValueError(f"{op}: input has {c} channels; weight of shape {shape_of(weight)} "
                         f"expects {shape_of(weight)[0]}, divisible by groups={groups}")
    if bias is not None and shape_of(bias) != (shape_of(weight)[1] * groups,):
        raise ValueError(f"{op}: bias must have shape ({shape_of(weight)[1] * groups},), "
                         f"got {shape_of(bias)}")
    fn = getattr(C, f"conv_transpose{nd}d")
    y = fn(x, weight, bias, stride=s, padding=p, output_padding=op_, groups=int(groups),
           dilation=d)
    return F.squeeze(y, 0) if added else y


def conv_transpose1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: _IntOr = 1, padding: _IntOr = 0, output_padding: _IntOr = 0,
                     groups: int = 1, dilation: _IntOr = 1) -> Tensor:
    """1-D transposed convolution: the adjoint of ``conv1d`` in its input (weight
    ``(C_in, C_out/groups, k)``); L_out = (L-1)s - 2p + d(k-1) + output_padding + 1."""
    return _conv_transpose(1, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: _IntOr = 1, padding: _IntOr = 0, output_padding: _IntOr = 0,
                     groups: int = 1, dilation: _IntOr = 1) -> Tensor:
    """2-D transposed convolution ("deconvolution"): the adjoint of ``conv2d`` in its input.

    x = conv_transpose2d(y, W) satisfies ⟨conv2d(u, W), y⟩ = ⟨u, x⟩ for all u; weight is
    ``(C_in, C_out/groups, kH, kW)``; H_out = (H-1)s - 2p + d(k-1) + output_padding + 1.
    """
    return _conv_transpose(2, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)


def conv_transpose3d(input: Tensor, weight: Tensor, bias: Tensor | None = None,
                     stride: _IntOr = 1, padding: _IntOr = 0, output_padding: _IntOr = 0,
                     groups: int = 1, dilation: _IntOr = 1) -> Tensor:
    """3-D transposed convolution: the adjoint of ``conv3d`` in its input (weight
    ``(C_in, C_out/groups, kD, kH, kW)``); D_out = (D-1)s - 2p + d(k-1) + output_padding + 1."""
    return _conv_transpose(3, input, weight, bias, stride, padding, output_padding, groups,
                           dilation)
