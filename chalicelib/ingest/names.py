"""Where a sales file and its outputs live in the bucket (docs/sales-files.md).

`incoming/<store_id>/<YYYY-MM-DD>[-<label>].csv[.gz]` gives `reports/<store_id>/<date>[-<label>].json`
and `rejects/<store_id>/<date>[-<label>].csv`; work files of a run stay under `work/<file_id>/`.
A key off that rule may hold anything (`..`, `\\`, `//`, 1,000 bytes): its outputs are named by the
run's file id (`reports/_bad_key/<file_id>.json`), never by the key. Outputs never go under
`incoming/`, so writing them never triggers another ingestion.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

INCOMING = "incoming/"
REPORTS = "reports/"
REJECTS = "rejects/"
WORK = "work/"
AUDIENCE_EXPORTS = "exports/audiences/"  # POST /audiences/exports (services/audiences.py)
# The program simulator on AWS (docs/simulate.md): DynamoDB's table exports, and each run's files.
SIMULATION_EXPORTS = "simulations/exports/"
SIMULATION_RUNS = "simulations/runs/"
BAD_KEY = "_bad_key/"  # no store id starts with "_", so no store's outputs can land here

# A store id ends up in ledger ids (`<store>/<receipt>`) and keys (`RECEIPT#<store>#...`): no '/' or '#'.
STORE_ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._\-]{0,63}"
_KEY = re.compile(
    rf"^incoming/(?P<store>{STORE_ID_PATTERN})/"
    r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})(?:-(?P<label>[A-Za-z0-9._\-]{1,64}))?\.csv(?:\.gz)?\Z"
)
# [0-9] and \Z: Python's \d takes every script's digits, and $ lets a trailing newline through.
_NAME = re.compile(r"^(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2})(?:-(?P<label>[A-Za-z0-9._\-]{1,64}))?\.csv(?:\.gz)?\Z")


@dataclass(frozen=True)
class FileKey:
    key: str
    store_id: str | None  # None when the key does not follow the naming rule
    file_date: str | None
    base: str | None  # `<store_id>/<date>[-<label>]`: the key without `incoming/` and `.csv[.gz]`

    @property
    def valid(self) -> bool:
        return self.base is not None

    @property
    def report_key(self) -> str:
        return self.outputs()[0]

    @property
    def rejects_key(self) -> str:
        return self.outputs()[1]

    def outputs(self, file_id: str | None = None) -> tuple[str, str]:
        """The report and rejects keys of a run: by store and file name, or for a key off the rule
        by the run's file id (a key off the rule has none of its own: ValueError without it)."""
        if self.base is not None:
            stem = self.base
        elif file_id is not None and re.fullmatch(r"[0-9a-f]{1,64}", file_id):
            stem = f"{BAD_KEY}{file_id}"
        else:
            raise ValueError(f"the key {self.key!r} is off the naming rule: its outputs need the file id")
        return f"{REPORTS}{stem}.json", f"{REJECTS}{stem}.csv"


def is_incoming(key: str) -> bool:
    return key.startswith(INCOMING) and not key.endswith("/")


def parse_key(key: str) -> FileKey:
    match = _KEY.match(key)
    if match is None or not _real_date(match["date"]):
        return FileKey(key, None, None, None)
    base = re.sub(r"\.csv(\.gz)?$", "", key[len(INCOMING) :])
    return FileKey(key, match["store"], match["date"], base)


def valid_store_id(store_id: str) -> bool:
    return re.fullmatch(STORE_ID_PATTERN, store_id) is not None


def valid_file_name(name: str) -> bool:
    """A file name a store may upload as is: `<YYYY-MM-DD>[-<label>].csv[.gz]`."""
    match = _NAME.match(name)
    return match is not None and _real_date(match["date"])


def incoming_key(store_id: str, name: str) -> str:
    return f"{INCOMING}{store_id}/{name}"


def work_prefix(file_id: str) -> str:
    return f"{WORK}{file_id}/"


def rejects_part_key(file_id: str, chunk: int, phase: str) -> str:
    return f"{work_prefix(file_id)}{chunk:05d}-{phase}.csv"


def _real_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
