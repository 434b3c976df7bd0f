"""cr.func.vmap against torch.func.vmap: in_dims and out_dims (ints, negative, None,
pytrees), chunk_size, nesting, gradients through it and inside it (per-sample gradients,
grad/jacrev/jacfwd of a vmapped function, central differences), the randomness modes, and
torch's errors."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, TORCH_DTYPE, close

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")
tfunc = torch.func

RTOL = TOL[np.float64]
Pair = namedtuple("Pair", "a b")


def both(*shape: int, seed: int = 0, dtype: Any = np.float64) -> tuple[Any, Any]:
    """The same random values as a chainrule and a torch tensor."""
    a = np.random.default_rng(seed).normal(size=shape).astype(dtype)
    return cr.tensor(a), torch.tensor(a)


def close_tree(actual: Any, expected: Any, rtol: float, what: str = "") -> None:
    """Same structure (container types and keys) and close leaves."""
    if isinstance(expected, dict):
        assert type(actual) is type(expected) and list(actual) == list(expected), what
        for k in expected:
            close_tree(actual[k], expected[k], rtol, f"{what}[{k!r}]")
    elif isinstance(expected, (tuple, list)):
        assert type(actual).__name__ == type(expected).__name__, what
        assert len(actual) == len(expected), what
        for i, (a, e) in enumerate(zip(actual, expected)):
            close_tree(a, e, rtol, f"{what}[{i}]")
    else:
        close(actual, expected, rtol, what)


# --------------------------------------------------------------------------- in_dims / out_dims

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_multiple_args_mixed_in_dims_match_torch(dtype: Any) -> None:
    rtol = TOL[dtype]
    cx, tx = both(4, 3, seed=1, dtype=dtype)
    cy, ty = both(3, 5, 4, seed=2, dtype=dtype)   # mapped along dim -1 (size 4)
    cw, tw = both(3, seed=3, dtype=dtype)          # not mapped

    def f(lib: Any) -> Any:
        def inner(x: Any, y: Any, w: Any, scale: float, *, shift: Any) -> Any:
            return lib.tanh(x * w * scale) @ y + shift
        return inner

    c = cr.func.vmap(f(cr), in_dims=(0, -1, None, None))(cx, cy, cw, 2.0, shift=cw[0])
    t = tfunc.vmap(f(torch), in_dims=(0, -1, None, None))(tx, ty, tw, 2.0, shift=tw[0])
    assert c.dtype == np.dtype(dtype)
    close(c, t, rtol, "mixed in_dims")
    # an int in_dims maps every argument along that dim
    close(cr.vmap(lambda a, b: a * b, in_dims=1)(cy, cy), tfunc.vmap(
        lambda a, b: a * b, in_dims=1)(ty, ty), rtol, "in_dims=1")
    # it is the loop: vmap(f)(x)[i] == f(x[i])
    loop = cr.stack([f(cr)(cx[i], cy[..., i], cw, 2.0, shift=cw[0]) for i in range(4)])
    np.testing.assert_array_equal(c.data, loop.data)


def test_out_dims_match_torch() -> None:
    cx, tx = both(4, 3, 2, seed=4)
    for out_dims in [0, 1, 2, -1, -3, (1,)]:
        close(cr.vmap(lambda a: a * 2, out_dims=out_dims)(cx),
              tfunc.vmap(lambda a: a * 2, out_dims=out_dims)(tx), RTOL, f"out_dims={out_dims}")
    # per output, in the outputs' structure; an int covers a whole subtree
    def f(lib: Any) -> Any:
        return lambda a: (a.sin(), {"s": a.sum(), "l": [a, lib.exp(a[0])]})

    for out_dims in [(0, {"s": -1, "l": 1}), (-1, {"s": 0, "l": [1, 0]}), (2, {"s": 0, "l": 1})]:
        close_tree(cr.vmap(f(cr), out_dims=out_dims)(cx),
                   tfunc.vmap(f(torch), out_dims=out_dims)(tx), RTOL, f"out_dims={out_dims}")
    # an output that does not depend on the batch is broadcast, or returned as is with None
    close(cr.vmap(lambda a: cr.ones(2))(cx), tfunc.vmap(lambda a: torch.ones(2))(tx), RTOL)
    c = cr.vmap(lambda a: (a, cr.ones(2), 3), out_dims=(0, None, None))(cx)
    t = tfunc.vmap(lambda a: (a, torch.ones(2), 3), out_dims=(0, None, None))(tx)
    close_tree(c[:2], t[:2], RTOL, "out_dims None")
    assert c[2] == t[2] == 3
    assert cr.vmap(lambda a: None, out_dims=None)(cx) is None
    assert tfunc.vmap(lambda a: None, out_dims=None)(tx) is None


def test_pytree_inputs_and_outputs_match_torch() -> None:
    cx, tx = both(3, 4, seed=5)
    cb, tb = both(4, seed=6)
    cz, tz = both(2, 3, seed=7)

    def f(lib: Any) -> Any:
        def inner(d: dict, seq: list, p: Pair) -> Any:
            h = d["x"] * d["b"] + seq[0].sum() * seq[1]
            return {"h": h, "pair": Pair(h.sum(), p.a + p.b), "list": [lib.cos(h)]}
        return inner

    in_dims = ({"x": 0, "b": None}, [-1, None], Pair(1, None))
    c = cr.vmap(f(cr), in_dims=in_dims)({"x": cx, "b": cb}, [cz, cb], Pair(cz, cz[0, 0]))
    t = tfunc.vmap(f(torch), in_dims=in_dims)({"x": tx, "b": tb}, [tz, tb], Pair(tz, tz[0, 0]))
    close_tree(c, t, RTOL, "pytrees")
    assert type(c["pair"]) is Pair
    # a dict of in_dims is matched by key (torch 2.13 goes by position, a key order mismatch
    # silently maps the wrong entry)
    c = cr.vmap(f(cr), in_dims=in_dims)({"b": cb, "x": cx}, [cz, cb], Pair(cz, cz[0, 0]))
    close_tree(c, t, RTOL, "dict in_dims by key")
    # an int in_dim maps every tensor of the argument; an empty container is fine
    close_tree(cr.vmap(lambda d, e: d["p"] - d["q"], in_dims=(0, 0))({"p": cx, "q": cx * 3}, {}),
               tfunc.vmap(lambda d, e: d["p"] - d["q"], in_dims=(0, 0))(
                   {"p": tx, "q": tx * 3}, {}), RTOL, "int over a dict")
    assert cr.vmap(lambda a: ())(cx) == tfunc.vmap(lambda a: ())(tx) == ()
    # None and other non-tensors are passed through with a None in_dim
    close(cr.vmap(lambda a, n, s: a if n is None and s == "s" else -a, in_dims=(0, None, None))(
        cx, None, "s"), tx, RTOL, "pass-through")


def test_chunk_size_gives_the_same_result() -> None:
    cx, tx = both(7, 3, seed=8)
    expected = tfunc.vmap(lambda a: a.cumsum(0) * a, chunk_size=3)(tx)
    for chunk in [None, 1, 3, 7, 100]:
        close(cr.vmap(lambda a: a.cumsum(0) * a, chunk_size=chunk)(cx), expected, RTOL,
              f"chunk_size={chunk}")


def test_nested_vmap_matches_torch() -> None:
    cx, tx = both(4, 3, seed=9)
    cy, ty = both(5, 3, seed=10)
    # all pairs: the outer maps x, the inner maps y
    c = cr.vmap(cr.vmap(lambda a, b: (a * b).sum(), in_dims=(None, 0)), in_dims=(0, None))(cx, cy)
    t = tfunc.vmap(tfunc.vmap(lambda a, b: (a * b).sum(), in_dims=(None, 0)),
                   in_dims=(0, None))(tx, ty)
    assert c.shape == (4, 5)
    close(c, t, RTOL, "outer product")
    c2 = cr.vmap(cr.vmap(lambda a: a.exp(), in_dims=1, out_dims=1), in_dims=-1, out_dims=0)
    t2 = tfunc.vmap(tfunc.vmap(lambda a: a.exp(), in_dims=1, out_dims=1), in_dims=-1, out_dims=0)
    cz, tz = both(2, 3, 4, seed=11)
    close(c2(cz), t2(tz), RTOL, "nested dims")


def test_function_results_are_real_python() -> None:
    """(A difference from torch: it is a loop, so .item() and branching on values work.)"""
    cx, _ = both(5, 3, seed=12)
    out = cr.vmap(lambda a: a if a.sum().item() > 0 else -a)(cx)
    expected = np.stack([r if r.sum() > 0 else -r for r in cx.data])
    np.testing.assert_array_equal(out.data, expected)
    # the mapped samples are views: an in-place change reaches the input, as in torch
    cz, tz = cr.zeros(3, 2), torch.zeros(3, 2)
    cr.vmap(lambda a: a.add_(1))(cz)
    tfunc.vmap(lambda a: a.add_(1))(tz)
    close(cz, tz, RTOL, "in place")
    assert cr.vmap(test_function_results_are_real_python).__name__ == (
        "test_function_results_are_real_python")


def test_batch_of_size_zero_matches_torch() -> None:
    c = cr.vmap(lambda a: (a * 2, {"s": a.sum()}))(cr.zeros(0, 3))
    t = tfunc.vmap(lambda a: (a * 2, {"s": a.sum()}))(torch.zeros(0, 3))
    close_tree(c, t, RTOL, "size 0")
    c = cr.vmap(lambda a: a.sum(0), in_dims=1, out_dims=-1)(cr.zeros(2, 0, 3, dtype=cr.float32))
    t = tfunc.vmap(lambda a: a.sum(0), in_dims=1, out_dims=-1)(torch.zeros(2, 0, 3))
    close(c, t, RTOL, "size 0 dims")
    assert c.dtype == np.float32


# --------------------------------------------------------------------------- gradients

class CrNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(3, 4)
        self.fc2 = nn.Linear(4, 2)

    def forward(self, x: Any) -> Any:
        return self.fc2(cr.tanh(self.fc1(x)))


class TorchNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(3, 4)
        self.fc2 = torch.nn.Linear(4, 2)

    def forward(self, x: Any) -> Any:
        return self.fc2(torch.tanh(self.fc1(x)))


def nets(dtype: Any = np.float64) -> tuple[Any, Any]:
    torch.manual_seed(0)
    tm = TorchNet().to(TORCH_DTYPE[dtype])
    cm = CrNet().double() if dtype == np.float64 else CrNet()
    cm.load_state_dict({k: cr.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return cm, tm


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_per_sample_gradients_match_torch(dtype: Any) -> None:
    rtol = TOL[dtype]
    cm, tm = nets(dtype)
    cx, tx = both(6, 3, seed=13, dtype=dtype)
    cy, ty = both(6, 2, seed=14, dtype=dtype)
    cp = {k: v.detach() for k, v in cm.named_parameters()}
    tp = {k: v.detach() for k, v in tm.named_parameters()}

    def closs(p: dict, x: Any, y: Any) -> Any:
        return cr.nn.functional.mse_loss(cr.func.functional_call(cm, p, (x[None],)), y[None])

    def tloss(p: dict, x: Any, y: Any) -> Any:
        return torch.nn.functional.mse_loss(tfunc.functional_call(tm, p, (x[None],)), y[None])

    cg = cr.vmap(cr.func.grad(closs), in_dims=(None, 0, 0))(cp, cx, cy)
    tg = tfunc.vmap(tfunc.grad(tloss), in_dims=(None, 0, 0))(tp, tx, ty)
    close_tree(cg, tg, rtol, "per-sample grads")
    assert cg["fc1.weight"].shape == (6, 4, 3)
    # and grad_and_value, chunked
    cgv = cr.vmap(cr.func.grad_and_value(closs), in_dims=(None, 0, 0), chunk_size=4)(cp, cx, cy)
    tgv = tfunc.vmap(tfunc.grad_and_value(tloss), in_dims=(None, 0, 0), chunk_size=4)(tp, tx, ty)
    close_tree(cgv, tgv, rtol, "per-sample grad_and_value")


def test_gradients_through_vmap_match_torch() -> None:
    cw, tw = both(3, seed=15)
    cx, tx = both(5, 3, seed=16)

    def f(lib: Any) -> Any:
        return lambda w, x: lib.sin(w * x).sum() * (w ** 2).sum()

    def outer(lib: Any, vmap: Any, grad: Any) -> Any:
        return grad(lambda w: vmap(f(lib), in_dims=(None, 0))(w, cx if lib is cr else tx).sum())

    close(outer(cr, cr.vmap, cr.func.grad)(cw), outer(torch, tfunc.vmap, tfunc.grad)(tw), RTOL,
          "grad of vmap")
    # backward through vmap: input and parameter gradients
    cm, tm = nets()
    cxr = cx.detach().requires_grad_()
    txr = tx.detach().requires_grad_()
    (cr.vmap(cm)(cxr) ** 2).sum().backward()
    (tfunc.vmap(tm)(txr) ** 2).sum().backward()
    close(cxr.grad, txr.grad, RTOL, "input grad")
    for (k, cp), (_, tp) in zip(cm.named_parameters(), tm.named_parameters()):
        close(cp.grad, tp.grad, RTOL, f"parameter grad {k}")
    # central differences, first and second order, with the vmap inside
    x = cr.tensor(cx.data, requires_grad=True)
    w = cr.tensor(cw.data, requires_grad=True)
    fn = cr.vmap(f(cr), in_dims=(None, 0))
    assert cr.gradcheck(lambda w, x: fn(w, x), (w, x))
    assert cr.gradgradcheck(lambda w, x: fn(w, x), (w, x))
    assert cr.gradcheck(lambda x: cr.vmap(lambda a: a.exp(), in_dims=1, out_dims=-1)(x), (x,))


def test_jacobians_of_vmap_match_torch() -> None:
    cx, tx = both(4, 3, seed=17)

    def f(lib: Any) -> Any:
        return lambda a: lib.tanh(a) * a.sum()

    for cjac, tjac in [(cr.func.jacrev, tfunc.jacrev), (cr.func.jacfwd, tfunc.jacfwd)]:
        close(cjac(cr.vmap(f(cr)))(cx), tjac(tfunc.vmap(f(torch)))(tx), RTOL, cjac.__name__)
        # per-sample Jacobians and Hessians
        close(cr.vmap(cjac(f(cr)))(cx), tfunc.vmap(tjac(f(torch)))(tx), RTOL,
              f"vmap({cjac.__name__})")
    close(cr.vmap(cr.func.hessian(lambda a: (a ** 3).sum() * a[0]))(cx),
          tfunc.vmap(tfunc.hessian(lambda a: (a ** 3).sum() * a[0]))(tx), RTOL, "hessian")


# --------------------------------------------------------------------------- randomness

RANDOM_OPS = {
    "rand": lambda a: a + cr.rand(2),
    "randn": lambda a: a + cr.randn(2, dtype=cr.float64),
    "randn_like": lambda a: a + cr.randn_like(a),
    "normal": lambda a: a + cr.normal(0.0, 1.0, (2,)),
    "bernoulli": lambda a: a * cr.bernoulli(cr.full((2,), 0.5)),
    "dropout": lambda a: cr.nn.functional.dropout(a, 0.5, training=True),
    "Dropout module": lambda a: cr.nn.Dropout(0.5)(a),
    "explicit generator": lambda a: a + cr.rand(2, generator=cr.Generator(1)),
    "normal_": lambda a: a + cr.zeros(2).normal_(),
    "rrelu": lambda a: cr.nn.functional.rrelu(a - 10, training=True),
}


@pytest.mark.parametrize("name", list(RANDOM_OPS))
def test_random_ops_raise_by_default(name: str) -> None:
    x = cr.zeros(3, 2, dtype=cr.float64)
    with pytest.raises(RuntimeError, match=r"vmap\(<lambda>.*random operation while in "
                                           "randomness error mode.*'same'.*'different'"):
        cr.vmap(RANDOM_OPS[name])(x)
    with pytest.raises(RuntimeError, match="randomness error mode"):  # in a nested vmap too
        cr.vmap(cr.vmap(RANDOM_OPS[name], randomness="same"), randomness="error")(x[None])
    # and with "same" / "different" it runs
    assert cr.vmap(RANDOM_OPS[name], randomness="same")(x).shape == (3, 2)
    # torch refuses too
    with pytest.raises(RuntimeError, match="randomness error mode"):
        tfunc.vmap(lambda a: a + torch.rand(2))(torch.zeros(3, 2))


@pytest.mark.parametrize("name", list(RANDOM_OPS))
def test_randomness_same_and_different(name: str) -> None:
    x = cr.ones(4, 2, dtype=cr.float64)
    cr.manual_seed(3)
    same = cr.vmap(RANDOM_OPS[name], randomness="same")(x)
    after_same = cr.rand(3)
    cr.manual_seed(3)
    one = RANDOM_OPS[name](x[0])
    after_one = cr.rand(3)
    for row in same.data:  # every sample draws what one call draws
        np.testing.assert_array_equal(row, one.data)
    np.testing.assert_array_equal(after_same.data, after_one.data)  # the generator moved once
    cr.manual_seed(3)
    different = cr.vmap(RANDOM_OPS[name], randomness="different")(x)
    cr.manual_seed(3)
    loop = cr.stack([RANDOM_OPS[name](x[i]) for i in range(4)])
    np.testing.assert_array_equal(different.data, loop.data)  # each its own, as the loop
    if name != "explicit generator":  # (that one makes a fresh generator every call)
        assert len({tuple(r) for r in different.data}) > 1


def test_randomness_nested_and_eval_mode() -> None:
    x = cr.zeros(3, 4, dtype=cr.float64)
    draw = lambda a: a + cr.rand((), dtype=cr.float64)  # noqa: E731
    out = cr.vmap(cr.vmap(draw, randomness="different"), randomness="same")(x).data
    assert (out == out[0]).all() and len(set(out[0])) == 4  # rows alike, columns differ
    out = cr.vmap(cr.vmap(draw, randomness="same"), randomness="different")(x).data
    assert (out == out[:, :1]).all() and len(set(out[:, 0])) == 3  # the transpose
    # torch agrees on the pattern
    t = tfunc.vmap(tfunc.vmap(lambda a: a + torch.rand(()), randomness="same"),
                   randomness="different")(torch.zeros(3, 4))
    assert (t == t[:, :1]).all()
    # dropout in eval mode draws nothing, so the default mode is fine
    y = cr.ones(3, 4)
    np.testing.assert_array_equal(cr.vmap(lambda a: cr.nn.functional.dropout(
        a, 0.5, training=False))(y).data, y.data)
    # the hook is gone afterwards, also after an error inside
    with pytest.raises(RuntimeError, match="randomness error mode"):
        cr.vmap(draw)(x)
    from chainrule import random as crandom
    assert crandom._draw_hooks == []
    cr.rand(2)


# --------------------------------------------------------------------------- errors

def raises_like_torch(exc: type, match: str, call: Any, tcall: Any) -> None:
    with pytest.raises(exc, match=match):
        call()
    with pytest.raises(exc):
        tcall()


def test_input_errors_match_torch() -> None:
    cx, tx = both(3, 4, seed=18)
    cy, ty = both(4, 4, seed=19)
    identity = lambda *a: a[0]  # noqa: E731
    raises_like_torch(ValueError, r"same size in the mapped dimension, got sizes \[3, 4\].*"
                      r"argument 0.*argument 1",
                      lambda: cr.vmap(identity)(cx, cy), lambda: tfunc.vmap(identity)(tx, ty))
    raises_like_torch(ValueError, r"in_dim=2 for argument 0.*dimensionality 2 \(shape \(3, 4\)\)"
                      r".*-2 <= in_dim < 2",
                      lambda: cr.vmap(identity, in_dims=2)(cx),
                      lambda: tfunc.vmap(identity, in_dims=2)(tx))
    raises_like_torch(ValueError, r"in_dim=-3 .*-2 <= in_dim < 2",
                      lambda: cr.vmap(identity, in_dims=-3)(cx),
                      lambda: tfunc.vmap(identity, in_dims=-3)(tx))
    raises_like_torch(ValueError, r"in_dim=0 .*dimensionality 0",
                      lambda: cr.vmap(identity)(cr.tensor(1.0)),
                      lambda: tfunc.vmap(identity)(torch.tensor(1.0)))
    raises_like_torch(ValueError, r"in_dims is not compatible with the structure of the inputs:"
                      r" in_dims is a tuple of 1 but there are 2 positional arguments",
                      lambda: cr.vmap(identity, in_dims=(0,))(cx, cx),
                      lambda: tfunc.vmap(identity, in_dims=(0,))(tx, tx))
    raises_like_torch(ValueError, r"in_dims\[0\] is a dict with keys \['a'\] but argument 0 is a "
                      r"dict with keys \['a', 'b'\]",
                      lambda: cr.vmap(identity, in_dims=({"a": 0},))({"a": cx, "b": cx}),
                      lambda: tfunc.vmap(identity, in_dims=({"a": 0},))({"a": tx, "b": tx}))
    raises_like_torch(ValueError, r"in_dims\[0\] is a tuple of 2 but argument 0 is a list of 2",
                      lambda: cr.vmap(identity, in_dims=((0, None),))([cx, cx]),
                      lambda: tfunc.vmap(identity, in_dims=((0, None),))([tx, tx]))
    raises_like_torch(ValueError, r"in_dims\[0\] is a tuple of 2 but argument 0 is a Pair of 2",
                      lambda: cr.vmap(identity, in_dims=((0, None),))(Pair(cx, cx)),
                      lambda: tfunc.vmap(identity, in_dims=((0, None),))(Pair(tx, tx)))
    for bad in [[0], None, "a", 0.0]:
        raises_like_torch(ValueError, r"expected in_dims to be an int or a \(potentially nested\)"
                          f" tuple.*got {type(bad).__name__}",
                          lambda bad=bad: cr.vmap(identity, in_dims=bad)(cx),
                          lambda bad=bad: tfunc.vmap(identity, in_dims=bad)(tx))
    with pytest.raises(ValueError, match=r"in_dims\[0\]\[1\] is 'a'; an in_dim must be an int"):
        cr.vmap(identity, in_dims=((0, "a"),))((cx, cx))
    raises_like_torch(ValueError, "Expected at least one Tensor to vmap over",
                      lambda: cr.vmap(identity, in_dims=(None, None))(cx, cx),
                      lambda: tfunc.vmap(identity, in_dims=(None, None))(tx, tx))
    raises_like_torch(ValueError, "Expected at least one Tensor to vmap over",
                      lambda: cr.vmap(identity)({}), lambda: tfunc.vmap(identity)({}))
    raises_like_torch(ValueError, "got no inputs.*with no inputs cannot be vmapped",
                      lambda: cr.vmap(lambda: cr.ones(2))(),
                      lambda: tfunc.vmap(lambda: torch.ones(2))())
    for arg, kind in [(3.0, "float"), (None, "NoneType"), (np.ones((3, 4)), "ndarray")]:
        raises_like_torch(ValueError, rf"in_dim=0 for argument 1, which is a {kind}\. We cannot "
                          "vmap over non-Tensor arguments: use None",
                          lambda arg=arg: cr.vmap(identity)(cx, arg),
                          lambda arg=arg: tfunc.vmap(identity)(tx, arg))
    with pytest.raises(ValueError, match=r"in_dim=0 for argument 0\[1\], which is a NoneType"):
        cr.vmap(identity)((cx, None))


def test_output_errors_match_torch() -> None:
    cx, tx = both(3, 4, seed=20)
    for out, kind in [(lambda a: 3.0, "float"), (lambda a: None, "NoneType"),
                      (lambda a: (a, 3), "int")]:
        raises_like_torch(ValueError, rf"must only return Tensors, got a {kind} at output.*"
                          "out_dims to None", lambda out=out: cr.vmap(out)(cx),
                          lambda out=out: tfunc.vmap(out)(tx))
    raises_like_torch(ValueError, r"output differs between samples, so it cannot have an "
                      "out_dim of None", lambda: cr.vmap(lambda a: a, out_dims=None)(cx),
                      lambda: tfunc.vmap(lambda a: a, out_dims=None)(tx))
    for d in [2, -3]:
        raises_like_torch(IndexError, rf"out_dim {d} of output is out of range.*\[-2, 1\]",
                          lambda d=d: cr.vmap(lambda a: a, out_dims=d)(cx),
                          lambda d=d: tfunc.vmap(lambda a: a, out_dims=d)(tx))
    for dims, pattern in [((0,), r"out_dims is a tuple of 1 but output is a tuple of 2"),
                          ([0, 1], r"out_dims is a list of 2 but output is a tuple of 2")]:
        raises_like_torch(ValueError, "out_dims is not compatible with the structure of the "
                          "outputs: " + pattern,
                          lambda dims=dims: cr.vmap(lambda a: (a, a), out_dims=dims)(cx),
                          lambda dims=dims: tfunc.vmap(lambda a: (a, a), out_dims=dims)(tx))
    raises_like_torch(ValueError, r"out_dims is a tuple of 2 but output is a tensor",
                      lambda: cr.vmap(lambda a: a, out_dims=(0, 1))(cx),
                      lambda: tfunc.vmap(lambda a: a, out_dims=(0, 1))(tx))
    raises_like_torch(ValueError, r"out_dims must be an int, None or a python collection of ints",
                      lambda: cr.vmap(lambda a: a, out_dims="a")(cx),
                      lambda: tfunc.vmap(lambda a: a, out_dims="a")(tx))
    # (torch cannot get here: its function runs once)
    with pytest.raises(RuntimeError, match=r"output has shape \(1,\) for one sample and \(2,\)"):
        cr.vmap(lambda a: a[: 1 + int(a.sum().item() > 0)])(cr.tensor([[-1.0, 0.0], [1.0, 1.0]]))
    with pytest.raises(RuntimeError, match=r"returned a tensor of shape \(2,\) for sample 0 but "
                                           r"a tuple of 2 for sample 1"):
        cr.vmap(lambda a: a if a.sum().item() < 0 else (a, a))(
            cr.tensor([[-1.0, 0.0], [1.0, 1.0]]))


def test_argument_errors_match_torch() -> None:
    cx, tx = both(3, 4, seed=21)
    for bad in [0, -1]:
        raises_like_torch(ValueError, rf"chunk_size should be None or greater than 0 \(got {bad}\)",
                          lambda bad=bad: cr.vmap(lambda a: a, chunk_size=bad)(cx),
                          lambda bad=bad: tfunc.vmap(lambda a: a, chunk_size=bad)(tx))
    raises_like_torch(TypeError, r"chunk_size should be None or a positive int, got float 1.5",
                      lambda: cr.vmap(lambda a: a, chunk_size=1.5)(cx),  # type: ignore[arg-type]
                      lambda: tfunc.vmap(lambda a: a, chunk_size=1.5)(tx))
    raises_like_torch(RuntimeError, r"allowed values for randomness are 'error', 'different', "
                      "or 'same', got 'foo'",
                      lambda: cr.vmap(lambda a: a, randomness="foo")(cx),
                      lambda: tfunc.vmap(lambda a: a, randomness="foo")(tx))
    raises_like_torch(TypeError, r"vmap: expected a function to transform, got int",
                      lambda: cr.vmap(3)(cx),  # type: ignore[arg-type]
                      lambda: tfunc.vmap(3)(tx))
