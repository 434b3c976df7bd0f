"""``chainrule demo`` and ``chainrule train``: the command line and the training library."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, training

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

VALID = [(m, d) for m in training.MODELS for d in training.DATASETS
         if d in training.COMPATIBLE[m]]
INVALID = [(m, d) for m in training.MODELS for d in training.DATASETS
           if d not in training.COMPATIBLE[m]]


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120):
    """``python -m chainrule ARGS`` in a fresh process."""
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    return subprocess.run([sys.executable, "-m", "chainrule", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd, env=env)


def assert_png(path: Path) -> None:
    assert path.is_file(), f"{path} was not written"
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE), f"{path} is not a PNG"
    assert b"IEND" in data[-16:], f"{path} is truncated"
    import matplotlib.image

    image = matplotlib.image.imread(str(path))
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


# -- the command line -------------------------------------------------------------------

TRAIN_FLAGS = ["--model", "--dataset", "--epochs", "--lr", "--optimizer", "--batch-size",
               "--seed", "--out", "--no-progress", "--diagnose"]


def test_train_help_lists_every_flag():
    proc = run_cli("train", "--help")
    assert proc.returncode == 0
    for flag in TRAIN_FLAGS:
        assert flag in proc.stdout, flag
    for choice in (*training.MODELS, *training.DATASETS, *training.OPTIMIZERS):
        assert choice in proc.stdout, choice


def test_help_documents_every_flag_in_process(capsys):
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, flags in (("train", TRAIN_FLAGS), ("demo", TRAIN_FLAGS[2:])):
        sub_parser = sub.choices[name]  # type: ignore[attr-defined]
        documented = {s for a in sub_parser._actions for s in a.option_strings if a.help}
        assert set(flags) <= documented, name
        assert {s for a in sub_parser._actions for s in a.option_strings} - {"-h", "--help"} \
            == set(flags), f"{name} has an undocumented flag"
    with pytest.raises(SystemExit) as e:
        cli.main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "demo" in out and "train" in out


BAD_ARGS = [
    ["train", "--epochs", "0"],
    ["train", "--epochs", "two"],
    ["train", "--epochs", "1.5"],
    ["train", "--lr", "-0.1"],
    ["train", "--lr", "0"],
    ["train", "--lr", "nan"],
    ["train", "--lr", "fast"],
    ["train", "--batch-size", "0"],
    ["train", "--seed", "-1"],
    ["train", "--model", "transformer"],
    ["train", "--dataset", "mnist"],
    ["train", "--optimizer", "lbfgs"],
    ["train", "--frobnicate"],
    ["train", "--epochs"],
    ["demo", "--model", "cnn"],
    ["demo", "--epochs", "-3"],
    ["fly"],
    [],
]


@pytest.mark.parametrize("argv", BAD_ARGS, ids=lambda a: " ".join(a) or "<none>")
def test_bad_flags_and_values_exit_2_with_one_line(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0], captured.err


@pytest.mark.parametrize("model,dataset", INVALID)
def test_incompatible_model_and_dataset_exit_2(model, dataset, capsys, tmp_path):
    code = cli.main(["train", "--model", model, "--dataset", dataset, "--out",
                     str(tmp_path / "run")])
    assert code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and model in lines[0] and dataset in lines[0]
    assert not (tmp_path / "run").exists()


def test_bad_values_exit_2_as_a_process():
    proc = run_cli("train", "--model", "rnn", "--dataset", "moons")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "cannot be trained on" in proc.stderr
    proc = run_cli("train", "--lr", "-1")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "--lr" in proc.stderr


@pytest.mark.parametrize("model,dataset", VALID)
def test_train_every_combination(model, dataset, tmp_path):
    out = tmp_path / f"{model}-{dataset}"
    proc = run_cli("train", "--model", model, "--dataset", dataset, "--epochs", "1",
                   "--no-progress", "--out", str(out), "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    assert "epoch   1/1" in proc.stdout
    if dataset == "sine":
        assert re.search(r"Test MSE: \d+\.\d+ +\(repeating the last input value: \d", proc.stdout)
    else:
        assert re.search(r"Test accuracy: \d+\.\d%", proc.stdout)
    checkpoint = cr.load(out / "checkpoint.safetensors")
    assert checkpoint["config"]["model"] == model
    assert checkpoint["config"]["dataset"] == dataset
    assert checkpoint["config"]["epochs"] == 1
    assert checkpoint["config"]["seed"] == 3
    assert_png(out / "curves.png")


def test_default_out_directory_for_train(tmp_path):
    proc = run_cli("train", "--dataset", "moons", "--epochs", "1", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "chainrule-mlp-moons" / "checkpoint.safetensors").is_file()


def test_progress_bar_goes_to_stderr(tmp_path):
    proc = run_cli("train", "--dataset", "moons", "--epochs", "2", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "epoch 2/2" in proc.stderr and "loss=" in proc.stderr and "acc=" in proc.stderr
    assert "Test accuracy" in proc.stdout


# -- the training library -----------------------------------------------------------------


def small_run(tmp_path: Path, **kw):
    config = training.TrainConfig(**{"model": "mlp", "dataset": "moons", "epochs": 2,
                                     "out": str(tmp_path), "progress": False, **kw})
    return training.train(config, log=lambda line: None)


def test_same_seed_same_run(tmp_path):
    a = small_run(tmp_path / "a", seed=5)
    b = small_run(tmp_path / "b", seed=5)
    c = small_run(tmp_path / "c", seed=6)
    assert a.history == b.history
    assert a.history["train_loss"] != c.history["train_loss"]


def test_checkpoint_restores_the_same_model(tmp_path):
    result = small_run(tmp_path, dataset="spirals", optimizer="sgd")
    assert result.checkpoint is not None
    model, checkpoint = training.load_checkpoint(result.checkpoint)
    x = result.task.test.tensors[0]
    with cr.no_grad():
        result.model.eval()
        expected = result.model(x).numpy()
        restored = model(x).numpy()
    np.testing.assert_array_equal(restored, expected)
    assert checkpoint["config"]["optimizer"] == "sgd"
    assert checkpoint["metrics"]["test_accuracy"] == pytest.approx(
        training.evaluate(model, result.task)["accuracy"])
    assert checkpoint["optimizer"]["state"], "the optimizer state was not saved"
    assert len(checkpoint["history"]["train_loss"]) == 2


def test_failing_save_keeps_the_good_checkpoint(tmp_path, monkeypatch):
    result = small_run(tmp_path)
    path = Path(result.checkpoint)
    good = path.read_bytes()

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    spec = training.model_spec(result.config, result.task)
    with monkeypatch.context() as m:
        m.setattr(os, "fsync", disk_full)
        with pytest.raises(OSError, match="No space left"):
            training.save_checkpoint(path, result.model, spec)
    assert path.read_bytes() == good
    with pytest.raises(ValueError):  # not JSON-able: refused before anything is written
        training.save_checkpoint(path, result.model, spec, config={"lr": float("nan")})
    with pytest.raises(TypeError):
        training.save_checkpoint(path, result.model, spec, metrics={"when": object()})
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.safetensors",
                                                           "curves.png"]
    model, _ = training.load_checkpoint(path)  # still a valid checkpoint
    assert isinstance(model, cr.nn.Module)


def test_without_tqdm_and_matplotlib(tmp_path, monkeypatch, capsys):
    """The optional extras: plain per-epoch lines without tqdm, a clear note without
    matplotlib, and the training still works."""
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.split(".")[0] in ("tqdm", "matplotlib"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    lines: list[str] = []
    result = training.train(training.TrainConfig(dataset="moons", epochs=2, out=str(tmp_path)),
                            log=lines.append)
    assert any("tqdm is not installed" in line for line in lines)
    assert sum(line.startswith("epoch ") for line in lines) == 2
    assert result.curves is None and any("matplotlib" in n for n in result.notes)
    assert (tmp_path / "checkpoint.safetensors").is_file()
    assert not (tmp_path / "curves.png").exists()


# -- the demo, end to end ----------------------------------------------------------------


@pytest.mark.slow
def test_demo_end_to_end(tmp_path):
    out = tmp_path / "demo"
    proc = run_cli("demo", "--out", str(out), "--no-progress", timeout=180)
    assert proc.returncode == 0, proc.stderr
    match = re.search(r"Test accuracy: (\d+\.\d)% \((\d+)/360 held-out", proc.stdout)
    assert match, proc.stdout
    accuracy = float(match.group(1))
    assert accuracy >= 97.0

    checkpoint = cr.load(out / "checkpoint.safetensors")
    assert set(checkpoint) >= {"model", "optimizer", "config", "metrics", "history"}
    assert checkpoint["config"]["model"] == "mlp"
    assert checkpoint["config"]["dataset"] == "digits"
    model, _ = training.load_checkpoint(out / "checkpoint.safetensors")
    task = training.load_task("digits", "mlp", seed=checkpoint["config"]["seed"])
    x, y = task.test.tensors
    with cr.no_grad():
        predictions = model(x).numpy().argmax(axis=1)
    assert int(np.sum(predictions == y.numpy())) == int(match.group(2))
    assert checkpoint["metrics"]["test_accuracy"] * 100 == pytest.approx(accuracy, abs=0.05)
    assert_png(out / "curves.png")


@pytest.mark.slow
def test_demo_in_the_current_directory_by_default(tmp_path):
    proc = run_cli("demo", "--epochs", "1", "--no-progress", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "chainrule-demo" / "checkpoint.safetensors").is_file()
    assert_png(tmp_path / "chainrule-demo" / "curves.png")


def test_diagnose_adds_the_gradient_flow(tmp_path):
    proc = run_cli("demo", "--diagnose", "--epochs", "1", "--no-progress", "--out",
                   str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "Gradient flow over 45 steps" in proc.stdout
    assert re.search(r"^  fc1 ", proc.stdout, re.M) and re.search(r"^  fc2 ", proc.stdout, re.M)
    assert_png(tmp_path / "gradient_flow.png")


@pytest.mark.slow
def test_rnn_beats_repeating_the_last_value(tmp_path):
    result = training.train(training.TrainConfig(model="rnn", dataset="sine", out=None,
                                                 progress=False), log=lambda line: None)
    assert result.metrics["test_mse"] < 0.25 * result.metrics["baseline_mse"]


@pytest.mark.slow
def test_cnn_reaches_98_percent_on_digits(tmp_path):
    proc = run_cli("train", "--model", "cnn", "--dataset", "digits", "--no-progress", "--out",
                   str(tmp_path), timeout=180)
    assert proc.returncode == 0, proc.stderr
    match = re.search(r"Test accuracy: (\d+\.\d)%", proc.stdout)
    assert match and float(match.group(1)) >= 98.0, proc.stdout
