"""The row-level checks of ``pgbulk verify``: counts, NULLs, formats, keys, per-user laws.

Table names are pgbulk's own constants and the session's ``search_path`` names the
target schema, so the SQL is written out plainly. Each function runs inside one
read-only snapshot and returns :class:`Check` results. Queries that only find examples
of a failure run only when the check has failed: a healthy dataset costs one scan per
table and one grouping per child table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import psycopg

from pgbulk.generate import truncated_zipf_pmf
from pgbulk.ledger import DatasetRecord
from pgbulk.stats import chi_square

#: A correct dataset fails the distribution check with this probability (p-value below it).
ALPHA = 1e-3
EXAMPLES = 5
PARENT = "users"
CHILD_TEXT = {"emails": "email", "phone_numbers": "phone_number"}


@dataclass
class Check:
    """One verified property. ``bad_rows`` is None when the check is not about rows."""

    name: str
    table: str | None
    ok: bool
    detail: str
    bad_rows: int | None = None
    examples: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": self.table,
            "ok": self.ok,
            "detail": self.detail,
            "bad_rows": self.bad_rows,
            "examples": self.examples,
        }


# ---------------------------------------------------------------------- the rules, as SQL

# The n of an email 'user' || owner uuid || '_' || n || '@example.com', NULL unless the
# email is exactly that text for the row's own user_id (n has 1 to 3 digits, as
# max_per_user <= 1000). 41 = len('user' || uuid || '_'), 53 = 41 + len('@example.com').
EMAIL_N = """CASE WHEN octet_length(email) BETWEEN 54 AND 56
      AND substr(email, 42, octet_length(email) - 53) ~ '^(0|[1-9][0-9]*)$'
      AND email = 'user' || user_id::text || '_' || substr(email, 42, octet_length(email) - 53)
                  || '@example.com'
     THEN substr(email, 42, octet_length(email) - 53)::int END"""


@dataclass(frozen=True)
class _Rules:
    columns: tuple[str, ...]
    format_sql: str  # true when the text is well formed (the columns are not NULL)
    format_rule: str  # the same, for people


def _rules(table: str, record: DatasetRecord) -> _Rules:
    if table == "users":
        return _Rules(
            ("id", "name"),
            "CASE WHEN name ~ '^User [1-9][0-9]{0,17}$'"
            f" THEN substr(name, 6)::bigint <= {int(record.users)} ELSE false END",
            f"name is 'User n' with n in 1..{record.users:,}",
        )
    if table == "emails":
        top = record.spec.max_per_user
        return _Rules(
            ("id", "user_id", "email"),
            f"coalesce(({EMAIL_N}) < {int(top)}, false)",
            f"email is 'user' || user_id || '_' || n || '@example.com' with n in 0..{top - 1}",
        )
    return _Rules(
        ("id", "user_id", "phone_number"),
        "phone_number ~ '^[0-9]{16}$'",
        "phone_number is 16 decimal digits",
    )


def _uuid_sql(version: int) -> str:
    """True for a UUID with the dataset's version and the RFC 9562 variant (10xx)."""
    return f"(get_byte(uuid_send(id), 6) >> 4 = {int(version)} AND get_byte(uuid_send(id), 8) >> 6 = 2)"


# ---------------------------------------------------------------------- one scan per table


@dataclass(frozen=True)
class Scan:
    """What one pass over a table counts."""

    rows: int
    nulls: int
    bad_uuids: int
    bad_format: int
    n_sum: int  # emails: the sum of the n of every well-formed email (0 for other tables)


def scan(conn: psycopg.Connection, table: str, record: DatasetRecord) -> Scan:
    rules = _rules(table, record)
    any_null = " OR ".join(f"{c} IS NULL" for c in rules.columns)
    all_set = " AND ".join(f"{c} IS NOT NULL" for c in rules.columns)
    n_sum = f"coalesce(sum({EMAIL_N}), 0)" if table == "emails" else "0"
    row = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {any_null}),"
        f" count(*) FILTER (WHERE id IS NOT NULL AND NOT {_uuid_sql(record.spec.uuid_version)}),"
        f" count(*) FILTER (WHERE {all_set} AND NOT ({rules.format_sql})), {n_sum}"
        f" FROM {table}"
    ).fetchone()
    assert row is not None
    return Scan(*(int(v) for v in row))


def scan_checks(
    conn: psycopg.Connection, table: str, record: DatasetRecord, found: Scan, recorded_rows: int
) -> list[Check]:
    """Row count against the ledger, NULLs, UUID bits and text format."""
    rules = _rules(table, record)
    version = record.spec.uuid_version
    checks = [_row_count(conn, table, found.rows, recorded_rows, record)]
    columns = ", ".join(rules.columns)
    checks.append(Check("not null", table, found.nulls == 0, f"no NULL in {columns}", found.nulls))
    if found.nulls:
        any_null = " OR ".join(f"{c} IS NULL" for c in rules.columns)
        checks[-1].examples = _examples(conn, table, any_null, rules.columns)
    checks.append(
        Check(
            "uuid",
            table,
            found.bad_uuids == 0,
            f"id has UUID version {version} and the RFC 9562 variant bits",
            found.bad_uuids,
        )
    )
    if found.bad_uuids:
        where = f"id IS NOT NULL AND NOT {_uuid_sql(version)}"
        checks[-1].examples = _examples(conn, table, where, ("id",))
    checks.append(
        Check("format", table, found.bad_format == 0, rules.format_rule, found.bad_format)
    )
    if found.bad_format:
        all_set = " AND ".join(f"{c} IS NOT NULL" for c in rules.columns)
        where = f"{all_set} AND NOT ({rules.format_sql})"
        checks[-1].examples = _examples(conn, table, where, rules.columns)
    return checks


def _row_count(
    conn: psycopg.Connection, table: str, rows: int, recorded: int, record: DatasetRecord
) -> Check:
    expected = record.users if table == PARENT else recorded
    ok = rows == expected == recorded
    detail = f"{rows:,} rows, as the load recorded"
    if not ok:
        detail = f"{rows:,} rows; the load recorded {recorded:,}"
        if table == PARENT and record.users != recorded:
            detail += f" and the dataset has {record.users:,} users"
    check = Check("row count", table, ok, detail, abs(rows - expected))
    if table == PARENT and rows < expected:
        missing = conn.execute(
            "SELECT 'User ' || g FROM generate_series(1, %s::bigint) g"
            " WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.name = 'User ' || g) LIMIT %s",
            (record.users, EXAMPLES),
        ).fetchall()
        check.examples = [f"{m[0]} is missing" for m in missing]
    return check


def _examples(
    conn: psycopg.Connection, table: str, where: str, columns: tuple[str, ...]
) -> list[str]:
    cols = ", ".join(f"{c}::text" for c in columns)
    query = f"SELECT {cols} FROM {table} WHERE {where} LIMIT {EXAMPLES}"
    return [
        ", ".join(f"{c}={v}" for c, v in zip(columns, r, strict=True)) for r in conn.execute(query)
    ]


# ---------------------------------------------------------------------- uniqueness


def unique_columns(table: str) -> tuple[str, ...]:
    return ("id", CHILD_TEXT[table]) if table in CHILD_TEXT else ("id",)


def check_unique(conn: psycopg.Connection, schema_name: str, table: str, column: str) -> Check:
    """No two rows share a value: proven by a valid unique index, else by grouping the rows."""
    name = f"unique {column}"
    index = conn.execute(
        "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]"
        " WHERE x.indrelid = to_regclass(format('%%I.%%I', %s::text, %s::text))"
        " AND x.indisunique AND x.indisvalid AND x.indnkeyatts = 1 AND x.indpred IS NULL"
        " AND x.indexprs IS NULL AND a.attname = %s LIMIT 1",
        (schema_name, table, column),
    ).fetchone()
    if index is not None:
        return Check(name, table, True, f"enforced by the valid unique index {index[0]}", 0)
    dupes = (
        f"SELECT {column}::text AS value, count(*) AS n FROM {table} WHERE {column} IS NOT NULL"
        f" GROUP BY {column} HAVING count(*) > 1"
    )
    row = conn.execute(f"SELECT count(*), coalesce(sum(n), 0) FROM ({dupes}) d").fetchone()
    assert row is not None
    values, rows = int(row[0]), int(row[1])
    check = Check(
        name,
        table,
        values == 0,
        "no unique index: checked by grouping the rows"
        if values == 0
        else f"{rows:,} rows share {values:,} values",
        rows,
    )
    if values:
        examples = conn.execute(f"{dupes} ORDER BY n DESC, value LIMIT {EXAMPLES}")
        check.examples = [f"{column}={v} in {n} rows" for v, n in examples]
    return check


# ---------------------------------------------------------------------- per user


def per_user(
    conn: psycopg.Connection, child: str, record: DatasetRecord, n_sum: int
) -> list[Check]:
    """Owners exist, emails are numbered 0..k-1 per user, and counts per user fit the law.

    ``n_sum`` is the sum of the emails' n from :func:`scan`. Distinct non-negative n
    (emails are unique) of a user with k emails sum to at least k(k-1)/2, with equality
    only for 0..k-1: so the emails are numbered right exactly when ``n_sum`` equals the
    sum of k(k-1)/2 over every owner, and no second pass over the email text is needed.
    """
    rows = conn.execute(
        f"WITH per_user AS (SELECT user_id, count(*) AS k FROM {child}"
        " WHERE user_id IS NOT NULL GROUP BY user_id)"
        " SELECT coalesce(p.k, 0), count(*) FILTER (WHERE u.id IS NOT NULL),"
        " coalesce(sum(p.k) FILTER (WHERE u.id IS NULL), 0), count(*) FILTER (WHERE u.id IS NULL)"
        " FROM users u FULL JOIN per_user p ON p.user_id = u.id GROUP BY 1 ORDER BY 1"
    ).fetchall()
    users_with = {int(k): int(n) for k, n, _, _ in rows if n}
    orphans = sum(int(r[2]) for r in rows)
    owners_with = {int(k): int(n) + int(o) for k, n, _, o in rows}

    owners = Check("owners", child, orphans == 0, f"every {child}.user_id is a user", orphans)
    if orphans:
        found = conn.execute(
            f"SELECT c.id::text, c.user_id::text FROM {child} c WHERE c.user_id IS NOT NULL"
            f" AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = c.user_id) LIMIT {EXAMPLES}"
        )
        owners.examples = [f"id={i}: user_id={u} is no user" for i, u in found]
    checks = [owners]
    if child == "emails":
        expected_sum = sum(n * k * (k - 1) // 2 for k, n in owners_with.items())
        checks.append(_numbering(conn, n_sum == expected_sum))
    checks.append(_distribution(conn, child, record, users_with))
    return checks


def _numbering(conn: psycopg.Connection, ok: bool) -> Check:
    rule = "each user's emails are numbered 0..k-1 (k = the user's email count)"
    if ok:
        return Check("numbering", "emails", True, rule, 0)
    found = conn.execute(
        "SELECT user_id::text, string_agg(coalesce(n::text, '?'), ', ' ORDER BY n), count(*) OVER ()"
        f" FROM (SELECT user_id, {EMAIL_N} AS n FROM emails) e GROUP BY user_id"
        " HAVING NOT coalesce(count(n) = count(*) AND sum(n) = count(*) * (count(*) - 1) / 2, false)"
        f" ORDER BY user_id LIMIT {EXAMPLES}"
    ).fetchall()
    bad = int(found[0][2]) if found else 0
    return Check(
        "numbering",
        "emails",
        False,
        f"{rule}; {bad:,} users are not" if found else f"{rule}; the sums of n differ",
        bad,
        [f"user {u}: emails numbered {ns} ('?': not its own email)" for u, ns, _ in found],
    )


def _distribution(
    conn: psycopg.Connection, child: str, record: DatasetRecord, users_with: dict[int, int]
) -> Check:
    spec = record.spec
    top = spec.max_per_user
    observed = [users_with.get(k, 0) for k in range(1, top + 1)]
    outside = sum(n for k, n in users_with.items() if not 1 <= k <= top)
    pmf = truncated_zipf_pmf(spec.zipf_a, top)
    test = chi_square(observed, list(pmf))
    total = sum(observed)
    shown = min(top, 8)
    detail = (
        f"{child} per user ~ Zipf(a={spec.zipf_a}) on 1..{top}: chi-square {test.statistic:.2f}, "
        f"df {test.df}, p-value {test.p_value:.3g} (fails below {ALPHA}); users with 1..{shown}: "
        + ", ".join(f"{o:,}" for o in observed[:shown])
        + "; expected "
        + ", ".join(f"{total * p:,.0f}" for p in pmf[:shown])
    )
    if outside:
        detail += f"; {outside:,} users have a count outside 1..{top}"
    check = Check("distribution", child, outside == 0 and test.p_value >= ALPHA, detail, outside)
    if outside:
        found = conn.execute(
            f"SELECT u.id::text, count(c.user_id) FROM users u LEFT JOIN {child} c ON c.user_id = u.id"
            f" GROUP BY u.id HAVING count(c.user_id) NOT BETWEEN 1 AND {int(top)} LIMIT {EXAMPLES}"
        )
        check.examples = [f"user {u} has {n} {child}" for u, n in found]
    return check
