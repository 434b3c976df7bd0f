"""Resampling (interpolate, Upsample*, pixel/channel shuffles) and the padding layers against
torch: outputs and input gradients over a grid of sizes, scale factors and options; gradients
against central differences; non-finite inputs; double backward; and the errors for bad input.

The expected gradient of an interpolation is computed from torch's *forward*: the transpose of
the matrix torch's forward applies (read off its outputs on the basis vectors). torch's own
backward is compared too, except in the few cases where torch's CPU kernels disagree with
themselves (its backward uses another index formula than its forward, e.g. nearest with
scale_factor=1.1 on a size that stays unchanged); there the gradient of the forward is right.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any

import numpy as np
import pytest
from test_nn_parity import run_parity
from torch_parity_helpers import TOL, close

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F
from chainrule.nn.functional import upsampling as U

torch = pytest.importorskip("torch")
TF = torch.nn.functional
tnn = torch.nn

DTYPES = [np.float64, np.float32]


# --------------------------------------------------------------------------- interpolate

def torch_adjoint(kw: dict, shape: tuple, g: np.ndarray) -> np.ndarray:
    """Σ_o g[o] ∂y[o]/∂x: the transpose of torch's forward map applied to ``g`` (each channel
    is resampled alike, so the map is read off torch's outputs on the spatial basis)."""
    spatial = tuple(shape[2:])
    p = math.prod(spatial)
    basis = torch.tensor(np.eye(p).reshape((p, 1) + spatial))
    j = TF.interpolate(basis, **kw).numpy().reshape(p, -1)  # (inputs, outputs)
    return (g.reshape(shape[0] * shape[1], -1).astype(np.float64) @ j.T).reshape(shape)


def check_interpolate(shape: tuple, dtype: Any, seed: int = 0, **kw: Any) -> bool | None:
    """Compare output and gradient with torch; returns whether torch's backward agreed with
    its own forward (and so was compared too), or None if both refuse the arguments."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=shape).astype(dtype)
    rtol = TOL[dtype]
    xt = torch.tensor(x, requires_grad=True)
    xc = cr.tensor(x, requires_grad=True)
    try:
        yt = TF.interpolate(xt, **kw)
    except RuntimeError as e:  # an empty output: refused alike
        assert "sizes should be greater than 0" in str(e)
        with pytest.raises(ValueError, match="sizes should be greater than 0"):
            F.interpolate(xc, **kw)
        return None
    yc = F.interpolate(xc, **kw)
    what = f"interpolate{shape}{kw} {np.dtype(dtype).name}"
    close(yc, yt, rtol, f"{what} output")
    assert yc.dtype == dtype
    if yt.numel() == 0:  # (area to an empty size: torch's backward refuses)
        return None
    g = rng.normal(size=tuple(yt.shape)).astype(dtype)
    yt.backward(torch.tensor(g))
    yc.backward(cr.tensor(g))
    adjoint = torch_adjoint(kw, shape, g)
    close(xc.grad, adjoint, rtol, f"{what} gradient (transpose of torch's forward)")
    tg = xt.grad.numpy()
    consistent = np.allclose(tg, adjoint, rtol=rtol, atol=rtol * max(1.0, np.abs(adjoint).max()))
    if consistent:
        close(xc.grad, xt.grad, rtol, f"{what} gradient (torch's backward)")
    return consistent


def grid(spatial_in: list[tuple], sizes: list, scales: list, corners: list) -> list[dict]:
    cases = []
    for sp, ac in itertools.product(spatial_in, corners):
        extra = {} if ac is None else {"align_corners": ac}
        for size in sizes:
            cases.append(dict(sp=sp, size=size, **extra))
        for sf, rc in itertools.product(scales, (None, False, True)):
            cases.append(dict(sp=sp, scale_factor=sf, recompute_scale_factor=rc, **extra))
    return cases


GRIDS = {
    1: grid([(1,), (4,), (7,)], [1, 3, 8, 13], [0.5, 1.1, 1.7, 2.0, 2.5], [False, True]),
    2: grid([(4, 5), (7, 3)], [(3, 8), (9, 9), (1, 2), 6], [0.5, (1.5, 0.75), 2.0, 1.1, 3.0],
            [False, True]),
    3: grid([(3, 4, 2)], [(5, 2, 3), 4], [0.5, 1.5, (2.0, 0.7, 1.1)], [False, True]),
}
MODES = [("linear", 1), ("nearest", 1), ("nearest-exact", 1), ("area", 1),
         ("bilinear", 2), ("bicubic", 2), ("nearest", 2), ("nearest-exact", 2), ("area", 2),
         ("trilinear", 3), ("nearest", 3), ("nearest-exact", 3), ("area", 3)]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("mode,nd", MODES, ids=[f"{m}-{n}d" for m, n in MODES])
def test_interpolate_matches_torch(mode, nd, dtype):
    takes_corners = mode not in ("nearest", "nearest-exact", "area")
    checked = agreed = 0
    for case in GRIDS[nd]:
        case = dict(case)
        if ("align_corners" in case) != takes_corners:
            if takes_corners:
                continue
            if case.pop("align_corners"):
                continue  # (each corner-free case once)
        sp = case.pop("sp")
        ok = check_interpolate((2, 3) + sp, dtype, mode=mode, **case)
        if ok is not None:
            agreed += ok
            checked += 1
    assert checked >= 10
    # torch's backward disagrees with its forward only in a few rounding/special cases
    assert agreed >= 0.8 * checked, (agreed, checked)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialias_matches_torch(mode, dtype):
    for sp, ac, kw in itertools.product(
            [(5, 7), (16, 9)], [False, True],
            [dict(size=(3, 4)), dict(size=(1, 1)), dict(size=(2, 12)), dict(scale_factor=0.3),
             dict(scale_factor=(0.45, 1.7)), dict(scale_factor=0.37, recompute_scale_factor=True)]):
        check_interpolate((2, 2) + sp, dtype, mode=mode, align_corners=ac, antialias=True, **kw)


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_nearest_large_outputs_use_torchs_generic_index_formula(mode):
    # torch picks its index formula by output size (height + width <= 128 or not); both kinds
    for size in [(70, 70), (61, 67), (200, 3)]:
        for sf in [None, 2.1, 1.1]:
            kw = dict(size=size) if sf is None else dict(scale_factor=(sf, size[0] / 7))
            check_interpolate((1, 2, 7, 5), np.float32, mode=mode, **kw)


def test_gradient_is_the_forwards_transpose_where_torchs_backward_is_not():
    # 1-D nearest with scale_factor=1.1 on a length-5 signal keeps 5 entries; torch's forward
    # reads ⌊o/1.1⌋ = (0, 0, 1, 2, 3), its backward pretends a plain copy
    x = np.arange(5.0).reshape(1, 1, 5)
    xt = torch.tensor(x, requires_grad=True)
    TF.interpolate(xt, scale_factor=1.1).sum().backward()
    xc = cr.tensor(x, requires_grad=True)
    yc = F.interpolate(xc, scale_factor=1.1)
    np.testing.assert_array_equal(yc.data, TF.interpolate(torch.tensor(x), scale_factor=1.1))
    yc.sum().backward()
    np.testing.assert_array_equal(xt.grad.numpy(), np.ones((1, 1, 5)))  # torch's backward
    np.testing.assert_array_equal(xc.grad.data, [[[2.0, 1.0, 1.0, 1.0, 0.0]]])
    assert not check_interpolate((1, 1, 5), np.float64, scale_factor=1.1)


@pytest.mark.parametrize("mode,kw", [
    ("bilinear", {}), ("bilinear", {"align_corners": True}), ("bicubic", {}),
    ("bilinear", {"antialias": True}), ("bicubic", {"antialias": True}), ("area", {}),
    ("nearest", {}), ("nearest-exact", {})])
@pytest.mark.parametrize("size", [(29, 5), (6, 31)])
def test_banded_matmul_path_matches_torch(monkeypatch, mode, kw, size):
    # long axes are resampled in bands of outputs: force that on small inputs
    monkeypatch.setattr(U, "DENSE_MAX", 4)
    monkeypatch.setattr(U, "BAND_WIDTH", 3)
    for dtype in DTYPES:
        check_interpolate((2, 2, 13, 11), dtype, mode=mode, size=size, **kw)


@pytest.mark.parametrize("mode,kw", [
    ("bilinear", {"size": (9, 4)}), ("bilinear", {"size": (5, 6)}),
    ("bilinear", {"scale_factor": 2}), ("bicubic", {"size": (9, 4)}),
    ("bilinear", {"size": (5, 6), "antialias": True}),
    ("bicubic", {"size": (3, 2), "antialias": True}), ("area", {"size": (3, 2)}),
    ("nearest", {"size": (9, 4)})])
def test_non_finite_input_spreads_as_in_torch(mode, kw):
    x = np.random.default_rng(1).normal(size=(1, 2, 5, 6))
    x[0, 0, 1, 2], x[0, 1, 3, 5] = np.inf, np.nan
    want = TF.interpolate(torch.tensor(x), mode=mode, **kw).numpy()
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        got = F.interpolate(cr.tensor(x), mode=mode, **kw).data
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape,kw", [
    ((1, 2, 4), dict(scale_factor=2.5, mode="linear")),
    ((1, 2, 4), dict(size=3, mode="linear", align_corners=True)),
    ((1, 1, 3, 4), dict(size=(5, 3), mode="bilinear")),
    ((1, 1, 3, 4), dict(scale_factor=1.7, mode="bicubic", align_corners=True)),
    ((1, 1, 6, 5), dict(size=(3, 2), mode="bicubic", antialias=True)),
    ((1, 1, 6, 5), dict(size=(2, 3), mode="bilinear", antialias=True)),
    ((1, 1, 3, 4), dict(size=(5, 7), mode="nearest")),
    ((1, 1, 3, 4), dict(size=(5, 7), mode="nearest-exact")),
    ((1, 1, 5, 7), dict(size=(2, 3), mode="area")),
    ((1, 1, 2, 3, 2), dict(scale_factor=1.5, mode="trilinear")),
])
def test_gradcheck(shape, kw):
    x = cr.tensor(np.random.default_rng(2).normal(size=shape), requires_grad=True)
    assert cr.gradcheck(lambda t: F.interpolate(t, **kw), (x,))


@pytest.mark.parametrize("kw", [dict(mode="bilinear", scale_factor=1.5),
                                dict(mode="bicubic", size=(5, 2), align_corners=True),
                                dict(mode="nearest", size=(7, 3))])
def test_double_backward_matches_torch(kw):
    # the gradient of an interpolation is recorded with create_graph and differentiates again
    x = np.random.default_rng(3).normal(size=(2, 2, 4, 3))
    w = np.random.default_rng(4).normal(size=TF.interpolate(torch.tensor(x), **kw).shape)

    def second(lib: Any, interp: Any, t: Any, weights: Any) -> Any:
        loss = (interp(t, **kw) ** 2 * weights).sum()
        (g,) = lib.autograd.grad(loss, t, create_graph=True)
        ((g ** 3).sum()).backward()
        return t.grad

    xt = torch.tensor(x, requires_grad=True)
    xc = cr.tensor(x, requires_grad=True)
    close(second(cr, F.interpolate, xc, cr.tensor(w)),
          second(torch, TF.interpolate, xt, torch.tensor(w)), 1e-10, f"{kw} second order")


def test_deprecated_aliases_warn_and_match_torch():
    x = np.random.default_rng(5).normal(size=(1, 2, 3, 4))
    for name, kw in [("upsample", dict(size=(5, 6), mode="bilinear")),
                     ("upsample_nearest", dict(scale_factor=2)),
                     ("upsample_bilinear", dict(size=(4, 7)))]:
        with pytest.warns(UserWarning, match=f"nn.functional.{name}` is deprecated"):
            got = getattr(F, name)(cr.tensor(x), **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = getattr(TF, name)(torch.tensor(x), **kw)
        close(got, want, 1e-12, name)


@pytest.mark.parametrize("size", [(9, 10), (2, 3), (4, 7)])
def test_nearest_copies_entries_exactly(size):
    # whichever path nearest takes (stacked copies, slices, a 0/1 matmul, a gather), the
    # output holds the input's entries bit for bit, as torch's
    x = np.random.default_rng(9).normal(size=(2, 3, 3, 5)) * 1e30
    x[0, 0, 1, :] = 0.0
    want = TF.interpolate(torch.tensor(x), size=size).numpy()
    np.testing.assert_array_equal(F.interpolate(cr.tensor(x), size=size).data, want)
    x[0, 0, 1, :] = -0.0  # the sign of a zero survives too
    got = F.interpolate(cr.tensor(x), size=size).data
    want = TF.interpolate(torch.tensor(x), size=size).numpy()
    np.testing.assert_array_equal(np.signbit(got), np.signbit(want))
    ints = (x[:, :, :, :] / 1e29).astype(np.int64)  # integers: nearest gathers them
    got = F.interpolate(cr.tensor(ints), size=size)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(
        got.data, TF.interpolate(torch.tensor(ints.astype(np.float64)), size=size).numpy())


def test_same_size_returns_a_new_tensor():
    x = cr.randn(1, 2, 3, 4)
    for mode in ["nearest", "bilinear", "area"]:
        y = F.interpolate(x, size=(3, 4), mode=mode)
        np.testing.assert_array_equal(y.data, x.data)
        assert y is not x and not np.shares_memory(y.data, x.data)


# --------------------------------------------------------------------------- shuffles

SHUFFLE_CASES = [
    ("PixelShuffle-2", lambda: nn.PixelShuffle(2), lambda: tnn.PixelShuffle(2), (2, 12, 3, 4)),
    ("PixelShuffle-3-unbatched", lambda: nn.PixelShuffle(3), lambda: tnn.PixelShuffle(3),
     (18, 2, 3)),
    ("PixelShuffle-5d", lambda: nn.PixelShuffle(2), lambda: tnn.PixelShuffle(2),
     (2, 3, 8, 2, 3)),
    ("PixelShuffle-1", lambda: nn.PixelShuffle(1), lambda: tnn.PixelShuffle(1), (1, 3, 2, 2)),
    ("PixelUnshuffle-2", lambda: nn.PixelUnshuffle(2), lambda: tnn.PixelUnshuffle(2),
     (2, 3, 4, 6)),
    ("PixelUnshuffle-3-5d", lambda: nn.PixelUnshuffle(3), lambda: tnn.PixelUnshuffle(3),
     (2, 2, 1, 6, 3)),
    ("ChannelShuffle-2", lambda: nn.ChannelShuffle(2), lambda: tnn.ChannelShuffle(2),
     (2, 6, 3, 2)),
    ("ChannelShuffle-3-3d", lambda: nn.ChannelShuffle(3), lambda: tnn.ChannelShuffle(3),
     (2, 6, 5)),
    ("ChannelShuffle-4-5d", lambda: nn.ChannelShuffle(4), lambda: tnn.ChannelShuffle(4),
     (1, 8, 2, 2, 3)),
]

UPSAMPLE_CASES = [
    ("Upsample-nearest", lambda: nn.Upsample(scale_factor=2),
     lambda: tnn.Upsample(scale_factor=2), (2, 3, 4, 5)),
    ("Upsample-bilinear-size", lambda: nn.Upsample(size=(7, 3), mode="bilinear"),
     lambda: tnn.Upsample(size=(7, 3), mode="bilinear"), (2, 3, 4, 5)),
    ("Upsample-bicubic-corners", lambda: nn.Upsample(scale_factor=(1.5, 0.6), mode="bicubic",
                                                     align_corners=True),
     lambda: tnn.Upsample(scale_factor=(1.5, 0.6), mode="bicubic", align_corners=True),
     (1, 2, 4, 5)),
    ("Upsample-linear-recompute", lambda: nn.Upsample(scale_factor=1.7, mode="linear",
                                                      recompute_scale_factor=True),
     lambda: tnn.Upsample(scale_factor=1.7, mode="linear", recompute_scale_factor=True),
     (2, 3, 6)),
    ("Upsample-trilinear", lambda: nn.Upsample(scale_factor=1.5, mode="trilinear"),
     lambda: tnn.Upsample(scale_factor=1.5, mode="trilinear"), (1, 2, 2, 3, 2)),
    ("Upsample-nearest-exact", lambda: nn.Upsample(size=7, mode="nearest-exact"),
     lambda: tnn.Upsample(size=7, mode="nearest-exact"), (2, 2, 5)),
    ("UpsamplingNearest2d", lambda: nn.UpsamplingNearest2d(size=(5, 9)),
     lambda: tnn.UpsamplingNearest2d(size=(5, 9)), (2, 3, 4, 5)),
    ("UpsamplingBilinear2d", lambda: nn.UpsamplingBilinear2d(scale_factor=2.5),
     lambda: tnn.UpsamplingBilinear2d(scale_factor=2.5), (2, 3, 4, 5)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("name,make_cr,make_torch,shape", SHUFFLE_CASES + UPSAMPLE_CASES,
                         ids=[c[0] for c in SHUFFLE_CASES + UPSAMPLE_CASES])
def test_resampling_module_matches_torch(name, make_cr, make_torch, shape, dtype):
    x = np.random.default_rng(6).normal(size=shape)
    run_parity(make_cr, make_torch, [x], dtype)


def test_channel_shuffle_order():
    x = cr.arange(12.0).reshape(1, 12, 1)
    np.testing.assert_array_equal(F.channel_shuffle(x, 3).data.ravel(),
                                  [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11])


def test_pixel_unshuffle_inverts_pixel_shuffle():
    x = cr.randn(2, 3, 4, 6)
    np.testing.assert_array_equal(F.pixel_shuffle(F.pixel_unshuffle(x, 2), 2).data, x.data)


# --------------------------------------------------------------------------- padding

PAD_SHAPES = {1: [(3, 5), (2, 3, 5)], 2: [(2, 4, 5), (2, 3, 4, 5)],
              3: [(2, 3, 4, 5), (2, 2, 3, 4, 5)]}
PAD_VALUES = {1: [2, (1, 3), (0, 4), (-1, 2)],
              2: [1, (1, 2, 3, 0), (2, -1, 0, 3)],
              3: [1, (1, 2, 0, 2, 2, 1), (-1, 1, 2, 0, 1, 1)]}
PAD_KINDS = ["ZeroPad", "ConstantPad", "ReflectionPad", "ReplicationPad", "CircularPad"]


@pytest.mark.parametrize("dtype", DTYPES, ids=["f64", "f32"])
@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("kind", PAD_KINDS)
def test_padding_module_matches_torch(kind, nd, dtype):
    name = f"{kind}{nd}d"
    for padding, shape in itertools.product(PAD_VALUES[nd], PAD_SHAPES[nd]):
        args = (padding, 2.5) if kind == "ConstantPad" else (padding,)
        x = np.random.default_rng(7).normal(size=shape)
        cm, tm = run_parity(lambda a=args: getattr(nn, name)(*a),
                            lambda a=args: getattr(tnn, name)(*a), [x], dtype)
        assert cm.padding == tm.padding
        assert repr(cm) == repr(tm)


def test_constant_and_zero_pads_take_any_rank_as_torch():
    for shape, m, tm in [((5,), nn.ZeroPad1d(2), tnn.ZeroPad1d(2)),
                         ((2, 2, 3, 4), nn.ZeroPad1d((1, 0)), tnn.ZeroPad1d((1, 0))),
                         ((4, 4), nn.ConstantPad2d(1, -1.0), tnn.ConstantPad2d(1, -1.0)),
                         ((2, 1, 3, 3, 3, 3), nn.ConstantPad3d(1, 3.0),
                          tnn.ConstantPad3d(1, 3.0))]:
        x = np.random.default_rng(8).normal(size=shape)
        close(m(cr.tensor(x)), tm(torch.tensor(x)), 1e-12, repr(m))


def test_module_reprs_match_torch():
    pairs = [
        (nn.Upsample(scale_factor=2), tnn.Upsample(scale_factor=2)),
        (nn.Upsample(size=(3, 4), mode="bilinear"), tnn.Upsample(size=(3, 4), mode="bilinear")),
        (nn.Upsample(scale_factor=(2, 3)), tnn.Upsample(scale_factor=(2, 3))),
        (nn.Upsample(size=4, scale_factor=0), tnn.Upsample(size=4, scale_factor=0)),
        (nn.UpsamplingBilinear2d(scale_factor=2), tnn.UpsamplingBilinear2d(scale_factor=2)),
        (nn.UpsamplingNearest2d(size=5), tnn.UpsamplingNearest2d(size=5)),
        (nn.PixelShuffle(2), tnn.PixelShuffle(2)), (nn.PixelUnshuffle(3), tnn.PixelUnshuffle(3)),
        (nn.ChannelShuffle(2), tnn.ChannelShuffle(2)),
        (nn.ZeroPad2d(2), tnn.ZeroPad2d(2)), (nn.ConstantPad1d(2, 3.5), tnn.ConstantPad1d(2, 3.5)),
        (nn.ConstantPad3d(1, 0), tnn.ConstantPad3d(1, 0)),
        (nn.ReflectionPad2d((1, 2, 3, 4)), tnn.ReflectionPad2d((1, 2, 3, 4))),
        (nn.ReplicationPad1d([1, 2]), tnn.ReplicationPad1d([1, 2])),
        (nn.CircularPad3d(1), tnn.CircularPad3d(1)),
    ]
    for m, tm in pairs:
        assert repr(m) == repr(tm)
    up = nn.UpsamplingBilinear2d(scale_factor=2)
    assert (up.mode, up.align_corners, up.scale_factor) == ("bilinear", True, 2.0)


# --------------------------------------------------------------------------- bad input

def raises_like_torch(cr_call: Any, torch_call: Any, exc: type, match: str) -> None:
    """Both raise; chainrule with ``exc`` and a message matching ``match`` (torch's
    RuntimeErrors are chainrule ValueErrors)."""
    with pytest.raises(exc, match=match):
        cr_call()
    want = (RuntimeError, ValueError) if exc is ValueError else exc
    with pytest.raises(want):
        torch_call()


X4 = np.zeros((1, 4, 3, 3))


@pytest.mark.parametrize("kw,exc,match", [
    (dict(size=4, scale_factor=2), ValueError,
     r"interpolate: only one of size or scale_factor .*size=4 and scale_factor=2"),
    (dict(), ValueError, r"interpolate: either size or scale_factor should be defined"),
    (dict(size=4, align_corners=True), ValueError,
     r"interpolate: align_corners option can only be set .*align_corners=True with "
     r"mode='nearest'"),
    (dict(size=4, mode="area", align_corners=False), ValueError, r"mode='area'"),
    (dict(size=(4,)), ValueError, r"interpolate: input and output .*spatial dimensions of "
                                  r"\[3, 3\] and output size of \(4,\)"),
    (dict(scale_factor=(2.0, 2.0, 2.0)), ValueError,
     r"interpolate: input and scale_factor .*scale_factor \(2.0, 2.0, 2.0\)"),
    (dict(size=(4, 2.5)), TypeError, r"interpolate: expected size .*\(4, 2.5\)"),
    (dict(size=4, recompute_scale_factor=True), ValueError,
     r"interpolate: recompute_scale_factor is not meaningful with an explicit size \(got "
     r"size=4\)"),
    (dict(size=4, antialias=True), ValueError,
     r"interpolate: the antialias option .*mode='nearest' and a 4-D input"),
    (dict(size=4, mode="linear"), NotImplementedError,
     r"interpolate: got a 4-D input of shape \(1, 4, 3, 3\), but linear mode needs a 3-D"),
    (dict(size=4, mode="trilinear"), NotImplementedError, r"trilinear mode needs a 5-D"),
    (dict(size=4, mode="cubic"), NotImplementedError,
     r"interpolate: mode must be one of .*got 'cubic'"),
    (dict(size=(0, 3), mode="bilinear"), ValueError,
     r"interpolate: input and output sizes should be greater than 0, .*\(3, 3\) and output "
     r"size \(0, 3\)"),
    (dict(scale_factor=-2.0), ValueError, r"output size \(-6, -6\)"),
])
def test_interpolate_bad_arguments(kw, exc, match):
    raises_like_torch(lambda: F.interpolate(cr.tensor(X4), **kw),
                      lambda: TF.interpolate(torch.tensor(X4), **kw), exc, match)


def test_interpolate_bad_inputs():
    raises_like_torch(lambda: F.interpolate(cr.zeros(3, 4), size=2),
                      lambda: TF.interpolate(torch.zeros(3, 4), size=2), NotImplementedError,
                      r"interpolate: only 3-D, 4-D and 5-D .*got a 2-D input of shape \(3, 4\)")
    raises_like_torch(lambda: F.interpolate(cr.zeros(1, 2, 3), size=2, mode="bilinear"),
                      lambda: TF.interpolate(torch.zeros(1, 2, 3), size=2, mode="bilinear"),
                      NotImplementedError, r"got a 3-D input of shape \(1, 2, 3\), but bilinear "
                                           r"mode needs a 4-D input")
    raises_like_torch(lambda: F.interpolate(cr.zeros(1, 2, 0, 3), size=2, mode="bilinear"),
                      lambda: TF.interpolate(torch.zeros(1, 2, 0, 3), size=2, mode="bilinear"),
                      ValueError, r"input spatial size \(0, 3\)")
    raises_like_torch(
        lambda: F.interpolate(cr.zeros((1, 2, 3), dtype=cr.int64), size=2, mode="linear"),
        lambda: TF.interpolate(torch.zeros(1, 2, 3, dtype=torch.int64), size=2, mode="linear"),
        NotImplementedError, r"interpolate: mode 'linear' needs a floating-point input, got "
                             r"int64")
    for M in (nn.UpsamplingBilinear2d, nn.Upsample):
        with pytest.raises(NotImplementedError, match="bilinear mode needs a 4-D input"):
            M(scale_factor=2, **({} if M is nn.UpsamplingBilinear2d else
                                 {"mode": "bilinear"}))(cr.zeros(1, 2, 3))


@pytest.mark.parametrize("fn,args,shape,exc,match", [
    ("pixel_shuffle", (2,), (1, 5, 2, 2), ValueError,
     r"pixel_shuffle: .*divisible by the square of upscale_factor, but input.size\(-3\)=5 is "
     r"not divisible by 4"),
    ("pixel_shuffle", (0,), (1, 4, 2, 2), ValueError,
     r"pixel_shuffle: expects a positive upscale_factor, but got 0"),
    ("pixel_shuffle", (2,), (4, 2), ValueError,
     r"pixel_shuffle: expects input to have at least 3 dimensions.*\(4, 2\)"),
    ("pixel_shuffle", (2.0,), (1, 4, 2, 2), TypeError,
     r"pixel_shuffle: upscale_factor must be an int, got 2.0"),
    ("pixel_unshuffle", (2,), (1, 1, 5, 4), ValueError,
     r"pixel_unshuffle: expects height to be divisible by downscale_factor, but "
     r"input.size\(-2\)=5 is not divisible by 2"),
    ("pixel_unshuffle", (2,), (1, 1, 4, 3), ValueError,
     r"pixel_unshuffle: expects width .*input.size\(-1\)=3 is not divisible by 2"),
    ("pixel_unshuffle", (-1,), (1, 1, 4, 4), ValueError,
     r"pixel_unshuffle: expects a positive downscale_factor, but got -1"),
    ("channel_shuffle", (2,), (1, 5, 2, 2), ValueError,
     r"channel_shuffle: .*divisible by groups; got 5 channels and groups=2"),
    ("channel_shuffle", (0,), (1, 4, 2), ValueError,
     r"channel_shuffle: the number of groups .*must be positive, got groups=0"),
    ("channel_shuffle", (2,), (1, 4), ValueError,
     r"channel_shuffle: expects input with > 2 dims .*\(1, 4\)"),
])
def test_shuffle_bad_input(fn, args, shape, exc, match):
    raises_like_torch(lambda: getattr(F, fn)(cr.zeros(*shape), *args),
                      lambda: getattr(TF, fn)(torch.zeros(*shape), *args), exc, match)


@pytest.mark.parametrize("make,shape,exc,match", [
    (lambda m: m.ReflectionPad2d(1), (5, 5), NotImplementedError,
     r"ReflectionPad2d: padding \(1, 1, 1, 1\) pads the last 2 dims, which needs a 3-D "
     r"\(unbatched\) or 4-D \(batched\) input; got an input of shape \(5, 5\)"),
    (lambda m: m.ReflectionPad1d(1), (1, 1, 2, 5), NotImplementedError,
     r"ReflectionPad1d: .*needs a 2-D .*or 3-D .*shape \(1, 1, 2, 5\)"),
    (lambda m: m.ReplicationPad3d(1), (2, 3, 4), NotImplementedError,
     r"ReplicationPad3d: .*needs a 4-D .*or 5-D .*shape \(2, 3, 4\)"),
    (lambda m: m.CircularPad2d(1), (1, 1, 1, 3, 3), ValueError,
     r"CircularPad2d: expected 3D or 4D input \(got 5D input of shape \(1, 1, 1, 3, 3\)\)"),
    (lambda m: m.ReflectionPad1d(5), (1, 2, 5), ValueError,
     r"ReflectionPad1d: padding \(5, 5\) should be less than the size 5 of the dim it pads"),
    (lambda m: m.ReflectionPad2d((1, 1, 0, 4)), (1, 2, 4, 6), ValueError,
     r"ReflectionPad2d: padding \(0, 4\) should be less than the size 4"),
    (lambda m: m.ReflectionPad1d(-3), (1, 2, 5), ValueError,
     r"ReflectionPad1d: padding \(-3, -3\) of dim 2 \(size 5\) leaves an output of size -1"),
    (lambda m: m.ReplicationPad1d((-4, -1)), (1, 2, 5), ValueError,
     r"ReplicationPad1d: padding \(-4, -1\) .*leaves an output of size 0"),
    (lambda m: m.ReflectionPad2d((1, 2, 3)), (1, 2, 5, 5), ValueError,
     r"ReflectionPad2d: padding \(1, 2, 3\) must have an even length"),
])
def test_padding_bad_input(make, shape, exc, match):
    raises_like_torch(lambda: make(nn)(cr.zeros(*shape)), lambda: make(tnn)(torch.zeros(*shape)),
                      exc, match)


def test_padding_bad_arguments():
    with pytest.raises(TypeError, match=r"ZeroPad2d: padding must be an int or a tuple of 4 "
                                        r"ints, got 1.5"):
        nn.ZeroPad2d(1.5)
    with pytest.raises(TypeError, match=r"ReflectionPad1d: padding must be .*got \(1, 'a'\)"):
        nn.ReflectionPad1d((1, "a"))


def test_area_to_an_empty_size_along_one_axis_while_another_changes():
    # the empty axis is resampled first (it shrinks most); the other axis then resamples an
    # empty tensor, which has to keep its shape (a reshape with -1 cannot infer it)
    for shape, size in [((1, 2, 5, 6), (3, 0)), ((1, 2, 5, 6), (0, 9)),
                        ((2, 1, 4, 3, 5), (0, 2, 7))]:
        x = np.random.default_rng(0).normal(size=shape)
        xc = cr.tensor(x, requires_grad=True)
        got = F.interpolate(xc, size=size, mode="area")
        want = TF.interpolate(torch.tensor(x), size=size, mode="area")
        assert got.shape == tuple(want.shape)
        got.sum().backward()
        np.testing.assert_array_equal(xc.grad.data, np.zeros(shape))


@pytest.mark.parametrize("sf,exc,match", [
    (float("nan"), ValueError, r"interpolate: scale_factor must be finite, got nan"),
    ((float("inf"), 2.0), ValueError, r"interpolate: scale_factor must be finite, got "
                                      r"\(inf, 2.0\)"),
    ("2", TypeError, r"interpolate: scale_factor must be a number or a tuple of numbers, "
                     r"got '2'"),
])
def test_interpolate_bad_scale_factor(sf, exc, match):
    raises_like_torch(lambda: F.interpolate(cr.tensor(X4), scale_factor=sf),
                      lambda: TF.interpolate(torch.tensor(X4), scale_factor=sf), exc, match)


def test_antialias_width_one_is_right_where_torchs_kernel_is_not():
    # torch's CPU antialias kernel, resampling a (9, 1) image along its height, gives every
    # output row the first one's value; each column is resampled alike, so the right answer
    # is a column of the same image two pixels wide (which torch gets right)
    x = np.arange(9.0).reshape(1, 1, 9, 1)
    wide = TF.interpolate(torch.tensor(np.repeat(x, 2, axis=3)), size=(2, 2), mode="bilinear",
                          antialias=True).numpy()[..., :1]
    torch_narrow = TF.interpolate(torch.tensor(x), size=(2, 1), mode="bilinear",
                                  antialias=True).numpy()
    assert torch_narrow[0, 0, 0, 0] == torch_narrow[0, 0, 1, 0]  # (torch's bug)
    got = F.interpolate(cr.tensor(x), size=(2, 1), mode="bilinear", antialias=True)
    np.testing.assert_allclose(got.data, wide, rtol=1e-12)
    # and so through a downscale of both axes, where the width-1 step comes first
    y = np.random.default_rng(0).normal(size=(1, 2, 9, 6))
    got = F.interpolate(cr.tensor(y), size=(2, 1), mode="bicubic", antialias=True)
    step = TF.interpolate(torch.tensor(y), size=(2, 6), mode="bicubic", antialias=True)
    want = TF.interpolate(step, size=(2, 1), mode="bicubic", antialias=True).numpy()
    np.testing.assert_allclose(got.data, want, rtol=1e-12)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_antialias_of_a_one_wide_image_resamples_its_column(mode):
    # PyTorch 2.13 returns one value repeated down the column when the output is 1 wide
    # (an antialiased (7, 1) -> (4, 1) gives a constant); chainrule resamples the column, which
    # is PyTorch's own result for the transposed (1, 7) -> (1, 4) row.
    x = np.random.default_rng(0).standard_normal((1, 1, 7, 1))
    column = cr.nn.functional.interpolate(cr.tensor(x), size=(4, 1), mode=mode, antialias=True)
    row = TF.interpolate(torch.tensor(x.transpose(0, 1, 3, 2)), size=(1, 4), mode=mode,
                         antialias=True)
    np.testing.assert_allclose(column.numpy().ravel(), row.numpy().ravel(), rtol=1e-12)
    assert np.ptp(column.numpy()) > 0.1  # (not one value repeated)
