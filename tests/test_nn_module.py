"""nn.Module mechanics: registration, traversal, names, modes, dtype, hooks, state dicts,
containers, copying; Parameter; nn.init; nn.utils."""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.serialization import StateDictError


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.fc2 = nn.Linear(3, 2)
        self.scale = nn.Parameter(cr.ones(()))
        self.register_buffer("steps", cr.zeros((), dtype=cr.int64))
        self.register_buffer("cache", cr.zeros(2), persistent=False)
        self.note = "plain attribute"

    def forward(self, x: Any) -> Any:
        return self.fc2(cr.relu(self.bn(self.fc1(x)))) * self.scale


def values(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.numpy().copy() for k, v in model.state_dict().items()}


# --------------------------------------------------------------------------- Parameter

def test_parameter_is_a_leaf_tensor_that_requires_grad():
    t = cr.randn(2, 3)
    p = nn.Parameter(t)
    assert isinstance(p, cr.Tensor) and isinstance(p, nn.Parameter)
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert np.shares_memory(p.data, t.data)  # as torch: no copy
    assert not nn.Parameter(t, requires_grad=False).requires_grad
    assert repr(nn.Parameter(cr.zeros(2))) == ("Parameter containing:\n"
                                               "tensor([0., 0.], requires_grad=True)")
    # a parameter made from a non-leaf is a new leaf
    x = cr.randn(3, requires_grad=True)
    q = nn.Parameter(x * 2)
    assert q.is_leaf and q.grad_fn is None
    (q * q).sum().backward()
    assert x.grad is None and q.grad is not None
    with pytest.raises(TypeError, match="floating"):
        nn.Parameter(cr.tensor([1, 2]))
    assert nn.Parameter().shape == (0,)


def test_operations_on_parameters_give_plain_tensors():
    p = nn.Parameter(cr.ones(3))
    y = p * 2
    assert type(y) is cr.Tensor and y.grad_fn is not None


# --------------------------------------------------------------------------- registration

def test_registration_and_traversal_order():
    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "scale", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias", "fc2.weight", "fc2.bias"]
    assert [n for n, _ in net.named_buffers()] == [
        "steps", "cache", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert [n for n, _ in net.named_children()] == ["fc1", "bn", "fc2"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "bn", "fc2"]
    assert len(list(net.parameters())) == 7
    assert len(list(net.parameters(recurse=False))) == 1
    assert net.note == "plain attribute" and "note" not in net._parameters
    assert "fc1" in dir(net) and "scale" in dir(net)
    assert net.get_submodule("bn") is net.bn
    assert net.get_parameter("fc1.bias") is net.fc1.bias
    with pytest.raises(AttributeError):
        net.get_submodule("nope")
    with pytest.raises(AttributeError, match="no attribute 'missing'"):
        _ = net.missing


def test_parameter_names_are_their_paths():
    net = Net()
    assert net.fc1.weight.name == "fc1.weight"
    assert net.bn.bias.name == "bn.bias"
    assert net.scale.name == "scale"
    outer = nn.Sequential(OrderedDict(body=net))
    assert outer.body is net
    assert net.fc1.weight.name == "body.fc1.weight"
    list(net.named_parameters())  # walking from a root names relative to it
    assert net.fc1.weight.name == "fc1.weight"


def test_module_calls_are_recorded_under_their_names():
    net = nn.Sequential(OrderedDict(fc1=nn.Linear(2, 2), act=nn.ReLU()))
    out = net(cr.randn(1, 2, requires_grad=True))
    assert out.grad_fn is not None and out.grad_fn.scope == ("act",)
    assert out.grad_fn.next_functions[0][0].scope == ("fc1",)


def test_setattr_rules():
    net = Net()
    with pytest.raises(TypeError, match="Parameter or None"):
        net.scale = cr.ones(())  # a plain tensor cannot replace a parameter
    net.scale = None
    assert net.scale is None and "scale" not in dict(net.named_parameters())
    net.fc2 = nn.Linear(3, 5)  # replace a module
    assert net.fc2.out_features == 5
    with pytest.raises(TypeError, match="Module or None"):
        net.fc2 = "not a module"
    net.steps = cr.ones((), dtype=cr.int64)  # buffers can be reassigned to tensors
    assert net.steps.item() == 1
    net.extra = nn.Buffer(cr.zeros(3))
    assert "extra" in dict(net.named_buffers())
    del net.extra
    assert "extra" not in dict(net.named_buffers())
    with pytest.raises(KeyError, match="already exists"):
        net.register_buffer("note", cr.zeros(1))
    with pytest.raises(KeyError, match='"."'):
        net.register_parameter("a.b", nn.Parameter(cr.zeros(1)))
    with pytest.raises(TypeError, match="Parameter or None"):
        net.register_parameter("w", nn.Parameter(cr.zeros(1)) * 2)  # type: ignore[arg-type]

    class Forgot(nn.Module):
        def __init__(self) -> None:
            self.w = nn.Parameter(cr.zeros(1))

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Forgot()


def test_shared_parameters_are_listed_once():
    a = nn.Linear(2, 2)
    net = nn.Sequential(a, nn.ReLU(), a)
    assert len(list(net.parameters())) == 2
    assert list(net.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]


def test_forward_missing_raises():
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(cr.zeros(1))


# --------------------------------------------------------------------------- modes, grads, dtype

def test_train_eval_zero_grad_requires_grad():
    net = Net()
    assert net.training and net.bn.training
    assert net.eval() is net
    assert not net.training and not net.bn.training
    net.train()
    assert net.bn.training
    net(cr.randn(5, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen: list[str] = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "BatchNorm1d", "Linear", "Net"]


def test_to_dtype_keeps_parameter_identity():
    net = Net()
    w = net.fc1.weight
    net(cr.randn(3, 4)).sum().backward()
    assert net.double() is net
    assert net.fc1.weight is w and w.dtype == np.float64 and w.grad.dtype == np.float64
    assert net.bn.running_mean.dtype == np.float64
    assert net.steps.dtype == np.int64 and net.bn.num_batches_tracked.dtype == np.int64
    assert net(cr.randn(3, 4, dtype=cr.float64)).dtype == np.float64
    net.float()
    assert w.dtype == np.float32
    net.to("cpu")
    net.to(cr.float16)
    assert w.dtype == np.float16
    net.to(device="cpu", dtype=cr.float64)
    assert w.dtype == np.float64
    with pytest.raises(RuntimeError, match="CPU"):
        net.to("cuda")
    with pytest.raises(TypeError, match="floating"):
        net.to(cr.int64)
    lin = nn.Linear(2, 3, dtype=cr.float64)
    assert lin.weight.dtype == np.float64


# --------------------------------------------------------------------------- hooks

def test_forward_hooks():
    lin = nn.Linear(2, 2)
    calls: list[str] = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append("post") or out + 1)
    out = lin(cr.ones(1, 2))
    np.testing.assert_allclose(out.numpy(), lin.bias.numpy()[None] + 1, rtol=1e-6)
    assert calls == ["post"]
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(lin(cr.ones(1, 2)).numpy(),
                               lin.weight.numpy().sum(1)[None] + lin.bias.numpy(), rtol=1e-6)
    with lin.register_forward_hook(lambda m, a, o: o * 0):
        assert not lin(cr.ones(1, 2)).numpy().any()
    assert lin(cr.ones(1, 2)).numpy().any()


# --------------------------------------------------------------------------- state dict

def test_state_dict_content():
    net = Net()
    sd = net.state_dict()
    assert list(sd) == ["scale", "steps", "fc1.weight", "fc1.bias", "bn.weight", "bn.bias",
                        "bn.running_mean", "bn.running_var", "bn.num_batches_tracked",
                        "fc2.weight", "fc2.bias"]  # the non-persistent "cache" is left out
    assert not sd["fc1.weight"].requires_grad  # detached...
    assert np.shares_memory(sd["fc1.weight"].data, net.fc1.weight.data)  # ...but shared
    assert net.state_dict(keep_vars=True)["fc1.weight"] is net.fc1.weight
    assert list(net.fc1.state_dict(prefix="x.")) == ["x.weight", "x.bias"]
    assert sd["bn.num_batches_tracked"].dtype == np.int64 and sd["bn.num_batches_tracked"].shape == ()


def test_load_state_dict_round_trip_and_return_value():
    a, b = Net(), Net()
    b.fc1.weight.data[...] = 7.0
    result = a.load_state_dict(b.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"
    for k, v in values(b).items():
        np.testing.assert_array_equal(a.state_dict()[k].numpy(), v)
    assert not np.shares_memory(a.fc1.weight.data, b.fc1.weight.data)  # copied in
    # numpy arrays are accepted too
    a.load_state_dict({k: v.numpy() * 0 + 1 if v.dtype.kind == "f" else v.numpy()
                       for k, v in b.state_dict().items()})
    assert np.all(a.fc1.weight.numpy() == 1)


def test_load_state_dict_bumps_versions():
    lin = nn.Linear(2, 2)
    x = cr.randn(1, 2, requires_grad=True)
    y = (lin(x) * lin.weight.sum()).sum()
    lin.load_state_dict(nn.Linear(2, 2).state_dict())
    with pytest.raises(cr.ChainruleError, match="modified by an in-place"):
        y.backward()


@pytest.mark.parametrize("case", ["missing", "unexpected", "shape", "dtype", "several"])
def test_failed_load_leaves_the_model_untouched(case):
    net = Net()
    before = values(net)
    sd = {k: v.clone() + (1 if v.dtype.kind == "f" else 0) for k, v in Net().state_dict().items()}
    if case == "missing":
        del sd["bn.running_var"]
    elif case == "unexpected":
        sd["fc3.weight"] = cr.zeros(2)
    elif case == "shape":
        sd["fc2.weight"] = cr.zeros(3, 3)
    elif case == "dtype":
        sd["fc1.bias"] = sd["fc1.bias"].double()
    else:
        del sd["scale"]
        sd["bn.num_batches_tracked"] = cr.zeros(())
        sd["extra"] = cr.zeros(1)
    with pytest.raises(StateDictError) as info:
        net.load_state_dict(sd)
    err = info.value
    if case == "missing":
        assert err.missing == ["bn.running_var"]
    if case == "unexpected":
        assert err.unexpected == ["fc3.weight"]
    if case == "shape":
        assert "fc2.weight" in str(err) and "(3, 3)" in str(err)
    if case == "dtype":
        assert "fc1.bias" in str(err) and "float64" in str(err)
    if case == "several":
        assert err.missing == ["scale"] and err.unexpected == ["extra"]
        assert "num_batches_tracked" in str(err)
    for k, v in values(net).items():
        np.testing.assert_array_equal(v, before[k], err_msg=k)


def test_non_strict_load_reports_and_loads_the_rest():
    net = Net()
    sd = Net().state_dict()
    del sd["fc2.bias"]
    sd["unused"] = cr.zeros(1)
    result = net.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["fc2.bias"] and result.unexpected_keys == ["unused"]
    np.testing.assert_array_equal(net.fc1.weight.numpy(), sd["fc1.weight"].numpy())
    # shape mismatches are errors even when not strict
    sd["fc1.weight"] = cr.zeros(1)
    with pytest.raises(StateDictError):
        net.load_state_dict(sd, strict=False)


def test_load_with_assign_replaces_the_arrays_but_keeps_the_parameters():
    lin = nn.Linear(2, 2)
    w = lin.weight
    source = {"weight": np.ones((2, 2), dtype=np.float32), "bias": np.zeros(2, dtype=np.float32)}
    lin.load_state_dict(source, assign=True)
    assert lin.weight is w and np.all(w.numpy() == 1)
    assert not np.shares_memory(w.data, source["weight"])
    with pytest.raises(RuntimeError, match="CPU"):
        lin.cuda()


def test_checkpoint_round_trip(tmp_path):
    pytest.importorskip("safetensors")
    net = Net()
    net(cr.randn(4, 4))  # move the running statistics
    cr.save(net.state_dict(), tmp_path / "net.safetensors")
    other = Net()
    other.load_state_dict(cr.load(tmp_path / "net.safetensors"))
    for k, v in values(net).items():
        np.testing.assert_array_equal(other.state_dict()[k].numpy(), v)


# --------------------------------------------------------------------------- copying, repr

def test_deepcopy_is_independent():
    net = Net()
    net(cr.randn(3, 4)).sum().backward()
    twin = copy.deepcopy(net)
    assert twin.fc1.weight is not net.fc1.weight
    assert isinstance(twin.fc1.weight, nn.Parameter)
    np.testing.assert_array_equal(twin.fc1.weight.numpy(), net.fc1.weight.numpy())
    twin.fc1.weight.data[...] = 0
    assert net.fc1.weight.numpy().any()
    assert twin.bn.running_var is not net.bn.running_var
    x = cr.randn(2, 4)
    net.eval()
    twin.eval()
    assert twin(x).shape == net(x).shape


def test_repr():
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Dropout(0.1)))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Dropout(p=0.1, inplace=False)\n"
        "  )\n"
        ")")
    assert repr(nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh()])) == (
        "ModuleList(\n  (0-1): 2 x ReLU()\n  (2): Tanh()\n)")


# --------------------------------------------------------------------------- containers

def test_sequential():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and seq[0] is layers[0] and seq[-1] is layers[2]
    assert list(seq) == layers
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is layers[1]
    assert head(cr.randn(4, 2)).shape == (4, 3)
    assert seq(cr.randn(4, 2)).shape == (4, 1)
    seq.append(nn.Sigmoid())
    assert len(seq) == 4 and list(seq.state_dict())[-1] == "2.bias"
    seq.insert(0, nn.Identity())
    assert isinstance(seq[0], nn.Identity) and list(seq.state_dict())[0] == "1.weight"
    del seq[0]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    seq[1] = nn.Tanh()
    assert isinstance(seq[1], nn.Tanh)
    with pytest.raises(IndexError):
        seq[10]
    named = nn.Sequential(OrderedDict([("enc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert list(named.state_dict()) == ["enc.weight", "enc.bias"] and named.enc is named[0]
    assert named[:1]._modules.keys() == {"enc"}


def test_module_list_and_dict():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(ml) == 3 and isinstance(ml[-1], nn.Linear)
    ml.append(nn.ReLU())
    ml.extend([nn.Tanh()])
    ml += [nn.Sigmoid()]
    assert len(ml) == 6 and isinstance(ml[5], nn.Sigmoid)
    assert isinstance(ml[1:3], nn.ModuleList) and len(ml[1:3]) == 2
    assert len(list(ml.parameters())) == 6
    assert list(ml.state_dict())[:2] == ["0.weight", "0.bias"]
    ml.insert(0, nn.Identity())
    assert isinstance(ml[0], nn.Identity) and "1.weight" in ml.state_dict()
    md = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.ReLU()})
    assert list(md) == ["a", "b"] and "a" in md and len(md) == 2
    md["c"] = nn.Tanh()
    assert list(md.keys()) == ["a", "b", "c"]
    assert md.pop("b").__class__ is nn.ReLU and "b" not in md
    assert list(md.state_dict()) == ["a.weight", "a.bias"]
    assert [k for k, _ in md.items()] == ["a", "c"]


def test_parameter_list_and_dict():
    pl = nn.ParameterList([cr.zeros(2), nn.Parameter(cr.ones(3))])
    assert len(pl) == 2 and isinstance(pl[0], nn.Parameter) and pl[0].requires_grad
    pd = nn.ParameterDict({"w": cr.zeros(2)})
    pd["b"] = cr.ones(1)
    assert list(pd) == ["w", "b"] and isinstance(pd["b"], nn.Parameter)

    class M(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ps = pl
            self.pd = pd

    assert list(M().state_dict()) == ["ps.0", "ps.1", "pd.w", "pd.b"]


# --------------------------------------------------------------------------- init

def test_init_statistics_and_reproducibility():
    cr.manual_seed(0)
    w = cr.empty(300, 200)
    nn.init.kaiming_uniform_(w, a=math.sqrt(5))
    bound = 1 / math.sqrt(200)
    assert np.abs(w.numpy()).max() <= bound and np.abs(w.numpy()).max() > 0.95 * bound
    nn.init.kaiming_normal_(w, mode="fan_out", nonlinearity="relu")
    assert abs(w.numpy().std() - math.sqrt(2 / 300)) < 0.01 * math.sqrt(2 / 300) * 5
    nn.init.xavier_uniform_(w, gain=2.0)
    assert np.abs(w.numpy()).max() <= 2 * math.sqrt(6 / 500)
    nn.init.xavier_normal_(w)
    assert abs(w.numpy().std() - math.sqrt(2 / 500)) < 0.05 * math.sqrt(2 / 500)
    nn.init.trunc_normal_(w, std=1.0, a=-0.5, b=0.5)
    assert np.abs(w.numpy()).max() <= 0.5
    q = cr.empty(5, 8)
    nn.init.orthogonal_(q, gain=2.0)
    np.testing.assert_allclose(q.numpy() @ q.numpy().T, 4 * np.eye(5), atol=1e-5)
    q3 = cr.empty(6, 2, 2, dtype=cr.float64)
    nn.init.orthogonal_(q3)
    flat = q3.numpy().reshape(6, 4)
    np.testing.assert_allclose(flat.T @ flat, np.eye(4), atol=1e-12)
    for fn, val in [(nn.init.zeros_, 0), (nn.init.ones_, 1), (lambda t: nn.init.constant_(t, 3), 3)]:
        assert np.all(fn(q).numpy() == val)
    assert np.all(nn.init.eye_(cr.empty(3, 3)).numpy() == np.eye(3))
    cr.manual_seed(5)
    a = nn.Linear(4, 3)
    cr.manual_seed(5)
    b = nn.Linear(4, 3)
    np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
    # in place on parameters, recording nothing
    p = nn.Parameter(cr.zeros(3, 3))
    out = nn.init.normal_(p)
    assert out is p and p.is_leaf and p.numpy().any()


def test_init_on_a_parameter_bumps_its_version():
    p = nn.Parameter(cr.ones(2, 2))
    y = (p * p).sum()
    nn.init.zeros_(p)
    with pytest.raises(cr.ChainruleError):
        y.backward()


def test_init_gain_and_fans_match_torch():
    torch = pytest.importorskip("torch")
    for nl, param in [("linear", None), ("relu", None), ("tanh", None), ("leaky_relu", None),
                      ("leaky_relu", 0.2), ("selu", None), ("sigmoid", None), ("conv2d", None)]:
        assert nn.init.calculate_gain(nl, param) == pytest.approx(
            torch.nn.init.calculate_gain(nl, param))
    for shape in [(3, 4), (5, 3, 2, 2), (2, 6, 7)]:
        assert nn.init._calculate_fan_in_and_fan_out(cr.empty(*shape)) == \
            torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(*shape))
    with pytest.raises(ValueError):
        nn.init.calculate_gain("bogus")
    with pytest.raises(ValueError):
        nn.init.xavier_uniform_(cr.empty(3))


# --------------------------------------------------------------------------- utils

def _grads(*arrays: np.ndarray) -> list[nn.Parameter]:
    ps = []
    for a in arrays:
        p = nn.Parameter(cr.zeros(*a.shape, dtype=a.dtype))
        p.grad = cr.tensor(a)
        ps.append(p)
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf"), 3.0])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type, max_norm):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=(3, 4)), rng.normal(size=(5,))]
    ps = _grads(*arrays)
    tps = [torch.zeros(*a.shape, dtype=torch.float64, requires_grad=True) for a in arrays]
    for t, a in zip(tps, arrays):
        t.grad = torch.tensor(a)
    total = nn.utils.clip_grad_norm_(ps, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tps, max_norm, norm_type)
    assert isinstance(total, cr.Tensor) and total.shape == ()
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
    for p, t in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_nonfinite():
    ps = _grads(np.array([1.0, np.nan]), np.array([2.0]))
    total = nn.utils.clip_grad_norm_(ps, 1.0)
    assert np.isnan(total.item()) and np.isnan(ps[1].grad.numpy()).all()  # as torch
    ps = _grads(np.array([1.0, np.inf]))
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(ps[0].grad.numpy(), [1.0, np.inf])  # untouched
    assert nn.utils.clip_grad_norm_([nn.Parameter(cr.zeros(2))], 1.0).item() == 0.0
    single = _grads(np.array([3.0, 4.0]))[0]
    assert nn.utils.clip_grad_norm_(single, 1.0).item() == 5.0
    np.testing.assert_allclose(single.grad.numpy(), [0.6, 0.8], rtol=1e-5)


def test_clip_grad_value_and_vectors():
    ps = _grads(np.array([-3.0, 0.5, 2.0]), np.array([[0.1, -0.2]]))
    nn.utils.clip_grad_value_(ps, 1.0)
    np.testing.assert_array_equal(ps[0].grad.numpy(), [-1.0, 0.5, 1.0])
    lin = nn.Linear(3, 2)
    vec = nn.utils.parameters_to_vector(lin.parameters())
    assert vec.shape == (8,)
    np.testing.assert_array_equal(vec.numpy()[:6], lin.weight.numpy().reshape(-1))
    vec.sum().backward()  # differentiable, as in torch
    assert lin.weight.grad is not None
    nn.utils.vector_to_parameters(cr.arange(8).float(), lin.parameters())
    np.testing.assert_array_equal(lin.bias.numpy(), [6.0, 7.0])
    with pytest.raises(ValueError, match="8"):
        nn.utils.vector_to_parameters(cr.zeros(3), lin.parameters())


def test_gradient_monitor_is_lazy():
    try:
        import chainrule.diagnostics as diagnostics
    except ImportError:
        with pytest.raises(ImportError):
            nn.utils.GradientMonitor  # noqa: B018
        return
    assert nn.utils.GradientMonitor is diagnostics.GradientMonitor
    with pytest.raises(AttributeError):
        nn.utils.NoSuchThing  # noqa: B018
