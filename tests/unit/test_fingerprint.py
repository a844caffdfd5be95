"""The generator-side fingerprint: vectorised MD5 and the order-independent checksum."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from pgbulk import fingerprint, md5
from pgbulk.datasets import TABLES, Contacts
from pgbulk.generate import Text
from pgbulk.spec import ContactsSpec


def _reference(message: bytes) -> int:
    return int.from_bytes(hashlib.md5(message).digest()[:8], "big")


def test_md5_matches_hashlib_for_every_length_up_to_three_blocks() -> None:
    rng = np.random.default_rng(1)
    n = 200
    lengths = np.arange(n, dtype=np.int32) % 180  # 0..179 bytes: one, two and three blocks
    ids = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    chars = rng.integers(0, 256, (n, 180), dtype=np.uint8)  # bytes past a length must not count
    got = md5.digest64([ids, Text(chars, lengths)])
    expected = [_reference(bytes(ids[i]) + bytes(chars[i, : lengths[i]])) for i in range(n)]
    assert got.tolist() == expected


def test_md5_of_fixed_width_parts_matches_hashlib() -> None:
    rng = np.random.default_rng(2)
    a = rng.integers(0, 256, (70_000, 16), dtype=np.uint8)  # more rows than one slice
    b = Text(rng.integers(48, 58, (70_000, 16), dtype=np.uint8))
    got = md5.digest64([a, b])
    for i in (0, 1, 32_767, 32_768, 69_999):
        assert int(got[i]) == _reference(bytes(a[i]) + bytes(b.chars[i]))


@pytest.mark.parametrize("table", TABLES)
def test_row_hashes_are_md5_of_the_canonical_row_bytes(table: str) -> None:
    chunk = Contacts(50, seed=3).chunk(0)
    hashes = fingerprint.chunk_row_hashes(chunk, table)
    if table == "users":
        rows = [
            bytes(i) + t.encode()
            for i, t in zip(chunk.user_ids, chunk.user_names.to_list(), strict=True)
        ]
    elif table == "emails":
        rows = [
            bytes(i) + bytes(u) + t.encode()
            for i, u, t in zip(
                chunk.email_ids, chunk.email_user_ids, chunk.emails.to_list(), strict=True
            )
        ]
    else:
        rows = [
            bytes(i) + bytes(u) + t.encode()
            for i, u, t in zip(
                chunk.phone_ids, chunk.phone_user_ids, chunk.phone_numbers.to_list(), strict=True
            )
        ]
    assert hashes.tolist() == [_reference(r) for r in rows]


def test_fingerprint_counts_rows_and_sums_hashes_modulo_2_64() -> None:
    dataset = Contacts(2_500, seed=4, spec=ContactsSpec(chunk_users=1_000))
    fp = fingerprint.of_dataset(dataset.spec, 4, 2_500)
    for table in TABLES:
        hashes = [int(h) for c in dataset for h in fingerprint.chunk_row_hashes(c, table)]
        assert fp[table].rows == len(hashes) == sum(c.rows(table) for c in dataset)
        assert fp[table].checksum == sum(hashes) % 2**64


def test_fingerprint_does_not_depend_on_processes() -> None:
    spec = ContactsSpec(chunk_users=500)
    assert fingerprint.of_dataset(spec, 5, 1_700, processes=2) == fingerprint.of_dataset(
        spec, 5, 1_700, processes=1
    )


def test_fingerprint_tells_datasets_apart() -> None:
    base = fingerprint.of_dataset(None, 6, 1_000)
    others = [
        fingerprint.of_dataset(None, 7, 1_000),
        fingerprint.of_dataset(None, 6, 1_001),
        fingerprint.of_dataset(ContactsSpec(uuid_version=7), 6, 1_000),
        fingerprint.of_dataset(ContactsSpec(chunk_users=300), 6, 1_000),
    ]
    for other in others:
        assert other != base
        assert other.combined != base.combined
    assert fingerprint.of_dataset(None, 6, 1_000) == base


def test_fingerprint_serialises() -> None:
    fp = fingerprint.of_dataset(None, 0, 10)
    data = fp.to_dict()
    assert list(data["tables"]) == list(TABLES)
    assert data["tables"]["users"] == {"rows": 10, "checksum": f"{fp['users'].checksum:016x}"}
    assert len(data["combined"]) == 32
    assert fp.combined in fp.summary()
    with pytest.raises(KeyError):
        fp["nope"]


def test_buckets_add_up_to_the_table_checksum() -> None:
    dataset = Contacts(800, seed=8)
    fp = fingerprint.of_dataset(dataset.spec, 8, 800)
    buckets = fingerprint.dataset_buckets(dataset, "emails")
    assert sum(n for n, _ in buckets.values()) == fp["emails"].rows
    assert sum(s for _, s in buckets.values()) % 2**64 == fp["emails"].checksum
    some = sorted(buckets)[:3]
    rows = fingerprint.dataset_rows(dataset, "emails", some)
    assert len(rows) == sum(buckets[b][0] for b in some)
    assert all(h >> 56 in some for h, _ in rows)
