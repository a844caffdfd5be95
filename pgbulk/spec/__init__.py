"""Declarative dataset specs: TOML files (or dicts) -> :class:`pgbulk.model.Dataset`.

``pgbulk.spec.load_spec("shop")`` (built-in) or ``load_spec("my.toml")``; the Python API
is the model itself. See ``docs/specs.md`` for the format and every generator.
"""

from __future__ import annotations

from pgbulk.spec.parse import (
    BUILT_IN,
    SPEC_FORMAT,
    SpecError,
    build,
    canonical,
    from_dict,
    from_toml,
    load_spec,
)

__all__ = [
    "BUILT_IN",
    "SPEC_FORMAT",
    "SpecError",
    "build",
    "canonical",
    "from_dict",
    "from_toml",
    "load_spec",
]
