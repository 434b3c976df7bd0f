"""Layers on their own (no torch needed): shapes, defaults, train/eval behaviour, dropout
statistics, embedding gradients, batch-norm running statistics, gradcheck of the functional
norms, and the fused ops against the compositions they replace."""

from __future__ import annotations

import math

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

RNG = np.random.default_rng(3)


def t64(*shape: int, grad: bool = True, scale: float = 1.0) -> cr.Tensor:
    return cr.tensor(RNG.normal(0, scale, shape), requires_grad=grad)


# --------------------------------------------------------------------------- linear

def test_linear_shapes_init_and_formula():
    cr.manual_seed(0)
    lin = nn.Linear(20, 7)
    assert lin.weight.shape == (7, 20) and lin.bias.shape == (7,)
    assert lin.weight.dtype == np.float32
    bound = 1 / math.sqrt(20)
    assert np.abs(lin.weight.numpy()).max() <= bound
    assert np.abs(lin.bias.numpy()).max() <= bound
    x = cr.randn(2, 3, 20)
    np.testing.assert_allclose(lin(x).numpy(), x.numpy() @ lin.weight.numpy().T
                               + lin.bias.numpy(), rtol=1e-5, atol=1e-6)
    assert nn.Linear(20, 7, bias=False).bias is None
    assert list(nn.Linear(2, 2, bias=False).state_dict()) == ["weight"]
    with pytest.raises(ValueError, match="in_features=20"):
        lin(cr.randn(2, 5))


def test_linear_functional_gradcheck():
    x, w, b = t64(3, 4), t64(2, 4), t64(2)
    assert cr.gradcheck(F.linear, (x, w, b))
    assert cr.gradgradcheck(F.linear, (x, w, b))
    assert cr.gradcheck(F.linear, (t64(2, 3, 4), w))
    assert cr.gradcheck(F.linear, (t64(4), w, b))
    assert cr.gradcheck(F.bilinear, (t64(3, 2), t64(3, 4), t64(5, 2, 4), t64(5)))


def test_fused_linear_agrees_with_matmul_composite():
    x, w, b = t64(5, 4), t64(3, 4), t64(3)
    x2, w2, b2 = (cr.tensor(a.numpy(), requires_grad=True) for a in (x, w, b))
    F.linear(x, w, b).sum().backward()
    (x2 @ w2.T + b2).sum().backward()
    for a, c in ((x, x2), (w, w2), (b, b2)):
        np.testing.assert_allclose(a.grad.numpy(), c.grad.numpy(), rtol=1e-13)
    jf = cr.jacfwd(lambda w_: F.linear(x, w_, b))(w)
    jr = cr.jacrev(lambda w_: F.linear(x, w_, b))(w)
    np.testing.assert_allclose(jf.numpy(), jr.numpy(), rtol=1e-12)


def test_flatten_unflatten_identity():
    x = cr.randn(2, 3, 4, 5)
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 2)(x).shape == (24, 5)
    assert nn.Unflatten(1, (3, 20))(nn.Flatten()(x)).shape == (2, 3, 20)
    assert nn.Identity(54, unused="x")(x) is x


# --------------------------------------------------------------------------- activations

ACTIVATIONS = [
    (nn.ReLU(), F.relu), (nn.ReLU6(), F.relu6), (nn.Sigmoid(), F.sigmoid), (nn.Tanh(), F.tanh),
    (nn.LeakyReLU(0.3), lambda x: F.leaky_relu(x, 0.3)), (nn.ELU(0.5), lambda x: F.elu(x, 0.5)),
    (nn.SELU(), F.selu), (nn.CELU(2.0), lambda x: F.celu(x, 2.0)),
    (nn.GELU(), F.gelu), (nn.GELU("tanh"), lambda x: F.gelu(x, approximate="tanh")),
    (nn.SiLU(), F.silu), (nn.Mish(), F.mish), (nn.Softplus(2.0), lambda x: F.softplus(x, 2.0)),
    (nn.Softsign(), F.softsign), (nn.Hardtanh(-2, 2), lambda x: F.hardtanh(x, -2, 2)),
    (nn.LogSigmoid(), F.logsigmoid), (nn.Softmax(1), lambda x: F.softmax(x, 1)),
    (nn.LogSoftmax(1), lambda x: F.log_softmax(x, 1)), (nn.Softmin(1), lambda x: F.softmin(x, 1)),
    (nn.Hardsigmoid(), F.hardsigmoid), (nn.Hardswish(), F.hardswish), (nn.GLU(), F.glu),
    (nn.Tanhshrink(), F.tanhshrink), (nn.Softshrink(0.3), lambda x: F.softshrink(x, 0.3)),
    (nn.Hardshrink(0.3), lambda x: F.hardshrink(x, 0.3)),
    (nn.Threshold(0.2, -1.0), lambda x: F.threshold(x, 0.2, -1.0)),
]


@pytest.mark.parametrize("module,fn", ACTIVATIONS, ids=lambda a: type(a).__name__)
def test_activation_module_is_its_functional_and_differentiable(module, fn):
    x = t64(3, 4, scale=2)
    np.testing.assert_array_equal(module(x).numpy(), fn(x).numpy())
    assert cr.gradcheck(module, (x,))
    assert not list(module.parameters())


def test_softmax_without_dim_warns_like_torch():
    with pytest.warns(UserWarning, match="Implicit dimension"):
        out = F.softmax(cr.randn(2, 3))
    np.testing.assert_allclose(out.numpy().sum(1), 1, rtol=1e-6)


def test_prelu_learns_its_slope():
    act = nn.PReLU(3)
    x = cr.tensor(-np.ones((2, 3, 2)))
    act(x).sum().backward()
    np.testing.assert_allclose(act.weight.grad.numpy(), [-4.0, -4.0, -4.0])
    np.testing.assert_allclose(act(x).numpy(), -0.25, rtol=1e-6)


# --------------------------------------------------------------------------- dropout

def test_dropout_train_and_eval():
    cr.manual_seed(0)
    drop = nn.Dropout(0.3)
    x = cr.ones(200, 100, requires_grad=True)
    y = drop(x)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.01
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy(), rtol=1e-6)  # ∂/∂x = mask/(1-p)
    drop.eval()
    assert drop(x) is x
    assert nn.Dropout(0.0)(x) is x
    assert not nn.Dropout(1.0)(x).numpy().any()
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout(1.5)


def test_dropout_uses_the_global_generator():
    cr.manual_seed(42)
    a = F.dropout(cr.ones(50), 0.5).numpy()
    cr.manual_seed(42)
    b = F.dropout(cr.ones(50), 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, F.dropout(cr.ones(50), 0.5).numpy())


def test_dropout2d_drops_whole_channels():
    cr.manual_seed(1)
    y = nn.Dropout2d(0.5)(cr.ones(4, 6, 3, 3)).numpy()
    per_channel = y.reshape(4, 6, 9)
    assert np.all((per_channel == 0).all(-1) | (per_channel == 2).all(-1))
    assert 0 < (per_channel == 0).all(-1).sum() < 24


def test_alpha_dropout_keeps_mean_and_variance():
    cr.manual_seed(0)
    x = cr.randn(400, 400, dtype=cr.float64)
    y = F.alpha_dropout(x, 0.2, training=True).numpy()
    assert abs(y.mean()) < 0.02 and abs(y.std() - 1) < 0.02


# --------------------------------------------------------------------------- embedding

def test_embedding_gradient_accumulates_and_skips_padding():
    emb = nn.Embedding(5, 3, padding_idx=0)
    assert not emb.weight.numpy()[0].any()
    idx = cr.tensor([[1, 1, 0], [4, 1, 0]])
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.numpy()[0, 0], emb.weight.numpy()[1])
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy(),
                                  [[0, 0, 0], [3, 3, 3], [0, 0, 0], [0, 0, 0], [1, 1, 1]])
    # the padding row is returned as it is (if non-zero), but never gets a gradient
    emb.weight.data[0] = 5.0
    emb.weight.grad = None
    y = emb(cr.tensor([0, 2]))
    np.testing.assert_array_equal(y.numpy()[0], [5, 5, 5])
    (y * y).sum().backward()
    assert not emb.weight.grad.numpy()[0].any()
    assert nn.Embedding(5, 3, padding_idx=-1).padding_idx == 4
    with pytest.raises(IndexError, match="out of range"):
        emb(cr.tensor([5]))
    with pytest.raises(TypeError, match="integers"):
        emb(cr.tensor([1.0]))


def test_embedding_gradcheck_and_second_order():
    w = t64(6, 2)
    idx = np.array([[0, 3, 3], [5, 0, 2]])
    assert cr.gradcheck(lambda w_: F.embedding(idx, w_) ** 2, (w,))
    assert cr.gradgradcheck(lambda w_: F.embedding(idx, w_) ** 2, (w,))
    # with a padding row: the same, except that row's gradient is zero (also second order)
    (g,) = cr.autograd.grad(
        [(F.embedding(idx, w, padding_idx=3) ** 2).sum()], [w], create_graph=True)
    expected = np.zeros((6, 2))
    np.add.at(expected, idx.reshape(-1), 2 * w.numpy()[idx.reshape(-1)])
    expected[3] = 0
    np.testing.assert_allclose(g.numpy(), expected, rtol=1e-12)
    (gg,) = cr.autograd.grad([g.sum()], [w])
    assert gg.numpy()[3].sum() == 0 and gg.numpy()[0].sum() == 2 * 2 * 2


def test_embedding_from_pretrained_and_max_norm():
    table = cr.tensor([[3.0, 4.0], [0.3, 0.4]])
    emb = nn.Embedding.from_pretrained(table)
    assert not emb.weight.requires_grad
    emb2 = nn.Embedding(2, 2, max_norm=1.0, _weight=table.clone())
    emb2(cr.tensor([0]))
    np.testing.assert_allclose(emb2.weight.numpy()[0], [0.6, 0.8], rtol=1e-5)
    np.testing.assert_allclose(emb2.weight.numpy()[1], [0.3, 0.4])  # not looked up


def test_one_hot():
    out = F.one_hot(cr.tensor([0, 2, 1]))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[0, 2, 1]])
    assert F.one_hot(cr.tensor([[1], [0]]), 4).shape == (2, 1, 4)
    with pytest.raises(ValueError):
        F.one_hot(cr.tensor([3]), 2)


# --------------------------------------------------------------------------- normalisation

def test_batchnorm_training_statistics_and_running_update():
    bn = nn.BatchNorm1d(3, momentum=0.2).double()
    x = RNG.normal(2.0, 3.0, (16, 3))
    y = bn(cr.tensor(x)).numpy()
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(0), 1 / (1 + 1e-5 / x.var(0)), rtol=1e-9)
    np.testing.assert_allclose(bn.running_mean.numpy(), 0.2 * x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.numpy(), 0.8 + 0.2 * x.var(0, ddof=1),
                               rtol=1e-12)  # unbiased, as torch
    assert bn.num_batches_tracked.item() == 1
    bn.eval()
    z = cr.tensor(RNG.normal(size=(4, 3)))
    expected = (z.numpy() - bn.running_mean.numpy()) / np.sqrt(bn.running_var.numpy() + 1e-5)
    np.testing.assert_allclose(bn(z).numpy(), expected, rtol=1e-12)
    assert bn.num_batches_tracked.item() == 1  # eval does not count


def test_batchnorm_cumulative_average_and_no_tracking():
    bn = nn.BatchNorm2d(2, momentum=None).double()
    batches = [RNG.normal(k, 1.0, (3, 2, 4, 4)) for k in range(3)]
    for b in batches:
        bn(cr.tensor(b))
    mean = np.mean([b.mean((0, 2, 3)) for b in batches], axis=0)
    np.testing.assert_allclose(bn.running_mean.numpy(), mean, rtol=1e-12)
    free = nn.BatchNorm1d(2, track_running_stats=False)
    assert free.running_mean is None and list(free.state_dict()) == ["weight", "bias"]
    free.eval()
    y = free(cr.randn(10, 2) * 5 + 3).numpy()  # batch statistics even in eval
    np.testing.assert_allclose(y.mean(0), 0, atol=1e-5)
    with pytest.raises(ValueError, match="more than 1 value"):
        nn.BatchNorm1d(2)(cr.randn(1, 2))
    with pytest.raises(ValueError, match="channels"):
        nn.BatchNorm1d(3)(cr.randn(4, 2))
    with pytest.raises(ValueError, match="4-D"):
        nn.BatchNorm2d(3)(cr.randn(4, 3))


def test_batchnorm_updates_running_stats_without_grad_mode():
    bn = nn.BatchNorm1d(2)
    with cr.no_grad():
        bn(cr.randn(8, 2) + 10)
    assert bn.running_mean.numpy().min() > 0.5


def test_layer_and_group_norm_statistics():
    x = RNG.normal(3, 2, (4, 6, 5))
    y = nn.LayerNorm((6, 5)).double()(cr.tensor(x)).numpy()
    np.testing.assert_allclose(y.reshape(4, -1).mean(1), 0, atol=1e-12)
    g = nn.GroupNorm(3, 6).double()(cr.tensor(x)).numpy().reshape(4, 3, 10)
    np.testing.assert_allclose(g.mean(-1), 0, atol=1e-12)
    np.testing.assert_allclose(g.var(-1), 1, rtol=1e-3)
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)
    with pytest.raises(ValueError, match="trailing"):
        F.layer_norm(cr.tensor(x), (6,))


NORM_GRADCHECKS = [
    ("batch_norm-train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True)),
    ("batch_norm-eval", lambda x, w, b: F.batch_norm(
        x, cr.tensor([0.1, -0.2, 0.3], dtype=cr.float64),
        cr.tensor([1.5, 0.7, 2.0], dtype=cr.float64), w, b, training=False)),
    ("layer_norm", lambda x, w, b: F.layer_norm(x.transpose(1, 2), (3,), w, b, eps=1e-3)),
    ("group_norm", lambda x, w, b: F.group_norm(x, 3, w, b)),
    ("instance_norm", lambda x, w, b: F.instance_norm(x, weight=w, bias=b)),
    ("rms_norm", lambda x, w, b: F.rms_norm(x.transpose(1, 2), (3,), w, eps=1e-6) + b),
    ("normalize", lambda x, w, b: F.normalize(x * w.reshape(3, 1) + b.reshape(3, 1), dim=1)),
    ("cosine_similarity", lambda x, w, b: F.cosine_similarity(x, x * w.reshape(3, 1) + 1.0)),
    ("pairwise_distance", lambda x, w, b: F.pairwise_distance(x, x * b.reshape(3, 1))),
]


@pytest.mark.parametrize("name,fn", NORM_GRADCHECKS, ids=[c[0] for c in NORM_GRADCHECKS])
def test_functional_norms_gradcheck_float64(name, fn):
    x, w, b = t64(4, 3, 2), cr.tensor(RNG.uniform(0.5, 1.5, 3), requires_grad=True), t64(3)
    assert cr.gradcheck(fn, (x, w, b))
    if name in ("batch_norm-train", "layer_norm", "group_norm"):
        assert cr.gradgradcheck(fn, (x, w, b))


def test_standardize_op_agrees_with_the_composite():
    """The fused normalisation rule equals the gradient of (x - μ)/√(σ² + ε) built from ops."""
    from chainrule.ops import nn as N

    x1 = t64(4, 3, 5)
    x2 = cr.tensor(x1.numpy(), requires_grad=True)
    g = cr.tensor(RNG.normal(size=(4, 3, 5)))
    fused = N.standardize(x1, dim=(-3, -1), eps=1e-3)
    mu = x2.mean(dim=(0, 2), keepdim=True)
    var = ((x2 - mu) ** 2).mean(dim=(0, 2), keepdim=True)
    composite = (x2 - mu) / cr.sqrt(var + 1e-3)
    np.testing.assert_allclose(fused.numpy(), composite.numpy(), rtol=1e-13)
    fused.backward(g)
    composite.backward(g)
    np.testing.assert_allclose(x1.grad.numpy(), x2.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_instance_norm_module_unbatched():
    m = nn.InstanceNorm1d(2)
    y = m(cr.randn(2, 7) * 3 + 1)
    assert y.shape == (2, 7)
    np.testing.assert_allclose(y.numpy().mean(-1), 0, atol=1e-5)


# --------------------------------------------------------------------------- end to end

def test_small_classifier_learns():
    """A Sequential MLP with the whole stack (BatchNorm, Dropout, CrossEntropy, SGD by hand)."""
    cr.manual_seed(0)
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 3, (3, 5))
    model = nn.Sequential(nn.Linear(5, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Dropout(0.1),
                          nn.Linear(16, 3))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    for _ in range(60):
        y = rng.integers(0, 3, 64)
        x = cr.tensor(centres[y] + rng.normal(size=(64, 5)), dtype=cr.float32)
        loss = loss_fn(model(x), cr.tensor(y))
        model.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        with cr.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    model.eval()
    y = rng.integers(0, 3, 256)
    x = cr.tensor(centres[y] + rng.normal(size=(256, 5)), dtype=cr.float32)
    accuracy = (model(x).argmax(1).numpy() == y).mean()
    assert accuracy > 0.9
