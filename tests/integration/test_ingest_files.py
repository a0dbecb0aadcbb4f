"""Sales files on moto (S3 → SQS → the app's queue handler, a small DynamoDB table): hand-made
nasty files, each with its documented outcome (docs/sales-files.md).

The harness (`ingest` fixture, `Harness`) is shared with the other test_ingest_* modules.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib import clock, config
from chalicelib.services import members as member_service
from chalicelib.services.sales_files import limits
from chalicelib.store import aws, dynamo, keys
from chalicelib.store.members import load_member
from loyalty_tools.local.pump import SqsPump
from tests.support import FixedClock, enrol_command

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 22, 10, 0, tzinfo=SHANGHAI)  # the files are of 2026-11-21
BUCKET = "loyalty-test-files"
QUEUE = "loyalty-test-ingest"
HEADER = "store_id,receipt_id,occurred_at,type,amount,currency,member_id,original_receipt_id,category"
WELCOME = 100  # the program's welcome points


class Harness:
    """Upload files as a store would, deliver the queue to the app's handler, read the outputs."""

    def __init__(self, queue_url: str) -> None:
        from app import app

        self.queue_url = queue_url
        self.handler = app.handler_map["ingest_queue_consumer"]

    def upload(self, body: bytes | str, name: str = "2026-11-21.csv", store: str = "s1") -> str:
        key = f"incoming/{store}/{name}"
        data = body.encode() if isinstance(body, str) else body
        aws.client("s3").put_object(Bucket=BUCKET, Key=key, Body=data)
        return key

    def deliver(self, limit: int = 1000) -> int:
        """Hand every queued message to the handler (as `loyalty dev`'s pump does); returns how many."""
        pump = SqsPump(self.queue_url, self.handler, wait_seconds=0, batch_size=1)
        delivered = 0
        while delivered < limit and (received := pump.poll_once()):
            delivered += received
        return delivered

    def run(self, body: bytes | str, name: str = "2026-11-21.csv", store: str = "s1") -> dict[str, Any]:
        self.upload(body, name, store)
        self.deliver()
        return self.report(name, store)

    def report(self, name: str = "2026-11-21.csv", store: str = "s1") -> dict[str, Any]:
        from chalicelib.ingest import names
        from chalicelib.store import objects

        found = objects.get_json(BUCKET, names.parse_key(f"incoming/{store}/{name}").report_key)
        assert found is not None, "no report"
        return found

    def rejects(self, name: str = "2026-11-21.csv", store: str = "s1") -> list[list[str]]:
        base = name.removesuffix(".gz").removesuffix(".csv")
        body = aws.client("s3").get_object(Bucket=BUCKET, Key=f"rejects/{store}/{base}.csv")["Body"].read()
        return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))

    def reasons(self, name: str = "2026-11-21.csv", store: str = "s1") -> dict[int, str]:
        """Row number -> reason, from the rejects file."""
        return {int(line[0]): line[1] for line in self.rejects(name, store)[1:]}


@pytest.fixture
def ingest(moto_env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("INGEST_QUEUE_NAME", QUEUE)
    config.reset()
    monkeypatch.setattr(clock, "now", FixedClock(NOW))
    monkeypatch.setattr(limits, "ROW_WORKERS", 1)  # moto's DynamoDB is not thread-safe
    sqs = aws.client("sqs")
    # Visibility 0: a message the handler failed is delivered again at once.
    url = sqs.create_queue(QueueName=QUEUE, Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3 = aws.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    rule = {
        "QueueArn": arn,
        "Events": ["s3:ObjectCreated:*"],
        "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "incoming/"}]}},
    }
    s3.put_bucket_notification_configuration(Bucket=BUCKET, NotificationConfiguration={"QueueConfigurations": [rule]})
    harness = Harness(url)
    harness.deliver()  # the s3:TestEvent
    yield harness


def enrol(*member_ids: str) -> None:
    for member_id in member_ids:
        member_service.enrol(enrol_command({"member_id": member_id}))


def available(member_id: str) -> int:
    member = load_member(member_id)
    assert member is not None
    return member.available


def csv_file(*rows: str, header: str = HEADER, newline: str = "\n") -> str:
    return newline.join([header, *rows]) + newline


def sale(
    receipt: str,
    amount: str,
    member: str = "",
    store: str = "s1",
    at: str = "2026-11-21T18:03:11+08:00",
    category: str = "",
) -> str:
    return f"{store},{receipt},{at},SALE,{amount},CNY,{member},,{category}"


def ret(receipt: str, original: str, amount: str, member: str = "", at: str = "2026-11-21T19:00:00+08:00") -> str:
    return f"s1,{receipt},{at},RETURN,{amount},CNY,{member},{original},"


def counts(report: dict[str, Any]) -> tuple[int, int, int, int]:
    return report["rows"], report["applied"], report["duplicates"], report["rejected"]


def assert_adds_up(report: dict[str, Any]) -> None:
    assert report["rows"] == report["applied"] + report["duplicates"] + report["rejected"]
    assert sum(report["reasons"].values()) == report["rejected"]


# --- a clean file --------------------------------------------------------------------------------


def test_a_clean_file_credits_members_and_counts_non_member_sales(ingest: Harness) -> None:
    # Given: two members
    enrol("m1", "m2")

    # When: a store uploads a day of receipts (members, a non-member, a fresh category)
    report = ingest.run(
        csv_file(
            sale("r1", "120.50", "m1"),
            sale("r2", "80.00", "m2", category="fresh"),
            sale("r3", "45.00"),
            sale("r4", "10.99", "m1"),
        )
    )

    # Then: the report (docs/sales-files.md) and the balances
    assert report["status"] == "completed"
    assert counts(report) == (4, 4, 0, 0)
    assert report["non_member"] == 1
    assert (report["member_sales"], report["non_member_sales"]) == ("211.49", "45.00")
    assert report["key"] == "incoming/s1/2026-11-21.csv" and report["store_id"] == "s1"
    assert report["started_at"] and report["finished_at"]
    assert available("m1") == WELCOME + 120 + 10
    assert available("m2") == WELCOME + 160  # fresh counts 2x
    assert ingest.rejects() == [["row", "reason", "message", *HEADER.split(",")]]


def test_the_ledger_entry_is_the_api_purchase_with_the_store_receipt_as_order_id(ingest: Harness) -> None:
    enrol("m1")
    ingest.run(csv_file(sale("r1", "120.50", "m1")))
    entry = dynamo.get(keys.entry_key("m1", f"purchase#{keys.store_receipt_ref('s1', 'r1')}"))
    assert entry is not None
    assert entry["points"] == 120 and entry["details"]["store_id"] == "s1"


def test_store_day_rollup_counts_member_and_non_member_sales(ingest: Harness) -> None:
    enrol("m1")
    ingest.run(
        csv_file(
            sale("r1", "100.00", "m1"),
            sale("r2", "30.00"),
            sale("r3", "20.00"),
            sale("r4", "5.00", at="2026-11-20T23:30:00+08:00"),
        )
    )
    day = dynamo.get(keys.store_sales_key("2026-11-21", "s1"))
    assert day is not None
    assert (day["member_receipts"], Decimal(day["member_amount"])) == (1, Decimal("100.00"))
    assert (day["non_member_receipts"], Decimal(day["non_member_amount"])) == (2, Decimal("50.00"))
    earlier = dynamo.get(keys.store_sales_key("2026-11-20", "s1"))
    assert earlier is not None and earlier["non_member_receipts"] == 1


# --- the format: BOM, CRLF, quoting, header, blanks, spaces, gzip -------------------------------


def test_bom_crlf_header_in_any_order_and_case_and_unknown_columns(ingest: Harness) -> None:
    enrol("m1")
    text = (
        "\ufeffAmount,Member_ID,TYPE,Currency,Till,Occurred_At,Receipt_Id,STORE_ID\r\n"
        "12.00,m1,SALE,CNY,till 3,2026-11-21T18:03:11+08:00,r1,s1\r\n"
        "8.00,,sale,CNY,till 4,2026-11-21T18:04:11+08:00,r2,s1\r\n"
    )
    report = ingest.run(text.encode("utf-8"))
    assert counts(report) == (2, 2, 0, 0)
    assert available("m1") == WELCOME + 12


def test_quoted_commas_and_newlines_empty_lines_and_trailing_spaces(ingest: Harness) -> None:
    enrol("m1")
    text = (
        "store_id,receipt_id,occurred_at,type,amount,currency,member_id,note\r\n"
        's1,r1,2026-11-21T18:03:11+08:00,SALE,10.00,CNY,m1,"gift, wrapped"\r\n'
        "\r\n"
        's1,r2,2026-11-21T18:04:11+08:00,SALE,20.00,CNY,m1,"two\r\nlines, and ""quotes"""\r\n'
        "   \r\n"
        "s1 , r3 ,2026-11-21T18:05:11+08:00 , SALE , 30.00 ,CNY , m1 \r\n"
        ",,,,,,,\r\n"
        's1,"r,4",2026-11-21T18:06:11+08:00,SALE,5.00,CNY,m1,\r\n'
    )
    report = ingest.run(text)
    # Blank lines are not rows; row numbers are records as a spreadsheet shows them (header = 1).
    assert counts(report) == (4, 3, 0, 1)
    assert ingest.reasons() == {8: "bad_receipt_id"}
    assert available("m1") == WELCOME + 60
    line = ingest.rejects()[1]
    assert line[3:5] == ["s1", "r,4"]  # the original row, re-quoted


def test_a_gzip_file_with_a_plain_name_or_a_gz_name(ingest: Harness) -> None:
    enrol("m1")
    body = gzip.compress(csv_file(sale("r1", "10.00", "m1")).encode())
    assert counts(ingest.run(body, "2026-11-21-am.csv.gz")) == (1, 1, 0, 0)
    body = gzip.compress(csv_file(sale("r2", "20.00", "m1")).encode())
    assert counts(ingest.run(body, "2026-11-21-pm.csv")) == (1, 1, 0, 0)  # gzip is recognised by its bytes
    assert available("m1") == WELCOME + 30


# --- rows that are rejected ----------------------------------------------------------------------


def test_bad_rows_are_rejected_with_their_reason_and_never_stop_the_file(ingest: Harness) -> None:
    enrol("m1")
    report = ingest.run(
        csv_file(
            sale("r1", "10.00", "m1"),  # 2 ok
            sale("r2", "10.00", "ghost"),  # 3 unknown member
            sale("r3", "10.00", "m1", store="s2"),  # 4 another store's row
            "s1,r4,2026-11-21T18:03:11+08:00,SALE,10.00,USD,m1,,",  # 5 wrong currency
            "s1,r5,21/11/2026 18:03,SALE,10.00,CNY,m1,,",  # 6 not ISO 8601
            "s1,r6,2026-11-21T18:03:11,SALE,10.00,CNY,m1,,",  # 7 naive timestamp
            "s1,r7,2026-11-21T18:03:11+08:00,SALE,-5.00,CNY,m1,,",  # 8 negative
            "s1,r8,2026-11-21T18:03:11+08:00,SALE,0.00,CNY,m1,,",  # 9 zero
            "s1,r9,2026-11-21T18:03:11+08:00,SALE,1.005,CNY,m1,,",  # 10 three decimals
            "s1,r10,2026-11-21T18:03:11+08:00,SALE,,CNY,m1,,",  # 11 blank amount
            "s1,,2026-11-21T18:03:11+08:00,SALE,1.00,CNY,m1,,",  # 12 blank receipt
            "s1,r12,2026-11-21T18:03:11+08:00,GIFT,1.00,CNY,m1,,",  # 13 unknown type
            "s1,r13,2026-11-21T18:03:11+08:00",  # 14 a short row
            sale("r14", "10.00", "m1", at="2026-11-22T18:00:00+08:00"),  # 15 in the future
            sale("r15", "10.00", "m1", at="2025-01-01T10:00:00+08:00"),  # 16 older than max_backdate_days
            "s1,r16,2026-11-21T18:03:11+08:00,RETURN,1.00,CNY,m1,,",  # 17 a return of nothing
            's1,r17,2026-11-21T18:03:11+08:00,SALE,"1,000.00",CNY,m1,,',  # 18 thousands separator
        )
    )
    assert_adds_up(report)
    assert counts(report) == (17, 1, 0, 16)
    assert ingest.reasons() == {
        3: "unknown_member",
        4: "store_mismatch",
        5: "bad_currency",
        6: "bad_timestamp",
        7: "bad_timestamp",
        8: "bad_amount",
        9: "bad_amount",
        10: "bad_amount",
        11: "missing_field",
        12: "missing_field",
        13: "bad_type",
        14: "missing_field",
        15: "bad_timestamp",
        16: "bad_timestamp",
        17: "missing_field",
        18: "bad_amount",
    }
    assert report["reasons"]["bad_timestamp"] == 4
    assert available("m1") == WELCOME + 10


def test_latin1_bytes_are_rejected_as_bad_encoding_and_the_rest_applies(ingest: Harness) -> None:
    enrol("m1", "m2")
    body = (
        csv_file(sale("r1", "10.00", "m1")).encode()
        + "s1,r2,2026-11-21T18:03:11+08:00,SALE,10.00,CNY,m2,,café\n".encode("latin-1")
        + sale("r3", "20.00", "m2").encode()
        + b"\n"
    )
    report = ingest.run(body)
    assert counts(report) == (3, 2, 0, 1)
    assert ingest.reasons() == {3: "bad_encoding"}
    assert ingest.rejects()[1][-1] == "caf\ufffd"  # the rejects file itself stays valid UTF-8
    assert available("m2") == WELCOME + 20


def test_an_unknown_member_can_be_sent_again_once_enrolled(ingest: Harness) -> None:
    # A rejected row gives its receipt id back: the corrected file applies it.
    report = ingest.run(csv_file(sale("r1", "50.00", "late")))
    assert report["reasons"] == {"unknown_member": 1}
    enrol("late")
    report = ingest.run(csv_file(sale("r1", "50.00", "late")), "2026-11-21-fixed.csv")
    assert counts(report) == (1, 1, 0, 0)
    assert available("late") == WELCOME + 50


# --- duplicates --------------------------------------------------------------------------------


def test_duplicated_receipts_in_one_file_and_across_files(ingest: Harness) -> None:
    enrol("m1")
    first = ingest.run(
        csv_file(
            sale("r1", "10.00", "m1"),
            sale("r1", "10.00", "m1"),
            sale("r2", "5.00"),
            sale("r2", "5.00"),
            sale("r1", "99.00", "m1"),
        )
    )
    assert counts(first) == (5, 2, 2, 1)
    assert ingest.reasons() == {6: "receipt_conflict"}  # same receipt id, another sale
    second = ingest.run(csv_file(sale("r1", "10.00", "m1"), sale("r3", "7.00", "m1")), "2026-11-21-b.csv")
    assert counts(second) == (2, 1, 1, 0)
    assert available("m1") == WELCOME + 10 + 7


def test_uploading_the_same_file_again_changes_no_balance(ingest: Harness) -> None:
    enrol("m1", "m2")
    body = csv_file(
        sale("r1", "120.00", "m1"),
        sale("r2", "30.00"),
        sale("r3", "80.00", "m2"),
        ret("x1", "r1", "20.00"),
        ret("x2", "r2", "10.00"),
        sale("r4", "1.00", "ghost"),
    )
    first = ingest.run(body)
    assert counts(first) == (6, 5, 0, 1)
    balances = (available("m1"), available("m2"))
    day = dynamo.get(keys.store_sales_key("2026-11-21", "s1"))

    second = ingest.run(body)

    assert counts(second) == (6, 0, 5, 1)  # the unknown member is still unknown, not a duplicate
    assert second["file_id"] != first["file_id"]
    assert (available("m1"), available("m2")) == balances
    assert dynamo.get(keys.store_sales_key("2026-11-21", "s1")) == day


# --- returns -----------------------------------------------------------------------------------


def test_returns_before_their_sale_without_a_sale_and_larger_than_the_sale(ingest: Harness) -> None:
    enrol("m1")
    report = ingest.run(
        csv_file(
            ret("x1", "r1", "40.00"),  # 2 before its sale in the file: applied (returns go second)
            sale("r1", "100.00", "m1"),  # 3
            ret("x2", "nope", "1.00"),  # 4 no such sale
            ret("x3", "r1", "70.00"),  # 5 40 + 70 > 100
            sale("r2", "50.00"),  # 6 a non-member sale
            ret("x4", "r2", "30.00"),  # 7
            ret("x5", "r2", "30.00"),  # 8 30 + 30 > 50
            ret("x6", "r2", "20.00", member="m1"),  # 9 the sale had no member
        )
    )
    assert_adds_up(report)
    assert counts(report) == (8, 4, 0, 4)
    assert ingest.reasons() == {
        4: "unknown_original_receipt",
        5: "return_exceeds_purchase",
        8: "return_exceeds_purchase",
        9: "member_mismatch",
    }
    assert available("m1") == WELCOME + 100 - 40
    receipt = dynamo.get(keys.receipt_key("s1", "r2"))
    assert receipt is not None and Decimal(receipt["returned_amount"]) == Decimal("30.00")


def test_a_return_in_a_later_file_finds_its_sale_and_what_was_already_returned(ingest: Harness) -> None:
    enrol("m1")
    ingest.run(csv_file(sale("r1", "100.00", "m1"), ret("x1", "r1", "60.00")))
    report = ingest.run(csv_file(ret("x2", "r1", "50.00"), ret("x3", "r1", "40.00")), "2026-11-21-b.csv")
    assert counts(report) == (2, 1, 0, 1)
    assert set(ingest.reasons("2026-11-21-b.csv").values()) == {"return_exceeds_purchase"}
    assert available("m1") == WELCOME


def test_a_sale_of_another_store_is_not_found_by_a_return(ingest: Harness) -> None:
    ingest.run(csv_file(sale("r1", "10.00", store="s2")), store="s2")
    report = ingest.run(csv_file(ret("x1", "r1", "5.00")))
    assert ingest.reasons() == {2: "unknown_original_receipt"}
    assert counts(report) == (1, 0, 0, 1)


# --- files that fail as a whole ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty_file"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "not_csv"),
        (b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00", "not_csv"),
        (b"\x1f\x8b\x08\x00garbage", "not_csv"),
        (
            b"store_id,receipt_id,occurred_at,type,currency\ns1,r1,2026-11-21T18:03:11+08:00,SALE,CNY\n",
            "missing_column",
        ),
        (b"store_id,receipt_id,occurred_at,type,amount,amount,currency\n", "bad_header"),
        (b"\r\n\r\n", "empty_file"),
    ],
)
def test_files_that_fail_apply_nothing(ingest: Harness, body: bytes, reason: str) -> None:
    enrol("m1")
    report = ingest.run(body)
    assert report["status"] == "failed"
    assert report["reason"] == reason and report["message"]
    assert counts(report) == (0, 0, 0, 0)
    assert available("m1") == WELCOME


def test_a_header_only_file_completes_with_no_rows(ingest: Harness) -> None:
    report = ingest.run(HEADER + "\r\n")
    assert report["status"] == "completed"
    assert counts(report) == (0, 0, 0, 0)


def test_a_file_over_the_size_limit_fails(ingest: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "MAX_FILE_BYTES", 100)
    enrol("m1")
    report = ingest.run(csv_file(*(sale(f"r{i}", "1.00", "m1") for i in range(5))))
    assert (report["status"], report["reason"]) == ("failed", "too_large")
    assert available("m1") == WELCOME


def test_a_key_outside_the_naming_rule_fails_with_bad_key(ingest: Harness) -> None:
    key = ingest.upload(csv_file(sale("r1", "1.00")), "sales.txt")
    ingest.deliver()
    listed = aws.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="reports/")["Contents"]
    assert len(listed) == 1  # named by the run's file id, not by the key (test_ingest_untrusted.py)
    report = json.loads(aws.client("s3").get_object(Bucket=BUCKET, Key=listed[0]["Key"])["Body"].read())
    assert (report["status"], report["reason"], report["key"]) == ("failed", "bad_key", key)
    assert listed[0]["Key"] == f"reports/_bad_key/{report['file_id']}.json"
