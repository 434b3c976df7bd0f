"""Behaviour fixed in session 12, each checked against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("call", [
    lambda lib, x, i: lib.gather(x, 1, i),
    lambda lib, x, i: lib.index_select(x, 1, i[:, 0]),
    lambda lib, x, i: x.scatter_add(1, i, x[:, :1] * 0 + 1),
], ids=["gather", "index_select", "scatter_add"])
def test_negative_indices_are_refused_as_in_torch(call) -> None:
    x = np.arange(6.0).reshape(2, 3)
    idx = np.array([[-1], [0]])
    with pytest.raises((IndexError, RuntimeError)):
        call(torch, torch.tensor(x), torch.tensor(idx))
    with pytest.raises(IndexError, match=r"index -1 is out of range for a dimension of size 3 "
                                         r"\(valid: 0..2, not negative\)"):
        call(cr, cr.tensor(x), cr.tensor(idx))
    ok = np.array([[2], [0]])  # the same positions, counted from the front: accepted, as torch
    np.testing.assert_array_equal(call(cr, cr.tensor(x), cr.tensor(ok)).numpy(),
                                  call(torch, torch.tensor(x), torch.tensor(ok)).numpy())


def test_take_along_dim_keeps_negative_indices_as_torch() -> None:
    x = np.arange(6.0).reshape(2, 3)
    idx = np.array([[-1], [0]])
    np.testing.assert_array_equal(
        cr.take_along_dim(cr.tensor(x), cr.tensor(idx), 1).numpy(),
        torch.take_along_dim(torch.tensor(x), torch.tensor(idx), 1).numpy())


@pytest.mark.parametrize("mode,pads", [("reflect", (-3, -3)), ("replicate", (-3, -3)),
                                       ("replicate", (-2, -3)), ("constant", (-6, 2)),
                                       ("constant", (-7, 1))])
def test_pad_that_overdraws_a_dim_is_refused_as_in_torch(mode, pads) -> None:
    x = np.arange(5.0).reshape(1, 1, 5)
    with pytest.raises(RuntimeError):
        torch.nn.functional.pad(torch.tensor(x), pads, mode=mode)
    with pytest.raises(ValueError, match=r"pad: .*\(-\d, -?\d\).*(leaves nothing|removes more)"):
        cr.nn.functional.pad(cr.tensor(x), pads, mode=mode)


@pytest.mark.parametrize("mode,size,pads", [("constant", 5, (-5, 0)), ("constant", 5, (-3, 1)),
                                            ("circular", 4, (-2, -2)), ("circular", 4, (-3, 1)),
                                            ("circular", 5, (2, -1)), ("reflect", 5, (-2, 1)),
                                            ("replicate", 5, (-4, 2))])
def test_pad_with_crops_matches_torch(mode, size, pads) -> None:
    x = np.arange(float(size)).reshape(1, 1, size)
    expected = torch.nn.functional.pad(torch.tensor(x), pads, mode=mode).numpy()
    t = cr.tensor(x, requires_grad=True)
    out = cr.nn.functional.pad(t, pads, mode=mode)
    np.testing.assert_array_equal(out.numpy(), expected)
    if out.numel():
        out.sum().backward()
        tx = torch.tensor(x, requires_grad=True)
        torch.nn.functional.pad(tx, pads, mode=mode).sum().backward()
        np.testing.assert_array_equal(t.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("mode", ["reflect", "replicate"])
@pytest.mark.parametrize("shape,pads", [((1, 1, 3, 3), (-1, -2, 0, 0)),
                                        ((1, 1, 3, 3), (0, 1, -1, -2)),
                                        ((1, 1, 3, 3, 3), (0, 0, 0, 0, -1, -2)),
                                        ((1, 1, 3, 3), (-1, -2, -1, -2)),
                                        ((1, 1, 3, 3), (0, 0, -2, -2))])
def test_pad_empty_in_some_dims_only_is_allowed_as_in_torch(mode, shape, pads) -> None:
    """PyTorch refuses a negative size, or a result empty in every padded dim; one empty dim
    among several gives an empty tensor."""
    x = np.arange(float(np.prod(shape))).reshape(shape)
    try:
        expected = torch.nn.functional.pad(torch.tensor(x), pads, mode=mode).numpy()
    except RuntimeError:
        with pytest.raises(ValueError, match=r"pad: .*(leaves nothing|removes more)"):
            cr.nn.functional.pad(cr.tensor(x), pads, mode=mode)
        return
    out = cr.nn.functional.pad(cr.tensor(x, requires_grad=True), pads, mode=mode)
    assert out.shape == expected.shape
    out.sum().backward()


@pytest.mark.parametrize("transform", ["grad", "jacrev", "vjp", "jvp"])
def test_transforms_point_a_dict_of_tensors_to_cr_func(transform) -> None:
    params = {"w": cr.tensor([1.0, 2.0, 3.0])}

    def f(p):
        return (p["w"] ** 2).sum()

    with pytest.raises(TypeError, match=rf"{transform}: cannot differentiate with respect to a "
                                        rf"dict.*use cr\.func\.{transform}"):
        if transform == "vjp":
            cr.vjp(f, params)
        elif transform == "jvp":
            cr.jvp(f, (params,), (params,))
        else:
            getattr(cr, transform)(f)(params)
    np.testing.assert_array_equal(cr.func.grad(f)(params)["w"].numpy(), [2.0, 4.0, 6.0])


def test_gradient_monitor_reports_a_bare_layer_as_one_layer() -> None:
    lin = cr.nn.Linear(3, 2)
    monitor = cr.nn.utils.GradientMonitor(lin)
    lin(cr.randn(4, 3)).pow(2).mean().backward()
    monitor.step()
    assert monitor.layers == ["Linear"]
    (record,) = monitor.layer_records
    expected = np.sqrt((lin.weight.grad.numpy() ** 2).sum() + (lin.bias.grad.numpy() ** 2).sum())
    np.testing.assert_allclose(record.grad_norm, expected, rtol=1e-6)
    assert "bias" in monitor.report(per="parameter")

    class Loose(cr.nn.Module):  # a user's module with loose parameters: one row each
        def __init__(self) -> None:
            super().__init__()
            self.w1 = cr.nn.Parameter(cr.randn(3, 3))
            self.w2 = cr.nn.Parameter(cr.randn(3, 1))

    assert cr.nn.utils.GradientMonitor(Loose()).layers == ["w1", "w2"]
    assert cr.nn.utils.GradientMonitor(cr.nn.Sequential(cr.nn.Linear(3, 2))).layers == ["0"]
