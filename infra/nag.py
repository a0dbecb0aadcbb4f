"""cdk-nag's AwsSolutions pack on every synth, and the one way this project acknowledges a finding
of cdk-nag or cfn-lint: next to the resource, with the reason.

cdk-nag does not look inside Chalice's SAM resources (AWS::Serverless::*): the tests check those
with template assertions, and cfn-lint reads them once aws-sam-translator has expanded them.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Acknowledgment, App, CfnResource, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct


def check(app: App) -> None:
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))


def acknowledge(construct: IConstruct, rule: str, reason: str, findings: Iterable[str] = ()) -> None:
    """Acknowledge `rule` on `construct` and its children; `findings` narrows it to those findings
    (e.g. `Resource::*` of AwsSolutions-IAM5), each of which must still be named."""
    ids = [f"{rule}[{finding}]" for finding in findings] or [rule]
    Validations.of(construct).acknowledge(*(Acknowledgment(id=i, reason=reason) for i in ids))


def lint_ignore(resource: CfnResource, checks: list[str], reason: str) -> None:
    """cfn-lint skips `checks` on this resource (template metadata, so every run of cfn-lint
    agrees); `reason` is for the reader of this call."""
    resource.add_metadata("cfn-lint", {"config": {"ignore_checks": checks}})
