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
_STREAM_VIEWS = {
    "NEW_IMAGE": dynamodb.StreamViewType.NEW_IMAGE,
    "OLD_IMAGE": dynamodb.StreamViewType.OLD_IMAGE,
    "NEW_AND_OLD_IMAGES": dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
    "KEYS_ONLY": dynamodb.StreamViewType.KEYS_ONLY,
}
_PROJECTIONS = {
    "ALL": dynamodb.ProjectionType.ALL,
    "KEYS_ONLY": dynamodb.ProjectionType.KEYS_ONLY,
    "INCLUDE": dynamodb.ProjectionType.INCLUDE,
}


def index_names(definition: dict[str, Any]) -> list[str]:
    indexes = definition.get("LocalSecondaryIndexes", []) + definition.get("GlobalSecondaryIndexes", [])
    return [index["IndexName"] for index in indexes]


def stream_view(definition: dict[str, Any]) -> dynamodb.StreamViewType | None:
    """The view of the table's stream that the definition asks for (None: no stream)."""
    spec = definition.get("StreamSpecification") or {}
    if not spec.get("StreamEnabled", False):
        return None
    view = spec.get("StreamViewType")
    if view not in _STREAM_VIEWS:
        raise ValueError(f"table_definition() asks for a stream with the unknown view {view!r}")
    return _STREAM_VIEWS[view]


def table_from_definition(
    scope: Construct,
    construct_id: str,
    definition: dict[str, Any],
    *,
    contributor_insights: dynamodb.ContributorInsightsSpecification | None = None,
    **props: Any,
) -> dynamodb.Table:
    """`props` are the deployment's own settings (recovery, TTL, protection, removal); what the app
    relies on (keys, indexes, billing, stream) comes from the definition only.
    `contributor_insights` applies to the table and to every global index (a local index has none
    of its own: its traffic is the table's partitions')."""
    if definition.get("BillingMode", "PAY_PER_REQUEST") != "PAY_PER_REQUEST":
        raise ValueError("infra/ deploys the table on demand; table_definition() asks otherwise")
    if "stream" in props:
        raise ValueError("the table's stream comes from table_definition()'s StreamSpecification, not from infra/")
    types = {a["AttributeName"]: _TYPES[a["AttributeType"]] for a in definition["AttributeDefinitions"]}
    partition_key, sort_key = _keys(definition["KeySchema"], types)
    table = dynamodb.Table(
        scope,
        construct_id,
        partition_key=partition_key,
        sort_key=sort_key,
        billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
        stream=stream_view(definition),
        contributor_insights_specification=contributor_insights,
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
            index_name=index["IndexName"],
            partition_key=index_partition,
            sort_key=index_sort,
            contributor_insights_specification=contributor_insights,
            **_projection(index),
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
