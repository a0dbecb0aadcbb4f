"""The incentive figures: what a ledger entry, a coupon and a profile add to the day rows
(domain/kpi_rollup.py), and how the rows become the figures of GET /kpis (domain/kpi_incentives.py)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain import kpi_rollup
from chalicelib.domain.kpi_incentives import SOURCES, Catalog, figures, outstanding_value
from chalicelib.domain.kpi_report import Rows, report
from chalicelib.domain.kpi_rollup import Deltas

TZ = ZoneInfo("Asia/Shanghai")
DAY = date(2026, 5, 4)
AT = "2026-05-04T10:00:00+08:00"


def entry(kind: str, points: int, **details: Any) -> dict[str, Any]:
    return {"kind": kind, "points": points, "occurred_at": AT, "details": details}


def day_row(deltas: Deltas, day: date = DAY) -> Counter[str]:
    return deltas.days.get(day, Counter())


def test_a_purchase_or_enrolment_splits_its_points_into_its_own_and_campaigns_and_a_purchase_counts_its_spend() -> None:
    campaigns = [{"campaign_id": "wed", "points": 30}, {"campaign_id": "fresh", "points": 12}]
    purchase = entry("purchase", 142, amount="1000.50", tier="silver", order_number=2, campaigns=campaigns)

    row = day_row(kpi_rollup.entry_deltas(purchase, TZ, 2))

    assert row["points_earned"] == 142
    assert (row["src_purchase"], row["src_campaign"]) == (100, 42)
    assert row["spend_silver"] == 100050  # minor units of the currency
    assert kpi_rollup.entry_deltas(purchase, TZ, 0).days[DAY]["spend_silver"] == 1001  # half up, no places

    bonus = [{"campaign_id": "welcome-week", "points": 50}, {"campaign_id": "coupon-only", "points": 0}]
    enrolled = day_row(kpi_rollup.entry_deltas(entry("enrol", 150, reason="welcome", campaigns=bonus), TZ))
    assert (enrolled["src_welcome"], enrolled["src_campaign"], enrolled["points_earned"]) == (100, 50, 150)


def test_each_kind_counts_once_in_earned_redeemed_or_expired_and_credits_by_source() -> None:
    cases = {
        "enrol": ("points_earned", {"src_welcome": 100}),
        "referral": ("points_earned", {"src_referral": 100}),
        "points_payment_refund": ("points_earned", {"src_points_payment_refund": 100}),
        "birthday": ("points_earned", {"src_birthday": 100}),
        "a_future_kind": ("points_earned", {"src_a_future_kind": 100}),
        "points_payment": ("points_redeemed", {"points_paid": -100}),
        "redemption": ("points_redeemed", {}),
        "expire": ("points_expired", {}),
    }
    for kind, (flow, extra) in cases.items():
        row = day_row(kpi_rollup.entry_deltas(entry(kind, 100), TZ))
        others = {name for name in ("points_earned", "points_redeemed", "points_expired") if name != flow}
        assert abs(row[flow]) == 100 and not others & set(row), kind
        assert {name: row[name] for name in extra} == extra, kind
    taken = day_row(kpi_rollup.entry_deltas(entry("points_payment", -300, order_id="o1", value="3.00"), TZ))
    assert (taken["points_redeemed"], taken["points_paid"]) == (300, 300)
    refund = day_row(kpi_rollup.entry_deltas(entry("return", -40, order_id="o1"), TZ))
    assert (refund["points_earned"], refund["src_return"]) == (-40, -40)


def test_a_reward_redemption_counts_the_reward() -> None:
    row = day_row(kpi_rollup.entry_deltas(entry("redemption", -500, reward_id="cash-5", coupon_code="C"), TZ))
    assert (row["rwd_cash-5"], row["points_redeemed"]) == (1, 500)
    plain = day_row(kpi_rollup.entry_deltas(entry("redemption", -50, reason="gift"), TZ))
    assert not [name for name in plain if name.startswith("rwd_")]


def coupon(status: str = "available", **more: Any) -> dict[str, Any]:
    return {
        "kind": "birthday",
        "issued_at": AT,
        "expires_at": "2026-06-03T10:00:00+08:00",
        "coupon_status": status,
        **more,
    }


def test_a_coupon_is_issued_then_expired_on_its_last_day_unless_it_is_used() -> None:
    issued = kpi_rollup.coupon_deltas(None, coupon(), TZ)
    assert issued.days == {
        DAY: Counter({"cpn_issued_birthday": 1}),
        date(2026, 6, 3): Counter({"cpn_expired_birthday": 1}),
    }

    used = kpi_rollup.coupon_deltas(coupon(), coupon("used", used_at="2026-05-20T23:30:00+08:00"), TZ)
    assert used.days == {
        date(2026, 5, 20): Counter({"cpn_used_birthday": 1}),
        date(2026, 6, 3): Counter({"cpn_expired_birthday": -1}),
    }

    everything = Deltas()
    everything.merge(issued)
    everything.merge(used)
    assert everything.days == {
        DAY: Counter({"cpn_issued_birthday": 1}),
        date(2026, 5, 20): Counter({"cpn_used_birthday": 1}),
    }
    assert kpi_rollup.coupon_deltas(coupon(), coupon(), TZ).empty()  # rewritten unchanged: nothing
    assert kpi_rollup.coupon_deltas(coupon(), None, TZ).empty()  # deleted (erasure): its counts stand


def profile(segment: str | None, segment_day: str | None = None, **more: Any) -> dict[str, Any]:
    return {
        "status": "active",
        "tier": "member",
        "changed_at": AT,
        "segment": segment,
        "segment_day": segment_day,
        **more,
    }


def test_the_stored_segment_is_a_stock_dated_by_the_day_it_is_as_of() -> None:
    written = kpi_rollup.profile_deltas(None, profile("new", "2026-05-04"), TZ, fallback=None)  # type: ignore[arg-type]
    assert written.days[DAY]["seg_new"] == 1 and written.months["2026-05"]["seg_new"] == 1

    # The audience job re-stores it on the day it changes without a write (changed_at is unchanged).
    drifted = kpi_rollup.profile_deltas(
        profile("new", "2026-05-04"),
        profile("promising", "2026-05-19"),
        TZ,
        fallback=None,  # type: ignore[arg-type]
    )
    assert drifted.days == {date(2026, 5, 19): Counter({"seg_new": -1, "seg_promising": 1})}

    erased = kpi_rollup.profile_deltas(
        profile("promising", "2026-05-19"),
        profile(None, status="erased"),
        TZ,
        fallback=None,  # type: ignore[arg-type]
    )
    assert erased.days[DAY]["seg_promising"] == -1  # dated by the erasure's write
    assert kpi_rollup.is_stock_attribute("seg_lost") and not kpi_rollup.is_stock_attribute("spend_gold")


CATALOG = Catalog(tiers=("member", "gold"), rewards=("cash-5", "tote"), segments=("new", "lost"), points_per_unit=100)


def test_figures_list_every_known_key_and_what_else_the_rows_hold() -> None:
    flows = Counter(
        {
            "src_purchase": 500,
            "src_campaign": 40,
            "src_return": -20,
            "cpn_issued_birthday": 2,
            "cpn_used_birthday": 1,
            "cpn_expired_welcome_back": 3,
            "cpn_issued_a_new_kind": 1,
            "rwd_cash-5": 2,
            "rwd_retired": 1,
            "spend_gold": 123456,
            "spend_platinum": 5,
            "points_paid": 300,
        }
    )
    stocks = Counter({"seg_new": 4, "seg_champions": 1, "outstanding": 12345})

    found = figures(flows, stocks, CATALOG)

    assert list(found["points_by_source"]) == list(SOURCES)
    assert sum(found["points_by_source"].values()) == 520
    assert found["points_paid"] == 300
    coupons = found["coupons"]
    assert (coupons["issued"], coupons["used"], coupons["expired"]) == (3, 1, 3)
    assert coupons["by_kind"]["birthday"] == {"issued": 2, "used": 1, "expired": 0}
    assert coupons["by_kind"]["a_new_kind"] == {"issued": 1, "used": 0, "expired": 0}
    assert coupons["by_kind"]["first_purchase"] == {"issued": 0, "used": 0, "expired": 0}
    assert found["rewards_redeemed"] == {"cash-5": 2, "tote": 0, "retired": 1}
    assert found["spend_by_tier"] == {"member": "0.00", "gold": "1234.56", "platinum": "0.05"}
    assert found["members_by_segment"] == {"new": 4, "lost": 0, "champions": 1}
    assert found["points_outstanding_value"] == "123.45"


def test_the_liability_in_money_needs_the_points_payment_rate() -> None:
    assert outstanding_value(12345, Catalog()) is None
    assert outstanding_value(12345, Catalog(points_per_unit=100, currency_places=2)) == "123.45"
    assert outstanding_value(12345, Catalog(points_per_unit=1000, currency_places=2)) == "12.35"  # half up
    assert outstanding_value(0, Catalog(points_per_unit=100, currency_places=0)) == "0"


def test_the_report_sums_flows_over_the_range_and_takes_segments_at_its_end() -> None:
    first, second = date(2026, 5, 1), date(2026, 5, 2)
    rows = Rows(
        days={
            first: {"src_welcome": 100, "points_earned": 100, "seg_new": 1, "cpn_issued_reward": 1},
            second: {"src_activity": 5, "points_earned": 5, "seg_new": -1, "seg_lost": 1, "rwd_cash-5": 1},
        },
        months_before=[{"seg_new": 2, "outstanding": 400, "src_welcome": 999}],  # a month row's flows never count
        stores={},
    )

    answer = report(rows, first, second, ["member", "gold"], catalog=CATALOG)

    day1, day2 = answer["days"]
    assert (day1["points_by_source"]["welcome"], day2["points_by_source"]["activity"]) == (100, 5)
    assert (day1["members_by_segment"], day2["members_by_segment"]) == ({"new": 3, "lost": 0}, {"new": 2, "lost": 1})
    total = answer["total"]
    assert total["points_by_source"]["welcome"] == 100 and total["points_by_source"]["activity"] == 5
    assert sum(total["points_by_source"].values()) == total["points_earned"]
    assert total["members_by_segment"] == day2["members_by_segment"]
    assert total["coupons"]["issued"] == 1 and total["rewards_redeemed"]["cash-5"] == 1
    assert total["points_outstanding_value"] == "4.00"  # 400 points from the month rows, at 100 a unit
    assert total["spend_by_tier"] == {"member": "0.00", "gold": "0.00"}
    assert report(rows, first, second, ["member"])["total"]["points_outstanding_value"] is None


def profile_record(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.store import dynamo

    keys = {"pk": {"S": "MEMBER#s1"}, "sk": {"S": "MEMBER"}}
    stream: dict[str, Any] = {"Keys": keys, "NewImage": dynamo.to_item(new)}
    if old is not None:
        stream["OldImage"] = dynamo.to_item(old)
    return {"eventID": "e1", "eventName": "MODIFY" if old else "INSERT", "dynamodb": stream}


def test_an_audience_entry_without_its_day_counts_in_no_segment_until_it_is_stored_again() -> None:
    from chalicelib.services.kpis import record_deltas

    base = {"status": "active", "tier": "member", "available": 0, "changed_at": AT, "audience_key": "new#SHARD#03"}
    before_days = record_deltas(profile_record(None, base))  # stored before entries had their day
    assert before_days is not None and not [n for n in before_days.days[DAY] if n.startswith("seg_")]

    stored = {**base, "audience_day": "2026-05-06"}  # the backfill (or any write) stores the day
    added = record_deltas(profile_record(base, stored))
    assert added is not None and added.days == {date(2026, 5, 6): Counter({"seg_new": 1})}
    moved = record_deltas(profile_record(stored, {**stored, "audience_key": "lost#SHARD#03"}))
    assert moved is not None and moved.days == {date(2026, 5, 6): Counter({"seg_new": -1, "seg_lost": 1})}


def coupon_record(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    from chalicelib.store import dynamo

    stream: dict[str, Any] = {"Keys": {"pk": {"S": "MEMBER#s1"}, "sk": {"S": "COUPON#C1"}}}
    stream["NewImage"] = dynamo.to_item(new)
    if old is not None:
        stream["OldImage"] = dynamo.to_item(old)
    return {"eventID": "e2", "eventName": "MODIFY" if old else "INSERT", "dynamodb": stream}


def test_a_coupon_issued_before_the_roll_up_counted_coupons_counts_nowhere_even_when_used() -> None:
    from chalicelib.services.kpis import record_deltas

    used = {"used_at": "2026-05-20T10:00:00+08:00"}
    assert record_deltas(coupon_record(None, coupon())) is None
    assert record_deltas(coupon_record(coupon(), coupon("used", **used))) is None  # no expiry day goes below 0

    counted = {"kpi_counted": True}
    issued = record_deltas(coupon_record(None, coupon(**counted)))
    assert issued is not None and issued.days[DAY] == Counter({"cpn_issued_birthday": 1})
    spent = record_deltas(coupon_record(coupon(**counted), coupon("used", **used, **counted)))
    assert spent is not None and spent.days[date(2026, 6, 3)] == Counter({"cpn_expired_birthday": -1})
