"""Audit of the tools around training: the CLI, checkpoints, gradient diagnostics, drawings
and the HTML page, on bad input and edge cases."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import struct
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest

import chainrule as cr
from chainrule import cli, training
from chainrule.diagnostics import GradientMonitor, GradientWarning
from chainrule.explain.html import compute_layout
from chainrule.serialization import CheckpointError


def _no_training(*args, **kwargs):
    raise AssertionError("the run trained although its arguments were bad")


# -- the command line -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [str(2**64), "99999999999999999999"])
def test_seed_too_large_for_the_generator_is_a_one_line_error(seed, capsys, tmp_path,
                                                              monkeypatch):
    # (was: a ValueError traceback from cr.manual_seed, exit code 1, after creating --out)
    monkeypatch.setattr(training, "fit", _no_training)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as e:
        cli.main(["train", "--seed", seed, "--out", str(out)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--seed" in err and "Traceback" not in err
    assert not out.exists()


def test_largest_seed_is_accepted_by_the_parser():
    args = cli.build_parser().parse_args(["train", "--seed", str(2**64 - 1)])
    assert args.seed == 2**64 - 1


def test_library_train_refuses_a_too_large_seed_before_making_files(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "fit", _no_training)
    out = tmp_path / "run"
    config = training.TrainConfig(model="mlp", dataset="moons", epochs=1, seed=2**64,
                                  out=str(out), progress=False)
    with pytest.raises(ValueError, match="seed"):
        training.train(config, log=lambda line: None)
    assert not out.exists()


def test_unwritable_out_directory_fails_before_training(capsys, monkeypatch):
    # /proc exists and is a directory, but no file can be created in it (not even by
    # root, for whom a chmod-ed directory would still be writable). It used to train the
    # whole run and only then fail to save, with exit code 1.
    if not os.path.isdir("/proc"):
        pytest.skip("needs /proc (a directory in which no file can be created)")
    monkeypatch.setattr(training, "fit", _no_training)
    code = cli.main(["train", "--epochs", "1", "--no-progress", "--out", "/proc"])
    assert code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and "--out" in lines[0] and "/proc" in lines[0]
    assert "Training" not in captured.out


def test_make_out_dir_reports_a_read_only_directory(tmp_path, monkeypatch):
    # A directory that refuses new files (simulated: the test may run as root).
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(training.tempfile, "NamedTemporaryFile", refuse)
    with pytest.raises(PermissionError, match="cannot use .* as the output directory: "
                                              "Permission denied"):
        training.make_out_dir(tmp_path)


def test_make_out_dir_leaves_no_probe_file(tmp_path):
    training.make_out_dir(tmp_path / "a" / "b")
    assert list((tmp_path / "a" / "b").iterdir()) == []


# -- checkpoints ------------------------------------------------------------------------


def _write(path: Path, header: object, body: bytes = b"") -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + body)
    return path


BODY = np.arange(4, dtype=np.float32).tobytes()


@pytest.mark.parametrize("offsets", [[16, 0], [-4, 12], [0.0, 16.0], ["0", "16"],
                                     [True, 16]])
def test_wrong_data_offsets_are_named(tmp_path, offsets):
    # [16, 0] used to be reported as "16 unexpected bytes after the tensor data"
    path = _write(tmp_path / "bad.safetensors",
                  {"x": {"dtype": "F32", "shape": [4], "data_offsets": offsets}}, BODY)
    with pytest.raises(CheckpointError, match=r"tensor 'x' has invalid data_offsets"):
        cr.load(path)


@pytest.mark.parametrize("dtype", [[5], {"a": 1}, None, 5])
def test_unhashable_or_odd_dtype_in_header_is_a_checkpoint_error(tmp_path, dtype):
    # a list used to escape as "TypeError: unhashable type: 'list'"
    path = _write(tmp_path / "bad.safetensors",
                  {"x": {"dtype": dtype, "shape": [4], "data_offsets": [0, 16]}}, BODY)
    with pytest.raises(CheckpointError, match="tensor 'x' has dtype"):
        cr.load(path)


def test_valid_hand_written_header_still_loads(tmp_path):
    path = _write(tmp_path / "ok.safetensors",
                  {"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, BODY)
    np.testing.assert_array_equal(cr.load(path)["x"].numpy(), np.arange(4.0))


def test_bytes_paths_work_like_str_paths(tmp_path):
    path = os.fsencode(tmp_path / "b.safetensors")
    cr.save({"w": cr.ones(2), "step": 3}, path)
    back = cr.load(path)
    assert back["step"] == 3 and back["w"].numpy().tolist() == [1.0, 1.0]


def test_loading_a_directory_says_so(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory, not a file"):
        cr.load(tmp_path)


# -- gradient diagnostics ---------------------------------------------------------------


def test_huge_finite_gradients_are_exploding_not_nan():
    # ‖g‖ of 1e200s overflowed to inf, was shown as "nan" with status "ok", no warning
    w = cr.ones(4, dtype=cr.float64, requires_grad=True)
    monitor = GradientMonitor([("w", w)], patience=1)
    w.grad = cr.tensor(np.full(4, 1e200))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        monitor.step()
    rec = monitor.layer_records[-1]
    assert rec.finite and rec.grad_norm == pytest.approx(2e200)
    assert monitor.status("w") == "exploding"
    assert any(issubclass(c.category, GradientWarning) for c in caught)
    assert "nan" not in monitor.report()


def test_norms_of_ordinary_and_special_gradients():
    w = cr.tensor([3.0, 4.0], dtype=cr.float64, requires_grad=True)
    monitor = GradientMonitor([("w", w)], warn=False)
    w.grad = cr.tensor([3.0, 4.0], dtype=cr.float64)
    monitor.step()
    assert monitor.layer_records[-1].grad_norm == pytest.approx(5.0)
    assert monitor.layer_records[-1].weight_norm == pytest.approx(5.0)
    w.grad = cr.zeros(2, dtype=cr.float64)
    monitor.step()
    assert monitor.layer_records[-1].grad_norm == 0.0
    w.grad = cr.tensor([np.inf, 1.0], dtype=cr.float64)
    monitor.step()
    assert not monitor.layer_records[-1].finite
    assert np.isnan(monitor.layer_records[-1].grad_norm)


# -- drawings ---------------------------------------------------------------------------


def _svg_texts(source: str) -> list[str]:
    svg = subprocess.run(["dot", "-Tsvg"], input=source.encode(), capture_output=True,
                         check=True).stdout.decode()
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>(.*?)</text>", svg)]


def _scoped_graph() -> cr.Tensor:
    x = cr.tensor([1.0, 2.0], requires_grad=True, name="x")
    with cr.name_scope("<i>\\"):
        return (x * 2).sum()


def test_title_and_frame_labels_are_escaped_for_dot():
    y = _scoped_graph()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # graphviz warns of a syntax error to come
        titled = cr.draw(y, title="<b>")
        framed = cr.draw(y, expand=True, title="end\\")
    # '<b>' alone was handed to dot as an HTML-like label (drawn as "b"); a title or
    # scope ending in a backslash escaped the closing quote: a DOT syntax error
    assert 'label="&lt;b&gt;"' in titled.source
    assert 'label="&lt;i&gt;\\\\"' in framed.source
    assert 'label="end\\\\"' in framed.source
    if shutil.which("dot"):
        assert "<b>" in _svg_texts(titled.source)
        texts = _svg_texts(framed.source)
        assert "<i>\\" in texts and "end\\" in texts


def test_entities_in_names_are_drawn_literally():
    x = cr.tensor(1.5, requires_grad=True, name="&amp;<x>")
    d = cr.draw(cr.sin(x * x), show_grad=True)
    assert "&amp;amp;&lt;x&gt;" in d.source
    if shutil.which("dot"):
        assert "&amp;<x>" in _svg_texts(d.source)  # dot used to show "&<x>"


# -- the HTML page's layout -------------------------------------------------------------


def _chain_trace(n: int, shared: bool) -> tuple[list[dict], list[dict]]:
    """z = ((x*x)*x)... (``shared``: x feeds every step) or z = x0 + sin(x1) + sin(x2)...
    (each sin(x_i) joins the chain at step i)."""
    nodes = [{"id": "z0", "label": "z0", "kind": "leaf"}]
    edges = []
    for i in range(1, n + 1):
        nodes.append({"id": f"z{i}", "label": f"z{i}", "kind": "op"})
        edges.append({"source": f"z{i - 1}", "target": f"z{i}", "input_index": 0})
        if shared:
            edges.append({"source": "z0", "target": f"z{i}", "input_index": 1})
        else:
            nodes.append({"id": f"x{i}", "label": f"x{i}", "kind": "leaf"})
            nodes.append({"id": f"s{i}", "label": f"s{i}", "kind": "op"})
            edges.append({"source": f"x{i}", "target": f"s{i}", "input_index": 0})
            edges.append({"source": f"s{i}", "target": f"z{i}", "input_index": 1})
    return nodes, edges


def test_side_branches_sit_next_to_where_they_join():
    # sin(x_i) used to sit in layer 1 with an edge (and virtual points) across 2i layers:
    # O(n²) points and minutes of layout for a sum of a few hundred terms
    nodes, edges = _chain_trace(60, shared=False)
    lay = compute_layout(nodes, edges)
    for i in range(1, 61):
        assert lay.boxes[f"s{i}"].layer == lay.boxes[f"z{i}"].layer - 1
        assert lay.boxes[f"x{i}"].layer == lay.boxes[f"z{i}"].layer - 2
    assert all(len(r.points) == 2 for r in lay.edges)  # no long edge left


def test_long_edges_from_one_node_share_their_points():
    nodes, edges = _chain_trace(40, shared=True)
    lay = compute_layout(nodes, edges)
    at_column: dict[float, set[float]] = {}
    for r in lay.edges:
        if r.source == "z0":
            for x, y in r.points[1:-1]:
                at_column.setdefault(round(x, 3), set()).add(round(y, 3))
    assert len(at_column) > 30
    assert all(len(ys) == 1 for ys in at_column.values())  # one path, not 40 parallel ones
    for e in edges:  # still a valid left-to-right layout
        assert lay.boxes[e["source"]].layer < lay.boxes[e["target"]].layer



@pytest.mark.parametrize("name", ["checkpoint.safetensors", "curves.png"])
def test_an_output_file_that_is_a_directory_fails_before_training(tmp_path, capsys, monkeypatch,
                                                                  name):
    (tmp_path / name).mkdir()
    monkeypatch.setattr(training, "fit", _no_training)
    code = cli.main(["train", "--epochs", "1", "--no-progress", "--out", str(tmp_path)])
    assert code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and f"{name} in it is a directory" in lines[0]
    assert "Training" not in captured.out


def test_a_gradient_flow_plot_path_that_is_a_directory_fails_before_training(
        tmp_path, capsys, monkeypatch):
    (tmp_path / "gradient_flow.png").mkdir()
    monkeypatch.setattr(training, "fit", _no_training)
    code = cli.main(["train", "--epochs", "1", "--no-progress", "--out", str(tmp_path)])
    assert code == 2
    assert "gradient_flow.png in it is a directory" in capsys.readouterr().err
