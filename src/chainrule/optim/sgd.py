"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import Optimizer, ParamsT, check_non_negative, descent_direction

__all__ = ["SGD", "sgd_step"]


def sgd_step(params: list[np.ndarray], grads: list[np.ndarray],
             momentum_buffers: list[np.ndarray | None], *, lr: float, momentum: float,
             dampening: float, nesterov: bool, weight_decay: float, maximize: bool) -> None:
    """One SGD update of each array in ``params``, in place (PyTorch's formulas)::

        g = ±grad + weight_decay·p             (− when maximize)
        b = g  (first step),  b = momentum·b + (1 − dampening)·g  (later)
        g = g + momentum·b  (nesterov),  g = b  (otherwise)       [when momentum ≠ 0]
        p = p − lr·g

    ``momentum_buffers[i]`` is updated in place; a ``None`` entry is replaced by a new buffer.
    """
    for i, (p, grad) in enumerate(zip(params, grads)):
        tmp = np.empty_like(p)
        d = descent_direction(p, grad, weight_decay, maximize, tmp)
        if momentum != 0:
            buf = momentum_buffers[i]
            if buf is None:
                buf = momentum_buffers[i] = np.array(d, dtype=p.dtype, copy=True)
            else:
                buf *= momentum
                if dampening == 0:
                    buf += d
                else:  # nesterov needs dampening == 0, so d is not needed after this
                    np.multiply(d, 1 - dampening, out=tmp)
                    buf += tmp
            if nesterov:
                if d is tmp:  # g + momentum·b, computed into the scratch holding g
                    tmp += momentum * buf
                else:
                    np.multiply(buf, momentum, out=tmp)
                    np.add(d, tmp, out=tmp)
                d = tmp
            else:
                d = buf
        np.multiply(d, -lr, out=tmp)
        p += tmp


class SGD(Optimizer):
    r"""Stochastic gradient descent (optionally with momentum), as ``torch.optim.SGD``.

    With momentum ``μ``, dampening ``τ``, weight decay ``λ``, at each step::

        g ← ∇f(θ) + λθ;   b ← g (first step) or μb + (1 − τ)g;   g ← g + μb (nesterov) or b
        θ ← θ − lr·g

    (``maximize=True`` uses −∇f.) State per parameter: ``momentum_buffer`` (when μ ≠ 0).

    >>> import chainrule as cr
    >>> w = cr.tensor([1.0, 2.0], requires_grad=True)
    >>> opt = cr.optim.SGD([w], lr=0.1)
    >>> (w ** 2).sum().backward()
    >>> opt.step()
    >>> w
    tensor([0.8, 1.6], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False) -> None:
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_non_negative(group, "lr", "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient once; returns ``closure()`` if given."""
        loss = self._eval_closure(closure)
        for group in self.param_groups:
            params, grads = self._gather(group)
            if not params:
                continue
            momentum = group["momentum"]
            bufs: list[np.ndarray | None] = []
            if momentum != 0:
                for p in params:
                    b = self.state[p].get("momentum_buffer")
                    bufs.append(None if b is None else b.data)
            else:
                bufs = [None] * len(params)
            sgd_step([p.data for p in params], grads, bufs, lr=float(group["lr"]),
                     momentum=momentum, dampening=group["dampening"],
                     nesterov=group["nesterov"], weight_decay=group["weight_decay"],
                     maximize=group["maximize"])
            if momentum != 0:
                for p, b in zip(params, bufs):
                    s = self.state[p]
                    old = s.get("momentum_buffer")
                    if old is None or old.data is not b:
                        s["momentum_buffer"] = Tensor._make(b)  # type: ignore[arg-type]
            self._bump_versions(params)
        return loss
