"""cr.autograd.Function against torch.autograd.Function: the same classes written in both."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd.function import once_differentiable

torch = pytest.importorskip("torch")
from torch_parity_helpers import TOL, close  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's own

DTYPES = [np.float64, np.float32]


def pair(shape, dtype=np.float64, seed=0, requires_grad=True):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return (cr.tensor(a, requires_grad=requires_grad),
            torch.tensor(a, requires_grad=requires_grad))


def make_classes(lib):
    """The same Function classes, for chainrule (``cr``) or PyTorch (``torch``)."""
    Base = lib.autograd.Function

    class MyExp(Base):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class MyLinear(Base):
        @staticmethod
        def forward(ctx, x, w, b=None):
            ctx.save_for_backward(x, w, b)
            out = x @ w.T
            return out + b if b is not None else out

        @staticmethod
        def backward(ctx, g):
            x, w, b = ctx.saved_tensors
            gx = g @ w if ctx.needs_input_grad[0] else None
            gw = g.T @ x if ctx.needs_input_grad[1] else None
            gb = g.sum(0) if b is not None and ctx.needs_input_grad[2] else None
            return gx, gw, gb

    class TwoOut(Base):  # sin and x**3, with the backward using both gradients
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin(), x ** 3

        @staticmethod
        def backward(ctx, g1, g2):
            (x,) = ctx.saved_tensors
            return g1 * x.cos() + g2 * 3 * x ** 2

    class Scale(Base):  # non-tensor arguments
        @staticmethod
        def forward(ctx, x, k, square):
            ctx.k, ctx.square = k, square
            ctx.save_for_backward(x)
            return (x * x if square else x) * k

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return (g * 2 * x * ctx.k if ctx.square else g * ctx.k), None, None

    class NewStyle(Base):  # forward without ctx + setup_context
        @staticmethod
        def forward(x, w):
            return (x * w).tanh()

        @staticmethod
        def setup_context(ctx, inputs, output):
            x, w = inputs
            ctx.save_for_backward(x, w, output)

        @staticmethod
        def backward(ctx, g):
            x, w, y = ctx.saved_tensors
            d = g * (1 - y * y)
            return d * w, d * x

    return dict(MyExp=MyExp, MyLinear=MyLinear, TwoOut=TwoOut, Scale=Scale,
                NewStyle=NewStyle)


CR, TH = make_classes(cr), make_classes(torch)


def run_both(name, make_args, dtype):
    """Output and input gradients of ``name`` in chainrule and PyTorch (loss = Σ w_k·out_k)."""
    results = []
    for lib, classes in ((cr, CR), (torch, TH)):
        args = make_args(lib)
        out = classes[name].apply(*args)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum(((o * (k + 1.5)) ** 2).sum() for k, o in enumerate(outs))
        tensors = [a for a in args if isinstance(a, (cr.Tensor, torch.Tensor)) and a.requires_grad]
        grads = lib.autograd.grad(loss, tensors)
        results.append((outs, grads))
    (co, cg), (to, tg) = results
    tol = TOL[dtype]
    for a, b in zip(co, to):
        close(a, b, tol, f"{name} output")
    for a, b in zip(cg, tg):
        close(a, b, tol, f"{name} gradient")


def args_factory(name, dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 3)).astype(dtype)
    w = rng.standard_normal((5, 3)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    v = rng.standard_normal((4, 3)).astype(dtype)

    def make(lib):
        T = (lambda a: cr.tensor(a, requires_grad=True)) if lib is cr else (
            lambda a: torch.tensor(a, requires_grad=True))
        if name == "MyLinear":
            return (T(x), T(w), T(b))
        if name == "Scale":
            return (T(x), 2.5, True)
        if name == "NewStyle":
            return (T(x), T(v))
        return (T(x),)

    return make


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["MyExp", "MyLinear", "TwoOut", "Scale", "NewStyle"])
def test_matches_torch(name, dtype):
    run_both(name, args_factory(name, dtype), dtype)


@pytest.mark.parametrize("name", ["MyExp", "MyLinear", "TwoOut", "Scale", "NewStyle"])
def test_gradcheck_and_gradgradcheck(name):
    args = args_factory(name, np.float64)(cr)
    fn = CR[name].apply

    def f(*tensors):
        it = iter(tensors)
        full = [next(it) if isinstance(a, cr.Tensor) else a for a in args]
        out = fn(*full)
        return sum(o.sum() * (k + 1) for k, o in enumerate(out)) if isinstance(
            out, tuple) else out
    tensors = [a for a in args if isinstance(a, cr.Tensor)]
    assert cr.gradcheck(f, tensors)
    assert cr.gradgradcheck(f, tensors)


def test_grad_fn_names_the_class_and_links_inputs():
    x, _ = pair(3)
    y = CR["MyExp"].apply(x)
    assert y.grad_fn.name() == "MyExpBackward" and repr(y.grad_fn) == "<MyExpBackward>"
    assert y.grad_fn.next_functions == ((x, 0),)
    a, b = CR["TwoOut"].apply(x * 1)
    assert a.grad_fn.name() == b.grad_fn.name() == "TwoOutBackward"
    assert "grad_fn=<MyExpBackward>" in repr(y)


@pytest.mark.parametrize("name", ["MyExp", "TwoOut"])
def test_double_backward_matches_torch(name):
    vals = []
    for lib, classes in ((cr, CR), (torch, TH)):
        x = (cr.tensor if lib is cr else torch.tensor)(
            np.linspace(-1, 1, 5), requires_grad=True)
        out = classes[name].apply(x)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum((o * (k + 2)).sum() for k, o in enumerate(outs))
        (g,) = lib.autograd.grad(loss, x, create_graph=True)
        (h,) = lib.autograd.grad((g * g).sum(), x)
        vals.append((g, h))
    close(vals[0][0], vals[1][0], 1e-10, "first derivative")
    close(vals[0][1], vals[1][1], 1e-10, "second derivative")


def test_backward_is_recorded_only_with_create_graph():
    x, _ = pair(3)
    (g,) = cr.autograd.grad(CR["MyExp"].apply(x).sum(), x)
    assert not g.requires_grad
    (g,) = cr.autograd.grad(CR["MyExp"].apply(x).sum(), x, create_graph=True)
    assert g.requires_grad


def test_forward_runs_under_no_grad_and_needs_input_grad():
    seen = {}

    class Probe(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, k):
            seen["grad_enabled"] = cr.is_grad_enabled()
            seen["inner"] = (x * 2).requires_grad
            return x * w * k

        @staticmethod
        def backward(ctx, g):
            seen["needs"] = ctx.needs_input_grad
            return g, g, None

    x, _ = pair(3)
    w, _ = pair(3, requires_grad=False)
    Probe.apply(x, w, 3).sum().backward()
    assert seen == {"grad_enabled": False, "inner": False, "needs": (True, False, False)}
    with cr.no_grad():
        assert not Probe.apply(x, w, 3).requires_grad


def test_keyword_arguments_bind_as_in_torch():
    got = []
    for lib in (cr, torch):
        class KW(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x, w=None, scale=2.0):
                return x * w * scale

            @staticmethod
            def backward(ctx, g):
                return g * 2, g * 3, None
        x = (cr.tensor if lib is cr else torch.tensor)([1.0, 2.0], requires_grad=True)
        w = (cr.tensor if lib is cr else torch.tensor)([3.0, 4.0], requires_grad=True)
        out = KW.apply(x, w=w, scale=3.0)
        out.sum().backward()
        got.append((out, x.grad, w.grad))
    for a, b in zip(*got):
        close(a, b, 1e-12)


def test_multiple_outputs_one_backward_call_and_hooks():
    calls = []

    class Two(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            calls.append((ga.numpy().copy(), gb.numpy().copy()))
            return ga * 2 + gb * 3

    x = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    a, b = Two.apply(x)
    b.register_hook(lambda g: g * 10)  # seen by backward: the hooks run before it
    a.retain_grad()
    (a.sum() + (b * b).sum()).backward()
    assert len(calls) == 1
    np.testing.assert_allclose(calls[0][0], [1, 1])
    np.testing.assert_allclose(calls[0][1], 10 * 2 * b.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), 2 + 3 * 10 * 2 * b.detach().numpy())
    np.testing.assert_allclose(a.grad.numpy(), [1, 1])
    # one output only: the other's gradient is materialized as zeros, as in PyTorch
    calls.clear()
    a, b = Two.apply(x)
    (g,) = cr.autograd.grad(b.sum(), x)
    np.testing.assert_allclose(calls[0][0], [0, 0])
    np.testing.assert_allclose(g.numpy(), [3, 3])


def test_multiple_outputs_with_create_graph_leave_no_reference_cycle():
    import gc
    import weakref

    class Two(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, x * 3

        @staticmethod
        def backward(ctx, ga, gb):
            return ga * 2 + gb * 3

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    a, b = Two.apply(x)
    ctx = weakref.ref(a.grad_fn.inputs[-1])
    (g,) = cr.autograd.grad((a * a).sum() + (b * b).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 2 * 2 * a.detach().numpy() + 3 * 2 * b.detach().numpy())
    gc.disable()
    try:
        del a, b, g  # (the gradients kept for backward led back to the call's own node)
        assert ctx() is None
    finally:
        gc.enable()


def test_set_materialize_grads_false_gives_none():
    seen = []
    for lib in (cr, torch):
        class NoMat(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(False)
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, ga, gb):
                seen.append((ga is None, gb is None))
                return ga * 2 if ga is not None else gb * 3
        x = (cr.tensor if lib is cr else torch.tensor)([1.0, 2.0], requires_grad=True)
        NoMat.apply(x)[1].sum().backward()
    assert seen == [(True, False), (True, False)]


def test_mark_non_differentiable_and_integer_outputs():
    results = []
    for lib in (cr, torch):
        class SortFn(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                idx = x.argsort()
                ctx.mark_non_differentiable(idx)
                ctx.save_for_backward(idx)
                return x[idx], idx, x * 1

            @staticmethod
            def backward(ctx, gs, gi, gc):
                (idx,) = ctx.saved_tensors
                results.append(np.asarray(gi.numpy()).tolist())
                g = gc * 1
                g[idx] = g[idx] + gs
                return g

        c = cr if lib is cr else torch
        x = c.tensor([3.0, 1.0, 2.0], requires_grad=True)
        s, i, same = SortFn.apply(x)
        assert s.requires_grad and not i.requires_grad and i.grad_fn is None
        (s * c.tensor([1.0, 2.0, 3.0])).sum().backward()
        results.append(x.grad.numpy().tolist())
    assert results[:2] == results[2:]
    assert results[1] == [3.0, 1.0, 2.0]


def test_mark_dirty_matches_torch():
    results = []
    for lib in (cr, torch):
        class MulTwo_(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                x.mul_(2)
                ctx.mark_dirty(x)
                return x

            @staticmethod
            def backward(ctx, g):
                return g * 2

        c = cr if lib is cr else torch
        a = c.tensor([1.0, 2.0], requires_grad=True)
        b = a * 1
        v0 = b._version
        out = MulTwo_.apply(b)
        assert out is b and b.grad_fn.name() == "MulTwo_Backward"
        (out * out).sum().backward()
        results.append((b._version - v0, a.grad.numpy().tolist(), b.detach().numpy().tolist()))
    assert results[0] == results[1]


def test_mark_dirty_errors():
    class Dirty(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class DirtyNotReturned(Dirty):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x * 1

    leaf = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad .* in-place"):
        Dirty.apply(leaf)
    with pytest.raises(RuntimeError, match="marked as dirty .* were not returned as output"):
        DirtyNotReturned.apply(cr.tensor([1.0], requires_grad=True) * 1)


def test_returning_an_input_gives_a_new_tensor_with_this_history():
    class Ident(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 3

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = Ident.apply(x)
    assert y is not x and y.grad_fn.name() == "IdentBackward"
    assert np.shares_memory(y.numpy(), x.numpy())
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])



@pytest.mark.parametrize("lib", [cr, torch], ids=["cr", "torch"])
def test_in_place_change_of_a_view_output_is_refused(lib):
    # Changing it would change the input behind the custom backward's back (silently wrong
    # gradients for whatever else reads the input); PyTorch refuses, asking for a clone.
    class Ident(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    class First(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x[0]

        @staticmethod
        def backward(ctx, g):
            return g * lib.tensor([1.0, 0.0])

    for fn in (Ident, First):
        x = lib.tensor([1.0, 2.0], requires_grad=True) * 1
        with pytest.raises(RuntimeError, match="is a view and is being modified inplace.*clon"):
            fn.apply(x).mul_(2)
        np.testing.assert_allclose(x.detach().numpy(), [1, 2])
        y = fn.apply(x).clone()  # (the fix the message gives)
        y.mul_(2)
        with lib.no_grad():
            fn.apply(x)  # (nothing recorded: nothing to protect)
    plain = lib.tensor([1.0, 2.0])
    Ident.apply(plain).mul_(2)  # (no input requires grad: no node)
    np.testing.assert_allclose(plain.numpy(), [2, 4])

def test_once_differentiable():
    class Sq(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x ** 2

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            assert not cr.is_grad_enabled()
            return 2 * x * g

    x = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    Sq.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2, 4])
    z = (Sq.apply(x) ** 2).sum()
    (g,) = cr.autograd.grad(z, x, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked "
                                           "with @once_differentiable"):
        g.sum().backward()
    assert cr.autograd.function.once_differentiable is once_differentiable


def test_forward_mode_jvp_matches_torch():
    class FExp(cr.autograd.Function):
        @staticmethod
        def forward(x):
            return x.exp()

        @staticmethod
        def setup_context(ctx, inputs, output):
            ctx.save_for_backward(output)
            ctx.save_for_forward(output)

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

        @staticmethod
        def jvp(ctx, t):
            (y,) = ctx.saved_tensors
            return t * y

    x = np.array([0.1, -0.4, 0.7])
    v = np.array([1.0, 2.0, -1.0])
    out, tangent = cr.jvp(FExp.apply, (cr.tensor(x),), (cr.tensor(v),))
    np.testing.assert_allclose(tangent.numpy(), v * np.exp(x), rtol=1e-12)
    jac = cr.jacfwd(lambda a: FExp.apply(a * 2))(cr.tensor(x))
    np.testing.assert_allclose(jac.numpy(), np.diag(2 * np.exp(2 * x)), rtol=1e-12)
    import torch.autograd.forward_ad as fwAD

    class TExp(torch.autograd.Function):
        forward, setup_context = FExp.forward, FExp.setup_context
        backward, jvp = FExp.backward, FExp.jvp
    with fwAD.dual_level():
        d = fwAD.make_dual(torch.tensor(x), torch.tensor(v))
        close(tangent, fwAD.unpack_dual(TExp.apply(d)).tangent, 1e-12)
    with pytest.raises(NotImplementedError, match="must implement the jvp function"):
        cr.jvp(CR["TwoOut"].apply, (cr.tensor(x),), (cr.tensor(v),))


def test_saved_tensor_modified_in_place_is_an_error():
    x, tx = pair(3)
    y = CR["MyExp"].apply(x)
    ty = TH["MyExp"].apply(tx)
    y.add_(1)
    ty.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as e:
        y.sum().backward()
    assert "MyExpBackward" in str(e.value) and "version 1; expected version 0" in str(e.value)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        ty.sum().backward()
    # an input that is not saved may change: as in PyTorch
    x2 = x * 1
    z = CR["MyExp"].apply(x2)
    x2.add_(1)
    z.sum().backward()


def test_second_backward_through_freed_graph():
    x, _ = pair(3)
    y = CR["MyExp"].apply(x)
    y.sum().backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.sum().backward()
    y = CR["MyExp"].apply(x)
    s = y.sum()
    s.backward(retain_graph=True)
    s.backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * np.exp(x.detach().numpy()))


def make_bad(backward):
    class Bad(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, k=1):
            return x * y * k

    Bad.backward = staticmethod(backward)
    return Bad


@pytest.mark.parametrize("backward, message", [
    (lambda ctx, g: g, r"function BadBackward returned an incorrect number of gradients "
                       r"\(expected 3, got 1\)"),
    (lambda ctx, g: (g, g, None, g), r"incorrect number of gradients \(expected 3, got 4\)"),
    (lambda ctx, g: (g.sum().reshape(1).expand(5), g, None),
     r"Function BadBackward returned an invalid gradient at index 0 - got \[5\] but expected "
     r"shape compatible with \[3\]"),
    (lambda ctx, g: (g.sum(), g, None), r"invalid gradient at index 0 - got \[\] but"),
    (lambda ctx, g: (g, g, g), "returned a gradient different than None at position 3, but "
                               "the corresponding forward input was not a tensor"),
    (lambda ctx, g: (3.0, g, None), "returned a float as the gradient of input 0: expected a "
                                    "tensor or None"),
])
def test_bad_backward_errors(backward, message):
    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=message):
        make_bad(backward).apply(x, y, 2).sum().backward()


def test_torch_raises_the_same_errors():
    class Bad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, y, k=1):
            return x * y * k

        @staticmethod
        def backward(ctx, g):
            return g
    x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        Bad.apply(x, x, 2).sum().backward()


def test_a_sum_down_gradient_and_another_dtype_are_accepted():
    class Bcast(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return (g * 2).expand(4, 3).double() / 4  # sums down to (3,), cast to float32

    x = cr.tensor([1.0, 2.0, 3.0], requires_grad=True)
    Bcast.apply(x).sum().backward()
    assert x.grad.dtype == cr.float32
    np.testing.assert_allclose(x.grad.numpy(), [2, 2, 2])


def test_misuse_errors():
    Exp = CR["MyExp"]
    with pytest.raises(RuntimeError, match=r"MyExp is a cr.autograd.Function.*do not "
                                           r"instantiate it, call MyExp.apply"):
        Exp()
    x = cr.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"MyExp.forward was called directly, without a ctx: "
                                        r"call MyExp.apply\(...\) instead"):
        Exp.forward(x)

    class NoBackward(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2
    with pytest.raises(NotImplementedError, match="must implement either the backward or vjp"):
        NoBackward.apply(x).sum().backward()

    class NoForward(cr.autograd.Function):
        pass
    with pytest.raises(NotImplementedError, match="must implement the forward function"):
        NoForward.apply(x)

    class SaveInt(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, None, 3)
            return x * 1
    with pytest.raises(TypeError, match="save_for_backward takes tensors .or None., but "
                                        "argument 2 is of type int"):
        SaveInt.apply(x)


def test_vjp_alias_and_saved_none():
    class ViaVjp(cr.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x, None)
            return x * 3

        @staticmethod
        def vjp(ctx, g):
            x, nothing = ctx.saved_tensors
            assert nothing is None
            return g * 3

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    ViaVjp.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3, 3])


def test_explanation_tools_show_one_node():
    x = cr.tensor([0.5, 1.0], dtype=cr.float64, requires_grad=True)
    text = str(cr.explain(CR["MyExp"].apply(x).sum()))
    assert "MyExp(x)" in text and "vjp_MyExp" in text
    cr.draw(CR["MyExp"].apply(x).sum())
    a, b = CR["TwoOut"].apply(x * 1)
    text = str(cr.explain((a * b).sum()))
    assert text.count("TwoOut(") >= 2
    cr.draw((a + b).sum())


def test_transforms_and_module_use():
    Lin = CR["MyLinear"]
    w = cr.randn(2, 3, dtype=cr.float64)
    b = cr.randn(2, dtype=cr.float64)
    x = cr.randn(4, 3, dtype=cr.float64)
    jac = cr.jacrev(lambda w_: Lin.apply(x, w_, b))(w)
    np.testing.assert_allclose(jac.numpy(), cr.jacrev(lambda w_: x @ w_.T + b)(w).numpy(),
                               rtol=1e-12)
    hess = cr.autograd.functional.hessian(lambda w_: (Lin.apply(x, w_, b) ** 2).sum(), w)
    ref = cr.autograd.functional.hessian(lambda w_: ((x @ w_.T + b) ** 2).sum(), w)
    np.testing.assert_allclose(hess.numpy(), ref.numpy(), rtol=1e-10)
