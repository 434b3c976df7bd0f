"""Random sampling (multinomial, poisson, in-place draws, RNG state), creation (logspace,
asarray), dtype utilities, broadcasting, inference_mode, print options and Tensor layout
attributes, checked against PyTorch (values where the RNG is not involved; distributions,
reproducibility and errors where it is)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

N = 200_000  # samples for the statistical checks (fixed seeds: the checks are deterministic)


def _errors_like_torch(ours: Any, theirs: Any, words: str) -> None:
    """Both raise; ours has the same (or a subclass of the) exception type and names ``words``."""
    with pytest.raises(Exception) as t_err:
        theirs()
    with pytest.raises(type(t_err.value)) as c_err:
        ours()
    assert words in str(c_err.value), str(c_err.value)


def _mean_close(samples: np.ndarray, mean: float, std: float, what: str) -> None:
    """The sample mean within 5 standard errors of ``mean``."""
    err = 5 * std / np.sqrt(samples.size)
    assert abs(samples.mean() - mean) < err, f"{what}: mean {samples.mean()} vs {mean}"


# --------------------------------------------------------------------------- multinomial

def test_multinomial_with_replacement_frequencies() -> None:
    cr.manual_seed(1)
    p = np.array([0.1, 0.0, 0.6, 0.3])
    draws = cr.multinomial(cr.tensor(p * 7, dtype=cr.float64), N, replacement=True).numpy()
    assert draws.dtype == np.int64 and draws.shape == (N,)
    freq = np.bincount(draws, minlength=4) / N
    assert freq[1] == 0  # a zero-probability category is never drawn
    np.testing.assert_allclose(freq, p, atol=5 * np.sqrt(0.25 / N))


def test_multinomial_without_replacement_law() -> None:
    cr.manual_seed(2)
    p = np.array([0.5, 0.3, 0.2])
    rows = cr.tensor(np.tile(p, (N // 4, 1)))  # 2-D: one draw of 2 per row
    draws = rows.multinomial(2).numpy()
    assert draws.shape == (N // 4, 2)
    assert (draws[:, 0] != draws[:, 1]).all()
    first = np.bincount(draws[:, 0], minlength=3) / len(draws)
    np.testing.assert_allclose(first, p, atol=5 * np.sqrt(0.25 / len(draws)))
    # the second draw renormalises over the rest: P(second = j) = Σ_i p_i p_j / (1 - p_i)
    second = np.bincount(draws[:, 1], minlength=3) / len(draws)
    expect = [sum(p[i] * p[j] / (1 - p[i]) for i in range(3) if i != j) for j in range(3)]
    np.testing.assert_allclose(second, expect, atol=5 * np.sqrt(0.25 / len(draws)))


def test_multinomial_all_categories_and_zero_rows_shape() -> None:
    cr.manual_seed(0)
    out = cr.multinomial(cr.tensor([1.0, 0.0, 2.0]), 3)
    assert sorted(out.tolist()) == [0, 1, 2] and out.tolist()[2] == 1  # zero-probability last
    assert cr.multinomial(cr.ones(0, 3), 2).shape == torch.multinomial(torch.ones(0, 3), 2).shape


def test_multinomial_reproducible_and_generator() -> None:
    cr.manual_seed(5)
    a = cr.multinomial(cr.ones(4, 10), 6)
    cr.manual_seed(5)
    assert cr.equal(a, cr.multinomial(cr.ones(4, 10), 6))
    g1, g2 = cr.Generator().manual_seed(3), cr.Generator().manual_seed(3)
    assert cr.equal(cr.multinomial(cr.ones(10), 5, True, generator=g1),
                    cr.multinomial(cr.ones(10), 5, True, generator=g2))


@pytest.mark.parametrize("probs, n, replacement, words", [
    ([-0.1, 1.0], 1, False, "element < 0"),
    ([float("inf"), 1.0], 1, False, "`inf`, `nan`"),
    ([float("nan"), 1.0], 1, True, "`inf`, `nan`"),
    ([[0.0, 0.0], [1.0, 1.0]], 1, False, "sum of probabilities <= 0"),
    ([1.0, 0.0], 3, False, "without replacement"),
    ([1.0, 0.0], 0, True, "n_sample <= 0"),
    ([1.0, 0.0], -1, True, "n_sample <= 0"),
    (np.ones((2, 2, 2)), 1, True, "1 or 2 dim"),
    (1.0, 1, True, "1 or 2 dim"),
])
def test_multinomial_errors_as_torch(probs: Any, n: int, replacement: bool, words: str) -> None:
    _errors_like_torch(
        lambda: cr.multinomial(cr.tensor(probs), n, replacement),
        lambda: torch.multinomial(torch.tensor(probs, dtype=torch.float32), n, replacement),
        words)


def test_multinomial_integer_probabilities_refused() -> None:
    _errors_like_torch(lambda: cr.multinomial(cr.tensor([1, 2]), 1),
                       lambda: torch.multinomial(torch.tensor([1, 2]), 1), "floating-point")


def test_multinomial_obeys_vmap_randomness() -> None:
    with pytest.raises(Exception, match="random"):
        cr.func.vmap(lambda x: x + cr.multinomial(cr.ones(3), 1))(cr.ones(2, 1))


# --------------------------------------------------------------------------- poisson, bernoulli

def test_poisson_mean_variance_and_dtype() -> None:
    cr.manual_seed(3)
    for rate in (0.5, 4.0, 300.0):
        s = cr.poisson(cr.full((N,), rate, dtype=cr.float64)).numpy()
        assert s.dtype == np.float64 and (s == np.round(s)).all() and (s >= 0).all()
        _mean_close(s, rate, np.sqrt(rate), f"poisson({rate})")
        assert abs(s.var() / rate - 1) < 0.03
    assert cr.poisson(cr.zeros(3)).tolist() == [0.0, 0.0, 0.0]


def test_poisson_zero_gradient_as_torch() -> None:
    x = cr.tensor([1.0, 2.0], requires_grad=True)
    tx = torch.tensor([1.0, 2.0], requires_grad=True)
    cr.poisson(x).sum().backward()
    torch.poisson(tx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_poisson_errors() -> None:
    _errors_like_torch(lambda: cr.poisson(cr.tensor([-1.0])),
                       lambda: torch.poisson(torch.tensor([-1.0])), "non-negative")
    _errors_like_torch(lambda: cr.poisson(cr.tensor([float("nan")])),
                       lambda: torch.poisson(torch.tensor([float("nan")])), "non-negative")
    _errors_like_torch(lambda: cr.poisson(cr.tensor([1, 2])),
                       lambda: torch.poisson(torch.tensor([1, 2])), "floating-point")
    with pytest.raises(RuntimeError, match="finite"):  # (PyTorch gives garbage here)
        cr.poisson(cr.tensor([float("inf")]))


def test_bernoulli_forms_and_statistics() -> None:
    cr.manual_seed(4)
    probs = cr.full((N,), 0.3, dtype=cr.float64)
    s = cr.bernoulli(probs).numpy()
    assert s.dtype == np.float64 and set(np.unique(s)) <= {0.0, 1.0}
    _mean_close(s, 0.3, np.sqrt(0.21), "bernoulli")
    _mean_close(cr.zeros(N).bernoulli(0.8).numpy(), 0.8, 0.4, "bernoulli(p)")
    _mean_close(probs.bernoulli().numpy(), 0.3, np.sqrt(0.21), "Tensor.bernoulli")
    _errors_like_torch(lambda: cr.bernoulli(cr.tensor([1.5])),
                       lambda: torch.bernoulli(torch.tensor([1.5])), "[0, 1]")
    _errors_like_torch(lambda: cr.bernoulli(cr.tensor([1, 0])),
                       lambda: torch.bernoulli(torch.tensor([1, 0])), "floating-point")


def test_randint_like() -> None:
    cr.manual_seed(6)
    x = cr.zeros(N, dtype=cr.float64)
    s = cr.randint_like(x, 5).numpy()
    assert s.dtype == np.float64 and s.min() == 0 and s.max() == 4
    _mean_close(s, 2.0, np.sqrt(2.0), "randint_like")
    s = cr.randint_like(cr.zeros(4, 3, dtype=cr.int64), 2, 5)
    assert s.shape == (4, 3) and s.dtype == np.int64 and 2 <= s.min().item() <= s.max().item() < 5
    assert cr.randint_like(x[:3], 10, dtype=cr.int32).dtype == np.int32
    _errors_like_torch(lambda: cr.randint_like(cr.ones(3), 5, 2),
                       lambda: torch.randint_like(torch.ones(3), 5, 2), "less than")


# --------------------------------------------------------------------------- in-place draws

def test_in_place_continuous_draws_statistics() -> None:
    cr.manual_seed(7)
    x = cr.empty(N, dtype=cr.float64)
    assert x.exponential_(2.0) is x
    _mean_close(x.numpy(), 0.5, 0.5, "exponential_")
    x.log_normal_(0.5, 0.25)
    logs = np.log(x.numpy())
    _mean_close(logs, 0.5, 0.25, "log_normal_")
    assert abs(logs.std() / 0.25 - 1) < 0.01
    x.cauchy_(1.0, 2.0)  # median 1, quartiles 1 ± 2
    q1, q2, q3 = np.quantile(x.numpy(), [0.25, 0.5, 0.75])
    assert abs(q2 - 1) < 0.03 and abs(q1 + 1) < 0.05 and abs(q3 - 3) < 0.05
    x.uniform_(-2.0, 4.0)
    assert -2 <= x.min().item() and x.max().item() < 4
    _mean_close(x.numpy(), 1.0, 6 / np.sqrt(12), "uniform_")
    x.normal_(3.0, 0.5)
    _mean_close(x.numpy(), 3.0, 0.5, "normal_")
    assert abs(x.numpy().std() / 0.5 - 1) < 0.01


def test_in_place_discrete_draws() -> None:
    cr.manual_seed(8)
    g = cr.zeros(N, dtype=cr.int64).geometric_(0.25)
    assert g.dtype == np.int64 and g.min().item() >= 1
    _mean_close(g.numpy(), 4.0, np.sqrt(0.75) / 0.25, "geometric_")
    b = cr.zeros(N, dtype=cr.int64).bernoulli_(0.25)
    _mean_close(b.numpy(), 0.25, np.sqrt(0.1875), "bernoulli_")
    b = cr.zeros(2, N // 2).bernoulli_(cr.tensor([[0.0], [1.0]]))
    assert b[0].sum().item() == 0 and b[1].sum().item() == N // 2
    r = cr.zeros(N).random_(2, 5)
    assert set(np.unique(r.numpy())) == {2.0, 3.0, 4.0}
    assert set(np.unique(cr.zeros(1000).random_(3).numpy())) == {0.0, 1.0, 2.0}
    assert set(np.unique(cr.zeros(1000, dtype=cr.bool_).random_().numpy())) == {False, True}
    top = cr.zeros(N).random_().numpy()
    assert top.min() >= 0 and top.max() <= 2 ** 24 and top.max() > 2 ** 23
    wide = cr.zeros(100, dtype=cr.int8).random_().numpy()
    assert wide.min() >= 0 and wide.max() > 64


def test_in_place_draws_reproducible_with_manual_seed() -> None:
    def draw() -> list:
        x = cr.empty(6, dtype=cr.float64)
        return [x.exponential_().tolist(), x.cauchy_().tolist(), x.log_normal_().tolist(),
                x.geometric_(0.3).tolist(), x.random_(100).tolist(), x.bernoulli_().tolist()]
    cr.manual_seed(9)
    first = draw()
    cr.manual_seed(9)
    assert draw() == first


@pytest.mark.parametrize("call, words", [
    (lambda t: t.exponential_(-1), "lambda > 0.0"),
    (lambda t: t.exponential_(0), "lambda > 0.0"),
    (lambda t: t.cauchy_(0, -1), "sigma > 0.0"),
    (lambda t: t.log_normal_(0, 0), "std > 0.0"),
    (lambda t: t.geometric_(0), "(0, 1)"),
    (lambda t: t.geometric_(1), "(0, 1)"),
    (lambda t: t.bernoulli_(1.5), "[0, 1]"),
    (lambda t: t.uniform_(2, 1), "[from, to)"),
    (lambda t: t.normal_(0, -1), "std >= 0.0"),
    (lambda t: t.random_(5, 2), "less than"),
])
def test_in_place_draw_errors_as_torch(call: Any, words: str) -> None:
    _errors_like_torch(lambda: call(cr.zeros(3)), lambda: call(torch.zeros(3)), words)


def test_continuous_draws_refuse_integer_tensors() -> None:
    _errors_like_torch(lambda: cr.zeros(2, dtype=cr.int64).exponential_(),
                       lambda: torch.zeros(2, dtype=torch.int64).exponential_(),
                       "floating-point")
    for name in ("normal_", "uniform_", "cauchy_", "log_normal_"):
        with pytest.raises(RuntimeError, match="floating-point"):
            getattr(cr.zeros(2, dtype=cr.int64), name)()


def test_in_place_draw_gradients_as_torch() -> None:
    leaf = cr.ones(3, requires_grad=True)
    with pytest.raises(cr.ChainruleError, match="in-place"):
        leaf.exponential_()
    x, tx = cr.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    y, ty = x * 2, tx * 2
    y.exponential_()
    ty.exponential_()
    (y * 3 + x).sum().backward()
    (ty * 3 + tx).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())  # the draw cuts the path


# --------------------------------------------------------------------------- fill_diagonal_

@pytest.mark.parametrize("shape, wrap", [((3, 3), False), ((3, 5), False), ((7, 3), False),
                                         ((7, 3), True), ((3, 3, 3), False), ((4, 4, 4), True),
                                         ((0, 2), False)])
def test_fill_diagonal_as_torch(shape: tuple, wrap: bool) -> None:
    base = np.random.default_rng(0).standard_normal(shape)
    x, tx = cr.tensor(base, requires_grad=True), torch.tensor(base, requires_grad=True)
    y, ty = x * 1.5, tx * 1.5
    assert y.fill_diagonal_(-2.0, wrap=wrap) is y
    ty.fill_diagonal_(-2.0, wrap=wrap)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    w = np.arange(base.size, dtype=np.float64).reshape(shape)
    (y * cr.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_fill_diagonal_errors() -> None:
    _errors_like_torch(lambda: cr.ones(3).fill_diagonal_(1),
                       lambda: torch.ones(3).fill_diagonal_(1), "")
    _errors_like_torch(lambda: cr.ones(3, 3, 4).fill_diagonal_(1),
                       lambda: torch.ones(3, 3, 4).fill_diagonal_(1), "equal length")


# --------------------------------------------------------------------------- RNG state

def test_rng_state_replays() -> None:
    cr.manual_seed(11)
    assert cr.initial_seed() == 11
    state = cr.get_rng_state()
    assert isinstance(state, cr.Tensor) and state.dtype == np.uint8 and state.ndim == 1
    json.loads(state.numpy().tobytes())  # JSON text, not a pickle
    first = (cr.rand(5), cr.randn(3), cr.multinomial(cr.ones(8), 4))
    cr.set_rng_state(state)
    again = (cr.rand(5), cr.randn(3), cr.multinomial(cr.ones(8), 4))
    assert all(cr.equal(a, b) for a, b in zip(first, again))


def test_generator_state_and_seed() -> None:
    g = cr.Generator().manual_seed(-1)
    assert g.initial_seed() == 2 ** 64 - 1
    assert isinstance(cr.Generator().initial_seed(), int)
    state = g.get_state()
    a = cr.rand(4, generator=g)
    assert g.set_state(state) is g
    assert cr.equal(a, cr.rand(4, generator=g))
    s = cr.seed()
    assert cr.initial_seed() == s


def test_malformed_rng_state_errors() -> None:
    with pytest.raises(TypeError, match="uint8 tensor"):
        cr.set_rng_state(cr.zeros(3))
    with pytest.raises(TypeError, match="uint8 tensor"):
        cr.set_rng_state([1, 2])
    with pytest.raises(RuntimeError, match="not a state made by get_state"):
        cr.set_rng_state(cr.zeros(3, dtype=cr.uint8))
    bad = json.dumps({"bit_generator": "MT19937", "state": {}}).encode()
    with pytest.raises(RuntimeError, match="not a state made by get_state"):
        cr.set_rng_state(cr.tensor(np.frombuffer(bad, np.uint8)))
    broken = json.loads(cr.get_rng_state().numpy().tobytes())
    broken["state"] = {"state": "x"}
    cr.manual_seed(12)
    before = cr.get_rng_state()
    with pytest.raises(RuntimeError, match="not a state made by get_state"):
        cr.set_rng_state(cr.tensor(np.frombuffer(json.dumps(broken).encode(), np.uint8)))
    assert cr.equal(cr.get_rng_state(), before)  # a bad state leaves the generator alone


# --------------------------------------------------------------------------- creation

@pytest.mark.parametrize("args, kw", [((0, 2, 3), {}), ((0, 2, 3), {"base": 2}),
                                      ((0, 2, 3, 2), {}), ((-1, 1, 5), {"base": 3.5}),
                                      ((0, 2, 3), {"dtype": "int64"}),
                                      ((0, 1, 4), {"dtype": "int64"}), ((1, 3, 1), {}),
                                      ((1, 3, 0), {}), ((0, 1, 6), {"dtype": "float64"})])
def test_logspace_as_torch(args: tuple, kw: dict) -> None:
    ours = cr.logspace(*args, **{k: getattr(cr, v) if k == "dtype" else v
                                 for k, v in kw.items()})
    theirs = torch.logspace(*args, **{k: getattr(torch, v) if k == "dtype" else v
                                      for k, v in kw.items()})
    assert str(ours.dtype) == str(theirs.dtype).removeprefix("torch.")
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


def test_logspace_errors_and_grad() -> None:
    _errors_like_torch(lambda: cr.logspace(0, 2, -1), lambda: torch.logspace(0, 2, -1),
                       "non-negative")
    assert cr.logspace(0, 1, 3, requires_grad=True).requires_grad


def test_asarray_sharing_as_torch() -> None:
    a = np.arange(3.0)
    shared, copied = cr.asarray(a), cr.asarray(a, copy=True)
    converted = cr.asarray(a, dtype=cr.float32)
    a[0] = 9
    assert shared.tolist() == [9.0, 1.0, 2.0] and shared.dtype == np.float64
    assert copied.tolist() == [0.0, 1.0, 2.0] and converted.dtype == np.float32
    with pytest.raises(ValueError, match="can't alias"):
        cr.asarray(a, dtype=cr.float32, copy=False)
    with pytest.raises(ValueError, match="can't alias"):
        cr.asarray([1, 2], copy=False)
    assert cr.asarray([1.0, 2.0]).dtype == np.float32 and cr.asarray(3).dtype == np.int64
    assert cr.asarray(np.float32(1.5)).dtype == np.float32
    assert cr.asarray(a, requires_grad=True).requires_grad


def test_asarray_of_a_tensor() -> None:
    y = cr.ones(2)
    assert cr.asarray(y) is y
    c = cr.asarray(y, copy=True)
    assert c is not y and not np.shares_memory(c.numpy(), y.numpy())
    x = cr.ones(2, requires_grad=True)
    d = cr.asarray(x, dtype=cr.float64)
    d.sum().backward()  # the conversion is differentiable, as torch's ToCopy
    assert x.grad.tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="can't alias"):
        cr.asarray(y, dtype=cr.float64, copy=False)


# --------------------------------------------------------------------------- dtype utilities

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def _cr(name: str) -> Any:
    return cr.bool_ if name == "bool" else getattr(cr, name)


@pytest.mark.parametrize("a", DTYPES)
def test_promote_types_and_can_cast_as_torch(a: str) -> None:
    for b in DTYPES:
        ours = cr.promote_types(_cr(a), _cr(b))
        assert str(ours) == str(torch.promote_types(getattr(torch, a), getattr(torch, b))
                                ).removeprefix("torch."), (a, b)
        assert cr.can_cast(_cr(a), _cr(b)) == torch.can_cast(getattr(torch, a),
                                                              getattr(torch, b)), (a, b)


def _operand(kind: str, dtype: str, lib: Any) -> Any:
    if kind == "int":
        return 3
    if kind == "float":
        return 2.5
    if kind == "bool":
        return True
    d = _cr(dtype) if lib is cr else getattr(torch, dtype)
    return lib.ones((2,) if kind == "dim" else (), dtype=d)


@pytest.mark.parametrize("kind_a", ["dim", "zero"])
@pytest.mark.parametrize("kind_b", ["dim", "zero", "int", "float", "bool"])
def test_result_type_as_torch(kind_a: str, kind_b: str) -> None:
    for a in DTYPES:
        for b in DTYPES:
            ours = cr.result_type(_operand(kind_a, a, cr), _operand(kind_b, b, cr))
            theirs = torch.result_type(_operand(kind_a, a, torch), _operand(kind_b, b, torch))
            assert str(ours) == str(theirs).removeprefix("torch."), (kind_a, a, kind_b, b)
    assert str(cr.result_type(1, 2.0)) == "float32" and str(cr.result_type(1, True)) == "int64"


def test_tensor_predicates() -> None:
    assert cr.is_tensor(cr.ones(1)) and not cr.is_tensor(1) and not cr.is_tensor(np.ones(1))
    assert cr.is_floating_point(cr.ones(1)) and not cr.is_floating_point(cr.tensor([1]))
    assert cr.numel(cr.ones(2, 3)) == 6 and cr.numel(cr.ones(0, 3)) == 0
    assert cr.is_nonzero(cr.tensor([1.5])) and not cr.is_nonzero(cr.tensor(0))
    _errors_like_torch(lambda: cr.is_floating_point(1.0),
                       lambda: torch.is_floating_point(1.0), "must be")
    _errors_like_torch(lambda: cr.numel([1, 2]), lambda: torch.numel([1, 2]), "must be")
    _errors_like_torch(lambda: cr.is_nonzero(cr.tensor([])),
                       lambda: torch.is_nonzero(torch.tensor([])), "no values")
    _errors_like_torch(lambda: cr.is_nonzero(cr.tensor([1, 2])),
                       lambda: torch.is_nonzero(torch.tensor([1, 2])), "more than one value")


# --------------------------------------------------------------------------- broadcasting

@pytest.mark.parametrize("shapes", [[(2, 1), (3,)], [(3,), ()], [(1, 4, 1), (5, 1, 3), (3,)],
                                    [(0, 1), (1, 2)], [(2, 3)]])
def test_broadcast_shapes_and_tensors_as_torch(shapes: list) -> None:
    assert cr.broadcast_shapes(*shapes) == tuple(torch.broadcast_shapes(*shapes))
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal(s) for s in shapes]
    ours = [cr.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    outs, t_outs = cr.broadcast_tensors(*ours), torch.broadcast_tensors(*theirs)
    weights = [rng.standard_normal(t.shape) for t in t_outs]
    sum(((o * cr.tensor(w)).sum() for o, w in zip(outs, weights)), cr.tensor(0.0)).backward()
    sum((o * torch.tensor(w)).sum() for o, w in zip(t_outs, weights)).backward()
    for o, t in zip(outs, t_outs):
        np.testing.assert_array_equal(o.detach().numpy(), t.detach().numpy())
    for x, tx in zip(ours, theirs):
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


def test_broadcast_gradcheck() -> None:
    a = cr.randn(2, 1, dtype=cr.float64, requires_grad=True)
    b = cr.randn(3, dtype=cr.float64, requires_grad=True)
    assert cr.gradcheck(lambda a, b: cr.broadcast_tensors(a, b)[0] * cr.broadcast_tensors(a, b)[1],
                        (a, b))


def test_broadcast_errors() -> None:
    _errors_like_torch(lambda: cr.broadcast_shapes((2, 1), (3, 2)),
                       lambda: torch.broadcast_shapes((2, 1), (3, 2)), "broadcast")
    assert cr.broadcast_shapes(3, (2, 1)) == (2, 3) and cr.broadcast_shapes() == ()
    _errors_like_torch(lambda: cr.broadcast_tensors(cr.ones(2, 1), 1),
                       lambda: torch.broadcast_tensors(torch.ones(2, 1), 1), "argument 1")
    with pytest.raises(RuntimeError, match=r"\[\(2,\), \(3,\)\]"):
        cr.broadcast_tensors(cr.ones(2), cr.ones(3))


# --------------------------------------------------------------------------- inference_mode

def test_inference_mode_as_torch() -> None:
    x = cr.ones(2, requires_grad=True)
    with cr.inference_mode():
        assert not cr.is_grad_enabled() and cr.is_inference_mode_enabled()
        assert not (x * 2).requires_grad
        with cr.inference_mode(False):
            assert cr.is_grad_enabled() and not cr.is_inference_mode_enabled()
        assert not cr.is_grad_enabled()
    assert cr.is_grad_enabled() and not cr.is_inference_mode_enabled()

    @cr.inference_mode
    def bare() -> bool:
        return cr.is_grad_enabled()

    @cr.inference_mode(mode=True)
    def called() -> Any:
        return x * 2

    assert bare() is False and not called().requires_grad and cr.is_grad_enabled()


# --------------------------------------------------------------------------- print options

def test_set_printoptions() -> None:
    try:
        values = [1e-5, 1e5, 1.5]
        cr.set_printoptions(sci_mode=True)
        torch.set_printoptions(sci_mode=True)
        assert repr(cr.tensor(values)) == repr(torch.tensor(values))
        cr.set_printoptions(sci_mode=False)
        torch.set_printoptions(sci_mode=False)
        assert repr(cr.tensor(values)) == repr(torch.tensor(values))
        assert repr(cr.tensor([1.0, 2.0])) == "tensor([1., 2.])"
        cr.set_printoptions(threshold=5, edgeitems=1)
        assert repr(cr.arange(10.0)) == "tensor([0.,  ..., 9.])"  # (as PyTorch)
        cr.set_printoptions(profile="full")
        assert "..." not in repr(cr.arange(2000.0))
        cr.set_printoptions(profile="default")
        assert "..." in repr(cr.arange(2000.0))
        cr.set_printoptions(precision=2)
        assert repr(cr.tensor([1.23456])) == "tensor([1.23])"
        cr.set_printoptions(profile="short")
        assert repr(cr.tensor([1.23456])) == "tensor([1.23])"
        cr.set_printoptions(linewidth=20, profile="default")
        assert max(len(line) for line in repr(cr.arange(20.0)).splitlines()) <= 20
        with pytest.raises(ValueError, match="profile"):
            cr.set_printoptions(profile="long")
        with pytest.raises(TypeError, match="precision"):
            cr.set_printoptions(precision="3")
    finally:
        cr.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")
    assert repr(cr.tensor([1.5, 2.0])) == "tensor([1.5000, 2.0000])"  # (as PyTorch prints)


# --------------------------------------------------------------------------- Tensor layout

VIEWS = [lambda t: t, lambda t: t.t(), lambda t: t[:, 1:], lambda t: t[1], lambda t: t[::2],
         lambda t: t[:, ::2], lambda t: t.unsqueeze(0).expand(2, 3, 4), lambda t: t[1:, 2],
         lambda t: t.reshape(12)]


@pytest.mark.parametrize("view", VIEWS)
def test_layout_as_torch(view: Any) -> None:
    ours = view(cr.tensor(np.arange(12.0).reshape(3, 4)))
    theirs = view(torch.arange(12.0, dtype=torch.float64).reshape(3, 4))
    assert ours.stride() == theirs.stride()
    assert ours.storage_offset() == theirs.storage_offset()
    assert ours.is_contiguous() == theirs.is_contiguous()
    assert ours.nbytes == theirs.nbytes and ours.itemsize == theirs.itemsize
    for d in range(-ours.ndim, ours.ndim):
        assert ours.stride(d) == theirs.stride(d)


def test_tensor_small_attributes() -> None:
    x = cr.ones(2, 3)
    assert x.short().dtype == np.int16 and x.nelement() == 6 and x.ndimension() == 2
    assert not x.is_complex() and x.is_cpu and not x.is_cuda and x.device == "cpu"
    assert x.element_size() == 4 and x.itemsize == 4 and x.nbytes == 24
    assert x.is_same_size(cr.zeros(2, 3)) and not x.is_same_size(cr.zeros(3, 2))
    with pytest.raises(TypeError, match="must be a tensor"):
        x.is_same_size([1, 2])
    _errors_like_torch(lambda: x.stride(2), lambda: torch.ones(2, 3).stride(2), "")


def test_random_argument_forms_as_torch() -> None:
    cr.manual_seed(13)
    assert set(np.unique(cr.zeros(500).random_(to=4).numpy())) == {0.0, 1.0, 2.0, 3.0}
    high = cr.zeros(500).random_(2, None).numpy()
    assert high.min() >= 2 and high.max() > 2 ** 20
    assert set(np.unique(cr.zeros(300, dtype=cr.uint8).random_(250, 256).numpy())) == set(
        range(250, 256))
    _errors_like_torch(lambda: cr.zeros(3).random_(0), lambda: torch.zeros(3).random_(0),
                       "less than")
    _errors_like_torch(lambda: cr.zeros(3, dtype=cr.uint8).random_(-1, 4),
                       lambda: torch.zeros(3, dtype=torch.uint8).random_(-1, 4), "bounds")
    _errors_like_torch(lambda: cr.zeros(3, dtype=cr.int8).random_(0, 1000),
                       lambda: torch.zeros(3, dtype=torch.int8).random_(0, 1000), "bounds")
    with pytest.raises(TypeError, match="random_"):
        cr.zeros(3).random_(1, 2, 3)


def test_stride_of_a_0d_tensor() -> None:
    assert cr.tensor(1.0).stride() == torch.tensor(1.0).stride() == ()
    _errors_like_torch(lambda: cr.tensor(1.0).stride(0), lambda: torch.tensor(1.0).stride(0),
                       "0-d")


# --------------------------------------------------------------------------- review regressions

def _inclusion_probabilities(w: np.ndarray, k: int) -> np.ndarray:
    """P(category i is among k drawn one at a time without replacement, each with probability
    proportional to its weight among those left), by summing over every ordered draw."""
    import itertools

    out = np.zeros(len(w))
    for seq in itertools.permutations(range(len(w)), k):
        p, left = 1.0, w.sum()
        for i in seq:
            p, left = p * w[i] / left, left - w[i]
        out[list(seq)] += p
    return out


def test_multinomial_without_replacement_inclusion_probabilities() -> None:
    w = np.array([0.5, 1.0, 2.0, 4.0, 0.25])
    cr.manual_seed(21)
    rows = cr.multinomial(cr.tensor(np.tile(w, (N, 1))), 3).numpy()  # 2-D
    ones = np.stack([cr.multinomial(cr.tensor(w), 3).numpy() for _ in range(N // 20)])  # 1-D
    exact = _inclusion_probabilities(w, 3)
    for draws in (rows, ones):
        seen = np.array([(draws == c).any(1).mean() for c in range(len(w))])
        np.testing.assert_allclose(seen, exact, atol=5 * np.sqrt(0.25 / len(draws)))


def test_multinomial_argument_errors() -> None:
    _errors_like_torch(lambda: cr.multinomial(cr.ones(3), 2.0),
                       lambda: torch.multinomial(torch.ones(3), 2.0), "")
    _errors_like_torch(lambda: cr.multinomial(cr.ones(2, 0), 1, True),
                       lambda: torch.multinomial(torch.ones(2, 0), 1, True), "")


def test_poisson_of_0d_and_float16() -> None:
    cr.manual_seed(22)
    s = cr.poisson(cr.tensor(3.0))
    assert s.shape == () and s.dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # (no overflow warning from the rate check)
        assert cr.poisson(cr.tensor([2.0], dtype=cr.float16)).dtype == np.float16


def test_bernoulli_scalar_p_any_dtype_as_torch() -> None:
    cr.manual_seed(23)
    for dtype in ("int64", "uint8", "bool"):
        ours = cr.bernoulli(cr.zeros(N, dtype=getattr(cr, dtype)), 0.25)
        assert ours.dtype == torch.bernoulli(torch.zeros(3, dtype=getattr(torch, dtype)),
                                             0.25).numpy().dtype
        _mean_close(ours.numpy().astype(float), 0.25, np.sqrt(0.1875), f"bernoulli {dtype}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match=r"\[0, 1\], got nan"):
            cr.bernoulli(cr.full((2,), float("nan")))


def test_bernoulli_in_place_with_tensor_p() -> None:
    cr.manual_seed(24)
    p = cr.tensor([0.1, 0.5, 0.9], requires_grad=True)
    x = cr.zeros(N, 3, dtype=cr.int64)
    x.bernoulli_(p)
    np.testing.assert_allclose(x.numpy().mean(0), [0.1, 0.5, 0.9], atol=5 * np.sqrt(0.25 / N))
    y = cr.zeros(2, 3, dtype=cr.float64).bernoulli_(p)
    ty = torch.zeros(2, 3, dtype=torch.float64).bernoulli_(
        torch.tensor([0.1, 0.5, 0.9], requires_grad=True))
    assert y.requires_grad == ty.requires_grad and y.dtype == np.float64
    y.sum().backward()
    assert p.grad.tolist() == [0.0, 0.0, 0.0]
    _errors_like_torch(lambda: cr.zeros(2, 3).bernoulli_(cr.full((2,), 0.5)),
                       lambda: torch.zeros(2, 3).bernoulli_(torch.full((2,), 0.5)), "")
    _errors_like_torch(lambda: cr.zeros(3).bernoulli_(cr.ones(3, dtype=cr.int64)),
                       lambda: torch.zeros(3).bernoulli_(torch.ones(3, dtype=torch.int64)), "")


def test_random_bounds_of_float16() -> None:
    _errors_like_torch(lambda: cr.zeros(3, dtype=cr.float16).random_(0, 70000),
                       lambda: torch.zeros(3, dtype=torch.float16).random_(0, 70000), "bounds")
    x = cr.zeros(1000, dtype=cr.float16).random_(0, 65505)
    assert np.isfinite(x.numpy()).all()


def test_rng_state_inside_vmap_same() -> None:
    def f(x: cr.Tensor) -> cr.Tensor:
        state = cr.get_rng_state()
        a = cr.rand(1)
        cr.set_rng_state(state)
        return x + a - cr.rand(1)

    assert cr.func.vmap(f, randomness="same")(cr.zeros(3, 1)).tolist() == [[0.0]] * 3


def test_checkpoint_saves_the_generator_without_json(monkeypatch: Any) -> None:
    from chainrule.utils.checkpoint import checkpoint

    def refuse(*_: Any) -> None:
        raise AssertionError("checkpoint went through the JSON state")

    monkeypatch.setattr(cr.Generator, "get_state", refuse)
    monkeypatch.setattr(cr.Generator, "set_state", refuse)
    x = cr.ones(4, 3, requires_grad=True)
    cr.manual_seed(25)
    y = checkpoint(lambda t: cr.nn.functional.dropout(t, 0.5), x, use_reentrant=False)
    after = cr.rand(2)
    y.sum().backward()  # (the recomputation draws the same mask, and leaves the stream alone)
    np.testing.assert_array_equal(x.grad.numpy(), (y.detach().numpy() != 0) * 2.0)
    later = cr.rand(2)
    cr.manual_seed(25)
    cr.nn.functional.dropout(cr.ones(4, 3), 0.5)
    assert cr.equal(after, cr.rand(2)) and cr.equal(later, cr.rand(2))


@pytest.mark.parametrize("args, dtype", [((0.5, 2.5, 3), "int64"), ((-1.7, 2.2, 4), "int32")])
def test_logspace_integer_dtype_truncates_the_ends(args: tuple, dtype: str) -> None:
    ours = cr.logspace(*args, dtype=getattr(cr, dtype))
    assert ours.tolist() == torch.logspace(*args, dtype=getattr(torch, dtype)).tolist()
    _errors_like_torch(lambda: cr.logspace(0, 1, 3, dtype=cr.bool),
                       lambda: torch.logspace(0, 1, 3, dtype=torch.bool), "bool")


def test_asarray_of_a_0d_array_copies_as_torch() -> None:
    for copy in (None, True):
        a = np.array(2.5)
        ours = cr.asarray(a, copy=copy)
        theirs = torch.asarray(a, copy=copy)
        a[()] = 7.0
        assert ours.item() == theirs.item() == 2.5
    a = np.array(2.5)
    assert np.shares_memory(cr.asarray(a, copy=False).numpy(), a)  # (asked for: shared)


@pytest.mark.parametrize("sci", [True, False])
@pytest.mark.parametrize("values", [[-1.5, 2.0, float("nan")], [-1.5, 2e9, float("nan")],
                                    [-1.0, 2e9, float("inf")], [1e-8, 1e8], [[-1.5, 2.0],
                                                                              [3.0, 4.0]],
                                    3e9, [1.5, 2.25]])
def test_forced_sci_mode_prints_as_torch(sci: bool, values: Any) -> None:
    try:
        cr.set_printoptions(sci_mode=sci)
        torch.set_printoptions(sci_mode=sci)
        for dtype in ("float32", "float16"):
            if dtype == "float16" and np.nanmax(np.abs(values)) > 6e4:
                continue
            ours = repr(cr.tensor(values, dtype=getattr(cr, dtype)))
            theirs = repr(torch.tensor(values, dtype=getattr(torch, dtype)))
            assert ours == theirs.replace("torch.", "chainrule."), (ours, theirs)
    finally:
        cr.set_printoptions(profile="default")
        torch.set_printoptions(profile="default")


@pytest.mark.parametrize("make", [lambda m: m.zeros(0, 3), lambda m: m.zeros(0),
                                  lambda m: m.zeros(2, 0, dtype=m.bool),
                                  lambda m: m.zeros(0, dtype=m.int64),
                                  lambda m: m.zeros(0, 2, dtype=m.float16),
                                  lambda m: m.zeros(0, 3, requires_grad=True)])
def test_repr_and_strides_of_empty_tensors_as_torch(make: Any) -> None:
    ours, theirs = make(cr), make(torch)
    assert repr(ours) == repr(theirs).replace("torch.", "chainrule.")
    assert ours.stride() == theirs.stride()
