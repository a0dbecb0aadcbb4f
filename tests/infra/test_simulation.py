"""The program simulator on AWS (infra/simulation.py): a Step Functions state machine whose
Distributed Maps run the `simulate` Lambda over a table export's files and then over buckets of
members, with logs and tracing, a role that invokes that function only, and the function's size."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.infra.cfn import as_list, of_type, statements
from tests.infra.conftest import Stack


def rendered(value: Any) -> str:
    """A DefinitionString (Fn::Join of strings and references) with each reference as `<ref>`."""
    if isinstance(value, str):
        return value
    separator, parts = value["Fn::Join"]
    return separator.join(part if isinstance(part, str) else "<ref>" for part in parts)


def machine(stack: Stack) -> tuple[str, dict[str, Any]]:
    found = of_type(stack.template, "AWS::StepFunctions::StateMachine")
    if not found:
        pytest.skip("this app has no simulator")
    ((name, resource),) = found.items()
    return name, resource


def test_the_state_machine_sorts_the_export_then_replays_buckets_then_merges(stack: Stack) -> None:
    _, resource = machine(stack)
    definition = json.loads(rendered(resource["Properties"]["DefinitionString"]))
    states = definition["States"]
    assert definition["StartAt"] == "Plan" and states["Plan"]["Next"] == "Sort"
    sort = states["Sort"]
    assert sort["Type"] == "Map" and sort["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
    reader = sort["ItemReader"]
    assert reader["Resource"].endswith(":states:::s3:getObject") and reader["ReaderConfig"]["InputType"] == "JSONL"
    assert reader["Parameters"]["Key.$"] == "$.manifest"  # the export's manifest-files.json
    assert sort["ItemSelector"]["key.$"] == "$$.Map.Item.Value.dataFileS3Key" and sort["Next"] == "Replay"
    replay = states["Replay"]
    assert replay["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED" and replay["ItemsPath"] == "$.indexes"
    assert replay["ItemSelector"]["step"] == "replay" and replay["Next"] == "Merge"
    merge = states["Merge"]
    assert merge["Parameters"].get("Payload", merge["Parameters"])["step"] == "merge" and merge["End"]
    assert "States.ArrayRange" in states["Plan"]["Parameters"]["indexes.$"]
    for processor in (sort["ItemProcessor"], replay["ItemProcessor"]):
        (task,) = processor["States"].values()
        assert task["Type"] == "Task" and task["End"]
    properties = resource["Properties"]
    assert properties["LoggingConfiguration"]["Level"] == "ALL" and properties["TracingConfiguration"]["Enabled"]


def test_its_role_invokes_the_simulate_function_and_reads_the_exports_only(stack: Stack) -> None:
    _, resource = machine(stack)
    role = resource["Properties"]["RoleArn"]["Fn::GetAtt"][0]
    attached = [
        r for r in of_type(stack.template, "AWS::IAM::Policy").values() if {"Ref": role} in r["Properties"]["Roles"]
    ]
    assert not attached, "CDK's own grants are dropped: the role holds its inline policy only"
    found: dict[str, list[Any]] = {}
    for document in stack.template["Resources"][role]["Properties"]["Policies"]:
        for statement in statements(document["PolicyDocument"]):
            assert statement["Effect"] == "Allow"
            for action in as_list(statement["Action"]):
                found.setdefault(action, []).extend(as_list(statement["Resource"]))
    assert all("Simulate" in json.dumps(arn) for arn in found["lambda:InvokeFunction"])
    assert all("simulations/exports/*" in json.dumps(arn) for arn in found["s3:GetObject"])
    assert not any(a.startswith(("dynamodb:", "sqs:", "events:", "secretsmanager:")) for a in found)
    assert not any(a in found for a in ("s3:PutObject", "s3:DeleteObject"))
    assert found["states:StartExecution"] and "simulate" in json.dumps(found["states:DescribeExecution"])


def test_the_simulate_function_is_sized_for_a_bucket_of_members(stack: Stack) -> None:
    machine(stack)
    properties = stack.template["Resources"]["Simulate"]["Properties"]
    assert properties["Timeout"] == 900 and properties["MemorySize"] == 3008


def test_exports_and_runs_expire(stack: Stack) -> None:
    machine(stack)
    bucket = next(r for n, r in of_type(stack.template, "AWS::S3::Bucket").items() if n.startswith("SalesFiles"))
    rules = {r["Id"]: r for r in bucket["Properties"]["LifecycleConfiguration"]["Rules"]}
    assert rules["simulation-exports"]["Prefix"] == "simulations/exports/"
    assert rules["simulation-exports"]["ExpirationInDays"] == 7  # an export holds the members' profiles
    runs = rules["simulation-runs"]
    assert runs["Prefix"] == "simulations/runs/" and runs["ExpirationInDays"] == 30
