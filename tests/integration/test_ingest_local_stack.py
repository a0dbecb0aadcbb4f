"""Sales files on the local stack (DynamoDB Local + moto's server, as `loyalty dev`): chunks applied
by three pumps at once, each with parallel rows, every chunk delivered twice, end as one sequential
run; `loyalty ingest` uploads a file and prints its report."""

from __future__ import annotations

import gzip
import json
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from chalicelib import clock
from chalicelib.ingest import names
from chalicelib.services import members as member_service
from chalicelib.services.sales_files import limits, tasks
from chalicelib.store import objects
from chalicelib.store.members import load_member
from loyalty_tools.cli import cli
from loyalty_tools.local.pump import SqsPump
from loyalty_tools.local.stack import LocalResources
from tests.integration.test_ingest_files import NOW, csv_file, ret, sale
from tests.support import FixedClock, enrol_command

pytestmark = pytest.mark.ddb_local

MEMBERS = [f"m{i:02d}" for i in range(20)]


def day_file(prefix: str, store: str, rows: int = 600) -> str:
    """Small amounts (no tier change: points do not depend on the order), receipts repeated in
    three chunks, returns of member and non-member sales before and after them."""
    rnd = random.Random(11)
    lines = []
    for i in range(rows):
        member = rnd.choice([*(f"{prefix}{m}" for m in MEMBERS), "", ""])
        lines.append(
            sale(
                f"r{i}", f"{rnd.randint(100, 9000) / 100:.2f}", member, store=store, category=rnd.choice(["", "fresh"])
            )
        )
    for i in range(0, rows, 7):
        lines.insert(rnd.randrange(len(lines)), ret(f"x{i}", f"r{i}", "0.50").replace("s1,", f"{store},", 1))
    lines[100] = lines[300] = lines[500]  # one receipt three times, in three chunks
    lines[200] = sale("bad-amount", "1.001", store=store)  # and a few bad rows (ids used nowhere else)
    lines[400] = sale("ghost-sale", "5.00", "ghost", store=store)
    lines.append(ret("x-big", "r1", "99999.00").replace("s1,", f"{store},", 1))
    return csv_file(*lines)


@pytest.fixture
def stack(local_stack: LocalResources, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalResources]:
    monkeypatch.setattr(clock, "now", FixedClock(NOW))
    yield local_stack


def upload_and_wait(resources: LocalResources, store: str, body: str, pumps: int) -> dict[str, Any]:
    from app import app

    key = f"incoming/{store}/2026-11-21.csv"
    running = [
        SqsPump(resources.queue_url, app.handler_map["ingest_queue_consumer"], wait_seconds=1).start()
        for _ in range(pumps)
    ]
    try:
        objects._s3().put_object(Bucket=resources.bucket_name, Key=key, Body=body.encode())
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            report = objects.get_json(resources.bucket_name, names.parse_key(key).report_key)
            if report is not None:
                return report
            time.sleep(0.2)
    finally:
        for pump in running:
            pump.stop()
    raise AssertionError("no report")


def balances(prefix: str) -> list[int]:
    found = [load_member(f"{prefix}{m}") for m in MEMBERS]
    return [member.available if member else -1 for member in found]


def test_parallel_chunks_and_rows_end_as_one_sequential_run(
    stack: LocalResources, monkeypatch: pytest.MonkeyPatch
) -> None:
    for prefix in ("a", "b"):
        for member in MEMBERS:
            member_service.enrol(enrol_command({"member_id": f"{prefix}{member}"}))

    # Given: the file applied as one chunk, one row at a time
    monkeypatch.setattr(limits, "ROW_WORKERS", 1)
    sequential = upload_and_wait(stack, "s1", day_file("a", "s1"), pumps=1)

    # When: the same file for other members and store, 12 chunks, each delivered twice, 3 pumps,
    # 8 rows at a time in each
    monkeypatch.setattr(limits, "ROW_WORKERS", 8)
    monkeypatch.setattr(limits, "ROWS_PER_CHUNK", 60)
    enqueue = tasks.enqueue
    monkeypatch.setattr(tasks, "enqueue", lambda tasks: enqueue([*tasks, *tasks]))
    parallel = upload_and_wait(stack, "s2", day_file("b", "s2"), pumps=3)

    # Then: the same counts and balances
    same = (
        "status",
        "rows",
        "applied",
        "duplicates",
        "rejected",
        "non_member",
        "member_sales",
        "non_member_sales",
        "reasons",
    )
    assert {k: parallel[k] for k in same} == {k: sequential[k] for k in same}
    assert parallel["duplicates"] == 2
    assert parallel["reasons"] == {"bad_amount": 1, "unknown_member": 1, "return_exceeds_purchase": 1}
    assert balances("b") == balances("a")


def test_loyalty_ingest_uploads_waits_and_prints_the_report(stack: LocalResources, tmp_path: Path) -> None:
    from app import app

    member_service.enrol(enrol_command({"member_id": "m1"}))
    path = tmp_path / "2026-11-21.csv.gz"
    path.write_bytes(gzip.compress(csv_file(sale("r1", "12.00", "m1"), sale("r2", "3.00")).encode()))
    pump = SqsPump(stack.queue_url, app.handler_map["ingest_queue_consumer"], wait_seconds=1).start()
    try:
        result = CliRunner().invoke(cli, ["ingest", str(path), "--store", "s1", "--timeout", "120"])
        failed = CliRunner().invoke(cli, ["ingest", str(tmp_path / "2026-11-21.csv.gz"), "--store", "no/store"])
    finally:
        pump.stop()
    assert result.exit_code == 0, result.output
    # The pump runs in this process here, so its metric lines (EMF) share stdout with the command's.
    report = json.loads(result.stdout[result.stdout.index('{\n  "file_id"') :])
    assert (report["status"], report["applied"], report["non_member"]) == ("completed", 2, 1)
    assert report["key"] == "incoming/s1/2026-11-21.csv.gz"
    assert failed.exit_code != 0 and "store id" in failed.output
