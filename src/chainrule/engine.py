"""The engine: recording operations, and the one backward walk of the chain rule.

Every differentiable operation goes through :func:`apply`, which runs the op's NumPy forward
and, when a gradient will be needed, records a :class:`Node`. :func:`walk` visits the recorded
nodes in reverse topological order and, at each one, multiplies the upstream gradient by the
op's local derivative (its vector-Jacobian product). ``backward()``, ``cr.grad``, ``explain()``
and ``draw()`` all use this walk, so the chain rule is written once.

Forward mode (``jvp``) rides along in :func:`apply`: a tensor may carry tangents, one per active
forward level, and each op pushes them through its JVP rule in the same pass.
"""

from __future__ import annotations

import functools
import heapq
import inspect
import itertools
import math
import traceback
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ._dtypes import _category, promote_types

if TYPE_CHECKING:
    from .ops.registry import Op
    from .tensor import Tensor


class ChainruleError(RuntimeError):
    """An error raised by the engine (freed graph, in-place modification, anomaly)."""


class _State:
    """Global switches, read on every operation, so kept as plain attributes."""

    grad_enabled = True
    anomaly = False
    levels: dict[int, int] = {}  # active forward-mode levels -> number of leading batch dims
    next_level = 0
    scope: tuple[str, ...] = ()  # the open cr.name_scope()s, recorded on each node
    # Counts in-place changes of any tensor: a node records the count when it is made, so
    # backward checks the values it reads only when something changed since (see Node).
    epoch = 0
    # The running backward walk: (its number, its table of upstream gradients), which a
    # GradGroup's hook reads; None outside a walk.
    walk: tuple[int, dict] | None = None


def bump_version(t: Tensor) -> None:
    """Record an in-place change of ``t``'s memory: its version (``t._version``, as PyTorch's)
    and the epoch of the change, which backward compares with the epoch of its nodes."""
    STATE.epoch += 1
    box = version_box(t)
    box[0] += 1
    box[1] = STATE.epoch


def version_box(t: Tensor) -> list[int]:
    """``t``'s ``[in-place version, epoch of its last change]``, shared with its views, its
    detached copies and its base. Made on first need: most tensors never change in place.
    A third entry, once set, is the version of the last in-place change of shape (``t_()``,
    ``squeeze_()``...): see :func:`reshaped_since`."""
    box = t._vbox
    if box is None:
        box = t._vbox = [0, 0]
    return box


def reshaped_since(view: Tensor) -> bool:
    """Whether ``view``'s base changed shape in place (``t_()``, ``squeeze_()``...) after the
    view was taken: its link (an op on the base's old layout) no longer holds."""
    box = view._vbox
    return box is not None and len(box) > 2 and view._view[3] < box[2]  # type: ignore[index]


_RESHAPED_VIEW = (
    "{what} a view (shape {shape}) after it or its base was reshaped in place (t_(), "
    "transpose_(), squeeze_(), unsqueeze_()...){when}: the view's gradient can no longer be "
    "followed to the base. Take the view again after the reshape, or reshape out of place "
    "(y = x.t())")


STATE = _State()


# --------------------------------------------------------------------------- grad mode

class _GradMode:
    """Base for ``no_grad`` / ``enable_grad``: a context manager and a decorator."""

    enabled: bool

    def __enter__(self) -> None:
        self._prev = STATE.grad_enabled
        STATE.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        STATE.grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        return _decorate(fn, self.__class__)


def _decorate(fn: Callable, mode: Callable[[], Any]) -> Callable:
    """``fn`` run under the grad mode that ``mode()`` enters (a new context manager for each
    call). A generator function runs under it at each step, and not while it is suspended at a
    ``yield`` (the caller's mode holds there), as PyTorch's decorators do."""
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def generator(*args: Any, **kwargs: Any) -> Any:
            gen = fn(*args, **kwargs)
            try:
                with mode():
                    value = next(gen)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with mode():
                            gen.close()
                        raise
                    except BaseException as e:
                        with mode():
                            value = gen.throw(e)
                    else:
                        with mode():
                            value = gen.send(sent)
            except StopIteration as stop:
                return stop.value

        return generator

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with mode():
            return fn(*args, **kwargs)

    return wrapper


class _NoArgGradMode(_GradMode):
    """``with cr.no_grad():``, ``@cr.no_grad()`` and ``@cr.no_grad`` all work."""

    def __new__(cls, func: Callable | None = None) -> Any:
        self = super().__new__(cls)
        if func is None:
            return self
        if not callable(func):
            raise TypeError(f"{cls.__name__}() takes no arguments (or a function to decorate)")
        return self(func)

    def __init__(self, func: Callable | None = None) -> None:
        pass


class no_grad(_NoArgGradMode):
    """Record nothing: no graph is built and nothing is saved for backward."""

    enabled = False


class enable_grad(_NoArgGradMode):
    """Record operations again (inside ``no_grad``)."""

    enabled = True


class set_grad_enabled(_GradMode):
    """``set_grad_enabled(False)`` is ``no_grad()``; also callable as a plain function."""

    def __init__(self, mode: bool) -> None:
        self.enabled = bool(mode)
        self._prev = STATE.grad_enabled
        STATE.grad_enabled = self.enabled

    def __enter__(self) -> None:
        pass

    def __call__(self, fn: Callable) -> Callable:
        STATE.grad_enabled = self._prev  # as a decorator it acts only when fn is called
        mode = self.enabled
        return _decorate(fn, lambda: set_grad_enabled(mode))


def is_grad_enabled() -> bool:
    return STATE.grad_enabled


class name_scope:
    """Name a part of the computation: ops recorded inside carry the scope (``layer3``), which
    the explanation and drawing tools show and group by. Scopes nest (``block1/attn``)."""

    def __init__(self, name: str) -> None:
        self.name = str(name)

    def __enter__(self) -> name_scope:
        self._prev = STATE.scope
        STATE.scope = STATE.scope + (self.name,)
        return self

    def __exit__(self, *exc: object) -> None:
        STATE.scope = self._prev


class detect_anomaly:
    """Anomaly mode: NaN or inf produced by a backward rule raises an error naming the op.

    Each recorded node also keeps the stack of the forward call that created it, which the
    error shows. Slower; meant for debugging.
    """

    def __init__(self, mode: bool = True) -> None:
        self.mode = mode

    def __enter__(self) -> None:
        self._prev = STATE.anomaly
        STATE.anomaly = self.mode

    def __exit__(self, *exc: object) -> None:
        STATE.anomaly = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self.mode):
                return fn(*args, **kwargs)

        return wrapper


# --------------------------------------------------------------------------- nodes

_next_seq = itertools.count().__next__
_next_walk = itertools.count().__next__
_heappush = heapq.heappush


class Node:
    """One recorded operation: what ``Tensor.grad_fn`` is.

    ``inputs`` holds the op's arguments (tensors and constants) and ``values`` their NumPy
    arrays, until backward frees them. ``parents`` are the edges of the graph, fixed when the op
    ran: for each input, the node that produced it, the leaf tensor itself, or ``None`` when it
    needs no gradient. (Reading ``input.grad_fn`` at backward time instead would follow an
    in-place operation made later, which must not change this node's history.) The fast
    paths give a tuple: cheaper to make than a list, and it sets off a quarter fewer young
    garbage collections on a chain of small ops.
    ``out`` is a weak reference to the output when the op's rules need it (a strong one would
    make a reference cycle), ``out_data`` its values, which the rules read in plain backward.
    ``seq`` numbers nodes in creation order: an op is recorded after the ops making its
    inputs, so visiting nodes by decreasing ``seq`` is a valid backward order.
    ``epoch`` is ``STATE.epoch`` when the node was made: if no tensor has changed in place
    since, none of the values its rules read can have (checked at backward).

    ``hooks`` are the output's tensor hooks (``register_hook``), ``retain`` a weak reference to
    the output after ``retain_grad()``; ``stack``, the forward call's stack in anomaly mode,
    and ``grad_dtype`` default to ``None`` on the class and live in the instance dict only
    when set.
    """

    __slots__ = ("op", "inputs", "values", "parents", "params", "seq", "epoch", "scope", "out",
                 "out_data", "hooks", "retain", "__dict__", "__weakref__")

    out: weakref.ref | None
    out_data: np.ndarray | None
    hooks: list[Callable] | None
    retain: Callable[[], Tensor | None] | None
    stack: list[str] | None = None
    # The output's dtype, set when a hook or retain_grad() will see its gradient (which may
    # arrive in another dtype from an op mixing float32 and float64: it is cast to this).
    grad_dtype: np.dtype | None = None
    # Set on the node of a ``cr.autograd.Function`` output that shares memory with an input (a
    # view, or an input returned as is): why an in-place change of that output is refused.
    no_inplace: str | None = None
    # The in-place version box of the output a node keeps (``out``), set when ``out`` is redirected
    # to a snapshot only this weak reference holds (Tensor._snapshot): once the snapshot is
    # collected, the box still tells whether the memory was changed in place since.
    out_box: list[int] | None = None

    def __init__(self, op: Op, inputs: tuple, values: tuple, parents: Sequence, params: dict,
                 out: Tensor | None) -> None:
        self.op = op
        self.inputs: tuple | None = inputs
        self.values: tuple | None = values
        self.parents: Sequence | None = parents
        self.params = params
        self.hooks = self.retain = None
        if out is None:
            self.out = self.out_data = None
        else:
            self.out = weakref.ref(out)
            self.out_data = out.data
        self.seq = _next_seq()
        state = STATE
        self.epoch = state.epoch
        self.scope = state.scope
        if state.anomaly:
            self.stack = traceback.format_stack()[:-2]  # without apply and __init__

    def name(self) -> str:
        """The node's name, as in PyTorch: ``MulBackward``; a class name (a
        ``cr.autograd.Function``'s) is kept as written: ``MyExpBackward``."""
        name = self.op.name
        if name[:1].isupper():
            return name + "Backward"
        return "".join(p.capitalize() for p in name.split("_")) + "Backward"

    @property
    def next_functions(self) -> tuple:
        """The nodes (or leaf tensors) feeding this one, in input order (empty once freed)."""
        return tuple((p, 0) for p in self.parents or () if p is not None)

    def __repr__(self) -> str:
        return f"<{self.name()}>"


# chainrule.tensor.Tensor, set by that module when it is imported: the hot paths read this
# global instead of calling _tensor_cls().
_Tensor: Any = None


@functools.cache
def _tensor_cls() -> type[Tensor]:
    from .tensor import Tensor

    return Tensor


# --------------------------------------------------------------------------- apply

_NO_PARAMS: dict = {}  # shared by the nodes of ops without parameters (never mutated)


def apply(op: Op, *args: Any, **params: Any) -> Tensor:
    """Run ``op`` on ``args`` (tensors, arrays or numbers) and record it if needed."""
    Tensor = _Tensor
    if len(args) == 1 and not op.view:
        # One tensor in (an activation, a reduction): the common case written out. Views,
        # tangents, promotion to the default dtype and errors take the general path below.
        x = args[0]
        if isinstance(x, Tensor) and x._view is None and x._tangents is None:
            data = x.data
            try:
                out = op.forward(data, **params) if params else op.forward(data)
            except (ValueError, IndexError, np.linalg.LinAlgError, TypeError, OverflowError):
                out = None  # the general path explains the error
            if out is not None and type(out) is not np.ndarray:
                out = np.asarray(out)  # (a NumPy scalar, from a full reduction)
            if out is not None and (out.dtype is data.dtype or out.dtype.kind != "f"
                                    or data.dtype.kind == "f" and out.dtype is not _FLOAT64
                                    and out.dtype is not _FLOAT16
                                    or "dtype" in params):  # (as asked, e.g. x.double())
                result = Tensor._make(out)
                if x.requires_grad and STATE.grad_enabled and op.vjps is not None:
                    result.grad_fn = Node(op, args, (data,), (x.grad_fn or x,),
                                          params or _NO_PARAMS,
                                          result if op.saves_output else None)
                    result.requires_grad = True
                return result
    arrays = []
    parents: list = []  # per input: its node, the leaf itself, or None (no gradient needed)
    needs_grad = tangents = lists = False
    for a in args:
        if isinstance(a, Tensor):
            if a._view is not None and a._view[3] != version_box(a)[0] and STATE.grad_enabled:
                _refresh_view(a, True)  # its base changed in place since its history was made
            arrays.append(a.data)
            if a.requires_grad:
                needs_grad = True
                parents.append(a.grad_fn or a)
            else:
                parents.append(None)
            if a._tangents is not None:
                tangents = True
        else:
            arrays.append(a)
            parents.append(None)
            if type(a) is list:
                lists = True
    if lists:  # nested Python lists: the arrays NumPy would make of them
        args = tuple(np.asarray(a) if type(a) is list else a for a in args)
        arrays = [np.asarray(a) if type(a) is list else a for a in arrays]
    if op.elementwise and len(arrays) > 1 and "dtype" not in params:
        arrays = _zero_dim_promotion(args, arrays)
    try:
        out = op.forward(*arrays, **params)
    except (ValueError, IndexError, np.linalg.LinAlgError, TypeError, OverflowError) as e:
        raise op.explain_error(e, args, params) from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    dtype = out.dtype
    first = arrays[0] if arrays else None
    if (type(first) is not np.ndarray or first.dtype is not dtype) and dtype.kind == "f" \
            and "dtype" not in params and not _has_dtype(arrays, dtype.char):
        out = _in_default_dtype(op, out, arrays, params)  # (a float not among the inputs)
    result = Tensor._make(out)
    a0 = args[0] if op.view else None
    if isinstance(a0, Tensor) and np.may_share_memory(out, arrays[0]):  # (not of a NumPy array)
        box = result._vbox = version_box(a0)  # one in-place version for a view and its base
        result._view = (a0, op, params, box[0])
    if needs_grad and STATE.grad_enabled and op.vjps is not None:
        # (values as a tuple: holding only arrays and numbers, the garbage collector stops
        # tracking it at its first pass, so it never reaches the costly oldest generation)
        result.grad_fn = Node(op, args, tuple(arrays), parents, params or _NO_PARAMS,
                              result if op.saves_output else None)
        result.requires_grad = True
    if tangents and STATE.levels:
        _push_tangents(op, args, params, result)
    return result


def binary_operator(op: Op, reflected: bool = False) -> Callable[[Tensor, Any], Tensor]:
    """``Tensor.__add__`` and the other arithmetic operators (``reflected``: ``__radd__``...):
    :func:`apply` with its common case, a tensor and a tensor or Python number, written out
    (no loop over the arguments, one Python call less per op: ~5% off a chain of small ops).
    Views, forward-mode tangents, other operands, promotion of an integer tensor to the
    default dtype and errors take ``apply`` itself."""
    forward, saves_output = op.forward, op.saves_output
    # Python numbers as typed arrays (_TYPED_NUMBERS) for the ops whose rules only compute with
    # them; not pow, whose rules look at a Python exponent (x ** 2 as a square, y - 1 in double)
    typed_numbers = op.name in ("add", "sub", "mul", "div")

    def operator(self: Tensor, other: Any) -> Tensor:
        if isinstance(other, _Tensor):
            # (another dtype: apply promotes, by PyTorch's rules for 0-d tensors)
            plain = other._view is None and other._tangents is None \
                and other.data.dtype is self.data.dtype
            data, parent = other.data, (other.grad_fn or other) if other.requires_grad else None
            number = False
        else:
            number = plain = type(other) is float or type(other) is int  # (not bool, arrays...)
            data, parent = other, None
        out = None
        if plain and self._view is None and self._tangents is None:
            mine = self.data
            if number and typed_numbers and data:  # a nonzero Python number: typed
                typed = _TYPED_NUMBERS.get(mine.dtype.num)
                if typed is not None:
                    data = typed.get(data) or _typed_number(data, mine.dtype, typed)
            try:
                out = forward(data, mine) if reflected else forward(mine, data)
            except (ValueError, IndexError, np.linalg.LinAlgError, TypeError, OverflowError):
                pass  # apply explains the error
            else:
                if type(out) is not np.ndarray:
                    out = np.asarray(out)  # (a NumPy scalar, from 0-d operands)
                if out.dtype is not mine.dtype and out.dtype.kind == "f" and (
                        type(data) is not np.ndarray or data.dtype is not out.dtype):
                    out = None  # an integer tensor met a float: apply gives PyTorch's dtype
        if out is None:
            return apply(op, other, self) if reflected else apply(op, self, other)
        result = _Tensor._make(out)
        if (parent is not None or self.requires_grad) and STATE.grad_enabled:
            own = (self.grad_fn or self) if self.requires_grad else None
            kept = result if saves_output else None
            result.grad_fn = Node(op, (other, self), (data, mine), (parent, own), _NO_PARAMS,
                                  kept) if reflected else \
                Node(op, (self, other), (mine, data), (own, parent), _NO_PARAMS, kept)
            result.requires_grad = True
        return result

    return operator


_FLOAT64 = np.dtype(np.float64)  # (one object: every native float64 array's dtype is it)
_FLOAT16 = np.dtype(np.float16)

# Python numbers met by float tensors in the binary operators (+ - * /), as read-only 0-d
# arrays of the tensor's dtype, per dtype number. NumPy handles a Python number in a ufunc
# call through its "weak scalar" promotion, which costs more instructions than the ufunc's own
# work on a small array (callgrind, NumPy 2.4, 16 float32 values: x * 1.0001 ~6,800, x * a
# typed 0-d array ~3,900); the typed array gives the same values to the bit (NumPy casts the
# number to the array's dtype either way), and the node keeps it, so that a product's backward
# (g * y) also runs without that cost. Zeros are left out (0.0 and -0.0 are equal keys but
# differ).
_TYPED_NUMBERS: dict[int, dict[float, Any]] = {
    np.dtype(t).num: {} for t in (np.float16, np.float32, np.float64)}
_TYPED_NUMBERS_MAX = 256  # entries per dtype: a loop over many numbers must not grow memory


def _typed_number(v: float, dtype: np.dtype, typed: dict[float, Any]) -> Any:
    """``v`` as a read-only 0-d array of ``dtype``, remembered in ``typed``. ``v`` itself (also
    remembered, unless NaN, which no lookup finds, or an int beyond float64) when the cast is
    not a plain rounding: an overflow, an underflow to 0 (every entry must be truthy), an int
    not held exactly."""
    try:
        with np.errstate(all="ignore"):
            a = np.array(v, dtype=dtype)
    except OverflowError:  # an int beyond float64: NumPy's own call explains it
        return v
    if v != v:
        return v
    if len(typed) >= _TYPED_NUMBERS_MAX:
        typed.clear()
    if not np.isfinite(a) and math.isfinite(v) or a == 0 or type(v) is int and a != v:
        typed[v] = v
        return v
    a.flags.writeable = False
    typed[v] = a
    return a


def _in_default_dtype(op: Op, out: np.ndarray, arrays: list, params: dict) -> np.ndarray:
    """An op's float result in PyTorch's dtype where NumPy promotes integers differently:
    NumPy gives int64 with a Python float or a float32 array float64, int16 with float16
    float32, int8 through exp float16; PyTorch gives the float inputs' dtype (the widest), or
    the default dtype when no input is a float array. A result narrower than that is computed
    again from the inputs in that dtype (not rounded to the narrower one first)."""
    from ._dtypes import get_default_dtype

    floats = [a.dtype for a in arrays if type(a) is np.ndarray and a.dtype.kind == "f"]
    dtype = max(floats, key=lambda d: d.itemsize) if floats else get_default_dtype()
    if out.dtype.itemsize < dtype.itemsize:
        arrays = [a.astype(dtype) if type(a) is np.ndarray and a.dtype.kind in "biu" else a
                  for a in arrays]
        return np.asarray(op.forward(*arrays, **params), dtype=dtype)
    return out.astype(dtype, copy=False)


def _zero_dim_promotion(args: tuple, arrays: list) -> list:
    """``arrays`` with PyTorch's rule for 0-d tensors applied: a 0-d tensor does not widen the
    tensors with dims unless its kind (bool < integer < float) is higher, so float32 with a
    0-d float64 tensor is float32 and int8 with a 0-d int64 tensor int8 (NumPy would give
    float64 and int64). Such 0-d arrays are cast to the dims' dtype before the op runs, as
    PyTorch computes in it; the gradient of the 0-d tensor is cast back to its own dtype."""
    dims = zero = None
    for a, x in zip(args, arrays):
        if isinstance(a, _Tensor) and type(x) is np.ndarray:  # (not a lazy placeholder)
            d = x.dtype
            if x.ndim:
                dims = d if dims is None or dims == d else promote_types(dims, d)
            else:
                zero = d if zero is None or zero == d else promote_types(zero, d)
    if dims is None or zero is None or zero == dims or _category(zero) > _category(dims):
        return arrays  # (a 0-d of a higher kind decides, as NumPy also has it)
    return [x.astype(dims) if isinstance(a, _Tensor) and not x.ndim and x.dtype != dims else x
            for a, x in zip(args, arrays)]


def _has_dtype(arrays: list, char: str) -> bool:
    """Whether one of ``arrays`` has the dtype of this type character (``"d"``: float64)."""
    for d in arrays:  # (a plain loop: this runs for every float64 op)
        if type(d) is np.ndarray and d.dtype.char == char:
            return True
    return False


class _ViewChain:
    """The op of a view link made of several view ops in a row (``params["steps"]``, each an
    ``(op, params)``): a view whose own shape was then changed in place (``v = x[0]; v.t_()``
    is ``x[0]`` then a transpose)."""

    name = "view chain"

    @staticmethod
    def steps(op: Any, params: dict) -> tuple:
        return params["steps"] if op is VIEW_CHAIN else ((op, params),)


VIEW_CHAIN = _ViewChain()


def view_of(base: Tensor, op: Any, params: dict) -> Tensor:
    """``base`` seen through the view link ``op``/``params`` (recorded, as any op)."""
    r = base
    for step_op, step_params in _ViewChain.steps(op, params):
        r = apply(step_op, r, **step_params)
    return r


def _refresh_view(view: Tensor, used: bool = False) -> None:
    """Make ``view``'s history again from its base, whose history or values changed in place
    after the view was taken (PyTorch regenerates a view's grad_fn the same way). ``used``:
    the view is about to be read (not written in place, which keeps its old history in)."""
    base, op, params, taken = view._view  # type: ignore[misc]
    if not np.may_share_memory(view.data, base.data):  # the base's memory was replaced
        view._view = None
        return
    if reshaped_since(view):  # (the link stays as is: each use comes back here)
        box = version_box(base)
        if used and (base.requires_grad or base._tangents is not None) \
                and not taken + 1 == box[2] == box[0]:  # (not just the layout changed since)
            raise ChainruleError(_RESHAPED_VIEW.format(
                what="using", shape=view.shape, when=" and then changed in place"))
        return  # (an in-place change of the view is refused by Tensor._inplace_on_view)
    prev = view.grad_fn
    if used and prev is not None and prev.hooks and type(prev.hooks[0]) is _Member:
        # its new history would bypass the group: the module's backward hooks, silently
        raise ChainruleError(
            f"a tensor of shape {view.shape} that passed through a module's backward hooks (a "
            "view of the module's input, or of what its forward returned) is used after its "
            "base was modified in place; its gradient would not go through the hooks. clone() "
            "the module's output, or change the tensor out of place")
    r = view_of(base, op, params)
    node = r.grad_fn
    if prev is not None and prev.retain is not None and node is not None:
        node.retain, node.grad_dtype, prev.retain = prev.retain, prev.grad_dtype, None
    view.grad_fn, view.requires_grad, view._tangents = node, r.requires_grad, r._tangents
    view._view = (base, op, params, version_box(base)[0])


OUTPUT = -1  # in an op's ``reads``: the rule reads the op's output


def read_inputs(node: Node) -> list[int]:
    """The inputs whose values ``node``'s backward rules read (index ``len(inputs)``: its
    output): what an in-place change must not touch before backward."""
    op, parents = node.op, node.parents or ()
    reads = op.reads
    if reads is None:
        indices = list(range(len(parents))) if op.saves else []
        output = op.saves_output
    else:
        read = {j for k, p in enumerate(parents) if p is not None for j in reads[k]}
        indices = sorted(j for j in read if j != OUTPUT)
        # (an op whose reads name OUTPUT reads it only through those rules: x ** 2 does not)
        output = op.saves_output and (OUTPUT in read or not any(OUTPUT in r for r in reads))
    if output:
        indices.append(len(parents))
    return indices


def _push_tangents(op: Op, args: tuple, params: dict, result: Tensor) -> None:
    """Forward mode: tangent of the output = sum over inputs of JVP_i(tangent_i)."""
    Tensor = _tensor_cls()
    # Outer levels first: a tangent pushed at an inner level is then computed from outputs
    # that already carry their outer tangents, so it carries its own (nested jvp, jacfwd of
    # jacfwd). The inner tangents of outer tangents are never read once the inner level ends.
    for level in sorted(STATE.levels):
        pairs = [(i, a, a._tangents[level]) for i, a in enumerate(args)
                 if isinstance(a, Tensor) and a._tangents and level in a._tangents]
        if not pairs:
            continue
        lead = STATE.levels.pop(level)  # the rules must not push this level's tangents again
        try:
            total: Any = None
            for i, x, t in pairs:
                if op.elementwise and x.ndim < result.ndim:
                    t = t.reshape(t.shape[:lead] + (1,) * (result.ndim - x.ndim) + x.shape)
                c = op.jvp(i, t, result, args, params)
                total = c if total is None else total + c
            full = tuple(total.shape[:lead]) + result.shape
            if total.shape != full:
                total = total.expand(full)
        finally:
            STATE.levels[level] = lead
        if result._tangents is None:
            result._tangents = {}
        result._tangents[level] = total


# --------------------------------------------------------------------------- the walk

_FREED = (
    "Trying to backward through the graph a second time (or to read values it already freed). "
    "The saved values of '{op}' were freed after the first backward. Pass retain_graph=True "
    "to the first backward() if you need to backward through the graph again."
)


def _topological_order(roots: Sequence[Node], stop: set[Node],
                       beyond: bool = False) -> list[Node]:
    """Nodes reachable from ``roots``, each before all of its inputs' nodes (consumers first);
    no recursion. ``stop`` nodes (targets) are included but not looked through, unless
    ``beyond``: then what lies behind them is explored too (another target may be there), and
    freed nodes found only there are left out rather than an error."""
    Node_ = Node
    consumers: dict[Node, int] = {}
    stack = []
    for r in roots:
        if r not in consumers:
            consumers[r] = 0
            stack.append(r)
    behind: list[Node] = []
    get, push, pop = consumers.get, stack.append, stack.pop
    while stack:  # count each node's consumers within the graph
        node = pop()
        if stop and node in stop:
            if beyond:
                behind.append(node)
            continue
        parents = node.parents
        if parents is None:
            raise ChainruleError(_FREED.format(op=node.op.name))
        for p in parents:
            if type(p) is Node_:
                n = get(p)
                if n is None:
                    consumers[p] = 1
                    push(p)
                else:
                    consumers[p] = n + 1
    while behind:
        parents = behind.pop().parents
        for p in parents or ():
            if type(p) is Node_:
                n = consumers.get(p)
                if n is None:
                    consumers[p] = 1
                    behind.append(p)
                else:
                    consumers[p] = n + 1
    order: list[Node] = []
    ready = [r for r in consumers if consumers[r] == 0]
    add, push, pop = order.append, ready.append, ready.pop
    while ready:  # Kahn: a node is ready once all of its consumers are done
        node = pop()
        add(node)
        parents = node.parents
        if parents is None or stop and not beyond and node in stop:
            continue
        for p in parents:
            if type(p) is Node_:
                n = consumers[p] - 1
                consumers[p] = n
                if n == 0:
                    push(p)
    return order


def _leading_to(order: list[Node], stop: set[Node], leaves: set[int]) -> list[Node]:
    """The nodes of ``order`` that must run for a gradient to reach a target (a ``stop`` node
    or a leaf whose id is in ``leaves``): those with an input leading to one."""
    Node_ = Node
    reaches: set[Node] = set()
    run: set[Node] = set()
    for node in reversed(order):  # inputs first
        for p in node.parents or ():
            if p is not None and (p in reaches if type(p) is Node_ else id(p) in leaves):
                run.add(node)
                reaches.add(node)
                break
        else:
            if node in stop:
                reaches.add(node)
    return [n for n in order if n in run]


def unbroadcast(grad: Any, shape: tuple) -> Any:
    """Sum ``grad`` down to ``shape``: the chain rule through NumPy broadcasting."""
    gshape = grad.shape
    if gshape == shape:
        return grad
    lead = len(gshape) - len(shape)
    if lead >= 0 and any(s != 1 and s != gshape[i + lead] for i, s in enumerate(shape)):
        raise ChainruleError(
            f"backward: a gradient of shape {gshape} does not fit the tensor of shape {shape} it "
            "flows into (was a tensor's shape changed in place, e.g. by t_() under no_grad, "
            "after it was used?); reshape out of place (y = x.t()) instead")
    axes = tuple(range(lead)) + tuple(
        i + lead for i, s in enumerate(shape) if s == 1 and gshape[i + lead] != 1)
    if axes:
        grad = grad.sum(axis=axes)
    grad = grad.reshape(shape)
    return np.asarray(grad) if isinstance(grad, np.generic) else grad  # not a NumPy scalar


Step = Callable[[Node, int, Any, Any, Any], None]


def walk(roots: Sequence[Tensor], root_grads: Sequence[Any], *, retain_graph: bool = False,
         create_graph: bool = False, targets: Sequence[Tensor] | None = None,
         on_step: Step | None = None) -> list[Any] | None:
    """Backpropagate ``root_grads`` from ``roots`` through the recorded graph.

    Visits each node once, after every node that consumes its output, and for each input that
    requires grad computes the local contribution ``vjp_i(upstream)``, summed to the input's
    shape. ``on_step(node, i, input, upstream, contribution)`` sees every such step.

    Without ``targets`` the gradients of leaves are accumulated into their ``.grad`` (this is
    ``backward()``). With ``targets`` nothing is written; the gradients of those tensors are
    returned instead (this is ``autograd.grad`` and the transforms), and only the part of the
    graph that leads to them runs.
    """
    Tensor = _tensor_cls()
    # Upstream gradients, keyed by node, or by leaf tensor (hashed by identity).
    grads: dict[Any, Any] = {}

    def to_value(g: Any) -> Any:
        if create_graph:
            return g if isinstance(g, Tensor) else Tensor._make(np.asarray(g))
        return g.data if isinstance(g, Tensor) else g

    stop: set[Node] = set()
    if targets is not None:
        stop = {t.grad_fn for t in targets if t.grad_fn is not None}
    for r, g in zip(roots, root_grads):
        if r._view is not None and r._view[3] != version_box(r)[0] and STATE.grad_enabled:
            _refresh_view(r, True)  # a view whose base changed in place since it was taken
        if r.requires_grad:
            key: Any = r.grad_fn if r.grad_fn is not None else r
            prev = grads.get(key)
            grads[key] = to_value(g) if prev is None else prev + to_value(g)
    root_nodes = list(dict.fromkeys(r.grad_fn for r in roots if r.grad_fn is not None))
    order: Iterable[Node]
    queue: list | None = None
    if targets is None:
        # Every reachable node runs: take them by decreasing sequence number, each queued when
        # its first gradient arrives (one pass, no graph search before the walk).
        queue = [(-n.seq, n) for n in root_nodes]
        heapq.heapify(queue)
        order = _by_decreasing_seq(queue)
    else:
        # Only the nodes leading to a target run: search the graph first, then prune.
        many = len(targets) > 1  # one may lie behind another
        reachable = _topological_order(root_nodes, stop, many)
        leaves = {id(t) for t in targets if t.grad_fn is None}
        order = _leading_to(reachable, stop, leaves)
        if GradGroup.made:
            # A group that runs sees the whole gradient of each member, as backward() has it:
            # the nodes leading to its other members run too (which may bring in more groups).
            extra: set[Node] = set()
            while more := _group_members(order).difference(order, extra):
                extra |= more
                order = _leading_to(reachable, stop | extra, leaves)
            order.sort(key=_minus_seq)  # a group's members must come in a row, as in the heap
    captured: dict[Node, Any] = {}  # gradients of target nodes that also run

    prev_enabled, prev_walk = STATE.grad_enabled, STATE.walk
    STATE.grad_enabled = create_graph
    STATE.walk = (_next_walk(), grads)
    try:
        if queue is not None and not create_graph and on_step is None and not STATE.anomaly:
            _walk_plain(queue, grads, retain_graph)  # backward(): the common case, lean
            order = ()
        for node in order:
            g = grads.pop(node, None)
            if g is None:
                continue
            if stop and node in stop:
                # (before its tensor's hooks, as PyTorch captures a target that other targets
                # lie behind; one that none do gets them, below)
                captured[node] = g
            if node.hooks is not None or node.retain is not None:
                g = _run_tensor_hooks(node, g, create_graph)
            _backward_node(node, g, create_graph, retain_graph, grads, on_step, queue)
    finally:
        STATE.grad_enabled, STATE.walk = prev_enabled, prev_walk

    if targets is None:
        given = {id(g) for g in root_grads}  # arrays the caller still holds
        for x, g in grads.items():
            if type(x) is not Node:
                _accumulate_leaf(x, g, create_graph, given)
        return None
    result: list[Any] = []
    for t in targets:
        node_or_leaf: Any = t.grad_fn if t.grad_fn is not None else t
        if node_or_leaf not in captured and type(node_or_leaf) is Node:
            # a target no other target lies behind: its node did not run. As in PyTorch, its
            # tensor's hooks and retain_grad() see the gradient now, and what they return is
            # the result (once, however often the target is asked for)
            g = grads.get(node_or_leaf)
            if g is not None and (node_or_leaf.hooks is not None
                                  or node_or_leaf.retain is not None):
                g = _run_tensor_hooks(node_or_leaf, g, create_graph)
            captured[node_or_leaf] = g
        g = captured[node_or_leaf] if node_or_leaf in captured else grads.get(node_or_leaf)
        if g is not None and _dtype_of(g) != t.data.dtype:
            g = _cast(g, t.data.dtype)
        if g is not None and t.grad_fn is None and t._hooks:
            for hook in t._hooks:
                g = _apply_hook(hook, g, create_graph)
        result.append(g)
    return result


def _minus_seq(node: Node) -> int:
    return -node.seq


def _group_members(order: list[Node]) -> set[Node]:
    """The member nodes of the GradGroups that have a member in ``order``."""
    groups: dict[int, GradGroup] = {}
    for node in order:
        hooks = node.hooks
        if hooks and type(mark := hooks[0]) is _Member:
            groups[id(mark.group)] = mark.group
    return {n for group in groups.values() for n in group.members()}


def _walk_plain(queue: list, grads: dict[Any, Any], retain_graph: bool) -> None:
    """The walk of a plain ``backward()`` (no create_graph, no on_step, no anomaly mode):
    :func:`_backward_node`'s work inlined, for the nodes whose rules take arrays and whose
    inputs have not changed in place since they were recorded; the others go through it."""
    pop, push = heapq.heappop, _heappush
    Node_, ndarray, state = Node, np.ndarray, STATE
    node: Any = pop(queue)[1] if queue else None
    while node is not None:
        # The only node found while the heap is empty is the next one: it skips the heap (a
        # chain of ops never touches it). Any other find goes in, with that one.
        found: Any = None
        g = grads.pop(node)
        if node.hooks is not None or node.retain is not None:
            g = _run_tensor_hooks(node, g, False)
        op = node.op
        parents = node.parents
        if op.tensor_rules or op.variadic or node.epoch != state.epoch or parents is None:
            _backward_node(node, g, False, retain_graph, grads, None, queue)
            node = pop(queue)[1] if queue else None
            continue
        values, vjps, params = node.values, op.vjps, node.params
        out = node.out_data
        for i, p in enumerate(parents):
            if p is None:
                continue
            rule = vjps[i]
            if rule is None:
                continue
            c = rule(g, out, *values, **params) if params else rule(g, out, *values)
            if c is None:
                continue
            if type(c) is not ndarray:  # a NumPy scalar, a Tensor
                c = c.data if isinstance(c, _Tensor) else np.asarray(c)
            shape = values[i].shape  # (as recorded: t_() may have changed the input's since)
            if c.shape != shape:
                c = unbroadcast(c, shape)
            prev = grads.get(p)
            if prev is None:
                grads[p] = c
                if type(p) is Node_:
                    if found is None and not queue:
                        found = p
                    else:
                        push(queue, (-p.seq, p))
                        if found is not None:
                            push(queue, (-found.seq, found))
                            found = None
            else:
                total = prev + c
                # (two 0-d arrays add up to a NumPy scalar: a float subclass, which the next
                # rule would take as a weak Python number, in float32 for a float32 operand)
                grads[p] = total if type(total) is ndarray else np.asarray(total)
        if not retain_graph:
            node.inputs = node.values = node.parents = None
            if node.out is not None:
                node.out = node.out_data = None
        node = found if found is not None else pop(queue)[1] if queue else None


def _by_decreasing_seq(queue: list) -> Iterator[Node]:
    """Pop the nodes of the heap ``queue`` (of ``(-seq, node)``) latest first, while the walk
    pushes more (``_backward_node``)."""
    pop = heapq.heappop
    while queue:
        yield pop(queue)[1]


def _as_tensor(g: Any) -> Tensor:
    Tensor = _tensor_cls()
    return g if isinstance(g, Tensor) else Tensor._make(np.asarray(g))


def _apply_hook(hook: Callable, g: Any, create_graph: bool) -> Any:
    """The gradient after a tensor hook: the hook sees it and may return a replacement of the
    same shape (a tensor), or None to keep it."""
    gt = _as_tensor(g)
    new = hook(gt)
    if new is None:
        return g
    name = getattr(hook, "__name__", type(hook).__name__)
    if not isinstance(new, _Tensor):
        raise TypeError(f"tensor hook {name!r} returned a {type(new).__name__}; a hook returns "
                        "a tensor (the new gradient) or None (to keep the gradient)")
    if new.shape != gt.shape:
        raise ChainruleError(f"tensor hook {name!r} changed the gradient's shape from "
                             f"{gt.shape} to {new.shape}; a hook may change its values, not "
                             "its shape")
    return new if create_graph else new.data


def _run_tensor_hooks(node: Node, g: Any, create_graph: bool) -> Any:
    """Hooks registered on a non-leaf tensor see (and may replace) its gradient; after
    ``retain_grad()`` its ``.grad`` accumulates it, as a leaf's does. A GradGroup member's
    node hands over to its group, which runs them."""
    hooks = node.hooks
    if hooks and type(hooks[0]) is _Member:
        return hooks[0].group.reached(hooks[0].i, node, g, create_graph)
    return _tensor_hooks(node, g, create_graph)


def _tensor_hooks(node: Node, g: Any, create_graph: bool) -> Any:
    dtype = node.grad_dtype
    if dtype is not None and _dtype_of(g) != dtype:
        g = _cast(g, dtype)
    if node.hooks:
        for hook in node.hooks:
            if type(hook) is not _Member:
                g = _apply_hook(hook, g, create_graph)
    if node.retain is not None:
        t = node.retain()
        if t is not None:
            gt = _as_tensor(g)
            if not create_graph:
                gt = _tensor_cls()._make(np.array(gt.data))
            t.grad = gt if t.grad is None else t.grad + gt
    return g


def _backward_node(node: Node, g: Any, create_graph: bool, retain_graph: bool,
                   grads: dict[Any, Any], on_step: Step | None, queue: list | None = None) -> None:
    """One step of the chain rule: ``g`` (∂L/∂output) times each input's local derivative,
    added into ``grads`` under the input's parent (and a parent node seen for the first time
    pushed on the walk's ``queue``, if it keeps one)."""
    Tensor = _Tensor
    op = node.op
    parents = node.parents
    if parents is None:
        raise ChainruleError(_FREED.format(op=op.name))
    inputs: tuple = node.inputs  # type: ignore[assignment]
    if node.epoch != STATE.epoch:
        _check_versions(node)
    out: Any = node.out_data
    values: Any
    recorded: tuple = node.values  # type: ignore[assignment]
    if create_graph:
        values = inputs
        if node.out is not None:
            out = node.out()
            if out is None and node.out_data is not None:
                out = Tensor._make(node.out_data)
    elif op.tensor_rules:
        values = tuple(x.detach() if isinstance(x, Tensor) else x for x in inputs)
        out = None if out is None else Tensor._make(out)
        g = _as_tensor(g)
    else:
        values = node.values
    vjps: Any = op.vjps
    variadic = op.variadic
    params = node.params
    watched = STATE.anomaly or on_step is not None
    for i, p in enumerate(parents):
        if p is None:
            continue
        if variadic:
            c = vjps[0](i, g, out, *values, **params)
        else:
            rule = vjps[i]
            if rule is None:
                continue
            c = rule(g, out, *values, **params) if params else rule(g, out, *values)
        if c is None:
            continue
        if create_graph:
            if not isinstance(c, Tensor):
                c = Tensor._make(np.asarray(c))
        elif type(c) is not np.ndarray:
            # (a NumPy scalar, as a full reduction gives, would pass as a weak Python float)
            c = c.data if isinstance(c, Tensor) else np.asarray(c)
        x = inputs[i]
        shape = recorded[i].shape  # (the input's shape when recorded, as in _walk_plain)
        if c.shape != shape:
            c = unbroadcast(c, shape)
        if watched:
            if STATE.anomaly:
                _check_finite(node, i, c)
            if on_step is not None:
                on_step(node, i, x, g, c)
        prev = grads.get(p)
        if prev is None:
            grads[p] = c
            if queue is not None and type(p) is Node:
                _heappush(queue, (-p.seq, p))
        else:
            total = prev + c
            grads[p] = total if create_graph or type(total) is np.ndarray else np.asarray(total)
    if not retain_graph:
        node.inputs = node.values = node.parents = None
        if node.out is not None:
            node.out = node.out_data = None


def _check_versions(node: Node) -> None:
    """Fail if a value ``node``'s rules read was changed in place after the node was made."""
    inputs = node.inputs
    assert inputs is not None
    for k in read_inputs(node):
        x = inputs[k] if k < len(inputs) else (node.out() if node.out is not None else None)
        box = x._vbox if isinstance(x, _Tensor) else None
        if box is None and k >= len(inputs):
            box = node.out_box  # (the output's snapshot is gone; its memory may not be)
        if box is not None and box[1] > node.epoch:
            which = f"its input {k}" if k < len(inputs) else "its output"
            shape = x.shape if isinstance(x, _Tensor) else getattr(node.out_data, "shape", ())
            raise ChainruleError(
                f"one of the values needed by the backward of '{node.op.name}' ({which}, "
                f"shape {shape}) was modified by an in-place operation after '{node.op.name}' "
                f"used it (it is now at version {box[0]}). Use the out-of-place form "
                "(e.g. x = x + 1 instead of x.add_(1)) or clone() the tensor before changing it."
            )


def _check_finite(node: Node, i: int, c: Any) -> None:
    arr = c.data if isinstance(c, _tensor_cls()) else np.asarray(c)
    if arr.dtype.kind == "f" and not np.all(np.isfinite(arr)):
        where = "".join(node.stack[-4:]) if node.stack else ""
        raise ChainruleError(
            f"detect_anomaly: the backward of '{node.op.name}' produced NaN or inf in the "
            f"gradient of its input {i} (shape {arr.shape}).\nThe forward call was:\n{where}"
        )


def _dtype_of(g: Any) -> np.dtype:
    return g.data.dtype if isinstance(g, _Tensor) else np.asarray(g).dtype


def _cast(g: Any, dtype: np.dtype) -> Any:
    """A gradient in ``dtype`` (its tensor's: PyTorch gives a float32 tensor a float32
    gradient even when it met float64 values), recorded under create_graph."""
    return g.to(dtype) if isinstance(g, _Tensor) else np.asarray(g).astype(dtype)


def _accumulate_leaf(x: Tensor, g: Any, create_graph: bool, given: set[int]) -> None:
    # (``x._grad``, not the checked ``grad`` property: the walk made g of x's shape)
    Tensor = _tensor_cls()
    dtype = x.data.dtype
    if (g.dtype if type(g) is np.ndarray else _dtype_of(g)) != dtype:
        g = _cast(g, dtype)
    for hook in x._hooks or ():
        g = _apply_hook(hook, g, create_graph)
    prev = x._grad
    if create_graph:
        g = _as_tensor(g)
        x._grad = g if prev is None else prev + g
        return
    if isinstance(g, Tensor):
        g = g.data
    if prev is None:
        # Keep the buffer if this walk made it and nobody else holds it (a rule may pass its
        # upstream array through unchanged, to several inputs; a view shares another's memory).
        owned = (type(g) is np.ndarray and g.base is None and g.flags.writeable
                 and g.dtype == dtype and id(g) not in given)
        given.add(id(g))
        x._grad = Tensor._make(g if owned else np.array(g, dtype=dtype, copy=True))
    elif prev.requires_grad or prev.data.shape != g.shape:
        x._grad = Tensor._make(np.asarray(prev.data + g))  # (0-d + 0-d: a NumPy scalar)
    else:
        prev.data += g


# --------------------------------------------------------------------------- gradient groups

class GradGroup:
    """Tensors whose gradients one callback sees together and may replace, once per backward
    walk: a module's outputs (for its backward pre-hooks) or its inputs (its backward hooks).

    :meth:`join` passes each tensor through an identity node, all made in a row, so no other
    node's sequence number falls between theirs. The consumers of those tensors are made
    later, and the walk runs nodes by decreasing sequence number, so when it reaches the first
    member, every gradient bound for any member has arrived: each member's own tensor hooks
    and ``retain_grad()`` see its gradient then (as PyTorch runs them all before its single
    node), the callback sees the results (None for a member no gradient reached), and what it
    returns is what each member passes on when the walk reaches it.
    """

    made = False  # set once any group exists: the walk towards targets then sorts its order

    def __init__(self, callback: Callable[[tuple], Sequence | None]) -> None:
        self.callback = callback
        # weak: a member node holds the group (in its hooks), which must not keep it alive
        self.nodes: list[weakref.ref | None] = []
        self.fired = -1  # the number of the walk in which the callback last ran
        self.passed: list[Any] = []  # what each member passes on in that walk

    def join(self, tensors: Sequence[Tensor]) -> list[Tensor]:
        """The members: ``tensors`` passed through identity nodes (those needing no gradient
        pass unchanged and get None)."""
        from .ops.shape import identity

        members = []
        for t in tensors:
            m = identity(t) if t.requires_grad else t
            self.enrol(m.grad_fn if t.requires_grad else None, t.data.dtype)
            members.append(m)
        return members

    def enrol(self, node: Node | None, dtype: np.dtype) -> None:
        """Make ``node`` (the output node of a tensor of ``dtype``; None for a tensor needing
        no gradient) the next member. Members must be recorded in a row (see the class)."""
        GradGroup.made = True
        if node is not None:
            node.hooks = [_Member(self, len(self.nodes))]  # type: ignore[list-item]
            node.grad_dtype = dtype
        self.nodes.append(None if node is None else weakref.ref(node))

    def members(self) -> list[Node]:
        return [n for n in (r() for r in self.nodes if r is not None) if n is not None]

    def reached(self, i: int, node: Node, g: Any, create_graph: bool) -> Any:
        """The gradient member ``i`` (``node``) passes on, given the ``g`` it received; the
        first member the walk reaches runs the callback for all."""
        walk_state = STATE.walk
        if walk_state is None:  # (not in a walk: no group to see)
            return _tensor_hooks(node, g, create_graph)
        if walk_state[0] == self.fired:
            passed, self.passed[i] = self.passed[i], None  # (not kept after the walk: with
            return g if passed is None else passed        # create_graph, a reference cycle)
        self.fired, table = walk_state
        seen = []
        for j, ref in enumerate(self.nodes):
            member = node if j == i else None if ref is None else ref()
            v = g if j == i else None if member is None else table.get(member)
            seen.append(None if v is None or member is None
                        else _tensor_hooks(member, v, create_graph))
        grads = tuple(None if v is None else _as_tensor(v) for v in seen)
        self.passed = seen
        new = self.callback(grads)
        for j, (old, rep) in enumerate(zip(grads, new or ())):
            if rep is None or rep is old:
                continue
            if old is None:
                raise ChainruleError(f"a backward hook returned a gradient for position {j}, "
                                     "which receives none (None there: it does not require "
                                     "grad, or no gradient reached it)")
            if not isinstance(rep, _Tensor) or rep.shape != old.shape:
                got = rep.shape if isinstance(rep, _Tensor) else type(rep).__name__
                raise ChainruleError(f"a backward hook returned {got} at position {j}, where "
                                     f"the gradient is a tensor of shape {old.shape}; return "
                                     "a tensor of that shape, or None to keep it")
            seen[j] = rep if create_graph else rep.data
        mine, seen[i] = seen[i], None
        return mine


class _Member:
    """The first hook of a group member's node: it marks the node as member ``i`` of
    ``group`` (see :func:`_run_tensor_hooks`), and goes when hooks are cleared, as by
    ``explain()``."""

    __slots__ = ("group", "i")

    def __init__(self, group: GradGroup, i: int) -> None:
        self.group, self.i = group, i
