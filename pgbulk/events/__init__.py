"""Change events: capture in the database, relay to the events function.

``capture`` installs the outbox and the row triggers; ``Relay`` delivers the outbox,
signed, to the function, which publishes to Pub/Sub. See docs/events.md.
"""

from pgbulk.events.capture import CaptureStatus, install, purge, requeue, status, uninstall
from pgbulk.events.relay import Backoff, Relay, RelayReport
from pgbulk.events.signing import Secret, read_secret

__all__ = [
    "Backoff",
    "CaptureStatus",
    "Relay",
    "RelayReport",
    "Secret",
    "install",
    "purge",
    "read_secret",
    "requeue",
    "status",
    "uninstall",
]
