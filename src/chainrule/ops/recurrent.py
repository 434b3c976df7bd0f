"""Fused recurrent layers: the whole time loop of one RNN, LSTM or GRU layer as one op.

A per-step composition records a dozen graph nodes per time step; these ops record one node
per layer. The input projection of every time step, ``xp = x·W_ihᵀ + b``, is one matmul
outside (an ordinary op); the op runs the recurrence in NumPy, and its VJP is
backpropagation through time: one reverse loop for the recurrent gradients (a ``(B, H)``
matmul per step), then one GEMM over all time steps for ``∂ℒ/∂W_hh``. The gates are
recomputed from the saved hidden states with one GEMM instead of being stored.

The rules use operators and NumPy functions only, so on Tensors (``create_graph=True``) the
same loop is recorded and differentiates again. The per-step composites in
``nn.functional.recurrent`` (``rnn_tanh_cell``, ``lstm_cell``, ``gru_cell``) are the
reference the tests hold these against.

Layouts: ``xp`` is ``(T, B, G·H)`` (time first), states ``(B, H)``, ``W_hh`` ``(G·H, H)``
with PyTorch's gate order (LSTM i, f, g, o; GRU r, z, n).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .registry import OpError, Sample, defop


def _sig(z: Any) -> Any:
    """σ(z) = ½(1 + tanh(z/2)): one tanh, stable for any z, on arrays and Tensors."""
    return 0.5 + 0.5 * np.tanh(0.5 * z)


def _is_tensor(x: Any) -> bool:
    return hasattr(x, "grad_fn")


def _prev(first: Any, seq: Any) -> Any:
    """``[first, seq[0], ..., seq[T-2]]``: the state entering each time step."""
    return np.concatenate([first[None], seq[:-1]], axis=0)


def _stack(items: list) -> Any:
    return np.stack(items, axis=0)


def _check(name: str, xp: np.ndarray, states: tuple, w: np.ndarray, gates: int) -> int:
    if xp.ndim != 3 or w.ndim != 2:
        raise OpError(f"{name}: expected xp (T, B, {gates}·H) and W_hh ({gates}·H, H), got "
                      f"{xp.shape} and {w.shape}")
    hsz = w.shape[1]
    if w.shape[0] != gates * hsz or xp.shape[2] != gates * hsz:
        raise OpError(f"{name}: W_hh of shape {w.shape} and xp of shape {xp.shape} do not "
                      f"match {gates} gates of hidden size {hsz}")
    for s in states:
        if s.shape != (xp.shape[1], hsz):
            raise OpError(f"{name}: state of shape {s.shape}, expected {(xp.shape[1], hsz)}")
    return hsz


class _Memo:
    """The backward loop of the last node: its rules (one per input) share it. Holding the
    arguments keeps their ids from being reused while the entry lives."""

    key: tuple = ()
    params: dict = {}
    value: Any = None


def _memo(fn: Any, g: Any, out: Any, *args: Any, **params: Any) -> Any:
    key = (fn, g, out) + args
    old = _Memo.key
    if len(old) == len(key) and all(a is b for a, b in zip(old, key)) and _Memo.params == params:
        return _Memo.value
    _Memo.value = fn(g, out, *args, **params)
    _Memo.key, _Memo.params = key, params
    return _Memo.value


# --------------------------------------------------------------------------- Elman RNN

def _rnn_forward(xp: np.ndarray, h0: np.ndarray, w: np.ndarray, b: Any = None,
                 nonlinearity: str = "tanh") -> np.ndarray:
    _check("rnn_scan", xp, (h0,), w, 1)
    dt = np.result_type(xp, h0, w)
    out = np.empty(xp.shape, dtype=dt)
    wt = np.ascontiguousarray(w.T, dtype=dt)  # BLAS is ~2x faster on a C-ordered operand
    h = np.ascontiguousarray(h0, dtype=dt)
    # (the loop is ~10 µs a step at these sizes, so its Python overhead counts: the
    # per-step views are made once by iterating, the functions bound to locals)
    dot, add = np.dot, np.add
    act = np.tanh if nonlinearity == "tanh" else _relu_into
    for o, x in zip(out, xp):
        dot(h, wt, out=o)
        add(o, x, out=o)
        if b is not None:
            # (per step: ~25 µs over 50 steps, where `xp += b` on the whole projection
            # costs ~60 µs, a broadcast pass over a GEMM output still in the other core's cache)
            add(o, b, out=o)
        act(o, out=o)
        h = o
    return out


def _relu_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0, out=out)


def _rnn_slope(out: Any, nonlinearity: str) -> Any:
    # NOTE: relu'(0) = 0 (the state is 0 there), as for cr.relu.
    return 1 - out * out if nonlinearity == "tanh" else np.sign(out)


def _fed_steps(g: np.ndarray) -> list:
    """Which steps of ``g`` have a nonzero entry. A max over the bit patterns: it reads ``g``
    in place whatever its strides (``g`` is often a transposed view, which a reshape would
    copy) and is ~1.5x faster than ``any`` on floats; -0.0 counts as fed, which is harmless."""
    bits = g.view(np.dtype(f"u{g.itemsize}"))
    return bits.max(axis=tuple(range(1, g.ndim)), initial=0).astype(bool).tolist()


def _rnn_bptt(g: Any, out: Any, h0: Any, w: Any, nonlinearity: str) -> tuple:
    """``(∂ℒ/∂z for every step, ∂ℒ/∂h0)`` where h_t = f(z_t)."""
    if not (_is_tensor(g) or _is_tensor(out) or _is_tensor(w)):  # in place, on arrays
        dz_all = np.empty(out.shape, dtype=np.result_type(g, out, w))
        wc = np.ascontiguousarray(w, dtype=dz_all.dtype)
        dh = np.empty(out.shape[1:], dtype=dz_all.dtype)
        # f'(z_t) for every step at once (1 - h² for tanh), so each step is add, multiply, GEMM
        slope = np.multiply(out, out, dtype=dz_all.dtype)
        if nonlinearity == "tanh":
            np.subtract(1, slope, out=slope)
        else:
            np.greater(out, 0, out=slope, casting="unsafe")
        # Steps whose outputs the loss doesn't read (all but the last, for a classifier on
        # the final state) get a zero upstream gradient: skip adding it.
        fed = _fed_steps(g)
        dot, mul, add = np.dot, np.multiply, np.add
        steps = list(zip(range(out.shape[0]), dz_all, g, slope))[::-1]
        (_, d, gt, st), rest = steps[0], steps[1:]
        mul(gt, st, out=d)  # the last step: no gradient from later steps
        dot(d, wc, out=dh)
        for t, d, gt, st in rest:
            if fed[t]:
                add(gt, dh, out=dh)  # (dh is the previous step's GEMM output: ours)
            mul(dh, st, out=d)
            dot(d, wc, out=dh)
        return dz_all, dh
    slope = _rnn_slope(out, nonlinearity)
    dzs: list = [None] * out.shape[0]
    dprev: Any = None
    for t in range(out.shape[0] - 1, -1, -1):
        dz = (g[t] if dprev is None else g[t] + dprev) * slope[t]
        dzs[t] = dz
        dprev = dz @ w
    return _stack(dzs), dprev


def _rnn_vjp_xp(g: Any, out: Any, xp: Any, h0: Any, w: Any, b: Any = None,
                nonlinearity: str = "tanh") -> Any:
    return _memo(_rnn_bptt, g, out, h0, w, nonlinearity=nonlinearity)[0]


def _rnn_vjp_h0(g: Any, out: Any, xp: Any, h0: Any, w: Any, b: Any = None,
                nonlinearity: str = "tanh") -> Any:
    return _memo(_rnn_bptt, g, out, h0, w, nonlinearity=nonlinearity)[1]


def _rnn_vjp_w(g: Any, out: Any, xp: Any, h0: Any, w: Any, b: Any = None,
               nonlinearity: str = "tanh") -> Any:
    dz = _memo(_rnn_bptt, g, out, h0, w, nonlinearity=nonlinearity)[0]
    return _weight_grad(dz, out, h0)


def _rnn_vjp_b(g: Any, out: Any, xp: Any, h0: Any, w: Any, b: Any = None,
               nonlinearity: str = "tanh") -> Any:
    dz = _memo(_rnn_bptt, g, out, h0, w, nonlinearity=nonlinearity)[0]
    return _bias_grad(dz)


def _bias_grad(dz: Any) -> Any:
    """Σ over steps and batch; on arrays as 1ᵀ·dz, a BLAS product ~3x faster than sum."""
    if _is_tensor(dz):
        return dz.sum(axis=(0, 1))
    rows = dz.reshape(-1, dz.shape[-1])
    return np.ones(rows.shape[0], dtype=rows.dtype) @ rows


def _weight_grad(dz: Any, hs: Any, h0: Any) -> Any:
    """Σ_t dz_tᵀ h_{t-1}: one GEMM over all steps."""
    gsz, hsz = dz.shape[-1], h0.shape[-1]
    if _is_tensor(dz) or _is_tensor(hs) or _is_tensor(h0):
        return dz.reshape(-1, gsz).T @ _prev(h0, hs).reshape(-1, hsz)
    gw = dz[0].T @ h0 if h0.any() else np.zeros((gsz, hsz), dtype=dz.dtype)
    if dz.shape[0] > 1:
        gw += dz[1:].reshape(-1, gsz).T @ hs[:-1].reshape(-1, hsz)
    return gw


def _rnn_jvp(which: int) -> Any:
    def rule(t: Any, out: Any, xp: Any, h0: Any, w: Any, b: Any = None,
             nonlinearity: str = "tanh") -> Any:
        slope = _rnn_slope(out, nonlinearity)
        ds = []
        d = t if which == 1 else None
        for k in range(out.shape[0]):
            s = t[..., k, :, :] if which == 0 else t[..., None, :] if which == 3 else None
            if d is not None:
                c = d @ w.T
                s = c if s is None else s + c
            if which == 2:
                c = (h0 if k == 0 else out[k - 1]) @ np.swapaxes(t, -1, -2)
                s = c if s is None else s + c
            d = s * slope[k]
            ds.append(d)
        return np.stack(ds, axis=-3)

    return rule


def _rnn_sample(rng: np.random.Generator) -> tuple:
    return (rng.uniform(-1, 1, (3, 2, 4)), rng.uniform(-1, 1, (2, 4)),
            rng.uniform(-0.6, 0.6, (4, 4)), rng.uniform(-0.5, 0.5, (4,)))


rnn_scan = defop(
    "rnn_scan", _rnn_forward, (_rnn_vjp_xp, _rnn_vjp_h0, _rnn_vjp_w, _rnn_vjp_b),
    ("h_t = f(xp_t + W h_{t-1} + b): δz_t = (δh_t + Wᵀδz_{t+1})·f'(z_t), δxp_t = δz_t",
     "δh₀ = Wᵀ δz₀", "δW = Σ_t δz_t h_{t-1}ᵀ", "δb = Σ_t δz_t"),
    saves_output=True, reads=((0, 1, 2),) * 4,
    sample=Sample(make=_rnn_sample, params={"nonlinearity": "tanh"},
                  variants=({"nonlinearity": "relu"},)),
    torch=None, jvp=(_rnn_jvp(0), _rnn_jvp(1), _rnn_jvp(2), _rnn_jvp(3)),
    doc="The time loop of an Elman RNN layer (tanh or relu) over a precomputed input "
        "projection, plus an optional bias added every step; returns every hidden state.")


# --------------------------------------------------------------------------- LSTM

def _lstm_gate_consts(hsz: int, dtype: Any) -> tuple[np.ndarray, np.ndarray]:
    """σ = ½tanh(z/2) + ½ for i, f, o and tanh for g, as one tanh over all four gates:
    act = tanh(z·s)·s' + b with s = s' = (½, ½, 1, ½), b = (½, ½, 0, ½) per gate."""
    s = np.repeat(np.array([0.5, 0.5, 1.0, 0.5], dtype=dtype), hsz)
    b = np.repeat(np.array([0.5, 0.5, 0.0, 0.5], dtype=dtype), hsz)
    return s, b


def _lstm_forward(xp: np.ndarray, h0: np.ndarray, c0: np.ndarray, w: np.ndarray) -> np.ndarray:
    hsz = _check("lstm_scan", xp, (h0, c0), w, 4)
    steps, batch = xp.shape[:2]
    dt = np.result_type(xp, h0, c0, w)
    out = np.empty((steps, batch, 2 * hsz), dtype=dt)
    s, b = _lstm_gate_consts(hsz, dt)
    wt = w.T
    z = np.empty((batch, 4 * hsz), dtype=dt)
    tmp = np.empty((batch, hsz), dtype=dt)
    h, c = h0, c0
    for t in range(steps):
        np.matmul(h, wt, out=z)
        z += xp[t]
        z *= s
        np.tanh(z, out=z)
        z *= s
        z += b
        i, f, g, o = z[:, :hsz], z[:, hsz:2 * hsz], z[:, 2 * hsz:3 * hsz], z[:, 3 * hsz:]
        hn, cn = out[t, :, :hsz], out[t, :, hsz:]
        np.multiply(f, c, out=cn)
        np.multiply(i, g, out=tmp)
        cn += tmp
        np.tanh(cn, out=hn)
        hn *= o
        h, c = hn, cn
    return out


def _lstm_bptt(gout: Any, out: Any, xp: Any, h0: Any, c0: Any, w: Any) -> tuple:
    """``(∂ℒ/∂z for every step (the gate pre-activations), ∂ℒ/∂h0, ∂ℒ/∂c0)``."""
    hsz = w.shape[1]
    hs, cs = out[..., :hsz], out[..., hsz:]
    z = _prev(h0, hs) @ w.T + xp  # the gates again: one GEMM over all steps
    s, b = _lstm_gate_consts(hsz, z.dtype)
    act = np.tanh(z * s) * s + b
    i, f, g, o = (act[..., k * hsz:(k + 1) * hsz] for k in range(4))
    tc = np.tanh(cs)
    through_h = o * (1 - tc * tc)  # ∂c-gradient per unit of h-gradient
    factors = np.concatenate([g * i * (1 - i), _prev(c0, cs) * f * (1 - f), i * (1 - g * g),
                              tc * o * (1 - o)], axis=-1)
    gh, gc = gout[..., :hsz], gout[..., hsz:]
    dzs: list = [None] * out.shape[0]
    dh = dc = None
    for t in range(out.shape[0] - 1, -1, -1):
        dh = gh[t] if dh is None else gh[t] + dh
        dc = gc[t] + dh * through_h[t] if dc is None else gc[t] + dc + dh * through_h[t]
        dz = np.concatenate([dc, dc, dc, dh], axis=-1) * factors[t]
        dzs[t] = dz
        dc = dc * f[t]
        dh = dz @ w
    return _stack(dzs), dh, dc


def _lstm_vjp(k: int) -> Any:
    def rule(g: Any, out: Any, xp: Any, h0: Any, c0: Any, w: Any) -> Any:
        dz, dh0, dc0 = _memo(_lstm_bptt, g, out, xp, h0, c0, w)
        if k == 0:
            return dz
        if k == 1:
            return dh0
        if k == 2:
            return dc0
        return _weight_grad(dz, out[..., :w.shape[1]], h0)

    return rule


def _lstm_sample(rng: np.random.Generator) -> tuple:
    return (rng.uniform(-1, 1, (3, 2, 12)), rng.uniform(-1, 1, (2, 3)),
            rng.uniform(-1, 1, (2, 3)), rng.uniform(-0.8, 0.8, (12, 3)))


lstm_scan = defop(
    "lstm_scan", _lstm_forward, tuple(_lstm_vjp(k) for k in range(4)),
    ("c_t = f⊙c_{t-1} + i⊙g, h_t = o⊙tanh(c_t) with (i,f,g,o) = act(xp_t + W h_{t-1}): "
     "δz_t by BPTT, δxp_t = δz_t", "δh₀ = Wᵀ δz₀", "δc₀ = f₀⊙δc₀", "δW = Σ_t δz_t h_{t-1}ᵀ"),
    saves_output=True, reads=((0, 1, 2, 3),) * 4, sample=Sample(make=_lstm_sample),
    torch=None,
    doc="The time loop of an LSTM layer over a precomputed input projection; returns "
        "[h_t | c_t] for every step, concatenated on the last dim.")


# --------------------------------------------------------------------------- GRU

def _gru_forward(xp: np.ndarray, h0: np.ndarray, w: np.ndarray, b: Any = None) -> np.ndarray:
    hsz = _check("gru_scan", xp, (h0,), w, 3)
    dt = np.result_type(xp, h0, w)
    out = np.empty(xp.shape[:2] + (hsz,), dtype=dt)
    wt = w.T
    hh = np.empty((xp.shape[1], 3 * hsz), dtype=dt)
    h = h0
    for t in range(xp.shape[0]):
        np.matmul(h, wt, out=hh)
        if b is not None:
            hh += b
        x = xp[t]
        rz = x[:, :2 * hsz] + hh[:, :2 * hsz]
        rz *= 0.5
        np.tanh(rz, out=rz)
        rz *= 0.5
        rz += 0.5
        r, z = rz[:, :hsz], rz[:, hsz:]
        n = hh[:, 2 * hsz:] * r
        n += x[:, 2 * hsz:]
        np.tanh(n, out=n)
        hn = out[t]
        np.subtract(h, n, out=hn)
        hn *= z
        hn += n
        h = hn
    return out


def _gru_bptt(gout: Any, out: Any, xp: Any, h0: Any, w: Any, b: Any) -> tuple:
    """``(∂ℒ/∂xp, ∂ℒ/∂(W h + b) for every step, ∂ℒ/∂h0)``. Every gate's gradient is the
    state's gradient times a factor known from the forward values, so only
    δh_{t-1} = z⊙δh_t + Wᵀ δ(Wh)_t runs step by step."""
    hsz = w.shape[1]
    hprev = _prev(h0, out)
    hh = hprev @ w.T
    if b is not None:
        hh = hh + b
    rz = _sig(xp[..., :2 * hsz] + hh[..., :2 * hsz])
    r, z = rz[..., :hsz], rz[..., hsz:]
    hn = hh[..., 2 * hsz:]
    n = np.tanh(xp[..., 2 * hsz:] + r * hn)
    f_n = (1 - z) * (1 - n * n)
    f_z = z * (1 - z) * (hprev - n)
    f_r = f_n * hn * r * (1 - r)
    f_hh = np.concatenate([f_r, f_z, f_n * r], axis=-1)
    dhs: list = [None] * out.shape[0]
    dhhs: list = [None] * out.shape[0]
    dh = None
    for t in range(out.shape[0] - 1, -1, -1):
        dh = gout[t] if dh is None else gout[t] + dh
        dhh = np.concatenate([dh, dh, dh], axis=-1) * f_hh[t]
        dhs[t], dhhs[t] = dh, dhh
        dh = dh * z[t] + dhh @ w
    dh_all = _stack(dhs)
    dxp = np.concatenate([dh_all * f_r, dh_all * f_z, dh_all * f_n], axis=-1)
    return dxp, _stack(dhhs), dh


def _gru_vjp(k: int) -> Any:
    def rule(g: Any, out: Any, xp: Any, h0: Any, w: Any, b: Any = None) -> Any:
        dxp, dhh, dh0 = _memo(_gru_bptt, g, out, xp, h0, w, b)
        if k == 0:
            return dxp
        if k == 1:
            return dh0
        if k == 2:
            return _weight_grad(dhh, out, h0)
        return dhh.sum(axis=(0, 1))

    return rule


def _gru_sample(rng: np.random.Generator) -> tuple:
    return (rng.uniform(-1, 1, (3, 2, 9)), rng.uniform(-1, 1, (2, 3)),
            rng.uniform(-0.8, 0.8, (9, 3)), rng.uniform(-1, 1, (9,)))


gru_scan = defop(
    "gru_scan", _gru_forward, tuple(_gru_vjp(k) for k in range(4)),
    ("h_t = (1-z)⊙n + z⊙h_{t-1}, n = tanh(xp_n + r⊙(W_n h_{t-1} + b_n)): δxp by BPTT",
     "δh₀ from the last BPTT step", "δW = Σ_t δ(Wh)_t h_{t-1}ᵀ", "δb = Σ_t δ(Wh)_t"),
    saves_output=True, reads=((0, 1, 2, 3),) * 4, sample=Sample(make=_gru_sample),
    torch=None,
    doc="The time loop of a GRU layer over a precomputed input projection (x·W_ihᵀ + b_ih); "
        "returns every hidden state.")
