"""``pgbulk relay``: deliver the outbox to the events function, in order, at least once.

Each pass claims a batch of pending events (``outbox.claim``) in one transaction and
POSTs them, signed. The events of one row go one after the other, in id order, each
after the previous one's answer; different rows go in parallel, ``concurrency``
requests at a time (with ``concurrency=1`` the whole batch goes in id order). Pub/Sub
keeps order per ordering key, which is the row, so nothing is lost by the parallelism
but latency.

* 2xx: delivered. Its state is committed with the batch, so a relay that dies
  mid-batch sends those events again: duplicates, with the same event_id.
* 5xx, 408/425/429, no answer: the event stays pending and its row's later events are
  not sent, so none can overtake it; no further request of the batch starts (the
  function is probably down); the relay waits (exponential backoff with jitter,
  capped) and tries again. ``max_attempts`` (0: no limit) parks an event that keeps
  failing.
* any other answer (400, 401, ...): parked with the answer as the error, never
  retried by itself; ``pgbulk events status`` shows it, ``pgbulk events requeue``
  sends it again once the cause is fixed.

Without ``once`` the relay then waits for the trigger's NOTIFY (or ``poll_interval``)
and goes on until :meth:`Relay.stop`, which the CLI calls on SIGTERM/SIGINT. It
finishes the requests in flight, commits what was delivered and returns.
"""

from __future__ import annotations

import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg

from pgbulk import dsn as dsns
from pgbulk.errors import ConnectionFailed, ParameterError
from pgbulk.events import envelope, outbox
from pgbulk.events.signing import Secret, signed_headers
from pgbulk.events.transport import (
    Endpoint,
    Outcome,
    TransportError,
    classify,
    display_url,
    is_loopback,
)

log = logging.getLogger("pgbulk.events")

MAX_BATCH = 10_000
MAX_CONCURRENCY = 64


@dataclass(frozen=True)
class Backoff:
    """Delay before retry ``n`` (1, 2, ...): ``first * 2**(n-1)``, at most ``cap``, of
    which a random half is dropped so that relays that failed together spread out."""

    first: float = 0.5
    cap: float = 30.0

    def delay(self, failures: int, rand: Callable[[], float] = random.random) -> float:
        full = min(self.cap, self.first * 2.0 ** min(failures - 1, 32))
        return full / 2 + rand() * full / 2


@dataclass
class RelayReport:
    delivered: int = 0
    parked: int = 0
    failed_attempts: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.delivered / self.seconds if self.seconds > 0 else 0.0
        return (
            f"relay: {self.delivered:,} delivered, {self.parked:,} parked, "
            f"{self.failed_attempts:,} failed attempts retried, in {self.seconds:.1f} s "
            f"({rate:,.0f} events/s)"
        )


@dataclass(frozen=True)
class _Batch:
    claimed: int
    failure: str | None  # why the batch stopped early, to be retried


@dataclass(frozen=True)
class _Sent:
    event: outbox.OutboxEvent
    outcome: Outcome
    error: str


class Relay:
    """Delivers a database's outbox to one function URL. ``run()`` blocks; ``stop()``
    may be called from a signal handler or another thread."""

    def __init__(
        self,
        dsn: str,
        url: str,
        secret: Secret,
        *,
        batch_size: int = 100,
        concurrency: int = 8,
        max_attempts: int = 0,
        timeout: float = 30.0,
        backoff: Backoff | None = None,
        poll_interval: float = 5.0,
    ) -> None:
        if isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH:
            raise ParameterError("batch_size", batch_size, f"must be an integer in 1..{MAX_BATCH}")
        if isinstance(concurrency, bool) or not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ParameterError(
                "concurrency", concurrency, f"must be an integer in 1..{MAX_CONCURRENCY}"
            )
        if isinstance(max_attempts, bool) or max_attempts < 0:
            raise ParameterError("max_attempts", max_attempts, "must be 0 (no limit) or more")
        if poll_interval <= 0:
            raise ParameterError("poll_interval", poll_interval, "must be positive")
        self.dsn = dsn
        self.url = url
        self.secret = secret
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.backoff = backoff or Backoff()
        self.poll_interval = poll_interval
        # One kept-alive connection per request in flight; a sender takes one, returns it.
        self._all_endpoints = [Endpoint(url, timeout=timeout) for _ in range(concurrency)]
        self._endpoints: queue.SimpleQueue[Endpoint] = queue.SimpleQueue()
        for endpoint in self._all_endpoints:
            self._endpoints.put(endpoint)
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._report = RelayReport()
        self._connections_lost = -1  # -1: never connected

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    @property
    def report(self) -> RelayReport:
        """What this relay did so far (final once ``run`` returned)."""
        return self._report

    def run(self, *, once: bool = False) -> RelayReport:
        """Deliver until stopped; with ``once``, until nothing is left to deliver."""
        endpoint = self._all_endpoints[0]
        if not endpoint.encrypted and not is_loopback(endpoint.host):
            log.warning("sending row data unencrypted to %s: use https://", display_url(self.url))
        log.info(
            "relay: delivering to %s, batches of %d, %d requests at a time",
            display_url(self.url),
            self.batch_size,
            self.concurrency,
        )
        started = time.monotonic()
        if self.concurrency > 1:
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="pgbulk-relay")
        try:
            while not self.stopped:
                try:
                    self._serve(once)
                    break
                except (psycopg.OperationalError, ConnectionFailed) as e:
                    # A wrong DSN fails at once; a daemon rides out a database restart.
                    if self._connections_lost < 0:
                        raise
                    if once:
                        raise ConnectionFailed(f"relay lost the database: {_one_line(e)}") from None
                    self._connections_lost += 1
                    delay = self.backoff.delay(self._connections_lost)
                    log.warning(
                        "database connection lost (%s); reconnecting in %.1f s", _one_line(e), delay
                    )
                    self._stop.wait(delay)
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
            for endpoint in self._all_endpoints:
                endpoint.close()
            self._report.seconds = time.monotonic() - started
        log.info("%s", self._report.summary())
        return self._report

    def _serve(self, once: bool) -> None:
        """Connect, then deliver until stopped (or, with ``once``, until done)."""
        with dsns.connect(self.dsn, autocommit=True, application_name="pgbulk relay") as conn:
            listener = None
            if not once:
                listener = dsns.connect(self.dsn, autocommit=True, application_name="pgbulk relay")
                outbox.listen(listener)
            self._connections_lost = 0
            try:
                failures = 0
                while not self.stopped:
                    batch = self._deliver_batch(conn)
                    if batch.failure is not None:
                        failures += 1
                        delay = self.backoff.delay(failures)
                        log.warning(
                            "delivery failed (%s); retrying in %.1f s", batch.failure, delay
                        )
                        self._stop.wait(delay)
                        continue
                    failures = 0
                    if batch.claimed == 0:
                        if listener is None:
                            return
                        self._wait_for_events(listener)
            finally:
                if listener is not None:
                    listener.close()

    def _deliver_batch(self, conn: psycopg.Connection) -> _Batch:
        delivered: list[int] = []
        failure: str | None = None
        with conn.transaction():
            events = outbox.claim(conn, self.batch_size)
            for sent in self._send_all(events):
                event, error = sent.event, sent.error
                if sent.outcome is Outcome.DELIVERED:
                    delivered.append(event.id)
                elif sent.outcome is Outcome.PARK:
                    outbox.park(conn, event.id, error)
                    self._report.parked += 1
                    log.warning(
                        "event %s (%s %s) parked: %s",
                        event.event_id,
                        event.op,
                        event.row_key,
                        error,
                    )
                else:
                    outbox.record_failure(conn, event.id, error)
                    self._report.failed_attempts += 1
                    failure = failure or f"event {event.event_id}: {error}"
            outbox.mark_delivered(conn, delivered)
        self._report.delivered += len(delivered)
        return _Batch(len(events), failure)

    def _send_all(self, events: list[outbox.OutboxEvent]) -> list[_Sent]:
        """Send a batch: rows in parallel, each row's events in order."""
        failed = threading.Event()
        if self._pool is None:
            return self._send_in_order(events, failed)
        rows: dict[str, list[outbox.OutboxEvent]] = {}
        for event in events:
            rows.setdefault(event.row_key, []).append(event)
        done = self._pool.map(lambda row: self._send_in_order(row, failed), rows.values())
        return [sent for row in done for sent in row]

    def _send_in_order(
        self, events: list[outbox.OutboxEvent], failed: threading.Event
    ) -> list[_Sent]:
        """One after the other, until a retryable failure here or anywhere in the batch."""
        endpoint = self._endpoints.get()
        sent: list[_Sent] = []
        try:
            for event in events:
                if self.stopped or failed.is_set():
                    break
                outcome, error = self._send(endpoint, event)
                attempt = event.attempts + 1
                if outcome is Outcome.RETRY and self.max_attempts and attempt >= self.max_attempts:
                    outcome, error = Outcome.PARK, f"gave up after {attempt} attempts: {error}"
                sent.append(_Sent(event, outcome, error))
                if outcome is Outcome.RETRY:
                    failed.set()
                    break
        finally:
            self._endpoints.put(endpoint)
        return sent

    def _send(self, endpoint: Endpoint, event: outbox.OutboxEvent) -> tuple[Outcome, str]:
        body = envelope.body(event, max_retries=self.max_attempts)
        try:
            response = endpoint.post(body, signed_headers(self.secret, body, time.time()))
        except TransportError as e:
            return Outcome.RETRY, str(e)
        return classify(response.status), response.describe()

    def _wait_for_events(self, listener: psycopg.Connection) -> None:
        """Until a NOTIFY, ``poll_interval`` or stop; in short slices so stop is prompt."""
        deadline = time.monotonic() + self.poll_interval
        while not self.stopped:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for _ in listener.notifies(timeout=min(left, 0.5), stop_after=1):
                return


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__
