"""Convolution and pooling: cr.nn against torch.nn (outputs, input and parameter gradients,
float64 to 1e-10 and float32 to 1e-5) over many configurations and every GEMM layout;
gradcheck and gradgradcheck of every conv/pool op; ties, errors and initialisation."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, close
from torch_parity_helpers import TORCH_DTYPE as TDT

import chainrule as cr
from chainrule import nn
from chainrule.ops import conv as C

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same'")




def parity(cm: nn.Module, tm: Any, x: np.ndarray, dtype: Any = np.float64,
           what: str = "", **kw: Any) -> None:
    """Same weights, same input: same output, input gradient and parameter gradients."""
    rtol = TOL[dtype]
    tm = tm.to(TDT[dtype])
    cm = cm.to(dtype)
    cm.load_state_dict(tm.state_dict())
    x = x.astype(dtype)
    tx = torch.tensor(x, requires_grad=True)
    cx = cr.tensor(x, requires_grad=True)
    tout, cout = tm(tx, **kw), cm(cx, **kw)
    close(cout, tout, rtol, f"{what} output")
    assert cout.dtype == dtype
    g = np.random.default_rng(1).normal(size=tuple(tout.shape)).astype(dtype)
    tout.backward(torch.tensor(g))
    cout.backward(cr.tensor(g))
    close(cx.grad, tx.grad, rtol, f"{what} input gradient")
    tparams = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        close(p.grad, tparams[name].grad, rtol, f"{what} {name} gradient")
        assert p.grad.dtype == dtype


LAYOUTS = {  # name: (BATCH_MAJOR_MIN_POSITIONS, HWNC_MODE)
    "channel-major": (10 ** 9, "never"), "batch-major": (0, "never"),
    "channels-inner": (10 ** 9, "always"),
}


@pytest.fixture(params=list(LAYOUTS))
def layout(request: Any, monkeypatch: Any) -> str:
    """Run a test with each GEMM layout forced (channels-inner: one-group 2-D convs only)."""
    threshold, mode = LAYOUTS[request.param]
    monkeypatch.setattr(C, "BATCH_MAJOR_MIN_POSITIONS", threshold)
    monkeypatch.setattr(C, "HWNC_MODE", mode)
    return request.param


# --------------------------------------------------------------------------- convolutions

CONV2D = [  # (in, out, kernel, stride, padding, dilation, groups, bias, padding_mode)
    (3, 4, 3, 1, 0, 1, 1, True, "zeros"),
    (3, 4, 3, 1, 1, 1, 1, False, "zeros"),
    (4, 6, (3, 2), (2, 1), (1, 0), 1, 2, True, "zeros"),
    (4, 4, 3, 2, 2, 2, 4, True, "zeros"),
    (2, 4, 2, 1, "same", 1, 1, True, "zeros"),
    (2, 4, 3, 1, "same", 2, 2, True, "zeros"),
    (2, 4, (2, 3), 1, "same", (2, 1), 1, True, "zeros"),
    (2, 3, 3, 3, "valid", 1, 1, True, "zeros"),
    (3, 6, 1, 1, 0, 1, 3, True, "zeros"),
    (2, 3, 3, 1, 1, 1, 1, True, "reflect"),
    (2, 3, 3, 1, 2, 1, 1, True, "circular"),
    (2, 3, 3, 2, 1, 1, 1, True, "replicate"),
    (2, 3, 3, 1, "same", 1, 1, True, "reflect"),
]


@pytest.mark.parametrize("cfg", CONV2D, ids=lambda c: "-".join(map(str, c)))
def test_conv2d_matches_torch(cfg: tuple, layout: str) -> None:
    cin, cout, k, s, p, d, g, bias, mode = cfg
    x = np.random.default_rng(0).normal(size=(2, cin, 9, 8))
    parity(nn.Conv2d(cin, cout, k, s, p, d, g, bias, mode),
           torch.nn.Conv2d(cin, cout, k, s, p, d, g, bias, mode), x, what=f"Conv2d{cfg}")


CONV1D = [(3, 4, 3, 1, 0, 1, 1), (4, 6, 4, 2, 1, 1, 2), (2, 4, 3, 1, "same", 2, 2),
          (2, 2, 5, 3, 2, 1, 1), (2, 4, 2, 1, "same", 1, 1)]


@pytest.mark.parametrize("cfg", CONV1D, ids=lambda c: "-".join(map(str, c)))
def test_conv1d_matches_torch(cfg: tuple, layout: str) -> None:
    cin, cout, k, s, p, d, g = cfg
    x = np.random.default_rng(0).normal(size=(3, cin, 11))
    parity(nn.Conv1d(cin, cout, k, s, p, d, g), torch.nn.Conv1d(cin, cout, k, s, p, d, g), x,
           what=f"Conv1d{cfg}")


TRANSPOSED = [  # (in, out, kernel, stride, padding, output_padding, groups, dilation)
    (3, 4, 3, 1, 0, 0, 1, 1), (3, 4, 3, 2, 1, 1, 1, 1), (4, 6, (3, 2), (2, 3), (1, 0),
                                                          (1, 2), 2, 1),
    (2, 4, 3, 1, 1, 1, 2, 2), (4, 4, 2, 2, 0, 0, 4, 1), (2, 3, 4, 3, 2, 2, 1, 1),
]


@pytest.mark.parametrize("cfg", TRANSPOSED, ids=lambda c: "-".join(map(str, c)))
def test_conv_transpose2d_matches_torch(cfg: tuple, layout: str) -> None:
    cin, cout, k, s, p, op, g, d = cfg
    x = np.random.default_rng(0).normal(size=(2, cin, 5, 4))
    parity(nn.ConvTranspose2d(cin, cout, k, s, p, op, g, True, d),
           torch.nn.ConvTranspose2d(cin, cout, k, s, p, op, g, True, d), x,
           what=f"ConvTranspose2d{cfg}")


@pytest.mark.parametrize("cfg", [(3, 4, 3, 2, 1, 1, 1, 1), (2, 4, 3, 1, 0, 1, 2, 2)])
def test_conv_transpose1d_matches_torch(cfg: tuple) -> None:
    cin, cout, k, s, p, op, g, d = cfg
    x = np.random.default_rng(0).normal(size=(2, cin, 6))
    parity(nn.ConvTranspose1d(cin, cout, k, s, p, op, g, True, d),
           torch.nn.ConvTranspose1d(cin, cout, k, s, p, op, g, True, d), x,
           what=f"ConvTranspose1d{cfg}")


def test_conv_transpose2d_output_size() -> None:
    x = np.random.default_rng(0).normal(size=(1, 2, 4, 4))
    parity(nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1),
           torch.nn.ConvTranspose2d(2, 3, 3, stride=2, padding=1), x, output_size=(8, 8))
    with pytest.raises(ValueError, match="output_size"):
        nn.ConvTranspose2d(2, 3, 3, stride=2)(cr.tensor(x), output_size=(20, 20))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_float32_and_float64(dtype: Any, layout: str) -> None:
    x = np.random.default_rng(0).normal(size=(4, 3, 12, 12))
    parity(nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(3, 8, 3, padding=1), x, dtype)
    parity(nn.ConvTranspose2d(3, 5, 3, stride=2), torch.nn.ConvTranspose2d(3, 5, 3, stride=2),
           x, dtype)


def test_unbatched_inputs() -> None:
    x = np.random.default_rng(0).normal(size=(3, 7, 6))
    parity(nn.Conv2d(3, 4, 3), torch.nn.Conv2d(3, 4, 3), x, what="unbatched Conv2d")
    parity(nn.Conv1d(3, 4, 3), torch.nn.Conv1d(3, 4, 3), x[:, 0], what="unbatched Conv1d")
    parity(nn.ConvTranspose2d(3, 4, 3), torch.nn.ConvTranspose2d(3, 4, 3), x)
    parity(nn.MaxPool2d(2), torch.nn.MaxPool2d(2), x, what="unbatched MaxPool2d")


def test_conv_functional_signatures() -> None:
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(2, 4, 8, 8)), rng.normal(size=(6, 2, 3, 3)), rng.normal(size=6)
    got = nn.functional.conv2d(cr.tensor(x), cr.tensor(w), cr.tensor(b), 2, 1, 1, 2)
    want = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), 2, 1,
                                      1, 2)
    close(got, want, 1e-12)
    wt = rng.normal(size=(4, 3, 3, 3))
    got = nn.functional.conv_transpose2d(cr.tensor(x), cr.tensor(wt), None, 2, 1, 1)
    want = torch.nn.functional.conv_transpose2d(torch.tensor(x), torch.tensor(wt), None, 2, 1,
                                                1)
    close(got, want, 1e-12)


def test_conv_errors_name_the_problem() -> None:
    with pytest.raises(ValueError, match="channels"):
        nn.Conv2d(3, 4, 3)(cr.randn(1, 2, 8, 8))
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="same"):
        nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(cr.OpError, match="too small"):
        nn.functional.conv2d(cr.randn(1, 1, 2, 2), cr.randn(1, 1, 3, 3))
    with pytest.raises(ValueError, match="output_padding"):
        nn.functional.conv_transpose2d(cr.randn(1, 1, 3, 3), cr.randn(1, 1, 3, 3),
                                       output_padding=1)
    with pytest.raises(ValueError, match="4-D"):
        nn.functional.conv2d(cr.randn(8, 8), cr.randn(1, 1, 3, 3))


def test_default_initialisation_bounds() -> None:
    conv = nn.Conv2d(4, 8, 3)
    bound = 1 / np.sqrt(4 * 9)
    for p in (conv.weight, conv.bias):
        assert np.abs(p.data).max() <= bound and np.abs(p.data).max() > bound / 2
    tconv = nn.ConvTranspose2d(4, 6, 3, groups=2)
    assert tconv.weight.shape == (4, 3, 3, 3)
    assert np.abs(tconv.weight.data).max() <= 1 / np.sqrt(3 * 9)
    assert conv.weight.dtype == np.float32


# --------------------------------------------------------------------------- pooling

MAXPOOL = [  # (kernel, stride, padding, dilation, ceil_mode)
    (2, None, 0, 1, False), (3, 2, 1, 1, False), (3, 2, 1, 1, True), (2, 1, 0, 2, False),
    ((2, 3), (1, 2), (1, 1), 1, True), (3, 3, 0, 1, True), (4, 2, 2, 1, False),
]


@pytest.mark.parametrize("cfg", MAXPOOL, ids=lambda c: "-".join(map(str, c)))
def test_max_pool2d_matches_torch(cfg: tuple) -> None:
    k, s, p, d, ceil = cfg
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 10))
    parity(nn.MaxPool2d(k, s, p, d, ceil_mode=ceil),
           torch.nn.MaxPool2d(k, s, p, d, ceil_mode=ceil), x, what=f"MaxPool2d{cfg}")
    parity(nn.MaxPool1d(k if isinstance(k, int) else k[0], s if not isinstance(s, tuple) else
                        s[0], p if isinstance(p, int) else p[0], d, ceil_mode=ceil),
           torch.nn.MaxPool1d(k if isinstance(k, int) else k[0], s if not isinstance(s, tuple)
                              else s[0], p if isinstance(p, int) else p[0], d, ceil_mode=ceil),
           x[0], what=f"MaxPool1d{cfg}")


@pytest.mark.parametrize("cfg", MAXPOOL[:4], ids=lambda c: "-".join(map(str, c)))
def test_max_pool_return_indices(cfg: tuple) -> None:
    k, s, p, d, ceil = cfg
    x = np.random.default_rng(2).normal(size=(2, 3, 9, 10))
    y, idx = nn.functional.max_pool2d(cr.tensor(x), k, s, p, d, ceil, return_indices=True)
    ty, tidx = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, d, ceil,
                                              return_indices=True)
    close(y, ty, 0)
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    _, idx1 = nn.MaxPool1d(3, 2, 1, return_indices=True)(cr.tensor(x[0]))
    _, tidx1 = torch.nn.MaxPool1d(3, 2, 1, return_indices=True)(torch.tensor(x[0]))
    np.testing.assert_array_equal(idx1.data, tidx1.numpy())


def test_max_pool_ties_go_to_the_first_maximum() -> None:
    # NOTE(convention): a window's whole gradient goes to its first maximum (row-major), as
    # in PyTorch; with overlapping windows a position collects from every window it wins.
    x = np.zeros((1, 1, 4, 4))
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = 1.0
    for k, s in [(2, 2), (3, 1), (2, 1)]:
        cx = cr.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        nn.functional.max_pool2d(cx, k, s).sum().backward()
        torch.nn.functional.max_pool2d(tx, k, s).sum().backward()
        close(cx.grad, tx.grad, 0, f"ties k={k} s={s}")


@pytest.mark.parametrize("size", [(8, 6), (9, 7)])
@pytest.mark.parametrize("k", [2, 3, (2, 3)])
def test_max_pool_tiles_in_any_memory_layout(size: tuple, k: Any) -> None:
    """Non-overlapping windows (the separable fast path) on a channels-inner input (as
    conv2d gives), with many ties (relu'd values) and an upstream gradient in the other
    layout: the same output, argmax and gradient as PyTorch, and the input's layout kept."""
    rng = np.random.default_rng(3)
    hwnc = np.maximum(rng.normal(size=size + (2, 3)), 0).round(1)
    ch = cr.tensor(hwnc, requires_grad=True)
    cx = ch.permute(2, 3, 0, 1)  # (N, C, H, W) view of (H, W, N, C) memory
    th = torch.tensor(hwnc, requires_grad=True)
    tx = th.permute(2, 3, 0, 1)
    assert not cx.data.flags.c_contiguous
    y, idx = nn.functional.max_pool2d(cx, k, return_indices=True)
    ty, tidx = torch.nn.functional.max_pool2d(tx, k, return_indices=True)
    close(y, ty, 0)
    np.testing.assert_array_equal(idx.data, tidx.numpy())
    assert np.argsort(y.data.strides).tolist() == np.argsort(cx.data.strides).tolist()
    g = rng.normal(size=tuple(ty.shape))  # C-contiguous, unlike y
    y.backward(cr.tensor(g))
    ty.backward(torch.tensor(g))
    close(ch.grad, th.grad, 0, "gradient")


def test_conv2d_channels_inner_matches_torch(monkeypatch: Any) -> None:
    """The default layout choice on a small CNN in float32: a one-channel input (the window
    matrix built transposed), 16 channels (built row-wise), stride, padding, dilation and an
    input gradient (col2im in the channels-inner layout)."""
    monkeypatch.setattr(C, "HWNC_MODE", "auto")
    x = np.random.default_rng(4).normal(size=(3, 1, 12, 11))
    for layer in [(1, 16, 3, 1, 0, 1), (16, 8, 3, 2, 1, 1), (16, 4, (3, 2), 1, 2, 2)]:
        cin, cout, k, s, p, d = layer
        xi = x if cin == 1 else np.random.default_rng(5).normal(size=(3, cin, 12, 11))
        parity(nn.Conv2d(cin, cout, k, s, p, d), torch.nn.Conv2d(cin, cout, k, s, p, d), xi,
               dtype=np.float32, what=f"Conv2d{layer}")
        parity(nn.ConvTranspose2d(cin, cout, k, s, p, dilation=d),
               torch.nn.ConvTranspose2d(cin, cout, k, s, p, dilation=d), xi,
               dtype=np.float32, what=f"ConvTranspose2d{layer}")


AVGPOOL = [  # (kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
    (2, None, 0, False, True, None), (3, 2, 1, False, True, None), (3, 2, 1, True, False, None),
    ((2, 3), (2, 1), (1, 1), True, True, None), (3, 1, 1, False, False, 2),
    (3, 3, 1, True, True, None), (4, 3, 2, True, False, None),
]


@pytest.mark.parametrize("cfg", AVGPOOL, ids=lambda c: "-".join(map(str, c)))
def test_avg_pool_matches_torch(cfg: tuple) -> None:
    k, s, p, ceil, cip, div = cfg
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 10))
    parity(nn.AvgPool2d(k, s, p, ceil, cip, div), torch.nn.AvgPool2d(k, s, p, ceil, cip, div),
           x, what=f"AvgPool2d{cfg}")
    k1 = k if isinstance(k, int) else k[0]
    s1 = s if not isinstance(s, tuple) else s[0]
    p1 = p if isinstance(p, int) else p[0]
    parity(nn.AvgPool1d(k1, s1, p1, ceil, cip), torch.nn.AvgPool1d(k1, s1, p1, ceil, cip), x[0],
           what=f"AvgPool1d{cfg}")


@pytest.mark.parametrize("size", [(1, 1), (3, 2), (7, 8), (4, None), 5, (6, 3)])
def test_adaptive_avg_pool_matches_torch(size: Any) -> None:
    x = np.random.default_rng(0).normal(size=(2, 3, 7, 8))
    parity(nn.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), x, what=f"{size}")
    s1 = size if not isinstance(size, tuple) else size[0]
    parity(nn.AdaptiveAvgPool1d(s1), torch.nn.AdaptiveAvgPool1d(s1), x[0], what=f"1d {s1}")


def test_pooling_float32() -> None:
    x = np.random.default_rng(0).normal(size=(4, 3, 12, 12))
    for cm, tm in [(nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
                   (nn.AvgPool2d(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1)),
                   (nn.AdaptiveAvgPool2d(5), torch.nn.AdaptiveAvgPool2d(5))]:
        parity(cm, tm, x, np.float32, what=type(cm).__name__)


def test_pool_errors() -> None:
    with pytest.raises(ValueError, match="half"):
        nn.functional.max_pool2d(cr.randn(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(ValueError, match="half"):
        nn.functional.avg_pool2d(cr.randn(1, 1, 8, 8), 2, padding=2)
    with pytest.raises(cr.OpError, match="too small"):
        nn.functional.max_pool2d(cr.randn(1, 1, 2, 2), 3)


# --------------------------------------------------------------------------- derivatives

CONV_OPS = [op for op in [C.conv1d, C.conv2d, C.conv_transpose1d, C.conv_transpose2d,
                          C.conv1d_weight, C.conv2d_weight, C.max_pool1d, C.max_pool2d,
                          C.max_pool1d_scatter, C.max_pool2d_scatter, C.max_pool1d_gather,
                          C.max_pool2d_gather, C.avg_pool1d, C.avg_pool2d,
                          C.avg_pool1d_scatter, C.avg_pool2d_scatter, C.adaptive_avg_pool1d,
                          C.adaptive_avg_pool2d]]


def _cases(op: Any) -> list[tuple[list[np.ndarray], dict]]:
    s = op.sample
    rng = np.random.default_rng(len(op.name))
    args = [rng.uniform(s.low, s.high, shape) for shape in s.shapes]
    return [(args, dict(p)) for p in [s.params, *s.variants]]


@pytest.mark.parametrize("op", CONV_OPS, ids=lambda op: op.name)
def test_gradcheck_and_gradgradcheck(op: Any) -> None:
    assert op.formula and op.sample is not None
    for args, params in _cases(op):
        xs = [cr.tensor(a, requires_grad=True) for a in args]

        def f(*t: Any, params: dict = params) -> cr.Tensor:
            return op(*t, **params)

        cr.gradcheck(f, xs)
        cr.gradgradcheck(f, xs)


@pytest.mark.parametrize("op", [C.conv2d, C.conv_transpose2d, C.conv2d_weight],
                         ids=lambda op: op.name)
def test_gradcheck_channels_inner(op: Any, monkeypatch: Any) -> None:
    """The channels-inner path (one group) against float64 central differences, to second
    order: the samples' variants with groups=1 (and the input cut to fit the weight)."""
    monkeypatch.setattr(C, "HWNC_MODE", "always")
    for args, params in _cases(op):
        params = {**params, "groups": 1}
        if op is C.conv2d:
            args = [args[0][:, :2], *args[1:]]  # weight (4, 2, ...): 2 input channels
        elif op is C.conv_transpose2d:
            args = [args[0], args[1], args[2][:1]]  # weight (4, 1, ...): 1 output channel
        xs = [cr.tensor(a, requires_grad=True) for a in args]

        def f(*t: Any, params: dict = params) -> cr.Tensor:
            return op(*t, **params)

        cr.gradcheck(f, xs)
        cr.gradgradcheck(f, xs)


@pytest.mark.parametrize("op", [C.conv2d, C.conv_transpose2d, C.conv2d_weight, C.max_pool2d,
                                C.avg_pool2d, C.adaptive_avg_pool2d], ids=lambda op: op.name)
def test_forward_mode_matches_reverse_mode(op: Any) -> None:
    args, params = _cases(op)[0]
    xs = [cr.tensor(a) for a in args]
    for j in range(len(xs)):
        fwd = cr.jacfwd(lambda *t: op(*t, **params), argnums=j)(*xs)
        rev = cr.jacrev(lambda *t: op(*t, **params), argnums=j)(*xs)
        close(fwd, rev.data, 1e-10, f"{op.name} input {j}")


def test_conv_composes_to_second_order_through_a_network(layout: str) -> None:
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.normal(size=(2, 2, 5, 5)), requires_grad=True)
    w1 = cr.tensor(rng.normal(size=(3, 2, 3, 3)) * 0.5, requires_grad=True)
    w2 = cr.tensor(rng.normal(size=(2, 3, 2, 2)) * 0.5, requires_grad=True)

    def f(x: Any, w1: Any, w2: Any) -> Any:
        h = cr.tanh(nn.functional.conv2d(x, w1, padding=1, stride=2))
        return nn.functional.avg_pool2d(nn.functional.conv_transpose2d(h, w2.transpose(0, 1),
                                                                        stride=2), 2)

    cr.gradgradcheck(f, (x, w1, w2))


def test_cnn_training_step_matches_torch() -> None:
    """The benchmark network (conv, relu, maxpool twice, linear) for three SGD steps."""
    torch.manual_seed(0)
    tm = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                             torch.nn.Conv2d(4, 6, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                             torch.nn.Flatten(), torch.nn.Linear(6 * 5 * 5, 10)).double()
    cm = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 6, 3),
                       nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(150, 10)).double()
    cm.load_state_dict(tm.state_dict())
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(8, 1, 28, 28)), rng.integers(0, 10, 8)
    topt = torch.optim.SGD(tm.parameters(), lr=0.1)
    copt = cr.optim.SGD(cm.parameters(), lr=0.1)
    for _ in range(3):
        tl = torch.nn.functional.cross_entropy(tm(torch.tensor(x)), torch.tensor(y))
        cl = nn.functional.cross_entropy(cm(cr.tensor(x)), cr.tensor(y))
        close(cl, tl, 1e-10, "loss")
        topt.zero_grad()
        copt.zero_grad()
        tl.backward()
        cl.backward()
        topt.step()
        copt.step()
    for (name, p), tp in zip(cm.named_parameters(), tm.parameters()):
        close(p, tp, 1e-10, name)


def test_conv_im2col_cache_is_not_stale() -> None:
    """The weight gradient reuses the forward's window matrix only for the same input."""
    rng = np.random.default_rng(0)
    w = cr.tensor(rng.normal(size=(3, 2, 3, 3)), requires_grad=True)
    x1, x2 = (cr.tensor(rng.normal(size=(2, 2, 6, 6))) for _ in range(2))
    y1 = nn.functional.conv2d(x1, w)
    y2 = nn.functional.conv2d(x2, w)
    (g2,) = cr.autograd.grad(y2.sum(), w)
    (g1,) = cr.autograd.grad(y1.sum(), w)
    tw = torch.tensor(w.data, requires_grad=True)
    for x, g in [(x1, g1), (x2, g2)]:
        (tg,) = torch.autograd.grad(torch.nn.functional.conv2d(torch.tensor(x.data), tw).sum(),
                                    tw)
        close(g, tg, 1e-12)


@pytest.mark.parametrize("n,c,h,o,k", list(itertools.product([1, 3], [1, 4], [6], [2], [1, 3])))
def test_layouts_agree(n: int, c: int, h: int, o: int, k: int, monkeypatch: Any) -> None:
    rng = np.random.default_rng(0)
    x, w = rng.normal(size=(n, c, h, h + 1)), rng.normal(size=(o, c, k, k))
    results = []
    for thr, mode in LAYOUTS.values():
        monkeypatch.setattr(C, "BATCH_MAJOR_MIN_POSITIONS", thr)
        monkeypatch.setattr(C, "HWNC_MODE", mode)
        cx, cw = cr.tensor(x, requires_grad=True), cr.tensor(w, requires_grad=True)
        y = nn.functional.conv2d(cx, cw, padding=1)
        y.backward(cr.tensor(np.cos(y.data)))
        results.append((y.data, cx.grad.data, cw.grad.data))
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_bias_gradients_of_convolutions_sharing_an_upstream_gradient() -> None:
    """Two convolutions of the same input summed: each bias gets its own gradient, also when
    the other layer's bias or weight is frozen (the weight GEMM's bias row is not mixed up)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 6, 6))
    ws = [rng.normal(size=(4, 3, 3, 3)) for _ in range(2)]
    bs = [rng.normal(size=4) for _ in range(2)]
    for frozen in [(), ("b0",), ("w1",), ("b0", "w1"), ("w0", "b1")]:
        cw = [cr.tensor(w, requires_grad=f"w{i}" not in frozen) for i, w in enumerate(ws)]
        cb = [cr.tensor(b, requires_grad=f"b{i}" not in frozen) for i, b in enumerate(bs)]
        tw = [torch.tensor(w, requires_grad=f"w{i}" not in frozen) for i, w in enumerate(ws)]
        tb = [torch.tensor(b, requires_grad=f"b{i}" not in frozen) for i, b in enumerate(bs)]
        cx = cr.tensor(x)
        y = nn.functional.conv2d(cx, cw[0], cb[0]) + nn.functional.conv2d(cx, cw[1], cb[1])
        ty = sum(torch.nn.functional.conv2d(torch.tensor(x), w, b) for w, b in zip(tw, tb))
        g = rng.normal(size=tuple(ty.shape))
        y.backward(cr.tensor(g))
        ty.backward(torch.tensor(g))
        for c, t in [*zip(cw, tw), *zip(cb, tb)]:
            if t.requires_grad:
                close(c.grad, t.grad, 1e-10, f"frozen {frozen}")
            else:
                assert c.grad is None
