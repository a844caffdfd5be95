"""The built-in ``contacts`` dataset: users, their emails and phone numbers (the original's data).

The dataset is the built-in spec ``pgbulk/spec/builtin/contacts.toml`` (``pgbulk load
--spec contacts``); this module gives it its parameters (:class:`ContactsSpec`: the
``--users`` options) and records it by them, so ``--users N`` and ``--spec contacts
--scale N`` are one dataset in the ledger. Per user, the numbers of emails and of phone
numbers are independent draws of a Zipf law with exponent ``zipf_a`` truncated to
``1..max_per_user``; an email is ``user{owner's uuid}_{n}@example.com``; a phone number
is 16 digits, a keyed permutation of (owner, n): unique by construction. The final
schema is the original project's (``../shared/docs/seed-facts.md``) with two deliberate
additions: indexes on ``emails.user_id`` and ``phone_numbers.user_id``, so that ``ON
DELETE CASCADE`` of one user does not scan both child tables (``user_id_indexes=False``,
``pgbulk load --original-schema``: the original's exact schema). Defaults use the built-in
``gen_random_uuid()`` (PostgreSQL 13+) instead of the ``uuid-ossp`` extension's
``uuid_generate_v4()``.

Each random column draws from its own PCG64 stream per unit (the spec's ``key = { stream
= N }``), as release 0.1.0 did, so the rows are the same as they have always been: the
chunk size is part of the dataset.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pgbulk.chunks import Rows
from pgbulk.errors import ParameterError
from pgbulk.generators import DEFAULT_UUID7_EPOCH_MS
from pgbulk.model import Dataset
from pgbulk.spec.parse import build, builtin_text, canonical

UuidVersion = Literal[4, 7]

#: The phone numbers are 16 decimal digits: the whole space they are spread over.
PHONE_SPACE = 10**16


@dataclass(frozen=True)
class ContactsSpec:
    """The ``contacts`` dataset's parameters.

    Defaults reproduce the original project: per user, the number of emails and the
    number of phone numbers are independent draws of a Zipf law with exponent ``zipf_a``
    truncated to ``1..max_per_user``.
    """

    zipf_a: float = 1.2
    max_per_user: int = 5
    uuid_version: UuidVersion = 4
    chunk_users: int = 25_000
    uuid7_epoch_ms: int = DEFAULT_UUID7_EPOCH_MS
    #: the indexes on emails.user_id and phone_numbers.user_id; False: the original's
    #: exact schema (a user's ON DELETE CASCADE then scans both child tables)
    user_id_indexes: bool = True

    name = "contacts"

    def __post_init__(self) -> None:
        if self.uuid_version not in (4, 7):
            raise ParameterError("uuid_version", self.uuid_version, "must be 4 or 7")
        if not isinstance(self.max_per_user, int) or not 1 <= self.max_per_user <= 1000:
            raise ParameterError("max_per_user", self.max_per_user, "must be an integer in 1..1000")
        if (
            isinstance(self.zipf_a, bool)
            or not isinstance(self.zipf_a, int | float)
            or not self.zipf_a > 1.0
        ):
            raise ParameterError("zipf_a", self.zipf_a, "must be a number greater than 1")
        if not isinstance(self.chunk_users, int) or not 1 <= self.chunk_users <= 10_000_000:
            raise ParameterError(
                "chunk_users", self.chunk_users, "must be an integer in 1..10,000,000"
            )

    @property
    def max_users(self) -> int:
        """The most users a dataset can hold with phone numbers unique by construction."""
        return PHONE_SPACE // self.max_per_user

    def to_dict(self) -> dict[str, Any]:
        data = {"dataset": self.name, **asdict(self)}
        if self.user_id_indexes:  # the default is left out: ledgers written before it match
            del data["user_id_indexes"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContactsSpec:
        return cls(**{k: v for k, v in data.items() if k != "dataset"})


def dataset(spec: ContactsSpec | None = None) -> Dataset:
    """The contacts dataset: the built-in spec with ``spec``'s parameters."""
    spec = spec or ContactsSpec()
    definition = canonical(tomllib.loads(builtin_text("contacts")))
    definition["chunk_rows"] = spec.chunk_users
    for table in definition["tables"]:
        if table["name"] != "users":
            table["rows"] = {**table["rows"], "a": spec.zipf_a, "most": spec.max_per_user}
        for column in table["columns"]:
            if column["gen"] == "uuid":
                column.update(version=spec.uuid_version, epoch_ms=spec.uuid7_epoch_ms)
        if not spec.user_id_indexes:
            table.pop("indexes", None)
    return dataclasses.replace(build(definition), definition=spec.to_dict())


def contacts(
    users: int,
    *,
    seed: int = 0,
    zipf_a: float = ContactsSpec.zipf_a,
    max_per_user: int = ContactsSpec.max_per_user,
    uuid_version: int = ContactsSpec.uuid_version,
    chunk_users: int = ContactsSpec.chunk_users,
) -> Rows:
    """The contacts rows: ``for chunk in pgbulk.contacts(1000, seed=7): chunk.copy_buffer("users")``."""
    spec = ContactsSpec(
        zipf_a=zipf_a,
        max_per_user=max_per_user,
        uuid_version=uuid_version,  # type: ignore[arg-type]
        chunk_users=chunk_users,
    )
    if isinstance(users, bool) or not isinstance(users, int) or not 1 <= users <= spec.max_users:
        raise ParameterError("users", users, f"must be an integer in 1..{spec.max_users:,}")
    return Rows(dataset(spec), users, seed=seed)
