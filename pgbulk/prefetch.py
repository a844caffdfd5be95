"""One item ahead: a producer thread makes the next item while the caller sends this one."""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_END = object()


class Stopped(Exception):
    """The stop event was set while waiting for the next item."""


def prefetched(items: Iterator[T], stop: Any, *, name: str = "pgbulk-producer") -> Iterator[T]:
    """``items`` made one ahead by a thread (Arrow and numpy release the GIL while encoding).

    ``stop`` (a ``threading.Event`` or ``multiprocessing.Event``) is looked at while
    waiting: once set, the wait ends with :class:`Stopped`.
    """
    hand: queue.Queue[Any] = queue.Queue(maxsize=1)
    done = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not done.is_set():
                    try:
                        hand.put(item, timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if done.is_set():
                    return
            hand.put(_END)
        except BaseException as e:
            hand.put(e)

    thread = threading.Thread(target=produce, name=name, daemon=True)
    thread.start()
    try:
        while True:
            try:
                item = hand.get(timeout=0.5)
            except queue.Empty:
                if stop.is_set():
                    raise Stopped from None
                continue
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        done.set()
        with contextlib.suppress(queue.Empty):
            hand.get_nowait()  # let a producer blocked on put see ``done``
        thread.join(timeout=5)
