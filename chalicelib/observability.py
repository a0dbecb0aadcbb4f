"""powertools Logger and Metrics, set up once; a Chalice middleware gives every invocation a
correlation id and flushes metrics. Logs are JSON and never carry personal data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

SERVICE = "loyalty"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Loyalty", service=SERVICE)


def _correlation_id(event: Any, lambda_context: Any) -> str | None:
    """API Gateway's request id for HTTP calls, the message id of a batch of one SQS record, a
    scheduled event's id; else (a batch, `loyalty dev`'s HTTP calls) the invocation's request id."""
    context = getattr(event, "context", None)
    if isinstance(context, dict) and context.get("requestId"):
        return str(context["requestId"])
    to_dict = getattr(event, "to_dict", None)
    raw = to_dict() if callable(to_dict) else {}
    if isinstance(raw, dict):
        records = raw.get("Records")
        only = records[0] if isinstance(records, list) and len(records) == 1 else {}
        request_id = (raw.get("requestContext") or {}).get("requestId")
        found = raw.get("messageId") or raw.get("id") or request_id or only.get("messageId") or only.get("eventID")
        if found:
            return str(found)
    return getattr(lambda_context, "aws_request_id", None)


def _invocation_keys(event: Any) -> dict[str, str]:
    lambda_context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    keys = {
        "correlation_id": _correlation_id(event, lambda_context),
        "function_name": getattr(lambda_context, "function_name", None),
    }
    return {name: str(value) for name, value in keys.items() if value}


def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every handler type.

    The invocation's keys are thread-local: `loyalty dev` runs the API, the queue and stream
    consumers and the jobs in threads of one process, where the logger's shared keys would name
    whichever handler set them last. They are replaced, not added to, so that nothing of the
    previous invocation on this thread stays, and put back as they were afterwards."""
    outer = dict(logger.thread_safe_get_current_keys())
    try:
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(**_invocation_keys(event))
        return get_response(event)
    finally:
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(**outer)
        if metrics.metric_set:  # EMF lines only when something was measured
            metrics.flush_metrics()
