"""The demo's seed campaigns, created through the campaign service at the start of the replay:
a Wednesday member day (2x for everyone), a Double 11 (3x on `fresh`, budgeted) on the last
11 November of the replayed days, and a 14-day win-back bonus for `at_risk` members ending today."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from chalicelib.program import Program
from loyalty_tools.demo.plan import Plan

WIN_BACK_DAYS = 14
DOUBLE_11_POINTS_PER_MEMBER = 100  # the Double 11 budget: enough for some, never for every basket


def _last_double_11(last: date) -> date:
    this_year = date(last.year, 11, 11)
    return this_year if this_year <= last else date(last.year - 1, 11, 11)


def bodies(plan: Plan, program: Program) -> list[dict[str, Any]]:
    """POST /campaigns bodies; ids carry the seed (another seed in the table has its own)."""
    tz, last = program.tz, plan.date_of(plan.days)

    def midnight(day: date) -> str:
        return datetime.combine(day, time(), tz).isoformat()

    eleven = _last_double_11(last)
    prefix = f"demo-{plan.seed}"
    return [
        {
            "campaign_id": f"{prefix}-member-day",
            "name": "Wednesday member day: 2x points",
            "starts_at": midnight(plan.start),
            "ends_at": midnight(last + timedelta(days=1)),
            "days": {"weekdays": [3]},
            "effect": {"multiplier": "2"},
        },
        {
            "campaign_id": f"{prefix}-double-11",
            "name": "Double 11: 3x on fresh",
            "starts_at": midnight(eleven),
            "ends_at": midnight(eleven + timedelta(days=1)),
            "conditions": {"categories": ["fresh"]},
            "effect": {"multiplier": "3"},
            "limits": {"budget_points": max(1000, DOUBLE_11_POINTS_PER_MEMBER * len(plan.people))},
        },
        {
            "campaign_id": f"{prefix}-win-back",
            "name": "We miss you: 200 bonus points",
            "starts_at": midnight(last - timedelta(days=WIN_BACK_DAYS - 1)),
            "ends_at": midnight(last + timedelta(days=1)),
            "audience": {"segments": ["at_risk"]},
            "effect": {"bonus_points": 200},
            "limits": {"per_member": 1},
        },
    ]


def create(plan: Plan, program: Program) -> list[str]:
    from chalicelib.domain.campaigns import Campaign
    from chalicelib.services import campaigns

    created = [campaigns.create(Campaign.model_validate(body)) for body in bodies(plan, program)]
    return [c["campaign_id"] for c in created]


def results(campaign_ids: list[str]) -> dict[str, dict[str, Any]]:
    from chalicelib.services import campaigns

    return {campaign_id: campaigns.results(campaign_id) for campaign_id in campaign_ids}
