"""``cr.nn.EmbeddingBag`` and ``F.embedding_bag`` against PyTorch: every mode, 2-D input and
offsets, include_last_offset, per_sample_weights, padding_idx, empty bags, max_norm; gradients
by central differences; the errors."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")

from torch_parity_helpers import TOL, close  # noqa: E402

TF = torch.nn.functional

INPUT = np.array([1, 2, 4, 5, 4, 3, 2, 0, 6, 6])
# (offsets, include_last_offset): empty bags in the middle and at the end, one bag, CSR style
# (PyTorch 2.13's CPU kernels disagree with each other when the last offset of
# include_last_offset is short of the input's end: test_entries_after_the_last_offset)
BAGS = [([0, 3, 3, 8], False), ([0, 0, 10], False), ([0], False), ([0, 3, 3, 8, 10], True),
        ([0, 4, 10, 10], True), ([0, 10], True)]


def _both(x: np.ndarray, dtype: type, requires_grad: bool = True) -> tuple:
    return (cr.tensor(x.astype(dtype), requires_grad=requires_grad),
            torch.tensor(x.astype(dtype), requires_grad=requires_grad))


def _compare(dtype: type, indices: np.ndarray, offsets: list | None, seed: int = 0,
             psw: bool = False, **kw) -> None:
    """Forward, weight gradient and per-sample-weight gradient against torch."""
    rng = np.random.default_rng(seed)
    cw, tw = _both(rng.normal(size=(7, 4)), dtype)
    cp = tp = None
    if psw:
        cp, tp = _both(rng.normal(size=indices.shape), dtype)
    c_off = None if offsets is None else cr.tensor(offsets)
    t_off = None if offsets is None else torch.tensor(offsets)
    out = F.embedding_bag(cr.tensor(indices), cw, c_off, per_sample_weights=cp, **kw)
    expected = TF.embedding_bag(torch.tensor(indices), tw, t_off, per_sample_weights=tp, **kw)
    tol = TOL[dtype]
    close(out, expected, tol, "output")
    g = rng.normal(size=expected.shape).astype(dtype)
    (out * cr.tensor(g)).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    close(cw.grad, tw.grad, tol, "weight grad")
    if psw:
        close(cp.grad, tp.grad, tol, "per_sample_weights grad")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("offsets,include_last_offset", BAGS)
@pytest.mark.parametrize("padding_idx", [None, 4, -1])
def test_offsets_against_torch(dtype, mode, offsets, include_last_offset, padding_idx):
    _compare(dtype, INPUT, offsets, mode=mode, include_last_offset=include_last_offset,
             padding_idx=padding_idx)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_fixed_size_bags_against_torch(dtype, mode, padding_idx):
    _compare(dtype, INPUT.reshape(5, 2), None, mode=mode, padding_idx=padding_idx)
    _compare(dtype, INPUT.reshape(2, 5), None, mode=mode, padding_idx=padding_idx)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("padding_idx", [None, 6])
def test_per_sample_weights_against_torch(dtype, padding_idx):
    _compare(dtype, INPUT, [0, 3, 3, 8], psw=True, mode="sum", padding_idx=padding_idx)
    _compare(dtype, INPUT, [0, 3, 3, 10], psw=True, mode="sum", include_last_offset=True)
    _compare(dtype, INPUT.reshape(2, 5), None, psw=True, mode="sum", padding_idx=padding_idx)


def test_padding_only_bags_are_zero_and_not_counted_in_mean():
    w = cr.tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    out = F.embedding_bag(cr.tensor([0, 0, 1, 0, 3]), w, cr.tensor([0, 2, 4]), mode="mean",
                          padding_idx=0)
    np.testing.assert_allclose(out.data, [[0, 0, 0], [3, 4, 5], [9, 10, 11]])
    out.sum().backward()
    np.testing.assert_allclose(w.grad.data[:, 0], [0, 1, 0, 1])  # (bag [1, 0] counts 1 row)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_entries_after_the_last_offset_are_in_no_bag(mode):
    w = cr.tensor(np.arange(7.0)[:, None] * [1.0, -1.0], requires_grad=True)
    out = F.embedding_bag(cr.tensor(INPUT), w, cr.tensor([0, 4, 4, 6]), mode=mode,
                          include_last_offset=True)
    bags = [INPUT[0:4], INPUT[4:4], INPUT[4:6]]  # INPUT[6:] is in no bag
    reduce = {"sum": np.sum, "mean": np.mean, "max": np.max}[mode]
    expected = [[reduce(b), reduce(-b)] if len(b) else [0.0, 0.0] for b in bags]
    np.testing.assert_allclose(out.data, expected)
    out.sum().backward()
    assert not w.grad.data[0].any()  # index 0 is only in INPUT[6:]


def test_all_empty_and_no_bags():
    w = cr.randn(5, 3, requires_grad=True)
    for mode in ("sum", "mean", "max"):
        out = F.embedding_bag(cr.tensor([], dtype=cr.long), w, cr.tensor([0, 0]), mode=mode)
        np.testing.assert_array_equal(out.data, np.zeros((2, 3)))
    assert F.embedding_bag(cr.zeros(0, 4, dtype=cr.long), w).shape == (0, 3)
    assert F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([0]),
                           include_last_offset=True).shape == (0, 3)
    # (B, 0): B empty bags (PyTorch raises "step must be nonzero" here)
    np.testing.assert_array_equal(F.embedding_bag(cr.zeros(2, 0, dtype=cr.long), w).data,
                                  np.zeros((2, 3)))


@pytest.mark.parametrize("mode", ["sum", "mean"])
def test_scale_grad_by_freq_divides_by_the_index_count(mode):
    # PyTorch 2.13's CPU embedding_bag divides by the wrong count (pytorch/pytorch#190063), so
    # the oracle is torch's embedding (which is right) reduced per bag.
    rng = np.random.default_rng(3)
    cw, tw = _both(rng.normal(size=(7, 4)), np.float64)
    out = F.embedding_bag(cr.tensor(INPUT), cw, cr.tensor([0, 3, 3, 8]), mode=mode,
                          scale_grad_by_freq=True)
    rows = TF.embedding(torch.tensor(INPUT), tw, scale_grad_by_freq=True)
    bags = [rows[0:3], rows[3:3], rows[3:8], rows[8:10]]
    reduce = (lambda r: r.sum(0)) if mode == "sum" else (
        lambda r: r.mean(0) if len(r) else r.sum(0))
    expected = torch.stack([reduce(b) for b in bags])
    close(out, expected, 1e-10, "output")
    g = rng.normal(size=(4, 4))
    (out * cr.tensor(g)).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    close(cw.grad, tw.grad, 1e-10, "weight grad")


def test_max_ties_give_the_gradient_to_the_first_row():
    w_np = np.array([[1.0, 5.0], [1.0, 2.0], [0.0, 5.0]])
    cw, tw = _both(w_np, np.float64)
    out = F.embedding_bag(cr.tensor([1, 0, 2]), cw, cr.tensor([0]), mode="max")
    expected = TF.embedding_bag(torch.tensor([1, 0, 2]), tw, torch.tensor([0]), mode="max")
    close(out, expected, 1e-12, "output")
    out.sum().backward()
    expected.sum().backward()
    close(cw.grad, tw.grad, 1e-12, "weight grad")
    # column 0: rows 1 and 0 tie -> row 1 (first in the bag); column 1: rows 0 and 2 -> row 0
    np.testing.assert_array_equal(cw.grad.data, [[0, 1], [1, 0], [0, 0]])


def test_max_of_a_bag_holding_nan_is_nan_wherever_it_is():
    """As ``cr.max`` (PyTorch's CPU kernel keeps a NaN only when it comes first in the bag:
    ``[0, nan]`` gives 0 there, ``[nan, 0]`` NaN); the gradient goes to the NaN row."""
    w = cr.tensor([[0.0, 1.0], [np.nan, 2.0], [3.0, -1.0]], requires_grad=True)
    out = F.embedding_bag(cr.tensor([0, 1, 1, 0, 2]), w, cr.tensor([0, 2]), mode="max")
    np.testing.assert_array_equal(out.data, [[np.nan, 2.0], [np.nan, 2.0]])
    out.sum().backward()
    np.testing.assert_array_equal(w.grad.data, [[0, 0], [2, 2], [0, 0]])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("norm_type", [2.0, 1.0])
def test_max_norm_renormalises_the_weight_in_place_like_torch(mode, norm_type):
    rng = np.random.default_rng(1)
    w = rng.normal(size=(7, 4)) * 3
    cw, tw = _both(w, np.float64, requires_grad=False)
    out = F.embedding_bag(cr.tensor(INPUT[:6]), cw, cr.tensor([0, 2]), max_norm=1.5,
                          norm_type=norm_type, mode=mode)
    expected = TF.embedding_bag(torch.tensor(INPUT[:6]), tw, torch.tensor([0, 2]),
                                max_norm=1.5, norm_type=norm_type, mode=mode)
    close(out, expected, 1e-10, "output")
    close(cw, tw, 1e-10, "renormalised weight")
    assert not np.allclose(cw.data, w)


def test_gradcheck_every_mode():
    rng = np.random.default_rng(2)
    w = cr.tensor(rng.normal(size=(7, 3)), requires_grad=True)
    psw = cr.tensor(rng.normal(size=10), requires_grad=True)
    idx, offsets = cr.tensor(INPUT), cr.tensor([0, 3, 3, 8])
    for mode in ("sum", "mean", "max"):
        for pad in (None, 4):
            assert cr.gradcheck(lambda w, mode=mode, pad=pad: F.embedding_bag(
                idx, w, offsets, mode=mode, padding_idx=pad), (w,))
    assert cr.gradcheck(lambda w, p: F.embedding_bag(idx, w, offsets, mode="sum",
                                                     per_sample_weights=p), (w, psw))
    assert cr.gradcheck(lambda w: F.embedding_bag(idx.reshape(2, 5), w, mode="mean"), (w,))


# --------------------------------------------------------------------------- the module

def test_module_matches_torch_after_copying_the_weight():
    for kw in ({"mode": "sum"}, {"mode": "max", "padding_idx": 3},
               {"include_last_offset": True, "padding_idx": -2}):
        m = cr.nn.EmbeddingBag(7, 4, **kw)
        t = torch.nn.EmbeddingBag(7, 4, **kw)
        assert repr(m) == repr(t)
        assert m.padding_idx == t.padding_idx
        if m.padding_idx is not None:
            assert not m.weight.data[m.padding_idx].any()
        m.load_state_dict(t.state_dict())
        offsets = [0, 3, 3, 10] if kw.get("include_last_offset") else [0, 3, 3]
        out = m(cr.tensor(INPUT), cr.tensor(offsets))
        expected = t(torch.tensor(INPUT), torch.tensor(offsets))
        close(out, expected, 1e-5, "output")
        out.sum().backward()
        expected.sum().backward()
        close(m.weight.grad, t.weight.grad, 1e-5, "weight grad")


def test_module_per_sample_weights_and_2d_input():
    m = cr.nn.EmbeddingBag(7, 4, mode="sum", dtype=cr.float64)
    t = torch.nn.EmbeddingBag(7, 4, mode="sum", dtype=torch.float64)
    m.load_state_dict(t.state_dict())
    psw = np.linspace(-1, 1, 10).reshape(2, 5)
    out = m(cr.tensor(INPUT.reshape(2, 5)), per_sample_weights=cr.tensor(psw))
    expected = t(torch.tensor(INPUT.reshape(2, 5)), per_sample_weights=torch.tensor(psw))
    close(out, expected, 1e-10, "output")


def test_module_defaults_and_repr():
    m = cr.nn.EmbeddingBag(5, 3)
    assert m.mode == "mean" and m.weight.shape == (5, 3) and m.weight.requires_grad
    assert repr(m) == "EmbeddingBag(5, 3, mode='mean')"
    m = cr.nn.EmbeddingBag(5, 3, max_norm=1.0, norm_type=1.0, scale_grad_by_freq=True,
                           mode="sum", padding_idx=2)
    assert repr(m) == repr(torch.nn.EmbeddingBag(5, 3, max_norm=1.0, norm_type=1.0,
                                                 scale_grad_by_freq=True, mode="sum",
                                                 padding_idx=2))


def test_from_pretrained():
    w = np.arange(12.0).reshape(4, 3)
    m = cr.nn.EmbeddingBag.from_pretrained(cr.tensor(w), mode="sum", padding_idx=1)
    t = torch.nn.EmbeddingBag.from_pretrained(torch.tensor(w), mode="sum", padding_idx=1)
    assert not m.weight.requires_grad and m.padding_idx == 1 and repr(m) == repr(t)
    np.testing.assert_array_equal(m.weight.data, w)  # (the padding row is kept, as torch)
    close(m(cr.tensor([[1, 2], [3, 0]])), t(torch.tensor([[1, 2], [3, 0]])), 1e-12, "out")
    assert cr.nn.EmbeddingBag.from_pretrained(cr.tensor(w), freeze=False).weight.requires_grad
    with pytest.raises(ValueError, match="expected to be 2-dimensional"):
        cr.nn.EmbeddingBag.from_pretrained(cr.ones(4, 3, 2))


def test_module_max_norm_renormalises_its_weight():
    m = cr.nn.EmbeddingBag(5, 3, max_norm=0.5)
    m(cr.tensor([[1, 2]]))
    norms = np.linalg.norm(m.weight.data, axis=1)
    assert np.all(norms[[1, 2]] <= 0.5 + 1e-6)


# --------------------------------------------------------------------------- errors

def test_construction_errors():
    with pytest.raises(NotImplementedError, match="sparse=True .* not supported"):
        cr.nn.EmbeddingBag(5, 3, sparse=True)
    with pytest.raises(ValueError, match="mode has to be one of sum, mean or max, got 'avg'"):
        cr.nn.EmbeddingBag(5, 3, mode="avg")
    with pytest.raises(ValueError, match="padding_idx must be within num_embeddings"):
        cr.nn.EmbeddingBag(5, 3, padding_idx=5)
    with pytest.raises(ValueError, match="Shape of weight does not match"):
        cr.nn.EmbeddingBag(5, 3, _weight=cr.ones(4, 3))


@pytest.mark.parametrize("call,error,message", [
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w), ValueError,
     "offsets has to be a 1D Tensor but got None"),
    (lambda w: F.embedding_bag(cr.tensor([[1, 2]]), w, cr.tensor([0])), ValueError,
     "if input is 2D, then offsets has to be None"),
    (lambda w: F.embedding_bag(cr.tensor([[[1]]]), w), ValueError,
     "input has to be 1D or 2D Tensor, but got Tensor of dimension 3"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2, 3]), w, cr.tensor([1, 2])), RuntimeError,
     r"offsets\[0\] has to be 0.*got 1"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2, 3]), w, cr.tensor([0, 2, 1])), ValueError,
     r"offsets must not decrease, but offsets\[1\] = 2 > offsets\[2\] = 1"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2, 3]), w, cr.tensor([0, 4])), RuntimeError,
     r"offsets\[-1\] can not be greater than input's length 3 but got offsets\[-1\] of 4"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([], dtype=cr.long)),
     ValueError, "offsets is empty"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([[0]])), ValueError,
     "offsets has to be a 1D Tensor"),
    (lambda w: F.embedding_bag(cr.tensor([1, 7]), w, cr.tensor([0])), RuntimeError,
     r"index 7 is out of range for 5 embeddings; indices must be in \[0, 5\)"),
    (lambda w: F.embedding_bag(cr.tensor([[-1, 2]]), w), RuntimeError,
     "index -1 is out of range for 5 embeddings"),
    (lambda w: F.embedding_bag(cr.tensor([1.0, 2.0]), w, cr.tensor([0])), TypeError,
     "input must be integer indices"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([0.0])), TypeError,
     "offsets must be integer indices"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w[0], cr.tensor([0])), ValueError,
     "weight has to be a 2D Tensor, but got Tensor of dimension 1"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([0]), mode="avg"), ValueError,
     "mode has to be one of sum, mean or max"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([0]), mode="mean",
                               per_sample_weights=cr.ones(2)), NotImplementedError,
     "per_sample_weights is only supported for mode='sum' \\(got mode='mean'\\)"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([0]), mode="max",
                               per_sample_weights=cr.ones(2)), NotImplementedError,
     "per_sample_weights is only supported for mode='sum' \\(got mode='max'\\)"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([0]), mode="sum",
                               per_sample_weights=cr.ones(3)), ValueError,
     r"per_sample_weights \(\(3,\)\) .* same shape as the input \(\(2,\)\)"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([0]), mode="sum",
                               per_sample_weights=cr.ones(2, dtype=cr.float64)), TypeError,
     "per_sample_weights \\(float64\\) must have the dtype of weight \\(float32\\)"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([0]), mode="max",
                               scale_grad_by_freq=True), ValueError,
     "max mode does not support scaling the gradient by the frequency"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([0]), sparse=True),
     NotImplementedError, "sparse gradients are not supported"),
    (lambda w: F.embedding_bag(cr.tensor([1, 2]), w, cr.tensor([0]), padding_idx=5),
     RuntimeError, "padding_idx must be within the number of embeddings, -5 through 4, but "
     "got 5"),
])
def test_errors(call, error, message):
    w = cr.randn(5, 3, requires_grad=True)
    before = w.data.copy()
    with pytest.raises(error, match=message):
        call(w)
    np.testing.assert_array_equal(w.data, before)
