"""Adamax: Adam with the infinity norm in place of the second moment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .adam import _lerp_
from .optimizer import (
    Optimizer,
    ParamsT,
    check_adam_group,
    check_torch_only_options,
    descent_direction,
    new_state,
    state_arrays,
)

__all__ = ["Adamax", "adamax_step"]


def adamax_step(params: list[np.ndarray], grads: list[np.ndarray], exp_avgs: list[np.ndarray],
                exp_infs: list[np.ndarray], state_steps: list[np.ndarray], *, beta1: float,
                beta2: float, lr: float, weight_decay: float, eps: float,
                maximize: bool) -> None:
    """One Adamax update of each array in ``params``, in place (PyTorch's formulas)::

        t = t + 1;   g = ±grad + λ·p
        m = m + (1 − β1)·(g − m);   u = max(β2·u, |g| + ε)
        p = p − lr/(1 − β1ᵗ) · m / u
    """
    for i, (p, grad) in enumerate(zip(params, grads)):
        step_t = state_steps[i]
        step_t += 1
        m, u = exp_avgs[i], exp_infs[i]
        tmp = np.empty_like(p)
        tmp2 = np.empty_like(p)
        d = descent_direction(p, grad, weight_decay, maximize, tmp)
        _lerp_(m, d, 1 - beta1, tmp2)
        u *= beta2
        np.abs(d, out=tmp2)
        tmp2 += eps
        np.maximum(u, tmp2, out=u)
        clr = lr / (1 - beta1 ** float(step_t))
        np.multiply(m, -clr, out=tmp)
        tmp /= u
        p += tmp


class Adamax(Optimizer):
    r"""Adamax (Kingma & Ba, section 7), as ``torch.optim.Adamax``.

    With ``(β1, β2) = betas`` and weight decay ``λ``, at step ``t``::

        g ← ∇f(θ) + λθ;   m ← β1·m + (1 − β1)·g;   u ← max(β2·u, |g| + ε)
        θ ← θ − lr/(1 − β1ᵗ) · m / u

    State per parameter: ``step``, ``exp_avg`` (m) and ``exp_inf`` (u).
    """

    _required_state = ("step", "exp_avg", "exp_inf")

    def __init__(self, params: ParamsT, lr: float = 2e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, foreach: bool | None = None, *,
                 maximize: bool = False, differentiable: bool = False,
                 capturable: bool = False) -> None:
        check_torch_only_options("Adamax", differentiable)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_adam_group(group)

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        states = self._state_for(params, lambda p: new_state(p, "exp_avg", "exp_inf"))
        beta1, beta2 = group["betas"]
        adamax_step([p.data for p in params], grads,
                    *state_arrays(states, "exp_avg", "exp_inf", "step"),
                    beta1=float(beta1), beta2=float(beta2), lr=float(group["lr"]),
                    weight_decay=group["weight_decay"], eps=group["eps"],
                    maximize=group["maximize"])
