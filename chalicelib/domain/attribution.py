"""Who recruited a member and who served a purchase: the store, the clerk (staff id) and the channel.

The id patterns are the request models' (client ids for staff, the sales files' store id rule);
what is here are the rules between the fields, the same for every door."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import InvalidRequest

STORE, WEB, APP, MINI_PROGRAM, REFERRAL = "store", "web", "app", "mini_program", "referral"
CHANNELS = (STORE, WEB, APP, MINI_PROGRAM, REFERRAL)
FIRST_PURCHASE_DAYS = 30  # recruitment KPI: a first purchase at most this many days after enrolment


@dataclass(frozen=True)
class Attribution:
    store_id: str | None = None
    staff_id: str | None = None
    channel: str | None = None  # enrolments only

    def as_dict(self) -> dict[str, str | None]:
        return {"store_id": self.store_id, "staff_id": self.staff_id, "channel": self.channel}


def _refuse(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", [{"field": field, "message": message}])


def check_staff(attribution: Attribution) -> None:
    """A clerk is counted within a store (the per-clerk KPIs are a store's): no staff id without one."""
    if attribution.staff_id is not None and attribution.store_id is None:
        raise _refuse("store_id", "required with staff_id")


def check_enrolment(attribution: Attribution, referrer_id: str | None) -> None:
    check_staff(attribution)
    if attribution.channel is not None and attribution.channel not in CHANNELS:
        raise _refuse("channel", f"one of {', '.join(CHANNELS)}")
    if attribution.channel == STORE and attribution.store_id is None:
        raise _refuse("store_id", "required with channel store")
    if attribution.channel == REFERRAL and referrer_id is None:
        raise _refuse("referrer_id", "required with channel referral")
