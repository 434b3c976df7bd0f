"""Dtypes: NumPy's, with PyTorch's names, default and promotion rules."""

from __future__ import annotations

from typing import Any

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = float = np.dtype(np.float32)  # noqa: A001 - PyTorch's name
float64 = double = np.dtype(np.float64)
int8 = np.dtype(np.int8)
uint8 = np.dtype(np.uint8)
int16 = short = np.dtype(np.int16)
int32 = int = np.dtype(np.int32)  # noqa: A001 - PyTorch's name
int64 = long = np.dtype(np.int64)
bool_ = np.dtype(np.bool_)

_NAMES: dict[str, np.dtype] = {
    "float16": float16, "half": float16, "float32": float32, "float": float32,
    "float64": float64, "double": float64, "int8": int8, "uint8": uint8, "int16": int16,
    "int32": int32, "int64": int64, "long": int64, "bool": bool_,
}

_default_dtype: np.dtype = float32


def get_default_dtype() -> np.dtype:
    """The dtype given to tensors made from Python floats (float32 unless changed)."""
    return _default_dtype


def set_default_dtype(dtype: Any) -> None:
    """Set the dtype of tensors made from Python floats; a floating dtype only."""
    global _default_dtype
    d = as_dtype(dtype)
    if d.kind != "f":
        raise TypeError(f"set_default_dtype: only floating dtypes can be the default, got {d}")
    _default_dtype = d


def as_dtype(dtype: Any) -> np.dtype:
    """Turn a dtype-like (np.dtype, 'float32', np.float64, Python float/int/bool) into a dtype."""
    if isinstance(dtype, np.dtype):
        return dtype
    if dtype is builtins_float:
        return _default_dtype
    if dtype is builtins_int:
        return int64
    if dtype is builtins_bool:
        return bool_
    if type(dtype).__module__ == "torch":  # torch.float64 and the like: by name
        dtype = str(dtype)
    if isinstance(dtype, str):
        key = dtype.removeprefix("torch.").removeprefix("chainrule.")
        if key in _NAMES:
            return _NAMES[key]
    try:
        d = np.dtype(dtype)
    except TypeError:
        d = None
    if d is None or d.kind not in "fiub" or (d.kind == "f" and d.itemsize > 8):
        raise TypeError(
            f"unknown dtype {dtype!r}: use one of chainrule's dtypes, e.g. cr.float32, cr.float64, "
            "cr.int64 or cr.bool_"
        )
    return d


def is_floating(dtype: np.dtype) -> bool:
    return dtype.kind == "f"


import builtins  # noqa: E402

builtins_float, builtins_int, builtins_bool = builtins.float, builtins.int, builtins.bool


def _category(d: np.dtype) -> builtins.int:
    return {"b": 0, "u": 1, "i": 1, "f": 2}[d.kind]


def promote_types(type1: Any, type2: Any) -> np.dtype:
    """The smallest dtype both convert to, by PyTorch's rules: bool < integers < floats, so
    int64 with float16 is float16 (NumPy would say float64); uint8 with int8 is int16."""
    a, b = as_dtype(type1), as_dtype(type2)
    if _category(a) != _category(b):
        return a if _category(a) > _category(b) else b
    return np.promote_types(a, b)


def can_cast(from_: Any, to: Any) -> builtins.bool:
    """Whether PyTorch's type promotion allows casting ``from_`` to ``to``: never from floats
    to integers or bool, nor from integers to bool (narrowing within a kind is allowed)."""
    return _category(as_dtype(from_)) <= _category(as_dtype(to))
