"""The shared shape of every member write: read, decide, commit once, retry on a lost race,
answer a replayed client id from its stored entry. The events go in the same transaction (the
outbox, domain/outbox.py); the table's stream publishes them."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock
from chalicelib.config import settings
from chalicelib.domain.errors import Busy, Conflict, InvalidRequest, LoyaltyError, MemberNotFound
from chalicelib.domain.model import Member, MemberChange
from chalicelib.observability import logger
from chalicelib.program import Program
from chalicelib.services import cards
from chalicelib.store import codec, members, retry
from chalicelib.store.dynamo import StoreError

COUPON_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O/1/I: codes are read out at tills
FUTURE_TOLERANCE = timedelta(minutes=5)


def fingerprint(body: dict[str, Any]) -> str:
    """A digest of what the client sent (not of defaults we filled in) to tell replays from reuse.
    Keyed with the signing secret: an enrolment body holds contact data, which an erased member's
    kept ledger must not let anyone confirm by guessing."""
    canonical = json.dumps(codec.jsonable(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(settings().signing_secret.encode(), canonical.encode(), hashlib.sha256).hexdigest()


def new_coupon_code() -> str:
    return "".join(secrets.choice(COUPON_ALPHABET) for _ in range(10))


def check_occurred_at(program: Program, occurred_at: datetime | None, now: datetime) -> datetime:
    """Default to now; refuse the future (beyond clock skew) and what is older than the program allows."""
    if occurred_at is None:
        return now
    if occurred_at.tzinfo is None:
        raise InvalidRequest(
            "occurred_at needs a time zone offset", [{"field": "occurred_at", "message": "ISO 8601 with offset"}]
        )
    if occurred_at > now + FUTURE_TOLERANCE:
        raise InvalidRequest(
            "occurred_at is in the future", [{"field": "occurred_at", "message": "more than 5 minutes in the future"}]
        )
    if occurred_at < now - timedelta(days=program.max_backdate_days):
        raise InvalidRequest(
            "occurred_at is too old",
            [{"field": "occurred_at", "message": f"older than {program.max_backdate_days} days"}],
        )
    return occurred_at


@dataclass
class Plan:
    """What a use case decided: the changes, extra items, and the answer to give the client."""

    changes: Sequence[MemberChange]
    extras: Sequence[members.Extra] = ()
    extra_answer: dict[str, Any] = field(default_factory=dict)


def answer_for(plan: Plan, now: datetime) -> dict[str, Any]:
    """`entry`: the ledger entry made; `balances`: the member's balances after it."""
    first = plan.changes[0]
    views = [
        codec.entry_view(codec.entry_item(first.after.member_id, entry, now, first.after.balances(), None, None))
        for entry in first.entries
    ]
    return {
        "entry": views[0],
        "related_entries": views[1:],
        "balances": first.after.balances(),
        **codec.jsonable(plan.extra_answer),
    }


def _replayed(item: dict[str, Any], digest: str) -> dict[str, Any]:
    if item.get("fingerprint") != digest:
        raise Conflict(
            "this id was already used with a different request",
            [{"field": "id", "message": f"{item.get('entry_id')} exists with another body"}],
        )
    return members.stored_response(item)


def member_write(
    member_id: str, entry_id: str, body: dict[str, Any], decide: Callable[[Member, datetime], Plan]
) -> dict[str, Any]:
    """Run one idempotent member write (the pattern every points-changing use case shares)."""
    digest = fingerprint(body)
    for attempt in retry.attempts(retry.MEMBER_RACE):
        now = clock.now()
        try:
            member = members.load_member(member_id)
            if member is None:
                raise MemberNotFound(f"member {member_id} not found")
            try:
                plan = decide(member, now)
            except LoyaltyError:
                # A replay may fail the rules now (the points are already spent): answer it first.
                earlier = members.get_entry(member_id, entry_id)
                if earlier is not None:
                    return _replayed(earlier, digest)
                raise
            answer = answer_for(plan, now)
            extras = [*plan.extras, *cards.missing(plan.changes)]  # a member from before cards gets one
            members.commit(members.Commit(plan.changes, digest, answer, extras), now)
        except members.Replay as replay:
            return _replayed(replay.item or members.get_entry(member_id, entry_id) or {}, digest)
        except (members.VersionConflict, cards.CardNumberTaken):
            continue
        except StoreError as exc:
            raise Busy("the points store is busy, retry shortly") from exc
        logger.info(
            "member write committed", extra={"member_id": member_id, "entry_id": entry_id, "attempts": attempt + 1}
        )
        return answer
    raise Busy("the member is being changed by other requests, retry shortly")
