"""Signals during a load: turned into a flag the load loop checks, or into KeyboardInterrupt."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import FrameType


@contextmanager
def _signal_handler(handler: Callable[[int, FrameType | None], None]) -> Iterator[None]:
    """Handle SIGINT and SIGTERM with ``handler`` inside the block, then restore the old ones.

    Only the main thread may set handlers: called from another thread, the caller's own apply.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def interrupt_on_signals(received: list[int]) -> AbstractContextManager[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt in the main thread; ``received`` says which.

    SIGTERM would otherwise end the process on the spot, its statements running on in
    the server; as an exception, the constraint steps are cancelled first.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)
        raise KeyboardInterrupt

    return _signal_handler(handler)


def stop_on_signals(stop_flag: list[int]) -> AbstractContextManager[None]:
    """Turn SIGINT/SIGTERM into a flag the load loop checks."""
    return _signal_handler(lambda signum, frame: stop_flag.append(signum))


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """Hold SIGINT back while workers start.

    A worker spends a second or more importing before it can ignore SIGINT; a Ctrl-C
    then (it reaches the whole process group) killed it with a traceback. A blocked
    signal stays blocked across exec, so the workers start with SIGINT held back until
    they ignore it, and the parent receives its own when the mask is restored.
    """
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
