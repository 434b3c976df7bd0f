"""Recurrent layers: cr.nn.RNN / LSTM / GRU (and the cells) against torch.nn with copied
weights, over layers, directions, batch_first, initial states, bias, dtypes; the fused
time-loop ops against the per-step composites and against central differences (first and
second order)."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn.functional import recurrent as RF
from chainrule.ops import recurrent as R

torch = pytest.importorskip("torch")

TOL = {np.float64: 1e-10, np.float32: 1e-5}
TDT = {np.float64: torch.float64, np.float32: torch.float32}
T, B, IN, H = 5, 3, 4, 6


def close(actual: Any, expected: Any, rtol: float, what: str = "") -> None:
    a = actual.data if isinstance(actual, cr.Tensor) else np.asarray(actual)
    e = expected.detach().numpy() if isinstance(expected, torch.Tensor) else np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} vs torch {e.shape}"
    scale = max(1.0, float(np.max(np.abs(e)))) if e.size else 1.0
    np.testing.assert_allclose(a, e, rtol=rtol, atol=rtol * scale, err_msg=what)


def _flatten(out: Any) -> list:
    if isinstance(out, (tuple, list)):
        return [t for o in out for t in _flatten(o)]
    return [] if out is None else [out]


def compare(cm: nn.Module, tm: Any, x: np.ndarray, states: list[np.ndarray] | None,
            dtype: Any = np.float64, what: str = "") -> None:
    """Forward both modules on the same input (and initial states), compare every output,
    then backpropagate the same random cotangents and compare all gradients."""
    rtol = TOL[dtype]
    tm = tm.to(TDT[dtype])
    cm = cm.to(dtype)
    missing, unexpected = cm.load_state_dict(tm.state_dict())
    assert not missing and not unexpected, (missing, unexpected)
    assert list(cm.state_dict()) == list(tm.state_dict())
    tx = torch.tensor(x.astype(dtype), requires_grad=True)
    cx = cr.tensor(x.astype(dtype), requires_grad=True)
    if states is None:
        targs: tuple = (tx,)
        cargs: tuple = (cx,)
        ts = cs = []
    else:
        ts = [torch.tensor(s.astype(dtype), requires_grad=True) for s in states]
        cs = [cr.tensor(s.astype(dtype), requires_grad=True) for s in states]
        targs = (tx, tuple(ts) if len(ts) == 2 else ts[0])
        cargs = (cx, tuple(cs) if len(cs) == 2 else cs[0])
    touts, couts = _flatten(tm(*targs)), _flatten(cm(*cargs))
    assert len(touts) == len(couts)
    rng = np.random.default_rng(3)
    tloss, closs = 0, 0
    for k, (t, c) in enumerate(zip(touts, couts)):
        close(c, t, rtol, f"{what} output {k}")
        assert c.dtype == dtype
        g = rng.normal(size=tuple(t.shape)).astype(dtype)
        tloss = tloss + (t * torch.tensor(g)).sum()
        closs = closs + (c * cr.tensor(g)).sum()
    tloss.backward()
    closs.backward()
    close(cx.grad, tx.grad, rtol, f"{what} input gradient")
    for k, (t, c) in enumerate(zip(ts, cs)):
        close(c.grad, t.grad, rtol, f"{what} state {k} gradient")
    tparams = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        close(p.grad, tparams[name].grad, rtol, f"{what} {name} gradient")


MODES = ["tanh", "relu", "LSTM", "GRU"]


def make(mode: str, lib: Any, **kw: Any) -> Any:
    if mode in ("tanh", "relu"):
        return lib.RNN(IN, H, nonlinearity=mode, **kw)
    return getattr(lib, mode)(IN, H, **kw)


def initial(mode: str, layers: int, dirs: int, batch: int | None = B) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    shape = (layers * dirs, batch, H) if batch else (layers * dirs, H)
    n = 2 if mode == "LSTM" else 1
    return [rng.normal(size=shape) * 0.5 for _ in range(n)]


@pytest.mark.parametrize("mode,layers,bidirectional,batch_first,with_state", list(
    itertools.product(MODES, [1, 2], [False, True], [False, True], [False, True])))
def test_matches_torch(mode: str, layers: int, bidirectional: bool, batch_first: bool,
                       with_state: bool) -> None:
    kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    x = np.random.default_rng(0).normal(size=(B, T, IN) if batch_first else (T, B, IN))
    states = initial(mode, layers, 2 if bidirectional else 1) if with_state else None
    compare(make(mode, nn, **kw), make(mode, torch.nn, **kw), x, states, what=f"{mode} {kw}")


@pytest.mark.parametrize("mode", MODES)
def test_without_bias_and_float32(mode: str) -> None:
    x = np.random.default_rng(0).normal(size=(T, B, IN))
    compare(make(mode, nn, bias=False), make(mode, torch.nn, bias=False), x, None)
    compare(make(mode, nn, num_layers=2), make(mode, torch.nn, num_layers=2), x,
            initial(mode, 2, 1), np.float32)


@pytest.mark.parametrize("mode", MODES)
def test_unbatched_input(mode: str) -> None:
    x = np.random.default_rng(0).normal(size=(T, IN))
    for batch_first in (False, True):
        kw = dict(num_layers=2, bidirectional=True, batch_first=batch_first)
        compare(make(mode, nn, **kw), make(mode, torch.nn, **kw), x,
                initial(mode, 2, 2, batch=None), what=f"unbatched {mode}")


def test_lstm_with_projection() -> None:
    x = np.random.default_rng(0).normal(size=(T, B, IN))
    kw = dict(num_layers=2, proj_size=3, bidirectional=True)
    rng = np.random.default_rng(1)
    states = [rng.normal(size=(4, B, 3)), rng.normal(size=(4, B, H))]
    compare(nn.LSTM(IN, H, **kw), torch.nn.LSTM(IN, H, **kw), x, states, what="proj")


@pytest.mark.parametrize("mode", MODES)
def test_dropout_between_layers(mode: str) -> None:
    x = np.random.default_rng(0).normal(size=(T, B, IN))
    kw = dict(num_layers=3, dropout=0.5)
    cm, tm = make(mode, nn, **kw), make(mode, torch.nn, **kw)
    cm.eval()
    tm.eval()
    compare(cm, tm, x, None, what="eval: no dropout")
    cm.train()
    cr.manual_seed(0)
    a = _flatten(cm(cr.tensor(x)))[0]
    b = _flatten(cm(cr.tensor(x)))[0]
    assert a.shape == (T, B, H) and not np.allclose(a.data, b.data)  # dropout is random
    one = make(mode, nn, num_layers=1, dropout=0.0)
    assert np.allclose(_flatten(one(cr.tensor(x)))[0].data, _flatten(one(cr.tensor(x)))[0].data)


@pytest.mark.parametrize("cell", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("batched", [True, False])
def test_cells_match_torch(cell: str, batched: bool) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(B, IN) if batched else (IN,))
    sh = (B, H) if batched else (H,)
    states = [rng.normal(size=sh) for _ in range(2 if cell == "LSTMCell" else 1)]
    compare(getattr(nn, cell)(IN, H), getattr(torch.nn, cell)(IN, H), x, states, what=cell)
    compare(getattr(nn, cell)(IN, H, bias=False), getattr(torch.nn, cell)(IN, H, bias=False),
            x, None, what=cell)
    if cell == "RNNCell":
        compare(nn.RNNCell(IN, H, nonlinearity="relu"), torch.nn.RNNCell(IN, H, nonlinearity="relu"), x,
                states, what="relu cell")


def test_cell_functions_match_torch() -> None:
    rng = np.random.default_rng(0)
    x, h, c = rng.normal(size=(B, IN)), rng.normal(size=(B, H)), rng.normal(size=(B, H))
    for fn, gates in [("rnn_tanh_cell", 1), ("rnn_relu_cell", 1), ("gru_cell", 3),
                      ("lstm_cell", 4)]:
        w_ih, w_hh = rng.normal(size=(gates * H, IN)), rng.normal(size=(gates * H, H))
        b_ih, b_hh = rng.normal(size=gates * H), rng.normal(size=gates * H)
        hx = (h, c) if fn == "lstm_cell" else h
        args = [w_ih, w_hh, b_ih, b_hh]
        ours = getattr(nn.functional, fn)(
            cr.tensor(x), tuple(map(cr.tensor, hx)) if fn == "lstm_cell" else cr.tensor(hx),
            *map(cr.tensor, args))
        theirs = getattr(torch, fn)(
            torch.tensor(x), tuple(map(torch.tensor, hx)) if fn == "lstm_cell" else
            torch.tensor(hx), *map(torch.tensor, args))
        for o, t in zip(_flatten(ours), _flatten(theirs)):
            close(o, t, 1e-12, fn)


def test_default_initialisation() -> None:
    for m in (nn.RNN(3, 16, 2), nn.LSTM(3, 16, bidirectional=True), nn.GRU(3, 16),
              nn.LSTMCell(3, 16)):
        for name, p in m.named_parameters():
            assert p.dtype == np.float32
            assert np.abs(p.data).max() <= 0.25, name
        assert max(np.abs(p.data).max() for p in m.parameters()) > 0.24
    lstm = nn.LSTM(3, 16, 2, bidirectional=True)
    assert lstm.weight_ih_l1_reverse.shape == (64, 32)
    assert lstm.weight_hh_l0.shape == (64, 16) and lstm.bias_hh_l1.shape == (64,)
    assert [n for n, _ in nn.GRU(2, 3).named_parameters()] == [
        "weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert len(lstm.all_weights) == 4 and repr(lstm) == (
        "LSTM(3, 16, num_layers=2, bidirectional=True)")


def test_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="input_size"):
        nn.RNN(4, 5)(cr.randn(3, 2, 7))
    with pytest.raises(ValueError, match="hx size"):
        nn.GRU(4, 5)(cr.randn(3, 2, 4), cr.zeros(1, 3, 5))
    with pytest.raises(ValueError, match="tuple"):
        nn.LSTM(4, 5)(cr.randn(3, 2, 4), cr.zeros(1, 2, 5))
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(4, 5, nonlinearity="sigmoid")


# --------------------------------------------------------------------------- fused ops

@pytest.mark.parametrize("mode", ["RNN_TANH", "RNN_RELU", "LSTM", "GRU"])
def test_fused_layers_equal_the_step_by_step_composite(mode: str) -> None:
    rng = np.random.default_rng(0)
    gates = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    x = cr.tensor(rng.normal(size=(T, B, IN)), requires_grad=True)
    w = [cr.tensor(rng.normal(size=s) * 0.5, requires_grad=True) for s in
         [(gates * H, IN), (gates * H, H), (gates * H,), (gates * H,)]]
    states = [cr.tensor(rng.normal(size=(1, B, H)), requires_grad=True)
              for _ in range(2 if mode == "LSTM" else 1)]
    results = []
    for fused in (True, False):
        outs = RF._network(mode, x, states if mode == "LSTM" else states[0], w, True, 1, 0.0,
                           False, False, False, fused)
        loss = sum((o * cr.tensor(np.cos(np.arange(o.numel()).reshape(o.shape)))).sum()
                   for o in outs)
        results.append([o.data for o in outs] + [g.data for g in cr.autograd.grad(
            loss, [x, *w, *states])])
    for a, b in zip(*results):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


SCANS = [R.rnn_scan, R.lstm_scan, R.gru_scan]


@pytest.mark.parametrize("op", SCANS, ids=lambda op: op.name)
def test_scan_ops_gradcheck_and_gradgradcheck(op: Any) -> None:
    assert op.sample is not None and op.formula
    for params in [op.sample.params, *op.sample.variants]:
        assert op.sample.make is not None
        xs = [cr.tensor(a, requires_grad=True) for a in op.sample.make(
            np.random.default_rng(1))]

        def f(*t: Any, params: dict = params) -> cr.Tensor:
            return op(*t, **params)

        cr.gradcheck(f, xs)
        cr.gradgradcheck(f, xs)
        for j in range(len(xs)):
            close(cr.jacfwd(f, argnums=j)(*xs), cr.jacrev(f, argnums=j)(*xs).data, 1e-10,
                  f"{op.name} jacfwd vs jacrev {j}")


def test_gru_scan_without_bias() -> None:
    rng = np.random.default_rng(0)
    xp, h0, w = rng.normal(size=(3, 2, 9)), rng.normal(size=(2, 3)), rng.normal(size=(9, 3))
    cr.gradcheck(lambda a, b, c: R.gru_scan(a, b, c, None),
                 [cr.tensor(v, requires_grad=True) for v in (xp, h0, w)])


def test_backprop_through_time_over_a_long_sequence() -> None:
    """Training a tanh RNN on a 60-step sequence follows torch step for step."""
    torch.manual_seed(0)
    trnn, tlin = torch.nn.RNN(3, 8, batch_first=True), torch.nn.Linear(8, 2)
    crnn, clin = nn.RNN(3, 8, batch_first=True), nn.Linear(8, 2)
    crnn.load_state_dict(trnn.state_dict())
    clin.load_state_dict(tlin.state_dict())
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 60, 3)).astype(np.float32), rng.integers(0, 2, 4)
    topt = torch.optim.SGD([*trnn.parameters(), *tlin.parameters()], lr=0.5)
    copt = cr.optim.SGD([*crnn.parameters(), *clin.parameters()], lr=0.5)
    for _ in range(5):
        tl = torch.nn.functional.cross_entropy(tlin(trnn(torch.tensor(x))[0][:, -1]),
                                               torch.tensor(y))
        cl = nn.functional.cross_entropy(clin(crnn(cr.tensor(x))[0][:, -1]), cr.tensor(y))
        close(cl, tl, 1e-5, "loss")
        for opt, loss in ((topt, tl), (copt, cl)):
            opt.zero_grad()
            loss.backward()
            opt.step()
