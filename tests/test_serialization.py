"""Tests for chainrule.serialization: safetensors checkpoints and state-dict checks."""

from __future__ import annotations

import errno
import json
import math
import os
import pathlib
import stat
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

import chainrule as cr
from chainrule import serialization
from chainrule.serialization import (
    CheckpointError,
    StateDictError,
    check_state_dict,
    load,
    save,
)

st_numpy = pytest.importorskip("safetensors.numpy")


# --------------------------------------------------------------------------- helpers


def load_numpy(path: Any) -> Any:
    """Load a checkpoint keeping arrays as NumPy arrays (no chainrule core needed)."""
    return serialization._read_checkpoint(path)


def assert_same_tree(got: Any, want: Any, where: str = "root") -> None:
    """Exact structural equality: same container types, key types, dtypes and values."""
    if isinstance(want, np.ndarray) or hasattr(got, "numpy"):
        arr = got.numpy() if hasattr(got, "numpy") and not isinstance(got, np.ndarray) else got
        want_arr = np.asarray(want)
        assert isinstance(arr, np.ndarray), where
        assert arr.dtype == want_arr.dtype.newbyteorder("="), where
        assert arr.shape == want_arr.shape, where
        np.testing.assert_array_equal(arr, want_arr, err_msg=where)
        return
    assert type(got) is type(want), f"{where}: {type(got)} != {type(want)}"
    if isinstance(want, dict):
        assert list(got) == list(want), where
        for (kg, vg), (kw, vw) in zip(got.items(), want.items()):
            assert type(kg) is type(kw), f"{where}: key {kg!r}"
            assert_same_tree(vg, vw, f"{where}.{kw}")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            assert_same_tree(g, w, f"{where}[{i}]")
    elif isinstance(want, float) and math.isnan(want):
        assert math.isnan(got), where
    elif isinstance(want, np.generic):
        assert got.dtype == want.dtype and got == want, where
    else:
        assert got == want, where


def nested_state() -> dict[Any, Any]:
    rng = np.random.default_rng(0)
    return {
        "model": {
            "fc1.weight": rng.standard_normal((3, 4)).astype(np.float32),
            "fc1.bias": np.zeros(3, dtype=np.float64),
            "counts": np.arange(6, dtype=np.int64).reshape(2, 3),
            "mask": np.array([True, False, True]),
            "scalar": np.array(2.5, dtype=np.float32),  # 0-d
            "empty": np.zeros((0, 5), dtype=np.float32),
        },
        "optimizer": {
            "state": {
                0: {"step": 3, "exp_avg": np.ones((3, 4), np.float32)},
                1: {"step": 3, "exp_avg": np.full(3, 0.5)},
            },
            "param_groups": [
                {
                    "lr": 0.1,
                    "betas": (0.9, 0.999),
                    "eps": 1e-8,
                    "weight_decay": 0,
                    "amsgrad": False,
                    "foreach": None,
                    "params": [0, 1],
                }
            ],
        },
        "epoch": 7,
        "best": float("inf"),
        "worst": float("-inf"),
        "undefined": float("nan"),
        "name": "run-1 ✓",
        "flags": [True, False, None],
        "np_scalar": np.float64(0.25),
        "np_int": np.int64(-4),
        "empty_dict": {},
        "empty_list": [],
        "empty_tuple": (),
        "big": 2**70,
        -1: "negative int key",
    }


# --------------------------------------------------------------------------- round trips


def test_round_trip_nested_numpy(tmp_path: pathlib.Path) -> None:
    state = nested_state()
    path = tmp_path / "ckpt.safetensors"
    save(state, path)
    assert_same_tree(load_numpy(path), state)


def test_int_keys_stay_ints(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "opt.safetensors"
    save({"state": {0: {"step": 1}, "0": {"step": 2}}}, path)
    got = load_numpy(path)
    assert list(got["state"]) == [0, "0"]
    assert got["state"][0]["step"] == 1 and got["state"]["0"]["step"] == 2


def test_numpy_integer_keys_become_ints(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "k.safetensors"
    save({np.int64(2): {"step": 1}}, path)
    got = load_numpy(path)
    assert list(got) == [2] and type(next(iter(got))) is int


def test_non_contiguous_and_big_endian_arrays(tmp_path: pathlib.Path) -> None:
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    state = {
        "strided": base[::2, 1::2],
        "transposed": base.T,
        "fortran": np.asfortranarray(base),
        "big_endian": base.astype(">f4"),
    }
    path = tmp_path / "a.safetensors"
    save(state, path)
    got = load_numpy(path)
    for key, want in state.items():
        assert got[key].dtype.isnative
        assert got[key].dtype == want.dtype.newbyteorder("=")
        np.testing.assert_array_equal(got[key], want)


def test_flat_keys_are_readable_and_collisions_are_resolved(tmp_path: pathlib.Path) -> None:
    a, b, c = np.zeros(1), np.ones(1), np.full(1, 2.0)
    state = {"fc.w": a, "fc": {"w": b}, "__metadata__": c}
    path = tmp_path / "c.safetensors"
    save(state, path)
    flat = st_numpy.load_file(str(path))
    assert "fc.w" in flat and len(flat) == 3
    got = load_numpy(path)
    np.testing.assert_array_equal(got["fc.w"], a)
    np.testing.assert_array_equal(got["fc"]["w"], b)
    np.testing.assert_array_equal(got["__metadata__"], c)


def test_metadata_is_plain_json_without_pickle(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "m.safetensors"
    save({"state": {0: {"step": 3}}, "w": np.zeros(2)}, path)
    data = path.read_bytes()
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    tree = json.loads(header["__metadata__"]["chainrule.tree"])
    assert tree == {
        "dict": [["state", {"dict": [[0, {"dict": [["step", 3]]}]]}], ["w", {"tensor": "w"}]]
    }


def test_accepts_str_and_pathlike(tmp_path: pathlib.Path) -> None:
    save({"x": np.arange(3)}, str(tmp_path / "s.safetensors"))
    save({"x": np.arange(3)}, tmp_path / "p.safetensors")
    np.testing.assert_array_equal(load_numpy(str(tmp_path / "p.safetensors"))["x"], np.arange(3))
    np.testing.assert_array_equal(load_numpy(tmp_path / "s.safetensors")["x"], np.arange(3))


def test_overwrite_replaces_content(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "o.safetensors"
    save({"x": np.zeros(3)}, path)
    save({"y": np.ones(2, np.int64)}, path)
    got = load_numpy(path)
    assert list(got) == ["y"]
    assert got["y"].dtype == np.int64


@pytest.mark.parametrize(
    ("obj", "match"),
    [
        ({"x": np.zeros(2, np.complex128)}, "complex128"),
        ({"x": np.array(["a", "b"])}, "dtype"),
        ({"x": np.array([object()], dtype=object)}, "dtype"),
        ({"x": {1, 2}}, "set"),
        ({"x": b"bytes"}, "bytes"),
        ({1.5: np.zeros(1)}, "dict keys"),
        ({True: np.zeros(1)}, "dict keys"),
        ({"a": {"b": object()}}, "'a.b'"),
    ],
)
def test_unsupported_values_raise_type_error_and_write_nothing(
    tmp_path: pathlib.Path, obj: Any, match: str
) -> None:
    path = tmp_path / "bad.safetensors"
    with pytest.raises(TypeError, match=match):
        save(obj, path)
    assert list(tmp_path.iterdir()) == []


def test_self_referencing_state_raises(tmp_path: pathlib.Path) -> None:
    state: dict[str, Any] = {"a": []}
    state["a"].append(state)
    with pytest.raises(ValueError, match="contains itself"):
        save(state, tmp_path / "cycle.safetensors")


def test_save_into_missing_directory(tmp_path: pathlib.Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save({"x": np.zeros(1)}, tmp_path / "nope" / "x.safetensors")


# --------------------------------------------------------------------------- chainrule Tensors


def test_round_trip_tensors(tmp_path: pathlib.Path) -> None:
    state = nested_state()
    tensors = {
        "w32": cr.tensor(np.arange(6, dtype=np.float32).reshape(2, 3)),
        "w64": cr.tensor(np.linspace(0, 1, 4)),
        "i64": cr.tensor(np.arange(5, dtype=np.int64)),
        "b": cr.tensor(np.array([True, False])),
    }
    state["tensors"] = tensors
    path = tmp_path / "t.safetensors"
    save(state, path)
    got = load(path)
    # Every array comes back as a chainrule Tensor with the same dtype.
    for key, t in tensors.items():
        assert isinstance(got["tensors"][key], cr.Tensor), key
        assert got["tensors"][key].dtype == t.dtype, key
    assert isinstance(got["model"]["fc1.weight"], cr.Tensor)
    assert isinstance(got["optimizer"]["state"][0]["exp_avg"], cr.Tensor)
    assert not got["model"]["fc1.weight"].requires_grad
    # Plain values, numpy scalars and the structure are unchanged.
    want = dict(state)
    want["tensors"] = {k: t.numpy() for k, t in tensors.items()}
    assert_same_tree(got, want)


def test_reexported_as_cr_save_and_cr_load() -> None:
    assert cr.save is save and cr.load is load


def test_complex_arrays_stay_numpy(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "c64.safetensors"
    z = np.array([1 + 2j, 3 - 1j], np.complex64)
    save({"z": z, "w": np.ones(1, np.float32)}, path)
    got = load(path)
    assert isinstance(got["w"], cr.Tensor)
    assert isinstance(got["z"], np.ndarray) and got["z"].dtype == np.complex64
    np.testing.assert_array_equal(got["z"], z)


def test_tensor_requiring_grad_is_saved(tmp_path: pathlib.Path) -> None:
    w = cr.tensor(np.ones((2, 2), np.float32), requires_grad=True)
    path = tmp_path / "g.safetensors"
    save({"w": w}, path)
    got = load(path)
    np.testing.assert_array_equal(got["w"].numpy(), np.ones((2, 2), np.float32))


def test_loaded_tensors_are_independent_and_writable(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "w.safetensors"
    save({"a": np.zeros(3, np.float32)}, path)
    got = load(path)
    arr = got["a"].numpy()
    arr[0] = 1.0  # must not raise (not a read-only view of the file buffer)
    assert isinstance(got["a"], cr.Tensor)


# --------------------------------------------------------------------------- other tools' files


def test_file_written_by_another_tool_loads_flat(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "foreign.safetensors"
    arrays = {"encoder.w": np.ones((2, 2), np.float32), "b": np.arange(3, dtype=np.int32)}
    st_numpy.save_file(arrays, str(path), metadata={"format": "pt"})
    got = load_numpy(path)
    assert sorted(got) == sorted(arrays)
    for k, v in arrays.items():
        assert got[k].dtype == v.dtype
        np.testing.assert_array_equal(got[k], v)


def test_file_written_by_another_tool_loads_as_tensors(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "foreign.safetensors"
    st_numpy.save_file({"w": np.ones(2, np.float64)}, str(path))
    got = load(path)
    assert list(got) == ["w"] and isinstance(got["w"], cr.Tensor)
    assert got["w"].dtype == np.float64


def test_torch_can_read_our_files(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    state = nested_state()
    path = tmp_path / "for_torch.safetensors"
    save(state, path)
    flat = st_torch.load_file(str(path))
    assert isinstance(flat["model.fc1.weight"], torch.Tensor)
    assert flat["model.fc1.weight"].dtype == torch.float32
    np.testing.assert_array_equal(flat["model.fc1.weight"].numpy(), state["model"]["fc1.weight"])
    assert flat["model.counts"].dtype == torch.int64
    assert flat["model.mask"].dtype == torch.bool
    assert flat["optimizer.state.0.exp_avg"].shape == (3, 4)
    assert flat["optimizer.state.1.exp_avg"].dtype == torch.float64
    assert tuple(flat["model.scalar"].shape) == ()


def test_torch_written_file_loads(tmp_path: pathlib.Path) -> None:
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    path = tmp_path / "from_torch.safetensors"
    st_torch.save_file({"lin.weight": torch.arange(6, dtype=torch.float32).reshape(2, 3)}, path)
    got = load_numpy(path)
    np.testing.assert_array_equal(got["lin.weight"], np.arange(6, dtype=np.float32).reshape(2, 3))


# --------------------------------------------------------------------------- corrupted files


def _good_file(tmp_path: pathlib.Path) -> tuple[pathlib.Path, bytes]:
    path = tmp_path / "good.safetensors"
    save({"w": np.arange(12, dtype=np.float32).reshape(3, 4), "step": 5}, path)
    return path, path.read_bytes()


def test_missing_file_names_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "missing.safetensors"
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load_numpy(path)
    with pytest.raises(FileNotFoundError, match="missing.safetensors"):
        load(path)


@pytest.mark.parametrize("cut", [0, 1, 7, 8, 9, 30, "header_end-1", "header_end", "end-1"])
def test_truncated_file_raises_checkpoint_error(tmp_path: pathlib.Path, cut: Any) -> None:
    _, data = _good_file(tmp_path)
    header_end = 8 + int.from_bytes(data[:8], "little")
    positions = {"header_end-1": header_end - 1, "header_end": header_end, "end-1": len(data) - 1}
    n = positions.get(cut, cut)
    path = tmp_path / "truncated.safetensors"
    path.write_bytes(data[:n])
    with pytest.raises(CheckpointError, match="truncated.safetensors") as info:
        load_numpy(path)
    msg = str(info.value)
    assert "not a valid safetensors checkpoint" in msg
    if 8 <= n < header_end:
        assert "header length" in msg and "exceeds file size" in msg
    if n >= header_end:
        assert "truncated" in msg


def test_trailing_garbage_is_reported(tmp_path: pathlib.Path) -> None:
    path, data = _good_file(tmp_path)
    path.write_bytes(data + b"junk")
    with pytest.raises(CheckpointError, match="4 unexpected bytes"):
        load_numpy(path)


def test_missing_file_error_has_errno_and_filename(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "gone.safetensors"
    with pytest.raises(FileNotFoundError) as info:
        load_numpy(path)
    assert info.value.errno == errno.ENOENT
    assert info.value.filename == str(path)


def test_checkpoint_error_is_value_error() -> None:
    assert issubclass(CheckpointError, ValueError)


def test_load_of_truncated_file_via_public_load(tmp_path: pathlib.Path) -> None:
    path, data = _good_file(tmp_path)
    path.write_bytes(data[:-3])
    with pytest.raises(CheckpointError, match="good.safetensors"):
        load(path)


def test_header_length_far_too_large(tmp_path: pathlib.Path) -> None:
    path, data = _good_file(tmp_path)
    path.write_bytes((2**62).to_bytes(8, "little") + data[8:])
    with pytest.raises(CheckpointError, match="header length .* exceeds file size"):
        load_numpy(path)


def test_corrupted_header_json(tmp_path: pathlib.Path) -> None:
    path, data = _good_file(tmp_path)
    corrupted = bytearray(data)
    corrupted[8] = ord("X")  # the header's opening brace
    path.write_bytes(bytes(corrupted))
    with pytest.raises(CheckpointError, match=r"good\.safetensors.*not valid JSON"):
        load_numpy(path)


def test_header_not_an_object(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "list.safetensors"
    header = b"[1, 2, 3]"
    path.write_bytes(len(header).to_bytes(8, "little") + header)
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_numpy(path)


def test_not_a_safetensors_file_at_all(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is a text file, not a checkpoint\n")
    with pytest.raises(CheckpointError, match="notes.txt"):
        load_numpy(path)


def test_empty_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="0 bytes"):
        load_numpy(path)


def test_corrupted_offsets_are_reported(tmp_path: pathlib.Path) -> None:
    path, data = _good_file(tmp_path)
    n = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + n])
    header["w"]["data_offsets"] = [0, 40]  # 10 float32s for a (3, 4) tensor
    raw = json.dumps(header).encode()
    path.write_bytes(len(raw).to_bytes(8, "little") + raw + data[8 + n :])
    with pytest.raises(CheckpointError, match="good.safetensors"):
        load_numpy(path)


def test_dtype_numpy_cannot_represent(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bf16.safetensors"
    header = json.dumps({"w": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 4)
    with pytest.raises(CheckpointError, match="BF16"):
        load_numpy(path)


@pytest.mark.parametrize(
    ("metadata", "match"),
    [
        ({"chainrule.format_version": "1", "chainrule.tree": "{not json"}, "metadata"),
        ({"chainrule.format_version": "1", "chainrule.tree": '{"tensor": "nope"}'}, "nope"),
        ({"chainrule.format_version": "1", "chainrule.tree": '{"weird": 1}'}, "malformed"),
        ({"chainrule.format_version": "1", "chainrule.tree": '{"dict": []}'}, "not referenced"),
        ({"chainrule.format_version": "99", "chainrule.tree": '{"tensor": "w"}'}, "version"),
    ],
)
def test_corrupted_chainrule_metadata(
    tmp_path: pathlib.Path, metadata: dict[str, str], match: str
) -> None:
    path = tmp_path / "meta.safetensors"
    st_numpy.save_file({"w": np.zeros(2)}, str(path), metadata=metadata)
    with pytest.raises(CheckpointError, match=match) as info:
        load_numpy(path)
    assert "meta.safetensors" in str(info.value)


# --------------------------------------------------------------------------- atomicity


def _dir_listing(path: pathlib.Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_failed_replace_leaves_old_file_and_no_temp(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = _good_file(tmp_path)

    def broken_replace(src: Any, dst: Any) -> None:
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="simulated crash"):
        save({"w": np.ones((100, 100))}, path)
    assert path.read_bytes() == before
    assert _dir_listing(tmp_path) == ["good.safetensors"]


def test_write_failing_midway_leaves_old_file_and_no_temp(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = _good_file(tmp_path)
    real_fdopen = os.fdopen

    class HalfWriter:
        """A file that writes half of the data, then fails like a full disk."""

        def __init__(self, f: Any) -> None:
            self._f = f

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self._f.close()

        def write(self, data: bytes) -> int:
            self._f.write(data[: len(data) // 2])
            self._f.flush()
            raise OSError(28, "No space left on device")

        def __getattr__(self, name: str) -> Any:
            return getattr(self._f, name)

    monkeypatch.setattr(os, "fdopen", lambda fd, mode: HalfWriter(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="No space left"):
        save({"w": np.ones((100, 100))}, path)
    assert path.read_bytes() == before
    assert _dir_listing(tmp_path) == ["good.safetensors"]


def test_failed_fsync_leaves_old_file_and_no_temp(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = _good_file(tmp_path)

    def broken_fsync(fd: int) -> None:
        raise OSError("simulated I/O error")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="simulated I/O error"):
        save({"w": np.ones(3)}, path)
    assert path.read_bytes() == before
    assert _dir_listing(tmp_path) == ["good.safetensors"]


def test_failed_serialization_leaves_old_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, before = _good_file(tmp_path)

    def broken_save(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("simulated serializer failure")

    monkeypatch.setattr(st_numpy, "save", broken_save)
    with pytest.raises(RuntimeError, match="simulated serializer failure"):
        save({"w": np.ones(3)}, path)
    assert path.read_bytes() == before
    assert _dir_listing(tmp_path) == ["good.safetensors"]


def test_failed_first_save_creates_nothing(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_replace(src: Any, dst: Any) -> None:
        raise KeyboardInterrupt  # even an interrupt must not leave a temp file behind

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(KeyboardInterrupt):
        save({"w": np.ones(3)}, tmp_path / "new.safetensors")
    assert _dir_listing(tmp_path) == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_file_mode_is_kept_on_overwrite_and_umask_respected(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "mode.safetensors"
    save({"w": np.ones(1)}, path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's 0o600
    path.chmod(0o640)
    save({"w": np.zeros(1)}, path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


# --------------------------------------------------------------------------- optional dependency


def test_missing_safetensors_gives_install_hint(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "safetensors.numpy", None)
    with pytest.raises(ImportError, match=r'pip install "chainrule\[checkpoint\]"'):
        save({"w": np.ones(1)}, tmp_path / "x.safetensors")
    assert _dir_listing(tmp_path) == []


def test_safetensors_is_imported_lazily() -> None:
    code = (
        "import sys, chainrule.serialization; "
        "assert 'safetensors' not in sys.modules, 'safetensors imported eagerly'"
    )
    src = str(pathlib.Path(serialization.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# --------------------------------------------------------------------------- check_state_dict


EXPECTED = {
    "fc1.weight": ((4, 4), np.float32),
    "fc1.bias": ((4,), np.float32),
    "fc2.weight": ((2, 4), np.float32),
    "fc2.bias": ((2,), np.float32),
}


def good_given() -> dict[str, np.ndarray]:
    return {k: np.zeros(shape, dtype) for k, (shape, dtype) in EXPECTED.items()}


def test_check_state_dict_accepts_matching() -> None:
    check_state_dict(EXPECTED, good_given())  # no exception
    check_state_dict(EXPECTED, good_given(), strict=False)


def test_check_state_dict_reports_everything_at_once() -> None:
    given: dict[str, Any] = good_given()
    del given["fc2.weight"], given["fc2.bias"]
    given["fc3.weight"] = np.zeros(1, np.float32)
    given["fc1.weight"] = np.zeros((3, 4), np.float32)
    given["fc1.bias"] = np.zeros(4, np.int64)
    with pytest.raises(StateDictError) as info:
        check_state_dict(EXPECTED, given)
    msg = str(info.value)
    assert "Missing keys (2): 'fc2.weight', 'fc2.bias'" in msg
    assert "Unexpected keys (1): 'fc3.weight'" in msg
    assert "fc1.weight: checkpoint has (3, 4), model has (4, 4)" in msg
    assert "fc1.bias: checkpoint has int64, model has float32" in msg
    assert not msg.startswith(("'", '"'))  # not KeyError's repr-quoting
    err = info.value
    assert err.missing == ["fc2.weight", "fc2.bias"]
    assert err.unexpected == ["fc3.weight"]
    assert len(err.mismatched) == 2


def test_check_state_dict_only_missing() -> None:
    given = good_given()
    del given["fc1.bias"]
    with pytest.raises(StateDictError, match=r"Missing keys \(1\): 'fc1.bias'") as info:
        check_state_dict(EXPECTED, given)
    assert "Unexpected" not in str(info.value)
    assert "mismatch" not in str(info.value)


def test_check_state_dict_only_unexpected() -> None:
    given: dict[str, Any] = good_given()
    given["extra"] = np.zeros(2)
    with pytest.raises(StateDictError, match=r"Unexpected keys \(1\): 'extra'"):
        check_state_dict(EXPECTED, given)


def test_check_state_dict_non_strict_ignores_keys_but_not_shapes() -> None:
    given: dict[str, Any] = good_given()
    del given["fc2.bias"]
    given["extra"] = np.zeros(2)
    check_state_dict(EXPECTED, given, strict=False)
    given["fc2.weight"] = np.zeros((4, 2), np.float32)
    with pytest.raises(StateDictError) as info:
        check_state_dict(EXPECTED, given, strict=False)
    msg = str(info.value)
    assert "fc2.weight: checkpoint has (4, 2), model has (2, 4)" in msg
    assert "Missing" not in msg and "Unexpected" not in msg


def test_check_state_dict_value_without_shape() -> None:
    given: dict[str, Any] = good_given()
    given["fc1.bias"] = 3.0
    with pytest.raises(StateDictError, match="fc1.bias: checkpoint has a float"):
        check_state_dict(EXPECTED, given)


def test_state_dict_error_is_key_and_value_error() -> None:
    with pytest.raises(KeyError):
        check_state_dict(EXPECTED, {})
    with pytest.raises(ValueError):
        check_state_dict(EXPECTED, {})


def test_check_state_dict_dtype_spellings() -> None:
    expected = {"w": ((2,), "float64"), "i": ((), np.dtype("int32"))}
    check_state_dict(expected, {"w": np.zeros(2), "i": np.array(1, np.int32)})


def test_check_state_dict_with_tensors() -> None:
    expected = {"w": ((2, 3), np.float32), "b": ((3,), np.float32)}
    given = {
        "w": cr.tensor(np.zeros((2, 3), np.float32)),
        "b": cr.tensor(np.zeros(2, np.float64)),
    }
    with pytest.raises(StateDictError) as info:
        check_state_dict(expected, given)
    msg = str(info.value)
    assert "b: checkpoint has (2,), model has (3,)" in msg
    assert "b: checkpoint has float64, model has float32" in msg
    assert "w:" not in msg


def test_check_state_dict_on_loaded_checkpoint(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "model.safetensors"
    save(good_given(), path)
    check_state_dict(EXPECTED, load_numpy(path))
