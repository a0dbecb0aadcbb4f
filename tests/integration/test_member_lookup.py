"""At the till (moto): GET /members?phone=|email=|card=|card_token= finds the one member, in at most
two reads and never a Scan; card numbers at enrolment, on an older member's next write and by the
backfill; card tokens valid 60 s."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest

from chalicelib import clock
from chalicelib.domain import cards
from chalicelib.services import backfill, jobs, members
from chalicelib.services import cards as card_service
from chalicelib.store import contacts, dynamo, keys
from tests.support import Api, FixedClock, assert_error, count_dynamodb_calls, ok

NOW = datetime(2026, 5, 4, 2, 0, tzinfo=UTC)
PHONE, EMAIL = "+86 138-0000-0001", "Li.Lei@Example.CN"


@pytest.fixture
def till(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    monkeypatch.setattr(clock, "now", FixedClock(NOW))
    body = {"member_id": "t1", "phone": PHONE, "email": EMAIL, "store_id": "s1", "staff_id": "c-7", "channel": "store"}
    ok(api.post("/members", body), 201)
    ok(api.post("/members", {"member_id": "t2", "phone": "+86 139 0000 0002"}), 201)
    return api


def lookup(api: Api, role: str = "storefront", **query: str) -> tuple[int, Any]:
    return api.get("/members?" + "&".join(f"{name}={quote(value)}" for name, value in query.items()), role=role)


def test_the_member_view_has_a_luhn_valid_card_and_the_attribution(till: Api) -> None:
    view = ok(till.get("/members/t1"))
    assert cards.valid_card_number(view["card_number"])
    assert view["enrolment"] == {"store_id": "s1", "staff_id": "c-7", "channel": "store"}
    other = ok(till.get("/members/t2"))
    assert other["enrolment"] == {"store_id": None, "staff_id": None, "channel": None}
    assert other["card_number"] != view["card_number"]
    assert dynamo.get(keys.card_key(view["card_number"])) == {**keys.card_key(view["card_number"]), "member_id": "t1"}


def test_each_key_however_written_finds_the_same_member_in_at_most_two_reads(till: Api) -> None:
    card = ok(till.get("/members/t1"))["card_number"]
    token = ok(till.post("/members/t1/card-token"))["card_token"]
    keys_written = [
        {"phone": PHONE},
        {"phone": "8613800000001"},
        {"phone": "+8613800000001"},
        {"phone": "86 138 0000 0001"},  # a '+' sent unencoded in a URL arrives as a space
        {"email": "li.lei@example.cn"},
        {"email": "LI.LEI@EXAMPLE.CN"},
        {"card": card},
        {"card_token": token},
    ]
    expected = ok(till.get("/members/t1"))
    for query in keys_written:
        assert ok(lookup(till, **query)) == expected, query
        ((kind, value),) = query.items()
        with count_dynamodb_calls() as calls:  # the lookup itself (a request adds the API key's GetItem)
            assert members.find(kind, value) == expected
        # the claim's GetItem (a token names its member itself), then the member's Query
        assert calls == Counter({"Query": 1} if kind == "card_token" else {"GetItem": 1, "Query": 1}), query
    assert ok(lookup(till, phone="+86 139-0000-0002"))["member_id"] == "t2"
    # ops sees the segment too, as on GET /members/{id}
    assert "segment" in ok(lookup(till, role="ops", card=card))


def test_unknown_keys_are_404_and_never_a_list(till: Api) -> None:
    unused = cards.card_number("12345678901234")
    for query in ({"phone": "+86 138 0000 0009"}, {"email": "nobody@example.cn"}, {"card": unused}):
        error = assert_error(lookup(till, **query), 404, "member_not_found")
        assert error["details"] == [{"field": next(iter(query)), "message": "no member"}]


def test_an_erased_member_is_not_found_by_its_old_phone_card_or_token(till: Api) -> None:
    card = ok(till.get("/members/t1"))["card_number"]
    token = ok(till.post("/members/t1/card-token"))["card_token"]
    ok(till.call("DELETE", "/members/t1", role="ops"))
    for query in ({"phone": PHONE}, {"email": EMAIL}, {"card": card}, {"card_token": token}):
        assert_error(lookup(till, **query), 404, "member_not_found")
    assert dynamo.get(keys.card_key(card)) is None  # the claim was released with the contacts
    assert ok(till.get("/members/t1"))["card_number"] is None
    assert_error(till.post("/members/t1/card-token"), 404, "member_not_found")
    # the phone enrols someone new, who is found by it (and gets a new card)
    ok(till.post("/members", {"member_id": "t3", "phone": "8613800000001"}), 201)
    assert ok(lookup(till, phone=PHONE))["member_id"] == "t3"


def test_a_card_token_works_for_60_seconds_then_stops(till: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    issued = ok(till.post("/members/t1/card-token"))
    assert issued["member_id"] == "t1" and datetime.fromisoformat(issued["expires_at"]) == NOW + timedelta(seconds=60)
    token = issued["card_token"]
    monkeypatch.setattr(clock, "now", FixedClock(NOW + timedelta(seconds=59)))
    assert ok(lookup(till, card_token=token))["member_id"] == "t1"
    monkeypatch.setattr(clock, "now", FixedClock(NOW + timedelta(seconds=60)))
    error = assert_error(lookup(till, card_token=token), 400, "invalid_request")
    assert error["details"] == [{"field": "card_token", "message": "expired"}]


def test_an_altered_or_another_members_token_is_refused(till: Api) -> None:
    mine = ok(till.post("/members/t1/card-token"))["card_token"]
    theirs = ok(till.post("/members/t2/card-token"))["card_token"]
    flipped = mine[:-1] + ("0" if mine[-1] != "0" else "1")
    member_swapped = "t2" + mine[2:]
    their_signature = mine.rsplit(".", 1)[0] + "." + theirs.rsplit(".", 1)[1]
    for bad in (flipped, member_swapped, their_signature):
        error = assert_error(lookup(till, card_token=bad), 400, "invalid_request")
        assert error["details"][0]["field"] == "card_token"
    assert_error(till.post("/members/nobody/card-token"), 404, "member_not_found")


def test_a_taken_card_number_is_drawn_again(till: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    taken = ok(till.get("/members/t1"))["card_number"]
    fresh = cards.card_number("55555555555555")
    drawn = iter([taken, taken, fresh])
    monkeypatch.setattr(card_service, "new_card_number", lambda: next(drawn))
    ok(till.post("/members", {"member_id": "t4"}), 201)
    assert ok(till.get("/members/t4"))["card_number"] == fresh
    assert dynamo.get(keys.card_key(taken))["member_id"] == "t1"  # the holder keeps it


def _forget_card(member_id: str) -> str:
    """A member as enrolled before cards: no card number, no claim."""
    card = str(dynamo.get(keys.profile_key(member_id))["card_number"])
    dynamo.transact(
        [
            dynamo.update(keys.profile_key(member_id), "REMOVE card_number"),
            dynamo.delete(keys.card_key(card)),
        ]
    )
    return card


def test_an_older_member_gets_a_card_on_the_next_write(till: Api) -> None:
    old = _forget_card("t1")
    assert ok(till.get("/members/t1"))["card_number"] is None  # a read changes nothing
    ok(till.post("/members/t1/purchases", {"order_id": "o1", "amount": "20.00", "currency": "CNY"}), 201)
    card = ok(till.get("/members/t1"))["card_number"]
    assert cards.valid_card_number(card) and card != old
    assert ok(lookup(till, card=card))["member_id"] == "t1"
    _forget_card("t2")
    ok(till.call("PATCH", "/members/t2", {"name": "Han Meimei"}))  # a profile write too
    assert ok(lookup(till, card=ok(till.get("/members/t2"))["card_number"]))["member_id"] == "t2"


def test_a_job_write_gives_a_card_too(till: Api) -> None:
    _forget_card("t1")
    jobs.run("dormant", as_of=(NOW + timedelta(days=400)).date())  # t1 goes dormant: a write
    assert ok(till.get("/members/t1"))["card_number"] is not None


def test_the_backfill_gives_cards_and_rekeys_old_phone_claims_once(till: Api) -> None:
    ok(till.post("/members", {"member_id": "t5", "email": "x@example.cn"}), 201)
    ok(till.call("DELETE", "/members/t5", role="ops"))
    _forget_card("t1")
    _forget_card("t2")
    # t2's phone claimed as before the normaliser added '+' (a phone typed without it)
    ok(till.call("PATCH", "/members/t2", {"phone": "8613900000002"}))
    _forget_card("t2")
    old_hash = contacts.contact_hash("phone", "+8613900000002")
    legacy_hash = "legacy-" + old_hash[7:]
    dynamo.transact(
        [
            dynamo.update(keys.profile_key("t2"), "SET phone_hash = :h", {":h": legacy_hash}),
            dynamo.delete(keys.contact_key(old_hash)),
            dynamo.put({**keys.contact_key(legacy_hash), "member_id": "t2"}),
        ]
    )
    assert_error(lookup(till, phone="8613900000002"), 404, "member_not_found")

    with count_dynamodb_calls() as calls:
        first = backfill.run()
    assert calls["Scan"] == 0
    assert (first.members, first.cards_issued, first.contacts_rekeyed, first.contact_conflicts) == (3, 2, 1, [])
    assert ok(lookup(till, phone="+86 139 0000 0002"))["member_id"] == "t2"
    assert dynamo.get(keys.contact_key(legacy_hash)) is None
    assert ok(till.get("/members/t5"))["card_number"] is None  # erased: left alone
    numbers = {ok(till.get(f"/members/{m}"))["card_number"] for m in ("t1", "t2")}
    again = backfill.run()  # safe to run again: nothing left to do
    assert (again.cards_issued, again.contacts_rekeyed) == (0, 0)
    assert {ok(till.get(f"/members/{m}"))["card_number"] for m in ("t1", "t2")} == numbers


def _table() -> list[str]:
    from chalicelib.store import aws

    items = aws.client("dynamodb").scan(TableName=dynamo.table())["Items"]  # a test may scan; the product never
    return sorted(str(item) for item in items if item["pk"]["S"] != keys.API_KEYS_PK)


@pytest.mark.parametrize(
    "query",
    [
        "",
        "?phone=%2B8613800000001&email=li.lei%40example.cn",
        "?phone=abc",
        "?phone=%2B86",
        "?email=not-an-email",
        "?card=9000000000000009",  # the check digit is wrong
        "?card=900000000000000",
        "?card=%D9%A9000000000000001",
        "?card_token=t1.123.xyz",
        "?card_token=" + "a" * 201,
        "?member_id=t1",
    ],
)
def test_a_bad_lookup_is_refused_with_its_field_and_reads_nothing(till: Api, query: str) -> None:
    before = _table()
    with count_dynamodb_calls() as calls:
        error = assert_error(till.get(f"/members{query}"), 400, "invalid_request")
    assert error["details"] and all(detail["field"] for detail in error["details"]), error
    assert calls == Counter({"GetItem": 1})  # the API key's, and nothing else: refused before any read
    assert _table() == before
