"""``pgbulk export``: the dataset that ``pgbulk load`` loads, written as files instead."""

from __future__ import annotations

import click

from pgbulk.cli.options import contacts_spec, dataset_options, spec_dataset, spec_options
from pgbulk.export import export_parquet
from pgbulk.progress import for_terminal


@click.command("export")
@click.option(
    "--format",
    "file_format",
    type=click.Choice(["parquet"]),
    default="parquet",
    show_default=True,
    help="File format (Parquet: zstd, one row group per chunk, UUIDs as text).",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(file_okay=False),
    help="Directory to write: one subdirectory per table (DIR/users/, ...) and DIR/_pgbulk.json.",
)
@dataset_options
@spec_options
@click.option(
    "--workers",
    type=click.IntRange(min=1, max=64),
    default=2,
    show_default=True,
    help="Processes, each generating and writing whole chunks.",
)
@click.option(
    "--overwrite", is_flag=True, help="Replace a previous pgbulk export in --out (nothing else)."
)
@click.option("--quiet", "-q", is_flag=True, help="No progress line.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON (implies --quiet).")
def export_command(
    file_format: str,
    out: str,
    users: int,
    seed: int,
    chunk_users: int,
    uuid_version: str,
    zipf_a: float,
    max_per_user: int,
    workers: int,
    overwrite: bool,
    quiet: bool,
    as_json: bool,
    spec_source: str | None,
    scale: int | None,
) -> None:
    """Write a dataset as files: the same rows `pgbulk load` loads for the same options
    (contacts, or --spec NAME_OR_FILE --scale N)."""
    chosen = spec_dataset(click.get_current_context(), spec_source, scale)
    spec = contacts_spec(chunk_users, uuid_version, zipf_a, max_per_user)
    report = export_parquet(
        out,
        users=users if chosen is None else None,
        dataset=None if chosen is None else chosen[0],
        scale=None if chosen is None else chosen[1],
        seed=seed,
        spec=spec if chosen is None else None,
        workers=workers,
        overwrite=overwrite,
        progress=for_terminal(quiet or as_json),
    )
    click.echo(report.to_json() if as_json else report.summary())
