"""Delivers SQS messages to a Lambda handler locally, as the SQS event source mapping does on AWS.

The handler is the very function Lambda calls (`handler(event, context)`, e.g. the object that
`@app.on_sqs_message` registers). A batch is deleted after the handler returns, except the
messages it lists in `batchItemFailures`; if it raises, the whole batch stays and comes back after
the queue's visibility timeout (and goes to the DLQ after its maxReceiveCount), as on AWS.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from chalicelib.store import aws
from loyalty_tools.local import lambda_runtime
from loyalty_tools.local.stack import DEAD_LETTER_SUFFIX
from loyalty_tools.local.worker import Worker

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from chalice import Chalice

SqsHandler = Callable[[dict[str, Any], Any], Any]


def sqs_handler(app: Chalice, queue_name: str) -> tuple[str, SqsHandler] | None:
    """(name, Lambda entry point) of the app's handler for a queue: the one declared on that queue,
    else the app's only SQS handler of that kind, a queue's or a DLQ's (its queue argument may be a
    placeholder that infra/ overrides, or name the queue of another stage)."""
    from chalice.app import SQSEventConfig

    sources = [source for source in app.event_sources if isinstance(source, SQSEventConfig)]
    named = [source for source in sources if queue_name in (source.queue, _queue_name(source))]
    dead_letters = queue_name.endswith(DEAD_LETTER_SUFFIX)
    of_kind = [source for source in sources if _queue_name(source).endswith(DEAD_LETTER_SUFFIX) == dead_letters]
    chosen = named or (of_kind if len(of_kind) == 1 else [])
    if not chosen:
        return None
    return chosen[0].name, app.handler_map[chosen[0].name]


def _queue_name(source: Any) -> str:
    return str(source.queue or (source.queue_arn or "").split(":")[-1])


class SqsPump(Worker):
    def __init__(
        self,
        queue_url: str,
        handler: SqsHandler,
        *,
        function_name: str = "ingest",
        batch_size: int = 10,
        wait_seconds: int = 2,
    ) -> None:
        # wait_seconds: the long poll; also how long stop() may take. Keep it below the clients'
        # read timeout (chalicelib.store.aws: 5 s).
        super().__init__(f"sqs-pump-{function_name}")
        self.queue_url = queue_url
        self.handler = handler
        self.function_name = function_name
        self.batch_size = min(batch_size, 10)  # ReceiveMessage's limit
        self.wait_seconds = wait_seconds
        self._queue_arn: str | None = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                # The emulator went away or answered badly: say so and try again shortly.
                log.exception("sqs pump %s: receiving from the queue failed", self.function_name)
                self._stop.wait(1.0)

    def poll_once(self) -> int:
        """One long poll and at most one handler call; returns how many messages it received."""
        sqs = aws.client("sqs")
        response = sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=self.batch_size,
            WaitTimeSeconds=self.wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        if not messages:
            return 0
        failed = self._invoke(lambda_event(messages, self._arn(), sqs.meta.region_name))
        done = [message for message in messages if message["MessageId"] not in failed]
        if done:
            entries = [{"Id": str(i), "ReceiptHandle": message["ReceiptHandle"]} for i, message in enumerate(done)]
            sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
        return len(messages)

    def _invoke(self, event: dict[str, Any]) -> set[str]:
        """Message ids the handler did not process (all of them when it raised)."""
        message_ids = {record["messageId"] for record in event["Records"]}
        try:
            result = self.handler(event, lambda_runtime.context(self.function_name))
        except Exception:
            log.exception("sqs pump %s: handler raised; %d messages stay queued", self.function_name, len(message_ids))
            return message_ids
        if not isinstance(result, dict):
            return set()
        failures = result.get("batchItemFailures") or []
        return {failure["itemIdentifier"] for failure in failures} & message_ids

    def _arn(self) -> str:
        if self._queue_arn is None:
            attributes = aws.client("sqs").get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])
            self._queue_arn = attributes["Attributes"]["QueueArn"]
        return self._queue_arn


def lambda_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda builds from ReceiveMessage's messages."""
    return {"Records": [_record(message, queue_arn, region) for message in messages]}


def _record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": {
            name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()
        },
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }


def _message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # boto3 gives bytes where Lambda's JSON event carries base64 text.
    attribute: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
    if "StringValue" in value:
        attribute["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return attribute
