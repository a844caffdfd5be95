"""date, time, timestamp(tz), interval: counts from 2000-01-01 (PostgreSQL's epoch), in µs."""

from __future__ import annotations

import datetime as dt
import struct

import numpy as np
import pyarrow as pa
import pytest
from psycopg.types.datetime import DateBinaryDumper, DatetimeBinaryDumper, TimeBinaryDumper

from pgbulk.errors import ValueRejected
from pgbulk.types import encode
from tests.unit.types.fields import fields


def i4(v: int) -> bytes:
    return struct.pack(">i", v)


def i8(v: int) -> bytes:
    return struct.pack(">q", v)


def test_date_is_days_since_2000() -> None:
    days = np.array(["2000-01-01", "2000-01-02", "1999-12-31", "1970-01-01"], "datetime64[D]")
    assert fields(encode("date", days)) == [i4(0), i4(1), i4(-1), i4(-10957)]
    # 4714-11-24 BC (astronomical year -4713) is julian day 0: 2451545 days before 2000
    assert fields(encode("date", np.array(["-4713-11-24"], "datetime64[D]"))) == [i4(-2451545)]


def test_date_from_arrow_and_coarser_or_finer_units() -> None:
    assert fields(encode("date", pa.array([dt.date(2000, 1, 3), None], pa.date32()))) == [
        i4(2),
        None,
    ]
    assert fields(encode("date", pa.array([86_400_000 * 10958 + 5], pa.date64()))) == [i4(1)]
    assert fields(encode("date", np.array(["2000-02"], "datetime64[M]"))) == [i4(31)]
    # a time of day before 1970 stays on its own day: floor, not truncation toward 0
    assert fields(encode("date", np.array(["1969-12-31T23:00"], "datetime64[m]"))) == [i4(-10958)]


def test_date_matches_psycopg_on_random_days() -> None:
    rng = np.random.default_rng(2)
    days = rng.integers(-700_000, 2_900_000, 500)  # years 3 .. 9900, psycopg's range
    want = [
        bytes(DateBinaryDumper(dt.date).dump(dt.date(1970, 1, 1) + dt.timedelta(days=int(d))))
        for d in days
    ]
    assert fields(encode("date", days.astype("datetime64[D]"))) == want


@pytest.mark.parametrize("day", ["-4713-11-23", "5874898-01-01"])
def test_dates_outside_postgresql_are_rejected(day: str) -> None:
    with pytest.raises(ValueRejected, match="date out of range") as e:
        encode("date", np.array(["2000-01-01", day], "datetime64[D]"))
    assert e.value.row == 1


def test_timestamp_is_microseconds_since_2000_in_every_unit() -> None:
    want = [i8(2_000_000), i8(-946_684_800_000_000)]
    for unit, scale in [("s", 1), ("ms", 10**3), ("us", 10**6), ("ns", 10**9)]:
        ticks = [(946_684_800 + 2) * scale, 0]
        assert fields(encode("timestamp", pa.array(ticks, pa.timestamp(unit)))) == want
        assert fields(encode("timestamp", np.array(ticks, f"datetime64[{unit}]"))) == want


def test_nanoseconds_are_truncated_to_the_microsecond_below() -> None:
    ns = pa.array([946_684_800_000_001_999, -1], pa.timestamp("ns"))
    assert fields(encode("timestamp", ns)) == [i8(1), i8(-946_684_800_000_000 - 1)]


def test_timestamptz_is_utc_whatever_the_arrow_zone() -> None:
    paris = pa.array([946_684_800], pa.timestamp("s", tz="Europe/Paris"))
    assert fields(encode("timestamptz", paris)) == [i8(0)]


def test_timestamps_match_psycopg_on_random_instants() -> None:
    rng = np.random.default_rng(3)
    us = rng.integers(-60_000_000_000_000_000, 250_000_000_000_000_000, 300)
    want = [
        bytes(
            DatetimeBinaryDumper(dt.datetime).dump(
                dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=int(v))
            )
        )
        for v in us
    ]
    assert fields(encode("timestamptz", us.astype("datetime64[us]"))) == want


@pytest.mark.parametrize(
    ("values", "row"),
    [
        (np.array(["2000-01-01", "294277-01-01"], "datetime64[s]"), 1),
        (np.array(["-4713-11-23T23:59:59"], "datetime64[s]"), 0),
        (pa.array([0, 2**62], pa.timestamp("s")), 1),
        (np.array([0, 300_000], "datetime64[Y]"), 1),
    ],
)
def test_timestamps_outside_postgresql_are_rejected(values: object, row: int) -> None:
    with pytest.raises(ValueRejected, match="timestamp out of range") as e:
        encode("timestamp", values)
    assert e.value.row == row


def test_postgresqls_last_timestamp_is_accepted() -> None:
    last = np.array(["294276-12-31T23:59:59"], "datetime64[s]")
    assert fields(encode("timestamp", last)) == [i8(9_223_371_331_199_000_000)]


def test_time_is_microseconds_since_midnight() -> None:
    t = pa.array([0, 45_296_789_012, 86_400_000_000], pa.time64("us"))
    assert fields(encode("time", t)) == [i8(0), i8(45_296_789_012), i8(86_400_000_000)]
    assert fields(encode("time", pa.array([1], pa.time32("ms")))) == [i8(1000)]
    assert fields(encode("time", np.array([1999], "timedelta64[ns]"))) == [i8(1)]
    assert fields(encode("time", t.slice(1, 1))) == [
        bytes(TimeBinaryDumper(dt.time).dump(dt.time(12, 34, 56, 789012)))
    ]
    with pytest.raises(ValueRejected, match="time of day"):
        encode("time", pa.array([86_400_000_001], pa.time64("us")))
    with pytest.raises(ValueRejected, match="time of day"):
        encode("time", np.array([-1], "timedelta64[s]"))


def test_interval_is_microseconds_days_months() -> None:
    mdn = pa.array([(1, 2, 3_000), (-14, -3, -1), None], pa.month_day_nano_interval())
    assert fields(encode("interval", mdn)) == [
        i8(3) + i4(2) + i4(1),
        i8(-1) + i4(-3) + i4(-14),  # -1 ns floors to -1 µs
        None,
    ]
    # an exact duration stays exact: all of it in µs, none in days
    assert fields(encode("interval", pa.array([86_400], pa.duration("s")))) == [
        i8(86_400_000_000) + i4(0) + i4(0)
    ]
    assert fields(encode("interval", np.array([2, "NaT"], "timedelta64[W]"))) == [
        i8(14 * 86_400_000_000) + bytes(8),
        None,
    ]


def test_a_datetime64_without_unit_is_a_parameter_error() -> None:
    from pgbulk.errors import ParameterError

    with pytest.raises(ParameterError, match="with a unit"):
        encode("timestamp", np.array(["NaT"], "datetime64"))


def test_numpy_months_and_years_are_the_intervals_months() -> None:
    assert fields(encode("interval", np.array([1, -2, "NaT"], "timedelta64[M]"))) == [
        bytes(8) + i4(0) + i4(1),
        bytes(8) + i4(0) + i4(-2),
        None,
    ]
    assert fields(encode("interval", np.array([2], "timedelta64[Y]"))) == [
        bytes(8) + i4(0) + i4(24)
    ]
    with pytest.raises(ValueRejected, match="int32 months"):
        encode("interval", np.array([2**31], "timedelta64[M]"))
