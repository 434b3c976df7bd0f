"""Tests of chainrule.data: IDX files, MNIST readers, datasets, DataLoader, demo data."""

from __future__ import annotations

import gzip
import math
import sys
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import chainrule as cr
from chainrule.data import (
    MNIST,
    DataLoader,
    Dataset,
    FashionMNIST,
    Subset,
    TensorDataset,
    default_collate,
    digits_images,
    load_digits,
    make_moons,
    make_sine_sequences,
    make_spirals,
    random_split,
    read_idx,
    to_tensor_dataset,
    write_idx,
)


def as_np(x: Any) -> np.ndarray:
    return np.asarray(x.numpy())


# ----------------------------------------------------------------------------- IDX files


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path: Path, suffix: str, dtype: type) -> None:
    rng = np.random.default_rng(0)
    arr: np.ndarray = (rng.normal(size=(3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / f"a-idx3{suffix}"
    write_idx(path, arr)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    assert back.dtype.isnative
    assert back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, arr)
    back[0, 0, 0] = 1  # writable


def test_idx_one_dim_and_scalar_shapes(tmp_path: Path) -> None:
    write_idx(tmp_path / "v", np.arange(7, dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(tmp_path / "v"), np.arange(7))
    write_idx(tmp_path / "e", np.zeros((0, 28, 28), np.uint8))
    assert read_idx(tmp_path / "e").shape == (0, 28, 28)


def test_idx_header_layout_is_big_endian(tmp_path: Path) -> None:
    write_idx(tmp_path / "x", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32))
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == bytes([0, 0, 0x0C, 2])
    assert raw[4:12] == bytes([0, 0, 0, 2, 0, 0, 0, 3])
    assert raw[12:16] == bytes([0, 0, 0, 1])
    assert len(raw) == 12 + 6 * 4
    # the .gz variant really is gzip, holding the same bytes
    write_idx(tmp_path / "x.gz", np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int32))
    assert gzip.decompress((tmp_path / "x.gz").read_bytes()) == raw


def test_write_idx_rejects_dtypes_without_code(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="int64"):
        write_idx(tmp_path / "x", np.zeros(3, np.int64))


def test_read_idx_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"\x00\x00", "truncated header"),
        (bytes([1, 0, 8, 1, 0, 0, 0, 1, 7]), "bad magic"),
        (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]), "bad magic"),
        (bytes([0, 0, 8, 3, 0, 0, 0, 2]), "truncated header"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2, 3]), "truncated data"),
        (bytes([0, 0, 0x0C, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0]), "truncated data"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 1, 1, 2]), "unexpected bytes"),
    ],
)
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_read_idx_malformed(tmp_path: Path, raw: bytes, message: str, suffix: str) -> None:
    path = tmp_path / f"bad-file{suffix}"
    path.write_bytes(gzip.compress(raw) if suffix else raw)
    with pytest.raises(ValueError, match=message) as info:
        read_idx(path)
    assert "bad-file" in str(info.value)


def test_read_idx_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "broken.gz"
    path.write_bytes(b"this is not gzip data")
    with pytest.raises(ValueError, match=r"broken\.gz"):
        read_idx(path)


# ----------------------------------------------------------------------------- MNIST


def _write_mnist(folder: Path, n_train: int = 6, n_test: int = 4, gz: bool = False) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    ext = ".gz" if gz else ""
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(folder / f"{prefix}-images-idx3-ubyte{ext}", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{ext}", labels)


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reads_items(tmp_path: Path, gz: bool) -> None:
    _write_mnist(tmp_path, gz=gz)
    train, test = MNIST(tmp_path), MNIST(tmp_path, train=False)
    assert (len(train), len(test)) == (6, 4)
    assert train.data.dtype == np.uint8
    assert train.data.shape == (6, 28, 28)
    assert train.targets.dtype == np.int64
    np.testing.assert_array_equal(train.targets, np.arange(6))
    image, label = train[3]
    assert isinstance(label, int)
    assert label == 3
    assert image.shape == (1, 28, 28)
    arr = as_np(image)
    assert arr.dtype == np.float32
    assert arr.min() >= 0.0
    assert arr.max() <= 1.0
    np.testing.assert_allclose(arr[0], train.data[3] / 255.0, rtol=1e-6)
    first = as_np(train[0][0])
    assert first[0, 0, 0] == 0.0
    assert first[0, 0, 1] == 1.0


def test_mnist_torchvision_layout_and_fashion(tmp_path: Path) -> None:
    _write_mnist(tmp_path / "FashionMNIST" / "raw", gz=True)
    ds = FashionMNIST(tmp_path, train=False)
    assert len(ds) == 4
    assert ds.classes[9] == "Ankle boot"
    with pytest.raises(FileNotFoundError):
        MNIST(tmp_path)  # MNIST looks in MNIST/raw, not FashionMNIST/raw


def test_mnist_missing_files_message(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    MNIST(tmp_path)  # the training split is complete
    with pytest.raises(FileNotFoundError) as info:
        MNIST(tmp_path, train=False)
    msg = str(info.value)
    assert "t10k-labels-idx1-ubyte" in msg
    assert "t10k-labels-idx1-ubyte.gz" in msg
    assert "t10k-images" not in msg.split("Nothing")[0]  # only the missing one is reported
    assert str(tmp_path) in msg
    assert "put them in" in msg


def test_mnist_all_missing_names_both(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        FashionMNIST(tmp_path / "empty")
    msg = str(info.value).split("Nothing")[0]
    assert "train-images-idx3-ubyte" in msg
    assert "train-labels-idx1-ubyte" in msg


def test_mnist_count_mismatch(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match=r"6 images but .*train-labels-idx1-ubyte has 5"):
        MNIST(tmp_path)


def test_mnist_bad_magic_and_truncation(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte"
    labels.write_bytes(b"\x1f\x8b" + labels.read_bytes()[2:])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte: bad magic"):
        MNIST(tmp_path)
    images = tmp_path / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-10])
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte: truncated data"):
        MNIST(tmp_path, train=False)


def test_mnist_wrong_kind_of_file(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((6, 784), np.uint8))
    with pytest.raises(ValueError, match=r"shape \(n, rows, cols\)"):
        MNIST(tmp_path)
    _write_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.full(6, 10, np.uint8))
    with pytest.raises(ValueError, match="label 10 out of range"):
        MNIST(tmp_path)


def test_mnist_loader_fast_path_matches_items(tmp_path: Path) -> None:
    _write_mnist(tmp_path, n_train=10)
    ds = MNIST(tmp_path)
    loader = DataLoader(ds, batch_size=4, shuffle=True, seed=0)
    slow = DataLoader(ds, batch_size=4, shuffle=True, seed=0, collate_fn=default_collate)
    for (x, y), (xs, ys) in zip(loader, slow, strict=True):
        assert x.shape[1:] == (1, 28, 28)
        assert as_np(x).dtype == np.float32
        assert as_np(y).dtype == np.int64
        np.testing.assert_array_equal(as_np(x), as_np(xs))
        np.testing.assert_array_equal(as_np(y), as_np(ys))


def test_mnist_transforms(tmp_path: Path) -> None:
    _write_mnist(tmp_path)
    ds = MNIST(tmp_path, transform=lambda img: as_np(img).sum(), target_transform=lambda t: -t)
    value, label = ds[2]
    assert label == -2
    assert value == pytest.approx(ds.data[2].sum() / 255.0, rel=1e-5)
    _, y = next(iter(DataLoader(ds, batch_size=3)))
    np.testing.assert_array_equal(as_np(y), [0, -1, -2])


# ----------------------------------------------------------------------------- datasets


def test_tensor_dataset_items_and_size_check() -> None:
    x = cr.tensor(np.arange(12, dtype=np.float32).reshape(6, 2))
    y = cr.tensor(np.arange(6, dtype=np.int64))
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[4]
    np.testing.assert_array_equal(as_np(xi), [8.0, 9.0])
    assert int(as_np(yi)) == 4
    with pytest.raises(ValueError, match=r"\[6, 5\]"):
        TensorDataset(x, cr.tensor(np.arange(5)))
    with pytest.raises(ValueError, match="at least one"):
        TensorDataset()
    with pytest.raises(ValueError, match="0-d"):
        TensorDataset(cr.tensor(np.float32(1.0)))


def test_tensor_dataset_accepts_numpy_arrays() -> None:
    ds = TensorDataset(np.arange(10.0).reshape(5, 2), np.arange(5))
    (x, y) = next(iter(DataLoader(ds, batch_size=5)))
    np.testing.assert_array_equal(as_np(x), np.arange(10.0).reshape(5, 2))
    np.testing.assert_array_equal(as_np(y), np.arange(5))


def test_subset_and_random_split_ints() -> None:
    ds = TensorDataset(np.arange(10))
    sub = Subset(ds, [7, 2, 5])
    assert len(sub) == 3
    assert int(sub[1][0]) == 2
    assert int(sub[-1][0]) == 5
    parts = random_split(ds, [6, 3, 1], seed=0)
    assert [len(p) for p in parts] == [6, 3, 1]
    seen = np.concatenate([p.indices for p in parts])
    assert sorted(seen.tolist()) == list(range(10))  # disjoint and covering
    again = random_split(ds, [6, 3, 1], seed=0)
    for a, b in zip(parts, again, strict=True):
        np.testing.assert_array_equal(a.indices, b.indices)
    other = random_split(ds, [6, 3, 1], seed=1)
    assert any(not np.array_equal(a.indices, b.indices) for a, b in zip(parts, other, strict=True))


@pytest.mark.parametrize(
    ("n", "fractions", "sizes"),
    [(10, [0.8, 0.2], [8, 2]), (5, [0.5, 0.5], [3, 2]), (10, [0.1, 0.2, 0.7], [1, 2, 7]),
     (7, [1 / 3, 1 / 3, 1 / 3], [3, 2, 2])],
)  # fmt: skip
def test_random_split_fractions(n: int, fractions: list[float], sizes: list[int]) -> None:
    parts = random_split(TensorDataset(np.arange(n)), fractions, generator=np.random.default_rng(0))
    assert [len(p) for p in parts] == sizes
    assert len(set(np.concatenate([p.indices for p in parts]).tolist())) == n


def test_random_split_errors() -> None:
    ds = TensorDataset(np.arange(10))
    with pytest.raises(ValueError, match=r"sum of input lengths \(9\)"):
        random_split(ds, [5, 4], seed=0)
    with pytest.raises(ValueError, match="fractions summing to 1"):
        random_split(ds, [0.5, 0.4], seed=0)
    with pytest.raises(ValueError, match="not both"):
        random_split(ds, [5, 5], seed=0, generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match="np_generator"):
        random_split(ds, [5, 5], generator=42)


# ----------------------------------------------------------------------------- DataLoader


def _xy(n: int = 10) -> TensorDataset:
    x = np.arange(2 * n, dtype=np.float32).reshape(n, 2)
    return to_tensor_dataset(x, np.arange(n, dtype=np.int64))


def _labels(loader: DataLoader) -> list[list[int]]:
    return [as_np(y).tolist() for _, y in loader]


def test_loader_batches_in_order() -> None:
    loader = DataLoader(_xy(10), batch_size=4)
    assert len(loader) == 3
    batches = list(loader)
    assert [b[0].shape for b in batches] == [(4, 2), (4, 2), (2, 2)]
    assert isinstance(batches[0], list)  # (as PyTorch collates tuple samples)
    assert _labels(loader) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    np.testing.assert_array_equal(as_np(batches[2][0]), [[16, 17], [18, 19]])
    assert as_np(batches[0][0]).dtype == np.float32
    assert as_np(batches[0][1]).dtype == np.int64


@pytest.mark.parametrize(("n", "bs"), [(10, 3), (9, 3), (2, 5), (0, 4), (1, 1)])
def test_loader_len_with_and_without_drop_last(n: int, bs: int) -> None:
    ds = TensorDataset(np.arange(n))
    full, dropped = DataLoader(ds, batch_size=bs), DataLoader(ds, batch_size=bs, drop_last=True)
    assert len(full) == math.ceil(n / bs) == len(list(full))
    assert len(dropped) == n // bs == len(list(dropped))
    assert all(len(b[0]) == bs for b in dropped)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(0, 30),
    batch_size=st.integers(1, 12),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_loader_visits_each_sample_once(
    n: int, batch_size: int, shuffle: bool, drop_last: bool, seed: int
) -> None:
    loader = DataLoader(
        TensorDataset(np.arange(n)), batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed
    )
    batches = [as_np(b[0]).tolist() for b in loader]
    assert len(batches) == len(loader)
    seen = [i for b in batches for i in b]
    assert len(seen) == len(set(seen))
    assert set(seen) <= set(range(n))
    assert len(seen) == (n - n % batch_size if drop_last else n)
    assert all(len(b) == batch_size for b in batches[:-1])
    if not shuffle:
        assert seen == list(range(len(seen)))


def test_loader_shuffle_is_seeded_and_reshuffles_each_epoch() -> None:
    a = DataLoader(_xy(20), batch_size=6, shuffle=True, seed=7)
    b = DataLoader(_xy(20), batch_size=6, shuffle=True, seed=7)
    epochs_a = [_labels(a) for _ in range(3)]
    epochs_b = [_labels(b) for _ in range(3)]
    assert epochs_a == epochs_b
    flat = [[label for batch in e for label in batch] for e in epochs_a]
    assert all(sorted(f) == list(range(20)) for f in flat)
    assert flat[0] != flat[1] != flat[2]
    assert flat[0] != list(range(20))
    assert _labels(DataLoader(_xy(20), batch_size=6, shuffle=True, seed=8))[0] != epochs_a[0][0]


def test_loader_generator_objects() -> None:
    class Gen:
        def __init__(self, seed: int) -> None:
            self.np_generator = np.random.default_rng(seed)

    by_obj = _labels(DataLoader(_xy(), batch_size=5, shuffle=True, generator=Gen(3)))
    by_rng = _labels(
        DataLoader(_xy(), batch_size=5, shuffle=True, generator=np.random.default_rng(3))
    )
    by_seed = _labels(DataLoader(_xy(), batch_size=5, shuffle=True, seed=3))
    assert by_obj == by_rng == by_seed
    with pytest.raises(ValueError, match="not both"):
        DataLoader(_xy(), shuffle=True, seed=1, generator=np.random.default_rng(1))
    with pytest.raises(TypeError):
        DataLoader(_xy(), shuffle=True, generator="nope")


@pytest.fixture
def keep_global_rng() -> Iterator[None]:
    state = cr.random.default_generator.get_state()
    yield
    cr.random.default_generator.set_state(state)


@pytest.mark.usefixtures("keep_global_rng")
def test_loader_uses_chainrule_generators() -> None:
    gen = cr.Generator(5)
    first = _labels(DataLoader(_xy(), batch_size=5, shuffle=True, generator=gen))
    gen.manual_seed(5)
    assert _labels(DataLoader(_xy(), batch_size=5, shuffle=True, generator=gen)) == first
    loader = DataLoader(_xy(), batch_size=5, shuffle=True)  # the global generator
    cr.manual_seed(11)
    a = _labels(loader)
    cr.manual_seed(11)
    assert _labels(loader) == a
    cr.manual_seed(11)
    parts = random_split(_xy(), [0.5, 0.5])
    cr.manual_seed(11)
    np.testing.assert_array_equal(random_split(_xy(), [0.5, 0.5])[0].indices, parts[0].indices)


def test_loader_rejects_bad_batch_size() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DataLoader(_xy(), batch_size=0)
    with pytest.raises(TypeError):
        DataLoader(_xy(), batch_size=2.5)  # type: ignore[arg-type]


class _NoItemAccess(TensorDataset):
    def __getitem__(self, index: int) -> tuple[Any, ...]:
        raise AssertionError("the fast path must not index samples one by one")


def test_loader_fast_path_skips_per_sample_access() -> None:
    x = np.random.default_rng(0).normal(size=(50, 3)).astype(np.float32)
    ds = _NoItemAccess(cr.tensor(x), cr.tensor(np.arange(50)))
    got = np.concatenate([as_np(xb) for xb, _ in DataLoader(ds, batch_size=8)])
    np.testing.assert_array_equal(got, x)
    sub = Subset(ds, [4, 0, 9])  # a Subset of a TensorDataset takes the fast path too
    xb, yb = next(iter(DataLoader(sub, batch_size=3)))
    np.testing.assert_array_equal(as_np(yb), [4, 0, 9])
    np.testing.assert_array_equal(as_np(xb), x[[4, 0, 9]])


def test_loader_fast_path_matches_collate() -> None:
    ds = _xy(13)
    fast = DataLoader(ds, batch_size=5, shuffle=True, seed=2)
    slow = DataLoader(ds, batch_size=5, shuffle=True, seed=2, collate_fn=default_collate)
    for (xf, yf), (xs, ys) in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(as_np(xf), as_np(xs))
        np.testing.assert_array_equal(as_np(yf), as_np(ys))
        assert as_np(xf).dtype == as_np(xs).dtype
        assert as_np(yf).dtype == as_np(ys).dtype


class _Mixed(Dataset[tuple[np.ndarray, int, float, str]]):
    def __len__(self) -> int:
        return 5

    def __getitem__(self, i: int) -> tuple[np.ndarray, int, float, str]:
        return np.full((2, 3), i, dtype=np.float32), i, i / 2, f"s{i}"


def test_default_collate_tuples_and_scalars() -> None:
    batches = list(DataLoader(_Mixed(), batch_size=2))
    assert len(batches) == 3
    arr, ints, floats, strs = batches[1]
    assert arr.shape == (2, 2, 3)
    assert as_np(arr).dtype == np.float32
    np.testing.assert_array_equal(as_np(arr)[:, 0, 0], [2, 3])
    assert as_np(ints).dtype == np.int64
    assert as_np(ints).tolist() == [2, 3]
    assert as_np(floats).dtype == cr.get_default_dtype()
    assert as_np(floats).tolist() == [1.0, 1.5]
    assert strs == ["s2", "s3"]
    assert batches[2][0].shape == (1, 2, 3)


def test_default_collate_structures() -> None:
    point = namedtuple("point", ["x", "y"])
    out = default_collate([point(1, 2.0), point(3, 4.0)])
    assert isinstance(out, point)
    assert as_np(out.x).tolist() == [1, 3]
    d = default_collate([{"a": np.int32(1), "b": [True, 0]}, {"a": np.int32(2), "b": [False, 1]}])
    assert as_np(d["a"]).dtype == np.int32
    assert as_np(d["b"][0]).dtype == np.bool_
    assert as_np(d["b"][1]).tolist() == [0, 1]
    t = default_collate([cr.tensor(np.ones(3, np.float64)), cr.tensor(np.zeros(3, np.float64))])
    assert t.shape == (2, 3)
    assert as_np(t).dtype == np.float64


def test_default_collate_errors() -> None:
    with pytest.raises(ValueError, match="different shapes"):
        default_collate([np.zeros(2), np.zeros(3)])
    with pytest.raises(ValueError, match="same number of fields"):
        default_collate([(1, 2), (1, 2, 3)])
    with pytest.raises(TypeError, match="NoneType"):
        default_collate([None, None])
    with pytest.raises(ValueError, match="empty"):
        default_collate([])


def test_custom_collate_fn_receives_samples() -> None:
    loader = DataLoader(_xy(6), batch_size=4, collate_fn=lambda samples: len(samples))
    assert list(loader) == [4, 2]


# ----------------------------------------------------------------------------- demo data


def test_make_moons() -> None:
    x, y = make_moons(101, noise=0.1, seed=0)
    assert x.shape == (101, 2)
    assert x.dtype == np.float32
    assert y.shape == (101,)
    assert y.dtype == np.int64
    assert np.bincount(y).tolist() == [50, 51]
    x2, y2 = make_moons(101, noise=0.1, seed=0)
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(x, make_moons(101, noise=0.1, seed=1)[0])
    clean, labels = make_moons(40, noise=0.0)
    outer, inner = clean[labels == 0], clean[labels == 1]
    np.testing.assert_allclose(np.hypot(*outer.T), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1, inner[:, 1] - 0.5), 1.0, rtol=1e-5)
    assert (outer[:, 1] >= -1e-6).all()
    assert (inner[:, 1] <= 0.5 + 1e-6).all()


@pytest.mark.parametrize(("n", "k"), [(300, 3), (100, 4), (7, 2)])
def test_make_spirals(n: int, k: int) -> None:
    x, y = make_spirals(n, n_classes=k, noise=0.2, seed=0)
    assert x.shape == (n, 2)
    assert x.dtype == np.float32
    assert y.dtype == np.int64
    counts = np.bincount(y, minlength=k)
    assert counts.sum() == n
    assert counts.max() - counts.min() <= 1
    assert (np.hypot(*x.T) <= 1.0 + 1e-6).all()  # noise is on the angle only
    np.testing.assert_array_equal(x, make_spirals(n, n_classes=k, noise=0.2, seed=0)[0])


def test_make_sine_sequences() -> None:
    x, y = make_sine_sequences(n_sequences=32, seq_len=12, seed=0)
    assert x.shape == (32, 12, 1)
    assert y.shape == (32, 1)
    assert x.dtype == np.float32
    assert y.dtype == np.float32
    np.testing.assert_array_equal(x, make_sine_sequences(n_sequences=32, seq_len=12, seed=0)[0])
    step = 0.3
    xc, yc = make_sine_sequences(n_sequences=8, seq_len=5, noise=0.0, step=step, seed=1)
    # sin(a + 2s) = 2 cos(s) sin(a + s) - sin(a): the target continues the wave
    predicted = 2 * np.cos(step) * xc[:, -1, 0] - xc[:, -2, 0]
    np.testing.assert_allclose(yc[:, 0], predicted, atol=1e-5)
    assert np.ptp(xc[:, 0, 0]) > 0.5  # phases differ between sequences


def test_to_tensor_dataset_keeps_dtypes() -> None:
    ds = to_tensor_dataset(*make_moons(10))
    xb, yb = next(iter(DataLoader(ds, batch_size=10)))
    assert as_np(xb).dtype == np.float32
    assert as_np(yb).dtype == np.int64


def test_load_digits() -> None:
    pytest.importorskip("sklearn")
    split = load_digits(test_fraction=0.2, seed=0)
    assert split.x_train.shape == (1437, 64)
    assert split.x_test.shape == (360, 64)
    assert split.y_train.shape == (1437,)
    assert split.y_test.shape == (360,)
    assert split.x_train.dtype == np.float32
    assert split.y_train.dtype == np.int64
    assert split.x_train.min() == 0.0
    assert split.x_train.max() == 1.0
    assert set(split.y_test.tolist()) == set(range(10))
    again = load_digits(test_fraction=0.2, seed=0)
    np.testing.assert_array_equal(split.y_test, again.y_test)
    assert not np.array_equal(split.y_test, load_digits(test_fraction=0.2, seed=1).y_test)
    imgs = load_digits(test_fraction=0.5, seed=0, images=True)
    assert imgs.x_train.shape == (898, 1, 8, 8)
    assert imgs.x_test.shape == (899, 1, 8, 8)
    np.testing.assert_array_equal(
        digits_images(split.x_train)[5, 0], split.x_train[5].reshape(8, 8)
    )
    train_ds, test_ds = split.datasets(images=True)
    assert len(test_ds) == 360
    assert len(train_ds) == 1437
    assert train_ds[0][0].shape == (1, 8, 8)
    with pytest.raises(ValueError, match="test_fraction"):
        load_digits(test_fraction=1.0)


def test_load_digits_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[data\]"'):
        load_digits()


def test_collate_and_convert_match_pytorch_structures() -> None:
    pytest.importorskip("torch")
    from torch.utils import data as td

    class Samples:  # a tuple with a NumPy array, a NumPy scalar and a nested list
        def __len__(self) -> int:
            return 5

        def __getitem__(self, i: int) -> Any:
            return (np.full(2, i, np.float32), np.int64(i), [i, i + 1])

    def structure(b: Any) -> Any:
        if hasattr(b, "shape"):
            return ("tensor", str(b.dtype).split(".")[-1], tuple(b.shape), np.asarray(b).tolist())
        if isinstance(b, (list, tuple)):
            return (type(b).__name__, [structure(x) for x in b])
        return (type(b).__name__, b)

    for kw in ({"batch_size": 2}, {"batch_size": None}):
        ours = [structure(b) for b in DataLoader(Samples(), **kw)]
        theirs = [structure(b) for b in td.DataLoader(Samples(), **kw)]
        assert ours == theirs, kw
