"""``pgbulk spec check`` and ``pgbulk spec show``: a spec read and checked, with no server."""

from __future__ import annotations

import json
import sys
import time

import click

from pgbulk.chunks import Rows
from pgbulk.cli.options import COUNT, dsn_option, server_options
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


#: ``spec import``: the spec was written and everything was imported as it is.
EXIT_COMPLETE = 0
#: ``spec import``: the spec was written, but some tables, columns or constraints were
#: reported (one line each on stderr) and left out or simplified.
EXIT_PARTIAL = 3


@spec_group.command("import")
@dsn_option
@click.option(
    "--schema", "schemas", multiple=True, help="Schema to read (repeatable; default public)."
)
@click.option(
    "--tables",
    "tables",
    multiple=True,
    help="Tables to read (repeatable, or comma-separated; default all).",
)
@click.option(
    "--no-values", is_flag=True, help="Privacy mode: no literal value of the source in the spec."
)
@click.option("--analyze", is_flag=True, help="Run ANALYZE on the tables first.")
@click.option(
    "--name", default="imported", show_default=True, help="The dataset's name in the spec."
)
@click.option(
    "--fixed-below",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="A top-level table with fewer rows keeps its row count at every scale.",
)
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="The spec file to write."
)
@server_options
def import_command(
    dsn: str | None,
    schemas: tuple[str, ...],
    tables: tuple[str, ...],
    no_values: bool,
    analyze: bool,
    name: str,
    fixed_below: int,
    output: str,
    data_dir: str,
    pg_bin: str | None,
) -> None:
    """Write a spec fitted from a live database's catalog and pg_stats, copying no row.

    Exit code 0: the spec is written and complete; 3: it is written, and what could not be
    imported as it is was reported on stderr, one line each; 2: nothing written.
    """
    from pgbulk.catalog import import_spec
    from pgbulk.target import resolve_target

    names = [t for item in tables for t in item.split(",") if t]
    target = resolve_target(dsn, data_dir, pg_bin).dsn
    started = time.perf_counter()
    fitted = import_spec(
        target, output, schemas=list(schemas) or None, tables=names or None,
        no_values=no_values, analyze=analyze, name=name, fixed_below=fixed_below,
    )  # fmt: skip
    for problem in fitted.problems:
        click.echo(f"pgbulk: {problem}", err=True)
    n = len(fitted.spec["tables"])
    click.echo(
        f"{output}: {n} tables in {time.perf_counter() - started:.2f} s;"
        f" pgbulk load --spec {output} --scale {fitted.scale} makes the source's row counts"
    )
    if fitted.problems:
        sys.exit(EXIT_PARTIAL)


@spec_group.command("compare")
@click.option(
    "--dsn", "dsns_", multiple=True, required=True, metavar="DSN", help="Twice: database A, then B."
)
@click.option(
    "--schema", "schemas", multiple=True, help="Schema to read (repeatable; default public)."
)
@click.option(
    "--tables", "tables", multiple=True, help="Tables to compare (repeatable, or comma-separated)."
)
@click.option("--analyze", is_flag=True, help="Run ANALYZE on both sides first.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def compare_command(
    dsns_: tuple[str, ...],
    schemas: tuple[str, ...],
    tables: tuple[str, ...],
    analyze: bool,
    as_json: bool,
) -> None:
    """Per column, foreign key and table, the distance between two databases' statistics."""
    from pgbulk.catalog.compare import compare, render

    if len(dsns_) != 2:
        raise click.UsageError("give --dsn twice: the database A, then B")
    names = [t for item in tables for t in item.split(",") if t]
    result = compare(
        dsns_[0], dsns_[1], schemas=list(schemas) or None, tables=names or None, analyze=analyze
    )
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        click.echo(render(result))
