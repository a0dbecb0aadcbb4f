"""The columns of a sales file, its header, and the pydantic model every row is validated by.

Validation is the hot loop of a million-row file: the row is validated as a positional NamedTuple
(no dict per row) with only constraints pydantic checks in Rust. A row that fails gets one reason
code (docs/sales-files.md).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import AwareDatetime, Field, TypeAdapter, ValidationError

from chalicelib.domain.commands import (
    AMOUNT_HINT,
    AMOUNT_PATTERN,
    CATEGORY_MAX,
    CLIENT_ID_HINT,
    CLIENT_ID_MAX,
    CLIENT_ID_PATTERN,
    CURRENCY_PATTERN,
)

REQUIRED = ("store_id", "receipt_id", "occurred_at", "type", "amount", "currency")
OPTIONAL = ("member_id", "original_receipt_id", "category", "staff_id")
COLUMNS = REQUIRED + OPTIONAL

SALE, RETURN = "SALE", "RETURN"
# Amounts, receipt ids and currencies follow the API's rules (domain/commands.py), checked here by
# pattern, in Rust: a Python validator per row costs ~1 µs.
BLANK_OR_CLIENT_ID_PATTERN = f"^(?:{CLIENT_ID_PATTERN[1:-1]})?$"


class SalesRow(NamedTuple):
    """One row, fields in COLUMNS order; optional columns are "" when blank or absent.

    The amount stays text (validated by its pattern): `Decimal(row.amount)` is exact.
    """

    store_id: Annotated[str, Field(min_length=1, max_length=64)]
    receipt_id: Annotated[str, Field(min_length=1, max_length=CLIENT_ID_MAX, pattern=CLIENT_ID_PATTERN)]
    occurred_at: AwareDatetime
    type: Literal["SALE", "RETURN", "sale", "return"]
    amount: Annotated[str, Field(pattern=AMOUNT_PATTERN)]
    currency: Annotated[str, Field(pattern=CURRENCY_PATTERN)]
    member_id: Annotated[str, Field(max_length=CLIENT_ID_MAX)]
    original_receipt_id: Annotated[str, Field(max_length=CLIENT_ID_MAX, pattern=BLANK_OR_CLIENT_ID_PATTERN)]
    category: Annotated[str, Field(max_length=CATEGORY_MAX)]
    staff_id: Annotated[str, Field(max_length=CLIENT_ID_MAX, pattern=BLANK_OR_CLIENT_ID_PATTERN)]  # the clerk


@cache
def _adapter() -> TypeAdapter[SalesRow]:
    # Built on first use: keeps `import app` fast. No str_strip_whitespace: it costs ~1.5 µs a row;
    # the reader strips only the rows that have spaces.
    return TypeAdapter(SalesRow)


def validator() -> Callable[[Any], SalesRow]:
    return _adapter().validate_python


# Reason codes, each listed in docs/sales-files.md (what a store must fix).
MISSING_FIELD = "missing_field"
BAD_ENCODING = "bad_encoding"
BAD_ROW = "bad_row"  # not parseable as CSV (e.g. an unclosed quote)
FIELD_REASONS = {
    "store_id": "store_mismatch",  # a malformed store id cannot be the store of the key
    "receipt_id": "bad_receipt_id",
    "occurred_at": "bad_timestamp",
    "type": "bad_type",
    "amount": "bad_amount",
    "currency": "bad_currency",
    "member_id": "unknown_member",  # longer than any member id
    "original_receipt_id": "unknown_original_receipt",
    "category": "bad_category",
    "staff_id": "bad_staff_id",
}


# What to tell the store where pydantic's message would quote a regular expression.
HINTS = {
    "receipt_id": CLIENT_ID_HINT,
    "original_receipt_id": CLIENT_ID_HINT,
    "staff_id": CLIENT_ID_HINT,
    "amount": AMOUNT_HINT,
    "currency": "3 capital letters, the program's currency",
    "type": "SALE or RETURN",
}


@dataclass(frozen=True)
class Header:
    """The file's header: names as written (for the rejects file) and where each column is."""

    names: tuple[str, ...]
    pick: Callable[[Sequence[str]], tuple[str, ...]]  # a row (plus one trailing "") -> COLUMNS order
    width: int

    def position(self, column: str) -> int | None:
        normal = [_normal(name) for name in self.names]
        return normal.index(column) if column in normal else None


class HeaderProblem(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def _normal(name: str) -> str:
    return name.lstrip("\ufeff").strip().lower()


def parse_header(fields: Sequence[str]) -> Header:
    """Names are case-insensitive, in any order; unknown columns are ignored."""
    names = tuple(field.lstrip("\ufeff").strip() for field in fields)
    normal = [name.lower() for name in names]
    missing = [column for column in REQUIRED if column not in normal]
    if missing:
        raise HeaderProblem("missing_column", f"required column(s) missing: {', '.join(missing)}")
    repeated = sorted({name for name in normal if name in COLUMNS and normal.count(name) > 1})
    if repeated:
        raise HeaderProblem("bad_header", f"column(s) given twice: {', '.join(repeated)}")
    # An absent optional column reads index -1: the "" the reader appends to every row.
    positions = [normal.index(column) if column in normal else -1 for column in COLUMNS]
    return Header(names, operator.itemgetter(*positions), len(names))


class Rejection(NamedTuple):
    reason: str
    message: str


def rejection(error: ValidationError, values: Sequence[str]) -> Rejection:
    """One reason for a row that failed the model: a blank required field first, else the first
    failing column in COLUMNS order."""
    blank = [column for column, value in zip(COLUMNS, values, strict=True) if column in REQUIRED and not value.strip()]
    if blank:
        return Rejection(MISSING_FIELD, f"{blank[0]} is required")
    failures = {str(err["loc"][0]) if err["loc"] else "": err["msg"] for err in error.errors()}
    for index, column in enumerate(COLUMNS):
        message = failures.get(str(index)) or failures.get(column)
        if message is not None:
            return Rejection(FIELD_REASONS[column], f"{column}: {HINTS.get(column, message)}")
    return Rejection(BAD_ROW, str(error.errors()[0]["msg"]) if error.errors() else "invalid row")
