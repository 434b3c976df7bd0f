"""Views and in-place changes as PyTorch has them: which results share memory with their input,
what an in-place change of a view does to the input's values and gradient, and when backward
must refuse. Random programs of views, in-place ops and ordinary ops run on both libraries."""

from __future__ import annotations

import random

import numpy as np
import pytest

import chainrule as cr
from chainrule.ops.registry import OpError

torch = pytest.importorskip("torch")


# --------------------------------------------------------------------------- contiguous, view

def test_contiguous_copies_a_strided_tensor_and_returns_a_row_ordered_one_itself():
    for T in (torch, cr):
        x = T.tensor(np.arange(24.0).reshape(4, 6))
        col = x[:, :1]  # (4, 1) with a row stride of 6: not contiguous
        assert not col.is_contiguous()
        c = col.contiguous()
        assert c.is_contiguous() and c is not col
        c.mul_(10)  # a copy: x keeps its values
        assert x[:, 0].tolist() == [0.0, 6.0, 12.0, 18.0]
        assert x.contiguous() is x


def test_contiguous_keeps_the_gradient_path():
    base = np.random.default_rng(0).standard_normal((3, 4))
    grads = []
    for T in (torch, cr):
        leaf = T.tensor(base, requires_grad=True)
        y = (leaf * 2).t().contiguous()
        (y * y).sum().backward()
        grads.append(np.asarray(leaf.grad.tolist()))
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


def test_view_refuses_a_layout_without_that_view_as_pytorch_does():
    x = cr.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(RuntimeError):
        torch.arange(6.0).reshape(2, 3).t().view(-1)
    with pytest.raises(OpError, match=r"view: a tensor of shape \(3, 2\) with strides .*\(1, 3\)"
                                      r".*reshape"):
        x.t().view(-1)
    assert x.t().reshape(-1).tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]  # reshape copies


def test_view_shares_memory_where_the_layout_allows():
    x = cr.tensor(np.arange(12.0).reshape(3, 4))
    v = x[:, :1].view(3)  # a column of a row-major matrix: one stride, a view
    assert np.shares_memory(v.data, x.data)
    x.view(4, 3)[0, 0] = 100.0
    assert x[0, 0].item() == 100.0
    assert x.view_as(cr.zeros(2, 6)).shape == (2, 6)


# --------------------------------------------------------------------------- diagonal

@pytest.mark.parametrize("offset, dims", [(0, (0, 1)), (1, (0, 1)), (-1, (0, 1)), (2, (1, 0)),
                                          (0, (0, 2)), (-1, (2, 1))])
def test_diagonal_is_a_writable_view_whose_change_reaches_values_and_gradients(offset, dims):
    rng = np.random.default_rng(1)
    base = rng.standard_normal((3, 4, 5)) if 2 in dims else rng.standard_normal((4, 5))
    w = rng.standard_normal(base.shape)
    results = []
    for T in (torch, cr):
        leaf = T.tensor(base, requires_grad=True)
        x = leaf * 1.0
        d = T.diagonal(x, offset, *dims)
        d.mul_(3.0)
        d.sigmoid_()
        loss = (x * T.tensor(w)).sum() + (d * d).sum()
        loss.backward()
        results.append((np.asarray(x.tolist()), np.asarray(leaf.grad.tolist())))
    (xt, gt), (xc, gc) = results
    np.testing.assert_allclose(xc, xt, rtol=1e-12)
    np.testing.assert_allclose(gc, gt, rtol=1e-10, atol=1e-12)


def test_diagonal_of_a_read_only_tensor_stays_read_only():
    x = cr.ones(3).expand(3, 3)
    with pytest.raises(cr.ChainruleError, match="read-only"):
        x.diagonal().mul_(2)


def test_diagonal_second_order_and_forward_mode():
    x = cr.tensor(np.random.default_rng(2).standard_normal((4, 4)), requires_grad=True)
    assert cr.gradgradcheck(lambda a: (a.diagonal(1) ** 3).sum(), (x,))
    t = cr.tensor(np.arange(16.0).reshape(4, 4))
    _, tangent = cr.jvp(lambda a: a.diagonal(-1), (x,), (t,))
    assert tangent.tolist() == [4.0, 9.0, 14.0]


# --------------------------------------------------------------------------- t_() on a view

def test_changing_the_shape_of_a_view_in_place_keeps_it_a_view_of_its_base():
    base = np.random.default_rng(4).standard_normal((4, 6))
    results = []
    for T in (torch, cr):
        leaf = T.tensor(base, requires_grad=True)
        x = leaf * 1.0
        v = x[1:3]
        v.t_()  # now (6, 2), still x's rows 1 and 2
        v.mul_(2.0)
        v[0] = 5.0
        x.mul_(0.5)  # the base changes: the view follows it
        y = leaf * 3.0
        u = y[:, :2]
        u.unsqueeze_(0)
        u.add_(1.0)
        y.sub_(0.25)
        loss = (x * x).sum() + (v * v).sum() + (u * u * u).sum() + (y * x).sum()
        loss.backward()
        results.append([np.asarray(t.tolist()) for t in (x, v, u, y, leaf.grad)])
    for ours, theirs in zip(*reversed(results)):
        assert ours.shape == theirs.shape
        np.testing.assert_allclose(ours, theirs, rtol=1e-12)


def test_a_sibling_view_is_refused_after_another_views_shape_changed_and_the_base_changed():
    # (chainrule's limitation, a clear error where PyTorch goes on: one view's in-place reshape
    # marks every view of the same memory taken before it as possibly stale)
    x = cr.tensor(np.ones((4, 6)), requires_grad=True) * 1.0
    v, u = x[1:3], x[:, :2]
    u.unsqueeze_(0)
    x.mul_(0.5)
    with pytest.raises(cr.ChainruleError, match="reshaped in place"):
        (v * v).sum()
    assert (u * u).sum().item() == 2.0  # the reshaped view itself follows its base


# --------------------------------------------------------------------------- pow_

def test_changing_the_result_of_pow_in_place_is_allowed_when_its_backward_needs_no_output():
    results = []
    for T in (torch, cr):
        leaf = T.tensor([0.5, 1.5, -2.0], requires_grad=True)
        c = leaf * 1.0
        c.pow_(2)  # backward reads the old base (kept), not the output
        k = c * 3
        c.fill_(0.25)
        (k.sum() + c.sum()).backward()
        results.append(leaf.grad.tolist())
    assert results[1] == results[0]


def test_changing_a_power_whose_exponent_needs_the_output_is_refused_as_in_pytorch():
    for T, error in ((torch, RuntimeError), (cr, cr.ChainruleError)):
        base = T.tensor([0.5, 1.5], requires_grad=True)
        exponent = T.tensor([2.0, 3.0], requires_grad=True)
        c = (base * 1.0) ** exponent
        c.mul_(2)
        with pytest.raises(error, match="in-place|inplace"):
            c.sum().backward()


# --------------------------------------------------------------------------- random programs

VIEWS = ["slice0", "slice1", "T", "reshape", "unsqueeze", "select", "narrow", "view_flat",
         "last_col", "new_axis", "chunk1", "diagonal", "unbind0", "movedim", "flip_copy"]
INPLACE = ["add_", "mul_", "setitem_slice", "setitem_scalar", "clamp_", "neg_", "tanh_",
           "copy_", "div_", "sub_other", "relu_", "fill_", "zero_", "masked_fill_",
           "index_add_", "pow_", "sigmoid_", "clamp_min_", "addcmul_", "t_", "unsqueeze_",
           "squeeze_", "transpose_"]
OPS = ["tanh", "square", "add_scalar_tensor", "exp", "sum0"]


def _view(T, cur, name):
    if cur.ndim < 2 and name in ("slice1", "T", "select", "last_col", "diagonal", "movedim"):
        return cur
    if name == "chunk1":
        return cur.chunk(2, 0)[1] if cur.shape[0] >= 2 else cur
    return {
        "slice0": lambda: cur[1:], "slice1": lambda: cur[:, ::2],
        "T": lambda: cur.transpose(0, 1), "reshape": lambda: cur.reshape(-1),
        "unsqueeze": lambda: cur.unsqueeze(0), "select": lambda: cur[0],
        "narrow": lambda: cur.narrow(0, 0, max(1, cur.shape[0] - 1)),
        "view_flat": lambda: cur.contiguous().view(-1), "last_col": lambda: cur[..., :1],
        "new_axis": lambda: cur[None], "diagonal": lambda: cur.diagonal(),
        "unbind0": lambda: cur.unbind(0)[-1], "movedim": lambda: cur.movedim(0, -1),
        "flip_copy": lambda: cur.flip(0),
    }[name]()


def _inplace(T, cur, name, y):
    if cur.numel() == 0:
        return
    if name in ("setitem_slice", "setitem_scalar", "index_add_") and cur.ndim == 0:
        return
    if name == "setitem_slice":
        cur[:1] = cur[:1] * 2.0
    elif name == "setitem_scalar":
        cur[0] = 3.0
    elif name == "sub_other":
        cur.sub_(y.reshape(-1)[: cur.numel()].reshape(cur.shape))
    elif name == "index_add_":
        first = cur[:1]
        cur.index_add_(0, T.tensor([0]), y.reshape(-1)[: first.numel()].reshape(first.shape))
    else:
        {"add_": lambda: cur.add_(0.5), "mul_": lambda: cur.mul_(1.5),
         "clamp_": lambda: cur.clamp_(-0.5, 0.7), "neg_": lambda: cur.neg_(),
         "tanh_": lambda: cur.tanh_(), "copy_": lambda: cur.copy_(cur * 0.3 + 1),
         "div_": lambda: cur.div_(2.0), "relu_": lambda: cur.relu_(),
         "fill_": lambda: cur.fill_(0.25), "zero_": lambda: cur.zero_(),
         "masked_fill_": lambda: cur.masked_fill_(cur > 0.3, -1.0),
         "pow_": lambda: cur.pow_(2), "sigmoid_": lambda: cur.sigmoid_(),
         "clamp_min_": lambda: cur.clamp_min_(0.1),
         "addcmul_": lambda: cur.addcmul_(cur, cur, value=0.5),
         "t_": lambda: cur.t_() if cur.ndim <= 2 else None,
         "unsqueeze_": lambda: cur.unsqueeze_(0), "squeeze_": lambda: cur.squeeze_(),
         "transpose_": lambda: cur.transpose_(0, -1) if cur.ndim else None}[name]()


def _op(cur, name, y):
    if name == "sum0":
        return cur.sum(0) if cur.ndim > 1 else cur
    # (a 0-d second operand: the result's memory layout follows cur's in both libraries)
    return {"tanh": lambda: cur.tanh(), "square": lambda: cur * cur,
            "add_scalar_tensor": lambda: cur + y.sum() * 0.01,
            "exp": lambda: (cur * 0.1).exp()}[name]()


def _run(T, program, base, other, backward=True):
    leaf = T.tensor(base, requires_grad=True)
    leaf_other = T.tensor(other, requires_grad=True)
    x, y = leaf * 1.0, leaf_other * 1.0
    cur, kept = x, []
    for kind, name in program:
        if kind == "view":
            cur = _view(T, cur, name)
            kept.append(cur)
        elif kind == "inplace":
            _inplace(T, cur, name, y)
        else:
            cur = _op(cur, name, y)
            kept.append(cur)
    w = T.tensor(np.linspace(-1, 1, base.size).reshape(base.shape))
    loss = (x * w).sum() + sum((k * k).sum() for k in kept) * 0.1 + (cur * cur).sum()
    if not backward:
        return float(loss.item())
    loss.backward()
    grads = [None if t.grad is None else np.asarray(t.grad.tolist()) for t in (leaf, leaf_other)]
    return float(loss.item()), grads


def _program(rng: random.Random) -> list[tuple[str, str]]:
    steps = []
    for _ in range(rng.randint(1, 7)):
        u = rng.random()
        kind, names = (("view", VIEWS) if u < 0.4 else ("inplace", INPLACE) if u < 0.75
                       else ("op", OPS))
        steps.append((kind, rng.choice(names)))
    return steps


def _numerical_grad(program, base, other, h=1e-6):
    grad = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        up, down = base.copy(), base.copy()
        up[idx] += h
        down[idx] -= h
        grad[idx] = (_run(cr, program, up, other, False) - _run(cr, program, down, other, False)
                     ) / (2 * h)
    return grad


# What chainrule refuses where PyTorch goes on (documented): writing into an expand() view
# (which PyTorch has deprecated).
_REFUSED = ("read-only tensor",)


@pytest.mark.parametrize("chunk", range(4))
def test_random_view_and_inplace_programs_agree_with_pytorch(chunk):
    outcomes = {"same": 0, "both refused": 0, "only torch refused": 0}
    for seed in range(chunk * 60, (chunk + 1) * 60):
        program = _program(random.Random(seed))
        rng = np.random.default_rng(seed)
        base, other = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
        got = {}
        for name, T in (("torch", torch), ("cr", cr)):
            try:
                got[name] = _run(T, program, base, other)
            except Exception as e:  # noqa: BLE001 - both libraries' errors are compared
                got[name] = e
        t, c = got["torch"], got["cr"]
        where = f"seed {seed}, program {program}"
        if isinstance(t, Exception) and isinstance(c, Exception):
            outcomes["both refused"] += 1
            continue
        if isinstance(c, Exception):
            assert any(s in str(c) for s in _REFUSED), f"{where}: chainrule raised {c!r}"
            continue
        if isinstance(t, Exception):
            # chainrule keeps old values where PyTorch refuses: its gradient must be exact
            outcomes["only torch refused"] += 1
            num = _numerical_grad(program, base, other)
            scale = max(1.0, float(np.abs(c[1][0]).max()))
            assert np.abs(num - c[1][0]).max() <= 1e-5 * scale, where
            continue
        outcomes["same"] += 1
        assert c[0] == pytest.approx(t[0], rel=1e-10), where
        for gc, gt in zip(c[1], t[1]):
            assert (gc is None) == (gt is None), where
            if gt is not None:
                np.testing.assert_allclose(gc, gt, rtol=1e-9, atol=1e-12, err_msg=where)
    assert outcomes["same"] > 30  # (the programs mostly run: the comparison is not vacuous)
