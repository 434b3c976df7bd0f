"""cr.optim.lr_scheduler's ReduceLROnPlateau, CosineAnnealingWarmRestarts, CyclicLR,
ConstantLR, PolynomialLR, MultiplicativeLR, SequentialLR and ChainedScheduler against torch:
the same learning rates (and cycled momenta / betas) over hundreds of epochs, state dicts that
resume identically, and torch's errors and warnings."""

from __future__ import annotations

import math
import warnings
from typing import Any

import pytest

import chainrule as cr
from chainrule.optim import lr_scheduler as crs


@pytest.fixture(scope="module")
def torch() -> Any:
    return pytest.importorskip("torch")


def make_optimizer(lib: Any, opt_name: str = "SGD") -> Any:
    """Two param groups with learning rates 0.1 and 0.02 (momentum for SGD)."""
    a = lib.zeros(2, requires_grad=True)
    b = lib.zeros(3, requires_grad=True)
    kw: dict[str, Any] = {"momentum": 0.9} if opt_name == "SGD" else {}
    groups = [{"params": [a]}, {"params": [b], "lr": 0.02}]
    return getattr(lib.optim, opt_name)(groups, lr=0.1, **kw)


def momenta(opt: Any) -> list[Any]:
    return [g.get("betas", (g.get("momentum"),))[0] for g in opt.param_groups]


def _sequential(m: Any, o: Any) -> Any:
    warm = m.LinearLR(o, start_factor=0.1, total_iters=10)
    decay = m.CosineAnnealingLR(o, T_max=60, eta_min=1e-4)
    tail = m.ExponentialLR(o, gamma=0.98)
    return m.SequentialLR(o, [warm, decay, tail], milestones=[10, 70])


def _chained(m: Any, o: Any) -> Any:
    return m.ChainedScheduler([m.ConstantLR(o, factor=0.5, total_iters=20),
                               m.ExponentialLR(o, gamma=0.99),
                               m.MultiStepLR(o, milestones=[50, 120], gamma=0.3)])


class Halve:
    """A callable object (its state is saved in state dicts, unlike a function's)."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, epoch: int) -> float:
        self.calls += 1
        return 0.5 if epoch % 40 == 0 else 1.0


SCHEDULERS: dict[str, tuple[Any, str]] = {
    "ConstantLR": (lambda m, o: m.ConstantLR(o, factor=0.25, total_iters=17), "SGD"),
    "PolynomialLR": (lambda m, o: m.PolynomialLR(o, total_iters=150, power=2.5), "SGD"),
    "PolynomialLR-linear": (lambda m, o: m.PolynomialLR(o, total_iters=90), "Adam"),
    "MultiplicativeLR": (lambda m, o: m.MultiplicativeLR(o, lambda e: 0.99 - (e % 3) / 100),
                         "SGD"),
    "MultiplicativeLR-per-group": (lambda m, o: m.MultiplicativeLR(
        o, [lambda e: 0.98, lambda e: 1.0 if e < 100 else 0.9]), "SGD"),
    "CosineAnnealingWarmRestarts": (lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=13, eta_min=1e-3), "SGD"),
    "CosineAnnealingWarmRestarts-Tmult": (lambda m, o: m.CosineAnnealingWarmRestarts(
        o, T_0=5, T_mult=2), "Adam"),
    "CyclicLR-triangular-SGD": (lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=[0.1, 0.5],
                                                        step_size_up=20), "SGD"),
    "CyclicLR-triangular2-Adam": (lambda m, o: m.CyclicLR(
        o, base_lr=[0.001, 0.002], max_lr=0.05, step_size_up=15, step_size_down=25,
        mode="triangular2", base_momentum=0.85, max_momentum=0.95), "Adam"),
    "CyclicLR-exp_range": (lambda m, o: m.CyclicLR(o, base_lr=0.01, max_lr=0.2,
                                                   step_size_up=10, mode="exp_range",
                                                   gamma=0.995), "SGD"),
    "CyclicLR-scale_fn-iterations": (lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.2, step_size_up=12, scale_fn=lambda x: 1 / (1 + x / 50),
        scale_mode="iterations", cycle_momentum=False), "Adagrad"),
    "CyclicLR-scale_fn-cycle": (lambda m, o: m.CyclicLR(
        o, base_lr=0.01, max_lr=0.2, step_size_up=7, scale_fn=lambda x: 0.8**x), "RMSprop"),
    "SequentialLR": (_sequential, "SGD"),
    "ChainedScheduler": (_chained, "SGD"),
}


def _pair(torch: Any, name: str) -> tuple[Any, Any, Any, Any]:
    make, opt_name = SCHEDULERS[name]
    c_opt, t_opt = make_optimizer(cr, opt_name), make_optimizer(torch, opt_name)
    return c_opt, make(crs, c_opt), t_opt, make(torch.optim.lr_scheduler, t_opt)


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_matches_torch(torch: Any, name: str) -> None:
    c_opt, c_sched, t_opt, t_sched = _pair(torch, name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. no "scheduler stepped before optimizer"
        for step in range(301):
            c_lrs, t_lrs = c_sched.get_last_lr(), t_sched.get_last_lr()
            assert c_lrs == pytest.approx(t_lrs, rel=1e-13, abs=1e-16), f"step {step}"
            assert [g["lr"] for g in c_opt.param_groups] == pytest.approx(
                [g["lr"] for g in t_opt.param_groups], rel=1e-13, abs=1e-16)
            c_m, t_m = momenta(c_opt), momenta(t_opt)
            if None in t_m:
                assert c_m == t_m
            else:
                assert c_m == pytest.approx(t_m, rel=1e-13), f"step {step}"
            c_opt.step()
            t_opt.step()
            c_sched.step()
            t_sched.step()
    assert getattr(c_sched, "last_epoch", None) == getattr(t_sched, "last_epoch", None)


def test_warm_restarts_with_fractional_epochs_match_torch(torch: Any) -> None:
    """step(epoch) with fractional epochs (per batch), also jumping ahead and back."""
    for t_mult in (1, 3):
        c_opt, t_opt = make_optimizer(cr), make_optimizer(torch)
        c = crs.CosineAnnealingWarmRestarts(c_opt, T_0=4, T_mult=t_mult, eta_min=0.001)
        t = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(t_opt, T_0=4, T_mult=t_mult,
                                                                 eta_min=0.001)
        epochs = [e + b / 7 for e in range(30) for b in range(7)] + [100.5, 3.25, 57.0]
        for epoch in epochs:
            c.step(epoch)
            t.step(epoch)
            assert c.get_last_lr() == pytest.approx(t.get_last_lr(), rel=1e-12), epoch
            assert (c.T_i, c.last_epoch) == (t.T_i, t.last_epoch)
        with pytest.raises(ValueError, match="Expected non-negative epoch, but got -1"):
            c.step(-1)


METRICS = ([1.0, 0.9, 0.95, 0.96, 0.97, 0.89, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9, 0.7]
           + [0.7 + 0.001 * (i % 5) for i in range(60)] + [0.5] * 30)

PLATEAU_CASES: list[dict[str, Any]] = [
    dict(),
    dict(patience=2, factor=0.5),
    dict(patience=0, cooldown=3, factor=0.3, min_lr=[0.01, 0.005]),
    dict(mode="max", patience=3, threshold=0.05, factor=0.5),
    dict(threshold_mode="abs", threshold=0.005, patience=1, min_lr=0.011),
    dict(mode="max", threshold_mode="abs", threshold=0.0, patience=4, eps=0.05),
]


@pytest.mark.parametrize("kw", PLATEAU_CASES, ids=lambda kw: ",".join(
    f"{k}={v}" for k, v in kw.items()) or "defaults")
def test_reduce_lr_on_plateau_matches_torch(torch: Any, kw: dict[str, Any]) -> None:
    c_opt, t_opt = make_optimizer(cr), make_optimizer(torch)
    c = crs.ReduceLROnPlateau(c_opt, **kw)
    t = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kw)
    assert c.get_last_lr() == t.get_last_lr() == [0.1, 0.02]
    for i, metric in enumerate(METRICS):
        c_opt.step()
        t_opt.step()
        if i % 2:  # a one-element (float32) tensor works too
            c.step(cr.tensor(metric))
            t.step(torch.tensor(metric))
        else:
            c.step(metric)
            t.step(metric)
        assert c.get_last_lr() == t.get_last_lr(), f"epoch {i}"
        assert (c.best, c.num_bad_epochs, c.cooldown_counter, c.last_epoch) == (
            t.best, t.num_bad_epochs, t.cooldown_counter, t.last_epoch)
    assert c.get_last_lr() != [0.1, 0.02] or kw.get("eps")  # it did reduce


def test_reduce_lr_on_plateau_state_dict_and_errors() -> None:
    opt = make_optimizer(cr)
    sched = crs.ReduceLROnPlateau(opt, mode="max", patience=1)
    for m in (1.0, 0.5, 0.4):
        sched.step(m)
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["mode"] == "max" and sd["num_bad_epochs"] == 0
    fresh = crs.ReduceLROnPlateau(make_optimizer(cr))
    fresh.load_state_dict(sd)
    assert (fresh.best, fresh.mode_worse, fresh.last_epoch) == (1.0, -math.inf, 3)
    with pytest.raises(ValueError, match=r"Factor should be < 1\.0"):
        crs.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode maximum is unknown"):
        crs.ReduceLROnPlateau(opt, mode="maximum")
    with pytest.raises(ValueError, match="threshold mode relative is unknown"):
        crs.ReduceLROnPlateau(opt, threshold_mode="relative")
    with pytest.raises(ValueError, match="expected 2 min_lrs, got 3"):
        crs.ReduceLROnPlateau(opt, min_lr=[0.1, 0.1, 0.1])
    with pytest.raises(TypeError, match="is not an Optimizer"):
        crs.ReduceLROnPlateau("sgd")  # type: ignore[arg-type]
    listed = crs.ReduceLROnPlateau(opt, patience=0, min_lr=[0.0, 0.0])
    opt.add_param_group({"params": [cr.zeros(1, requires_grad=True)]})
    listed.step(1.0)
    with pytest.raises(RuntimeError, match=r"number of param groups in the `optimizer` \(3\)"):
        listed.step(2.0)
    with pytest.warns(UserWarning, match="deprecated"):
        crs.ReduceLROnPlateau(make_optimizer(cr)).step(1.0, epoch=5)


ROUND_TRIP = ["ConstantLR", "PolynomialLR", "MultiplicativeLR", "CosineAnnealingWarmRestarts",
              "CyclicLR-triangular2-Adam", "CyclicLR-exp_range", "SequentialLR",
              "ChainedScheduler"]


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_state_dict_round_trip_resumes_identically(name: str) -> None:
    """Optimizer and scheduler state saved after 57 steps, loaded into fresh ones, give the
    same next 150 learning rates and momenta."""
    make, opt_name = SCHEDULERS[name]

    def fresh() -> tuple[Any, Any]:
        opt = make_optimizer(cr, opt_name)
        return opt, make(crs, opt)

    opt, sched = fresh()
    for _ in range(57):
        opt.step()
        sched.step()
    saved = (opt.state_dict(), sched.state_dict())
    expected = []
    for _ in range(150):
        opt.step()
        sched.step()
        expected.append(sched.get_last_lr() + momenta(opt))
    opt2, sched2 = fresh()
    opt2.load_state_dict(saved[0])
    sched2.load_state_dict(saved[1])
    got = []
    for _ in range(150):
        opt2.step()
        sched2.step()
        got.append(sched2.get_last_lr() + momenta(opt2))
    assert got == expected


def test_callable_object_state_is_saved() -> None:
    opt = make_optimizer(cr)
    halve = Halve()
    sched = crs.MultiplicativeLR(opt, halve)
    for _ in range(5):
        opt.step()
        sched.step()
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"calls": 10}, {"calls": 10}]
    other = Halve()
    crs.MultiplicativeLR(make_optimizer(cr), other).load_state_dict(sd)
    assert other.calls == 10
    cyc = crs.CyclicLR(make_optimizer(cr), 0.01, 0.1, scale_fn=halve)
    assert cyc.state_dict()["_scale_fn_custom"] == {"calls": 11}  # + the initial step
    assert crs.CyclicLR(make_optimizer(cr), 0.01, 0.1, scale_fn=lambda x: 1.0).state_dict()[
        "_scale_fn_custom"] is None


def test_scheduler_errors_match_torch(torch: Any) -> None:
    """Each bad argument gets torch's error type and words."""
    cases: list[tuple[Any, type, str]] = [
        (lambda m, o: m.ConstantLR(o, factor=1.5), ValueError,
         "Constant multiplicative factor expected to be between 0 and 1"),
        (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=0), ValueError,
         "Expected positive integer T_0, but got 0"),
        (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=0), ValueError,
         "Expected integer T_mult >= 1, but got 0"),
        (lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=5, eta_min="0"), ValueError,
         "Expected float or int eta_min"),
        (lambda m, o: m.CyclicLR(o, 0.01, 0.1, mode="sine"), ValueError,
         "mode is invalid and scale_fn is None"),
        (lambda m, o: m.CyclicLR(o, [0.01], 0.1), ValueError,
         "base_lr must have the same length as optimizer.param_groups"),
        (lambda m, o: m.MultiplicativeLR(o, 0.9), TypeError,
         "lr_lambda should be a function, but got float"),
        (lambda m, o: m.MultiplicativeLR(o, [lambda e: 1.0]), ValueError,
         "Expected 2 lr_lambdas, but got 1"),
        (lambda m, o: m.SequentialLR(o, [], milestones=[]), ValueError,
         "SequentialLR expects at least one scheduler"),
        (lambda m, o: m.SequentialLR(o, [m.ConstantLR(o), m.ConstantLR(o)], milestones=[]),
         ValueError, "expects number of schedulers provided to be one more than the number"),
        (lambda m, o: m.SequentialLR(o, [m.ReduceLROnPlateau(o)], milestones=[]), ValueError,
         "does not support `ReduceLROnPlateau`"),
        (lambda m, o: m.ChainedScheduler([]), ValueError,
         "ChainedScheduler expects at least one scheduler to be chained"),
        (lambda m, o: m.ChainedScheduler([m.ConstantLR(o), object()]), TypeError,
         "ChainedScheduler at index 1 should have `optimizer` as its attribute"),
    ]
    for make, error, message in cases:
        for lib, sched in ((cr, crs), (torch, torch.optim.lr_scheduler)):
            with pytest.raises(error, match=message):
                make(sched, make_optimizer(lib, "SGD"))
    with pytest.raises(ValueError, match="optimizer must support momentum or beta1"):
        crs.CyclicLR(make_optimizer(cr, "Adagrad"), 0.01, 0.1)
    opt, other = make_optimizer(cr), make_optimizer(cr)
    with pytest.raises(ValueError, match="expects all schedulers to belong to the same"):
        crs.SequentialLR(opt, [crs.ConstantLR(opt), crs.ConstantLR(other)], milestones=[3])
    with pytest.raises(ValueError, match="a cycle must have a positive number of steps"):
        crs.CyclicLR(opt, 0.01, 0.1, step_size_up=0)


def test_warnings_match_torch() -> None:
    opt = make_optimizer(cr)
    sched = crs.PolynomialLR(opt, total_iters=10)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        sched.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        sched.get_lr()
    with pytest.warns(UserWarning, match="deprecated"):
        sched.step(3)
    assert sched.get_last_lr() == pytest.approx([0.1 * 0.7, 0.02 * 0.7])
    seq_opt = make_optimizer(cr)
    seq = _sequential(crs, seq_opt)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        seq.step()  # the inner scheduler notices
