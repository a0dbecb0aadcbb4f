"""Store keys and the store routes on moto: POST /stores/{id}/uploads (a presigned S3 PUT) and
GET /stores/{id}/files (the store's reports, newest first, signed cursor); a store key reaches
nothing else."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests

from chalicelib import clock, config
from chalicelib.services import keys as api_keys
from chalicelib.services import uploads
from chalicelib.store import file_runs
from tests.integration.test_ingest_files import (  # the shared harness
    BUCKET,
    Harness,
    csv_file,
    ingest,  # noqa: F401  (fixture)
    sale,
)
from tests.support import Api, FixedClock, assert_error, count_dynamodb_calls, ok

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)


@pytest.fixture
def stores(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """`api` with store keys for s1 and s2 (roles "s1" and "s2"), the bucket's name and a fixed clock."""
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    config.reset()
    monkeypatch.setattr(clock, "now", FixedClock(NOW))
    for store in ("s1", "s2"):
        api.keys[store] = api_keys.create_key("store", f"till {store}", store_id=store)[1]
    return api


def upload(api: Api, store: str, name: str, role: str | None = None) -> tuple[int, Any]:
    return api.post(f"/stores/{store}/uploads", {"file_name": name}, role=role or store)


# --- keys ---------------------------------------------------------------------------------------


def test_a_store_key_is_bound_to_one_valid_store(moto_env: None) -> None:
    record, plain = api_keys.create_key("store", "till", store_id="S001")
    assert record["store_id"] == "S001"
    found = api_keys.caller_for(plain)
    assert found is not None and (found.role, found.store_id) == ("store", "S001")
    assert [k["store_id"] for k in api_keys.list_keys()] == ["S001"]
    for role, store_id in [("store", None), ("store", "a#b"), ("store", "../x"), ("store", ""), ("ops", "S001")]:
        with pytest.raises(ValueError):
            api_keys.create_key(role, "bad", store_id=store_id)
    assert len(api_keys.list_keys()) == 1  # nothing written for the refused ones


# --- POST /stores/{store_id}/uploads ---------------------------------------------------------------


def test_a_store_gets_a_presigned_put_of_its_incoming_key_for_15_minutes(stores: Api) -> None:
    answer = ok(upload(stores, "s1", "2026-11-21-till2.csv.gz"), 201)
    assert set(answer) == {"upload_url", "key", "expires_at"}
    assert answer["key"] == "incoming/s1/2026-11-21-till2.csv.gz"
    url = urlsplit(answer["upload_url"])
    assert unquote(url.path).endswith(f"/{answer['key']}") and BUCKET in url.netloc + url.path
    query = parse_qs(url.query)
    assert query["X-Amz-Expires"] == ["900"]
    assert query["X-Amz-SignedHeaders"] == ["host"]  # a plain PUT: no header to repeat
    assert datetime.fromisoformat(answer["expires_at"]) == NOW + timedelta(minutes=15)
    # ops may ask for any store
    assert ok(upload(stores, "s2", "2026-11-21.csv", role="ops"), 201)["key"] == "incoming/s2/2026-11-21.csv"


@pytest.mark.parametrize(
    "name",
    [
        "../x.csv",
        "2026-13-01.csv",
        "2026-02-30.csv",
        "x.txt",
        "2026-11-21.txt",
        "2026-11-21-" + "a" * 200 + ".csv",  # longer than a key's label may be
        "2026-11-21-" + "a" * 65 + ".csv",  # within the body's limit, over the label's 64
        "２０２６-11-21.csv",  # full-width look-alike digits
        "2026-11-2１.csv",
        "2026-11-21.csv\n",
        " 2026-11-21.csv",
        "2026-11-21-a/b.csv",
        "incoming/s1/2026-11-21.csv",
        "2026-11-21-ä.csv",
        "",
    ],
)
def test_a_name_off_the_naming_rule_is_refused_with_its_field(stores: Api, name: str) -> None:
    error = assert_error(upload(stores, "s1", name), 400, "invalid_request")
    assert error["details"][0]["field"] == "file_name", error


@pytest.mark.parametrize(
    "body", [{}, {"file_name": 20261121}, {"file_name": None}, {"file_name": "2026-11-21.csv", "store": "s2"}]
)
def test_a_malformed_upload_body_is_refused(stores: Api, body: dict[str, Any]) -> None:
    assert_error(stores.post("/stores/s1/uploads", body, role="s1"), 400, "invalid_request")


def test_a_bad_store_id_in_the_path_is_refused(stores: Api) -> None:
    for path in ("/stores/a%23b/uploads", "/stores/.x/uploads"):
        error = assert_error(stores.post(path, {"file_name": "2026-11-21.csv"}, role="ops"), 400, "invalid_request")
        assert error["details"][0]["field"] == "store_id"
    error = assert_error(stores.get("/stores/a%23b/files", role="ops"), 400, "invalid_request")
    assert error["details"][0]["field"] == "store_id"


# --- who may call what ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_store_routes_refuse_other_stores_and_storefront_keys(stores: Api, method: str) -> None:
    path = "/stores/s1/uploads" if method == "POST" else "/stores/s1/files"
    body = {"file_name": "2026-11-21.csv"} if method == "POST" else None
    assert_error(stores.call(method, path, body, role="s2"), 403, "forbidden")
    assert_error(stores.call(method, path, body, role="storefront"), 403, "forbidden")
    stores.keys["revoked"] = stores.keys["s1"] + "x"  # not a key we issued
    assert_error(stores.call(method, path, body, role="revoked"), 401, "unauthorized")
    # another store's key is refused before the body is looked at
    assert_error(stores.call(method, path, {"file_name": "x"} if body else None, role="s2"), 403, "forbidden")


def _keyed_routes() -> list[tuple[str, str]]:
    from app import app

    return sorted(
        (method, path)
        for path, methods in app.routes.items()
        for method, entry in methods.items()
        if entry.authorizer is not None and not path.startswith("/stores/")
    )


@pytest.mark.parametrize(("method", "path"), _keyed_routes())
def test_a_store_key_reaches_no_other_route(stores: Api, method: str, path: str) -> None:
    concrete = re.sub(r"\{[^}]+\}", "x", path) + ("?date=2026-11-21&from=2026-11-01&to=2026-11-21")
    body = {"member_id": "x"} if method in ("POST", "PATCH") else None
    assert_error(stores.call(method, concrete, body, role="s1"), 403, "forbidden")
    if (method, path) == ("POST", "/members"):
        assert_error(stores.get("/members/x", role="ops"), 404, "member_not_found")  # nothing written


def test_the_keyed_routes_include_the_ones_named_in_the_contract() -> None:
    routes = set(_keyed_routes())
    wanted = {("GET", "/program"), ("GET", "/members/{member_id}"), ("GET", "/files"), ("POST", "/members")}
    assert wanted | {("GET", "/kpis")} <= routes


# --- GET /stores/{store_id}/files -------------------------------------------------------------------


def _record_run(store: str, n: int) -> str:
    file_id = f"{store}-{n:04d}"
    started = (NOW + timedelta(seconds=n)).isoformat()
    key = f"incoming/{store}/2026-11-21-n{n}.csv"
    file_runs.create_file(
        {
            "file_id": file_id,
            "key": key,
            "bucket": BUCKET,
            "store_id": store,
            "file_date": "2026-11-21",
            "started_at": started,
            "report_key": f"reports/{store}/2026-11-21-n{n}.json",
            "rejects_key": f"rejects/{store}/2026-11-21-n{n}.csv",
            "etag": '"e"',
            "size": 10,
        }
    )
    return file_id


def _pages(api: Api, store: str, limit: int, role: str) -> tuple[list[str], list[str]]:
    seen: list[str] = []
    cursors: list[str] = []
    cursor = None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = ok(api.get(f"/stores/{store}/files{query}", role=role))
        assert page["store_id"] == store and len(page["files"]) <= limit
        seen += [report["file_id"] for report in page["files"]]
        cursor = page["next_cursor"]
        if not cursor:
            return seen, cursors
        cursors.append(cursor)


def test_a_stores_files_page_newest_first_without_repeats(stores: Api) -> None:
    mine = [_record_run("s1", n) for n in range(120)]
    others = [_record_run("s2", n) for n in range(0, 120, 10)]

    seen, cursors = _pages(stores, "s1", 25, "s1")

    assert seen == list(reversed(mine))  # every file once, newest first
    assert len(cursors) == 4
    assert _pages(stores, "s2", 100, "ops")[0] == list(reversed(others))


def test_a_page_costs_one_query_and_one_batch_get(stores: Api) -> None:
    for n in range(30):
        _record_run("s1", n)
    cursor = ok(stores.get("/stores/s1/files?limit=10", role="s1"))["next_cursor"]
    with count_dynamodb_calls() as calls:
        page = ok(stores.get(f"/stores/s1/files?limit=10&cursor={cursor}", role="s1"))
    assert len(page["files"]) == 10
    assert (calls["Query"], calls["BatchGetItem"], calls["Scan"]) == (1, 1, 0)


def _altered(cursor: str) -> list[str]:
    payload, signature = cursor.rsplit(".", 1)
    flipped = "A" if payload[5] != "A" else "B"
    return [
        payload[:5] + flipped + payload[6:] + "." + signature,
        payload + "." + ("0" if signature[0] != "0" else "1") + signature[1:],
        payload,
        "not-a-cursor",
        cursor + "x",
    ]


def test_an_altered_or_foreign_cursor_is_refused(stores: Api) -> None:
    for n in range(4):
        _record_run("s1", n)
        _record_run("s2", n)
    cursor = ok(stores.get("/stores/s1/files?limit=2", role="s1"))["next_cursor"]
    assert cursor and ok(stores.get(f"/stores/s1/files?limit=2&cursor={cursor}", role="s1"))["files"]
    for bad in _altered(cursor):
        error = assert_error(stores.get(f"/stores/s1/files?limit=2&cursor={bad}", role="s1"), 400, "invalid_request")
        assert error["details"][0]["field"] == "cursor"
    # another store's cursor, even through ops
    assert_error(stores.get(f"/stores/s2/files?limit=2&cursor={cursor}", role="ops"), 400, "invalid_request")
    # a member ledger's cursor
    ledger_cursor = uploads.cursors.encode({"m": "s1"}, {"pk": "MEMBER#s1", "sk": "TX#x"})
    assert_error(stores.get(f"/stores/s1/files?cursor={ledger_cursor}", role="s1"), 400, "invalid_request")


@pytest.mark.parametrize("query", ["?limit=0", "?limit=101", "?limit=x", "?cursor=" + "a" * 2001, "?other=1"])
def test_a_bad_files_query_is_refused(stores: Api, query: str) -> None:
    assert_error(stores.get(f"/stores/s1/files{query}", role="s1"), 400, "invalid_request")


# --- the whole way, on moto ---------------------------------------------------------------------


def test_a_plain_http_put_to_the_url_is_ingested_and_listed(stores: Api, ingest: Harness) -> None:  # noqa: F811
    answer = ok(upload(stores, "s1", "2026-11-21.csv"), 201)

    # When: the store PUTs its file with plain HTTP (no AWS SDK, no AWS credentials)
    put = requests.put(answer["upload_url"], data=csv_file(sale("r1", "10.00")).encode(), timeout=10)
    assert put.status_code == 200, put.text
    ingest.deliver()

    # Then: the normal ingestion ran, and the store reads its report
    files = ok(stores.get("/stores/s1/files", role="s1"))["files"]
    assert [(f["key"], f["status"], f["applied"]) for f in files] == [("incoming/s1/2026-11-21.csv", "completed", 1)]
    assert ok(stores.get("/stores/s2/files", role="s2"))["files"] == []


def test_the_local_s3_keeps_the_body_of_a_put_sent_as_a_form(moto_endpoint: str) -> None:
    """urllib and `curl --data-binary` send application/x-www-form-urlencoded by default; S3 stores
    the bytes anyway, and so must `loyalty dev`'s moto."""
    import urllib.request

    import boto3
    from botocore.config import Config

    s3 = boto3.client("s3", endpoint_url=moto_endpoint, config=Config(signature_version="s3v4"))
    s3.create_bucket(Bucket="form-typed-puts")
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": "form-typed-puts", "Key": "incoming/s1/2026-11-21.csv"}, HttpMethod="PUT"
    )
    request = urllib.request.Request(url, data=b"a,b\n1,2\n", method="PUT")  # urllib adds the form type
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    stored = s3.get_object(Bucket="form-typed-puts", Key="incoming/s1/2026-11-21.csv")
    assert stored["Body"].read() == b"a,b\n1,2\n"
