"""Identifiers: nanoid-style random strings, integers unique by construction, and random
strings of a fixed alphabet with a length law."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from pgbulk.ddl import quote
from pgbulk.errors import ParameterError
from pgbulk.generate import Text, permutation_keys, permute
from pgbulk.generators.base import Keyed, Rule, ascii_chars_sql, unique_slots
from pgbulk.generators.numbers import INTEGERS, TEXTS, Drawn, _integer

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column, Dataset, Table

#: nanoid's default alphabet (URL-safe), in the ``nanoid`` package's order.
NANOID_ALPHABET = "_-0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _check_alphabet(kind: str, alphabet: str) -> None:
    if not isinstance(alphabet, str) or len(set(alphabet)) != len(alphabet) or len(alphabet) < 2:
        raise ParameterError(f"{kind} alphabet", alphabet, "needs 2 or more distinct characters")
    if not alphabet.isascii() or len(alphabet) > 256:
        raise ParameterError(f"{kind} alphabet", alphabet, "must be at most 256 ASCII characters")


def random_chars(frame: Frame, key: Keyed, alphabet: str, width: int) -> npt.NDArray[np.uint8]:
    """(rows, width) characters, each uniform over ``alphabet``: two per 64-bit keyed word
    (32 bits each, so the bias is below len(alphabet) / 2^32)."""
    words = frame.words(key, (width + 1) // 2)
    halves = np.empty(words.size * 2, dtype=np.uint64)
    halves[0::2] = words >> np.uint64(32)
    halves[1::2] = words & np.uint64(0xFFFFFFFF)
    index = (halves * np.uint64(len(alphabet))) >> np.uint64(32)
    table = np.frombuffer(alphabet.encode(), dtype=np.uint8)
    chars: npt.NDArray[np.uint8] = table[index.reshape(frame.rows, -1)[:, :width]]
    return chars


@dataclass(frozen=True)
class Nanoid(Drawn):
    """Random ids of ``size`` characters of ``alphabet``, as ``nanoid.generate(alphabet, size)``
    makes them (each character uniform over the alphabet). Not unique by construction:
    refused as ``unique`` unless the space (alphabet^size) makes a collision negligible
    (birthday bound below 1e-9)."""

    kind = "nanoid"
    types = TEXTS
    alphabet: str = NANOID_ALPHABET
    size: int = 21
    key: int | None = None

    def __post_init__(self) -> None:
        _check_alphabet("nanoid", self.alphabet)
        if not 1 <= _integer("nanoid size", self.size) <= 255:
            raise ParameterError("nanoid size", self.size, "must be in 1..255")

    def generate(self, frame: Frame, column: Column) -> Values:
        return Text(random_chars(frame, self.keyed(frame, column), self.alphabet, self.size))

    def unique_rows(self) -> int:
        # P(collision) ~ n^2 / (2 space) <= 1e-9
        return int((2e-9 * float(len(self.alphabet)) ** self.size) ** 0.5)

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        return Rule(
            ascii_chars_sql(quote(column.name), self.alphabet, self.size, self.size),
            f"{column.name} is {self.size} characters of the alphabet",
        )


@dataclass(frozen=True)
class RandomString(Drawn):
    """Strings of ``alphabet`` whose length is uniform in ``min_length..max_length``."""

    kind = "string"
    types = TEXTS
    alphabet: str = "abcdefghijklmnopqrstuvwxyz"
    min_length: int = 8
    max_length: int = 8
    key: int | None = None

    def __post_init__(self) -> None:
        _check_alphabet("string", self.alphabet)
        lo, hi = (
            _integer("string min_length", self.min_length),
            _integer("string max_length", self.max_length),
        )
        if not 0 <= lo <= hi <= 10_000:
            raise ParameterError(
                "string length", (lo, hi), "needs 0 <= min_length <= max_length <= 10000"
            )

    def generate(self, frame: Frame, column: Column) -> Values:
        key = self.keyed(frame, column)
        chars = random_chars(frame, key, self.alphabet, max(self.max_length, 1))
        if self.min_length == self.max_length:
            return (
                Text(chars[:, : self.max_length])
                if self.max_length
                else Text(chars, np.zeros(frame.rows, np.int32))
            )
        u = frame.uniforms(Keyed(key.key ^ 0x1E6))
        span = self.max_length - self.min_length + 1
        lengths = (self.min_length + np.floor(u * span)).astype(np.int32)
        return Text(chars, lengths)

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        return Rule(
            ascii_chars_sql(quote(column.name), self.alphabet, self.min_length, self.max_length),
            f"{column.name} is {self.min_length}..{self.max_length} characters of the alphabet",
        )


@dataclass(frozen=True)
class UniqueInt(Drawn):
    """Integers in ``low..high``, distinct by construction and in random-looking order: a
    keyed permutation (:func:`pgbulk.generate.permute`) of the row's slot over the range."""

    kind = "unique_int"
    types = INTEGERS
    low: int = 1
    high: int = 2**31 - 1
    key: int | None = None

    def __post_init__(self) -> None:
        lo, hi = _integer("unique_int low", self.low), _integer("unique_int high", self.high)
        if not -(2**63) <= lo < hi < 2**63 or hi - lo >= 2**62:
            raise ParameterError("unique_int", (lo, hi), "needs low < high, a range below 2**62")

    @property
    def domain(self) -> int:
        return self.high - self.low + 1

    def unique_rows(self) -> int:
        return self.domain

    def generate(self, frame: Frame, column: Column) -> Values:
        slots = unique_slots(frame, column, self.domain, "widen low..high or lower the scale")
        keys = permutation_keys(frame.seed, self.keyed(frame, column).key)
        return permute(slots, self.domain, keys).astype(np.int64) + np.int64(self.low)

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        c = quote(column.name)
        return Rule(
            f"{c} BETWEEN {self.low} AND {self.high}",
            f"{column.name} is in {self.low}..{self.high}",
        )


@dataclass(frozen=True)
class Uuid7At(Drawn):
    """UUIDv7 whose instant is another column of the row (a timestamp): ids sort as the
    events they name (``orders.id`` by ``placed_at``). The random bits are keyed."""

    kind = "uuid7_at"
    types = frozenset({"uuid"})
    column: str = ""
    key: int | None = None

    def __post_init__(self) -> None:
        if not self.column:
            raise ParameterError("uuid7_at column", self.column, "must name a timestamp column")

    def generate(self, frame: Frame, column: Column) -> Values:
        from pgbulk.generate import uuid7

        instants = frame.values(self.column)
        if not isinstance(instants, np.ndarray) or instants.dtype.kind != "M":
            raise ParameterError(
                f"{frame.table.name}.{column.name}", self.column, "must be a timestamp column"
            )
        ms = instants.astype("datetime64[ms]").astype(np.int64)
        if (ms < 0).any():
            raise ParameterError(
                f"{frame.table.name}.{column.name}", self.column, "must hold instants after 1970"
            )
        return Text(uuid7(ms, frame.words(self.keyed(frame, column), 2)))

    def unique_rows(self) -> int:
        return 2**62  # 74 random bits per id: a collision is negligible below 2^30 per ms

    def rule(self, column: Column, table: Table, dataset: Dataset) -> Rule:
        c = quote(column.name)
        return Rule(
            f"(get_byte(uuid_send({c}), 6) >> 4 = 7 AND get_byte(uuid_send({c}), 8) >> 6 = 2)",
            f"{column.name} has UUID version 7 and the RFC 9562 variant bits",
        )
