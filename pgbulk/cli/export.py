"""``pgbulk export``: the dataset that ``pgbulk load`` loads, written as files instead."""

from __future__ import annotations

import click

from pgbulk.cli.options import COUNT
from pgbulk.export import export_parquet
from pgbulk.progress import for_terminal
from pgbulk.spec import ContactsSpec


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
    help="Directory to write: DIR/users/, DIR/emails/, DIR/phone_numbers/, DIR/_pgbulk.json.",
)
@click.option(
    "--users",
    type=COUNT,
    default="10M",
    show_default=True,
    help="Number of users (10M, 250k, 1_000_000).",
)
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=0, show_default=True)
@click.option(
    "--chunk-users",
    type=COUNT,
    default=ContactsSpec.chunk_users,
    show_default=True,
    help="Users per chunk: one file per table and chunk (part of the dataset, as for load).",
)
@click.option(
    "--uuid",
    "uuid_version",
    type=click.Choice(["v4", "v7"]),
    default="v4",
    show_default=True,
    help="Random UUIDv4 (as the original) or time-ordered UUIDv7.",
)
@click.option(
    "--zipf-a",
    type=float,
    default=ContactsSpec.zipf_a,
    show_default=True,
    help="Exponent of the truncated Zipf law of emails and phones per user (> 1).",
)
@click.option(
    "--max-per-user",
    type=int,
    default=ContactsSpec.max_per_user,
    show_default=True,
    help="Most emails (and phones) a user has.",
)
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
) -> None:
    """Write the contacts dataset as files: the same rows `pgbulk load` loads for the same options."""
    spec = ContactsSpec(
        zipf_a=zipf_a,
        max_per_user=max_per_user,
        uuid_version=int(uuid_version[1]),  # type: ignore[arg-type]
        chunk_users=chunk_users,
    )
    report = export_parquet(
        out,
        users=users,
        seed=seed,
        spec=spec,
        workers=workers,
        overwrite=overwrite,
        progress=for_terminal(quiet or as_json),
    )
    click.echo(report.to_json() if as_json else report.summary())
