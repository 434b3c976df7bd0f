"""Fractional max pooling (same ``_random_samples`` as PyTorch: same windows, indices and
gradients, exactly), ``FeatureAlphaDropout`` (statistics; the identity in eval mode) and
``AdaptiveLogSoftmaxWithLoss`` (torch's state dict loads; outputs, loss, log_prob, predict and
all gradients against torch; central differences; the errors)."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")

from torch_parity_helpers import TOL, TORCH_DTYPE, close  # noqa: E402

TF = torch.nn.functional

# (nd, input shape, kernel, output_size, output_ratio)
POOLS = [(2, (2, 3, 9, 10), (2, 3), (4, 5), None),
         (2, (2, 3, 17, 10), 3, (6, 4), None),
         (2, (3, 9, 10), 2, (8, 1), None),
         (2, (2, 2, 11, 12), (3, 2), None, (0.5, 0.7)),
         (3, (2, 2, 7, 8, 9), (2, 3, 2), (3, 4, 5), None),
         (3, (2, 5, 6, 7), 2, None, (0.5, 0.5, 0.6))]


def _pool_pair(nd: int, shape: tuple, kernel, size, ratio, dtype: type, seed: int = 0,
               nan: bool = False) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    if nan:
        x.reshape(-1)[[3, 4, 17]] = np.nan
    n = shape[0] if len(shape) == nd + 2 else 1
    samples = rng.random((n, shape[-nd - 1], nd)).astype(dtype)
    cx = cr.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    kw = dict(output_size=size, output_ratio=ratio, return_indices=True)
    y, idx = getattr(F, f"fractional_max_pool{nd}d")(cx, kernel, _random_samples=cr.tensor(
        samples), **kw)
    ty, tidx = getattr(TF, f"fractional_max_pool{nd}d")(tx, kernel, _random_samples=torch.tensor(
        samples), **kw)
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    assert idx.dtype == np.int64
    np.testing.assert_array_equal(y.data, ty.detach().numpy())
    w = rng.standard_normal(ty.shape).astype(dtype)
    (y * cr.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(cx.grad.data, tx.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("nd,shape,kernel,size,ratio", POOLS)
def test_fractional_max_pool_matches_torch_exactly(nd, shape, kernel, size, ratio, dtype):
    for seed in range(3):
        _pool_pair(nd, shape, kernel, size, ratio, dtype, seed)


def test_fractional_max_pool_nan_and_ties_as_torch():
    _pool_pair(2, (2, 3, 9, 10), 3, (5, 5), None, np.float64, nan=True)
    _pool_pair(3, (1, 2, 5, 6, 7), 2, (3, 3, 3), None, np.float64, nan=True)
    x = np.zeros((1, 1, 6, 6))  # all ties: the first of each window, as torch
    s = np.full((1, 1, 2), 0.3)
    _, idx = F.fractional_max_pool2d(cr.tensor(x), 2, 3, return_indices=True,
                                     _random_samples=cr.tensor(s))
    _, tidx = TF.fractional_max_pool2d(torch.tensor(x), 2, 3, return_indices=True,
                                       _random_samples=torch.tensor(s))
    np.testing.assert_array_equal(idx.data, tidx.numpy())


def test_fractional_max_pool_central_differences():
    x = cr.tensor(np.random.default_rng(0).permutation(2 * 2 * 8 * 9).reshape(2, 2, 8, 9)
                  / 50.0, requires_grad=True)  # distinct values: no ties at the argmax
    s = cr.tensor(np.random.default_rng(1).random((2, 2, 2)))
    assert cr.gradcheck(lambda a: F.fractional_max_pool2d(a, 2, (4, 5), _random_samples=s),
                        (x,))


def test_fractional_modules_and_own_samples():
    cr.manual_seed(0)
    pool = cr.nn.FractionalMaxPool2d(3, output_ratio=0.5, return_indices=True)
    x = cr.randn(2, 3, 10, 8)
    cr.manual_seed(0)
    y, idx = pool(x)
    assert y.shape == (2, 3, 5, 4) and idx.shape == (2, 3, 5, 4)
    # each output is the max of its 3x3 window around the returned index
    flat = x.data.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, idx.data.reshape(2, 3, -1), 2),
                                  y.data.reshape(2, 3, -1))
    cr.manual_seed(0)
    again, _ = pool(x)
    np.testing.assert_array_equal(again.data, y.data)  # drawn from chainrule's generator
    assert dict(pool.state_dict()) == {}
    pool3 = cr.nn.FractionalMaxPool3d(2, output_size=3)
    assert pool3(cr.randn(1, 2, 6, 6, 6)).shape == (1, 2, 3, 3, 3)
    s = cr.rand(1, 2, 3)
    fixed = cr.nn.FractionalMaxPool3d(2, output_size=3, _random_samples=s)
    assert list(fixed.state_dict()) == ["_random_samples"]


def test_fractional_errors():
    x = cr.randn(2, 3, 9, 10)
    with pytest.raises(ValueError, match="output_size or an output_ratio"):
        F.fractional_max_pool2d(x, 2)
    with pytest.raises(RuntimeError, match="pool height 2 too large.*input height 9"):
        F.fractional_max_pool2d(x, 2, output_size=9)
    with pytest.raises(RuntimeError, match="_random_samples must have shape"):
        F.fractional_max_pool2d(x, 2, output_size=4, _random_samples=cr.rand(2, 3, 3))
    with pytest.raises(RuntimeError, match="same dtype"):
        F.fractional_max_pool2d(x, 2, output_size=4,
                                _random_samples=cr.rand(2, 3, 2).double())
    with pytest.raises(ValueError, match="either an output size, or a pooling ratio"):
        cr.nn.FractionalMaxPool2d(2)
    with pytest.raises(ValueError, match="only one of output_size and output_ratio"):
        cr.nn.FractionalMaxPool2d(2, output_size=3, output_ratio=0.5)
    with pytest.raises(ValueError, match=r"output_ratio must be between 0 and 1 \(got 1.5\)"):
        cr.nn.FractionalMaxPool2d(2, output_ratio=1.5)
    with pytest.raises(ValueError, match="3-D .unbatched. or 4-D"):
        F.fractional_max_pool2d(cr.randn(9, 10), 2, output_size=4)


# --------------------------------------------------------------------------- feature alpha dropout

def test_feature_alpha_dropout_statistics():
    cr.manual_seed(0)
    p = 0.3
    x = cr.randn(400, 300, 4, 3)
    y = F.feature_alpha_dropout(x, p, training=True).data
    # whole channels share one decision: dropped ones are constant (a·(-λα) + b)
    alpha = 1.7580993408473766
    a = 1.0 / np.sqrt((alpha ** 2 * p + 1) * (1 - p))
    dropped_value = -alpha * a + alpha * a * p
    per_channel = y.reshape(400, 300, -1)
    dropped = np.all(np.isclose(per_channel, dropped_value), axis=-1)
    assert abs(dropped.mean() - p) < 0.01
    kept = ~dropped
    np.testing.assert_allclose(per_channel[kept], a * x.data.reshape(400, 300, -1)[kept]
                               + alpha * a * p, rtol=1e-5, atol=1e-6)
    assert abs(y.mean()) < 0.01 and abs(y.std() - 1.0) < 0.01  # self-normalising


def test_feature_alpha_dropout_modes_and_gradient():
    x = cr.randn(4, 6, 5, requires_grad=True)
    assert F.feature_alpha_dropout(x, 0.5, training=False) is x
    layer = cr.nn.FeatureAlphaDropout(0.4)
    assert repr(layer) == "FeatureAlphaDropout(p=0.4, inplace=False)"
    assert layer.eval()(x) is x
    layer.train()
    cr.manual_seed(1)
    y = layer(x)
    y.sum().backward()
    a = 1.0 / np.sqrt((1.7580993408473766 ** 2 * 0.4 + 1) * 0.6)
    keep = ~np.isclose(x.grad.data, 0)
    np.testing.assert_allclose(x.grad.data[keep], a)
    assert (keep == keep[:, :, :1]).all()  # one decision per (N, C)
    np.testing.assert_array_equal(F.feature_alpha_dropout(x, 1.0, True).data, 0)
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        F.feature_alpha_dropout(x, 1.5, True)
    with pytest.raises(ValueError, match="between 0 and 1"):
        cr.nn.FeatureAlphaDropout(2.0)
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        F.feature_alpha_dropout(cr.randn(3), 0.5, True)


# --------------------------------------------------------------------------- adaptive softmax

def _asm_pair(dtype: type, head_bias: bool = True, cutoffs=(5, 9, 15)) -> tuple:
    torch.manual_seed(0)
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(16, 20, list(cutoffs), div_value=2.0,
                                             head_bias=head_bias).to(TORCH_DTYPE[dtype])
    cm = cr.nn.AdaptiveLogSoftmaxWithLoss(16, 20, cutoffs, div_value=2.0, head_bias=head_bias,
                                          dtype=dtype)
    assert list(cm.state_dict()) == list(tm.state_dict())
    cm.load_state_dict({k: cr.tensor(v.numpy()) for k, v in tm.state_dict().items()})
    return cm, tm


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("head_bias", [False, True])
def test_adaptive_log_softmax_against_torch(dtype, head_bias):
    cm, tm = _asm_pair(dtype, head_bias)
    rng = np.random.default_rng(0)
    tol = TOL[dtype]
    for targets in (rng.integers(0, 20, 12), np.array([0, 3, 4, 1]), np.array([19, 16, 15])):
        x = rng.standard_normal((len(targets), 16)).astype(dtype)
        cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out = cm(cx, cr.tensor(targets))
        expected = tm(tx, torch.tensor(targets))
        assert type(out).__name__ == "_ASMoutput" and out._fields == ("output", "loss")
        close(out.output, expected.output, tol, "output")
        close(out.loss, expected.loss, tol, "loss")
        out.loss.backward()
        expected.loss.backward()
        close(cx.grad, tx.grad, tol, "input grad")
        for (name, p), (tname, tp) in zip(cm.named_parameters(), tm.named_parameters()):
            assert name == tname
            if tp.grad is None:
                assert p.grad is None or not p.grad.data.any(), name
            else:
                close(p.grad, tp.grad, tol, f"{name} grad")
        cm.zero_grad()
        tm.zero_grad()
        close(cm.log_prob(cx), tm.log_prob(tx), tol, "log_prob")
        np.testing.assert_array_equal(cm.predict(cx).data, tm.predict(tx).numpy())


def test_adaptive_log_softmax_unbatched_predict_and_gradcheck():
    cm, tm = _asm_pair(np.float64)
    x = np.random.default_rng(1).standard_normal(16)
    out = cm(cr.tensor(x), cr.tensor(17))
    expected = tm(torch.tensor(x), torch.tensor(17))
    assert out.output.shape == ()
    close(out.output, expected.output, 1e-10, "unbatched output")
    # (torch 2.13's log_prob fails on a 1-D input; chainrule's treats it as one row)
    close(cm.log_prob(cr.tensor(x)), tm.log_prob(torch.tensor(x[None]))[0], 1e-10,
          "unbatched log_prob")
    # predict when the head's argmax falls in a cluster for some rows
    xs = np.random.default_rng(2).standard_normal((40, 16)) * 3
    np.testing.assert_array_equal(cm.predict(cr.tensor(xs)).data,
                                  tm.predict(torch.tensor(xs)).numpy())
    # one unbatched row (as log_prob; torch's predict fails on it): a 0-d class index
    for row in xs[:5]:
        one = cm.predict(cr.tensor(row))
        assert one.shape == () and one.item() == tm.predict(torch.tensor(row[None]))[0].item()
    np.testing.assert_allclose(np.exp(cm.log_prob(cr.tensor(xs)).data).sum(1), 1.0)
    targets = cr.tensor(np.array([0, 6, 12, 18, 4]))
    xin = cr.tensor(np.random.default_rng(3).standard_normal((5, 16)), requires_grad=True)
    assert cr.gradcheck(lambda a: cm(a, targets).loss, (xin,))
    w = cm.tail[1][0].weight
    assert cr.gradcheck(lambda _: cm(xin, targets).loss, (w,))


def test_adaptive_log_softmax_errors():
    with pytest.raises(ValueError, match="length larger than 0"):
        cr.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [])
    for bad in ([5, 3], [0, 4], [4, 10], [3, 3], [2.5]):
        with pytest.raises(ValueError, match="unique, positive integers"):
            cr.nn.AdaptiveLogSoftmaxWithLoss(8, 10, bad)
    asm = cr.nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4])
    with pytest.raises(RuntimeError, match=r"Target values should be in \[0, 9\]"):
        asm(cr.randn(2, 8), cr.tensor([1, 10]))
    with pytest.raises(RuntimeError, match="same size in the batch dimension"):
        asm(cr.randn(3, 8), cr.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="1D target tensor expects 2D input"):
        asm(cr.randn(2, 3, 8), cr.tensor([1, 2]))
    with pytest.raises(RuntimeError, match="0D target tensor expects 1D input"):
        asm(cr.randn(2, 8), cr.tensor(1))
    with pytest.raises(RuntimeError, match="multi-target not supported"):
        asm(cr.randn(2, 8), cr.tensor([[1, 2]]))
