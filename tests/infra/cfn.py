"""Small readers of synthesized CloudFormation templates."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from chalice.utils import to_cfn_resource_name


def logical_id(handler_name: str) -> str:
    """The logical id `chalice package` gives a handler's function (the SAM naming Chalice uses)."""
    return to_cfn_resource_name(handler_name)


def getatt(name: str, attribute: str = "Arn") -> dict[str, list[str]]:
    return {"Fn::GetAtt": [name, attribute]}


def ref(name: str) -> dict[str, str]:
    return {"Ref": name}


def of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def alarms(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r["Properties"] for r in of_type(template, "AWS::CloudWatch::Alarm").values()]


def alarm_metrics(alarm: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """(namespace, name, dimensions) of every metric an alarm reads, math expressions included."""
    if "MetricName" in alarm:
        yield {
            "namespace": alarm["Namespace"],
            "name": alarm["MetricName"],
            "dimensions": {d["Name"]: d["Value"] for d in alarm.get("Dimensions", [])},
        }
    for query in alarm.get("Metrics", []):
        stat = query.get("MetricStat")
        if stat:
            metric = stat["Metric"]
            yield {
                "namespace": metric["Namespace"],
                "name": metric["MetricName"],
                "dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
            }


def alarms_on(
    template: dict[str, Any], namespace: str, name: str, dimensions: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The alarms reading that metric (with exactly those dimensions, when given)."""
    return [
        alarm
        for alarm in alarms(template)
        if any(
            m["namespace"] == namespace and m["name"] == name and (dimensions is None or m["dimensions"] == dimensions)
            for m in alarm_metrics(alarm)
        )
    ]


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    found = document.get("Statement", [])
    return found if isinstance(found, list) else [found]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def identity_policies(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource name, statement) of every identity-based policy: roles' inline policies, IAM
    policies and managed policies."""
    for name, resource in template["Resources"].items():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::IAM::Role":
            documents = [p["PolicyDocument"] for p in properties.get("Policies", [])]
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            documents = [properties["PolicyDocument"]]
        else:
            continue
        for document in documents:
            for statement in statements(document):
                yield name, statement
