"""The ops page (GET /ops) in headless Chromium against a running `loyalty dev`: it renders exactly what
GET /kpis answers for the same range, loads nothing from outside, sends its CSP, shows the error
state and the key form for a refused key, and finds `kpis` behind a stage prefix (`/api/ops`).

Chromium runs as a plain command (`--dump-dom`, `--screenshot`), no driver library. Without it the
module skips, except in CI (CI set), where scripts/setup.sh installs it. The screenshot goes to
tests/e2e/artifacts/ops.png.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Iterator
from decimal import Decimal
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.test_dev_server import PROJECT_ROOT, DevStack, loyalty, running_dev

pytestmark = pytest.mark.e2e

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-proxy-server",
    "--window-size=1440,900",
    "--virtual-time-budget=10000",
]
ROLLUP_TIMEOUT_SECONDS = 90
# What the page shows for the range (cards), per day (charts) and per store (table): docs/kpis.md.
CARDS = {
    "enrolments",
    "active_30d",
    "active_90d",
    "points_outstanding",
    "points_earned",
    "points_redeemed",
    "points_expired",
    "redemption_rate",
    "reactivation_rate",
    "repeat_purchase_rate",
    "member_sales_share",
    "aov_member",
    "aov_non_member",
}
# The incentives panel: figures of the range (maps, shown key by key), and the liability's value.
INCENTIVES = {
    "points_by_source",
    "points_paid",
    "coupons",
    "rewards_redeemed",
    "spend_by_tier",
    "points_outstanding_value",
}
CHARTED_PER_DAY = {
    "points_earned",
    "points_redeemed",
    "points_expired",
    "active_30d",
    "active_90d",
    "points_outstanding",
    "enrolments",
}
STORE_COLUMNS = {
    "points_earned",
    "member_orders",
    "repeat_purchase_rate",
    "member_sales_share",
    "aov_member",
    "aov_non_member",
    "store_member_receipts",
    "store_non_member_receipts",
    "store_member_sales",
    "store_non_member_sales",
    "enrolments",
    "recruited_first_purchase_30d",
}
SHANGHAI = dt.timezone(dt.timedelta(hours=8))


# --- Chromium, as a command ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: scripts/setup.sh installs it (as root)")
        pytest.skip("chromium is not installed (scripts/setup.sh installs it when run as root)")
    return found


def run_chromium(chromium: str, url: str, *mode: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="ops-chromium-") as profile:
        return subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *mode, url],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )


def dump_dom(chromium: str, url: str) -> str:
    """The DOM after the page's script ran (and its request to /kpis answered)."""
    return run_chromium(chromium, url, "--dump-dom").stdout


class Elements(HTMLParser):
    """Every element with a data-kpi attribute (its attributes and text), and the attributes of the
    elements named by id."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.kpis: list[dict[str, str]] = []
        self.by_id: dict[str, dict[str, str]] = {}
        self.text_of_id: dict[str, str] = {}
        self._open: list[tuple[str, dict[str, str], list[str]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if "id" in found:
            self.by_id[found["id"]] = found
        if "data-kpi" in found or found.get("id") in ("status", "message"):
            self._open.append((tag, found, []))

    def handle_data(self, data: str) -> None:
        for _, _, text in self._open:
            text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._open and self._open[-1][0] == tag:
            _, found, text = self._open.pop()
            if "data-kpi" in found:
                self.kpis.append({**found, "text": "".join(text)})
            else:
                self.text_of_id[found["id"]] = "".join(text)


# --- the stack, keys and data --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    with running_dev(tmp_path_factory.mktemp("dev")) as stack:
        yield stack


@pytest.fixture(scope="module")
def keys(dev: DevStack) -> dict[str, str]:
    return {role: dev.create_key(role, f"ops-page-{role}") for role in ("storefront", "ops")}


def http() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # 127.0.0.1 only, never through a proxy from the environment
    return session


def program_today() -> dt.date:
    from chalicelib.program import load_program

    return dt.datetime.now(load_program().tz).date()


def kpis(dev: DevStack, key: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    answer = http().get(
        f"{dev.api}/kpis",
        params={"from": start.isoformat(), "to": end.isoformat()},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def put_data(dev: DevStack, keys: dict[str, str], tmp_path: Path) -> None:
    """Three members, purchases (one of them a repeat), a redemption, a reward redeemed, a coupon
    used, and a store's sales file with a member receipt and two non-member receipts."""
    session = http()
    session.headers["Authorization"] = f"Bearer {keys['storefront']}"

    def post(path: str, body: dict[str, Any]) -> None:
        answer = session.post(f"{dev.api}{path}", json=body, timeout=30)
        assert answer.status_code in (200, 201), (path, answer.text)

    for member in ("ops-m1", "ops-m2", "ops-m3"):
        post("/members", {"member_id": member})
    post("/members/ops-m1/purchases", {"order_id": "ops-o1", "amount": "268.50", "currency": "CNY"})
    post("/members/ops-m1/purchases", {"order_id": "ops-o2", "amount": "1200.00", "currency": "CNY"})
    post("/members/ops-m2/purchases", {"order_id": "ops-o3", "amount": "99.90", "currency": "CNY"})
    post("/members/ops-m1/redemptions", {"redemption_id": "ops-r1", "points": 50, "reason": "ops page test"})
    post("/members/ops-m1/redemptions", {"redemption_id": "ops-r2", "reward_id": "cash-5"})
    wallet = session.get(f"{dev.api}/members/ops-m2/coupons", timeout=30).json()
    post(f"/members/ops-m2/coupons/{wallet['coupons'][0]['code']}/use", {"order_id": "ops-o3"})

    when = (dt.datetime.now(SHANGHAI) - dt.timedelta(minutes=30)).isoformat(timespec="seconds")
    sales = tmp_path / "ops-page-sales.csv"
    sales.write_text(
        "store_id,receipt_id,occurred_at,type,amount,currency,member_id\n"
        f"s001,r1,{when},SALE,350.00,CNY,ops-m2\n"
        f"s001,r2,{when},SALE,120.00,CNY,\n"
        f"s001,r3,{when},SALE,80.50,CNY,\n",
        encoding="utf-8",
    )
    ingested = subprocess.run(
        loyalty("ingest", str(sales), "--store", "s001", "--timeout", "120"),
        cwd=PROJECT_ROOT,
        env=dev.env(),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert ingested.returncode == 0, ingested.stdout + ingested.stderr


def rolled_up(report: dict[str, Any]) -> bool:
    total = report["total"]
    store = report.get("stores", {}).get("s001", {})
    return (
        total.get("enrolments") == 3
        and total.get("points_redeemed") == 550
        and total.get("coupons", {}).get("used") == 1
        and total.get("store_non_member_receipts") == 2
        and store.get("store_member_receipts") == 1
    )


def wait_for_rollup(dev: DevStack, key: str, start: dt.date, end: dt.date) -> dict[str, Any]:
    """The KPI roll-up reads the table's stream off the request path. Wait until /kpis shows what
    put_data wrote, and then for two equal answers in a row (nothing left in flight)."""
    # ROLL-UP HOOK (to settle with services/kpis.py): this relies on `loyalty dev` delivering the table's
    # stream to the kpi_rollup handler by itself (loyalty_tools/local/streams.py). If a drain has to be
    # triggered instead, call it here (from another process: with dev.env(), like `loyalty keys`).
    deadline = time.monotonic() + ROLLUP_TIMEOUT_SECONDS
    previous: dict[str, Any] | None = None
    while time.monotonic() < deadline:
        report = kpis(dev, key, start, end)
        if rolled_up(report) and report == previous:
            return report
        previous = report
        time.sleep(1.0)
    total = (previous or {}).get("total")
    pytest.fail(
        f"GET /kpis did not show the writes within {ROLLUP_TIMEOUT_SECONDS} s (is the roll-up running?): {total}"
    )


@pytest.fixture(scope="module")
def report_range() -> tuple[dt.date, dt.date]:
    today = program_today()
    return today - dt.timedelta(days=13), today


@pytest.fixture(scope="module")
def data(
    dev: DevStack, keys: dict[str, str], report_range: tuple[dt.date, dt.date], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    put_data(dev, keys, tmp_path_factory.mktemp("sales"))
    return wait_for_rollup(dev, keys["ops"], *report_range)


def page_url(base: str, **fragment: str) -> str:
    return f"{base}/ops#" + "&".join(f"{name}={urllib.parse.quote(value, safe='')}" for name, value in fragment.items())


# --- comparing what the page shows with what /kpis answered ----------------------------------------------


def same_value(shown: str, expected: Any) -> bool:
    """data-value is the JSON value as the page's script had it (String(value)), "" for null."""
    if expected is None:
        return shown == ""
    if isinstance(expected, bool) or not isinstance(expected, int | float | str):
        return False
    if isinstance(expected, str):
        return shown == expected
    return shown != "" and float(shown) == float(expected)


def same_text(text: str, expected: Any, kind: str) -> bool:
    """What a reader sees: thousands separators, ratios as percentages, "—" for null."""
    if expected is None:
        return text == "—"
    if kind == "count":
        return text == f"{expected:,}"
    if kind == "money":
        whole, _, cents = str(expected).partition(".")
        return text == f"{int(whole):,}" + (f".{cents}" if cents else "") and Decimal(text.replace(",", "")) == Decimal(
            expected
        )
    if kind == "ratio":
        return text.endswith("%") and abs(float(text[:-1]) - expected * 100) <= 0.05 + 1e-9
    return False


def expected_for(element: dict[str, str], report: dict[str, Any]) -> Any:
    name, scope = element["data-kpi"], element["data-scope"]
    if scope == "total":
        figures = report["total"]
    elif scope == "day":
        figures = {day["date"]: day for day in report["days"]}[element["data-date"]]
    else:
        figures = report["stores"][element["data-store"]]
    value = figures[name]
    for key in json.loads(element.get("data-path", "[]")):  # the incentives panel: a place in a map
        value = value[key]
    return value[element["data-key"]] if "data-key" in element else value


# --- the tests -------------------------------------------------------------------------------------------


def test_the_page_shows_exactly_what_kpis_answers(
    chromium: str, dev: DevStack, keys: dict[str, str], data: dict[str, Any], report_range: tuple[dt.date, dt.date]
) -> None:
    start, end = report_range

    # When: the page is opened with the key and the range in the fragment
    url = page_url(dev.api, key=keys["ops"], **{"from": start.isoformat(), "to": end.isoformat()})
    dom = Elements(dump_dom(chromium, url))

    # Then: it loaded that range
    assert dom.by_id["dashboard"].get("data-from") == start.isoformat(), dom.text_of_id.get("message")
    assert dom.by_id["dashboard"].get("data-to") == end.isoformat()
    assert "hidden" not in dom.by_id["dashboard"]
    # ...and /kpis still answers the same as before the page was rendered
    assert kpis(dev, keys["ops"], start, end) == data

    # Then: every number the page shows is /kpis' number, formatted for reading
    assert dom.kpis
    for element in dom.kpis:
        expected = expected_for(element, data)
        assert same_value(element["data-value"], expected), (element, expected)
        if "data-format" in element:
            assert same_text(element["text"], expected, element["data-format"]), (element, expected)

    # ...and it shows all of them: the range's cards, one point or bar per day in each chart, each tier
    # and status of the last day, each store's row
    shown = [
        (e["data-kpi"], e["data-scope"], e.get("data-date", ""), e.get("data-key"), e.get("data-store"))
        for e in dom.kpis
    ]
    assert {kpi for kpi, scope, *_ in shown if scope == "total"} == CARDS | INCENTIVES
    dates = [day["date"] for day in data["days"]]
    assert len(dates) == (end - start).days + 1
    for kpi in CHARTED_PER_DAY:
        assert sorted(date for name, scope, date, key, _ in shown if (name, scope, key) == (kpi, "day", None)) == dates
    last = data["days"][-1]
    for kpi in ("members_by_tier", "members_by_status"):
        legend = [e for e in dom.kpis if e["data-kpi"] == kpi and "data-format" in e]
        assert {e["data-key"] for e in legend} == set(last[kpi]), kpi
        assert {e["data-date"] for e in legend} == {last["date"]}
    total = data["total"]
    paths = {(e["data-kpi"], e.get("data-path", "[]")) for e in dom.kpis if e["data-scope"] == "total"}
    for kpi in ("points_by_source", "rewards_redeemed", "spend_by_tier"):
        assert {json.loads(path)[0] for name, path in paths if name == kpi} == set(total[kpi]), kpi
    coupons = {tuple(json.loads(path)) for name, path in paths if name == "coupons"}
    by_kind = total["coupons"]["by_kind"]
    assert coupons == {("by_kind", kind, state) for kind in by_kind for state in by_kind[kind]} | {
        ("issued",),
        ("used",),
        ("expired",),
    }
    segments = [e for e in dom.kpis if e["data-kpi"] == "members_by_segment" and "data-format" in e]
    assert {e["data-key"] for e in segments} == set(last["members_by_segment"])
    assert set(data["stores"]) == {"s001"}
    assert {(name, store) for name, scope, _, _, store in shown if scope == "store"} == {
        (name, "s001") for name in STORE_COLUMNS
    }

    # ...and the figures are those of what was written (not an empty page compared with an empty answer)
    assert (total["enrolments"], total["points_redeemed"], total["store_non_member_receipts"]) == (3, 550, 2)
    assert (total["coupons"]["issued"], total["coupons"]["used"], total["rewards_redeemed"]["cash-5"]) == (4, 1, 1)
    assert total["points_by_source"]["welcome"] == 300 and total["points_by_source"]["purchase"] > 0
    card = next(e for e in dom.kpis if (e["data-kpi"], e["data-scope"]) == ("enrolments", "total"))
    assert card["text"] == "3"

    # And: a screenshot for people (not compared)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "ops.png"
    screenshot.unlink(missing_ok=True)
    run_chromium(chromium, url, f"--screenshot={screenshot}")
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_page_is_self_contained_with_a_strict_csp(dev: DevStack) -> None:
    # When: the page is fetched without any key
    answer = http().get(f"{dev.api}/ops", timeout=30)

    # Then: HTML, not cached, not framed
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
    assert answer.headers["Cache-Control"] == "no-store"
    assert answer.headers["X-Frame-Options"] == "DENY"
    body = answer.text

    # Then: nothing from outside: no URL at all, no src/href but a data: icon
    assert re.findall(r"(?i)https?://", body) == []
    assert re.findall(r"""(?i)\b(?:src|href|action)\s*=\s*["']([^"']*)""", body) == ["data:,"]
    assert "{{" not in body  # the program's time zone was filled in

    # Then: the CSP allows only this page's inline script and style (by hash) and requests to itself
    policy = {
        name: value
        for name, _, value in (part.partition(" ") for part in answer.headers["Content-Security-Policy"].split("; "))
    }
    assert policy["default-src"] == "'none'"
    assert policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe" not in answer.headers["Content-Security-Policy"]
    for tag in ("script", "style"):
        sources = re.findall(rf"<{tag}>(.*?)</{tag}>", body, flags=re.DOTALL)
        assert sources, tag
        hashes = {
            "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'" for source in sources
        }
        assert set(policy[f"{tag}-src"].split()) == hashes, tag
    assert not re.search(r"<(script|style)\s[^>]*>", body), "every script and style is inline and hashed"


def test_a_refused_key_shows_the_error_and_the_key_form(chromium: str, dev: DevStack, keys: dict[str, str]) -> None:
    cases = {
        "lk_000000000000_not-a-key": ("401", "unauthorized"),
        keys["storefront"]: ("403", "unauthorized"),
    }
    for key, (status, state) in cases.items():
        # When: the page is opened with a key /kpis refuses
        dom = Elements(dump_dom(chromium, page_url(dev.api, key=key)))

        # Then: a clear message, the key form, no dashboard
        assert dom.by_id["ops-page"]["data-state"] == state, status
        assert status in dom.text_of_id["message"] and "Enter an ops key" in dom.text_of_id["message"]
        assert "hidden" not in dom.by_id["message"]
        assert "hidden" not in dom.by_id["key-section"]
        assert "hidden" in dom.by_id["dashboard"]
        assert dom.kpis == []

    # When: no key at all
    dom = Elements(dump_dom(chromium, f"{dev.api}/ops"))

    # Then: the key form, asked for without an error
    assert dom.by_id["ops-page"]["data-state"] == "need-key"
    assert "hidden" not in dom.by_id["key-section"]
    assert "hidden" in dom.by_id["message"]


class StagePrefix(ThreadingHTTPServer):
    """API Gateway's stage prefix in front of `loyalty dev`: /api/<path> → <api>/<path>."""

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _PrefixHandler)
        self.upstream = upstream
        self.paths: list[str] = []


class _PrefixHandler(BaseHTTPRequestHandler):
    server: StagePrefix

    def do_GET(self) -> None:
        self.server.paths.append(self.path)
        if not self.path.startswith("/api/"):
            self.send_error(404)
            return
        headers = {name: self.headers[name] for name in ("Authorization", "Accept") if self.headers[name]}
        answer = http().get(self.server.upstream + self.path.removeprefix("/api"), headers=headers, timeout=30)
        self.send_response(answer.status_code)
        for name in ("Content-Type", "Content-Security-Policy", "X-Frame-Options", "Cache-Control"):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_behind_a_stage_prefix_the_page_calls_kpis_next_to_itself(
    chromium: str, dev: DevStack, keys: dict[str, str]
) -> None:
    today = program_today()
    with StagePrefix(dev.api) as proxy:
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        try:
            # When: the page is opened as /api/ops, with a key and no range
            dom = Elements(
                dump_dom(chromium, page_url(f"http://127.0.0.1:{proxy.server_address[1]}/api", key=keys["ops"]))
            )
        finally:
            proxy.shutdown()

    # Then: it asked /api/kpis for its default range, the 90 days to today in the program's time zone
    start = today - dt.timedelta(days=89)
    assert f"/api/kpis?from={start.isoformat()}&to={today.isoformat()}" in proxy.paths, proxy.paths
    assert dom.by_id["ops-page"]["data-state"] == "ready", dom.text_of_id.get("message")
    assert dom.by_id["dashboard"].get("data-to") == today.isoformat()


class CampaignCells(HTMLParser):
    """The campaigns panel's cells: {campaign_id: {figure: (data-value, text)}}."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, tuple[str, str]]] = {}
        self._row = ""
        self._cell: tuple[str, str, list[str]] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {name: value or "" for name, value in attrs}
        if "data-campaign" in found:
            self._row = found["data-campaign"]
            self.rows[self._row] = {}
        if "data-campaign-figure" in found:
            self._cell = (found["data-campaign-figure"], found.get("data-value", ""), [])

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[2].append(data)

    def handle_endtag(self, tag: str) -> None:
        if self._cell is not None and tag == "td":
            name, value, text = self._cell
            self.rows[self._row][name] = (value, "".join(text))
            self._cell = None


def test_the_campaigns_panel_shows_each_campaign_s_results(
    chromium: str, dev: DevStack, keys: dict[str, str], data: dict[str, Any]
) -> None:
    # Given: a campaign that applied to a purchase (created after the KPI tests' data)
    session = http()
    now = dt.datetime.now(SHANGHAI)
    campaign = {
        "campaign_id": "ops-bonus",
        "name": "Ops page bonus",
        "starts_at": (now - dt.timedelta(days=1)).isoformat(timespec="seconds"),
        "ends_at": (now + dt.timedelta(days=1)).isoformat(timespec="seconds"),
        "effect": {"bonus_points": 7},
        "limits": {"budget_points": 1000},
    }
    ops = {"Authorization": f"Bearer {keys['ops']}"}
    created = session.post(f"{dev.api}/campaigns", json=campaign, headers=ops, timeout=30)
    assert created.status_code == 201, created.text
    body = {"order_id": "ops-camp-o1", "amount": "1234.50", "currency": "CNY"}
    bought = session.post(
        f"{dev.api}/members/ops-m3/purchases", json=body, headers={"Authorization": f"Bearer {keys['storefront']}"}
    )
    assert bought.status_code == 201, bought.text
    results = session.get(f"{dev.api}/campaigns/ops-bonus/results", headers=ops, timeout=30).json()
    assert (results["applied"], results["points_granted"], results["budget_left"]) == (1, 7, 993)

    # When: the page is opened with the ops key
    cells = CampaignCells(dump_dom(chromium, page_url(dev.api, key=keys["ops"])))

    # Then: the panel shows that campaign's results as the route answers them, formatted for reading
    shown = cells.rows["ops-bonus"]
    for figure in ("participants", "applied", "points_granted", "budget_left", "coupons_issued", "coupons_used"):
        assert shown[figure][0] == str(results[figure]), (figure, shown, results)
    assert shown["participant_sales"] == ("1234.50", "1,234.50")
