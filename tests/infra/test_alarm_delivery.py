"""Every alarm can really reach someone: each alarm action is a topic whose policy lets CloudWatch
publish (for this account's alarms only) and whose key lets CloudWatch encrypt.

A topic policy replaces SNS's default one, so a topic that has a policy at all (here: the deny of
plain HTTP) refuses CloudWatch unless the policy allows it; and CloudWatch cannot publish to a
topic encrypted with a key it may not use. Both failures are silent: the alarm changes state and
nobody hears of it.
"""

from __future__ import annotations

import fnmatch
from typing import Any

from tests.infra.cfn import alarms, as_list, of_type, statements
from tests.infra.conftest import Stack

CLOUDWATCH = {"Service": "cloudwatch.amazonaws.com"}
# What CloudFormation would put in for the pseudo parameters: the test evaluates the conditions.
PSEUDO = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1", "AWS::AccountId": "111122223333"}
OTHER_ACCOUNT = "999988887777"


def resolve(value: Any) -> Any:
    """A template value with Ref of pseudo parameters and Fn::Join evaluated."""
    if isinstance(value, dict) and set(value) == {"Ref"} and value["Ref"] in PSEUDO:
        return PSEUDO[value["Ref"]]
    if isinstance(value, dict) and set(value) == {"Fn::Join"}:
        separator, parts = value["Fn::Join"]
        return separator.join(str(resolve(part)) for part in parts)
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def alarm_arn(name: str, account: str = PSEUDO["AWS::AccountId"]) -> str:
    return f"arn:aws:cloudwatch:{PSEUDO['AWS::Region']}:{account}:alarm:{name}"


def allows(statement: dict[str, Any], *, source_arn: str, source_account: str) -> bool:
    """Whether an Allow statement for CloudWatch admits a publish from that alarm (the condition
    operators used on topic policies: StringEquals and ArnLike)."""
    conditions = resolve(statement.get("Condition", {}))
    context = {"aws:SourceArn": source_arn, "aws:SourceAccount": source_account}
    for operator, tests in conditions.items():
        for key, wanted in tests.items():
            if key not in context:
                return False
            if operator == "StringEquals" and context[key] not in as_list(wanted):
                return False
            if operator == "ArnLike" and not any(fnmatch.fnmatchcase(context[key], p) for p in as_list(wanted)):
                return False
            if operator not in ("StringEquals", "ArnLike"):
                return False
    return True


def cloudwatch_publishes(stack: Stack, topic: str) -> list[dict[str, Any]]:
    """The Allow statements of the topic's policies that give CloudWatch sns:Publish on it."""
    found = []
    for policy in of_type(stack.template, "AWS::SNS::TopicPolicy").values():
        if {"Ref": topic} not in policy["Properties"]["Topics"]:
            continue
        for statement in statements(policy["Properties"]["PolicyDocument"]):
            if (
                statement["Effect"] == "Allow"
                and statement.get("Principal") == CLOUDWATCH
                and "sns:Publish" in as_list(statement["Action"])
                and {"Ref": topic} in as_list(statement["Resource"])
            ):
                found.append(statement)
    return found


def key_allows_cloudwatch(stack: Stack, key: str) -> bool:
    granted: set[str] = set()
    for statement in statements(stack.template["Resources"][key]["Properties"]["KeyPolicy"]):
        if statement["Effect"] == "Allow" and statement.get("Principal") == CLOUDWATCH:
            granted |= set(as_list(statement["Action"]))
    return {"kms:Decrypt", "kms:GenerateDataKey*"} <= granted


def test_every_alarm_action_is_a_topic_cloudwatch_may_publish_to_for_this_accounts_alarms_only(stack: Stack) -> None:
    topics = of_type(stack.template, "AWS::SNS::Topic")
    walked = 0
    for alarm in alarms(stack.template):
        for action in alarm.get("AlarmActions", []) + alarm.get("OKActions", []):
            assert set(action) == {"Ref"} and action["Ref"] in topics, f"{alarm['AlarmName']} notifies {action}"
            topic = action["Ref"]
            publishes = cloudwatch_publishes(stack, topic)
            assert publishes, f"{stack.id}: {topic}'s policy does not let CloudWatch publish: no alarm reaches anyone"
            arn = alarm_arn(alarm["AlarmName"])
            assert any(allows(s, source_arn=arn, source_account=PSEUDO["AWS::AccountId"]) for s in publishes), (
                f"{stack.id}: the policy of {topic} refuses {alarm['AlarmName']}"
            )
            # ... and only this account's alarms: the statements are conditioned.
            foreign = alarm_arn(alarm["AlarmName"], OTHER_ACCOUNT)
            assert not any(allows(s, source_arn=foreign, source_account=OTHER_ACCOUNT) for s in publishes), (
                f"{stack.id}: {topic} accepts alarms of any account (confused deputy)"
            )
            key = topics[topic]["Properties"].get("KmsMasterKeyId")
            if key is not None:
                assert set(key) == {"Fn::GetAtt"}, f"{topic} is encrypted with a key outside this stack: {key}"
                assert key_allows_cloudwatch(stack, key["Fn::GetAtt"][0]), (
                    f"{stack.id}: CloudWatch may not use {key['Fn::GetAtt'][0]}, the key of {topic}"
                )
            walked += 1
    assert walked, f"{stack.id}: no alarm action at all"
