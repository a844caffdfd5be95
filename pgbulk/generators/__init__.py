"""Column generators and count laws: the vocabulary a dataset is written in.

Each is a frozen dataclass (plain data, comparable, recorded in the ledger) whose
``generate`` is a pure, vectorised function of the rows it is given. See
:mod:`pgbulk.generators.base` for the contract and how randomness is keyed.
"""

from __future__ import annotations

from pgbulk.generators.base import CountLaw, Generator, Key, Keyed, Rule, Stream, default_key
from pgbulk.generators.counts import ZipfCount
from pgbulk.generators.identity import DEFAULT_UUID7_EPOCH_MS, UniqueText, Uuid
from pgbulk.generators.text import FromParent, Template

__all__ = [
    "DEFAULT_UUID7_EPOCH_MS",
    "CountLaw",
    "FromParent",
    "Generator",
    "Key",
    "Keyed",
    "Rule",
    "Stream",
    "Template",
    "UniqueText",
    "Uuid",
    "ZipfCount",
    "default_key",
]
