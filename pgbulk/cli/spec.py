"""``pgbulk spec check`` and ``pgbulk spec show``: a spec read and checked, with no server."""

from __future__ import annotations

import json

import click

from pgbulk.chunks import Rows
from pgbulk.cli.options import COUNT
from pgbulk.estimate import estimate
from pgbulk.spec import load_spec


@click.group("spec")
def spec_group() -> None:
    """Read and check dataset specs (TOML files or built-in names)."""


@spec_group.command("check")
@click.argument("source", metavar="NAME_OR_FILE")
def check_command(source: str) -> None:
    """Check a spec: exit 0 and one line when it is good; one line naming the mistake and exit 2."""
    dataset = load_spec(source)
    tables = ", ".join(dataset.table_names)
    click.echo(
        f"{source}: ok: dataset {dataset.name}, tables {tables}; scale counts {dataset.scale_table}"
    )


@spec_group.command("show")
@click.argument("source", metavar="NAME_OR_FILE")
@click.option("--scale", type=COUNT, default=1, show_default=True, help="Rows of the scale table.")
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def show_command(source: str, scale: int, seed: int, as_json: bool) -> None:
    """Tables, rows and estimated bytes of a spec at a scale (no server needed)."""
    dataset = load_spec(source)
    rows = Rows(dataset, dataset.check_scale(scale), seed=seed)
    est = estimate(rows)
    tables = [
        (t.table, round(t.rows), round(t.heap_bytes), round(t.index_bytes)) for t in est.tables
    ]
    if as_json:
        keys = ("table", "rows", "heap_bytes", "index_bytes")
        out = {
            "dataset": dataset.name,
            "scale": scale,
            "tables": [dict(zip(keys, t, strict=True)) for t in tables],
        }
        click.echo(json.dumps(out, indent=2))
        return
    click.echo(f"dataset {dataset.name} at scale {scale:,} ({dataset.scale_table} rows)")
    width = max(len(t[0]) for t in tables) + 2
    for name, n, heap, index in tables:
        click.echo(f"  {name:<{width}}{n:>14,} rows {_size(heap + index):>12}")
    click.echo(f"  {'total':<{width}}{round(est.rows):>14,} rows {_size(est.bytes):>12}")


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.1f} {unit}" if unit != "B" else f"{n:,.0f} B"
        n /= 1024
    return f"{n:,.1f} TiB"
