"""Every endpoint through chalice.test.Client on moto: the happy paths and the business rules of
docs/program.md and docs/api.md (balances, tiers, returns, redemptions, caps, coupons, ledger paging)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib import clock, config
from chalicelib.program import Reward, load_program, parse_program
from chalicelib.services import points, wallet
from chalicelib.store import aws, keys
from tests.support import Api, api_on_fresh_table, assert_error, moto_stack, ok, readable

TZ = ZoneInfo("Asia/Shanghai")
PHONE_A, PHONE_B = "+86 138 0000 0001", "+86 138 0000 0002"
TABLE, BUS = "loyalty-api-test", "loyalty-api-test-bus"


# --- fixtures: one moto per module, a fresh table per test -----------------------------------


@pytest.fixture(scope="module")
def moto_module() -> Iterator[None]:
    with moto_stack(TABLE, BUS):
        yield


@pytest.fixture
def api(moto_module: None) -> Iterator[Api]:
    with api_on_fresh_table(TABLE) as client:
        yield client


# --- helpers ---------------------------------------------------------------------------------


def enrol(api: Api, member_id: str, **fields: Any) -> dict[str, Any]:
    return ok(api.post("/members", {"member_id": member_id, **fields}), 201)


def buy(api: Api, member_id: str, order_id: str, amount: str, **fields: Any) -> dict[str, Any]:
    body = {"order_id": order_id, "amount": amount, "currency": "CNY", **fields}
    return ok(api.post(f"/members/{member_id}/purchases", body), 201)


def view(api: Api, member_id: str) -> dict[str, Any]:
    return ok(api.get(f"/members/{member_id}"))


def available(api: Api, member_id: str) -> int:
    return int(view(api, member_id)["points"]["available"])


def ledger(api: Api, member_id: str) -> list[dict[str, Any]]:
    return ok(api.get(f"/members/{member_id}/ledger?limit=100"))["entries"]


def coupons(api: Api, member_id: str, status: str | None = None) -> list[dict[str, Any]]:
    query = f"?status={status}" if status else ""
    return ok(api.get(f"/members/{member_id}/coupons{query}"))["coupons"]


def stock_left(api: Api, reward_id: str) -> int | None:
    catalog = ok(api.get("/rewards"))["rewards"]
    return next(r for r in catalog if r["reward_id"] == reward_id).get("stock_left")


def today() -> date:
    return datetime.now(UTC).astimezone(TZ).date()


def next_year(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:  # 29 Feb
        return day.replace(year=day.year + 1, day=28)


def month_end_plus_12(day: date) -> str:
    """Points earned on `day` expire at the end of the 12th month after (docs/program.md, Expiry)."""
    index = day.year * 12 + day.month - 1 + 12
    year, month = divmod(index, 12)
    first_of_next = date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1)
    return (first_of_next - timedelta(days=1)).isoformat()


def partition_items(member_id: str) -> list[dict[str, Any]]:
    client = aws.client("dynamodb")
    answer = client.query(
        TableName=config.settings().table_name,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": keys.member_pk(member_id)}},
    )
    return answer["Items"]


# --- public and catalog endpoints ------------------------------------------------------------


def test_health_needs_no_key(api):
    assert api.get("/health", role=None) == (200, {"status": "ok"})


def test_program_serves_the_seed_program(api):
    program = ok(api.get("/program"))
    assert program["currency"] == "CNY" and program["timezone"] == "Asia/Shanghai"
    tiers = {t["code"]: (Decimal(t["threshold"]), Decimal(t["multiplier"])) for t in program["tiers"]}
    assert tiers == {
        "member": (0, 1),
        "silver": (2000, Decimal("1.2")),
        "gold": (8000, Decimal("1.5")),
        "platinum": (20000, 2),
    }
    assert [t["code"] for t in program["tiers"]] == ["member", "silver", "gold", "platinum"]
    assert program["welcome_points"] == 100 and program["referral_points"] == 200
    assert Decimal(program["categories"]["fresh"]) == 2
    assert {k: (v["points"], v["daily_limit"]) for k, v in program["activities"].items()} == {
        "check_in": (5, 1),
        "review": (20, 3),
        "share": (10, 2),
    }
    rewards = {r["reward_id"]: r["points_cost"] for r in program["rewards"]}
    assert rewards["cash-5"] == 500 and rewards["cash-20"] == 2000


def test_the_program_an_ops_key_reads_is_a_program_file_as_it_is(api):
    """Saved as it is, edited and handed to `loyalty simulate`: it loads to the program being run."""
    served = ok(api.get("/program", role="ops"))
    assert parse_program(json.dumps(served)) == load_program()
    assert served["points_payment"] == {"points_per_unit": 100, "max_share": "0.5", "min_points": 100}
    assert served["tiers"][2]["benefits"]["discount_percent"] == "5"


def test_rewards_show_stock_left_after_a_stocked_redemption(api):
    assert stock_left(api, "tote-bag") == 500
    assert stock_left(api, "lounge-pass") == 50
    assert stock_left(api, "cash-5") is None  # unlimited
    enrol(api, "m1")
    buy(api, "m1", "o1", "2000.00")  # -> silver, 2100 points
    redeemed = ok(api.post("/members/m1/redemptions", {"redemption_id": "r1", "reward_id": "tote-bag"}), 201)
    assert redeemed["balances"]["available"] == 2100 - 1200
    assert redeemed["coupon"]["reward_id"] == "tote-bag"
    assert stock_left(api, "tote-bag") == 499
    assert stock_left(api, "lounge-pass") == 50
    # a replay takes no second item from the stock
    again = api.post("/members/m1/redemptions", {"redemption_id": "r1", "reward_id": "tote-bag"})
    assert again == (201, redeemed)
    assert stock_left(api, "tote-bag") == 499


# --- members ---------------------------------------------------------------------------------


def test_enrol_gives_the_welcome_bonus_and_a_first_purchase_coupon(api):
    enrolled = enrol(api, "m1", phone=PHONE_A, email="a@example.cn", name="Ann", birthday="1990-05-01")
    assert enrolled["member_id"] == "m1"
    assert enrolled["entry"]["kind"] == "enrol" and enrolled["entry"]["points"] == 100
    assert enrolled["balances"] == {"available": 100, "pending": 0, "lifetime_earned": 100}
    [coupon] = enrolled["coupons"]
    assert coupon["kind"] == "first_purchase" and Decimal(coupon["value"]) == 10
    assert [c["code"] for c in coupons(api, "m1")] == [coupon["code"]]
    member = view(api, "m1")
    assert member["status"] == "active" and member["tier"]["code"] == "member"
    assert member["points"]["available"] == 100
    # without a member_id the engine picks one
    generated = ok(api.post("/members", {"name": "Bob"}), 201)
    assert generated["member_id"] and generated["member_id"] != "m1"
    assert view(api, generated["member_id"])["points"]["available"] == 100


def test_one_member_per_phone_and_per_email(api):
    enrol(api, "m1", phone=PHONE_A, email="ann@example.cn")
    same_phone = api.post("/members", {"member_id": "m2", "phone": "+8613800000001"})  # other spelling
    assert_error(same_phone, 409, "conflict")
    same_email = api.post("/members", {"member_id": "m3", "email": "ANN@Example.CN"})
    assert_error(same_email, 409, "conflict")
    for member_id in ("m2", "m3"):
        assert_error(api.get(f"/members/{member_id}"), 404, "member_not_found")
    enrol(api, "m4", phone=PHONE_B, email="bob@example.cn")  # other contacts are fine


def test_referrer_gets_200_on_the_referred_members_first_purchase_only(api):
    enrol(api, "ref")
    enrol(api, "new1", referrer_id="ref")
    enrol(api, "new2", referrer_id="ref")
    assert available(api, "ref") == 100  # nothing for the enrolment itself
    buy(api, "new1", "o1", "10.00")
    assert available(api, "ref") == 300
    buy(api, "new1", "o2", "10.00")
    assert available(api, "ref") == 300  # only the first purchase
    buy(api, "new2", "o3", "10.00")
    assert available(api, "ref") == 500  # once per referred member
    referrals = [e for e in ledger(api, "ref") if e["kind"] == "referral"]
    assert sorted((e["ref"], e["points"]) for e in referrals) == [("new1", 200), ("new2", 200)]
    assert available(api, "new1") == 100 + 10 + 10  # the referred member earns as usual


def test_enrol_with_an_unknown_referrer_is_refused(api):
    assert_error(api.post("/members", {"member_id": "m1", "referrer_id": "nobody"}), 400, "invalid_request")
    assert_error(api.post("/members", {"member_id": "m1", "referrer_id": "m1"}), 400, "invalid_request")
    assert_error(api.get("/members/m1"), 404, "member_not_found")


def test_member_view_has_the_documented_shape(api):
    enrol(api, "m1")
    member = view(api, "m1")
    assert {"member_id", "status", "enrolled_at", "tier", "points", "progress", "benefits"} <= set(member)
    assert {"code", "name", "since"} <= set(member["tier"])
    assert {"available", "pending", "lifetime_earned", "expiring"} <= set(member["points"])
    assert set(member["progress"]) >= {"qualifying_spend", "next_tier", "spend_to_next_tier", "percent"}
    assert member["progress"]["next_tier"] == "silver"
    assert Decimal(member["progress"]["spend_to_next_tier"]) == 2000
    assert member["benefit_labels"] == ["member prices", "birthday coupon 10"]
    assert member["benefits"] == {
        "discount_percent": "0",
        "shipping": "none",
        "priority_service": False,
        "early_access": False,
        "birthday_coupon": "10.00",
    }
    assert datetime.fromisoformat(member["enrolled_at"]).tzinfo is not None
    assert_error(api.get("/members/ghost"), 404, "member_not_found")


def test_patch_updates_the_profile_and_sets_the_birthday_only_once(api):
    enrol(api, "m1", phone=PHONE_A)
    patched = ok(api.call("PATCH", "/members/m1", {"name": "Ann", "preferences": {"sms": False, "lang": "zh"}}))
    assert patched["profile"]["name"] == "Ann"
    assert patched["profile"]["preferences"] == {"sms": False, "lang": "zh"}
    ok(api.call("PATCH", "/members/m1", {"birthday": "1990-05-01"}))
    ok(api.call("PATCH", "/members/m1", {"birthday": "1990-05-01"}))  # the same date again is fine
    changed = api.call("PATCH", "/members/m1", {"birthday": "1991-06-02", "name": "Other"})
    assert_error(changed, 409, "conflict")
    profile = view(api, "m1")["profile"]
    assert profile["birthday"] == "1990-05-01" and profile["name"] == "Ann"  # nothing of the refused PATCH
    assert_error(api.call("PATCH", "/members/ghost", {"name": "x"}), 404, "member_not_found")


def test_a_phone_change_frees_the_old_phone(api):
    enrol(api, "m1", phone=PHONE_A, email="a@example.cn")
    ok(api.call("PATCH", "/members/m1", {"phone": PHONE_B, "email": "new@example.cn"}))
    enrol(api, "m2", phone=PHONE_A, email="a@example.cn")  # the old contacts are free again
    assert_error(api.post("/members", {"member_id": "m3", "phone": PHONE_B}), 409, "conflict")
    assert_error(api.post("/members", {"member_id": "m3", "email": "new@example.cn"}), 409, "conflict")
    # taking another member's phone is refused and changes nothing
    assert_error(api.call("PATCH", "/members/m2", {"phone": PHONE_B, "name": "x"}), 409, "conflict")
    assert view(api, "m2")["profile"].get("name") is None
    assert view(api, "m2")["profile"]["phone"] == PHONE_A
    # removing a phone frees it too
    ok(api.call("PATCH", "/members/m2", {"phone": None}))
    assert view(api, "m2")["profile"]["phone"] is None
    enrol(api, "m3", phone=PHONE_A)


def test_delete_is_ops_only_erases_personal_data_and_keeps_the_ledger(api):
    enrol(api, "m1", phone=PHONE_A, email="ann@example.cn", name="Ann Li", birthday="1990-05-01")
    buy(api, "m1", "o1", "50.00")
    before_ledger = ledger(api, "m1")
    assert_error(api.call("DELETE", "/members/m1"), 403, "forbidden")  # storefront key
    assert view(api, "m1")["profile"]["name"] == "Ann Li"
    erased = ok(api.call("DELETE", "/members/m1", role="ops"))
    assert erased == {"member_id": "m1", "status": "erased"}
    assert ok(api.call("DELETE", "/members/m1", role="ops")) == erased  # again: same answer
    member = view(api, "m1")
    assert member["status"] == "erased"
    assert not any(member.get("profile", {}).values()), member
    assert ledger(api, "m1") == before_ledger  # the anonymised ledger stays
    stored = json.dumps([readable(item) for item in partition_items("m1")], ensure_ascii=False)
    for personal in ("Ann Li", "ann@example.cn", "138 0000 0001", "1990-05-01"):
        assert personal not in stored
    enrol(api, "m2", phone=PHONE_A, email="ann@example.cn")  # the contacts are reusable
    assert_error(api.call("DELETE", "/members/ghost", role="ops"), 404, "member_not_found")
    assert api.call("PATCH", "/members/m1", {"name": "back"})[0] == 404
    assert api.post("/members/m1/purchases", {"order_id": "o2", "amount": "1.00", "currency": "CNY"})[0] in (404, 422)
    assert ledger(api, "m1") == before_ledger


# --- purchases and returns -------------------------------------------------------------------


def test_purchases_apply_tier_and_category_multipliers_and_upgrade_at_once(api):
    enrol(api, "m1")
    assert buy(api, "m1", "o0", "10.99")["entry"]["points"] == 10  # rounded down per purchase
    upgrade = buy(api, "m1", "o1", "1989.01")  # reaches 2,000.00: silver from now on
    assert upgrade["entry"]["points"] == 1989  # earned at the tier the member had
    member = view(api, "m1")
    assert member["tier"]["code"] == "silver" and member["tier"]["name"] == "Silver (白银)"
    assert member["tier"]["since"] == today().isoformat()
    assert member["tier"]["review_at"] == next_year(today()).isoformat()
    assert "free standard shipping" in member["benefit_labels"]
    assert member["benefits"]["shipping"] == "standard" and member["benefits"]["birthday_coupon"] == "30.00"
    assert member["progress"]["next_tier"] == "gold"
    assert Decimal(member["progress"]["spend_to_next_tier"]) == 6000
    assert Decimal(member["progress"]["qualifying_spend"]) == 2000
    # silver 1.2x; fresh 2x on its line, the rest 1x: (50 * 2 + 50) * 1.2 = 180
    lines = [{"sku": "apple", "category": "fresh", "amount": "50.00"}]
    assert buy(api, "m1", "o2", "100.00", lines=lines)["entry"]["points"] == 180
    unknown_category = [{"sku": "toy", "category": "toys", "amount": "100.00"}]
    assert buy(api, "m1", "o3", "100.00", lines=unknown_category)["entry"]["points"] == 120
    assert available(api, "m1") == 100 + 10 + 1989 + 180 + 120
    assert view(api, "m1")["points"]["lifetime_earned"] == 100 + 10 + 1989 + 180 + 120


def test_gold_and_platinum_multipliers(api):
    enrol(api, "m1")
    buy(api, "m1", "o1", "8000.00")  # -> gold
    assert view(api, "m1")["tier"]["code"] == "gold"
    assert buy(api, "m1", "o2", "100.00")["entry"]["points"] == 150
    buy(api, "m1", "o3", "12000.00")  # -> platinum
    member = view(api, "m1")
    assert member["tier"]["code"] == "platinum" and member["progress"].get("next_tier") is None
    assert (
        buy(api, "m1", "o4", "100.00", lines=[{"sku": "x", "category": "fresh", "amount": "100.00"}])["entry"]["points"]
        == 400
    )


def test_expiring_points_follow_the_month_of_the_purchase(api):
    enrol(api, "m1")
    earlier = datetime.now(UTC) - timedelta(days=40)
    buy(api, "m1", "o1", "30.00", occurred_at=earlier.isoformat())
    buy(api, "m1", "o2", "20.00")
    expiring = view(api, "m1")["points"]["expiring"]
    assert expiring == [
        {"date": month_end_plus_12(earlier.astimezone(TZ).date()), "points": 30},
        {"date": month_end_plus_12(today()), "points": 100 + 20},
    ]


def test_occurred_at_must_be_within_the_allowed_window(api):
    enrol(api, "m1")
    now = datetime.now(UTC)
    soon = (now + timedelta(minutes=4)).isoformat()
    buy(api, "m1", "o1", "10.00", occurred_at=soon)  # clock skew is tolerated
    late = (now - timedelta(days=399)).isoformat()
    buy(api, "m1", "o2", "10.00", occurred_at=late)
    for order, moment in (("o3", now + timedelta(minutes=6)), ("o4", now - timedelta(days=401))):
        body = {"order_id": order, "amount": "10.00", "currency": "CNY", "occurred_at": moment.isoformat()}
        error = assert_error(api.post("/members/m1/purchases", body), 400, "invalid_request")
        assert error["details"][0]["field"] == "occurred_at"
    assert len(ledger(api, "m1")) == 3


def test_returns_claw_back_pro_rata_and_never_more_than_was_bought(api):
    enrol(api, "m1")
    buy(api, "m1", "o1", "33.33")  # 33 points
    first = ok(api.post("/members/m1/returns", {"return_id": "r1", "order_id": "o1", "amount": "10.00"}), 201)
    assert first["entry"]["points"] == -9  # floor(33 * 10 / 33.33)
    too_much = api.post("/members/m1/returns", {"return_id": "r2", "order_id": "o1", "amount": "23.34"})
    assert_error(too_much, 422, "return_exceeds_purchase")
    rest = ok(api.post("/members/m1/returns", {"return_id": "r3", "order_id": "o1", "amount": "23.33"}), 201)
    assert rest["entry"]["points"] == -24  # all 33 back in total, never more
    assert rest["balances"]["available"] == 100
    assert_error(
        api.post("/members/m1/returns", {"return_id": "r4", "order_id": "o1", "amount": "0.01"}),
        422,
        "return_exceeds_purchase",
    )
    assert [e["ref"] for e in ledger(api, "m1") if e["kind"] == "return"] == ["r3", "r1"]
    assert Decimal(view(api, "m1")["progress"]["qualifying_spend"]) == 0


def test_a_return_may_take_the_balance_below_zero(api):
    enrol(api, "m1")
    buy(api, "m1", "o1", "500.00")
    ok(api.post("/members/m1/redemptions", {"redemption_id": "d1", "points": 600, "reason": "gift"}), 201)
    back = ok(api.post("/members/m1/returns", {"return_id": "r1", "order_id": "o1", "amount": "500.00"}), 201)
    assert back["balances"]["available"] == -500
    assert buy(api, "m1", "o2", "600.00")["balances"]["available"] == 100  # the debt is settled first
    assert_error(
        api.post("/members/m1/redemptions", {"redemption_id": "d2", "points": 101, "reason": "gift"}),
        422,
        "insufficient_points",
    )


def test_returns_of_unknown_orders_are_404(api):
    enrol(api, "m1")
    enrol(api, "m2")
    buy(api, "m2", "o2", "10.00")
    for order in ("nope", "o2"):  # o2 is another member's order
        error = assert_error(
            api.post("/members/m1/returns", {"return_id": f"r-{order}", "order_id": order, "amount": "1.00"}),
            404,
            "not_found",
        )
        assert error["details"][0]["field"] == "order_id"
    assert_error(
        api.post("/members/ghost/returns", {"return_id": "r", "order_id": "o2", "amount": "1.00"}),
        404,
        "member_not_found",
    )
    assert len(ledger(api, "m1")) == 1 and len(ledger(api, "m2")) == 2


# --- redemptions -----------------------------------------------------------------------------


def test_redeem_points_or_a_reward(api):
    enrol(api, "m1")
    buy(api, "m1", "o1", "1000.00")
    by_points = ok(api.post("/members/m1/redemptions", {"redemption_id": "d1", "points": 60, "reason": "gift"}), 201)
    assert by_points["entry"]["points"] == -60 and by_points["balances"]["available"] == 1040
    reward = ok(api.post("/members/m1/redemptions", {"redemption_id": "d2", "reward_id": "cash-5"}), 201)
    assert reward["entry"]["points"] == -500 and reward["balances"]["available"] == 540
    code = reward["coupon"]["code"]
    wallet_coupon = next(c for c in coupons(api, "m1") if c["code"] == code)
    assert wallet_coupon["kind"] == "reward" and Decimal(wallet_coupon["value"]) == 5
    assert wallet_coupon["reward_id"] == "cash-5" and wallet_coupon["status"] == "available"
    assert view(api, "m1")["points"]["lifetime_earned"] == 1100  # spending is not un-earning


def test_redemption_refusals_change_nothing(api):
    enrol(api, "m1")
    buy(api, "m1", "o1", "1500.00")  # 1,600 points, still tier member
    before = (view(api, "m1")["points"], ledger(api, "m1"), coupons(api, "m1"))
    cases = [
        ({"redemption_id": "d1", "reward_id": "tote-bag"}, 422, "tier_too_low"),
        ({"redemption_id": "d2", "reward_id": "lounge-pass"}, 422, "tier_too_low"),
        ({"redemption_id": "d3", "reward_id": "cash-20"}, 422, "insufficient_points"),
        ({"redemption_id": "d4", "points": 1601, "reason": "gift"}, 422, "insufficient_points"),
        ({"redemption_id": "d5", "reward_id": "no-such-reward"}, 404, "not_found"),
    ]
    for body, status, code in cases:
        assert_error(api.post("/members/m1/redemptions", body), status, code)
    assert (view(api, "m1")["points"], ledger(api, "m1"), coupons(api, "m1")) == before
    assert stock_left(api, "tote-bag") == 500 and stock_left(api, "lounge-pass") == 50
    assert_error(api.post("/members/ghost/redemptions", cases[0][0]), 404, "member_not_found")


@pytest.fixture
def one_mug_in_stock(monkeypatch):
    """The program with one more reward, stocked with a single item."""
    mug = Reward(
        reward_id="mug",
        name="Mug",
        points_cost=50,
        min_tier="member",
        coupon_value=Decimal("0.00"),
        coupon_valid_days=30,
        stock=1,
    )
    program = load_program()
    patched = program.model_copy(update={"rewards": [*program.rewards, mug]})
    for module in (points, wallet):
        monkeypatch.setattr(module, "load_program", lambda *args, **kwargs: patched)
    return patched


def test_a_stocked_reward_runs_out(api, one_mug_in_stock):
    enrol(api, "m1")
    enrol(api, "m2")
    assert stock_left(api, "mug") == 1
    ok(api.post("/members/m1/redemptions", {"redemption_id": "d1", "reward_id": "mug"}), 201)
    assert stock_left(api, "mug") == 0
    before = (view(api, "m2")["points"], ledger(api, "m2"), coupons(api, "m2"))
    assert_error(
        api.post("/members/m2/redemptions", {"redemption_id": "d2", "reward_id": "mug"}), 422, "reward_out_of_stock"
    )
    assert (view(api, "m2")["points"], ledger(api, "m2"), coupons(api, "m2")) == before
    assert stock_left(api, "mug") == 0
    # other rewards are not affected
    ok(api.post("/members/m2/redemptions", {"redemption_id": "d3", "points": 10, "reason": "gift"}), 201)


# --- activities, coupons, adjustments --------------------------------------------------------


def test_activities_are_capped_per_day(api):
    enrol(api, "m1")
    activity = ok(api.post("/members/m1/activities", {"activity_id": "c1", "type": "check_in"}), 201)
    assert activity["entry"]["points"] == 5 and activity["balances"]["available"] == 105
    assert_error(
        api.post("/members/m1/activities", {"activity_id": "c2", "type": "check_in"}), 422, "activity_limit_reached"
    )
    for index in range(3):
        ok(api.post("/members/m1/activities", {"activity_id": f"rv{index}", "type": "review"}), 201)
    assert_error(
        api.post("/members/m1/activities", {"activity_id": "rv3", "type": "review"}), 422, "activity_limit_reached"
    )
    for index in range(2):
        ok(api.post("/members/m1/activities", {"activity_id": f"sh{index}", "type": "share"}), 201)
    assert_error(
        api.post("/members/m1/activities", {"activity_id": "sh2", "type": "share"}), 422, "activity_limit_reached"
    )
    assert_error(api.post("/members/m1/activities", {"activity_id": "x1", "type": "dance"}), 400, "invalid_request")
    assert available(api, "m1") == 100 + 5 + 3 * 20 + 2 * 10
    assert len(ledger(api, "m1")) == 1 + 1 + 3 + 2
    # the cap is per member
    enrol(api, "m2")
    ok(api.post("/members/m2/activities", {"activity_id": "c1", "type": "check_in"}), 201)


def test_coupon_wallet_and_a_coupon_is_used_once(api):
    code = enrol(api, "m1")["coupons"][0]["code"]
    enrol(api, "m2")
    used = ok(api.post(f"/members/m1/coupons/{code}/use", {"order_id": "o1"}))
    assert used["coupon"]["status"] == "used" and used["coupon"]["used_order_id"] == "o1"
    assert ok(api.post(f"/members/m1/coupons/{code}/use", {"order_id": "o1"})) == used  # same order: same answer
    assert_error(api.post(f"/members/m1/coupons/{code}/use", {"order_id": "o2"}), 422, "coupon_used")
    assert [c["code"] for c in coupons(api, "m1", "used")] == [code]
    assert coupons(api, "m1", "available") == []
    assert_error(api.post("/members/m1/coupons/NOPE123456/use", {"order_id": "o1"}), 404, "not_found")
    assert_error(api.post(f"/members/m2/coupons/{code}/use", {"order_id": "o1"}), 404, "not_found")  # not m2's
    assert_error(api.post(f"/members/ghost/coupons/{code}/use", {"order_id": "o1"}), 404, "member_not_found")
    assert_error(api.get("/members/m1/coupons?status=bogus"), 400, "invalid_request")
    assert_error(api.get("/members/ghost/coupons"), 404, "member_not_found")
    assert coupons(api, "m2")[0]["status"] == "available"


def test_an_expired_coupon_cannot_be_used(api, monkeypatch):
    code = enrol(api, "m1")["coupons"][0]["code"]  # valid 30 days
    later = datetime.now(UTC) + timedelta(days=31)
    monkeypatch.setattr(clock, "now", lambda: later)
    assert coupons(api, "m1")[0]["status"] == "expired"
    assert_error(api.post(f"/members/m1/coupons/{code}/use", {"order_id": "o1"}), 422, "coupon_expired")
    assert coupons(api, "m1", "expired")[0]["code"] == code


def test_adjustments_are_ops_only(api):
    enrol(api, "m1")
    body = {"adjustment_id": "j1", "points": 50, "reason": "goodwill"}
    assert_error(api.post("/members/m1/adjustments", body), 403, "forbidden")
    assert available(api, "m1") == 100 and len(ledger(api, "m1")) == 1
    credit = ok(api.post("/members/m1/adjustments", body, role="ops"), 201)
    assert credit["entry"]["kind"] == "adjustment" and credit["balances"]["available"] == 150
    debit = ok(
        api.post("/members/m1/adjustments", {"adjustment_id": "j2", "points": -30, "reason": "fix"}, role="ops"), 201
    )
    assert debit["balances"]["available"] == 120
    too_much = {"adjustment_id": "j3", "points": -121, "reason": "fix"}
    assert_error(api.post("/members/m1/adjustments", too_much, role="ops"), 422, "insufficient_points")
    assert available(api, "m1") == 120
    assert_error(api.post("/members/ghost/adjustments", body, role="ops"), 404, "member_not_found")


# --- ledger ----------------------------------------------------------------------------------


def _page_all(api: Api, member_id: str, limit: int) -> tuple[list[dict[str, Any]], list[str]]:
    entries: list[dict[str, Any]] = []
    cursors: list[str] = []
    cursor = None
    for _ in range(50):
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = ok(api.get(f"/members/{member_id}/ledger{query}"))
        assert len(page["entries"]) <= limit
        entries += page["entries"]
        cursor = page.get("next_cursor")
        if not cursor:
            return entries, cursors
        cursors.append(cursor)
    raise AssertionError("the ledger never ended")


def test_ledger_pages_newest_first(api):
    enrol(api, "m1")
    buy(api, "m1", "o1", "10.00")
    ok(api.post("/members/m1/activities", {"activity_id": "a1", "type": "check_in"}), 201)
    ok(api.post("/members/m1/activities", {"activity_id": "a2", "type": "review"}), 201)
    buy(api, "m1", "o2", "20.00")
    ok(api.post("/members/m1/redemptions", {"redemption_id": "d1", "points": 10, "reason": "gift"}), 201)
    ok(api.post("/members/m1/returns", {"return_id": "r1", "order_id": "o2", "amount": "20.00"}), 201)
    expected = ["return#r1", "redemption#d1", "purchase#o2", "activity#a2", "activity#a1", "purchase#o1", "enrol#m1"]
    assert [e["entry_id"] for e in ledger(api, "m1")] == expected
    paged, cursors = _page_all(api, "m1", 3)
    assert [e["entry_id"] for e in paged] == expected
    assert len(cursors) >= 2
    assert all("{" not in cursor and "MEMBER#" not in cursor for cursor in cursors)  # opaque
    last = paged[0]
    assert last["points"] == -20 and last["balances_after"]["available"] == 100 + 10 + 5 + 20 - 10
    assert sum(e["points"] for e in paged) == available(api, "m1")


def _tamper(cursor: str) -> list[str]:
    payload, signature = cursor.rsplit(".", 1)
    data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    data["k"]["ts"]["S"] = "9999"  # a forged position, re-encoded with the old signature
    forged = base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")
    flipped = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    return [f"{forged}.{signature}", f"{payload}.{flipped}", payload, "abc", "a.b.c", "%C3%A9.%C3%A9", f"{payload}.é"]


def test_ledger_cursors_are_signed_and_bound_to_the_member(api):
    enrol(api, "m1")
    enrol(api, "m2")
    for index in range(3):
        ok(api.post("/members/m1/activities", {"activity_id": f"a{index}", "type": "review"}), 201)
        ok(api.post("/members/m2/activities", {"activity_id": f"a{index}", "type": "review"}), 201)
    cursor = ok(api.get("/members/m1/ledger?limit=2"))["next_cursor"]
    assert cursor
    assert ok(api.get(f"/members/m1/ledger?limit=2&cursor={cursor}"))["entries"]
    error = assert_error(api.get(f"/members/m2/ledger?limit=2&cursor={cursor}"), 400, "invalid_request")
    assert error["details"][0]["field"] == "cursor"
    for bad in _tamper(cursor):
        assert_error(api.get(f"/members/m1/ledger?limit=2&cursor={bad}"), 400, "invalid_request")


def test_ledger_query_is_validated(api):
    enrol(api, "m1")
    for query in ("limit=0", "limit=101", "limit=abc", "limit=-1", "bogus=1", "cursor=" + "a" * 2001):
        assert_error(api.get(f"/members/m1/ledger?{query}"), 400, "invalid_request")
    assert_error(api.get("/members/ghost/ledger"), 404, "member_not_found")
