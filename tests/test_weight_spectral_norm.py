"""cr.nn.utils.weight_norm / spectral_norm (PyTorch's hook-based API) against torch: outputs,
gradients with respect to the new parameters and the input, state dicts (keys, and u/v after
training-mode forwards), eval mode, remove_*, errors, and use with cr.func."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, TORCH_DTYPE, close

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")
tnn = torch.nn
tutils = torch.nn.utils

LAYERS: dict[str, tuple[Callable[[], Any], Callable[[], Any], tuple[int, ...]]] = {
    "Linear": (lambda: nn.Linear(4, 3), lambda: tnn.Linear(4, 3), (5, 4)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3), lambda: tnn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 2, 2), lambda: tnn.ConvTranspose2d(3, 2, 2),
                        (2, 3, 4, 4)),
}


def plain_pair(layer: str, dtype: Any, seed: int = 0) -> tuple[nn.Module, Any, tuple]:
    make_cr, make_torch, shape = LAYERS[layer]
    torch.manual_seed(seed)
    tm = make_torch().to(TORCH_DTYPE[dtype])
    cm = make_cr().to(dtype)
    cm.load_state_dict(tm.state_dict())
    return cm, tm, shape


def torch_weight_norm(m: Any, **kw: Any) -> Any:
    with warnings.catch_warnings():  # (torch deprecates it for the parametrizations API)
        warnings.simplefilter("ignore", FutureWarning)
        return tutils.weight_norm(m, **kw)


def compare_step(cm: nn.Module, tm: Any, x: np.ndarray, rtol: float, what: str,
                 seed: int = 0) -> None:
    """One forward and backward: the outputs, the input gradient, every parameter's gradient;
    the gradients are reset afterwards."""
    tx = torch.tensor(x, requires_grad=True)
    cx = cr.tensor(x, requires_grad=True)
    tout, cout = tm(tx), cm(cx)
    close(cout, tout, rtol, f"{what}: output")
    g = np.random.default_rng(seed).normal(size=tuple(tout.shape)).astype(x.dtype)
    tout.backward(torch.tensor(g))
    cout.backward(cr.tensor(g))
    close(cx.grad, tx.grad, rtol, f"{what}: input gradient")
    for name, tp in tm.named_parameters():
        cp = dict(cm.named_parameters())[name]
        assert cp.grad is not None, f"{what}: no gradient for {name}"
        close(cp.grad, tp.grad, rtol, f"{what}: {name} gradient")
        tp.grad, cp.grad = None, None


def compare_state(cm: nn.Module, tm: Any, rtol: float, what: str) -> None:
    cs, ts = cm.state_dict(), tm.state_dict()
    assert list(cs) == list(ts), f"{what}: keys {list(cs)} vs torch {list(ts)}"
    for k in ts:
        close(cs[k], ts[k], rtol, f"{what}: state_dict[{k!r}]")


# --------------------------------------------------------------------------- weight_norm

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layer,dim", [("Linear", 0), ("Linear", 1), ("Linear", None),
                                       ("Conv2d", 0), ("Conv2d", 2), ("Conv2d", None),
                                       ("Conv2d", -3)])
def test_weight_norm_matches_torch(layer: str, dim: Any, dtype: Any) -> None:
    rtol = TOL[dtype]
    cm, tm, shape = plain_pair(layer, dtype)
    torch_weight_norm(tm, dim=dim)
    assert cr.nn.utils.weight_norm(cm, dim=dim) is cm
    assert tuple(cm.weight_g.shape) == tuple(tm.weight_g.shape)
    assert isinstance(cm.weight_g, nn.Parameter) and isinstance(cm.weight_v, nn.Parameter)
    assert "weight" not in cm._parameters
    compare_state(cm, tm, rtol, "after weight_norm")  # (g = ‖w‖, v = w: computed the same)
    close(cm.weight, tm.weight, rtol, "the weight at once")
    x = np.random.default_rng(1).normal(size=shape).astype(dtype)
    compare_step(cm, tm, x, rtol, f"{layer} dim={dim}")
    # the hook recomputes the weight before each call: change g and v in place
    rng = np.random.default_rng(2)
    for name in ("weight_g", "weight_v"):
        new = rng.normal(size=tuple(tm.get_parameter(name).shape)).astype(dtype)
        with torch.no_grad():
            tm.get_parameter(name).copy_(torch.tensor(new))
        cm.get_parameter(name).data[...] = new
    compare_step(cm, tm, x, rtol, f"{layer} dim={dim}, new g and v", seed=3)
    w = cm.weight.data
    axes = tuple(d for d in range(w.ndim) if d != (dim % w.ndim if dim not in (None, -1)
                                                   else None))
    np.testing.assert_allclose(np.sqrt((w ** 2).sum(axis=axes, keepdims=dim is not None)),
                               np.abs(cm.weight_g.data), rtol=rtol * 10)  # (‖w‖ = |g|)


def test_remove_weight_norm_restores_a_parameter() -> None:
    cm, tm, shape = plain_pair("Conv2d", np.float64)
    torch_weight_norm(tm)
    cr.nn.utils.weight_norm(cm)
    with torch.no_grad():
        tm.weight_g.mul_(1.5)
    cm.weight_g.data *= 1.5
    tutils.remove_weight_norm(tm)
    assert cr.nn.utils.remove_weight_norm(cm) is cm
    assert isinstance(cm._parameters["weight"], nn.Parameter) and cm.weight.grad_fn is None
    assert not cm._forward_pre_hooks
    assert not hasattr(cm, "weight_g") and not hasattr(cm, "weight_v")
    compare_state(cm, tm, 1e-10, "after remove_weight_norm")
    x = np.random.default_rng(4).normal(size=shape)
    compare_step(cm, tm, x, 1e-10, "after remove_weight_norm")
    # and it can be applied again
    cr.nn.utils.weight_norm(cm)
    torch_weight_norm(tm)
    compare_state(cm, tm, 1e-10, "weight_norm again")


def test_weight_norm_errors() -> None:
    m = cr.nn.utils.weight_norm(nn.Linear(2, 3))
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks on the "
                                           "same parameter weight"):
        cr.nn.utils.weight_norm(m)
    with pytest.raises(AttributeError, match=r"Linear has no parameter 'wieght'; its "
                                             r"parameters are \['weight', 'bias'\]"):
        cr.nn.utils.weight_norm(nn.Linear(2, 3), name="wieght")
    with pytest.raises(ValueError, match="parameter 'bias' of Linear is None"):
        cr.nn.utils.weight_norm(nn.Linear(2, 3, bias=False), name="bias")
    with pytest.raises(IndexError, match=r"dim=2 is out of range for 'weight' of shape \(3, 2\)"):
        cr.nn.utils.weight_norm(nn.Linear(2, 3), dim=2)
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found in Linear"):
        cr.nn.utils.remove_weight_norm(nn.Linear(2, 3))
    with pytest.raises(ValueError, match="weight_norm of 'bias' not found"):
        cr.nn.utils.remove_weight_norm(m, "bias")
    # (torch: the same exception types)
    tm = torch_weight_norm(tnn.Linear(2, 3))
    with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
        torch_weight_norm(tm)
    with pytest.raises(AttributeError):
        torch_weight_norm(tnn.Linear(2, 3), name="wieght")
    with pytest.raises(ValueError):
        tutils.remove_weight_norm(tnn.Linear(2, 3))


def test_weight_norm_with_func_grad() -> None:
    cm, tm, shape = plain_pair("Linear", np.float64)
    torch_weight_norm(tm)
    cr.nn.utils.weight_norm(cm)
    x = np.random.default_rng(5).normal(size=shape)
    tp = {k: v.detach() for k, v in tm.named_parameters()}
    cp = {k: v.detach() for k, v in cm.named_parameters()}
    tg = torch.func.grad(lambda p: (torch.func.functional_call(tm, p, torch.tensor(x)) ** 2)
                         .sum())(tp)
    cg = cr.func.grad(lambda p: (cr.func.functional_call(cm, p, cr.tensor(x)) ** 2).sum())(cp)
    for k in tg:
        close(cg[k], tg[k], 1e-10, f"cr.func.grad {k}")


# --------------------------------------------------------------------------- spectral_norm

def spectral_pair(layer: str, dtype: Any, **kw: Any) -> tuple[nn.Module, Any, tuple]:
    cm, tm, shape = plain_pair(layer, dtype)
    tutils.spectral_norm(tm, **kw)
    assert cr.nn.utils.spectral_norm(cm, **kw) is cm
    # torch draws u and v at random: start chainrule's power iteration from torch's
    missing, unexpected = cm.load_state_dict(tm.state_dict())
    assert not missing and not unexpected
    return cm, tm, shape


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layer,iters", [("Linear", 1), ("Conv2d", 1), ("Conv2d", 3),
                                         ("ConvTranspose2d", 1)])
def test_spectral_norm_matches_torch(layer: str, iters: int, dtype: Any) -> None:
    rtol = TOL[dtype]
    cm, tm, shape = spectral_pair(layer, dtype, n_power_iterations=iters)
    hook = next(iter(cm._forward_pre_hooks.values()))
    assert hook.dim == (1 if layer == "ConvTranspose2d" else 0)
    assert cm.weight_u.shape == tuple(tm.weight_u.shape)
    assert isinstance(cm.weight_orig, nn.Parameter) and "weight" not in cm._parameters
    u0 = cm.weight_u.data.copy()
    rng = np.random.default_rng(6)
    for step in range(3):  # training mode: u and v move with each forward, as torch's
        x = rng.normal(size=shape).astype(dtype)
        compare_step(cm, tm, x, rtol, f"{layer} train step {step}", seed=step)
        compare_state(cm, tm, rtol, f"{layer} after train step {step}")
    assert not np.allclose(cm.weight_u.data, u0)
    close(cm.weight, tm.weight, rtol, "the normalised weight")
    cm.eval()
    tm.eval()
    u1, v1 = cm.weight_u.data.copy(), cm.weight_v.data.copy()
    for step in range(2):  # eval mode: no power iteration
        x = rng.normal(size=shape).astype(dtype)
        compare_step(cm, tm, x, rtol, f"{layer} eval step {step}", seed=10 + step)
    np.testing.assert_array_equal(cm.weight_u.data, u1)
    np.testing.assert_array_equal(cm.weight_v.data, v1)
    compare_state(cm, tm, rtol, f"{layer} after eval")


def test_spectral_norm_estimates_the_largest_singular_value() -> None:
    cr.manual_seed(0)
    m = cr.nn.utils.spectral_norm(nn.Linear(6, 5).double(), n_power_iterations=30)
    m(cr.zeros(1, 6, dtype=cr.float64))
    assert np.linalg.svd(m.weight.data, compute_uv=False)[0] == pytest.approx(1.0, rel=1e-8)
    assert np.linalg.svd(m.weight_orig.data, compute_uv=False)[0] > 1e-3


def test_remove_spectral_norm_restores_a_parameter() -> None:
    cm, tm, shape = spectral_pair("Conv2d", np.float64)
    x = np.random.default_rng(7).normal(size=shape)
    compare_step(cm, tm, x, 1e-10, "before remove")
    tutils.remove_spectral_norm(tm)
    assert cr.nn.utils.remove_spectral_norm(cm) is cm
    assert isinstance(cm._parameters["weight"], nn.Parameter) and cm.weight.grad_fn is None
    assert not cm._forward_pre_hooks
    for name in ("weight_orig", "weight_u", "weight_v"):
        assert not hasattr(cm, name)
    compare_state(cm, tm, 1e-10, "after remove_spectral_norm")
    compare_step(cm, tm, x, 1e-10, "after remove_spectral_norm")


def test_spectral_norm_errors() -> None:
    m = cr.nn.utils.spectral_norm(nn.Linear(2, 3))
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks on the "
                                           "same parameter weight"):
        cr.nn.utils.spectral_norm(m)
    with pytest.raises(KeyError, match=r"Linear has no parameter 'wieght'"):
        cr.nn.utils.spectral_norm(nn.Linear(2, 3), name="wieght")
    with pytest.raises(ValueError, match="parameter `bias` is None"):
        cr.nn.utils.spectral_norm(nn.Linear(2, 3, bias=False), name="bias")
    with pytest.raises(ValueError, match="n_power_iterations to be positive, but got "
                                         "n_power_iterations=0"):
        cr.nn.utils.spectral_norm(nn.Linear(2, 3), n_power_iterations=0)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found in Linear"):
        cr.nn.utils.remove_spectral_norm(nn.Linear(2, 3))
    # (torch: the same exception types)
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm hooks"):
        tutils.spectral_norm(tutils.spectral_norm(tnn.Linear(2, 3)))
    with pytest.raises(KeyError):
        tutils.spectral_norm(tnn.Linear(2, 3), name="wieght")
    with pytest.raises(ValueError):
        tutils.spectral_norm(tnn.Linear(2, 3), n_power_iterations=0)


def test_spectral_norm_with_functional_call_updates_passed_buffers() -> None:
    cm, tm, shape = spectral_pair("Linear", np.float64)
    x = np.random.default_rng(8).normal(size=shape)
    tb = {k: v.detach().clone() for k, v in tm.named_buffers()}
    cb = {k: cr.tensor(v.numpy().copy()) for k, v in tb.items()}
    own_u = cm.weight_u.data.copy()
    close(cr.func.functional_call(cm, cb, cr.tensor(x)),
          torch.func.functional_call(tm, tb, torch.tensor(x)), 1e-10, "output")
    for k in tb:  # power iteration ran on the tensors passed in, in place (as torch)
        close(cb[k], tb[k], 1e-10, f"passed {k}")
    assert not np.allclose(cb["weight_u"].data, own_u)
    np.testing.assert_array_equal(cm.weight_u.data, own_u)
