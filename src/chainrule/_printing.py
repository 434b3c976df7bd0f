"""How tensors print: ``cr.set_printoptions`` (PyTorch's options) and the repr's body."""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

# PyTorch's profiles: precision, threshold (elements before summarising), edgeitems, linewidth.
_PROFILES: dict[str, dict[str, Any]] = {
    "default": {"precision": 4, "threshold": 1000, "edgeitems": 3, "linewidth": 80},
    "short": {"precision": 2, "threshold": 1000, "edgeitems": 2, "linewidth": 80},
    "full": {"precision": 4, "threshold": float("inf"), "edgeitems": 3, "linewidth": 80},
}

OPTIONS: dict[str, Any] = dict(_PROFILES["default"], sci_mode=None)


def set_printoptions(precision: int | None = None, threshold: float | None = None,
                     edgeitems: int | None = None, linewidth: int | None = None,
                     profile: str | None = None, sci_mode: bool | None = None) -> None:
    """Set how tensors print, as ``torch.set_printoptions``: ``profile`` ('default', 'short'
    or 'full') first, then the options given. ``sci_mode`` True/False forces scientific or
    fixed notation; None (the default, reset by every call as in PyTorch) picks one.

    The layout is NumPy's ``array2string`` with these options, so spacing can differ from
    PyTorch's printing in places; with ``sci_mode`` None the digits are NumPy's too (``1.5``
    where PyTorch prints ``1.5000``), a forced one writes numbers in PyTorch's formats."""
    if profile is not None:
        if profile not in _PROFILES:
            raise ValueError(f"set_printoptions: unknown profile {profile!r}; use one of "
                             f"{sorted(_PROFILES)}")
        OPTIONS.update(_PROFILES[profile])
    given = {"precision": precision, "threshold": threshold, "edgeitems": edgeitems,
             "linewidth": linewidth}
    for name, value in given.items():
        if value is not None:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise TypeError(f"set_printoptions: {name} must be a non-negative number, "
                                f"got {value!r}")
            OPTIONS[name] = value
    OPTIONS["sci_mode"] = sci_mode


def format_body(data: np.ndarray, prefix: str) -> str:
    """The values of ``data`` laid out under the current options."""
    threshold = OPTIONS["threshold"]
    kw: dict[str, Any] = {
        "precision": int(OPTIONS["precision"]),
        "threshold": sys.maxsize if threshold == float("inf") else int(threshold),
        "edgeitems": int(OPTIONS["edgeitems"]), "max_line_width": int(OPTIONS["linewidth"]),
    }
    sci = OPTIONS["sci_mode"]
    if sci is not None and data.dtype.kind == "f" and data.size:
        shown = data if data.size <= kw["threshold"] else _edges(data, kw["edgeitems"])
        kw["formatter"] = {"float_kind": _forced_format(shown, sci, kw["precision"])}
    return np.array2string(data, separator=", ", prefix=prefix, **kw)


def _forced_format(shown: np.ndarray, sci: bool, digits: int) -> Any:
    """PyTorch's number format when ``sci_mode`` is forced: ``1.5000e+00``, else fixed
    ``1.5000`` (``2.`` when every finite value is whole), right-aligned to one width."""
    finite = shown[np.isfinite(shown)]
    whole = bool((finite == np.round(finite)).all())

    def text(v: Any) -> str:
        if not np.isfinite(v):
            return str(float(v))  # (nan, inf, -inf)
        if sci:
            return f"{v:.{digits}e}"
        return f"{v:.0f}." if whole else f"{v:.{digits}f}"

    width = max(len(text(v)) for v in shown.flat)
    return lambda v: text(v).rjust(width)


def _edges(data: np.ndarray, edgeitems: int) -> np.ndarray:
    """The values a summarised print shows: ``edgeitems`` at each end of every dim."""
    for axis, n in enumerate(data.shape):
        if n > 2 * edgeitems:
            keep = np.r_[0:edgeitems, n - edgeitems:n]
            data = np.take(data, keep, axis=axis)
    return data
