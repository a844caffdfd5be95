"""The one error hierarchy of pgbulk.

Every error a user can cause or fix derives from :class:`PgbulkError`; its message
says what was wrong and what to do. The CLI turns these into one line on stderr
and exit code 2; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class PgbulkError(Exception):
    """Base class of every error pgbulk raises on purpose."""


class ParameterError(PgbulkError, ValueError):
    """A parameter is outside its valid range."""

    def __init__(self, name: str, value: object, valid: str) -> None:
        self.name = name
        self.value = value
        self.valid = valid
        super().__init__(f"invalid {name}={value!r}: {valid}")


class ConnectionFailed(PgbulkError):
    """The server cannot be reached or refused the login."""


class TargetNotEmpty(PgbulkError):
    """The target tables already hold data and the caller did not ask to replace them."""


class DatasetMismatch(PgbulkError):
    """An existing load belongs to a different dataset than the one requested."""


class ServerError(PgbulkError):
    """The embedded PostgreSQL server could not be initialised, started or stopped."""


class LoadFailed(PgbulkError):
    """A load stopped; the message says what failed and how to resume."""


class LoadInterrupted(LoadFailed):
    """The load was stopped by a signal; committed chunks are kept and can be resumed."""


class VerificationFailed(PgbulkError):
    """The loaded data does not match what the dataset should be."""


class EventsError(PgbulkError):
    """Change-event capture or relay could not do what was asked."""


class ExportFailed(PgbulkError):
    """An export stopped before it finished; its directory holds no manifest, so it is incomplete."""


class ValueRejected(PgbulkError):
    """A value PostgreSQL would refuse, found before anything is sent.

    Encoders know only the row within the array they were given; :meth:`at` adds where
    that array comes from, so the message names table, column and row.
    """

    def __init__(
        self, reason: str, *, row: int, column: str | None = None, table: str | None = None
    ) -> None:
        self.reason = reason
        self.row = row
        self.column = column
        self.table = table
        where = ".".join(p for p in (table, column) if p)
        super().__init__(f"{where + ': ' if where else ''}row {row:,}: {reason}")

    def at(self, *, table: str | None, column: str | None, first_row: int = 0) -> ValueRejected:
        """The same error, placed: ``first_row`` is the global number of the array's row 0."""
        return ValueRejected(
            self.reason,
            row=self.row + first_row,
            column=column or self.column,
            table=table or self.table,
        )


class TypeMismatch(PgbulkError):
    """A column of the target has another type than the dataset's model or the source says."""
