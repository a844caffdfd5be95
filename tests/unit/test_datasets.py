"""The contacts dataset: faithful to the seed, reproducible, unique where it must be."""

from __future__ import annotations

import re
import tracemalloc
import uuid

import numpy as np
import pytest
from scipy import stats

import pgbulk
from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.generate import truncated_zipf_pmf

EMAIL = re.compile(
    r"user([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12})_(\d+)@example\.com"
)
PHONE = re.compile(r"\d{16}")


def _all(chunk: pgbulk.ContactsChunk) -> dict[str, bytes]:
    return {t: bytes(chunk.copy_buffer(t)) for t in pgbulk.TABLES}


def test_formats_follow_the_seed() -> None:
    ds = pgbulk.contacts(2_500, seed=3, chunk_users=1_000)
    for chunk in ds:
        names = chunk.user_names.to_list()
        assert names == [
            f"User {i}"
            for i in range(chunk.first_user + 1, chunk.first_user + 1 + chunk.user_count)
        ]
        owners = [str(uuid.UUID(bytes=b.tobytes())) for b in chunk.user_ids]
        emails = chunk.emails.to_list()
        seq: dict[str, int] = {}
        for email, owner_row, user_id in zip(
            emails, chunk.email_owner_rows, chunk.email_user_ids, strict=True
        ):
            m = EMAIL.fullmatch(email)
            assert m, email
            assert m.group(1) == owners[owner_row] == str(uuid.UUID(bytes=user_id.tobytes()))
            assert int(m.group(2)) == seq.get(m.group(1), 0)  # numbered 0..n-1 per user
            seq[m.group(1)] = int(m.group(2)) + 1
        assert [seq[o] for o in owners] == chunk.email_counts.tolist()
        assert all(PHONE.fullmatch(p) for p in chunk.phone_numbers.to_list())
        for ids in (chunk.user_ids, chunk.email_ids, chunk.phone_ids):
            assert all(uuid.UUID(bytes=b.tobytes()).version == 4 for b in ids)
            assert all(uuid.UUID(bytes=b.tobytes()).variant == uuid.RFC_4122 for b in ids)


def test_counts_fit_the_truncated_zipf_law() -> None:
    ds = pgbulk.contacts(300_000, seed=2024)
    for attr in ("email_counts", "phone_counts"):
        counts = np.concatenate([getattr(c, attr) for c in ds])
        observed = np.bincount(counts, minlength=6)[1:]
        result = stats.chisquare(observed, truncated_zipf_pmf(1.2, 5) * len(counts))
        assert result.pvalue > 0.001, (attr, observed)


def test_email_and_phone_counts_are_independent() -> None:
    chunk = pgbulk.contacts(200_000, seed=5, chunk_users=200_000).chunk(0)
    table = np.zeros((5, 5))
    np.add.at(table, (chunk.email_counts - 1, chunk.phone_counts - 1), 1)
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_ids_and_phones_are_unique_across_many_chunks() -> None:
    ds = pgbulk.contacts(400_000, seed=9, chunk_users=20_000)
    ids, phones = [], []
    for c in ds:
        ids += [c.user_ids, c.email_ids, c.phone_ids]
        phones.append(c.phone_numbers.chars)
    all_ids = np.concatenate(ids).view("V16")
    assert len(np.unique(all_ids)) == len(all_ids)
    all_phones = np.concatenate(phones).view("V16")
    assert len(np.unique(all_phones)) == len(all_phones)


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a = _all(pgbulk.contacts(3_000, seed=1, chunk_users=1_000).chunk(2))
    b = _all(pgbulk.contacts(3_000, seed=1, chunk_users=1_000).chunk(2))
    c = _all(pgbulk.contacts(3_000, seed=2, chunk_users=1_000).chunk(2))
    assert a == b
    assert all(a[t] != c[t] for t in pgbulk.TABLES)


def test_a_chunk_is_the_same_alone_or_in_a_larger_dataset() -> None:
    small = pgbulk.contacts(2_500, seed=4, chunk_users=1_000)
    large = pgbulk.contacts(1_000_000, seed=4, chunk_users=1_000)
    assert _all(small.chunk(1)) == _all(large.chunk(1))
    # The short last chunk is a prefix of the same chunk in a larger dataset.
    last, full = small.chunk(2), large.chunk(2)
    assert last.user_count == 500
    assert np.array_equal(last.user_ids, full.user_ids[:500])
    n_emails = int(last.email_counts.sum())
    assert np.array_equal(last.email_ids, full.email_ids[:n_emails])
    assert last.emails.to_list() == full.emails.to_list()[:n_emails]
    n_phones = int(last.phone_counts.sum())
    assert np.array_equal(last.phone_numbers.chars, full.phone_numbers.chars[:n_phones])


def test_uuid7_dataset_is_time_ordered() -> None:
    chunk = pgbulk.contacts(5_000, seed=1, uuid_version=7, chunk_users=5_000).chunk(0)
    users = [uuid.UUID(bytes=b.tobytes()) for b in chunk.user_ids]
    assert all(u.version == 7 for u in users)
    assert users == sorted(users)
    emails = [uuid.UUID(bytes=b.tobytes()) for b in chunk.email_ids]
    owners = [users[r] for r in chunk.email_owner_rows]
    assert all(e.int >> 80 == o.int >> 80 for e, o in zip(emails, owners, strict=True))


def test_chunk_memory_is_proportional_to_the_chunk() -> None:
    def peak(chunk_users: int) -> int:
        ds = pgbulk.contacts(chunk_users, seed=1, chunk_users=chunk_users)
        tracemalloc.start()
        chunk = ds.chunk(0)
        for t in pgbulk.TABLES:
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
