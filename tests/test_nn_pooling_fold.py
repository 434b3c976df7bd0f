"""The pooling family beyond max/avg pooling, against PyTorch 2.13: unfold/fold (im2col /
col2im), adaptive max pooling, max unpooling, power-average (lp) pooling, and the 3-D
convolution and pooling layers.

For every function and module: outputs, returned indices and input gradients equal torch's
(float64 to 1e-10, float32 to 1e-5) over a grid of shapes; float64 gradients equal central
differences (and the gradients' gradients, where they are used); fold(unfold(x)) is x times
the number of blocks covering each position, and ⟨unfold(x), y⟩ = ⟨x, fold(y)⟩; bad input
gets an error that names the op and the value.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, close

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")

from test_nn_parity import run_parity  # noqa: E402  (needs torch)

F = nn.functional
TF = torch.nn.functional
tnn = torch.nn
DTYPES = [np.float64, np.float32]


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread() -> Any:
    """Torch on one thread, for two reasons. Overlapping max-pool windows repeat an index, and
    torch's unpool keeps the value written last, but writes in parallel chunks: with several
    threads 'last' varies from run to run (PyTorch documents max_unpool as nondeterministic).
    On one thread it writes in order, and the last value of a repeated index wins, which is
    chainrule's rule. And on tiny tensors torch's thread pool costs ~30 ms a call on a busy
    2-core machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _rng(*key: Any) -> np.random.Generator:
    """A generator seeded by ``key`` (the same draws in every run: str hashes are salted)."""
    return np.random.default_rng(zlib.crc32(repr(key).encode()))


def check(cr_fn: Callable, t_fn: Callable, inputs: list[np.ndarray], dtype: Any,
          what: str) -> None:
    """``cr_fn`` and ``t_fn`` on the same inputs: the output (and the indices, when a pair is
    returned) and the gradient of every float input for a random upstream gradient."""
    rtol = TOL[dtype]
    xs = [a.astype(dtype) if a.dtype.kind == "f" else a for a in inputs]
    cx = [cr.tensor(a, requires_grad=a.dtype.kind == "f") for a in xs]
    tx = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in xs]
    cout, tout = cr_fn(*cx), t_fn(*tx)
    if isinstance(tout, tuple):
        assert isinstance(cout, tuple) and len(cout) == 2, f"{what}: expected (values, indices)"
        (cout, cind), (tout, tind) = cout, tout
        assert cind.dtype == np.int64, f"{what}: indices of dtype {cind.dtype}"
        np.testing.assert_array_equal(cind.data, tind.numpy(), err_msg=f"{what}: indices")
    assert cout.dtype == dtype, f"{what}: {np.dtype(dtype)} in, {cout.dtype} out"
    close(cout, tout, rtol, f"{what}: output")
    g = np.random.default_rng(7).normal(size=tuple(tout.shape)).astype(dtype)
    cout.backward(cr.tensor(g))
    tout.backward(torch.tensor(g))
    for k, (c, t) in enumerate(zip(cx, tx)):
        if t.grad is not None:
            assert c.grad is not None, f"{what}: no gradient for input {k}"
            close(c.grad, t.grad, rtol, f"{what}: gradient of input {k}")


# --------------------------------------------------------------------------- unfold / fold

FOLD_CASES = [  # (input shape (N, C, H, W) or (C, H, W), unfold/fold parameters)
    ((2, 3, 5, 6), {"kernel_size": 2}),
    ((2, 3, 5, 6), {"kernel_size": (2, 3), "dilation": (2, 1), "padding": (1, 2),
                    "stride": (2, 3)}),
    ((1, 2, 7, 4), {"kernel_size": 3, "padding": 1, "stride": 2}),
    ((3, 5, 6), {"kernel_size": (1, 4), "dilation": (3, 1), "stride": (1, 2)}),
    ((2, 1, 4, 9), {"kernel_size": (4, 2), "dilation": (1, 3), "padding": (0, 1)}),
    ((1, 2, 6, 7), {"kernel_size": 3, "dilation": 2, "padding": 2, "stride": (3, 2)}),
]


def _cols_shape(shape: tuple, kw: dict) -> tuple:
    return tuple(TF.unfold(torch.zeros(shape), **kw).shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kw", FOLD_CASES)
def test_unfold_matches_torch(shape: tuple, kw: dict, dtype: Any) -> None:
    x = _rng("unfold", shape).normal(size=shape)
    check(lambda a: F.unfold(a, **kw), lambda a: TF.unfold(a, **kw), [x], dtype,
          f"unfold{shape} {kw}")
    check(lambda a: nn.Unfold(**kw)(a), lambda a: tnn.Unfold(**kw)(a), [x], dtype,
          f"Unfold{shape} {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,kw", FOLD_CASES)
def test_fold_matches_torch(shape: tuple, kw: dict, dtype: Any) -> None:
    size = shape[-2:]
    y = _rng("fold", shape).normal(size=_cols_shape(shape, kw))
    check(lambda a: F.fold(a, size, **kw), lambda a: TF.fold(a, size, **kw), [y], dtype,
          f"fold{size} {kw}")
    check(lambda a: nn.Fold(size, **kw)(a), lambda a: tnn.Fold(size, **kw)(a), [y], dtype,
          f"Fold{size} {kw}")


def _coverage(size: tuple, k: tuple, d: tuple, p: tuple, s: tuple) -> np.ndarray:
    """How many blocks cover each position, counted block by block."""
    cnt = np.zeros((size[0] + 2 * p[0], size[1] + 2 * p[1]))
    nb = [(L + 2 * pp - dd * (kk - 1) - 1) // ss + 1 for L, kk, dd, pp, ss in zip(size, k, d, p, s)]
    for i in range(nb[0]):
        for j in range(nb[1]):
            for u in range(k[0]):
                for v in range(k[1]):
                    cnt[i * s[0] + u * d[0], j * s[1] + v * d[1]] += 1
    return cnt[p[0]:p[0] + size[0], p[1]:p[1] + size[1]]


def _pair(v: Any) -> tuple:
    return tuple(v) if isinstance(v, tuple) else (v, v)


@pytest.mark.parametrize("shape,kw", FOLD_CASES)
def test_fold_of_unfold_counts_the_overlaps(shape: tuple, kw: dict) -> None:
    x = _rng("overlap", shape).normal(size=shape)
    got = F.fold(F.unfold(cr.tensor(x), **kw), shape[-2:], **kw).data
    cov = _coverage(shape[-2:], _pair(kw["kernel_size"]), _pair(kw.get("dilation", 1)),
                    _pair(kw.get("padding", 0)), _pair(kw.get("stride", 1)))
    assert cov.max() >= 1
    np.testing.assert_allclose(got, x * cov, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("shape,kw", FOLD_CASES)
def test_fold_is_the_adjoint_of_unfold(shape: tuple, kw: dict) -> None:
    rng = _rng("adjoint", shape)
    x = rng.normal(size=shape)
    y = rng.normal(size=_cols_shape(shape, kw))
    lhs = float(np.sum(F.unfold(cr.tensor(x), **kw).data * y))
    rhs = float(np.sum(x * F.fold(cr.tensor(y), shape[-2:], **kw).data))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_convolution_is_a_matmul_with_unfold() -> None:
    """What the docstring says: conv2d(x, W) = W·unfold(x), reshaped."""
    rng = _rng("im2col")
    x, w = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 2))
    cols = F.unfold(cr.tensor(x), (3, 2), padding=1, stride=2)  # (2, 18, L)
    y = (cr.tensor(w.reshape(4, -1)) @ cols).reshape(2, 4, 4, 4)
    ref = TF.conv2d(torch.tensor(x), torch.tensor(w), padding=1, stride=2)
    close(y, ref, 1e-10, "W @ unfold(x)")


def test_unfold_after_a_convolution_of_the_same_input() -> None:
    """The convolution keeps its window matrix (with the bias row) for its backward; unfold
    of the same array must neither see nor take it."""
    rng = _rng("cache")
    x = cr.tensor(rng.normal(size=(1, 2, 5, 5)), requires_grad=True)
    w, b = cr.tensor(rng.normal(size=(3, 2, 2, 2))), cr.tensor(rng.normal(size=(3,)))
    y = F.conv2d(x, w, b)
    cols = F.unfold(x, 2)
    assert cols.shape == (1, 8, 16)
    y.sum().backward()
    tx = torch.tensor(x.data, requires_grad=True)
    TF.conv2d(tx, torch.tensor(w.data), torch.tensor(b.data)).sum().backward()
    close(x.grad, tx.grad, 1e-10, "conv2d gradient")
    close(cols, TF.unfold(torch.tensor(x.data), 2), 1e-12, "unfold")


def test_unfold_fold_empty_batch() -> None:
    assert F.unfold(cr.zeros(0, 3, 5, 6), 2).shape == (0, 12, 20)
    assert F.fold(cr.zeros(0, 12, 20), (5, 6), 2).shape == (0, 3, 5, 6)


# --------------------------------------------------------------------------- adaptive max

ADAPTIVE_MAX_CASES = [  # (nd, input shape, output_size, tied values)
    (1, (2, 3, 7), 3, False), (1, (2, 3, 7), 7, False), (1, (2, 3, 7), 10, False),
    (1, (3, 7), 1, False), (1, (2, 3, 5), (2,), True), (1, (2, 2, 11), 4, True),
    (2, (2, 3, 7, 5), (3, 2), False), (2, (2, 3, 7, 5), (None, 3), False),
    (2, (2, 3, 7, 5), (4, None), True), (2, (3, 7, 5), 5, False), (2, (2, 2, 6, 6), (9, 4), False),
    (2, (1, 2, 13, 11), (4, 3), True), (2, (2, 3, 5, 7), 1, True),
    (3, (1, 2, 5, 4, 6), (2, None, 4), False), (3, (2, 5, 7, 3), 3, True),
    (3, (1, 2, 3, 4, 5), (4, 3, 2), True),
]


def _draw(shape: tuple, tied: bool, key: Any) -> np.ndarray:
    rng = _rng(key, shape)
    # coarse integers make ties: the gradient goes to the window's first maximum
    return rng.integers(-2, 3, shape).astype(np.float64) if tied else rng.normal(size=shape)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd,shape,size,tied", ADAPTIVE_MAX_CASES)
def test_adaptive_max_pool_matches_torch(nd: int, shape: tuple, size: Any, tied: bool,
                                         dtype: Any) -> None:
    x = _draw(shape, tied, "amax")
    name = f"adaptive_max_pool{nd}d"
    cfn, tfn = getattr(F, name), getattr(TF, name)
    what = f"{name}{shape} -> {size}"
    check(lambda a: cfn(a, size), lambda a: tfn(a, size), [x], dtype, what)
    check(lambda a: cfn(a, size, return_indices=True),
          lambda a: tfn(a, size, return_indices=True), [x], dtype, what + " with indices")
    check(lambda a: getattr(F, name + "_with_indices")(a, size),
          lambda a: getattr(TF, name + "_with_indices")(a, size), [x], dtype,
          what + " _with_indices")
    cls = f"AdaptiveMaxPool{nd}d"
    check(lambda a: getattr(nn, cls)(size, return_indices=True)(a),
          lambda a: getattr(tnn, cls)(size, return_indices=True)(a), [x], dtype, cls)


def test_adaptive_max_pool_nan_and_empty_output_as_torch() -> None:
    x = np.array([[[1.0, np.nan, 3.0, np.nan, 2.0, 5.0, 0.0]]])
    y, i = F.adaptive_max_pool1d(cr.tensor(x), 2, return_indices=True)
    ty, ti = TF.adaptive_max_pool1d(torch.tensor(x), 2, return_indices=True)
    close(y, ty, 0.0, "NaN wins")
    np.testing.assert_array_equal(i.data, ti.numpy())  # the last NaN of the window, as torch
    x = np.zeros((2, 3, 4, 4))
    assert F.adaptive_max_pool2d(cr.tensor(x), (0, 2)).shape == (2, 3, 0, 2)
    assert F.adaptive_max_pool2d(cr.tensor(x[:0]), 2).shape == (0, 3, 2, 2)


@pytest.mark.parametrize("nd,shape,kw", [
    (1, (2, 2, 8), {"kernel_size": 2}),  # non-overlapping windows: the separable search
    (1, (2, 2, 8), {"kernel_size": 3, "stride": 1}),
    (2, (2, 2, 6, 6), {"kernel_size": 2}),
    (2, (2, 2, 5, 6), {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}),
    (3, (1, 2, 4, 4, 4), {"kernel_size": 2}),
    (3, (1, 2, 4, 5, 4), {"kernel_size": 2, "stride": 1, "dilation": (1, 2, 1)}),
])
def test_max_pool_with_nan_points_at_the_windows_last_nan_as_torch(nd: int, shape: tuple,
                                                                   kw: dict) -> None:
    """A window holding NaN has maximum NaN, and PyTorch's argmax (hence the gradient and
    the indices max_unpool reads) is its last NaN; with or without grad mode."""
    x = _rng("nan pool", shape, nd).normal(size=shape)
    x.reshape(-1)[[1, 2, 9, 10, 17, 30]] = np.nan
    name = f"max_pool{nd}d"
    check(lambda a: getattr(F, name)(a, **kw, return_indices=True),
          lambda a: getattr(TF, name)(a, **kw, return_indices=True), [x], np.float64,
          f"{name} with NaN {kw}")
    with cr.no_grad():
        _, idx = getattr(F, name)(cr.tensor(x), **kw, return_indices=True)
    _, tidx = getattr(TF, name)(torch.tensor(x), **kw, return_indices=True)
    np.testing.assert_array_equal(idx.data, tidx.numpy())


# --------------------------------------------------------------------------- max unpooling

UNPOOL_CASES = [  # (nd, pooled input shape, pooling parameters, output_size)
    (1, (2, 3, 9), {"kernel_size": 3, "stride": 2, "padding": 1}, None),
    (1, (3, 8), {"kernel_size": 2}, None),
    (1, (2, 3, 9), {"kernel_size": 2}, (9,)),
    (1, (2, 2, 9), {"kernel_size": 3, "stride": 1}, None),  # overlapping: repeated indices
    (2, (2, 3, 7, 6), {"kernel_size": 2}, (7, 6)),
    (2, (2, 3, 7, 6), {"kernel_size": 2}, None),
    (2, (2, 3, 7, 6), {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 0)}, None),
    (2, (3, 5, 5), {"kernel_size": 3, "stride": 1}, None),
    (2, (1, 2, 9, 8), {"kernel_size": 3, "stride": 2}, (1, 2, 9, 8)),
    (3, (1, 2, 5, 4, 6), {"kernel_size": 2}, (5, 4, 6)),
    (3, (2, 4, 5, 3), {"kernel_size": (2, 3, 1), "stride": (1, 2, 1), "padding": (1, 1, 0)},
     None),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nd,shape,kw,size", UNPOOL_CASES)
def test_max_unpool_matches_torch(nd: int, shape: tuple, kw: dict, size: Any,
                                  dtype: Any) -> None:
    rng = _rng("unpool", shape, nd)
    pooled, idx = getattr(TF, f"max_pool{nd}d")(torch.tensor(rng.normal(size=shape)), **kw,
                                               return_indices=True)
    v = rng.normal(size=tuple(pooled.shape))
    ind = idx.numpy()
    name = f"max_unpool{nd}d"
    check(lambda a, i: getattr(F, name)(a, i, **kw, output_size=size),
          lambda a, i: getattr(TF, name)(a, i, **kw, output_size=size), [v, ind], dtype,
          f"{name}{shape} {kw} -> {size}")
    cls = f"MaxUnpool{nd}d"
    check(lambda a, i: getattr(nn, cls)(**kw)(a, i, output_size=size),
          lambda a, i: getattr(tnn, cls)(**kw)(a, i, output_size=size), [v, ind], dtype, cls)


def test_max_unpool_inverts_max_pool_with_cr_indices() -> None:
    x = _rng("roundtrip").normal(size=(2, 3, 6, 8))
    y, i = F.max_pool2d(cr.tensor(x), 2, return_indices=True)
    back = F.max_unpool2d(y, i, 2).data
    kept = np.zeros((2, 3, 48), dtype=bool)
    np.put_along_axis(kept, i.data.reshape(2, 3, -1), True, axis=2)
    assert kept.sum() == y.data.size  # non-overlapping windows: distinct indices
    # each window's maximum back in its place, zeros elsewhere
    np.testing.assert_array_equal(back, np.where(kept.reshape(x.shape), x, 0.0))


# --------------------------------------------------------------------------- lp pooling

LP_CONFIGS = {
    1: [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "ceil_mode": True},
        {"kernel_size": 3, "stride": 1}],
    2: [{"kernel_size": 2}, {"kernel_size": (3, 2), "stride": (2, 1), "ceil_mode": True},
        {"kernel_size": (2, 3), "stride": 2, "ceil_mode": False}],
    3: [{"kernel_size": 2}, {"kernel_size": (2, 3, 2), "stride": (1, 2, 2), "ceil_mode": True}],
}
LP_SHAPES = {1: (2, 3, 9), 2: (2, 3, 7, 6), 3: (1, 2, 5, 5, 4)}
NORMS = [1, 2, 3, 1.5, float("inf"), -float("inf")]


@pytest.mark.filterwarnings("ignore:invalid value encountered in power:RuntimeWarning")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", NORMS)
@pytest.mark.parametrize("nd,kw", [(nd, kw) for nd, ks in LP_CONFIGS.items() for kw in ks])
def test_lp_pool_matches_torch(nd: int, kw: dict, p: float, dtype: Any) -> None:
    x = _rng("lp", nd, p).normal(size=LP_SHAPES[nd])
    if p == 1.5 or dtype == np.float32:
        # a fractional power of a negative number is NaN in both; and in float32 a window
        # whose x^p nearly cancel leaves a sum that is mostly rounding error, which the root
        # then magnifies (the two sum in different orders)
        x = np.abs(x) + 0.1
    name = f"lp_pool{nd}d"
    # (signed x, odd p: a window whose sum of x^p is negative gives NaN, in both)
    check(lambda a: getattr(F, name)(a, p, **kw), lambda a: getattr(TF, name)(a, p, **kw),
          [x], dtype, f"{name} p={p} {kw}")
    cls = f"LPPool{nd}d"
    check(lambda a: getattr(nn, cls)(p, **kw)(a), lambda a: getattr(tnn, cls)(p, **kw)(a),
          [x], dtype, f"{cls} p={p}")


def test_lp_pool_unbatched_and_zero_windows() -> None:
    x = _rng("lp0").normal(size=(3, 6, 6))
    x[:, :2, :2] = 0.0  # windows that sum to zero: value 0 and gradient 0, as torch
    check(lambda a: F.lp_pool2d(a, 2, 2), lambda a: TF.lp_pool2d(a, 2, 2), [x], np.float64,
          "lp_pool2d unbatched with zero windows")
    xc = cr.tensor(x, requires_grad=True)
    F.lp_pool2d(xc, 2, 2).sum().backward()
    assert np.isfinite(xc.grad.data).all()
    np.testing.assert_array_equal(xc.grad.data[:, :2, :2], 0.0)


# --------------------------------------------------------------------------- 3-d layers

THREE_D = [
    ("max_pool3d", (2, 3, 6, 5, 7), {"kernel_size": 2}),
    ("max_pool3d", (2, 3, 6, 5, 7), {"kernel_size": (3, 2, 3), "stride": (2, 1, 2),
                                     "padding": (1, 0, 1), "dilation": (1, 2, 1),
                                     "ceil_mode": True}),
    ("max_pool3d", (3, 5, 5, 4), {"kernel_size": 3, "stride": 2, "padding": 1}),
    ("avg_pool3d", (2, 3, 6, 5, 7), {"kernel_size": 2}),
    ("avg_pool3d", (2, 3, 6, 5, 7), {"kernel_size": (3, 2, 3), "stride": (2, 1, 2),
                                     "padding": (1, 1, 0), "ceil_mode": True,
                                     "count_include_pad": False}),
    ("avg_pool3d", (3, 5, 5, 4), {"kernel_size": 3, "stride": 2, "padding": 1,
                                  "divisor_override": 5}),
    ("adaptive_avg_pool3d", (2, 3, 6, 5, 7), {"output_size": (2, None, 3)}),
    ("adaptive_avg_pool3d", (3, 5, 5, 4), {"output_size": 4}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,shape,kw", THREE_D)
def test_3d_pooling_matches_torch(name: str, shape: tuple, kw: dict, dtype: Any) -> None:
    x = _rng(name, shape).normal(size=shape)
    check(lambda a: getattr(F, name)(a, **kw), lambda a: getattr(TF, name)(a, **kw), [x], dtype,
          f"{name}{shape} {kw}")
    if name == "max_pool3d":
        check(lambda a: F.max_pool3d(a, **kw, return_indices=True),
              lambda a: TF.max_pool3d(a, **kw, return_indices=True), [x], dtype,
              f"{name}{shape} {kw} with indices")
        check(lambda a: F.max_pool3d_with_indices(a, **kw),
              lambda a: TF.max_pool3d_with_indices(a, **kw), [x], dtype,
              f"max_pool3d_with_indices{shape}")


CONV3D = [  # (x shape, weight shape, parameters)
    ((2, 4, 5, 6, 4), (6, 2, 3, 2, 2), {"stride": 1, "padding": 0, "dilation": 1, "groups": 2}),
    ((1, 3, 6, 5, 7), (4, 3, 3, 3, 3), {"stride": (2, 1, 2), "padding": (1, 0, 1),
                                        "dilation": (1, 2, 1)}),
    ((3, 5, 4, 6), (2, 3, 2, 3, 1), {"stride": 1, "padding": "same", "dilation": 2}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs,ws,kw", CONV3D)
def test_conv3d_matches_torch(xs: tuple, ws: tuple, kw: dict, dtype: Any) -> None:
    rng = _rng("conv3d", xs)
    x, w, b = rng.normal(size=xs), rng.normal(size=ws), rng.normal(size=ws[:1])
    check(lambda *a: F.conv3d(*a, **kw), lambda *a: TF.conv3d(*a, **kw), [x, w, b], dtype,
          f"conv3d{xs} {ws} {kw}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv_transpose3d_matches_torch(dtype: Any) -> None:
    rng = _rng("convT3d")
    x, w, b = rng.normal(size=(2, 4, 3, 2, 3)), rng.normal(size=(4, 3, 2, 3, 2)), \
        rng.normal(size=(6,))
    kw = {"stride": (2, 1, 2), "padding": (0, 1, 1), "output_padding": (1, 0, 1), "groups": 2,
          "dilation": (1, 1, 2)}
    check(lambda *a: F.conv_transpose3d(*a, **kw), lambda *a: TF.conv_transpose3d(*a, **kw),
          [x, w, b], dtype, "conv_transpose3d")


# --------------------------------------------------------------------------- modules

def _x(*shape: int, positive: bool = False) -> np.ndarray:
    a = _rng("module", shape).normal(size=shape)
    return np.abs(a) + 0.1 if positive else a


def _unpool_inputs(nd: int, shape: tuple, **kw: Any) -> list[np.ndarray]:
    y, i = getattr(TF, f"max_pool{nd}d")(torch.tensor(_x(*shape)), **kw, return_indices=True)
    return [_x(*y.shape), i.numpy()]


MODULES: list[tuple[str, Callable, Callable, Callable[[], list[np.ndarray]]]] = [
    ("Unfold", lambda: nn.Unfold((2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
     lambda: tnn.Unfold((2, 3), dilation=(1, 2), padding=1, stride=(2, 1)),
     lambda: [_x(2, 3, 6, 7)]),
    ("Fold", lambda: nn.Fold((5, 6), 2, stride=(1, 2)), lambda: tnn.Fold((5, 6), 2, stride=(1, 2)),
     lambda: [_x(2, 12, 12)]),
    ("AdaptiveMaxPool1d", lambda: nn.AdaptiveMaxPool1d(3), lambda: tnn.AdaptiveMaxPool1d(3),
     lambda: [_x(2, 3, 8)]),
    ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d((None, 3)),
     lambda: tnn.AdaptiveMaxPool2d((None, 3)), lambda: [_x(2, 3, 5, 7)]),
    ("AdaptiveMaxPool3d", lambda: nn.AdaptiveMaxPool3d(2), lambda: tnn.AdaptiveMaxPool3d(2),
     lambda: [_x(1, 2, 5, 3, 4)]),
    ("MaxUnpool1d", lambda: nn.MaxUnpool1d(3, stride=2), lambda: tnn.MaxUnpool1d(3, stride=2),
     lambda: _unpool_inputs(1, (2, 3, 9), kernel_size=3, stride=2)),
    ("MaxUnpool2d", lambda: nn.MaxUnpool2d(2), lambda: tnn.MaxUnpool2d(2),
     lambda: _unpool_inputs(2, (2, 3, 6, 4), kernel_size=2)),
    ("MaxUnpool3d", lambda: nn.MaxUnpool3d((1, 2, 2)), lambda: tnn.MaxUnpool3d((1, 2, 2)),
     lambda: _unpool_inputs(3, (1, 2, 3, 4, 4), kernel_size=(1, 2, 2))),
    ("LPPool1d", lambda: nn.LPPool1d(2, 3), lambda: tnn.LPPool1d(2, 3), lambda: [_x(2, 3, 9)]),
    ("LPPool2d", lambda: nn.LPPool2d(1.5, (2, 3), stride=1, ceil_mode=True),
     lambda: tnn.LPPool2d(1.5, (2, 3), stride=1, ceil_mode=True),
     lambda: [_x(2, 3, 5, 6, positive=True)]),
    ("LPPool3d", lambda: nn.LPPool3d(3, 2), lambda: tnn.LPPool3d(3, 2),
     lambda: [_x(1, 2, 4, 4, 4, positive=True)]),
    ("MaxPool3d", lambda: nn.MaxPool3d(3, 2, 1, ceil_mode=True),
     lambda: tnn.MaxPool3d(3, 2, 1, ceil_mode=True), lambda: [_x(2, 2, 5, 6, 4)]),
    ("AvgPool3d", lambda: nn.AvgPool3d((2, 2, 3), stride=1, padding=1),
     lambda: tnn.AvgPool3d((2, 2, 3), stride=1, padding=1), lambda: [_x(2, 2, 4, 5, 4)]),
    ("AdaptiveAvgPool3d", lambda: nn.AdaptiveAvgPool3d((None, 2, 3)),
     lambda: tnn.AdaptiveAvgPool3d((None, 2, 3)), lambda: [_x(2, 2, 3, 5, 7)]),
    ("Conv3d", lambda: nn.Conv3d(4, 6, (3, 2, 2), stride=(1, 2, 1), padding=1, groups=2),
     lambda: tnn.Conv3d(4, 6, (3, 2, 2), stride=(1, 2, 1), padding=1, groups=2),
     lambda: [_x(2, 4, 5, 6, 4)]),
    ("Conv3d-circular", lambda: nn.Conv3d(2, 3, 3, padding=1, padding_mode="circular", bias=False),
     lambda: tnn.Conv3d(2, 3, 3, padding=1, padding_mode="circular", bias=False),
     lambda: [_x(1, 2, 4, 5, 3)]),
    ("ConvTranspose3d", lambda: nn.ConvTranspose3d(4, 2, 2, stride=2, output_padding=1),
     lambda: tnn.ConvTranspose3d(4, 2, 2, stride=2, output_padding=1),
     lambda: [_x(2, 4, 3, 2, 3)]),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,make_cr,make_torch,inputs", MODULES,
                         ids=[m[0] for m in MODULES])
def test_module_matches_torch(name: str, make_cr: Callable, make_torch: Callable,
                              inputs: Callable, dtype: Any) -> None:
    torch.manual_seed(0)
    cm, tm = run_parity(make_cr, make_torch, inputs(), dtype=dtype)
    assert repr(cm) == repr(tm)


# --------------------------------------------------------------------------- gradcheck

GRADCHECK: list[tuple[str, Callable, list[tuple]]] = [
    ("unfold", lambda x: F.unfold(x, (2, 3), dilation=(2, 1), padding=1, stride=(1, 2)),
     [(1, 2, 5, 5)]),
    ("fold", lambda y: F.fold(y, (4, 5), 2, padding=(1, 0), stride=(2, 1)), [(1, 8, 12)]),
    ("adaptive_max_pool1d", lambda x: F.adaptive_max_pool1d(x, 4), [(2, 2, 7)]),
    ("adaptive_max_pool2d", lambda x: F.adaptive_max_pool2d(x, (3, None)), [(1, 2, 5, 4)]),
    ("adaptive_max_pool3d", lambda x: F.adaptive_max_pool3d(x, (2, 3, 2)), [(1, 1, 3, 4, 5)]),
    ("max_unpool1d", lambda v: F.max_unpool1d(v, cr.tensor(np.array([[[0, 3, 5, 7]]])), 2),
     [(1, 1, 4)]),
    ("max_unpool2d", lambda v: F.max_unpool2d(v, cr.tensor(np.array([[[[0, 3], [9, 14]]]])),
                                              2, output_size=(4, 5)), [(1, 1, 2, 2)]),
    ("max_unpool3d", lambda v: F.max_unpool3d(v, cr.tensor(np.array([[[[[1, 13]]]]])),
                                              (2, 2, 2)), [(1, 1, 1, 1, 2)]),
    ("lp_pool1d", lambda x: F.lp_pool1d(x, 3, 3, stride=2, ceil_mode=True), [(1, 2, 8)]),
    ("lp_pool2d", lambda x: F.lp_pool2d(x, 2, (2, 3), stride=1), [(1, 2, 4, 5)]),
    ("lp_pool3d", lambda x: F.lp_pool3d(x, 1.5, 2), [(1, 1, 4, 3, 4)]),
    ("conv3d", lambda x, w, b: F.conv3d(x, w, b, stride=(1, 2, 1), padding=1, groups=2),
     [(1, 2, 3, 4, 3), (4, 1, 2, 2, 2), (4,)]),
    ("conv_transpose3d", lambda x, w: F.conv_transpose3d(x, w, stride=2, output_padding=1),
     [(1, 2, 2, 1, 2), (2, 1, 2, 2, 1)]),
    ("max_pool3d", lambda x: F.max_pool3d(x, 2, stride=1, padding=1), [(1, 1, 3, 3, 4)]),
    ("avg_pool3d", lambda x: F.avg_pool3d(x, (2, 3, 2), stride=2, padding=1, ceil_mode=True,
                                          count_include_pad=False), [(1, 1, 3, 5, 4)]),
    ("adaptive_avg_pool3d", lambda x: F.adaptive_avg_pool3d(x, (2, None, 3)), [(1, 1, 3, 2, 5)]),
]
# second order too where the function is not linear, or is built from other ops
GRADGRAD = {"unfold", "fold", "adaptive_max_pool2d", "max_unpool2d", "lp_pool1d", "lp_pool2d",
            "lp_pool3d"}


@pytest.mark.parametrize("name,f,shapes", GRADCHECK, ids=[g[0] for g in GRADCHECK])
def test_gradients_match_central_differences(name: str, f: Callable, shapes: list) -> None:
    rng = _rng("gradcheck", name)
    lp = name.startswith("lp_pool")
    xs = [cr.tensor(np.abs(rng.normal(size=s)) + 0.2 if lp else rng.normal(size=s),
                    requires_grad=True) for s in shapes]
    assert cr.gradcheck(f, xs)
    if name in GRADGRAD:
        assert cr.gradgradcheck(f, xs)


# --------------------------------------------------------------------------- errors

def test_unfold_and_fold_errors_name_the_op_and_the_value() -> None:
    with pytest.raises(ValueError, match=r"unfold: expected a 3-D .* got shape \(3, 5\)"):
        F.unfold(cr.randn(3, 5), 2)
    with pytest.raises(ValueError, match=r"unfold: expected a 3-D .* got shape \(1, 2, 3, 4, 5\)"):
        F.unfold(cr.randn(1, 2, 3, 4, 5), 2)
    with pytest.raises(ValueError, match=r"unfold: given input with spatial size \(5, 6\), "
                                         r"kernel_size=\(7, 3\).*\(-1, 4\).*at least one"):
        F.unfold(cr.randn(2, 3, 5, 6), (7, 3))  # kernel larger than the (padded) input
    with pytest.raises(ValueError, match=r"unfold: padding must be non-negative, got \(-1, -1\)"):
        F.unfold(cr.randn(2, 3, 5, 6), 2, padding=-1)
    with pytest.raises(ValueError, match=r"unfold: stride must be positive, got \(0, 0\)"):
        nn.Unfold(2, stride=0)(cr.randn(2, 3, 5, 6))
    with pytest.raises(ValueError, match=r"fold: expected a 2-D .* got shape \(2, 12, 20, 1\)"):
        F.fold(cr.randn(2, 12, 20, 1), (5, 6), 2)
    with pytest.raises(ValueError, match=r"fold: given output_size=\(6, 6\), kernel_size=\(2, 2\)"
                                         r".*expected size of input's dimension 2 to match the "
                                         r"calculated number of sliding blocks 5 \* 5 = 25, but "
                                         r"got input.size\(2\)=20"):
        F.fold(cr.randn(2, 12, 20), (6, 6), 2)
    with pytest.raises(ValueError, match=r"fold: given output_size=\(1, 1\).*sliding blocks "
                                         r"0 \* 0 = 0"):
        nn.Fold((1, 1), 2)(cr.randn(2, 12, 20))  # output too small for even one block
    with pytest.raises(ValueError, match=r"fold: expected size of input's dimension 1 to be "
                                         r"divisible by the product of kernel_size \(2, 2\).*"
                                         r"input.size\(1\)=10"):
        F.fold(cr.randn(2, 10, 20), (5, 6), 2)


def test_adaptive_max_pool_errors() -> None:
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: expected a 3-D \(unbatched\) or "
                                         r"4-D \(batched\) input, got shape \(5,\)"):
        F.adaptive_max_pool2d(cr.randn(5), 2)
    with pytest.raises(ValueError, match=r"adaptive_max_pool1d: expected a 2-D .* got shape "
                                         r"\(2, 3, 4, 5\)"):
        nn.AdaptiveMaxPool1d(2)(cr.randn(2, 3, 4, 5))
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: output_size \(-1, 2\) must be "
                                         "non-negative"):
        F.adaptive_max_pool2d(cr.randn(1, 2, 4, 4), (-1, 2))
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: output_size must be an int or 2 "
                                         r"values .*got \(3, 4, 5\)"):
        F.adaptive_max_pool2d(cr.randn(1, 2, 4, 4), (3, 4, 5))
    with pytest.raises(ValueError, match=r"adaptive_max_pool2d: expected non-zero .* shape "
                                         r"\(2, 2, 0, 3\)"):
        F.adaptive_max_pool2d(cr.randn(2, 2, 0, 3), 2)


def test_max_unpool_errors() -> None:
    y, i = F.max_pool2d(cr.randn(2, 3, 5, 6), 2, return_indices=True)  # (2, 3, 2, 3)
    big = i.data.copy()
    big[1, 2, 1, 0] = 123
    with pytest.raises(IndexError, match=r"max_unpool2d: found an invalid max index 123: the "
                                         r"output planes are of size 4x6"):
        F.max_unpool2d(y, cr.tensor(big), 2)
    with pytest.raises(IndexError, match=r"max_unpool2d: found an invalid max index 24: the "
                                         r"output planes are of size 4x6"):
        F.max_unpool2d(y, cr.tensor(np.full((2, 3, 2, 3), 24)), 2)  # just past the end
    with pytest.raises(IndexError, match=r"max_unpool1d: found an invalid max index -1"):
        F.max_unpool1d(cr.randn(1, 2, 3), cr.tensor(-np.ones((1, 2, 3), dtype=np.int64)), 2)
    with pytest.raises(TypeError, match=r"max_unpool2d: indices must be an integer tensor.*"
                                        "float64"):
        F.max_unpool2d(y, i.double(), 2)
    with pytest.raises(ValueError, match=r"max_unpool2d: indices of shape \(2, 3, 1, 3\) must "
                                         r"have the input's shape \(2, 3, 2, 3\)"):
        F.max_unpool2d(y, i[:, :, :1], 2)
    with pytest.raises(ValueError, match=r"max_unpool2d: invalid output_size \(6, 7\) \(dim 0 "
                                         r"must be between 2 and 6"):
        F.max_unpool2d(y, i, 2, output_size=(6, 7))
    with pytest.raises(ValueError, match=r"max_unpool2d: output_size should be a sequence "
                                         r"containing 2 or 4 elements, but it has a length of 3"):
        nn.MaxUnpool2d(2)(y, i, output_size=(2, 5, 6))
    with pytest.raises(ValueError, match=r"max_unpool2d: expected a 3-D \(unbatched\) or 4-D "
                                         r"\(batched\) input, got shape \(2, 3\)"):
        F.max_unpool2d(y[0, 0], i[0, 0], 2)


def test_pooling_kernel_larger_than_the_input() -> None:
    with pytest.raises(cr.OpError, match=r"lp_pool2d: the input's spatial size \(5, 6\) is too "
                                         r"small for kernel_size=\(7, 7\)"):
        F.lp_pool2d(cr.randn(1, 1, 5, 6), 2, 7)
    with pytest.raises(cr.OpError, match=r"max_pool3d: the input's spatial size \(2, 5, 6\) is "
                                         r"too small for kernel_size=\(3, 3, 3\)"):
        nn.MaxPool3d(3)(cr.randn(1, 1, 2, 5, 6))
    with pytest.raises(cr.OpError, match=r"avg_pool3d: the input's spatial size \(4, 1, 4\) is "
                                         "too small"):
        F.avg_pool3d(cr.randn(1, 4, 1, 4), 2)
    with pytest.raises(ValueError, match=r"lp_pool1d: norm_type must be non-zero"):
        F.lp_pool1d(cr.randn(1, 4), 0, 2)
    with pytest.raises(ValueError, match=r"conv3d: weight must be 5-D .* got shape \(2, 1, 3, 3\)"):
        F.conv3d(cr.randn(1, 1, 4, 4, 4), cr.randn(2, 1, 3, 3))
    with pytest.raises(cr.OpError, match=r"conv3d: the input's spatial size \(2, 4, 4\) is too "
                                         r"small for kernel \(3, 3, 3\).*output of size "
                                         r"\(0, 2, 2\)"):
        F.conv3d(cr.randn(1, 1, 2, 4, 4), cr.randn(2, 1, 3, 3, 3))
