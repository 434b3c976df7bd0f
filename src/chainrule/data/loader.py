"""``DataLoader`` and ``default_collate``."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from chainrule.data._convert import default_float_dtype, from_numpy, is_tensor, to_numpy
from chainrule.data._random import check_rng_args, resolve_rng
from chainrule.data.dataset import batch_getter


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    first = arrays[0].shape
    for i, a in enumerate(arrays):
        if a.shape != first:
            raise ValueError(
                f"default_collate: cannot stack samples of different shapes: sample 0 has "
                f"shape {first}, sample {i} has shape {a.shape}"
            )
    return np.stack(arrays)


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, stacking along a new dim 0.

    - tensors and numeric NumPy arrays -> one stacked tensor (dtype kept);
    - Python ints -> int64 tensor, bools -> bool tensor, floats -> tensor of
      chainrule's default float dtype (float32 unless changed; PyTorch uses float64);
      NumPy scalars -> tensor of their dtype;
    - strings/bytes -> the list unchanged;
    - tuples (named tuples too), lists and mappings -> the same structure with
      each field collated.

    Raises
    ------
    ValueError
        If the batch is empty, or samples have different shapes or lengths.
    TypeError
        For element types it cannot collate.
    """
    if len(batch) == 0:
        raise ValueError("default_collate: empty batch")
    elem = batch[0]
    if is_tensor(elem):
        return from_numpy(_stack([to_numpy(b) for b in batch]))
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: cannot collate arrays of dtype {elem.dtype}")
        return from_numpy(_stack([np.asarray(b) for b in batch]))
    if isinstance(elem, np.generic):
        return from_numpy(np.array(batch))
    if isinstance(elem, bool):
        return from_numpy(np.array(batch, dtype=np.bool_))
    if isinstance(elem, int):
        return from_numpy(np.array(batch, dtype=np.int64))
    if isinstance(elem, float):
        return from_numpy(np.array(batch, dtype=default_float_dtype()))
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return {key: default_collate([d[key] for d in batch]) for key in elem}
    if isinstance(elem, Sequence):
        size = len(elem)
        for i, b in enumerate(batch):
            if len(b) != size:
                raise ValueError(
                    "default_collate: each sample in the batch must have the same number of "
                    f"fields: sample 0 has {size}, sample {i} has {len(b)}"
                )
        fields = [default_collate(list(group)) for group in zip(*batch, strict=True)]
        if isinstance(elem, tuple):
            if hasattr(elem, "_fields"):  # named tuple
                return type(elem)(*fields)
            return tuple(fields)
        return fields
    raise TypeError(f"default_collate: cannot collate samples of type {type(elem).__name__}")


class DataLoader:
    """Iterate over a map-style dataset in (optionally shuffled) batches.

    Parameters
    ----------
    dataset
        Any object with ``__getitem__(int)`` and ``__len__``.
    batch_size
        Samples per batch (the last one may be smaller unless ``drop_last``).
    shuffle
        Draw a new permutation at the start of every epoch.
    drop_last
        Drop the last incomplete batch.
    collate_fn
        Turns a list of samples into a batch; ``default_collate`` when ``None``.
    generator
        Random source for shuffling: a ``cr.Generator``, a ``numpy.random.Generator``
        or an object with one in ``.np_generator``; it is advanced in place. With
        neither ``generator`` nor ``seed``, chainrule's global generator is used, so
        ``cr.manual_seed`` makes shuffling reproducible (as in PyTorch).
    seed
        Alternatively, an int seed: the loader keeps its own generator, so two loaders
        with the same seed give the same sequence of epochs, each epoch a new order.

    Notes
    -----
    With the default collate, a ``TensorDataset`` (or a ``Subset`` of one, or
    MNIST) is batched by indexing its arrays with the whole index array at once.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        generator: Any = None,
        seed: int | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = generator
        self.seed = seed
        check_rng_args(generator, seed, "DataLoader")
        # an int seed gets the loader's own generator; a generator object is looked up
        # each epoch (``cr.manual_seed`` / ``Generator.manual_seed`` replace its NumPy one)
        self._own_rng: np.random.Generator | None = (
            None if seed is None else np.random.default_rng(int(seed))
        )

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def _order(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        if self._own_rng is not None:
            return self._own_rng.permutation(n)
        return resolve_rng(self.generator, None, "DataLoader").permutation(n)

    def __iter__(self) -> Iterator[Any]:
        order = self._order()
        n_batches = len(self)
        getter = batch_getter(self.dataset) if self.collate_fn is None else None
        collate = default_collate if self.collate_fn is None else self.collate_fn
        for b in range(n_batches):
            idx = order[b * self.batch_size : (b + 1) * self.batch_size]
            if getter is not None:
                yield getter(idx)
            else:
                yield collate([self.dataset[int(i)] for i in idx])

    def __repr__(self) -> str:
        return (
            f"DataLoader(dataset={type(self.dataset).__name__} of {len(self.dataset)}, "
            f"batch_size={self.batch_size}, shuffle={self.shuffle}, drop_last={self.drop_last})"
        )
