"""How tensors print: ``cr.set_printoptions`` (PyTorch's options) and the repr's text.

The numbers are written as PyTorch 2.13 writes them. Every value shown shares one format,
chosen from the finite nonzero values among those shown:

* integer-valued floats print as ``2.`` (fixed) unless the largest is above 1e8 or more than
  1000 times the smallest, which switches to scientific ``2.0000e+00``;
* other floats print with ``precision`` decimals (``1.5000``), or scientific when the largest
  is above 1e8, more than 1000 times the smallest, or the smallest is below 1e-4;
* a forced ``sci_mode`` overrides that choice (not for tensors without a finite nonzero
  value, which keep ``0.``/``nan`` as PyTorch does);
* every number is right-aligned to the widest finite nonzero one (so ``-0.0000`` may stick
  out, as in PyTorch); integers and bools align to the widest of all.

Rows wrap at ``linewidth`` counting the ``tensor(`` indent, nested dims are separated by
blank lines, and above ``threshold`` elements only ``edgeitems`` per edge of each dim are
formatted, with ``...`` between them. Suffixes (``dtype=``, ``requires_grad=True``...) move
to a new line when they would pass ``linewidth``, as in PyTorch; chainrule's are longer
(``dtype=chainrule.float64``, not ``torch.float64``), so within a few characters of the limit
one may wrap where PyTorch's stays on the line. Only that differs from PyTorch.
"""

from __future__ import annotations

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
    or 'full') first, then the options given. ``precision`` is the number of decimals,
    ``threshold`` the element count above which a tensor is summarised to ``edgeitems``
    values at each end of every dim, ``linewidth`` where rows wrap. ``sci_mode`` True/False
    forces scientific or fixed notation; None (the default, reset by every call as in
    PyTorch) picks one from the values.

    Tensors print exactly as PyTorch 2.13 prints them (``tensor([1.5000, 2.0000])``, ``2.``
    for integer-valued floats, the same widths, wrapping and ``...``); only the dtype reads
    ``chainrule.float64`` where PyTorch writes ``torch.float64``."""
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


# ------------------------------------------------------------------ the body of numbers

def format_body(data: np.ndarray, prefix: str) -> str:
    """The values of ``data`` as PyTorch lays them out after ``prefix`` (``"tensor("``):
    ``[]`` when empty, one number for 0-d, nested brackets otherwise."""
    if data.size == 0:
        return "[]"
    if data.ndim == 0:
        return _format_values(data)[0][0]
    edgeitems = int(OPTIONS["edgeitems"])
    summarize = data.size > OPTIONS["threshold"]
    if summarize and edgeitems == 0:
        return "[...]"
    shown = _edges(data, edgeitems) if summarize else data
    texts, width = _format_values(shown)
    nested = np.array(texts, dtype=object).reshape(shown.shape).tolist()
    layout = _Layout(width, edgeitems, summarize, int(OPTIONS["linewidth"]))
    return layout.block(nested, data.shape, len(prefix))


def shape_suffix(data: np.ndarray) -> str | None:
    """The ``size=(...)`` PyTorch appends: for empty tensors that are not 1-d (``[]`` hides
    their shape), and for every non-empty tensor while ``edgeitems`` is 0 (``[...]``)."""
    if data.size == 0:
        return None if data.ndim == 1 else f"size={data.shape}"
    return f"size={data.shape}" if int(OPTIONS["edgeitems"]) == 0 else None


def add_suffixes(text: str, suffixes: list[str], indent: int) -> str:
    """Close ``text`` (``"tensor(" + body``) with ``, suffix`` for each suffix, starting a
    new line indented by ``indent`` when the current one would pass ``linewidth``."""
    parts = [text]
    # (PyTorch's count: the last line's length plus 2 when there is no newline.)
    line_length = len(text) - text.rfind("\n") + 1
    for suffix in suffixes:
        if line_length + len(suffix) + 2 > OPTIONS["linewidth"]:
            parts.append(",\n" + " " * indent + suffix)
            line_length = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            line_length += len(suffix) + 2
    return "".join(parts) + ")"


def _edges(data: np.ndarray, edgeitems: int) -> np.ndarray:
    """The values a summarised print shows: ``edgeitems`` at each end of every long dim
    (only these are formatted, so huge tensors print fast)."""
    for axis, n in enumerate(data.shape):
        if n > 2 * edgeitems:
            keep = np.r_[0:edgeitems, n - edgeitems:n]
            data = np.take(data, keep, axis=axis)
    return data


def _format_values(shown: np.ndarray) -> tuple[list[str], int]:
    """Every value of ``shown`` (flattened) written in one shared format and right-aligned,
    and the width the layout counts with."""
    if shown.dtype.kind != "f":
        texts = [str(v) for v in shown.reshape(-1).tolist()]
        width = max(1, max(len(t) for t in texts))
        return [t.rjust(width) for t in texts], width
    values = shown.astype(np.float64).reshape(-1)
    counted = np.isfinite(values) & (values != 0)
    if not counted.any():  # (zeros, nan, inf only: integer style, whatever sci_mode says)
        return [_whole(v) for v in values.tolist()], 1
    write = _float_writer(values[counted])
    texts = [write(v) for v in values.tolist()]
    width = max(len(t) for t, c in zip(texts, counted.tolist()) if c)
    return [t.rjust(width) for t in texts], width


def _float_writer(counted: np.ndarray) -> Any:
    """The function writing one float, picked from the finite nonzero values shown."""
    digits = int(OPTIONS["precision"])
    magnitudes = np.abs(counted)
    smallest, largest = float(magnitudes.min()), float(magnitudes.max())
    whole = bool((counted == np.ceil(counted)).all())
    sci = largest / smallest > 1000.0 or largest > 1.0e8 or (not whole and smallest < 1.0e-4)
    if OPTIONS["sci_mode"] is not None:
        sci = bool(OPTIONS["sci_mode"])
    if sci:
        return lambda v: f"{v:.{digits}e}"
    if whole:
        return _whole
    return lambda v: f"{v:.{digits}f}"


def _whole(v: float) -> str:
    """An integer-valued float: ``2.`` (``nan``/``inf`` get no point)."""
    text = f"{v:.0f}"
    return text + "." if np.isfinite(v) else text


class _Layout:
    """Brackets, commas, wrapping and ``...`` around the formatted numbers."""

    def __init__(self, width: int, edgeitems: int, summarize: bool, linewidth: int) -> None:
        self.width, self.edgeitems = width, edgeitems
        self.summarize, self.linewidth = summarize, linewidth

    def _elided(self, items: list[Any], size: int) -> list[Any]:
        """``items`` (the shown ones of a dim of ``size``) with the ellipsis marker."""
        if self.summarize and size > 2 * self.edgeitems:
            return items[:self.edgeitems] + [None] + items[self.edgeitems:]
        return items

    def block(self, nested: list[Any], shape: tuple[int, ...], indent: int) -> str:
        """One (sub)tensor of ``shape`` starting at column ``indent``."""
        if len(shape) == 1:
            return self._row(nested, shape[0], indent)
        parts = ["..." if sub is None else self.block(sub, shape[1:], indent + 1)
                 for sub in self._elided(nested, shape[0])]
        separator = "," + "\n" * (len(shape) - 1) + " " * (indent + 1)
        return "[" + separator.join(parts) + "]"

    def _row(self, texts: list[str], size: int, indent: int) -> str:
        """A 1-d run of numbers, wrapped so each line holds as many as fit."""
        items = [" ..." if t is None else t for t in self._elided(texts, size)]
        per_line = max(1, (self.linewidth - indent) // (self.width + 2))
        lines = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
