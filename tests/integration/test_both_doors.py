"""The storefront API and a store's sales file accept and refuse the same values, for the same reason:
both take their field rules from domain/commands.py and credit through the same commands."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.integration.test_ingest_files import (  # the shared harness
    HEADER,
    Harness,
    available,
    enrol,
    ingest,  # noqa: F401  (fixture)
)
from tests.support import Api, api_client

# The reason a sales file gives for the field the API names in its 400 details.
FILE_REASON = {"amount": "bad_amount", "currency": "bad_currency", "order_id": "bad_receipt_id"}

AMOUNTS = ["0.001", "0.01", "9999999.99", "10000000.00", "-1", "1e3", "12.5", "١٠٠", "１０", "1,000.00", " 7.00"]
CURRENCIES = ["cny", "CNY", "USD"]
IDS = ["a#b", "a/b", "x" * 65, "y" * 64, "ok:1.2-3_4"]


@pytest.fixture
def api(ingest: Harness) -> Iterator[Api]:  # noqa: F811
    with api_client() as client:
        yield client


def _api_outcome(api: Api, body: dict[str, str]) -> str:
    status, answer = api.post("/members/m-api/purchases", body)
    if status == 201:
        return "accepted"
    assert status == 400, answer
    fields = {detail["field"] for detail in answer["error"]["details"]}
    assert len(fields) == 1, answer
    return FILE_REASON[fields.pop()]


def _row(receipt: str, amount: str, currency: str) -> str:
    quoted = ",".join(f'"{value}"' for value in ("s1", receipt, "2026-11-21T18:03:11+08:00", "SALE", amount, currency))
    return f'{quoted},"m-file",,'


def test_purchases_are_accepted_and_refused_alike_through_both_doors(ingest: Harness, api: Api) -> None:  # noqa: F811
    # Given one member per door
    enrol("m-api", "m-file")
    cases = (
        [(f"amount-{n}", amount, "CNY") for n, amount in enumerate(AMOUNTS)]
        + [(f"currency-{n}", "10.00", currency) for n, currency in enumerate(CURRENCIES)]
        + [(order_id, "10.00", "CNY") for order_id in IDS]
    )
    # When each value goes through the API, and all of them as rows of one store file
    through_api = [
        _api_outcome(
            api,
            {
                "order_id": order_id,
                "amount": amount,
                "currency": currency,
                "occurred_at": "2026-11-21T18:03:11+08:00",
            },
        )
        for order_id, amount, currency in cases
    ]
    rows = [_row(order_id, amount, currency) for order_id, amount, currency in cases]
    report = ingest.run("\n".join([HEADER, *rows]) + "\n")
    reasons = ingest.reasons() if report["rejected"] else {}
    through_file = [reasons.get(number, "accepted") for number in range(2, len(cases) + 2)]  # header: row 1
    # Then both doors agree on every value, and the accepted ones credited the same points
    assert list(zip(cases, through_api, strict=True)) == list(zip(cases, through_file, strict=True))
    assert through_api.count("accepted") == 7  # 0.01, 9999999.99, 12.5, " 7.00"; CNY; the two valid ids
    assert report["applied"] == through_file.count("accepted")
    assert available("m-api") == available("m-file")


def test_a_return_beyond_what_is_left_is_refused_alike(ingest: Harness, api: Api) -> None:  # noqa: F811
    # Given a purchase of 100.00 through each door, 60.00 of it returned
    enrol("m-api", "m-file")
    at = "2026-11-21T18:03:11+08:00"
    assert api.post("/members/m-api/purchases", {"order_id": "o1", "amount": "100.00", "currency": "CNY"})[0] == 201
    first = {"return_id": "r1", "order_id": "o1", "amount": "60.00", "occurred_at": at}
    assert api.post("/members/m-api/returns", first)[0] == 201
    # When 50.00 more is returned
    status, answer = api.post("/members/m-api/returns", {**first, "return_id": "r2", "amount": "50.00"})
    rows = [
        f"s1,S1,{at},SALE,100.00,CNY,m-file,,",
        f"s1,R1,{at},RETURN,60.00,CNY,m-file,S1,",
        f"s1,R2,{at},RETURN,50.00,CNY,m-file,S1,",
        f"s1,S2,{at},SALE,100.00,CNY,,,",  # a non-member sale: the same rule
        f"s1,R3,{at},RETURN,60.00,CNY,,S2,",
        f"s1,R4,{at},RETURN,50.00,CNY,,S2,",
    ]
    ingest.run("\n".join([HEADER, *rows]) + "\n")
    # Then both doors refuse it as return_exceeds_purchase and keep the same balance
    assert (status, answer["error"]["code"]) == (422, "return_exceeds_purchase")
    assert ingest.reasons() == {4: "return_exceeds_purchase", 7: "return_exceeds_purchase"}
    assert available("m-api") == available("m-file")
