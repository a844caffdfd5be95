"""The contacts dataset: faithful to the seed, reproducible, unique where it must be."""

from __future__ import annotations

import re
import tracemalloc
import uuid

import numpy as np
import numpy.typing as npt
import pytest
from scipy import stats

import pgbulk
from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.generate import Text, truncated_zipf_pmf

EMAIL = re.compile(
    r"user([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})_(\d+)@example\.com"
)
PHONE = re.compile(r"\d{16}")


TABLES = ("users", "emails", "phone_numbers")


def _all(chunk: pgbulk.Chunk) -> dict[str, bytes]:
    return {t: bytes(chunk.copy_buffer(t)) for t in TABLES}


def _ids(chunk: pgbulk.Chunk, table: str, column: str = "id") -> npt.NDArray[np.uint8]:
    values = chunk.values(table, column)
    assert isinstance(values, Text) and values.chars.shape[1] == 16
    return values.chars


def _text(chunk: pgbulk.Chunk, table: str, column: str) -> list[str]:
    return chunk.frame(table).text(column).to_list()


def _counts(chunk: pgbulk.Chunk, table: str) -> npt.NDArray[np.int64]:
    counts = chunk.frame(table).counts
    assert counts is not None
    return counts.astype(np.int64)


def _owners(chunk: pgbulk.Chunk, table: str) -> npt.NDArray[np.intp]:
    owners = chunk.frame(table).owner_rows
    assert owners is not None
    return owners


def test_formats_follow_the_seed() -> None:
    ds = pgbulk.contacts(2_500, seed=3, chunk_users=1_000)
    for chunk in ds:
        names = _text(chunk, "users", "name")
        first = chunk.frame("users").first_row
        assert first is not None
        assert names == [f"User {i}" for i in range(first + 1, first + 1 + chunk.rows("users"))]
        owners = [str(uuid.UUID(bytes=b.tobytes())) for b in _ids(chunk, "users")]
        emails = _text(chunk, "emails", "email")
        seq: dict[str, int] = {}
        for email, owner_row, user_id in zip(
            emails, _owners(chunk, "emails"), _ids(chunk, "emails", "user_id"), strict=True
        ):
            m = EMAIL.fullmatch(email)
            assert m, email
            assert m.group(1) == owners[owner_row] == str(uuid.UUID(bytes=user_id.tobytes()))
            assert int(m.group(2)) == seq.get(m.group(1), 0)  # numbered 0..n-1 per user
            seq[m.group(1)] = int(m.group(2)) + 1
        assert [seq[o] for o in owners] == _counts(chunk, "emails").tolist()
        assert all(PHONE.fullmatch(p) for p in _text(chunk, "phone_numbers", "phone_number"))
        for ids in (_ids(chunk, t) for t in TABLES):
            assert all(uuid.UUID(bytes=b.tobytes()).version == 4 for b in ids)
            assert all(uuid.UUID(bytes=b.tobytes()).variant == uuid.RFC_4122 for b in ids)


def test_counts_fit_the_truncated_zipf_law() -> None:
    ds = pgbulk.contacts(300_000, seed=2024)
    for table in ("emails", "phone_numbers"):
        counts = np.concatenate([_counts(c, table) for c in ds])
        observed = np.bincount(counts, minlength=6)[1:]
        result = stats.chisquare(observed, truncated_zipf_pmf(1.2, 5) * len(counts))
        assert result.pvalue > 0.001, (table, observed)


def test_email_and_phone_counts_are_independent() -> None:
    chunk = pgbulk.contacts(200_000, seed=5, chunk_users=200_000).chunk(0)
    table = np.zeros((5, 5))
    np.add.at(table, (_counts(chunk, "emails") - 1, _counts(chunk, "phone_numbers") - 1), 1)
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_ids_and_phones_are_unique_across_many_chunks() -> None:
    ds = pgbulk.contacts(400_000, seed=9, chunk_users=20_000)
    ids, phones = [], []
    for c in ds:
        ids += [_ids(c, t) for t in TABLES]
        phones.append(c.frame("phone_numbers").text("phone_number").chars)
    all_ids = np.concatenate(ids).view("V16")
    assert len(np.unique(all_ids)) == len(all_ids)
    all_phones = np.concatenate(phones).view("V16")
    assert len(np.unique(all_phones)) == len(all_phones)


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a = _all(pgbulk.contacts(3_000, seed=1, chunk_users=1_000).chunk(2))
    b = _all(pgbulk.contacts(3_000, seed=1, chunk_users=1_000).chunk(2))
    c = _all(pgbulk.contacts(3_000, seed=2, chunk_users=1_000).chunk(2))
    assert a == b
    assert all(a[t] != c[t] for t in TABLES)


def test_a_chunk_is_the_same_alone_or_in_a_larger_dataset() -> None:
    small = pgbulk.contacts(2_500, seed=4, chunk_users=1_000)
    large = pgbulk.contacts(1_000_000, seed=4, chunk_users=1_000)
    assert _all(small.chunk(1)) == _all(large.chunk(1))
    # The short last chunk is a prefix of the same chunk in a larger dataset.
    last, full = small.chunk(2), large.chunk(2)
    assert last.rows("users") == 500
    assert np.array_equal(_ids(last, "users"), _ids(full, "users")[:500])
    n_emails = last.rows("emails")
    assert np.array_equal(_ids(last, "emails"), _ids(full, "emails")[:n_emails])
    assert _text(last, "emails", "email") == _text(full, "emails", "email")[:n_emails]
    n_phones = last.rows("phone_numbers")
    phones = [c.frame("phone_numbers").text("phone_number").chars for c in (last, full)]
    assert np.array_equal(phones[0], phones[1][:n_phones])


def test_uuid7_dataset_is_time_ordered() -> None:
    chunk = pgbulk.contacts(5_000, seed=1, uuid_version=7, chunk_users=5_000).chunk(0)
    users = [uuid.UUID(bytes=b.tobytes()) for b in _ids(chunk, "users")]
    assert all(u.version == 7 for u in users)
    assert users == sorted(users)
    emails = [uuid.UUID(bytes=b.tobytes()) for b in _ids(chunk, "emails")]
    owners = [users[r] for r in _owners(chunk, "emails")]
    assert all(e.int >> 80 == o.int >> 80 for e, o in zip(emails, owners, strict=True))


def test_chunk_memory_is_proportional_to_the_chunk() -> None:
    def peak(chunk_users: int) -> int:
        ds = pgbulk.contacts(chunk_users, seed=1, chunk_users=chunk_users)
        tracemalloc.start()
        chunk = ds.chunk(0)
        for t in TABLES:
            chunk.copy_buffer(t)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(20_000), peak(80_000)
    assert 3.0 < large / small < 5.0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"users": 0}, "users"),
        ({"users": -5}, "users"),
        ({"users": 10, "zipf_a": 1.0}, "zipf_a"),
        ({"users": 10, "zipf_a": 0.5}, "zipf_a"),
        ({"users": 10, "max_per_user": 0}, "max_per_user"),
        ({"users": 10, "chunk_users": 0}, "chunk_users"),
        ({"users": 10, "uuid_version": 5}, "uuid_version"),
        ({"users": 10, "seed": -1}, "seed"),
    ],
)
def test_bad_parameters_name_the_parameter_and_range(kwargs: dict[str, int], name: str) -> None:
    with pytest.raises(ParameterError) as info:
        pgbulk.contacts(**kwargs)
    assert isinstance(info.value, PgbulkError)
    assert info.value.name == name
    assert "must be" in str(info.value) and name in str(info.value)
