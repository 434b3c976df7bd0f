"""cr.func against torch.func: functional_call (outputs, gradients through the transforms
and through backward, buffers, strict, tied weights, the module restored), per-sample
gradients, a second-order MAML step, and torch.func's conventions for the transforms."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, close

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")
tfunc = torch.func
tnn = torch.nn

RTOL = TOL[np.float64]


class CrMLP(nn.Module):
    def __init__(self, bn: bool = False) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 5)
        self.bn = nn.BatchNorm1d(5) if bn else None
        self.fc2 = nn.Linear(5, 2)

    def forward(self, x: Any) -> Any:
        h = self.fc1(x)
        if self.bn is not None:
            h = self.bn(h)
        return self.fc2(cr.tanh(h))


class TorchMLP(tnn.Module):
    def __init__(self, bn: bool = False) -> None:
        super().__init__()
        self.fc1 = tnn.Linear(3, 5)
        self.bn = tnn.BatchNorm1d(5) if bn else None
        self.fc2 = tnn.Linear(5, 2)

    def forward(self, x: Any) -> Any:
        h = self.fc1(x)
        if self.bn is not None:
            h = self.bn(h)
        return self.fc2(torch.tanh(h))


def pair(bn: bool = False, seed: int = 0) -> tuple[nn.Module, Any]:
    torch.manual_seed(seed)
    tm = TorchMLP(bn).double()
    cm = CrMLP(bn).double()
    cm.load_state_dict(tm.state_dict())
    return cm, tm


def fresh_params(tm: Any, seed: int = 1, requires_grad: bool = False
                 ) -> tuple[dict[str, Any], dict[str, Any]]:
    """New values (not the module's own) for every parameter, as cr and torch tensors."""
    rng = np.random.default_rng(seed)
    arrays = {k: rng.normal(size=tuple(v.shape)) for k, v in tm.named_parameters()}
    return ({k: cr.tensor(a, requires_grad=requires_grad) for k, a in arrays.items()},
            {k: torch.tensor(a, requires_grad=requires_grad) for k, a in arrays.items()})


def data(n: int = 4, seed: int = 2) -> tuple[Any, Any, Any, Any]:
    rng = np.random.default_rng(seed)
    x, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 2))
    return cr.tensor(x), cr.tensor(y), torch.tensor(x), torch.tensor(y)


def snapshot(m: Any) -> list[tuple[str, Any, np.ndarray]]:
    """Each parameter and buffer: its name, the object itself, and a copy of its values."""
    items = list(m.named_parameters()) + list(m.named_buffers())
    return [(k, v, np.array(v.detach().numpy() if hasattr(v, "numpy") and not isinstance(
        v, cr.Tensor) else v.data, copy=True)) for k, v in items]


def assert_unchanged(m: Any, before: list[tuple[str, Any, np.ndarray]]) -> None:
    after = dict(list(m.named_parameters()) + list(m.named_buffers()))
    assert list(after) == [k for k, _, _ in before]
    for k, obj, values in before:
        assert after[k] is obj, f"{k}: the module's own tensor was not put back"
        got = obj.data if isinstance(obj, cr.Tensor) else obj.detach().numpy()
        np.testing.assert_array_equal(got, values, err_msg=k)


# --------------------------------------------------------------------------- functional_call

def test_functional_call_output_and_module_restored() -> None:
    cm, tm = pair()
    cp, tp = fresh_params(tm)
    cx, _, tx, _ = data()
    before = snapshot(cm)
    out = cr.func.functional_call(cm, cp, (cx,))
    close(out, tfunc.functional_call(tm, tp, (tx,)), RTOL, "output")
    assert_unchanged(cm, before)
    # the new values matter: the module's own give another output
    assert not np.allclose(out.data, cm(cx).data)
    # a non-tuple args is one argument; kwargs are passed on; missing names keep the module's
    partial = {"fc2.weight": cp["fc2.weight"]}
    close(cr.func.functional_call(cm, partial, cx),
          tfunc.functional_call(tm, {"fc2.weight": tp["fc2.weight"]}, tx), RTOL, "partial")
    close(cr.func.functional_call(cm, cp, kwargs={"x": cx}),
          tfunc.functional_call(tm, tp, kwargs={"x": tx}), RTOL, "kwargs")


def test_functional_call_gradients_through_grad_and_backward() -> None:
    cm, tm = pair()
    cx, cy, tx, ty = data()
    cp, tp = fresh_params(tm)

    def closs(p: dict) -> Any:
        return cr.nn.functional.mse_loss(cr.func.functional_call(cm, p, (cx,)), cy)

    def tloss(p: dict) -> Any:
        return tnn.functional.mse_loss(tfunc.functional_call(tm, p, (tx,)), ty)

    tg = tfunc.grad(tloss)(tp)
    cg = cr.func.grad(closs)(cp)
    assert list(cg) == list(tg)
    for k in tg:
        close(cg[k], tg[k], RTOL, f"cr.func.grad {k}")
    # chainrule's own transform, on the dict's values as separate arguments
    names = list(cp)
    cg2 = cr.grad(lambda *vs: closs(dict(zip(names, vs))), argnums=tuple(range(len(names))))(
        *cp.values())
    for k, g in zip(names, cg2):
        close(g, tg[k], RTOL, f"cr.grad {k}")
    # backward into the dict's tensors; the module's own parameters get nothing
    cp, tp = fresh_params(tm, requires_grad=True)
    closs(cp).backward()
    tloss(tp).backward()
    for k in tp:
        close(cp[k].grad, tp[k].grad, RTOL, f"backward {k}")
    assert all(p.grad is None for p in cm.parameters())


def test_functional_call_tuple_of_dicts_and_batchnorm_buffers_in_place() -> None:
    cm, tm = pair(bn=True)
    cm.train()
    tm.train()
    cp, tp = fresh_params(tm)
    cx, _, tx, _ = data(6)
    cb = {k: cr.tensor(v.detach().numpy().copy()) for k, v in tm.named_buffers()}
    tb = {k: v.detach().clone() for k, v in tm.named_buffers()}
    cb_objs = dict(cb)
    before = snapshot(cm)
    tbefore = snapshot(tm)
    for _ in range(2):
        close(cr.func.functional_call(cm, (cp, cb), (cx,)),
              tfunc.functional_call(tm, (tp, tb), (tx,)), RTOL, "output")
    # torch updates the buffers passed in, in place; so does chainrule
    for k in tb:
        assert cb[k] is cb_objs[k]
        close(cb[k], tb[k], RTOL, f"buffer {k}")
    assert int(cb["bn.num_batches_tracked"].item()) == 2
    assert not np.allclose(cb["bn.running_mean"].data, 0)
    # ... and leave the module's own untouched
    assert_unchanged(cm, before)
    assert_unchanged(tm, tbefore)


def test_functional_call_write_back_of_reassigned_buffer() -> None:
    class CrCount(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("n", cr.zeros(()))

        def forward(self, x: Any) -> Any:
            self.n = self.n + 1
            return x * self.n

    class TorchCount(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("n", torch.zeros(()))

        def forward(self, x: Any) -> Any:
            self.n = self.n + 1
            return x * self.n

    cm, tm = CrCount(), TorchCount()
    cd, td = {"n": cr.zeros(())}, {"n": torch.zeros(())}
    c0 = cd["n"]
    cr.func.functional_call(cm, cd, (cr.ones(1),))
    tfunc.functional_call(tm, td, (torch.ones(1),))
    # as torch: the dict passed in gets the new tensor, the module keeps its own
    assert cd["n"] is not c0 and cd["n"].item() == td["n"].item() == 1.0
    assert cm.n.item() == tm.n.item() == 0.0
    # a tuple of dicts is merged into a new dict: no write-back (as torch)
    cd2 = {"n": cr.zeros(())}
    c2 = cd2["n"]
    cr.func.functional_call(cm, (cd2,), (cr.ones(1),))
    assert cd2["n"] is c2


def test_functional_call_strict_and_unknown_names() -> None:
    cm, tm = pair()
    cp, tp = fresh_params(tm)
    cx, _, tx, _ = data()
    before = snapshot(cm)
    partial_c = {k: v for k, v in cp.items() if k != "fc2.bias"}
    partial_t = {k: v for k, v in tp.items() if k != "fc2.bias"}
    with pytest.raises(RuntimeError, match=r"Missing key\(s\): 'fc2.bias'"):
        tfunc.functional_call(tm, partial_t, (tx,), strict=True)
    with pytest.raises(RuntimeError, match=r"Missing key\(s\): 'fc2.bias'"):
        cr.func.functional_call(cm, partial_c, (cx,), strict=True)
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\): 'fc3.weight'"):
        tfunc.functional_call(tm, {**tp, "fc3.weight": tp["fc1.weight"]}, (tx,), strict=True)
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\): 'fc3.weight'"):
        cr.func.functional_call(cm, {**cp, "fc3.weight": cp["fc1.weight"]}, (cx,), strict=True)
    # not strict: an unknown name is still an error (torch would set a plain attribute)
    with pytest.raises(RuntimeError, match=r"'fc1.wieght' \(did you mean 'fc1.weight'\?\)"):
        cr.func.functional_call(cm, {"fc1.wieght": cp["fc1.weight"]}, (cx,))
    with pytest.raises(ValueError, match="appeared in multiple dictionaries"):
        cr.func.functional_call(cm, ({"fc1.bias": cp["fc1.bias"]},
                                     {"fc1.bias": cp["fc1.bias"]}), (cx,))
    with pytest.raises(ValueError, match="to be a dict, or a list/tuple of dicts"):
        cr.func.functional_call(cm, 3, (cx,))
    with pytest.raises(TypeError, match=r"value for 'fc1.bias' is a ndarray.*cr.tensor"):
        cr.func.functional_call(cm, {"fc1.bias": np.zeros(5)}, (cx,))
    assert_unchanged(cm, before)


def test_functional_call_restores_module_after_exception() -> None:
    cm, tm = pair()
    cp, tp = fresh_params(tm)
    before, tbefore = snapshot(cm), snapshot(tm)
    bad_c, bad_t = cr.tensor(np.ones((2, 7))), torch.ones(2, 7, dtype=torch.float64)  # 7 features: fc1 fails
    with pytest.raises(RuntimeError, match="cannot be multiplied"):
        tfunc.functional_call(tm, tp, (bad_t,))
    with pytest.raises(ValueError, match="in_features=3"):
        cr.func.functional_call(cm, cp, (bad_c,))
    assert_unchanged(cm, before)
    assert_unchanged(tm, tbefore)


class CrTied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(2, 2)
        self.b = nn.Linear(2, 2)
        self.b.weight = self.a.weight

    def forward(self, x: Any) -> Any:
        return self.b(cr.tanh(self.a(x)))


class TorchTied(tnn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = tnn.Linear(2, 2)
        self.b = tnn.Linear(2, 2)
        self.b.weight = self.a.weight

    def forward(self, x: Any) -> Any:
        return self.b(torch.tanh(self.a(x)))


def test_functional_call_tie_weights() -> None:
    torch.manual_seed(3)
    tm = TorchTied().double()
    cm = CrTied().double()
    cm.load_state_dict(tm.state_dict())
    assert cm.b.weight is cm.a.weight
    w = np.random.default_rng(4).normal(size=(2, 2))
    x = np.random.default_rng(5).normal(size=(3, 2))
    before = snapshot(cm)
    for tie in (True, False):
        c = cr.func.functional_call(cm, {"a.weight": cr.tensor(w)}, (cr.tensor(x),),
                                    tie_weights=tie)
        t = tfunc.functional_call(tm, {"a.weight": torch.tensor(w)}, (torch.tensor(x),),
                                  tie_weights=tie)
        close(c, t, RTOL, f"tie_weights={tie}")
    tied = cr.func.functional_call(cm, {"a.weight": cr.tensor(w)}, (cr.tensor(x),))
    untied = cr.func.functional_call(cm, {"a.weight": cr.tensor(w)}, (cr.tensor(x),),
                                     tie_weights=False)
    assert not np.allclose(tied.data, untied.data)
    with pytest.raises(ValueError, match=r"multiple values for keys \['a.weight', "
                                         r"'b.weight'\], which are tied"):
        cr.func.functional_call(cm, {"a.weight": cr.tensor(w), "b.weight": cr.zeros(2, 2)},
                                (cr.tensor(x),))
    # the gradient with respect to a tied weight gathers both uses
    tg = tfunc.grad(lambda p: tfunc.functional_call(tm, p, (torch.tensor(x),)).sum())(
        {"a.weight": torch.tensor(w)})
    cg = cr.func.grad(lambda p: cr.func.functional_call(cm, p, (cr.tensor(x),)).sum())(
        {"a.weight": cr.tensor(w)})
    close(cg["a.weight"], tg["a.weight"], RTOL, "tied gradient")
    assert_unchanged(cm, before)


def test_functional_call_shared_submodule_restored() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(2, 2)
            self.b = self.a

        def forward(self, x: Any) -> Any:
            return self.b(self.a(x))

    m = Shared()
    before = snapshot(m)
    out = cr.func.functional_call(m, {"a.weight": cr.eye(2), "a.bias": cr.zeros(2)},
                                  (cr.tensor([[1.0, 2.0]]),))
    np.testing.assert_array_equal(out.data, [[1.0, 2.0]])
    # (torch 2.13 leaves the new weight in a shared sub-module; chainrule puts its own back)
    assert m.a.weight is before[0][1] and m.b.weight is before[0][1]
    assert_unchanged(m, before)


def test_stateless_functional_call_is_deprecated_alias() -> None:
    cm, tm = pair()
    cp, tp = fresh_params(tm)
    cx, _, tx, _ = data()
    with pytest.warns(FutureWarning, match="cr.func.functional_call"):
        c = cr.nn.utils.stateless.functional_call(cm, cp, (cx,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        t = torch.nn.utils.stateless.functional_call(tm, tp, (tx,))
    close(c, t, RTOL, "stateless")
    with pytest.warns(FutureWarning), pytest.raises(TypeError, match="tuple of dicts"):
        cr.nn.utils.stateless.functional_call(cm, (cp,), (cx,))


# --------------------------------------------------------------------------- uses

def test_per_sample_gradients_match_vmap() -> None:
    cm, tm = pair(seed=6)
    cx, cy, tx, ty = data(5, seed=7)
    cp = {k: v.detach() for k, v in cm.named_parameters()}
    tp = {k: v.detach() for k, v in tm.named_parameters()}

    def closs(p: dict, x: Any, y: Any) -> Any:
        return cr.nn.functional.mse_loss(cr.func.functional_call(cm, p, (x[None],)), y[None])

    def tloss(p: dict, x: Any, y: Any) -> Any:
        return tnn.functional.mse_loss(tfunc.functional_call(tm, p, (x[None],)), y[None])

    tg = tfunc.vmap(tfunc.grad(tloss), in_dims=(None, 0, 0))(tp, tx, ty)
    per = [cr.func.grad(closs)(cp, cx[i], cy[i]) for i in range(5)]
    for k in tp:
        close(cr.stack([g[k] for g in per]), tg[k], RTOL, f"per-sample {k}")
    # they differ per sample (so the loop is not returning one gradient five times)
    assert not np.allclose(per[0]["fc1.weight"].data, per[1]["fc1.weight"].data)


def test_maml_second_order_matches_torch() -> None:
    cm, tm = pair(seed=8)
    cxs, cys, txs, tys = data(4, seed=9)
    cxq, cyq, txq, tyq = data(4, seed=10)
    lr = 0.5

    def make(F: Any, fc: Any, grad: Any) -> tuple[Any, Any]:
        model = cm if fc is cr.func.functional_call else tm

        def loss(p: dict, x: Any, y: Any) -> Any:
            return F.mse_loss(fc(model, p, (x,)), y)

        def outer(p: dict, xs: Any, ys: Any, xq: Any, yq: Any) -> Any:
            g = grad(loss)(p, xs, ys)
            adapted = {k: p[k] - lr * g[k] for k in p}
            return loss(adapted, xq, yq)

        return loss, outer

    _, touter = make(tnn.functional, tfunc.functional_call, tfunc.grad)
    closs, couter = make(cr.nn.functional, cr.func.functional_call, cr.func.grad)
    tp = {k: v.detach() for k, v in tm.named_parameters()}
    cp = {k: v.detach() for k, v in cm.named_parameters()}
    tg = tfunc.grad(touter)(tp, txs, tys, txq, tyq)
    cg = cr.func.grad(couter)(cp, cxs, cys, cxq, cyq)
    for k in tg:
        close(cg[k], tg[k], RTOL, f"meta-gradient {k}")
    # the second-order term matters: the first-order approximation differs
    g_in = cr.func.grad(closs)(cp, cxs, cys)
    adapted = {k: cp[k] - lr * g_in[k] for k in cp}
    first = cr.func.grad(closs)(adapted, cxq, cyq)
    assert not np.allclose(first["fc1.weight"].data, cg["fc1.weight"].data, rtol=1e-3)
    # and through backward (create the graph of the inner step by hand)
    cpr = {k: v.detach().requires_grad_() for k, v in cm.named_parameters()}
    couter(cpr, cxs, cys, cxq, cyq).backward()
    for k in tg:
        close(cpr[k].grad, tg[k], RTOL, f"meta-gradient by backward {k}")


# --------------------------------------------------------------------------- conventions

def test_grad_and_value_order_and_has_aux() -> None:
    x = np.array([0.5, -1.0, 2.0])

    def cf(v: Any) -> Any:
        return (v ** 3).sum(), {"sq": v ** 2}

    def tf(v: Any) -> Any:
        return (v ** 3).sum(), {"sq": v ** 2}

    tg, (tv, taux) = tfunc.grad_and_value(tf, has_aux=True)(torch.tensor(x))
    cg, (cv, caux) = cr.func.grad_and_value(cf, has_aux=True)(cr.tensor(x))
    close(cg, tg, RTOL, "grad")
    close(cv, tv, RTOL, "value")
    close(caux["sq"], taux["sq"], RTOL, "aux")
    tg2, tv2 = tfunc.grad_and_value(lambda v: tf(v)[0])(torch.tensor(x))
    cg2, cv2 = cr.func.grad_and_value(lambda v: cf(v)[0])(cr.tensor(x))
    assert cg2.shape == (3,) and cv2.shape == ()  # (grad, value): not cr.value_and_grad's
    close(cg2, tg2, RTOL, "grad")
    close(cv2, tv2, RTOL, "value")
    cv3, cg3 = cr.value_and_grad(lambda v: cf(v)[0])(cr.tensor(x))
    close(cg3, tg2, RTOL, "cr.value_and_grad's grad")
    cg4, caux4 = cr.func.grad(cf, has_aux=True)(cr.tensor(x))
    tg4, taux4 = tfunc.grad(tf, has_aux=True)(torch.tensor(x))
    close(cg4, tg4, RTOL, "grad has_aux")
    close(caux4["sq"], taux4["sq"], RTOL, "grad aux")
    # argnums tuple over a tensor and a dict
    y = {"a": np.array(1.5), "b": np.array([2.0, 3.0])}

    def h(v: Any, p: dict, lib: Any) -> Any:
        return (lib.sin(v) * p["a"]).sum() + (p["b"] * v[:2]).sum()

    tg5 = tfunc.grad(lambda v, p: h(v, p, torch), argnums=(0, 1))(
        torch.tensor(x), {k: torch.tensor(a) for k, a in y.items()})
    cg5 = cr.func.grad(lambda v, p: h(v, p, cr), argnums=(0, 1))(
        cr.tensor(x), {k: cr.tensor(a) for k, a in y.items()})
    close(cg5[0], tg5[0], RTOL, "argnums 0")
    for k in y:
        close(cg5[1][k], tg5[1][k], RTOL, f"argnums 1 {k}")
    with pytest.raises(TypeError, match=r"argument 0\['n'\] has dtype int64"):
        cr.func.grad(lambda p: p["n"].sum())({"n": cr.tensor([1, 2])})


def test_vjp_jvp_jacobians_on_pytrees() -> None:
    rng = np.random.default_rng(11)
    w, b, x = rng.normal(size=(2, 3)), rng.normal(size=2), rng.normal(size=3)

    def f(p: dict, v: Any, lib: Any) -> Any:
        h = lib.tanh(p["w"] @ v + p["b"])
        return {"h": h, "s": (h * h).sum()}

    cp, tp = {"w": cr.tensor(w), "b": cr.tensor(b)}, {"w": torch.tensor(w), "b": torch.tensor(b)}
    cxv, txv = cr.tensor(x), torch.tensor(x)
    # vjp: cotangents in the output's structure, one result per primal
    ct = {"h": rng.normal(size=2), "s": np.array(0.7)}
    tout, tfn = tfunc.vjp(lambda p, v: f(p, v, torch), tp, txv)
    cout, cfn = cr.func.vjp(lambda p, v: f(p, v, cr), cp, cxv)
    close(cout["h"], tout["h"], RTOL, "vjp out")
    tres = tfn({k: torch.tensor(a) for k, a in ct.items()})
    cres = cfn({k: cr.tensor(a) for k, a in ct.items()})
    assert isinstance(cres, tuple) and len(cres) == 2
    close(cres[0]["w"], tres[0]["w"], RTOL, "vjp w")
    close(cres[1], tres[1], RTOL, "vjp x")
    with pytest.raises(ValueError, match="cotangents is a dict with keys \\['h'\\]"):
        cfn({"h": cr.ones(2)})
    # jvp: tangents in the primals' structure
    tw, tb, tx_ = rng.normal(size=(2, 3)), rng.normal(size=2), rng.normal(size=3)
    tj = tfunc.jvp(lambda p, v: f(p, v, torch), (tp, txv),
                   ({"w": torch.tensor(tw), "b": torch.tensor(tb)}, torch.tensor(tx_)))
    cj = cr.func.jvp(lambda p, v: f(p, v, cr), (cp, cxv),
                     ({"b": cr.tensor(tb), "w": cr.tensor(tw)}, cr.tensor(tx_)))
    for k in ("h", "s"):
        close(cj[0][k], tj[0][k], RTOL, f"jvp out {k}")
        close(cj[1][k], tj[1][k], RTOL, f"jvp tangent {k}")
    with pytest.raises(RuntimeError, match="independent of the inputs"):
        cr.func.jvp(lambda v: (v * 2, cr.ones(2)), (cxv,), (cxv,), strict=True)
    _, zero = cr.func.jvp(lambda v: cr.ones(2), (cxv,), (cxv,))
    np.testing.assert_array_equal(zero.data, 0)
    # Jacobians: the output's structure outside, the argument's inside
    for name in ("jacrev", "jacfwd"):
        tJ = getattr(tfunc, name)(lambda p, v: f(p, v, torch), argnums=(0, 1))(tp, txv)
        cJ = getattr(cr.func, name)(lambda p, v: f(p, v, cr), argnums=(0, 1))(cp, cxv)
        for k in ("h", "s"):
            close(cJ[k][0]["w"], tJ[k][0]["w"], RTOL, f"{name} {k} w")
            close(cJ[k][0]["b"], tJ[k][0]["b"], RTOL, f"{name} {k} b")
            close(cJ[k][1], tJ[k][1], RTOL, f"{name} {k} x")
    # Hessian over a dict
    tH = tfunc.hessian(lambda p: f(p, txv, torch)["s"])(tp)
    cH = cr.func.hessian(lambda p: f(p, cxv, cr)["s"])(cp)
    for a in ("w", "b"):
        for c in ("w", "b"):
            close(cH[a][c], tH[a][c], RTOL, f"hessian {a} {c}")
    # has_aux: keyword-only for jacrev (as torch.func); jvp's too
    J, aux = cr.func.jacrev(lambda v: (v * 2, v.sum()), has_aux=True)(cxv)
    close(J, 2 * torch.eye(3, dtype=torch.float64), RTOL, "jacrev has_aux")
    with pytest.raises(TypeError):
        cr.func.jacrev(lambda v: v, 0, True)  # type: ignore[misc]
    out, tangent, aux = cr.func.jvp(lambda v: (v * 2, "aux"), (cxv,), (cxv,), has_aux=True)
    assert aux == "aux"


def test_vmap_is_exported() -> None:
    # (its behaviour is tested in test_func_vmap.py)
    assert cr.func.vmap is cr.vmap and "vmap" in cr.func.__all__ and "vmap" in cr.__all__
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        cr.func.nope  # noqa: B018
    assert set(cr.func.__all__) <= set(tfunc.__all__)


def test_jvp_names_a_bad_tangent_by_its_place_in_the_pytree() -> None:
    """Not by its index among the flattened leaves ("tangent 1"), which the caller never sees."""
    primals = ({"w": cr.ones(2), "b": cr.ones(3)},)
    with pytest.raises(ValueError, match=r"jvp: tangents\[0\]\['b'\] has shape \(2,\), which "
                                         r"does not match its primal's shape \(3,\)"):
        cr.func.jvp(lambda p: p["w"].sum(), primals, ({"w": cr.ones(2), "b": cr.ones(2)},))
    with pytest.raises(TypeError, match=r"jvp: tangents\[0\]\['w'\] has dtype float64 but its "
                                        r"primal has dtype float32"):
        cr.func.jvp(lambda p: p["w"].sum(), primals,
                    ({"w": cr.ones(2, dtype=np.float64), "b": cr.ones(3)},))
