"""Table exports in DynamoDB's export-to-S3 format, read by the program simulator.

An export is `manifest-summary.json` (`exportTime`, `itemCount`), `manifest-files.json` (one JSON
line per data file: `itemCount`, `dataFileS3Key`) and gzipped data files of DYNAMODB_JSON lines
`{"Item": {"pk": {"S": "MEMBER#m-1"}, ...}}`: what AWS writes to S3, and what `loyalty export`
writes to a directory, so that one reader serves both. The files hold items in any order: the
simulator first sorts the member items of each file into buckets by member (`bucket_lines`).
"""

from __future__ import annotations

import base64
import gzip
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path, PurePosixPath
from typing import IO, Any

from chalicelib.domain.attribution import Attribution
from chalicelib.domain.history import ERASURE, Fact, History
from chalicelib.domain.model import Member
from chalicelib.store import aws, codec, dynamo, keys

MANIFEST_SUMMARY, MANIFEST_FILES = "manifest-summary.json", "manifest-files.json"
CAMPAIGNS_BUCKET = "campaigns"  # the campaign definitions: every bucket's replay reads them

# The partition and sort key of a raw line, found without decoding it (the simulator keeps only a
# member's profile, lots, pending lots and ledger entries, and the campaign definitions).
_PK = re.compile(r'"pk"\s*:\s*\{\s*"S"\s*:\s*"([^"]*)"')
_SK = re.compile(r'"sk"\s*:\s*\{\s*"S"\s*:\s*"([^"]*)"')
# MEMBER, MEMBER#LOT#..., MEMBER#PENDING#..., TX#..., COUPON#...
_KEPT_SORT_KEYS = (keys.STATE_PREFIX, keys.ENTRY_PREFIX, keys.COUPON_PREFIX)
_MEMBER = "MEMBER#"


def _value(typed: dict[str, Any]) -> Any:
    """One attribute value of DYNAMODB_JSON (a quicker TypeDeserializer: the replay reads millions)."""
    if "S" in typed:
        return typed["S"]
    if "N" in typed:
        return Decimal(typed["N"])
    if "M" in typed:
        return {name: _value(inner) for name, inner in typed["M"].items()}
    if "L" in typed:
        return [_value(inner) for inner in typed["L"]]
    if "NULL" in typed:
        return None
    if "BOOL" in typed:
        return bool(typed["BOOL"])
    if "B" in typed:
        return base64.b64decode(typed["B"])
    if "SS" in typed:
        return set(typed["SS"])
    if "NS" in typed:
        return {Decimal(v) for v in typed["NS"]}
    raise ValueError(f"attribute type {sorted(typed)} is not read by the simulator")


# What the replay never reads of an entry (the stored answer, the balances after it): left undecoded.
_UNREAD = frozenset({"response", "balances_after", "fingerprint", keys.LEDGER_SORT})


def item_from_line(line: str | bytes) -> dict[str, Any]:
    typed = json.loads(line)["Item"]
    return {name: _value(value) for name, value in typed.items() if name not in _UNREAD}


def line_of(item: dict[str, Any]) -> str:
    """An item as a DYNAMODB_JSON line (as AWS exports it: a binary attribute in base64)."""
    return json.dumps({"Item": dynamo.to_item(item)}, separators=(",", ":"), ensure_ascii=False, default=_base64)


def _base64(value: Any) -> str:
    raw = getattr(value, "value", value)  # boto3's Binary, or bytes
    if not isinstance(raw, bytes | bytearray):
        raise TypeError(f"{type(value).__name__} is not an attribute value")
    return base64.b64encode(raw).decode("ascii")


# --- buckets by member -------------------------------------------------------------------------------


def bucket_of(member_id: str, buckets: int) -> int:
    return zlib.crc32(member_id.encode()) % buckets


def bucket_lines(lines: Iterable[str], buckets: int) -> dict[str, list[str]]:
    """The lines the simulator needs, by bucket ("0".."buckets-1", and CAMPAIGNS_BUCKET); the rest
    (coupons, counters, contacts, KPI rows...) is dropped unread."""
    found: dict[str, list[str]] = {}
    for line in lines:
        pk, sk = _PK.search(line), _SK.search(line)
        if pk is None or sk is None:
            continue
        partition = pk.group(1)
        if partition.startswith(_MEMBER) and sk.group(1).startswith(_KEPT_SORT_KEYS):
            bucket = str(bucket_of(partition[len(_MEMBER) :], buckets))
        elif partition == keys.CAMPAIGNS_PK and sk.group(1).startswith(keys.CAMPAIGN_PREFIX):
            bucket = CAMPAIGNS_BUCKET
        else:
            continue
        found.setdefault(bucket, []).append(line.rstrip("\n"))
    return found


def members_of(lines: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """A bucket's lines decoded and grouped by member."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        item = item_from_line(line)
        grouped.setdefault(item[keys.PK][len(_MEMBER) :], []).append(item)
    return grouped


# --- a member's items -> what the replay reads ----------------------------------------------------


def _moment(value: Any) -> datetime:
    return datetime.fromisoformat(str(value))


def _fact(item: dict[str, Any]) -> Fact:
    return Fact(
        kind=item["kind"],
        ref=item["ref"],
        points=int(item["points"]),
        occurred_at=_moment(item["occurred_at"]),
        at=_moment(item["recorded_at"]),
        details=item.get("details") or {},
    )


def history_from_items(items: list[dict[str, Any]]) -> tuple[History, Member | None]:
    """The member's recorded history and stored state (None: no profile among the items)."""
    stored = codec.member_from_items(items)
    profile = next((item for item in items if item[keys.SK] == keys.STATE_PREFIX), None)
    facts = [_fact(item) for item in items if item[keys.SK].startswith(keys.ENTRY_PREFIX)]
    if profile and profile.get("erased_at"):
        erased = _moment(profile["erased_at"])
        facts.append(Fact(ERASURE, "", 0, erased, erased))
    member_id = str(profile["member_id"]) if profile else str(items[0][keys.PK])[len(_MEMBER) :]
    history = History(
        member_id=member_id,
        facts=tuple(sorted(facts, key=Fact.sort_key)),
        birthday=date.fromisoformat(profile["birthday"]) if profile and profile.get("birthday") else None,
        referrer_id=profile.get("referrer_id") if profile else None,
        enrolment=stored.enrolment if stored else Attribution(),
        coupons=tuple(
            (str(item["kind"]), _moment(item["issued_at"]))
            for item in items
            if item[keys.SK].startswith(keys.COUPON_PREFIX)
        ),
    )
    return history, stored


# --- files ------------------------------------------------------------------------------------------


def data_files(export_dir: Path) -> list[Path]:
    """The data files a local export's manifest lists (its keys read as `data/<file>` beside it)."""
    manifest = (export_dir / MANIFEST_FILES).read_text(encoding="utf-8")
    names = [PurePosixPath(json.loads(line)["dataFileS3Key"]).name for line in manifest.splitlines() if line.strip()]
    return [export_dir / "data" / name for name in names]


def export_time(summary: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(str(summary["exportTime"]).replace("Z", "+00:00"))


def read_lines(stream: IO[bytes]) -> Iterator[str]:
    with gzip.open(stream, "rt", encoding="utf-8") as text:
        yield from text


# --- S3 (the simulator on AWS: services/simulation_runs.py) -------------------------------------------


def object_text(bucket: str, key: str) -> str:
    body: bytes = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    return (gzip.decompress(body) if key.endswith(".gz") else body).decode("utf-8")


def object_lines(bucket: str, key: str) -> list[str]:
    """The lines of an object (gunzipped when its key ends with .gz), read whole: an export's data
    file or a bucket's part fits a Lambda's memory (they are sized so: infra/simulation.py)."""
    return [line for line in object_text(bucket, key).splitlines() if line]


def put_lines(bucket: str, key: str, lines: Iterable[str], compress: bool = True) -> None:
    body = "".join(line + "\n" for line in lines).encode("utf-8")
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=gzip.compress(body, 5) if compress else body)


def export_members(export_dir: Path, exported_at: datetime, members_per_file: int = 1000) -> dict[str, int]:
    """Write the members' partitions and the campaigns of the table as an export into `export_dir`
    (the members through the audit index, one Query each: never a Scan)."""
    from chalicelib.store import members

    data = export_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    files: list[dict[str, Any]] = []
    batch: list[dict[str, Any]] = dynamo.query_all(keys.CAMPAIGNS_PK, keys.CAMPAIGN_PREFIX)
    count = 0
    for member_id in members.member_ids():
        batch += dynamo.query_all(keys.member_pk(member_id), "")
        count += 1
        if count % members_per_file == 0:
            files.append(_write_file(data, len(files), batch))
            batch = []
    if batch or not files:
        files.append(_write_file(data, len(files), batch))
    (export_dir / MANIFEST_FILES).write_text("".join(json.dumps(f) + "\n" for f in files), encoding="utf-8")
    summary = {"exportTime": exported_at.isoformat(), "itemCount": sum(f["itemCount"] for f in files)}
    summary |= {"outputFormat": "DYNAMODB_JSON", "members": count}
    (export_dir / MANIFEST_SUMMARY).write_text(json.dumps(summary, indent=1), encoding="utf-8")
    return {"members": count, "items": summary["itemCount"], "files": len(files)}


def _write_file(data: Path, number: int, items: list[dict[str, Any]]) -> dict[str, Any]:
    path = data / f"{number:05d}.json.gz"
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=5) as out:
        for item in items:
            out.write(line_of(item) + "\n")
    return {"itemCount": len(items), "dataFileS3Key": f"data/{path.name}"}
