"""The scheduled jobs' rules as pure functions: a member and a date in, a `MemberChange` (or None) out.

Each job has a `*_due_on` function: the first date on which the job has something to do for the
member. The store writes that date on the sparse due index of the job with every profile write,
and the job's rule acts exactly when that date has come, so the index and the rules cannot
disagree: a member the index returns always gets a change (or was changed meanwhile).

Notices (`points.expiring`, `tier.at_risk`) go out once: the member's `marks` (model.JobMarks)
remember what was already said, and the due date moves past a notice once it is marked.
"""

from __future__ import annotations

import calendar
from datetime import date, datetime, time, timedelta

from chalicelib.domain import rules, tiers
from chalicelib.domain.calendar import birthday_in_year, end_of_month_moment, last_day_of_month, local_date, month_key
from chalicelib.domain.model import ACTIVE, DORMANT, ERASED, JobMarks, LedgerEntry, Member, MemberChange
from chalicelib.program import CouponRule, Program

EXPIRY, TIER_REVIEW, DORMANT_JOB, BIRTHDAY, PENDING = "expiry", "tier-review", "dormant", "birthday", "pending"
AUDIENCE = "audience"  # keeps each member's segment on the audience index (domain/audiences.py)
JOB_NAMES = (EXPIRY, TIER_REVIEW, DORMANT_JOB, BIRTHDAY, PENDING, AUDIENCE)

# The program gives birthday coupons a value per tier but no validity: a month to use the gift.
BIRTHDAY_COUPON_VALID_DAYS = 30
# A birthday run catches up at most this many missed days (older birthdays are not gifted late).
BIRTHDAY_CATCH_UP_DAYS = 7


def _start_of(day: date, program: Program) -> datetime:
    return datetime.combine(day, time(0, 0), tzinfo=program.tz)


# --- due dates (what the due indexes hold) ---------------------------------------------------------


def lot_expires_on(month: str) -> date:
    """The first day a lot of expiry month `month` is gone (it lapses at the end of its month)."""
    return last_day_of_month(month) + timedelta(days=1)


def lot_notice_on(program: Program, month: str) -> date:
    return last_day_of_month(month) - timedelta(days=program.expiring_notice_days)


def _noticed(marks: JobMarks, month: str) -> bool:
    return marks.expiring_through is not None and month <= marks.expiring_through


def expiry_due_on(program: Program, member: Member) -> date | None:
    """The earliest lot expiry, or the notice date of a lot not yet told about, whichever comes first."""
    if member.status == ERASED:
        return None
    dates = []
    for month, points in member.wallet.lots.items():
        if points <= 0:
            continue
        dates.append(lot_expires_on(month))
        if not _noticed(member.marks, month):
            dates.append(lot_notice_on(program, month))
    return min(dates, default=None)


def at_risk_on(program: Program, review_at: date) -> date:
    return review_at - timedelta(days=program.tier_at_risk_notice_days)


def tier_review_due_on(program: Program, member: Member) -> date | None:
    """The at-risk check before the review, then the review itself (the base tier has none)."""
    if member.status == ERASED or member.review_at is None:
        return None
    if member.marks.at_risk_for == member.review_at:
        return member.review_at
    return at_risk_on(program, member.review_at)


def dormant_due_on(program: Program, member: Member) -> date | None:
    """The day an active member without purchase or activity becomes dormant."""
    if member.status != ACTIVE:
        return None
    last = local_date(member.last_activity_at or member.enrolled_at, program.tz)
    return last + timedelta(days=program.dormant_after_days)


def pending_due_on(member: Member) -> date | None:
    if member.status == ERASED:
        return None
    return min((lot.release_on for lot in member.pending), default=None)


def birthday_key(member: Member) -> str | None:
    """ "mm-dd" of the birthday: a static key, looked up on the day (the gift's year is in the ledger)."""
    if member.status == ERASED or member.birthday is None:
        return None
    return f"{member.birthday.month:02d}-{member.birthday.day:02d}"


def birthday_keys_on(day: date) -> list[str]:
    """The birthday keys celebrated on `day`: 29 Feb birthdays are celebrated on 28 Feb in common years."""
    found = [f"{day.month:02d}-{day.day:02d}"]
    if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
        found.append("02-29")
    return found


def celebrated_on(birthday: date, day: date) -> bool:
    """The birthday is celebrated on `day` (29 Feb on 28 Feb in common years)."""
    return f"{birthday.month:02d}-{birthday.day:02d}" in birthday_keys_on(day)


def birthday_run_missed(birthday: date | None, today: date, done_through: date | None) -> bool:
    """Today is the birthday and today's birthday run is already done: that run never saw this
    birthday (an enrolment or a birthday given after it), so the gift is due now."""
    if birthday is None or done_through is None or done_through < today:
        return False
    return celebrated_on(birthday, today)


def catch_up_days(as_of: date, done_through: date | None, max_days: int = BIRTHDAY_CATCH_UP_DAYS) -> list[date]:
    """The days a date-keyed job still has to look at: those after the last completed one (at most
    `max_days`); a run for a day already done looks at that day again (idempotent)."""
    if done_through is None or done_through > as_of:
        return [as_of]
    first = max(done_through + timedelta(days=1), as_of - timedelta(days=max_days - 1))
    return [first + timedelta(days=n) for n in range((as_of - first).days + 1)]


# --- the rules -----------------------------------------------------------------------------------


def _start(member: Member) -> MemberChange:
    return MemberChange(before=member, after=member.clone())


def _is_due(due: date | None, as_of: date) -> bool:
    return due is not None and due <= as_of


def expire_points(program: Program, member: Member, as_of: date) -> MemberChange | None:
    """Expire the lots whose month has ended (FIFO made them the oldest) and tell about the lots
    that expire within the notice period, once per lot."""
    if not _is_due(expiry_due_on(program, member), as_of):
        return None
    change = _start(member)
    after = change.after
    current = month_key(as_of)
    for month in sorted(after.wallet.lots):
        if month >= current:
            break
        points = after.wallet.expire(month)
        change.entries.append(
            LedgerEntry("expire", month, -points, end_of_month_moment(month, program.tz), {"lot_month": month})
        )
        change.emit("points.expired", points=points, lot_month=month)
    for month, points in sorted(after.wallet.lots.items()):
        if points > 0 and lot_notice_on(program, month) <= as_of and not _noticed(after.marks, month):
            change.emit("points.expiring", points=points, lot_month=month, expires_on=last_day_of_month(month))
            after.marks.expiring_through = month
    return change


def review_tier(program: Program, member: Member, as_of: date) -> MemberChange | None:
    """At the review date keep the tier or move down one; before it, warn once when it would drop."""
    if not _is_due(tier_review_due_on(program, member), as_of):
        return None
    change = _start(member)
    after = change.after
    if after.review_at is not None and after.review_at > as_of:
        _check_at_risk(program, change, after.review_at)
        return change
    # A late run catches up review by review (each moves down one tier at most).
    while after.review_at is not None and after.review_at <= as_of:
        _review_once(program, change, after.review_at)
    # A late run judged the spend as of the review date; what was bought since still upgrades at once
    # (a no-op on time: the review never leaves a tier below what the spend earns on its own day).
    rules._upgrade_if_earned(program, change, as_of)
    return change


def _review_once(program: Program, change: MemberChange, review_day: date) -> None:
    member = change.after
    spend = tiers.rolling_spend(member.spend_by_month, review_day)
    result = tiers.tier_after_review(program, member.tier, spend)
    if result != member.tier:
        change.emit(
            "tier.downgraded",
            from_tier=member.tier,
            to_tier=result,
            reason="review",
            qualifying_spend=spend,
            review_date=review_day,
        )
        member.tier, member.tier_since = result, review_day
    # Returns never take the member below the tier this review settled.
    member.tier_floor = result
    member.review_at = tiers.review_date(program, result, review_day)


def _check_at_risk(program: Program, change: MemberChange, review_day: date) -> None:
    member = change.after
    # The spend that will still count on the review day if nothing more is bought.
    spend = tiers.rolling_spend(member.spend_by_month, review_day)
    result = tiers.tier_after_review(program, member.tier, spend)
    if result != member.tier:
        change.emit(
            "tier.at_risk",
            tier=member.tier,
            would_become=result,
            review_at=review_day,
            qualifying_spend=spend,
            spend_to_keep=program.tier(member.tier).threshold - spend,
        )
    member.marks.at_risk_for = review_day


def mark_dormant(program: Program, member: Member, as_of: date, now: datetime, coupon_code: str) -> MemberChange | None:
    """No purchase or activity for `dormant_after_days`: dormant, with a welcome-back coupon."""
    due = dormant_due_on(program, member)
    if due is None or not _is_due(due, as_of):
        return None
    change = _start(member)
    change.after.status = DORMANT
    inactive_since = due - timedelta(days=program.dormant_after_days)
    change.emit("member.dormant", inactive_since=inactive_since, inactive_days=(as_of - inactive_since).days)
    rules.issue_coupon(program, change, coupon_code, "welcome_back", program.welcome_back_coupon, now)
    return change


def grant_birthday(program: Program, member: Member, day: date, now: datetime, coupon_code: str) -> MemberChange | None:
    """The tier's birthday coupon on the member's birthday; the ledger entry `birthday#<year>` makes
    it once a year (a second grant of the same year is a replay)."""
    if member.status == ERASED or member.birthday is None:
        return None
    if birthday_in_year(member.birthday.month, member.birthday.day, day.year) != day:
        return None
    tier = program.tier(member.tier)
    if tier.birthday_coupon <= 0:
        return None
    change = _start(member)
    rule = CouponRule(value=tier.birthday_coupon, valid_days=BIRTHDAY_COUPON_VALID_DAYS)
    coupon = rules.issue_coupon(program, change, coupon_code, "birthday", rule, now)
    change.entries.append(
        LedgerEntry(
            "birthday", str(day.year), 0, now, {"tier": tier.code, "coupon_code": coupon.code, "value": coupon.value}
        )
    )
    return change


def release_pending(program: Program, member: Member, as_of: date) -> MemberChange | None:
    """Pending points whose release date has come join the lot of their month. The ledger entry has
    0 points: the purchase entry already counted them (sum of ledger = available + pending)."""
    if not _is_due(pending_due_on(member), as_of):
        return None
    change = _start(member)
    after = change.after
    for lot in sorted(after.pending, key=lambda p: (p.release_on, p.entry_id)):
        if lot.release_on > as_of:
            continue
        after.pending.remove(lot)
        # Released after its lot month ended (the job was idle for a long time), the points lapse
        # at once, as a late order's do: the month's own expiry may have run long ago.
        lapsed = lot.month < month_key(as_of)
        if not lapsed:
            after.wallet.credit(lot.points, lot.month)
        details: dict[str, object] = {"points": lot.points, "lot_month": lot.month}
        if lapsed:
            details["lapsed"] = True
        start = _start_of(lot.release_on, program)
        change.entries.append(LedgerEntry("release", lot.entry_id, -lot.points if lapsed else 0, start, details))
        event = "points.expired" if lapsed else "points.released"
        change.emit(event, points=lot.points, lot_month=lot.month, ref=lot.entry_id)
    return change
