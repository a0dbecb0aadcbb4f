"""The program simulator's replay (domain/simulation.py), on small histories computed by hand."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chalicelib.domain.attribution import Attribution
from chalicelib.domain.campaigns import Campaign
from chalicelib.domain.history import Fact, History, Window
from chalicelib.domain.model import JobMarks, Member, PendingLot
from chalicelib.domain.simulation import Campaigns, Scenario, replay
from chalicelib.domain.simulation_figures import Figures, Report, liability, tier_move
from chalicelib.program import Program, load_program

END = Window(date(2026, 3, 31))


def fact(kind: str, ref: str, when: str, points: int = 0, **details: Any) -> Fact:
    moment = datetime.fromisoformat(when).replace(tzinfo=load_program().tz)
    return Fact(kind, ref, points, moment, moment, details)


def proposed() -> Program:
    """Silver from 1,500 instead of 2,000; fresh lines 3x instead of 2x."""
    program = load_program()
    tiers = [t.model_copy(update={"threshold": Decimal(1500)}) if t.code == "silver" else t for t in program.tiers]
    return program.model_copy(update={"tiers": tiers, "categories": {**program.categories, "fresh": Decimal(3)}})


# Anna: 1,000 with 200 fresh, then 800, then 100 all fresh; a 5.00 voucher.
ANNA = History(
    "anna",
    (
        fact("enrol", "anna", "2026-01-05T10:00"),
        fact(
            "purchase", "o1", "2026-01-10T10:00", 1200, amount="1000.00", lines=[{"category": "fresh", "amount": "200"}]
        ),
        fact("purchase", "o2", "2026-02-10T10:00", 800, amount="800.00"),
        fact(
            "purchase", "o3", "2026-03-10T10:00", 200, amount="100.00", lines=[{"category": "fresh", "amount": "100"}]
        ),
        fact("redemption", "r1", "2026-03-20T10:00", -500, reward_id="cash-5"),
    ),
)
# Bo: 600 all fresh, half of it returned; one purchase recorded before lines were kept (amount only).
BO = History(
    "bo",
    (
        fact("enrol", "bo", "2026-01-06T10:00"),
        fact(
            "purchase", "p1", "2026-01-07T10:00", 1200, amount="600.00", lines=[{"category": "fresh", "amount": "600"}]
        ),
        fact("return", "x1", "2026-01-08T10:00", -600, order_id="p1", amount="300.00"),
        fact("purchase", "p2", "2026-01-09T10:00", 50, amount="50.00"),
    ),
)


def test_the_current_program_earns_as_recorded() -> None:
    anna = replay(Scenario(load_program()), ANNA, END)
    assert anna.member is not None and anna.member.tier == "member"  # 1,900 of spend: below 2,000
    # 100 welcome + 800 + 400 (200 fresh at 2x) + 800 + 200 (100 fresh at 2x) - 500
    assert (anna.member.available, anna.member.lifetime_earned) == (1800, 2300)
    assert anna.figures.earned == {"enrol": 100, "purchase": 2200} and anna.figures.redeemed == 500
    bo = replay(Scenario(load_program()), BO, END)
    assert bo.member is not None and (bo.member.available, bo.figures.returned) == (100 + 1200 - 600 + 50, 600)


def test_a_lower_silver_threshold_and_triple_fresh_shift_points_and_tiers() -> None:
    anna = replay(Scenario(proposed()), ANNA, END)
    assert anna.member is not None and anna.member.tier == "silver"  # 1,800 reached 1,500 with the second purchase
    # 800 + 600 (200 fresh at 3x); 800; then at silver (1.2x): 100 fresh at 3x x 1.2 = 360
    assert anna.figures.earned["purchase"] == 1400 + 800 + 360
    assert (anna.member.available, anna.member.lifetime_earned) == (100 + 2560 - 500, 2660)
    bo = replay(Scenario(proposed()), BO, END)
    # 600 fresh at 3x = 1,800; the return of half takes 900 back; the old purchase earns on its amount.
    assert bo.member is not None and (bo.member.available, bo.figures.returned) == (100 + 1800 - 900 + 50, 900)

    report = Report()
    for history in (ANNA, BO):
        now, then = replay(Scenario(load_program()), history, END), replay(Scenario(proposed()), history, END)
        report.add_member(now.figures, then.figures, tier_move(now.member, then.member))
    assert report.moves == {"member>silver": 1}
    assert (report.moved(proposed(), up=True), report.moved(proposed(), up=False)) == (1, 0)
    assert report.current.by_tier == {"member": 2} and report.proposed.by_tier == {"member": 1, "silver": 1}
    assert (report.current.outstanding, report.proposed.outstanding) == (1800 + 750, 2160 + 1050)
    assert Report.from_dict(report.as_dict()).as_dict() == report.as_dict()


def test_a_redemption_the_proposed_program_cannot_pay_is_refused_and_counted() -> None:
    program = load_program()
    poorer = program.model_copy(update={"categories": {}, "welcome_points": 0})  # fresh at 1x, no welcome
    spend = fact("redemption", "r1", "2026-01-11T10:00", -1200, reason="gift")
    anna = History("anna", (*ANNA.facts[:2], spend))  # 1,300 points then (1,000 in the poorer program)
    now, then = replay(Scenario(program), anna, END), replay(Scenario(poorer), anna, END)
    assert now.figures.redeemed == 1200 and now.figures.refused == {}
    assert then.figures.redeemed == 0 and then.figures.refused == {"redemption": 1}
    assert then.member is not None and then.member.available == 1000


def test_the_jobs_run_on_their_days_expiry_and_dormancy() -> None:
    program = load_program().model_copy(update={"expiry_months": 1, "dormant_after_days": 30})
    history = History("cy", ANNA.facts[:2])  # enrolled 5 Jan, bought 10 Jan, then nothing
    outcome = replay(Scenario(program), history, END)
    assert outcome.member is not None and outcome.member.status == "dormant"  # from 9 Feb
    assert outcome.figures.expired == 100 + 1200 and outcome.member.available == 0  # the February lot, on 1 March
    assert outcome.figures.coupons == {"first_purchase": 1, "welcome_back": 1}
    early = replay(Scenario(program), history, Window(date(2026, 2, 28)))  # the state as of 28 Feb
    assert early.member is not None and early.member.available == 1300 and early.figures.expired == 0
    later = replay(Scenario(program), history, Window(END.last, first=date(2026, 2, 1)))  # flows from February
    assert later.figures.earned == {} and later.figures.expired == 1300


def test_figures_merge_and_the_liability_in_money() -> None:
    one, two = (
        Figures(earned=Counter(purchase=5), outstanding=7),
        Figures(earned=Counter(purchase=1, enrol=2), expired=3),
    )
    merged = Figures.from_dict(one.merge(two).as_dict())
    assert (merged.earned, merged.outstanding, merged.expired) == ({"purchase": 6, "enrol": 2}, 7, 3)
    program = load_program()
    value, basis = liability(program.model_copy(update={"points_payment": None}), 12345)
    assert value == Decimal("123.45") and "cash" in basis  # 100 points = 1.00 at the best money reward


def test_a_clone_shares_no_mutable_part() -> None:
    """Member.clone copies containers by hand (a deepcopy dominated a replay): every field of a full
    member is equal in the clone, and each mutable one is a new object (a new field fails here)."""
    member = Member(
        "m-1",
        datetime(2026, 1, 5, tzinfo=load_program().tz),
        tier_since=date(2026, 1, 5),
        review_at=date(2027, 1, 5),
        pending=[PendingLot("purchase#o1", 10, date(2026, 1, 12), "2027-01")],
        spend_by_month={"2026-01": Decimal(10)},
        last_activity_at=datetime(2026, 1, 5, tzinfo=load_program().tz),
        purchase_days=[date(2026, 1, 5)],
        category_spend={"fresh": Decimal(5)},
        referrer_id="m-0",
        birthday=date(1990, 2, 28),
        marks=JobMarks("2026-12", date(2027, 1, 5)),
        card_number="8800",
        enrolment=Attribution("s001", "clerk", "store"),
        first_purchase_at=datetime(2026, 1, 5, tzinfo=load_program().tz),
        campaign_uses={"c1": 1},
    )
    member.wallet.credit(5, "2027-01")
    copied = member.clone()
    immutable = (str, int, Decimal, date, datetime, type(None), Attribution)
    for name in (f.name for f in fields(Member)):
        value = getattr(member, name)
        assert getattr(copied, name) == value, name
        assert value is not None and value != [] and value != {}, f"fill {name} in this test"
        if not isinstance(value, immutable):
            assert getattr(copied, name) is not value, name
    assert copied.pending[0] is not member.pending[0] and copied.wallet.lots is not member.wallet.lots


def campaign(campaign_id: str, status: str = "active", **body: Any) -> Campaign:
    window = {"starts_at": "2026-01-01T00:00:00+08:00", "ends_at": "2027-01-01T00:00:00+08:00"}
    named = {"campaign_id": campaign_id, "name": campaign_id, "status": status}
    return Campaign.model_validate({**named, **window, **body})


def test_campaigns_of_purchases_and_activities_are_replayed() -> None:
    """Double points on Wednesdays and 7 more points a check-in, as a proposal; as recorded, a campaign
    paused since applies where the purchase's entry names it, and nowhere else."""
    wednesdays = campaign("wed", days={"weekdays": [3]}, effect={"multiplier": "2"})
    check_ins = campaign("act", trigger="activity", effect={"bonus_points": 7})
    history = History(
        "dee",
        (
            fact("enrol", "dee", "2026-01-05T10:00"),
            fact("purchase", "w1", "2026-01-07T10:00", 200, amount="100.00", campaigns=[{"campaign_id": "wed"}]),
            fact("purchase", "t1", "2026-01-08T10:00", 100, amount="100.00"),
            fact("activity", "c1", "2026-01-09T10:00", 12, type="check_in"),
        ),
    )
    proposal = replay(Scenario(load_program(), Campaigns((wednesdays, check_ins))), history, END)
    assert proposal.figures.earned == {"enrol": 100, "purchase": 200 + 100, "activity": 5 + 7}
    paused = Campaigns((campaign("wed", "paused", days={"weekdays": [3]}, effect={"multiplier": "2"}),), True)
    recorded = replay(Scenario(load_program(), paused), history, END)
    assert recorded.figures.earned == {"enrol": 100, "purchase": 200 + 100, "activity": 5}
    assert recorded.member is not None and recorded.member.campaign_uses == {"wed": 1}


def test_points_paid_at_checkout_are_replayed_or_paid_with_money() -> None:
    """1,000 points pay 10.00 of a 200.00 purchase (100 points = 1.00): it earns on the 190.00 paid with
    money, and returning half gives half the points back. A program without points payment replays
    that purchase as paid with money, and counts it."""
    paid = {"points": 1000, "value": "10.00", "lots": {"2027-01": 1000}}
    history = History(
        "eve",
        (
            fact("enrol", "eve", "2026-01-05T10:00"),
            fact("purchase", "p1", "2026-01-06T10:00", 1000, amount="1000.00"),
            fact("purchase", "p2", "2026-01-07T10:00", 190, amount="200.00", points_payment=paid),
            fact("return", "x2", "2026-01-08T10:00", -95, order_id="p2", amount="100.00"),
        ),
    )
    program = load_program()
    assert program.points_payment is not None and program.points_payment.points_per_unit == 100
    now = replay(Scenario(program), history, END)
    assert now.member is not None and now.member.available == 1100 - 1000 + 190 - 95 + 500
    assert now.figures.redeemed == 1000 and now.figures.earned["points_payment_refund"] == 500
    without = replay(Scenario(program.model_copy(update={"points_payment": None})), history, END)
    assert without.figures.refused == {"points_payment": 1} and without.figures.redeemed == 0
    assert without.member is not None and without.member.available == 1100 + 200 - 100


def test_export_lines_are_dynamodb_json_with_binary_in_base64() -> None:
    """A stored answer is binary (packed): an export line holds it in base64, as AWS's export does."""
    from chalicelib.store import exports

    line = exports.line_of({"pk": "MEMBER#m-1", "sk": "TX#purchase#o1", "points": 12, "answer": b"\x01packed"})
    assert json.loads(line)["Item"]["answer"] == {"B": "AXBhY2tlZA=="}
    assert exports.item_from_line(line) == {
        "pk": "MEMBER#m-1",
        "sk": "TX#purchase#o1",
        "points": 12,
        "answer": b"\x01packed",
    }
    assert exports.bucket_lines([line], 4) == {str(exports.bucket_of("m-1", 4)): [line]}
