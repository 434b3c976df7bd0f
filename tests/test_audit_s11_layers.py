"""Audit (session 11) of cr.nn.functional losses and recurrent ops against PyTorch 2.13: the
cases where chainrule differed (gradients at a hinge's kink, empty batches through nn.RNN,
invalid arguments PyTorch rejects, PyTorch's broadcasting warning)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")

F = nn.functional
TF = torch.nn.functional


# --------------------------------------------------------------------------- recurrent

@pytest.mark.parametrize("nonlinearity", ["tanh", "relu"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_rnn_empty_batch_backward_matches_torch(nonlinearity: str, bidirectional: bool) -> None:
    torch.manual_seed(0)
    kw = dict(num_layers=2, nonlinearity=nonlinearity, bidirectional=bidirectional)
    tm = torch.nn.RNN(4, 6, **kw).double()
    cm = nn.RNN(4, 6, **kw).to(cr.float64)
    cm.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    x = np.zeros((5, 0, 4))
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (co, ch), (to, th) = cm(cx), tm(tx)
    assert co.shape == tuple(to.shape) and ch.shape == tuple(th.shape)
    (co.sum() + ch.sum()).backward()
    (to.sum() + th.sum()).backward()
    assert cx.grad is not None and cx.grad.shape == (5, 0, 4)
    tparams = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        assert p.grad is not None, name
        np.testing.assert_array_equal(p.grad.data, tparams[name].grad.numpy())


# --------------------------------------------------------------------------- hinge losses

def _grads(cf: Callable, tf: Callable, *arrays: np.ndarray, n_grad: int) -> None:
    cs = [cr.tensor(a, requires_grad=i < n_grad) for i, a in enumerate(arrays)]
    ts = [torch.tensor(a, requires_grad=i < n_grad) for i, a in enumerate(arrays)]
    cout, tout = cf(*cs), tf(*ts)
    np.testing.assert_allclose(cout.data, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    cout.backward()
    tout.backward()
    for c, t in zip(cs[:n_grad], ts[:n_grad]):
        np.testing.assert_allclose(c.grad.data, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_margin_ranking_loss_gradient_at_the_kink_matches_torch() -> None:
    # equal scores with margin 0 (e.g. at initialisation): PyTorch's clamp_min passes the
    # gradient; relu gave 0
    x1 = np.array([0.0, 1.0, -1.0, 0.5])
    x2 = np.array([0.0, 0.0, 0.0, 0.5])
    y = np.array([1.0, 1.0, 1.0, -1.0])
    _grads(lambda a, b, t: F.margin_ranking_loss(a, b, t, reduction="sum"),
           lambda a, b, t: TF.margin_ranking_loss(a, b, t, reduction="sum"), x1, x2, y, n_grad=2)


def test_hinge_embedding_loss_gradient_at_the_margin_matches_torch() -> None:
    x = np.array([1.0, 0.5, 2.0, 0.3])
    y = np.array([-1.0, -1.0, -1.0, 1.0])
    _grads(lambda a, t: F.hinge_embedding_loss(a, t, margin=1.0, reduction="sum"),
           lambda a, t: TF.hinge_embedding_loss(a, t, margin=1.0, reduction="sum"), x, y,
           n_grad=1)


def test_cosine_embedding_loss_gradient_at_the_margin_matches_torch() -> None:
    x1 = np.array([[1.0, 0.0], [1.0, 2.0]])
    x2 = np.array([[0.0, 1.0], [2.0, -1.0]])  # cos = 0 = margin for both
    y = np.array([-1, -1])
    _grads(lambda a, b, t: F.cosine_embedding_loss(a, b, t, reduction="sum"),
           lambda a, b, t: TF.cosine_embedding_loss(a, b, t, reduction="sum"), x1, x2, y,
           n_grad=2)


# --------------------------------------------------------------------------- argument checks

@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss"])
def test_regression_losses_warn_when_target_broadcasts_like_torch(name: str) -> None:
    a, b = np.arange(3.0).reshape(3, 1), np.ones(3)
    with pytest.warns(UserWarning, match="different to the input size"):
        expected = getattr(TF, name)(torch.tensor(a), torch.tensor(b))
    with pytest.warns(UserWarning, match="different to the input size"):
        out = getattr(F, name)(cr.tensor(a), cr.tensor(b))
    np.testing.assert_allclose(out.data, expected.numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        getattr(F, name)(cr.tensor(b), cr.tensor(b))  # same shapes: silent


def test_huber_and_smooth_l1_reject_invalid_delta_beta_like_torch() -> None:
    a, b = np.zeros(3), np.ones(3)
    with pytest.raises(RuntimeError, match="non-positive values for delta"):
        TF.huber_loss(torch.tensor(a), torch.tensor(b), delta=0.0)
    with pytest.raises(ValueError, match="huber_loss: delta must be positive"):
        F.huber_loss(cr.tensor(a), cr.tensor(b), delta=0.0)
    with pytest.raises(RuntimeError, match="negative values for beta"):
        TF.smooth_l1_loss(torch.tensor(a), torch.tensor(b), beta=-1.0)
    with pytest.raises(ValueError, match="smooth_l1_loss: beta must be non-negative"):
        F.smooth_l1_loss(cr.tensor(a), cr.tensor(b), beta=-1.0)


def test_cross_entropy_probability_targets_reject_ignore_index_like_torch() -> None:
    x = np.random.default_rng(0).normal(size=(4, 3))
    p = np.full((4, 3), 1 / 3)
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        TF.cross_entropy(torch.tensor(x), torch.tensor(p), ignore_index=1)
    with pytest.raises(ValueError, match="ignore_index .* not supported"):
        F.cross_entropy(cr.tensor(x), cr.tensor(p), ignore_index=1)
    # a negative ignore_index (the default -100 included) is accepted by both
    out = F.cross_entropy(cr.tensor(x), cr.tensor(p), ignore_index=-1)
    expected = TF.cross_entropy(torch.tensor(x), torch.tensor(p), ignore_index=-1)
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-12)


def test_gaussian_nll_loss_rejects_negative_variance_like_torch() -> None:
    x, y, v = np.zeros((2, 3)), np.ones((2, 3)), np.full((2, 3), 0.5)
    v[0, 1] = -0.1
    with pytest.raises(ValueError, match="var has negative entry"):
        TF.gaussian_nll_loss(torch.tensor(x), torch.tensor(y), torch.tensor(v))
    with pytest.raises(ValueError, match="var has negative entry"):
        F.gaussian_nll_loss(cr.tensor(x), cr.tensor(y), cr.tensor(v))


@pytest.mark.parametrize("which", ["bce_weight", "logits_weight", "logits_pos_weight"])
def test_bce_weight_wider_than_input_raises_like_torch(which: str) -> None:
    rng = np.random.default_rng(0)
    p, y, w = rng.uniform(0.1, 0.9, (4, 3)), rng.uniform(size=(4, 3)), rng.uniform(size=(2, 4, 3))

    def call(f: Any, cast: Callable) -> Any:
        if which == "bce_weight":
            return f.binary_cross_entropy(cast(p), cast(y), cast(w), reduction="none")
        kw = {"weight" if which == "logits_weight" else "pos_weight": cast(w)}
        return f.binary_cross_entropy_with_logits(cast(p), cast(y), reduction="none", **kw)

    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        call(TF, torch.tensor)
    with pytest.raises(ValueError, match="does not broadcast to the input's shape"):
        call(F, cr.tensor)
    # a weight that broadcasts to the input's shape still works
    w = w[0, :1]  # (1, 3)
    out = F.binary_cross_entropy(cr.tensor(p), cr.tensor(y), cr.tensor(w), reduction="none")
    expected = TF.binary_cross_entropy(torch.tensor(p), torch.tensor(y), torch.tensor(w),
                                       reduction="none")
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-12)
