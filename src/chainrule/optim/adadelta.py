"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    ParamsT,
    check_non_negative,
    check_torch_only_options,
    descent_direction,
    new_state,
    state_arrays,
)

__all__ = ["Adadelta", "adadelta_step"]


def adadelta_step(params: list[np.ndarray], grads: list[np.ndarray],
                  square_avgs: list[np.ndarray], acc_deltas: list[np.ndarray],
                  state_steps: list[np.ndarray], *, lr: float, rho: float, eps: float,
                  weight_decay: float, maximize: bool) -> None:
    """One Adadelta update of each array in ``params``, in place (PyTorch's formulas)::

        t = t + 1;   g = ±grad + λ·p
        v = ρ·v + (1 − ρ)·g²;   Δ = √(u + ε) / √(v + ε) · g;   u = ρ·u + (1 − ρ)·Δ²
        p = p − lr·Δ
    """
    for i, (p, grad) in enumerate(zip(params, grads)):
        step_t = state_steps[i]
        step_t += 1
        v, u = square_avgs[i], acc_deltas[i]
        tmp = np.empty_like(p)
        std = np.empty_like(p)
        delta = np.empty_like(p)  # (a ufunc without out= gives a scalar for a 0-d parameter)
        d = descent_direction(p, grad, weight_decay, maximize, tmp)
        v *= rho
        np.multiply(d, 1 - rho, out=std)
        std *= d
        v += std
        np.add(v, eps, out=std)
        np.sqrt(std, out=std)
        np.add(u, eps, out=delta)
        np.sqrt(delta, out=delta)
        delta /= std
        delta *= d
        u *= rho
        np.multiply(delta, 1 - rho, out=std)
        std *= delta
        u += std
        delta *= -lr
        p += delta


class Adadelta(Optimizer):
    r"""Adadelta (Zeiler), as ``torch.optim.Adadelta``.

    With decay ``ρ`` and weight decay ``λ``::

        g ← ∇f(θ) + λθ;   v ← ρv + (1 − ρ)g²
        Δ ← √(u + ε)/√(v + ε) · g;   u ← ρu + (1 − ρ)Δ²;   θ ← θ − lr·Δ

    State per parameter: ``step``, ``square_avg`` (v) and ``acc_delta`` (u).
    """

    _required_state = ("step", "square_avg", "acc_delta")

    def __init__(self, params: ParamsT, lr: float = 1.0, rho: float = 0.9, eps: float = 1e-6,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 capturable: bool = False, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_torch_only_options("Adadelta", differentiable)
        defaults = {"lr": lr, "rho": rho, "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_non_negative(group, "lr")
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']} (rho must be in [0, 1])")
        check_non_negative(group, "eps", "weight_decay")

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        states = self._state_for(params, lambda p: new_state(p, "square_avg", "acc_delta"))
        adadelta_step([p.data for p in params], grads,
                      *state_arrays(states, "square_avg", "acc_delta", "step"),
                      lr=float(group["lr"]), rho=group["rho"], eps=group["eps"],
                      weight_decay=group["weight_decay"], maximize=group["maximize"])
