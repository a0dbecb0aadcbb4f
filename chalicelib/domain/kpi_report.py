"""The figures of GET /kpis from the day rows (docs/kpis.md): pure, no reads.

Stocks at the end of a day are the month rows before the first day read plus the day rows up to it;
active members on a day sum the window gains that started in the window ending that day.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chalicelib.domain import kpi_incentives
from chalicelib.domain import kpi_rollup as r
from chalicelib.domain.kpi_incentives import Catalog
from chalicelib.domain.purchase_days import ACTIVE_WINDOWS, active_on

MAX_WINDOW = max(ACTIVE_WINDOWS)
CENT = Decimal("0.01")
FLOWS = (r.ENROLMENTS, r.EARNED, r.REDEEMED, r.EXPIRED, r.ORDERS, r.REPEAT_ORDERS, r.REACTIVATIONS, r.DORMANCIES)
# Ingestion's store/day counters (chalicelib/ingest/tally.py) and their names in the answer.
STORE_SALES = {
    "member_receipts": "store_member_receipts",
    "member_amount": "store_member_sales",
    "non_member_receipts": "store_non_member_receipts",
    "non_member_amount": "store_non_member_sales",
}
STORE_FLOWS = (r.EARNED, r.ORDERS, r.REPEAT_ORDERS, r.ENROLMENTS, r.RECRUITED)
RECRUITMENT = (r.ENROLMENTS, r.RECRUITED)  # the figures per clerk (GET /kpis?by=staff)


def first_day_to_read(start: date) -> date:
    """Day rows are read from here: the windows before `start` and the rest of that month."""
    return (start - timedelta(days=MAX_WINDOW - 1)).replace(day=1)


@dataclass(frozen=True)
class Rows:
    """What the store read: program-wide day rows from `first_day_to_read(start)` to the end of the
    range, the month rows before that day, and the store/day rows of the range."""

    days: Mapping[date, Mapping[str, Any]]
    months_before: Iterable[Mapping[str, Any]]
    stores: Mapping[tuple[date, str], Mapping[str, Any]]


def _ratio(numerator: Decimal | int, denominator: Decimal | int) -> float | None:
    if not denominator:
        return None
    return float((Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"), ROUND_HALF_UP))


def _average(amount: Decimal, count: Decimal | int) -> str | None:
    return str((amount / Decimal(count)).quantize(CENT, ROUND_HALF_UP)) if count else None


def _counts(row: Mapping[str, Any], names: Iterable[str]) -> Counter[str]:
    return Counter({name: int(row.get(name, 0)) for name in names})


def _flows(row: Mapping[str, Any]) -> Counter[str]:
    return _counts(row, [*FLOWS, *kpi_incentives.flow_names(row)])


def _sales(row: Mapping[str, Any]) -> dict[str, Decimal]:
    return {name: Decimal(str(row.get(stored, 0))) for stored, name in STORE_SALES.items()}


def _sales_figures(sales: Mapping[str, Decimal], flows: Mapping[str, int]) -> dict[str, Any]:
    member, non_member = sales["store_member_sales"], sales["store_non_member_sales"]
    return {
        "repeat_purchase_rate": _ratio(flows[r.REPEAT_ORDERS], flows[r.ORDERS]),
        "member_sales_share": _ratio(member, member + non_member),
        "aov_member": _average(member, sales["store_member_receipts"]),
        "aov_non_member": _average(non_member, sales["store_non_member_receipts"]),
        "store_member_receipts": int(sales["store_member_receipts"]),
        "store_member_sales": str(member),
        "store_non_member_receipts": int(sales["store_non_member_receipts"]),
        "store_non_member_sales": str(non_member),
    }


def _add_sales(total: dict[str, Decimal], more: Mapping[str, Decimal]) -> None:
    for name, value in more.items():
        total[name] = total.get(name, Decimal(0)) + value


def _zero_sales() -> dict[str, Decimal]:
    return {name: Decimal(0) for name in STORE_SALES.values()}


@dataclass
class _Stocks:
    counts: Counter[str]

    def add(self, row: Mapping[str, Any]) -> None:
        """Apply a row's stock changes (its flows and window gains are not stocks)."""
        self.counts.update(_counts(row, [name for name in row if r.is_stock_attribute(name)]))

    def figures(self, tiers: Iterable[str]) -> dict[str, Any]:
        return {
            "members_by_tier": {tier: self.counts[r.tier_attribute(tier)] for tier in tiers},
            "members_by_status": {status: self.counts[r.status_attribute(status)] for status in r.STATUSES},
            "points_outstanding": self.counts[r.OUTSTANDING],
        }


def _period(
    flows: Counter[str],
    sales: Mapping[str, Decimal],
    stocks: _Stocks,
    dormant_before: int,
    active: dict[str, int],
    catalog: Catalog,
) -> dict[str, Any]:
    return {
        "enrolments": flows[r.ENROLMENTS],
        **stocks.figures(catalog.tiers),
        **active,
        "points_earned": flows[r.EARNED],
        "points_redeemed": flows[r.REDEEMED],
        "points_expired": flows[r.EXPIRED],
        "redemption_rate": _ratio(flows[r.REDEEMED], flows[r.EARNED]) if flows[r.EARNED] > 0 else None,
        "reactivation_rate": _ratio(flows[r.REACTIVATIONS], dormant_before + flows[r.DORMANCIES]),
        **_sales_figures(sales, flows),
        "member_orders": flows[r.ORDERS],
        "repeat_orders": flows[r.REPEAT_ORDERS],
        "reactivations": flows[r.REACTIVATIONS],
        "dormancies": flows[r.DORMANCIES],
        **kpi_incentives.figures(flows, stocks.counts, catalog),
    }


def _store_period(flows: Counter[str], sales: Mapping[str, Decimal]) -> dict[str, Any]:
    return {
        "points_earned": flows[r.EARNED],
        "member_orders": flows[r.ORDERS],
        **_sales_figures(sales, flows),
        **_recruitment(flows),
    }


def _recruitment(flows: Counter[str]) -> dict[str, int]:
    return {name: flows[name] for name in RECRUITMENT}


def _gains(days: Mapping[date, Mapping[str, Any]], window: int) -> dict[date, dict[int, int]]:
    prefix = f"a{window}_"
    return {
        day: {int(name[len(prefix) :]): int(value) for name, value in row.items() if name.startswith(prefix)}
        for day, row in days.items()
    }


def report(
    rows: Rows, start: date, end: date, tiers: list[str], store_id: str | None = None, catalog: Catalog | None = None
) -> dict[str, Any]:
    """`{from, to, store_id, total, days, stores}` for the days start..end (both included).
    `catalog`: the program's rewards, segments, money places and points rate (default: none)."""
    catalog = replace(catalog or Catalog(), tiers=tuple(tiers))
    stocks = _Stocks(Counter())
    for month in rows.months_before:
        stocks.add(month)
    gains = {window: _gains(rows.days, window) for window in ACTIVE_WINDOWS}

    day = first_day_to_read(start)
    while day < start:  # stocks up to the end of the day before the range
        stocks.add(rows.days.get(day, {}))
        day += timedelta(days=1)
    dormant_at_start = stocks.counts[r.status_attribute("dormant")]

    store_sales = {key: _sales(row) for key, row in rows.stores.items()}
    store_flows = {key: _counts(row, STORE_FLOWS) for key, row in rows.stores.items()}
    sales_by_day: dict[date, dict[str, Decimal]] = {}
    for (sold_on, _), amounts in store_sales.items():
        _add_sales(sales_by_day.setdefault(sold_on, _zero_sales()), amounts)
    total_flows: Counter[str] = Counter()
    total_sales = _zero_sales()
    days: list[dict[str, Any]] = []
    active: dict[str, int] = {}
    while day <= end:
        row = rows.days.get(day, {})
        dormant_before = stocks.counts[r.status_attribute("dormant")]
        stocks.add(row)
        flows = _flows(row)
        sales = sales_by_day.get(day) or _zero_sales()
        active = {f"active_{window}d": active_on(day, gains[window], window) for window in ACTIVE_WINDOWS}
        days.append({"date": day.isoformat(), **_period(flows, sales, stocks, dormant_before, active, catalog)})
        total_flows.update(flows)
        _add_sales(total_sales, sales)
        day += timedelta(days=1)

    total = _period(total_flows, total_sales, stocks, dormant_at_start, active, catalog)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "store_id": store_id,
        "total": total,
        "days": days,
        "stores": _stores(store_flows, store_sales, start, end, store_id),
    }


def _stores(
    flows: Mapping[tuple[date, str], Counter[str]],
    sales: Mapping[tuple[date, str], Mapping[str, Decimal]],
    start: date,
    end: date,
    only: str | None,
) -> dict[str, Any]:
    names = sorted({store for (_, store) in flows if only in (None, store)})
    answer: dict[str, Any] = {}
    for store in names:
        total_flows: Counter[str] = Counter()
        total_sales = _zero_sales()
        days = []
        for (day, name), counts in sorted(flows.items()):
            if name != store or not start <= day <= end:
                continue
            total_flows.update(counts)
            _add_sales(total_sales, sales[(day, name)])
            days.append({"date": day.isoformat(), **_store_period(counts, sales[(day, name)])})
        answer[store] = {**_store_period(total_flows, total_sales), "days": days}
    return answer


def staff_report(
    rows: Mapping[tuple[date, str], Mapping[str, Any]], start: date, end: date, store_id: str
) -> dict[str, Any]:
    """GET /kpis?by=staff: each clerk of the store with a figure in start..end, in total and per day
    (only the days with one). Enrolments without a clerk count in the store's figures only."""
    staff: dict[str, Any] = {}
    for (day, staff_id), row in sorted(rows.items()):
        counts = _counts(row, RECRUITMENT)
        if not start <= day <= end or not any(counts.values()):  # a count moved away leaves zeros
            continue
        clerk = staff.setdefault(staff_id, {"total": Counter(), "days": []})
        clerk["total"].update(counts)
        clerk["days"].append({"date": day.isoformat(), **_recruitment(counts)})
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "store_id": store_id,
        "by": "staff",
        "staff": {
            staff_id: {**_recruitment(clerk["total"]), "days": clerk["days"]} for staff_id, clerk in staff.items()
        },
    }
