"""The producer thread asks Linux to schedule it as a batch job; the sender thread does not."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from pgbulk.load.worker import _as_batch_thread


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SCHED_BATCH is Linux's")
def test_as_batch_thread_changes_only_the_calling_thread() -> None:
    seen: dict[str, int] = {}

    def producer() -> None:
        _as_batch_thread()
        seen["policy"] = os.sched_getscheduler(threading.get_native_id())

    thread = threading.Thread(target=producer)
    thread.start()
    thread.join()
    assert seen["policy"] == os.SCHED_BATCH
    assert os.sched_getscheduler(threading.get_native_id()) == os.SCHED_OTHER
