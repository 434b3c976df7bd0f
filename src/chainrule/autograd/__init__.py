"""``cr.autograd``: PyTorch's autograd entry points: ``grad``, ``backward``, the grad modes,
``Function`` (ops defined by a forward and a backward written with tensors) and
``functional`` (jacobian, hessian, vjp, jvp, hvp, vhp)."""

from __future__ import annotations

from typing import Any

from ..engine import detect_anomaly, enable_grad, no_grad, set_grad_enabled
from ..tensor import _root_gradient, backward_from
from ..transforms import autograd_grad as grad
from ..transforms import check_outputs_require_grad, per_output, tensor_list
from . import function, functional
from .function import Function, FunctionCtx, once_differentiable


def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
             create_graph: bool = False, inputs: Any = None) -> None:
    """Backpropagate from several tensors at once, accumulating into leaves' ``.grad`` (or, with
    ``inputs``, into those tensors' ``.grad`` only): ``Tensor.backward`` for several roots."""
    outs = tensor_list(tensors, "autograd.backward", "tensors")
    gs = per_output(grad_tensors, len(outs), "autograd.backward", "grad_tensors")
    check_outputs_require_grad(outs, "autograd.backward")
    root_grads = [_root_gradient(o, g, "backward") for o, g in zip(outs, gs)]
    keep = create_graph if retain_graph is None else retain_graph
    backward_from(outs, root_grads, keep, create_graph, inputs)


__all__ = ["grad", "backward", "no_grad", "enable_grad", "set_grad_enabled", "detect_anomaly",
           "Function", "FunctionCtx", "once_differentiable", "function", "functional"]
