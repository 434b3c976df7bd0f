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
    PyTorch's printing in places."""
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
    if sci is False:
        kw["suppress_small"] = True
        finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
        if (finite != np.round(finite)).any():  # (whole numbers print as "2.", as PyTorch's)
            kw["floatmode"] = "fixed"
    elif sci is True and data.dtype.kind == "f":
        digits = kw["precision"]
        kw["formatter"] = {"float_kind": lambda v: np.format_float_scientific(
            v, precision=digits, unique=False, exp_digits=2)}
    return np.array2string(data, separator=", ", prefix=prefix, **kw)
