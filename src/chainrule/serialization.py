"""Saving and loading state dicts as safetensors checkpoints.

A checkpoint is a plain `safetensors <https://github.com/huggingface/safetensors>`_
file. Every array in the state dict is stored as a safetensors tensor under a
flattened, dotted key (``"fc1.weight"``, ``"state.0.exp_avg"``). Everything
else -- the nesting of dicts, lists and tuples, the type of each dict key, and
plain Python values such as ``step`` or ``lr`` -- is stored as JSON in the
file's text metadata, so :func:`load` rebuilds exactly the structure that was
given to :func:`save`. No pickle is involved at any point, so loading an
untrusted checkpoint cannot execute code.

The files can be read by any safetensors reader, e.g.
``safetensors.torch.load_file`` gives the flat ``{key: tensor}`` view.

The ``safetensors`` package is an optional dependency
(``pip install "chainrule[checkpoint]"``); it is imported only when a
checkpoint is actually written or read.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "CheckpointError",
    "StateDictError",
    "check_state_dict",
    "load",
    "save",
]

#: Version of the layout of the chainrule metadata stored in the file.
FORMAT_VERSION = 1

_META_VERSION = "chainrule.format_version"
_META_TREE = "chainrule.tree"
# Key that the safetensors format reserves for the metadata dict.
_RESERVED_KEY = "__metadata__"

# safetensors dtype codes that NumPy can represent (what ``safetensors.numpy``
# can read back).
_NUMPY_DTYPE_CODES: dict[str, np.dtype[Any]] = {
    "F64": np.dtype(np.float64),
    "F32": np.dtype(np.float32),
    "F16": np.dtype(np.float16),
    "I64": np.dtype(np.int64),
    "U64": np.dtype(np.uint64),
    "I32": np.dtype(np.int32),
    "U32": np.dtype(np.uint32),
    "I16": np.dtype(np.int16),
    "U16": np.dtype(np.uint16),
    "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
    "C64": np.dtype(np.complex64),
}
_SAVABLE_DTYPES = frozenset(dt.newbyteorder("=") for dt in _NUMPY_DTYPE_CODES.values())


class CheckpointError(ValueError):
    """A file is not a valid (chainrule) safetensors checkpoint."""


class StateDictError(KeyError, ValueError):
    """A state dict does not match what the model or optimizer expects.

    Attributes
    ----------
    missing : list of str
        Expected keys absent from the given state dict.
    unexpected : list of str
        Keys of the given state dict that are not expected (strict mode only).
    mismatched : list of str
        One line per shape or dtype mismatch.
    """

    def __init__(
        self,
        message: str,
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        mismatched: list[str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.missing = list(missing or [])
        self.unexpected = list(unexpected or [])
        self.mismatched = list(mismatched or [])

    def __str__(self) -> str:
        # KeyError.__str__ would repr() the message (quotes, escaped newlines).
        return self.message


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _import_safetensors_numpy() -> ModuleType:
    try:
        import safetensors.numpy as st_numpy
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Saving and loading checkpoints needs the optional 'safetensors' "
            'package; install it with: pip install "chainrule[checkpoint]"'
        ) from exc
    return st_numpy


def _as_array(value: Any) -> np.ndarray | None:
    """Return ``value`` as an ndarray if it is an array or tensor, else None."""
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (np.generic, str, bytes, Mapping, list, tuple)):
        return None
    to_numpy = getattr(value, "numpy", None)
    if callable(to_numpy) and hasattr(value, "shape") and hasattr(value, "dtype"):
        detach = getattr(value, "detach", None)
        if callable(detach):  # e.g. a tensor that requires grad
            to_numpy = detach().numpy
        arr = np.asarray(to_numpy())
        return arr
    return None


def _prepare_array(arr: np.ndarray, where: str) -> np.ndarray:
    if arr.dtype.newbyteorder("=") not in _SAVABLE_DTYPES:
        supported = ", ".join(sorted(str(dt) for dt in _SAVABLE_DTYPES))
        raise TypeError(
            f"cannot save {where}: dtype {arr.dtype} is not supported by "
            f"safetensors (supported: {supported})"
        )
    if not arr.dtype.isnative:
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if not arr.flags.c_contiguous:
        # np.ascontiguousarray would turn 0-d arrays into 1-d ones.
        arr = arr.copy(order="C")
    return arr


def _describe(path: tuple[Any, ...]) -> str:
    if not path:
        return "the top-level object"
    return repr(".".join(str(p) for p in path))


class _Encoder:
    """Split a state dict into ``{key: ndarray}`` and a JSON-able tree."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._active: set[int] = set()

    def _new_key(self, path: tuple[Any, ...]) -> str:
        base = ".".join(str(p) for p in path) or "value"
        key, n = base, 1
        while key in self.arrays or key == _RESERVED_KEY:
            key = f"{base}#{n}"
            n += 1
        return key

    def encode(self, value: Any, path: tuple[Any, ...] = ()) -> Any:
        # Plain Python leaves (bool before int/float: bool is an int subclass;
        # numpy scalars are handled as arrays below since np.float64 is a float).
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and not isinstance(value, np.generic):
            return int(value)
        if isinstance(value, float) and not isinstance(value, np.generic):
            value = float(value)
            if math.isfinite(value):
                return value
            return {"float": repr(value)}  # 'nan', 'inf', '-inf'
        if isinstance(value, np.generic):
            arr = _prepare_array(np.asarray(value), _describe(path))
            key = self._new_key(path)
            self.arrays[key] = arr
            return {"scalar": key}
        found = _as_array(value)
        if found is not None:
            arr = _prepare_array(found, _describe(path))
            key = self._new_key(path)
            self.arrays[key] = arr
            return {"tensor": key}
        if isinstance(value, (Mapping, list, tuple)):
            if id(value) in self._active:
                raise ValueError(f"cannot save {_describe(path)}: it contains itself")
            self._active.add(id(value))
            try:
                return self._encode_container(value, path)
            finally:
                self._active.discard(id(value))
        raise TypeError(
            f"cannot save {_describe(path)}: values of type "
            f"{type(value).__name__} are not supported (expected a Tensor, a "
            "NumPy array, a dict/list/tuple, or None/bool/int/float/str)"
        )

    def _encode_container(self, value: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(value, Mapping):
            items = []
            for k, v in value.items():
                if isinstance(k, (bool, np.bool_)) or not isinstance(k, (str, int, np.integer)):
                    raise TypeError(
                        f"cannot save {_describe(path)}: dict keys must be str "
                        f"or int, got {k!r} of type {type(k).__name__}"
                    )
                k = str(k) if isinstance(k, str) else int(k)
                items.append([k, self.encode(v, (*path, k))])
            return {"dict": items}
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {kind: [self.encode(v, (*path, i)) for i, v in enumerate(value)]}


def _decode(node: Any, arrays: dict[str, np.ndarray], used: set[str]) -> Any:
    """Inverse of :meth:`_Encoder.encode`; arrays stay NumPy arrays."""
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, dict) and len(node) == 1:
        ((kind, payload),) = node.items()
        if kind in ("tensor", "scalar"):
            if not isinstance(payload, str) or payload not in arrays:
                raise ValueError(f"it refers to a tensor {payload!r} that is not in the file")
            used.add(payload)
            arr = arrays[payload]
            return arr if kind == "tensor" else arr[()]
        if kind == "float" and payload in ("nan", "inf", "-inf"):
            return float(payload)
        if kind == "dict" and isinstance(payload, list):
            out: dict[Any, Any] = {}
            for item in payload:
                if (
                    not isinstance(item, list)
                    or len(item) != 2
                    or isinstance(item[0], bool)
                    or not isinstance(item[0], (str, int))
                ):
                    raise ValueError(f"malformed dict entry {item!r}")
                out[item[0]] = _decode(item[1], arrays, used)
            return out
        if kind in ("list", "tuple") and isinstance(payload, list):
            seq = [_decode(v, arrays, used) for v in payload]
            return tuple(seq) if kind == "tuple" else seq
    raise ValueError(f"malformed node {json.dumps(node)[:200]}")


def _map_arrays(tree: Any, fn: Any) -> Any:
    """Apply ``fn`` to every ndarray leaf of a decoded tree."""
    if isinstance(tree, np.ndarray):
        return fn(tree)
    if isinstance(tree, dict):
        return {k: _map_arrays(v, fn) for k, v in tree.items()}
    if isinstance(tree, list):
        return [_map_arrays(v, fn) for v in tree]
    if isinstance(tree, tuple):
        return tuple(_map_arrays(v, fn) for v in tree)
    return tree


def _iter_header_tensors(header: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    for name, info in header.items():
        if name != _RESERVED_KEY:
            yield name, info


# --------------------------------------------------------------------------
# save
# --------------------------------------------------------------------------


def save(obj: Any, path: str | os.PathLike[str]) -> None:
    """Save a state dict to a safetensors file, atomically.

    Parameters
    ----------
    obj : dict
        A (possibly nested) state dict, e.g. ``model.state_dict()`` or
        ``optimizer.state_dict()``. Leaves may be Tensors, NumPy arrays,
        NumPy scalars, or ``None``/``bool``/``int``/``float``/``str``; inner
        nodes may be dicts (``str`` or ``int`` keys), lists and tuples.
    path : str or os.PathLike
        Destination file. It is replaced only once the new checkpoint has been
        completely written and flushed to disk; if anything fails, an existing
        file at ``path`` is left untouched.

    Raises
    ------
    TypeError
        If ``obj`` contains a value, key or dtype that cannot be saved.
    ImportError
        If the optional ``safetensors`` package is not installed.
    """
    path = os.fsdecode(path)
    encoder = _Encoder()
    tree = encoder.encode(obj)
    metadata = {
        _META_VERSION: str(FORMAT_VERSION),
        _META_TREE: json.dumps(tree, allow_nan=False, separators=(",", ":")),
    }
    st_numpy = _import_safetensors_numpy()
    data: bytes = st_numpy.save(encoder.arrays, metadata=metadata)

    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise FileNotFoundError(
            f"cannot save checkpoint to {path!r}: directory {directory!r} does not exist"
        )
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"cannot save checkpoint to {path!r}: it is a directory; give a file name "
            "such as model.safetensors"
        )
    fd, tmp_path = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _set_mode_like(tmp_path, path)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_path)
        raise
    _fsync_directory(directory)


def _set_mode_like(tmp_path: str, path: str) -> None:
    """Give the temp file (created 0o600) the mode ``path`` has or would get."""
    try:
        mode = os.stat(path).st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    with contextlib.suppress(OSError):  # e.g. filesystems without modes
        os.chmod(tmp_path, mode)


def _fsync_directory(directory: str) -> None:
    """Persist the rename itself (best effort; not possible on Windows)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(dir_fd)


# --------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------


def _read_checkpoint(path: str | os.PathLike[str]) -> Any:
    """Read a checkpoint, returning its tree with NumPy arrays as leaves."""
    path = os.fsdecode(path)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "checkpoint file does not exist", path) from None
    except IsADirectoryError:
        raise IsADirectoryError(
            errno.EISDIR, "the checkpoint path is a directory, not a file", path) from None

    def fail(reason: str) -> CheckpointError:
        return CheckpointError(f"{path!r} is not a valid safetensors checkpoint: {reason}")

    # Our own checks of the framing give clearer messages than the parser's.
    size = len(data)
    if size < 8:
        raise fail(f"the file is {size} bytes, too short to hold the 8-byte header length")
    header_len = int.from_bytes(data[:8], "little")
    if header_len > size - 8:
        raise fail(
            f"header length {header_len} exceeds file size ({size} bytes); "
            "the file is truncated or not a safetensors file"
        )
    try:
        header = json.loads(data[8 : 8 + header_len].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise fail(f"the header is not valid JSON ({exc})") from exc
    if not isinstance(header, dict):
        raise fail("the header is not a JSON object")
    data_len = size - 8 - header_len
    needed = 0
    for name, info in _iter_header_tensors(header):
        try:
            dtype_code = info["dtype"]
            start, end = info["data_offsets"]
        except (KeyError, TypeError, ValueError) as exc:
            raise fail(f"malformed header entry for tensor {name!r}") from exc
        if not (
            type(start) is int and type(end) is int and 0 <= start <= end  # noqa: E721
        ):
            raise fail(
                f"tensor {name!r} has invalid data_offsets {json.dumps(info['data_offsets'])} "
                "(expected two integers 0 <= start <= end)"
            )
        needed = max(needed, end)
        if not isinstance(dtype_code, str) or dtype_code not in _NUMPY_DTYPE_CODES:
            raise fail(
                f"tensor {name!r} has dtype "
                f"{dtype_code if isinstance(dtype_code, str) else json.dumps(dtype_code)}, "
                "which NumPy cannot represent"
            )
    if needed > data_len:
        raise fail(
            f"the header describes {needed} bytes of tensor data but only "
            f"{data_len} are present; the file is truncated"
        )
    if needed < data_len:
        raise fail(
            f"{data_len - needed} unexpected bytes after the tensor data described by the header"
        )

    st_numpy = _import_safetensors_numpy()
    try:
        arrays: dict[str, np.ndarray] = st_numpy.load(data)
    except Exception as exc:
        raise fail(str(exc)) from exc

    metadata = header.get(_RESERVED_KEY) or {}
    if not isinstance(metadata, dict) or _META_TREE not in metadata:
        # Written by another tool: a flat {name: array} dict, in file order.
        return dict(arrays)

    version = metadata.get(_META_VERSION, "")
    try:
        version_ok = 1 <= int(version) <= FORMAT_VERSION
    except ValueError:
        version_ok = False
    if not version_ok:
        raise fail(
            f"unsupported chainrule format version {version!r} "
            f"(this chainrule reads versions 1 to {FORMAT_VERSION})"
        )
    used: set[str] = set()
    try:
        tree = _decode(json.loads(metadata[_META_TREE]), arrays, used)
    except ValueError as exc:  # includes json.JSONDecodeError
        raise fail(f"corrupted chainrule metadata: {exc}") from exc
    except RecursionError:  # a crafted file nesting lists thousands deep
        raise fail("corrupted chainrule metadata: nested too deeply") from None
    unused = sorted(set(arrays) - used)
    if unused:
        raise fail(f"tensors not referenced by the chainrule metadata: {', '.join(unused)}")
    return tree


def load(path: str | os.PathLike[str]) -> Any:
    """Load a checkpoint written by :func:`save`.

    Parameters
    ----------
    path : str or os.PathLike
        A safetensors file.

    Returns
    -------
    object
        The saved structure, with every array as a chainrule Tensor (same
        dtype and shape, ``requires_grad=False``), NumPy scalars as NumPy
        scalars and int dict keys as ints. Arrays of a dtype chainrule has no
        tensors for (complex64) stay NumPy arrays. A safetensors file written by
        another tool (without chainrule metadata) loads as a flat
        ``{name: Tensor}`` dict.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CheckpointError
        If the file is truncated, corrupted or not a safetensors file.
    ImportError
        If the optional ``safetensors`` package is not installed.
    """
    tree = _read_checkpoint(path)
    import chainrule as cr

    def to_tensor(arr: np.ndarray) -> Any:
        if arr.dtype.kind not in "fiub":  # e.g. complex64: no chainrule dtype for it
            return arr
        return cr.from_numpy(arr if arr.flags.writeable else arr.copy())

    return _map_arrays(tree, to_tensor)


# --------------------------------------------------------------------------
# state dict checking
# --------------------------------------------------------------------------


def _fmt_dtype(dtype: Any) -> str:
    try:
        return str(np.dtype(dtype))
    except TypeError:
        return str(dtype)


def _fmt_shape(shape: Any) -> str:
    return str(tuple(int(d) for d in shape))


def check_state_dict(
    expected: Mapping[str, tuple[tuple[int, ...], Any]],
    given: Mapping[Any, Any],
    strict: bool = True,
) -> None:
    """Check a state dict against the expected keys, shapes and dtypes.

    Nothing is modified; call this before copying any value so that a failed
    load leaves the model or optimizer untouched.

    Parameters
    ----------
    expected : dict
        ``{key: (shape, dtype)}`` for every entry the model expects.
    given : dict
        The state dict being loaded; values are Tensors or arrays (anything
        with ``.shape`` and ``.dtype``).
    strict : bool, default True
        If True, missing and unexpected keys are errors. If False they are
        ignored (as in PyTorch); shape and dtype mismatches of the keys present
        in both are errors either way.

    Raises
    ------
    StateDictError
        Listing every missing key, unexpected key, shape mismatch and dtype
        mismatch at once.
    """
    missing = [k for k in expected if k not in given] if strict else []
    unexpected = [k for k in given if k not in expected] if strict else []
    shapes: list[str] = []
    dtypes: list[str] = []
    for key, (shape, dtype) in expected.items():
        if key not in given:
            continue
        value = given[key]
        got_shape = getattr(value, "shape", None)
        got_dtype = getattr(value, "dtype", None)
        if got_shape is None or got_dtype is None:
            shapes.append(
                f"{key}: checkpoint has a {type(value).__name__}, "
                f"model has an array of shape {_fmt_shape(shape)}"
            )
            continue
        if tuple(got_shape) != tuple(shape):
            shapes.append(
                f"{key}: checkpoint has {_fmt_shape(got_shape)}, model has {_fmt_shape(shape)}"
            )
        if _fmt_dtype(got_dtype) != _fmt_dtype(dtype):
            dtypes.append(
                f"{key}: checkpoint has {_fmt_dtype(got_dtype)}, model has {_fmt_dtype(dtype)}"
            )
    if not (missing or unexpected or shapes or dtypes):
        return
    lines = ["Error(s) in loading state dict:"]
    for title, keys in (("Missing keys", missing), ("Unexpected keys", unexpected)):
        if keys:
            lines.append(f"  {title} ({len(keys)}): " + ", ".join(map(repr, keys)))
    for title, problems in (("Shape mismatch", shapes), ("Dtype mismatch", dtypes)):
        if problems:
            lines.append(f"  {title} ({len(problems)}):")
            lines.extend(f"    {p}" for p in problems)
    raise StateDictError(
        "\n".join(lines),
        missing=[str(k) for k in missing],
        unexpected=[str(k) for k in unexpected],
        mismatched=shapes + dtypes,
    )
