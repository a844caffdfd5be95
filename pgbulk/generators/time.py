"""Dates, timestamps and times of day: uniform in a range, increasing with the row, or a
time of day. Instants are numpy ``datetime64[us]`` (``[D]`` for a date column), which
the type layer encodes; the range bounds are ISO 8601 text (or TOML dates)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from pgbulk.ddl import quote
from pgbulk.errors import ParameterError
from pgbulk.generators.base import Rule
from pgbulk.generators.numbers import Drawn

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column, Dataset, Table

INSTANTS = frozenset({"date", "timestamp", "timestamptz"})
_US = {"us": 1, "ms": 10**3, "s": 10**6, "min": 60 * 10**6, "h": 3600 * 10**6, "d": 86_400 * 10**6}
_DURATION_RE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)\s*")


def instant(name: str, value: object) -> np.datetime64:
    """ISO 8601 text, or a date/datetime (what TOML gives), as UTC microseconds."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        value = value.isoformat()
    elif isinstance(value, dt.date):
        value = value.isoformat()
    if not isinstance(value, str):
        raise ParameterError(name, value, "must be an ISO 8601 date or timestamp, e.g. 2024-01-01")
    text = value.strip().replace(" ", "T").removesuffix("Z").removesuffix("+00:00")
    try:
        return np.datetime64(text, "us")
    except ValueError:
        raise ParameterError(
            name, value, "must be an ISO 8601 date or timestamp in UTC, e.g. 2024-01-01T08:00:00"
        ) from None


def iso(name: str, value: object) -> str:
    """The canonical text of a bound (what a spec's definition records)."""
    return str(instant(name, value))


def duration_us(name: str, value: object) -> int:
    """``90`` (seconds), ``"1.5h"``, ``"30 min"``, ``"2d"`` -> microseconds."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return round(value * 10**6)
    m = _DURATION_RE.fullmatch(value) if isinstance(value, str) else None
    if m is None:
        raise ParameterError(
            name, value, "must be seconds or a duration like 500ms, 30s, 5min, 2h, 1d"
        )
    return round(float(m.group(1)) * _US[m.group(2)])


def _as_column_unit(values: np.ndarray, column: Column) -> Values:
    return values.astype("datetime64[D]") if column.type.name == "date" else values


@dataclass(frozen=True)
class UniformTime(Drawn):
    """Instants uniform in [``start``, ``end``): dates, timestamps, timestamptz (UTC)."""

    kind = "uniform_time"
    types = INSTANTS
    start: str = "2024-01-01"
    end: str = "2025-01-01"
    key: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", iso("uniform_time start", self.start))
        object.__setattr__(self, "end", iso("uniform_time end", self.end))
        if instant("end", self.end) <= instant("start", self.start):
            raise ParameterError(
                "uniform_time end", self.end, f"must be after start ({self.start})"
            )

    def generate(self, frame: Frame, column: Column) -> Values:
        start = instant("start", self.start)
        span = int((instant("end", self.end) - start).astype(np.int64))
        offsets = np.floor(self.uniforms(frame, column) * span).astype(np.int64)
        return _as_column_unit(start + offsets.astype("timedelta64[us]"), column)

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        c = quote(column.name)
        bound = "date" if column.type.name == "date" else "timestamp"
        return Rule(
            f"{c} >= {bound} '{self.start}' AND {c} < timestamp '{self.end}'",
            f"{column.name} is in [{self.start}, {self.end})",
        )


@dataclass(frozen=True)
class Series(Drawn):
    """A time series: ``start`` + row x ``step``, plus a jitter uniform in [0, ``jitter``)
    (seconds or ``500ms``, ``5min``, ``2h``, ``1d``). Increasing with the row when jitter
    <= step."""

    kind = "series"
    types = INSTANTS
    start: str = "2024-01-01"
    step: str | float = "1s"
    jitter: str | float = 0
    key: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", iso("series start", self.start))
        if duration_us("series step", self.step) <= 0:
            raise ParameterError("series step", self.step, "must be a positive duration")
        if duration_us("series jitter", self.jitter) < 0:
            raise ParameterError("series jitter", self.jitter, "must not be negative")

    def generate(self, frame: Frame, column: Column) -> Values:
        step, jitter = duration_us("step", self.step), duration_us("jitter", self.jitter)
        offsets = frame.slots().astype(np.int64) * np.int64(step)
        if jitter:
            offsets += np.floor(self.uniforms(frame, column) * jitter).astype(np.int64)
        return _as_column_unit(
            instant("start", self.start) + offsets.astype("timedelta64[us]"), column
        )

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        c = quote(column.name)
        return Rule(f"{c} >= timestamp '{self.start}'", f"{column.name} is from {self.start} on")


@dataclass(frozen=True)
class TimeOfDay(Drawn):
    """Times of day uniform in [``start``, ``end``) (``HH:MM[:SS]``), in whole ``resolution``
    seconds (default 1)."""

    kind = "time_of_day"
    types = frozenset({"time"})
    start: str = "00:00"
    end: str = "24:00"
    resolution: float = 1.0
    key: int | None = None

    @staticmethod
    def _us(name: str, text: object) -> int:
        m = (
            re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}(?:\.\d{1,6})?))?", text)
            if isinstance(text, str)
            else None
        )
        if m is None:
            raise ParameterError(name, text, "must be a time of day HH:MM or HH:MM:SS")
        us = (int(m.group(1)) * 3600 + int(m.group(2)) * 60) * 10**6 + round(
            float(m.group(3) or 0) * 10**6
        )
        if us > 86_400 * 10**6:
            raise ParameterError(name, text, "must be at most 24:00")
        return us

    def __post_init__(self) -> None:
        if self._us("time_of_day end", self.end) <= self._us("time_of_day start", self.start):
            raise ParameterError("time_of_day end", self.end, f"must be after start ({self.start})")
        if not 1e-6 <= self.resolution <= 3600:
            raise ParameterError(
                "time_of_day resolution", self.resolution, "must be in 1e-6..3600 seconds"
            )

    def generate(self, frame: Frame, column: Column) -> Values:
        lo, hi = self._us("start", self.start), self._us("end", self.end)
        res = max(1, round(self.resolution * 10**6))
        steps = (hi - lo + res - 1) // res
        picked = np.floor(self.uniforms(frame, column) * steps).astype(np.int64)
        return (lo + picked * res).astype("timedelta64[us]")
