"""The load's peak memory counts its workers, not only the process that started them."""

from __future__ import annotations

import gc
import multiprocessing as mp
import time

import numpy as np
import pytest

from pgbulk.load.supervise import memory_of as _memory_of


def _hold(megabytes: int, seconds: float) -> None:
    block = np.ones(megabytes * 2**20, dtype=np.uint8)  # touched: resident
    time.sleep(seconds)
    del block


def test_memory_of_adds_each_worker_and_skips_ended_or_unstarted_ones() -> None:
    worker = mp.get_context("spawn").Process(target=_hold, args=(200, 30))
    worker.start()
    try:
        alone = _memory_of([])
        deadline = time.monotonic() + 20
        while _memory_of([worker.pid]) - alone < 200 * 2**20 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _memory_of([worker.pid]) - alone >= 200 * 2**20
    finally:
        worker.kill()
        worker.join()
    assert abs(_memory_of([worker.pid, None]) - _memory_of([])) < 50 * 2**20


@pytest.mark.parametrize(("spec", "scale"), [("contacts", 3_000), ("pgbench", 1), ("shop", 3_000)])
def test_a_unit_is_freed_as_soon_as_it_is_dropped(spec: str, scale: int) -> None:
    """Making a unit's COPY buffers leaves no reference cycle: its arrays go when the
    unit does, not when the cyclic collector next runs (which a load of large arrays
    and few objects rarely triggers: memory would grow with the scale)."""
    from pgbulk.chunks import Rows
    from pgbulk.spec import load_spec

    rows = Rows(load_spec(spec), scale, seed=1)

    def make_all() -> None:
        for chunk in rows:
            for table in chunk.tables:
                chunk.copy_buffer(table.name)

    make_all()  # first uses import modules, whose set-up leaves cycles once
    gc.collect()
    was = gc.isenabled()
    gc.disable()
    try:
        make_all()
        assert gc.collect() == 0
    finally:
        if was:
            gc.enable()
