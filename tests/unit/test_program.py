"""The program file: the shipped one validates; broken ones fail naming the bad field."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from typing import Any

import pytest

from chalicelib.program import PROGRAM_FILE, Program, ProgramFileError, load_program, parse_program

RAW: dict[str, Any] = json.loads(PROGRAM_FILE.read_text(encoding="utf-8"))


def broken(mutate: Any) -> str:
    data = copy.deepcopy(RAW)
    mutate(data)
    return json.dumps(data)


def test_shipped_program_validates_with_the_spec_numbers() -> None:
    program = load_program()

    assert isinstance(program, Program)
    assert program.currency == "CNY"
    assert program.timezone == "Asia/Shanghai"
    assert program.pending_days == 0
    assert program.max_backdate_days == 400
    assert program.expiry_months == 12
    assert program.welcome_points == 100
    assert program.referral_points == 200
    assert program.reactivation_points == 200
    assert program.dormant_after_days == 180
    assert [(t.code, t.threshold, t.multiplier) for t in program.tiers] == [
        ("member", Decimal("0"), Decimal("1.0")),
        ("silver", Decimal("2000"), Decimal("1.2")),
        ("gold", Decimal("8000"), Decimal("1.5")),
        ("platinum", Decimal("20000"), Decimal("2.0")),
    ]
    assert [t.birthday_coupon for t in program.tiers] == [Decimal(10), Decimal(30), Decimal(50), Decimal(100)]
    assert program.categories["fresh"] == Decimal("2.0")
    assert {code: (a.points, a.daily_limit) for code, a in program.activities.items()} == {
        "check_in": (5, 1),
        "review": (20, 3),
        "share": (10, 2),
    }
    cash5, cash20 = program.reward("cash-5"), program.reward("cash-20")
    assert cash5 is not None and (cash5.points_cost, cash5.coupon_value) == (500, Decimal("5.00"))
    assert cash20 is not None and (cash20.points_cost, cash20.coupon_value) == (2000, Decimal("20.00"))
    assert program.reward("no-such-reward") is None


def test_money_and_multipliers_are_decimals_not_floats() -> None:
    program = parse_program(PROGRAM_FILE.read_text(encoding="utf-8"))

    assert all(isinstance(t.threshold, Decimal) and isinstance(t.multiplier, Decimal) for t in program.tiers)
    assert isinstance(program.first_purchase_coupon.value, Decimal)


def test_tier_lookup_and_rank() -> None:
    program = load_program()

    assert program.tier("gold").name == "Gold (黄金)"
    assert [program.tier_rank(c) for c in ("member", "silver", "gold", "platinum")] == [0, 1, 2, 3]
    with pytest.raises(KeyError):
        program.tier("diamond")


def test_program_is_frozen() -> None:
    program = load_program()

    with pytest.raises(Exception, match="frozen"):
        program.welcome_points = 5  # type: ignore[misc]


def test_tiers_out_of_order_are_refused() -> None:
    def swap(data: dict[str, Any]) -> None:
        data["tiers"][1], data["tiers"][2] = data["tiers"][2], data["tiers"][1]

    with pytest.raises(ProgramFileError, match=r"tiers: thresholds must strictly increase"):
        parse_program(broken(swap))


def test_equal_thresholds_are_refused() -> None:
    def same(data: dict[str, Any]) -> None:
        data["tiers"][2]["threshold"] = data["tiers"][1]["threshold"]

    with pytest.raises(ProgramFileError, match=r"tiers: thresholds must strictly increase"):
        parse_program(broken(same))


def test_first_tier_must_start_at_zero() -> None:
    def raise_base(data: dict[str, Any]) -> None:
        data["tiers"][0]["threshold"] = "1"

    with pytest.raises(ProgramFileError, match=r"tiers: the first tier must have threshold 0"):
        parse_program(broken(raise_base))


def test_duplicate_tier_codes_are_refused() -> None:
    def dup(data: dict[str, Any]) -> None:
        data["tiers"][3]["code"] = "gold"

    with pytest.raises(ProgramFileError, match=r"tier codes must be unique"):
        parse_program(broken(dup))


def test_reward_with_unknown_min_tier_is_refused() -> None:
    def diamond(data: dict[str, Any]) -> None:
        data["rewards"][2]["min_tier"] = "diamond"

    with pytest.raises(ProgramFileError, match=r"rewards: tote-bag names unknown tier 'diamond'"):
        parse_program(broken(diamond))


def test_duplicate_reward_ids_are_refused() -> None:
    def dup(data: dict[str, Any]) -> None:
        data["rewards"][1]["reward_id"] = "cash-5"

    with pytest.raises(ProgramFileError, match=r"rewards: reward ids must be unique"):
        parse_program(broken(dup))


def test_unknown_timezone_is_refused_naming_the_field() -> None:
    def mars(data: dict[str, Any]) -> None:
        data["timezone"] = "Mars/Olympus_Mons"

    with pytest.raises(ProgramFileError, match=r"timezone: .*unknown time zone 'Mars/Olympus_Mons'"):
        parse_program(broken(mars))


def test_not_json_is_refused_naming_the_source() -> None:
    with pytest.raises(ProgramFileError, match=r"^custom\.json: not valid JSON"):
        parse_program('{"name": "Retail Rewards",', source="custom.json")


def test_negative_tier_multiplier_is_refused_naming_the_field() -> None:
    def negative(data: dict[str, Any]) -> None:
        data["tiers"][1]["multiplier"] = "-1.2"

    with pytest.raises(ProgramFileError, match=r"tiers\.1\.multiplier: Input should be greater than 0"):
        parse_program(broken(negative))


def test_negative_category_multiplier_is_refused_naming_the_field() -> None:
    def negative(data: dict[str, Any]) -> None:
        data["categories"]["fresh"] = "-2"

    with pytest.raises(ProgramFileError, match=r"categories\.fresh: Input should be greater than 0"):
        parse_program(broken(negative))


def test_unknown_field_is_refused() -> None:
    def extra(data: dict[str, Any]) -> None:
        data["welcome_pionts"] = 100

    with pytest.raises(ProgramFileError, match=r"welcome_pionts: Extra inputs are not permitted"):
        parse_program(broken(extra))


def test_every_bad_field_is_named_in_one_message() -> None:
    def two(data: dict[str, Any]) -> None:
        data["currency"] = "yuan"
        data["pending_days"] = -1

    with pytest.raises(ProgramFileError) as caught:
        parse_program(broken(two))

    message = str(caught.value)
    assert message.startswith("program.json: invalid program: ")
    assert "currency:" in message
    assert "pending_days:" in message


def test_load_program_reads_a_given_file(tmp_path: Any) -> None:
    data = copy.deepcopy(RAW)
    data["pending_days"] = 7
    custom = tmp_path / "seven.json"
    custom.write_text(json.dumps(data), encoding="utf-8")

    assert load_program(str(custom)).pending_days == 7

    bad = tmp_path / "bad.json"
    bad.write_text("[]", encoding="utf-8")
    with pytest.raises(ProgramFileError, match=r"^bad\.json: invalid program"):
        load_program(str(bad))


def test_a_copy_with_another_timezone_uses_that_zone() -> None:
    program = load_program()
    assert str(program.tz) == "Asia/Shanghai"  # computed before the copy

    utc = program.model_copy(update={"timezone": "UTC"})

    assert str(utc.tz) == "UTC"
    assert str(program.tz) == "Asia/Shanghai"
