"""PostgreSQL's binary COPY format, read and written the obvious way: the tests' oracle."""

from __future__ import annotations

import struct

HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)


def reference_stream(rows: list[tuple[bytes | None, ...]]) -> bytes:
    """A binary COPY stream written one value at a time."""
    out = bytearray(HEADER)
    for row in rows:
        out += struct.pack(">h", len(row))
        for value in row:
            if value is None:
                out += struct.pack(">i", -1)
            else:
                out += struct.pack(">i", len(value)) + value
    return bytes(out + struct.pack(">h", -1))


def decode_stream(data: bytes) -> list[tuple[bytes | None, ...]]:
    """The tuples of a binary COPY stream, each field its bytes (None for NULL)."""
    assert data[: len(HEADER)] == HEADER, "not a binary COPY stream with pgbulk's header"
    at, rows = len(HEADER), []
    while True:
        (fields,) = struct.unpack_from(">h", data, at)
        at += 2
        if fields == -1:
            assert at == len(data), "bytes after the trailer"
            return rows
        row: list[bytes | None] = []
        for _ in range(fields):
            (length,) = struct.unpack_from(">i", data, at)
            at += 4
            if length == -1:
                row.append(None)
            else:
                row.append(data[at : at + length])
                at += length
        rows.append(tuple(row))
