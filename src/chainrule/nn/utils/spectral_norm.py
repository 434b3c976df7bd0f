"""Spectral normalisation (Miyato et al., 2018, https://arxiv.org/abs/1802.05957) with
PyTorch's hook-based API: ``spectral_norm`` / ``remove_spectral_norm``, as
``torch.nn.utils.spectral_norm`` (whose parameter, buffer and state-dict names it keeps)."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

from ...engine import bump_version, no_grad
from ...functional import dot, mv, permute, reshape
from ...random import randn
from ...tensor import Tensor
from ..modules.conv import ConvTranspose1d, ConvTranspose2d, ConvTranspose3d
from ..modules.module import Module
from ..parameter import Parameter

__all__ = ["SpectralNorm", "spectral_norm", "remove_spectral_norm"]

T_module = TypeVar("T_module", bound=Module)


def _normalize(x: np.ndarray, eps: float) -> np.ndarray:
    """``x / max(‖x‖, eps)``, as ``F.normalize(x, dim=0, eps=eps)``."""
    return x / max(float(np.linalg.norm(x)), eps)


class SpectralNorm:
    """The forward pre-hook that ``spectral_norm`` registers: before each call it sets
    ``module.<name>`` to ``<name>_orig / σ``, with σ = uᵀ·W·v estimated by power iteration
    (which, in training mode only, updates the buffers ``<name>_u`` and ``<name>_v`` in
    place first)."""

    _version: int = 1  # (PyTorch's: W = W_orig / (uᵀ·W_orig·v) also in eval mode)
    name: str
    dim: int
    n_power_iterations: int
    eps: float

    def __init__(self, name: str = "weight", n_power_iterations: int = 1, dim: int = 0,
                 eps: float = 1e-12) -> None:
        self.name = name
        self.dim = dim
        if not isinstance(n_power_iterations, int) or n_power_iterations <= 0:
            raise ValueError("spectral_norm: expected n_power_iterations to be positive, but "
                             f"got n_power_iterations={n_power_iterations}")
        self.n_power_iterations = n_power_iterations
        self.eps = eps

    def reshape_weight_to_matrix(self, weight: Tensor) -> Tensor:
        """``weight`` as a matrix with dim ``self.dim`` (the outputs) as its rows."""
        w = weight
        if self.dim != 0:
            w = permute(w, (self.dim, *[d for d in range(w.ndim) if d != self.dim]))
        return reshape(w, (w.shape[0], -1))

    def compute_weight(self, module: Module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        weight_mat = self.reshape_weight_to_matrix(weight)
        if do_power_iteration:
            # In place, as PyTorch (the tensors a functional_call passes in are updated);
            # σ below uses copies, so a graph built now survives the next forward's update.
            w = weight_mat.data
            u_new, v_new = u.data, v.data
            for _ in range(self.n_power_iterations):
                v_new = _normalize(w.T @ u_new, self.eps)
                u_new = _normalize(w @ v_new, self.eps)
            u.data[...] = u_new
            v.data[...] = v_new
            bump_version(u)
            bump_version(v)
        u_c, v_c = Tensor._make(u.data.copy()), Tensor._make(v.data.copy())
        sigma = dot(u_c, mv(weight_mat, v_c))  # (a gradient reaches the weight only)
        return weight / sigma

    @staticmethod
    def apply(module: Module, name: str, n_power_iterations: int, dim: int,
              eps: float) -> SpectralNorm:
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(f"Cannot register two spectral_norm hooks on the same "
                                   f"parameter {name} (call remove_spectral_norm(module, "
                                   f"{name!r}) first)")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        if name not in module._parameters:
            raise KeyError(
                f"spectral_norm: {module._get_name()} has no parameter {name!r}; its "
                f"parameters are {[k for k, p in module._parameters.items() if p is not None]}")
        weight = module._parameters[name]
        if weight is None:
            raise ValueError(f"`SpectralNorm` cannot be applied as parameter `{name}` is None")
        if not -weight.ndim <= dim < weight.ndim:
            raise IndexError(f"spectral_norm: dim={dim} is out of range for {name!r} of shape "
                             f"{weight.shape}")
        fn.dim = dim % weight.ndim
        with no_grad():
            h, w = fn.reshape_weight_to_matrix(weight).shape
            # random starting vectors, as PyTorch (copy torch's weight_u/weight_v over for
            # the same power iteration)
            u = _normalize(randn(h, dtype=weight.dtype).data, eps)
            v = _normalize(randn(w, dtype=weight.dtype).data, eps)
        delattr(module, name)
        module.register_parameter(name + "_orig", weight)
        # ``module.<name>`` still exists (code may read it, e.g. to initialise weights): a
        # plain tensor sharing the parameter's memory until the first forward recomputes it.
        setattr(module, name, weight.detach())
        module.register_buffer(name + "_u", Tensor._make(u))
        module.register_buffer(name + "_v", Tensor._make(v))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module: Module) -> None:
        with no_grad():
            weight = self.compute_weight(module, do_power_iteration=False)
        delattr(module, self.name)
        delattr(module, self.name + "_u")
        delattr(module, self.name + "_v")
        delattr(module, self.name + "_orig")
        module.register_parameter(self.name, Parameter(weight.detach()))

    def __call__(self, module: Module, inputs: Any) -> None:
        setattr(module, self.name,
                self.compute_weight(module, do_power_iteration=module.training))


def spectral_norm(module: T_module, name: str = "weight", n_power_iterations: int = 1,
                  eps: float = 1e-12, dim: int | None = None) -> T_module:
    """Divide ``module.<name>`` by its spectral norm σ (largest singular value), as
    ``torch.nn.utils.spectral_norm``.

    The parameter becomes ``<name>_orig``; the buffers ``<name>_u`` and ``<name>_v`` (random
    unit vectors at first) hold the power iteration's estimates of the first singular
    vectors. Before every call, a forward pre-hook sets ``module.<name> = <name>_orig / σ``
    with σ = uᵀ·W·v, ``W`` the weight as a matrix with ``dim`` as rows; in training mode it
    first runs ``n_power_iterations`` steps of power iteration, updating u and v in place (in
    eval mode they stay as they are). The gradient flows to ``<name>_orig`` through W and σ.
    ``dim`` defaults to 0, or 1 for ``ConvTranspose1d/2d/3d`` (whose weight is
    ``(in, out, ...)``). ``eps`` guards the normalisation of u and v.

    >>> import chainrule as cr
    >>> m = cr.nn.utils.spectral_norm(cr.nn.Linear(20, 40))
    >>> m.weight_u.shape, list(m.state_dict())
    ((40,), ['bias', 'weight_orig', 'weight_u', 'weight_v'])

    Raises
    ------
    RuntimeError
        If ``<name>`` has spectral normalisation already.
    KeyError
        If ``module`` has no parameter ``<name>`` (as PyTorch).
    ValueError
        If ``n_power_iterations`` is not positive, or the parameter is None.
    """
    if dim is None:
        dim = 1 if isinstance(module, (ConvTranspose1d, ConvTranspose2d,
                                       ConvTranspose3d)) else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module: T_module, name: str = "weight") -> T_module:
    """Undo :func:`spectral_norm`: ``module.<name>`` is a plain parameter again, with the
    current value ``<name>_orig / σ`` (σ from the current u and v, no power iteration);
    ``<name>_orig``, ``<name>_u`` and ``<name>_v`` are gone.

    >>> import chainrule as cr
    >>> m = cr.nn.utils.remove_spectral_norm(cr.nn.utils.spectral_norm(cr.nn.Linear(2, 3)))
    >>> list(m.state_dict())
    ['bias', 'weight']
    """
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, SpectralNorm) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            return module
    raise ValueError(f"spectral_norm of '{name}' not found in {module._get_name()} (apply "
                     f"cr.nn.utils.spectral_norm(module, {name!r}) first)")
