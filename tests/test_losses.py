"""Losses: values and gradients against torch for every option, numerical stability, hand
formulas, gradcheck in float64, and the fused cross-entropy op against its composite."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

RNG = np.random.default_rng(7)


def _t(a: Any, grad: bool = False) -> cr.Tensor:
    return cr.tensor(np.asarray(a), requires_grad=grad)


# --------------------------------------------------------------------------- without torch

def test_cross_entropy_hand_formula():
    x = RNG.normal(size=(4, 3))
    t = np.array([0, 2, 1, 2])
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    loss = F.cross_entropy(_t(x), _t(t))
    assert abs(loss.item() - (-logp[np.arange(4), t].mean())) < 1e-12
    w = np.array([0.2, 1.0, 3.0])
    loss = F.cross_entropy(_t(x), _t(t), weight=_t(w))
    expected = -(w[t] * logp[np.arange(4), t]).sum() / w[t].sum()
    assert abs(loss.item() - expected) < 1e-12


def test_cross_entropy_is_stable_for_huge_logits():
    x = _t([[1e4, 0.0, -1e4], [-3e4, 3e4, 0.0]], grad=True)
    loss = F.cross_entropy(x, _t([2, 1]))
    assert np.isfinite(loss.item()) and abs(loss.item() - 1e4) < 1e-6
    loss.backward()
    assert np.all(np.isfinite(x.grad.data))
    np.testing.assert_allclose(x.grad.data, [[0.5, 0, -0.5], [0, 0, 0]], atol=1e-12)
    # float32 too
    x32 = cr.tensor([[1e30, -1e30]], requires_grad=True)
    loss = F.cross_entropy(x32, _t([0]))
    loss.backward()
    assert loss.item() == 0.0 and np.all(np.isfinite(x32.grad.data))


def test_bce_with_logits_is_stable():
    x = _t([1000.0, -1000.0, 30.0, -30.0], grad=True)
    y = _t([0.0, 1.0, 1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, y, reduction="none")
    np.testing.assert_allclose(loss.data, [1000.0, 1000.0, np.log1p(np.exp(-30.0)),
                                           np.log1p(np.exp(-30.0))], rtol=1e-12, atol=1e-14)
    loss.sum().backward()
    np.testing.assert_allclose(x.grad.data, [1.0, -1.0, -1 / (1 + np.exp(30)),
                                             1 / (1 + np.exp(30))], rtol=1e-9, atol=1e-15)


def test_bce_saturated_probabilities_stay_finite():
    p = cr.tensor([0.0, 1.0, 1.0, 0.0], requires_grad=True)
    y = cr.tensor([0.0, 1.0, 0.0, 1.0])
    loss = F.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_allclose(loss.data, [0, 0, 100, 100], atol=0.05)  # log clamped at -100
    loss.sum().backward()
    assert np.all(np.isfinite(p.grad.data))


def test_bce_keeps_the_loss_of_a_tiny_probability():
    # -log(1 - p) = p for tiny p: log1p, not log(1 - p), which rounds to log(1) = 0; and the
    # zero losses with PyTorch's signs (+0.0 at p = y = 0, -0.0 at p = y = 1)
    p = cr.tensor([1e-30, 1e-20, 0.0, 1.0], dtype=cr.float64, requires_grad=True)
    y = cr.tensor([0.0, 0.0, 0.0, 1.0], dtype=cr.float64)
    loss = F.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_array_equal(loss.data, [1e-30, 1e-20, 0.0, -0.0])
    np.testing.assert_array_equal(np.signbit(loss.data), [False, False, False, True])
    q = cr.tensor([1e-30, 0.5], dtype=cr.float64, requires_grad=True)
    F.binary_cross_entropy(p[:2].detach(), q, reduction="sum").backward()
    np.testing.assert_allclose(q.grad.data, [-1e-30 - np.log(1e-30), -1e-20 - np.log(1e-20)],
                               rtol=1e-15)


def test_ignore_index_all_ignored_gives_nan_like_torch():
    loss = F.cross_entropy(_t(RNG.normal(size=(2, 3))), _t([-100, -100]))
    assert np.isnan(loss.item())


def test_loss_errors_are_clear():
    x = _t(RNG.normal(size=(4, 3)))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="target of shape"):
        F.cross_entropy(x, _t([0, 1]))
    with pytest.raises(IndexError, match="out of range"):
        F.cross_entropy(x, _t([0, 1, 2, 3]))
    with pytest.raises(IndexError, match="out of range"):
        F.nll_loss(x, _t([0, 1, 2, 5]))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(x, x)
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, _t([0, 1, 2, 0]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(x, _t([0, 1, 2, 0]), weight=_t([1.0, 2.0]))


GRADCHECK_CASES = [
    ("mse", lambda x, y: F.mse_loss(x, y)),
    ("l1-sum", lambda x, y: F.l1_loss(x, y, reduction="sum")),
    ("huber", lambda x, y: F.huber_loss(x, y, delta=0.7)),
    ("smooth_l1", lambda x, y: F.smooth_l1_loss(x, y, beta=0.5, reduction="none")),
    ("bce", lambda x, y: F.binary_cross_entropy(cr.sigmoid(x), cr.sigmoid(y))),
    ("bce_logits", lambda x, y: F.binary_cross_entropy_with_logits(
        x, cr.sigmoid(y), pos_weight=_t([0.5, 2.0, 1.0]))),
    ("kl", lambda x, y: F.kl_div(cr.log_softmax(x, -1), cr.softmax(y, -1),
                                 reduction="batchmean")),
    ("kl-log_target", lambda x, y: F.kl_div(cr.log_softmax(x, -1), cr.log_softmax(y, -1),
                                            reduction="sum", log_target=True)),
    ("ce-probs", lambda x, y: F.cross_entropy(x, cr.softmax(y, -1), label_smoothing=0.1)),
    ("ce-index", lambda x, y: F.cross_entropy(x * y, _t([0, 2, 1, 2]), weight=_t([1.0, 2.0, 0.5]),
                                              label_smoothing=0.2)),
    ("nll", lambda x, y: F.nll_loss(cr.log_softmax(x, 1) * y, _t([0, -100, 1, 2]),
                                    weight=_t([1.0, 2.0, 0.5]))),
    ("gaussian_nll", lambda x, y: F.gaussian_nll_loss(x, y, cr.exp(y))),
    ("poisson_nll", lambda x, y: F.poisson_nll_loss(x, y, full=True)),
    ("soft_margin", lambda x, y: F.soft_margin_loss(x, cr.sign(y))),
]


@pytest.mark.parametrize("name,fn", GRADCHECK_CASES, ids=[c[0] for c in GRADCHECK_CASES])
def test_losses_gradcheck_float64(name, fn):
    x = cr.tensor(RNG.normal(size=(4, 3)), requires_grad=True)
    y = cr.tensor(RNG.normal(size=(4, 3)) + 0.3, requires_grad=True)
    if name == "poisson_nll":
        y = cr.tensor(RNG.uniform(0, 5, (4, 3)), requires_grad=True)
    assert cr.gradcheck(fn, (x, y))
    if name in ("mse", "ce-index", "ce-probs", "kl", "bce_logits"):
        assert cr.gradgradcheck(fn, (x, y))


def test_fused_cross_entropy_agrees_with_the_composite():
    """The fused op (one rule) equals log_softmax + NLL built from ops, values and grads."""
    x = RNG.normal(0, 3, (2, 5, 3))  # (N, C, d): classes in dim 1
    t = RNG.integers(0, 5, (2, 3))
    t[0, 1] = -100
    w = RNG.uniform(0.5, 2.0, 5)
    for smoothing in (0.0, 0.25):
        a = cr.tensor(x, requires_grad=True)
        b = cr.tensor(x, requires_grad=True)
        fused = F.cross_entropy(a, _t(t), weight=_t(w), label_smoothing=smoothing)
        logp = cr.log_softmax(b, 1)
        nll = F.nll_loss(logp, _t(t), weight=_t(w))
        valid = (t != -100)
        smooth = -(logp * _t(w.reshape(1, 5, 1))).sum(1) * _t(valid)
        composite = (1 - smoothing) * nll + smoothing / 5 * smooth.sum() / w[t[valid]].sum()
        assert abs(fused.item() - composite.item()) < 1e-12
        fused.backward()
        composite.backward()
        np.testing.assert_allclose(a.grad.data, b.grad.data, atol=1e-13)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_fast_path_agrees_with_the_general_path(reduction, dtype):
    """(N, C) logits with in-range, unignored targets take a short path (ops/nn.py); an
    ignore_index naming a class no target uses sends the same problem down the general
    path: same loss and gradient (per-sample upstream weights for 'none')."""
    from chainrule.ops.nn import _all_plain_rows

    x = RNG.normal(0, 3, (6, 5)).astype(dtype)
    t = np.array([0, 4, 1, 1, 3, 0])
    assert _all_plain_rows(x, t, None, -100, 0.0) and not _all_plain_rows(x, t, None, 2, 0.0)
    results = []
    for ignore in (-100, 2):
        xt = _t(x, grad=True)
        loss = F.cross_entropy(xt, _t(t), reduction=reduction, ignore_index=ignore)
        up = np.linspace(0.5, 1.5, loss.data.size).reshape(loss.shape).astype(dtype)
        (loss * _t(up)).sum().backward()
        assert loss.dtype == dtype and xt.grad.dtype == dtype
        results.append((loss.data, xt.grad.data))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    for fast, general in zip(*results):
        np.testing.assert_allclose(fast, general, rtol=tol, atol=tol)


def test_loss_modules_call_the_functional_forms():
    x, y = _t(RNG.normal(size=(4, 3))), _t(RNG.normal(size=(4, 3)))
    assert nn.MSELoss(reduction="sum")(x, y).item() == F.mse_loss(x, y, reduction="sum").item()
    assert nn.HuberLoss(delta=0.5)(x, y).item() == F.huber_loss(x, y, delta=0.5).item()
    t = _t([0, 1, 2, 1])
    assert nn.CrossEntropyLoss(label_smoothing=0.1)(x, t).item() == F.cross_entropy(
        x, t, label_smoothing=0.1).item()
    # the class weight is a buffer, as in torch, and not a parameter
    ce = nn.CrossEntropyLoss(weight=_t([1.0, 2.0, 3.0]))
    assert list(ce.state_dict()) == ["weight"] and not list(ce.parameters())
    # legacy size_average / reduce
    assert nn.L1Loss(size_average=False).reduction == "sum"
    assert nn.L1Loss(reduce=False).reduction == "none"


# --------------------------------------------------------------------------- against torch

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def compare(cr_fn: Any, torch_fn: Any, arrays: list[np.ndarray], diff: tuple[int, ...],
            rtol: float = 1e-10) -> None:
    """Values and gradients (of the inputs listed in ``diff``) with a random upstream."""
    ct = [cr.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]
    tt = [torch.tensor(a, requires_grad=i in diff) for i, a in enumerate(arrays)]
    cout, tout = cr_fn(*ct), torch_fn(*tt)
    e = tout.detach().numpy()
    assert cout.shape == e.shape
    np.testing.assert_allclose(cout.data, e, rtol=rtol, atol=rtol)
    g = RNG.normal(size=e.shape)
    cout.backward(cr.tensor(g))
    tout.backward(torch.tensor(g))
    for i in diff:
        np.testing.assert_allclose(ct[i].grad.data, tt[i].grad.numpy(), rtol=rtol, atol=rtol,
                                   err_msg=f"input {i}")


REDUCTIONS = ["mean", "sum", "none"]
SHAPES = [(6, 4), (3, 4, 5), (4,)]  # (N, C), (N, C, d), unbatched (C,)


def _index_target(shape: tuple[int, ...], ignore: int | None = None) -> np.ndarray:
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = RNG.integers(0, shape[0 if len(shape) == 1 else 1], tshape)
    if ignore is not None and t.ndim:
        t.reshape(-1)[1] = ignore
    return t


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
@pytest.mark.parametrize("smoothing", [0.0, 0.15], ids=["", "smooth"])
def test_cross_entropy_index_targets_match_torch(dtype, reduction, shape, weighted, smoothing):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = RNG.normal(0, 3, shape).astype(dtype)
    ignore = 2 if len(shape) > 1 else None
    t = _index_target(shape, ignore)
    w = RNG.uniform(0.3, 2.0, c).astype(dtype) if weighted else None
    kw: dict[str, Any] = {"reduction": reduction, "label_smoothing": smoothing}
    if ignore is not None:
        kw["ignore_index"] = ignore
    rtol = 1e-10 if dtype == np.float64 else 1e-5
    compare(lambda a, b: F.cross_entropy(a, b, weight=None if w is None else cr.tensor(w), **kw),
            lambda a, b: TF.cross_entropy(a, b, weight=None if w is None else torch.tensor(w),
                                          **kw), [x, t], (0,), rtol)
    cm = nn.CrossEntropyLoss(weight=None if w is None else cr.tensor(w), **kw)
    tm = torch.nn.CrossEntropyLoss(weight=None if w is None else torch.tensor(w), **kw)
    compare(cm, tm, [x, t], (0,), rtol)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3], ids=["", "smooth"])
def test_cross_entropy_probability_targets_match_torch(reduction, shape, weighted, smoothing):
    cdim = 0 if len(shape) == 1 else 1
    x = RNG.normal(0, 3, shape)
    p = np.exp(RNG.normal(size=shape))
    p /= p.sum(axis=cdim, keepdims=True)
    w = RNG.uniform(0.3, 2.0, shape[cdim]) if weighted else None
    kw = {"reduction": reduction, "label_smoothing": smoothing}
    compare(lambda a, b: F.cross_entropy(a, b, weight=None if w is None else cr.tensor(w), **kw),
            lambda a, b: TF.cross_entropy(a, b, weight=None if w is None else torch.tensor(w),
                                          **kw), [x, p], (0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
def test_nll_loss_matches_torch(reduction, shape, weighted):
    c = shape[0] if len(shape) == 1 else shape[1]
    x = RNG.normal(size=shape)
    t = _index_target(shape, -100 if len(shape) > 1 else None)
    w = RNG.uniform(0.3, 2.0, c) if weighted else None
    compare(lambda a, b: F.nll_loss(a, b, weight=None if w is None else cr.tensor(w),
                                    reduction=reduction),
            lambda a, b: TF.nll_loss(a, b, weight=None if w is None else torch.tensor(w),
                                     reduction=reduction), [x, t], (0,))
    compare(nn.NLLLoss(reduction=reduction), torch.nn.NLLLoss(reduction=reduction), [x, t], (0,))


ELEMENTWISE = [
    ("mse", F.mse_loss, TF.mse_loss, {}),
    ("l1", F.l1_loss, TF.l1_loss, {}),
    ("huber", F.huber_loss, TF.huber_loss, {"delta": 0.6}),
    ("smooth_l1", F.smooth_l1_loss, TF.smooth_l1_loss, {"beta": 0.4}),
    ("smooth_l1-beta0", F.smooth_l1_loss, TF.smooth_l1_loss, {"beta": 0.0}),
    ("soft_margin", F.soft_margin_loss, TF.soft_margin_loss, {}),
    ("poisson", F.poisson_nll_loss, TF.poisson_nll_loss, {}),
    ("poisson-full-prob", F.poisson_nll_loss, TF.poisson_nll_loss,
     {"log_input": False, "full": True}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,cf,tf,kw", ELEMENTWISE, ids=[c[0] for c in ELEMENTWISE])
def test_elementwise_losses_match_torch(name, cf, tf, kw, reduction):
    x = RNG.normal(size=(5, 3))
    y = RNG.normal(size=(5, 3))
    if name.startswith("poisson"):
        x, y = np.abs(x) + 0.1, RNG.integers(0, 6, (5, 3)) + RNG.uniform(0, 0.5, (5, 3))
    if name == "soft_margin":
        y = np.sign(y)
    compare(lambda a, b: cf(a, b, reduction=reduction, **kw),
            lambda a, b: tf(a, b, reduction=reduction, **kw), [x, y],
            (0,) if name == "soft_margin" else (0, 1))


MODULES = [
    ("MSELoss", nn.MSELoss, torch.nn.MSELoss, {}),
    ("L1Loss", nn.L1Loss, torch.nn.L1Loss, {}),
    ("HuberLoss", nn.HuberLoss, torch.nn.HuberLoss, {"delta": 2.0}),
    ("SmoothL1Loss", nn.SmoothL1Loss, torch.nn.SmoothL1Loss, {"beta": 0.5}),
]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,cm,tm,kw", MODULES, ids=[c[0] for c in MODULES])
def test_regression_loss_modules_match_torch(name, cm, tm, kw, reduction):
    x, y = RNG.normal(size=(4, 3)) * 2, RNG.normal(size=(4, 3))
    compare(cm(reduction=reduction, **kw), tm(reduction=reduction, **kw), [x, y], (0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
def test_bce_matches_torch(reduction, weighted):
    p = RNG.uniform(0.01, 0.99, (5, 3))
    y = RNG.uniform(0, 1, (5, 3))
    w = RNG.uniform(0.5, 2, (3,)) if weighted else None
    compare(lambda a, b: F.binary_cross_entropy(a, b, None if w is None else cr.tensor(w),
                                                reduction=reduction),
            lambda a, b: TF.binary_cross_entropy(a, b, None if w is None else torch.tensor(w),
                                                 reduction=reduction), [p, y], (0, 1))
    compare(nn.BCELoss(None if w is None else cr.tensor(w), reduction=reduction),
            torch.nn.BCELoss(None if w is None else torch.tensor(w), reduction=reduction),
            [p, y], (0, 1))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True], ids=["", "weight"])
@pytest.mark.parametrize("pos", [False, True], ids=["", "pos_weight"])
def test_bce_with_logits_matches_torch(reduction, weighted, pos):
    x = RNG.normal(0, 4, (5, 3))
    y = RNG.uniform(0, 1, (5, 3))
    w = RNG.uniform(0.5, 2, (5, 1)) if weighted else None
    pw = RNG.uniform(0.5, 3, (3,)) if pos else None

    def c_args() -> dict:
        return {"weight": None if w is None else cr.tensor(w),
                "pos_weight": None if pw is None else cr.tensor(pw)}

    def t_args() -> dict:
        return {"weight": None if w is None else torch.tensor(w),
                "pos_weight": None if pw is None else torch.tensor(pw)}

    compare(lambda a, b: F.binary_cross_entropy_with_logits(a, b, reduction=reduction,
                                                            **c_args()),
            lambda a, b: TF.binary_cross_entropy_with_logits(a, b, reduction=reduction,
                                                             **t_args()), [x, y], (0, 1))
    compare(nn.BCEWithLogitsLoss(reduction=reduction, **c_args()),
            torch.nn.BCEWithLogitsLoss(reduction=reduction, **t_args()), [x, y], (0, 1))


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
@pytest.mark.parametrize("reduction", REDUCTIONS + ["batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_torch(reduction, log_target):
    logq = np.log(RNG.dirichlet(np.ones(4), 5))
    p = RNG.dirichlet(np.ones(4), 5)
    p[0, 1] = 0.0  # a zero-probability target term contributes 0
    target = np.log(p + 1e-3) if log_target else p
    compare(lambda a, b: F.kl_div(a, b, reduction=reduction, log_target=log_target),
            lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target),
            [logq, target], (0, 1) if log_target else (0,))
    compare(nn.KLDivLoss(reduction=reduction, log_target=log_target),
            torch.nn.KLDivLoss(reduction=reduction, log_target=log_target),
            [logq, target], (0,))


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_other_losses_match_torch(reduction):
    x1, x2 = RNG.normal(size=(5, 4)), RNG.normal(size=(5, 4))
    y = np.array([1.0, -1.0, 1.0, -1.0, -1.0])
    compare(lambda a, b, c: F.cosine_embedding_loss(a, b, c, 0.2, reduction=reduction),
            lambda a, b, c: TF.cosine_embedding_loss(a, b, c, 0.2, reduction=reduction),
            [x1, x2, y], (0, 1))
    s1, s2 = RNG.normal(size=5), RNG.normal(size=5)
    compare(lambda a, b, c: F.margin_ranking_loss(a, b, c, 0.3, reduction=reduction),
            lambda a, b, c: TF.margin_ranking_loss(a, b, c, 0.3, reduction=reduction),
            [s1, s2, y], (0, 1))
    compare(lambda a, c: F.hinge_embedding_loss(a, c, 0.8, reduction=reduction),
            lambda a, c: TF.hinge_embedding_loss(a, c, 0.8, reduction=reduction),
            [s1, y], (0,))
    var = RNG.uniform(0.5, 2, (5, 4))
    var[0, 0] = 1e-9  # clamped at eps, without changing the gradient (as torch)
    compare(lambda a, b, v: F.gaussian_nll_loss(a, b, v, full=True, reduction=reduction),
            lambda a, b, v: TF.gaussian_nll_loss(a, b, v, full=True, reduction=reduction),
            [x1, x2, var], (0, 1, 2))
