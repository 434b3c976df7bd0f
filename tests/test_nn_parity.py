"""cr.nn against torch.nn: same weights (moved through state dicts), same inputs, so the same
outputs, input gradients, parameter gradients, buffers and state-dict keys; and a small MLP
trained for 50 SGD steps ends at torch's loss."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, TORCH_DTYPE, close

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")

tnn = torch.nn




def run_parity(make_cr: Callable[[], nn.Module], make_torch: Callable[[], Any],
               inputs: list[np.ndarray], dtype: Any = np.float64, train: bool = True,
               steps: int = 1, seed: int = 0, rtol: float | None = None
               ) -> tuple[nn.Module, Any]:
    """Copy torch's weights into the chainrule module, then compare ``steps`` forward and
    backward passes: outputs, input gradients, parameter gradients, and the state dict."""
    rtol = TOL[dtype] if rtol is None else rtol
    tm = make_torch().to(TORCH_DTYPE[dtype])
    cm = make_cr().to(dtype)
    missing, unexpected = cm.load_state_dict(tm.state_dict())  # torch tensors accepted
    assert not missing and not unexpected
    tm.train(train)
    cm.train(train)
    assert list(cm.state_dict()) == list(tm.state_dict())
    rng = np.random.default_rng(seed)
    for step in range(steps):
        xs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs]
        if step:
            xs = [x + rng.normal(0, 0.1, x.shape).astype(dtype) if x.dtype.kind == "f" else x
                  for x in xs]
        tx = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in xs]
        cx = [cr.tensor(x, requires_grad=x.dtype.kind == "f") for x in xs]
        tout, cout = tm(*tx), cm(*cx)
        close(cout, tout, rtol, f"{type(cm).__name__} output (step {step})")
        g = rng.normal(size=tuple(tout.shape)).astype(dtype)
        tout.backward(torch.tensor(g))
        cout.backward(cr.tensor(g))
        for k, (t, c) in enumerate(zip(tx, cx)):
            if t.grad is not None:
                close(c.grad, t.grad, rtol, f"{type(cm).__name__} input {k} gradient")
        for name, tp in tm.named_parameters():
            cp = cm.get_parameter(name)
            assert cp.grad is not None, f"{name}: no gradient"
            close(cp.grad, tp.grad, rtol, f"{type(cm).__name__}.{name} gradient")
            tp.grad = None
            cp.grad = None
    for key, tv in tm.state_dict().items():
        close(cm.state_dict()[key], tv, rtol, f"state_dict[{key!r}]")
    return cm, tm


RNG = np.random.default_rng(1234)


def x_(*shape: int, scale: float = 1.0) -> np.ndarray:
    return RNG.normal(0, scale, shape)


# --------------------------------------------------------------------------- layers

LAYERS: list[tuple[str, Callable, Callable, Callable[[], list[np.ndarray]]]] = [
    ("Linear", lambda: nn.Linear(5, 3), lambda: tnn.Linear(5, 3), lambda: [x_(4, 5)]),
    ("Linear-3d-nobias", lambda: nn.Linear(5, 3, bias=False),
     lambda: tnn.Linear(5, 3, bias=False), lambda: [x_(2, 4, 5)]),
    ("Linear-1d", lambda: nn.Linear(5, 3), lambda: tnn.Linear(5, 3), lambda: [x_(5)]),
    ("Bilinear", lambda: nn.Bilinear(3, 4, 2), lambda: tnn.Bilinear(3, 4, 2),
     lambda: [x_(5, 3), x_(5, 4)]),
    ("Identity", lambda: nn.Identity(), lambda: tnn.Identity(), lambda: [x_(3, 4)]),
    ("Flatten", lambda: nn.Flatten(), lambda: tnn.Flatten(), lambda: [x_(2, 3, 4)]),
    ("Flatten-0", lambda: nn.Flatten(0, 1), lambda: tnn.Flatten(0, 1), lambda: [x_(2, 3, 4)]),
    ("Unflatten", lambda: nn.Unflatten(1, (2, 3)), lambda: tnn.Unflatten(1, (2, 3)),
     lambda: [x_(4, 6)]),
    ("Sigmoid", nn.Sigmoid, tnn.Sigmoid, lambda: [x_(3, 4, scale=3)]),
    ("Tanh", nn.Tanh, tnn.Tanh, lambda: [x_(3, 4, scale=2)]),
    ("ReLU", nn.ReLU, tnn.ReLU, lambda: [x_(3, 4)]),
    ("ReLU6", nn.ReLU6, tnn.ReLU6, lambda: [x_(3, 4, scale=5)]),
    ("LeakyReLU", lambda: nn.LeakyReLU(0.2), lambda: tnn.LeakyReLU(0.2), lambda: [x_(3, 4)]),
    ("ELU", lambda: nn.ELU(0.7), lambda: tnn.ELU(0.7), lambda: [x_(3, 4)]),
    ("SELU", nn.SELU, tnn.SELU, lambda: [x_(3, 4)]),
    ("CELU", lambda: nn.CELU(1.5), lambda: tnn.CELU(1.5), lambda: [x_(3, 4)]),
    ("GELU", nn.GELU, tnn.GELU, lambda: [x_(3, 4, scale=2)]),
    ("GELU-tanh", lambda: nn.GELU("tanh"), lambda: tnn.GELU("tanh"), lambda: [x_(3, 4)]),
    ("SiLU", nn.SiLU, tnn.SiLU, lambda: [x_(3, 4, scale=3)]),
    ("Mish", nn.Mish, tnn.Mish, lambda: [x_(3, 4, scale=3)]),
    ("Softplus", lambda: nn.Softplus(2.0, 5.0), lambda: tnn.Softplus(2.0, 5.0),
     lambda: [x_(3, 4, scale=4)]),
    ("Softsign", nn.Softsign, tnn.Softsign, lambda: [x_(3, 4)]),
    ("Hardtanh", lambda: nn.Hardtanh(-0.5, 0.8), lambda: tnn.Hardtanh(-0.5, 0.8),
     lambda: [x_(3, 4)]),
    ("LogSigmoid", nn.LogSigmoid, tnn.LogSigmoid, lambda: [x_(3, 4, scale=10)]),
    ("Softmax", lambda: nn.Softmax(1), lambda: tnn.Softmax(1), lambda: [x_(3, 4, 2)]),
    ("LogSoftmax", lambda: nn.LogSoftmax(-1), lambda: tnn.LogSoftmax(-1),
     lambda: [x_(3, 4, scale=5)]),
    ("Softmin", lambda: nn.Softmin(0), lambda: tnn.Softmin(0), lambda: [x_(3, 4)]),
    ("Hardsigmoid", nn.Hardsigmoid, tnn.Hardsigmoid, lambda: [x_(3, 4, scale=3)]),
    ("Hardswish", nn.Hardswish, tnn.Hardswish, lambda: [x_(3, 4, scale=3)]),
    ("GLU", lambda: nn.GLU(1), lambda: tnn.GLU(1), lambda: [x_(3, 4)]),
    ("PReLU", nn.PReLU, tnn.PReLU, lambda: [x_(3, 4)]),
    ("PReLU-channels", lambda: nn.PReLU(4), lambda: tnn.PReLU(4), lambda: [x_(3, 4, 2)]),
    ("Threshold", lambda: nn.Threshold(0.1, -2.0), lambda: tnn.Threshold(0.1, -2.0),
     lambda: [x_(3, 4)]),
    ("Tanhshrink", nn.Tanhshrink, tnn.Tanhshrink, lambda: [x_(3, 4)]),
    ("Softshrink", nn.Softshrink, tnn.Softshrink, lambda: [x_(3, 4)]),
    ("Hardshrink", nn.Hardshrink, tnn.Hardshrink, lambda: [x_(3, 4)]),
    ("LayerNorm", lambda: nn.LayerNorm(4), lambda: tnn.LayerNorm(4), lambda: [x_(3, 4)]),
    ("LayerNorm-2d", lambda: nn.LayerNorm((3, 4), eps=1e-3),
     lambda: tnn.LayerNorm((3, 4), eps=1e-3), lambda: [x_(2, 3, 4)]),
    ("LayerNorm-noaffine", lambda: nn.LayerNorm(4, elementwise_affine=False),
     lambda: tnn.LayerNorm(4, elementwise_affine=False), lambda: [x_(3, 4)]),
    ("GroupNorm", lambda: nn.GroupNorm(2, 4), lambda: tnn.GroupNorm(2, 4),
     lambda: [x_(3, 4, 5)]),
    ("GroupNorm-2d", lambda: nn.GroupNorm(3, 6, eps=1e-3), lambda: tnn.GroupNorm(3, 6, eps=1e-3),
     lambda: [x_(2, 6, 3, 2)]),
    ("InstanceNorm1d", lambda: nn.InstanceNorm1d(3, affine=True),
     lambda: tnn.InstanceNorm1d(3, affine=True), lambda: [x_(2, 3, 5)]),
    ("InstanceNorm2d", lambda: nn.InstanceNorm2d(3, track_running_stats=True),
     lambda: tnn.InstanceNorm2d(3, track_running_stats=True), lambda: [x_(2, 3, 4, 4)]),
    ("RMSNorm", lambda: nn.RMSNorm(4), lambda: tnn.RMSNorm(4), lambda: [x_(3, 4)]),
    ("RMSNorm-eps", lambda: nn.RMSNorm((2, 4), eps=1e-3), lambda: tnn.RMSNorm((2, 4), eps=1e-3),
     lambda: [x_(3, 2, 4)]),
    ("Embedding", lambda: nn.Embedding(6, 3), lambda: tnn.Embedding(6, 3),
     lambda: [np.array([[1, 2, 1], [5, 0, 1]])]),
    ("Embedding-padding", lambda: nn.Embedding(6, 3, padding_idx=1),
     lambda: tnn.Embedding(6, 3, padding_idx=1), lambda: [np.array([[1, 2, 1], [5, 0, 1]])]),
    ("Dropout-eval", lambda: nn.Sequential(nn.Linear(4, 4), nn.Dropout(0.3)),
     lambda: tnn.Sequential(tnn.Linear(4, 4), tnn.Dropout(0.3)), lambda: [x_(3, 4)]),
]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("name,make_cr,make_torch,inputs", LAYERS, ids=[c[0] for c in LAYERS])
def test_layer_matches_torch(name, make_cr, make_torch, inputs, dtype):
    train = not name.endswith("-eval")
    # torch's hardsigmoid backward multiplies by the float32 constant 1.0f/6 even in float64
    rtol = 1e-7 if name == "Hardsigmoid" else None
    run_parity(make_cr, make_torch, inputs(), dtype, train=train, rtol=rtol)


BATCHNORMS = [
    ("BatchNorm1d-2d", lambda **k: nn.BatchNorm1d(4, **k), lambda **k: tnn.BatchNorm1d(4, **k),
     (8, 4)),
    ("BatchNorm1d-3d", lambda **k: nn.BatchNorm1d(4, **k), lambda **k: tnn.BatchNorm1d(4, **k),
     (5, 4, 3)),
    ("BatchNorm2d", lambda **k: nn.BatchNorm2d(3, **k), lambda **k: tnn.BatchNorm2d(3, **k),
     (4, 3, 5, 2)),
    ("BatchNorm3d", lambda **k: nn.BatchNorm3d(2, **k), lambda **k: tnn.BatchNorm3d(2, **k),
     (3, 2, 2, 3, 2)),
]
BN_OPTIONS = [{}, {"momentum": None}, {"momentum": 0.3, "eps": 1e-3}, {"affine": False},
              {"track_running_stats": False}]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("options", BN_OPTIONS, ids=lambda o: ",".join(o) or "default")
@pytest.mark.parametrize("name,make_cr,make_torch,shape", BATCHNORMS,
                         ids=[c[0] for c in BATCHNORMS])
def test_batchnorm_train_steps_then_eval(name, make_cr, make_torch, shape, options, dtype):
    """Several training steps (running stats compared after each run), then evaluation."""
    inputs = [RNG.normal(1.5, 2.0, shape)]
    cm, tm = run_parity(lambda: make_cr(**options), lambda: make_torch(**options), inputs,
                        dtype, train=True, steps=4)
    if options.get("track_running_stats", True):
        assert int(cm.num_batches_tracked.item()) == 4
    cm.eval()
    tm.eval()
    x = RNG.normal(1.0, 2.0, shape).astype(dtype)
    close(cm(cr.tensor(x)), tm(torch.tensor(x)), TOL[dtype], "eval output")
    # eval gradients too (they go through the running statistics)
    cx, tx = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    cm(cx).sum().backward()
    tm(tx).sum().backward()
    close(cx.grad, tx.grad, TOL[dtype], "eval input gradient")


# --------------------------------------------------------------------------- architectures

def mlp_pair(seed: int = 0) -> tuple[nn.Module, Any]:
    torch.manual_seed(seed)
    tm = tnn.Sequential(tnn.Linear(6, 8), tnn.BatchNorm1d(8), tnn.ReLU(), tnn.Linear(8, 3))
    cm = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    return cm, tm


def test_state_dict_keys_equal_torch():
    cm, tm = mlp_pair()
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert list(cm.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked", "3.weight", "3.bias"]
    for key, tv in tm.state_dict().items():
        assert cm.state_dict()[key].shape == tuple(tv.shape), key
        assert str(cm.state_dict()[key].dtype) == str(tv.dtype).removeprefix("torch."), key
    assert [n for n, _ in cm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert [n for n, _ in cm.named_buffers()] == [n for n, _ in tm.named_buffers()]
    assert [n for n, _ in cm.named_modules()] == [n for n, _ in tm.named_modules()]


class CrNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4, padding_idx=0)
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
        self.heads = nn.ModuleDict({"a": nn.Linear(4, 2), "b": nn.Linear(4, 1)})
        self.norm = nn.LayerNorm(4)
        self.bn = nn.BatchNorm1d(4)

    def forward(self, idx: Any) -> Any:
        h = self.embed(idx).mean(dim=1)
        for b in self.blocks:
            h = cr.relu(b(h)) + h
        h = self.bn(self.norm(h))
        return cr.cat([self.heads["a"](h), self.heads["b"](h)], dim=-1)


class TorchNet(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = tnn.Embedding(10, 4, padding_idx=0)
        self.blocks = tnn.ModuleList([tnn.Linear(4, 4) for _ in range(2)])
        self.heads = tnn.ModuleDict({"a": tnn.Linear(4, 2), "b": tnn.Linear(4, 1)})
        self.norm = tnn.LayerNorm(4)
        self.bn = tnn.BatchNorm1d(4)

    def forward(self, idx: Any) -> Any:
        h = self.embed(idx).mean(dim=1)
        for b in self.blocks:
            h = torch.relu(b(h)) + h
        h = self.bn(self.norm(h))
        return torch.cat([self.heads["a"](h), self.heads["b"](h)], dim=-1)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["f64", "f32"])
def test_nested_model_matches_torch(dtype):
    idx = np.array([[1, 2, 0, 3], [4, 4, 9, 0], [0, 0, 5, 6]])
    cm, tm = run_parity(CrNet, TorchNet, [idx], dtype, train=True, steps=2)
    assert repr(cm) == repr(tm).replace("TorchNet", "CrNet")


def test_repr_matches_torch():
    cm, tm = mlp_pair()
    assert repr(cm) == repr(tm)
    pairs = [(nn.Dropout(0.2), tnn.Dropout(0.2)), (nn.LeakyReLU(0.1), tnn.LeakyReLU(0.1)),
             (nn.GELU("tanh"), tnn.GELU("tanh")), (nn.Softmax(dim=1), tnn.Softmax(dim=1)),
             (nn.Embedding(5, 2, padding_idx=0), tnn.Embedding(5, 2, padding_idx=0)),
             (nn.LayerNorm((2, 3)), tnn.LayerNorm((2, 3))), (nn.GroupNorm(2, 4), tnn.GroupNorm(2, 4)),
             (nn.Flatten(), tnn.Flatten()), (nn.ReLU(inplace=True), tnn.ReLU(inplace=True)),
             (nn.CrossEntropyLoss(), tnn.CrossEntropyLoss()), (nn.Hardtanh(), tnn.Hardtanh()),
             (nn.ELU(), tnn.ELU()), (nn.Softplus(), tnn.Softplus()), (nn.PReLU(), tnn.PReLU()),
             (nn.Bilinear(2, 3, 4), tnn.Bilinear(2, 3, 4)), (nn.Identity(), tnn.Identity())]
    for c, t in pairs:
        assert repr(c) == repr(t)


def test_torch_state_dict_loads_and_back():
    """Weights move both ways: torch -> chainrule -> torch gives identical outputs."""
    cm, tm = mlp_pair(3)
    cm.load_state_dict(tm.state_dict())
    tm2 = mlp_pair(99)[1]
    tm2.load_state_dict({k: torch.from_numpy(np.array(v.numpy()))
                         for k, v in cm.state_dict().items()})
    x = RNG.normal(size=(5, 6)).astype(np.float32)
    tm.eval()
    tm2.eval()
    cm.eval()
    close(cm(cr.tensor(x)), tm(torch.tensor(x)), 1e-5)
    close(tm2(torch.tensor(x)).detach(), tm(torch.tensor(x)), 0)


# --------------------------------------------------------------------------- training

def test_mlp_trained_50_sgd_steps_matches_torch():
    """Same initial weights, same batches, manual SGD: the losses agree to 1e-4 throughout."""
    torch.manual_seed(0)
    tm = tnn.Sequential(tnn.Linear(10, 32), tnn.Tanh(), tnn.Linear(32, 16), tnn.ReLU(),
                        tnn.Linear(16, 4)).double()
    cm = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 16), nn.ReLU(),
                       nn.Linear(16, 4)).double()
    cm.load_state_dict(tm.state_dict())
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 2, (4, 10))
    lr = 0.1
    t_loss_fn, c_loss_fn = tnn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    for step in range(50):
        y = rng.integers(0, 4, 32)
        x = centres[y] + rng.normal(size=(32, 10))
        t_loss = t_loss_fn(tm(torch.tensor(x)), torch.tensor(y))
        c_loss = c_loss_fn(cm(cr.tensor(x)), cr.tensor(y))
        assert abs(c_loss.item() - t_loss.item()) < 1e-4, step
        tm.zero_grad()
        cm.zero_grad()
        t_loss.backward()
        c_loss.backward()
        with torch.no_grad():
            for p in tm.parameters():
                p -= lr * p.grad
        with cr.no_grad():
            for p in cm.parameters():
                p -= lr * p.grad  # in place on the leaf: allowed under no_grad
    assert c_loss.item() < 0.5  # it learned
    assert abs(c_loss.item() - t_loss.item()) < 1e-4
    for name, tp in tm.named_parameters():
        close(cm.get_parameter(name), tp, 1e-8, name)


def test_mlp_float32_training_with_dropout_free_batchnorm_matches_torch():
    """The float32 path (cr's default dtype) with BatchNorm and MSE, 20 steps."""
    cm, tm = mlp_pair(5)
    cm.load_state_dict(tm.state_dict())
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = rng.normal(size=(16, 6)).astype(np.float32)
        y = rng.normal(size=(16, 3)).astype(np.float32)
        t_loss = tnn.functional.mse_loss(tm(torch.tensor(x)), torch.tensor(y))
        c_loss = nn.functional.mse_loss(cm(cr.tensor(x)), cr.tensor(y))
        assert abs(c_loss.item() - t_loss.item()) < 1e-4
        tm.zero_grad()
        cm.zero_grad()
        t_loss.backward()
        c_loss.backward()
        with torch.no_grad():
            for p in tm.parameters():
                p -= 0.05 * p.grad
        for p in cm.parameters():
            assert p.grad is not None
            p.data -= 0.05 * p.grad.data  # the other spelling of a manual update
    for key, tv in tm.state_dict().items():
        close(cm.state_dict()[key], tv, 1e-4, key)
