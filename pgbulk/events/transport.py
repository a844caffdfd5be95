"""POST to the function over one kept-alive connection, and what each answer means.

Standard library only (``http.client``): one request at a time, because the events of
a row must reach the function one after the other anyway. A kept-alive connection
that the server closed while idle fails on its next use before any answer: that
request is sent once more on a fresh connection (a duplicate is harmless, its
event_id is the same).
"""

from __future__ import annotations

import enum
import http.client
import ipaddress
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit

from pgbulk.errors import EventsError

#: Error text kept from a response body: enough to say why, small in the outbox.
ERROR_TEXT_LIMIT = 500

#: Answers that say the event itself is invalid: sending it again would get the same
#: answer, so the event is parked (and the rest of its row goes on).
INVALID_EVENT = frozenset({400, 413, 422})

#: Answers that refuse the caller, not the event (a missing or wrong ID token or
#: secret): nothing is parked, the relay waits until the cause is fixed.
UNAUTHORIZED = frozenset({401, 403})


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PARK = "park"
    BLOCKED = "blocked"


def classify(status: int) -> Outcome:
    """2xx delivered; 400/413/422 park the event; 401/403 block the relay (the events
    stay pending, untouched); anything else (5xx, 408, 429, 404, a redirect, ...) is
    retried with backoff: it says nothing against the event."""
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in INVALID_EVENT:
        return Outcome.PARK
    if status in UNAUTHORIZED:
        return Outcome.BLOCKED
    return Outcome.RETRY


@dataclass(frozen=True)
class Response:
    status: int
    text: str  # the start of the body, on one line, for errors
    body: bytes = b""

    def describe(self) -> str:
        return f"HTTP {self.status}: {self.text}" if self.text else f"HTTP {self.status}"


class TransportError(Exception):
    """No answer: connection refused or reset, timeout, TLS failure. Retried."""


def display_url(url: str) -> str:
    """The URL for logs: no user info, no query (either could hold a credential)."""
    parts = urlsplit(url)
    host_and_port = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host_and_port}{parts.path or '/'}"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Endpoint:
    """The function's URL, with one persistent connection to it."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EventsError(f"--url must be an http:// or https:// URL, not {display_url(url)!r}")
        try:
            self.port = parts.port
        except ValueError:
            raise EventsError(f"--url has an invalid port: {display_url(url)!r}") from None
        if timeout <= 0:
            raise EventsError(f"the HTTP timeout must be positive, not {timeout}")
        self.url = url
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    @property
    def encrypted(self) -> bool:
        return self.scheme == "https"

    def post(self, body: bytes, headers: dict[str, str]) -> Response:
        """Send one request; the answer, or TransportError when there was none."""
        reused = self._conn is not None
        try:
            return self._post(body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as e:
            self.close()
            if not reused:
                raise TransportError(_reason(e)) from None
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise TransportError(_reason(e)) from None
        try:  # the idle connection had been closed by the server: once more, fresh
            return self._post(body, headers)
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise TransportError(_reason(e)) from None

    def _post(self, body: bytes, headers: dict[str, str]) -> Response:
        conn = self._connection()
        conn.request("POST", self.target, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()  # all of it, so the connection can serve the next request
        if response.will_close:
            self.close()
        text = " ".join(raw[:ERROR_TEXT_LIMIT].decode("utf-8", "replace").split())
        return Response(response.status, text, raw)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.encrypted:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def _reason(e: BaseException) -> str:
    if isinstance(e, TimeoutError):
        return "no answer within the timeout"
    if isinstance(e, http.client.RemoteDisconnected):
        return "the server closed the connection without answering"
    text = getattr(e, "strerror", None) or str(e) or type(e).__name__
    return f"{type(e).__name__}: {text}"
