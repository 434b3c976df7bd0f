"""Adagrad: per-coordinate learning rates from the sum of squared gradients."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    ParamsT,
    check_non_negative,
    check_torch_only_options,
    descent_direction,
    state_arrays,
)

__all__ = ["Adagrad", "adagrad_step"]


def adagrad_step(params: list[np.ndarray], grads: list[np.ndarray], state_sums: list[np.ndarray],
                 state_steps: list[np.ndarray], *, lr: float, weight_decay: float,
                 lr_decay: float, eps: float, maximize: bool) -> None:
    """One Adagrad update of each array in ``params``, in place (PyTorch's formulas)::

        t = t + 1;   g = ±grad + λ·p
        s = s + g²
        p = p − lr/(1 + (t − 1)·lr_decay) · g / (√s + ε)
    """
    for i, (p, grad) in enumerate(zip(params, grads)):
        step_t = state_steps[i]
        step_t += 1
        clr = lr / (1 + (float(step_t) - 1) * lr_decay)
        s = state_sums[i]
        tmp = np.empty_like(p)
        std = np.empty_like(p)
        d = descent_direction(p, grad, weight_decay, maximize, tmp)
        np.multiply(d, d, out=std)
        s += std
        np.sqrt(s, out=std)
        std += eps
        np.multiply(d, -clr, out=tmp)
        tmp /= std
        p += tmp


class Adagrad(Optimizer):
    r"""Adagrad (Duchi et al.), as ``torch.optim.Adagrad``.

    With weight decay ``λ`` and learning-rate decay ``η``, at step ``t``::

        g ← ∇f(θ) + λθ;   s ← s + g²;   θ ← θ − lr/(1 + (t − 1)η) · g / (√s + ε)

    ``s`` starts at ``initial_accumulator_value``. State per parameter (made for every
    parameter when the optimizer is created, as in PyTorch): ``step`` and ``sum`` (s).

    NOTE: a param group's own ``initial_accumulator_value`` is used for its parameters;
    ``torch.optim.Adagrad`` starts every parameter at the constructor's value and ignores the
    group's (its trajectories differ only for groups that set their own value).
    """

    _required_state = ("step", "sum")

    def __init__(self, params: ParamsT, lr: float = 1e-2, lr_decay: float = 0.0,
                 weight_decay: float = 0.0, initial_accumulator_value: float = 0.0,
                 eps: float = 1e-10, foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        check_torch_only_options("Adagrad", differentiable)
        defaults = {"lr": lr, "lr_decay": lr_decay, "eps": eps, "weight_decay": weight_decay,
                    "initial_accumulator_value": initial_accumulator_value,
                    "maximize": maximize}
        super().__init__(params, defaults)
        for group in self.param_groups:
            self._state_for(group["params"], self._init_state(group))

    @staticmethod
    def _init_state(group: Mapping[str, Any]) -> Callable[[Tensor], dict[str, Any]]:
        value = group["initial_accumulator_value"]
        return lambda p: {"step": Tensor._make(np.zeros((), np.float32)),
                          "sum": Tensor._make(np.full_like(p.data, value))}

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_non_negative(group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value",
                           "eps")

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        states = self._state_for(params, self._init_state(group))
        adagrad_step([p.data for p in params], grads, *state_arrays(states, "sum", "step"),
                     lr=float(group["lr"]), weight_decay=group["weight_decay"],
                     lr_decay=group["lr_decay"], eps=group["eps"], maximize=group["maximize"])
