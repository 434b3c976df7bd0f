"""Activation checkpointing: trade compute for memory, as ``torch.utils.checkpoint``.

``checkpoint(f, x)`` returns ``f(x)`` without keeping the values ``f``'s ops saved for backward:
the graph keeps one node for the whole of ``f`` (holding only its inputs), and backward runs
``f`` again to get them back, with the random state of the first run (so dropout draws the same
mask). Results and gradients are those of ``f(x)`` itself.

How: the forward runs ``f`` once recording, to find the tensors requiring grad that ``f`` reads
besides its arguments (a module's parameters, a tensor it closes over), then drops that graph,
so ``f``'s saved values are freed as soon as it returns (they exist while ``f`` runs, one
segment at a time). The call is recorded as a ``cr.autograd.Function`` whose inputs are the
arguments and those tensors: backward, ``cr.autograd.grad`` and hooks see it as one op.

Differences from PyTorch: ``use_reentrant`` selects nothing (there is one implementation,
which works with ``autograd.grad``, ``backward(inputs=...)`` and ``create_graph=True`` either
way; with ``use_reentrant=True`` keyword arguments are refused, as in PyTorch). Differentiating
twice works when the tensors the function reads besides its arguments are leaves (a module's
parameters); one computed outside it (a non-leaf it closes over) is then refused with an error
saying to pass it as an argument.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ..autograd.function import Function, FunctionCtx
from ..engine import STATE, ChainruleError, Node, _next_seq, enable_grad, walk
from ..func import _LEAF, _tree_flatten, _unflatten
from ..random import default_generator
from ..tensor import Tensor

__all__ = ["checkpoint", "checkpoint_sequential"]


def checkpoint(function: Callable, *args: Any, use_reentrant: bool = False,
               preserve_rng_state: bool = True, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)``, recomputed at backward instead of keeping what its ops
    saved (see the module docstring)."""
    if not callable(function):
        raise TypeError(f"checkpoint: expected a function to run, got {type(function).__name__}")
    if use_reentrant and kwargs:
        raise ValueError("checkpoint: Unexpected keyword arguments: " + ",".join(kwargs)
                         + " (use_reentrant=True takes positional arguments only; pass "
                         "use_reentrant=False to give keyword arguments)")
    if not STATE.grad_enabled:
        return function(*args, **kwargs)
    segment = _Segment(function, args, kwargs, preserve_rng_state)
    outs = segment.run_first()
    if segment.externals is None:  # nothing in it requires grad: no node
        return outs
    tensors = [a for a in args if isinstance(a, Tensor)]
    return _unflatten(segment.spec, _Checkpoint.apply(segment, *tensors, *segment.externals))


def checkpoint_sequential(functions: Any, segments: int, input: Any,
                          use_reentrant: bool = False, **kwargs: Any) -> Any:
    """Run the modules (or functions) of ``functions`` (an ``nn.Sequential`` or a list) one
    after another, cut into ``segments`` chunks of ``len // segments`` (the last takes the
    rest); every chunk but the last is checkpointed, as in PyTorch."""
    from ..nn.modules.container import Sequential

    fns = list(functions.children()) if isinstance(functions, Sequential) else list(functions)
    if not isinstance(segments, int) or segments < 1:
        raise ValueError(f"checkpoint_sequential: segments must be a positive int, got "
                         f"{segments!r}")
    preserve = kwargs.pop("preserve_rng_state", True)
    if kwargs:
        raise ValueError("checkpoint_sequential: Unexpected keyword arguments: "
                         + ",".join(kwargs))
    size = len(fns) // segments
    start = 0
    for _ in range(segments - 1):
        if size == 0:
            break
        chunk = fns[start:start + size]
        input = checkpoint(_chain(chunk), input, use_reentrant=use_reentrant,
                           preserve_rng_state=preserve)
        start += size
    return _chain(fns[start:])(input)


def _chain(fns: Sequence[Callable]) -> Callable:
    def run(x: Any) -> Any:
        for f in fns:
            x = f(x)
        return x

    return run


# --------------------------------------------------------------------------- the segment

class _Segment:
    """One checkpointed call: the function, its arguments, the random state before it. Its
    outputs may be nested tuples, lists and dicts: they are handled as their leaves (``spec``
    rebuilds them)."""

    def __init__(self, function: Callable, args: tuple, kwargs: dict, preserve: bool) -> None:
        self.function, self.args, self.kwargs = function, args, kwargs
        self.rng = default_generator._snapshot() if preserve else None
        self.externals: list[Tensor] | None = None
        self.outputs: list | None = None  # (until _Checkpoint takes them)
        self.spec = _LEAF  # (the structure of the outputs, set by run_first)
        self.meta: list = []

    def leaves(self) -> list:
        """The arguments as fresh leaves (same memory, cut from their history)."""
        fresh = []
        for a in self.args:
            if isinstance(a, Tensor):
                t = a.detach()
                t.requires_grad = a.requires_grad
                fresh.append(t)
            else:
                fresh.append(a)
        return fresh

    def run_first(self) -> Any:
        """Run the function recording, note what it reads, return its outputs cut from that
        graph (which goes with them)."""
        start = _next_seq()
        leaves = self.leaves()
        with enable_grad():
            out = self.function(*leaves, **self.kwargs)
        outs, _, self.spec = _tree_flatten(out)
        own = {id(t) for t in leaves if isinstance(t, Tensor)}
        externals = _read_tensors(outs, start, own)
        self.outputs = [o.detach() if isinstance(o, Tensor) else o for o in outs]
        self.meta = [(o.shape, o.dtype) if isinstance(o, Tensor) else None for o in outs]
        if externals or any(isinstance(o, Tensor) and o.requires_grad for o in outs):
            self.externals = externals
        return _unflatten(self.spec, self.outputs)

    def run_again(self, tensors: Sequence[Tensor],
                  connected: bool = False) -> tuple[list, list]:
        """Backward: the function run again on fresh leaves of ``tensors`` (the arguments as
        saved), with the first run's random state; returns (its outputs, the leaves).
        ``connected`` (create_graph): instead of leaves, copies recorded from ``tensors``
        (``clone``), so that the gradients, built on them, differentiate again into the
        arguments' history, while the walk can still stop at them."""
        it = iter(tensors)
        fresh = []
        for a in self.args:
            if isinstance(a, Tensor):
                saved = next(it)
                if connected and saved.requires_grad:
                    t = saved.clone()
                else:
                    t = saved.detach()
                    t.requires_grad = a.requires_grad
                fresh.append(t)
            else:
                fresh.append(a)
        with _random_state(self.rng), enable_grad():
            outs = _tree_flatten(self.function(*fresh, **self.kwargs))[0]
        again = [(o.shape, o.dtype) if isinstance(o, Tensor) else None for o in outs]
        if again != self.meta:
            raise ChainruleError(
                "checkpoint: the function gave different outputs when recomputed for backward "
                f"(first {self.meta}, now {again}); a checkpointed function must compute the "
                "same shapes each time (no data-dependent control flow, no state it changes)")
        return outs, [t for t in fresh if isinstance(t, Tensor)]


def _read_tensors(outs: list, start: int, own: set[int]) -> list[Tensor]:
    """The tensors requiring grad that the graph of ``outs`` reads from outside the segment
    (made before node number ``start``, or leaves), other than the segment's own inputs."""
    found: dict[int, Tensor] = {}
    stack: list[Node] = []
    for o in outs:
        if not isinstance(o, Tensor) or not o.requires_grad:
            continue
        if o.grad_fn is not None and o.grad_fn.seq > start:
            stack.append(o.grad_fn)
        elif id(o) not in own:
            found.setdefault(id(o), o)
    seen: set[Node] = set()
    while stack:
        node = stack.pop()
        for x, p in zip(node.inputs or (), node.parents or ()):
            if p is None:
                continue
            if type(p) is Node and p.seq > start:
                if p not in seen:
                    seen.add(p)
                    stack.append(p)
            elif id(x) not in own:
                found.setdefault(id(x), x)
    return list(found.values())


@contextmanager
def _random_state(state: Any) -> Iterator[None]:
    """Run with the global generator at ``state`` (None: as it is), then put it back: the
    recomputation draws the first run's numbers and leaves the stream where it was."""
    if state is None:
        yield
        return
    now = default_generator._snapshot()
    default_generator._restore(state)
    try:
        yield
    finally:
        default_generator._restore(now)


@contextmanager
def _as_leaves(tensors: Sequence[Tensor]) -> Iterator[None]:
    """Tensors read from outside the segment seen as leaves while it is recomputed, so that
    the walk stops at them (their own history is the enclosing backward's business), and
    without their leaf hooks (which the enclosing backward runs)."""
    kept = [(t, t.grad_fn, t._hooks) for t in tensors]
    for t in tensors:
        t.grad_fn, t._hooks = None, None
    try:
        yield
    finally:
        for t, node, hooks in kept:
            t.grad_fn, t._hooks = node, hooks


class _Checkpoint(Function):
    """The checkpointed call as one op: inputs = the arguments, then the tensors it reads;
    outputs = the leaves of the function's outputs."""

    @staticmethod
    def forward(ctx: FunctionCtx, segment: _Segment, *tensors: Tensor) -> Any:
        ctx.segment = segment
        n_args = len(tensors) - len(segment.externals or [])
        ctx.save_for_backward(*tensors[:n_args])
        ctx.set_materialize_grads(False)
        outputs, segment.outputs = segment.outputs, None  # (kept, they would make a cycle)
        return tuple(outputs or ())

    @staticmethod
    def backward(ctx: FunctionCtx, *grads: Any) -> Any:
        segment: _Segment = ctx.segment
        externals = segment.externals or []
        create_graph = STATE.grad_enabled  # (backward runs rules with grad mode on only then)
        if create_graph:
            _check_leaf_externals(externals)
        with _as_leaves(externals):
            outs, fresh = segment.run_again(ctx.saved_tensors, connected=create_graph)
            roots, seeds = [], []
            for o, g in zip(outs, grads):
                if g is not None and isinstance(o, Tensor) and o.requires_grad:
                    roots.append(o)
                    seeds.append(g if create_graph else g.data)
            targets = [t for t in fresh if t.requires_grad] + externals
            # (create_graph keeps the recomputed graph: the gradients are built on it)
            result = walk(roots, seeds, targets=targets, create_graph=create_graph,
                          retain_graph=create_graph) if roots and targets else None
        found = iter(result or [None] * len(targets))
        input_grads = [next(found) if t.requires_grad else None for t in fresh]
        ext_grads = [next(found) for _ in externals]
        return (None, *[_tensor(g) for g in input_grads + ext_grads])


def _check_leaf_externals(externals: Sequence[Tensor]) -> None:
    """With create_graph, the recomputation sees the tensors the function reads from outside
    its arguments as leaves: exact for parameters, but a second derivative would stop at a
    tensor computed outside (and miss its history), so that case is refused."""
    for t in externals:
        if t.grad_fn is not None:
            raise ChainruleError(
                "checkpoint: differentiating twice (create_graph=True) through a checkpointed "
                f"function that reads a tensor of shape {t.shape} computed outside it (not one "
                "of its arguments, not a leaf such as a parameter) is not supported; pass that "
                "tensor to the function as an argument instead")


def _tensor(g: Any) -> Tensor | None:
    return g if g is None or isinstance(g, Tensor) else Tensor._make(g)
