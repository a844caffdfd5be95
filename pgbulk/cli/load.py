"""``pgbulk load``, ``pgbulk resume`` and ``pgbulk finalize``."""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from pgbulk import dsn as dsns
from pgbulk import ledger
from pgbulk.cli.options import (
    contacts_spec,
    dataset_options,
    dsn_option,
    schema_option,
    server_options,
    spec_dataset,
    spec_options,
)
from pgbulk.load import LoadReport, finalize, load, parse_if_exists
from pgbulk.plan import Shard, shard_from_env
from pgbulk.progress import for_terminal
from pgbulk.target import resolve_target


def _load_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed(
        [
            click.option(
                "--workers",
                type=click.IntRange(min=1, max=64),
                default=2,
                show_default=True,
                help="Worker processes, each with one connection.",
            ),
            click.option(
                "--constraint-jobs",
                type=click.IntRange(min=1, max=16),
                help="Connections building constraints after the load [default: min(max(workers, 2), 3)].",
            ),
            click.option(
                "--freeze/--no-freeze",
                default=True,
                show_default=True,
                help="A fresh load writes each table whole in one transaction, as frozen rows "
                "(COPY FREEZE: no hint-bit pass after the load, no WAL on wal_level=minimal); "
                "--no-freeze commits unit by unit.",
            ),
            click.option(
                "--maintenance-work-mem",
                help="maintenance_work_mem of the sessions that build indexes "
                "[default: 2GB on the embedded server, else 1GB; and, when the server is "
                "on this machine, more for a build whose sort needs it].",
            ),
            click.option(
                "--shard",
                metavar="I/N",
                help="Load only chunks c with c % N == I. Also read from "
                "CLOUD_RUN_TASK_INDEX/CLOUD_RUN_TASK_COUNT or JOB_COMPLETION_INDEX/PGBULK_SHARD_COUNT.",
            ),
            click.option("--quiet", "-q", is_flag=True, help="No progress line."),
            click.option(
                "--json",
                "as_json",
                is_flag=True,
                help="Print the report as JSON (implies --quiet).",
            ),
        ]
    ):
        f = decorator(f)
    return f


def _print(report: LoadReport, as_json: bool, quiet: bool) -> None:
    if as_json:
        click.echo(report.to_json())
    elif not quiet or not sys.stderr.isatty():
        click.echo(report.summary())


@click.command("load")
@dsn_option
@dataset_options
@spec_options
@schema_option
@click.option(
    "--if-exists",
    type=click.Choice(["fail", "replace", "resume"]),
    default="fail",
    show_default=True,
    help="When the tables already hold rows: refuse, drop and reload, or finish an interrupted load.",
)
@click.option(
    "--original-schema",
    is_flag=True,
    help="Contacts: the original project's exact schema, without the indexes on "
    "emails.user_id and phone_numbers.user_id (ON DELETE CASCADE then scans both tables).",
)
@_load_options
@server_options
def load_command(
    dsn: str | None,
    users: int,
    seed: int,
    chunk_users: int,
    uuid_version: str,
    zipf_a: float,
    max_per_user: int,
    schema_name: str,
    if_exists: str,
    original_schema: bool,
    workers: int,
    constraint_jobs: int | None,
    maintenance_work_mem: str | None,
    freeze: bool,
    shard: str | None,
    quiet: bool,
    as_json: bool,
    data_dir: str,
    pg_bin: str | None,
    spec_source: str | None,
    scale: int | None,
) -> None:
    """Generate a dataset and load it: bare tables, parallel binary COPY, then constraints.

    Contacts by default (--users ...); any schema with --spec NAME_OR_FILE --scale N.
    """
    chosen = spec_dataset(click.get_current_context(), spec_source, scale)
    spec = contacts_spec(chunk_users, uuid_version, zipf_a, max_per_user)
    if original_schema:
        if chosen is not None:
            raise click.UsageError(
                "--original-schema is the contacts dataset's (--users N); a spec says its "
                "own indexes"
            )
        spec = dataclasses.replace(spec, user_id_indexes=False)
    the_shard = Shard.parse(shard) if shard else shard_from_env(os.environ)
    progress = for_terminal(quiet or as_json)
    report = load(
        dsn,
        users=users if chosen is None else None,
        dataset=None if chosen is None else chosen[0],
        scale=None if chosen is None else chosen[1],
        seed=seed,
        workers=workers,
        spec=spec if chosen is None else None,
        schema_name=schema_name,
        if_exists=parse_if_exists(if_exists),
        shard=the_shard,
        constraint_jobs=constraint_jobs,
        maintenance_work_mem=maintenance_work_mem,
        freeze=freeze,
        progress=progress,
        data_dir=data_dir,
        pg_bin=pg_bin,
    )
    _print(report, as_json, quiet)


def _target(dsn: str | None, data_dir: str, pg_bin: str | None) -> str:
    return resolve_target(dsn, data_dir, pg_bin).dsn


@click.command("resume")
@dsn_option
@schema_option
@_load_options
@server_options
def resume_command(
    dsn: str | None,
    schema_name: str,
    workers: int,
    constraint_jobs: int | None,
    maintenance_work_mem: str | None,
    freeze: bool,
    shard: str | None,
    quiet: bool,
    as_json: bool,
    data_dir: str,
    pg_bin: str | None,
) -> None:
    """Finish an interrupted load with the parameters it recorded: missing chunks, then constraints."""
    target = _target(dsn, data_dir, pg_bin)
    with dsns.connect(target, autocommit=True) as conn:
        record = ledger.read(conn, schema_name)
    if record is None:
        raise click.ClickException(
            f"no pgbulk load is recorded for schema {schema_name}: nothing to resume"
        )
    the_shard = Shard.parse(shard) if shard else shard_from_env(os.environ)
    report = load(
        dsn,  # not ``target``: load() itself knows the embedded server and its settings
        dataset=record.dataset(),
        scale=record.scale,
        seed=record.seed,
        workers=workers,
        schema_name=schema_name,
        if_exists="resume",
        shard=the_shard,
        constraint_jobs=constraint_jobs,
        maintenance_work_mem=maintenance_work_mem,
        freeze=freeze,
        progress=for_terminal(quiet or as_json),
        data_dir=data_dir,
        pg_bin=pg_bin,
    )
    _print(report, as_json, quiet)


@click.command("finalize")
@dsn_option
@schema_option
@click.option("--constraint-jobs", type=click.IntRange(min=1, max=16), default=2, show_default=True)
@click.option(
    "--maintenance-work-mem",
    help="maintenance_work_mem of every index build [default: 1GB, and more for a build "
    "whose sort needs it when the server is on this machine].",
)
@server_options
def finalize_command(
    dsn: str | None,
    schema_name: str,
    constraint_jobs: int,
    maintenance_work_mem: str | None,
    data_dir: str,
    pg_bin: str | None,
) -> None:
    """Build constraints, indexes and statistics once every shard has loaded (runs once)."""
    target = _target(dsn, data_dir, pg_bin)
    finalize(
        target,
        schema_name,
        jobs=constraint_jobs,
        maintenance_work_mem=maintenance_work_mem or "1GB",
        size_sorts=maintenance_work_mem is None,
    )
    click.echo(f"schema {schema_name}: complete")
