"""``cr.special``: torch.special's names for the special functions (SciPy supplies those NumPy
lacks: digamma, polygamma, erfinv, erfcx, ndtri, log_ndtr and the modified Bessel functions i0,
i0e, i1, i1e; ``gammaln`` and ``erfc`` fall back to Python's math module without it, but
gammaln's gradient is digamma)."""

from __future__ import annotations

import math
from typing import Any

from . import functional as F
from .ops import elementwise as E
from .tensor import Tensor

__all__ = ["digamma", "entr", "erf", "erfc", "erfcx", "erfinv", "exp2", "expit", "expm1",
           "gammaln", "i0", "i0e", "i1", "i1e", "log1p", "log_ndtr", "log_softmax", "logit",
           "logsumexp", "multigammaln", "ndtr", "ndtri", "polygamma", "psi", "round", "sinc",
           "softmax", "xlog1py", "xlogy"]

(digamma, erf, erfc, erfinv, exp2, expm1, log1p, logit, logsumexp, polygamma, sinc, xlogy,
 round) = (F.digamma, F.erf, F.erfc, F.erfinv, F.exp2, F.expm1, F.log1p, F.logit, F.logsumexp,
           F.polygamma, F.sinc, F.xlogy, F.round)
expit = F.sigmoid
gammaln = F.lgamma
psi = F.digamma
multigammaln = F.mvlgamma
entr, erfcx, ndtri, log_ndtr, xlog1py = E.entr, E.erfcx, E.ndtri, E.log_ndtr, E.xlog1py
i0, i0e, i1, i1e = E.i0, E.i0e, E.i1, E.i1e  # (e: scaled by e^-|x|, finite for large |x|)


def ndtr(input: Any) -> Tensor:
    """Φ(x), the standard normal CDF: erfc(-x/√2)/2 (accurate in the left tail)."""
    return E.erfc(E.mul(input, -1 / math.sqrt(2.0))) * 0.5



def softmax(input: Any, dim: int, *, dtype: Any = None) -> Tensor:
    return F.softmax(input, dim, dtype=dtype)


def log_softmax(input: Any, dim: int, *, dtype: Any = None) -> Tensor:
    return F.log_softmax(input, dim, dtype=dtype)
