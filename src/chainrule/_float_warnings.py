"""Keep NumPy's floating-point warnings about chainrule's own arithmetic quiet.

NumPy warns when a float operation gives inf or NaN (``1 / 0``, ``log(0)``, ``exp(1000)``).
PyTorch gives the same IEEE results silently, and the warning would name a line inside
chainrule (``engine.py:349: RuntimeWarning: divide by zero encountered in log``) rather than
the user's code. A ``np.errstate`` around every op would cost about a microsecond each, so a
warnings filter does it instead: it matches only NumPy's floating-point messages, and only
when they come from chainrule's modules, so NumPy code of the user's own still warns. To see
where a NaN comes from, use ``cr.detect_anomaly()``.
"""

from __future__ import annotations

import warnings

_MESSAGE = r"(divide by zero|invalid value|overflow|underflow) encountered"


def silence_float_warnings() -> None:
    """Put the filter at the front of the warnings filters (once is enough: it is kept)."""
    warnings.filterwarnings("ignore", message=_MESSAGE, category=RuntimeWarning,
                            module=r"chainrule(\.|$)")
