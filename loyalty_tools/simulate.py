"""`loyalty simulate`: the program simulator over a local table export, in parallel over members.

Two passes over a process pool, as the Step Functions version on AWS does (infra/simulation.py):
1. each data file's member items are sorted into buckets by member (a member's items may lie in
   several files of an AWS export), written as plain lines under a scratch directory;
2. each bucket is replayed (services/simulation.replay_bucket) and its report sent back; the
   reports are merged here.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from chalicelib.domain.calendar import local_date
from chalicelib.domain.history import Window
from chalicelib.domain.simulation_figures import Report
from chalicelib.program import Program, parse_program
from chalicelib.services import simulation
from chalicelib.store import exports

T = TypeVar("T")


@dataclass
class Run:
    report: Report
    window: Window
    mode: simulation.Mode
    members: int
    seconds: float
    proposed: Program
    current: Program


@cache
def _proposal(text: str) -> simulation.Proposal:
    return simulation.parse_proposal(text)


@cache
def _program(text: str) -> Program:
    return parse_program(text)


def _bucket_file(args: tuple[str, str, int]) -> list[str]:
    data_file, scratch, buckets = args
    with open(data_file, "rb") as raw:
        found = exports.bucket_lines(exports.read_lines(raw), buckets)
    for bucket, lines in found.items():
        folder = Path(scratch) / bucket
        folder.mkdir(exist_ok=True)
        (folder / (Path(data_file).name + ".lines")).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return sorted(found)


def _lines(folder: Path) -> Iterable[str]:
    for part in sorted(folder.glob("*.lines")) if folder.is_dir() else []:
        yield from (line for line in part.read_text(encoding="utf-8").splitlines() if line)


def _replay_bucket(args: tuple[str, str, str, str, dict[str, Any], dict[str, bool]]) -> Report:
    scratch, bucket, current, proposal, window, mode = args
    root = Path(scratch)
    return simulation.replay_bucket(
        _lines(root / bucket),
        _lines(root / exports.CAMPAIGNS_BUCKET),
        _program(current),
        _proposal(proposal),
        Window(date.fromisoformat(window["last"]), date.fromisoformat(window["first"]) if window["first"] else None),
        simulation.Mode(**mode),
    )


def _map(pool: Executor | None, function: Callable[[Any], T], jobs: list[Any]) -> list[T]:
    return list(pool.map(function, jobs)) if pool is not None else [function(job) for job in jobs]


def run(
    export_dir: Path,
    proposal_text: str,
    current_text: str,
    first: date | None = None,
    last: date | None = None,
    workers: int = 2,
    buckets: int | None = None,
    check: bool = False,
) -> Run:
    """Replay the export under the proposed program (and the current one for `check`, the self-check,
    or a `last` day before the export's); `workers` 1 runs in this process."""
    started = time.monotonic()
    current, proposal = _program(current_text), _proposal(proposal_text)
    summary = json.loads((export_dir / exports.MANIFEST_SUMMARY).read_text(encoding="utf-8"))
    exported_on = local_date(exports.export_time(summary), current.tz)
    window, mode = simulation.plan(exported_on, first, last, check)
    files = exports.data_files(export_dir)
    count = buckets or max(4 * workers, len(files))
    scratch = tempfile.mkdtemp(prefix="loyalty-simulate-")
    pool = ProcessPoolExecutor(workers) if workers > 1 else None
    try:
        named = _map(pool, _bucket_file, [(str(f), scratch, count) for f in files])
        found = sorted({b for names in named for b in names if b != exports.CAMPAIGNS_BUCKET}, key=int)
        shape = {"last": window.last.isoformat(), "first": window.first.isoformat() if window.first else None}
        jobs = [(scratch, b, current_text, proposal_text, shape, mode.as_dict()) for b in found]
        report = Report()
        for part in _map(pool, _replay_bucket, jobs):
            report.merge(part)
    finally:
        if pool is not None:
            pool.shutdown()
        shutil.rmtree(scratch, ignore_errors=True)
    members = report.current.members
    return Run(report, window, mode, members, time.monotonic() - started, proposal.program, current)


def table_lines(run: Run) -> list[str]:
    """Current and proposed side by side, then the moves and the self-check."""
    window = f"{run.window.first or 'the start'} .. {run.window.last}"
    header = f"{run.members:,} members replayed in {run.seconds:.1f} s; flows counted over {window}"
    return [header, "", *simulation.table_lines(run.report, run.window, run.mode, run.current, run.proposed)]
