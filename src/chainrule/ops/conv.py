"""Convolution, pooling and unfold/fold over 1-, 2- and 3-D signals, laid out ``(N, C, *sp)``.

A convolution is one GEMM. ``im2col`` takes a strided view of the padded input that lists, for
every output position, the window it sees (``sliding_window_view``), and copies it once into a
matrix of ``C·K`` rows (``K`` kernel offsets); the weight ``(O, C·K)`` times that matrix is the
output. Two layouts: channel-major ``(C·K, N·P)`` (one big GEMM, then one transposing copy to
``(N, O, P)``) and batch-major ``(N, C·K, P)`` (a batched GEMM that writes ``(N, O, P)`` in
place), chosen by the positions per sample. With stride 1 the windows are shifts of the
flattened padded plane (``_Wide``), so copies and scatter-adds run over long rows. The bias
rides in the same GEMM as a row of ones. Groups are a batched matmul over a group axis.

2-D convolutions with one group run *channels-inner* (``_conv_hwnc``): the input is laid out
``(H, W, N, C)``, the window matrix is ``(P·N, K·C)`` (each kernel offset one copy of a shifted
slice) and the GEMM's ``(P·N, O)`` result is handed on as an ``(N, O, H, W)`` view of that
memory. Elementwise ops and pooling keep that layout and loop over runs of N·O values instead
of short image rows, and the backward's col2im is K adds of contiguous blocks.

The VJP is two GEMMs as well:

* the input gradient is the *transposed convolution* of the upstream gradient with the same
  weight (``Wᵀ·δ`` then ``col2im``: a scatter-add over the K kernel offsets), and
* the weight gradient is ``δ·colsᵀ`` (``conv{n}d_weight``), reusing the forward's window
  matrix (remembered per input buffer); its bias row gives the bias gradient.

The three ops are adjoint to one another, so their rules are written with each other and
differentiate again to any order (``create_graph=True``). Pooling follows the same pattern: a
pooling op and its scatter ("unpool") are an adjoint pair; max pooling remembers each
window's argmax for the backward, and non-overlapping windows are searched separably.

``unfold`` hands out the window matrix itself (batch-major, ``(N, C·K, P)``) and ``fold`` is
its adjoint, the col2im scatter-add; each is the other's VJP.

All spatial parameters are tuples with one entry per spatial dim (the functions in
``cr.nn.functional`` accept ints and strings such as ``padding='same'``).
"""

from __future__ import annotations

import functools
import itertools
import math
import weakref
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from ..engine import STATE
from ._util import all_finite
from .registry import Op, OpError, Sample, defop


def _is_tensor(x: Any) -> bool:
    from ..tensor import Tensor

    return isinstance(x, Tensor)


def _call(op: Op, *args: Any, **params: Any) -> Any:
    """Run ``op`` recorded when a rule works on Tensors (create_graph), else on arrays, fast."""
    if any(_is_tensor(a) for a in args):
        return op(*args, **params)
    return op.forward(*args, **params)


def _tup(v: Any, nd: int) -> tuple[int, ...]:
    if isinstance(v, (int, np.integer)):
        return (int(v),) * nd
    return tuple(int(a) for a in v)


# --------------------------------------------------------------------------- geometry

def conv_out_size(size: int, k: int, s: int, p: int, d: int) -> int:
    """``floor((L + 2p - d(k-1) - 1) / s) + 1``: output length of a convolution."""
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def pool_out_size(size: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """Output length of a pooling window (PyTorch's rule: with ``ceil_mode`` the last window
    must still start inside the input or its left padding)."""
    span = size + 2 * p - d * (k - 1) - 1
    out = (-(-span // s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pad(x: np.ndarray, lo: tuple, hi: tuple, value: float = 0.0) -> np.ndarray:
    """``x`` with its trailing spatial dims padded by ``lo``/``hi`` entries of ``value``."""
    if not any(lo) and not any(hi):
        return x
    nd = len(lo)
    lead = x.shape[: x.ndim - nd]
    sp = x.shape[x.ndim - nd:]
    buf = np.full(lead + tuple(n + a + b for n, a, b in zip(sp, lo, hi)), value, dtype=x.dtype)
    buf[(Ellipsis,) + tuple(slice(a, a + n) for a, n in zip(lo, sp))] = x
    return buf


def _crop(buf: np.ndarray, lo: tuple, size: tuple) -> np.ndarray:
    nd = len(lo)
    if all(a == 0 for a in lo) and buf.shape[buf.ndim - nd:] == tuple(size):
        return buf
    return buf[(Ellipsis,) + tuple(slice(a, a + n) for a, n in zip(lo, size))]


def _window(offs: tuple, out: tuple, s: tuple, d: tuple) -> tuple[slice, ...]:
    """The slices (one per spatial dim) that kernel offset ``offs`` reads at every output."""
    return tuple(slice(o * dd, o * dd + (n - 1) * ss + 1, ss)
                 for o, n, ss, dd in zip(offs, out, s, d))


def _offset_view(buf: np.ndarray, offs: tuple, out: tuple, s: tuple, d: tuple) -> np.ndarray:
    """The strided view of ``buf`` that kernel offset ``offs`` reads at every output position."""
    return buf[(Ellipsis,) + _window(offs, out, s, d)]


def _channels_first(a: np.ndarray) -> np.ndarray:
    """``(N, C, *sp)`` -> contiguous ``(C, N·P)`` (no copy when N == 1)."""
    return np.ascontiguousarray(np.swapaxes(a, 0, 1)).reshape(a.shape[1], -1)


BATCH_MAJOR_MIN_POSITIONS = 256  # a module attribute, so tests can force either layout


def _batch_major(n: int, positions: int, groups: int = 1) -> bool:
    """Which GEMM layout to use. Batch-major (one ``(O, C·K) @ (C·K, P)`` product per sample)
    writes the output in place as ``(N, O, P)``, saving two transposing copies; it pays off when
    each sample has many positions. Otherwise one big channel-major GEMM over ``N·P`` columns
    is faster; always with groups, where batch-major would make N·G small products."""
    return n == 1 or (groups == 1 and positions >= BATCH_MAJOR_MIN_POSITIONS)


class _Wide:
    """Stride-1 windows as shifts of the flattened padded plane.

    With stride 1, kernel offset ``u`` reads the padded input, flattened per channel, at
    ``q + shift(u)`` for each output position ``q = o₀·pitch₀ + r`` on a "wide" grid whose rows
    run the full padded width (the extra columns are garbage, dropped or zeroed). Each window
    copy and each col2im add then runs over long contiguous rows instead of rows of the output
    width, which NumPy does much faster.
    """

    __slots__ = ("plane", "pitch", "length", "extra", "shifts", "out", "padded")

    def __init__(self, padded: tuple, out: tuple, k: tuple, d: tuple) -> None:
        nd = len(padded)
        self.padded, self.out = tuple(padded), tuple(out)
        self.plane = math.prod(padded)
        self.pitch = tuple(math.prod(padded[i + 1:]) for i in range(nd))
        self.length = out[0] * self.pitch[0]
        self.extra = sum((k[i] - 1) * d[i] * self.pitch[i] for i in range(1, nd))
        self.shifts = [sum(o * dd * pt for o, dd, pt in zip(offs, d, self.pitch))
                       for offs in itertools.product(*(range(kk) for kk in k))]

    def flat_padded(self, x: np.ndarray, p: tuple) -> np.ndarray:
        """``x`` zero-padded by ``p`` and flattened per channel, with room for the last shift."""
        lead = x.shape[:2]
        buf = np.zeros(lead + (self.plane + self.extra,), dtype=x.dtype)
        inner = buf[:, :, :self.plane].reshape(lead + self.padded)
        inner[(slice(None), slice(None)) + tuple(slice(a, a + n) for a, n in
                                                 zip(p, x.shape[2:]))] = x
        return buf

    def widen(self, g: np.ndarray, channels_first: bool) -> np.ndarray:
        """``g`` (N, C, *out) on the wide grid, zero in the garbage columns: ``(C, N, L)`` if
        ``channels_first`` else ``(N, C, L)``."""
        n, c = g.shape[:2]
        lead = (c, n) if channels_first else (n, c)
        buf = np.zeros(lead + (self.out[0],) + self.padded[1:], dtype=g.dtype)
        buf[(slice(None), slice(None)) + tuple(slice(0, o) for o in self.out)] = (
            np.swapaxes(g, 0, 1) if channels_first else g)
        return buf.reshape(lead + (self.length,))

    def narrow(self, y: np.ndarray) -> np.ndarray:
        """A view of wide-grid values ``(A, B, L)`` as ``(A, B, *out)`` (garbage dropped)."""
        y = y.reshape(y.shape[:2] + (self.out[0],) + self.padded[1:])
        return y[(slice(None), slice(None)) + tuple(slice(0, o) for o in self.out)]


def _geometry(x_shape: tuple, k: tuple, s: tuple, p: tuple, d: tuple, groups: int) -> tuple:
    """``(output size, batch_major, wide or None)`` for a convolution of an input of
    ``x_shape``; the wide (shifted flat plane) layout serves stride-1, channel-major 2-D+."""
    sp = x_shape[2:]
    out = tuple(conv_out_size(L, kk, ss, pp, dd) for L, kk, ss, pp, dd in zip(sp, k, s, p, d))
    if any(o <= 0 for o in out):
        raise OpError(f"conv{len(k)}d: the input's spatial size {sp} is too small for kernel "
                      f"{k} with padding {p} and dilation {d} (it would give an output of "
                      f"size {out}); pad the input or use a smaller kernel")
    bm = _batch_major(x_shape[0], math.prod(out), groups)
    wide = None
    if not bm and len(k) > 1 and all(ss == 1 for ss in s):
        wide = _Wide(tuple(L + 2 * pp for L, pp in zip(sp, p)), out, k, d)
    return out, bm, wide


# im2col matrices of recent forwards, keyed by the input buffer: the weight gradient reuses
# the forward's copy instead of building it again. An entry is dropped when used, or when the
# input array is freed.
_COLS: dict[int, tuple[weakref.ref, tuple, np.ndarray]] = {}


def _keep_cols(x: np.ndarray, key: tuple, cols: np.ndarray) -> None:
    """Remember ``cols`` as the window matrix of ``x`` (when a backward may follow)."""
    if not STATE.grad_enabled:
        return
    ident = id(x)
    if ident not in _COLS:
        weakref.finalize(x, _COLS.pop, ident, None)
    _COLS[ident] = (weakref.ref(x), key, cols)


def _take_cols(x: np.ndarray, key: tuple) -> np.ndarray | None:
    """The remembered window matrix of ``x`` built with ``key``, if any (dropped either way)."""
    hit = _COLS.pop(id(x), None)
    if hit is not None and hit[0]() is x and hit[1] == key:
        return hit[2]
    return None


def _view_as(a: np.ndarray, shape: tuple) -> np.ndarray:
    """A reshaped view of ``a`` (raises rather than copy)."""
    v = a.view()
    v.shape = shape
    return v


def _windows(x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple) -> np.ndarray:
    """A strided view ``(N, C, *out, *k)`` of the windows of ``x`` zero-padded by ``p``: entry
    ``[n, c, *o, *u]`` is ``x_pad[n, c, o·s + u·d]`` (no copy beyond the padding)."""
    nd = len(k)
    xp = _pad(x, p, p)
    ext = tuple(dd * (kk - 1) + 1 for kk, dd in zip(k, d))
    v = sliding_window_view(xp, ext, axis=tuple(range(2, 2 + nd)))  # N C *pos *ext
    return v[(slice(None), slice(None)) + tuple(slice(None, None, ss) for ss in s)
             + tuple(slice(None, None, dd) for dd in d)]


def _im2col(x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple, bm: bool,
            wide: _Wide | None, keep: bool = False, ones: bool = False) -> np.ndarray:
    """The matrix of input windows, rows ordered (c, kernel offset): ``(N, C·K, P)`` when
    batch-major, else ``(C·K, N·P)`` (``P`` on the wide grid if ``wide``); with ``ones``, one
    more row of ones (for the bias, in the same GEMM). ``keep`` remembers it for the weight
    gradient; without it, a remembered matrix is used (and dropped)."""
    key = (tuple(k), tuple(s), tuple(p), tuple(d), bm, wide is not None)
    if not keep:
        hit = _take_cols(x, key)
        if hit is not None:
            return hit
    nd = len(k)
    n, c = x.shape[:2]
    ck = c * math.prod(k)
    rows = ck + 1 if ones else ck
    if wide is not None:
        xf = wide.flat_padded(x, p)
        L = wide.length
        cols = np.empty((rows, n * L), dtype=x.dtype)
        dst = _view_as(cols[:ck], (c, len(wide.shifts), n, L))
        for j, sh in enumerate(wide.shifts):
            dst[:, j] = np.swapaxes(xf[:, :, sh:sh + L], 0, 1)
    else:
        v = _windows(x, k, s, p, d)  # N C *out *k
        out = v.shape[2:2 + nd]
        if bm:  # (N, C, *k, *out)
            perm = (0, 1) + tuple(range(2 + nd, 2 + 2 * nd)) + tuple(range(2, 2 + nd))
            cols = np.empty((n, rows, math.prod(out)), dtype=x.dtype)
            _view_as(cols[:, :ck], (n, c) + tuple(k) + out)[...] = v.transpose(perm)
        else:  # (C, *k, N, *out): the copy reads runs along the last output dim
            perm = (1,) + tuple(range(2 + nd, 2 + 2 * nd)) + (0,) + tuple(range(2, 2 + nd))
            cols = np.empty((rows, n * math.prod(out)), dtype=x.dtype)
            _view_as(cols[:ck], (c,) + tuple(k) + (n,) + out)[...] = v.transpose(perm)
    if ones:
        cols[..., ck, :] = 1
    if keep:
        _keep_cols(x, key, cols)
    return cols


def _finish(y: np.ndarray, bias: Any, channels_first: bool) -> np.ndarray:
    """A contiguous ``(N, C, *sp)`` copy of ``y`` (given as ``(C, N, *sp)`` if
    ``channels_first``), plus ``bias`` per channel, in one pass."""
    if channels_first:
        y = np.swapaxes(y, 0, 1)
    res = np.empty(y.shape, dtype=y.dtype)
    if bias is None:
        res[...] = y
    else:
        np.add(y, np.reshape(bias, (y.shape[1],) + (1,) * (y.ndim - 2)), out=res)
    return res


def _col2im(cols: np.ndarray, n: int, c: int, size: tuple, k: tuple, out: tuple, s: tuple,
            p: tuple, d: tuple, bm: bool, wide: _Wide | None, bias: Any = None) -> np.ndarray:
    """Scatter-add the window values back onto an ``(N, C, *size)`` input: the adjoint of
    ``_im2col``; plus ``bias`` per channel. ``cols`` is ``(N, C, K, P)`` if ``bm`` else
    ``(C, K, N, P)``, with ``P`` on the wide grid if ``wide``."""
    lead = (n, c) if bm else (c, n)
    kk = math.prod(k)
    if wide is not None:
        L = wide.length
        cols = cols.reshape((n, c, kk, L) if bm else (c, kk, n, L))
        flat = np.zeros(lead + (wide.plane + wide.extra,), dtype=cols.dtype)
        for j, sh in enumerate(wide.shifts):
            flat[:, :, sh:sh + L] += cols[:, :, j] if bm else cols[:, j]
        buf = flat[:, :, :wide.plane].reshape(lead + wide.padded)
    else:
        cols = cols.reshape(((n, c) + tuple(k) if bm else (c,) + tuple(k) + (n,)) + tuple(out))
        padded = tuple(L + 2 * pp for L, pp in zip(size, p))
        # the windows may reach past the padded input only when the output was cut short
        need = tuple((o - 1) * ss + dd * (kq - 1) + 1 for o, ss, dd, kq in zip(out, s, d, k))
        buf = np.zeros(lead + tuple(max(a, b) for a, b in zip(padded, need)), dtype=cols.dtype)
        pre = (slice(None),) * (2 if bm else 1)
        for offs in itertools.product(*(range(a) for a in k)):
            view = _offset_view(buf, offs, out, s, d)
            view += cols[pre + offs]
    crop = _crop(buf, p, size)
    if bm and crop is buf and buf.flags.c_contiguous:
        if bias is not None:
            buf += np.reshape(bias, (c,) + (1,) * len(k))
        return buf
    return _finish(crop, bias, not bm)


def _groups_view(a: np.ndarray, g: int, axis: int = 0) -> np.ndarray:
    """``a`` with its axis ``axis`` split into (groups, size / groups)."""
    sh = a.shape
    return a.reshape(sh[:axis] + (g, sh[axis] // g) + sh[axis + 1:])


def _gemm(a: np.ndarray, b: np.ndarray, groups: int, trans_a: bool = False,
          trans_b: bool = False) -> np.ndarray:
    """``op(a) @ op(b)`` for each group: the rows (second-to-last axis) of both ``a`` and ``b``
    are split into ``groups`` blocks, which a batched matmul pairs up; leading axes broadcast.
    The result has the groups' rows stacked again."""
    if groups > 1:
        a = _groups_view(a, groups, a.ndim - 2)
        b = _groups_view(b, groups, b.ndim - 2)
    if trans_a:
        a = np.swapaxes(a, -1, -2)
    if trans_b:
        b = np.swapaxes(b, -1, -2)
    # an outer product (depthwise transposed convs): BLAS is slow with an inner size of 1
    r = a * b if a.shape[-1] == 1 else np.matmul(a, b)
    if groups > 1:
        r = r.reshape(r.shape[:-3] + (-1, r.shape[-1]))
    return r


# --------------------------------------------------------------------------- channels-inner

# Which 2-D convolutions (one group) run in the channels-inner layout: "auto" (see
# _use_hwnc), or "always" / "never" (a module attribute, so tests can force either way).
HWNC_MODE = "auto"
HWNC_MIN_CHANNELS = 8


def _use_hwnc(nd: int, groups: int, c: int) -> bool:
    """Whether a 2-D, one-group convolution whose window matrix has ``c`` channels per kernel
    offset runs channels-inner. Its copies move runs of ``c`` values (or, with ``c == 1``,
    whole planes), so a few channels (RGB) would make them short; the NCHW paths serve those."""
    if nd != 2 or groups != 1 or HWNC_MODE == "never":
        return False
    return HWNC_MODE == "always" or c == 1 or c >= HWNC_MIN_CHANNELS


def _to_hwnc(a: np.ndarray, p: tuple = (0, 0)) -> np.ndarray:
    """``(N, C, H, W)`` as a contiguous ``(H + 2p₀, W + 2p₁, N, C)`` array, zero-padded (no
    copy for an unpadded array that is already a view of that layout)."""
    t = a.transpose(2, 3, 0, 1)
    if not any(p):
        return np.ascontiguousarray(t)
    h, w = t.shape[:2]
    buf = np.zeros((h + 2 * p[0], w + 2 * p[1]) + t.shape[2:], dtype=a.dtype)
    buf[p[0]:p[0] + h, p[1]:p[1] + w] = t
    return buf


def _offsets(k: tuple) -> list[tuple[int, ...]]:
    """The kernel offsets in row-major order (the order of the weight's kernel axes)."""
    return list(itertools.product(*(range(a) for a in k)))


def _im2col_hwnc(x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple, out: tuple,
                 keep: bool = False, ones: bool = False) -> np.ndarray:
    """The window matrix ``(P·N, K·C)`` of the channels-inner layout: rows (i, j, n), columns
    (kernel offset, c), plus a column of ones with ``ones``. ``keep`` / reuse as ``_im2col``.

    Each kernel offset is one copy of a shifted slice of the ``(H, W, N, C)`` input, read in
    runs of N·C values. With one channel the matrix is built transposed, one contiguous row
    per offset, and handed out as a transposed view (BLAS takes either)."""
    key = ("hwnc", tuple(k), tuple(s), tuple(p), tuple(d))
    if not keep:
        hit = _take_cols(x, key)
        if hit is not None:
            return hit
    n, c = x.shape[:2]
    xh = _to_hwnc(x, p)
    kc = math.prod(k) * c
    width = kc + 1 if ones else kc
    if c == 1:
        rows = np.empty((width,) + out + (n,), dtype=x.dtype)
        for j, offs in enumerate(_offsets(k)):
            rows[j] = xh[_window(offs, out, s, d)][..., 0]
        if ones:
            rows[kc] = 1
        cols = rows.reshape(width, -1).T
    else:
        buf = np.empty(out + (n, width), dtype=x.dtype)
        for j, offs in enumerate(_offsets(k)):
            buf[..., j * c:(j + 1) * c] = xh[_window(offs, out, s, d)]
        if ones:
            buf[..., kc] = 1
        cols = buf.reshape(-1, width)
    if keep:
        _keep_cols(x, key, cols)
    return cols


def _conv_hwnc(x: np.ndarray, w: np.ndarray, b: Any, s: tuple, p: tuple, d: tuple,
               out: tuple) -> np.ndarray:
    """Convolution as ``cols @ Wᵀ`` in the channels-inner layout; the result ``(P·N, O)`` is
    returned as an ``(N, O, *out)`` view of that memory, so the activation and pooling after
    it run their loops over long runs of N·O values."""
    n, o = x.shape[0], w.shape[0]
    # the bias rides in the GEMM as a column of ones (as in _conv_forward)
    cols = _im2col_hwnc(x, w.shape[2:], s, p, d, out, keep=True, ones=b is not None)
    wm = w.transpose(0, 2, 3, 1).reshape(o, -1)  # columns (kernel offset, c), as the windows
    if b is not None:
        wm = np.concatenate([wm, np.reshape(b, (o, 1)).astype(wm.dtype, copy=False)], axis=1)
    y = cols @ wm.T
    return y.reshape(out + (n, o)).transpose(2, 3, 0, 1)


def _conv_weight_hwnc(x: np.ndarray, gy: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple,
                      out: tuple) -> tuple[np.ndarray, np.ndarray | None]:
    """The weight gradient ``δᵀ·cols`` (one GEMM) and, when the forward's window matrix had
    the bias's column of ones, the bias gradient from the same GEMM (else None)."""
    o, c = gy.shape[1], x.shape[1]
    cols = _im2col_hwnc(x, k, s, p, d, out)
    # (colsᵀ·δ)ᵀ: OpenBLAS runs this product faster than δᵀ·cols (measured: 15-35%)
    gw = (cols.T @ _to_hwnc(gy).reshape(-1, o)).T  # (O, K·C [+1])
    kc = math.prod(k) * c
    gb = gw[:, kc] if gw.shape[1] > kc else None
    gw = gw[:, :kc].reshape((o,) + tuple(k) + (c,)).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(gw), gb


def _conv_transpose_hwnc(y: np.ndarray, w: np.ndarray, b: Any, size: tuple, s: tuple,
                         p: tuple, d: tuple) -> np.ndarray:
    """Transposed convolution in the channels-inner layout: one GEMM per kernel offset (a
    batched matmul) gives that offset's contributions as a contiguous ``(*out, N, C)`` block,
    which is added onto a shifted slice of the output: K long vectorised adds (col2im)."""
    n, cin = y.shape[:2]
    k, cout = tuple(w.shape[2:]), w.shape[1]
    out = tuple(y.shape[2:])
    wk = w.transpose(2, 3, 0, 1).reshape(-1, cin, cout)  # (K, Cin, Cout)
    parts = np.matmul(_to_hwnc(y).reshape(-1, cin), wk).reshape((len(wk),) + out + (n, cout))
    # the windows may reach past the padded output only when the input was cut short
    need = tuple((o - 1) * ss + dd * (kq - 1) + 1 for o, ss, dd, kq in zip(out, s, d, k))
    lim = tuple(max(L + 2 * pp, e) for L, pp, e in zip(size, p, need))
    buf = np.zeros(lim + (n, cout), dtype=parts.dtype)
    for j, offs in enumerate(_offsets(k)):
        buf[_window(offs, out, s, d)] += parts[j]
    res = buf[p[0]:p[0] + size[0], p[1]:p[1] + size[1]]
    if b is not None:
        res += b
    return res.transpose(2, 3, 0, 1)


# --------------------------------------------------------------------------- forwards

def _conv_forward(x: np.ndarray, w: np.ndarray, b: Any = None, stride: Any = 1,
                  padding: Any = 0, dilation: Any = 1, groups: int = 1) -> np.ndarray:
    nd = w.ndim - 2
    s, p, d = _tup(stride, nd), _tup(padding, nd), _tup(dilation, nd)
    n, c = x.shape[:2]
    o = w.shape[0]
    if x.ndim != nd + 2 or c != w.shape[1] * groups or o % groups:
        raise OpError(f"conv{nd}d: input of shape {x.shape} does not fit weight of shape "
                      f"{w.shape} with groups={groups}: expected (N, {w.shape[1] * groups}, "
                      f"{', '.join('L' * nd)}) and out channels divisible by groups")
    k = w.shape[2:]
    out, bm, wide = _geometry(x.shape, k, s, p, d, groups)
    if n == 0:  # an empty batch (the GEMM layouts below reshape by -1)
        return np.zeros((0, o) + out, dtype=np.result_type(x, w))
    if _use_hwnc(nd, groups, c):
        return _conv_hwnc(x, w, b, s, p, d, out)
    # With one group the bias rides in the GEMM: a row of ones below the windows, the bias as
    # one more weight column (and the weight gradient's GEMM then also yields the bias's).
    ones = b is not None and groups == 1
    cols = _im2col(x, k, s, p, d, bm, wide, keep=True, ones=ones)
    wm = w.reshape(o, -1)
    if ones:
        wm = np.concatenate([wm, np.reshape(b, (o, 1)).astype(wm.dtype, copy=False)], axis=1)
        b = None
    y = _gemm(wm, cols, groups)
    if bm:  # (N, O, P): the output itself
        y = y.reshape((n, o) + out)
        if b is not None:
            y += np.reshape(b, (o,) + (1,) * nd)
        return y
    y = y.reshape(o, n, -1)
    return _finish(wide.narrow(y) if wide is not None else y.reshape((o, n) + out), b, True)


def transpose_out_size(size: int, k: int, s: int, p: int, d: int, op: int) -> int:
    """``(L-1)s - 2p + d(k-1) + output_padding + 1``: output length of a transposed conv."""
    return (size - 1) * s - 2 * p + d * (k - 1) + op + 1


def _conv_transpose_forward(y: np.ndarray, w: np.ndarray, b: Any = None, stride: Any = 1,
                            padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                            dilation: Any = 1) -> np.ndarray:
    nd = w.ndim - 2
    s, p, d, op = _tup(stride, nd), _tup(padding, nd), _tup(dilation, nd), _tup(
        output_padding, nd)
    n, cin = y.shape[:2]
    k = w.shape[2:]
    if y.ndim != nd + 2 or cin != w.shape[0] or cin % groups:
        raise OpError(f"conv_transpose{nd}d: input of shape {y.shape} does not fit weight of "
                      f"shape {w.shape} (expected (N, {w.shape[0]}, ...), channels divisible "
                      f"by groups={groups})")
    cout = w.shape[1] * groups
    out = tuple(y.shape[2:])
    size = tuple(transpose_out_size(L, kk, ss, pp, dd, oo)
                 for L, kk, ss, pp, dd, oo in zip(out, k, s, p, d, op))
    if any(L <= 0 for L in size):
        raise OpError(f"conv_transpose{nd}d: the output size {size} is not positive")
    if n == 0:
        return np.zeros((0, cout) + size, dtype=np.result_type(y, w))
    if _use_hwnc(nd, groups, cout):
        return _conv_transpose_hwnc(y, w, b, size, s, p, d)
    bm = _batch_major(n, math.prod(out), groups)
    wide = None
    if nd > 1 and all(ss == 1 for ss in s):
        wide = _Wide(tuple(L + 2 * pp for L, pp in zip(size, p)), out, k, d)
    if wide is not None:
        ym = wide.widen(y, channels_first=not bm)
        ym = ym if bm else ym.reshape(cin, -1)
    else:
        ym = y.reshape(n, cin, -1) if bm else _channels_first(y)
    cols = _gemm(w.reshape(cin, -1), ym, groups, trans_a=True)  # (Cout·K, …)
    return _col2im(cols, n, cout, size, k, out, s, p, d, bm, wide, bias=b)


def _conv_weight_forward(x: np.ndarray, gy: np.ndarray, kernel_size: tuple, stride: Any = 1,
                         padding: Any = 0, dilation: Any = 1, groups: int = 1) -> np.ndarray:
    nd = len(kernel_size)
    k = tuple(kernel_size)
    s, p, d = _tup(stride, nd), _tup(padding, nd), _tup(dilation, nd)
    n, c, o = x.shape[0], x.shape[1], gy.shape[1]
    out, bm, wide = _geometry(x.shape, k, s, p, d, groups)
    if gy.shape[0] != n or any(a > b for a, b in zip(gy.shape[2:], out)):
        raise OpError(f"conv{nd}d_weight: gradient of shape {gy.shape} does not match the "
                      f"output {(n, o) + out} of the convolution")
    if n == 0:
        return np.zeros((o, c // groups) + k, dtype=np.result_type(x, gy))
    g0 = gy
    if tuple(gy.shape[2:]) != out:  # the transposed conv's adjoint: trailing outputs are 0
        gy = _pad(gy, (0,) * nd, tuple(b - a for a, b in zip(gy.shape[2:], out)))
    if _use_hwnc(nd, groups, c):
        gw, gb = _conv_weight_hwnc(x, gy, k, s, p, d, out)
        if gb is not None:
            _BIAS_GRAD[:] = [g0, gb]
        return gw
    cols = _im2col(x, k, s, p, d, bm, wide)
    if bm:
        gw = _gemm(gy.reshape(n, o, -1), cols, groups, trans_b=True).sum(axis=0)
    else:
        gm = wide.widen(gy, True).reshape(o, -1) if wide is not None else _channels_first(gy)
        gw = _gemm(gm, cols, groups, trans_b=True)
    ck = (c // groups) * math.prod(k)
    if gw.shape[-1] > ck:  # the forward's matrix had the bias's row of ones
        _BIAS_GRAD[:] = [g0, gw[:, ck]]
        gw = gw[:, :ck]
    return np.ascontiguousarray(gw).reshape((o, c // groups) + k)


# The bias gradient Σ δ that the weight gradient's GEMM gave along the way, for the bias
# rule of the same node (which the engine runs next): [δ, x, W, Σδ].
_BIAS_GRAD: list = []


# --------------------------------------------------------------------------- rules

def _crop_to(r: Any, size: tuple) -> Any:
    """``r`` cut to the spatial ``size`` (a transposed conv with output_padding >= stride has
    outputs that its adjoint convolution sees past the end)."""
    if tuple(r.shape[2:]) == tuple(size):
        return r
    return r[(slice(None), slice(None)) + tuple(slice(0, L) for L in size)]


def _fold(t: Any, nd: int) -> tuple[Any, tuple]:
    """A tangent's leading batch dims folded into the batch axis N."""
    lead = tuple(t.shape[: t.ndim - nd - 2])
    return (t.reshape((-1,) + tuple(t.shape[len(lead) + 1:])) if lead else t), lead


def _unfold(y: Any, lead: tuple) -> Any:
    return y.reshape(lead + (-1,) + tuple(y.shape[1:])) if lead else y


def _per_slice(fn: Any, t: Any, base_ndim: int) -> Any:
    """Apply ``fn`` to each slice of ``t`` along its leading batch dims (weight tangents)."""
    lead = tuple(t.shape[: t.ndim - base_ndim])
    if not lead:
        return fn(t)
    flat = t.reshape((-1,) + tuple(t.shape[len(lead):]))
    outs = [fn(flat[i]) for i in range(flat.shape[0])]
    res = np.stack(outs)
    return res.reshape(lead + tuple(res.shape[1:]))


class _ConvOps:
    """The three mutually adjoint ops for one spatial rank: conv, its transpose, its weight
    gradient."""

    conv: Op
    transpose: Op
    weight: Op


def _make_conv_ops(nd: int) -> _ConvOps:
    ops = _ConvOps()

    def out_padding(x_size: tuple, y_size: tuple, k: tuple, s: Any, p: Any, d: Any) -> tuple:
        s, p, d = _tup(s, nd), _tup(p, nd), _tup(d, nd)
        return tuple(L - transpose_out_size(o, kk, ss, pp, dd, 0)
                     for L, o, kk, ss, pp, dd in zip(x_size, y_size, k, s, p, d))

    # conv: y = conv(x, w) + b
    def conv_vjp_x(g: Any, out: Any, x: Any, w: Any, b: Any = None, stride: Any = 1,
                   padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Any:
        op = out_padding(x.shape[2:], g.shape[2:], w.shape[2:], stride, padding, dilation)
        return _call(ops.transpose, g, w, None, stride=stride, padding=padding,
                     output_padding=op, groups=groups, dilation=dilation)

    def conv_vjp_w(g: Any, out: Any, x: Any, w: Any, b: Any = None, stride: Any = 1,
                   padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Any:
        _BIAS_GRAD.clear()
        gw = _call(ops.weight, x, g, kernel_size=tuple(w.shape[2:]), stride=stride,
                   padding=padding, dilation=dilation, groups=groups)
        if len(_BIAS_GRAD) == 2 and _BIAS_GRAD[0] is g:
            # the bias gradient came out of the same GEMM: keep it for this node's bias rule
            # (keyed by all of the node's values, so no other node can pick it up)
            _BIAS_GRAD[:] = [g, x, w, _BIAS_GRAD[1]]
        else:
            _BIAS_GRAD.clear()
        return gw

    def bias_grad(g: Any, out: Any, *args: Any, **kw: Any) -> Any:
        memo = _BIAS_GRAD
        if len(memo) == 4 and memo[0] is g and memo[1] is args[0] and memo[2] is args[1]:
            gb = memo[3]
            memo.clear()
            return gb
        if _is_tensor(g):
            return g.sum(axis=(0,) + tuple(range(2, 2 + nd)))
        return np.einsum("nop->o", g.reshape(g.shape[0], g.shape[1], math.prod(g.shape[2:])))

    def bias_tangent(t: Any, out: Any, *args: Any, **kw: Any) -> Any:
        return t.reshape(tuple(t.shape[:-1]) + (1, t.shape[-1]) + (1,) * nd)

    def conv_jvp_x(t: Any, out: Any, x: Any, w: Any, b: Any = None, **kw: Any) -> Any:
        tf, lead = _fold(t, nd)
        return _unfold(_call(ops.conv, tf, w, None, **kw), lead)

    def conv_jvp_w(t: Any, out: Any, x: Any, w: Any, b: Any = None, **kw: Any) -> Any:
        return _per_slice(lambda tw: _call(ops.conv, x, tw, None, **kw), t, nd + 2)

    ops.conv = defop(
        f"conv{nd}d", _conv_forward, (conv_vjp_x, conv_vjp_w, bias_grad),
        (f"y = conv{nd}d(x, W) + b: δx = conv_transpose{nd}d(δ, W)",
         f"δW = conv{nd}d_weight(x, δ) = δ·colsᵀ (one GEMM)",
         "δb = Σ of δ over the batch and positions"),
        reads=((1,), (0,), ()),
        sample=_conv_sample(nd), torch=f"conv{nd}d",
        jvp=(conv_jvp_x, conv_jvp_w, bias_tangent),
        doc=f"{nd}-D convolution (cross-correlation), lowered to one GEMM (im2col).")

    # transposed conv: x = conv_transpose(y, w) + b, the adjoint of conv in its input
    def tr_vjp_y(g: Any, out: Any, y: Any, w: Any, b: Any = None, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                 dilation: Any = 1) -> Any:
        return _crop_to(_call(ops.conv, g, w, None, stride=stride, padding=padding,
                              dilation=dilation, groups=groups), y.shape[2:])

    def tr_vjp_w(g: Any, out: Any, y: Any, w: Any, b: Any = None, stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1,
                 dilation: Any = 1) -> Any:
        return _call(ops.weight, g, y, kernel_size=tuple(w.shape[2:]), stride=stride,
                     padding=padding, dilation=dilation, groups=groups)

    def tr_jvp_y(t: Any, out: Any, y: Any, w: Any, b: Any = None, **kw: Any) -> Any:
        tf, lead = _fold(t, nd)
        return _unfold(_call(ops.transpose, tf, w, None, **kw), lead)

    def tr_jvp_w(t: Any, out: Any, y: Any, w: Any, b: Any = None, **kw: Any) -> Any:
        return _per_slice(lambda tw: _call(ops.transpose, y, tw, None, **kw), t, nd + 2)

    ops.transpose = defop(
        f"conv_transpose{nd}d", _conv_transpose_forward, (tr_vjp_y, tr_vjp_w, bias_grad),
        (f"x = conv_transpose{nd}d(y, W) + b: δy = conv{nd}d(δ, W)",
         f"δW = conv{nd}d_weight(δ, y)", "δb = Σ of δ over the batch and positions"),
        reads=((1,), (0,), ()),
        sample=_transpose_sample(nd), torch=f"conv_transpose{nd}d",
        jvp=(tr_jvp_y, tr_jvp_w, bias_tangent),
        doc=f"{nd}-D transposed convolution: the adjoint of conv{nd}d in its input.")

    # weight gradient: gw = conv_weight(x, gy) = ∂/∂W <gy, conv(x, W)>, bilinear in (x, gy)
    def wt_vjp_x(gw: Any, out: Any, x: Any, gy: Any, kernel_size: tuple, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Any:
        op = out_padding(x.shape[2:], gy.shape[2:], kernel_size, stride, padding, dilation)
        return _call(ops.transpose, gy, gw, None, stride=stride, padding=padding,
                     output_padding=op, groups=groups, dilation=dilation)

    def wt_vjp_gy(gw: Any, out: Any, x: Any, gy: Any, kernel_size: tuple, stride: Any = 1,
                  padding: Any = 0, dilation: Any = 1, groups: int = 1) -> Any:
        return _crop_to(_call(ops.conv, x, gw, None, stride=stride, padding=padding,
                              dilation=dilation, groups=groups), gy.shape[2:])

    def wt_jvp_x(t: Any, out: Any, x: Any, gy: Any, **kw: Any) -> Any:
        return _per_slice(lambda tx: _call(ops.weight, tx, gy, **kw), t, nd + 2)

    def wt_jvp_gy(t: Any, out: Any, x: Any, gy: Any, **kw: Any) -> Any:
        return _per_slice(lambda tg: _call(ops.weight, x, tg, **kw), t, nd + 2)

    ops.weight = defop(
        f"conv{nd}d_weight", _conv_weight_forward, (wt_vjp_x, wt_vjp_gy),
        (f"W̄ = conv{nd}d_weight(x, ȳ) = ∂⟨ȳ, conv(x, W)⟩/∂W: δx = conv_transpose(ȳ, δ)",
         "δȳ = conv(x, δ)"),
        reads=((1,), (0,)), sample=_weight_sample(nd), torch=None,
        jvp=(wt_jvp_x, wt_jvp_gy),
        doc=f"The gradient of conv{nd}d with respect to its weight (one GEMM).")
    return ops


def _conv_sample(nd: int) -> Sample:
    sp = {1: (7,), 2: (5, 4), 3: (4, 3, 3)}[nd]
    return Sample(
        shapes=((2, 4) + sp, (4, 2) + (2,) * nd, (4,)),
        params={"stride": (1,) * nd, "padding": (0,) * nd, "dilation": (1,) * nd, "groups": 2},
        variants=({"stride": (2,) * nd, "padding": (1,) * nd, "dilation": (1,) * nd,
                   "groups": 2},
                  {"stride": (1,) * nd, "padding": (1,) * nd, "dilation": (2,) * nd,
                   "groups": 2}),
        jvp=True)


def _transpose_sample(nd: int) -> Sample:
    sp = {1: (4,), 2: (3, 2), 3: (2, 2, 1)}[nd]
    return Sample(
        shapes=((2, 4) + sp, (4, 1) + (2,) * nd, (2,)),
        params={"stride": (2,) * nd, "padding": (0,) * nd, "output_padding": (1,) * nd,
                "groups": 2, "dilation": (1,) * nd},
        variants=({"stride": (1,) * nd, "padding": (1,) * nd, "output_padding": (0,) * nd,
                   "groups": 2, "dilation": (2,) * nd},))


def _weight_sample(nd: int) -> Sample:
    sp = {1: (5,), 2: (4, 3), 3: (3, 3, 2)}[nd]
    out = tuple(L - 1 for L in sp)
    return Sample(shapes=((2, 2) + sp, (2, 4) + out),
                  params={"kernel_size": (2,) * nd, "stride": (1,) * nd, "padding": (0,) * nd,
                          "dilation": (1,) * nd, "groups": 2})


_CONV = {nd: _make_conv_ops(nd) for nd in (1, 2, 3)}
conv1d, conv_transpose1d, conv1d_weight = _CONV[1].conv, _CONV[1].transpose, _CONV[1].weight
conv2d, conv_transpose2d, conv2d_weight = _CONV[2].conv, _CONV[2].transpose, _CONV[2].weight
conv3d, conv_transpose3d, conv3d_weight = _CONV[3].conv, _CONV[3].transpose, _CONV[3].weight


# --------------------------------------------------------------------------- unfold / fold

def _block_geometry(op: str, size: tuple, k: tuple, s: tuple, p: tuple, d: tuple) -> tuple:
    """The number of sliding blocks along each spatial dim (each at least one)."""
    blocks = tuple(conv_out_size(L, kk, ss, pp, dd) for L, kk, ss, pp, dd in zip(size, k, s, p, d))
    if any(b <= 0 for b in blocks):
        raise OpError(f"{op}: spatial size {size} with kernel_size={k}, dilation={d}, "
                      f"padding={p} gives {blocks} sliding blocks; each must be at least one: "
                      "pad the input or use a smaller kernel or dilation")
    return blocks


def _unfold_forward(x: np.ndarray, kernel_size: tuple, dilation: tuple, padding: tuple,
                    stride: tuple) -> np.ndarray:
    k, d, p, s = tuple(kernel_size), tuple(dilation), tuple(padding), tuple(stride)
    n, c = x.shape[:2]
    blocks = _block_geometry("unfold", x.shape[2:], k, s, p, d)
    v = _windows(x, k, s, p, d)  # (N, C, *blocks, *k), a view
    nd = len(k)
    perm = (0, 1) + tuple(range(2 + nd, 2 + 2 * nd)) + tuple(range(2, 2 + nd))
    cols = np.empty((n, c) + k + blocks, dtype=x.dtype)
    cols[...] = v.transpose(perm)  # the one copy: rows (c, kernel offset), columns blocks
    return cols.reshape(n, c * math.prod(k), math.prod(blocks))


def _fold_forward(cols: np.ndarray, output_size: tuple, kernel_size: tuple, dilation: tuple,
                  padding: tuple, stride: tuple) -> np.ndarray:
    k, d, p, s = tuple(kernel_size), tuple(dilation), tuple(padding), tuple(stride)
    size = tuple(output_size)
    n, ck, length = cols.shape
    kk = math.prod(k)
    blocks = _block_geometry("fold", size, k, s, p, d)
    if ck % kk or length != math.prod(blocks):
        raise OpError(f"fold: input of shape {cols.shape} does not fit output_size={size}, "
                      f"kernel_size={k}: expected (N, C·{kk}, {math.prod(blocks)})")
    return _col2im(cols, n, ck // kk, size, k, blocks, s, p, d, True, None)


def _make_fold_ops() -> tuple[Op, Op]:
    def unfold_vjp(g: Any, out: Any, x: Any, **kw: Any) -> Any:
        return _call(fold, g, output_size=tuple(x.shape[2:]), **kw)

    def unfold_jvp(t: Any, out: Any, x: Any, **kw: Any) -> Any:
        # (_fold / _unfold move a tangent's leading batch dims into N and back)
        tf, lead = _fold(t, 2)
        return _unfold(_call(unfold, tf, **kw), lead)

    def fold_vjp(g: Any, out: Any, cols: Any, output_size: tuple, **kw: Any) -> Any:
        return _call(unfold, g, **kw)

    def fold_jvp(t: Any, out: Any, cols: Any, output_size: tuple, **kw: Any) -> Any:
        tf, lead = _fold(t, 1)
        return _unfold(_call(fold, tf, output_size=output_size, **kw), lead)

    base = {"kernel_size": (2, 3), "dilation": (1, 1), "padding": (0, 0), "stride": (1, 1)}
    other = {"kernel_size": (3, 2), "dilation": (1, 2), "padding": (1, 1), "stride": (2, 2)}
    unfold = defop(
        "unfold", _unfold_forward, unfold_vjp,
        "cols = unfold(x): each sliding block of x as a column (im2col), a copy: "
        "δx = fold(δ), the adjoint (col2im: overlapping blocks add up)", saves=False,
        sample=Sample(shapes=((2, 2, 5, 6),), params=dict(base),
                      variants=(dict(other), {"kernel_size": (2, 2), "dilation": (2, 1),
                                              "padding": (0, 1), "stride": (1, 2)})),
        torch="nn.functional.unfold", jvp=unfold_jvp,
        doc="im2col: the sliding blocks of (N, C, H, W) as the columns of (N, C·kh·kw, L).")
    fold = defop(
        "fold", _fold_forward, fold_vjp,
        "x = fold(cols): scatter-add each column back onto its block (col2im): "
        "δcols = unfold(δ)", saves=False,
        sample=Sample(shapes=((2, 12, 9),), params={"output_size": (4, 5), **base},
                      variants=({"output_size": (6, 5), **other},)),
        torch="nn.functional.fold", jvp=fold_jvp,
        doc="col2im: (N, C·kh·kw, L) columns summed onto an (N, C, H, W) image; unfold's "
            "adjoint.")
    return unfold, fold


unfold, fold = _make_fold_ops()


# --------------------------------------------------------------------------- max pooling

def _pool_geometry(sp: tuple, k: tuple, s: tuple, p: tuple, d: tuple,
                   ceil_mode: bool) -> tuple[tuple, tuple]:
    """Output size, and the right padding that makes every window fit (``p`` plus the ceil-mode
    overhang)."""
    out = tuple(pool_out_size(L, kk, ss, pp, dd, ceil_mode)
                for L, kk, ss, pp, dd in zip(sp, k, s, p, d))
    if any(o <= 0 for o in out):
        raise OpError(f"pool: the input's spatial size {sp} is too small for kernel {k} "
                      f"(padding {p}, dilation {d})")
    hi = tuple(max(pp, (o - 1) * ss + dd * (kk - 1) + 1 - L - pp)
               for L, o, kk, ss, pp, dd in zip(sp, out, k, s, p, d))
    return out, hi


def _pool_params(nd: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any) -> tuple:
    k = _tup(kernel_size, nd)
    s = k if stride is None or stride == () else _tup(stride, nd)
    return k, s, _tup(padding, nd), _tup(dilation, nd)


def _lowest(dtype: np.dtype) -> Any:
    return -np.inf if dtype.kind == "f" else np.iinfo(dtype).min


# The argmax of recent max_pool forwards, keyed by the output buffer; the backward reads it
# instead of searching the windows again. An entry is either the kernel offset of each
# output's maximum, or ("tiles", per-row argmax, per-window row argmax) from the separable
# search of non-overlapping windows. Entries go when the output array is freed.
_ARGMAX: dict[int, tuple[weakref.ref, Any]] = {}


def _remember(out: np.ndarray, idx: Any) -> None:
    key = id(out)
    _ARGMAX[key] = (weakref.ref(out), idx)
    weakref.finalize(out, _ARGMAX.pop, key, None)


def _tiles(sp: tuple, k: tuple, s: tuple, p: tuple, d: tuple, ceil_mode: bool) -> tuple | None:
    """The output size when the windows tile the input without overlap or padding (stride =
    kernel, any remainder dropped), the case of ``_max_pool_tiles``; else None."""
    if any(p) or any(dd != 1 for dd in d) or tuple(s) != tuple(k) or len(k) > 2:
        return None
    out = tuple(L // kk for L, kk in zip(sp, k))
    if ceil_mode and any(L % kk for L, kk in zip(sp, k)):
        return None
    return out if all(o > 0 for o in out) else None


def _running_max(views: list) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise max over ``views`` and the index of the first view that attains it."""
    # NOTE: strict '>' keeps the first maximum: ties send the gradient to the earliest
    # position of the window (row-major), as PyTorch does.
    if len(views) == 1:
        return np.array(views[0], copy=True), np.zeros(views[0].shape, dtype=np.int8)
    idx = np.greater(views[1], views[0]).view(np.int8)
    out = np.maximum(views[0], views[1])
    for j, v in enumerate(views[2:], 2):
        hit = np.greater(v, out).view(np.int8)
        np.maximum(out, v, out=out)
        idx += hit * (np.int8(j) - idx)
    return out, idx


def _spread(g: np.ndarray, which: np.ndarray, dst: list) -> None:
    """``dst[i][...] = g·[which == i]``: ``g`` sent to the chosen one of the views ``dst``
    (others get exact zeros, also from a NaN or inf in ``g``, as PyTorch's scatter)."""
    if not all_finite(g):
        for i, view in enumerate(dst):
            view[...] = np.where(which == i, g, g.dtype.type(0))
        return
    if len(dst) == 2:  # which is 0 or 1: two products instead of compares
        np.multiply(g, which, out=dst[1])
        np.subtract(g, dst[1], out=dst[0])
        return
    for i, view in enumerate(dst):
        np.multiply(g, which == i, out=view)


def _tile_views(a: np.ndarray, k: int, n: int, axis: int) -> list[np.ndarray]:
    """The ``k`` strided views of ``a`` along ``axis`` (counted from the end) that hold the
    first, second, ... entry of each of ``n`` consecutive tiles of ``k``."""
    lead = (slice(None),) * (a.ndim + axis)
    return [a[lead + (slice(j, n * k, k),)] for j in range(k)]


def _max_pool_tiles(x: np.ndarray, k: tuple, out_sp: tuple) -> tuple[np.ndarray, tuple]:
    """Max pooling of non-overlapping windows, separably: first over the columns of each
    window row, then over the window's rows. The two argmaxes (column within each row, then
    row) give the same first maximum as a row-major search. All on strided views, which
    NumPy walks in memory order: in any layout (the channels-inner one of ``_conv_hwnc``
    gives loops over N·C values) the result keeps the input's layout."""
    nd = len(k)
    xs = x[(Ellipsis,) + tuple(slice(0, o * kk) for o, kk in zip(out_sp, k))]
    m, col = _running_max(_tile_views(xs, k[-1], out_sp[-1], -1))
    if nd == 1:
        return m, (col,)
    m2, row = _running_max(_tile_views(m, k[0], out_sp[0], -2))
    return m2, (col, row)


def _laid_out_as(a: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``a`` in the memory layout of ``ref`` (same shape), copied if it is not: the loops over
    mixed layouts run along short runs, several times slower than one transposing copy."""
    res = np.empty_like(ref, dtype=a.dtype)
    if res.strides == a.strides:
        return a
    res[...] = a
    return res


def _route_tiles(g: np.ndarray, bits: tuple, like: np.ndarray, k: tuple) -> np.ndarray:
    """The backward of ``_max_pool_tiles``: each window's gradient to its maximum's row, then
    within that row to its column. The result has the shape and layout of ``like`` (the
    input)."""
    nd = len(k)
    out_sp = g.shape[g.ndim - nd:]
    col = bits[0]
    g = _laid_out_as(g, bits[-1])
    if nd == 2:
        g1 = np.empty_like(col, dtype=g.dtype)  # (..., oh·kh, ow), laid out as the input
        _spread(g, bits[1], _tile_views(g1, k[0], out_sp[0], -2))
    else:
        g1 = g
    tiled = all(o * kk == L for o, kk, L in zip(out_sp, k, like.shape[like.ndim - nd:]))
    gx = (np.empty_like if tiled else np.zeros_like)(like, dtype=g.dtype)
    gs = gx[(Ellipsis,) + tuple(slice(0, o * kk) for o, kk in zip(out_sp, k))]
    _spread(g1, col, _tile_views(gs, k[-1], out_sp[-1], -1))
    return gx


def _tile_offsets(bits: tuple, k: tuple) -> np.ndarray:
    """The row-major kernel offset of each window's maximum, from the separable argmax."""
    col = bits[0]
    if len(k) == 1:
        return col
    row = bits[1]
    chosen = np.zeros(row.shape, dtype=np.int8)
    for i, cols in enumerate(_tile_views(col, k[0], row.shape[-2], -2)):
        chosen += (row == i) * cols
    return row * np.int8(k[1]) + chosen


def _max_pool_search(x: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple, ceil_mode: bool,
                     want_index: bool) -> tuple[np.ndarray, np.ndarray | None]:
    out_sp, hi = _pool_geometry(x.shape[x.ndim - len(k):], k, s, p, d, ceil_mode)
    xp = _pad(x, p, hi, _lowest(x.dtype))
    out: np.ndarray | None = None
    idx: np.ndarray | None = None
    kk = math.prod(k)
    itype: Any = np.int8 if kk < 127 else np.int16 if kk < 32000 else np.int32
    mask: Any = None
    for j, offs in enumerate(itertools.product(*(range(a) for a in k))):
        v = _offset_view(xp, offs, out_sp, s, d)
        if out is None:
            out = v.copy()
            if want_index:
                idx = np.zeros(out.shape, dtype=itype)
                mask = np.empty(out.shape, dtype=bool)
            continue
        if idx is not None:
            # NOTE: strict '>' keeps the first maximum of a window: ties send the whole
            # gradient to the earliest position (row-major within the window), as PyTorch does.
            np.greater(v, out, out=mask)
            idx += mask.view(np.int8).astype(itype, copy=False) * (itype(j) - idx)
        np.maximum(out, v, out=out)
    assert out is not None
    if idx is not None and out.dtype.kind == "f":
        _mend_nan_argmax(out, idx, xp, k, out_sp, s, d)
    return out, idx


def _mend_nan_argmax(out: np.ndarray, idx: np.ndarray, xp: np.ndarray, k: tuple, out_sp: tuple,
                     s: tuple, d: tuple) -> None:
    """Point the argmax of each window whose maximum is NaN at the window's last NaN, as
    PyTorch (its scan takes every NaN it meets). ``np.greater`` never picks a NaN, so the
    search alone would keep the best number before it; this pass costs one ``isnan`` of the
    output when there is no NaN."""
    nan_out = np.isnan(out)
    if not nan_out.any():
        return
    for j, offs in enumerate(itertools.product(*(range(a) for a in k))):
        idx[nan_out & np.isnan(_offset_view(xp, offs, out_sp, s, d))] = j


def max_pool_argmax(out: Any, x: Any, nd: int, kernel_size: Any, stride: Any = None,
                    padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False) -> np.ndarray:
    """For each output element, the kernel offset (row-major in the window) of its maximum."""
    od: Any = out.data if _is_tensor(out) else out
    xd: Any = x.data if _is_tensor(x) else x
    k, s, p, d = _pool_params(nd, kernel_size, stride, padding, dilation)
    hit = _ARGMAX.get(id(od)) if od is not None else None
    if hit is not None and hit[0]() is od:
        idx = hit[1]
        if not isinstance(idx, tuple):
            return idx
        return _tile_offsets(idx[1:], k)
    return _max_pool_search(xd, k, s, p, d, ceil_mode, want_index=True)[1]  # type: ignore


def _route(g: np.ndarray, index: np.ndarray | None, input_size: tuple, k: tuple, s: tuple, p: tuple,
           d: tuple, ceil_mode: bool, divide: Any = None) -> np.ndarray:
    """Scatter-add each window's value to the input: to the argmax offset (``index``) or, for
    average pooling (``index`` None), to every position of the window."""
    out_sp, hi = _pool_geometry(input_size, k, s, p, d, ceil_mode)
    lead = g.shape[: g.ndim - len(k)]
    padded = tuple(L + a + b for L, a, b in zip(input_size, p, hi))
    ext = tuple(dd * (kk - 1) + 1 for kk, dd in zip(k, d))
    # windows that tile the input exactly: each position is written once, no zero fill
    exact = not any(p) and all(ss == e and o * ss == L for ss, e, o, L in
                               zip(s, ext, out_sp, input_size)) and index is not None
    buf = (np.empty if exact else np.zeros)(lead + padded, dtype=g.dtype)
    if divide is not None:
        g = g / divide
    # (g·[index == j] would give a NaN or inf in g to the window's other positions too)
    masked = index is not None and not all_finite(g)
    for j, offs in enumerate(itertools.product(*(range(a) for a in k))):
        view = _offset_view(buf, offs, out_sp, s, d)
        if index is None:
            view += g
        elif masked:
            picked = np.where(index == j, g, g.dtype.type(0))
            if exact:
                view[...] = picked
            else:
                view += picked
        elif exact:
            np.multiply(g, index == j, out=view)
        else:
            view += g * (index == j)
    return _crop(buf, p, input_size)


def _gather(gx: np.ndarray, index: np.ndarray, k: tuple, s: tuple, p: tuple, d: tuple,
            ceil_mode: bool) -> np.ndarray:
    """Each output's value read at its argmax offset: the adjoint of ``_route``."""
    out_sp, hi = _pool_geometry(gx.shape[gx.ndim - len(k):], k, s, p, d, ceil_mode)
    buf = _pad(gx, p, hi)
    res = np.zeros(gx.shape[: gx.ndim - len(k)] + out_sp, dtype=gx.dtype)
    for j, offs in enumerate(itertools.product(*(range(a) for a in k))):
        res += _offset_view(buf, offs, out_sp, s, d) * (index == j)
    return res


def _make_max_pool_ops(nd: int) -> tuple[Op, Op, Op]:
    def forward(x: np.ndarray, kernel_size: Any, stride: Any = None, padding: Any = 0,
                dilation: Any = 1, ceil_mode: bool = False) -> np.ndarray:
        k, s, p, d = _pool_params(nd, kernel_size, stride, padding, dilation)
        tiles = _tiles(x.shape[x.ndim - nd:], k, s, p, d, ceil_mode)
        if tiles is not None and x.dtype.kind == "f":
            out, bits = _max_pool_tiles(x, k, tiles)
            if not STATE.grad_enabled:
                return out
            if not np.isnan(out).any():  # (a NaN's argmax is the search's, which mends it)
                _remember(out, ("tiles",) + bits)
                return out
        out, idx = _max_pool_search(x, k, s, p, d, ceil_mode, want_index=STATE.grad_enabled)
        if idx is not None:
            _remember(out, idx)
        return out

    def scatter_forward(g: np.ndarray, index: np.ndarray, input_size: tuple, kernel_size: Any,
                        stride: Any = None, padding: Any = 0, dilation: Any = 1,
                        ceil_mode: bool = False) -> np.ndarray:
        k, s, p, d = _pool_params(nd, kernel_size, stride, padding, dilation)
        return _route(g, index, tuple(input_size), k, s, p, d, ceil_mode)

    def gather_forward(gx: np.ndarray, index: np.ndarray, kernel_size: Any, stride: Any = None,
                       padding: Any = 0, dilation: Any = 1, ceil_mode: bool = False) -> np.ndarray:
        k, s, p, d = _pool_params(nd, kernel_size, stride, padding, dilation)
        return _gather(gx, index, k, s, p, d, ceil_mode)

    def scatter_vjp(gg: Any, out: Any, g: Any, index: np.ndarray, input_size: tuple,
                    **kw: Any) -> Any:
        return _call(gather, gg, index=index, **kw)

    def scatter_jvp(t: Any, out: Any, g: Any, index: np.ndarray, input_size: tuple,
                    **kw: Any) -> Any:
        return _call(scatter, t, index=index, input_size=input_size, **kw)

    def gather_vjp(gg: Any, out: Any, gx: Any, index: np.ndarray, **kw: Any) -> Any:
        return _call(scatter, gg, index=index, input_size=tuple(gx.shape[gx.ndim - nd:]), **kw)

    def gather_jvp(t: Any, out: Any, gx: Any, index: np.ndarray, **kw: Any) -> Any:
        return _call(gather, t, index=index, **kw)

    def pool_vjp(g: Any, out: Any, x: Any, **kw: Any) -> Any:
        if not _is_tensor(g):  # plain backward: the separable search's own route, if any
            hit = _ARGMAX.get(id(out))
            if hit is not None and hit[0]() is out and isinstance(hit[1], tuple):
                k = _pool_params(nd, kw["kernel_size"], kw.get("stride"), 0, 1)[0]
                return _route_tiles(g, hit[1][1:], x.data if _is_tensor(x) else x, k)
        index = max_pool_argmax(out, x, nd, **kw)
        return _call(scatter, g, index=index, input_size=tuple(x.shape[2:]), **kw)

    def pool_jvp(t: Any, out: Any, x: Any, **kw: Any) -> Any:
        return _call(gather, t, index=max_pool_argmax(out, x, nd, **kw), **kw)

    k2 = (2,) * nd
    if nd == 3:
        idx = np.array([0, 7, 3, 5, 1, 6], dtype=np.int8).reshape(1, 1, 1, 2, 3)
    else:
        idx = np.array([[[0, 1, 1], [3, 2, 0]]] if nd == 2 else [[[0, 1, 0]]], dtype=np.int8)
    if nd == 2:
        idx = idx.reshape(1, 1, 2, 3)
    isize = {1: (6,), 2: (4, 6), 3: (2, 4, 6)}[nd]
    common = {"kernel_size": k2, "stride": k2, "padding": (0,) * nd, "dilation": (1,) * nd,
              "ceil_mode": False}
    scatter = defop(
        f"max_pool{nd}d_scatter", scatter_forward, scatter_vjp,
        "route δ to each window's argmax: δ' = gather at the argmax", saves=False,
        sample=Sample(shapes=((1, 1) + idx.shape[2:],),
                      params={"index": idx, "input_size": isize, **common}),
        jvp=scatter_jvp, doc=f"The backward of max_pool{nd}d: each window's gradient to its "
                             "argmax.")
    gather = defop(
        f"max_pool{nd}d_gather", gather_forward, gather_vjp,
        "read each window at its argmax: δ' = route δ to the argmax", saves=False,
        sample=Sample(shapes=((1, 1) + isize,), params={"index": idx, **common}),
        jvp=gather_jvp, doc="Each window's value at a given offset (the adjoint of the "
                            "scatter).")
    variants = ({"kernel_size": (3,) * nd, "stride": (2,) * nd, "padding": (1,) * nd,
                 "dilation": (1,) * nd, "ceil_mode": True},
                {"kernel_size": k2, "stride": (1,) * nd, "padding": (0,) * nd,
                 "dilation": (2,) * nd, "ceil_mode": False})
    pool = defop(
        f"max_pool{nd}d", forward, pool_vjp,
        "y = max over the window: ∂y/∂x = 1 at the window's first maximum, else 0",
        saves_output=True,
        sample=Sample(shapes=((2, 2) + {1: (7,), 2: (5, 6), 3: (3, 5, 4)}[nd],),
                      params=dict(common),
                      variants=variants),
        torch=f"max_pool{nd}d", jvp=pool_jvp,
        doc=f"{nd}-D max pooling (kernel, stride, padding, dilation, ceil_mode).")
    return pool, scatter, gather


max_pool1d, max_pool1d_scatter, max_pool1d_gather = _make_max_pool_ops(1)
max_pool2d, max_pool2d_scatter, max_pool2d_gather = _make_max_pool_ops(2)
max_pool3d, max_pool3d_scatter, max_pool3d_gather = _make_max_pool_ops(3)


# --------------------------------------------------------------------------- average pooling

def _avg_divisor(sp: tuple, out_sp: tuple, k: tuple, s: tuple, p: tuple, count_include_pad: bool,
                 divisor_override: Any, dtype: np.dtype) -> Any:
    """The divisor of each output position (PyTorch's: the window clipped to the padded input,
    or to the input itself when padding is not counted)."""
    if divisor_override:
        return dtype.type(divisor_override)
    counts = []
    for L, o, kk, ss, pp in zip(sp, out_sp, k, s, p):
        start = np.arange(o) * ss - pp
        end = np.minimum(start + kk, L + pp)
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, L)
        counts.append(end - start)
    div = counts[0]
    for c in counts[1:]:
        div = np.multiply.outer(div, c)
    div = np.asarray(div, dtype=dtype)
    return div if div.size > 1 and (div != div.flat[0]).any() else dtype.type(div.flat[0])


def _make_avg_pool_ops(nd: int) -> tuple[Op, Op]:
    def geometry(sp: tuple, kernel_size: Any, stride: Any, padding: Any,
                 ceil_mode: bool) -> tuple:
        k, s, p, d = _pool_params(nd, kernel_size, stride, padding, 1)
        out_sp, hi = _pool_geometry(sp, k, s, p, d, ceil_mode)
        return k, s, p, d, out_sp, hi

    def forward(x: np.ndarray, kernel_size: Any, stride: Any = None, padding: Any = 0,
                ceil_mode: bool = False, count_include_pad: bool = True,
                divisor_override: Any = None) -> np.ndarray:
        sp = x.shape[x.ndim - nd:]
        k, s, p, d, out_sp, hi = geometry(sp, kernel_size, stride, padding, ceil_mode)
        xp = _pad(x, p, hi)
        acc: Any = None
        for offs in itertools.product(*(range(a) for a in k)):
            v = _offset_view(xp, offs, out_sp, s, d)
            acc = v.copy() if acc is None else np.add(acc, v, out=acc)
        dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        div = _avg_divisor(sp, out_sp, k, s, p, count_include_pad, divisor_override, dt)
        return np.divide(acc, div, out=acc) if acc.dtype == dt else acc / div

    def scatter_forward(g: np.ndarray, input_size: tuple, kernel_size: Any, stride: Any = None,
                        padding: Any = 0, ceil_mode: bool = False,
                        count_include_pad: bool = True,
                        divisor_override: Any = None) -> np.ndarray:
        k, s, p, d, out_sp, hi = geometry(tuple(input_size), kernel_size, stride, padding,
                                          ceil_mode)
        div = _avg_divisor(tuple(input_size), out_sp, k, s, p, count_include_pad,
                           divisor_override, g.dtype)
        return np.ascontiguousarray(
            _route(g, None, tuple(input_size), k, s, p, d, ceil_mode, divide=div))

    def pool_vjp(g: Any, out: Any, x: Any, **kw: Any) -> Any:
        return _call(scatter, g, input_size=tuple(x.shape[x.ndim - nd:]), **kw)

    def pool_jvp(t: Any, out: Any, x: Any, **kw: Any) -> Any:
        return _call(pool, t, **kw)

    def scatter_vjp(gg: Any, out: Any, g: Any, input_size: tuple, **kw: Any) -> Any:
        return _call(pool, gg, **kw)

    def scatter_jvp(t: Any, out: Any, g: Any, input_size: tuple, **kw: Any) -> Any:
        return _call(scatter, t, input_size=input_size, **kw)

    base: dict[str, Any] = {"kernel_size": (2,) * nd, "stride": (2,) * nd,
                            "padding": (0,) * nd, "ceil_mode": False, "count_include_pad": True}
    var: tuple[dict[str, Any], ...] = (
        {"kernel_size": (3,) * nd, "stride": (2,) * nd, "padding": (1,) * nd,
         "ceil_mode": True, "count_include_pad": False},
        {"kernel_size": (3,) * nd, "stride": (1,) * nd, "padding": (1,) * nd,
         "ceil_mode": False, "count_include_pad": True})
    if nd >= 2:  # (PyTorch's avg_pool1d has no divisor_override)
        var += ({"kernel_size": (3,) * nd, "stride": (2,) * nd, "padding": (1,) * nd,
                 "ceil_mode": False, "count_include_pad": True, "divisor_override": 5},)
    pool = defop(
        f"avg_pool{nd}d", forward, pool_vjp,
        "y = Σ_window x / count: ∂y/∂x = 1/count for each position of the window",
        saves=False, sample=Sample(shapes=((2, 2) + {1: (7,), 2: (5, 6), 3: (3, 5, 4)}[nd],),
                                   params=dict(base), variants=var),
        torch=f"avg_pool{nd}d" if nd == 1 else f"nn.functional.avg_pool{nd}d", jvp=pool_jvp,
        doc=f"{nd}-D average pooling.")
    out_sp = {1: (3,), 2: (2, 3), 3: (1, 2, 3)}[nd]
    scatter = defop(
        f"avg_pool{nd}d_scatter", scatter_forward, scatter_vjp,
        "spread δ/count over each window: δ' = avg_pool(δ)", saves=False,
        sample=Sample(shapes=((1, 2) + out_sp,),
                      params={"input_size": {1: (6,), 2: (4, 6), 3: (2, 4, 6)}[nd], **base}),
        jvp=scatter_jvp, doc=f"The backward of avg_pool{nd}d.")
    return pool, scatter


avg_pool1d, avg_pool1d_scatter = _make_avg_pool_ops(1)
avg_pool2d, avg_pool2d_scatter = _make_avg_pool_ops(2)
avg_pool3d, avg_pool3d_scatter = _make_avg_pool_ops(3)


# --------------------------------------------------------------------------- adaptive pooling

def adaptive_matrix(size: int, out: int, dtype: Any = np.float64) -> np.ndarray:
    """The ``(out, size)`` averaging matrix of adaptive pooling: row i averages the inputs
    ``floor(i·L/out) ≤ j < ceil((i+1)·L/out)``."""
    i = np.arange(out)
    start = (i * size) // out
    end = -((-(i + 1) * size) // out)
    j = np.arange(size)
    hit = (j >= start[:, None]) & (j < end[:, None])
    return (hit / (end - start)[:, None]).astype(dtype)


def _adaptive_matrix(sp: tuple, output_size: tuple, dtype: Any) -> np.ndarray:
    """The ``(∏out, ∏in)`` matrix of the whole adaptive pooling (Kronecker product of the
    per-dim averaging matrices)."""
    m = adaptive_matrix(sp[0], output_size[0], dtype)
    for L, o in zip(sp[1:], output_size[1:]):
        m = np.kron(m, adaptive_matrix(L, o, dtype))
    return m


@functools.lru_cache(maxsize=64)
def _adaptive_matrix_cached(sp: tuple, output_size: tuple, dtype: str) -> np.ndarray:
    m = _adaptive_matrix(sp, output_size, np.dtype(dtype))
    m.flags.writeable = False
    return m


def _make_adaptive_avg_pool(nd: int) -> Op:
    def forward(x: np.ndarray, output_size: tuple) -> np.ndarray:
        if x.dtype.kind != "f":  # averages of integers are fractions (as in avg_pool)
            x = x.astype(np.float64)
        sp = x.shape[x.ndim - nd:]
        lead = x.shape[: x.ndim - nd]
        m = _adaptive_matrix_cached(sp, tuple(output_size), x.dtype.str)
        return (x.reshape(lead + (m.shape[1],)) @ m.T).reshape(lead + tuple(output_size))

    def vjp(g: Any, out: Any, x: Any, output_size: tuple) -> Any:
        sp = tuple(x.shape[x.ndim - nd:])
        lead = tuple(g.shape[: g.ndim - nd])
        m = _adaptive_matrix_cached(sp, tuple(output_size), g.dtype.str)
        return (g.reshape(lead + (m.shape[0],)) @ m).reshape(lead + sp)

    def jvp(t: Any, out: Any, x: Any, output_size: tuple) -> Any:
        sp = tuple(x.shape[x.ndim - nd:])
        lead = tuple(t.shape[: t.ndim - nd])
        m = _adaptive_matrix_cached(sp, tuple(output_size), t.dtype.str)
        return (t.reshape(lead + (m.shape[1],)) @ m.T).reshape(lead + tuple(output_size))

    return defop(
        f"adaptive_avg_pool{nd}d", forward, vjp,
        "y = A x (A averages the adaptive bins): δx = Aᵀ δ", saves=False,
        sample=Sample(shapes=((2, 2) + {1: (7,), 2: (5, 7), 3: (3, 5, 4)}[nd],),
                      params={"output_size": {1: (3,), 2: (3, 2), 3: (2, 3, 2)}[nd]},
                      variants=({"output_size": (1,) * nd},)),
        torch=f"adaptive_avg_pool{nd}d" if nd == 1 else f"nn.functional.adaptive_avg_pool{nd}d",
        jvp=jvp, doc=f"{nd}-D adaptive average pooling.")


adaptive_avg_pool1d = _make_adaptive_avg_pool(1)
adaptive_avg_pool2d = _make_adaptive_avg_pool(2)
adaptive_avg_pool3d = _make_adaptive_avg_pool(3)
