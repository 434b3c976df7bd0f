"""``cr.autograd.Function``: an op defined by a forward and a backward written with tensors, as
``torch.autograd.Function``.

>>> import chainrule as cr
>>> class MyExp(cr.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         y = x.exp()
...         ctx.save_for_backward(y)
...         return y
...     @staticmethod
...     def backward(ctx, g):
...         (y,) = ctx.saved_tensors
...         return g * y
>>> x = cr.tensor(0.0, requires_grad=True)
>>> y = MyExp.apply(x)
>>> y.grad_fn
<MyExpBackward>
>>> y.backward()
>>> x.grad
tensor(1.)

How it sits on the engine: each class gets one :class:`~chainrule.ops.registry.Op` of the
custom-op kind (rules that take tensors and the input index), and each call records one engine
:class:`~chainrule.engine.Node` per differentiable output, so backward, the transforms and the
explanation tools see it like any op. A node's inputs end with the call's ``ctx`` (an input no
gradient goes to), so the saved tensors go when backward frees the node. With several outputs
the nodes form a :class:`~chainrule.engine.GradGroup`: the walk reaches them after every
gradient bound for any of them has arrived, and the first one reached calls ``backward`` once
with all of them (the others pass nothing on).
"""

from __future__ import annotations

import functools
import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..engine import (
    STATE,
    ChainruleError,
    GradGroup,
    Node,
    _refresh_view,
    bump_version,
    no_grad,
    version_box,
)
from ..ops.registry import Op
from ..tensor import Tensor

_FREED = ("Trying to backward through the graph a second time (or directly access saved "
          "tensors after they have already been freed): the saved tensors of {name} were "
          "freed by the first backward. Pass retain_graph=True to the first backward() if you "
          "need to backward through the graph again or read saved tensors after it.")

_VIEW_INPLACE = ("Output {k} of {name} is a view and is being modified inplace. This view was "
                 "created inside a custom Function (or because an input was returned as-is) "
                 "and the autograd logic to handle view+inplace would override the custom "
                 "backward associated with the custom Function, leading to incorrect "
                 "gradients. This behavior is forbidden. You can fix this by cloning the "
                 "output of the custom Function.")


class _Saved:
    """One tensor of ``save_for_backward``, with its in-place version when saved. An output
    of the same call is held weakly (it holds the node, which holds the ctx: a strong
    reference would make a cycle), with its values to fall back on once it is gone."""

    __slots__ = ("tensor", "ref", "data", "box", "version")

    def __init__(self, t: Tensor, is_output: bool) -> None:
        self.tensor = None if is_output else t
        self.ref = weakref.ref(t) if is_output else None
        self.data = t.data
        self.box = version_box(t)
        self.version = self.box[0]

    def unpack(self) -> Tensor:
        t = self.tensor if self.ref is None else self.ref()
        if t is None:  # (the output is gone: its values, without history)
            t = Tensor._make(self.data)
            t._vbox = self.box
        return t


class FunctionCtx:
    """The ``ctx`` of a :class:`Function` call: what forward leaves for backward (saved tensors
    and any attributes set on it), and what backward needs to know (``needs_input_grad``)."""

    needs_input_grad: tuple[bool, ...]

    if TYPE_CHECKING:  # any attribute may be set on a ctx, for backward to read
        def __getattr__(self, name: str) -> Any: ...

        def __setattr__(self, name: str, value: Any) -> None: ...

    def __init__(self, name: str) -> None:
        self.needs_input_grad = ()
        self._name = name  # "MyExpBackward"
        self._to_save: tuple = ()
        self._saved: list[_Saved | None] | None = None  # packed once forward has returned
        self._saved_forward: tuple = ()
        self._in_jvp = False
        self._dirty: tuple = ()
        self._non_differentiable: tuple = ()
        self._materialize = True
        self._nodes: list[weakref.ref | None] = []  # per output: its node (None: no gradient)
        self._walk: int | None = None  # the walk in which backward last ran ...
        self._carrier = -1  # ... the output whose node ran it there ...
        self._input_grads: tuple | None = None  # ... and the gradients it gave
        self._group: GradGroup | None = None
        self._group_grads: tuple = ()

    # ------------------------------------------------------------------ what forward calls
    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep tensors (inputs, outputs or intermediates; None allowed) for backward, which
        reads them as ``ctx.saved_tensors``. Changing one in place before backward is an
        error there."""
        _check_tensors(tensors, "save_for_backward")
        self._to_save = tensors

    def save_for_forward(self, *tensors: Tensor | None) -> None:
        """Keep tensors for ``jvp``, which reads them as ``ctx.saved_tensors``."""
        _check_tensors(tensors, "save_for_forward")
        self._saved_forward = tensors

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Declare inputs that forward changed in place (and returns): they take this call as
        their history, as after an in-place op."""
        _check_tensors(tensors, "mark_dirty", allow_none=False)
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Declare outputs that have no gradient (indices, masks): they do not require grad, and
        backward receives zeros for them."""
        _check_tensors(tensors, "mark_non_differentiable", allow_none=False)
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """``False``: backward receives None (not zeros) for an output no gradient reached."""
        self._materialize = bool(value)

    # ------------------------------------------------------------------ what backward reads
    @property
    def saved_tensors(self) -> tuple:
        """The tensors given to ``save_for_backward`` (in ``jvp``: to ``save_for_forward``)."""
        if self._in_jvp:
            return tuple(self._saved_forward)
        if self._saved is None:  # (still in forward)
            return tuple(self._to_save)
        if self._freed():
            raise ChainruleError(_FREED.format(name=self._name))
        for k, s in enumerate(self._saved):
            if s is not None and s.box[0] != s.version:
                t = s.unpack()
                raise ChainruleError(
                    f"{self._name}: one of the tensors needed for gradient computation (saved "
                    f"tensor {k}, shape {t.shape}, {t.dtype}) has been modified by an inplace "
                    f"operation: it is at version {s.box[0]}; expected version {s.version} "
                    "instead. Use the out-of-place form (e.g. x = x + 1 instead of "
                    "x.add_(1)), or clone() the tensor before changing it.")
        return tuple(None if s is None else s.unpack() for s in self._saved)

    def _freed(self) -> bool:
        """Did a backward without retain_graph free this call's graph (any of its nodes)?"""
        return any(r is not None and (n := r()) is not None and n.parents is None
                   for r in self._nodes)

    # ------------------------------------------------------------------ the engine's rule
    def _input_grad(self, fn: type[Function], i: int, k: int, g: Any) -> Any:
        """The gradient for input ``i`` that output ``k``'s node passes on, given that
        output's gradient ``g``. Backward runs once per walk, at the first node reached."""
        walk = STATE.walk
        wid = None if walk is None else walk[0]
        if wid is None or self._walk != wid:
            grads = self._run_backward(fn, k, g, walk)
            if wid is None:  # (called outside a walk, as by the explanation tools)
                return grads[i]
            self._walk, self._carrier, self._input_grads = wid, k, grads
        if k != self._carrier or self._input_grads is None:
            return None
        c = self._input_grads[i]
        if i == self._last_input:
            self._input_grads = None  # (do not keep the gradients after the walk)
        return c

    def _output_grads(self, k: int, g: Any, walk: tuple | None) -> list:
        """The gradient of each output: ``g`` for output ``k``, the others from the group (its
        members' hooks have run) or the walk's table."""
        n = len(self._meta_out)
        grads: list = [None] * n
        group = self._group
        if group is not None and walk is not None and group.fired == walk[0]:
            for pos, v in zip(self._member_pos, self._group_grads):
                grads[pos] = v
            self._group_grads = ()  # (with create_graph they lead back to this call: a cycle)
        else:
            for pos, ref in enumerate(self._nodes):
                node = None if ref is None else ref()
                if node is not None and walk is not None:
                    grads[pos] = walk[1].get(node)
        grads[k] = g
        for pos, (v, meta) in enumerate(zip(grads, self._meta_out)):
            if v is not None:
                v = v if isinstance(v, Tensor) else Tensor._make(np.asarray(v))
                if v.dtype != meta[1]:
                    v = v.to(meta[1])
            elif self._materialize and meta is not _NOT_A_TENSOR:
                v = Tensor._make(np.zeros(meta[0], dtype=meta[1]))
            grads[pos] = v
        return grads

    def _run_backward(self, fn: type[Function], k: int, g: Any, walk: tuple | None) -> tuple:
        grads_out = self._output_grads(k, g, walk)
        result = _backward_method(fn)(self, *grads_out)
        return self._checked_input_grads(result)

    def _checked_input_grads(self, result: Any) -> tuple:
        """``backward``'s result as one gradient per input, checked as PyTorch checks it."""
        if not isinstance(result, (tuple, list)):
            result = (result,)
        n = len(self._meta_in)
        if len(result) < n or any(r is not None for r in result[n:]):
            raise ChainruleError(f"function {self._name} returned an incorrect number of "
                                 f"gradients (expected {n}, got {len(result)}); backward "
                                 "returns one gradient per input of forward (None for an "
                                 "input without one)")
        grads: list[Tensor | None] = []
        for j, (r, meta) in enumerate(zip(result, self._meta_in)):
            if r is None:
                grads.append(None)
                continue
            if meta is _NOT_A_TENSOR:
                raise ChainruleError(
                    f"function {self._name} returned a gradient different than None at "
                    f"position {j + 1}, but the corresponding forward input was not a tensor; "
                    "return None there")
            if not isinstance(r, Tensor):
                raise ChainruleError(
                    f"function {self._name} returned a {type(r).__name__} as the gradient of "
                    f"input {j}: expected a tensor or None")
            shape, dtype, needed = meta
            if not needed:
                grads.append(None)
                continue
            if r.shape != shape and not _sums_down_to(r.shape, shape):
                raise ChainruleError(
                    f"Function {self._name} returned an invalid gradient at index {j} - got "
                    f"{list(r.shape)} but expected shape compatible with {list(shape)}")
            grads.append(r if r.dtype == dtype else r.to(dtype))
        return tuple(grads)

    # set by _apply
    _meta_in: list
    _meta_out: list
    _member_pos: list[int]
    _last_input: int


_NOT_A_TENSOR: Any = None  # (the metadata of an input or output that is not a tensor)


def _check_tensors(tensors: Sequence[Any], what: str, allow_none: bool = True) -> None:
    for k, t in enumerate(tensors):
        if not isinstance(t, Tensor) and not (allow_none and t is None):
            raise TypeError(f"{what} takes tensors{' (or None)' if allow_none else ''}, but "
                            f"argument {k} is of type {type(t).__name__}")


def _sums_down_to(shape: tuple, target: tuple) -> bool:
    """Does ``target`` broadcast to ``shape`` (so a gradient of ``shape`` sums down to it)?"""
    try:
        return np.broadcast_shapes(shape, target) == shape
    except ValueError:
        return False


# --------------------------------------------------------------------------- Function

class Function:
    """Subclass with ``@staticmethod forward(ctx, *args)`` and ``backward(ctx, *grads)`` (or
    ``forward(*args)`` with ``setup_context(ctx, inputs, output)``), optionally ``jvp(ctx,
    *tangents)`` for forward mode; call it as ``MyFn.apply(*args)``. As in PyTorch: forward
    runs under no_grad; backward returns one gradient per forward input (None for a
    non-tensor or one without); written with chainrule ops, it is differentiable again
    (``create_graph=True``). One difference: instantiating the class is an error (PyTorch
    warns that it will become one).
    """

    _op: Op | None = None

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"{cls.__name__} is a cr.autograd.Function, whose methods are all "
                           f"static: do not instantiate it, call {cls.__name__}.apply(...)")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._op = None
        if "forward" in cls.__dict__ and not _new_style(cls):
            cls.forward = staticmethod(  # type: ignore[method-assign]
                _guarded_forward(cls, cls.__dict__["forward"]))

    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom "
                                  "autograd.Function (a @staticmethod forward(ctx, *args)).")

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple, output: Any) -> None:
        raise NotImplementedError("setup_context is not defined")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD.")

    vjp = backward

    @staticmethod
    def jvp(ctx: FunctionCtx, *grad_inputs: Any) -> Any:
        raise NotImplementedError(
            "You must implement the jvp function for custom autograd.Function to use it with "
            "forward mode AD (cr.jvp, cr.jacfwd, cr.hessian).")

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run forward (under no_grad) and record the call for backward."""
        return _apply(cls, args, kwargs)


def _new_style(cls: Any) -> bool:
    """Does ``cls`` define setup_context (forward then takes no ctx)?"""
    return cls.setup_context is not Function.setup_context


def _backward_method(cls: type[Function]) -> Callable:
    backward = cls.backward
    return cls.vjp if backward is Function.backward else backward


def _guarded_forward(cls: type, forward: Any) -> Callable:
    """A forward(ctx, ...) that explains a direct call ``MyFn.forward(x)``."""
    fn = forward.__func__ if isinstance(forward, staticmethod) else forward

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if not args or isinstance(args[0], Tensor):
            raise TypeError(f"{cls.__name__}.forward was called directly, without a ctx: call "
                            f"{cls.__name__}.apply(...) instead, which makes the ctx and "
                            "records the call for backward")
        return fn(*args, **kwargs)

    return guarded


def _op_of(cls: type[Function]) -> Op:
    """The class's op: custom-op rules (tensors in, the input index first), no input values
    read by the engine (saved tensors are checked by ctx.saved_tensors)."""
    op = cls.__dict__.get("_op")
    if op is None:
        op = Op(cls.__name__, _not_callable, (_rule,), "", tensor_rules=True, variadic=True,
                saves=False, doc=cls.__doc__ or "")
        cls._op = op
    return op


def _not_callable(*args: Any, **kwargs: Any) -> Any:
    raise TypeError("a cr.autograd.Function's op runs through Function.apply only")


def _rule(i: int, g: Any, out: Any, *inputs: Any, _output: int, _fn: type[Function]) -> Any:
    ctx: FunctionCtx = inputs[-1]  # (the node's last input: see the module docstring)
    return ctx._input_grad(_fn, i, _output, g)


# --------------------------------------------------------------------------- apply

def _apply(cls: type[Function], args: tuple, kwargs: dict) -> Any:
    if kwargs:  # (as PyTorch: keyword arguments bound to forward's positional parameters)
        args = _bind(cls, args, kwargs)
    name = cls.__name__ + "Backward"
    ctx = FunctionCtx(name)
    recording = STATE.grad_enabled
    parents: list = []
    for a in args:
        if isinstance(a, Tensor):
            if a._view is not None and a._view[3] != version_box(a)[0] and recording:
                _refresh_view(a, True)  # its base changed in place since it was taken
            parents.append((a.grad_fn or a) if recording and a.requires_grad else None)
        else:
            parents.append(None)
    ctx.needs_input_grad = tuple(p is not None for p in parents)
    raw = _run_forward(cls, ctx, args)
    several = isinstance(raw, (tuple, list))
    outs = list(raw) if several else [raw]
    dirty = _take_dirty(ctx, args, outs, recording)
    outs = _fresh_outputs(outs, args, dirty)
    record = any(p is not None for p in parents)
    if record:
        _record(cls, ctx, args, parents, outs, raw if several else [raw])
    _pack_saved(ctx, outs)
    if STATE.levels and any(isinstance(a, Tensor) and a._tangents for a in args):
        _push_tangents(cls, ctx, args, outs, raw if several else [raw])
    return type(raw)(outs) if several else outs[0]


def _bind(cls: type[Function], args: tuple, kwargs: dict) -> tuple:
    forward = inspect.unwrap(cls.forward)
    sig = inspect.signature(forward)
    params = list(sig.parameters.values())
    if not _new_style(cls):
        params = params[1:]  # (ctx)
    try:
        bound = sig.replace(parameters=params).bind(*args, **kwargs)
    except TypeError as e:
        raise TypeError(f"{cls.__name__}.apply: {e}") from None
    bound.apply_defaults()
    return tuple(bound.args) + tuple(bound.kwargs.values())


def _run_forward(cls: type[Function], ctx: FunctionCtx, args: tuple) -> Any:
    """forward under no_grad and without forward-mode levels (jvp adds the tangents)."""
    levels = STATE.levels
    STATE.levels = {}
    try:
        with no_grad():
            if _new_style(cls):
                out = cls.forward(*args)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args)
    finally:
        STATE.levels = levels
    return out


def _take_dirty(ctx: FunctionCtx, args: tuple, outs: list, recording: bool) -> tuple:
    """Check the tensors of ``mark_dirty`` (inputs, changed in place, returned) and count
    the change in their version."""
    dirty = ctx._dirty
    for d in dirty:
        if not any(d is a for a in args):
            raise ChainruleError(f"{ctx._name[:-8]}.forward: mark_dirty was given a tensor of "
                                 f"shape {d.shape} that is not an input; only inputs that "
                                 "forward changes in place are marked dirty")
        if not any(d is o for o in outs):
            raise ChainruleError(
                "Some elements marked as dirty during the forward method were not returned as "
                "output. The inputs that are modified inplace must all be outputs of the "
                f"Function ({ctx._name[:-8]}): return the changed input itself")
        if recording and d.requires_grad and d.grad_fn is None:
            raise ChainruleError(
                f"{ctx._name[:-8]}: a leaf tensor that requires grad has been used in an "
                "in-place operation (mark_dirty); clone() it before passing it in")
        if recording and d.requires_grad and d._view is not None:
            raise ChainruleError(
                f"{ctx._name[:-8]}: mark_dirty on a view (a tensor of shape {d.shape} sharing "
                "memory with another) is not supported in chainrule; clone() it first, or "
                "change it out of place")
        bump_version(d)
    return dirty


def _fresh_outputs(outs: list, args: tuple, dirty: tuple) -> list:
    """The outputs as new tensors where forward returned one with a history of its own (an
    input, a view, a tensor that requires grad): a tensor sharing its memory and in-place
    version, which this call's node becomes the history of (changing it in place while
    recording is refused, as in PyTorch: see _VIEW_INPLACE). A dirty input stays itself."""
    fresh = []
    for o in outs:
        if isinstance(o, Tensor) and not any(o is d for d in dirty) and (
                o.requires_grad or o._view is not None or any(o is a for a in args)):
            alias = Tensor._make(o.data)
            alias._vbox = version_box(o)
            o = alias
        fresh.append(o)
    return fresh


def _record(cls: type[Function], ctx: FunctionCtx, args: tuple, parents: list, outs: list,
            given: list) -> None:
    """One node per differentiable output (all made in a row), sharing the inputs."""
    op = _op_of(cls)
    non_diff = ctx._non_differentiable
    inputs = (*args, ctx)
    values = tuple(a.data if isinstance(a, Tensor) else a for a in args) + (None,)
    node_parents = (*parents, None)
    ctx._meta_in = [(a.shape, a.dtype, p is not None) if isinstance(a, Tensor) else
                    _NOT_A_TENSOR for a, p in zip(args, parents)]
    ctx._last_input = max(j for j, p in enumerate(parents) if p is not None)
    ctx._meta_out = [(o.shape, o.dtype) if isinstance(o, Tensor) else _NOT_A_TENSOR
                     for o in outs]
    members: list[tuple[Node, Tensor]] = []
    ctx._member_pos = []
    for k, (o, g) in enumerate(zip(outs, given)):
        differentiable = isinstance(o, Tensor) and o.dtype.kind == "f" and not any(
            g is t or o is t for t in non_diff)
        if not differentiable:
            ctx._nodes.append(None)
            continue
        node = Node(op, inputs, values, node_parents, {"_output": k, "_fn": cls}, None)
        if o is not g:  # (an alias made by _fresh_outputs: PyTorch's "view" output)
            node.no_inplace = _VIEW_INPLACE.format(k=k, name=cls.__name__)
        o.grad_fn = node
        o.requires_grad = True
        ctx._nodes.append(weakref.ref(node))
        ctx._member_pos.append(k)
        members.append((node, o))
    if len(members) > 1:
        group = ctx._group = GradGroup(functools.partial(_keep_group_grads, weakref.ref(ctx)))
        for node, o in members:
            group.enrol(node, o.data.dtype)


def _keep_group_grads(ctx_ref: weakref.ref, grads: tuple) -> None:
    """The group's callback: the outputs' gradients (after their hooks), for backward."""
    ctx = ctx_ref()
    if ctx is not None:
        ctx._group_grads = grads


def _pack_saved(ctx: FunctionCtx, outs: list) -> None:
    """The saved tensors with their versions now (after forward's own in-place changes)."""
    ctx._saved = [None if t is None else _Saved(t, any(t is o and o.grad_fn is not None
                                                        for o in outs))
                  for t in ctx._to_save]
    ctx._to_save = ()


# --------------------------------------------------------------------------- forward mode

def _push_tangents(cls: type[Function], ctx: FunctionCtx, args: tuple, outs: list,
                   given: list) -> None:
    """Forward mode: the outputs' tangents from ``jvp(ctx, *input_tangents)``, one level at a
    time, outer levels first (as the engine pushes them through built-in ops)."""
    levels = STATE.levels
    for level in sorted(levels):
        tangents = [a._tangents.get(level) if isinstance(a, Tensor) and a._tangents else None
                    for a in args]
        if all(t is None for t in tangents):
            continue
        if cls.jvp is Function.jvp:
            Function.jvp(ctx)  # (raises: no jvp defined)
        lead = levels.pop(level)  # the jvp's own ops must not push this level again
        try:
            results = _jvp_batched(cls, ctx, args, tangents, outs, lead)
        finally:
            levels[level] = lead
        for o, t in zip(outs, results):
            if isinstance(o, Tensor) and o.dtype.kind == "f" and t is not None:
                if o._tangents is None:
                    o._tangents = {}
                o._tangents[level] = t


def _jvp_batched(cls: type[Function], ctx: FunctionCtx, args: tuple, tangents: list,
                 outs: list, lead: int) -> list:
    """``jvp`` per basis vector when the tangents carry leading batch dimensions (jacfwd):
    a user's jvp is written for one tangent."""
    if lead == 0:
        return _jvp_once(cls, ctx, args, tangents, outs)
    batch = next(t for t in tangents if t is not None).shape[:lead]
    n = int(np.prod(batch))
    flat = [None if t is None else t.reshape((n,) + t.shape[lead:]) for t in tangents]
    rows = [_jvp_once(cls, ctx, args, [None if t is None else t[b] for t in flat], outs)
            for b in range(n)]
    from ..functional import stack

    results: list = []
    for k, o in enumerate(outs):
        col = [r[k] for r in rows]
        results.append(None if col[0] is None else stack(col).reshape(batch + o.shape))
    return results


def _jvp_once(cls: type[Function], ctx: FunctionCtx, args: tuple, tangents: list,
              outs: list) -> list:
    # (a tensor input without a tangent gets zeros, as in PyTorch)
    full = [Tensor._make(np.zeros(a.shape, dtype=a.dtype)) if t is None and isinstance(
        a, Tensor) and a.dtype.kind == "f" else t for a, t in zip(args, tangents)]
    ctx._in_jvp = True
    try:
        res = cls.jvp(ctx, *full)
    finally:
        ctx._in_jvp = False
    res_list = list(res) if isinstance(res, (tuple, list)) else [res]
    name = cls.__name__
    if len(res_list) != len(outs):
        raise ChainruleError(f"{name}.jvp returned {len(res_list)} tangents for "
                             f"{len(outs)} outputs; return one per output of forward")
    for k, (t, o) in enumerate(zip(res_list, outs)):
        if t is None or not isinstance(o, Tensor):
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}.jvp returned a {type(t).__name__} as the tangent of "
                            f"output {k}: expected a tensor (or None)")
        if t.shape != o.shape:
            raise ChainruleError(f"{name}.jvp returned a tangent of shape {t.shape} for "
                                 f"output {k} of shape {o.shape}; it must have the output's "
                                 "shape")
    return res_list


# --------------------------------------------------------------------------- once_differentiable

def once_differentiable(backward: Callable) -> Callable:
    """Decorate a ``backward`` that is not differentiable (it uses NumPy, say): it runs under
    no_grad, and differentiating its result again (``create_graph=True``) raises."""

    @functools.wraps(backward)
    def wrapper(ctx: FunctionCtx, *grads: Any) -> Any:
        with no_grad():
            result = backward(ctx, *grads)
        if not STATE.grad_enabled or not any(
                isinstance(g, Tensor) and g.requires_grad for g in grads):
            return result
        name = getattr(ctx, "_name", "backward")
        several = isinstance(result, (tuple, list))
        # (the upstream gradients as the error node's inputs: it is reached exactly when a
        # derivative of the result with respect to them is asked for)
        upstream = [g for g in grads if isinstance(g, Tensor) and g.requires_grad]
        wrapped = [_DelayedError.apply(r, name, *upstream) if isinstance(r, Tensor) else r
                   for r in (result if several else [result])]
        return tuple(wrapped) if several else wrapped[0]

    return wrapper


class _DelayedError(Function):
    """The identity, whose backward refuses: the result of a once_differentiable backward."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, name: str, *upstream: Tensor) -> Tensor:
        ctx.fn_name = name
        return x

    @staticmethod
    def backward(ctx: FunctionCtx, g: Tensor) -> Any:
        raise ChainruleError(
            "trying to differentiate twice a function that was marked with "
            f"@once_differentiable ({ctx.fn_name}); remove the decorator and write its "
            "backward with chainrule ops to differentiate it again")
