"""A whole binary COPY stream from the type layer, byte for byte (hand-computed golden)."""

from __future__ import annotations

import decimal

import numpy as np
import pyarrow as pa

from pgbulk import copy_format
from pgbulk.types import encode

GOLDEN = (
    "5047434f50590aff0d0a00 00000000 00000000"  # PGCOPY\n\377\r\n\0, flags 0, extension 0
    # row 1: 4 fields; int4 1; text 'ab'; numeric 1.50 = [0001 1388] weight 0, dscale 2; true
    " 0004 00000004 00000001 00000002 6162"
    " 0000000c 0002 0000 0000 0002 0001 1388 00000001 01"
    # row 2: int4 2; NULL; numeric -0.05 = [0000 01f4] sign 0x4000; NULL
    " 0004 00000004 00000002 ffffffff"
    " 0000000c 0002 0000 4000 0002 0000 01f4 ffffffff"
    " ffff"  # trailer
)


def test_a_stream_of_four_types_with_nulls_is_the_golden_bytes() -> None:
    columns = [
        encode("int4", np.array([1, 2], np.int32)),
        encode("text", pa.array(["ab", None])),
        encode(
            "numeric(5,2)",
            pa.array([decimal.Decimal("1.50"), decimal.Decimal("-0.05")], pa.decimal128(5, 2)),
        ),
        encode("bool", np.array([True, False]), nulls=np.array([False, True])),
    ]
    assert bytes(copy_format.encode(columns)).hex() == GOLDEN.replace(" ", "")
