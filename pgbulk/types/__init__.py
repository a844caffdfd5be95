"""The type layer: PostgreSQL types as data, and arrays -> binary COPY fields, one encoder per type.

``encode(pgtype, values)`` turns a numpy or Arrow array into one column of a binary COPY
stream (:func:`pgbulk.copy_format.encode` writes the stream); ``arrow_type`` and
``pg_type_for_arrow`` map between PostgreSQL and Arrow types; :mod:`pgbulk.types.catalog`
reads a target table's column types. See docs/types.md.

The encoders import pyarrow (35 MB resident per process) on first use only: a load of
text and uuid columns never needs it in its workers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from pgbulk.types.pgtype import BASES, PgType

if TYPE_CHECKING:
    from pgbulk.types.arrow_map import arrow_type, pg_type_for_arrow, to_arrow
    from pgbulk.types.encode import ENCODERS, encode, encode_canonical

_LAZY = {
    "ENCODERS": "pgbulk.types.encode",
    "encode": "pgbulk.types.encode",
    "encode_canonical": "pgbulk.types.encode",
    "arrow_type": "pgbulk.types.arrow_map",
    "pg_type_for_arrow": "pgbulk.types.arrow_map",
    "to_arrow": "pgbulk.types.arrow_map",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'pgbulk.types' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    # Every name of that module at once: importing pgbulk.types.encode sets the package's
    # attribute ``encode`` to the submodule, which would hide the function afterwards.
    for lazy, source in _LAZY.items():
        if source == _LAZY[name]:
            globals()[lazy] = getattr(module, lazy)
    return globals()[name]


__all__ = [
    "BASES",
    "ENCODERS",
    "PgType",
    "arrow_type",
    "encode",
    "encode_canonical",
    "pg_type_for_arrow",
    "to_arrow",
]
