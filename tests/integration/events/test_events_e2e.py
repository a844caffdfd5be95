"""End to end with real parts only: PostgreSQL 18 with the capture triggers, the relay,
the events function (Node.js) and the Pub/Sub emulator (Java).

What is checked is what a consumer of the subscription sees: every committed change
exactly once (content, attributes, ordering key, the shared message schema), in commit
order per row, nothing from a rolled-back transaction; across an outage of the
function nothing is lost and a duplicate carries the same event_id; behind Cloud Run's
ID-token check (a stand-in with a test key pair) with tokens from a fake metadata
server, refreshed before they expire; a refused relay (401/403) parks nothing and
delivers in order once let through; a secret rotation loses nothing; big numbers keep
every digit.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import psycopg
import pytest

from pgbulk import events
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.events import Backoff, Relay, Secret
from pgbulk.load import load
from tests.integration.events.chain import FUNCTIONS, Message
from tests.integration.events.conftest import Chain, Gated

FAST = Backoff(first=0.05, cap=0.2)

pytestmark = pytest.mark.emulator

PGBULK = Path(sys.executable).with_name("pgbulk")
MESSAGE_SCHEMA = json.loads((FUNCTIONS / "schema" / "event-message.bq.json").read_text())
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


@pytest.fixture
def captured(db18_dsn: str) -> str:
    load(db18_dsn, users=20, seed=5, workers=1, spec=ContactsSpec(chunk_users=10))
    events.install(db18_dsn)
    return db18_dsn


# ---------------------------------------------------------------------- helpers


def _outbox(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn:
        cur = conn.execute(
            "SELECT id, event_id::text, table_schema, table_name, row_id, op, old_row, new_row,"
            " created_at, state FROM pgbulk.outbox ORDER BY id"
        )
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cur]


def _expected(row: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str], str]:
    """The message the function must publish for an outbox row: data, attributes, key."""
    old, new = row["old_row"], row["new_row"]
    if row["op"] == "INSERT":
        diff = {c: {"old": None, "new": v} for c, v in new.items()}
    elif row["op"] == "DELETE":
        diff = {c: {"old": v, "new": None} for c, v in old.items()}
    else:
        diff = {
            c: {"old": old.get(c), "new": new.get(c)}
            for c in set(old) | set(new)
            if old.get(c) != new.get(c)
        }
    table = f"{row['table_schema']}.{row['table_name']}"
    data = {
        "event_id": row["event_id"],
        "table": table,
        "operation": row["op"],
        "old": old,
        "new": new,
        "diff": diff,
        "created_at": row["created_at"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
    attributes = {
        "operation": row["op"],
        "table": table,
        "field_changes": ",".join(sorted(diff)),
        "event_id": row["event_id"],
    }
    return data, attributes, f"{table}:{row['row_id']}"


def _decoded(message: Message) -> dict[str, Any]:
    """The message data with its JSON-text columns parsed, after checking them against
    the schema file that the BigQuery table is made from."""
    data = message.data
    assert set(data) == {f["name"] for f in MESSAGE_SCHEMA}
    for field in MESSAGE_SCHEMA:
        value = data[field["name"]]
        if field["mode"] == "REQUIRED":
            assert value is not None, field["name"]
        if value is not None:
            assert isinstance(value, str), field["name"]  # STRING, and TIMESTAMP as text
        if field["type"] == "TIMESTAMP":
            assert TIMESTAMP.match(value), value
    parsed = {
        k: json.loads(data[k]) if data[k] is not None else None for k in ("old", "new", "diff")
    }
    return {**data, **parsed}


def _assert_received_as_committed(messages: list[Message], rows: list[dict[str, Any]]) -> None:
    """Every row's message arrived, with the right content; per row in commit order;
    redeliveries (if any) identical to the first."""
    by_event: dict[str, Message] = {}
    for m in messages:
        first = by_event.setdefault(m.attributes["event_id"], m)
        assert m.data == first.data and m.attributes == first.attributes  # a duplicate is the same
    assert set(by_event) == {r["event_id"] for r in rows}  # nothing lost, nothing extra
    for row in rows:
        data, attributes, key = _expected(row)
        m = by_event[row["event_id"]]
        assert _decoded(m) == data
        assert m.attributes == attributes
        assert m.ordering_key == key
    first_seen: dict[str, list[str]] = {}
    for m in messages:
        seen = first_seen.setdefault(m.ordering_key, [])
        if m.attributes["event_id"] not in seen:
            seen.append(m.attributes["event_id"])
    committed: dict[str, list[str]] = {}
    for row in rows:
        committed.setdefault(_expected(row)[2], []).append(row["event_id"])
    assert first_seen == committed


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.1)


def _run_script(dsn: str) -> dict[str, str]:
    """Inserts, updates and deletes in several transactions (one rolled back); returns
    the ordering key of each scripted row by a short name."""
    ada, bob = uuid.uuid4(), uuid.uuid4()
    with psycopg.connect(dsn) as conn:
        loaded = conn.execute("SELECT id FROM users WHERE name = 'User 5'").fetchone()[0]  # type: ignore[index]
        with conn.transaction():
            conn.execute("INSERT INTO users (id, name) VALUES (%s, 'Ada')", (ada,))
            email = conn.execute(
                "INSERT INTO emails (user_id, email) VALUES (%s, 'ada@example.com') RETURNING id",
                (ada,),
            ).fetchone()[0]  # type: ignore[index]
            phone = conn.execute(
                "INSERT INTO phone_numbers (user_id, phone_number)"
                " VALUES (%s, '0000000000000001') RETURNING id",
                (ada,),
            ).fetchone()[0]  # type: ignore[index]
        with conn.transaction():
            conn.execute("UPDATE users SET name = 'Ada Lovelace' WHERE id = %s", (ada,))
            conn.execute("UPDATE emails SET email = 'ada@lovelace.example' WHERE id = %s", (email,))
        with conn.transaction():
            conn.execute("INSERT INTO users (id, name) VALUES (%s, 'Bob')", (bob,))
            conn.execute("UPDATE users SET name = 'Countess of Lovelace' WHERE id = %s", (ada,))
            conn.execute("UPDATE users SET name = 'User five' WHERE id = %s", (loaded,))
        with conn.transaction(force_rollback=True):
            conn.execute("UPDATE users SET name = 'never committed' WHERE id = %s", (loaded,))
        with conn.transaction():
            conn.execute(
                "UPDATE phone_numbers SET phone_number = '0000000000000002' WHERE id = %s", (phone,)
            )
            conn.execute("DELETE FROM emails WHERE id = %s", (email,))
            conn.execute("UPDATE users SET name = name WHERE id = %s", (loaded,))  # changes nothing
        with conn.transaction():
            conn.execute("DELETE FROM users WHERE id = %s", (bob,))
        with conn.transaction():
            conn.execute("DELETE FROM users WHERE id = %s", (ada,))  # cascades to the phone
    return {
        "ada": f"public.users:{ada}",
        "bob": f"public.users:{bob}",
        "loaded": f"public.users:{loaded}",
        "email": f"public.emails:{email}",
        "phone": f"public.phone_numbers:{phone}",
    }


# ---------------------------------------------------------------------- tests


def test_changes_arrive_on_the_subscription_exactly_as_committed(
    captured: str, gated: Gated
) -> None:
    chain = gated.chain
    keys = _run_script(captured)
    rows = _outbox(captured)

    # Behind the ID-token check, with a token from the (fake) metadata server.
    done = subprocess.run(
        [
            str(PGBULK),
            "relay",
            "--dsn",
            captured,
            "--url",
            gated.gate.url,
            "--once",
            "--google-auth",
            "--per-request",
            "4",
        ],
        env=gated.relay_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"relay: {len(rows)} delivered, 0 parked" in done.stderr
    assert gated.gate.rejected == [] and gated.gate.requests >= len(rows) / 4
    assert gated.metadata.issued == [gated.gate.audience]  # one token served every request

    messages = chain.pubsub.pull_until(chain.subscription, len(rows))
    assert len(messages) == len(rows)  # a clean run sends each event once
    _assert_received_as_committed(messages, rows)

    ops: dict[str, list[str]] = {}
    for m in messages:
        ops.setdefault(m.ordering_key, []).append(m.attributes["operation"])
    assert ops == {
        keys["ada"]: ["INSERT", "UPDATE", "UPDATE", "DELETE"],
        keys["email"]: ["INSERT", "UPDATE", "DELETE"],
        keys["phone"]: ["INSERT", "UPDATE", "DELETE"],
        keys["bob"]: ["INSERT", "DELETE"],
        keys["loaded"]: ["UPDATE", "UPDATE"],  # not the rolled-back one
    }
    names = [_decoded(m)["new"]["name"] for m in messages if m.ordering_key == keys["loaded"]]
    assert names == ["User five", "User five"]
    unchanged = [m for m in messages if m.ordering_key == keys["loaded"]][1]
    assert unchanged.attributes["field_changes"] == "" and unchanged.data["diff"] == "{}"
    assert {r["state"] for r in _outbox(captured)} == {"delivered"}


def test_an_outage_of_the_function_loses_nothing(captured: str, chain: Chain) -> None:
    relay = Relay(
        captured,
        chain.function.url,
        Secret(chain.secret.encode()),
        batch_size=10,
        backoff=Backoff(first=0.2, cap=1.0),
    )
    thread = threading.Thread(target=relay.run)
    thread.start()
    try:
        with psycopg.connect(captured, autocommit=True) as conn:
            for round_ in range(3):  # 60 events, one transaction each round
                conn.execute("UPDATE users SET name = %s", (f"before {round_}",))
            _wait_for(lambda: events.status(captured).delivered > 0, "the first deliveries")
            chain.function.stop()  # mid-stream: some of the 60 are still pending
            for round_ in range(3):
                conn.execute("UPDATE users SET name = %s", (f"during {round_}",))
            _wait_for(
                lambda: bool(
                    conn.execute(
                        "SELECT 1 FROM pgbulk.outbox WHERE state = 'pending' AND attempts >= 2"
                    ).fetchone()
                ),
                "the relay to retry while the function is down",
            )
            chain.function.start()  # the same port
            _wait_for(lambda: events.status(captured).pending == 0, "the backlog to drain")
    finally:
        relay.stop()
        thread.join(timeout=60)
    assert not thread.is_alive()

    rows = _outbox(captured)
    assert len(rows) == 120 and {r["state"] for r in rows} == {"delivered"}
    messages = chain.pubsub.pull_until(chain.subscription, len(rows))
    _assert_received_as_committed(messages, rows)
    assert relay.report.failed_attempts >= 2


def test_a_wrong_secret_blocks_delivery_and_parks_nothing(captured: str, chain: Chain) -> None:
    with psycopg.connect(captured) as conn:
        conn.execute("UPDATE users SET name = 'x' WHERE name IN ('User 1', 'User 2', 'User 3')")

    relay = Relay(captured, chain.function.url, Secret(b"wrong-secret"), backoff=FAST)
    thread = threading.Thread(target=relay.run, kwargs={"once": True})
    thread.start()
    try:
        _wait_for(lambda: relay.report.refused_requests >= 2, "two refused requests")
        st = events.status(captured)
        assert (st.pending, st.parked) == (3, 0)
    finally:
        relay.stop()
        thread.join(timeout=60)
    assert relay.report.parked == 0
    assert {r["state"] for r in _outbox(captured)} == {"pending"}
    assert chain.pubsub.pull(chain.subscription) == []
    assert "wrong-secret" not in chain.function_log.read_text()

    # The secret fixed, the same events go out, in order.
    report = Relay(captured, chain.function.url, Secret(chain.secret.encode())).run(once=True)
    assert report.delivered == 3
    _assert_received_as_committed(chain.pubsub.pull_until(chain.subscription, 3), _outbox(captured))


def _daemon(gated: Gated, dsn: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            str(PGBULK),
            "relay",
            "--dsn",
            dsn,
            "--url",
            gated.gate.url,
            "--poll-interval",
            "0.2",
            *list(extra),
        ],
        env=gated.relay_env(),
        stderr=subprocess.PIPE,
        text=True,
    )


def _stop(relay: subprocess.Popen[str]) -> str:
    relay.send_signal(signal.SIGTERM)
    try:
        _, stderr = relay.communicate(timeout=60)
    finally:
        if relay.poll() is None:
            relay.kill()
            relay.wait()
    assert relay.returncode == 0, stderr
    return stderr


def test_refused_by_cloud_run_at_first_nothing_parked_nothing_lost_order_kept(
    captured: str, gated: Gated
) -> None:
    """The relay's invoker role not granted yet: Cloud Run answers 403 (then 401), and
    later lets it through. The events wait, pending, and then go out in order."""
    chain = gated.chain
    gated.gate.refuse = lambda n: (403 if n % 2 == 0 else 401) if n < 4 else None
    for round_ in range(3):
        with psycopg.connect(captured) as conn:
            conn.execute("UPDATE users SET name = %s", (f"round {round_}",))
    rows = _outbox(captured)

    relay = _daemon(gated, captured, "--google-auth", "--per-request", "7")
    try:
        _wait_for(lambda: events.status(captured).delivered == len(rows), "the backlog")
        assert events.status(captured).parked == 0
    finally:
        stderr = _stop(relay)
    assert gated.gate.requests > 4
    # Loud, one line per try (a try's concurrent requests refused together: one line).
    assert 1 <= stderr.count("DELIVERY BLOCKED since") <= 4
    assert "4 requests refused (unauthorized)" in stderr
    messages = chain.pubsub.pull_until(chain.subscription, len(rows))
    _assert_received_as_committed(messages, _outbox(captured))


def test_id_tokens_are_refreshed_before_they_expire(captured: str, gated: Gated) -> None:
    # google-auth takes a token for expired 3 min 45 s (225 s) before it is: these
    # are fetched anew after 3 s, while still 225 s from expiring.
    gated.metadata.lifetime = 228
    relay = _daemon(gated, captured, "--google-auth")
    try:
        for round_ in range(3):
            with psycopg.connect(captured) as conn:
                conn.execute(
                    "UPDATE users SET name = %s WHERE id = (SELECT id FROM users ORDER BY id LIMIT 1)",
                    (f"r{round_}",),
                )
            _wait_for(lambda: events.status(captured).pending == 0, "the change to be delivered")
            time.sleep(2)
    finally:
        stderr = _stop(relay)
    assert gated.gate.rejected == [], stderr
    assert (gated.gate.requests, len(gated.metadata.issued)) == (3, 2), gated.gate.remaining
    assert min(gated.gate.remaining) > 200  # never sent close to expiry


def test_a_bigint_beyond_2_53_and_a_long_numeric_arrive_exact(captured: str, chain: Chain) -> None:
    with psycopg.connect(captured) as conn:
        conn.execute("ALTER TABLE users ADD COLUMN big bigint, ADD COLUMN amount numeric")
        conn.execute(
            "UPDATE users SET big = 9007199254740993, amount = 123456789012345678901234567890.000001"
            " WHERE name = 'User 1'"
        )
    assert (
        Relay(captured, chain.function.url, Secret(chain.secret.encode())).run(once=True).delivered
        == 1
    )
    [message] = chain.pubsub.pull_until(chain.subscription, 1)
    assert '"big":9007199254740993' in message.data["new"]
    assert '"amount":123456789012345678901234567890.000001' in message.data["new"]
    assert '"big":{"old":null,"new":9007199254740993}' in message.data["diff"]


def test_rotating_the_secret_loses_no_event(captured: str, chain: Chain) -> None:
    old, new = chain.secret, "rotated-events-secret-2c8e"

    def change_and_relay(secret: str) -> int:
        with psycopg.connect(captured) as conn:
            conn.execute(
                "UPDATE users SET name = name || '.' WHERE id = (SELECT id FROM users ORDER BY id LIMIT 1)"
            )
        relay = Relay(captured, chain.function.url, Secret(secret.encode()), backoff=FAST)
        thread = threading.Thread(target=relay.run, kwargs={"once": True})
        thread.start()
        thread.join(timeout=10)
        relay.stop()
        thread.join(timeout=30)
        return relay.report.delivered

    # 1. The function learns the new secret, keeps the old one as previous.
    chain.function.stop()
    chain.function.env.update(EVENTS_SECRET=new, EVENTS_SECRET_PREVIOUS=old)
    chain.function.start()
    assert change_and_relay(old) == 1, _outbox(captured)  # relays not yet switched still deliver
    # 2. The relay signs with the new secret.
    assert change_and_relay(new) == 1, _outbox(captured)
    # 3. The previous secret is removed: the old one no longer opens the door.
    chain.function.stop()
    del chain.function.env["EVENTS_SECRET_PREVIOUS"]
    chain.function.start()
    assert change_and_relay(old) == 0
    assert events.status(captured).parked == 0  # refused, not parked
    assert change_and_relay(new) == 2  # the one refused, then the new one
    assert len(chain.pubsub.pull_until(chain.subscription, 4)) == 4


def test_an_oversized_event_is_parked_with_413_and_the_rest_goes_on(
    captured: str, chain: Chain
) -> None:
    with psycopg.connect(captured) as conn:
        conn.execute("UPDATE users SET name = repeat('x', 1100000) WHERE name = 'User 1'")
        conn.execute("UPDATE users SET name = 'small' WHERE name = 'User 2'")
    # max_attempts bounds the test: a transport error instead of the 413 would be
    # retried and end as "gave up after 3 attempts", not as the answer below.
    report = Relay(
        captured, chain.function.url, Secret(chain.secret.encode()), max_attempts=3, backoff=FAST
    ).run(once=True)
    assert (report.delivered, report.parked) == (1, 1)
    big = next(r for r in _outbox_errors(captured) if r[0] == "parked")
    assert big[1] == 'HTTP 413: {"error":"body larger than 1048576 bytes"}'
    [message] = chain.pubsub.pull_until(chain.subscription, 1)
    assert json.loads(message.data["new"])["name"] == "small"


def _outbox_errors(dsn: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(dsn) as conn:
        return [
            (state, error)
            for state, error in conn.execute(
                "SELECT state, last_error FROM pgbulk.outbox ORDER BY id"
            ).fetchall()
        ]
