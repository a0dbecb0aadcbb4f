"""Every function runs on the pinned runtime and on arm64, and the package holds the native wheels
built for exactly that (a cp311 or x86_64 pydantic-core fails at import on the first invocation)."""

from __future__ import annotations

import os
import zipfile

import pytest

from infra.stack import LAMBDA_ARCHITECTURE, LAMBDA_RUNTIME, WrongPackagingPython, check_packaging_python
from tests.infra.cfn import of_type
from tests.infra.conftest import Stack

RUNTIME, ARCHITECTURE = "python3.12", "arm64"
# Wheel tags of a native module built for that runtime and architecture.
NATIVE_SUFFIX = ".cpython-312-aarch64-linux-gnu.so"


def test_the_pins_are_the_ones_this_suite_checks() -> None:
    assert (LAMBDA_RUNTIME, LAMBDA_ARCHITECTURE) == (RUNTIME, ARCHITECTURE)


def test_every_function_and_layer_runs_on_the_pinned_runtime_and_on_arm64(stack: Stack) -> None:
    functions = of_type(stack.template, "AWS::Serverless::Function")
    assert functions
    for name, function in functions.items():
        assert function["Properties"]["Runtime"] == RUNTIME, f"{stack.id}: {name}"
        assert function["Properties"]["Architectures"] == [ARCHITECTURE], f"{stack.id}: {name}"
    for name, layer in of_type(stack.template, "AWS::Serverless::LayerVersion").items():
        assert layer["Properties"]["CompatibleRuntimes"] == [RUNTIME], f"{stack.id}: {name}"
        assert layer["Properties"]["CompatibleArchitectures"] == [ARCHITECTURE], f"{stack.id}: {name}"
    # Functions this stack defines outside Chalice follow the same pins; CDK's own deploy-time
    # handlers (the bucket notification's) are CDK's choice, not ours.
    for name, function in of_type(stack.template, "AWS::Lambda::Function").items():
        if name.startswith("BucketNotificationsHandler"):
            continue
        assert function["Properties"]["Runtime"] == RUNTIME, f"{stack.id}: {name}"
        assert function["Properties"]["Architectures"] == [ARCHITECTURE], f"{stack.id}: {name}"


def _asset(stack: Stack, content_uri: dict) -> str:
    key = content_uri["Key"]
    path = os.path.join(stack.synthesis.outdir, f"asset.{key}")
    assert os.path.exists(path), f"{stack.id}: no asset {path}"
    return path


def test_the_packaged_native_modules_are_built_for_the_runtime_and_architecture(stacks: list[Stack]) -> None:
    project = next(s for s in stacks if s.app == "project")
    layers = of_type(project.template, "AWS::Serverless::LayerVersion")
    assert layers, "the project's dependencies are packaged as a layer (automatic_layer)"
    natives = []
    for layer in layers.values():
        with zipfile.ZipFile(_asset(project, layer["Properties"]["ContentUri"])) as package:
            natives += [n for n in package.namelist() if n.endswith(".so")]
    assert any("pydantic_core/_pydantic_core" in n for n in natives), natives
    wrong = [n for n in natives if not n.endswith(NATIVE_SUFFIX)]
    assert not wrong, f"native modules for another runtime or machine: {wrong}"
    assert all(f"/{RUNTIME}/site-packages/" in n for n in natives), natives


@pytest.mark.parametrize("version", [(3, 11, 7), (3, 13, 0)])
def test_the_synth_refuses_an_interpreter_that_would_package_another_runtime(version: tuple[int, ...]) -> None:
    with pytest.raises(WrongPackagingPython, match=RUNTIME):
        check_packaging_python(version)
    check_packaging_python((3, 12, 1))
