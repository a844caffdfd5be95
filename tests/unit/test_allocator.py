"""The allocator tuning removes the page faults of repeated chunk allocations."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import resource, sys
import pgbulk
from pgbulk.allocator import keep_freed_memory
if sys.argv[1] == "tuned":
    assert keep_freed_memory()
ds = pgbulk.contacts(1_000_000, seed=1, chunk_users=50_000)
for t in ds.dataset.table_names:
    ds.chunk(0).copy_buffer(t)  # warm up: the first chunk maps its pages either way
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(1, 4):
    chunk = ds.chunk(i)
    for t in ds.dataset.table_names:
        chunk.copy_buffer(t)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def faults(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt is Linux-only")
def test_repeated_chunks_no_longer_fault_in_fresh_pages() -> None:
    default, tuned = faults("default"), faults("tuned")
    assert default > 3_000  # three chunks of fresh pages without the tuning
    assert tuned < default / 5
