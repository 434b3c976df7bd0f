"""Elementwise ops: arithmetic, math functions and activations.

Each rule is ``upstream * local derivative``; broadcasting is undone by the engine. For these
ops the JVP is the same formula with the tangent in place of the upstream gradient.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..engine import OUTPUT
from ._util import all_finite
from .registry import OpError, Sample, defop

_LN2 = math.log(2.0)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _ew(name: str, forward: Any, vjp: Any, formula: Any, **kw: Any) -> Any:
    return defop(name, forward, vjp, formula, elementwise=True, **kw)


def _unary(shape: tuple = (3, 4), low: float = -2.0, high: float = 2.0, **kw: Any) -> Sample:
    return Sample(shapes=(shape,), low=low, high=high, **kw)


def _binary(low: float = -2.0, high: float = 2.0, **kw: Any) -> Sample:
    return Sample(shapes=((3, 4), (1, 4)), low=low, high=high, **kw)


try:  # SciPy's erf is vectorised C; math.erf is exact but one element at a time.
    from scipy.special import erf as _np_erf
except ImportError:  # pragma: no cover - SciPy comes with scikit-learn, but is optional
    _np_erf = np.frompyfunc(math.erf, 1, 1)


def _erf_forward(x: np.ndarray) -> np.ndarray:
    return np.asarray(_np_erf(x), dtype=x.dtype if x.dtype.kind == "f" else np.float64)


def _sigmoid_forward(x: np.ndarray) -> np.ndarray:
    # 1/(1+e^-x) for x >= 0 and e^x/(1+e^x) otherwise: never overflows, exact in both tails.
    # With e = e^-|x| the numerator is max(e, [x >= 0]): 1 where x >= 0 (e <= 1 there), e
    # elsewhere. The same values as np.where(x >= 0, 1/(1+e), e/(1+e)), without np.where,
    # whose branches on a random mask run ~5 ns an element (AMD EPYC Zen 3, NumPy 2.4).
    # (e's dtype, not x's: an integer x gives floats, as PyTorch; a Python number works too)
    if np.asarray(x).dtype.kind == "b":  # (no bool negative in NumPy; apply then computes
        x = np.asarray(x, np.int64)  # in floats)
    e = np.exp(-np.abs(x))
    numerator = np.maximum(e, np.greater_equal(x, 0).astype(e.dtype))
    return numerator / (1.0 + e)


def _softplus_forward(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0) -> np.ndarray:
    bx = x * beta
    soft = np.logaddexp(0.0, bx) / beta  # (a float dtype also for an integer x)
    return np.where(bx > threshold, x, soft)


# --------------------------------------------------------------------------- arithmetic
add = _ew("add", np.add, (lambda g, out, x, y: g, lambda g, out, x, y: g),
          ("d/dx (x + y) = 1", "d/dy (x + y) = 1"), saves=False, sample=_binary(), torch="add")
sub = _ew("sub", np.subtract, (lambda g, out, x, y: g, lambda g, out, x, y: -g),
          ("d/dx (x - y) = 1", "d/dy (x - y) = -1"), saves=False, sample=_binary(),
          torch="sub")
mul = _ew("mul", np.multiply, (lambda g, out, x, y: g * y, lambda g, out, x, y: g * x),
          ("d/dx (x·y) = y", "d/dy (x·y) = x"), reads=((1,), (0,)), sample=_binary(),
          torch="mul")
div = _ew("div", np.divide,
          # (-(x/y)/y, not -x/y²: y² over- or underflows first, at 1e300 or 5e-324; PyTorch's)
          (lambda g, out, x, y: g / y, lambda g, out, x, y: -g * (x / y) / y),
          ("d/dx (x/y) = 1/y", "d/dy (x/y) = -x/y²"), reads=((1,), (0, 1)),
          sample=Sample(shapes=((3, 4), (1, 4)), low=0.5, high=2.0), torch="div")
neg = _ew("neg", np.negative, lambda g, out, x: -g, "d/dx (-x) = -1", saves=False,
          sample=_unary(), torch="neg")


def _is_square(x: Any, y: Any) -> bool:
    """``x ** 2`` on a float array (not Tensors: create_graph takes the general rules)."""
    return type(y) in (int, float) and y == 2 and type(x) is np.ndarray and x.dtype.kind == "f"


def _pow_forward(x: Any, y: Any) -> Any:
    # np.power goes through the general power loop even for 2; np.square is one multiply
    # (and gives the same, correctly rounded x·x).
    return np.square(x) if _is_square(x, y) else np.power(x, y)


def _pow_dbase(g: Any, out: Any, x: Any, y: Any) -> Any:
    if _is_square(x, y) and type(g) is np.ndarray:
        t = x + x  # 2x·g in two passes, into one new array (a 0-d x gives a NumPy scalar)
        return np.multiply(t, g, out=t) if type(t) is np.ndarray else t * g
    # NOTE: where y == 0 the base's gradient is 0 (x^0 = 1 is flat), also at x = 0 where
    # y·x^(y-1) would be 0·inf = NaN; as PyTorch does. (x^(y-1+[y=0]) keeps it finite.)
    return g * y * x ** (y - 1 + (y == 0))


def _pow_dexp(g: Any, out: Any, x: Any, y: Any) -> Any:
    # NOTE: at x == 0 with y >= 0 the exponent's gradient is taken as 0 (x^y is flat there),
    # as PyTorch does; log(x) would give 0 · -inf = NaN.
    if type(x) in (int, float) and x != 0:  # a number's power (2 ** t): ln x is a number
        # (math.log takes any int, 10**40 too, where np.log fails; ln of a negative is NaN)
        return g * out * (math.log(x) if x > 0 else math.nan)
    safe = np.where(np.logical_and(x == 0, y >= 0), 1.0, x)  # (x may be 0 or a Python 0)
    return g * out * np.log(safe)


pow = _ew("pow", _pow_forward, (_pow_dbase, _pow_dexp),
          ("d/dx x^y = y·x^(y-1)", "d/dy x^y = x^y·ln(x)"), saves_output=True,
          reads=((0, 1), (0, 1, OUTPUT)),
          sample=Sample(shapes=((3, 4), (1, 4)), low=0.5, high=2.0), torch="pow")

# --------------------------------------------------------------------------- exp / log
exp = _ew("exp", np.exp, lambda g, out, x: g * out, "d/dx e^x = e^x", saves=False,
          saves_output=True, sample=_unary(), torch="exp")
exp2 = _ew("exp2", np.exp2, lambda g, out, x: g * out * _LN2, "d/dx 2^x = 2^x·ln 2",
           saves=False, saves_output=True, sample=_unary(), torch="exp2")
log = _ew("log", np.log, lambda g, out, x: g / x, "d/dx ln x = 1/x",
          sample=_unary(low=0.2, high=3.0), torch="log")
log2 = _ew("log2", np.log2, lambda g, out, x: g / (x * _LN2), "d/dx log2 x = 1/(x·ln 2)",
           sample=_unary(low=0.2, high=3.0), torch="log2")
log1p = _ew("log1p", np.log1p, lambda g, out, x: g / (1 + x), "d/dx ln(1+x) = 1/(1+x)",
            sample=_unary(low=-0.5, high=3.0), torch="log1p")
expm1 = _ew("expm1", np.expm1, lambda g, out, x: g * (out + 1), "d/dx (e^x - 1) = e^x",
            saves=False, saves_output=True, sample=_unary(), torch="expm1")
sqrt = _ew("sqrt", np.sqrt, lambda g, out, x: g / (2 * out), "d/dx √x = 1/(2√x)",
           saves=False, saves_output=True, sample=_unary(low=0.2, high=3.0), torch="sqrt")
rsqrt = _ew("rsqrt", lambda x: 1 / np.sqrt(x), lambda g, out, x: -0.5 * g * out * out * out,
            "d/dx x^(-1/2) = -x^(-3/2)/2", saves=False, saves_output=True,
            sample=_unary(low=0.2, high=3.0), torch="rsqrt")


def _square_forward(x: Any) -> Any:
    return np.square(np.int64(x) if np.asarray(x).dtype.kind == "b" else x)  # (as PyTorch)


square = _ew("square", _square_forward, lambda g, out, x: 2 * g * x, "d/dx x² = 2x",
             sample=_unary(), torch="square")
reciprocal = _ew("reciprocal", lambda x: 1 / x, lambda g, out, x: -g * out * out,
                 "d/dx 1/x = -1/x²", saves=False, saves_output=True,
                 sample=_unary(low=0.5, high=2.0), torch="reciprocal")
# NOTE: |x| has gradient sign(x), so 0 at x = 0 and at NaN (PyTorch's choice).
abs = _ew("abs", np.abs, lambda g, out, x: g * _sgn(x), "d/dx |x| = sign(x)",
          sample=_unary(), torch="abs")

# --------------------------------------------------------------------------- trigonometry
sin = _ew("sin", np.sin, lambda g, out, x: g * np.cos(x), "d/dx sin x = cos x",
          sample=_unary(), torch="sin")
cos = _ew("cos", np.cos, lambda g, out, x: -g * np.sin(x), "d/dx cos x = -sin x",
          sample=_unary(), torch="cos")
tan = _ew("tan", np.tan, lambda g, out, x: g * (1 + out * out), "d/dx tan x = 1 + tan² x",
          saves=False, saves_output=True, sample=_unary(low=-1.2, high=1.2), torch="tan")
asin = _ew("asin", np.arcsin, lambda g, out, x: g / np.sqrt(1 - x * x),
           "d/dx asin x = 1/√(1-x²)", sample=_unary(low=-0.9, high=0.9), torch="asin")
acos = _ew("acos", np.arccos, lambda g, out, x: -g / np.sqrt(1 - x * x),
           "d/dx acos x = -1/√(1-x²)", sample=_unary(low=-0.9, high=0.9), torch="acos")
atan = _ew("atan", np.arctan, lambda g, out, x: g / (1 + x * x), "d/dx atan x = 1/(1+x²)",
           sample=_unary(), torch="atan")


def _atan2_scale(y: Any, x: Any) -> Any:
    """1/(x² + y²), taken as 0 where x = y = 0."""
    # NOTE: atan2 has no derivative at the origin; its gradient there is 0, as PyTorch's.
    d = x * x + y * y
    return 1 / np.where(d == 0, np.inf, d)


atan2 = _ew("atan2", np.arctan2,
            (lambda g, out, y, x: g * x * _atan2_scale(y, x),
             lambda g, out, y, x: -g * y * _atan2_scale(y, x)),
            ("d/dy atan2(y, x) = x/(x²+y²)", "d/dx atan2(y, x) = -y/(x²+y²)"),
            sample=Sample(shapes=((3, 4), (1, 4)), low=0.3, high=2.0), torch="atan2")
# a mod b with the sign of b (Python's %, PyTorch's remainder); its jumps lie where a/b is a
# whole number, which the sample keeps away from (a/b in [2.18, 2.8])
def _remainder_forward(a: Any, b: Any) -> Any:
    # NumPy gives a zero result the divisor's sign (as Python's %), PyTorch the dividend's.
    r = np.mod(a, b)
    if np.asarray(r).dtype.kind != "f":
        return r
    return np.where(r == 0, np.copysign(r, a), r)


remainder = _ew("remainder", _remainder_forward,
                (lambda g, out, a, b: g, lambda g, out, a, b: -g * (a // b)),
                ("d/da (a mod b) = 1", "d/db (a mod b) = -floor(a/b)"),
                sample=Sample(make=lambda rng: (rng.uniform(1.2, 1.4, (3, 4)),
                                                rng.uniform(0.5, 0.55, (1, 4)))),
                torch="remainder")
sinh = _ew("sinh", np.sinh, lambda g, out, x: g * np.cosh(x), "d/dx sinh x = cosh x",
           sample=_unary(), torch="sinh")
cosh = _ew("cosh", np.cosh, lambda g, out, x: g * np.sinh(x), "d/dx cosh x = sinh x",
           sample=_unary(), torch="cosh")
tanh = _ew("tanh", np.tanh, lambda g, out, x: g * (1 - out * out), "d/dx tanh x = 1 - tanh² x",
           saves=False, saves_output=True, sample=_unary(low=-3, high=3), torch="tanh")
erf = _ew("erf", _erf_forward, lambda g, out, x: g * (2 / math.sqrt(math.pi)) * np.exp(-x * x),
          "d/dx erf x = 2/√π · e^(-x²)", sample=_unary(), torch="erf")

# --------------------------------------------------------------------------- activations
sigmoid = _ew("sigmoid", _sigmoid_forward, lambda g, out, x: g * out * (1 - out),
              "d/dx σ(x) = σ(x)(1 - σ(x))", saves=False, saves_output=True,
              sample=_unary(low=-4, high=4), torch="sigmoid")


def _sig(x: Any) -> Any:
    """σ(x) on an array or a Tensor (a recorded op for Tensors)."""
    return sigmoid(x) if hasattr(x, "grad_fn") else _sigmoid_forward(x)


logsigmoid = _ew("logsigmoid", lambda x: 0.0 - np.logaddexp(0.0, -x),  # (+0.0, not -0.0)
                 lambda g, out, x: g * _sig(-x), "d/dx ln σ(x) = σ(-x) = 1 - σ(x)",
                 sample=_unary(low=-4, high=4), torch="nn.functional.logsigmoid")


def _gated(g: Any, mask: Any) -> Any:
    """``g`` where ``mask``, else +0.0, as PyTorch's ``where(mask, g, 0)``, computed as
    ``g · mask`` (``np.where`` on a random mask runs ~15× slower, branching per element):
    adding +0.0 (in place, a fraction of the product's cost) turns the -0.0 of g < 0 into
    +0.0, and where ``g`` is not all finite, ``where`` itself runs, so that a NaN or inf in
    the upstream gradient stops where the mask is off (``NaN · 0`` would pass it on)."""
    if type(g) is not np.ndarray or type(mask) is not np.ndarray:
        return np.where(mask, g, 0.0)  # (Tensors: create_graph, forward mode; recorded)
    if not all_finite(g):
        return np.where(mask, g, g.dtype.type(0))
    c = g * mask
    return np.add(c, 0.0, out=c)


def _no_slope(g: Any) -> Any:
    """The gradient through a step (sign, floor, ...): zeros, as PyTorch's, also where the
    upstream gradient is NaN or inf (``g · 0`` would be NaN there)."""
    return np.zeros_like(g)  # (of a Tensor: a constant Tensor, nothing recorded)


# Rows of this many elements, against one row of zeros, for _relu_forward (from this many on).
_RELU_ROW = 1024
_RELU_ROWS_FROM = 1 << 14
_ZERO_ROWS: dict[np.dtype, np.ndarray] = {}


def _relu_forward(x: Any) -> Any:
    """max(x, 0). A large array goes as rows of 1024 elements against one read-only row of
    zeros: NumPy's maximum runs its vectorised loop when both operands are arrays, and with a
    scalar 0 is ~2× slower (AMD EPYC Zen 3, NumPy 2.4, 1.4M floats: 0.35 ms against 0.72 ms).
    The values are the same to the bit (NaN, -0.0 included); the output keeps x's layout.
    (0 comes first: where the two are equal NumPy's maximum returns the second, so relu(-0.0)
    is -0.0, as PyTorch's x < 0 ? 0 : x.)"""
    if type(x) is not np.ndarray or x.size < _RELU_ROWS_FROM or x.dtype.kind != "f":
        return np.maximum(0, x)
    out = np.empty_like(x)  # (x's memory order: the same strides when x is dense)
    if out.strides != x.strides:  # strided, reversed or broadcast: no flat view to pair
        return np.maximum(0, x, out=out)
    flat, out_flat = x.ravel(order="K"), out.ravel(order="K")  # views, in memory order
    if not np.may_share_memory(out_flat, out):  # (never for a dense fresh array; but a copy
        return np.maximum(0, x, out=out)  # here would lose what is written into it)
    zeros = _ZERO_ROWS.get(x.dtype)
    if zeros is None:
        zeros = _ZERO_ROWS[x.dtype] = np.zeros(_RELU_ROW, dtype=x.dtype)
        zeros.flags.writeable = False
    bulk = flat.size - flat.size % _RELU_ROW
    np.maximum(zeros, flat[:bulk].reshape(-1, _RELU_ROW),
               out=out_flat[:bulk].reshape(-1, _RELU_ROW))
    np.maximum(0, flat[bulk:], out=out_flat[bulk:])
    return out


# NOTE: relu'(0) = 0, relu6'(0) = relu6'(6) = 0, hardtanh' = 0 at its corners (PyTorch's choice).
# At NaN these pass the gradient, as PyTorch's formulas (relu: out ≤ 0 ? 0 : g; hardtanh:
# x ≤ min or x ≥ max ? 0 : g). (PyTorch's vectorised CPU kernels give 0 there instead, for
# the elements that fill whole SIMD registers; chainrule follows the formula for every element.)
# relu: out is ≥ 0 or NaN, so out != 0 is out > 0 with NaN passing, at the same cost.
relu = _ew("relu", _relu_forward, lambda g, out, x: _gated(g, out != 0),
           "d/dx relu(x) = 1 if x > 0 else 0  (1 at NaN)", saves=False, saves_output=True,
           sample=_unary(), torch="relu")


def _inside(x: Any, low: float, high: float) -> Any:
    """low < x < high, and True at NaN (neither x ≤ low nor x ≥ high)."""
    return ~((x <= low) | (x >= high))


relu6 = _ew("relu6", lambda x: np.clip(x, 0, 6), lambda g, out, x: _gated(g, _inside(x, 0, 6)),
            "d/dx relu6(x) = 1 if 0 < x < 6 else 0  (1 at NaN)", sample=_unary(low=-2, high=8),
            torch="nn.functional.relu6")


# (np.where on a random mask costs ~5 ns an element, AMD EPYC Zen 3 and NumPy 2.4: its branches
# mispredict. Where an exact form without it exists, leaky_relu takes that.)
def _leaky_relu_forward(x: Any, negative_slope: float = 0.01) -> Any:
    if 0 < negative_slope <= 1:  # αx lies between x and 0: max(x, αx) picks the branch
        return np.maximum(x, x * negative_slope)
    return np.where(x > 0, x, x * negative_slope)


def _leaky_relu_vjp(g: Any, out: Any, x: Any, negative_slope: float = 0.01) -> Any:
    if type(g) is np.ndarray and type(x) is np.ndarray and 0 <= negative_slope <= 1:
        slope = np.maximum((x > 0).astype(g.dtype), negative_slope)  # 1 where x > 0, else α
        return g * slope
    return np.where(x > 0, g, g * negative_slope)


leaky_relu = _ew("leaky_relu", _leaky_relu_forward, _leaky_relu_vjp,
                 "d/dx leaky_relu(x) = 1 if x > 0 else α", sample=_unary(
                     params={"negative_slope": 0.01}, variants=({"negative_slope": 0.2},)),
                 torch="nn.functional.leaky_relu")
# elu, selu, celu: min(0, x), not min(x, 0), keeps -0.0 (NumPy returns the second of equals),
# so elu(-0.0) = -0.0 as PyTorch's. Their gradient at NaN is the x > 0 branch's (PyTorch's
# formula: x ≤ 0 ? ... : g), also for NaN. For x ≤ 0 the slope is α·eˣ, computed from x: as
# elu(x) + α it loses digits as x falls, all of them in float32 from x ≈ -17 (0, not ~4e-8).
elu = _ew("elu", lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(0, x))),
          lambda g, out, x, alpha=1.0: g * np.where(x <= 0, alpha * np.exp(np.minimum(0, x)),
                                                    1.0),
          "d/dx elu(x) = 1 if x > 0 else α·e^x (= elu(x) + α)",
          sample=_unary(params={"alpha": 1.0}, variants=({"alpha": 0.5},)),
          torch="nn.functional.elu")
selu = _ew("selu",
           lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(np.minimum(0, x))),
           lambda g, out, x: g * np.where(
               x <= 0, (_SELU_SCALE * _SELU_ALPHA) * np.exp(np.minimum(0, x)), _SELU_SCALE),
           "d/dx selu(x) = λ if x > 0 else λα·e^x (= selu(x) + λα)", sample=_unary(),
           torch="nn.functional.selu")
celu = _ew("celu",
           lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(0, x) / alpha)),
           lambda g, out, x, alpha=1.0: g * np.where(x <= 0, np.exp(np.minimum(0, x) / alpha), 1.0),
           "d/dx celu(x) = 1 if x > 0 else e^(x/α)",
           sample=_unary(params={"alpha": 1.0}, variants=({"alpha": 2.0},)),
           torch="nn.functional.celu")


# The tanh form, ½x(1 + tanh z) with z = √(2/π)(x + 0.044715x³), is computed as x·σ(2z) (the
# same function): 1 + tanh z cancels for x ≲ -2 (PyTorch's float32 gelu(-3) is 1e-5 off,
# chainrule's exact), while σ is exact in both tails. Its slope likewise: ½(1 + tanh z) = σ(2z),
# ½(1 - tanh² z) = 2σ(2z)σ(-2z).
def _gelu_forward(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    if approximate == "tanh":
        return x * _sigmoid_forward(2 * _SQRT_2_OVER_PI * (x + 0.044715 * x ** 3))
    return 0.5 * x * (1 + _erf_forward(x / math.sqrt(2.0)))


def _gelu_vjp(g: Any, out: Any, x: Any, approximate: str = "none") -> Any:
    if approximate == "tanh":
        z2 = 2 * _SQRT_2_OVER_PI * (x + 0.044715 * x * x * x)
        s = _sig(z2)
        return g * (s + 2 * x * s * _sig(-z2) * _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x))
    cdf = 0.5 * (1 + (erf(x / math.sqrt(2.0)) if hasattr(x, "grad_fn")
                      else _erf_forward(x / math.sqrt(2.0))))
    return g * (cdf + x * _INV_SQRT_2PI * np.exp(-0.5 * x * x))


gelu = _ew("gelu", _gelu_forward, _gelu_vjp,
           "d/dx gelu(x) = Φ(x) + x·φ(x)  (tanh form: its derivative)",
           sample=_unary(params={"approximate": "none"}, variants=({"approximate": "tanh"},)),
           torch="nn.functional.gelu")
silu = _ew("silu", lambda x: x * _sigmoid_forward(x),
           lambda g, out, x: g * _sig(x) * (1 + x * (1 - _sig(x))),
           "d/dx x·σ(x) = σ(x)(1 + x(1 - σ(x)))", sample=_unary(), torch="nn.functional.silu")


def _mish_vjp(g: Any, out: Any, x: Any) -> Any:
    tsp = np.tanh(softplus(x) if hasattr(x, "grad_fn") else _softplus_forward(x))
    return g * (tsp + x * _sig(x) * (1 - tsp * tsp))


mish = _ew("mish", lambda x: x * np.tanh(_softplus_forward(x)), _mish_vjp,
           "d/dx x·tanh(softplus x) = tanh(sp) + x·σ(x)(1 - tanh²(sp))", sample=_unary(),
           torch="nn.functional.mish")


def _softplus_vjp(g: Any, out: Any, x: Any, beta: float = 1.0, threshold: float = 20.0) -> Any:
    return g * np.where(x * beta > threshold, 1.0, _sig(x * beta))


softplus = _ew("softplus", _softplus_forward, _softplus_vjp,
               "d/dx ln(1 + e^(βx))/β = σ(βx)",
               sample=_unary(params={"beta": 1.0, "threshold": 20.0},
                             variants=({"beta": 2.0, "threshold": 3.0},)),
               torch="nn.functional.softplus")
softsign = _ew("softsign", lambda x: x / (1 + np.abs(x)),
               lambda g, out, x: g / ((1 + np.abs(x)) * (1 + np.abs(x))),
               "d/dx x/(1+|x|) = 1/(1+|x|)²  (0 at ±inf, its limit; PyTorch: NaN)",
               sample=_unary(), torch="nn.functional.softsign")


def _hardtanh_forward(x: Any, min_val: float = -1.0, max_val: float = 1.0) -> Any:
    if min_val > max_val:
        raise OpError(f"hardtanh: min_val {min_val} is greater than max_val {max_val}; give "
                      "min_val <= max_val")
    if x.dtype.kind in "iu":  # an integer tensor stays integer, its limits truncated (PyTorch)
        return np.clip(x, int(min_val), int(max_val)).astype(x.dtype)
    return np.clip(x, min_val, max_val)


hardtanh = _ew("hardtanh", _hardtanh_forward,
               lambda g, out, x, min_val=-1.0, max_val=1.0: _gated(
                   g, _inside(x, min_val, max_val)),
               "d/dx hardtanh(x) = 1 if min < x < max else 0  (1 at NaN)",
               sample=_unary(params={"min_val": -1.0, "max_val": 1.0}),
               torch="nn.functional.hardtanh")


def _hardsigmoid_vjp(g: Any, out: Any, x: Any) -> Any:
    # (strictly inside: 0 at ±3 and at NaN, as PyTorch's -3 < x < 3 ? g/6 : 0)
    return _gated(g * (1 / 6), (x > -3) & (x < 3))


def _hardswish_vjp(g: Any, out: Any, x: Any) -> Any:
    # PyTorch's formula x ≤ -3 ? 0 : x < 3 ? x/3 + 1/2 : 1 (the one-sided slopes from outside
    # at the corners ±3), so 1 at NaN and +inf, 0 at -inf (the product rule: inf·0 = NaN)
    return np.where(x <= -3, 0.0, g * np.where(x < 3, x / 3 + 0.5, 1.0))  # (NaN·0: 0)


# (torch=None for hardsigmoid: PyTorch's backward multiplies by the float32 constant 1/6 also
# in float64, 3e-8 off; compared with PyTorch in test_nn_parity.py and test_special_values.py)
hardsigmoid = _ew("hardsigmoid", lambda x: np.clip(x + 3, 0, 6) * (1 / 6), _hardsigmoid_vjp,
                  "d/dx relu6(x + 3)/6 = 1/6 if -3 < x < 3 else 0  (0 at NaN)",
                  sample=_unary(low=-5, high=5), torch=None)
hardswish = _ew("hardswish", lambda x: x * (np.clip(x + 3, 0, 6) * (1 / 6)), _hardswish_vjp,
                "d/dx x·relu6(x + 3)/6 = 0 if x ≤ -3, x/3 + 1/2 if x < 3, else 1  (1 at NaN)",
                sample=_unary(low=-5, high=5), torch="nn.functional.hardswish")


def _clamp_forward(x: np.ndarray, min: Any = None, max: Any = None) -> np.ndarray:
    out = x
    if min is not None:
        out = np.maximum(out, min)
    if max is not None:
        out = np.minimum(out, max)
    return out


def _clamp_vjp(g: Any, out: Any, x: Any, min: Any = None, max: Any = None) -> Any:
    # NOTE: at x == min or x == max the gradient passes (PyTorch: min <= x <= max).
    if min is not None and max is not None:
        return _gated(g, (x >= min) & (x <= max))
    if min is not None:
        return _gated(g, x >= min)
    return _gated(g, x <= max) if max is not None else g


clamp = _ew("clamp", _clamp_forward, _clamp_vjp, "d/dx clamp(x) = 1 if min ≤ x ≤ max else 0",
            sample=_unary(params={"min": -0.5, "max": 0.7}, variants=({"min": 0.1},)),
            torch="clamp")


def _split_ties(g: Any, x: Any, y: Any, lose: Any) -> Any:
    # NOTE: where x == y the gradient is split half and half, as PyTorch does; where x or y is
    # NaN (so is the result) both get all of it, as in PyTorch (only a loser gets none).
    return _gated(g, ~lose) * (1 - 0.5 * (x == y))  # (not g - g/2 at ties: inf - inf)


maximum = _ew("maximum", np.maximum,
              (lambda g, out, x, y: _split_ties(g, x, y, x < y),
               lambda g, out, x, y: _split_ties(g, x, y, y < x)),
              ("d/dx max(x, y) = 1 if x > y (½ if equal)", "d/dy max(x, y) = 1 if y > x"),
              sample=_binary(), torch="maximum")
minimum = _ew("minimum", np.minimum,
              (lambda g, out, x, y: _split_ties(g, x, y, x > y),
               lambda g, out, x, y: _split_ties(g, x, y, y > x)),
              ("d/dx min(x, y) = 1 if x < y (½ if equal)", "d/dy min(x, y) = 1 if y < x"),
              sample=_binary(), torch="minimum")
where = _ew("where", np.where,
            (None, lambda g, out, c, x, y: np.where(c, g, 0.0),
             lambda g, out, c, x, y: np.where(c, 0.0, g)),
            ("c is a boolean mask: no gradient", "d/dx where(c, x, y) = c",
             "d/dy where(c, x, y) = 1 - c"),
            reads=((), (0,), (0,)), sample=Sample(make=lambda rng: (
                rng.random((3, 4)) > 0.5, rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (1, 4)))),
            torch="where")
lerp = _ew("lerp", lambda a, b, w: a + w * (b - a),
           (lambda g, out, a, b, w: g * (1 - w), lambda g, out, a, b, w: g * w,
            lambda g, out, a, b, w: g * (b - a)),
           ("d/da lerp = 1 - w", "d/db lerp = w", "d/dw lerp = b - a"),
           reads=((2,), (2,), (0, 1)),
           sample=Sample(shapes=((3, 4), (3, 4), (1, 4)), low=0.0, high=1.0), torch="lerp")

# NOTE: these are piecewise constant: their gradient is 0 everywhere it exists (PyTorch too).
def _sign_forward(x: Any) -> Any:
    if np.asarray(x).dtype.kind == "b":  # (NumPy has no sign of bools; PyTorch gives them)
        return np.array(x)
    s = np.sign(x)
    return np.where(s != s, s.dtype.type(0), s)  # sign(NaN) = 0, as PyTorch (NumPy: NaN)


def _sgn(x: Any) -> Any:
    """sign(x), 0 at NaN, on an array or a Tensor (a recorded op for Tensors)."""
    return sign(x) if hasattr(x, "grad_fn") else _sign_forward(x)


sign = _ew("sign", _sign_forward, lambda g, out, x: _no_slope(g), "d/dx sign(x) = 0", saves=False,
           sample=_unary(), torch="sign")
floor = _ew("floor", np.floor, lambda g, out, x: _no_slope(g), "d/dx floor(x) = 0", saves=False,
            sample=_unary(), torch="floor")
ceil = _ew("ceil", np.ceil, lambda g, out, x: _no_slope(g), "d/dx ceil(x) = 0", saves=False,
           sample=_unary(), torch="ceil")
round = _ew("round", np.round, lambda g, out, x: _no_slope(g), "d/dx round(x) = 0", saves=False,
            sample=_unary(), torch="round")

# --------------------------------------------------------------------------- no gradient
# Comparisons, logical ops and tests have boolean outputs: no gradient flows through them (they
# are used as masks, e.g. in where()). Their samples include ties, NaN and inf.


def _compare_sample(rng: np.random.Generator) -> tuple:
    x = np.round(rng.uniform(-2, 2, (3, 4)), 1)
    y = np.round(rng.uniform(-2, 2, (1, 4)), 1)
    x[1] = y[0]  # ties
    return x, y


def _bool_sample(n: int) -> Sample:
    return Sample(make=lambda rng: tuple(rng.random((3, 4)) > 0.5 for _ in range(n)))


def _special_sample(rng: np.random.Generator) -> tuple:
    x = rng.uniform(-2, 2, (3, 4))
    x[0, :3] = [np.nan, np.inf, -np.inf]
    return (x,)


def _nograd(name: str, forward: Any, formula: str, sample: Sample, torch: str) -> Any:
    return defop(name, forward, None, f"{formula}: boolean, no gradient", sample=sample,
                 torch=torch, elementwise=True)


_CMP = Sample(make=_compare_sample)
lt = _nograd("lt", np.less, "x < y", _CMP, "lt")
le = _nograd("le", np.less_equal, "x ≤ y", _CMP, "le")
gt = _nograd("gt", np.greater, "x > y", _CMP, "gt")
ge = _nograd("ge", np.greater_equal, "x ≥ y", _CMP, "ge")
eq = _nograd("eq", np.equal, "x = y", _CMP, "eq")
ne = _nograd("ne", np.not_equal, "x ≠ y", _CMP, "ne")
logical_not = _nograd("logical_not", np.logical_not, "not x", _bool_sample(1), "logical_not")
logical_and = _nograd("logical_and", np.logical_and, "x and y", _bool_sample(2), "logical_and")
logical_or = _nograd("logical_or", np.logical_or, "x or y", _bool_sample(2), "logical_or")
logical_xor = _nograd("logical_xor", np.logical_xor, "x xor y", _bool_sample(2), "logical_xor")
isnan = _nograd("isnan", np.isnan, "x is NaN", Sample(make=_special_sample), "isnan")
isinf = _nograd("isinf", np.isinf, "x is ±inf", Sample(make=_special_sample), "isinf")
isfinite = _nograd("isfinite", np.isfinite, "x is finite", Sample(make=_special_sample),
                   "isfinite")


# --------------------------------------------------------------------------- more math
# Special functions beyond NumPy come from SciPy (scipy.special, the field's standard; an
# optional extra), or from Python's math module one element at a time where it has them.


def _scipy_special(op: str) -> Any:
    try:
        import scipy.special
    except ImportError:
        raise ImportError(f"{op} needs SciPy's special functions: pip install scipy (or "
                          "pip install 'chainrule[special]')") from None
    return scipy.special


def _elementwise_math(fn: Any) -> Any:
    """A one-argument function of Python's ``math`` over an array, in the array's float dtype
    (float64 for integers)."""
    ufunc = np.frompyfunc(fn, 1, 1)

    def forward(x: np.ndarray) -> np.ndarray:
        dtype = x.dtype if x.dtype.kind == "f" else np.float64
        return np.asarray(ufunc(x), dtype=np.float64).astype(dtype, copy=False)
    return forward


def _float_dtype(x: Any) -> Any:
    x = np.asarray(x)
    return x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)


def _as_float(x: Any) -> np.ndarray:
    """``x`` as a float array: integers and bools in float64 (NumPy would wrap ``1 - x`` around
    in uint8 or compute ``log`` in float16; the engine rounds the result to PyTorch's dtype)."""
    x = np.asarray(x)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def _special(name: str, op: str) -> Any:
    """scipy.special.NAME as a forward that keeps the input's float dtype."""
    def forward(*xs: Any) -> np.ndarray:
        out = getattr(_scipy_special(op), name)(*xs)
        return np.asarray(out, dtype=np.result_type(*(_float_dtype(x) for x in xs)))
    return forward


def _lgamma_or_pole(v: float) -> float:
    try:
        return math.lgamma(v)
    except ValueError:  # a pole (0, -1, -2, ...): ln|Γ| = inf, as scipy and PyTorch
        return math.inf


_lgamma_math = _elementwise_math(_lgamma_or_pole)
_erfc_math = _elementwise_math(math.erfc)


def _lgamma_forward(x: np.ndarray) -> np.ndarray:
    try:
        import scipy.special
    except ImportError:
        return _lgamma_math(x)  # (exact; at the poles and at ±inf inf, as PyTorch)
    out = np.asarray(scipy.special.gammaln(x), dtype=_float_dtype(x))
    out = np.where(np.isneginf(x), np.inf, out)  # (scipy gives -inf at -inf; PyTorch inf)
    # near 0, ln|Γ(x)| = -ln|x| - γx + ...: scipy overflows (inf at 5e-324, not 744.44)
    with np.errstate(divide="ignore"):
        return np.where(np.abs(x) < 1e-300, -np.log(np.abs(x)), out).astype(out.dtype)


def _erfc_forward(x: np.ndarray) -> np.ndarray:
    try:
        import scipy.special
    except ImportError:
        return _erfc_math(x)
    return np.asarray(scipy.special.erfc(x), dtype=_float_dtype(x))


def _polygamma_forward(x: np.ndarray, n: int = 0) -> np.ndarray:
    if type(n) is not int or n < 0:
        raise OpError(f"polygamma: the order n must be an int >= 0, got {n!r}")
    special = _scipy_special("digamma/polygamma (also the gradient of lgamma)")
    out = special.digamma(x) if n == 0 else special.polygamma(n, x)
    return np.asarray(out, dtype=_float_dtype(x))


def _psi(x: Any, n: int) -> Any:
    """ψ⁽ⁿ⁾(x) on an array or a Tensor (a recorded op for Tensors)."""
    return polygamma(x, n=n) if hasattr(x, "grad_fn") else _polygamma_forward(x, n)


def _polygamma_vjp(g: Any, out: Any, x: Any, n: int = 0) -> Any:
    return g * _psi(x, n + 1)


# ψ⁽ⁿ⁾(x) = dⁿ⁺¹/dxⁿ⁺¹ ln Γ(x); its derivative is the next one, so every order differentiates.
polygamma = _ew("polygamma", _polygamma_forward, _polygamma_vjp,
                "d/dx ψ^(n)(x) = ψ^(n+1)(x)  (ψ^(0) = ψ = digamma)",
                sample=_unary(low=0.3, high=4.0, params={"n": 0}, variants=({"n": 1},
                                                                             {"n": 2})),
                torch=None)  # (torch.polygamma(n, x): tested in test_ops_math_more.py)
lgamma = _ew("lgamma", _lgamma_forward, lambda g, out, x: g * _psi(x, 0),
             "d/dx ln|Γ(x)| = ψ(x)", sample=_unary(low=0.3, high=4.0), torch="lgamma")
erfc = _ew("erfc", _erfc_forward,
           lambda g, out, x: g * (-2 / math.sqrt(math.pi)) * np.exp(-x * x),
           "d/dx erfc x = -2/√π · e^(-x²)", sample=_unary(), torch="erfc")
def _erfinv_forward(x: Any) -> Any:
    # (erf⁻¹ is odd: the input's sign, so erf⁻¹(-0.0) = -0.0 as PyTorch; SciPy gives 0.0)
    return np.copysign(_special("erfinv", "erfinv")(x), x)


erfinv = _ew("erfinv", _erfinv_forward,
             lambda g, out, x: g * (math.sqrt(math.pi) / 2) * np.exp(out * out),
             "d/dx erf⁻¹(x) = √π/2 · e^(erf⁻¹(x)²)", saves=False, saves_output=True,
             sample=_unary(low=-0.9, high=0.9), torch="erfinv")
_erfcx_forward = _special("erfcx", "special.erfcx")
_ERFCX_SERIES_FROM = 12.0  # above it, the asymptotic series is exact to float64's last digit


def _erfcx_vjp(g: Any, out: Any, x: Any) -> Any:
    """2x·erfcx(x) - 2/√π, which cancels for large x (both terms near 2/√π, the difference
    ~1/(√π x²)): there, the asymptotic series of the difference, (2/√π)·Σ (2n-1)!!·(-u)ⁿ over
    n ≥ 1 with u = 1/(2x²); below, the formula (in float64 for a float32 or float16 x)."""
    if type(x) is not np.ndarray:  # (create_graph: the formula, recorded)
        return g * (2 * x * out - 2 / math.sqrt(math.pi))
    low = x.dtype.itemsize < 8  # (its erfcx, rounded, would carry its error into the gap)
    xx = x.astype(np.float64) if low else x
    direct = 2 * xx * (_erfcx_forward(xx) if low else out) - 2 / math.sqrt(math.pi)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        u = 0.5 / (xx * xx)
        term, series = -u, -u
        for n in range(2, 16):  # the terms fall by (2n-1)·u ≤ 0.1 at x = 12
            term = term * (-(2 * n - 1) * u)
            series = series + term
    d = np.where(xx >= _ERFCX_SERIES_FROM, (2 / math.sqrt(math.pi)) * series, direct)
    return g * d.astype(x.dtype, copy=False)


erfcx = _ew("erfcx", _erfcx_forward, _erfcx_vjp,
            "d/dx e^(x²)·erfc(x) = 2x·erfcx(x) - 2/√π  (0 at +inf, its limit; PyTorch: NaN)",
            saves_output=True, sample=_unary(),
            torch="special.erfcx")
ndtri = _ew("ndtri", _special("ndtri", "special.ndtri"),
            lambda g, out, x: g * math.sqrt(2 * math.pi) * np.exp(0.5 * out * out),
            "d/dp Φ⁻¹(p) = √(2π) · e^(Φ⁻¹(p)²/2)", saves=False, saves_output=True,
            sample=_unary(low=0.05, high=0.95), torch="special.ndtri")


def _log_ndtr_forward(x: np.ndarray) -> np.ndarray:
    return _special("log_ndtr", "special.log_ndtr")(x)


def _log_ndtr_vjp(g: Any, out: Any, x: Any) -> Any:
    # φ(x)/Φ(x) = e^(-x²/2 - log Φ(x)) / √(2π): finite far into the left tail
    return g * np.exp(-0.5 * x * x - out) * _INV_SQRT_2PI


log_ndtr = _ew("log_ndtr", _log_ndtr_forward, _log_ndtr_vjp, "d/dx log Φ(x) = φ(x)/Φ(x)",
               saves_output=True, sample=_unary(low=-4, high=3), torch="special.log_ndtr")
# (∂/∂x as σ(x - y) = 1/(1 + e^(y - x)), not e^(x - out): out absorbs ln 2 at x = y = 1e308)
logaddexp = _ew("logaddexp", np.logaddexp,
                (lambda g, out, x, y: g * _sig(x - y), lambda g, out, x, y: g * _sig(y - x)),
                ("d/dx ln(e^x + e^y) = σ(x - y)", "d/dy ln(e^x + e^y) = σ(y - x)"),
                sample=_binary(), torch="logaddexp")
logaddexp2 = _ew("logaddexp2", np.logaddexp2,
                 (lambda g, out, x, y: g / (1 + np.exp2(y - x)),
                  lambda g, out, x, y: g / (1 + np.exp2(x - y))),
                 ("d/dx log2(2^x + 2^y) = 1/(1 + 2^(y - x))",
                  "d/dy log2(2^x + 2^y) = 1/(1 + 2^(x - y))"),
                 sample=_binary(), torch="logaddexp2")
# NOTE: at x = y = 0 both gradients are 0/0 = NaN, as PyTorch's.
hypot = _ew("hypot", np.hypot,
            (lambda g, out, x, y: g * x / out, lambda g, out, x, y: g * y / out),
            ("d/dx √(x² + y²) = x/out", "d/dy √(x² + y²) = y/out"), saves_output=True,
            sample=_binary(), torch="hypot")
# a mod b with the sign of a (C's fmod); its jumps lie where a/b is a whole number, which the
# sample keeps away from, as remainder's
fmod = _ew("fmod", np.fmod, (lambda g, out, a, b: g, lambda g, out, a, b: -g * np.trunc(a / b)),
           ("d/da fmod(a, b) = 1", "d/db fmod(a, b) = -trunc(a/b)"),
           sample=Sample(make=lambda rng: (
               rng.uniform(1.2, 1.4, (3, 4)) * np.array([1, -1, 1, -1]),
               rng.uniform(0.5, 0.55, (1, 4)))),
           torch="fmod")


def _xlogy_forward(x: Any, y: Any) -> Any:
    x, y = _as_float(x), _as_float(y)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0·ln 0 = 0 is the point
        return np.where(x == 0, np.where(np.isnan(y), np.nan, 0.0), x * np.log(y)) \
            .astype(np.result_type(_float_dtype(x), _float_dtype(y)), copy=False)


def _xlog1py_forward(x: Any, y: Any) -> Any:
    x, y = _as_float(x), _as_float(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x == 0, np.where(np.isnan(y), np.nan, 0.0), x * np.log1p(y)) \
            .astype(np.result_type(_float_dtype(x), _float_dtype(y)), copy=False)


def _log_unless_flat(x: Any, log_y: Any, y_at_or_below: Any) -> Any:
    """∂/∂x of x·ln(y): ln(y), taken as 0 where x = 0 and ln(y) is -inf or NaN (PyTorch's
    convention)."""
    return np.where((x == 0) & y_at_or_below, 0.0, log_y)


# NOTE: as PyTorch, x = 0 gives 0 (also for y = 0, where x·ln y is 0·-inf); ∂/∂x is ln y,
# taken as 0 where x = 0 and y ≤ 0.
xlogy = _ew("xlogy", _xlogy_forward,
            (lambda g, out, x, y: g * _log_unless_flat(x, np.log(y), y <= 0),
             lambda g, out, x, y: g * x / y),
            ("d/dx x·ln y = ln y (0 where x = 0 and y ≤ 0)", "d/dy x·ln y = x/y"),
            sample=Sample(shapes=((3, 4), (1, 4)), low=0.3, high=2.0), torch="xlogy")
xlog1py = _ew("xlog1py", _xlog1py_forward,
              (lambda g, out, x, y: g * _log_unless_flat(x, np.log1p(y), y <= -1),
               lambda g, out, x, y: g * x / (1 + y)),
              ("d/dx x·ln(1+y) = ln(1+y) (0 where x = 0 and y ≤ -1)",
               "d/dy x·ln(1+y) = x/(1+y)"),
              sample=Sample(shapes=((3, 4), (1, 4)), low=-0.5, high=2.0),
              torch="special.xlog1py")


def _entr_forward(x: Any) -> Any:
    x = _as_float(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(x > 0, -x * np.log(np.where(x > 0, x, 1.0)), 0.0)
        out = np.where(x < 0, -np.inf, out)
        return np.where(np.isnan(x), np.nan, out).astype(_float_dtype(x), copy=False)


entr = _ew("entr", _entr_forward, lambda g, out, x: -g * (np.log(x) + 1),
           "d/dx (-x·ln x) = -(ln x + 1)", sample=_unary(low=0.2, high=3.0), torch="special.entr")


def _sinc_vjp(g: Any, out: Any, x: Any) -> Any:
    # (cos(πx) - sinc(x))/x, and 0 at x = 0 (sinc is flat there)
    safe = np.where(x == 0, 1.0, x)
    return g * np.where(x == 0, 0.0, (np.cos(math.pi * x) - out) / safe)


sinc = _ew("sinc", np.sinc, _sinc_vjp, "d/dx sin(πx)/(πx) = (cos(πx) - sinc x)/x (0 at 0)",
           saves_output=True, sample=_unary(), torch="sinc")


def _logit_forward(x: Any, eps: float | None = None) -> Any:
    x = _as_float(x)
    if eps is not None:
        x = np.clip(x, eps, 1 - eps)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x / (1 - x))


def _logit_vjp(g: Any, out: Any, x: Any, eps: float | None = None) -> Any:
    d = g / (x * (1 - x) + 0.0)  # (+ 0.0: at x = -0.0 the slope is +inf, as PyTorch's)
    if eps is None:  # outside [0, 1] NaN, as PyTorch (log of a negative)
        return np.where((x < 0) | (x > 1), np.nan, d)
    return np.where((x < eps) | (x > 1 - eps), 0.0, d)  # clamped: flat


logit = _ew("logit", _logit_forward, _logit_vjp,
            "d/dx ln(x/(1-x)) = 1/(x(1-x))  (0 outside [eps, 1-eps] when eps is given)",
            sample=_unary(low=0.1, high=0.9, params={"eps": None}, variants=({"eps": 0.3},)),
            torch="logit")


def _copysign_vjp(g: Any, out: Any, x: Any, y: Any) -> Any:
    # ±1: whether the sign changed; 0 at x = 0 (as PyTorch)
    return g * np.where(x == 0, 0.0, np.sign(x) * np.sign(out))


copysign = _ew("copysign", np.copysign, (_copysign_vjp, lambda g, out, x, y: _no_slope(g)),
               ("d/dx copysign(x, y) = sign(x)·sign(out) (0 at x = 0)",
                "d/dy copysign(x, y) = 0"),
               saves_output=True, sample=_binary(), torch="copysign")
# piecewise constant, or constant slope 1: frac = x - trunc(x)
trunc = _ew("trunc", np.trunc, lambda g, out, x: _no_slope(g), "d/dx trunc(x) = 0", saves=False,
            sample=_unary(), torch="trunc")
frac = _ew("frac", lambda x: x - np.trunc(x), lambda g, out, x: g, "d/dx (x - trunc x) = 1",
           saves=False, sample=_unary(), torch="frac")
# NOTE: PyTorch's heaviside has no derivative (its backward raises); a step function's
# derivative is 0 wherever it exists, which is what chainrule gives, as for sign.
# (not np.heaviside: H(NaN) is 0 in PyTorch, NaN in NumPy, and integer inputs stay integers)
heaviside = _ew("heaviside",
                lambda x, values: np.where(x == 0, values, x > 0).astype(np.result_type(x, values)),
                (lambda g, out, x, values: _no_slope(g), lambda g, out, x, values: _no_slope(g)),
                ("d/dx H(x) = 0", "d/dvalues H(x) = 0 (a step: no gradient, as sign)"),
                saves=False, sample=_binary(), torch=None)
signbit = _nograd("signbit", np.signbit, "x's sign bit is set", Sample(make=_special_sample),
                  "signbit")


# --------------------------------------------------------------------------- inverse hyperbolic,
# log10, NaN-ignoring max/min, frexp and the modified Bessel functions
_LN10 = math.log(10.0)

acosh = _ew("acosh", np.arccosh, lambda g, out, x: g / np.sqrt(x * x - 1),
            "d/dx acosh x = 1/√(x² - 1)", sample=_unary(low=1.2, high=3.0), torch="acosh")
asinh = _ew("asinh", np.arcsinh, lambda g, out, x: g / np.sqrt(x * x + 1),
            "d/dx asinh x = 1/√(x² + 1)", sample=_unary(), torch="asinh")
atanh = _ew("atanh", np.arctanh, lambda g, out, x: g / (1 - x * x),
            "d/dx atanh x = 1/(1 - x²)", sample=_unary(low=-0.9, high=0.9), torch="atanh")
log10 = _ew("log10", np.log10, lambda g, out, x: g / (x * _LN10), "d/dx log10 x = 1/(x·ln 10)",
            sample=_unary(low=0.3, high=3.0), torch="log10")


def _fmax_picks_x(x: Any, y: Any) -> Any:
    """Where fmax(x, y) is x: x ≥ y, or y is NaN (ties and two NaNs go to x, as PyTorch)."""
    return (x >= y) | np.isnan(y)


def _fmin_picks_x(x: Any, y: Any) -> Any:
    return (x <= y) | np.isnan(y)


# (a custom sample: test_ops.py's broadcasting test needs a NumPy reference per name; the NaN
# and tie cases are tested in test_ops_elementwise_inplace_more.py)
_FMAX_SAMPLE = Sample(make=lambda rng: (rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (1, 4))))
# NaN-ignoring maximum and minimum (C's fmax): a NaN loses to a number. The gradient goes to the
# element chosen, to x on ties (as PyTorch's; maximum splits ties in halves instead).
fmax = _ew("fmax", np.fmax,
           (lambda g, out, x, y: _gated(g, _fmax_picks_x(x, y)),
            lambda g, out, x, y: _gated(g, ~_fmax_picks_x(x, y))),
           ("d/dx fmax(x, y) = [x ≥ y or y is NaN]", "d/dy fmax(x, y) = [y > x or x is NaN]"),
           sample=_FMAX_SAMPLE, torch="fmax")
fmin = _ew("fmin", np.fmin,
           (lambda g, out, x, y: _gated(g, _fmin_picks_x(x, y)),
            lambda g, out, x, y: _gated(g, ~_fmin_picks_x(x, y))),
           ("d/dx fmin(x, y) = [x ≤ y or y is NaN]", "d/dy fmin(x, y) = [y < x or x is NaN]"),
           sample=_FMAX_SAMPLE, torch="fmin")


def _frexp_scale(out: Any, x: Any) -> Any:
    """2^-e = mantissa/x (exact: the mantissa is x scaled by a power of two); 1 where the
    exponent is 0 (x = 0, ±inf, NaN), as PyTorch."""
    scaled = (x != 0) & np.isfinite(x)
    with np.errstate(over="ignore"):  # (a subnormal x: 2^-e past the dtype's range is inf)
        return np.where(scaled, out / np.where(scaled, x, 1.0), 1.0)


# The mantissa of frexp (cr.frexp adds the integer exponent, which has no gradient). Written
# with the output, its derivative 2^-e is flat in x, as it should be (second order 0).
frexp_mantissa = _ew("frexp_mantissa", lambda x: np.frexp(x)[0],
                     lambda g, out, x: g * _frexp_scale(out, x),
                     "d/dx mantissa(x) = 2^-exponent(x)  (x = mantissa·2^exponent)",
                     saves_output=True, sample=_unary(low=-5.0, high=5.0),
                     torch=None)  # (torch.frexp returns both parts: tested in its own file)


def _bessel(name: str) -> Any:
    """scipy.special.NAME (i0, i0e, i1, i1e) on an array, or the recorded op on a Tensor (so
    the rules differentiate again)."""
    forward = _special(name, f"{name} (modified Bessel function)")

    def f(x: Any) -> Any:
        return _BESSEL_OPS[name](x) if hasattr(x, "grad_fn") else forward(x)
    return f


def _over_x_at_0(out: Any, x: Any, scaled: bool = False) -> Any:
    """i1(x)/x (``scaled``: i1e(x)/x), with its limit at x = 0 (and near it, where i1(x) = x/2
    underflows: at x = 5e-324 it rounds to 0): i1(x)/x = 1/2 + x²/16 + ..., 1/2 to the last
    bit for |x| < 1e-8; i1e(x)/x = e^-|x|·i1(x)/x, which differs from 1/2 by |x|/2 there."""
    zero = np.abs(x) < 1e-8
    limit = 0.5 * np.exp(-np.abs(x)) if scaled else 0.5
    return np.where(zero, limit, out / np.where(zero, 1.0, x))


_i0, _i0e, _i1, _i1e = _bessel("i0"), _bessel("i0e"), _bessel("i1"), _bessel("i1e")
i0 = _ew("i0", _special("i0", "i0"), lambda g, out, x: g * _i1(x), "d/dx I₀(x) = I₁(x)",
         sample=_unary(low=-3.0, high=3.0), torch="i0")
i0e = _ew("i0e", _special("i0e", "special.i0e"),
          lambda g, out, x: g * (_i1e(x) - np.sign(x) * out),
          "d/dx e^-|x|·I₀(x) = i1e(x) - sign(x)·i0e(x)", saves_output=True,
          sample=_unary(low=-3.0, high=3.0), torch="special.i0e")
i1 = _ew("i1", _special("i1", "special.i1"),
         lambda g, out, x: g * (_i0(x) - _over_x_at_0(out, x)),
         "d/dx I₁(x) = I₀(x) - I₁(x)/x  (1/2 at x = 0)", saves_output=True,
         sample=_unary(low=-3.0, high=3.0), torch="special.i1")
i1e = _ew("i1e", _special("i1e", "special.i1e"),
          lambda g, out, x: g * (_i0e(x) - np.sign(x) * out - _over_x_at_0(out, x, scaled=True)),
          "d/dx e^-|x|·I₁(x) = i0e(x) - i1e(x)·(sign(x) + 1/x)  (1/2 at x = 0)",
          saves_output=True, sample=_unary(low=-3.0, high=3.0), torch="special.i1e")
_BESSEL_OPS = {"i0": i0, "i0e": i0e, "i1": i1, "i1e": i1e}
