"""Audit of cr.optim, cr.optim.lr_scheduler and cr.nn.utils against PyTorch: edge cases of
gradient clipping, PyTorch's optimizer signatures, and clear errors on bad input."""

from __future__ import annotations

import inspect
import math
import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule.nn import utils as cu
from chainrule.optim import lr_scheduler as crs
from chainrule.serialization import StateDictError

torch = pytest.importorskip("torch")
tu = torch.nn.utils

OPTIMIZERS = ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"]


def with_grads(lib: Any, grads: list[Any], dtype: str = "float32") -> list[Any]:
    """Parameters of ``lib`` whose ``.grad`` are ``grads``."""
    params = []
    for g in grads:
        arr = np.asarray(g, dtype=dtype)
        p = lib.zeros(arr.shape, dtype=getattr(lib, dtype), requires_grad=True)
        p.grad = lib.tensor(arr.copy())
        params.append(p)
    return params


def grads_of(params: list[Any]) -> list[np.ndarray]:
    return [np.asarray(p.grad.numpy() if isinstance(p, torch.Tensor) else p.grad.data)
            for p in params]


# --------------------------------------------------------------------------- clipping

GRADS: list[Any] = [[3.0, 4.0], [[1.0, -2.0], [0.5, 7.0]], [0.0, 0.0, 0.0], [0.25]]


@pytest.mark.parametrize("norm_type", [-math.inf, 0, 0.0, 1.0, 2.0, math.inf, "inf"])
def test_clip_grad_norm_every_norm_type_matches_torch(norm_type: Any) -> None:
    """-inf (the smallest magnitude) and 0 (torch's norm of the per-tensor norms: the number
    of non-zero gradients) were wrong or a ZeroDivisionError."""
    c_params, t_params = with_grads(cr, GRADS), with_grads(torch, GRADS)
    c_total = cu.clip_grad_norm_(c_params, 0.3, norm_type)
    t_total = tu.clip_grad_norm_(t_params, 0.3, norm_type)
    assert c_total.dtype == np.float32
    np.testing.assert_allclose(c_total.data, t_total.numpy(), rtol=1e-6)
    for c, t in zip(grads_of(c_params), grads_of(t_params)):
        np.testing.assert_allclose(c, t, rtol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_scales_bit_for_bit_as_torch(dtype: str) -> None:
    """The coefficient is computed as torch does, in the norm's dtype (max_norm / t is
    reciprocal(t) * max_norm), so the clipped gradients are the same floats."""
    rng = np.random.default_rng(0)
    for _ in range(30):
        grads = [rng.standard_normal(17) * 3, rng.standard_normal((4, 5))]
        max_norm = float(rng.uniform(0.1, 2.0))
        c_params, t_params = with_grads(cr, grads, dtype), with_grads(torch, grads, dtype)
        total = tu.get_total_norm([p.grad for p in t_params], 1.0)
        cu.clip_grads_with_norm_(c_params, max_norm, cr.tensor(total.numpy()))
        tu.clip_grads_with_norm_(t_params, max_norm, total)
        for c, t in zip(grads_of(c_params), grads_of(t_params)):
            np.testing.assert_array_equal(c, t)
        c_params, t_params = with_grads(cr, grads, dtype), with_grads(torch, grads, dtype)
        cu.clip_grad_norm_(c_params, max_norm, math.inf)
        tu.clip_grad_norm_(t_params, max_norm, math.inf)
        for c, t in zip(grads_of(c_params), grads_of(t_params)):
            np.testing.assert_array_equal(c, t)


def test_clip_grad_norm_of_infinite_grads_is_nan_without_a_numpy_warning() -> None:
    grads = [[math.inf, 1.0], [2.0]]
    c_params, t_params = with_grads(cr, grads), with_grads(torch, grads)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = cu.clip_grad_norm_(c_params, 1.0)
    assert math.isinf(total.item())
    tu.clip_grad_norm_(t_params, 1.0)
    for c, t in zip(grads_of(c_params), grads_of(t_params)):
        np.testing.assert_array_equal(c, t)  # nan where inf·0, zeros elsewhere


def test_negative_norm_type_with_zero_grads_warns_nothing() -> None:
    c_params, t_params = with_grads(cr, [[3.0, 0.0]]), with_grads(torch, [[3.0, 0.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        total = cu.clip_grad_norm_(c_params, 1.0, norm_type=-1)
    assert total.item() == tu.clip_grad_norm_(t_params, 1.0, norm_type=-1).item() == 0.0


def test_clip_grad_norm_warns_on_an_empty_generator() -> None:
    no_params: list[cr.Tensor] = []
    with pytest.warns(UserWarning, match="empty generator"):
        total = cu.clip_grad_norm_((p for p in no_params), 1.0)
    assert total.item() == 0.0


def test_parameters_to_vector_rejects_non_tensors_and_empty_lists() -> None:
    with pytest.raises(TypeError, match="parameters_to_vector.*int"):
        cu.parameters_to_vector([cr.ones(2), 3])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="parameters_to_vector: got no parameters"):
        cu.parameters_to_vector([])
    vec = cu.parameters_to_vector(cr.ones(2, 3))  # a single tensor, as torch
    assert vec.shape == (6,)


# --------------------------------------------------------------------------- optimizers

@pytest.mark.parametrize("name", OPTIMIZERS)
def test_optimizer_signatures_are_torchs(name: str) -> None:
    """PyTorch's names, order, kinds and defaults, so torch code (``foreach=False``,
    ``fused=True``, RMSprop's positional ``maximize``) runs unchanged."""
    t_sig = inspect.signature(getattr(torch.optim, name).__init__).parameters
    c_sig = inspect.signature(getattr(cr.optim, name).__init__).parameters
    assert [(k, v.kind) for k, v in c_sig.items()] == [(k, v.kind) for k, v in t_sig.items()]
    assert {k: v.default for k, v in c_sig.items()} == {k: v.default for k, v in t_sig.items()}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_implementation_switches_are_accepted_but_differentiable_is_refused(name: str) -> None:
    extra = {"foreach": False, "fused": True, "capturable": True}
    names = inspect.signature(getattr(cr.optim, name).__init__).parameters
    getattr(cr.optim, name)([cr.zeros(2, requires_grad=True)],
                            **{k: v for k, v in extra.items() if k in names})
    with pytest.raises(NotImplementedError, match=rf"{name}\(differentiable=True\)"):
        getattr(cr.optim, name)([cr.zeros(2, requires_grad=True)], differentiable=True)


def test_rmsprop_positional_maximize_as_torch() -> None:
    w = cr.tensor([1.0, -2.0], requires_grad=True)
    tw = torch.tensor([1.0, -2.0], requires_grad=True)
    opt = cr.optim.RMSprop([w], 0.01, 0.99, 1e-8, 0.0, 0.0, False, False, None, True)
    t_opt = torch.optim.RMSprop([tw], 0.01, 0.99, 1e-8, 0.0, 0.0, False, False, None, True)
    for _ in range(3):
        w.grad = cr.tensor([0.5, 0.25])
        tw.grad = torch.tensor([0.5, 0.25])
        opt.step()
        t_opt.step()
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-6)


@pytest.mark.parametrize("value", ["0.1", None, [0.1]])
def test_non_numeric_hyper_parameter_is_a_clear_type_error(value: Any) -> None:
    with pytest.raises(TypeError, match="Invalid learning rate.*expected a number"):
        cr.optim.SGD([cr.zeros(2, requires_grad=True)], lr=value)
    with pytest.raises(TypeError, match="Invalid weight_decay value.*expected a number"):
        cr.optim.Adam([cr.zeros(2, requires_grad=True)], weight_decay=value)


@pytest.mark.parametrize("name,kw,drop", [
    ("Adam", {}, "exp_avg"),
    ("Adam", {"amsgrad": True}, "step"),
    ("AdamW", {}, "exp_avg_sq"),
    ("RMSprop", {"centered": True}, "square_avg"),
    ("Adagrad", {}, "sum"),
])
def test_loading_a_state_that_lacks_an_entry_is_refused(name: str, kw: dict[str, Any],
                                                        drop: str) -> None:
    """It used to load, and the next step() died with a bare KeyError."""
    w = cr.tensor([1.0, 2.0], requires_grad=True)
    opt = getattr(cr.optim, name)([w], lr=0.1, **kw)
    w.grad = cr.tensor([0.5, -0.5])
    opt.step()
    sd = opt.state_dict()
    del sd["state"][0][drop]
    w2 = cr.tensor([1.0, 2.0], requires_grad=True)
    fresh = getattr(cr.optim, name)([w2], lr=0.1, **kw)
    before = fresh.state_dict()
    with pytest.raises(StateDictError, match=rf"state of parameter 0: missing {drop}"):
        fresh.load_state_dict(sd)
    after = fresh.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert sorted(after["state"]) == sorted(before["state"])
    w2.grad = cr.tensor([0.5, -0.5])
    fresh.step()  # still usable


def test_mixed_groups_and_missing_grads_follow_torch_float64() -> None:
    """Groups with different options, parameters that skip some steps, 0-d parameters:
    float64 trajectories agree with torch over 60 steps."""
    rng = np.random.default_rng(3)
    shapes = [(3, 4), (4,), (), (2, 2, 2), (5,)]
    weights = [rng.standard_normal(s) for s in shapes]
    grads = [[rng.standard_normal(s) for s in shapes] for _ in range(60)]
    setups: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = [
        ("SGD", [{"momentum": 0.9, "nesterov": True}, {"weight_decay": 0.1, "maximize": True}],
         {"lr": 0.05, "momentum": 0.5}),
        ("Adam", [{"amsgrad": True}, {"betas": (0.8, 0.9), "weight_decay": 0.1}], {"lr": 0.01}),
        ("AdamW", [{"amsgrad": True, "maximize": True}, {"weight_decay": 0.0}], {"lr": 0.01}),
        ("RMSprop", [{"centered": True, "momentum": 0.9}, {"alpha": 0.5}], {"lr": 0.01}),
        ("Adagrad", [{"lr_decay": 0.1}, {"weight_decay": 0.2, "maximize": True}], {"lr": 0.1}),
    ]
    for name, options, kw in setups:
        def groups(ps: list[Any], options: list[dict[str, Any]] = options) -> list[Any]:
            return [{"params": ps[:2], **options[0]}, {"params": ps[2:], **options[1]}]

        cp = [cr.tensor(w.copy(), requires_grad=True) for w in weights]
        tp = [torch.tensor(w.copy(), requires_grad=True) for w in weights]
        c_opt = getattr(cr.optim, name)(groups(cp), **kw)
        t_opt = getattr(torch.optim, name)(groups(tp), **kw)
        for step, gs in enumerate(grads):
            for i, (c, t, g) in enumerate(zip(cp, tp, gs)):
                skip = i in (1, 3) and step % 3 == 0
                c.grad = None if skip else cr.tensor(g.copy())
                t.grad = None if skip else torch.tensor(g.copy())
            c_opt.step()
            t_opt.step()
        for c, t in zip(cp, tp):
            assert c.dtype == np.float64
            np.testing.assert_allclose(c.data, t.detach().numpy(), rtol=1e-10, atol=1e-12,
                                       err_msg=name)


# --------------------------------------------------------------------------- schedulers

@pytest.mark.parametrize("make,match", [
    (lambda o: crs.StepLR(o, step_size=0), "StepLR: step_size must be a positive"),
    (lambda o: crs.StepLR(o, step_size=-2), "StepLR: step_size must be a positive"),
    (lambda o: crs.CosineAnnealingLR(o, T_max=0), "CosineAnnealingLR: T_max must be a posit"),
])
def test_scheduler_period_must_be_positive(make: Any, match: str) -> None:
    """torch accepts these and dies later with 'integer modulo by zero'."""
    opt = cr.optim.SGD([cr.zeros(1, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match=match):
        make(opt)


def test_scheduler_float_periods_still_match_torch() -> None:
    lrs = []
    for lib in (cr, torch):
        opt = lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=0.1)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=2.5, gamma=0.5)
        seq = []
        for _ in range(12):
            opt.step()
            sched.step()
            seq.append(sched.get_last_lr()[0])
        lrs.append(seq)
    assert lrs[0] == pytest.approx(lrs[1], rel=1e-14)
