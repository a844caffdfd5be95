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


def test_the_worked_example_exports_json_arrays_and_nulls(tmp_path: Path) -> None:
    import json

    import pyarrow.parquet as pq

    from pgbulk.export import export_parquet

    dataset = from_toml(_example())
    report = export_parquet(tmp_path / "blog", dataset=dataset, scale=300, seed=1, workers=1)
    posts = pq.read_table(tmp_path / "blog" / "posts").to_pylist()
    assert len(posts) == report.rows["posts"]
    assert {frozenset(json.loads(p["meta"])) for p in posts} == {frozenset({"words", "draft"})}
    assert all(isinstance(json.loads(p["meta"])["words"], int) for p in posts)
    assert {t for p in posts for t in p["tags"]} == {"sql", "python", "ops"}
    comments = pq.read_table(tmp_path / "blog" / "comments")
    assert 0.2 < comments.column("author_id").null_count / comments.num_rows < 0.4
    authors = pq.read_table(tmp_path / "blog" / "authors")
    assert authors.column("mentor_id").null_count == 1
