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
from dataclasses import dataclass

PK, SK = "pk", "sk"
LEDGER_INDEX, LEDGER_SORT = "by_time", "ts"  # LSI: a member's ledger entries in recorded order

MEMBERS_INDEX, MEMBERS_SHARD = "members", "member_shard"  # GSI over profiles, for audits
MEMBER_SHARDS = 16

STATE_PREFIX = "MEMBER"
LOT_PREFIX = "MEMBER#LOT#"
PENDING_PREFIX = "MEMBER#PENDING#"
ENTRY_PREFIX = "TX#"
COUPON_PREFIX = "COUPON#"
# On a coupon item: issued since the KPI roll-up counts coupons, so its use and expiry count too
# (a coupon issued before never counted as issued: its use must not take from an expiry day).
COUPON_COUNTED = "kpi_counted"


def member_pk(member_id: str) -> str:
    return f"MEMBER#{member_id}"


def member_shard(member_id: str) -> str:
    """A stable shard (not Python's salted hash) so the audit index spreads members evenly."""
    return f"SHARD#{zlib.crc32(member_id.encode()) % MEMBER_SHARDS:02d}"


def member_shards() -> list[str]:
    """Every value `member_shard` can take: a job queries each one."""
    return [f"SHARD#{n:02d}" for n in range(MEMBER_SHARDS)]


# --- Due work of the scheduled jobs ----------------------------------------------------------------
# One sparse GSI per job: partition = the profile's `member_shard` (every profile has it, and it
# spreads the index over MEMBER_SHARDS partitions), sort = the date the job has something to do
# ("yyyy-mm-dd"; birthdays: the static "mm-dd"). Only profiles with something due carry the sort
# attribute, so a job's Query reads the members due and nothing else.


@dataclass(frozen=True)
class DueIndex:
    name: str
    attribute: str  # the sort key of the index, set on the profile by store/due.py


DUE_EXPIRY = DueIndex("due_expiry", "due_expiry_at")
DUE_TIER_REVIEW = DueIndex("due_tier_review", "due_tier_review_at")
DUE_DORMANT = DueIndex("due_dormant", "due_dormant_at")
DUE_BIRTHDAY = DueIndex("due_birthday", "due_birthday_md")
DUE_PENDING = DueIndex("due_pending", "due_pending_at")
# The audience job's: the next day a member's segment can change without a write (domain/audiences.py).
DUE_AUDIENCE = DueIndex("due_audience", "due_audience_at")
ALL_DUE_INDEXES = (DUE_EXPIRY, DUE_TIER_REVIEW, DUE_DORMANT, DUE_BIRTHDAY, DUE_PENDING, DUE_AUDIENCE)
JOB_MARKS = "job_marks"  # profile map: notices the jobs already sent (domain/model.JobMarks)


# --- Audiences (services/audiences.py) --------------------------------------------------------------
# GSI `audience` over profiles: partition `<segment>#<member shard>` (a segment spread over
# MEMBER_SHARDS partitions), sort `<tier>#<status>#<enrolment store or ->#<last purchase day or ->`,
# so a segment is one Query per shard and tier (then status, then store) narrows it by key. Only
# members in some audience (every member but the erased) carry it; the segment is as of the last
# write or audience run, which the due index above keeps current.
AUDIENCE_INDEX = "audience"
AUDIENCE_KEY, AUDIENCE_SORT = "audience_key", "audience_sort"
AUDIENCE_DAY = "audience_day"  # the program-local day the stored segment is as of (the KPI roll-up dates by it)
AUDIENCE_FILTERS = ("tier", "status", "enrol_store_id")  # projected: filters beyond the sort-key prefix
NO_VALUE = "-"  # a sort-key part the member has none of (no enrolment store, no purchase day)


def audience_partition(segment: str, member_id: str) -> str:
    return f"{segment}#{member_shard(member_id)}"


def audience_partitions(segment: str) -> list[str]:
    """Every partition of a segment: a listing queries each one."""
    return [f"{segment}#{shard}" for shard in member_shards()]


def audience_sort(tier: str, status: str, store_id: str | None, last_purchase_day: str | None) -> str:
    """Tier codes, statuses and store ids hold no '#': the value splits back (audience_sort_parts)."""
    return f"{tier}#{status}#{store_id or NO_VALUE}#{last_purchase_day or NO_VALUE}"


def audience_sort_prefix(tier: str | None, status: str | None, store_id: str | None) -> str:
    """The longest sort-key prefix the filters fix ('' when no tier); the rest are filters."""
    parts = []
    for part in (tier, status, store_id):
        if part is None:
            break
        parts.append(part)
    return "".join(f"{part}#" for part in parts)


def audience_sort_parts(value: str) -> tuple[str, str, str | None, str | None]:
    tier, status, store_id, day = value.split("#")
    return tier, status, None if store_id == NO_VALUE else store_id, None if day == NO_VALUE else day


def job_cursor_key(job: str) -> dict[str, str]:
    """How far a date-keyed job (birthday) got: the last day it completed."""
    return {PK: f"JOB#{job}", SK: "CURSOR"}


def scheduler_pause_key() -> dict[str, str]:
    """`loyalty dev` only: a lease that pauses its scheduler while `loyalty demo` replays history."""
    return {PK: "JOB#scheduler", SK: "PAUSE"}


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


def card_key(card_number: str) -> dict[str, str]:
    """Uniqueness of a card number, and the till's way from a card to its member (`member_id`)."""
    return {PK: f"CARD#{card_number}", SK: "CARD"}


API_KEYS_PK = "APIKEYS"


def api_key_key(key_id: str) -> dict[str, str]:
    return {PK: API_KEYS_PK, SK: f"KEY#{key_id}"}


def reward_stock_key(reward_id: str) -> dict[str, str]:
    return {PK: f"REWARD#{reward_id}", SK: "STOCK"}


# --- Sales files (chalicelib/ingest, services/sales_files/) -------------------------------------------
# FILE#<file id>          FILE                      one upload of a sales file: status, phase, counters
#                         PLAN                      its chunks (byte ranges); read only to start the returns phase
#                         CHUNK#<phase>#<n>[#<part>] a chunk's commit marker: its counts are added once
# FILES#<yyyy-mm-dd>      <store>#<started>#<file>  the files of a day (the date of the key), for GET /files
# STOREFILES#<store>      <started>#<file>          a store's files (uploads of incoming/<store>/...), for
#                                                   GET /stores/{id}/files: one Query per page, newest first
# RECEIPT#<store>#<id>    RECEIPT                   a store receipt: who applied it, member, amount, returned,
#                                                   its ledger ref (`<store>/<id>`, see store_receipt_ref)
# STORESALES#<yyyy-mm>   <yyyy-mm-dd>#<store>      sales of a store and day from its files, and the
#                                                   store's KPI counters from the roll-up (below)
FILE_PREFIX = "FILE#"
FILES_BY_DAY_PREFIX = "FILES#"


def file_key(file_id: str) -> dict[str, str]:
    return {PK: f"{FILE_PREFIX}{file_id}", SK: "FILE"}


def file_plan_key(file_id: str) -> dict[str, str]:
    return {PK: f"{FILE_PREFIX}{file_id}", SK: "PLAN"}


def file_chunk_key(file_id: str, phase: str, chunk: int, part: int | None = None) -> dict[str, str]:
    suffix = "" if part is None else f"#{part:03d}"
    return {PK: f"{FILE_PREFIX}{file_id}", SK: f"CHUNK#{phase}#{chunk:05d}{suffix}"}


def files_by_day_pk(file_date: str) -> str:
    return f"{FILES_BY_DAY_PREFIX}{file_date}"


def files_by_day_key(file_date: str, store_id: str, started_at: str, file_id: str) -> dict[str, str]:
    return {PK: files_by_day_pk(file_date), SK: f"{store_id}#{started_at}#{file_id}"}


def files_by_store_pk(store_id: str) -> str:
    return f"STOREFILES#{store_id}"


def files_by_store_key(store_id: str, started_at: str, file_id: str) -> dict[str, str]:
    return {PK: files_by_store_pk(store_id), SK: f"{started_at}#{file_id}"}


def receipt_key(store_id: str, receipt_id: str) -> dict[str, str]:
    return {PK: f"RECEIPT#{store_id}#{receipt_id}", SK: "RECEIPT"}


def store_receipt_ref(store_id: str, receipt_id: str) -> str:
    """The client id of a store receipt's ledger entries (`TX#purchase#<store>/<receipt>`,
    `TX#return#...`). '/' is in no store id and in no client id the API accepts, so a storefront
    order can never take (or be taken by) a store's receipt id. The receipt item keeps it as
    `ledger_ref`."""
    return f"{store_id}/{receipt_id}"


def legacy_store_receipt_ref(store_id: str, receipt_id: str) -> str:
    """What store receipts used before `store_receipt_ref` (a receipt item without `ledger_ref`):
    it shares the API's namespace. Such items expire with their receipts (~430 days)."""
    return f"{store_id}:{receipt_id}"


STORE_DAYS_PREFIX = "STORESALES#"


def store_days_pk(month: str) -> str:
    return f"{STORE_DAYS_PREFIX}{month}"


def store_sales_key(day: str, store_id: str) -> dict[str, str]:
    """One item per day and store, a month per partition: one Query reads every store over a range.
    Ingestion adds to it once per chunk, the KPI roll-up once per stream batch."""
    return {PK: store_days_pk(day[:7]), SK: f"{day}#{store_id}"}


# --- KPI roll-up (services/kpis.py) ----------------------------------------------------------------
# KPI#DAY#<yyyy>   <yyyy-mm-dd>   program-wide counters of a day: flows (points, orders, enrolments),
#                                 changes of the stocks (tiers, statuses, outstanding points) and the
#                                 active-window gains (domain/purchase_days.py)
# KPI#MONTH        <yyyy-mm>      the stock changes of a month again: a stock at any day is the sum of
#                                 the months before + the days of its month, so reads stay O(days)
# KPI#SEEN#<id>    SEEN           a stream record already counted (expires after the stream's 24 h)
# STAFFKPI#<store>#<yyyy>  <yyyy-mm-dd>#<staff>  a clerk's recruitment counters of a day: one Query reads a
#                                                store's clerks over a year of days
KPI_DAY_PREFIX = "KPI#DAY#"
KPI_MONTHS_PK = "KPI#MONTH"


def kpi_days_pk(year: str) -> str:
    return f"{KPI_DAY_PREFIX}{year}"


def kpi_day_key(day: str) -> dict[str, str]:
    return {PK: kpi_days_pk(day[:4]), SK: day}


def kpi_month_key(month: str) -> dict[str, str]:
    return {PK: KPI_MONTHS_PK, SK: month}


def kpi_seen_key(record_id: str) -> dict[str, str]:
    return {PK: f"KPI#SEEN#{record_id}", SK: "SEEN"}


def staff_kpis_pk(store_id: str, year: str) -> str:
    return f"STAFFKPI#{store_id}#{year}"


def staff_kpi_key(day: str, store_id: str, staff_id: str) -> dict[str, str]:
    """Store ids and staff ids hold no '#': the sort key splits back into day and clerk."""
    return {PK: staff_kpis_pk(store_id, day[:4]), SK: f"{day}#{staff_id}"}


# Campaigns: the definitions in one partition (listing them all is one Query), each campaign's
# counters (budget left, granted, results) in N shard items, each its own partition, so a hot
# campaign's purchases spread over N partitions and never write where the listing reads. The sort
# key's prefix keeps a campaign named MEMBER from looking like a profile to the stream's filter.
CAMPAIGNS_PK, CAMPAIGN_PREFIX = "CAMPAIGN", "ID#"


def campaign_key(campaign_id: str) -> dict[str, str]:
    return {PK: CAMPAIGNS_PK, SK: f"{CAMPAIGN_PREFIX}{campaign_id}"}


def campaign_shard_key(campaign_id: str, shard: int) -> dict[str, str]:
    return {PK: f"CAMPAIGN#{campaign_id}#{shard}", SK: "TALLY"}
