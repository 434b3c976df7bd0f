"""The Transformer family against torch 2.13: outputs, input and parameter gradients (train
mode with dropout 0, and eval mode; eval without gradients, where torch takes its fused and
nested-tensor fast paths, too), masks of every kind, is_causal, unbatched inputs, state-dict
keys, cloning, initialisation, a few Adam steps, and the errors for bad input."""

from __future__ import annotations

import copy
import inspect
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, close
from torch_parity_helpers import TORCH_DTYPE as TDT

import chainrule as cr
from chainrule import nn

torch = pytest.importorskip("torch")

# torch warns that its nested-tensor path is off for most layer configurations, or that it
# is a prototype.
pytestmark = [pytest.mark.filterwarnings("ignore:enable_nested_tensor is True"),
              pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")]

D, H, FF, S, T, N = 8, 2, 16, 5, 4, 3  # d_model, heads, feed-forward, src/tgt length, batch


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread() -> Any:
    # torch's thread pool costs ~10x on these tiny tensors (on a shared 2-core machine)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _to_torch(v: Any, dtype: Any) -> Any:
    if isinstance(v, np.ndarray):
        return torch.tensor(v.astype(dtype) if v.dtype.kind == "f" else v)
    return v


def _to_cr(v: Any, dtype: Any) -> Any:
    if isinstance(v, np.ndarray):
        return cr.tensor(v.astype(dtype) if v.dtype.kind == "f" else v)
    return v


def check(make: Callable[[Any], Any], inputs: list[np.ndarray], kw: dict[str, Any] | None = None,
          dtype: Any = np.float64, train: bool = True, no_grad_eval: bool = True) -> None:
    """``make(ns)`` builds the module from ``ns`` (chainrule's or torch's ``nn``); torch's
    weights are copied into chainrule's, then outputs and every gradient are compared.
    ``kw``: keyword arguments (masks as NumPy arrays, flags). In eval mode the forward is
    also compared under no_grad, where torch takes its fast paths."""
    kw = kw or {}
    rtol = TOL[dtype]
    torch.manual_seed(0)
    tm = make(torch.nn).to(TDT[dtype])
    cm = make(nn).to(dtype)
    result = cm.load_state_dict(tm.state_dict())
    assert not result.missing_keys and not result.unexpected_keys
    assert list(cm.state_dict()) == list(tm.state_dict())
    tm.train(train)
    cm.train(train)
    tx = [torch.tensor(x.astype(dtype), requires_grad=True) for x in inputs]
    cx = [cr.tensor(x.astype(dtype), requires_grad=True) for x in inputs]
    tkw = {k: _to_torch(v, dtype) for k, v in kw.items()}
    ckw = {k: _to_cr(v, dtype) for k, v in kw.items()}
    tout, cout = tm(*tx, **tkw), cm(*cx, **ckw)
    what = type(cm).__name__
    close(cout, tout, rtol, f"{what} output")
    g = np.random.default_rng(7).normal(size=tuple(tout.shape)).astype(dtype)
    tout.backward(torch.tensor(g))
    cout.backward(cr.tensor(g))
    for k, (c, t) in enumerate(zip(cx, tx)):
        close(c.grad, t.grad, rtol, f"{what} input {k} gradient")
    tparams = dict(tm.named_parameters())
    assert [name for name, _ in cm.named_parameters()] == list(tparams)
    for name, p in cm.named_parameters():
        assert p.grad is not None, f"{name}: no gradient"
        close(p.grad, tparams[name].grad, rtol, f"{what}.{name} gradient")
    if not train and no_grad_eval:
        with torch.no_grad():
            tfast = tm(*tx, **tkw)
        with cr.no_grad():
            cfast = cm(*cx, **ckw)
        # torch's fused kernels round differently from its composite path
        close(cfast, tfast, max(rtol, 1e-9), f"{what} output (eval, no_grad)")


def x_(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


def seq(length: int, batch_first: bool, batched: bool = True, seed: int = 0) -> np.ndarray:
    if not batched:
        return x_(length, D, seed=seed)
    return x_(N, length, D, seed=seed) if batch_first else x_(length, N, D, seed=seed)


def padding(length: int, batched: bool = True) -> np.ndarray:
    """A left-aligned key padding mask (True = padding) that leaves every row something."""
    if not batched:
        pad = np.zeros(length, dtype=bool)
        pad[-1] = True
        return pad
    pad = np.zeros((N, length), dtype=bool)
    pad[0, -2:] = True
    pad[2, -1] = True
    return pad


def random_bool_mask(l: int, s: int, seed: int = 3) -> np.ndarray:
    m = np.random.default_rng(seed).random((l, s)) < 0.4  # True: may not attend
    m[:, 0] = False
    return m


def causal(l: int) -> np.ndarray:
    return np.triu(np.full((l, l), -np.inf), 1)


def causal_bool(l: int) -> np.ndarray:
    return np.triu(np.ones((l, l), dtype=bool), 1)


def float_padding(length: int, batched: bool = True) -> np.ndarray:
    return np.where(padding(length, batched), -np.inf, 0.0)


def activation(ns: Any, name: str) -> Any:
    """'relu'/'gelu' as strings, 'silu' a function, 'tanh-gelu' a module: the callables."""
    if name == "silu":
        return ns.functional.silu
    if name == "tanh-gelu":
        return ns.GELU(approximate="tanh")
    return name


def enc_layer(ns: Any, act: str = "relu", batch_first: bool = False, norm_first: bool = False,
              **kw: Any) -> Any:
    return ns.TransformerEncoderLayer(D, H, FF, 0.0, activation(ns, act), batch_first=batch_first,
                                      norm_first=norm_first, **kw)


def dec_layer(ns: Any, act: str = "relu", batch_first: bool = False, norm_first: bool = False,
              **kw: Any) -> Any:
    return ns.TransformerDecoderLayer(D, H, FF, 0.0, activation(ns, act), batch_first=batch_first,
                                      norm_first=norm_first, **kw)


# --------------------------------------------------------------------------- encoder layer

ENCODER_LAYER_CASES: list[tuple[str, dict, Callable[[bool], dict]]] = [
    ("relu-plain", dict(), lambda bf: {}),
    ("gelu-norm_first-bool_mask", dict(act="gelu", norm_first=True),
     lambda bf: {"src_mask": random_bool_mask(S, S)}),
    ("silu-float_mask-padding", dict(act="silu"),
     lambda bf: {"src_mask": x_(S, S, seed=4), "src_key_padding_mask": float_padding(S)}),
    ("tanh_gelu_module-norm_first-padding", dict(act="tanh-gelu", norm_first=True),
     lambda bf: {"src_key_padding_mask": padding(S)}),
    ("causal", dict(), lambda bf: {"src_mask": causal(S), "is_causal": True}),
    ("causal-padding", dict(act="gelu"),
     lambda bf: {"src_mask": causal_bool(S), "is_causal": True,
                 "src_key_padding_mask": padding(S)}),
    ("float_padding-3d_mask", dict(norm_first=True),
     lambda bf: {"src_key_padding_mask": float_padding(S), "src_mask": x_(N * H, S, S, seed=2)}),
    ("bool_padding-3d_mask", dict(act="gelu"),
     lambda bf: {"src_key_padding_mask": padding(S),
                 "src_mask": np.broadcast_to(random_bool_mask(S, S), (N * H, S, S)).copy()}),
    ("no_bias-eps", dict(bias=False, layer_norm_eps=1e-3),
     lambda bf: {"src_mask": random_bool_mask(S, S)}),
]


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
@pytest.mark.parametrize("name,layer_kw,masks", ENCODER_LAYER_CASES,
                         ids=[c[0] for c in ENCODER_LAYER_CASES])
def test_encoder_layer_matches_torch(name: str, layer_kw: dict, masks: Callable,
                                     batch_first: bool, train: bool) -> None:
    # torch's fast path (eval, no_grad) is wrong for these, so it is not compared: it takes
    # GELU(approximate="tanh") for the exact gelu, and gives NaN for float masks other than
    # 0/-inf (it reads them as bool: any nonzero masks out)
    fast_ok = name not in ("tanh_gelu_module-norm_first-padding", "float_padding-3d_mask")
    check(lambda ns: enc_layer(ns, batch_first=batch_first, **layer_kw),
          [seq(S, batch_first)], masks(batch_first), train=train, no_grad_eval=fast_ok)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_encoder_layer_float32(train: bool) -> None:
    check(lambda ns: enc_layer(ns, act="gelu", batch_first=True),
          [seq(S, True)], {"src_mask": random_bool_mask(S, S),
                           "src_key_padding_mask": padding(S)}, dtype=np.float32, train=train)
    check(lambda ns: enc_layer(ns, norm_first=True), [seq(S, False)],
          {"src_mask": causal(S), "is_causal": True}, dtype=np.float32, train=train)


@pytest.mark.parametrize("batch_first", [False, True], ids=["seq_first", "batch_first"])
def test_encoder_layer_unbatched(batch_first: bool) -> None:
    for train in (True, False):
        check(lambda ns: enc_layer(ns, batch_first=batch_first), [seq(S, batch_first, False)],
              {"src_mask": random_bool_mask(S, S), "src_key_padding_mask": padding(S, False)},
              train=train)
        check(lambda ns: enc_layer(ns, act="gelu", norm_first=True, batch_first=batch_first),
              [seq(S, batch_first, False)], {"src_mask": causal(S), "is_causal": True},
              train=train)


def test_is_causal_is_a_hint_that_overrides_the_mask_as_in_torch() -> None:
    # torch hands is_causal alone to its kernel when there is no key padding mask, whatever
    # the mask says; with a key padding mask it uses the mask.
    mask = random_bool_mask(S, S)
    check(lambda ns: enc_layer(ns), [seq(S, False)], {"src_mask": mask, "is_causal": True})
    check(lambda ns: enc_layer(ns), [seq(S, False)],
          {"src_mask": mask, "is_causal": True, "src_key_padding_mask": padding(S)})
    layer = nn.TransformerEncoderLayer(D, H, FF, 0.0)
    x = cr.tensor(seq(S, False))
    hinted = layer(x, src_mask=cr.tensor(mask), is_causal=True)
    plain = layer(x, src_mask=cr.tensor(mask))
    exact = layer(x, src_mask=cr.tensor(causal(S).astype(np.float32)))
    assert not np.allclose(hinted.data, plain.data)
    np.testing.assert_allclose(hinted.data, exact.data, rtol=1e-6, atol=1e-6)


def test_mixed_bool_and_float_masks_warn_and_match_torch() -> None:
    kw = {"src_mask": x_(S, S, seed=5), "src_key_padding_mask": padding(S)}
    with pytest.warns(UserWarning, match="mismatched src_key_padding_mask and src_mask"):
        check(lambda ns: enc_layer(ns), [seq(S, False)], kw)
    kw = {"mask": random_bool_mask(S, S), "src_key_padding_mask": float_padding(S)}
    with pytest.warns(UserWarning, match="mismatched src_key_padding_mask and mask"):
        check(lambda ns: ns.TransformerEncoder(enc_layer(ns), 2), [seq(S, False)], kw)
    kw = {"tgt_mask": causal(T), "tgt_key_padding_mask": padding(T)}
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        check(lambda ns: dec_layer(ns), [seq(T, False), seq(S, False, seed=1)], kw)


# --------------------------------------------------------------------------- stacks

@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("batch_first,norm_first", [(False, False), (True, False), (True, True)])
def test_encoder_matches_torch(batch_first: bool, norm_first: bool, train: bool) -> None:
    def make(ns: Any) -> Any:
        layer = enc_layer(ns, act="gelu", batch_first=batch_first, norm_first=norm_first)
        return ns.TransformerEncoder(layer, 2, norm=ns.LayerNorm(D))

    x = [seq(S, batch_first)]
    check(make, x, {"src_key_padding_mask": padding(S)}, train=train)  # torch: nested path
    check(make, x, {"mask": causal(S), "src_key_padding_mask": float_padding(S)}, train=train)
    check(make, x, {"mask": causal_bool(S)}, train=train)  # detected as causal
    check(make, [seq(S, batch_first, False)], {"mask": causal(S)}, train=train)


def test_encoder_nested_tensor_path_zeroes_padded_positions_like_torch() -> None:
    def make(ns: Any) -> Any:
        return ns.TransformerEncoder(enc_layer(ns, batch_first=True), 2, norm=ns.LayerNorm(D))

    x = seq(S, True)
    pad = padding(S)
    tm, cm = make(torch.nn).double().eval(), make(nn).double().eval()
    cm.load_state_dict(tm.state_dict())
    with torch.no_grad():
        tout = tm(torch.tensor(x), src_key_padding_mask=torch.tensor(pad))
    with cr.no_grad():
        cout = cm(cr.tensor(x), src_key_padding_mask=cr.tensor(pad))
    close(cout, tout, 1e-9, "nested path")
    # the padded positions hold norm(0) = the norm's bias, not what attention gave them
    np.testing.assert_allclose(cout.data[pad], np.broadcast_to(cm.norm.bias.data, (3, D)))
    with_grad = cm(cr.tensor(x), src_key_padding_mask=cr.tensor(pad))
    assert not np.allclose(with_grad.data[pad], cout.data[pad])
    np.testing.assert_allclose(with_grad.data[~pad], cout.data[~pad], rtol=1e-12)


def _eval_no_grad_pair(make: Callable[[Any], Any], pad: np.ndarray) -> tuple[Any, Any]:
    """(chainrule's, torch's) output of ``make``'s module in eval mode without gradients (where
    torch takes its nested-tensor path) for a batch_first input and key padding mask ``pad``."""
    tm, cm = make(torch.nn).double().eval(), make(nn).double().eval()
    cm.load_state_dict(tm.state_dict())
    x = seq(S, True)
    with torch.no_grad():
        tout = tm(torch.tensor(x), src_key_padding_mask=torch.tensor(pad))
    with cr.no_grad():
        cout = cm(cr.tensor(x), src_key_padding_mask=cr.tensor(pad))
    return cout, tout


def test_nested_tensor_path_drops_padded_positions_of_a_float_mask() -> None:
    # torch's nested tensor keeps the positions where a float mask is 0 and drops the others:
    # their other values are not added to the attention scores, as without the nested path
    pad = np.zeros((N, S))
    pad[0, 3:] = 0.7
    pad[2, 4] = -2.5
    cout, tout = _eval_no_grad_pair(
        lambda ns: ns.TransformerEncoder(enc_layer(ns, batch_first=True), 2), pad)
    close(cout, tout, 1e-9, "nested path, float key padding mask")
    assert np.all(cout.data[pad != 0] == 0)


def test_nested_tensor_path_without_mask_check_keeps_each_rows_first_positions() -> None:
    # with mask_check=False torch doesn't check that the mask is left-aligned: a row that
    # keeps k positions keeps its first k, wherever the mask's are
    pad = padding(S)
    pad[1, 1] = True  # keeps 4 positions, not the first 4
    for mask_check in (False, True):
        cout, tout = _eval_no_grad_pair(
            lambda ns, mc=mask_check: ns.TransformerEncoder(enc_layer(ns, batch_first=True),
                                                            2, mask_check=mc), pad)
        close(cout, tout, 1e-9, f"nested path, mask_check={mask_check}")
    # (without the check the row's last position is zeroed, not the padded second one)
    assert np.all(cout.data[1, 4] != 0) and np.all(cout.data[1, 1] != 0)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("batch_first,norm_first,act", [(False, False, "relu"),
                                                        (True, True, "silu")])
def test_decoder_matches_torch(batch_first: bool, norm_first: bool, act: str,
                               train: bool) -> None:
    def make(ns: Any) -> Any:
        layer = dec_layer(ns, act=act, batch_first=batch_first, norm_first=norm_first)
        return ns.TransformerDecoder(layer, 2, norm=ns.LayerNorm(D))

    xs = [seq(T, batch_first), seq(S, batch_first, seed=1)]
    check(make, xs, {"tgt_mask": causal_bool(T), "tgt_key_padding_mask": padding(T),
                     "memory_key_padding_mask": padding(S)}, train=train)
    check(make, xs, {"tgt_mask": causal(T), "memory_mask": x_(T, S, seed=8),
                     "tgt_is_causal": True}, train=train)
    check(make, xs, {"memory_mask": x_(T, S, seed=6)}, train=train)
    check(make, [seq(T, batch_first, False), seq(S, batch_first, False, seed=1)],
          {"tgt_mask": causal(T), "memory_key_padding_mask": padding(S, False)}, train=train)


def test_decoder_layer_memory_is_causal_and_float32() -> None:
    xs = [seq(T, True), seq(S, True, seed=1)]
    memory_causal = np.triu(np.ones((T, S), dtype=bool), 1)  # top-left, as torch's kernel
    check(lambda ns: dec_layer(ns, batch_first=True), xs,
          {"memory_mask": memory_causal, "memory_is_causal": True})
    check(lambda ns: dec_layer(ns, act="gelu", norm_first=True), [seq(T, False), seq(S, False)],
          {"tgt_mask": causal(T), "tgt_is_causal": True, "memory_key_padding_mask": padding(S)},
          dtype=np.float32)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("batch_first,norm_first,dtype", [(False, False, np.float64),
                                                          (True, True, np.float64),
                                                          (True, False, np.float32)])
def test_transformer_matches_torch(batch_first: bool, norm_first: bool, dtype: Any,
                                   train: bool) -> None:
    def make(ns: Any) -> Any:
        return ns.Transformer(D, H, 2, 1, FF, 0.0, "gelu", batch_first=batch_first,
                              norm_first=norm_first)

    xs = [seq(S, batch_first), seq(T, batch_first, seed=1)]
    check(make, xs, {"tgt_mask": causal_bool(T), "src_key_padding_mask": padding(S),
                     "memory_key_padding_mask": padding(S), "tgt_key_padding_mask": padding(T)},
          dtype=dtype, train=train)
    check(make, xs, {"src_mask": random_bool_mask(S, S), "memory_mask": random_bool_mask(T, S),
                     "tgt_mask": causal(T), "tgt_is_causal": True}, dtype=dtype, train=train)
    check(make, [seq(S, batch_first, False), seq(T, batch_first, False, seed=1)],
          {"tgt_mask": causal(T)}, dtype=dtype, train=train)


def test_transformer_custom_encoder_and_decoder() -> None:
    def make(ns: Any) -> Any:
        enc = ns.TransformerEncoder(enc_layer(ns), 1)
        dec = ns.TransformerDecoder(dec_layer(ns), 1)
        return ns.Transformer(D, H, custom_encoder=enc, custom_decoder=dec)

    check(make, [seq(S, False), seq(T, False, seed=1)], {"tgt_mask": causal(T)})


# --------------------------------------------------------------------------- structure

@pytest.mark.parametrize("make", [
    lambda ns: enc_layer(ns),
    lambda ns: enc_layer(ns, bias=False),
    lambda ns: dec_layer(ns),
    lambda ns: ns.TransformerEncoder(enc_layer(ns), 2, norm=ns.LayerNorm(D)),
    lambda ns: ns.TransformerDecoder(dec_layer(ns), 2, norm=ns.LayerNorm(D)),
    lambda ns: ns.Transformer(D, H, 2, 2, FF),
    lambda ns: ns.Transformer(D, H, 1, 1, FF, bias=False),
], ids=["enc_layer", "enc_layer-no_bias", "dec_layer", "encoder", "decoder", "transformer",
        "transformer-no_bias"])
def test_state_dict_keys_shapes_and_order_match_torch(make: Callable) -> None:
    tsd, csd = make(torch.nn).state_dict(), make(nn).state_dict()
    assert list(csd) == list(tsd)
    assert [tuple(v.shape) for v in csd.values()] == [tuple(v.shape) for v in tsd.values()]
    assert all(v.dtype == np.float32 for v in csd.values())


@pytest.mark.parametrize("name", ["TransformerEncoderLayer", "TransformerDecoderLayer",
                                  "TransformerEncoder", "TransformerDecoder", "Transformer"])
def test_signatures_match_torch(name: str) -> None:
    def params(fn: Any) -> list[tuple[str, Any]]:
        out = []
        for p in inspect.signature(fn).parameters.values():
            default = p.default
            if callable(default):  # the default activation: relu, each library's own
                default = default.__name__
            out.append((p.name, default))
        return out

    for method in ("__init__", "forward"):
        ours, theirs = getattr(getattr(nn, name), method), getattr(getattr(torch.nn, name), method)
        assert params(ours) == params(theirs), f"{name}.{method}"


def test_full_transformer_keys_and_defaults() -> None:
    keys = list(nn.Transformer(D, H, 1, 1, FF).state_dict())
    assert keys[:2] == ["encoder.layers.0.self_attn.in_proj_weight",
                        "encoder.layers.0.self_attn.in_proj_bias"]
    assert "encoder.norm.weight" in keys and "decoder.norm.bias" in keys
    assert "decoder.layers.0.multihead_attn.out_proj.weight" in keys
    assert "decoder.layers.0.norm3.weight" in keys
    model = nn.Transformer()
    assert len(model.encoder.layers) == len(model.decoder.layers) == 6
    assert (model.d_model, model.nhead, model.batch_first) == (512, 8, False)
    layer = model.encoder.layers[0]
    assert layer.linear1.out_features == 2048 and layer.dropout.p == 0.1
    assert layer.norm1.eps == 1e-5 and layer.activation is nn.functional.relu


def test_generate_square_subsequent_mask_matches_torch() -> None:
    for sz, dtype in ((1, None), (4, None), (5, cr.float64)):
        ours = nn.Transformer.generate_square_subsequent_mask(sz, dtype=dtype)
        theirs = torch.nn.Transformer.generate_square_subsequent_mask(
            sz, dtype=None if dtype is None else torch.float64)
        assert ours.dtype == (np.float32 if dtype is None else np.float64)
        np.testing.assert_array_equal(ours.data, theirs.numpy())


def test_layers_are_independent_deep_copies() -> None:
    layer = nn.TransformerEncoderLayer(D, H, FF, activation=nn.functional.silu)
    enc = nn.TransformerEncoder(layer, 3)
    a, b = enc.layers[0], enc.layers[1]
    assert a is not b and a is not layer
    for (name, p), q, r in zip(a.named_parameters(), b.parameters(), layer.parameters()):
        assert p is not q and p is not r
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
        np.testing.assert_array_equal(p.data, r.data, err_msg=name)
    assert a.activation is nn.functional.silu
    a.linear1.weight.data[...] = 0.0
    assert np.abs(b.linear1.weight.data).sum() > 0 and np.abs(layer.linear1.weight.data).sum() > 0
    # gradients reach the copies, not the prototype
    enc(cr.randn(S, N, D)).sum().backward()
    assert b.linear2.weight.grad is not None and layer.linear2.weight.grad is None
    copied = copy.deepcopy(enc).layers[2].self_attn.in_proj_weight
    assert copied is not enc.layers[2].self_attn.in_proj_weight
    np.testing.assert_array_equal(copied.data, enc.layers[2].self_attn.in_proj_weight.data)


def test_initialisation() -> None:
    cr.manual_seed(0)
    layer = nn.TransformerEncoderLayer(D, H, FF)
    bound = 1 / np.sqrt(D)  # Linear's default init
    assert np.abs(layer.linear1.weight.data).max() <= bound
    assert np.all(layer.self_attn.in_proj_bias.data == 0)  # MultiheadAttention's own
    assert np.all(layer.norm1.weight.data == 1) and np.all(layer.norm2.bias.data == 0)
    model = nn.Transformer(D, H, 2, 2, FF)
    for name, p in model.named_parameters():
        if p.ndim > 1:  # xavier_uniform_ everywhere, and each layer drawn afresh
            fan_out, fan_in = p.shape
            assert np.abs(p.data).max() <= np.sqrt(6 / (fan_in + fan_out)), name
    w0 = model.encoder.layers[0].linear1.weight.data
    w1 = model.encoder.layers[1].linear1.weight.data
    assert not np.allclose(w0, w1)
    assert np.all(model.encoder.norm.weight.data == 1)
    bound_ff = 1 / np.sqrt(D)  # biases keep Linear's default init
    b = model.encoder.layers[0].linear1.bias.data
    assert np.abs(b).max() <= bound_ff and np.abs(b).max() > 0
    assert nn.TransformerEncoderLayer(D, H, FF, dtype=cr.float64).linear1.weight.dtype == np.float64


# --------------------------------------------------------------------------- training

def test_a_few_adam_steps_match_torch() -> None:
    class CrModel(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layer = nn.TransformerEncoderLayer(D, H, FF, 0.0, "gelu", batch_first=True)
            self.encoder = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(D))
            self.head = nn.Linear(D, 1)

        def forward(self, x: Any, pad: Any) -> Any:
            return self.head(self.encoder(x, src_key_padding_mask=pad))

    class TorchModel(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            layer = torch.nn.TransformerEncoderLayer(D, H, FF, 0.0, "gelu", batch_first=True)
            self.encoder = torch.nn.TransformerEncoder(layer, 2, norm=torch.nn.LayerNorm(D))
            self.head = torch.nn.Linear(D, 1)

        def forward(self, x: Any, pad: Any) -> Any:
            return self.head(self.encoder(x, src_key_padding_mask=pad))

    torch.manual_seed(0)
    tm = TorchModel().double()
    cm = CrModel().double()
    cm.load_state_dict(tm.state_dict())
    x, y, pad = seq(S, True), x_(N, S, 1, seed=9), padding(S)
    topt = torch.optim.Adam(tm.parameters(), lr=1e-2)
    copt = cr.optim.Adam(cm.parameters(), lr=1e-2)
    tlosses, closses = [], []
    for _ in range(6):
        topt.zero_grad()
        tloss = torch.nn.functional.mse_loss(tm(torch.tensor(x), torch.tensor(pad)),
                                             torch.tensor(y))
        tloss.backward()
        topt.step()
        copt.zero_grad()
        closs = nn.functional.mse_loss(cm(cr.tensor(x), cr.tensor(pad)), cr.tensor(y))
        closs.backward()
        copt.step()
        tlosses.append(tloss.item())
        closses.append(closs.item())
    np.testing.assert_allclose(closses, tlosses, rtol=1e-8)
    assert closses[-1] < closses[0]  # it learns
    for key, v in tm.state_dict().items():
        close(cm.state_dict()[key], v, 1e-8, key)


# --------------------------------------------------------------------------- errors

def test_bad_construction() -> None:
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: d_model \(10\) must be "
                                         r"divisible by nhead \(3\)"):
        nn.TransformerEncoderLayer(10, 3)
    with pytest.raises(ValueError, match=r"TransformerDecoderLayer: d_model \(10\) must be "
                                         r"divisible by nhead \(4\)"):
        nn.TransformerDecoderLayer(10, 4)
    with pytest.raises(ValueError, match=r"Transformer.*divisible"):
        nn.Transformer(10, 3)
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: activation should be "
                                         r"'relu' or 'gelu' \(or a callable\), not 'tanh'"):
        nn.TransformerEncoderLayer(D, H, activation="tanh")
    with pytest.raises(ValueError, match=r"TransformerDecoderLayer: activation.*not 'swish'"):
        nn.TransformerDecoderLayer(D, H, activation="swish")
    with pytest.raises(TypeError, match="activation should be .* or a callable, got int"):
        nn.TransformerEncoderLayer(D, H, activation=3)  # type: ignore[arg-type]


def test_bad_inputs() -> None:
    layer = nn.TransformerEncoderLayer(D, H, FF)
    x = cr.randn(S, N, D)
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: src should be unbatched "
                                         r"\(L, E\) or batched \(L, N, E\).*got shape "
                                         r"\(2, 5, 3, 8\)"):
        layer(cr.randn(2, S, N, D))
    with pytest.raises(ValueError, match=r"TransformerEncoder: src should be .*\(N, L, E\) "
                                         r"\(batch_first=True\), got shape \(8,\)"):
        nn.TransformerEncoder(nn.TransformerEncoderLayer(D, H, FF, batch_first=True), 1)(
            cr.randn(D))
    with pytest.raises(ValueError, match=r"last dim of src \(5, 3, 6\) should be d_model=8"):
        layer(cr.randn(S, N, 6))
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: src_key_padding_mask should "
                                         r"have shape \(N, S\) = \(3, 5\), got \(2, 5\)"):
        layer(x, src_key_padding_mask=cr.zeros(2, S, dtype=cr.bool_))
    with pytest.raises(ValueError, match=r"src_key_padding_mask should have shape \(S,\) = "
                                         r"\(5,\), got \(3, 5\)"):
        layer(cr.randn(S, D), src_key_padding_mask=cr.zeros(N, S, dtype=cr.bool_))
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: src_mask should have shape "
                                         r"\(L, S\) = \(5, 5\) or \(N·nhead, L, S\) = "
                                         r"\(6, 5, 5\), got \(4, 4\)"):
        layer(x, src_mask=cr.zeros(4, 4))
    with pytest.raises(TypeError, match=r"src_mask must be bool .* or floating .*, got int64"):
        layer(x, src_mask=cr.zeros(S, S, dtype=cr.int64))
    with pytest.raises(ValueError, match=r"TransformerEncoderLayer: is_causal=True is a hint "
                                         r"that src_mask is the causal mask"):
        layer(x, is_causal=True)
    dec = nn.TransformerDecoderLayer(D, H, FF)
    with pytest.raises(ValueError, match=r"TransformerDecoderLayer: tgt \(4, 3, 8\) and memory "
                                         r"\(5, 2, 8\) have different batch sizes 3 and 2"):
        dec(cr.randn(T, N, D), cr.randn(S, 2, D))
    with pytest.raises(ValueError, match=r"memory_mask should have shape \(L, S\) = \(4, 5\)"):
        dec(cr.randn(T, N, D), cr.randn(S, N, D), memory_mask=cr.zeros(T, T))
    with pytest.raises(ValueError, match=r"memory_key_padding_mask should have shape \(N, S\) "
                                         r"= \(3, 5\), got \(3, 4\)"):
        dec(cr.randn(T, N, D), cr.randn(S, N, D),
            memory_key_padding_mask=cr.zeros(N, T, dtype=cr.bool_))
    model = nn.Transformer(D, H, 1, 1, FF)
    with pytest.raises(ValueError, match=r"Transformer: the batch sizes of src \(5, 3, 8\) and "
                                         r"tgt \(4, 2, 8\) must be equal"):
        model(cr.randn(S, N, D), cr.randn(T, 2, D))
    with pytest.raises(ValueError, match=r"Transformer: the last dim of tgt \(4, 3, 7\)"):
        model(cr.randn(S, N, D), cr.randn(T, N, 7))
    for src, tgt in (((S, D), (T, N, D)), ((S, N, D), (T, D))):
        with pytest.raises(ValueError, match=rf"Transformer: src \({src[0]}, .*\) and tgt "
                                             rf"\({tgt[0]}, .*\) must both be batched \(3-D\) "
                                             rf"or both unbatched \(2-D\)"):
            model(cr.randn(*src), cr.randn(*tgt))
    with pytest.raises(ValueError, match=r"TransformerEncoder: has no layers \(num_layers=0\)"):
        nn.TransformerEncoder(layer, 0)(x)
    with pytest.raises(ValueError, match=r"TransformerDecoder: has no layers \(num_layers=0\)"):
        nn.TransformerDecoder(dec, 0)(cr.randn(T, N, D), x)


def test_masks_may_be_lists_or_arrays() -> None:
    enc = nn.TransformerEncoderLayer(D, H, FF).eval()
    dec = nn.TransformerDecoderLayer(D, H, FF).eval()
    x, mem = cr.randn(T, N, D), cr.randn(S, N, D)
    want = dec(x, mem, tgt_mask=cr.tensor(causal(T)),
               memory_key_padding_mask=cr.tensor(padding(S)))
    got = dec(x, mem, tgt_mask=causal(T).tolist(), memory_key_padding_mask=padding(S))
    np.testing.assert_array_equal(got.data, want.data)
    want = enc(x, src_mask=cr.tensor(causal(T)))
    np.testing.assert_array_equal(enc(x, src_mask=causal(T).tolist()).data, want.data)


def test_no_warnings_in_ordinary_use() -> None:
    model = nn.Transformer(D, H, 1, 1, FF)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model(cr.randn(S, N, D), cr.randn(T, N, D),
              tgt_mask=nn.Transformer.generate_square_subsequent_mask(T),
              src_key_padding_mask=cr.tensor(padding(S)))
