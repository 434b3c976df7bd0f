"""Recurrent cells and layers: ``rnn_tanh_cell``, ``rnn_relu_cell``, ``lstm_cell``,
``gru_cell`` (one time step, composed from ops), and ``rnn_tanh``, ``rnn_relu``, ``lstm``,
``gru`` (whole multi-layer, optionally bidirectional networks, PyTorch's ``_VF`` signatures).

The layer functions project the inputs of all time steps with one matmul and run the
recurrence as one fused op per layer and direction (``chainrule/ops/recurrent.py``);
``fused=False`` runs the cells step by step instead (the reference the tests compare with;
also the path for LSTM projections). With ``lengths`` they run a padded batch of
variable-length sequences (what the layers do with a ``PackedSequence``).

Gate order as in PyTorch: LSTM (i, f, g, o), GRU (r, z, n) with
n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).

>>> import chainrule as cr
>>> x, h = cr.randn(3, 4), cr.zeros(3, 5)
>>> w_ih, w_hh = cr.randn(5, 4), cr.randn(5, 5)
>>> cr.nn.functional.rnn_tanh_cell(x, h, w_ih, w_hh).shape
(3, 5)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ... import functional as F
from ...ops import recurrent as R
from ...tensor import Tensor
from .dropout import dropout as _dropout
from .linear import linear

__all__ = ["rnn_tanh_cell", "rnn_relu_cell", "lstm_cell", "gru_cell", "rnn_tanh", "rnn_relu",
           "lstm", "gru"]


def rnn_tanh_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
                  b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One Elman step: h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)."""
    return F.tanh(linear(input, w_ih, b_ih) + linear(hx, w_hh, b_hh))


def rnn_relu_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
                  b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One Elman step with ReLU: h' = relu(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh)."""
    return F.relu(linear(input, w_ih, b_ih) + linear(hx, w_hh, b_hh))


def lstm_cell(input: Tensor, hx: Sequence[Tensor], w_ih: Tensor, w_hh: Tensor,
              b_ih: Tensor | None = None, b_hh: Tensor | None = None,
              w_hr: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step: (i, f, g, o) = (σ, σ, tanh, σ)(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh),
    c' = f⊙c + i⊙g, h' = o⊙tanh(c') (times W_hrᵀ with a projection). Returns (h', c')."""
    h, c = hx
    gates = linear(input, w_ih, b_ih) + linear(h, w_hh, b_hh)
    i, f, g, o = F.chunk(gates, 4, -1)
    c2 = F.sigmoid(f) * c + F.sigmoid(i) * F.tanh(g)
    h2 = F.sigmoid(o) * F.tanh(c2)
    if w_hr is not None:
        h2 = linear(h2, w_hr)
    return h2, c2


def gru_cell(input: Tensor, hx: Tensor, w_ih: Tensor, w_hh: Tensor,
             b_ih: Tensor | None = None, b_hh: Tensor | None = None) -> Tensor:
    """One GRU step: r = σ(W_ir x + b_ir + W_hr h + b_hr), z likewise,
    n = tanh(W_in x + b_in + r⊙(W_hn h + b_hn)), h' = (1 - z)⊙n + z⊙h."""
    ir, iz, in_ = F.chunk(linear(input, w_ih, b_ih), 3, -1)
    hr, hz, hn = F.chunk(linear(hx, w_hh, b_hh), 3, -1)
    r = F.sigmoid(ir + hr)
    z = F.sigmoid(iz + hz)
    n = F.tanh(in_ + r * hn)
    return n + z * (hx - n)


# --------------------------------------------------------------------------- layers

def _project(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """The input projection of all time steps as one 2-D GEMM: (T, B, in) -> (T, B, G·H)."""
    steps, batch, size = x.shape
    y = linear(F.reshape(x, (steps * batch, size)), w, b)
    return F.reshape(y, (steps, batch, y.shape[-1]))


def _run_layer(mode: str, x: Tensor, state: tuple, w: list, fused: bool,
               last: tuple | None = None) -> tuple:
    """One layer in one direction over ``x`` (T, B, in): ``(outputs (T, B, H), final
    state tuple)``. ``last`` (the key ``(lengths - 1, batch index)``) takes each sequence's
    final state at its own last step instead of at step T-1 (the step-by-step path freezes
    each sequence's state past that step instead)."""
    w_ih, w_hh, b_ih, b_hh, w_hr = w
    end: Any = -1 if last is None else last
    # With lengths, the fused scans run on past each sequence's end. That is harmless for the
    # bounded cells, but a ReLU RNN's state can grow without bound over the padding (to inf
    # in float32, making NaN gradients for w_hh from 0·inf): it runs step by step, frozen.
    unbounded = mode == "RNN_RELU" and last is not None
    if fused and w_hr is None and not unbounded:
        if mode == "GRU":
            out = R.gru_scan(_project(x, w_ih, b_ih), state[0], w_hh, b_hh)
            return out, (out[end],)
        bias = None if b_ih is None else b_ih + b_hh
        if mode == "LSTM":
            both = R.lstm_scan(_project(x, w_ih, bias), state[0], state[1], w_hh)
            hsz = w_hh.shape[1]
            if last is None:
                return both[..., :hsz], (both[-1, :, :hsz], both[-1, :, hsz:])
            fin = both[last]
            return both[..., :hsz], (fin[:, :hsz], fin[:, hsz:])
        # the scan adds the bias step by step, cheaper than adding it to the projection
        out = R.rnn_scan(_project(x, w_ih, None), state[0], w_hh, bias,
                         nonlinearity="tanh" if mode == "RNN_TANH" else "relu")
        return out, (out[end],)
    outs = []
    new: tuple
    st = state
    for t in range(x.shape[0]):
        xt = x[t]
        if mode == "LSTM":
            new = lstm_cell(xt, st, w_ih, w_hh, b_ih, b_hh, w_hr)
        elif mode == "GRU":
            new = (gru_cell(xt, st[0], w_ih, w_hh, b_ih, b_hh),)
        else:
            cell = rnn_tanh_cell if mode == "RNN_TANH" else rnn_relu_cell
            new = (cell(xt, st[0], w_ih, w_hh, b_ih, b_hh),)
        if last is None:
            st = tuple(new)
        else:  # a sequence past its end keeps its final state (so st ends as the finals)
            running = (t <= last[0])[:, None]
            st = tuple(F.where(running, a, b) for a, b in zip(new, st))
        outs.append(st[0])
    return F.stack(outs, 0), tuple(st)


def _within_lengths(lengths: Any, steps: int, batch: int, mode: str) -> tuple:
    """For sequences of the given lengths in a (T, B, ·) batch: the key of each one's last
    step, and the key that reverses each within its own length (x[key][t, b] =
    x[len_b - 1 - t, b] for t < len_b; the padding stays in place, so the key is its own
    inverse)."""
    lens = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if lens.shape != (batch,) or lens.dtype.kind not in "iu" or (lens < 1).any() \
            or (lens > steps).any():
        raise ValueError(f"{mode.lower()}: expected {batch} integer lengths in 1..{steps} "
                         f"(one per sequence of the batch), got {lens.tolist()}")
    cols = np.arange(batch)
    t = np.arange(steps)[:, None]
    return (lens - 1, cols), (np.where(t < lens, lens - 1 - t, t), cols[None, :])


def _network(mode: str, input: Tensor, hx: Any, params: Sequence[Tensor], has_biases: bool,
             num_layers: int, dropout: float, train: bool, bidirectional: bool,
             batch_first: bool, fused: bool = True, has_proj: bool = False,
             lengths: Any = None) -> tuple:
    dirs = 2 if bidirectional else 1
    per = 2 + 2 * has_biases + has_proj
    if len(params) != num_layers * dirs * per:
        raise ValueError(f"{mode.lower()}: expected {num_layers * dirs * per} weight tensors "
                         f"for {num_layers} layer(s), {dirs} direction(s), got {len(params)}")
    x = F.transpose(input, 0, 1) if batch_first else input
    last = rev = None
    if lengths is not None:
        # each sequence ends at its own length: the forward direction runs past the end (the
        # steps before it depend only on earlier ones) and stops there; the reverse one runs
        # each sequence reversed within its length. Steps past the end hold garbage.
        last, rev = _within_lengths(lengths, x.shape[0], x.shape[1], mode)
    states = [hx] if mode != "LSTM" else list(hx)
    finals: list[list] = [[] for _ in states]
    for layer in range(num_layers):
        outs = []
        for d in range(dirs):
            k = (layer * dirs + d) * per
            ws = list(params[k:k + per])
            w_ih, w_hh = ws[0], ws[1]
            b_ih, b_hh = (ws[2], ws[3]) if has_biases else (None, None)
            w_hr = ws[-1] if has_proj else None
            st = tuple(s[layer * dirs + d] for s in states)
            if not d:
                xi = x
            else:
                xi = F.flip(x, (0,)) if rev is None else x[rev]
            out, fin = _run_layer(mode, xi, st, [w_ih, w_hh, b_ih, b_hh, w_hr], fused, last)
            if d:
                out = F.flip(out, (0,)) if rev is None else out[rev]
            outs.append(out)
            for acc, f in zip(finals, fin):
                acc.append(f)
        x = outs[0] if dirs == 1 else F.cat(outs, -1)
        if dropout and train and layer < num_layers - 1:
            x = _dropout(x, dropout, True)
    out = F.transpose(x, 0, 1) if batch_first else x
    return (out,) + tuple(F.unsqueeze(f[0], 0) if len(f) == 1 else F.stack(f, 0)
                          for f in finals)


def rnn_tanh(input: Tensor, hx: Tensor, params: Sequence[Tensor], has_biases: bool,
             num_layers: int, dropout: float, train: bool, bidirectional: bool,
             batch_first: bool, fused: bool = True, *,
             lengths: Any = None) -> tuple[Tensor, Tensor]:
    """A multi-layer Elman RNN with tanh over a batched ``input`` (T, B, in) (or (B, T, in)
    with ``batch_first``) from ``hx`` (layers·directions, B, H); ``params`` in PyTorch's
    order (per layer and direction: w_ih, w_hh[, b_ih, b_hh]). Returns (output, h_n).

    ``lengths`` (one per batch entry, each in 1..T) runs variable-length sequences padded to
    T: each direction's final state is taken at the sequence's own end (the reverse direction
    reverses each sequence within its length); outputs past a sequence's end are unspecified
    (the layers pack them away)."""
    out, h = _network("RNN_TANH", input, hx, params, has_biases, num_layers, dropout, train,
                      bidirectional, batch_first, fused, lengths=lengths)
    return out, h


def rnn_relu(input: Tensor, hx: Tensor, params: Sequence[Tensor], has_biases: bool,
             num_layers: int, dropout: float, train: bool, bidirectional: bool,
             batch_first: bool, fused: bool = True, *,
             lengths: Any = None) -> tuple[Tensor, Tensor]:
    """``rnn_tanh`` with ReLU as the nonlinearity."""
    out, h = _network("RNN_RELU", input, hx, params, has_biases, num_layers, dropout, train,
                      bidirectional, batch_first, fused, lengths=lengths)
    return out, h


def lstm(input: Tensor, hx: Sequence[Tensor], params: Sequence[Tensor], has_biases: bool,
         num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool,
         fused: bool = True, has_proj: bool = False, *,
         lengths: Any = None) -> tuple[Tensor, Tensor, Tensor]:
    """A multi-layer LSTM; ``hx = (h0, c0)``. Returns (output, h_n, c_n). With ``has_proj``
    each layer's params end with its projection ``w_hr``."""
    out, h, c = _network("LSTM", input, hx, params, has_biases, num_layers, dropout, train,
                         bidirectional, batch_first, fused, has_proj, lengths)
    return out, h, c


def gru(input: Tensor, hx: Tensor, params: Sequence[Tensor], has_biases: bool,
        num_layers: int, dropout: float, train: bool, bidirectional: bool, batch_first: bool,
        fused: bool = True, *, lengths: Any = None) -> tuple[Tensor, Tensor]:
    """A multi-layer GRU. Returns (output, h_n)."""
    out, h = _network("GRU", input, hx, params, has_biases, num_layers, dropout, train,
                      bidirectional, batch_first, fused, lengths=lengths)
    return out, h
