"""The losses, distances and activations added to match torch.nn: triplet / multi-margin /
multi-label losses, CosineSimilarity, PairwiseDistance, pdist, rrelu, Softmax2d,
gumbel_softmax, the in-place activations and LocalResponseNorm.

Values and gradients against torch (float64 to 1e-10, float32 to 1e-5) for each reduction
and option; gradcheck in float64 away from the hinges; the random ones by their properties
(and gumbel_softmax against torch with the same fixed noise); bad inputs by their messages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_nn_parity import run_parity
from torch_parity_helpers import TOL, close

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

torch = pytest.importorskip("torch")
tnn = torch.nn
TF = torch.nn.functional

RNG = np.random.default_rng(2024)
DTYPES = [np.float64, np.float32]
REDUCTIONS = ["mean", "sum", "none"]


def _both(a: np.ndarray, dtype: Any, grad: bool = True) -> tuple[cr.Tensor, Any]:
    a = np.asarray(a, dtype=dtype)
    return cr.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _compare(cr_fn: Callable, torch_fn: Callable, float_inputs: list[np.ndarray],
             dtype: Any, what: str) -> None:
    """Same float inputs (as leaves) to both: outputs, then the gradients of every input for
    a random upstream gradient."""
    rtol = TOL[dtype]
    pairs = [_both(a, dtype) for a in float_inputs]
    cout = cr_fn(*[c for c, _ in pairs])
    tout = torch_fn(*[t for _, t in pairs])
    close(cout, tout, rtol, f"{what} value")
    g = RNG.normal(size=tuple(tout.shape)).astype(dtype)
    cout.backward(cr.tensor(g))
    tout.backward(torch.tensor(g))
    for k, (c, t) in enumerate(pairs):
        assert c.grad is not None, f"{what}: no gradient for input {k}"
        close(c.grad, t.grad, rtol, f"{what} gradient of input {k}")


# --------------------------------------------------------------------------- triplet losses

TRIPLET_OPTIONS = [{}, {"swap": True}, {"p": 1}, {"p": 3, "margin": 0.5},
                   {"eps": 1e-3, "swap": True, "margin": 2.0}]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", TRIPLET_OPTIONS, ids=str)
def test_triplet_margin_loss_matches_torch(dtype, reduction, opts):
    a, p, n = (RNG.normal(size=(6, 5)) for _ in range(3))
    n[:2] = a[:2] + 0.1 * RNG.normal(size=(2, 5))  # some triplets inside the margin, some not
    _compare(lambda *x: F.triplet_margin_loss(*x, reduction=reduction, **opts),
             lambda *x: TF.triplet_margin_loss(*x, reduction=reduction, **opts),
             [a, p, n], dtype, f"triplet_margin_loss {opts} {reduction}")


@pytest.mark.filterwarnings("ignore:size_average and reduce")
def test_triplet_margin_loss_unbatched_and_legacy_reduction():
    a, p, n = (RNG.normal(size=5) for _ in range(3))
    _compare(F.triplet_margin_loss, TF.triplet_margin_loss, [a, p, n], np.float64,
             "triplet_margin_loss (5,)")
    a, p, n = (RNG.normal(size=(4, 3)) for _ in range(3))
    _compare(lambda *x: F.triplet_margin_loss(*x, size_average=False),
             lambda *x: TF.triplet_margin_loss(*x, size_average=False),
             [a, p, n], np.float64, "triplet_margin_loss size_average=False")


def _cos_distance(lib: Any) -> Callable:
    return lambda x, y: 1.0 - lib.cosine_similarity(x, y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", [{}, {"swap": True}, {"margin": 0.3}, {"cos": True},
                                  {"cos": True, "swap": True, "margin": 0.8}], ids=str)
def test_triplet_margin_with_distance_loss_matches_torch(dtype, reduction, opts):
    opts = dict(opts)
    cos = opts.pop("cos", False)
    a, p, n = (RNG.normal(size=(6, 4)) for _ in range(3))
    cd = _cos_distance(F) if cos else None
    td = _cos_distance(TF) if cos else None
    _compare(lambda *x: F.triplet_margin_with_distance_loss(
                 *x, distance_function=cd, reduction=reduction, **opts),
             lambda *x: TF.triplet_margin_with_distance_loss(
                 *x, distance_function=td, reduction=reduction, **opts),
             [a, p, n], dtype, f"triplet_margin_with_distance_loss {opts} cos={cos}")


def test_triplet_swap_changes_the_result():
    """(the swap option is not silently ignored: here d(p, n) < d(a, n) for every triplet)"""
    a = np.zeros((3, 2))
    p = np.full((3, 2), 2.0)
    n = np.full((3, 2), 2.5)
    plain = F.triplet_margin_loss(cr.tensor(a), cr.tensor(p), cr.tensor(n), eps=0.0)
    swapped = F.triplet_margin_loss(cr.tensor(a), cr.tensor(p), cr.tensor(n), eps=0.0,
                                    swap=True)
    d_pos, d_neg, d_swap = np.sqrt(8.0), np.sqrt(12.5), np.sqrt(0.5)
    assert abs(plain.item() - (1.0 + d_pos - d_neg)) < 1e-12
    assert abs(swapped.item() - (1.0 + d_pos - d_swap)) < 1e-12


# --------------------------------------------------------------------------- multi-margin

def _class_targets(n: int, c: int) -> np.ndarray:
    return RNG.integers(0, c, size=n)


MULTI_MARGIN_OPTIONS = [{}, {"p": 2}, {"margin": 0.4}, {"weight": True},
                        {"p": 2, "margin": 1.7, "weight": True}]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("opts", MULTI_MARGIN_OPTIONS, ids=str)
def test_multi_margin_loss_matches_torch(dtype, reduction, opts):
    opts = dict(opts)
    x = RNG.normal(size=(7, 5))
    t = _class_targets(7, 5)
    kw_c: dict[str, Any] = {}
    kw_t: dict[str, Any] = {}
    if opts.pop("weight", False):
        w = RNG.uniform(0.2, 2.0, size=5).astype(dtype)
        kw_c["weight"], kw_t["weight"] = cr.tensor(w), torch.tensor(w)
    _compare(lambda x: F.multi_margin_loss(x, cr.tensor(t), reduction=reduction, **opts, **kw_c),
             lambda x: TF.multi_margin_loss(x, torch.tensor(t), reduction=reduction, **opts,
                                            **kw_t),
             [x], dtype, f"multi_margin_loss {opts} {reduction}")


@pytest.mark.parametrize("target", [np.int64(2), np.array([2])], ids=["0-d", "(1,)"])
def test_multi_margin_loss_unbatched_matches_torch(target):
    x = RNG.normal(size=4)
    _compare(lambda x: F.multi_margin_loss(x, cr.tensor(target), reduction="none"),
             lambda x: TF.multi_margin_loss(x, torch.tensor(target), reduction="none"),
             [x], np.float64, "multi_margin_loss unbatched")


def test_multi_margin_loss_hand_formula():
    x = np.array([[0.1, 0.2, 0.4, 0.8]])
    # target 3: terms max(0, 1 - 0.8 + x_j) for j = 0, 1, 2 -> 0.3, 0.4, 0.6
    loss = F.multi_margin_loss(cr.tensor(x), cr.tensor([3]), p=2, weight=cr.tensor(
        [1.0, 1.0, 1.0, 2.0]))
    assert abs(loss.item() - 2.0 * (0.09 + 0.16 + 0.36) / 4) < 1e-12


# --------------------------------------------------------------------------- multi-label

def _multilabel_targets(n: int, c: int) -> np.ndarray:
    t = np.full((n, c), -1)
    for i in range(n):
        k = RNG.integers(0, c)
        t[i, :k] = RNG.choice(c, size=k, replace=False)
    t[0, :3] = [1, 1, -1]                  # a class listed twice counts twice
    t[1, :] = -1                           # no target: zero loss
    t[2, :4] = [0, -1, 3, 2]               # after the first -1 nothing counts
    t[3, :] = np.arange(c)                 # every class a target: zero loss
    return t


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multilabel_margin_loss_matches_torch(dtype, reduction):
    x = RNG.normal(size=(8, 6))
    t = _multilabel_targets(8, 6)
    _compare(lambda x: F.multilabel_margin_loss(x, cr.tensor(t), reduction=reduction),
             lambda x: TF.multilabel_margin_loss(x, torch.tensor(t), reduction=reduction),
             [x], dtype, f"multilabel_margin_loss {reduction}")


def test_multilabel_margin_loss_unbatched_and_hand_formula():
    x = RNG.normal(size=5)
    t = np.array([4, 0, -1, 2, 2])
    _compare(lambda x: F.multilabel_margin_loss(x, cr.tensor(t), reduction="none"),
             lambda x: TF.multilabel_margin_loss(x, torch.tensor(t), reduction="none"),
             [x], np.float64, "multilabel_margin_loss unbatched")
    # PyTorch's documented example
    loss = F.multilabel_margin_loss(cr.tensor(np.array([[0.1, 0.2, 0.4, 0.8]])),
                                    cr.tensor([[3, 0, -1, 1]]))
    assert abs(loss.item() - 0.85) < 1e-12


def test_multilabel_margin_loss_without_targets_has_a_zero_gradient():
    x = cr.tensor(RNG.normal(size=(2, 3)), requires_grad=True)
    loss = F.multilabel_margin_loss(x, cr.tensor(np.full((2, 3), -1)))
    loss.backward()
    assert loss.item() == 0.0
    np.testing.assert_array_equal(x.grad.data, 0.0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("weighted", [False, True])
def test_multilabel_soft_margin_loss_matches_torch(dtype, reduction, weighted):
    x = RNG.normal(size=(5, 4)) * 3
    y = (RNG.random(size=(5, 4)) < 0.5).astype(dtype)
    y[0] = [0.2, 0.9, 0.5, 0.0]  # soft targets too
    if weighted:  # the weight gets its gradient as well
        _compare(lambda x, w: F.multilabel_soft_margin_loss(x, cr.tensor(y), weight=w,
                                                            reduction=reduction),
                 lambda x, w: TF.multilabel_soft_margin_loss(x, torch.tensor(y), weight=w,
                                                             reduction=reduction),
                 [x, RNG.uniform(0.5, 2.0, size=4)], dtype, "multilabel_soft_margin_loss w")
    else:
        _compare(lambda x: F.multilabel_soft_margin_loss(x, cr.tensor(y), reduction=reduction),
                 lambda x: TF.multilabel_soft_margin_loss(x, torch.tensor(y),
                                                          reduction=reduction),
                 [x], dtype, "multilabel_soft_margin_loss")


# --------------------------------------------------------------------------- loss modules

def _pos_weight(c: int) -> np.ndarray:
    return RNG.uniform(0.5, 2.0, size=c)


@pytest.mark.filterwarnings("ignore:size_average and reduce")
def test_loss_modules_match_torch():
    x, t = RNG.normal(size=(6, 4)), _class_targets(6, 4)
    w = _pos_weight(4)
    trip = [RNG.normal(size=(5, 3)) for _ in range(3)]
    cases: list[tuple[Callable, Callable, list[np.ndarray]]] = [
        (lambda: nn.TripletMarginLoss(margin=0.7, p=1, swap=True),
         lambda: tnn.TripletMarginLoss(margin=0.7, p=1, swap=True), trip),
        (lambda: nn.TripletMarginLoss(reduction="none"),
         lambda: tnn.TripletMarginLoss(reduction="none"), trip),
        (lambda: nn.TripletMarginWithDistanceLoss(swap=True),
         lambda: tnn.TripletMarginWithDistanceLoss(swap=True), trip),
        (lambda: nn.TripletMarginWithDistanceLoss(distance_function=nn.PairwiseDistance(p=1),
                                                  reduction="sum"),
         lambda: tnn.TripletMarginWithDistanceLoss(distance_function=tnn.PairwiseDistance(p=1),
                                                   reduction="sum"), trip),
        (lambda: nn.MultiMarginLoss(p=2, margin=0.5, weight=cr.tensor(w)),
         lambda: tnn.MultiMarginLoss(p=2, margin=0.5, weight=torch.tensor(w)), [x, t]),
        (lambda: nn.MultiMarginLoss(size_average=False),
         lambda: tnn.MultiMarginLoss(size_average=False), [x, t]),
        (lambda: nn.MultiLabelMarginLoss(reduction="sum"),
         lambda: tnn.MultiLabelMarginLoss(reduction="sum"), [x, _multilabel_targets(6, 4)]),
        (lambda: nn.MultiLabelSoftMarginLoss(weight=cr.tensor(w), reduction="none"),
         lambda: tnn.MultiLabelSoftMarginLoss(weight=torch.tensor(w), reduction="none"),
         [x, (RNG.random(size=(6, 4)) < 0.5).astype(np.float64)]),
    ]
    for dtype in DTYPES:
        for make_cr, make_torch, inputs in cases:
            run_parity(make_cr, make_torch, inputs, dtype=dtype)


def test_loss_module_reprs_and_state_match_torch():
    w = _pos_weight(3)
    pairs = [(nn.TripletMarginLoss(), tnn.TripletMarginLoss()),
             (nn.TripletMarginWithDistanceLoss(), tnn.TripletMarginWithDistanceLoss()),
             (nn.MultiMarginLoss(weight=cr.tensor(w)), tnn.MultiMarginLoss(weight=torch.tensor(w))),
             (nn.MultiLabelMarginLoss(), tnn.MultiLabelMarginLoss()),
             (nn.MultiLabelSoftMarginLoss(), tnn.MultiLabelSoftMarginLoss()),
             (nn.CosineSimilarity(), tnn.CosineSimilarity()),
             (nn.PairwiseDistance(), tnn.PairwiseDistance()),
             (nn.RReLU(0.1, 0.2, inplace=True), tnn.RReLU(0.1, 0.2, inplace=True)),
             (nn.Softmax2d(), tnn.Softmax2d()),
             (nn.LocalResponseNorm(3, k=2.0), tnn.LocalResponseNorm(3, k=2.0))]
    for c, t in pairs:
        assert repr(c) == repr(t)
        assert list(c.state_dict()) == list(t.state_dict())
    m = nn.MultiMarginLoss(p=2, margin=0.3, size_average=False)
    assert (m.p, m.margin, m.reduction) == (2, 0.3, "sum")
    assert nn.PairwiseDistance(p=1.5).norm == tnn.PairwiseDistance(p=1.5).norm


# --------------------------------------------------------------------------- gradcheck

def _gc_inputs(*shapes: tuple[int, ...]) -> list[cr.Tensor]:
    return [cr.tensor(RNG.normal(size=s), requires_grad=True) for s in shapes]


GRADCHECK_CASES: dict[str, tuple[Callable, Callable[[], list]]] = {
    "triplet": (lambda a, p, n: F.triplet_margin_loss(a, p, n, margin=3.0, swap=True),
                lambda: _gc_inputs((3, 4), (3, 4), (3, 4))),
    "triplet_p3": (lambda a, p, n: F.triplet_margin_loss(a, p, n, p=3, margin=3.0,
                                                         reduction="none"),
                   lambda: _gc_inputs((3, 4), (3, 4), (3, 4))),
    "triplet_distance": (lambda a, p, n: F.triplet_margin_with_distance_loss(
        a, p, n, distance_function=_cos_distance(F), margin=3.0, reduction="sum"),
        lambda: _gc_inputs((3, 4), (3, 4), (3, 4))),
    "multi_margin_p1": (lambda x: F.multi_margin_loss(x, cr.tensor([0, 2, 1, 2])),
                        lambda: _gc_inputs((4, 3))),
    "multi_margin_p2_weight": (lambda x, w: F.multi_margin_loss(
        x, cr.tensor([0, 2, 1, 2]), p=2, margin=2.0, weight=w, reduction="none"),
        lambda: _gc_inputs((4, 3), (3,))),
    "multilabel_margin": (lambda x: F.multilabel_margin_loss(
        x, cr.tensor([[0, 2, -1, 0], [3, -1, 1, 1], [1, 1, 2, -1]]), reduction="sum"),
        lambda: _gc_inputs((3, 4))),
    "multilabel_soft_margin": (lambda x, w: F.multilabel_soft_margin_loss(
        x, cr.tensor([[0.0, 1.0, 0.3], [1.0, 1.0, 0.0]]), weight=w),
        lambda: _gc_inputs((2, 3), (3,))),
    "pdist": (lambda x: F.pdist(x, p=3), lambda: _gc_inputs((4, 3))),
    "local_response_norm": (lambda x: F.local_response_norm(x, 3, alpha=0.5, beta=0.6, k=1.5),
                            lambda: _gc_inputs((2, 4, 3))),
}


@pytest.mark.parametrize("name", list(GRADCHECK_CASES))
def test_gradcheck_float64(name):
    fn, make = GRADCHECK_CASES[name]
    inputs = make()  # random normal points: a margin term within eps of its hinge is unlikely
    assert cr.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-6)


def test_create_graph_through_a_new_loss():
    """Second derivatives come from the composed ops: compare a Hessian-vector product."""
    x = RNG.normal(size=(3, 4))
    y = np.array([[1.0, 0.0, 0.5, 1.0], [0.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 0.0]])
    v = RNG.normal(size=(3, 4))
    cx, tx = _both(x, np.float64)
    (cg,) = cr.autograd.grad(F.multilabel_soft_margin_loss(cx, cr.tensor(y)), [cx],
                             create_graph=True)
    (tg,) = torch.autograd.grad(TF.multilabel_soft_margin_loss(tx, torch.tensor(y)), [tx],
                                create_graph=True)
    (ch,) = cr.autograd.grad((cg * cr.tensor(v)).sum(), [cx])
    (th,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), [tx])
    close(ch, th, 1e-10, "Hessian-vector product")


# --------------------------------------------------------------------------- distances

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, float("inf"), 0.5])
def test_pdist_matches_torch(dtype, p):
    x = RNG.normal(size=(5, 3))
    _compare(lambda x: F.pdist(x, p), lambda x: TF.pdist(x, p), [x], dtype, f"pdist p={p}")


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0])
def test_zero_distance_without_eps_has_a_zero_gradient_as_torch(p):
    """‖x1 - x2‖ at x1 == x2 (eps=0): value 0 and gradient 0, as torch's norm; the triplet
    loss with eps=0 and a positive equal to its anchor likewise (no NaN)."""
    a, n = RNG.normal(size=(4, 3)), RNG.normal(size=(4, 3))
    _compare(lambda x, y: F.pairwise_distance(x, y, p, eps=0.0),
             lambda x, y: TF.pairwise_distance(x, y, p, eps=0.0), [a, a.copy()],
             np.float64, f"pairwise_distance p={p} of equal points")
    _compare(lambda x, y, z: F.triplet_margin_loss(x, y, z, p=p, eps=0.0),
             lambda x, y, z: TF.triplet_margin_loss(x, y, z, p=p, eps=0.0), [a, a.copy(), n],
             np.float64, f"triplet_margin_loss p={p} eps=0, positive == anchor")


def test_pdist_edge_cases():
    x = RNG.normal(size=(4, 3))
    x[2] = x[0]  # a zero distance: value 0, gradient 0 (as torch; no NaN)
    _compare(F.pdist, TF.pdist, [x], np.float64, "pdist with a repeated row")
    assert F.pdist(cr.tensor(x[:1])).shape == (0,)
    assert F.pdist(cr.tensor(x), p=0).tolist() == TF.pdist(torch.tensor(x), p=0).tolist()


@pytest.mark.parametrize("dtype", DTYPES)
def test_distance_modules_match_torch(dtype):
    a, b = RNG.normal(size=(4, 5)), RNG.normal(size=(4, 5))
    a3, b3 = RNG.normal(size=(2, 3, 4)), RNG.normal(size=(2, 3, 4))
    for make_cr, make_torch, inputs in [
            (nn.CosineSimilarity, tnn.CosineSimilarity, [a, b]),
            (lambda: nn.CosineSimilarity(dim=-1, eps=1e-6),
             lambda: tnn.CosineSimilarity(dim=-1, eps=1e-6), [a3, b3]),
            (nn.PairwiseDistance, tnn.PairwiseDistance, [a, b]),
            (lambda: nn.PairwiseDistance(p=1.0, eps=1e-3, keepdim=True),
             lambda: tnn.PairwiseDistance(p=1.0, eps=1e-3, keepdim=True), [a3, b3])]:
        run_parity(make_cr, make_torch, inputs, dtype=dtype)


# --------------------------------------------------------------------------- activations

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lower,upper", [(1 / 8, 1 / 3), (0.1, 0.1), (0.0, 0.9)])
def test_rrelu_eval_is_leaky_relu_with_the_mean_slope(dtype, lower, upper):
    x = RNG.normal(size=(4, 5))
    x[0, 0] = 0.0
    _compare(lambda x: F.rrelu(x, lower, upper),
             lambda x: TF.leaky_relu(x, (lower + upper) / 2), [x], dtype, "rrelu eval")
    _compare(lambda x: F.rrelu(x, lower, upper),
             lambda x: TF.rrelu(x, lower, upper), [x], dtype, "rrelu eval vs torch")
    run_parity(lambda: nn.RReLU(lower, upper), lambda: tnn.RReLU(lower, upper), [x],
               dtype=dtype, train=False)


def test_rrelu_training_draws_slopes_in_range_and_backpropagates_them():
    lower, upper = 0.2, 0.45
    x = cr.tensor(RNG.normal(size=(50, 40)), requires_grad=True)
    cr.manual_seed(5)
    y = F.rrelu(x, lower, upper, training=True)
    y.backward(cr.ones_like(y))
    xd, yd, gd = x.data, y.data, x.grad.data
    neg, pos = xd < 0, xd > 0
    slopes = yd[neg] / xd[neg]
    assert slopes.min() >= lower and slopes.max() <= upper
    assert slopes.std() > 0.05  # one random slope per element, not one shared
    assert abs(slopes.mean() - (lower + upper) / 2) < 0.01
    np.testing.assert_allclose(gd[neg], slopes, rtol=1e-12)
    np.testing.assert_array_equal(yd[pos], xd[pos])
    np.testing.assert_array_equal(gd[pos], 1.0)
    cr.manual_seed(5)  # the global generator: the same seed, the same slopes
    np.testing.assert_array_equal(F.rrelu(x, lower, upper, training=True).data, yd)


def test_rrelu_module_uses_training_mode():
    m = nn.RReLU(0.1, 0.3)
    x = cr.tensor(-np.ones(1000))
    train_out = m(x).data
    assert len(np.unique(train_out)) > 100
    m.eval()
    np.testing.assert_allclose(m(x).data, -0.2, rtol=1e-15)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 4, 5)])
def test_softmax2d_matches_torch(dtype, shape):
    run_parity(nn.Softmax2d, tnn.Softmax2d, [RNG.normal(size=shape)], dtype=dtype)


def _fixed_gumbel(monkeypatch: Any, e: np.ndarray) -> None:
    """Both libraries draw the same Exp(1) noise ``e`` (so the same Gumbel sample -log e)."""
    from chainrule.nn.functional import activation

    monkeypatch.setattr(activation, "_exponential_noise",
                        lambda shape, dtype: e.astype(dtype).reshape(shape))
    monkeypatch.setattr(torch.Tensor, "exponential_",
                        lambda self, *a, **k: self.copy_(torch.tensor(e)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("tau,dim", [(1.0, -1), (0.5, 0)])
def test_gumbel_softmax_matches_torch_with_fixed_noise(monkeypatch, dtype, hard, tau, dim):
    logits = RNG.normal(size=(4, 6))
    _fixed_gumbel(monkeypatch, RNG.exponential(size=(4, 6)))
    _compare(lambda x: F.gumbel_softmax(x, tau=tau, hard=hard, dim=dim),
             lambda x: TF.gumbel_softmax(x, tau=tau, hard=hard, dim=dim),
             [logits], dtype, f"gumbel_softmax hard={hard}")


def test_gumbel_softmax_properties(monkeypatch):
    logits = cr.tensor(RNG.normal(size=(5, 7)), requires_grad=True)
    cr.manual_seed(1)
    soft = F.gumbel_softmax(logits, tau=0.7)
    np.testing.assert_allclose(soft.data.sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(soft.data > 0)
    cr.manual_seed(2)
    other = F.gumbel_softmax(logits, tau=0.7)
    assert not np.allclose(soft.data, other.data)  # a random sample each call
    # hard: one-hot in value, the soft sample's gradient (same noise)
    e = RNG.exponential(size=(5, 7))
    _fixed_gumbel(monkeypatch, e)
    g = cr.tensor(RNG.normal(size=(5, 7)))
    soft = F.gumbel_softmax(logits, hard=False)
    (g_soft,) = cr.autograd.grad((soft * g).sum(), [logits])
    hard = F.gumbel_softmax(logits, hard=True)
    (g_hard,) = cr.autograd.grad((hard * g).sum(), [logits])
    onehot = np.eye(7)[np.argmax(soft.data, axis=-1)]
    np.testing.assert_allclose(hard.data, onehot, atol=1e-15)
    np.testing.assert_allclose(g_hard.data, g_soft.data, rtol=1e-12)
    with pytest.warns(UserWarning, match="eps"):
        F.gumbel_softmax(logits, eps=1e-5)


INPLACE = [
    # (celu: an alpha whose inverse is exact in float32; torch's celu backward rounds 1/alpha
    # to float32, about 1e-8 off otherwise, a torch quirk)
    ("relu_", (), {}), ("elu_", (), {"alpha": 0.7}), ("celu_", (), {"alpha": 0.5}),
    ("selu_", (), {}), ("leaky_relu_", (), {"negative_slope": 0.2}),
    ("hardtanh_", (), {"min_val": -0.5, "max_val": 0.8}), ("threshold_", (0.1, -2.0), {}),
    ("rrelu_", (0.1, 0.3), {}),
]


@pytest.mark.parametrize("name,args,kwargs", INPLACE, ids=[n for n, _, _ in INPLACE])
def test_inplace_activations_match_torch(name, args, kwargs):
    x = RNG.normal(size=(3, 4))
    cx, tx = _both(x, np.float64)
    cy, ty = cx * 2.0, tx * 2.0  # non-leaves: in-place is allowed
    c_out = getattr(F, name)(cy, *args, **kwargs)
    t_out = getattr(TF, name)(ty, *args, **kwargs)
    assert c_out is cy and t_out is ty  # the input itself, changed
    close(cy, ty, 1e-12, f"{name} value")
    g = RNG.normal(size=(3, 4))
    cy.backward(cr.tensor(g))
    ty.backward(torch.tensor(g))
    close(cx.grad, tx.grad, 1e-12, f"{name} gradient")
    # without autograd: the values are written into the array
    plain = cr.tensor(x.copy())
    getattr(F, name)(plain, *args, **kwargs)
    tplain = torch.tensor(x.copy())
    getattr(TF, name)(tplain, *args, **kwargs)
    close(plain, tplain, 1e-12, f"{name} without grad")


@pytest.mark.parametrize("name,args,kwargs", INPLACE, ids=[n for n, _, _ in INPLACE])
def test_inplace_activations_refuse_a_leaf_that_requires_grad(name, args, kwargs):
    cx, tx = _both(RNG.normal(size=3), np.float64)
    with pytest.raises(RuntimeError, match="leaf"):
        getattr(TF, name)(tx, *args, **kwargs)
    with pytest.raises(RuntimeError, match="leaf.*in-place"):
        getattr(F, name)(cx, *args, **kwargs)
    with cr.no_grad():  # fine outside recording, as in torch
        getattr(F, name)(cx, *args, **kwargs)


def test_inplace_activation_after_a_use_is_caught_at_backward():
    """An activation written over values that backward still needs fails loudly."""
    x = cr.tensor(RNG.normal(size=4), requires_grad=True)
    y = x.exp()
    s = (y * 1.0).sum() + y.exp().sum()  # exp saves its output y
    F.relu_(y)
    with pytest.raises(cr.ChainruleError, match="in-place"):
        s.backward()


# --------------------------------------------------------------------------- local response norm

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,size", [((2, 5, 7), 3), ((2, 6, 3, 4), 2), ((1, 4, 2, 3, 2), 5),
                                        ((3, 3, 4), 1), ((2, 7, 3, 3), 4),
                                        ((2, 3, 4), 8), ((1, 2, 3, 2), 5)])  # size > channels
def test_local_response_norm_matches_torch(dtype, shape, size):
    x = RNG.normal(size=shape) * 2
    run_parity(lambda: nn.LocalResponseNorm(size, alpha=0.3, beta=0.8, k=1.2),
               lambda: tnn.LocalResponseNorm(size, alpha=0.3, beta=0.8, k=1.2), [x],
               dtype=dtype)
    if dtype == np.float64:  # the defaults (alpha = 1e-4) too, functional form
        _compare(lambda x: F.local_response_norm(x, size),
                 lambda x: TF.local_response_norm(x, size), [x], dtype, "local_response_norm")


# --------------------------------------------------------------------------- CTC

CTC_TARGETS = np.array([[1, 2, 2, 0], [3, 1, 0, 0], [1, 1, 1, 1], [2, 0, 0, 0]])
CTC_TARGET_LENGTHS = [3, 2, 4, 0]
CTC_INPUT_LENGTHS = [12, 10, 8, 3]


def _log_probs(shape: tuple[int, ...]) -> np.ndarray:
    x = RNG.normal(size=shape)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("concatenated", [False, True])
def test_ctc_loss_matches_torch(dtype, reduction, concatenated):
    """Through log_softmax, as CTC is used: values and the logits' gradients agree."""
    logits = RNG.normal(size=(12, 4, 5))
    t = (np.concatenate([r[:k] for r, k in zip(CTC_TARGETS, CTC_TARGET_LENGTHS)])
         if concatenated else CTC_TARGETS)
    _compare(lambda x: F.ctc_loss(F.log_softmax(x, 2), cr.tensor(t), CTC_INPUT_LENGTHS,
                                  CTC_TARGET_LENGTHS, reduction=reduction),
             lambda x: TF.ctc_loss(TF.log_softmax(x, 2), torch.tensor(t), CTC_INPUT_LENGTHS,
                                   CTC_TARGET_LENGTHS, reduction=reduction),
             [logits], dtype, f"ctc_loss {reduction} concatenated={concatenated}")


def test_ctc_loss_gradient_of_log_probs_is_the_true_one():
    """With log_probs as the leaf, PyTorch's gradient carries an extra exp(log_probs) at the
    steps each sample uses (pytorch/pytorch#52241); chainrule's is the true one, minus the
    alignment posteriors, so the two differ by exactly that term, and the posteriors of each
    used step sum to 1 (each step is in exactly one state of every alignment)."""
    lp = _log_probs((12, 4, 5))
    c_lp, t_lp = cr.tensor(lp, requires_grad=True), torch.tensor(lp, requires_grad=True)
    F.ctc_loss(c_lp, cr.tensor(CTC_TARGETS), CTC_INPUT_LENGTHS, CTC_TARGET_LENGTHS,
               reduction="sum").backward()
    TF.ctc_loss(t_lp, torch.tensor(CTC_TARGETS), CTC_INPUT_LENGTHS, CTC_TARGET_LENGTHS,
                reduction="sum").backward()
    used = (np.arange(12)[:, None] < np.array(CTC_INPUT_LENGTHS)[None, :])[..., None]
    np.testing.assert_allclose(c_lp.grad.numpy(), t_lp.grad.numpy() - np.exp(lp) * used,
                               atol=1e-12)
    np.testing.assert_allclose(c_lp.grad.numpy().sum(-1), -used[..., 0].astype(float),
                               atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES)
def test_ctc_loss_through_log_softmax_blank_and_zero_infinity_match_torch(dtype):
    logits = RNG.normal(size=(9, 4, 6))
    t = np.array([[0, 1, 1, 0], [2, 2, 0, 0], [3, 3, 3, 3], [1, 0, 0, 0]])
    il, tl = [9, 4, 6, 7], [3, 2, 4, 1]  # sample 2 is impossible: 3 3 3 3 needs 7 steps
    _compare(lambda x: F.ctc_loss(F.log_softmax(x, 2), cr.tensor(t), il, tl, blank=5,
                                  reduction="none", zero_infinity=True),
             lambda x: TF.ctc_loss(TF.log_softmax(x, 2), torch.tensor(t), il, tl, blank=5,
                                   reduction="none", zero_infinity=True),
             [logits], dtype, "ctc_loss blank=5 zero_infinity")
    loss = F.ctc_loss(cr.tensor(_log_probs((9, 4, 6))), cr.tensor(t), il, tl, blank=5,
                      reduction="none")
    assert np.isinf(loss.data[2]) and np.isfinite(loss.data[[0, 1, 3]]).all()


@pytest.mark.parametrize("lengths", [(10, 3), ([10], [3]), (np.array(10), np.array(3))],
                         ids=["int", "list", "0-d"])
def test_ctc_loss_unbatched_matches_torch(lengths):
    def as_torch(v: Any) -> Any:
        return torch.tensor(v) if isinstance(v, np.ndarray) else [v] if isinstance(v, int) else v

    _compare(lambda x: F.ctc_loss(F.log_softmax(x, 1), cr.tensor([1, 4, 4]), *lengths,
                                  reduction="none"),
             lambda x: TF.ctc_loss(TF.log_softmax(x, 1), torch.tensor([1, 4, 4]),
                                   *map(as_torch, lengths), reduction="none"),
             [RNG.normal(size=(10, 5))], np.float64, f"ctc_loss unbatched {lengths}")


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("concatenated", [False, True])
def test_ctc_loss_with_every_target_empty_matches_torch(reduction, concatenated):
    """All target lengths 0: one state (the blank), no label-to-label skip."""
    t = np.zeros(0, dtype=np.int64) if concatenated else np.array([[1], [2], [1]])
    il, tl = [6, 3, 0], [0, 0, 0]
    _compare(lambda x: F.ctc_loss(F.log_softmax(x, 2), cr.tensor(t), il, tl,
                                  reduction=reduction),
             lambda x: TF.ctc_loss(TF.log_softmax(x, 2), torch.tensor(t), il, tl,
                                   reduction=reduction),
             [RNG.normal(size=(6, 3, 4))], np.float64, f"ctc_loss empty targets {reduction}")


def test_ctc_loss_module_matches_torch():
    def after_log_softmax(lib: Any) -> Any:
        class LogSoftmaxCTC(lib.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.ctc = lib.nn.CTCLoss(blank=0, zero_infinity=True)

            def forward(self, x: Any, *rest: Any) -> Any:
                return self.ctc(lib.nn.functional.log_softmax(x, 2), *rest)

        return LogSoftmaxCTC()

    inputs = [RNG.normal(size=(12, 4, 5)), CTC_TARGETS, np.array(CTC_INPUT_LENGTHS),
              np.array(CTC_TARGET_LENGTHS)]
    for dtype in DTYPES:
        run_parity(lambda: after_log_softmax(cr), lambda: after_log_softmax(torch), inputs,
                   dtype=dtype)
    assert repr(nn.CTCLoss()) == repr(tnn.CTCLoss())


def test_ctc_loss_hand_formula_and_gradcheck():
    # 2 steps, uniform over {blank, a}: the alignments aa, a-, -a of "a" have probability 3/4
    lp = cr.tensor(np.log(np.full((2, 1, 2), 0.5)))
    assert abs(F.ctc_loss(lp, cr.tensor([[1]]), [2], [1]).item() + np.log(0.75)) < 1e-15
    logits = cr.tensor(RNG.normal(size=(5, 2, 3)), requires_grad=True)
    assert cr.gradcheck(lambda x: F.ctc_loss(F.log_softmax(x, 2), cr.tensor([[1, 2], [2, 2]]),
                                             [5, 5], [2, 2]), [logits],
                        atol=1e-7, rtol=1e-6)
    log_probs = cr.tensor(_log_probs((6, 2, 3)), requires_grad=True)  # the leaf itself
    assert cr.gradcheck(lambda x: F.ctc_loss(x, cr.tensor([[1, 2], [2, 2]]), [6, 5], [2, 2]),
                        [log_probs], atol=1e-7, rtol=1e-6)


def test_ctc_loss_bad_arguments():
    lp = cr.tensor(_log_probs((6, 2, 4)))
    t = cr.tensor([[1, 2], [3, 1]])
    with pytest.raises(ValueError, match=r"ctc_loss: blank 4 is out of range for 4 classes"):
        F.ctc_loss(lp, t, [6, 6], [2, 2], blank=4)
    with pytest.raises(ValueError, match=r"ctc_loss: input_lengths must be at most 6.*got 7"):
        F.ctc_loss(lp, t, [7, 6], [2, 2])
    with pytest.raises(ValueError, match=r"ctc_loss: target_lengths must have one value per "
                                         r"sample \(2\), got 3"):
        F.ctc_loss(lp, t, [6, 6], [2, 2, 1])
    with pytest.raises(ValueError, match=r"ctc_loss: target_lengths must be non-negative"):
        F.ctc_loss(lp, t, [6, 6], [2, -1])
    with pytest.raises(TypeError, match=r"ctc_loss: target must hold class indices"):
        F.ctc_loss(lp, cr.tensor([[1.0, 2.0], [3.0, 1.0]]), [6, 6], [2, 2])
    with pytest.raises(ValueError, match=r"ctc_loss: padded targets must have shape \(N, S\) "
                                         r"with N = 2 and S at least the longest target length "
                                         r"3, got \(2, 2\)"):
        F.ctc_loss(lp, t, [6, 6], [3, 2])
    with pytest.raises(ValueError, match=r"ctc_loss: concatenated \(1-D\) targets must hold "
                                         r"sum\(target_lengths\) = 3 labels, got 4"):
        F.ctc_loss(lp, cr.tensor([1, 2, 3, 1]), [6, 6], [2, 1])
    with pytest.raises(IndexError, match=r"ctc_loss: target 4 is out of range for 4 classes"):
        F.ctc_loss(lp, cr.tensor([[1, 4], [3, 1]]), [6, 6], [2, 2])
    with pytest.raises(ValueError, match=r"ctc_loss: log_probs must have shape \(T, N, C\)"):
        F.ctc_loss(cr.tensor(np.zeros(3)), t, [6, 6], [2, 2])
    with pytest.raises(ValueError, match=r"ctc_loss: 'avg' is not a valid value for reduction"):
        F.ctc_loss(lp, t, [6, 6], [2, 2], reduction="avg")


# --------------------------------------------------------------------------- bad input

def _x(*shape: int) -> cr.Tensor:
    return cr.tensor(RNG.normal(size=shape))


def test_bad_targets_are_refused_with_clear_messages():
    x = _x(3, 4)
    with pytest.raises(ValueError, match=r"multi_margin_loss: expected a target of shape "
                                         r"\(3,\).*\(3, 4\).*got \(2,\)"):
        F.multi_margin_loss(x, cr.tensor([0, 1]))
    with pytest.raises(ValueError, match=r"multi_margin_loss.*got \(3, 1\)"):
        F.multi_margin_loss(x, cr.tensor([[0], [1], [2]]))
    with pytest.raises(TypeError, match=r"multi_margin_loss: target must hold class indices"
                                        r".*float"):
        F.multi_margin_loss(x, cr.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(IndexError, match=r"multi_margin_loss: target 4 is out of range for 4 "
                                         r"classes"):
        F.multi_margin_loss(x, cr.tensor([0, 1, 4]))
    with pytest.raises(IndexError, match=r"multi_margin_loss: target -1 is out of range"):
        F.multi_margin_loss(x, cr.tensor([0, 1, -1]))
    with pytest.raises(ValueError, match=r"multi_margin_loss: expected an input of shape "
                                         r"\(N, C\) or \(C,\), got \(3, 2, 2\)"):
        F.multi_margin_loss(_x(3, 2, 2), cr.tensor([0, 1, 1]))
    with pytest.raises(ValueError, match=r"multilabel_margin_loss: target must have the "
                                         r"input's shape \(3, 4\).*got \(3,\)"):
        F.multilabel_margin_loss(x, cr.tensor([0, 1, 2]))
    with pytest.raises(TypeError, match=r"multilabel_margin_loss: target must hold class "
                                        r"indices"):
        F.multilabel_margin_loss(x, cr.tensor(np.zeros((3, 4))))
    with pytest.raises(IndexError, match=r"multilabel_margin_loss: target 4 is out of range "
                                         r"for 4 classes"):
        F.multilabel_margin_loss(x, cr.tensor([[0, 4, -1, 2]] * 3))
    with pytest.raises(IndexError, match=r"multilabel_margin_loss: target -2 is out of range"):
        F.multilabel_margin_loss(x, cr.tensor([[0, -2, -1, 2]] * 3))
    with pytest.raises(ValueError, match=r"multilabel_soft_margin_loss: target of shape "
                                         r"\(3, 3\) does not broadcast to the input's shape "
                                         r"\(3, 4\)"):
        F.multilabel_soft_margin_loss(x, cr.tensor(np.ones((3, 3))))


def test_bad_weights_p_and_margins_are_refused():
    x, t = _x(3, 4), cr.tensor([0, 1, 2])
    with pytest.raises(ValueError, match=r"multi_margin_loss: only p = 1 and p = 2 are "
                                         r"supported, got p=3"):
        F.multi_margin_loss(x, t, p=3)
    with pytest.raises(ValueError, match=r"MultiMarginLoss: only p = 1 and p = 2.*p=0"):
        nn.MultiMarginLoss(p=0)
    with pytest.raises(ValueError, match=r"multi_margin_loss: weight must be one-dimensional "
                                         r"with one value per class, shape \(4,\), got \(3,\)"):
        F.multi_margin_loss(x, t, weight=cr.ones(3))
    with pytest.raises(ValueError, match=r"MultiMarginLoss: weight must be None or "
                                         r"one-dimensional.*\(1, 4\)"):
        nn.MultiMarginLoss(weight=cr.ones(1, 4))
    with pytest.raises(ValueError, match=r"multilabel_soft_margin_loss: weight of shape \(3,\) "
                                         r"does not broadcast to the input's shape \(3, 4\)"):
        F.multilabel_soft_margin_loss(x, cr.ones(3, 4), weight=cr.ones(3))
    a = _x(4, 3)
    for margin in (0.0, -1.0):
        with pytest.raises(ValueError, match=rf"triplet_margin_loss: margin must be greater "
                                             rf"than 0, got {margin}"):
            F.triplet_margin_loss(a, a, a, margin=margin)
        with pytest.raises(ValueError, match=r"TripletMarginWithDistanceLoss: margin must be"):
            nn.TripletMarginWithDistanceLoss(margin=margin)
        with pytest.raises(ValueError, match=r"TripletMarginLoss: margin must be"):
            nn.TripletMarginLoss(margin=margin)
    with pytest.raises(ValueError, match=r"triplet_margin_loss: the anchor, positive and "
                                         r"negative tensors must have the same number of dims"
                                         r".*negative \(3,\)"):
        F.triplet_margin_loss(a, a, a[0])
    with pytest.raises(ValueError, match=r"triplet_margin_with_distance_loss: the shapes of "
                                         r"anchor \(4, 3\), positive \(4, 3\) and negative "
                                         r"\(2, 3\) do not broadcast"):
        F.triplet_margin_with_distance_loss(a, a, a[:2])


@pytest.mark.parametrize("call", [
    lambda r: F.triplet_margin_loss(_x(2, 3), _x(2, 3), _x(2, 3), reduction=r),
    lambda r: F.triplet_margin_with_distance_loss(_x(2, 3), _x(2, 3), _x(2, 3), reduction=r),
    lambda r: F.multi_margin_loss(_x(2, 3), cr.tensor([0, 1]), reduction=r),
    lambda r: F.multilabel_margin_loss(_x(2, 3), cr.tensor([[0, -1, 0]] * 2), reduction=r),
    lambda r: F.multilabel_soft_margin_loss(_x(2, 3), cr.ones(2, 3), reduction=r),
    lambda r: nn.MultiLabelMarginLoss(reduction=r)(_x(2, 3), cr.tensor([[0, -1, 0]] * 2)),
], ids=["triplet", "triplet_distance", "multi_margin", "multilabel", "multilabel_soft",
        "module"])
def test_invalid_reduction_names_the_op(call):
    with pytest.raises(ValueError, match=r"_loss: 'avg' is not a valid value for reduction; "
                                         r"use one of 'mean', 'sum', 'none'"):
        call("avg")


def test_bad_activation_and_distance_arguments():
    x = _x(3, 4)
    for call in (lambda: F.rrelu(x, 0.5, 0.2), lambda: F.rrelu(x, 0.5, 0.2, training=True),
                 lambda: nn.RReLU(0.5, 0.2)(x)):
        with pytest.raises(ValueError, match=r"rrelu: lower \(0.5\) must be less than or equal "
                                             r"to upper \(0.2\)"):
            call()
    with pytest.raises(ValueError, match=r"rrelu_: lower \(0.5\)"):
        F.rrelu_(x, 0.5, 0.2)
    with pytest.raises(ValueError, match=r"Softmax2d: expected a 3-D \(C, H, W\) or 4-D "
                                         r"\(N, C, H, W\) input, got shape \(3, 4\)"):
        nn.Softmax2d()(x)
    with pytest.raises(ValueError, match=r"pdist: expected a 2-D input.*got shape \(2, 2, 3\)"):
        F.pdist(_x(2, 2, 3))
    with pytest.raises(ValueError, match=r"pdist: p must be non-negative, got -1"):
        F.pdist(x, p=-1)
    with pytest.raises(ValueError, match=r"local_response_norm: expected an input of shape "
                                         r"\(N, C, \*spatial\).*got shape \(3, 4\)"):
        F.local_response_norm(x, 2)
    with pytest.raises(ValueError, match=r"local_response_norm: size must be a positive int"
                                         r".*got 0"):
        nn.LocalResponseNorm(0)(_x(1, 3, 2))
