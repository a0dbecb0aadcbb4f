"""Sales files' optional `staff_id` column (moto): a member sale's clerk lands on the purchase's ledger
entry as through the API; a bad staff id is refused alike by both doors (bad_staff_id / 400 on
staff_id) and writes nothing; the clerk is part of what makes a receipt the same receipt."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.store import dynamo, keys
from tests.integration.test_ingest_files import (  # the shared harness
    HEADER,
    Harness,
    available,
    enrol,
    ingest,  # noqa: F401  (fixture)
)
from tests.support import Api, api_client

AT = "2026-11-21T18:03:11+08:00"
STAFF_HEADER = HEADER + ",staff_id"
STAFF_IDS = ["c-1", "clerk:7.a_b", "c#1", "c/1", "c 1", "ｃ1", "_c1", "x" * 64, "x" * 65]


@pytest.fixture
def api(ingest: Harness) -> Iterator[Api]:  # noqa: F811
    with api_client() as client:
        yield client


def _row(receipt: str, staff: str, member: str = "m-file", amount: str = "10.00") -> str:
    return f'"s1","{receipt}","{AT}","SALE","{amount}","CNY","{member}","","","{staff}"'


def _entry(member_id: str, ref: str) -> dict[str, Any]:
    item = dynamo.get(keys.entry_key(member_id, f"purchase#{ref}"))
    assert item is not None
    return item


def test_a_member_sales_clerk_is_on_its_ledger_entry(ingest: Harness) -> None:  # noqa: F811
    enrol("m-file")
    report = ingest.run(
        "\n".join([STAFF_HEADER, _row("r1", "s1-clerk2"), _row("r2", ""), _row("r3", "c9", member="")]) + "\n"
    )
    assert (report["applied"], report["rejected"]) == (3, 0)
    assert _entry("m-file", "s1/r1")["details"]["staff_id"] == "s1-clerk2"
    assert "staff_id" not in _entry("m-file", "s1/r2")["details"]
    # the same file again: duplicates; the same receipt with another clerk: another receipt
    assert (
        ingest.run("\n".join([STAFF_HEADER, _row("r1", "s1-clerk2")]) + "\n", "2026-11-21-again.csv")["duplicates"] == 1
    )
    other = ingest.run("\n".join([STAFF_HEADER, _row("r1", "s1-clerk3")]) + "\n", "2026-11-21-fixed.csv")
    assert other["reasons"] == {"receipt_conflict": 1}
    # and a file without the column still matches receipts claimed without a clerk
    assert (
        ingest.run("\n".join([HEADER, f"s1,r2,{AT},SALE,10.00,CNY,m-file,,"]) + "\n", "2026-11-21-old.csv")[
            "duplicates"
        ]
        == 1
    )


def test_staff_ids_are_accepted_and_refused_alike_through_both_doors(ingest: Harness, api: Api) -> None:  # noqa: F811
    enrol("m-api", "m-file")
    through_api = []
    for n, staff in enumerate(STAFF_IDS):
        body = {"order_id": f"o{n}", "amount": "10.00", "currency": "CNY", "store_id": "s1", "staff_id": staff}
        status, answer = api.post("/members/m-api/purchases", {**body, "occurred_at": AT})
        if status == 201:
            through_api.append("accepted")
        else:
            assert status == 400 and [d["field"] for d in answer["error"]["details"]] == ["staff_id"], answer
            through_api.append("bad_staff_id")
    report = ingest.run("\n".join([STAFF_HEADER, *(_row(f"r{n}", s) for n, s in enumerate(STAFF_IDS))]) + "\n")
    reasons = ingest.reasons()
    through_file = [reasons.get(number, "accepted") for number in range(2, len(STAFF_IDS) + 2)]
    assert through_api == through_file
    assert through_api.count("accepted") == 3  # c-1, clerk:7.a_b, 64 x's
    assert report["applied"] == 3 and available("m-api") == available("m-file")
