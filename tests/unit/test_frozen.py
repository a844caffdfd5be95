"""Fresh loads' pure parts: the order tables are handed out in, and one COPY per table."""

from __future__ import annotations

import pytest

from pgbulk.chunks import Rows
from pgbulk.copy_format import HEADER, TRAILER
from pgbulk.datasets.contacts import ContactsSpec, dataset
from pgbulk.estimate import estimate
from pgbulk.load.frozen import table_order, tuples_of
from tests.copy_stream import decode_stream as decode


def test_tables_go_out_largest_first() -> None:
    rows = Rows(dataset(ContactsSpec()), 10_000)
    expected = estimate(rows)
    order = table_order(expected, ["users", "emails", "phone_numbers"])
    heap = {t.table: t.heap_bytes for t in expected.tables}
    assert [heap[t] for t in order] == sorted(heap.values(), reverse=True)
    assert order[-1] == "users"  # a user row is smaller than its emails' or phones'


def test_units_joined_into_one_stream_decode_as_the_units_did() -> None:
    rows = Rows(dataset(ContactsSpec(chunk_users=100)), 300)
    streams = [rows.chunk(i).copy_buffer("emails") for i in range(3)]
    joined = HEADER + b"".join(bytes(tuples_of(s)) for s in streams) + TRAILER
    assert decode(joined) == [r for s in streams for r in decode(bytes(s))]
    with pytest.raises(ValueError, match="not a binary COPY stream"):
        tuples_of(memoryview(b"PGCOPY but not really"))


def test_whole_tables_only_where_they_keep_the_workers_busy() -> None:
    from pgbulk.load.frozen import balanced
    from pgbulk.spec import load_spec

    contacts = estimate(Rows(dataset(ContactsSpec()), 10_000))
    names = ["users", "emails", "phone_numbers"]
    assert balanced(contacts, names, 1) and balanced(contacts, names, 2)
    assert not balanced(contacts, names, 3)  # emails alone is more than a third
    pgbench = load_spec("pgbench")
    accounts = estimate(Rows(pgbench, 10))
    assert balanced(accounts, pgbench.table_names, 1)
    assert not balanced(accounts, pgbench.table_names, 2)  # accounts is nearly all of it
