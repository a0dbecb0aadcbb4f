"""powertools Logger, Metrics and Tracer, set up once. Logs are JSON and carry no personal data."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics

SERVICE = "loyalty"

logger = Logger(service=SERVICE)
metrics = Metrics(namespace="Loyalty", service=SERVICE)
