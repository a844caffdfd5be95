"""numeric: base-10000 digits, weight, sign and dscale (PostgreSQL's numeric_send)."""

from __future__ import annotations

import decimal
import struct

import numpy as np
import pyarrow as pa
import pytest
from psycopg.types.numeric import DecimalBinaryDumper

from pgbulk.copy_format import Packed
from pgbulk.errors import ParameterError, ValueRejected
from pgbulk.generate import Text
from pgbulk.types import encode
from tests.unit.types.fields import fields

D = decimal.Decimal


def wire(ndigits: int, weight: int, sign: int, dscale: int, *digits: int) -> bytes:
    return struct.pack(">hhHh", ndigits, weight, sign, dscale) + struct.pack(
        f">{len(digits)}H", *digits
    )


def psycopg_bytes(value: D) -> bytes:
    return bytes(DecimalBinaryDumper(D).dump(value))


def stored(field: bytes | None) -> bytes | None:
    """What the server keeps of a received numeric, in numeric_send's form: ``make_result``
    drops leading zero digits (each one lowers the weight) and trailing ones."""
    if field is None:
        return None
    ndigits, weight, sign, dscale = struct.unpack(">hhHh", field[:8])
    digits = list(struct.unpack(f">{ndigits}H", field[8 : 8 + 2 * ndigits]))
    assert len(field) == 8 + 2 * ndigits
    if sign in (0xC000, 0xD000, 0xF000):
        return wire(0, 0, sign, 0)
    while digits and digits[0] == 0:
        digits.pop(0)
        weight -= 1
    while digits and digits[-1] == 0:
        digits.pop()
    if not digits:
        weight, sign = 0, 0x0000
    return wire(len(digits), weight, sign, dscale, *digits)


def sent(pgtype: str, values: object) -> list[bytes | None]:
    return [stored(f) for f in fields(encode(pgtype, values))]


@pytest.mark.parametrize(
    ("value", "precision", "scale", "expected"),
    [
        # 1234.5600: digits 1234 | 5600, the first one is 10000^0, 4 digits after the point
        ("1234.5600", 10, 4, wire(2, 0, 0x0000, 4, 1234, 5600)),
        # -0.0001: one digit, 1, at 10000^-1
        ("-0.0001", 10, 4, wire(1, -1, 0x4000, 4, 1)),
        # 0: no digits at all, weight 0
        ("0.00", 10, 2, wire(0, 0, 0x0000, 2)),
        # 10000000000000000 = 1 * 10000^4: trailing zero digits are not sent
        ("10000000000000000", 20, 0, wire(1, 4, 0x0000, 0, 1)),
        # 12345678.9 = 1234 | 5678 | 9000
        ("12345678.9", 12, 1, wire(3, 1, 0x0000, 1, 1234, 5678, 9000)),
        # 0.00000001 = 10000^-2 * 1: a leading zero digit is not sent either
        ("0.00000001", 10, 8, wire(1, -2, 0x0000, 8, 1)),
    ],
)
def test_hand_computed_digits(value: str, precision: int, scale: int, expected: bytes) -> None:
    array = pa.array([D(value)], pa.decimal128(precision, scale))
    assert sent("numeric", array) == [expected]
    assert expected == psycopg_bytes(D(value))
    with decimal.localcontext(prec=60):
        big = D(value) + D(10) ** 25  # beyond 64 bits: the general path
    wide = pa.array([big, D(value)], pa.decimal128(38, scale))
    assert fields(encode("numeric", wide))[1] == expected  # and it sends the short form


def test_integers_take_the_columns_scale() -> None:
    # 5 as numeric(12,2) is 5.00: digit 5 at 10000^0, dscale 2
    assert sent("numeric(12,2)", np.array([5, -123456])) == [
        wire(1, 0, 0x0000, 2, 5),
        wire(2, 1, 0x4000, 2, 12, 3456),
    ]
    assert sent("numeric", np.array([2**63 - 1], np.int64)) == [psycopg_bytes(D(2**63 - 1))]
    assert sent("numeric", np.array([2**64 - 1], np.uint64)) == [psycopg_bytes(D(2**64 - 1))]


def test_values_that_fit_in_64_bits_are_sent_at_a_fixed_width() -> None:
    """Every value with the column's digit count: 12345.67 needs 2 whole digits (1 | 2345)
    and 1 fractional (6700), so 1.5 travels as 0 | 1 | 5000 with weight 1."""
    values = pa.array([D("1.50"), D("12345.67"), D("-0.01"), D("0")], pa.decimal128(10, 2))
    column = encode("numeric(10,2)", values)
    assert isinstance(column, Text) and column.lengths is None
    assert fields(column) == [
        wire(3, 1, 0x0000, 2, 0, 1, 5000),
        wire(3, 1, 0x0000, 2, 1, 2345, 6700),
        wire(3, 1, 0x4000, 2, 0, 0, 100),
        wire(3, 1, 0x0000, 2, 0, 0, 0),
    ]


def test_floats_round_to_the_columns_scale_and_nan_is_special() -> None:
    got = sent("numeric(10,3)", np.array([1.25, -0.001, np.nan]))
    assert got == [psycopg_bytes(D("1.250")), psycopg_bytes(D("-0.001")), wire(0, 0, 0xC000, 0)]
    with pytest.raises(ValueRejected, match="only NaN"):
        encode("numeric(10,3)", np.array([np.inf]))
    with pytest.raises(ParameterError, match="numeric\\(p, s\\)"):
        encode("numeric", np.array([1.5]))


def _random_decimals(
    rng: np.random.Generator, n: int, precision: int, scale: int
) -> list[D | None]:
    digits = rng.integers(0, precision + 1, n)
    out: list[D | None] = []
    for k in digits:
        unscaled = int("".join(map(str, rng.integers(0, 10, int(k))))) if k else 0
        # scaleb rounds to the context's precision (28 by default): not these 76 digits
        value = D(unscaled if rng.random() < 0.5 else -unscaled).scaleb(
            -scale, decimal.Context(prec=100)
        )
        out.append(value)
    out[:: max(n // 10, 1)] = [None] * len(out[:: max(n // 10, 1)])
    return out


@pytest.mark.parametrize(
    ("precision", "scale", "arrow_type"),
    [
        (38, 0, pa.decimal128),
        (38, 10, pa.decimal128),
        (18, 3, pa.decimal128),
        (76, 30, pa.decimal256),
        (9, 9, pa.decimal128),
    ],
)
def test_random_decimals_match_psycopgs_dumper(
    precision: int, scale: int, arrow_type: type
) -> None:
    rng = np.random.default_rng(precision * 100 + scale)
    values = _random_decimals(rng, 500, precision, scale)
    array = pa.array(values, arrow_type(precision, scale))
    want = [None if v is None else psycopg_bytes(v) for v in values]  # exponent -scale each
    assert sent(f"numeric({precision},{scale})", array) == want


def test_random_int64_with_a_scale_match_psycopg() -> None:
    rng = np.random.default_rng(5)
    ints = rng.integers(-(2**63), 2**63 - 1, 1000, dtype=np.int64)
    want = [psycopg_bytes(D(int(v)).quantize(D("0.0001"))) for v in ints]
    assert sent("numeric(30,4)", ints) == want


def test_a_decimal_slice_is_read_at_its_offset() -> None:
    array = pa.array([D("1.5"), D("2.5"), D("-3.5")], pa.decimal128(5, 1)).slice(1)
    assert fields(encode("numeric", array)) == [psycopg_bytes(D("2.5")), psycopg_bytes(D("-3.5"))]


@pytest.mark.parametrize(
    ("pgtype", "values", "row"),
    [
        ("numeric(4,2)", pa.array([D("99.99"), D("100.00")], pa.decimal128(5, 2)), 1),
        ("numeric(4,2)", pa.array([D("-99.99"), D("-100.00")], pa.decimal128(5, 2)), 1),
        # rounds to 100.00: the server would refuse it
        ("numeric(4,2)", pa.array([D("99.994"), D("99.995")], pa.decimal128(5, 3)), 1),
        ("numeric(5,2)", np.array([999, 1000]), 1),
        ("numeric(3,0)", np.array([-999.4, -999.5]), 1),
    ],
)
def test_precision_overflow_is_rejected_like_the_server_does(
    pgtype: str, values: object, row: int
) -> None:
    with pytest.raises(ValueRejected, match="numeric field overflow") as e:
        encode(pgtype, values)
    assert e.value.row == row


def test_numeric_is_packed_without_padding() -> None:
    column = encode(
        "numeric", pa.array([D("0"), D("123456789012345678901234567890")], pa.decimal128(38, 0))
    )
    assert isinstance(column, Packed)
    assert column.lengths().tolist() == [8, 8 + 2 * 8]
