"""cdk-nag (AwsSolutions, at synth) finds nothing unacknowledged, and cfn-lint is clean on the
templates as CloudFormation will run them (SAM expanded by aws-sam-translator)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.infra.conftest import Stack
from tests.infra.synth import Synthesis

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("app", ["project", "fixture"])
def test_cdk_nag_finds_nothing_unacknowledged(syntheses: dict[str, Synthesis], app: str) -> None:
    synthesis = syntheses[app]
    report = synthesis.validation_report()
    findings = [violation for plugin in report.get("pluginReports", []) for violation in plugin.get("violations", [])]
    assert synthesis.validation_error is None and not findings, json.dumps(report, indent=1)[:20000]


def test_cfn_lint_is_clean_on_the_expanded_templates(stacks: list[Stack], expanded: dict[str, Path]) -> None:
    from cfnlint.api import lint

    problems = []
    for stack in stacks:
        template = json.loads(expanded[stack.id].read_text())
        assert not any(r["Type"].startswith("AWS::Serverless::") for r in template["Resources"].values())
        matches = lint(json.dumps(template), regions=["us-east-1"])  # errors and warnings
        problems += [f"{stack.id}: {m.rule.id} {m.message} ({m.path_string})" for m in matches]
    assert not problems, "\n".join(problems)
