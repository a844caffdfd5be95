"""The real parts of the event chain, started and stopped by the caller: the Google
Cloud SDK's Pub/Sub emulator (Java) and the events function (Node.js), both on
127.0.0.1. Used by the end-to-end tests here and by ``benchmarks/events_chain.py``.

The emulator is driven through its REST API with the standard library: create a topic
and an ordering-enabled subscription, pull and acknowledge. Each process runs in a
session of its own and is stopped as a whole group (the emulator's launcher script
starts a JVM; a stray JVM would outlive the tests).
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[3]
FUNCTIONS = REPO / "functions"
SERVE_JS = FUNCTIONS / "dist" / "src" / "serve.js"
EMULATOR_BIN = Path(
    os.environ.get(
        "PUBSUB_EMULATOR_BIN",
        "/usr/lib/google-cloud-sdk/platform/pubsub-emulator/bin/cloud-pubsub-emulator",
    )
)
PROJECT = "pgbulk-test"
LISTENING = "pgbulk-events listening on "


class ChainError(Exception):
    """A part of the chain did not start or answer as it should."""


def missing_part() -> str | None:
    """Why the chain cannot run here, in one line, or None."""
    if not EMULATOR_BIN.exists():
        return f"the Pub/Sub emulator is not installed at {EMULATOR_BIN} (gcloud components)"
    if shutil.which("java") is None:
        return "java is not on PATH (the Pub/Sub emulator needs Java 17)"
    if shutil.which("node") is None:
        return "node is not on PATH (the events function needs Node.js 20)"
    if not (FUNCTIONS / "node_modules").is_dir() and shutil.which("npm") is None:
        return "functions/node_modules is missing and npm is not on PATH"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _stop_group(proc: subprocess.Popen[bytes], grace: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        proc.wait()


def _tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no output)"


# ---------------------------------------------------------------------- the function


def build_function() -> None:
    """``npm ci`` (if needed) and ``npm run build`` when dist/ is missing or older than src/."""
    sources = [
        *FUNCTIONS.glob("src/*.ts"),
        FUNCTIONS / "tsconfig.json",
        FUNCTIONS / "package-lock.json",
    ]
    if SERVE_JS.exists() and SERVE_JS.stat().st_mtime >= max(p.stat().st_mtime for p in sources):
        return
    steps = [["npm", "run", "build"]]
    if not (FUNCTIONS / "node_modules").is_dir():
        steps.insert(0, ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"])
    for step in steps:
        done = subprocess.run(step, cwd=FUNCTIONS, capture_output=True, text=True, timeout=600)
        if done.returncode != 0:
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-5:])
            raise ChainError(f"`{' '.join(step)}` in functions/ failed: {tail}")


class EventsFunction:
    """``node functions/dist/src/serve.js`` on 127.0.0.1; restartable on the same port."""

    def __init__(self, *, emulator_host: str, topic: str, secret: str, log: Path) -> None:
        self.env = {
            **os.environ,
            "EVENTS_SECRET": secret,
            "EVENTS_TOPIC": topic,
            "PUBSUB_EMULATOR_HOST": emulator_host,
            "GOOGLE_CLOUD_PROJECT": PROJECT,
            "METADATA_SERVER_DETECTION": "none",
        }
        self.log = log
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60.0) -> None:
        offset = self.log.stat().st_size if self.log.exists() else 0
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [shutil.which("node") or "node", str(SERVE_JS), f"--port={self.port}"],
                cwd=FUNCTIONS,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log.open("rb") as f:
                f.seek(offset)
                for line in f.read().decode(errors="replace").splitlines():
                    if line.startswith(LISTENING):
                        self.port = int(line.rstrip("/").rsplit(":", 1)[1])
                        return
            if self.proc.poll() is not None:
                raise ChainError(
                    f"the function exited with {self.proc.returncode}: {_tail(self.log)}"
                )
            time.sleep(0.05)
        self.stop()
        raise ChainError(f"the function did not listen within {timeout:.0f} s: {_tail(self.log)}")

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)
            self.proc = None


# ---------------------------------------------------------------------- Pub/Sub


@dataclass(frozen=True)
class Message:
    message_id: str
    data: dict[str, Any]
    attributes: dict[str, str]
    ordering_key: str


class PubSubEmulator:
    """The SDK's emulator, and the few REST calls the tests need."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 90.0) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(EMULATOR_BIN), "--host=127.0.0.1", f"--port={self.port}"],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainError(
                    f"the emulator exited with {self.proc.returncode}: {_tail(self.log)}"
                )
            try:
                with urllib.request.urlopen(f"http://{self.host}/", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.25)
        self.stop()
        raise ChainError(f"the emulator did not answer within {timeout:.0f} s: {_tail(self.log)}")

    def stop(self) -> None:
        if self.proc is not None:
            _stop_group(self.proc)
            self.proc = None

    def _call(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(
            f"http://{self.host}/v1/projects/{PROJECT}/{path}",
            method=method,
            data=json.dumps(body).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as r:
            return json.loads(r.read() or b"{}")  # type: ignore[no-any-return]

    def create_topic(self, topic: str) -> None:
        self._call("PUT", f"topics/{topic}", {})

    def create_subscription(self, subscription: str, topic: str) -> None:
        self._call(
            "PUT",
            f"subscriptions/{subscription}",
            {
                "topic": f"projects/{PROJECT}/topics/{topic}",
                "enableMessageOrdering": True,
                "ackDeadlineSeconds": 60,
            },
        )

    def pull(self, subscription: str, max_messages: int = 1000) -> list[Message]:
        """What is available now, acknowledged, in delivery order."""
        got = self._call(
            "POST",
            f"subscriptions/{subscription}:pull",
            {"maxMessages": max_messages, "returnImmediately": True},
        ).get("receivedMessages", [])
        if got:
            self._call(
                "POST",
                f"subscriptions/{subscription}:acknowledge",
                {"ackIds": [m["ackId"] for m in got]},
            )
        return [
            Message(
                message_id=m["message"]["messageId"],
                data=json.loads(base64.b64decode(m["message"].get("data", ""))),
                attributes=m["message"].get("attributes", {}),
                ordering_key=m["message"].get("orderingKey", ""),
            )
            for m in got
        ]

    def pull_until(self, subscription: str, count: int, timeout: float = 60.0) -> list[Message]:
        """Pull until ``count`` messages arrived (then a little longer, to catch extras)."""
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            batch = self.pull(subscription)
            messages.extend(batch)
            if not batch:
                time.sleep(0.1)
        for _ in range(3):  # duplicates or strays would show up now
            messages.extend(self.pull(subscription))
            time.sleep(0.1)
        return messages


# ---------------------------------------------------------------------- Google ID tokens
#
# Cloud Run checks a caller's ID token before the function sees the request; the
# relay gets its token from the metadata server. Neither runs here, so both are
# stood in for on 127.0.0.1 with a test key pair made per run: the metadata server
# signs tokens as Google does (RS256, iss accounts.google.com, aud the URL asked
# for); the gate verifies signature, audience, issuer and expiry with google-auth's
# own verifier, as Cloud Run would, then forwards to the real function.

GOOGLE_ISSUER = "https://accounts.google.com"
METADATA_IDENTITY = "/computeMetadata/v1/instance/service-accounts/default/identity"
METADATA_ACCOUNT = "/computeMetadata/v1/instance/service-accounts/default/"
RELAY_ACCOUNT = "relay@pgbulk-test.iam.gserviceaccount.com"


class TestKeys:
    """An RSA key pair standing in for Google's token-signing key."""

    def __init__(self) -> None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.key_id = "pgbulk-test-key"
        self.private_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self.public_pem = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def sign(self, audience: str, lifetime: float) -> str:
        from google.auth import crypt, jwt

        now = int(time.time())
        signer = crypt.RSASigner.from_string(self.private_pem, self.key_id)
        payload = {
            "iss": GOOGLE_ISSUER,
            "aud": audience,
            "sub": RELAY_ACCOUNT,
            "email": RELAY_ACCOUNT,
            "iat": now,
            "exp": now + int(lifetime),
        }
        return jwt.encode(signer, payload).decode()  # type: ignore[no-untyped-call,no-any-return]


class _Server:
    """A ThreadingHTTPServer on 127.0.0.1 in a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeMetadataServer:
    """The GCE metadata server's identity endpoint (and its ping), on 127.0.0.1.
    Point google-auth at it with :meth:`environ` (GCE_METADATA_HOST / _IP)."""

    def __init__(self, keys: TestKeys, *, lifetime: float = 3600.0) -> None:
        self.keys = keys
        self.lifetime = lifetime
        self.issued: list[str] = []  # audiences of the tokens handed out
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.headers.get("Metadata-Flavor") != "Google":
                    self._send(403, b"missing Metadata-Flavor")
                    return
                url = urllib.parse.urlsplit(self.path)
                if url.path in ("", "/"):
                    self._send(200, b"ok")
                    return
                if url.path == METADATA_ACCOUNT:  # read when google-auth sets up
                    info = {"email": RELAY_ACCOUNT, "aliases": ["default"], "scopes": []}
                    self._send(200, json.dumps(info).encode(), "application/json")
                    return
                if url.path == METADATA_IDENTITY:
                    [audience] = urllib.parse.parse_qs(url.query)["audience"]
                    fake.issued.append(audience)
                    self._send(200, fake.keys.sign(audience, fake.lifetime).encode())
                    return
                self._send(404, b"not found")

            def _send(self, status: int, body: bytes, type_: str = "text/plain") -> None:
                self.send_response(status)
                self.send_header("Metadata-Flavor", "Google")
                self.send_header("content-type", type_)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(Handler)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    def environ(self) -> dict[str, str]:
        return {
            "GCE_METADATA_HOST": self.host,
            "GCE_METADATA_IP": self.host,
            "GCE_METADATA_TIMEOUT": "2",
        }

    def stop(self) -> None:
        self.server.stop()


class TokenGate:
    """Cloud Run's front door: a request needs a valid ID token for ``audience`` (401
    without one, 403 while ``refuse`` says so), then goes on, without the token, to the
    function."""

    def __init__(self, keys: TestKeys, upstream: EventsFunction) -> None:
        self.keys = keys
        self.upstream = upstream
        self.refuse: Callable[[int], int | None] = lambda n: None  # request number -> status
        self.requests = 0
        self.remaining: list[float] = []  # seconds each accepted token still had
        self.rejected: list[str] = []
        self.lock = threading.Lock()
        gate = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with gate.lock:
                    n = gate.requests
                    gate.requests += 1
                status = gate.check(self.headers.get("authorization", ""), n)
                if status is not None:
                    self._send(status, {"content-type": "text/plain"}, b"Unauthorized")
                    return
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("authorization",)
                }
                conn = http.client.HTTPConnection("127.0.0.1", gate.upstream.port, timeout=60)
                try:
                    conn.request("POST", self.path, body=body, headers=headers)
                    r = conn.getresponse()
                    payload = r.read()
                    self._send(r.status, {"content-type": r.getheader("content-type", "")}, payload)
                except OSError:
                    self._send(503, {"content-type": "text/plain"}, b"Service Unavailable")
                finally:
                    conn.close()

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}/"

    @property
    def audience(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    def check(self, authorization: str, n: int) -> int | None:
        from google.auth import exceptions, jwt

        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token:
            self.rejected.append("no token")
            return 401
        try:
            claims = jwt.decode(  # type: ignore[no-untyped-call]
                token,
                certs={self.keys.key_id: self.keys.public_pem.decode()},
                audience=self.audience,
                clock_skew_in_seconds=0,
            )
        except (ValueError, exceptions.GoogleAuthError) as e:
            self.rejected.append(str(e))
            return 401
        if claims.get("iss") != GOOGLE_ISSUER:
            self.rejected.append("issuer")
            return 401
        refused = self.refuse(n)
        if refused is not None:
            return refused
        with self.lock:
            self.remaining.append(claims["exp"] - time.time())
        return None

    def stop(self) -> None:
        self.server.stop()
