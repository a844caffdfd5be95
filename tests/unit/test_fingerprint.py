"""The generator-side fingerprint: vectorised MD5 and the order-independent checksum."""

from __future__ import annotations

import hashlib
import struct

import numpy as np
import pytest

import pgbulk
from pgbulk import fingerprint, md5
from pgbulk.chunks import Rows
from pgbulk.datasets.contacts import ContactsSpec, dataset
from tests.copy_stream import decode_stream

TABLES = ("users", "emails", "phone_numbers")


def _reference(message: bytes) -> int:
    return int.from_bytes(hashlib.md5(message).digest()[:8], "big")


def _rows(scale: int, seed: int, spec: ContactsSpec | None = None) -> Rows:
    return Rows(dataset(spec), scale, seed=seed)


def test_md5_matches_hashlib_for_every_length_up_to_three_blocks_and_beyond() -> None:
    rng = np.random.default_rng(1)
    lengths = np.concatenate([np.arange(180), [600, 1_000]]).astype(np.int64)  # 1..17 blocks
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64) + 3
    data = rng.integers(0, 256, int(lengths.sum()) + 10, dtype=np.uint8)
    got = md5.digest64(data, starts, lengths)
    expected = [_reference(data[s : s + n].tobytes()) for s, n in zip(starts, lengths, strict=True)]
    assert got.tolist() == expected


def test_md5_of_many_rows_crosses_the_slices() -> None:
    rng = np.random.default_rng(2)
    n, width = 70_000, 32  # more rows than one slice
    data = rng.integers(0, 256, n * width, dtype=np.uint8)
    starts = np.arange(n, dtype=np.int64) * width
    got = md5.digest64(data, starts, np.full(n, width, dtype=np.int64))
    for i in (0, 1, 16_383, 16_384, 69_999):
        assert int(got[i]) == _reference(data[i * width : (i + 1) * width].tobytes())


def test_md5_of_messages_in_any_order_up_to_the_end_of_the_data() -> None:
    # Rows are copied from windows that reach past a message: the last one ends the data,
    # and messages may overlap or come in any order.
    rng = np.random.default_rng(3)
    data = rng.integers(0, 256, 300, dtype=np.uint8)
    starts = np.array([290, 0, 5, 5, 236, 299], dtype=np.int64)
    lengths = np.array([10, 55, 56, 119, 64, 1], dtype=np.int64)
    got = md5.digest64(data, starts, lengths)
    expected = [_reference(data[s : s + n].tobytes()) for s, n in zip(starts, lengths, strict=True)]
    assert got.tolist() == expected


def _canonical(row: tuple[bytes | None, ...]) -> bytes:
    """A row as the fingerprint reads it: each field's int32 length (-1: NULL), then its bytes."""
    return b"".join(
        struct.pack(">i", -1) if v is None else struct.pack(">i", len(v)) + v for v in row
    )


def test_length_prefixes_tell_apart_rows_whose_fields_concatenate_alike() -> None:
    assert _canonical((b"ab", b"c")) != _canonical((b"a", b"bc"))
    assert _canonical((b"", None)) != _canonical((None, b""))


@pytest.mark.parametrize("table", TABLES)
def test_row_hashes_are_md5_of_the_canonical_row_bytes(table: str) -> None:
    chunk = pgbulk.contacts(50, seed=3).chunk(0)
    hashes = fingerprint.chunk_row_hashes(chunk, table)
    rows = decode_stream(bytes(chunk.copy_buffer(table)))
    assert hashes.tolist() == [_reference(_canonical(r)) for r in rows]


def test_fingerprint_counts_rows_and_sums_hashes_modulo_2_64() -> None:
    rows = _rows(2_500, 4, ContactsSpec(chunk_users=1_000))
    fp = fingerprint.of_dataset(rows)
    for table in TABLES:
        hashes = [int(h) for c in rows for h in fingerprint.chunk_row_hashes(c, table)]
        assert fp[table].rows == len(hashes) == sum(c.rows(table) for c in rows)
        assert fp[table].checksum == sum(hashes) % 2**64


def test_fingerprint_does_not_depend_on_processes() -> None:
    rows = _rows(1_700, 5, ContactsSpec(chunk_users=500))
    assert fingerprint.of_dataset(rows, processes=2) == fingerprint.of_dataset(rows, processes=1)


def test_fingerprint_tells_datasets_apart() -> None:
    base = fingerprint.of_dataset(_rows(1_000, 6))
    others = [
        fingerprint.of_dataset(_rows(1_000, 7)),
        fingerprint.of_dataset(_rows(1_001, 6)),
        fingerprint.of_dataset(_rows(1_000, 6, ContactsSpec(uuid_version=7))),
        fingerprint.of_dataset(_rows(1_000, 6, ContactsSpec(chunk_users=300))),
    ]
    for other in others:
        assert other != base
        assert other.combined != base.combined
    assert fingerprint.of_dataset(_rows(1_000, 6)) == base


def test_fingerprint_serialises() -> None:
    fp = fingerprint.of_dataset(_rows(10, 0))
    data = fp.to_dict()
    assert list(data["tables"]) == list(TABLES)
    assert data["tables"]["users"] == {"rows": 10, "checksum": f"{fp['users'].checksum:016x}"}
    assert len(data["combined"]) == 32
    assert fp.combined in fp.summary()
    with pytest.raises(KeyError):
        fp["nope"]


def test_buckets_add_up_to_the_table_checksum() -> None:
    rows = _rows(800, 8)
    fp = fingerprint.of_dataset(rows)
    buckets = fingerprint.dataset_buckets(rows, "emails")
    assert sum(n for n, _ in buckets.values()) == fp["emails"].rows
    assert sum(s for _, s in buckets.values()) % 2**64 == fp["emails"].checksum
    some = sorted(buckets)[:3]
    found = fingerprint.dataset_rows(rows, "emails", "id", some)
    assert len(found) == sum(buckets[b][0] for b in some)
    assert all(h >> 56 in some for h, _ in found)
    ids = {str(u) for c in rows for u in c.frame("emails").text("id").to_list()}
    assert {label for _, label in found} <= ids
