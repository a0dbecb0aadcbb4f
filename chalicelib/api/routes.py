"""Routes: parse the body, call one service, answer. No business rules here."""

from __future__ import annotations

from typing import Any

from chalice import AuthResponse, Blueprint
from chalice.app import AuthRequest

from chalicelib.api import models
from chalicelib.api.http import endpoint, parse, parse_query
from chalicelib.program import load_program
from chalicelib.services import keys, members, points, wallet

blueprint = Blueprint(__name__)
STOREFRONT, OPS = "storefront", "ops"


@blueprint.authorizer()
def api_key(auth_request: AuthRequest) -> AuthResponse:
    """Identify the caller's key. Unknown keys pass with no role, so the route answers 401 in our
    JSON error format (API Gateway's own 401 body is not); roles are checked per route."""
    found = keys.role_for(auth_request.token or "")
    if found is None:
        return AuthResponse(routes=["*"], principal_id="anonymous", context={"role": ""})
    key_id, role = found
    return AuthResponse(routes=["*"], principal_id=key_id, context={"role": role})


def _body() -> Any:
    return blueprint.current_request


@blueprint.route("/health", methods=["GET"])
@endpoint(role=None)
def health() -> dict[str, Any]:
    return {"status": "ok"}


@blueprint.route("/program", methods=["GET"], authorizer=api_key)
@endpoint(role=STOREFRONT)
def program() -> dict[str, Any]:
    return load_program().model_dump(mode="json")


@blueprint.route("/rewards", methods=["GET"], authorizer=api_key)
@endpoint(role=STOREFRONT)
def rewards() -> dict[str, Any]:
    return wallet.rewards()


@blueprint.route("/members", methods=["POST"], authorizer=api_key)
@endpoint(role=STOREFRONT, status=201)
def enrol() -> dict[str, Any]:
    return members.enrol(parse(models.EnrolRequest, _body()).client_fields())


@blueprint.route("/members/{member_id}", methods=["GET"], authorizer=api_key)
@endpoint(role=STOREFRONT)
def get_member(member_id: str) -> dict[str, Any]:
    return members.view(member_id)


@blueprint.route("/members/{member_id}", methods=["PATCH"], authorizer=api_key)
@endpoint(role=STOREFRONT)
def patch_member(member_id: str) -> dict[str, Any]:
    return members.update(member_id, parse(models.PatchMemberRequest, _body()).client_fields())


@blueprint.route("/members/{member_id}", methods=["DELETE"], authorizer=api_key)
@endpoint(role=OPS)
def erase_member(member_id: str) -> dict[str, Any]:
    return members.erase(member_id)


@blueprint.route("/members/{member_id}/purchases", methods=["POST"], authorizer=api_key)
@endpoint(role=STOREFRONT, status=201)
def purchase(member_id: str) -> dict[str, Any]:
    return points.record_purchase(member_id, parse(models.PurchaseRequest, _body()).client_fields())


@blueprint.route("/members/{member_id}/returns", methods=["POST"], authorizer=api_key)
@endpoint(role=STOREFRONT, status=201)
def purchase_return(member_id: str) -> dict[str, Any]:
    return points.record_return(member_id, parse(models.ReturnRequest, _body()).client_fields())


@blueprint.route("/members/{member_id}/redemptions", methods=["POST"], authorizer=api_key)
@endpoint(role=STOREFRONT, status=201)
def redemption(member_id: str) -> dict[str, Any]:
    return points.redeem(member_id, parse(models.RedemptionRequest, _body()).client_fields())


@blueprint.route("/members/{member_id}/activities", methods=["POST"], authorizer=api_key)
@endpoint(role=STOREFRONT, status=201)
def activity(member_id: str) -> dict[str, Any]:
    return points.record_activity(member_id, parse(models.ActivityRequest, _body()).client_fields())


@blueprint.route("/members/{member_id}/adjustments", methods=["POST"], authorizer=api_key)
@endpoint(role=OPS, status=201)
def adjustment(member_id: str) -> dict[str, Any]:
    return points.adjust(member_id, parse(models.AdjustmentRequest, _body()).client_fields())


@blueprint.route("/members/{member_id}/ledger", methods=["GET"], authorizer=api_key)
@endpoint(role=STOREFRONT)
def ledger(member_id: str) -> dict[str, Any]:
    query = parse_query(models.LedgerQuery, _body())
    return wallet.ledger(member_id, query.limit, query.cursor)


@blueprint.route("/members/{member_id}/coupons", methods=["GET"], authorizer=api_key)
@endpoint(role=STOREFRONT)
def coupons(member_id: str) -> dict[str, Any]:
    return wallet.list_coupons(member_id, parse_query(models.CouponQuery, _body()).status)


@blueprint.route("/members/{member_id}/coupons/{code}/use", methods=["POST"], authorizer=api_key)
@endpoint(role=STOREFRONT)
def use_coupon(member_id: str, code: str) -> dict[str, Any]:
    return wallet.use_coupon(member_id, code, parse(models.CouponUseRequest, _body()).order_id)
