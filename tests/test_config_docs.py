"""docs/CONFIG.md is generated from the schema: the committed file must equal the generated one."""
from __future__ import annotations

from pathlib import Path

from transforms.config.config_docs import render

DOC = Path(__file__).resolve().parents[1] / "docs" / "CONFIG.md"


def test_committed_config_docs_equal_the_generated_ones():
    assert DOC.read_text(encoding="utf-8") == render(), \
        "docs/CONFIG.md is stale: run `home-recs config docs > docs/CONFIG.md`"


def test_a_row_gives_the_key_its_type_default_and_description():
    rows = render().splitlines()
    assert ("| `gate.tolerance` | float, >= 0 | `0.005` | allowed drop against the production model on the same "
            "window |") in rows
    assert ("| `shelves.<name>.max_candidates` | int, > 0 | `200` | candidates per listener after merging the "
            "sources |") in rows
