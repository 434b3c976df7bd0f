"""Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor
from .optimizer import (
    Optimizer,
    ParamsT,
    check_non_negative,
    check_torch_only_options,
    descent_direction,
)

__all__ = ["SGD", "sgd_step"]


#: Elements per block of an update: the blocks of the parameter, its gradient, momentum and a
#: scratch array (4 x 256 KiB in float32) stay in L2 cache across the update's passes, so
#: each array crosses the memory bus about once instead of once per pass (~1.5x faster on a
#: 400k-element weight).
BLOCK = 1 << 16


def _blocks(*arrays: np.ndarray | None) -> Iterator[tuple[Any, ...]]:
    """Matching flat blocks of same-shaped arrays (``None`` entries stay ``None``); the whole
    arrays when they are small or not all contiguous in the same order (then the blocks
    would not match element for element)."""
    real = [a for a in arrays if a is not None]
    n = real[0].size
    same_order = all(a.flags.c_contiguous for a in real) or all(
        a.flags.f_contiguous for a in real)
    if n <= BLOCK or not same_order:
        yield arrays
        return
    flat = [None if a is None else a.ravel(order="K") for a in arrays]  # views, memory order
    for start in range(0, n, BLOCK):
        yield tuple(None if f is None else f[start:start + BLOCK] for f in flat)


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
        buf = momentum_buffers[i] if momentum != 0 else None
        first = momentum != 0 and buf is None
        if first:
            buf = momentum_buffers[i] = np.empty_like(p)
        # The scalars in the parameter's dtype, once: NumPy casts a Python float operand to
        # the array's dtype anyway (NEP 50), so the numbers are those of the formulas with
        # Python floats, minus a conversion per call. One scratch array serves every block
        # (the first block is the largest).
        cast = p.dtype.type
        scalars = (cast(-float(lr)), cast(float(momentum)), cast(1 - float(dampening)))
        scratch = None
        for pb, gb, bb in _blocks(p, grad, buf):
            if scratch is None:
                scratch = np.empty_like(pb)
            tmp = scratch if scratch.shape == pb.shape else scratch[:pb.size]
            _sgd_block(pb, gb, bb, first, tmp, scalars, nesterov=nesterov,
                       weight_decay=weight_decay, maximize=maximize)


def _sgd_block(p: np.ndarray, grad: np.ndarray, buf: np.ndarray | None, first: bool,
               tmp: np.ndarray, scalars: tuple[Any, Any, Any], *, nesterov: bool,
               weight_decay: float, maximize: bool) -> None:
    """``sgd_step`` on one block: ``p`` and ``buf`` in place, ``grad`` unchanged, ``tmp``
    scratch of the block's shape; ``scalars`` are (-lr, momentum, 1 - dampening)."""
    neg_lr, momentum, keep = scalars
    d = descent_direction(p, grad, weight_decay, maximize, tmp)
    if buf is not None:
        if first:
            np.copyto(buf, d)
        else:
            np.multiply(buf, momentum, out=buf)
            if keep == 1:
                np.add(buf, d, out=buf)
            else:  # nesterov needs dampening == 0, so d is not needed after this
                np.multiply(d, keep, out=tmp)
                np.add(buf, tmp, out=buf)
        if nesterov:
            if d is tmp:  # g + momentum·b, computed into the scratch holding g
                tmp += momentum * buf
            else:
                np.multiply(buf, momentum, out=tmp)
                np.add(d, tmp, out=tmp)
            d = tmp
        else:
            d = buf
    np.multiply(d, neg_lr, out=tmp)
    np.add(p, tmp, out=p)


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
    tensor([0.8000, 1.6000], requires_grad=True)
    """

    def __init__(self, params: ParamsT, lr: float = 1e-3, momentum: float = 0.0,
                 dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False,
                 *, maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        check_torch_only_options("SGD", differentiable)
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize}
        super().__init__(params, defaults)

    def _check_group(self, group: Mapping[str, Any]) -> None:
        check_non_negative(group, "lr", "momentum", "weight_decay")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")

    def _update_group(self, group: dict[str, Any], params: list[Tensor],
                      grads: list[np.ndarray]) -> None:
        momentum = group["momentum"]
        bufs: list[np.ndarray | None] = []
        if momentum != 0:
            for p in params:
                b = self.state[p].get("momentum_buffer")
                bufs.append(None if b is None else b.data)
        else:
            bufs = [None] * len(params)
        sgd_step([p.data for p in params], grads, bufs, lr=float(group["lr"]),
                 momentum=momentum, dampening=group["dampening"], nesterov=group["nesterov"],
                 weight_decay=group["weight_decay"], maximize=group["maximize"])
        if momentum != 0:
            for p, b in zip(params, bufs):
                s = self.state[p]
                old = s.get("momentum_buffer")
                if old is None or old.data is not b:
                    s["momentum_buffer"] = Tensor._make(b)  # type: ignore[arg-type]
