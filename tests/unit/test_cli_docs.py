"""Every command has help text and the README names it (the CLI reference stays true)."""

from __future__ import annotations

from pathlib import Path

import click

from pgbulk.cli import cli

README = (Path(__file__).parents[2] / "README.md").read_text()


def commands(group: click.Group, prefix: str = "pgbulk") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += commands(command, path)
    return found


def test_every_command_has_help() -> None:
    missing = [path for path, command in commands(cli) if not (command.help or "").strip()]
    assert missing == []


def test_the_readme_names_every_top_level_command() -> None:
    names = [path for path, _ in commands(cli) if path.count(" ") == 1]
    assert len(names) >= 10
    assert [n for n in names if f"`{n}" not in README and f"{n} " not in README] == []
