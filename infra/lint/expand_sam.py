"""Expand the AWS::Serverless::* resources of synthesized CloudFormation templates into plain
CloudFormation, offline, with aws-sam-translator (what CloudFormation's SAM transform runs), so that
cfn-lint checks what will really be deployed (rules, event source mappings, permissions, stages).

Runs in .venv-sam (scripts/setup_infra.sh): aws-sam-translator pins a pydantic that the app's
runtime does not use. Usage: expand_sam.py IN.json OUT.json [IN.json OUT.json ...]
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import boto3
from samtranslator.metrics.metrics import DummyMetricsPublisher, Metrics
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

# What CloudFormation would pass for the pseudo parameters; the values only need to be plausible.
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
PSEUDO_PARAMETERS = {
    "AWS::AccountId": "123456789012",
    "AWS::Region": REGION,
    "AWS::Partition": "aws",
    "AWS::StackName": "loyalty",
    "AWS::StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/loyalty/1",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NotificationARNs": [],
}


def expand(template: dict[str, Any]) -> dict[str, Any]:
    parameters = {name: spec["Default"] for name, spec in template.get("Parameters", {}).items() if "Default" in spec}
    # Functions reference their roles by ARN: no managed policy names to look up in IAM.
    # A session for the region only: nothing here calls AWS.
    metrics = Metrics("ServerlessTransform", DummyMetricsPublisher())  # published nowhere
    translator = Translator(
        managed_policy_map={},
        sam_parser=Parser(),
        metrics=metrics,
        boto_session=boto3.session.Session(region_name=REGION),
    )
    try:
        return translator.translate(
            template, parameter_values={**PSEUDO_PARAMETERS, **parameters}, get_managed_policy_map=dict
        )
    except InvalidDocumentException as error:
        causes = "\n".join(f"- {cause.message}" for cause in error.causes)
        raise SystemExit(f"aws-sam-translator rejected the template:\n{causes}") from error
    finally:
        metrics.publish()


def main(argv: list[str]) -> None:
    if not argv or len(argv) % 2:
        raise SystemExit(__doc__)
    for source, target in zip(argv[::2], argv[1::2], strict=True):
        with open(source) as f:
            template = json.load(f)
        with open(target, "w") as f:
            json.dump(expand(template), f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1:])
