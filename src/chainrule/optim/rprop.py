"""Rprop: resilient backpropagation, per-coordinate step sizes from gradient signs."""

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
    new_state,
    state_arrays,
)

__all__ = ["Rprop", "rprop_step"]


def rprop_step(params: list[np.ndarray], grads: list[np.ndarray], prevs: list[np.ndarray],
               step_sizes: list[np.ndarray], state_steps: list[np.ndarray], *,
               step_size_min: float, step_size_max: float, etaminus: float, etaplus: float,
               maximize: bool) -> None:
    """One Rprop update of each array in ``params``, in place (PyTorch's formulas)::

        t = t + 1;   g = ±grad
        f = η₊ where g·g_prev > 0,  η₋ where < 0,  1 where = 0
        s = clip(s·f, s_min, s_max);   g = 0 where the sign flipped (f = η₋)
        p = p − sign(g)·s;   g_prev = g

    As ``torch.sign``, ``sign(NaN)`` is 0 here: a coordinate whose gradient is NaN stays put.
    """
    for i, (p, grad) in enumerate(zip(params, grads)):
        step_t = state_steps[i]
        step_t += 1
        prev, size = prevs[i], step_sizes[i]
        g = np.negative(grad, out=np.empty_like(grad)) if maximize else grad.copy()
        product = np.multiply(g, prev, out=np.empty_like(p))  # (out=: an array also if 0-d)
        factor = np.ones_like(p)
        factor[product > 0] = etaplus
        factor[product < 0] = etaminus
        size *= factor
        np.clip(size, step_size_min, step_size_max, out=size)
        g[factor == factor.dtype.type(etaminus)] = 0
        np.sign(g, out=product)
        np.nan_to_num(product, copy=False, nan=0.0)
        product *= size
        p -= product
        np.copyto(prev, g)


class Rprop(Optimizer):
    r"""Rprop (Riedmiller & Braun), as ``torch.optim.Rprop``.

    Each coordinate has its own step size ``s`` (starting at ``lr``), multiplied by
    ``η₊ = etas[1]`` while the gradient keeps its sign and by ``η₋ = etas[0]`` when it flips
    (then that coordinate is not moved this step), clipped to ``step_sizes``; the parameter
    moves by ``−sign(g)·s``. State per parameter: ``step``, ``prev`` (the last gradient used)
    and ``step_size`` (s).
    """

    _required_state = ("step", "prev", "step_size")

    def __init__(self, params: ParamsT, lr: float = 1e-2,
                 etas: tuple[float, float] = (0.5, 1.2),
                 step_sizes: tuple[float, float] = (1e-6, 50), *, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        check_torch_only_options("Rprop", differentiable)
        defaults = {"lr": lr, "etas": tuple(etas), "step_sizes": tuple(step_sizes),
                    "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_non_negative(group, "lr")
        etas = group["etas"]
        if len(etas) != 2 or not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {', '.join(map(str, etas))} (etas must be "
                             "(etaminus, etaplus) with 0 < etaminus < 1 < etaplus)")
        sizes = group["step_sizes"]
        if len(sizes) != 2:
            raise ValueError(f"step_sizes must be a pair (min, max), got {sizes!r}")

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        lr = float(group["lr"])
        states = self._state_for(params, lambda p: {
            **new_state(p, "prev"), "step_size": Tensor._make(np.full_like(p.data, lr))})
        etaminus, etaplus = group["etas"]
        size_min, size_max = group["step_sizes"]
        rprop_step([p.data for p in params], grads,
                   *state_arrays(states, "prev", "step_size", "step"),
                   step_size_min=size_min, step_size_max=size_max, etaminus=etaminus,
                   etaplus=etaplus, maximize=group["maximize"])
