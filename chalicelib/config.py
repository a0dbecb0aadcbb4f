"""Settings from the environment, validated once on first use (never at import: `cdk synth`
imports app.py with placeholder values)."""

from __future__ import annotations

import os
from functools import cache

from pydantic import BaseModel, ConfigDict, Field

LOCAL_SECRET = "local-development-secret-not-for-production"


class Settings(BaseModel):
    model_config = ConfigDict(defer_build=True)  # validated on first use, not at import

    stage: str = "local"
    table_name: str = "loyalty"
    bucket_name: str = "loyalty-sales-files"
    event_bus_name: str = "loyalty-events"
    ingest_queue_name: str = "loyalty-ingest"
    # Signs ledger cursors and keys the hashes of phones/emails; from a secret in AWS stages.
    signing_secret: str = Field(default=LOCAL_SECRET, min_length=16)
    signing_secret_arn: str | None = None  # on AWS: the Secrets Manager secret holding signing_secret
    max_body_bytes: int = 64 * 1024
    # Seconds an API key's lookup is reused in-process. 0 locally (a revoked key stops at once);
    # on AWS API Gateway already caches the authorizer's answer for 300 s.
    auth_cache_seconds: int = Field(default=0, ge=0, le=300)


ENV_NAMES = {
    "stage": "STAGE",
    "table_name": "TABLE_NAME",
    "bucket_name": "BUCKET_NAME",
    "event_bus_name": "EVENT_BUS_NAME",
    "ingest_queue_name": "INGEST_QUEUE_NAME",
    "signing_secret": "SIGNING_SECRET",
    "signing_secret_arn": "SIGNING_SECRET_ARN",
    "max_body_bytes": "MAX_BODY_BYTES",
    "auth_cache_seconds": "AUTH_CACHE_SECONDS",
}


class ConfigurationError(RuntimeError):
    """The deployed function would run with an unsafe or missing setting."""


@cache
def settings() -> Settings:
    values = {field: os.environ[env] for field, env in ENV_NAMES.items() if os.environ.get(env)}
    if "signing_secret" not in values and values.get("signing_secret_arn"):
        from chalicelib.store import aws

        # One call per process, on first use (never at import: `cdk synth` imports app.py).
        answer = aws.client("secretsmanager").get_secret_value(SecretId=values["signing_secret_arn"])
        values["signing_secret"] = answer["SecretString"]
    loaded = Settings.model_validate(values)
    if os.environ.get("AWS_LAMBDA_FUNCTION_NAME") and loaded.signing_secret == LOCAL_SECRET:
        raise ConfigurationError("SIGNING_SECRET or SIGNING_SECRET_ARN must be set in a deployed function")
    return loaded


def reset() -> None:
    """Forget cached settings (tests and the local stack change the environment)."""
    settings.cache_clear()
