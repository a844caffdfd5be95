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
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from dataclasses import dataclass
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
