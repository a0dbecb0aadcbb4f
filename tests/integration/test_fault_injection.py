"""Faults injected where the SDK meets the wire (moto's botocore stub), so that botocore's own
retries, error parsing and timeouts run as they would against AWS:

- throttling of reads and transactions that outlasts the SDK's retries, or clears within them;
- a transaction whose answer is lost after it was applied (read timeout, closed connection),
  retried by the SDK itself or, once the SDK gives up, by the client;
- transaction conflicts, and real lost races (a concurrent write lands between our read and our
  write: the version, stock, cap or returned-amount condition fails for real);
- EventBridge refusing events;
- and a chaos run: random faults on every call, clients retrying their 503s, compared at the end
  with the same requests on a store without faults.

After each: nothing lost, nothing doubled, and the client got the right answer or a clear error.
test_faults.py covers the simpler case of a transaction that always fails (503, nothing written).
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError, ReadTimeoutError
from botocore.retries import standard
from moto.core.botocore_stubber import BotocoreStubber, MockRawResponse

from chalicelib import clock, config, events
from chalicelib.observability import logger
from chalicelib.services import check, members
from chalicelib.services import keys as api_keys
from chalicelib.store import dynamo, keys
from chalicelib.store import members as member_store
from chalicelib.store.dynamo import StoreError
from tests.support import Api, FixedClock, Outbox, api_on_fresh_table, assert_error, moto_stack, ok

TZ = ZoneInfo("Asia/Shanghai")
TABLE, BUS = "loyalty-faults", "loyalty-faults-bus"
SDK_ATTEMPTS = 4  # chalicelib/store/aws.py: standard mode, max_attempts 3 retries after the first attempt

# --- the injector ------------------------------------------------------------------------------------

THROTTLES = ("ProvisionedThroughputExceededException", "ThrottlingException")
LOST = {"timeout": ReadTimeoutError, "closed": ConnectionClosedError}


@dataclass
class Fault:
    """`error`: answer an error and apply nothing; `lost`: apply the call, then lose its answer;
    `before`: run a callback (a concurrent client) first, then send the call for real."""

    kind: str
    code: str = "ProvisionedThroughputExceededException"
    reasons: list[dict[str, str]] | None = None
    lost_as: str = "timeout"
    callback: Callable[[], None] | None = None


@dataclass
class Injector:
    planned: dict[str, list[Fault]] = field(default_factory=lambda: defaultdict(list))
    sent: Counter[str] = field(default_factory=Counter)
    chaos: Callable[[str], Fault | None] | None = None
    applied_and_lost: Counter[str] = field(default_factory=Counter)

    def plan(self, operation: str, *faults: Fault) -> None:
        self.planned[operation].extend(faults)

    def next_fault(self, operation: str) -> Fault | None:
        if self.planned[operation]:
            return self.planned[operation].pop(0)
        return self.chaos(operation) if self.chaos else None


def error_response(request: Any, fault: Fault) -> AWSResponse:
    body: dict[str, Any] = {"__type": f"com.amazonaws.dynamodb.v20120810#{fault.code}", "message": "injected"}
    if fault.reasons is not None:
        body["CancellationReasons"] = fault.reasons
    status = 500 if fault.code in ("InternalServerError", "InternalFailure") else 400
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return AWSResponse(request.url, status, headers, MockRawResponse(json.dumps(body).encode()))


@pytest.fixture
def faults(monkeypatch: pytest.MonkeyPatch) -> Injector:
    """Every AWS call of this process passes through the injector before moto sees it."""
    injector = Injector()
    real_call = BotocoreStubber.__call__
    in_callback = False

    def call(self: BotocoreStubber, event_name: str, request: Any, **kwargs: Any) -> Any:
        nonlocal in_callback
        operation = event_name.rsplit(".", 1)[-1]
        injector.sent[operation] += 1
        fault = None if in_callback else injector.next_fault(operation)
        if fault is None:
            return real_call(self, event_name, request, **kwargs)
        if fault.kind == "error":
            return error_response(request, fault)
        if fault.kind == "before":
            assert fault.callback is not None
            in_callback = True
            try:
                fault.callback()
            finally:
                in_callback = False
            return real_call(self, event_name, request, **kwargs)
        real_call(self, event_name, request, **kwargs)  # applied ...
        injector.applied_and_lost[operation] += 1
        raise LOST[fault.lost_as](endpoint_url=request.url)  # ... and the answer never arrives

    monkeypatch.setattr(BotocoreStubber, "__call__", call)
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)  # no sleeping
    return injector


@pytest.fixture(scope="module")
def moto_module() -> Iterator[None]:
    with moto_stack(TABLE, BUS):
        yield


@pytest.fixture
def api(moto_module: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setattr(clock, "now", FixedClock(datetime(2026, 5, 20, 10, tzinfo=TZ)))
    with api_on_fresh_table(TABLE) as client:
        yield client


@pytest.fixture
def stored_answers(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The answers the app built and committed with each write (what a lost answer would have said)."""
    built: list[dict[str, Any]] = []
    real_commit = member_store.commit

    def commit(plan: member_store.Commit, now: datetime) -> None:
        built.append(json.loads(json.dumps(plan.response)))
        real_commit(plan, now)

    monkeypatch.setattr(member_store, "commit", commit)
    return built


# --- helpers ---------------------------------------------------------------------------------------


def partition(member_id: str) -> list[dict[str, Any]]:
    return sorted(dynamo.query_all(keys.member_pk(member_id), ""), key=lambda item: item[keys.SK])


def ledger_kinds(member_id: str) -> Counter[str]:
    return Counter(i["kind"] for i in partition(member_id) if i[keys.SK].startswith(keys.ENTRY_PREFIX))


def entry_count(member_id: str) -> int:
    return sum(ledger_kinds(member_id).values())


def books_balance(*member_ids: str) -> None:
    for member_id in member_ids:
        assert check.check_member(member_id) == []


def enrolled(api: Api, member_id: str = "f1", points: int = 0) -> str:
    ok(api.post("/members", {"member_id": member_id}), 201)
    if points:
        ok(
            api.post(
                f"/members/{member_id}/adjustments",
                {"adjustment_id": "seed", "points": points, "reason": "seed"},
                role="ops",
            ),
            201,
        )
    return member_id


def purchase(order_id: str = "o1", amount: str = "120.00") -> dict[str, Any]:
    return {"order_id": order_id, "amount": amount, "currency": "CNY"}


# Every write use case: (path, body, role), on a member with 3,000 points and a purchase o-base.
WRITES: dict[str, tuple[str, dict[str, Any], str]] = {
    "enrol": ("/members", {"member_id": "f2", "phone": "+86 139 0000 0002"}, "storefront"),
    "purchase": ("/members/f1/purchases", purchase("o9", "250.00"), "storefront"),
    "return": ("/members/f1/returns", {"return_id": "r1", "order_id": "o-base", "amount": "40.00"}, "storefront"),
    "redemption": ("/members/f1/redemptions", {"redemption_id": "d1", "reward_id": "cash-5"}, "storefront"),
    "activity": ("/members/f1/activities", {"activity_id": "a1", "type": "review"}, "storefront"),
    "adjustment": ("/members/f1/adjustments", {"adjustment_id": "j1", "points": -70, "reason": "fix"}, "ops"),
}


def ready_for_writes(api: Api) -> None:
    enrolled(api, "f1", points=2900)
    ok(api.post("/members/f1/purchases", purchase("o-base", "100.00")), 201)


def snapshot(member_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    view = members.view(member_id)
    return view["points"], [i for i in partition(member_id) if not i[keys.SK].startswith("ACTIVITY#")]


# --- throttling ------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", ["Query", "TransactWriteItems"])
@pytest.mark.parametrize("code", THROTTLES)
def test_throttling_that_outlasts_the_sdk_retries_is_503_and_writes_nothing(api, faults, operation, code):
    # Given a member, and a table that throttles every attempt of one operation
    enrolled(api)
    before = snapshot("f1")
    faults.sent.clear()
    faults.plan(operation, *[Fault("error", code)] * SDK_ATTEMPTS)
    # When a purchase is posted
    result = api.post("/members/f1/purchases", purchase())
    # Then the SDK tried 3 times, the client is told to come back, and nothing was written
    error = assert_error(result, 503, "busy")
    assert "retry" in error["message"]
    assert faults.sent[operation] == SDK_ATTEMPTS
    assert snapshot("f1") == before
    # And once the table recovers, the same request is applied once
    ok(api.post("/members/f1/purchases", purchase()), 201)
    ok(api.post("/members/f1/purchases", purchase()), 201)
    assert ledger_kinds("f1")["purchase"] == 1
    assert members.view("f1")["points"]["available"] == 100 + 120
    books_balance("f1")


def test_a_throttle_that_clears_within_the_sdk_retries_is_invisible(api, faults):
    enrolled(api)
    faults.sent.clear()
    faults.plan("Query", Fault("error", "ThrottlingException"))
    faults.plan("TransactWriteItems", *[Fault("error", "ProvisionedThroughputExceededException")] * 2)
    answer = ok(api.post("/members/f1/purchases", purchase()), 201)
    assert answer["balances"]["available"] == 220
    assert (faults.sent["Query"], faults.sent["TransactWriteItems"]) == (2, 3)
    assert ledger_kinds("f1")["purchase"] == 1
    books_balance("f1")


def test_a_503_carries_retry_after(api, faults):
    enrolled(api)
    faults.plan("TransactWriteItems", *[Fault("error", "InternalServerError")] * SDK_ATTEMPTS)
    response = api.client.http.post(
        "/members/f1/activities",
        headers={"Authorization": f"Bearer {api.keys['storefront']}", "Content-Type": "application/json"},
        body=json.dumps({"activity_id": "a1", "type": "check_in"}),
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.headers["Content-Type"] == "application/json"


def test_a_throttled_key_lookup_never_lets_the_request_pass(api, faults):
    """The authorizer's read of the key: when it stays throttled the authorizer fails (API Gateway
    answers 5xx and caches nothing) rather than passing the caller with or without a role."""
    faults.plan("GetItem", *[Fault("error", "ProvisionedThroughputExceededException")] * SDK_ATTEMPTS)
    with pytest.raises(StoreError):
        api_keys.role_for(api.keys["storefront"])
    assert api_keys.role_for(api.keys["storefront"]) is not None  # recovered


READS = {
    "member view": ("GET", "/members/f1", "Query"),
    "ledger": ("GET", "/members/f1/ledger", "Query"),
    "wallet": ("GET", "/members/f1/coupons", "Query"),
    "rewards": ("GET", "/rewards", "BatchGetItem"),
    "profile update": ("PATCH", "/members/f1", "Query"),
}


@pytest.mark.parametrize("name", sorted(READS))
def test_a_read_throttled_beyond_the_sdk_retries_is_503_not_500(api, faults, name):
    enrolled(api)
    method, path, operation = READS[name]
    faults.plan(operation, *[Fault("error", "ThrottlingException")] * SDK_ATTEMPTS)
    body = {"name": "Ann"} if method == "PATCH" else None
    error = assert_error(api.call(method, path, body), 503, "busy")
    assert error["message"] == "the points store is busy, retry shortly"
    assert api.call(method, path, body)[0] == 200  # recovered


# --- a write applied whose answer was lost ----------------------------------------------------------


@pytest.mark.parametrize("lost_as", sorted(LOST))
@pytest.mark.parametrize("use_case", sorted(WRITES))
def test_an_answer_lost_after_the_write_is_recovered_by_the_sdk_retry(api, faults, stored_answers, use_case, lost_as):
    # Given a member, and a transaction that is applied but whose answer is lost once
    ready_for_writes(api)
    path, body, role = WRITES[use_case]
    member_id = body.get("member_id", "f1")
    entries = entry_count(member_id)
    stored_answers.clear()
    faults.plan("TransactWriteItems", Fault("lost", lost_as=lost_as))
    # When the write is posted
    answer = ok(api.post(path, body, role=role), 201)
    # Then the SDK's own retry found the write done, and the client got the answer the write stored
    assert faults.applied_and_lost["TransactWriteItems"] == 1
    assert answer == stored_answers[0]
    # And a replay answers the same; nothing was applied twice
    after = snapshot(member_id)
    assert ok(api.post(path, body, role=role), 201) == answer
    assert snapshot(member_id) == after
    assert entry_count(member_id) == entries + 1 + len(answer["related_entries"])
    books_balance(member_id)


@pytest.mark.parametrize("use_case", sorted(WRITES))
def test_an_answer_lost_on_every_sdk_attempt_is_503_and_the_clients_retry_gets_the_original_answer(
    api, faults, stored_answers, use_case
):
    # Given a transaction applied on the first attempt, and every answer lost (the SDK gives up)
    ready_for_writes(api)
    path, body, role = WRITES[use_case]
    member_id = body.get("member_id", "f1")
    entries = entry_count(member_id)
    stored_answers.clear()
    faults.plan("TransactWriteItems", *[Fault("lost", lost_as="timeout")] * SDK_ATTEMPTS)
    # When the write is posted, the client is told to retry
    assert_error(api.post(path, body, role=role), 503, "busy")
    original = stored_answers[0]
    after = snapshot(member_id)
    # Then the client's retry gets the answer the lost one would have been (same coupon, same entry)
    answer = ok(api.post(path, body, role=role), 201)
    assert answer == original
    assert snapshot(member_id) == after
    assert entry_count(member_id) == entries + 1 + len(answer["related_entries"])
    if use_case == "redemption":
        wallet = ok(api.get("/members/f1/coupons"))["coupons"]
        assert [c["code"] for c in wallet if c["kind"] == "reward"] == [answer["coupon"]["code"]]
        assert members.view("f1")["points"]["available"] == 3000 + 100 - 500
    books_balance(member_id)


def test_a_coupon_use_whose_answer_was_lost_is_answered_on_retry(api, faults):
    enrolled(api)
    code = ok(api.get("/members/f1/coupons"))["coupons"][0]["code"]
    faults.plan("UpdateItem", *[Fault("lost")] * SDK_ATTEMPTS)
    assert_error(api.post(f"/members/f1/coupons/{code}/use", {"order_id": "o1"}), 503, "busy")
    used = ok(api.post(f"/members/f1/coupons/{code}/use", {"order_id": "o1"}))
    assert (used["coupon"]["status"], used["coupon"]["used_order_id"]) == ("used", "o1")
    assert_error(api.post(f"/members/f1/coupons/{code}/use", {"order_id": "o2"}), 422, "coupon_used")


def test_a_job_whose_commit_answer_was_lost_does_not_expire_twice(api, faults, monkeypatch):
    from datetime import date

    from chalicelib.services import jobs

    enrolled(api)  # 100 welcome points, lot 2027-05
    monkeypatch.setattr(clock, "now", FixedClock(datetime(2027, 6, 1, 9, tzinfo=TZ)))
    faults.plan("TransactWriteItems", *[Fault("lost")] * SDK_ATTEMPTS)
    first = jobs.run("expiry", as_of=date(2027, 6, 1))
    assert first.members_failed == 1  # it could not know: counted, logged, left for the next run
    second = jobs.run("expiry", as_of=date(2027, 6, 1))
    assert second.members_failed == 0
    assert ledger_kinds("f1")["expire"] == 1
    assert members.view("f1")["points"]["available"] == 0
    books_balance("f1")


# --- conflicts and lost races ---------------------------------------------------------------------


def test_a_transaction_conflict_is_retried_with_a_fresh_read(api, faults):
    enrolled(api)
    faults.sent.clear()
    conflict = Fault("error", "TransactionCanceledException", [{"Code": "TransactionConflict"}, {"Code": "None"}])
    faults.plan("TransactWriteItems", conflict, conflict)
    answer = ok(api.post("/members/f1/redemptions", {"redemption_id": "d1", "points": 60, "reason": "x"}), 201)
    assert answer["balances"]["available"] == 40
    assert (faults.sent["Query"], faults.sent["TransactWriteItems"]) == (3, 3)
    assert ledger_kinds("f1")["redemption"] == 1
    books_balance("f1")


def concurrently(api: Api, path: str, body: dict[str, Any], role: str = "storefront") -> Callable[[], None]:
    """Another client's request, landing between our read and our write."""
    return lambda: ok(api.post(path, body, role=role), 201)


def test_a_redemption_that_lost_the_race_is_refused_never_overspent(api, faults):
    enrolled(api)  # 100 points
    faults.plan(
        "TransactWriteItems",
        Fault(
            "before",
            callback=concurrently(
                api, "/members/f1/redemptions", {"redemption_id": "other", "points": 70, "reason": "x"}
            ),
        ),
    )
    assert_error(
        api.post("/members/f1/redemptions", {"redemption_id": "mine", "points": 60, "reason": "x"}),
        422,
        "insufficient_points",
    )
    assert members.view("f1")["points"]["available"] == 30
    assert ledger_kinds("f1")["redemption"] == 1
    books_balance("f1")


def test_a_reward_sold_out_between_read_and_write_takes_no_points(api, faults):
    enrolled(api, points=3000)
    ok(api.post("/members/f1/purchases", purchase("o-silver", "2000.00")), 201)  # tote-bag needs silver
    before = snapshot("f1")

    def last_bag_goes() -> None:
        dynamo.call(
            "put_item",
            TableName=dynamo.table(),
            Item=dynamo.to_item({**keys.reward_stock_key("tote-bag"), "remaining": 0}),
        )

    faults.plan("TransactWriteItems", Fault("before", callback=last_bag_goes))
    assert_error(
        api.post("/members/f1/redemptions", {"redemption_id": "d1", "reward_id": "tote-bag"}),
        422,
        "reward_out_of_stock",
    )
    assert snapshot("f1") == before  # no points taken, no coupon, no entry
    books_balance("f1")


def test_two_returns_of_one_order_racing_take_back_at_most_the_purchase(api, faults):
    enrolled(api)
    earned = ok(api.post("/members/f1/purchases", purchase("o1", "300.00")), 201)["entry"]["points"]
    faults.plan(
        "TransactWriteItems",
        Fault(
            "before",
            callback=concurrently(
                api, "/members/f1/returns", {"return_id": "r-other", "order_id": "o1", "amount": "200.00"}
            ),
        ),
    )
    assert_error(
        api.post("/members/f1/returns", {"return_id": "r-mine", "order_id": "o1", "amount": "200.00"}),
        422,
        "return_exceeds_purchase",
    )
    assert ledger_kinds("f1")["return"] == 1
    assert members.view("f1")["points"]["available"] == 100 + earned - earned * 2 // 3
    books_balance("f1")


def test_an_activity_cap_reached_by_a_concurrent_request_is_refused(api, faults):
    enrolled(api)
    faults.plan(
        "TransactWriteItems",
        Fault(
            "before",
            callback=concurrently(api, "/members/f1/activities", {"activity_id": "a-other", "type": "check_in"}),
        ),
    )
    assert_error(
        api.post("/members/f1/activities", {"activity_id": "a-mine", "type": "check_in"}), 422, "activity_limit_reached"
    )
    assert ledger_kinds("f1")["activity"] == 1
    assert members.view("f1")["points"]["available"] == 105
    books_balance("f1")


# --- EventBridge ------------------------------------------------------------------------------------


class Lines(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None) -> None:
        super().__init__()
        self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    handler = Lines(logger.registered_handler.formatter)
    logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        logger.removeHandler(handler)


def emf_value(stdout: str, name: str) -> float:
    values = [json.loads(line)[name] for line in stdout.splitlines() if line.startswith('{"_aws"') and name in line]
    return sum(v if isinstance(v, int | float) else sum(v) for v in values)


@pytest.mark.parametrize("how", ["unreachable", "throttled"])
def test_a_bus_that_refuses_events_never_touches_the_write_and_its_events_come_later(
    api, faults, capsys, log_lines, how
):
    """The write never calls the bus (its events are in its transaction); the outbox's handler, on
    the table's stream, reports the record whose events failed every attempt (Lambda retries it,
    then sends it to the on-failure queue) and publishes them when the stream gives them again."""
    enrolled(api)
    outbox = Outbox(TABLE)
    capsys.readouterr()
    faults.sent.clear()
    answer = ok(api.post("/members/f1/purchases", purchase("o1", "20000.00")), 201)  # earned + tier.upgraded
    assert answer["balances"]["available"] == 100 + 20000
    assert faults.sent["PutEvents"] == 0
    fault = Fault("error", "ThrottlingException") if how == "throttled" else Fault("lost")
    faults.plan("PutEvents", *[fault] * (SDK_ATTEMPTS * events.PUBLISH.attempts))
    outbox.deliver()  # reported: the pump keeps the record, as Lambda does
    ((failure,),) = [answer["batchItemFailures"] for answer in outbox.answers]
    assert failure["itemIdentifier"]
    assert faults.sent["PutEvents"] == SDK_ATTEMPTS * events.PUBLISH.attempts
    assert emf_value(capsys.readouterr().out, "EventsFailed") == 2
    assert any("event publication failed" in line for line in log_lines)
    faults.sent.clear()
    outbox.deliver()  # the bus is back: the same record again, its events out
    assert len(outbox.answers) == 2 and outbox.answers[-1] == {"batchItemFailures": []}
    assert faults.sent["PutEvents"] == 1
    # A replay answers from the ledger and writes (so publishes) nothing again.
    assert ok(api.post("/members/f1/purchases", purchase("o1", "20000.00")), 201) == answer
    outbox.deliver()
    assert len(outbox.answers) == 2 and faults.sent["PutEvents"] == 1
    books_balance("f1")


# --- chaos ------------------------------------------------------------------------------------------


def script(seed: int) -> list[tuple[str, str, dict[str, Any], str]]:
    """A day of storefront traffic on three members: (method, path, body, role)."""
    rng = random.Random(seed)
    steps: list[tuple[str, str, dict[str, Any], str]] = [
        ("POST", "/members", {"member_id": f"c{n}"}, "storefront") for n in range(3)
    ]
    orders: dict[str, list[str]] = {f"c{n}": [] for n in range(3)}
    for n in range(45):
        member = f"c{rng.randrange(3)}"
        kind = rng.choice(["purchase"] * 4 + ["return", "redeem", "redeem", "activity", "adjust", "view"])
        if kind == "purchase":
            orders[member].append(f"o{n}")
            body = purchase(f"o{n}", f"{rng.randint(1, 3000)}.{rng.randint(0, 99):02d}")
            steps.append(("POST", f"/members/{member}/purchases", body, "storefront"))
        elif kind == "return" and orders[member]:
            body = {"return_id": f"r{n}", "order_id": rng.choice(orders[member]), "amount": f"{rng.randint(1, 400)}.00"}
            steps.append(("POST", f"/members/{member}/returns", body, "storefront"))
        elif kind == "redeem":
            body = rng.choice([{"points": rng.randint(1, 900), "reason": "gift"}, {"reward_id": "cash-5"}])
            steps.append(("POST", f"/members/{member}/redemptions", {"redemption_id": f"d{n}", **body}, "storefront"))
        elif kind == "activity":
            body = {"activity_id": f"a{n}", "type": rng.choice(["check_in", "review", "share"])}
            steps.append(("POST", f"/members/{member}/activities", body, "storefront"))
        elif kind == "adjust":
            body = {"adjustment_id": f"j{n}", "points": rng.randint(-300, 300) or 1, "reason": "ops"}
            steps.append(("POST", f"/members/{member}/adjustments", body, "ops"))
        else:
            steps.append(("GET", f"/members/{member}", {}, "storefront"))
    return steps


def play(api: Api, steps: list[tuple[str, str, dict[str, Any], str]]) -> list[tuple[int, Any]]:
    """Each request retried by its client while it gets 503 (as a client honouring Retry-After would).
    An authorizer that could not read the key fails the request before the route: API Gateway
    answers 5xx; the local test client raises. The client retries that too."""
    outcomes = []
    for method, path, body, role in steps:
        for _ in range(30):
            try:
                status, answer = api.call(method, path, body or None, role=role)
            except StoreError:
                continue
            assert status != 500, (path, body, answer)
            if status != 503:
                break
        assert status != 503, f"{path} still busy after 30 tries"
        code = answer["error"]["code"] if status >= 400 else None
        outcomes.append((status, code))
    return outcomes


def books(member_ids: list[str]) -> dict[str, Any]:
    """What must be identical with and without faults (coupon codes are random, so left out)."""
    state = {}
    for member_id in member_ids:
        items = partition(member_id)
        entries = [
            {k: i[k] for k in ("entry_id", "points", "balances_after", "occurred_at", "recorded_at")}
            for i in items
            if i[keys.SK].startswith(keys.ENTRY_PREFIX)
        ]
        lots = [(i[keys.SK], i["remaining"]) for i in items if i[keys.SK].startswith(keys.LOT_PREFIX)]
        coupons = sorted((i["kind"], i["coupon_status"]) for i in items if i[keys.SK].startswith(keys.COUPON_PREFIX))
        view = members.view(member_id)
        state[member_id] = {
            "entries": entries,
            "lots": lots,
            "coupons": coupons,
            "points": view["points"],
            "tier": view["tier"],
            "progress": view["progress"],
        }
        assert check.check_member(member_id) == []
    return state


@pytest.mark.parametrize("seed", [7, 2026])
def test_chaos_every_call_may_fail_yet_every_request_applies_exactly_once(api, faults, seed):
    steps = script(seed)
    # Given the same traffic on a store without faults
    calm = play(api, steps)
    expected = books(["c0", "c1", "c2"])

    # When it is played again on a fresh table where a third of the calls fail or lose their answer
    rng = random.Random(seed)

    def chaos(operation: str) -> Fault | None:
        if operation not in ("Query", "GetItem", "TransactWriteItems", "UpdateItem", "BatchGetItem", "PutEvents"):
            return None
        roll = rng.random()
        if roll < 0.15:
            return Fault("error", rng.choice([*THROTTLES, "InternalServerError"]))
        if roll < 0.30:
            return Fault("lost", lost_as=rng.choice(sorted(LOST)))
        return None

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TABLE_NAME", TABLE + "-chaos")
        config.reset()
        with api_on_fresh_table(TABLE + "-chaos") as fresh:
            faults.chaos = chaos
            stormy = play(fresh, steps)
            faults.chaos = None
            # Then every request got the answer it got without faults, and the books are identical
            assert stormy == calm
            assert books(["c0", "c1", "c2"]) == expected
            assert sum(faults.applied_and_lost.values()) > 5
    config.reset()
