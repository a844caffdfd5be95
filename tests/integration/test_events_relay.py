"""The relay against real PostgreSQL and a scripted HTTP endpoint on 127.0.0.1.

The endpoint checks each request's signature as the function does and answers what a
test tells it to, so retries, parking and per-row order are tested without Node or
Pub/Sub (tests/integration/events/ has the end-to-end test with the real function).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgbulk import events
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.errors import EventsError
from pgbulk.events import Backoff, Relay, Secret, outbox
from pgbulk.load import load

SECRET = "relay-test-secret-7c1f"
FAST = Backoff(first=0.01, cap=0.05)
PGBULK = Path(sys.executable).with_name("pgbulk")

Answer = Callable[[dict[str, Any], int], tuple[int, str]]
#: Answers a whole request (its envelopes, its number from 0) before any event is
#: looked at; None lets the events be answered one by one.
Gate = Callable[[list[dict[str, Any]], int], tuple[int, str] | None]


def ok(envelope: dict[str, Any], attempt: int) -> tuple[int, str]:
    return 200, ""


class Endpoint:
    """A real HTTP server in a thread that speaks the function's batch protocol: a JSON
    array of envelopes in, ``{"results": [{"eventId", "status", ...}]}`` out.
    ``answer(envelope, attempt)`` decides each event's status; ``gate`` may answer a
    whole request instead (401, 413, ...)."""

    def __init__(self, answer: Answer = ok) -> None:
        self.answer = answer
        self.gate: Gate = lambda envelopes, n: None
        self.received: list[dict[str, Any]] = []  # every event of authenticated requests
        self.requests: list[int] = []  # events per request, in arrival order
        self.refused = 0  # requests answered by the gate
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the function serves

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                ts = self.headers.get("x-pgbulk-timestamp", "")
                expected = (
                    "sha256="
                    + hmac.new(
                        SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256
                    ).hexdigest()
                )
                if not hmac.compare_digest(self.headers.get("x-pgbulk-signature", ""), expected):
                    status, text = 401, '{"error":"unauthorized"}'
                else:
                    status, text = endpoint.handle(json.loads(body))
                payload = text.encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def handle(self, envelopes: list[dict[str, Any]]) -> tuple[int, str]:
        assert isinstance(envelopes, list)
        with self.lock:
            n = len(self.requests) + self.refused
        whole = self.gate(envelopes, n)
        if whole is not None:
            with self.lock:
                self.refused += 1
            return whole
        results = []
        for envelope in envelopes:
            with self.lock:
                attempt = sum(e["id"] == envelope["id"] for e in self.received)
                self.received.append(envelope)
            status, text = self.answer(envelope, attempt)
            result: dict[str, Any] = {"eventId": envelope["id"], "status": status}
            if status != 200:
                result["error"] = text
            results.append(result)
        with self.lock:
            self.requests.append(len(envelopes))
        return 200, json.dumps({"results": results})

    def ids(self) -> list[str]:
        with self.lock:
            return [e["id"] for e in self.received]


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    ep = Endpoint()
    ep.thread.start()
    try:
        yield ep
    finally:
        ep.server.shutdown()
        ep.server.server_close()


@pytest.fixture
def captured(db18_dsn: str) -> str:
    """A small loaded dataset with capture installed."""
    load(db18_dsn, users=20, seed=3, workers=1, spec=ContactsSpec(chunk_users=10))
    events.install(db18_dsn)
    return db18_dsn


def _change(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[arg-type]


def _outbox(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            "SELECT id, event_id::text, table_schema, table_name, row_id, op, old_row, new_row,"
            " state, attempts, last_error FROM pgbulk.outbox ORDER BY id"
        )
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur]


def _relay(dsn: str, url: str, **kw: Any) -> Relay:
    """A relay with fast retries, sending one request at a time and one event per
    request unless told otherwise, so that the endpoint sees the whole outbox in id
    order (the tests of batches say so)."""
    kw.setdefault("backoff", FAST)
    kw.setdefault("concurrency", 1)
    kw.setdefault("per_request", 1)
    return Relay(dsn, url, Secret(SECRET.encode()), **kw)


def test_the_relay_sends_every_event_once_in_order(captured: str, endpoint: Endpoint) -> None:
    name = 'quote " backslash \\ tab \t é 日本 \U0001f600'
    _change(
        captured,
        "UPDATE users SET name = name || ' (renamed)' WHERE name IN ('User 1', 'User 2')",
        "DELETE FROM phone_numbers WHERE user_id = (SELECT id FROM users WHERE name = 'User 3')",
    )
    with psycopg.connect(captured) as conn:
        conn.execute("UPDATE users SET name = %s WHERE name = 'User 4'", (name,))
    rows = _outbox(captured)

    report = _relay(captured, endpoint.url, batch_size=2).run(once=True)

    assert report.delivered == len(rows) and report.parked == 0 and report.failed_attempts == 0
    assert endpoint.ids() == [r["event_id"] for r in rows]
    for sent, row in zip(endpoint.received, rows, strict=True):
        assert sent["table"] == {"schema": "public", "name": row["table_name"]}
        assert sent["trigger"] == {"name": "pgbulk_capture"}
        assert sent["event"] == {
            "op": row["op"],
            "data": {"old": row["old_row"], "new": row["new_row"]},
        }
        assert sent["delivery_info"] == {"current_retry": 0, "max_retries": 0}
        assert sent["created_at"].endswith("Z")
    assert endpoint.received[-1]["event"]["data"]["new"]["name"] == name
    assert {r["state"] for r in _outbox(captured)} == {"delivered"}

    assert _relay(captured, endpoint.url).run(once=True).delivered == 0  # nothing twice
    assert len(endpoint.received) == len(rows)


def test_a_5xx_is_retried_and_nothing_overtakes_it(captured: str, endpoint: Endpoint) -> None:
    _change(
        captured, "UPDATE users SET name = name || '+' WHERE name IN ('User 1', 'User 2', 'User 3')"
    )
    _change(captured, "UPDATE users SET name = name || '+' WHERE name LIKE 'User 2%'")
    rows = _outbox(captured)
    third = rows[2]["event_id"]

    def flaky(envelope: dict[str, Any], attempt: int) -> tuple[int, str]:
        if envelope["id"] == third and attempt < 2:
            return 503, '{"error":"publish failed"}'
        return ok(envelope, attempt)

    endpoint.answer = flaky
    report = _relay(captured, endpoint.url).run(once=True)

    ids = [r["event_id"] for r in rows]
    assert endpoint.ids() == [*ids[:2], third, third, third, *ids[3:]]
    assert report.delivered == len(rows) and report.failed_attempts == 2
    assert [e["delivery_info"]["current_retry"] for e in endpoint.received[2:5]] == [0, 1, 2]
    after = {r["event_id"]: r for r in _outbox(captured)}
    assert after[third]["attempts"] == 3 and after[third]["last_error"] is None
    assert {r["state"] for r in after.values()} == {"delivered"}


@pytest.mark.parametrize("status", [408, 429])
def test_not_now_answers_are_retried(captured: str, endpoint: Endpoint, status: int) -> None:
    _change(captured, "UPDATE users SET name = 'x' WHERE name = 'User 1'")
    endpoint.answer = lambda e, attempt: (status, "slow down") if attempt == 0 else ok(e, attempt)
    report = _relay(captured, endpoint.url).run(once=True)
    assert (report.delivered, report.parked, len(endpoint.received)) == (1, 0, 2)


def test_a_4xx_parks_the_event_with_the_answer(captured: str, endpoint: Endpoint) -> None:
    _change(
        captured, "UPDATE users SET name = name || '!' WHERE name IN ('User 1', 'User 2', 'User 3')"
    )
    rows = _outbox(captured)
    bad = rows[1]["event_id"]

    def reject(envelope: dict[str, Any], attempt: int) -> tuple[int, str]:
        if envelope["id"] == bad:
            return 400, '{"error":"event.data.new.id must be a non-empty string or a number"}'
        return ok(envelope, attempt)

    endpoint.answer = reject
    report = _relay(captured, endpoint.url).run(once=True)

    assert endpoint.ids() == [r["event_id"] for r in rows]  # sent once, never retried
    assert (report.delivered, report.parked) == (2, 1)
    parked = next(r for r in _outbox(captured) if r["event_id"] == bad)
    assert parked["state"] == "parked" and parked["attempts"] == 1
    assert parked["last_error"] == (
        'HTTP 400: {"error":"event.data.new.id must be a non-empty string or a number"}'
    )
    st = events.status(captured)
    assert (st.delivered, st.parked, st.pending) == (2, 1, 0)
    assert st.parked_errors == [(parked["last_error"], 1)]

    assert events.requeue(captured) == 1  # after a fix, sent again
    endpoint.answer = ok
    assert _relay(captured, endpoint.url).run(once=True).delivered == 1
    assert endpoint.ids()[-1] == bad


def test_max_attempts_parks_an_event_that_keeps_failing(captured: str, endpoint: Endpoint) -> None:
    _change(captured, "UPDATE users SET name = name || '!' WHERE name IN ('User 1', 'User 2')")
    first, second = (r["event_id"] for r in _outbox(captured))
    endpoint.answer = lambda e, a: (503, "down") if e["id"] == first else ok(e, a)

    report = _relay(captured, endpoint.url, max_attempts=3).run(once=True)

    assert endpoint.ids() == [first, first, first, second]
    assert [e["delivery_info"] for e in endpoint.received[:3]] == [
        {"current_retry": n, "max_retries": 3} for n in range(3)
    ]
    assert (report.delivered, report.parked, report.failed_attempts) == (1, 1, 2)
    parked = _outbox(captured)[0]
    assert parked["state"] == "parked" and parked["attempts"] == 3
    assert parked["last_error"] == "gave up after 3 attempts: HTTP 503: down"


def test_no_answer_is_retried(captured: str, endpoint: Endpoint) -> None:
    _change(captured, "UPDATE users SET name = 'x' WHERE name = 'User 1'")
    endpoint.server.shutdown()
    endpoint.server.server_close()  # the port now refuses connections
    report = _relay(captured, endpoint.url, max_attempts=2).run(once=True)
    assert (report.delivered, report.parked, report.failed_attempts) == (0, 1, 1)
    error = _outbox(captured)[0]["last_error"]
    assert error.startswith("gave up after 2 attempts: ConnectionRefusedError")


def _run_in_thread(relay: Relay) -> threading.Thread:
    thread = threading.Thread(target=relay.run, kwargs={"once": True}, daemon=True)
    thread.start()
    return thread


def test_a_wrong_secret_blocks_the_relay_and_parks_nothing(
    captured: str, endpoint: Endpoint, caplog: pytest.LogCaptureFixture
) -> None:
    _change(captured, "UPDATE users SET name = 'x' WHERE name IN ('User 1', 'User 2')")
    before = _outbox(captured)
    relay = Relay(captured, endpoint.url, Secret(b"not-the-secret"), backoff=FAST, concurrency=1)
    thread = _run_in_thread(relay)
    try:
        _wait_for(lambda: relay.report.refused_requests >= 3, "three refused requests")
        with psycopg.connect(captured) as conn:
            blocked = outbox.blocked(conn)
        assert [(b.reason, b.last_error) for b in blocked] == [
            ("unauthorized", 'HTTP 401: {"error":"unauthorized"}')
        ]
    finally:
        relay.stop()
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert relay.report.parked == 0 and relay.report.delivered == 0
    after = _outbox(captured)
    # Untouched: still pending, no attempt counted, no error recorded against the events.
    assert [(r["state"], r["attempts"], r["last_error"]) for r in after] == [
        ("pending", 0, None) for _ in before
    ]
    assert any("DELIVERY BLOCKED since" in r.message for r in caplog.records)
    with psycopg.connect(captured) as conn:
        assert outbox.blocked(conn) == []  # a relay that stops takes its record with it
    report = _relay(captured, endpoint.url).run(once=True)  # the right secret
    assert report.delivered == 2 and endpoint.ids() == [r["event_id"] for r in before]


def test_401_then_ok_loses_nothing_and_keeps_each_rows_order(
    captured: str, endpoint: Endpoint
) -> None:
    for round_ in range(3):
        _change(captured, f"UPDATE users SET name = 'round {round_}'")
    rows = _outbox(captured)
    seen_blocked: list[str] = []
    calls = iter(range(1_000_000))  # next() is atomic under the GIL: one number per request

    def gate(envelopes: list[dict[str, Any]], n: int) -> tuple[int, str] | None:
        n = next(calls)
        if n < 4:  # IAM not granted yet, then fixed
            if n == 3:
                with psycopg.connect(captured) as conn:
                    seen_blocked.extend(b.reason for b in outbox.blocked(conn))
            return (403 if n % 2 else 401), "Forbidden"
        return None

    endpoint.gate = gate
    report = _relay(captured, endpoint.url, per_request=7, concurrency=3).run(once=True)

    assert seen_blocked == ["unauthorized"]
    assert (report.delivered, report.parked, report.refused_requests) == (len(rows), 0, 4)
    assert max(endpoint.requests) > 1  # batches
    by_row: dict[str, list[str]] = {}
    for r in rows:
        by_row.setdefault(r["row_id"], []).append(r["event_id"])
    received: dict[str, list[str]] = {}
    for e in endpoint.received:
        received.setdefault(e["event"]["data"]["new"]["id"], []).append(e["id"])
    assert received == by_row  # each once, in order
    assert {(r["state"], r["attempts"]) for r in _outbox(captured)} == {("delivered", 1)}
    with psycopg.connect(captured) as conn:
        assert outbox.blocked(conn) == []


def test_status_says_blocked_unauthorized(captured: str, endpoint: Endpoint) -> None:
    _change(captured, "UPDATE users SET name = 'x' WHERE name = 'User 1'")
    relay = Relay(captured, endpoint.url, Secret(b"wrong"), backoff=FAST, concurrency=1)
    thread = _run_in_thread(relay)
    try:
        _wait_for(lambda: relay.report.refused_requests >= 1, "a refused request")
        text = subprocess.run(
            [str(PGBULK), "events", "status", "--dsn", captured],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        as_json = json.loads(
            subprocess.run(
                [str(PGBULK), "events", "status", "--dsn", captured, "--json"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
    finally:
        relay.stop()
        thread.join(timeout=30)
    assert "blocked: unauthorized since " in text
    assert as_json["pending"] == 1 and as_json["parked"] == 0
    [blocked] = as_json["blocked"]
    assert blocked["reason"] == "unauthorized" and blocked["since"]
    assert blocked["last_error"] == 'HTTP 401: {"error":"unauthorized"}'


def test_only_invalid_event_answers_park(captured: str, endpoint: Endpoint) -> None:
    _change(captured, "UPDATE users SET name = name || '!' WHERE name IN ('User 1', 'User 2')")
    first, second = (r["event_id"] for r in _outbox(captured))
    endpoint.answer = lambda e, a: (
        (404 if a == 0 else 200, "not found") if e["id"] == first else ok(e, a)
    )
    report = _relay(captured, endpoint.url).run(once=True)
    assert (report.delivered, report.parked, report.failed_attempts) == (2, 0, 1)
    assert endpoint.ids() == [first, first, second]


@pytest.mark.parametrize("status", [413, 422])
def test_a_batch_refused_whole_is_sent_again_event_by_event(
    captured: str, endpoint: Endpoint, status: int
) -> None:
    _change(
        captured, "UPDATE users SET name = name || '?' WHERE name IN ('User 1', 'User 2', 'User 3')"
    )
    rows = _outbox(captured)
    bad = rows[1]["event_id"]
    endpoint.gate = lambda envelopes, n: (
        (status, '{"error":"too big"}') if any(e["id"] == bad for e in envelopes) else None
    )
    report = _relay(captured, endpoint.url, per_request=10).run(once=True)
    assert (report.delivered, report.parked) == (2, 1)
    parked = next(r for r in _outbox(captured) if r["event_id"] == bad)
    assert parked["state"] == "parked"
    assert parked["last_error"] == f'HTTP {status}: {{"error":"too big"}}'


def test_a_2xx_counts_only_when_it_names_the_event(captured: str, endpoint: Endpoint) -> None:
    _change(captured, "UPDATE users SET name = 'x' WHERE name = 'User 1'")
    wrong = json.dumps({"results": [{"eventId": str(uuid.uuid4()), "status": 200}]})
    answers = iter([(200, '{"ok":true}'), (200, wrong)])
    endpoint.gate = lambda envelopes, n: next(answers, None)
    report = _relay(captured, endpoint.url).run(once=True)
    assert (report.delivered, report.failed_attempts) == (1, 2)
    [row] = _outbox(captured)
    assert row["state"] == "delivered" and row["attempts"] == 3
    assert len(endpoint.received) == 1  # the third request, answered per event


def test_no_transaction_is_open_while_a_request_waits(captured: str, endpoint: Endpoint) -> None:
    _change(captured, "UPDATE users SET name = 'x' WHERE name IN ('User 1', 'User 2')")
    waiting, release = threading.Event(), threading.Event()

    def slow(envelope: dict[str, Any], attempt: int) -> tuple[int, str]:
        waiting.set()
        release.wait(timeout=30)
        return ok(envelope, attempt)

    endpoint.answer = slow
    relay = _relay(captured, endpoint.url, per_request=10)
    thread = _run_in_thread(relay)
    try:
        assert waiting.wait(timeout=30)
        with psycopg.connect(captured, autocommit=True) as conn:
            states = conn.execute(
                "SELECT state, backend_xid IS NULL, backend_xmin IS NULL FROM pg_stat_activity"
                " WHERE application_name = 'pgbulk relay'"
            ).fetchall()
            leased = conn.execute(
                "SELECT count(*) FROM pgbulk.outbox WHERE leased_until > now()"
            ).fetchone()
    finally:
        release.set()
        thread.join(timeout=30)
    assert states == [("idle", True, True)]  # not "idle in transaction", no snapshot held
    assert leased == (2,)
    assert relay.report.delivered == 2


def test_an_expired_lease_is_taken_over(captured: str, endpoint: Endpoint) -> None:
    _change(captured, "UPDATE users SET name = 'x' WHERE name IN ('User 1', 'User 2')")
    rows = _outbox(captured)
    with psycopg.connect(captured, autocommit=True) as conn:  # a relay that died mid-batch
        dead = outbox.claim(conn, 100, lease_seconds=0.5, relay_id=uuid.uuid4())
    assert len(dead) == 2
    assert _relay(captured, endpoint.url).run(once=True).delivered == 0  # leased: not taken
    time.sleep(0.6)
    assert _relay(captured, endpoint.url).run(once=True).delivered == 2
    assert endpoint.ids() == [r["event_id"] for r in rows]


def test_the_relay_purges_delivered_events_after_the_retention(
    captured: str, endpoint: Endpoint
) -> None:
    _change(captured, "UPDATE users SET name = 'x' WHERE name IN ('User 1', 'User 2', 'User 3')")
    rows = _outbox(captured)
    with psycopg.connect(captured) as conn:
        conn.execute(
            "UPDATE pgbulk.outbox SET state = 'delivered', delivered_at = now() - interval '8 days'"
            " WHERE id = %s",
            (rows[0]["id"],),
        )
        conn.execute(
            "UPDATE pgbulk.outbox SET state = 'parked', last_error = 'x' WHERE id = %s",
            (rows[1]["id"],),
        )
    report = _relay(captured, endpoint.url).run(once=True)
    assert (report.purged, report.delivered) == (1, 1)
    left = {r["event_id"]: r["state"] for r in _outbox(captured)}
    assert left == {rows[1]["event_id"]: "parked", rows[2]["event_id"]: "delivered"}
    # Kept with retention off, or when delivered recently.
    with psycopg.connect(captured) as conn:
        conn.execute("UPDATE pgbulk.outbox SET delivered_at = now() - interval '30 days'")
    assert _relay(captured, endpoint.url, retention=None).run(once=True).purged == 0
    assert _relay(captured, endpoint.url, retention="31 days").run(once=True).purged == 0
    assert len(_outbox(captured)) == 2


def test_batches_carry_several_events_and_keep_each_rows_order(
    captured: str, endpoint: Endpoint
) -> None:
    for round_ in range(5):
        _change(captured, f"UPDATE users SET name = 'round {round_}'")
    rows = _outbox(captured)
    victim = rows[47]["event_id"]
    endpoint.answer = lambda e, a: (503, "busy") if e["id"] == victim and a == 0 else ok(e, a)
    report = _relay(captured, endpoint.url, batch_size=60, per_request=8, concurrency=4).run(
        once=True
    )
    assert (report.delivered, report.parked) == (len(rows), 0)
    assert max(endpoint.requests) == 8 and report.requests < len(rows) / 2
    by_row: dict[str, list[str]] = {}
    for r in rows:
        by_row.setdefault(r["row_id"], []).append(r["event_id"])
    received: dict[str, list[str]] = {}
    for e in endpoint.received:
        got = received.setdefault(e["event"]["data"]["new"]["id"], [])
        if not got or got[-1] != e["id"]:  # the victim's retry repeats it in place
            got.append(e["id"])
    assert received == by_row


def test_an_outbox_without_leases_says_to_reinstall(captured: str, endpoint: Endpoint) -> None:
    with psycopg.connect(captured) as conn:
        conn.execute("ALTER TABLE pgbulk.outbox DROP COLUMN leased_by")
    with pytest.raises(EventsError, match="run `pgbulk events install` again"):
        _relay(captured, endpoint.url).run(once=True)
    events.install(captured)
    assert _relay(captured, endpoint.url).run(once=True).delivered == 0


def test_rows_in_parallel_keep_their_order_through_a_failure(
    captured: str, endpoint: Endpoint
) -> None:
    for round_ in range(4):  # 20 rows, 4 events each, interleaved in the outbox
        _change(captured, f"UPDATE users SET name = 'round {round_}'")
    rows = _outbox(captured)
    victim = rows[25]["event_id"]  # the second event of its row
    endpoint.answer = lambda e, a: (503, "busy") if e["id"] == victim and a == 0 else ok(e, a)

    report = _relay(captured, endpoint.url, batch_size=50, concurrency=4).run(once=True)

    assert (report.delivered, report.failed_attempts, report.parked) == (len(rows), 1, 0)
    expected: dict[str, list[str]] = {}
    for r in rows:
        expected.setdefault(r["row_id"], []).append(r["event_id"])
        if r["event_id"] == victim:
            expected[r["row_id"]].append(victim)  # sent again before the row's next event
    received: dict[str, list[str]] = {}
    for e in endpoint.received:
        received.setdefault(e["event"]["data"]["new"]["id"], []).append(e["id"])
    assert received == expected


def test_two_relays_keep_each_rows_order(captured: str, endpoint: Endpoint) -> None:
    # 20 rows, each changed 6 times, one transaction per round: the rows' events
    # interleave in the outbox, and the relays' batches of 7 split rows between them.
    for round_ in range(6):
        _change(
            captured,
            f"UPDATE users SET name = 'round {round_}'",
        )
    rows = _outbox(captured)
    by_row: dict[str, list[str]] = {}
    for r in rows:
        by_row.setdefault(r["row_id"], []).append(r["event_id"])

    both_sending = threading.Event()

    def answer(envelope: dict[str, Any], attempt: int) -> tuple[int, str]:
        # Hold the first request until a second one comes in: the other relay has
        # claimed a batch of its own while this one's batch is still locked.
        if len(endpoint.received) == 1:
            both_sending.wait(timeout=30)
        else:
            both_sending.set()
        return ok(envelope, attempt)

    endpoint.answer = answer
    relays = [_relay(captured, endpoint.url, batch_size=7, concurrency=3) for _ in range(2)]
    threads = [threading.Thread(target=r.run, kwargs={"once": True}) for r in relays]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)

    assert both_sending.is_set()
    assert sorted(endpoint.ids()) == sorted(r["event_id"] for r in rows)  # each exactly once
    received: dict[str, list[str]] = {}
    for e in endpoint.received:
        received.setdefault(e["event"]["data"]["new"]["id"], []).append(e["id"])
    assert received == by_row
    assert {r["state"] for r in _outbox(captured)} == {"delivered"}


def test_sigterm_stops_the_relay_daemon(captured: str, endpoint: Endpoint) -> None:
    env = {**os.environ, "PGBULK_EVENTS_SECRET": SECRET}
    # A long poll interval: only the trigger's NOTIFY can wake the idle relay in time.
    relay = subprocess.Popen(
        [str(PGBULK), "relay", "--dsn", captured, "--url", endpoint.url, "--poll-interval", "300"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: _relay_connected(captured), "the relay to connect")
        time.sleep(0.5)  # let it find the outbox empty and wait
        _change(captured, "UPDATE users SET name = 'woken' WHERE name = 'User 1'")
        _wait_for(lambda: events.status(captured).delivered == 1, "the event to be delivered")
        relay.send_signal(signal.SIGTERM)
        _, stderr = relay.communicate(timeout=30)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
    assert relay.returncode == 0
    assert "relay: 1 delivered, 0 parked" in stderr
    assert SECRET not in stderr


def _relay_connected(dsn: str) -> bool:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pgbulk relay'"
        ).fetchone()
    return bool(row and row[0] >= 2)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)
