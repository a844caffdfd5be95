"""Request signing and the shared secret. Pure except for reading the secret.

The function accepts a request if ``x-pgbulk-signature`` is
``sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` and ``x-pgbulk-timestamp``
(unix seconds) is within its window (functions/README.md). The timestamp is inside
the MAC, so a captured request cannot be replayed outside the window; every attempt
is signed afresh.

The secret comes from an environment variable or a file, never from a command-line
argument (argv is visible to every user of the machine), and it never appears in a
``repr``, a log line or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from pgbulk.errors import EventsError

TIMESTAMP_HEADER = "x-pgbulk-timestamp"
SIGNATURE_HEADER = "x-pgbulk-signature"
DEFAULT_SECRET_ENV = "PGBULK_EVENTS_SECRET"


class Secret:
    """The shared secret; prints as ``Secret(***)`` wherever it ends up."""

    __slots__ = ("_value",)

    def __init__(self, value: bytes) -> None:
        if not value:
            raise EventsError("the events secret is empty")
        self._value = value

    def __repr__(self) -> str:
        return "Secret(***)"

    __str__ = __repr__

    def sign(self, timestamp: str, body: bytes) -> str:
        mac = hmac.new(self._value, timestamp.encode("ascii") + b"." + body, hashlib.sha256)
        return "sha256=" + mac.hexdigest()


def signed_headers(secret: Secret, body: bytes, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {
        "content-type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: secret.sign(timestamp, body),
    }


def read_secret(
    *,
    env_name: str | None = None,
    file: str | Path | None = None,
    environ: Mapping[str, str] = os.environ,
) -> Secret:
    """The secret from ``file`` if given, else from the variable ``env_name``
    (default ``PGBULK_EVENTS_SECRET``). One trailing newline of a file is ignored."""
    if file is not None:
        path = Path(file)
        try:
            data = path.read_bytes()
        except OSError as e:
            raise EventsError(f"cannot read the secret file {path}: {e.strerror}") from None
        data = data.removesuffix(b"\n").removesuffix(b"\r")
        if not data:
            raise EventsError(f"the secret file {path} is empty")
        return Secret(data)
    name = env_name or DEFAULT_SECRET_ENV
    value = environ.get(name, "")
    if not value:
        raise EventsError(
            f"no events secret: set the environment variable {name} (or name another with "
            "--secret-env, or give --secret-file PATH)"
        )
    return Secret(value.encode("utf-8"))
