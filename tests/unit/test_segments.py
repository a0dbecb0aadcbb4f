"""Member segments: RFM scores from the program's boundaries, the (R, F) grid, top categories, and
the category counters a purchase keeps on the profile."""

from __future__ import annotations

import copy
import json
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.domain import rules, segments
from chalicelib.domain.earning import Line
from chalicelib.domain.model import Member
from chalicelib.program import PROGRAM_FILE, ProgramFileError, parse_program
from chalicelib.store import codec, keys

from ._support import PROGRAM, at, new_member, purchase

D = Decimal
TODAY = date(2026, 7, 23)
RAW: dict[str, Any] = json.loads(PROGRAM_FILE.read_text(encoding="utf-8"))


def member_with(days_ago: list[int], spend: dict[str, str] | None = None, **fields: Any) -> Member:
    """A member who bought on each of those days before TODAY (spend by month as given)."""
    member = new_member(at(2024, 1, 1))
    member.purchase_days = sorted({TODAY - timedelta(days=n) for n in days_ago})
    member.purchase_count = len(days_ago)
    member.spend_by_month = {month: D(amount) for month, amount in (spend or {}).items()}
    for name, value in fields.items():
        setattr(member, name, value)
    return member


# --- the program's boundaries --------------------------------------------------------------------


def test_the_shipped_program_has_the_documented_boundaries() -> None:
    rules_ = PROGRAM.segments
    assert rules_.recency_days == (14, 45, 90, 180)
    assert rules_.frequency_days == (2, 4, 12, 24)
    assert rules_.monetary == (D(500), D(1500), D(4000), D(10000))
    assert rules_.top_categories == 3


def test_a_program_without_segments_gets_the_defaults() -> None:
    data = copy.deepcopy(RAW)
    del data["segments"]
    assert parse_program(json.dumps(data)).segments == PROGRAM.segments


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("recency_days", [14, 45, 45, 180]),  # not strictly ascending
        ("recency_days", [-1, 45, 90, 180]),
        ("recency_days", [14, 45, 90]),  # three boundaries
        ("frequency_days", [0, 4, 12, 24]),  # F1 would be unreachable
        ("frequency_days", [2, 4, 12, 400]),  # more days than a year has
        ("monetary", ["500", "400", "4000", "10000"]),
        ("monetary", ["-1", "1500", "4000", "10000"]),
    ],
)
def test_bad_boundaries_are_refused_naming_the_field(name: str, value: list[Any]) -> None:
    data = copy.deepcopy(RAW)
    data["segments"][name] = value
    with pytest.raises(ProgramFileError, match=name):
        parse_program(json.dumps(data))


# --- scores --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("days", "score"),
    [(0, 5), (14, 5), (15, 4), (45, 4), (46, 3), (90, 3), (91, 2), (180, 2), (181, 1), (400, 1), (None, 1)],
)
def test_recency_scores_at_the_boundaries(days: int | None, score: int) -> None:
    assert segments.recency_score(days, PROGRAM.segments.recency_days) == score


@pytest.mark.parametrize(("count", "score"), [(0, 1), (1, 1), (2, 2), (3, 2), (4, 3), (11, 3), (12, 4), (24, 5)])
def test_frequency_scores_at_the_boundaries(count: int, score: int) -> None:
    assert segments.rising_score(count, PROGRAM.segments.frequency_days) == score


@pytest.mark.parametrize(
    ("spend", "score"),
    [("-20", 1), ("0", 1), ("499.99", 1), ("500", 2), ("1499.99", 2), ("1500", 3), ("4000", 4), ("10000", 5)],
)
def test_monetary_scores_at_the_boundaries(spend: str, score: int) -> None:
    assert segments.rising_score(D(spend), PROGRAM.segments.monetary) == score


def test_every_cell_of_the_grid_has_a_documented_name() -> None:
    cells = {(r, f): segments.grid_name(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert set(cells.values()) | {segments.NO_PURCHASE} == set(segments.NAMES)
    documented = "champions loyal potential_loyalist new promising need_attention about_to_sleep at_risk"
    assert sorted(segments.NAMES) == sorted(f"{documented} cannot_lose hibernating lost no_purchase".split())
    assert cells[5, 5] == "champions" and cells[5, 1] == "new" and cells[1, 1] == "lost"
    assert cells[1, 3] == "at_risk" and cells[1, 5] == "cannot_lose" and cells[3, 3] == "need_attention"


# --- a member's segment --------------------------------------------------------------------------


def test_a_member_without_a_purchase_is_unscored() -> None:
    found = segments.segment(PROGRAM, new_member(at(2026, 7, 1)), TODAY)
    assert found.name == "no_purchase"
    assert (found.r, found.f, found.m, found.score, found.days_since_purchase) == (None, None, None, None, None)
    assert found.as_dict()["score"] is None and found.top_categories == ()


def test_a_weekly_shopper_with_a_big_basket_is_a_champion() -> None:
    weekly = list(range(3, 364, 7))  # 52 purchase days, the last 3 days ago
    member = member_with(weekly, {f"2026-{m:02d}": "1000" for m in range(1, 8)} | {"2025-09": "4000"})
    found = segments.segment(PROGRAM, member, TODAY)
    assert (found.days_since_purchase, found.purchase_days, found.spend_12m) == (3, 52, D(11000))
    assert (found.name, found.score) == ("champions", "555")


def test_a_frequent_shopper_gone_for_four_months_is_at_risk() -> None:
    member = member_with([120, 150, 160, 170, 200, 230, 260], {"2026-03": "900", "2025-12": "600"})
    found = segments.segment(PROGRAM, member, TODAY)
    assert (found.r, found.f, found.m) == (2, 3, 3)
    assert found.name == "at_risk"


def test_recency_and_frequency_follow_the_day_asked_about() -> None:
    member = member_with([0, 10, 400])
    assert segments.segment(PROGRAM, member, TODAY).purchase_days == 2  # 400 days ago is out of the year
    earlier = segments.segment(PROGRAM, member, TODAY - timedelta(days=5))
    assert (earlier.days_since_purchase, earlier.purchase_days) == (5, 1)  # today's purchase is not yet known
    later = segments.segment(PROGRAM, member, TODAY + timedelta(days=200))
    assert (later.days_since_purchase, later.r, later.name) == (200, 1, "lost")


def test_a_member_whose_purchase_days_are_unknown_scores_as_long_gone() -> None:
    """Profiles written before purchase days were kept: purchases counted, no day known."""
    found = segments.segment(PROGRAM, member_with([], purchase_count=3), TODAY)
    assert (found.name, found.r, found.days_since_purchase) == ("lost", 1, None)


def test_top_categories_rank_by_spend_and_skip_empty_counters() -> None:
    member = member_with([1], category_spend={"fresh": D(300), "toys": D(90), "dairy": D(120), "x": D(0), "y": D(5)})
    assert segments.segment(PROGRAM, member, TODAY).top_categories == ("fresh", "dairy", "toys")
    assert segments.top_categories({"b": D(1), "a": D(1)}, 3) == ("a", "b")  # ties: by code


# --- properties ----------------------------------------------------------------------------------

day_offsets = st.lists(st.integers(0, 500), max_size=30)
amounts = st.decimals(min_value=-1000, max_value=50_000, places=2, allow_nan=False, allow_infinity=False)


@settings(max_examples=200, deadline=None)
@given(days=st.integers(0, 1000), more=st.integers(0, 100))
def test_recency_score_never_rises_as_the_last_purchase_gets_older(days: int, more: int) -> None:
    bounds = PROGRAM.segments.recency_days
    assert segments.recency_score(days + more, bounds) <= segments.recency_score(days, bounds)


@settings(max_examples=200, deadline=None)
@given(spend=amounts, more=st.decimals(min_value=0, max_value=20_000, places=2), count=st.integers(0, 366))
def test_frequency_and_monetary_scores_never_fall_with_more(spend: Decimal, more: Decimal, count: int) -> None:
    rules_ = PROGRAM.segments
    assert segments.rising_score(spend + more, rules_.monetary) >= segments.rising_score(spend, rules_.monetary)
    assert segments.rising_score(count + 1, rules_.frequency_days) >= segments.rising_score(
        count, rules_.frequency_days
    )


@settings(max_examples=200, deadline=None)
@given(offsets=day_offsets, extra=st.integers(0, 500), spend=amounts, more=st.decimals(0, 5000, places=2))
def test_one_more_purchase_never_lowers_a_score(offsets: list[int], extra: int, spend: Decimal, more: Decimal) -> None:
    """Another purchase day (any day up to today) and more spend: R, F and M each stay or rise."""
    before = member_with(offsets, {"2026-07": str(spend)})
    after = member_with([*offsets, extra], {"2026-07": str(spend + more)})
    old, new = segments.segment(PROGRAM, before, TODAY), segments.segment(PROGRAM, after, TODAY)
    assert new.name != "no_purchase" and new.r is not None and new.f is not None and new.m is not None
    if old.r is not None and old.f is not None and old.m is not None:
        assert new.r >= old.r and new.f >= old.f and new.m >= old.m
    assert all(1 <= score <= 5 for score in (new.r, new.f, new.m))
    assert new.name in segments.NAMES


# --- category counters ---------------------------------------------------------------------------


def test_category_counters_add_line_amounts_and_skip_lines_without_a_category() -> None:
    lines = [Line("fresh", D("68.50")), Line(None, D("10")), Line("  ", D("3")), Line("fresh", D("1.50"))]
    assert segments.add_category_spend({"dairy": D(5)}, [*lines, Line("dairy", D(1))]) == {
        "dairy": D(6),
        "fresh": D(70),
    }


def test_a_new_category_takes_over_the_smallest_counter_when_all_are_in_use() -> None:
    full = {f"c{n}": D(10 + n) for n in range(segments.CATEGORY_SLOTS)}
    after = segments.add_category_spend(full, [Line("new", D(1))])
    assert len(after) == segments.CATEGORY_SLOTS and "c0" not in after
    assert after["new"] == D(11)  # the evicted count plus its own: it can climb into the top


@settings(max_examples=100, deadline=None)
@given(
    purchases=st.lists(
        st.lists(st.tuples(st.sampled_from([f"k{n}" for n in range(25)]), st.integers(1, 500)), max_size=6),
        max_size=40,
    )
)
def test_counters_stay_bounded_and_keep_any_heavy_category(purchases: list[list[tuple[str, int]]]) -> None:
    """Space-Saving: at most CATEGORY_SLOTS counters, and a category with more than 1/slots of all
    the categorised spend is always among them, its counter never below its true spend."""
    counters: dict[str, Decimal] = {}
    truth: dict[str, int] = {}
    for lines in purchases:
        counters = segments.add_category_spend(counters, [Line(code, D(amount)) for code, amount in lines])
        for code, amount in lines:
            truth[code] = truth.get(code, 0) + amount
        assert len(counters) <= segments.CATEGORY_SLOTS
    total = sum(truth.values())
    for code, spent in truth.items():
        if spent * segments.CATEGORY_SLOTS > total:
            assert code in counters and counters[code] >= spent


# --- kept by a purchase, stored on the profile ---------------------------------------------------


def test_a_purchase_keeps_its_categories_and_its_day() -> None:
    member = new_member(at(2026, 7, 1))
    lines = (Line("fresh", D("68.50")), Line("household", D("20")))
    change, _ = rules.record_purchase(PROGRAM, member, purchase("o1", "120", at(2026, 7, 20), lines), at(2026, 7, 20))
    assert change.after.category_spend == {"fresh": D("68.50"), "household": D(20)}
    assert member.category_spend == {}  # the state read is untouched
    found = segments.segment(PROGRAM, change.after, TODAY)
    assert (found.name, found.days_since_purchase, found.top_categories) == ("new", 3, ("fresh", "household"))
    assert change.entries[0].details["order_number"] == 1  # the purchase's other bookkeeping stays


def test_purchase_days_cover_the_frequency_year_even_with_little_back_dating() -> None:
    strict = PROGRAM.model_copy(update={"max_backdate_days": 0})
    member = new_member(at(2025, 1, 1), program=strict)
    member.purchase_days = [date(2025, 8, 1), date(2025, 1, 2)]
    change, _ = rules.record_purchase(strict, member, purchase("o1", "10", at(2026, 7, 20)), at(2026, 7, 20))
    assert change.after.purchase_days == [date(2025, 8, 1), date(2026, 7, 20)]  # 2025-01-02: over a year ago


def test_category_spend_round_trips_through_the_profile() -> None:
    member = member_with([1, 5], {"2026-07": "88.00"}, category_spend={"fresh": D("68.50"), "生鲜": D("1.25")})
    state = codec.profile_state(member)
    assert state["category_spend"] == {"fresh": D("68.50"), "生鲜": D("1.25")}
    read = codec.member_from_items([{keys.SK: keys.STATE_PREFIX, **state, "version": 0}])
    assert read is not None and read.category_spend == member.category_spend
    assert codec.profile_state(new_member(at(2026, 1, 1)))["category_spend"] is None  # no empty map stored
    legacy = {keys.SK: keys.STATE_PREFIX, **state, "version": 0}
    del legacy["category_spend"]
    legacy_member = codec.member_from_items([legacy])
    assert legacy_member is not None and legacy_member.category_spend == {}
