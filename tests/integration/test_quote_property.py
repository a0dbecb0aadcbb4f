"""Property: for random programs, active campaigns and carts, the quote's `points_to_earn` is what
the purchase with the same body then credits, and a cart the quote refuses the purchase refuses
the same way (status and error code), writing nothing (on moto, through the API)."""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chalicelib import clock
from chalicelib.program import PROGRAM_FILE, load_program
from chalicelib.services import campaigns
from tests.support import Api, api_client, moto_stack, moto_table_definition, ok

TABLE, BUS = "loyalty-quote-property", "loyalty-quote-property-bus"
_ids = itertools.count()


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    from chalicelib.store import aws

    with moto_stack(TABLE, BUS):
        aws.client("dynamodb").create_table(**moto_table_definition(TABLE))
        with api_client() as client:
            yield client
    campaigns.clear_cache()


def money(cents: int) -> str:
    return str(Decimal(cents).scaleb(-2))


multipliers = st.sampled_from(["1.0", "1.25", "1.5", "2.0", "3.3"])
programs = st.fixed_dictionaries(
    {
        "tier_multipliers": st.lists(multipliers, min_size=4, max_size=4),
        "fresh": multipliers,
        "household": multipliers,
        "points_per_unit": st.sampled_from([1, 3, 10, 100, 1000]),
        "max_share": st.sampled_from(["0.1", "0.5", "1"]),
        "min_points": st.integers(1, 300),
    }
)
campaign_bodies = st.lists(
    st.fixed_dictionaries(
        {
            "effect": st.one_of(
                st.fixed_dictionaries({"multiplier": st.sampled_from(["1.5", "2", "3"])}),
                st.fixed_dictionaries({"bonus_points": st.integers(1, 500)}),
                st.fixed_dictionaries({"multiplier": st.sampled_from(["2", "4"]), "bonus_points": st.integers(1, 50)}),
            ),
            "categories": st.sampled_from([None, None, ["fresh"], ["household", "toys"]]),
            "min_amount": st.sampled_from([None, None, "50.00", "500.00"]),
            "per_member": st.sampled_from([None, 1, 3]),
        }
    ),
    max_size=3,
)
carts = st.fixed_dictionaries(
    {
        "amount": st.integers(1, 300_000),
        "lines": st.lists(
            st.tuples(st.sampled_from(["fresh", "household", "toys", None]), st.integers(0, 100)), max_size=3
        ),
        # percent of the most the cart may pay (over 100: refused), and whether off the money step
        "points_payment": st.one_of(st.none(), st.tuples(st.integers(0, 110), st.booleans())),
        "days_ago": st.integers(0, 20),
        "balance": st.integers(0, 100_000),
        "earlier_spend": st.integers(0, 2_500_000),
    }
)


def write_program(path: Path, drawn: dict[str, Any]) -> None:
    program = json.loads(PROGRAM_FILE.read_text(encoding="utf-8"))
    for tier, multiplier in zip(program["tiers"], drawn["tier_multipliers"], strict=True):
        tier["multiplier"] = multiplier
    program["categories"] = {"fresh": drawn["fresh"], "household": drawn["household"]}
    program["points_payment"] = {k: drawn[k] for k in ("points_per_unit", "max_share", "min_points")}
    path.write_text(json.dumps(program), encoding="utf-8")


def create_campaigns(bodies: list[dict[str, Any]]) -> None:
    from chalicelib.domain.campaigns import Campaign

    now = clock.now()
    for body in bodies:
        conditions = {k: body[k] for k in ("categories", "min_amount") if body[k] is not None}
        campaigns.create(
            Campaign.model_validate(
                {
                    "campaign_id": f"prop-{next(_ids)}",
                    "name": "property",
                    "starts_at": (now - timedelta(days=60)).isoformat(),
                    "ends_at": (now + timedelta(days=60)).isoformat(),
                    "effect": body["effect"],
                    "conditions": conditions,
                    "limits": {"per_member": body["per_member"]} if body["per_member"] else {},
                }
            )
        )


def payment_points(drawn: dict[str, Any], cart: dict[str, Any]) -> int | None:
    """Mostly payments the rules take (a share of the most allowed, in whole money steps), some not."""
    if cart["points_payment"] is None:
        return None
    percent, off_step = cart["points_payment"]
    ppu = drawn["points_per_unit"]
    most = int(Decimal(cart["amount"]) * Decimal(drawn["max_share"]) * ppu / 100)
    most = min(most, cart["balance"] + 100)  # the welcome points are there too
    step = ppu // math.gcd(ppu, 100)
    points = most * percent // 100 // step * step
    return max(1, points + (1 if off_step and step > 1 else 0))


def cart_body(cart: dict[str, Any], drawn: dict[str, Any]) -> dict[str, Any]:
    amount, left, lines = cart["amount"], cart["amount"], []
    for n, (category, percent) in enumerate(cart["lines"]):
        cents = left * percent // 100
        left -= cents
        if cents == 0:
            continue
        lines.append({"sku": f"S{n}", "amount": money(cents), **({"category": category} if category else {})})
    body: dict[str, Any] = {"amount": money(amount), "currency": "CNY", "lines": lines or None}
    body["occurred_at"] = (clock.now() - timedelta(days=cart["days_ago"])).isoformat()
    body["points_payment"] = payment_points(drawn, cart)
    return {k: v for k, v in body.items() if v is not None}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=programs, bodies=campaign_bodies, cart=carts)
def test_the_quote_is_what_the_purchase_credits(
    api: Api, tmp_path_factory: pytest.TempPathFactory, drawn: dict[str, Any], bodies: list[Any], cart: dict[str, Any]
) -> None:
    file = tmp_path_factory.mktemp("program") / "program.json"
    write_program(file, drawn)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PROGRAM_FILE", str(file))
        load_program.cache_clear()
        try:
            create_campaigns(bodies)
            member = f"prop-m{next(_ids)}"
            ok(api.post("/members", {"member_id": member}), 201)
            if cart["balance"]:
                grant = {"adjustment_id": "g", "points": cart["balance"], "reason": "property"}
                ok(api.post(f"/members/{member}/adjustments", grant, role="ops"), 201)
            if cart["earlier_spend"]:  # a tier above the first, and per-member campaign uses
                ok(
                    api.post(
                        f"/members/{member}/purchases",
                        {"order_id": "e", "amount": money(cart["earlier_spend"]), "currency": "CNY"},
                    ),
                    201,
                )
            check_quote_against_purchase(api, member, cart_body(cart, drawn))
        finally:
            load_program.cache_clear()


def check_quote_against_purchase(api: Api, member: str, body: dict[str, Any]) -> None:
    before = ok(api.get(f"/members/{member}"))["points"]
    quote_status, quote = api.post(f"/members/{member}/quote", body)
    status, bought = api.post(f"/members/{member}/purchases", {**body, "order_id": "o"})
    event(f"quote {quote_status}{' ' + quote['error']['details'][0]['field'] if quote_status != 200 else ''}")
    if quote_status != 200:
        assert status == quote_status and bought["error"]["code"] == quote["error"]["code"], (quote, bought)
        assert ok(api.get(f"/members/{member}"))["points"] == before  # refused: nothing written
        return
    assert status == 201, bought
    assert bought["entry"]["points"] == quote["points_to_earn"], (quote, bought)
    split = quote["breakdown"]
    campaign_points = sum(c["points"] for c in split["campaigns"])
    assert split["base"] + split["category"] + split["tier"] + campaign_points == quote["points_to_earn"]
    paid = body.get("points_payment", 0)
    event(f"paid with points: {bool(paid)}, campaign points: {campaign_points > 0}")
    if paid:
        assert paid <= quote["points_payment"]["max_points"]  # an accepted payment is within what the quote offers
    extra = sum(e["points"] for e in bought["related_entries"] if e["kind"] != "points_payment")
    assert bought["balances"]["available"] == before["available"] - paid + quote["points_to_earn"] + extra
