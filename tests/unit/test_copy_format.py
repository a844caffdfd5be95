"""The binary COPY encoder against an independent per-row encoder and a golden stream."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import numpy as np
import pytest

import pgbulk
from pgbulk import copy_format
from pgbulk.generate import Text
from tests.copy_stream import decode_stream, reference_stream

TABLES = ("users", "emails", "phone_numbers")

GOLDEN = Path(__file__).parent / "golden"


def _uuids(chunk: pgbulk.Chunk, table: str) -> list[bytes]:
    ids = chunk.values(table, "id")
    assert isinstance(ids, Text)
    return [row.tobytes() for row in ids.chars]


def python_rows(chunk: pgbulk.Chunk, table: str) -> list[tuple[bytes | None, ...]]:
    """The chunk's rows rebuilt from scratch with the uuid module and str formatting.

    Only the random parts are taken from the chunk (ids, phone numbers, counts); every
    byte on the wire is laid out here.
    """
    users = [uuid.UUID(bytes=b) for b in _uuids(chunk, "users")]
    first = chunk.frame("users").first_row
    assert first is not None
    if table == "users":
        return [(u.bytes, f"User {first + 1 + i}".encode()) for i, u in enumerate(users)]
    counts = chunk.frame(table).counts
    assert counts is not None
    ids = iter(_uuids(chunk, table))
    rows: list[tuple[bytes | None, ...]] = []
    if table == "emails":
        for u, k in zip(users, counts, strict=True):
            rows += [(next(ids), u.bytes, f"user{u}_{n}@example.com".encode()) for n in range(k)]
    else:
        phones = iter(chunk.frame(table).text("phone_number").to_list())
        for u, k in zip(users, counts, strict=True):
            rows += [(next(ids), u.bytes, next(phones).encode()) for _ in range(k)]
    return rows


def test_the_oracle_reads_back_what_it_writes() -> None:
    rows: list[tuple[bytes | None, ...]] = [(b"a", None, b""), (b"\x00" * 300, b"b", None)]
    assert decode_stream(reference_stream(rows)) == rows


@pytest.mark.parametrize("table", TABLES)
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
        f"# chunk {c.index} {t}\n{bytes(c.copy_buffer(t)).hex()}\n" for c in ds for t in TABLES
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


def _packed(values: list[bytes | None]) -> copy_format.Packed:
    data = b"".join(v or b"" for v in values)
    offsets = np.cumsum([0] + [len(v or b"") for v in values]).astype(np.int64)
    nulls = np.array([v is None for v in values])
    return copy_format.Packed(offsets, np.frombuffer(data, dtype=np.uint8), nulls)


@pytest.mark.parametrize("outlier", [0, 1_000_000])
def test_packed_values_equal_the_reference(outlier: int) -> None:
    rng = np.random.default_rng(3)
    n = 20_000  # more than two blocks
    values: list[bytes | None] = [
        None
        if i % 13 == 5
        else bytes(rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8))
        for i in range(n)
    ]
    if outlier:
        values[9_000] = b"\x01" * outlier
    ids = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    tags: list[bytes | None] = [b"ab" if i % 2 else b"" for i in range(n)]
    got = bytes(copy_format.encode([Text(ids), _packed(values), [b"const"], _packed(tags)]))
    rows = [(ids[i].tobytes(), values[i], b"const", tags[i]) for i in range(n)]
    assert got == reference_stream(rows)


def test_a_packed_slice_keeps_its_offsets() -> None:
    whole = _packed([b"a", b"bb", None, b"dddd", b"eeeee"])
    got = bytes(copy_format.encode([whole.rows(1, 4)]))
    assert got == reference_stream([(b"bb",), (None,), (b"dddd",)])


def test_one_long_value_costs_its_bytes_not_the_longest_value_per_row() -> None:
    """One 4 MB value among 8,000 short ones: padded to it, the rows would take 31 GiB.

    Run in a child process, whose peak resident memory (numpy's and Arrow's allocations
    alike) is what is measured.
    """
    script = """
import resource, numpy as np
from pgbulk import copy_format
values = [b"x"] * 8_000
values[17] = b"y" * (4 << 20)
data = np.frombuffer(b"".join(values), dtype=np.uint8)
offsets = np.concatenate([[0], np.cumsum([len(v) for v in values])]).astype(np.int64)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
out = copy_format.encode([copy_format.Packed(offsets, data)])
assert len(out) == 19 + 8_000 * 6 + 7_999 + (4 << 20) + 2, len(out)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert int(done.stdout) < 64 << 10  # KiB: a few copies of 4 MB at most


def test_words_of_a_vocabulary_encode_as_the_same_text_gathered_from_it() -> None:
    from pgbulk.generate import Chosen
    from pgbulk.generators.numbers import vocabulary_text

    words = ["a", "", "ccc", "dddddd", "ee"]
    picked = np.random.default_rng(2).integers(0, len(words), 5_000)
    chosen = vocabulary_text(words, picked)
    assert isinstance(chosen, Chosen)
    plain = Text(chosen.chars.copy(), chosen.row_lengths().copy())
    other = Text(np.full((5_000, 2), ord("x"), np.uint8), (picked % 3).astype(np.int32))
    # Widths change on most rows: both go the packed way, one through Arrow's take.
    assert bytes(copy_format.encode([chosen, other])) == bytes(copy_format.encode([plain, other]))
    rows = [bytes(words[i], "ascii") for i in picked[:3]]
    stream = bytes(copy_format.encode([chosen]))
    assert stream.startswith(
        copy_format.HEADER + b"\x00\x01" + len(rows[0]).to_bytes(4, "big") + rows[0]
    )


def test_text_in_parts_among_packed_values_equals_the_reference() -> None:
    """A template's parts ("customer", its id, "@example.com") go into the runs around
    the varying part, a NULLable fixed-width column and a mostly NULL varying one are
    packed from their rows with bytes: each the same stream as the per-row encoder's."""
    from pgbulk.generate import decimal
    from pgbulk.generators.numbers import vocabulary_text

    rng = np.random.default_rng(5)
    n = 5_000
    ids = rng.integers(0, 10**9, n).astype(np.int64)
    digits = decimal(ids)
    words = ["red", "", "green", "blue"]
    picked = rng.integers(0, len(words), n)
    fixed = rng.integers(65, 91, (n, 8), dtype=np.uint8)
    fixed_nulls = rng.random(n) < 0.3
    sparse = [None if rng.random() < 0.8 else b"w" * int(rng.integers(0, 12)) for _ in range(n)]
    sparse_chars = np.zeros((n, 12), dtype=np.uint8)
    sparse_lengths = np.array([-1 if v is None else len(v) for v in sparse], dtype=np.int32)
    for i, v in enumerate(sparse):
        if v:
            sparse_chars[i, : len(v)] = ord("w")
    tags: list[bytes | None] = [b"t" * (i % 5) for i in range(n)]
    got = bytes(
        copy_format.encode(
            [
                [b"customer", digits, b"@example.com"],
                [vocabulary_text(words, picked), b"-", digits],
                Text(fixed, np.where(fixed_nulls, -1, 8).astype(np.int32)),
                Text(sparse_chars, sparse_lengths),
                _packed(tags),
            ]
        )
    )
    text = digits.to_list()
    rows = [
        (
            f"customer{text[i]}@example.com".encode(),
            f"{words[picked[i]]}-{text[i]}".encode(),
            None if fixed_nulls[i] else fixed[i].tobytes(),
            sparse[i],
            tags[i],
        )
        for i in range(n)
    ]
    assert got == reference_stream(rows)
