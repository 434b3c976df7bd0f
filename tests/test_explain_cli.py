"""`chainrule explain` on the command line: real subprocesses, outputs and exit codes.

The hostile inputs run in parallel (one process each) to keep the suite fast.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chainrule.cli import main

ENV = {**os.environ, "PYTHONIOENCODING": "utf-8"}


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chainrule", "explain", *args],
                          capture_output=True, text=True, env=ENV, timeout=60, cwd=cwd)


def many(argvs: list[list[str]], cwd: Path) -> list[tuple[int, str, str]]:
    """Run ``python -m chainrule explain ARGS`` for each argv, all at once."""
    procs = [subprocess.Popen([sys.executable, "-m", "chainrule", "explain", *a],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV, cwd=cwd) for a in argvs]
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append((p.returncode, stdout, stderr))
    return out


def test_sin_of_square() -> None:
    r = cli("sin(x**2)", "--at", "x=1.5")
    assert r.returncode == 0, r.stderr
    for s in ["sin(x**2) at x = 1.5", "u = x² = 1.5² = 2.25", "du/dx = 2x = 3",
              "z = sin(u) = sin(2.25) = 0.778073", "dz/du = cos(u) = cos(2.25) = −0.628174",
              "dz/dx = cos(2.25)·3 = −1.88452"]:
        assert s in r.stdout, s
    assert r.stderr == ""


def test_several_variables_wrt_and_digits(capsys: pytest.CaptureFixture[str]) -> None:
    argvs = [
        ["x*y + sin(x)", "--at", "x=0.5,y=2"],
        ["x*y + sin(x)", "--at", "x=0.5", "--at", "y=2", "--wrt", "y"],
        ["exp(-x**2)", "--at", "x=1", "--digits", "3"],
        ["sum(tanh(x)**2)", "--at", "x=[0.1, 0.2, 0.3]"],
        ["x @ y", "--at", "x=[1,2],y=[3,4]", "--format", "json"],
        ["log(x)/y", "--at", "x=2,y=4", "--format", "markdown"],
        ["sigmoid(x)", "--at", "x=0", "--format", "latex"],
        ["x**2", "--at", "x=[1,2,3]"],
        ["--at", "x=1", "--", "-x**2"],
    ]
    r = [run_main(a, capsys) for a in argvs]
    assert all(code == 0 for code, _, _ in r), [e for _, _, e in r]
    assert "∂z/∂x = 2 + 0.877583 = 2.87758" in r[0][1]
    assert "∂z/∂y = 0.5" in r[0][1]
    grads = r[1][1].split("Gradients")[1].split("Summary")[0]
    assert "∂z/∂y" in grads and "∂z/∂x" not in grads
    assert "dz/dx = −0.736" in r[2][1]  # d/dx e^(-x²) = -2x e^(-x²) at 1
    assert "[0.197356, 0.379372, 0.533182]" in r[3][1]
    assert "a vector output" not in r[3][1]  # sum(...) is a scalar
    d = json.loads(r[4][1])
    assert d["gradients"]["x"]["value"] == [3.0, 4.0] and d["gradients"]["y"]["value"] == [1, 2]
    assert r[5][1].startswith("### ")
    assert r"\begin{align*}" in r[6][1]
    assert "sum(z)" in r[7][1] and "[2, 4, 6]" in r[7][1]  # a vector output: its sum
    assert "dz/dx = −2" in r[8][1]


def test_html_page_is_written(tmp_path: Path) -> None:
    out = tmp_path / "page.html"
    r = cli("sin(x**2)", "--at", "x=1.5", "--html", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "−1.88452" in text
    assert "http://" not in text and "https://" not in text
    assert f"Wrote the animated backward pass to {out}" in r.stdout


@pytest.mark.parametrize("name", ["four-layer", "sin-square", "cube-of-square", "exp-log",
                                  "two-layer"])
def test_examples_in_process(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "--example", name]) == 0
    out = capsys.readouterr().out
    assert "Backward pass" in out and "Gradients" in out


def test_four_layer_example_subprocess() -> None:
    r = cli("--example", "four-layer")
    assert r.returncode == 0, r.stderr
    for s in ["L = 40.506", "δ4 = −9.00067", "∂L/∂W4 = −8.99463",
              "φ3′(u3) = 1 − tanh²(4) = 0.00134095", "δ3 = −0.0120695",
              "∂L/∂W3 = −0.0482778", "∂L/∂W2 = −0.0241389", "∂L/∂W1 = −0.0482778"]:
        assert s in r.stdout, s


HOSTILE = [
    ["__import__('os').system('echo pwned')", "--at", "x=1"],
    ["x.__class__", "--at", "x=1"],
    ["x.__class__.__bases__[0].__subclasses__()", "--at", "x=1"],
    ["().__class__", "--at", "x=1"],
    ["open('/etc/passwd')", "--at", "x=1"],
    ["eval('1+1')", "--at", "x=1"],
    ["exec('import os')", "--at", "x=1"],
    ["getattr(x, 'data')", "--at", "x=1"],
    ["globals()", "--at", "x=1"],
    ["__builtins__", "--at", "x=1"],
    ["x.data", "--at", "x=1"],
    ["lambda: 1", "--at", "x=1"],
    ["[c for c in 'ab']", "--at", "x=1"],
    ["9**9**9", "--at", "x=1"],
    ["x + 9**9**9", "--at", "x=1"],
    ["x**10**6", "--at", "x=1"],
    ["10**400 * x", "--at", "x=1"],
    ["(" * 300 + "x" + ")" * 300, "--at", "x=1"],
    ["sin(" * 80 + "x" + ")" * 80, "--at", "x=1"],
    ["x+" * 700 + "x", "--at", "x=1"],
    ["-" * 5000 + "x", "--at", "x=1"],
    ["'a' * 10", "--at", "x=1"],
    ["x if x else x", "--at", "x=1"],
    ["x[0]", "--at", "x=[1,2]"],
    ["sin(x, key=1)", "--at", "x=1"],
    ["sin(*x)", "--at", "x=1"],
    ["import os", "--at", "x=1"],
    ["x; y", "--at", "x=1"],
    ["f'{x}'", "--at", "x=1"],
    ["x\x07", "--at", "x=1"],
    ["x ＋ 1", "--at", "x=1"],
    ["system(x)", "--at", "x=1"],
    ["x", "--at", "x=__import__('os')"],
    ["x", "--at", "x=1e999"],
    ["x", "--at", "__class__=1"],
    ["x", "--at", "x=[[1]]"],
    ["x", "--at", "x=" + "9" * 20000],
    ["x", "--at", "x=1", "--wrt", "__dict__"],
    ["x + y", "--at", "x=1"],  # a missing value
    ["x", "--at", "x=1,y=2"],  # an unused one
    ["x", "--at", "x=1", "--digits", "1e9"],
    ["x", "--at", "x=1", "--html", "/nonexistent-dir/page.html"],
    ["x @ y", "--at", "x=[1,2],y=[1,2,3]"],  # shapes that do not fit
    ["--example", "../../etc/passwd"],
    ["x", "--example", "four-layer"],
    [],
]


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``chainrule explain ARGV`` in this process (``chainrule.cli.main``): exit code, output."""
    try:
        code = main(["explain", *argv])
    except SystemExit as e:  # argparse's errors
        code = int(e.code or 0)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def check_refused(argv: list[str], code: int, out: str, err: str) -> None:
    shown = " ".join(argv)[:80]
    assert code == 2, (shown, code, out, err)
    assert out == "", shown
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1, (shown, err)
    assert lines[0].startswith(("chainrule explain: error:", "chainrule: error:")), (shown, err)
    assert "Traceback" not in err and len(lines[0]) < 400
    assert "pwned" not in out + err


def test_hostile_input_is_refused_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert len(HOSTILE) >= 20
    monkeypatch.chdir(tmp_path)
    for argv in HOSTILE:
        check_refused(argv, *run_main(argv, capsys))
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_hostile_input_through_real_processes(tmp_path: Path) -> None:
    picks = [HOSTILE[i] for i in (0, 13, 17, 32)]
    for argv, result in zip(picks, many(picks, tmp_path)):
        check_refused(argv, *result)
    assert list(tmp_path.iterdir()) == []


def test_bad_flags_are_one_line_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["explain", "x", "--nope"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error" in err
