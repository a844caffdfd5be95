"""The relay's pure parts: signing, the secret, the envelope, answers, backoff, URLs."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from pgbulk.errors import EventsError, ParameterError
from pgbulk.events import Backoff, Relay, Secret, envelope, read_secret
from pgbulk.events.envelope import body
from pgbulk.events.idtoken import audience_for, is_google_url
from pgbulk.events.outbox import OutboxEvent
from pgbulk.events.signing import signed_headers
from pgbulk.events.transport import Endpoint, Outcome, classify, display_url, is_loopback

# ------------------------------------------------------------------ signing


def test_signature_matches_the_functions_known_value() -> None:
    # The vector in functions/README.md, which the function's own tests use.
    secret = Secret(b"unit-test-secret-0123456789")
    assert secret.sign("1700000000", b'{"a":1}') == (
        "sha256=9674a6605079dd624a9b39c6bc7c8da00d981fdbca5d18364977b93a5edcc47e"
    )


def test_signed_headers_carry_whole_seconds_and_sign_them() -> None:
    secret = Secret(b"unit-test-secret-0123456789")
    headers = signed_headers(secret, b'{"a":1}', 1700000000.987)
    assert headers == {
        "content-type": "application/json",
        "x-pgbulk-timestamp": "1700000000",
        "x-pgbulk-signature": secret.sign("1700000000", b'{"a":1}'),
    }


def test_the_secret_never_prints() -> None:
    secret = Secret(b"hunter2-hunter2")
    for text in (repr(secret), str(secret), f"{secret}", repr([secret])):
        assert "hunter2" not in text


def test_the_secret_comes_from_the_default_variable() -> None:
    secret = read_secret(environ={"PGBULK_EVENTS_SECRET": "s3cret"})
    assert secret.sign("1", b"x") == Secret(b"s3cret").sign("1", b"x")


def test_the_secret_comes_from_a_named_variable() -> None:
    secret = read_secret(env_name="MY_SECRET", environ={"MY_SECRET": "other"})
    assert secret.sign("1", b"x") == Secret(b"other").sign("1", b"x")


def test_a_missing_secret_says_where_to_put_it() -> None:
    with pytest.raises(EventsError, match="set the environment variable MY_SECRET"):
        read_secret(env_name="MY_SECRET", environ={"PGBULK_EVENTS_SECRET": "not this one"})
    with pytest.raises(EventsError, match="PGBULK_EVENTS_SECRET"):
        read_secret(environ={"PGBULK_EVENTS_SECRET": ""})


def test_a_secret_file_loses_one_trailing_newline_only(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_bytes(b" spaced secret \n")
    assert read_secret(file=path).sign("1", b"x") == Secret(b" spaced secret ").sign("1", b"x")
    path.write_bytes(b"crlf\r\n")
    assert read_secret(file=path).sign("1", b"x") == Secret(b"crlf").sign("1", b"x")


def test_bad_secret_files_are_refused(tmp_path: Path) -> None:
    with pytest.raises(EventsError, match="cannot read the secret file"):
        read_secret(file=tmp_path / "missing")
    (tmp_path / "empty").write_bytes(b"\n")
    with pytest.raises(EventsError, match="is empty"):
        read_secret(file=tmp_path / "empty")


# ------------------------------------------------------------------ envelope


def _event(**kw: object) -> OutboxEvent:
    fields: dict[str, object] = {
        "id": 7,
        "event_id": uuid.UUID("7f5b8a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"),
        "table_schema": "public",
        "table_name": "users",
        "row_id": "0b0c6f5e-6a36-4a55-9c0e-1f1e4f2a9d01",
        "op": "UPDATE",
        "old_row": '{"id": "0b0c6f5e-6a36-4a55-9c0e-1f1e4f2a9d01", "name": "User 1"}',
        "new_row": '{"id": "0b0c6f5e-6a36-4a55-9c0e-1f1e4f2a9d01", "name": "User one"}',
        "created_at": datetime(2024, 5, 1, 14, 34, 56, 123456, tzinfo=timezone(timedelta(hours=2))),
        "attempts": 2,
    }
    fields.update(kw)
    return OutboxEvent(**fields)  # type: ignore[arg-type]


def test_the_envelope_is_hasuras() -> None:
    assert json.loads(body(_event(), max_retries=5)) == {
        "id": "7f5b8a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
        "created_at": "2024-05-01T12:34:56.123456Z",
        "trigger": {"name": "pgbulk_capture"},
        "table": {"schema": "public", "name": "users"},
        "event": {
            "op": "UPDATE",
            "data": {
                "old": {"id": "0b0c6f5e-6a36-4a55-9c0e-1f1e4f2a9d01", "name": "User 1"},
                "new": {"id": "0b0c6f5e-6a36-4a55-9c0e-1f1e4f2a9d01", "name": "User one"},
            },
        },
        "delivery_info": {"current_retry": 2, "max_retries": 5},
    }


@pytest.mark.parametrize(
    ("op", "old", "new"), [("INSERT", None, '{"id": 1}'), ("DELETE", '{"id": 1}', None)]
)
def test_an_absent_row_is_null(op: str, old: str | None, new: str | None) -> None:
    data = json.loads(body(_event(op=op, old_row=old, new_row=new)))["event"]["data"]
    assert data == {
        "old": None if old is None else {"id": 1},
        "new": None if new is None else {"id": 1},
    }


def test_rows_are_sent_as_postgresql_wrote_them() -> None:
    row = '{"id": 1, "amount": 12345678901234567890.123456789012, "name": "é \\"q\\" 日本"}'
    sent = body(_event(op="INSERT", old_row=None, new_row=row))
    assert row.encode() in sent  # spliced, not re-encoded: every digit kept
    assert json.loads(sent)["event"]["data"]["new"]["name"] == 'é "q" 日本'


def test_text_fields_are_escaped() -> None:
    sent = json.loads(body(_event(table_schema='odd"schema', table_name="t\\n")))
    assert sent["table"] == {"schema": 'odd"schema', "name": "t\\n"}


# ------------------------------------------------------------------ answers and URLs


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, Outcome.DELIVERED),
        (204, Outcome.DELIVERED),
        (500, Outcome.RETRY),
        (502, Outcome.RETRY),
        (503, Outcome.RETRY),
        (408, Outcome.RETRY),
        (425, Outcome.RETRY),
        (429, Outcome.RETRY),
        (400, Outcome.PARK),
        (413, Outcome.PARK),
        (422, Outcome.PARK),
        (401, Outcome.BLOCKED),
        (403, Outcome.BLOCKED),
        (404, Outcome.RETRY),
        (405, Outcome.RETRY),
        (415, Outcome.RETRY),
        (301, Outcome.RETRY),
    ],
)
def test_answers_decide_the_events_fate(status: int, outcome: Outcome) -> None:
    assert classify(status) is outcome


def test_urls_are_logged_without_credentials() -> None:
    assert (
        display_url("https://user:pw@fn.example.com/events?key=abc")
        == "https://fn.example.com/events"
    )
    assert display_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/"
    assert display_url("http://[::1]:9000/x") == "http://[::1]:9000/x"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("fn.example.com", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    "url", ["ftp://example.com/", "example.com/events", "http:///nohost", "http://h:99999/"]
)
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(EventsError, match="--url"):
        Endpoint(url)


def test_the_target_keeps_path_and_query() -> None:
    assert Endpoint("https://fn.example.com/a/b?x=1").target == "/a/b?x=1"
    assert Endpoint("http://127.0.0.1:1").target == "/"


# ------------------------------------------------------------------ backoff and parameters


def test_backoff_doubles_up_to_the_cap_with_half_jitter() -> None:
    b = Backoff(first=0.5, cap=4.0)
    assert [b.delay(n, rand=lambda: 1.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert [b.delay(n, rand=lambda: 0.0) for n in range(1, 5)] == [0.25, 0.5, 1.0, 2.0]
    assert b.delay(10_000, rand=lambda: 1.0) == 4.0  # no overflow however long it fails


@pytest.mark.parametrize(
    ("kw", "name"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": 65}, "concurrency"),
        ({"max_attempts": -1}, "max_attempts"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"per_request": 0}, "per_request"),
        ({"per_request": 1001}, "per_request"),
        ({"lease_seconds": 10, "timeout": 30}, "lease_seconds"),
        ({"max_request_bytes": 100}, "max_request_bytes"),
    ],
)
def test_relay_parameters_are_checked(kw: dict[str, int], name: str) -> None:
    with pytest.raises(ParameterError, match=name):
        Relay("dbname=x", "http://127.0.0.1:1/", Secret(b"s"), **kw)  # type: ignore[arg-type]


# ------------------------------------------------------------------ batches and ID tokens


def test_a_batch_is_a_json_array_of_the_envelopes_in_order() -> None:
    one, two = envelope.body(_event(op="INSERT")), envelope.body(_event(op="DELETE"))
    assert json.loads(envelope.batch_body([one, two])) == [json.loads(one), json.loads(two)]


def test_requests_stay_under_the_size_and_count_limits() -> None:
    relay = Relay(
        "dbname=x", "http://127.0.0.1:1/", Secret(b"s"), per_request=3, max_request_bytes=2048
    )
    small = [_event(id=i) for i in range(7)]
    assert [len(c) for c in relay._requests(small)] == [3, 3, 1]
    big_row = '{"id": "1", "blob": "' + "x" * 1500 + '"}'
    mixed = [_event(id=1), _event(id=2, new_row=big_row), _event(id=3)]
    chunks = relay._requests(mixed)
    assert [[e.id for e, _ in c] for c in chunks] == [[1], [2], [3]]
    assert all(len(envelope.batch_body([b for _, b in c])) <= 2048 for c in chunks)
    huge = [_event(id=9, new_row='{"id": "9", "blob": "' + "y" * 5000 + '"}')]
    assert [len(c) for c in relay._requests(huge)] == [1]  # alone; the function answers 413


@pytest.mark.parametrize(
    ("url", "google"),
    [
        ("https://events-abc123-ew.a.run.app/", True),
        ("https://europe-west1-proj.cloudfunctions.net/pgbulk-events", True),
        ("http://events-abc123-ew.a.run.app/", False),
        ("https://fn.example.com/", False),
        ("http://127.0.0.1:8080/", False),
    ],
)
def test_google_urls_get_id_tokens_by_default(url: str, google: bool) -> None:
    assert is_google_url(url) is google


def test_the_audience_is_the_url_without_query() -> None:
    assert audience_for("https://x.a.run.app/") == "https://x.a.run.app"
    assert audience_for("https://x.a.run.app") == "https://x.a.run.app"
    assert (
        audience_for("https://r-p.cloudfunctions.net/fn?a=1") == "https://r-p.cloudfunctions.net/fn"
    )
