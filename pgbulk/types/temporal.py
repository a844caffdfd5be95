"""date, time, timestamp, timestamptz and interval: integers counted from PostgreSQL's epoch.

PostgreSQL counts from 2000-01-01 (``POSTGRES_EPOCH_JDATE``), Arrow and numpy from
1970-01-01. On the wire (``date_send``, ``time_send``, ``timestamp_send``,
``interval_send``): a date is int32 days, a time int64 µs since midnight, a timestamp
int64 µs (timestamptz: µs of UTC), an interval int64 µs + int32 days + int32 months.
Finer units are truncated to the µs (floor: the digits after the sixth are dropped).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from pgbulk.generate import Text
from pgbulk.types._wire import (
    Bools,
    Values,
    arrow_ints,
    big_endian,
    fixed,
    fixed_buffer,
    reject,
    wrong_input,
)
from pgbulk.types.pgtype import PgType

USECS_PER_DAY = 86_400_000_000
#: Days from 1970-01-01 to 2000-01-01 (POSTGRES_EPOCH_JDATE 2451545 - UNIX_EPOCH_JDATE 2440588).
EPOCH_DAYS = 10_957
# From PostgreSQL's datatype/timestamp.h, in PostgreSQL's epoch: the first valid day is
# julian day 0 (4714-11-24 BC), the end is exclusive (5874898-01-01 for dates,
# 294277-01-01 for timestamps).
DATE_MIN = -2_451_545
DATE_END = 2_147_483_494 - 2_451_545
TIMESTAMP_MIN = -211_813_488_000_000_000
TIMESTAMP_END = 9_223_371_331_200_000_000

_USECS = {"D": USECS_PER_DAY, "h": 3_600_000_000, "m": 60_000_000, "s": 1_000_000}
_USECS |= {"ms": 1_000, "us": 1, "W": 7 * USECS_PER_DAY}
_FINER = {"ns": 1_000, "ps": 1_000_000, "fs": 1_000_000_000, "as": 1_000_000_000_000}


def _ticks(values: Values, pgtype: PgType, *, kinds: str) -> tuple[npt.NDArray[np.int64], str]:
    """The int64 ticks behind Arrow temporal or numpy datetime64/timedelta64 values, and the unit."""
    if isinstance(values, pa.Array):
        t = values.type
        if pa.types.is_date32(t) and "M" in kinds:
            return arrow_ints(values, pa.int32()).astype(np.int64), "D"
        if pa.types.is_date64(t) and "M" in kinds:
            return arrow_ints(values, pa.int64()), "ms"
        if (pa.types.is_timestamp(t) and "M" in kinds) or (
            (pa.types.is_duration(t) or pa.types.is_time(t)) and "m" in kinds
        ):
            width = pa.int32() if pa.types.is_time32(t) else pa.int64()
            return arrow_ints(values, width).astype(np.int64), str(t.unit)
        raise wrong_input(pgtype, values, "an Arrow " + _EXPECT[kinds])
    if values.dtype.kind not in kinds:
        raise wrong_input(pgtype, values, "numpy " + _EXPECT[kinds])
    unit, count = np.datetime_data(values.dtype)
    if unit in ("Y", "M") and values.dtype.kind == "M":
        # Calendar units have no fixed length: numpy places them on their first day.
        values = values.astype(values.dtype.str[:3] + "[D]")
        unit, count = "D", 1
    if unit not in _USECS and unit not in _FINER:
        raise wrong_input(pgtype, values, "numpy " + _EXPECT[kinds] + " with a unit")
    ticks = values.view(np.int64)
    if count != 1:
        ticks = ticks * count
    return ticks, unit


_EXPECT = {"M": "datetime64 / date / timestamp", "m": "timedelta64 / time / duration"}


def _usecs(
    ticks: npt.NDArray[np.int64],
    unit: str,
    *,
    lo: int,
    end: int,
    nulls: Bools | None,
    why: str,
    shift_days: int = 0,
) -> npt.NDArray[np.int64]:
    """Ticks -> µs from an epoch ``shift_days`` after theirs, refusing what is outside
    [lo, end) µs before the multiplication could overflow. (PostgreSQL's last timestamp
    does not fit in int64 µs from 1970: the epoch moves first.)"""
    if unit == "W":
        ticks, unit = ticks * 7, "D"
    if unit in _FINER:
        usecs = ticks // _FINER[unit] - shift_days * USECS_PER_DAY
    else:
        factor = _USECS[unit]
        ticks = ticks - shift_days * (USECS_PER_DAY // factor)
        lo_t, end_t = -(-lo // factor), -(-end // factor)
        reject((ticks < lo_t) | (ticks >= end_t), nulls, lambda row: why)
        usecs = ticks * factor
    reject((usecs < lo) | (usecs >= end), nulls, lambda row: why)
    return usecs


def encode_date(pgtype: PgType, values: Values, nulls: Bools | None) -> Text:
    ticks, unit = _ticks(values, pgtype, kinds="M")
    why = "date out of range (PostgreSQL takes 4714-11-24 BC .. 5874897-12-31)"
    if unit == "D":
        days = ticks - EPOCH_DAYS
    else:
        usecs = _usecs(
            ticks, unit, lo=-(2**62), end=2**62, nulls=nulls, why=why, shift_days=EPOCH_DAYS
        )
        days = usecs // USECS_PER_DAY
    reject((days < DATE_MIN) | (days >= DATE_END), nulls, lambda row: why)
    return fixed(big_endian(days, ">i4"), nulls)


def encode_timestamp(pgtype: PgType, values: Values, nulls: Bools | None) -> Text:
    ticks, unit = _ticks(values, pgtype, kinds="M")
    why = "timestamp out of range (PostgreSQL takes 4714-11-24 BC .. 294276-12-31)"
    usecs = _usecs(
        ticks,
        unit,
        lo=TIMESTAMP_MIN,
        end=TIMESTAMP_END,
        nulls=nulls,
        why=why,
        shift_days=EPOCH_DAYS,
    )
    return fixed(big_endian(usecs, ">i8"), nulls)


def encode_time(pgtype: PgType, values: Values, nulls: Bools | None) -> Text:
    ticks, unit = _ticks(values, pgtype, kinds="m")
    why = "time of day out of range (00:00:00 .. 24:00:00)"
    usecs = _usecs(ticks, unit, lo=0, end=USECS_PER_DAY + 1, nulls=nulls, why=why)
    return fixed(big_endian(usecs, ">i8"), nulls)


_MONTH_DAY_NANO = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])


def encode_interval(pgtype: PgType, values: Values, nulls: Bools | None) -> Text:
    n = len(values)
    rows = np.zeros((n, 16), dtype=np.uint8)
    if isinstance(values, pa.Array) and pa.types.is_interval(values.type):
        parts = fixed_buffer(values, 16).copy().view(_MONTH_DAY_NANO).reshape(n)
        rows[:, :8] = big_endian(parts["nanos"] // 1_000, ">i8")
        rows[:, 8:12] = big_endian(parts["days"], ">i4")
        rows[:, 12:] = big_endian(parts["months"], ">i4")
    elif isinstance(values, np.ndarray) and values.dtype.kind == "m" and _calendar(values):
        unit, count = np.datetime_data(values.dtype)
        months = values.view(np.int64) * (count * (12 if unit == "Y" else 1))
        why = "interval out of range (int32 months)"
        reject((months < -(2**31)) | (months >= 2**31), nulls, lambda row: why)
        rows[:, 12:] = big_endian(months, ">i4")  # months stay months: '1 mon', not 30 days
    else:
        ticks, unit = _ticks(values, pgtype, kinds="m")
        why = "interval out of range (int64 microseconds)"
        usecs = _usecs(ticks, unit, lo=-(2**63), end=2**63 - 1, nulls=nulls, why=why)
        rows[:, :8] = big_endian(usecs, ">i8")
    return fixed(rows, nulls)


def _calendar(values: npt.NDArray[np.timedelta64]) -> bool:
    return np.datetime_data(values.dtype)[0] in ("Y", "M")
