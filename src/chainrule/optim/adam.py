"""Adam and AdamW (Adam with decoupled weight decay), with the AMSGrad variant."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    ParamsT,
    check_adam_group,
    check_torch_only_options,
    descent_direction,
    new_state,
    state_arrays,
)

__all__ = ["Adam", "AdamW", "adam_step"]


def _lerp_(start: np.ndarray, end: np.ndarray, weight: float, tmp: np.ndarray) -> None:
    """``start ← start + weight·(end − start)`` in place, rounded as ``torch.lerp_``."""
    np.subtract(end, start, out=tmp)
    if weight < 0.5:
        tmp *= weight
        start += tmp
    else:
        tmp *= 1 - weight
        np.subtract(end, tmp, out=start)


def _decayed_direction(p: np.ndarray, grad: np.ndarray, tmp: np.ndarray, *, lr: float,
                       weight_decay: float, decoupled_weight_decay: bool,
                       maximize: bool) -> np.ndarray:
    """The gradient an Adam-type update uses: ``±grad + λ·p``, or with decoupled weight decay
    (AdamW) ``±grad`` after decaying the weights, ``p ← p·(1 − lr·λ)``. See
    :func:`descent_direction` for ``tmp``."""
    if weight_decay != 0 and decoupled_weight_decay:
        p *= 1 - lr * weight_decay
    return descent_direction(p, grad, 0.0 if decoupled_weight_decay else weight_decay,
                             maximize, tmp)


def _update_moments(m: np.ndarray, v: np.ndarray, g: np.ndarray, beta1: float, beta2: float,
                    tmp: np.ndarray) -> None:
    """Adam's moment estimates in place: ``m ← m + (1 − β1)·(g − m)``,
    ``v ← β2·v + (1 − β2)·g²`` (``tmp`` is scratch)."""
    _lerp_(m, g, 1 - beta1, tmp)
    v *= beta2
    np.multiply(g, 1 - beta2, out=tmp)
    tmp *= g
    v += tmp


def adam_step(params: list[np.ndarray], grads: list[np.ndarray], exp_avgs: list[np.ndarray],
              exp_avg_sqs: list[np.ndarray], max_exp_avg_sqs: list[np.ndarray],
              state_steps: list[np.ndarray], *, amsgrad: bool, beta1: float, beta2: float,
              lr: float, weight_decay: float, eps: float, maximize: bool,
              decoupled_weight_decay: bool = False) -> None:
    """One Adam update of each array in ``params``, in place (PyTorch's formulas)::

        t = t + 1                                   (state_steps[i], a 0-d array)
        p = p·(1 − lr·λ)  (decoupled),  g = ±grad + λ·p  (otherwise)
        m = m + (1 − β1)·(g − m);  v = β2·v + (1 − β2)·g²;  v̂max = max(v̂max, v) (amsgrad)
        p = p − lr/(1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + ε)      (v̂max in place of v: amsgrad)

    ``max_exp_avg_sqs`` is only read when ``amsgrad`` (it may be empty otherwise).
    """
    for i, (p, grad) in enumerate(zip(params, grads)):
        m, v = exp_avgs[i], exp_avg_sqs[i]
        step_t = state_steps[i]
        step_t += 1
        step = float(step_t)
        tmp = np.empty_like(p)
        tmp2 = np.empty_like(p)
        d = _decayed_direction(p, grad, tmp, lr=lr, weight_decay=weight_decay,
                               decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        _update_moments(m, v, d, beta1, beta2, tmp2)
        bias_correction1 = 1 - beta1**step
        bias_correction2 = 1 - beta2**step
        step_size = lr / bias_correction1
        bias_correction2_sqrt = bias_correction2**0.5
        if amsgrad:
            np.maximum(max_exp_avg_sqs[i], v, out=max_exp_avg_sqs[i])
            np.sqrt(max_exp_avg_sqs[i], out=tmp2)
        else:
            np.sqrt(v, out=tmp2)
        tmp2 /= bias_correction2_sqrt
        tmp2 += eps
        np.multiply(m, -step_size, out=tmp)
        tmp /= tmp2
        p += tmp


class Adam(Optimizer):
    r"""Adam (Kingma & Ba), optionally AMSGrad, as ``torch.optim.Adam``.

    With ``(β1, β2) = betas``, weight decay ``λ``, at step ``t``::

        g ← ∇f(θ) + λθ
        m ← β1·m + (1 − β1)·g;   v ← β2·v + (1 − β2)·g²
        θ ← θ − lr/(1 − β1ᵗ) · m / (√(v / (1 − β2ᵗ)) + ε)

    AMSGrad divides by the running maximum of ``v`` instead. With ``decoupled_weight_decay``
    (what :class:`AdamW` does) the decay is ``θ ← θ(1 − lr·λ)`` instead of being added to g.
    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v) and, with AMSGrad,
    ``max_exp_avg_sq``.
    """

    _legacy_defaults = {"maximize": False, "decoupled_weight_decay": False}
    _required_state = ("step", "exp_avg", "exp_avg_sq")

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        check_torch_only_options(type(self).__name__, differentiable)
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_adam_group(group)

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        amsgrad = group["amsgrad"]
        states = self._state_for(params, lambda p: new_state(p, "exp_avg", "exp_avg_sq"))
        if amsgrad:
            for p, s in zip(params, states):
                if "max_exp_avg_sq" not in s:  # (also when amsgrad is switched on later)
                    s["max_exp_avg_sq"] = Tensor._make(np.zeros_like(p.data))
        exp_avgs, exp_avg_sqs, steps = state_arrays(states, "exp_avg", "exp_avg_sq", "step")
        beta1, beta2 = group["betas"]
        adam_step([p.data for p in params], grads, exp_avgs, exp_avg_sqs,
                  [s["max_exp_avg_sq"].data for s in states] if amsgrad else [], steps,
                  amsgrad=amsgrad, beta1=float(beta1), beta2=float(beta2),
                  lr=float(group["lr"]), weight_decay=group["weight_decay"],
                  eps=group["eps"], maximize=group["maximize"],
                  decoupled_weight_decay=group["decoupled_weight_decay"])


class AdamW(Adam):
    r"""Adam with decoupled weight decay (Loshchilov & Hutter), as ``torch.optim.AdamW``.

    Each step first shrinks the weights, ``θ ← θ·(1 − lr·λ)``, then takes the Adam step on the
    plain gradient (the decay never enters the moment estimates). ``weight_decay`` defaults
    to ``1e-2``.
    """

    _legacy_defaults = {"maximize": False, "decoupled_weight_decay": True}

    def __init__(self, params: ParamsT, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize,
                         differentiable=differentiable, decoupled_weight_decay=True)

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """As :meth:`Optimizer.load_state_dict`; the decay stays decoupled."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["decoupled_weight_decay"] = True
