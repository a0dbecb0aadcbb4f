"""The API's edge: what API Gateway answers by itself is in the app's error format, the stage is
throttled per stage, and its access log holds no credentials or identities."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from chalicelib.api.http import CHALICE_CODES
from chalicelib.domain import errors
from infra.edge import GATEWAY_RESPONSES, RETRY_AFTER_S
from infra.stages import STAGES
from tests.infra.conftest import Stack

ROOT = Path(__file__).resolve().parents[2]

# API Gateway's response type -> (status, code) the gateway must answer with; None keeps its status.
EXPECTED = {
    "UNAUTHORIZED": ("401", CHALICE_CODES[401]),  # no Authorization header
    "ACCESS_DENIED": ("403", CHALICE_CODES[403]),
    "MISSING_AUTHENTICATION_TOKEN": ("403", "unknown_route"),  # as loyalty dev answers an unknown route
    "THROTTLED": ("429", "throttled"),
    "QUOTA_EXCEEDED": ("429", "throttled"),
    "AUTHORIZER_FAILURE": ("503", errors.Busy.code),  # a throttled key lookup is not a 500
    "AUTHORIZER_CONFIGURATION_ERROR": ("503", errors.Busy.code),
    "DEFAULT_4XX": (None, "invalid_request"),
    "DEFAULT_5XX": (None, CHALICE_CODES[500]),
}
RETRY_AFTER = {"THROTTLED", "AUTHORIZER_FAILURE", "AUTHORIZER_CONFIGURATION_ERROR"}


def gateway_responses(stack: Stack) -> dict[str, Any]:
    api = stack.template["Resources"].get("RestAPI")
    if api is None:
        pytest.skip("the app has no routes")
    responses: dict[str, Any] = api["Properties"]["GatewayResponses"]
    return responses


def test_the_codes_are_the_apps() -> None:
    assert (CHALICE_CODES[401], CHALICE_CODES[403], CHALICE_CODES[500], errors.Busy.code) == (
        "unauthorized",
        "forbidden",
        "internal_error",
        "busy",
    )


@pytest.mark.parametrize("response_type", sorted(EXPECTED))
def test_the_gateway_answers_in_our_error_format(stack: Stack, response_type: str) -> None:
    responses = gateway_responses(stack)
    assert response_type in responses, f"{stack.id}: no Gateway Response for {response_type}"
    response = responses[response_type]
    status, code = EXPECTED[response_type]
    assert response.get("StatusCode") == status
    headers = response["ResponseParameters"]["Headers"]
    assert headers["Content-Type"] == "'application/json'"
    if response_type in RETRY_AFTER:
        assert headers["Retry-After"] == f"'{RETRY_AFTER_S}'"
    else:
        assert "Retry-After" not in headers
    (media_type,) = response["ResponseTemplates"]
    assert media_type == "application/json"
    answer = json.loads(response["ResponseTemplates"][media_type])
    assert set(answer) == {"error"} and set(answer["error"]) == {"code", "message", "details"}
    assert answer["error"]["code"] == code and answer["error"]["details"] == []
    assert answer["error"]["message"] and "$" not in answer["error"]["message"]  # static: nothing to escape


def test_only_the_types_we_mean_are_set(stack: Stack) -> None:
    assert set(gateway_responses(stack)) == set(EXPECTED) == set(GATEWAY_RESPONSES)


@pytest.mark.slow
def test_the_gateway_responses_reach_the_deployed_api(stacks: list[Stack], expanded: dict[str, Path]) -> None:
    """SAM writes them into the API's Swagger, which its deployment is hashed from (a change
    redeploys the stage)."""
    for stack in stacks:
        template = json.loads(expanded[stack.id].read_text())
        apis = [r for r in template["Resources"].values() if r["Type"] == "AWS::ApiGateway::RestApi"]
        if not apis:
            continue
        (api,) = apis
        found = api["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
        assert set(found) == set(EXPECTED), stack.id
        assert found["AUTHORIZER_FAILURE"]["statusCode"] == "503"
        assert found["AUTHORIZER_FAILURE"]["responseParameters"]["gatewayresponse.header.Retry-After"] == "'1'"


def test_the_stage_is_throttled_with_the_stages_limits_prod_above_dev(stack: Stack) -> None:
    api = stack.template["Resources"].get("RestAPI")
    if api is None:
        pytest.skip("the app has no routes")
    stage = STAGES[stack.stage]
    (settings,) = api["Properties"]["MethodSettings"]
    assert (settings["ResourcePath"], settings["HttpMethod"]) == ("/*", "*")  # every method of the stage
    assert settings["ThrottlingRateLimit"] == stage.api_rate_limit
    assert settings["ThrottlingBurstLimit"] == stage.api_burst_limit


def test_prod_is_throttled_higher_than_dev_and_deploy_md_says_by_how_much() -> None:
    dev, prod = STAGES["dev"], STAGES["prod"]
    assert prod.api_rate_limit > dev.api_rate_limit and prod.api_burst_limit > dev.api_burst_limit
    for stage in (dev, prod):
        assert stage.api_burst_limit >= stage.api_rate_limit
    text = (ROOT / "infra" / "DEPLOY.md").read_text().replace(",", "")
    for stage in (dev, prod):
        row = re.search(rf"\| `{stage.name}` \| (\d+) requests/s \| (\d+) \|", text)
        assert row, f"infra/DEPLOY.md has no throttling row for {stage.name}"
        assert (int(row[1]), int(row[2])) == (stage.api_rate_limit, stage.api_burst_limit)


# Context variables that would put a credential or an identity in the access log.
FORBIDDEN_LOG_VARIABLES = re.compile(r"header|authoriz|identity|principal|apikey|api_key", re.IGNORECASE)


def test_the_access_log_holds_no_header_authorization_or_identity(stack: Stack) -> None:
    api = stack.template["Resources"].get("RestAPI")
    if api is None:
        pytest.skip("the app has no routes")
    fields = json.loads(api["Properties"]["AccessLogSetting"]["Format"])
    for name, value in fields.items():
        assert not FORBIDDEN_LOG_VARIABLES.search(value), f"{stack.id}: access log field {name} = {value}"
        assert not FORBIDDEN_LOG_VARIABLES.search(name), f"{stack.id}: access log field {name}"
    assert "$context.path" not in fields.values()  # the path holds member ids: the template only
