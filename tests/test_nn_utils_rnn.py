"""cr.nn.utils.rnn (PackedSequence, pack/pad utilities) and RNN/LSTM/GRU on packed input,
against torch.nn.utils.rnn and torch.nn with copied weights: values, batch sizes, indices,
final states and every gradient; central differences for a bidirectional GRU; bad input."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, TORCH_DTYPE, close

import chainrule as cr
from chainrule.nn.functional import recurrent as RF
from chainrule.nn.utils import rnn as CR

torch = pytest.importorskip("torch")
TR = torch.nn.utils.rnn


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Iterator[None]:
    """Tiny tensors: torch's thread pool only costs time on a busy 2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def pair(a: np.ndarray) -> tuple[Any, Any]:
    """The same leaf in both libraries."""
    return torch.tensor(a, requires_grad=True), cr.tensor(a, requires_grad=True)


def same_ints(c: Any, t: Any, what: str) -> None:
    if t is None:
        assert c is None, what
        return
    assert c.dtype == np.int64, f"{what}: dtype {c.dtype}"
    np.testing.assert_array_equal(c.data, t.numpy(), err_msg=what)


def same_packed(c: CR.PackedSequence, t: Any, rtol: float, what: str = "") -> None:
    assert isinstance(c, CR.PackedSequence)
    close(c.data, t.data, rtol, f"{what} data")
    same_ints(c.batch_sizes, t.batch_sizes, f"{what} batch_sizes")
    same_ints(c.sorted_indices, t.sorted_indices, f"{what} sorted_indices")
    same_ints(c.unsorted_indices, t.unsorted_indices, f"{what} unsorted_indices")


def backward_same(touts: list, couts: list, seed: int = 3) -> None:
    """Backpropagate the same random cotangents through both libraries' outputs."""
    rng = np.random.default_rng(seed)
    tl, cl = 0, 0
    for t, c in zip(touts, couts):
        g = rng.normal(size=tuple(t.shape)).astype(c.dtype)
        tl = tl + (t * torch.tensor(g)).sum()
        cl = cl + (c * cr.tensor(g)).sum()
    tl.backward()
    cl.backward()


# --------------------------------------------------------------------------- utilities

@pytest.mark.parametrize("batch_first,enforce_sorted,trailing", list(
    itertools.product([False, True], [True, False], [(), (2,), (2, 3)])))
def test_pack_pad_round_trip_matches_torch(batch_first: bool, enforce_sorted: bool,
                                           trailing: tuple) -> None:
    steps, batch = 6, 5
    lengths = [6, 4, 4, 2, 1] if enforce_sorted else [4, 6, 1, 4, 2]
    shape = ((batch, steps) if batch_first else (steps, batch)) + trailing
    tx, cx = pair(np.random.default_rng(0).normal(size=shape))
    tp = TR.pack_padded_sequence(tx, lengths, batch_first=batch_first,
                                 enforce_sorted=enforce_sorted)
    cp = CR.pack_padded_sequence(cx, cr.tensor(lengths), batch_first=batch_first,
                                 enforce_sorted=enforce_sorted)
    same_packed(cp, tp, 0.0, "pack")
    outs_t, outs_c = [tp.data], [cp.data]
    for out_first, total in ((False, None), (True, 8), (batch_first, 6)):
        tpad, tlen = TR.pad_packed_sequence(tp, batch_first=out_first, padding_value=-1.5,
                                            total_length=total)
        cpad, clen = CR.pad_packed_sequence(cp, batch_first=out_first, padding_value=-1.5,
                                            total_length=total)
        close(cpad, tpad, 0.0, f"pad_packed_sequence batch_first={out_first} total={total}")
        same_ints(clen, tlen, "lengths")
        outs_t.append(tpad)
        outs_c.append(cpad)
    backward_same(outs_t, outs_c)
    close(cx.grad, tx.grad, TOL[np.float64], "gradient through pack -> pad")


@pytest.mark.parametrize("batch_first,padding_side", list(
    itertools.product([False, True], ["right", "left"])))
def test_pad_sequence_matches_torch(batch_first: bool, padding_side: str) -> None:
    rng = np.random.default_rng(1)
    pairs = [pair(rng.normal(size=(n, 3))) for n in (2, 5, 0, 3)]
    tout = TR.pad_sequence([t for t, _ in pairs], batch_first=batch_first, padding_value=7.0,
                           padding_side=padding_side)
    cout = CR.pad_sequence([c for _, c in pairs], batch_first=batch_first, padding_value=7.0,
                           padding_side=padding_side)
    close(cout, tout, 0.0, "pad_sequence")
    backward_same([tout], [cout])
    for k, (t, c) in enumerate(pairs):
        close(c.grad, t.grad, TOL[np.float64], f"sequence {k} gradient")


def test_pad_sequence_of_a_tensor_and_of_1d_sequences() -> None:
    a = np.random.default_rng(2).normal(size=(3, 4))
    close(CR.pad_sequence(cr.tensor(a)), TR.pad_sequence(torch.tensor(a)), 0.0, "tensor")
    seqs = [np.arange(3), np.arange(1)]
    close(CR.pad_sequence([cr.tensor(s) for s in seqs], batch_first=True),
          TR.pad_sequence([torch.tensor(s) for s in seqs], batch_first=True), 0.0, "ints")


@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_pack_and_unpack_sequence_match_torch(enforce_sorted: bool) -> None:
    rng = np.random.default_rng(3)
    sizes = [5, 3, 3, 1] if enforce_sorted else [3, 5, 1, 3]
    pairs = [pair(rng.normal(size=(n, 2))) for n in sizes]
    tp = TR.pack_sequence([t for t, _ in pairs], enforce_sorted=enforce_sorted)
    cp = CR.pack_sequence([c for _, c in pairs], enforce_sorted=enforce_sorted)
    same_packed(cp, tp, 0.0, "pack_sequence")
    tseqs, cseqs = TR.unpack_sequence(tp), CR.unpack_sequence(cp)
    assert len(cseqs) == len(tseqs) == len(sizes)
    for k, (t, c) in enumerate(zip(tseqs, cseqs)):
        close(c, t, 0.0, f"unpacked sequence {k}")
    backward_same(tseqs + [tp.data], cseqs + [cp.data])
    for k, (t, c) in enumerate(pairs):
        close(c.grad, t.grad, TOL[np.float64], f"sequence {k} gradient")


@pytest.mark.parametrize("batch_first", [False, True])
def test_unpad_sequence_matches_torch(batch_first: bool) -> None:
    lengths = [2, 4, 1]
    shape = (3, 4, 2) if batch_first else (4, 3, 2)
    tx, cx = pair(np.random.default_rng(4).normal(size=shape))
    # (torch's unpad_sequence transposes its input in place without batch_first: a copy)
    touts = TR.unpad_sequence(tx.clone(), torch.tensor(lengths), batch_first=batch_first)
    couts = CR.unpad_sequence(cx, lengths, batch_first=batch_first)
    for k, (t, c) in enumerate(zip(touts, couts)):
        close(c, t, 0.0, f"sequence {k}")
    backward_same(touts, couts)
    close(cx.grad, tx.grad, TOL[np.float64], "unpad gradient")
    assert cx.shape == shape


def test_ties_beyond_sixteen_sequences_unpack_as_torch() -> None:
    """torch.sort orders equal lengths arbitrarily past 16 elements (chainrule keeps them in
    order), so the packed layout may differ; everything unpacked must not."""
    lengths = np.random.default_rng(5).integers(1, 4, size=20)
    tx, cx = pair(np.random.default_rng(6).normal(size=(3, 20, 2)))
    tp = TR.pack_padded_sequence(tx, torch.tensor(lengths), enforce_sorted=False)
    cp = CR.pack_padded_sequence(cx, lengths, enforce_sorted=False)
    same_ints(cp.batch_sizes, tp.batch_sizes, "batch_sizes")
    np.testing.assert_array_equal(lengths[cp.sorted_indices.data], -np.sort(-lengths))
    tpad, tlen = TR.pad_packed_sequence(tp)
    cpad, clen = CR.pad_packed_sequence(cp)
    close(cpad, tpad, 0.0, "padded")
    same_ints(clen, tlen, "lengths")


def test_packed_sequence_is_a_named_tuple_with_conversions() -> None:
    p = CR.pack_sequence([cr.tensor([1.0, 2.0, 3.0]), cr.tensor([4.0])])
    data, batch_sizes, sorted_indices, unsorted_indices = p
    assert batch_sizes.tolist() == [2, 1, 1] and sorted_indices is None
    assert p.data.dtype == np.float32 and not p.is_cuda
    assert p.double().data.dtype == np.float64 and p.double().float().data.dtype == np.float32
    assert p.to(np.float32) is p and p.to(np.float64).batch_sizes is p.batch_sizes
    q = CR.PackedSequence((data, batch_sizes))
    assert q.data is data and q.unsorted_indices is None
    r = CR.PackedSequence(data, batch_sizes, cr.tensor([1, 0]))
    assert r.unsorted_indices.tolist() == [1, 0]
    assert repr(p).startswith("PackedSequence(data=")
    assert CR.invert_permutation(cr.tensor([2, 0, 1])).tolist() == [1, 2, 0]


# --------------------------------------------------------------------------- bad input

def test_bad_input_is_refused_clearly() -> None:
    x = cr.randn(4, 3, 2)
    with pytest.raises(RuntimeError, match=r"must be sorted in decreasing order when "
                                           r"`enforce_sorted` is True, got \[3, 4, 2\]"):
        CR.pack_padded_sequence(x, [3, 4, 2])
    with pytest.raises(RuntimeError, match=r"pack_sequence: .*sorted in decreasing order"):
        CR.pack_sequence([cr.randn(2, 2), cr.randn(3, 2)])
    with pytest.raises(ValueError, match=r"greater than 0, but got lengths \[4, 0, 2\]"):
        CR.pack_padded_sequence(x, [4, 0, 2], enforce_sorted=False)
    with pytest.raises(ValueError, match=r"lengths \[5, 3, 2\] exceed the input's 4 time "
                                         r"steps .*at most T"):
        CR.pack_padded_sequence(x, [5, 3, 2])
    with pytest.raises(ValueError, match=r"`len\(lengths\)` to be equal to batch_size, but got "
                                         r"2 \(batch_size=3"):
        CR.pack_padded_sequence(x, [4, 3])
    with pytest.raises(ValueError, match=r"got 3 \(batch_size=4, input of shape \(4, 3, 2\), "
                                         r"batch_first\)"):
        CR.pack_padded_sequence(x, [3, 3, 2], batch_first=True)
    with pytest.raises(ValueError, match=r"lengths must be whole numbers, got \[2.5"):
        CR.pack_padded_sequence(x, [2.5, 2.0, 1.0])
    with pytest.raises(ValueError, match=r"at least 2 dims, got shape \(4,\)"):
        CR.pack_padded_sequence(cr.randn(4), [4])
    with pytest.raises(ValueError, match=r"same trailing shape \* as the first, \(2,\), but "
                                         r"got shapes \[\(3, 2\), \(2, 3\)\]"):
        CR.pad_sequence([cr.randn(3, 2), cr.randn(2, 3)])
    with pytest.raises(ValueError, match="empty list of sequences"):
        CR.pad_sequence([])
    with pytest.raises(ValueError, match="padding_side to be one of left or right, but got 'mid'"):
        CR.pad_sequence([cr.randn(2)], padding_side="mid")
    p = CR.pack_sequence([cr.randn(3, 2), cr.randn(2, 2)])
    with pytest.raises(ValueError, match=r"total_length=2 and max sequence length being 3"):
        CR.pad_packed_sequence(p, total_length=2)
    with pytest.raises(ValueError, match=r"batch_sizes \[2, 2\] add up to 4 but data has 5 rows"):
        CR.pad_packed_sequence(CR.PackedSequence(p.data, cr.tensor([2, 2])))
    with pytest.raises(TypeError, match="expected a PackedSequence, got Tensor"):
        CR.unpack_sequence(x)
    with pytest.raises(ValueError, match=r"unpad_sequence: expected 3 lengths in 0..4"):
        CR.unpad_sequence(x, [4, 5, 1])


def test_recurrent_layers_refuse_bad_packed_input() -> None:
    p = CR.pack_sequence([cr.randn(3, 2), cr.randn(2, 2)])
    with pytest.raises(ValueError, match=r"GRU: input.size\(-1\) must be equal to input_size. "
                                         r"Expected 3, got 2"):
        cr.nn.GRU(3, 4)(p)
    with pytest.raises(ValueError, match=r"LSTM: expected h_0 size \(1, 2, 4\), got \(1, 3, 4\)"):
        cr.nn.LSTM(2, 4)(p, (cr.zeros(1, 3, 4), cr.zeros(1, 3, 4)))
    with pytest.raises(ValueError, match=r"data must be 2-D"):
        cr.nn.RNN(2, 4)(CR.PackedSequence(cr.randn(5, 1, 2), p.batch_sizes))
    with pytest.raises(ValueError, match=r"gru: expected 2 integer lengths in 1..3"):
        RF.gru(cr.randn(3, 2, 2), cr.zeros(1, 2, 4), list(cr.nn.GRU(2, 4).parameters()),
               True, 1, 0.0, False, False, False, lengths=[3, 4])



def test_hand_made_packed_sequence_and_empty_batch_are_refused_clearly() -> None:
    """Not NumPy's IndexError: a sorted_indices that is no permutation, an empty batch, a
    total_length that is not an int."""
    data = cr.randn(3, 2)
    with pytest.raises(ValueError, match=r"invert_permutation: expected a permutation of "
                                         r"0..1 .*got \[0, 5\]"):
        CR.PackedSequence(data, cr.tensor([2, 1]), cr.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"pack_padded_sequence: cannot pack an empty batch "
                                         r"\(input of shape \(4, 0, 2\)\)"):
        CR.pack_padded_sequence(cr.randn(4, 0, 2), [])
    p = CR.pack_sequence([cr.randn(3, 2), cr.randn(2, 2)])
    with pytest.raises(TypeError, match=r"pad_packed_sequence: total_length must be an int"):
        CR.pad_packed_sequence(p, total_length="4")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- layers

IN, H = 3, 4
MODES = ["tanh", "relu", "LSTM", "LSTM-proj", "GRU"]


def make(mode: str, lib: Any, **kw: Any) -> Any:
    if mode in ("tanh", "relu"):
        return lib.RNN(IN, H, nonlinearity=mode, **kw)
    if mode == "LSTM-proj":
        return lib.LSTM(IN, H, proj_size=2, **kw)
    return getattr(lib, mode)(IN, H, **kw)


def initial(mode: str, layers: int, dirs: int, batch: int, rng: Any) -> list[np.ndarray]:
    if mode.startswith("LSTM"):
        h = 2 if mode == "LSTM-proj" else H
        return [rng.normal(size=(layers * dirs, batch, h)) * 0.5,
                rng.normal(size=(layers * dirs, batch, H)) * 0.5]
    return [rng.normal(size=(layers * dirs, batch, H)) * 0.5]


def compare_packed(mode: str, cm: Any, tm: Any, lengths: list[int], batch_first: bool, with_state: bool,
                   enforce_sorted: bool, dtype: Any = np.float64, what: str = "") -> None:
    """Both modules on the same packed batch (and initial states): packed outputs, final
    states, and the gradients of the padded input, the states and every parameter."""
    rtol = TOL[dtype]
    tm = tm.to(TORCH_DTYPE[dtype])
    cm = cm.to(dtype)
    missing, unexpected = cm.load_state_dict(tm.state_dict())
    assert not missing and not unexpected
    rng = np.random.default_rng(len(lengths) + 10 * with_state)
    steps, batch = max(lengths), len(lengths)
    x = rng.normal(size=(batch, steps, IN) if batch_first else (steps, batch, IN)).astype(dtype)
    tx, cx = pair(x)
    tp = TR.pack_padded_sequence(tx, lengths, batch_first, enforce_sorted)
    cp = CR.pack_padded_sequence(cx, lengths, batch_first, enforce_sorted)
    ts: list = []
    cs: list = []
    if with_state:
        states = [s.astype(dtype) for s in initial(mode, cm.num_layers, 2 if cm.bidirectional else 1,
                                                   batch, rng)]
        for s in states:
            t, c = pair(s)
            ts.append(t)
            cs.append(c)
    targs = (tp,) if not ts else (tp, tuple(ts) if len(ts) == 2 else ts[0])
    cargs = (cp,) if not cs else (cp, tuple(cs) if len(cs) == 2 else cs[0])
    (tout, tfin), (cout, cfin) = tm(*targs), cm(*cargs)
    same_packed(cout, tout, rtol, f"{what} output")
    assert cout.data.dtype == dtype
    tfin = list(tfin) if isinstance(tfin, tuple) else [tfin]
    cfin = list(cfin) if isinstance(cfin, tuple) else [cfin]
    assert len(cfin) == len(tfin)
    for k, (t, c) in enumerate(zip(tfin, cfin)):
        close(c, t, rtol, f"{what} final state {k}")
    backward_same([tout.data] + tfin, [cout.data] + cfin)
    close(cx.grad, tx.grad, rtol, f"{what} input gradient")
    for k, (t, c) in enumerate(zip(ts, cs)):
        close(c.grad, t.grad, rtol, f"{what} initial state {k} gradient")
    tparams = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        close(p.grad, tparams[name].grad, rtol, f"{what} {name} gradient")


@pytest.mark.parametrize("mode,layers,bidirectional,batch_first", list(
    itertools.product(MODES, [1, 2], [False, True], [False, True])))
def test_layers_on_packed_input_match_torch(mode: str, layers: int, bidirectional: bool,
                                            batch_first: bool) -> None:
    kw = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    what = f"{mode} {kw}"
    # unsorted lengths with a length-1 sequence and a tie, from given states
    compare_packed(mode, make(mode, cr.nn, **kw), make(mode, torch.nn, **kw), [3, 5, 1, 5, 2],
                   batch_first, True, False, what=what)
    # all lengths equal, sorted, from zero states
    compare_packed(mode, make(mode, cr.nn, **kw), make(mode, torch.nn, **kw), [4, 4, 4],
                   batch_first, False, True, what=what)


@pytest.mark.parametrize("mode", MODES)
def test_layers_on_packed_input_in_float32(mode: str) -> None:
    kw = dict(num_layers=2, bidirectional=True)
    compare_packed(mode, make(mode, cr.nn, **kw), make(mode, torch.nn, **kw), [2, 5, 1, 4],
                   False, True, False, np.float32, what=f"{mode} float32")


@pytest.mark.parametrize("mode", ["tanh", "LSTM", "GRU"])
def test_dropout_between_layers_on_packed_input(mode: str) -> None:
    kw = dict(num_layers=3, dropout=0.5, bidirectional=True)
    cm, tm = make(mode, cr.nn, **kw), make(mode, torch.nn, **kw)
    cm.eval()
    tm.eval()
    compare_packed(mode, cm, tm, [2, 4, 1], False, True, False, what=f"{mode} eval")
    # p = 1 in training zeroes every layer's input but the first in both: deterministic
    kw["dropout"] = 1.0
    cm, tm = make(mode, cr.nn, **kw), make(mode, torch.nn, **kw)
    compare_packed(mode, cm, tm, [2, 4, 1], False, False, False, what=f"{mode} train p=1")


@pytest.mark.parametrize("mode", ["tanh", "LSTM", "GRU"])
def test_step_by_step_path_with_lengths_matches_torch(mode: str) -> None:
    """``fused=False`` (the per-step cells, otherwise only taken by LSTM projections) with
    lengths, against torch on the packed batch."""
    tm = make(mode, torch.nn, num_layers=2, bidirectional=True).double()
    lengths = [3, 1, 4]
    x = np.random.default_rng(8).normal(size=(4, 3, IN))
    tx, cx = pair(x)
    tout, tfin = tm(TR.pack_padded_sequence(tx, lengths, enforce_sorted=False))
    tpad, _ = TR.pad_packed_sequence(tout)
    params = [cr.tensor(p.detach().numpy(), requires_grad=True) for p in tm.parameters()]
    zeros = cr.zeros(4, 3, H, dtype=cr.float64)
    fn = {"tanh": RF.rnn_tanh, "LSTM": RF.lstm, "GRU": RF.gru}[mode]
    hx: Any = (zeros, zeros) if mode == "LSTM" else zeros
    cout, *cfin = fn(cx, hx, params, True, 2, 0.0, False, True, False, False, lengths=lengths)
    tfin = list(tfin) if mode == "LSTM" else [tfin]
    mask = np.arange(4)[:, None] < np.array(lengths)  # outputs past each end are unspecified
    tpad, cout = tpad * torch.tensor(mask[..., None]), cout * mask[..., None]
    close(cout, tpad, TOL[np.float64], "outputs")
    for t, c in zip(tfin, cfin):
        close(c, t, TOL[np.float64], "final state")
    backward_same([tpad] + tfin, [cout] + cfin)
    close(cx.grad, tx.grad, TOL[np.float64], "input gradient")
    for p, q in zip(params, tm.parameters()):
        close(p.grad, q.grad, TOL[np.float64], "parameter gradient")


def test_bidirectional_gru_on_packed_input_gradcheck() -> None:
    rng = np.random.default_rng(9)
    gru = cr.nn.GRU(2, 2, bidirectional=True).double()
    lengths = [2, 3, 1]
    packed = CR.pack_padded_sequence(cr.tensor(rng.normal(size=(3, 3, 2))), lengths,
                                     enforce_sorted=False)
    h0 = cr.tensor(rng.normal(size=(2, 3, 2)) * 0.5, requires_grad=True)
    data = packed.data.requires_grad_()

    def f(data: Any, h0: Any) -> tuple:
        out, h = gru(CR.PackedSequence(data, packed.batch_sizes, packed.sorted_indices), h0)
        return out.data, h

    assert cr.gradcheck(f, (data, h0))
    params = [cr.tensor(p.data, requires_grad=True) for p in gru.parameters()]

    def g(x: Any, *ps: Any) -> tuple:
        padded, lens = CR.pad_packed_sequence(CR.PackedSequence(x, packed.batch_sizes,
                                                                packed.sorted_indices))
        out, h = RF.gru(padded, h0.detach(), ps, True, 1, 0.0, False, True, False,
                        lengths=lens)
        return CR.pack_padded_sequence(out, lens, enforce_sorted=False).data, h

    assert cr.gradcheck(g, (data, *params))


def test_relu_rnn_on_packed_input_stays_finite_over_long_padding() -> None:
    """A short sequence padded to a long one: past its end its ReLU state would grow 4× per
    step (to inf in float32, so NaN gradients from 0·inf); torch never computes those steps."""
    tm, cm = torch.nn.RNN(1, 1, nonlinearity="relu"), cr.nn.RNN(1, 1, nonlinearity="relu")
    with torch.no_grad():
        for name, value in [("weight_ih_l0", 1.0), ("weight_hh_l0", 4.0), ("bias_ih_l0", 0.0),
                            ("bias_hh_l0", 1.0)]:
            getattr(tm, name).fill_(value)
    cm.load_state_dict(tm.state_dict())
    x = np.zeros((80, 2, 1), np.float32)
    x[:, 0] = -100.0  # the long sequence stays at 0
    tx, cx = pair(x)
    (tout, th), (cout, ch) = (tm(TR.pack_padded_sequence(tx, [80, 1])),
                              cm(CR.pack_padded_sequence(cx, [80, 1])))
    same_packed(cout, tout, 0.0, "output")
    close(ch, th, 0.0, "h_n")
    backward_same([tout.data, th], [cout.data, ch])
    close(cx.grad, tx.grad, TOL[np.float32], "input gradient")
    for name, p in tm.named_parameters():
        close(getattr(cm, name).grad, p.grad, TOL[np.float32], f"{name} gradient")
