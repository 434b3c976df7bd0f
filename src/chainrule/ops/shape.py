"""Shape ops: reshape, broadcast, transpose/permute, concatenate, pad, flip, roll, tile, cast.

All of them are linear, so each JVP is the op itself applied to the tangent (with the tangent's
leading batch dims left alone).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._util import ndim_of, shape_of
from .registry import Sample, defop


def _lead_shape(t: Any, x: Any) -> tuple:
    return tuple(t.shape[: t.ndim - ndim_of(x)])


reshape = defop(
    "reshape", lambda x, shape: np.reshape(x, shape),
    lambda g, out, x, shape: g.reshape(x.shape), "reshape: ∂y/∂x is the identity, re-indexed",
    saves=False, view=True, sample=Sample(shapes=((3, 4),), params={"shape": (2, 6)}),
    torch="reshape",
    jvp=lambda t, out, x, shape: t.reshape(_lead_shape(t, x) + tuple(out.shape)))

# The engine sums a gradient back down to the input's shape, so expand's VJP is the identity.
expand = defop(
    "expand", lambda x, shape: np.broadcast_to(x, shape),
    lambda g, out, x, shape: g, "expand: ∂L/∂x = Σ over the broadcast copies", saves=False,
    view=True,  # (NumPy's read-only view of x: after x changes in place, its history follows)
    sample=Sample(shapes=((3, 1),), params={"shape": (2, 3, 4)}), torch="broadcast_to",
    jvp=lambda t, out, x, shape: np.broadcast_to(
        t.reshape(_lead_shape(t, x) + (1,) * (len(shape) - ndim_of(x)) + shape_of(x)),
        _lead_shape(t, x) + tuple(shape)))


def _inverse(perm: tuple) -> tuple:
    return tuple(sorted(range(len(perm)), key=perm.__getitem__))  # argsort, in Python: tiny


def _batched_perm(perm: tuple, lead: int) -> tuple:
    return tuple(range(lead)) + tuple(lead + p for p in perm)


permute = defop(
    "permute", lambda x, dims: np.transpose(x, dims),
    lambda g, out, x, dims: np.transpose(g, _inverse(dims)),
    "permute: the gradient is permuted back", saves=False, view=True,
    sample=Sample(shapes=((2, 3, 4),), params={"dims": (2, 0, 1)}), torch="permute",
    jvp=lambda t, out, x, dims: np.transpose(t, _batched_perm(dims, t.ndim - ndim_of(x))))


def _cat_vjp(i: int, g: Any, out: Any, *xs: Any, dim: int) -> Any:
    start = sum(shape_of(x)[dim] for x in xs[:i])
    stop = start + shape_of(xs[i])[dim]
    return g[(Ellipsis, slice(start, stop)) + (slice(None),) * (-dim - 1)]


def _cat_jvp(i: int, t: Any, out: Any, *xs: Any, dim: int) -> Any:
    before = sum(shape_of(x)[dim] for x in xs[:i])
    after = out.shape[dim] - before - shape_of(xs[i])[dim]
    widths = [(0, 0)] * t.ndim
    widths[t.ndim + dim] = (before, after)
    return np.pad(t, widths)


cat = defop("cat", lambda *xs, dim: np.concatenate(xs, axis=dim), (_cat_vjp,),
            "cat: each input gets its slice of the gradient", saves=False, variadic=True,
            sample=Sample(shapes=((2, 3), (4, 3)), params={"dim": -2}), torch="cat",
            jvp=(_cat_jvp,))


def _pad_forward(x: np.ndarray, widths: tuple, value: float = 0.0) -> np.ndarray:
    # ``widths`` pads the last len(widths) dims; the leading ones are left alone.
    full = ((0, 0),) * (x.ndim - len(widths)) + tuple(tuple(w) for w in widths)
    return np.pad(x, full, constant_values=value)


def _unpad(g: Any, widths: tuple) -> Any:
    n = len(widths)
    return g[(Ellipsis,) + tuple(slice(a, g.shape[g.ndim - n + k] - b)
                                 for k, (a, b) in enumerate(widths))]


constant_pad = defop(
    "constant_pad", _pad_forward, lambda g, out, x, widths, value=0.0: _unpad(g, widths),
    "pad: the gradient of the padding is dropped", saves=False,
    sample=Sample(shapes=((2, 3),), params={"widths": ((1, 0), (2, 1))},
                  variants=({"widths": ((0, 2),), "value": 0.5},)), torch=None,
    jvp=lambda t, out, x, widths, value=0.0: np.pad(
        t, ((0, 0),) * (t.ndim - len(widths)) + tuple(widths)))

# (a copy, as PyTorch's flip: np.flip's view would change with x after an in-place op)
flip = defop("flip", lambda x, dims: np.flip(x, axis=dims).copy(),
             lambda g, out, x, dims: np.flip(g, axis=dims), "flip: the gradient is flipped back",
             saves=False, sample=Sample(shapes=((3, 4),), params={"dims": (-1,)},
                                        variants=({"dims": (-2, -1)},)),
             torch="flip", jvp=lambda t, out, x, dims: np.flip(t, axis=dims))


def _roll(a: Any, shifts: Any, dims: Any, x: Any) -> Any:
    if dims is None:  # roll the flattened tensor; keep any leading batch dims apart
        lead = _lead_shape(a, x)
        return np.roll(a.reshape(lead + (-1,)), shifts, axis=-1).reshape(a.shape)
    return np.roll(a, shifts, axis=dims)


def _neg(shifts: Any) -> Any:
    return tuple(-s for s in shifts) if isinstance(shifts, tuple) else -shifts


roll = defop("roll", lambda x, shifts, dims=None: np.roll(x, shifts, axis=dims),
             lambda g, out, x, shifts, dims=None: _roll(g, _neg(shifts), dims, x),
             "roll: the gradient is rolled back", saves=False,
             sample=Sample(shapes=((3, 4),), params={"shifts": (1,), "dims": (-1,)},
                           variants=({"shifts": 5, "dims": None},)),
             torch="roll", jvp=lambda t, out, x, shifts, dims=None: _roll(t, shifts, dims, x))


def _tile_vjp(g: Any, out: Any, x: Any, reps: tuple) -> Any:
    shape = (1,) * (len(reps) - ndim_of(x)) + shape_of(x)
    split = tuple(v for r, s in zip(reps, shape) for v in (r, s))
    return g.reshape(split).sum(axis=tuple(range(0, 2 * len(reps), 2)))


def _tile_jvp(t: Any, out: Any, x: Any, reps: tuple) -> Any:
    lead = _lead_shape(t, x)
    t = t.reshape(lead + (1,) * (len(reps) - ndim_of(x)) + shape_of(x))
    return np.tile(t, (1,) * len(lead) + tuple(reps))


tile = defop("tile", lambda x, reps: np.tile(x, reps), _tile_vjp,
             "tile: each copy's gradient is summed back", saves=False,
             sample=Sample(shapes=((2, 3),), params={"reps": (2, 1, 3)}), torch="tile",
             jvp=_tile_jvp)

clone = defop("clone", lambda x, order="K": np.array(x, copy=True, order=order),
              lambda g, out, x, order="K": g, "clone: ∂y/∂x = I", saves=False,
              sample=Sample(shapes=((3, 4),)), torch="clone",
              jvp=lambda t, out, x, order="K": t)
# An identity op marks a fresh point in the graph (the transforms differentiate with respect
# to it); its forward shares memory.
identity = defop("identity", lambda x: x, lambda g, out, x: g, "∂y/∂x = I", saves=False,
                 view=True, sample=Sample(shapes=((3, 4),)), jvp=lambda t, out, x: t)


def _cast_forward(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    return x.astype(dtype)


cast = defop("cast", _cast_forward, lambda g, out, x, dtype: g.astype(x.dtype),
             "cast: ∂y/∂x = I (in the input's dtype)", saves=False,
             sample=Sample(shapes=((3, 4),), params={"dtype": np.dtype(np.float64)}),
             torch=None, jvp=lambda t, out, x, dtype: t.astype(dtype))
