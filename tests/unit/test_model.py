"""The dataset model: what it refuses, and what is derived from it (DDL, steps, units, estimates)."""

from __future__ import annotations

import pickle

import pytest

from pgbulk import ddl
from pgbulk.chunks import Rows
from pgbulk.datasets import choose
from pgbulk.datasets.contacts import ContactsSpec
from pgbulk.datasets.contacts import dataset as contacts
from pgbulk.errors import ParameterError, PgbulkError
from pgbulk.estimate import estimate, expected_rows
from pgbulk.generators import Template, UniqueText, ZipfCount
from pgbulk.generators.ids import UniqueInt
from pgbulk.model import Column, Dataset, Fixed, ForeignKey, PerParent, PerScale, Table
from pgbulk.plan import Plan
from pgbulk.types import PgType
from tests import shop

TEXT = PgType.parse("text")


def _table(name: str, *columns: str, **more: object) -> Table:
    return Table(name, tuple(Column(c, TEXT, Template("x")) for c in columns), PerScale(), **more)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Column("1st", TEXT), "column name"),
        (lambda: Column("a" * 64, TEXT), "column name"),
        (lambda: Column("a", "text"), "must be a PgType"),  # type: ignore[arg-type]
        (lambda: _table("t"), "needs at least one column"),
        (lambda: _table("t", "a", "a"), "duplicate column names"),
        (lambda: _table("t", "a", primary_key=("b",)), "must name columns of the table"),
        (lambda: ForeignKey(("a",), "t", on_delete="explode"), "on_delete"),
        (
            lambda: Dataset("d", (_table("t", "a"),), scale_table="u", chunk_rows=10),
            "must be one of t",
        ),
        (
            lambda: Dataset("d", (_table("t", "a"), _table("t", "b")), "t", 10),
            "duplicate table names",
        ),
        (
            lambda: Dataset(
                "d",
                (
                    Table("c", (Column("a", TEXT),), PerParent("p", ZipfCount())),
                    _table("p", "a"),
                ),
                "p",
                10,
            ),
            "must come before it",
        ),
        (
            lambda: Dataset(
                "d", (_table("t", "a", foreign_keys=(ForeignKey(("a",), "nope"),)),), "t", 10
            ),
            "must reference a table of the dataset",
        ),
        (lambda: Dataset("d", (_table("t", "a"),), "t", 0), "chunk_rows"),
        (
            lambda: Dataset("d", (Table("t", (Column("a", TEXT),), Fixed(3)),), "t", 10),
            "counted PerScale",
        ),
    ],
)
def test_the_model_refuses_what_postgresql_or_the_loader_could_not_do(
    build: object, message: str
) -> None:
    with pytest.raises(ParameterError, match=message):
        build()  # type: ignore[operator]


def test_contacts_ddl_is_the_original_schema() -> None:
    users, emails, _ = contacts().tables
    assert ddl.create_table(users).as_string(None) == (
        'CREATE TABLE "users" ("id" uuid NOT NULL DEFAULT gen_random_uuid(), '
        '"name" text NOT NULL) WITH (autovacuum_enabled = false)'
    )
    assert ddl.copy_statement("s", emails).as_string(None) == (
        'COPY "s"."emails" ("id", "user_id", "email") FROM STDIN (FORMAT binary)'
    )
    assert ddl.drop_order(contacts()) == ("phone_numbers", "emails", "users")
    names = {(e.name, e.kind) for e in ddl.expected(contacts())}
    assert names == {
        ("users_pkey", "p"),
        ("emails_pkey", "p"),
        ("emails_email_key", "u"),
        ("emails_user_id_fkey", "f"),
        ("emails_user_id_idx", "i"),
        ("phone_numbers_pkey", "p"),
        ("phone_numbers_phone_number_key", "u"),
        ("phone_numbers_user_id_fkey", "f"),
        ("phone_numbers_user_id_idx", "i"),
    }


def test_post_load_steps_wait_for_the_keys_they_need() -> None:
    steps = {s.name: s for s in ddl.post_load(contacts(), expected_rows(contacts(), 1_000))}
    assert set(steps) >= {e.name for e in ddl.expected(contacts())}
    # A foreign key is added NOT VALID once the referenced key exists, then validated.
    for fk in ("emails_user_id_fkey", "phone_numbers_user_id_fkey"):
        assert steps[fk].after == ("users_pkey",)
        assert set(steps[fk].tables) == {fk.split("_user_id")[0], "users"}
        assert steps[f"validate {fk}"].after == (fk,)
        assert "NOT VALID" in str(steps[fk].statements)
    assert all(s.cost > 0 for s in steps.values())
    # The widest keys on the most rows cost most: UNIQUE(email) before users' key.
    assert steps["emails_email_key"].cost > steps["users_pkey"].cost


def test_an_index_builds_sort_memory_follows_its_rows_and_key_width() -> None:
    rows = expected_rows(contacts(), 10_000_000)
    widths = {"emails": {"email": 53.0}}
    steps = {s.name: s for s in ddl.post_load(contacts(), rows, widths)}
    # Per row: a SortTuple (24 bytes) twice over (the array grows by doubling), and the
    # index tuple: an 8-byte header and the key, 8-byte aligned.
    assert steps["emails_user_id_idx"].sort_bytes == rows["emails"] * (48 + 24)
    assert steps["emails_email_key"].sort_bytes == rows["emails"] * (48 + 64)
    assert steps["users_pkey"].sort_bytes == rows["users"] * (48 + 24)
    # A text key not measured counts 32 bytes; steps that sort nothing need nothing.
    assert steps["phone_numbers_phone_number_key"].sort_bytes == rows["phone_numbers"] * (48 + 40)
    assert steps["validate emails_user_id_fkey"].sort_bytes == 0
    assert steps["emails_user_id_fkey"].sort_bytes == 0


def test_units_cover_every_top_level_row_once() -> None:
    plan = Plan(shop.dataset(chunk_rows=500), 1_201)
    units = list(plan)
    assert [(u.table, u.first_row, u.rows) for u in units] == [
        ("stores", 0, 7),
        ("customers", 0, 500),
        ("customers", 500, 500),
        ("customers", 1_000, 201),
    ]
    assert [u.number for u in units] == list(range(len(units)))


def test_a_chunk_holds_a_unit_and_the_rows_made_under_it() -> None:
    rows = Rows(shop.dataset(chunk_rows=500), 1_201, seed=1)
    first, second = rows.chunk(0), rows.chunk(1)
    assert [t.name for t in first.tables] == ["stores"]
    assert [t.name for t in second.tables] == ["customers", "orders"]
    assert second.rows("stores") == 0
    counts = second.frame("orders").counts
    assert counts is not None and second.rows("orders") == int(counts.sum())
    assert counts.min() >= 1 and counts.max() <= 4


def test_a_dataset_pickles_to_an_equal_one_with_the_same_rows() -> None:
    dataset = shop.dataset()
    again = pickle.loads(pickle.dumps(dataset))
    assert again == dataset
    a, b = Rows(dataset, 900, seed=2).chunk(1), Rows(again, 900, seed=2).chunk(1)
    assert bytes(a.copy_buffer("orders")) == bytes(b.copy_buffer("orders"))


def test_expected_rows_follow_the_laws_means() -> None:
    rows = expected_rows(contacts(), 10_000)
    mean = ZipfCount(1.2, 5).mean
    assert rows == pytest.approx({"users": 1e4, "emails": 1e4 * mean, "phone_numbers": 1e4 * mean})
    assert expected_rows(shop.dataset(), 10)["stores"] == 7


def test_the_estimate_of_contacts_is_near_the_measured_size() -> None:
    # Measured on PostgreSQL 18 (docs/architecture.md): 8.95 GiB for 10M users, v4.
    size = estimate(Rows(contacts(), 10_000_000)).bytes / 2**30
    assert 8.5 < size < 9.4
    # More rows, more bytes; v7 ids are as wide as v4 ones.
    v7 = estimate(Rows(contacts(ContactsSpec(uuid_version=7)), 10_000_000)).bytes / 2**30
    assert v7 == pytest.approx(size, rel=0.02)


def test_choose_names_the_shorthand_that_was_wrong() -> None:
    with pytest.raises(ParameterError, match="users=0"):
        choose(None, None, 0, None)
    with pytest.raises(ParameterError, match="scale=0"):
        choose(None, 0, None, None)
    with pytest.raises(ParameterError, match="give one of them"):
        choose(None, 5, 5, None)
    with pytest.raises(ParameterError, match="give dataset or spec"):
        choose(contacts(), 5, None, ContactsSpec())
    assert choose(shop.dataset(), 9, None, None)[1] == 9


def test_a_generator_made_from_itself_is_named() -> None:
    looped = Table(
        "t",
        (Column("a", TEXT, Template("{b}")), Column("b", TEXT, Template("{a}"))),
        PerScale(),
    )
    rows = Rows(Dataset("d", (looped,), "t", 10), 3)
    with pytest.raises(PgbulkError, match="columns made from each other: a -> b -> a"):
        rows.chunk(0).copy_buffer("t")


def test_the_scheduler_ranks_a_step_by_the_work_that_waits_for_it() -> None:
    from pgbulk.constraints import critical_path

    steps = ddl.post_load(contacts(), expected_rows(contacts(), 10_000_000))
    rank = critical_path(steps)
    cost = {s.name: s.cost for s in steps}
    # users' key is cheap, but both foreign keys and their validations wait for it.
    assert rank["users_pkey"] == pytest.approx(
        cost["users_pkey"] + cost["emails_user_id_fkey"] + cost["validate emails_user_id_fkey"]
    )
    assert rank["users_pkey"] > cost["emails_pkey"] > cost["users_pkey"]
    assert rank["emails_email_key"] == cost["emails_email_key"]  # nothing waits for it


@pytest.mark.parametrize(
    ("generator", "hint"),
    [
        (UniqueText("AB", 2), "lower the scale"),
        (UniqueInt(1, 3), "widen low..high or lower the scale"),
    ],
)
def test_a_domain_too_small_for_the_rows_is_named(generator: object, hint: str) -> None:
    table = Table(
        "t",
        (
            Column(
                "v",
                PgType.parse("text" if isinstance(generator, UniqueText) else "int8"),
                generator,
            ),
        ),
        PerScale(),
    )  # type: ignore[arg-type]
    rows = Rows(Dataset("d", (table,), "t", 10), 5)
    with pytest.raises(ParameterError, match=f"t.v=.*too few for these rows; {hint}"):
        rows.chunk(0).copy_buffer("t")


def test_a_step_that_outweighs_all_the_rest_is_taken_to_run_alone() -> None:
    from psycopg import sql

    from pgbulk.constraints import _Board

    def step(name: str, cost: float, table: str) -> ddl.Step:
        return ddl.Step(name, (sql.SQL("SELECT 1"),), (table,), cost=cost)

    board = _Board([step("big", 10, "a"), step("small", 3, "b"), step("tiny", 2, "c")], set())
    big, small = board.take(), board.take()
    assert big is not None and big[0].name == "big" and big[1]  # 10 > 3 + 2
    assert small is not None and small[0].name == "small" and not small[1]  # big is running
    board.finish(big[0])
    board = _Board([step("big", 10, "a"), step("other", 6, "b"), step("third", 5, "c")], set())
    taken = board.take()
    assert taken is not None and taken[0].name == "big" and not taken[1]  # 10 < 6 + 5


def test_frozen_tables_validate_their_foreign_keys_from_the_indexes() -> None:
    rows = expected_rows(contacts(), 10_000)
    plain = {s.name: s for s in ddl.post_load(contacts(), rows)}
    frozen = {s.name: s for s in ddl.post_load(contacts(), rows, frozen=contacts().table_names)}
    half = {s.name: s for s in ddl.post_load(contacts(), rows, frozen=["emails"])}
    name = "validate emails_user_id_fkey"
    assert plain[name].after == half[name].after == ("emails_user_id_fkey",)
    assert len(plain[name].statements) == 1  # the planner's choice
    # both tables all-visible: after the child's index, with no hash join
    assert frozen[name].after == ("emails_user_id_fkey", "emails_user_id_idx")
    texts = [s.as_string(None) for s in frozen[name].statements]
    assert texts[0] == "SET enable_hashjoin = off" and texts[-1] == "RESET enable_hashjoin"
    assert "VALIDATE CONSTRAINT" in texts[1]
    assert frozen[name].cost < plain[name].cost
    assert set(frozen) == set(plain)  # the same steps otherwise
