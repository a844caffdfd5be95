"""The load's peak memory counts its workers, not only the process that started them."""

from __future__ import annotations

import multiprocessing as mp
import time

import numpy as np

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
