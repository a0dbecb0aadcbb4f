"""Sales-file names, header, row reasons and counts (no AWS)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.ingest import names, rows, tally
from chalicelib.ingest.rows import HeaderProblem


@pytest.mark.parametrize(
    ("key", "store", "day", "report", "rejects"),
    [
        ("incoming/s1/2026-11-21.csv", "s1", "2026-11-21", "reports/s1/2026-11-21.json", "rejects/s1/2026-11-21.csv"),
        (
            "incoming/S-01.a/2026-11-21-pm_2.csv.gz",
            "S-01.a",
            "2026-11-21",
            "reports/S-01.a/2026-11-21-pm_2.json",
            "rejects/S-01.a/2026-11-21-pm_2.csv",
        ),
    ],
)
def test_keys_of_a_file_and_its_outputs(
    key: str, store: str | None, day: str | None, report: str, rejects: str
) -> None:
    parsed = names.parse_key(key)
    assert (parsed.store_id, parsed.file_date, parsed.report_key, parsed.rejects_key) == (store, day, report, rejects)
    assert parsed.outputs("0a1b2c") == (report, rejects)  # the file id does not matter
    assert not parsed.report_key.startswith(names.INCOMING)  # an output never triggers an ingestion


@pytest.mark.parametrize(
    "key",
    [
        "incoming/s1/2026-02-30.csv",
        "incoming/s1/sales.txt",
        "incoming/a:b/2026-11-21.csv",
        "incoming/2026-11-21.csv",
        "incoming/S1/../../reports/x.json",
        "incoming/s1/./2026-11-21.csv",
        "incoming/s1\\..\\2026-11-21.csv",
        "incoming/s1/" + "n" * 1000 + ".csv",
        "incoming/s1/%FF%FE.csv",
        "incoming/_bad_key/2026-11-21.csv",
    ],
)
def test_a_key_off_the_rule_has_outputs_named_by_the_file_id_only(key: str) -> None:
    parsed = names.parse_key(key)
    assert (parsed.valid, parsed.store_id, parsed.file_date) == (False, None, None)
    assert parsed.outputs("0a1b2c") == ("reports/_bad_key/0a1b2c.json", "rejects/_bad_key/0a1b2c.csv")
    with pytest.raises(ValueError):
        _ = parsed.report_key  # it has none of its own
    with pytest.raises(ValueError):
        parsed.outputs("../x")  # nor does a file id that is not one


SAFE_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]*")  # never empty, never "." or ".."


@given(st.text(max_size=300), st.from_regex(r"[0-9a-f]{24}", fullmatch=True))
def test_no_key_chooses_where_its_outputs_go(text: str, file_id: str) -> None:
    for key in (text, f"incoming/{text}", f"incoming/s1/{text}", f"incoming/s1/2026-11-21{text}"):
        for output in names.parse_key(key).outputs(file_id):
            kind, *parts = output.split("/")
            assert kind in ("reports", "rejects") and len(output) <= 200, output
            assert all(SAFE_PART.fullmatch(part) for part in parts), output


def test_only_objects_under_incoming_are_files() -> None:
    assert names.is_incoming("incoming/s1/2026-11-21.csv")
    assert not names.is_incoming("incoming/s1/")
    assert not names.is_incoming("reports/s1/2026-11-21.json")


def test_header_names_are_trimmed_case_insensitive_in_any_order() -> None:
    header = rows.parse_header(["\ufeff Amount", "STORE_ID", "receipt_id", "Type", "occurred_at", "x", "Currency"])
    assert header.names[0] == "Amount"
    values = header.pick(["12.00", "s1", "r1", "SALE", "t", "ignored", "CNY", ""])
    assert values == ("s1", "r1", "t", "SALE", "12.00", "CNY", "", "", "", "")
    assert header.position("type") == 3


@pytest.mark.parametrize(
    ("names_", "reason"),
    [
        (["store_id", "receipt_id", "occurred_at", "type", "amount"], "missing_column"),
        (["store_id", "receipt_id", "occurred_at", "type", "amount", "currency", "CURRENCY"], "bad_header"),
    ],
)
def test_headers_that_cannot_be_used(names_: list[str], reason: str) -> None:
    with pytest.raises(HeaderProblem) as problem:
        rows.parse_header(names_)
    assert problem.value.reason == reason


def test_a_chunk_tally_adds_up_and_merges() -> None:
    one, two = tally.Tally(), tally.Tally()
    one.rows, two.rows = 3, 2
    one.count(tally.Outcome(tally.APPLIED, member=True), 2, [])
    one.sold("2026-11-21", True, "SALE", Decimal("10.00"))
    one.count(tally.Outcome(tally.DUPLICATE), 3, [])
    one.count(tally.Outcome(tally.REJECTED, "bad_amount", "no"), 4, ["x"])
    two.count(tally.Outcome(tally.APPLIED), 5, [])
    two.sold("2026-11-21", False, "SALE", Decimal("5.50"))
    two.count(tally.Outcome(tally.APPLIED), 6, [])
    two.sold("2026-11-21", False, "RETURN", Decimal("1.50"))
    one.merge(two)
    assert (one.rows, one.applied, one.duplicates, one.rejected, one.non_member) == (5, 3, 1, 1, 1)
    assert (one.member_sales, one.non_member_sales) == (Decimal("10.00"), Decimal("5.50"))
    assert one.reasons == {"bad_amount": 1}
    assert one.rejects == [tally.Rejected(4, "bad_amount", "no", ["x"])]
    assert one.days == {
        "2026-11-21": {
            "member_receipts": 1,
            "member_amount": Decimal("10.00"),
            "non_member_receipts": 1,
            "non_member_amount": Decimal("5.50"),
            "non_member_returns": 1,
            "non_member_return_amount": Decimal("1.50"),
        }
    }


def test_the_report_has_the_spec_fields() -> None:
    item = {
        "file_id": "f",
        "key": "incoming/s1/2026-11-21.csv",
        "store_id": "s1",
        "status": "completed",
        "rows": Decimal(3),
        "applied": Decimal(2),
        "duplicates": 0,
        "rejected": 1,
        "non_member": 1,
        "member_sales": Decimal("1.5"),
        "non_member_sales": 0,
        "reasons": {"bad_amount": 1, "x": 0},
        "started_at": "a",
        "finished_at": "b",
        "pk": "FILE#f",
        "etag": "e",
    }
    report = tally.report(item)
    assert list(report)[:14] == [
        "file_id",
        "key",
        "store_id",
        "status",
        "rows",
        "applied",
        "duplicates",
        "rejected",
        "non_member",
        "member_sales",
        "non_member_sales",
        "reasons",
        "started_at",
        "finished_at",
    ]
    assert (report["member_sales"], report["non_member_sales"], report["reasons"]) == (
        "1.50",
        "0.00",
        {"bad_amount": 1},
    )
    assert "pk" not in report and "etag" not in report
