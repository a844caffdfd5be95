"""Same data: every contacts table is byte for byte the rows of release 0.1.0.

``golden/contacts-0.1.0.json`` holds, for 42 datasets (4 seeds; 1 to 60,001 users; chunks
of 3 to 25,000 users, so short last chunks; UUIDv4 and v7; other Zipf laws), the SHA-256
of each table's binary COPY streams, chunk after chunk, as release 0.1.0 (commit
758cd95) generated them. A change of the generator that changes one row fails here.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

import pgbulk

GOLDEN = json.loads((Path(__file__).parent / "golden" / "contacts-0.1.0.json").read_text())


def _id(case: dict[str, Any]) -> str:
    return "-".join(f"{k}={v}" for k, v in case["params"].items())


@pytest.mark.parametrize("case", GOLDEN, ids=_id)
def test_tables_are_the_rows_of_release_0_1_0(case: dict[str, Any]) -> None:
    dataset = pgbulk.contacts(**case["params"])
    for table, want in case["tables"].items():
        digest = hashlib.sha256()
        rows = 0
        for chunk in dataset:
            digest.update(bytes(chunk.copy_buffer(table)))
            rows += chunk.rows(table)
        assert (rows, digest.hexdigest()) == (want["rows"], want["sha256"]), table
