"""cr.optim: optimizers and learning-rate schedulers, checked against PyTorch.

Parity: from the same initial weights, 100 steps of each optimizer (a spread of options) give
the same parameter trajectory as torch.optim, to float32 precision (rtol 1e-5) and, in float64,
to 1e-10. Schedulers give the same learning rates (and OneCycleLR momenta/betas) over hundreds
of steps. State dicts round-trip through cr.save/cr.load and resume identically; a state dict
that does not fit is refused before anything is changed.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.optim import lr_scheduler as crs

# --------------------------------------------------------------------------- helpers

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


@pytest.fixture(scope="module")
def torch() -> Any:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def make_problem(dtype: Any = np.float32, seed: int = 0) -> tuple[list[np.ndarray], Any, Any]:
    """Weights of a small model (two weight matrices and a bias) and a fixed batch."""
    rng = np.random.default_rng(seed)
    weights = [
        (rng.standard_normal((4, 8)) * 0.5).astype(dtype),
        (rng.standard_normal(8) * 0.1).astype(dtype),
        (rng.standard_normal((8, 3)) * 0.5).astype(dtype),
    ]
    x = rng.standard_normal((16, 4)).astype(dtype)
    y = rng.standard_normal((16, 3)).astype(dtype)
    return weights, x, y


def loss_fn(ps: list[Any], x: Any, y: Any, sign: float = 1.0) -> Any:
    """Mean squared error of tanh(x W1 + b) W2; the same code runs on both libraries."""
    w1, b, w2 = ps
    return sign * (((x @ w1 + b).tanh() @ w2 - y) ** 2).mean()


def groups_of(ps: list[Any], lr: float, split: bool) -> Any:
    if not split:
        return ps
    return [{"params": ps[:2]}, {"params": ps[2:], "lr": lr * 3}]


CASES: list[tuple[str, dict[str, Any]]] = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.3, weight_decay=0.1, maximize=True)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-3, maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.3, maximize=True)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.5, maximize=True)),
    ("RMSprop", dict(lr=0.001, centered=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.1, eps=1e-5, maximize=True)),
]


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, kw = case
    return name + "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")"


def cr_params(weights: list[np.ndarray]) -> list[cr.Tensor]:
    return [cr.tensor(w.copy(), requires_grad=True) for w in weights]


def cr_grads(params: list[cr.Tensor], x: np.ndarray, y: np.ndarray, sign: float = 1.0) -> None:
    for p in params:
        p.grad = None
    loss_fn(params, cr.tensor(x), cr.tensor(y), sign).backward()


def compare_state(c_opt: Any, t_opt: Any, tol: dict[str, float]) -> None:
    """The optimizers' state dicts have the same layout and values."""
    c_sd, t_sd = c_opt.state_dict(), t_opt.state_dict()
    assert sorted(c_sd["state"]) == sorted(t_sd["state"])
    for i, t_state in t_sd["state"].items():
        c_state = c_sd["state"][i]
        assert set(c_state) == {k for k, v in t_state.items() if v is not None}
        for k, v in c_state.items():
            assert isinstance(v, cr.Tensor)
            np.testing.assert_allclose(v.data, t_state[k].numpy(), **tol, err_msg=k)
    assert [g["params"] for g in c_sd["param_groups"]] == [
        g["params"] for g in t_sd["param_groups"]]
    for c_group, t_group in zip(c_sd["param_groups"], t_sd["param_groups"]):
        for k, v in c_group.items():
            assert t_group[k] == v, k


# --------------------------------------------------------------------------- parity

@pytest.mark.parametrize("split", [False, True], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_trajectory_matches_torch_same_gradients(torch: Any, case: Any, dtype: Any,
                                                 split: bool) -> None:
    """Both optimizers are fed the same gradient sequence (chainrule's model's gradients, so
    the trajectory is a real training run); the parameters agree after every step."""
    name, kw = case
    weights, x, y = make_problem(dtype)
    cp = cr_params(weights)
    tp = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
    c_opt = getattr(cr.optim, name)(groups_of(cp, kw["lr"], split), **kw)
    t_opt = getattr(torch.optim, name)(groups_of(tp, kw["lr"], split), **kw, foreach=False)
    sign = -1.0 if kw.get("maximize") else 1.0  # maximize(-loss) converges too
    tol = TOL[dtype]
    for step in range(100):
        cr_grads(cp, x, y, sign)
        for c, t in zip(cp, tp):
            t.grad = torch.tensor(c.grad.data.copy())
        c_opt.step()
        t_opt.step()
        for i, (c, t) in enumerate(zip(cp, tp)):
            assert c.dtype == dtype
            np.testing.assert_allclose(c.data, t.detach().numpy(), **tol,
                                       err_msg=f"param {i} after step {step + 1}")
    compare_state(c_opt, t_opt, tol)


STABLE = [c for c in CASES if not (c[0] == "RMSprop" and c[1].get("maximize"))
          and c[1].get("betas") is None]


@pytest.mark.parametrize("case", STABLE, ids=case_id)
def test_trajectory_matches_torch_float64_each_its_own_loss(torch: Any, case: Any) -> None:
    """Each library computes the loss and gradients of its own weights: float64 trajectories
    agree to 1e-10 over 100 steps."""
    name, kw = case
    weights, x, y = make_problem(np.float64, seed=1)
    cp = cr_params(weights)
    tp = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
    c_opt = getattr(cr.optim, name)(cp, **kw)
    t_opt = getattr(torch.optim, name)(tp, **kw, foreach=False)
    sign = -1.0 if kw.get("maximize") else 1.0
    tx, ty = torch.tensor(x), torch.tensor(y)
    for step in range(100):
        c_opt.zero_grad()
        cr_grads(cp, x, y, sign)
        t_opt.zero_grad()
        loss_fn(tp, tx, ty, sign).backward()
        c_opt.step()
        t_opt.step()
        for c, t in zip(cp, tp):
            np.testing.assert_allclose(c.data, t.detach().numpy(), **TOL[np.float64],
                                       err_msg=f"after step {step + 1}")


def test_pure_update_functions_match_the_classes() -> None:
    """The step functions are usable on their own, on plain NumPy arrays."""
    rng = np.random.default_rng(3)
    p = rng.standard_normal(5).astype(np.float32)
    g = rng.standard_normal(5).astype(np.float32)
    t = cr.tensor(p.copy(), requires_grad=True)
    opt = cr.optim.Adam([t], lr=0.1, weight_decay=0.01)
    m, v, step = np.zeros_like(p), np.zeros_like(p), np.zeros((), np.float32)
    for _ in range(3):
        t.grad = cr.tensor(g)
        opt.step()
        cr.optim.adam_step([p], [g], [m], [v], [], [step], amsgrad=False, beta1=0.9,
                           beta2=0.999, lr=0.1, weight_decay=0.01, eps=1e-8, maximize=False)
    np.testing.assert_array_equal(p, t.data)
    assert float(step) == 3.0
    bufs: list[np.ndarray | None] = [None]
    q = np.ones(3, np.float32)
    cr.optim.sgd_step([q], [np.ones(3, np.float32)], bufs, lr=0.5, momentum=0.9, dampening=0,
                      nesterov=False, weight_decay=0, maximize=False)
    np.testing.assert_array_equal(q, [0.5, 0.5, 0.5])
    assert bufs[0] is not None and np.array_equal(bufs[0], [1, 1, 1])


@pytest.mark.parametrize("order", ["C", "F"])
@pytest.mark.parametrize("kw", [dict(momentum=0.9), dict(momentum=0.9, nesterov=True,
                                                         weight_decay=0.01),
                                dict(momentum=0.5, dampening=0.3, maximize=True), dict()],
                         ids=["momentum", "nesterov-wd", "dampening-max", "plain"])
def test_sgd_blocked_update_equals_the_whole_array_update(order: str, kw: dict[str, Any],
                                                          monkeypatch: Any) -> None:
    """Large parameters are updated block by block (cache-sized, see optim/sgd.py): the same
    numbers as one pass over the whole arrays, for either memory order."""
    from chainrule.optim import sgd as sgd_module

    rng = np.random.default_rng(5)
    n = sgd_module.BLOCK * 2 + 123  # two full blocks and a partial one
    p0 = np.asarray(rng.standard_normal((n // 7, 7)), dtype=np.float32, order=order)
    grads = [np.asarray(rng.standard_normal(p0.shape), dtype=np.float32, order=order)
             for _ in range(3)]
    results = []
    for block in (sgd_module.BLOCK, p0.size + 1):
        monkeypatch.setattr(sgd_module, "BLOCK", block)
        p, bufs = p0.copy(order="K"), [None]
        for g in grads:
            cr.optim.sgd_step([p], [g], bufs, lr=0.1, **{"momentum": 0.0, "dampening": 0.0,
                              "nesterov": False, "weight_decay": 0.0, "maximize": False,
                              **kw})
        results.append((p, bufs[0]))
    (p_blocked, b_blocked), (p_whole, b_whole) = results
    np.testing.assert_array_equal(p_blocked, p_whole)
    if kw.get("momentum"):
        np.testing.assert_array_equal(b_blocked, b_whole)


def _plain_sgd(p: np.ndarray, grads: list[np.ndarray], lr: float, momentum: float = 0.0,
               dampening: float = 0.0, nesterov: bool = False, weight_decay: float = 0.0,
               maximize: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """PyTorch's SGD formulas in plain NumPy, Python-float scalars, one op at a time."""
    buf = None
    for g in grads:
        d = -g if maximize else g
        if weight_decay:
            d = p * weight_decay - g if maximize else p * weight_decay + g
        if momentum:
            if buf is None:
                buf = d.copy()
            else:
                buf = buf * momentum + (d if dampening == 0 else d * (1 - dampening))
            d = d + buf * momentum if nesterov else buf
        p = p + d * (-lr)
    return p, buf


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("kw", [dict(momentum=0.9), dict(momentum=0.9, nesterov=True,
                                                         weight_decay=0.01),
                                dict(momentum=0.5, dampening=0.3, maximize=True),
                                dict(weight_decay=0.1, maximize=True), dict()],
                         ids=["momentum", "nesterov-wd", "dampening-max", "wd-max", "plain"])
def test_sgd_step_equals_the_plain_formulas(dtype: Any, kw: dict[str, Any]) -> None:
    """sgd_step casts its scalars to the parameter's dtype once and reuses one scratch array
    across blocks: bit for bit the numbers of the formulas written with Python floats (which
    NumPy casts to the array's dtype), on a small and on a multi-block parameter."""
    from chainrule.optim import sgd as sgd_module

    rng = np.random.default_rng(7)
    for n in (5, sgd_module.BLOCK * 2 + 123):
        p0 = rng.standard_normal(n).astype(dtype)
        grads = [rng.standard_normal(n).astype(dtype) for _ in range(3)]
        p, bufs = p0.copy(), [None]
        for g in grads:
            cr.optim.sgd_step([p], [g], bufs, lr=0.1, **{
                "momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0,
                "maximize": False, **kw})
        p_ref, b_ref = _plain_sgd(p0, grads, lr=0.1, **kw)
        np.testing.assert_array_equal(p, p_ref)
        if kw.get("momentum"):
            np.testing.assert_array_equal(bufs[0], b_ref)


def test_float32_mlp_training_matches_torch(torch: Any) -> None:
    """A float32 ReLU MLP trained with cross-entropy and SGD momentum (the fast paths: GEMMs
    writing F-ordered outputs when the batch is narrower than the layer, the short
    cross-entropy, the blocked update on a weight larger than one block) follows torch."""
    rng = np.random.default_rng(6)
    sizes = [(300, 256), (256, 64), (64, 10)]  # 300·256 > one block of the SGD update
    x = rng.standard_normal((16, 300)).astype(np.float32)
    y = rng.integers(0, 10, 16)
    t_layers = [torch.nn.Linear(i, o) for i, o in sizes]
    c_layers = [cr.nn.Linear(i, o) for i, o in sizes]
    for t_l, c_l in zip(t_layers, c_layers):
        c_l.load_state_dict({k: v.detach().numpy() for k, v in t_l.state_dict().items()})
    t_opt = torch.optim.SGD([p for m in t_layers for p in m.parameters()], lr=0.05,
                            momentum=0.9)
    c_opt = cr.optim.SGD([p for m in c_layers for p in m.parameters()], lr=0.05, momentum=0.9)
    tx, ty, cx, cy = torch.tensor(x), torch.tensor(y), cr.tensor(x), cr.tensor(y)
    assert c_layers[0](cx).data.flags.f_contiguous  # (the transposed-GEMM path is taken)

    def run(layers: list[Any], relu: Any, ce: Any, xs: Any, ys: Any) -> Any:
        h = xs
        for k, layer in enumerate(layers):
            h = layer(h) if k == len(layers) - 1 else relu(layer(h))
        return ce(h, ys)

    for step in range(10):
        t_opt.zero_grad()
        c_opt.zero_grad()
        tl = run(t_layers, torch.relu, torch.nn.functional.cross_entropy, tx, ty)
        cl = run(c_layers, cr.relu, cr.nn.functional.cross_entropy, cx, cy)
        tl.backward()
        cl.backward()
        t_opt.step()
        c_opt.step()
        np.testing.assert_allclose(cl.item(), tl.item(), rtol=1e-5, err_msg=f"step {step}")
    for t_l, c_l in zip(t_layers, c_layers):
        np.testing.assert_allclose(c_l.weight.data, t_l.weight.detach().numpy(), rtol=1e-4,
                                   atol=1e-5)
        np.testing.assert_allclose(c_l.bias.data, t_l.bias.detach().numpy(), rtol=1e-4,
                                   atol=1e-5)


# --------------------------------------------------------------------------- behaviour

def test_updates_in_place_and_bumps_the_version() -> None:
    w = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = (w * w).sum()  # the backward of w*w needs w's old values
    w.grad = cr.ones(3)
    array, version = w.data, w._version
    cr.optim.SGD([w], lr=0.5).step()
    assert w.data is array and w.dtype == np.float32
    np.testing.assert_allclose(w.data, [0.5, 1.5, 2.5])
    assert w._version == version + 1
    with pytest.raises(cr.ChainruleError, match="in-place"):
        y.backward()


def test_params_without_grad_are_skipped() -> None:
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    opt = cr.optim.Adam([a, b], lr=0.1)
    a.grad = cr.tensor([1.0, -1.0])
    opt.step()
    np.testing.assert_array_equal(b.data, [3.0, 4.0])
    assert b._version == 0 and b not in opt.state
    assert list(opt.state_dict()["state"]) == [0]
    assert a.data[0] < 1.0 < 2.0 < a.data[1]


def test_step_with_closure_returns_the_loss() -> None:
    w = cr.tensor([2.0], requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.25)

    def closure() -> Any:
        opt.zero_grad()
        loss = (w ** 2).sum()
        loss.backward()
        return loss

    with cr.no_grad():  # the closure runs with grad enabled anyway
        loss = opt.step(closure)
    assert loss.item() == 4.0
    np.testing.assert_allclose(w.data, [1.0])


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad(set_to_none: bool) -> None:
    weights, x, y = make_problem()
    ps = cr_params(weights)
    opt = cr.optim.SGD(ps, lr=0.1)
    loss_fn(ps, cr.tensor(x), cr.tensor(y)).backward()
    first = [p.grad.data.copy() for p in ps]
    grads = [p.grad for p in ps]
    opt.zero_grad(set_to_none=set_to_none)
    for p, g in zip(ps, grads):
        if set_to_none:
            assert p.grad is None
        else:
            assert p.grad is g  # zeroed in place
            assert not p.grad.data.any() and p.grad.shape == p.shape
    loss_fn(ps, cr.tensor(x), cr.tensor(y)).backward()  # accumulates onto zeros / fresh
    for p, f in zip(ps, first):
        np.testing.assert_allclose(p.grad.data, f, rtol=1e-6)


def test_param_groups_defaults_and_different_lrs() -> None:
    a = cr.tensor([1.0], requires_grad=True)
    b = cr.tensor([1.0], requires_grad=True)
    c = cr.tensor([1.0], requires_grad=True)
    opt = cr.optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5, "momentum": 0.9}],
                       lr=0.1, weight_decay=0.0)
    assert opt.param_groups[0] == {"params": [a], "lr": 0.1, "momentum": 0.0,
                                   "dampening": 0.0, "weight_decay": 0.0, "nesterov": False,
                                   "maximize": False}
    assert opt.param_groups[1]["params"] == [b] and opt.param_groups[1]["lr"] == 0.5
    opt.add_param_group({"params": [("c", c)], "lr": 1.0})
    assert opt.param_groups[2]["param_names"] == ["c"]
    assert opt.param_groups[2]["momentum"] == 0.0
    for t in (a, b, c):
        t.grad = cr.ones(1)
    opt.step()
    np.testing.assert_allclose([a.item(), b.item(), c.item()], [0.9, 0.5, 0.0])
    assert set(opt.state) == {b}  # momentum buffers only where momentum != 0


def test_construction_errors() -> None:
    w = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="empty parameter list"):
        cr.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        cr.optim.SGD(w, lr=0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ordered"):
        cr.optim.SGD({w}, lr=0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-leaf"):
        cr.optim.SGD([w * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        cr.optim.SGD([{"params": [w]}, {"params": [w]}], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        cr.optim.SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match="Nesterov"):
        cr.optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        cr.optim.Adam([w], lr=-1.0)
    with pytest.raises(ValueError, match="beta parameter at index 1"):
        cr.optim.AdamW([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="alpha"):
        cr.optim.RMSprop([w], alpha=-0.1)
    with pytest.raises(ValueError, match="lr_decay"):
        cr.optim.Adagrad([w], lr_decay=-0.1)
    opt = cr.optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="Invalid momentum"):
        opt.add_param_group({"params": [cr.tensor([1.0], requires_grad=True)],
                             "momentum": -1.0})
    assert len(opt.param_groups) == 1


# --------------------------------------------------------------------------- state dicts

ROUND_TRIP = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, momentum=0.5, centered=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
]


@pytest.mark.parametrize("case", ROUND_TRIP, ids=case_id)
def test_state_dict_round_trip_through_save_load_resumes_identically(case: Any,
                                                                      tmp_path: Any) -> None:
    pytest.importorskip("safetensors")
    name, kw = case
    weights, x, y = make_problem()
    ps = cr_params(weights)
    opt = getattr(cr.optim, name)(groups_of(ps, kw["lr"], True), **kw)
    for _ in range(10):
        cr_grads(ps, x, y)
        opt.step()
    cr.save({"params": [p.data for p in ps], "optim": opt.state_dict()}, tmp_path / "ck.st")
    for _ in range(10):
        cr_grads(ps, x, y)
        opt.step()
    expected = [p.data.copy() for p in ps]

    ck = cr.load(tmp_path / "ck.st")
    ps2 = [cr.tensor(t.data, requires_grad=True) for t in ck["params"]]
    opt2 = getattr(cr.optim, name)(groups_of(ps2, 123.0, True), lr=999.0)
    opt2.load_state_dict(ck["optim"])
    assert opt2.param_groups[1]["lr"] == kw["lr"] * 3  # hyper-parameters come back too
    for state in opt2.state.values():
        for v in state.values():
            assert isinstance(v, cr.Tensor)
    for _ in range(10):
        cr_grads(ps2, x, y)
        opt2.step()
    for p, e in zip(ps2, expected):
        np.testing.assert_array_equal(p.data, e)


def test_state_dict_is_a_snapshot_in_torch_layout() -> None:
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([[1.0]], requires_grad=True)
    opt = cr.optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.1}], lr=0.01)
    a.grad, b.grad = cr.ones(2), cr.ones((1, 1))
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sorted(sd["state"]) == [0, 1]
    assert set(sd["state"][1]) == {"step", "exp_avg", "exp_avg_sq"}
    assert sd["state"][1]["exp_avg"].shape == (1, 1)
    before = sd["state"][0]["exp_avg"].data.copy()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["exp_avg"].data, before)
    assert sd["state"][0]["step"].item() == 1.0


def test_loads_a_torch_state_dict(torch: Any) -> None:
    """PyTorch's optimizer state dicts have the same layout: a run can move over."""
    weights, x, y = make_problem()
    tp = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
    t_opt = torch.optim.Adam(tp, lr=0.01, amsgrad=True, foreach=False)
    cp = cr_params(weights)
    for _ in range(5):
        cr_grads(cp, x, y)
        for c, t in zip(cp, tp):
            t.grad = torch.tensor(c.grad.data.copy())
        t_opt.step()
    cp = [cr.tensor(t.detach().numpy().copy(), requires_grad=True) for t in tp]
    c_opt = cr.optim.Adam(cp)
    c_opt.load_state_dict(t_opt.state_dict())
    assert c_opt.param_groups[0]["amsgrad"] is True
    for _ in range(20):
        cr_grads(cp, x, y)
        for c, t in zip(cp, tp):
            t.grad = torch.tensor(c.grad.data.copy())
        c_opt.step()
        t_opt.step()
    for c, t in zip(cp, tp):
        np.testing.assert_allclose(c.data, t.detach().numpy(), **TOL[np.float32])


def _trained_adam() -> tuple[Any, list[cr.Tensor]]:
    ps = [cr.tensor(np.ones((2, 3)), requires_grad=True),
          cr.tensor(np.ones(3), requires_grad=True),
          cr.tensor(np.ones(4), requires_grad=True)]
    opt = cr.optim.Adam([{"params": ps[:2]}, {"params": ps[2:], "lr": 0.1}], lr=0.01)
    for p in ps:
        p.grad = cr.ones(p.shape)
    opt.step()
    return opt, ps


def _drop_group(sd: dict[str, Any]) -> None:
    sd["param_groups"] = sd["param_groups"][:1]


def _drop_param(sd: dict[str, Any]) -> None:
    sd["param_groups"][0]["params"] = [0]


def _bad_shape(sd: dict[str, Any]) -> None:
    sd["state"][1]["exp_avg_sq"] = cr.zeros(5)


def _drop_hyper(sd: dict[str, Any]) -> None:
    del sd["param_groups"][1]["betas"]


def _bad_lr(sd: dict[str, Any]) -> None:
    sd["param_groups"][0]["lr"] = -1.0


def _stray_state(sd: dict[str, Any]) -> None:
    sd["state"][7] = {"step": cr.tensor(1.0)}


BAD_LOADS = {
    "groups": (_drop_group, "1 parameter groups, this Adam has 2"),
    "params": (_drop_param, "param group 0: the state dict has 1 parameters, this Adam has 2"),
    "shape": (_bad_shape, r"parameter 1, 'exp_avg_sq': checkpoint has shape \(5,\), the "
                          r"parameter has shape \(3,\)"),
    "hyper": (_drop_hyper, "param group 1: missing hyper-parameters betas"),
    "invalid": (_bad_lr, "param group 0: Invalid learning rate"),
    "stray": (_stray_state, "state for parameter 7, which is in no param group"),
}


@pytest.mark.parametrize("what", list(BAD_LOADS))
def test_failed_load_leaves_the_optimizer_untouched(what: str) -> None:
    spoil, message = BAD_LOADS[what]
    opt, ps = _trained_adam()
    bad = opt.state_dict()
    spoil(bad)
    groups = opt.param_groups
    group_dicts = [dict(g) for g in groups]
    before = opt.state_dict()
    state_arrays = {p: {k: v.data for k, v in s.items()} for p, s in opt.state.items()}
    with pytest.raises(cr.StateDictError, match=message):
        opt.load_state_dict(bad)
    assert opt.param_groups is groups
    assert [dict(g) for g in groups] == group_dicts
    after = opt.state_dict()
    for i, s in before["state"].items():
        for k, v in s.items():
            np.testing.assert_array_equal(after["state"][i][k].data, v.data)
    for p, s in opt.state.items():
        assert all(s[k].data is arr for k, arr in state_arrays[p].items())


def test_load_rejects_another_optimizers_state() -> None:
    w = cr.tensor([1.0], requires_grad=True)
    sgd = cr.optim.SGD([w], lr=0.1, momentum=0.9)
    adam = cr.optim.Adam([w])
    with pytest.raises(cr.StateDictError, match="missing hyper-parameters betas, eps"):
        adam.load_state_dict(sgd.state_dict())
    with pytest.raises(cr.StateDictError, match="'state' and 'param_groups'"):
        adam.load_state_dict({"state": {}})


def test_load_fills_hyper_parameters_older_checkpoints_lack() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    w.grad = cr.ones(2)
    opt = cr.optim.AdamW([w], lr=0.1)
    opt.step()
    sd = opt.state_dict()
    for key in ("maximize", "decoupled_weight_decay"):
        del sd["param_groups"][0][key]
    opt.load_state_dict(sd)
    assert opt.param_groups[0]["decoupled_weight_decay"] is True
    assert opt.param_groups[0]["maximize"] is False
    assert "Parameter Group 0" in repr(opt) and "lr: 0.1" in repr(opt)


def test_load_casts_state_to_the_parameter_dtype() -> None:
    w = cr.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.1, momentum=0.9)
    sd = {"state": {0: {"momentum_buffer": np.ones(3, np.float64)}},
          "param_groups": [dict(opt.state_dict()["param_groups"][0])]}
    opt.load_state_dict(sd)
    buf = opt.state[w]["momentum_buffer"]
    assert isinstance(buf, cr.Tensor) and buf.dtype == np.float32


# --------------------------------------------------------------------------- schedulers

def _sched_pair(torch: Any, make: Any, opt_name: str = "SGD") -> tuple[Any, Any, Any, Any]:
    """The same scheduler on a chainrule and a torch optimizer, two groups of lrs 0.1, 0.02."""
    kw: dict[str, Any] = {"momentum": 0.9} if opt_name in ("SGD", "RMSprop") else {}

    def groups(lib: Any) -> list[dict[str, Any]]:
        a = lib.zeros(2, requires_grad=True)
        b = lib.zeros(3, requires_grad=True)
        return [{"params": [a]}, {"params": [b], "lr": 0.02}]

    c_opt = getattr(cr.optim, opt_name)(groups(cr), lr=0.1, **kw)
    t_opt = getattr(torch.optim, opt_name)(groups(torch), lr=0.1, **kw)
    return c_opt, make(crs, c_opt), t_opt, make(torch.optim.lr_scheduler, t_opt)


SCHEDULERS: dict[str, tuple[Any, str]] = {
    "StepLR": (lambda m, o: m.StepLR(o, step_size=7, gamma=0.7), "SGD"),
    "MultiStepLR": (lambda m, o: m.MultiStepLR(o, milestones=[30, 80, 80, 150], gamma=0.5),
                    "SGD"),
    "ExponentialLR": (lambda m, o: m.ExponentialLR(o, gamma=0.99), "SGD"),
    "CosineAnnealingLR": (lambda m, o: m.CosineAnnealingLR(o, T_max=50, eta_min=1e-3), "SGD"),
    "CosineAnnealingLR-T37": (lambda m, o: m.CosineAnnealingLR(o, T_max=37), "Adam"),
    "LinearLR-warmup": (lambda m, o: m.LinearLR(o, start_factor=0.25, total_iters=40), "SGD"),
    "LinearLR-decay": (lambda m, o: m.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                               total_iters=120), "Adam"),
    "LambdaLR": (lambda m, o: m.LambdaLR(o, lambda e: 0.97 ** e + (e % 10) / 20), "SGD"),
    "LambdaLR-per-group": (lambda m, o: m.LambdaLR(o, [lambda e: 1 / (1 + e),
                                                       lambda e: math.cos(e / 30) ** 2]),
                           "SGD"),
    "OneCycleLR-cos-SGD": (lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=300),
                           "SGD"),
    "OneCycleLR-linear-Adam": (lambda m, o: m.OneCycleLR(
        o, max_lr=0.3, total_steps=300, anneal_strategy="linear", pct_start=0.25,
        div_factor=10.0, final_div_factor=100.0), "Adam"),
    "OneCycleLR-three-phase": (lambda m, o: m.OneCycleLR(
        o, max_lr=0.5, epochs=10, steps_per_epoch=30, three_phase=True, pct_start=0.4,
        base_momentum=0.8, max_momentum=(0.9, 0.99)), "RMSprop"),
    "OneCycleLR-no-momentum": (lambda m, o: m.OneCycleLR(
        o, max_lr=0.5, total_steps=300, cycle_momentum=False), "Adagrad"),
}


def _momenta(opt: Any) -> list[Any]:
    return [g.get("betas", (g.get("momentum"),))[0] for g in opt.param_groups]


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_matches_torch(torch: Any, name: str) -> None:
    make, opt_name = SCHEDULERS[name]
    c_opt, c_sched, t_opt, t_sched = _sched_pair(torch, make, opt_name)
    steps = 299 if name.startswith("OneCycleLR") else 300
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. no "scheduler stepped before optimizer"
        for step in range(steps + 1):
            c_lrs, t_lrs = c_sched.get_last_lr(), t_sched.get_last_lr()
            assert c_lrs == pytest.approx(t_lrs, rel=1e-13, abs=1e-16), f"step {step}"
            assert [g["lr"] for g in c_opt.param_groups] == c_lrs
            c_m, t_m = _momenta(c_opt), _momenta(t_opt)
            if None in t_m:  # no momentum to cycle: both must say so
                assert c_m == t_m, f"step {step}"
            else:
                assert c_m == pytest.approx(t_m, rel=1e-13), f"step {step}"
            if step == steps:
                break
            c_opt.step()
            t_opt.step()
            c_sched.step()
            t_sched.step()
    assert c_sched.last_epoch == t_sched.last_epoch == steps


@pytest.mark.parametrize("name", ["MultiStepLR", "CosineAnnealingLR", "OneCycleLR-cos-SGD",
                                  "LinearLR-warmup"])
def test_scheduler_state_dict_round_trip(name: str, tmp_path: Any) -> None:
    pytest.importorskip("safetensors")
    make, opt_name = SCHEDULERS[name]

    def fresh() -> tuple[Any, Any]:
        a = cr.zeros(2, requires_grad=True)
        b = cr.zeros(3, requires_grad=True)
        opt = cr.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.02}], lr=0.1,
                           momentum=0.9)
        return opt, make(crs, opt)

    opt, sched = fresh()
    for _ in range(97):
        opt.step()
        sched.step()
    cr.save({"optim": opt.state_dict(), "sched": sched.state_dict()}, tmp_path / "s.st")
    expected = []
    for _ in range(100):
        opt.step()
        sched.step()
        expected.append(sched.get_last_lr() + _momenta(opt))
    opt2, sched2 = fresh()
    ck = cr.load(tmp_path / "s.st")
    opt2.load_state_dict(ck["optim"])
    sched2.load_state_dict(ck["sched"])
    got = []
    for _ in range(100):
        opt2.step()
        sched2.step()
        got.append(sched2.get_last_lr() + _momenta(opt2))
    assert got == expected


def test_scheduler_warnings_and_errors() -> None:
    w = cr.zeros(1, requires_grad=True)
    opt = cr.optim.SGD([w], lr=0.1)
    sched = crs.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        sched.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    with pytest.raises(KeyError, match="initial_lr"):
        crs.ExponentialLR(cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=0.1), 0.9,
                          last_epoch=3)
    with pytest.raises(ValueError, match="momentum or beta1"):
        crs.OneCycleLR(cr.optim.Adagrad([cr.zeros(1, requires_grad=True)]), max_lr=1.0,
                       total_steps=10)
    one = crs.OneCycleLR(cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=0.1,
                                      momentum=0.9), max_lr=1.0, total_steps=3)
    one.optimizer.step()
    for _ in range(3):
        one.step()
    with pytest.raises(ValueError, match="Tried to step 4 times"):
        one.step()


def test_scheduler_closed_form_with_epoch_argument(torch: Any) -> None:
    make = SCHEDULERS["CosineAnnealingLR"][0]
    c_opt, c_sched, t_opt, t_sched = _sched_pair(torch, make)
    c_opt.step()
    t_opt.step()
    with pytest.warns(UserWarning, match="deprecated"):
        c_sched.step(17)
    with pytest.warns(UserWarning):
        t_sched.step(17)
    assert c_sched.get_last_lr() == pytest.approx(t_sched.get_last_lr(), rel=1e-14)
