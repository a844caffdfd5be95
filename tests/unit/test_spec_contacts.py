"""contacts is the built-in spec ``contacts.toml``: the same dataset by name, by file and
by ``--users``, its streams (``key = { stream = N }``) and where they are refused.

That its rows are release 0.1.0's is test_contacts_golden.py (through ``pgbulk.contacts``,
which builds the spec).
"""

from __future__ import annotations

import hashlib
import json

import pytest
from click.testing import CliRunner

import pgbulk
from pgbulk.chunks import Rows
from pgbulk.cli import cli
from pgbulk.datasets.contacts import PHONE_SPACE, ContactsSpec, dataset
from pgbulk.generators import Stream, Uuid, ZipfCount
from pgbulk.model import PerParent
from pgbulk.spec import SpecError, from_dict, from_toml, load_spec
from pgbulk.spec.parse import builtin_text
from tests.unit.spec_helpers import one_column


def _digests(rows: Rows) -> dict[str, str]:
    out = {}
    for table in rows.dataset.table_names:
        digest = hashlib.sha256()
        for chunk in rows:
            digest.update(bytes(chunk.copy_buffer(table)))
        out[table] = digest.hexdigest()
    return out


def test_the_spec_by_name_is_the_users_dataset_and_recorded_the_same_way() -> None:
    by_name = load_spec("contacts")
    assert by_name == dataset()
    # One definition in the ledger: --users N and --spec contacts --scale N resume each other.
    assert by_name.definition == ContactsSpec().to_dict()
    assert by_name.chunk_rows == ContactsSpec.chunk_users


def test_the_spec_file_as_anyones_spec_makes_the_users_rows() -> None:
    # What a user copying contacts.toml gets: the same rows, chunk for chunk.
    as_file = from_toml(builtin_text("contacts"), "contacts.toml")
    assert as_file.definition["format"] == "pgbulk-spec/1"
    want = _digests(pgbulk.contacts(1_234, seed=5, chunk_users=500))
    as_file = from_dict({**as_file.definition, "chunk_rows": 500})
    assert _digests(Rows(as_file, 1_234, seed=5)) == want


@pytest.mark.parametrize("most", [1, 3, 5, 7, 1000])
def test_phone_numbers_set_the_largest_scale(most: int) -> None:
    assert dataset(ContactsSpec(max_per_user=most)).max_scale == PHONE_SPACE // most


def test_the_users_options_reach_the_spec() -> None:
    d = dataset(ContactsSpec(zipf_a=1.7, max_per_user=9, uuid_version=7, chunk_users=321))
    assert d.chunk_rows == 321
    for name, stream in (("emails", 1), ("phone_numbers", 2)):
        rows = d.table(name).rows
        assert isinstance(rows, PerParent) and isinstance(rows.law, ZipfCount)
        assert (rows.law.a, rows.law.most, rows.law.key) == (1.7, 9, Stream(stream))
    ids = [t.column("id").generator for t in d.tables]
    assert all(isinstance(g, Uuid) and g.version == 7 for g in ids)


def test_spec_check_show_and_fingerprint_by_name() -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["spec", "check", "contacts"])
    assert (
        ok.exit_code == 0 and "dataset contacts, tables users, emails, phone_numbers" in ok.output
    )
    shown = json.loads(
        runner.invoke(cli, ["spec", "show", "contacts", "--scale", "1000", "--json"]).output
    )
    assert [t["table"] for t in shown["tables"]] == ["users", "emails", "phone_numbers"]
    assert shown["tables"][0]["rows"] == 1000
    by_spec = runner.invoke(
        cli, ["fingerprint", "--spec", "contacts", "--scale", "700", "--seed", "3", "--json"]
    )
    by_users = runner.invoke(cli, ["fingerprint", "--users", "700", "--seed", "3", "--json"])
    assert by_spec.exit_code == 0 and by_spec.output == by_users.output


def _uuids(key: object, chunk_rows: int) -> bytes:
    d = one_column({"type": "uuid", "gen": "uuid", "key": key}, chunk_rows=chunk_rows)
    return b"".join(c.values("t", "x").chars.tobytes() for c in Rows(d, 300))  # type: ignore[union-attr]


def test_a_stream_key_depends_on_the_unit_size_a_keyed_one_does_not() -> None:
    streamed = {"stream": 7}
    assert _uuids(streamed, 100) != _uuids(streamed, 300)
    assert _uuids(7, 100) == _uuids(7, 300)
    # The first unit is the same stream whatever the unit size: a prefix.
    assert _uuids(streamed, 100)[: 16 * 100] == _uuids(streamed, 300)[: 16 * 100]


def _spec(columns: dict[str, object], rows: object = "scale") -> dict[str, object]:
    return {
        "name": "s",
        "tables": {
            "a": {
                "rows": "scale",
                "primary_key": ["id"],
                "columns": {"id": {"type": "uuid", "gen": "uuid", "key": {"stream": 0}}},
            },
            "b": {"rows": rows, "columns": columns},
        },
    }


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            _spec({"x": {"type": "int", "gen": "uniform_int", "key": {"stream": 1}}}),
            "table b, column x: key = { stream = N } is for uuid columns and count laws",
        ),
        (
            _spec({"x": {"type": "uuid", "gen": "uuid", "key": {"stream": "1"}}}),
            "table b, column x: key must be an integer or { stream = N }",
        ),
        (
            _spec({"x": {"type": "uuid", "gen": "uuid", "key": {"stream": -1}}}),
            "table b, column x: key stream -1 must be in 0..2^32-1",
        ),
        (
            _spec({"x": {"type": "int", "gen": "uniform_int", "key": "7"}}),
            "table b, column x: key must be an integer, not '7'",
        ),
        (
            _spec(
                {
                    "x": {
                        "type": "jsonb",
                        "gen": "json",
                        "fields": {"u": {"type": "uuid", "gen": "uuid", "key": {"stream": 1}}},
                    }
                }
            ),
            "table b, column x.u: key = { stream = N } is for uuid columns and count laws",
        ),
        (
            _spec({"x": {"type": "uuid", "gen": "ref", "table": "a"}}),
            "table b, column x: a.id draws from the unit's streams",
        ),
        (
            _spec({"x": {"type": "int", "gen": "sequence"}}, {"parent": "a", "key": "x"}),
            "table b: key must be an integer, not 'x'",
        ),
    ],
)
def test_stream_keys_are_refused_where_a_row_is_recomputed_or_not_a_uuid(
    spec: dict[str, object], message: str
) -> None:
    with pytest.raises(SpecError) as info:
        from_dict(spec)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_ref_to_a_template_of_a_streamed_column_is_refused_too() -> None:
    spec = _spec({"x": {"type": "text", "gen": "ref", "table": "a", "column": "t"}})
    spec["tables"]["a"]["columns"]["t"] = {"type": "text", "gen": "template", "template": "<{id}>"}  # type: ignore[index]
    with pytest.raises(SpecError, match=r"table b, column x: a\.t draws from the unit's streams"):
        from_dict(spec)
    spec["tables"]["a"]["columns"]["id"]["key"] = 3  # type: ignore[index]
    from_dict(spec)  # keyed: any row is computed from its number


def test_the_users_options_do_not_mix_with_the_spec_form() -> None:
    mixed = CliRunner().invoke(
        cli, ["fingerprint", "--spec", "contacts", "--scale", "10", "--zipf-a", "1.5"]
    )
    assert mixed.exit_code == 2
    assert "--zipf-a go with --users N, the shorthand of --spec contacts --scale N" in mixed.output
