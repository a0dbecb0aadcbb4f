"""The streaming reader (no AWS): planning chunks on record boundaries, reading and validating rows."""

from __future__ import annotations

import csv
import gzip
import io
import tracemalloc

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.ingest import reader
from chalicelib.ingest.reader import FileProblem, Plan

HEADER = "store_id,receipt_id,occurred_at,type,amount,currency,member_id,original_receipt_id,category"
AT = "2026-11-21T18:03:11+08:00"
BIG = 10**12


def plan(data: bytes, rows_per_chunk: int = BIG, chunk_bytes: int = BIG, max_bytes: int = BIG) -> Plan:
    return reader.plan_file(io.BytesIO(data), rows_per_chunk, chunk_bytes, max_bytes)


def decoded(data: bytes) -> bytes:
    return gzip.decompress(data) if data[:2] == reader.GZIP_MAGIC else data


def read_all(data: bytes, found: Plan) -> list[reader.Parsed]:
    """Every chunk read on its own, as the chunk handlers do."""
    out: list[reader.Parsed] = []
    text = decoded(data)
    for chunk in found.chunks:
        out += reader.read_rows(io.BytesIO(text[chunk.start : chunk.end]), found.header, chunk.first_record)
    return out


def rows_of(parsed: list[reader.Parsed]) -> list[tuple[int, str | None, str | None]]:
    return [(n, row.receipt_id if row else None, problem.reason if problem else None) for n, _, row, problem in parsed]


def test_header_bom_crlf_any_order_and_case_unknown_columns() -> None:
    data = (
        f"\ufeffAMOUNT , Receipt_ID,type,currency,Extra,occurred_at,STORE_ID\r\n12.50,r1,SALE,CNY,x,{AT},s1\r\n"
    ).encode()
    found = plan(data)
    assert found.rows == 1 and not found.compressed
    [(number, _, row, problem)] = read_all(data, found)
    assert problem is None and row is not None
    assert (number, row.store_id, row.receipt_id, row.amount, row.type) == (2, "s1", "r1", "12.50", "SALE")
    assert (row.member_id, row.original_receipt_id, row.category) == ("", "", "")  # absent optional columns


def test_blank_lines_are_skipped_but_keep_row_numbers_as_a_spreadsheet_shows_them() -> None:
    data = f"{HEADER}\n\ns1,r1,{AT},SALE,1.00,CNY,,,\n   \n,,,,,,,,\ns1,r2,{AT},SALE,2.00,CNY,,,\n".encode()
    found = plan(data)
    assert found.rows == 2
    assert rows_of(read_all(data, found)) == [(3, "r1", None), (6, "r2", None)]


def test_quoted_fields_with_commas_quotes_and_newlines() -> None:
    data = (
        f'{HEADER},note\r\ns1,r1,{AT},SALE,1.00,CNY,,,,"a, b ""c""\r\nd"\r\ns1,r2,{AT},SALE,1.00,CNY,,,"fresh",x\r\n'
    ).encode()
    parsed = read_all(data, plan(data))
    assert rows_of(parsed) == [(2, "r1", None), (3, "r2", None)]
    assert parsed[0][1][-1] == 'a, b "c"\r\nd'
    assert parsed[1][2] is not None and parsed[1][2].category == "fresh"


def test_trailing_spaces_are_stripped() -> None:
    data = f"{HEADER}\n s1 , r1 , {AT} , SALE , 1.50 , CNY , m1 , , fresh \n".encode()
    [(_, _, row, problem)] = read_all(data, plan(data))
    assert problem is None and row is not None
    assert (row.store_id, row.receipt_id, row.amount, row.member_id, row.category) == (
        "s1",
        "r1",
        "1.50",
        "m1",
        "fresh",
    )


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (f"s1,r1,{AT},SALE,,CNY,,,", "missing_field"),
        (f"s1,,{AT},SALE,1.00,CNY,,,", "missing_field"),
        (f"s1,r1,{AT}", "missing_field"),  # a short row
        (f"s1,r1,{AT},SALE,-1.00,CNY,,,", "bad_amount"),
        (f"s1,r1,{AT},SALE,0,CNY,,,", "bad_amount"),
        (f"s1,r1,{AT},SALE,0.00,CNY,,,", "bad_amount"),
        (f"s1,r1,{AT},SALE,1.005,CNY,,,", "bad_amount"),
        (f"s1,r1,{AT},SALE,1e3,CNY,,,", "bad_amount"),
        (f"s1,r1,{AT},SALE,10000000,CNY,,,", "bad_amount"),
        ("s1,r1,2026-11-21T18:03:11,SALE,1.00,CNY,,,", "bad_timestamp"),
        ("s1,r1,2026-11-21,SALE,1.00,CNY,,,", "bad_timestamp"),
        ("s1,r1,2026-13-45T10:00:00+08:00,SALE,1.00,CNY,,,", "bad_timestamp"),
        ("s1,r1,yesterday,SALE,1.00,CNY,,,", "bad_timestamp"),
        (f"s1,r1,{AT},REFUND,1.00,CNY,,,", "bad_type"),
        (f"s1,{'r' * 65},{AT},SALE,1.00,CNY,,,", "bad_receipt_id"),
        (f"s1,r 1,{AT},SALE,1.00,CNY,,,", "bad_receipt_id"),
        (f"s1,r1,{AT},RETURN,1.00,CNY,,bad id,", "unknown_original_receipt"),
        (f"s1,r1,{AT},SALE,1.00,CNY,,,{'c' * 41}", "bad_category"),
        (f"{'s' * 65},r1,{AT},SALE,1.00,CNY,,,", "store_mismatch"),
    ],
)
def test_a_bad_row_gets_one_reason(line: str, reason: str) -> None:
    data = f"{HEADER}\n{line}\n".encode()
    [(number, fields, row, problem)] = read_all(data, plan(data))
    assert row is None and problem is not None
    assert (number, problem.reason) == (2, reason)
    assert problem.message and "^" not in problem.message  # no regular expression shown to a store
    assert fields == next(csv.reader([line]))


def test_accepted_spellings() -> None:
    lines = [
        f"s1,r1,{AT},sale,12,CNY,,,",
        f"s1,r2,{AT},return,.5,CNY,,r1,",
        f"s1,r3,{AT},SALE,9999999.99,CNY,,,",
        "s1,r4,2026-11-21T10:03:11Z,SALE,0.01,CNY,,,",
        "s1,r5,2026-11-21 18:03:11+08:00,SALE,1.1,CNY,,,",
    ]
    data = "\n".join([HEADER, *lines]).encode()
    assert [problem for _, _, _, problem in read_all(data, plan(data))] == [None] * 5


def test_invalid_utf8_spoils_only_its_row() -> None:
    data = (
        f"{HEADER}\n".encode()
        + f"s1,r1,{AT},SALE,1.00,CNY,caf".encode()
        + b"\xe9,,\n"
        + f"s1,r2,{AT},SALE,1.00,CNY,,,\n".encode()
    )
    assert rows_of(read_all(data, plan(data))) == [(2, None, "bad_encoding"), (3, "r2", None)]


def test_a_nul_byte_past_the_sniffed_start_spoils_only_its_row() -> None:
    filler = [f"s1,f{i},{AT},SALE,1.00,CNY,,," for i in range(reader.SNIFF_BYTES // 40)]
    data = "\n".join([HEADER, *filler, f"s1,r\x001,{AT},SALE,1.00,CNY,,,", f"s1,r2,{AT},SALE,1.00,CNY,,,"]).encode()
    parsed = read_all(data, plan(data, rows_per_chunk=500))
    assert len(parsed) == len(filler) + 2
    assert [problem.reason for _, _, _, problem in parsed if problem] == ["bad_receipt_id"]
    assert parsed[-1][2] is not None and parsed[-1][2].receipt_id == "r2"


def test_a_record_the_csv_module_refuses_is_a_bad_row_and_reading_goes_on() -> None:
    # With the default record limit (below the csv module's field limit) such a file fails as
    # too_large first (tests below); a caller with a higher limit gets the csv module's refusal.
    huge = "x" * (csv.field_size_limit() + 10)  # e.g. an unclosed quote swallowing the file
    data = "\n".join([HEADER, f'"{huge}"', f"s1,r2,{AT},SALE,1.00,CNY,,,"]).encode()
    found = reader.plan_file(io.BytesIO(data), 1, BIG, BIG, max_record=BIG)
    assert found.rows == 2 and len(found.chunks) == 2
    assert rows_of(read_all(data, found)) == [(2, None, "bad_row"), (3, "r2", None)]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty_file"),
        (b"\n \r\n", "empty_file"),
        (gzip.compress(b""), "empty_file"),
        (b"\x00\x01\x02binary", "not_csv"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03broken", "not_csv"),
        (b"store_id,receipt_id,occurred_at,type,amount\n", "missing_column"),
        (f"{HEADER},Amount\n".encode(), "bad_header"),
        ("é".encode("latin-1") + f"{HEADER}\n".encode(), "not_csv"),
    ],
)
def test_files_that_cannot_be_read(data: bytes, reason: str) -> None:
    with pytest.raises(FileProblem) as problem:
        plan(data)
    assert problem.value.reason == reason


def test_a_gzip_file_cut_short_after_its_start_is_not_csv() -> None:
    text = "\n".join([HEADER, *(f"s1,r{i},{AT},SALE,{i}.00,CNY,m{i},," for i in range(20000))]).encode()
    data = gzip.compress(text)[:-200]
    with pytest.raises(FileProblem) as problem:
        plan(data)
    assert problem.value.reason == "not_csv"


def test_a_read_error_of_a_plain_file_is_not_a_bad_file() -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            if self.tell() > reader.BUFFER_BYTES:
                raise ConnectionResetError("the network went away")
            return super().read(size)

    text = "\n".join([HEADER, *(f"s1,r{i},{AT},SALE,1.00,CNY,,," for i in range(20000))]).encode()
    with pytest.raises(ConnectionResetError):  # the message is retried; the file is not failed
        reader.plan_file(Broken(text), BIG, BIG, BIG)


def test_a_file_larger_than_the_limit_once_decompressed() -> None:
    data = gzip.compress((HEADER + "\n" + f"s1,r1,{AT},SALE,1.00,CNY,,,\n" * 1000).encode())
    assert len(data) < 2000
    with pytest.raises(FileProblem) as problem:
        plan(data, max_bytes=10_000)
    assert problem.value.reason == "too_large"


def test_a_header_only_file_has_no_chunks() -> None:
    found = plan(f"{HEADER}\r\n".encode())
    assert (found.rows, found.chunks) == (0, [])


def test_chunks_mark_where_returns_are() -> None:
    lines = [f"s1,r{i},{AT},SALE,1.00,CNY,,," for i in range(6)]
    lines[4] = f"s1,x4,{AT},Return,1.00,CNY,,r1,"
    found = plan("\n".join([HEADER, *lines]).encode(), rows_per_chunk=2)
    assert [chunk.has_returns for chunk in found.chunks] == [False, False, True]
    assert [chunk.first_record for chunk in found.chunks] == [2, 4, 6]


def test_gzip_windows_skip_to_the_chunk() -> None:
    text = "\n".join([HEADER, *(f"s1,r{i},{AT},SALE,1.00,CNY,,," for i in range(50))]).encode()
    data = gzip.compress(text)
    found = plan(data, rows_per_chunk=7)
    assert found.compressed and len(found.chunks) == 8
    chunk = found.chunks[3]
    window = reader.window(reader.gunzip(io.BytesIO(data)), chunk.start, chunk.end - chunk.start)
    assert window.read() == text[chunk.start : chunk.end]


field = st.text(alphabet=st.sampled_from('ab ,"\r\n\u00e9\u4e2d'), max_size=8)


@settings(max_examples=150, deadline=None)
@given(
    notes=st.lists(field, min_size=0, max_size=40),
    rows_per_chunk=st.integers(1, 7),
    chunk_bytes=st.integers(1, 400),
    crlf=st.booleans(),
    bom=st.booleans(),
    gz=st.booleans(),
    blank_every=st.integers(2, 9),
)
def test_reading_chunk_by_chunk_is_reading_the_whole_file(
    notes: list[str], rows_per_chunk: int, chunk_bytes: int, crlf: bool, bom: bool, gz: bool, blank_every: int
) -> None:
    # Given: a file whose free-text column holds commas, quotes, CR, LF and non-ASCII text
    end = "\r\n" if crlf else "\n"

    def line(fields: list[str]) -> str:
        # csv.writer quotes a field holding CR or LF only when its own line terminator has them.
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\r\n").writerow(fields)
        return out.getvalue().removesuffix("\r\n") + end

    text = line([*HEADER.split(","), "note"])
    for i, note in enumerate(notes):
        if i % blank_every == 0:
            text += end
        text += line(["s1", f"r{i}", AT, "SALE", "1.00", "CNY", "", "", "", note])
    data = (("\ufeff" if bom else "") + text).encode()
    if gz:
        data = gzip.compress(data)

    # When: it is cut into chunks and each chunk is read alone
    found = plan(data, rows_per_chunk, chunk_bytes)
    parsed = read_all(data, found)

    # Then: the same rows, numbers and notes as one pass over the whole file
    whole = plan(data)
    assert parsed == read_all(data, whole)
    assert found.rows == len(notes) == len(parsed)
    assert [fields[-1] for _, fields, _, _ in parsed] == notes
    assert all(problem is None for _, _, _, problem in parsed)
    assert all(chunk.end > chunk.start for chunk in found.chunks)
    assert found.chunks == [] or found.chunks[-1].end == len(decoded(data))


# --- bounds: what one file can make the reader hold ---------------------------------------------


class Counted(io.BytesIO):
    """A source that counts the bytes read from it."""

    taken = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.taken += len(data)
        return data


def too_large(data: bytes, **limits: int) -> str:
    with pytest.raises(FileProblem) as problem:
        plan(data, **limits)
    assert problem.value.reason == "too_large"
    return problem.value.message


def test_an_endless_line_fails_the_file_after_reading_about_the_limit() -> None:
    source = Counted(f"{HEADER}\n".encode() + b"x" * (20 * 1024 * 1024))
    with pytest.raises(FileProblem) as problem:
        reader.plan_file(source, BIG, BIG, BIG)
    assert problem.value.reason == "too_large"
    assert problem.value.message == f"the line at byte {len(HEADER) + 1} is longer than 65536 bytes"
    assert source.taken < reader.MAX_RECORD_BYTES + 3 * reader.BUFFER_BYTES


@pytest.mark.parametrize("prefix", [b"", f"{HEADER}\ns1,r1,{AT},SALE,1.00,CNY,,,\r\n".encode()])
def test_a_gzip_bomb_of_one_line_is_never_built_into_a_string(prefix: bytes) -> None:
    data = gzip.compress(prefix + b"A" * (64 * 1024 * 1024), compresslevel=1)
    assert len(data) < 1024 * 1024
    tracemalloc.start()
    try:
        too_large(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 1024 * 1024  # the buffers, not the 64 MiB line


def test_a_long_line_with_line_ends_on_both_sides_in_one_read_is_caught_too() -> None:
    long_row = f"s1,r1,{AT},SALE,1.00,CNY,,,{'y' * 70_000}"  # 70 KB: less than a 256 KiB buffer
    message = too_large(f"{HEADER}\n{long_row}\ns1,r2,{AT},SALE,1.00,CNY,,,\n".encode())
    assert message.endswith(f"at byte {len(HEADER) + 1} is longer than 65536 bytes")


def test_a_record_of_many_short_quoted_lines_is_bounded_as_a_whole() -> None:
    # Each line is short, but a quote left open at every line end keeps one record growing.
    lines = ['a,"', *['",a,"'] * 20_000, '"']
    message = too_large(("\n".join([HEADER, *lines]) + "\n").encode())
    assert message == f"the record at byte {len(HEADER) + 1} is longer than 65536 bytes"


def test_rows_up_to_the_limit_pass_whatever_their_line_ends() -> None:
    note = "z" * 60_000  # a wide extra column, within the limit
    multi = '"' + "\n".join(["line"] * 5_000) + '"'  # 25 KB across 5,000 lines of one field
    for end in ("\n", "\r\n", "\r"):
        rows = [f"s1,r{i},{AT},SALE,1.00,CNY,,,,{value}" for i, value in enumerate([note, multi] * 20)]
        found = plan(end.join([HEADER + ",note", *rows]).encode())
        assert found.rows == 40, end


def test_decompression_stops_at_the_size_limit() -> None:
    text = (HEADER + "\n" + f"s1,r1,{AT},SALE,1.00,CNY,,,\n" * 2000).encode()
    assert plan(gzip.compress(text), max_bytes=len(text)).size == len(text)
    assert too_large(gzip.compress(text), max_bytes=len(text) - 1) == (
        f"the file is larger than {len(text) - 1} bytes decoded"
    )
    assert too_large(text, max_bytes=len(text) - 1)  # a plain file too
