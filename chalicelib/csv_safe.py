"""Cells of the CSV files we write, made safe to open in a spreadsheet (CSV injection, OWASP).

Spreadsheets (Excel, LibreOffice, Google Sheets) read a cell that starts with `=`, `+`, `-` or `@`
as a formula, and skip a leading tab or carriage return before doing so: `=HYPERLINK(...)` sends
data away, `=cmd|...` (DDE) runs a program. Our CSVs carry what stores and clients sent (rejected
rows, audience exports), and people open them in a spreadsheet. OWASP's remedy: put a single quote
before such a cell; spreadsheets then show it as text, and the value stays readable (the quote is
easy to strip).

The price: a plain negative number such as `-5` also gets the quote (`'-5`). OWASP accepts it;
these files are for people to read, not for programs to parse amounts from.
"""

from __future__ import annotations

from collections.abc import Iterable

DANGEROUS_FIRST = frozenset("=+-@\t\r")


def neutralise(cell: str) -> str:
    """The cell as written to a CSV: prefixed with `'` when a spreadsheet would read a formula.
    Idempotent (a neutralised cell starts with `'`), so cells read back may be written again."""
    return f"'{cell}" if cell[:1] in DANGEROUS_FIRST else cell


def neutralise_row(cells: Iterable[str]) -> list[str]:
    return [neutralise(cell) for cell in cells]
