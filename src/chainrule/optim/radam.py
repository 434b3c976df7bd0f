"""RAdam: Adam with a rectified (variance-corrected) adaptive learning rate."""

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

__all__ = ["RAdam", "radam_step"]


def radam_step(params: list[np.ndarray], grads: list[np.ndarray], exp_avgs: list[np.ndarray],
               exp_avg_sqs: list[np.ndarray], state_steps: list[np.ndarray], *, beta1: float,
               beta2: float, lr: float, weight_decay: float, eps: float,
               decoupled_weight_decay: bool, maximize: bool) -> None:
    """One RAdam update of each array in ``params``, in place (PyTorch's formulas)::

        t = t + 1;   p = p·(1 − lr·λ) (decoupled),  g = ±grad + λ·p (otherwise)
        m = m + (1 − β1)(g − m);   v = β2·v + (1 − β2)·g²;   m̂ = m/(1 − β1ᵗ)
        ρ∞ = 2/(1 − β2) − 1;   ρₜ = ρ∞ − 2t·β2ᵗ/(1 − β2ᵗ)
        p = p − m̂·lr·√(1 − β2ᵗ)/(√v + ε)·r    with r = √((ρₜ−4)(ρₜ−2)ρ∞/((ρ∞−4)(ρ∞−2)ρₜ))
                                               (ρₜ > 5: the variance is tractable)
        p = p − m̂·lr                           (otherwise: plain momentum SGD)
    """
    for i, (p, grad) in enumerate(zip(params, grads)):
        step_t = state_steps[i]
        step_t += 1
        step = float(step_t)
        m, v = exp_avgs[i], exp_avg_sqs[i]
        tmp = np.empty_like(p)
        tmp2 = np.empty_like(p)
        d = _decayed_direction(p, grad, tmp, lr=lr, weight_decay=weight_decay,
                               decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        _update_moments(m, v, d, beta1, beta2, tmp2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        update = np.divide(m, bias_correction1, out=tmp)
        update *= lr
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * step * (beta2**step) / bias_correction2
        if rho_t > 5.0:
            rect = ((rho_t - 4) * (rho_t - 2) * rho_inf
                    / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
            adaptive = np.sqrt(v, out=tmp2)
            adaptive += eps
            np.reciprocal(adaptive, out=adaptive)  # PyTorch's c / x is (1/x)·c
            adaptive *= bias_correction2**0.5
            update *= adaptive
            update *= rect
        p -= update


class RAdam(Optimizer):
    r"""RAdam (Liu et al., "On the variance of the adaptive learning rate and beyond"), as
    ``torch.optim.RAdam``.

    Adam whose adaptive step is multiplied by a rectification term ``r(ρₜ)`` once the
    approximated simple-moving-average length ``ρₜ`` exceeds 5; before that it takes plain
    bias-corrected momentum steps ``θ ← θ − lr·m̂``. ``decoupled_weight_decay`` decays the
    weights ``θ ← θ(1 − lr·λ)`` instead of adding ``λθ`` to the gradient (RAdamW).
    State per parameter: ``step``, ``exp_avg`` and ``exp_avg_sq``.
    """

    _legacy_defaults = {"maximize": False, "decoupled_weight_decay": False}
    _required_state = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, decoupled_weight_decay: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False,
                 capturable: bool = False, differentiable: bool = False) -> None:
        check_torch_only_options("RAdam", differentiable)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize, "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_adam_group(group)

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        states = self._state_for(params, lambda p: new_state(p, "exp_avg", "exp_avg_sq"))
        beta1, beta2 = group["betas"]
        radam_step([p.data for p in params], grads,
                   *state_arrays(states, "exp_avg", "exp_avg_sq", "step"),
                   beta1=float(beta1), beta2=float(beta2), lr=float(group["lr"]),
                   weight_decay=group["weight_decay"], eps=group["eps"],
                   decoupled_weight_decay=group["decoupled_weight_decay"],
                   maximize=group["maximize"])
