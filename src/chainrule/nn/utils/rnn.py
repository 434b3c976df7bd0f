"""Variable-length sequences for the recurrent layers, as ``torch.nn.utils.rnn``:
``PackedSequence`` and ``pack_padded_sequence``, ``pad_packed_sequence``, ``pad_sequence``,
``unpad_sequence``, ``pack_sequence``, ``unpack_sequence``.

A packed batch stores the sequences sorted by decreasing length, time step by time step:
``data`` holds the ``batch_sizes[0]`` first elements, then the ``batch_sizes[1]`` second
elements, and so on. Every function here is one gather of chainrule's differentiable indexing
(a padding value is one extra row to gather from), so gradients flow back to the data.

>>> import chainrule as cr
>>> from chainrule.nn.utils.rnn import pack_sequence, pad_packed_sequence
>>> packed = pack_sequence([cr.tensor([1, 2, 3]), cr.tensor([4]), cr.tensor([5, 6])],
...                        enforce_sorted=False)
>>> packed.data.tolist(), packed.batch_sizes.tolist(), packed.sorted_indices.tolist()
([1, 5, 4, 2, 6, 3], [3, 2, 1], [0, 2, 1])
>>> padded, lengths = pad_packed_sequence(packed, batch_first=True)
>>> padded.tolist(), lengths.tolist()
([[1, 2, 3], [4, 0, 0], [5, 6, 0]], [3, 1, 2])
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple

import numpy as np

from ... import functional as F
from ...tensor import Tensor

__all__ = ["PackedSequence", "invert_permutation", "pack_padded_sequence",
           "pad_packed_sequence", "pad_sequence", "unpad_sequence", "pack_sequence",
           "unpack_sequence"]


class SequenceError(RuntimeError, ValueError):
    """Bad lengths, shapes or packing; a RuntimeError as PyTorch's, and a ValueError as
    chainrule's other argument errors."""


class _PackedFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None
    unsorted_indices: Tensor | None


class PackedSequence(_PackedFields):
    """A batch of variable-length sequences packed time step by time step (a named tuple).

    ``data`` ``(sum of lengths, *)``; ``batch_sizes`` (int64) how many sequences are still
    running at each step; ``sorted_indices`` the original index of each sorted sequence (None
    when the input was already sorted), ``unsorted_indices`` its inverse. Made by
    ``pack_padded_sequence`` or ``pack_sequence``, not by hand; RNN, LSTM and GRU take and
    return it.

    >>> import chainrule as cr
    >>> p = cr.nn.utils.rnn.pack_sequence([cr.tensor([1.0, 2.0]), cr.tensor([3.0])])
    >>> p.batch_sizes.tolist(), p.double().data.dtype
    ([2, 1], dtype('float64'))
    """

    def __new__(cls, data: Any, batch_sizes: Tensor | None = None,
                sorted_indices: Tensor | None = None,
                unsorted_indices: Tensor | None = None) -> PackedSequence:
        if batch_sizes is None:  # PackedSequence((data, batch_sizes)), as PyTorch allows
            if not (isinstance(data, (tuple, list)) and len(data) == 2):
                raise SequenceError("PackedSequence: give (data, batch_sizes[, sorted_indices"
                                    "]) or one pair (data, batch_sizes)")
            data, batch_sizes = data
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    def to(self, *args: Any, **kwargs: Any) -> PackedSequence:
        """``data`` converted as ``Tensor.to``; ``self`` when nothing changes (the batch sizes
        and indices stay int64)."""
        data = self.data.to(*args, **kwargs)
        if data is self.data:
            return self
        return type(self)(data, self.batch_sizes, self.sorted_indices, self.unsorted_indices)

    def cpu(self) -> PackedSequence:
        return self

    def double(self) -> PackedSequence:
        return self.to(np.float64)

    def float(self) -> PackedSequence:
        return self.to(np.float32)

    def half(self) -> PackedSequence:
        return self.to(np.float16)

    def long(self) -> PackedSequence:
        return self.to(np.int64)

    def int(self) -> PackedSequence:
        return self.to(np.int32)

    @property
    def is_cuda(self) -> bool:
        """Always False: chainrule runs on the CPU."""
        return False

    def is_pinned(self) -> bool:
        return False


def invert_permutation(permutation: Tensor | None) -> Tensor | None:
    """The inverse of a permutation of ``0..n-1`` (int64), or None for None.

    >>> import chainrule as cr
    >>> invert_permutation(cr.tensor([2, 0, 1])).tolist()
    [1, 2, 0]
    """
    if permutation is None:
        return None
    p = _int_array(permutation, "invert_permutation", "the permutation")
    if not np.array_equal(np.sort(p), np.arange(p.size)):
        raise SequenceError(f"invert_permutation: expected a permutation of 0..{p.size - 1} "
                            f"(each index once), got {p.tolist()}; a PackedSequence's "
                            "sorted_indices must be one")
    out = np.empty(p.shape, dtype=np.int64)
    out[p] = np.arange(p.size)
    return Tensor._make(out)


# --------------------------------------------------------------------------- helpers

def _int_array(values: Any, fn: str, what: str) -> np.ndarray:
    """``values`` (a list, array or tensor of whole numbers) as a 1-D int64 array."""
    a = np.asarray(values.data if isinstance(values, Tensor) else values)
    if a.ndim != 1 or (a.size and a.dtype.kind not in "iuf"):
        raise SequenceError(f"{fn}: {what} must be a 1-D list or tensor of ints, got "
                            f"{a.dtype} of shape {a.shape}")
    if a.dtype.kind == "f" and not np.all(a == np.round(a)):
        raise SequenceError(f"{fn}: {what} must be whole numbers, got {a.tolist()}")
    return a.astype(np.int64)


def _time_batch(x: Tensor, batch_first: bool) -> tuple[int, int]:
    return (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])


def _positions(batch_sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of packed data: its time step and its column in the sorted batch."""
    steps = np.repeat(np.arange(batch_sizes.size), batch_sizes)
    starts = np.cumsum(batch_sizes) - batch_sizes
    return steps, np.arange(steps.size) - starts[steps]


def _packed_arrays(seq: Any, fn: str) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """A PackedSequence's batch sizes and indices as arrays, after checking they fit its data
    (a PackedSequence made by hand can be anything)."""
    if not isinstance(seq, PackedSequence):
        raise TypeError(f"{fn}: expected a PackedSequence, got {type(seq).__name__}; make one "
                        "with pack_padded_sequence or pack_sequence")
    bs = _int_array(seq.batch_sizes, fn, "batch_sizes")
    if not bs.size or (bs <= 0).any() or (np.diff(bs) > 0).any():
        raise SequenceError(f"{fn}: batch_sizes must be a non-empty, non-increasing list of "
                            f"positive counts, got {bs.tolist()}")
    n = seq.data.shape[0] if seq.data.ndim else 0
    if int(bs.sum()) != n:
        raise SequenceError(f"{fn}: batch_sizes {bs.tolist()} add up to {int(bs.sum())} but "
                            f"data has {n} rows (shape {seq.data.shape})")
    out: list[np.ndarray | None] = []
    for name in ("sorted_indices", "unsorted_indices"):
        ix = getattr(seq, name)
        if ix is None:
            out.append(None)
            continue
        a = _int_array(ix, fn, name)
        if not np.array_equal(np.sort(a), np.arange(bs[0])):
            raise SequenceError(f"{fn}: {name} must be a permutation of 0..{bs[0] - 1} (one "
                                f"index per sequence), got {a.tolist()}")
        out.append(a)
    return bs, out[0], out[1]


def _pack(x: Tensor, lengths: Any, batch_first: bool, enforce_sorted: bool,
          fn: str) -> PackedSequence:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}: expected a Tensor input, got {type(x).__name__}")
    if x.ndim < 2:
        layout = "(B, T, *)" if batch_first else "(T, B, *)"
        raise SequenceError(f"{fn}: expected a padded input {layout} of at least 2 dims, got "
                            f"shape {x.shape}")
    steps, batch = _time_batch(x, batch_first)
    lens = _int_array(lengths, fn, "lengths")
    if not batch:
        raise SequenceError(f"{fn}: cannot pack an empty batch (input of shape {x.shape}"
                            f"{', batch_first' if batch_first else ''}); give at least one "
                            "sequence")
    if lens.size != batch:
        raise SequenceError(f"{fn}: Expected `len(lengths)` to be equal to batch_size, but got "
                            f"{lens.size} (batch_size={batch}, input of shape {x.shape}"
                            f"{', batch_first' if batch_first else ''}); give one length per "
                            "sequence")
    if (lens <= 0).any():
        raise SequenceError(f"{fn}: Length of all samples has to be greater than 0, but got "
                            f"lengths {lens.tolist()}; leave empty sequences out of the batch")
    if (lens > steps).any():
        raise SequenceError(f"{fn}: lengths {lens.tolist()} exceed the input's {steps} time "
                            f"steps (input of shape {x.shape}"
                            f"{', batch_first' if batch_first else ''}); each length must be "
                            "at most T")
    if enforce_sorted:
        if (np.diff(lens) > 0).any():
            raise SequenceError(
                f"{fn}: `lengths` array must be sorted in decreasing order when "
                f"`enforce_sorted` is True, got {lens.tolist()}. You can pass "
                "`enforce_sorted=False` to pack_padded_sequence and/or pack_sequence to "
                "sidestep this requirement if you do not need ONNX exportability.")
        order = None
    else:
        # Ties keep their order. torch.sort is not stable, so beyond 16 sequences torch may
        # order ties differently (another sorted_indices and data order for the same
        # packing: unpacked, and through the RNNs, the results are the same).
        order = np.argsort(-lens, kind="stable")
        lens = lens[order]
    batch_sizes = (lens[None, :] > np.arange(lens[0])[:, None]).sum(1).astype(np.int64)
    tt, cols = _positions(batch_sizes)
    if order is not None:
        cols = order[cols]
    data = x[(cols, tt) if batch_first else (tt, cols)]
    return PackedSequence(data, Tensor._make(batch_sizes),
                          None if order is None else Tensor._make(order.astype(np.int64)))


def _pack_like(padded: Tensor, like: PackedSequence) -> PackedSequence:
    """``padded`` (T, B, *) in the original batch order packed as ``like`` (its batch sizes and
    indices): how the recurrent layers pack their outputs."""
    bs, order, _ = _packed_arrays(like, "pack")
    tt, cols = _positions(bs)
    if order is not None:
        cols = order[cols]
    return PackedSequence(padded[tt, cols], like.batch_sizes, like.sorted_indices,
                          like.unsorted_indices)


def _sorted_lengths(bs: np.ndarray) -> np.ndarray:
    """Each sorted sequence's length: the number of steps at which its column is running."""
    return (bs[None, :] > np.arange(bs[0])[:, None]).sum(1).astype(np.int64)


# --------------------------------------------------------------------------- public


def pack_padded_sequence(input: Tensor, lengths: Any, batch_first: bool = False,
                         enforce_sorted: bool = True) -> PackedSequence:
    """Pack a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``) of sequences of
    the given ``lengths`` (each in 1..T). With ``enforce_sorted`` the lengths must be in
    decreasing order; otherwise the batch is sorted here and ``sorted_indices`` records how.

    >>> import chainrule as cr
    >>> x = cr.tensor([[1, 2, 3], [4, 5, 0]])  # (B, T) = (2, 3)
    >>> pack_padded_sequence(x, [3, 2], batch_first=True).data.tolist()
    [1, 4, 2, 5, 3]
    """
    return _pack(input, lengths, batch_first, enforce_sorted, "pack_padded_sequence")


def pad_packed_sequence(sequence: PackedSequence, batch_first: bool = False,
                        padding_value: float = 0.0,
                        total_length: int | None = None) -> tuple[Tensor, Tensor]:
    """Unpack to ``(padded, lengths)``: ``padded`` ``(T, B, *)`` (``(B, T, *)`` with
    ``batch_first``) in the original batch order, T the longest length or ``total_length``,
    with ``padding_value`` past each sequence's end; ``lengths`` int64.

    >>> import chainrule as cr
    >>> p = pack_padded_sequence(cr.tensor([[1, 2], [3, 0]]), [2, 1], batch_first=True)
    >>> pad_packed_sequence(p, batch_first=True, padding_value=-1)[0].tolist()
    [[1, 2], [3, -1]]
    """
    bs, _, unsorted = _packed_arrays(sequence, "pad_packed_sequence")
    steps = bs.size
    if total_length is not None:
        if not isinstance(total_length, (int, np.integer)) or isinstance(total_length, bool):
            raise TypeError("pad_packed_sequence: total_length must be an int or None, got "
                            f"{total_length!r}")
        if total_length < steps:
            raise ValueError("pad_packed_sequence: Expected total_length to be at least the "
                             "length of the longest sequence in input, but got "
                             f"total_length={total_length} and max sequence length being "
                             f"{steps}")
        steps = int(total_length)
    data = sequence.data
    n, batch = int(bs.sum()), int(bs[0])
    tt, cols = _positions(bs)
    idx = np.full((steps, batch), n, dtype=np.intp)  # row n: the padding row appended below
    idx[tt, cols] = np.arange(n)
    lengths = _sorted_lengths(bs)
    if unsorted is not None:
        idx, lengths = idx[:, unsorted], lengths[unsorted]
    pad_row = Tensor._make(np.full((1,) + tuple(data.shape[1:]), padding_value,
                                   dtype=data.dtype))
    padded = F.cat([data, pad_row], 0)[idx.T if batch_first else idx]
    return padded, Tensor._make(lengths)


def pad_sequence(sequences: Tensor | Iterable[Tensor], batch_first: bool = False,
                 padding_value: float = 0.0, padding_side: str = "right") -> Tensor:
    """Stack sequences ``(L_i, *)`` into ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``),
    T the longest, filling with ``padding_value`` on the right (or the ``'left'``). The result
    has the first sequence's dtype.

    >>> import chainrule as cr
    >>> pad_sequence([cr.tensor([1, 2, 3]), cr.tensor([4])], batch_first=True,
    ...              padding_side="left").tolist()
    [[1, 2, 3], [0, 0, 4]]
    """
    if isinstance(sequences, Tensor):
        seqs = list(sequences)
    elif isinstance(sequences, Iterable):
        seqs = list(sequences)
    else:
        raise SequenceError("pad_sequence: Expected iterable for input sequences, but got arg "
                            f"of type: {type(sequences).__name__}")
    if not seqs:
        raise SequenceError("pad_sequence: received an empty list of sequences")
    if padding_side not in ("left", "right"):
        raise SequenceError("pad_sequence: Expected padding_side to be one of left or right, "
                            f"but got {padding_side!r}")
    for k, s in enumerate(seqs):
        if not isinstance(s, Tensor):
            raise TypeError(f"pad_sequence: sequence {k} is a {type(s).__name__}, expected a "
                            "Tensor")
        if s.ndim == 0 or s.shape[1:] != seqs[0].shape[1:]:
            raise SequenceError(
                "pad_sequence: every sequence must be (L, *) with the same trailing shape * "
                f"as the first, {tuple(seqs[0].shape[1:])}, but got shapes "
                f"{[tuple(q.shape) for q in seqs]}")
    dtype = seqs[0].dtype
    lens = np.array([s.shape[0] for s in seqs], dtype=np.intp)
    n, steps = int(lens.sum()), int(lens.max())
    starts = np.cumsum(lens) - lens
    pos = np.arange(steps)[:, None] - (steps - lens if padding_side == "left" else 0)
    idx = np.where((pos >= 0) & (pos < lens), starts + pos, n)  # row n: the padding row
    pad_row = Tensor._make(np.full((1,) + tuple(seqs[0].shape[1:]), padding_value, dtype=dtype))
    stacked = F.cat([s if s.dtype == dtype else s.to(dtype) for s in seqs] + [pad_row], 0)
    return stacked[idx.T if batch_first else idx]


def unpad_sequence(padded_sequences: Tensor, lengths: Any,
                   batch_first: bool = False) -> list[Tensor]:
    """The sequences of a padded batch ``(T, B, *)`` (``(B, T, *)`` with ``batch_first``), each
    cut to its length: a list of ``(L_i, *)`` tensors (new tensors, not views).

    >>> import chainrule as cr
    >>> [s.tolist() for s in unpad_sequence(cr.tensor([[1, 2], [3, 0]]), [2, 1], True)]
    [[1, 2], [3]]
    """
    x = padded_sequences
    if not isinstance(x, Tensor) or x.ndim < 2:
        raise SequenceError("unpad_sequence: expected a padded Tensor of at least 2 dims, got "
                            f"{getattr(x, 'shape', type(x).__name__)}")
    steps, batch = _time_batch(x, batch_first)
    lens = _int_array(lengths, "unpad_sequence", "lengths")
    if lens.size != batch or (lens < 0).any() or (lens > steps).any():
        raise SequenceError(f"unpad_sequence: expected {batch} lengths in 0..{steps} (one per "
                            f"sequence of the input of shape {x.shape}"
                            f"{', batch_first' if batch_first else ''}), got {lens.tolist()}")
    out = []
    for b, n in enumerate(lens.tolist()):
        t, col = np.arange(n), np.full(n, b)
        out.append(x[(col, t) if batch_first else (t, col)])
    return out


def pack_sequence(sequences: Iterable[Tensor], enforce_sorted: bool = True) -> PackedSequence:
    """Pack a list of sequences ``(L_i, *)`` (``pad_sequence`` then ``pack_padded_sequence``);
    with ``enforce_sorted`` they must come longest first.

    >>> import chainrule as cr
    >>> pack_sequence([cr.tensor([1, 2, 3]), cr.tensor([4, 5])]).data.tolist()
    [1, 4, 2, 5, 3]
    """
    seqs = list(sequences)
    lengths = [s.shape[0] if isinstance(s, Tensor) and s.ndim else 0 for s in seqs]
    return _pack(pad_sequence(seqs), lengths, False, enforce_sorted, "pack_sequence")


def unpack_sequence(packed_sequences: PackedSequence) -> list[Tensor]:
    """The sequences of a packed batch, in their original order: a list of ``(L_i, *)``.

    >>> import chainrule as cr
    >>> p = pack_sequence([cr.tensor([1]), cr.tensor([2, 3])], enforce_sorted=False)
    >>> [s.tolist() for s in unpack_sequence(p)]
    [[1], [2, 3]]
    """
    bs, _, unsorted = _packed_arrays(packed_sequences, "unpack_sequence")
    lengths = _sorted_lengths(bs)
    starts = np.cumsum(bs) - bs
    cols = np.arange(bs[0]) if unsorted is None else unsorted
    data = packed_sequences.data
    return [data[starts[:lengths[c]] + c] for c in cols.tolist()]
