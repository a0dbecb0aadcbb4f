"""Which records of the table's stream each stream handler is given: Lambda event filter patterns.

One place for them: infra/ sets them as the event source mapping's `FilterCriteria` (Lambda drops
the other records before invoking, and does not bill for them), `loyalty dev`'s stream pump applies
the same patterns with `passes`, and the tests compare them with what the handler reads.

The KPI roll-up (`services/kpis.record_deltas`) reads three kinds of record and ignores the rest:
- a member's profile (sort key `MEMBER`), created, changed or deleted: its old and new images move
  the stocks (tiers, statuses, segments, outstanding points), count dormancies and reactivations,
  and grow the active windows;
- a ledger entry (sort key `TX#...`) when it is inserted: a flow (points by kind and source, an
  order and its spend, an enrolment, a reward). Its later changes (a purchase's returned amounts)
  count nothing;
- a coupon (sort key `COUPON#...`) inserted (issued) or modified (used). A deleted one keeps its counts.
Lots, pending lots, activity counters, contacts, keys, receipts, file runs, the KPI rows and the
roll-up's own markers never reach it: half or more of a member write's records, and every write of
the roll-up itself.

The outbox (`services/outbox.py`) reads the records whose new image carries an outbox (the events
committed with a change, domain/outbox.py): a ledger entry when it is inserted, a member's profile,
a sales file's run item. Every other record, most of a member write's, never invokes it.

Patterns use the subset of Lambda's filter syntax that `matches` evaluates: exact values, `prefix`,
`anything-but` and `exists`, on the record's metadata (`eventName`, `dynamodb.Keys`).
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.domain.outbox import OUTBOX
from chalicelib.store.keys import COUPON_PREFIX, ENTRY_PREFIX, FILE_PREFIX, PK, SK, STATE_PREFIX

KPI_ROLLUP_PATTERNS: tuple[dict[str, Any], ...] = (
    {"dynamodb": {"Keys": {SK: {"S": [STATE_PREFIX]}}}},
    {"eventName": ["INSERT"], "dynamodb": {"Keys": {SK: {"S": [{"prefix": ENTRY_PREFIX}]}}}},
    {"eventName": ["INSERT", "MODIFY"], "dynamodb": {"Keys": {SK: {"S": [{"prefix": COUPON_PREFIX}]}}}},
)

_HAS_OUTBOX = {OUTBOX: {"S": [{"exists": True}]}}
OUTBOX_PATTERNS: tuple[dict[str, Any], ...] = (
    {"eventName": ["INSERT"], "dynamodb": {"Keys": {SK: {"S": [{"prefix": ENTRY_PREFIX}]}}, "NewImage": _HAS_OUTBOX}},
    {"dynamodb": {"Keys": {SK: {"S": [STATE_PREFIX]}}, "NewImage": _HAS_OUTBOX}},
    {"dynamodb": {"Keys": {PK: {"S": [{"prefix": FILE_PREFIX}]}}, "NewImage": _HAS_OUTBOX}},
)

# Stream handler (the name in `@app.on_dynamodb_record(name=...)`) -> the records it is given.
# A handler missing here gets every record.
OUTBOX_HANDLER = "event_outbox"  # app.py's handler that publishes the events (the only publisher)
PATTERNS_BY_HANDLER: dict[str, tuple[dict[str, Any], ...]] = {
    "kpi_rollup": KPI_ROLLUP_PATTERNS,
    OUTBOX_HANDLER: OUTBOX_PATTERNS,
}
# Stream handlers that answer which record failed (`batchItemFailures`) rather than raising: their
# mapping reports batch item failures (infra/), and `loyalty dev`'s pump hands such a batch again.
PARTIAL_BATCH_HANDLERS: frozenset[str] = frozenset({OUTBOX_HANDLER})


def filter_criteria(patterns: tuple[dict[str, Any], ...]) -> dict[str, Any]:
    """The event source mapping's `FilterCriteria` (a record passes if any pattern matches)."""
    return {"Filters": [{"Pattern": json.dumps(pattern, separators=(",", ":"))} for pattern in patterns]}


def passes(record: dict[str, Any], patterns: tuple[dict[str, Any], ...] | None) -> bool:
    """Whether Lambda would hand `record` (Lambda's DynamoDB event format) to the handler."""
    return patterns is None or any(matches(pattern, record) for pattern in patterns)


def matches(pattern: dict[str, Any], value: Any) -> bool:
    """One pattern against one record: every field of the pattern must match."""
    if not isinstance(value, dict):
        return False
    for name, wanted in pattern.items():
        if isinstance(wanted, dict):
            if not matches(wanted, value.get(name)):
                return False
        elif not any(_matches_one(rule, name in value, value.get(name)) for rule in wanted):
            return False
    return True


def _matches_one(rule: Any, present: bool, value: Any) -> bool:
    if not isinstance(rule, dict):
        return present and value == rule
    ((operator, operand),) = rule.items()
    if operator == "exists":
        return present is bool(operand)
    if not present:
        return False
    if operator == "prefix":
        return isinstance(value, str) and value.startswith(operand)
    if operator == "anything-but":
        excluded = operand if isinstance(operand, list) else [operand]
        return value not in excluded
    raise ValueError(f"filter operator {operator!r} is not one this evaluator knows")
