def test_enrol_purchase_redeem_flow(api):
    status, enrolled = api.post("/members", {"member_id": "m1", "phone": "+86 138 0000 0001"})
    assert status == 201, enrolled
    assert enrolled["balances"]["available"] == 100
    status, bought = api.post("/members/m1/purchases", {"order_id": "o1", "amount": "123.45", "currency": "CNY"})
    assert status == 201, bought
    assert bought["entry"]["points"] == 123
    assert bought["balances"]["available"] == 223
    status, again = api.post("/members/m1/purchases", {"order_id": "o1", "amount": "123.45", "currency": "CNY"})
    assert (status, again) == (201, bought)
    status, view = api.get("/members/m1")
    assert status == 200, view
    assert view["points"]["available"] == 223
    status, redeemed = api.post("/members/m1/redemptions", {"redemption_id": "r1", "points": 200, "reason": "gift"})
    assert status == 201, redeemed
    assert redeemed["balances"]["available"] == 23
    status, err = api.post("/members/m1/redemptions", {"redemption_id": "r2", "points": 200, "reason": "gift"})
    assert status == 422 and err["error"]["code"] == "insufficient_points"
