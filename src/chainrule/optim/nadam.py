"""NAdam: Adam with Nesterov momentum (Dozat), with momentum decay."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .adam import _decayed_direction, _update_moments
from .optimizer import (
    Optimizer,
    ParamsT,
    check_adam_group,
    check_torch_only_options,
    new_state,
    state_arrays,
)

__all__ = ["NAdam", "nadam_step"]


def _momentum_at(step: float, beta1: float, momentum_decay: float) -> float:
    """The warmed-up momentum coefficient μₜ = β1·(1 − ½·0.96^(t·ψ))."""
    return beta1 * (1.0 - 0.5 * 0.96 ** (step * momentum_decay))


def nadam_step(params: list[np.ndarray], grads: list[np.ndarray], exp_avgs: list[np.ndarray],
               exp_avg_sqs: list[np.ndarray], mu_products: list[np.ndarray],
               state_steps: list[np.ndarray], *, beta1: float, beta2: float, lr: float,
               weight_decay: float, momentum_decay: float, eps: float,
               decoupled_weight_decay: bool, maximize: bool) -> None:
    """One NAdam update of each array in ``params``, in place (PyTorch's formulas)::

        t = t + 1;   p = p·(1 − lr·λ) (decoupled),  g = ±grad + λ·p (otherwise)
        μₜ = β1(1 − ½·0.96^(tψ));   Πₜ = Πₜ₋₁·μₜ                (mu_products[i], 0-d)
        m = m + (1 − β1)(g − m);   v = β2·v + (1 − β2)·g²;   a = √(v/(1 − β2ᵗ)) + ε
        p = p − lr(1 − μₜ)/(1 − Πₜ) · g/a − lr·μₜ₊₁/(1 − Πₜ·μₜ₊₁) · m/a

    ``Πₜ`` is kept in its array's dtype (float32 in a fresh state, as PyTorch does).
    """
    for i, (p, grad) in enumerate(zip(params, grads)):
        step_t = state_steps[i]
        step_t += 1
        step = float(step_t)
        m, v, mu_product = exp_avgs[i], exp_avg_sqs[i], mu_products[i]
        tmp = np.empty_like(p)
        tmp2 = np.empty_like(p)
        d = _decayed_direction(p, grad, tmp, lr=lr, weight_decay=weight_decay,
                               decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        mu = _momentum_at(step, beta1, momentum_decay)
        mu_next = _momentum_at(step + 1, beta1, momentum_decay)
        mu_product *= mu
        _update_moments(m, v, d, beta1, beta2, tmp2)
        denom = np.divide(v, 1 - beta2**step, out=tmp2)
        np.sqrt(denom, out=denom)
        denom += eps
        product = float(mu_product)
        update = np.multiply(d, -lr * (1.0 - mu) / (1.0 - product), out=tmp)
        update /= denom
        p += update
        np.multiply(m, (-lr * mu_next) / (1.0 - product * mu_next), out=tmp)
        tmp /= denom
        p += tmp


class NAdam(Optimizer):
    r"""NAdam (Dozat, "Incorporating Nesterov momentum into Adam"), as ``torch.optim.NAdam``.

    With ``(β1, β2) = betas``, momentum decay ``ψ``, weight decay ``λ``, at step ``t``::

        g ← ∇f(θ) + λθ     (or θ ← θ(1 − lr·λ) with decoupled_weight_decay: NAdamW)
        μₜ = β1(1 − ½·0.96^(tψ));  m ← β1·m + (1 − β1)g;  v ← β2·v + (1 − β2)g²
        θ ← θ − lr(1 − μₜ)/(1 − Πᵢ≤ₜ μᵢ) · g/(√v̂ + ε) − lr·μₜ₊₁/(1 − Πᵢ≤ₜ₊₁ μᵢ) · m/(√v̂ + ε)

    with ``v̂ = v/(1 − β2ᵗ)``. State per parameter: ``step``, ``mu_product`` (the running
    product of the μ), ``exp_avg`` (m) and ``exp_avg_sq`` (v).
    """

    _legacy_defaults = {"maximize": False, "decoupled_weight_decay": False}
    _required_state = ("step", "mu_product", "exp_avg", "exp_avg_sq")
    _scalar_state = ("step", "mu_product")

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, momentum_decay: float = 4e-3,
                 decoupled_weight_decay: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False) -> None:
        check_torch_only_options("NAdam", differentiable)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "momentum_decay": momentum_decay,
                    "decoupled_weight_decay": decoupled_weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_adam_group(group, "momentum_decay")

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        states = self._state_for(
            params, lambda p: new_state(p, "exp_avg", "exp_avg_sq", mu_product=1.0))
        beta1, beta2 = group["betas"]
        nadam_step([p.data for p in params], grads,
                   *state_arrays(states, "exp_avg", "exp_avg_sq", "mu_product", "step"),
                   beta1=float(beta1), beta2=float(beta2), lr=float(group["lr"]),
                   weight_decay=group["weight_decay"], momentum_decay=group["momentum_decay"],
                   eps=group["eps"], decoupled_weight_decay=group["decoupled_weight_decay"],
                   maximize=group["maximize"])
