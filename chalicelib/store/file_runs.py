"""DynamoDB items of a sales file's run: the run and its counters, its plan, its chunks' commit
markers, the day and store listings, and the store/day sales roll-up. Keys come from keys.py."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.ingest.tally import AMOUNTS, COUNTERS, Tally
from chalicelib.store import dynamo, keys, retry

# Phases of a file run: split (being planned) → sales → returns (only chunks that hold returns)
# → finalizing (one chunk writes the report) → done.
SPLIT, SALES, RETURNS, FINALIZING, DONE = "split", "sales", "returns", "finalizing", "done"
RUNNING, COMPLETED, FAILED = "running", "completed", "failed"

DAYS_PER_TRANSACTION = 90  # DynamoDB allows 100 items in a transaction; keep room for the markers


def _names(*attributes: str) -> dict[str, str]:
    return {f"#{name}": name for name in attributes}


@dataclass(frozen=True)
class FileRunRecord:
    """A sales file's run as the store keeps it (its FILE item), read through typed properties;
    `item` is the whole item, counters included, which the report is built from."""

    item: Mapping[str, Any]

    @property
    def file_id(self) -> str:
        return str(self.item["file_id"])

    @property
    def key(self) -> str:
        return str(self.item["key"])

    @property
    def bucket(self) -> str:
        return str(self.item["bucket"])

    @property
    def store_id(self) -> str:
        return str(self.item.get("store_id") or "")

    @property
    def started_at(self) -> datetime:
        return datetime.fromisoformat(self.item["started_at"])

    @property
    def report_key(self) -> str:
        return str(self.item["report_key"])

    @property
    def rejects_key(self) -> str:
        return str(self.item["rejects_key"])

    @property
    def etag(self) -> str:
        return str(self.item["etag"])

    @property
    def size(self) -> int:
        return int(self.item["size"])

    @property
    def status(self) -> str:
        return str(self.item["status"])

    @property
    def phase(self) -> str:
        return str(self.item.get("phase") or SPLIT)

    @property
    def returns_total(self) -> int:
        return int(self.item.get("returns_total") or 0)

    @property
    def header(self) -> list[str]:
        return list(self.item.get("header") or [])

    @property
    def compressed(self) -> bool:
        return bool(self.item.get("compressed"))

    @property
    def last_error(self) -> str | None:
        return self.item.get("last_error")

    @property
    def running(self) -> bool:
        return self.status == RUNNING

    def with_fields(self, fields: Mapping[str, Any]) -> FileRunRecord:
        return FileRunRecord({**self.item, **fields})


def create_file(item: dict[str, Any]) -> FileRunRecord:
    """Record a new run (and list it under its day, and under its store when the key names one);
    returns the run, or the existing one when this S3 event was already seen."""
    index = keys.files_by_day_key(item["file_date"], item.get("store_id") or "-", item["started_at"], item["file_id"])
    counters = {name: 0 for name in COUNTERS} | {name: Decimal(0) for name in AMOUNTS}
    run = {**keys.file_key(item["file_id"]), **counters, "reasons": {}, "status": RUNNING, "phase": SPLIT, **item}
    listed = {"file_id": item["file_id"], "expires_at": item.get("expires_at")}
    items = [dynamo.put(run, condition="attribute_not_exists(pk)", old_on_fail=True), dynamo.put({**index, **listed})]
    if item.get("store_id"):  # GET /stores/{id}/files pages through these, newest first
        items.append(
            dynamo.put({**keys.files_by_store_key(item["store_id"], item["started_at"], item["file_id"]), **listed})
        )
    try:
        dynamo.transact(items)
    except dynamo.Cancelled as cancelled:
        if cancelled.failed == 0:  # this S3 event was seen: its run
            old = cancelled.old_item(0)
            return FileRunRecord(old) if old else (get_file(item["file_id"]) or FileRunRecord(run))
        raise
    return FileRunRecord(run)


def get_file(file_id: str) -> FileRunRecord | None:
    item = dynamo.get(keys.file_key(file_id))
    return FileRunRecord(item) if item else None


def save_plan(file_id: str, plan: dict[str, Any], chunks: list[list[int]]) -> None:
    """The chunks ([start, end, first record, has returns]) and the file's totals. Running it again
    (a redelivered S3 event) finds the phase moved on and changes nothing."""
    values = {":split": SPLIT, ":sales": SALES, ":zero": 0, **{f":{name}": value for name, value in plan.items()}}
    sets = ", ".join(f"#{name} = :{name}" for name in plan)
    try:
        dynamo.transact(
            [
                dynamo.put({**keys.file_plan_key(file_id), "chunks": chunks}),
                dynamo.update(
                    keys.file_key(file_id),
                    f"SET #phase = :sales, sales_done = :zero, returns_done = :zero, {sets}",
                    values,
                    _names("phase", *plan),
                    "#phase = :split",
                ),
            ]
        )
    except dynamo.Cancelled as cancelled:
        if cancelled.failed != 1:
            raise


def plan_chunks(file_id: str) -> list[list[int]]:
    item = dynamo.get(keys.file_plan_key(file_id)) or {}
    return [[int(value) for value in chunk] for chunk in item.get("chunks", [])]


def chunk_committed(file_id: str, phase: str, chunk: int) -> bool:
    return dynamo.get(keys.file_chunk_key(file_id, phase, chunk)) is not None


def _day_update(day: str, store_id: str, totals: dict[str, Decimal]) -> dict[str, Any]:
    names = {f"#a{i}": name for i, name in enumerate(sorted(totals))}
    values: dict[str, Any] = {f":a{i}": totals[name] for i, name in enumerate(sorted(totals))}
    sets = [f"#a{i} = if_not_exists(#a{i}, :zero) + :a{i}" for i in range(len(totals))]
    values.update({":zero": 0, ":store": store_id, ":day": day})
    return dynamo.update(
        keys.store_sales_key(day, store_id),
        "SET " + ", ".join([*sets, "store_id = :store", "#day = :day"]),
        values,
        {**names, "#day": "day"},
    )


def _counters_update(file_id: str, phase: str, tally: Tally) -> dict[str, Any]:
    names = _names(*COUNTERS, *AMOUNTS, f"{phase}_done")
    sets = [f"#{name} = #{name} + :{name}" for name in (*COUNTERS, *AMOUNTS)]
    values: dict[str, Any] = {f":{name}": getattr(tally, name) for name in (*COUNTERS, *AMOUNTS)}
    for index, (reason, count) in enumerate(sorted(tally.reasons.items())):
        names[f"#r{index}"] = reason
        sets.append(f"reasons.#r{index} = if_not_exists(reasons.#r{index}, :zero) + :r{index}")
        values[f":r{index}"] = count
    sets.append(f"#{phase}_done = #{phase}_done + :one")
    values[":one"] = 1
    if tally.reasons:
        values[":zero"] = 0  # DynamoDB refuses a value that no expression uses
    return dynamo.update(keys.file_key(file_id), "SET " + ", ".join(sets), values, names)


def commit_chunk(file_id: str, phase: str, chunk: int, store_id: str, tally: Tally, expires_at: int) -> bool:
    """Add a chunk's counts to its file and its sales to the store/day roll-up, exactly once: each
    transaction carries a marker item that can only be created once, so a chunk delivered twice (or
    retried after a crash half-way) adds nothing the second time. False: another delivery did it."""
    committed = False
    updates = [_day_update(day, store_id, totals) for day, totals in sorted(tally.days.items())]
    batches = [updates[i : i + DAYS_PER_TRANSACTION] for i in range(0, len(updates), DAYS_PER_TRANSACTION)] or [[]]
    for part, batch in enumerate(batches):
        last = part == len(batches) - 1
        marker = keys.file_chunk_key(file_id, phase, chunk, None if last else part)
        items = [
            dynamo.put(
                {**marker, "expires_at": expires_at, "rejected": tally.rejected}, condition="attribute_not_exists(pk)"
            ),
            *batch,
        ]
        if last:
            items.append(_counters_update(file_id, phase, tally))
        try:
            dynamo.transact_retrying_conflicts(items)
            committed = last
        except dynamo.Cancelled as cancelled:
            if cancelled.failed != 0:  # 0: this part was committed by an earlier delivery
                raise
    return committed


def advance(file_id: str, current: str, target: str, me: str) -> bool:
    """Move the run to its next phase once every chunk of `current` is committed. The condition
    compares the done counter with the total, so exactly one chunk wins (the last one), whatever
    the timing; the winner may come back (a retry of the same chunk) and win again."""
    condition = (
        f"(#phase = :current AND #{current}_done = #{current}_total) OR (#phase = :target AND advanced_by = :me)"
    )
    return _conditional_update(
        dynamo.update(
            keys.file_key(file_id),
            "SET #phase = :target, advanced_by = :me",
            {":current": current, ":target": target, ":me": me},
            _names("phase", f"{current}_done", f"{current}_total"),
            condition,
        )
    )


def finish(file_id: str, fields: dict[str, Any], expect_phase: str | None = None) -> bool:
    """Set the run's outcome (status completed or failed); False when it already had one."""
    values = {f":{name}": value for name, value in fields.items()} | {":running": RUNNING, ":done": DONE}
    sets = ", ".join([f"#{name} = :{name}" for name in fields] + ["#phase = :done"])
    condition = "#status = :running"
    if expect_phase is not None:
        condition += " AND #phase = :expect"
        values[":expect"] = expect_phase
    return _conditional_update(
        dynamo.update(keys.file_key(file_id), f"SET {sets}", values, _names("phase", "status", *fields), condition)
    )


def note_error(file_id: str, text: str) -> None:
    """Keep the last error of a running file's message (what its dead letter will report)."""
    _conditional_update(
        dynamo.update(
            keys.file_key(file_id),
            "SET last_error = :text",
            {":text": text, ":running": RUNNING},
            _names("status"),
            "#status = :running",
        )
    )


def _conditional_update(update: dict[str, Any]) -> bool:
    """UpdateItem; False when its condition failed. Retried while a chunk's commit transaction on
    the same FILE item is in flight (TransactionConflict), rather than failing the message."""
    for attempt in retry.attempts(retry.SHARED_ITEMS):
        try:
            dynamo.call("update_item", **update["Update"])
            return True
        except dynamo.ConditionFailed:
            return False
        except dynamo.TransactionConflict:
            if attempt == retry.SHARED_ITEMS.attempts - 1:
                raise
    return False


def files_of_day(file_date: str, store_id: str | None, limit: int) -> list[dict[str, Any]]:
    """The runs listed under a day (optionally one store's), oldest first: one Query, one BatchGet."""
    prefix = f"{store_id}#" if store_id else ""
    listed, _ = dynamo.query(keys.files_by_day_pk(file_date), prefix, limit=limit)
    return _runs(listed)


def files_of_store(
    store_id: str, limit: int, start: dict[str, Any] | None
) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """A page of a store's runs, newest first (one Query, one BatchGet), and where the next starts."""
    listed, last = dynamo.query(keys.files_by_store_pk(store_id), "", limit=limit, forward=False, start=start)
    return _runs(listed), last


def _runs(listed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The FILE items of listed runs, in their order (a run gone with its TTL is left out)."""
    wanted = [keys.file_key(item["file_id"]) for item in listed]
    found: dict[str, dict[str, Any]] = {}
    while wanted:
        batch, wanted = wanted[:100], wanted[100:]
        request = {dynamo.table(): {"Keys": [dynamo.to_item(key) for key in batch], "ConsistentRead": True}}
        while request:
            answer = dynamo.call("batch_get_item", RequestItems=request)
            for raw in answer.get("Responses", {}).get(dynamo.table(), []):
                item = dynamo.from_item(raw)
                found[item["file_id"]] = item
            request = answer.get("UnprocessedKeys") or {}
    return [found[item["file_id"]] for item in listed if item["file_id"] in found]
