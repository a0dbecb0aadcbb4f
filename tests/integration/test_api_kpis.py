"""GET /kpis refuses bad queries with the documented error, and only ops keys may read it."""

from __future__ import annotations

import pytest

from tests.support import Api, assert_error, ok


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=2026-05-02&to=2026-05-01", "to"),  # backwards
        ("from=2025-01-01&to=2026-01-02", "to"),  # 367 days
        ("to=2026-05-01", "from"),
        ("from=2026-02-30&to=2026-03-01", "from"),
        ("from=2026-05-01&to=2026-05-01&store_id=no%20spaces", "store_id"),
        ("from=2026-05-01&to=2026-05-01&extra=1", "extra"),
        ("from=2026-05-01&to=2026-05-02&by=staff", "store_id"),  # a store's clerks: which store?
        ("from=2026-05-01&to=2026-05-02&by=clerk&store_id=s1", "by"),
        ("from=2026-05-01&to=2026-05-02&by=&store_id=s1", "by"),
        ("from=2026-05-01&to=2026-05-02&by=staff&store_id=a%23b", "store_id"),
        ("from=2026-05-02&to=2026-05-01&by=staff&store_id=s1", "to"),
        ("from=0001-01-01&to=0001-01-05", "from"),  # the 90-day window before it is no date
        ("from=9999-12-25&to=9999-12-31", "to"),
    ],
)
def test_a_bad_range_is_a_400_naming_the_field(api: Api, query: str, field: str) -> None:
    error = assert_error(api.get(f"/kpis?{query}", role="ops"), 400, "invalid_request")
    assert field in {detail["field"] for detail in error["details"]}, error


def test_kpis_need_an_ops_key(api: Api) -> None:
    assert_error(api.get("/kpis?from=2026-05-01&to=2026-05-01"), 403, "forbidden")
    unknown = {"Authorization": "Bearer not-a-key"}
    assert_error(api.get("/kpis?from=2026-05-01&to=2026-05-01", role=None, headers=unknown), 401, "unauthorized")
    assert api.get("/kpis?from=2026-05-01&to=2026-05-01", role=None)[0] == 401  # no header: the gateway's own body


def test_an_empty_program_answers_zeros_and_nulls(api: Api) -> None:
    report = ok(api.get("/kpis?from=2026-05-01&to=2026-05-03", role="ops"))
    assert [day["date"] for day in report["days"]] == ["2026-05-01", "2026-05-02", "2026-05-03"]
    total = report["total"]
    assert (total["enrolments"], total["points_outstanding"], total["active_30d"]) == (0, 0, 0)
    assert total["redemption_rate"] is None and total["aov_member"] is None and report["stores"] == {}


def test_no_clerk_figures_yet_is_an_empty_map(api: Api) -> None:
    answer = ok(api.get("/kpis?from=2026-05-01&to=2026-05-03&by=staff&store_id=s1", role="ops"))
    assert answer == {"from": "2026-05-01", "to": "2026-05-03", "store_id": "s1", "by": "staff", "staff": {}}
