"""The program simulator on AWS: the three steps the Step Functions state machine runs
(infra/simulation.py), each one Lambda invocation of the `simulate` function (app.py):

- `sort`: one data file of a DynamoDB export in S3 -> its member items sorted into buckets by
  member, one object per bucket under `<run>/parts/<bucket>/` (a member's items may lie in several
  files of an export; the campaign items go to every bucket's reader as `<run>/parts/campaigns/`);
- `replay`: one bucket -> the members replayed under the current program (the deployed one) and the
  proposed one (`<run>/program.json`), the bucket's report as `<run>/reports/<bucket>.json`;
- `merge`: the reports -> `<run>/result.json` (figures) and `<run>/result.txt` (the side-by-side table).

The same use cases as `loyalty simulate` (services/simulation.py); only the files are S3 objects.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from chalicelib.domain.calendar import local_date
from chalicelib.domain.history import Window
from chalicelib.domain.simulation_figures import Report
from chalicelib.ingest import names
from chalicelib.program import load_program
from chalicelib.services import simulation
from chalicelib.store import exports, objects

# Where a run lives in the bucket: the operator's program, the parts, the reports and the result.
RUNS_PREFIX, EXPORTS_PREFIX = names.SIMULATION_RUNS, names.SIMULATION_EXPORTS  # exports: infra/DEPLOY.md
RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
DEFAULT_BUCKETS = 64


class BadRun(ValueError):
    """The state machine's input names no valid run, export or bucket: nothing is read or written."""


def _run_prefix(event: dict[str, Any]) -> str:
    run = str(event.get("run", ""))
    if not RUN_ID.fullmatch(run):
        raise BadRun(f"run must match {RUN_ID.pattern}")
    return f"{RUNS_PREFIX}{run}/"


def _day(value: object) -> date | None:
    return date.fromisoformat(str(value)) if value else None


def sort(event: dict[str, Any]) -> dict[str, Any]:
    """One data file (`key`, as the export's manifest lists it) into buckets."""
    bucket, key, prefix = str(event["bucket"]), str(event["key"]), _run_prefix(event)
    if not key.startswith(EXPORTS_PREFIX):
        raise BadRun(f"export files are read under {EXPORTS_PREFIX} only")
    buckets = int(event.get("buckets") or DEFAULT_BUCKETS)
    found = exports.bucket_lines(exports.object_lines(bucket, key), buckets)
    name = key.rsplit("/", 1)[-1].removesuffix(".json.gz")
    for part, lines in found.items():
        exports.put_lines(bucket, f"{prefix}parts/{part}/{name}.lines.gz", lines)
    return {"key": key, "buckets": len(found), "lines": sum(len(lines) for lines in found.values())}


def _parts(bucket: str, prefix: str) -> list[str]:
    lines: list[str] = []
    for key in objects.list_keys(bucket, prefix):
        lines += exports.object_lines(bucket, key)
    return lines


def _plan(event: dict[str, Any], bucket: str, prefix: str) -> tuple[simulation.Proposal, Window, simulation.Mode]:
    """The proposed program the operator put beside the run, and the window as of the export's day."""
    proposal = simulation.parse_proposal(exports.object_text(bucket, f"{prefix}program.json"), "program.json")
    export = str(event["export"])
    if not export.startswith(EXPORTS_PREFIX) or not export.endswith("/"):
        raise BadRun(f"export must be a folder under {EXPORTS_PREFIX}")
    summary = objects.get_json(bucket, f"{export}{exports.MANIFEST_SUMMARY}")
    if summary is None:
        raise BadRun(f"no {exports.MANIFEST_SUMMARY} in {export}")
    exported_on = local_date(exports.export_time(summary), load_program().tz)
    first, last, check = _day(event.get("from")), _day(event.get("to")), bool(event.get("check"))
    window, mode = simulation.plan(exported_on, first, last, check)
    return proposal, window, mode


def replay(event: dict[str, Any]) -> dict[str, Any]:
    """One bucket of members: both programs, the report to S3."""
    bucket, prefix, number = str(event["bucket"]), _run_prefix(event), int(event["index"])
    proposal, window, mode = _plan(event, bucket, prefix)
    report = simulation.replay_bucket(
        _parts(bucket, f"{prefix}parts/{number}/"),
        _parts(bucket, f"{prefix}parts/{exports.CAMPAIGNS_BUCKET}/"),
        load_program(),
        proposal,
        window,
        mode,
    )
    objects.put_json(bucket, f"{prefix}reports/{number:05d}.json", report.as_dict())
    return {"index": number, "members": report.current.members}


def merge(event: dict[str, Any]) -> dict[str, Any]:
    """Every bucket's report into the run's result (JSON, and the table `loyalty simulate` prints)."""
    bucket, prefix = str(event["bucket"]), _run_prefix(event)
    report = Report()
    for key in objects.list_keys(bucket, f"{prefix}reports/"):
        report.merge(Report.from_dict(objects.get_json(bucket, key) or {}))
    proposal, window, mode = _plan(event, bucket, prefix)
    lines = simulation.table_lines(report, window, mode, load_program(), proposal.program)
    objects.put_json(bucket, f"{prefix}result.json", report.as_dict())
    exports.put_lines(bucket, f"{prefix}result.txt", lines, compress=False)
    return {"result": f"{prefix}result.txt", "members": report.current.members, "reproduced": report.reproduced}


STEPS = {"sort": sort, "replay": replay, "merge": merge}


def handle(event: dict[str, Any]) -> dict[str, Any]:
    step = STEPS.get(str(event.get("step")))
    if step is None:
        raise BadRun(f"step must be one of {', '.join(STEPS)}")
    return step(event)
