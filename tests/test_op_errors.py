"""Bad input to ops: chainrule's own exception, naming the op, the shapes and what to do.

Every case checks that the exception is chainrule's (``OpError``, ``OpIndexError`` or a
``TypeError``), that its message names the op and the facts (shapes, the dim, the index), and
that it is raised by chainrule's code with no NumPy traceback chained to it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr

SRC = Path(cr.__file__).resolve().parent

X = cr.tensor(np.ones((2, 3, 4)), requires_grad=True)
M = cr.tensor(np.ones((3, 5)))

# (id, call, exception type, substrings that the message must contain)
CASES: list[tuple[str, Callable[[], object], type, tuple[str, ...]]] = [
    # shapes that don't broadcast: the op and both shapes
    ("add", lambda: X + cr.ones(2, 4), cr.OpError, ("add", "(2, 3, 4)", "(2, 4)", "broadcast")),
    ("mul", lambda: cr.mul(X, cr.ones(5)), cr.OpError, ("mul", "(2, 3, 4)", "(5,)")),
    ("sub reversed", lambda: cr.ones(5) - X, cr.OpError, ("sub", "(5,)", "(2, 3, 4)")),
    ("div", lambda: X / cr.ones(3), cr.OpError, ("div", "(2, 3, 4)", "(3,)")),
    ("pow", lambda: X ** cr.ones(2), cr.OpError, ("pow", "(2, 3, 4)", "(2,)")),
    ("maximum", lambda: cr.maximum(X, M), cr.OpError, ("maximum", "(2, 3, 4)", "(3, 5)")),
    ("atan2", lambda: cr.atan2(X, cr.ones(2)), cr.OpError, ("atan2", "(2, 3, 4)", "(2,)")),
    ("where", lambda: cr.where(cr.ones(2, 2) > 0, X, 0.0), cr.OpError,
     ("where", "(2, 2)", "(2, 3, 4)")),
    ("lerp", lambda: cr.lerp(X, cr.ones(5), 0.5), cr.OpError, ("lerp", "(2, 3, 4)", "(5,)")),
    ("masked_fill", lambda: cr.masked_fill(X, cr.ones(2, 2) > 0, 0.0), cr.OpError,
     ("masked_fill", "(2, 2)", "(2, 3, 4)")),
    ("expand", lambda: cr.ones(3, 2).expand(3, 4), cr.OpError, ("expand", "(3, 2)", "(3, 4)")),
    ("broadcast_to fewer dims", lambda: cr.broadcast_to(X, (3, 4)), cr.OpError,
     ("expand", "(2, 3, 4)", "(3, 4)")),
    # matmul and friends
    ("matmul", lambda: cr.matmul(X, M), cr.OpError,
     ("matmul", "(2, 3, 4)", "(3, 5)", "cannot be multiplied")),
    ("matmul operator", lambda: X @ M, cr.OpError, ("matmul", "(2, 3, 4)", "(3, 5)")),
    ("matmul batch", lambda: cr.matmul(X, cr.ones(3, 4, 2)), cr.OpError,
     ("matmul", "(2, 3, 4)", "(3, 4, 2)", "batch")),
    ("matmul scalar", lambda: cr.matmul(X, cr.tensor(2.0)), cr.OpError, ("matmul", "()")),
    ("mm", lambda: cr.mm(M, M), cr.OpError, ("mm", "(3, 5)")),
    ("mm 3-D", lambda: cr.mm(X, M), cr.OpError, ("mm", "(2, 3, 4)")),
    ("bmm", lambda: cr.bmm(X, X), cr.OpError, ("bmm", "(2, 3, 4)")),
    ("dot", lambda: cr.dot(cr.ones(3), cr.ones(4)), cr.OpError, ("dot", "(3,)", "(4,)")),
    ("mv", lambda: cr.mv(M, cr.ones(3)), cr.OpError, ("mv", "(3, 5)", "(3,)")),
    ("einsum sizes", lambda: cr.einsum("ij,jk->ik", M, M), cr.OpError,
     ("einsum", "'j'", "(3, 5)")),
    ("einsum operands", lambda: cr.einsum("ij,jk->ik", M), cr.OpError, ("einsum", "operand")),
    ("solve", lambda: cr.linalg.solve(cr.eye(3), cr.ones(4, 2)), cr.OpError,
     ("solve", "(3, 3)", "(4, 2)")),
    ("inv not square", lambda: cr.linalg.inv(M), cr.OpError, ("inv", "(3, 5)", "square")),
    ("inv singular", lambda: cr.linalg.inv(cr.zeros(3, 3)), cr.OpError,
     ("inv", "ingular", "(3, 3)")),
    ("cholesky not positive definite", lambda: cr.linalg.cholesky(-cr.eye(3)), cr.OpError,
     ("cholesky", "positive", "(3, 3)")),
    ("det not square", lambda: cr.linalg.det(cr.ones(2, 3)), cr.OpError, ("det", "(2, 3)")),
    # dims out of range
    ("sum dim", lambda: cr.sum(X, 3), cr.OpIndexError, ("sum", "dim 3", "-3 to 2")),
    ("sum dims", lambda: X.sum((0, -4)), cr.OpIndexError, ("sum", "dim -4")),
    ("sum repeated dim", lambda: X.sum((0, -3)), cr.OpError, ("sum", "twice")),
    ("mean axis", lambda: cr.mean(X, axis=5), cr.OpIndexError, ("mean", "dim 5")),
    ("var", lambda: cr.var(X, 3), cr.OpIndexError, ("var", "dim 3")),
    ("amax", lambda: cr.amax(X, -4), cr.OpIndexError, ("amax", "dim -4")),
    ("max dim", lambda: cr.max(X, 3), cr.OpIndexError, ("max", "dim 3")),
    ("argmax", lambda: cr.argmax(X, 3), cr.OpIndexError, ("argmax", "dim 3")),
    ("prod", lambda: cr.prod(X, 3), cr.OpIndexError, ("prod", "dim 3")),
    ("logsumexp", lambda: cr.logsumexp(X, 3), cr.OpIndexError, ("logsumexp", "dim 3")),
    ("norm", lambda: cr.norm(X, 2, 3), cr.OpIndexError, ("norm", "dim 3")),
    ("cumsum", lambda: cr.cumsum(X, 3), cr.OpIndexError, ("cumsum", "dim 3")),
    ("cumprod", lambda: X.cumprod(-4), cr.OpIndexError, ("cumprod", "dim -4")),
    ("softmax", lambda: cr.softmax(X, -4), cr.OpIndexError, ("softmax", "dim -4")),
    ("log_softmax", lambda: cr.log_softmax(X, 3), cr.OpIndexError, ("log_softmax", "dim 3")),
    ("transpose", lambda: X.transpose(0, 3), cr.OpIndexError, ("transpose", "dim 3")),
    ("transpose 1-D", lambda: cr.transpose(cr.ones(3), 0, 1), cr.OpIndexError,
     ("transpose", "dim 1")),
    ("permute", lambda: X.permute(0, 1, 3), cr.OpIndexError, ("permute", "dim 3")),
    ("permute repeats", lambda: X.permute(0, 0, 1), cr.OpError, ("permute", "(0, 0, 1)")),
    ("movedim", lambda: cr.movedim(X, 3, 0), cr.OpIndexError, ("movedim", "dim 3")),
    ("squeeze", lambda: cr.squeeze(X, 3), cr.OpIndexError, ("squeeze", "dim 3")),
    ("unsqueeze", lambda: X.unsqueeze(4), cr.OpIndexError, ("unsqueeze", "dim 4")),
    ("flatten", lambda: X.flatten(0, 3), cr.OpIndexError, ("flatten", "dim 3")),
    ("unflatten", lambda: cr.unflatten(X, 1, (2, 2)), cr.OpError,
     ("unflatten", "(2, 2)", "3")),
    ("cat dim", lambda: cr.cat([X, X], 3), cr.OpIndexError, ("cat", "dim 3")),
    ("cat shapes", lambda: cr.cat([X, cr.ones(2, 2, 4)], 2), cr.OpError,
     ("cat", "(2, 3, 4)", "(2, 2, 4)")),
    ("stack dim", lambda: cr.stack([X, X], 4), cr.OpIndexError, ("stack", "dim 4")),
    ("stack shapes", lambda: cr.stack([X, M]), cr.OpError, ("stack", "(2, 3, 4)", "(3, 5)")),
    ("split dim", lambda: cr.split(X, 2, 3), cr.OpIndexError, ("split", "dim 3")),
    ("split sizes", lambda: cr.split(X, [1, 1], 1), cr.OpError, ("split", "[1, 1]", "3")),
    ("split size 0", lambda: cr.split(X, 0, 1), cr.OpError, ("split", "positive")),
    ("chunk 0", lambda: cr.chunk(X, 0, 1), cr.OpError, ("chunk", "positive")),
    ("flip", lambda: cr.flip(X, (0, 3)), cr.OpIndexError, ("flip", "dim 3")),
    ("roll dim", lambda: cr.roll(X, 1, 3), cr.OpIndexError, ("roll", "dim 3")),
    ("roll lengths", lambda: cr.roll(X, (1, 2), (0,)), cr.OpError, ("roll", "(1, 2)", "(0,)")),
    ("index_select dim", lambda: cr.index_select(X, 3, cr.tensor([0])), cr.OpIndexError,
     ("index_select", "dim 3")),
    ("gather dim", lambda: cr.gather(X, 3, cr.zeros(2, 3, 4, dtype=cr.int64)), cr.OpIndexError,
     ("gather", "dim 3")),
    # reshapes
    ("reshape", lambda: X.reshape(5, 5), cr.OpError, ("reshape", "(2, 3, 4)", "(5, 5)")),
    ("view two -1", lambda: X.view(-1, -1), cr.OpError, ("reshape", "(-1, -1)")),
    ("repeat", lambda: X.repeat(2), cr.OpError, ("repeat", "3")),
    ("pad", lambda: cr.pad(X, (1, 1, 1)), cr.OpError, ("pad", "(1, 1, 1)")),
    # bad indices
    ("getitem int", lambda: X[2], cr.OpIndexError, ("getitem", "index 2", "size 2")),
    ("getitem negative", lambda: X[:, -4], cr.OpIndexError, ("getitem", "-4", "size 3")),
    ("getitem array", lambda: X[:, np.array([0, 3])], cr.OpIndexError,
     ("getitem", "index 3", "size 3")),
    ("getitem tensor", lambda: X[cr.tensor([0, 5])], cr.OpIndexError, ("getitem", "index 5")),
    ("getitem mask", lambda: X[np.array([True, False, True])], cr.OpIndexError,
     ("getitem", "boolean", "(2, 3, 4)")),
    ("getitem float", lambda: X[1.5], cr.OpIndexError, ("getitem", "(2, 3, 4)")),
    ("getitem float tensor", lambda: X[cr.tensor([0.0, 1.0])], cr.OpIndexError,
     ("index", "integer or bool")),
    ("too many indices", lambda: X[0, 0, 0, 0], cr.OpIndexError, ("index", "too many", "3")),
    ("two ellipses", lambda: X[..., 0, ...], cr.OpIndexError, ("index", "ellipsis")),
    ("setitem", lambda: X.detach().clone().__setitem__(5, 1.0), cr.OpIndexError,
     ("index_put", "5")),
    ("index_select", lambda: cr.index_select(X, 1, cr.tensor([0, 3])), cr.OpIndexError,
     ("index_select", "index 3", "size 3")),
    ("index_select 2-D", lambda: cr.index_select(X, 1, cr.tensor([[0, 1]])), cr.OpError,
     ("index_select", "(1, 2)")),
    ("index_select float", lambda: cr.index_select(X, 1, cr.tensor([0.0])), cr.OpError,
     ("index_select", "integer")),
    ("gather", lambda: cr.gather(X, 2, cr.tensor(np.full((2, 3, 4), 4))), cr.OpIndexError,
     ("gather", "index 4", "size 4")),
    ("gather shape", lambda: cr.gather(X, 2, cr.zeros(3, 3, 4, dtype=cr.int64)), cr.OpError,
     ("gather", "(3, 3, 4)", "(2, 3, 4)")),
    ("take_along_dim", lambda: cr.take_along_dim(X, cr.tensor([[[5]]]), 2), cr.OpIndexError,
     ("take_along_dim", "index 5", "size 4")),
    ("take_along_dim dims", lambda: cr.take_along_dim(X, cr.tensor([0]), 2), cr.OpError,
     ("take_along_dim", "(1,)", "(2, 3, 4)")),
    ("scatter_add index", lambda: cr.scatter_add(X, 2, cr.tensor(np.full((2, 3, 1), 4)),
                                                 cr.ones(2, 3, 1)), cr.OpIndexError,
     ("scatter_add", "index 4", "size 4")),
    ("scatter_add src", lambda: cr.scatter_add(X, 2, cr.zeros(2, 3, 2, dtype=cr.int64),
                                               cr.ones(2, 3, 1)), cr.OpError,
     ("scatter_add", "(2, 3, 2)", "(2, 3, 1)")),
    # arguments of the wrong kind
    ("add a string", lambda: cr.add(X, "a"), TypeError, ("add",)),
    ("dim of the wrong type", lambda: cr.sum(X, 1.5), TypeError, ("sum", "float")),
    ("clamp without bounds", lambda: cr.clamp(X), cr.OpError, ("clamp", "min")),
    ("norm p", lambda: cr.norm(X, "nuc"), cr.OpError, ("norm", "'nuc'")),
    ("gelu approximate", lambda: cr.gelu(X, approximate="fast"), cr.OpError, ("gelu", "'fast'")),
    ("mean of ints", lambda: cr.mean(cr.tensor([1, 2])), TypeError, ("mean", "int64")),
    ("axis and dim", lambda: cr.sum(X, dim=0, axis=1), TypeError, ("sum", "axis")),
]


@pytest.mark.parametrize("call,exc_type,needles", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_error_message(call, exc_type, needles):
    with pytest.raises(Exception) as info:
        call()
    e = info.value
    assert isinstance(e, exc_type), f"{type(e).__module__}.{type(e).__name__}: {e}"
    assert isinstance(e, (cr.OpError, cr.OpIndexError, TypeError)), type(e)
    msg = str(e)
    for needle in needles:
        assert needle in msg, f"{needle!r} not in the message: {msg}"
    # raised by chainrule, not a NumPy error passing through (nor one chained to ours)
    last = Path(info.traceback[-1].path).resolve()
    assert SRC in last.parents, f"raised in {last}, not in chainrule"
    assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__), \
        f"a {type(e.__context__).__name__} is chained to the error"


def test_error_types_are_standard_ones():
    # code that catches ValueError / IndexError keeps working
    assert issubclass(cr.OpError, ValueError)
    assert issubclass(cr.OpIndexError, IndexError)


def test_params_in_messages_are_short():
    with pytest.raises(cr.OpIndexError) as info:
        X[np.arange(1000) % 3]
    assert len(str(info.value)) < 300, str(info.value)


def test_outer_of_a_matrix_is_refused_as_in_pytorch():
    with pytest.raises(cr.OpError, match=r"outer: expected 1-D argument self, but got 2-D "
                                         r"\(shape \(2, 3\)\)"):
        cr.outer(cr.ones(2, 3), cr.ones(3))
    with pytest.raises(cr.OpError, match="argument vec2"):
        cr.ger(cr.ones(3), cr.ones(1, 3))
    assert cr.outer(cr.ones(2), cr.arange(3.0)).tolist() == [[0.0, 1.0, 2.0]] * 2


@pytest.mark.parametrize("call, error, words", [
    (lambda: cr.ones(6).reshape(2.0, 3), TypeError, "reshape: the sizes of a shape must be "
                                                    "integers, got (2.0, 3)"),
    (lambda: cr.ones(2, 3).expand(2.5, 3), TypeError, "expand: the sizes"),
    (lambda: cr.where(cr.tensor([1.0, 0.0]), cr.ones(2), cr.zeros(2)), TypeError,
     "where: expected the condition to be a boolean tensor, but got dtype float32"),
    (lambda: cr.ones(3).masked_fill(cr.tensor([1, 0, 1]), 0.0), TypeError,
     "masked_fill: the mask must be a boolean tensor, got dtype int64"),
    (lambda: cr.arange(5, 0), ValueError, "arange: the range from 5 to 0 runs against the step"),
    (lambda: cr.arange(0, 1, -0.5), ValueError, "runs against the step -0.5")])
def test_inputs_pytorch_refuses_are_refused_not_reinterpreted(call, error, words):
    with pytest.raises(error) as info:
        call()
    assert words in str(info.value)
    # (what is allowed stays so: an int tensor as a size, an empty range, a negative step)
    assert cr.ones(6).reshape(cr.tensor(2), 3).shape == (2, 3)
    assert cr.arange(3, 3).shape == (0,) and cr.arange(3, 0, -1).tolist() == [3, 2, 1]
