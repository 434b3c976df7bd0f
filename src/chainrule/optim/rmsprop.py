"""RMSprop, optionally centered and with momentum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .adam import _lerp_
from .optimizer import (
    Optimizer,
    ParamsT,
    check_non_negative,
    check_torch_only_options,
    descent_direction,
    new_state,
    state_arrays,
)

__all__ = ["RMSprop", "rmsprop_step"]


def rmsprop_step(params: list[np.ndarray], grads: list[np.ndarray],
                 square_avgs: list[np.ndarray], grad_avgs: list[np.ndarray],
                 momentum_buffers: list[np.ndarray], state_steps: list[np.ndarray], *,
                 lr: float, alpha: float, eps: float, weight_decay: float, momentum: float,
                 centered: bool, maximize: bool) -> None:
    """One RMSprop update of each array in ``params``, in place (PyTorch's formulas)::

        t = t + 1;   g = ±grad + λ·p
        v = α·v + (1 − α)·g²
        ḡ = ḡ + (1 − α)·(g − ḡ);  a = √(v − ḡ²) + ε      (centered)
        a = √v + ε                                        (otherwise)
        b = μ·b + g/a;  p = p − lr·b                      (momentum μ > 0)
        p = p − lr·g/a                                    (otherwise)

    ``grad_avgs`` is read only when ``centered``, ``momentum_buffers`` only when μ > 0.
    """
    for i, (p, grad) in enumerate(zip(params, grads)):
        step_t = state_steps[i]
        step_t += 1
        v = square_avgs[i]
        tmp = np.empty_like(p)
        avg = np.empty_like(p)
        d = descent_direction(p, grad, weight_decay, maximize, tmp)
        v *= alpha
        np.multiply(d, 1 - alpha, out=avg)
        avg *= d
        v += avg
        if centered:
            ga = grad_avgs[i]
            _lerp_(ga, d, 1 - alpha, avg)
            np.multiply(ga, -1.0, out=avg)
            avg *= ga
            avg += v
            np.sqrt(avg, out=avg)
        else:
            np.sqrt(v, out=avg)
        avg += eps
        if momentum > 0:
            buf = momentum_buffers[i]
            buf *= momentum
            np.divide(d, avg, out=avg)
            buf += avg
            np.multiply(buf, -lr, out=avg)
            p += avg
        else:
            np.multiply(d, -lr, out=tmp)
            tmp /= avg
            p += tmp


class RMSprop(Optimizer):
    r"""RMSprop (Hinton), as ``torch.optim.RMSprop``.

    With smoothing ``α``, weight decay ``λ``, momentum ``μ``::

        g ← ∇f(θ) + λθ;   v ← αv + (1 − α)g²
        a ← √(v − ḡ²) + ε with ḡ ← αḡ + (1 − α)g (centered),  else a ← √v + ε
        b ← μb + g/a, θ ← θ − lr·b  (μ > 0);   θ ← θ − lr·g/a  (otherwise)

    State per parameter: ``step``, ``square_avg`` (v), ``momentum_buffer`` (μ > 0) and
    ``grad_avg`` (ḡ, centered).
    """

    _required_state = ("step", "square_avg")

    def __init__(self, params: ParamsT, lr: float = 1e-2, alpha: float = 0.99,
                 eps: float = 1e-8, weight_decay: float = 0.0, momentum: float = 0.0,
                 centered: bool = False, capturable: bool = False, foreach: bool | None = None,
                 maximize: bool = False, differentiable: bool = False) -> None:
        check_torch_only_options("RMSprop", differentiable)
        defaults = {"lr": lr, "alpha": alpha, "eps": eps, "weight_decay": weight_decay,
                    "momentum": momentum, "centered": centered, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_non_negative(group, "lr", "eps", "momentum", "weight_decay", "alpha")

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        momentum, centered = group["momentum"], group["centered"]
        states = self._state_for(params, lambda p: new_state(p, "square_avg"))
        for p, s in zip(params, states):  # also when switched on after the first step
            if momentum > 0 and "momentum_buffer" not in s:
                s["momentum_buffer"] = Tensor._make(np.zeros_like(p.data))
            if centered and "grad_avg" not in s:
                s["grad_avg"] = Tensor._make(np.zeros_like(p.data))
        square_avgs, steps = state_arrays(states, "square_avg", "step")
        rmsprop_step([p.data for p in params], grads, square_avgs,
                     [s["grad_avg"].data for s in states] if centered else [],
                     [s["momentum_buffer"].data for s in states] if momentum > 0 else [],
                     steps,
                     lr=float(group["lr"]), alpha=group["alpha"], eps=group["eps"],
                     weight_decay=group["weight_decay"], momentum=momentum,
                     centered=centered, maximize=group["maximize"])
