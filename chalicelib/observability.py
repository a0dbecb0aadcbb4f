"""powertools Logger and Metrics, set up once; a Chalice middleware gives every invocation a
correlation id and flushes metrics. Logs are JSON and never carry personal data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics

SERVICE = "loyalty"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Loyalty", service=SERVICE)


def _correlation_id(event: Any) -> str | None:
    """API Gateway's request id for HTTP calls, the SQS message id for queue records."""
    context = getattr(event, "context", None)
    if isinstance(context, dict) and context.get("requestId"):
        return str(context["requestId"])
    to_dict = getattr(event, "to_dict", None)
    raw = to_dict() if callable(to_dict) else {}
    if isinstance(raw, dict):
        return raw.get("messageId") or raw.get("id") or (raw.get("requestContext") or {}).get("requestId")
    return None


def observe(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware for every handler type."""
    correlation_id = _correlation_id(event)
    logger.set_correlation_id(correlation_id)
    lambda_context = getattr(event, "lambda_context", None) or getattr(event, "context", None)
    function_name = getattr(lambda_context, "function_name", None)
    if function_name:
        logger.append_keys(function_name=function_name)
    try:
        return get_response(event)
    finally:
        if metrics.metric_set:  # EMF lines only when something was measured
            metrics.flush_metrics()
