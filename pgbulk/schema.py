"""The ``contacts`` tables: created bare for the load, then keys, constraints and indexes.

Statements are unqualified; the session's ``search_path`` names the target schema.
The final schema is the original project's (``../shared/docs/seed-facts.md``) with two
deliberate additions: indexes on ``emails.user_id`` and ``phone_numbers.user_id``, so
that ``ON DELETE CASCADE`` of one user does not scan both child tables. Defaults use
the built-in ``gen_random_uuid()`` (PostgreSQL 13+) instead of the ``uuid-ossp``
extension's ``uuid_generate_v4()``: the same random version-4 UUIDs, no extension.
"""

from __future__ import annotations

from dataclasses import dataclass

# Columns are NOT NULL from the start: ADD PRIMARY KEY on a nullable column would scan
# the table once more to check it. autovacuum is off during the load (the insert-driven
# autovacuum would compete with the load for the same cores) and reset after ANALYZE.
CREATE_TABLES = {
    "users": "CREATE TABLE users (id uuid NOT NULL DEFAULT gen_random_uuid(), name text NOT NULL)"
    " WITH (autovacuum_enabled = false)",
    "emails": "CREATE TABLE emails (id uuid NOT NULL DEFAULT gen_random_uuid(), user_id uuid NOT NULL,"
    " email text NOT NULL) WITH (autovacuum_enabled = false)",
    "phone_numbers": "CREATE TABLE phone_numbers (id uuid NOT NULL DEFAULT gen_random_uuid(),"
    " user_id uuid NOT NULL, phone_number text NOT NULL) WITH (autovacuum_enabled = false)",
}

COLUMNS = {
    "users": ("id", "name"),
    "emails": ("id", "user_id", "email"),
    "phone_numbers": ("id", "user_id", "phone_number"),
}


@dataclass(frozen=True)
class Step:
    """One post-load statement; ``after`` names the steps that must finish first.

    ``tables`` are the tables the statement holds a conflicting lock on: two steps that
    share a table would only wait for each other, so the scheduler never runs them at
    the same time. ``cost`` ranks ready steps (longest first) by the 10M-user timings in
    ``../shared/docs/performance-notes.md``.
    """

    name: str
    sql: str
    tables: tuple[str, ...]
    after: tuple[str, ...] = ()
    cost: float = 1.0


# Foreign keys are added NOT VALID (instant) and validated afterwards: VALIDATE takes a
# lock on the referenced table that does not conflict with itself, so both children
# validate at the same time, where ADD FOREIGN KEY would serialise them on users.
POST_LOAD: tuple[Step, ...] = (
    Step(
        "users_pkey",
        "ALTER TABLE users ADD CONSTRAINT users_pkey PRIMARY KEY (id)",
        ("users",),
        cost=6.5,
    ),
    Step(
        "emails_pkey",
        "ALTER TABLE emails ADD CONSTRAINT emails_pkey PRIMARY KEY (id)",
        ("emails",),
        cost=9.0,
    ),
    Step(
        "emails_email_key",
        "ALTER TABLE emails ADD CONSTRAINT emails_email_key UNIQUE (email)",
        ("emails",),
        cost=12.7,
    ),
    Step(
        "phone_numbers_pkey",
        "ALTER TABLE phone_numbers ADD CONSTRAINT phone_numbers_pkey PRIMARY KEY (id)",
        ("phone_numbers",),
        cost=7.0,
    ),
    Step(
        "phone_numbers_phone_number_key",
        "ALTER TABLE phone_numbers ADD CONSTRAINT phone_numbers_phone_number_key UNIQUE (phone_number)",
        ("phone_numbers",),
        cost=23.2,
    ),
    Step(
        "emails_user_id_fkey",
        "ALTER TABLE emails ADD CONSTRAINT emails_user_id_fkey FOREIGN KEY (user_id)"
        " REFERENCES users (id) ON DELETE CASCADE NOT VALID",
        ("emails", "users"),
        after=("users_pkey",),
        cost=0.1,
    ),
    Step(
        "phone_numbers_user_id_fkey",
        "ALTER TABLE phone_numbers ADD CONSTRAINT phone_numbers_user_id_fkey FOREIGN KEY (user_id)"
        " REFERENCES users (id) ON DELETE CASCADE NOT VALID",
        ("phone_numbers", "users"),
        after=("users_pkey",),
        cost=0.1,
    ),
    Step(
        "validate emails_user_id_fkey",
        "ALTER TABLE emails VALIDATE CONSTRAINT emails_user_id_fkey",
        ("emails",),
        after=("emails_user_id_fkey",),
        cost=9.1,
    ),
    Step(
        "validate phone_numbers_user_id_fkey",
        "ALTER TABLE phone_numbers VALIDATE CONSTRAINT phone_numbers_user_id_fkey",
        ("phone_numbers",),
        after=("phone_numbers_user_id_fkey",),
        cost=8.9,
    ),
    Step(
        "emails_user_id_idx",
        "CREATE INDEX emails_user_id_idx ON emails (user_id)",
        ("emails",),
        cost=5.0,
    ),
    Step(
        "phone_numbers_user_id_idx",
        "CREATE INDEX phone_numbers_user_id_idx ON phone_numbers (user_id)",
        ("phone_numbers",),
        cost=5.0,
    ),
)

ANALYZE: tuple[Step, ...] = tuple(
    Step(f"analyze {t}", f"ANALYZE {t}; ALTER TABLE {t} RESET (autovacuum_enabled)", (t,), cost=0.5)
    for t in ("users", "emails", "phone_numbers")
)

#: The constraints and indexes the finished schema has, by name (verification checks these).
EXPECTED_CONSTRAINTS = {
    "users_pkey": ("users", "p"),
    "emails_pkey": ("emails", "p"),
    "emails_email_key": ("emails", "u"),
    "emails_user_id_fkey": ("emails", "f"),
    "phone_numbers_pkey": ("phone_numbers", "p"),
    "phone_numbers_phone_number_key": ("phone_numbers", "u"),
    "phone_numbers_user_id_fkey": ("phone_numbers", "f"),
}
EXPECTED_INDEXES = ("emails_user_id_idx", "phone_numbers_user_id_idx")
