"""KPIs (docs/kpis.md): the stream roll-up into day rows, and GET /kpis from them.

The roll-up is the only writer of the KPI rows. A member write never touches them: the table's
stream brings every committed change here, in batches. Each record is counted once: its marker
item goes into the same transaction as its counters, so a batch delivered again (Lambda retries,
the local pump restarting) adds nothing the second time.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.domain import kpi_incentives, kpi_report, kpi_rollup
from chalicelib.domain.errors import InvalidRequest
from chalicelib.domain.kpi_rollup import Deltas
from chalicelib.observability import logger, metrics
from chalicelib.program import load_program
from chalicelib.store import dynamo, keys, retry
from chalicelib.store import kpis as rows

MAX_RANGE_DAYS = 366
MARKER_DAYS = 2  # a stream keeps records 24 h: a marker older than that can never be needed again
ROW_BUDGET = rows.MAX_TRANSACTION_ITEMS


@dataclass
class RollUp:
    records: int = 0
    counted: int = 0  # records whose counters were added now
    duplicates: int = 0  # records counted by an earlier delivery
    ignored: int = 0  # records that change no KPI (lots, coupons, files, ...)
    points_earned: int = 0  # of the records counted now (so the metrics count each point once)
    points_redeemed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


PROFILE_FIELDS = (
    *("status", "tier", "available", "pending", "purchase_days", "changed_at"),
    *("enrolled_at", "enrol_store_id", "enrol_staff_id", "first_purchase_at"),  # recruitment
    *(keys.AUDIENCE_KEY, keys.AUDIENCE_DAY),  # members by segment
)
ENTRY_FIELDS = ("kind", "points", "occurred_at", "details")
COUPON_FIELDS = ("kind", "issued_at", "expires_at", "coupon_status", "used_at", keys.COUPON_COUNTED)


def _image(image: dict[str, Any] | None, fields: tuple[str, ...]) -> dict[str, Any] | None:
    """The attributes the roll-up uses, as plain values (the rest of the item is not decoded)."""
    if image is None:
        return None
    return dynamo.from_item({name: image[name] for name in fields if name in image})


def _profile(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The profile's fields, with the segment of its audience entry (`<segment>#<shard>`). An entry
    without its day was stored before the roll-up counted segments: it counts in none (so the first
    write with a day adds the member once; `loyalty audiences backfill` stores the day for all)."""
    profile = _image(image, PROFILE_FIELDS)
    if profile is not None:
        entry, day = profile.pop(keys.AUDIENCE_KEY, None), profile.pop(keys.AUDIENCE_DAY, None)
        profile.update(segment=entry.split("#", 1)[0] if entry and day else None, segment_day=day)
    return profile


def _coupon(image: dict[str, Any] | None) -> dict[str, Any] | None:
    """The coupon's fields; one issued before the roll-up counted coupons is none of its business."""
    coupon = _image(image, COUPON_FIELDS)
    return coupon if coupon and coupon.pop(keys.COUPON_COUNTED, False) else None


def record_deltas(record: dict[str, Any]) -> Deltas | None:
    """The KPI deltas of one stream record (Lambda's DynamoDB event format), None if it has none."""
    stream = record["dynamodb"]
    sort_key = stream["Keys"][keys.SK]["S"]
    program = load_program()
    tz = program.tz
    if sort_key == keys.STATE_PREFIX:
        old, new = (_profile(stream.get(side)) for side in ("OldImage", "NewImage"))
        written = datetime.fromtimestamp(float(stream.get("ApproximateCreationDateTime", time.time())), UTC)
        deltas = kpi_rollup.profile_deltas(old, new, tz, written)
    elif sort_key.startswith(keys.ENTRY_PREFIX) and record["eventName"] == "INSERT":
        entry = _image(stream["NewImage"], ENTRY_FIELDS) or {}
        deltas = kpi_rollup.entry_deltas(entry, tz, program.currency_places)
    elif sort_key.startswith(keys.COUPON_PREFIX) and record["eventName"] in ("INSERT", "MODIFY"):
        old, new = (_coupon(stream.get(side)) for side in ("OldImage", "NewImage"))
        deltas = kpi_rollup.coupon_deltas(old, new, tz)
    else:
        return None
    return None if deltas.empty() else deltas


def _groups(work: list[tuple[str, Deltas]]) -> Iterable[tuple[list[str], Deltas]]:
    """Records packed into transactions: a marker per record + a row per touched counter row."""
    ids: list[str] = []
    merged = Deltas()
    for record_id, deltas in work:
        trial = Deltas()
        trial.merge(merged)
        trial.merge(deltas)
        if ids and len(ids) + 1 + trial.rows() > ROW_BUDGET:
            yield ids, merged
            ids, trial = [], Deltas()
            trial.merge(deltas)
        ids.append(record_id)
        merged = trial
    if ids:
        yield ids, merged


def _apply(record_ids: list[str], deltas_by_id: dict[str, Deltas], summary: RollUp) -> None:
    pending = list(record_ids)
    for attempt in retry.attempts(retry.SHARED_ITEMS):
        merged = Deltas()
        for record_id in pending:
            merged.merge(deltas_by_id[record_id])
        expires_at = int((clock.now() + timedelta(days=MARKER_DAYS)).timestamp())
        try:
            rows.apply(pending, merged, expires_at)
        except dynamo.Cancelled as cancelled:
            seen = {record_id for i, record_id in enumerate(pending) if cancelled.condition_failed(i)}
            summary.duplicates += len(seen)
            pending = [record_id for record_id in pending if record_id not in seen]
            if not pending:
                return
            continue  # records already counted are dropped; a conflict with another roll-up waits
        except dynamo.StoreError:
            if attempt == retry.SHARED_ITEMS.attempts - 1:
                raise
            continue
        summary.counted += len(pending)
        for counts in merged.days.values():
            summary.points_earned += counts[kpi_rollup.EARNED]
            summary.points_redeemed += counts[kpi_rollup.REDEEMED]
        return
    raise dynamo.StoreError(f"KPI roll-up: {len(pending)} records still conflicting after every attempt")


def roll_up(records: list[dict[str, Any]]) -> RollUp:
    """Count a batch of stream records into the KPI rows (raises if it could not: Lambda retries)."""
    summary = RollUp(records=len(records))
    deltas_by_id: dict[str, Deltas] = {}
    for record in records:
        deltas = record_deltas(record)
        if deltas is None:
            summary.ignored += 1
        elif record["eventID"] in deltas_by_id:  # delivered twice in one batch
            summary.duplicates += 1
        else:
            deltas_by_id[record["eventID"]] = deltas
    for record_ids, _ in _groups(list(deltas_by_id.items())):
        _apply(record_ids, deltas_by_id, summary)
    metrics.add_metric(name="KpiRecordsCounted", unit="Count", value=summary.counted)
    # The dashboard's points flow: from the roll-up, off the request path, each point once.
    metrics.add_metric(name="PointsEarned", unit="Count", value=summary.points_earned)
    metrics.add_metric(name="PointsRedeemed", unit="Count", value=summary.points_redeemed)
    if summary.duplicates:
        metrics.add_metric(name="KpiRecordsDuplicate", unit="Count", value=summary.duplicates)
    logger.info("kpi roll-up", extra=summary.as_dict())
    return summary


def report(start: date, end: date, store_id: str | None = None, by: str | None = None) -> dict[str, Any]:
    """GET /kpis: every figure of docs/kpis.md for start..end, from O(days × stores) rows; `by=staff`:
    the recruitment figures of each clerk of `store_id`, from that store's staff rows only."""
    if end < start:
        raise InvalidRequest("`to` is before `from`", [{"field": "to", "message": "on or after `from`"}])
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidRequest(
            f"at most {MAX_RANGE_DAYS} days per request", [{"field": "to", "message": f"≤ {MAX_RANGE_DAYS} days"}]
        )
    if by == "staff":
        if store_id is None:
            raise InvalidRequest("by=staff needs a store", [{"field": "store_id", "message": "required with by=staff"}])
        return kpi_report.staff_report(rows.read_staff(start, end, store_id), start, end, store_id)
    program = load_program()
    tiers = [tier.code for tier in program.tiers]
    catalog = kpi_incentives.catalog_of(program)
    return kpi_report.report(rows.read(start, end), start, end, tiers, store_id, catalog)
