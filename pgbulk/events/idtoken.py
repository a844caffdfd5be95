"""Google ID tokens for a function that only Cloud Run's IAM check lets through.

A deployed function has ``roles/run.invoker`` on its service: every request must carry
``Authorization: Bearer <ID token>`` whose audience is the function's URL. The token
comes from the metadata server (on Cloud Run, GCE, GKE: the relay's own service
account) or from Application Default Credentials (``GOOGLE_APPLICATION_CREDENTIALS``: a
service-account or impersonation key file), through google-auth. ID tokens live an
hour; google-auth counts one as expired 3 min 45 s before it is, so it is fetched anew
before any request could carry an expired one.

The HMAC signature stays: the token proves who calls, the signature what was sent.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

from pgbulk.errors import EventsError

#: Hosts whose services sit behind Google's IAM check: the relay sends ID tokens to
#: them unless told not to.
GOOGLE_HOST_SUFFIXES = (".run.app", ".cloudfunctions.net")


def is_google_url(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    return urlsplit(url).scheme == "https" and host.endswith(GOOGLE_HOST_SUFFIXES)


def audience_for(url: str) -> str:
    """The function's URL without query or fragment (and no lone trailing ``/``):
    what Cloud Run and Cloud Functions accept as an ID token's audience."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    path = "" if parts.path in ("", "/") else parts.path
    return f"{parts.scheme}://{host}{path}"


class TokenError(EventsError):
    """No ID token could be had (no metadata server, no credentials, a refused refresh)."""


class GoogleIdTokens:
    """``Authorization`` header values for one audience, refreshed before expiry.
    Thread-safe: the relay's senders share one instance."""

    def __init__(self, audience: str) -> None:
        self.audience = audience
        self._lock = threading.Lock()
        self._credentials: Any = None
        self._request: Any = None
        self.fetched = 0  # tokens obtained so far (for tests and logs)

    def __repr__(self) -> str:
        return f"GoogleIdTokens(audience={self.audience!r})"

    def authorization(self) -> str:
        from google.auth import exceptions
        from google.auth.transport.requests import Request
        from google.oauth2 import id_token

        with self._lock:
            try:
                if self._request is None:
                    self._request = Request()
                if self._credentials is None:
                    self._credentials = id_token.fetch_id_token_credentials(  # type: ignore[no-untyped-call]
                        self.audience, request=self._request
                    )
                if not self._credentials.valid:  # none yet, or expiring within 3 min 45 s
                    self._credentials.refresh(self._request)
                    self.fetched += 1
            except (exceptions.GoogleAuthError, ValueError) as e:
                raise TokenError(
                    f"no Google ID token for {self.audience}: {' '.join(str(e).split())[:300]} "
                    "(on Google Cloud the relay's service account supplies it; elsewhere set "
                    "GOOGLE_APPLICATION_CREDENTIALS, or pass --no-google-auth)"
                ) from None
            return f"Bearer {self._credentials.token}"
