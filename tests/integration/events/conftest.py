"""The real event chain for the end-to-end tests: the Pub/Sub emulator (one per
session) and the events function (one per test, on its own topic), both on 127.0.0.1
and always stopped here. Missing parts skip with one line, and fail under CI=true."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import skip_or_fail
from tests.integration.events.chain import (
    ChainError,
    EventsFunction,
    FakeMetadataServer,
    PubSubEmulator,
    TestKeys,
    TokenGate,
    build_function,
    missing_part,
)

SECRET = "e2e-events-secret-4b9d1f"


@dataclass
class Chain:
    pubsub: PubSubEmulator
    function: EventsFunction
    topic: str
    subscription: str
    secret: str
    function_log: Path


@pytest.fixture(scope="session")
def pubsub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PubSubEmulator]:
    reason = missing_part()
    if reason:
        skip_or_fail(reason)
    emulator = PubSubEmulator(tmp_path_factory.mktemp("pubsub") / "emulator.log")
    try:
        build_function()
        emulator.start()
    except ChainError as e:  # present but broken: loud, once
        emulator.stop()
        pytest.fail(str(e), pytrace=False)
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def chain(pubsub: PubSubEmulator, tmp_path: Path) -> Iterator[Chain]:
    """A fresh topic with an ordering-enabled subscription, and the function serving it."""
    topic = f"events-{uuid.uuid4().hex[:12]}"
    subscription = f"{topic}-sub"
    pubsub.create_topic(topic)
    pubsub.create_subscription(subscription, topic)
    log = tmp_path / "function.log"
    function = EventsFunction(emulator_host=pubsub.host, topic=topic, secret=SECRET, log=log)
    try:
        function.start()
    except ChainError as e:
        pytest.fail(str(e), pytrace=False)
    try:
        yield Chain(pubsub, function, topic, subscription, SECRET, log)
    finally:
        function.stop()


@dataclass
class Gated:
    """The chain behind Cloud Run's ID-token check, with a metadata server to get tokens."""

    chain: Chain
    keys: TestKeys
    metadata: FakeMetadataServer
    gate: TokenGate

    def relay_env(self) -> dict[str, str]:
        """For a ``pgbulk relay`` subprocess: the secret, and google-auth pointed at the
        fake metadata server (no key file: ADC falls through to the metadata server)."""
        env = {k: v for k, v in os.environ.items() if k != "GOOGLE_APPLICATION_CREDENTIALS"}
        env.pop("METADATA_SERVER_DETECTION", None)
        return {**env, **self.metadata.environ(), "PGBULK_EVENTS_SECRET": self.chain.secret}


@pytest.fixture(scope="session")
def test_keys() -> TestKeys:
    return TestKeys()


@pytest.fixture
def gated(chain: Chain, test_keys: TestKeys) -> Iterator[Gated]:
    metadata = FakeMetadataServer(test_keys)
    gate = TokenGate(test_keys, chain.function)
    try:
        yield Gated(chain, test_keys, metadata, gate)
    finally:
        gate.stop()
        metadata.stop()
