"""What API Gateway answers by itself, before or instead of the app: its Gateway Responses, in the
app's error format `{"error": {"code", "message", "details": []}}` with `Content-Type:
application/json` (chalicelib/api/http.py writes the same format and the same codes for the same
cases; `loyalty dev`'s gateway answers an unknown route as `unknown_route` too).

Set through SAM's `GatewayResponses` on Chalice's `RestAPI`: SAM writes them into the API's Swagger
(`x-amazon-apigateway-gateway-responses`), so a change to them makes a new deployment of the stage,
which separate `AWS::ApiGateway::GatewayResponse` resources would not (they wait for the next one).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

# How long a client should wait before retrying a throttled request or a failed key check (seconds):
# the same as the app's own 503 `busy` (chalicelib/api/http.py).
RETRY_AFTER_S = 1


@dataclass(frozen=True)
class GatewayAnswer:
    status: int | None  # None: keep the status API Gateway chose (the DEFAULT_4XX / DEFAULT_5XX families)
    code: str
    message: str
    retry_after: bool = False


# API Gateway's response type -> our answer. The codes are the app's: `unauthorized`, `forbidden`,
# `busy` and `internal_error` as chalicelib/api/http.py answers them, `unknown_route` as `loyalty dev`.
GATEWAY_RESPONSES: dict[str, GatewayAnswer] = {
    # No Authorization header: the authorizer is not even called (a key it does not know reaches the
    # route, which answers 401 `unauthorized` itself).
    "UNAUTHORIZED": GatewayAnswer(401, "unauthorized", "a valid API key is required"),
    # The authorizer's policy denied the route (ours allows every route; roles are checked by the app).
    "ACCESS_DENIED": GatewayAnswer(403, "forbidden", "this key may not call this endpoint"),
    # A method and path the API does not have: API Gateway's 403, whatever the key.
    "MISSING_AUTHENTICATION_TOKEN": GatewayAnswer(403, "unknown_route", "no route matches this method and path"),
    # The stage's throttling (infra/stages.py: api_rate_limit, api_burst_limit).
    "THROTTLED": GatewayAnswer(429, "throttled", "too many requests; retry shortly", retry_after=True),
    # A usage plan's quota (none today): the same answer, without a promise of when it resets.
    "QUOTA_EXCEEDED": GatewayAnswer(429, "throttled", "the request quota is used up; retry later"),
    # The authorizer raised or timed out (a throttled API-key lookup, a cold start past its timeout):
    # API Gateway's own 500, but nothing is wrong with the request, and nothing was done. As the
    # app's `busy`: 503 with Retry-After.
    "AUTHORIZER_FAILURE": GatewayAnswer(503, "busy", "the API key could not be checked; retry shortly", True),
    "AUTHORIZER_CONFIGURATION_ERROR": GatewayAnswer(
        503, "busy", "the API key could not be checked; retry shortly", retry_after=True
    ),
    # Everything else API Gateway refuses or fails by itself (a body over its 10 MB, a bad request
    # to the gateway, an integration timeout): its status, our format.
    "DEFAULT_4XX": GatewayAnswer(None, "invalid_request", "the request was refused by the API gateway"),
    "DEFAULT_5XX": GatewayAnswer(None, "internal_error", "unexpected error at the API gateway"),
}


def body(answer: GatewayAnswer) -> str:
    """The answer's body: a static JSON document (no request data in it, so nothing to escape)."""
    return json.dumps({"error": {"code": answer.code, "message": answer.message, "details": []}})


def sam_gateway_responses() -> dict[str, dict[str, object]]:
    """The `GatewayResponses` property of an `AWS::Serverless::Api` (header values are quoted
    literals, as API Gateway's mapping expressions want them)."""
    responses: dict[str, dict[str, object]] = {}
    for response_type, answer in GATEWAY_RESPONSES.items():
        headers = {"Content-Type": "'application/json'"}
        if answer.retry_after:
            headers["Retry-After"] = f"'{RETRY_AFTER_S}'"
        response: dict[str, object] = {
            "ResponseParameters": {"Headers": headers},
            "ResponseTemplates": {"application/json": body(answer)},
        }
        if answer.status is not None:
            response["StatusCode"] = str(answer.status)
        responses[response_type] = response
    return responses
