"""The first-touch probe: what it times, what it leaves behind, what it prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import first_touch


def test_a_probe_times_both_passes_of_memory_and_of_a_file_and_leaves_no_file(
    tmp_path: Path,
) -> None:
    probes = first_touch.run(mib=2, probes=2, pause=0.0, directory=tmp_path)
    assert [p.mib for p in probes] == [2, 2]
    for p in probes:
        assert min(p.anon_first_s, p.anon_again_s, p.file_first_s, p.file_again_s) > 0
        assert p.per_gib(p.file_first_s) == pytest.approx(p.file_first_s * 512)
    assert list(tmp_path.iterdir()) == []  # the probe's file is gone


def test_main_prints_seconds_per_gib_or_the_probes_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--mib", "1", "--probes", "2", "--pause", "0", "--dir", str(tmp_path)]
    assert first_touch.main(args) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("seconds per GiB (1 MiB per probe")
    assert [line.split()[0] for line in lines[2:]] == ["1", "2"]
    assert all(len(line.split()) == 5 for line in lines[2:])
    assert first_touch.main([*args, "--json"]) == 0
    probes = json.loads(capsys.readouterr().out)
    assert [p["mib"] for p in probes] == [1, 1]


@pytest.mark.parametrize(
    "args", [["--mib", "0"], ["--probes", "0"], ["--pause", "-1"], ["--dir", "/no/such/dir"]]
)
def test_main_refuses_a_probe_it_cannot_run(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        first_touch.main(args)
    assert exit_info.value.code == 2
    assert "error:" in capsys.readouterr().err
