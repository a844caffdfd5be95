"""``pgbulk ingest``: Parquet, Arrow IPC / Feather and CSV files into a PostgreSQL table."""

from __future__ import annotations

import sys

import click

from pgbulk.cli.options import dsn_option, schema_option, server_options
from pgbulk.progress import for_terminal


def _names(value: str | None) -> list[str] | None:
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names:
        raise click.BadParameter("give column names separated by commas")
    return names


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@click.option("--table", required=True, help="Target table (in --schema).")
@dsn_option
@schema_option
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=2,
    show_default=True,
    help="Worker processes, each with one connection.",
)
@click.option(
    "--create", is_flag=True, help="Create the table from the files' Arrow schema if it is absent."
)
@click.option(
    "--if-exists",
    type=click.Choice(["fail", "append", "replace"]),
    default="fail",
    show_default=True,
    help="When the table holds rows: refuse; add to them (and finish an interrupted ingest "
    "of the same files: only missing units are loaded); or drop and create it again.",
)
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["parquet", "csv", "ipc"]),
    help="File format [default: from the file names].",
)
@click.option("--columns", help="Source columns to load, comma-separated [default: all].")
@click.option(
    "--primary-key",
    help="Columns of the primary key, comma-separated, added after the load to a table "
    "the ingest creates.",
)
@click.option(
    "--rebuild-indexes",
    is_flag=True,
    help="Drop the table's indexes that no constraint owns before the load and build them "
    "again after it (never implied).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (implies --quiet).")
@server_options
def ingest_command(
    paths: tuple[str, ...],
    table: str,
    dsn: str | None,
    schema_name: str,
    workers: int,
    create: bool,
    if_exists: str,
    file_format: str | None,
    columns: str | None,
    primary_key: str | None,
    rebuild_indexes: bool,
    quiet: bool,
    as_json: bool,
    data_dir: str,
    pg_bin: str | None,
) -> None:
    """Load Parquet, Arrow IPC / Feather or CSV files (paths, directories, globs) into a table.

    Units (row groups, record batches, CSV files) load in parallel, each committed once
    with its ledger row; re-run with --if-exists append to finish an interrupted ingest.
    """
    from pgbulk.ingestion import ingest

    report = ingest(
        dsn,
        table,
        list(paths),
        workers=workers,
        schema=schema_name,
        create=create,
        if_exists=if_exists,  # type: ignore[arg-type]  # click.Choice checked it
        columns=_names(columns),
        file_format=file_format,
        primary_key=_names(primary_key),
        rebuild_indexes=rebuild_indexes,
        progress=for_terminal(quiet or as_json),
        data_dir=data_dir,
        pg_bin=pg_bin,
    )
    if as_json:
        click.echo(report.to_json())
    elif not quiet or not sys.stderr.isatty():
        click.echo(report.summary())
