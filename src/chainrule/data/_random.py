"""Turning the ``generator=`` / ``seed=`` arguments into a NumPy Generator."""

from __future__ import annotations

from typing import Any

import numpy as np


def check_seed(seed: Any, where: str) -> None:
    """Raise unless ``seed`` is an int >= 0 (what ``numpy.random.default_rng`` accepts).

    Raises
    ------
    TypeError
        If ``seed`` is not an int (bools are refused too).
    ValueError
        If ``seed`` is negative.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"{where}: seed must be an int, got {type(seed).__name__}")
    if seed < 0:
        raise ValueError(f"{where}: seed must be a non-negative int, got {seed}")


def check_rng_args(generator: Any, seed: int | None, where: str) -> None:
    """Validate a ``generator=`` / ``seed=`` pair without drawing anything.

    Raises
    ------
    ValueError
        If both are given, or ``seed`` is negative.
    TypeError
        If ``seed`` is not an int or ``generator`` holds no NumPy Generator.
    """
    if generator is not None and seed is not None:
        raise ValueError(f"{where}: pass either generator= or seed=, not both")
    if seed is not None:
        check_seed(seed, where)
    if generator is not None and not isinstance(generator, np.random.Generator):
        if not isinstance(getattr(generator, "np_generator", None), np.random.Generator):
            raise TypeError(
                f"{where}: generator must be a cr.Generator, a numpy.random.Generator or have "
                f"one in its .np_generator attribute, got {type(generator).__name__}"
            )


def resolve_rng(generator: Any, seed: int | None, where: str) -> np.random.Generator:
    """The ``numpy.random.Generator`` to draw from.

    Parameters
    ----------
    generator
        ``None`` (chainrule's global generator, seeded by ``cr.manual_seed``), a
        ``numpy.random.Generator``, or an object whose ``.np_generator`` attribute is
        one (such as ``cr.Generator``). It is used, and advanced, in place.
    seed
        An int seed for a new generator; cannot be combined with ``generator``.
    where
        Name of the caller, for error messages.
    """
    check_rng_args(generator, seed, where)
    if seed is not None:
        return np.random.default_rng(int(seed))
    if generator is None:
        from chainrule.random import default_generator

        generator = default_generator
    if isinstance(generator, np.random.Generator):
        return generator
    inner: np.random.Generator = generator.np_generator
    return inner
