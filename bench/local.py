"""What the DynamoDB Local benchmarks share: fake credentials, quiet metrics, a fresh table."""

from __future__ import annotations

import os

from chalicelib import aws, config


def use_local_aws() -> None:
    """Fake credentials only (nothing here may reach AWS); no EMF lines on stdout."""
    os.environ.update(
        {
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    os.environ.pop("AWS_ENDPOINT_URL", None)


def use_table(endpoint: str, name: str) -> None:
    """Create the table (as deployed, with its stream) on DynamoDB Local and point the app at it."""
    from chalicelib.store.schema import table_definition

    os.environ.update({"AWS_ENDPOINT_URL_DYNAMODB": endpoint, "TABLE_NAME": name})
    config.reset()
    aws.reset()
    aws.client("dynamodb").create_table(**table_definition(name))
