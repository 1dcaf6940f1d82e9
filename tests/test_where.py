"""docs/WHERE.md, the newcomers' map, names files and symbols that exist (it cannot silently rot)."""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_row_of_the_map_names_a_file_that_holds_its_symbol():
    rows = [line for line in (ROOT / "docs" / "WHERE.md").read_text().splitlines()
            if line.startswith("| ") and not line.startswith("| to change") and "---" not in line]
    assert len(rows) >= 20   # feature, source, rule, shelf, threshold, reject reason, output column, ...
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        path, symbol = (re.fullmatch(r"`([^`]+)`", c).group(1) for c in cells[1:3])
        text = (ROOT / path).read_text()
        assert symbol in text, f"docs/WHERE.md: {symbol!r} not found in {path}"
