"""The built-in ``contacts`` dataset: users, emails and phone_numbers (the original's data).

A chunk is the users ``[chunk * chunk_users, ...)`` and everything they own. Each column
of a chunk draws from its own stream keyed by ``(chunk, column)`` under the dataset
seed, so a chunk is the same wherever and whenever it is made, and the first users of
a dataset do not change when the dataset grows. Phone numbers are a keyed permutation
of ``(user number, phone number within user)``, unique across the whole dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from pgbulk import copy_format
from pgbulk.copy_format import Column
from pgbulk.generate import (
    U8,
    Text,
    concat,
    decimal,
    digits_of_halves,
    permute_phone_halves,
    phone_keys,
    raw_u64,
    stream,
    take_rows,
    truncated_zipf,
    uuid4,
    uuid7,
    uuid_text,
)
from pgbulk.spec import ContactsSpec, check_seed, check_users

TABLES = ("users", "emails", "phone_numbers")

# Stream numbers: one independent random stream per column of a chunk.
_USER_IDS, _EMAIL_COUNTS, _PHONE_COUNTS, _EMAIL_IDS, _PHONE_IDS = range(5)


def chunk_count(users: int, spec: ContactsSpec) -> int:
    return -(-users // spec.chunk_users)


def chunk_bounds(chunk: int, users: int, spec: ContactsSpec) -> tuple[int, int]:
    """The 0-based user range ``[first, stop)`` of a chunk."""
    first = chunk * spec.chunk_users
    return first, min(first + spec.chunk_users, users)


@dataclass(frozen=True)
class ContactsChunk:
    """One chunk of the dataset as arrays. Columns are computed on first use."""

    spec: ContactsSpec
    seed: int
    index: int
    first_user: int  # 0-based number of the chunk's first user
    user_count: int

    def _ids(self, stream_no: int, n: int, owner_rows: npt.NDArray[np.intp] | None) -> U8:
        raw = raw_u64(stream(self.seed, self.index, stream_no), 2 * n)
        if self.spec.uuid_version == 4:
            return uuid4(raw)
        # Time-ordered: one millisecond per user; children share their owner's instant.
        ms = self.spec.uuid7_epoch_ms + self.first_user + np.arange(self.user_count, dtype=np.int64)
        return uuid7(ms if owner_rows is None else ms[owner_rows], raw)

    # ------------------------------------------------------------ users
    @cached_property
    def user_ids(self) -> U8:
        """(n, 16) UUID bytes."""
        return self._ids(_USER_IDS, self.user_count, None)

    @cached_property
    def user_numbers(self) -> npt.NDArray[np.int64]:
        """1-based user numbers: ``users.name`` is ``User {number}``."""
        return np.arange(self.first_user + 1, self.first_user + 1 + self.user_count, dtype=np.int64)

    @cached_property
    def user_names(self) -> Text:
        return concat(b"User ", decimal(self.user_numbers))

    @property
    def user_name_parts(self) -> list[Text | bytes]:
        return [b"User ", decimal(self.user_numbers)]

    @cached_property
    def email_counts(self) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint16]:
        rng = stream(self.seed, self.index, _EMAIL_COUNTS)
        return truncated_zipf(rng, self.user_count, self.spec.zipf_a, self.spec.max_per_user)

    @cached_property
    def phone_counts(self) -> npt.NDArray[np.uint8] | npt.NDArray[np.uint16]:
        rng = stream(self.seed, self.index, _PHONE_COUNTS)
        return truncated_zipf(rng, self.user_count, self.spec.zipf_a, self.spec.max_per_user)

    # ------------------------------------------------------------ emails
    @cached_property
    def email_owner_rows(self) -> npt.NDArray[np.intp]:
        """For each email, the row of its owner within this chunk."""
        return np.repeat(np.arange(self.user_count), self.email_counts)

    @cached_property
    def email_seq(self) -> npt.NDArray[np.int64]:
        """n = 0, 1, ... for each email within its owner."""
        return _sequence_within(self.email_counts)

    @cached_property
    def email_ids(self) -> U8:
        return self._ids(_EMAIL_IDS, len(self.email_owner_rows), self.email_owner_rows)

    @cached_property
    def email_user_ids(self) -> U8:
        return take_rows(self.user_ids, self.email_owner_rows)

    @cached_property
    def emails(self) -> Text:
        """``user{owner uuid}_{n}@example.com``."""
        return concat(*self.email_parts)

    @property
    def email_parts(self) -> list[Text | bytes]:
        """The email text as parts, which the COPY encoder writes without joining first."""
        # Each user's UUID text is made once, then copied whole to each of its emails.
        owner_text = take_rows(uuid_text(self.user_ids), self.email_owner_rows)
        return [b"user", Text(owner_text), b"_", decimal(self.email_seq), b"@example.com"]

    # ------------------------------------------------------------ phone numbers
    @cached_property
    def phone_owner_rows(self) -> npt.NDArray[np.intp]:
        return np.repeat(np.arange(self.user_count), self.phone_counts)

    @cached_property
    def phone_ids(self) -> U8:
        return self._ids(_PHONE_IDS, len(self.phone_owner_rows), self.phone_owner_rows)

    @cached_property
    def phone_user_ids(self) -> U8:
        return take_rows(self.user_ids, self.phone_owner_rows)

    @cached_property
    def phone_numbers(self) -> Text:
        """16 digits: a permutation of (global user number, phone index within the user)."""
        owners = (self.first_user + self.phone_owner_rows).astype(np.uint64)
        slots = owners * np.uint64(self.spec.max_per_user) + _sequence_within(
            self.phone_counts
        ).astype(np.uint64)
        return Text(digits_of_halves(*permute_phone_halves(slots, phone_keys(self.seed))))

    # ------------------------------------------------------------ tables
    def rows(self, table: str) -> int:
        return {
            "users": self.user_count,
            "emails": len(self.email_owner_rows),
            "phone_numbers": len(self.phone_owner_rows),
        }[table]

    def columns(self, table: str) -> list[Column]:
        """The table's columns in its DDL order, in the form the COPY encoder takes."""
        if table == "users":
            return [Text(self.user_ids), self.user_name_parts]
        if table == "emails":
            return [Text(self.email_ids), Text(self.email_user_ids), self.email_parts]
        if table == "phone_numbers":
            return [Text(self.phone_ids), Text(self.phone_user_ids), self.phone_numbers]
        raise KeyError(f"unknown table {table!r}; the contacts tables are {', '.join(TABLES)}")

    def copy_buffer(self, table: str) -> memoryview:
        """The table's rows of this chunk as one binary COPY stream."""
        return copy_format.encode(self.columns(table))


def _sequence_within(
    counts: npt.NDArray[np.uint8] | npt.NDArray[np.uint16],
) -> npt.NDArray[np.int64]:
    """For counts [2, 1, 3]: [0, 1, 0, 0, 1, 2]."""
    c = counts.astype(np.int64)
    total = int(c.sum())
    starts = np.repeat(np.cumsum(c) - c, c)
    return np.arange(total, dtype=np.int64) - starts


class Contacts:
    """The ``contacts`` dataset for one ``(spec, seed, users)``: a sequence of chunks."""

    def __init__(self, users: int, *, seed: int = 0, spec: ContactsSpec | None = None) -> None:
        self.spec = spec or ContactsSpec()
        self.seed = check_seed(seed)
        self.users = check_users(users, self.spec)

    @property
    def chunks(self) -> int:
        return chunk_count(self.users, self.spec)

    def chunk(self, index: int) -> ContactsChunk:
        if not 0 <= index < self.chunks:
            raise IndexError(f"chunk {index} is outside 0..{self.chunks - 1}")
        first, stop = chunk_bounds(index, self.users, self.spec)
        return ContactsChunk(self.spec, self.seed, index, first, stop - first)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (self.chunk(i) for i in range(self.chunks))


def contacts(
    users: int,
    *,
    seed: int = 0,
    zipf_a: float = ContactsSpec.zipf_a,
    max_per_user: int = ContactsSpec.max_per_user,
    uuid_version: int = ContactsSpec.uuid_version,
    chunk_users: int = ContactsSpec.chunk_users,
) -> Contacts:
    """The ``contacts`` dataset. ``for chunk in pgbulk.contacts(1000, seed=7): chunk.copy_buffer("users")``."""
    spec = ContactsSpec(
        zipf_a=zipf_a,
        max_per_user=max_per_user,
        uuid_version=uuid_version,  # type: ignore[arg-type]
        chunk_users=chunk_users,
    )
    return Contacts(users, seed=seed, spec=spec)
