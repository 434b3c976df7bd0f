"""Attention: scaled_dot_product_attention and nn.MultiheadAttention against torch (outputs,
attention weights, input and parameter gradients) with masks of every kind, causal attention,
key padding, kdim/vdim, batch_first, bias_kv, zero attention; gradcheck in float64."""

from __future__ import annotations

import functools
import itertools
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, close
from torch_parity_helpers import TORCH_DTYPE as TDT

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")

F = nn.functional
TF = torch.nn.functional




def _t(x: Any, dtype: Any = np.float64, grad: bool = True) -> tuple[Any, Any]:
    x = np.asarray(x)
    if x.dtype.kind == "f":
        x = x.astype(dtype)
        return cr.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)
    return cr.tensor(x), torch.tensor(x)


def masks(l: int, s: int, rng: np.random.Generator) -> dict[str, Any]:
    keep = rng.random((l, s)) > 0.3
    keep[:, 0] = True  # every query may attend to something
    return {"none": None, "bool": keep, "float": rng.normal(size=(l, s)),
            "float-inf": np.where(keep, 0.0, -np.inf), "broadcast": keep[None, None]}


# --------------------------------------------------------------------------- SDPA

@pytest.mark.parametrize("mask_kind,causal,scale,dtype", [
    *[(m, False, None, np.float64) for m in ("none", "bool", "float", "float-inf",
                                             "broadcast")],
    ("none", True, None, np.float64), ("none", False, 0.3, np.float64),
    ("bool", False, None, np.float32), ("none", True, None, np.float32),
])
def test_sdpa_matches_torch(mask_kind: str, causal: bool, scale: Any, dtype: Any) -> None:
    rng = np.random.default_rng(0)
    b, h, l, s, e, ev = 2, 3, 4, 5, 6, 7
    q, tq = _t(rng.normal(size=(b, h, l, e)), dtype)
    k, tk = _t(rng.normal(size=(b, h, s, e)), dtype)
    v, tv = _t(rng.normal(size=(b, h, s, ev)), dtype)
    m = masks(l, s, rng)[mask_kind]
    cm = tm = None
    if m is not None:
        cm, tm = _t(m, dtype, grad=False)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=cm, is_causal=causal, scale=scale)
    tout = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, is_causal=causal,
                                           scale=scale)
    rtol = TOL[dtype]
    close(out, tout, rtol, "output")
    g = rng.normal(size=tout.shape).astype(dtype)
    out.backward(cr.tensor(g))
    tout.backward(torch.tensor(g))
    for a, t, name in [(q, tq, "q"), (k, tk, "k"), (v, tv, "v")]:
        close(a.grad, t.grad, rtol, f"grad {name}")
        assert a.grad.dtype == dtype


def test_sdpa_fully_masked_query_gives_zero() -> None:
    rng = np.random.default_rng(0)
    q, tq = _t(rng.normal(size=(2, 3, 4)))
    k, tk = _t(rng.normal(size=(2, 5, 4)))
    v, tv = _t(rng.normal(size=(2, 5, 4)))
    keep = np.ones((3, 5), dtype=bool)
    keep[1] = False
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(keep))
    tout = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=torch.tensor(keep))
    close(out, tout, 1e-10)
    assert np.all(out.data[:, 1] == 0)
    out.sum().backward()
    tout.sum().backward()
    for a, t in [(q, tq), (k, tk), (v, tv)]:
        assert np.all(np.isfinite(a.grad.data))
        close(a.grad, t.grad, 1e-10)


def test_sdpa_grouped_query_attention() -> None:
    rng = np.random.default_rng(0)
    q, tq = _t(rng.normal(size=(2, 4, 3, 5)))
    k, tk = _t(rng.normal(size=(2, 2, 6, 5)))
    v, tv = _t(rng.normal(size=(2, 2, 6, 5)))
    out = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    tout = TF.scaled_dot_product_attention(tq, tk, tv, enable_gqa=True)
    close(out, tout, 1e-10)
    out.sum().backward()
    tout.sum().backward()
    close(k.grad, tk.grad, 1e-10)


def test_sdpa_gradcheck_and_dropout() -> None:
    rng = np.random.default_rng(0)
    xs = [cr.tensor(rng.normal(size=s), requires_grad=True) for s in [(2, 3, 4), (2, 5, 4),
                                                                       (2, 5, 2)]]
    keep = rng.random((3, 5)) > 0.3
    keep[:, 0] = True
    cr.gradcheck(lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True), xs)
    cr.gradgradcheck(lambda q, k, v: F.scaled_dot_product_attention(
        q, k, v, attn_mask=cr.tensor(keep)), xs)
    out = F.scaled_dot_product_attention(*xs, dropout_p=0.5)
    assert out.shape == (2, 3, 2)
    with pytest.raises(ValueError, match="do not fit"):
        F.scaled_dot_product_attention(xs[0], xs[0], xs[2])


# --------------------------------------------------------------------------- MHA

def mha_pair(e: int, h: int, dtype: Any = np.float64, **kw: Any) -> tuple[Any, Any]:
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(e, h, **kw).to(TDT[dtype])
    cm = nn.MultiheadAttention(e, h, **kw).to(dtype)
    for p in tm.parameters():  # non-zero biases, so their gradients are tested too
        with torch.no_grad():
            p.add_(torch.randn_like(p) * 0.1)
    missing, unexpected = cm.load_state_dict(tm.state_dict())
    assert not missing and not unexpected
    assert list(cm.state_dict()) == list(tm.state_dict())
    return cm, tm


def run_mha(cm: Any, tm: Any, inputs: list[np.ndarray], dtype: Any = np.float64,
            self_attention: bool = False, **kw: Any) -> None:
    rtol = TOL[dtype]
    pairs = [_t(x, dtype) for x in inputs]
    if self_attention:
        pairs = pairs * 3
    ckw = {k: (cr.tensor(v) if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    tkw = {k: (torch.tensor(v.astype(dtype) if v.dtype.kind == "f" else v)
               if isinstance(v, np.ndarray) else v) for k, v in kw.items()}
    out, w = cm(*[p[0] for p in pairs], **ckw)
    tout, tw = tm(*[p[1] for p in pairs], **tkw)
    close(out, tout, rtol, "output")
    if tw is None:
        assert w is None
    else:
        close(w, tw, rtol, "weights")
    rng = np.random.default_rng(5)
    loss = (out * cr.tensor(rng.normal(size=out.shape).astype(dtype))).sum()
    rng = np.random.default_rng(5)
    tloss = (tout * torch.tensor(rng.normal(size=tuple(tout.shape)).astype(dtype))).sum()
    if tw is not None:
        gw = rng.normal(size=tuple(tw.shape)).astype(dtype)
        loss = loss + (w * cr.tensor(gw)).sum()
        tloss = tloss + (tw * torch.tensor(gw)).sum()
    loss.backward()
    tloss.backward()
    for k, (c, t) in enumerate(pairs[:1] if self_attention else pairs):
        close(c.grad, t.grad, rtol, f"input {k} gradient")
    tparams = dict(tm.named_parameters())
    for name, p in cm.named_parameters():
        close(p.grad, tparams[name].grad, rtol, f"{name} gradient")


@pytest.mark.parametrize("batch_first,need_weights,average,self_attention", list(
    itertools.product([False, True], [True, False], [True, False], [True, False])))
def test_mha_matches_torch(batch_first: bool, need_weights: bool, average: bool,
                           self_attention: bool) -> None:
    rng = np.random.default_rng(0)
    cm, tm = mha_pair(8, 2, batch_first=batch_first)
    shape = lambda l: (3, l, 8) if batch_first else (l, 3, 8)  # noqa: E731
    inputs = [rng.normal(size=shape(4))] if self_attention else [
        rng.normal(size=shape(4)), rng.normal(size=shape(5)), rng.normal(size=shape(5))]
    run_mha(cm, tm, inputs, self_attention=self_attention, need_weights=need_weights,
            average_attn_weights=average)


@pytest.mark.parametrize("kind", ["bool", "float", "float-inf"])
@pytest.mark.parametrize("which", ["attn_mask", "key_padding_mask", "both", "3d"])
def test_mha_masks_match_torch(kind: str, which: str) -> None:
    rng = np.random.default_rng(1)
    l, s, n, h = 4, 5, 3, 2
    cm, tm = mha_pair(8, h)
    inputs = [rng.normal(size=(l, n, 8)), rng.normal(size=(s, n, 8)), rng.normal(size=(s, n, 8))]
    drop = rng.random((l, s)) < 0.3  # True: do not attend (nn.MultiheadAttention's sense)
    drop[:, 0] = False
    pad = np.zeros((n, s), dtype=bool)
    pad[0, -2:] = True
    pad[2, -1] = True

    def as_kind(m: np.ndarray) -> np.ndarray:
        if kind == "bool":
            return m
        if kind == "float":
            return np.where(m, -1e9, 0.0) + rng.normal(size=m.shape) * 0.1
        return np.where(m, -np.inf, 0.0)

    kw: dict[str, Any] = {}
    if which in ("attn_mask", "both"):
        kw["attn_mask"] = as_kind(drop)
    if which in ("key_padding_mask", "both"):
        kw["key_padding_mask"] = as_kind(pad)
    if which == "3d":
        kw["attn_mask"] = as_kind(np.broadcast_to(drop, (n * h, l, s)).copy())
    run_mha(cm, tm, inputs, **kw)


def test_mha_causal() -> None:
    rng = np.random.default_rng(2)
    cm, tm = mha_pair(8, 4, batch_first=True)
    causal = np.triu(np.ones((5, 5), dtype=bool), 1)
    run_mha(cm, tm, [rng.normal(size=(2, 5, 8))], self_attention=True, attn_mask=causal,
            is_causal=True)
    # our is_causal also works without a mask (PyTorch requires one as a hint)
    x = cr.tensor(rng.normal(size=(2, 5, 8)))
    a, _ = cm(x, x, x, is_causal=True)
    b, _ = cm(x, x, x, attn_mask=cr.tensor(causal))
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


@pytest.mark.parametrize("kw", [dict(kdim=3, vdim=5), dict(add_bias_kv=True),
                                dict(add_zero_attn=True), dict(bias=False),
                                dict(add_bias_kv=True, add_zero_attn=True, kdim=6, vdim=4)],
                         ids=str)
def test_mha_options_match_torch(kw: dict) -> None:
    rng = np.random.default_rng(3)
    cm, tm = mha_pair(8, 2, **kw)
    inputs = [rng.normal(size=(4, 3, 8)), rng.normal(size=(5, 3, kw.get("kdim", 8))),
              rng.normal(size=(5, 3, kw.get("vdim", 8)))]
    pad = np.zeros((3, 5), dtype=bool)
    pad[1, -1] = True
    run_mha(cm, tm, inputs, key_padding_mask=pad)


def test_mha_unbatched_float32_and_dropout() -> None:
    rng = np.random.default_rng(4)
    cm, tm = mha_pair(8, 2, dtype=np.float32)
    run_mha(cm, tm, [rng.normal(size=(4, 8)), rng.normal(size=(6, 8)), rng.normal(size=(6, 8))],
            np.float32)
    cm, tm = mha_pair(8, 2, dropout=0.5)
    cm.eval()
    tm.eval()
    run_mha(cm, tm, [rng.normal(size=(4, 2, 8))], self_attention=True)
    cm.train()
    x = cr.tensor(rng.normal(size=(4, 2, 8)))
    a, _ = cm(x, x, x)
    b, _ = cm(x, x, x)
    assert not np.allclose(a.data, b.data)


def test_mha_initialisation_and_errors() -> None:
    m = nn.MultiheadAttention(16, 4)
    assert m.in_proj_weight.shape == (48, 16) and m.out_proj.weight.shape == (16, 16)
    assert np.all(m.in_proj_bias.data == 0) and np.all(m.out_proj.bias.data == 0)
    bound = np.sqrt(6 / (48 + 16))  # xavier_uniform_
    assert np.abs(m.in_proj_weight.data).max() <= bound
    assert m.in_proj_weight.dtype == np.float32
    sep = nn.MultiheadAttention(16, 4, kdim=8, vdim=4)
    assert sep.in_proj_weight is None and sep.k_proj_weight.shape == (16, 8)
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    with pytest.raises(ValueError, match="embedding dimension"):
        m(cr.randn(3, 2, 8), cr.randn(3, 2, 8), cr.randn(3, 2, 8))


def test_mha_gradcheck() -> None:
    rng = np.random.default_rng(0)
    m = nn.MultiheadAttention(4, 2).double()
    x = cr.tensor(rng.normal(size=(3, 2, 4)), requires_grad=True)
    pad = cr.tensor(np.array([[False, False, True], [False, False, False]]))
    cr.gradcheck(lambda t: m(t, t, t, key_padding_mask=pad)[0], (x,))


# --------------------------------------------------------------------------- the fused op

def test_fused_attention_equals_the_composite_and_passes_mask_gradients() -> None:
    from chainrule.ops import attention as A

    rng = np.random.default_rng(6)
    q, tq = _t(rng.normal(size=(2, 3, 4, 5)))
    k, tk = _t(rng.normal(size=(2, 3, 6, 5)))
    v, tv = _t(rng.normal(size=(2, 3, 6, 2)))
    m, tm = _t(rng.normal(size=(4, 6)))
    out = A.attention(q, k, v, m, is_causal=False, scale=0.4)
    tout = TF.scaled_dot_product_attention(tq, tk, tv, attn_mask=tm, scale=0.4)
    close(out, tout, 1e-10)
    g = rng.normal(size=tout.shape)
    out.backward(cr.tensor(g))
    tout.backward(torch.tensor(g))
    for a, t in [(q, tq), (k, tk), (v, tv), (m, tm)]:
        close(a.grad, t.grad, 1e-10)
    # the composite (taken with dropout, or for the weights) agrees with the fused op
    comp = cr.softmax(cr.matmul(q, k.transpose(-2, -1)) * 0.4 + m, -1) @ v
    close(out, comp.data, 1e-12)
    xs = [cr.tensor(rng.normal(size=s), requires_grad=True) for s in [(2, 3, 4), (2, 5, 4),
                                                                       (2, 5, 3)]]
    cr.gradgradcheck(lambda a, b, c: A.attention(a, b, c, is_causal=True, scale=None), xs)


def test_float32_attention_stays_float32() -> None:
    rng = np.random.default_rng(0)
    q, k, v = (cr.tensor(rng.normal(size=(2, 4, 8)).astype(np.float32), requires_grad=True)
               for _ in range(3))
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=cr.tensor(np.ones((4, 4), bool)))
    assert out.dtype == np.float32
    out.sum().backward()
    assert q.grad.dtype == np.float32 and k.grad.dtype == np.float32


# --------------------------------------------------------------------------- generic ops

# The generic matmul and softmax take fast paths on plain arrays (see ops/linalg.py and
# ops/reductions.py): products in halves for OpenBLAS's small-matrix kernel, one GEMM for a
# stack times a matrix, transposed backward products, softmax without the max shift.

def _grads(lib: Any, fn: Any, arrays: list[np.ndarray]) -> tuple[Any, list[Any]]:
    """``fn``'s output and the gradients for the upstream ``cos(output)``, zero where the
    output is not finite (log_softmax where masked), in chainrule or torch."""
    xs = [cr.tensor(a, requires_grad=True) if lib is cr else torch.tensor(a, requires_grad=True)
          for a in arrays]
    out = fn(*xs)
    o = out.data if lib is cr else out.detach().numpy()
    g = np.where(np.isfinite(o), np.cos(np.where(np.isfinite(o), o, 0)), 0).astype(o.dtype)
    out.backward(cr.tensor(g) if lib is cr else torch.tensor(g))
    return out, [x.grad for x in xs]


def _float32(rng: np.random.Generator, *shape: int) -> np.ndarray:
    return rng.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("small_kernel", [True, False])
@pytest.mark.parametrize("case", ["transposed b", "transposed a", "matrix a", "broadcast",
                                  "stack times matrix", "float64"])
def test_matmul_fast_paths_match_torch(case: str, small_kernel: bool,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from chainrule.ops import linalg

    # the halves are taken only with OpenBLAS's AVX-512 kernels: test them on every CPU
    monkeypatch.setattr(linalg, "_OPENBLAS_AVX512", small_kernel)
    rng = np.random.default_rng(7)
    a, b = _float32(rng, 4, 128, 64), _float32(rng, 4, 128, 64).swapaxes(-1, -2)
    if case == "transposed a":
        a = _float32(rng, 4, 64, 128).swapaxes(-1, -2)
    elif case == "matrix a":
        a = a[0]
    elif case == "broadcast":
        a = a[:1]
    elif case == "stack times matrix":
        a, b = _float32(rng, 4, 32, 64), _float32(rng, 64, 48)
    elif case == "float64":
        a, b = a.astype(np.float64), b.astype(np.float64)
    halves = linalg._halves_are_faster(a, b)
    assert halves == (small_kernel and case not in ("stack times matrix", "float64"))
    out, grads = _grads(cr, lambda x, y: x @ y, [a, b])
    tout, tgrads = _grads(torch, lambda x, y: x @ y, [a, b])
    rtol = 1e-5 if a.dtype == np.float32 else 1e-12
    close(out, tout, rtol, "output")
    for g, tg, name in zip(grads, tgrads, "ab"):
        close(g, tg, rtol, f"grad {name}")
        assert g.shape == tg.shape and g.dtype == a.dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["typical", "huge", "very negative", "masked", "mixed"])
@pytest.mark.parametrize("dim", [-1, -2])
def test_softmax_with_and_without_the_shift_matches_torch(kind: str, dtype: Any,
                                                          dim: int) -> None:
    from chainrule.ops import reductions

    rng = np.random.default_rng(8)
    x = rng.normal(size=(3, 16, 16)) * 4
    if kind == "huge":  # exp overflows: the max shift is needed
        x = x * 100
    elif kind == "very negative":  # every exp underflows
        x = x - 200
    elif kind == "masked":  # -inf entries, at least one finite per row and column
        x[:, 1:, 0] = -np.inf
        x[:, 0, 1:] = -np.inf
        x[:, 0, 0] = 3.0  # (exp(x) sums ≥ 1 in that row and column: no shift needed)
    elif kind == "mixed":  # only some rows need the shift
        x[0] *= 100
    x = x.astype(dtype)
    shifted = reductions._exp_and_sums(x, dim)[2] is not None
    assert shifted == (kind in ("huge", "very negative", "mixed"))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for ours, theirs in [(cr.softmax, torch.softmax), (cr.log_softmax, torch.log_softmax)]:
        out, (g,) = _grads(cr, functools.partial(ours, dim=dim), [x])
        tout, (tg,) = _grads(torch, functools.partial(theirs, dim=dim), [x])
        finite = np.isfinite(tout.detach().numpy())  # log_softmax is -inf where masked
        np.testing.assert_array_equal(np.isfinite(out.data), finite)
        close(out.data[finite], tout.detach().numpy()[finite], rtol, f"{ours.__name__} {kind}")
        close(g, tg, rtol, f"grad of {ours.__name__} {kind}")
        assert out.dtype == dtype and g.dtype == dtype


def test_reduction_gradients_are_broadcast_views_until_they_reach_a_leaf() -> None:
    rng = np.random.default_rng(9)
    x = cr.tensor(rng.normal(size=(4, 5)), requires_grad=True)
    x.mean().backward()
    assert x.grad.data.flags.writeable  # the leaf gets its own array, not the read-only view
    np.testing.assert_array_equal(x.grad.data, np.full((4, 5), 1 / 20))
    x.sum(dim=1).sum().backward()  # accumulates into it
    np.testing.assert_array_equal(x.grad.data, np.full((4, 5), 1 + 1 / 20))


def test_the_benchmark_attention_step_matches_torch_to_second_order() -> None:
    """benchmarks/bench_training.py's attention step with the generic ops, at its shapes
    (every fast path above at once), and a gradient of the gradient."""
    rng = np.random.default_rng(3)
    x = _float32(rng, 8, 128, 64)
    ws = [_float32(rng, 64, 64) / 8 for _ in range(3)]

    def step(lib: Any, xs: Any, wq: Any, wk: Any, wv: Any) -> Any:
        q, k, v = xs @ wq, xs @ wk, xs @ wv
        p = lib.softmax(q @ k.transpose(-2, -1) * 0.125, dim=-1)
        return ((p @ v) ** 2).mean()

    cws = [cr.tensor(w, requires_grad=True) for w in ws]
    tws = [torch.tensor(w, requires_grad=True) for w in ws]
    loss, tloss = step(cr, cr.tensor(x), *cws), step(torch, torch.tensor(x), *tws)
    close(loss, tloss, 1e-5, "loss")
    grads = cr.autograd.grad(loss, cws, create_graph=True)
    tgrads = torch.autograd.grad(tloss, tws, create_graph=True)
    for g, tg in zip(grads, tgrads):
        close(g, tg, 1e-4, "weight gradient")
    (sum((g * g).sum() for g in grads)).backward()
    (sum((g * g).sum() for g in tgrads)).backward()
    for w, tw in zip(cws, tws):
        close(w.grad, tw.grad, 1e-3, "gradient of the squared gradient norm")


@pytest.mark.parametrize("row", [[88.0, 88.0], [88.0, 87.9, 80.0], [87.5, 87.5, 87.5],
                                 [40.0, 41.0, 39.5]])
def test_softmax_of_large_logits_keeps_full_float32_precision(row: list) -> None:
    """Large but finite logits: the unshifted softmax must not lose digits (a subnormal 1/z),
    and log_softmax must not cancel them (x - log z with both large)."""
    x = np.array([row], dtype=np.float32)
    t = torch.tensor(x)
    np.testing.assert_allclose(cr.softmax(cr.tensor(x), dim=-1).numpy(),
                               torch.softmax(t, -1).numpy(), rtol=3e-7)
    np.testing.assert_allclose(cr.log_softmax(cr.tensor(x), dim=-1).numpy(),
                               torch.log_softmax(t, -1).numpy(), rtol=3e-7, atol=1e-7)


@pytest.mark.parametrize("case", ["contiguous", "transposed a", "broadcast batch", "float64",
                                  "sliced g", "create_graph", "empty k", "empty batch"])
def test_gradient_of_a_matrix_shared_by_a_batch_is_one_product(case: str) -> None:
    """δW of ``x @ W`` with batched x and a 2-D W is computed as one GEMM over all rows of x
    (ops/linalg.py, _matmul_vjp_b): it must match torch for every layout, and to second order."""
    rng = np.random.default_rng(11)
    dtype = np.float64 if case in ("float64", "create_graph") else np.float32
    x = rng.normal(size=(3, 5, 6)).astype(dtype)
    w = rng.normal(size=(6, 4)).astype(dtype)
    if case == "transposed a":
        x = np.ascontiguousarray(x.swapaxes(-1, -2)).swapaxes(-1, -2)  # a view, not C-order
    elif case == "broadcast batch":
        x = rng.normal(size=(2, 3, 5, 6)).astype(dtype)
    elif case == "empty k":
        x, w = x[..., :0], w[:0]
    elif case == "empty batch":
        x = x[:0]
    assert case != "transposed a" or not x.flags.c_contiguous

    def fn(lib: Any, a: Any, b: Any) -> Any:
        out = a @ b
        return (out[..., ::2, :] if case == "sliced g" else out).sin()

    (cx, tx), (cw, tw) = _t(x, dtype), _t(w, dtype)
    out, tout = fn(cr, cx, cw), fn(torch, tx, tw)
    if case == "create_graph":
        (gx, gw), (tgx, tgw) = (cr.autograd.grad(out.sum(), [cx, cw], create_graph=True),
                                torch.autograd.grad(tout.sum(), [tx, tw], create_graph=True))
        close(gw, tgw, 1e-10, "grad of W")
        ((gw * gw).sum() + (gx * gx).sum()).backward()
        ((tgw * tgw).sum() + (tgx * tgx).sum()).backward()
    else:
        out.sum().backward()
        tout.sum().backward()
    rtol = 1e-5 if dtype == np.float32 else 1e-10
    close(cw.grad, tw.grad, rtol, "W.grad")
    close(cx.grad, tx.grad, rtol, "x.grad")
    assert cw.grad.shape == w.shape and cw.grad.dtype == dtype

