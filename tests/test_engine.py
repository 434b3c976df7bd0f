"""The engine: the backward walk, accumulation, freeing, higher order, grad modes, hooks,
in-place operations and their version counter, memory, anomaly detection."""

import gc
import itertools
import math
import operator
import tracemalloc
import warnings
import weakref

import numpy as np
import pytest

import chainrule as cr
from chainrule import engine

torch = pytest.importorskip("torch")


def close(a, b, tol=1e-6):
    a = a.numpy() if isinstance(a, cr.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def f64(data, requires_grad=True):
    return cr.tensor(data, dtype=cr.float64, requires_grad=requires_grad)


# --------------------------------------------------------------------------- the walk

def test_deep_chain_of_a_million_ops_has_no_recursion():
    """The walk is iterative: a chain far deeper than the recursion limit backpropagates."""
    n = 1_000_000
    was_enabled = gc.isenabled()
    gc.disable()  # a million small objects: the cyclic GC would only slow the test down
    try:
        x0 = cr.tensor([1.0], dtype=cr.float64, requires_grad=True)
        x = x0
        for _ in range(n):
            x = x * 1.0000001
        x.backward()
        del x
    finally:
        if was_enabled:
            gc.enable()
    assert x0.grad.item() == pytest.approx(1.0000001 ** n, rel=1e-9)


test_deep_chain_of_a_million_ops_has_no_recursion = pytest.mark.slow(
    test_deep_chain_of_a_million_ops_has_no_recursion)


def test_deep_chain_also_for_transforms_and_create_graph():
    x0 = f64(0.5)
    x = x0
    for _ in range(2000):  # deeper than Python's recursion limit
        x = cr.sin(x) * 0.5 + x * 0.5
    (g,) = cr.autograd.grad(x, x0, create_graph=True)
    (g2,) = cr.autograd.grad(g, x0)
    assert np.isfinite(g.item()) and np.isfinite(g2.item())
    assert cr.grad(lambda t: t * 1.0)(cr.tensor(1.0)).item() == 1.0


def test_diamond_graph_sums_each_path_once():
    x = f64(1.5)
    a = x * x          # used twice below
    b = cr.sin(a)
    c = a * 3
    d = b * c + a      # a reaches d by three paths
    d.backward()
    # d = 3 a sin a + a, a = x^2 -> dd/dx = (3 sin a + 3 a cos a + 1) 2x
    a0 = 1.5 ** 2
    assert x.grad.item() == pytest.approx((3 * math.sin(a0) + 3 * a0 * math.cos(a0) + 1) * 3.0)


def test_each_node_runs_once_after_all_its_consumers():
    x = f64([1.0, 2.0])
    a = x * 2
    b = a + 1
    c = a * b
    d = (c + a + b).sum()
    steps = []
    engine.walk([d], [np.ones(())], on_step=lambda node, i, inp, g, c: steps.append((node, i)))
    assert len(steps) == len(set(steps))  # each (node, input) step exactly once
    order = list(dict.fromkeys(node for node, _ in steps))
    assert order.index(c.grad_fn) < order.index(b.grad_fn) < order.index(a.grad_fn)
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ta = tx * 2
    tb = ta + 1
    (ta * tb + ta + tb).sum().backward()
    close(x.grad, tx.grad)


def test_broadcast_gradients_are_summed_to_the_input_shape():
    a = f64(np.ones((3, 1)))
    b = f64(np.arange(4.0))
    (a * b + 1).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    close(a.grad, np.full((3, 1), 6.0))
    close(b.grad, np.full(4, 3.0))


def test_gradients_accumulate_until_zeroed():
    x = f64([1.0, 2.0])
    (x * x).sum().backward()
    (x * x).sum().backward()
    close(x.grad, 4 * x.data)
    x.grad.zero_()
    (3 * x).sum().backward()
    close(x.grad, [3.0, 3.0])
    x.grad = None
    (x * 5).sum().backward()
    close(x.grad, [5.0, 5.0])


def test_leaf_grad_does_not_alias_the_upstream_gradient():
    x = f64([1.0, 2.0])
    g = np.array([1.0, 1.0])
    (x + 0).backward(gradient=cr.tensor(g))
    x.grad.numpy()[0] = 100
    assert g[0] == 1.0


def test_non_leaf_grad_only_with_retain_grad():
    x = f64(2.0)
    y = x * 3
    z = y * y
    z.backward(retain_graph=True)
    with pytest.warns(UserWarning, match="not a leaf"):  # as PyTorch's
        assert y.grad is None
    y.retain_grad()
    z.backward()
    assert y.grad.item() == pytest.approx(2 * 6.0)
    assert x.grad.item() == pytest.approx(2 * 36.0)


def test_backward_with_gradient_argument():
    x = f64([1.0, 2.0, 3.0])
    y = x * x
    y.backward(gradient=cr.tensor([1.0, 0.5, 0.0], dtype=cr.float64))
    close(x.grad, [2.0, 2.0, 0.0])
    x2 = f64([1.0, 2.0])
    (x2 * 2).backward(np.array([1.0, 1.0]))
    close(x2.grad, [2.0, 2.0])


def test_multiple_roots_with_autograd_backward():
    x = f64([1.0, 2.0])
    cr.autograd.backward([(x * 2).sum(), (x * x).sum()])
    close(x.grad, 2 + 2 * x.data)


def test_autograd_grad_returns_without_accumulating():
    x = f64([1.0, 2.0])
    y = f64([3.0, 4.0])
    gx, gy = cr.autograd.grad((x * y).sum(), [x, y])
    close(gx, [3.0, 4.0])
    close(gy, [1.0, 2.0])
    assert x.grad is None and y.grad is None
    unused = f64(1.0)
    with pytest.raises(cr.ChainruleError, match="allow_unused"):
        cr.autograd.grad((x * 2).sum(), [x, unused])
    gx, gu = cr.autograd.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None


def test_autograd_grad_with_one_target_behind_another():
    def run(lib):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([3.0, -1.0], dtype=lib.float64, requires_grad=True)
        y = lib.sin(x * w)
        h = y * 2
        return lib.autograd.grad((h * h).sum(), [h, y, w, x])

    for ours, theirs in zip(run(cr), run(torch)):
        close(ours, theirs)


def test_backward_with_inputs_accumulates_only_there():
    def run(lib):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([3.0, 4.0], dtype=lib.float64, requires_grad=True)
        y = x * w
        (y * y).sum().backward(inputs=[y, w])
        return x.grad, w.grad, y.grad

    (xg, wg, yg), (txg, twg, tyg) = run(cr), run(torch)
    assert xg is None and txg is None
    close(wg, twg)
    close(yg, tyg)


# --------------------------------------------------------------------------- freeing

def test_backward_twice_through_a_freed_graph_says_retain_graph():
    x = f64(2.0)
    y = cr.exp(x) * x
    y.backward()
    with pytest.raises(cr.ChainruleError, match="retain_graph") as info:
        y.backward()
    assert "second time" in str(info.value) or "freed" in str(info.value)


def test_retain_graph_allows_a_second_backward():
    x = f64(2.0)
    y = cr.exp(x) * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(2 * (math.exp(2) * 3))


def test_backward_through_partly_freed_graph_fails_clearly():
    x = f64(2.0)
    a = cr.sin(x)
    (a * 2).backward()
    with pytest.raises(cr.ChainruleError, match="retain_graph"):
        (a * 3).backward()


def test_saved_values_are_freed_after_backward():
    x = f64([1.0, 2.0])
    y = cr.sin(x)
    node = y.grad_fn
    (y * y).sum().backward()
    assert node.inputs is None and node.values is None and node.parents is None


# --------------------------------------------------------------------------- higher order

def test_third_derivative_of_sin_with_create_graph():
    x = f64(0.7)
    (g1,) = cr.autograd.grad(cr.sin(x), x, create_graph=True)
    (g2,) = cr.autograd.grad(g1, x, create_graph=True)
    (g3,) = cr.autograd.grad(g2, x)
    assert g1.item() == pytest.approx(math.cos(0.7))
    assert g2.item() == pytest.approx(-math.sin(0.7))
    assert g3.item() == pytest.approx(-math.cos(0.7))


@pytest.mark.parametrize("x0", [-1.3, 0.4, 2.0])
def test_derivatives_of_x5_via_backward_create_graph(x0):
    x = f64(x0)
    (x ** 5).backward(create_graph=True)
    g1 = x.grad
    assert g1.requires_grad and g1.item() == pytest.approx(5 * x0 ** 4)
    x.grad = None
    g1.backward(create_graph=True)
    g2 = x.grad
    assert g2.item() == pytest.approx(20 * x0 ** 3)
    x.grad = None
    g2.backward(create_graph=True)
    g3 = x.grad
    assert g3.item() == pytest.approx(60 * x0 ** 2)
    x.grad = None
    g3.backward()
    assert x.grad.item() == pytest.approx(120 * x0)


def test_higher_order_matches_torch_on_a_composite():
    def f(lib, x):
        return (lib.tanh(x) * lib.exp(-x * x) + x ** 3 / (1 + x * x)).sum()

    xv = np.array([0.3, -0.8, 1.1])
    x, tx = f64(xv), torch.tensor(xv, requires_grad=True)
    g, tg = x, tx
    for _ in range(3):
        (g,) = cr.autograd.grad(f(cr, x) if g is x else g.sum(), x, create_graph=True)
        (tg,) = torch.autograd.grad(f(torch, tx) if tg is tx else tg.sum(), tx,
                                    create_graph=True)
        close(g, tg, tol=1e-10)


# --------------------------------------------------------------------------- grad modes

def test_no_grad_records_nothing():
    x = f64([1.0, 2.0])
    with cr.no_grad():
        y = x * 2 + cr.sin(x)
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()
    assert y.grad_fn is None and not y.requires_grad


def test_grad_mode_decorators_with_and_without_parentheses():
    x = f64(1.0)

    @cr.no_grad()
    def f(t):
        return t * 2

    @cr.no_grad
    def g(t):
        return t * 2

    @cr.enable_grad()
    def h(t):
        return t * 2

    @cr.enable_grad
    def k(t):
        return t * 2

    assert not f(x).requires_grad and not g(x).requires_grad
    assert f.__name__ == "f" and g.__name__ == "g"
    with cr.no_grad():
        assert h(x).requires_grad and k(x).requires_grad
        assert not (x * 2).requires_grad
        with cr.enable_grad():
            assert (x * 2).requires_grad
        assert not (x * 2).requires_grad


def test_set_grad_enabled_and_restoring_after_an_exception():
    with cr.set_grad_enabled(False):
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled()

    @cr.set_grad_enabled(False)
    def f(t):
        return t * 2

    assert cr.is_grad_enabled()  # decorating changed nothing yet
    assert not f(f64(1.0)).requires_grad
    assert cr.is_grad_enabled()
    cr.set_grad_enabled(False)   # as a plain call it switches the mode
    try:
        assert not cr.is_grad_enabled()
    finally:
        cr.set_grad_enabled(True)
    with pytest.raises(ZeroDivisionError):
        with cr.no_grad():
            raise ZeroDivisionError
    assert cr.is_grad_enabled()


# --------------------------------------------------------------------------- hooks

def test_leaf_hook_sees_and_replaces_the_gradient():
    x = f64([1.0, 2.0])
    seen = []

    def hook(g):
        seen.append(g.numpy().copy())
        return g * 10

    handle = x.register_hook(hook)
    (x * 3).sum().backward()
    close(seen[0], [3.0, 3.0])
    close(x.grad, [30.0, 30.0])
    handle.remove()
    x.grad = None
    (x * 3).sum().backward()
    close(x.grad, [3.0, 3.0])
    assert len(seen) == 1


def test_leaf_hook_fires_once_with_the_total_gradient():
    x = f64(2.0)
    seen = []
    x.register_hook(lambda g: seen.append(g.item()))
    (x * x + x * 3).backward()
    assert seen == [pytest.approx(7.0)]


def test_non_leaf_hook_changes_what_flows_upstream():
    x = f64([1.0, 2.0])
    y = x * 3
    seen = []
    h = y.register_hook(lambda g: seen.append(g.numpy().copy()) or g * 0.5)
    (y * y).sum().backward(retain_graph=True)
    close(seen[0], 2 * y.data)
    close(x.grad, 0.5 * 2 * y.data * 3)
    h.remove()
    x.grad = None
    (y * y).sum().backward()
    close(x.grad, 2 * y.data * 3)


def test_hook_returning_none_keeps_the_gradient():
    x = f64(1.0)
    x.register_hook(lambda g: None)
    (x * 4).backward()
    assert x.grad.item() == 4.0


def test_hooks_apply_to_transforms_too():
    x = f64(2.0)
    x.register_hook(lambda g: g * 2)
    (g,) = cr.autograd.grad(x * x, x)
    assert g.item() == pytest.approx(8.0)


def test_hook_on_tensor_without_grad_is_an_error():
    with pytest.raises(cr.ChainruleError, match="require grad"):
        cr.tensor([1.0]).register_hook(lambda g: g)


# --------------------------------------------------------------------------- in-place

def _both(fn, *values):
    ours = [f64(v) for v in values]
    theirs = [torch.tensor(np.asarray(v, dtype=np.float64), requires_grad=True) for v in values]
    out, tout = fn(cr, *ours), fn(torch, *theirs)
    close(out, tout)
    out.sum().backward()
    tout.sum().backward()
    for x, tx in zip(ours, theirs):
        assert (x.grad is None) == (tx.grad is None)
        if tx.grad is not None:
            close(x.grad, tx.grad)


def _ip_add(lib, x, w):
    y = x * 2
    y.add_(w * w)
    return y * x


def _ip_sub(lib, x, w):
    y = lib.sin(x)  # sin saves its input x, not y
    y.sub_(w, alpha=2)
    return y * 3


def _ip_mul(lib, x, w):
    y = x + 1
    y.mul_(w)
    return y


def _ip_div(lib, x, w):
    y = x * x
    y.div_(w + 3)
    return y


def _ip_zero(lib, x, w):
    y = x * w
    z = y * 1
    z.zero_()
    return z + y


def _ip_copy(lib, x, w):
    y = x * 3
    y.copy_(w * 2)
    return y * x


def _ip_fill(lib, x, w):
    y = x * 3
    y.fill_(2.5)
    return y + x


def _ip_setitem(lib, x, w):
    y = x * 2
    y[1] = w[0] * 5
    y[2:] = w[2:]
    return y * y


def _ip_setitem_mask(lib, x, w):
    y = x * 1
    y[x > 0] = 0.0
    return y * w


def _ip_augmented(lib, x, w):
    y = x * 2
    y += w
    y *= w
    y -= x
    y /= 2
    return y


def _ip_view_augmented(lib, x, w):
    y = x * 2
    y[0] += w[0]         # in-place on a view of y (Python does y[0] = y[0] + ...)
    y[1:].mul_(w[1:])    # in-place on a slice view
    return y * x


def _ip_view_of_view(lib, x, w):
    y = (x * 1).reshape(2, 2)
    y[1][0:1].mul_(w[0])
    y.T[0].add_(w[1])
    return y.reshape(4)


def _ip_chain_after_use(lib, x, w):
    y = x * 2
    c = y + 1          # uses y before it changes (add saves nothing)
    y.mul_(3)
    return y * c


def _ip_stale_view(lib, x, w):
    y = x * 2
    v = y[0:2]
    y.mul_(w)          # v shares y's memory: it sees the change
    return lib.cat([v * 1, y], 0)


@pytest.mark.parametrize("fn", [_ip_add, _ip_sub, _ip_mul, _ip_div, _ip_zero, _ip_copy,
                                _ip_fill, _ip_setitem, _ip_setitem_mask, _ip_augmented,
                                _ip_view_augmented, _ip_view_of_view, _ip_chain_after_use,
                                _ip_stale_view], ids=lambda f: f.__name__)
def test_inplace_ops_give_the_gradients_of_torch(fn):
    _both(fn, [0.5, -1.2, 2.0, 0.7], [1.5, 0.3, -0.8, 2.2])


def test_inplace_result_equals_out_of_place():
    xv, wv = np.array([0.5, -1.2, 2.0]), np.array([1.5, 0.3, -0.8])
    x, w = f64(xv), f64(wv)
    y = x * 2
    y.add_(w).mul_(w).sub_(x).div_(w + 2)
    y.sum().backward()
    x2, w2 = f64(xv), f64(wv)
    ((x2 * 2 + w2) * w2 - x2) / (w2 + 2)
    (((x2 * 2 + w2) * w2 - x2) / (w2 + 2)).sum().backward()
    close(y.detach(), ((xv * 2 + wv) * wv - xv) / (wv + 2))
    close(x.grad, x2.grad)
    close(w.grad, w2.grad)


def test_setitem_gives_the_value_its_gradient():
    v = f64([5.0, 6.0])
    t = cr.zeros(4, dtype=cr.float64)
    t[1:3] = v
    assert t.requires_grad and not t.is_leaf
    (t * cr.tensor([1.0, 2.0, 3.0, 4.0], dtype=cr.float64)).sum().backward()
    close(v.grad, [2.0, 3.0])


def test_setitem_through_a_nested_view_of_a_plain_tensor():
    w = f64([5.0, 6.0])
    out = cr.zeros(2, 2, dtype=cr.float64)
    out[0][1] = w[0]          # out[0] is a view: the write reaches out's history
    row = out[1]
    row[:] = w * 2
    (out * cr.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=cr.float64)).sum().backward()
    close(w.grad, [2.0 + 3.0 * 2, 4.0 * 2])


def test_inplace_does_not_change_the_history_of_earlier_uses():
    x = f64([1.0, 2.0, 3.0])
    y = x * 2
    c = y + 1
    y.mul_(3)
    c.sum().backward()  # c = 2x + 1, whatever happened to y afterwards
    close(x.grad, [2.0, 2.0, 2.0])


@pytest.mark.parametrize("modify", [
    lambda y: y.add_(1), lambda y: y.mul_(2), lambda y: y.sub_(1), lambda y: y.div_(2),
    lambda y: y.zero_(), lambda y: y.copy_(cr.ones(3)), lambda y: y.fill_(1.0),
    lambda y: y.__setitem__(0, 5.0), lambda y: y.__setitem__(slice(None), 0.0),
], ids=["add_", "mul_", "sub_", "div_", "zero_", "copy_", "fill_", "setitem", "setitem_all"])
def test_modifying_a_saved_value_fails_at_backward_time(modify):
    x = f64([0.5, 1.0, 1.5])
    y = cr.exp(x)          # exp saves its output y
    z = (y * 2).sum()
    modify(y)              # no error yet
    with pytest.raises(cr.ChainruleError, match="in-place") as info:
        z.backward()
    msg = str(info.value)
    assert "exp" in msg and "version" in msg


def test_modifying_a_saved_input_fails_at_backward_time():
    x = f64([0.5, 1.0])
    a = x * 1
    b = cr.sin(a)          # sin saves a
    a.add_(1)
    with pytest.raises(cr.ChainruleError, match="sin.*modified by an in-place"):
        b.sum().backward()


def test_modifying_a_leaf_under_no_grad_after_use_is_caught():
    w = f64([1.0, 2.0])
    x = f64([3.0, 4.0])
    loss = (w * x).sum()   # mul saves both
    with cr.no_grad():
        w.mul_(2)
    with pytest.raises(cr.ChainruleError, match="in-place"):
        loss.backward()


def test_modifying_a_saved_view_base_is_caught():
    x = f64([1.0, 2.0, 3.0])
    y = x * 1
    v = y[0:2]
    s = cr.sin(v)          # sin saves v, which shares y's memory
    y[0] = 10.0
    with pytest.raises(cr.ChainruleError, match="in-place"):
        s.sum().backward()


def test_inplace_on_a_leaf_that_requires_grad_is_an_error():
    w = f64([1.0, 2.0])
    for op in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.zero_(),
               lambda: w.__setitem__(0, 1.0), lambda: w[:1].mul_(2)):
        with pytest.raises(cr.ChainruleError, match="leaf"):
            op()
    with cr.no_grad():
        w.sub_(0.5)        # fine: a parameter update
    close(w, [0.5, 1.5])
    assert w.is_leaf and w.requires_grad


def test_inplace_dtype_and_shape_mismatch_are_clear():
    i = cr.tensor([1, 2])
    with pytest.raises(TypeError, match="dtype"):
        i.add_(0.5)
    with pytest.raises(ValueError, match="shape"):
        cr.zeros(2).add_(cr.ones(3, 2))


def test_inplace_on_read_only_broadcast_view():
    e = cr.ones(3).expand(2, 3)
    with pytest.raises(cr.ChainruleError, match="read-only"):
        e.add_(1)


def test_inplace_bumps_the_version():
    t = cr.zeros(3)
    v0 = t._version
    t.add_(1)
    t[0] = 2.0
    assert t._version == v0 + 2


def test_inplace_change_of_an_unrelated_tensor_is_not_an_error():
    """Versions are checked by epoch: a change elsewhere after the op was recorded must not
    be taken for a change of what its backward reads."""
    x = f64([0.5, 1.5], requires_grad=True)
    y = x.exp()
    other = cr.ones(2)
    other.add_(1)  # the in-place epoch moves on
    w = f64([1.0, 2.0], requires_grad=True)
    with cr.no_grad():
        w.mul_(3)  # a leaf changed under no_grad, not read by exp's backward
    (y * 2).sum().backward()
    close(x.grad, 2 * np.exp([0.5, 1.5]))


def test_inplace_change_after_use_is_caught_even_after_other_changes():
    x = f64([0.5, 1.5], requires_grad=True)
    a = x * 1.0
    y = a * a  # reads a
    cr.ones(2).add_(1)
    with cr.no_grad():
        a.add_(1)
    cr.ones(2).add_(1)
    with pytest.raises(cr.ChainruleError, match="in-place"):
        y.sum().backward()


def test_version_is_shared_by_a_view_and_its_base():
    base = cr.zeros(4)
    view = base[1:3]
    assert base._version == view._version == 0
    view.add_(1)
    assert base._version == view._version == 1
    assert np.allclose(base.numpy(), [0, 1, 1, 0])


def test_saved_values_leave_the_garbage_collector_alone():
    """A node's saved arrays are a tuple of untracked objects, which CPython's collector
    stops tracking: a long graph then promotes fewer objects to the oldest generation, whose
    full collections (over every object in the process) were the chain's largest cost."""
    y = f64([1.0, 2.0]) * 3.0
    gc.collect()
    assert isinstance(y.grad_fn.values, tuple)
    assert not gc.is_tracked(y.grad_fn.values)


def test_walk_visits_nodes_latest_first_across_roots():
    """backward() takes nodes by decreasing creation number: with two roots sharing a
    subgraph, the shared nodes still run once, after every consumer."""
    x = f64([1.0, 2.0], requires_grad=True)
    shared = x.sin()
    r1 = (shared * 3).sum()
    r2 = (shared.exp() + shared).sum()
    cr.autograd.backward([r1, r2])
    tx = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ts = tx.sin()
    torch.autograd.backward([(ts * 3).sum(), (ts.exp() + ts).sum()])
    close(x.grad, tx.grad)


def test_retain_grad_follows_the_tensor_through_inplace():
    x = f64([1.0, 2.0])
    y = x * 2
    y.retain_grad()
    y.mul_(3)
    (y * y).sum().backward()
    close(y.grad, 2 * y.data)


def test_inplace_inside_jvp_carries_the_tangent():
    def f(x):
        y = x * 2
        y.mul_(x)
        return y

    _, t = cr.jvp(f, (f64([1.0, 2.0], False),), (f64([1.0, 1.0], False),))
    close(t, [4.0, 8.0])


# --------------------------------------------------------------------------- memory

def test_graph_is_released_after_backward():
    x = f64(np.ones(1000))
    y = cr.sin(x) * 2
    ry, rn, rd = weakref.ref(y), weakref.ref(y.grad_fn), weakref.ref(y.data)
    rs = weakref.ref(y.grad_fn.parents[0])   # the sin node
    loss = (y * y).sum()
    loss.backward()
    del y, loss
    assert ry() is None and rn() is None and rd() is None and rs() is None


def test_graph_is_kept_while_needed():
    x = f64(np.ones(10))
    y = cr.sin(x) * 2
    ry = weakref.ref(y)
    loss = (y * y).sum()
    del y
    assert ry() is not None          # the loss's node still needs it
    loss.backward(retain_graph=True)
    assert ry() is not None          # and still does, with retain_graph
    del loss
    assert ry() is None


def test_training_loop_memory_stays_flat():
    """1,000 steps of a tiny model with manual SGD: neither the memory in use between steps
    nor the peak within a step grows (each step's graph is released by backward)."""
    rng = np.random.default_rng(0)
    X = cr.tensor(rng.standard_normal((32, 4)))
    Y = cr.tensor(rng.standard_normal((32, 1)))
    W1 = cr.tensor(rng.standard_normal((4, 8)) * 0.3, requires_grad=True)
    b1 = cr.zeros(8, requires_grad=True)
    W2 = cr.tensor(rng.standard_normal((8, 1)) * 0.3, requires_grad=True)
    params = [W1, b1, W2]
    current, peak = {}, {}
    gc.collect()
    tracemalloc.start()
    try:
        for step in range(1, 1001):
            h = cr.tanh(X @ W1 + b1)
            loss = ((h @ W2 - Y) ** 2).mean()
            loss.backward()
            with cr.no_grad():
                for p in params:
                    p -= 0.05 * p.grad
                    p.grad.zero_()
            if step == 1:
                first_loss = loss.item()
            if step % 100 == 0:  # windows of 100 steps
                peak[step] = tracemalloc.get_traced_memory()[1]
                # gc.collect() also empties CPython's free lists, which tracemalloc counts as
                # memory in use (they fill up slowly, by a few bytes a step, and stop at a cap)
                gc.collect()
                current[step] = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
    finally:
        tracemalloc.stop()
    assert loss.item() < first_loss
    assert current[1000] - current[100] < 16_000, current       # < 18 bytes per step
    assert max(peak.values()) - peak[100] < 16_000, peak         # no window peaks higher


# --------------------------------------------------------------------------- anomaly

def test_detect_anomaly_names_the_op_whose_backward_made_nan():
    x = f64([0.0, 1.0])
    with cr.detect_anomaly():
        y = cr.sqrt(x)      # d sqrt/dx = inf at 0 ...
        z = (y * 0.0).sum()  # ... and 0 * inf = NaN, produced by sqrt's backward
        with pytest.raises(cr.ChainruleError, match="sqrt") as info:
            with np.errstate(all="ignore"):
                z.backward()
    msg = str(info.value)
    assert "NaN" in msg and "input 0" in msg
    assert "test_engine.py" in msg  # the forward call's stack


def test_without_anomaly_mode_nan_passes_silently():
    x = f64([0.0, 1.0])
    with np.errstate(all="ignore"):
        (cr.sqrt(x) * 0.0).sum().backward()
    assert np.isnan(x.grad.numpy()[0])


def test_detect_anomaly_as_decorator_and_restores():
    @cr.detect_anomaly()
    def run():
        x = f64([0.0])
        with np.errstate(all="ignore"):
            cr.log(x).sum().backward()  # d log/dx = 1/0

    with pytest.raises(cr.ChainruleError, match="log"):
        run()
    assert not engine.STATE.anomaly


# --------------------------------------------------------------------------- random graphs

hypothesis = pytest.importorskip("hypothesis")
st = hypothesis.strategies

_UNARY = ["sin", "tanh", "square", "neg", "exp_small", "sigmoid"]
_BINARY = ["add", "sub", "mul", "div_safe"]


def _apply_op(lib, name, a, b=None):
    if name == "sin":
        return lib.sin(a)
    if name == "tanh":
        return lib.tanh(a)
    if name == "square":
        return a * a
    if name == "neg":
        return -a
    if name == "exp_small":
        return lib.exp(lib.tanh(a))
    if name == "sigmoid":
        return lib.sigmoid(a)
    if name == "add":
        return a + b
    if name == "sub":
        return a - b
    if name == "mul":
        return a * b
    return a / (b * b + 1)


@st.composite
def _graphs(draw):
    n_leaves = draw(st.integers(1, 3))
    shapes = [draw(st.sampled_from([(3,), (2, 3), (1, 3), (2, 1), ()])) for _ in range(n_leaves)]
    steps = []
    for _ in range(draw(st.integers(1, 12))):
        if draw(st.booleans()):
            steps.append((draw(st.sampled_from(_UNARY)), draw(st.integers(0, 50)), None))
        else:
            steps.append((draw(st.sampled_from(_BINARY)), draw(st.integers(0, 50)),
                          draw(st.integers(0, 50))))
    seed = draw(st.integers(0, 2 ** 16))
    return shapes, steps, seed


def _run_graph(lib, leaves, steps):
    values = list(leaves)
    for name, i, j in steps:  # each step may reuse any earlier value: a DAG with sharing
        a = values[i % len(values)]
        b = None if j is None else values[j % len(values)]
        values.append(_apply_op(lib, name, a, b))
    total = 0
    for v in values[len(leaves):] or values:
        total = total + v.sum()
    return total


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(_graphs())
def test_random_graphs_match_torch_to_second_order(graph):
    shapes, steps, seed = graph
    rng = np.random.default_rng(seed)
    data = [rng.uniform(-1.5, 1.5, s) for s in shapes]
    ours = [f64(d) for d in data]
    theirs = [torch.tensor(d, requires_grad=True) for d in data]
    out, tout = _run_graph(cr, ours, steps), _run_graph(torch, theirs, steps)
    close(out, tout, tol=1e-10)
    g = cr.autograd.grad(out, ours, create_graph=True, allow_unused=True)
    tg = torch.autograd.grad(tout, theirs, create_graph=True, allow_unused=True)
    for a, b in zip(g, tg):
        if b is None:
            assert a is None or not np.any(a.numpy())
        else:
            close(a, b, tol=1e-10)
    s = sum((a * a).sum() for a in g if a is not None and a.requires_grad)
    ts = sum((b * b).sum() for b in tg if b is not None and b.requires_grad)
    if isinstance(s, cr.Tensor) and isinstance(ts, torch.Tensor):
        gg = cr.autograd.grad(s, ours, allow_unused=True)
        tgg = torch.autograd.grad(ts, theirs, allow_unused=True)
        for a, b in zip(gg, tgg):
            if b is not None and a is not None:
                close(a, b, tol=1e-9)
            else:
                assert (a is None or not np.any(a.numpy())) and (b is None or not b.any())


def test_leaf_gradients_never_share_memory():
    """The engine keeps a fresh gradient buffer without copying; shared ones are copied."""
    a = cr.tensor([1.0, 2.0], requires_grad=True)
    b = cr.tensor([3.0, 4.0], requires_grad=True)
    (a + b).backward(cr.tensor([1.0, 1.0]))  # add passes one upstream array to both
    a.grad.data += 10
    assert b.grad.tolist() == [1.0, 1.0]
    g = np.array([2.0, 5.0], dtype=np.float32)
    c = cr.tensor([0.0, 0.0], requires_grad=True)
    c.backward(g)  # a leaf as root: its gradient is the caller's array
    c.grad.data *= 0
    assert g.tolist() == [2.0, 5.0]
    w = cr.tensor([[1.0, 2.0]], requires_grad=True)
    (w.reshape(2) * 3).sum().backward()  # a view of another buffer
    assert w.grad.data.base is None and w.grad.tolist() == [[3.0, 3.0]]


def test_nested_python_lists_are_arrays_for_forward_and_backward():
    x = f64([[1.0, 0.0], [0.0, 1.0]])
    y = cr.matmul([[1.0, 2.0]], x)
    y.sum().backward()
    close(y, [[1.0, 2.0]])
    close(x.grad, [[1.0, 1.0], [2.0, 2.0]])
    # and in a recorded backward, whose rules get the inputs themselves
    x.grad = None
    s = cr.matmul([[1.0, 2.0]], x).sum()
    (g,) = cr.autograd.grad(s * s, [x], create_graph=True)  # 2s·[[1, 1], [2, 2]], s = 3
    g.sum().backward()
    close(x.grad, 2 * 6 * np.array([[1.0, 1.0], [2.0, 2.0]]))


def test_plain_backward_and_the_general_walk_agree_bit_for_bit():
    """backward() takes a lean loop (engine._walk_plain); autograd.grad, anomaly mode and
    create_graph take the general one. Same graph, same bits: broadcasting, an input used
    twice, a hook on a non-leaf, a retained grad, a variadic op and an in-place change."""
    def graph():
        rng = np.random.default_rng(3)
        a = cr.tensor(rng.standard_normal((3, 4)), requires_grad=True)
        b = cr.tensor(rng.standard_normal(4), requires_grad=True)
        h = (a * b).tanh()
        h.register_hook(lambda g: g * 2)
        m = cr.cat([h, a.exp()], dim=0)
        m.retain_grad()
        c = cr.ones(4, dtype=cr.float64)
        c.mul_(3)  # an in-place change after the graph began: the walk checks versions
        return a, b, m, ((m * m).sum(0) / c + b).sum()

    a, b, m, loss = graph()
    loss.backward()
    plain = (a.grad.numpy(), b.grad.numpy(), m.grad.numpy())
    a, b, m, loss = graph()
    general = cr.autograd.grad(loss, [a, b, m])
    for x, y in zip(plain, general):
        assert np.array_equal(x, y.numpy())
    a, b, m, loss = graph()
    with cr.autograd.detect_anomaly():
        loss.backward()
    for x, y in zip(plain, (a.grad, b.grad, m.grad)):
        assert np.array_equal(x, y.numpy())


# --------------------------------------------------------------------------- the fast paths

def _operands(dtype):
    """(left, right) pairs an arithmetic operator meets: tensors (broadcasting, 0-d, with and
    without grad), Python numbers on either side, and operands that take apply's general
    path (a bool, a NumPy array, a view, a list)."""
    rng = np.random.default_rng(0)
    grad = np.issubdtype(dtype, np.floating)

    def t(shape, requires_grad=grad):
        return cr.tensor(rng.uniform(1.0, 3.0, shape).astype(dtype), requires_grad=requires_grad)

    a, b, s = t((3, 4)), t((4,)), t(())
    plain = t((3, 4), requires_grad=False)
    return [(a, b), (b, a), (a, plain), (plain, a), (a, 2.5), (2.5, a), (a, 3), (3, a),
            (s, s), (0, s), (s, 1.5), (a, True), (a, np.full(4, 2.0, dtype)), (a.T.T, b),
            (b, [1.0, 2.0, 3.0, 4.0])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_arithmetic_operators_record_what_apply_records(dtype):
    """Tensor's operators write apply's common case out (engine.binary_operator). They must
    give what apply gives: bits, dtype, the recorded graph and the gradients."""
    import operator as python

    from chainrule.ops import elementwise as E

    symbols = {E.add: python.add, E.sub: python.sub, E.mul: python.mul,
               E.div: python.truediv, E.pow: python.pow}
    for op, symbol in symbols.items():
        for left, right in _operands(dtype):
            got, want = symbol(left, right), engine.apply(op, left, right)
            assert got.dtype == want.dtype, (op.name, left, right)
            assert np.array_equal(got.numpy(), want.numpy(), equal_nan=True), op.name
            assert got.requires_grad == want.requires_grad
            if want.grad_fn is None:
                assert got.grad_fn is None
                continue
            g, w = got.grad_fn, want.grad_fn
            assert g.op is w.op and g.params == w.params
            assert all(p is q for p, q in zip(g.parents, w.parents, strict=True))
            assert all(p is q or np.array_equal(p, q) for p, q in
                       zip(g.inputs, w.inputs, strict=True))
            leaves = [x for x in (left, right) if isinstance(x, cr.Tensor) and x.requires_grad]
            for dg, dw in zip(cr.autograd.grad(got.sum(), leaves),
                              cr.autograd.grad(want.sum(), leaves), strict=True):
                assert np.array_equal(dg.numpy(), dw.numpy(), equal_nan=True), op.name


def test_operator_fast_paths_keep_apply_semantics():
    """What the written-out cases hand back to apply still works: promotion of an integer
    tensor to the default dtype, explained errors, no recording under no_grad, in-place
    version checks, and forward-mode tangents through an operator and an activation."""
    i = cr.tensor([1, 2, 3])
    assert (i * 0.5).dtype == cr.float32 and (0.5 + i).dtype == cr.float32
    assert cr.exp(i).dtype == cr.float32  # one-input fast path, handed back
    assert (i * 2).dtype == i.dtype
    x = cr.tensor([[1.0, 2.0]], requires_grad=True)
    with pytest.raises(ValueError, match=r"mul.*\(1, 2\).*\(3,\)"):
        x * cr.ones(3)
    with pytest.raises(ValueError, match=r"cholesky"):
        cr.linalg.cholesky(-cr.eye(2))
    with cr.no_grad():
        assert (x * 2).grad_fn is None and cr.tanh(x).grad_fn is None
    y = x * 3
    z = y * y
    y.add_(1)
    with pytest.raises(cr.ChainruleError, match="modified by an in-place operation"):
        z.sum().backward()
    out, tangent = cr.jvp(lambda v: cr.tanh(2.0 * v + 1) ** 2, (x.detach(),),
                          (cr.ones_like(x),))
    t = np.tanh(2 * x.detach().numpy() + 1)
    np.testing.assert_allclose(tangent.numpy(), 2 * t * (1 - t * t) * 2, rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_python_numbers_in_operators_give_numpys_bits(dtype):
    """The operators + - * / pass a Python number to NumPy as a 0-d array of the tensor's dtype
    (engine._TYPED_NUMBERS): values, dtypes and gradients must be those of apply, which passes
    the number itself, for every kind of number, in both operand orders; and the gradients of
    a plain backward those of create_graph=True (whose rules get the number itself)."""
    import operator as python

    from chainrule.ops import elementwise as E

    data = np.array([-2.5, -0.0, 0.0, 1e-3, 0.17, 3.0, 6e4, np.inf, np.nan], dtype=dtype)
    numbers = [1.0001, -0.001, 2, 0.5, 1 / 3, 3, -7, 2**24 + 1, 10**40, 1e-300, 1e300, 0.1,
               -0.0, 0.0, 0, float("nan"), float("inf"), -float("inf")]
    symbols = {E.add: python.add, E.sub: python.sub, E.mul: python.mul,
               E.div: python.truediv, E.pow: python.pow}
    x = cr.tensor(data, requires_grad=True)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for v in numbers:
            for op, symbol in symbols.items():
                for got, want in ((symbol(x, v), engine.apply(op, x, v)),
                                  (symbol(v, x), engine.apply(op, v, x))):
                    assert got.dtype == want.dtype, (op.name, v)
                    for a, b in ((got, want), *zip(
                            cr.autograd.grad(got.sum(), [x], retain_graph=True)
                            + cr.autograd.grad(got.sum(), [x], create_graph=True),
                            cr.autograd.grad(want.sum(), [x]) * 2)):
                        assert np.array_equal(a.numpy(), b.numpy(), equal_nan=True), (op.name, v)
                        assert np.array_equal(np.signbit(a.numpy()), np.signbit(b.numpy()))
    typed = engine._TYPED_NUMBERS[np.dtype(dtype).num]
    assert all(k == k and k != 0 for k in typed)  # no NaN (never found again), no zeros


def test_typed_numbers_stay_few():
    """A loop over many different numbers (a learning rate that changes every step) must not
    grow the table of typed numbers without bound."""
    x = cr.ones(3, requires_grad=True)
    for i in range(3 * engine._TYPED_NUMBERS_MAX):
        (x * (1.0 + i / 7)).sum().backward()
    assert len(engine._TYPED_NUMBERS[np.dtype(np.float32).num]) <= engine._TYPED_NUMBERS_MAX
    assert x.grad.numpy()[0] == pytest.approx(sum(np.float32(1.0 + i / 7) for i in range(
        3 * engine._TYPED_NUMBERS_MAX)), rel=1e-5)


@pytest.mark.parametrize("default", ["float32", "float64"])
def test_an_integer_tensor_with_a_float_tensor_takes_the_floats_dtype(default):
    """PyTorch: an int or bool tensor with a float16/float32 tensor (of any dim) gives that
    float dtype, not NumPy's float64/float32 nor the default dtype; with no float array (an
    int through exp, an int with a Python float), the default."""
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    cr.set_default_dtype(getattr(cr, default))
    torch.set_default_dtype(getattr(torch, default))
    try:
        for int_dtype in ("bool", "uint8", "int8", "int16", "int32", "int64"):
            a = np.array([1, 0, 3]).astype(int_dtype)
            for fn in ("exp", "sqrt", "sin"):  # NumPy: float16/32/64 by the int's size
                got, want = getattr(cr, fn)(cr.tensor(a)), getattr(torch, fn)(torch.tensor(a))
                assert str(got.dtype) == str(want.dtype).removeprefix("torch."), (fn, int_dtype)
                np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
            for float_dtype in ("float16", "float32", "float64"):
                for b in (np.array([1.5, 2.0, 0.25], float_dtype), np.array(0.5, float_dtype)):
                    for op, swap in itertools.product(
                            (operator.add, operator.mul, operator.truediv), (False, True)):
                        x, y = (b, a) if swap else (a, b)
                        got = op(cr.tensor(x), cr.tensor(y))
                        want = op(torch.tensor(x), torch.tensor(y))
                        assert str(got.dtype) == str(want.dtype).removeprefix("torch."), \
                            (int_dtype, b.dtype, b.ndim, op, swap)
                        np.testing.assert_allclose(got.numpy().astype(np.float64),
                                                   want.numpy().astype(np.float64), rtol=1e-3)
            got = cr.tensor(a) * 2.5  # a Python float: the default dtype
            assert got.dtype == np.dtype(default)
    finally:
        cr.set_default_dtype(cr.float32)
        torch.set_default_dtype(previous)


@pytest.mark.parametrize("chain", [
    lambda y: (y.exp_(), y.mul_(2)),
    lambda y: (y.exp_(), y.sigmoid_(), y.clamp_(min=0.6)),
    lambda y: (y.tanh_(), y.add_(1)),
])
def test_in_place_change_of_an_output_backward_needs_is_refused_after_several_in_place_ops(chain):
    # exp_ keeps its output for backward; the next in-place op overwrites that memory. Each
    # in-place op takes a snapshot of the tensor, held only weakly by the previous node: once
    # it was collected the check used to be skipped, and backward gave a silently wrong
    # gradient (2x for exp_ then mul_(2)). PyTorch refuses all three chains.
    x = cr.tensor([0.5, 1.0], requires_grad=True)
    y = x * 1
    chain(y)
    with pytest.raises(cr.ChainruleError, match="modified by an in-place operation"):
        y.sum().backward()


@pytest.mark.parametrize("create_graph", [False, True])
def test_gradients_of_a_0d_value_used_twice_stay_in_float64(create_graph):
    # h * h sends two 0-d gradients to h; their sum was a NumPy scalar (a float subclass),
    # which the next rule took as a weak Python number: 1.2000000476837158 (float32) for 1.2
    x = cr.tensor(np.array([0.6, 2.0]), requires_grad=True)
    h = x[0]
    (h * h).backward(create_graph=create_graph)
    assert x.grad.dtype == np.float64
    assert x.grad.data[0] == 1.2 and x.grad.data[1] == 0.0
