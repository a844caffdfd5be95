"""``pgbulk events install|uninstall|status|requeue`` and ``pgbulk relay``."""

from __future__ import annotations

import json
import logging
import signal
from types import FrameType

import click

from pgbulk import events
from pgbulk.cli.options import dsn_option, schema_option, server_options
from pgbulk.events.relay import MAX_BATCH, MAX_CONCURRENCY, Relay
from pgbulk.events.signing import DEFAULT_SECRET_ENV
from pgbulk.target import resolve_target


def _target(dsn: str | None, data_dir: str, pg_bin: str | None) -> str:
    return resolve_target(dsn, data_dir, pg_bin).dsn


@click.group("events")
def events_group() -> None:
    """Capture every change of a loaded dataset's tables into an outbox.

    `pgbulk relay` delivers the outbox to the events function. See docs/events.md.
    """


@events_group.command("install")
@dsn_option
@schema_option
@click.option(
    "--table",
    "tables",
    multiple=True,
    metavar="NAME",
    help="A table to capture (repeatable) [default: the tables of the dataset the schema's ledger records].",
)
@server_options
def install_command(
    dsn: str | None, schema_name: str, tables: tuple[str, ...], data_dir: str, pg_bin: str | None
) -> None:
    """Create the outbox and the capture triggers (after the load; idempotent)."""
    captured = events.install(_target(dsn, data_dir, pg_bin), schema_name, tables=tables or None)
    click.echo(f"capture installed on {', '.join(f'{schema_name}.{t}' for t in captured)}")


@events_group.command("uninstall")
@dsn_option
@schema_option
@click.option(
    "--drop-outbox",
    is_flag=True,
    help="Also drop the outbox and the trigger function (refused while events are pending).",
)
@click.option("--force", is_flag=True, help="With --drop-outbox: drop undelivered events too.")
@server_options
def uninstall_command(
    dsn: str | None,
    schema_name: str,
    drop_outbox: bool,
    force: bool,
    data_dir: str,
    pg_bin: str | None,
) -> None:
    """Drop the capture triggers of the schema; the outbox stays unless --drop-outbox."""
    if force and not drop_outbox:
        raise click.UsageError("--force only applies with --drop-outbox")
    dropped = events.uninstall(
        _target(dsn, data_dir, pg_bin), schema_name, drop_outbox=drop_outbox, force=force
    )
    click.echo(f"capture removed from schema {schema_name}")
    if drop_outbox:
        click.echo("outbox dropped" + (f" with {dropped:,} undelivered events" if dropped else ""))


@events_group.command("status")
@dsn_option
@schema_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@server_options
def status_command(
    dsn: str | None, schema_name: str, as_json: bool, data_dir: str, pg_bin: str | None
) -> None:
    """Show whether capture is installed and the events by state, with why any were parked."""
    st = events.status(_target(dsn, data_dir, pg_bin), schema_name)
    if not as_json:
        click.echo(st.summary())
        return
    click.echo(
        json.dumps(
            {
                "schema": st.schema,
                "installed": st.installed,
                "triggers": st.triggers,
                "outbox": st.outbox,
                "pending": st.pending,
                "delivered": st.delivered,
                "parked": st.parked,
                "oldest_pending": st.oldest_pending.isoformat() if st.oldest_pending else None,
                "parked_errors": [{"error": e, "count": n} for e, n in st.parked_errors],
            }
        )
    )


@events_group.command("requeue")
@dsn_option
@schema_option
@server_options
def requeue_command(dsn: str | None, schema_name: str, data_dir: str, pg_bin: str | None) -> None:
    """Make parked events pending again, once what parked them is fixed."""
    n = events.requeue(_target(dsn, data_dir, pg_bin), schema_name)
    click.echo(f"{n:,} parked events are pending again")


@events_group.command("purge")
@dsn_option
@schema_option
@click.option(
    "--older-than",
    default="7 days",
    show_default=True,
    metavar="INTERVAL",
    help="Delete delivered events delivered longer ago than this PostgreSQL interval.",
)
@server_options
def purge_command(
    dsn: str | None, schema_name: str, older_than: str, data_dir: str, pg_bin: str | None
) -> None:
    """Delete old delivered events (the outbox keeps them until then; pending and parked stay)."""
    n = events.purge(_target(dsn, data_dir, pg_bin), schema_name, older_than=older_than)
    click.echo(f"{n:,} delivered events deleted")


@click.command("relay")
@dsn_option
@click.option(
    "--url",
    required=True,
    envvar="PGBULK_EVENTS_URL",
    show_envvar=True,
    help="The events function's URL.",
)
@click.option(
    "--secret-env",
    metavar="NAME",
    help=f"Environment variable holding the shared secret [default: {DEFAULT_SECRET_ENV}].",
)
@click.option(
    "--secret-file",
    type=click.Path(dir_okay=False),
    help="File holding the shared secret (one trailing newline ignored).",
)
@click.option(
    "--batch",
    "batch_size",
    type=click.IntRange(1, MAX_BATCH),
    default=100,
    show_default=True,
    help="Events claimed per transaction.",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    default=8,
    show_default=True,
    help="Requests in flight, for different rows (a row's events always go one at a time).",
)
@click.option("--once", is_flag=True, help="Deliver what is pending, then exit.")
@click.option(
    "--max-attempts",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Park an event after this many failed attempts (5xx, no answer); 0: retry forever.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="Seconds to wait for each answer.",
)
@click.option(
    "--poll-interval",
    type=click.FloatRange(min=0.1),
    default=5.0,
    show_default=True,
    help="Seconds between looks at the outbox when no notification came.",
)
@click.option(
    "--verbose",
    "-v",
    is_flag=True,
    help="Also log the start and the summary (retries and parking are always logged).",
)
@server_options
def relay_command(
    dsn: str | None,
    url: str,
    secret_env: str | None,
    secret_file: str | None,
    batch_size: int,
    concurrency: int,
    once: bool,
    max_attempts: int,
    timeout: float,
    poll_interval: float,
    verbose: bool,
    data_dir: str,
    pg_bin: str | None,
) -> None:
    """Deliver the outbox to the events function: signed, in order per row, at least once.

    The secret is read from an environment variable or a file, never from the command
    line. SIGTERM or SIGINT finishes the request in flight and exits.
    """
    if secret_env and secret_file:
        raise click.UsageError("give --secret-env or --secret-file, not both")
    secret = events.read_secret(env_name=secret_env, file=secret_file)
    if verbose:
        logging.getLogger("pgbulk.events").setLevel(logging.INFO)
    relay = Relay(
        _target(dsn, data_dir, pg_bin),
        url,
        secret,
        batch_size=batch_size,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=timeout,
        poll_interval=poll_interval,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        relay.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        report = relay.run(once=once)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not verbose:  # verbose: the relay has logged it
        click.echo(report.summary(), err=True)
