"""A chunk of a file to apply, as a queue message; queued ten to a call."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from chalicelib.config import settings
from chalicelib.store import aws

CHUNK_MESSAGE = "chunk"


@dataclass(frozen=True)
class ChunkTask:
    file_id: str
    phase: str
    chunk: int
    start: int
    end: int
    first_record: int

    def message(self) -> str:
        return json.dumps({"ingest": CHUNK_MESSAGE, **self.__dict__})

    @staticmethod
    def from_message(message: dict[str, Any]) -> ChunkTask:
        return ChunkTask(
            str(message["file_id"]),
            str(message["phase"]),
            int(message["chunk"]),
            int(message["start"]),
            int(message["end"]),
            int(message["first_record"]),
        )


def enqueue(tasks: list[ChunkTask]) -> None:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=settings().ingest_queue_name)["QueueUrl"]  # once per phase of a file
    for start in range(0, len(tasks), 10):
        entries = [{"Id": str(i), "MessageBody": task.message()} for i, task in enumerate(tasks[start : start + 10])]
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"{len(answer['Failed'])} chunk messages were not queued")
