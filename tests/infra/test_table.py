"""infra/table.py builds the table from a definition alone, its stream included (no app synth needed)."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk.assertions import Template

from infra.table import table_from_definition


def definition(**extra: Any) -> dict[str, Any]:
    return {
        "TableName": "t",
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        **extra,
    }


def synthesized_table(table_definition: dict[str, Any]) -> tuple[dynamodb.Table, dict[str, Any]]:
    stack = cdk.Stack(cdk.App(), "probe")
    table = table_from_definition(stack, "Table", table_definition)
    ((properties,),) = [
        [r["Properties"]] for r in Template.from_stack(stack).find_resources("AWS::DynamoDB::Table").values()
    ]
    return table, properties


@pytest.mark.parametrize("view", ["NEW_AND_OLD_IMAGES", "NEW_IMAGE", "KEYS_ONLY"])
def test_the_stream_is_the_one_the_definition_asks_for(view: str) -> None:
    table, properties = synthesized_table(
        definition(StreamSpecification={"StreamEnabled": True, "StreamViewType": view})
    )
    assert properties["StreamSpecification"] == {"StreamViewType": view}
    assert table.table_stream_arn is not None


@pytest.mark.parametrize("spec", [None, {"StreamEnabled": False}])
def test_no_stream_unless_the_definition_enables_one(spec: dict[str, Any] | None) -> None:
    table, properties = synthesized_table(definition(**({"StreamSpecification": spec} if spec else {})))
    assert "StreamSpecification" not in properties
    assert table.table_stream_arn is None


def test_the_stream_comes_from_the_definition_only() -> None:
    with pytest.raises(ValueError, match="StreamSpecification"):
        table_from_definition(
            cdk.Stack(cdk.App(), "probe"), "Table", definition(), stream=dynamodb.StreamViewType.NEW_IMAGE
        )


def test_an_unknown_stream_view_stops_the_synth() -> None:
    spec = {"StreamEnabled": True, "StreamViewType": "EVERYTHING"}
    with pytest.raises(ValueError, match="EVERYTHING"):
        table_from_definition(cdk.Stack(cdk.App(), "probe"), "Table", definition(StreamSpecification=spec))


def test_contributor_insights_cover_the_table_and_its_global_indexes_when_asked() -> None:
    key = {"AttributeName": "pk", "KeyType": "HASH"}
    gsi = {"IndexName": "g", "KeySchema": [key], "Projection": {"ProjectionType": "KEYS_ONLY"}}
    stack = cdk.Stack(cdk.App(), "probe")
    table_from_definition(
        stack,
        "Table",
        definition(GlobalSecondaryIndexes=[gsi]),
        contributor_insights=dynamodb.ContributorInsightsSpecification(enabled=True),
    )
    tables = Template.from_stack(stack).find_resources("AWS::DynamoDB::Table")
    (properties,) = [r["Properties"] for r in tables.values()]
    assert properties["ContributorInsightsSpecification"] == {"Enabled": True}
    assert properties["GlobalSecondaryIndexes"][0]["ContributorInsightsSpecification"] == {"Enabled": True}
