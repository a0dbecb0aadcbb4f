"""Members who enrol, or give their birthday, on their birthday after that day's birthday run get
the gift then, once a year (moto, the clock injected)."""

from __future__ import annotations

from datetime import date

from chalicelib.services import jobs, members, wallet
from tests.integration.test_jobs import World, assert_books_balance, at, entry, world  # noqa: F401


def birthday_coupons(member_id: str) -> list[dict[str, object]]:
    return [c for c in wallet.list_coupons(member_id, None)["coupons"] if c["kind"] == "birthday"]


def test_enrolling_on_the_birthday_after_the_run_gets_the_gift_once(world: World) -> None:  # noqa: F811
    assert world.run("birthday", date(2026, 5, 3)).members_read == 0
    world.enrol("m1", at(2026, 5, 3, hour=15), birthday=date(1990, 5, 3))

    assert len(birthday_coupons("m1")) == 1
    assert entry("m1", "birthday#2026") is not None
    assert "coupon.issued" in world.kinds()  # the gift's event went out
    assert world.run("birthday", date(2026, 5, 3)).members_changed == 0  # the run again: nothing
    assert jobs.grant_missed_birthday("m1", date(1990, 5, 3)) is False  # the year's marker
    assert len(birthday_coupons("m1")) == 1
    assert_books_balance("m1")


def test_before_the_run_the_run_gives_the_gift(world: World) -> None:  # noqa: F811
    world.run("birthday", date(2026, 5, 2))
    world.enrol("m1", at(2026, 5, 3, hour=0), birthday=date(1990, 5, 3))
    assert birthday_coupons("m1") == []  # today's run is still to come

    assert world.run("birthday", date(2026, 5, 3)).members_changed == 1
    assert len(birthday_coupons("m1")) == 1


def test_no_gift_on_another_day(world: World) -> None:  # noqa: F811
    world.run("birthday", date(2026, 5, 4))
    world.enrol("m1", at(2026, 5, 4, hour=15), birthday=date(1990, 5, 3))  # a day late: not gifted late
    world.enrol("m2", at(2026, 5, 4, hour=15), birthday=date(1990, 5, 5))
    assert birthday_coupons("m1") == [] and birthday_coupons("m2") == []


def test_a_birthday_given_by_patch_on_the_day_after_the_run_gets_the_gift_once(world: World) -> None:  # noqa: F811
    world.enrol("m1", at(2026, 1, 10))
    world.run("birthday", date(2026, 8, 9))
    world.travel(date(2026, 8, 9), hour=18)
    members.update("m1", {"birthday": date(1985, 8, 9)})
    assert len(birthday_coupons("m1")) == 1
    members.update("m1", {"birthday": date(1985, 8, 9)})  # the same birthday again
    assert len(birthday_coupons("m1")) == 1
    assert_books_balance("m1")


def test_29_february_members_in_a_common_year(world: World) -> None:  # noqa: F811
    world.run("birthday", date(2027, 2, 28))
    world.enrol("leap", at(2027, 2, 28, hour=20), birthday=date(2000, 2, 29))
    assert len(birthday_coupons("leap")) == 1
    assert entry("leap", "birthday#2027") is not None

    world.run("birthday", date(2027, 3, 1))
    world.enrol("late", at(2027, 3, 1, hour=20), birthday=date(2000, 2, 29))  # their day was yesterday
    assert birthday_coupons("late") == []

    world.run("birthday", date(2028, 2, 28))  # a leap year: 28 Feb is not their day
    world.enrol("leap2028", at(2028, 2, 28, hour=20), birthday=date(2000, 2, 29))
    assert birthday_coupons("leap2028") == []
