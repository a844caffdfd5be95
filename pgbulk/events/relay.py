"""``pgbulk relay``: deliver the outbox to the events function, in order, at least once.

Each pass leases a batch of pending events (``outbox.claim``, one autocommitted
statement), POSTs them with no transaction open, then records the outcomes in one short
transaction. The batch is split into ``concurrency`` lanes by row: a row's events all go
to one lane, in id order, so several requests are in flight but never two for one row.
A lane sends its events ``per_request`` at a time (a JSON array; the function publishes
them as one Pub/Sub batch, in order per row, and answers per event), each request after
the previous one's answer.

* 2xx naming the event's id: delivered. An answer that does not name it is no proof.
* 400, 413, 422 (the event itself is invalid): parked with the answer, never retried by
  itself; the rest of its row goes on. A multi-event request answered so as a whole is
  sent again one event per request, so only the invalid one parks.
* 401, 403 (the caller is refused: ID token, IAM, secret): the relay is *blocked*. The
  events stay pending and untouched, the relay backs off, logs one error line per
  interval and records it for ``pgbulk events status``; once the cause is fixed,
  delivery resumes where it stopped, in order.
* anything else (5xx, 408, 429, 404, no answer): the event stays pending, its row's
  later events are not sent, no further request of the batch starts; the relay backs
  off and tries again. ``max_attempts`` (0: no limit) parks an event that keeps failing.

Without ``once`` the relay then waits for the trigger's NOTIFY (or ``poll_interval``)
and goes on until :meth:`Relay.stop`, which the CLI calls on SIGTERM/SIGINT. It
finishes the requests in flight, records their outcomes and returns. Every
``PURGE_EVERY`` seconds it deletes events delivered longer than ``retention`` ago.
"""

from __future__ import annotations

import json
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg

from pgbulk import dsn as dsns
from pgbulk.errors import ConnectionFailed, ParameterError
from pgbulk.events import envelope, outbox
from pgbulk.events.idtoken import GoogleIdTokens, TokenError
from pgbulk.events.signing import Secret, signed_headers
from pgbulk.events.transport import (
    Endpoint,
    Outcome,
    Response,
    TransportError,
    classify,
    display_url,
    is_loopback,
)

log = logging.getLogger("pgbulk.events")

MAX_BATCH = 10_000
MAX_CONCURRENCY = 64
MAX_PER_REQUEST = 1_000
#: The function's default body limit (EVENTS_MAX_BODY_BYTES): requests stay below it.
DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024
#: Seconds between retention purges.
PURGE_EVERY = 600.0


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
    refused_requests: int = 0  # 401/403 or no ID token: the relay was blocked
    requests: int = 0
    purged: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.delivered / self.seconds if self.seconds > 0 else 0.0
        refused = (
            f", {self.refused_requests:,} requests refused (unauthorized)"
            if self.refused_requests
            else ""
        )
        return (
            f"relay: {self.delivered:,} delivered, {self.parked:,} parked, "
            f"{self.failed_attempts:,} failed attempts retried{refused}, in {self.seconds:.1f} s "
            f"({rate:,.0f} events/s, {self.requests:,} requests)"
        )


@dataclass(frozen=True)
class _Sent:
    event: outbox.OutboxEvent
    outcome: Outcome
    error: str


@dataclass(frozen=True)
class _Pass:
    claimed: int
    failure: str | None  # why the batch stopped early, to be retried
    blocked: str | None  # why the function refused the relay


class Relay:
    """Delivers a database's outbox to one function URL. ``run()`` blocks; ``stop()``
    may be called from a signal handler or another thread."""

    def __init__(
        self,
        dsn: str,
        url: str,
        secret: Secret,
        *,
        batch_size: int = 2000,
        per_request: int = 250,
        concurrency: int = 8,
        max_attempts: int = 0,
        timeout: float = 30.0,
        backoff: Backoff | None = None,
        poll_interval: float = 5.0,
        lease_seconds: float | None = None,
        retention: str | None = "7 days",
        id_tokens: GoogleIdTokens | None = None,
        max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES,
    ) -> None:
        if isinstance(batch_size, bool) or not 1 <= batch_size <= MAX_BATCH:
            raise ParameterError("batch_size", batch_size, f"must be an integer in 1..{MAX_BATCH}")
        if isinstance(per_request, bool) or not 1 <= per_request <= MAX_PER_REQUEST:
            raise ParameterError(
                "per_request", per_request, f"must be an integer in 1..{MAX_PER_REQUEST}"
            )
        if isinstance(concurrency, bool) or not 1 <= concurrency <= MAX_CONCURRENCY:
            raise ParameterError(
                "concurrency", concurrency, f"must be an integer in 1..{MAX_CONCURRENCY}"
            )
        if isinstance(max_attempts, bool) or max_attempts < 0:
            raise ParameterError("max_attempts", max_attempts, "must be 0 (no limit) or more")
        if poll_interval <= 0:
            raise ParameterError("poll_interval", poll_interval, "must be positive")
        if max_request_bytes < 1024:
            raise ParameterError("max_request_bytes", max_request_bytes, "must be 1024 or more")
        # The lease must outlast sending the batch; lanes stop starting requests in time.
        lease = lease_seconds if lease_seconds is not None else max(120.0, 4 * timeout)
        if lease <= timeout:
            raise ParameterError("lease_seconds", lease, f"must exceed the timeout ({timeout} s)")
        self.dsn = dsn
        self.url = url
        self.secret = secret
        self.batch_size = batch_size
        self.per_request = per_request
        self.concurrency = concurrency
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.backoff = backoff or Backoff()
        self.poll_interval = poll_interval
        self.lease_seconds = lease
        self.retention = retention
        self.id_tokens = id_tokens
        self.max_request_bytes = max_request_bytes
        self.relay_id = uuid.uuid4()
        # One kept-alive connection per request in flight; a sender takes one, returns it.
        self._all_endpoints = [Endpoint(url, timeout=timeout) for _ in range(concurrency)]
        self._endpoints: queue.SimpleQueue[Endpoint] = queue.SimpleQueue()
        for endpoint in self._all_endpoints:
            self._endpoints.put(endpoint)
        self._pool: ThreadPoolExecutor | None = None
        self._stop = threading.Event()
        self._report = RelayReport()
        self._connections_lost = -1  # -1: never connected
        self._lock = threading.Lock()  # the report, from the senders
        self._last_purge = float("-inf")

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
            "relay: delivering to %s%s, batches of %d, %d events per request, %d requests at a "
            "time",
            display_url(self.url),
            " with Google ID tokens" if self.id_tokens else "",
            self.batch_size,
            self.per_request,
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
            outbox.require_leases(conn)
            if self.retention is not None:
                outbox.check_interval(conn, self.retention)
            listener = None
            if not once:
                listener = dsns.connect(self.dsn, autocommit=True, application_name="pgbulk relay")
                outbox.listen(listener)
            self._connections_lost = 0
            blocked_since = None
            try:
                failures = 0
                while not self.stopped:
                    self._purge(conn)
                    done = self._deliver_batch(conn)
                    if done.blocked is not None:
                        failures += 1
                        delay = self.backoff.delay(failures)
                        no_token = done.blocked.startswith("no Google")
                        reason = "no ID token" if no_token else "unauthorized"
                        since = outbox.set_blocked(
                            conn, self.relay_id, display_url(self.url), reason, done.blocked
                        )
                        blocked_since = blocked_since or since
                        log.error(
                            "DELIVERY BLOCKED since %s: %s (%s). Nothing is parked: the events "
                            "stay pending and go out in order once the cause is fixed (the "
                            "relay's service account needs roles/run.invoker on the function; "
                            "the events secret must be one the function accepts). Next try "
                            "in %.0f s",
                            f"{since:%Y-%m-%d %H:%M:%S %Z}",
                            reason,
                            done.blocked,
                            delay,
                        )
                        self._stop.wait(delay)
                        continue
                    if blocked_since is not None:
                        outbox.clear_blocked(conn, self.relay_id)
                        log.warning("delivery resumed (blocked since %s)", blocked_since)
                        blocked_since = None
                    if done.failure is not None:
                        failures += 1
                        delay = self.backoff.delay(failures)
                        log.warning("delivery failed (%s); retrying in %.1f s", done.failure, delay)
                        self._stop.wait(delay)
                        continue
                    failures = 0
                    if done.claimed == 0:
                        if listener is None:
                            return
                        self._wait_for_events(listener)
            finally:
                if blocked_since is not None and not conn.closed:
                    outbox.clear_blocked(conn, self.relay_id)
                if listener is not None:
                    listener.close()

    def _purge(self, conn: psycopg.Connection) -> None:
        if self.retention is None or time.monotonic() - self._last_purge < PURGE_EVERY:
            return
        self._last_purge = time.monotonic()
        n = outbox.purge_delivered(conn, self.retention)
        self._report.purged += n
        if n:
            log.info("purged %d events delivered more than %s ago", n, self.retention)

    def _deliver_batch(self, conn: psycopg.Connection) -> _Pass:
        events = outbox.claim(
            conn, self.batch_size, lease_seconds=self.lease_seconds, relay_id=self.relay_id
        )
        if not events:
            return _Pass(0, None, None)
        # Start no request that could still be running when the lease expires.
        deadline = time.monotonic() + self.lease_seconds - self.timeout - 1.0
        outcomes = outbox.Outcomes([], [], [])
        failure: str | None = None
        blocked: str | None = None
        for sent in self._send_all(events, deadline):
            event, error = sent.event, sent.error
            if sent.outcome is Outcome.DELIVERED:
                outcomes.delivered.append(event.id)
            elif sent.outcome is Outcome.PARK:
                outcomes.parked.append((event.id, error))
                log.warning(
                    "event %s (%s %s) parked: %s", event.event_id, event.op, event.row_key, error
                )
            elif sent.outcome is Outcome.BLOCKED:
                blocked = blocked or error
            else:
                outcomes.failed.append((event.id, error))
                failure = failure or f"event {event.event_id}: {error}"
        outbox.record(conn, events, outcomes)
        self._report.delivered += len(outcomes.delivered)
        self._report.parked += len(outcomes.parked)
        self._report.failed_attempts += len(outcomes.failed)
        return _Pass(len(events), failure, blocked)

    def _send_all(self, events: list[outbox.OutboxEvent], deadline: float) -> list[_Sent]:
        """Rows spread over lanes; a lane's events in id order."""
        stop = threading.Event()
        rows: dict[str, int] = {}
        lanes: list[list[outbox.OutboxEvent]] = [[] for _ in range(self.concurrency)]
        for event in events:
            lane = rows.setdefault(event.row_key, len(rows) % self.concurrency)
            lanes[lane].append(event)
        busy = [lane for lane in lanes if lane]
        if self._pool is None or len(busy) == 1:
            return [sent for lane in busy for sent in self._send_lane(lane, stop, deadline)]
        done = self._pool.map(lambda lane: self._send_lane(lane, stop, deadline), busy)
        return [sent for lane in done for sent in lane]

    def _send_lane(
        self, events: list[outbox.OutboxEvent], stop: threading.Event, deadline: float
    ) -> list[_Sent]:
        """Request after request, until a failure here or anywhere in the batch."""
        endpoint = self._endpoints.get()
        sent: list[_Sent] = []
        try:
            for chunk in self._requests(events):
                if self.stopped or stop.is_set() or time.monotonic() > deadline:
                    break
                results = self._post(endpoint, chunk)
                sent.extend(results)
                if any(s.outcome in (Outcome.RETRY, Outcome.BLOCKED) for s in results):
                    stop.set()
                    break
        finally:
            self._endpoints.put(endpoint)
        return sent

    def _requests(
        self, events: list[outbox.OutboxEvent]
    ) -> list[list[tuple[outbox.OutboxEvent, bytes]]]:
        """The lane's events cut into requests: at most ``per_request`` events and
        ``max_request_bytes`` each (an event larger than that alone goes alone)."""
        chunks: list[list[tuple[outbox.OutboxEvent, bytes]]] = []
        current: list[tuple[outbox.OutboxEvent, bytes]] = []
        size = 2
        for event in events:
            body = envelope.body(event, max_retries=self.max_attempts)
            if current and (
                len(current) >= self.per_request or size + len(body) + 1 > self.max_request_bytes
            ):
                chunks.append(current)
                current, size = [], 2
            current.append((event, body))
            size += len(body) + 1
        if current:
            chunks.append(current)
        return chunks

    def _post(
        self, endpoint: Endpoint, chunk: list[tuple[outbox.OutboxEvent, bytes]]
    ) -> list[_Sent]:
        events = [event for event, _ in chunk]
        body = envelope.batch_body([b for _, b in chunk])
        headers = signed_headers(self.secret, body, time.time())
        try:
            if self.id_tokens is not None:
                headers["authorization"] = self.id_tokens.authorization()
        except TokenError as e:
            return self._count([_Sent(e_, Outcome.BLOCKED, str(e)) for e_ in events])
        try:
            response = endpoint.post(body, headers)
        except TransportError as e:
            return self._count([self._retry(event, str(e)) for event in events])
        outcome = classify(response.status)
        if outcome is Outcome.DELIVERED:
            return self._count(self._per_event(events, response))
        if outcome is Outcome.PARK and len(chunk) > 1:
            # Said of the whole request: find the invalid one by sending each alone.
            sent: list[_Sent] = []
            for one in chunk:
                results = self._post(endpoint, [one])
                sent.extend(results)
                if results[0].outcome in (Outcome.RETRY, Outcome.BLOCKED):
                    break
            return sent
        error = response.describe()
        if outcome is Outcome.RETRY:
            return self._count([self._retry(event, error) for event in events])
        return self._count([_Sent(event, outcome, error) for event in events])

    def _count(self, sent: list[_Sent]) -> list[_Sent]:
        with self._lock:
            self._report.requests += 1
            if sent and sent[0].outcome is Outcome.BLOCKED:
                self._report.refused_requests += 1
        return sent

    def _per_event(self, events: list[outbox.OutboxEvent], response: Response) -> list[_Sent]:
        """A 2xx counts for an event only where the answer names its id."""
        try:
            results = json.loads(response.body)["results"]
            if not isinstance(results, list) or len(results) != len(events):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            error = f"the answer does not name the events sent: {response.describe()}"
            return [self._retry(event, error) for event in events]
        sent = []
        for event, result in zip(events, results, strict=True):
            if not isinstance(result, dict):
                sent.append(self._retry(event, f"the answer does not name event {event.event_id}"))
                continue
            status = result.get("status")
            status = status if isinstance(status, int) and not isinstance(status, bool) else 0
            error = f"HTTP {status}: {result.get('error', '')}".rstrip(": ")
            outcome = classify(status)
            if outcome is Outcome.DELIVERED:
                if result.get("eventId") == str(event.event_id):
                    sent.append(_Sent(event, outcome, ""))
                else:
                    sent.append(self._retry(event, f"the answer names {result.get('eventId')!r}"))
            elif outcome is Outcome.RETRY:
                sent.append(self._retry(event, error))
            else:
                sent.append(_Sent(event, outcome, error))
        return sent

    def _retry(self, event: outbox.OutboxEvent, error: str) -> _Sent:
        attempt = event.attempts + 1
        if self.max_attempts and attempt >= self.max_attempts:
            return _Sent(event, Outcome.PARK, f"gave up after {attempt} attempts: {error}")
        return _Sent(event, Outcome.RETRY, error)

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
