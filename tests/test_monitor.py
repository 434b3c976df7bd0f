"""GradientMonitor: the gradient flow of real networks, its table, plot and warnings."""

from __future__ import annotations

import runpy
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.diagnostics import GradientMonitor, GradientWarning

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "vanishing_gradients.py"


@pytest.fixture(scope="module")
def vg() -> dict[str, Any]:
    """The networks of examples/vanishing_gradients.py."""
    return runpy.run_path(str(EXAMPLE), run_name="vanishing_gradients")


def train_quietly(vg: dict[str, Any], name: str) -> tuple[GradientMonitor, list[float],
                                                            list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monitor, totals = vg["train"](name)
    return monitor, totals, list(caught)


def test_sigmoid_stack_vanishes_and_the_fixes_keep_it_flowing(vg: dict[str, Any]) -> None:
    ratios = {}
    for name in ("sigmoid", "relu + kaiming", "residual sigmoid"):
        monitor, _, caught = train_quietly(vg, name)
        norms = monitor.history("grad_norm")
        assert norms.shape == (vg["STEPS"], len(monitor.layers))
        ratios[name] = norms[-1, 0] / norms[-1, -1]
        if name == "sigmoid":
            # orders of magnitude: the first layer's gradient is ~1e-16 of the last one's
            assert ratios[name] < 1e-10
            assert np.all(np.diff(np.log10(norms[-1])) > 0)  # it shrinks at every layer down
            kinds = {(layer, kind) for layer, kind, _ in monitor.warnings}
            assert ("0", "vanishing") in kinds and ("38", "vanishing") not in kinds
            vanish = [w for w in caught if issubclass(w.category, GradientWarning)]
            assert vanish and "layer '0'" in str(vanish[0].message)
            assert len(vanish) == len(monitor.warnings)  # once per layer and kind
            table = monitor.report()
            assert "vanishing" in table and "first/last layer gradient norm: " in table
        else:
            assert ratios[name] > 1e-2
            assert monitor.warnings == [] and caught == []
            assert "vanishing" not in monitor.report().split("\n", 1)[1]  # below the header
    assert ratios["relu + kaiming"] > 1e8 * ratios["sigmoid"]
    assert ratios["residual sigmoid"] > 1e8 * ratios["sigmoid"]


def test_large_weights_explode_and_clipping_bounds_them(vg: dict[str, Any]) -> None:
    monitor, totals, caught = train_quietly(vg, "relu, large init")
    assert max(totals) > 1e6
    assert {k for _, k, _ in monitor.warnings} == {"exploding"}
    assert any("explode in layer '0'" in str(w.message) for w in caught)
    assert "exploding" in monitor.report()
    clipped, totals, caught = train_quietly(vg, "same, clipped to 1")
    assert max(totals) <= 1.0 + 1e-4
    assert clipped.warnings == [] and caught == []


def small_model(seed: int = 0) -> nn.Module:
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))


def loss_of(model: nn.Module, scale: float = 1.0) -> cr.Tensor:
    cr.manual_seed(1)
    x = cr.randn(16, 4) * scale
    return model(x).pow(2).mean()


def test_records_per_parameter_and_layer_and_update_ratio() -> None:
    model = small_model()
    monitor = GradientMonitor(model)
    opt = cr.optim.SGD(model.parameters(), lr=0.1)
    seen = []
    for _ in range(3):
        opt.zero_grad()
        loss_of(model).backward()
        grads = {n: p.grad.data.copy() for n, p in model.named_parameters()}
        before = {n: p.data.copy() for n, p in model.named_parameters()}
        seen.append(grads)
        monitor.step()
        opt.step()
    assert monitor.layers == ["0", "2"] and monitor.steps == [0, 1, 2]
    per = monitor.history("grad_norm", per="parameter")
    assert per.shape == (3, 4)
    np.testing.assert_allclose(per[-1], [np.linalg.norm(g) for g in grads.values()], rtol=1e-6)
    layer = monitor.history("grad_norm")
    np.testing.assert_allclose(layer[-1, 0], np.hypot(per[-1, 0], per[-1, 1]), rtol=1e-6)
    last = [r for r in monitor.records if r.name == "0.weight"][-1]
    assert last.max_abs == pytest.approx(np.abs(grads["0.weight"]).max(), rel=1e-6)
    assert last.mean_abs == pytest.approx(np.abs(grads["0.weight"]).mean(), rel=1e-6)
    # the update ratio: ‖W_now − W_prev‖/‖W_prev‖, W_prev = weights at the previous step()
    ratios = monitor.history("update_ratio", per="parameter")
    assert np.isnan(ratios[0]).all()
    w_prev = before["0.weight"] + 0.1 * seen[-2]["0.weight"]  # undo the SGD step in between
    expected = np.linalg.norm(before["0.weight"] - w_prev) / np.linalg.norm(w_prev)
    assert ratios[-1, 0] == pytest.approx(expected, rel=1e-5)
    text = monitor.report(per="parameter")
    assert "0.weight" in text and "‖ΔW‖/‖W‖" in text
    assert str(monitor) == monitor.report()


def test_every_and_lazy_import_from_nn_utils() -> None:
    assert cr.nn.utils.GradientMonitor is GradientMonitor
    assert cr.diagnostics.GradientMonitor is GradientMonitor
    model = small_model()
    monitor = cr.nn.utils.GradientMonitor(model, every=2)
    for _ in range(5):
        model.zero_grad()
        loss_of(model).backward()
        monitor.step()
    assert monitor.steps == [0, 2, 4] and monitor.calls == 5
    with pytest.raises(ValueError):
        GradientMonitor(model, every=0)
    params = [p for p in model.parameters()]
    assert GradientMonitor(params).layers == ["0", "2"]  # parameters carry their names


def test_nan_gradients_warn_once_naming_the_layer() -> None:
    model = small_model()
    monitor = GradientMonitor(model)
    with pytest.warns(GradientWarning, match=r"layer '2'.*NaN or inf"):
        for _ in range(3):
            model.zero_grad()
            loss_of(model).backward()
            model[2].bias.grad = cr.tensor([float("nan")])
            monitor.step()
    assert [(layer, kind) for layer, kind, _ in monitor.warnings] == [("2", "nonfinite")]
    assert "nonfinite" in monitor.report()


def test_geometric_growth_is_exploding() -> None:
    cr.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.Linear(8, 1))  # linear: ‖g‖ grows as scale²
    monitor = GradientMonitor(model, explode_threshold=1e30, growth=2.0, patience=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for k in range(6):
            model.zero_grad()
            loss_of(model, scale=3.0 ** k).backward()
            monitor.step()
    kinds = [(layer, kind) for layer, kind, _ in monitor.warnings]
    assert ("0", "exploding") in kinds
    assert all("grew" in str(w.message) for w in caught)


def test_vanishing_needs_patience() -> None:
    model = small_model()
    monitor = GradientMonitor(model, vanish_threshold=1e9, patience=3)  # everything "vanishes"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            model.zero_grad()
            loss_of(model).backward()
            monitor.step()
        assert caught == []
        model.zero_grad()
        loss_of(model).backward()
        monitor.step()
    assert {kind for _, kind, _ in monitor.warnings} == {"vanishing"}


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    model = small_model()
    monitor = GradientMonitor(model)
    with pytest.raises(ValueError, match="nothing recorded"):
        monitor.plot(tmp_path / "empty.png")
    for _ in range(3):
        model.zero_grad()
        loss_of(model).backward()
        monitor.step()
    path = monitor.plot(tmp_path / "flow.png", title="small")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_names_the_extra(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    model = small_model()
    monitor = GradientMonitor(model)
    loss_of(model).backward()
    monitor.step()
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[plot\]"'):
        monitor.plot(tmp_path / "x.png")
