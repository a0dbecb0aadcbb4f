"""Recruitment: the attribution rules, the first purchase a member keeps, and what a profile counts
for its store and clerk (pure functions; the end-to-end figures are in
tests/integration/test_kpis_recruitment.py)."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain import kpi_rollup, rules
from chalicelib.domain.attribution import Attribution, check_enrolment, check_staff
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.rules import Purchase, PurchaseRecord
from chalicelib.program import load_program
from chalicelib.store import codec

TZ = ZoneInfo("Asia/Shanghai")
ENROLLED = datetime(2026, 3, 1, 22, 30, tzinfo=TZ)
PROGRAM = load_program()


@pytest.mark.parametrize(
    ("attribution", "referrer", "field"),
    [
        (Attribution(None, "c1", None), None, "store_id"),
        (Attribution(None, None, "store"), None, "store_id"),
        (Attribution("s1", None, "referral"), None, "referrer_id"),
        (Attribution("s1", None, "fax"), None, "channel"),
    ],
)
def test_enrolment_attribution_rules(attribution: Attribution, referrer: str | None, field: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        check_enrolment(attribution, referrer)
    assert caught.value.details == [{"field": field, "message": caught.value.details[0]["message"]}]


def test_allowed_attributions() -> None:
    for attribution, referrer in [
        (Attribution(), None),
        (Attribution("s1", "c1", "store"), None),
        (Attribution("s1", None, "app"), None),  # a QR code at the store, no clerk
        (Attribution(None, None, "web"), None),
        (Attribution(None, None, "referral"), "m0"),
    ]:
        check_enrolment(attribution, referrer)
    check_staff(Attribution("s1", "c1"))
    with pytest.raises(InvalidRequest):
        check_staff(Attribution(None, "c1"))


def _buy(member, order: str, at: datetime, now: datetime):
    return rules.record_purchase(PROGRAM, member, Purchase(order, Decimal("50.00"), at), now)[0].after


def test_the_first_purchase_is_the_earliest_by_when_it_happened_and_returns_keep_it() -> None:
    member = rules.enrol(PROGRAM, "m1", ENROLLED, "C", card_number="9000000000000001").after
    assert member.first_purchase_at is None
    day_20 = ENROLLED + timedelta(days=20)
    member = _buy(member, "o1", day_20, day_20)
    assert member.first_purchase_at == day_20
    member = _buy(member, "o2", day_20 + timedelta(days=5), day_20 + timedelta(days=5))  # later: no change
    assert member.first_purchase_at == day_20
    late = ENROLLED + timedelta(days=3)  # a late file's sale from before: it was the first
    member = _buy(member, "o3", late, day_20 + timedelta(days=6))
    assert member.first_purchase_at == late
    record = PurchaseRecord("o3", Decimal("50.00"), 50, Decimal(0), 0, "2027-03", "2026-03")
    now = day_20 + timedelta(days=7)
    member = rules.record_return(PROGRAM, member, record, "r1", Decimal("50.00"), now, now).after
    assert member.first_purchase_at == late  # a full return does not un-buy it


def _profile(store: str | None, staff: str | None, first: datetime | None) -> dict:
    member = rules.enrol(PROGRAM, "m1", ENROLLED, "C", recruited=Attribution(store, staff, "store")).after
    member.first_purchase_at = first
    return {name: value for name, value in codec.profile_state(member).items() if value is not None}


def test_a_profile_counts_its_enrolment_and_a_first_purchase_within_30_days() -> None:
    day = ENROLLED.date()
    count = kpi_rollup.recruitment(_profile("s1", "c1", None), TZ)
    assert count == {(day, "s1", "c1", "enrolments"): 1}
    # 30 program days after the enrolment day counts (the enrolment was late in the evening) ...
    at_30 = datetime(2026, 3, 31, 8, tzinfo=TZ)
    count = kpi_rollup.recruitment(_profile("s1", "c1", at_30), TZ)
    assert count[(at_30.date(), "s1", "c1", kpi_rollup.RECRUITED)] == 1
    # ... 31 does not, nor a purchase dated before the enrolment day
    for first in (datetime(2026, 4, 1, 0, 5, tzinfo=TZ), datetime(2026, 2, 28, 23, tzinfo=TZ)):
        assert kpi_rollup.recruitment(_profile("s1", "c1", first), TZ) == {(day, "s1", "c1", "enrolments"): 1}
    assert kpi_rollup.recruitment(_profile(None, None, at_30), TZ) == {}  # no store, nothing to credit
    assert (
        kpi_rollup.recruitment(_profile("s1", None, at_30), TZ)[
            (at_30.date(), "s1", "", "recruited_first_purchase_30d")
        ]
        == 1
    )


def test_profile_deltas_move_the_count_to_the_earlier_first_purchase_and_add_nothing_when_unchanged() -> None:
    fallback = ENROLLED
    created = kpi_rollup.profile_deltas(None, _profile("s1", "c1", None), TZ, fallback)
    assert created.stores[(ENROLLED.date(), "s1")]["enrolments"] == 1
    assert created.staff[(ENROLLED.date(), "s1", "c1")]["enrolments"] == 1
    day_20, day_3 = ENROLLED + timedelta(days=20), ENROLLED + timedelta(days=3)
    bought = kpi_rollup.profile_deltas(_profile("s1", "c1", None), _profile("s1", "c1", day_20), TZ, fallback)
    assert bought.staff == {(day_20.date(), "s1", "c1"): {"recruited_first_purchase_30d": 1}}
    moved = kpi_rollup.profile_deltas(_profile("s1", "c1", day_20), _profile("s1", "c1", day_3), TZ, fallback)
    assert moved.staff == {
        (day_20.date(), "s1", "c1"): {"recruited_first_purchase_30d": -1},
        (day_3.date(), "s1", "c1"): {"recruited_first_purchase_30d": 1},
    }
    same = kpi_rollup.profile_deltas(_profile("s1", "c1", day_3), _profile("s1", "c1", day_3), TZ, fallback)
    assert same.staff == {} and same.stores == {}
