"""Streaming a sales file: gzip or plain, UTF-8 with or without BOM, LF or CRLF, RFC 4180 quoting.

Memory stays flat whatever the file size: bytes flow through fixed buffers, rows are yielded one
at a time and never collected. `plan_file` reads a whole file once to cut it into chunks on record
boundaries (exact even with quoted newlines, because it counts the bytes of the very lines the csv
module consumes); `read_rows` parses and validates one chunk's byte range.

What one file can make us hold is bounded on the bytes, before text is built: the planning pass
fails a file (too_large) whose decoded bytes pass the size limit, or that has a line or a record
longer than MAX_RECORD_BYTES. Chunks are then read only from files that passed it (If-Match).
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from pydantic import ValidationError

from chalicelib.ingest import rows
from chalicelib.ingest.rows import Header, HeaderProblem, Rejection, SalesRow

GZIP_MAGIC = b"\x1f\x8b"
SNIFF_BYTES = 64 * 1024
BUFFER_BYTES = 256 * 1024
SKIP_BLOCK = 1024 * 1024
# A record (a row, with the newlines inside its quoted fields): the known columns take ~350 bytes at
# their longest (rows.SalesRow), so this leaves ample room for a store's own extra columns, and
# keeps a whole record within the csv module's field limit (128 KiB).
MAX_RECORD_BYTES = 64 * 1024

# (record number, fields as read, the valid row or None, why it was rejected or None).
# A plain tuple: a million of them are made per file.
Parsed = tuple[int, list[str], SalesRow | None, Rejection | None]


class FileProblem(Exception):
    """The file as a whole cannot be ingested (docs/sales-files.md: failed with a reason, nothing applied)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


class _Raw(io.RawIOBase):
    """A raw stream over anything with read(n) (a boto3 body, a GzipFile), cut at `limit` bytes."""

    def __init__(self, source: Any, limit: int | None = None) -> None:
        self._source = source
        self._left = limit

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        want = len(buffer) if self._left is None else min(len(buffer), self._left)
        if want <= 0:
            return 0
        data = self._source.read(want)
        buffer[: len(data)] = data
        if self._left is not None:
            self._left -= len(data)
        return len(data)


class _Bounded(io.RawIOBase):
    """Decoded bytes that fail the file as soon as they pass `max_bytes` in all, or run longer than
    `max_line` without a line end: checked as they are read (decompressed), before any line exists,
    because a gzip bomb of one endless line would otherwise become one string of its whole size. A
    long line inside one read block is bounded by the block; _CountedLines catches it."""

    def __init__(self, source: Any, max_bytes: int, max_line: int) -> None:
        self._source = source
        self._left, self._max_line = max_bytes, max_line
        self._offset = 0  # bytes read so far
        self._run = 0  # bytes since the last line end

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._source.read(min(len(buffer), self._left + 1))  # one byte more tells "too large"
        if len(data) > self._left:
            raise FileProblem("too_large", f"the file is larger than {self._offset + self._left} bytes decoded")
        self._check_lines(data)
        self._left -= len(data)
        self._offset += len(data)
        buffer[: len(data)] = data
        return len(data)

    def _check_lines(self, data: bytes) -> None:
        # CR ends a line too (the csv module reads CR-only files), so both count as line ends.
        last = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if last < 0:
            run = self._run + len(data)
        else:
            first = data.find(b"\n")
            carriage = data.find(b"\r", 0, len(data) if first < 0 else first)
            run = self._run + (first if carriage < 0 else carriage)
        if run > self._max_line:
            start = self._offset - self._run
            raise FileProblem("too_large", f"the line at byte {start} is longer than {self._max_line} bytes")
        self._run = run if last < 0 else len(data) - last - 1


def buffered(source: Any, limit: int | None = None) -> io.BufferedReader:
    return io.BufferedReader(_Raw(source, limit), BUFFER_BYTES)


def gunzip(source: Any) -> io.BufferedReader:
    return buffered(gzip.GzipFile(fileobj=source, mode="rb"))


def window(source: Any, start: int, length: int) -> io.BufferedReader:
    """Bytes [start, start + length) of a stream that cannot seek (a decompressed one)."""
    left = start
    while left > 0:
        skipped = len(source.read(min(SKIP_BLOCK, left)))
        if skipped == 0:
            break
        left -= skipped
    return buffered(source, length)


def open_text(stream: IO[bytes]) -> io.TextIOWrapper:
    # surrogateescape: a bad byte spoils only its own row (rejected as bad_encoding), not the file;
    # newline="": the csv module handles CRLF and newlines inside quoted fields itself.
    return io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")


def _undecodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _blank(joined: str) -> bool:
    return not joined or joined.isspace()


class _CountedLines:
    """The text's lines, counting the bytes handed out: after the csv module returns a record,
    `position` is the byte offset where the next record starts (_records sets `record_start`).
    A record longer than `max_record` fails the file before the csv module is given more of it."""

    def __init__(self, text: IO[str], max_record: int) -> None:
        self.position = self.record_start = 0
        self._text = text
        self._max_record = max_record

    def __iter__(self) -> Iterator[str]:
        for line in self._text:
            self.position += len(line) if line.isascii() else len(line.encode("utf-8", "surrogateescape"))
            if self.position - self.record_start > self._max_record:
                start = self.record_start
                raise FileProblem("too_large", f"the record at byte {start} is longer than {self._max_record} bytes")
            yield line


@dataclass(frozen=True)
class Chunk:
    index: int
    start: int  # byte offsets in the decoded (decompressed) file
    end: int
    first_record: int  # record number of its first record (the header is record 1)
    has_returns: bool


@dataclass(frozen=True)
class Plan:
    header: Header
    chunks: list[Chunk]
    compressed: bool
    rows: int
    size: int


def _decoded(source: Any, max_bytes: int, max_line: int) -> tuple[io.BufferedReader, bool]:
    """The file's bytes (decompressed if it is gzip, whatever its name says), bounded (_Bounded),
    and whether it was compressed."""
    stream = buffered(source)
    head = stream.peek(SNIFF_BYTES)
    if not head:
        raise FileProblem("empty_file", "the file is empty")
    compressed = head[:2] == GZIP_MAGIC
    if compressed:
        stream = gunzip(stream)
        try:
            head = stream.peek(SNIFF_BYTES)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileProblem("not_csv", "the file is not a valid gzip file") from exc
        if not head:
            raise FileProblem("empty_file", "the file is empty once decompressed")
    if b"\x00" in head[:SNIFF_BYTES]:
        raise FileProblem("not_csv", "the file is not a UTF-8 CSV text (binary content)")
    return io.BufferedReader(_Bounded(stream, max_bytes, max_line), BUFFER_BYTES), compressed


def _records(reader: Any, lines: _CountedLines) -> Iterator[list[str] | csv.Error]:
    """The csv module's records; a malformed one comes back as its error (reading goes on after it)."""
    while True:
        try:
            record: list[str] | csv.Error = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            record = exc
        lines.record_start = lines.position
        yield record


def plan_file(
    source: Any, rows_per_chunk: int, chunk_bytes: int, max_bytes: int, max_record: int = MAX_RECORD_BYTES
) -> Plan:
    """Read the header and cut the data records into chunks of at most `rows_per_chunk` rows (or
    about `chunk_bytes`). Raises FileProblem when the file cannot be ingested at all, among others
    when it is larger than `max_bytes` decoded or has a record longer than `max_record`."""
    stream, compressed = _decoded(source, max_bytes, max_record)
    lines = _CountedLines(open_text(stream), max_record)
    try:
        return _plan(_records(csv.reader(lines), lines), lines, compressed, rows_per_chunk, chunk_bytes)
    except (OSError, EOFError, zlib.error) as exc:
        if not compressed:
            raise  # a read that failed (the message is retried), not a bad file
        raise FileProblem("not_csv", "the file is not a valid gzip file") from exc  # broken after its start


def _header(records: Iterator[list[str] | csv.Error]) -> tuple[Header, int]:
    """The first non-blank record is the header; returns it and its record number."""
    number = 0
    for record in records:
        number += 1
        if isinstance(record, csv.Error):
            raise FileProblem("not_csv", f"the header row is not valid CSV: {record}")
        joined = "".join(record)
        if _blank(joined):
            continue
        if _undecodable(joined):
            raise FileProblem("not_csv", "the header row is not UTF-8 text")
        try:
            return rows.parse_header(record), number
        except HeaderProblem as problem:
            raise FileProblem(problem.reason, problem.message) from problem
    raise FileProblem("empty_file", "the file has no header row")


def _plan(
    records: Iterator[list[str] | csv.Error],
    lines: _CountedLines,
    compressed: bool,
    rows_per_chunk: int,
    chunk_bytes: int,
) -> Plan:
    header, number = _header(records)
    type_at = header.position("type")
    chunks: list[Chunk] = []
    start, first, count, returns, total = lines.position, number + 1, 0, False, 0
    for record in records:
        number += 1
        if isinstance(record, list):
            if _blank("".join(record)):
                continue
            if not returns and type_at is not None and len(record) > type_at:
                returns = record[type_at].strip().upper() == rows.RETURN
        count += 1
        if count >= rows_per_chunk or lines.position - start >= chunk_bytes:
            chunks.append(Chunk(len(chunks), start, lines.position, first, returns))
            total += count
            start, first, count, returns = lines.position, number + 1, 0, False
    if count:
        chunks.append(Chunk(len(chunks), start, lines.position, first, returns))
        total += count
    return Plan(header, chunks, compressed, total, lines.position)


def read_rows(stream: IO[bytes], header: Header, first_record: int) -> Iterator[Parsed]:
    """Parse and validate the records of one chunk; blank lines are skipped (not rows).

    The hot loop of a million-row file, so written flat: csv.reader is iterated by a C-level for
    loop (re-entered after a malformed record), and the row is picked and validated in place."""
    validate = rows.validator()
    pick, width = header.pick, header.width
    number = first_record - 1
    records = csv.reader(open_text(stream))
    while True:
        try:
            for record in records:
                number += 1
                joined = "".join(record)
                if not joined or joined.isspace():
                    continue  # a blank line is not a row
                if not joined.isascii() and _undecodable(joined):
                    yield number, record, None, Rejection(rows.BAD_ENCODING, "the row is not valid UTF-8")
                    continue
                record.append("")  # what absent optional columns read (index -1)
                try:
                    values: tuple[str, ...] = pick(record)
                except IndexError:  # a short row: pad it to the header's width
                    values = pick(record[:-1] + [""] * (width - len(record) + 1) + [""])
                record.pop()
                if " " in joined or "\t" in joined:  # stripping every row would cost ~1.5 µs
                    values = tuple(value.strip() for value in values)
                try:
                    row = validate(values)
                except ValidationError as exc:
                    yield number, record, None, rows.rejection(exc, values)
                    continue
                yield number, record, row, None
            return
        except csv.Error as exc:  # the reader goes on with the next line
            number += 1
            yield number, [], None, Rejection(rows.BAD_ROW, f"not valid CSV: {exc}")
