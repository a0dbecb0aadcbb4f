"""What Chalice packages (requirements.txt) is the project's pinned runtime dependencies, minus what
the Lambda already has; infra's tool venv pins the same versions of those."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# chalice: `chalice package` adds its own runtime module; boto3/botocore: the Lambda runtime ships them.
PROVIDED_BY_LAMBDA = {"chalice", "boto3", "botocore"}


def _pins(lines: list[str]) -> dict[str, str]:
    pins = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        name, _, version = line.partition("==")
        assert version, f"not pinned: {line}"
        pins[name.strip().lower()] = version.strip()
    return pins


def _project_pins() -> dict[str, str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return _pins(project["dependencies"])


def test_requirements_are_the_runtime_dependencies_minus_what_the_lambda_has() -> None:
    packaged = _pins((ROOT / "requirements.txt").read_text().splitlines())
    wanted = {name: version for name, version in _project_pins().items() if name not in PROVIDED_BY_LAMBDA}
    assert packaged == wanted


def test_infra_pins_the_same_chalice_and_sdk_as_the_project() -> None:
    infra = _pins((ROOT / "infra" / "requirements.txt").read_text().splitlines())
    project = _project_pins()
    assert {name: infra.get(name) for name in PROVIDED_BY_LAMBDA} == {
        name: project[name] for name in PROVIDED_BY_LAMBDA
    }
