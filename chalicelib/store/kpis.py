"""KPI rows: the roll-up's transactions and the range reads of GET /kpis (keys in keys.py)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import date
from typing import Any

from chalicelib.domain.kpi_report import Rows, first_day_to_read
from chalicelib.domain.kpi_rollup import Deltas, is_stock_attribute
from chalicelib.store import dynamo, keys

MAX_TRANSACTION_ITEMS = 100  # DynamoDB's limit for TransactWriteItems


def _add(key: dict[str, str], counts: Counter[str]) -> dict[str, Any]:
    names = {f"#c{i}": name for i, name in enumerate(sorted(counts))}
    values = {f":c{i}": counts[name] for i, name in enumerate(sorted(counts))}
    return dynamo.update(key, "ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(names))), values, names)


def row_updates(deltas: Deltas) -> list[dict[str, Any]]:
    """One ADD per row the deltas touch."""
    updates = [_add(keys.kpi_day_key(day.isoformat()), counts) for day, counts in sorted(deltas.days.items())]
    updates += [_add(keys.kpi_month_key(month), counts) for month, counts in sorted(deltas.months.items())]
    for (day, store), counts in sorted(deltas.stores.items()):
        updates.append(_add(keys.store_sales_key(day.isoformat(), store), counts))
    for (day, store, staff), counts in sorted(deltas.staff.items()):
        updates.append(_add(keys.staff_kpi_key(day.isoformat(), store, staff), counts))
    return updates


def seen_marker(record_id: str, expires_at: int) -> dict[str, Any]:
    return dynamo.put({**keys.kpi_seen_key(record_id), "expires_at": expires_at}, condition="attribute_not_exists(pk)")


def apply(record_ids: Sequence[str], deltas: Deltas, expires_at: int) -> None:
    """Add the deltas of these records, with a marker per record, in one transaction.

    Raises dynamo.Cancelled when a marker exists (that record was counted already) or on a
    conflict with another roll-up writing the same rows; the caller decides what to retry."""
    items = [seen_marker(record_id, expires_at) for record_id in record_ids] + row_updates(deltas)
    if len(items) > MAX_TRANSACTION_ITEMS:
        raise ValueError(f"{len(items)} items do not fit one transaction")
    dynamo.transact(items)


def _store_rows(start: date, end: date) -> dict[tuple[date, str], dict[str, Any]]:
    rows: dict[tuple[date, str], dict[str, Any]] = {}
    for month in _months(start, end):
        for item in dynamo.query_between(keys.store_days_pk(month), start.isoformat(), f"{end.isoformat()}#\uffff"):
            day, store_id = item[keys.SK].split("#", 1)
            rows[(date.fromisoformat(day), store_id)] = item
    return rows


def _months(start: date, end: date) -> list[str]:
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def read(start: date, end: date) -> Rows:
    """Day rows from `first_day_to_read(start)`, the months before it, the store rows of the range:
    a Query per year, one for the months and one per month of the range. Never a Scan."""
    first = first_day_to_read(start)
    days: dict[date, dict[str, Any]] = {}
    for year in range(first.year, end.year + 1):
        for item in dynamo.query_between(keys.kpi_days_pk(str(year)), first.isoformat(), end.isoformat()):
            days[date.fromisoformat(item[keys.SK])] = item
    before = first.isoformat()[:7]
    months = [
        {name: value for name, value in item.items() if is_stock_attribute(name)}
        for item in dynamo.query_between(keys.KPI_MONTHS_PK, "0000-00", before)
        if item[keys.SK] < before
    ]
    return Rows(days=days, months_before=months, stores=_store_rows(start, end))


def read_staff(start: date, end: date, store_id: str) -> dict[tuple[date, str], dict[str, Any]]:
    """A store's clerk rows of start..end, by (day, staff id): a Query per year. Never a Scan."""
    found: dict[tuple[date, str], dict[str, Any]] = {}
    for year in range(start.year, end.year + 1):
        pk = keys.staff_kpis_pk(store_id, str(year))
        for item in dynamo.query_between(pk, start.isoformat(), f"{end.isoformat()}#\uffff"):
            day, staff_id = item[keys.SK].split("#", 1)
            found[(date.fromisoformat(day), staff_id)] = item
    return found
