"""Generator and count-law names as spec files spell them, and how their parameters are read."""

from __future__ import annotations

import dataclasses
from typing import Any

from pgbulk.generators import FromParent, Template, UniqueText, Uuid, ZipfCount
from pgbulk.generators.arithmetic import NUMERIC_TYPES, Expr
from pgbulk.generators.base import CountLaw, Generator
from pgbulk.generators.counts import EmpiricalCount, FixedCount, PoissonCount, UniformCount
from pgbulk.generators.empirical import ChildRef, Empirical, EmpiricalText, SiblingRef
from pgbulk.generators.ids import Nanoid, RandomString, UniqueInt, Uuid7At
from pgbulk.generators.numbers import (
    TEXTS,
    Boolean,
    Categorical,
    Constant,
    Drawn,
    Exponential,
    LogNormal,
    Normal,
    Poisson,
    Position,
    Sequence,
    UniformFloat,
    UniformInt,
    Zipf,
)
from pgbulk.generators.relations import Lookup, Nullable, Reference, Tree
from pgbulk.generators.structured import ArrayOf, Json
from pgbulk.generators.time import Series, TimeOfDay, UniformTime
from pgbulk.generators.vocabulary import FakerWords
from pgbulk.generators.words import Words

GENERATORS: dict[str, type[Generator]] = {
    g.kind: g
    for g in (
        Sequence,
        Position,
        Constant,
        UniformInt,
        UniformFloat,
        Normal,
        LogNormal,
        Exponential,
        Poisson,
        Zipf,
        Categorical,
        Boolean,
        UniformTime,
        Series,
        TimeOfDay,
        Uuid,
        Uuid7At,
        Nanoid,
        RandomString,
        UniqueInt,
        UniqueText,
        Template,
        Words,
        FakerWords,
        Json,
        ArrayOf,
        Reference,
        Lookup,
        Tree,
        FromParent,
        Expr,
        Empirical,
        EmpiricalText,
        SiblingRef,
        ChildRef,
    )
}

LAWS: dict[str, type[CountLaw]] = {
    law.kind: law for law in (FixedCount, UniformCount, PoissonCount, ZipfCount, EmpiricalCount)
}

#: The generators whose ``key`` may be a unit's stream (``key = { stream = N }``): their
#: draws go through ``Frame.words`` with a :class:`~pgbulk.generators.base.Key`.
STREAM_KEYED: frozenset[type[Generator]] = frozenset({Uuid})

#: The base types each generator that is not a :class:`Drawn` can fill (None: any).
OTHER_TYPES: dict[type[Generator], frozenset[str] | None] = {
    Uuid: frozenset({"uuid"}),
    UniqueText: TEXTS,
    Template: TEXTS | frozenset({"json", "jsonb"}),
    Json: frozenset({"json", "jsonb"}),
    Lookup: None,
    Tree: None,
    FromParent: None,
    Expr: NUMERIC_TYPES,
}


def fillable(generator: Generator) -> frozenset[str] | None:
    """The base types ``generator`` can fill; None when any (it copies another column)."""
    if isinstance(generator, Nullable):
        return fillable(generator.inner)
    if isinstance(generator, Reference | SiblingRef | ChildRef | ArrayOf):
        return None
    if isinstance(generator, Constant) and generator.value is None:
        return None
    if isinstance(generator, Drawn):
        return generator.types
    return OTHER_TYPES.get(type(generator))


def parameters(cls: type[Any]) -> list[str]:
    """The parameters a spec may give (init fields)."""
    return [f.name for f in dataclasses.fields(cls) if f.init]
