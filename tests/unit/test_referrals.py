"""Which return takes a referral bonus back, and how (domain/referrals.py)."""

from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib.domain.model import Member
from chalicelib.domain.referrals import PaidReferral, claw_back, triggered_by
from chalicelib.program import load_program

NOW = datetime(2026, 6, 1, 12, tzinfo=ZoneInfo("Asia/Shanghai"))


def test_the_purchase_named_by_the_referral_or_for_older_ones_the_first_order() -> None:
    named = PaidReferral(200, NOW, "o1")
    assert triggered_by(named, "o1", first_order=False)
    assert not triggered_by(named, "o2", first_order=True)
    older = PaidReferral(200, NOW, None)
    assert triggered_by(older, "o7", first_order=True)
    assert not triggered_by(older, "o7", first_order=False)


def test_claw_back_takes_the_paid_points_and_lowers_lifetime_earned() -> None:
    program = load_program()
    referrer = Member(member_id="ref", enrolled_at=NOW)
    referrer.wallet.credit(250, "2027-06")
    referrer.lifetime_earned = 250
    change = claw_back(program, referrer, PaidReferral(200, NOW, "o1"), "new", "o1", NOW)
    assert change is not None
    assert (change.after.available, change.after.lifetime_earned) == (50, 50)
    assert [(e.entry_id, e.points) for e in change.entries] == [("referral_clawback#new", -200)]
    assert referrer.available == 250  # the state read is left as it was


def test_nothing_to_take_back() -> None:
    program = load_program()
    referrer = Member(member_id="ref", enrolled_at=NOW)
    assert claw_back(program, referrer, None, "new", "o1", NOW) is None
    keeping = program.model_copy(update={"referral_clawback": False})
    assert claw_back(keeping, referrer, PaidReferral(200, NOW, "o1"), "new", "o1", NOW) is None
    assert claw_back(program, None, PaidReferral(200, NOW, "o1"), "new", "o1", NOW) is None
