"""Campaigns (ops): create, list, read with their budget, pause / resume / end or extend."""

from __future__ import annotations

from typing import Any, Literal

from chalice import Blueprint
from pydantic import AwareDatetime, model_validator

from chalicelib.api.http import endpoints
from chalicelib.api.models import Body
from chalicelib.api.routes import OPS, bearer_key
from chalicelib.domain.campaigns import Campaign

blueprint = Blueprint(__name__)
endpoint = endpoints(blueprint)


class CampaignsQuery(Body):
    status: Literal["active", "paused", "ended"] | None = None


class PatchCampaignRequest(Body):
    status: Literal["active", "paused", "ended"] | None = None
    ends_at: AwareDatetime | None = None

    @model_validator(mode="after")
    def _one_change(self) -> PatchCampaignRequest:
        if self.status is None and self.ends_at is None:
            raise ValueError("give status or a later ends_at (nothing else of a campaign changes)")
        return self


@blueprint.route("/campaigns", methods=["POST"], authorizer=bearer_key)
@endpoint(role=OPS, status=201, body=Campaign)
def create_campaign(body: Campaign) -> dict[str, Any]:
    """Create a campaign (201). The same campaign_id with the same body answers it again; another body: 409."""
    from chalicelib.services import campaigns

    return campaigns.create(body)


@blueprint.route("/campaigns", methods=["GET"], authorizer=bearer_key)
@endpoint(role=OPS, query=CampaignsQuery)
def list_campaigns(query: CampaignsQuery) -> dict[str, Any]:
    """Every campaign, or those of one status."""
    from chalicelib.services import campaigns

    return campaigns.listing(query.status)


@blueprint.route("/campaigns/{campaign_id}", methods=["GET"], authorizer=bearer_key)
@endpoint(role=OPS)
def get_campaign(campaign_id: str) -> dict[str, Any]:
    """One campaign with granted_points and budget_left (budgeted campaigns; null otherwise)."""
    from chalicelib.services import campaigns

    return campaigns.get(campaign_id)


@blueprint.route("/campaigns/{campaign_id}", methods=["PATCH"], authorizer=bearer_key)
@endpoint(role=OPS, body=PatchCampaignRequest)
def patch_campaign(campaign_id: str, body: PatchCampaignRequest) -> dict[str, Any]:
    """Pause, resume or end a campaign, or move its end later; its effect never changes."""
    from chalicelib.services import campaigns

    return campaigns.patch(campaign_id, body.status, body.ends_at)


@blueprint.route("/campaigns/{campaign_id}/results", methods=["GET"], authorizer=bearer_key)
@endpoint(role=OPS)
def campaign_results(campaign_id: str) -> dict[str, Any]:
    """What the campaign did, exact as of the read: participants, applied, points granted, coupons
    issued and used, budget left, and the participants' orders and sales in its window."""
    from chalicelib.services import campaigns

    return campaigns.results(campaign_id)
