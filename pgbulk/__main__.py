"""``python -m pgbulk``: the same as the ``pgbulk`` command."""

from pgbulk.cli import main

main()
