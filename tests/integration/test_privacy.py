"""Personal data stays where it belongs: a member's whole life (enrolment with phone, email, name
and birthday, purchases, a return, a redemption, activities, a contact change, scheduled jobs,
refused requests, erasure) leaves no phone, email, name or birthday - as typed or normalised - in
any log line, metric line or event sent to EventBridge; and erasure leaves nothing personal in the
table while the ledger stays whole."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib import clock
from chalicelib.observability import logger
from chalicelib.services import check, jobs
from chalicelib.store import aws, dynamo, keys
from tests.support import Api, FixedClock, Outbox, api_on_fresh_table, assert_error, moto_stack, ok, readable

TZ = ZoneInfo("Asia/Shanghai")
TABLE, BUS = "loyalty-privacy", "loyalty-privacy-bus"

FIRST = {"phone": "+86 138-0013-8000", "email": "Zhuge.Liang@Example.CN", "name": "Zhuge Kongming 诸葛亮"}
SECOND = {"phone": "+86 139 1234 5678", "email": "kongming@shu.example", "name": "Wolong Xiansheng 卧龙"}
BIRTHDAY = "1981-07-23"


def forms(contact: dict[str, str]) -> set[str]:
    """The contact as typed and normalised: digits only, without the country code, lower case, the
    email's local part, each word of the name."""
    digits = "".join(c for c in contact["phone"] if c.isdigit())
    return {
        contact["phone"],
        "+" + digits,
        digits,
        digits.removeprefix("86"),
        contact["email"],
        contact["email"].lower(),
        contact["email"].split("@")[0].lower(),
        contact["name"],
        *contact["name"].split(),
    }


PERSONAL = forms(FIRST) | forms(SECOND) | {BIRTHDAY, BIRTHDAY.replace("-", "")}


def leaks(texts: list[str]) -> list[tuple[str, str]]:
    """(personal value, text) for every text that holds one, compared case-insensitively and with
    JSON's \\u escapes undone."""
    found = []
    for text in texts:
        plain = text.lower()
        with contextlib.suppress(ValueError):
            plain = json.dumps(json.loads(text), ensure_ascii=False).lower()
        found += [(value, text) for value in PERSONAL if value.lower() in plain]
    return found


class Lines(logging.Handler):
    def __init__(self, formatter: logging.Formatter | None = None) -> None:
        super().__init__()
        if formatter:
            self.setFormatter(formatter)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class Captured:
    def __init__(self) -> None:
        self.app = Lines(logger.registered_handler.formatter)
        self.root = Lines(logging.Formatter("%(name)s %(levelname)s %(message)s %(exc_text)s"))
        self.events: list[str] = []

    @property
    def logs(self) -> list[str]:
        return self.app.lines + self.root.lines


@pytest.fixture(scope="module")
def moto_module() -> Iterator[None]:
    with moto_stack(TABLE, BUS):
        yield


@pytest.fixture
def api(moto_module: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    monkeypatch.setattr(clock, "now", FixedClock(datetime(2026, 7, 23, 10, tzinfo=TZ)))
    with api_on_fresh_table(TABLE) as client:
        yield client


@pytest.fixture
def captured() -> Iterator[Captured]:
    """Every log record (the app's logger and anything that reaches the root logger at its
    configured level) formatted as it would be written, and every PutEvents entry as sent."""
    found = Captured()
    level = logger.log_level
    logger.setLevel(logging.DEBUG)  # everything the app could log (another test may have raised the level)
    logger.addHandler(found.app)
    logging.getLogger().addHandler(found.root)

    def sent(params: dict[str, Any], **_: Any) -> None:
        found.events.extend(json.dumps(entry, ensure_ascii=False) for entry in params["Entries"])

    bus = aws.client("events").meta.events
    bus.register("before-parameter-build.eventbridge.PutEvents", sent)
    try:
        yield found
    finally:
        bus.unregister("before-parameter-build.eventbridge.PutEvents", sent)
        logger.removeHandler(found.app)
        logging.getLogger().removeHandler(found.root)
        logger.setLevel(level)


def table_items() -> list[dict[str, Any]]:
    """Every item of the table (a Scan is fine in a test: the product never scans)."""
    client = aws.client("dynamodb")
    items, start = [], None
    while True:
        page = client.scan(TableName=dynamo.table(), **({"ExclusiveStartKey": start} if start else {}))
        items += page["Items"]
        start = page.get("LastEvaluatedKey")
        if not start:
            return items


def ledger(api: Api, member_id: str) -> list[dict[str, Any]]:
    entries, cursor = [], None
    while True:
        page = ok(api.get(f"/members/{member_id}/ledger?limit=3" + (f"&cursor={cursor}" if cursor else "")))
        entries += page["entries"]
        cursor = page["next_cursor"]
        if not cursor:
            return entries


def live_a_life(api: Api) -> None:
    """Everything a member does, with personal data in the requests."""
    ok(api.post("/members", {"member_id": "p1", **FIRST, "birthday": BIRTHDAY}), 201)
    # the same phone and email, typed differently: refused, and the refusal logs nothing personal
    assert_error(api.post("/members", {"member_id": "p2", "phone": "+8613800138000"}), 409, "conflict")
    assert_error(api.post("/members", {"member_id": "p2", "email": "zhuge.liang@example.cn"}), 409, "conflict")
    assert_error(api.post("/members", {"member_id": "p2", "email": FIRST["name"]}), 400, "invalid_request")
    lines = [{"sku": "tofu", "category": "fresh", "amount": "60.00"}]
    ok(
        api.post("/members/p1/purchases", {"order_id": "o1", "amount": "600.00", "currency": "CNY", "lines": lines}),
        201,
    )
    ok(api.post("/members/p1/purchases", {"order_id": "o2", "amount": "2400.00", "currency": "CNY"}), 201)
    ok(api.post("/members/p1/returns", {"return_id": "r1", "order_id": "o2", "amount": "100.00"}), 201)
    ok(api.post("/members/p1/redemptions", {"redemption_id": "d1", "reward_id": "cash-5"}), 201)
    ok(api.post("/members/p1/activities", {"activity_id": "a1", "type": "review"}), 201)
    ok(api.call("PATCH", "/members/p1", {**SECOND, "preferences": {"newsletter": True}}))
    assert_error(api.call("PATCH", "/members/p1", {"phone": FIRST["name"]}), 400, "invalid_request")
    view = ok(api.get("/members/p1"))
    assert view["profile"]["name"] == SECOND["name"]  # the storefront sees it; nobody else does
    for name in jobs.RULES:  # on the birthday: the birthday coupon, notices, nothing personal
        jobs.run(name, as_of=date(2026, 7, 23))


def test_no_log_line_metric_or_event_carries_personal_data(api, captured, capsys):
    outbox = Outbox(TABLE)  # the events are published from the table's stream
    live_a_life(api)
    ok(api.call("DELETE", "/members/p1", role="ops"))
    outbox.deliver()
    stdout = capsys.readouterr().out.splitlines()
    # The capture worked: the life was logged and announced ...
    assert any("member write committed" in line for line in captured.logs)
    assert {json.loads(e)["DetailType"] for e in captured.events} >= {
        "member.enrolled",
        "points.earned",
        "points.redeemed",
        "coupon.issued",
        "tier.upgraded",
    }
    # ... and none of it holds a phone, an email, a name or a birthday
    assert leaks(captured.logs) == []
    assert leaks(captured.events) == []
    assert leaks(stdout) == []


def test_erasure_keeps_the_ledger_and_leaves_nothing_personal_in_the_table(api):
    live_a_life(api)
    before = ledger(api, "p1")
    balances = ok(api.get("/members/p1"))["points"]
    # When ops erase the member
    assert ok(api.call("DELETE", "/members/p1", role="ops")) == {"member_id": "p1", "status": "erased"}
    # Then the ledger is the same, entry for entry, and so are the balances
    assert ledger(api, "p1") == before
    view = ok(api.get("/members/p1"))
    assert view["status"] == "erased"
    assert view["points"] == balances
    assert sum(e["points"] for e in before) == balances["available"] + balances["pending"]
    assert check.check_member("p1") == []
    # and the view holds nothing personal
    assert all(value in (None, {}, []) for value in view["profile"].values()), view["profile"]
    assert leaks([json.dumps(view, ensure_ascii=False)]) == []
    # and no item anywhere in the table does: the member's partition, contact items, anything
    items = table_items()
    assert any(item["pk"]["S"] == keys.member_pk("p1") for item in items)
    assert leaks([json.dumps(readable(item), ensure_ascii=False) for item in items]) == []
    assert not [item for item in items if item["pk"]["S"].startswith(("CONTACT#", "CARD#"))]
    assert not [item for item in items if "card_number" in item and item["pk"]["S"] == keys.member_pk("p1")]
    # and the contacts, old and new, can enrol new members
    ok(api.post("/members", {"member_id": "p3", **FIRST}), 201)
    ok(api.post("/members", {"member_id": "p4", **SECOND}), 201)
    # while the erased member takes no more writes and keeps its books
    status, _ = api.post("/members/p1/purchases", {"order_id": "o9", "amount": "1.00", "currency": "CNY"})
    assert status in (404, 422)
    assert ledger(api, "p1") == before


def test_finding_a_member_at_the_till_logs_no_contact_card_or_token(api, captured, capsys):
    """GET /members?phone=|email=|card=|card_token=, found and not found: the keys stay out of
    every log line (the query string included), as contacts do everywhere else."""
    from urllib.parse import quote

    ok(api.post("/members", {"member_id": "p1", **FIRST}), 201)
    ok(api.post("/members/p1/purchases", {"order_id": "o1", "amount": "10.00", "currency": "CNY"}), 201)
    card = ok(api.get("/members/p1"))["card_number"]
    token = ok(api.post("/members/p1/card-token"))["card_token"]
    secrets = {card, token, token.rsplit(".", 1)[1]}
    for query in (
        f"phone={quote(FIRST['phone'])}",
        f"email={quote(FIRST['email'])}",
        f"card={card}",
        f"card_token={token}",
    ):
        assert ok(api.get(f"/members?{query}"))["member_id"] == "p1"
    assert_error(api.get(f"/members?phone={quote(SECOND['phone'])}"), 404, "member_not_found")
    assert_error(api.get(f"/members?email={quote(SECOND['email'])}"), 404, "member_not_found")
    assert_error(api.get("/members?card=9000000000000001"), 404, "member_not_found")
    assert_error(api.get(f"/members?card_token={token[:-1]}0"), 400, "invalid_request")
    stdout = capsys.readouterr().out.splitlines()
    assert any("member write committed" in line for line in captured.logs)  # the capture worked
    assert leaks(captured.logs) == [] and leaks(stdout) == []
    everything = "\n".join(captured.logs + stdout)
    assert not [value for value in secrets if value in everything]
