"""Gradient-flow diagnostics: watch the gradients of every layer while a network trains.

>>> import chainrule as cr
>>> model = cr.nn.Sequential(cr.nn.Linear(4, 8), cr.nn.Sigmoid(), cr.nn.Linear(8, 1))
>>> monitor = cr.diagnostics.GradientMonitor(model)
>>> loss = model(cr.randn(16, 4)).pow(2).mean()
>>> loss.backward()
>>> monitor.step()  # after backward(), before the optimizer's step
>>> print(monitor.report())  # doctest: +ELLIPSIS
Gradient flow over 1 step ...

``GradientMonitor`` records, per step and per parameter (and per layer: the parameters of one
module), the gradient's norm, mean |g| and max |g|, and the ratio of the last update to the
weights, ‖ΔW‖/‖W‖ (from a snapshot of the weights at each ``step()``). It warns once per layer
and kind, with :class:`GradientWarning`, when gradients vanish (norm below
``vanish_threshold`` × the layer's weight norm for ``patience`` steps), explode (norm above
``explode_threshold``, or growing by ``growth`` or more per step for ``patience`` steps) or turn
NaN/inf. ``report()`` is the table, ``plot(path)`` a PNG of the norms by layer over the steps
(matplotlib, ``pip install "chainrule[plot]"``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GradientMonitor", "GradientWarning", "LayerStats"]


class GradientWarning(UserWarning):
    """Gradients vanishing, exploding or not finite in a layer (see ``GradientMonitor``)."""


@dataclass
class LayerStats:
    """One layer (or parameter) at one recorded step."""

    step: int
    name: str
    grad_norm: float
    mean_abs: float
    max_abs: float
    weight_norm: float
    update_ratio: float  # ‖W − W_previous‖ / ‖W_previous‖ since the previous recorded step
    finite: bool
    numel: int
    has_grad: bool = True  # False: no parameter of it had a .grad (frozen, or not used)


def _named(model: Any) -> list[tuple[str, Any]]:
    from .tensor import Tensor

    if hasattr(model, "named_parameters") and callable(model.named_parameters):
        pairs = list(model.named_parameters())
    else:
        items = [model] if isinstance(model, Tensor) else list(model)
        pairs = []
        for k, p in enumerate(items):
            if isinstance(p, tuple) and len(p) == 2:
                pairs.append((str(p[0]), p[1]))
            else:
                pairs.append((getattr(p, "name", None) or f"param{k}", p))
    out = [(n, p) for n, p in pairs if getattr(p, "requires_grad", False)]
    if not out:
        raise ValueError("GradientMonitor: no parameters that require grad to watch")
    return out


def _layer_of(name: str) -> str:
    """``fc1.weight`` -> ``fc1``; ``0.bias`` -> ``0``; a bare name is its own layer."""
    return name.rsplit(".", 1)[0] if "." in name else name


def _single_layer_name(model: Any) -> str | None:
    """The class name of a model that is itself one of chainrule's layers with no
    sub-modules (a ``Linear``, a ``Conv2d``), whose parameters then make one layer, as they
    do inside a ``Sequential``; else None (a module of the user's own with loose parameters
    keeps one layer per parameter: they are often its layers' weights)."""
    children = getattr(model, "children", None)
    if callable(children) and type(model).__module__.startswith("chainrule.nn.") \
            and next(iter(children()), None) is None:
        return type(model).__name__
    return None


class GradientMonitor:
    """Record and check the gradient flow of a model, step by step.

    Parameters
    ----------
    model : Module, or an iterable of parameters or ``(name, parameter)`` pairs
        What to watch; a module's parameters are grouped into layers by module path (one of
        chainrule's layers given alone, a ``Linear`` say, is one layer named by its class).
    every : int
        Record every ``every``-th call of :meth:`step` (the first call is recorded).
    vanish_threshold : float
        A layer's gradients vanish when ``‖g‖ < vanish_threshold · ‖W‖`` (for ``patience``
        recorded steps in a row).
    explode_threshold : float
        A layer's gradients explode when ``‖g‖ > explode_threshold`` ...
    growth : float
        ... or when ``‖g‖`` grows by a factor ``growth`` or more at each of ``patience``
        recorded steps in a row.
    patience : int
        Recorded steps a condition must hold before the warning.
    warn : bool
        Issue :class:`GradientWarning`s (each layer and kind at most once).

    Call :meth:`step` after ``loss.backward()`` (and before ``optimizer.step()``, or after it;
    the update ratio compares the weights with those of the previous recorded step).
    """

    def __init__(self, model: Any, every: int = 1, vanish_threshold: float = 1e-5,
                 explode_threshold: float = 1e3, patience: int = 5, growth: float = 2.0,
                 warn: bool = True) -> None:
        if int(every) < 1 or int(patience) < 1:
            raise ValueError("GradientMonitor: every and patience must be at least 1")
        self.params = _named(model)
        self.every = int(every)
        self.vanish_threshold = float(vanish_threshold)
        self.explode_threshold = float(explode_threshold)
        self.patience = int(patience)
        self.growth = float(growth)
        self.warn = warn
        self.layers: list[str] = []
        self._members: dict[str, list[int]] = {}
        single = _single_layer_name(model)
        self._layer_of = {name: single or _layer_of(name) for name, _ in self.params}
        for k, (name, _) in enumerate(self.params):
            layer = self._layer_of[name]
            if layer not in self._members:
                self.layers.append(layer)
                self._members[layer] = []
            self._members[layer].append(k)
        self.calls = 0
        self.steps: list[int] = []  # the call numbers recorded
        self.records: list[LayerStats] = []  # per parameter and recorded step
        self.layer_records: list[LayerStats] = []  # per layer and recorded step
        self.warnings: list[tuple[str, str, str]] = []  # (layer, kind, message), in order
        self._warned: set[tuple[str, str]] = set()
        self._snapshot: list[np.ndarray] | None = None
        self._streak: dict[tuple[str, str], int] = {}
        self._last_norm: dict[str, float] = {}

    # ------------------------------------------------------------------ recording
    def step(self) -> None:
        """Record the current gradients (``.grad``) and weights of every watched parameter."""
        call = self.calls
        self.calls += 1
        if call % self.every:
            return
        self.steps.append(call)
        weights = [np.array(p.data, dtype=np.float64, copy=True) for _, p in self.params]
        prev = self._snapshot
        per: list[LayerStats] = []
        for k, (name, p) in enumerate(self.params):
            g = None if p.grad is None else np.asarray(p.grad.data, dtype=np.float64)
            per.append(self._stats(call, name, [g], [weights[k]],
                                   None if prev is None else [prev[k]]))
        self.records.extend(per)
        for layer in self.layers:
            idx = self._members[layer]
            grads = [None if self.params[k][1].grad is None
                     else np.asarray(self.params[k][1].grad.data, dtype=np.float64) for k in idx]
            st = self._stats(call, layer, grads, [weights[k] for k in idx],
                             None if prev is None else [prev[k] for k in idx])
            self.layer_records.append(st)
            if self.warn:
                self._check(st)
        self._snapshot = weights

    @staticmethod
    def _stats(call: int, name: str, grads: list[np.ndarray | None], weights: list[np.ndarray],
               prev: list[np.ndarray] | None) -> LayerStats:
        present = [g for g in grads if g is not None]
        numel = sum(int(w.size) for w in weights)
        with np.errstate(all="ignore"):
            if present:
                finite = all(bool(np.all(np.isfinite(g))) for g in present)
                gnorm = _norm(present) if finite else float("nan")
                total = sum(int(g.size) for g in present)
                mean_abs = sum(float(np.sum(np.abs(g))) for g in present) / max(total, 1)
                max_abs = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in present)
            else:  # nothing to measure: not "vanishing"; report() shows "—" and "no grad"
                gnorm = mean_abs = max_abs = 0.0
                finite = True
            wnorm = _norm(weights)
            if prev is None:
                ratio = float("nan")
            else:
                dnorm = _norm([w - q for w, q in zip(weights, prev)])
                pnorm = _norm(prev)
                ratio = dnorm / pnorm if pnorm > 0 else (0.0 if dnorm == 0 else float("inf"))
        if not finite:
            gnorm = float("nan")
        return LayerStats(call, name, gnorm, mean_abs, max_abs, wnorm, ratio, finite, numel,
                          bool(present))

    # ------------------------------------------------------------------ warnings
    def _check(self, st: LayerStats) -> None:
        layer = st.name
        if not st.has_grad:  # no .grad at all (unused or frozen): nothing vanished
            self._streak[(layer, "vanishing")] = self._streak[(layer, "growing")] = 0
            self._last_norm.pop(layer, None)
            return
        if not st.finite:
            self._warn(layer, "nonfinite",
                       f"gradients of layer '{layer}' are NaN or inf (step {st.step}); "
                       "lower the learning rate, clip the gradients "
                       "(cr.nn.utils.clip_grad_norm_) or look for log(0), 0/0 or overflow")
            return
        scale = st.weight_norm if st.weight_norm > 0 else 1.0
        vanishing = st.grad_norm < self.vanish_threshold * scale
        if self._hold(layer, "vanishing", vanishing):
            self._warn(layer, "vanishing",
                       f"gradients vanish in layer '{layer}': ‖g‖ = {st.grad_norm:.3g} is below "
                       f"{self.vanish_threshold:g} × its weight norm {st.weight_norm:.3g} for "
                       f"{self.patience} step(s) (step {st.step}); saturating activations "
                       "(sigmoid, tanh) in a deep stack? try ReLU with Kaiming init, residual "
                       "connections or normalization")
        if st.grad_norm > self.explode_threshold:
            self._last_norm[layer] = st.grad_norm
            self._warn(layer, "exploding",
                       f"gradients explode in layer '{layer}': ‖g‖ = {st.grad_norm:.3g} is above "
                       f"{self.explode_threshold:g} (step {st.step}); clip them "
                       "(cr.nn.utils.clip_grad_norm_), lower the learning rate or use a "
                       "smaller initialization")
            return
        before = self._last_norm.get(layer)
        self._last_norm[layer] = st.grad_norm
        growing = before is not None and before > 0 and st.grad_norm >= self.growth * before
        if self._hold(layer, "growing", growing):
            self._warn(layer, "exploding",
                       f"gradients explode in layer '{layer}': ‖g‖ grew ×{self.growth:g} or "
                       f"more at each of the last {self.patience} step(s), to {st.grad_norm:.3g}"
                       f" (step {st.step}); clip them (cr.nn.utils.clip_grad_norm_) or lower "
                       "the learning rate")

    def _hold(self, layer: str, kind: str, cond: bool) -> bool:
        n = self._streak.get((layer, kind), 0) + 1 if cond else 0
        self._streak[(layer, kind)] = n
        return n >= self.patience

    def _warn(self, layer: str, kind: str, message: str) -> None:
        if (layer, kind) in self._warned:
            return
        self._warned.add((layer, kind))
        self.warnings.append((layer, kind, message))
        warnings.warn("GradientMonitor: " + message, GradientWarning, stacklevel=4)

    # ------------------------------------------------------------------ reading
    def history(self, stat: str = "grad_norm", per: str = "layer") -> np.ndarray:
        """An array (recorded steps × layers, or × parameters with ``per="parameter"``) of
        ``stat``: grad_norm, mean_abs, max_abs, weight_norm or update_ratio."""
        _check_per(per, "history")
        if stat not in _STATS:
            raise ValueError(f"GradientMonitor.history: unknown stat {stat!r}; use one of "
                             + ", ".join(_STATS))
        recs = self.layer_records if per == "layer" else self.records
        width = len(self.layers) if per == "layer" else len(self.params)
        vals = [getattr(r, stat) for r in recs]
        return np.asarray(vals, dtype=np.float64).reshape(len(self.steps), width)

    def status(self, layer: str) -> str:
        """"ok", or the kinds of trouble seen in ``layer`` (vanishing, exploding, nonfinite),
        or "no grad" when its parameters had no gradient at the last recorded step."""
        kinds = [k for (lay, k) in self._warned if lay == layer]
        if kinds:
            return ", ".join(sorted(kinds))
        last = [r for r in self.layer_records[-len(self.layers):] if r.name == layer]
        return "no grad" if last and not last[0].has_grad else "ok"

    def report(self, per: str = "layer") -> str:
        """The table: per layer (or ``per="parameter"``), the last recorded step's gradient
        norm, its range over all steps, mean |g|, max |g|, the mean update/weight ratio and the
        status. Returns the text (``print(monitor)`` prints it)."""
        _check_per(per, "report")
        names = self.layers if per == "layer" else [n for n, _ in self.params]
        n = len(self.steps)
        head = (f"Gradient flow over {n} step{'s' if n != 1 else ''} (every {self.every}; "
                f"vanishing below {self.vanish_threshold:g}·‖W‖, exploding above "
                f"{self.explode_threshold:g})")
        if not n:
            return head + "\n  (nothing recorded yet: call monitor.step() after backward())\n"
        norms = self.history("grad_norm", per)
        mean_abs = self.history("mean_abs", per)
        max_abs = self.history("max_abs", per)
        ratio = self.history("update_ratio", per)
        cols = ["layer" if per == "layer" else "parameter", "‖g‖ last", "‖g‖ min", "‖g‖ max",
                "mean|g|", "max|g|", "‖ΔW‖/‖W‖", "status"]
        recs = self.layer_records if per == "layer" else self.records
        width = len(names)
        has = np.asarray([r.has_grad for r in recs], dtype=bool).reshape(n, width)
        rows = []
        for j, name in enumerate(names):
            r = ratio[:, j]
            r = r[np.isfinite(r)]
            status = self.status(name if per == "layer" else self._layer_of[name])
            if per == "parameter" and not has[-1, j] and status == "ok":
                status = "no grad"
            seen = norms[:, j][has[:, j]]
            last = [_g(norms[-1, j]), _g(mean_abs[-1, j]), _g(max_abs[-1, j])] if has[-1, j] \
                else ["—"] * 3
            rows.append([name, last[0], _span(seen, np.nanmin), _span(seen, np.nanmax),
                         last[1], last[2], _g(float(np.mean(r))) if r.size else "—", status])
        widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
        lines = [head, "  " + "  ".join(c.ljust(w) for c, w in zip(cols, widths)).rstrip()]
        for row in rows:
            lines.append("  " + "  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
        first, last = norms[-1, 0], norms[-1, -1]
        if per == "layer" and len(names) > 1 and np.isfinite([first, last]).all() and last > 0:
            lines.append(f"  first/last layer gradient norm: {_g(first / last)}")
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.report()

    def __repr__(self) -> str:
        return (f"<GradientMonitor: {len(self.params)} parameters in {len(self.layers)} layers, "
                f"{len(self.steps)} steps recorded>")

    def plot(self, path: str | Path, title: str | None = None) -> Path:
        """Write a PNG: each layer's gradient norm over the steps, and by layer at the last
        step (needs matplotlib: ``pip install "chainrule[plot]"``)."""
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError:
            raise ImportError('GradientMonitor.plot needs matplotlib: pip install '
                              '"chainrule[plot]"') from None
        if not self.steps:
            raise ValueError("GradientMonitor.plot: nothing recorded yet; call step() after "
                             "backward()")
        norms = self.history("grad_norm")
        fig = Figure(figsize=(11, 4.2))
        FigureCanvasAgg(fig)
        left, right = fig.subplots(1, 2)
        cmap = _colors(len(self.layers))
        tiny = 1e-300
        for j, layer in enumerate(self.layers):
            left.plot(self.steps, np.maximum(norms[:, j], tiny), color=cmap[j], label=layer,
                      marker="o" if len(self.steps) < 30 else None, markersize=3)
        left.set_yscale("log")
        left.set_xlabel("step")
        left.set_ylabel("gradient norm ‖g‖")
        left.set_title("gradient norm by layer over the steps")
        if len(self.layers) <= 12:
            left.legend(fontsize=7, ncol=2)
        last = np.maximum(norms[-1], tiny)
        right.bar(range(len(self.layers)), last, color=cmap)
        right.set_yscale("log")
        right.set_xticks(range(len(self.layers)))
        right.set_xticklabels(self.layers, rotation=60, fontsize=7)
        right.set_xlabel("layer (input → output)")
        right.set_ylabel("‖g‖ at the last step")
        right.set_title("gradient norm by layer")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        p = Path(path)
        fig.savefig(p, dpi=110, format="png")
        return p


_STATS = ("grad_norm", "mean_abs", "max_abs", "weight_norm", "update_ratio")


def _norm(arrays: list[np.ndarray]) -> float:
    """The 2-norm of all the arrays together, without overflow or underflow: ‖g‖ of finite
    values as large as 1e200 is 1e200·√n, not inf (nor NaN); inf or NaN if a value is.
    The plain sum of squares first (one pass, exact as before); rescaled only when it
    overflowed or underflowed to 0 while a value is not 0."""
    with np.errstate(all="ignore"):
        sq = sum(float(np.sum(a * a)) for a in arrays)
    if 0.0 < sq < math.inf:
        return math.sqrt(sq)
    big = max((float(np.max(np.abs(a))) for a in arrays if a.size), default=0.0)
    if big == 0.0 or not math.isfinite(big):
        return big
    with np.errstate(all="ignore"):
        sq = sum(float(np.sum(np.square(a / big))) for a in arrays)
    return big * math.sqrt(sq)


def _check_per(per: str, who: str) -> None:
    if per not in ("layer", "parameter"):
        raise ValueError(f"GradientMonitor.{who}: per must be 'layer' or 'parameter', got "
                         f"{per!r}")


def _span(seen: np.ndarray, extreme: Callable[[np.ndarray], Any]) -> str:
    """A column's min or max over the steps that had a gradient ("—" if none, "nan" if all
    were NaN)."""
    if not seen.size:
        return "—"
    return _g(extreme(seen)) if np.isfinite(seen).any() else "nan"


def _g(v: Any) -> str:
    v = float(v)
    return "nan" if math.isnan(v) else f"{v:.3g}"


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(k / max(1, n - 1) * 0.9) for k in range(n)]

