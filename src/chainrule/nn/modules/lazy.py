"""Lazy layers (``LazyLinear``, ``LazyConv*``, ...): their input size is read from the first input."""

__all__: list[str] = []
