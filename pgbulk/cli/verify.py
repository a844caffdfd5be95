"""``pgbulk verify``, ``pgbulk analyze`` and ``pgbulk fingerprint``.

Exit codes of ``verify``: 0 when every check holds, 1 when a check failed (the data is
not what the ledger says), 2 when verification could not run (no server, no pgbulk
load recorded, bad options) — the same 2 as every pgbulk error.
"""

from __future__ import annotations

import json
import sys

import click

from pgbulk import dsn as dsns
from pgbulk import fingerprint as fingerprints
from pgbulk import ledger
from pgbulk.analyze import analyze
from pgbulk.chunks import Rows
from pgbulk.cli.options import (
    COUNT,
    contacts_spec,
    dsn_option,
    schema_option,
    server_options,
    spec_dataset,
    spec_options,
)
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.datasets.contacts import dataset as contacts_dataset
from pgbulk.errors import PgbulkError
from pgbulk.target import resolve_target
from pgbulk.verify import verify

#: ``pgbulk verify`` ran and found the data wrong (2 is for errors, as everywhere).
EXIT_CHECKS_FAILED = 1


@click.command("verify")
@dsn_option
@schema_option
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@server_options
def verify_command(
    dsn: str | None, schema_name: str, as_json: bool, data_dir: str, pg_bin: str | None
) -> None:
    """Check the loaded dataset against its ledger and the generator.

    Row counts, NULLs, UUID bits, formats, uniqueness, owners, email numbering, the
    per-user Zipf law (chi-square), constraints and indexes, and the fingerprint of
    every row. Exit code 0: all checks hold; 1: some failed; 2: could not verify.
    """
    report = verify(dsn, schema_name, data_dir=data_dir, pg_bin=pg_bin)
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else report.summary())
    if not report.ok:
        sys.exit(EXIT_CHECKS_FAILED)


@click.command("analyze")
@dsn_option
@schema_option
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    metavar="FILE.png",
    help="Also draw the per-user histograms against their law, and the table and index "
    "sizes (needs matplotlib: pip install 'pgbulk[plot]').",
)
@server_options
def analyze_command(
    dsn: str | None, schema_name: str, plot_path: str | None, data_dir: str, pg_bin: str | None
) -> None:
    """Print row counts, sizes and per-user histograms (the queries in pgbulk/sql/analysis)."""
    if plot_path and not plot_path.lower().endswith(".png"):  # before the queries, not after
        raise click.UsageError(f"the plot is written as PNG: name the file *.png, not {plot_path}")
    result = analyze(dsn, schema_name, data_dir=data_dir, pg_bin=pg_bin)
    click.echo(result.to_text())
    if plot_path:
        from pgbulk.analyze_plot import plot

        click.echo(f"\nplot written to {plot(result, plot_path)}")


_GENERATOR_OPTIONS = ("seed", "chunk_users", "uuid_version", "zipf_a", "max_per_user")


@click.command("fingerprint")
@dsn_option
@schema_option
@click.option(
    "--users",
    type=COUNT,
    help="Compute the fingerprint from the generator for this many users, with no database.",
)
@click.option("--seed", type=click.IntRange(min=0, max=2**63 - 1), default=0, show_default=True)
@click.option(
    "--chunk-users",
    type=COUNT,
    default=ContactsSpec.chunk_users,
    show_default=True,
    help="Users per chunk (part of the dataset).",
)
@click.option(
    "--uuid", "uuid_version", type=click.Choice(["v4", "v7"]), default="v4", show_default=True
)
@click.option("--zipf-a", type=float, default=ContactsSpec.zipf_a, show_default=True)
@click.option("--max-per-user", type=int, default=ContactsSpec.max_per_user, show_default=True)
@spec_options
@click.option("--json", "as_json", is_flag=True, help="Print the fingerprint as JSON.")
@server_options
@click.pass_context
def fingerprint_command(
    ctx: click.Context,
    dsn: str | None,
    schema_name: str,
    users: int | None,
    seed: int,
    chunk_users: int,
    uuid_version: str,
    zipf_a: float,
    max_per_user: int,
    spec_source: str | None,
    scale: int | None,
    as_json: bool,
    data_dir: str,
    pg_bin: str | None,
) -> None:
    """Print the dataset fingerprint: rows and an order-independent checksum per table.

    Without --users or --spec, of the tables in the database (computed by the server);
    with --users (contacts) or --spec NAME_OR_FILE --scale N, of the dataset from the
    generator alone. A correct load gives the same fingerprint both ways.
    """
    source = click.core.ParameterSource
    chosen = spec_dataset(ctx, spec_source, scale)
    if chosen is not None:
        if dsn is not None:
            raise click.UsageError("--spec computes the fingerprint without a database: drop --dsn")
        fp = fingerprints.of_dataset(Rows(chosen[0], chosen[1], seed=seed))
    elif users is None:
        given = [
            f"--{o.replace('_', '-')}"
            for o in _GENERATOR_OPTIONS
            if ctx.get_parameter_source(o) is not source.DEFAULT
        ]
        if given:
            raise click.UsageError(
                f"{', '.join(given)} only apply to a generated dataset: add --users N"
            )
        target = resolve_target(dsn, data_dir, pg_bin).dsn
        with dsns.connect(target, autocommit=True) as conn:
            record = ledger.read(conn, schema_name)
        if record is None:
            raise PgbulkError(
                f"no pgbulk load is recorded for schema {schema_name}: load one (pgbulk load) "
                "or name its schema with --schema"
            )
        fp = fingerprints.of_database(target, schema_name, record.dataset().table_names)
    else:
        if dsn is not None:
            raise click.UsageError(
                "--users computes the fingerprint without a database: drop --dsn"
            )
        spec = contacts_spec(chunk_users, uuid_version, zipf_a, max_per_user)
        fp = fingerprints.of_dataset(Rows(contacts_dataset(spec), users, seed=seed))
    click.echo(json.dumps(fp.to_dict(), indent=2) if as_json else fp.summary())
