"""Keys and identifiers: UUIDs (v4 random, v7 time-ordered) and values unique by construction."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from pgbulk.ddl import quote
from pgbulk.errors import ParameterError
from pgbulk.generate import (
    MAX_DOMAIN,
    Text,
    alphabet_digits,
    digits_of_halves,
    fixed_digits,
    permutation_keys,
    permute,
    permute_halves,
    uuid4,
    uuid7,
)
from pgbulk.generators.base import (
    Generator,
    Key,
    Rule,
    ascii_chars_sql,
    default_key,
    unique_slots,
)

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column, Dataset, Table

#: 2026-01-01T00:00:00Z. UUIDv7 timestamps count milliseconds from here, one per row, so
#: ids are time-ordered by row and a dataset never depends on the wall clock.
DEFAULT_UUID7_EPOCH_MS = 1_767_225_600_000


@dataclass(frozen=True)
class Uuid(Generator):
    """Random UUIDs: version 4, or version 7 whose instant is ``epoch_ms`` plus one
    millisecond per row (``instant="row"``) or per parent row (``"parent"``: children
    share their parent's instant, so a table written in parent order is in key order)."""

    kind = "uuid"
    version: Literal[4, 7] = 4
    key: Key | None = None
    epoch_ms: int = DEFAULT_UUID7_EPOCH_MS
    instant: Literal["row", "parent"] = "row"

    def __post_init__(self) -> None:
        if self.version not in (4, 7):
            raise ParameterError("uuid version", self.version, "must be 4 or 7")
        if not isinstance(self.epoch_ms, int) or not 0 <= self.epoch_ms < 2**47:
            raise ParameterError("uuid7 epoch_ms", self.epoch_ms, "must be in 0..2**47-1")
        if self.instant not in ("row", "parent"):
            raise ParameterError("uuid7 instant", self.instant, "must be row or parent")

    def generate(self, frame: Frame, column: Column) -> Values:
        raw = frame.words(self.key or default_key(frame.table.name, column.name), 2)
        if self.version == 4:
            return Text(uuid4(raw))
        rows = frame.parent_row_numbers() if self.instant == "parent" else frame.row_numbers()
        return Text(uuid7(self.epoch_ms + rows, raw))

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        c = quote(column.name)
        return Rule(
            f"(get_byte(uuid_send({c}), 6) >> 4 = {self.version}"
            f" AND get_byte(uuid_send({c}), 8) >> 6 = 2)",
            f"{column.name} has UUID version {self.version} and the RFC 9562 variant bits",
        )


@dataclass(frozen=True)
class UniqueText(Generator):
    """Strings of ``length`` characters of ``alphabet``, unique by construction, uniform-looking.

    Each row has a slot, distinct from every other row's: its row number in a top-level
    table, or (parent row x the most children a parent has + its position under the
    parent) in a child table. A keyed bijection of the whole domain (alphabet^length
    values, :func:`pgbulk.generate.permute`) maps slots to values: no two rows can share
    one, and no check after the fact is needed.
    """

    kind = "unique_text"
    alphabet: str = "0123456789"
    length: int = 16
    key: int | None = None

    def __post_init__(self) -> None:
        if len(set(self.alphabet)) != len(self.alphabet) or len(self.alphabet) < 2:
            raise ParameterError("alphabet", self.alphabet, "needs 2 or more distinct characters")
        if not self.alphabet.isascii():
            raise ParameterError("alphabet", self.alphabet, "must be ASCII characters")
        if not isinstance(self.length, int) or self.length < 1 or self.domain > MAX_DOMAIN:
            raise ParameterError(
                "length", self.length, f"must give at most {MAX_DOMAIN:,} values (alphabet^length)"
            )

    @property
    def domain(self) -> int:
        return int(len(self.alphabet) ** self.length)

    def generate(self, frame: Frame, column: Column) -> Values:
        slots = unique_slots(frame, column, self.domain, "lower the scale")
        key = self.key if self.key is not None else default_key(frame.table.name, column.name).key
        keys = permutation_keys(frame.seed, key)
        half = 10 ** (self.length // 2)
        if self.alphabet == "0123456789" and self.length % 2 == 0:
            # Decimal digits printed half by half: no division of 16-digit numbers.
            high, low = permute_halves(slots, half, keys)
            if self.length == 16:
                return Text(digits_of_halves(high, low))
            width = self.length // 2
            return Text(np.hstack([fixed_digits(high, width), fixed_digits(low, width)]))
        values = permute(slots, self.domain, keys)
        return Text(alphabet_digits(values, self.alphabet.encode(), self.length))

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        return Rule(
            ascii_chars_sql(quote(column.name), self.alphabet, self.length, self.length),
            f"{column.name} is {self.length} characters of {self.alphabet!r}",
        )
