"""Formats at the edge: money as exact 2-place strings, times only as ISO 8601 text, nulls shown."""


def test_amounts_are_normalised_to_cents_and_exponents_refused(api):
    api.post("/members", {"member_id": "fm1"})
    status, body = api.post("/members/fm1/purchases", {"order_id": "o1", "amount": "12.5", "currency": "CNY"})
    assert status == 201
    assert body["entry"]["details"]["amount"] == "12.50"
    status, ledger = api.get("/members/fm1/ledger")
    assert ledger["entries"][0]["details"]["amount"] == "12.50"
    assert ledger["entries"][0]["details"]["lapsed_points"] == 0
    status, error = api.post("/members/fm1/purchases", {"order_id": "o2", "amount": "1e3", "currency": "CNY"})
    assert (status, error["error"]["code"]) == (400, "invalid_request")
    assert error["error"]["details"][0]["field"] == "amount"


def test_numeric_timestamps_are_refused(api):
    api.post("/members", {"member_id": "fm2"})
    status, error = api.post(
        "/members/fm2/purchases", {"order_id": "o1", "amount": "10", "currency": "CNY", "occurred_at": 1790000000}
    )
    assert (status, error["error"]["details"][0]["field"]) == (400, "occurred_at")
    status, error = api.post("/members", {"member_id": "fm3", "birthday": 631152000})
    assert (status, error["error"]["details"][0]["field"]) == (400, "birthday")
    assert api.get("/members/fm3")[0] == 404


def test_member_view_shows_every_field_even_when_empty(api):
    api.post("/members", {"member_id": "fm4"})
    status, view = api.get("/members/fm4")
    assert status == 200
    assert view["tier"]["review_at"] is None
    assert view["progress"] == {
        "qualifying_spend": "0.00",
        "next_tier": "silver",
        "spend_to_next_tier": "2000.00",
        "percent": "0.0",
        "spend_to_keep_tier": "0.00",
    }
