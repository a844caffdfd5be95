"""The datasets pgbulk knows by name, and the dataset a ledger's definition describes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.model import Dataset

if TYPE_CHECKING:
    from pgbulk.datasets.contacts import ContactsSpec


def from_definition(definition: Mapping[str, Any]) -> Dataset:
    """The dataset whose :attr:`~pgbulk.model.Dataset.definition` this is."""
    name = definition.get("dataset")
    if definition.get("format") is not None:
        from pgbulk.spec import SPEC_FORMAT, build

        if definition["format"] != SPEC_FORMAT:
            raise PgbulkError(
                f"the recorded dataset {name!r} is a spec of format {definition['format']!r}; "
                f"this pgbulk reads {SPEC_FORMAT!r}: use the pgbulk version that loaded it"
            )
        return build(definition)
    if name == "contacts":
        from pgbulk.datasets.contacts import ContactsSpec, dataset

        return dataset(ContactsSpec.from_dict(dict(definition)))
    raise PgbulkError(
        f"the recorded dataset {name!r} is not one pgbulk knows by name (it was built in "
        "Python): give it to the library call (dataset=...), or name the tables"
    )


def choose(
    dataset: Dataset | None, scale: int | None, users: int | None, spec: ContactsSpec | None
) -> tuple[Dataset, int]:
    """The dataset and its checked scale; ``users`` and ``spec`` are the contacts shorthand."""
    if dataset is not None and spec is not None:
        raise ParameterError(
            "spec", spec, "is the contacts shorthand: give dataset or spec, not both"
        )
    if scale is not None and users is not None:
        raise ParameterError(
            "users", users, "is the contacts shorthand for scale: give one of them"
        )
    if dataset is None:
        from pgbulk.datasets.contacts import dataset as contacts

        dataset = contacts(spec)
    if scale is not None:
        return dataset, dataset.check_scale(scale)
    if users is None:
        raise ParameterError("scale", None, f"is needed: the number of {dataset.scale_table} rows")
    if isinstance(users, bool) or not isinstance(users, int) or not 1 <= users <= dataset.max_scale:
        raise ParameterError("users", users, f"must be an integer in 1..{dataset.max_scale:,}")
    return dataset, users
