"""The documentation stays in step with the code."""

from pathlib import Path

import pytest

from chainrule.ops.registry import markdown_table

ROOT = Path(__file__).resolve().parent.parent


def test_ops_doc_is_current():
    text = (ROOT / "docs" / "ops.md").read_text(encoding="utf-8")
    assert text.endswith(markdown_table()), "docs/ops.md is stale: run scripts/gen_ops_doc.py"


def test_readme_has_quickstart_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "## Quickstart" in readme
    assert "scripts/demo.sh" in readme and "scripts/test.sh" in readme
    assert "scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_readme_examples_run(tmp_path, monkeypatch):
    """The README's Python blocks run as written (the first trains on the digits)."""
    import re

    pytest.importorskip("sklearn")
    pytest.importorskip("safetensors")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(blocks[0], namespace)
    assert (tmp_path / "model.safetensors").exists()
    exec("import numpy as np\nimport chainrule as cr\n" + blocks[1], namespace)
    x = namespace["cr"].tensor(1.0, requires_grad=True)
    namespace["softsign"](x).backward()
    assert x.grad.item() == 0.25
