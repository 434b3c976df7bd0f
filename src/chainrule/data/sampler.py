"""Samplers: the order (and grouping) in which a ``DataLoader`` visits a dataset's indices,
as ``torch.utils.data``'s.

Random samplers draw from ``generator`` (a ``cr.Generator``, a ``numpy.random.Generator``,
or by default chainrule's global generator, seeded by ``cr.manual_seed``) afresh at every
epoch, so the numbers differ from PyTorch's but the behaviour is the same.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Iterator, Sized
from typing import Any, Generic, TypeVar

import numpy as np

from chainrule.data._convert import is_tensor, to_numpy
from chainrule.data._random import check_rng_args, resolve_rng

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "SubsetRandomSampler",
           "WeightedRandomSampler", "BatchSampler"]

T_co = TypeVar("T_co", covariant=True)


class Sampler(Generic[T_co]):
    """Base class: subclasses define ``__iter__`` (the indices of one epoch) and usually
    ``__len__``."""

    def __init__(self, data_source: Sized | None = None) -> None:
        pass

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")


def _index_array(sampler: Any) -> np.ndarray | None:
    """One epoch of ``sampler`` as an int array, when it can give one without a Python loop
    (chainrule's own index samplers); else ``None``.

    Only when ``sampler.__iter__`` is the library's own: a subclass that overrides
    ``__iter__`` is iterated, so its order is the one used (as in PyTorch)."""
    if getattr(type(sampler), "__iter__", None) not in _ARRAY_ITERS:
        return None
    epoch: np.ndarray | None = sampler._epoch_indices()
    return epoch


class SequentialSampler(Sampler[int]):
    """``0, 1, ..., len(data_source) - 1``, in order."""

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def _epoch_indices(self) -> np.ndarray:
        return np.arange(len(self.data_source))

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


def _check_positive_int(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{what} should be a positive integer value, but got {what}={value}")


class RandomSampler(Sampler[int]):
    """The indices in a random order: a new permutation every epoch, or with
    ``replacement`` ``num_samples`` independent draws. Without replacement, a
    ``num_samples`` above the dataset's length chains several permutations (as PyTorch)."""

    def __init__(self, data_source: Sized, replacement: bool = False,
                 num_samples: int | None = None, generator: Any = None) -> None:
        if not isinstance(replacement, bool):
            raise TypeError("replacement should be a boolean value, but got "
                            f"replacement={replacement}")
        if num_samples is not None:
            _check_positive_int(num_samples, "num_samples")
        check_rng_args(generator, None, "RandomSampler")
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else int(self._num_samples)

    def _epoch_indices(self) -> np.ndarray:
        n, k = len(self.data_source), self.num_samples
        rng = resolve_rng(self.generator, None, "RandomSampler")
        if n == 0 and k:  # only with an explicit num_samples (as PyTorch, which fails too)
            raise RuntimeError(f"RandomSampler: cannot draw num_samples={k} samples from an "
                               "empty data_source")
        if self.replacement:
            return rng.integers(0, n, size=k)
        if n == 0:
            return np.zeros(0, np.int64)
        perms = [rng.permutation(n) for _ in range(-(-k // n))]
        return np.concatenate(perms)[:k]

    def __iter__(self) -> Iterator[int]:
        return iter(self._epoch_indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler[int]):
    """The given ``indices`` in a random order (a new one every epoch). The elements are
    yielded unchanged, as PyTorch's (integer indices are shuffled as one array)."""

    def __init__(self, indices: Iterable[int], generator: Any = None) -> None:
        check_rng_args(generator, None, "SubsetRandomSampler")
        self.indices = indices
        self.generator = generator

    def _int_indices(self) -> np.ndarray | None:
        """``indices`` as a 1-d int array when they are all integers (bools excluded), else
        ``None``."""
        indices = self.indices
        if not isinstance(indices, np.ndarray) and not is_tensor(indices):
            indices = list(indices)
            if not all(isinstance(i, (int, np.integer)) and not isinstance(i, bool)
                       for i in indices):
                return None
        arr = to_numpy(indices)
        return arr.astype(np.int64) if arr.ndim == 1 and arr.dtype.kind in "iu" else None

    def _permutation(self, n: int) -> np.ndarray:
        return resolve_rng(self.generator, None, "SubsetRandomSampler").permutation(n)

    def _epoch_indices(self) -> np.ndarray | None:
        indices = self._int_indices()
        return None if indices is None else indices[self._permutation(len(indices))]

    def __iter__(self) -> Iterator[int]:
        order = self._epoch_indices()
        if order is not None:
            return iter(order.tolist())
        indices = self.indices
        if not hasattr(indices, "__getitem__"):
            indices = list(indices)
        perm = self._permutation(len(indices))  # type: ignore[arg-type]
        return (indices[i] for i in perm.tolist())  # type: ignore[index]

    def __len__(self) -> int:
        return len(self.indices)  # type: ignore[arg-type]


def _check_weights(w: np.ndarray) -> None:
    """Raise unless ``w`` holds finite, non-negative weights, not all zero; the message names
    the first bad weight (never the whole array, which may hold millions)."""
    bad = np.flatnonzero(~np.isfinite(w) | (w < 0))
    if bad.size:
        i = int(bad[0])
        raise ValueError("WeightedRandomSampler: weights must be finite and non-negative, "
                         f"but weights[{i}] = {float(w[i])} ({bad.size} of {w.size} are not)")
    if w.size == 0:
        raise ValueError("WeightedRandomSampler: weights is empty")
    if not w.any():
        raise ValueError(f"WeightedRandomSampler: all {w.size} weights are zero")


class WeightedRandomSampler(Sampler[int]):
    """``num_samples`` indices drawn with probabilities proportional to ``weights``
    (with replacement by default)."""

    def __init__(self, weights: Any, num_samples: int, replacement: bool = True,
                 generator: Any = None) -> None:
        _check_positive_int(num_samples, "num_samples")
        if not isinstance(replacement, bool):
            raise ValueError("replacement should be a boolean value, but got "
                             f"replacement={replacement}")
        w = np.asarray(to_numpy(weights), dtype=np.float64)
        if w.ndim != 1:
            raise ValueError("weights should be a 1d sequence but given weights have shape "
                             f"{tuple(w.shape)}")
        _check_weights(w)
        if not replacement and num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: cannot draw {num_samples} samples "
                             f"without replacement from {np.count_nonzero(w)} non-zero "
                             "weights; lower num_samples or set replacement=True")
        check_rng_args(generator, None, "WeightedRandomSampler")
        self.weights = w
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def _epoch_indices(self) -> np.ndarray:
        rng = resolve_rng(self.generator, None, "WeightedRandomSampler")
        p = self.weights / self.weights.max()  # (scaled first: the sum may overflow)
        return rng.choice(self.weights.size, size=self.num_samples, replace=self.replacement,
                          p=p / p.sum())

    def __iter__(self) -> Iterator[int]:
        return iter(self._epoch_indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler[list[Any]]):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``)."""

    def __init__(self, sampler: Sampler[Any] | Iterable[Any], batch_size: int,
                 drop_last: bool) -> None:
        _check_positive_int(batch_size, "batch_size")
        if not isinstance(drop_last, bool):
            raise ValueError("drop_last should be a boolean value, but got "
                             f"drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def _index_batches(self) -> Iterator[Any]:
        """The batches as int arrays when the sampler gives its epoch as one, else lists.
        Only for ``BatchSampler`` itself: ``DataLoader`` iterates a subclass that overrides
        ``__iter__``."""
        order = _index_array(self.sampler)
        if order is None:
            yield from self
            return
        size = self.batch_size
        stop = len(order) - len(order) % size if self.drop_last else len(order)
        for start in range(0, stop, size):
            yield order[start:start + size]

    def __iter__(self) -> Iterator[list[Any]]:
        batch: list[Any] = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)  # type: ignore[arg-type]
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


# The ``__iter__`` of the samplers whose epoch ``_epoch_indices`` gives as one array.
_ARRAY_ITERS = frozenset({SequentialSampler.__iter__, RandomSampler.__iter__,
                          SubsetRandomSampler.__iter__, WeightedRandomSampler.__iter__})
