"""Regenerate docs/ops.md from the op table: python scripts/gen_ops_doc.py"""

from pathlib import Path

from chainrule.ops.registry import markdown_table

HEADER = """# The op table

Every primitive op of chainrule, generated from `src/chainrule/ops/` by
`python scripts/gen_ops_doc.py`. Each row is one `defop` entry: its forward, one
vector-Jacobian product per input, the formula below, and the sample the every-op test
(`tests/test_ops.py`) draws from. Everything else (`var`, `std`, `outer`, `stack`, most losses)
is composed from these and differentiated through them.

"""

if __name__ == "__main__":
    path = Path(__file__).resolve().parent.parent / "docs" / "ops.md"
    path.write_text(HEADER + markdown_table(), encoding="utf-8")
    print(f"wrote {path}")
