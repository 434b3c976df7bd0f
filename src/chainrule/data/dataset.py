"""Map-style datasets: ``Dataset``, ``TensorDataset``, ``ConcatDataset``, ``Subset`` and
``random_split``."""

from __future__ import annotations

import bisect
import itertools
import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from chainrule.data._convert import from_numpy, is_tensor, to_numpy
from chainrule.data._random import resolve_rng

T_co = TypeVar("T_co", covariant=True)

BatchGetter = Callable[[np.ndarray], Any]


class Dataset(Generic[T_co]):
    """Base class of map-style datasets.

    Subclasses implement ``__getitem__(index)`` (one sample for an ``int`` index in
    ``range(len(self))``) and ``__len__``.
    """

    def __getitem__(self, index: int) -> T_co:
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def __add__(self, other: Dataset[Any]) -> ConcatDataset[Any]:
        """``a + b``: the samples of ``a`` then those of ``b`` (a ``ConcatDataset``)."""
        return ConcatDataset([self, other])


class ConcatDataset(Dataset[T_co]):
    """The samples of several datasets one after another.

    ``cumulative_sizes[i]`` is the number of samples in ``datasets[:i + 1]``.
    """

    def __init__(self, datasets: Iterable[Dataset[Any]]) -> None:
        self.datasets: list[Dataset[Any]] = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        self.cumulative_sizes: list[int] = list(
            itertools.accumulate(len(d) for d in self.datasets))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, index: int) -> T_co:
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ConcatDataset: index must be an int, got {type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"ConcatDataset: index {index} is out of range for {n} samples")
        index = int(index) + n if index < 0 else int(index)
        which = bisect.bisect_right(self.cumulative_sizes, index)
        start = self.cumulative_sizes[which - 1] if which else 0
        return self.datasets[which][index - start]  # type: ignore[no-any-return]


def _first_dim(t: Any, position: int) -> int:
    if not (hasattr(t, "shape") and hasattr(t, "__getitem__")):
        raise TypeError(
            f"TensorDataset: argument {position} has type {type(t).__name__}; pass chainrule "
            "tensors or NumPy arrays (e.g. cr.tensor(data))"
        )
    shape = tuple(t.shape)
    if len(shape) == 0:
        raise ValueError(
            f"TensorDataset: argument {position} is a 0-d tensor; every tensor needs a "
            "first (sample) dimension"
        )
    return int(shape[0])


class TensorDataset(Dataset[tuple[Any, ...]]):
    """Dataset of tensors (or NumPy arrays) sharing their first dimension.

    Sample ``i`` is ``tuple(t[i] for t in tensors)``.

    Parameters
    ----------
    *tensors
        ``chainrule.Tensor`` objects or NumPy arrays, all with the same size in dim 0.

    Raises
    ------
    ValueError
        If no tensor is given, one is 0-d, or the first dimensions differ.
    TypeError
        If an argument is not a tensor or an array (a list, say).
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        sizes = [_first_dim(t, i) for i, t in enumerate(tensors)]
        if any(s != sizes[0] for s in sizes):
            raise ValueError(
                f"TensorDataset: all tensors must have the same size in dim 0, got sizes {sizes}"
            )
        self.tensors: tuple[Any, ...] = tuple(tensors)
        self._len = sizes[0]

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self._len

    def _get_batch(self, indices: np.ndarray) -> list[Any]:
        """The collated batch for ``indices``: one fancy-indexing per tensor (a list, as the
        default collate makes of tuple samples)."""
        try:
            return [_take(t, indices) for t in self.tensors]
        except IndexError as e:
            raise IndexError(
                f"TensorDataset: batch index out of range for a dataset of {self._len} "
                f"samples ({e})"
            ) from None


def _take(t: Any, indices: np.ndarray) -> Any:
    if is_tensor(t) and t.requires_grad:  # index the tensor itself: the batch keeps the graph
        return t[indices]
    return from_numpy(to_numpy(t)[indices])


class Subset(Dataset[T_co]):
    """The samples of ``dataset`` at ``indices``, in that order.

    Parameters
    ----------
    dataset
        Any map-style dataset.
    indices
        Indices into ``dataset``.
    """

    def __init__(self, dataset: Dataset[T_co], indices: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        idx = to_numpy(indices)
        if idx.size and idx.dtype.kind not in "iu":  # floats would be truncated silently
            raise TypeError(f"Subset: indices must be ints, got an array of dtype {idx.dtype}")
        self.indices: np.ndarray = idx.astype(np.int64).reshape(-1)

    def __getitem__(self, index: int) -> T_co:
        if isinstance(index, list):  # as in PyTorch: the dataset gets the mapped list
            return self.dataset[[int(self.indices[i]) for i in index]]  # type: ignore[index]
        return self.dataset[int(self.indices[index])]

    def __len__(self) -> int:
        return len(self.indices)


def batch_getter(dataset: Any) -> BatchGetter | None:
    """A function building a whole default-collated batch from an index array at once.

    ``None`` when ``dataset`` offers no such fast path (then the loader collates
    sample by sample). Datasets opt in with a ``_get_batch(indices)`` method;
    a ``Subset`` of such a dataset maps its indices and delegates.
    """
    if isinstance(dataset, Subset):
        inner = batch_getter(dataset.dataset)
        if inner is None:
            return None
        index_map = dataset.indices
        return lambda idx: inner(index_map[idx])
    getter = getattr(dataset, "_get_batch", None)
    return getter if callable(getter) else None


def _split_lengths(lengths: Sequence[int | float], n: int) -> list[int]:
    if len(lengths) == 0:
        raise ValueError("random_split: lengths is empty")
    for i, x in enumerate(lengths):
        if not isinstance(x, numbers.Real):
            raise TypeError(
                f"random_split: lengths must be numbers, got {x!r} at index {i}"
            )
    total = sum(lengths)
    if math.isclose(total, 1.0) and total <= 1:  # fractions, as PyTorch: ints summing to 1 too
        for i, frac in enumerate(lengths):
            if not 0.0 <= frac <= 1.0:
                raise ValueError(f"random_split: fraction at index {i} is not in [0, 1]: {frac}")
        sizes = [math.floor(n * float(frac)) for frac in lengths]
        remainder = n - sum(sizes)
        for i in range(remainder):  # round-robin, as PyTorch does
            sizes[i % len(sizes)] += 1
        return sizes
    if not all(isinstance(x, numbers.Integral) for x in lengths):
        raise ValueError(
            "random_split: lengths must be all ints summing to the dataset length or all "
            f"fractions summing to 1, got {list(lengths)}"
        )
    sizes = [int(x) for x in lengths]
    if any(s < 0 for s in sizes):
        raise ValueError(f"random_split: lengths must be non-negative, got {sizes}")
    if sum(sizes) != n:
        raise ValueError(
            f"random_split: sum of input lengths ({sum(sizes)}) does not equal the length "
            f"of the input dataset ({n})"
        )
    return sizes


def random_split(
    dataset: Dataset[T_co],
    lengths: Sequence[int | float],
    generator: Any = None,
    seed: int | None = None,
) -> list[Subset[T_co]]:
    """Split ``dataset`` at random into non-overlapping ``Subset`` objects.

    Parameters
    ----------
    dataset
        The dataset to split.
    lengths
        Ints summing to ``len(dataset)``, or fractions summing to 1 (sizes are
        ``floor(n * f)`` and the remainder is spread one by one, as in PyTorch).
        As in PyTorch, lengths summing to 1 are fractions, so ``[1, 0]`` splits the
        whole dataset into the first subset.
    generator
        A ``cr.Generator``, a ``numpy.random.Generator`` or an object with one in
        ``.np_generator``; by default chainrule's global generator (``cr.manual_seed``).
    seed
        An int seed, the alternative to ``generator``.

    Returns
    -------
    list of Subset
        One subset per entry of ``lengths``.
    """
    n = len(dataset)
    sizes = _split_lengths(lengths, n)
    perm = resolve_rng(generator, seed, "random_split").permutation(n)
    bounds = np.cumsum([0, *sizes])
    return [Subset(dataset, perm[a:b]) for a, b in itertools.pairwise(bounds)]
