"""Running a member's planned actions through the same service functions the API routes call,
with the request bodies validated by the routes' own models, each at its simulated moment."""

from __future__ import annotations

import dataclasses
import functools
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.api import models
from chalicelib.domain.commands import UseCoupon
from chalicelib.domain.errors import Busy, Conflict, LoyaltyError, RewardOutOfStock
from chalicelib.program import Program, Reward
from chalicelib.services import members, points, quotes, wallet
from loyalty_tools.demo.model import Action

PAYS_WITH_POINTS = 0.85  # orders whose `pick` is at least this pay part with points (about 15 %)

BUSY_TRIES = 4


@dataclass
class Coupon:
    code: str
    expires_at: datetime


@dataclass
class Wallet:
    """The coupons a member was given by the calls the demo made (enrolment, redemptions)."""

    coupons: list[Coupon] = field(default_factory=list)

    def add(self, view: dict[str, Any] | None) -> None:
        if view and Decimal(str(view.get("value") or 0)) > 0:
            self.coupons.append(Coupon(view["code"], datetime.fromisoformat(str(view["expires_at"]))))

    def take(self, moment: datetime) -> Coupon | None:
        self.coupons = [c for c in self.coupons if c.expires_at > moment]
        return self.coupons.pop(0) if self.coupons else None


def reward_choices(program: Program, view: dict[str, Any], pick: float) -> list[Reward]:
    """The rewards the balance and tier allow, the preferred first: the dearest a third of the
    time, else the cheapest (the next one when it is out of stock)."""
    available = int(view["points"]["available"])
    rank = program.tier_rank(view["tier"]["code"])
    allowed = sorted(
        (r for r in program.rewards if r.points_cost <= available and program.tier_rank(r.min_tier) <= rank),
        key=lambda r: r.points_cost,
    )
    return allowed[::-1] if pick < 0.33 else allowed


class MemberRunner:
    """Runs one member's actions of one phase, in order; counts what happened in `tally`."""

    def __init__(self, program: Program, member_id: str, purse: Wallet, tally: Counter[str]) -> None:
        self.program, self.member_id, self.purse, self.tally = program, member_id, purse, tally

    def call(
        self, kind: str, work: Callable[[], dict[str, Any]], passed: tuple[type[LoyaltyError], ...] = ()
    ) -> dict[str, Any] | None:
        """One service call; a refusal is counted (by its error code) unless it is one of `passed`
        (raised to the caller); `busy` is retried."""
        for attempt in range(BUSY_TRIES):
            try:
                answer = work()
            except Busy:
                time.sleep(0.05 * (attempt + 1))
                continue
            except passed:
                raise
            except LoyaltyError as error:
                self.tally[f"refused {kind}: {error.code}"] += 1
                return None
            self.tally[kind] += 1
            return answer
        self.tally[f"refused {kind}: busy"] += 1
        return None

    def run(self, action: Action, moment: datetime) -> None:
        getattr(self, f"_{action.kind}")(action, moment)

    def _enrol(self, action: Action, moment: datetime) -> None:
        command = models.EnrolRequest.model_validate(action.body).command()

        def enrol() -> dict[str, Any]:
            try:
                return members.enrol(command)
            except Conflict as conflict:  # the fake phone is taken (a demo of another seed, same table)
                if not any(detail.get("field") in ("phone", "email") for detail in conflict.details):
                    raise
                return members.enrol(dataclasses.replace(command, phone=None, email=None))

        answer = self.call("enrolments", enrol)
        for coupon in (answer or {}).get("coupons", []):
            self.purse.add(coupon)

    def _order(self, action: Action, moment: datetime) -> None:
        body = {**action.body, "occurred_at": moment}
        if action.pick >= PAYS_WITH_POINTS:
            body = self._with_points(body)
        order = models.PurchaseRequest.model_validate(body).command(self.member_id)
        if self.call("orders online", lambda: points.record_purchase(order)) is None:
            return
        coupon = self.purse.take(moment) if action.pick < 0.7 else None
        if coupon is not None:
            use = UseCoupon(self.member_id, coupon.code, order.order_id)
            self.call("coupons used", lambda: wallet.use_coupon(use))

    def _with_points(self, body: dict[str, Any]) -> dict[str, Any]:
        """As at a till: ask the quote what points may pay, then pay half of that in whole 100s."""
        cart = models.QuoteRequest.model_validate(body).command(self.member_id)
        quote = self.call("quotes", lambda: quotes.quote(cart, []))
        offer = (quote or {}).get("points_payment") or {}
        pay = int(offer.get("max_points") or 0) // 2 // 100 * 100
        return {**body, "points_payment": pay} if pay >= int(offer.get("min_points") or 1) else body

    def _return(self, action: Action, moment: datetime) -> None:
        command = models.ReturnRequest.model_validate({**action.body, "occurred_at": moment}).command(self.member_id)
        self.call("returns online", lambda: points.record_return(command))

    def _activity(self, action: Action, moment: datetime) -> None:
        command = models.ActivityRequest.model_validate(action.body).command(self.member_id)
        self.call("activities", lambda: points.record_activity(command))

    def _update(self, action: Action, moment: datetime) -> None:
        body = models.PatchMemberRequest.model_validate(action.body).client_fields()
        self.call("profile updates", lambda: members.update(self.member_id, body))

    def _redeem(self, action: Action, moment: datetime) -> None:
        view = self.call("balance looks", lambda: members.view(self.member_id))
        if view is None or view["status"] != "active":
            return
        for reward in reward_choices(self.program, view, action.pick):
            body = models.RedemptionRequest.model_validate({**action.body, "reward_id": reward.reward_id})
            redeem = functools.partial(points.redeem, body.command(self.member_id))
            try:
                answer = self.call("redemptions", redeem, (RewardOutOfStock,))
            except RewardOutOfStock:
                self.tally[f"{reward.reward_id} out of stock"] += 1
                continue
            self.purse.add((answer or {}).get("coupon"))
            return

    def _adjust(self, action: Action, moment: datetime) -> None:
        command = models.AdjustmentRequest.model_validate(action.body).command(self.member_id)
        self.call("adjustments", lambda: points.adjust(command))

    def _erase(self, action: Action, moment: datetime) -> None:
        self.call("erasures", lambda: members.erase(self.member_id))
