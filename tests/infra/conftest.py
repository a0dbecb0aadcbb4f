"""Synthesize once per session, offline (no AWS account): the project's app in this process (dev and
prod stacks), and the fixture app (fixture_app/: one handler of every kind the stack wires) in a
subprocess at the same time. Tests read the templates; the slow ones also expand the SAM resources
(aws-sam-translator, in .venv-sam) and run cfn-lint.

Run with scripts/test_infra.sh (the .venv-infra interpreter): the main suite's venv has no CDK.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.synth import ENVIRONMENT, Synthesis, read_result, synthesize

ROOT = Path(__file__).resolve().parents[2]
FIXTURE_APP = Path(__file__).with_name("fixture_app")
SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
EXPAND = ROOT / "infra" / "lint" / "expand_sam.py"
PROJECT_STAGES = ["dev", "prod"]
FIXTURE_STAGES = ["dev"]

for _name, _value in ENVIRONMENT.items():
    os.environ.setdefault(_name, _value)


@dataclass
class Stack:
    """One synthesized stack with the app it was synthesized from."""

    app: str  # "project" or "fixture"
    stage: str
    synthesis: Synthesis
    template: dict[str, Any]

    @property
    def id(self) -> str:
        return f"{self.app}-{self.stage}"

    @property
    def inventory(self) -> dict[str, Any]:
        return self.synthesis.inventory

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {name: r for name, r in self.template["Resources"].items() if r["Type"] == kind}


@pytest.fixture(scope="session")
def syntheses(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Synthesis]]:
    base = tmp_path_factory.mktemp("cdk")
    # A copy: Chalice writes its package cache into the project (`.chalice/deployments`).
    fixture_source = base / "fixture_app"
    shutil.copytree(FIXTURE_APP, fixture_source, ignore=shutil.ignore_patterns("deployments", "__pycache__"))
    fixture_out = base / "fixture"
    fixture_out.mkdir()
    fixture = subprocess.Popen(
        [sys.executable, "-m", "tests.infra.synth", str(fixture_source), str(fixture_out), *FIXTURE_STAGES],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        project = synthesize(str(ROOT), str(base / "project"), PROJECT_STAGES)
    finally:
        output, _ = fixture.communicate()
    if fixture.returncode != 0:
        pytest.fail(f"synthesizing the fixture app failed:\n{output}", pytrace=False)
    yield {"project": project, "fixture": read_result(str(fixture_out), FIXTURE_STAGES)}


@pytest.fixture(scope="session")
def stacks(syntheses: dict[str, Synthesis]) -> list[Stack]:
    return [
        Stack(app, stage, synthesis, synthesis.template(stage))
        for app, synthesis in syntheses.items()
        for stage in synthesis.stages
    ]


STACK_IDS = [f"project-{stage}" for stage in PROJECT_STAGES] + [f"fixture-{stage}" for stage in FIXTURE_STAGES]


@pytest.fixture(params=STACK_IDS)
def stack(request: pytest.FixtureRequest, stacks: list[Stack]) -> Stack:
    return next(s for s in stacks if s.id == request.param)


@pytest.fixture(scope="session")
def expanded(stacks: list[Stack], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every stack's template with its SAM resources expanded into plain CloudFormation."""
    if not SAM_PYTHON.exists():
        pytest.fail(f"{SAM_PYTHON} is missing: run scripts/setup_infra.sh", pytrace=False)
    out = tmp_path_factory.mktemp("expanded")
    paths = {s.id: out / f"{s.id}.json" for s in stacks}
    args = [str(arg) for s in stacks for arg in (s.synthesis.template_path(s.stage), paths[s.id])]
    run = subprocess.run([str(SAM_PYTHON), str(EXPAND), *args], capture_output=True, text=True)
    if run.returncode != 0:
        pytest.fail(f"aws-sam-translator failed:\n{run.stdout}{run.stderr}", pytrace=False)
    return paths
