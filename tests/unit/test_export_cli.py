"""``pgbulk export``: options reach the library, errors are one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

import pgbulk
from pgbulk.cli import main
from pgbulk.export import MANIFEST


def _run(argv: list[str]) -> int:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    return int(exited.value.code or 0)


def test_export_writes_the_dataset_of_its_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = ["export", "--format", "parquet", "--out", str(out), "--users", "1.5k"]
    argv += ["--seed", "3", "--chunk-users", "1k", "--uuid", "v7", "--workers", "1", "--json"]
    assert _run(argv) == 0
    report = json.loads(capsys.readouterr().out)
    ds = pgbulk.contacts(1_500, seed=3, chunk_users=1_000, uuid_version=7)
    assert report["rows"] == {t: sum(c.rows(t) for c in ds) for t in ds.dataset.table_names}
    assert report["dataset"]["uuid_version"] == 7 and report["chunks"] == 2
    first_user = pq.read_table(out / "users" / "part-00000.parquet").column("id")[0].as_py()
    assert first_user[14] == "7"  # the version digit of a UUIDv7's text
    assert json.loads((out / MANIFEST).read_text())["scale"] == 1_500


def test_a_non_empty_out_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "keep.txt").write_text("x")
    assert _run(["export", "--out", str(tmp_path), "--users", "10", "-q"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not empty" in err and "--overwrite" in err
    assert (tmp_path / "keep.txt").read_text() == "x"
