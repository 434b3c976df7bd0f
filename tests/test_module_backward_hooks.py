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
