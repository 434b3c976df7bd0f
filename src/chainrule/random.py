"""Random tensors from a seeded global generator (``cr.manual_seed``) or an explicit one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import _dtypes
from .creation import _size, _size_kw
from .tensor import Tensor, _check_device


class Generator:
    """A source of random numbers (a NumPy ``Generator`` underneath, PCG64)."""

    def __init__(self, seed: int | None = None) -> None:
        self._seed = seed
        self.np_generator = np.random.default_rng(seed)

    def manual_seed(self, seed: int) -> Generator:
        """Seed this generator. As in PyTorch, a seed is an int in [-2⁶³, 2⁶⁴ - 1], and a
        negative one is taken modulo 2⁶⁴ (-1 is 2⁶⁴ - 1)."""
        seed = int(seed)
        if not -0x8000_0000_0000_0000 <= seed <= 0xFFFF_FFFF_FFFF_FFFF:
            raise ValueError(f"manual_seed: seed {seed} is out of range; give an int in "
                             "[-2**63, 2**64 - 1]")
        self._seed = seed % 2 ** 64
        self.np_generator = np.random.default_rng(self._seed)
        return self

    def initial_seed(self) -> int | None:
        return self._seed

    def get_state(self) -> dict:
        return dict(self.np_generator.bit_generator.state)

    def set_state(self, state: dict) -> None:
        self.np_generator.bit_generator.state = state


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (every random tensor and layer initialisation uses it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    s = int(np.random.default_rng().integers(2 ** 63))
    default_generator.manual_seed(s)
    return s


# Called with the NumPy generator about to draw, by every draw (all of chainrule's random
# numbers come through ``_gen``) while ``cr.func.vmap`` runs a function: a hook raises
# (``randomness="error"``) or rewinds the generator (``"same"``). Empty otherwise.
_draw_hooks: list[Callable[[np.random.Generator], None]] = []


def _gen(generator: Any = None) -> np.random.Generator:
    if generator is None:
        rng = default_generator.np_generator
    elif isinstance(generator, Generator):
        rng = generator.np_generator
    elif isinstance(generator, np.random.Generator):
        rng = generator
    else:
        raise TypeError(f"generator must be a cr.Generator, got {type(generator).__name__}")
    for hook in _draw_hooks:  # (outermost vmap first)
        hook(rng)
    return rng


def _finish(arr: np.ndarray, dtype: Any, requires_grad: bool, what: str) -> Tensor:
    d = _dtypes.get_default_dtype() if dtype is None else _dtypes.as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"{what}: draws floating-point numbers, so dtype must be a float "
                        f"dtype, got {d}; use cr.randint for integers")
    t = Tensor._make(np.asarray(arr, dtype=d))  # (not ascontiguousarray: it makes 0-d 1-d)
    return t.requires_grad_() if requires_grad else t


def rand(*size: Any, generator: Any = None, dtype: Any = None,
         requires_grad: bool = False, device: Any = None, **kw: Any) -> Tensor:
    """Uniform on [0, 1) (sizes as arguments, a sequence, or ``size=``)."""
    _check_device(device, "rand")
    shape = _size(_size_kw(size, kw, "rand"), "rand")
    return _finish(_gen(generator).random(shape), dtype, requires_grad, "rand")


def randn(*size: Any, generator: Any = None, dtype: Any = None,
          requires_grad: bool = False, device: Any = None, **kw: Any) -> Tensor:
    """Standard normal (sizes as arguments, a sequence, or ``size=``)."""
    _check_device(device, "randn")
    shape = _size(_size_kw(size, kw, "randn"), "randn")
    return _finish(_gen(generator).standard_normal(shape), dtype, requires_grad, "randn")


def randint(low: int, high: Any = None, size: Any = (), *, generator: Any = None,
            dtype: Any = None, device: Any = None) -> Tensor:
    """Integers in [low, high) (``randint(high, size)`` also works, as PyTorch)."""
    _check_device(device, "randint")
    if high is None or isinstance(high, (tuple, list)):  # randint(high, size)
        if high is not None:
            size = high
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    arr = _gen(generator).integers(low, high, size=_size((size,), "randint"))
    return Tensor._make(arr.astype(_dtypes.int64 if dtype is None else _dtypes.as_dtype(dtype)))


def randperm(n: int, *, generator: Any = None, device: Any = None) -> Tensor:
    _check_device(device, "randperm")
    return Tensor._make(_gen(generator).permutation(n).astype(np.int64))


def normal(mean: float = 0.0, std: float = 1.0, size: Any = (), *, generator: Any = None,
           dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    _check_device(device, "normal")
    arr = _gen(generator).normal(mean, std, _size((size,), "normal"))
    return _finish(arr, dtype, requires_grad, "normal")


def bernoulli(p: Any, *, generator: Any = None) -> Tensor:
    probs = p.data if isinstance(p, Tensor) else np.asarray(p)
    return Tensor._make((_gen(generator).random(probs.shape) < probs).astype(probs.dtype))


def rand_like(t: Tensor, **kw: Any) -> Tensor:
    return rand(*t.shape, dtype=kw.pop("dtype", t.dtype), **kw)


def randn_like(t: Tensor, **kw: Any) -> Tensor:
    return randn(*t.shape, dtype=kw.pop("dtype", t.dtype), **kw)
