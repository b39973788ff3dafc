"""``hub import customers``, the pure parts: the column spec, a record in normal form or the reason it is
bad (with its line), reading CSV and JSONL with line numbers, and the plan a batch of rows appends."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import pytest
from typer.testing import CliRunner

from contracts import (
    AttributeName,
    IdentityKind,
    IdentityLinked,
    normalise_identity,
    parse_event,
)
from contracts.identity_rules import DEFAULT_RULES
from hub.cli import app
from hub.importing.mapping import map_record
from hub.importing.plan import BatchPlan, Stamp, plan_batch
from hub.importing.reading import read_csv, read_jsonl
from hub.importing.rows import BadRow, ImportRow, Record
from hub.importing.spec import SpecError, build_spec, load_spec_file, parse_pairs
from services.timeline.known import KnownIdentities

pytestmark = pytest.mark.unit

TODAY = date(2026, 12, 7)
SPEC = build_spec(
    parse_pairs(
        [
            "email=E-mail",
            "phone=Phone",
            "handle.telegram=Telegram",
            "name=Full name",
            "attr.birthday=Born",
            "language=Language",
            "consent_email=Newsletter",
            "preferences=Likes",
            "car=Car",
        ]
    ),
    "DE",
)
ANN = normalise_identity(IdentityKind.EMAIL, "ann@example.com")
OLD = UUID(int=1)
OTHER = UUID(int=2)
STAMP = Stamp(datetime(2026, 12, 7, 12, tzinfo=UTC), "import-test")


def _map(values: dict[str, object], line: int = 2) -> ImportRow | BadRow:
    return map_record(Record(line, line, values), SPEC, "DE", TODAY)


def _row(values: dict[str, object]) -> ImportRow:
    row = _map(values)
    assert isinstance(row, ImportRow), row
    return row


def _reason(values: dict[str, object]) -> str:
    row = _map(values, line=17)
    assert isinstance(row, BadRow), row
    assert row.line == 17
    return row.reason


def test_identities_and_values_come_out_in_normal_form() -> None:
    row = _row(
        {
            "E-mail": " Ann@Example.COM ",
            "Phone": "030 1234567",
            "Telegram": "ann_t",
            "Full name": " Ann Archer ",
            "Born": "1990-04-01",
            "Newsletter": "Yes",
            "Likes": "tea; books ;",
            "Car": '{"brand": "Volvo", "model": "XC60"}',
        }
    )

    assert [identity.key for identity in row.identities] == [
        "email:ann@example.com",
        "phone:+49301234567",  # read in the spec's region
        "handle:telegram:ann_t",
    ]
    assert dict(row.attributes) == {
        AttributeName.NAME: "Ann Archer",
        AttributeName.BIRTHDAY: "1990-04-01",
        AttributeName.CONSENT_EMAIL: True,
        AttributeName.PREFERENCES: ["tea", "books"],
        AttributeName.CAR: {"brand": "Volvo", "model": "XC60"},
    }


def test_empty_cells_are_left_out_not_refused() -> None:
    row = _row({"E-mail": "ann@example.com", "Phone": "  ", "Full name": "", "Born": None})

    assert row.identities == (ANN,)
    assert row.attributes == ()


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"E-mail": "ann at example"}, "E-mail: email: not an email address"),
        ({"E-mail": "ann@example.com", "Phone": "call me"}, "Phone: phone: not a phone number"),
        ({"E-mail": "", "Phone": ""}, "no identity: E-mail, Phone, Telegram empty"),
        ({"E-mail": "ann@example.com", "Born": "2027-01-01"}, "Born: birthday is in the future"),
        ({"E-mail": "ann@example.com", "Born": "1850-01-01"}, "Born: birthday: a birthday before 1900-01-01"),
        ({"E-mail": "ann@example.com", "Born": "1 April"}, "Born: birthday: Input should be a valid date"),
        ({"E-mail": "ann@example.com", "Newsletter": "maybe"}, "Newsletter: a consent is yes/no"),
        ({"E-mail": "ann@example.com", "Car": "Volvo"}, "Car: car is JSON, such as"),
        ({"E-mail": "ann@example.com", "Car": '{"model": "XC60"}'}, "Car: car.brand: Field required"),
        ({"E-mail": {"nested": "object"}}, "E-mail: expected text, got a JSON dict"),
    ],
)
def test_a_bad_value_makes_the_whole_row_bad_with_its_column_and_rule(
    values: dict[str, object], reason: str
) -> None:
    assert _reason(values).startswith(reason)


@pytest.mark.parametrize("column", ["E-mail", "Phone", "Language", "Born", "Full name"])
def test_a_reason_never_repeats_the_value(column: str) -> None:
    value = "secret-ann" + "x" * 200 * (column == "Full name")
    assert value not in _reason({"E-mail": "ann@example.com", column: value})


def test_the_same_content_has_the_same_key_wherever_it_stands_and_other_content_another() -> None:
    first = _map({"E-mail": "ann@example.com", "Full name": "Ann"})
    moved = _map({"E-mail": " ANN@example.com", "Full name": "Ann ", "Phone": ""}, line=900)
    renamed = _map({"E-mail": "ann@example.com", "Full name": "Anne"})

    assert isinstance(first, ImportRow) and isinstance(moved, ImportRow) and isinstance(renamed, ImportRow)
    assert first.key == moved.key
    assert first.link_ids == moved.link_ids
    assert renamed.key != first.key


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["name=Full name"], "map at least one identity column"),
        (["mail=E-mail"], "unknown target 'mail'; targets: email, phone, loyalty, handle.<provider>"),
        (["handle=Telegram"], "handle needs a provider: handle.<provider>"),
        (["email.work=E-mail"], "email takes no provider"),
        (["email=E-mail", "attr.company=Company"], "the card keeps no attribute 'company'"),
        (["email=E-mail", "phone=E-mail"], "column 'E-mail' is mapped twice"),
        (["email=A", "name=B", "name=C"], "attribute(s) name mapped from more than one column"),
    ],
)
def test_a_spec_that_cannot_be_used_says_why(pairs: list[str], message: str) -> None:
    with pytest.raises(SpecError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_spec(parse_pairs(pairs))


def test_a_pair_without_equals_is_refused() -> None:
    with pytest.raises(SpecError, match="expected TARGET=COLUMN"):
        parse_pairs(["email"])


def test_a_toml_spec_file_maps_several_columns_to_one_target(tmp_path: Path) -> None:
    path = tmp_path / "spec.toml"
    path.write_text('region = "GB"\n[map]\nemail = ["E-mail", "E-mail 2"]\nname = "Full name"\n')

    pairs, region = load_spec_file(path)
    spec = build_spec(pairs, region)

    assert [c.column for c in spec.identities] == ["E-mail", "E-mail 2"]
    assert spec.region == "GB"


def test_csv_records_carry_the_line_they_start_on_and_broken_lines_are_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text(
        'E-mail,Notes\nann@example.com,"two\nlines"\n\nbob@example.com\ncy@example.com,x\n', encoding="utf-8"
    )

    read = list(read_csv(path))

    assert [(type(r).__name__, r.line) for r in read] == [("Record", 2), ("BadRow", 5), ("Record", 6)]
    bad = read[1]
    assert isinstance(bad, BadRow) and bad.reason == "has 1 fields, the header has 2"


def test_jsonl_lines_that_are_not_objects_are_bad_rows_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    path.write_text('{"E-mail": "ann@example.com"}\n{"E-mail": \n\n[1, 2]\n', encoding="utf-8")

    read = list(read_jsonl(path))

    assert [(type(r).__name__, r.line) for r in read] == [("Record", 1), ("BadRow", 2), ("BadRow", 4)]
    assert isinstance(read[2], BadRow) and read[2].reason == "a JSON list, not an object"


def _plan(rows: list[ImportRow], owners: dict[str, list[UUID]], before: set[UUID] | None = None) -> BatchPlan:
    known = KnownIdentities.read(owners, {OLD: 10, OTHER: 20}, set(), None)
    return plan_batch(rows, before or set(), known, DEFAULT_RULES, STAMP)


def test_rows_sharing_an_identity_in_one_batch_make_one_customer() -> None:
    first = _row({"E-mail": "ann@example.com", "Full name": "Ann"})
    second = _row({"E-mail": "ann@example.com", "Phone": "+4930 1234567"})

    plan = _plan([first, second], {})

    [made, added] = plan.outcomes
    assert made.is_new_customer and not added.is_new_customer
    assert added.customer_id == made.customer_id and added.links == 1


def test_a_row_with_identities_of_two_customers_merges_the_younger_into_the_older() -> None:
    row = _row({"E-mail": "ann@example.com", "Phone": "+49 30 1234567"})
    phone = row.identities[1]

    plan = _plan([row], {ANN.key: [OLD], phone.key: [OTHER]})

    [merge] = plan.merges
    assert (merge.line, merge.survivor, merge.absorbed, merge.kinds) == (2, OLD, OTHER, ("email", "phone"))
    streams = [stream for stream, _ in plan.appends]
    assert streams == [f"customer-{OTHER}", f"customer-{OLD}"]


def test_every_event_is_valid_as_made_and_names_the_import_as_actor() -> None:
    row = _row(
        {"E-mail": "ann@example.com", "Phone": "+49 30 1234567", "Full name": "Ann", "Newsletter": "no"}
    )

    plan = _plan([row], {"phone:+49301234567": [OTHER], ANN.key: [OLD]})

    events = [new for _, batch in plan.appends for new in batch]
    assert len(events) == 2 + 2  # the merge (two sides), name and consent; no link: both were known
    for new in events:
        assert new.metadata["actor"] == "import"
        reparsed = parse_event(new.event.model_dump(mode="json"))  # validates every field
        assert reparsed == new.event
        assert getattr(reparsed, "actor", None) == "import"


def test_a_row_imported_before_adds_nothing() -> None:
    row = _row({"E-mail": "ann@example.com", "Full name": "Ann"})

    plan = _plan([row], {}, before={row.key})

    assert (plan.appends, plan.outcomes, plan.imported_before) == ([], [], 1)


def test_a_new_identity_gets_a_link_with_a_row_derived_id() -> None:
    row = _row({"E-mail": "ann@example.com"})

    plan = _plan([row], {})

    [(_, [new])] = plan.appends
    assert isinstance(new.event, IdentityLinked)
    assert (new.event.event_id, new.event.evidence_event_id) == (row.link_ids[0], row.key)


def test_a_column_the_file_does_not_have_is_refused_before_the_store_is_touched(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("E-mail,Name\nann@example.com,Ann\n", encoding="utf-8")

    result = CliRunner().invoke(
        app,
        ["import", "customers", str(path), "--map", "email=E-mail", "--map", "phone=Phone"],
        env={"HUB_PG_DSN": "postgresql://nobody@127.0.0.1:1/none"},
    )

    assert result.exit_code == 2
    assert "export.csv has no column 'Phone'" in result.output
