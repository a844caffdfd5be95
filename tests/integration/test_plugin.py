"""The pytest plugin as a user meets it: a project of its own, run by pytest in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import psutil
import psycopg

from pgbulk import testing
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.datasets.contacts import dataset as contacts_dataset
from tests.integration.conftest import Server

# A project's settings as strict as ours: a plugin that registered an unknown marker or
# raised a warning would fail here.
PYPROJECT = """\
[tool.pytest.ini_options]
addopts = "--strict-markers"
filterwarnings = ["error"]
"""

DOCS = Path(__file__).parents[2] / "docs" / "testing.md"

# The user's tests are the complete example of docs/testing.md, as it is written there,
# plus one that checks the fixture used the server it was given.
SERVER_TEST = """\
import os


def test_the_server_is_the_one_given(pgbulk_postgres):
    assert pgbulk_postgres.dsn == os.environ["PGBULK_TEST_DSN"]
    assert pgbulk_postgres.embedded is None
"""


def _docs_example() -> str:
    text = DOCS.read_text()
    start = text.index("```python\n", text.index("## A complete example")) + len("```python\n")
    return text[start : text.index("```", start)]


def _project(root: Path, tests: str, **more_tests: str) -> Path:
    root.mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / "test_with_pgbulk.py").write_text(textwrap.dedent(tests))
    for name, text in more_tests.items():
        (root / f"{name}.py").write_text(text)
    return root


def _pytest(project: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PYTEST_"))}
    clean.pop("DATABASE_URL", None)
    # An explicit --basetemp: a session without one makes /tmp/pytest-of-<user> private
    # again, which the servers of the session running this test (as root) need to reach.
    basetemp = project.parent / "basetemp"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--basetemp={basetemp}",
            *args,
        ],
        cwd=project,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def _clones(admin_dsn: str) -> list[str]:
    with psycopg.connect(admin_dsn) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)",
            (testing.CLONE_PREFIX,),
        )
        return [r[0] for r in rows]


def _oid(admin_dsn: str, name: str) -> int | None:
    with psycopg.connect(admin_dsn) as conn:
        row = conn.execute(
            "SELECT oid::int FROM pg_database WHERE datname = %s", (name,)
        ).fetchone()
    return None if row is None else int(row[0])


def test_a_user_suite_passes_with_p_and_with_the_entry_point(pg18: Server, tmp_path: Path) -> None:
    project = _project(tmp_path / "project", _docs_example(), test_server=SERVER_TEST)
    env = {"PGBULK_TEST_DSN": pg18.dsn}
    template = testing.template_name(contacts_dataset(ContactsSpec(chunk_users=100)), 7, 300)

    # As without the entry point: nothing auto-loads, -p names the module.
    explicit = _pytest(
        project, "-p", "pgbulk.pytest_plugin", env={**env, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    )
    assert explicit.returncode == 0, explicit.stdout + explicit.stderr
    assert "3 passed" in explicit.stdout
    built = _oid(pg18.dsn, template)
    assert built is not None

    # As installed: the pytest11 entry point loads the plugin.
    installed = _pytest(project, env=env)
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "3 passed" in installed.stdout

    assert _oid(pg18.dsn, template) == built  # the second session cloned the cached template
    assert _clones(pg18.dsn) == []  # every clone was dropped after its test


def test_without_a_dsn_the_plugin_starts_its_own_server_and_stops_it(tmp_path: Path) -> None:
    record = tmp_path / "server.json"
    project = _project(
        tmp_path / "project",
        """\
        import json, os

        import psycopg


        def test_embedded(pgbulk_postgres, pgbulk_database):
            status = pgbulk_postgres.embedded.status()
            with open(os.environ["RECORD"], "w") as f:
                json.dump({"pid": status.pid, "data_dir": str(status.data_dir)}, f)
            with psycopg.connect(pgbulk_database(users=50)) as conn:
                assert conn.execute("SELECT count(*) FROM users").fetchone()[0] == 50
        """,
    )
    done = _pytest(project, env={"RECORD": str(record)})
    assert done.returncode == 0, done.stdout + done.stderr
    server = json.loads(record.read_text())
    assert server["pid"] is not None
    # pg_ctl stop returns once the pid file is gone; the postmaster exits a moment later.
    with contextlib.suppress(psutil.NoSuchProcess):
        psutil.Process(server["pid"]).wait(timeout=30)
    assert not Path(server["data_dir"]).exists()


def test_the_plugin_costs_nothing_when_its_fixtures_are_not_used(tmp_path: Path) -> None:
    project = _project(
        tmp_path / "project",
        """\
        import sys


        def test_nothing_of_pgbulk_ran(request):
            # Registered through the entry point, and nothing heavy imported.
            assert request.config.pluginmanager.has_plugin("pgbulk.pytest_plugin")
            for heavy in ("numpy", "pyarrow", "psycopg", "pgbulk.testing", "pgbulk.server"):
                assert heavy not in sys.modules, heavy
        """,
    )
    done = _pytest(project, env={})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
