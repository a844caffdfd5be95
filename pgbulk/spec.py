"""What a dataset is: the parameters that, with a seed and a number of users, fix every row.

A dataset is a pure function of ``(spec, seed, users)``. The chunk size is part of the
spec because each chunk draws from its own random stream: the same rows come out
whatever the number of workers, shards or machines, but a different chunk size is a
different dataset.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from pgbulk.errors import ParameterError

UuidVersion = Literal[4, 7]

#: The phone numbers are 16 decimal digits: the whole space they are spread over.
PHONE_SPACE = 10**16

#: 2026-01-01T00:00:00Z. UUIDv7 timestamps count milliseconds from here, one per user,
#: so ids are time-ordered by user number and a dataset never depends on the wall clock.
DEFAULT_UUID7_EPOCH_MS = 1_767_225_600_000

MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class ContactsSpec:
    """The ``contacts`` dataset: users, their emails and their phone numbers.

    Defaults reproduce the original project: per user, the number of emails and the
    number of phone numbers are independent draws of a Zipf law with exponent ``zipf_a``
    truncated to ``1..max_per_user``.
    """

    zipf_a: float = 1.2
    max_per_user: int = 5
    uuid_version: UuidVersion = 4
    chunk_users: int = 25_000
    uuid7_epoch_ms: int = DEFAULT_UUID7_EPOCH_MS

    name = "contacts"

    def __post_init__(self) -> None:
        if not isinstance(self.zipf_a, int | float) or not self.zipf_a > 1.0:
            raise ParameterError("zipf_a", self.zipf_a, "must be a number greater than 1")
        if not isinstance(self.max_per_user, int) or not 1 <= self.max_per_user <= 1000:
            raise ParameterError("max_per_user", self.max_per_user, "must be an integer in 1..1000")
        if self.uuid_version not in (4, 7):
            raise ParameterError("uuid_version", self.uuid_version, "must be 4 or 7")
        if not isinstance(self.chunk_users, int) or not 1 <= self.chunk_users <= 10_000_000:
            raise ParameterError(
                "chunk_users", self.chunk_users, "must be an integer in 1..10,000,000"
            )
        if not isinstance(self.uuid7_epoch_ms, int) or not 0 <= self.uuid7_epoch_ms < 2**47:
            raise ParameterError("uuid7_epoch_ms", self.uuid7_epoch_ms, "must be in 0..2**47-1")

    @property
    def max_users(self) -> int:
        """The most users a dataset can hold with phone numbers unique by construction."""
        return PHONE_SPACE // self.max_per_user

    def to_dict(self) -> dict[str, Any]:
        return {"dataset": self.name, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContactsSpec:
        fields = {k: v for k, v in data.items() if k != "dataset"}
        return cls(**fields)


def check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise ParameterError("seed", seed, f"must be an integer in 0..{MAX_SEED}")
    return seed


def check_users(users: object, spec: ContactsSpec) -> int:
    if isinstance(users, bool) or not isinstance(users, int) or not 1 <= users <= spec.max_users:
        raise ParameterError("users", users, f"must be an integer in 1..{spec.max_users:,}")
    return users
