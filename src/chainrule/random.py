"""Random tensors from a seeded global generator (``cr.manual_seed``) or an explicit one."""

from __future__ import annotations

import json
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from . import _dtypes
from .creation import _size, _size_kw
from .tensor import Tensor, _check_device


class Generator:
    """A source of random numbers (a NumPy ``Generator`` underneath, PCG64)."""

    def __init__(self, seed: int | None = None) -> None:
        if seed is None:  # (a fresh seed, kept so that initial_seed() can report it)
            seed = int(np.random.SeedSequence().entropy) % 2 ** 64  # type: ignore[arg-type]
        self._seed = int(seed)
        self.np_generator = np.random.default_rng(self._seed)

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

    def initial_seed(self) -> int:
        """The seed this generator was made or last seeded with."""
        return self._seed

    def get_state(self) -> Tensor:
        """The generator's state as a uint8 tensor (the NumPy bit generator's state written
        as JSON; PyTorch's is a different 5056-byte layout): ``set_state`` replays from it."""
        text = json.dumps(self.np_generator.bit_generator.state, sort_keys=True)
        return Tensor._make(np.frombuffer(text.encode("utf-8"), dtype=np.uint8).copy())

    def set_state(self, new_state: Any) -> Generator:
        """Restore a state made by ``get_state`` (the numbers drawn next repeat)."""
        self.np_generator.bit_generator.state = _parse_state(new_state, self.np_generator)
        return self

    def _snapshot(self) -> Any:
        """The state as NumPy's dict (an exact copy, without ``get_state``'s JSON round trip:
        for code that saves and restores the generator on every call, as checkpoint)."""
        return self.np_generator.bit_generator.state

    def _restore(self, snapshot: Any) -> None:
        self.np_generator.bit_generator.state = snapshot


def _parse_state(new_state: Any, rng: np.random.Generator) -> dict:
    if not isinstance(new_state, Tensor) or new_state.dtype != np.uint8:
        got = new_state.dtype if isinstance(new_state, Tensor) else type(new_state).__name__
        raise TypeError(f"set_state: the RNG state must be a uint8 tensor made by get_state() "
                        f"(cr.get_rng_state()), got {got}")
    kind = rng.bit_generator.state["bit_generator"]
    try:
        state = json.loads(new_state.data.tobytes().decode("utf-8"))
        if not isinstance(state, dict) or state.get("bit_generator") != kind:
            raise ValueError(f"not a {kind} state")
        probe = type(rng.bit_generator)()
        probe.state = state  # (NumPy checks the fields; the generator is untouched if bad)
    except (ValueError, TypeError, KeyError, UnicodeDecodeError) as e:
        raise RuntimeError(f"set_state: the RNG state tensor ({new_state.numel()} bytes) is not "
                           f"a state made by get_state() ({e}); pass a tensor returned by "
                           "get_state() / cr.get_rng_state(), unchanged") from None
    return state


default_generator = Generator(0)


def manual_seed(seed: int) -> Generator:
    """Seed the global generator (every random tensor and layer initialisation uses it)."""
    return default_generator.manual_seed(seed)


def seed() -> int:
    """Seed the global generator with a fresh random seed, and return it."""
    s = int(np.random.default_rng().integers(2 ** 63))
    default_generator.manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed the global generator was last seeded with (0 until ``cr.manual_seed``)."""
    return default_generator.initial_seed()


def get_rng_state() -> Tensor:
    """The global generator's state, a uint8 tensor: ``cr.set_rng_state`` replays from it."""
    return default_generator.get_state()


def set_rng_state(new_state: Any) -> None:
    """Restore the global generator to a state from ``cr.get_rng_state()``."""
    default_generator.set_state(new_state)


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


def bernoulli(input: Any, p: float | None = None, *, generator: Any = None) -> Tensor:
    """0s and 1s, 1 with probability ``input`` (elementwise), or with probability ``p`` in
    ``input``'s shape. Its dtype is ``input``'s; the gradient is zero, as in PyTorch."""
    probs = input.data if isinstance(input, Tensor) else np.asarray(input)
    dtype = probs.dtype
    if p is not None:  # (then input only gives the shape and dtype: any dtype, as PyTorch)
        _check_probability(p, "bernoulli")
        probs = np.full(probs.shape, float(p))
    else:
        _need_float(dtype, "bernoulli")
        _check_probabilities(probs, "bernoulli")
    draws = (_gen(generator).random(probs.shape) < probs).astype(dtype)
    return _zero_grad_from(input, Tensor._make(draws))


def _need_float(dtype: np.dtype, op: str) -> None:
    if dtype.kind != "f":
        raise NotImplementedError(f"{op}: needs floating-point probabilities or rates, got "
                                  f"dtype {dtype}; convert with .float() or .double()")


def _check_probability(p: Any, op: str) -> None:
    if not 0 <= float(p) <= 1:
        raise RuntimeError(f"{op}: expects p to be in [0, 1], but got p={p}")


def _check_probabilities(probs: np.ndarray, op: str) -> None:
    bad = ~((probs >= 0) & (probs <= 1))  # (NaN is bad too)
    if bad.any():
        raise RuntimeError(f"{op}: probabilities must be in [0, 1], got {probs[bad].flat[0]}")


def _zero_grad_from(input: Any, out: Tensor) -> Tensor:
    """``out`` with a zero gradient towards ``input`` (PyTorch's random ops record one)."""
    if isinstance(input, Tensor) and input.requires_grad:
        from . import functional as F

        return F.where(np.False_, input, out)
    return out


def multinomial(input: Any, num_samples: int, replacement: bool = False, *,
                generator: Any = None) -> Tensor:
    """Indices of categories drawn with the (unnormalised) probabilities in each row of a
    1-D or 2-D ``input``; int64, shape ``(num_samples,)`` or ``(rows, num_samples)``.

    Without replacement a category is not drawn twice (an exponential race: the same law as
    drawing one at a time and renormalising), so ``num_samples`` can be at most the number of
    categories; zero-probability ones come last.
    """
    num_samples = operator.index(num_samples)  # (a float is a TypeError, as in PyTorch)
    probs = _multinomial_probs(input, num_samples, replacement)
    rows = probs.reshape(-1, probs.shape[-1]).astype(np.float64)
    rng = _gen(generator)
    if replacement:
        picked = _draw_with_replacement(rows, int(num_samples), rng)
    else:
        keys = rng.standard_exponential(rows.shape)
        with np.errstate(divide="ignore"):
            keys = keys / rows  # (inf for zero probabilities: drawn last)
        picked = np.argsort(keys, axis=-1, kind="stable")[:, :int(num_samples)]
    out = picked.astype(np.int64)
    return Tensor._make(out.reshape(probs.shape[:-1] + (int(num_samples),)))


def _multinomial_probs(input: Any, num_samples: int, replacement: bool) -> np.ndarray:
    probs = input.data if isinstance(input, Tensor) else np.asarray(input)
    if probs.ndim not in (1, 2):
        raise RuntimeError(f"multinomial: prob_dist must be 1 or 2 dim, got shape {probs.shape}")
    if probs.dtype.kind != "f":
        raise RuntimeError(f"multinomial: only floating-point probabilities are supported, "
                           f"got dtype {probs.dtype}; convert with .float()")
    if probs.shape[-1] == 0:
        raise RuntimeError(f"multinomial: needs at least one category, got shape {probs.shape}")
    if num_samples <= 0:
        raise RuntimeError(f"multinomial: cannot sample n_sample <= 0 samples "
                           f"(num_samples={num_samples})")
    if not replacement and num_samples > probs.shape[-1]:
        raise RuntimeError(f"multinomial: cannot sample n_sample ({num_samples}) > "
                           f"prob_dist.size(-1) ({probs.shape[-1]}) samples without "
                           "replacement; pass replacement=True or ask for fewer samples")
    if probs.shape[-1] > 2 ** 24:
        raise RuntimeError(f"multinomial: number of categories cannot exceed 2^24, got "
                           f"{probs.shape[-1]}")
    if not np.isfinite(probs).all() or (probs < 0).any():
        raise RuntimeError("multinomial: probability tensor contains either `inf`, `nan` or "
                           "element < 0")
    if probs.size and (probs.reshape(-1, probs.shape[-1]).sum(-1) <= 0).any():
        raise RuntimeError("multinomial: invalid multinomial distribution (sum of "
                           "probabilities <= 0): every row needs a positive probability")
    return probs


def _draw_with_replacement(rows: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    cdf = np.cumsum(rows, axis=-1)
    u = rng.random((rows.shape[0], n)) * cdf[:, -1:]
    picked = np.empty((rows.shape[0], n), dtype=np.int64)
    for i in range(rows.shape[0]):  # (side="right": a zero-probability category has no width)
        picked[i] = np.searchsorted(cdf[i], u[i], side="right")
    return np.minimum(picked, rows.shape[1] - 1)


# NumPy's Poisson sampler refuses larger rates.
_MAX_POISSON_RATE = 9.2e18


def poisson(input: Any, generator: Any = None) -> Tensor:
    """Counts drawn from Poisson distributions with the rates in ``input`` (same dtype; the
    gradient is zero, as in PyTorch). An infinite rate is an error here (PyTorch gives a
    meaningless number)."""
    given = input.data if isinstance(input, Tensor) else np.asarray(input)
    _need_float(given.dtype, "poisson")
    rates = given.astype(np.float64)  # (float16 cannot hold the largest rate)
    bad = ~((rates >= 0) & (rates <= _MAX_POISSON_RATE))
    if bad.any():
        raise RuntimeError(f"poisson: invalid Poisson rate {rates[bad].flat[0]}, expected rate "
                           f"to be non-negative and finite (at most {_MAX_POISSON_RATE:g})")
    counts = np.asarray(_gen(generator).poisson(rates)).astype(given.dtype)  # (0-d: a scalar)
    return _zero_grad_from(input, Tensor._make(counts))


def randint_like(input: Any, low: int = 0, high: int | None = None, *, generator: Any = None,
                 dtype: Any = None, requires_grad: bool = False, device: Any = None) -> Tensor:
    """Integers in [low, high) in ``input``'s shape and dtype (``randint_like(x, high)``)."""
    _check_device(device, "randint_like")
    if high is None:
        low, high = 0, low
    if low >= high:
        raise RuntimeError(f"randint_like: expects 'low' to be less than 'high', but got "
                           f"low={low} >= high={high}")
    shape = input.shape if isinstance(input, Tensor) else np.shape(input)
    d = _dtypes.as_dtype(dtype) if dtype is not None else (
        input.dtype if isinstance(input, Tensor) else np.asarray(input).dtype)
    arr = _gen(generator).integers(int(low), int(high), size=shape).astype(d)
    t = Tensor._make(np.asarray(arr))
    return t.requires_grad_() if requires_grad else t


# ---- in-place draws (the Tensor methods bernoulli_, exponential_, ... call these)

def _fill(t: Tensor, values: np.ndarray, source: Any = None) -> Tensor:
    """Write ``values`` into ``t`` in place (a recorded op with a zero gradient, towards
    ``source`` too when it is a tensor the values were drawn from)."""
    from .tensor import _replace

    new = Tensor._make(np.asarray(values).astype(t.dtype))
    if t.dtype.kind != "f":  # (an integer tensor cannot carry a gradient, even a zero one)
        source = None
    new = _zero_grad_from(source, new).to(t.dtype)
    return t._inplace(lambda old: _replace(old, new), source)


def _float_only(t: Tensor, op: str) -> None:
    if t.dtype.kind != "f":
        raise RuntimeError(f"{op}: draws from a continuous distribution, so the tensor must be "
                           f"floating-point, got dtype {t.dtype}; use .float() first")


def bernoulli_(t: Tensor, p: Any = 0.5, generator: Any = None) -> Tensor:
    if isinstance(p, Tensor):
        _need_float(p.dtype, "bernoulli_")
        try:
            probs = np.broadcast_to(p.data, t.shape)
        except ValueError:
            raise RuntimeError(f"bernoulli_: p of shape {p.shape} does not broadcast to the "
                               f"tensor's shape {t.shape}") from None
        _check_probabilities(probs, "bernoulli_")
    else:
        _check_probability(p, "bernoulli_")
        probs = np.full(t.shape, float(p))
    return _fill(t, _gen(generator).random(t.shape) < probs, p)


def exponential_(t: Tensor, lambd: float = 1.0, generator: Any = None) -> Tensor:
    _float_only(t, "exponential_")
    if not lambd > 0:
        raise RuntimeError(f"exponential_: expects lambda > 0.0, but found lambda={lambd}")
    return _fill(t, _gen(generator).exponential(1.0 / lambd, t.shape))


def cauchy_(t: Tensor, median: float = 0.0, sigma: float = 1.0,
            generator: Any = None) -> Tensor:
    _float_only(t, "cauchy_")
    if not sigma > 0:
        raise RuntimeError(f"cauchy_: expects sigma > 0.0, but found sigma={sigma}")
    return _fill(t, median + sigma * _gen(generator).standard_cauchy(t.shape))


def log_normal_(t: Tensor, mean: float = 1.0, std: float = 2.0,
                generator: Any = None) -> Tensor:
    _float_only(t, "log_normal_")
    if not std > 0:
        raise RuntimeError(f"log_normal_: expects std > 0.0, but found std={std}")
    return _fill(t, _gen(generator).lognormal(mean, std, t.shape))


def geometric_(t: Tensor, p: float, generator: Any = None) -> Tensor:
    """Trials up to the first success (1, 2, ...), each succeeding with probability p."""
    if not 0 < p < 1:
        raise RuntimeError(f"geometric_: expects p to be in (0, 1), but got p={p}")
    return _fill(t, _gen(generator).geometric(p, t.shape))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0, generator: Any = None) -> Tensor:
    _float_only(t, "normal_")
    if not std >= 0:
        raise RuntimeError(f"normal_: expects std >= 0.0, but found std {std}")
    return _fill(t, _gen(generator).normal(mean, std, t.shape))


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Tensor:
    _float_only(t, "uniform_")
    if a > b:
        raise RuntimeError(f"uniform_: expects to return a [from, to) range, but found "
                           f"from={a} > to={b}")
    return _fill(t, _gen(generator).uniform(a, b, t.shape))


def random_(t: Tensor, from_: int = 0, to: int | None = None, generator: Any = None) -> Tensor:
    """Whole numbers in [from, to); without ``to``, up to the largest whole number the dtype
    holds exactly (2²⁴ for float32, 2⁵³ for float64, the maximum for integers)."""
    if to is None:
        high = _random_top(t.dtype) + 1
    else:
        high = int(to)
    low = int(from_)
    if low >= high:
        raise RuntimeError(f"random_: expects 'from' to be less than 'to', but got "
                           f"from={low} >= to={high}")
    if t.dtype.kind == "f":  # (past 2**mantissa the draws round, but stay finite, as PyTorch)
        lowest, top = float(np.finfo(t.dtype).min), float(np.finfo(t.dtype).max)
    else:
        lowest = int(np.iinfo(t.dtype).min) if t.dtype.kind in "iu" else 0
        top = _random_top(t.dtype)
    if low < lowest or high - 1 > top:
        raise RuntimeError(f"random_: [from, to) = [{low}, {high}) is out of bounds for "
                           f"dtype {t.dtype}; pick bounds the dtype can hold")
    wide = np.uint64 if high > 2 ** 63 else np.int64  # (a uint64 tensor's whole range)
    return _fill(t, _gen(generator).integers(low, high, t.shape, dtype=wide))


def _random_bounds(args: tuple, kw: dict) -> tuple[int, int | None]:
    """(from, to) from ``random_``'s arguments: (), (to,) or (from, to), or keywords."""
    if kw.keys() - {"from", "to"} or len(args) > 2 or (args and "from" in kw) or (
            len(args) == 2 and "to" in kw):
        raise TypeError(f"random_: takes random_(), random_(to) or random_(from, to), got "
                        f"{len(args)} positional arguments and keywords {sorted(kw)}")
    if len(args) == 1 and "to" not in kw:  # random_(to)
        return 0, args[0]
    low = args[0] if args else kw.get("from", 0)
    return low, args[1] if len(args) == 2 else kw.get("to")


def _random_top(dtype: np.dtype) -> int:
    if dtype.kind == "b":
        return 1
    if dtype.kind == "f":
        return 2 ** (np.finfo(dtype).nmant + 1)
    return int(np.iinfo(dtype).max)


def rand_like(t: Tensor, **kw: Any) -> Tensor:
    return rand(*t.shape, dtype=kw.pop("dtype", t.dtype), **kw)


def randn_like(t: Tensor, **kw: Any) -> Tensor:
    return randn(*t.shape, dtype=kw.pop("dtype", t.dtype), **kw)
