"""cr.utils.checkpoint: the same results and gradients as without it, and less kept."""

import numpy as np
import pytest

import chainrule as cr
from chainrule.engine import Node
from chainrule.utils.checkpoint import checkpoint, checkpoint_sequential


def make_model(seed=0, dropout=0.0):
    cr.manual_seed(seed)
    layers = []
    for _ in range(6):
        layers += [cr.nn.Linear(16, 16), cr.nn.Tanh()]
        if dropout:
            layers.append(cr.nn.Dropout(dropout))
    return cr.nn.Sequential(*layers, cr.nn.Linear(16, 3)).double()


def data():
    rng = np.random.default_rng(1)
    return cr.tensor(rng.standard_normal((8, 16)), requires_grad=True)


def run(model, x, how, seed=7):
    """Loss, its gradients (parameters, then x) and the next random number drawn after."""
    cr.manual_seed(seed)
    model.zero_grad()
    x.grad = None
    out = how(model, x)
    loss = (out ** 2).mean()
    loss.backward()
    grads = [p.grad.numpy().copy() for p in model.parameters()] + [x.grad.numpy().copy()]
    return loss.item(), grads, cr.rand(1).item()


HOWS = {
    "checkpoint": lambda m, x: checkpoint(m, x),
    "reentrant": lambda m, x: checkpoint(m, x, use_reentrant=True),
    "sequential": lambda m, x: checkpoint_sequential(m, 3, x),
    "sequential_list": lambda m, x: checkpoint_sequential(list(m.children()), 4, x),
    "nested": lambda m, x: checkpoint(lambda y: checkpoint_sequential(m, 2, y), x),
}


@pytest.mark.parametrize("dropout", [0.0, 0.3])
@pytest.mark.parametrize("how", list(HOWS))
def test_same_results_and_gradients(how, dropout):
    model = make_model(dropout=dropout)
    x = data()
    loss0, grads0, next0 = run(model, x, lambda m, x: m(x))
    loss1, grads1, next1 = run(model, x, HOWS[how])
    assert loss0 == loss1
    for a, b in zip(grads0, grads1):
        np.testing.assert_array_equal(a, b)
    assert next0 == next1  # the recomputation left the random stream where it was


def test_without_preserve_rng_state_dropout_draws_again():
    model = make_model(dropout=0.5)
    x = data()
    _, grads0, _ = run(model, x, lambda m, x: m(x))
    _, grads1, _ = run(model, x, lambda m, x: checkpoint(m, x, preserve_rng_state=False))
    assert any(not np.array_equal(a, b) for a, b in zip(grads0, grads1))


def graph_stats(t, leaves):
    """The nodes of ``t``'s graph and the bytes of the arrays they keep (each counted once),
    apart from those of ``leaves`` (the parameters and the input, kept either way)."""
    kept = {id(leaf.data) for leaf in leaves}
    nodes, arrays, stack = set(), {}, [t.grad_fn]
    while stack:
        node = stack.pop()
        if node in nodes:
            continue
        nodes.add(node)
        for v in node.values or ():
            if isinstance(v, np.ndarray) and id(v) not in kept:
                arrays[id(v)] = v.nbytes
        stack += [p for p in node.parents or () if type(p) is Node]
    return len(nodes), sum(arrays.values())


def test_memory_saved_values_of_segments_are_not_kept():
    model = make_model()
    x = data()
    plain = (model(x) ** 2).mean()
    seq = (checkpoint_sequential(model, 3, x) ** 2).mean()
    whole = (checkpoint(model, x) ** 2).mean()
    leaves = [*model.parameters(), x]
    n_plain, bytes_plain = graph_stats(plain, leaves)
    n_seq, bytes_seq = graph_stats(seq, leaves)
    n_whole, bytes_whole = graph_stats(whole, leaves)
    assert n_plain == 15  # 7 linear + 6 tanh + pow + mean
    assert n_whole == 3  # checkpoint, pow, mean: the model is one node
    assert n_seq == 9  # two checkpoints of 4 modules, the last 5 modules plain, pow, mean
    activation = 8 * 16 * 8  # one (8, 16) float64 activation
    # plain: every layer's output is kept (12 of them, and the (8, 3) result); checkpointed:
    # only the inputs of the segments (none for the whole model: its input is a leaf)
    assert bytes_plain >= 12 * activation
    assert bytes_whole == 2 * 8 * 3 * 8  # the model's output (pow's input) and pow's output
    # the two checkpointed segments (8 of the 13 modules) keep only the second one's input
    assert bytes_seq <= bytes_plain - 5 * activation
    # and the gradients agree
    g_plain = cr.autograd.grad(plain, list(model.parameters()))
    g_seq = cr.autograd.grad(seq, list(model.parameters()))
    for a, b in zip(g_plain, g_seq):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_intermediates_are_freed_after_the_forward():
    import gc
    import weakref

    seen = []

    def f(x):
        h = x.exp()
        seen.append(weakref.ref(h))
        return h.sin()

    x = cr.tensor([0.5, 1.0], dtype=cr.float64, requires_grad=True)
    y = checkpoint(f, x)
    gc.collect()
    assert seen[0]() is None  # the segment's intermediate is gone once it returned
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.cos(np.exp([0.5, 1.0])) * np.exp([0.5, 1.0]),
                               rtol=1e-12)


def test_closure_tensors_tuple_outputs_and_keyword_arguments():
    a = cr.tensor([1.0, 2.0, 3.0], dtype=cr.float64, requires_grad=True)
    w = cr.tensor([0.5, -1.0, 2.0], dtype=cr.float64, requires_grad=True)

    def loss(wrap):
        h = (a * 2).sin()  # not a leaf: its gradient must flow on to a

        def f(x, scale=1.0):
            return (x * h * w).tanh() * scale, (x * x).sum()

        y, s = wrap(f)(a * 1.5, scale=3.0)
        return (y ** 2).sum() + s

    g0 = cr.autograd.grad(loss(lambda f: f), [a, w])
    g1 = cr.autograd.grad(loss(lambda f: lambda *z, **k: checkpoint(f, *z, **k)), [a, w])
    for p, q in zip(g0, g1):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-14, atol=1e-15)
    assert cr.gradcheck(lambda x, w_: checkpoint(lambda y: (y * w_).sin(), x),
                        [cr.tensor([0.3, 0.7, -0.2], dtype=cr.float64, requires_grad=True), w])


def test_nested_outputs_dicts_and_namedtuples_carry_gradients():
    # A dict output used to come back with the first run's graph, which ends at a detached
    # copy of the input: the input got no gradient at all.
    from collections import namedtuple

    Pair = namedtuple("Pair", "u v")
    a = cr.tensor([1.0, 2.0], dtype=cr.float64, requires_grad=True)
    out = checkpoint(lambda t: {"k": t * 2, "rest": Pair(t.sin(), [t.sum(), None, 3])}, a)
    assert out["k"].grad_fn.name() == "CheckpointBackward"
    assert isinstance(out["rest"], Pair) and out["rest"].v[1:] == [None, 3]
    (out["k"].sum() + out["rest"].u.sum() + out["rest"].v[0]).backward()
    np.testing.assert_allclose(a.grad.numpy(), 2 + np.cos([1.0, 2.0]) + 1, rtol=1e-14)


def test_the_segment_does_not_hold_its_outputs():
    import gc
    import weakref

    x = cr.tensor([1.0, 2.0], requires_grad=True)
    y = checkpoint(lambda t: t * 2, x)
    segment = weakref.ref(y.grad_fn.inputs[-1].segment)
    gc.disable()
    try:
        del y  # (no reference cycle: freed without the garbage collector)
        assert segment() is None
    finally:
        gc.enable()


def test_hooks_on_parameters_run_once():
    model = make_model()
    x = data()
    calls = []
    model[0].weight.register_hook(lambda g: calls.append(1))
    (checkpoint(model, x) ** 2).mean().backward()
    assert calls == [1]


def test_under_no_grad_and_without_grad_it_just_runs():
    model = make_model()
    with cr.no_grad():
        out = checkpoint(model, data())
    assert not out.requires_grad
    out = checkpoint(lambda x: x * 2, cr.tensor([1.0]))
    assert not out.requires_grad and out.grad_fn is None


def test_errors():
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="Unexpected keyword arguments: scale"):
        checkpoint(lambda y, scale: y * scale, x, use_reentrant=True, scale=2.0)
    with pytest.raises(TypeError, match="expected a function"):
        checkpoint(3, x)
    with pytest.raises(ValueError, match="segments must be a positive int"):
        checkpoint_sequential([cr.sin], 0, x)
    y = x * 1
    out = checkpoint(lambda z: z.exp(), y)
    y.add_(1)  # the checkpoint's input changed before backward: it could not recompute
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
    outside = x * 2  # a non-leaf the function reads besides its argument
    out = checkpoint(lambda z: (z ** 3 * outside).sum(), x * 1)
    with pytest.raises(RuntimeError, match="create_graph=True.*computed outside it.*as an "
                                           "argument"):
        cr.autograd.grad(out * out, x, create_graph=True)
    calls = []

    def changes(z):  # a different shape each run
        calls.append(1)
        return z[: len(calls)] * 1

    out = checkpoint(changes, x)
    with pytest.raises(RuntimeError, match="gave different outputs when recomputed"):
        out.sum().backward()


def test_torch_gives_the_same_gradients():
    torch = pytest.importorskip("torch")
    from torch.utils.checkpoint import checkpoint_sequential as torch_seq

    model = make_model()
    x = data()
    tm = torch.nn.Sequential(*[
        torch.nn.Linear(16, 16) if isinstance(m, cr.nn.Linear) else torch.nn.Tanh()
        for m in list(model.children())[:-1]], torch.nn.Linear(16, 3)).double()
    with torch.no_grad():
        for p, q in zip(tm.parameters(), model.parameters()):
            p.copy_(torch.tensor(q.numpy()))
    tx = torch.tensor(x.numpy(), requires_grad=True)
    (torch_seq(tm, 3, tx, use_reentrant=False) ** 2).mean().backward()
    (checkpoint_sequential(model, 3, x) ** 2).mean().backward()
    for p, q in zip(model.parameters(), tm.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


# --------------------------------------------------------------------------- second order

def test_second_derivatives_through_a_checkpoint_match_torch():
    """create_graph through a checkpoint: a gradient-norm penalty on the input (as in WGAN-GP)
    differentiated into the input's history and the model's parameters, beside PyTorch."""
    torch = pytest.importorskip("torch")
    from torch.utils.checkpoint import checkpoint as torch_checkpoint

    model = make_model()
    t_model = torch.nn.Sequential(*[
        torch.nn.Linear(16, 16, dtype=torch.float64) if isinstance(m, cr.nn.Linear)
        else torch.nn.Tanh() for m in model if not isinstance(m, cr.nn.Linear)
        or m.out_features == 16], torch.nn.Linear(16, 3, dtype=torch.float64))
    for p, tp in zip(model.parameters(), t_model.parameters()):
        tp.data = torch.from_numpy(p.data.copy())
    x0 = data()
    tx0 = torch.tensor(x0.numpy(), requires_grad=True)

    def penalty(lib, run_model, x0, params, check):
        x = x0 * 1.5  # the checkpoint's input has a history of its own
        out = check(run_model, x)
        (gx,) = lib.autograd.grad(out.sum(), (x,), create_graph=True)
        loss = ((gx * gx).sum(-1).sqrt() - 1).pow(2).mean() + (out * out).mean()
        return lib.autograd.grad(loss, (x0, *params))

    ours = penalty(cr, model, x0, list(model.parameters()),
                   lambda f, x: checkpoint(f, x, use_reentrant=False))
    theirs = penalty(torch, t_model, tx0, list(t_model.parameters()),
                     lambda f, x: torch_checkpoint(f, x, use_reentrant=False))
    plain = penalty(cr, model, x0, list(model.parameters()), lambda f, x: f(x))
    for a, b, c in zip(ours, theirs, plain):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-10, atol=1e-13)
        np.testing.assert_allclose(a.numpy(), c.numpy(), rtol=1e-12, atol=1e-15)


def test_gradgradcheck_through_a_checkpoint():
    w = cr.tensor(np.random.default_rng(2).standard_normal((3, 3)), requires_grad=True)

    def f(x, w):
        return checkpoint(lambda t: (t @ w).tanh() * t, x, use_reentrant=False)

    x = cr.tensor(np.random.default_rng(3).standard_normal((2, 3)), requires_grad=True)
    assert cr.gradgradcheck(f, (x, w))
