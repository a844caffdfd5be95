"""The binary COPY encoder against an independent per-row encoder and a golden stream."""

from __future__ import annotations

import struct
import uuid
from pathlib import Path

import numpy as np
import pytest

import pgbulk
from pgbulk import copy_format
from pgbulk.generate import Text

GOLDEN = Path(__file__).parent / "golden"


def reference_stream(rows: list[tuple[bytes | None, ...]]) -> bytes:
    """PostgreSQL's binary COPY format written the obvious way, one value at a time."""
    out = bytearray(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
    for row in rows:
        out += struct.pack(">h", len(row))
        for value in row:
            if value is None:
                out += struct.pack(">i", -1)
            else:
                out += struct.pack(">i", len(value)) + value
    return bytes(out + struct.pack(">h", -1))


def python_rows(chunk: pgbulk.ContactsChunk, table: str) -> list[tuple[bytes | None, ...]]:
    """The chunk's rows rebuilt from scratch with the uuid module and str formatting."""
    users = [uuid.UUID(bytes=b.tobytes()) for b in chunk.user_ids]
    if table == "users":
        return [(u.bytes, f"User {chunk.first_user + 1 + i}".encode()) for i, u in enumerate(users)]
    rows: list[tuple[bytes | None, ...]] = []
    if table == "emails":
        ids = iter(chunk.email_ids)
        for u, k in zip(users, chunk.email_counts, strict=True):
            rows += [
                (next(ids).tobytes(), u.bytes, f"user{u}_{n}@example.com".encode())
                for n in range(k)
            ]
    else:
        ids, phones = iter(chunk.phone_ids), iter(chunk.phone_numbers.to_list())
        for u, k in zip(users, chunk.phone_counts, strict=True):
            rows += [(next(ids).tobytes(), u.bytes, next(phones).encode()) for _ in range(k)]
    return rows


@pytest.mark.parametrize("table", pgbulk.TABLES)
@pytest.mark.parametrize("uuid_version", [4, 7])
def test_encoder_equals_the_reference_encoder(table: str, uuid_version: int) -> None:
    ds = pgbulk.contacts(2_345, seed=77, chunk_users=1_000, uuid_version=uuid_version)
    for chunk in ds:
        assert bytes(chunk.copy_buffer(table)) == reference_stream(python_rows(chunk, table))


def test_golden_stream_of_a_tiny_dataset() -> None:
    """Three users, seed 1, two chunks: compared byte for byte with the committed dump.

    If this fails after a deliberate change of the dataset, the change alters every
    existing dataset: say so in CHANGELOG.md and regenerate the golden file.
    """
    ds = pgbulk.contacts(3, seed=1, chunk_users=2)
    dump = "".join(
        f"# chunk {c.index} {t}\n{bytes(c.copy_buffer(t)).hex()}\n"
        for c in ds
        for t in pgbulk.TABLES
    )
    assert dump == (GOLDEN / "contacts-seed1-users3-chunk2.hex").read_text()


def test_header_and_trailer_frame_every_stream() -> None:
    buf = bytes(pgbulk.contacts(10, seed=1).chunk(0).copy_buffer("users"))
    assert buf.startswith(b"PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
    assert buf.endswith(b"\xff\xff")


def test_nulls_and_varying_widths_in_the_masked_path() -> None:
    # Over 64 width changes forces the mask path; -1 lengths are NULLs.
    values = [None if i % 7 == 3 else ("x" * (i % 11)).encode() for i in range(300)]
    width = max(len(v) for v in values if v is not None)
    chars = np.zeros((300, width), dtype=np.uint8)
    lengths = np.empty(300, dtype=np.int32)
    for i, v in enumerate(values):
        lengths[i] = -1 if v is None else len(v)
        if v:
            chars[i, : len(v)] = np.frombuffer(v, dtype=np.uint8)
    ids = np.arange(300 * 4, dtype=np.uint8).reshape(300, 4)
    got = bytes(copy_format.encode([Text(ids), Text(chars, lengths)]))
    assert got == reference_stream([(ids[i].tobytes(), values[i]) for i in range(300)])


def test_columns_must_agree_on_rows() -> None:
    with pytest.raises(ValueError, match="same number of rows"):
        copy_format.encode([Text(np.zeros((2, 1), np.uint8)), Text(np.zeros((3, 1), np.uint8))])
