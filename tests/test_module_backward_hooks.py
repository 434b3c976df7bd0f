"""Module.register_full_backward_hook / register_full_backward_pre_hook against PyTorch: the
hooks see the same gradients, their replacements change the same downstream gradients, and
bad return values get clear errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")


def _np(g: Any) -> np.ndarray | None:
    if g is None:
        return None
    return g.detach().numpy().copy() if isinstance(g, torch.Tensor) else g.numpy().copy()


def _same(a: tuple, b: tuple, what: str) -> None:
    assert len(a) == len(b), what
    for k, (x, y) in enumerate(zip(a, b)):
        if x is None or y is None:
            assert x is None and y is None, f"{what}[{k}]: {x} vs {y}"
        else:
            np.testing.assert_allclose(x, y, rtol=1e-12, err_msg=f"{what}[{k}]")


def _two_in_two_out(lib: Any) -> Any:
    class Block(lib.nn.Module):
        """forward(x, y, scale) -> (tanh(x·W)·y·scale, x + 1, 5): two tensor inputs, a number,
        and an output that the loss may not use."""

        def __init__(self) -> None:
            super().__init__()
            self.lin = lib.nn.Linear(3, 3, dtype=lib.float64)

        def forward(self, x: Any, y: Any, scale: float) -> tuple:
            return lib.tanh(self.lin(x)) * y * scale, x + 1, 5

    return Block()


def _run(lib: Any, block: Any, x: np.ndarray, y: np.ndarray, use_second: bool,
         y_grad: bool = True, replace: bool = False) -> dict:
    seen: dict = {"hook": [], "pre": []}

    def pre(module: Any, grad_output: tuple) -> Any:
        seen["pre"].append(tuple(_np(g) for g in grad_output))
        if replace:
            return tuple(None if g is None else g * 3 for g in grad_output)
        return None

    def hook(module: Any, grad_input: tuple, grad_output: tuple) -> Any:
        seen["hook"].append((tuple(_np(g) for g in grad_input),
                             tuple(_np(g) for g in grad_output)))
        if replace:
            return tuple(None if g is None else g * 2 + 1 for g in grad_input)
        return None

    block.register_full_backward_pre_hook(pre)
    block.register_full_backward_hook(hook)
    tx = lib.tensor(x, requires_grad=True)
    ty = lib.tensor(y, requires_grad=y_grad)
    a, b, _ = block(tx, ty, 0.5)
    loss = (a ** 2).sum() + ((b ** 3).sum() if use_second else 0)
    loss.backward()
    seen["x.grad"] = _np(tx.grad)
    seen["y.grad"] = _np(ty.grad)
    seen["w.grad"] = _np(block.lin.weight.grad)
    return seen


@pytest.mark.parametrize("use_second", [True, False])
@pytest.mark.parametrize("replace", [False, True])
@pytest.mark.parametrize("y_grad", [True, False])
def test_hooks_see_and_replace_gradients_as_torch(use_second: bool, replace: bool,
                                                  y_grad: bool) -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    tb, cb = _two_in_two_out(torch), _two_in_two_out(cr)
    cb.load_state_dict(tb.state_dict())
    t = _run(torch, tb, x, y, use_second, y_grad, replace)
    c = _run(cr, cb, x, y, use_second, y_grad, replace)
    assert len(c["pre"]) == len(t["pre"]) == 1
    assert len(c["hook"]) == len(t["hook"]) == 1
    _same(c["pre"][0], t["pre"][0], "pre-hook grad_output")
    _same(c["hook"][0][1], t["hook"][0][1], "hook grad_output")
    c_in, t_in = c["hook"][0][0], t["hook"][0][0]
    # PyTorch hands a tensor input that does not require grad a zero gradient (an artefact of
    # its hook function); chainrule hands None, as for a non-tensor argument.
    if not y_grad:
        assert c_in[1] is None and not np.any(t_in[1])
        c_in, t_in = (c_in[0], c_in[2]), (t_in[0], t_in[2])
    _same(c_in, t_in, "hook grad_input")
    for key in ("x.grad", "w.grad") + (("y.grad",) if y_grad else ()):
        np.testing.assert_allclose(c[key], t[key], rtol=1e-12, err_msg=key)
    if replace:  # the replacements took effect: not the plain gradient
        plain = _run(cr, _copy_of(cb), x, y, use_second, y_grad, replace=False)
        assert not np.allclose(plain["x.grad"], c["x.grad"])


def _copy_of(block: Any) -> Any:
    fresh = _two_in_two_out(cr)
    fresh.load_state_dict(block.state_dict())
    return fresh


def test_no_input_requires_grad_hook_runs_with_none() -> None:
    seen = []
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda m, gi, go: seen.append((gi, go)))
    lin(cr.randn(4, 3)).sum().backward()
    assert len(seen) == 1
    grad_input, grad_output = seen[0]
    assert grad_input == (None,)
    np.testing.assert_array_equal(grad_output[0].numpy(), np.ones((4, 2), np.float32))
    assert lin.weight.grad is not None


def test_no_input_requires_grad_hook_may_not_return_gradients() -> None:
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda m, gi, go: (cr.ones(4, 3),))
    with pytest.raises(RuntimeError, match="no input of the module requires grad"):
        lin(cr.randn(4, 3)).sum().backward()


def test_wrong_number_of_gradients() -> None:
    lin = nn.Linear(3, 2)
    lin.register_full_backward_hook(lambda m, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input, got 2, but expected 1"):
        lin(cr.randn(4, 3, requires_grad=True)).sum().backward()
    lin2 = nn.Linear(3, 2)
    lin2.register_full_backward_pre_hook(lambda m, go: ())
    with pytest.raises(RuntimeError, match="invalid number of grad_output, got 0, but "
                                           "expected 1"):
        lin2(cr.randn(4, 3, requires_grad=True)).sum().backward()


def test_wrong_shape_or_type_of_gradient() -> None:
    lin = nn.Linear(3, 2)
    lin.register_full_backward_pre_hook(lambda m, go: (cr.ones(4, 5),))
    with pytest.raises(cr.ChainruleError, match=r"returned \(4, 5\) at position 0.*shape "
                                                r"\(4, 2\)"):
        lin(cr.randn(4, 3, requires_grad=True)).sum().backward()
    lin2 = nn.Linear(3, 2)
    lin2.register_full_backward_hook(lambda m, gi, go: (np.ones((4, 3)),))
    with pytest.raises(cr.ChainruleError, match="returned ndarray at position 0"):
        lin2(cr.randn(4, 3, requires_grad=True)).sum().backward()


def test_remove_and_prepend_order() -> None:
    order: list[str] = []
    lin = nn.Linear(2, 2)
    h1 = lin.register_full_backward_hook(lambda m, gi, go: order.append("first"))
    lin.register_full_backward_hook(lambda m, gi, go: order.append("front"), prepend=True)
    lin.register_full_backward_pre_hook(lambda m, go: order.append("pre"))
    x = cr.randn(3, 2, requires_grad=True)
    lin(x).sum().backward()
    assert order == ["pre", "front", "first"]
    h1.remove()
    order.clear()
    lin(x).sum().backward()
    assert order == ["pre", "front"]


def test_once_per_backward_and_not_under_no_grad() -> None:
    calls = []
    lin = nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda m, gi, go: calls.append(1))
    x = cr.randn(3, 2, requires_grad=True)
    out = lin(x).sum()
    out.backward(retain_graph=True)
    out.backward()
    assert len(calls) == 2
    with cr.no_grad():
        y = lin(x)
    assert y.grad_fn is None


def test_sequential_gradient_flow_matches_torch() -> None:
    """The debugging use: record each layer's output-gradient norm on the way back."""
    t_model = torch.nn.Sequential(torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8),
                                  torch.nn.Tanh(), torch.nn.Linear(8, 1)).double()
    c_model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(),
                            nn.Linear(8, 1)).double()
    c_model.load_state_dict(t_model.state_dict())
    x = np.random.default_rng(1).normal(size=(6, 5))
    norms: dict[str, list] = {"t": [], "c": []}
    for tag, model, lib in (("t", t_model, torch), ("c", c_model, cr)):
        for layer in model:
            layer.register_full_backward_hook(
                lambda m, gi, go, tag=tag: norms[tag].append(float((go[0] ** 2).sum())))
        model(lib.tensor(x, requires_grad=True)).pow(2).mean().backward()
    assert len(norms["c"]) == 5
    np.testing.assert_allclose(norms["c"], norms["t"], rtol=1e-12)


def test_through_transforms_and_create_graph() -> None:
    """cr.grad (a walk towards targets) and double backward see the replaced gradients."""
    t_lin = torch.nn.Linear(3, 3, dtype=torch.float64)
    c_lin = nn.Linear(3, 3, dtype=cr.float64)
    c_lin.load_state_dict(t_lin.state_dict())
    for lin in (t_lin, c_lin):
        lin.register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))
    x = np.random.default_rng(2).normal(size=(2, 3))

    def f_cr(v: Any) -> Any:
        return (cr.tanh(c_lin(v)) ** 2).sum()

    tx = torch.tensor(x, requires_grad=True)
    (t_g,) = torch.autograd.grad((torch.tanh(t_lin(tx)) ** 2).sum(), tx, create_graph=True)
    np.testing.assert_allclose(cr.grad(f_cr)(cr.tensor(x)).numpy(), t_g.detach().numpy(),
                               rtol=1e-12)
    cx = cr.tensor(x, requires_grad=True)
    (c_g,) = cr.autograd.grad(f_cr(cx), cx, create_graph=True)
    t_g.sum().backward()
    c_g.sum().backward()
    np.testing.assert_allclose(cx.grad.numpy(), tx.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(c_lin.weight.grad.numpy(), t_lin.weight.grad.numpy(),
                               rtol=1e-10)


def test_deprecated_register_backward_hook_points_to_the_full_one() -> None:
    with pytest.raises(NotImplementedError, match="register_full_backward_hook"):
        nn.Linear(2, 2).register_backward_hook(lambda m, gi, go: None)


def test_transforms_give_the_hook_every_input_gradient_at_once() -> None:
    """Two inputs whose gradients come back along branches of different lengths: the walk
    towards targets (cr.grad) must still reach the module's inputs in a row, so the hook sees
    both gradients, as backward() and torch do."""

    def make(lib: Any) -> Any:
        class Branches(lib.nn.Module):
            def forward(self, x: Any, y: Any) -> tuple:
                a, b = x, y
                for _ in range(3):
                    a = lib.sin(a)
                for _ in range(5):
                    b = lib.cos(b) * 1.5
                return a * b, b + a

        return Branches()

    seen: dict[str, list] = {"t": [], "c": [], "c_grad": []}

    def hook(tag: str) -> Any:
        def record(m: Any, gi: tuple, go: tuple) -> tuple:
            seen[tag].append(tuple(_np(g) for g in gi))
            return tuple(g * 2 for g in gi)
        return record

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=3), rng.normal(size=3)
    results = {}
    for tag, lib in (("t", torch), ("c", cr), ("c_grad", cr)):
        module = make(lib)
        module.register_full_backward_hook(hook(tag))

        def f(a: Any, b: Any, lib: Any = lib, module: Any = module) -> Any:
            o1, o2 = module(a * 1.0, b * 1.0)
            return (o1 * lib.exp(o2)).sum()

        if tag == "c_grad":
            gx, gy = cr.grad(f, argnums=(0, 1))(cr.tensor(x), cr.tensor(y))
            results[tag] = (gx.numpy(), gy.numpy())
        else:
            tx, ty = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
            f(tx, ty).backward()
            results[tag] = (_np(tx.grad), _np(ty.grad))
    for tag in ("c", "c_grad"):
        assert len(seen[tag]) == 1, tag
        _same(seen[tag][0], seen["t"][0], f"{tag}: grad_input")
        _same(results[tag], results["t"], f"{tag}: input gradients")


def test_double_backward_reaching_only_the_inputs_does_not_run_the_hook() -> None:
    """The second backward of a double backward may reach the module's inputs without passing
    through its outputs (here: d(2x)/dx); PyTorch then skips the hook (no grad_output), so
    its replacement is not applied twice, and neither is it here."""
    results = {}
    for lib in (torch, cr):
        calls: list[int] = []
        square = _square(lib)
        square.register_full_backward_hook(
            lambda m, gi, go, calls=calls: (calls.append(1), (gi[0] * 10,))[1])
        x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
        (g,) = lib.autograd.grad(square(x).sum(), x, create_graph=True)
        g.sum().backward()
        results[lib.__name__] = (_np(g), _np(x.grad), len(calls))
    (t_g, t_x, t_calls), (c_g, c_x, c_calls) = results["torch"], results["chainrule"]
    np.testing.assert_allclose(c_g, t_g)
    np.testing.assert_allclose(c_x, t_x)  # 20, not 200
    assert c_calls == t_calls == 1


def _square(lib: Any) -> Any:
    class Square(lib.nn.Module):
        def forward(self, x: Any) -> Any:
            return x ** 2

    return Square()


def _tanh_exp(lib: Any) -> Any:
    class Two(lib.nn.Module):
        def forward(self, a: Any, b: Any) -> tuple:
            return lib.tanh(a) * b, a * 3 + b.exp()

    return Two()


def test_reverse_over_reverse_through_hooks_matches_torch() -> None:
    y = np.random.default_rng(4).normal(size=3)
    x = np.random.default_rng(5).normal(size=3)
    results = {}
    for lib in (torch, cr):
        module = _tanh_exp(lib)
        module.register_full_backward_pre_hook(lambda m, go: tuple(
            None if g is None else g * 2 for g in go))
        module.register_full_backward_hook(lambda m, gi, go: tuple(
            None if g is None else g * 2 for g in gi))

        def f(a: Any, lib: Any = lib, module: Any = module) -> Any:
            return (module(a, lib.tensor(y))[0] ** 2).sum()

        if lib is torch:
            def grad_f(a: Any, f: Any = f) -> Any:
                return torch.autograd.grad(f(a), a, create_graph=True)[0]

            results["t"] = torch.autograd.functional.jacobian(grad_f, torch.tensor(x)).numpy()
        else:
            results["c"] = cr.jacrev(cr.grad(f))(cr.tensor(x)).numpy()
    np.testing.assert_allclose(results["c"], results["t"], rtol=1e-10)


def test_grad_of_some_inputs_gives_the_hook_whole_gradients() -> None:
    """autograd.grad with respect to x alone: the hook still sees y's whole gradient, as in
    PyTorch (whose one node for the inputs runs every path into it), not the part of it that
    flows along paths that also lead to x; and gradients asked for at the module's outputs are
    those reaching them, before the pre-hook's replacement."""
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    logs: dict[str, list] = {"t": [], "c": []}
    results = {}
    for tag, lib in (("t", torch), ("c", cr)):
        log = logs[tag]
        module = _tanh_exp(lib)
        module.register_full_backward_pre_hook(lambda m, go, log=log: (
            log.append(("pre", tuple(_np(g) for g in go))), tuple(g * 2 for g in go))[1])
        module.register_full_backward_hook(lambda m, gi, go, log=log: log.append(
            ("hook", tuple(_np(g) for g in gi), tuple(_np(g) for g in go))))
        tx, ty = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        p, q = module(tx, ty)
        results[tag] = [_np(g) for g in lib.autograd.grad((p * q).sum(), (p, tx))]
    _same(tuple(results["c"]), tuple(results["t"]), "gradients of p and x")
    assert [e[0] for e in logs["c"]] == [e[0] for e in logs["t"]] == ["pre", "hook"]
    _same(logs["c"][0][1], logs["t"][0][1], "pre-hook grad_output")
    _same(logs["c"][1][1], logs["t"][1][1], "hook grad_input")
    _same(logs["c"][1][2], logs["t"][1][2], "hook grad_output")


def _nested(lib: Any, w: np.ndarray) -> Any:
    """outer(a, b) calls inner(b, outer.w): the inner module's second input is a parameter."""
    class Inner(lib.nn.Module):
        def forward(self, a: Any, b: Any) -> tuple:
            return a.sin() * b, b.exp()

    class Outer(lib.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = Inner()
            self.w = lib.nn.Parameter(lib.tensor(w))

        def forward(self, a: Any, b: Any) -> tuple:
            p, q = self.inner(b, self.w)
            return a * p + q, a.cos()

    return Outer()


def test_grad_of_some_inputs_whole_gradients_in_nested_modules() -> None:
    """The paths brought in for one group's members may reach another group (an inner
    module's) with a member still cut off (here the inner module's parameter input)."""
    rng = np.random.default_rng(8)
    x, y, w = rng.normal(size=(3, 4))
    seen: dict[str, list] = {"t": [], "c": []}
    results = {}
    for tag, lib in (("t", torch), ("c", cr)):
        outer = _nested(lib, w)
        outer.register_full_backward_hook(lambda m, gi, go: None)
        outer.inner.register_full_backward_hook(
            lambda m, gi, go, tag=tag: seen[tag].append(tuple(_np(g) for g in gi + go)))
        tx, ty = lib.tensor(x, requires_grad=True), lib.tensor(y, requires_grad=True)
        p, q = outer(tx, ty)
        results[tag] = _np(lib.autograd.grad((p * q).sum(), tx)[0])
    np.testing.assert_allclose(results["c"], results["t"], rtol=1e-12)
    assert len(seen["c"]) == len(seen["t"]) == 1
    _same(seen["c"][0], seen["t"][0], "inner grad_input + grad_output")


def _sin_pair(lib: Any) -> Any:
    class Two(lib.nn.Module):
        def forward(self, a: Any) -> tuple:
            return a * 2, a.sin()

    return Two()


def test_output_tensor_hooks_and_retain_grad_come_before_the_pre_hook() -> None:
    """As in PyTorch, the hooks registered on a module's outputs and retain_grad() see the
    gradients arriving there, and the pre-hook sees what those hooks made of them."""
    x = np.random.default_rng(7).normal(size=(4, 3))
    results = {}
    for tag, lib in (("t", torch), ("c", cr)):
        seen: list = []
        module = _sin_pair(lib)
        module.register_full_backward_pre_hook(
            lambda m, go, seen=seen: (seen.append(tuple(_np(g) for g in go)),
                                      tuple(g * 3 for g in go))[1])
        tx = lib.tensor(x, requires_grad=True)
        p, q = module(tx)
        p.retain_grad()
        q.retain_grad()
        p.register_hook(lambda g: g * 10)
        q.register_hook(lambda g: g * 10)
        ((p * q) ** 2).sum().backward()
        results[tag] = (_np(p.grad), _np(q.grad), _np(tx.grad)), seen[0]
    _same(results["c"][0], results["t"][0], "p.grad, q.grad, x.grad")
    _same(results["c"][1], results["t"][1], "pre-hook grad_output")


def test_hooked_module_graph_is_freed_without_the_cycle_collector() -> None:
    import gc
    import weakref

    lin = nn.Linear(3, 3)
    lin.register_full_backward_hook(lambda m, gi, go: None)
    lin.register_full_backward_pre_hook(lambda m, go: None)
    enabled = gc.isenabled()
    gc.disable()
    try:
        out = lin(cr.randn(4, 3, requires_grad=True))
        node = weakref.ref(out.grad_fn)
        del out
        assert node() is None  # no reference cycle through the group keeps the graph
    finally:
        if enabled:
            gc.enable()


def _pick(lib: Any) -> Any:
    class Pick(lib.nn.Module):
        def forward(self, x: Any) -> Any:
            return x[0]  # a view of the input

    return Pick()


def test_output_whose_base_changed_in_place_is_refused_not_unhooked() -> None:
    """The module's output is a view of its input, which is then changed in place: using the
    output would bypass the hooks (their replacements silently lost); PyTorch refuses it."""
    for lib, error in ((torch, RuntimeError), (cr, cr.ChainruleError)):
        pick = _pick(lib)
        pick.register_full_backward_hook(lambda m, gi, go: (gi[0] * 2,))
        x = lib.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True) * 1.0
        out = pick(x)
        x.mul_(2)
        with pytest.raises(error, match="modified in ?place"):
            (out * out).sum().backward()


def test_inplace_activation_as_a_hooked_module_matches_torch() -> None:
    """nn.ReLU(inplace=True) with hooks changes its input's member in place (PyTorch refuses
    that; chainrule keeps the hooks in the path): the same as an out-of-place ReLU in torch."""
    x = np.random.default_rng(9).normal(size=(4, 3))
    results = {}
    for tag, lib, inplace in (("t", torch, False), ("c", cr, True)):
        lin = lib.nn.Linear(3, 3, dtype=lib.float64)
        with (torch.no_grad() if lib is torch else cr.no_grad()):
            lin.weight.copy_(lib.tensor(np.eye(3) + 0.3))
            lin.bias.fill_(0.1)
        relu = lib.nn.ReLU(inplace=inplace)
        seen: list = []
        for m in (lin, relu):
            m.register_full_backward_pre_hook(lambda mod, go: (go[0] * 3,))
            m.register_full_backward_hook(lambda mod, gi, go, seen=seen: (
                seen.append((_np(gi[0]), _np(go[0]))), (gi[0] * 2,))[1])
        tx = lib.tensor(x, requires_grad=True)
        (relu(lin(tx)) ** 2).sum().backward()
        results[tag] = (_np(tx.grad), _np(lin.weight.grad)), seen
    _same(results["c"][0], results["t"][0], "x.grad, weight.grad")
    assert len(results["c"][1]) == len(results["t"][1]) == 2
    for c_pair, t_pair in zip(results["c"][1], results["t"][1]):
        _same(c_pair, t_pair, "grad_input, grad_output")
