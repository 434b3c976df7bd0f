"""Lazy layers against PyTorch's: uninitialized parameters, the first forward (sizes, default
initialisation, the class swap), copying weights from the torch twin, load_state_dict into an
uninitialized layer, optimizers built before the first forward, and the errors."""

from __future__ import annotations

import copy

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.parameter import UninitializedBuffer, UninitializedParameter, is_lazy

torch = pytest.importorskip("torch")

from torch_parity_helpers import close  # noqa: E402

# (chainrule layer, torch layer, constructor arguments, input shape)
CASES = [
    ("LazyLinear", (3,), {}, (4, 5)),
    ("LazyLinear", (3,), {"bias": False}, (2, 4, 6)),
    ("LazyConv1d", (4, 3), {"padding": 1}, (2, 3, 7)),
    ("LazyConv2d", (4, 3), {"groups": 2, "stride": 2}, (2, 6, 7, 7)),
    ("LazyConv2d", (4, 3), {}, (3, 6, 6)),  # unbatched
    ("LazyConv3d", (2, 2), {"bias": False}, (1, 3, 4, 4, 4)),
    ("LazyConvTranspose1d", (4, 3), {"stride": 2}, (2, 3, 5)),
    ("LazyConvTranspose2d", (4, 3), {"groups": 2}, (2, 6, 4, 4)),
    ("LazyConvTranspose3d", (2, 2), {}, (1, 3, 3, 3, 3)),
    ("LazyBatchNorm1d", (), {}, (4, 3)),
    ("LazyBatchNorm1d", (), {"affine": False}, (4, 3, 5)),
    ("LazyBatchNorm2d", (), {"momentum": None}, (4, 3, 5, 5)),
    ("LazyBatchNorm3d", (), {"track_running_stats": False}, (2, 3, 2, 3, 3)),
    ("LazyInstanceNorm1d", (), {}, (2, 3, 6)),
    ("LazyInstanceNorm2d", (), {"affine": False}, (2, 3, 4, 4)),
    ("LazyInstanceNorm3d", (), {"bias": False}, (2, 3, 3, 3, 3)),
]
IDS = [f"{name}-{i}" for i, (name, *_) in enumerate(CASES)]


def _pair(name: str, args: tuple, kwargs: dict) -> tuple:
    return getattr(cr.nn, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)


@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=IDS)
def test_before_the_first_forward(name, args, kwargs, shape):
    m, t = _pair(name, args, kwargs)
    assert type(m).__name__ == name and m.has_uninitialized_params() == \
        t.has_uninitialized_params()
    assert repr(m) == repr(t)
    ours, theirs = m.state_dict(), t.state_dict()
    assert list(ours) == list(theirs)
    for key in ours:
        assert type(ours[key]).__name__ == type(theirs[key]).__name__, key
        assert is_lazy(ours[key]) == torch.nn.parameter.is_lazy(theirs[key])
    assert [n for n, _ in m.named_parameters()] == [n for n, _ in t.named_parameters()]


@pytest.mark.parametrize("name,args,kwargs,shape", CASES, ids=IDS)
def test_first_forward_then_torch_weights_give_torch_outputs_and_gradients(name, args, kwargs,
                                                                           shape):
    m, t = _pair(name, args, kwargs)
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    m(cr.tensor(x))
    t(torch.tensor(x))
    plain = getattr(cr.nn, name[len("Lazy"):])
    assert type(m) is plain and type(t).__name__ == plain.__name__
    assert not m._forward_pre_hooks and "_initialize_hook" not in vars(m)
    assert repr(m) == repr(t)
    shapes = {k: tuple(v.shape) for k, v in t.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in m.state_dict().items()} == shapes
    m.load_state_dict(t.state_dict())
    xc = cr.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out, expected = m(xc), t(xt)
    close(out, expected, 1e-5, "output")
    g = np.random.default_rng(1).normal(size=expected.shape).astype(np.float32)
    (out * cr.tensor(g)).sum().backward()
    (expected * torch.tensor(g)).sum().backward()
    close(xc.grad, xt.grad, 1e-5, "input grad")
    for (key, p), (_, tp) in zip(m.named_parameters(), t.named_parameters()):
        close(p.grad, tp.grad, 1e-5, f"{key} grad")
    for (key, b), (_, tb) in zip(m.named_buffers(), t.named_buffers()):
        close(b, tb, 1e-5, key)


def test_sizes_are_read_from_the_input():
    fc = cr.nn.LazyLinear(3)
    fc(cr.ones(2, 7))
    assert fc.in_features == 7 and fc.weight.shape == (3, 7)
    conv = cr.nn.LazyConvTranspose2d(4, 3, groups=2)
    conv(cr.ones(1, 6, 5, 5))
    assert conv.in_channels == 6 and conv.weight.shape == (6, 2, 3, 3)
    norm = cr.nn.LazyInstanceNorm1d()
    norm(cr.ones(5, 8))  # unbatched: the channels are dim 0 (PyTorch reads dim 1 and fails)
    assert norm.num_features == 5 and norm.running_mean.shape == (5,)
    # no parameters to create: num_features is still read (PyTorch leaves it 0)
    bare = cr.nn.LazyBatchNorm1d(affine=False, track_running_stats=False)
    assert not bare.has_uninitialized_params()
    bare(cr.randn(4, 3))
    assert type(bare) is cr.nn.BatchNorm1d and bare.num_features == 3


def test_default_initialisation_is_the_plain_layers():
    fc = cr.nn.LazyLinear(50)
    fc(cr.ones(1, 16))
    bound = 1 / np.sqrt(16)
    for p in (fc.weight, fc.bias):
        assert np.all(np.abs(p.data) <= bound) and p.data.std() > bound / 4
    conv = cr.nn.LazyConv2d(8, 3)
    conv(cr.ones(1, 4, 5, 5))
    assert np.all(np.abs(conv.weight.data) <= 1 / np.sqrt(4 * 9)) and conv.weight.data.any()
    bn = cr.nn.LazyBatchNorm1d()
    bn.eval()
    bn(cr.ones(2, 3))
    for t, value in ((bn.weight, 1), (bn.bias, 0), (bn.running_mean, 0), (bn.running_var, 1)):
        np.testing.assert_array_equal(t.data, np.full(3, value, np.float32))
    assert bn.num_batches_tracked.item() == 0
    assert fc.weight.dtype == cr.float32
    fc64 = cr.nn.LazyLinear(2, dtype=cr.float64)
    fc64(cr.ones(1, 3, dtype=cr.float64))
    assert fc64.weight.dtype == cr.float64 and fc64.bias.dtype == cr.float64


def test_gradcheck_after_initialisation():
    fc = cr.nn.LazyLinear(2, dtype=cr.float64)
    x = cr.randn(3, 4, dtype=cr.float64, requires_grad=True)
    fc(x)
    assert cr.gradcheck(lambda x, w, b: cr.nn.functional.linear(x, w, b),
                        (x, fc.weight, fc.bias))


@pytest.mark.parametrize("name,args,kwargs,shape", [CASES[0], CASES[3], CASES[7], CASES[11],
                                                    CASES[13]], ids=lambda v: str(v))
def test_load_state_dict_from_torch_into_an_uninitialized_layer(name, args, kwargs, shape):
    m, _ = _pair(name, args, kwargs)
    plain_args = {"LazyLinear": (shape[-1],) + args}.get(name, (shape[1],) + args)
    plain_kwargs = dict(kwargs)
    if "Instance" in name:  # (the lazy ones default to True, the plain ones to False)
        plain_kwargs.update(affine=True, track_running_stats=True)
    t = getattr(torch.nn, name[len("Lazy"):])(*plain_args, **plain_kwargs)
    if "Norm" in name:  # something other than the defaults
        t.train()
        t(torch.randn(*shape))
    m.load_state_dict(t.state_dict())
    assert not m.has_uninitialized_params() and type(m).__name__ == name  # (as torch)
    for key, value in t.state_dict().items():
        close(m.state_dict()[key], value, 0, key)
    m.eval()
    t.eval()
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    close(m(cr.tensor(x)), t(torch.tensor(x)), 1e-5, "output")
    assert type(m).__name__ == name[len("Lazy"):]
    size = {"LazyLinear": "in_features"}.get(name, "num_features" if "Norm" in name
                                              else "in_channels")
    assert getattr(m, size) == plain_args[0]  # (read from the loaded weights)


def test_load_state_dict_problems():
    fc = cr.nn.LazyLinear(3)
    with pytest.raises(KeyError, match="Missing keys.*'bias'"):
        fc.load_state_dict({"weight": np.ones((3, 4), np.float32)})
    assert fc.has_uninitialized_params()  # a failed load changes nothing
    with pytest.raises(ValueError, match="Dtype mismatch"):
        fc.load_state_dict({"weight": np.ones((3, 4)), "bias": np.ones(3)})
    assert fc.has_uninitialized_params()
    fc.load_state_dict({"weight": np.ones((3, 4), np.float32)}, strict=False)
    with pytest.raises(RuntimeError, match=r"LazyLinear: load_state_dict gave \['weight'\] but "
                                           r"not \['bias'\]"):
        fc(cr.ones(2, 4))
    fc = cr.nn.LazyLinear(3)
    fc.load_state_dict({"weight": np.ones((3, 4), np.float32), "bias": np.ones(3, np.float32)})
    with pytest.raises(RuntimeError, match=r"the input gives in_features=7, so weight should "
                                           r"have shape \(3, 7\), but the state dict loaded "
                                           r"into it has shape \(3, 4\)"):
        fc(cr.ones(2, 7))
    assert type(fc) is cr.nn.LazyLinear
    # an initialized layer does not take an uninitialized one's state
    with pytest.raises(RuntimeError, match="the state dict's 'weight' is uninitialized"):
        cr.nn.Linear(4, 3).load_state_dict(cr.nn.LazyLinear(3).state_dict())


@pytest.mark.parametrize("source", ["chainrule", "torch"])
def test_an_uninitialized_state_dict_loads_into_a_lazy_layer(source):
    """As in PyTorch, a lazy layer's state dict saved before its first forward loads into
    another (its placeholders stay placeholders; the rest is loaded)."""
    saved = (cr.nn.LazyBatchNorm1d() if source == "chainrule"
             else torch.nn.LazyBatchNorm1d()).state_dict()
    saved["num_batches_tracked"] = saved["num_batches_tracked"] + 5
    bn = cr.nn.LazyBatchNorm1d()
    result = bn.load_state_dict(saved)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert bn.has_uninitialized_params() and int(bn.num_batches_tracked.item()) == 5
    bn(cr.ones(2, 3))
    assert type(bn) is cr.nn.BatchNorm1d and bn.running_mean.shape == (3,)


def test_an_uninitialized_buffer_assigned_to_a_module_is_registered():
    m = cr.nn.Module()
    m.stats = UninitializedBuffer(dtype=cr.float64)
    assert list(m.state_dict()) == ["stats"] and list(dict(m.named_buffers())) == ["stats"]
    m.to(cr.float32)
    m.stats.materialize((2,))
    assert m.stats.dtype == cr.float32 and m.state_dict()["stats"].shape == (2,)


def test_using_uninitialized_parameters_raises_a_clear_error():
    fc = cr.nn.LazyLinear(3)
    advice = "run the module once on a sample batch"
    with pytest.raises(RuntimeError, match="Can't access the shape of an uninitialized "
                                           "parameter or buffer.*" + advice):
        _ = fc.weight.shape
    for use in (lambda w: w + 1, lambda w: w * 2, lambda w: cr.exp(w), lambda w: w.detach(),
                lambda w: w.clone()):
        with pytest.raises(ValueError, match="Attempted to use an uninitialized parameter or "
                                             "buffer in .*" + advice):
            use(fc.weight)
    # (an operation that reads the shape first gets the shape error; both are RuntimeError
    # and ValueError at once, as PyTorch raises one or the other)
    for use in (lambda w: w.sum(), lambda w: cr.matmul(cr.ones(2, 2), w), lambda w: w[0],
                lambda w: cr.nn.functional.linear(cr.ones(2, 2), w)):
        for error in (ValueError, RuntimeError):
            with pytest.raises(error, match="uninitialized parameter or buffer.*" + advice):
                use(fc.weight)
    with pytest.raises(RuntimeError, match="Can't access the shape"):
        fc.weight.numel()
    with pytest.raises(RuntimeError, match="Can't access the shape"):
        fc.forward(cr.ones(2, 4))  # (forward called directly skips the initialisation)
    assert repr(fc.weight) == "<UninitializedParameter>" and fc.weight.dtype == cr.float32


def test_bad_first_inputs_leave_the_layer_lazy():
    cases = [
        (cr.nn.LazyLinear(3), cr.tensor(1.0), ValueError,
         "LazyLinear: cannot read in_features from a 0-d input"),
        (cr.nn.LazyConv2d(4, 3), cr.ones(5, 5), RuntimeError,
         r"Expected 3D \(unbatched\) or 4D \(batched\) input to LazyConv2d, but got input of "
         r"size: \(5, 5\)"),
        (cr.nn.LazyConv1d(4, 3, groups=2), cr.ones(1, 3, 5), ValueError,
         "LazyConv1d: in_channels must be divisible by groups; the input has 3 channels and "
         "groups=2"),
        (cr.nn.LazyBatchNorm2d(), cr.ones(2, 3, 5), ValueError,
         r"LazyBatchNorm2d: expected a 4-D input, got shape \(2, 3, 5\)"),
        (cr.nn.LazyInstanceNorm1d(), cr.ones(2, 3, 4, 5), ValueError,
         r"LazyInstanceNorm1d: expected a 2 or 3-D input, got shape \(2, 3, 4, 5\)"),
    ]
    for m, x, error, message in cases:
        with pytest.raises(error, match=message):
            m(x)
        assert m.has_uninitialized_params() and type(m).__name__.startswith("Lazy")
    with pytest.raises(ValueError, match=r"out_channels \(3\) must be divisible by groups"):
        cr.nn.LazyConv2d(3, 3, groups=2)


def test_optimizer_built_before_the_first_forward_trains_the_created_parameters():
    # PyTorch allows it (the parameter objects stay the same when they are created)
    model = cr.nn.Sequential(cr.nn.LazyLinear(8), cr.nn.ReLU(), cr.nn.LazyLinear(1))
    params = list(model.parameters())
    assert len(params) == 4 and all(isinstance(p, UninitializedParameter) for p in params)
    opt = cr.optim.Adam(model.parameters(), lr=0.01)
    x, y = cr.randn(16, 5), cr.randn(16, 1)
    losses = []
    for _ in range(20):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert [p is q for p, q in zip(model.parameters(), params)] == [True] * 4
    assert type(model[0]) is cr.nn.Linear and model[0].in_features == 5
    assert model[2].in_features == 8 and losses[-1] < losses[0]


def test_initialize_parameters_directly_keeps_the_class_until_forward():
    fc = cr.nn.LazyLinear(3)
    fc.initialize_parameters(cr.ones(2, 4))
    assert not fc.has_uninitialized_params() and type(fc) is cr.nn.LazyLinear
    assert fc.weight.shape == (3, 4) and type(fc.weight) is cr.nn.Parameter
    w = fc.weight.data.copy()
    fc(cr.ones(2, 4))
    assert type(fc) is cr.nn.Linear
    np.testing.assert_array_equal(fc.weight.data, w)  # (not drawn again)


def test_deepcopy_dtype_and_placeholders():
    fc = cr.nn.LazyLinear(3)
    twin = copy.deepcopy(fc)
    twin(cr.ones(1, 4))
    assert type(twin) is cr.nn.Linear and fc.has_uninitialized_params()
    fc.to(cr.float64)  # before the first forward: the parameters will be float64
    fc(cr.ones(1, 2, dtype=cr.float64))
    assert fc.weight.dtype == cr.float64 and fc.weight.shape == (3, 2)
    p = UninitializedParameter(requires_grad=False, dtype=cr.float64)
    assert not p.requires_grad and is_lazy(p) and not is_lazy(cr.ones(2))
    p.materialize(3)
    assert type(p) is cr.nn.Parameter and p.shape == (3,) and p.dtype == cr.float64
    b = UninitializedBuffer()
    assert repr(b) == "<UninitializedBuffer>" and not b.requires_grad
    b.materialize((2, 2), dtype=cr.float64)
    assert type(b) is cr.Tensor and b.shape == (2, 2) and b.dtype == cr.float64
