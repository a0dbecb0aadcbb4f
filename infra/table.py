"""The DynamoDB table built from `chalicelib.store.schema.table_definition()`: the same keys and
indexes as the local stack and the tests, with no key name written twice."""

from __future__ import annotations

from typing import Any

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

_TYPES = {
    "S": dynamodb.AttributeType.STRING,
    "N": dynamodb.AttributeType.NUMBER,
    "B": dynamodb.AttributeType.BINARY,
}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


def index_names(definition: dict[str, Any]) -> list[str]:
    indexes = definition.get("LocalSecondaryIndexes", []) + definition.get("GlobalSecondaryIndexes", [])
    return [index["IndexName"] for index in indexes]


def table_from_definition(
    scope: Construct, construct_id: str, definition: dict[str, Any], **props: Any
) -> dynamodb.Table:
    """`props` are the deployment's own settings (billing, recovery, TTL, protection, stream)."""
    if definition.get("BillingMode", "PAY_PER_REQUEST") != "PAY_PER_REQUEST":
        raise ValueError("infra/ deploys the table on demand; table_definition() asks otherwise")
    types = {a["AttributeName"]: _TYPES[a["AttributeType"]] for a in definition["AttributeDefinitions"]}
    partition_key, sort_key = _keys(definition["KeySchema"], types)
    table = dynamodb.Table(
        scope,
        construct_id,
        partition_key=partition_key,
        sort_key=sort_key,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        **props,
    )
    for index in definition.get("LocalSecondaryIndexes", []):
        _, index_sort = _keys(index["KeySchema"], types)
        if index_sort is None:
            raise ValueError(f"local index {index['IndexName']} needs a sort key")
        table.add_local_secondary_index(index_name=index["IndexName"], sort_key=index_sort, **_projection(index))
    for index in definition.get("GlobalSecondaryIndexes", []):
        index_partition, index_sort = _keys(index["KeySchema"], types)
        table.add_global_secondary_index(
            index_name=index["IndexName"], partition_key=index_partition, sort_key=index_sort, **_projection(index)
        )
    return table


def _keys(
    schema: list[dict[str, str]], types: dict[str, dynamodb.AttributeType]
) -> tuple[dynamodb.Attribute, dynamodb.Attribute | None]:
    by_role = {
        key["KeyType"]: dynamodb.Attribute(name=key["AttributeName"], type=types[key["AttributeName"]])
        for key in schema
    }
    return by_role["HASH"], by_role.get("RANGE")


def _projection(index: dict[str, Any]) -> dict[str, Any]:
    projection = index.get("Projection", {"ProjectionType": "ALL"})
    result: dict[str, Any] = {"projection_type": _PROJECTIONS[projection["ProjectionType"]]}
    if projection.get("NonKeyAttributes"):
        result["non_key_attributes"] = list(projection["NonKeyAttributes"])
    return result
