"""Shared by the examples: print a hand-computed value beside chainrule's, count mismatches."""

from __future__ import annotations

from typing import Any

import numpy as np


def fmt(a: Any, limit: int = 8) -> str:
    """A scalar as ``1.234567891``; an array flattened on one line (its first ``limit``
    values when it is longer), with its shape."""
    a = np.asarray(a)
    if a.size == 1:
        return f"{a.item():.10g}"
    flat = a.ravel()
    values = np.array2string(flat[:limit], precision=6, suppress_small=True,
                             max_line_width=10**6)
    if flat.size > limit:
        values = values[:-1] + " …]"
    return f"{values} (shape {a.shape}, flattened)"


class Report:
    """Collects the comparisons of one example and turns them into an exit status."""

    def __init__(self) -> None:
        self.failures: list[str] = []

    def check(self, name: str, by_hand: Any, autodiff: Any, *, rtol: float = 1e-10,
              atol: float = 1e-12, labels: tuple[str, str] = ("by hand", "autodiff")) -> bool:
        """Print both values and whether they agree (``np.allclose`` and equal shapes)."""
        if autodiff is None:
            print(f"  {name}: MISMATCH, autodiff gave no gradient")
            self.failures.append(name)
            return False
        ours = np.asarray(by_hand, dtype=np.float64)
        theirs = np.asarray(autodiff.numpy() if hasattr(autodiff, "numpy") else autodiff,
                            dtype=np.float64)
        same_shape = ours.shape == theirs.shape
        ok = same_shape and bool(np.allclose(ours, theirs, rtol=rtol, atol=atol))
        width = max(len(name), 8)
        print(f"  {name:<{width}} {labels[0]:<9} {fmt(ours)}")
        print(f"  {'':<{width}} {labels[1]:<9} {fmt(theirs)}")
        if same_shape:
            diff = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
            print(f"  {'':<{width}} max |diff| = {diff:.1e}  {'ok' if ok else 'MISMATCH'}")
        else:
            print(f"  {'':<{width}} MISMATCH: shapes {ours.shape} and {theirs.shape}")
        if not ok:
            self.failures.append(name)
        return ok

    def expect(self, name: str, value: float, expected: float, digits: int) -> bool:
        """Check that ``value`` rounds to ``expected`` at ``digits`` decimals."""
        ok = round(value, digits) == expected
        print(f"  {name:<12} = {value:.{digits}f}   expected {expected}  "
              f"{'ok' if ok else 'MISMATCH'}")
        if not ok:
            self.failures.append(name)
        return ok

    def finish(self, success: str) -> int:
        """Print the verdict; 0 if everything matched, else 1."""
        if self.failures:
            print(f"\nFAILED ({len(self.failures)}): {', '.join(self.failures)}")
            return 1
        print(f"\n{success}")
        return 0
