"""L-BFGS: a quasi-Newton method with limited memory, optionally with a strong-Wolfe line
search. Each ``step(closure)`` runs up to ``max_iter`` iterations, re-evaluating the model
through the closure."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, _array_of, check_non_negative

__all__ = ["LBFGS"]

#: A scalar of the computation: a Python float, or a NumPy scalar of the parameters' dtype
#: (NumPy's promotion of those matches PyTorch's of 0-d tensors with Python numbers, so the
#: float32 arithmetic is the same as PyTorch's).
Scalar = Any
#: ``f(x + t·d)`` and its flat gradient, the parameters left at ``x``.
Objective = Callable[[list[np.ndarray], Scalar, np.ndarray], tuple[float, np.ndarray]]

_NO_GROUPS = "LBFGS doesn't support per-parameter options (parameter groups)"


def _split(a: Any) -> tuple[Any, Any]:
    """Veltkamp's split of float64 values into halves whose products are exact."""
    c = 134217729.0 * a  # 2**27 + 1
    high = c - (c - a)
    return high, a - high


def fused_axpy(y: np.ndarray, alpha: Scalar, x: np.ndarray) -> None:
    """``y ← y + alpha·x`` in place, rounded once as a fused multiply-add (what PyTorch's
    ``y.add_(x, alpha=alpha)`` computes on CPU). Rounding twice, as ``y += alpha * x`` does,
    differs in the last bit, which L-BFGS on a curved function amplifies step by step.

    float32: the product is exact in float64. float64: the product's rounding error (Dekker's
    two-product) and the sum's (two-sum) are added back before the final rounding.
    """
    if y.dtype == np.float32 and x.dtype == np.float32:
        exact = y.astype(np.float64) + np.float64(np.float32(alpha)) * x.astype(np.float64)
        np.copyto(y, exact, casting="unsafe")
        return
    if y.dtype != np.float64 or x.dtype != np.float64:
        y += alpha * x
        return
    alpha = float(alpha)
    product = alpha * x
    ah, al = _split(alpha)
    xh, xl = _split(x)
    product_error = ((ah * xh - product) + ah * xl + al * xh) + al * xl
    total = y + product
    back = total - y
    sum_error = (y - (total - back)) + (product - back)
    with np.errstate(invalid="ignore", over="ignore"):  # inf/nan go through unchanged below
        fused = total + (sum_error + product_error)
    finite = np.isfinite(fused)
    np.copyto(y, np.where(finite, fused, total))


def _cubic_minimum(x1: Scalar, f1: Scalar, g1: Scalar, x2: Scalar, f2: Scalar, g2: Scalar,
                   bounds: tuple[Scalar, Scalar] | None = None) -> Scalar:
    """The minimizer of the cubic through (x1, f1) and (x2, f2) with slopes g1, g2, clamped to
    ``bounds`` (default: between x1 and x2); the bounds' midpoint if the cubic has none."""
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    with np.errstate(all="ignore"):  # inf/nan scalars as in PyTorch, without warnings
        d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
        d2_square = d1**2 - g1 * g2
        if not d2_square >= 0:
            return (lo + hi) / 2.0
        d2 = np.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return min(max(min_pos, lo), hi)


class _Bracket:
    """Two trial step lengths with their losses, gradients and directional derivatives."""

    def __init__(self, ts: list[Scalar], fs: list[Scalar], gs: list[np.ndarray],
                 gtds: list[Scalar]) -> None:
        self.t, self.f, self.g, self.gtd = ts, fs, gs, gtds

    def set(self, i: int, t: Scalar, f: Scalar, g: np.ndarray, gtd: Scalar) -> None:
        self.t[i], self.f[i], self.g[i], self.gtd[i] = t, f, g, gtd

    def low_high(self) -> tuple[int, int]:
        return (0, 1) if self.f[0] <= self.f[-1] else (1, 0)


def _strong_wolfe(obj: Objective, x: list[np.ndarray], t: Scalar, d: np.ndarray, f: float,
                  g: np.ndarray, gtd: Scalar, c1: float = 1e-4, c2: float = 0.9,
                  tolerance_change: float = 1e-9, max_ls: int = 25
                  ) -> tuple[float, np.ndarray, Scalar, int]:
    """A line search along ``d`` for a step ``t`` meeting the strong Wolfe conditions
    (sufficient decrease ``c1``, curvature ``c2``): first bracket such a step, then zoom in
    by cubic interpolation. Returns (loss, flat gradient, t, number of evaluations)."""
    d_norm = np.abs(d).max()
    g = g.copy()
    f_new, g_new = obj(x, t, d)
    evals = 1
    gtd_new = g_new.dot(d)
    t_prev, f_prev, g_prev, gtd_prev = 0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: _Bracket | None = None
    while ls_iter < max_ls:
        # Order matters: a step with too little decrease brackets even if its slope would do.
        too_high = f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev)
        if not too_high and abs(gtd_new) <= -c2 * gtd:
            bracket = _Bracket([t], [f_new], [g_new], [gtd_new])
            done = True
            break
        if too_high or gtd_new >= 0:
            bracket = _Bracket([t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()],
                               [gtd_prev, gtd_new])
            break
        # Extrapolate: the next trial lies beyond t, at most ten times it.
        t_prev, t = t, _cubic_minimum(t_prev, f_prev, gtd_prev, t, f_new, gtd_new,
                                      bounds=(t + 0.01 * (t - t_prev), t * 10))
        f_prev, g_prev, gtd_prev = f_new, g_new.copy(), gtd_new
        f_new, g_new = obj(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket = _Bracket([0, t], [f, f_new], [g, g_new], [gtd, gtd_new])
    assert bracket is not None
    if not done:
        evals += _zoom(obj, x, d, f, gtd, bracket, d_norm, c1, c2, tolerance_change,
                       max_ls - ls_iter)
    low, _ = bracket.low_high()
    return bracket.f[low], bracket.g[low], bracket.t[low], evals


def _zoom(obj: Objective, x: list[np.ndarray], d: np.ndarray, f: float, gtd: Scalar,
          bracket: _Bracket, d_norm: Scalar, c1: float, c2: float, tolerance_change: float,
          max_ls: int) -> int:
    """Shrink ``bracket`` (in place) until its low end meets the strong Wolfe conditions;
    returns the number of evaluations."""
    evals = 0
    insufficient_progress = False
    low, high = bracket.low_high()
    while evals < max_ls:
        ts = bracket.t
        if abs(ts[1] - ts[0]) * d_norm < tolerance_change:
            break
        t = _cubic_minimum(ts[0], bracket.f[0], bracket.gtd[0], ts[1], bracket.f[1],
                           bracket.gtd[1])
        # Too close to an end of the bracket (twice in a row, or outside): move in to 10% of
        # its width from that end, so the bracket keeps shrinking.
        eps = 0.1 * (max(ts) - min(ts))
        if min(max(ts) - t, t - min(ts)) < eps:
            if insufficient_progress or t >= max(ts) or t <= min(ts):
                t = max(ts) - eps if abs(t - max(ts)) < abs(t - min(ts)) else min(ts) + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = obj(x, t, d)
        evals += 1
        gtd_new = g_new.dot(d)
        if f_new > (f + c1 * t * gtd) or f_new >= bracket.f[low]:
            bracket.set(high, t, f_new, g_new.copy(), gtd_new)
            low, high = bracket.low_high()
            continue
        if abs(gtd_new) <= -c2 * gtd:
            bracket.set(low, t, f_new, g_new.copy(), gtd_new)
            break
        if gtd_new * (ts[high] - ts[low]) >= 0:
            bracket.set(high, ts[low], bracket.f[low], bracket.g[low], bracket.gtd[low])
        bracket.set(low, t, f_new, g_new.copy(), gtd_new)
    return evals


def _to_state(value: Any) -> Any:
    """Arrays and NumPy scalars as Tensors (lists element-wise), for ``optimizer.state``."""
    if isinstance(value, (np.ndarray, np.generic)):
        return Tensor._make(np.array(value))
    if isinstance(value, list):
        return [_to_state(v) for v in value]
    return value


def _from_state(value: Any) -> Any:
    """The inverse of :func:`_to_state`: 0-d Tensors become NumPy scalars."""
    if isinstance(value, Tensor):
        return value.data if value.data.ndim else value.data[()]
    if isinstance(value, list):
        return [_from_state(v) for v in value]
    return value


class LBFGS(Optimizer):
    r"""L-BFGS (Nocedal), as ``torch.optim.LBFGS``.

    ``step(closure)`` needs a closure that zeroes the gradients, computes the loss, calls
    ``backward()`` and returns the loss; it is called several times per step. Each step runs
    up to ``max_iter`` iterations (at most ``max_eval`` closure calls): the direction is the
    two-loop L-BFGS product of the last ``history_size`` curvature pairs with the gradient, the
    step length ``lr`` (the first iteration of all: ``min(1, 1/‖g‖₁)·lr``), or the result of a
    strong-Wolfe line search with ``line_search_fn="strong_wolfe"``. It stops early when
    ``max|g| ≤ tolerance_grad``, or the step or the change of the loss is below
    ``tolerance_change``.

    All parameters form one group (there are no per-parameter options). The state is kept
    under the first parameter, with PyTorch's names (``func_evals``, ``n_iter``, ``d``, ``t``,
    ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``,
    ``al``), so a PyTorch LBFGS state dict loads.

    NOTE: an unknown ``line_search_fn`` is refused when the optimizer is created (PyTorch
    raises the same RuntimeError only at the first step), and so is a ``history_size`` < 1.
    In float32 the strong-Wolfe line search may drift from PyTorch's: its cubic interpolation
    takes a square root, which NumPy rounds correctly and PyTorch's CPU kernels do not always
    (one ulp off for about one float32 in six, measured with PyTorch 2.13), and the search
    amplifies that difference into other trial steps.
    """

    def __init__(self, params: ParamsT, lr: float = 1, max_iter: int = 20,
                 max_eval: int | None = None, tolerance_grad: float = 1e-7,
                 tolerance_change: float = 1e-9, history_size: int = 100,
                 line_search_fn: str | None = None) -> None:
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        defaults = {"lr": lr, "max_iter": max_iter, "max_eval": max_eval,
                    "tolerance_grad": tolerance_grad, "tolerance_change": tolerance_change,
                    "history_size": history_size, "line_search_fn": line_search_fn}
        super().__init__(params, defaults)
        self._params: list[Tensor] = self.param_groups[0]["params"]

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """There is one group only: a second one is refused."""
        if self.param_groups:
            raise ValueError(_NO_GROUPS)
        super().add_param_group(param_group)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_non_negative(group, "lr")
        if group["line_search_fn"] not in (None, "strong_wolfe"):
            raise RuntimeError(f"only 'strong_wolfe' is supported as LBFGS's line_search_fn, "
                               f"got {group['line_search_fn']!r} (or None: fixed steps)")
        if not group["history_size"] >= 1:
            raise ValueError(f"Invalid history_size value: {group['history_size']} (LBFGS keeps "
                             "at least one curvature pair)")

    # ------------------------------------------------------------------ flat views
    def _numel(self) -> int:
        return sum(p.data.size for p in self._params)

    def _flat_grad(self) -> np.ndarray:
        """All gradients as one vector (zeros for parameters without one)."""
        return np.concatenate([np.zeros(p.data.size, p.data.dtype) if p.grad is None
                               else p.grad.data.reshape(-1) for p in self._params])

    def _add_to_params(self, step_size: Scalar, direction: np.ndarray) -> None:
        """``params ← params + step_size·direction`` (direction a flat vector)."""
        offset = 0
        for p in self._params:
            n = p.data.size
            fused_axpy(p.data, step_size, direction[offset:offset + n].reshape(p.data.shape))
            offset += n
        self._bump_versions(self._params)

    def _set_params(self, values: list[np.ndarray]) -> None:
        for p, v in zip(self._params, values):
            np.copyto(p.data, v)
        self._bump_versions(self._params)

    def _loss(self, closure: Callable[[], Any]) -> float:
        return float(self._eval_closure(closure))

    # ------------------------------------------------------------------ state dicts
    def _check_state_value(self, key: str, value: np.ndarray, param: Tensor) -> str | None:
        """``d`` and ``prev_flat_grad`` have one entry per parameter element; ``t`` and
        ``H_diag`` are numbers."""
        if key in ("d", "prev_flat_grad"):
            n = self._numel()
            return None if value.size == n else (
                f"expected a flat vector of {n} elements (all parameters), got shape "
                f"{tuple(value.shape)}")
        if key in ("t", "H_diag"):
            return None if value.size == 1 else f"expected one number, got shape {value.shape}"
        return super()._check_state_value(key, value, param)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """As :meth:`Optimizer.load_state_dict`; the history lists' arrays (a PyTorch state's
        tensors too) are cast to the parameters' dtype."""
        dtype = self._params[0].data.dtype

        def convert(value: Any) -> Any:
            if isinstance(value, (list, tuple)):
                return [convert(v) for v in value]
            arr = _array_of(value)
            return value if arr is None else Tensor._make(np.array(arr, dtype=dtype))

        state = state_dict.get("state") if isinstance(state_dict, Mapping) else None
        if isinstance(state, Mapping):
            state_dict = dict(state_dict)
            state_dict["state"] = {
                key: {k: convert(v) if isinstance(v, (list, tuple)) else v
                      for k, v in entry.items()} if isinstance(entry, Mapping) else entry
                for key, entry in state.items()}
        super().load_state_dict(state_dict)

    # ------------------------------------------------------------------ the step
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Run up to ``max_iter`` L-BFGS iterations; returns the loss before the first one.

        ``closure`` (required) re-evaluates the model: zero the gradients, compute the loss,
        call ``backward()``, return the loss.
        """
        if closure is None:
            raise TypeError("LBFGS.step() needs a closure that re-evaluates the model: zero "
                            "the gradients, compute the loss, call loss.backward() and return "
                            "the loss; pass it as optimizer.step(closure)")
        group = self.param_groups[0]
        state = self.state[self._params[0]]
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        orig_loss = self._eval_closure(closure)
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= group["tolerance_grad"]:
            return orig_loss
        memory = {k: _from_state(state.get(k)) for k in (
            "d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss")}
        self._iterate(closure, group, state, memory, float(orig_loss), flat_grad)
        for k, v in memory.items():
            state[k] = _to_state(v)
        if "al" in state:
            state["al"] = _to_state(state["al"])
        return orig_loss

    def _iterate(self, closure: Callable[[], Any], group: Mapping[str, Any],
                 state: dict[str, Any], memory: dict[str, Any], loss: float,
                 flat_grad: np.ndarray) -> None:
        """The iterations of one step; ``memory`` (d, t, the history, ...) is updated."""
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_change = group["tolerance_change"]
        current_evals = 1
        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                memory.update(d=-flat_grad, old_dirs=[], old_stps=[], ro=[], H_diag=1)
            else:
                self._remember_curvature(memory, flat_grad, group["history_size"])
                memory["d"] = self._direction(state, memory, flat_grad, group["history_size"])
            d = memory["d"]
            if memory["prev_flat_grad"] is None:
                memory["prev_flat_grad"] = flat_grad.copy()
            else:
                np.copyto(memory["prev_flat_grad"], flat_grad)
            prev_loss = memory["prev_loss"] = loss
            # The first step of all is scaled so that it moves by at most lr in the 1-norm.
            t = min(1.0, 1.0 / np.abs(flat_grad).sum()) * lr if state["n_iter"] == 1 else lr
            gtd = flat_grad.dot(d)
            if gtd > -tolerance_change:  # not a descent direction (any more)
                memory["t"] = t
                break
            evals = 0
            if group["line_search_fn"] is not None:
                x_init = [p.data.copy() for p in self._params]
                loss, flat_grad, t, evals = _strong_wolfe(
                    self._directional_objective(closure), x_init, t, d, loss, flat_grad, gtd,
                    max_ls=max_eval - current_evals)
                self._add_to_params(t, d)
                optimal = np.abs(flat_grad).max() <= group["tolerance_grad"]
            else:
                self._add_to_params(t, d)
                optimal = False
                if n_iter != max_iter:  # no use evaluating after the last fixed step
                    loss = self._loss(closure)
                    flat_grad = self._flat_grad()
                    optimal = np.abs(flat_grad).max() <= group["tolerance_grad"]
                    evals = 1
            memory["t"] = t
            current_evals += evals
            state["func_evals"] += evals
            if (n_iter == max_iter or current_evals >= max_eval or optimal
                    or np.abs(d * t).max() <= tolerance_change
                    or abs(loss - prev_loss) < tolerance_change):
                break

    @staticmethod
    def _remember_curvature(memory: dict[str, Any], flat_grad: np.ndarray,
                            history_size: int) -> None:
        """Add the pair (y = Δgrad, s = last step) to the history if it has positive
        curvature, and rescale the initial inverse Hessian to ys/yy."""
        y = flat_grad - memory["prev_flat_grad"]
        s = memory["d"] * memory["t"]
        ys = y.dot(s)
        if ys > 1e-10:
            if len(memory["old_dirs"]) == history_size:
                for k in ("old_dirs", "old_stps", "ro"):
                    memory[k].pop(0)
            memory["old_dirs"].append(y)
            memory["old_stps"].append(s)
            memory["ro"].append(1.0 / ys)
            memory["H_diag"] = ys / y.dot(y)

    @staticmethod
    def _direction(state: dict[str, Any], memory: dict[str, Any], flat_grad: np.ndarray,
                   history_size: int) -> np.ndarray:
        """The two-loop recursion: −H·grad for the L-BFGS inverse-Hessian estimate H."""
        dirs, stps, ro = memory["old_dirs"], memory["old_stps"], memory["ro"]
        al: list[Any] = _from_state(state["al"]) if "al" in state else [None] * history_size
        state["al"] = al
        q = -flat_grad
        for i in range(len(dirs) - 1, -1, -1):
            alpha = al[i] = stps[i].dot(q) * ro[i]
            fused_axpy(q, -alpha, dirs[i])
        r = q * memory["H_diag"]
        for i in range(len(dirs)):
            be_i = dirs[i].dot(r) * ro[i]
            fused_axpy(r, al[i] - be_i, stps[i])
        return r

    def _directional_objective(self, closure: Callable[[], Any]) -> Objective:
        def evaluate(x: list[np.ndarray], t: Scalar, d: np.ndarray
                     ) -> tuple[float, np.ndarray]:
            self._add_to_params(t, d)
            loss = self._loss(closure)
            flat_grad = self._flat_grad()
            self._set_params(x)
            return loss, flat_grad
        return evaluate
