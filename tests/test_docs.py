"""The documentation stays in step with the code."""

from pathlib import Path

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
