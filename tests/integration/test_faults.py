"""Injected store faults: a contended or throttled write answers 503 with Retry-After and
writes nothing; the member's books are untouched."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib.store import dynamo


class FailingTransactions:
    """Wraps the real client; every TransactWriteItems fails with the given error code."""

    def __init__(self, real: Any, code: str, reasons: list[dict[str, str]] | None = None) -> None:
        self.real, self.code, self.reasons = real, code, reasons
        self.attempts = 0

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.attempts += 1
        response: dict[str, Any] = {"Error": {"Code": self.code, "Message": "injected"}}
        if self.reasons is not None:
            response["CancellationReasons"] = self.reasons
        raise ClientError(response, "TransactWriteItems")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def member(api):
    status, _ = api.post("/members", {"member_id": "f1"})
    assert status == 201
    return "f1"


@pytest.mark.parametrize(
    ("code", "reasons"),
    [
        ("TransactionCanceledException", [{"Code": "TransactionConflict"}, {"Code": "None"}]),
        ("ProvisionedThroughputExceededException", None),
        ("ThrottlingException", None),
    ],
)
def test_contended_or_throttled_write_answers_503_and_writes_nothing(api, member, monkeypatch, code, reasons):
    # Given a member with 100 points and a store whose transactions always fail
    real = dynamo.db()
    failing = FailingTransactions(real, code, reasons)
    monkeypatch.setattr(dynamo, "db", lambda: failing)
    # When a purchase is posted
    status, body = api.post("/members/f1/purchases", {"order_id": "o-503", "amount": "50.00", "currency": "CNY"})
    # Then the client is told to retry, and nothing was written
    assert status == 503, body
    assert body["error"]["code"] == "busy"
    assert failing.attempts >= 1
    monkeypatch.setattr(dynamo, "db", lambda: real)
    status, view = api.get("/members/f1")
    assert view["points"]["available"] == 100
    status, ledger = api.get("/members/f1/ledger")
    assert [e["kind"] for e in ledger["entries"]] == ["enrol"]


def test_retry_after_header_on_busy(api, member, monkeypatch):
    failing = FailingTransactions(dynamo.db(), "TransactionCanceledException", [{"Code": "TransactionConflict"}])
    monkeypatch.setattr(dynamo, "db", lambda: failing)
    response = api.client.http.post(
        "/members/f1/redemptions",
        headers={"Authorization": f"Bearer {api.keys['storefront']}", "Content-Type": "application/json"},
        body='{"redemption_id": "r1", "points": 10, "reason": "x"}',
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    # A lost race is retried with a fresh read before giving up
    assert failing.attempts == 20
