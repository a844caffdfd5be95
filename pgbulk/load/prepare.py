"""Make the target ready for a load: check it, create the bare tables, record the dataset.

The tables must be absent, empty, or (resuming, or joining as a shard) hold this same
dataset. Nothing is changed when a check fails: the whole preparation is one transaction.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from pgbulk import ddl, ledger
from pgbulk.errors import DatasetMismatch, PgbulkError, TargetNotEmpty
from pgbulk.model import Dataset
from pgbulk.plan import Shard
from pgbulk.types import catalog

IfExists = str  # "fail" | "replace" | "resume" (checked by the caller)


def version() -> str:
    from pgbulk import __version__

    return __version__


def tables_present(conn: psycopg.Connection, schema: str, dataset: Dataset) -> dict[str, bool]:
    """For each of the dataset's tables that exists in ``schema``: whether it holds rows."""
    present: dict[str, bool] = {}
    for table in dataset.table_names:
        row = conn.execute(
            "SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))", (schema, table)
        ).fetchone()
        if row and row[0] is not None:
            has_rows = conn.execute(
                sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(schema, table))
            ).fetchone()
            present[table] = bool(has_rows and has_rows[0])
    return present


def prepare(
    conn: psycopg.Connection,
    schema: str,
    dataset: Dataset,
    seed: int,
    scale: int,
    chunks: int,
    if_exists: IfExists,
    shard: Shard | None,
) -> ledger.DatasetRecord | None:
    """Check the target and make it ready; return the existing record when joining or resuming."""
    _check_privileges(conn, schema)
    user = str(conn.execute("SELECT current_user").fetchone()[0])  # type: ignore[index]
    ledger.setup_lock(conn)  # concurrent shards take turns from here to the commit
    try:
        ledger.ensure(conn)
    except psycopg.errors.InsufficientPrivilege:
        raise PgbulkError(
            "no privilege to create the pgbulk metadata schema: GRANT CREATE ON DATABASE "
            f"... TO {user}, or CREATE SCHEMA pgbulk AUTHORIZATION {user}"
        ) from None
    record = ledger.read(conn, schema, for_update=True)
    present = tables_present(conn, schema, dataset)
    same = record is not None and record.same_dataset(dataset.definition, seed, scale)
    joining = if_exists == "resume" or shard is not None

    if if_exists == "replace":
        drop_tables(conn, schema, dataset)
        ledger.forget(conn, schema)
    elif record is not None and present and joining:
        if not same:
            # A shard never replaces another dataset: its tables may be empty only because
            # the shards that set them up have not committed their first unit yet.
            raise DatasetMismatch(
                f"schema {schema} holds a different pgbulk dataset ({record.describe()}); "
                f"asked for {dataset.name} seed={seed} scale={scale:,}. Nothing was changed: "
                "resume with the recorded options (pgbulk resume), or --if-exists replace to start over"
            )
        refuse_triggers(conn, schema, dataset)
        check_types(conn, schema, dataset)
        if record.state == "loading" and record.pgbulk_version != version():
            # Another version may generate other rows for the same options: the units
            # still to load would not belong with those already loaded.
            raise DatasetMismatch(
                f"schema {schema} holds a load by pgbulk {record.pgbulk_version}, not "
                f"{version()}, whose rows may differ. Nothing was changed: finish it with "
                f"pgbulk {record.pgbulk_version}, or --if-exists replace to start over"
            )
        return record
    elif any(present.values()):
        what = ", ".join(t for t, rows in present.items() if rows)
        hint = (
            "an interrupted load of this dataset: add --if-exists resume to finish it, or "
            "--if-exists replace to start over"
            if same
            else "use --if-exists replace to drop and reload them"
        )
        raise TargetNotEmpty(f"{what} in schema {schema} already hold rows ({hint})")
    else:
        drop_tables(conn, schema, dataset)  # absent or empty: recreate bare
        ledger.forget(conn, schema)

    conn.execute(sql.SQL("SET LOCAL search_path = {}").format(sql.Identifier(schema)))
    for table in dataset.tables:
        conn.execute(ddl.create_table(table))
    check_types(conn, schema, dataset)  # a domain or an event trigger could have changed them
    ledger.register(conn, schema, dataset, seed, scale, chunks, version())
    return None


def check_types(conn: psycopg.Connection, schema: str, dataset: Dataset) -> None:
    """Before the first COPY: every column has the model's type (one line per mismatch)."""
    for table in dataset.tables:
        catalog.check_columns(conn, schema, table.name, [(c.name, c.type) for c in table.columns])


def _check_privileges(conn: psycopg.Connection, schema: str) -> None:
    # Each privilege asked apart: has_schema_privilege('CREATE, USAGE') is true if either is held.
    ns = conn.execute(
        "SELECT has_schema_privilege(%s, 'CREATE') AND has_schema_privilege(%s, 'USAGE'),"
        " current_user FROM pg_namespace WHERE nspname = %s",
        (schema, schema, schema),
    ).fetchone()
    if ns is None:
        raise PgbulkError(
            f"schema {schema} does not exist: create it (CREATE SCHEMA {schema}) "
            "or choose another with --schema"
        )
    if not ns[0]:
        raise PgbulkError(
            f"no privilege to create tables in schema {schema}: "
            f"GRANT CREATE, USAGE ON SCHEMA {schema} TO {ns[1]}"
        )


def drop_tables(conn: psycopg.Connection, schema: str, dataset: Dataset) -> None:
    try:
        for table in ddl.drop_order(dataset):
            conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(schema, table)))
    except psycopg.errors.DependentObjectsStillExist as e:
        raise PgbulkError(
            f"cannot drop the existing tables: {e.diag.message_primary}; "
            f"{e.diag.message_detail or ''} Drop those objects first."
        ) from None


def refuse_triggers(conn: psycopg.Connection, schema: str, dataset: Dataset) -> None:
    rows = conn.execute(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = ANY(%s) AND NOT t.tgisinternal",
        (schema, list(dataset.table_names)),
    ).fetchall()
    if rows:
        names = ", ".join(f"{t}.{g}" for t, g in rows)
        raise PgbulkError(
            f"triggers would fire for every loaded row ({names}): remove them first "
            "(pgbulk events uninstall), then install them again after the load"
        )
