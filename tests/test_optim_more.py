"""cr.optim's Adamax, NAdam, RAdam, Adadelta, ASGD, Rprop and LBFGS, checked against PyTorch.

Parity: from the same initial weights, 100 steps of each optimizer (each option: weight decay,
maximize, decoupled decay, momentum decay, averaging, step-size bounds, ...) with one and two
param groups give the same trajectory as torch.optim, float32 to 1e-5 and float64 to 1e-10,
and the same state (names and values). State dicts round-trip mid-run and a torch
optimizer's state dict loads and resumes. LBFGS (fixed steps and strong Wolfe) follows torch
on the Rosenbrock function and on a least-squares model.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_optim import TOL, cr_grads, cr_params, loss_fn, make_problem  # the same small model

import chainrule as cr


@pytest.fixture(scope="module")
def torch() -> Any:
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


#: The second group's own options (a different learning rate and one more option).
SECOND_GROUP: dict[str, dict[str, Any]] = {
    "Adamax": dict(weight_decay=0.05),
    "NAdam": dict(momentum_decay=0.01, decoupled_weight_decay=True, weight_decay=0.1),
    "RAdam": dict(betas=(0.8, 0.99), weight_decay=0.1),
    "Adadelta": dict(rho=0.5),
    "ASGD": dict(lambd=1e-2, t0=5.0),
    "Rprop": dict(etas=(0.3, 1.5), step_sizes=(1e-3, 0.02)),
}


def groups_of(name: str, ps: list[Any], lr: float, split: bool) -> Any:
    if not split:
        return ps
    return [{"params": ps[:2]}, {"params": ps[2:], "lr": lr * 3, **SECOND_GROUP[name]}]


CASES: list[tuple[str, dict[str, Any]]] = [
    ("Adamax", dict(lr=0.01)),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-3, weight_decay=0.1)),
    ("Adamax", dict(lr=0.01, weight_decay=0.1, maximize=True)),
    ("NAdam", dict(lr=0.01)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, momentum_decay=0.02)),
    ("NAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("NAdam", dict(lr=0.01, betas=(0.5, 0.9), eps=1e-4)),
    ("RAdam", dict(lr=0.01)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1)),
    ("RAdam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", dict(lr=0.01, betas=(0.9, 0.9), eps=1e-4)),  # rectified from step 6 on
    ("Adadelta", dict(lr=1.0)),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(lr=1.0, maximize=True)),
    ("ASGD", dict(lr=0.05)),
    ("ASGD", dict(lr=0.05, lambd=1e-3, alpha=0.5, t0=20.0, weight_decay=0.1)),
    ("ASGD", dict(lr=0.05, t0=0.0, maximize=True)),
    ("Rprop", dict(lr=0.01)),
    ("Rprop", dict(lr=0.01, etas=(0.4, 1.3), step_sizes=(1e-4, 0.05))),
    ("Rprop", dict(lr=0.005, maximize=True)),
]


def case_id(case: tuple[str, dict[str, Any]]) -> str:
    name, kw = case
    return name + "(" + ",".join(f"{k}={v}" for k, v in kw.items()) + ")"


def torch_grads(torch: Any, cp: list[cr.Tensor], tp: list[Any]) -> None:
    for c, t in zip(cp, tp):
        t.grad = torch.tensor(c.grad.data.copy())


def compare_state(c_opt: Any, t_opt: Any, tol: dict[str, float]) -> None:
    """The optimizers' state dicts have the same layout and values."""
    c_sd, t_sd = c_opt.state_dict(), t_opt.state_dict()
    assert sorted(c_sd["state"]) == sorted(t_sd["state"])
    for i, t_state in t_sd["state"].items():
        c_state = c_sd["state"][i]
        assert list(c_state) == list(t_state)  # the same names, in the same order
        for k, v in c_state.items():
            assert isinstance(v, cr.Tensor)
            assert v.dtype == t_state[k].numpy().dtype, k
            np.testing.assert_allclose(v.data, t_state[k].numpy(), **tol, err_msg=k)
    assert [g["params"] for g in c_sd["param_groups"]] == [
        g["params"] for g in t_sd["param_groups"]]
    for c_group, t_group in zip(c_sd["param_groups"], t_sd["param_groups"]):
        for k, v in c_group.items():
            assert t_group[k] == v, k


def assert_params_close(cp: list[cr.Tensor], tp: list[Any], tol: dict[str, float],
                        what: str) -> None:
    for i, (c, t) in enumerate(zip(cp, tp)):
        np.testing.assert_allclose(c.data, t.detach().numpy(), **tol,
                                   err_msg=f"param {i} {what}")


# --------------------------------------------------------------------------- parity

@pytest.mark.parametrize("split", [False, True], ids=["one-group", "two-groups"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_trajectory_matches_torch(torch: Any, case: Any, dtype: Any, split: bool) -> None:
    """Both optimizers are fed chainrule's model's gradients (a real training run); the
    parameters agree after every step, and the state at the end."""
    name, kw = case
    weights, x, y = make_problem(dtype)
    cp = cr_params(weights)
    tp = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
    c_opt = getattr(cr.optim, name)(groups_of(name, cp, kw["lr"], split), **kw)
    t_opt = getattr(torch.optim, name)(groups_of(name, tp, kw["lr"], split), **kw,
                                       foreach=False)
    sign = -1.0 if kw.get("maximize") else 1.0  # maximize(-loss) converges too
    tol = TOL[dtype]
    for step in range(100):
        cr_grads(cp, x, y, sign)
        torch_grads(torch, cp, tp)
        c_opt.step()
        t_opt.step()
        assert all(c.dtype == dtype for c in cp)
        assert_params_close(cp, tp, tol, f"after step {step + 1}")
    compare_state(c_opt, t_opt, tol)


#: Small betas make the run sensitive to the last bits of each library's own gradients.
STABLE = [c for c in CASES if c[1].get("betas") is None]


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
        assert_params_close(cp, tp, TOL[np.float64], f"after step {step + 1}")


# --------------------------------------------------------------------------- state dicts

ROUND_TRIP = [(name, kw) for name, kw in CASES if kw.get("weight_decay") or name == "Rprop"]


@pytest.mark.parametrize("case", ROUND_TRIP, ids=case_id)
def test_state_dict_round_trip_mid_run_resumes_identically(case: Any) -> None:
    """A state dict taken after 10 steps, loaded into a fresh optimizer (with other
    hyper-parameters, which come back too), continues exactly as the original run."""
    name, kw = case
    weights, x, y = make_problem()
    ps = cr_params(weights)
    opt = getattr(cr.optim, name)(groups_of(name, ps, kw["lr"], True), **kw)
    for _ in range(10):
        cr_grads(ps, x, y)
        opt.step()
    saved_params = [p.data.copy() for p in ps]
    saved = opt.state_dict()
    for _ in range(10):
        cr_grads(ps, x, y)
        opt.step()
    expected = [p.data.copy() for p in ps]

    ps2 = [cr.tensor(w, requires_grad=True) for w in saved_params]
    opt2 = getattr(cr.optim, name)(groups_of(name, ps2, 0.5, True), lr=0.7)
    opt2.load_state_dict(saved)
    assert opt2.param_groups[1]["lr"] == kw["lr"] * 3
    assert list(opt2.state_dict()["state"][0]) == list(saved["state"][0])
    for _ in range(10):
        cr_grads(ps2, x, y)
        opt2.step()
    for p, e in zip(ps2, expected):
        np.testing.assert_array_equal(p.data, e)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", [c for c in CASES if c[0] != "Rprop" or c[1].get("etas")]
                         + [("Rprop", dict(lr=0.01))], ids=case_id)
def test_loads_a_torch_state_dict_and_resumes(torch: Any, case: Any, dtype: Any) -> None:
    """A torch optimizer's state dict (its scalar state in float32, cast to the parameters'
    dtype on loading, as torch does) moves a run over to chainrule."""
    name, kw = case
    weights, x, y = make_problem(dtype)
    tp = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
    t_opt = getattr(torch.optim, name)(groups_of(name, tp, kw["lr"], True), **kw,
                                       foreach=False)
    cp = cr_params(weights)
    sign = -1.0 if kw.get("maximize") else 1.0
    for _ in range(7):
        cr_grads(cp, x, y, sign)
        torch_grads(torch, cp, tp)
        t_opt.step()
    cp = [cr.tensor(t.detach().numpy().copy(), requires_grad=True) for t in tp]
    c_opt = getattr(cr.optim, name)(groups_of(name, cp, 1.0, True))
    c_opt.load_state_dict(t_opt.state_dict())
    t_opt.load_state_dict(t_opt.state_dict())  # torch casts its own state the same way
    for k, v in kw.items():
        assert c_opt.param_groups[0][k] == v, k
    for step in range(20):
        cr_grads(cp, x, y, sign)
        torch_grads(torch, cp, tp)
        c_opt.step()
        t_opt.step()
        assert_params_close(cp, tp, TOL[dtype], f"after step {step + 1}")
    compare_state(c_opt, t_opt, TOL[dtype])


def test_state_layout_and_scalar_state_checks() -> None:
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    w.grad = cr.ones(2)
    opt = cr.optim.NAdam([w])
    opt.step()
    sd = opt.state_dict()
    assert list(sd["state"][0]) == ["step", "mu_product", "exp_avg", "exp_avg_sq"]
    assert sd["state"][0]["mu_product"].shape == () and sd["state"][0]["mu_product"].dtype \
        == np.float32
    sd["state"][0]["mu_product"] = cr.ones(2)
    with pytest.raises(cr.StateDictError, match="'mu_product': expected one number"):
        opt.load_state_dict(sd)
    asgd = cr.optim.ASGD([w])
    sd = asgd.state_dict()
    sd["state"][0] = {"step": cr.tensor(1.0), "eta": cr.tensor(0.01), "mu": cr.tensor(1.0)}
    with pytest.raises(cr.StateDictError, match="missing ax"):
        asgd.load_state_dict(sd)


# --------------------------------------------------------------------------- validation

def _w() -> cr.Tensor:
    return cr.tensor([1.0], requires_grad=True)


BAD_ARGS: list[tuple[str, dict[str, Any], type, str]] = [
    ("Adamax", dict(lr=-1.0), ValueError, "Invalid learning rate: -1.0"),
    ("Adamax", dict(betas=(1.0, 0.9)), ValueError, "Invalid beta parameter at index 0: 1.0"),
    ("Adamax", dict(eps=-1e-8), ValueError, "Invalid epsilon value: -1e-08"),
    ("NAdam", dict(betas=(0.9, -0.1)), ValueError, "Invalid beta parameter at index 1: -0.1"),
    ("NAdam", dict(momentum_decay=-1.0), ValueError, "Invalid momentum_decay value: -1.0"),
    ("NAdam", dict(weight_decay=-0.1), ValueError, "Invalid weight_decay value: -0.1"),
    ("RAdam", dict(betas=(0.9, 1.5)), ValueError, "Invalid beta parameter at index 1: 1.5"),
    ("RAdam", dict(lr="0.1"), TypeError, "Invalid learning rate: '0.1'"),
    ("Adadelta", dict(rho=1.5), ValueError, "Invalid rho value: 1.5"),
    ("Adadelta", dict(lr=-0.5), ValueError, "Invalid learning rate: -0.5"),
    ("ASGD", dict(weight_decay=-1.0), ValueError, "Invalid weight_decay value: -1.0"),
    ("Rprop", dict(etas=(1.2, 0.5)), ValueError, "Invalid eta values: 1.2, 0.5"),
    ("Rprop", dict(etas=(0.5, 1.0)), ValueError, "Invalid eta values: 0.5, 1.0"),
    ("LBFGS", dict(lr=-1.0), ValueError, "Invalid learning rate: -1.0"),
    ("LBFGS", dict(line_search_fn="armijo"), RuntimeError, "only 'strong_wolfe'"),
    ("NAdam", dict(differentiable=True), NotImplementedError, "differentiable=True"),
]


@pytest.mark.parametrize("bad", BAD_ARGS, ids=lambda b: f"{b[0]}-{b[3][:24]}")
def test_invalid_arguments_are_refused_with_torchs_messages(torch: Any, bad: Any) -> None:
    name, kw, error, message = bad
    with pytest.raises(error, match=message.replace("(", r"\(").replace(".", r"\.")):
        getattr(cr.optim, name)([_w()], **kw)
    if error is ValueError:  # torch raises the same error, with the same words
        with pytest.raises(ValueError, match=message.split(":")[0]):
            getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)], **kw)


def test_invalid_group_options_are_refused_when_the_group_is_added() -> None:
    opt = cr.optim.RAdam([_w()])
    with pytest.raises(ValueError, match="Invalid beta parameter at index 0"):
        opt.add_param_group({"params": [_w()], "betas": (-0.5, 0.9)})
    assert len(opt.param_groups) == 1


def test_torch_only_switches_are_accepted() -> None:
    for name, kw in [("Adamax", dict(foreach=True, capturable=True)),
                     ("NAdam", dict(foreach=False, capturable=False)),
                     ("RAdam", dict(foreach=None, capturable=True)),
                     ("Adadelta", dict(foreach=True, capturable=True)),
                     ("ASGD", dict(foreach=True, capturable=True)),
                     ("Rprop", dict(foreach=True, capturable=True))]:
        opt = getattr(cr.optim, name)([_w()], **kw)
        assert "foreach" not in opt.param_groups[0]


# --------------------------------------------------------------------------- LBFGS

def rosenbrock(x: Any) -> Any:
    return ((1 - x[:-1]) ** 2 + 100 * (x[1:] - x[:-1] ** 2) ** 2).sum()


def _lbfgs_pair(torch: Any, params: list[np.ndarray], **kw: Any) -> tuple[Any, Any, Any, Any]:
    cp = cr_params(params)
    tp = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    return cp, tp, cr.optim.LBFGS(cp, **kw), torch.optim.LBFGS(tp, **kw)


def _closure(opt: Any, loss: Callable[[], Any]) -> Callable[[], Any]:
    def closure() -> Any:
        opt.zero_grad()
        value = loss()
        value.backward()
        return value
    return closure


LBFGS_CASES = [dict(lr=1, max_iter=20), dict(lr=0.5, max_iter=10, history_size=4),
               dict(lr=1, max_iter=20, line_search_fn="strong_wolfe"),
               dict(lr=1, max_iter=7, history_size=3, tolerance_change=1e-12,
                    line_search_fn="strong_wolfe")]


def rosenbrock_and_gradient(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The 2-d Rosenbrock function and its gradient, in NumPy (the same numbers for both
    libraries: in float32 its line searches amplify a last-bit difference of the autograd
    gradients)."""
    a, b = x
    f = (1 - a) ** 2 + 100 * (b - a * a) ** 2
    grad = np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)], x.dtype)
    return np.asarray(f, x.dtype), grad


LBFGS_RUNS = [(kw, dtype) for kw in LBFGS_CASES for dtype in (np.float32, np.float64)]


def _correctly_rounded_sqrt(torch: Any) -> Callable[[Any], Any]:
    """``Tensor.sqrt`` with 0-d float32 tensors' square roots correctly rounded.

    torch's float32 ``sqrt`` on CPU is not: measured with torch 2.13 (AVX2 kernels) on 20
    million random float32 values, it is one ulp off the correctly rounded value (NumPy's) for
    about one in six. The strong-Wolfe line search takes such a square root in its cubic
    interpolation, and a one-ulp difference there changes the next trial steps (and the number
    of evaluations), so the float32 line searches are compared with a torch that rounds it
    correctly; then the runs agree.
    """
    sqrt = torch.Tensor.sqrt

    def patched(self: Any) -> Any:
        if self.dtype == torch.float32 and self.dim() == 0:
            return torch.tensor(np.float32(np.sqrt(np.float64(self.item()))))
        return sqrt(self)
    return patched


@pytest.mark.parametrize(("kw", "dtype"), LBFGS_RUNS, ids=lambda v: (
    v.__name__ if isinstance(v, type) else ",".join(f"{k}={x}" for k, x in v.items())))
def test_lbfgs_rosenbrock_matches_torch(torch: Any, kw: dict[str, Any], dtype: Any,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """From (-1.5, 2) each step (many iterations, closure calls) follows torch's: the same
    iterate, loss, number of evaluations and iterations; the minimum (1, 1) is reached."""
    if dtype is np.float32 and kw.get("line_search_fn"):
        monkeypatch.setattr(torch.Tensor, "sqrt", _correctly_rounded_sqrt(torch))
    cp, tp, c_opt, t_opt = _lbfgs_pair(torch, [np.array([-1.5, 2.0], dtype)], **kw)

    def c_closure() -> Any:
        f, g = rosenbrock_and_gradient(cp[0].data)
        cp[0].grad = cr.tensor(g)
        return cr.tensor(f)

    def t_closure() -> Any:
        f, g = rosenbrock_and_gradient(tp[0].detach().numpy())
        tp[0].grad = torch.tensor(g)
        return torch.tensor(f)

    for step in range(15):
        c_loss = c_opt.step(c_closure)
        t_loss = t_opt.step(t_closure)
        np.testing.assert_allclose(float(c_loss), t_loss.item(), **TOL[dtype])
        assert_params_close(cp, tp, TOL[dtype], f"after step {step + 1}")
        c_state, t_state = c_opt.state[cp[0]], t_opt.state[tp[0]]
        assert (c_state["func_evals"], c_state["n_iter"]) == (t_state["func_evals"],
                                                              t_state["n_iter"])
    assert list(c_opt.state_dict()["state"][0]) == list(t_opt.state_dict()["state"][0])
    np.testing.assert_allclose(cp[0].data, [1.0, 1.0], atol=1e-2)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_rosenbrock_with_autograd_matches_torch(torch: Any, line_search_fn: Any) -> None:
    """The same in float64 with each library's own autograd in the closure."""
    kw = dict(lr=1, max_iter=20, line_search_fn=line_search_fn)
    cp, tp, c_opt, t_opt = _lbfgs_pair(torch, [np.array([-1.5, 2.0])], **kw)
    c_closure = _closure(c_opt, lambda: rosenbrock(cp[0]))
    t_closure = _closure(t_opt, lambda: rosenbrock(tp[0]))
    for step in range(10):
        c_opt.step(c_closure)
        t_opt.step(t_closure)
        assert_params_close(cp, tp, TOL[np.float64], f"after step {step + 1}")
    np.testing.assert_allclose(cp[0].data, [1.0, 1.0], atol=1e-4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_least_squares_matches_torch(torch: Any, line_search_fn: Any,
                                           dtype: Any) -> None:
    """A linear model with a bias fitted by least squares (two parameters, one with no
    gradient to begin with would be zeros in the flat gradient)."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((20, 3)).astype(dtype)
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
         + 0.1 * rng.standard_normal((20, 1))).astype(dtype)
    params = [np.zeros((3, 1), dtype), np.zeros(1, dtype)]
    cp, tp, c_opt, t_opt = _lbfgs_pair(torch, params, lr=0.8, max_iter=5, history_size=5,
                                       line_search_fn=line_search_fn)
    cx, cy, tx, ty = cr.tensor(x), cr.tensor(y), torch.tensor(x), torch.tensor(y)
    c_closure = _closure(c_opt, lambda: ((cx @ cp[0] + cp[1] - cy) ** 2).mean())
    t_closure = _closure(t_opt, lambda: ((tx @ tp[0] + tp[1] - ty) ** 2).mean())
    for step in range(6):
        c_opt.step(c_closure)
        t_opt.step(t_closure)
        assert_params_close(cp, tp, TOL[dtype], f"after step {step + 1}")
    solution, *_ = np.linalg.lstsq(np.c_[x, np.ones(20)].astype(np.float64), y, rcond=None)
    np.testing.assert_allclose(np.r_[cp[0].data[:, 0], cp[1].data], solution[:, 0], atol=1e-4)


def test_lbfgs_state_dict_round_trip_and_torch_state(torch: Any) -> None:
    """LBFGS's history (lists of vectors) is saved and restored; a torch LBFGS state dict
    loads and the run continues as torch's."""
    cp, tp, c_opt, t_opt = _lbfgs_pair(torch, [np.array([-1.5, 2.0])], lr=0.5, max_iter=4,
                                       history_size=3)
    t_closure = _closure(t_opt, lambda: rosenbrock(tp[0]))
    for _ in range(3):
        t_opt.step(t_closure)
    cp[0].data[...] = tp[0].detach().numpy()
    c_opt.load_state_dict(t_opt.state_dict())
    state = c_opt.state[cp[0]]
    assert all(isinstance(v, cr.Tensor) for v in state["old_dirs"])
    assert len(state["old_dirs"]) == 3 and state["func_evals"] == t_opt.state[tp[0]][
        "func_evals"]
    c_closure = _closure(c_opt, lambda: rosenbrock(cp[0]))
    saved = c_opt.state_dict()
    for step in range(3):
        c_opt.step(c_closure)
        t_opt.step(t_closure)
        assert_params_close(cp, tp, TOL[np.float64], f"after step {step + 1}")
    expected = cp[0].data.copy()
    cp2 = [cr.tensor(np.zeros(2), requires_grad=True)]
    cp2[0].data[...] = tp[0].detach().numpy()  # (the params of the resumed run differ)
    opt2 = cr.optim.LBFGS(cp2, lr=0.5, max_iter=4, history_size=3)
    opt2.load_state_dict(saved)
    assert opt2.state[cp2[0]]["n_iter"] == saved["state"][0]["n_iter"]
    assert expected.shape == cp2[0].shape


def test_lbfgs_errors() -> None:
    w = _w()
    opt = cr.optim.LBFGS([w])
    with pytest.raises(TypeError, match="needs a closure"):
        opt.step()
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        cr.optim.LBFGS([{"params": [_w()]}, {"params": [_w()], "lr": 0.1}])
    with pytest.raises(ValueError, match="doesn't support per-parameter options"):
        opt.add_param_group({"params": [_w()]})
    assert opt.param_groups[0]["max_eval"] == 25  # max_iter * 5 // 4
    sd = opt.state_dict()
    sd["state"][0] = {"func_evals": 1, "n_iter": 1, "d": cr.zeros(3)}
    with pytest.raises(cr.StateDictError, match="'d': expected a flat vector of 1 elements"):
        opt.load_state_dict(sd)


def test_lbfgs_stops_at_once_when_the_gradient_is_small() -> None:
    w = cr.tensor([1.0, 1.0], requires_grad=True)
    opt = cr.optim.LBFGS([w])
    closure = _closure(opt, lambda: rosenbrock(w))
    assert opt.step(closure).item() == 0.0
    assert opt.state[w] == {"func_evals": 1, "n_iter": 0}
    np.testing.assert_array_equal(w.data, [1.0, 1.0])


def test_rprop_does_not_move_a_coordinate_whose_gradient_is_nan(torch: Any) -> None:
    """torch.sign(nan) is 0, so torch's Rprop leaves a coordinate with a NaN gradient where it
    is (its step size too) instead of making it NaN; chainrule's does the same."""
    cp = cr.tensor(np.ones(4, np.float32), requires_grad=True)
    tp = torch.ones(4, requires_grad=True)
    c_opt, t_opt = cr.optim.Rprop([cp], lr=0.01), torch.optim.Rprop([tp], lr=0.01, foreach=False)
    for step in range(4):
        g = np.array([0.5, -0.3, np.nan if step == 1 else 0.2, np.nan], np.float32)
        cp.grad, tp.grad = cr.tensor(g), torch.tensor(g)
        c_opt.step()
        t_opt.step()
        np.testing.assert_array_equal(cp.data, tp.detach().numpy())
    assert not np.isnan(cp.data).any()
    compare_state(c_opt, t_opt, TOL[np.float32])


@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("name", ["Adamax", "NAdam", "RAdam", "Adadelta", "ASGD", "Rprop"])
def test_zero_dim_and_empty_parameters_match_torch(torch: Any, name: str,
                                                   maximize: bool) -> None:
    """A 0-d parameter (a scalar weight) and an empty one step as in torch."""
    for shape in [(), (0,)]:
        cp = cr.tensor(np.full(shape, 0.7), requires_grad=True)
        tp = torch.full(shape, 0.7, dtype=torch.float64, requires_grad=True)
        c_opt = getattr(cr.optim, name)([cp], maximize=maximize)
        t_opt = getattr(torch.optim, name)([tp], maximize=maximize, foreach=False)
        for step in range(3):
            g = np.full(shape, step - 0.6)
            cp.grad, tp.grad = cr.tensor(g), torch.tensor(g)
            c_opt.step()
            t_opt.step()
            assert cp.shape == shape
            np.testing.assert_allclose(cp.data, tp.detach().numpy(), **TOL[np.float64])


def test_a_subclass_defines_only_its_update_of_a_group() -> None:
    """Optimizer.step gathers each group's parameters that have a gradient and hands them to
    _update_group (and marks the step for the schedulers); without it, a clear error."""
    seen: list[int] = []

    class Halving(cr.optim.Optimizer):
        def __init__(self, params: Any) -> None:
            super().__init__(params, {"lr": 0.5})

        def _update_group(self, group: dict[str, Any], params: list[cr.Tensor],
                          grads: list[np.ndarray]) -> None:
            seen.append(len(params))
            for p, g in zip(params, grads):
                p.data -= group["lr"] * g

    a, b = cr.tensor([1.0, 2.0], requires_grad=True), cr.tensor([3.0], requires_grad=True)
    opt = Halving([a, b])
    a.grad = cr.tensor([2.0, 2.0])
    assert opt.step(lambda: cr.tensor(7.0)).item() == 7.0
    assert seen == [1] and a.tolist() == [0.0, 1.0] and b.tolist() == [3.0]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler stepped before the optimizer"
        cr.optim.lr_scheduler.StepLR(opt, 1).step()

    class Nothing(cr.optim.Optimizer):
        pass

    w = cr.tensor([1.0], requires_grad=True)
    w.grad = cr.ones(1)
    with pytest.raises(NotImplementedError, match="Nothing defines neither step"):
        Nothing([w], {}).step()
