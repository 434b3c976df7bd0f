"""Tensors print as PyTorch 2.13 prints them: the same digits, notation, widths, wrapping,
summaries and nesting, under every ``set_printoptions`` option, compared string for string
with torch's own repr (chainrule's suffixes, ``dtype=chainrule.float64`` and
``grad_fn=<MulBackward>``, are compared separately)."""

from __future__ import annotations

import re
import timeit
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import chainrule as cr

torch = pytest.importorskip("torch")

NAN, INF = float("nan"), float("inf")
FLOATS = ["float16", "float32", "float64"]
INTEGERS = ["int8", "int16", "int32", "int64", "uint8"]
_REPR = re.compile(r"tensor\((?P<body>.*?)(?P<suffixes>,\s+(size|dtype|requires_grad|grad_fn)="
                   r".*)?\)", re.DOTALL)


@pytest.fixture(autouse=True)
def default_options() -> Iterator[None]:
    yield
    cr.set_printoptions(profile="default")
    torch.set_printoptions(profile="default")


def set_both(**options: Any) -> None:
    cr.set_printoptions(**options)
    torch.set_printoptions(**options)


def split(text: str) -> tuple[str, list[str]]:
    """A repr's body of numbers and its suffixes (``size=(0, 3)``, ``dtype=...``)."""
    match = _REPR.fullmatch(text)
    assert match, text
    suffixes = re.split(r",\s+", (match["suffixes"] or "").strip(", \n"))
    return match["body"], [s for s in suffixes if s]


def assert_prints_as_torch(values: Any, dtype: str = "float32") -> None:
    """``repr`` and ``str`` of a tensor of ``values`` match torch's: the body exactly, the
    suffixes with chainrule's names, and the whole text exactly when the suffixes read the
    same in both (default dtype, int64, bool)."""
    array = np.asarray(values).astype(dtype)
    ours, theirs = repr(cr.tensor(array)), repr(torch.from_numpy(array.copy()))
    assert str(cr.tensor(array)) == ours
    assert split(ours)[0] == split(theirs)[0], f"\n{ours}\n{theirs}"
    assert split(ours)[1] == [s.replace("torch.", "chainrule.") for s in split(theirs)[1]]
    if "torch." not in theirs:
        assert ours == theirs, f"\n{ours}\n{theirs}"


# --------------------------------------------------------------------------- numbers

CASES = {
    "fixed": [1.5, 2.0],
    "integer-valued": [1.0, 2.0, -3.0],
    "integer-valued, wide range": [1.0, 2000.0],
    "large integer-valued": [123456789.0, 1.0],
    "small": [1e-5, 1.0],
    "huge": [1e10, -1.0],
    "tiny": [1e-10, 3e-10],
    "mixed magnitudes": [1e-3, 0.5, 999.0],
    "ratio just under 1000": [0.1, 99.9],
    "negative": [-0.25, -1.75, 3.5],
    "all zero": [0.0, 0.0, 0.0],
    "negative zero": [-0.0, 1.5],
    "negative zero, integer-valued": [-0.0, 1.0],
    "nan and inf": [NAN, 1.5, INF, -INF],
    "nan with integer-valued": [NAN, 1.0, -INF],
    "only non-finite": [NAN, INF, -INF],
    "nan with small": [1e-5, NAN],
    "nan alone": [NAN],
    "3-digit exponent": [1e-200, 1e200],
    "float32 rounding": [0.1, 0.2, 0.3],
    "2-d": [[1.5, -2.0], [3.0, 4.25]],
    "3-d": [[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]],
    "4-d": np.arange(24.0).reshape(1, 2, 3, 4) - 7.5,
}


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("name", list(CASES))
def test_float_tensors_print_as_torch(name: str, dtype: str) -> None:
    values = np.asarray(CASES[name], dtype=np.float64)
    largest = np.abs(values[np.isfinite(values)], dtype=np.float64).max(initial=0.0)
    if dtype == "float16" and largest > 6e4:  # (scaled into float16's range)
        values = values / (1e190 if largest > 1e100 else 1e6)
    with np.errstate(over="ignore", under="ignore"):
        assert_prints_as_torch(values, dtype)


@pytest.mark.parametrize("value", [1.5, 0.0, -0.0, 2.0, 1e-7, 3e9, NAN, -INF, 123.456])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_zero_dim_tensors_print_as_torch(value: float, dtype: str) -> None:
    assert_prints_as_torch(value, dtype)


@pytest.mark.parametrize("dtype", INTEGERS)
def test_integer_tensors_print_as_torch(dtype: str) -> None:
    info = np.iinfo(dtype)
    for values in ([1, 2, 3], [info.min, 0, info.max], [[5, -10], [100, 7]], 42, [0]):
        assert_prints_as_torch(np.clip(values, info.min, info.max), dtype)


def test_bool_tensors_print_as_torch() -> None:
    for values in ([True, False], [[True], [True]], False, [False] * 30):
        assert_prints_as_torch(values, "bool")


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0), (3, 0, 2), (1, 1, 0)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool", "uint8"])
def test_empty_tensors_print_as_torch(shape: tuple[int, ...], dtype: str) -> None:
    assert_prints_as_torch(np.zeros(shape), dtype)
    text = repr(cr.zeros(*shape))
    assert text.startswith("tensor([]") and ("size=" in text) == (len(shape) != 1)


def test_long_rows_wrap_and_nest_as_torch() -> None:
    rng = np.random.default_rng(0)
    for shape in [(40,), (3, 30), (2, 3, 25), (2, 2, 2, 17)]:
        assert_prints_as_torch(rng.standard_normal(shape), "float32")
        assert_prints_as_torch(rng.standard_normal(shape) * 1e6, "float64")
        assert_prints_as_torch(rng.integers(-1000, 1000, shape), "int64")


# --------------------------------------------------------------------------- summaries

def test_big_tensors_are_summarised_as_torch() -> None:
    rng = np.random.default_rng(1)
    for shape in [(1001,), (5000,), (40, 40), (3, 400), (400, 3), (12, 11, 10), (5, 6, 7, 8)]:
        assert_prints_as_torch(rng.standard_normal(shape), "float32")
        assert_prints_as_torch(rng.integers(-9, 9, shape), "int32")
    text = repr(cr.arange(2000.0))
    assert "..." in text and text == repr(torch.arange(2000.0))


def test_summary_ignores_the_hidden_values() -> None:
    """The format is chosen from the values shown: a huge hidden one does not force e+."""
    values = np.ones(2000)
    values[1000] = 1e20
    assert_prints_as_torch(values, "float64")
    assert "e+" not in repr(cr.tensor(values))


def test_huge_tensor_prints_fast() -> None:
    big = cr.zeros(10_000_000)
    assert timeit.timeit(lambda: repr(big), number=1) < 0.5
    cube = cr.zeros(100, 100, 1000)
    assert timeit.timeit(lambda: repr(cube), number=1) < 0.5


def test_thousand_elements_print_in_about_a_millisecond() -> None:
    t = cr.tensor(np.random.default_rng(2).standard_normal(1000))
    best = min(timeit.repeat(lambda: repr(t), number=20, repeat=5)) / 20
    assert best < 0.004, f"{best * 1e3:.2f} ms"


# --------------------------------------------------------------------------- print options

OPTION_CASES = [
    {"precision": 0}, {"precision": 2}, {"precision": 8}, {"precision": 12},
    {"threshold": 0}, {"threshold": 5}, {"threshold": 5, "edgeitems": 1},
    {"threshold": 10, "edgeitems": 0}, {"edgeitems": 0}, {"edgeitems": 1, "threshold": 3},
    {"linewidth": 10}, {"linewidth": 30}, {"linewidth": 200}, {"linewidth": 0},
    {"sci_mode": True}, {"sci_mode": False}, {"profile": "short"}, {"profile": "full"},
    {"profile": "short", "precision": 6}, {"sci_mode": True, "precision": 1, "linewidth": 25},
]
OPTION_VALUES = [[1.5, 2.0, -3.25], [1e-5, 1.0, NAN], [1.0, 2.0, 3.0], [1e9, 1.0],
                 [0.0, -0.0], [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2],
                 np.arange(30.0).reshape(5, 6) / 7, np.arange(60.0).reshape(3, 4, 5) - 30.0,
                 2.5, np.linspace(-1, 1, 1500)]


@pytest.mark.parametrize("options", OPTION_CASES, ids=str)
def test_print_options_act_as_torch(options: dict[str, Any]) -> None:
    set_both(**options)
    for values in OPTION_VALUES:
        for dtype in ("float32", "float64"):
            assert_prints_as_torch(values, dtype)
        assert_prints_as_torch(np.round(np.nan_to_num(np.asarray(values)) * 10), "int64")


def test_edgeitems_zero_prints_the_shape() -> None:
    set_both(edgeitems=0, threshold=4)
    assert repr(cr.arange(10.0)) == "tensor([...], size=(10,))"
    assert repr(cr.ones(2, 3, 4)) == "tensor([...], size=(2, 3, 4))"
    assert repr(cr.tensor(2.5)) == "tensor(2.5000, size=())"
    assert repr(cr.ones(2)) == "tensor([1., 1.], size=(2,))"


def test_sci_mode_resets_with_every_call() -> None:
    cr.set_printoptions(sci_mode=True)
    assert repr(cr.tensor([1.5])) == "tensor([1.5000e+00])"
    cr.set_printoptions(precision=2)
    assert repr(cr.tensor([1.5])) == "tensor([1.50])"


def test_narrow_linewidth_keeps_lines_short() -> None:
    set_both(linewidth=24)
    text = repr(cr.arange(40.0))
    assert max(len(line) for line in text.splitlines()) <= 24
    assert text == repr(torch.arange(40.0))


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError, match="profile"):
        cr.set_printoptions(profile="long")
    with pytest.raises(TypeError, match="precision"):
        cr.set_printoptions(precision="3")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="linewidth"):
        cr.set_printoptions(linewidth=-1)


# --------------------------------------------------------------------------- suffixes

def test_requires_grad_and_grad_fn_suffixes() -> None:
    x = cr.tensor([1.5, -2.0, 3.0], requires_grad=True)
    tx = torch.tensor([1.5, -2.0, 3.0], requires_grad=True)
    assert repr(x) == repr(tx) == "tensor([ 1.5000, -2.0000,  3.0000], requires_grad=True)"
    y, ty = x * 2, tx * 2
    assert split(repr(y))[0] == split(repr(ty))[0]
    assert split(repr(y))[1] == ["grad_fn=<MulBackward>"]
    x64 = cr.tensor([[1e-6, 2.0]], dtype=cr.float64, requires_grad=True)
    t64 = torch.tensor([[1e-6, 2.0]], dtype=torch.float64, requires_grad=True)
    assert repr(x64) == repr(t64).replace("torch.", "chainrule.")


def test_suffixes_wrap_at_linewidth_as_torch() -> None:
    """A suffix that would pass ``linewidth`` starts a new line under the first number."""
    values = np.arange(8.0, dtype=np.float32) * 1.5
    ours = repr(cr.tensor(values, requires_grad=True))
    assert ours == repr(torch.tensor(values, requires_grad=True))
    assert ours.endswith(",\n       requires_grad=True)")
    wide = repr(cr.tensor(np.arange(6.0) + 0.5, dtype=cr.float64))
    assert wide.endswith("],\n       dtype=chainrule.float64)")
    assert max(len(line) for line in wide.splitlines()) <= 80


def test_parameter_repr_as_torch() -> None:
    values = np.array([[0.25, -1.0], [2.0, 8.5]], dtype=np.float32)
    ours = repr(cr.nn.Parameter(cr.tensor(values)))
    assert ours == repr(torch.nn.Parameter(torch.from_numpy(values)))
    assert ours.startswith("Parameter containing:\ntensor([[ 0.2500, -1.0000],")


def test_views_print_their_own_values() -> None:
    base = np.arange(24.0, dtype=np.float32).reshape(4, 6) / 4
    t, tt = cr.tensor(base), torch.tensor(base)
    for ours, theirs in [(t.t(), tt.t()), (t[:, ::2], tt[:, ::2]), (t[1], tt[1])]:
        assert repr(ours) == repr(theirs)


# --------------------------------------------------------------------------- random sweep

def random_case(rng: np.random.Generator) -> tuple[np.ndarray, str, dict[str, Any]]:
    """A random tensor (0-d to 4-d, any dtype, magnitudes 1e-10..1e10, specials mixed in)
    and random print options."""
    ndim = int(rng.integers(0, 5))
    shape = tuple(int(n) for n in rng.integers(1, 9 if ndim < 3 else 5, size=ndim))
    if rng.random() < 0.1:
        shape = (int(rng.integers(900, 2500)),)
    dtype = str(rng.choice(FLOATS + INTEGERS + ["bool"]))
    size = int(np.prod(shape))
    scale = [1.0, 10.0 ** rng.uniform(-10, 10, size), 10.0 ** rng.integers(-10, 11), 0.0][
        int(rng.integers(0, 4))]
    values = rng.standard_normal(size) * scale
    if rng.random() < 0.3:
        values = np.round(values * 10.0 ** rng.integers(0, 9))
    if dtype in FLOATS and rng.random() < 0.3:
        spots = rng.integers(0, size, size=2)
        values[spots] = rng.choice([NAN, INF, -INF, -0.0, 0.0], size=2)
    if dtype == "bool":
        values = values > 0
    elif dtype in INTEGERS:
        info = np.iinfo(dtype)
        values = np.clip(np.nan_to_num(values), info.min, info.max)
    with np.errstate(over="ignore", invalid="ignore"):
        array = values.astype(dtype).reshape(shape)
    choices = {"precision": [0, 1, 2, 6, 10], "threshold": [0, 5, 20, 100],
               "edgeitems": [0, 1, 2, 4], "linewidth": [10, 20, 40, 120],
               "sci_mode": [True, False], "profile": ["short", "full"]}
    options = {name: options[int(rng.integers(0, len(options)))]
               for name, options in choices.items() if rng.random() < 0.2}
    return array, dtype, options


@pytest.mark.parametrize("seed", range(4))
def test_random_tensors_print_as_torch(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(300):
        array, dtype, options = random_case(rng)
        set_both(**options)
        assert_prints_as_torch(array, dtype)
        set_both(profile="default")
