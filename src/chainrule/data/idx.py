"""Reading and writing IDX files, the format of MNIST and Fashion-MNIST.

An IDX file is a 4-byte magic number ``0x00 0x00 <dtype code> <ndim>``, then
``ndim`` big-endian uint32 dimension sizes, then the data in C order, big-endian.
Files whose name ends in ``.gz`` are gzip-compressed.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

StrPath = str | os.PathLike[str]

# dtype code -> big-endian NumPy dtype
_CODE_TO_DTYPE: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_KIND_SIZE_TO_CODE: dict[tuple[str, int], int] = {
    (d.kind, d.itemsize): code for code, d in _CODE_TO_DTYPE.items()
}


def _read_bytes(path: Path) -> bytes:
    if path.suffix == ".gz":
        try:
            with gzip.open(path, "rb") as f:
                return f.read()
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise  # a problem with the path, not with the gzip data
        except (OSError, EOFError, zlib.error) as e:
            raise ValueError(f"IDX file {path}: not a valid gzip file ({e})") from e
    return path.read_bytes()


def read_idx(path: StrPath) -> np.ndarray:
    """Read an IDX file (plain or ``.gz``) into a NumPy array.

    Parameters
    ----------
    path
        The file; gzip-compressed when its name ends in ``.gz``.

    Returns
    -------
    numpy.ndarray
        A writable array in native byte order, shaped as the header says.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the magic number is wrong, the header or data is truncated, or there
        are bytes after the data.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise ValueError(
            f"IDX file {path}: truncated header ({len(raw)} bytes; the magic number alone "
            "is 4 bytes)"
        )
    zero0, zero1, code, ndim = raw[0], raw[1], raw[2], raw[3]
    if zero0 != 0 or zero1 != 0 or code not in _CODE_TO_DTYPE:
        raise ValueError(
            f"IDX file {path}: bad magic number 0x{raw[:4].hex()} (expected 0x0000 followed "
            f"by a dtype code in {sorted(hex(c) for c in _CODE_TO_DTYPE)} and the number of "
            "dimensions); is this an IDX file?"
        )
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise ValueError(
            f"IDX file {path}: truncated header: {ndim} dimensions need {header_len} header "
            f"bytes, the file has {len(raw)}"
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _CODE_TO_DTYPE[code]
    expected = math.prod(shape) * dtype.itemsize  # Python ints: a corrupt header can't overflow
    found = len(raw) - header_len
    if found < expected:
        raise ValueError(
            f"IDX file {path}: truncated data: shape {shape} of {dtype.newbyteorder('=')} "
            f"needs {expected} bytes after the header, found {found}"
        )
    if found > expected:
        raise ValueError(
            f"IDX file {path}: {found - expected} unexpected bytes after the data "
            f"(shape {shape} needs {expected} bytes)"
        )
    data = np.frombuffer(raw, dtype=dtype, count=expected // dtype.itemsize, offset=header_len)
    return data.reshape(shape).astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: StrPath, array: np.ndarray) -> None:
    """Write ``array`` as an IDX file, gzip-compressed if ``path`` ends in ``.gz``.

    Parameters
    ----------
    path
        Destination file.
    array
        An array of dtype uint8, int8, int16, int32, float32 or float64 with at
        most 255 dimensions, each smaller than 2**32.

    Raises
    ------
    TypeError
        If the dtype has no IDX code.
    ValueError
        If the shape does not fit in an IDX header.
    """
    path = Path(path)
    arr = np.asarray(array)
    code = _KIND_SIZE_TO_CODE.get((arr.dtype.kind, arr.dtype.itemsize))
    if code is None:
        raise TypeError(
            f"write_idx: dtype {arr.dtype} has no IDX code; use uint8, int8, int16, int32, "
            "float32 or float64"
        )
    if arr.ndim > 255:
        raise ValueError(f"write_idx: IDX supports at most 255 dimensions, got {arr.ndim}")
    if any(d >= 2**32 for d in arr.shape):
        raise ValueError(f"write_idx: dimension sizes must be < 2**32, got {arr.shape}")
    header = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(arr, dtype=_CODE_TO_DTYPE[code]).tobytes()
    if path.suffix == ".gz":
        with gzip.open(path, "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)
