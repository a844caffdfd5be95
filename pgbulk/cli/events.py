"""``pgbulk events install|uninstall|status|requeue`` and ``pgbulk relay``."""

from __future__ import annotations

import contextlib
import json
import logging
import signal
from types import FrameType

import click

from pgbulk import dsn as dsns
from pgbulk import events
from pgbulk.cli.options import dsn_option, schema_option, server_options
from pgbulk.events import outbox
from pgbulk.events.health import HealthServer
from pgbulk.events.idtoken import GoogleIdTokens, audience_for, is_google_url
from pgbulk.events.relay import MAX_BATCH, MAX_CONCURRENCY, MAX_PER_REQUEST, Relay
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
    target = _target(dsn, data_dir, pg_bin)
    st = events.status(target, schema_name)
    with dsns.connect(target, autocommit=True) as conn:
        blocked = outbox.blocked(conn)
    if not as_json:
        click.echo(st.summary())
        for b in blocked:
            click.echo(
                f"  blocked: {b.reason} since {b.since:%Y-%m-%d %H:%M:%S %Z} "
                f"(relay to {b.url}: {b.last_error}); nothing is parked, the events wait"
            )
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
                "blocked": [
                    {
                        "reason": b.reason,
                        "since": b.since.isoformat(),
                        "url": b.url,
                        "last_error": b.last_error,
                    }
                    for b in blocked
                ],
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
    default=2000,
    show_default=True,
    help="Events leased per pass.",
)
@click.option(
    "--per-request",
    type=click.IntRange(1, MAX_PER_REQUEST),
    default=250,
    show_default=True,
    help="Events per HTTP request (the function publishes them as one batch).",
)
@click.option(
    "--google-auth/--no-google-auth",
    default=None,
    help="Send a Google ID token (metadata server or Application Default Credentials) "
    "[default: on for *.run.app and *.cloudfunctions.net URLs].",
)
@click.option(
    "--audience",
    help="The ID token's audience [default: the URL without query].",
)
@click.option(
    "--retention",
    default="7 days",
    show_default=True,
    metavar="INTERVAL",
    help="Delete delivered events older than this PostgreSQL interval ('off': keep them).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1, MAX_CONCURRENCY),
    default=8,
    show_default=True,
    help="Requests in flight, for different rows (a row's events always go in one lane).",
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
    "--health-port",
    type=click.IntRange(0, 65535),
    envvar="PGBULK_RELAY_HEALTH_PORT",
    help="Serve GET /healthz on this port (Cloud Run's probes) [default: none].",
)
@click.option(
    "--health-host",
    default="127.0.0.1",
    show_default=True,
    help="Address for --health-port (0.0.0.0 in a container).",
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
    per_request: int,
    google_auth: bool | None,
    audience: str | None,
    retention: str,
    concurrency: int,
    once: bool,
    max_attempts: int,
    timeout: float,
    poll_interval: float,
    health_port: int | None,
    health_host: str,
    verbose: bool,
    data_dir: str,
    pg_bin: str | None,
) -> None:
    """Deliver the outbox to the events function: signed, in order per row, at least once.

    The secret is read from an environment variable or a file, never from the command
    line. A 401 or 403 parks nothing: the relay waits until the cause is fixed (`pgbulk
    events status` shows it). SIGTERM or SIGINT finishes the requests in flight and exits.
    """
    if secret_env and secret_file:
        raise click.UsageError("give --secret-env or --secret-file, not both")
    secret = events.read_secret(env_name=secret_env, file=secret_file)
    if verbose:
        logging.getLogger("pgbulk.events").setLevel(logging.INFO)
    if audience and google_auth is False:
        raise click.UsageError("--audience only applies with Google ID tokens")
    use_tokens = (is_google_url(url) or bool(audience)) if google_auth is None else google_auth
    relay = Relay(
        _target(dsn, data_dir, pg_bin),
        url,
        secret,
        batch_size=batch_size,
        per_request=per_request,
        id_tokens=GoogleIdTokens(audience or audience_for(url)) if use_tokens else None,
        retention=None if retention.lower() == "off" else retention,
        concurrency=concurrency,
        max_attempts=max_attempts,
        timeout=timeout,
        poll_interval=poll_interval,
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        relay.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        with contextlib.ExitStack() as stack:
            if health_port is not None:
                stack.enter_context(
                    HealthServer(health_host, health_port, lambda: not relay.stopped)
                )
            report = relay.run(once=once)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not verbose:  # verbose: the relay has logged it
        click.echo(report.summary(), err=True)
