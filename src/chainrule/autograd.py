"""``cr.autograd``: PyTorch's functional autograd entry points."""

from __future__ import annotations

from typing import Any

import numpy as np

from .engine import detect_anomaly, enable_grad, no_grad, set_grad_enabled, walk
from .tensor import Tensor, _root_gradient
from .transforms import autograd_grad as grad
from .transforms import check_outputs_require_grad, per_output, tensor_list


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Backpropagate from several tensors at once, accumulating into leaves' ``.grad`` (or, with
    ``inputs``, into those tensors' ``.grad`` only)."""
    outs = tensor_list(tensors, "autograd.backward", "tensors")
    gs = per_output(grad_tensors, len(outs), "autograd.backward", "grad_tensors")
    check_outputs_require_grad(outs, "autograd.backward")
    root_grads = [_root_gradient(o, g, "backward") for o, g in zip(outs, gs)]
    keep = create_graph if retain_graph is None else retain_graph
    if inputs is None:
        walk(outs, root_grads, retain_graph=keep, create_graph=create_graph)
        return
    ins = tensor_list(inputs, "autograd.backward", "inputs")
    if not ins:
        raise ValueError("autograd.backward: `inputs` cannot be empty; pass the tensors whose "
                         ".grad to fill, or leave it out for all leaves")
    grads = walk(outs, root_grads, retain_graph=keep, create_graph=create_graph, targets=ins)
    for x, g in zip(ins, grads or ()):
        if g is not None:
            _accumulate(x, g, create_graph)


def _accumulate(x: Tensor, g: Any, create_graph: bool) -> None:
    """Add ``g`` into ``x.grad`` (a fresh tensor: ``g`` may be a buffer the walk shares)."""
    if create_graph:
        g = g if isinstance(g, Tensor) else Tensor._make(np.asarray(g))
        x.grad = g if x.grad is None else x.grad + g
        return
    g = g.data if isinstance(g, Tensor) else np.asarray(g)
    x.grad = Tensor._make(np.array(g, dtype=x.dtype) if x.grad is None else x.grad.data + g)


__all__ = ["grad", "backward", "no_grad", "enable_grad", "set_grad_enabled", "detect_anomaly"]
