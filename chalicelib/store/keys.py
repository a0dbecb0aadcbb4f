"""All partition/sort keys of the single table, in one place.

Member partition (`MEMBER#<id>`):
  MEMBER                      profile: status, tier, balances, spend by month, version
  MEMBER#LOT#<yyyy-mm>        points left that expire at the end of that month
  MEMBER#PENDING#<entry id>   purchase points not yet spendable
  TX#<kind>#<ref>             ledger entry = idempotency record of the client's id
  COUPON#<code>               wallet
  ACTIVITY#<yyyy-mm-dd>#<type> daily activity counter
The profile, lots and pending lots share the `MEMBER` prefix so that one Query reads a member's
whole balance state (profile + at most ~13 lots): a member write is that Query + one transaction.
"""

from __future__ import annotations

import zlib

PK, SK = "pk", "sk"
LEDGER_INDEX, LEDGER_SORT = "by_time", "ts"  # LSI: a member's ledger entries in recorded order

MEMBERS_INDEX, MEMBERS_SHARD = "members", "member_shard"  # GSI over profiles, for audits
MEMBER_SHARDS = 16

STATE_PREFIX = "MEMBER"
LOT_PREFIX = "MEMBER#LOT#"
PENDING_PREFIX = "MEMBER#PENDING#"
ENTRY_PREFIX = "TX#"
COUPON_PREFIX = "COUPON#"


def member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


def member_shard(member_id: str) -> str:
    """A stable shard (not Python's salted hash) so the audit index spreads members evenly."""
    return f"SHARD#{zlib.crc32(member_id.encode()) % MEMBER_SHARDS:02d}"


def profile_key(member_id: str) -> dict[str, str]:
    return {PK: member_pk(member_id), SK: STATE_PREFIX}


def lot_key(member_id: str, month: str) -> dict[str, str]:
    return {PK: member_pk(member_id), SK: f"{LOT_PREFIX}{month}"}


def pending_key(member_id: str, entry_id: str) -> dict[str, str]:
    return {PK: member_pk(member_id), SK: f"{PENDING_PREFIX}{entry_id}"}


def entry_key(member_id: str, entry_id: str) -> dict[str, str]:
    return {PK: member_pk(member_id), SK: f"{ENTRY_PREFIX}{entry_id}"}


def coupon_key(member_id: str, code: str) -> dict[str, str]:
    return {PK: member_pk(member_id), SK: f"{COUPON_PREFIX}{code}"}


def activity_counter_key(member_id: str, day: str, activity_type: str) -> dict[str, str]:
    return {PK: member_pk(member_id), SK: f"ACTIVITY#{day}#{activity_type}"}


def contact_key(contact_hash: str) -> dict[str, str]:
    """Uniqueness of a phone or email: the key holds a keyed hash, never the contact itself."""
    return {PK: f"CONTACT#{contact_hash}", SK: "CONTACT"}


API_KEYS_PK = "APIKEYS"


def api_key_key(key_id: str) -> dict[str, str]:
    return {PK: API_KEYS_PK, SK: f"KEY#{key_id}"}


def reward_stock_key(reward_id: str) -> dict[str, str]:
    return {PK: f"REWARD#{reward_id}", SK: "STOCK"}
