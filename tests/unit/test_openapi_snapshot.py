"""The committed OpenAPI document matches the routes and models (regenerate with
`python -m loyalty_tools.openapi > docs/openapi.json` after an intended API change)."""

import json
from pathlib import Path

from app import app
from chalicelib.api.openapi import build

SNAPSHOT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_openapi_matches_committed_snapshot():
    assert build(app) == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_every_route_is_documented_with_its_role():
    document = build(app)
    for path, methods in app.routes.items():
        for method in methods:
            operation = document["paths"][path][method.lower()]
            assert operation["responses"], (path, method)
    purchase = document["paths"]["/members/{member_id}/purchases"]["post"]
    assert purchase["x-role"] == "storefront"
    schema = document["components"]["schemas"][
        purchase["requestBody"]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]
    ]
    assert set(schema["required"]) == {"order_id", "amount", "currency"}
    assert document["paths"]["/members/{member_id}/adjustments"]["post"]["x-role"] == "ops"
