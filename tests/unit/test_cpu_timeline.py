"""The benchmark's CPU timeline: the phases' use of the cores, from sampled CPU readings."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from benchmarks import target
from benchmarks.target import CpuTimeline


def _readings(monkeypatch: pytest.MonkeyPatch, server: list[float], client: list[float]) -> None:
    values: dict[int, Iterator[float]] = {1: iter(server), 2: iter(client)}
    monkeypatch.setattr(target, "server_cpu", lambda pid: next(values[pid]))


def _clock(monkeypatch: pytest.MonkeyPatch, times: list[float]) -> None:
    """Samples taken at these instants: two real readings taken back to back are a few
    microseconds apart, and interpolating within them loses digits to rounding."""
    ticks = iter(times)
    monkeypatch.setattr(target, "time", SimpleNamespace(perf_counter=lambda: next(ticks)))


def test_a_backend_between_its_exit_and_its_reaping_does_not_move_time_to_the_next_phase(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A session that ran 40 CPU seconds ends: one reading sees neither its live time
    # nor its reaped time (12 instead of 50), the next one has it again.
    _readings(monkeypatch, server=[0.0, 50.0, 12.0, 51.0], client=[0.0, 1.0, 0.5, 1.0])
    _clock(monkeypatch, [100.0, 101.0, 102.0, 103.0])
    timeline = CpuTimeline(server_pid=1, client_pid=2)
    for _ in range(4):
        timeline._sample()
    t = [s[0] for s in timeline.samples]
    assert [s[1] for s in timeline.samples] == [0.0, 50.0, 50.0, 51.0]
    assert [s[2] for s in timeline.samples] == [0.0, 1.0, 1.0, 1.0]
    server, client = timeline.cores(t[0], t[1])
    assert server == pytest.approx(50.0 / (t[1] - t[0]))
    assert client == pytest.approx(1.0 / (t[1] - t[0]))
    server, _ = timeline.cores(t[1], t[3])
    assert server == pytest.approx(1.0 / (t[3] - t[1]))


def _two_samples(monkeypatch: pytest.MonkeyPatch) -> CpuTimeline:
    """A timeline of two readings 2 s apart: the server used 10 CPU s, the client 4."""
    _readings(monkeypatch, server=[0.0, 10.0], client=[0.0, 4.0])
    _clock(monkeypatch, [100.0, 102.0])
    timeline = CpuTimeline(server_pid=1, client_pid=2)
    timeline._sample()
    timeline._sample()
    return timeline


def test_cores_between_samples_are_interpolated(monkeypatch: pytest.MonkeyPatch) -> None:
    timeline = _two_samples(monkeypatch)
    (t0, _, _), (t1, _, _) = timeline.samples
    mid = (t0 + t1) / 2
    server, client = timeline.cores(t0, mid)
    assert server * (mid - t0) == pytest.approx(5.0)
    assert client * (mid - t0) == pytest.approx(2.0)


def test_a_load_reports_phases_are_laid_back_to_back_ending_with_the_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    timeline = _two_samples(monkeypatch)
    (t0, _, _), (t1, _, _) = timeline.samples
    span = t1 - t0
    seconds = {"prepare": 0.25 * span, "load": 0.5 * span, "constraints": 0.25 * span}
    phases = timeline.load_phases(t1, {**seconds, "analyze": 0.0, "total": span})
    assert list(phases) == ["prepare", "load", "constraints", "analyze"]
    # CPU grows evenly between the two readings: every phase used the same cores.
    for phase, took in seconds.items():
        server, client = phases[phase]
        assert server * took == pytest.approx(10.0 * took / span), phase
        assert client * took == pytest.approx(4.0 * took / span), phase
    assert phases["analyze"] == (0.0, 0.0)
