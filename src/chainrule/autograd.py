"""``cr.autograd``: PyTorch's functional autograd entry points."""

from __future__ import annotations

from typing import Any

from .engine import detect_anomaly, enable_grad, no_grad, set_grad_enabled
from .tensor import Tensor
from .transforms import autograd_grad as grad


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool = False,
             create_graph: bool = False) -> None:
    """Backpropagate from several tensors at once, accumulating into leaves' ``.grad``."""
    from .engine import walk
    from .tensor import _root_gradient

    outs = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    gs = [None] * len(outs) if grad_tensors is None else (
        [grad_tensors] if isinstance(grad_tensors, Tensor) else list(grad_tensors))
    walk(outs, [_root_gradient(o, g, "backward") for o, g in zip(outs, gs)],
         retain_graph=retain_graph or create_graph, create_graph=create_graph)


__all__ = ["grad", "backward", "no_grad", "enable_grad", "set_grad_enabled", "detect_anomaly"]
