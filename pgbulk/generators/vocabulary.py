"""Faker as a vocabulary source: ``size`` values drawn once per (seed, column) with one
Faker call each, then sampled per row with numpy (never one Python call per row).

Faker is optional (``pip install 'pgbulk[bench]'`` or ``pip install faker``). The
vocabulary depends on Faker's version and locale data: the same seed gives the same rows
only with the same Faker.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.generators.numbers import TEXTS, Drawn, _integer, vocabulary_text

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column


@lru_cache(maxsize=64)
def faker_vocabulary(provider: str, locale: str, size: int, seed: int) -> tuple[str, ...]:
    try:
        from faker import Faker
    except ImportError:
        raise PgbulkError(
            "generator faker needs the faker package: pip install faker (or 'pgbulk[bench]')"
        ) from None
    fake = Faker(locale)
    fake.seed_instance(seed)
    make = getattr(fake, provider, None)
    if not callable(make):
        raise ParameterError(
            "faker provider", provider, "must be a Faker provider method, e.g. city"
        )
    return tuple(str(make()) for _ in range(size))  # once per vocabulary word, not per row


@dataclass(frozen=True)
class FakerWords(Drawn):
    """A value of a vocabulary of ``size`` values that Faker's ``provider`` (``city``,
    ``company``, ``job``, ...) made once for the seed, each row one of them uniformly."""

    kind = "faker"
    types = TEXTS
    provider: str = "word"
    size: int = 1000
    locale: str = "en_US"
    key: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= _integer("faker size", self.size) <= 1_000_000:
            raise ParameterError("faker size", self.size, "must be in 1..1,000,000")
        if not self.provider.isidentifier() or self.provider.startswith("_"):
            raise ParameterError(
                "faker provider", self.provider, "must be a provider name, e.g. city"
            )

    def generate(self, frame: Frame, column: Column) -> Values:
        key = self.keyed(frame, column)
        words = faker_vocabulary(
            self.provider, self.locale, self.size, (frame.seed ^ key.key) & 0x7FFFFFFF
        )
        picked = np.floor(frame.uniforms(key) * len(words)).astype(np.int64)
        return vocabulary_text(list(words), picked)
