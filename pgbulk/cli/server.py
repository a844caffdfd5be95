"""``pgbulk server start|stop|status|dsn``: pgbulk's own PostgreSQL."""

from __future__ import annotations

import json

import click

from pgbulk.cli.options import server_options
from pgbulk.server import EmbeddedServer
from pgbulk.target import EMBEDDED_DATABASE, embedded_dsn


@click.group("server")
def server_group() -> None:
    """Manage the embedded PostgreSQL server (unix socket only, bulk-load settings)."""


@server_group.command("start")
@server_options
def start(data_dir: str, pg_bin: str | None) -> None:
    """Initialise (first time) and start the server; print its DSN."""
    click.echo(embedded_dsn(data_dir, pg_bin))


@server_group.command("stop")
@server_options
def stop(data_dir: str, pg_bin: str | None) -> None:
    """Stop the server (in-flight transactions roll back)."""
    EmbeddedServer(data_dir, pg_bin=pg_bin).stop()
    click.echo("stopped")


@server_group.command("status")
@server_options
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(data_dir: str, pg_bin: str | None, as_json: bool) -> None:
    """Say whether the server runs, with its version, PID and socket."""
    st = EmbeddedServer(data_dir, pg_bin=pg_bin).status()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "running": st.running,
                    "pid": st.pid,
                    "version": st.version,
                    "data_dir": str(st.data_dir),
                    "socket_dir": str(st.socket_dir or ""),
                }
            )
        )
    else:
        state = f"running (pid {st.pid}, socket in {st.socket_dir})" if st.running else "stopped"
        click.echo(f"PostgreSQL {st.version} in {st.data_dir}: {state}")


@server_group.command("dsn")
@server_options
@click.option("--database", default=EMBEDDED_DATABASE, show_default=True)
def dsn(data_dir: str, pg_bin: str | None, database: str) -> None:
    """Print the DSN of the embedded server (whether or not it runs)."""
    click.echo(EmbeddedServer(data_dir, pg_bin=pg_bin).dsn(database))
