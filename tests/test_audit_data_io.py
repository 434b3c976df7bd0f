"""Audit of ``cr.data``, checkpoints (``cr.save``/``cr.load``) and the ``chainrule`` command:
each test pins a case that used to differ from PyTorch or fail with an unclear error."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, training
from chainrule.data import (
    DataLoader,
    Subset,
    TensorDataset,
    default_collate,
    make_moons,
    make_sine_sequences,
    make_spirals,
    random_split,
    read_idx,
)

# ----------------------------------------------------------------------------- IDX files


def test_read_idx_missing_gz_file_is_file_not_found(tmp_path: Path) -> None:
    # a missing file is a missing file, gzipped name or not (it was "not a valid gzip file")
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "train-images-idx3-ubyte.gz")


def test_read_idx_header_whose_size_overflows_int64_is_truncated(tmp_path: Path) -> None:
    # 2**16 * 2**24 * 2**24 == 2**64 wrapped to 0 in int64, so an empty body "matched"
    path = tmp_path / "huge-idx3-ubyte"
    dims = np.array([2**16, 2**24, 2**24], dtype=">u4").tobytes()
    path.write_bytes(bytes([0, 0, 0x08, 3]) + dims)
    with pytest.raises(ValueError, match=r"truncated data.*huge-idx3-ubyte|huge-idx3-ubyte.*truncated data"):
        read_idx(path)


# ----------------------------------------------------------------------------- datasets


def test_tensor_dataset_rejects_lists_like_torch() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(AttributeError):
        torch.utils.data.TensorDataset([1.0, 2.0])
    # lists were accepted, and batched as float64 or float32 depending on the collate path
    with pytest.raises(TypeError, match=r"TensorDataset: argument 0 has type list"):
        TensorDataset([1.0, 2.0])
    with pytest.raises(TypeError, match=r"TensorDataset: argument 1 has type int"):
        TensorDataset(cr.zeros(3), 5)


def test_batches_of_a_tensor_requiring_grad_keep_the_graph() -> None:
    torch = pytest.importorskip("torch")
    w_np = np.random.default_rng(0).standard_normal((5, 2))
    weights = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])

    tw = torch.tensor(w_np, requires_grad=True)
    (tx,) = next(iter(torch.utils.data.DataLoader(torch.utils.data.TensorDataset(tw),
                                                  batch_size=3)))
    (tx * torch.tensor(weights)).sum().backward()

    for collate_fn in (None, default_collate):  # the fast path and the per-sample path
        w = cr.tensor(w_np, requires_grad=True)
        (x,) = next(iter(DataLoader(TensorDataset(w), batch_size=3, collate_fn=collate_fn)))
        assert x.requires_grad
        (x * cr.tensor(weights)).sum().backward()
        assert w.grad is not None
        np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy())


def test_subset_rejects_float_indices() -> None:
    ds = TensorDataset(cr.arange(5))
    with pytest.raises(TypeError, match=r"Subset: indices must be ints.*float64"):
        Subset(ds, [0.5, 1.7])  # was truncated silently to [0, 1]
    np.testing.assert_array_equal(Subset(ds, cr.tensor([3, 1])).indices, [3, 1])
    assert len(Subset(ds, [])) == 0


def test_out_of_range_subset_in_a_batch_names_the_dataset() -> None:
    loader = DataLoader(Subset(TensorDataset(cr.arange(5)), [0, 9]), batch_size=2)
    with pytest.raises(IndexError, match=r"TensorDataset: .*5 samples"):
        list(loader)


@pytest.mark.parametrize(
    ("make", "where"),
    [
        (lambda: DataLoader(TensorDataset(cr.arange(3)), shuffle=True, seed=-1), "DataLoader"),
        (lambda: random_split(TensorDataset(cr.arange(4)), [2, 2], seed=-1), "random_split"),
        (lambda: make_moons(10, seed=-1), "make_moons"),
        (lambda: make_spirals(10, seed=-1), "make_spirals"),
        (lambda: make_sine_sequences(4, seed=-1), "make_sine_sequences"),
    ],
)
def test_negative_seed_is_a_clear_error(make, where: str) -> None:
    # NumPy said only "expected non-negative integer"
    with pytest.raises(ValueError, match=rf"{where}: seed must be a non-negative int, got -1"):
        make()


def test_load_digits_negative_seed_is_a_clear_error() -> None:
    pytest.importorskip("sklearn")
    with pytest.raises(ValueError, match=r"load_digits: seed must be a non-negative int"):
        cr.data.load_digits(seed=-1)
    with pytest.raises(ValueError, match=r"load_digits: test_fraction must be in \(0, 1\)"):
        cr.data.load_digits(test_fraction="0.2")  # type: ignore[arg-type]


@pytest.mark.filterwarnings("ignore:Length of split")
@pytest.mark.parametrize("lengths", [[1, 0.0], [1], [0, 1], [0.1, 0.2, 0.7]])
def test_random_split_lengths_summing_to_one_are_fractions_like_torch(lengths) -> None:
    torch = pytest.importorskip("torch")
    expected = [len(s) for s in torch.utils.data.random_split(
        torch.utils.data.TensorDataset(torch.arange(10)), lengths)]
    got = [len(s) for s in random_split(TensorDataset(cr.arange(10)), lengths, seed=0)]
    assert got == expected


def test_random_split_non_numeric_length() -> None:
    with pytest.raises(TypeError, match=r"random_split: lengths must be numbers, got 'a'"):
        random_split(TensorDataset(cr.arange(4)), ["a", 2], seed=0)  # type: ignore[list-item]


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: make_moons(10, noise=-0.1), ValueError, r"make_moons: noise must be a finite"),
        (lambda: make_moons(10, noise=float("nan")), ValueError, r"make_moons: noise"),
        (lambda: make_spirals(10, noise=-1.0), ValueError, r"make_spirals: noise"),
        (lambda: make_sine_sequences(4, noise=-1.0), ValueError, r"make_sine_sequences: noise"),
        (lambda: make_moons(10.5), TypeError, r"make_moons: n_samples must be an int"),
        (lambda: make_spirals(10, n_classes=2.0), TypeError, r"make_spirals: n_classes must be"),
    ],
)
def test_generated_datasets_validate_their_arguments(make, error, message) -> None:
    # negative noise was ignored by make_moons and a raw "scale < 0" elsewhere
    with pytest.raises(error, match=message):
        make()


# ----------------------------------------------------------------------------- collate


def test_default_collate_numpy_strings_stay_a_list_like_torch() -> None:
    torch = pytest.importorskip("torch")
    batch = [np.str_("a"), np.str_("b")]
    assert default_collate(batch) == torch.utils.data.default_collate(batch)


def test_default_collate_dict_with_missing_key_names_it() -> None:
    with pytest.raises(KeyError, match=r"default_collate: sample 1 lacks the keys \['b'\]"):
        default_collate([{"a": 1, "b": 2}, {"a": 3}])
    with pytest.raises(TypeError, match=r"default_collate: sample 0 is a dict but sample 1"):
        default_collate([{"a": 1}, 3])
    # keys only in later samples are dropped, as in PyTorch
    out = default_collate([{"a": 1}, {"a": 3, "b": 2}])
    assert list(out) == ["a"]
    np.testing.assert_array_equal(out["a"].numpy(), [1, 3])


# ----------------------------------------------------------------------------- checkpoints


def _rewrite_tree(path: Path, tree: str) -> None:
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"]["chainrule.tree"] = tree
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])


def test_load_deeply_nested_metadata_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.safetensors"
    cr.save({"w": cr.ones(2)}, path)
    _rewrite_tree(path, '{"list": [' * 50_000 + "]}" * 50_000)
    with pytest.raises(cr.CheckpointError, match="nested too deeply"):  # was RecursionError
        cr.load(path)


def test_save_to_a_directory_is_a_clear_error(tmp_path: Path) -> None:
    target = tmp_path / "ckpt"
    target.mkdir()
    with pytest.raises(IsADirectoryError, match=r"cannot save checkpoint to .*ckpt.*directory"):
        cr.save({"w": cr.ones(2)}, target)
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left behind
    assert list(target.iterdir()) == []


# ----------------------------------------------------------------------------- training


def test_out_that_is_a_file_exits_2_before_training(tmp_path: Path, capsys) -> None:
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("keep me")
    for out in (not_a_dir, not_a_dir / "sub"):
        code = cli.main(["train", "--dataset", "moons", "--epochs", "1", "--no-progress",
                         "--out", str(out)])
        captured = capsys.readouterr()
        assert code == 2
        assert captured.err.count("\n") == 1
        assert "chainrule train: error: --out:" in captured.err and str(out) in captured.err
        assert "Training" not in captured.out  # failed before any training
    assert not_a_dir.read_text() == "keep me"


def test_train_rejects_a_bad_out_before_training(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file.txt"
    not_a_dir.write_text("")
    lines: list[str] = []
    config = training.TrainConfig(dataset="moons", epochs=1, out=str(not_a_dir), progress=False)
    with pytest.raises(OSError, match="not a directory"):
        training.train(config, log=lines.append)
    assert lines == []


def test_train_rejects_a_negative_seed() -> None:
    config = training.TrainConfig(dataset="moons", epochs=1, seed=-1, out=None, progress=False)
    with pytest.raises(ValueError, match=r"^train: seed must be a non-negative int, got -1$"):
        training.train(config, log=lambda line: None)


@pytest.mark.parametrize("seed", [-1, np.int64(-3), 2.0, True, "1", None])
def test_train_and_check_seed_agree_on_bad_seeds(seed: object) -> None:
    # train had its own seed rule and message beside the data functions' check_seed
    from chainrule.data._random import check_seed

    with pytest.raises((TypeError, ValueError)) as expected:
        check_seed(seed, "train")
    config = training.TrainConfig(dataset="moons", epochs=1, seed=seed,  # type: ignore[arg-type]
                                  out=None, progress=False)
    with pytest.raises(expected.type) as got:
        training.train(config, log=lambda line: None)
    assert str(got.value) == str(expected.value)


def test_evaluate_and_train_one_epoch_on_no_data_are_clear_errors() -> None:
    task = training.load_task("moons", "mlp", seed=0)
    model = training.build_model("mlp", task.input_shape, task.n_outputs, {"hidden": [4]})
    empty = TensorDataset(cr.zeros((0, 2)), cr.zeros(0, dtype=cr.int64))
    with pytest.raises(ValueError, match="evaluate: the dataset is empty"):  # ZeroDivisionError
        training.evaluate(model, task, empty)
    optimizer = training.make_optimizer("sgd", model.parameters(), 0.1)
    loader = DataLoader(task.train, batch_size=len(task.train) + 1, drop_last=True)
    with pytest.raises(ValueError, match="train_one_epoch: the loader gave no batch"):
        training.train_one_epoch(model, task, loader, optimizer)


def test_make_out_dir_creates_parents(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"
    training.make_out_dir(out)
    training.make_out_dir(out)  # exists already: fine
    assert os.path.isdir(out)


@pytest.mark.parametrize("batch", [[1, 2.5], [True, 2], [1, True], [2.5, 1], [True, False], [1, 2]])
def test_default_collate_mixed_python_numbers_keep_their_values_like_torch(batch) -> None:
    torch = pytest.importorskip("torch")
    expected = torch.utils.data.default_collate(batch)
    got = default_collate(batch)  # [1, 2.5] was truncated to [1, 2], [True, 2] to [True, True]
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
    assert got.dtype.kind == expected.numpy().dtype.kind  # floats are float32 here (documented)


def test_default_collate_number_with_non_number_names_both_types() -> None:
    with pytest.raises(TypeError, match=r"default_collate: sample 0 has type int but sample 1 "
                                        r"has type str"):
        default_collate([1, "a"])


def test_mnist_root_expands_the_home_directory(tmp_path: Path, monkeypatch) -> None:
    # torchvision expands "~" in root; the files were reported missing from "~/mnist"
    folder = tmp_path / "mnist"
    folder.mkdir()
    cr.data.write_idx(folder / "t10k-images-idx3-ubyte.gz", np.zeros((2, 28, 28), np.uint8))
    cr.data.write_idx(folder / "t10k-labels-idx1-ubyte", np.array([3, 7], np.uint8))
    monkeypatch.setenv("HOME", str(tmp_path))
    ds = cr.data.FashionMNIST("~/mnist", train=False)
    assert len(ds) == 2 and ds[1][1] == 7
    assert ds.root == folder


def test_train_config_with_numpy_numbers_saves_its_checkpoint(tmp_path: Path) -> None:
    # np.int64 / np.float32 in the config made the JSON part of the checkpoint fail after training
    config = training.TrainConfig(dataset="moons", epochs=np.int64(1), seed=np.int64(3),
                                  lr=np.float32(0.01), batch_size=np.int64(64),
                                  out=str(tmp_path), progress=False)
    result = training.train(config, log=lambda line: None)
    _, checkpoint = training.load_checkpoint(result.checkpoint)
    assert checkpoint["config"]["seed"] == 3 and checkpoint["config"]["epochs"] == 1
    assert checkpoint["config"]["lr"] == pytest.approx(0.01)


@pytest.mark.parametrize(("field", "value"), [("epochs", 1.5), ("seed", 2.0), ("batch_size", True)])
def test_train_rejects_non_int_counts(field: str, value: object) -> None:
    config = training.TrainConfig(dataset="moons", epochs=1, out=None, progress=False)
    setattr(config, field, value)
    with pytest.raises(TypeError, match=rf"{field} must be an int"):
        training.train(config, log=lambda line: None)


def test_load_checkpoint_without_spec_is_a_checkpoint_error(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    cr.save({"format": training.CHECKPOINT_FORMAT, "model": {}}, path)  # was KeyError: 'spec'
    with pytest.raises(cr.CheckpointError, match=r"ckpt.safetensors.*model spec"):
        training.load_checkpoint(path)
    cr.save({"format": training.CHECKPOINT_FORMAT, "model": {},
             "spec": {"model": "gru", "input_shape": [2], "n_outputs": 2, "arch": {}}}, path)
    with pytest.raises(cr.CheckpointError, match="unknown model 'gru'"):
        training.load_checkpoint(path)


def test_subset_indexed_with_a_list_like_torch() -> None:
    torch = pytest.importorskip("torch")
    expected = torch.utils.data.Subset(
        torch.utils.data.TensorDataset(torch.arange(10) * 10), [5, 3, 1])[[0, 2]]
    (got,) = Subset(TensorDataset(cr.arange(10) * 10), [5, 3, 1])[[0, 2]]  # was a TypeError
    np.testing.assert_array_equal(got.numpy(), expected[0].numpy())


def test_batch_size_none_yields_single_samples_like_torch() -> None:
    torch = pytest.importorskip("torch")
    data = np.arange(6.0).reshape(3, 2)
    expected = list(torch.utils.data.DataLoader(data, batch_size=None))
    loader = DataLoader(data, batch_size=None)  # was "batch_size must be an int"
    assert len(loader) == 3
    got = list(loader)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert isinstance(g, cr.Tensor) and g.shape == tuple(e.shape)
        np.testing.assert_array_equal(g.numpy(), e.numpy())
    samples = list(DataLoader(TensorDataset(cr.arange(3)), batch_size=None, shuffle=True, seed=0))
    assert sorted(int(x) for (x,) in samples) == [0, 1, 2]
    assert list(DataLoader([{"a": 1}], batch_size=None)) == [{"a": 1}]  # numbers stay as is
    with pytest.raises(ValueError, match="drop_last=True needs a batch_size"):
        DataLoader(data, batch_size=None, drop_last=True)


@pytest.mark.parametrize(("flag", "value"), [("--lr", "-1e-3"), ("--lr", "-5"), ("--seed", "-3")])
def test_negative_values_are_named_in_the_error(flag: str, value: str, capsys) -> None:
    # "--lr -1e-3" was read as a flag: "argument --lr: expected one argument"
    with pytest.raises(SystemExit) as exc:
        cli.main(["train", flag, value])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"argument {flag}:" in err and repr(value) in err


def test_default_collate_tensors_of_mixed_dtypes_promote_like_torch() -> None:
    torch = pytest.importorskip("torch")
    expected = torch.utils.data.default_collate([torch.tensor([1]), torch.tensor([1.5])])
    got = default_collate([cr.tensor([1]), cr.tensor([1.5])])  # was float64 (np.stack)
    assert str(got.dtype) == str(expected.dtype).removeprefix("torch.")
    np.testing.assert_array_equal(got.numpy(), expected.numpy())
