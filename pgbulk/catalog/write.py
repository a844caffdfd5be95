"""A fitted spec as TOML text: one table per section, one column per sub-section, each
law preceded by a comment saying where it came from. Pure: no database."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pgbulk.catalog.fit import Fitted

_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def key(name: str) -> str:
    return name if _BARE.match(name) else json.dumps(name)


def value(v: Any) -> str:
    """A TOML value (strings as JSON strings, which TOML's basic strings accept)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"{v} is not a finite number")
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{key(k)} = {value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"no TOML for {v!r}")


def _wrapped(v: Any, width: int = 96) -> str:
    """A long list on several lines, items packed up to ``width`` characters."""
    text = value(v)
    if not isinstance(v, list | tuple) or len(text) <= width:
        return text
    out, line = ["["], "   "
    for item in (value(x) for x in v):
        if len(line) + len(item) + 2 > width and line.strip():
            out.append(line.rstrip())
            line = "   "
        line += f" {item},"
    out.append(line.rstrip())
    out.append("]")
    return "\n".join(out)


def _comment(lines: list[str], text: str) -> None:
    for line in text.splitlines() or [""]:
        lines.append(f"# {line}".rstrip())


def to_toml(fitted: Fitted, header: list[str] | None = None) -> str:
    spec = fitted.spec
    lines: list[str] = []
    for h in header or []:
        _comment(lines, h)
    if fitted.problems:
        _comment(lines, "Not imported as it is (one line each):")
        for p in fitted.problems:
            _comment(lines, f"  {p}")
    lines.append(f"name = {value(spec['name'])}")
    if "scale_table" in spec:
        scale_table = spec["scale_table"]
        _comment(
            lines, f"--scale {fitted.scale} makes the source's row counts ({scale_table} rows)"
        )
        lines.append(f"scale_table = {value(scale_table)}")
    if "chunk_rows" in spec:
        lines.append(f"chunk_rows = {spec['chunk_rows']}")
    for tname, table in spec["tables"].items():
        lines.append("")
        for text in fitted.comments.get((tname, None), []):
            _comment(lines, text)
        lines.append(f"[tables.{key(tname)}]")
        for k in ("rows", "primary_key", "unique", "foreign_keys"):
            if k in table:  # rows is an inline table: one line in TOML
                lines.append(f"{k} = {value(table[k]) if k == 'rows' else _wrapped(table[k])}")
        for cname, column in table.get("columns", {}).items():
            lines.append("")
            for text in fitted.comments.get((tname, cname), []):
                _comment(lines, text)
            lines.append(f"[tables.{key(tname)}.columns.{key(cname)}]")
            for k, v in column.items():
                lines.append(f"{key(k)} = {_wrapped(v)}")
    return "\n".join(lines) + "\n"
