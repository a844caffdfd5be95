"""docs/specs.md stays true: its worked example builds and makes rows, and every
generator and count law pgbulk knows is documented there."""

from __future__ import annotations

from pathlib import Path

from pgbulk.chunks import Rows
from pgbulk.spec import from_toml
from pgbulk.spec.registry import GENERATORS, LAWS

DOCS = (Path(__file__).parents[2] / "docs" / "specs.md").read_text()


def _example() -> str:
    start = DOCS.index("```toml\n", DOCS.index("## A worked example")) + len("```toml\n")
    return DOCS[start : DOCS.index("```", start)]


def test_the_worked_example_builds_and_makes_its_rows() -> None:
    dataset = from_toml(_example())
    assert dataset.table_names == ("authors", "posts", "comments")
    rows = Rows(dataset, 300, seed=1)
    for chunk in rows:
        for table in chunk.tables:
            if chunk.rows(table.name):
                assert len(chunk.copy_buffer(table.name)) > 21


def test_every_generator_and_law_is_documented() -> None:
    missing = [k for k in [*GENERATORS, *LAWS] if f"| `{k}` |" not in DOCS]
    assert missing == []
