"""Structure of deploy/Dockerfile and deploy/docker-compose.yml (Docker itself
cannot run here: there is no engine)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.deploy

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"

BULK_SETTINGS = {
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "synchronous_commit": "off",
}
SECRET_WORDS = re.compile(r"(PASSWORD|SECRET|TOKEN|PRIVATE_KEY)", re.I)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    try:
        import yaml
    except ImportError:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("PyYAML is not installed (pip install -r deploy/requirements-test.txt)")
        pytest.skip("PyYAML is not installed")
    data = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _settings(command: list[str]) -> dict[str, str]:
    assert command[0] == "postgres"
    out: dict[str, str] = {}
    for flag, value in zip(command[1::2], command[2::2], strict=True):
        assert flag == "-c", command
        key, _, val = value.partition("=")
        out[key] = val
    return out


def test_postgres_15_pinned_and_tuned_for_bulk_loads(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert re.fullmatch(r"postgres:15\.\d+(-[a-z0-9]+)?", pg["image"]), pg["image"]
    settings = _settings(pg["command"])
    for key, value in BULK_SETTINGS.items():
        assert settings.get(key) == value, key
    for key in (
        "shared_buffers",
        "maintenance_work_mem",
        "max_wal_size",
        "max_parallel_maintenance_workers",
    ):
        assert key in settings, key
    assert settings.get("fsync", "on") == "on"
    assert settings.get("full_page_writes", "on") == "on"


def test_ports_bound_to_localhost_only(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port!r}"


def test_no_plaintext_password(compose: dict[str, Any]) -> None:
    for name, svc in compose["services"].items():
        env = svc.get("environment", {})
        assert isinstance(env, dict), f"{name}: use the mapping form of environment"
        for key, value in env.items():
            if SECRET_WORDS.search(key):
                assert key.endswith("_FILE") and str(value).startswith("/run/secrets/"), (
                    f"{name}: {key}"
                )
    secret = compose["secrets"]["postgres_password"]
    assert secret == {"file": "./secrets/postgres_password"}
    assert "postgres_password" in compose["services"]["postgres"]["secrets"]
    assert "postgres_password" in compose["services"]["pgbulk"]["secrets"]
    # The secret directory is never committed.
    assert "secrets/" in (DEPLOY / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_healthcheck_and_pgbulk_service(compose: dict[str, Any]) -> None:
    pg = compose["services"]["postgres"]
    assert "pg_isready" in " ".join(pg["healthcheck"]["test"])
    app = compose["services"]["pgbulk"]
    assert app["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert app["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert app["command"] == ["load", "--users", "${USERS:-1M}"]
    assert app["environment"]["PGHOST"] == "postgres"
    assert {"PGUSER", "PGDATABASE"} <= set(app["environment"])


# --- Dockerfile ----------------------------------------------------------------------


def _instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    text = re.sub(r"\\\n", " ", text)  # join continuation lines
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        op, _, args = line.partition(" ")
        out.append((op.upper(), args.strip()))
    return out


def test_dockerfile_multistage_pinned_base() -> None:
    froms = [args for op, args in _instructions() if op == "FROM"]
    assert len(froms) >= 2, "multi-stage build expected"
    for args in froms:
        image = args.split()[0]
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?", image), (
            image
        )


def test_dockerfile_builds_wheels_then_installs_them() -> None:
    runs = [args for op, args in _instructions() if op == "RUN"]
    assert any("pip wheel" in r for r in runs)
    assert any("pip install" in r and "--no-index" in r for r in runs)


def test_dockerfile_runs_as_non_root() -> None:
    instructions = _instructions()
    last_from = max(i for i, (op, _) in enumerate(instructions) if op == "FROM")
    users = [args for op, args in instructions[last_from:] if op == "USER"]
    assert users, "final stage must set USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    entry = [args for op, args in instructions if op == "ENTRYPOINT"]
    assert entry == ['["pgbulk"]']


def test_dockerfile_has_no_secrets() -> None:
    for op, args in _instructions():
        if op in {"ENV", "ARG"}:
            assert not SECRET_WORDS.search(args), f"{op} {args}"


def test_root_dockerignore_keeps_the_context_small() -> None:
    entries = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    for needed in (".git", ".venv", ".pgbulk", "**/node_modules"):
        assert needed in entries, needed


def test_requirements_pinned() -> None:
    for name in ("requirements-test.txt", "requirements-checkov.txt"):
        reqs = [
            line.strip()
            for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        assert reqs
        for req in reqs:
            assert re.fullmatch(r"[A-Za-z0-9_.\-]+==[0-9][0-9A-Za-z.]*", req), req
