"""The sales-file reports ops read (GET /files, GET /files/{file_id})."""

from __future__ import annotations

from typing import Any

from chalicelib.domain.errors import NotFound
from chalicelib.ingest.tally import report
from chalicelib.store import file_runs


def file_report(file_id: str) -> dict[str, Any]:
    run = file_runs.get_file(file_id)
    if run is None:
        raise NotFound(f"file {file_id} not found")
    return report(dict(run.item))


def file_reports(file_date: str, store_id: str | None = None, limit: int = 100) -> dict[str, Any]:
    files = [report(item) for item in file_runs.files_of_day(file_date, store_id, limit)]
    return {"date": file_date, "store_id": store_id, "files": files}
