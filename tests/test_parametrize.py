"""cr.nn.utils.parametrize and cr.nn.utils.parametrizations against torch: outputs and
gradients (input, bias and the originals) of parametrized Linear/Conv layers, registration
values, state dicts both ways, assignment through right_inverse, remove_parametrizations,
cached(), training that keeps orthogonal weights orthogonal, errors, and central differences."""

from __future__ import annotations

import copy
import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from torch_parity_helpers import TOL, TORCH_DTYPE, close

import chainrule as cr
from chainrule import nn
from chainrule.nn.utils import parametrizations as P
from chainrule.nn.utils import parametrize as PZ

torch = pytest.importorskip("torch")
tnn = torch.nn
TP = torch.nn.utils.parametrizations
TPZ = torch.nn.utils.parametrize

LAYERS: dict[str, tuple[Callable[[], Any], Callable[[], Any], tuple[int, ...]]] = {
    "Linear": (lambda: nn.Linear(4, 4), lambda: tnn.Linear(4, 4), (5, 4)),
    "Linear_tall": (lambda: nn.Linear(3, 5), lambda: tnn.Linear(3, 5), (2, 3)),
    "Linear_wide": (lambda: nn.Linear(5, 3), lambda: tnn.Linear(5, 3), (2, 5)),
    "Conv2d": (lambda: nn.Conv2d(2, 3, 3), lambda: tnn.Conv2d(2, 3, 3), (2, 2, 5, 5)),
    "ConvTranspose2d": (lambda: nn.ConvTranspose2d(3, 2, 2), lambda: tnn.ConvTranspose2d(3, 2, 2),
                        (2, 3, 4, 4)),
}


# ------------------------------------------------------------------ user-defined parametrizations
# Written once for both libraries (their tensor APIs agree on what these use).

def user_parametrization(kind: str, lib: Any) -> Any:
    base = lib.nn.Module

    class Symmetric(base):  # the last two dims made symmetric from their upper triangle
        def forward(self, x: Any) -> Any:
            return x.triu() + x.triu(1).mT

        def right_inverse(self, w: Any) -> Any:
            return w.triu()

    class Scale(base):
        def forward(self, x: Any) -> Any:
            return x * 2.0

        def right_inverse(self, w: Any) -> Any:
            return w / 2.0

    class SumOfTwo(base):  # right_inverse returns two tensors: original0, original1
        def forward(self, a: Any, b: Any) -> Any:
            return a + b * b

        def right_inverse(self, w: Any) -> Any:
            return w - 0.25, w * 0 + 0.5

    class NoInverse(base):
        def forward(self, x: Any) -> Any:
            return x * 3.0

    return {"symmetric": Symmetric, "scale": Scale, "sum_of_two": SumOfTwo,
            "no_inverse": NoInverse}[kind]()


def register_user(module: Any, kinds: list[str], lib: Any) -> Any:
    reg = (TPZ if lib is torch else PZ).register_parametrization
    for kind in kinds:
        reg(module, "weight", user_parametrization(kind, lib))
    return module


# ------------------------------------------------------------------ helpers

def plain_pair(layer: str, dtype: Any, seed: int = 0) -> tuple[Any, Any, tuple]:
    make_cr, make_torch, shape = LAYERS[layer]
    torch.manual_seed(seed)
    tm = make_torch().to(TORCH_DTYPE[dtype])
    cm = make_cr().to(dtype)
    cm.load_state_dict(tm.state_dict())
    return cm, tm, shape


def compare_state(cm: Any, tm: Any, rtol: float, what: str) -> None:
    cs, ts = cm.state_dict(), tm.state_dict()
    assert list(cs) == list(ts), f"{what}: keys {list(cs)} vs torch {list(ts)}"
    for k in ts:
        close(cs[k], ts[k], rtol, f"{what}: state_dict[{k!r}]")


def compare_step(cm: Any, tm: Any, x: np.ndarray, rtol: float, what: str, seed: int = 0) -> None:
    """One forward and backward: the output, the input gradient and every parameter's gradient
    (the originals included); gradients are reset afterwards."""
    tx = torch.tensor(x, requires_grad=True)
    cx = cr.tensor(x, requires_grad=True)
    tout, cout = tm(tx), cm(cx)
    close(cout, tout, rtol, f"{what}: output")
    g = np.random.default_rng(seed).normal(size=tuple(tout.shape)).astype(x.dtype)
    tout.backward(torch.tensor(g))
    cout.backward(cr.tensor(g))
    close(cx.grad, tx.grad, rtol, f"{what}: input gradient")
    cparams = dict(cm.named_parameters())
    assert sorted(cparams) == sorted(n for n, _ in tm.named_parameters()), what
    for name, tp in tm.named_parameters():
        cp = cparams[name]
        assert cp.grad is not None, f"{what}: no gradient for {name}"
        close(cp.grad, tp.grad, rtol, f"{what}: {name} gradient")
        tp.grad, cp.grad = None, None


def perturb_originals(cm: Any, tm: Any, scale: float = 0.3, seed: int = 1) -> None:
    """Move every original away from its registration value (the same way in both), so the
    maps are compared away from special points such as the identity. The diagonal of a
    matrix stays: orthogonal's householder map reads its signs there (truncated to integers,
    so noise would zero columns, in torch as here; training never changes it)."""
    rng = np.random.default_rng(seed)
    sd = tm.state_dict()
    for k, v in sd.items():
        if ".original" in k:
            noise = scale * rng.normal(size=tuple(v.shape))
            if noise.ndim >= 2:
                idx = np.arange(min(noise.shape[-2:]))
                noise[..., idx, idx] = 0.0
            sd[k] = v + torch.tensor(noise).to(v.dtype)
    tm.load_state_dict(sd)
    cm.load_state_dict(sd)


def input_for(shape: tuple[int, ...], dtype: Any, seed: int = 2) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape).astype(dtype)


# ------------------------------------------------------------------ register_parametrization

def test_structure_class_swap_and_state_dict_keys() -> None:
    cm, tm, _ = plain_pair("Linear", np.float64)
    weight = cm.weight
    register_user(cm, ["symmetric"], cr)
    register_user(tm, ["symmetric"], torch)
    assert type(cm).__name__ == type(tm).__name__ == "ParametrizedLinear"
    assert isinstance(cm, nn.Linear) and type(cm) is not nn.Linear
    assert type(nn.Linear(2, 2)) is nn.Linear  # other instances keep their class
    assert PZ.type_before_parametrizations(cm) is nn.Linear
    assert PZ.type_before_parametrizations(nn.Linear(2, 2)) is nn.Linear
    assert PZ.is_parametrized(cm) and PZ.is_parametrized(cm, "weight")
    assert not PZ.is_parametrized(cm, "bias") and not PZ.is_parametrized(nn.Linear(2, 2))
    chain = cm.parametrizations.weight
    assert isinstance(chain, PZ.ParametrizationList) and isinstance(chain, nn.ModuleList)
    assert isinstance(cm.parametrizations, nn.ModuleDict)
    assert chain.original is weight  # the same object: an optimizer built before keeps it
    assert "weight" not in cm._parameters
    assert list(cm.state_dict()) == list(tm.state_dict()) == \
        ["bias", "parametrizations.weight.original"]
    assert [n for n, _ in cm.named_parameters()] == [n for n, _ in tm.named_parameters()]
    assert "ParametrizedLinear(" in repr(cm) and "(parametrizations): ModuleDict(" in repr(cm)
    assert "(weight): ParametrizationList(" in repr(cm)
    compare_state(cm, tm, TOL[np.float64], "symmetric")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layer", ["Linear", "Conv2d"])
@pytest.mark.parametrize("kinds", [["symmetric"], ["scale"], ["symmetric", "scale"],
                                   ["sum_of_two"], ["sum_of_two", "symmetric"]])
def test_user_parametrizations_match_torch(kinds: list[str], layer: str, dtype: Any) -> None:
    rtol = TOL[dtype]
    cm, tm, shape = plain_pair(layer, dtype)
    register_user(cm, kinds, cr)
    register_user(tm, kinds, torch)
    what = f"{kinds} on {layer}"
    compare_state(cm, tm, rtol, what + " after registration")
    close(cm.weight, tm.weight, rtol, what + ": weight")
    x = input_for(shape, dtype)
    compare_step(cm, tm, x, rtol, what)
    perturb_originals(cm, tm)
    compare_step(cm, tm, x, rtol, what + " (perturbed)")
    if kinds[0] == "sum_of_two":
        assert [k for k in cm.state_dict() if "original" in k] == \
            ["parametrizations.weight.original0", "parametrizations.weight.original1"]


def test_chained_parametrizations_apply_in_order() -> None:
    cm = register_user(nn.Linear(3, 3).double(), ["symmetric", "scale"], cr)
    orig = cm.parametrizations.weight.original
    expected = 2.0 * (orig.data.copy() + np.triu(orig.data, 1).T)
    np.testing.assert_allclose(cm.weight.data, expected, rtol=1e-14)
    assert len(cm.parametrizations.weight) == 2


def test_unsafe_allows_changing_the_shape_as_torch() -> None:
    def first_row(lib: Any) -> Any:
        class FirstRow(lib.nn.Module):
            def forward(self, x: Any) -> Any:
                return x[:1]
        return FirstRow()

    cm, tm, _ = plain_pair("Linear", np.float64)
    PZ.register_parametrization(cm, "weight", first_row(cr), unsafe=True)
    TPZ.register_parametrization(tm, "weight", first_row(torch), unsafe=True)
    assert cm.weight.shape == tuple(tm.weight.shape) == (1, 4)
    assert cm.parametrizations.weight.unsafe
    close(cm.weight, tm.weight, TOL[np.float64], "unsafe first row")


def test_parametrizing_a_buffer() -> None:
    def with_buffer(lib: Any) -> Any:
        class Shift(lib.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.register_buffer("offset", lib.tensor([[1.0, -2.0], [0.5, 3.0]],
                                                          dtype=lib.float64))

            def forward(self, x: Any) -> Any:
                return x + self.offset
        return Shift()

    cm, tm = with_buffer(cr), with_buffer(torch)
    register = [(cm, PZ, cr), (tm, TPZ, torch)]
    for m, reg, lib in register:
        reg.register_parametrization(m, "offset", user_parametrization("symmetric", lib))
    assert list(cm.state_dict()) == list(tm.state_dict()) == \
        ["parametrizations.offset.original"]
    assert list(cm.parameters()) == [] and list(tm.parameters()) == []
    assert type(cm.parametrizations.offset.original) is cr.Tensor
    x = input_for((3, 2, 2), np.float64)
    close(cm(cr.tensor(x)), tm(torch.tensor(x)), 1e-12, "parametrized buffer")
    for m, reg, _ in register:
        reg.remove_parametrizations(m, "offset")
    assert list(cm.state_dict()) == list(tm.state_dict()) == ["offset"]
    assert "offset" in cm._buffers
    close(cm.offset, tm.offset, 1e-12, "buffer after removal")


# ------------------------------------------------------------------ orthogonal

ORTHOGONAL_CASES = [(layer, mp, triv)
                    for layer in ("Linear", "Linear_tall", "Linear_wide", "Conv2d")
                    for mp in (None, "matrix_exp", "cayley", "householder")
                    for triv in (True, False)]


def orthonormality_error(w: np.ndarray) -> float:
    """max |QᵀQ - I| over the last two dims (the shorter side's Gram matrix)."""
    if w.shape[-2] < w.shape[-1]:
        w = np.swapaxes(w, -2, -1)
    gram = np.swapaxes(w, -2, -1) @ w
    return float(np.abs(gram - np.eye(w.shape[-1])).max())


@pytest.mark.parametrize("layer,orthogonal_map,use_trivialization", ORTHOGONAL_CASES)
def test_orthogonal_matches_torch(layer: str, orthogonal_map: Any,
                                  use_trivialization: bool) -> None:
    dtype = np.float64
    rtol = TOL[dtype]
    cm, tm, shape = plain_pair(layer, dtype)
    TP.orthogonal(tm, orthogonal_map=orthogonal_map, use_trivialization=use_trivialization)
    P.orthogonal(cm, orthogonal_map=orthogonal_map, use_trivialization=use_trivialization)
    what = f"orthogonal({orthogonal_map}, trivialization={use_trivialization}) on {layer}"
    assert type(cm.parametrizations.weight[0].orthogonal_map) is str
    square = cm.weight.shape[-1] == cm.weight.shape[-2]
    if square or not use_trivialization:
        # no random completion of the basis: the registration itself must agree
        compare_state(cm, tm, 1e-9, what + " after registration")
    else:
        assert list(cm.state_dict()) == list(tm.state_dict())
        cm.load_state_dict(tm.state_dict())  # torch's random completion of the basis
    assert orthonormality_error(cm.weight.data) < 1e-12, what
    x = input_for(shape, dtype)
    compare_step(cm, tm, x, rtol, what)
    perturb_originals(cm, tm)
    compare_step(cm, tm, x, rtol, what + " (perturbed)")
    assert orthonormality_error(cm.weight.data) < 1e-12, what


@pytest.mark.parametrize("layer", ["Linear", "Linear_wide"])
@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_float32_matches_torch(layer: str, orthogonal_map: str) -> None:
    dtype = np.float32
    cm, tm, shape = plain_pair(layer, dtype)
    TP.orthogonal(tm, orthogonal_map=orthogonal_map)
    P.orthogonal(cm, orthogonal_map=orthogonal_map)
    cm.load_state_dict(tm.state_dict())
    perturb_originals(cm, tm)
    compare_step(cm, tm, input_for(shape, dtype), TOL[dtype], f"float32 {orthogonal_map}")
    assert cm.weight.dtype == np.float32


def test_orthogonal_default_map_follows_torch() -> None:
    for size in [(4, 4), (3, 5), (5, 3)]:
        cm, tm = nn.Linear(*size), tnn.Linear(*size)
        P.orthogonal(cm)
        TP.orthogonal(tm)
        assert cm.parametrizations.weight[0].orthogonal_map == \
            tm.parametrizations.weight[0].orthogonal_map.name


def test_orthogonal_large_rotation_matches_torch() -> None:
    """A skew-symmetric matrix of large norm (many squarings in the matrix exponential)."""
    cm, tm, shape = plain_pair("Linear", np.float64)
    TP.orthogonal(tm, orthogonal_map="matrix_exp")
    P.orthogonal(cm, orthogonal_map="matrix_exp")
    perturb_originals(cm, tm, scale=4.0)
    compare_step(cm, tm, input_for(shape, np.float64), 1e-9, "large rotation")
    assert orthonormality_error(cm.weight.data) < 1e-12


@pytest.mark.parametrize("layer", ["Linear", "Linear_tall", "Linear_wide"])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_training_keeps_orthogonal_weights_orthogonal(layer: str, optimizer: str) -> None:
    dtype = np.float64
    cm, tm, shape = plain_pair(layer, dtype)
    TP.orthogonal(tm)
    P.orthogonal(cm)
    cm.load_state_dict(tm.state_dict())
    kwargs = {"lr": 0.1, "momentum": 0.9} if optimizer == "SGD" else {"lr": 0.05}
    copt = getattr(cr.optim, optimizer)(cm.parameters(), **kwargs)
    topt = getattr(torch.optim, optimizer)(tm.parameters(), **kwargs)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, shape[1]))
    target = rng.normal(size=(16, cm.weight.shape[0]))
    for step in range(15):
        closs = ((cm(cr.tensor(x)) - cr.tensor(target)) ** 2).mean()
        tloss = ((tm(torch.tensor(x)) - torch.tensor(target)) ** 2).mean()
        close(closs, tloss, 1e-9, f"{optimizer} step {step}: loss")
        copt.zero_grad()
        topt.zero_grad()
        closs.backward()
        tloss.backward()
        copt.step()
        topt.step()
        assert orthonormality_error(cm.weight.data) < 1e-12, f"step {step}"
    close(cm.weight, tm.weight, 1e-8, f"{optimizer}: weight after training")


# ------------------------------------------------------------------ weight_norm

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layer,dim", [("Linear", 0), ("Linear", 1), ("Linear", None),
                                       ("Linear", -2), ("Linear_wide", 0),
                                       ("Conv2d", 0), ("Conv2d", 2), ("Conv2d", None),
                                       ("Conv2d", -3)])
def test_weight_norm_matches_torch(layer: str, dim: Any, dtype: Any) -> None:
    rtol = TOL[dtype]
    cm, tm, shape = plain_pair(layer, dtype)
    TP.weight_norm(tm, dim=dim)
    P.weight_norm(cm, dim=dim)
    what = f"weight_norm(dim={dim}) on {layer}"
    compare_state(cm, tm, rtol, what + " after registration")
    assert list(cm.state_dict())[-2:] == ["parametrizations.weight.original0",
                                          "parametrizations.weight.original1"]
    close(cm.weight, tm.weight, rtol, what + ": weight")
    x = input_for(shape, dtype)
    compare_step(cm, tm, x, rtol, what)
    perturb_originals(cm, tm)
    compare_step(cm, tm, x, rtol, what + " (perturbed)")


def test_weight_norm_shares_the_direction_with_the_old_weight() -> None:
    m = nn.Linear(3, 2)
    old = m.weight
    P.weight_norm(m)
    v = m.parametrizations.weight.original1
    assert isinstance(v, nn.Parameter) and np.shares_memory(v.data, old.data)
    np.testing.assert_allclose(m.parametrizations.weight.original0.data,
                               np.linalg.norm(old.data, axis=1, keepdims=True), rtol=1e-6)


# ------------------------------------------------------------------ spectral_norm

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("layer,dim,n_iter", [("Linear", None, 1), ("Linear_wide", None, 2),
                                              ("Conv2d", None, 1), ("Conv2d", 1, 1),
                                              ("ConvTranspose2d", None, 1)])
def test_spectral_norm_matches_torch(layer: str, dim: Any, n_iter: int, dtype: Any) -> None:
    rtol = TOL[dtype]
    cm, tm, shape = plain_pair(layer, dtype)
    TP.spectral_norm(tm, n_power_iterations=n_iter, dim=dim)
    P.spectral_norm(cm, n_power_iterations=n_iter, dim=dim)
    what = f"spectral_norm(dim={dim}, n={n_iter}) on {layer}"
    assert list(cm.state_dict()) == list(tm.state_dict())
    assert cm.parametrizations.weight[0].dim == tm.parametrizations.weight[0].dim
    # u, v start random (each library's own generator): take torch's, then every training
    # forward must refine them the same way
    cm.load_state_dict(tm.state_dict())
    x = input_for(shape, dtype)
    for step in range(3):
        compare_step(cm, tm, x, rtol, f"{what}, training step {step}", seed=step)
        compare_state(cm, tm, rtol, f"{what}, training step {step}")
    cm.eval()
    tm.eval()
    before = {k: v.data.copy() for k, v in cm.state_dict().items()}
    compare_step(cm, tm, x, rtol, f"{what}, eval")
    for k, v in cm.state_dict().items():
        np.testing.assert_array_equal(v.data, before[k], err_msg=f"{k} changed in eval mode")


def test_spectral_norm_estimates_the_largest_singular_value() -> None:
    m = P.spectral_norm(nn.Linear(6, 5).double())
    for _ in range(30):
        w = m.weight
    assert abs(np.linalg.svd(w.data, compute_uv=False)[0] - 1.0) < 1e-8


def test_spectral_norm_of_a_vector_normalises_it() -> None:
    cm, tm, shape = plain_pair("Linear", np.float64)
    TP.spectral_norm(tm, name="bias")
    P.spectral_norm(cm, name="bias")
    assert list(cm.state_dict()) == list(tm.state_dict())  # no u, v for 1-D
    compare_step(cm, tm, input_for(shape, np.float64), TOL[np.float64], "1-D spectral_norm")


def test_spectral_norm_two_forwards_then_backward() -> None:
    """GAN pattern: D(real) and D(fake) both in one graph, across a power-iteration update."""
    cm, tm, shape = plain_pair("Linear", np.float64)
    TP.spectral_norm(tm)
    P.spectral_norm(cm)
    cm.load_state_dict(tm.state_dict())
    a, b = input_for(shape, np.float64, 3), input_for(shape, np.float64, 4)
    closs = cm(cr.tensor(a)).sum() - cm(cr.tensor(b)).sum()
    tloss = tm(torch.tensor(a)).sum() - tm(torch.tensor(b)).sum()
    closs.backward()
    tloss.backward()
    close(closs, tloss, 1e-10, "loss")
    close(cm.parametrizations.weight.original.grad, tm.parametrizations.weight.original.grad,
          1e-10, "original gradient")


# ------------------------------------------------------------------ central differences

def original_names(m: Any) -> list[str]:
    return [n for n, _ in m.named_parameters()]


GRADCHECK_CASES: dict[str, Callable[[Any], Any]] = {
    "user chain": lambda m: register_user(m, ["symmetric", "scale"], cr),
    "user two tensors": lambda m: register_user(m, ["sum_of_two"], cr),
    "orthogonal matrix_exp": lambda m: P.orthogonal(m, orthogonal_map="matrix_exp"),
    "orthogonal cayley": lambda m: P.orthogonal(m, orthogonal_map="cayley"),
    "orthogonal householder": lambda m: P.orthogonal(m, orthogonal_map="householder",
                                                     use_trivialization=False),
    "weight_norm": lambda m: P.weight_norm(m),
    "spectral_norm (eval)": lambda m: P.spectral_norm(m).eval(),
}


@pytest.mark.parametrize("case,layer", [(case, layer) for case in GRADCHECK_CASES
                                        for layer in ("Linear", "Linear_wide", "Conv2d")
                                        if layer == "Linear" or "user" not in case])
def test_gradients_against_central_differences(case: str, layer: str) -> None:
    cm, _, shape = plain_pair(layer, np.float64)
    GRADCHECK_CASES[case](cm)
    names = original_names(cm)
    rng = np.random.default_rng(5)
    values = [cr.tensor(p.data + 0.2 * rng.normal(size=p.shape), requires_grad=True)
              for p in cm.parameters()]
    x = cr.tensor(input_for(shape, np.float64), requires_grad=True)

    def f(x: Any, *params: Any) -> Any:
        return cr.func.functional_call(cm, dict(zip(names, params)), (x,))

    assert cr.gradcheck(f, (x, *values), atol=1e-8, rtol=1e-6)


# ------------------------------------------------------------------ state dicts

STATE_CASES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "user": (lambda m: register_user(m, ["symmetric", "scale"], cr),
             lambda m: register_user(m, ["symmetric", "scale"], torch)),
    "orthogonal": (P.orthogonal, TP.orthogonal),
    "orthogonal wide": (P.orthogonal, TP.orthogonal),
    "weight_norm": (P.weight_norm, TP.weight_norm),
    "spectral_norm": (P.spectral_norm, TP.spectral_norm),
}


@pytest.mark.parametrize("case", list(STATE_CASES))
def test_state_dict_moves_between_torch_and_chainrule(case: str) -> None:
    layer = "Linear_wide" if "wide" in case else "Linear"
    make_cr, make_torch, shape = LAYERS[layer]
    reg_cr, reg_torch = STATE_CASES[case]
    torch.manual_seed(3)
    source = reg_torch(make_torch().double())
    perturb_state = source.state_dict()
    for k, v in perturb_state.items():
        if ".original" in k:
            perturb_state[k] = v + 0.1 * torch.randn_like(v)
    source.load_state_dict(perturb_state)
    source.eval()
    cm = reg_cr(make_cr().double()).eval()
    result = cm.load_state_dict(source.state_dict())
    assert list(result.missing_keys) == [] and list(result.unexpected_keys) == []
    x = input_for(shape, np.float64)
    close(cm(cr.tensor(x)), source(torch.tensor(x)), 1e-10, f"{case}: torch state in chainrule")
    back = reg_torch(make_torch().double()).eval()
    back.load_state_dict({k: torch.tensor(v.numpy()) for k, v in cm.state_dict().items()})
    close(cm(cr.tensor(x)), back(torch.tensor(x)), 1e-10, f"{case}: chainrule state in torch")
    compare_state(cm, back, 0.0, case)


def test_to_dtype_converts_the_originals() -> None:
    m = P.weight_norm(nn.Linear(3, 2)).double()
    assert m.parametrizations.weight.original0.dtype == np.float64
    assert m.weight.dtype == np.float64 and m(cr.ones(1, 3, dtype=cr.float64)).dtype == np.float64


# ------------------------------------------------------------------ assignment

@pytest.mark.parametrize("kinds", [["symmetric"], ["symmetric", "scale"], ["sum_of_two"]])
def test_assignment_goes_through_right_inverse(kinds: list[str]) -> None:
    cm, tm, _ = plain_pair("Linear", np.float64)
    register_user(cm, kinds, cr)
    register_user(tm, kinds, torch)
    originals = [p for n, p in cm.named_parameters() if "original" in n]
    value = np.arange(16.0).reshape(4, 4)
    value = value + value.T  # a symmetric matrix: in the image of the chain
    cm.weight = cr.tensor(value)
    tm.weight = torch.tensor(value)
    compare_state(cm, tm, 1e-12, f"{kinds}: after assignment")
    close(cm.weight, tm.weight, 1e-12, f"{kinds}: weight after assignment")
    if kinds[0] != "sum_of_two":
        np.testing.assert_allclose(cm.weight.data, value, rtol=1e-12)
    # the same tensor objects hold the new values
    assert [p for n, p in cm.named_parameters() if "original" in n] == originals


@pytest.mark.parametrize("orthogonal_map", ["matrix_exp", "cayley", "householder"])
def test_orthogonal_assignment_matches_torch(orthogonal_map: str) -> None:
    cm, tm, _ = plain_pair("Linear", np.float64)
    P.orthogonal(cm, orthogonal_map=orthogonal_map)
    TP.orthogonal(tm, orthogonal_map=orthogonal_map)
    q = np.linalg.qr(np.random.default_rng(0).normal(size=(4, 4)))[0]
    for value in (q, q + 0.5):  # orthogonal, then not (orthogonalised by QR)
        cm.weight = cr.tensor(value)
        tm.weight = torch.tensor(value)
        compare_state(cm, tm, 1e-10, f"{orthogonal_map}: after assignment")
        close(cm.weight, tm.weight, 1e-10, f"{orthogonal_map}: weight")
    cm.weight = cr.tensor(q)
    np.testing.assert_allclose(cm.weight.data, q, atol=1e-12)


def test_weight_norm_assignment() -> None:
    cm, tm, _ = plain_pair("Linear", np.float64)
    P.weight_norm(cm)
    TP.weight_norm(tm)
    value = np.random.default_rng(0).normal(size=(4, 4))
    cm.weight = cr.tensor(value)
    tm.weight = torch.tensor(value)
    compare_state(cm, tm, 1e-12, "weight_norm after assignment")
    np.testing.assert_allclose(cm.weight.data, value, rtol=1e-12)


def test_assignment_errors() -> None:
    m = register_user(nn.Linear(3, 3), ["symmetric", "no_inverse"], cr)
    with pytest.raises(RuntimeError, match="parametrization NoInverse does not implement "
                                           "right_inverse"):
        m.weight = cr.zeros(3, 3)
    m = register_user(nn.Linear(3, 3), ["scale"], cr)
    with pytest.raises(ValueError, match="has dtype float64 while `original` has dtype "
                                         "float32"):
        m.weight = cr.zeros(3, 3, dtype=cr.float64)
    # (stricter than torch, which lets the original change shape silently)
    with pytest.raises(ValueError, match=r"has shape \(2, 3\) while `original` has shape "
                                         r"\(3, 3\)"):
        m.weight = cr.zeros(2, 3)
    m = register_user(nn.Linear(3, 3), ["sum_of_two"], cr)
    with pytest.raises(ValueError, match="`original0` has shape"):
        m.weight = cr.zeros(3, 2)
    with pytest.raises(KeyError, match="attribute 'weight' already exists"):
        m.weight = nn.Parameter(cr.zeros(3, 3))
    with pytest.raises(ValueError, match=r"Expected a matrix or batch of matrices of shape "
                                         r"\(3, 3\). Got a tensor of shape \(2, 2\)"):
        P.orthogonal(nn.Linear(3, 3)).weight = cr.zeros(2, 2)
    m = P.orthogonal(nn.Linear(3, 3), use_trivialization=False)
    with pytest.raises(NotImplementedError, match="not possible to assign to the matrix "
                                                  "exponential"):
        m.weight = cr.zeros(3, 3)


# ------------------------------------------------------------------ remove_parametrizations

REMOVE_CASES: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "user": (lambda m: register_user(m, ["symmetric", "scale"], cr),
             lambda m: register_user(m, ["symmetric", "scale"], torch)),
    "orthogonal": (P.orthogonal, TP.orthogonal),
    "spectral_norm": (P.spectral_norm, TP.spectral_norm),
    "weight_norm": (P.weight_norm, TP.weight_norm),
}


@pytest.mark.parametrize("leave_parametrized", [True, False])
@pytest.mark.parametrize("case", list(REMOVE_CASES))
def test_remove_parametrizations_matches_torch(case: str, leave_parametrized: bool) -> None:
    cm, tm, shape = plain_pair("Linear", np.float64)
    reg_cr, reg_torch = REMOVE_CASES[case]
    reg_torch(tm)
    reg_cr(cm)
    cm.load_state_dict(tm.state_dict())
    perturb_originals(cm, tm)
    cm.eval()
    tm.eval()
    if case == "weight_norm" and not leave_parametrized:
        with pytest.raises(ValueError, match="Cannot leave unparametrized"):
            TPZ.remove_parametrizations(tm, "weight", leave_parametrized=False)
        with pytest.raises(ValueError, match=r"Cannot leave unparametrized .*has 2"):
            PZ.remove_parametrizations(cm, "weight", leave_parametrized=False)
        return
    original = cm.parametrizations.weight.original if case != "weight_norm" else None
    expected = (cm.weight if leave_parametrized else original).data.copy()
    TPZ.remove_parametrizations(tm, "weight", leave_parametrized=leave_parametrized)
    PZ.remove_parametrizations(cm, "weight", leave_parametrized=leave_parametrized)
    assert type(cm) is nn.Linear and type(tm) is tnn.Linear
    assert not hasattr(cm, "parametrizations") and not PZ.is_parametrized(cm)
    assert isinstance(cm._parameters["weight"], nn.Parameter)
    if original is not None:
        assert cm.weight is original  # same object: optimizers keep working
    np.testing.assert_allclose(cm.weight.data, expected, rtol=1e-14)
    compare_state(cm, tm, 1e-10, f"{case}: after remove")
    compare_step(cm, tm, input_for(shape, np.float64), 1e-10, f"{case}: after remove")


def test_remove_keeps_the_class_while_another_tensor_is_parametrized() -> None:
    m = register_user(nn.Linear(3, 3), ["symmetric"], cr)
    PZ.register_parametrization(m, "bias", user_parametrization("scale", cr))
    PZ.remove_parametrizations(m, "weight")
    assert type(m).__name__ == "ParametrizedLinear" and PZ.is_parametrized(m, "bias")
    assert not PZ.is_parametrized(m, "weight") and not hasattr(type(m), "weight")
    assert list(m.state_dict()) == ["weight", "parametrizations.bias.original"]
    PZ.remove_parametrizations(m, "bias")
    assert type(m) is nn.Linear and list(m.state_dict()) == ["weight", "bias"]


def test_remove_a_name_that_is_not_parametrized() -> None:
    with pytest.raises(ValueError, match=r"Module Linear\(.*\) does not have a parametrization "
                                         "on weight"):
        PZ.remove_parametrizations(nn.Linear(2, 2), "weight")
    m = register_user(nn.Linear(2, 2), ["scale"], cr)
    with pytest.raises(ValueError, match="does not have a parametrization on bias"):
        PZ.remove_parametrizations(m, "bias")


# ------------------------------------------------------------------ cached

def counting(lib: Any) -> Any:
    class Counting(lib.nn.Module):
        calls = 0

        def forward(self, x: Any) -> Any:
            type(self).calls += 1
            return x * 2.0
    return Counting()


def test_cached_computes_each_tensor_once() -> None:
    results = {}
    for lib, reg, cache in ((cr, PZ, PZ.cached), (torch, TPZ, TPZ.cached)):
        m = lib.nn.Linear(3, 3)
        p = counting(lib)
        reg.register_parametrization(m, "weight", p)
        start = type(p).calls
        with cache():
            first = m.weight
            same = m.weight is first
            with cache():  # nesting keeps the cache
                same = same and m.weight is first
            same = same and m.weight is first
            m(lib.ones(2, 3))
            inside = type(p).calls - start
        after = m.weight is not first
        _ = m.weight
        results[lib.__name__] = (same, inside, after, type(p).calls - start)
    assert results["chainrule"] == results["torch"] == (True, 1, True, 3)


def test_cached_gradients_accumulate_over_uses() -> None:
    m = register_user(nn.Linear(3, 3).double(), ["scale"], cr)
    x = cr.ones(2, 3, dtype=cr.float64)
    with PZ.cached():
        (m(x) + m(x)).sum().backward()
    np.testing.assert_allclose(m.parametrizations.weight.original.grad.data,
                               np.full((3, 3), 8.0))


# ------------------------------------------------------------------ errors

def test_registration_errors() -> None:
    with pytest.raises(ValueError, match=r"Module 'Linear\(in_features=2, out_features=2, "
                                         r"bias=True\)' does not have a parameter, a buffer, "
                                         r"or a parametrized element with name 'foo'"):
        PZ.register_parametrization(nn.Linear(2, 2), "foo", user_parametrization("scale", cr))

    class Shrink(nn.Module):
        def forward(self, x: Any) -> Any:
            return x[:1]

    class ToDouble(nn.Module):
        def forward(self, x: Any) -> Any:
            return x.double()

    with pytest.raises(ValueError, match=r"may not change the shape of the tensor, unless "
                                         r"`unsafe` flag is enabled.\nunparametrized shape: "
                                         r"\(2, 2\)\nparametrized shape: \(1, 2\)"):
        PZ.register_parametrization(nn.Linear(2, 2), "weight", Shrink())
    with pytest.raises(ValueError, match="may not change the dtype of the tensor, unless "
                                         "`unsafe` flag is enabled.\nunparametrized dtype: "
                                         "float32\nparametrized dtype: float64"):
        PZ.register_parametrization(nn.Linear(2, 2), "weight", ToDouble())
    m = register_user(nn.Linear(2, 2), ["scale"], cr)
    with pytest.raises(ValueError, match=r"module.weight.shape: \(2, 2\)\n"
                                         r"parametrization\(module.weight\).shape: \(1, 2\)"):
        PZ.register_parametrization(m, "weight", Shrink())
    with pytest.raises(ValueError, match="module.weight.dtype: float32"):
        PZ.register_parametrization(m, "weight", ToDouble())
    assert len(m.parametrizations.weight) == 1  # failed registrations left nothing behind
    class ShrinkWithInverse(Shrink):
        def right_inverse(self, w: Any) -> Any:
            return w * 0.0

    plain = nn.Linear(2, 2)
    weight, values = plain.weight, plain.weight.data.copy()
    with pytest.raises(ValueError):
        PZ.register_parametrization(plain, "weight", ShrinkWithInverse())
    assert type(plain) is nn.Linear and plain._parameters["weight"] is weight
    np.testing.assert_array_equal(weight.data, values)  # (torch's would hold the zeros)
    with pytest.raises(ValueError, match="Linear.bias is None, so there is nothing"):
        PZ.register_parametrization(nn.Linear(2, 2, bias=False), "bias",
                                    user_parametrization("scale", cr))
    with pytest.raises(TypeError, match="the parametrization must be a cr.nn.Module, got "
                                        "function"):
        PZ.register_parametrization(nn.Linear(2, 2), "weight", lambda x: x)  # type: ignore


def test_parametrizations_errors() -> None:
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'kernel'"):
        P.orthogonal(nn.Linear(2, 2), "kernel")
    with pytest.raises(ValueError, match="expected a matrix or batch of matrices. Got a "
                                         "tensor of 1 dimensions"):
        P.orthogonal(nn.Linear(2, 2), "bias")
    with pytest.raises(ValueError, match='orthogonal_map has to be one of "matrix_exp", '
                                         '"cayley", "householder". Got: qr'):
        P.orthogonal(nn.Linear(2, 2), orthogonal_map="qr")
    with pytest.raises(ValueError, match="has no parameter or buffer with name 'kernel'"):
        P.spectral_norm(nn.Linear(2, 2), "kernel")
    with pytest.raises(ValueError, match="n_power_iterations to be positive, but got "
                                         "n_power_iterations=0"):
        P.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(IndexError, match=r"expected to be in range of \[-2, 1\] but got 2"):
        P.spectral_norm(nn.Linear(2, 2), dim=2)
    with pytest.raises(IndexError, match="weight_norm: dim=3 is out of range"):
        P.weight_norm(nn.Linear(2, 2), dim=3)
    with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
        P.weight_norm(nn.Linear(2, 2), "kernel")


# ------------------------------------------------------------------ copying, transfer

def test_deepcopy_works_and_pickling_is_refused() -> None:
    m = P.orthogonal(nn.Linear(3, 3).double())
    c = copy.deepcopy(m)
    assert type(c).__name__ == "ParametrizedLinear" and PZ.type_before_parametrizations(c) is nn.Linear
    assert c.parametrizations.weight.original is not m.parametrizations.weight.original
    np.testing.assert_allclose(c.weight.data, m.weight.data)
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(m)
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(c)


def test_changing_a_deep_copys_parametrizations_leaves_the_original_alone() -> None:
    """The copy has a generated class of its own (PyTorch's shares the original's, so there
    removing the copy's parametrization deletes the original's ``weight`` property)."""
    m = P.orthogonal(nn.Linear(3, 3).double())
    model = nn.Sequential(m, nn.ReLU())
    twin = copy.deepcopy(model)[0]
    assert type(twin) is not type(m)
    PZ.remove_parametrizations(twin, "weight")
    PZ.register_parametrization(twin, "bias", nn.Identity())
    assert PZ.is_parametrized(m, "weight") and not PZ.is_parametrized(m, "bias")
    w = m.weight.data
    np.testing.assert_allclose(w @ w.T, np.eye(3), atol=1e-12)
    assert type(m.bias) is nn.Parameter


def test_transfer_parametrizations_and_params() -> None:
    src = register_user(nn.Linear(3, 3).double(), ["symmetric", "scale"], cr)
    dst = nn.Linear(3, 3).double()
    PZ.transfer_parametrizations_and_params(src, dst)
    assert type(dst).__name__ == "ParametrizedLinear"
    assert dst.parametrizations.weight.original is src.parametrizations.weight.original
    np.testing.assert_allclose(dst.weight.data, src.weight.data)
    assert PZ.transfer_parametrizations_and_params(nn.Linear(2, 2), dst) is dst
    # a name that the target lacks is created first
    tsrc = register_user(nn.Linear(3, 3), ["sum_of_two"], cr)
    holder = nn.Module()
    PZ.transfer_parametrizations_and_params(tsrc, holder, "weight")
    assert holder.parametrizations.weight.original1 is tsrc.parametrizations.weight.original1
    np.testing.assert_allclose(holder.weight.data, tsrc.weight.data)


def test_spectral_norm_registration_refines_like_torch(monkeypatch: Any) -> None:
    """From the same random start, registration (15 power iterations, then one more when the
    result is checked in training mode) leaves u and v where torch's does."""
    cm, tm, _ = plain_pair("Conv2d", np.float32)
    torch.manual_seed(7)
    starts = [torch.empty(3).normal_(0, 1), torch.empty(18).normal_(0, 1)]
    draws = iter([cr.tensor(s.numpy()) for s in starts])
    monkeypatch.setattr(P, "randn", lambda *size, dtype=None: next(draws))
    torch.manual_seed(7)
    TP.spectral_norm(tm)
    P.spectral_norm(cm)
    compare_state(cm, tm, TOL[np.float32], "spectral_norm after registration")
