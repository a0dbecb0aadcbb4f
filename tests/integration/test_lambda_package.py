"""The deployment package Chalice builds: only what the Lambda runs, small, and quick to import.

`chalice package` downloads the Lambda platform's wheels (pydantic-core) from the package index the
first time; later runs reuse its cache in .chalice/deployments/.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAX_ZIP_BYTES = 12 * 1024 * 1024
# Never shipped: the local stack, the demo and the CLI (loyalty_tools), Chalice's own command line and
# its dependencies, the SDK the Lambda runtime already has, and the X-Ray SDK nothing imports.
FORBIDDEN_TOP_LEVEL = {
    "loyalty_tools",
    "pip",
    "setuptools",
    "click",
    "inquirer",
    "yaml",
    "jinxed",
    "boto3",
    "botocore",
    "aws_xray_sdk",
    "moto",
}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("package")
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    chalice = Path(sys.executable).with_name("chalice")
    subprocess.run([str(chalice), "package", "--stage", "dev", str(out)], cwd=ROOT, env=env, check=True)
    return out / "deployment.zip"


def _top_level(names: list[str]) -> set[str]:
    return {name.split("/", 1)[0].removesuffix(".py") for name in names}


def test_the_package_holds_only_what_the_lambda_runs(package: Path) -> None:
    with zipfile.ZipFile(package) as archive:
        names = archive.namelist()
    top = _top_level(names)
    print(f"\ndeployment.zip: {package.stat().st_size / 1e6:.2f} MB zipped, {len(names)} files")
    assert not top & FORBIDDEN_TOP_LEVEL, f"shipped but never run by the Lambda: {sorted(top & FORBIDDEN_TOP_LEVEL)}"
    assert {"app", "chalicelib", "chalice", "pydantic", "pydantic_core", "aws_lambda_powertools"} <= top
    assert "chalicelib/program.json" in names and "chalicelib/api/ops.html" in names
    assert package.stat().st_size <= MAX_ZIP_BYTES


def test_the_handler_imports_from_the_package_alone(package: Path, tmp_path: Path) -> None:
    """`python -I -S` with only the unzipped package on the path: nothing from this venv leaks in,
    and boto3 (the runtime's) is not imported until a handler needs it."""
    with zipfile.ZipFile(package) as archive:
        archive.extractall(tmp_path)
    probe = (
        "import sys, time\n"
        f"sys.path.insert(0, {str(tmp_path)!r})\n"
        "start = time.perf_counter()\n"
        "import app\n"
        "took = time.perf_counter() - start\n"
        "assert 'boto3' not in sys.modules and 'botocore' not in sys.modules, 'boto3 imported at start'\n"
        "print(took)\n"
    )
    python = getattr(sys, "_base_executable", sys.executable)
    runs = [
        float(subprocess.run([python, "-I", "-S", "-c", probe], capture_output=True, text=True, check=True).stdout)
        for _ in range(5)
    ]
    print(f"\nimport app from the package alone: best of 5 {min(runs) * 1000:.0f} ms")
