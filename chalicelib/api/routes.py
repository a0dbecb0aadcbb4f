"""Routes: the validated body in, one service call, the answer out. No business rules here."""

from __future__ import annotations

import json
from typing import Any

from chalice import AuthResponse, Blueprint, Response
from chalice.app import AuthRequest

from chalicelib.api import models
from chalicelib.api.http import caller_role, endpoints
from chalicelib.program import load_program
from chalicelib.services import cards, keys, members, points, quotes, wallet

blueprint = Blueprint(__name__)
endpoint = endpoints(blueprint)
STOREFRONT, OPS = "storefront", "ops"


@blueprint.authorizer()
def bearer_key(auth_request: AuthRequest) -> AuthResponse:
    """Identify the caller's key. Unknown keys pass with no role, so the route answers 401 in our
    JSON error format (API Gateway's own 401 body is not); roles are checked per route."""
    found = keys.caller_for(auth_request.token or "")
    if found is None:
        return AuthResponse(routes=["*"], principal_id="anonymous", context={"role": ""})
    context = {"role": found.role, "store_id": found.store_id or ""}  # a store key's one store
    return AuthResponse(routes=["*"], principal_id=found.key_id, context=context)


@blueprint.route("/health", methods=["GET"])
@endpoint(role=None)
def health() -> dict[str, Any]:
    """Liveness."""
    return {"status": "ok"}


@blueprint.route("/openapi.json", methods=["GET"])
def openapi() -> Response:
    """The OpenAPI 3.1 document of this API (built from the routes and request models)."""
    from chalicelib.api.openapi import build

    document = build(blueprint.current_app)
    return Response(body=json.dumps(document), status_code=200, headers={"Content-Type": "application/json"})


@blueprint.route("/program", methods=["GET"], authorizer=bearer_key)
@endpoint(role=STOREFRONT)
def program() -> dict[str, Any]:
    """Tiers, thresholds, benefits, earn rules, expiry rules and rewards (segment thresholds: ops keys only)."""
    ops = caller_role(blueprint.current_request) == OPS
    return load_program().model_dump(mode="json", exclude=None if ops else {"segments"})


@blueprint.route("/rewards", methods=["GET"], authorizer=bearer_key)
@endpoint(role=STOREFRONT)
def rewards() -> dict[str, Any]:
    """The rewards catalog with stock left."""
    return wallet.rewards()


@blueprint.route("/members", methods=["POST"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, status=201, body=models.EnrolRequest)
def enrol(body: models.EnrolRequest) -> dict[str, Any]:
    """Enrol a member (welcome bonus, first-purchase coupon); one member per phone and email."""
    return members.enrol(body.command())


@blueprint.route("/members", methods=["GET"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, query=models.MemberLookupQuery)
def find_member(query: models.MemberLookupQuery) -> dict[str, Any]:
    """At the till: the member view of the one member with this phone, email, card number or card
    token (exactly one of them), or 404 member_not_found; never a list."""
    kind, value = query.key()
    return members.find(kind, value, include_segment=caller_role(blueprint.current_request) == OPS)


@blueprint.route("/members/{member_id}/card-token", methods=["POST"], authorizer=bearer_key)
@endpoint(role=STOREFRONT)
def card_token(member_id: str) -> dict[str, Any]:
    """A card token for the app's QR code, valid 60 s: `GET /members?card_token=` finds the member
    with it until then (a screenshot stops working)."""
    return cards.issue_token(member_id)


@blueprint.route("/members/{member_id}", methods=["GET"], authorizer=bearer_key)
@endpoint(role=STOREFRONT)
def get_member(member_id: str) -> dict[str, Any]:
    """The member view: status, tier, points, progress, benefits; ops keys also see its RFM segment."""
    return members.view(member_id, include_segment=caller_role(blueprint.current_request) == OPS)


@blueprint.route("/members/{member_id}", methods=["PATCH"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, body=models.PatchMemberRequest)
def patch_member(member_id: str, body: models.PatchMemberRequest) -> dict[str, Any]:
    """Update contact, name and preferences; the birthday can be set once."""
    return members.update(member_id, body.client_fields())


@blueprint.route("/members/{member_id}", methods=["DELETE"], authorizer=bearer_key)
@endpoint(role=OPS)
def erase_member(member_id: str) -> dict[str, Any]:
    """Erase personal data and keep the anonymised ledger."""
    return members.erase(member_id)


@blueprint.route("/members/{member_id}/purchases", methods=["POST"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, status=201, body=models.PurchaseRequest)
def purchase(member_id: str, body: models.PurchaseRequest) -> dict[str, Any]:
    """Record a purchase and earn points (idempotent on order_id)."""
    return points.record_purchase(body.command(member_id))


@blueprint.route("/members/{member_id}/quote", methods=["POST"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, body=models.QuoteRequest)
def quote(member_id: str, body: models.QuoteRequest) -> dict[str, Any]:
    """What this cart would earn (with the split), the tier discount, which coupons apply and how
    many points may pay for it. Writes nothing; the purchase with the same body credits the same."""
    return quotes.quote(body.command(member_id), body.coupon_codes or [])


@blueprint.route("/members/{member_id}/returns", methods=["POST"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, status=201, body=models.ReturnRequest)
def purchase_return(member_id: str, body: models.ReturnRequest) -> dict[str, Any]:
    """Record a return; takes back the points the returned amount earned (idempotent on return_id)."""
    return points.record_return(body.command(member_id))


@blueprint.route("/members/{member_id}/redemptions", methods=["POST"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, status=201, body=models.RedemptionRequest)
def redemption(member_id: str, body: models.RedemptionRequest) -> dict[str, Any]:
    """Redeem a reward or points, oldest points first (idempotent on redemption_id)."""
    return points.redeem(body.command(member_id))


@blueprint.route("/members/{member_id}/activities", methods=["POST"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, status=201, body=models.ActivityRequest)
def activity(member_id: str, body: models.ActivityRequest) -> dict[str, Any]:
    """Record an activity (check-in, review, share) within its daily cap."""
    return points.record_activity(body.command(member_id))


@blueprint.route("/members/{member_id}/adjustments", methods=["POST"], authorizer=bearer_key)
@endpoint(role=OPS, status=201, body=models.AdjustmentRequest)
def adjustment(member_id: str, body: models.AdjustmentRequest) -> dict[str, Any]:
    """Correct a balance by hand, with a reason (ops only)."""
    return points.adjust(body.command(member_id))


@blueprint.route("/members/{member_id}/ledger", methods=["GET"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, query=models.LedgerQuery)
def ledger(member_id: str, query: models.LedgerQuery) -> dict[str, Any]:
    """The points ledger, newest first, paged with an opaque signed cursor."""
    return wallet.ledger(member_id, query.limit, query.cursor)


@blueprint.route("/members/{member_id}/coupons", methods=["GET"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, query=models.CouponQuery)
def coupons(member_id: str, query: models.CouponQuery) -> dict[str, Any]:
    """The member's coupon wallet, optionally filtered by status."""
    return wallet.list_coupons(member_id, query.status)


@blueprint.route("/members/{member_id}/coupons/{code}/use", methods=["POST"], authorizer=bearer_key)
@endpoint(role=STOREFRONT, body=models.CouponUseRequest)
def use_coupon(member_id: str, code: str, body: models.CouponUseRequest) -> dict[str, Any]:
    """Use a coupon for an order; a coupon is used once."""
    return wallet.use_coupon(body.command(member_id, code))
