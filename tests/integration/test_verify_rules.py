"""The SQL of verify's format rules, value by value, against what the rules say.

The rules are written for speed (a template's cut computed once per row, byte trims
instead of regular expressions): here each one is run on tricky values in PostgreSQL 15
and 18 and compared with the plain definition, written in Python or as the regular
expression the rule used to be.
"""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest

from pgbulk.datasets.contacts import dataset
from pgbulk.generators.base import ascii_chars_sql
from pgbulk.verify_rows import position_sql, rules, source

USER = "3b241101-e2bb-4255-8caf-4136c566a962"
OTHER = "9b2b6f84-9d1f-4c3a-a6a1-3f4a0d2e1c55"


def _cases() -> list[str]:
    """Texts near the valid ones: each way a value can be almost right."""
    return [
        "0123456789012345",
        "9999999999999999",
        "012345678901234",  # 15 characters
        "01234567890123456",  # 17
        "012345678901234a",
        "a123456789012345",
        "01234567890123é",  # 16 bytes, 15 characters
        "0123456789012345é",
        "é" * 8,
        "٠١٢٣٤٥٦٧٨٩٠١٢٣٤٥",  # Arabic-Indic digits
        " 123456789012345",
        "012345678901234\n",
        "0123456789\x7f12345",
        "",
        "ab",
        "ab-",
        "a]b",
        "abcd",
        "abcde",
        "a\\b",
        "x",
    ]


@pytest.mark.parametrize(
    ("alphabet", "shortest", "longest"),
    [("0123456789", 16, 16), ("ab-]\\", 2, 4), ("ab", 0, 3)],
)
def test_ascii_chars_is_the_regular_expression(
    db_dsn: str, alphabet: str, shortest: int, longest: int
) -> None:
    # each character in a bracket expression, escaped unless a letter or digit
    klass = "".join(ch if ch.isalnum() else "\\" + ch for ch in alphabet)
    regex = f"^[{klass}]{{{shortest},{longest}}}$"
    rule = ascii_chars_sql("v", alphabet, shortest, longest)
    with psycopg.connect(db_dsn) as conn:
        found = conn.execute(
            f"SELECT v, {rule}, v ~ %s FROM unnest(%s::text[]) v", (regex, _cases())
        ).fetchall()
    assert [(v, fast) for v, fast, _ in found] == [(v, slow) for v, _, slow in found]
    assert any(ok for _, ok, _ in found)


def _email_cases() -> list[tuple[str, str]]:
    """(user_id, email): the emails template ``user{parent.id}_{n}@example.com``."""
    good = f"user{USER}_"
    return [
        (USER, f"{good}0@example.com"),
        (USER, f"{good}4@example.com"),
        (USER, f"{good}12@example.com"),
        (USER, f"{good}{'9' * 25}@example.com"),  # well formed; n checked by the numbering
        (USER, f"{good}01@example.com"),
        (USER, f"{good}-1@example.com"),
        (USER, f"{good} 1@example.com"),
        (USER, f"{good}1 @example.com"),
        (USER, f"{good}@example.com"),
        (USER, f"{good}x@example.com"),
        (USER, f"{good}١@example.com"),  # an Arabic-Indic digit
        (USER, f"{good}1@example.org"),
        (USER, f"{good}1@example.comx"),
        (USER, f"{good}1@éxample.com"),
        (USER, f"usér{USER}_1@example.com"),
        (USER, f"user{USER.upper()}_1@example.com"),
        (USER, f"user{OTHER}_1@example.com"),
        (OTHER, f"{good}1@example.com"),
        (USER, f"{good}1@example.com{good}1@example.com"),
        (USER, "user"),
        (USER, ""),
        (USER, f"{good}1é@example.com"),
    ]


def _expected_email(user_id: str, email: str) -> tuple[bool, int | None]:
    """(conforms, n read from the text): the rule and the position as the template says.

    The position is read where the template puts the number (between the 41 characters
    before it and the 12 after), whenever that text is a number, whether or not the rest
    conforms: a malformed row gets NULL.
    """
    mid = email[41:-12] if len(email) > 53 else ""
    number = re.fullmatch(r"0|[1-9][0-9]*", mid) is not None and mid.isascii()
    conforms = number and email == f"user{user_id}_{mid}@example.com"
    return conforms, int(mid) if number else None


def test_the_email_template_rule_and_position(db_dsn: str) -> None:
    contacts = dataset()
    emails = contacts.table("emails")
    rule = next(r for r in rules(contacts, emails, 1_000) if r.column == "email")
    position = position_sql(contacts, emails)
    assert position is not None and rule.values  # the cut is computed once per row
    cases = _email_cases()
    with psycopg.connect(db_dsn) as conn:
        conn.execute("CREATE TEMPORARY TABLE emails (id uuid, user_id uuid, email text)")
        with conn.cursor().copy("COPY emails (id, user_id, email) FROM STDIN") as copy:
            for user_id, email in cases:
                copy.write_row((str(uuid.uuid4()), user_id, email))
        found = conn.execute(
            f"SELECT user_id::text, email, {rule.sql}, {position} FROM {source(contacts, emails)}"
        ).fetchall()
    assert len(found) == len(cases)
    for user_id, email, ok, n in found:
        assert (ok, None if n is None else int(n)) == _expected_email(user_id, email), email
    assert sum(ok for *_, ok, _ in found) == 4


@pytest.mark.parametrize("users", [9, 3_000])
def test_the_name_template_rule(db_dsn: str, users: int) -> None:
    contacts = dataset()
    table = contacts.table("users")
    rule = next(r for r in rules(contacts, table, users) if r.column == "name")
    names = [
        "User 1",
        f"User {users}",
        f"User {users + 1}",
        "User 0",
        "User 01",
        "User 1 ",
        "User  1",
        "user 1",
        "User",
        "User ",
        "User x",
        "User -1",
        "User 1e3",
        "Usér 1",
        "User ٣",
        f"User {'9' * 30}",
        "",
    ]
    with psycopg.connect(db_dsn) as conn:
        conn.execute("CREATE TEMPORARY TABLE users (id uuid, name text)")
        conn.execute(
            "INSERT INTO users SELECT gen_random_uuid(), v FROM unnest(%s::text[]) v", (names,)
        )
        found = dict(
            conn.execute(f"SELECT name, {rule.sql} FROM {source(contacts, table)}").fetchall()
        )
    for name in names:
        n = name.removeprefix("User ")
        valid = (
            name.startswith("User ")
            and re.fullmatch(r"[1-9][0-9]*", n) is not None
            and n.isascii()
            and 1 <= int(n) <= users
        )
        assert found[name] is valid, name
