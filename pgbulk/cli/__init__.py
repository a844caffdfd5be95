"""The ``pgbulk`` command: a thin layer over the library.

Commands parse their options, call the library and print. A :class:`PgbulkError`
becomes one line on stderr and exit code 2; click's own usage errors also exit 2.
"""

from __future__ import annotations

import logging
import sys

import click

from pgbulk import __version__
from pgbulk.cli.events import events_group, relay_command
from pgbulk.cli.export import export_command
from pgbulk.cli.ingest import ingest_command
from pgbulk.cli.load import finalize_command, load_command, resume_command
from pgbulk.cli.server import server_group
from pgbulk.cli.spec import spec_group
from pgbulk.cli.verify import analyze_command, fingerprint_command, verify_command
from pgbulk.errors import PgbulkError

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="pgbulk")
def cli() -> None:
    """Fill PostgreSQL with realistic, reproducible synthetic data, as fast as it can ingest."""


cli.add_command(load_command)
cli.add_command(resume_command)
cli.add_command(finalize_command)
cli.add_command(server_group)
cli.add_command(export_command)
cli.add_command(ingest_command)
cli.add_command(verify_command)
cli.add_command(analyze_command)
cli.add_command(fingerprint_command)
cli.add_command(events_group)
cli.add_command(relay_command)
cli.add_command(spec_group)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="pgbulk: %(message)s", stream=sys.stderr)
    try:
        cli.main(args=argv, prog_name="pgbulk", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("pgbulk: aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as e:
        e.show()
        sys.exit(EXIT_USER_ERROR if e.exit_code in (1, 2) else e.exit_code)
    except PgbulkError as e:
        click.echo(f"pgbulk: error: {e}", err=True)
        sys.exit(EXIT_USER_ERROR)
    except KeyboardInterrupt:
        click.echo("pgbulk: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    sys.exit(0)
