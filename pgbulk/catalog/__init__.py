"""``pgbulk spec import`` and ``pgbulk spec compare``: a spec fitted from a live database's
catalog and statistics (no row copied), and the distance between two databases' statistics.

Layers: :mod:`~pgbulk.catalog.read` (SQL), :mod:`~pgbulk.catalog.fit` (pure: statistics ->
spec), :mod:`~pgbulk.catalog.write` (pure: spec -> TOML), :mod:`~pgbulk.catalog.compare`.
"""

from __future__ import annotations

from pathlib import Path

from pgbulk import dsn as dsns
from pgbulk.catalog.fit import Fitted, fit
from pgbulk.catalog.read import read_tables
from pgbulk.catalog.write import to_toml
from pgbulk.errors import PgbulkError

__all__ = ["Fitted", "fit", "import_spec", "read_tables", "to_toml"]


def import_spec(
    dsn: str,
    out: str | Path,
    *,
    schemas: list[str] | None = None,
    tables: list[str] | None = None,
    no_values: bool = False,
    analyze: bool = False,
    name: str = "imported",
    fixed_below: int = 100,
) -> Fitted:
    """Read the database at ``dsn``, fit a spec, write it to ``out`` (TOML); the fitted spec
    (its ``problems``: what was not imported as it is, one line each)."""
    from pgbulk.spec import from_dict

    with dsns.connect(dsn, autocommit=True, application_name="pgbulk spec import") as conn:
        infos = read_tables(conn, schemas or ["public"], tables, analyze=analyze)
    if not infos:
        where = ", ".join(schemas or ["public"])
        named = f" named {', '.join(tables)}" if tables else ""
        raise PgbulkError(f"no table{named} in schema {where}: nothing to import")
    fitted = fit(infos, name=name, no_values=no_values, fixed_below=fixed_below)
    if not fitted.spec["tables"]:
        raise PgbulkError("no table could be imported: " + "; ".join(fitted.problems))
    text = to_toml(fitted, [f"Imported by pgbulk spec import from {dsns.redact(dsn)}"])
    try:
        from_dict(_parsed(text))  # the spec we write must load
    except PgbulkError as e:
        raise PgbulkError(f"the fitted spec does not load (please report it): {e}") from None
    try:
        Path(out).write_text(text, "utf-8")
    except OSError as e:
        raise PgbulkError(f"cannot write {out}: {e.strerror}") from None
    return fitted


def _parsed(text: str) -> dict[str, object]:
    import tomllib

    return tomllib.loads(text)
