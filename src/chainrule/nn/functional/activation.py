"""Activations: the elementwise ops of the core under PyTorch's ``nn.functional`` names, plus
a few composites (softmin, glu, prelu, threshold, rrelu, gumbel_softmax, ...).

At NaN, ±inf and ±0 the values and gradients are PyTorch's (its derivative formulas as
written: e.g. relu, hardtanh, elu, hardshrink pass the gradient at NaN); exceptions are
noted in the function's docstring. ``tests/test_special_values.py`` checks them all.

``inplace=`` is accepted for compatibility; the result is always a new tensor (the values are
the same, and the graph stays valid). The trailing-underscore forms (``relu_``, ``elu_``, ...)
do write into their input, through the engine's in-place machinery: the input's version is
bumped, and a leaf that requires grad is refused, as in PyTorch.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from ... import functional as F
from ...ops import elementwise as E
from ...random import _gen
from ...tensor import Tensor

__all__ = [
    "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "mish", "softplus",
    "softsign", "hardtanh", "sigmoid", "tanh", "logsigmoid", "softmax", "log_softmax",
    "softmin", "hardsigmoid", "hardswish", "glu", "prelu", "threshold", "tanhshrink",
    "softshrink", "hardshrink", "rrelu", "gumbel_softmax", "relu_", "elu_", "celu_", "selu_",
    "leaky_relu_", "hardtanh_", "threshold_", "rrelu_",
]


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """``max(x, 0)``; ∂/∂x = 1 for x > 0, else 0 (also at 0); NaN gives NaN with ∂/∂x 1, and
    relu(-0.0) is -0.0, as PyTorch."""
    return E.relu(input)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """``min(max(x, 0), 6)``; ∂/∂x = 1 on (0, 6)."""
    return E.relu6(input)


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """``x if x > 0 else α·x``; ∂/∂x = 1 or α."""
    return E.leaky_relu(input, negative_slope=negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x if x > 0 else α(eˣ - 1)``."""
    return E.elu(input, alpha=alpha)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """``λ·elu(x, α)`` with the self-normalising constants λ ≈ 1.0507, α ≈ 1.6733."""
    return E.selu(input)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """``x if x > 0 else α(e^(x/α) - 1)``."""
    return E.celu(input, alpha=alpha)


def gelu(input: Tensor, approximate: str = "none") -> Tensor:
    """``x·Φ(x)`` (``approximate='tanh'``: the tanh approximation)."""
    return F.gelu(input, approximate=approximate)


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """``x·σ(x)`` (swish)."""
    return E.silu(input)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x·tanh(softplus(x))``."""
    return E.mish(input)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """``log(1 + e^(βx))/β`` (linear where βx > threshold); ∂/∂x = σ(βx)."""
    return E.softplus(input, beta=beta, threshold=threshold)


def softsign(input: Tensor) -> Tensor:
    """``x / (1 + |x|)``. ∂/∂x = 1/(1+|x|)² is 0 at ±inf, its limit (PyTorch gives NaN
    there: its formula divides inf by inf)."""
    return E.softsign(input)


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """``clamp(x, min_val, max_val)``; ∂/∂x = 1 strictly inside."""
    return E.hardtanh(input, min_val=min_val, max_val=max_val)


def sigmoid(input: Tensor) -> Tensor:
    """``1 / (1 + e^-x)``; ∂/∂x = σ(1 - σ)."""
    return E.sigmoid(input)


def tanh(input: Tensor) -> Tensor:
    """``tanh(x)``; ∂/∂x = 1 - tanh²."""
    return E.tanh(input)


def logsigmoid(input: Tensor) -> Tensor:
    """``log σ(x) = -softplus(-x)``, stable for large |x|."""
    return E.logsigmoid(input)


def _softmax_dim(ndim: int, dim: int | None, name: str) -> int:
    if dim is not None:
        return dim
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=3)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """``eˣ / Σ eˣ`` along ``dim``; ∂s_i/∂x_j = s_i(δ_ij - s_j)."""
    return F.softmax(input, _softmax_dim(input.ndim, dim, "softmax"), dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: Any = None) -> Tensor:
    """``x - logsumexp(x)`` along ``dim`` (stable)."""
    return F.log_softmax(input, _softmax_dim(input.ndim, dim, "log_softmax"), dtype=dtype)


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: Any = None) -> Tensor:
    """``softmax(-x)`` along ``dim``."""
    return F.softmax(-input, _softmax_dim(input.ndim, dim, "softmin"), dtype=dtype)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """``relu6(x + 3) / 6``; ∂/∂x = 1/6 strictly inside (-3, 3), else 0 (also at NaN).

    PyTorch's float64 gradient is ``float32(1/6)``, 3e-8 off; chainrule's is 1/6."""
    return E.hardsigmoid(input)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """``x · relu6(x + 3) / 6``; ∂/∂x = 0 below -3, x/3 + 1/2 up to 3, then 1 (1 at NaN and
    +inf, 0 at -inf, as PyTorch). At -inf the value is NaN (-inf·0), as PyTorch's.

    PyTorch's float32 value overflows to inf above ~5.6e37 (it multiplies x by x + 3 before
    dividing by 6); chainrule's stays x there."""
    return E.hardswish(input)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """Gated linear unit: ``a · σ(b)`` where ``a, b`` are the halves of ``input`` along
    ``dim``."""
    if input.shape[dim] % 2:
        raise ValueError(f"glu: halving dimension {dim} must be even, got size "
                         f"{input.shape[dim]}")
    a, b = F.chunk(input, 2, dim)
    return a * E.sigmoid(b)


def prelu(input: Tensor, weight: Tensor) -> Tensor:
    """``x if x > 0 else a·x`` with a learned slope ``a`` per channel (dim 1) or shared."""
    w = weight
    if weight.numel() > 1:
        channels = input.shape[1] if input.ndim >= 2 else 1
        if weight.numel() != channels:
            raise ValueError(f"prelu: {weight.numel()} slopes do not match the {channels} "
                             f"channels (dim 1) of the input of shape {input.shape}; use one "
                             f"slope per channel or a single one")
        w = F.reshape(weight, (weight.numel(),) + (1,) * (input.ndim - 2))
    return F.where(input.data > 0, input, w * input)


def threshold(input: Tensor, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``x if x > threshold else value``; a NaN stays NaN, with ∂/∂x 1 (PyTorch's
    ``x <= threshold ? value : x``)."""
    return F.where(input.data <= threshold, value, input)


def tanhshrink(input: Tensor) -> Tensor:
    """``x - tanh(x)``."""
    return input - E.tanh(input)


def softshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x - λ`` above λ, ``x + λ`` below -λ, else 0 (``0·x``, so -0.0 for -λ ≤ x ≤ -0.0, as
    PyTorch); a NaN stays NaN, with ∂/∂x 1."""
    x = input.data
    inside = (x >= -lambd) & (x <= lambd)  # (False at NaN: it takes the x + λ branch, NaN)
    shift = np.where(x > lambd, lambd, -lambd).astype(x.dtype)
    # (0·x as a constant: no gradient flows to the zeros, not even a NaN one, as in PyTorch)
    return F.where(inside, x * x.dtype.type(0), input - shift)


def hardshrink(input: Tensor, lambd: float = 0.5) -> Tensor:
    """``x`` where ``|x| > λ``, else 0; a NaN stays NaN, with ∂/∂x 1 (PyTorch's
    ``-λ <= x <= λ ? 0 : x``)."""
    x = input.data
    return F.where((x >= -lambd) & (x <= lambd), 0.0, input)


def _check_rrelu_bounds(lower: float, upper: float, name: str) -> None:
    if lower > upper:
        raise ValueError(f"{name}: lower ({lower}) must be less than or equal to upper "
                         f"({upper}); the slopes are drawn from U(lower, upper)")


def rrelu(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
          training: bool = False, inplace: bool = False) -> Tensor:
    """Randomised leaky ReLU: ``x if x > 0 else a·x``.

    Training: one slope ``a ~ U(lower, upper)`` per non-positive element, drawn from the
    global generator (``cr.manual_seed``); the gradient there is that slope. Evaluation: the
    mean slope ``(lower + upper)/2``, i.e. ``leaky_relu``.

    >>> import chainrule as cr
    >>> cr.nn.functional.rrelu(cr.tensor([-3.0, 2.0]), 0.2, 0.4)
    tensor([-0.9000,  2.0000])
    """
    _check_rrelu_bounds(lower, upper, "rrelu")
    if not training:
        return E.leaky_relu(input, negative_slope=(lower + upper) / 2)
    return input * _rrelu_slopes(input.data, lower, upper)  # constants: ∂/∂x = the slope


def _rrelu_slopes(x: np.ndarray, lower: float, upper: float) -> np.ndarray:
    """1 where ``x > 0``, else a slope drawn from U(lower, upper) (as PyTorch, 0 takes a
    random slope too: its output is 0 either way, its gradient the slope)."""
    negative = x <= 0
    slopes = np.ones(x.shape, dtype=x.dtype)
    slopes[negative] = _gen().uniform(lower, upper, int(negative.sum()))
    return slopes


def _exponential_noise(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Exp(1) samples from the global generator (a seam the tests replace)."""
    return _gen().standard_exponential(shape).astype(dtype, copy=False)


def gumbel_softmax(logits: Tensor, tau: float = 1, hard: bool = False, eps: float = 1e-10,
                   dim: int = -1) -> Tensor:
    """A sample of the Gumbel-softmax distribution: ``softmax((logits + g)/tau)`` along
    ``dim`` with ``g ~ Gumbel(0, 1)`` (drawn from the global generator).

    ``hard=True``: the one-hot of the sample's argmax, differentiated as the soft sample
    (straight-through: ``y_hard - y_soft.detach() + y_soft``). ``eps`` is deprecated and
    ignored, as in PyTorch.

    >>> import chainrule as cr
    >>> y = cr.nn.functional.gumbel_softmax(cr.zeros(2, 3), hard=True)
    >>> y.sum(dim=-1)
    tensor([1., 1.])
    """
    if eps != 1e-10:
        warnings.warn("gumbel_softmax: the `eps` parameter is deprecated and has no effect.",
                      stacklevel=2)
    gumbels = -np.log(_exponential_noise(logits.shape, logits.dtype))
    y_soft = F.softmax((logits + gumbels) / tau, dim)
    if not hard:
        return y_soft
    s = y_soft.data
    y_hard = np.zeros_like(s)
    np.put_along_axis(y_hard, np.expand_dims(np.argmax(s, axis=dim), dim), 1.0, axis=dim)
    # the same float operations as PyTorch, so the values match bit for bit
    return y_soft + (y_hard - s)


# --------------------------------------------------------------------------- in place
# Each writes the activation into ``input`` (Tensor._inplace: version bump, history, the
# leaf check) and returns ``input``.

def relu_(input: Tensor) -> Tensor:
    """In-place :func:`relu`: ``input`` becomes ``max(input, 0)`` and is returned.

    >>> import chainrule as cr
    >>> x = cr.tensor([-1.0, 2.0])
    >>> _ = cr.nn.functional.relu_(x)
    >>> x
    tensor([0., 2.])
    """
    return input._inplace(lambda old: E.relu(old))


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place :func:`elu`."""
    return input._inplace(lambda old: E.elu(old, alpha=alpha))


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place :func:`celu`."""
    return input._inplace(lambda old: E.celu(old, alpha=alpha))


def selu_(input: Tensor) -> Tensor:
    """In-place :func:`selu`."""
    return input._inplace(lambda old: E.selu(old))


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:
    """In-place :func:`leaky_relu`."""
    return input._inplace(lambda old: E.leaky_relu(old, negative_slope=negative_slope))


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place :func:`hardtanh`."""
    return input._inplace(lambda old: E.hardtanh(old, min_val=min_val, max_val=max_val))


def threshold_(input: Tensor, threshold: float, value: float) -> Tensor:
    """In-place :func:`threshold`."""
    return input._inplace(lambda old: F.where(old.data <= threshold, value, old))


def rrelu_(input: Tensor, lower: float = 1.0 / 8, upper: float = 1.0 / 3,
           training: bool = False) -> Tensor:
    """In-place :func:`rrelu` (the slopes are drawn once, before the write)."""
    _check_rrelu_bounds(lower, upper, "rrelu_")
    if not training:
        return leaky_relu_(input, (lower + upper) / 2)
    slopes = _rrelu_slopes(input.data, lower, upper)
    return input._inplace(lambda old: old * slopes)
