"""ASGD: averaged stochastic gradient descent (Polyak-Ruppert averaging)."""

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

__all__ = ["ASGD", "asgd_step"]


def asgd_step(params: list[np.ndarray], grads: list[np.ndarray], axs: list[np.ndarray],
              mus: list[np.ndarray], etas: list[np.ndarray], state_steps: list[np.ndarray], *,
              lambd: float, lr: float, t0: float, alpha: float, weight_decay: float,
              maximize: bool) -> None:
    """One ASGD update of each array in ``params``, in place (PyTorch's formulas)::

        t = t + 1;   g = ±grad + λ_wd·p
        p = p·(1 − λ·η) − η·g
        ā = p  (μ = 1),   ā = ā + μ·(p − ā)  (otherwise)
        η = lr/(1 + λ·lr·t)^α;   μ = 1/max(1, t − t0)

    ``etas`` and ``mus`` are 0-d arrays whose dtype is kept (float32 in a fresh state, as in
    PyTorch: η is a float32 number even for float64 parameters).
    """
    for i, (p, grad) in enumerate(zip(params, grads)):
        step_t = state_steps[i]
        step_t += 1
        ax, mu, eta = axs[i], mus[i], etas[i]
        tmp = np.empty_like(p)
        d = descent_direction(p, grad, weight_decay, maximize, tmp)
        eta_value = float(eta)
        p *= 1 - lambd * eta_value
        np.multiply(d, -eta_value, out=tmp)
        p += tmp
        if float(mu) != 1:
            np.subtract(p, ax, out=tmp)
            tmp *= mu
            ax += tmp
        else:
            np.copyto(ax, p)
        step = float(step_t)
        # Rounded to float32 first whatever the state's dtype (PyTorch makes a default-dtype
        # tensor of the new value, then copies it into the state).
        eta[...] = np.float32(lr / ((1 + lambd * lr * step) ** alpha))
        mu[...] = np.float32(1 / max(1, step - t0))


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak & Juditsky), as ``torch.optim.ASGD``.

    Each step is a decayed SGD step with step size ``η``, ``θ ← θ(1 − λη) − η·g``, and then
    the running average ``ax`` of the iterates is updated (it starts averaging after ``t0``
    steps; until then it is the last iterate). ``η`` decays as ``lr/(1 + λ·lr·t)^α``.
    State per parameter: ``step``, ``eta`` (η), ``mu`` (the averaging weight) and ``ax``
    (the average, which is what to evaluate the model with).
    """

    _required_state = ("step", "eta", "mu", "ax")
    _scalar_state = ("step", "eta", "mu")

    def __init__(self, params: ParamsT, lr: float = 1e-2, lambd: float = 1e-4,
                 alpha: float = 0.75, t0: float = 1e6, weight_decay: float = 0.0,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False, capturable: bool = False) -> None:
        check_torch_only_options("ASGD", differentiable)
        defaults = {"lr": lr, "lambd": lambd, "alpha": alpha, "t0": t0,
                    "weight_decay": weight_decay, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_non_negative(group, "lr", "weight_decay")

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        lr = float(group["lr"])
        states = self._state_for(params, lambda p: new_state(p, "ax", eta=lr, mu=1.0))
        asgd_step([p.data for p in params], grads,
                  *state_arrays(states, "ax", "mu", "eta", "step"), lambd=group["lambd"],
                  lr=lr, t0=group["t0"], alpha=group["alpha"],
                  weight_decay=group["weight_decay"], maximize=group["maximize"])
