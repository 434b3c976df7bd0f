"""``F.affine_grid`` and ``F.grid_sample`` against PyTorch: every mode, padding mode and
align_corners, 4-D and 5-D; values, input and grid gradients (float64 and float32), central
differences, second order, and the errors."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import chainrule as cr
import chainrule.nn.functional as F

torch = pytest.importorskip("torch")

from torch_parity_helpers import TOL, close  # noqa: E402

TF = torch.nn.functional
PADDINGS = ["zeros", "border", "reflection"]
# (input shape, grid shape, modes): 2-D has bicubic, 5-D bilinear and nearest only
CASES = [((2, 3, 5, 6), (2, 4, 7, 2), ["bilinear", "nearest", "bicubic"]),
         ((2, 2, 3, 4, 5), (2, 3, 2, 4, 3), ["bilinear", "nearest"])]
PARAMS = [(shape, gshape, mode) for shape, gshape, modes in CASES for mode in modes]


def _pair(a: np.ndarray, requires_grad: bool = True) -> tuple:
    return cr.tensor(a, requires_grad=requires_grad), torch.tensor(a, requires_grad=requires_grad)


def _data(shape: tuple, gshape: tuple, dtype: type, seed: int = 0,
          spread: float = 1.4) -> tuple[np.ndarray, np.ndarray]:
    """An input and a grid reaching past the edges (``spread`` > 1), so padding matters."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    grid = (rng.uniform(-1, 1, gshape) * spread).astype(dtype)
    return x, grid


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape,gshape,mode", PARAMS)
def test_grid_sample_against_torch(shape, gshape, mode, padding, align, dtype):
    x, grid = _data(shape, gshape, dtype, spread=2.5 if padding == "reflection" else 1.4)
    cx, tx = _pair(x)
    cg, tg = _pair(grid)
    out = F.grid_sample(cx, cg, mode, padding, align)
    expected = TF.grid_sample(tx, tg, mode, padding, align)
    tol = TOL[dtype]
    close(out, expected, tol, "output")
    w = np.random.default_rng(1).standard_normal(expected.shape).astype(dtype)
    (out * cr.tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    close(cx.grad, tx.grad, tol, "input grad")
    assert cg.grad is not None  # nearest: zeros, as torch reports
    close(cg.grad, tg.grad, tol * 10, "grid grad")


@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("padding", PADDINGS)
@pytest.mark.parametrize("shape,gshape,mode", PARAMS)
def test_grid_sample_central_differences(shape, gshape, mode, padding, align):
    x, grid = _data(tuple(min(s, 3) for s in shape[:2]) + shape[2:],
                    (shape[0],) + tuple(min(s, 3) for s in gshape[1:-1]) + gshape[-1:],
                    np.float64, seed=3)
    cx = cr.tensor(x[:, :min(shape[1], 3)].copy(), requires_grad=True)
    cg = cr.tensor(grid, requires_grad=True)
    assert cr.gradcheck(lambda a, g: F.grid_sample(a, g, mode, padding, align), (cx, cg))


def test_grid_sample_second_order_against_torch():
    x, grid = _data((1, 2, 4, 5), (1, 3, 3, 2), np.float64, seed=5)
    cx, tx = _pair(x)
    cg, tg = _pair(grid)
    for mode in ("bilinear", "bicubic"):
        out = F.grid_sample(cx, cg, mode, "border", False)
        (gx,) = cr.autograd.grad(out.pow(2).sum(), (cg,), create_graph=True)
        gx.pow(2).sum().backward()
        t_out = TF.grid_sample(tx, tg, mode, "border", False)
        (t_gx,) = torch.autograd.grad(t_out.pow(2).sum(), (tg,), create_graph=True)
        t_gx.pow(2).sum().backward()
        close(gx, t_gx, 1e-10, f"{mode} grid grad")
        close(cx.grad, tx.grad, 1e-10, f"{mode} d(grad)/d input")
        cx.grad = cg.grad = None
        tx.grad = tg.grad = None


def test_grid_sample_edges_and_exact_pixels():
    """Grid points exactly on pixel centres, edges and corners (where floor and clipping
    decide): values and gradients as torch."""
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    ticks = np.array([-1.0, -0.75, -0.5, 0.0, 0.25, 0.6, 1.0])
    gy, gx = np.meshgrid(ticks, ticks, indexing="ij")
    grid = np.stack([gx, gy], axis=-1)[None]
    for mode in ("bilinear", "nearest", "bicubic"):
        for padding in PADDINGS:
            for align in (False, True):
                cx, tx = _pair(x)
                cg, tg = _pair(grid)
                out = F.grid_sample(cx, cg, mode, padding, align)
                expected = TF.grid_sample(tx, tg, mode, padding, align)
                close(out, expected, 1e-10, f"{mode} {padding} {align}")
                out.sum().backward()
                expected.sum().backward()
                close(cx.grad, tx.grad, 1e-10, "input grad")
                close(cg.grad, tg.grad, 1e-9, "grid grad")


def test_grid_sample_non_finite_grid():
    """NaN and ±inf grid points, as torch's CPU kernel: under zeros padding they read nothing
    (NaN weights: NaN out for bilinear, 0 for nearest) and leave the input's gradient finite;
    border sends NaN to 0 and ±inf to the nearer edge, reflection sends all three to 0.
    (torch's own backward crashes on these under border/reflection: ours stays finite.)"""
    x = np.arange(24.0).reshape(1, 2, 3, 4)
    grid = np.array([[[[np.nan, 0.2], [0.1, np.nan], [np.inf, -0.4]],
                      [[-np.inf, 0.3], [0.5, np.inf], [0.3, -np.inf]]]])
    for mode in ("bilinear", "nearest", "bicubic"):
        for padding in PADDINGS:
            for align in (False, True):
                cx, tx = _pair(x)
                cg, tg = _pair(grid)
                out = F.grid_sample(cx, cg, mode, padding, align)
                expected = TF.grid_sample(tx, tg, mode, padding, align)
                close(out, expected, 1e-12, f"{mode} {padding} {align}")
                out.sum().backward()
                if padding == "zeros":
                    expected.sum().backward()
                    close(cx.grad, tx.grad, 1e-12, "input grad")
                elif mode != "bicubic":  # (bicubic: NaN coefficients, in torch too)
                    assert np.isfinite(cx.grad.data).all() and np.isfinite(cg.grad.data).all()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("align", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 3, 4, 2), (1, 1, 1, 3)])
def test_affine_grid_against_torch(size, align, dtype):
    nd = len(size) - 2
    theta = np.random.default_rng(2).standard_normal((size[0], nd, nd + 1)).astype(dtype)
    ct, tt = _pair(theta)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = F.affine_grid(ct, size, align_corners=align)
        expected = TF.affine_grid(tt, size, align_corners=align)
    close(grid, expected, TOL[dtype], "grid")
    w = np.random.default_rng(3).standard_normal(expected.shape).astype(dtype)
    (grid * cr.tensor(w)).sum().backward()
    (expected * torch.tensor(w)).sum().backward()
    close(ct.grad, tt.grad, TOL[dtype], "theta grad")
    ct64 = cr.tensor(theta.astype(np.float64), requires_grad=True)
    assert cr.gradcheck(lambda t: F.affine_grid(t, size, align_corners=align), (ct64,))


def test_spatial_transformer_end_to_end():
    """affine_grid then grid_sample: the gradient reaches theta, as in torch."""
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 7))
    theta = np.array([[[0.9, 0.2, 0.1], [-0.1, 1.1, 0.05]], [[1.2, 0.0, -0.2], [0.3, 0.8, 0.0]]])
    cx, tx = _pair(x)
    ct, tt = _pair(theta)
    out = F.grid_sample(cx, F.affine_grid(ct, (2, 3, 5, 5), False), align_corners=False)
    expected = TF.grid_sample(tx, TF.affine_grid(tt, (2, 3, 5, 5), False), align_corners=False)
    close(out, expected, 1e-10, "output")
    out.pow(2).sum().backward()
    expected.pow(2).sum().backward()
    close(ct.grad, tt.grad, 1e-10, "theta grad")
    close(cx.grad, tx.grad, 1e-10, "input grad")


def test_align_corners_none_warns_and_means_false():
    x, grid = _data((1, 1, 3, 3), (1, 2, 2, 2), np.float64)
    with pytest.warns(UserWarning, match="align_corners=False"):
        out = F.grid_sample(cr.tensor(x), cr.tensor(grid))
    close(out, F.grid_sample(cr.tensor(x), cr.tensor(grid), align_corners=False), 0)
    with pytest.warns(UserWarning, match="align_corners=False"):
        F.affine_grid(cr.tensor(np.eye(2, 3)[None]), (1, 1, 2, 2))


def test_errors():
    x = cr.randn(1, 2, 4, 5)
    g = cr.rand(1, 3, 3, 2)
    with pytest.raises(ValueError, match="grid_sample.*mode.*'foo'"):
        F.grid_sample(x, g, mode="foo", align_corners=False)
    with pytest.raises(ValueError, match="grid_sample.*padding_mode"):
        F.grid_sample(x, g, padding_mode="wrap", align_corners=False)
    with pytest.raises(RuntimeError, match="size 2 in last dimension"):
        F.grid_sample(x, cr.rand(1, 3, 3, 3), align_corners=False)
    with pytest.raises(RuntimeError, match="same batch size"):
        F.grid_sample(x, cr.rand(2, 3, 3, 2), align_corners=False)
    with pytest.raises(RuntimeError, match="bicubic.*4D"):
        F.grid_sample(cr.randn(1, 2, 3, 4, 5), cr.rand(1, 2, 2, 2, 3), mode="bicubic",
                      align_corners=False)
    with pytest.raises(RuntimeError, match="same floating point dtype"):
        F.grid_sample(x, g.double(), align_corners=False)
    with pytest.raises(RuntimeError, match="4-D input"):
        F.grid_sample(cr.randn(2, 5), g, align_corners=False)
    with pytest.raises(RuntimeError, match="non-empty spatial"):
        F.grid_sample(cr.randn(1, 2, 0, 5), g, align_corners=False)
    theta = cr.randn(1, 2, 3)
    with pytest.raises(NotImplementedError, match="4D and 5D sizes"):
        F.affine_grid(theta, (1, 2, 4), align_corners=False)
    with pytest.raises(ValueError, match="Nx2x3"):
        F.affine_grid(cr.randn(1, 3, 3), (1, 2, 4, 5), align_corners=False)
    with pytest.raises(ValueError, match="positive output size"):
        F.affine_grid(theta, (1, 2, 0, 5), align_corners=False)
    with pytest.raises(ValueError, match="floating point"):
        F.affine_grid(cr.tensor(np.zeros((1, 2, 3), dtype=np.int64)), (1, 2, 4, 5),
                      align_corners=False)
    with pytest.raises(RuntimeError, match="batch of 1"):
        F.affine_grid(cr.randn(2, 2, 3), (1, 2, 4, 5), align_corners=False)
