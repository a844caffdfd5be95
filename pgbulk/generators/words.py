"""Words drawn from weighted vocabularies: the built-in lists (first names, last names,
cities, countries, words, statuses; package data) or a list given in the spec. The
vocabulary is laid out once as a character matrix; rows are taken from it by index."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING

import numpy as np

from pgbulk.errors import ParameterError
from pgbulk.generators.numbers import TEXTS, Drawn, draw_discrete, vocabulary_text

if TYPE_CHECKING:
    from pgbulk.chunks import Frame, Values
    from pgbulk.model import Column

BUILT_IN = ("first_names", "last_names", "cities", "countries", "words", "statuses")


@cache
def word_list(name: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """A built-in list: its words and their relative weights."""
    if name not in BUILT_IN:
        raise ParameterError("words list", name, f"must be one of {', '.join(BUILT_IN)}")
    text = resources.files("pgbulk.generators").joinpath(f"wordlists/{name}.tsv").read_text("utf-8")
    rows = [line.split("\t") for line in text.splitlines() if line and not line.startswith("#")]
    return tuple(w for w, _ in rows), tuple(float(p) for _, p in rows)


@dataclass(frozen=True)
class Words(Drawn):
    """A word of the built-in list ``list``, drawn by the list's weights (``uniform = true``:
    equally). ``count`` > 1 joins that many words with ``separator`` (a phrase)."""

    kind = "words"
    types = TEXTS
    list: str = "words"
    uniform: bool = False
    count: int = 1
    separator: str = " "
    key: int | None = None

    def __post_init__(self) -> None:
        word_list(self.list)
        if (
            isinstance(self.count, bool)
            or not isinstance(self.count, int)
            or not 1 <= self.count <= 100
        ):
            raise ParameterError("words count", self.count, "must be an integer in 1..100")

    def generate(self, frame: Frame, column: Column) -> Values:
        words, weights = word_list(self.list)
        support = np.arange(len(words), dtype=np.int64)
        p = np.ones(len(words)) if self.uniform else np.asarray(weights)
        key = self.keyed(frame, column)
        parts: list[object] = []
        for i in range(self.count):  # once per word of the phrase, not per row
            u = frame.uniforms(type(key)(key.key + i))
            if i:
                parts.append(self.separator.encode())
            parts.append(vocabulary_text(list(words), draw_discrete(support, p / p.sum(), u)))
        return parts[0] if self.count == 1 else parts
