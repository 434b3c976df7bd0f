"""Audit of cr.nn against torch.nn: the cases where chainrule differed from PyTorch or failed
with an unclear error (empty batches, invalid geometry, all-ignored targets, masks, ...)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")

F = nn.functional
TF = torch.nn.functional


def _pair(*arrays: np.ndarray, grad: bool = True) -> tuple[list, list]:
    """The same float64 arrays as chainrule and torch tensors (floats requiring grad)."""
    cs, ts = [], []
    for a in arrays:
        rg = grad and a.dtype.kind == "f"
        cs.append(cr.tensor(a, requires_grad=rg))
        ts.append(torch.tensor(a, requires_grad=rg))
    return cs, ts


def _check(cout: cr.Tensor, tout: Any, cin: list, tin: list, tol: float = 1e-10) -> None:
    """Outputs (shape and values) and the input gradients of ``Σ out·w`` agree."""
    assert cout.shape == tuple(tout.shape)
    np.testing.assert_allclose(cout.data, tout.detach().numpy(), atol=tol, rtol=tol)
    w = np.random.default_rng(0).normal(size=cout.shape)
    (cout * cr.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for c, t in zip(cin, tin):
        if t.requires_grad:
            assert c.grad is not None and c.grad.shape == tuple(t.grad.shape)
            np.testing.assert_allclose(c.grad.data, t.grad.numpy(), atol=tol, rtol=tol)


def _copy_weights(cm: nn.Module, tm: Any) -> None:
    cm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})


# --------------------------------------------------------------------------- convolution

@pytest.mark.parametrize("make", [
    lambda m: m.Conv2d(3, 4, 2),
    lambda m: m.Conv2d(3, 16, 3, padding=1),  # channels-inner layout
    lambda m: m.Conv2d(4, 4, 3, groups=2, stride=2),
    lambda m: m.Conv1d(3, 4, 3, padding="same"),
    lambda m: m.ConvTranspose2d(3, 4, 3, stride=2, output_padding=1),
    lambda m: m.ConvTranspose2d(4, 16, 3),
])
def test_conv_empty_batch_matches_torch(make: Callable) -> None:
    torch.manual_seed(0)
    tm, cm = make(torch.nn).double(), make(nn).to(cr.float64)
    _copy_weights(cm, tm)
    c_in = tm.in_channels
    shape = (0, c_in, 7) if isinstance(tm, torch.nn.Conv1d) else (0, c_in, 7, 8)
    (cx,), (tx,) = _pair(np.zeros(shape))
    _check(cm(cx), tm(tx), [cx], [tx])
    assert cm.weight.grad is not None and not cm.weight.grad.data.any()
    assert cm.bias.grad is not None and not cm.bias.grad.data.any()


@pytest.mark.parametrize("kwargs, what", [
    ({"stride": 0}, "stride"),
    ({"padding": -1}, "padding"),
    ({"dilation": 0}, "dilation"),
])
def test_conv2d_invalid_geometry_raises_clear_error(kwargs: dict, what: str) -> None:
    x, w = cr.randn(1, 2, 6, 6), cr.randn(3, 2, 2, 2)
    with pytest.raises(ValueError, match=f"conv2d: {what} must be"):
        F.conv2d(x, w, **kwargs)
    with pytest.raises(ValueError, match=f"conv_transpose2d: {what} must be"):
        F.conv_transpose2d(x, cr.randn(2, 3, 2, 2), **kwargs)


def test_conv_zero_kernel_raises_clear_error() -> None:
    with pytest.raises(ValueError, match="conv2d: kernel size must be positive"):
        F.conv2d(cr.randn(1, 2, 6, 6), cr.randn(3, 2, 0, 2))


@pytest.mark.parametrize("src", [
    "Conv2d(4, 6, 3, padding='same', bias=False, padding_mode='reflect')",
    "Conv2d(4, 6, 3, padding='valid')",
    "Conv1d(4, 6, 2, padding='same', padding_mode='circular')",
    "AvgPool1d(3, 2, 1, ceil_mode=True)",
    "AvgPool1d(4)",
    "RNNCell(3, 4, nonlinearity='relu')",
])
def test_repr_matches_torch(src: str) -> None:
    assert repr(eval("nn." + src)) == repr(eval("torch.nn." + src))


# --------------------------------------------------------------------------- pooling

@pytest.mark.parametrize("size", [(3, 3), (2, 5)])
def test_adaptive_avg_pool_empty_batch_matches_torch(size: tuple) -> None:
    (cx,), (tx,) = _pair(np.zeros((0, 3, 7, 8)))
    _check(F.adaptive_avg_pool2d(cx, size), TF.adaptive_avg_pool2d(tx, size), [cx], [tx])


def test_adaptive_avg_pool_of_integers_averages() -> None:
    x = np.arange(8).reshape(1, 1, 8)
    y = F.adaptive_avg_pool1d(cr.tensor(x), 3)
    expected = TF.adaptive_avg_pool1d(torch.tensor(x, dtype=torch.float64), 3).numpy()
    assert y.dtype.kind == "f"
    np.testing.assert_allclose(y.data, expected)
    y2 = F.adaptive_avg_pool2d(cr.tensor(np.arange(16).reshape(1, 4, 4)), 2)
    np.testing.assert_allclose(y2.data, [[[2.5, 4.5], [10.5, 12.5]]])


# --------------------------------------------------------------------------- normalisation

def test_group_norm_bad_input_raises_clear_error() -> None:
    with pytest.raises(ValueError, match=r"group_norm: expected an input of shape \(N, C"):
        nn.GroupNorm(2, 4)(cr.randn(4))
    with pytest.raises(ValueError, match=r"^group_norm: weight of shape \(4,\) does not match "
                                         r"the input of shape \(2, 6\), which has 6 channels "
                                         r"\(dim 1\); pass a weight of shape \(6,\), one value "
                                         r"per channel$"):
        nn.GroupNorm(2, 4)(cr.randn(2, 6))
    with pytest.raises(ValueError, match="num_groups"):
        nn.GroupNorm(0, 4)


def test_batch_norm_empty_batch_in_training_matches_torch() -> None:
    tm, cm = torch.nn.BatchNorm1d(3).double(), nn.BatchNorm1d(3).to(cr.float64)
    (cx,), (tx,) = _pair(np.zeros((0, 3)))
    _check(cm(cx), tm(tx), [cx], [tx])
    np.testing.assert_array_equal(cm.running_mean.data, tm.running_mean.numpy())
    np.testing.assert_array_equal(cm.running_var.data, tm.running_var.numpy())
    assert cm.num_batches_tracked.item() == tm.num_batches_tracked.item()


# --------------------------------------------------------------------------- recurrent

@pytest.mark.parametrize("shape, batch_first", [((0, 2, 3), False), ((2, 0, 3), True),
                                                ((0, 3), False)])
def test_rnn_empty_sequence_raises_clear_error(shape: tuple, batch_first: bool) -> None:
    for cls in (nn.RNN, nn.LSTM, nn.GRU):
        with pytest.raises(ValueError, match="sequence length larger than 0"):
            cls(3, 5, batch_first=batch_first)(cr.randn(*shape))


# --------------------------------------------------------------------------- attention

@pytest.mark.parametrize("q, k, v, match", [
    ((3, 2, 8), (4, 2, 8), (5, 2, 8), "must agree in all dims but the last"),
    ((3, 2, 8), (4, 3, 8), (4, 3, 8), "different batch sizes"),
    ((3, 2, 8, 1), (4, 2, 8, 1), (4, 2, 8, 1), "query should be unbatched 2-D"),
    ((3, 2, 8), (4, 8), (4, 8), "same number of dims"),
])
def test_multihead_attention_bad_shapes_raise_clear_error(q: tuple, k: tuple, v: tuple,
                                                          match: str) -> None:
    mha = nn.MultiheadAttention(8, 2)
    with pytest.raises(ValueError, match=f"multi_head_attention_forward: .*{match}"):
        mha(cr.randn(*q), cr.randn(*k), cr.randn(*v))


@pytest.mark.parametrize("is_causal", [False, True])
def test_sdpa_without_keys_matches_torch(is_causal: bool) -> None:
    """No keys (S = 0): the output is zeros, as PyTorch's."""
    shapes = ((2, 3, 4, 5), (2, 3, 0, 5), (2, 3, 0, 7))
    rng = np.random.default_rng(0)
    cin, tin = _pair(*(rng.normal(size=s) for s in shapes))
    _check(F.scaled_dot_product_attention(*cin, is_causal=is_causal),
           TF.scaled_dot_product_attention(*tin, is_causal=is_causal), cin, tin)


def test_sdpa_integer_mask_raises() -> None:
    q = cr.randn(2, 4, 5)
    with pytest.raises(TypeError, match="attn_mask must be bool .* or float"):
        F.scaled_dot_product_attention(q, q, q, attn_mask=cr.tensor(np.ones((4, 4), int)))


# --------------------------------------------------------------------------- losses

@pytest.mark.parametrize("kwargs", [{}, {"weight": np.array([0.5, 2.0, 1.0, 1.5])},
                                    {"label_smoothing": 0.2}])
@pytest.mark.parametrize("shape", [(3, 4), (4,)])
def test_cross_entropy_all_targets_ignored_gives_zero_gradient(kwargs: dict,
                                                               shape: tuple) -> None:
    x = np.random.default_rng(0).normal(size=shape)
    target = np.full(shape[:-1], 1)
    (cx,), (tx,) = _pair(x)
    ckw = {k: cr.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}
    c = F.cross_entropy(cx, cr.tensor(target), ignore_index=1, **ckw)
    t = TF.cross_entropy(tx, torch.tensor(target), ignore_index=1, **tkw)
    assert np.isnan(c.item()) and np.isnan(t.item())
    c.backward()
    t.backward()
    np.testing.assert_array_equal(cx.grad.data, tx.grad.numpy())


def test_nll_loss_all_targets_ignored_gives_zero_gradient() -> None:
    x = np.random.default_rng(0).normal(size=(3, 4))
    (cx,), (tx,) = _pair(x)
    c = F.nll_loss(cx, cr.tensor([-100, -100, -100]))
    t = TF.nll_loss(tx, torch.tensor([-100, -100, -100]))
    assert np.isnan(c.item()) and np.isnan(t.item())
    c.backward()
    t.backward()
    np.testing.assert_array_equal(cx.grad.data, tx.grad.numpy())
    cy = cr.tensor(x, requires_grad=True)  # some targets left: the usual mean
    F.nll_loss(cy, cr.tensor([-100, 2, 1])).backward()
    ty = torch.tensor(x, requires_grad=True)
    TF.nll_loss(ty, torch.tensor([-100, 2, 1])).backward()
    np.testing.assert_allclose(cy.grad.data, ty.grad.numpy())


# --------------------------------------------------------------------------- activations

def test_prelu_slopes_must_match_channels() -> None:
    with pytest.raises(ValueError, match=r"prelu: 4 slopes do not match the 3 channels"):
        nn.PReLU(4)(cr.randn(2, 3))
    with pytest.raises(ValueError, match=r"prelu: 5 slopes do not match the 1 channels"):
        nn.PReLU(5)(cr.randn(5))


# --------------------------------------------------------------------------- padding

@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape, pad", [
    ((2, 3, 5), (1, 2)),
    ((3, 4, 5), (1, 2, 2, 1)),
    ((2, 3, 5), (-1, 2)),           # a negative pad crops first
    ((2, 3, 5), (2, -1)),
    ((2, 3, 4, 5), (1, -2, 0, 3)),
])
def test_functional_pad_modes_match_torch(mode: str, shape: tuple, pad: tuple) -> None:
    x = np.random.default_rng(0).normal(size=shape)
    (cx,), (tx,) = _pair(x)
    _check(F.pad(cx, pad, mode=mode), TF.pad(tx, pad, mode=mode), [cx], [tx])


def test_functional_pad_bad_mode_raises() -> None:
    with pytest.raises(ValueError, match="pad: mode must be"):
        F.pad(cr.randn(1, 2, 3), (1, 1), mode="mirror")
    with pytest.raises(ValueError, match="reflect padding"):
        F.pad(cr.randn(1, 2, 3), (3, 0), mode="reflect")


# --------------------------------------------------------------------------- norm errors

def test_norm_parameter_shapes_checked_with_clear_errors() -> None:
    x = cr.randn(4, 3, 5)
    with pytest.raises(ValueError, match=r"^layer_norm: weight of shape \(4,\) does not match "
                                         r"normalized_shape \(5,\); pass a weight of shape "
                                         r"\(5,\), one value per element of normalized_shape$"):
        F.layer_norm(x, (5,), cr.randn(4))
    with pytest.raises(ValueError, match=r"^batch_norm: weight of shape \(4,\) does not match "
                                         r"the input of shape \(4, 3, 5\), which has 3 channels "
                                         r"\(dim 1\); pass a weight of shape \(3,\), one value "
                                         r"per channel$"):
        F.batch_norm(x, None, None, cr.randn(4), training=True)
    for training in (False, True):
        with pytest.raises(ValueError, match=r"^batch_norm: running_mean of shape \(4,\) does "
                                             r"not match the input of shape \(4, 3, 5\), which "
                                             r"has 3 channels \(dim 1\); pass a running_mean of "
                                             r"shape \(3,\)"):
            F.batch_norm(x, cr.zeros(4), cr.ones(4), training=training)


def _norm_calls(x: Any, p: Any, ok: Any, m: Any) -> dict[str, Callable[[], Any]]:
    """Each normalisation with ``p`` as one of its per-channel parameters (the others
    ``ok``, of shape (C,)); ``m`` is torch.nn.functional or chainrule's."""
    calls = {
        "batch_norm train weight": lambda: m.batch_norm(x, None, None, p, None, True),
        "batch_norm eval bias": lambda: m.batch_norm(x, ok * 0, ok, None, p, False),
        "batch_norm eval running_mean": lambda: m.batch_norm(x, p * 0, ok, None, None, False),
        "batch_norm train running_var": lambda: m.batch_norm(x, ok * 0, p, None, None, True),
        "group_norm weight": lambda: m.group_norm(x, 1, p),
        "group_norm bias": lambda: m.group_norm(x, 1, None, p),
    }
    if x.ndim >= 3:
        calls.update({
            "instance_norm weight": lambda: m.instance_norm(x, weight=p),
            "instance_norm bias": lambda: m.instance_norm(x, bias=p),
            "instance_norm running_mean": lambda: m.instance_norm(x, p * 0, ok),
            "instance_norm eval weight": lambda: m.instance_norm(
                x, ok * 0, ok, weight=p, use_input_stats=False),
            "instance_norm eval running_var": lambda: m.instance_norm(
                x, ok * 0, p, use_input_stats=False),
        })
    return calls


@pytest.mark.parametrize("x_shape", [(2, 3, 4, 5), (4, 3), (2, 1, 4), (4, 1)])
@pytest.mark.parametrize("p_shape", [(1, -1), (-1, 1), (-1, 1, 1), (-2,), (1,), (), (0,)])
def test_norm_channel_parameters_refused_exactly_when_torch_refuses(x_shape: tuple,
                                                                    p_shape: tuple) -> None:
    # the sizes were checked twice (different messages), and a (1, C) running_mean, a (C, 1)
    # instance_norm weight or a (2,) running_mean for one channel passed where torch refuses;
    # batch_norm's eval path failed in reshape on a (C, 1) weight that torch takes
    c = x_shape[1]
    shape = tuple(c if d == -1 else 2 * c if d == -2 else d for d in p_shape)
    x = np.random.default_rng(0).normal(size=x_shape)
    p, ok = np.full(shape, 1.5), np.full(c, 1.25)
    ours = _norm_calls(cr.tensor(x), cr.tensor(p), cr.tensor(ok), F)
    theirs = _norm_calls(torch.tensor(x), torch.tensor(p), torch.tensor(ok), TF)
    for what, call in ours.items():
        op, name = what.split()[0], what.split()[-1]
        try:
            expected = theirs[what]().numpy()
        except RuntimeError:
            with pytest.raises(ValueError, match=rf"^{op}: {name} of shape {re.escape(str(shape))} "
                                                 rf"does not match the input of shape "
                                                 rf"{re.escape(str(x_shape))}, which has {c} "
                                                 rf"channels \(dim 1\); pass a {name} of shape "
                                                 rf"\({c},\), one value per channel$"):
                call()
        else:
            np.testing.assert_allclose(call().numpy(), expected, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("normalized_shape", [(5,), (4, 5)])
@pytest.mark.parametrize("p_shape", [(5,), (1, 5), (4, 5), (20,), (5, 4), (1, 4, 5), (), (1,)])
def test_layer_and_rms_norm_parameters_refused_exactly_when_torch_refuses(
        normalized_shape: tuple, p_shape: tuple) -> None:
    # layer_norm took any shape of as many values ((20,) for (4, 5)), rms_norm any that broadcast
    x, p = np.random.default_rng(0).normal(size=(2, 3, 4, 5)), np.full(p_shape, 1.5)
    for op, name in (("layer_norm", "weight"), ("layer_norm", "bias"), ("rms_norm", "weight")):
        args = (p, None) if name == "weight" else (None, p)
        if op == "rms_norm":
            args = args[:1]
        try:
            expected = getattr(TF, op)(torch.tensor(x), normalized_shape,
                                       *(None if a is None else torch.tensor(a) for a in args))
        except RuntimeError:
            with pytest.raises(ValueError, match=rf"^{op}: {name} of shape "
                                                 rf"{re.escape(str(p_shape))} does not match "
                                                 rf"normalized_shape "
                                                 rf"{re.escape(str(normalized_shape))}; pass a "
                                                 rf"{name} of shape "
                                                 rf"{re.escape(str(normalized_shape))}, one value "
                                                 rf"per element of normalized_shape$"):
                getattr(F, op)(cr.tensor(x), normalized_shape,
                               *(None if a is None else cr.tensor(a) for a in args))
        else:
            got = getattr(F, op)(cr.tensor(x), normalized_shape,
                                 *(None if a is None else cr.tensor(a) for a in args))
            np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-12)


def test_rms_norm_normalized_shape_must_be_the_trailing_dims() -> None:
    # was silently normalised over the last dim whatever its size (torch refuses)
    with pytest.raises(ValueError, match=r"^rms_norm: normalized_shape \(4,\) must be the "
                                         r"trailing dims of the input, got input of shape "
                                         r"\(2, 3, 5\)$"):
        F.rms_norm(cr.randn(2, 3, 5), (4,))


# --------------------------------------------------------------------------- embedding

@pytest.mark.parametrize("kwargs", [{}, {"padding_idx": 3}, {"max_norm": 1.0}])
def test_embedding_scale_grad_by_freq_matches_torch(kwargs: dict) -> None:
    torch.manual_seed(0)
    tm = torch.nn.Embedding(10, 4, scale_grad_by_freq=True, **kwargs).double()
    cm = nn.Embedding(10, 4, scale_grad_by_freq=True, **kwargs).to(cr.float64)
    _copy_weights(cm, tm)
    idx = np.array([[1, 2, 0, 9], [3, 3, 3, 1]])
    _check(cm(cr.tensor(idx)), tm(torch.tensor(idx)), [], [])
    np.testing.assert_allclose(cm.weight.grad.data, tm.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(cm.weight.data, tm.weight.detach().numpy(), atol=1e-12)


# --------------------------------------------------------------------------- more shapes

@pytest.mark.parametrize("shape", [(0, 4, 3), (0, 4)])
def test_group_norm_empty_batch_matches_torch(shape: tuple) -> None:
    tm, cm = torch.nn.GroupNorm(2, 4).double(), nn.GroupNorm(2, 4).to(cr.float64)
    (cx,), (tx,) = _pair(np.zeros(shape))
    _check(cm(cx), tm(tx), [cx], [tx])


def test_instance_norm_of_one_spatial_element_raises() -> None:
    with pytest.raises(ValueError, match="instance_norm: expected more than 1 spatial"):
        nn.InstanceNorm1d(3)(cr.randn(2, 3, 1))


@pytest.mark.parametrize("cell, x, hx", [
    (lambda: nn.RNNCell(3, 4), (2, 3), [(3, 4)]),
    (lambda: nn.GRUCell(3, 4), (3,), [(1, 4)]),
    (lambda: nn.LSTMCell(3, 4), (2, 3), [(2, 5), (2, 4)]),
])
def test_rnn_cell_state_shape_checked(cell: Callable, x: tuple, hx: list) -> None:
    state = [cr.randn(*s) for s in hx]
    with pytest.raises(ValueError, match="expected a hidden state of shape"):
        cell()(cr.randn(*x), state[0] if len(state) == 1 else tuple(state))


def test_lstm_cell_state_must_be_a_pair() -> None:
    """A single (2, 4) tensor used to be unpacked into its two rows as (h, c)."""
    with pytest.raises(ValueError, match=r"LSTMCell: hx must be a tuple \(h, c\)"):
        nn.LSTMCell(3, 4)(cr.randn(2, 3), cr.randn(2, 4))


# --------------------------------------------------------------------------- module API

def test_load_state_dict_without_num_batches_tracked_as_torch() -> None:
    """PyTorch loads BatchNorm checkpoints that predate ``num_batches_tracked`` (it keeps
    its value) without reporting a missing key."""
    tm = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.BatchNorm1d(3))
    cm = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    old = {k: v for k, v in tm.state_dict().items() if "num_batches" not in k}
    assert tuple(cm.load_state_dict(old)) == tuple(tm.load_state_dict(old)) == ([], [])
    np.testing.assert_array_equal(cm[1].running_var.data, tm[1].running_var.numpy())
    assert cm[1].num_batches_tracked.item() == 0
    del old["0.bias"]  # other keys are still required
    with pytest.raises(cr.StateDictError, match="0.bias"):
        cm.load_state_dict(old)


@pytest.mark.parametrize("shape", [(3, 4), (4,), (2, 4, 5)])
def test_cross_entropy_float_class_indices_get_a_hint(shape: tuple) -> None:
    x = cr.randn(*shape)
    target = cr.zeros(*(shape[:1] + shape[2:] if len(shape) > 1 else ()))
    with pytest.raises(ValueError, match=r"class indices must be an integer tensor"):
        F.cross_entropy(x, target)


# --------------------------------------------------------------------------- init

@pytest.mark.parametrize("mean, std, a, b", [(0.0, 1.0, 3.0, 4.0), (0.0, 1.0, -4.0, -3.0),
                                             (1.0, 0.5, 4.0, 5.0)])
def test_trunc_normal_far_interval_is_not_clipped(mean: float, std: float, a: float,
                                                  b: float) -> None:
    """Resampling alone left a quarter of the values at the bound for a far-out [a, b]."""
    w = cr.empty(20000)
    nn.init.trunc_normal_(w, mean, std, a, b, generator=cr.Generator().manual_seed(0))
    d = w.data
    assert d.min() >= a and d.max() <= b
    assert (d == a).mean() < 1e-3 and (d == b).mean() < 1e-3
    # the truncated normal's mean: μ + σ(φ(α) - φ(β))/(Φ(β) - Φ(α))
    al, be = (a - mean) / std, (b - mean) / std
    pdf = [math.exp(-z * z / 2) / math.sqrt(2 * math.pi) for z in (al, be)]
    mass = 0.5 * (math.erfc(-be / math.sqrt(2)) - math.erfc(-al / math.sqrt(2)))
    assert abs(d.mean() - (mean + std * (pdf[0] - pdf[1]) / mass)) < 0.02 * std


def test_init_bad_arguments_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="uniform_: the lower bound"):
        nn.init.uniform_(cr.empty(3), 1.0, 0.0)
    with pytest.raises(ValueError, match="normal_: std must be >= 0"):
        nn.init.normal_(cr.empty(3), 0.0, -1.0)
    with pytest.raises(ValueError, match="trunc_normal_: need std > 0 and a <= b"):
        nn.init.trunc_normal_(cr.empty(3), a=2.0, b=-2.0)
    with pytest.raises(ValueError, match="dirac_: dim 0 .* divisible by groups=2"):
        nn.init.dirac_(cr.empty(5, 3, 3), 2)


# --------------------------------------------------------------------------- dtypes, sizes

def test_bad_dtypes_and_sizes_raise_clear_errors() -> None:
    ints = cr.tensor([[1, 2], [3, 4]])
    with pytest.raises(TypeError, match="scaled_dot_product_attention: .* floating point"):
        F.scaled_dot_product_attention(ints, ints, ints)
    with pytest.raises(TypeError, match="max_pool1d: boolean input"):
        F.max_pool1d(cr.tensor([[[True, False, True, True]]]), 2)
    conv_t = nn.ConvTranspose2d(2, 3, 3, stride=2)
    for size in ([9], [2, 9, 9]):
        with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
            conv_t(cr.randn(1, 2, 4, 4), output_size=size)


@pytest.mark.parametrize("a, b", [(-40.0, -39.0), (39.0, 40.0), (-60.0, -50.0)])
def test_trunc_normal_beyond_double_precision_stays_finite_and_inside(a: float, b: float) -> None:
    # Φ(a) and Φ(b) both round to 0 here: the draws come from the tail's exponential shape
    w = cr.empty(5000)
    nn.init.trunc_normal_(w, 0.0, 1.0, a, b, generator=cr.Generator().manual_seed(0))
    d = w.data
    assert np.isfinite(d).all() and d.min() >= a and d.max() <= b
    # nearly all the mass sits within a few 1/|edge| of the edge nearer 0
    near = b if b < 0 else a
    assert np.abs(d - near).mean() < 2.0 / abs(near)


def test_embedding_scale_grad_by_freq_leaves_the_lookup_exact_in_float32() -> None:
    w = cr.tensor(np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32),
                  requires_grad=True)
    idx = np.array([[1, 2, 0, 9], [3, 3, 3, 1]])
    out = F.embedding(cr.tensor(idx), w, scale_grad_by_freq=True)
    np.testing.assert_array_equal(out.numpy(), w.data[idx])  # the rows themselves, bit for bit
    (out * cr.tensor(np.arange(32.0, dtype=np.float32).reshape(2, 4, 4))).sum().backward()
    tw = torch.tensor(w.data, requires_grad=True)
    tout = torch.nn.functional.embedding(torch.tensor(idx), tw, scale_grad_by_freq=True)
    (tout * torch.arange(32.0).reshape(2, 4, 4)).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_cr_pad_and_nn_functional_pad_are_one_function(mode: str) -> None:
    x = np.arange(24.0).reshape(2, 3, 4)
    want = torch.nn.functional.pad(torch.tensor(x), (1, 2), mode=mode).numpy()
    np.testing.assert_array_equal(cr.pad(cr.tensor(x), (1, 2), mode=mode).numpy(), want)
    np.testing.assert_array_equal(F.pad(cr.tensor(x), (1, 2), mode=mode).numpy(), want)


@pytest.mark.parametrize("case", ["batch_norm mean only, training", "batch_norm var only, eval",
                                  "batch_norm none, eval", "instance_norm mean only",
                                  "instance_norm none, running stats asked for"])
def test_norm_running_statistics_given_as_pytorch_requires(case: str) -> None:
    # one running statistic without the other, or none where they are to be used, was taken
    # for "use the batch's statistics"; PyTorch refuses each of these
    x = np.random.default_rng(0).normal(size=(4, 3, 5))
    calls = {
        "batch_norm mean only, training": (
            lambda m, t: m.batch_norm(t(x), t(np.zeros(3)), None, training=True),
            r"^batch_norm: running_mean and running_var must both be given or both be None, "
            r"got only running_mean$"),
        "batch_norm var only, eval": (
            lambda m, t: m.batch_norm(t(x), None, t(np.ones(3)), training=False),
            r"^batch_norm: running_mean and running_var must both be given or both be None, "
            r"got only running_var$"),
        "batch_norm none, eval": (
            lambda m, t: m.batch_norm(t(x), None, None, training=False),
            r"^batch_norm: evaluation \(training=False\) normalises with the running "
            r"statistics; pass running_mean and running_var, or training=True"),
        "instance_norm mean only": (
            lambda m, t: m.instance_norm(t(x), t(np.zeros(3))),
            r"^instance_norm: running_mean and running_var must both be given or both be None"),
        "instance_norm none, running stats asked for": (
            lambda m, t: m.instance_norm(t(x), use_input_stats=False),
            r"^instance_norm: use_input_stats=False normalises with the running statistics"),
    }
    call, message = calls[case]
    with pytest.raises((RuntimeError, ValueError)):
        call(TF, torch.tensor)
    with pytest.raises(ValueError, match=message):
        call(F, cr.tensor)
    # the forms PyTorch takes still work and agree
    for ours, theirs in ((F.batch_norm(cr.tensor(x), None, None, training=True),
                          TF.batch_norm(torch.tensor(x), None, None, training=True)),
                         (F.instance_norm(cr.tensor(x)), TF.instance_norm(torch.tensor(x)))):
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-12)


LINEAR_BIAS_SHAPES = [((5, 4), (5, 3)), ((5, 4), (1, 3)), ((4,), (1, 3)), ((4,), (3,)),
                      ((2, 5, 4), (5, 3)), ((5, 4), ()), ((5, 4), (5, 1)), ((5, 4), (1,)),
                      ((2, 5, 4), (2, 1, 3)), ((5, 4), (2, 5, 3)), ((4,), (2, 3)),
                      ((4,), (1, 1, 3)), ((5, 4), (1, 1, 3))]


@pytest.mark.parametrize("x_shape, b_shape", LINEAR_BIAS_SHAPES)
def test_linear_takes_the_biases_torch_takes(x_shape, b_shape):
    """F.linear with a bias of another shape than (out,): the same output, gradients and
    refusals as PyTorch (a (5, 3) bias used to fail in backward, a (1, 3) one on a vector in
    forward)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(x_shape), rng.standard_normal((3, 4)),
              rng.standard_normal(b_shape)]
    t_args = [torch.tensor(a, requires_grad=True) for a in arrays]
    c_args = [cr.tensor(a, requires_grad=True) for a in arrays]
    try:
        t_out = torch.nn.functional.linear(*t_args)
    except RuntimeError:
        with pytest.raises(ValueError, match="linear: a bias of shape"):
            cr.nn.functional.linear(*c_args)
        return
    c_out = cr.nn.functional.linear(*c_args)
    np.testing.assert_allclose(c_out.numpy(), t_out.detach().numpy(), rtol=1e-12)
    (t_out ** 2).sum().backward()
    (c_out ** 2).sum().backward()
    for c, t in zip(c_args, t_args):
        np.testing.assert_allclose(c.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    assert cr.gradcheck(cr.nn.functional.linear, c_args)
    forward = cr.jacfwd(cr.nn.functional.linear, argnums=2)(*arrays)
    reverse = cr.jacrev(cr.nn.functional.linear, argnums=2)(*arrays)
    np.testing.assert_allclose(forward.numpy(), reverse.numpy(), rtol=1e-12)
