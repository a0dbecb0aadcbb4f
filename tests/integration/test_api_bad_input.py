"""Bad input on every write endpoint: a 4xx JSON error (never a 500) and nothing written.

One world per module (members with an order, a used coupon and a check-in done today); every case
compares the table, the member's view and ledger before and after the request.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.domain.errors import LoyaltyError
from chalicelib.services import keys, members, wallet
from chalicelib.store import aws
from tests.support import Api, moto_stack, moto_table_definition, ok

TABLE, BUS = "loyalty-api-bad-input", "loyalty-api-bad-input-bus"
PHONE_1, PHONE_2 = "+86 138 0000 0001", "+86 138 0000 0002"
EMAIL_1, EMAIL_2 = "one@example.cn", "two@example.cn"
OVERSIZE = "x" * (64 * 1024 + 1)
MISSING = object()  # a field left out of the body


@dataclass(frozen=True)
class Moment:
    """A time relative to when the request is sent (cases are built long before they run)."""

    offset: timedelta = timedelta(0)

    def iso(self) -> str:
        return (datetime.now(UTC) + self.offset).isoformat()


NOW, SOON, LONG_AGO = Moment(), Moment(timedelta(minutes=10)), Moment(timedelta(days=-401))


def _resolve(value: Any) -> Any:
    if isinstance(value, Moment):
        return value.iso()
    if isinstance(value, dict):
        return {k: _resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v) for v in value]
    return value


@dataclass
class World:
    api: Api
    coupons: dict[str, str]  # each member's first-purchase coupon (m1's is used, for order u1)
    last: dict[str, Any] = field(default_factory=dict)  # state after the previous case, per member


def _table_items() -> list[str]:
    """Every item but the API keys ("last used" is bookkeeping), read from moto's store itself:
    a Scan per case would spend most of this module's time serialising the table."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    region = aws.client("dynamodb").meta.region_name
    table = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].get_table(TABLE)
    items = (json.dumps(item.to_json(), sort_keys=True, default=str) for item in table.all_items())
    return sorted(item for item in items if '"APIKEYS"' not in item)


def _state(api: Api, member_id: str) -> tuple[Any, ...]:
    """The member's view (balances, tier, profile) and ledger, as the API builds them, and the table."""
    return _answer(members.view, member_id), _answer(wallet.ledger, member_id, 100, None), _table_items()


def _answer(service: Any, *args: Any) -> Any:
    try:
        return service(*args)
    except LoyaltyError as exc:  # e.g. an unknown member: that it stays unknown is the state
        return exc.code


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with moto_stack(TABLE, BUS):
        yield _build_world()


def _build_world() -> World:
    from app import app

    aws.client("dynamodb").create_table(**moto_table_definition(TABLE))
    _, storefront = keys.create_key("storefront", "test storefront")
    _, ops = keys.create_key("ops", "test ops")
    api = Api(Client(app), storefront, ops)

    coupons = {}
    for member_id, contacts in {
        "m1": {"phone": PHONE_1, "email": EMAIL_1, "name": "One", "birthday": "1990-05-01"},
        "m2": {"phone": PHONE_2, "email": EMAIL_2},
        "h1": {},
    }.items():
        coupons[member_id] = ok(api.post("/members", {"member_id": member_id, **contacts}), 201)["coupons"][0]["code"]
    for member_id in ("m1", "h1"):
        ok(api.post(f"/members/{member_id}/purchases", {"order_id": "o1", "amount": "100.00", "currency": "CNY"}), 201)
    ok(api.post("/members/m1/activities", {"activity_id": "c1", "type": "check_in"}), 201)
    ok(api.post(f"/members/m1/coupons/{coupons['m1']}/use", {"order_id": "u1"}), 200)
    assert ok(api.get("/members/m1"), 200)["points"]["available"] == 205
    return World(api, coupons)


# --- the cases -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # {member}, and {coupon}: that member's coupon
    base: dict[str, Any]  # a valid body: each case changes one thing
    required: tuple[str, ...] = ()
    role: str = "storefront"
    member: str = "m1"


ENDPOINTS = {
    "enrol": Endpoint(
        "POST",
        "/members",
        {
            "member_id": "new-1",
            "phone": "+86 139 0000 0009",
            "email": "new@example.cn",
            "name": "New",
            "birthday": "1991-01-02",
            "referrer_id": "m2",
        },
    ),
    "patch": Endpoint("PATCH", "/members/{member}", {"name": "Changed", "email": "changed@example.cn"}),
    "purchase": Endpoint(
        "POST",
        "/members/{member}/purchases",
        {
            "order_id": "o-new",
            "amount": "10.00",
            "currency": "CNY",
            "occurred_at": NOW,
            "channel": "web",
            "lines": [{"sku": "apple", "category": "fresh", "amount": "5.00"}],
        },
        ("order_id", "amount", "currency"),
    ),
    "return": Endpoint(
        "POST",
        "/members/{member}/returns",
        {"return_id": "r-new", "order_id": "o1", "amount": "10.00", "occurred_at": NOW},
        ("return_id", "order_id", "amount"),
    ),
    "redemption": Endpoint(
        "POST",
        "/members/{member}/redemptions",
        {"redemption_id": "d-new", "points": 10, "reason": "gift"},
        ("redemption_id", "points", "reason"),
    ),
    "activity": Endpoint(
        "POST", "/members/{member}/activities", {"activity_id": "a-new", "type": "review"}, ("activity_id", "type")
    ),
    "adjustment": Endpoint(
        "POST",
        "/members/{member}/adjustments",
        {"adjustment_id": "j-new", "points": 10, "reason": "fix"},
        ("adjustment_id", "points", "reason"),
        role="ops",
    ),
    "coupon-use": Endpoint(
        "POST", "/members/{member}/coupons/{coupon}/use", {"order_id": "u-new"}, ("order_id",), member="m2"
    ),
}

BAD_ID = [123, True, {}, "", "a" * 65, "has space", "中文"]
BAD_AMOUNT = [0, -1, "-0.01", "10.001", 1e30, 10**20, "1e30", "NaN", "Infinity", True, [], "ten", "10000000.01", None]
BAD_TIME = [
    "2026-01-01T10:00:00",
    "2026-01-01",
    "yesterday",
    "",
    [],
    "2026-13-01T00:00:00+08:00",
    SOON,  # more than 5 minutes ahead
    LONG_AGO,  # older than max_backdate_days
]
BAD_POSITIVE_POINTS = [0, -5, 10**20, 1e30, "NaN", True, 1.5, "10", 1_000_001, None]
BAD_SIGNED_POINTS = [0, 10**20, -1_000_001, True, False, 1.5, "5", None]
BAD_REASON = ["", "x" * 201, 5, [], None]
BAD_FIELDS: dict[str, list[Any]] = {
    "member_id": BAD_ID,
    "order_id": [*BAD_ID, None],
    "return_id": [*BAD_ID, None],
    "redemption_id": [*BAD_ID, None],
    "activity_id": [*BAD_ID, None],
    "adjustment_id": [*BAD_ID, None],
    "referrer_id": BAD_ID,
    "amount": BAD_AMOUNT,
    "currency": ["USD", "cny", 156, "", None],
    "occurred_at": BAD_TIME,
    "channel": [5, "x" * 33, []],
    "lines": [
        "x",
        {},
        [{"sku": "a"}],
        [{"amount": "1.00"}],
        [{"sku": "a", "amount": "0"}],
        [{"sku": "a", "amount": "10.01"}],
        [{"sku": "a", "amount": "1.00", "bogus": 1}],
        [{"sku": "", "amount": "1.00"}],
        [{"sku": "a", "amount": "0.01"}] * 501,
    ],
    "phone": ["abc", 13800000009, "", "+", "1" * 21, []],
    "email": ["nope", "a@b", "", 5, "x" * 250 + "@example.cn"],
    "name": ["", "   ", "x" * 101, 5],
    "birthday": ["1990-02-30", "2999-01-01", "1899-12-31", "yesterday", "", []],
    "preferences": [
        "x",
        [],
        {"": True},
        {"k": {"a": 1}},
        {"k" * 41: True},
        {"k": "v" * 101},
        {"k": 1.5},
        {"k": None},
        {f"k{i}": True for i in range(21)},
    ],
    "type": ["dance", "", 5, None, "x" * 41],
    "reason": BAD_REASON,
}
PER_ENDPOINT_FIELDS = {
    "redemption": {"points": BAD_POSITIVE_POINTS, "reward_id": BAD_ID},
    "adjustment": {"points": BAD_SIGNED_POINTS},
    "patch": {name: BAD_FIELDS[name] for name in ("phone", "email", "name", "birthday", "preferences")},
}

# Malformed or non-object bodies, sent as raw bytes.
RAW_BODIES = [
    b"[{}]",
    b'"text"',
    b"null",
    b"{",
    b"{'a': 1}",
    b'{"a": 1,}',
    b"\xff\xfe\x00",
    b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"a": ' + b"[" * 60_000,
]  # the last two: too deep


@dataclass(frozen=True)
class Case:
    endpoint: str
    body: Any  # a dict to send as JSON, or raw bytes
    status: int
    code: str
    path: str | None = None
    role: str | None = None


def _with(base: dict[str, Any], name: str, value: Any) -> dict[str, Any]:
    body = {k: v for k, v in base.items() if k != name}
    if value is not MISSING:
        body[name] = value
    return body


def _field_cases(name: str, endpoint: Endpoint) -> Iterator[tuple[str, Case]]:
    fields = {**{f: BAD_FIELDS[f] for f in endpoint.base if f in BAD_FIELDS}, **PER_ENDPOINT_FIELDS.get(name, {})}
    for field_name, values in fields.items():
        for index, value in enumerate(values):
            yield (
                f"{name}-{field_name}-{index}",
                Case(name, _with(endpoint.base, field_name, value), 400, "invalid_request"),
            )
    for field_name in endpoint.required:
        yield (
            f"{name}-missing-{field_name}",
            Case(name, _with(endpoint.base, field_name, MISSING), 400, "invalid_request"),
        )


def _generic_cases(name: str, endpoint: Endpoint) -> Iterator[tuple[str, Case]]:
    yield f"{name}-unknown-field", Case(name, {**endpoint.base, "bogus": 1}, 400, "invalid_request")
    yield f"{name}-oversized", Case(name, {**endpoint.base, "padding": OVERSIZE}, 413, "payload_too_large")
    for index, raw in enumerate(RAW_BODIES):
        yield f"{name}-raw-{index}", Case(name, raw, 400, "invalid_request")


def _unknown_member_cases() -> Iterator[tuple[str, Case]]:
    for name in ("patch", "purchase", "return", "redemption", "activity", "adjustment", "coupon-use"):
        path = ENDPOINTS[name].path.replace("{member}", "ghost").replace("{coupon}", "NOPE")
        yield f"{name}-unknown-member", Case(name, ENDPOINTS[name].base, 404, "member_not_found", path=path)
    yield "delete-unknown-member", Case("delete", None, 404, "member_not_found", path="/members/ghost", role="ops")


def _literal_cases() -> Iterator[tuple[str, Case]]:
    """JSON's non-standard NaN and Infinity literals (Python's json module reads them)."""
    for name, raw in (
        ("purchase", b'{"order_id": "o-new", "amount": NaN, "currency": "CNY"}'),
        ("return", b'{"return_id": "r-new", "order_id": "o1", "amount": Infinity}'),
        ("redemption", b'{"redemption_id": "d-new", "points": NaN, "reason": "gift"}'),
        ("adjustment", b'{"adjustment_id": "j-new", "points": -Infinity, "reason": "fix"}'),
    ):
        yield f"{name}-nan-literal", Case(name, raw, 400, "invalid_request")


def _rule_cases() -> Iterator[tuple[str, Case]]:
    """Well-formed requests that the state or the rules refuse."""
    base = ENDPOINTS
    yield "enrol-phone-taken", Case("enrol", {"member_id": "new-2", "phone": "+8613800000001"}, 409, "conflict")
    yield "enrol-email-taken", Case("enrol", {"member_id": "new-2", "email": EMAIL_2.upper()}, 409, "conflict")
    yield "enrol-id-taken", Case("enrol", {"member_id": "m1", "name": "Other"}, 409, "conflict")
    yield (
        "enrol-unknown-referrer",
        Case("enrol", {"member_id": "new-2", "referrer_id": "ghost"}, 400, "invalid_request"),
    )
    yield "enrol-self-referral", Case("enrol", {"member_id": "new-2", "referrer_id": "new-2"}, 400, "invalid_request")
    yield "patch-phone-taken", Case("patch", {"phone": PHONE_2, "name": "x"}, 409, "conflict")
    yield "patch-email-taken", Case("patch", {"email": EMAIL_2, "name": "x"}, 409, "conflict")
    yield "patch-birthday-change", Case("patch", {"birthday": "1991-01-01", "name": "x"}, 409, "conflict")
    yield "purchase-order-reused", Case("purchase", {**base["purchase"].base, "order_id": "o1"}, 409, "conflict")
    yield "return-unknown-order", Case("return", {**base["return"].base, "order_id": "nope"}, 404, "not_found")
    yield "return-too-much", Case("return", {**base["return"].base, "amount": "100.01"}, 422, "return_exceeds_purchase")
    yield (
        "redemption-too-many-points",
        Case("redemption", {**base["redemption"].base, "points": 206}, 422, "insufficient_points"),
    )
    for reward, status, code in (
        ("cash-5", 422, "insufficient_points"),
        ("tote-bag", 422, "tier_too_low"),
        ("lounge-pass", 422, "tier_too_low"),
        ("nope", 404, "not_found"),
    ):
        yield (
            f"redemption-reward-{reward}",
            Case("redemption", {"redemption_id": "d-new", "reward_id": reward}, status, code),
        )
    yield (
        "redemption-reward-and-points",
        Case("redemption", {**base["redemption"].base, "reward_id": "cash-5"}, 400, "invalid_request"),
    )
    yield "activity-cap", Case("activity", {"activity_id": "a-new", "type": "check_in"}, 422, "activity_limit_reached")
    yield (
        "adjustment-below-zero",
        Case("adjustment", {**base["adjustment"].base, "points": -206}, 422, "insufficient_points"),
    )
    yield "adjustment-storefront", Case("adjustment", base["adjustment"].base, 403, "forbidden", role="storefront")
    yield "delete-storefront", Case("delete", None, 403, "forbidden", path="/members/m1", role="storefront")
    yield "coupon-used", Case("coupon-use", {"order_id": "u2"}, 422, "coupon_used", path="/members/m1/coupons/{m1}/use")
    yield (
        "coupon-unknown",
        Case("coupon-use", {"order_id": "u2"}, 404, "not_found", path="/members/m2/coupons/NOPE/use"),
    )
    yield (
        "coupon-of-another-member",
        Case("coupon-use", {"order_id": "u2"}, 404, "not_found", path="/members/m1/coupons/{m2}/use"),
    )


def _all_cases() -> list[Any]:
    cases: list[tuple[str, Case]] = []
    for name, endpoint in ENDPOINTS.items():
        cases += [*_field_cases(name, endpoint), *_generic_cases(name, endpoint)]
    cases += [*_literal_cases(), *_unknown_member_cases(), *_rule_cases()]
    ids = [case_id for case_id, _ in cases]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    return [pytest.param(case, id=case_id) for case_id, case in cases]


def _send(world: World, method: str, path: str, body: Any, role: str, member_id: str) -> tuple[int, Any]:
    path = path.format(member=member_id, coupon=world.coupons.get(member_id, "NOPE"), **world.coupons)
    if isinstance(body, bytes):
        return world.api.call(method, path, role=role, raw=body)
    return world.api.call(method, path, _resolve(body), role=role)


def _check_error(answer: tuple[int, Any]) -> dict[str, Any]:
    status, body = answer
    assert 400 <= status < 500, answer
    assert isinstance(body, dict) and set(body) == {"error"}, answer
    error = body["error"]
    assert set(error) == {"code", "message", "details"} and isinstance(error["details"], list), answer
    assert isinstance(error["code"], str) and isinstance(error["message"], str) and error["message"], answer
    return error


def _before(world: World, member_id: str) -> tuple[Any, ...]:
    if member_id not in world.last:
        world.last[member_id] = _state(world.api, member_id)
    return world.last[member_id]


@pytest.mark.parametrize("case", _all_cases())
def test_bad_input_is_refused_and_writes_nothing(world, case):
    endpoint = ENDPOINTS.get(case.endpoint)
    method = endpoint.method if endpoint else "DELETE"
    path = case.path or (endpoint.path if endpoint else "/members/m1")
    role = case.role or (endpoint.role if endpoint else "ops")
    member_id = endpoint.member if endpoint else "m1"
    before = _before(world, member_id)
    answer = _send(world, method, path, case.body, role, member_id)
    after = _state(world.api, member_id)
    world.last = {member_id: after}  # first: a failure here must not spill into the next case
    error = _check_error(answer)
    assert (answer[0], error["code"]) == (case.status, case.code), answer
    if case.status == 400:
        assert error["details"] and all({"field", "message"} <= set(d) for d in error["details"]), error
    assert after == before, f"{case} wrote something"


def test_the_valid_bodies_are_valid(world):
    """Each case changes one thing of a valid body: each valid body alone is accepted (by a member
    of its own, so that the other tests' members stay as they are)."""
    api = world.api
    enrolled = api.post("/members", {"member_id": "v1"})
    world.coupons["v1"] = enrolled[1]["coupons"][0]["code"]
    assert api.post("/members/v1/purchases", {"order_id": "o1", "amount": "100.00", "currency": "CNY"})[0] == 201
    statuses = {}
    for name, endpoint in ENDPOINTS.items():
        statuses[name] = _send(world, endpoint.method, endpoint.path, endpoint.base, endpoint.role, "v1")[0]
    assert statuses == {
        "enrol": 201,
        "patch": 200,
        "purchase": 201,
        "return": 201,
        "redemption": 201,
        "activity": 201,
        "adjustment": 201,
        "coupon-use": 200,
    }
    assert api.get("/members/v1")[1]["points"]["available"] == 200 + 15 - 10 - 10 + 20 + 10


# --- generated garbage -----------------------------------------------------------------------

FIELD_NAMES = sorted({name for endpoint in ENDPOINTS.values() for name in endpoint.base} | {"bogus", ""})
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**25), max_value=10**25)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "10.00",
            "0.001",
            "CNY",
            "o1",
            "m1",
            "check_in",
            "cash-5",
            "1990-05-01",
            "NaN",
            "2026-01-01T00:00:00",
            NOW,
            "+86 138 0000 0001",
            "a@b.cn",
        ]
    )
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)
BODIES = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), JSON_VALUES, max_size=6)
WRITES = [name for name in ENDPOINTS if name != "enrol"]  # enrolment of {} is valid: it is fuzzed below


@settings(max_examples=100, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(WRITES), body=BODIES | st.binary(max_size=64))
def test_generated_garbage_never_breaks_the_api(world, name, body):
    """On a member of its own (h1): a valid generated body may write."""
    endpoint = ENDPOINTS[name]
    before = _before(world, "h1")
    answer = _send(world, endpoint.method, endpoint.path, body, endpoint.role, "h1")
    after = _state(world.api, "h1")
    world.last = {"h1": after}
    assert answer[0] < 500, answer
    if answer[0] >= 400:
        _check_error(answer)
        assert after == before, f"{name} {body!r} was refused but wrote something"
    else:
        assert isinstance(answer[1], dict), answer


@settings(max_examples=20, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_generated_enrolments_never_break_the_api(world, body):
    answer = _send(world, "POST", "/members", body, "storefront", "h1")
    assert answer[0] < 500, answer
    if answer[0] >= 400:
        _check_error(answer)
    else:
        assert answer[0] == 201 and answer[1]["balances"]["available"] == 100, answer
