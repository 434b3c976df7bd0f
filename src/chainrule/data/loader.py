"""``DataLoader`` and ``default_collate``."""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import numbers
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, cast

import numpy as np

from chainrule.data._convert import default_float_dtype, from_numpy, is_tensor, to_numpy
from chainrule.data._random import check_rng_args
from chainrule.data.dataset import batch_getter
from chainrule.data.sampler import BatchSampler, RandomSampler, Sampler, SequentialSampler


def _check_same_shape(shapes: list[tuple[int, ...]]) -> None:
    for i, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise ValueError(
                f"default_collate: cannot stack samples of different shapes: sample 0 has "
                f"shape {shapes[0]}, sample {i} has shape {shape}"
            )


def _stack(arrays: list[np.ndarray]) -> np.ndarray:
    _check_same_shape([a.shape for a in arrays])
    return np.stack(arrays)


def _stack_tensors(batch: Sequence[Any]) -> Any:
    dtype = batch[0].dtype
    if any(getattr(b, "requires_grad", False) or getattr(b, "dtype", dtype) != dtype
           for b in batch):
        # cr.stack keeps the graph and promotes dtypes as torch.stack does (int64 and
        # float32 give float32, where np.stack gives float64)
        from chainrule.functional import stack

        _check_same_shape([tuple(b.shape) for b in batch])
        return stack(list(batch))
    return from_numpy(_stack([to_numpy(b) for b in batch]))


def _collate_numbers(batch: Sequence[Any]) -> Any:
    """Python numbers: the dtype fits the whole batch (``[1, 2.5]`` is float, not ``[1, 2]``)."""
    for i, b in enumerate(batch):
        if not isinstance(b, (numbers.Real, np.bool_)):
            raise TypeError(
                f"default_collate: sample 0 has type {type(batch[0]).__name__} but sample {i} "
                f"has type {type(b).__name__}"
            )
    dtype: np.dtype[Any]
    if all(isinstance(b, (bool, np.bool_)) for b in batch):
        dtype = np.dtype(np.bool_)
    elif all(isinstance(b, numbers.Integral) for b in batch):
        dtype = np.dtype(np.int64)
    else:
        dtype = default_float_dtype()
    return from_numpy(np.array(batch, dtype=dtype))


def _collate_mapping(batch: Sequence[Any]) -> dict[Any, Any]:
    keys = list(batch[0])
    for i, sample in enumerate(batch):
        if not isinstance(sample, Mapping):
            kind = type(sample).__name__
            raise TypeError(f"default_collate: sample 0 is a dict but sample {i} has type {kind}")
        missing = [k for k in keys if k not in sample]
        if missing:  # keys only later samples have are dropped, as in PyTorch
            raise KeyError(
                f"default_collate: sample {i} lacks the keys {missing} of sample 0; every "
                "dict sample needs them"
            )
    return {key: default_collate([d[key] for d in batch]) for key in keys}


def default_collate(batch: Sequence[Any]) -> Any:
    """Merge a list of samples into a batch, stacking along a new dim 0.

    - tensors and numeric NumPy arrays -> one stacked tensor (dtype kept; if a tensor
      requires grad, the batch is ``cr.stack`` of them, so gradients flow back);
    - Python ints -> int64 tensor, bools -> bool tensor, floats -> tensor of
      chainrule's default float dtype (float32 unless changed; PyTorch uses float64);
      a batch mixing them gets the widest kind (``[1, 2.5]`` -> float, ``[True, 2]`` -> int);
      NumPy scalars -> tensor of their dtype;
    - strings/bytes (NumPy's too) -> the list unchanged;
    - tuples and lists -> a list with each field collated (as PyTorch's), named tuples ->
      the same named tuple, mappings -> the same keys.

    Raises
    ------
    ValueError
        If the batch is empty, or samples have different shapes or lengths.
    KeyError
        If dict samples have different keys.
    TypeError
        For element types it cannot collate.
    """
    if len(batch) == 0:
        raise ValueError("default_collate: empty batch")
    elem = batch[0]
    if is_tensor(elem):
        return _stack_tensors(batch)
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: cannot collate arrays of dtype {elem.dtype}")
        return from_numpy(_stack([np.asarray(b) for b in batch]))
    if isinstance(elem, (np.str_, np.bytes_)):
        return list(batch)
    if isinstance(elem, np.generic):
        if elem.dtype.kind not in "biuf":
            raise TypeError(f"default_collate: cannot collate NumPy scalars of dtype {elem.dtype}")
        return from_numpy(np.array(batch))
    if isinstance(elem, (bool, int, float)):
        return _collate_numbers(batch)
    if isinstance(elem, (str, bytes)):
        return list(batch)
    if isinstance(elem, Mapping):
        return _collate_mapping(batch)
    if isinstance(elem, Sequence):
        size = len(elem)
        for i, b in enumerate(batch):
            if len(b) != size:
                raise ValueError(
                    "default_collate: each sample in the batch must have the same number of "
                    f"fields: sample 0 has {size}, sample {i} has {len(b)}"
                )
        fields = [default_collate(list(group)) for group in zip(*batch, strict=True)]
        if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # named tuple
            return type(elem)(*fields)
        return fields  # (a list for a tuple too, as PyTorch's: `x, y = batch` works alike)
    raise TypeError(f"default_collate: cannot collate samples of type {type(elem).__name__}")


def _as_index(i: Any) -> Any:
    """A sampler's index as the dataset gets it: NumPy ints become Python ints."""
    return int(i) if isinstance(i, np.integer) else i


def _all_ints(idx: Any) -> bool:
    if isinstance(idx, np.ndarray):
        return idx.dtype.kind in "iu"
    return all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in idx)


def _check_sampler_arg(value: Any, name: str) -> None:
    """Refuse a ``sampler`` / ``batch_sampler`` that cannot be one: most likely a caller of
    chainrule's former argument order (``DataLoader(ds, 32, True, False, my_collate)``),
    whose ``drop_last`` / ``collate_fn`` now land here."""
    if value is None:
        return
    kind = type(value)
    iterable = hasattr(kind, "__iter__") or hasattr(kind, "__getitem__")
    if isinstance(value, bool) or not iterable:
        what = ("a function" if callable(value) and not isinstance(value, type)
                else f"a {kind.__name__}")
        raise TypeError(
            f"DataLoader: {name} must be an iterable of indices (a Sampler), but got {what} "
            f"({value!r}). DataLoader's arguments follow PyTorch's order (dataset, "
            "batch_size, shuffle, sampler, batch_sampler, num_workers, collate_fn, "
            "pin_memory, drop_last, ...): pass drop_last= and collate_fn= by keyword")


def _check_multiprocessing_context(context: Any, num_workers: int) -> None:
    """PyTorch's check of ``multiprocessing_context`` (accepted and unused by chainrule)."""
    if context is None:
        return
    if num_workers == 0:
        raise ValueError("DataLoader: multiprocessing_context can only be used with "
                         "multi-process loading (num_workers > 0), but got num_workers=0")
    if isinstance(context, str):
        methods = multiprocessing.get_all_start_methods()
        if context not in methods:
            raise ValueError("DataLoader: multiprocessing_context option should specify a "
                             f"valid start method in {methods!r}, but got "
                             f"multiprocessing_context={context!r}")
    elif not isinstance(context, multiprocessing.context.BaseContext):
        raise TypeError("DataLoader: multiprocessing_context option should be a valid context "
                        "object or a string specifying the start method, but got "
                        f"multiprocessing_context={context!r}")


def _check_worker_options(num_workers: Any, timeout: Any, prefetch_factor: Any,
                          persistent_workers: bool) -> None:
    """PyTorch's checks of the worker-process options (which chainrule accepts and ignores)."""
    if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)):
        raise TypeError(f"DataLoader: num_workers must be an int, got {num_workers!r}")
    if num_workers < 0:
        raise ValueError("DataLoader: num_workers option should be non-negative; use "
                         "num_workers=0 to disable multiprocessing")
    if timeout < 0:
        raise ValueError(f"DataLoader: timeout option should be non-negative, got {timeout}")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("DataLoader: prefetch_factor option could only be specified in "
                         "multiprocessing. Let num_workers > 0 to enable multiprocessing, "
                         "otherwise set prefetch_factor to None")
    if prefetch_factor is not None and prefetch_factor < 0:
        raise ValueError("DataLoader: prefetch_factor option should be non-negative")
    if persistent_workers and num_workers == 0:
        raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")


def default_convert(data: Any) -> Any:
    """One sample as ``DataLoader(batch_size=None)`` yields it: numeric NumPy arrays and
    scalars become tensors (dtype kept), containers are converted field by field, and
    everything else (tensors, Python numbers, strings) is returned as is."""
    if isinstance(data, (np.ndarray, np.generic)) and data.dtype.kind in "biuf":
        return from_numpy(np.asarray(data))
    if isinstance(data, Mapping):
        return {key: default_convert(value) for key, value in data.items()}
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # named tuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, (tuple, list)):  # (a list for a tuple too, as PyTorch's)
        return [default_convert(d) for d in data]
    return data


class DataLoader:
    """Iterate over a map-style dataset in (optionally shuffled) batches.

    The arguments are PyTorch's, in its order.

    Parameters
    ----------
    dataset
        Any object with ``__getitem__`` and ``__len__``.
    batch_size
        Samples per batch (the last one may be smaller unless ``drop_last``). ``None``
        turns batching off, as in PyTorch: each sample is yielded alone, its arrays made
        tensors (``default_convert``), or passed to ``collate_fn`` if given.
    shuffle
        Draw a new permutation at the start of every epoch.
    sampler
        The indices to visit in an epoch, in order (a ``Sampler`` or any iterable with a
        length); excludes ``shuffle``.
    batch_sampler
        Yields whole batches of indices; excludes ``batch_size``, ``shuffle``, ``sampler``
        and ``drop_last``.
    num_workers
        Accepted for PyTorch compatibility: chainrule always loads in the main process
        (NumPy batches are built by fancy indexing, with no per-sample Python work to
        spread over workers), so any ``num_workers >= 0`` gives the same batches.
    collate_fn
        Turns a list of samples into a batch; ``default_collate`` when ``None``.
    pin_memory, timeout, worker_init_fn, multiprocessing_context, prefetch_factor,
    persistent_workers, pin_memory_device, in_order
        Accepted and checked as in PyTorch; they concern devices and worker processes,
        which chainrule does not use.
    drop_last
        Drop the last incomplete batch.
    generator
        Random source for shuffling: a ``cr.Generator``, a ``numpy.random.Generator``
        or an object with one in ``.np_generator``; it is advanced in place. With
        neither ``generator`` nor ``seed``, chainrule's global generator is used, so
        ``cr.manual_seed`` makes shuffling reproducible (as in PyTorch).
    seed
        Alternatively (keyword only), an int seed: the loader keeps its own generator, so
        two loaders with the same seed give the same sequence of epochs, each epoch a new
        order.

    Notes
    -----
    With the default collate, a ``TensorDataset`` (or a ``Subset`` of one, or
    MNIST) is batched by indexing its arrays with the whole index array at once.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler: Sampler[Any] | Iterable[Any] | None = None,
        batch_sampler: Sampler[Any] | Iterable[Any] | None = None,
        num_workers: int = 0,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn: Callable[[int], Any] | None = None,
        multiprocessing_context: Any = None,
        generator: Any = None,
        *,
        prefetch_factor: int | None = None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
        seed: int | None = None,
    ) -> None:
        _check_sampler_arg(sampler, "sampler")
        _check_sampler_arg(batch_sampler, "batch_sampler")
        if collate_fn is not None and not callable(collate_fn):
            raise TypeError(f"DataLoader: collate_fn must be callable or None, got "
                            f"{collate_fn!r}; DataLoader's arguments follow PyTorch's order, "
                            "pass collate_fn= by keyword")
        _check_worker_options(num_workers, timeout, prefetch_factor, persistent_workers)
        _check_multiprocessing_context(multiprocessing_context, num_workers)
        if seed is not None and (sampler is not None or batch_sampler is not None):
            given = "sampler" if sampler is not None else "batch_sampler"
            raise ValueError(f"DataLoader: seed= only seeds the shuffling DataLoader does "
                             f"itself; with {given}= it would be ignored (give the sampler "
                             "its own generator instead)")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                                 "batch_size, shuffle, sampler, and drop_last")
            batch_size, drop_last = None, False
        elif batch_size is None:
            if drop_last:
                raise ValueError("DataLoader: drop_last=True needs a batch_size (got None, "
                                 "which turns batching off)")
        elif isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int or None, got {batch_size!r}")
        elif batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle; "
                             "shuffle in the sampler (e.g. RandomSampler) instead")
        check_rng_args(generator, seed, "DataLoader")
        self.dataset = dataset
        self.batch_size: int | None = None if batch_size is None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = generator
        self.seed = seed
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.timeout = timeout
        self.worker_init_fn = worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        if sampler is None:
            # an int seed gets the loader's own generator; a generator object is looked up
            # each epoch (``cr.manual_seed`` / ``Generator.manual_seed`` replace its NumPy one)
            rng = generator if seed is None else np.random.default_rng(int(seed))
            sampler = (RandomSampler(dataset, generator=rng) if self.shuffle
                       else SequentialSampler(dataset))
        self.sampler = sampler
        if batch_sampler is None and self.batch_size is not None:
            batch_sampler = BatchSampler(sampler, self.batch_size, self.drop_last)
        self.batch_sampler = batch_sampler

    def __len__(self) -> int:
        counted = self.sampler if self.batch_sampler is None else self.batch_sampler
        return len(counted)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[Any]:
        if self.batch_sampler is None:
            convert = default_convert if self.collate_fn is None else self.collate_fn
            for i in self.sampler:
                yield convert(self.dataset[_as_index(i)])
            return
        getter = batch_getter(self.dataset) if self.collate_fn is None else None
        collate = default_collate if self.collate_fn is None else self.collate_fn
        # the array fast path only when iterating would run BatchSampler's own __iter__ (a
        # subclass overriding it decides the batches, as in PyTorch)
        batches: Iterable[Any] = self.batch_sampler
        if getattr(type(batches), "__iter__", None) is BatchSampler.__iter__:
            batches = cast(BatchSampler, batches)._index_batches()
        for idx in batches:
            if getter is not None and _all_ints(idx):
                yield getter(np.asarray(idx, dtype=np.int64))
            else:
                yield collate([self.dataset[_as_index(i)] for i in idx])

    def __repr__(self) -> str:
        batching = (f"batch_sampler={type(self.batch_sampler).__name__}"
                    if self.batch_size is None and self.batch_sampler is not None
                    else f"batch_size={self.batch_size}")
        return (
            f"DataLoader(dataset={type(self.dataset).__name__} of {len(self.dataset)}, "
            f"{batching}, sampler={type(self.sampler).__name__}, shuffle={self.shuffle}, "
            f"drop_last={self.drop_last})"
        )
